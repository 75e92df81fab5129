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

use crate::custody::CaFiles;
use crate::inspect::{self, Fingerprint, agency_uri};
use crate::keys::{self, KdfCost, KeyProtection, PrivateKey, pem_config};
use crate::{CaError, io_err, write_private_file, write_public_file};

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
    /// For a key compromise: since when the key is known or suspected to be in other hands (the
    /// CRL entry's invalidity date extension, RFC 5280 5.3.2); None leaves it out.
    pub invalidity_date: Option<OffsetDateTime>,
}

/// Where the CA's certificates and CRLs can be downloaded, written into every certificate it
/// issues: CRL distribution points and authority information access (CA issuers).
///
/// URLs, from a base such as `https://exchange.example:8443`:
/// * the root certificate `{base}/ca/root.der` and the root's CRL `{base}/ca/root-crl.der`
///   (named in issuing CA certificates);
/// * an issuing CA's certificate `{base}/ca/issuing/{key id}.der` and its CRL
///   `{base}/ca/issuing/{key id}/crl.der` (named in the certificates it issues; the key id is the
///   hex subject key identifier, so a certificate keeps pointing at its own issuer after a
///   rollover).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    base_url: String,
}

impl Publication {
    /// From an `http://` or `https://` base URL (a trailing `/` is dropped).
    pub fn new(base_url: &str) -> Result<Publication, CaError> {
        let base = base_url.trim().trim_end_matches('/');
        let rest = base
            .strip_prefix("https://")
            .or_else(|| base.strip_prefix("http://"));
        match rest {
            Some(host)
                if !host.is_empty() && base.is_ascii() && !base.contains(char::is_whitespace) =>
            {
                Ok(Publication {
                    base_url: base.to_owned(),
                })
            }
            _ => Err(CaError::Certificate(format!(
                "the CA's public URL {base_url:?} must be an http:// or https:// address"
            ))),
        }
    }

    /// The base URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The root certificate (DER).
    pub fn root_certificate_url(&self) -> String {
        format!("{}/ca/root.der", self.base_url)
    }

    /// The root's CRL (DER), which covers the issuing CAs.
    pub fn root_crl_url(&self) -> String {
        format!("{}/ca/root-crl.der", self.base_url)
    }

    /// The certificate (DER) of the issuing CA with subject key identifier `key_id`.
    pub fn issuing_certificate_url(&self, key_id: &[u8]) -> String {
        format!("{}/ca/issuing/{}.der", self.base_url, hex::encode(key_id))
    }

    /// The CRL (DER) of the issuing CA with subject key identifier `key_id`.
    pub fn issuing_crl_url(&self, key_id: &[u8]) -> String {
        format!(
            "{}/ca/issuing/{}/crl.der",
            self.base_url,
            hex::encode(key_id)
        )
    }
}

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
    /// Loads root + issuing CA from `dir` (files: root.crt, root.key, issuing.crt,
    /// issuing.key, and retired issuing CAs under retired/); creates them on first use
    /// (dir created 0700).
    ///
    /// Keys are written 0600 via [`write_private_file`], encrypted with the
    /// passphrase when one is given ([`KdfCost::CA`](crate::keys::KdfCost::CA)). Loading an
    /// encrypted key without or with the wrong passphrase gives [`CaError::Passphrase`]; loading
    /// a plaintext key when a passphrase is given is fine. root.key may be missing (the root key
    /// is kept offline); a directory missing any other file is refused rather than overwritten.
    pub fn load_or_create(
        dir: &Path,
        organization: &str,
        passphrase: Option<&str>,
    ) -> Result<CertificateAuthority, CaError> {
        if CaFiles::read(dir)?.is_empty() {
            Self::create(dir, organization, passphrase, None)
        } else {
            Self::load(dir, passphrase)
        }
    }

    /// Creates a new root and issuing CA in `dir`, which must not hold any CA file yet (it is
    /// created 0700 when missing). With `publication`, the issuing CA's certificate names the
    /// root's CRL and certificate. Keys are encrypted with `passphrase` when given.
    pub fn create(
        dir: &Path,
        organization: &str,
        passphrase: Option<&str>,
        publication: Option<&Publication>,
    ) -> Result<CertificateAuthority, CaError> {
        Self::create_with_validity(
            dir,
            organization,
            passphrase,
            publication,
            ROOT_VALIDITY_DAYS,
            ISSUING_VALIDITY_DAYS,
        )
    }

    pub(crate) fn create_with_validity(
        dir: &Path,
        organization: &str,
        passphrase: Option<&str>,
        publication: Option<&Publication>,
        root_days: i64,
        issuing_days: i64,
    ) -> Result<CertificateAuthority, CaError> {
        let existing = CaFiles::read(dir)?;
        if !existing.is_empty() {
            return Err(CaError::Certificate(format!(
                "{} already holds a CA; refusing to create another over it",
                dir.display()
            )));
        }
        create_private_dir(dir)?;
        let now = OffsetDateTime::now_utc();
        let root_key = PrivateKey::generate_p256()?;
        let issuing_key = PrivateKey::generate_p256()?;

        let mut root_params = CertificateParams::default();
        root_params.distinguished_name = ca_name(organization, "Root CA");
        root_params.not_before = now - CLOCK_SKEW;
        root_params.not_after = now + Duration::days(root_days);
        root_params.serial_number = Some(random_serial()?);
        root_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
        root_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let root_cert = root_params.self_signed(root_key.key_pair())?;
        let root_issuer = Issuer::from_params(&root_params, root_key.key_pair());
        let issuing_cert = issuing_ca_certificate(
            &issuing_key,
            &ca_name(organization, "Issuing CA"),
            &root_issuer,
            root_cert.der(),
            issuing_days,
            publication,
        )?;

        let key_text = |key: &PrivateKey| -> Result<zeroize::Zeroizing<String>, CaError> {
            match passphrase {
                Some(p) => key.to_encrypted_pem_with(p, KdfCost::CA),
                None => Ok(key.to_pem()),
            }
        };
        write_private_file(&dir.join(ROOT_KEY), key_text(&root_key)?.as_bytes())?;
        write_private_file(&dir.join(ISSUING_KEY), key_text(&issuing_key)?.as_bytes())?;
        write_public_file(&dir.join(ROOT_CRT), cert_pem(root_cert.der()).as_bytes())?;
        write_public_file(&dir.join(ISSUING_CRT), cert_pem(&issuing_cert).as_bytes())?;

        let ca = Self::assemble(
            dir,
            root_cert.der().to_vec(),
            issuing_cert,
            issuing_key,
            Vec::new(),
        )?;
        Ok(ca.with_publication(publication.cloned()))
    }

    /// Loads the CA from `dir`: root.crt, issuing.crt and issuing.key are required, root.key is
    /// optional (root offline); retired issuing CAs under retired/ that have not expired are
    /// loaded with their keys when present. An interrupted rollover is completed first.
    pub fn load(dir: &Path, passphrase: Option<&str>) -> Result<CertificateAuthority, CaError> {
        crate::custody::finish_interrupted_rollover(dir)?;
        let files = CaFiles::read(dir)?;
        let missing = files.missing();
        if !missing.is_empty() {
            return Err(CaError::Certificate(format!(
                "the CA directory {} is incomplete (missing {}); restore the files from backup \
                 or move the directory away to create a new CA",
                dir.display(),
                missing.join(", ")
            )));
        }
        let read = |name: &str| -> Result<String, CaError> {
            let path = dir.join(name);
            fs::read_to_string(&path).map_err(io_err(&path))
        };
        let root_der = first_cert_der(&read(ROOT_CRT)?, ROOT_CRT)?;
        let issuing_der = first_cert_der(&read(ISSUING_CRT)?, ISSUING_CRT)?;
        let issuing_key_pem = zeroize::Zeroizing::new(read(ISSUING_KEY)?);
        let issuing_key = PrivateKey::from_pem(&issuing_key_pem, passphrase)
            .map_err(|e| in_file(e, ISSUING_KEY))?;

        let root = inspect::parse_certificate_der(&root_der)?;
        let issuing = inspect::parse_certificate_der(&issuing_der)?;
        if files.root_key == Some(KeyProtection::Plain) {
            // Cheap to check when plain; an encrypted root key is checked when it is used.
            let root_key_pem = zeroize::Zeroizing::new(read(ROOT_KEY)?);
            let root_key =
                PrivateKey::from_pem(&root_key_pem, None).map_err(|e| in_file(e, ROOT_KEY))?;
            if root.spki_der != root_key.public_key_der() {
                return Err(CaError::Certificate(format!(
                    "{ROOT_KEY} does not belong to {ROOT_CRT} in {}",
                    dir.display()
                )));
            }
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
        verify_signed_by(&issuing_der, &root_der).map_err(|_| {
            CaError::Signature(format!("{ISSUING_CRT} is not signed by {ROOT_CRT}"))
        })?;

        let now = OffsetDateTime::now_utc();
        let issuing_key_id = subject_key_id(&issuing_der)?;
        let mut retired = Vec::new();
        for (crt_path, key_path) in files.retired_files() {
            let name = crt_path.display().to_string();
            let text = fs::read_to_string(&crt_path).map_err(io_err(&crt_path))?;
            let der = first_cert_der(&text, &name)?;
            let info = inspect::parse_certificate_der(&der)?;
            let key_id = subject_key_id(&der)?;
            if info.not_after <= now || key_id == issuing_key_id {
                continue;
            }
            verify_signed_by(&der, &root_der)
                .map_err(|_| CaError::Signature(format!("{name} is not signed by {ROOT_CRT}")))?;
            let issuer = match fs::read_to_string(&key_path) {
                Ok(pem) => {
                    let pem = zeroize::Zeroizing::new(pem);
                    let key = PrivateKey::from_pem(&pem, passphrase)
                        .map_err(|e| in_file(e, &key_path.display().to_string()))?;
                    if key.public_key_der() != info.spki_der {
                        return Err(CaError::Certificate(format!(
                            "{} does not belong to {name}",
                            key_path.display()
                        )));
                    }
                    Some(Issuer::from_ca_cert_der(
                        &der.as_slice().into(),
                        key.into_key_pair(),
                    )?)
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(io_err(&key_path)(e)),
            };
            retired.push(RetiredIssuing {
                der,
                key_id,
                not_after: info.not_after,
                issuer,
            });
        }
        Self::assemble(dir, root_der, issuing_der, issuing_key, retired)
    }

    fn assemble(
        dir: &Path,
        root_der: Vec<u8>,
        issuing_der: Vec<u8>,
        issuing_key: PrivateKey,
        retired: Vec<RetiredIssuing>,
    ) -> Result<CertificateAuthority, CaError> {
        let issuing_key_id = subject_key_id(&issuing_der)?;
        let root_key_id = subject_key_id(&root_der)?;
        let root_not_after = inspect::parse_certificate_der(&root_der)?.not_after;
        let issuing_not_after = inspect::parse_certificate_der(&issuing_der)?.not_after;
        let issuer =
            Issuer::from_ca_cert_der(&issuing_der.as_slice().into(), issuing_key.into_key_pair())?;
        Ok(CertificateAuthority {
            dir: dir.to_path_buf(),
            root_pem: cert_pem(&root_der),
            issuing_pem: cert_pem(&issuing_der),
            root_der,
            root_key_id,
            root_not_after,
            issuing_der,
            issuing_key_id,
            issuing_not_after,
            issuer,
            retired,
            publication: None,
        })
    }

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

    /// The parameters every end-entity certificate of the current issuing CA starts from: a
    /// random positive 16-byte serial, validity from `not_before` to `not_after` but never past
    /// the issuing CA's own end ([`CaError::Certificate`] when nothing is left), CA:false,
    /// authority key identifier, and, with a [`Publication`], the issuing CA's CRL
    /// distribution point and CA-issuers address. Callers add subject, SANs and key usages.
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
    /// (with a [`Publication`]); signed by the current issuing CA, ending no later than it.
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

/// An issuing CA certificate (DER) for `key`, signed by `root_issuer`, clamped to the root.
fn issuing_ca_certificate<S: rcgen::SigningKey>(
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

/// The CRL distribution point and the authority information access (CA issuers) extensions.
fn add_publication(params: &mut CertificateParams, crl_url: &str, ca_issuers_url: &str) {
    params.crl_distribution_points = vec![rcgen::CrlDistributionPoint {
        uris: vec![crl_url.to_owned()],
    }];
    params
        .custom_extensions
        .push(rcgen::CustomExtension::from_oid_content(
            OID_AUTHORITY_INFO_ACCESS,
            authority_info_access_der(ca_issuers_url),
        ));
}

/// id-pe-authorityInfoAccess (RFC 5280, 4.2.2.1).
const OID_AUTHORITY_INFO_ACCESS: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
/// id-ad-caIssuers, 1.3.6.1.5.5.7.48.2, DER-encoded with its tag and length.
const OID_CA_ISSUERS_DER: &[u8] = &[0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02];

/// `AuthorityInfoAccessSyntax` with one `AccessDescription`: caIssuers at `url`
/// (a uniformResourceIdentifier GeneralName, `[6] IMPLICIT IA5String`).
fn authority_info_access_der(url: &str) -> Vec<u8> {
    let location = der_tlv(0x86, url.as_bytes());
    let description = der_tlv(0x30, &[OID_CA_ISSUERS_DER, &location].concat());
    der_tlv(0x30, &description)
}

/// One DER element: tag, definite length, content.
fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
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

/// Checks that `cert_der` is signed by the key of `issuer_der`.
pub(crate) fn verify_signed_by(cert_der: &[u8], issuer_der: &[u8]) -> Result<(), CaError> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|e| CaError::Certificate(format!("the certificate could not be parsed: {e}")))?;
    let (_, issuer) = x509_parser::parse_x509_certificate(issuer_der)
        .map_err(|e| CaError::Certificate(format!("the issuer could not be parsed: {e}")))?;
    cert.verify_signature(Some(issuer.public_key()))
        .map_err(|_| CaError::Signature("the certificate is not signed by that issuer".into()))
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
        .map_err(|_| CaError::Rcgen("the system random generator failed".into()))?;
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
    fn the_issuing_ca_ends_no_later_than_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::create_with_validity(
            tmp.path(),
            "Clamp",
            None,
            None,
            100,
            ISSUING_VALIDITY_DAYS,
        )
        .unwrap();
        assert_eq!(ca.issuing_not_after(), ca.root_not_after());
        let root = ca.root_key(None).unwrap();
        let rolled = ca.rollover(&root, None).unwrap();
        assert_eq!(rolled.issuing_not_after(), rolled.root_not_after());
        let key = PrivateKey::generate_p256().unwrap();
        let server = rolled
            .issue_server(&key, &["localhost".into()], 365)
            .unwrap();
        assert_eq!(server.not_after, rolled.root_not_after());
    }

    #[test]
    fn authority_info_access_is_der() {
        // Short and long (two-byte length) URLs both parse back with x509-parser.
        for url in [
            "https://x.example/ca/root.der".to_string(),
            format!("https://{}.example/ca/root.der", "a".repeat(300)),
        ] {
            let der = authority_info_access_der(&url);
            let (rest, aia) = x509_parser::extensions::AuthorityInfoAccess::from_der(&der).unwrap();
            assert!(rest.is_empty());
            assert_eq!(aia.accessdescs.len(), 1);
            assert_eq!(
                aia.accessdescs[0].access_method,
                x509_parser::oid_registry::OID_PKIX_ACCESS_DESCRIPTOR_CA_ISSUERS
            );
            match &aia.accessdescs[0].access_location {
                x509_parser::extensions::GeneralName::URI(u) => assert_eq!(*u, url),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn profile_defaults() {
        let p = ClientProfile::new("a1", "Acme", 90);
        let d = p.not_after - p.not_before;
        assert!(d >= Duration::days(90) && d <= Duration::days(90) + Duration::minutes(6));
    }
}
