//! The issuing CAs: the current one and those retired by a rollover (kept to validate and revoke
//! what they issued), and the making of a new issuing CA certificate under the root.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

use super::publication::add_publication;
use super::{
    CLOCK_SKEW, CertificateAuthority, ISSUING_VALIDITY_DAYS, Publication, cert_pem, clamp_validity,
    random_serial, verify_signed_by,
};
use crate::CaError;
use crate::inspect::{self, Fingerprint};
use crate::keys::PrivateKey;

/// An issuing CA of this authority, current or retired, as far as others may see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuingCertificate {
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// The certificate, PEM.
    pub pem: String,
    /// Its subject key identifier (what its certificates' authority key identifier names).
    pub key_id: Vec<u8>,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// True for the issuing CA that signs new certificates.
    pub current: bool,
    /// True when this process holds its key, so it can sign that CA's CRL.
    pub signs_crls: bool,
}

impl IssuingCertificate {
    /// Lowercase hex of the key identifier, as it appears in download URLs.
    pub fn key_id_hex(&self) -> String {
        hex::encode(&self.key_id)
    }

    /// SHA-256 fingerprint of the certificate.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.der)
    }
}

/// A retired issuing CA: it signs nothing new, but its certificates stay valid until they expire
/// and its CRL keeps being published (signed with its key when this process holds it).
pub(crate) struct RetiredIssuing {
    pub(crate) der: Vec<u8>,
    pub(crate) key_id: Vec<u8>,
    pub(crate) not_after: OffsetDateTime,
    pub(crate) issuer: Option<Issuer<'static, KeyPair>>,
}

impl CertificateAuthority {
    /// Every issuing CA still valid: the current one first, then retired ones, newest first.
    pub fn issuing_cas(&self) -> Vec<IssuingCertificate> {
        let mut all = vec![IssuingCertificate {
            der: self.issuing_der.clone(),
            pem: self.issuing_pem.clone(),
            key_id: self.issuing_key_id.clone(),
            not_after: self.issuing_not_after,
            current: true,
            signs_crls: true,
        }];
        let mut retired: Vec<&RetiredIssuing> = self.retired.iter().collect();
        retired.sort_by_key(|r| std::cmp::Reverse(r.not_after));
        all.extend(retired.into_iter().map(|r| IssuingCertificate {
            der: r.der.clone(),
            pem: cert_pem(&r.der),
            key_id: r.key_id.clone(),
            not_after: r.not_after,
            current: false,
            signs_crls: r.issuer.is_some(),
        }));
        all
    }

    /// The issuing CA (current or retired) that issued `cert_der`, found by its authority key
    /// identifier and checked by signature.
    pub fn issuing_ca_of(&self, cert_der: &[u8]) -> Option<IssuingCertificate> {
        let aki = inspect::parse_certificate_der(cert_der)
            .ok()?
            .authority_key_id?;
        self.issuing_cas()
            .into_iter()
            .find(|ca| ca.key_id == aki && verify_signed_by(cert_der, &ca.der).is_ok())
    }

    /// A new issuing CA certificate for `key`, signed by `root`, named `name`, valid five years
    /// but no longer than the root, with the root's CRL and certificate addresses (used by a
    /// rollover).
    pub(crate) fn new_issuing_certificate(
        &self,
        root: &crate::custody::RootKey,
        key: &PrivateKey,
        name: &DistinguishedName,
    ) -> Result<Vec<u8>, CaError> {
        root.check_belongs_to(self)?;
        let issuer = root.issuer(&self.root_der)?;
        issuing_ca_certificate(
            key,
            name,
            &issuer,
            &self.root_der,
            ISSUING_VALIDITY_DAYS,
            self.publication.as_ref(),
        )
    }
}

/// An issuing CA certificate (DER) for `key`, signed by `root_issuer`, clamped to the root.
pub(super) fn issuing_ca_certificate<S: rcgen::SigningKey>(
    key: &PrivateKey,
    name: &DistinguishedName,
    root_issuer: &Issuer<'_, S>,
    root_der: &[u8],
    validity_days: i64,
    publication: Option<&Publication>,
) -> Result<Vec<u8>, CaError> {
    let now = OffsetDateTime::now_utc();
    let root_not_after = inspect::parse_certificate_der(root_der)?.not_after;
    let (not_before, not_after) = clamp_validity(
        now - CLOCK_SKEW,
        now + Duration::days(validity_days),
        root_not_after,
        "root CA",
    )?;
    let mut params = CertificateParams::default();
    params.distinguished_name = name.clone();
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(random_serial()?);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.use_authority_key_identifier_extension = true;
    if let Some(publication) = publication {
        add_publication(
            &mut params,
            &publication.root_crl_url(),
            &publication.root_certificate_url(),
        );
    }
    Ok(params
        .signed_by(key.key_pair(), root_issuer)?
        .der()
        .to_vec())
}
