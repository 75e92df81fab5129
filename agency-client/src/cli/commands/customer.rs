//! `customer …`: owners and tenants on this desk, and a tenant's wishes watched on the platform
//! as the agency's saved search.

use super::open_session;
use crate::cli::Cli;
use crate::cli::args::CustomerCommand;
use crate::cli::render::{self, Output};
use crate::customers;
use crate::db::Store;
use crate::error::ClientError;

/// Runs a `customer` command.
pub fn run(store: &mut Store, cli: &Cli, cmd: &CustomerCommand) -> Result<Output, ClientError> {
    let conn = store.conn();
    let done = |c: customers::Customer| Ok(render::customer(&c));
    match cmd {
        CustomerCommand::AddOwner {
            name,
            contact,
            listings,
        } => done(customers::add_owner(conn, name, contact, listings)?),
        CustomerCommand::AddTenant {
            name,
            contact,
            wishes,
        } => done(customers::add_tenant(
            conn,
            name,
            contact,
            &wishes.to_criteria()?,
        )?),
        CustomerCommand::Wishes { id, wishes } => {
            done(customers::set_wishes(conn, *id, &wishes.to_criteria()?)?)
        }
        CustomerCommand::Edit {
            id,
            name,
            contact,
            listings,
            notes,
        } => {
            let changes = customers::CustomerChanges {
                name: name.clone(),
                contact: contact.clone(),
                listing_keys: listings
                    .as_deref()
                    .map(|l| l.split(',').map(str::to_owned).collect()),
                notes: notes.clone(),
            };
            done(customers::edit(conn, *id, &changes)?)
        }
        CustomerCommand::Remove { id, local_only } => remove(store, cli, *id, *local_only),
        CustomerCommand::List => Ok(render::customers(&customers::list(conn)?)),
        CustomerCommand::Watch { id } => watch(store, cli, *id),
        CustomerCommand::Watched => watched(store, cli),
        CustomerCommand::Unwatch { platform_id } => unwatch(store, cli, *platform_id),
    }
}

/// `customer remove ID`: removes the customer from this desk; a watched tenant's saved search
/// on the platform goes first (unless `--local-only`), and if the platform cannot be reached
/// nothing is removed.
fn remove(store: &mut Store, cli: &Cli, id: i32, local_only: bool) -> Result<Output, ClientError> {
    let customer = customers::get(store.conn(), id)?;
    let removed = match customer.watch_id {
        Some(w) if !local_only => {
            let not_removed = format!(
                "{} (customer {id}) is watched on the platform (saved search {w}), which must be \
                 deleted first, so nothing was removed. Add --local-only to remove them from \
                 this desk only (`customer unwatch {w}` deletes the saved search later)",
                customer.name
            );
            let mut session =
                open_session(store, cli).map_err(|e| e.nothing_done(not_removed.clone()))?;
            customers::unwatch_and_remove(store.conn(), &mut session, id)
                .map_err(|e| e.nothing_done(not_removed))?
        }
        _ => customers::remove(store.conn(), id, local_only)?,
    };
    Ok(render::customer_removed(&removed, customer.watch_id))
}

/// `customer watch ID`: keeps the customer's wishes on the platform as this agency's saved
/// search (watching again renews it).
fn watch(store: &mut Store, cli: &Cli, id: i32) -> Result<Output, ClientError> {
    // Refuse an unknown customer or an owner before asking for the passphrase.
    let customer = customers::get(store.conn(), id)?;
    if customer.wishes.is_none() {
        return Err(ClientError::input(
            "ID",
            format!(
                "{} (customer {id}) is an owner; only a tenant's wishes can be watched",
                customer.name
            ),
        ));
    }
    let not_watched = || {
        format!(
            "{} (customer {id}) is not watched and nothing is queued",
            customer.name
        )
    };
    let mut session = open_session(store, cli).map_err(|e| e.nothing_done(not_watched()))?;
    let saved = customers::watch(store.conn(), &mut session, id)
        .map_err(|e| e.nothing_done(not_watched()))?;
    Ok(render::watching(&saved, &customer))
}

/// `customer watched`: the agency's saved searches on the platform.
fn watched(store: &mut Store, cli: &Cli) -> Result<Output, ClientError> {
    let not_read = "the agency's saved searches were not read";
    let mut session = open_session(store, cli).map_err(|e| e.nothing_done(not_read))?;
    let all = customers::watched(&mut session).map_err(|e| e.nothing_done(not_read))?;
    Ok(render::watched(&all, &customers::list(store.conn())?))
}

/// `customer unwatch PLATFORM_ID`: deletes the agency's saved search on the platform.
fn unwatch(store: &mut Store, cli: &Cli, platform_id: i64) -> Result<Output, ClientError> {
    let not_deleted = || format!("saved search {platform_id} is not deleted and nothing is queued");
    let mut session = open_session(store, cli).map_err(|e| e.nothing_done(not_deleted()))?;
    customers::unwatch(store.conn(), &mut session, platform_id)
        .map_err(|e| e.nothing_done(not_deleted()))?;
    Ok(render::unwatched(platform_id))
}
