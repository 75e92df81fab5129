//! The agency vault: customer records an agency's desks sync through the platform, which stores
//! ciphertext it cannot read (sealed on the desks with a vault key the platform never sees),
//! each desk's X25519 vault public key with its state, and the vault key of every epoch wrapped
//! (HPKE, RFC 9180, done on the desks) for each approved desk and for the recovery key.
//!
//! Rules kept here, each in the one write transaction of its flow:
//! * everything is scoped to the caller's agency (its certificate): another agency's desk, key
//!   or record is "not found", whatever id is tried;
//! * a desk is its certificate lineage; it registers its key and waits until an approved desk
//!   approves it (staff compare the key's fingerprint on both desks); only approved desks read
//!   or write records or keys;
//! * a desk removed by another desk, or whose certificates are all revoked or expired, is
//!   refused at once, its wrapped keys are deleted, and no record is accepted until an approved
//!   desk has rotated the key (new epoch wrapped for exactly the remaining desks and the
//!   recovery key), after which desks re-seal records under it;
//! * records carry versions: a change names the version it was made on, a stale one is a
//!   conflict answered with the current record, and a push is stored whole or not at all;
//! * sizes and counts are bounded ([`MAX_CIPHERTEXT`], [`MAX_PUSH`], [`MAX_RECORDS`],
//!   [`MAX_DESKS`]);
//! * every membership change is audited (`vault.*`).

pub mod store;

use api_types::vault::{
    DeskWrappedKey, VaultDesk, VaultDeskState, VaultRecord, VaultRecordChange, VaultStatus,
    WrappedKey,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::audit::{Actor, AuditLog};
use crate::db::DbError;
use crate::pki::CertificateStore;
pub use store::{DeskRow, RECOVERY_HOLDER, RecordRow, RecordWrite, VaultRow, VaultStore};

/// Largest sealed record (nonce, ciphertext and tag), in bytes.
pub const MAX_CIPHERTEXT: usize = 64 * 1024;
/// Most changes in one push.
pub const MAX_PUSH: usize = 500;
/// Most records (tombstones included) an agency's vault holds.
pub const MAX_RECORDS: i64 = 200_000;
/// Most desks an agency's vault knows (removed ones included).
pub const MAX_DESKS: usize = 100;
/// Largest wrapped key, in bytes (an X25519 HPKE encapsulation and a sealed 32-byte key are 80).
pub const MAX_WRAPPED: usize = 256;
/// Largest page of records.
pub const MAX_PAGE: i64 = 1_000;

/// Why a vault request was refused. Each maps to one status and code of the agency API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The agency has no vault yet (404 `vault_not_found`).
    #[error("your agency has no vault yet; create it on one desk with `agency-client vault init`")]
    NotInitialized,
    /// The agency already has a vault (409 `vault_exists`).
    #[error(
        "your agency's vault already exists; join it from this desk (`agency-client vault status`) and approve the desk on another one"
    )]
    AlreadyInitialized,
    /// The calling desk has not registered its vault key (403 `vault_desk_unknown`).
    #[error("this desk has not registered its vault key yet (`agency-client vault status` does)")]
    UnknownDesk,
    /// The calling desk waits for approval (403 `vault_access_waiting`).
    #[error(
        "this desk is waiting for access: approve it on another desk of your agency after comparing its fingerprint"
    )]
    Waiting,
    /// The calling desk was removed or its certificate revoked (403 `vault_access_removed`).
    #[error(
        "this desk was removed from the vault (or its certificate revoked) and may no longer read or write it"
    )]
    Removed,
    /// No such desk in the caller's agency (404 `vault_desk_not_found`).
    #[error("your agency's vault has no desk {0:?}")]
    DeskNotFound(String),
    /// The desk is not waiting for approval (409 `vault_desk_not_waiting`).
    #[error("desk {desk:?} is {state}, not waiting for approval")]
    DeskNotWaiting {
        /// The desk.
        desk: String,
        /// Its state.
        state: &'static str,
    },
    /// A desk may not remove itself (409 `vault_remove_self`).
    #[error("a desk cannot remove itself from the vault; remove it from another desk")]
    RemoveSelf,
    /// The desk registered another vault key already (409 `vault_desk_key_mismatch`).
    #[error(
        "this desk is approved with another vault key; its local vault key was lost: remove this desk from another desk and enrol it again"
    )]
    KeyMismatch,
    /// No such record in the caller's agency (404 `vault_record_not_found`).
    #[error("your agency's vault has no record {0:?}")]
    RecordNotFound(String),
    /// Changes were made on stale versions (409 `vault_conflict`, with the current records).
    #[error("{} record(s) changed since your desk last synced; nothing was stored", .0.len())]
    Conflict(Vec<VaultRecord>),
    /// The key must be rotated before records are accepted (409 `vault_rotation_required`).
    #[error(
        "a desk lost access to the vault: rotate the vault key (the next sync of an approved desk does) before writing records"
    )]
    RotationRequired,
    /// A record or key names another epoch than the current one (409 `vault_epoch_stale`).
    #[error("the vault key epoch is now {current}; sync again to fetch the current key")]
    StaleEpoch {
        /// The current epoch.
        current: i64,
    },
    /// The recovery proof does not match (403 `vault_wrong_recovery_key`).
    #[error("the recovery key is wrong; nothing was changed")]
    WrongRecoveryKey,
    /// A bound was reached (409 `vault_full`).
    #[error("{0}")]
    Full(String),
    /// A value is malformed (400 `invalid_field`).
    #[error("{message}")]
    Invalid {
        /// The JSON field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The database failed.
    #[error("database")]
    Db(#[from] diesel::result::Error),
    /// The database could not be reached.
    #[error("database")]
    Pool(#[from] DbError),
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> VaultError {
    VaultError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Decodes base64 `value` of `field`, checking its length is within `lengths`.
pub fn decode(
    field: &str,
    value: &str,
    lengths: std::ops::RangeInclusive<usize>,
) -> Result<Vec<u8>, VaultError> {
    let bytes = B64
        .decode(value)
        .map_err(|_| invalid(field, "must be standard base64"))?;
    if !lengths.contains(&bytes.len()) {
        return Err(invalid(
            field,
            format!(
                "must be {} to {} bytes (base64), not {}",
                lengths.start(),
                lengths.end(),
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}

fn check_public_key(field: &str, value: &str) -> Result<(), VaultError> {
    decode(field, value, 32..=32).map(drop)
}

fn check_wrapped(field: &str, value: &str) -> Result<(), VaultError> {
    decode(field, value, 32..=MAX_WRAPPED).map(drop)
}

/// A record id: 16 to 64 letters, digits, `-` or `_` (random, chosen by the desk).
pub fn is_valid_record_id(id: &str) -> bool {
    (16..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn check_record_id(field: &str, id: &str) -> Result<(), VaultError> {
    if is_valid_record_id(id) {
        Ok(())
    } else {
        Err(invalid(
            field,
            "a record id is 16 to 64 letters, digits, '-' or '_'",
        ))
    }
}

/// The wire form of a stored record.
pub fn wire_record(row: &RecordRow) -> VaultRecord {
    VaultRecord {
        id: row.record_id.clone(),
        version: row.version,
        epoch: row.epoch,
        ciphertext: B64.encode(&row.ciphertext),
        deleted: row.deleted,
        sequence: row.sequence,
    }
}

fn wire_desk(row: &DeskRow) -> VaultDesk {
    VaultDesk {
        desk: row.desk.clone(),
        public_key: row.public_key.clone(),
        state: row.state(),
        registered_at_ms: row.registered_at,
        changed_at_ms: row.changed_at,
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

/// What the vault flows need of a connection.
pub trait VaultConn: VaultStore + AuditLog + CertificateStore {}
impl<T: VaultStore + AuditLog + CertificateStore> VaultConn for T {}

/// The calling desk: the lineage of the certificate `serial`.
pub fn caller_desk<C: VaultConn>(c: &mut C, serial: &str) -> Result<String, VaultError> {
    Ok(c.find_certificate(serial)?
        .map_or_else(|| serial.to_owned(), |row| row.desk().to_owned()))
}

fn audit<C: VaultConn>(
    c: &mut C,
    agency_id: i64,
    action: &str,
    subject: &str,
    detail: serde_json::Value,
) -> Result<(), VaultError> {
    c.audit(&Actor::Agency(agency_id), action, Some(subject), detail)?;
    Ok(())
}

fn vault<C: VaultConn>(c: &mut C, agency_id: i64) -> Result<VaultRow, VaultError> {
    c.find_vault(agency_id)?.ok_or(VaultError::NotInitialized)
}

/// The caller's desk row, which must be approved.
fn approved<C: VaultConn>(c: &mut C, agency_id: i64, desk: &str) -> Result<DeskRow, VaultError> {
    let row = c
        .find_vault_desk(agency_id, desk)?
        .ok_or(VaultError::UnknownDesk)?;
    match row.state() {
        VaultDeskState::Approved => Ok(row),
        VaultDeskState::Waiting => Err(VaultError::Waiting),
        VaultDeskState::Removed => Err(VaultError::Removed),
    }
}

/// Removes from the vault every desk of the agency none of whose certificates is still valid
/// (all revoked or expired): its wrapped keys go, and when it held the key a rotation is due.
/// Returns the desks removed.
pub fn sweep_revoked<C: VaultConn>(c: &mut C, agency_id: i64) -> Result<Vec<String>, VaultError> {
    let now = crate::db::now_ms();
    let mut removed = Vec::new();
    for desk in c.vault_desks(agency_id)? {
        let state = desk.state();
        if state == VaultDeskState::Removed {
            continue;
        }
        let mut family = c.certificates_in_lineage_since(&desk.desk, i64::MIN)?;
        if family.is_empty()
            && let Some(own) = c.find_certificate(&desk.desk)?
        {
            family.push(own);
        }
        if family
            .iter()
            .any(|cert| cert.agency_id == Some(agency_id) && cert.is_live(now))
        {
            continue;
        }
        c.set_vault_desk_state(agency_id, &desk.desk, VaultDeskState::Removed, now)?;
        c.delete_wrapped_keys(agency_id, &desk.desk)?;
        if state == VaultDeskState::Approved
            && let Some(v) = c.find_vault(agency_id)?
        {
            c.set_vault_epoch(agency_id, v.epoch, true)?;
        }
        c.audit(
            &Actor::System,
            "vault.desk.revoked",
            Some(&desk.desk),
            serde_json::json!({"agency_id": agency_id, "was": state.code()}),
        )?;
        removed.push(desk.desk);
    }
    Ok(removed)
}

/// The vault as the calling desk sees it (after removing desks whose certificates are gone).
pub fn status<C: VaultConn>(
    c: &mut C,
    agency_id: i64,
    desk: &str,
) -> Result<VaultStatus, VaultError> {
    sweep_revoked(c, agency_id)?;
    let Some(v) = c.find_vault(agency_id)? else {
        return Ok(VaultStatus {
            initialized: false,
            epoch: 0,
            rotation_required: false,
            recovery_public_key: None,
            me: desk.to_owned(),
            desks: Vec::new(),
            records: 0,
            latest: 0,
        });
    };
    let desks = c.vault_desks(agency_id)?;
    let (_, live) = c.count_vault_records(agency_id)?;
    Ok(VaultStatus {
        initialized: true,
        epoch: v.epoch,
        rotation_required: v.rotation_required,
        recovery_public_key: Some(v.recovery_public_key),
        me: desk.to_owned(),
        desks: desks.iter().map(wire_desk).collect(),
        records: live,
        latest: v.sequence,
    })
}

/// Creates the agency's vault with the calling desk as its first approved desk.
pub fn init<C: VaultConn>(
    c: &mut C,
    agency_id: i64,
    desk: &str,
    request: &api_types::vault::VaultInit,
) -> Result<VaultStatus, VaultError> {
    check_public_key("public_key", &request.public_key)?;
    check_wrapped("wrapped_key", &request.wrapped_key)?;
    check_public_key("recovery_public_key", &request.recovery_public_key)?;
    check_wrapped("recovery_wrapped_key", &request.recovery_wrapped_key)?;
    let proof = decode("recovery_proof", &request.recovery_proof, 32..=32)?;
    if c.find_vault(agency_id)?.is_some() {
        return Err(VaultError::AlreadyInitialized);
    }
    let now = crate::db::now_ms();
    c.create_vault(
        agency_id,
        &request.recovery_public_key,
        &sha256_hex(&proof),
        now,
    )?;
    c.put_vault_desk(
        agency_id,
        desk,
        &request.public_key,
        VaultDeskState::Approved,
        now,
    )?;
    c.put_wrapped_key(agency_id, 1, desk, &request.wrapped_key)?;
    c.put_wrapped_key(agency_id, 1, RECOVERY_HOLDER, &request.recovery_wrapped_key)?;
    audit(
        c,
        agency_id,
        "vault.create",
        desk,
        serde_json::json!({"epoch": 1, "public_key_sha256": sha256_hex(request.public_key.as_bytes())}),
    )?;
    status(c, agency_id, desk)
}

/// Registers the calling desk's vault key; it waits for approval. Registering the same key
/// again changes nothing; a waiting desk may replace its key (it lost it), an approved one not.
pub fn join<C: VaultConn>(
    c: &mut C,
    agency_id: i64,
    desk: &str,
    public_key: &str,
) -> Result<(VaultDesk, bool), VaultError> {
    check_public_key("public_key", public_key)?;
    vault(c, agency_id)?;
    let now = crate::db::now_ms();
    match c.find_vault_desk(agency_id, desk)? {
        Some(row) if row.public_key == public_key && row.state() != VaultDeskState::Removed => {
            return Ok((wire_desk(&row), false));
        }
        Some(row) if row.state() == VaultDeskState::Removed => return Err(VaultError::Removed),
        Some(row) if row.state() == VaultDeskState::Approved => {
            return Err(VaultError::KeyMismatch);
        }
        Some(_) => {}
        None => {
            if c.vault_desks(agency_id)?.len() >= MAX_DESKS {
                return Err(VaultError::Full(format!(
                    "your agency's vault already knows {MAX_DESKS} desks"
                )));
            }
        }
    }
    c.put_vault_desk(agency_id, desk, public_key, VaultDeskState::Waiting, now)?;
    audit(
        c,
        agency_id,
        "vault.desk.register",
        desk,
        serde_json::json!({"public_key": public_key}),
    )?;
    let row = c
        .find_vault_desk(agency_id, desk)?
        .ok_or_else(|| VaultError::DeskNotFound(desk.to_owned()))?;
    Ok((wire_desk(&row), true))
}

/// Checks that `keys` holds exactly one valid wrapped key per epoch 1..=`epoch`.
fn check_all_epochs(keys: &[WrappedKey], epoch: i64) -> Result<(), VaultError> {
    for (i, key) in keys.iter().enumerate() {
        check_wrapped(&format!("keys[{i}].wrapped"), &key.wrapped)?;
    }
    let mut epochs: Vec<i64> = keys.iter().map(|k| k.epoch).collect();
    epochs.sort_unstable();
    if epochs != (1..=epoch).collect::<Vec<_>>() {
        return Err(invalid(
            "keys",
            format!("give exactly one wrapped key for each epoch from 1 to {epoch}"),
        ));
    }
    Ok(())
}

/// An approved desk approves a waiting desk of the agency, giving it every epoch's key wrapped
/// for its vault public key.
pub fn approve<C: VaultConn>(
    c: &mut C,
    agency_id: i64,
    caller: &str,
    target: &str,
    keys: &[WrappedKey],
) -> Result<VaultDesk, VaultError> {
    let v = vault(c, agency_id)?;
    approved(c, agency_id, caller)?;
    let row = c
        .find_vault_desk(agency_id, target)?
        .ok_or_else(|| VaultError::DeskNotFound(target.to_owned()))?;
    if row.state() != VaultDeskState::Waiting {
        return Err(VaultError::DeskNotWaiting {
            desk: target.to_owned(),
            state: row.state().code(),
        });
    }
    check_all_epochs(keys, v.epoch)?;
    let now = crate::db::now_ms();
    for key in keys {
        c.put_wrapped_key(agency_id, key.epoch, target, &key.wrapped)?;
    }
    c.set_vault_desk_state(agency_id, target, VaultDeskState::Approved, now)?;
    audit(
        c,
        agency_id,
        "vault.desk.approve",
        target,
        serde_json::json!({"by": caller, "public_key": row.public_key, "epochs": v.epoch}),
    )?;
    let row = c
        .find_vault_desk(agency_id, target)?
        .ok_or_else(|| VaultError::DeskNotFound(target.to_owned()))?;
    Ok(wire_desk(&row))
}

/// An approved desk removes another desk: refused from now on, its wrapped keys deleted, and a
/// rotation due when it held the key.
pub fn remove<C: VaultConn>(
    c: &mut C,
    agency_id: i64,
    caller: &str,
    target: &str,
) -> Result<VaultDesk, VaultError> {
    let v = vault(c, agency_id)?;
    approved(c, agency_id, caller)?;
    if caller == target {
        return Err(VaultError::RemoveSelf);
    }
    let row = c
        .find_vault_desk(agency_id, target)?
        .ok_or_else(|| VaultError::DeskNotFound(target.to_owned()))?;
    let was = row.state();
    if was != VaultDeskState::Removed {
        let now = crate::db::now_ms();
        c.set_vault_desk_state(agency_id, target, VaultDeskState::Removed, now)?;
        let keys = c.delete_wrapped_keys(agency_id, target)?;
        if was == VaultDeskState::Approved {
            c.set_vault_epoch(agency_id, v.epoch, true)?;
        }
        audit(
            c,
            agency_id,
            "vault.desk.remove",
            target,
            serde_json::json!({"by": caller, "was": was.code(), "keys_deleted": keys}),
        )?;
    }
    let row = c
        .find_vault_desk(agency_id, target)?
        .ok_or_else(|| VaultError::DeskNotFound(target.to_owned()))?;
    Ok(wire_desk(&row))
}

/// An approved desk starts a new key epoch, wrapped for exactly the approved desks and the
/// recovery key; records are accepted again (sealed under the new epoch).
pub fn rotate<C: VaultConn>(
    c: &mut C,
    agency_id: i64,
    caller: &str,
    request: &api_types::vault::VaultRotate,
) -> Result<VaultStatus, VaultError> {
    sweep_revoked(c, agency_id)?;
    let v = vault(c, agency_id)?;
    approved(c, agency_id, caller)?;
    if request.epoch != v.epoch + 1 {
        return Err(VaultError::StaleEpoch { current: v.epoch });
    }
    check_wrapped("recovery_wrapped_key", &request.recovery_wrapped_key)?;
    let mut holders: Vec<String> = c
        .vault_desks(agency_id)?
        .into_iter()
        .filter(|d| d.state() == VaultDeskState::Approved)
        .map(|d| d.desk)
        .collect();
    holders.sort_unstable();
    let mut given: Vec<String> = request.keys.iter().map(|k| k.desk.clone()).collect();
    given.sort_unstable();
    if holders != given {
        return Err(invalid(
            "keys",
            format!(
                "wrap the new key for exactly the approved desks: {}",
                holders.join(", ")
            ),
        ));
    }
    for (i, DeskWrappedKey { desk, wrapped }) in request.keys.iter().enumerate() {
        check_wrapped(&format!("keys[{i}].wrapped"), wrapped)?;
        c.put_wrapped_key(agency_id, request.epoch, desk, wrapped)?;
    }
    c.put_wrapped_key(
        agency_id,
        request.epoch,
        RECOVERY_HOLDER,
        &request.recovery_wrapped_key,
    )?;
    c.set_vault_epoch(agency_id, request.epoch, false)?;
    audit(
        c,
        agency_id,
        "vault.rotate",
        caller,
        serde_json::json!({"epoch": request.epoch, "desks": given}),
    )?;
    status(c, agency_id, caller)
}

/// The keys wrapped for the calling desk (approved only), oldest epoch first.
pub fn desk_keys<C: VaultConn>(
    c: &mut C,
    agency_id: i64,
    desk: &str,
) -> Result<Vec<WrappedKey>, VaultError> {
    vault(c, agency_id)?;
    approved(c, agency_id, desk)?;
    Ok(c.wrapped_keys(agency_id, desk)?
        .into_iter()
        .map(|(epoch, wrapped)| WrappedKey { epoch, wrapped })
        .collect())
}

/// The keys wrapped for the recovery key (any desk of the agency may fetch them: only the
/// recovery key opens them), unless the calling desk was removed.
pub fn recovery_keys<C: VaultConn>(
    c: &mut C,
    agency_id: i64,
    desk: &str,
) -> Result<Vec<WrappedKey>, VaultError> {
    vault(c, agency_id)?;
    if c.find_vault_desk(agency_id, desk)?
        .is_some_and(|d| d.state() == VaultDeskState::Removed)
    {
        return Err(VaultError::Removed);
    }
    Ok(c.wrapped_keys(agency_id, RECOVERY_HOLDER)?
        .into_iter()
        .map(|(epoch, wrapped)| WrappedKey { epoch, wrapped })
        .collect())
}

/// A desk that shows the recovery proof lets itself in, with every epoch's key wrapped for its
/// own vault public key. A removed desk stays removed (enrol a new desk instead).
pub fn recover<C: VaultConn>(
    c: &mut C,
    agency_id: i64,
    desk: &str,
    request: &api_types::vault::VaultRecover,
) -> Result<VaultDesk, VaultError> {
    check_public_key("public_key", &request.public_key)?;
    let proof = decode("recovery_proof", &request.recovery_proof, 32..=32)?;
    let v = vault(c, agency_id)?;
    let existing = c.find_vault_desk(agency_id, desk)?;
    if existing
        .as_ref()
        .is_some_and(|d| d.state() == VaultDeskState::Removed)
    {
        return Err(VaultError::Removed);
    }
    // Digests are compared: their equality reveals nothing usable about the proof.
    if sha256_hex(&proof) != v.recovery_verifier {
        audit(
            c,
            agency_id,
            "vault.recover.refused",
            desk,
            serde_json::json!({}),
        )?;
        return Err(VaultError::WrongRecoveryKey);
    }
    check_all_epochs(&request.keys, v.epoch)?;
    if existing.is_none() && c.vault_desks(agency_id)?.len() >= MAX_DESKS {
        return Err(VaultError::Full(format!(
            "your agency's vault already knows {MAX_DESKS} desks"
        )));
    }
    let now = crate::db::now_ms();
    c.put_vault_desk(
        agency_id,
        desk,
        &request.public_key,
        VaultDeskState::Approved,
        now,
    )?;
    c.delete_wrapped_keys(agency_id, desk)?;
    for key in &request.keys {
        c.put_wrapped_key(agency_id, key.epoch, desk, &key.wrapped)?;
    }
    audit(
        c,
        agency_id,
        "vault.desk.recover",
        desk,
        serde_json::json!({"public_key": request.public_key, "epochs": v.epoch}),
    )?;
    let row = c
        .find_vault_desk(agency_id, desk)?
        .ok_or_else(|| VaultError::DeskNotFound(desk.to_owned()))?;
    Ok(wire_desk(&row))
}

/// Records changed after `after` (approved desks only), with whether more follow.
pub fn pull<C: VaultConn>(
    c: &mut C,
    agency_id: i64,
    desk: &str,
    after: i64,
    limit: i64,
) -> Result<(Vec<VaultRecord>, bool), VaultError> {
    vault(c, agency_id)?;
    approved(c, agency_id, desk)?;
    let mut rows = c.vault_records_after(agency_id, after, limit + 1)?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    Ok((rows.iter().map(wire_record).collect(), more))
}

/// One record (approved desks only).
pub fn record<C: VaultConn>(
    c: &mut C,
    agency_id: i64,
    desk: &str,
    id: &str,
) -> Result<VaultRecord, VaultError> {
    check_record_id("id", id)?;
    vault(c, agency_id)?;
    approved(c, agency_id, desk)?;
    c.find_vault_record(agency_id, id)?
        .map(|row| wire_record(&row))
        .ok_or_else(|| VaultError::RecordNotFound(id.to_owned()))
}

/// Stores a push whole or not at all: every change must be on the record's current version
/// (0 for a new one) and sealed under the current epoch; stale ones make a conflict answered
/// with the current records.
pub fn push<C: VaultConn>(
    c: &mut C,
    agency_id: i64,
    desk: &str,
    changes: &[VaultRecordChange],
) -> Result<Vec<VaultRecord>, VaultError> {
    if changes.is_empty() || changes.len() > MAX_PUSH {
        return Err(invalid(
            "records",
            format!("push 1 to {MAX_PUSH} changes at a time"),
        ));
    }
    let mut sealed = Vec::with_capacity(changes.len());
    let mut seen = std::collections::HashSet::new();
    for (i, change) in changes.iter().enumerate() {
        check_record_id(&format!("records[{i}].id"), &change.id)?;
        if !seen.insert(change.id.as_str()) {
            return Err(invalid(
                format!("records[{i}].id"),
                "each record may appear once in a push",
            ));
        }
        if change.expected_version < 0 {
            return Err(invalid(
                format!("records[{i}].expected_version"),
                "must be 0 (a new record) or more",
            ));
        }
        let field = format!("records[{i}].ciphertext");
        let bytes = if change.deleted {
            decode(&field, &change.ciphertext, 0..=0)?
        } else {
            decode(&field, &change.ciphertext, 29..=MAX_CIPHERTEXT)?
        };
        sealed.push(bytes);
    }
    sweep_revoked(c, agency_id)?;
    let v = vault(c, agency_id)?;
    approved(c, agency_id, desk)?;
    if v.rotation_required {
        return Err(VaultError::RotationRequired);
    }
    if changes.iter().any(|ch| ch.epoch != v.epoch) {
        return Err(VaultError::StaleEpoch { current: v.epoch });
    }
    let mut conflicts = Vec::new();
    let mut new_records = 0;
    let ids: Vec<&str> = changes.iter().map(|ch| ch.id.as_str()).collect();
    let mut existing: std::collections::HashMap<String, RecordRow> = c
        .find_vault_records(agency_id, &ids)?
        .into_iter()
        .map(|row| (row.record_id.clone(), row))
        .collect();
    for change in changes {
        match existing.remove(&change.id) {
            None if change.expected_version == 0 => new_records += 1,
            None => return Err(VaultError::RecordNotFound(change.id.clone())),
            Some(row) if row.version != change.expected_version => {
                conflicts.push(wire_record(&row));
            }
            Some(_) => {}
        }
    }
    if !conflicts.is_empty() {
        return Err(VaultError::Conflict(conflicts));
    }
    let (all, _) = c.count_vault_records(agency_id)?;
    if all + new_records > MAX_RECORDS {
        return Err(VaultError::Full(format!(
            "your agency's vault holds at most {MAX_RECORDS} records"
        )));
    }
    let last = c.reserve_sequence(agency_id, changes.len() as i64)?;
    let first = last - changes.len() as i64 + 1;
    let now = crate::db::now_ms();
    let mut stored = Vec::with_capacity(changes.len());
    for ((i, change), bytes) in changes.iter().enumerate().zip(&sealed) {
        let row = RecordWrite {
            record_id: &change.id,
            version: change.expected_version + 1,
            epoch: change.epoch,
            ciphertext: bytes,
            deleted: change.deleted,
            sequence: first + i as i64,
        };
        c.write_vault_record(agency_id, &row, now)?;
        stored.push(VaultRecord {
            id: change.id.clone(),
            version: row.version,
            epoch: row.epoch,
            ciphertext: change.ciphertext.clone(),
            deleted: row.deleted,
            sequence: row.sequence,
        });
    }
    Ok(stored)
}

#[cfg(test)]
mod tests;
