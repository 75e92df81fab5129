//! The agency's private customers: owners (linked to own listings) and tenants or buyers with
//! wishes, and the hints that tell staff a listing now fits a tenant's wishes.
//!
//! Hints follow [`SearchCriteria::matches`] exactly (the platform's semantics). A hint is made
//! whenever a listing arrives or changes and whenever a tenant's wishes change; a listing that
//! stops fitting (price up, withdrawn, taken down) drops its open hints; a hint marked
//! unsuitable is never raised again for that tenant and listing.

use api_types::ListingDocument;
use api_types::api::{AgencySavedSearch, AgencySavedSearchRequest};
use api_types::search::{ListingFacts, SearchCriteria};
use diesel::prelude::*;
use serde::Serialize;

use crate::db::now_ms;
use crate::db::schema::{customers, hints, own_listings, shared_listings};
use crate::error::ClientError;
use crate::identity::Session;

/// Most characters in a customer's name or contact.
const MAX_TEXT: usize = 200;

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
    /// The platform's saved search that watches the tenant's wishes (`customer watch`), if any.
    pub watch_id: Option<i64>,
}

/// What [`edit`] changes: each field given replaces the stored one, the others stay.
#[derive(Debug, Clone, Default)]
pub struct CustomerChanges {
    /// A new name.
    pub name: Option<String>,
    /// A new contact (empty clears it).
    pub contact: Option<String>,
    /// The owner's own listing keys, replacing the linked ones (owners only; empty unlinks all).
    pub listing_keys: Option<Vec<String>>,
}

/// A customer removed by [`remove`], as they were, with what went with them.
#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    /// The customer as stored before removal.
    pub customer: Customer,
    /// Hints deleted with them (open ones and those marked unsuitable).
    pub hints: usize,
    /// The platform saved search deleted with them, if they were watched.
    pub unwatched: Option<i64>,
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

/// A customer's name, trimmed: not empty, at most [`MAX_TEXT`] characters.
pub fn check_name(name: &str) -> Result<String, ClientError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ClientError::input(
            "--name",
            "is empty; give the customer's name",
        ));
    }
    if name.chars().count() > MAX_TEXT {
        return Err(ClientError::input(
            "--name",
            format!("is too long; use at most {MAX_TEXT} characters"),
        ));
    }
    Ok(name.to_owned())
}

/// A customer's contact (phone, email, … as typed), trimmed: at most [`MAX_TEXT`] characters.
pub fn check_contact(contact: &str) -> Result<String, ClientError> {
    let contact = contact.trim();
    if contact.chars().count() > MAX_TEXT {
        return Err(ClientError::input(
            "--contact",
            format!("is too long; use at most {MAX_TEXT} characters"),
        ));
    }
    Ok(contact.to_owned())
}

/// An owner's listing keys, trimmed and without repeats: each must be one of the agency's own
/// listings (withdrawn ones included). `field` names the option in the error.
pub fn check_listing_keys(
    conn: &mut SqliteConnection,
    field: &str,
    keys: &[String],
) -> Result<Vec<String>, ClientError> {
    let mut checked: Vec<String> = Vec::new();
    for key in keys.iter().map(|k| k.trim()).filter(|k| !k.is_empty()) {
        if checked.iter().any(|k| k == key) {
            continue;
        }
        let known: i64 = own_listings::table
            .filter(own_listings::listing_key.eq(key))
            .count()
            .get_result(conn)?;
        if known == 0 {
            return Err(ClientError::input(
                field,
                format!(
                    "{key:?} is not one of this agency's listings; an owner can only be linked \
                     to your own listings (see `agency-client listing list`)"
                ),
            ));
        }
        checked.push(key.to_owned());
    }
    Ok(checked)
}

/// The kind and name of customer `id`, or a "no such customer" error.
fn kind_and_name(conn: &mut SqliteConnection, id: i32) -> Result<(String, String), ClientError> {
    customers::table
        .find(id)
        .select((customers::kind, customers::name))
        .first(conn)
        .optional()?
        .ok_or_else(|| no_such_customer(id))
}

fn no_such_customer(id: i32) -> ClientError {
    ClientError::NotFound(format!(
        "there is no customer {id}; it may have been removed (see `agency-client customer list`)"
    ))
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
    let contact = check_contact(contact)?;
    let id = conn.immediate_transaction(|c| {
        let listing_keys = check_listing_keys(c, "--listing", listing_keys)?;
        let now = now_ms();
        let id: i32 = diesel::insert_into(customers::table)
            .values((
                customers::kind.eq("owner"),
                customers::name.eq(name),
                customers::contact.eq(contact),
                customers::listing_keys
                    .eq(serde_json::to_string(&listing_keys).unwrap_or_default()),
                customers::created_at.eq(now),
                customers::updated_at.eq(now),
            ))
            .returning(customers::id)
            .get_result(c)?;
        Ok::<_, ClientError>(id)
    })?;
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
    let contact = check_contact(contact)?;
    let wishes = check_wishes(wishes)?;
    let id = conn.immediate_transaction(|c| {
        let now = now_ms();
        let id: i32 = diesel::insert_into(customers::table)
            .values((
                customers::kind.eq("tenant"),
                customers::name.eq(name),
                customers::contact.eq(contact),
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
        let (kind, name) = kind_and_name(c, id)?;
        if kind != "tenant" {
            return Err(ClientError::input(
                "ID",
                format!("{name} (customer {id}) is an owner; only tenants have wishes"),
            ));
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

/// Changes a customer's name, contact and (owners) linked listings, in one transaction; fields
/// not given stay as they are. Refuses an empty change, an empty name, listings for a tenant and
/// keys that are not the agency's own listings, storing nothing.
pub fn edit(
    conn: &mut SqliteConnection,
    id: i32,
    changes: &CustomerChanges,
) -> Result<Customer, ClientError> {
    if changes.name.is_none() && changes.contact.is_none() && changes.listing_keys.is_none() {
        return Err(ClientError::input(
            "ID",
            "nothing to change; give --name, --contact or --listings",
        ));
    }
    let name = changes.name.as_deref().map(check_name).transpose()?;
    let contact = changes.contact.as_deref().map(check_contact).transpose()?;
    conn.immediate_transaction(|c| {
        let (kind, old_name) = kind_and_name(c, id)?;
        let keys = match &changes.listing_keys {
            Some(_) if kind != "owner" => {
                return Err(ClientError::input(
                    "--listings",
                    format!(
                        "{old_name} (customer {id}) is a tenant; only owners are linked to listings"
                    ),
                ));
            }
            Some(keys) => Some(check_listing_keys(c, "--listings", keys)?),
            None => None,
        };
        let target = customers::table.find(id);
        if let Some(name) = name {
            diesel::update(target)
                .set(customers::name.eq(name))
                .execute(c)?;
        }
        if let Some(contact) = contact {
            diesel::update(target)
                .set(customers::contact.eq(contact))
                .execute(c)?;
        }
        if let Some(keys) = keys {
            diesel::update(target)
                .set(customers::listing_keys.eq(serde_json::to_string(&keys).unwrap_or_default()))
                .execute(c)?;
        }
        diesel::update(target)
            .set(customers::updated_at.eq(now_ms()))
            .execute(c)?;
        Ok::<_, ClientError>(())
    })?;
    get(conn, id)
}

/// Removes a customer from this desk with everything kept about them here (their hints, open
/// and marked unsuitable, and their links to listings, which live in the customer's row), in one
/// transaction: customer data is private and nothing of it is left behind.
///
/// A tenant watched on the platform is refused unless `forget_watch`: the platform's saved
/// search carries their name and wishes, so [`unwatch_and_remove`] deletes it first. With
/// `forget_watch` the saved search is left on the platform (it expires by itself).
pub fn remove(
    conn: &mut SqliteConnection,
    id: i32,
    forget_watch: bool,
) -> Result<Removed, ClientError> {
    conn.immediate_transaction(|c| {
        let customer = get(c, id)?;
        if let (Some(w), false) = (customer.watch_id, forget_watch) {
            return Err(ClientError::input(
                "ID",
                format!(
                    "{} (customer {id}) is watched on the platform (saved search {w}); that saved \
                     search has to be deleted with them, which needs the platform",
                    customer.name
                ),
            ));
        }
        let hints = diesel::delete(hints::table.filter(hints::customer_id.eq(id))).execute(c)?;
        diesel::delete(customers::table.find(id)).execute(c)?;
        Ok(Removed {
            customer,
            hints,
            unwatched: None,
        })
    })
}

/// Removes a customer everywhere: first the saved search that watches them on the platform (one
/// the platform no longer has counts as deleted), then everything on this desk ([`remove`]). If
/// the platform cannot be reached or refuses, nothing is removed.
pub fn unwatch_and_remove(
    conn: &mut SqliteConnection,
    session: &mut Session,
    id: i32,
) -> Result<Removed, ClientError> {
    let customer = get(conn, id)?;
    let Some(w) = customer.watch_id else {
        return remove(conn, id, false);
    };
    let r = session
        .client
        .delete(&format!("/api/v1/saved-searches/{w}"))?;
    if !r.status().is_success() && r.status() != reqwest::StatusCode::NOT_FOUND {
        return Err(crate::net::api_error(r));
    }
    let mut removed = remove(conn, id, true)?;
    removed.unwatched = Some(w);
    Ok(removed)
}

/// The name a tenant's saved search has on the platform.
pub fn watch_name(customer: &Customer) -> String {
    format!("{} (customer {})", customer.name, customer.id)
}

/// Keeps a tenant's wishes on the platform as the agency's saved search, so matches from every
/// agency reach the agency's email while the desk is off. Watching again updates (name, wishes)
/// and renews the same saved search instead of adding one. The saved search is remembered
/// with the customer.
pub fn watch(
    conn: &mut SqliteConnection,
    session: &mut Session,
    id: i32,
) -> Result<AgencySavedSearch, ClientError> {
    let customer = get(conn, id)?;
    let Some(wishes) = customer.wishes.clone() else {
        return Err(ClientError::input(
            "ID",
            format!(
                "{} (customer {id}) is an owner; only a tenant's wishes can be watched",
                customer.name
            ),
        ));
    };
    let name = watch_name(&customer);
    let existing: Vec<AgencySavedSearch> = session.client.get_json("/api/v1/saved-searches")?;
    // The one remembered here; else one named for the customer (watched by an older version).
    let found = existing
        .iter()
        .find(|s| Some(s.id) == customer.watch_id)
        .or_else(|| existing.iter().find(|s| s.name == name));
    let body = AgencySavedSearchRequest {
        name,
        criteria: wishes,
    };
    let saved: AgencySavedSearch = match found {
        Some(s) => {
            let path = format!("/api/v1/saved-searches/{}", s.id);
            session
                .client
                .put_json::<_, serde_json::Value>(&path, &body)?;
            session
                .client
                .post_json(&format!("{path}/renew"), &serde_json::json!({}))?
        }
        None => session.client.post_json("/api/v1/saved-searches", &body)?,
    };
    diesel::update(customers::table.find(id))
        .set(customers::watch_id.eq(Some(saved.id)))
        .execute(conn)?;
    Ok(saved)
}

/// Deletes the agency's saved search `platform_id` on the platform, and forgets it for the
/// customer it watched.
pub fn unwatch(
    conn: &mut SqliteConnection,
    session: &mut Session,
    platform_id: i64,
) -> Result<(), ClientError> {
    let r = session
        .client
        .delete(&format!("/api/v1/saved-searches/{platform_id}"))?;
    let gone = r.status().is_success() || r.status() == reqwest::StatusCode::NOT_FOUND;
    if gone {
        diesel::update(customers::table.filter(customers::watch_id.eq(platform_id)))
            .set(customers::watch_id.eq(None::<i64>))
            .execute(conn)?;
    }
    if !r.status().is_success() {
        return Err(crate::net::api_error(r));
    }
    Ok(())
}

/// One customer.
pub fn get(conn: &mut SqliteConnection, id: i32) -> Result<Customer, ClientError> {
    list_filtered(conn, Some(id))?
        .pop()
        .ok_or_else(|| no_such_customer(id))
}

/// Every customer, by id.
pub fn list(conn: &mut SqliteConnection) -> Result<Vec<Customer>, ClientError> {
    list_filtered(conn, None)
}

type CustomerRow = (
    i32,
    String,
    String,
    String,
    Option<String>,
    String,
    Option<i64>,
);

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
            customers::watch_id,
        ))
        .into_boxed();
    if let Some(id) = id {
        q = q.filter(customers::id.eq(id));
    }
    let rows: Vec<CustomerRow> = q.load(conn)?;
    rows.into_iter()
        .map(|(id, kind, name, contact, wishes, keys, watch_id)| {
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
                watch_id,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Store;
    use api_types::TransactionType;

    fn desk() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        for key in ["OWN-1", "OWN-2"] {
            crate::listings::add(store.conn(), ListingDocument::example(key)).unwrap();
        }
        (dir, store)
    }

    fn rent_in(city: &str) -> SearchCriteria {
        SearchCriteria {
            transaction_type: Some(TransactionType::Rent),
            city: Some(city.into()),
            ..SearchCriteria::default()
        }
    }

    fn keys(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn an_owner_is_linked_only_to_own_listings() {
        let (_d, mut store) = desk();
        let conn = store.conn();
        let e = add_owner(conn, "Olga", "", &keys(&["OWN-1", "NOPE"])).unwrap_err();
        assert_eq!(e.field(), Some("--listing"));
        assert!(
            e.to_string()
                .contains("\"NOPE\" is not one of this agency's listings")
        );
        assert!(list(conn).unwrap().is_empty(), "nothing stored");
        let o = add_owner(conn, " Olga ", " 900 ", &keys(&["OWN-1", " OWN-1"])).unwrap();
        assert_eq!((o.name.as_str(), o.contact.as_str()), ("Olga", "900"));
        assert_eq!(o.listing_keys, ["OWN-1"]);
    }

    #[test]
    fn names_must_not_be_empty_or_too_long() {
        let (_d, mut store) = desk();
        let conn = store.conn();
        let e = add_tenant(conn, "  ", "", &rent_in("porto")).unwrap_err();
        assert_eq!(e.field(), Some("--name"));
        assert!(e.to_string().contains("is empty"), "{e}");
        let long = "x".repeat(201);
        assert!(add_owner(conn, &long, "", &[]).is_err());
        assert_eq!(
            add_owner(conn, "Olga", &long, &[]).unwrap_err().field(),
            Some("--contact")
        );
        assert!(list(conn).unwrap().is_empty());
    }

    #[test]
    fn editing_changes_only_what_is_given() {
        let (_d, mut store) = desk();
        let conn = store.conn();
        let o = add_owner(conn, "Olga", "olga@example.org", &keys(&["OWN-1"])).unwrap();
        let changed = edit(
            conn,
            o.id,
            &CustomerChanges {
                name: Some("Olga Silva".into()),
                listing_keys: Some(keys(&["OWN-2", "OWN-1"])),
                ..CustomerChanges::default()
            },
        )
        .unwrap();
        assert_eq!(changed.name, "Olga Silva");
        assert_eq!(changed.contact, "olga@example.org", "not given, kept");
        assert_eq!(changed.listing_keys, ["OWN-2", "OWN-1"]);
        let cleared = edit(
            conn,
            o.id,
            &CustomerChanges {
                contact: Some(String::new()),
                listing_keys: Some(Vec::new()),
                ..CustomerChanges::default()
            },
        )
        .unwrap();
        assert_eq!(cleared.contact, "");
        assert!(cleared.listing_keys.is_empty());
        assert_eq!(cleared.name, "Olga Silva");
    }

    #[test]
    fn a_refused_edit_stores_nothing() {
        let (_d, mut store) = desk();
        let conn = store.conn();
        let o = add_owner(conn, "Olga", "1", &keys(&["OWN-1"])).unwrap();
        let t = add_tenant(conn, "Tom", "2", &rent_in("porto")).unwrap();
        let nothing = edit(conn, o.id, &CustomerChanges::default()).unwrap_err();
        assert!(
            nothing.to_string().contains("nothing to change"),
            "{nothing}"
        );
        let unknown = edit(
            conn,
            999,
            &CustomerChanges {
                name: Some("X".into()),
                ..CustomerChanges::default()
            },
        )
        .unwrap_err();
        assert_eq!(unknown.code(), "not_found");
        assert!(unknown.to_string().contains("there is no customer 999"));
        let tenant_listings = edit(
            conn,
            t.id,
            &CustomerChanges {
                name: Some("Tomás".into()),
                listing_keys: Some(keys(&["OWN-1"])),
                ..CustomerChanges::default()
            },
        )
        .unwrap_err();
        assert_eq!(tenant_listings.field(), Some("--listings"));
        assert!(tenant_listings.to_string().contains("is a tenant"));
        let bad_key = edit(
            conn,
            o.id,
            &CustomerChanges {
                name: Some("Olga Silva".into()),
                listing_keys: Some(keys(&["OWN-9"])),
                ..CustomerChanges::default()
            },
        )
        .unwrap_err();
        assert_eq!(bad_key.field(), Some("--listings"));
        let empty_name = edit(
            conn,
            o.id,
            &CustomerChanges {
                name: Some(" ".into()),
                contact: Some("changed".into()),
                ..CustomerChanges::default()
            },
        )
        .unwrap_err();
        assert_eq!(empty_name.field(), Some("--name"));
        assert_eq!(get(conn, o.id).unwrap().name, "Olga");
        assert_eq!(get(conn, o.id).unwrap().contact, "1");
        assert_eq!(get(conn, o.id).unwrap().listing_keys, ["OWN-1"]);
        assert_eq!(get(conn, t.id).unwrap().name, "Tom");
    }

    /// A verified shared listing in Porto, so a tenant there gets a hint.
    fn porto_listing(conn: &mut SqliteConnection, key: &str) {
        let mut doc = ListingDocument::example(key);
        doc.city = "Porto".into();
        doc.transaction_type = TransactionType::Rent;
        let page = api_types::api::ChangesPage {
            events: vec![api_types::api::ChangeEvent {
                entity_event_sequence: 1,
                event_type: api_types::api::ChangeKind::Created,
                list_office_key: "42".into(),
                list_office_name: "Other Agency".into(),
                listing_key: key.into(),
                version: 1,
                event_timestamp: crate::listings::timestamp_now(),
                listing: Some(api_types::ListingObject::new(doc).unwrap()),
                signature: None,
                certificate_serial: None,
                status: "active".into(),
                takedown: None,
            }],
            next_after: 1,
            has_more: false,
        };
        let mut report = crate::feed::PullReport::default();
        crate::feed::apply_page(
            conn,
            &page,
            &[crate::feed::EventCheck::listing(
                crate::signatures::Verdict::verified(),
            )],
            &mut report,
        )
        .unwrap();
    }

    #[test]
    fn removing_a_tenant_deletes_their_hints_and_marks_and_nothing_else() {
        let (_d, mut store) = desk();
        let conn = store.conn();
        porto_listing(conn, "S-1");
        let tom = add_tenant(conn, "Tom", "", &rent_in("porto")).unwrap();
        let tina = add_tenant(conn, "Tina", "", &rent_in("porto")).unwrap();
        let olga = add_owner(conn, "Olga", "", &keys(&["OWN-1"])).unwrap();
        let tom_hint = list_hints(conn, false)
            .unwrap()
            .into_iter()
            .find(|h| h.customer_id == tom.id)
            .unwrap();
        dismiss(conn, tom_hint.id).unwrap();
        let removed = remove(conn, tom.id, false).unwrap();
        assert_eq!(removed.customer.name, "Tom");
        assert_eq!(removed.hints, 1, "the unsuitable mark goes too");
        let left: Vec<i32> = hints::table.select(hints::customer_id).load(conn).unwrap();
        assert_eq!(left, [tina.id], "Tina's hint stays");
        let ids: Vec<i32> = list(conn).unwrap().iter().map(|c| c.id).collect();
        assert_eq!(ids, [tina.id, olga.id]);
        assert_eq!(
            crate::listings::list(conn).unwrap().len(),
            2,
            "listings stay"
        );
        let again = remove(conn, tom.id, false).unwrap_err();
        assert_eq!(again.code(), "not_found");
        let removed = remove(conn, olga.id, false).unwrap();
        assert_eq!(removed.customer.listing_keys, ["OWN-1"]);
        assert_eq!(crate::listings::list(conn).unwrap().len(), 2);
    }

    #[test]
    fn a_watched_tenant_is_removed_only_with_the_watch() {
        let (_d, mut store) = desk();
        let conn = store.conn();
        let tom = add_tenant(conn, "Tom", "", &rent_in("porto")).unwrap();
        diesel::update(customers::table.find(tom.id))
            .set(customers::watch_id.eq(Some(12i64)))
            .execute(conn)
            .unwrap();
        let e = remove(conn, tom.id, false).unwrap_err();
        assert!(
            e.to_string()
                .contains("is watched on the platform (saved search 12)"),
            "{e}"
        );
        assert!(get(conn, tom.id).is_ok(), "kept");
        remove(conn, tom.id, true).unwrap();
        assert!(list(conn).unwrap().is_empty());
    }

    #[test]
    fn an_owner_has_no_wishes() {
        let (_d, mut store) = desk();
        let conn = store.conn();
        let o = add_owner(conn, "Olga", "", &[]).unwrap();
        let e = set_wishes(conn, o.id, &rent_in("porto")).unwrap_err();
        assert!(e.to_string().contains("Olga (customer"), "{e}");
        assert!(get(conn, o.id).unwrap().wishes.is_none());
    }
}
