//! What goes into the certificates the current issuing CA signs, whatever a CSR asked for:
//! agency client certificates, the server certificate of the agency port and the platform's
//! document-signing certificate, all starting from [`CertificateAuthority::leaf_params`].

use std::net::IpAddr;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose,
    SanType,
};
use time::{Duration, OffsetDateTime};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::oid_registry::{OID_KEY_TYPE_EC_PUBLIC_KEY, OID_PKCS1_RSAENCRYPTION};
use x509_parser::prelude::FromDer;

use super::publication::add_publication;
use super::{
    CLOCK_SKEW, CertificateAuthority, EKU_DOCUMENT_SIGNING, PLATFORM_SIGNER_URI, cert_pem,
    clamp_validity, random_serial,
};
use crate::CaError;
use crate::inspect::{self, Fingerprint, agency_uri};
use crate::keys;

/// What goes into an agency's client certificate, whatever its CSR asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientProfile {
    /// The agency's id; becomes the SAN URI `urn:listing-exchange:agency:<id>`.
    pub agency_id: String,
    /// The agency's name; becomes the subject CN and O.
    pub agency_name: String,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
}

impl ClientProfile {
    /// A profile valid from five minutes ago (clock skew) until `validity_days` from now.
    pub fn new(
        agency_id: impl Into<String>,
        agency_name: impl Into<String>,
        validity_days: u32,
    ) -> Self {
        let now = OffsetDateTime::now_utc();
        ClientProfile {
            agency_id: agency_id.into(),
            agency_name: agency_name.into(),
            not_before: now - CLOCK_SKEW,
            not_after: now + Duration::days(i64::from(validity_days)),
        }
    }
}

/// A freshly issued certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// Serial number as lowercase hex (see [`inspect::serial_hex`]).
    pub serial: String,
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// The certificate, PEM.
    pub pem: String,
    /// Start of validity as written in the certificate (whole seconds).
    pub not_before: OffsetDateTime,
    /// End of validity as written in the certificate (whole seconds).
    pub not_after: OffsetDateTime,
    /// SHA-256 fingerprint of the DER.
    pub fingerprint: Fingerprint,
    /// Subject distinguished name as text.
    pub subject: String,
}

impl CertificateAuthority {
    /// The parameters every end-entity certificate of the current issuing CA starts from: a
    /// random positive 16-byte serial, validity from `not_before` to `not_after` but never past
    /// the issuing CA's own end ([`CaError::Certificate`] when nothing is left), CA:false,
    /// authority key identifier, and, with a [`Publication`](super::Publication), the issuing
    /// CA's CRL distribution point and CA-issuers address. Callers add subject, SANs and key
    /// usages.
    pub fn leaf_params(
        &self,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<CertificateParams, CaError> {
        let (not_before, not_after) =
            clamp_validity(not_before, not_after, self.issuing_not_after, "issuing CA")?;
        let mut params = CertificateParams::default();
        params.not_before = not_before;
        params.not_after = not_after;
        params.is_ca = IsCa::ExplicitNoCa;
        params.serial_number = Some(random_serial()?);
        params.use_authority_key_identifier_extension = true;
        if let Some(publication) = &self.publication {
            add_publication(
                &mut params,
                &publication.issuing_crl_url(&self.issuing_key_id),
                &publication.issuing_certificate_url(&self.issuing_key_id),
            );
        }
        Ok(params)
    }

    /// Issues an agency client certificate from a PKCS#10 CSR.
    ///
    /// Verifies the CSR's own signature (proof of possession) with x509-parser;
    /// accepts only P-256 or Ed25519 public keys ([`CaError::UnsupportedKey`]
    /// otherwise); ignores the CSR's subject and extensions and uses `profile`:
    /// subject CN = O = agency name, SAN URI [`agency_uri`], EKU clientAuth only,
    /// key usage digitalSignature (critical), CA:false, random positive 16-byte
    /// serial, authority/subject key identifiers, CRL distribution point and CA issuers
    /// (with a [`Publication`](super::Publication)); signed by the current issuing CA, ending no
    /// later than it.
    /// Bad PEM, bad DER or a bad signature give [`CaError::Csr`].
    pub fn issue_client(&self, csr_pem: &str, profile: &ClientProfile) -> Result<Issued, CaError> {
        if profile.agency_id.is_empty() || !profile.agency_id.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(CaError::Certificate(format!(
                "invalid agency id {:?}: it must be non-empty printable ASCII without spaces",
                profile.agency_id
            )));
        }
        if profile.agency_name.trim().is_empty() {
            return Err(CaError::Certificate("the agency name is empty".into()));
        }
        if profile.not_after <= profile.not_before {
            return Err(CaError::Certificate(
                "the validity period ends before it starts".into(),
            ));
        }
        let spki_der = verified_csr_public_key(csr_pem)?;
        let public_key = rcgen::SubjectPublicKeyInfo::from_der(&spki_der)
            .map_err(|e| CaError::UnsupportedKey(format!("CSR public key: {e}")))?;

        let mut params = self.leaf_params(profile.not_before, profile.not_after)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, profile.agency_name.as_str());
        dn.push(DnType::OrganizationName, profile.agency_name.as_str());
        params.distinguished_name = dn;
        params.subject_alt_names = vec![SanType::URI(
            agency_uri(&profile.agency_id)
                .try_into()
                .map_err(|e| CaError::Certificate(format!("agency URI: {e}")))?,
        )];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let cert = params.signed_by(&public_key, &self.issuer)?;
        issued(cert.der())
    }

    /// Server certificate for the platform's agency port: EKU serverAuth, key
    /// usage digitalSignature, SANs from `names` (each an IP address if it parses
    /// as one, else a DNS name), CN = first name, valid `validity_days` but no longer than the
    /// issuing CA, signed by the current issuing CA.
    pub fn issue_server(
        &self,
        key: &keys::PrivateKey,
        names: &[String],
        validity_days: u32,
    ) -> Result<Issued, CaError> {
        let first = names.first().ok_or_else(|| {
            CaError::Certificate("a server certificate needs at least one name".into())
        })?;
        let mut sans = Vec::with_capacity(names.len());
        for name in names {
            let name = name.trim();
            let san = match name.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => {
                    if name.is_empty() {
                        return Err(CaError::Certificate("empty server name".into()));
                    }
                    SanType::DnsName(name.try_into().map_err(|e| {
                        CaError::Certificate(format!("invalid DNS name {name:?}: {e}"))
                    })?)
                }
            };
            sans.push(san);
        }
        let now = OffsetDateTime::now_utc();
        let mut params = self.leaf_params(
            now - CLOCK_SKEW,
            now + Duration::days(i64::from(validity_days)),
        )?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, first.trim());
        params.distinguished_name = dn;
        params.subject_alt_names = sans;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let cert = params.signed_by(key.key_pair(), &self.issuer)?;
        issued(cert.der())
    }

    /// The platform's document-signing certificate (it signs operators' take-down statements):
    /// key usage digitalSignature (critical), extended key usage id-kp-documentSigning only
    /// ([`EKU_DOCUMENT_SIGNING`], RFC 9336: not usable for TLS), the SAN URI
    /// [`PLATFORM_SIGNER_URI`], CA:false, a random serial, CRL distribution point and CA issuers,
    /// valid `validity_days` but never past the current issuing CA's own end; signed by it. The
    /// key is the caller's (made where it is kept).
    pub fn issue_signer(
        &self,
        key: &keys::PrivateKey,
        validity_days: u32,
    ) -> Result<Issued, CaError> {
        let now = OffsetDateTime::now_utc();
        let mut params = self.leaf_params(
            now - CLOCK_SKEW,
            now + Duration::days(i64::from(validity_days)),
        )?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "Platform document signing");
        params.distinguished_name = dn;
        params.subject_alt_names =
            vec![SanType::URI(PLATFORM_SIGNER_URI.try_into().map_err(
                |e| CaError::Certificate(format!("signer URI: {e}")),
            )?)];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::Other(
            EKU_DOCUMENT_SIGNING.to_vec(),
        )];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let cert = params.signed_by(key.key_pair(), &self.issuer)?;
        issued(cert.der())
    }
}

fn issued(der: &[u8]) -> Result<Issued, CaError> {
    let info = inspect::parse_certificate_der(der)?;
    Ok(Issued {
        serial: info.serial,
        pem: cert_pem(der),
        not_before: info.not_before,
        not_after: info.not_after,
        fingerprint: info.fingerprint,
        subject: info.subject,
        der: info.der,
    })
}

/// Parses a CSR, checks its key type and its self-signature; returns the DER SPKI.
fn verified_csr_public_key(csr_pem: &str) -> Result<Vec<u8>, CaError> {
    let block = pem::parse(csr_pem).map_err(|e| {
        CaError::Csr(format!(
            "not a PEM certificate signing request ({e}); expected a \"CERTIFICATE REQUEST\" block"
        ))
    })?;
    if block.tag() != "CERTIFICATE REQUEST" && block.tag() != "NEW CERTIFICATE REQUEST" {
        return Err(CaError::Csr(format!(
            "expected a \"CERTIFICATE REQUEST\" PEM block, found \"{}\"",
            block.tag()
        )));
    }
    let (rest, csr) = X509CertificationRequest::from_der(block.contents())
        .map_err(|e| CaError::Csr(format!("the request is not valid PKCS#10 DER: {e}")))?;
    if !rest.is_empty() {
        return Err(CaError::Csr("trailing bytes after the request".into()));
    }
    let spki = &csr.certification_request_info.subject_pki;
    if crate::sign::spki_key_algorithm(spki).is_none() {
        let what = if spki.algorithm.algorithm == OID_PKCS1_RSAENCRYPTION {
            "RSA key".to_string()
        } else if spki.algorithm.algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
            match spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
            {
                Some(curve) => format!("elliptic-curve key on curve {curve}"),
                None => "elliptic-curve key with unknown curve".to_string(),
            }
        } else {
            format!("key of type {}", spki.algorithm.algorithm)
        };
        return Err(CaError::UnsupportedKey(format!(
            "the request carries an {what}"
        )));
    }
    csr.verify_signature().map_err(|_| {
        CaError::Csr(
            "the request's signature does not verify (proof of possession of the private key failed)"
                .into(),
        )
    })?;
    Ok(spki.raw.to_vec())
}
