//! The local cache of certificates that signed listings (`certificates` table): the first copy
//! of each certificate fetched stays (a platform cannot swap it later); its status is refreshed
//! from the platform and from its certificate events.

use diesel::prelude::*;

use super::{PLATFORM_PARTY, Revoked, STATUS_MAX_AGE_MS, lower_serial, to_ms};
use crate::db::now_ms;
use crate::db::schema::certificates;
use crate::error::ClientError;

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

/// The cached copy of certificate `serial` (lowercase), if any.
pub(super) fn cached(
    conn: &mut SqliteConnection,
    serial: &str,
) -> Result<Option<KnownCertificate>, ClientError> {
    Ok(certificates::table
        .find(serial)
        .select(KnownCertificate::as_select())
        .first(conn)
        .optional()?)
}

/// True when the cached status of `c` may be used without asking the platform: a revoked
/// certificate always, another one for [`STATUS_MAX_AGE_MS`].
pub(super) fn is_fresh(c: &KnownCertificate) -> bool {
    c.status == "revoked" || now_ms() - c.fetched_at < STATUS_MAX_AGE_MS
}

/// Stores the platform's answer about `c`: a new certificate as it is, a known one with its new
/// status only. Returns the copy kept.
pub(super) fn store(
    conn: &mut SqliteConnection,
    c: &KnownCertificate,
) -> Result<KnownCertificate, ClientError> {
    diesel::insert_into(certificates::table)
        .values(c)
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
    Ok(certificates::table
        .find(&c.serial)
        .select(KnownCertificate::as_select())
        .first(conn)?)
}

/// Serials of the cached certificates not known to be revoked whose status is older than
/// [`STATUS_MAX_AGE_MS`].
pub(super) fn stale_serials(conn: &mut SqliteConnection) -> Result<Vec<String>, ClientError> {
    Ok(certificates::table
        .filter(certificates::status.ne("revoked"))
        .filter(certificates::fetched_at.lt(now_ms() - STATUS_MAX_AGE_MS))
        .select(certificates::serial)
        .load(conn)?)
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

/// The platform's record as a cache row, once its chain parses and its leaf is the serial asked
/// for; the agency id is read from the certificate itself, not from the platform's record.
pub(super) fn known(
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
