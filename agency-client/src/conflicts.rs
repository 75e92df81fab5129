//! Own listings edited on several desks of the agency: versions, conflicts, and listings other
//! desks published.
//!
//! Listings belong to the agency, not to a desk: every desk edits them. Each change this desk
//! sends names the platform's version it was made on (`If-Match`, the version in
//! `own_listings.published_version`; `If-None-Match: *` for a first publish). When another desk
//! changed the listing first, the platform answers `412 version_mismatch` with its current
//! version, signed. Nothing is overwritten and nothing is lost: this desk's change stays in
//! `own_listings` (its document), the platform's side is kept in `listing_conflicts` with this
//! desk's check of its signature, and the listing shows as `conflict` until staff choose:
//!
//! * keep **mine**: this desk's document, dated now, is sent again as a change of the platform's
//!   current version (so it replaces it knowingly);
//! * keep **theirs**: the platform's version becomes this desk's copy (only when its signature
//!   checked out: this desk will sign its next edit of it);
//! * **merge**: edit the listing (`listing edit`, or the window's editor) while it is in conflict,
//!   then keep mine.
//!
//! The feed brings every desk's changes; one of this agency's listings changed by another desk
//! is taken into `own_listings` (it becomes editable here) when its signature checked out and
//! this desk has no change of its own pending for it ([`adopt_from_feed`]). A pending local
//! change is left alone: its publish meets the newer version as a conflict.

use api_types::api::{ChangeEvent, StoredListing};
use api_types::{ListingDocument, ListingObject, StandardStatus};
use diesel::prelude::*;
use serde::Serialize;

use crate::db::now_ms;
use crate::db::schema::{listing_conflicts, outbox, own_listings};
use crate::error::ClientError;
use crate::identity::Session;
use crate::signatures::{Verdict, Verifier};

/// The platform's side of a conflict.
#[derive(Debug, Clone, Serialize)]
pub struct TheirVersion {
    /// The platform's current version.
    pub version: i64,
    /// The platform's status code (`active`, `withdrawn`, …).
    pub status: String,
    /// The document as signed by the desk that wrote it.
    pub document: ListingDocument,
    /// Serial of the certificate that signed it.
    pub certificate_serial: Option<String>,
    /// This desk's check of that signature.
    pub signature: Verdict,
}

/// A change of an own listing that met a newer version on the platform.
#[derive(Debug, Clone, Serialize)]
pub struct ListingConflict {
    /// The listing's key.
    pub listing_key: String,
    /// What this desk tried to send: `publish` or `withdraw`.
    pub action: String,
    /// The version this desk's change was made on (None: a first publish).
    pub base_version: Option<i64>,
    /// When the platform refused it (Unix ms).
    pub detected_at: i64,
    /// This desk's side: the listing as edited here (with any edit made since, for a merge).
    pub mine: ListingDocument,
    /// The platform's side; None when it has no listing under this key.
    pub theirs: Option<TheirVersion>,
}

/// Which side a resolution keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Keep {
    /// This desk's document, sent again on top of the platform's current version.
    Mine,
    /// The platform's version.
    Theirs,
}

/// What resolving a conflict did.
#[derive(Debug, Clone, Serialize)]
pub struct Resolution {
    /// The listing's key.
    pub listing_key: String,
    /// The side kept.
    pub kept: Keep,
    /// For [`Keep::Mine`]: the change queued (`publish` or `withdraw`), sent with the next
    /// `sync`/`publish` (the command line sends it at once).
    pub queued: Option<String>,
    /// The platform's version the listing now rests on.
    pub version: Option<i64>,
}

#[derive(Debug, Queryable)]
struct Row {
    listing_key: String,
    action: String,
    base_version: Option<i64>,
    theirs_version: Option<i64>,
    theirs_status: Option<String>,
    theirs_document: Option<String>,
    theirs_certificate_serial: Option<String>,
    theirs_signature_state: String,
    theirs_signature_problem: Option<String>,
    detected_at: i64,
}

fn parse_doc(text: &str) -> Result<ListingDocument, ClientError> {
    serde_json::from_str(text)
        .map_err(|e| ClientError::Storage(format!("a stored listing is unreadable: {e}")))
}

fn load(
    conn: &mut SqliteConnection,
    key: Option<&str>,
) -> Result<Vec<ListingConflict>, ClientError> {
    let mut q = listing_conflicts::table
        .select((
            listing_conflicts::listing_key,
            listing_conflicts::action,
            listing_conflicts::base_version,
            listing_conflicts::theirs_version,
            listing_conflicts::theirs_status,
            listing_conflicts::theirs_document,
            listing_conflicts::theirs_certificate_serial,
            listing_conflicts::theirs_signature_state,
            listing_conflicts::theirs_signature_problem,
            listing_conflicts::detected_at,
        ))
        .order(listing_conflicts::listing_key)
        .into_boxed();
    if let Some(key) = key {
        q = q.filter(listing_conflicts::listing_key.eq(key.to_owned()));
    }
    let rows: Vec<Row> = q.load(conn)?;
    rows.into_iter()
        .map(|r| {
            let mine: String = own_listings::table
                .find(&r.listing_key)
                .select(own_listings::document)
                .first(conn)?;
            let theirs = match (r.theirs_version, r.theirs_document) {
                (Some(version), Some(text)) => Some(TheirVersion {
                    version,
                    status: r.theirs_status.unwrap_or_default(),
                    document: ListingObject::parse(&text)
                        .map_err(|e| {
                            ClientError::Storage(format!("a stored conflict is unreadable: {e}"))
                        })?
                        .into_inner(),
                    certificate_serial: r.theirs_certificate_serial,
                    signature: Verdict::stored(
                        r.theirs_signature_state,
                        r.theirs_signature_problem,
                    ),
                }),
                _ => None,
            };
            Ok(ListingConflict {
                mine: parse_doc(&mine)?,
                listing_key: r.listing_key,
                action: r.action,
                base_version: r.base_version,
                detected_at: r.detected_at,
                theirs,
            })
        })
        .collect()
}

/// Every listing in conflict, by key.
pub fn list(conn: &mut SqliteConnection) -> Result<Vec<ListingConflict>, ClientError> {
    load(conn, None)
}

/// The conflict of listing `key`, if it is in one.
pub fn get(conn: &mut SqliteConnection, key: &str) -> Result<Option<ListingConflict>, ClientError> {
    Ok(load(conn, Some(key))?.pop())
}

/// Keys of the listings in conflict.
pub fn keys(conn: &mut SqliteConnection) -> Result<Vec<String>, ClientError> {
    Ok(listing_conflicts::table
        .select(listing_conflicts::listing_key)
        .load(conn)?)
}

/// The refusal of a change to a listing in conflict (publish, withdraw): resolve it first.
pub fn in_conflict(key: &str) -> ClientError {
    ClientError::Conflict(format!(
        "listing {key} is in conflict: another desk of the agency changed it on the platform; nothing was queued. \
         See both versions with `agency-client listing conflicts`, then `agency-client listing resolve {key} --keep mine|theirs` \
         (edit it first to merge)"
    ))
}

/// Checks the signature of the platform's current version (fetching its certificate), as the
/// feed checks every listing: it must chain to the pinned root and be of this agency.
pub fn check_theirs(
    conn: &mut SqliteConnection,
    session: &mut Session,
    current: &StoredListing,
) -> Result<Verdict, ClientError> {
    let mut verifier = Verifier::new(&session.identity)?;
    verifier.fetch(
        conn,
        &mut session.client,
        std::iter::once(current.certificate_serial.as_str()),
    )?;
    let first_seen = crate::signatures::first_seen(
        conn,
        &session.identity.agency_id.to_string(),
        &current.listing_key,
        current.signature.as_ref(),
    )?;
    Ok(verifier.check(
        &session.identity.agency_id.to_string(),
        &current.listing,
        current.signature.as_ref(),
        Some(&current.certificate_serial),
        first_seen,
    ))
}

/// Records that the platform refused this desk's `action` on listing `key`, made on
/// `base_version`, because it holds `current` (checked: `verdict`). In one transaction: the
/// conflict is stored (replacing an older one of the listing), the listing's queued changes are
/// taken out of the queue (they rest on the same old version; the listing's document keeps the
/// latest of them) and its refusal note cleared.
pub fn record(
    conn: &mut SqliteConnection,
    key: &str,
    action: &str,
    base_version: Option<i64>,
    current: Option<&StoredListing>,
    verdict: &Verdict,
) -> Result<(), ClientError> {
    let signature = current
        .and_then(|c| c.signature.as_ref())
        .and_then(|s| serde_json::to_string(s).ok());
    let values = (
        listing_conflicts::listing_key.eq(key),
        listing_conflicts::action.eq(action),
        listing_conflicts::base_version.eq(base_version),
        listing_conflicts::theirs_version.eq(current.map(|c| c.version)),
        listing_conflicts::theirs_status.eq(current.map(|c| c.status.clone())),
        listing_conflicts::theirs_document.eq(current.map(|c| c.listing.raw().to_owned())),
        listing_conflicts::theirs_signature.eq(signature),
        listing_conflicts::theirs_certificate_serial
            .eq(current.map(|c| c.certificate_serial.clone())),
        listing_conflicts::theirs_signature_state.eq(&verdict.state),
        listing_conflicts::theirs_signature_problem.eq(&verdict.problem),
        listing_conflicts::detected_at.eq(now_ms()),
    );
    conn.immediate_transaction(|c| {
        diesel::insert_into(listing_conflicts::table)
            .values(values.clone())
            .on_conflict(listing_conflicts::listing_key)
            .do_update()
            .set(values)
            .execute(c)?;
        diesel::delete(outbox::table.filter(outbox::listing_key.eq(key))).execute(c)?;
        diesel::update(own_listings::table.find(key))
            .set(own_listings::last_error.eq(None::<String>))
            .execute(c)?;
        Ok(())
    })
}

/// A ModificationTimestamp for this desk's document sent on top of `theirs`: now, or just after
/// theirs when this desk's clock is behind (the platform refuses an older one).
fn after(theirs: Option<&ListingDocument>) -> time::OffsetDateTime {
    let now = crate::listings::timestamp_now();
    match theirs {
        Some(t) if t.modification_timestamp >= now => {
            t.modification_timestamp + time::Duration::microseconds(1)
        }
        _ => now,
    }
}

/// Resolves the conflict of listing `key` keeping `keep` (see the module documentation). Keeping
/// theirs needs the platform's version with a verified signature; keeping mine queues this
/// desk's document (dated now) as a change of the platform's current version, for the caller to
/// send. Either way in one transaction; the conflict is gone after.
pub fn resolve(
    conn: &mut SqliteConnection,
    key: &str,
    keep: Keep,
) -> Result<Resolution, ClientError> {
    let conflict = get(conn, key)?.ok_or_else(|| {
        ClientError::NotFound(format!(
            "listing {key} is not in conflict; `agency-client listing conflicts` lists those that are"
        ))
    })?;
    let theirs = conflict.theirs.as_ref();
    conn.immediate_transaction(|c| {
        let resolution = match keep {
            Keep::Theirs => {
                let Some(theirs) = theirs else {
                    return Err(ClientError::input(
                        "--keep",
                        format!(
                            "the platform has no listing {key} to keep; keep mine to publish this desk's"
                        ),
                    ));
                };
                if !theirs.signature.is_verified() {
                    return Err(ClientError::input(
                        "--keep",
                        format!(
                            "the platform's version of {key} cannot be taken: {}; keep mine, or run `agency-client sync` and look again",
                            theirs.signature.text()
                        ),
                    ));
                }
                let text = serde_json::to_string(&theirs.document)
                    .expect("a listing document always serialises");
                diesel::update(own_listings::table.find(key))
                    .set((
                        own_listings::document.eq(text),
                        own_listings::dirty.eq(false),
                        own_listings::withdrawn
                            .eq(theirs.document.standard_status == StandardStatus::Withdrawn),
                        own_listings::published_version.eq(Some(theirs.version)),
                        own_listings::last_error.eq(None::<String>),
                        own_listings::signed_serial.eq(&theirs.certificate_serial),
                        own_listings::updated_at.eq(now_ms()),
                    ))
                    .execute(c)?;
                Resolution {
                    listing_key: key.to_owned(),
                    kept: Keep::Theirs,
                    queued: None,
                    version: Some(theirs.version),
                }
            }
            Keep::Mine => {
                let withdrawn: bool = own_listings::table
                    .find(key)
                    .select(own_listings::withdrawn)
                    .first(c)?;
                let mut doc = conflict.mine.clone();
                doc.modification_timestamp = after(theirs.map(|t| &t.document));
                doc.validate()?;
                let text =
                    serde_json::to_string(&doc).expect("a listing document always serialises");
                let action = if withdrawn { "withdraw" } else { "publish" };
                diesel::update(own_listings::table.find(key))
                    .set((
                        own_listings::document.eq(&text),
                        own_listings::dirty.eq(false),
                        own_listings::published_version.eq(theirs.map(|t| t.version)),
                        own_listings::last_error.eq(None::<String>),
                        own_listings::updated_at.eq(now_ms()),
                    ))
                    .execute(c)?;
                diesel::insert_into(outbox::table)
                    .values((
                        outbox::listing_key.eq(key),
                        outbox::action.eq(action),
                        outbox::document.eq(Some(&text)),
                        outbox::created_at.eq(now_ms()),
                    ))
                    .execute(c)?;
                Resolution {
                    listing_key: key.to_owned(),
                    kept: Keep::Mine,
                    queued: Some(action.to_owned()),
                    version: theirs.map(|t| t.version),
                }
            }
        };
        diesel::delete(listing_conflicts::table.find(key)).execute(c)?;
        Ok(resolution)
    })
}

/// Takes a change of one of this agency's listings from the feed into `own_listings`, so a
/// listing another desk published or changed is this desk's to see and edit: when `verified`,
/// newer than the version this desk holds, and this desk has nothing of its own pending for it
/// (no unpublished edit, nothing queued, no conflict). Runs in the feed's transaction; true when
/// taken.
pub(crate) fn adopt_from_feed(
    c: &mut SqliteConnection,
    event: &ChangeEvent,
    object: &ListingObject,
    verified: bool,
) -> Result<bool, ClientError> {
    if !verified {
        return Ok(false);
    }
    let key = &event.listing_key;
    let held: Option<(bool, Option<i64>)> = own_listings::table
        .find(key)
        .select((own_listings::dirty, own_listings::published_version))
        .first(c)
        .optional()?;
    let text = serde_json::to_string(object.get()).expect("a listing document always serialises");
    let withdrawn = object.get().standard_status == StandardStatus::Withdrawn;
    let now = now_ms();
    match held {
        None => {
            diesel::insert_into(own_listings::table)
                .values((
                    own_listings::listing_key.eq(key),
                    own_listings::document.eq(&text),
                    own_listings::dirty.eq(false),
                    own_listings::withdrawn.eq(withdrawn),
                    own_listings::published_version.eq(Some(event.version)),
                    own_listings::signed_serial.eq(&event.certificate_serial),
                    own_listings::created_at.eq(now),
                    own_listings::updated_at.eq(now),
                ))
                .execute(c)?;
            Ok(true)
        }
        Some((dirty, published)) => {
            let newer = published.is_some_and(|v| event.version > v);
            let queued = outbox::table
                .filter(outbox::listing_key.eq(key))
                .count()
                .get_result::<i64>(c)?
                > 0;
            let conflicted = listing_conflicts::table
                .find(key)
                .count()
                .get_result::<i64>(c)?
                > 0;
            if dirty || !newer || queued || conflicted {
                return Ok(false);
            }
            diesel::update(own_listings::table.find(key))
                .set((
                    own_listings::document.eq(&text),
                    own_listings::withdrawn.eq(withdrawn),
                    own_listings::published_version.eq(Some(event.version)),
                    own_listings::signed_serial.eq(&event.certificate_serial),
                    own_listings::last_error.eq(None::<String>),
                    own_listings::updated_at.eq(now),
                ))
                .execute(c)?;
            Ok(true)
        }
    }
}
