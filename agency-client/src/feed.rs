//! Pulling everyone's listings from the platform's change feed: "N updates available", then
//! page after page, each page applied in one local transaction together with the new cursor
//! and the hints it raises or drops, so an interrupted pull resumes where it stopped.

use api_types::api::{ChangesCount, ChangesPage};
use diesel::prelude::*;
use serde::Serialize;

use crate::customers;
use crate::db::Store;
use crate::db::schema::{identity, shared_listings};
use crate::error::ClientError;
use crate::identity::Session;

/// Events asked for per page (the platform's maximum).
pub const PAGE_SIZE: i64 = 1000;

/// What a pull did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PullReport {
    /// Events applied.
    pub events: usize,
    /// Listings added or changed locally.
    pub upserted: usize,
    /// Listings removed locally (withdrawn or taken down).
    pub removed: usize,
    /// New hints raised.
    pub new_hints: usize,
    /// Feed position after the pull.
    pub cursor: i64,
    /// Pages fetched.
    pub pages: usize,
}

/// The stored feed position.
pub fn cursor(conn: &mut SqliteConnection) -> Result<i64, ClientError> {
    identity::table
        .select(identity::feed_cursor)
        .first(conn)
        .optional()?
        .ok_or(ClientError::NotEnrolled)
}

/// How many changes wait on the platform after the stored position.
pub fn count(store: &mut Store, session: &mut Session) -> Result<ChangesCount, ClientError> {
    let after = cursor(store.conn())?;
    session
        .client
        .get_json(&format!("/api/v1/changes/count?after={after}"))
}

/// Pulls every waiting change; `progress(applied, total)` is called after each page.
pub fn pull(
    store: &mut Store,
    session: &mut Session,
    progress: &mut dyn FnMut(usize, i64),
) -> Result<PullReport, ClientError> {
    let waiting = count(store, session)?;
    let mut report = PullReport {
        cursor: cursor(store.conn())?,
        ..Default::default()
    };
    loop {
        let page: ChangesPage = session.client.get_json(&format!(
            "/api/v1/changes?after={}&limit={PAGE_SIZE}",
            report.cursor
        ))?;
        apply_page(store.conn(), &page, &mut report)?;
        report.pages += 1;
        progress(report.events, waiting.count.max(report.events as i64));
        if !page.has_more || page.events.is_empty() {
            break;
        }
    }
    Ok(report)
}

/// Applies one page and moves the cursor, in one transaction.
pub fn apply_page(
    conn: &mut SqliteConnection,
    page: &ChangesPage,
    report: &mut PullReport,
) -> Result<(), ClientError> {
    let (upserted, removed, hints) = conn.immediate_transaction(|c| {
        let tenants = customers::tenants(c)?;
        let (mut upserted, mut removed, mut hints) = (0, 0, 0);
        for event in &page.events {
            let office = &event.list_office_key;
            let key = &event.listing_key;
            match (&event.listing, event.event_type.removes()) {
                (Some(doc), false) => {
                    let text = serde_json::to_string(doc).unwrap_or_default();
                    let signature = event
                        .signature
                        .as_ref()
                        .and_then(|s| serde_json::to_string(s).ok());
                    let values = (
                        shared_listings::office_key.eq(office),
                        shared_listings::listing_key.eq(key),
                        shared_listings::office_name.eq(&event.list_office_name),
                        shared_listings::version.eq(event.version),
                        shared_listings::status.eq(&event.status),
                        shared_listings::sequence.eq(event.entity_event_sequence),
                        shared_listings::transaction_type.eq(doc.transaction_type.code()),
                        shared_listings::city_norm.eq(api_types::search::normalize(&doc.city)),
                        shared_listings::price.eq(doc.list_price as i64),
                        shared_listings::document.eq(&text),
                        shared_listings::signature.eq(&signature),
                        shared_listings::certificate_serial.eq(&event.certificate_serial),
                    );
                    diesel::insert_into(shared_listings::table)
                        .values(values.clone())
                        .on_conflict((shared_listings::office_key, shared_listings::listing_key))
                        .do_update()
                        .set(values)
                        .execute(c)?;
                    upserted += 1;
                    if !tenants.is_empty() {
                        hints +=
                            customers::refresh_for_listing(c, &tenants, office, key, Some(doc))?;
                    }
                }
                _ => {
                    removed += diesel::delete(
                        shared_listings::table
                            .filter(shared_listings::office_key.eq(office))
                            .filter(shared_listings::listing_key.eq(key)),
                    )
                    .execute(c)?;
                    customers::refresh_for_listing(c, &tenants, office, key, None)?;
                }
            }
        }
        diesel::update(identity::table)
            .set(identity::feed_cursor.eq(page.next_after))
            .execute(c)?;
        Ok::<_, ClientError>((upserted, removed, hints))
    })?;
    report.events += page.events.len();
    report.upserted += upserted;
    report.removed += removed;
    report.new_hints += hints;
    report.cursor = page.next_after;
    Ok(())
}
