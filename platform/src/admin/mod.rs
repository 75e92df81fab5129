//! Operator actions (the `platform agency|cert|listing|audit` commands, later the admin pages):
//! vetting agencies, enrolment tokens, revocation, take-downs and restores. Each one is audited in the same
//! transaction as the change, and mails to agencies go through the outbox.

pub mod mail;
pub mod overview;
pub mod users;

use serde::Serialize;

use crate::agencies::{Agency, AgencyStatus, AgencyStore, NewAgency};
use crate::audit::{Actor, AuditLog};
use crate::config::Config;
use crate::db::DbConn;
use crate::listings::ListingStore;
use crate::notify::outbox::{MailKind, NewNotification, OutboxStore};
use crate::pki::tokens::PendingToken;
use crate::pki::{
    CertificateStore, Revocation, RevocationOutcome, RevokeError, TokenStore, tokens,
};
use crate::vault::VaultStore;

/// A refused operator action, with what to do instead. The message is the whole sentence the
/// operator reads.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// No such record (agency, certificate, listing); the message names it and where to look.
    #[error("{0}")]
    NotFound(String),
    /// The action does not fit the record's state (e.g. approving an active agency, revoking a
    /// certificate again with the same reason); the message says what to do instead.
    #[error("{0}")]
    Refused(String),
    /// Bad input: the message names the option (`--reason`, `--compromised-since`, …) and what
    /// it accepts.
    #[error("{0}")]
    Invalid(String),
    /// A database query failed.
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

/// A freshly created enrolment token, shown once.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedToken {
    /// The agency.
    pub agency: Agency,
    /// The token (only ever shown here and in the email).
    pub token: String,
    /// When it stops working (RFC 3339).
    pub expires_at: String,
    /// The root CA's SHA-256 fingerprint, to check on first contact.
    pub ca_fingerprint: String,
    /// The desk it is for (`--desk`), if named.
    pub desk: Option<String>,
}

/// The operator's name for the audit log (`$USER`, else `cli`).
pub fn operator() -> Actor {
    Actor::Operator(
        std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "cli".into()),
    )
}

pub(crate) fn rfc3339(ms: i64) -> String {
    crate::listings::ms_to_time(ms)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Creates a token for `agency` and queues the approval mail with it, inside the caller's
/// transaction. The agency's older unused tokens stop working (voided, audited).
fn create_token<C>(
    c: &mut C,
    actor: &Actor,
    agency: &Agency,
    fingerprint: &str,
    config: &Config,
    desk: Option<&str>,
) -> Result<IssuedToken, AdminError>
where
    C: TokenStore + AuditLog + OutboxStore,
{
    let (token, hash) = tokens::generate();
    let voided = c.void_desk_tokens(agency.id, desk, crate::db::now_ms())?;
    if voided > 0 {
        c.audit(
            actor,
            "token.void",
            Some(&agency.id.to_string()),
            serde_json::json!({
                "tokens": voided,
                "desk": desk,
                "why": "a newer enrolment token was issued for the same desk",
            }),
        )?;
    }
    let expires = c.insert_token(agency.id, &hash, desk)?;
    c.audit(
        actor,
        "token.create",
        Some(&agency.id.to_string()),
        serde_json::json!({"expires_at": rfc3339(expires), "desk": desk}),
    )?;
    let mail = NewNotification {
        agency_id: Some(agency.id),
        ..NewNotification::new(
            MailKind::AgencyApproved,
            agency.email.clone(),
            format!("agency_approved:{}:{}", agency.id, &hash[..16]),
            serde_json::json!({
                "agency_name": agency.name,
                "token": token,
                "token_expires_at": rfc3339(expires),
                "ca_fingerprint": fingerprint,
                "agency_api": config.agency.public_url,
            }),
        )
    };
    c.enqueue_notification(&mail)?;
    Ok(IssuedToken {
        agency: agency.clone(),
        token,
        expires_at: rfc3339(expires),
        ca_fingerprint: fingerprint.to_owned(),
        desk: desk.map(str::to_owned),
    })
}

/// Most characters of a desk name.
pub const MAX_DESK_NAME: usize = 40;

/// Checks a desk name (`--desk`): 1 to [`MAX_DESK_NAME`] letters, digits, spaces, `-`, `_`,
/// `.`; returns it trimmed.
pub fn check_desk_name(name: &str) -> Result<String, AdminError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_DESK_NAME {
        return Err(AdminError::Invalid(format!(
            "--desk: give the desk a name of 1 to {MAX_DESK_NAME} characters, e.g. --desk \"Porto office\""
        )));
    }
    if let Some(bad) = name
        .chars()
        .find(|ch| !(ch.is_alphanumeric() || matches!(ch, ' ' | '-' | '_' | '.')))
    {
        return Err(AdminError::Invalid(format!(
            "--desk: {bad:?} is not allowed in a desk name; use letters, digits, spaces, '-', '_' and '.'"
        )));
    }
    Ok(name.to_owned())
}

/// `platform agency add`: registers an agency vetted by hand, active at once, with a token.
pub fn add_agency(
    conn: &mut DbConn,
    actor: &Actor,
    config: &Config,
    fingerprint: &str,
    name: &str,
    licence: &str,
    email: &str,
) -> Result<IssuedToken, AdminError> {
    let new = NewAgency::parse(name, licence, email)
        .map_err(|e| AdminError::Invalid(format!("--{}: {}", e.field, e.message)))?;
    crate::write_tx!(conn, |c| {
        let agency = c
            .insert_agency(&new, AgencyStatus::Active)?
            .ok_or_else(|| {
                AdminError::Refused(format!(
                    "an agency with licence {} is already registered; see `platform agency list`",
                    new.licence()
                ))
            })?;
        c.audit(
            actor,
            "agency.add",
            Some(&agency.id.to_string()),
            serde_json::json!({"name": agency.name, "licence": agency.licence}),
        )?;
        create_token(c, actor, &agency, fingerprint, config, None)
    })
}

/// What an approval did.
#[derive(Debug, Clone, Serialize)]
pub struct Approval {
    /// The agency, now active.
    pub agency: Agency,
    /// A new enrolment token, when the agency holds no valid certificate.
    pub token: Option<IssuedToken>,
}

/// `platform agency approve ID`: a pending (or suspended or rejected) agency becomes active;
/// when it has no valid certificate it gets an enrolment token by email.
pub fn approve_agency(
    conn: &mut DbConn,
    actor: &Actor,
    config: &Config,
    fingerprint: &str,
    id: i64,
) -> Result<Approval, AdminError> {
    crate::write_tx!(conn, |c| {
        let before = find(c, id)?;
        if before.status() == AgencyStatus::Active {
            return Err(AdminError::Refused(format!(
                "agency {id} is already active; use `platform agency token {id}` for a new enrolment token"
            )));
        }
        let agency = c
            .set_agency_status(id, AgencyStatus::Active)?
            .ok_or_else(|| not_found(id))?;
        c.audit(
            actor,
            "agency.approve",
            Some(&id.to_string()),
            serde_json::json!({"from": before.status().code()}),
        )?;
        let now = crate::db::now_ms();
        let has_valid = c
            .list_certificates(Some(id))?
            .iter()
            .any(|cert| !cert.is_revoked() && cert.not_after > now);
        let token = if has_valid {
            None
        } else {
            Some(create_token(c, actor, &agency, fingerprint, config, None)?)
        };
        Ok(Approval { agency, token })
    })
}

/// `platform agency token ID`: a new enrolment token for an active agency (a new desk, a lost
/// token, a revoked certificate); its older unused tokens without a desk name stop working.
pub fn new_token(
    conn: &mut DbConn,
    actor: &Actor,
    config: &Config,
    fingerprint: &str,
    id: i64,
) -> Result<IssuedToken, AdminError> {
    new_desk_token(conn, actor, config, fingerprint, id, None)
}

/// `platform agency token ID [--desk NAME]`: a new enrolment token for an active agency, for
/// the desk `desk` if named; only the older unused token of the same desk name (or, without a
/// name, those without a name) stops working, so several new desks can enrol at once.
pub fn new_desk_token(
    conn: &mut DbConn,
    actor: &Actor,
    config: &Config,
    fingerprint: &str,
    id: i64,
    desk: Option<&str>,
) -> Result<IssuedToken, AdminError> {
    let desk = desk.map(check_desk_name).transpose()?;
    let desk = desk.as_deref();
    crate::write_tx!(conn, |c| {
        let agency = find(c, id)?;
        if agency.status() != AgencyStatus::Active {
            return Err(AdminError::Refused(format!(
                "agency {id} is {}; approve it first",
                agency.status().code()
            )));
        }
        create_token(c, actor, &agency, fingerprint, config, desk)
    })
}

/// `platform agency reject ID`: refuses a pending application and tells the applicant.
pub fn reject_agency(
    conn: &mut DbConn,
    actor: &Actor,
    id: i64,
    reason: Option<&str>,
) -> Result<Agency, AdminError> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.chars().count() > 2000) {
        return Err(AdminError::Invalid(
            "--reason: keep the reason under 2000 characters".into(),
        ));
    }
    crate::write_tx!(conn, |c| {
        let before = find(c, id)?;
        if before.status() != AgencyStatus::Pending {
            return Err(AdminError::Refused(format!(
                "agency {id} is {}, not pending; use `platform agency suspend {id}` to stop an active agency",
                before.status().code()
            )));
        }
        let agency = c
            .set_agency_status(id, AgencyStatus::Rejected)?
            .ok_or_else(|| not_found(id))?;
        c.audit(
            actor,
            "agency.reject",
            Some(&id.to_string()),
            serde_json::json!({"reason": reason}),
        )?;
        let mail = NewNotification {
            agency_id: Some(id),
            ..NewNotification::new(
                MailKind::AgencyRejected,
                agency.email.clone(),
                format!("agency_rejected:{id}"),
                serde_json::json!({"agency_name": agency.name, "reason": reason}),
            )
        };
        c.enqueue_notification(&mail)?;
        Ok(agency)
    })
}

/// `platform agency suspend ID`: blocks an active agency at once (its certificates stay in the
/// register but are refused while it is suspended).
pub fn suspend_agency(conn: &mut DbConn, actor: &Actor, id: i64) -> Result<Agency, AdminError> {
    crate::write_tx!(conn, |c| {
        let before = find(c, id)?;
        if before.status() != AgencyStatus::Active {
            return Err(AdminError::Refused(format!(
                "agency {id} is {}, not active",
                before.status().code()
            )));
        }
        let agency = c
            .set_agency_status(id, AgencyStatus::Suspended)?
            .ok_or_else(|| not_found(id))?;
        c.audit(
            actor,
            "agency.suspend",
            Some(&id.to_string()),
            serde_json::json!({}),
        )?;
        Ok(agency)
    })
}

/// Voids an agency's unused enrolment tokens (the console's "void"); audited as `token.void`.
/// Returns how many stopped working.
pub fn void_tokens(conn: &mut DbConn, actor: &Actor, id: i64) -> Result<usize, AdminError> {
    crate::write_tx!(conn, |c| {
        find(c, id)?;
        let voided = c.void_unused_tokens(id, crate::db::now_ms())?;
        if voided == 0 {
            return Err(AdminError::Refused(format!(
                "agency {id} has no unused enrolment token"
            )));
        }
        c.audit(
            actor,
            "token.void",
            Some(&id.to_string()),
            serde_json::json!({"tokens": voided, "why": "voided by an operator"}),
        )?;
        Ok(voided)
    })
}

/// `platform cert revoke SERIAL --reason R [--compromised-since T]`: effective on the agency's
/// next request, for the certificate and its family (see [`crate::pki::revocation`]); a revoked
/// certificate's reason can be raised to `key_compromise`.
pub fn revoke_certificate(
    conn: &mut DbConn,
    actor: &Actor,
    serial: &str,
    revocation: Revocation,
) -> Result<RevocationOutcome, AdminError> {
    let serial = serial.trim().to_ascii_lowercase().replace(':', "");
    let serial = serial.trim_start_matches("0x").to_owned();
    if let Some(since) = revocation.compromised_since
        && since > crate::db::now_ms()
    {
        return Err(AdminError::Invalid(
            "--compromised-since: the date is in the future; give the time the key was (or may have been) exposed, or leave it out to distrust everything the key signed".into(),
        ));
    }
    crate::write_tx!(conn, |c| {
        crate::pki::revoke_family(c, actor, &serial, revocation, crate::db::now_ms()).map_err(|e| {
            match e {
                RevokeError::NotFound(_) => AdminError::NotFound(e.to_string()),
                RevokeError::AlreadyRevoked(m) => AdminError::Refused(m),
                RevokeError::Invalid(m) => AdminError::Invalid(m),
                RevokeError::Db(e) => AdminError::Db(e),
            }
        })
    })
}

/// One desk of an agency: the certificates descending by renewals from one enrolment.
#[derive(Debug, Clone, Serialize)]
pub struct Desk {
    /// Serial of the enrolment certificate that started it.
    pub lineage: String,
    /// The name its enrolment token was issued for (`--desk`), if any.
    pub name: Option<String>,
    /// `active` (a live certificate), `revoked` (its last certificate was revoked) or
    /// `expired`.
    pub state: &'static str,
    /// Its place in the agency's vault: `waiting`, `approved`, `removed`; none when it never
    /// joined the vault.
    pub vault: Option<String>,
    /// When it enrolled (RFC 3339).
    pub enrolled_at: String,
    /// Certificates it has held, in all.
    pub certificates: usize,
    /// Its live certificates (valid and unexpired), newest first; more than one only while a
    /// renewal has not been used yet.
    pub live: Vec<LiveCertificate>,
}

/// A live certificate of a desk.
#[derive(Debug, Clone, Serialize)]
pub struct LiveCertificate {
    /// Serial.
    pub serial: String,
    /// End of validity (RFC 3339).
    pub not_after: String,
    /// First request made with it (RFC 3339); None while a renewal is unused.
    pub first_used_at: Option<String>,
}

/// A token that still works.
#[derive(Debug, Clone, Serialize)]
pub struct TokenSummary {
    /// Row id.
    pub id: i64,
    /// Issued at (RFC 3339).
    pub created_at: String,
    /// Stops working at (RFC 3339).
    pub expires_at: String,
    /// The desk it is for, if named.
    pub desk: Option<String>,
}

/// `platform agency show ID`.
#[derive(Debug, Clone, Serialize)]
pub struct AgencyDetails {
    /// The agency.
    pub agency: Agency,
    /// Its desks, oldest first.
    pub desks: Vec<Desk>,
    /// Live certificates over all desks.
    pub live_certificates: usize,
    /// Enrolment tokens that still work (at most one per desk name: a new token voids the
    /// older ones of the same desk).
    pub unused_tokens: Vec<TokenSummary>,
}

/// `platform agency show ID`: the agency, its desks with their live certificates, and its
/// unused enrolment tokens.
pub fn agency_details(conn: &mut DbConn, id: i64) -> Result<AgencyDetails, AdminError> {
    let now = crate::db::now_ms();
    crate::with_conn!(conn, |c| {
        let agency = find(c, id)?;
        let mut certs = c.list_certificates(Some(id))?;
        certs.retain(|cert| cert.kind == crate::pki::certs::KIND_CLIENT);
        certs.reverse(); // oldest first
        let names: std::collections::HashMap<String, String> =
            c.desk_names(id)?.into_iter().collect();
        let vault: std::collections::HashMap<String, String> = c
            .vault_desks(id)?
            .into_iter()
            .map(|d| (d.desk.clone(), d.state().code().to_owned()))
            .collect();
        let mut desks: Vec<Desk> = Vec::new();
        for cert in &certs {
            let desk = match desks.iter_mut().position(|d| d.lineage == cert.desk()) {
                Some(i) => &mut desks[i],
                None => {
                    desks.push(Desk {
                        lineage: cert.desk().to_owned(),
                        name: names.get(cert.desk()).cloned(),
                        state: "expired",
                        vault: vault.get(cert.desk()).cloned(),
                        enrolled_at: rfc3339(cert.created_at),
                        certificates: 0,
                        live: Vec::new(),
                    });
                    desks.last_mut().expect("just pushed")
                }
            };
            desk.certificates += 1;
            // Oldest first: the newest certificate of the lineage says how it ended.
            desk.state = if cert.is_revoked() {
                "revoked"
            } else if cert.not_after > now {
                "active"
            } else {
                "expired"
            };
            if cert.is_live(now) {
                desk.live.insert(
                    0,
                    LiveCertificate {
                        serial: cert.serial.clone(),
                        not_after: rfc3339(cert.not_after),
                        first_used_at: cert.first_used_at.map(rfc3339),
                    },
                );
            }
        }
        for desk in &mut desks {
            if !desk.live.is_empty() {
                desk.state = "active";
            }
        }
        let unused_tokens = c
            .pending_tokens(id, now)?
            .into_iter()
            .map(|t: PendingToken| TokenSummary {
                id: t.id,
                created_at: rfc3339(t.created_at),
                expires_at: rfc3339(t.expires_at),
                desk: t.desk_name,
            })
            .collect();
        Ok(AgencyDetails {
            live_certificates: desks.iter().map(|d| d.live.len()).sum(),
            agency,
            desks,
            unused_tokens,
        })
    })
}

/// An agency in `platform agency list`.
#[derive(Debug, Clone, Serialize)]
pub struct AgencySummary {
    /// The agency.
    #[serde(flatten)]
    pub agency: Agency,
    /// Its live certificates (valid and unexpired client certificates).
    pub live_certificates: i64,
}

/// `platform agency list [--status S]`: agencies, oldest first, with their live certificates.
pub fn list_agencies(
    conn: &mut DbConn,
    status: Option<AgencyStatus>,
) -> Result<Vec<AgencySummary>, AdminError> {
    let now = crate::db::now_ms();
    crate::with_conn!(conn, |c| {
        let live: std::collections::HashMap<i64, i64> =
            c.live_certificate_counts(now)?.into_iter().collect();
        Ok(c.list_agencies(status)?
            .into_iter()
            .map(|agency| AgencySummary {
                live_certificates: live.get(&agency.id).copied().unwrap_or(0),
                agency,
            })
            .collect())
    })
}

/// `platform listing take-down ID --reason R`.
/// The take-down is signed by the platform's document-signing key (`signer`): the statement
/// says which listing, which version, when and why, and desks remove the listing only on it.
pub fn take_down_listing(
    conn: &mut DbConn,
    actor: &Actor,
    signer: &crate::pki::PlatformSigner,
    id: i64,
    reason: &str,
) -> Result<i64, AdminError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AdminError::Invalid(
            "--reason: say why the listing is taken down".into(),
        ));
    }
    crate::write_tx!(conn, |c| {
        let p = c
            .take_down_listing(id, actor, reason, signer)
            .map_err(listing_refused)?
            .ok_or_else(|| listing_not_found(id))?;
        Ok(p.current.version)
    })
}

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    /// The listing.
    pub id: i64,
    /// Its new version.
    pub version: i64,
    /// Its status again (the one its agency signed).
    pub status: String,
    /// Saved searches told it is back on the market (mail queued in the same transaction).
    #[serde(skip)]
    pub due: Vec<crate::matching::live::DueMatch>,
}

/// `platform listing restore ID --reason R`: puts a taken-down listing back as its agency last
/// signed it (see [`ListingStore::restore_listing`]); saved searches it matches are told it is
/// back on the market, as when an agency relists (`matcher` answers which).
pub fn restore_listing(
    conn: &mut DbConn,
    actor: &Actor,
    matcher: &crate::matching::live::LiveMatcher,
    id: i64,
    reason: &str,
) -> Result<Restored, AdminError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AdminError::Invalid(
            "--reason: say why the listing is restored".into(),
        ));
    }
    crate::write_tx!(conn, |c| {
        let p = c
            .restore_listing(id, actor, reason)
            .map_err(listing_refused)?
            .ok_or_else(|| listing_not_found(id))?;
        let due = matcher.notify_publish(c, &p, crate::db::now_ms())?;
        Ok(Restored {
            id,
            version: p.current.version,
            status: p.current.status.clone(),
            due,
        })
    })
}

fn listing_refused(e: crate::listings::PublishError) -> AdminError {
    match e {
        crate::listings::PublishError::Db(e) => AdminError::Db(e),
        other => AdminError::Refused(other.to_string()),
    }
}

fn listing_not_found(id: i64) -> AdminError {
    AdminError::NotFound(format!(
        "no listing with id {id}; the console's Listings page finds them"
    ))
}

fn find<C: AgencyStore>(c: &mut C, id: i64) -> Result<Agency, AdminError> {
    c.find_agency(id)?.ok_or_else(|| not_found(id))
}

fn not_found(id: i64) -> AdminError {
    AdminError::NotFound(format!(
        "no agency with id {id}; see `platform agency list`"
    ))
}
