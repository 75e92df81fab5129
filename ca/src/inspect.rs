//! Reading certificates: fingerprints, subjects, SANs, key usages, validity.

use std::fmt;
use std::net::IpAddr;

use time::OffsetDateTime;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::oid_registry::OID_PKIX_ACCESS_DESCRIPTOR_CA_ISSUERS;

use crate::CaError;
use crate::keys::KeyAlgorithm;

/// URI prefix of the SAN that names an agency in its client certificate.
const AGENCY_URI_PREFIX: &str = "urn:listing-exchange:agency:";

/// SHA-256 fingerprint of a certificate's DER encoding.
///
/// Displays as uppercase hex pairs joined by colons (`AB:CD:...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The SHA-256 fingerprint of `der`.
    pub fn of(der: &[u8]) -> Fingerprint {
        let digest = ring::digest::digest(&ring::digest::SHA256, der);
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        Fingerprint(out)
    }

    /// Lowercase hex without separators (64 characters).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses either form (`ab:cd:...` with colons, or 64 plain hex digits),
    /// case-insensitively; surrounding whitespace is ignored.
    pub fn parse(s: &str) -> Option<Fingerprint> {
        let s = s.trim();
        let compact: String = if s.contains(':') {
            let parts: Vec<&str> = s.split(':').collect();
            if parts.len() != 32 || parts.iter().any(|p| p.len() != 2) {
                return None;
            }
            parts.concat()
        } else {
            s.to_string()
        };
        if compact.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(&compact, &mut out).ok()?;
        Some(Fingerprint(out))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

/// What the platform needs to know about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Serial number, lowercase hex without leading zero bytes (see [`serial_hex`]).
    pub serial: String,
    /// Subject distinguished name, e.g. `CN=Acme Homes, O=Acme Homes`.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// SHA-256 fingerprint of the DER certificate.
    pub fingerprint: Fingerprint,
    /// URI subject alternative names.
    pub san_uris: Vec<String>,
    /// DNS subject alternative names.
    pub san_dns: Vec<String>,
    /// IP address subject alternative names.
    pub san_ips: Vec<IpAddr>,
    /// Whether basic constraints mark this as a CA certificate.
    pub is_ca: bool,
    /// Whether the extended key usage includes TLS client authentication.
    pub eku_client_auth: bool,
    /// Whether the extended key usage includes TLS server authentication.
    pub eku_server_auth: bool,
    /// Whether the extended key usage includes id-kp-documentSigning (RFC 9336), the platform's
    /// document-signing certificate's only usage.
    pub eku_document_signing: bool,
    /// The public key type, if it is one this CA supports.
    pub key_algorithm: Option<KeyAlgorithm>,
    /// The public key as DER SubjectPublicKeyInfo.
    pub spki_der: Vec<u8>,
    /// The subject key identifier, when present.
    pub subject_key_id: Option<Vec<u8>>,
    /// The authority key identifier's key id (names the issuer's key), when present.
    pub authority_key_id: Option<Vec<u8>>,
    /// URIs of the CRL distribution points.
    pub crl_urls: Vec<String>,
    /// URIs of the CA issuers in the authority information access extension.
    pub ca_issuer_urls: Vec<String>,
    /// The whole certificate, DER.
    pub der: Vec<u8>,
}

impl CertificateInfo {
    /// The agency id named by the first agency SAN URI, if any.
    pub fn agency_id(&self) -> Option<String> {
        self.san_uris.iter().find_map(|u| agency_id_from_uri(u))
    }

    /// Whether `t` lies within the validity period (both ends inclusive).
    pub fn is_valid_at(&self, t: OffsetDateTime) -> bool {
        self.not_before <= t && t <= self.not_after
    }

    /// Whole days from `now` until expiry (negative once expired).
    pub fn days_left(&self, now: OffsetDateTime) -> i64 {
        (self.not_after - now).whole_days()
    }
}

/// Parses a DER certificate.
pub fn parse_certificate_der(der: &[u8]) -> Result<CertificateInfo, CaError> {
    let (rest, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| CaError::Certificate(format!("the certificate could not be parsed: {e}")))?;
    if !rest.is_empty() {
        return Err(CaError::Certificate(
            "trailing bytes after the certificate".into(),
        ));
    }
    let mut info = CertificateInfo {
        serial: serial_hex(cert.raw_serial()),
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
        fingerprint: Fingerprint::of(der),
        san_uris: Vec::new(),
        san_dns: Vec::new(),
        san_ips: Vec::new(),
        is_ca: cert.is_ca(),
        eku_client_auth: false,
        eku_server_auth: false,
        eku_document_signing: false,
        key_algorithm: crate::sign::spki_key_algorithm(cert.public_key()),
        spki_der: cert.public_key().raw.to_vec(),
        subject_key_id: None,
        authority_key_id: None,
        crl_urls: Vec::new(),
        ca_issuer_urls: Vec::new(),
        der: der.to_vec(),
    };
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                for name in &san.general_names {
                    match name {
                        GeneralName::URI(u) => info.san_uris.push((*u).to_string()),
                        GeneralName::DNSName(d) => info.san_dns.push((*d).to_string()),
                        GeneralName::IPAddress(bytes) => {
                            if let Some(ip) = ip_from_bytes(bytes) {
                                info.san_ips.push(ip);
                            }
                        }
                        _ => {}
                    }
                }
            }
            ParsedExtension::ExtendedKeyUsage(eku) => {
                info.eku_client_auth |= eku.client_auth;
                info.eku_server_auth |= eku.server_auth;
                info.eku_document_signing |= eku.other.iter().any(|oid| {
                    oid.iter()
                        .is_some_and(|arcs| arcs.eq(crate::EKU_DOCUMENT_SIGNING.iter().copied()))
                });
            }
            ParsedExtension::SubjectKeyIdentifier(id) => {
                info.subject_key_id = Some(id.0.to_vec());
            }
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                info.authority_key_id = aki.key_identifier.as_ref().map(|id| id.0.to_vec());
            }
            ParsedExtension::CRLDistributionPoints(points) => {
                for point in points.iter() {
                    if let Some(DistributionPointName::FullName(names)) = &point.distribution_point
                    {
                        info.crl_urls.extend(names.iter().filter_map(|n| match n {
                            GeneralName::URI(u) => Some((*u).to_string()),
                            _ => None,
                        }));
                    }
                }
            }
            ParsedExtension::AuthorityInfoAccess(aia) => {
                for desc in &aia.accessdescs {
                    if desc.access_method == OID_PKIX_ACCESS_DESCRIPTOR_CA_ISSUERS
                        && let GeneralName::URI(u) = &desc.access_location
                    {
                        info.ca_issuer_urls.push((*u).to_string());
                    }
                }
            }
            _ => {}
        }
    }
    Ok(info)
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// Parses the first "CERTIFICATE" block of a PEM text.
pub fn parse_certificate_pem(pem: &str) -> Result<CertificateInfo, CaError> {
    let chain = parse_chain_pem(pem)?;
    parse_certificate_der(&chain[0])
}

/// The DER of every "CERTIFICATE" block in `pem`, in order; other blocks are
/// skipped. An error if there is none.
pub fn parse_chain_pem(pem: &str) -> Result<Vec<Vec<u8>>, CaError> {
    let blocks = pem::parse_many(pem).map_err(|e| CaError::Pem(format!("certificate: {e}")))?;
    let ders: Vec<Vec<u8>> = blocks
        .into_iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(pem::Pem::into_contents)
        .collect();
    if ders.is_empty() {
        return Err(CaError::Pem("no CERTIFICATE block found".into()));
    }
    Ok(ders)
}

/// True when the certificate `cert_der` is signed by the key of the certificate `issuer_der`.
pub fn is_signed_by(cert_der: &[u8], issuer_der: &[u8]) -> bool {
    crate::authority::verify_signed_by(cert_der, issuer_der).is_ok()
}

/// Lowercase hex of a serial number with leading zero bytes stripped
/// (a zero serial gives "00").
pub fn serial_hex(bytes: &[u8]) -> String {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    let trimmed = &bytes[start..];
    if trimmed.is_empty() {
        "00".to_string()
    } else {
        hex::encode(trimmed)
    }
}

/// The SAN URI naming an agency: `urn:listing-exchange:agency:<id>`.
pub fn agency_uri(agency_id: &str) -> String {
    format!("{AGENCY_URI_PREFIX}{agency_id}")
}

/// The agency id of an agency SAN URI, or `None` for other URIs or an empty id.
pub fn agency_id_from_uri(uri: &str) -> Option<String> {
    let id = uri.strip_prefix(AGENCY_URI_PREFIX)?;
    (!id.is_empty()).then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_forms() {
        let fp = Fingerprint::of(b"hello");
        let shown = fp.to_string();
        assert_eq!(shown.len(), 32 * 3 - 1);
        assert_eq!(shown, shown.to_uppercase());
        assert_eq!(Fingerprint::parse(&shown), Some(fp));
        assert_eq!(Fingerprint::parse(&shown.to_lowercase()), Some(fp));
        assert_eq!(Fingerprint::parse(&fp.to_hex()), Some(fp));
        assert_eq!(Fingerprint::parse(&fp.to_hex().to_uppercase()), Some(fp));
        assert_eq!(fp.to_hex(), shown.replace(':', "").to_lowercase());
        assert_eq!(Fingerprint::parse("abc"), None);
        assert_eq!(Fingerprint::parse(&shown[3..]), None);
        assert_eq!(Fingerprint::parse(&"zz".repeat(32)), None);
    }

    #[test]
    fn serials() {
        assert_eq!(serial_hex(&[0, 0, 0x1a, 0x02]), "1a02");
        assert_eq!(serial_hex(&[0x7f]), "7f");
        assert_eq!(serial_hex(&[0, 0]), "00");
        assert_eq!(serial_hex(&[]), "00");
    }

    #[test]
    fn agency_uris() {
        let uri = agency_uri("ag-17");
        assert_eq!(uri, "urn:listing-exchange:agency:ag-17");
        assert_eq!(agency_id_from_uri(&uri).as_deref(), Some("ag-17"));
        assert_eq!(agency_id_from_uri("urn:listing-exchange:agency:"), None);
        assert_eq!(agency_id_from_uri("https://example.com"), None);
    }

    #[test]
    fn chain_needs_a_certificate() {
        assert!(matches!(parse_chain_pem(""), Err(CaError::Pem(_))));
        assert!(matches!(
            parse_chain_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            Err(CaError::Pem(_))
        ));
    }
}
