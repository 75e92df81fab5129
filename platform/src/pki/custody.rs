//! Custody of the certificate authority on the platform's side: the CA's own certificates are
//! recorded in the database (`ca_certificates`), so a database is only ever served by the CA it
//! belongs to, and opening the CA checks the data directory against that record.
//!
//! Opening the CA (at start and in every operator command that uses it):
//!
//! | database | `DATA_DIR/ca` | outcome |
//! |---|---|---|
//! | records a CA | empty | refused: names the root fingerprint to restore; nothing is created |
//! | records a CA | another root | refused: names both fingerprints |
//! | records a CA | the same root | opened; a newer issuing CA on disk (a rollover) is recorded, a retired one is refused |
//! | no CA, registered certificates | a CA that issued them | the CA is recorded (upgrade from before the record) |
//! | no CA, registered certificates | empty or another CA | refused |
//! | nothing | empty | a new CA is created in a staging directory, recorded, then moved into place |
//!
//! Under a production configuration (an `https://` website) the server also refuses CA keys
//! stored unencrypted, unless `ca.allow_unencrypted_keys` says otherwise.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use ca::inspect::Fingerprint;
use diesel::prelude::*;
use serde::Serialize;

use crate::audit::{Actor, AuditLog};
use crate::config::Config;
use crate::db::DbConn;
use crate::db::schema::{ca_certificates, ca_crls, certificates};
use crate::listings::time_to_ms;

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

/// One of the CA's own certificates as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize)]
#[diesel(table_name = ca_certificates)]
pub struct CaCertificateRow {
    /// SHA-256 of the DER, lowercase hex.
    pub fingerprint: String,
    /// `root` or `issuing`.
    pub role: String,
    /// `active`, `retired` or `revoked`.
    pub status: String,
    /// Subject, as text.
    pub subject: String,
    /// Serial, lowercase hex.
    pub serial: String,
    /// Subject key identifier, lowercase hex.
    pub key_id: String,
    /// The certificate, PEM.
    #[serde(skip)]
    pub pem: String,
    /// Start of validity (ms).
    pub not_before: i64,
    /// End of validity (ms).
    pub not_after: i64,
    /// Root: when its key was last exported (ms).
    pub exported_at: Option<i64>,
    /// When it was retired (ms).
    pub retired_at: Option<i64>,
    /// When it was revoked (ms).
    pub revoked_at: Option<i64>,
    /// Why it was revoked.
    pub revocation_reason: Option<String>,
    /// Recorded at (ms).
    pub created_at: i64,
}

impl CaCertificateRow {
    /// The certificate, DER.
    pub fn der(&self) -> Option<Vec<u8>> {
        ca::inspect::parse_chain_pem(&self.pem)
            .ok()
            .map(|mut c| c.swap_remove(0))
    }

    /// The fingerprint as operators see it (`AB:CD:…`).
    pub fn fingerprint_display(&self) -> String {
        ca::inspect::Fingerprint::parse(&self.fingerprint)
            .map(|f| f.to_string())
            .unwrap_or_else(|| self.fingerprint.clone())
    }
}

/// A CA certificate to record, read from its DER.
#[derive(Debug, Clone)]
pub struct NewCaCertificate {
    fingerprint: String,
    subject: String,
    serial: String,
    key_id: String,
    pem: String,
    not_before: i64,
    not_after: i64,
}

impl NewCaCertificate {
    /// SHA-256 of the DER, lowercase hex.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The certificate, PEM.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// Reads a CA certificate.
    pub fn from_der(der: &[u8]) -> anyhow::Result<NewCaCertificate> {
        let info = ca::inspect::parse_certificate_der(der)?;
        let key_id = info
            .subject_key_id
            .clone()
            .context("a CA certificate without a subject key identifier")?;
        Ok(NewCaCertificate {
            fingerprint: info.fingerprint.to_hex(),
            subject: info.subject.clone(),
            serial: info.serial.clone(),
            key_id: hex::encode(key_id),
            pem: pem::encode_config(
                &pem::Pem::new("CERTIFICATE", der.to_vec()),
                pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
            ),
            not_before: time_to_ms(info.not_before),
            not_after: time_to_ms(info.not_after),
        })
    }
}

/// A CA's current CRL as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = ca_crls)]
pub struct CrlRow {
    /// Fingerprint (hex) of the CA that signed it.
    pub issuer_fingerprint: String,
    /// Its CRL number.
    pub crl_number: i64,
    /// This update (ms).
    pub this_update: i64,
    /// Next update (ms).
    pub next_update: i64,
    /// SHA-256 over the entries it lists.
    pub revoked_digest: String,
    /// The CRL, PEM.
    #[serde(skip)]
    pub pem: String,
    /// When it was stored (ms).
    pub updated_at: i64,
}

impl CrlRow {
    /// The CRL, DER.
    pub fn der(&self) -> anyhow::Result<Vec<u8>> {
        Ok(pem::parse(&self.pem)?.into_contents())
    }
}

/// The CA records; implemented for both connection types.
pub trait CaStore {
    /// Every recorded CA certificate: the root first, then issuing CAs, newest first.
    fn ca_certificates(&mut self) -> QueryResult<Vec<CaCertificateRow>>;
    /// Records a CA certificate.
    fn record_ca_certificate(
        &mut self,
        cert: &NewCaCertificate,
        role: &str,
        status: &str,
    ) -> QueryResult<()>;
    /// Marks the active issuing CA `fingerprint` retired; how many rows changed.
    fn retire_issuing(&mut self, fingerprint: &str, at_ms: i64) -> QueryResult<usize>;
    /// Records that the root key was exported.
    fn mark_root_exported(&mut self, fingerprint: &str, at_ms: i64) -> QueryResult<()>;
    /// Serial and PEM of every registered (issued) certificate.
    fn registered_certificates(&mut self) -> QueryResult<Vec<(String, String)>>;
    /// The stored CRL of the CA `issuer_fingerprint`.
    fn find_crl(&mut self, issuer_fingerprint: &str) -> QueryResult<Option<CrlRow>>;
    /// Stores (inserts or replaces) a CA's current CRL.
    fn save_crl(&mut self, crl: &CrlRow) -> QueryResult<()>;
}

crate::impl_for_backends!(CaStore {
    fn ca_certificates(&mut self) -> QueryResult<Vec<CaCertificateRow>> {
        let mut rows: Vec<CaCertificateRow> = ca_certificates::table
            .select(CaCertificateRow::as_select())
            .load(self)?;
        rows.sort_by_key(|r| (r.role != ROLE_ROOT, std::cmp::Reverse(r.not_after)));
        Ok(rows)
    }

    fn record_ca_certificate(
        &mut self,
        cert: &NewCaCertificate,
        role: &str,
        status: &str,
    ) -> QueryResult<()> {
        let now = crate::db::now_ms();
        diesel::insert_into(ca_certificates::table)
            .values((
                ca_certificates::fingerprint.eq(&cert.fingerprint),
                ca_certificates::role.eq(role),
                ca_certificates::status.eq(status),
                ca_certificates::subject.eq(&cert.subject),
                ca_certificates::serial.eq(&cert.serial),
                ca_certificates::key_id.eq(&cert.key_id),
                ca_certificates::pem.eq(&cert.pem),
                ca_certificates::not_before.eq(cert.not_before),
                ca_certificates::not_after.eq(cert.not_after),
                ca_certificates::retired_at.eq((status == STATUS_RETIRED).then_some(now)),
                ca_certificates::created_at.eq(now),
            ))
            .execute(self)
            .map(drop)
    }

    fn retire_issuing(&mut self, fingerprint: &str, at_ms: i64) -> QueryResult<usize> {
        diesel::update(
            ca_certificates::table
                .find(fingerprint)
                .filter(ca_certificates::role.eq(ROLE_ISSUING))
                .filter(ca_certificates::status.eq(STATUS_ACTIVE)),
        )
        .set((
            ca_certificates::status.eq(STATUS_RETIRED),
            ca_certificates::retired_at.eq(at_ms),
        ))
        .execute(self)
    }

    fn mark_root_exported(&mut self, fingerprint: &str, at_ms: i64) -> QueryResult<()> {
        diesel::update(ca_certificates::table.find(fingerprint))
            .set(ca_certificates::exported_at.eq(at_ms))
            .execute(self)
            .map(drop)
    }

    fn registered_certificates(&mut self) -> QueryResult<Vec<(String, String)>> {
        certificates::table
            .select((certificates::serial, certificates::pem))
            .load(self)
    }

    fn find_crl(&mut self, issuer_fingerprint: &str) -> QueryResult<Option<CrlRow>> {
        ca_crls::table
            .find(issuer_fingerprint)
            .select(CrlRow::as_select())
            .first(self)
            .optional()
    }

    fn save_crl(&mut self, crl: &CrlRow) -> QueryResult<()> {
        diesel::insert_into(ca_crls::table)
            .values(crl)
            .on_conflict(ca_crls::issuer_fingerprint)
            .do_update()
            .set((
                ca_crls::crl_number.eq(crl.crl_number),
                ca_crls::this_update.eq(crl.this_update),
                ca_crls::next_update.eq(crl.next_update),
                ca_crls::revoked_digest.eq(&crl.revoked_digest),
                ca_crls::pem.eq(&crl.pem),
                ca_crls::updated_at.eq(crl.updated_at),
            ))
            .execute(self)
            .map(drop)
    }
});

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
pub fn publication(config: &Config) -> anyhow::Result<ca::Publication> {
    ca::Publication::new(&config.ca_public_url()).context("ca.public_url")
}

/// Opens the CA of this database from `DATA_DIR/ca` (see the module documentation for every
/// case), creating it only for a fresh database and an empty directory.
pub fn open_authority(
    config: &Config,
    conn: &mut DbConn,
    passphrase: Option<&str>,
    opening: Opening,
) -> anyhow::Result<ca::CertificateAuthority> {
    let dir = ca_dir(&config.data_dir);
    let publication = publication(config)?;
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
        (Some(root), true) => bail!(
            "the database belongs to the certificate authority with root fingerprint {}, but {} \
             holds no CA: restore that CA's files (root.crt, issuing.crt, issuing.key and \
             retired/) into {} from its backup, or start with the database of this data \
             directory; nothing was created",
            root.fingerprint_display(),
            dir.display(),
            dir.display()
        ),
        (Some(root), false) => {
            if let Some(on_disk) = files.root_fingerprint()
                && on_disk.to_hex() != root.fingerprint
            {
                bail!(
                    "{} holds the certificate authority with root fingerprint {on_disk}, but the \
                     database belongs to the root {}: restore that CA's files into {} from its \
                     backup (or start with the database of this CA); nothing was changed",
                    dir.display(),
                    root.fingerprint_display(),
                    dir.display()
                );
            }
            check_production_keys(config, &files, opening)?;
            let ca = load(&dir, passphrase)?.with_publication(Some(publication));
            reconcile_issuing(&ca, conn, &rows)?;
            Ok(ca)
        }
        (None, true) => {
            let registered = crate::with_conn!(conn, |c| c.registered_certificates())?;
            if let Some((serial, _)) = registered.first() {
                bail!(
                    "the database holds {} registered certificate(s) (e.g. {serial}) but no record \
                     of its certificate authority, and {} is empty: restore the CA that issued \
                     them into {} from its backup; nothing was created",
                    registered.len(),
                    dir.display(),
                    dir.display()
                );
            }
            if opening == Opening::Serve
                && config.is_production()
                && passphrase.is_none()
                && !config.ca.allow_unencrypted_keys
            {
                bail!(
                    "refusing to create the certificate authority with unencrypted keys under a \
                     production configuration (web.public_url {} is https://): set \
                     PLATFORM_CA_PASSPHRASE, or set ca.allow_unencrypted_keys = true to accept \
                     the risk",
                    config.web.public_url
                );
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
                    bail!(
                        "the database holds certificate {serial}, which the certificate authority \
                         in {} (root fingerprint {}) did not issue: restore the CA that issued \
                         the registered certificates into {}; nothing was recorded",
                        dir.display(),
                        ca.root_fingerprint(),
                        dir.display()
                    );
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

fn load(dir: &Path, passphrase: Option<&str>) -> anyhow::Result<ca::CertificateAuthority> {
    ca::CertificateAuthority::load(dir, passphrase)
        .with_context(|| format!("certificate authority in {}", dir.display()))
}

/// Under a production configuration the server refuses CA keys stored unencrypted, unless
/// allowed.
fn check_production_keys(
    config: &Config,
    files: &ca::custody::CaFiles,
    opening: Opening,
) -> anyhow::Result<()> {
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
    bail!(
        "refusing to start: the CA keys {} are not encrypted and this is a production \
         configuration (web.public_url {} is https://): encrypt them with \
         `PLATFORM_CA_PASSPHRASE=... platform ca encrypt-keys` and start with \
         PLATFORM_CA_PASSPHRASE set, or set ca.allow_unencrypted_keys = true \
         (PLATFORM_CA_ALLOW_UNENCRYPTED_KEYS=true) to accept the risk",
        names.join(", "),
        config.web.public_url
    )
}

/// A fresh database and an empty directory: the CA is made in a staging directory, recorded,
/// and only then moved into place, so a process that loses a race to record its CA (or fails)
/// leaves no CA behind.
fn create(
    config: &Config,
    conn: &mut DbConn,
    dir: &Path,
    passphrase: Option<&str>,
    publication: &ca::Publication,
) -> anyhow::Result<ca::CertificateAuthority> {
    let staging = config
        .data_dir
        .join(format!(".ca-new-{:016x}", rand::random::<u64>()));
    let created = ca::CertificateAuthority::create(
        &staging,
        &config.ca.organization,
        passphrase,
        Some(publication),
    )
    .with_context(|| {
        format!(
            "creating the certificate authority in {}",
            staging.display()
        )
    });
    let recorded = created.and_then(|ca| {
        record_new_ca(conn, &ca, "ca.create", 0).context(
            "recording the new certificate authority (another platform process may have \
             recorded its own CA in this database at the same moment: start again)",
        )
    });
    if let Err(e) = recorded {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    move_into_place(&staging, dir)?;
    let ca = load(dir, passphrase)?.with_publication(Some(publication.clone()));
    tracing::info!(fingerprint = %ca.root_fingerprint(), "created the certificate authority");
    Ok(ca)
}

fn move_into_place(staging: &Path, dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        // An empty directory (checked by the caller) is replaced.
        std::fs::remove_dir(dir).with_context(|| format!("cannot replace {}", dir.display()))?;
    }
    std::fs::rename(staging, dir).with_context(|| {
        format!(
            "cannot move the new CA from {} to {}",
            staging.display(),
            dir.display()
        )
    })
}

/// A CA recorded by a process that stopped before moving it into place is moved now.
fn finish_staged_creation(
    data_dir: &Path,
    dir: &Path,
    expected_fingerprint: &str,
) -> anyhow::Result<bool> {
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return Ok(false);
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let staged = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(".ca-new-"));
        if !staged {
            continue;
        }
        let files = ca::custody::CaFiles::read(&path)?;
        if files
            .root_fingerprint()
            .is_some_and(|f| f.to_hex() == expected_fingerprint)
            && files.missing().is_empty()
        {
            move_into_place(&path, dir)?;
            tracing::info!(from = %path.display(), "moved a recorded CA into place");
            return Ok(true);
        }
    }
    Ok(false)
}

/// Records root, current issuing CA and retired issuing CAs of `ca`, audited as `action`.
pub(crate) fn record_new_ca(
    conn: &mut DbConn,
    ca: &ca::CertificateAuthority,
    action: &str,
    registered: usize,
) -> anyhow::Result<()> {
    let root = NewCaCertificate::from_der(ca.root_der())?;
    let issuing: Vec<(NewCaCertificate, bool)> = ca
        .issuing_cas()
        .iter()
        .map(|i| Ok((NewCaCertificate::from_der(&i.der)?, i.current)))
        .collect::<anyhow::Result<_>>()?;
    crate::write_tx!(conn, |c| -> anyhow::Result<()> {
        c.record_ca_certificate(&root, ROLE_ROOT, STATUS_ACTIVE)?;
        for (cert, current) in &issuing {
            let status = if *current {
                STATUS_ACTIVE
            } else {
                STATUS_RETIRED
            };
            c.record_ca_certificate(cert, ROLE_ISSUING, status)?;
        }
        c.audit(
            &Actor::System,
            action,
            Some(&root.fingerprint),
            serde_json::json!({
                "root": root.fingerprint,
                "issuing": issuing.iter().map(|(i, _)| i.fingerprint.clone()).collect::<Vec<_>>(),
                "registered_certificates": registered,
            }),
        )?;
        Ok(())
    })
}

/// The issuing CA on disk against the record: a newer one (a rollover recorded on disk but not
/// yet in the database) is recorded; a retired or revoked one is refused.
fn reconcile_issuing(
    ca: &ca::CertificateAuthority,
    conn: &mut DbConn,
    rows: &[CaCertificateRow],
) -> anyhow::Result<()> {
    let current = Fingerprint::of(ca.issuing_der()).to_hex();
    let active = rows
        .iter()
        .find(|r| r.role == ROLE_ISSUING && r.status == STATUS_ACTIVE);
    match rows.iter().find(|r| r.fingerprint == current) {
        Some(row) if row.status == STATUS_ACTIVE => Ok(()),
        Some(row) => bail!(
            "{} holds the issuing CA {}, which this database records as {} (the active issuing \
             CA is {}): copy the current CA directory from the node that made the rollover, or \
             restore it from backup",
            ca.dir().display(),
            row.fingerprint_display(),
            row.status,
            active.map_or_else(|| "none".to_owned(), CaCertificateRow::fingerprint_display)
        ),
        None => {
            let new = NewCaCertificate::from_der(ca.issuing_der())?;
            let unknown_retired: Vec<NewCaCertificate> = ca
                .issuing_cas()
                .iter()
                .filter(|i| !i.current)
                .filter(|i| {
                    !rows
                        .iter()
                        .any(|r| r.fingerprint == i.fingerprint().to_hex())
                })
                .map(|i| NewCaCertificate::from_der(&i.der))
                .collect::<anyhow::Result<_>>()?;
            let previous = active.map(|r| r.fingerprint.clone());
            crate::write_tx!(conn, |c| -> anyhow::Result<()> {
                let now = crate::db::now_ms();
                if let Some(previous) = &previous {
                    c.retire_issuing(previous, now)?;
                }
                for retired in &unknown_retired {
                    c.record_ca_certificate(retired, ROLE_ISSUING, STATUS_RETIRED)?;
                }
                c.record_ca_certificate(&new, ROLE_ISSUING, STATUS_ACTIVE)?;
                c.audit(
                    &Actor::System,
                    "ca.record_issuing",
                    Some(&new.fingerprint),
                    serde_json::json!({"previous": previous}),
                )?;
                Ok(())
            })?;
            tracing::info!(issuing = %new.fingerprint, "recorded the issuing CA found in the data directory");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{CertificateStore, NewCertificate};

    fn config(data_dir: &Path) -> Config {
        Config {
            data_dir: data_dir.to_owned(),
            ..Config::default()
        }
    }

    fn audit_actions(conn: &mut DbConn) -> Vec<String> {
        crate::with_conn!(conn, |c| c.audit_entries(None, 100))
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect()
    }

    fn recorded(conn: &mut DbConn) -> Vec<CaCertificateRow> {
        crate::with_conn!(conn, |c| c.ca_certificates()).unwrap()
    }

    /// Registers a client certificate issued by `ca`, as enrolment would.
    fn register_client(conn: &mut DbConn, ca: &ca::CertificateAuthority) -> String {
        let (agency, _) = crate::testing::fixtures::active_agency_with_certificate(conn, "Acme");
        crate::with_conn!(conn, |c| {
            diesel::delete(certificates::table).execute(c).unwrap();
        });
        let key = ca::keys::PrivateKey::generate_p256().unwrap();
        let issued = ca
            .issue_client(
                &key.csr_pem("desk").unwrap(),
                &ca::ClientProfile::new(agency.id.to_string(), "Acme", 90),
            )
            .unwrap();
        crate::with_conn!(conn, |c| c.insert_certificate(&NewCertificate {
            issued: &issued,
            agency_id: Some(agency.id),
            kind: crate::pki::certs::KIND_CLIENT,
            renewed_from: None,
        }))
        .unwrap();
        issued.serial
    }

    crate::db_test!(a_fresh_database_and_directory_get_a_recorded_ca, |db| {
        let tmp = tempfile::tempdir().unwrap();
        let config = config(tmp.path());
        let mut conn = db.get().unwrap();
        let ca = open_authority(&config, &mut conn, None, Opening::Serve).unwrap();
        let rows = recorded(&mut conn);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].role.as_str(), rows[0].status.as_str()),
            ("root", "active")
        );
        assert_eq!(rows[0].fingerprint, ca.root_fingerprint().to_hex());
        assert_eq!(
            rows[1].fingerprint,
            Fingerprint::of(ca.issuing_der()).to_hex()
        );
        assert_eq!(rows[1].key_id, hex::encode(ca.issuing_key_id()));
        assert!(audit_actions(&mut conn).contains(&"ca.create".to_owned()));
        // Nothing left in a staging directory; the CA names where its CRL is.
        let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(".ca-new-"))
            .collect();
        assert!(leftovers.is_empty());
        assert_eq!(
            ca.publication().unwrap().base_url(),
            "https://127.0.0.1:8443"
        );

        // Opened again: the same CA, nothing recorded twice.
        let again = open_authority(&config, &mut conn, None, Opening::Operator).unwrap();
        assert_eq!(again.root_fingerprint(), ca.root_fingerprint());
        assert_eq!(recorded(&mut conn), rows);
    });

    crate::db_test!(
        a_database_with_a_ca_refuses_an_empty_or_foreign_directory,
        |db| {
            let first = tempfile::tempdir().unwrap();
            let mut conn = db.get().unwrap();
            let ca =
                open_authority(&config(first.path()), &mut conn, None, Opening::Serve).unwrap();
            let before = recorded(&mut conn);
            let audit_before = audit_actions(&mut conn);

            let empty = tempfile::tempdir().unwrap();
            let err = open_authority(&config(empty.path()), &mut conn, None, Opening::Serve)
                .unwrap_err()
                .to_string();
            assert!(err.contains(&ca.root_fingerprint().to_string()), "{err}");
            assert!(
                err.contains("restore") && err.contains("nothing was created"),
                "{err}"
            );
            assert!(!empty.path().join("ca").exists(), "no CA directory made");
            assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0);

            let foreign = tempfile::tempdir().unwrap();
            let other =
                ca::CertificateAuthority::load_or_create(&foreign.path().join("ca"), "Other", None)
                    .unwrap();
            let err = open_authority(&config(foreign.path()), &mut conn, None, Opening::Operator)
                .unwrap_err()
                .to_string();
            assert!(err.contains(&ca.root_fingerprint().to_string()), "{err}");
            assert!(err.contains(&other.root_fingerprint().to_string()), "{err}");
            assert_eq!(recorded(&mut conn), before, "nothing recorded");
            assert_eq!(audit_actions(&mut conn), audit_before);

            // A copy of the same CA (another node) is fine.
            let copy = tempfile::tempdir().unwrap();
            std::fs::create_dir(copy.path().join("ca")).unwrap();
            for f in ["root.crt", "root.key", "issuing.crt", "issuing.key"] {
                std::fs::copy(
                    first.path().join("ca").join(f),
                    copy.path().join("ca").join(f),
                )
                .unwrap();
            }
            let same =
                open_authority(&config(copy.path()), &mut conn, None, Opening::Serve).unwrap();
            assert_eq!(same.issuing_der(), ca.issuing_der());
        }
    );

    crate::db_test!(
        an_upgraded_database_records_only_the_ca_that_issued_its_certificates,
        |db| {
            // Today's schema had no record of the CA: certificates only.
            let old = tempfile::tempdir().unwrap();
            let old_ca =
                ca::CertificateAuthority::load_or_create(&old.path().join("ca"), "Old", None)
                    .unwrap();
            let mut conn = db.get().unwrap();
            register_client(&mut conn, &old_ca);

            // Another CA, or none, is refused: nothing created, nothing recorded.
            let foreign = tempfile::tempdir().unwrap();
            ca::CertificateAuthority::load_or_create(&foreign.path().join("ca"), "Other", None)
                .unwrap();
            let err = open_authority(&config(foreign.path()), &mut conn, None, Opening::Serve)
                .unwrap_err()
                .to_string();
            assert!(err.contains("did not issue"), "{err}");
            let empty = tempfile::tempdir().unwrap();
            let err = open_authority(&config(empty.path()), &mut conn, None, Opening::Serve)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("registered certificate") && err.contains("restore"),
                "{err}"
            );
            assert!(!empty.path().join("ca").exists());
            assert!(recorded(&mut conn).is_empty());

            // The CA that issued them is recorded.
            let ca = open_authority(&config(old.path()), &mut conn, None, Opening::Serve).unwrap();
            assert_eq!(ca.root_fingerprint(), old_ca.root_fingerprint());
            let rows = recorded(&mut conn);
            assert_eq!(rows.len(), 2);
            assert!(audit_actions(&mut conn).contains(&"ca.record".to_owned()));
        }
    );

    crate::db_test!(production_refuses_unencrypted_keys_unless_allowed, |db| {
        let tmp = tempfile::tempdir().unwrap();
        let mut production = config(tmp.path());
        production.web.public_url = "https://homes.example".into();
        let mut conn = db.get().unwrap();

        // Not even created with unencrypted keys.
        let err = open_authority(&production, &mut conn, None, Opening::Serve)
            .unwrap_err()
            .to_string();
        assert!(err.contains("PLATFORM_CA_PASSPHRASE"), "{err}");
        assert!(!tmp.path().join("ca").exists());
        assert!(recorded(&mut conn).is_empty());

        // Created by a development start, the keys are plain: production refuses them.
        open_authority(&config(tmp.path()), &mut conn, None, Opening::Serve).unwrap();
        let err = open_authority(&production, &mut conn, None, Opening::Serve)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("issuing.key") && err.contains("root.key"),
            "{err}"
        );
        assert!(err.contains("platform ca encrypt-keys"), "{err}");
        assert!(err.contains("ca.allow_unencrypted_keys"), "{err}");
        // Operator commands still open it (to encrypt the keys), and the risk can be accepted.
        open_authority(&production, &mut conn, None, Opening::Operator).unwrap();
        production.ca.allow_unencrypted_keys = true;
        open_authority(&production, &mut conn, None, Opening::Serve).unwrap();
    });

    crate::db_test!(
        a_rollover_on_disk_is_recorded_and_a_retired_ca_is_refused,
        |db| {
            let tmp = tempfile::tempdir().unwrap();
            let config = config(tmp.path());
            let mut conn = db.get().unwrap();
            let ca = open_authority(&config, &mut conn, None, Opening::Serve).unwrap();
            let backup = tempfile::tempdir().unwrap();
            for f in ["root.crt", "issuing.crt", "issuing.key"] {
                std::fs::copy(tmp.path().join("ca").join(f), backup.path().join(f)).unwrap();
            }
            // A rollover whose database step did not happen (a crash between the two).
            let root = ca.root_key(None).unwrap();
            let rolled = ca.rollover(&root, None).unwrap();
            let opened = open_authority(&config, &mut conn, None, Opening::Serve).unwrap();
            assert_eq!(opened.issuing_der(), rolled.issuing_der());
            let rows = recorded(&mut conn);
            let status = |der: &[u8]| {
                rows.iter()
                    .find(|r| r.fingerprint == Fingerprint::of(der).to_hex())
                    .map(|r| r.status.clone())
            };
            assert_eq!(status(rolled.issuing_der()).as_deref(), Some("active"));
            assert_eq!(status(ca.issuing_der()).as_deref(), Some("retired"));

            // The old issuing CA put back as current (an old backup): refused.
            for f in ["issuing.crt", "issuing.key"] {
                std::fs::copy(backup.path().join(f), tmp.path().join("ca").join(f)).unwrap();
            }
            let err = open_authority(&config, &mut conn, None, Opening::Serve)
                .unwrap_err()
                .to_string();
            assert!(err.contains("retired"), "{err}");
            assert!(
                err.contains(&Fingerprint::of(rolled.issuing_der()).to_string()),
                "{err}"
            );
        }
    );
}
