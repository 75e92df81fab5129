//! The root and issuing CA: the [`CertificateAuthority`] itself, what it is made of and the
//! small certificate helpers its parts share.
//!
//! The parts, each adding to [`CertificateAuthority`]:
//! * [`directory`]: creating a new root and issuing CA in a directory, loading one back;
//! * [`issuing`]: the current and retired issuing CAs, and a new issuing CA certificate;
//! * [`profiles`]: what goes into agency, server and document-signing certificates;
//! * [`crl`]: revocation reasons and the CRLs of the root and of each issuing CA;
//! * [`publication`]: where certificates and CRLs are published (CRL distribution point, CA
//!   issuers), written into every certificate issued.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{DistinguishedName, DnType, Issuer, KeyPair, SerialNumber};
use time::{Duration, OffsetDateTime};
use x509_parser::extensions::ParsedExtension;

use crate::inspect::{self, Fingerprint};
use crate::keys::pem_config;
use crate::sign::SignatureProblem;
use crate::{CaError, io_err};

mod crl;
mod directory;
mod issuing;
mod profiles;
mod publication;
#[cfg(test)]
mod tests;

pub use crl::{RevocationReason, RevokedEntry};
pub use issuing::IssuingCertificate;
use issuing::RetiredIssuing;
pub use profiles::{ClientProfile, Issued};
pub use publication::Publication;

pub(crate) const ROOT_CRT: &str = "root.crt";
pub(crate) const ROOT_KEY: &str = "root.key";
pub(crate) const ISSUING_CRT: &str = "issuing.crt";
pub(crate) const ISSUING_KEY: &str = "issuing.key";

/// Validity of the root CA certificate.
const ROOT_VALIDITY_DAYS: i64 = 3650;
/// Validity of the issuing CA certificate.
pub(crate) const ISSUING_VALIDITY_DAYS: i64 = 5 * 365;
/// How far back `not_before` is set, to tolerate clock skew between machines.
pub(crate) const CLOCK_SKEW: Duration = Duration::minutes(5);

/// The SAN URI of the platform's document-signing certificate ([`CertificateAuthority::issue_signer`]).
pub const PLATFORM_SIGNER_URI: &str = "urn:listing-exchange:platform";
/// id-kp-documentSigning (RFC 9336), 1.3.6.1.5.5.7.3.36: the only extended key usage of the
/// platform's document-signing certificate.
pub const EKU_DOCUMENT_SIGNING: [u64; 9] = [1, 3, 6, 1, 5, 5, 7, 3, 36];
/// The same OID as DER content octets (what rustls-webpki's `KeyUsage::required` takes).
pub const EKU_DOCUMENT_SIGNING_DER: [u8; 8] = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x24];

/// The platform's two-level CA: a root that only signs issuing CAs (and its own CRL), and the
/// current issuing CA that signs agency and server certificates and CRLs. Issuing CAs retired
/// by a rollover are kept to validate and revoke the certificates they issued.
///
/// The root key may be absent from the directory (kept offline, see [`crate::custody`]); it is
/// never held in memory by a loaded authority.
///
/// `Debug` shows certificates' fingerprints only, never key material.
pub struct CertificateAuthority {
    dir: PathBuf,
    root_der: Vec<u8>,
    root_pem: String,
    root_key_id: Vec<u8>,
    root_not_after: OffsetDateTime,
    issuing_der: Vec<u8>,
    issuing_pem: String,
    issuing_key_id: Vec<u8>,
    issuing_not_after: OffsetDateTime,
    issuer: Issuer<'static, KeyPair>,
    retired: Vec<RetiredIssuing>,
    publication: Option<Publication>,
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("dir", &self.dir)
            .field("root_fingerprint", &self.root_fingerprint().to_string())
            .field(
                "issuing_fingerprint",
                &Fingerprint::of(&self.issuing_der).to_string(),
            )
            .field("retired_issuing", &self.retired.len())
            .field("publication", &self.publication)
            .field("keys", &"[elided]")
            .finish()
    }
}

impl CertificateAuthority {
    /// The same authority, naming `publication`'s URLs (CRL distribution point, CA issuers) in
    /// the certificates it issues from now on; `None` leaves them out.
    pub fn with_publication(mut self, publication: Option<Publication>) -> CertificateAuthority {
        self.publication = publication;
        self
    }

    /// Where the CA publishes its certificates and CRLs, if configured.
    pub fn publication(&self) -> Option<&Publication> {
        self.publication.as_ref()
    }

    /// The directory the CA was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The root's subject key identifier.
    pub fn root_key_id(&self) -> &[u8] {
        &self.root_key_id
    }

    /// End of the root certificate's validity.
    pub fn root_not_after(&self) -> OffsetDateTime {
        self.root_not_after
    }

    /// The current issuing CA's subject key identifier.
    pub fn issuing_key_id(&self) -> &[u8] {
        &self.issuing_key_id
    }

    /// End of the current issuing CA's validity: no certificate it issues ends later.
    pub fn issuing_not_after(&self) -> OffsetDateTime {
        self.issuing_not_after
    }

    /// The root certificate, DER.
    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    /// The root certificate, PEM.
    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    /// The issuing CA certificate, DER.
    pub fn issuing_der(&self) -> &[u8] {
        &self.issuing_der
    }

    /// The issuing CA certificate, PEM.
    pub fn issuing_pem(&self) -> &str {
        &self.issuing_pem
    }

    /// The chain to present after a leaf: issuing CA, then root, PEM.
    pub fn chain_pem(&self) -> String {
        format!("{}{}", self.issuing_pem, self.root_pem)
    }

    /// SHA-256 fingerprint of the root certificate (what operators pin).
    pub fn root_fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.root_der)
    }
}

/// Clamps a validity period to end no later than its issuer; an error when nothing is left.
fn clamp_validity(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    issuer_not_after: OffsetDateTime,
    issuer_role: &str,
) -> Result<(OffsetDateTime, OffsetDateTime), CaError> {
    let clamped = not_after.min(issuer_not_after);
    if clamped <= not_before {
        return Err(CaError::Certificate(format!(
            "the {issuer_role} expires at {issuer_not_after}, before the certificate would start: \
             roll over to a new issuing CA (platform ca rollover)"
        )));
    }
    let not_after = clamped;
    Ok((not_before, not_after))
}

/// Checks that `cert_der` is signed by the key of `issuer_der`.
pub(crate) fn verify_signed_by(cert_der: &[u8], issuer_der: &[u8]) -> Result<(), CaError> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|e| CaError::Certificate(format!("the certificate could not be parsed: {e}")))?;
    let (_, issuer) = x509_parser::parse_x509_certificate(issuer_der)
        .map_err(|e| CaError::Certificate(format!("the issuer could not be parsed: {e}")))?;
    cert.verify_signature(Some(issuer.public_key()))
        .map_err(|_| CaError::Signature(SignatureProblem::NotSignedByIssuer))
}

pub(crate) fn create_private_dir(dir: &Path) -> Result<(), CaError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io_err(dir))
}

pub(crate) fn ca_name(organization: &str, role: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("{organization} {role}"));
    dn.push(DnType::OrganizationName, organization);
    dn
}

/// A random positive 16-byte serial (high bit cleared, never shortened by a zero first byte).
pub(crate) fn random_serial() -> Result<SerialNumber, CaError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CaError::Random)?;
    bytes[0] = (bytes[0] & 0x7f).max(1);
    Ok(SerialNumber::from_slice(&bytes))
}

pub(crate) fn cert_pem(der: &[u8]) -> String {
    pem::encode_config(&pem::Pem::new("CERTIFICATE", der.to_vec()), pem_config())
}

pub(crate) fn first_cert_der(text: &str, name: &str) -> Result<Vec<u8>, CaError> {
    let mut chain = inspect::parse_chain_pem(text).map_err(|e| in_file(e, name))?;
    Ok(chain.swap_remove(0))
}

/// Prefixes the file name to messages that would otherwise not say where the problem is.
pub(crate) fn in_file(e: CaError, name: &str) -> CaError {
    match e {
        CaError::Pem(m) => CaError::Pem(format!("{name}: {m}")),
        CaError::UnsupportedKey(m) => CaError::UnsupportedKey(format!("{name}: {m}")),
        CaError::Certificate(m) => CaError::Certificate(format!("{name}: {m}")),
        other => other,
    }
}

pub(crate) fn subject_key_id(der: &[u8]) -> Result<Vec<u8>, CaError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| CaError::Certificate(format!("CA certificate: {e}")))?;
    cert.extensions()
        .iter()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
            _ => None,
        })
        .ok_or_else(|| {
            CaError::Certificate(format!(
                "the CA certificate {} has no subject key identifier",
                cert.subject()
            ))
        })
}
