//! `enroll` and `cert`: this desk's identity with the platform.

use super::open_session;
use crate::cli::Cli;
use crate::cli::args::CertCommand;
use crate::cli::render::{self, Output};
use crate::db::Store;
use crate::error::ClientError;
use crate::identity::{self, Session};
use crate::listings;

/// `enroll`: enrols this desk, then signs anew what a compromised key of this agency signed.
pub fn enroll(
    store: &mut Store,
    cli: &Cli,
    token: &str,
    fingerprint: &str,
    switch_agency: bool,
    yes: bool,
) -> Result<Output, ClientError> {
    if cli.servers.is_empty() {
        return Err(ClientError::input(
            "--server",
            "give at least one --server URL",
        ));
    }
    let passphrase = identity::passphrase_from_env_or_prompt(true)?;
    let mut confirm = |change: &identity::AgencyChange| yes || confirm_switch(change);
    let switch: Option<&mut dyn FnMut(&identity::AgencyChange) -> bool> = if switch_agency {
        Some(&mut confirm)
    } else {
        None
    };
    let status = identity::enroll(store, &cli.servers, token, fingerprint, &passphrase, switch)?;
    // Enrolling again after a key compromise: what the old key signed is signed anew.
    let resigned = resign_after_enrolment(store, &passphrase);
    Ok(render::enrolled(&status, resigned))
}

/// After an enrolment: signs anew, with the new key, the own listings the platform holds signed
/// with a certificate revoked for a key compromise, and sends them at once.
fn resign_after_enrolment(
    store: &mut Store,
    passphrase: &str,
) -> Result<(listings::Resigning, listings::DrainReport), ClientError> {
    let mut session = Session::open(store, passphrase, &[])?;
    let resigning = listings::queue_resigning(store.conn(), &mut session)?;
    if resigning.is_empty() {
        return Ok((resigning, listings::DrainReport::default()));
    }
    let sent = listings::drain(store.conn(), &mut session)?;
    Ok((resigning, sent))
}

/// Asks on the terminal whether this desk may change agency; false without a terminal.
fn confirm_switch(change: &identity::AgencyChange) -> bool {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        eprintln!(
            "the token is for agency {} ({}), not {} ({}): confirm with --yes when no terminal is available",
            change.new_id, change.new_name, change.current_id, change.current_name
        );
        return false;
    }
    eprint!(
        "This desk works for agency {} ({}). The token makes it a desk of agency {} ({}); \
         {} own listing(s) of {} will be removed from this desk (they stay on the platform).\n\
         Type the new agency's id ({}) to confirm: ",
        change.current_id,
        change.current_name,
        change.new_id,
        change.new_name,
        change.own_listings,
        change.current_name,
        change.new_id
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    answer.trim() == change.new_id.to_string()
}

/// `cert [status|renew]`: the desk's certificate, checked with the platform when it answers (a
/// revoked certificate shows as REVOKED, also offline once learned).
pub fn cert(
    store: &mut Store,
    cli: &Cli,
    action: Option<&CertCommand>,
) -> Result<Output, ClientError> {
    let renew = matches!(action, Some(CertCommand::Renew));
    let (identity, renewed, offline) = match open_session(store, cli) {
        Ok(mut session) => {
            let renewed = if renew {
                let passphrase = identity::passphrase_from_env_or_prompt(false)?;
                session.renew(store, &passphrase)?;
                true
            } else {
                session
                    .notices
                    .first()
                    .is_some_and(|n| n.starts_with("certificate renewed"))
            };
            let offline = match identity::refresh_revocation(store, &mut session) {
                Ok(_) => None,
                Err(ClientError::Unreachable { url }) => Some(format!(
                    "the platform at {url} did not answer: status as last known"
                )),
                Err(e @ ClientError::CertificateRefused { .. }) => Some(e.to_string()),
                Err(e) => return Err(e),
            };
            (session.identity, renewed, offline)
        }
        // Unlocking renews a certificate that is due; the platform then refuses a revoked one.
        Err(ClientError::CertificateRevoked(note)) if !renew => {
            identity::record_revoked(store.conn(), &note)?;
            let id = identity::load(store.conn())?.ok_or(ClientError::NotEnrolled)?;
            (id, false, None)
        }
        Err(e) => return Err(e),
    };
    let status = identity::status(store.conn(), &identity, renewed)?;
    Ok(render::certificate(&status, renewed, offline))
}
