//! The platform's configuration: one [`Config`] struct, layered.
//!
//! Precedence, lowest first: built-in defaults (which need nothing: SQLite under `./data`, mail to
//! files), then the TOML file given with `--config`, then environment variables, then command-line
//! flags. The TOML keys are the fields of [`Config`] (serde); every option that can also be given
//! by environment variable and flag is declared once in `options.rs`, which makes the clap
//! arguments of [`ConfigOverrides`] (so `platform --help` lists each option with its variable),
//! how each overrides the file, and its row of the README's configuration table (a test checks
//! the README against it).

mod options;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use self::options::{ConfigOverrides, OptionDoc, documented_options};

/// Everything the platform process needs to know at start.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory for the SQLite file, the CA's keys and certificates, and mail written to files.
    pub data_dir: PathBuf,
    /// Where the data lives.
    pub database: DatabaseConfig,
    /// The public website, admin pages, health and metrics.
    pub web: WebConfig,
    /// The agency API (mutual TLS).
    pub agency: AgencyConfig,
    /// Logging.
    pub log: LogConfig,
    /// The certificate authority.
    pub ca: CaConfig,
    /// Email delivery: SMTP or files, batching, retries.
    pub mail: MailConfig,
    /// The operator console and `/metrics`.
    pub admin: AdminConfig,
}

/// Operator console settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Address the operator console and `/metrics` listen on (keep it private: loopback or an
    /// operators' network).
    pub listen: SocketAddr,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
        }
    }
}

/// Certificate authority settings. The passphrase that encrypts its keys comes only from the
/// environment variable `PLATFORM_CA_PASSPHRASE`, never from a file or flag.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CaConfig {
    /// Organisation named in the CA certificates.
    pub organization: String,
    /// Validity of agency client certificates, in days.
    pub client_validity_days: u32,
    /// Base URL written into certificates as the CRL distribution point and the CA-issuers
    /// address (`/ca/...` under it); unset: `agency.public_url`.
    pub public_url: Option<String>,
    /// Start even though the CA's keys are stored unencrypted under a production configuration
    /// (a `https://` website public URL).
    pub allow_unencrypted_keys: bool,
    /// Renew the agency port's server certificate when fewer days than this are left (it is also
    /// renewed when less than a third of its life is left).
    pub server_renew_days: u32,
    /// How often the CA's upkeep runs: server certificate renewal, CRL refresh, expiry metrics
    /// and warnings, in seconds.
    pub check_interval_secs: u64,
}

impl Default for CaConfig {
    fn default() -> Self {
        CaConfig {
            organization: "Listing Exchange".to_owned(),
            client_validity_days: 90,
            public_url: None,
            allow_unencrypted_keys: false,
            server_renew_days: 30,
            check_interval_secs: 3600,
        }
    }
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text (only for a relay on the same host or in tests).
    None,
    /// Plain connection upgraded with STARTTLS, which is required (port 587).
    Starttls,
    /// TLS from the first byte (implicit TLS, port 465).
    Tls,
}

impl SmtpTls {
    /// The usual port for this mode: 25, 587 or 465.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
        }
    }
}

/// Email settings. With no `smtp_host`, mail is written as `.eml` files under
/// `<data_dir>/mail`. The SMTP password comes only from the environment variable
/// `PLATFORM_SMTP_PASSWORD`, never from a file or flag, and is never logged.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// The From address, e.g. `Listing Exchange <noreply@homes.example>`.
    pub from: String,
    /// SMTP server host name; unset means mail goes to files.
    pub smtp_host: Option<String>,
    /// SMTP server port; unset means the usual port of `smtp_tls`.
    pub smtp_port: Option<u16>,
    /// Transport security: `none`, `starttls` or `tls`.
    pub smtp_tls: SmtpTls,
    /// SMTP user name, when the server wants authentication.
    pub smtp_username: Option<String>,
    /// PEM file of CA certificates trusted for the SMTP server's TLS certificate, beside the
    /// system's roots (for a relay with a private CA).
    pub smtp_ca_file: Option<PathBuf>,
    /// Largest number of pooled SMTP connections (also how many mails are sent at once).
    pub smtp_pool_size: u32,
    /// Timeout of one SMTP command, in seconds.
    pub smtp_timeout_secs: u64,
    /// How long listing matches wait so that several for one recipient go out as one email.
    pub batch_window_secs: u64,
    /// Hour of the day (UTC, 0-23) at which daily digests go out.
    pub digest_hour_utc: u8,
    /// Most listings shown in one email; the rest are behind a "see all" link.
    pub max_listings_per_email: u32,
    /// Attempts before a mail is given up and marked `failed`.
    pub max_attempts: u32,
    /// Delay before the first retry in milliseconds; it doubles with each attempt (capped at 6 h).
    pub retry_base_ms: u64,
    /// How often the worker looks for due mail, in milliseconds.
    pub poll_interval_ms: u64,
    /// How long a worker's lease on a mail lasts; renewed while the worker works, so a crashed
    /// worker's mail is taken over (the same message, same Message-ID) once it lapses.
    pub claim_timeout_secs: u64,
    /// Whether `/readyz` also requires the SMTP server to accept a connection.
    pub ready_requires_smtp: bool,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            from: "Listing Exchange <noreply@localhost>".to_owned(),
            smtp_host: None,
            smtp_port: None,
            smtp_tls: SmtpTls::Starttls,
            smtp_username: None,
            smtp_ca_file: None,
            smtp_pool_size: 4,
            smtp_timeout_secs: 30,
            batch_window_secs: 60,
            digest_hour_utc: 7,
            max_listings_per_email: 10,
            max_attempts: 8,
            retry_base_ms: 30_000,
            poll_interval_ms: 1_000,
            claim_timeout_secs: 30,
            ready_requires_smtp: false,
        }
    }
}

impl MailConfig {
    /// The SMTP port in effect: the configured one, else the usual port of `smtp_tls`.
    pub fn port(&self) -> u16 {
        self.smtp_port
            .unwrap_or_else(|| self.smtp_tls.default_port())
    }
}

/// Database settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://…` for PostgreSQL or `sqlite://PATH` for SQLite; unset means
    /// `sqlite://<data_dir>/platform.db`.
    pub url: Option<String>,
    /// Largest number of pooled connections.
    pub pool_size: u32,
    /// How long to wait for a connection (and, on SQLite, for a write lock), in milliseconds.
    pub timeout_ms: u64,
}

/// Website settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Address the website listens on.
    pub listen: SocketAddr,
    /// The address users reach the website at, used in links inside emails.
    pub public_url: String,
    /// Take the client address for the rate limits from the last `X-Forwarded-For` entry
    /// (only behind a proxy that sets it); otherwise the TCP peer address is used.
    pub trust_forwarded_for: bool,
    /// Mark the session cookie `Secure` and name it `__Host-session`; unset: when `public_url`
    /// starts with `https://`.
    pub secure_cookies: Option<bool>,
}

impl WebConfig {
    /// The warning logged at start when the per-address rate limits would see only a proxy's
    /// address. The rule, exactly: `trust_forwarded_for` is off, `public_url` is `https://`, and
    /// the website listens in plain HTTP on a loopback or private (RFC 1918, RFC 4193, link-local)
    /// address. The site never speaks TLS itself, so an https public URL means a TLS-terminating
    /// proxy in front of it; on such an address every visitor then arrives from that proxy, and
    /// five failures from anyone refuse sign-in to everyone behind it.
    pub fn proxy_warning(&self) -> Option<String> {
        if self.trust_forwarded_for || !self.public_url.starts_with("https://") {
            return None;
        }
        let ip = self.listen.ip();
        let private = ip.is_loopback()
            || match ip {
                std::net::IpAddr::V4(v4) => v4.is_private() || v4.is_link_local(),
                std::net::IpAddr::V6(v6) => {
                    (v6.segments()[0] & 0xfe00) == 0xfc00 || (v6.segments()[0] & 0xffc0) == 0xfe80
                }
            };
        private.then(|| {
            "the website's public URL is https:// but it listens in plain HTTP on a private address, \
             so it runs behind a proxy: without web.trust_forwarded_for \
             (PLATFORM_TRUST_FORWARDED_FOR, --trust-forwarded-for) every visitor shares the proxy's \
             address and the per-address rate limits apply to all of them at once; set it if the \
             proxy appends X-Forwarded-For"
                .to_owned()
        })
    }
}

/// Agency API settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AgencyConfig {
    /// Address the agency API (mutual TLS) listens on.
    pub listen: SocketAddr,
    /// DNS names and IP addresses put in the agency port's server certificate.
    pub server_names: Vec<String>,
    /// The address agencies' clients reach the agency API at (sent with enrolment tokens).
    pub public_url: String,
}

/// Log output format.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Logging settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter such as `info` or `platform=debug,actix_web=info`.
    pub filter: String,
    /// Line format.
    pub format: LogFormat,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("data"),
            database: DatabaseConfig::default(),
            web: WebConfig::default(),
            agency: AgencyConfig::default(),
            log: LogConfig::default(),
            ca: CaConfig::default(),
            mail: MailConfig::default(),
            admin: AdminConfig::default(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: None,
            pool_size: 8,
            timeout_ms: 5_000,
        }
    }
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: "http://127.0.0.1:8080".to_owned(),
            trust_forwarded_for: false,
            secure_cookies: None,
        }
    }
}

impl Default for AgencyConfig {
    fn default() -> Self {
        AgencyConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            server_names: vec!["localhost".to_owned(), "127.0.0.1".to_owned()],
            public_url: "https://127.0.0.1:8443".to_owned(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            filter: "info".to_owned(),
            format: LogFormat::Pretty,
        }
    }
}

/// A configuration that cannot be used, with what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file named with `--config` could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown or mistyped key.
    #[error("configuration file {path}, line {line} column {column}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// A value is out of range or malformed.
    #[error("configuration option {option}: {message}")]
    Invalid {
        /// The option's name as written in the TOML file.
        option: &'static str,
        /// What is wrong and what would be right.
        message: String,
    },
}

impl Config {
    /// Builds the configuration from defaults, then `file` (if any), then `overrides`.
    pub fn load(file: Option<&Path>, overrides: &ConfigOverrides) -> Result<Config, ConfigError> {
        let mut config = match file {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        overrides.apply(&mut config);
        config.validate()?;
        Ok(config)
    }

    /// Reads a TOML file; keys it leaves out keep their defaults.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml(&text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|span| line_and_column(&text, span.start))
                .unwrap_or((1, 1));
            ConfigError::Parse {
                path: path.to_owned(),
                line,
                column,
                message: e.message().trim().replace('\n', " "),
            }
        })
    }

    /// Parses TOML text; keys it leaves out keep their defaults.
    pub fn from_toml(text: &str) -> Result<Config, toml::de::Error> {
        toml::from_str(text)
    }

    fn validate(&mut self) -> Result<(), ConfigError> {
        if !(1..=825).contains(&self.ca.client_validity_days) {
            return Err(ConfigError::Invalid {
                option: "ca.client_validity_days",
                message: "must be between 1 and 825 days".into(),
            });
        }
        if self.ca.organization.trim().is_empty() {
            return Err(ConfigError::Invalid {
                option: "ca.organization",
                message: "must not be empty".into(),
            });
        }
        if self.agency.server_names.iter().all(|n| n.trim().is_empty()) {
            return Err(ConfigError::Invalid {
                option: "agency.server_names",
                message: "give at least one DNS name or IP address".into(),
            });
        }
        if !(1..=3650).contains(&self.ca.server_renew_days) {
            return Err(ConfigError::Invalid {
                option: "ca.server_renew_days",
                message: "must be between 1 and 3650 days".into(),
            });
        }
        if self.ca.check_interval_secs == 0 {
            return Err(ConfigError::Invalid {
                option: "ca.check_interval_secs",
                message: "must be at least 1".into(),
            });
        }
        let publication_url = self.ca_public_url();
        ca::Publication::new(&publication_url).map_err(|_| ConfigError::Invalid {
            option: if self.ca.public_url.is_some() {
                "ca.public_url"
            } else {
                "agency.public_url"
            },
            message: format!("{publication_url:?} must be an http:// or https:// address"),
        })?;
        if self.database.pool_size == 0 {
            return Err(ConfigError::Invalid {
                option: "database.pool_size",
                message: "must be at least 1".into(),
            });
        }
        if self.database.timeout_ms == 0 {
            return Err(ConfigError::Invalid {
                option: "database.timeout_ms",
                message: "must be at least 1".into(),
            });
        }
        let url = self.web.public_url.trim_end_matches('/').to_owned();
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
            return Err(ConfigError::Invalid {
                option: "web.public_url",
                message: format!("{url:?} must be an http:// or https:// address"),
            });
        }
        self.web.public_url = url;
        if let Some(url) = &self.database.url {
            crate::db::DatabaseUrl::parse(url).map_err(|message| ConfigError::Invalid {
                option: "database.url",
                message,
            })?;
        }
        let mail_invalid = |option: &'static str, message: &str| ConfigError::Invalid {
            option,
            message: message.to_owned(),
        };
        if self.mail.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(mail_invalid(
                "mail.from",
                "must be an address such as \"Listing Exchange <noreply@homes.example>\"",
            ));
        }
        if self.mail.smtp_pool_size == 0 {
            return Err(mail_invalid("mail.smtp_pool_size", "must be at least 1"));
        }
        if self.mail.smtp_timeout_secs == 0 {
            return Err(mail_invalid("mail.smtp_timeout_secs", "must be at least 1"));
        }
        if self.mail.digest_hour_utc > 23 {
            return Err(mail_invalid(
                "mail.digest_hour_utc",
                "must be between 0 and 23",
            ));
        }
        if self.mail.max_listings_per_email == 0 {
            return Err(mail_invalid(
                "mail.max_listings_per_email",
                "must be at least 1",
            ));
        }
        if self.mail.max_attempts == 0 {
            return Err(mail_invalid("mail.max_attempts", "must be at least 1"));
        }
        if self.mail.poll_interval_ms == 0 || self.mail.claim_timeout_secs == 0 {
            return Err(mail_invalid(
                "mail.poll_interval_ms",
                "mail.poll_interval_ms and mail.claim_timeout_secs must be at least 1",
            ));
        }
        Ok(())
    }

    /// The base URL of the CA's downloads in effect: `ca.public_url`, else `agency.public_url`.
    pub fn ca_public_url(&self) -> String {
        self.ca
            .public_url
            .clone()
            .unwrap_or_else(|| self.agency.public_url.clone())
            .trim()
            .trim_end_matches('/')
            .to_owned()
    }

    /// True for a production configuration: the website is published over `https://`.
    pub fn is_production(&self) -> bool {
        self.web.public_url.starts_with("https://")
    }

    /// The database URL in effect: the configured one, else the SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("platform.db").display()),
        }
    }
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests;
