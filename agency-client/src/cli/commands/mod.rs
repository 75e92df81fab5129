//! The commands, one file per family: each turns its arguments into domain values, calls the
//! library, and hands the result to [`super::render`] as an [`Output`](super::Output).
//!
//! * [`identity`]: `enroll`, `cert`;
//! * [`listing`]: `listing add|edit|status|withdraw|list`;
//! * [`sync`]: `publish`, `sync`, `updates` (the outbox and the change feed);
//! * [`search`]: `search` here, on the platform (`--remote`), and past searches;
//! * [`customer`]: `customer …`, including watching a tenant on the platform;
//! * [`hints`]: the `hints` command;
//! * [`vault`]: `vault …`, the agency vault (customers synced between desks).

pub mod customer;
pub mod hints;
pub mod identity;
pub mod listing;
pub mod search;
pub mod sync;
pub mod vault;

use super::Cli;
use crate::db::Store;
use crate::error::ClientError;
use crate::identity::{self as desk_identity, Session};

/// Unlocks the key (asking for the passphrase unless `AGENCY_CLIENT_PASSPHRASE` is set) and
/// opens a session with the platform; its notices (a renewal, …) go to stderr.
fn open_session(store: &mut Store, cli: &Cli) -> Result<Session, ClientError> {
    open_session_keeping_passphrase(store, cli).map(|(session, _)| session)
}

/// [`open_session`], also returning the passphrase (it unlocks the desk's vault key too).
fn open_session_keeping_passphrase(
    store: &mut Store,
    cli: &Cli,
) -> Result<(Session, zeroize::Zeroizing<String>), ClientError> {
    if desk_identity::load(store.conn())?.is_none() {
        return Err(ClientError::NotEnrolled);
    }
    let passphrase = zeroize::Zeroizing::new(desk_identity::passphrase_from_env_or_prompt(false)?);
    let session = Session::open(store, &passphrase, &cli.servers)?;
    for notice in &session.notices {
        eprintln!("{notice}");
    }
    Ok((session, passphrase))
}
