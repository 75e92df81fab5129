//! The agency's private customers: owners (linked to own listings) and tenants or buyers with
//! wishes, and the hints that tell staff a listing now fits a tenant's wishes.
//!
//! Hints follow [`SearchCriteria::matches`] exactly (the platform's semantics). A hint is made
//! whenever a listing arrives or changes and whenever a tenant's wishes change; a listing that
//! stops fitting (price up, withdrawn, taken down) drops its open hints; a hint marked
//! unsuitable is never raised again for that tenant and listing.
//!
//! * here: customers (owners, tenants) and their checks;
//! * `hints.rs`: raising, dropping and listing hints;
//! * `watching.rs`: a tenant's wishes kept on the platform as the agency's saved search.

mod hints;
pub mod synced;
mod watching;

pub use hints::{Hint, dismiss, list_hints};
pub(crate) use hints::{refresh_for_listing, tenants};
pub use watching::{new_handle, unwatch, unwatch_and_remove, watch, watched};

use api_types::search::SearchCriteria;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::now_ms;
use crate::db::schema::{customers, hints as hints_table, own_listings};
use crate::error::ClientError;
use hints::refresh_for_tenant;

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
    /// The opaque label of that saved search on the platform (`tenant-…`), once watched.
    pub watch_handle: Option<String>,
    /// Staff's notes.
    pub notes: String,
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
    /// New notes (empty clears them).
    pub notes: Option<String>,
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

/// A customer's name, trimmed: not empty, at most `MAX_TEXT` (200) characters.
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

/// A customer's contact (phone, email, … as typed), trimmed: at most `MAX_TEXT` (200) characters.
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

/// Most characters in a customer's notes.
const MAX_NOTES: usize = 4_000;

/// Staff's notes about a customer, trimmed: at most `MAX_NOTES` (4,000) characters.
pub fn check_notes(notes: &str) -> Result<String, ClientError> {
    let notes = notes.trim();
    if notes.chars().count() > MAX_NOTES {
        return Err(ClientError::input(
            "--notes",
            format!("is too long; use at most {MAX_NOTES} characters"),
        ));
    }
    Ok(notes.to_owned())
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
    if changes.name.is_none()
        && changes.contact.is_none()
        && changes.listing_keys.is_none()
        && changes.notes.is_none()
    {
        return Err(ClientError::input(
            "ID",
            "nothing to change; give --name, --contact, --notes or --listings",
        ));
    }
    let name = changes.name.as_deref().map(check_name).transpose()?;
    let contact = changes.contact.as_deref().map(check_contact).transpose()?;
    let notes = changes.notes.as_deref().map(check_notes).transpose()?;
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
        if let Some(notes) = notes {
            diesel::update(target)
                .set(customers::notes.eq(notes))
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
/// search carries their wishes, so [`unwatch_and_remove`] deletes it first. With
/// `forget_watch` the saved search is left on the platform (it expires by itself; it carries
/// only the opaque handle and the wishes, never the name).
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
        let hints = diesel::delete(hints_table::table.filter(hints_table::customer_id.eq(id)))
            .execute(c)?;
        diesel::delete(customers::table.find(id)).execute(c)?;
        Ok(Removed {
            customer,
            hints,
            unwatched: None,
        })
    })
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
    Option<String>,
    String,
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
            customers::watch_handle,
            customers::notes,
        ))
        .into_boxed();
    if let Some(id) = id {
        q = q.filter(customers::id.eq(id));
    }
    let rows: Vec<CustomerRow> = q.load(conn)?;
    rows.into_iter()
        .map(
            |(id, kind, name, contact, wishes, keys, watch_id, watch_handle, notes)| {
                let open_hints = hints_table::table
                    .filter(hints_table::customer_id.eq(id))
                    .filter(hints_table::state.eq("open"))
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
                    watch_handle,
                    notes,
                })
            },
        )
        .collect()
}

#[cfg(test)]
mod tests;
