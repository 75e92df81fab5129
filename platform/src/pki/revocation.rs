//! Revoking a certificate's family, in one transaction with its certificate events, its audit
//! entries and the listings it holds.
//!
//! * A revocation reaches every certificate renewed from the revoked one, transitively: whoever
//!   held its key could have renewed, so the renewals are no better than their parent.
//! * `key_compromise` also reaches every certificate carrying the same public key (the parent
//!   chain back to the last certificate with another key, and any other) and their renewals.
//!   Every certificate of the family is then revoked for `key_compromise` with the same
//!   compromise date, and every listing whose signing certificate is in the family and which the
//!   platform received at or after that date (all of them without a date) is held out of search
//!   and alerts until the agency signs it again.
//! * RFC 5280 lets a revocation's reason be raised to `key_compromise` (e.g. a certificate first
//!   revoked as `superseded` whose key later turns out stolen); that raise cascades the same way,
//!   and a later, earlier compromise date widens it. Any other change of a revoked certificate is
//!   refused.
//!
//! A renewal's first use retires its predecessor alone (reason `superseded`, see
//! [`crate::api::auth`]): that is the family moving on, not a revocation of the family.

use std::collections::{HashSet, VecDeque};

use serde::Serialize;

use super::certs::{CertificateEventKind, CertificateRow, CertificateStore};
use crate::audit::{Actor, AuditLog};
use crate::listings::ListingHolds;

/// What an operator asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revocation {
    /// Why.
    pub reason: ca::RevocationReason,
    /// For `key_compromise` only: since when the key is in other hands (ms). None: since ever.
    pub compromised_since: Option<i64>,
}

/// Why a revocation was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RevokeError {
    /// No certificate has that serial.
    #[error("no certificate with serial {0}; see `platform cert list`")]
    NotFound(String),
    /// The certificate is revoked already and the request would not raise or widen it.
    #[error("{0}")]
    AlreadyRevoked(String),
    /// The request itself is inconsistent (e.g. a compromise date with another reason).
    #[error("{0}")]
    Invalid(String),
    /// A database error.
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

/// How a certificate came to be in the family of the one named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cascade {
    /// The certificate named.
    Named,
    /// Renewed (directly or not) from a certificate of the family.
    Renewal,
    /// Carries the same public key as the certificate named.
    SameKey,
}

/// One certificate a revocation changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FamilyMember {
    /// The certificate after the change.
    #[serde(flatten)]
    pub certificate: CertificateRow,
    /// `revoked` or `reason_changed`.
    pub event: &'static str,
    /// How it was reached.
    pub cascade: Cascade,
    /// The certificate whose revocation reached it (for renewals: its parent; for the same key:
    /// the certificate named); None for the certificate named.
    pub cascaded_from: Option<String>,
}

/// What a revocation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevocationOutcome {
    /// Every certificate changed, the one named first.
    pub certificates: Vec<FamilyMember>,
    /// Listings newly held out of search and alerts.
    pub held_listings: usize,
}

/// Revokes `serial` and its family for `revocation` (see the module documentation), audited as
/// `actor`. Call inside a write transaction: certificates, events, audit entries and holds commit
/// together.
pub fn revoke_family<C>(
    c: &mut C,
    actor: &Actor,
    serial: &str,
    revocation: Revocation,
    now_ms: i64,
) -> Result<RevocationOutcome, RevokeError>
where
    C: CertificateStore + AuditLog + ListingHolds,
{
    let compromise = revocation.reason == ca::RevocationReason::KeyCompromise;
    if revocation.compromised_since.is_some() && !compromise {
        return Err(RevokeError::Invalid(
            "a compromise date goes only with the reason key_compromise".into(),
        ));
    }
    let named = c
        .find_certificate(serial)?
        .ok_or_else(|| RevokeError::NotFound(serial.to_owned()))?;
    if named.is_revoked() && !changes(&named, revocation) {
        let had = named.revocation_reason.as_deref().unwrap_or("unspecified");
        return Err(RevokeError::AlreadyRevoked(if compromise {
            format!(
                "certificate {serial} was already revoked for key_compromise{}; nothing to change",
                named
                    .compromised_since
                    .map(|t| format!(" (compromised since {})", rfc3339(t)))
                    .unwrap_or_default()
            )
        } else {
            format!(
                "certificate {serial} was already revoked ({had}); only a raise to key_compromise is possible (--reason key_compromise)"
            )
        }));
    }

    // The family: the certificate named, for a key compromise every certificate of its key, and
    // everything renewed from those, transitively. Each member's renewals are read after the
    // member is revoked (its row locked): a renewal from it either committed before and is
    // seen, or waits for this transaction and then finds its parent revoked.
    let mut queue: VecDeque<(CertificateRow, Cascade, Option<String>)> =
        VecDeque::from([(named.clone(), Cascade::Named, None)]);
    let mut seen: HashSet<String> = HashSet::from([named.serial.clone()]);
    if compromise && let Some(key) = &named.key_sha256 {
        for row in c.certificates_with_key(key)? {
            if seen.insert(row.serial.clone()) {
                queue.push_back((row, Cascade::SameKey, Some(named.serial.clone())));
            }
        }
    }
    let mut outcome = RevocationOutcome {
        certificates: Vec::new(),
        held_listings: 0,
    };
    while let Some((row, cascade, cascaded_from)) = queue.pop_front() {
        let before_reason = row.revocation_reason.clone();
        let changed = match c.revoke_if_valid(
            &row.serial,
            revocation.reason,
            revocation.compromised_since,
            now_ms,
        )? {
            Some(after) => Some((after, CertificateEventKind::Revoked)),
            // Revoked already (perhaps a moment ago by another transaction): only a raise.
            None => match c.find_certificate(&row.serial)? {
                Some(current) if changes(&current, revocation) => c
                    .change_revocation(
                        &row.serial,
                        revocation.reason,
                        revocation.compromised_since,
                        now_ms,
                    )?
                    .map(|after| (after, CertificateEventKind::ReasonChanged)),
                _ => None,
            },
        };
        for child in c.renewals_of(std::slice::from_ref(&row.serial))? {
            if seen.insert(child.serial.clone()) {
                queue.push_back((child, Cascade::Renewal, Some(row.serial.clone())));
            }
        }
        let Some((after, kind)) = changed else {
            continue;
        };
        let action = match kind {
            CertificateEventKind::Revoked => "cert.revoke",
            CertificateEventKind::ReasonChanged => "cert.revocation_raise",
        };
        c.audit(
            actor,
            action,
            Some(&after.serial),
            serde_json::json!({
                "reason": revocation.reason.to_string(),
                "previous_reason": before_reason,
                "compromised_since": revocation.compromised_since.map(rfc3339),
                "agency_id": after.agency_id,
                "cascade": cascade,
                "cascaded_from": cascaded_from,
            }),
        )?;
        outcome.certificates.push(FamilyMember {
            certificate: after,
            event: kind.code(),
            cascade,
            cascaded_from,
        });
    }

    if compromise {
        let serials: Vec<String> = seen.into_iter().collect();
        let held = c.hold_signed_by(&serials, revocation.compromised_since, now_ms)?;
        if held > 0 {
            c.audit(
                actor,
                "listing.hold",
                Some(serial),
                serde_json::json!({
                    "listings": held,
                    "why": "signed by a certificate revoked for key_compromise",
                    "compromised_since": revocation.compromised_since.map(rfc3339),
                }),
            )?;
        }
        outcome.held_listings = held;
    }
    Ok(outcome)
}

/// Whether applying `revocation` to the revoked or valid `row` changes it: a valid certificate is
/// always revoked; a revoked one only by a raise to `key_compromise`, or by an earlier
/// compromise date (or none: since ever) for one revoked for `key_compromise` already.
fn changes(row: &CertificateRow, revocation: Revocation) -> bool {
    let Some(had) = row.reason() else {
        return true;
    };
    if revocation.reason != ca::RevocationReason::KeyCompromise {
        return false;
    }
    if had != ca::RevocationReason::KeyCompromise {
        return true;
    }
    match (row.compromised_since, revocation.compromised_since) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(old), Some(new)) => new < old,
    }
}

fn rfc3339(ms: i64) -> String {
    crate::listings::ms_to_time(ms)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use diesel::prelude::*;

    use super::*;
    use crate::db::schema::{certificate_events, certificates, listings};
    use crate::testing::fixtures;

    crate::db_test!(
        a_key_compromise_reaches_the_same_key_and_renewals_and_holds_by_date,
        |db| {
            let mut conn = db.get().unwrap();
            let (agency, p) = fixtures::active_agency_with_certificate(&mut conn, "Family");
            let now = crate::db::now_ms();
            let t0 = now - 3_600_000;
            // Q renewed P; R carries Q's key (registered before keys were checked); S renewed
            // R; T is another desk of the agency with a key of its own. Real fixture
            // certificates (their listings are really signed), linked as such in the register.
            let q = fixtures::another_certificate(&mut conn, &agency);
            let r = fixtures::another_certificate(&mut conn, &agency);
            let s = fixtures::another_certificate(&mut conn, &agency);
            let t = fixtures::another_certificate(&mut conn, &agency);
            crate::with_conn!(&mut conn, |c| {
                for (serial, key, parent, lineage) in [
                    (p.as_str(), "k1", None, p.as_str()),
                    (q.as_str(), "k2", Some(p.as_str()), p.as_str()),
                    (r.as_str(), "k2", None, r.as_str()),
                    (s.as_str(), "k3", Some(r.as_str()), r.as_str()),
                    (t.as_str(), "k4", None, t.as_str()),
                ] {
                    diesel::update(certificates::table.find(serial))
                        .set((
                            certificates::renewed_from.eq(parent),
                            certificates::lineage.eq(lineage),
                            certificates::key_sha256.eq(key),
                        ))
                        .execute(c)
                        .unwrap();
                }
            });
            // Listings signed by Q before the compromise date, by S after it, by T and by P.
            for (key, serial, received) in [
                ("L-Q", q.as_str(), t0 - 1),
                ("L-S", s.as_str(), t0),
                ("L-T", t.as_str(), now),
                ("L-P", p.as_str(), now),
            ] {
                let published = fixtures::publish(
                    &mut conn,
                    agency.id,
                    serial,
                    &api_types::ListingDocument::example(key),
                )
                .unwrap();
                crate::with_conn!(&mut conn, |c| diesel::update(
                    listings::table.find(published.current.id)
                )
                .set(listings::updated_at.eq(received))
                .execute(c))
                .unwrap();
            }
            let held = |conn: &mut crate::db::DbConn| -> Vec<String> {
                crate::with_conn!(conn, |c| listings::table
                    .filter(listings::held_at.is_not_null())
                    .order(listings::listing_key.asc())
                    .select(listings::listing_key)
                    .load(c))
                .unwrap()
            };
            let actor = Actor::Operator("test".into());
            let compromise = |since| Revocation {
                reason: ca::RevocationReason::KeyCompromise,
                compromised_since: since,
            };

            let outcome = crate::write_tx!(&mut conn, |c| revoke_family(
                c,
                &actor,
                &q,
                compromise(Some(t0)),
                now
            ))
            .unwrap();
            let changed: Vec<(&str, &str, Cascade, Option<&str>)> = outcome
                .certificates
                .iter()
                .map(|m| {
                    (
                        m.certificate.serial.as_str(),
                        m.event,
                        m.cascade,
                        m.cascaded_from.as_deref(),
                    )
                })
                .collect();
            assert_eq!(
                changed,
                [
                    (q.as_str(), "revoked", Cascade::Named, None),
                    (r.as_str(), "revoked", Cascade::SameKey, Some(q.as_str())),
                    (s.as_str(), "revoked", Cascade::Renewal, Some(r.as_str())),
                ]
            );
            assert!(outcome.certificates.iter().all(|m| {
                m.certificate.revocation_reason.as_deref() == Some("key_compromise")
                    && m.certificate.compromised_since == Some(t0)
            }));
            assert_eq!(outcome.held_listings, 1);
            assert_eq!(
                held(&mut conn),
                ["L-S"],
                "received at or after the date only"
            );
            crate::with_conn!(&mut conn, |c| {
                // The parent with another key and the other desk stay valid.
                assert!(!c.find_certificate(&p).unwrap().unwrap().is_revoked());
                assert!(!c.find_certificate(&t).unwrap().unwrap().is_revoked());
                assert_eq!(c.latest_certificate_event().unwrap(), 3);
                assert_eq!(c.audit_entries(Some("cert.revoke"), 10).unwrap().len(), 3);
                assert_eq!(c.audit_entries(Some("listing.hold"), 10).unwrap().len(), 1);
            });

            // The same again: refused, nothing written.
            let again = crate::write_tx!(&mut conn, |c| revoke_family(
                c,
                &actor,
                &q,
                compromise(Some(t0)),
                now
            ));
            assert!(
                matches!(again, Err(RevokeError::AlreadyRevoked(_))),
                "{again:?}"
            );
            // An earlier date widens it: every member's date moves, more listings are held.
            let wider = crate::write_tx!(&mut conn, |c| revoke_family(
                c,
                &actor,
                &q,
                compromise(Some(t0 - 86_400_000)),
                now
            ))
            .unwrap();
            assert_eq!(wider.certificates.len(), 3);
            assert!(
                wider
                    .certificates
                    .iter()
                    .all(|m| m.event == "reason_changed")
            );
            assert_eq!(held(&mut conn), ["L-Q", "L-S"]);
            let kinds: Vec<String> = crate::with_conn!(&mut conn, |c| certificate_events::table
                .order(certificate_events::seq.asc())
                .select(certificate_events::kind)
                .load(c))
            .unwrap();
            assert_eq!(kinds.len(), 6);
            assert!(kinds[3..].iter().all(|k| k == "reason_changed"));

            // Another reason on P reaches nothing already revoked; a date needs key_compromise.
            let bad = crate::write_tx!(&mut conn, |c| revoke_family(
                c,
                &actor,
                &p,
                Revocation {
                    reason: ca::RevocationReason::PrivilegeWithdrawn,
                    compromised_since: Some(t0),
                },
                now
            ));
            assert!(matches!(bad, Err(RevokeError::Invalid(_))), "{bad:?}");
            let withdrawn = crate::write_tx!(&mut conn, |c| revoke_family(
                c,
                &actor,
                &p,
                Revocation {
                    reason: ca::RevocationReason::PrivilegeWithdrawn,
                    compromised_since: None,
                },
                now
            ))
            .unwrap();
            assert_eq!(withdrawn.certificates.len(), 1);
            assert_eq!(withdrawn.certificates[0].certificate.serial, p);
            assert_eq!(withdrawn.held_listings, 0);
            assert_eq!(held(&mut conn), ["L-Q", "L-S"]);
            let missing = crate::write_tx!(&mut conn, |c| revoke_family(
                c,
                &actor,
                "ffff",
                compromise(None),
                now
            ));
            assert!(matches!(missing, Err(RevokeError::NotFound(_))));
        }
    );
}
