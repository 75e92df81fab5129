//! Checking each agency's signature on listings that come from the platform (the change feed and
//! remote searches): the desk does not take the platform's word for a listing's content.
//!
//! For every listing the desk fetches the signing certificate by serial (`GET
//! /api/v1/certificates/{serial}`, kept in the local `certificates` table) and checks, in order:
//!
//! 1. the certificate is the one named (same serial) and chains, through the issuing CA the
//!    platform sent with it, to the root CA this desk pinned by fingerprint at enrolment (webpki,
//!    client-authentication usage);
//! 2. the certificate names the listing's agency (its SAN URI) — one agency cannot sign another's
//!    listing;
//! 3. the signature (ECDSA P-256 or Ed25519) verifies over the RFC 8785 (JCS) form of the
//!    listing object **as received** ([`ListingObject::canonical_bytes`], the rule every signer
//!    follows, this desk included); for listings the platform stored before it adopted RFC 8785,
//!    over the older canonical form they were signed in
//!    ([`ListingObject::legacy_bytes_for_verification_only`]);
//! 4. the listing was signed while the certificate was good (see below).
//!
//! # Removals
//!
//! A listing leaves the desk only on a signature it can check: its agency's signed document with
//! `StandardStatus: Withdrawn` (checked as above), or an operator's take-down statement signed by
//! the platform's document-signing certificate ([`Verifier::check_takedown`]: chained to the
//! pinned root, extended key usage id-kp-documentSigning (RFC 9336), SAN URI
//! `urn:listing-exchange:platform`, the statement naming the listing, its agency and version).
//!
//! # Signing time, expiry, renewal and revocation
//!
//! A signature stays valid after its certificate expires or is superseded by a renewal: what
//! counts is whether the certificate was good when the listing was signed. The only date the
//! signed bytes carry is the listing's `ModificationTimestamp`, and a desk signs when it sends,
//! which is at or after that date (a change made offline is signed days later, possibly with a
//! renewed certificate). So:
//!
//! * a listing dated after its certificate's end of validity (beyond [`CLOCK_SKEW_MS`]) is
//!   invalid: it cannot have been signed while the certificate was valid;
//! * a listing dated before the certificate's start is accepted (it was signed later, when sent);
//!   the chain is checked at the listing's date clamped into the certificate's validity;
//! * a certificate revoked as `superseded` (renewal) or for any reason other than key compromise
//!   invalidates only listings dated at or after the revocation;
//! * a certificate revoked for `key_compromise` invalidates every listing it signed: whoever held
//!   the key could have written any date. When the operator dated the compromise back
//!   (`compromised_since`), a signature this desk already held before that date stands (it was
//!   made before the key left its owner, whatever dates a thief could write); one it first
//!   received at or after that date falls, even when dated before. So every stored listing keeps
//!   when this desk first held its current signature (`signature_first_seen_at`).
//!
//! Compromise is news: every sync first reads the platform's certificate events (their own
//! sequence, `GET /api/v1/changes/certificates`, [`apply_certificate_event`]) and marks the cached
//! certificates they name revoked, so a stored listing verified before is judged again in that
//! same sync ([`crate::feed`]): a key reported compromised turns what it signed invalid on the
//! desk, and the hints go. The platform's status of a certificate is also cached for
//! [`STATUS_MAX_AGE_MS`] and asked again after that ([`Verifier::refresh_stale`]); a revoked
//! certificate is never asked about again.

use std::collections::HashMap;
use std::time::Duration;

use api_types::{ListingObject, SignatureEnvelope, SignedTakedown};
use base64::Engine;
use diesel::prelude::*;
use rustls_pki_types::{CertificateDer, UnixTime};
use serde::Serialize;

use crate::db::now_ms;
use crate::db::schema::certificates;
use crate::error::ClientError;
use crate::identity::Identity;
use crate::net::PlatformClient;

/// Clock difference tolerated between a desk that signs and the CA that issued its certificate.
pub const CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;
/// How long the platform's word on a certificate's status is reused before asking again.
pub const STATUS_MAX_AGE_MS: i64 = 60 * 60 * 1000;

/// `signature_state` of a listing whose signature checked out.
pub const VERIFIED: &str = "verified";
/// `signature_state` of a listing whose signature failed; never trusted, never hinted.
pub const INVALID: &str = "invalid";
/// `signature_state` of a listing not checked yet (checked again at the next sync).
pub const UNCHECKED: &str = "unchecked";
/// What the `certificates` cache holds as the party of the platform's document-signing
/// certificate (its SAN URI is `urn:listing-exchange:platform`; agency ids are numbers).
pub const PLATFORM_PARTY: &str = "platform";

/// The outcome of checking one listing's signature, as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// `verified`, `invalid` or `unchecked`.
    pub state: String,
    /// Why it is invalid or unchecked, in plain words.
    pub problem: Option<String>,
}

impl Verdict {
    /// The signature checked out. Only [`Verifier::check`] should decide this for data from the
    /// platform.
    pub fn verified() -> Verdict {
        Verdict {
            state: VERIFIED.into(),
            problem: None,
        }
    }

    /// The signature failed, for `problem`.
    pub fn invalid(problem: impl Into<String>) -> Verdict {
        Verdict {
            state: INVALID.into(),
            problem: Some(problem.into()),
        }
    }

    /// The signature could not be checked, for `problem`.
    pub fn unchecked(problem: impl Into<String>) -> Verdict {
        Verdict {
            state: UNCHECKED.into(),
            problem: Some(problem.into()),
        }
    }

    /// A stored state and problem.
    pub fn stored(state: String, problem: Option<String>) -> Verdict {
        Verdict { state, problem }
    }

    /// True when the signature checked out.
    pub fn is_verified(&self) -> bool {
        self.state == VERIFIED
    }

    /// A short label: `signature verified`, `INVALID SIGNATURE: …`, `signature not checked: …`.
    pub fn text(&self) -> String {
        Verdict::label(&self.state, self.problem.as_deref())
    }

    /// The label for a state and problem.
    pub fn label(state: &str, problem: Option<&str>) -> String {
        match (state, problem) {
            (VERIFIED, _) => "signature verified".into(),
            (INVALID, Some(p)) => format!("INVALID SIGNATURE: {p}"),
            (INVALID, None) => "INVALID SIGNATURE".into(),
            (_, Some(p)) => format!("signature not checked: {p}"),
            (_, None) => "signature not checked yet".into(),
        }
    }
}

/// A certificate as the platform described it (and as cached locally).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = certificates)]
pub struct KnownCertificate {
    /// Serial, lowercase hex.
    pub serial: String,
    /// The agency the certificate names (SAN URI), as text.
    pub agency_id: String,
    /// The certificate then its issuing CA, PEM.
    pub chain_pem: String,
    /// `valid` or `revoked`.
    pub status: String,
    /// When revoked, Unix ms.
    pub revoked_at: Option<i64>,
    /// Why revoked.
    pub revocation_reason: Option<String>,
    /// When the platform was last asked, Unix ms.
    pub fetched_at: i64,
    /// For a key compromise: since when the key may have been in other hands, Unix ms (none:
    /// since ever).
    pub compromised_since: Option<i64>,
}

impl KnownCertificate {
    /// The certificate's revocation, when it is revoked.
    pub fn revocation(&self) -> Option<Revoked<'_>> {
        (self.status == "revoked").then(|| Revoked {
            at: self.revoked_at.unwrap_or(i64::MIN),
            reason: self.revocation_reason.as_deref().unwrap_or("unspecified"),
            compromised_since: self.compromised_since,
        })
    }
}

/// A certificate's revocation as this desk knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revoked<'a> {
    /// When it was revoked, Unix ms.
    pub at: i64,
    /// Why (`superseded`, `key_compromise`, …).
    pub reason: &'a str,
    /// For a key compromise: since when, Unix ms (none: since ever).
    pub compromised_since: Option<i64>,
}

/// `check` applied to every item, spread over the machine's cores (at most 4 threads) when there
/// are enough items to be worth it: a signature check costs tens of microseconds, and a pull
/// checks every listing of every page.
pub fn check_all<T: Sync, V: Send>(items: &[T], check: impl Fn(&T) -> V + Sync) -> Vec<V> {
    const MIN_PER_THREAD: usize = 64;
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(4)
        .min(items.len() / MIN_PER_THREAD)
        .max(1);
    if threads == 1 {
        return items.iter().map(&check).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let check = &check;
        let parts: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(check).collect::<Vec<_>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|part| part.join().expect("a signature check thread panicked"))
            .collect()
    })
}

/// A known certificate, parsed once per run: what every listing it signed is checked against.
#[derive(Debug, Clone)]
struct Prepared {
    cert: KnownCertificate,
    /// The chain as DER (leaf first), or why it cannot be read.
    chain: Result<Vec<Vec<u8>>, String>,
    /// The leaf's public key (SubjectPublicKeyInfo, DER).
    spki: Vec<u8>,
    /// The leaf's validity, Unix ms.
    not_before: i64,
    not_after: i64,
    /// The chain verified to the pinned root at both ends of the leaf's validity. Validity
    /// periods are intervals, so it then verifies at any moment in between, which is where a
    /// listing's signing time is clamped to: no listing needs its own path validation.
    chain_ok_throughout: bool,
}

/// What a certificate must be good for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Usage {
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
enum Lookup {
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
    root_der: Vec<u8>,
    lookups: HashMap<String, Lookup>,
}

fn lower_serial(serial: &str) -> String {
    serial.trim().to_ascii_lowercase()
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
            let cached: Option<KnownCertificate> = certificates::table
                .find(&serial)
                .select(KnownCertificate::as_select())
                .first(conn)
                .optional()?;
            if let Some(c) = cached
                && (c.status == "revoked" || now_ms() - c.fetched_at < STATUS_MAX_AGE_MS)
            {
                let prepared = Prepared::new(c, &self.root_der);
                self.lookups
                    .insert(serial, Lookup::Known(Box::new(prepared)));
                continue;
            }
            let lookup = match client.get_json::<api_types::api::CertificateRecord>(&format!(
                "/api/v1/certificates/{serial}"
            )) {
                Ok(record) => match known(&serial, record) {
                    Ok(c) => {
                        diesel::insert_into(certificates::table)
                            .values(&c)
                            .on_conflict(certificates::serial)
                            .do_update()
                            .set((
                                certificates::status.eq(&c.status),
                                certificates::revoked_at.eq(c.revoked_at),
                                certificates::revocation_reason.eq(&c.revocation_reason),
                                certificates::fetched_at.eq(c.fetched_at),
                                certificates::compromised_since.eq(c.compromised_since),
                            ))
                            .execute(conn)?;
                        // The first copy fetched stays: a platform cannot swap it later.
                        let kept = certificates::table
                            .find(&serial)
                            .select(KnownCertificate::as_select())
                            .first(conn)?;
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
    /// status is older than [`STATUS_MAX_AGE_MS`], so a revocation reaches this desk within that
    /// time even when no new listing names the certificate.
    pub fn refresh_stale(
        &mut self,
        conn: &mut SqliteConnection,
        client: &mut PlatformClient,
    ) -> Result<(), ClientError> {
        let stale: Vec<String> = certificates::table
            .filter(certificates::status.ne("revoked"))
            .filter(certificates::fetched_at.lt(now_ms() - STATUS_MAX_AGE_MS))
            .select(certificates::serial)
            .load(conn)?;
        self.fetch(conn, client, stale.iter().map(String::as_str))
    }

    /// Checks a listing object of agency `office_key`, as received, signed with `signature` by
    /// certificate `serial` (which [`Verifier::fetch`] must have looked up); this desk first held
    /// that signature at `first_seen` (Unix ms; see [`first_seen`]).
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

    /// Checks an operator's take-down of listing `listing_key` (version `version`) of agency
    /// `office_key`: the statement must name exactly that listing and version, and its signature
    /// must verify with a certificate ([`Verifier::fetch`] must have looked it up) that chains to
    /// the pinned root for document signing (RFC 9336), names the platform
    /// (`urn:listing-exchange:platform`), and was good when the statement was made. `Err` says
    /// why not, in plain words.
    pub fn check_takedown(
        &self,
        office_key: &str,
        listing_key: &str,
        version: i64,
        takedown: &SignedTakedown,
    ) -> Result<(), String> {
        let statement = takedown.statement.get();
        if statement.list_office_key != office_key
            || statement.listing_key != listing_key
            || statement.version != version
        {
            return Err(format!(
                "the take-down statement is about listing {}/{} version {}, not {office_key}/{listing_key} version {version}",
                statement.list_office_key, statement.listing_key, statement.version
            ));
        }
        let serial = &takedown.certificate_serial;
        let prepared = match self.lookups.get(&lower_serial(serial)) {
            Some(Lookup::Known(prepared)) => prepared,
            Some(Lookup::Bad(problem) | Lookup::Unknown(problem)) => return Err(problem.clone()),
            None => return Err(format!("certificate {serial} was not fetched")),
        };
        let cert = &prepared.cert;
        if cert.agency_id != PLATFORM_PARTY {
            return Err(format!(
                "the take-down statement is signed with certificate {serial}, which is not the platform's document-signing certificate"
            ));
        }
        let chain = prepared.chain.as_ref().map_err(Clone::clone)?;
        let signed_at = to_ms(statement.taken_down_at);
        if !prepared.chain_ok_throughout {
            let at = signed_at.clamp(prepared.not_before, prepared.not_after);
            verify_chain(&self.root_der, chain, serial, at, Usage::PlatformSigner)
                .map_err(|v| v.problem.unwrap_or_default())?;
        }
        let Ok(bytes) =
            base64::engine::general_purpose::STANDARD.decode(takedown.signature.value.trim())
        else {
            return Err("the take-down statement's signature is not valid base64".into());
        };
        if ca::sign::verify(
            &prepared.spki,
            ca_algorithm(takedown.signature.algorithm),
            takedown.statement.canonical_bytes(),
            &bytes,
        )
        .is_err()
        {
            return Err("the platform's signature does not match the take-down statement".into());
        }
        signing_time_ok(signed_at, prepared.not_after, cert.revocation(), now_ms())
            .map_err(|why| format!("the take-down statement cannot be trusted: {why}"))
    }
}

/// When this desk first held `signature` for listing `office_key`/`listing_key`: the stored time
/// when it holds that very signature already, else now.
pub fn first_seen(
    conn: &mut SqliteConnection,
    office_key: &str,
    listing_key: &str,
    signature: Option<&SignatureEnvelope>,
) -> Result<i64, ClientError> {
    use crate::db::schema::shared_listings;
    let now = now_ms();
    let Some(signature) = signature else {
        return Ok(now);
    };
    let stored: Option<(Option<String>, Option<i64>)> = shared_listings::table
        .filter(shared_listings::office_key.eq(office_key))
        .filter(shared_listings::listing_key.eq(listing_key))
        .select((
            shared_listings::signature,
            shared_listings::signature_first_seen_at,
        ))
        .first(conn)
        .optional()?;
    Ok(match stored {
        Some((Some(text), Some(at)))
            if serde_json::from_str::<SignatureEnvelope>(&text)
                .is_ok_and(|held| held.value == signature.value) =>
        {
            at.min(now)
        }
        _ => now,
    })
}

/// Applies a certificate event from the platform to the local certificate cache: a certificate
/// this desk knows becomes revoked with the event's reason and compromise date, and counts as
/// just asked about (so listings verified before are judged again). Returns whether a known
/// certificate changed; events about certificates this desk never fetched are not stored (the
/// platform's record says the same when one is fetched).
pub fn apply_certificate_event(
    conn: &mut SqliteConnection,
    event: &api_types::api::CertificateEvent,
) -> Result<bool, ClientError> {
    let serial = lower_serial(&event.serial);
    let Some(known) = certificates::table
        .find(&serial)
        .select(KnownCertificate::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(false);
    };
    // The event must be about this very certificate, not one with the same serial.
    if let Ok(chain) = ca::inspect::parse_chain_pem(&known.chain_pem)
        && let Some(leaf) = chain.first()
        && ca::inspect::Fingerprint::of(leaf).to_hex() != event.fingerprint.to_ascii_lowercase()
    {
        return Ok(false);
    }
    diesel::update(certificates::table.find(&serial))
        .set((
            certificates::status.eq("revoked"),
            certificates::revoked_at.eq(to_ms(event.revoked_at)),
            certificates::revocation_reason.eq(&event.reason),
            certificates::compromised_since.eq(event.compromised_since.map(to_ms)),
            certificates::fetched_at.eq(now_ms()),
        ))
        .execute(conn)?;
    Ok(true)
}

fn ca_algorithm(algorithm: api_types::SignatureAlgorithm) -> ca::sign::SignatureAlgorithm {
    match algorithm {
        api_types::SignatureAlgorithm::EcdsaP256Sha256 => {
            ca::sign::SignatureAlgorithm::EcdsaP256Sha256
        }
        api_types::SignatureAlgorithm::Ed25519 => ca::sign::SignatureAlgorithm::Ed25519,
    }
}

/// The platform's record as a cache row, once its chain parses and its leaf is the serial asked
/// for; the agency id is read from the certificate itself, not from the platform's record.
fn known(
    serial: &str,
    record: api_types::api::CertificateRecord,
) -> Result<KnownCertificate, String> {
    let chain = ca::inspect::parse_chain_pem(&record.certificate)
        .map_err(|e| format!("certificate {serial} as served cannot be read: {e}"))?;
    let leaf = ca::inspect::parse_certificate_der(&chain[0])
        .map_err(|e| format!("certificate {serial} as served cannot be read: {e}"))?;
    if leaf.serial != serial {
        return Err(format!(
            "the platform served certificate {} when asked for {serial}",
            leaf.serial
        ));
    }
    let agency_id = match leaf.agency_id() {
        Some(id) => id,
        None if leaf.san_uris.iter().any(|u| u == ca::PLATFORM_SIGNER_URI) => {
            PLATFORM_PARTY.to_owned()
        }
        None => return Err(format!("certificate {serial} names no agency")),
    };
    Ok(KnownCertificate {
        serial: serial.to_owned(),
        agency_id,
        chain_pem: record.certificate,
        status: if record.status == "revoked" {
            "revoked".into()
        } else {
            "valid".into()
        },
        revoked_at: record.revoked_at.map(to_ms),
        revocation_reason: record.revocation_reason,
        fetched_at: now_ms(),
        compromised_since: record.compromised_since.map(to_ms),
    })
}

fn to_ms(t: time::OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Whether a listing dated `signed_at` (ms), whose signature this desk first held at
/// `first_seen` (ms), may have been signed while the certificate was good. `Err` says why not.
/// See the module documentation for the rules.
pub fn signing_time_ok(
    signed_at: i64,
    not_after: i64,
    revoked: Option<Revoked<'_>>,
    first_seen: i64,
) -> Result<(), String> {
    if signed_at > not_after + CLOCK_SKEW_MS {
        return Err("it is dated after its signing certificate expired".into());
    }
    match revoked {
        Some(Revoked {
            reason: "key_compromise",
            compromised_since,
            ..
        }) => match compromised_since {
            // Held here before the key left its owner's hands: made by the owner, whatever
            // dates a thief could write.
            Some(since) if first_seen < since => Ok(()),
            Some(since) => Err(format!(
                "its signing key was reported compromised since {}, and this desk first received this signature after that; it cannot be trusted",
                ms_rfc3339(since)
            )),
            None => Err(
                "its signing certificate was revoked because the key was compromised; nothing signed with that key can be trusted".into(),
            ),
        },
        Some(Revoked { at, reason, .. }) if signed_at >= at => Err(format!(
            "it is dated after its signing certificate was revoked ({reason})"
        )),
        _ => Ok(()),
    }
}

fn ms_rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(rfc3339)
        .unwrap_or_default()
}

/// Verifies `chain` (leaf first) to the pinned root for `usage` at `at` (Unix ms).
fn verify_chain(
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

/// Checks one listing against a known certificate (see the module documentation).
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
    let algorithm = ca_algorithm(signature.algorithm);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_all_keeps_the_order_across_threads() {
        for n in [0, 1, 63, 64, 129, 1000, 1001] {
            let items: Vec<usize> = (0..n).collect();
            let verdicts = check_all(&items, |i| Verdict::invalid(i.to_string()));
            let got: Vec<String> = verdicts.into_iter().filter_map(|v| v.problem).collect();
            let want: Vec<String> = items.iter().map(usize::to_string).collect();
            assert_eq!(got, want, "{n} items");
        }
    }

    #[test]
    fn signing_time_rules() {
        let day = 86_400_000;
        let now = 100 * day;
        let revoked = |at, reason, since| {
            Some(Revoked {
                at,
                reason,
                compromised_since: since,
            })
        };
        // Within validity, never revoked; also dated before the certificate started.
        assert!(signing_time_ok(10 * day, 90 * day, None, now).is_ok());
        assert!(signing_time_ok(-5 * day, 90 * day, None, now).is_ok());
        // Dated after expiry.
        assert!(signing_time_ok(91 * day, 90 * day, None, now).is_err());
        // Superseded by a renewal on day 60: older listings stay valid, newer ones do not.
        let superseded = revoked(60 * day, "superseded", None);
        assert!(signing_time_ok(59 * day, 90 * day, superseded, now).is_ok());
        assert!(signing_time_ok(61 * day, 90 * day, superseded, now).is_err());
        // A compromised key taints everything it signed.
        let e = signing_time_ok(
            day,
            90 * day,
            revoked(60 * day, "key_compromise", None),
            now,
        )
        .unwrap_err();
        assert!(e.contains("compromised"), "{e}");
        // Compromised since day 50: what this desk held before then stands, whatever its date;
        // what it first saw later falls, even when dated before.
        let since = revoked(60 * day, "key_compromise", Some(50 * day));
        assert!(signing_time_ok(20 * day, 90 * day, since, 40 * day).is_ok());
        let e = signing_time_ok(20 * day, 90 * day, since, 55 * day).unwrap_err();
        assert!(e.contains("first received this signature after"), "{e}");
        assert!(signing_time_ok(20 * day, 90 * day, since, 50 * day).is_err());
    }

    #[test]
    fn labels_say_what_to_trust() {
        assert_eq!(Verdict::label(VERIFIED, None), "signature verified");
        assert!(Verdict::label(INVALID, Some("x")).starts_with("INVALID SIGNATURE"));
        assert!(Verdict::label(UNCHECKED, None).contains("not checked"));
    }
}
