//! The desk's identity on the platform: enrolment, the stored certificate and encrypted key,
//! unlocking with the passphrase, and renewal before the certificate runs out.

use api_types::api::{
    CertificateResponse, EnrollCheck, EnrollCheckRequest, EnrollRequest, RenewRequest,
};
use ca::inspect::Fingerprint;
use ca::keys::PrivateKey;
use diesel::prelude::*;
use serde::Serialize;
use time::OffsetDateTime;

use crate::db::schema::{customers, endpoints, identity, outbox, own_listings};
use crate::db::{Store, now_ms};
use crate::error::ClientError;
use crate::net::{PlatformClient, parse_endpoint};

/// Common name put in CSRs (the platform takes the subject from its agency record anyway).
const CSR_COMMON_NAME: &str = "agency-client desk";

/// The stored identity row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = identity)]
pub struct Identity {
    /// Always 1.
    pub id: i32,
    /// The agency's id on the platform.
    pub agency_id: i64,
    /// Leaf then issuing CA, PEM.
    pub chain_pem: String,
    /// The key, passphrase-encrypted PKCS#8 PEM.
    pub key_pem: String,
    /// The platform root CA, PEM (checked against its fingerprint at enrolment).
    pub root_pem: String,
    /// The root's SHA-256 fingerprint.
    pub root_fingerprint: String,
    /// Serial of the current certificate.
    pub serial: String,
    /// Start of validity, Unix ms.
    pub not_before: i64,
    /// End of validity, Unix ms.
    pub not_after: i64,
    /// Last change-feed sequence applied locally.
    pub feed_cursor: i64,
    /// When the desk enrolled, Unix ms.
    pub enrolled_at: i64,
    /// When this desk learned that the platform revoked its certificate, Unix ms.
    pub revoked_at: Option<i64>,
    /// What the platform said when it refused the certificate as revoked.
    pub revocation_note: Option<String>,
    /// Last certificate-event sequence applied locally.
    pub certificate_cursor: i64,
}

/// Shortest passphrase accepted for a new key.
pub const MIN_PASSPHRASE_CHARS: usize = 12;

/// Checks that a new key passphrase resists guessing: at least [`MIN_PASSPHRASE_CHARS`]
/// characters and the best zxcvbn score (an estimated 10^10 guesses or more), with `context`
/// (agency name, addresses) counted as known to an attacker. The key file protects the agency's
/// signing key, and whoever copies the desk's data folder can guess offline.
pub fn check_passphrase(passphrase: &str, context: &[&str]) -> Result<(), ClientError> {
    let chars = passphrase.chars().count();
    if chars < MIN_PASSPHRASE_CHARS {
        return Err(ClientError::input(
            "passphrase",
            format!(
                "is too short ({chars} characters); use at least {MIN_PASSPHRASE_CHARS}, e.g. four \
                 or five unrelated words; nothing was stored"
            ),
        ));
    }
    let estimate = zxcvbn::zxcvbn(passphrase, context);
    if estimate.score() < zxcvbn::Score::Four {
        let mut advice = Vec::new();
        if let Some(feedback) = estimate.feedback() {
            if let Some(warning) = feedback.warning() {
                advice.push(warning.to_string());
            }
            advice.extend(feedback.suggestions().iter().map(ToString::to_string));
        }
        if advice.is_empty() {
            advice.push("Add another word or two; uncommon words are better.".into());
        }
        return Err(ClientError::input(
            "passphrase",
            format!(
                "is too easy to guess (about 10^{:.0} guesses). {} Nothing was stored",
                estimate.guesses_log10(),
                advice.join(" ")
            ),
        ));
    }
    Ok(())
}

/// What `cert` and `enroll` show about the certificate.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateStatus {
    /// The agency's id on the platform.
    pub agency_id: i64,
    /// Serial, lowercase hex.
    pub serial: String,
    /// Start of validity, RFC 3339.
    pub not_before: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// Whole days left.
    pub days_left: i64,
    /// True when a third or less of the certificate's life is left (renewed at the next contact).
    pub renewal_due: bool,
    /// The platform root's fingerprint.
    pub root_fingerprint: String,
    /// Endpoints, in the order they are tried.
    pub endpoints: Vec<String>,
    /// Whether this status follows a renewal made just now.
    pub renewed: bool,
    /// The agency's name, as the certificate's subject gives it.
    pub agency_name: String,
    /// Set when the platform refused this certificate as revoked.
    pub revoked: Option<Revocation>,
}

/// What the desk knows about the revocation of its own certificate.
#[derive(Debug, Clone, Serialize)]
pub struct Revocation {
    /// When this desk learned it, RFC 3339.
    pub learned_at: String,
    /// What the platform said (reason included).
    pub note: String,
}

/// The agency a desk is enrolled with and the one a token would enrol it into, when they differ.
#[derive(Debug, Clone, Serialize)]
pub struct AgencyChange {
    /// The agency this desk is enrolled with now.
    pub current_id: i64,
    /// Its name.
    pub current_name: String,
    /// The agency of the token.
    pub new_id: i64,
    /// Its name.
    pub new_name: String,
    /// Own listings of the current agency that would be removed from this desk.
    pub own_listings: i64,
}

/// True when at most a third of the validity period `[not_before, not_after]` is left at `now`.
pub fn renewal_due(not_before: i64, not_after: i64, now: i64) -> bool {
    let life = (not_after - not_before).max(0);
    not_after - now <= life / 3
}

fn rfc3339_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The stored identity, if the desk has enrolled.
pub fn load(conn: &mut SqliteConnection) -> Result<Option<Identity>, ClientError> {
    Ok(identity::table
        .select(Identity::as_select())
        .first(conn)
        .optional()?)
}

/// The stored endpoints in order.
pub fn stored_endpoints(conn: &mut SqliteConnection) -> Result<Vec<String>, ClientError> {
    Ok(endpoints::table
        .order(endpoints::position)
        .select(endpoints::url)
        .load(conn)?)
}

/// Replaces the stored endpoint list (inside the caller's transaction when there is one).
pub fn set_endpoints(conn: &mut SqliteConnection, urls: &[String]) -> Result<(), ClientError> {
    diesel::delete(endpoints::table).execute(conn)?;
    for (i, url) in urls.iter().enumerate() {
        diesel::insert_into(endpoints::table)
            .values((endpoints::position.eq(i as i32), endpoints::url.eq(url)))
            .execute(conn)?;
    }
    Ok(())
}

/// Validity and serial of the first certificate of a chain: (serial, not_before ms, not_after ms).
fn leaf_facts(chain_pem: &str) -> Result<(String, i64, i64), ClientError> {
    let leaf = ca::inspect::parse_chain_pem(chain_pem)?
        .into_iter()
        .next()
        .ok_or_else(|| ClientError::Protocol("the platform sent an empty certificate".into()))?;
    let info = ca::inspect::parse_certificate_der(&leaf)?;
    Ok((
        info.serial.clone(),
        (info.not_before.unix_timestamp_nanos() / 1_000_000) as i64,
        (info.not_after.unix_timestamp_nanos() / 1_000_000) as i64,
    ))
}

/// The agency name in a certificate chain's leaf (its subject's common name).
fn agency_name(chain_pem: &str) -> String {
    ca::inspect::parse_chain_pem(chain_pem)
        .ok()
        .and_then(|chain| chain.into_iter().next())
        .and_then(|leaf| ca::inspect::parse_certificate_der(&leaf).ok())
        .map(|info| {
            info.subject
                .split(", ")
                .find_map(|part| part.strip_prefix("CN="))
                .unwrap_or(&info.subject)
                .to_owned()
        })
        .unwrap_or_default()
}

/// Records that the platform refused this desk's certificate as revoked (`note` is what it
/// said), so `cert` and the window show it even offline. Nothing else changes.
pub fn record_revoked(conn: &mut SqliteConnection, note: &str) -> Result<(), ClientError> {
    diesel::update(identity::table)
        .set((
            identity::revoked_at.eq(now_ms()),
            identity::revocation_note.eq(note),
        ))
        .execute(conn)?;
    Ok(())
}

/// Forgets a recorded revocation (the platform accepted the certificate after all).
fn clear_revoked(conn: &mut SqliteConnection) -> Result<(), ClientError> {
    diesel::update(identity::table)
        .set((
            identity::revoked_at.eq(None::<i64>),
            identity::revocation_note.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Asks the platform whether it still accepts this desk's certificate and records the answer.
/// `Ok(true)` when accepted, `Ok(false)` when revoked (recorded); an outage or another refusal is
/// returned as the error.
pub fn refresh_revocation(store: &mut Store, session: &mut Session) -> Result<bool, ClientError> {
    match session
        .client
        .get_json::<serde_json::Value>("/api/v1/agency")
    {
        Ok(_) => {
            if session.identity.revoked_at.is_some() {
                clear_revoked(store.conn())?;
                session.identity.revoked_at = None;
                session.identity.revocation_note = None;
            }
            Ok(true)
        }
        Err(ClientError::CertificateRevoked(note)) => {
            record_revoked(store.conn(), &note)?;
            session.identity.revoked_at = Some(now_ms());
            session.identity.revocation_note = Some(note);
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Status of a stored identity.
pub fn status(
    conn: &mut SqliteConnection,
    id: &Identity,
    renewed: bool,
) -> Result<CertificateStatus, ClientError> {
    let now = now_ms();
    Ok(CertificateStatus {
        agency_id: id.agency_id,
        serial: id.serial.clone(),
        not_before: rfc3339_ms(id.not_before),
        not_after: rfc3339_ms(id.not_after),
        days_left: (id.not_after - now).div_euclid(86_400_000),
        renewal_due: renewal_due(id.not_before, id.not_after, now),
        root_fingerprint: id.root_fingerprint.clone(),
        endpoints: stored_endpoints(conn)?,
        renewed,
        agency_name: agency_name(&id.chain_pem),
        revoked: id.revocation_note.as_ref().map(|note| Revocation {
            learned_at: rfc3339_ms(id.revoked_at.unwrap_or_default()),
            note: note.clone(),
        }),
    })
}

/// Enrols this desk: downloads the root CA from `servers` without trusting it, checks its
/// fingerprint against `fingerprint`, asks (now trusting only that root) which agency the
/// one-time `token` is for, makes a key here, sends a CSR with the token and stores chain,
/// encrypted key, root and endpoints in one transaction. On any failure nothing is stored.
///
/// A desk that enrolled before with the same agency keeps its listings, customers, queue and
/// feed position; only the identity is replaced. A token of ANOTHER agency is refused
/// ([`ClientError::OtherAgency`], checked before the token is spent) unless `switch` is given and
/// confirms the [`AgencyChange`]; even then a desk holding customers (private to the current
/// agency) or unsent changes is refused, and the current agency's own listings are removed from
/// this desk with the new identity.
pub fn enroll(
    store: &mut Store,
    servers: &[String],
    token: &str,
    fingerprint: &str,
    passphrase: &str,
    switch: Option<&mut dyn FnMut(&AgencyChange) -> bool>,
) -> Result<CertificateStatus, ClientError> {
    let urls = servers
        .iter()
        .map(|s| parse_endpoint(s))
        .collect::<Result<Vec<_>, _>>()?;
    let expected = Fingerprint::parse(fingerprint).ok_or_else(|| {
        ClientError::input(
            "--fingerprint",
            "is not a SHA-256 fingerprint (64 hex digits, with or without colons)",
        )
    })?;
    if token.trim().is_empty() {
        return Err(ClientError::input("--token", "must not be empty"));
    }
    if passphrase.is_empty() {
        return Err(ClientError::input("passphrase", "must not be empty"));
    }
    check_passphrase(passphrase, &[])?;

    let mut bootstrap = PlatformClient::bootstrap(urls.clone())?;
    let root_pem = bootstrap.get_text("/ca/root.pem")?;
    let served_from = bootstrap.current_url().to_owned();
    let root_der = ca::inspect::parse_chain_pem(&root_pem)?
        .into_iter()
        .next()
        .ok_or_else(|| ClientError::Protocol("the platform served an empty root.pem".into()))?;
    let actual = Fingerprint::of(&root_der);
    if actual != expected {
        return Err(ClientError::FingerprintMismatch {
            url: served_from,
            expected: expected.to_string(),
            actual: actual.to_string(),
        });
    }

    let mut trusted = PlatformClient::new(&root_pem, None, urls.clone())?;
    let check: EnrollCheck = trusted.post_json(
        "/api/v1/enroll/check",
        &EnrollCheckRequest {
            token: token.trim().to_owned(),
        },
    )?;
    let change = agency_change(store.conn(), &check)?;
    if let Some(change) = &change {
        let Some(confirm) = switch else {
            return Err(ClientError::OtherAgency {
                current_id: change.current_id,
                current_name: change.current_name.clone(),
                new_id: change.new_id,
                new_name: change.new_name.clone(),
            });
        };
        check_switch_allowed(store.conn(), change)?;
        if !confirm(change) {
            return Err(ClientError::input(
                "--switch-agency",
                "the switch was not confirmed; nothing was changed",
            ));
        }
    }

    let key = PrivateKey::generate_p256()?;
    let csr = key.csr_pem(CSR_COMMON_NAME)?;
    let key_pem = key.to_encrypted_pem(passphrase)?.to_string();
    let answer: CertificateResponse = trusted.post_json(
        "/api/v1/enroll",
        &EnrollRequest {
            token: token.trim().to_owned(),
            csr,
        },
    )?;
    let (serial, not_before, not_after) = leaf_facts(&answer.certificate)?;
    let now = now_ms();
    let id = store.conn().immediate_transaction(|c| {
        let (cursor, certificate_cursor) = identity::table
            .select((identity::feed_cursor, identity::certificate_cursor))
            .first::<(i64, i64)>(c)
            .optional()?
            .unwrap_or((0, 0));
        if let Some(change) = &change {
            // The former agency's own listings: kept on the platform under that agency, never
            // to be published again from here as the new one.
            check_switch_allowed(c, change)?;
            diesel::delete(own_listings::table).execute(c)?;
        }
        // Listings published before their signer was recorded were signed with the certificate
        // being replaced (or an older one of the same desk): recorded now, so what a
        // compromised key signed can be signed anew.
        if let Some(previous) = identity::table
            .select(identity::serial)
            .first::<String>(c)
            .optional()?
        {
            diesel::update(
                own_listings::table
                    .filter(own_listings::signed_serial.is_null())
                    .filter(own_listings::published_version.is_not_null()),
            )
            .set(own_listings::signed_serial.eq(previous))
            .execute(c)?;
        }
        diesel::delete(identity::table).execute(c)?;
        let row = Identity {
            id: 1,
            agency_id: answer.agency_id,
            chain_pem: answer.certificate.clone(),
            key_pem,
            root_pem,
            root_fingerprint: expected.to_string(),
            serial,
            not_before,
            not_after,
            feed_cursor: cursor,
            enrolled_at: now,
            revoked_at: None,
            revocation_note: None,
            certificate_cursor,
        };
        diesel::insert_into(identity::table)
            .values(&row)
            .execute(c)?;
        set_endpoints(c, &urls)?;
        Ok::<_, ClientError>(row)
    })?;
    status(store.conn(), &id, false)
}

/// The change of agency a token would make, if this desk is enrolled with another one.
fn agency_change(
    conn: &mut SqliteConnection,
    check: &EnrollCheck,
) -> Result<Option<AgencyChange>, ClientError> {
    let Some(current) = load(conn)? else {
        return Ok(None);
    };
    if current.agency_id == check.agency_id {
        return Ok(None);
    }
    let own_listings = own_listings::table.count().get_result::<i64>(conn)?;
    Ok(Some(AgencyChange {
        current_id: current.agency_id,
        current_name: agency_name(&current.chain_pem),
        new_id: check.agency_id,
        new_name: check.agency_name.clone(),
        own_listings,
    }))
}

/// A desk may change agency only when it holds nothing private to the current one (customers)
/// and nothing unsent (queued changes).
fn check_switch_allowed(
    conn: &mut SqliteConnection,
    change: &AgencyChange,
) -> Result<(), ClientError> {
    let customers = customers::table.count().get_result::<i64>(conn)?;
    let queued = outbox::table.count().get_result::<i64>(conn)?;
    if customers > 0 || queued > 0 {
        return Err(ClientError::input(
            "--switch-agency",
            format!(
                "this desk still holds {customers} customer(s) of {} (private to that agency) and \
                 {queued} unsent change(s); it cannot become a desk of {}. Enrol a separate desk \
                 for {} with its own --data-dir; nothing was changed",
                change.current_name, change.new_name, change.new_name
            ),
        ));
    }
    Ok(())
}

/// An unlocked identity: the decrypted key and a client presenting its certificate.
#[derive(Debug)]
pub struct Session {
    /// The identity as stored.
    pub identity: Identity,
    /// The decrypted key.
    pub key: PrivateKey,
    /// The mTLS client over the configured endpoints.
    pub client: PlatformClient,
    /// Notices for the user (e.g. "certificate renewed").
    pub notices: Vec<String>,
}

impl Session {
    /// Unlocks the stored identity with `passphrase`. `servers`, when not empty, replaces the
    /// stored endpoint list (and is stored). Renews the certificate first when a third or less
    /// of its life is left and the platform answers.
    pub fn open(
        store: &mut Store,
        passphrase: &str,
        servers: &[String],
    ) -> Result<Session, ClientError> {
        let id = load(store.conn())?.ok_or(ClientError::NotEnrolled)?;
        if !servers.is_empty() {
            let urls = servers
                .iter()
                .map(|s| parse_endpoint(s))
                .collect::<Result<Vec<_>, _>>()?;
            store
                .conn()
                .immediate_transaction(|c| set_endpoints(c, &urls))?;
        }
        let urls = stored_endpoints(store.conn())?;
        let key = PrivateKey::from_pem(&id.key_pem, Some(passphrase))?;
        let client = PlatformClient::new(
            &id.root_pem,
            Some((&id.chain_pem, &key.to_pem())),
            urls.clone(),
        )?;
        let mut session = Session {
            identity: id,
            key,
            client,
            notices: Vec::new(),
        };
        if renewal_due(
            session.identity.not_before,
            session.identity.not_after,
            now_ms(),
        ) {
            match session.renew(store, passphrase) {
                Ok(()) => session.notices.push(format!(
                    "certificate renewed; new serial {}",
                    session.identity.serial
                )),
                Err(ClientError::Unreachable { .. }) => session.notices.push(
                    "certificate renewal is due; it will be renewed when the platform answers"
                        .into(),
                ),
                Err(e) => return Err(e),
            }
        }
        Ok(session)
    }

    /// Renews the certificate over mTLS with a new key, then stores the new chain and the new
    /// key (encrypted with `passphrase`) in one transaction. The old certificate keeps working
    /// on the platform until the new one is first used, so a crash in between locks nobody out.
    pub fn renew(&mut self, store: &mut Store, passphrase: &str) -> Result<(), ClientError> {
        let key = PrivateKey::generate_p256()?;
        let csr = key.csr_pem(CSR_COMMON_NAME)?;
        let key_pem = key.to_encrypted_pem(passphrase)?.to_string();
        let answer: CertificateResponse = self
            .client
            .post_json("/api/v1/certificates/renew", &RenewRequest { csr })?;
        let (serial, not_before, not_after) = leaf_facts(&answer.certificate)?;
        store.conn().immediate_transaction(|c| {
            diesel::update(identity::table)
                .set((
                    identity::chain_pem.eq(&answer.certificate),
                    identity::key_pem.eq(&key_pem),
                    identity::serial.eq(&serial),
                    identity::not_before.eq(not_before),
                    identity::not_after.eq(not_after),
                ))
                .execute(c)
        })?;
        let urls = stored_endpoints(store.conn())?;
        self.client = PlatformClient::new(
            &self.identity.root_pem,
            Some((&answer.certificate, &key.to_pem())),
            urls,
        )?;
        self.key = key;
        self.identity.chain_pem = answer.certificate;
        self.identity.key_pem = key_pem;
        self.identity.serial = serial;
        self.identity.not_before = not_before;
        self.identity.not_after = not_after;
        Ok(())
    }
}

/// Reads the key passphrase: `AGENCY_CLIENT_PASSPHRASE` when set, else asked on the terminal
/// (twice when `confirm`, for a new key).
pub fn passphrase_from_env_or_prompt(confirm: bool) -> Result<String, ClientError> {
    if let Ok(p) = std::env::var("AGENCY_CLIENT_PASSPHRASE") {
        return Ok(p);
    }
    let first = rpassword::prompt_password("Key passphrase: ")
        .map_err(|e| ClientError::NoPassphrase(e.to_string()))?;
    if confirm {
        let second = rpassword::prompt_password("Same passphrase again: ")
            .map_err(|e| ClientError::NoPassphrase(e.to_string()))?;
        if first != second {
            return Err(ClientError::input(
                "passphrase",
                "the two passphrases differ; nothing was stored",
            ));
        }
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_due_in_the_last_third() {
        let day = 86_400_000;
        assert!(!renewal_due(0, 90 * day, 59 * day));
        assert!(renewal_due(0, 90 * day, 60 * day));
        assert!(renewal_due(0, 90 * day, 91 * day));
    }
}
