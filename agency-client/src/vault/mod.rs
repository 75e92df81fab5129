//! The agency vault on this desk: the agency's customers synced between its desks through the
//! platform, which stores only ciphertext (see `docs/architecture.md`, "The vault").
//!
//! * `crypto.rs`: the vault key pair, HPKE wrapping, record sealing, the recovery key;
//! * `local.rs`: this desk's vault tables (key pair, record rows, conflicts);
//! * `sync.rs`: membership, keys, rotation, pull and push;
//! * here: what the commands and the window call: [`sync`], [`init`], [`status`],
//!   [`approve`], [`remove`], [`recover`], [`conflicts`], [`resolve`].
//!
//! Offline honesty: customer changes are queued by being committed here (the difference from
//! what was last synced is what a sync sends), so `sync` without the platform loses nothing;
//! `init`, `approve`, `remove`, `recover` and `status` need the platform and, without it, say
//! that nothing was done (exit status 3).

pub mod crypto;
pub mod local;
pub mod sync;

use std::collections::BTreeMap;

use api_types::vault::{
    VaultApprove, VaultDesk, VaultDeskState, VaultInit, VaultKeys, VaultRecover, VaultStatus,
    WrappedKey,
};
use diesel::prelude::*;
use serde::Serialize;

use crate::customers::synced::{self, CustomerRecord};
use crate::db::Store;
use crate::error::ClientError;
use crate::identity::Session;
use crypto::{KeyPair, RECOVERY_HOLDER, RecoveryKey, VaultKey};
use local::RecordRow;
pub use sync::{DeskView, VaultSyncReport};

/// Syncs the vault: registers this desk when the agency has a vault and the desk is new,
/// rotates the key when a desk lost access, pulls, then pushes. A desk that waits for approval
/// (or was removed) only reports so; its customers stay here untouched.
pub fn sync(
    store: &mut Store,
    session: &mut Session,
    passphrase: &str,
) -> Result<VaultSyncReport, ClientError> {
    let mut status = sync::fetch_status(session)?;
    let mut report = VaultSyncReport {
        state: "none".into(),
        desk: status.me.clone(),
        epoch: status.epoch,
        ..VaultSyncReport::default()
    };
    if !status.initialized {
        return Ok(report);
    }
    let pair = local::key_pair(store.conn(), passphrase)?;
    report.fingerprint = Some(crypto::fingerprint(&pair.public_b64()));
    let me = sync::ensure_member(session, &mut status, &pair)?;
    report.desks = sync::desk_views(&status);
    report.waiting = report
        .desks
        .iter()
        .filter(|d| d.state == VaultDeskState::Waiting && !d.this_desk)
        .cloned()
        .collect();
    let state = me.map_or(VaultDeskState::Waiting, |d| d.state);
    report.state = state.code().into();
    if state != VaultDeskState::Approved {
        report.open_conflicts = local::conflicts(store.conn())?.len();
        return Ok(report);
    }
    let mut keys = sync::epoch_keys(session, &pair, &status.me)?;
    if status.rotation_required {
        let (epoch, key) = sync::rotate(session, &status)?;
        keys.insert(epoch, key);
        status.epoch = epoch;
        report.rotated_to = Some(epoch);
    }
    report.epoch = status.epoch;
    let outcome = sync::pull(store.conn(), session, &keys, &mut report)
        .and_then(|()| sync::push(store.conn(), session, &keys, status.epoch, &mut report))
        .and_then(|()| sync::unwatch_queued(store.conn(), session, &mut report));
    let note = match (&outcome, report.refused.is_empty()) {
        (Err(e), _) => Some(e.to_string()),
        (Ok(()), false) => Some(format!(
            "{} record(s) did not authenticate and were not applied",
            report.refused.len()
        )),
        (Ok(()), true) => None,
    };
    local::record_sync(store.conn(), note.as_deref())?;
    outcome?;
    report.open_conflicts = local::conflicts(store.conn())?.len();
    Ok(report)
}

/// What `vault init` did: the recovery key (shown this once) and the first sync.
#[derive(Debug, Serialize)]
pub struct Initialized {
    /// The recovery key: keep it offline; it lets a new desk in when no desk is left.
    pub recovery_key: String,
    /// The first sync (this desk's customers sent).
    pub sync: VaultSyncReport,
}

/// Creates the agency's vault with this desk as its first member and sends its customers.
pub fn init(
    store: &mut Store,
    session: &mut Session,
    passphrase: &str,
) -> Result<Initialized, ClientError> {
    let status = sync::fetch_status(session)?;
    if status.initialized {
        return Err(ClientError::input(
            "vault",
            "your agency's vault exists already; nothing was done. On this desk run `agency-client \
             vault status` and approve it on a desk that has access",
        ));
    }
    let agency = session.identity.agency_id;
    let pair = local::key_pair(store.conn(), passphrase)?;
    let key = VaultKey::generate()?;
    let recovery = RecoveryKey::generate()?;
    let recovery_pair = recovery.key_pair();
    let request = VaultInit {
        public_key: pair.public_b64(),
        wrapped_key: crypto::wrap_key(&key, &pair.public_b64(), agency, 1, &status.me)?,
        recovery_public_key: recovery_pair.public_b64(),
        recovery_wrapped_key: crypto::wrap_key(
            &key,
            &recovery_pair.public_b64(),
            agency,
            1,
            RECOVERY_HOLDER,
        )?,
        recovery_proof: recovery.proof_b64(),
    };
    let _: VaultStatus = session.client.post_json("/api/v1/vault", &request)?;
    let report = sync(store, session, passphrase)?;
    Ok(Initialized {
        recovery_key: recovery.display().to_string(),
        sync: report,
    })
}

/// `vault status`: the vault as the platform sees it, this desk's place, and what waits here.
#[derive(Debug, Serialize)]
pub struct VaultOverview {
    /// Whether the agency has a vault.
    pub initialized: bool,
    /// This desk (its certificate lineage).
    pub desk: String,
    /// This desk's state (`none` without a vault).
    pub state: String,
    /// This desk's vault key fingerprint.
    pub fingerprint: Option<String>,
    /// The current key epoch.
    pub epoch: i64,
    /// A rotation is due (the next sync of an approved desk does it).
    pub rotation_required: bool,
    /// Every desk.
    pub desks: Vec<DeskView>,
    /// Live records on the platform.
    pub records: i64,
    /// This desk's counts.
    pub local: local::LocalCounts,
    /// Last sync (ms), and what went wrong then.
    pub last_sync_at_ms: Option<i64>,
    /// What went wrong at the last sync.
    pub last_sync_note: Option<String>,
}

/// The overview, registering this desk's vault key when the agency has a vault.
pub fn status(
    store: &mut Store,
    session: &mut Session,
    passphrase: &str,
) -> Result<VaultOverview, ClientError> {
    let mut status = sync::fetch_status(session)?;
    let (state, fingerprint) = if status.initialized {
        let pair = local::key_pair(store.conn(), passphrase)?;
        let me = sync::ensure_member(session, &mut status, &pair)?;
        (
            me.map_or("waiting".into(), |d| d.state.code().to_owned()),
            Some(crypto::fingerprint(&pair.public_b64())),
        )
    } else {
        ("none".to_owned(), None)
    };
    let (last_sync_at_ms, last_sync_note) = local::last_sync(store.conn())?;
    Ok(VaultOverview {
        initialized: status.initialized,
        desk: status.me.clone(),
        state,
        fingerprint,
        epoch: status.epoch,
        rotation_required: status.rotation_required,
        desks: sync::desk_views(&status),
        records: status.records,
        local: local::counts(store.conn())?,
        last_sync_at_ms,
        last_sync_note,
    })
}

/// The desk named by `which`: its id or its fingerprint (case, dashes and spaces ignored).
fn find_desk<'a>(status: &'a VaultStatus, which: &str) -> Result<&'a VaultDesk, ClientError> {
    let wanted: String = which
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | ':'))
        .collect::<String>()
        .to_ascii_uppercase();
    status
        .desks
        .iter()
        .find(|d| {
            d.desk.to_ascii_uppercase() == wanted
                || crypto::fingerprint(&d.public_key).replace('-', "") == wanted
        })
        .ok_or_else(|| {
            ClientError::NotFound(format!(
                "no desk {which:?} in your agency's vault; nothing was done (see `agency-client \
                 vault status` for desks and fingerprints)"
            ))
        })
}

/// Approves a waiting desk (named by id or fingerprint: staff compare the fingerprint shown on
/// that desk), giving it every epoch's key wrapped for its vault public key.
pub fn approve(
    store: &mut Store,
    session: &mut Session,
    passphrase: &str,
    which: &str,
) -> Result<DeskView, ClientError> {
    let status = sync::fetch_status(session)?;
    let target = find_desk(&status, which)?.clone();
    if target.state != VaultDeskState::Waiting {
        return Err(ClientError::input(
            "DESK",
            format!(
                "desk {} is {}, not waiting for approval; nothing was done",
                target.desk,
                target.state.code()
            ),
        ));
    }
    let pair = local::key_pair(store.conn(), passphrase)?;
    let keys = sync::epoch_keys(session, &pair, &status.me)?;
    let agency = session.identity.agency_id;
    let wrapped = keys
        .iter()
        .map(|(epoch, key)| {
            Ok(WrappedKey {
                epoch: *epoch,
                wrapped: crypto::wrap_key(key, &target.public_key, agency, *epoch, &target.desk)?,
            })
        })
        .collect::<Result<Vec<_>, ClientError>>()?;
    let desk: VaultDesk = session.client.post_json(
        &format!("/api/v1/vault/desks/{}/approve", target.desk),
        &VaultApprove { keys: wrapped },
    )?;
    Ok(DeskView {
        fingerprint: crypto::fingerprint(&desk.public_key),
        this_desk: false,
        state: desk.state,
        registered_at_ms: desk.registered_at_ms,
        desk: desk.desk,
    })
}

/// What `vault remove` did.
#[derive(Debug, Serialize)]
pub struct RemovedDesk {
    /// The desk removed.
    pub desk: DeskView,
    /// The sync that followed (the key rotated, records sealed anew); empty when it failed.
    pub sync: VaultSyncReport,
    /// Why that sync failed, when it did: the desk is removed all the same (the platform
    /// refuses it from now on) and the next sync of a desk with access rotates the key.
    pub sync_problem: Option<String>,
}

/// Removes a desk (by id or fingerprint): the platform refuses it from now on; this desk then
/// syncs, which rotates the key and seals the records anew under it. When that sync fails the
/// removal stands and says so (the rotation is then due at the next sync).
pub fn remove(
    store: &mut Store,
    session: &mut Session,
    passphrase: &str,
    which: &str,
) -> Result<RemovedDesk, ClientError> {
    let status = sync::fetch_status(session)?;
    let target = find_desk(&status, which)?.clone();
    let desk: VaultDesk = session.client.post_json(
        &format!("/api/v1/vault/desks/{}/remove", target.desk),
        &serde_json::json!({}),
    )?;
    let (report, sync_problem) = match sync(store, session, passphrase) {
        Ok(report) => (report, None),
        Err(e) => (VaultSyncReport::default(), Some(e.to_string())),
    };
    Ok(RemovedDesk {
        desk: DeskView {
            fingerprint: crypto::fingerprint(&desk.public_key),
            this_desk: false,
            state: desk.state,
            registered_at_ms: desk.registered_at_ms,
            desk: desk.desk,
        },
        sync: report,
        sync_problem,
    })
}

/// Lets this desk into the vault with the recovery key: every epoch's key is opened with it
/// (a wrong key is found here, before anything is sent) and wrapped for this desk's own key,
/// then the vault syncs.
pub fn recover(
    store: &mut Store,
    session: &mut Session,
    passphrase: &str,
    recovery_key: &str,
) -> Result<VaultSyncReport, ClientError> {
    let recovery = RecoveryKey::parse(recovery_key)?;
    let status = sync::fetch_status(session)?;
    if !status.initialized {
        return Err(ClientError::input(
            "vault",
            "your agency has no vault yet; nothing was done (create it with `agency-client vault init`)",
        ));
    }
    let agency = session.identity.agency_id;
    let wrapped: VaultKeys = session.client.get_json("/api/v1/vault/recovery")?;
    let recovery_pair = recovery.key_pair();
    let mut keys: BTreeMap<i64, VaultKey> = BTreeMap::new();
    for k in &wrapped.keys {
        let key = recovery_pair
            .unwrap_key(&k.wrapped, agency, k.epoch, RECOVERY_HOLDER)
            .ok_or_else(|| {
                ClientError::input(
                    "recovery key",
                    "is wrong: it does not open your agency's vault; nothing was changed",
                )
            })?;
        keys.insert(k.epoch, key);
    }
    let pair: KeyPair = local::key_pair(store.conn(), passphrase)?;
    let request = VaultRecover {
        public_key: pair.public_b64(),
        recovery_proof: recovery.proof_b64(),
        keys: keys
            .iter()
            .map(|(epoch, key)| {
                Ok(WrappedKey {
                    epoch: *epoch,
                    wrapped: crypto::wrap_key(key, &pair.public_b64(), agency, *epoch, &status.me)?,
                })
            })
            .collect::<Result<Vec<_>, ClientError>>()?,
    };
    let _: VaultDesk = session
        .client
        .post_json("/api/v1/vault/recover", &request)?;
    sync(store, session, passphrase)
}

/// A conflict as staff see it: both sides.
#[derive(Debug, Clone, Serialize)]
pub struct ConflictView {
    /// The record id (give it to `vault resolve`).
    pub id: String,
    /// The local customer, if still here.
    pub customer_id: Option<i32>,
    /// This desk's side (`None`: removed here).
    pub mine: Option<CustomerRecord>,
    /// The other desk's side (`None`: removed there).
    pub theirs: Option<CustomerRecord>,
    /// The other side's version.
    pub their_version: i64,
    /// Found (ms).
    pub detected_at_ms: i64,
}

/// Every open conflict with both sides.
pub fn conflicts(conn: &mut SqliteConnection) -> Result<Vec<ConflictView>, ClientError> {
    local::conflicts(conn)?
        .into_iter()
        .map(|c| {
            let row = local::find(conn, &c.record_id)?;
            let customer_id = row.and_then(|r| r.customer_id);
            let mine = match customer_id {
                Some(id) => synced::snapshot(conn, Some(id))?.remove(&id),
                None => None,
            };
            Ok(ConflictView {
                theirs: c
                    .their_content
                    .as_deref()
                    .and_then(|t| serde_json::from_str(t).ok()),
                id: c.record_id,
                customer_id,
                mine,
                their_version: c.their_version,
                detected_at_ms: c.detected_at,
            })
        })
        .collect()
}

/// Which side of a conflict to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// This desk's: sent over the other side at the next sync.
    Mine,
    /// The other desk's: written here now.
    Theirs,
}

/// Settles a conflict, in one transaction; what is kept reaches the other desks at the next
/// sync (keeping mine) or is already theirs.
pub fn resolve(
    conn: &mut SqliteConnection,
    id: &str,
    keep: Keep,
) -> Result<ConflictView, ClientError> {
    let view = conflicts(conn)?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| {
            ClientError::NotFound(format!(
                "there is no open conflict {id:?} (see `agency-client vault conflicts`)"
            ))
        })?;
    conn.immediate_transaction(|c| {
        let conflict = local::conflict(c, id)?
            .ok_or_else(|| ClientError::NotFound(format!("there is no open conflict {id:?}")))?;
        let row = local::find(c, id)?
            .ok_or_else(|| ClientError::NotFound(format!("there is no record {id:?}")))?;
        if let (Keep::Mine, Some(customer)) = (keep, row.customer_id) {
            local::mark_dirty(c, customer)?;
        }
        let row = match keep {
            Keep::Mine => RecordRow {
                version: conflict.their_version,
                epoch: conflict.their_epoch,
                synced_hash: None,
                deleted: false,
                ..row
            },
            Keep::Theirs => match &view.theirs {
                None => {
                    if let Some(customer) = row.customer_id {
                        synced::delete(c, customer)?;
                    }
                    RecordRow {
                        customer_id: None,
                        version: conflict.their_version,
                        epoch: conflict.their_epoch,
                        synced_hash: None,
                        deleted: true,
                        ..row
                    }
                }
                Some(theirs) => {
                    let customer = synced::apply(c, row.customer_id, theirs)?;
                    let hash = synced::snapshot(c, Some(customer))?
                        .remove(&customer)
                        .map(|r| r.hash());
                    RecordRow {
                        customer_id: Some(customer),
                        version: conflict.their_version,
                        epoch: conflict.their_epoch,
                        synced_hash: hash,
                        deleted: false,
                        ..row
                    }
                }
            },
        };
        local::put(c, &row)?;
        local::drop_conflict(c, id)?;
        Ok::<_, ClientError>(())
    })?;
    Ok(view)
}
