//! A tenant's wishes kept on the platform as the agency's saved search, so matches from every
//! agency reach the agency's email while the desk is off; and removing a watched tenant, which
//! deletes that saved search first.
//!
//! Nothing personal leaves the desk: the saved search is named by an opaque handle
//! (`tenant-` and 8 random base32 characters, [`new_handle`]) that only this desk maps back to
//! the tenant; the platform and the agency's alert emails see the handle and the wishes only.

use api_types::api::{AgencySavedSearch, AgencySavedSearchRequest};
use diesel::prelude::*;

use super::{Customer, Removed, get, remove};
use crate::db::schema::customers;
use crate::error::ClientError;
use crate::identity::Session;

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

/// A new opaque handle for a tenant's saved search: `tenant-` and 8 random characters of the
/// base32 alphabet (RFC 4648), 40 bits, so handles of one agency do not collide in practice.
pub fn new_handle() -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut rng = rand::rng();
    let tail: String = (0..8)
        .map(|_| char::from(ALPHABET[rand::Rng::random_range(&mut rng, 0..32)]))
        .collect();
    format!("tenant-{tail}")
}

/// The name an older version of the desk gave a tenant's saved search (it carried the name);
/// watching such a tenant again renames it to the handle.
fn legacy_name(customer: &Customer) -> String {
    format!("{} (customer {})", customer.name, customer.id)
}

/// Keeps a tenant's wishes on the platform as the agency's saved search, named by the tenant's
/// opaque handle, so matches from every agency reach the agency's email while the desk is off.
/// Watching again updates (wishes) and renews the same saved search instead of adding one. The
/// saved search and its handle are remembered with the customer.
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
    let handle = customer.watch_handle.clone().unwrap_or_else(new_handle);
    let legacy = legacy_name(&customer);
    let existing = watched(session)?;
    // The one remembered here; else one named for the customer (watched by an older version).
    let found = existing
        .iter()
        .find(|s| Some(s.id) == customer.watch_id)
        .or_else(|| existing.iter().find(|s| s.name == legacy));
    let name = handle.clone();
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
        .set((
            customers::watch_id.eq(Some(saved.id)),
            customers::watch_handle.eq(Some(handle)),
        ))
        .execute(conn)?;
    Ok(saved)
}

/// The agency's saved searches on the platform (every desk's of the agency).
pub fn watched(session: &mut Session) -> Result<Vec<AgencySavedSearch>, ClientError> {
    session.client.get_json("/api/v1/saved-searches")
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
