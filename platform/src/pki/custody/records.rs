//! The CA's own certificates (`ca_certificates`) and CRLs (`ca_crls`) as recorded, their
//! queries ([`CaStore`]), and recording a CA found or made in the data directory.

use ca::inspect::Fingerprint;
use diesel::prelude::*;
use serde::Serialize;

use super::{ROLE_ISSUING, ROLE_ROOT, STATUS_ACTIVE, STATUS_RETIRED};
use crate::audit::{Actor, AuditLog};
use crate::db::DbConn;
use crate::db::schema::{ca_certificates, ca_crls, certificates};
use crate::listings::time_to_ms;
use crate::pki::PkiError;

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
    pub fn from_der(der: &[u8]) -> Result<NewCaCertificate, PkiError> {
        let info = ca::inspect::parse_certificate_der(der)?;
        let key_id = info.subject_key_id.clone().ok_or_else(|| {
            PkiError::Refused("a CA certificate without a subject key identifier".into())
        })?;
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
    pub fn der(&self) -> Result<Vec<u8>, pem::PemError> {
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

/// Records root, current issuing CA and retired issuing CAs of `ca`, audited as `action`.
pub(crate) fn record_new_ca(
    conn: &mut DbConn,
    ca: &ca::CertificateAuthority,
    action: &str,
    registered: usize,
) -> Result<(), PkiError> {
    record_new_ca_with_files(conn, ca, action, registered, None)
}

/// [`record_new_ca`], storing the CA directory's `files` in the same transaction (so nodes
/// racing to create a CA agree on the one recorded with its files).
pub(crate) fn record_new_ca_with_files(
    conn: &mut DbConn,
    ca: &ca::CertificateAuthority,
    action: &str,
    registered: usize,
    files: Option<&super::stored::CaSnapshot>,
) -> Result<(), PkiError> {
    let root = NewCaCertificate::from_der(ca.root_der())?;
    let issuing: Vec<(NewCaCertificate, bool)> = ca
        .issuing_cas()
        .iter()
        .map(|i| Ok((NewCaCertificate::from_der(&i.der)?, i.current)))
        .collect::<Result<_, PkiError>>()?;
    crate::write_tx!(conn, |c| -> Result<(), PkiError> {
        c.record_ca_certificate(&root, ROLE_ROOT, STATUS_ACTIVE)?;
        for (cert, current) in &issuing {
            let status = if *current {
                STATUS_ACTIVE
            } else {
                STATUS_RETIRED
            };
            c.record_ca_certificate(cert, ROLE_ISSUING, status)?;
        }
        if let Some(files) = files {
            files.save(c)?;
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
pub(super) fn reconcile_issuing(
    ca: &ca::CertificateAuthority,
    conn: &mut DbConn,
    rows: &[CaCertificateRow],
) -> Result<(), PkiError> {
    let current = Fingerprint::of(ca.issuing_der()).to_hex();
    let active = rows
        .iter()
        .find(|r| r.role == ROLE_ISSUING && r.status == STATUS_ACTIVE);
    match rows.iter().find(|r| r.fingerprint == current) {
        Some(row) if row.status == STATUS_ACTIVE => Ok(()),
        Some(row) => Err(PkiError::Refused(format!(
            "{} holds the issuing CA {}, which this database records as {} (the active issuing \
             CA is {}): copy the current CA directory from the node that made the rollover, or \
             restore it from backup",
            ca.dir().display(),
            row.fingerprint_display(),
            row.status,
            active.map_or_else(|| "none".to_owned(), CaCertificateRow::fingerprint_display)
        ))),
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
                .collect::<Result<_, PkiError>>()?;
            let previous = active.map(|r| r.fingerprint.clone());
            crate::write_tx!(conn, |c| -> Result<(), PkiError> {
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
