//! The register of every certificate the issuing CA signed, and the certificate events of the
//! change feed. The register, not the CRL, is what the agency API checks on every request (the
//! whole certificate, by fingerprint), so a revocation takes effect at once.
//!
//! Families: an enrolment certificate starts a *lineage* (one desk); each renewal records the
//! certificate it renewed (`renewed_from`) and inherits its lineage. Every certificate records
//! the SHA-256 of its public key, so a key is certified once and a key compromise reaches every
//! certificate of the key. Revoking a family is in [`super::revocation`].

use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{certificate_events, certificates};

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
    /// Serial of the enrolment certificate this one descends from by renewals (its own serial
    /// for an enrolment): the desk. None for server certificates.
    pub lineage: Option<String>,
    /// SHA-256 of the SubjectPublicKeyInfo (DER), lowercase hex.
    pub key_sha256: Option<String>,
    /// When the first request with it arrived (ms); None while a renewal is unused.
    pub first_used_at: Option<i64>,
    /// For `key_compromise`: since when the key is known to be in other hands (ms); None means
    /// since ever (everything the key signed is suspect).
    pub compromised_since: Option<i64>,
}

impl CertificateRow {
    /// True when revoked.
    pub fn is_revoked(&self) -> bool {
        self.status == "revoked"
    }

    /// The parsed revocation reason, when revoked.
    pub fn reason(&self) -> Option<ca::RevocationReason> {
        if !self.is_revoked() {
            return None;
        }
        Some(
            self.revocation_reason
                .as_deref()
                .and_then(|r| r.parse().ok())
                .unwrap_or(ca::RevocationReason::Unspecified),
        )
    }

    /// Valid (not revoked) and not expired at `now_ms`.
    pub fn is_live(&self, now_ms: i64) -> bool {
        !self.is_revoked() && self.not_after > now_ms
    }

    /// The desk this certificate belongs to: its lineage, or itself for rows registered before
    /// lineages were recorded.
    pub fn desk(&self) -> &str {
        self.lineage.as_deref().unwrap_or(&self.serial)
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

/// SHA-256 of a certificate's SubjectPublicKeyInfo, lowercase hex; None when `der` is not a
/// certificate.
pub fn key_sha256(der: &[u8]) -> Option<String> {
    let info = ca::inspect::parse_certificate_der(der).ok()?;
    Some(hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        &info.spki_der,
    )))
}

/// What a certificate event says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateEventKind {
    /// The certificate was revoked.
    Revoked,
    /// A revoked certificate's reason (or compromise date) changed, e.g. raised to
    /// `key_compromise`.
    ReasonChanged,
}

impl CertificateEventKind {
    /// The code stored in `certificate_events.kind` and sent on the wire.
    pub fn code(self) -> &'static str {
        match self {
            CertificateEventKind::Revoked => "revoked",
            CertificateEventKind::ReasonChanged => "reason_changed",
        }
    }

    /// Parses [`CertificateEventKind::code`].
    pub fn from_code(code: &str) -> Option<CertificateEventKind> {
        [
            CertificateEventKind::Revoked,
            CertificateEventKind::ReasonChanged,
        ]
        .into_iter()
        .find(|k| k.code() == code)
    }
}

/// A row of `certificate_events`: the certificate's state when the event was written.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize)]
#[diesel(table_name = certificate_events)]
pub struct CertificateEventRow {
    /// Position in the certificate-event sequence.
    pub seq: i64,
    /// A [`CertificateEventKind`] code.
    pub kind: String,
    /// The certificate's serial.
    pub serial: String,
    /// Its fingerprint (SHA-256 of the DER, lowercase hex).
    pub fingerprint: String,
    /// Its agency (None for server certificates).
    pub agency_id: Option<i64>,
    /// The revocation reason after the event.
    pub reason: String,
    /// When it was revoked (ms).
    pub revoked_at: i64,
    /// The compromise date after the event (ms), for `key_compromise`.
    pub compromised_since: Option<i64>,
    /// When the event was written (ms).
    pub at: i64,
}

/// Reading and writing the register; implemented for both connection types.
pub trait CertificateStore {
    /// Registers a certificate, with its key hash and (for a client certificate) its lineage:
    /// the renewed certificate's, or its own serial for an enrolment.
    fn insert_certificate(&mut self, cert: &NewCertificate<'_>) -> QueryResult<()>;
    /// One certificate by serial.
    fn find_certificate(&mut self, serial: &str) -> QueryResult<Option<CertificateRow>>;
    /// Certificates, newest first, optionally of one agency.
    fn list_certificates(&mut self, agency_id: Option<i64>) -> QueryResult<Vec<CertificateRow>>;
    /// Revokes a valid certificate alone (no family: see [`super::revocation`]) and appends its
    /// certificate event; `Ok(None)` when there is no such serial, the row unchanged when it was
    /// already revoked.
    fn revoke_certificate(
        &mut self,
        serial: &str,
        reason: ca::RevocationReason,
    ) -> QueryResult<Option<CertificateRow>>;
    /// Revokes `serial` if it is still valid (a conditional update, so a revocation committed
    /// meanwhile by another transaction is never overwritten), revoked at `now_ms`, and appends
    /// its `revoked` event. `Ok(None)` when it was not valid (or does not exist).
    fn revoke_if_valid(
        &mut self,
        serial: &str,
        reason: ca::RevocationReason,
        compromised_since: Option<i64>,
        now_ms: i64,
    ) -> QueryResult<Option<CertificateRow>>;
    /// Changes a revoked certificate's reason and compromise date, keeping its revocation time,
    /// and appends its `reason_changed` event. `Ok(None)` when it is not revoked.
    fn change_revocation(
        &mut self,
        serial: &str,
        reason: ca::RevocationReason,
        compromised_since: Option<i64>,
        now_ms: i64,
    ) -> QueryResult<Option<CertificateRow>>;
    /// Appends the certificate event `kind` for `row` (its state after the change), numbered by
    /// the `certificate_events` counter row, which stays locked until the transaction ends.
    fn append_certificate_event(
        &mut self,
        kind: CertificateEventKind,
        row: &CertificateRow,
        now_ms: i64,
    ) -> QueryResult<()>;
    /// Certificates renewed directly from any of `serials`.
    fn renewals_of(&mut self, serials: &[String]) -> QueryResult<Vec<CertificateRow>>;
    /// Certificates whose public key has the SHA-256 `key_sha256`.
    fn certificates_with_key(&mut self, key_sha256: &str) -> QueryResult<Vec<CertificateRow>>;
    /// Certificates (the enrolment and renewals) registered in `lineage` since `since_ms`,
    /// oldest first.
    fn certificates_in_lineage_since(
        &mut self,
        lineage: &str,
        since_ms: i64,
    ) -> QueryResult<Vec<CertificateRow>>;
    /// Records the first use of a certificate; false when it was already recorded.
    fn mark_first_use(&mut self, serial: &str, now_ms: i64) -> QueryResult<bool>;
    /// Takes the row lock of a certificate until the transaction ends (PostgreSQL; SQLite's
    /// write transaction already holds the only write lock), so two renewals from one
    /// certificate run one after the other.
    fn lock_certificate(&mut self, serial: &str) -> QueryResult<()>;
    /// Live (valid, unexpired) client certificates per agency.
    fn live_certificate_counts(&mut self, now_ms: i64) -> QueryResult<Vec<(i64, i64)>>;
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
    /// Certificate events with sequence greater than `after`, oldest first, at most `limit`.
    fn certificate_events_after(
        &mut self,
        after: i64,
        limit: i64,
    ) -> QueryResult<Vec<CertificateEventRow>>;
    /// The newest certificate-event sequence (0 when there is none).
    fn latest_certificate_event(&mut self) -> QueryResult<i64>;
}

crate::impl_for_backends!(CertificateStore {
    fn insert_certificate(&mut self, cert: &NewCertificate<'_>) -> QueryResult<()> {
        let issued = cert.issued;
        let lineage = if cert.kind != KIND_CLIENT {
            None
        } else {
            match cert.renewed_from {
                Some(parent) => Some(
                    certificates::table
                        .find(parent)
                        .select(certificates::lineage)
                        .first::<Option<String>>(self)
                        .optional()?
                        .flatten()
                        .unwrap_or_else(|| parent.to_owned()),
                ),
                None => Some(issued.serial.clone()),
            }
        };
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
                certificates::lineage.eq(lineage),
                certificates::key_sha256.eq(key_sha256(&issued.der)),
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
        query
            .order((certificates::created_at.desc(), certificates::serial.asc()))
            .load(self)
    }

    fn revoke_certificate(
        &mut self,
        serial: &str,
        reason: ca::RevocationReason,
    ) -> QueryResult<Option<CertificateRow>> {
        match self.revoke_if_valid(serial, reason, None, crate::db::now_ms())? {
            Some(row) => Ok(Some(row)),
            None => self.find_certificate(serial),
        }
    }

    fn revoke_if_valid(
        &mut self,
        serial: &str,
        reason: ca::RevocationReason,
        compromised_since: Option<i64>,
        now_ms: i64,
    ) -> QueryResult<Option<CertificateRow>> {
        let n = diesel::update(
            certificates::table
                .find(serial)
                .filter(certificates::status.eq("valid")),
        )
        .set((
            certificates::status.eq("revoked"),
            certificates::revoked_at.eq(now_ms),
            certificates::revocation_reason.eq(reason.to_string()),
            certificates::compromised_since.eq(compromised_since),
        ))
        .execute(self)?;
        if n == 0 {
            return Ok(None);
        }
        let row = self.find_certificate(serial)?;
        if let Some(row) = &row {
            self.append_certificate_event(CertificateEventKind::Revoked, row, now_ms)?;
        }
        Ok(row)
    }

    fn change_revocation(
        &mut self,
        serial: &str,
        reason: ca::RevocationReason,
        compromised_since: Option<i64>,
        now_ms: i64,
    ) -> QueryResult<Option<CertificateRow>> {
        let n = diesel::update(
            certificates::table
                .find(serial)
                .filter(certificates::status.eq("revoked")),
        )
        .set((
            certificates::revocation_reason.eq(reason.to_string()),
            certificates::compromised_since.eq(compromised_since),
        ))
        .execute(self)?;
        if n == 0 {
            return Ok(None);
        }
        let row = self.find_certificate(serial)?;
        if let Some(row) = &row {
            self.append_certificate_event(CertificateEventKind::ReasonChanged, row, now_ms)?;
        }
        Ok(row)
    }

    fn append_certificate_event(
        &mut self,
        kind: CertificateEventKind,
        row: &CertificateRow,
        now_ms: i64,
    ) -> QueryResult<()> {
        let seq = crate::audit::AuditLog::next_counter(self, "certificate_events")?;
        diesel::insert_into(certificate_events::table)
            .values((
                certificate_events::seq.eq(seq),
                certificate_events::kind.eq(kind.code()),
                certificate_events::serial.eq(&row.serial),
                certificate_events::fingerprint.eq(&row.fingerprint),
                certificate_events::agency_id.eq(row.agency_id),
                certificate_events::reason.eq(row
                    .revocation_reason
                    .as_deref()
                    .unwrap_or("unspecified")),
                certificate_events::revoked_at.eq(row.revoked_at.unwrap_or(now_ms)),
                certificate_events::compromised_since.eq(row.compromised_since),
                certificate_events::at.eq(now_ms),
            ))
            .execute(self)
            .map(drop)
    }

    fn renewals_of(&mut self, serials: &[String]) -> QueryResult<Vec<CertificateRow>> {
        if serials.is_empty() {
            return Ok(Vec::new());
        }
        certificates::table
            .filter(certificates::renewed_from.eq_any(serials))
            .select(CertificateRow::as_select())
            .order((certificates::created_at.asc(), certificates::serial.asc()))
            .load(self)
    }

    fn certificates_with_key(&mut self, key_sha256: &str) -> QueryResult<Vec<CertificateRow>> {
        certificates::table
            .filter(certificates::key_sha256.eq(key_sha256))
            .select(CertificateRow::as_select())
            .order((certificates::created_at.asc(), certificates::serial.asc()))
            .load(self)
    }

    fn certificates_in_lineage_since(
        &mut self,
        lineage: &str,
        since_ms: i64,
    ) -> QueryResult<Vec<CertificateRow>> {
        certificates::table
            .filter(certificates::lineage.eq(lineage))
            .filter(certificates::created_at.gt(since_ms))
            .select(CertificateRow::as_select())
            .order(certificates::created_at.asc())
            .load(self)
    }

    fn mark_first_use(&mut self, serial: &str, now_ms: i64) -> QueryResult<bool> {
        let n = diesel::update(
            certificates::table
                .find(serial)
                .filter(certificates::first_used_at.is_null()),
        )
        .set(certificates::first_used_at.eq(now_ms))
        .execute(self)?;
        Ok(n == 1)
    }

    fn lock_certificate(&mut self, serial: &str) -> QueryResult<()> {
        // An UPDATE that changes nothing still takes the row lock, on both backends alike.
        diesel::update(certificates::table.find(serial))
            .set(certificates::serial.eq(certificates::serial))
            .execute(self)
            .map(drop)
    }

    fn live_certificate_counts(&mut self, now_ms: i64) -> QueryResult<Vec<(i64, i64)>> {
        let rows: Vec<(Option<i64>, i64)> = certificates::table
            .filter(certificates::kind.eq(KIND_CLIENT))
            .filter(certificates::status.eq("valid"))
            .filter(certificates::not_after.gt(now_ms))
            .group_by(certificates::agency_id)
            .select((certificates::agency_id, diesel::dsl::count_star()))
            .load(self)?;
        Ok(rows
            .into_iter()
            .filter_map(|(agency, n)| agency.map(|a| (a, n)))
            .collect())
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

    fn certificate_events_after(
        &mut self,
        after: i64,
        limit: i64,
    ) -> QueryResult<Vec<CertificateEventRow>> {
        certificate_events::table
            .filter(certificate_events::seq.gt(after))
            .order(certificate_events::seq.asc())
            .limit(limit)
            .select(CertificateEventRow::as_select())
            .load(self)
    }

    fn latest_certificate_event(&mut self) -> QueryResult<i64> {
        certificate_events::table
            .select(diesel::dsl::max(certificate_events::seq))
            .first::<Option<i64>>(self)
            .map(|v| v.unwrap_or(0))
    }
});

/// Fills the key hash of certificates registered before key hashes were recorded, from their
/// PEM; returns how many were filled. Runs at start after the migrations (cheap when there is
/// nothing to do: one indexed lookup).
pub fn backfill_key_hashes(conn: &mut crate::db::DbConn) -> QueryResult<usize> {
    crate::with_conn!(conn, |c| {
        let rows: Vec<(String, String)> = certificates::table
            .filter(certificates::key_sha256.is_null())
            .select((certificates::serial, certificates::pem))
            .load(c)?;
        let mut filled = 0;
        for (serial, pem) in rows {
            let Some(hash) = ca::inspect::parse_chain_pem(&pem)
                .ok()
                .and_then(|ders| ders.first().and_then(|der| key_sha256(der)))
            else {
                continue;
            };
            filled += diesel::update(certificates::table.find(&serial))
                .set(certificates::key_sha256.eq(hash))
                .execute(c)?;
        }
        Ok(filled)
    })
}
