//! The CA's CRLs, kept in the database (`ca_crls`) so that every node serves the same one.
//!
//! * An issuing CA's CRL lists the register's revoked, unexpired certificates it issued. It is
//!   valid a day and rebuilt when what it should list changed since it was built (a revocation:
//!   noticed by a digest of the entries) or when it is past half its life, on the CA's upkeep
//!   timer and on demand when downloaded. So no node hands out a CRL that misses a revocation.
//! * The root's CRL lists revoked issuing CAs. It is valid a year, so it stays valid while the
//!   root key is offline, and is signed again whenever the root key is brought in.
//!
//! CRL numbers come from the `crl_number` counter, taken before the entries are read inside the
//! rebuilding transaction: numbers are handed out in commit order, strictly increasing across
//! nodes, and a higher number never lists less than a lower one. A transaction that finds the
//! stored CRL already fresh rolls back, leaving no gap.

use diesel::QueryResult;
use time::{Duration, OffsetDateTime};

use super::PkiError;
use super::custody::{CaCertificateRow, CaStore, CrlRow, ROLE_ISSUING, STATUS_REVOKED};
use super::{CertificateRow, CertificateStore};
use crate::audit::{Actor, AuditLog};
use crate::db::DbConn;
use crate::listings::{ms_to_time, time_to_ms};

/// Validity of an issuing CA's CRL.
pub const ISSUING_CRL_VALIDITY: Duration = Duration::days(1);
/// Validity of the root's CRL (long: the root key is usually offline).
pub const ROOT_CRL_VALIDITY: Duration = Duration::days(365);
/// The counter CRL numbers are taken from.
const CRL_COUNTER: &str = "crl_number";

/// What a CRL lists, with a digest that changes whenever the list does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedSet {
    /// The entries, in the order they are listed.
    pub entries: Vec<ca::RevokedEntry>,
    /// SHA-256 (hex) over the entries.
    pub digest: String,
}

impl RevokedSet {
    fn new(entries: Vec<ca::RevokedEntry>) -> RevokedSet {
        let mut text = String::new();
        for e in &entries {
            text.push_str(&format!(
                "{}|{}|{}|{}\n",
                e.serial,
                e.revoked_at.unix_timestamp(),
                e.reason,
                e.invalidity_date
                    .map_or_else(String::new, |t| t.unix_timestamp().to_string())
            ));
        }
        let digest = hex::encode(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()));
        RevokedSet { entries, digest }
    }
}

/// One revoked register row as a CRL entry: the one place where the register's revocation
/// data becomes what a CRL says.
pub fn revoked_entry(row: &CertificateRow) -> ca::RevokedEntry {
    ca::RevokedEntry {
        serial: row.serial.clone(),
        revoked_at: ms_to_time(row.revoked_at.unwrap_or(row.created_at)),
        reason: row
            .revocation_reason
            .as_deref()
            .and_then(|s| s.parse().ok())
            .unwrap_or(ca::RevocationReason::Unspecified),
        invalidity_date: row.compromised_since.map(ms_to_time),
    }
}

/// The register's revoked, unexpired certificates issued by the issuing CA with key identifier
/// `key_id` (by their authority key identifier).
pub fn issuing_revoked<C: CertificateStore>(
    c: &mut C,
    key_id: &[u8],
    now_ms: i64,
) -> QueryResult<RevokedSet> {
    let rows = c.revoked_unexpired(now_ms)?;
    let entries = rows
        .iter()
        .filter(|row| {
            ca::inspect::parse_certificate_pem(&row.pem)
                .ok()
                .and_then(|info| info.authority_key_id)
                .is_some_and(|aki| aki == key_id)
        })
        .map(revoked_entry)
        .collect();
    Ok(RevokedSet::new(entries))
}

/// The issuing CAs the root revoked.
pub fn root_revoked(rows: &[CaCertificateRow]) -> RevokedSet {
    let entries = rows
        .iter()
        .filter(|r| r.role == ROLE_ISSUING && r.status == STATUS_REVOKED)
        .map(|r| ca::RevokedEntry {
            serial: r.serial.clone(),
            revoked_at: ms_to_time(r.revoked_at.unwrap_or(r.created_at)),
            reason: r
                .revocation_reason
                .as_deref()
                .and_then(|s| s.parse().ok())
                .unwrap_or(ca::RevocationReason::Unspecified),
            invalidity_date: None,
        })
        .collect();
    RevokedSet::new(entries)
}

/// True when `stored` lists exactly what has `digest` and is not yet past half its life.
pub fn is_fresh(stored: &CrlRow, digest: &str, now_ms: i64) -> bool {
    stored.revoked_digest == digest
        && now_ms < stored.this_update + (stored.next_update - stored.this_update) / 2
}

/// Why a rebuilding transaction ended without a new CRL.
enum Rebuild {
    /// Another node stored a fresh one meanwhile.
    Fresh(CrlRow),
    /// A database error.
    Db(diesel::result::Error),
    /// Signing failed.
    Failed(ca::CaError),
}

impl From<diesel::result::Error> for Rebuild {
    fn from(e: diesel::result::Error) -> Self {
        Rebuild::Db(e)
    }
}

fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap_or(t)
}

/// The current CRL of `issuing`, rebuilt first when stale (see the module documentation).
/// For a retired issuing CA whose key is not on this node, the stored CRL as it is.
pub fn issuing_crl(
    ca: &ca::CertificateAuthority,
    conn: &mut DbConn,
    issuing: &ca::IssuingCertificate,
) -> Result<CrlRow, PkiError> {
    let fingerprint = issuing.fingerprint().to_hex();
    let now = crate::db::now_ms();
    let (set, stored) = crate::with_conn!(conn, |c| {
        let set = issuing_revoked(c, &issuing.key_id, now)?;
        QueryResult::Ok((set, c.find_crl(&fingerprint)?))
    })?;
    if let Some(stored) = &stored
        && is_fresh(stored, &set.digest, now)
    {
        return Ok(stored.clone());
    }
    if !issuing.signs_crls {
        return stored.ok_or_else(|| {
            PkiError::Refused(format!(
                "the CRL of the retired issuing CA {} was never signed and its key is not on this node",
                issuing.fingerprint()
            ))
        });
    }
    let result = crate::write_tx!(conn, |c| -> Result<CrlRow, Rebuild> {
        let number = c.next_counter(CRL_COUNTER)?;
        let now = OffsetDateTime::now_utc();
        let set = issuing_revoked(c, &issuing.key_id, time_to_ms(now))?;
        if let Some(stored) = c.find_crl(&fingerprint)?
            && is_fresh(&stored, &set.digest, time_to_ms(now))
        {
            return Err(Rebuild::Fresh(stored));
        }
        let this_update = whole_seconds(now);
        let next_update = this_update + ISSUING_CRL_VALIDITY;
        let pem = ca
            .issuing_crl_pem(
                &issuing.key_id,
                &set.entries,
                number as u64,
                this_update,
                next_update,
            )
            .map_err(Rebuild::Failed)?;
        let row = CrlRow {
            issuer_fingerprint: fingerprint.clone(),
            crl_number: number,
            this_update: time_to_ms(this_update),
            next_update: time_to_ms(next_update),
            revoked_digest: set.digest.clone(),
            pem,
            updated_at: time_to_ms(now),
        };
        c.save_crl(&row)?;
        c.audit(
            &Actor::System,
            "crl.sign",
            Some(&fingerprint),
            serde_json::json!({"ca": "issuing", "crl_number": number, "entries": set.entries.len()}),
        )?;
        Ok(row)
    });
    match result {
        Ok(row) => Ok(row),
        Err(Rebuild::Fresh(row)) => Ok(row),
        Err(Rebuild::Db(e)) => Err(e.into()),
        Err(Rebuild::Failed(e)) => Err(e.into()),
    }
}

/// The root's stored CRL, if it was ever signed.
pub fn root_crl(ca: &ca::CertificateAuthority, conn: &mut DbConn) -> QueryResult<Option<CrlRow>> {
    let fingerprint = ca.root_fingerprint().to_hex();
    crate::with_conn!(conn, |c| c.find_crl(&fingerprint))
}

/// True when the root's CRL should be signed again: never signed, past half its life, or the
/// revoked issuing CAs changed.
pub fn root_crl_due(ca: &ca::CertificateAuthority, conn: &mut DbConn) -> Result<bool, PkiError> {
    let rows = crate::with_conn!(conn, |c| c.ca_certificates())?;
    let set = root_revoked(&rows);
    Ok(match root_crl(ca, conn)? {
        Some(stored) => !is_fresh(&stored, &set.digest, crate::db::now_ms()),
        None => true,
    })
}

/// Signs the root's CRL with the root key brought in, stores it and audits it (by `actor`).
pub fn sign_root_crl(
    ca: &ca::CertificateAuthority,
    root: &ca::custody::RootKey,
    conn: &mut DbConn,
    actor: &Actor,
) -> Result<CrlRow, PkiError> {
    let fingerprint = ca.root_fingerprint().to_hex();
    crate::write_tx!(conn, |c| -> Result<CrlRow, PkiError> {
        let number = c.next_counter(CRL_COUNTER)?;
        let set = root_revoked(&c.ca_certificates()?);
        let now = OffsetDateTime::now_utc();
        let this_update = whole_seconds(now);
        let next_update = (this_update + ROOT_CRL_VALIDITY).min(ca.root_not_after());
        let pem = ca.root_crl_pem(root, &set.entries, number as u64, this_update, next_update)?;
        let row = CrlRow {
            issuer_fingerprint: fingerprint.clone(),
            crl_number: number,
            this_update: time_to_ms(this_update),
            next_update: time_to_ms(next_update),
            revoked_digest: set.digest.clone(),
            pem,
            updated_at: time_to_ms(now),
        };
        c.save_crl(&row)?;
        c.audit(
            actor,
            "crl.sign",
            Some(&fingerprint),
            serde_json::json!({"ca": "root", "crl_number": number, "entries": set.entries.len(), "next_update": next_update.to_string()}),
        )?;
        Ok(row)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{NewCertificate, Pki};
    use ca::inspect::Fingerprint;

    fn crl_serials(pem: &str) -> (u64, Vec<String>) {
        let der = pem::parse(pem).unwrap().into_contents();
        let (_, crl) = x509_parser::parse_x509_crl(&der).unwrap();
        let number = crl
            .crl_number()
            .map(|n| n.to_string().parse().unwrap())
            .unwrap();
        let serials = crl
            .iter_revoked_certificates()
            .map(|r| ca::inspect::serial_hex(r.raw_serial()))
            .collect();
        (number, serials)
    }

    fn register(conn: &mut DbConn, ca: &ca::CertificateAuthority, agency_id: i64) -> String {
        let key = ca::keys::PrivateKey::generate_p256().unwrap();
        let issued = ca
            .issue_client(
                &key.csr_pem("desk").unwrap(),
                &ca::ClientProfile::new(agency_id.to_string(), "Acme", 90),
            )
            .unwrap();
        crate::with_conn!(conn, |c| c.insert_certificate(&NewCertificate {
            issued: &issued,
            agency_id: Some(agency_id),
            kind: crate::pki::certs::KIND_CLIENT,
            renewed_from: None,
        }))
        .unwrap();
        issued.serial
    }

    fn revoke(conn: &mut DbConn, serial: &str) {
        crate::with_conn!(conn, |c| c
            .revoke_certificate(serial, ca::RevocationReason::KeyCompromise))
        .unwrap()
        .unwrap();
    }

    crate::db_test!(crl_numbers_go_up_with_each_revocation_and_only_then, |db| {
        let tmp = tempfile::tempdir().unwrap();
        let config = crate::config::Config {
            data_dir: tmp.path().to_owned(),
            ..Default::default()
        };
        let mut conn = db.get().unwrap();
        let pki = Pki::open(&config, &mut conn).unwrap();
        let (agency, _) =
            crate::testing::fixtures::active_agency_with_certificate(&mut conn, "Acme");
        let a = register(&mut conn, pki.ca(), agency.id);
        let b = register(&mut conn, pki.ca(), agency.id);
        // A certificate of another CA in the register (it cannot be on this CA's CRL).
        let foreign_dir = tempfile::tempdir().unwrap();
        let foreign =
            ca::CertificateAuthority::load_or_create(foreign_dir.path(), "Other", None).unwrap();
        let c = register(&mut conn, &foreign, agency.id);
        revoke(&mut conn, &c);

        let (first, listed) = crl_serials(&pki.crl_pem(&mut conn).unwrap());
        assert!(listed.is_empty(), "{listed:?}");
        assert!(
            first > 1_700_000_000,
            "numbers continue above the Unix seconds used before: {first}"
        );
        // Nothing changed: the same CRL, the same number, no new signature.
        let again = pki.crl_pem(&mut conn).unwrap();
        assert_eq!(crl_serials(&again).0, first);
        let signed = |conn: &mut DbConn| {
            crate::with_conn!(conn, |c| c.audit_entries(Some("crl.sign"), 100))
                .unwrap()
                .len()
        };
        let signatures = signed(&mut conn);

        revoke(&mut conn, &a);
        let (second, listed) = crl_serials(&pki.crl_pem(&mut conn).unwrap());
        assert!(second > first, "{second} > {first}");
        assert_eq!(listed, vec![a.clone()]);
        assert_eq!(signed(&mut conn), signatures + 1);

        revoke(&mut conn, &b);
        let (third, mut listed) = crl_serials(&pki.crl_pem(&mut conn).unwrap());
        assert!(third > second);
        listed.sort();
        let mut want = vec![a.clone(), b.clone()];
        want.sort();
        assert_eq!(listed, want);

        // Past half its life, it is signed again with a higher number.
        crate::with_conn!(&mut conn, |c| {
            use crate::db::schema::ca_crls;
            use diesel::prelude::*;
            let now = crate::db::now_ms();
            diesel::update(ca_crls::table.find(Fingerprint::of(pki.ca().issuing_der()).to_hex()))
                .set((
                    ca_crls::this_update.eq(now - 13 * 3_600_000),
                    ca_crls::next_update.eq(now + 11 * 3_600_000),
                ))
                .execute(c)
                .unwrap();
        });
        let (fourth, listed) = crl_serials(&pki.crl_pem(&mut conn).unwrap());
        assert!(fourth > third);
        assert_eq!(listed.len(), 2);

        // The root's CRL was signed when the CA was created (its key is online) and is not due.
        let root = pki.root_crl(&mut conn).unwrap();
        assert!(!root_crl_due(pki.ca(), &mut conn).unwrap());
        let (number, listed) = crl_serials(&root.pem);
        assert!(number < first && listed.is_empty());
        assert!(root.next_update - root.this_update >= 364 * 86_400_000);
    });
}
