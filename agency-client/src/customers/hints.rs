//! Hints: a listing that fits a tenant's wishes, raised when a listing arrives or changes and
//! when a tenant's wishes change, dropped when it stops fitting; one marked unsuitable is never
//! raised again for that tenant and listing. Only listings whose agency signature verified are
//! hinted.

use api_types::ListingDocument;
use api_types::search::{ListingFacts, SearchCriteria};
use diesel::prelude::*;
use serde::Serialize;

use crate::db::now_ms;
use crate::db::schema::{customers, hints, shared_listings};
use crate::error::ClientError;

/// A listing that fits a tenant's wishes.
#[derive(Debug, Clone, Serialize)]
pub struct Hint {
    /// Local id (give it to `hints --dismiss`).
    pub id: i32,
    /// The tenant.
    pub customer_id: i32,
    /// The tenant's name.
    pub customer_name: String,
    /// The listing's agency.
    pub office_key: String,
    /// The listing's key at that agency.
    pub listing_key: String,
    /// `open` or `unsuitable`.
    pub state: String,
    /// The listing's headline (empty once the listing is gone).
    pub title: String,
    /// Price.
    pub price: i64,
    /// City.
    pub city: String,
}

/// Every tenant with wishes, for matching a batch of listings.
pub(crate) fn tenants(
    conn: &mut SqliteConnection,
) -> Result<Vec<(i32, SearchCriteria)>, ClientError> {
    let rows: Vec<(i32, Option<String>)> = customers::table
        .filter(customers::kind.eq("tenant"))
        .select((customers::id, customers::wishes))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, w)| Some((id, serde_json::from_str(&w?).ok()?)))
        .collect())
}

/// Brings the hints of one listing up to date: `doc` is its current document, or `None` when it
/// is gone. Returns how many new hints were raised.
pub(crate) fn refresh_for_listing(
    conn: &mut SqliteConnection,
    tenants: &[(i32, SearchCriteria)],
    office_key: &str,
    listing_key: &str,
    doc: Option<&ListingDocument>,
) -> Result<usize, ClientError> {
    let facts = doc.map(ListingFacts::from_document);
    let mut raised = 0;
    let mut drop_for = Vec::new();
    for (tenant, wishes) in tenants {
        if facts.as_ref().is_some_and(|f| wishes.matches(f)) {
            raised += diesel::insert_or_ignore_into(hints::table)
                .values((
                    hints::customer_id.eq(tenant),
                    hints::office_key.eq(office_key),
                    hints::listing_key.eq(listing_key),
                    hints::state.eq("open"),
                    hints::created_at.eq(now_ms()),
                ))
                .execute(conn)?;
        } else {
            drop_for.push(*tenant);
        }
    }
    if facts.is_none() || !drop_for.is_empty() {
        let q = hints::table
            .filter(hints::office_key.eq(office_key))
            .filter(hints::listing_key.eq(listing_key))
            .filter(hints::state.eq("open"));
        if facts.is_none() {
            diesel::delete(q).execute(conn)?;
        } else {
            diesel::delete(q.filter(hints::customer_id.eq_any(drop_for))).execute(conn)?;
        }
    }
    Ok(raised)
}

/// Recomputes one tenant's open hints against every shared listing.
pub(super) fn refresh_for_tenant(
    conn: &mut SqliteConnection,
    id: i32,
    wishes: &SearchCriteria,
) -> Result<(), ClientError> {
    diesel::delete(
        hints::table
            .filter(hints::customer_id.eq(id))
            .filter(hints::state.eq("open")),
    )
    .execute(conn)?;
    let candidates = crate::search::candidates(conn, wishes)?;
    let now = now_ms();
    // Only listings whose agency signature verified are hinted.
    for (office, key, _doc, verdict, _) in candidates {
        if !verdict.is_verified() {
            continue;
        }
        diesel::insert_or_ignore_into(hints::table)
            .values((
                hints::customer_id.eq(id),
                hints::office_key.eq(&office),
                hints::listing_key.eq(&key),
                hints::state.eq("open"),
                hints::created_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Hints, newest first: open ones only unless `all`.
pub fn list_hints(conn: &mut SqliteConnection, all: bool) -> Result<Vec<Hint>, ClientError> {
    let mut q = hints::table
        .inner_join(customers::table)
        .left_join(
            shared_listings::table.on(shared_listings::office_key
                .eq(hints::office_key)
                .and(shared_listings::listing_key.eq(hints::listing_key))),
        )
        .order(hints::id.desc())
        .select((
            hints::id,
            hints::customer_id,
            customers::name,
            hints::office_key,
            hints::listing_key,
            hints::state,
            shared_listings::document.nullable(),
        ))
        .into_boxed();
    if !all {
        q = q.filter(hints::state.eq("open"));
    }
    type HintRow = (i32, i32, String, String, String, String, Option<String>);
    let rows: Vec<HintRow> = q.load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(id, customer_id, customer_name, office_key, listing_key, state, doc)| {
                let doc: Option<ListingDocument> = doc.and_then(|d| serde_json::from_str(&d).ok());
                Hint {
                    id,
                    customer_id,
                    customer_name,
                    office_key,
                    listing_key,
                    state,
                    title: doc.as_ref().map(|d| d.title.clone()).unwrap_or_default(),
                    price: doc
                        .as_ref()
                        .map(|d| d.list_price.get() as i64)
                        .unwrap_or_default(),
                    city: doc.map(|d| d.city).unwrap_or_default(),
                }
            },
        )
        .collect())
}

/// Marks a hint unsuitable: that listing is not hinted to that tenant again.
pub fn dismiss(conn: &mut SqliteConnection, id: i32) -> Result<(), ClientError> {
    let n = diesel::update(hints::table.find(id))
        .set(hints::state.eq("unsuitable"))
        .execute(conn)?;
    if n == 0 {
        return Err(ClientError::NotFound(format!("there is no hint {id}")));
    }
    Ok(())
}
