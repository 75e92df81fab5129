//! `hints`: listings that fit a tenant's wishes, and marking one unsuitable.

use crate::cli::render::{self, Output};
use crate::customers;
use crate::db::Store;
use crate::error::ClientError;

/// `hints [--all] [--dismiss ID]`.
pub fn run(store: &mut Store, all: bool, dismiss: Option<i32>) -> Result<Output, ClientError> {
    if let Some(id) = dismiss {
        customers::dismiss(store.conn(), id)?;
        return Ok(render::hint_dismissed(id));
    }
    Ok(render::hints(&customers::list_hints(store.conn(), all)?))
}
