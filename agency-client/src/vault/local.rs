//! This desk's vault tables: its vault key pair (`vault_membership`), each customer's record
//! (`vault_records`: the platform version this desk's copy is based on, and the hash of the
//! content last synced) and the conflicts kept until staff choose (`vault_conflicts`).
//!
//! A change to send is the difference, kept in the desk's own database, between a customer as
//! it is now and the content last synced (a removed customer leaves its record row behind as a
//! tombstone to send), so every local change is queued the moment it is committed and survives
//! any crash or outage. To find it without reading every customer, triggers mark a customer
//! dirty (`vault_dirty`) in the same transaction as any change to it; a sync reads only the
//! customers marked, and clears a mark once the platform acknowledged that content (or the
//! content is found equal to what was synced).

use std::collections::{BTreeMap, HashSet};

use diesel::prelude::*;
use serde::Serialize;

use super::crypto::KeyPair;
use crate::customers::synced::{self, CustomerRecord};
use crate::db::now_ms;
use crate::db::schema::{
    vault_conflicts, vault_dirty, vault_membership, vault_records, vault_unwatch,
};
use crate::error::ClientError;

/// A record row of this desk.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = vault_records)]
pub struct RecordRow {
    /// The record id.
    pub record_id: String,
    /// The local customer (none once removed here, or for a tombstone).
    pub customer_id: Option<i32>,
    /// The platform version this copy is based on (0: never sent).
    pub version: i64,
    /// The key epoch of that version.
    pub epoch: i64,
    /// Hash of the content last synced.
    pub synced_hash: Option<String>,
    /// The tombstone is synced.
    pub deleted: bool,
}

/// A conflict as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = vault_conflicts)]
pub struct ConflictRow {
    /// The record.
    pub record_id: String,
    /// The other side's version.
    pub their_version: i64,
    /// Its key epoch.
    pub their_epoch: i64,
    /// They deleted it.
    pub their_deleted: bool,
    /// Their content (JSON).
    pub their_content: Option<String>,
    /// When it was found (ms).
    pub detected_at: i64,
}

/// A change to send: the record row and the content to seal (none: a tombstone).
#[derive(Debug, Clone)]
pub struct Pending {
    /// The record row.
    pub row: RecordRow,
    /// The content; `None` for a tombstone.
    pub content: Option<CustomerRecord>,
    /// The dirty mark read with the content (cleared, if unchanged, once the push is stored).
    pub mark: Option<i64>,
}

/// Clears customer `id`'s dirty mark: any mark, or only `mark` (a change made since stays).
pub fn clear_dirty(
    conn: &mut SqliteConnection,
    id: i32,
    mark: Option<i64>,
) -> Result<(), ClientError> {
    match mark {
        Some(mark) => diesel::delete(
            vault_dirty::table
                .find(id)
                .filter(vault_dirty::mark.eq(mark)),
        )
        .execute(conn)?,
        None => diesel::delete(vault_dirty::table.find(id)).execute(conn)?,
    };
    Ok(())
}

/// Marks customer `id` dirty (to be compared and sent at the next sync).
pub fn mark_dirty(conn: &mut SqliteConnection, id: i32) -> Result<(), ClientError> {
    diesel::replace_into(vault_dirty::table)
        .values((
            vault_dirty::customer_id.eq(id),
            vault_dirty::mark.eq(rand::random::<i64>()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Saved searches queued for deletion on the platform.
pub fn unwatch_queue(conn: &mut SqliteConnection) -> Result<Vec<i64>, ClientError> {
    Ok(vault_unwatch::table
        .order(vault_unwatch::queued_at)
        .select(vault_unwatch::watch_id)
        .load(conn)?)
}

/// A queued saved search is deleted on the platform (or was not there any more).
pub fn unwatch_done(conn: &mut SqliteConnection, watch_id: i64) -> Result<(), ClientError> {
    diesel::delete(vault_unwatch::table.find(watch_id)).execute(conn)?;
    Ok(())
}

/// This desk's vault key pair: generated and stored (encrypted with `passphrase`) on first use.
pub fn key_pair(conn: &mut SqliteConnection, passphrase: &str) -> Result<KeyPair, ClientError> {
    let stored: Option<String> = vault_membership::table
        .find(1)
        .select(vault_membership::secret_key_pem)
        .first(conn)
        .optional()?;
    if let Some(pem) = stored {
        return KeyPair::from_encrypted_pem(&pem, passphrase);
    }
    let pair = KeyPair::generate();
    let pem = pair.to_encrypted_pem(passphrase)?;
    diesel::insert_into(vault_membership::table)
        .values((
            vault_membership::id.eq(1),
            vault_membership::public_key.eq(pair.public_b64()),
            vault_membership::secret_key_pem.eq(pem),
        ))
        .execute(conn)?;
    Ok(pair)
}

/// This desk's vault public key, once made.
pub fn public_key(conn: &mut SqliteConnection) -> Result<Option<String>, ClientError> {
    Ok(vault_membership::table
        .find(1)
        .select(vault_membership::public_key)
        .first(conn)
        .optional()?)
}

/// The last record sequence pulled.
pub fn cursor(conn: &mut SqliteConnection) -> Result<i64, ClientError> {
    Ok(vault_membership::table
        .find(1)
        .select(vault_membership::record_cursor)
        .first(conn)
        .optional()?
        .unwrap_or(0))
}

/// Stores the cursor.
pub fn set_cursor(conn: &mut SqliteConnection, cursor: i64) -> Result<(), ClientError> {
    diesel::update(vault_membership::table.find(1))
        .set(vault_membership::record_cursor.eq(cursor))
        .execute(conn)?;
    Ok(())
}

/// Records the outcome of a sync (`note` says what went wrong, if anything).
pub fn record_sync(conn: &mut SqliteConnection, note: Option<&str>) -> Result<(), ClientError> {
    diesel::update(vault_membership::table.find(1))
        .set((
            vault_membership::last_sync_at.eq(now_ms()),
            vault_membership::last_sync_note.eq(note),
        ))
        .execute(conn)?;
    Ok(())
}

/// When the vault last synced, and what went wrong then.
pub fn last_sync(
    conn: &mut SqliteConnection,
) -> Result<(Option<i64>, Option<String>), ClientError> {
    Ok(vault_membership::table
        .find(1)
        .select((
            vault_membership::last_sync_at,
            vault_membership::last_sync_note,
        ))
        .first(conn)
        .optional()?
        .unwrap_or((None, None)))
}

/// One record row.
pub fn find(conn: &mut SqliteConnection, id: &str) -> Result<Option<RecordRow>, ClientError> {
    Ok(vault_records::table
        .find(id)
        .select(RecordRow::as_select())
        .first(conn)
        .optional()?)
}

/// Writes a record row (insert or replace).
pub fn put(conn: &mut SqliteConnection, row: &RecordRow) -> Result<(), ClientError> {
    diesel::replace_into(vault_records::table)
        .values((
            vault_records::record_id.eq(&row.record_id),
            vault_records::customer_id.eq(row.customer_id),
            vault_records::version.eq(row.version),
            vault_records::epoch.eq(row.epoch),
            vault_records::synced_hash.eq(&row.synced_hash),
            vault_records::deleted.eq(row.deleted),
        ))
        .execute(conn)?;
    Ok(())
}

/// The open conflict of a record.
pub fn conflict(conn: &mut SqliteConnection, id: &str) -> Result<Option<ConflictRow>, ClientError> {
    Ok(vault_conflicts::table
        .find(id)
        .select(ConflictRow::as_select())
        .first(conn)
        .optional()?)
}

/// Every open conflict, oldest first.
pub fn conflicts(conn: &mut SqliteConnection) -> Result<Vec<ConflictRow>, ClientError> {
    Ok(vault_conflicts::table
        .order((vault_conflicts::detected_at, vault_conflicts::record_id))
        .select(ConflictRow::as_select())
        .load(conn)?)
}

/// Keeps (or updates) the other side of a conflict.
pub fn put_conflict(
    conn: &mut SqliteConnection,
    id: &str,
    version: i64,
    epoch: i64,
    theirs: Option<&CustomerRecord>,
) -> Result<(), ClientError> {
    let detected_at = conflict(conn, id)?.map_or_else(now_ms, |c| c.detected_at);
    diesel::replace_into(vault_conflicts::table)
        .values((
            vault_conflicts::record_id.eq(id),
            vault_conflicts::their_version.eq(version),
            vault_conflicts::their_epoch.eq(epoch),
            vault_conflicts::their_deleted.eq(theirs.is_none()),
            vault_conflicts::their_content
                .eq(theirs.map(|t| String::from_utf8_lossy(&t.to_bytes()).into_owned())),
            vault_conflicts::detected_at.eq(detected_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Drops a conflict.
pub fn drop_conflict(conn: &mut SqliteConnection, id: &str) -> Result<(), ClientError> {
    diesel::delete(vault_conflicts::table.find(id)).execute(conn)?;
    Ok(())
}

/// What has to be sent, in one transaction: a row (with a new random id) for every customer
/// marked dirty that has none yet, then every marked customer whose content differs from what
/// was last synced, every customer sealed under an older epoch than `epoch`, and every
/// tombstone not yet sent. Records with an open conflict wait for staff. A customer removed
/// before it was ever sent leaves nothing. A marked customer found unchanged is unmarked.
pub fn pending(conn: &mut SqliteConnection, epoch: i64) -> Result<Vec<Pending>, ClientError> {
    conn.immediate_transaction(|c| {
        let conflicted: HashSet<String> = vault_conflicts::table
            .select(vault_conflicts::record_id)
            .load::<String>(c)?
            .into_iter()
            .collect();
        let mut out = Vec::new();
        // Tombstones: rows whose customer was removed here.
        let orphans: Vec<RecordRow> = vault_records::table
            .filter(vault_records::customer_id.is_null())
            .filter(vault_records::deleted.eq(false))
            .select(RecordRow::as_select())
            .load(c)?;
        for row in orphans {
            if conflicted.contains(&row.record_id) {
                continue;
            }
            if row.version == 0 {
                diesel::delete(vault_records::table.find(&row.record_id)).execute(c)?;
            } else {
                out.push(Pending {
                    row,
                    content: None,
                    mark: None,
                });
            }
        }
        // Marked customers, and those sealed under an older epoch.
        let mut marks: BTreeMap<i32, Option<i64>> = vault_dirty::table
            .select((vault_dirty::customer_id, vault_dirty::mark))
            .load::<(i32, i64)>(c)?
            .into_iter()
            .map(|(id, mark)| (id, Some(mark)))
            .collect();
        let stale: Vec<i32> = vault_records::table
            .filter(vault_records::epoch.lt(epoch))
            .filter(vault_records::version.gt(0))
            .select(vault_records::customer_id)
            .load::<Option<i32>>(c)?
            .into_iter()
            .flatten()
            .collect();
        for id in stale {
            marks.entry(id).or_insert(None);
        }
        if marks.is_empty() {
            return Ok(out);
        }
        let ids: Vec<i32> = marks.keys().copied().collect();
        let mut customers = synced::snapshot_of(c, &ids)?;
        let mut rows: BTreeMap<i32, RecordRow> = BTreeMap::new();
        for chunk in ids.chunks(500) {
            for row in vault_records::table
                .filter(vault_records::customer_id.eq_any(chunk))
                .select(RecordRow::as_select())
                .load(c)?
            {
                if let Some(id) = row.customer_id {
                    rows.insert(id, row);
                }
            }
        }
        for (id, mark) in marks {
            let Some(content) = customers.remove(&id) else {
                clear_dirty(c, id, None)?;
                continue;
            };
            let row = match rows.remove(&id) {
                Some(row) => row,
                None => {
                    let row = RecordRow {
                        record_id: super::crypto::new_record_id()?,
                        customer_id: Some(id),
                        version: 0,
                        epoch: 0,
                        synced_hash: None,
                        deleted: false,
                    };
                    put(c, &row)?;
                    row
                }
            };
            if conflicted.contains(&row.record_id) {
                continue;
            }
            if row.synced_hash.as_deref() != Some(content.hash().as_str()) || row.epoch < epoch {
                out.push(Pending {
                    row,
                    content: Some(content),
                    mark,
                });
            } else if mark.is_some() {
                clear_dirty(c, id, mark)?;
            }
        }
        Ok::<_, ClientError>(out)
    })
}

/// Counts for the status: records here (customers with a record), changes waiting to be sent
/// (without creating rows), open conflicts.
#[derive(Debug, Clone, Serialize, Default)]
pub struct LocalCounts {
    /// Customers on this desk.
    pub customers: usize,
    /// Changes waiting to be sent.
    pub pending: usize,
    /// Open conflicts.
    pub conflicts: usize,
}

/// The [`LocalCounts`] now (reading only the customers marked dirty).
pub fn counts(conn: &mut SqliteConnection) -> Result<LocalCounts, ClientError> {
    let customers = crate::db::schema::customers::table
        .count()
        .get_result::<i64>(conn)? as usize;
    let mut pending = vault_records::table
        .filter(vault_records::customer_id.is_null())
        .filter(vault_records::deleted.eq(false))
        .filter(vault_records::version.gt(0))
        .count()
        .get_result::<i64>(conn)? as usize;
    let marked: Vec<i32> = vault_dirty::table
        .select(vault_dirty::customer_id)
        .load(conn)?;
    let contents = synced::snapshot_of(conn, &marked)?;
    let mut hashes: BTreeMap<i32, Option<String>> = BTreeMap::new();
    for chunk in marked.chunks(500) {
        for (id, hash) in vault_records::table
            .filter(vault_records::customer_id.eq_any(chunk))
            .select((vault_records::customer_id, vault_records::synced_hash))
            .load::<(Option<i32>, Option<String>)>(conn)?
        {
            if let Some(id) = id {
                hashes.insert(id, hash);
            }
        }
    }
    for (id, content) in &contents {
        match hashes.get(id) {
            Some(Some(hash)) if *hash == content.hash() => {}
            _ => pending += 1,
        }
    }
    let conflicts = vault_conflicts::table.count().get_result::<i64>(conn)? as usize;
    Ok(LocalCounts {
        customers,
        pending,
        conflicts,
    })
}
