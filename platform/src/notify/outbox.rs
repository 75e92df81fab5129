//! The outbox contract: what producers write. Delivery (claiming, rendering, sending, retrying)
//! lives beside it in the worker.
//!
//! Payloads (`notifications.payload`, JSON) per kind:
//!
//! | kind | row links | payload | secret |
//! |---|---|---|---|
//! | `listing_match` | user or agency, saved search, listing, listing version | `{"reason": MatchReason, "price": i64, "previous_price": i64?}` | no |
//! | `verify_email` | user | `{"link": "<public_url>/account/verify?token=…"}` | yes |
//! | `password_reset` | user | `{"link": "<public_url>/account/reset?token=…"}` | yes |
//! | `confirm_new_email` | user (to the new address) | `{"link": "<public_url>/account/email/confirm?token=…"}` | yes |
//! | `email_change_requested` | user (to the old address) | `{"new_email": str}` | no |
//! | `saved_search_expiring` | user or agency, saved search | `{"name": str, "expires_at": rfc3339, "renew_link": str} (a user) or `{…, "renew_hint": str}` (an agency: how its desk renews)` | no |
//! | `agency_approved` | agency | `{"agency_name": str, "token": str, "token_expires_at": rfc3339, "ca_fingerprint": str, "agency_api": str}` | yes |
//! | `agency_rejected` | agency | `{"agency_name": str}` | no |
//! | `certificate_expiring` | agency | `{"agency_name": str, "serial": str, "not_after": rfc3339}` | no |
//! | `enquiry` | agency, listing | `{"listing_title": str, "listing_link": str, "name": str, "email": str, "phone": str, "message": str}` | yes (the buyer's details: scrubbed once sent) |
//!
//! A payload marked secret carries a one-time token; the worker replaces it with `{}` once the
//! mail is sent, so the token does not outlive its delivery in the database.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::status::NotificationStatus;
use crate::db::schema::notifications;

/// What an email is about; decides its template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailKind {
    /// A listing newly matches a saved search (batched per recipient, or in the daily digest).
    ListingMatch,
    /// Confirm the address given at registration.
    VerifyEmail,
    /// Reset a forgotten password.
    PasswordReset,
    /// Confirm a new address a signed-in user asked for (sent to the new address).
    ConfirmNewEmail,
    /// Tells the current address that a change to another was asked.
    EmailChangeRequested,
    /// A saved search expires in three days; renew it.
    SavedSearchExpiring,
    /// An agency was approved: its enrolment token and the CA fingerprint.
    AgencyApproved,
    /// An agency's application was refused.
    AgencyRejected,
    /// An agency's certificate expires in 14 days and its client has not renewed it.
    CertificateExpiring,
    /// A buyer's enquiry about one of the agency's listings ([`crate::enquiries`]).
    Enquiry,
}

impl MailKind {
    /// Every kind.
    pub const ALL: [MailKind; 10] = [
        MailKind::ListingMatch,
        MailKind::VerifyEmail,
        MailKind::PasswordReset,
        MailKind::ConfirmNewEmail,
        MailKind::EmailChangeRequested,
        MailKind::SavedSearchExpiring,
        MailKind::AgencyApproved,
        MailKind::AgencyRejected,
        MailKind::CertificateExpiring,
        MailKind::Enquiry,
    ];

    /// The code stored in `notifications.kind`.
    pub fn code(self) -> &'static str {
        match self {
            MailKind::ListingMatch => "listing_match",
            MailKind::VerifyEmail => "verify_email",
            MailKind::PasswordReset => "password_reset",
            MailKind::ConfirmNewEmail => "confirm_new_email",
            MailKind::EmailChangeRequested => "email_change_requested",
            MailKind::SavedSearchExpiring => "saved_search_expiring",
            MailKind::AgencyApproved => "agency_approved",
            MailKind::AgencyRejected => "agency_rejected",
            MailKind::CertificateExpiring => "certificate_expiring",
            MailKind::Enquiry => "enquiry",
        }
    }

    /// Parses [`MailKind::code`].
    pub fn from_code(code: &str) -> Option<MailKind> {
        MailKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// True when the payload holds a one-time secret or personal details, scrubbed after
    /// sending.
    pub fn contains_secret(self) -> bool {
        matches!(
            self,
            MailKind::VerifyEmail
                | MailKind::PasswordReset
                | MailKind::ConfirmNewEmail
                | MailKind::AgencyApproved
                | MailKind::Enquiry
        )
    }
}

/// Why a listing match is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchReason {
    /// A new listing that matches.
    New,
    /// An existing listing changed so that it now matches.
    NowMatches,
    /// A listing came back on the market (active again) and matches.
    BackOnMarket,
    /// A matching listing dropped its price.
    PriceDrop,
}

/// An email to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    /// What it is about.
    pub kind: MailKind,
    /// Where it goes.
    pub recipient: String,
    /// The user it concerns.
    pub user_id: Option<i64>,
    /// The agency it concerns.
    pub agency_id: Option<i64>,
    /// The saved search it concerns.
    pub saved_search_id: Option<i64>,
    /// The listing it concerns.
    pub listing_id: Option<i64>,
    /// The listing version it concerns.
    pub listing_version: Option<i64>,
    /// Kind-specific data (see the module table).
    pub payload: serde_json::Value,
    /// Unique per intended email: a second enqueue with the same key is ignored. For matches:
    /// `match:{saved_search_id}:{listing_id}:{listing_version}`.
    pub idempotency_key: String,
    /// Not to be sent before this time (ms); usually now.
    pub not_before: i64,
}

impl NewNotification {
    /// A notification of `kind` to `recipient`, due now, with no links set.
    pub fn new(
        kind: MailKind,
        recipient: impl Into<String>,
        idempotency_key: impl Into<String>,
        payload: serde_json::Value,
    ) -> NewNotification {
        NewNotification {
            kind,
            recipient: recipient.into(),
            user_id: None,
            agency_id: None,
            saved_search_id: None,
            listing_id: None,
            listing_version: None,
            payload,
            idempotency_key: idempotency_key.into(),
            not_before: crate::db::now_ms(),
        }
    }
}

/// The `listing_match` payload, as the worker reads it back.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MatchPayload {
    /// Why the listing matched.
    pub reason: MatchReason,
    /// The price matched.
    pub price: i64,
    /// The price before, for a price drop.
    #[serde(default)]
    pub previous_price: Option<i64>,
}

/// Writing to the outbox; implemented for both connection types. Call it inside the transaction
/// of the change that causes the email.
pub trait OutboxStore {
    /// Queues an email; `Ok(false)` when one with the same idempotency key already exists.
    fn enqueue_notification(&mut self, notification: &NewNotification) -> QueryResult<bool>;
}

crate::impl_for_backends!(OutboxStore {
    fn enqueue_notification(&mut self, n: &NewNotification) -> QueryResult<bool> {
        let inserted = diesel::insert_into(notifications::table)
            .values((
                notifications::idempotency_key.eq(&n.idempotency_key),
                notifications::kind.eq(n.kind.code()),
                notifications::recipient.eq(&n.recipient),
                notifications::user_id.eq(n.user_id),
                notifications::agency_id.eq(n.agency_id),
                notifications::saved_search_id.eq(n.saved_search_id),
                notifications::listing_id.eq(n.listing_id),
                notifications::listing_version.eq(n.listing_version),
                notifications::payload.eq(n.payload.to_string()),
                notifications::status.eq(NotificationStatus::Pending),
                notifications::attempts.eq(0),
                notifications::next_attempt_at.eq(n.not_before),
                notifications::created_at.eq(crate::db::now_ms()),
            ))
            .on_conflict(notifications::idempotency_key)
            .do_nothing()
            .execute(self)?;
        Ok(inserted == 1)
    }
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in MailKind::ALL {
            assert_eq!(MailKind::from_code(k.code()), Some(k));
        }
    }

    crate::db_test!(enqueue_is_idempotent, |db| {
        let mut conn = db.get().unwrap();
        let n = NewNotification::new(
            MailKind::AgencyRejected,
            "desk@agency.example",
            "agency_rejected:1",
            serde_json::json!({"agency_name": "Acme"}),
        );
        assert!(crate::write_tx!(&mut conn, |c| c.enqueue_notification(&n)).unwrap());
        assert!(!crate::write_tx!(&mut conn, |c| c.enqueue_notification(&n)).unwrap());
        let count: i64 =
            crate::with_conn!(&mut conn, |c| notifications::table.count().get_result(c)).unwrap();
        assert_eq!(count, 1);
    });
}
