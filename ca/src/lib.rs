//! The platform's private certificate authority.
//!
//! Agencies authenticate to the platform with client certificates (mutual TLS);
//! the platform presents a server certificate on its agency port. This crate holds
//! everything needed for that: key generation and storage ([`keys`]), the root and
//! issuing CA with certificate and CRL issuance ([`CertificateAuthority`]), custody of
//! the keys (root offline, export, rollover, encryption: [`custody`]), certificate
//! inspection ([`inspect`]) and detached signatures ([`sign`]).
//!
//! No network and no database is involved here; callers persist what they need.

#![warn(missing_docs)]

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

mod authority;
pub mod custody;
pub mod inspect;
pub mod keys;
pub mod sign;

pub use authority::*;

/// Everything that can go wrong in the certificate authority.
///
/// The message ([`Display`](std::fmt::Display)) is what an operator or an agency reads: it names
/// the file, certificate or request at fault and what to do. Variants group failures by what a
/// caller can do about them (bring a passphrase, bring the root key, fix a request); new ones
/// may be added.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// The certificate signing request is malformed or its self-signature is invalid.
    #[error("certificate signing request rejected: {0}")]
    Csr(String),
    /// The key type is not one this CA accepts (only ECDSA P-256 and Ed25519 are).
    #[error("unsupported key: {0} (only ECDSA P-256 and Ed25519 keys are accepted)")]
    UnsupportedKey(String),
    /// PEM input could not be decoded or has the wrong label.
    #[error("invalid PEM: {0}")]
    Pem(String),
    /// An encrypted key was given without a passphrase, or with the wrong one.
    #[error(
        "the CA key could not be decrypted: wrong or missing passphrase (PLATFORM_CA_PASSPHRASE)"
    )]
    Passphrase,
    /// The root key export could not be decrypted: wrong or missing passphrase.
    #[error(
        "the root key export could not be decrypted: wrong or missing passphrase (PLATFORM_CA_EXPORT_PASSPHRASE)"
    )]
    ExportPassphrase,
    /// The operation needs the root key, which is not in the CA directory (kept offline).
    #[error(
        "the root key is offline (not in {}); bring the exported root key with --root-key FILE",
        .0.display()
    )]
    RootKeyOffline(PathBuf),
    /// A certificate could not be parsed or does not fit its role.
    #[error("certificate error: {0}")]
    Certificate(String),
    /// A signature did not verify; the [`SignatureProblem`](sign::SignatureProblem) says why.
    #[error("signature verification failed: {0}")]
    Signature(sign::SignatureProblem),
    /// Certificate, CSR or CRL generation failed inside rcgen.
    #[error("certificate generation failed: {0}")]
    Rcgen(rcgen::Error),
    /// The operating system's random generator failed (no serial, salt or key could be made).
    #[error("certificate generation failed: the system random generator failed")]
    Random,
    /// Encrypting a private key failed at `step` (scrypt or PBES2 parameters, PKCS#8 encoding,
    /// the encryption itself).
    #[error("certificate generation failed: {step}: {reason}")]
    KeyEncryption {
        /// The step that failed.
        step: &'static str,
        /// What the encoder said.
        reason: String,
    },
}

impl From<rcgen::Error> for CaError {
    fn from(e: rcgen::Error) -> Self {
        CaError::Rcgen(e)
    }
}

impl CaError {
    fn key_encryption(step: &'static str, reason: impl std::fmt::Display) -> CaError {
        CaError::KeyEncryption {
            step,
            reason: reason.to_string(),
        }
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CaError + '_ {
    move |source| CaError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes a secret file atomically: a temporary file in the same directory is
/// written, synced and renamed over `path`. On unix the file has mode 0600.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> Result<(), CaError> {
    write_atomic(path, bytes, 0o600)
}

/// Writes a public file (certificate, CRL) atomically with mode 0644 on unix.
pub fn write_public_file(path: &Path, bytes: &[u8]) -> Result<(), CaError> {
    write_atomic(path, bytes, 0o644)
}

fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CaError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| CaError::Io {
            path: path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"),
        })?
        .to_string_lossy()
        .into_owned();
    let suffix: u64 = rand::random();
    let tmp = dir.join(format!(".{file_name}.{suffix:016x}.tmp"));

    let result = (|| {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(mode);
        }
        let mut file = options.open(&tmp).map_err(io_err(&tmp))?;
        #[cfg(unix)]
        {
            // The umask may have narrowed the mode; set it exactly.
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(fs::Permissions::from_mode(mode))
                .map_err(io_err(&tmp))?;
        }
        #[cfg(not(unix))]
        let _ = mode;
        file.write_all(bytes).map_err(io_err(&tmp))?;
        file.sync_all().map_err(io_err(&tmp))?;
        drop(file);
        fs::rename(&tmp, path).map_err(io_err(path))?;
        #[cfg(unix)]
        {
            // Make the rename durable; failure to sync a directory is not fatal.
            if let Ok(d) = fs::File::open(&dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_set_modes_and_replace() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret.key");
        write_private_file(&p, b"one").unwrap();
        write_private_file(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let q = dir.path().join("public.crt");
        write_public_file(&q, b"cert").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
            assert_eq!(
                fs::metadata(&q).unwrap().permissions().mode() & 0o777,
                0o644
            );
        }
        // No temporary files left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn write_into_missing_dir_is_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nope").join("x");
        match write_public_file(&p, b"x") {
            Err(CaError::Io { .. }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}
