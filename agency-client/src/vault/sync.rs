//! Syncing the vault with the platform: membership (register, wait, approved, removed), the
//! keys of every epoch (unwrapped with this desk's vault key), a key rotation when a desk lost
//! access, then pull (apply, or keep both sides of a conflict) and push (all or nothing per
//! batch; a stale version comes back as a conflict).

use std::collections::BTreeMap;

use api_types::vault::{
    DeskWrappedKey, VaultConflict, VaultDesk, VaultDeskState, VaultJoin, VaultKeys, VaultPush,
    VaultPushed, VaultRecord, VaultRecordChange, VaultRecordsPage, VaultRotate, VaultStatus,
};
use diesel::prelude::*;
use serde::Serialize;

use super::crypto::{self, KeyPair, RECOVERY_HOLDER, VaultKey};
use super::local::{self, RecordRow};
use crate::customers::synced::{self, CustomerRecord};
use crate::error::ClientError;
use crate::identity::Session;

/// Most changes per push (the platform's bound).
const PUSH_BATCH: usize = 500;
/// Most bytes of base64 ciphertext per push, well under the platform's 1 MiB body limit.
const PUSH_BYTES: usize = 700 * 1024;

/// What a vault sync did.
#[derive(Debug, Clone, Serialize, Default)]
pub struct VaultSyncReport {
    /// `none` (the agency has no vault yet), `waiting`, `approved` or `removed`.
    pub state: String,
    /// This desk (its certificate lineage).
    pub desk: String,
    /// This desk's vault key fingerprint, to compare on the approving desk.
    pub fingerprint: Option<String>,
    /// The current key epoch.
    pub epoch: i64,
    /// The epoch this sync rotated the key to.
    pub rotated_to: Option<i64>,
    /// Records pulled from the platform.
    pub pulled: usize,
    /// Records applied here.
    pub applied: usize,
    /// Changes sent.
    pub pushed: usize,
    /// Conflicts found by this sync.
    pub new_conflicts: usize,
    /// Conflicts open now.
    pub open_conflicts: usize,
    /// Records that did not authenticate (tampered, or sealed under a key this desk lacks):
    /// not applied, nothing local changed.
    pub refused: Vec<String>,
    /// Desks waiting for approval (to compare fingerprints and approve).
    pub waiting: Vec<DeskView>,
    /// Every desk of the vault (the window offers to remove the others).
    pub desks: Vec<DeskView>,
    /// Saved searches deleted on the platform because their tenant was removed or unwatched on
    /// another desk.
    pub unwatched: Vec<i64>,
}

/// A desk as staff see it.
#[derive(Debug, Clone, Serialize)]
pub struct DeskView {
    /// The desk id (its certificate lineage).
    pub desk: String,
    /// Waiting, approved or removed.
    pub state: VaultDeskState,
    /// Short fingerprint of its vault key.
    pub fingerprint: String,
    /// This desk.
    pub this_desk: bool,
    /// Registered (ms).
    pub registered_at_ms: i64,
}

/// The desks of a status as staff see them.
pub fn desk_views(status: &VaultStatus) -> Vec<DeskView> {
    status
        .desks
        .iter()
        .map(|d| DeskView {
            desk: d.desk.clone(),
            state: d.state,
            fingerprint: crypto::fingerprint(&d.public_key),
            this_desk: d.desk == status.me,
            registered_at_ms: d.registered_at_ms,
        })
        .collect()
}

/// The vault as the platform sees it now.
pub fn fetch_status(session: &mut Session) -> Result<VaultStatus, ClientError> {
    session.client.get_json("/api/v1/vault")
}

/// This desk in `status`, registering (or re-registering) its vault key when the platform does
/// not know it yet; `None` when the agency has no vault.
pub fn ensure_member(
    session: &mut Session,
    status: &mut VaultStatus,
    pair: &KeyPair,
) -> Result<Option<VaultDesk>, ClientError> {
    if !status.initialized {
        return Ok(None);
    }
    let mine = pair.public_b64();
    let me = status.desks.iter().find(|d| d.desk == status.me).cloned();
    match me {
        Some(d) if d.public_key == mine || d.state == VaultDeskState::Removed => Ok(Some(d)),
        Some(d) if d.state == VaultDeskState::Approved => Err(ClientError::Crypto(
            "this desk is approved in the vault with another vault key than the one it holds \
             (its data folder was replaced?); remove this desk from another desk, then enrol \
             it again"
                .into(),
        )),
        _ => {
            let desk: VaultDesk = session
                .client
                .post_json("/api/v1/vault/desks", &VaultJoin { public_key: mine })?;
            status.desks.retain(|d| d.desk != desk.desk);
            status.desks.push(desk.clone());
            Ok(Some(desk))
        }
    }
}

/// The vault key of every epoch this desk holds, unwrapped with its vault key.
pub fn epoch_keys(
    session: &mut Session,
    pair: &KeyPair,
    desk: &str,
) -> Result<BTreeMap<i64, VaultKey>, ClientError> {
    let agency = session.identity.agency_id;
    let wrapped: VaultKeys = session.client.get_json("/api/v1/vault/keys")?;
    wrapped
        .keys
        .iter()
        .map(|k| {
            pair.unwrap_key(&k.wrapped, agency, k.epoch, desk)
                .map(|key| (k.epoch, key))
                .ok_or_else(|| {
                    ClientError::Crypto(format!(
                        "the vault key of epoch {} does not open with this desk's vault key; \
                         nothing was changed here",
                        k.epoch
                    ))
                })
        })
        .collect()
}

/// Starts a new epoch: a new random vault key wrapped for exactly the approved desks and the
/// recovery key. Returns the new epoch and key.
pub fn rotate(session: &mut Session, status: &VaultStatus) -> Result<(i64, VaultKey), ClientError> {
    let agency = session.identity.agency_id;
    let epoch = status.epoch + 1;
    let key = VaultKey::generate()?;
    let keys = status
        .desks
        .iter()
        .filter(|d| d.state == VaultDeskState::Approved)
        .map(|d| {
            Ok(DeskWrappedKey {
                desk: d.desk.clone(),
                wrapped: crypto::wrap_key(&key, &d.public_key, agency, epoch, &d.desk)?,
            })
        })
        .collect::<Result<Vec<_>, ClientError>>()?;
    let recovery = status
        .recovery_public_key
        .as_deref()
        .ok_or_else(|| ClientError::Protocol("the vault has no recovery key".into()))?;
    let request = VaultRotate {
        epoch,
        keys,
        recovery_wrapped_key: crypto::wrap_key(&key, recovery, agency, epoch, RECOVERY_HOLDER)?,
    };
    let _: VaultStatus = session.client.post_json("/api/v1/vault/rotate", &request)?;
    Ok((epoch, key))
}

/// Opens a record from the platform: `Ok(None)` for a tombstone, `Err(())` when it does not
/// authenticate or is not a customer.
fn open(
    keys: &BTreeMap<i64, VaultKey>,
    agency: i64,
    record: &VaultRecord,
) -> Result<Option<CustomerRecord>, ()> {
    if record.deleted {
        return Ok(None);
    }
    let key = keys.get(&record.epoch).ok_or(())?;
    let plain = crypto::open_record(
        key,
        agency,
        &record.id,
        record.version,
        record.epoch,
        &record.ciphertext,
    )
    .ok_or(())?;
    serde_json::from_slice(&plain).map(Some).map_err(|_| ())
}

/// What became of one record from the platform.
#[derive(Debug, PartialEq, Eq)]
enum Arrival {
    /// Already held (this desk's own push, or older).
    Held,
    /// Written here.
    Applied,
    /// Kept beside the local change as a conflict.
    Conflict,
}

/// The hash a customer written from `record` reads back with: its unsuitable marks sorted and
/// without duplicates, as the desk stores them.
fn stored_hash(record: &CustomerRecord) -> String {
    let mut record = record.clone();
    record.unsuitable.sort();
    record.unsuitable.dedup();
    record.hash()
}

/// Whether customer `id` is marked as changed here since its last sync.
fn is_dirty(c: &mut SqliteConnection, id: i32) -> Result<bool, ClientError> {
    use crate::db::schema::vault_dirty;
    Ok(vault_dirty::table.find(id).count().get_result::<i64>(c)? > 0)
}

/// Applies one record from the platform inside the caller's transaction: a record whose local
/// copy has no change waiting is taken; one that also changed here, to other content, becomes
/// a conflict keeping both sides (an open conflict takes the newer other side). `conflicted`:
/// whether any conflict is open on this desk (when none is, the lookup is skipped).
fn apply(
    c: &mut SqliteConnection,
    record: &VaultRecord,
    theirs: Option<&CustomerRecord>,
    conflicted: bool,
) -> Result<Arrival, ClientError> {
    let row = local::find(c, &record.id)?;
    if row.as_ref().is_some_and(|r| record.version <= r.version) {
        return Ok(Arrival::Held);
    }
    if conflicted && local::conflict(c, &record.id)?.is_some() {
        local::put_conflict(c, &record.id, record.version, record.epoch, theirs)?;
        return Ok(Arrival::Conflict);
    }
    let customer_id = row.as_ref().and_then(|r| r.customer_id);
    // Only a customer marked dirty can have changed here since its last sync.
    let mine = match customer_id {
        Some(id) if is_dirty(c, id)? => synced::snapshot(c, Some(id))?.remove(&id),
        _ => None,
    };
    let changed_here = match &row {
        None => false,
        Some(r) if r.customer_id.is_some() => mine
            .as_ref()
            .is_some_and(|m| Some(m.hash()) != r.synced_hash),
        Some(r) => !r.deleted && r.version > 0,
    };
    if changed_here && mine.as_ref() != theirs {
        local::put_conflict(c, &record.id, record.version, record.epoch, theirs)?;
        return Ok(Arrival::Conflict);
    }
    let (customer_id, synced_hash) = match theirs {
        None => {
            if let Some(id) = customer_id {
                synced::delete(c, id)?;
            }
            (None, None)
        }
        Some(content) => {
            let id = if changed_here {
                customer_id.ok_or_else(|| ClientError::Protocol("no customer".into()))?
            } else {
                synced::apply(c, customer_id, content)?
            };
            local::clear_dirty(c, id, None)?;
            (Some(id), Some(stored_hash(content)))
        }
    };
    local::put(
        c,
        &RecordRow {
            record_id: record.id.clone(),
            customer_id,
            version: record.version,
            epoch: record.epoch,
            synced_hash,
            deleted: record.deleted,
        },
    )?;
    Ok(if changed_here {
        Arrival::Held
    } else {
        Arrival::Applied
    })
}

/// Pulls every record changed since the cursor, a page per transaction. A record that does not
/// authenticate is reported and not applied, and the cursor stays before it, so it is reported
/// again until the vault holds a good version.
pub fn pull(
    conn: &mut SqliteConnection,
    session: &mut Session,
    keys: &BTreeMap<i64, VaultKey>,
    report: &mut VaultSyncReport,
) -> Result<(), ClientError> {
    let agency = session.identity.agency_id;
    let mut after = local::cursor(conn)?;
    let mut held_back = false;
    loop {
        let page: VaultRecordsPage = session
            .client
            .get_json(&format!("/api/v1/vault/records?after={after}&limit=1000"))?;
        // Opening (AEAD under the epoch key) needs no database: done before the transaction.
        let opened: Vec<Result<Option<CustomerRecord>, ()>> = page
            .records
            .iter()
            .map(|record| open(keys, agency, record))
            .collect();
        conn.immediate_transaction(|c| {
            let conflicted = !local::conflicts(c)?.is_empty();
            let mut cursor = None;
            for (record, theirs) in page.records.iter().zip(&opened) {
                report.pulled += 1;
                match theirs {
                    Ok(theirs) => match apply(c, record, theirs.as_ref(), conflicted)? {
                        Arrival::Applied => report.applied += 1,
                        Arrival::Conflict => report.new_conflicts += 1,
                        Arrival::Held => {}
                    },
                    Err(()) => {
                        held_back = true;
                        report.refused.push(record.id.clone());
                    }
                }
                if !held_back {
                    cursor = Some(record.sequence);
                }
            }
            if let Some(cursor) = cursor {
                local::set_cursor(c, cursor)?;
            }
            Ok::<_, ClientError>(())
        })?;
        after = page.next_after;
        if !page.has_more {
            return Ok(());
        }
    }
}

/// Sends every change waiting here, in batches stored whole or not at all; stale versions come
/// back with the current records, which are applied or kept as conflicts, and the rest is sent
/// again.
pub fn push(
    conn: &mut SqliteConnection,
    session: &mut Session,
    keys: &BTreeMap<i64, VaultKey>,
    epoch: i64,
    report: &mut VaultSyncReport,
) -> Result<(), ClientError> {
    let agency = session.identity.agency_id;
    let key = keys
        .get(&epoch)
        .ok_or_else(|| ClientError::Crypto(format!("this desk lacks the key of epoch {epoch}")))?;
    for _round in 0..4 {
        // A record whose current version does not authenticate stays as it is here: sending
        // over it would hide the tampering; staff see it reported at every sync.
        let mut pending = local::pending(conn, epoch)?;
        pending.retain(|p| !report.refused.contains(&p.row.record_id));
        if pending.is_empty() {
            return Ok(());
        }
        let mut conflicted = false;
        let mut batch: Vec<(local::Pending, VaultRecordChange, Option<String>)> = Vec::new();
        let mut bytes = 0;
        let mut items = pending.into_iter().peekable();
        while let Some(item) = items.next() {
            let version = item.row.version + 1;
            let (ciphertext, hash) = match &item.content {
                Some(content) => (
                    crypto::seal_record(
                        key,
                        agency,
                        &item.row.record_id,
                        version,
                        epoch,
                        &content.to_bytes(),
                    )?,
                    Some(stored_hash(content)),
                ),
                None => (String::new(), None),
            };
            bytes += ciphertext.len() + 100;
            let change = VaultRecordChange {
                id: item.row.record_id.clone(),
                expected_version: item.row.version,
                epoch,
                ciphertext,
                deleted: item.content.is_none(),
            };
            batch.push((item, change, hash));
            if batch.len() >= PUSH_BATCH || bytes >= PUSH_BYTES || items.peek().is_none() {
                conflicted |= send(conn, session, keys, std::mem::take(&mut batch), report)?;
                bytes = 0;
            }
        }
        if !conflicted {
            return Ok(());
        }
    }
    Ok(())
}

/// Sends one batch; true when it came back as a conflict (its records then applied or kept).
fn send(
    conn: &mut SqliteConnection,
    session: &mut Session,
    keys: &BTreeMap<i64, VaultKey>,
    batch: Vec<(local::Pending, VaultRecordChange, Option<String>)>,
    report: &mut VaultSyncReport,
) -> Result<bool, ClientError> {
    let agency = session.identity.agency_id;
    let body = VaultPush {
        records: batch.iter().map(|(_, change, _)| change.clone()).collect(),
    };
    let response = session
        .client
        .send(|c, base| c.post(format!("{base}/api/v1/vault/records")).json(&body))?;
    if response.status().as_u16() == 409 {
        let text = response
            .text()
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let conflict: VaultConflict = serde_json::from_str(&text)
            .map_err(|e| ClientError::Protocol(format!("{e}: {text}")))?;
        if conflict.error.code != "vault_conflict" {
            return Err(ClientError::Refused {
                status: 409,
                code: conflict.error.code,
                message: conflict.error.message,
                field: conflict.error.field,
            });
        }
        conn.immediate_transaction(|c| {
            for record in &conflict.conflicts {
                match open(keys, agency, record) {
                    Ok(theirs) => {
                        if apply(c, record, theirs.as_ref(), true)? == Arrival::Conflict {
                            report.new_conflicts += 1;
                        }
                    }
                    Err(()) => report.refused.push(record.id.clone()),
                }
            }
            Ok::<_, ClientError>(())
        })?;
        return Ok(true);
    }
    let stored: VaultPushed = crate::net::json_or_error(response)?;
    conn.immediate_transaction(|c| {
        for ((item, _, hash), record) in batch.iter().zip(&stored.records) {
            local::put(
                c,
                &RecordRow {
                    record_id: item.row.record_id.clone(),
                    customer_id: item.row.customer_id,
                    version: record.version,
                    epoch: record.epoch,
                    synced_hash: hash.clone(),
                    deleted: record.deleted,
                },
            )?;
            if let Some(id) = item.row.customer_id {
                local::clear_dirty(c, id, item.mark)?;
            }
        }
        // The platform numbered this push right after the last record pulled: nothing from
        // another desk lies between, so the next pull need not fetch this desk's own records
        // back. (Otherwise the cursor stays, and they come back as already held.)
        let cursor = local::cursor(c)?;
        let sequences: Vec<i64> = stored.records.iter().map(|r| r.sequence).collect();
        let contiguous = sequences
            .iter()
            .enumerate()
            .all(|(i, s)| *s == cursor + 1 + i as i64);
        if contiguous && let Some(last) = sequences.last() {
            local::set_cursor(c, *last)?;
        }
        Ok::<_, ClientError>(())
    })?;
    report.pushed += stored.records.len();
    Ok(false)
}

/// Deletes on the platform the saved searches queued by records from other desks (a watched
/// tenant removed or unwatched there); one the platform no longer has counts as deleted. What
/// the platform refuses or cannot take now stays queued for the next sync.
pub fn unwatch_queued(
    conn: &mut SqliteConnection,
    session: &mut Session,
    report: &mut VaultSyncReport,
) -> Result<(), ClientError> {
    for watch in local::unwatch_queue(conn)? {
        let r = session
            .client
            .delete(&format!("/api/v1/saved-searches/{watch}"))?;
        if !r.status().is_success() && r.status() != reqwest::StatusCode::NOT_FOUND {
            return Err(crate::net::api_error(r));
        }
        local::unwatch_done(conn, watch)?;
        report.unwatched.push(watch);
    }
    Ok(())
}
