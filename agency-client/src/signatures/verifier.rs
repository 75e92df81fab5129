//! The [`Verifier`]: checks listing signatures against certificates that chain to the root
//! pinned at enrolment (see the rules in [`super`]).

use std::collections::HashMap;
use std::time::Duration;

use api_types::{ListingObject, SignatureEnvelope};
use base64::Engine;
use diesel::SqliteConnection;
use rustls_pki_types::{CertificateDer, UnixTime};

use super::cache::{self, KnownCertificate};
use super::{PLATFORM_PARTY, Verdict, lower_serial, ms_rfc3339, rfc3339, signing_time_ok, to_ms};
use crate::error::ClientError;
use crate::identity::Identity;
use crate::net::PlatformClient;

/// A known certificate, parsed once per run: what every listing it signed is checked against.
#[derive(Debug, Clone)]
pub(super) struct Prepared {
    pub(super) cert: KnownCertificate,
    /// The chain as DER (leaf first), or why it cannot be read.
    pub(super) chain: Result<Vec<Vec<u8>>, String>,
    /// The leaf's public key (SubjectPublicKeyInfo, DER).
    pub(super) spki: Vec<u8>,
    /// The leaf's validity, Unix ms.
    pub(super) not_before: i64,
    pub(super) not_after: i64,
    /// The chain verified to the pinned root at both ends of the leaf's validity. Validity
    /// periods are intervals, so it then verifies at any moment in between, which is where a
    /// listing's signing time is clamped to: no listing needs its own path validation.
    pub(super) chain_ok_throughout: bool,
}

/// What a certificate must be good for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Usage {
    /// An agency's certificate: client authentication (it also signs the agency's listings).
    Agency,
    /// The platform's document-signing certificate: id-kp-documentSigning (RFC 9336).
    PlatformSigner,
}

impl Usage {
    fn of(cert: &KnownCertificate) -> Usage {
        if cert.agency_id == PLATFORM_PARTY {
            Usage::PlatformSigner
        } else {
            Usage::Agency
        }
    }

    /// The usage every certificate of the path must allow. webpki applies it to the issuing CA
    /// too (which names no extended key usage), so "required if present" here; that the signer
    /// names document signing is checked on the leaf itself ([`Prepared::new`]).
    fn key_usage(self) -> webpki::KeyUsage {
        const DOCUMENT_SIGNING: &[u8] = &ca::EKU_DOCUMENT_SIGNING_DER;
        match self {
            Usage::Agency => webpki::KeyUsage::client_auth(),
            Usage::PlatformSigner => webpki::KeyUsage::required_if_present(DOCUMENT_SIGNING),
        }
    }
}

impl Prepared {
    fn new(cert: KnownCertificate, root_der: &[u8]) -> Prepared {
        let parsed = ca::inspect::parse_chain_pem(&cert.chain_pem)
            .map_err(|_| format!("certificate {} cannot be read", cert.serial))
            .and_then(|chain| {
                let leaf = ca::inspect::parse_certificate_der(&chain[0])
                    .map_err(|_| format!("certificate {} cannot be read", cert.serial))?;
                if Usage::of(&cert) == Usage::PlatformSigner && !leaf.eku_document_signing {
                    return Err(format!(
                        "certificate {} names the platform but is not for document signing",
                        cert.serial
                    ));
                }
                Ok((
                    chain,
                    leaf.spki_der.clone(),
                    to_ms(leaf.not_before),
                    to_ms(leaf.not_after),
                ))
            });
        match parsed {
            Ok((chain, spki, not_before, not_after)) => {
                let usage = Usage::of(&cert);
                let chain_ok_throughout = [not_before, not_after]
                    .iter()
                    .all(|&at| verify_chain(root_der, &chain, &cert.serial, at, usage).is_ok());
                Prepared {
                    cert,
                    chain: Ok(chain),
                    spki,
                    not_before,
                    not_after,
                    chain_ok_throughout,
                }
            }
            Err(problem) => Prepared {
                cert,
                chain: Err(problem),
                spki: Vec::new(),
                not_before: 0,
                not_after: 0,
                chain_ok_throughout: false,
            },
        }
    }
}

/// What the desk knows about one serial.
#[derive(Debug, Clone)]
pub(super) enum Lookup {
    /// The certificate (its chain and status), parsed.
    Known(Box<Prepared>),
    /// The platform has no such certificate, or served one that is not what was asked for.
    Bad(String),
    /// It could not be asked (an error other than the platform being unreachable).
    Unknown(String),
}

/// Checks listing signatures against certificates chaining to the pinned root. Certificates are
/// looked up once per run (and cached in the database across runs).
#[derive(Debug)]
pub struct Verifier {
    pub(super) root_der: Vec<u8>,
    pub(super) lookups: HashMap<String, Lookup>,
}

impl Verifier {
    /// A verifier trusting only the root this desk pinned at enrolment; refuses to work if the
    /// stored root no longer has the pinned fingerprint.
    pub fn new(identity: &Identity) -> Result<Verifier, ClientError> {
        let root_der = ca::inspect::parse_chain_pem(&identity.root_pem)?
            .into_iter()
            .next()
            .ok_or_else(|| ClientError::Crypto("the stored root CA is empty".into()))?;
        let pinned = ca::inspect::Fingerprint::parse(&identity.root_fingerprint);
        if pinned != Some(ca::inspect::Fingerprint::of(&root_der)) {
            return Err(ClientError::Crypto(
                "the stored root CA does not match the fingerprint pinned at enrolment; enrol again with the fingerprint the operator gave you".into(),
            ));
        }
        Ok(Verifier {
            root_der,
            lookups: HashMap::new(),
        })
    }

    /// Makes sure every serial in `serials` is known: from this run, from the local cache while
    /// fresh (a revoked certificate always), else from the platform (then cached). Only the
    /// platform being unreachable or refusing this desk is an error; any other failure leaves the
    /// listings it concerns unchecked or invalid.
    pub fn fetch<'a>(
        &mut self,
        conn: &mut SqliteConnection,
        client: &mut PlatformClient,
        serials: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), ClientError> {
        for serial in serials {
            let serial = lower_serial(serial);
            if self.lookups.contains_key(&serial) {
                continue;
            }
            if let Some(c) = cache::cached(conn, &serial)?
                && cache::is_fresh(&c)
            {
                let prepared = Prepared::new(c, &self.root_der);
                self.lookups
                    .insert(serial, Lookup::Known(Box::new(prepared)));
                continue;
            }
            let lookup = match client.get_json::<api_types::api::CertificateRecord>(&format!(
                "/api/v1/certificates/{serial}"
            )) {
                Ok(record) => match cache::known(&serial, record) {
                    Ok(c) => {
                        let kept = cache::store(conn, &c)?;
                        Lookup::Known(Box::new(Prepared::new(kept, &self.root_der)))
                    }
                    Err(problem) => Lookup::Bad(problem),
                },
                Err(ClientError::Refused { code, .. }) if code == "certificate_not_found" => {
                    Lookup::Bad(format!(
                        "the platform has no certificate with serial {serial}"
                    ))
                }
                Err(
                    e @ (ClientError::Unreachable { .. }
                    | ClientError::Untrusted { .. }
                    | ClientError::CertificateRevoked(_)
                    | ClientError::CertificateRefused { .. }),
                ) => return Err(e),
                Err(e) => {
                    Lookup::Unknown(format!("certificate {serial} could not be fetched ({e})"))
                }
            };
            self.lookups.insert(serial, lookup);
        }
        Ok(())
    }

    /// Asks the platform again about every cached certificate not known to be revoked whose
    /// status is older than [`STATUS_MAX_AGE_MS`](super::STATUS_MAX_AGE_MS), so a revocation reaches this desk within that
    /// time even when no new listing names the certificate.
    pub fn refresh_stale(
        &mut self,
        conn: &mut SqliteConnection,
        client: &mut PlatformClient,
    ) -> Result<(), ClientError> {
        let stale = cache::stale_serials(conn)?;
        self.fetch(conn, client, stale.iter().map(String::as_str))
    }

    /// Checks a listing object of agency `office_key`, as received, signed with `signature` by
    /// certificate `serial` (which [`Verifier::fetch`] must have looked up); this desk first held
    /// that signature at `first_seen` (Unix ms; see [`first_seen`](super::first_seen)).
    pub fn check(
        &self,
        office_key: &str,
        listing: &ListingObject,
        signature: Option<&SignatureEnvelope>,
        serial: Option<&str>,
        first_seen: i64,
    ) -> Verdict {
        let (Some(signature), Some(serial)) = (signature, serial) else {
            return Verdict::invalid(
                "the platform sent the listing without its agency's signature",
            );
        };
        match self.lookups.get(&lower_serial(serial)) {
            Some(Lookup::Known(prepared)) => check_listing(
                &self.root_der,
                prepared,
                office_key,
                listing,
                signature,
                first_seen,
            ),
            Some(Lookup::Bad(problem)) => Verdict::invalid(problem.clone()),
            Some(Lookup::Unknown(problem)) => Verdict::unchecked(problem.clone()),
            None => Verdict::unchecked(format!("certificate {serial} was not fetched")),
        }
    }
}

/// Verifies `chain` (leaf first) to the pinned root for `usage` at `at` (Unix ms).
pub(super) fn verify_chain(
    root_der: &[u8],
    chain: &[Vec<u8>],
    serial: &str,
    at: i64,
    usage: Usage,
) -> Result<(), Verdict> {
    let anchor_der = CertificateDer::from(root_der);
    let Ok(anchor) = webpki::anchor_from_trusted_cert(&anchor_der) else {
        return Err(Verdict::unchecked("the pinned root CA cannot be used"));
    };
    let leaf_der = CertificateDer::from(chain[0].as_slice());
    let Ok(end_entity) = webpki::EndEntityCert::try_from(&leaf_der) else {
        return Err(Verdict::invalid(format!(
            "certificate {serial} cannot be read"
        )));
    };
    let intermediates: Vec<CertificateDer<'_>> = chain[1..]
        .iter()
        .map(|d| CertificateDer::from(d.as_slice()))
        .collect();
    let when = UnixTime::since_unix_epoch(Duration::from_millis(at.max(0) as u64));
    end_entity
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &[anchor],
            &intermediates,
            when,
            usage.key_usage(),
            None,
            None,
        )
        .map(|_| ())
        .map_err(|e| {
            let what = match usage {
                Usage::Agency => "an agency certificate",
                Usage::PlatformSigner => "the platform's document-signing certificate",
            };
            Verdict::invalid(match e {
                webpki::Error::UnknownIssuer => format!(
                    "certificate {serial} was not issued under the platform root CA this desk pinned at enrolment"
                ),
                other => format!("certificate {serial} is not valid as {what} ({other})"),
            })
        })
}

/// Checks one listing against a known certificate (see the rules in [`super`]).
fn check_listing(
    root_der: &[u8],
    prepared: &Prepared,
    office_key: &str,
    listing: &ListingObject,
    signature: &SignatureEnvelope,
    first_seen: i64,
) -> Verdict {
    let doc = listing.get();
    let cert = &prepared.cert;
    let serial = &cert.serial;
    let chain = match &prepared.chain {
        Ok(chain) => chain,
        Err(problem) => return Verdict::invalid(problem.clone()),
    };
    // 1. The chain to the pinned root, at the signing time clamped into the leaf's validity
    //    (checked once per certificate when it holds over the whole validity).
    let signed_at = to_ms(doc.modification_timestamp);
    if !prepared.chain_ok_throughout {
        let at = signed_at.clamp(prepared.not_before, prepared.not_after);
        if let Err(verdict) = verify_chain(root_der, chain, serial, at, Usage::Agency) {
            return verdict;
        }
    }
    // 2. The certificate is the listing's agency's.
    if cert.agency_id != office_key {
        return Verdict::invalid(format!(
            "it was signed with certificate {serial} of agency {}, not of the listing's agency {office_key}",
            cert.agency_id
        ));
    }
    // 3. The signature over the RFC 8785 form of the object as received (or, for a listing
    //    stored before RFC 8785, over the form it was signed in).
    let algorithm = signature.algorithm;
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(signature.value.trim()) else {
        return Verdict::invalid("its signature is not valid base64");
    };
    let verifies = |message: &[u8]| ca::sign::verify(&prepared.spki, algorithm, message, &bytes);
    if verifies(listing.canonical_bytes()).is_err()
        && verifies(&listing.legacy_bytes_for_verification_only()).is_err()
    {
        return Verdict::invalid(
            "its agency's signature does not match its content: the listing was changed after the agency signed it",
        );
    }
    // 4. Signed while the certificate was good.
    if let Err(why) = signing_time_ok(signed_at, prepared.not_after, cert.revocation(), first_seen)
    {
        let not_after = ms_rfc3339(prepared.not_after);
        return Verdict::invalid(format!(
            "{why} (dated {}, certificate {serial} valid until {not_after})",
            rfc3339(doc.modification_timestamp),
        ));
    }
    Verdict::verified()
}
