//! Background work of matching: keeping the index in step with saved-search changes made by
//! other processes, telling owners 3 days before a saved search expires, and cleaning up saved
//! searches that expired long ago.

use std::sync::Arc;
use std::time::Duration;

use super::live::{LiveMatcher, MatchConn};
use crate::accounts::UserStore;
use crate::db::{Db, DbConn, DbError};
use crate::notify::outbox::{MailKind, NewNotification, OutboxStore};
use crate::searches::{Owner, SavedSearchStore};
use crate::shutdown::Shutdown;

/// Why a round of saved-search housekeeping failed (the job logs it and tries again later).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HousekeepingError {
    /// No database connection, or the blocking task failed.
    #[error(transparent)]
    Database(#[from] DbError),
    /// A query failed (the transaction was rolled back).
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    /// A saved search's expiry time could not be written as RFC 3339 (out of range).
    #[error(transparent)]
    ExpiryTime(#[from] time::error::Format),
}

/// How long before expiry the owner is told.
pub const EXPIRY_NOTICE_MS: i64 = 3 * 86_400_000;
/// Expired saved searches are deleted this long after expiry (until then they can be renewed).
pub const PURGE_AFTER_MS: i64 = 30 * 86_400_000;

/// Applies saved-search changes every `every` until shutdown.
pub async fn keep_in_step(
    db: Db,
    matcher: Arc<LiveMatcher>,
    every: Duration,
    mut shutdown: Shutdown,
) {
    loop {
        let m = matcher.clone();
        let result = db
            .run::<_, DbError, _>(move |conn| {
                Ok(crate::with_conn!(conn, |c| m.catch_up(c, crate::db::now_ms()))?)
            })
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "saved-search index catch-up failed; will retry");
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.requested() => return,
        }
    }
}

/// Queues the "your saved search expires in 3 days" mails that are due and deletes saved
/// searches expired more than [`PURGE_AFTER_MS`] ago. Returns (notices, purged).
///
/// The renew link of a buyer's search is the website's saved-searches page; an agency's search
/// is renewed by its desk client (`agency-client customer watch`), through the agency API route
/// the link names.
pub fn expiry_housekeeping(
    conn: &mut DbConn,
    public_url: &str,
    agency_url: &str,
) -> Result<(usize, usize), HousekeepingError> {
    let now = crate::db::now_ms();
    let due = crate::with_conn!(conn, |c| c
        .saved_searches_expiring(now, now + EXPIRY_NOTICE_MS))?;
    let mut notices = 0;
    for search in due {
        let queued = crate::write_tx!(conn, |c| -> Result<bool, HousekeepingError> {
            let recipient = match search.owner() {
                Owner::User(u) => c.user_emails(&[u])?.pop(),
                Owner::Agency(a) => c.agency_emails(&[a])?.pop(),
            };
            c.mark_expiry_notice_sent(search.id, now)?;
            let Some((_, email)) = recipient else {
                return Ok(false);
            };
            let expires_at = crate::listings::ms_to_time(search.expires_at)
                .format(&time::format_description::well_known::Rfc3339)?;
            let (user_id, agency_id) = (search.user_id, search.agency_id);
            // A buyer renews on the website's saved-searches page; an agency's saved search
            // watches a tenant and is renewed from the desk (watching again), so its mail says
            // how instead of linking to an API route a mail reader cannot call.
            let renew = match search.owner() {
                Owner::User(_) => serde_json::json!({
                    "renew_link": format!("{}/saved", public_url.trim_end_matches('/')),
                }),
                Owner::Agency(_) => serde_json::json!({
                    "renew_hint": format!(
                        "Your agency client renews it: watch the tenant again (in the window, or \
                         `agency-client customer watch ID`) before it expires. Agency API: {}",
                        agency_url.trim_end_matches('/')
                    ),
                }),
            };
            let n = NewNotification {
                user_id,
                agency_id,
                saved_search_id: Some(search.id),
                ..NewNotification::new(
                    MailKind::SavedSearchExpiring,
                    email,
                    format!("saved_search_expiring:{}:{}", search.id, search.expires_at),
                    {
                        let mut payload = serde_json::json!({
                            "name": search.name,
                            "expires_at": expires_at,
                        });
                        if let (Some(p), Some(r)) = (payload.as_object_mut(), renew.as_object()) {
                            p.extend(r.clone());
                        }
                        payload
                    },
                )
            };
            Ok(c.enqueue_notification(&n)?)
        })?;
        notices += usize::from(queued);
    }
    let purged = crate::write_tx!(conn, |c| c
        .purge_expired_saved_searches(now - PURGE_AFTER_MS, now))?;
    Ok((notices, purged.len()))
}

/// Runs [`expiry_housekeeping`] at start and every `every` until shutdown.
pub async fn housekeeping(
    db: Db,
    public_url: String,
    agency_url: String,
    every: Duration,
    mut shutdown: Shutdown,
) {
    loop {
        let (url, agency) = (public_url.clone(), agency_url.clone());
        match db
            .run::<_, HousekeepingError, _>(move |conn| expiry_housekeeping(conn, &url, &agency))
            .await
        {
            Ok((0, 0)) => {}
            Ok((notices, purged)) => {
                tracing::info!(notices, purged, "saved-search expiry housekeeping")
            }
            Err(e) => tracing::warn!(error = %e, "saved-search housekeeping failed; will retry"),
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.requested() => return,
        }
    }
}
