//! The `platform` command line. Parsing only: each command calls into the library.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::ConfigOverrides;

/// The listing exchange platform: website, agency API over mutual TLS, certificate authority.
///
/// Configuration is layered: built-in defaults, then the TOML file given with --config, then
/// environment variables, then flags. With nothing configured it runs on a SQLite file under
/// ./data and writes mail as .eml files under ./data/mail.
#[derive(Debug, Parser)]
#[command(name = "platform", version, propagate_version = true)]
pub struct Cli {
    /// TOML configuration file (keys as in the README's configuration table)
    #[arg(
        long,
        short = 'c',
        env = "PLATFORM_CONFIG",
        value_name = "FILE",
        global = true
    )]
    pub config: Option<PathBuf>,

    /// Print records as JSON
    #[arg(long, global = true)]
    pub json: bool,

    #[command(flatten)]
    pub overrides: ConfigOverrides,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do; `serve` when none is given.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the platform: website, admin, agency API, background workers (the default)
    Serve,
    /// Apply database migrations and exit
    Migrate,
    /// Vet agencies: add, list, approve, reject, suspend, issue enrolment tokens
    #[command(subcommand)]
    Agency(AgencyCommand),
    /// The certificate register: list, revoke
    #[command(subcommand)]
    Cert(CertCommand),
    /// Operator actions on listings
    #[command(subcommand)]
    Listing(ListingCommand),
    /// Show the audit log, newest first
    Audit {
        /// Only entries of this action, e.g. cert.revoke
        #[arg(long)]
        action: Option<String>,
        /// How many entries
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

/// `platform agency …`
#[derive(Debug, Subcommand)]
pub enum AgencyCommand {
    /// Register an agency vetted by hand: active at once; prints its id, an enrolment token and
    /// the CA fingerprint (the token is also emailed to the contact)
    Add {
        /// Trading name
        #[arg(long)]
        name: String,
        /// Licence or registration number
        #[arg(long)]
        licence: String,
        /// Contact email
        #[arg(long)]
        email: String,
    },
    /// List agencies, oldest first
    List {
        /// Only agencies with this status (pending, active, rejected, suspended)
        #[arg(long)]
        status: Option<String>,
    },
    /// Approve an application: the agency becomes active and gets an enrolment token by email
    Approve {
        /// Agency id
        id: i64,
    },
    /// Reject a pending application (the applicant is told by email)
    Reject {
        /// Agency id
        id: i64,
    },
    /// Suspend an active agency: its requests are refused from now on
    Suspend {
        /// Agency id
        id: i64,
    },
    /// A new one-time enrolment token for an active agency (valid 7 days)
    Token {
        /// Agency id
        id: i64,
    },
}

/// `platform cert …`
#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// List certificates, newest first
    List {
        /// Only this agency's
        #[arg(long)]
        agency: Option<i64>,
    },
    /// Revoke a certificate; refused from the agency's next request, listed in the CRL
    Revoke {
        /// Serial number in hex (as `cert list` shows it)
        serial: String,
        /// unspecified, key_compromise, affiliation_changed, superseded, cessation_of_operation or privilege_withdrawn
        #[arg(long)]
        reason: String,
    },
}

/// `platform listing …`
#[derive(Debug, Subcommand)]
pub enum ListingCommand {
    /// Take a listing off the platform (the agency cannot change it afterwards); the take-down
    /// statement is signed with the platform's document-signing key, which desks check
    TakeDown {
        /// Listing id on the platform
        id: i64,
        /// Why (in the signed statement every desk receives, and in the audit log)
        #[arg(long)]
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
