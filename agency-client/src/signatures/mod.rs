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
//!
//! # Where it lives
//!
//! * here: verdicts, the signing-time rules ([`signing_time_ok`]) and when this desk first held
//!   a signature ([`first_seen`]);
//! * `verifier.rs`: the [`Verifier`], which checks a listing's chain, agency and signature;
//! * `cache.rs`: the local cache of certificates ([`KnownCertificate`]) and the certificate
//!   events applied to it;
//! * `takedown.rs`: checking an operator's take-down statement.
//!
//! [`ListingObject::canonical_bytes`]: api_types::ListingObject::canonical_bytes
//! [`ListingObject::legacy_bytes_for_verification_only`]: api_types::ListingObject::legacy_bytes_for_verification_only

mod cache;
mod takedown;
mod verifier;

pub use cache::{KnownCertificate, apply_certificate_event};
pub use verifier::Verifier;

use api_types::SignatureEnvelope;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::now_ms;
use crate::error::ClientError;

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

fn lower_serial(serial: &str) -> String {
    serial.trim().to_ascii_lowercase()
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
