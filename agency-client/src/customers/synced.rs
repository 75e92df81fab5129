//! A customer as the vault carries it between the agency's desks: everything staff keep about
//! them here (kind, name, contact, notes, wishes, linked own listings, listings marked
//! unsuitable), read from and written to this desk's tables in one place. Open hints are not
//! carried: each desk raises them from the wishes and the listings it holds.
//!
//! A watched tenant's saved search stays with the desk that watches it (`watch_id`,
//! `watch_handle` are not carried).

use std::collections::BTreeMap;

use api_types::search::SearchCriteria;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::now_ms;
use crate::db::schema::{customers, hints};
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

type Row = (i32, String, String, String, String, Option<String>, String);

/// Every customer (or only `id`) as a vault record, by local id.
pub fn snapshot(
    conn: &mut SqliteConnection,
    id: Option<i32>,
) -> Result<BTreeMap<i32, CustomerRecord>, ClientError> {
    let mut q = customers::table
        .select((
            customers::id,
            customers::kind,
            customers::name,
            customers::contact,
            customers::notes,
            customers::wishes,
            customers::listing_keys,
        ))
        .into_boxed();
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
    let mut out: BTreeMap<i32, CustomerRecord> = rows
        .into_iter()
        .map(|(id, kind, name, contact, notes, wishes, keys)| {
            let record = CustomerRecord {
                kind,
                name,
                contact,
                notes,
                wishes: wishes.and_then(|w| serde_json::from_str(&w).ok()),
                listing_keys: serde_json::from_str(&keys).unwrap_or_default(),
                unsuitable: Vec::new(),
            };
            (id, record)
        })
        .collect();
    for (id, office, listing) in marks {
        if let Some(record) = out.get_mut(&id) {
            record.unsuitable.push((office, listing));
        }
    }
    for record in out.values_mut() {
        record.unsuitable.sort();
    }
    Ok(out)
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
            diesel::update(customers::table.find(id))
                .set((
                    customers::kind.eq(&record.kind),
                    customers::name.eq(&record.name),
                    customers::contact.eq(&record.contact),
                    customers::notes.eq(&record.notes),
                    customers::wishes.eq(&wishes),
                    customers::listing_keys.eq(&keys),
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

/// Removes customer `id` with their hints (a tombstone from another desk). Runs inside the
/// caller's transaction.
pub fn delete(conn: &mut SqliteConnection, id: i32) -> Result<(), ClientError> {
    diesel::delete(hints::table.filter(hints::customer_id.eq(id))).execute(conn)?;
    diesel::delete(customers::table.find(id)).execute(conn)?;
    Ok(())
}
