//! `publish`, `sync` and `updates`: the outbox of own changes and the change feed of everyone's
//! listings (`sync` then syncs the vault). Each needs the key; when the platform cannot be reached, queued work stays queued
//! (exit status 3).

use super::open_session;
use crate::cli::Cli;
use crate::cli::render::{self, Output};
use crate::db::Store;
use crate::error::ClientError;
use crate::{feed, listings};

/// `publish [KEY…]`: queues local changes (all, or the listed keys), with what a compromised key
/// signed, and sends the queue.
pub fn publish(store: &mut Store, cli: &Cli, keys: &[String]) -> Result<Output, ClientError> {
    let mut session = open_session(store, cli)?;
    let queued = listings::queue_changes(store.conn(), keys)?;
    let resigning = listings::queue_resigning(store.conn(), &mut session)?;
    let report = listings::drain(store.conn(), &mut session)?;
    Ok(render::published(&queued, &resigning, &report))
}

/// `sync`: sends the queue, then pulls everyone's listings (progress on stderr unless `--json`)
/// and the buyers' enquiries (each a new customer, a lead).
pub fn sync(store: &mut Store, cli: &Cli) -> Result<Output, ClientError> {
    let (mut session, passphrase) = super::open_session_keeping_passphrase(store, cli)?;
    let resigning = listings::queue_resigning(store.conn(), &mut session)?;
    let sent = listings::drain(store.conn(), &mut session)?;
    let json_mode = cli.json;
    let pulled = feed::pull(store, &mut session, &mut |done, total| {
        if !json_mode {
            eprintln!("pulled {done} of {total} updates");
        }
    })?;
    let mut output = render::synced(&resigning, &sent, &pulled);
    let enquiries = crate::enquiries::pull(store.conn(), &mut session);
    render::add_enquiries(&mut output, &enquiries);
    Ok(super::vault::after_sync(
        store,
        &mut session,
        &passphrase,
        output,
    ))
}

/// `updates`: how many updates wait on the platform, and how many own changes here.
pub fn updates(store: &mut Store, cli: &Cli) -> Result<Output, ClientError> {
    let not_counted = "the updates waiting on the platform were not counted";
    let mut session = open_session(store, cli).map_err(|e| e.nothing_done(not_counted))?;
    let count = feed::count(store, &mut session).map_err(|e| e.nothing_done(not_counted))?;
    let queued = listings::queue(store.conn())?.len();
    Ok(render::updates(&count, queued))
}
