//! The register of every certificate the issuing CA signed, and revocation. The register, not the
//! CRL, is what the agency API checks on every request, so a revocation takes effect at once.

use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::certificates;

/// Kind of certificate.
pub const KIND_CLIENT: &str = "client";
/// The agency port's own certificate.
pub const KIND_SERVER: &str = "server";
/// The platform's document-signing certificate ([`super::signer`]).
pub const KIND_SIGNER: &str = "signer";

/// A certificate as registered.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize)]
#[diesel(table_name = certificates)]
pub struct CertificateRow {
    /// Serial, lowercase hex.
    pub serial: String,
    /// Owning agency (None for server certificates).
    pub agency_id: Option<i64>,
    /// `client`, `server` or `signer`.
    pub kind: String,
    /// Subject, as text.
    pub subject: String,
    /// SHA-256 of the DER, lowercase hex.
    pub fingerprint: String,
    /// The certificate, PEM.
    #[serde(skip)]
    pub pem: String,
    /// Start of validity (ms).
    pub not_before: i64,
    /// End of validity (ms).
    pub not_after: i64,
    /// `valid` or `revoked`.
    pub status: String,
    /// When revoked (ms).
    pub revoked_at: Option<i64>,
    /// Why revoked (a [`ca::RevocationReason`] name).
    pub revocation_reason: Option<String>,
    /// The certificate this one renewed.
    pub renewed_from: Option<String>,
    /// When the expiry notice went out (ms).
    pub expiry_notice_sent_at: Option<i64>,
    /// Registered at (ms).
    pub created_at: i64,
}

impl CertificateRow {
    /// True when revoked.
    pub fn is_revoked(&self) -> bool {
        self.status == "revoked"
    }
}

/// A newly issued certificate to register.
#[derive(Debug, Clone)]
pub struct NewCertificate<'a> {
    /// What the CA returned.
    pub issued: &'a ca::Issued,
    /// Owning agency.
    pub agency_id: Option<i64>,
    /// `client`, `server` or `signer`.
    pub kind: &'static str,
    /// The certificate renewed by this one.
    pub renewed_from: Option<&'a str>,
}

/// Reading and writing the register; implemented for both connection types.
pub trait CertificateStore {
    /// Registers a certificate.
    fn insert_certificate(&mut self, cert: &NewCertificate<'_>) -> QueryResult<()>;
    /// One certificate by serial.
    fn find_certificate(&mut self, serial: &str) -> QueryResult<Option<CertificateRow>>;
    /// Certificates, newest first, optionally of one agency.
    fn list_certificates(&mut self, agency_id: Option<i64>) -> QueryResult<Vec<CertificateRow>>;
    /// Revokes a valid certificate; `Ok(None)` when there is no such serial, the row unchanged
    /// when it was already revoked.
    fn revoke_certificate(
        &mut self,
        serial: &str,
        reason: ca::RevocationReason,
    ) -> QueryResult<Option<CertificateRow>>;
    /// All revoked certificates that have not yet expired (what the CRL lists).
    fn revoked_unexpired(&mut self, now_ms: i64) -> QueryResult<Vec<CertificateRow>>;
    /// Valid client certificates expiring before `before_ms` whose agency was not yet told and
    /// which have not been renewed.
    fn expiring_unnoticed(
        &mut self,
        before_ms: i64,
        now_ms: i64,
    ) -> QueryResult<Vec<CertificateRow>>;
    /// Records that the expiry notice for `serial` was queued.
    fn mark_expiry_notice(&mut self, serial: &str, at_ms: i64) -> QueryResult<()>;
}

crate::impl_for_backends!(CertificateStore {
    fn insert_certificate(&mut self, cert: &NewCertificate<'_>) -> QueryResult<()> {
        let issued = cert.issued;
        diesel::insert_into(certificates::table)
            .values((
                certificates::serial.eq(&issued.serial),
                certificates::agency_id.eq(cert.agency_id),
                certificates::kind.eq(cert.kind),
                certificates::subject.eq(&issued.subject),
                certificates::fingerprint.eq(issued.fingerprint.to_hex()),
                certificates::pem.eq(&issued.pem),
                certificates::not_before.eq(crate::listings::time_to_ms(issued.not_before)),
                certificates::not_after.eq(crate::listings::time_to_ms(issued.not_after)),
                certificates::status.eq("valid"),
                certificates::renewed_from.eq(cert.renewed_from),
                certificates::created_at.eq(crate::db::now_ms()),
            ))
            .execute(self)
            .map(drop)
    }

    fn find_certificate(&mut self, serial: &str) -> QueryResult<Option<CertificateRow>> {
        certificates::table
            .find(serial)
            .select(CertificateRow::as_select())
            .first(self)
            .optional()
    }

    fn list_certificates(&mut self, agency_id: Option<i64>) -> QueryResult<Vec<CertificateRow>> {
        let mut query = certificates::table
            .select(CertificateRow::as_select())
            .into_boxed();
        if let Some(id) = agency_id {
            query = query.filter(certificates::agency_id.eq(id));
        }
        query.order(certificates::created_at.desc()).load(self)
    }

    fn revoke_certificate(
        &mut self,
        serial: &str,
        reason: ca::RevocationReason,
    ) -> QueryResult<Option<CertificateRow>> {
        diesel::update(
            certificates::table
                .find(serial)
                .filter(certificates::status.eq("valid")),
        )
        .set((
            certificates::status.eq("revoked"),
            certificates::revoked_at.eq(crate::db::now_ms()),
            certificates::revocation_reason.eq(reason.to_string()),
        ))
        .execute(self)?;
        self.find_certificate(serial)
    }

    fn revoked_unexpired(&mut self, now_ms: i64) -> QueryResult<Vec<CertificateRow>> {
        certificates::table
            .filter(certificates::status.eq("revoked"))
            .filter(certificates::not_after.gt(now_ms))
            .select(CertificateRow::as_select())
            .order(certificates::revoked_at.asc())
            .load(self)
    }

    fn expiring_unnoticed(
        &mut self,
        before_ms: i64,
        now_ms: i64,
    ) -> QueryResult<Vec<CertificateRow>> {
        let candidates: Vec<CertificateRow> = certificates::table
            .filter(certificates::kind.eq(KIND_CLIENT))
            .filter(certificates::status.eq("valid"))
            .filter(certificates::expiry_notice_sent_at.is_null())
            .filter(certificates::not_after.lt(before_ms))
            .filter(certificates::not_after.gt(now_ms))
            .select(CertificateRow::as_select())
            .load(self)?;
        if candidates.is_empty() {
            return Ok(candidates);
        }
        let serials: Vec<&str> = candidates.iter().map(|c| c.serial.as_str()).collect();
        let renewed: Vec<Option<String>> = certificates::table
            .filter(certificates::renewed_from.eq_any(serials))
            .select(certificates::renewed_from)
            .load(self)?;
        Ok(candidates
            .into_iter()
            .filter(|c| !renewed.iter().any(|r| r.as_deref() == Some(c.serial.as_str())))
            .collect())
    }

    fn mark_expiry_notice(&mut self, serial: &str, at_ms: i64) -> QueryResult<()> {
        diesel::update(certificates::table.find(serial))
            .set(certificates::expiry_notice_sent_at.eq(at_ms))
            .execute(self)
            .map(drop)
    }
});
