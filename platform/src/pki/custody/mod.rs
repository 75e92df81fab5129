//! Custody of the certificate authority on the platform's side: the CA's own certificates are
//! recorded in the database (`ca_certificates`), so a database is only ever served by the CA it
//! belongs to, and opening the CA checks the data directory against that record.
//!
//! Opening the CA (at start and in every operator command that uses it):
//!
//! | database | `DATA_DIR/ca` | outcome |
//! |---|---|---|
//! | records a CA and stores its files (`stored`) | empty, or the same root | the stored files are written into `DATA_DIR/ca`, then opened as below |
//! | records a CA, stores no files (from before `platform_secrets`) | empty | refused: names the root fingerprint to restore; nothing is created |
//! | records a CA | another root | refused: names both fingerprints |
//! | records a CA | the same root | opened; a newer issuing CA on disk (a rollover) is recorded, a retired one is refused |
//! | no CA, registered certificates | a CA that issued them | the CA is recorded (upgrade from before the record) |
//! | no CA, registered certificates | empty or another CA | refused |
//! | nothing | empty | a new CA is created in a staging directory, recorded, then moved into place |
//!
//! Under a production configuration (an `https://` website) the server also refuses CA keys
//! stored unencrypted, unless `ca.allow_unencrypted_keys` says otherwise.
//!
//! The parts: `records` holds the `ca_certificates` and `ca_crls` rows and their queries;
//! `staging` makes a new CA in a staging directory and moves it into place once recorded;
//! `stored` keeps the directory's files in the database so every node has them.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::db::DbConn;
use crate::pki::PkiError;
use crate::pki::error::Context;

mod records;
mod staging;
pub(crate) mod stored;
#[cfg(test)]
mod tests;

use records::reconcile_issuing;
pub(crate) use records::record_new_ca;
pub use records::{CaCertificateRow, CaStore, CrlRow, NewCaCertificate};
use staging::{create, finish_staged_creation};

/// Role of the root CA's certificate.
pub const ROLE_ROOT: &str = "root";
/// Role of an issuing CA's certificate.
pub const ROLE_ISSUING: &str = "issuing";
/// The root, or the issuing CA that signs new certificates.
pub const STATUS_ACTIVE: &str = "active";
/// An issuing CA replaced by a rollover: it still validates the certificates it issued.
pub const STATUS_RETIRED: &str = "retired";
/// An issuing CA revoked by the root (listed in the root's CRL).
pub const STATUS_REVOKED: &str = "revoked";

/// Environment variable with the passphrase of a root key export.
pub const EXPORT_PASSPHRASE_ENV: &str = "PLATFORM_CA_EXPORT_PASSPHRASE";
/// The shortest passphrase accepted for encrypting CA keys or a root key export.
pub const MIN_PASSPHRASE_CHARS: usize = 12;

/// Who opens the CA: the server refuses unencrypted keys under a production configuration;
/// operator commands (which must be able to encrypt them) do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// `platform serve`.
    Serve,
    /// An operator command.
    Operator,
}

/// The CA directory under a data directory.
pub fn ca_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("ca")
}

/// The passphrase of the CA's keys from `PLATFORM_CA_PASSPHRASE`, if set and not empty.
pub fn passphrase_from_env() -> Option<String> {
    std::env::var(super::PASSPHRASE_ENV)
        .ok()
        .filter(|p| !p.is_empty())
}

/// Where the CA publishes its downloads, from the configuration.
pub fn publication(config: &Config) -> Result<ca::Publication, PkiError> {
    ca::Publication::new(&config.ca_public_url()).context("ca.public_url")
}

/// Opens the CA of this database from `DATA_DIR/ca` (see the module documentation for every
/// case), creating it only for a fresh database and an empty directory.
pub fn open_authority(
    config: &Config,
    conn: &mut DbConn,
    passphrase: Option<&str>,
    opening: Opening,
) -> Result<ca::CertificateAuthority, PkiError> {
    let first = open_authority_once(config, conn, passphrase, opening);
    let Err(e) = first else {
        return first;
    };
    // Two nodes starting together on a fresh database both make a CA; one records it (with its
    // files) and the other's record is refused: that one takes the recorded CA.
    let raced = stored::CaSnapshot::stored(conn).is_ok_and(|s| s.has_issuing_key())
        && ca::custody::CaFiles::read(&ca_dir(&config.data_dir)).is_ok_and(|f| f.is_empty());
    if !raced {
        return Err(e);
    }
    tracing::info!(error = %e, "another node created the certificate authority first; using it");
    open_authority_once(config, conn, passphrase, opening)
}

fn open_authority_once(
    config: &Config,
    conn: &mut DbConn,
    passphrase: Option<&str>,
    opening: Opening,
) -> Result<ca::CertificateAuthority, PkiError> {
    let dir = ca_dir(&config.data_dir);
    let publication = publication(config)?;
    let recorded = crate::with_conn!(conn, |c| c.ca_certificates())?;
    let stored_files = stored::refresh_dir(conn, &dir, &recorded)?;
    let ca = open_files(config, conn, passphrase, opening, &dir, publication)?;
    stored::store_if_changed(conn, &dir, &stored_files)?;
    Ok(ca)
}

/// [`open_authority`] once the stored files are in `dir`.
fn open_files(
    config: &Config,
    conn: &mut DbConn,
    passphrase: Option<&str>,
    opening: Opening,
    dir: &Path,
    publication: ca::Publication,
) -> Result<ca::CertificateAuthority, PkiError> {
    let dir = dir.to_path_buf();
    let rows = crate::with_conn!(conn, |c| c.ca_certificates())?;
    let recorded_root = rows.iter().find(|r| r.role == ROLE_ROOT).cloned();
    let mut files = ca::custody::CaFiles::read(&dir)?;

    if let Some(root) = &recorded_root
        && files.is_empty()
        && finish_staged_creation(&config.data_dir, &dir, &root.fingerprint)?
    {
        files = ca::custody::CaFiles::read(&dir)?;
    }

    match (&recorded_root, files.is_empty()) {
        (Some(root), true) => Err(PkiError::Refused(format!(
            "the database belongs to the certificate authority with root fingerprint {}, but {} \
             holds no CA: restore that CA's files (root.crt, issuing.crt, issuing.key and \
             retired/) into {} from its backup, or start with the database of this data \
             directory; nothing was created",
            root.fingerprint_display(),
            dir.display(),
            dir.display()
        ))),
        (Some(root), false) => {
            if let Some(on_disk) = files.root_fingerprint()
                && on_disk.to_hex() != root.fingerprint
            {
                return Err(PkiError::Refused(format!(
                    "{} holds the certificate authority with root fingerprint {on_disk}, but the \
                     database belongs to the root {}: restore that CA's files into {} from its \
                     backup (or start with the database of this CA); nothing was changed",
                    dir.display(),
                    root.fingerprint_display(),
                    dir.display()
                )));
            }
            check_production_keys(config, &files, opening)?;
            let ca = load(&dir, passphrase)?.with_publication(Some(publication));
            reconcile_issuing(&ca, conn, &rows)?;
            Ok(ca)
        }
        (None, true) => {
            let registered = crate::with_conn!(conn, |c| c.registered_certificates())?;
            if let Some((serial, _)) = registered.first() {
                return Err(PkiError::Refused(format!(
                    "the database holds {} registered certificate(s) (e.g. {serial}) but no record \
                     of its certificate authority, and {} is empty: restore the CA that issued \
                     them into {} from its backup; nothing was created",
                    registered.len(),
                    dir.display(),
                    dir.display()
                )));
            }
            if opening == Opening::Serve
                && config.is_production()
                && passphrase.is_none()
                && !config.ca.allow_unencrypted_keys
            {
                return Err(PkiError::Refused(format!(
                    "refusing to create the certificate authority with unencrypted keys under a \
                     production configuration (web.public_url {} is https://): set \
                     PLATFORM_CA_PASSPHRASE, or set ca.allow_unencrypted_keys = true to accept \
                     the risk",
                    config.web.public_url
                )));
            }
            create(config, conn, &dir, passphrase, &publication)
        }
        (None, false) => {
            check_production_keys(config, &files, opening)?;
            let ca = load(&dir, passphrase)?.with_publication(Some(publication));
            let registered = crate::with_conn!(conn, |c| c.registered_certificates())?;
            for (serial, pem) in &registered {
                let issued_here = ca::inspect::parse_chain_pem(pem)
                    .ok()
                    .and_then(|ders| ca.issuing_ca_of(&ders[0]))
                    .is_some();
                if !issued_here {
                    return Err(PkiError::Refused(format!(
                        "the database holds certificate {serial}, which the certificate authority \
                         in {} (root fingerprint {}) did not issue: restore the CA that issued \
                         the registered certificates into {}; nothing was recorded",
                        dir.display(),
                        ca.root_fingerprint(),
                        dir.display()
                    )));
                }
            }
            record_new_ca(conn, &ca, "ca.record", registered.len())?;
            tracing::info!(
                fingerprint = %ca.root_fingerprint(),
                registered = registered.len(),
                "recorded the certificate authority found in the data directory"
            );
            Ok(ca)
        }
    }
}

fn load(dir: &Path, passphrase: Option<&str>) -> Result<ca::CertificateAuthority, PkiError> {
    ca::CertificateAuthority::load(dir, passphrase)
        .with_context(|| format!("certificate authority in {}", dir.display()))
}

/// Under a production configuration the server refuses CA keys stored unencrypted, unless
/// allowed.
fn check_production_keys(
    config: &Config,
    files: &ca::custody::CaFiles,
    opening: Opening,
) -> Result<(), PkiError> {
    let plain = files.unencrypted_keys();
    if opening != Opening::Serve || !config.is_production() || plain.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = plain.iter().map(|p| p.display().to_string()).collect();
    if config.ca.allow_unencrypted_keys {
        tracing::warn!(
            keys = ?names,
            "the CA keys are not encrypted (ca.allow_unencrypted_keys is set); encrypt them with `platform ca encrypt-keys`"
        );
        return Ok(());
    }
    Err(PkiError::Refused(format!(
        "refusing to start: the CA keys {} are not encrypted and this is a production \
         configuration (web.public_url {} is https://): encrypt them with \
         `PLATFORM_CA_PASSPHRASE=... platform ca encrypt-keys` and start with \
         PLATFORM_CA_PASSPHRASE set, or set ca.allow_unencrypted_keys = true \
         (PLATFORM_CA_ALLOW_UNENCRYPTED_KEYS=true) to accept the risk",
        names.join(", "),
        config.web.public_url
    )))
}
