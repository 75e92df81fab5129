//! Pulling everyone's listings from the platform's change feed: "N updates available", then
//! page after page, each page applied in one local transaction together with the new cursor
//! and the hints it raises or drops, so an interrupted pull resumes where it stopped.
//!
//! Every listing's agency signature is checked before its page is applied
//! ([`crate::signatures`]); the outcome is stored with the listing, and only verified listings
//! raise hints. Listings pulled before checks existed (or whose certificate could not be fetched)
//! are checked again at the end of each pull.

use api_types::api::{ChangeEvent, ChangesCount, ChangesPage};
use api_types::{ListingDocument, SignatureEnvelope};
use diesel::prelude::*;
use serde::Serialize;

use crate::customers;
use crate::db::schema::{identity, shared_listings};
use crate::db::{Store, now_ms};
use crate::error::ClientError;
use crate::identity::Session;
use crate::signatures::{self, Verdict, Verifier};

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
    /// Listings whose agency signature verified (pulled now or checked again).
    pub verified: usize,
    /// Listings whose signature failed: kept, flagged, never hinted.
    pub invalid: Vec<InvalidListing>,
    /// Listings that could not be checked this time (checked again at the next pull).
    pub unchecked: usize,
}

/// A listing whose agency signature failed.
#[derive(Debug, Clone, Serialize)]
pub struct InvalidListing {
    /// The listing's agency.
    pub office_key: String,
    /// The listing's key.
    pub listing_key: String,
    /// Why, in plain words.
    pub problem: String,
}

impl PullReport {
    fn count(&mut self, office_key: &str, listing_key: &str, verdict: &Verdict) {
        match verdict.state.as_str() {
            signatures::VERIFIED => self.verified += 1,
            signatures::INVALID => self.invalid.push(InvalidListing {
                office_key: office_key.to_owned(),
                listing_key: listing_key.to_owned(),
                problem: verdict.problem.clone().unwrap_or_default(),
            }),
            _ => self.unchecked += 1,
        }
    }
}

/// Checks the signature of every listing in `events` (fetching the certificates they name);
/// one verdict per event (removals get an unchecked verdict that is never stored).
pub fn check_events(
    conn: &mut SqliteConnection,
    session: &mut Session,
    verifier: &mut Verifier,
    events: &[ChangeEvent],
) -> Result<Vec<Verdict>, ClientError> {
    verifier.fetch(
        conn,
        &mut session.client,
        events
            .iter()
            .filter(|e| e.listing.is_some())
            .filter_map(|e| e.certificate_serial.as_deref()),
    )?;
    let verifier = &*verifier;
    Ok(signatures::check_all(events, |e| match &e.listing {
        Some(doc) => verifier.check(
            &e.list_office_key,
            doc,
            e.signature.as_ref(),
            e.certificate_serial.as_deref(),
        ),
        None => Verdict::unchecked("no listing"),
    }))
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
    let mut verifier = Verifier::new(&session.identity)?;
    let started = now_ms();
    verifier.refresh_stale(store.conn(), &mut session.client)?;
    let mut report = PullReport {
        cursor: cursor(store.conn())?,
        ..Default::default()
    };
    loop {
        let page: ChangesPage = session.client.get_json(&format!(
            "/api/v1/changes?after={}&limit={PAGE_SIZE}",
            report.cursor
        ))?;
        let verdicts = check_events(store.conn(), session, &mut verifier, &page.events)?;
        apply_page(store.conn(), &page, &verdicts, &mut report)?;
        report.pages += 1;
        progress(report.events, waiting.count.max(report.events as i64));
        if !page.has_more || page.events.is_empty() {
            break;
        }
    }
    doubt_revoked(store.conn())?;
    recheck_unchecked(store.conn(), session, &mut verifier, started, &mut report)?;
    Ok(report)
}

/// Marks unchecked every stored listing that was verified before this desk learned that its
/// certificate is revoked, so [`recheck_unchecked`] judges it again with the revocation (a
/// compromised key: invalid; superseded: still valid if dated before the revocation).
fn doubt_revoked(conn: &mut SqliteConnection) -> Result<usize, ClientError> {
    let doubted = diesel::sql_query(
        "UPDATE shared_listings SET signature_state = 'unchecked', signature_checked_at = NULL \
         WHERE signature_state = 'verified' AND EXISTS (SELECT 1 FROM certificates c \
           WHERE c.serial = lower(shared_listings.certificate_serial) AND c.status = 'revoked' \
           AND (shared_listings.signature_checked_at IS NULL \
                OR shared_listings.signature_checked_at <= c.fetched_at))",
    )
    .execute(conn)?;
    Ok(doubted)
}

type UncheckedRow = (String, String, String, Option<String>, Option<String>);

/// Checks again every stored listing whose signature is still unchecked (pulled by an older
/// version of this program, or its certificate could not be fetched then), storing the outcome
/// and raising or dropping hints accordingly, in one transaction. Rows checked since `before`
/// (in this pull) are left alone.
fn recheck_unchecked(
    conn: &mut SqliteConnection,
    session: &mut Session,
    verifier: &mut Verifier,
    before: i64,
    report: &mut PullReport,
) -> Result<(), ClientError> {
    let rows: Vec<UncheckedRow> = shared_listings::table
        .filter(shared_listings::signature_state.eq(signatures::UNCHECKED))
        .filter(
            shared_listings::signature_checked_at
                .is_null()
                .or(shared_listings::signature_checked_at.lt(before)),
        )
        .select((
            shared_listings::office_key,
            shared_listings::listing_key,
            shared_listings::document,
            shared_listings::signature,
            shared_listings::certificate_serial,
        ))
        .load(conn)?;
    if rows.is_empty() {
        return Ok(());
    }
    verifier.fetch(
        conn,
        &mut session.client,
        rows.iter().filter_map(|r| r.4.as_deref()),
    )?;
    let checked: Vec<(String, String, Option<ListingDocument>, Verdict)> = rows
        .into_iter()
        .map(|(office, key, doc, signature, serial)| {
            let doc: Option<ListingDocument> = serde_json::from_str(&doc).ok();
            let signature: Option<SignatureEnvelope> =
                signature.and_then(|s| serde_json::from_str(&s).ok());
            let verdict = match &doc {
                Some(d) => verifier.check(&office, d, signature.as_ref(), serial.as_deref()),
                None => Verdict::invalid("the stored listing cannot be read"),
            };
            (office, key, doc, verdict)
        })
        .collect();
    let hints = conn.immediate_transaction(|c| {
        let tenants = customers::tenants(c)?;
        let mut hints = 0;
        for (office, key, doc, verdict) in &checked {
            store_verdict(c, office, key, verdict)?;
            let trusted = doc.as_ref().filter(|_| verdict.is_verified());
            hints += customers::refresh_for_listing(c, &tenants, office, key, trusted)?;
        }
        Ok::<_, ClientError>(hints)
    })?;
    for (office, key, _, verdict) in &checked {
        report.count(office, key, verdict);
    }
    report.new_hints += hints;
    Ok(())
}

fn store_verdict(
    c: &mut SqliteConnection,
    office: &str,
    key: &str,
    verdict: &Verdict,
) -> Result<(), ClientError> {
    diesel::update(
        shared_listings::table
            .filter(shared_listings::office_key.eq(office))
            .filter(shared_listings::listing_key.eq(key)),
    )
    .set((
        shared_listings::signature_state.eq(&verdict.state),
        shared_listings::signature_problem.eq(&verdict.problem),
        shared_listings::signature_checked_at.eq(now_ms()),
    ))
    .execute(c)?;
    Ok(())
}

/// Applies one page and moves the cursor, in one transaction. `verdicts` holds the outcome of
/// each event's signature check ([`check_events`]), in order; a listing that is not verified is
/// stored flagged and raises no hint (its open hints drop).
pub fn apply_page(
    conn: &mut SqliteConnection,
    page: &ChangesPage,
    verdicts: &[Verdict],
    report: &mut PullReport,
) -> Result<(), ClientError> {
    if verdicts.len() != page.events.len() {
        return Err(ClientError::Protocol(
            "internal: one signature verdict per event is needed".into(),
        ));
    }
    let (upserted, removed, hints) = conn.immediate_transaction(|c| {
        let tenants = customers::tenants(c)?;
        let (mut upserted, mut removed, mut hints) = (0, 0, 0);
        for (event, verdict) in page.events.iter().zip(verdicts) {
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
                        shared_listings::signature_state.eq(&verdict.state),
                        shared_listings::signature_problem.eq(&verdict.problem),
                        shared_listings::signature_checked_at.eq(now_ms()),
                    );
                    diesel::insert_into(shared_listings::table)
                        .values(values.clone())
                        .on_conflict((shared_listings::office_key, shared_listings::listing_key))
                        .do_update()
                        .set(values)
                        .execute(c)?;
                    upserted += 1;
                    if !tenants.is_empty() {
                        // An unverified listing is not trusted: no hint, and open ones drop.
                        let trusted = Some(doc).filter(|_| verdict.is_verified());
                        hints += customers::refresh_for_listing(c, &tenants, office, key, trusted)?;
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
    for (event, verdict) in page.events.iter().zip(verdicts) {
        if event.listing.is_some() && !event.event_type.removes() {
            report.count(&event.list_office_key, &event.listing_key, verdict);
        }
    }
    report.events += page.events.len();
    report.upserted += upserted;
    report.removed += removed;
    report.new_hints += hints;
    report.cursor = page.next_after;
    Ok(())
}
