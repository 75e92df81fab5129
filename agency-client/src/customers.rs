//! The agency's private customers: owners (linked to own listings) and tenants or buyers with
//! wishes, and the hints that tell staff a listing now fits a tenant's wishes.
//!
//! Hints follow [`SearchCriteria::matches`] exactly (the platform's semantics). A hint is made
//! whenever a listing arrives or changes and whenever a tenant's wishes change; a listing that
//! stops fitting (price up, withdrawn, taken down) drops its open hints; a hint marked
//! unsuitable is never raised again for that tenant and listing.

use api_types::ListingDocument;
use api_types::search::{ListingFacts, SearchCriteria};
use diesel::prelude::*;
use serde::Serialize;

use crate::db::now_ms;
use crate::db::schema::{customers, hints, shared_listings};
use crate::error::ClientError;

/// An owner or a tenant/buyer.
#[derive(Debug, Clone, Serialize)]
pub struct Customer {
    /// Local id.
    pub id: i32,
    /// `owner` or `tenant`.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Phone, email, … as typed.
    pub contact: String,
    /// A tenant's wishes, in normal form.
    pub wishes: Option<SearchCriteria>,
    /// An owner's own listing keys.
    pub listing_keys: Vec<String>,
    /// Open hints (tenants).
    pub open_hints: i64,
}

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

fn check_name(name: &str) -> Result<String, ClientError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ClientError::input(
            "--name",
            "must have 1 to 200 characters",
        ));
    }
    Ok(name.to_owned())
}

/// Checks wishes and puts them in normal form.
pub fn check_wishes(wishes: &SearchCriteria) -> Result<SearchCriteria, ClientError> {
    wishes.validate().map_err(|e| ClientError::InvalidInput {
        field: e.field,
        message: e.message,
    })?;
    Ok(wishes.normalized())
}

/// Adds an owner of own listings `listing_keys`.
pub fn add_owner(
    conn: &mut SqliteConnection,
    name: &str,
    contact: &str,
    listing_keys: &[String],
) -> Result<Customer, ClientError> {
    let name = check_name(name)?;
    let now = now_ms();
    let id: i32 = diesel::insert_into(customers::table)
        .values((
            customers::kind.eq("owner"),
            customers::name.eq(name),
            customers::contact.eq(contact.trim()),
            customers::listing_keys.eq(serde_json::to_string(listing_keys).unwrap_or_default()),
            customers::created_at.eq(now),
            customers::updated_at.eq(now),
        ))
        .returning(customers::id)
        .get_result(conn)?;
    get(conn, id)
}

/// Adds a tenant or buyer with `wishes` and raises hints for every listing that fits them, in
/// one transaction.
pub fn add_tenant(
    conn: &mut SqliteConnection,
    name: &str,
    contact: &str,
    wishes: &SearchCriteria,
) -> Result<Customer, ClientError> {
    let name = check_name(name)?;
    let wishes = check_wishes(wishes)?;
    let id = conn.immediate_transaction(|c| {
        let now = now_ms();
        let id: i32 = diesel::insert_into(customers::table)
            .values((
                customers::kind.eq("tenant"),
                customers::name.eq(name),
                customers::contact.eq(contact.trim()),
                customers::wishes.eq(Some(serde_json::to_string(&wishes).unwrap_or_default())),
                customers::created_at.eq(now),
                customers::updated_at.eq(now),
            ))
            .returning(customers::id)
            .get_result(c)?;
        refresh_for_tenant(c, id, &wishes)?;
        Ok::<_, ClientError>(id)
    })?;
    get(conn, id)
}

/// Replaces a tenant's wishes and recomputes the tenant's hints (open hints that no longer fit
/// go; unsuitable marks stay).
pub fn set_wishes(
    conn: &mut SqliteConnection,
    id: i32,
    wishes: &SearchCriteria,
) -> Result<Customer, ClientError> {
    let wishes = check_wishes(wishes)?;
    conn.immediate_transaction(|c| {
        let kind: Option<String> = customers::table
            .find(id)
            .select(customers::kind)
            .first(c)
            .optional()?;
        match kind.as_deref() {
            Some("tenant") => {}
            Some(_) => {
                return Err(ClientError::input(
                    "ID",
                    format!("customer {id} is an owner; only tenants have wishes"),
                ));
            }
            None => return Err(ClientError::NotFound(format!("there is no customer {id}"))),
        }
        diesel::update(customers::table.find(id))
            .set((
                customers::wishes.eq(Some(serde_json::to_string(&wishes).unwrap_or_default())),
                customers::updated_at.eq(now_ms()),
            ))
            .execute(c)?;
        refresh_for_tenant(c, id, &wishes)
    })?;
    get(conn, id)
}

/// One customer.
pub fn get(conn: &mut SqliteConnection, id: i32) -> Result<Customer, ClientError> {
    list_filtered(conn, Some(id))?
        .pop()
        .ok_or_else(|| ClientError::NotFound(format!("there is no customer {id}")))
}

/// Every customer, by id.
pub fn list(conn: &mut SqliteConnection) -> Result<Vec<Customer>, ClientError> {
    list_filtered(conn, None)
}

type CustomerRow = (i32, String, String, String, Option<String>, String);

fn list_filtered(
    conn: &mut SqliteConnection,
    id: Option<i32>,
) -> Result<Vec<Customer>, ClientError> {
    let mut q = customers::table
        .order(customers::id)
        .select((
            customers::id,
            customers::kind,
            customers::name,
            customers::contact,
            customers::wishes,
            customers::listing_keys,
        ))
        .into_boxed();
    if let Some(id) = id {
        q = q.filter(customers::id.eq(id));
    }
    let rows: Vec<CustomerRow> = q.load(conn)?;
    rows.into_iter()
        .map(|(id, kind, name, contact, wishes, keys)| {
            let open_hints = hints::table
                .filter(hints::customer_id.eq(id))
                .filter(hints::state.eq("open"))
                .count()
                .get_result(conn)?;
            Ok(Customer {
                id,
                kind,
                name,
                contact,
                wishes: wishes.and_then(|w| serde_json::from_str(&w).ok()),
                listing_keys: serde_json::from_str(&keys).unwrap_or_default(),
                open_hints,
            })
        })
        .collect()
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
fn refresh_for_tenant(
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
    for (office, key, _doc, verdict) in candidates {
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
                        .map(|d| d.list_price as i64)
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
