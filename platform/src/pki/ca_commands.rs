//! What the `platform ca …` commands do, for the command line in `crate::operator`: the CA's
//! status, and the custody operations that keep the root key offline (export it, remove it,
//! bring it back in memory for a rollover or to sign the root's CRL) and encrypt the keys at
//! rest. Each changes the disk and records the change (audited) in one database transaction:
//! the disk work runs inside it, so a failure leaves no audit entry for something not done.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use time::OffsetDateTime;

use super::crl;
use super::custody::{
    self, CaCertificateRow, CaStore, MIN_PASSPHRASE_CHARS, NewCaCertificate, ROLE_ISSUING,
    ROLE_ROOT, STATUS_ACTIVE,
};
use super::error::Context;
use super::{Pki, PkiError};
use crate::audit::AuditLog;
use crate::config::Config;
use crate::db::DbConn;
use crate::listings::ms_to_time;

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

fn ms(ms: i64) -> String {
    rfc3339(ms_to_time(ms))
}

/// Checks a passphrase that is about to protect a CA key: long enough, and (for a root export)
/// not the passphrase the server runs with, which would put the offline root within reach of
/// whoever reads the server's environment.
pub fn check_new_passphrase(
    passphrase: &str,
    what: &str,
    unlike_server: bool,
) -> Result<(), PkiError> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(PkiError::WeakPassphrase(format!(
            "{what} is too short: use at least {MIN_PASSPHRASE_CHARS} characters (a few random words)"
        )));
    }
    if unlike_server && custody::passphrase_from_env().as_deref() == Some(passphrase) {
        return Err(PkiError::WeakPassphrase(format!(
            "{what} must differ from PLATFORM_CA_PASSPHRASE: the export protects the root while it is offline, away from the server's secrets"
        )));
    }
    Ok(())
}

/// One of the CA's certificates in the status.
#[derive(Debug, Clone, Serialize)]
pub struct CaCertificateStatus {
    /// `root` or `issuing`.
    pub role: String,
    /// `active`, `retired` or `revoked`.
    pub status: String,
    /// Subject.
    pub subject: String,
    /// SHA-256 fingerprint (`AB:CD:…`).
    pub fingerprint: String,
    /// Subject key identifier (hex), as in download URLs.
    pub key_id: String,
    /// Start of validity (RFC 3339).
    pub not_before: String,
    /// End of validity (RFC 3339).
    pub not_after: String,
    /// Whole days left.
    pub days_left: i64,
    /// Where the key is: `online` (in DATA_DIR/ca), `offline` (root, exported and removed) or
    /// `missing`.
    pub key: String,
    /// How the key file is protected (when present), e.g. `not encrypted`.
    pub key_protection: Option<String>,
    /// Root: when its key was last exported (RFC 3339).
    pub exported_at: Option<String>,
}

/// The agency port's server certificate in the status.
#[derive(Debug, Clone, Serialize)]
pub struct ServerCertificateStatus {
    /// Serial.
    pub serial: String,
    /// End of validity (RFC 3339).
    pub not_after: String,
    /// Whole days left.
    pub days_left: i64,
}

/// A CRL in the status.
#[derive(Debug, Clone, Serialize)]
pub struct CrlStatus {
    /// `root` or `issuing`.
    pub ca: String,
    /// Fingerprint of the CA that signs it.
    pub issuer_fingerprint: String,
    /// Its number.
    pub crl_number: i64,
    /// This update (RFC 3339).
    pub this_update: String,
    /// Next update (RFC 3339).
    pub next_update: String,
}

/// `platform ca status`.
#[derive(Debug, Clone, Serialize)]
pub struct CaStatus {
    /// The CA directory.
    pub directory: PathBuf,
    /// Root first, then issuing CAs, newest first.
    pub certificates: Vec<CaCertificateStatus>,
    /// The server certificate in `DATA_DIR/tls`, when there is one.
    pub server: Option<ServerCertificateStatus>,
    /// The stored CRLs.
    pub crls: Vec<CrlStatus>,
    /// Expiry warnings that hold now.
    pub warnings: Vec<String>,
    /// Why the platform would refuse to open this CA, if it would.
    pub problem: Option<String>,
}

/// The CA's status from the database and the CA directory, without decrypting anything.
pub fn status(config: &Config, conn: &mut DbConn) -> Result<CaStatus, PkiError> {
    let dir = custody::ca_dir(&config.data_dir);
    let files = ca::custody::CaFiles::read(&dir)?;
    let mut rows = crate::with_conn!(conn, |c| c.ca_certificates())?;
    let mut problem = None;
    let recorded_root = rows.iter().find(|r| r.role == ROLE_ROOT).cloned();
    match (&recorded_root, files.root_fingerprint()) {
        (Some(root), None) => {
            problem = Some(format!(
                "the database belongs to the root {}, but {} holds no CA: restore it from backup",
                root.fingerprint_display(),
                dir.display()
            ));
        }
        (Some(root), Some(on_disk)) if on_disk.to_hex() != root.fingerprint => {
            problem = Some(format!(
                "{} holds the root {on_disk}, but the database belongs to the root {}",
                dir.display(),
                root.fingerprint_display()
            ));
        }
        (None, _) => {
            // Not recorded yet: show what is on disk.
            let ders = files
                .root
                .iter()
                .map(|d| (d.clone(), ROLE_ROOT, STATUS_ACTIVE))
                .chain(
                    files
                        .issuing
                        .iter()
                        .map(|d| (d.clone(), ROLE_ISSUING, STATUS_ACTIVE)),
                )
                .chain(
                    files
                        .retired
                        .iter()
                        .map(|(d, _)| (d.clone(), ROLE_ISSUING, custody::STATUS_RETIRED)),
                );
            for (der, role, status) in ders {
                let new = NewCaCertificate::from_der(&der)?;
                rows.push(row_of(&new, role, status));
            }
            if rows.is_empty() {
                problem = Some(
                    "there is no CA yet: it is created at the platform's first start".to_owned(),
                );
            }
        }
        _ => {}
    }
    let now = OffsetDateTime::now_utc();
    let issuing_on_disk: Vec<(String, Option<ca::keys::KeyProtection>)> = files
        .issuing
        .iter()
        .map(|d| (ca::inspect::Fingerprint::of(d).to_hex(), files.issuing_key))
        .chain(
            files
                .retired
                .iter()
                .map(|(d, p)| (ca::inspect::Fingerprint::of(d).to_hex(), *p)),
        )
        .collect();
    let certificates = rows
        .iter()
        .map(|r| {
            let (key, protection) = if r.role == ROLE_ROOT {
                match files.root_key {
                    Some(p) => ("online", Some(p)),
                    None if r.exported_at.is_some() => ("offline", None),
                    None => ("missing", None),
                }
            } else {
                match issuing_on_disk.iter().find(|(fp, _)| *fp == r.fingerprint) {
                    Some((_, Some(p))) => ("online", Some(*p)),
                    _ => ("missing", None),
                }
            };
            CaCertificateStatus {
                role: r.role.clone(),
                status: r.status.clone(),
                subject: r.subject.clone(),
                fingerprint: r.fingerprint_display(),
                key_id: r.key_id.clone(),
                not_before: ms(r.not_before),
                not_after: ms(r.not_after),
                days_left: (ms_to_time(r.not_after) - now).whole_days(),
                key: key.to_owned(),
                key_protection: protection.map(|p| p.to_string()),
                exported_at: r.exported_at.map(ms),
            }
        })
        .collect::<Vec<_>>();
    let mut crls = Vec::new();
    for r in &rows {
        if let Some(c) = crate::with_conn!(conn, |c| c.find_crl(&r.fingerprint))? {
            crls.push(CrlStatus {
                ca: r.role.clone(),
                issuer_fingerprint: r.fingerprint_display(),
                crl_number: c.crl_number,
                this_update: ms(c.this_update),
                next_update: ms(c.next_update),
            });
        }
    }
    let server = std::fs::read_to_string(config.data_dir.join("tls/server.crt"))
        .ok()
        .and_then(|pem| ca::inspect::parse_certificate_pem(&pem).ok())
        .map(|info| ServerCertificateStatus {
            days_left: info.days_left(now),
            not_after: rfc3339(info.not_after),
            serial: info.serial,
        });
    let active_issuing = rows
        .iter()
        .find(|r| r.role == ROLE_ISSUING && r.status == STATUS_ACTIVE);
    let warnings = match (recorded_root.as_ref().or(rows.first()), active_issuing) {
        (Some(root), Some(issuing)) => {
            let root_crl = crls.iter().find(|c| c.ca == ROLE_ROOT);
            super::upkeep::expiry_warnings(
                &super::upkeep::Expiries {
                    server: server.as_ref().and_then(|s| {
                        OffsetDateTime::parse(
                            &s.not_after,
                            &time::format_description::well_known::Rfc3339,
                        )
                        .ok()
                    }),
                    issuing: ms_to_time(issuing.not_after),
                    root: ms_to_time(root.not_after),
                    root_crl: root_crl.and_then(|c| {
                        OffsetDateTime::parse(
                            &c.next_update,
                            &time::format_description::well_known::Rfc3339,
                        )
                        .ok()
                    }),
                },
                now,
            )
            .into_iter()
            .map(|w| w.message)
            .collect()
        }
        _ => Vec::new(),
    };
    Ok(CaStatus {
        directory: dir,
        certificates,
        server,
        crls,
        warnings,
        problem,
    })
}

fn row_of(new: &NewCaCertificate, role: &str, status: &str) -> CaCertificateRow {
    let info = ca::inspect::parse_certificate_pem(new.pem()).ok();
    CaCertificateRow {
        fingerprint: new.fingerprint().to_owned(),
        role: role.to_owned(),
        status: status.to_owned(),
        subject: info.as_ref().map(|i| i.subject.clone()).unwrap_or_default(),
        serial: info.as_ref().map(|i| i.serial.clone()).unwrap_or_default(),
        key_id: info
            .as_ref()
            .and_then(|i| i.subject_key_id.as_ref())
            .map(hex::encode)
            .unwrap_or_default(),
        pem: new.pem().to_owned(),
        not_before: info
            .as_ref()
            .map_or(0, |i| crate::listings::time_to_ms(i.not_before)),
        not_after: info
            .as_ref()
            .map_or(0, |i| crate::listings::time_to_ms(i.not_after)),
        exported_at: None,
        retired_at: None,
        revoked_at: None,
        revocation_reason: None,
        created_at: 0,
    }
}

/// What `platform ca export-root` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct RootExport {
    /// The file.
    pub file: PathBuf,
    /// The root's fingerprint.
    pub root_fingerprint: String,
    /// How the key in it is encrypted.
    pub key_protection: String,
}

/// Writes the root certificate and the root key, encrypted with `export_passphrase`
/// ([`ca::keys::KdfCost::CA`]), to a new file `out` (0600; never overwritten), and records the
/// export (audited `ca.export_root`).
pub fn export_root(
    config: &Config,
    conn: &mut DbConn,
    out: &Path,
    export_passphrase: &str,
) -> Result<RootExport, PkiError> {
    check_new_passphrase(export_passphrase, "the export passphrase", true)?;
    if out.exists() {
        return Err(PkiError::Refused(format!(
            "{} already exists; choose another file name (an export is never overwritten)",
            out.display()
        )));
    }
    let pki = Pki::open(config, conn)?;
    let ca = pki.ca();
    let root = ca
        .root_key(custody::passphrase_from_env().as_deref())
        .map_err(|e| match e {
            ca::CaError::RootKeyOffline(_) => PkiError::Refused(format!(
                "the root key is already offline (not in {}): there is nothing to export; keep the export you made when removing it",
                ca.dir().display()
            )),
            other => PkiError::Context {
                context: "the root key in the CA directory".into(),
                source: Box::new(other.into()),
            },
        })?;
    let text = ca.export_root(&root, export_passphrase, ca::keys::KdfCost::CA)?;
    let fingerprint = ca.root_fingerprint();
    crate::write_tx!(conn, |c| -> Result<(), PkiError> {
        write_new_private_file(out, text.as_bytes())?;
        c.mark_root_exported(&fingerprint.to_hex(), crate::db::now_ms())?;
        c.audit(
            &crate::admin::operator(),
            "ca.export_root",
            Some(&fingerprint.to_hex()),
            serde_json::json!({"file": out.display().to_string(), "kdf": ca::keys::KdfCost::CA.to_string()}),
        )?;
        Ok(())
    })?;
    Ok(RootExport {
        file: out.to_path_buf(),
        root_fingerprint: fingerprint.to_string(),
        key_protection: ca::keys::KeyProtection::Encrypted(Some(ca::keys::KdfCost::CA)).to_string(),
    })
}

/// Creates `path` (0600), refusing an existing file, and writes `bytes` durably.
fn write_new_private_file(path: &Path, bytes: &[u8]) -> Result<(), PkiError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(PkiError::io(if path.exists() {
        format!(
            "{} already exists; choose another file name",
            path.display()
        )
    } else {
        format!("cannot create {}", path.display())
    }))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(PkiError::io(format_args!(
            "cannot write {}",
            path.display()
        )))?;
    Ok(())
}

/// What `platform ca remove-root` did.
#[derive(Debug, Clone, Serialize)]
pub struct RootRemoved {
    /// The root's fingerprint.
    pub root_fingerprint: String,
    /// When the export it relies on was made.
    pub exported_at: String,
    /// The key file removed.
    pub removed: PathBuf,
    /// The number of the root's CRL signed just before.
    pub root_crl_number: i64,
    /// When that CRL must be signed again.
    pub root_crl_next_update: String,
}

/// Removes the root key from the CA directory (audited `ca.remove_root`), after signing the
/// root's CRL one last time (valid a year). Refused without `yes`, when the root key is not
/// there, or when no export of it was recorded.
pub fn remove_root(config: &Config, conn: &mut DbConn, yes: bool) -> Result<RootRemoved, PkiError> {
    let pki = Pki::open(config, conn)?;
    let ca = pki.ca();
    if !ca.root_key_online() {
        return Err(PkiError::Refused(format!(
            "the root key is already offline (not in {}); nothing was removed",
            ca.dir().display()
        )));
    }
    let rows = crate::with_conn!(conn, |c| c.ca_certificates())?;
    let root = rows
        .iter()
        .find(|r| r.role == ROLE_ROOT)
        .ok_or_else(|| PkiError::Refused("the CA is not recorded in the database".into()))?;
    let Some(exported_at) = root.exported_at else {
        return Err(PkiError::Refused(
            "no export of the root key is recorded: run `platform ca export-root --out FILE` first and keep FILE (and its passphrase) offline; nothing was removed".into(),
        ));
    };
    if !yes {
        return Err(PkiError::Refused(format!(
            "removing the root key needs --yes: after it, rollovers and the root's CRL need the export made {} (platform ca rollover --root-key FILE); nothing was removed",
            ms(exported_at)
        )));
    }
    // The root's CRL starts a fresh year as the root goes offline.
    let root_key = ca
        .root_key(custody::passphrase_from_env().as_deref())
        .context("the root key in the CA directory")?;
    let root_crl = crl::sign_root_crl(ca, &root_key, conn, &crate::admin::operator())?;
    drop(root_key);
    let removed = ca.dir().join("root.key");
    let fingerprint = ca.root_fingerprint().to_hex();
    crate::write_tx!(conn, |c| -> Result<(), PkiError> {
        c.audit(
            &crate::admin::operator(),
            "ca.remove_root",
            Some(&fingerprint),
            serde_json::json!({"file": removed.display().to_string(), "exported_at": ms(exported_at)}),
        )?;
        ca.remove_root_key()?;
        custody::stored::store_dir_in(c, ca.dir())?;
        Ok(())
    })?;
    Ok(RootRemoved {
        root_fingerprint: ca.root_fingerprint().to_string(),
        exported_at: ms(exported_at),
        removed,
        root_crl_number: root_crl.crl_number,
        root_crl_next_update: ms(root_crl.next_update),
    })
}

/// Reads a root key file: an export (decrypted with `passphrase`) or a plain key.
pub fn read_root_key(
    file: &Path,
    passphrase: Option<&str>,
) -> Result<ca::custody::RootKey, PkiError> {
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(file).map_err(PkiError::io(
        format_args!("cannot read the root key file {}", file.display()),
    ))?);
    ca::custody::RootKey::from_export(&text, passphrase)
        .with_context(|| format!("root key file {}", file.display()))
}

/// True when a root key file holds an encrypted key (so a passphrase is needed).
pub fn root_key_file_encrypted(file: &Path) -> Result<bool, PkiError> {
    let text = std::fs::read_to_string(file).map_err(PkiError::io(format_args!(
        "cannot read the root key file {}",
        file.display()
    )))?;
    Ok(text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----"))
}

/// What `platform ca rollover` did.
#[derive(Debug, Clone, Serialize)]
pub struct Rollover {
    /// The issuing CA retired (fingerprint).
    pub retired: String,
    /// The new issuing CA (fingerprint).
    pub issuing: String,
    /// Its subject.
    pub subject: String,
    /// Its end of validity.
    pub not_after: String,
    /// The number of the root's CRL signed with it.
    pub root_crl_number: i64,
}

/// A new issuing CA signed by `root` (brought in memory only): the current one is retired (it
/// keeps validating the certificates it issued), the database records both (audited
/// `ca.rollover`), and the root's CRL is signed again.
pub fn rollover(
    config: &Config,
    conn: &mut DbConn,
    root: &ca::custody::RootKey,
) -> Result<Rollover, PkiError> {
    let pki = Pki::open(config, conn)?;
    let ca = pki.ca();
    root.check_belongs_to(ca)?;
    let passphrase = custody::passphrase_from_env();
    let retired = NewCaCertificate::from_der(ca.issuing_der())?;
    let rolled = ca.rollover(root, passphrase.as_deref()).map_err(|e| match e {
        ca::CaError::Passphrase => PkiError::Refused(
            "the CA keys are encrypted: set PLATFORM_CA_PASSPHRASE so the new issuing key is encrypted too; nothing was changed".into(),
        ),
        other => other.into(),
    })?;
    let new = NewCaCertificate::from_der(rolled.issuing_der())?;
    crate::write_tx!(conn, |c| -> Result<(), PkiError> {
        c.retire_issuing(retired.fingerprint(), crate::db::now_ms())?;
        c.record_ca_certificate(&new, ROLE_ISSUING, STATUS_ACTIVE)?;
        custody::stored::store_dir_in(c, rolled.dir())?;
        c.audit(
            &crate::admin::operator(),
            "ca.rollover",
            Some(new.fingerprint()),
            serde_json::json!({"retired": retired.fingerprint(), "issuing": new.fingerprint()}),
        )?;
        Ok(())
    })?;
    let root_crl = crl::sign_root_crl(&rolled, root, conn, &crate::admin::operator())?;
    let info = ca::inspect::parse_certificate_der(rolled.issuing_der())?;
    Ok(Rollover {
        retired: ca::inspect::Fingerprint::of(ca.issuing_der()).to_string(),
        issuing: info.fingerprint.to_string(),
        subject: info.subject,
        not_after: rfc3339(info.not_after),
        root_crl_number: root_crl.crl_number,
    })
}

/// What `platform ca sign-root-crl` did.
#[derive(Debug, Clone, Serialize)]
pub struct RootCrlSigned {
    /// Its number.
    pub crl_number: i64,
    /// Its next update.
    pub next_update: String,
}

/// Signs the root's CRL again with `root` (an exported key brought in), or with the root key in
/// the CA directory when `root` is `None`.
pub fn sign_root_crl(
    config: &Config,
    conn: &mut DbConn,
    root: Option<&ca::custody::RootKey>,
) -> Result<RootCrlSigned, PkiError> {
    let pki = Pki::open(config, conn)?;
    let ca = pki.ca();
    let online;
    let root = match root {
        Some(r) => r,
        None => {
            online = ca
                .root_key(custody::passphrase_from_env().as_deref())
                .map_err(|e| match e {
                    ca::CaError::RootKeyOffline(_) => PkiError::Refused(
                        "the root key is offline: give its export with --root-key FILE".into(),
                    ),
                    other => other.into(),
                })?;
            &online
        }
    };
    let row = crl::sign_root_crl(ca, root, conn, &crate::admin::operator())?;
    Ok(RootCrlSigned {
        crl_number: row.crl_number,
        next_update: ms(row.next_update),
    })
}

/// What `platform ca encrypt-keys` did.
#[derive(Debug, Clone, Serialize)]
pub struct KeysEncrypted {
    /// The key files now encrypted.
    pub files: Vec<PathBuf>,
    /// How.
    pub key_protection: String,
}

/// Encrypts every CA key in the CA directory with `passphrase` (each file replaced atomically;
/// audited `ca.encrypt_keys`). Keys already encrypted must open with the same passphrase.
pub fn encrypt_keys(
    config: &Config,
    conn: &mut DbConn,
    passphrase: &str,
) -> Result<KeysEncrypted, PkiError> {
    check_new_passphrase(passphrase, "PLATFORM_CA_PASSPHRASE", false)?;
    let pki = Pki::open(config, conn)?;
    let dir = pki.ca().dir().to_path_buf();
    let cost = ca::keys::KdfCost::CA;
    let files = crate::write_tx!(conn, |c| -> Result<Vec<PathBuf>, PkiError> {
        let files = ca::custody::encrypt_key_files(&dir, passphrase, cost).map_err(|e| match e {
            ca::CaError::Passphrase => PkiError::Refused(format!(
                "a CA key in {} is encrypted with another passphrase: set PLATFORM_CA_PASSPHRASE to that one; nothing was changed",
                dir.display()
            )),
            other => other.into(),
        })?;
        custody::stored::store_dir_in(c, &dir)?;
        c.audit(
            &crate::admin::operator(),
            "ca.encrypt_keys",
            Some(&pki.ca().root_fingerprint().to_hex()),
            serde_json::json!({
                "files": files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
                "kdf": cost.to_string(),
            }),
        )?;
        Ok(files)
    })?;
    Ok(KeysEncrypted {
        files,
        key_protection: ca::keys::KeyProtection::Encrypted(Some(cost)).to_string(),
    })
}
