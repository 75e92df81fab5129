//! A customer as the vault carries it between the agency's desks: everything staff keep about
//! them here (kind, name, contact, notes, wishes, linked own listings, listings marked
//! unsuitable), read from and written to this desk's tables in one place. Open hints are not
//! carried: each desk raises them from the wishes and the listings it holds.
//!
//! A watched tenant's saved search is the agency's on the platform, so its id and opaque handle
//! travel with the customer: every desk shows the watch, and the desk that removes or unwatches
//! the tenant deletes the saved search. A desk that applies a change dropping a saved search
//! (a tombstone, an unwatch) also queues its deletion (`vault_unwatch`), done idempotently at
//! the next sync, in case the other desk could not.

use std::collections::BTreeMap;

use api_types::search::SearchCriteria;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::now_ms;
use crate::db::schema::{customers, hints, vault_unwatch};
use crate::error::ClientError;

/// The content of one vault record: a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerRecord {
    /// `owner` or `tenant`.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Phone, email, … as typed.
    pub contact: String,
    /// Staff's notes.
    #[serde(default)]
    pub notes: String,
    /// A tenant's wishes (normal form), as JSON.
    #[serde(default)]
    pub wishes: Option<serde_json::Value>,
    /// An owner's own listing keys.
    #[serde(default)]
    pub listing_keys: Vec<String>,
    /// Listings marked unsuitable for this tenant (office key, listing key), sorted.
    #[serde(default)]
    pub unsuitable: Vec<(String, String)>,
    /// A watched tenant's saved search on the platform (the agency's, named by the handle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch_id: Option<i64>,
    /// The opaque handle that names the tenant's saved search on the platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch_handle: Option<String>,
}

impl CustomerRecord {
    /// The bytes sealed into the vault (and hashed to tell whether it changed): serde's JSON of
    /// the struct, whose maps are sorted, so equal content gives equal bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// SHA-256 (hex) of [`to_bytes`](Self::to_bytes).
    pub fn hash(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, &self.to_bytes());
        digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }
}

type Row = (
    i32,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    Option<i64>,
    Option<String>,
);

/// Most ids in one `IN (…)` list.
const IDS_PER_QUERY: usize = 500;

/// The customers `ids` as vault records, by local id (missing ones are left out).
pub fn snapshot_of(
    conn: &mut SqliteConnection,
    ids: &[i32],
) -> Result<BTreeMap<i32, CustomerRecord>, ClientError> {
    let mut out = BTreeMap::new();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let rows: Vec<Row> = customers::table
            .filter(customers::id.eq_any(chunk))
            .select(COLUMNS)
            .load(conn)?;
        let marks: Vec<(i32, String, String)> = hints::table
            .filter(hints::state.eq("unsuitable"))
            .filter(hints::customer_id.eq_any(chunk))
            .select((hints::customer_id, hints::office_key, hints::listing_key))
            .load(conn)?;
        out.extend(records(rows, marks));
    }
    Ok(out)
}

/// The columns of a [`Row`].
const COLUMNS: (
    customers::id,
    customers::kind,
    customers::name,
    customers::contact,
    customers::notes,
    customers::wishes,
    customers::listing_keys,
    customers::watch_id,
    customers::watch_handle,
) = (
    customers::id,
    customers::kind,
    customers::name,
    customers::contact,
    customers::notes,
    customers::wishes,
    customers::listing_keys,
    customers::watch_id,
    customers::watch_handle,
);

/// Rows and unsuitable marks as records.
fn records(rows: Vec<Row>, marks: Vec<(i32, String, String)>) -> BTreeMap<i32, CustomerRecord> {
    let mut out: BTreeMap<i32, CustomerRecord> = rows
        .into_iter()
        .map(
            |(id, kind, name, contact, notes, wishes, keys, watch_id, watch_handle)| {
                let record = CustomerRecord {
                    kind,
                    name,
                    contact,
                    notes,
                    wishes: wishes.and_then(|w| serde_json::from_str(&w).ok()),
                    listing_keys: serde_json::from_str(&keys).unwrap_or_default(),
                    unsuitable: Vec::new(),
                    watch_id,
                    watch_handle,
                };
                (id, record)
            },
        )
        .collect();
    for (id, office, listing) in marks {
        if let Some(record) = out.get_mut(&id) {
            record.unsuitable.push((office, listing));
        }
    }
    for record in out.values_mut() {
        record.unsuitable.sort();
    }
    out
}

/// Every customer (or only `id`) as a vault record, by local id.
pub fn snapshot(
    conn: &mut SqliteConnection,
    id: Option<i32>,
) -> Result<BTreeMap<i32, CustomerRecord>, ClientError> {
    let mut q = customers::table.select(COLUMNS).into_boxed();
    let mut marks_q = hints::table
        .filter(hints::state.eq("unsuitable"))
        .select((hints::customer_id, hints::office_key, hints::listing_key))
        .into_boxed();
    if let Some(id) = id {
        q = q.filter(customers::id.eq(id));
        marks_q = marks_q.filter(hints::customer_id.eq(id));
    }
    let rows: Vec<Row> = q.load(conn)?;
    let marks: Vec<(i32, String, String)> = marks_q.load(conn)?;
    Ok(records(rows, marks))
}

/// Queues the deletion of saved search `watch_id` on the platform (done at the next sync).
fn queue_unwatch(conn: &mut SqliteConnection, watch_id: i64) -> Result<(), ClientError> {
    diesel::insert_or_ignore_into(vault_unwatch::table)
        .values((
            vault_unwatch::watch_id.eq(watch_id),
            vault_unwatch::queued_at.eq(now_ms()),
        ))
        .execute(conn)?;
    Ok(())
}

/// The saved search customer `id` is watched by here, if any.
fn watch_of(conn: &mut SqliteConnection, id: i32) -> Result<Option<i64>, ClientError> {
    Ok(customers::table
        .find(id)
        .select(customers::watch_id)
        .first::<Option<i64>>(conn)
        .optional()?
        .flatten())
}

/// Writes `record` over customer `id` (or as a new customer), with its unsuitable marks, and
/// raises a tenant's hints from the wishes; returns the local id. Runs inside the caller's
/// transaction.
pub fn apply(
    conn: &mut SqliteConnection,
    id: Option<i32>,
    record: &CustomerRecord,
) -> Result<i32, ClientError> {
    let now = now_ms();
    let wishes = record.wishes.as_ref().map(serde_json::Value::to_string);
    let keys = serde_json::to_string(&record.listing_keys).unwrap_or_else(|_| "[]".into());
    let id = match id {
        Some(id) => {
            if let Some(old) = watch_of(conn, id)?
                && record.watch_id != Some(old)
            {
                queue_unwatch(conn, old)?;
            }
            diesel::update(customers::table.find(id))
                .set((
                    customers::kind.eq(&record.kind),
                    customers::name.eq(&record.name),
                    customers::contact.eq(&record.contact),
                    customers::notes.eq(&record.notes),
                    customers::wishes.eq(&wishes),
                    customers::listing_keys.eq(&keys),
                    customers::watch_id.eq(record.watch_id),
                    customers::watch_handle.eq(&record.watch_handle),
                    customers::updated_at.eq(now),
                ))
                .execute(conn)?;
            id
        }
        None => diesel::insert_into(customers::table)
            .values((
                customers::kind.eq(&record.kind),
                customers::name.eq(&record.name),
                customers::contact.eq(&record.contact),
                customers::notes.eq(&record.notes),
                customers::wishes.eq(&wishes),
                customers::listing_keys.eq(&keys),
                customers::watch_id.eq(record.watch_id),
                customers::watch_handle.eq(&record.watch_handle),
                customers::created_at.eq(now),
                customers::updated_at.eq(now),
            ))
            .returning(customers::id)
            .get_result(conn)?,
    };
    diesel::delete(
        hints::table
            .filter(hints::customer_id.eq(id))
            .filter(hints::state.eq("unsuitable")),
    )
    .execute(conn)?;
    for (office, listing) in &record.unsuitable {
        diesel::insert_into(hints::table)
            .values((
                hints::customer_id.eq(id),
                hints::office_key.eq(office),
                hints::listing_key.eq(listing),
                hints::state.eq("unsuitable"),
                hints::created_at.eq(now),
            ))
            .on_conflict((hints::customer_id, hints::office_key, hints::listing_key))
            .do_update()
            .set(hints::state.eq("unsuitable"))
            .execute(conn)?;
    }
    let criteria: Option<SearchCriteria> = record
        .wishes
        .clone()
        .and_then(|w| serde_json::from_value(w).ok());
    match criteria {
        Some(wishes) if record.kind == "tenant" => super::refresh_for_tenant(conn, id, &wishes)?,
        _ => {
            diesel::delete(
                hints::table
                    .filter(hints::customer_id.eq(id))
                    .filter(hints::state.eq("open")),
            )
            .execute(conn)?;
        }
    }
    Ok(id)
}

/// Removes customer `id` with their hints (a tombstone from another desk), queuing the deletion
/// of their saved search on the platform. Runs inside the caller's transaction.
pub fn delete(conn: &mut SqliteConnection, id: i32) -> Result<(), ClientError> {
    if let Some(watch) = watch_of(conn, id)? {
        queue_unwatch(conn, watch)?;
    }
    diesel::delete(hints::table.filter(hints::customer_id.eq(id))).execute(conn)?;
    diesel::delete(customers::table.find(id)).execute(conn)?;
    Ok(())
}
