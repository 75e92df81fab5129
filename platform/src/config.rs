//! The platform's configuration: one [`Config`] struct, layered.
//!
//! Precedence, lowest first: built-in defaults (which need nothing: SQLite under `./data`, mail to
//! files), then the TOML file given with `--config`, then environment variables, then command-line
//! flags. Environment variables and flags are declared together in [`ConfigOverrides`], so
//! `platform --help` lists every option with its variable, and the README table mirrors it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::{Deserialize, Serialize};

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
    /// How long a worker's claim on a mail lasts; a crashed worker's mail is retried after it.
    pub claim_timeout_secs: u64,
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
            claim_timeout_secs: 300,
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
    /// Take the client address for sign-in rate limits from the last `X-Forwarded-For` entry
    /// (only behind a proxy that sets it); otherwise the TCP peer address is used.
    pub trust_forwarded_for: bool,
    /// Mark the session cookie `Secure` and name it `__Host-session`; unset: when `public_url`
    /// starts with `https://`.
    pub secure_cookies: Option<bool>,
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

/// Options given by flag or environment variable; each overrides the file and the defaults.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigOverrides {
    /// Data directory (SQLite file, CA keys, mail written to files) [default: ./data]
    #[arg(long, env = "PLATFORM_DATA_DIR", value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Database: postgres://USER@HOST:PORT/DB or sqlite://PATH [default: sqlite://DATA_DIR/platform.db]
    #[arg(
        long,
        env = "DATABASE_URL",
        value_name = "URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Largest number of pooled database connections [default: 8]
    #[arg(long, env = "PLATFORM_DB_POOL_SIZE", value_name = "N", global = true)]
    pub db_pool_size: Option<u32>,
    /// Database connection and lock wait timeout in milliseconds [default: 5000]
    #[arg(long, env = "PLATFORM_DB_TIMEOUT_MS", value_name = "MS", global = true)]
    pub db_timeout_ms: Option<u64>,
    /// Website listen address [default: 127.0.0.1:8080]
    #[arg(long, env = "PLATFORM_WEB_LISTEN", value_name = "ADDR", global = true)]
    pub web_listen: Option<SocketAddr>,
    /// Public address of the website, used in links in emails [default: http://127.0.0.1:8080]
    #[arg(long, env = "PLATFORM_PUBLIC_URL", value_name = "URL", global = true)]
    pub public_url: Option<String>,
    /// Agency API (mutual TLS) listen address [default: 127.0.0.1:8443]
    #[arg(
        long,
        env = "PLATFORM_AGENCY_LISTEN",
        value_name = "ADDR",
        global = true
    )]
    pub agency_listen: Option<SocketAddr>,
    /// Names in the agency port's server certificate, comma separated [default: localhost,127.0.0.1]
    #[arg(
        long,
        env = "PLATFORM_AGENCY_SERVER_NAMES",
        value_name = "NAMES",
        value_delimiter = ',',
        global = true
    )]
    pub agency_server_names: Option<Vec<String>>,
    /// Public address of the agency API, sent to agencies with their enrolment token [default: https://127.0.0.1:8443]
    #[arg(
        long,
        env = "PLATFORM_AGENCY_PUBLIC_URL",
        value_name = "URL",
        global = true
    )]
    pub agency_public_url: Option<String>,
    /// Organisation named in the CA certificates (used when the CA is created) [default: Listing Exchange]
    #[arg(
        long,
        env = "PLATFORM_CA_ORGANIZATION",
        value_name = "NAME",
        global = true
    )]
    pub ca_organization: Option<String>,
    /// Validity of agency client certificates in days [default: 90]
    #[arg(
        long,
        env = "PLATFORM_CA_CLIENT_VALIDITY_DAYS",
        value_name = "DAYS",
        global = true
    )]
    pub ca_client_validity_days: Option<u32>,
    /// Base URL of the CA's downloads named in certificates (CRL distribution point, CA issuers) [default: the agency public URL]
    #[arg(
        long,
        env = "PLATFORM_CA_PUBLIC_URL",
        value_name = "URL",
        global = true
    )]
    pub ca_public_url: Option<String>,
    /// Start with unencrypted CA keys under a production (https://) configuration [default: false]
    #[arg(
        long,
        env = "PLATFORM_CA_ALLOW_UNENCRYPTED_KEYS",
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true",
        global = true
    )]
    pub ca_allow_unencrypted_keys: Option<bool>,
    /// Renew the agency port's server certificate with fewer days than this left (or under a third of its life) [default: 30]
    #[arg(
        long,
        env = "PLATFORM_CA_SERVER_RENEW_DAYS",
        value_name = "DAYS",
        global = true
    )]
    pub ca_server_renew_days: Option<u32>,
    /// Seconds between the CA's upkeep runs (server certificate renewal, CRL refresh, expiry warnings) [default: 3600]
    #[arg(
        long,
        env = "PLATFORM_CA_CHECK_INTERVAL_SECS",
        value_name = "SECS",
        global = true
    )]
    pub ca_check_interval_secs: Option<u64>,
    /// Log filter, e.g. info or platform=debug [default: info]
    #[arg(long, env = "PLATFORM_LOG", value_name = "FILTER", global = true)]
    pub log: Option<String>,
    /// Log line format [default: pretty]
    #[arg(
        long,
        env = "PLATFORM_LOG_FORMAT",
        value_name = "FORMAT",
        global = true
    )]
    pub log_format: Option<LogFormat>,
    /// From address of emails [default: Listing Exchange <noreply@localhost>]
    #[arg(
        long,
        env = "PLATFORM_MAIL_FROM",
        value_name = "ADDRESS",
        global = true
    )]
    pub mail_from: Option<String>,
    /// SMTP server host; unset writes mail as .eml files under DATA_DIR/mail (password: PLATFORM_SMTP_PASSWORD)
    #[arg(long, env = "PLATFORM_SMTP_HOST", value_name = "HOST", global = true)]
    pub smtp_host: Option<String>,
    /// SMTP server port [default: 25, 587 or 465 by --smtp-tls]
    #[arg(long, env = "PLATFORM_SMTP_PORT", value_name = "PORT", global = true)]
    pub smtp_port: Option<u16>,
    /// SMTP transport security [default: starttls]
    #[arg(long, env = "PLATFORM_SMTP_TLS", value_name = "MODE", global = true)]
    pub smtp_tls: Option<SmtpTls>,
    /// SMTP user name (the password comes only from PLATFORM_SMTP_PASSWORD)
    #[arg(
        long,
        env = "PLATFORM_SMTP_USERNAME",
        value_name = "USER",
        global = true
    )]
    pub smtp_username: Option<String>,
    /// PEM file of extra CA certificates trusted for the SMTP server (a private relay's CA)
    #[arg(
        long,
        env = "PLATFORM_SMTP_CA_FILE",
        value_name = "FILE",
        global = true
    )]
    pub smtp_ca_file: Option<PathBuf>,
    /// Pooled SMTP connections [default: 4]
    #[arg(long, env = "PLATFORM_SMTP_POOL_SIZE", value_name = "N", global = true)]
    pub smtp_pool_size: Option<u32>,
    /// Timeout of one SMTP command in seconds [default: 30]
    #[arg(
        long,
        env = "PLATFORM_SMTP_TIMEOUT_SECS",
        value_name = "SECS",
        global = true
    )]
    pub smtp_timeout_secs: Option<u64>,
    /// Seconds listing matches wait to be batched into one email per recipient [default: 60]
    #[arg(
        long,
        env = "PLATFORM_MAIL_BATCH_WINDOW_SECS",
        value_name = "SECS",
        global = true
    )]
    pub mail_batch_window_secs: Option<u64>,
    /// Hour (UTC) at which daily digests go out [default: 7]
    #[arg(
        long,
        env = "PLATFORM_MAIL_DIGEST_HOUR",
        value_name = "HOUR",
        global = true
    )]
    pub mail_digest_hour: Option<u8>,
    /// Most listings shown in one email [default: 10]
    #[arg(
        long,
        env = "PLATFORM_MAIL_MAX_LISTINGS",
        value_name = "N",
        global = true
    )]
    pub mail_max_listings: Option<u32>,
    /// Delivery attempts before a mail is marked failed [default: 8]
    #[arg(
        long,
        env = "PLATFORM_MAIL_MAX_ATTEMPTS",
        value_name = "N",
        global = true
    )]
    pub mail_max_attempts: Option<u32>,
    /// First retry delay in milliseconds, doubled per attempt [default: 30000]
    #[arg(
        long,
        env = "PLATFORM_MAIL_RETRY_BASE_MS",
        value_name = "MS",
        global = true
    )]
    pub mail_retry_base_ms: Option<u64>,
    /// How often the mail worker looks for due mail, in milliseconds [default: 1000]
    #[arg(
        long,
        env = "PLATFORM_MAIL_POLL_INTERVAL_MS",
        value_name = "MS",
        global = true
    )]
    pub mail_poll_interval_ms: Option<u64>,
    /// Seconds a worker's claim on a mail lasts before another may retry it [default: 300]
    #[arg(
        long,
        env = "PLATFORM_MAIL_CLAIM_TIMEOUT_SECS",
        value_name = "SECS",
        global = true
    )]
    pub mail_claim_timeout_secs: Option<u64>,
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
        config.apply(overrides);
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

    fn apply(&mut self, o: &ConfigOverrides) {
        if let Some(v) = &o.data_dir {
            self.data_dir = v.clone();
        }
        if let Some(v) = &o.database_url {
            self.database.url = Some(v.clone());
        }
        if let Some(v) = o.db_pool_size {
            self.database.pool_size = v;
        }
        if let Some(v) = o.db_timeout_ms {
            self.database.timeout_ms = v;
        }
        if let Some(v) = o.web_listen {
            self.web.listen = v;
        }
        if let Some(v) = &o.public_url {
            self.web.public_url = v.clone();
        }
        if let Some(v) = o.agency_listen {
            self.agency.listen = v;
        }
        if let Some(v) = &o.agency_server_names {
            self.agency.server_names = v.clone();
        }
        if let Some(v) = &o.agency_public_url {
            self.agency.public_url = v.clone();
        }
        if let Some(v) = &o.ca_organization {
            self.ca.organization = v.clone();
        }
        if let Some(v) = o.ca_client_validity_days {
            self.ca.client_validity_days = v;
        }
        if let Some(v) = &o.ca_public_url {
            self.ca.public_url = Some(v.clone()).filter(|u| !u.trim().is_empty());
        }
        if let Some(v) = o.ca_allow_unencrypted_keys {
            self.ca.allow_unencrypted_keys = v;
        }
        if let Some(v) = o.ca_server_renew_days {
            self.ca.server_renew_days = v;
        }
        if let Some(v) = o.ca_check_interval_secs {
            self.ca.check_interval_secs = v;
        }
        if let Some(v) = &o.log {
            self.log.filter = v.clone();
        }
        if let Some(v) = o.log_format {
            self.log.format = v;
        }
        if let Some(v) = &o.mail_from {
            self.mail.from = v.clone();
        }
        if let Some(v) = &o.smtp_host {
            self.mail.smtp_host = Some(v.clone()).filter(|h| !h.trim().is_empty());
        }
        if let Some(v) = o.smtp_port {
            self.mail.smtp_port = Some(v);
        }
        if let Some(v) = o.smtp_tls {
            self.mail.smtp_tls = v;
        }
        if let Some(v) = &o.smtp_username {
            self.mail.smtp_username = Some(v.clone());
        }
        if let Some(v) = &o.smtp_ca_file {
            self.mail.smtp_ca_file = Some(v.clone());
        }
        if let Some(v) = o.smtp_pool_size {
            self.mail.smtp_pool_size = v;
        }
        if let Some(v) = o.smtp_timeout_secs {
            self.mail.smtp_timeout_secs = v;
        }
        if let Some(v) = o.mail_batch_window_secs {
            self.mail.batch_window_secs = v;
        }
        if let Some(v) = o.mail_digest_hour {
            self.mail.digest_hour_utc = v;
        }
        if let Some(v) = o.mail_max_listings {
            self.mail.max_listings_per_email = v;
        }
        if let Some(v) = o.mail_max_attempts {
            self.mail.max_attempts = v;
        }
        if let Some(v) = o.mail_retry_base_ms {
            self.mail.retry_base_ms = v;
        }
        if let Some(v) = o.mail_poll_interval_ms {
            self.mail.poll_interval_ms = v;
        }
        if let Some(v) = o.mail_claim_timeout_secs {
            self.mail.claim_timeout_secs = v;
        }
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
        if self.agency.server_names.iter().all(|n| n.trim().is_empty()) {
            return Err(ConfigError::Invalid {
                option: "agency.server_names",
                message: "give at least one DNS name or IP address".into(),
            });
        }
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
mod tests {
    use super::*;

    #[test]
    fn defaults_need_nothing() {
        let c = Config::load(None, &ConfigOverrides::default()).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("data"));
        assert_eq!(c.web.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.agency.listen.to_string(), "127.0.0.1:8443");
        assert_eq!(c.database_url(), "sqlite://data/platform.db");
    }

    #[test]
    fn file_then_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(
            &path,
            "data_dir = \"/srv/p\"\n[web]\nlisten = \"0.0.0.0:9000\"\npublic_url = \"https://homes.example/\"\n[database]\npool_size = 3\n",
        )
        .unwrap();
        let from_file = Config::load(Some(&path), &ConfigOverrides::default()).unwrap();
        assert_eq!(from_file.data_dir, PathBuf::from("/srv/p"));
        assert_eq!(from_file.web.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(from_file.web.public_url, "https://homes.example");
        assert_eq!(from_file.database.pool_size, 3);
        // Untouched sections keep their defaults.
        assert_eq!(from_file.agency, AgencyConfig::default());

        let overrides = ConfigOverrides {
            web_listen: Some("127.0.0.1:9001".parse().unwrap()),
            database_url: Some("postgres://root@127.0.0.1/test".into()),
            ..Default::default()
        };
        let layered = Config::load(Some(&path), &overrides).unwrap();
        assert_eq!(layered.web.listen.to_string(), "127.0.0.1:9001");
        assert_eq!(layered.data_dir, PathBuf::from("/srv/p"));
        assert_eq!(layered.database_url(), "postgres://root@127.0.0.1/test");
    }

    #[test]
    fn bad_toml_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "[web]\nlisten = \"127.0.0.1:8080\"\nport = 3\n").unwrap();
        let err = Config::load(Some(&path), &ConfigOverrides::default()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("line 3"), "{msg}");
        assert!(msg.contains("port"), "{msg}");
        assert!(!msg.contains('\n'), "one line: {msg}");
    }

    #[test]
    fn missing_file_is_clear() {
        let err = Config::load(
            Some(Path::new("/nonexistent/platform.toml")),
            &ConfigOverrides::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read configuration file /nonexistent/platform.toml"),
            "{err}"
        );
    }

    #[test]
    fn mail_section_layers_and_is_checked() {
        let c = Config::from_toml(
            "[mail]\nsmtp_host = \"smtp.example\"\nsmtp_tls = \"tls\"\nbatch_window_secs = 5\n",
        )
        .unwrap();
        assert_eq!(c.mail.smtp_host.as_deref(), Some("smtp.example"));
        assert_eq!(c.mail.port(), 465);
        assert_eq!(c.mail.batch_window_secs, 5);
        assert_eq!(MailConfig::default().port(), 587);
        let o = ConfigOverrides {
            smtp_port: Some(2525),
            mail_digest_hour: Some(24),
            ..Default::default()
        };
        let err = Config::load(None, &o).unwrap_err();
        assert!(err.to_string().contains("mail.digest_hour_utc"), "{err}");
        let o = ConfigOverrides {
            mail_from: Some("not an address".into()),
            ..Default::default()
        };
        assert!(
            Config::load(None, &o)
                .unwrap_err()
                .to_string()
                .contains("mail.from")
        );
    }

    #[test]
    fn ca_options_layer_and_are_checked() {
        let c = Config::load(None, &ConfigOverrides::default()).unwrap();
        assert_eq!(
            c.ca_public_url(),
            "https://127.0.0.1:8443",
            "the agency URL by default"
        );
        assert!(!c.ca.allow_unencrypted_keys);
        assert!(!c.is_production());
        let c = Config::from_toml(
            "[ca]\npublic_url = \"http://pki.homes.example/\"\nallow_unencrypted_keys = true\nserver_renew_days = 40\ncheck_interval_secs = 60\n",
        )
        .unwrap();
        assert_eq!(c.ca_public_url(), "http://pki.homes.example");
        assert!(c.ca.allow_unencrypted_keys);
        assert_eq!((c.ca.server_renew_days, c.ca.check_interval_secs), (40, 60));
        let o = ConfigOverrides {
            ca_public_url: Some("https://ca.homes.example".into()),
            ca_allow_unencrypted_keys: Some(true),
            ca_server_renew_days: Some(400),
            ca_check_interval_secs: Some(1),
            public_url: Some("https://homes.example".into()),
            ..Default::default()
        };
        let c = Config::load(None, &o).unwrap();
        assert_eq!(c.ca_public_url(), "https://ca.homes.example");
        assert!(c.ca.allow_unencrypted_keys && c.is_production());
        assert_eq!((c.ca.server_renew_days, c.ca.check_interval_secs), (400, 1));
        for (o, option) in [
            (
                ConfigOverrides {
                    ca_public_url: Some("ftp://x".into()),
                    ..Default::default()
                },
                "ca.public_url",
            ),
            (
                ConfigOverrides {
                    agency_public_url: Some("not a url".into()),
                    ..Default::default()
                },
                "agency.public_url",
            ),
            (
                ConfigOverrides {
                    ca_server_renew_days: Some(0),
                    ..Default::default()
                },
                "ca.server_renew_days",
            ),
            (
                ConfigOverrides {
                    ca_check_interval_secs: Some(0),
                    ..Default::default()
                },
                "ca.check_interval_secs",
            ),
        ] {
            let err = Config::load(None, &o).unwrap_err();
            assert!(err.to_string().contains(option), "{err}");
        }
    }

    #[test]
    fn invalid_values_are_refused() {
        let o = ConfigOverrides {
            public_url: Some("ftp://x".into()),
            ..Default::default()
        };
        let err = Config::load(None, &o).unwrap_err();
        assert!(err.to_string().contains("web.public_url"), "{err}");

        let o = ConfigOverrides {
            database_url: Some("mysql://x".into()),
            ..Default::default()
        };
        let err = Config::load(None, &o).unwrap_err();
        assert!(err.to_string().contains("database.url"), "{err}");
    }
}
