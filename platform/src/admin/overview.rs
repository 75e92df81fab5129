//! The dashboard's figures, read in one place for the console: agencies by state, desks,
//! listings, users, saved searches, the outbox, certificates near their end, recent audit
//! entries, and the last 24 hours by hour (publishes, matches, mails sent and failed, sign-in
//! failures).

use serde::Serialize;

use super::AdminError;
use crate::accounts::limiter::SignInLimiter;
use crate::accounts::operator::UserOverview;
use crate::agencies::{AgencyStatus, AgencyStore};
use crate::audit::{AuditEntry, AuditLog};
use crate::console::charts::HourlySeries;
use crate::db::DbConn;
use crate::listings::operator::ListingOverview;
use crate::notify::store::{MailDesk, NotificationStatus};
use crate::pki::CertificateStore;
use crate::pki::certs::KIND_CLIENT;
use crate::searches::SavedSearchStore;

/// Days ahead in which a certificate counts as expiring.
pub const EXPIRING_DAYS: i64 = 30;

/// The dashboard's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    /// Agencies applying.
    pub agencies_pending: usize,
    /// Agencies that may publish.
    pub agencies_active: usize,
    /// Agencies suspended.
    pub agencies_suspended: usize,
    /// Agencies rejected.
    pub agencies_rejected: usize,
    /// Desks (enrolment lineages) with a live certificate.
    pub desks: usize,
    /// Active listings.
    pub listings_active: i64,
    /// All listings.
    pub listings_all: i64,
    /// Website accounts.
    pub users: i64,
    /// Confirmed website accounts.
    pub users_confirmed: i64,
    /// Saved searches live now (not deleted, not expired), in the database.
    pub saved_searches_live: i64,
    /// Mails waiting.
    pub outbox_depth: i64,
    /// Mails sent in the last hour.
    pub mails_sent_last_hour: usize,
    /// Mails failed in the last hour.
    pub mails_failed_last_hour: usize,
    /// Live client certificates ending within [`EXPIRING_DAYS`].
    pub certificates_expiring: Vec<ExpiringCertificate>,
    /// The newest audit entries.
    pub recent_audit: Vec<AuditEntry>,
    /// The last 24 hours, by hour.
    #[serde(skip)]
    pub charts: Vec<HourlySeries>,
}

/// A certificate near its end.
#[derive(Debug, Clone, Serialize)]
pub struct ExpiringCertificate {
    /// Serial.
    pub serial: String,
    /// Agency.
    pub agency_id: Option<i64>,
    /// End of validity (RFC 3339).
    pub not_after: String,
    /// Whole days left.
    pub days_left: i64,
}

/// Reads the dashboard's figures at `now` (ms).
pub fn overview(conn: &mut DbConn, now: i64) -> Result<Overview, AdminError> {
    let day_ago = now - 24 * 3_600_000;
    let hour_ago = now - 3_600_000;
    crate::with_conn!(conn, |c| {
        let agencies = c.list_agencies(None)?;
        let count = |s: AgencyStatus| agencies.iter().filter(|a| a.status() == s).count();
        let certs = c.list_certificates(None)?;
        let live: Vec<_> = certs
            .iter()
            .filter(|cert| cert.kind == KIND_CLIENT && cert.is_live(now))
            .collect();
        let mut desks: Vec<&str> = live.iter().map(|cert| cert.desk()).collect();
        desks.sort_unstable();
        desks.dedup();
        let horizon = now + EXPIRING_DAYS * 86_400_000;
        let mut certificates_expiring: Vec<ExpiringCertificate> = live
            .iter()
            .filter(|cert| cert.not_after <= horizon)
            .map(|cert| ExpiringCertificate {
                serial: cert.serial.clone(),
                agency_id: cert.agency_id,
                not_after: super::rfc3339(cert.not_after),
                days_left: (cert.not_after - now) / 86_400_000,
            })
            .collect();
        certificates_expiring.sort_by_key(|c| c.days_left);
        let (listings_active, listings_all) = c.count_listings()?;
        let (users, users_confirmed) = c.count_users()?;
        let activity = c.mail_activity(day_ago)?;
        let of = |status: NotificationStatus, is_match: bool| {
            activity
                .iter()
                .filter(move |(s, _, m)| *s == status && *m == is_match)
                .map(|(_, t, _)| *t)
        };
        let charts = vec![
            HourlySeries::from_times("Publishes", c.publish_times(day_ago)?, now),
            HourlySeries::from_times("Matches", of(NotificationStatus::Pending, true), now),
            HourlySeries::from_times("Mails sent", of(NotificationStatus::Sent, false), now),
            HourlySeries::from_times("Mails failed", of(NotificationStatus::Failed, false), now),
            HourlySeries::from_times("Sign-in failures", c.failure_times(day_ago)?, now),
        ];
        Ok(Overview {
            agencies_pending: count(AgencyStatus::Pending),
            agencies_active: count(AgencyStatus::Active),
            agencies_suspended: count(AgencyStatus::Suspended),
            agencies_rejected: count(AgencyStatus::Rejected),
            desks: desks.len(),
            listings_active,
            listings_all,
            users,
            users_confirmed,
            saved_searches_live: c.count_live_saved_searches(now)?,
            outbox_depth: c.outbox_depth()?,
            mails_sent_last_hour: of(NotificationStatus::Sent, false)
                .filter(|t| *t >= hour_ago)
                .count(),
            mails_failed_last_hour: of(NotificationStatus::Failed, false)
                .filter(|t| *t >= hour_ago)
                .count(),
            certificates_expiring,
            recent_audit: c.audit_entries(None, 10)?,
            charts,
        })
    })
}
