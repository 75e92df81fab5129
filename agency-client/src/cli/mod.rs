//! The command line. Every command prints plain text, or one JSON document with `--json`;
//! errors go to stderr in plain words (and, with `--json`, as `{"error": {...}}` on stdout).
//! Exit status: 0 done, 1 failed, 3 the platform could not be reached (work stays queued).
//!
//! * [`args`]: what the command line accepts (clap);
//! * [`commands`]: one file per command family: arguments to domain values, the library call,
//!   the result;
//! * [`render`]: every result as text and as JSON, and errors;
//! * here: [`main`] (what `main.rs` calls) and [`run`], which opens the desk database and hands
//!   each command to its family.

pub mod args;
pub mod commands;
pub mod render;

pub use args::{
    CertCommand, Cli, Command, CriteriaArgs, CustomerCommand, ListingCommand, ListingFields,
    SearchArgs,
};
pub use render::Output;

use clap::Parser;

use crate::db::Store;
use crate::error::ClientError;
use crate::identity;

/// Parses the process's arguments, runs the command, prints, and returns the exit status.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(output) => {
            render::print(&output, cli.json);
            0
        }
        Err(e) => {
            render::print_error(&e, cli.json);
            e.exit_code()
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: &Cli) -> Result<Output, ClientError> {
    let data_dir = match &cli.data_dir {
        Some(d) => d.clone(),
        None => crate::db::default_data_dir().ok_or_else(|| {
            ClientError::Storage("no per-user data directory is known here; give --data-dir".into())
        })?,
    };
    let mut store = Store::open(&data_dir)?;
    if let Command::Gui { view } = &cli.command {
        let view = crate::gui::View::from_name(view).ok_or_else(|| {
            ClientError::input(
                "--view",
                "must be listings, customers, hints, sync or certificate",
            )
        })?;
        crate::gui::run(store, cli.servers.clone(), view)?;
        return Ok(render::window_closed());
    }
    let result = dispatch(&mut store, cli);
    if let Err(ClientError::CertificateRevoked(note)) = &result {
        // Remembered, so `cert` and the window say so even when the platform is not asked.
        let _ = identity::record_revoked(store.conn(), note);
    }
    result
}

/// Hands every command but the window to its family, over the open desk database.
fn dispatch(store: &mut Store, cli: &Cli) -> Result<Output, ClientError> {
    use commands::{customer, hints, identity, listing, search, sync};
    match &cli.command {
        Command::Gui { .. } => unreachable!("the window is opened by `run`"),
        Command::Enroll {
            token,
            fingerprint,
            switch_agency,
            yes,
        } => identity::enroll(store, cli, token, fingerprint, *switch_agency, *yes),
        Command::Cert { action } => identity::cert(store, cli, action.as_ref()),
        Command::Listing(cmd) => listing::run(store, cmd),
        Command::Publish { keys } => sync::publish(store, cli, keys),
        Command::Sync => sync::sync(store, cli),
        Command::Updates => sync::updates(store, cli),
        Command::Search(args) => search::run(store, cli, args),
        Command::Customer(cmd) => customer::run(store, cli, cmd),
        Command::Hints { all, dismiss } => hints::run(store, *all, *dismiss),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_cli() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn a_token_may_start_with_a_hyphen() {
        // Tokens are URL-safe base64, so one in 64 starts with '-'.
        let cli = Cli::try_parse_from([
            "agency-client",
            "enroll",
            "--token",
            "-nQ2xk",
            "--fingerprint",
            "AB:CD",
        ])
        .unwrap();
        assert!(matches!(cli.command, Command::Enroll { token, .. } if token == "-nQ2xk"));
        assert!(
            Cli::try_parse_from([
                "agency-client",
                "enroll",
                "--token",
                "t",
                "--fingerprint",
                "f",
                "--yes"
            ])
            .is_err(),
            "--yes only with --switch-agency"
        );
    }
}
