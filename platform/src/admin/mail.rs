//! The operator's mail desk, one code path for the console's Mail page and `platform mail
//! status|retry|discard`: what waits and what failed, inspecting one mail (secrets in its
//! payload masked), putting a failed mail back in line, and discarding one. Retry and discard
//! are audited (`mail.retry`, `mail.discard`) in the same transaction.

use serde::Serialize;

use super::AdminError;
use crate::audit::{Actor, AuditLog};
use crate::db::DbConn;
use crate::notify::store::{MailDesk, NotificationRow, NotificationStatus};

/// One mail as the operator sees it (secrets in its payload masked).
#[derive(Debug, Clone, Serialize)]
pub struct MailSummary {
    /// Row id.
    pub id: i64,
    /// Kind of mail (`listing_match`, `agency_approved`, …).
    pub kind: String,
    /// Recipient.
    pub recipient: String,
    /// `pending`, `sending`, `sent`, `failed` or `cancelled`.
    pub status: String,
    /// Failed attempts so far.
    pub attempts: i32,
    /// Why the last attempt failed or it was cancelled.
    pub last_error: Option<String>,
    /// Queued at (RFC 3339).
    pub created_at: String,
    /// Next attempt at (RFC 3339).
    pub next_attempt_at: String,
    /// Sent at (RFC 3339).
    pub sent_at: Option<String>,
    /// The payload, with tokens and links masked.
    pub payload: serde_json::Value,
}

impl From<NotificationRow> for MailSummary {
    fn from(row: NotificationRow) -> MailSummary {
        let mut payload: serde_json::Value =
            serde_json::from_str(&row.payload).unwrap_or(serde_json::Value::Null);
        mask_secrets(&mut payload);
        MailSummary {
            id: row.id,
            kind: row.kind,
            recipient: row.recipient,
            status: row.status.code().to_owned(),
            attempts: row.attempts,
            last_error: row.last_error,
            created_at: super::rfc3339(row.created_at),
            next_attempt_at: super::rfc3339(row.next_attempt_at),
            sent_at: row.sent_at.map(super::rfc3339),
            payload,
        }
    }
}

/// Masks every field named like a token or a link (enrolment tokens, password-reset and
/// confirmation links): the operator inspects a mail without being able to act as its reader.
pub fn mask_secrets(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key.contains("token") || key.contains("link") || key.contains("secret") {
                    *v = serde_json::Value::String("(hidden)".into());
                } else {
                    mask_secrets(v);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(mask_secrets),
        _ => {}
    }
}

/// `platform mail status` and the Mail page.
#[derive(Debug, Clone, Serialize)]
pub struct MailStatus {
    /// Waiting to be sent (pending or being sent).
    pub outbox_depth: i64,
    /// Sent in the last hour.
    pub sent_last_hour: usize,
    /// Failed in the last hour.
    pub failed_last_hour: usize,
    /// The newest failed mails.
    pub failed: Vec<MailSummary>,
    /// The newest waiting mails.
    pub pending: Vec<MailSummary>,
}

/// What waits and what failed (the newest `limit` of each).
pub fn mail_status(conn: &mut DbConn, limit: i64) -> Result<MailStatus, AdminError> {
    let hour_ago = crate::db::now_ms() - 3_600_000;
    crate::with_conn!(conn, |c| {
        let activity = c.mail_activity(hour_ago)?;
        Ok(MailStatus {
            outbox_depth: c.outbox_depth()?,
            sent_last_hour: activity
                .iter()
                .filter(|(s, _, m)| *s == NotificationStatus::Sent && !m)
                .count(),
            failed_last_hour: activity
                .iter()
                .filter(|(s, _, m)| *s == NotificationStatus::Failed && !m)
                .count(),
            failed: c
                .mail_rows(Some(NotificationStatus::Failed), limit)?
                .into_iter()
                .map(MailSummary::from)
                .collect(),
            pending: c
                .mail_rows(None, limit)?
                .into_iter()
                .map(MailSummary::from)
                .collect(),
        })
    })
}

/// One mail, for inspection.
pub fn mail(conn: &mut DbConn, id: i64) -> Result<MailSummary, AdminError> {
    crate::with_conn!(conn, |c| c.mail_row(id))?
        .map(MailSummary::from)
        .ok_or_else(|| mail_not_found(id))
}

fn mail_not_found(id: i64) -> AdminError {
    AdminError::NotFound(format!("no mail with id {id}; see `platform mail status`"))
}

/// `platform mail retry ID`: a failed (or discarded) mail is due again now, attempts reset.
pub fn retry_mail(conn: &mut DbConn, actor: &Actor, id: i64) -> Result<MailSummary, AdminError> {
    crate::write_tx!(conn, |c| {
        let before = c.mail_row(id)?.ok_or_else(|| mail_not_found(id))?;
        if !c.retry_mail(id, crate::db::now_ms())? {
            return Err(AdminError::Refused(format!(
                "mail {id} is {}; only a failed or discarded mail can be retried",
                before.status
            )));
        }
        c.audit(
            actor,
            "mail.retry",
            Some(&id.to_string()),
            serde_json::json!({"kind": before.kind, "from": before.status.code(), "attempts": before.attempts}),
        )?;
        c.mail_row(id)?
            .map(MailSummary::from)
            .ok_or_else(|| mail_not_found(id))
    })
}

/// `platform mail discard ID`: a pending or failed mail is cancelled and never sent.
pub fn discard_mail(conn: &mut DbConn, actor: &Actor, id: i64) -> Result<MailSummary, AdminError> {
    let why = format!("discarded by {actor}");
    crate::write_tx!(conn, |c| {
        let before = c.mail_row(id)?.ok_or_else(|| mail_not_found(id))?;
        if !c.discard_mail(id, &why)? {
            return Err(AdminError::Refused(format!(
                "mail {id} is {}; only a pending or failed mail can be discarded",
                before.status
            )));
        }
        c.audit(
            actor,
            "mail.discard",
            Some(&id.to_string()),
            serde_json::json!({"kind": before.kind, "from": before.status.code()}),
        )?;
        c.mail_row(id)?
            .map(MailSummary::from)
            .ok_or_else(|| mail_not_found(id))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::outbox::{MailKind, NewNotification, OutboxStore};

    crate::db_test!(retry_and_discard_follow_the_state_and_are_audited, |db| {
        let mut conn = db.get().unwrap();
        let actor = Actor::Operator("ops@example.org".into());
        let n = NewNotification::new(
            MailKind::AgencyApproved,
            "desk@agency.example",
            "agency_approved:1:x",
            serde_json::json!({"agency_name": "Acme", "token": "SECRET-TOKEN"}),
        );
        crate::write_tx!(&mut conn, |c| c.enqueue_notification(&n)).unwrap();
        let status = mail_status(&mut conn, 10).unwrap();
        assert_eq!(status.outbox_depth, 1);
        let id = status.pending[0].id;
        assert_eq!(status.pending[0].payload["token"], "(hidden)");
        assert_eq!(status.pending[0].payload["agency_name"], "Acme");
        // Pending: cannot be retried, can be discarded.
        assert!(matches!(
            retry_mail(&mut conn, &actor, id),
            Err(AdminError::Refused(_))
        ));
        let discarded = discard_mail(&mut conn, &actor, id).unwrap();
        assert_eq!(discarded.status, "cancelled");
        assert_eq!(mail_status(&mut conn, 10).unwrap().outbox_depth, 0);
        assert!(matches!(
            discard_mail(&mut conn, &actor, id),
            Err(AdminError::Refused(_))
        ));
        let retried = retry_mail(&mut conn, &actor, id).unwrap();
        assert_eq!((retried.status.as_str(), retried.attempts), ("pending", 0));
        assert!(matches!(mail(&mut conn, 999), Err(AdminError::NotFound(_))));
        crate::with_conn!(&mut conn, |c| {
            let retries = c.audit_entries(Some("mail.retry"), 5).unwrap();
            assert_eq!(retries.len(), 1);
            assert_eq!(retries[0].actor, "operator:ops@example.org");
            assert_eq!(retries[0].subject.as_deref(), Some(id.to_string().as_str()));
            assert_eq!(c.audit_entries(Some("mail.discard"), 5).unwrap().len(), 1);
        });
    });
}
