//! Where finished messages go: an SMTP server through a pool of lettre SMTP connections on
//! `TCP_NODELAY` sockets ([`super::smtp_pool`]), or `.eml` files under `<data_dir>/mail` when no
//! SMTP server is configured.
//!
//! Failures are sorted for the worker: SMTP 5xx replies are final ([`SendError::Permanent`]);
//! 4xx replies, timeouts, refused connections and I/O errors are worth retrying
//! ([`SendError::Transient`]). The pool's idle timeout stays below the usual server-side idle
//! limit of 60 s, so the pool does not reuse a connection the server has already closed (lettre
//! issue 743).

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::sync::Arc;

use lettre::Message;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, TlsParameters};

use super::send_error::SendError;
use super::smtp_pool::{PoolSettings, Security, SmtpPool, implicit_tls_config};
use crate::config::{MailConfig, SmtpTls};

/// Environment variable that holds the SMTP password (never a file or flag).
pub const SMTP_PASSWORD_ENV: &str = "PLATFORM_SMTP_PASSWORD";

/// Idle pooled SMTP connections are closed after this long.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(45);

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
    /// The CA file for the SMTP server's certificate cannot be read or parsed.
    #[error("cannot use mail.smtp_ca_file {path}: {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Delivers messages; cheap to clone (the SMTP pool is shared).
#[derive(Clone)]
pub enum Mailer {
    /// An SMTP server, through a connection pool.
    Smtp {
        /// The connection pool.
        pool: Arc<SmtpPool>,
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
        let extra_roots = match &mail.smtp_ca_file {
            Some(path) => std::fs::read(path).map_err(|e| MailerError::CaFile {
                path: path.clone(),
                reason: e.to_string(),
            })?,
            None => Vec::new(),
        };
        if let Some(path) = &mail.smtp_ca_file {
            check_ca_pem(&extra_roots).map_err(|reason| MailerError::CaFile {
                path: path.clone(),
                reason,
            })?;
        }
        let security = match mail.smtp_tls {
            SmtpTls::None => Security::None,
            SmtpTls::Starttls => {
                let mut builder = TlsParameters::builder(host.to_owned());
                if !extra_roots.is_empty() {
                    let certs =
                        Certificate::from_pem(&extra_roots).map_err(|e| MailerError::CaFile {
                            path: mail.smtp_ca_file.clone().unwrap_or_default(),
                            reason: e.to_string(),
                        })?;
                    builder = builder.add_root_certificate(certs);
                }
                Security::StartTls(builder.build_rustls().map_err(tls_error)?)
            }
            SmtpTls::Tls => {
                Security::Implicit(implicit_tls_config(&extra_roots).map_err(|reason| {
                    MailerError::Tls {
                        host: host.to_owned(),
                        reason,
                    }
                })?)
            }
        };
        let credentials = mail
            .smtp_username
            .as_ref()
            .map(|user| Credentials::new(user.clone(), password.unwrap_or_default()));
        let pool = SmtpPool::new(PoolSettings {
            host: host.to_owned(),
            port,
            security,
            credentials,
            timeout: Duration::from_secs(mail.smtp_timeout_secs),
            max_size: mail.smtp_pool_size.max(1) as usize,
            idle_timeout: POOL_IDLE_TIMEOUT,
        });
        let tls_name = match mail.smtp_tls {
            SmtpTls::None => "none",
            SmtpTls::Starttls => "starttls",
            SmtpTls::Tls => "tls",
        };
        Ok(Mailer::Smtp {
            pool,
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
        self.send_raw(message.envelope(), &message.formatted())
            .await
    }

    /// Delivers a message already composed: its envelope and its exact bytes (a stored message
    /// sent again goes out byte for byte as the first time).
    pub async fn send_raw(
        &self,
        envelope: &lettre::address::Envelope,
        bytes: &[u8],
    ) -> Result<(), SendError> {
        match self {
            Mailer::Smtp { pool, .. } => pool.send(envelope, bytes).await,
            Mailer::Files(dir) => {
                let dir = dir.clone();
                let bytes = bytes.to_vec();
                tokio::task::spawn_blocking(move || write_eml(&dir, &bytes))
                    .await
                    .map_err(|e| SendError::Transient(e.to_string()))?
                    .map(|_path| ())
                    .map_err(|e| SendError::Transient(format!("cannot write mail file: {e}")))
            }
        }
    }
}

/// At least one certificate and nothing unreadable in a PEM file of CA certificates.
fn check_ca_pem(pem: &[u8]) -> Result<(), String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        cert.map_err(|e| format!("not a PEM certificate file: {e}"))?;
        count += 1;
    }
    if count == 0 {
        return Err("it holds no PEM certificate".into());
    }
    Ok(())
}

/// Writes `bytes` to a new `.eml` file in `dir` atomically (a temporary file renamed into place),
/// so a reader never sees half a message. Mail carries sign-in and reset links, so the folder is
/// the owner's only (0700) and each file is created 0600. Returns the file's path.
pub fn write_eml(dir: &Path, bytes: &[u8]) -> std::io::Result<PathBuf> {
    use std::io::Write as _;
    #[cfg(unix)]
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder.create(dir)?;
    #[cfg(unix)]
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let name = format!("{}-{:016x}", crate::db::now_ms(), rand::random::<u64>());
    let temp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(format!("{name}.eml"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temp, &path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn eml_files_and_their_folder_are_the_owners_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("mail");
        // A folder left world-readable by an older version is tightened too.
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = write_eml(
            &dir,
            b"Subject: reset\r\n\r\nhttps://site/account/reset?token=t\r\n",
        )
        .unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"Subject: reset\r\n\r\nhttps://site/account/reset?token=t\r\n"
        );
        let second = write_eml(&dir, b"x").unwrap();
        assert_ne!(second, path);
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(names.len(), 2, "no temporary file left behind");
    }
}
