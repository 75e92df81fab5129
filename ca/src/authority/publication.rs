//! Where the CA publishes its certificates and CRLs, and the extensions (CRL distribution
//! point, authority information access) that name those addresses in a certificate.

use rcgen::CertificateParams;

use crate::CaError;

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

/// The CRL distribution point and the authority information access (CA issuers) extensions.
pub(super) fn add_publication(params: &mut CertificateParams, crl_url: &str, ca_issuers_url: &str) {
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
pub(super) fn authority_info_access_der(url: &str) -> Vec<u8> {
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
