//! The root and issuing CA: creation, loading, certificate and CRL issuance.

use std::fmt;
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::ParsedExtension;
use x509_parser::oid_registry::{OID_KEY_TYPE_EC_PUBLIC_KEY, OID_PKCS1_RSAENCRYPTION};
use x509_parser::prelude::FromDer;

use crate::inspect::{self, Fingerprint, agency_uri};
use crate::keys::{self, PrivateKey, pem_config};
use crate::{CaError, io_err, write_private_file, write_public_file};

const ROOT_CRT: &str = "root.crt";
const ROOT_KEY: &str = "root.key";
const ISSUING_CRT: &str = "issuing.crt";
const ISSUING_KEY: &str = "issuing.key";

/// Validity of the root CA certificate.
const ROOT_VALIDITY_DAYS: i64 = 3650;
/// Validity of the issuing CA certificate.
const ISSUING_VALIDITY_DAYS: i64 = 5 * 365;
/// How far back `not_before` is set, to tolerate clock skew between machines.
const CLOCK_SKEW: Duration = Duration::minutes(5);

/// The SAN URI of the platform's document-signing certificate ([`CertificateAuthority::issue_signer`]).
pub const PLATFORM_SIGNER_URI: &str = "urn:listing-exchange:platform";
/// id-kp-documentSigning (RFC 9336), 1.3.6.1.5.5.7.3.36: the only extended key usage of the
/// platform's document-signing certificate.
pub const EKU_DOCUMENT_SIGNING: [u64; 9] = [1, 3, 6, 1, 5, 5, 7, 3, 36];
/// The same OID as DER content octets (what rustls-webpki's `KeyUsage::required` takes).
pub const EKU_DOCUMENT_SIGNING_DER: [u8; 8] = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x24];

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
}

/// The platform's two-level CA: a root that only signs the issuing CA, and the
/// issuing CA that signs agency and server certificates and CRLs.
///
/// `Debug` shows certificates' fingerprints only, never key material.
pub struct CertificateAuthority {
    dir: PathBuf,
    root_der: Vec<u8>,
    root_pem: String,
    issuing_der: Vec<u8>,
    issuing_pem: String,
    issuing_key_id: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
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
            .field("keys", &"[elided]")
            .finish()
    }
}

impl CertificateAuthority {
    /// Loads root + issuing CA from `dir` (files: root.crt, root.key, issuing.crt,
    /// issuing.key); creates them on first use (dir created 0700).
    ///
    /// Keys are written 0600 via [`write_private_file`], encrypted with the
    /// passphrase when one is given. Loading an encrypted key without or with the
    /// wrong passphrase gives [`CaError::Passphrase`]; loading a plaintext key when a
    /// passphrase is given is fine. A directory holding only some of the four
    /// files is refused rather than overwritten.
    pub fn load_or_create(
        dir: &Path,
        organization: &str,
        passphrase: Option<&str>,
    ) -> Result<CertificateAuthority, CaError> {
        create_private_dir(dir)?;
        let files = [ROOT_CRT, ROOT_KEY, ISSUING_CRT, ISSUING_KEY];
        let present: Vec<bool> = files.iter().map(|f| dir.join(f).exists()).collect();
        if present.iter().all(|p| *p) {
            Self::load(dir, passphrase)
        } else if present.iter().all(|p| !*p) {
            Self::create(dir, organization, passphrase)
        } else {
            let missing: Vec<&str> = files
                .iter()
                .zip(&present)
                .filter(|(_, p)| !**p)
                .map(|(f, _)| *f)
                .collect();
            Err(CaError::Certificate(format!(
                "the CA directory {} is incomplete (missing {}); restore the files from backup \
                 or move the directory away to create a new CA",
                dir.display(),
                missing.join(", ")
            )))
        }
    }

    fn create(
        dir: &Path,
        organization: &str,
        passphrase: Option<&str>,
    ) -> Result<CertificateAuthority, CaError> {
        let now = OffsetDateTime::now_utc();
        let root_key = PrivateKey::generate_p256()?;
        let issuing_key = PrivateKey::generate_p256()?;

        let mut root_params = CertificateParams::default();
        root_params.distinguished_name = ca_name(organization, "Root CA");
        root_params.not_before = now - CLOCK_SKEW;
        root_params.not_after = now + Duration::days(ROOT_VALIDITY_DAYS);
        root_params.serial_number = Some(random_serial()?);
        root_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
        root_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let root_cert = root_params.self_signed(root_key.key_pair())?;

        let mut issuing_params = CertificateParams::default();
        issuing_params.distinguished_name = ca_name(organization, "Issuing CA");
        issuing_params.not_before = now - CLOCK_SKEW;
        issuing_params.not_after = now + Duration::days(ISSUING_VALIDITY_DAYS);
        issuing_params.serial_number = Some(random_serial()?);
        issuing_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        issuing_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        issuing_params.use_authority_key_identifier_extension = true;
        let root_issuer = Issuer::from_params(&root_params, root_key.key_pair());
        let issuing_cert = issuing_params.signed_by(issuing_key.key_pair(), &root_issuer)?;

        let key_text = |key: &PrivateKey| -> Result<zeroize::Zeroizing<String>, CaError> {
            match passphrase {
                Some(p) => key.to_encrypted_pem(p),
                None => Ok(key.to_pem()),
            }
        };
        write_private_file(&dir.join(ROOT_KEY), key_text(&root_key)?.as_bytes())?;
        write_private_file(&dir.join(ISSUING_KEY), key_text(&issuing_key)?.as_bytes())?;
        write_public_file(&dir.join(ROOT_CRT), cert_pem(root_cert.der()).as_bytes())?;
        write_public_file(
            &dir.join(ISSUING_CRT),
            cert_pem(issuing_cert.der()).as_bytes(),
        )?;

        Self::assemble(
            dir,
            root_cert.der().to_vec(),
            issuing_cert.der().to_vec(),
            issuing_key,
        )
    }

    fn load(dir: &Path, passphrase: Option<&str>) -> Result<CertificateAuthority, CaError> {
        let read = |name: &str| -> Result<String, CaError> {
            let path = dir.join(name);
            fs::read_to_string(&path).map_err(io_err(&path))
        };
        let root_der = first_cert_der(&read(ROOT_CRT)?, ROOT_CRT)?;
        let issuing_der = first_cert_der(&read(ISSUING_CRT)?, ISSUING_CRT)?;
        let root_key_pem = zeroize::Zeroizing::new(read(ROOT_KEY)?);
        let issuing_key_pem = zeroize::Zeroizing::new(read(ISSUING_KEY)?);
        let root_key =
            PrivateKey::from_pem(&root_key_pem, passphrase).map_err(|e| in_file(e, ROOT_KEY))?;
        let issuing_key = PrivateKey::from_pem(&issuing_key_pem, passphrase)
            .map_err(|e| in_file(e, ISSUING_KEY))?;

        let root = inspect::parse_certificate_der(&root_der)?;
        let issuing = inspect::parse_certificate_der(&issuing_der)?;
        if root.spki_der != root_key.public_key_der() {
            return Err(CaError::Certificate(format!(
                "{ROOT_KEY} does not belong to {ROOT_CRT} in {}",
                dir.display()
            )));
        }
        if issuing.spki_der != issuing_key.public_key_der() {
            return Err(CaError::Certificate(format!(
                "{ISSUING_KEY} does not belong to {ISSUING_CRT} in {}",
                dir.display()
            )));
        }
        if !root.is_ca || !issuing.is_ca {
            return Err(CaError::Certificate(format!(
                "{ROOT_CRT} and {ISSUING_CRT} must both be CA certificates"
            )));
        }
        let (_, issuing_x509) = x509_parser::parse_x509_certificate(&issuing_der)
            .map_err(|e| CaError::Certificate(format!("{ISSUING_CRT}: {e}")))?;
        let (_, root_x509) = x509_parser::parse_x509_certificate(&root_der)
            .map_err(|e| CaError::Certificate(format!("{ROOT_CRT}: {e}")))?;
        issuing_x509
            .verify_signature(Some(root_x509.public_key()))
            .map_err(|_| {
                CaError::Signature(format!("{ISSUING_CRT} is not signed by {ROOT_CRT}"))
            })?;
        drop(root_key);
        Self::assemble(dir, root_der, issuing_der, issuing_key)
    }

    fn assemble(
        dir: &Path,
        root_der: Vec<u8>,
        issuing_der: Vec<u8>,
        issuing_key: PrivateKey,
    ) -> Result<CertificateAuthority, CaError> {
        let issuing_key_id = subject_key_id(&issuing_der)?;
        let issuer =
            Issuer::from_ca_cert_der(&issuing_der.as_slice().into(), issuing_key.into_key_pair())?;
        Ok(CertificateAuthority {
            dir: dir.to_path_buf(),
            root_pem: cert_pem(&root_der),
            issuing_pem: cert_pem(&issuing_der),
            root_der,
            issuing_der,
            issuing_key_id,
            issuer,
        })
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

    /// Issues an agency client certificate from a PKCS#10 CSR.
    ///
    /// Verifies the CSR's own signature (proof of possession) with x509-parser;
    /// accepts only P-256 or Ed25519 public keys ([`CaError::UnsupportedKey`]
    /// otherwise); ignores the CSR's subject and extensions and uses `profile`:
    /// subject CN = O = agency name, SAN URI [`agency_uri`], EKU clientAuth only,
    /// key usage digitalSignature (critical), CA:false, random positive 16-byte
    /// serial, authority/subject key identifiers; signed by the issuing CA.
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

        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, profile.agency_name.as_str());
        dn.push(DnType::OrganizationName, profile.agency_name.as_str());
        params.distinguished_name = dn;
        params.subject_alt_names = vec![SanType::URI(
            agency_uri(&profile.agency_id)
                .try_into()
                .map_err(|e| CaError::Certificate(format!("agency URI: {e}")))?,
        )];
        params.not_before = profile.not_before;
        params.not_after = profile.not_after;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.is_ca = IsCa::ExplicitNoCa;
        params.serial_number = Some(random_serial()?);
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&public_key, &self.issuer)?;
        issued(cert.der())
    }

    /// Server certificate for the platform's agency port: EKU serverAuth, key
    /// usage digitalSignature, SANs from `names` (each an IP address if it parses
    /// as one, else a DNS name), CN = first name, valid `validity_days`, signed by
    /// the issuing CA.
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
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, first.trim());
        params.distinguished_name = dn;
        params.subject_alt_names = sans;
        params.not_before = now - CLOCK_SKEW;
        params.not_after = now + Duration::days(i64::from(validity_days));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.is_ca = IsCa::ExplicitNoCa;
        params.serial_number = Some(random_serial()?);
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(key.key_pair(), &self.issuer)?;
        issued(cert.der())
    }

    /// The platform's document-signing certificate (it signs operators' take-down statements):
    /// key usage digitalSignature (critical), extended key usage id-kp-documentSigning only
    /// ([`EKU_DOCUMENT_SIGNING`], RFC 9336: not usable for TLS), the SAN URI
    /// [`PLATFORM_SIGNER_URI`], CA:false, a random serial, valid `validity_days` but never past
    /// the issuing CA's own end; signed by the issuing CA. The key is the caller's (made where
    /// it is kept).
    pub fn issue_signer(
        &self,
        key: &keys::PrivateKey,
        validity_days: u32,
    ) -> Result<Issued, CaError> {
        let issuing_end = inspect::parse_certificate_der(&self.issuing_der)?.not_after;
        let now = OffsetDateTime::now_utc();
        let not_after = (now + Duration::days(i64::from(validity_days))).min(issuing_end);
        if not_after <= now {
            return Err(CaError::Certificate(
                "the issuing CA has expired; it cannot issue a signing certificate".into(),
            ));
        }
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "Platform document signing");
        params.distinguished_name = dn;
        params.subject_alt_names =
            vec![SanType::URI(PLATFORM_SIGNER_URI.try_into().map_err(
                |e| CaError::Certificate(format!("signer URI: {e}")),
            )?)];
        params.not_before = now - CLOCK_SKEW;
        params.not_after = not_after;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::Other(
            EKU_DOCUMENT_SIGNING.to_vec(),
        )];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.is_ca = IsCa::ExplicitNoCa;
        params.serial_number = Some(random_serial()?);
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(key.key_pair(), &self.issuer)?;
        issued(cert.der())
    }

    /// A CRL signed by the issuing CA, PEM, listing `revoked` with their reasons.
    pub fn crl_pem(
        &self,
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
                invalidity_date: None,
            });
        }
        let params = CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: SerialNumber::from(crl_number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::PreSpecified(self.issuing_key_id.clone()),
        };
        Ok(params.signed_by(&self.issuer)?.pem()?)
    }
}

fn create_private_dir(dir: &Path) -> Result<(), CaError> {
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

fn ca_name(organization: &str, role: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("{organization} {role}"));
    dn.push(DnType::OrganizationName, organization);
    dn
}

/// A random positive 16-byte serial (high bit cleared, never shortened by a zero first byte).
fn random_serial() -> Result<SerialNumber, CaError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CaError::Rcgen("the system random generator failed".into()))?;
    bytes[0] = (bytes[0] & 0x7f).max(1);
    Ok(SerialNumber::from_slice(&bytes))
}

fn cert_pem(der: &[u8]) -> String {
    pem::encode_config(&pem::Pem::new("CERTIFICATE", der.to_vec()), pem_config())
}

fn first_cert_der(text: &str, name: &str) -> Result<Vec<u8>, CaError> {
    let mut chain = inspect::parse_chain_pem(text).map_err(|e| in_file(e, name))?;
    Ok(chain.swap_remove(0))
}

/// Prefixes the file name to messages that would otherwise not say where the problem is.
fn in_file(e: CaError, name: &str) -> CaError {
    match e {
        CaError::Pem(m) => CaError::Pem(format!("{name}: {m}")),
        CaError::UnsupportedKey(m) => CaError::UnsupportedKey(format!("{name}: {m}")),
        CaError::Certificate(m) => CaError::Certificate(format!("{name}: {m}")),
        other => other,
    }
}

fn subject_key_id(der: &[u8]) -> Result<Vec<u8>, CaError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| CaError::Certificate(format!("issuing CA certificate: {e}")))?;
    cert.extensions()
        .iter()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
            _ => None,
        })
        .ok_or_else(|| {
            CaError::Certificate("the issuing CA certificate has no subject key identifier".into())
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_parse_and_display() {
        for r in RevocationReason::all() {
            assert_eq!(r.to_string().parse::<RevocationReason>().unwrap(), *r);
            assert_eq!(
                r.to_string()
                    .replace('_', "-")
                    .parse::<RevocationReason>()
                    .unwrap(),
                *r
            );
        }
        assert_eq!(
            RevocationReason::KeyCompromise.to_string(),
            "key_compromise"
        );
        assert!("stolen".parse::<RevocationReason>().is_err());
    }

    #[test]
    fn serials_are_16_bytes_positive() {
        for _ in 0..50 {
            let s = random_serial().unwrap().to_bytes();
            assert_eq!(s.len(), 16);
            assert!(s[0] & 0x80 == 0 && s[0] != 0);
        }
    }

    #[test]
    fn shareable_across_threads() {
        fn check<T: Send + Sync>() {}
        check::<CertificateAuthority>();
        check::<crate::keys::PrivateKey>();
        check::<CaError>();
    }

    #[test]
    fn profile_defaults() {
        let p = ClientProfile::new("a1", "Acme", 90);
        let d = p.not_after - p.not_before;
        assert!(d >= Duration::days(90) && d <= Duration::days(90) + Duration::minutes(6));
    }
}
