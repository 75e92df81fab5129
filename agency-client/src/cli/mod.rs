//! The command line. Every command prints plain text, or one JSON document with `--json`;
//! errors go to stderr in plain words (and, with `--json`, as `{"error": {...}}` on stdout).
//! Exit status: 0 done, 1 failed, 2 the command line was not understood (clap refused it), 3
//! the platform could not be reached (work stays queued). A closed stdout ends it quietly.
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
    SearchArgs, VaultCommand,
};
pub use render::Output;

use std::ffi::OsString;
use std::io::{self, Write};

use clap::Parser;

use crate::db::Store;
use crate::error::ClientError;
use crate::identity;

/// Exit status of a command line that clap refused (an unknown option, a value that is not a
/// number, a missing argument): 2, as clap's own, and `{"error": {"code": "usage"}}` with `--json`.
pub const EXIT_USAGE: i32 = 2;

/// Parses the process's arguments, runs the command, prints, and returns the exit status.
/// Every outcome keeps the documented contract: a refused command line is an error like any
/// other (JSON on stdout under `--json`, exit [`EXIT_USAGE`]), and a reader that stopped
/// reading (`agency-client search --history | true`) ends the program quietly with the status
/// of the command, which has done its work by then (0 when it succeeded).
pub fn main() -> i32 {
    let args: Vec<OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return refused(&e, wants_json(&args)),
    };
    let (printed, status) = match run(&cli) {
        Ok(output) => (render::print(&output, cli.json), output.exit),
        Err(e) => (render::print_error(&e, cli.json), e.exit_code()),
    };
    match printed {
        Ok(()) => status,
        // The reader went away (a pipe closed early): nothing is lost, the work is done.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => status,
        Err(e) => {
            let _ = writeln!(io::stderr(), "error: cannot print the result: {e}");
            1
        }
    }
}

/// Whether the raw command line asks for `--json` (before any `--`): what clap would have
/// parsed, for the command lines it refuses.
fn wants_json(args: &[OsString]) -> bool {
    args.iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--json")
}

/// Prints what clap refused (or `--help`/`--version`, which are not errors) and returns the exit
/// status. Without `--json`, clap's own words and usage on stderr; with it, the error as
/// [`render::print_error_parts`] prints every error (code `usage`, the option as `field`).
fn refused(e: &clap::Error, json: bool) -> i32 {
    use clap::error::ErrorKind;
    if !e.use_stderr() || !json {
        // Help and version on stdout (exit 0); errors with clap's usage on stderr.
        let _ = e.print();
        return match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
            _ => EXIT_USAGE,
        };
    }
    let (message, field) = usage_error(e);
    // Like every other error: one line on stderr, the document on stdout.
    let _ = render::print_error_parts(&message, "usage", field.as_deref(), true);
    EXIT_USAGE
}

/// What clap refused, in one line without clap's usage and hint (`invalid value 'abc' for
/// '--price <PRICE>': …`, `the following required arguments were not provided: --name <NAME>`),
/// and the option or argument to blame (`--price <PRICE>` → `--price`).
fn usage_error(e: &clap::Error) -> (String, Option<String>) {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let message = if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        "a command is missing; see --help".to_owned()
    } else {
        let rendered = e.render().to_string();
        let words: Vec<&str> = rendered
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .map(str::trim)
            .collect();
        let message = words.join(" ");
        message
            .strip_prefix("error: ")
            .unwrap_or(&message)
            .to_owned()
    };
    let arg = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => Some(arg.as_str()),
        Some(ContextValue::Strings(args)) => args.first().map(String::as_str),
        _ => None,
    };
    let field = arg
        .and_then(|a| a.split_whitespace().next())
        .map(str::to_owned);
    (message, field)
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
    use commands::{customer, hints, identity, listing, search, sync, vault};
    match &cli.command {
        Command::Gui { .. } => unreachable!("the window is opened by `run`"),
        Command::Enroll {
            token,
            fingerprint,
            switch_agency,
            yes,
        } => identity::enroll(store, cli, token, fingerprint, *switch_agency, *yes),
        Command::Cert { action } => identity::cert(store, cli, action.as_ref()),
        Command::Listing(cmd) => listing::run(store, cli, cmd),
        Command::Publish { keys } => sync::publish(store, cli, keys),
        Command::Sync => sync::sync(store, cli),
        Command::Updates => sync::updates(store, cli),
        Command::Search(args) => search::run(store, cli, args),
        Command::Customer(cmd) => customer::run(store, cli, cmd),
        Command::Hints { all, dismiss } => hints::run(store, *all, *dismiss),
        Command::Vault(cmd) => vault::run(store, cli, cmd),
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
    fn json_is_seen_in_a_command_line_clap_refuses() {
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(wants_json(&args(&[
            "agency-client",
            "--price",
            "x",
            "--json"
        ])));
        assert!(wants_json(&args(&["agency-client", "--json", "listing"])));
        assert!(!wants_json(&args(&[
            "agency-client",
            "listing",
            "--",
            "--json"
        ])));
        assert!(!wants_json(&args(&["--json"])), "not the program's name");
    }

    #[test]
    fn a_usage_error_is_one_line_naming_the_option() {
        let e = Cli::try_parse_from(["agency-client", "listing", "edit", "--price", "abc"])
            .unwrap_err();
        let (message, field) = usage_error(&e);
        assert!(
            message.starts_with("invalid value 'abc' for '--price <PRICE>'"),
            "{message}"
        );
        assert!(
            !message.contains('\n') && !message.contains("Usage"),
            "{message}"
        );
        assert_eq!(field.as_deref(), Some("--price"));
        let e = Cli::try_parse_from(["agency-client", "customer", "add-owner"]).unwrap_err();
        let (message, field) = usage_error(&e);
        assert_eq!(
            message,
            "the following required arguments were not provided: --name <NAME>"
        );
        assert_eq!(field.as_deref(), Some("--name"));
    }

    #[test]
    fn negative_numbers_are_values_not_options() {
        let cli =
            Cli::try_parse_from(["agency-client", "listing", "edit", "--price", "-5"]).unwrap();
        assert!(
            matches!(cli.command, Command::Listing(ListingCommand::Edit(f)) if f.price == Some(-5))
        );
        let e = Cli::try_parse_from(["agency-client", "search", "--min-price", "-5"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation, "{e}");
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
