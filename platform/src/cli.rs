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
    /// The certificate authority: status, root key custody (export, remove, rollover), key encryption
    #[command(subcommand)]
    Ca(CaCommand),
    /// Operator accounts of the console
    #[command(subcommand)]
    Admin(AdminCommand),
    /// The mail outbox: what waits and failed, retry, discard
    #[command(subcommand)]
    Mail(MailCommand),
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
    /// List agencies, oldest first, with their live certificates
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
    /// Reject a pending application (the applicant is told by email, with the reason)
    Reject {
        /// Agency id
        id: i64,
        /// Why, told to the applicant in the email and kept in the audit log
        #[arg(long)]
        reason: Option<String>,
    },
    /// Suspend an active agency: its requests are refused from now on
    Suspend {
        /// Agency id
        id: i64,
    },
    /// A new one-time enrolment token for an active agency (valid 7 days). With --desk, the
    /// token is for that desk and only that desk's older unused token stops working (tokens for
    /// several new desks can be out at once); without, the older unused tokens without a desk
    /// name stop working
    Token {
        /// Agency id
        id: i64,
        /// The desk the token is for, e.g. "Porto office" (1 to 40 letters, digits, spaces,
        /// '-', '_', '.'); `agency show` lists desks by this name
        #[arg(long, value_name = "NAME")]
        desk: Option<String>,
    },
    /// One agency: its desks (certificate lineages, with the name their token was issued for)
    /// with their state (active, revoked, expired; and in the vault), live certificates, and
    /// its unused enrolment tokens
    Show {
        /// Agency id
        id: i64,
    },
}

/// `platform admin …`
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// A new operator: prints a one-time link (24 hours) to the running server's console where
    /// they choose a password; the second factor (TOTP) is set up at the first sign-in. For an
    /// operator who never used their link, a new link
    Create {
        /// The operator's email address
        email: String,
    },
}

/// `platform mail …`
#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Mails waiting and failed, sent and failed in the last hour
    Status {
        /// How many of each list
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// Send a failed (or discarded) mail again, now, with its attempts reset
    Retry {
        /// Mail id (as `mail status` shows it)
        id: i64,
    },
    /// Never send a waiting or failed mail
    Discard {
        /// Mail id (as `mail status` shows it)
        id: i64,
    },
}

/// `platform cert …`
#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// List certificates, newest first, with revocation reason, compromise date and desk (lineage)
    List {
        /// Only this agency's
        #[arg(long)]
        agency: Option<i64>,
    },
    /// Revoke a certificate and every certificate renewed from it (for key_compromise also every
    /// certificate of the same key); refused from the agency's next request, listed in the CRL,
    /// announced in the change feed. On a revoked certificate, --reason key_compromise raises its
    /// reason
    Revoke {
        /// Serial number in hex (as `cert list` shows it)
        serial: String,
        /// unspecified, key_compromise, affiliation_changed, superseded, cessation_of_operation or privilege_withdrawn
        #[arg(long)]
        reason: String,
        /// With key_compromise only: since when the key may have been in other hands (RFC 3339
        /// or YYYY-MM-DD, UTC; not in the future). Listings received from then on are held from
        /// search and alerts; without it, everything the key signed is
        #[arg(long, value_name = "TIME")]
        compromised_since: Option<String>,
    },
}

/// `platform ca …`
#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Fingerprints, validity and days left of the root, issuing and server certificates, where
    /// the keys are (root online or offline) and whether they are encrypted, current CRL numbers
    Status,
    /// Write the root certificate and the root key, encrypted with a passphrase (from
    /// PLATFORM_CA_EXPORT_PASSPHRASE, else asked), to a new file (0600) to keep offline
    ExportRoot {
        /// The file to create (never overwritten)
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Delete the root key from DATA_DIR/ca (needs an export made before); the platform keeps
    /// working with the issuing key alone
    RemoveRoot {
        /// Confirm the removal
        #[arg(long)]
        yes: bool,
    },
    /// A new issuing CA signed by the exported root key (used in memory only, never written);
    /// the old issuing CA keeps validating the certificates it issued until they expire
    Rollover {
        /// The root key export (passphrase from PLATFORM_CA_EXPORT_PASSPHRASE, else asked)
        #[arg(long, value_name = "FILE")]
        root_key: PathBuf,
    },
    /// Sign the root's CRL again (valid a year), with the exported root key or the one in
    /// DATA_DIR/ca
    SignRootCrl {
        /// The root key export, when the root is offline
        #[arg(long, value_name = "FILE")]
        root_key: Option<PathBuf>,
    },
    /// Encrypt the CA's keys in DATA_DIR/ca with PLATFORM_CA_PASSPHRASE (each file replaced
    /// atomically)
    EncryptKeys,
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
    /// Put a taken-down listing back as its agency last signed it; desks add it again from the
    /// change feed, and saved searches it matches are told it is back on the market
    Restore {
        /// Listing id on the platform
        id: i64,
        /// Why (in the audit log)
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
