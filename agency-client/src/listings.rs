//! The agency's own listings: drafts kept locally, a persistent outbox of publishes and
//! withdrawals sent strictly in order, and what the platform made of them.
//!
//! A document is signed when it is sent (ECDSA P-256 over the RFC 8785 form of exactly the
//! listing object sent, with the key of the certificate presented), so a renewal between queueing
//! and sending cannot break it. A withdrawal is a signed document too: the listing with
//! `StandardStatus: Withdrawn`, its `ModificationTimestamp` fixed when it is queued, signed when
//! sent with `DELETE`, so the platform can prove (and every desk check) that the agency withdrew
//! it.

use api_types::api::PublishResponse;
use api_types::{
    ListingDocument, ListingObject, SignatureAlgorithm, SignatureEnvelope, SignedListing,
    StandardStatus,
};
use base64::Engine;
use diesel::prelude::*;
use serde::Serialize;
use time::OffsetDateTime;

use crate::db::now_ms;
use crate::db::schema::{outbox, own_listings};
use crate::error::ClientError;
use crate::identity::Session;

/// One own listing as the desk sees it.
#[derive(Debug, Clone, Serialize)]
pub struct OwnListing {
    /// The listing's key.
    pub listing_key: String,
    /// `draft` (never sent), `changed` (published, local edits not yet queued), `queued`
    /// (waiting in the outbox), `published`, `withdrawn`, `rejected` (the platform refused
    /// the last attempt; see `last_error`), or `conflict` (another desk changed it first; see
    /// [`crate::conflicts`]).
    pub state: String,
    /// The platform's version this desk's copy rests on: after the last accepted publish, or
    /// taken from the feed (another desk's change). Changes are sent as changes of it.
    pub published_version: Option<i64>,
    /// Why the platform refused the last attempt.
    pub last_error: Option<String>,
    /// The document.
    pub document: ListingDocument,
}

#[derive(Debug, Queryable)]
struct Row {
    listing_key: String,
    document: String,
    dirty: bool,
    withdrawn: bool,
    published_version: Option<i64>,
    last_error: Option<String>,
}

fn to_json(doc: &ListingDocument) -> String {
    serde_json::to_string(doc).expect("a listing document always serialises")
}

fn parse_doc(text: &str) -> Result<ListingDocument, ClientError> {
    serde_json::from_str(text)
        .map_err(|e| ClientError::Storage(format!("a stored listing is unreadable: {e}")))
}

/// Parses a listing document from JSON text, naming the offending field on error, and checks it.
pub fn parse_document(text: &str) -> Result<ListingDocument, ClientError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let doc: ListingDocument = serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        ClientError::InvalidListing {
            field: if field == "." {
                "document".into()
            } else {
                field
            },
            message: e.inner().to_string(),
        }
    })?;
    doc.validate()?;
    Ok(doc)
}

/// The current time as a listing ModificationTimestamp (whole microseconds, UTC).
pub fn timestamp_now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1000 * 1000)
        .unwrap_or(now)
}

fn load_rows(
    conn: &mut SqliteConnection,
    key: Option<&str>,
) -> Result<Vec<OwnListing>, ClientError> {
    let mut q = own_listings::table
        .select((
            own_listings::listing_key,
            own_listings::document,
            own_listings::dirty,
            own_listings::withdrawn,
            own_listings::published_version,
            own_listings::last_error,
        ))
        .order(own_listings::listing_key)
        .into_boxed();
    if let Some(key) = key {
        q = q.filter(own_listings::listing_key.eq(key.to_owned()));
    }
    let rows: Vec<Row> = q.load(conn)?;
    let queued: Vec<String> = outbox::table.select(outbox::listing_key).load(conn)?;
    let conflicted = crate::conflicts::keys(conn)?;
    rows.into_iter()
        .map(|r| {
            let state = if conflicted.contains(&r.listing_key) {
                "conflict"
            } else if queued.contains(&r.listing_key) {
                "queued"
            } else if r.withdrawn {
                "withdrawn"
            } else if r.last_error.is_some() {
                "rejected"
            } else if r.dirty && r.published_version.is_none() {
                "draft"
            } else if r.dirty {
                "changed"
            } else {
                "published"
            };
            Ok(OwnListing {
                document: parse_doc(&r.document)?,
                listing_key: r.listing_key,
                state: state.to_owned(),
                published_version: r.published_version,
                last_error: r.last_error,
            })
        })
        .collect()
}

/// Every own listing, by key.
pub fn list(conn: &mut SqliteConnection) -> Result<Vec<OwnListing>, ClientError> {
    load_rows(conn, None)
}

/// One own listing.
pub fn get(conn: &mut SqliteConnection, key: &str) -> Result<OwnListing, ClientError> {
    load_rows(conn, Some(key))?
        .pop()
        .ok_or_else(|| ClientError::NotFound(format!("there is no own listing with key {key}")))
}

/// Adds a new draft. The document must be valid and its key new.
pub fn add(conn: &mut SqliteConnection, doc: ListingDocument) -> Result<OwnListing, ClientError> {
    doc.validate()?;
    let key = doc.listing_key.to_string();
    conn.immediate_transaction(|c| {
        let exists = own_listings::table
            .find(&key)
            .count()
            .get_result::<i64>(c)?
            > 0;
        if exists {
            return Err(ClientError::input(
                "ListingKey",
                format!("a listing with key {key} exists already; use `listing edit`"),
            ));
        }
        let now = now_ms();
        diesel::insert_into(own_listings::table)
            .values((
                own_listings::listing_key.eq(&key),
                own_listings::document.eq(to_json(&doc)),
                own_listings::dirty.eq(true),
                own_listings::withdrawn.eq(false),
                own_listings::created_at.eq(now),
                own_listings::updated_at.eq(now),
            ))
            .execute(c)?;
        Ok(())
    })?;
    get(conn, &key)
}

/// Changes a listing with `change`, stamps a new ModificationTimestamp, checks the result and
/// stores it as a local change (to be published). Nothing is stored if the result is invalid,
/// or the same as before ([`ClientError::Unchanged`]).
pub fn edit(
    conn: &mut SqliteConnection,
    key: &str,
    change: impl FnOnce(&mut ListingDocument),
) -> Result<OwnListing, ClientError> {
    conn.immediate_transaction(|c| {
        let text: String = own_listings::table
            .find(key)
            .select(own_listings::document)
            .first(c)
            .optional()?
            .ok_or_else(|| {
                ClientError::NotFound(format!("there is no own listing with key {key}"))
            })?;
        let before = parse_doc(&text)?;
        let mut doc = before.clone();
        change(&mut doc);
        // An empty edit (nothing given, or the values it has) would mark it changed and send it
        // again; refused. A new ModificationTimestamp alone is no change.
        doc.modification_timestamp = before.modification_timestamp;
        if doc == before {
            return Err(ClientError::Unchanged(format!(
                "nothing to change: listing {key} already has these values, so it stays as it was"
            )));
        }
        if doc.listing_key != key {
            return Err(ClientError::input(
                "ListingKey",
                "a listing's key cannot change",
            ));
        }
        // Later than the version edited, even if another desk's clock is ahead of this one.
        doc.modification_timestamp =
            timestamp_now().max(before.modification_timestamp + time::Duration::microseconds(1));
        doc.validate()?;
        diesel::update(own_listings::table.find(key))
            .set((
                own_listings::document.eq(to_json(&doc)),
                own_listings::dirty.eq(true),
                own_listings::withdrawn.eq(doc.standard_status == StandardStatus::Withdrawn),
                own_listings::last_error.eq(None::<String>),
                own_listings::updated_at.eq(now_ms()),
            ))
            .execute(c)?;
        Ok(())
    })?;
    get(conn, key)
}

/// The listing `doc` withdrawn now: `StandardStatus: Withdrawn`, a new ModificationTimestamp
/// (later than the document's, even with a clock that went back).
fn withdrawal_of(mut doc: ListingDocument) -> ListingDocument {
    let now = timestamp_now();
    doc.modification_timestamp = if now > doc.modification_timestamp {
        now
    } else {
        doc.modification_timestamp + time::Duration::microseconds(1)
    };
    doc.standard_status = StandardStatus::Withdrawn;
    doc
}

/// Withdraws a listing: the document becomes the listing marked Withdrawn with a new
/// ModificationTimestamp (fixed now), and, when the platform has (or will have) the listing,
/// that document is queued to be signed and sent as the withdrawal.
pub fn withdraw(conn: &mut SqliteConnection, key: &str) -> Result<OwnListing, ClientError> {
    conn.immediate_transaction(|c| {
        let row: Option<(String, Option<i64>)> = own_listings::table
            .find(key)
            .select((own_listings::document, own_listings::published_version))
            .first(c)
            .optional()?;
        let Some((text, published)) = row else {
            return Err(ClientError::NotFound(format!(
                "there is no own listing with key {key}"
            )));
        };
        if crate::conflicts::keys(c)?.iter().any(|k| k == key) {
            return Err(crate::conflicts::in_conflict(key));
        }
        let withdrawn = withdrawal_of(parse_doc(&text)?);
        let queued = outbox::table
            .filter(outbox::listing_key.eq(key))
            .count()
            .get_result::<i64>(c)?
            > 0;
        diesel::update(own_listings::table.find(key))
            .set((
                own_listings::document.eq(to_json(&withdrawn)),
                own_listings::withdrawn.eq(true),
                own_listings::dirty.eq(false),
                own_listings::updated_at.eq(now_ms()),
            ))
            .execute(c)?;
        if published.is_some() || queued {
            diesel::insert_into(outbox::table)
                .values((
                    outbox::listing_key.eq(key),
                    outbox::action.eq("withdraw"),
                    outbox::document.eq(Some(to_json(&withdrawn))),
                    outbox::created_at.eq(now_ms()),
                ))
                .execute(c)?;
        }
        Ok(())
    })?;
    get(conn, key)
}

/// Queues every listing with local changes (or just `keys`) for publishing, in one transaction;
/// returns how many were queued. Each is checked first: one invalid listing queues nothing.
pub fn queue_changes(
    conn: &mut SqliteConnection,
    keys: &[String],
) -> Result<Vec<String>, ClientError> {
    conn.immediate_transaction(|c| {
        let mut q = own_listings::table
            .filter(own_listings::withdrawn.eq(false))
            .select((own_listings::listing_key, own_listings::document))
            .order(own_listings::updated_at)
            .into_boxed();
        if keys.is_empty() {
            q = q.filter(own_listings::dirty.eq(true));
        } else {
            q = q.filter(own_listings::listing_key.eq_any(keys.to_vec()));
        }
        let mut rows: Vec<(String, String)> = q.load(c)?;
        if let Some(missing) = keys.iter().find(|k| !rows.iter().any(|(key, _)| key == *k)) {
            return Err(ClientError::NotFound(format!(
                "there is no own listing with key {missing} that could be published"
            )));
        }
        // A listing in conflict is sent by `listing resolve`, not again as a change of the
        // version it was made on; named, it is refused, else left out.
        let conflicted = crate::conflicts::keys(c)?;
        if let Some(key) = keys.iter().find(|k| conflicted.contains(k)) {
            return Err(crate::conflicts::in_conflict(key));
        }
        rows.retain(|(key, _)| !conflicted.contains(key));
        let now = now_ms();
        let mut queued = Vec::new();
        for (key, text) in rows {
            let doc = parse_doc(&text)?;
            doc.validate()?;
            diesel::insert_into(outbox::table)
                .values((
                    outbox::listing_key.eq(&key),
                    outbox::action.eq("publish"),
                    outbox::document.eq(Some(&text)),
                    outbox::created_at.eq(now),
                ))
                .execute(c)?;
            diesel::update(own_listings::table.find(&key))
                .set((
                    own_listings::dirty.eq(false),
                    own_listings::last_error.eq(None::<String>),
                ))
                .execute(c)?;
            queued.push(key);
        }
        Ok(queued)
    })
}

/// One queued change, as `sync` and `publish --json` show it.
#[derive(Debug, Clone, Serialize)]
pub struct QueuedChange {
    /// Position in the queue (sent in increasing order).
    pub id: i32,
    /// The listing.
    pub listing_key: String,
    /// `publish` or `withdraw`.
    pub action: String,
    /// Failed attempts so far.
    pub attempts: i32,
    /// The last failure.
    pub last_error: Option<String>,
}

/// The outbox, in sending order.
pub fn queue(conn: &mut SqliteConnection) -> Result<Vec<QueuedChange>, ClientError> {
    let rows: Vec<(i32, String, String, i32, Option<String>)> = outbox::table
        .order(outbox::id)
        .select((
            outbox::id,
            outbox::listing_key,
            outbox::action,
            outbox::attempts,
            outbox::last_error,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(id, listing_key, action, attempts, last_error)| QueuedChange {
                id,
                listing_key,
                action,
                attempts,
                last_error,
            },
        )
        .collect())
}

/// What draining the queue did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DrainReport {
    /// Changes the platform accepted, in the order sent.
    pub sent: Vec<SentChange>,
    /// Changes the platform refused for good (the listing is marked `rejected`; fix and publish).
    pub rejected: Vec<SentChange>,
    /// Changes made on a version another desk had replaced: nothing was overwritten; the
    /// listing is in conflict (see [`crate::conflicts`]).
    pub conflicts: Vec<SentChange>,
    /// Changes still queued.
    pub remaining: usize,
}

/// One change sent.
#[derive(Debug, Clone, Serialize)]
pub struct SentChange {
    /// The listing.
    pub listing_key: String,
    /// `publish` or `withdraw`.
    pub action: String,
    /// The platform's outcome (`created`, `updated`, `unchanged`, `withdrawn`) or the refusal.
    pub outcome: String,
    /// Version on the platform after the change.
    pub version: Option<i64>,
}

/// Signs `doc` with the session's key, as the body of `PUT /api/v1/listings/{key}` (and of
/// `DELETE` for a withdrawal): the listing object is written in RFC 8785 form and the signature
/// covers exactly those bytes.
pub fn sign(session: &Session, doc: &ListingDocument) -> Result<SignedListing, ClientError> {
    let listing = ListingObject::new(doc.clone())
        .map_err(|e| ClientError::input("document", e.to_string()))?;
    let signature = session.key.sign(listing.canonical_bytes())?;
    Ok(SignedListing {
        listing,
        signature: SignatureEnvelope {
            algorithm: SignatureAlgorithm::EcdsaP256Sha256,
            value: base64::engine::general_purpose::STANDARD.encode(&signature.bytes),
        },
    })
}

/// What the platform made of one change sent.
enum Sent {
    /// Accepted: the outcome and the version after it.
    Accepted(String, Option<i64>),
    /// Refused as made on a version that is no longer the current one (412): the version it
    /// was made on, and the platform's answer (its current version, signed).
    Conflict(Option<i64>, Box<api_types::api::ErrorDetail>),
}

/// The precondition header of a change made on `base`: `If-Match` with its ETag, or
/// `If-None-Match: *` for a first publish.
fn precondition(base: Option<i64>) -> (reqwest::header::HeaderName, String) {
    match base {
        Some(v) => (reqwest::header::IF_MATCH, api_types::api::listing_etag(v)),
        None => (reqwest::header::IF_NONE_MATCH, "*".to_owned()),
    }
}

/// The 412 answer's detail, or the error it is not.
fn conflict_detail(
    r: reqwest::blocking::Response,
) -> Result<Box<api_types::api::ErrorDetail>, ClientError> {
    let text = r.text().map_err(|e| ClientError::Protocol(e.to_string()))?;
    let body: api_types::api::ErrorBody = serde_json::from_str(&text)
        .map_err(|e| ClientError::Protocol(format!("a 412 answer without its error body: {e}")))?;
    Ok(Box::new(body.error))
}

fn send_one(
    conn: &mut SqliteConnection,
    session: &mut Session,
    action: &str,
    key: &str,
    document: Option<&str>,
) -> Result<Sent, ClientError> {
    let path = format!("/api/v1/listings/{key}");
    // The version this change was made on: the one this desk's copy rests on now (the queue is
    // sent in order, each accepted change moving it on).
    let base: Option<i64> = own_listings::table
        .find(key)
        .select(own_listings::published_version)
        .first(conn)
        .optional()?
        .flatten();
    let (header, tag) = precondition(base);
    match action {
        "publish" => {
            let doc = parse_doc(document.unwrap_or("null"))?;
            let body = sign(session, &doc)?;
            let r = session.client.send(|c, url| {
                c.put(format!("{url}{path}"))
                    .header(header.clone(), tag.as_str())
                    .json(&body)
            })?;
            if r.status().as_u16() == 412 {
                return Ok(Sent::Conflict(base, conflict_detail(r)?));
            }
            let answer: PublishResponse = crate::net::json_or_error(r)?;
            let outcome = serde_json::to_value(answer.outcome)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            Ok(Sent::Accepted(outcome, Some(answer.version)))
        }
        _ => {
            let doc = match document {
                Some(text) => parse_doc(text)?,
                // Queued by an older version of this program, without the document.
                None => {
                    let text: String = own_listings::table
                        .find(key)
                        .select(own_listings::document)
                        .first(conn)?;
                    withdrawal_of(parse_doc(&text)?)
                }
            };
            let body = sign(session, &doc)?;
            let r = session.client.send(|c, url| {
                c.delete(format!("{url}{path}"))
                    .header(header.clone(), tag.as_str())
                    .json(&body)
            })?;
            match r.status().as_u16() {
                // The platform never had it (or it is gone already): nothing left to do.
                404 => return Ok(Sent::Accepted("not_on_platform".into(), None)),
                412 => return Ok(Sent::Conflict(base, conflict_detail(r)?)),
                _ => {}
            }
            let answer: PublishResponse = crate::net::json_or_error(r)?;
            Ok(Sent::Accepted("withdrawn".into(), Some(answer.version)))
        }
    }
}

/// Sends the queued changes strictly in order. Stops (keeping the rest queued) when no endpoint
/// answers or the certificate is refused; a change the platform refuses for its content is
/// taken out of the queue and its listing marked `rejected`, and the queue goes on.
pub fn drain(
    conn: &mut SqliteConnection,
    session: &mut Session,
) -> Result<DrainReport, ClientError> {
    let mut report = DrainReport::default();
    loop {
        let next: Option<(i32, String, String, Option<String>)> = outbox::table
            .order(outbox::id)
            .select((
                outbox::id,
                outbox::listing_key,
                outbox::action,
                outbox::document,
            ))
            .first(conn)
            .optional()?;
        let Some((id, key, action, document)) = next else {
            break;
        };
        match send_one(conn, session, &action, &key, document.as_deref()) {
            Ok(Sent::Conflict(base, detail)) => {
                let current = detail.current.as_deref();
                let verdict = match current {
                    Some(current) => crate::conflicts::check_theirs(conn, session, current)?,
                    None => crate::signatures::Verdict::unchecked("the platform has no version"),
                };
                crate::conflicts::record(conn, &key, &action, base, current, &verdict)?;
                report.conflicts.push(SentChange {
                    listing_key: key,
                    action,
                    outcome: format!(
                        "another desk changed it first (platform version {}, this change was made on {})",
                        detail
                            .current_version
                            .map_or("none".to_owned(), |v| v.to_string()),
                        base.map_or("none".to_owned(), |v| format!("version {v}"))
                    ),
                    version: detail.current_version,
                });
            }
            Ok(Sent::Accepted(outcome, version)) => {
                conn.immediate_transaction(|c| {
                    diesel::delete(outbox::table.find(id)).execute(c)?;
                    if let Some(v) = version {
                        diesel::update(own_listings::table.find(&key))
                            .set((
                                own_listings::published_version.eq(Some(v)),
                                own_listings::last_error.eq(None::<String>),
                                own_listings::signed_serial.eq(&session.identity.serial),
                            ))
                            .execute(c)?;
                    }
                    Ok::<_, ClientError>(())
                })?;
                report.sent.push(SentChange {
                    listing_key: key,
                    action,
                    outcome,
                    version,
                });
            }
            Err(ClientError::Refused {
                status,
                code,
                message,
                field,
            }) if (400..500).contains(&status) => {
                let why = match &field {
                    Some(f) => format!("{code}: {f}: {message}"),
                    None => format!("{code}: {message}"),
                };
                conn.immediate_transaction(|c| {
                    diesel::delete(outbox::table.find(id)).execute(c)?;
                    diesel::update(own_listings::table.find(&key))
                        .set((
                            own_listings::last_error.eq(Some(&why)),
                            own_listings::dirty.eq(true),
                        ))
                        .execute(c)?;
                    Ok::<_, ClientError>(())
                })?;
                report.rejected.push(SentChange {
                    listing_key: key,
                    action,
                    outcome: why,
                    version: None,
                });
            }
            Err(e) => {
                let text = e.to_string();
                conn.immediate_transaction(|c| {
                    diesel::update(outbox::table.find(id))
                        .set((
                            outbox::attempts.eq(outbox::attempts + 1),
                            outbox::last_error.eq(Some(&text)),
                        ))
                        .execute(c)
                })?;
                return Err(e);
            }
        }
    }
    report.remaining = outbox::table.count().get_result::<i64>(conn)? as usize;
    Ok(report)
}

/// What signing own listings anew after a key compromise did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Resigning {
    /// Certificates of this agency the platform reports revoked for a key compromise that still
    /// sign own listings on the platform.
    pub compromised: Vec<String>,
    /// Own listings queued to be signed with this desk's current key and sent again (the
    /// platform answers `resigned`; its hold on them ends).
    pub queued: Vec<String>,
    /// Own listings with local changes not yet published: their next `publish` signs them anew.
    pub pending_edits: Vec<String>,
}

impl Resigning {
    /// True when nothing needed signing anew.
    pub fn is_empty(&self) -> bool {
        self.queued.is_empty() && self.pending_edits.is_empty()
    }

    /// What signing anew did, in plain words; None when there was nothing to sign anew.
    pub fn text(&self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let mut text = format!(
            "signing anew: the platform reports certificate(s) {} revoked because the key was compromised; {} own listing(s) signed with it are signed with this desk's current key and sent again ({})",
            self.compromised.join(", "),
            self.queued.len(),
            self.queued.join(", ")
        );
        if !self.pending_edits.is_empty() {
            text += &format!(
                "; {} with unpublished changes ({}) are signed anew when you publish them",
                self.pending_edits.len(),
                self.pending_edits.join(", ")
            );
        }
        Some(text)
    }
}

/// Queues for signing anew every own listing whose version on the platform was signed with a
/// certificate that the platform reports revoked for a key compromise (after `enroll` gave this
/// desk a new certificate): the same document, signed with the current key, is sent again, so
/// other desks trust it again and the platform takes it back into search and alerts. A listing
/// with local changes not yet published is left to its next `publish`; one already queued goes
/// out signed with the current key anyway. The caller drains the queue.
pub fn queue_resigning(
    conn: &mut SqliteConnection,
    session: &mut Session,
) -> Result<Resigning, ClientError> {
    let current = session.identity.serial.clone();
    let rows: Vec<(String, String, bool, bool, String)> = own_listings::table
        .filter(own_listings::published_version.is_not_null())
        .filter(own_listings::signed_serial.is_not_null())
        .filter(own_listings::signed_serial.ne(&current))
        .select((
            own_listings::listing_key,
            own_listings::document,
            own_listings::dirty,
            own_listings::withdrawn,
            own_listings::signed_serial.assume_not_null(),
        ))
        .order(own_listings::listing_key)
        .load(conn)?;
    let mut report = Resigning::default();
    let mut serials: Vec<&str> = rows.iter().map(|r| r.4.as_str()).collect();
    serials.sort_unstable();
    serials.dedup();
    for serial in serials {
        let record: api_types::api::CertificateRecord = match session
            .client
            .get_json(&format!("/api/v1/certificates/{serial}"))
        {
            Ok(record) => record,
            // Not on record any more: nothing to tell about it.
            Err(ClientError::Refused { code, .. }) if code == "certificate_not_found" => continue,
            Err(e) => return Err(e),
        };
        if record.status == "revoked"
            && record.revocation_reason.as_deref() == Some("key_compromise")
        {
            report.compromised.push(serial.to_owned());
        }
    }
    let affected: Vec<&(String, String, bool, bool, String)> = rows
        .iter()
        .filter(|r| report.compromised.contains(&r.4))
        .collect();
    if affected.is_empty() {
        return Ok(report);
    }
    conn.immediate_transaction(|c| {
        let queued: Vec<String> = outbox::table.select(outbox::listing_key).load(c)?;
        let now = now_ms();
        for (key, document, dirty, withdrawn, _) in affected {
            if queued.contains(key) {
                // Sent with the current key when the queue drains.
                report.queued.push(key.clone());
                continue;
            }
            if *dirty {
                report.pending_edits.push(key.clone());
                continue;
            }
            diesel::insert_into(outbox::table)
                .values((
                    outbox::listing_key.eq(key),
                    outbox::action.eq(if *withdrawn { "withdraw" } else { "publish" }),
                    outbox::document.eq(Some(document)),
                    outbox::created_at.eq(now),
                ))
                .execute(c)?;
            report.queued.push(key.clone());
        }
        Ok::<_, ClientError>(())
    })?;
    Ok(report)
}
