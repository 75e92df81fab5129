//! The agency vault's wire types (`/api/v1/vault…`): customer records an agency's desks sync
//! through the platform as ciphertext only, the desks' vault public keys, and the vault key
//! wrapped (HPKE, RFC 9180) for each approved desk and for the recovery key.
//!
//! Binary values (X25519 public keys, HPKE-wrapped keys, AEAD ciphertext) travel as standard
//! base64. The platform checks their sizes, never their contents: it cannot read them.

use serde::{Deserialize, Serialize};

use crate::api::ErrorDetail;

/// A desk's place in its agency's vault.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VaultDeskState {
    /// Registered its vault key; waits for another desk to approve it (compare fingerprints).
    Waiting,
    /// Holds the vault key, wrapped for its own vault public key.
    Approved,
    /// Removed by another desk, or its certificate was revoked: refused every vault route.
    Removed,
}

impl VaultDeskState {
    /// The stored and wire form.
    pub fn code(self) -> &'static str {
        match self {
            VaultDeskState::Waiting => "waiting",
            VaultDeskState::Approved => "approved",
            VaultDeskState::Removed => "removed",
        }
    }

    /// Parses [`code`](Self::code)'s form.
    pub fn from_code(code: &str) -> Option<VaultDeskState> {
        match code {
            "waiting" => Some(VaultDeskState::Waiting),
            "approved" => Some(VaultDeskState::Approved),
            "removed" => Some(VaultDeskState::Removed),
            _ => None,
        }
    }
}

/// One desk of the agency as the vault knows it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultDesk {
    /// The desk: the lineage of its certificates (the serial of its enrolment certificate).
    pub desk: String,
    /// Its X25519 vault public key (32 bytes, base64).
    pub public_key: String,
    /// Waiting, approved or removed.
    pub state: VaultDeskState,
    /// When it registered its vault key (ms since the epoch).
    pub registered_at_ms: i64,
    /// When its state last changed (ms since the epoch).
    pub changed_at_ms: i64,
}

/// `GET /api/v1/vault`: the calling agency's vault as the calling desk may see it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultStatus {
    /// Whether a desk of the agency has created the vault (`vault init`).
    pub initialized: bool,
    /// The current key epoch (0 before the vault exists).
    pub epoch: i64,
    /// A desk was removed or revoked since the last rotation: the next approved desk to sync
    /// rotates the key (new epoch), and no record is accepted until it has.
    pub rotation_required: bool,
    /// The recovery key's X25519 public key (base64), for wrapping a new epoch's key for it.
    pub recovery_public_key: Option<String>,
    /// The calling desk (its certificate lineage).
    pub me: String,
    /// Every desk that registered a vault key, oldest first.
    pub desks: Vec<VaultDesk>,
    /// Live records (tombstones not counted).
    pub records: i64,
    /// The newest change sequence number.
    pub latest: i64,
}

/// `POST /api/v1/vault`: the first desk creates the agency's vault.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultInit {
    /// The creating desk's X25519 vault public key (base64).
    pub public_key: String,
    /// The epoch-1 vault key wrapped for that public key (HPKE, base64).
    pub wrapped_key: String,
    /// The recovery key's X25519 public key (base64).
    pub recovery_public_key: String,
    /// The epoch-1 vault key wrapped for the recovery public key (HPKE, base64).
    pub recovery_wrapped_key: String,
    /// A proof derived from the recovery key (32 bytes, base64); the platform keeps only its
    /// SHA-256 and later lets a desk that shows the proof in (`vault recover`).
    pub recovery_proof: String,
}

/// `POST /api/v1/vault/desks`: the calling desk registers its vault public key and waits.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultJoin {
    /// The desk's X25519 vault public key (base64).
    pub public_key: String,
}

/// The vault key of one epoch, wrapped for one holder (HPKE, base64).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WrappedKey {
    /// The key epoch.
    pub epoch: i64,
    /// The wrapped key.
    pub wrapped: String,
}

/// `GET /api/v1/vault/keys` (the calling desk's wrapped keys) and `GET /api/v1/vault/recovery`
/// (the keys wrapped for the recovery key), oldest epoch first.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultKeys {
    /// One per epoch.
    pub keys: Vec<WrappedKey>,
}

/// `POST /api/v1/vault/desks/{desk}/approve`: every epoch's key wrapped for the desk approved.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultApprove {
    /// One per epoch, the current one included.
    pub keys: Vec<WrappedKey>,
}

/// A new epoch's key wrapped for one desk.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeskWrappedKey {
    /// The desk.
    pub desk: String,
    /// The key wrapped for its vault public key.
    pub wrapped: String,
}

/// `POST /api/v1/vault/rotate`: a new vault key (epoch = current + 1) wrapped for exactly the
/// approved desks and the recovery key.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultRotate {
    /// The new epoch: the current one plus one.
    pub epoch: i64,
    /// One per approved desk.
    pub keys: Vec<DeskWrappedKey>,
    /// The new key wrapped for the recovery public key.
    pub recovery_wrapped_key: String,
}

/// `POST /api/v1/vault/recover`: a desk that holds the recovery key lets itself in.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultRecover {
    /// The calling desk's X25519 vault public key (base64).
    pub public_key: String,
    /// The proof derived from the recovery key (base64), as at `vault init`.
    pub recovery_proof: String,
    /// Every epoch's key, wrapped for the calling desk's vault public key.
    pub keys: Vec<WrappedKey>,
}

/// One record as stored: ciphertext the platform cannot read.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultRecord {
    /// The record's id, random, chosen by the desk that created it.
    pub id: String,
    /// Its version: 1 when created, one more at each change.
    pub version: i64,
    /// The key epoch it is sealed under.
    pub epoch: i64,
    /// Nonce and AEAD ciphertext (base64); empty for a tombstone.
    pub ciphertext: String,
    /// A tombstone: the record was deleted.
    pub deleted: bool,
    /// Its change sequence number (pull with `after`).
    pub sequence: i64,
}

/// `GET /api/v1/vault/records?after=N&limit=M`: records changed after sequence N, oldest first.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultRecordsPage {
    /// The records.
    pub records: Vec<VaultRecord>,
    /// Pass as `after` for the next page.
    pub next_after: i64,
    /// Whether more follow.
    pub has_more: bool,
}

/// One change pushed: a new record (`expected_version` 0), a new version of one, or a
/// tombstone. The stored version becomes `expected_version + 1`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultRecordChange {
    /// The record's id (16 to 64 letters, digits, `-` or `_`).
    pub id: String,
    /// The version this change was made on (0 for a new record).
    pub expected_version: i64,
    /// The key epoch it is sealed under: the current one.
    pub epoch: i64,
    /// Nonce and AEAD ciphertext (base64); empty for a tombstone.
    pub ciphertext: String,
    /// A tombstone.
    #[serde(default)]
    pub deleted: bool,
}

/// `POST /api/v1/vault/records`: changes stored together or not at all.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultPush {
    /// The changes (at most 500, one per record id).
    pub records: Vec<VaultRecordChange>,
}

/// The answer to a push: each record as now stored.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultPushed {
    /// The records stored, in the order sent.
    pub records: Vec<VaultRecord>,
}

/// The 409 answer to a push made on stale versions (`vault_conflict`): nothing was stored, and
/// `conflicts` holds the current record of every change that was stale.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaultConflict {
    /// The error (`vault_conflict`).
    pub error: ErrorDetail,
    /// The current records.
    #[serde(default)]
    pub conflicts: Vec<VaultRecord>,
}
