//! Revocation: the reasons the platform uses, the entries of a CRL, and the CRLs of the root
//! (over issuing CAs, signed with the root key brought in) and of each issuing CA.

use std::fmt;
use std::str::FromStr;

use rcgen::{
    CertificateRevocationListParams, Issuer, KeyIdMethod, RevokedCertParams, SerialNumber,
};
use time::OffsetDateTime;

use super::CertificateAuthority;
use crate::CaError;

/// Why a certificate was revoked (the subset of RFC 5280 reasons the platform uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    /// No particular reason given.
    Unspecified,
    /// The private key was (or may have been) compromised.
    KeyCompromise,
    /// The agency's details changed.
    AffiliationChanged,
    /// Replaced by a newer certificate.
    Superseded,
    /// The agency stopped operating or left the platform.
    CessationOfOperation,
    /// The agency's access was withdrawn.
    PrivilegeWithdrawn,
}

impl RevocationReason {
    /// Every reason, in RFC 5280 code order.
    pub fn all() -> &'static [RevocationReason] {
        &[
            RevocationReason::Unspecified,
            RevocationReason::KeyCompromise,
            RevocationReason::AffiliationChanged,
            RevocationReason::Superseded,
            RevocationReason::CessationOfOperation,
            RevocationReason::PrivilegeWithdrawn,
        ]
    }

    /// The snake_case name, e.g. "key_compromise".
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "key_compromise",
            RevocationReason::AffiliationChanged => "affiliation_changed",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessation_of_operation",
            RevocationReason::PrivilegeWithdrawn => "privilege_withdrawn",
        }
    }

    fn to_rcgen(self) -> rcgen::RevocationReason {
        match self {
            RevocationReason::Unspecified => rcgen::RevocationReason::Unspecified,
            RevocationReason::KeyCompromise => rcgen::RevocationReason::KeyCompromise,
            RevocationReason::AffiliationChanged => rcgen::RevocationReason::AffiliationChanged,
            RevocationReason::Superseded => rcgen::RevocationReason::Superseded,
            RevocationReason::CessationOfOperation => rcgen::RevocationReason::CessationOfOperation,
            RevocationReason::PrivilegeWithdrawn => rcgen::RevocationReason::PrivilegeWithdrawn,
        }
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RevocationReason {
    type Err = CaError;

    /// Accepts the snake_case names and their kebab-case forms, case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
        RevocationReason::all()
            .iter()
            .copied()
            .find(|r| r.as_str() == wanted)
            .ok_or_else(|| {
                let names: Vec<&str> = RevocationReason::all().iter().map(|r| r.as_str()).collect();
                CaError::Certificate(format!(
                    "unknown revocation reason {s:?}; expected one of: {}",
                    names.join(", ")
                ))
            })
    }
}

/// One line of a CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    /// Serial number of the revoked certificate, hex.
    pub serial: String,
    /// When the revocation was recorded.
    pub revoked_at: OffsetDateTime,
    /// Why.
    pub reason: RevocationReason,
    /// For a key compromise: since when the key is known or suspected to be in other hands (the
    /// CRL entry's invalidity date extension, RFC 5280 5.3.2); None leaves it out.
    pub invalidity_date: Option<OffsetDateTime>,
}

impl CertificateAuthority {
    /// A CRL signed by the current issuing CA, PEM, listing `revoked` with their reasons.
    pub fn crl_pem(
        &self,
        revoked: &[RevokedEntry],
        crl_number: u64,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<String, CaError> {
        self.issuing_crl_pem(
            &self.issuing_key_id,
            revoked,
            crl_number,
            this_update,
            next_update,
        )
    }

    /// A CRL signed by the issuing CA (current or retired) whose key identifier is `key_id`,
    /// PEM. [`CaError::Certificate`] when there is no such CA or this process lacks its key.
    pub fn issuing_crl_pem(
        &self,
        key_id: &[u8],
        revoked: &[RevokedEntry],
        crl_number: u64,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<String, CaError> {
        let issuer = if key_id == self.issuing_key_id.as_slice() {
            &self.issuer
        } else {
            let retired = self
                .retired
                .iter()
                .find(|r| r.key_id == key_id)
                .ok_or_else(|| {
                    CaError::Certificate(format!(
                        "no issuing CA with key id {} in {}",
                        hex::encode(key_id),
                        self.dir.display()
                    ))
                })?;
            retired.issuer.as_ref().ok_or_else(|| {
                CaError::Certificate(format!(
                    "the key of the retired issuing CA {} is not in {}; its CRL cannot be signed here",
                    hex::encode(key_id),
                    self.dir.join(crate::custody::RETIRED_DIR).display()
                ))
            })?
        };
        signed_crl(
            issuer,
            key_id,
            revoked,
            crl_number,
            this_update,
            next_update,
        )
    }

    /// The root's CRL, signed with the root key brought in by the caller, PEM: lists the
    /// issuing CAs in `revoked`. Its next update is usually far off, so that it stays valid
    /// while the root key is offline.
    pub fn root_crl_pem(
        &self,
        root: &crate::custody::RootKey,
        revoked: &[RevokedEntry],
        crl_number: u64,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<String, CaError> {
        root.check_belongs_to(self)?;
        let issuer = root.issuer(&self.root_der)?;
        signed_crl(
            &issuer,
            &self.root_key_id,
            revoked,
            crl_number,
            this_update,
            next_update,
        )
    }
}

/// Signs a CRL with `issuer`, naming `key_id` in its authority key identifier.
fn signed_crl<S: rcgen::SigningKey>(
    issuer: &Issuer<'_, S>,
    key_id: &[u8],
    revoked: &[RevokedEntry],
    crl_number: u64,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
) -> Result<String, CaError> {
    if next_update <= this_update {
        return Err(CaError::Certificate(
            "the CRL's next update must be after this update".into(),
        ));
    }
    let mut revoked_certs = Vec::with_capacity(revoked.len());
    for entry in revoked {
        let bytes = hex::decode(entry.serial.trim()).map_err(|e| {
            CaError::Certificate(format!(
                "invalid serial {:?} in CRL entry: {e}",
                entry.serial
            ))
        })?;
        revoked_certs.push(RevokedCertParams {
            serial_number: SerialNumber::from_slice(&bytes),
            revocation_time: entry.revoked_at,
            reason_code: Some(entry.reason.to_rcgen()),
            invalidity_date: entry.invalidity_date,
        });
    }
    let params = CertificateRevocationListParams {
        this_update,
        next_update,
        crl_number: SerialNumber::from(crl_number),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: KeyIdMethod::PreSpecified(key_id.to_vec()),
    };
    Ok(params.signed_by(issuer)?.pem()?)
}
