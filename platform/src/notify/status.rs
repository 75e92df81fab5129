//! [`NotificationStatus`]: where a notification is in its delivery, stored as text in
//! `notifications.status` through diesel's `ToSql`/`FromSql`.

use diesel::deserialize::FromSqlRow;
use diesel::expression::AsExpression;
use diesel::sql_types::Text;

/// Where a notification is in its delivery; stored as text in `notifications.status` (the
/// migration's `CHECK` lists the same codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub enum NotificationStatus {
    /// Queued; due at `next_attempt_at`.
    Pending,
    /// Claimed by a worker until `claimed_until`.
    Sending,
    /// Accepted by the mail server (or written to a file). Never claimed again.
    Sent,
    /// Given up: a permanent error, too many attempts, or it cannot be rendered.
    Failed,
    /// Not sent on purpose: a duplicate, the user turned emails off, the listing is gone.
    Cancelled,
}

impl NotificationStatus {
    /// Every status.
    pub const ALL: [NotificationStatus; 5] = [
        NotificationStatus::Pending,
        NotificationStatus::Sending,
        NotificationStatus::Sent,
        NotificationStatus::Failed,
        NotificationStatus::Cancelled,
    ];

    /// The code stored in `notifications.status`.
    pub fn code(self) -> &'static str {
        match self {
            NotificationStatus::Pending => "pending",
            NotificationStatus::Sending => "sending",
            NotificationStatus::Sent => "sent",
            NotificationStatus::Failed => "failed",
            NotificationStatus::Cancelled => "cancelled",
        }
    }

    /// The status of a stored code; `None` for anything else.
    pub fn from_code(code: &str) -> Option<NotificationStatus> {
        NotificationStatus::ALL
            .into_iter()
            .find(|s| s.code() == code)
    }
}

impl std::fmt::Display for NotificationStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

crate::text_enum!(NotificationStatus, "notification status");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_their_codes() {
        for status in NotificationStatus::ALL {
            assert_eq!(NotificationStatus::from_code(status.code()), Some(status));
        }
        assert_eq!(NotificationStatus::from_code("queued"), None);
    }
}
