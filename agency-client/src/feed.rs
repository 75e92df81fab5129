//! Pulling everyone's listings from the platform's change feed: "N updates available", then
//! page after page, each page applied in one local transaction together with the new cursor
//! and the hints it raises or drops, so an interrupted pull resumes where it stopped.
//!
//! Every listing's agency signature is checked before its page is applied
//! ([`crate::signatures`]); the outcome is stored with the listing (the object's text exactly as
//! received, so it can be checked again), and only verified listings raise hints. Listings pulled
//! before checks existed (or whose certificate could not be fetched) are checked again at the end
//! of each pull.
//!
//! The platform is not trusted blindly here either:
//!
//! * a listing is removed only on a signature the desk can check: its agency's signed document
//!   with `StandardStatus: Withdrawn`, or the platform's signed take-down statement. A removal
//!   without one is refused: the listing stays (with its hints), is flagged
//!   (`shared_listings.removal_refused`) and the pull reports it;
//! * a document older than the verified one the desk holds (or as old with other content) is
//!   refused as a rollback: the desk keeps its copy and the pull reports it.

use api_types::api::{CertificateEventsPage, ChangeEvent, ChangeKind, ChangesCount, ChangesPage};
use api_types::{ListingObject, SignatureEnvelope, StandardStatus};
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
    /// Removals the platform announced without a valid signature: refused, the listing kept.
    pub refused_removals: Vec<RefusedChange>,
    /// Older versions the platform sent than the verified ones held here: refused, the copy
    /// here kept.
    pub refused_rollbacks: Vec<RefusedChange>,
    /// Certificate events read (revocations, compromises), before the listings.
    pub certificate_events: usize,
    /// Certificates this desk knew that the platform announced as revoked for a key compromise
    /// during this pull (serials).
    pub compromised: Vec<String>,
    /// Certificate-event position after the pull.
    pub certificate_cursor: i64,
}

/// A change from the platform this desk refused to apply.
#[derive(Debug, Clone, Serialize)]
pub struct RefusedChange {
    /// The listing's agency.
    pub office_key: String,
    /// The listing's key.
    pub listing_key: String,
    /// What was refused and why, in plain words.
    pub problem: String,
}

/// What checking one change-feed event's signatures found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventCheck {
    /// The agency's signature on the listing the event carries (unchecked when it carries none).
    pub listing: Verdict,
    /// The platform's signature on the take-down statement, when the event carries one: `Err`
    /// says why it cannot be trusted.
    pub takedown: Option<Result<(), String>>,
    /// When this desk first held the listing's signature (now, for a new one), Unix ms.
    pub first_seen: i64,
}

impl EventCheck {
    /// The outcome for an event that carries a listing and no take-down statement, seen now.
    pub fn listing(verdict: Verdict) -> EventCheck {
        EventCheck {
            listing: verdict,
            takedown: None,
            first_seen: now_ms(),
        }
    }
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

/// What a pull warns about one listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullWarningKind {
    /// Its agency's signature failed ([`PullReport::invalid`]).
    InvalidSignature,
    /// A removal without a valid signature was refused ([`PullReport::refused_removals`]).
    RefusedRemoval,
    /// An older version than the one held was refused ([`PullReport::refused_rollbacks`]).
    RefusedRollback,
}

/// One listing a pull warns about, as [`PullReport::warnings`] lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PullWarning<'a> {
    /// What went wrong.
    pub kind: PullWarningKind,
    /// The listing's agency.
    pub office_key: &'a str,
    /// The listing's key.
    pub listing_key: &'a str,
    /// Why, in plain words.
    pub problem: &'a str,
}

impl PullReport {
    /// Every listing this pull warns about, in the order they are shown: invalid signatures,
    /// then refused removals, then refused rollbacks.
    pub fn warnings(&self) -> impl Iterator<Item = PullWarning<'_>> {
        let invalid = self.invalid.iter().map(|i| PullWarning {
            kind: PullWarningKind::InvalidSignature,
            office_key: &i.office_key,
            listing_key: &i.listing_key,
            problem: &i.problem,
        });
        fn refused(
            kind: PullWarningKind,
            changes: &[RefusedChange],
        ) -> impl Iterator<Item = PullWarning<'_>> {
            changes.iter().map(move |r| PullWarning {
                kind,
                office_key: &r.office_key,
                listing_key: &r.listing_key,
                problem: &r.problem,
            })
        }
        invalid
            .chain(refused(
                PullWarningKind::RefusedRemoval,
                &self.refused_removals,
            ))
            .chain(refused(
                PullWarningKind::RefusedRollback,
                &self.refused_rollbacks,
            ))
    }

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

/// Checks the signatures in `events`: each listing's agency signature and each take-down
/// statement's platform signature (fetching the certificates they name); one check per event.
pub fn check_events(
    conn: &mut SqliteConnection,
    session: &mut Session,
    verifier: &mut Verifier,
    events: &[ChangeEvent],
) -> Result<Vec<EventCheck>, ClientError> {
    verifier.fetch(
        conn,
        &mut session.client,
        events
            .iter()
            .filter(|e| e.listing.is_some())
            .filter_map(|e| e.certificate_serial.as_deref())
            .chain(
                events
                    .iter()
                    .filter_map(|e| e.takedown.as_ref())
                    .map(|t| t.certificate_serial.as_str()),
            ),
    )?;
    let first_seen = events
        .iter()
        .map(|e| {
            signatures::first_seen(
                conn,
                &e.list_office_key,
                &e.listing_key,
                e.signature.as_ref(),
            )
        })
        .collect::<Result<Vec<i64>, ClientError>>()?;
    let verifier = &*verifier;
    let items: Vec<(&ChangeEvent, i64)> = events.iter().zip(first_seen).collect();
    Ok(signatures::check_all(&items, |&(e, first_seen)| {
        EventCheck {
            listing: match &e.listing {
                Some(object) => verifier.check(
                    &e.list_office_key,
                    object,
                    e.signature.as_ref(),
                    e.certificate_serial.as_deref(),
                    first_seen,
                ),
                None => Verdict::unchecked("no listing"),
            },
            takedown: e
                .takedown
                .as_ref()
                .map(|t| verifier.check_takedown(&e.list_office_key, &e.listing_key, e.version, t)),
            first_seen,
        }
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
    let mut report = PullReport {
        cursor: cursor(store.conn())?,
        ..Default::default()
    };
    // Compromises first: every listing below is then judged with what the platform announced.
    pull_certificate_events(store.conn(), session, &mut report)?;
    verifier.refresh_stale(store.conn(), &mut session.client)?;
    loop {
        let page: ChangesPage = session.client.get_json(&format!(
            "/api/v1/changes?after={}&limit={PAGE_SIZE}",
            report.cursor
        ))?;
        let checks = check_events(store.conn(), session, &mut verifier, &page.events)?;
        apply_page(store.conn(), &page, &checks, &mut report)?;
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

/// Reads every certificate event after the stored position (revocations, reasons raised to
/// `key_compromise`, compromise dates set back) and applies them to the local certificate cache,
/// a page per transaction together with the new position. Listings verified with a certificate
/// that turns out revoked are judged again at the end of the pull (see [`doubt_revoked`]).
fn pull_certificate_events(
    conn: &mut SqliteConnection,
    session: &mut Session,
    report: &mut PullReport,
) -> Result<(), ClientError> {
    let mut after: i64 = identity::table
        .select(identity::certificate_cursor)
        .first(conn)?;
    loop {
        let page: CertificateEventsPage = session.client.get_json(&format!(
            "/api/v1/changes/certificates?after={after}&limit={PAGE_SIZE}"
        ))?;
        let compromised = conn.immediate_transaction(|c| {
            let mut compromised = Vec::new();
            for event in &page.events {
                if signatures::apply_certificate_event(c, event)?
                    && event.reason == "key_compromise"
                {
                    compromised.push(event.serial.to_ascii_lowercase());
                }
            }
            diesel::update(identity::table)
                .set(identity::certificate_cursor.eq(page.next_after))
                .execute(c)?;
            Ok::<_, ClientError>(compromised)
        })?;
        report.certificate_events += page.events.len();
        for serial in compromised {
            if !report.compromised.contains(&serial) {
                report.compromised.push(serial);
            }
        }
        after = page.next_after;
        if !page.has_more || page.events.is_empty() {
            break;
        }
    }
    report.certificate_cursor = after;
    Ok(())
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

type UncheckedRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
);

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
            shared_listings::signature_first_seen_at,
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
    let checked: Vec<(String, String, Option<ListingObject>, Verdict)> = rows
        .into_iter()
        .map(|(office, key, doc, signature, serial, first_seen)| {
            let object = ListingObject::parse(&doc).ok();
            let signature: Option<SignatureEnvelope> =
                signature.and_then(|s| serde_json::from_str(&s).ok());
            let first_seen = first_seen.unwrap_or_else(now_ms);
            let verdict = match &object {
                Some(o) => verifier.check(
                    &office,
                    o,
                    signature.as_ref(),
                    serial.as_deref(),
                    first_seen,
                ),
                None => Verdict::invalid("the stored listing cannot be read"),
            };
            (office, key, object, verdict)
        })
        .collect();
    let hints = conn.immediate_transaction(|c| {
        let tenants = customers::tenants(c)?;
        let mut hints = 0;
        for (office, key, object, verdict) in &checked {
            store_verdict(c, office, key, verdict)?;
            let trusted = object
                .as_ref()
                .map(ListingObject::get)
                .filter(|_| verdict.is_verified());
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

/// What to do with one event, decided against what this desk holds.
enum Decision<'a> {
    /// Store the listing as received (with its verdict).
    Upsert(&'a ListingObject),
    /// Remove the listing: a verified signed withdrawal or take-down.
    Remove,
    /// The platform says the listing is gone without a valid signature: keep it, flag it.
    RefuseRemoval(String),
    /// An older version than the verified one held here: keep the copy here.
    RefuseRollback(String),
    /// Nothing to do.
    Skip,
}

/// The verified document this desk holds for a listing, if any.
fn held(
    c: &mut SqliteConnection,
    office: &str,
    key: &str,
) -> Result<Option<ListingObject>, ClientError> {
    let row: Option<(String, String)> = shared_listings::table
        .filter(shared_listings::office_key.eq(office))
        .filter(shared_listings::listing_key.eq(key))
        .select((shared_listings::document, shared_listings::signature_state))
        .first(c)
        .optional()?;
    Ok(row
        .filter(|(_, state)| state == signatures::VERIFIED)
        .and_then(|(text, _)| ListingObject::parse(&text).ok()))
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Whether `incoming` would roll back the verified `held` copy; why, if so.
fn rollback(held: Option<&ListingObject>, incoming: &ListingObject) -> Option<String> {
    let held = held?;
    let (have, got) = (
        held.get().modification_timestamp,
        incoming.get().modification_timestamp,
    );
    if got < have {
        Some(format!(
            "rollback refused: the platform sent a version dated {} but this desk holds a newer one signed by the agency, dated {}; this desk keeps its copy",
            rfc3339(got),
            rfc3339(have)
        ))
    } else if got == have && held.canonical_bytes() != incoming.canonical_bytes() {
        Some(format!(
            "rollback refused: the platform sent other content with the same ModificationTimestamp {} as the version this desk holds; this desk keeps its copy",
            rfc3339(got)
        ))
    } else {
        None
    }
}

fn decide<'a>(
    event: &'a ChangeEvent,
    check: &EventCheck,
    held: Option<&ListingObject>,
) -> Decision<'a> {
    let refuse = |why: String| {
        Decision::RefuseRemoval(format!(
            "removal without a valid signature refused: {why}; the listing is kept"
        ))
    };
    let taken_down = event.takedown.is_some()
        || event.status == "taken_down"
        || event.event_type == ChangeKind::TakenDown;
    if taken_down {
        return match (&event.takedown, &check.takedown) {
            (Some(_), Some(Ok(()))) => Decision::Remove,
            (Some(_), Some(Err(why))) => refuse(why.clone()),
            _ => refuse(
                "the platform says it was taken down but sent no signed take-down statement".into(),
            ),
        };
    }
    let claims_removal = event.event_type.removes() || event.status == "withdrawn";
    let Some(object) = &event.listing else {
        return if claims_removal {
            refuse("the platform sent no signed document".into())
        } else {
            Decision::Skip
        };
    };
    if let Some(why) = rollback(held, object) {
        return Decision::RefuseRollback(why);
    }
    let withdrawn = object.get().standard_status == StandardStatus::Withdrawn;
    match (
        claims_removal || withdrawn,
        withdrawn,
        check.listing.is_verified(),
    ) {
        (false, _, _) => Decision::Upsert(object),
        (true, true, true) => Decision::Remove,
        (true, false, _) => refuse(
            "the listing's agency did not sign a withdrawal (its signed document is not Withdrawn)"
                .into(),
        ),
        (true, true, false) => refuse(format!(
            "the withdrawal is not validly signed by the listing's agency ({})",
            check.listing.problem.as_deref().unwrap_or("not checked")
        )),
    }
}

/// Applies one page and moves the cursor, in one transaction. `checks` holds the outcome of
/// each event's signature checks ([`check_events`]), in order; a listing that is not verified
/// is stored flagged and raises no hint (its open hints drop). A removal is applied only on a
/// verified signed withdrawal or take-down, and an older version than the verified one held
/// is refused (see the module documentation).
pub fn apply_page(
    conn: &mut SqliteConnection,
    page: &ChangesPage,
    checks: &[EventCheck],
    report: &mut PullReport,
) -> Result<(), ClientError> {
    if checks.len() != page.events.len() {
        return Err(ClientError::Protocol(
            "internal: one signature check per event is needed".into(),
        ));
    }
    let mut counted: Vec<usize> = Vec::new();
    let mut refused_removals = Vec::new();
    let mut refused_rollbacks = Vec::new();
    let (upserted, removed, hints) = conn.immediate_transaction(|c| {
        counted.clear();
        refused_removals.clear();
        refused_rollbacks.clear();
        let tenants = customers::tenants(c)?;
        // This agency's listings, from whichever desk, are this desk's to edit too.
        let own_office: Option<String> = identity::table
            .select(identity::agency_id)
            .first::<i64>(c)
            .optional()?
            .map(|id| id.to_string());
        let (mut upserted, mut removed, mut hints) = (0, 0, 0);
        for (i, (event, check)) in page.events.iter().zip(checks).enumerate() {
            let office = &event.list_office_key;
            let key = &event.listing_key;
            let verdict = &check.listing;
            let this = shared_listings::table
                .filter(shared_listings::office_key.eq(office))
                .filter(shared_listings::listing_key.eq(key));
            let held = held(c, office, key)?;
            let decision = decide(event, check, held.as_ref());
            if own_office.as_ref() == Some(office)
                && matches!(decision, Decision::Upsert(_) | Decision::Remove)
                && let Some(object) = &event.listing
            {
                crate::conflicts::adopt_from_feed(c, event, object, verdict.is_verified())?;
            }
            match decision {
                Decision::Upsert(object) => {
                    let doc = object.get();
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
                        shared_listings::price.eq(doc.list_price.get() as i64),
                        shared_listings::document.eq(object.raw()),
                        shared_listings::signature.eq(&signature),
                        shared_listings::certificate_serial.eq(&event.certificate_serial),
                        shared_listings::signature_state.eq(&verdict.state),
                        shared_listings::signature_problem.eq(&verdict.problem),
                        shared_listings::signature_checked_at.eq(now_ms()),
                        shared_listings::removal_refused.eq(None::<String>),
                        shared_listings::signature_first_seen_at.eq(check.first_seen),
                    );
                    diesel::insert_into(shared_listings::table)
                        .values(values.clone())
                        .on_conflict((shared_listings::office_key, shared_listings::listing_key))
                        .do_update()
                        .set(values)
                        .execute(c)?;
                    upserted += 1;
                    counted.push(i);
                    if !tenants.is_empty() {
                        // An unverified listing is not trusted: no hint, and open ones drop.
                        let trusted = Some(doc).filter(|_| verdict.is_verified());
                        hints += customers::refresh_for_listing(c, &tenants, office, key, trusted)?;
                    }
                }
                Decision::Remove => {
                    removed += diesel::delete(this).execute(c)?;
                    customers::refresh_for_listing(c, &tenants, office, key, None)?;
                }
                Decision::RefuseRemoval(problem) => {
                    // Only a listing held here can be kept; one never pulled stays away.
                    let kept = diesel::update(this)
                        .set(shared_listings::removal_refused.eq(&problem))
                        .execute(c)?;
                    if kept > 0 {
                        refused_removals.push(RefusedChange {
                            office_key: office.clone(),
                            listing_key: key.clone(),
                            problem,
                        });
                    }
                }
                Decision::RefuseRollback(problem) => refused_rollbacks.push(RefusedChange {
                    office_key: office.clone(),
                    listing_key: key.clone(),
                    problem,
                }),
                Decision::Skip => {}
            }
        }
        diesel::update(identity::table)
            .set(identity::feed_cursor.eq(page.next_after))
            .execute(c)?;
        Ok::<_, ClientError>((upserted, removed, hints))
    })?;
    for i in counted {
        let event = &page.events[i];
        report.count(
            &event.list_office_key,
            &event.listing_key,
            &checks[i].listing,
        );
    }
    report.events += page.events.len();
    report.upserted += upserted;
    report.removed += removed;
    report.new_hints += hints;
    report.refused_removals.extend(refused_removals);
    report.refused_rollbacks.extend(refused_rollbacks);
    report.cursor = page.next_after;
    Ok(())
}
