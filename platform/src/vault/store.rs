//! Every query on the vault tables (`vaults`, `vault_desks`, `vault_keys`, `vault_records`),
//! for both backends. The flows in `mod.rs` call these inside one write transaction each.

use api_types::vault::VaultDeskState;
use diesel::prelude::*;

use crate::db::schema::{vault_desks, vault_keys, vault_records, vaults};

/// Key holder name of the recovery key (a desk is named by its certificate lineage, hex).
pub const RECOVERY_HOLDER: &str = "recovery";

/// An agency's vault.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = vaults)]
pub struct VaultRow {
    /// The agency.
    pub agency_id: i64,
    /// Current key epoch.
    pub epoch: i64,
    /// A desk lost access since the last rotation.
    pub rotation_required: bool,
    /// X25519 public key of the recovery key (base64).
    pub recovery_public_key: String,
    /// SHA-256 (hex) of the recovery proof.
    pub recovery_verifier: String,
    /// Last change sequence handed out.
    pub sequence: i64,
    /// Created (ms).
    pub created_at: i64,
}

/// A desk of the vault.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = vault_desks)]
pub struct DeskRow {
    /// Row id.
    pub id: i64,
    /// The agency.
    pub agency_id: i64,
    /// The desk (certificate lineage).
    pub desk: String,
    /// X25519 vault public key (base64).
    pub public_key: String,
    /// `waiting`, `approved` or `removed` (see [`DeskRow::state`]).
    pub state: String,
    /// Registered (ms).
    pub registered_at: i64,
    /// State last changed (ms).
    pub changed_at: i64,
}

impl DeskRow {
    /// The state; an unknown stored code reads as removed (the safe side).
    pub fn state(&self) -> VaultDeskState {
        VaultDeskState::from_code(&self.state).unwrap_or(VaultDeskState::Removed)
    }
}

/// A record as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = vault_records)]
pub struct RecordRow {
    /// The record's id (the desk's).
    pub record_id: String,
    /// Version.
    pub version: i64,
    /// Key epoch.
    pub epoch: i64,
    /// Nonce and ciphertext; empty for a tombstone.
    pub ciphertext: Vec<u8>,
    /// Tombstone.
    pub deleted: bool,
    /// Change sequence.
    pub sequence: i64,
}

/// A record to write.
#[derive(Debug, Clone)]
pub struct RecordWrite<'a> {
    /// The record's id.
    pub record_id: &'a str,
    /// Its new version.
    pub version: i64,
    /// Its key epoch.
    pub epoch: i64,
    /// Nonce and ciphertext.
    pub ciphertext: &'a [u8],
    /// Tombstone.
    pub deleted: bool,
    /// Its change sequence.
    pub sequence: i64,
}

/// The vault's queries; implemented for both connection types.
pub trait VaultStore {
    /// The agency's vault, if created.
    fn find_vault(&mut self, agency_id: i64) -> QueryResult<Option<VaultRow>>;
    /// Creates the agency's vault at epoch 1.
    fn create_vault(
        &mut self,
        agency_id: i64,
        recovery_public_key: &str,
        recovery_verifier: &str,
        now_ms: i64,
    ) -> QueryResult<()>;
    /// Sets the epoch and the rotation flag.
    fn set_vault_epoch(
        &mut self,
        agency_id: i64,
        epoch: i64,
        rotation_required: bool,
    ) -> QueryResult<()>;
    /// Hands out `n` change sequence numbers (the row stays locked until the transaction ends,
    /// so numbers follow commit order); returns the last one.
    fn reserve_sequence(&mut self, agency_id: i64, n: i64) -> QueryResult<i64>;
    /// The agency's desks, oldest first.
    fn vault_desks(&mut self, agency_id: i64) -> QueryResult<Vec<DeskRow>>;
    /// One desk of the agency.
    fn find_vault_desk(&mut self, agency_id: i64, desk: &str) -> QueryResult<Option<DeskRow>>;
    /// Registers a desk, or replaces its key and state.
    fn put_vault_desk(
        &mut self,
        agency_id: i64,
        desk: &str,
        public_key: &str,
        state: VaultDeskState,
        now_ms: i64,
    ) -> QueryResult<()>;
    /// Changes a desk's state.
    fn set_vault_desk_state(
        &mut self,
        agency_id: i64,
        desk: &str,
        state: VaultDeskState,
        now_ms: i64,
    ) -> QueryResult<()>;
    /// Stores the key of `epoch` wrapped for `holder`.
    fn put_wrapped_key(
        &mut self,
        agency_id: i64,
        epoch: i64,
        holder: &str,
        wrapped: &str,
    ) -> QueryResult<()>;
    /// The keys wrapped for `holder`, oldest epoch first.
    fn wrapped_keys(&mut self, agency_id: i64, holder: &str) -> QueryResult<Vec<(i64, String)>>;
    /// Deletes every key wrapped for `holder`.
    fn delete_wrapped_keys(&mut self, agency_id: i64, holder: &str) -> QueryResult<usize>;
    /// Records changed after `after`, oldest first, at most `limit`.
    fn vault_records_after(
        &mut self,
        agency_id: i64,
        after: i64,
        limit: i64,
    ) -> QueryResult<Vec<RecordRow>>;
    /// One record of the agency.
    fn find_vault_record(
        &mut self,
        agency_id: i64,
        record_id: &str,
    ) -> QueryResult<Option<RecordRow>>;
    /// Records (live and tombstones) and live records of the agency.
    fn count_vault_records(&mut self, agency_id: i64) -> QueryResult<(i64, i64)>;
    /// The records among `ids` that exist (one query per page of ids).
    fn find_vault_records(&mut self, agency_id: i64, ids: &[&str]) -> QueryResult<Vec<RecordRow>>;
    /// Inserts a record, or writes a new version over it.
    fn write_vault_record(
        &mut self,
        agency_id: i64,
        record: &RecordWrite<'_>,
        now_ms: i64,
    ) -> QueryResult<()>;
}

crate::impl_for_backends!(VaultStore {
    fn find_vault(&mut self, agency_id: i64) -> QueryResult<Option<VaultRow>> {
        vaults::table
            .find(agency_id)
            .select(VaultRow::as_select())
            .first(self)
            .optional()
    }

    fn create_vault(
        &mut self,
        agency_id: i64,
        recovery_public_key: &str,
        recovery_verifier: &str,
        now_ms: i64,
    ) -> QueryResult<()> {
        diesel::insert_into(vaults::table)
            .values((
                vaults::agency_id.eq(agency_id),
                vaults::epoch.eq(1i64),
                vaults::rotation_required.eq(false),
                vaults::recovery_public_key.eq(recovery_public_key),
                vaults::recovery_verifier.eq(recovery_verifier),
                vaults::sequence.eq(0i64),
                vaults::created_at.eq(now_ms),
            ))
            .execute(self)
            .map(drop)
    }

    fn set_vault_epoch(
        &mut self,
        agency_id: i64,
        epoch: i64,
        rotation_required: bool,
    ) -> QueryResult<()> {
        diesel::update(vaults::table.find(agency_id))
            .set((
                vaults::epoch.eq(epoch),
                vaults::rotation_required.eq(rotation_required),
            ))
            .execute(self)
            .map(drop)
    }

    fn reserve_sequence(&mut self, agency_id: i64, n: i64) -> QueryResult<i64> {
        diesel::update(vaults::table.find(agency_id))
            .set(vaults::sequence.eq(vaults::sequence + n))
            .returning(vaults::sequence)
            .get_result(self)
    }

    fn vault_desks(&mut self, agency_id: i64) -> QueryResult<Vec<DeskRow>> {
        vault_desks::table
            .filter(vault_desks::agency_id.eq(agency_id))
            .order(vault_desks::id)
            .select(DeskRow::as_select())
            .load(self)
    }

    fn find_vault_desk(&mut self, agency_id: i64, desk: &str) -> QueryResult<Option<DeskRow>> {
        vault_desks::table
            .filter(vault_desks::agency_id.eq(agency_id))
            .filter(vault_desks::desk.eq(desk))
            .select(DeskRow::as_select())
            .first(self)
            .optional()
    }

    fn put_vault_desk(
        &mut self,
        agency_id: i64,
        desk: &str,
        public_key: &str,
        state: VaultDeskState,
        now_ms: i64,
    ) -> QueryResult<()> {
        diesel::insert_into(vault_desks::table)
            .values((
                vault_desks::agency_id.eq(agency_id),
                vault_desks::desk.eq(desk),
                vault_desks::public_key.eq(public_key),
                vault_desks::state.eq(state.code()),
                vault_desks::registered_at.eq(now_ms),
                vault_desks::changed_at.eq(now_ms),
            ))
            .on_conflict((vault_desks::agency_id, vault_desks::desk))
            .do_update()
            .set((
                vault_desks::public_key.eq(public_key),
                vault_desks::state.eq(state.code()),
                vault_desks::changed_at.eq(now_ms),
            ))
            .execute(self)
            .map(drop)
    }

    fn set_vault_desk_state(
        &mut self,
        agency_id: i64,
        desk: &str,
        state: VaultDeskState,
        now_ms: i64,
    ) -> QueryResult<()> {
        diesel::update(
            vault_desks::table
                .filter(vault_desks::agency_id.eq(agency_id))
                .filter(vault_desks::desk.eq(desk)),
        )
        .set((
            vault_desks::state.eq(state.code()),
            vault_desks::changed_at.eq(now_ms),
        ))
        .execute(self)
        .map(drop)
    }

    fn put_wrapped_key(
        &mut self,
        agency_id: i64,
        epoch: i64,
        holder: &str,
        wrapped: &str,
    ) -> QueryResult<()> {
        diesel::insert_into(vault_keys::table)
            .values((
                vault_keys::agency_id.eq(agency_id),
                vault_keys::epoch.eq(epoch),
                vault_keys::holder.eq(holder),
                vault_keys::wrapped.eq(wrapped),
            ))
            .on_conflict((vault_keys::agency_id, vault_keys::epoch, vault_keys::holder))
            .do_update()
            .set(vault_keys::wrapped.eq(wrapped))
            .execute(self)
            .map(drop)
    }

    fn wrapped_keys(&mut self, agency_id: i64, holder: &str) -> QueryResult<Vec<(i64, String)>> {
        vault_keys::table
            .filter(vault_keys::agency_id.eq(agency_id))
            .filter(vault_keys::holder.eq(holder))
            .order(vault_keys::epoch)
            .select((vault_keys::epoch, vault_keys::wrapped))
            .load(self)
    }

    fn delete_wrapped_keys(&mut self, agency_id: i64, holder: &str) -> QueryResult<usize> {
        diesel::delete(
            vault_keys::table
                .filter(vault_keys::agency_id.eq(agency_id))
                .filter(vault_keys::holder.eq(holder)),
        )
        .execute(self)
    }

    fn vault_records_after(
        &mut self,
        agency_id: i64,
        after: i64,
        limit: i64,
    ) -> QueryResult<Vec<RecordRow>> {
        vault_records::table
            .filter(vault_records::agency_id.eq(agency_id))
            .filter(vault_records::sequence.gt(after))
            .order(vault_records::sequence)
            .limit(limit)
            .select(RecordRow::as_select())
            .load(self)
    }

    fn find_vault_record(
        &mut self,
        agency_id: i64,
        record_id: &str,
    ) -> QueryResult<Option<RecordRow>> {
        vault_records::table
            .filter(vault_records::agency_id.eq(agency_id))
            .filter(vault_records::record_id.eq(record_id))
            .select(RecordRow::as_select())
            .first(self)
            .optional()
    }

    fn find_vault_records(
        &mut self,
        agency_id: i64,
        ids: &[&str],
    ) -> QueryResult<Vec<RecordRow>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            out.extend(
                vault_records::table
                    .filter(vault_records::agency_id.eq(agency_id))
                    .filter(vault_records::record_id.eq_any(chunk))
                    .select(RecordRow::as_select())
                    .load(self)?,
            );
        }
        Ok(out)
    }

    fn count_vault_records(&mut self, agency_id: i64) -> QueryResult<(i64, i64)> {
        let all: i64 = vault_records::table
            .filter(vault_records::agency_id.eq(agency_id))
            .count()
            .get_result(self)?;
        let live: i64 = vault_records::table
            .filter(vault_records::agency_id.eq(agency_id))
            .filter(vault_records::deleted.eq(false))
            .count()
            .get_result(self)?;
        Ok((all, live))
    }

    fn write_vault_record(
        &mut self,
        agency_id: i64,
        record: &RecordWrite<'_>,
        now_ms: i64,
    ) -> QueryResult<()> {
        diesel::insert_into(vault_records::table)
            .values((
                vault_records::agency_id.eq(agency_id),
                vault_records::record_id.eq(record.record_id),
                vault_records::version.eq(record.version),
                vault_records::epoch.eq(record.epoch),
                vault_records::ciphertext.eq(record.ciphertext),
                vault_records::deleted.eq(record.deleted),
                vault_records::sequence.eq(record.sequence),
                vault_records::updated_at.eq(now_ms),
            ))
            .on_conflict((vault_records::agency_id, vault_records::record_id))
            .do_update()
            .set((
                vault_records::version.eq(record.version),
                vault_records::epoch.eq(record.epoch),
                vault_records::ciphertext.eq(record.ciphertext),
                vault_records::deleted.eq(record.deleted),
                vault_records::sequence.eq(record.sequence),
                vault_records::updated_at.eq(now_ms),
            ))
            .execute(self)
            .map(drop)
    }
});
