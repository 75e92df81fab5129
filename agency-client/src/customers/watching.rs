//! A tenant's wishes kept on the platform as the agency's saved search, so matches from every
//! agency reach the agency's email while the desk is off; and removing a watched tenant, which
//! deletes that saved search first.

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
    let existing = watched(session)?;
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
