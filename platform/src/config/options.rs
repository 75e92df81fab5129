//! Every option that can be given by environment variable and flag, declared once: its flag (the
//! field name), variable, value name, `--help` line, the TOML key it overrides, and its row of the
//! README's configuration table. [`config_options!`] turns the list into the clap arguments of
//! [`ConfigOverrides`], [`ConfigOverrides::apply`] and [`OptionDoc`] rows; the options a TOML file
//! alone sets, and the variables read only from the environment (secrets), are listed beside it so
//! that the whole table is generated here ([`documented_options`]).
// The help lines are clap's `--help` text: their `[default: …]` is not a link.
#![allow(rustdoc::broken_intra_doc_links)]

use std::borrow::Cow;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::{Config, LogFormat, SmtpTls};

/// One row of the README's configuration table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionDoc {
    /// The TOML key (`section.name`), empty when the option is not in the file.
    pub key: &'static str,
    /// The environment variable, empty when there is none.
    pub env: &'static str,
    /// The command-line flag, empty when there is none.
    pub flag: Cow<'static, str>,
    /// The default, as the README words it (Markdown).
    pub default: &'static str,
    /// What it is for, as the README words it (Markdown).
    pub what: &'static str,
}

impl OptionDoc {
    /// The row as the README writes it.
    pub fn markdown(&self) -> String {
        let code = |s: &str| {
            if s.is_empty() {
                String::new()
            } else {
                format!("`{s}`")
            }
        };
        let cells = [
            code(self.key),
            code(self.env),
            code(&self.flag),
            self.default.to_owned(),
            self.what.to_owned(),
        ];
        let mut row = String::from("|");
        for cell in cells {
            if cell.is_empty() {
                row.push_str(" |");
            } else {
                row.push_str(&format!(" {cell} |"));
            }
        }
        row
    }
}

/// Declares the options set by file, environment variable and flag. Each entry:
///
/// ```text
/// /// --help line
/// field: Type => toml.key [how],
///     env "VARIABLE", value "VALUE_NAME",
///     default "README default", what "README description"
///     (, clap(more clap argument settings))?;
/// ```
///
/// The flag is the field name with dashes. `how` says how a given value overrides the file:
/// `set` (the key's type is `Type`), `some` (the key is an `Option<Type>`), `some_nonempty` (an
/// `Option<String>` an empty or blank value unsets).
macro_rules! config_options {
    ($(
        $(#[doc = $help:literal])+
        $field:ident: $ty:ty => $($key:ident).+ [$how:ident],
            env $env:literal, value $value_name:literal,
            default $default:literal,
            what $what:literal
            $(, clap($($clap:tt)*))?;
    )*) => {
        /// Options given by flag or environment variable; each overrides the file and the
        /// defaults (a flag overrides its variable).
        #[derive(Debug, Clone, Default, clap::Args)]
        pub struct ConfigOverrides {
            $(
                $(#[doc = $help])+
                #[arg(long, env = $env, value_name = $value_name, global = true $(, $($clap)*)?)]
                pub $field: Option<$ty>,
            )*
        }

        impl ConfigOverrides {
            /// Writes every option given over `config`.
            pub fn apply(&self, config: &mut Config) {
                $(
                    if let Some(v) = &self.$field {
                        config.$($key).+ = config_options!(@how $how v);
                    }
                )*
            }

            /// The README rows of the options declared here, in order.
            pub fn documented() -> Vec<OptionDoc> {
                vec![$(
                    OptionDoc {
                        key: stringify!($($key).+),
                        env: $env,
                        flag: Cow::Owned(format!("--{}", stringify!($field).replace('_', "-"))),
                        default: $default,
                        what: $what,
                    },
                )*]
            }
        }
    };
    (@how set $v:ident) => { Clone::clone($v) };
    (@how some $v:ident) => { Some(Clone::clone($v)) };
    (@how some_nonempty $v:ident) => {
        Some(Clone::clone($v)).filter(|s: &String| !s.trim().is_empty())
    };
}

config_options! {
    /// Data directory (SQLite file, CA keys, mail written to files) [default: ./data]
    data_dir: PathBuf => data_dir [set],
        env "PLATFORM_DATA_DIR", value "DIR",
        default "`./data`",
        what "SQLite file, CA keys, mail files";
    /// Database: postgres://USER@HOST:PORT/DB or sqlite://PATH [default: sqlite://DATA_DIR/platform.db]
    database_url: String => database.url [some],
        env "DATABASE_URL", value "URL",
        default "`sqlite://DATA_DIR/platform.db`",
        what "`postgres://USER@HOST:PORT/DB` or `sqlite://PATH`",
        clap(hide_env_values = true);
    /// Largest number of pooled database connections [default: 8]
    db_pool_size: u32 => database.pool_size [set],
        env "PLATFORM_DB_POOL_SIZE", value "N",
        default "`8`",
        what "pooled database connections";
    /// Database connection and lock wait timeout in milliseconds [default: 5000]
    db_timeout_ms: u64 => database.timeout_ms [set],
        env "PLATFORM_DB_TIMEOUT_MS", value "MS",
        default "`5000`",
        what "wait for a connection or a SQLite write lock";
    /// Website listen address [default: 127.0.0.1:8080]
    web_listen: SocketAddr => web.listen [set],
        env "PLATFORM_WEB_LISTEN", value "ADDR",
        default "`127.0.0.1:8080`",
        what "website, `/healthz`, `/readyz`";
    /// Operator console and /metrics listen address (keep it private) [default: 127.0.0.1:8081]
    admin_listen: SocketAddr => admin.listen [set],
        env "PLATFORM_ADMIN_LISTEN", value "ADDR",
        default "`127.0.0.1:8081`",
        what "operator console and `/metrics` (keep it on loopback or a private network)";
    /// Public address of the website, used in links in emails [default: http://127.0.0.1:8080]
    public_url: String => web.public_url [set],
        env "PLATFORM_PUBLIC_URL", value "URL",
        default "`http://127.0.0.1:8080`",
        what "address used in links in emails";
    /// Secure session cookie (__Host-session, Secure) [default: true when the public URL is https://]
    secure_cookies: bool => web.secure_cookies [some],
        env "PLATFORM_SECURE_COOKIES", value "BOOL",
        default "`true` when `public_url` is `https://`",
        what "session cookie `__Host-session` + `Secure` (else `session`, for plain-HTTP development)",
        clap(num_args = 0..=1, default_missing_value = "true");
    /// Take the client address from the last X-Forwarded-For entry (only behind a proxy that sets it) [default: false]
    trust_forwarded_for: bool => web.trust_forwarded_for [set],
        env "PLATFORM_TRUST_FORWARDED_FOR", value "BOOL",
        default "`false`",
        what "take the client address for the rate limits from the last `X-Forwarded-For` entry (only behind a proxy that appends it); when off, an `https://` public URL with a loopback or private listen address is warned about at start",
        clap(num_args = 0..=1, default_missing_value = "true");
    /// Agency API (mutual TLS) listen address [default: 127.0.0.1:8443]
    agency_listen: SocketAddr => agency.listen [set],
        env "PLATFORM_AGENCY_LISTEN", value "ADDR",
        default "`127.0.0.1:8443`",
        what "agency API (mutual TLS)";
    /// Names in the agency port's server certificate, comma separated [default: localhost,127.0.0.1]
    agency_server_names: Vec<String> => agency.server_names [set],
        env "PLATFORM_AGENCY_SERVER_NAMES", value "NAMES",
        default "`localhost,127.0.0.1`",
        what "names in the agency port's certificate",
        clap(value_delimiter = ',');
    /// Public address of the agency API, sent to agencies with their enrolment token [default: https://127.0.0.1:8443]
    agency_public_url: String => agency.public_url [set],
        env "PLATFORM_AGENCY_PUBLIC_URL", value "URL",
        default "`https://127.0.0.1:8443`",
        what "agency API address sent to agencies with their token";
    /// Organisation named in the CA certificates (used when the CA is created) [default: Listing Exchange]
    ca_organization: String => ca.organization [set],
        env "PLATFORM_CA_ORGANIZATION", value "NAME",
        default "`Listing Exchange`",
        what "organisation in the CA certificates (used when the CA is created)";
    /// Validity of agency client certificates in days [default: 90]
    ca_client_validity_days: u32 => ca.client_validity_days [set],
        env "PLATFORM_CA_CLIENT_VALIDITY_DAYS", value "DAYS",
        default "`90`",
        what "validity of agency client certificates (never past the issuing CA's end)";
    /// Base URL of the CA's downloads named in certificates (CRL distribution point, CA issuers) [default: the agency public URL]
    ca_public_url: String => ca.public_url [some_nonempty],
        env "PLATFORM_CA_PUBLIC_URL", value "URL",
        default "`agency.public_url`",
        what "base URL written into certificates as CRL distribution point and CA-issuers address (`/ca/...` under it)";
    /// Start with unencrypted CA keys under a production (https://) configuration [default: false]
    ca_allow_unencrypted_keys: bool => ca.allow_unencrypted_keys [set],
        env "PLATFORM_CA_ALLOW_UNENCRYPTED_KEYS", value "BOOL",
        default "`false`",
        what "start although the CA keys are stored unencrypted under a production configuration (`web.public_url` is `https://`)",
        clap(num_args = 0..=1, default_missing_value = "true");
    /// Renew the agency port's server certificate with fewer days than this left (or under a third of its life) [default: 30]
    ca_server_renew_days: u32 => ca.server_renew_days [set],
        env "PLATFORM_CA_SERVER_RENEW_DAYS", value "DAYS",
        default "`30`",
        what "renew the agency port's server certificate (while running) when fewer days are left, or under a third of its life";
    /// Seconds between the CA's upkeep runs (server certificate renewal, CRL refresh, expiry warnings) [default: 3600]
    ca_check_interval_secs: u64 => ca.check_interval_secs [set],
        env "PLATFORM_CA_CHECK_INTERVAL_SECS", value "SECS",
        default "`3600`",
        what "how often the CA's upkeep runs: server certificate renewal, CRL refresh, expiry metrics and warnings";
    /// Log filter, e.g. info or platform=debug [default: info]
    log: String => log.filter [set],
        env "PLATFORM_LOG", value "FILTER",
        default "`info`",
        what "`tracing` filter, e.g. `platform=debug`";
    /// Log line format [default: pretty]
    log_format: LogFormat => log.format [set],
        env "PLATFORM_LOG_FORMAT", value "FORMAT",
        default "`pretty`",
        what "`pretty` or `json`";
    /// From address of emails [default: Listing Exchange <noreply@localhost>]
    mail_from: String => mail.from [set],
        env "PLATFORM_MAIL_FROM", value "ADDRESS",
        default "`Listing Exchange <noreply@localhost>`",
        what "From address of every email";
    /// SMTP server host; unset writes mail as .eml files under DATA_DIR/mail (password: PLATFORM_SMTP_PASSWORD)
    smtp_host: String => mail.smtp_host [some_nonempty],
        env "PLATFORM_SMTP_HOST", value "HOST",
        default "unset: `.eml` files under `DATA_DIR/mail`",
        what "SMTP server; sent through a connection pool";
    /// SMTP server port [default: 25, 587 or 465 by --smtp-tls]
    smtp_port: u16 => mail.smtp_port [some],
        env "PLATFORM_SMTP_PORT", value "PORT",
        default "25 / 587 / 465 by `smtp_tls`",
        what "SMTP port";
    /// SMTP transport security [default: starttls]
    smtp_tls: SmtpTls => mail.smtp_tls [set],
        env "PLATFORM_SMTP_TLS", value "MODE",
        default "`starttls`",
        what "`none`, `starttls` (required) or `tls` (implicit)";
    /// SMTP user name (the password comes only from PLATFORM_SMTP_PASSWORD)
    smtp_username: String => mail.smtp_username [some],
        env "PLATFORM_SMTP_USERNAME", value "USER",
        default "unset",
        what "SMTP user";
    /// PEM file of extra CA certificates trusted for the SMTP server (a private relay's CA)
    smtp_ca_file: PathBuf => mail.smtp_ca_file [some],
        env "PLATFORM_SMTP_CA_FILE", value "FILE",
        default "unset",
        what "PEM of extra CAs trusted for the SMTP server's certificate (a relay with a private CA); the system's roots are always trusted";
    /// Pooled SMTP connections [default: 4]
    smtp_pool_size: u32 => mail.smtp_pool_size [set],
        env "PLATFORM_SMTP_POOL_SIZE", value "N",
        default "`4`",
        what "pooled SMTP connections (= mails sent at once)";
    /// Timeout of one SMTP command in seconds [default: 30]
    smtp_timeout_secs: u64 => mail.smtp_timeout_secs [set],
        env "PLATFORM_SMTP_TIMEOUT_SECS", value "SECS",
        default "`30`",
        what "timeout of one SMTP command";
    /// Seconds listing matches wait to be batched into one email per recipient [default: 60]
    mail_batch_window_secs: u64 => mail.batch_window_secs [set],
        env "PLATFORM_MAIL_BATCH_WINDOW_SECS", value "SECS",
        default "`60`",
        what "matches wait this long so one recipient's go out as one email";
    /// Hour (UTC) at which daily digests go out [default: 7]
    mail_digest_hour: u8 => mail.digest_hour_utc [set],
        env "PLATFORM_MAIL_DIGEST_HOUR", value "HOUR",
        default "`7`",
        what "hour (UTC) of the daily digest for users who chose it";
    /// Most listings shown in one email [default: 10]
    mail_max_listings: u32 => mail.max_listings_per_email [set],
        env "PLATFORM_MAIL_MAX_LISTINGS", value "N",
        default "`10`",
        what "listings shown per email; the rest behind a \"see all\" link";
    /// Delivery attempts before a mail is marked failed [default: 8]
    mail_max_attempts: u32 => mail.max_attempts [set],
        env "PLATFORM_MAIL_MAX_ATTEMPTS", value "N",
        default "`8`",
        what "attempts before a mail is marked `failed` (5xx: at once)";
    /// First retry delay in milliseconds, doubled per attempt [default: 30000]
    mail_retry_base_ms: u64 => mail.retry_base_ms [set],
        env "PLATFORM_MAIL_RETRY_BASE_MS", value "MS",
        default "`30000`",
        what "first retry delay, doubled per attempt (at most 6 h)";
    /// How often the mail worker looks for due mail, in milliseconds [default: 1000]
    mail_poll_interval_ms: u64 => mail.poll_interval_ms [set],
        env "PLATFORM_MAIL_POLL_INTERVAL_MS", value "MS",
        default "`1000`",
        what "how often the worker looks for due mail";
    /// Seconds a worker's lease on a mail lasts unless renewed; a crashed worker's mail is taken over after it [default: 30]
    mail_claim_timeout_secs: u64 => mail.claim_timeout_secs [set],
        env "PLATFORM_MAIL_CLAIM_TIMEOUT_SECS", value "SECS",
        default "`30`",
        what "lease on mail being composed or sent, renewed every third of it while the worker works; after it lapses, a crashed worker's mail is sent by another (the same message, same Message-ID)";
    /// `/readyz` is red while the SMTP server does not accept a connection [default: false]
    mail_ready_requires_smtp: bool => mail.ready_requires_smtp [set],
        env "PLATFORM_MAIL_READY_REQUIRES_SMTP", value "BOOL",
        default "`false`",
        what "`/readyz` also checks that the SMTP server accepts a connection (red while it does not)",
        clap(num_args = 0..=1, default_missing_value = "true");
}

/// Variables read only from the environment (secrets are never in a file, a flag, `--help` or a
/// log), and the configuration file's own flag.
const ENVIRONMENT_ONLY: [OptionDoc; 4] = [
    OptionDoc {
        key: "",
        env: "PLATFORM_CA_PASSPHRASE",
        flag: Cow::Borrowed(""),
        default: "(none: keys unencrypted, 0600)",
        what: "encrypts the CA's private keys at rest (PBKDF2-HMAC-SHA256, about a second per try); environment only; required in production unless `ca.allow_unencrypted_keys`",
    },
    OptionDoc {
        key: "",
        env: "PLATFORM_CA_EXPORT_PASSPHRASE",
        flag: Cow::Borrowed(""),
        default: "(asked on the terminal)",
        what: "passphrase of the root key export (`platform ca export-root`, `rollover`, `sign-root-crl`); environment only",
    },
    OptionDoc {
        key: "",
        env: "PLATFORM_SMTP_PASSWORD",
        flag: Cow::Borrowed(""),
        default: "unset",
        what: "SMTP password: environment only, never logged",
    },
    OptionDoc {
        key: "",
        env: "PLATFORM_CONFIG",
        flag: Cow::Borrowed("--config"),
        default: "",
        what: "the TOML file itself",
    },
];

/// Every row of the README's configuration table: the options of [`ConfigOverrides`], those only
/// a file sets, and the variables only the environment gives.
pub fn documented_options() -> Vec<OptionDoc> {
    let mut rows = ConfigOverrides::documented();
    rows.extend(ENVIRONMENT_ONLY);
    rows
}
