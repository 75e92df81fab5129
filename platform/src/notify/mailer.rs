//! Where finished messages go: an SMTP server through lettre's connection pool, or `.eml` files
//! under `<data_dir>/mail` when no SMTP server is configured.
//!
//! Failures are sorted for the worker: SMTP 5xx replies are final ([`SendError::Permanent`]);
//! 4xx replies, timeouts, refused connections and I/O errors are worth retrying
//! ([`SendError::Transient`]). The pool's idle timeout stays below the usual server-side idle
//! limit of 60 s, so lettre does not reuse a connection the server has already closed (lettre
//! issue 743).

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{MailConfig, SmtpTls};

/// Environment variable that holds the SMTP password (never a file or flag).
pub const SMTP_PASSWORD_ENV: &str = "PLATFORM_SMTP_PASSWORD";

/// Idle pooled SMTP connections are closed after this long.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(45);

/// Why a message was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// Worth retrying later: the server is down, busy (4xx) or the network failed.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// Retrying will not help: the server refused the message or recipient (5xx).
    #[error("permanent failure: {0}")]
    Permanent(String),
}

/// A backend that cannot be built from the configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailerError {
    /// TLS parameters for the SMTP host could not be built.
    #[error("cannot set up TLS for SMTP host {host}: {reason}")]
    Tls {
        /// The host.
        host: String,
        /// What lettre said.
        reason: String,
    },
}

/// Delivers messages; cheap to clone (the SMTP pool is shared).
#[derive(Clone)]
pub enum Mailer {
    /// An SMTP server, through a connection pool.
    Smtp {
        /// The pooled transport.
        transport: AsyncSmtpTransport<Tokio1Executor>,
        /// `host:port (tls)` for logs.
        description: String,
    },
    /// One `.eml` file per message in this directory.
    Files(PathBuf),
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Mailer {
    /// The backend the configuration asks for: SMTP when `mail.smtp_host` is set (the password
    /// read from [`SMTP_PASSWORD_ENV`]), files under `<data_dir>/mail` otherwise. Must be called
    /// inside a tokio runtime (the pool starts a cleanup task).
    pub fn from_config(mail: &MailConfig, data_dir: &Path) -> Result<Mailer, MailerError> {
        match &mail.smtp_host {
            Some(host) => {
                let password = std::env::var(SMTP_PASSWORD_ENV).ok();
                Mailer::smtp(mail, host, password)
            }
            None => Ok(Mailer::Files(data_dir.join("mail"))),
        }
    }

    /// An SMTP backend for `host` with the settings of `mail`.
    pub fn smtp(
        mail: &MailConfig,
        host: &str,
        password: Option<String>,
    ) -> Result<Mailer, MailerError> {
        let port = mail.port();
        let tls_error = |e: lettre::transport::smtp::Error| MailerError::Tls {
            host: host.to_owned(),
            reason: e.to_string(),
        };
        let tls = match mail.smtp_tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls => {
                Tls::Required(TlsParameters::new_rustls(host.to_owned()).map_err(tls_error)?)
            }
            SmtpTls::Tls => {
                Tls::Wrapper(TlsParameters::new_rustls(host.to_owned()).map_err(tls_error)?)
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(mail.smtp_timeout_secs)))
            .pool_config(
                PoolConfig::new()
                    .max_size(mail.smtp_pool_size)
                    .min_idle(0)
                    .idle_timeout(POOL_IDLE_TIMEOUT),
            );
        if let Some(user) = &mail.smtp_username {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.unwrap_or_default()));
        }
        let tls_name = match mail.smtp_tls {
            SmtpTls::None => "none",
            SmtpTls::Starttls => "starttls",
            SmtpTls::Tls => "tls",
        };
        Ok(Mailer::Smtp {
            transport: builder.build(),
            description: format!("smtp {host}:{port} (tls: {tls_name})"),
        })
    }

    /// What this backend is, for logs (no credentials).
    pub fn describe(&self) -> String {
        match self {
            Mailer::Smtp { description, .. } => description.clone(),
            Mailer::Files(dir) => format!("files in {}", dir.display()),
        }
    }

    /// Delivers one message.
    pub async fn send(&self, message: &Message) -> Result<(), SendError> {
        match self {
            Mailer::Smtp { transport, .. } => match transport.send(message.clone()).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_permanent() => Err(SendError::Permanent(one_line(&e))),
                Err(e) => Err(SendError::Transient(one_line(&e))),
            },
            Mailer::Files(dir) => {
                let dir = dir.clone();
                let bytes = message.formatted();
                tokio::task::spawn_blocking(move || write_eml(&dir, &bytes))
                    .await
                    .map_err(|e| SendError::Transient(e.to_string()))?
                    .map(|_path| ())
                    .map_err(|e| SendError::Transient(format!("cannot write mail file: {e}")))
            }
        }
    }
}

/// The error and its sources on one line.
fn one_line(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Writes `bytes` to a new `.eml` file in `dir` atomically (a temporary file renamed into place),
/// so a reader never sees half a message. Returns the file's path.
pub fn write_eml(dir: &Path, bytes: &[u8]) -> std::io::Result<PathBuf> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir)?;
    let name = format!("{}-{:016x}", crate::db::now_ms(), rand::random::<u64>());
    let temp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(format!("{name}.eml"));
    let mut file = std::fs::File::create(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temp, &path)?;
    Ok(path)
}
