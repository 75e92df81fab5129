//! The platform's side of the PKI: the certificate authority loaded from the data directory and
//! checked against the database ([`custody`]), the agency port's server identity (renewed while
//! running by [`upkeep`]), enrolment with one-time tokens, renewal, revocation and the CRLs
//! ([`crl`]). Every issuance and revocation is registered in `certificates` and audited in the
//! same transaction.

pub mod ca_commands;
pub mod certs;
pub mod crl;
pub mod custody;
pub mod error;
pub mod jobs;
pub mod revocation;
pub mod signer;
pub mod tokens;
pub mod upkeep;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::agencies::{Agency, AgencyStatus, AgencyStore};
pub use crate::api::tls::ServerIdentity;
use crate::api::tls::TrustStore;
use crate::audit::{Actor, AuditLog};
use crate::config::Config;
use crate::db::DbConn;
use crate::error::ApiError;
pub use certs::{CertificateRow, CertificateStore, NewCertificate};
pub use custody::{CaCertificateRow, CaStore, CrlRow, Opening};
use error::Context;
pub use error::PkiError;
pub use revocation::{Revocation, RevocationOutcome, RevokeError, revoke_family};
pub use signer::PlatformSigner;
pub use tokens::{TokenProblem, TokenStore};

/// Environment variable holding the passphrase that encrypts the CA's private keys at rest.
pub const PASSPHRASE_ENV: &str = "PLATFORM_CA_PASSPHRASE";

/// Validity of the agency port's server certificate.
const SERVER_VALIDITY_DAYS: u32 = 365;
/// Certificates one desk (certificate lineage: its enrolment and renewals) may receive per
/// [`RENEWAL_WINDOW_MS`], so a fresh desk may renew twice on its first day and an established
/// one three times a day. A desk renews once per 60 days or so; more is a retry loop or someone
/// else holding the desk's key.
pub const CERTIFICATES_PER_WINDOW: usize = 3;
/// The window of [`CERTIFICATES_PER_WINDOW`]: 24 hours.
pub const RENEWAL_WINDOW_MS: i64 = 86_400_000;

/// The CA and the server identity of one platform process.
#[derive(Debug)]
pub struct Pki {
    ca: ca::CertificateAuthority,
    dir: PathBuf,
    client_validity_days: u32,
    server_renew_days: u32,
    trust: Arc<TrustStore>,
}

impl Pki {
    /// Opens the CA of this database from `<data_dir>/ca` for an operator command (see
    /// [`custody::open_authority`]: it is created only for a fresh database and an empty
    /// directory, and refused when the two do not belong together).
    pub fn open(config: &Config, conn: &mut DbConn) -> Result<Pki, PkiError> {
        Self::open_for(config, conn, Opening::Operator)
    }

    /// Like [`Pki::open`] for the server, which also refuses unencrypted CA keys under a
    /// production configuration unless `ca.allow_unencrypted_keys` is set.
    pub fn open_to_serve(config: &Config, conn: &mut DbConn) -> Result<Pki, PkiError> {
        Self::open_for(config, conn, Opening::Serve)
    }

    fn open_for(config: &Config, conn: &mut DbConn, opening: Opening) -> Result<Pki, PkiError> {
        let passphrase = custody::passphrase_from_env();
        let ca = custody::open_authority(config, conn, passphrase.as_deref(), opening)?;
        if ca.root_key_online() && crl::root_crl_due(&ca, conn)? {
            let root = ca
                .root_key(passphrase.as_deref())
                .context("the root key in the CA directory")?;
            let row = crl::sign_root_crl(&ca, &root, conn, &Actor::System)?;
            tracing::info!(crl_number = row.crl_number, "signed the root's CRL");
        }
        let pki = Pki {
            trust: Arc::new(TrustStore::new(&ca)),
            ca,
            dir: config.data_dir.clone(),
            client_validity_days: config.ca.client_validity_days,
            server_renew_days: config.ca.server_renew_days,
        };
        pki.refresh_trust(conn)?;
        Ok(pki)
    }

    /// The CA.
    pub fn ca(&self) -> &ca::CertificateAuthority {
        &self.ca
    }

    /// Fingerprint of the root CA, as agencies are told to check it.
    pub fn fingerprint(&self) -> String {
        self.ca.root_fingerprint().to_string()
    }

    /// What client certificates are checked against: the root, and every issuing CA recorded
    /// in the database (so certificates of an issuing CA made by a rollover on another node
    /// are accepted once [`Pki::refresh_trust`] ran).
    pub fn trust(&self) -> Arc<TrustStore> {
        Arc::clone(&self.trust)
    }

    /// Reloads the issuing CAs the trust store accepts from the database.
    pub fn refresh_trust(&self, conn: &mut DbConn) -> Result<(), PkiError> {
        let rows = crate::with_conn!(conn, |c| c.ca_certificates())?;
        let now = crate::db::now_ms();
        let mut intermediates: Vec<Vec<u8>> =
            self.ca.issuing_cas().into_iter().map(|i| i.der).collect();
        for row in rows.iter().filter(|r| {
            r.role == custody::ROLE_ISSUING
                && r.status != custody::STATUS_REVOKED
                && r.not_after > now
        }) {
            if let Some(der) = row.der()
                && !intermediates.contains(&der)
            {
                intermediates.push(der);
            }
        }
        let revoked: Vec<String> = rows
            .iter()
            .filter(|r| r.status == custody::STATUS_REVOKED)
            .map(|r| r.fingerprint.clone())
            .collect();
        intermediates.retain(|der| !revoked.contains(&ca::inspect::Fingerprint::of(der).to_hex()));
        self.trust.set_intermediates(intermediates);
        Ok(())
    }

    /// The issuing CA certificate (PEM) that signed `cert_pem`: each certificate is served with
    /// its own issuer, also after a rollover. The current issuing CA when none is found.
    pub fn issuing_pem_of(&self, cert_pem: &str) -> String {
        let der = ca::inspect::parse_chain_pem(cert_pem)
            .ok()
            .map(|mut c| c.swap_remove(0));
        if let Some(der) = &der {
            if let Some(issuing) = self.ca.issuing_ca_of(der) {
                return issuing.pem;
            }
            if let Some(found) = self.trust.issuer_of(der) {
                return pem::encode_config(
                    &pem::Pem::new("CERTIFICATE", found),
                    pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
                );
            }
        }
        self.ca.issuing_pem().to_owned()
    }

    /// The agency port's certificate and key from `<data_dir>/tls`, issued (and registered) when
    /// missing, due for renewal ([`Pki::server_renewal_due`]), from another issuing CA, or for
    /// other names than `names`.
    pub fn server_identity(
        &self,
        conn: &mut DbConn,
        names: &[String],
    ) -> Result<ServerIdentity, PkiError> {
        let tls = self.dir.join("tls");
        let key_path = tls.join("server.key");
        let cert_path = tls.join("server.crt");
        if let (Ok(key_pem), Ok(chain)) = (
            std::fs::read_to_string(&key_path),
            std::fs::read_to_string(&cert_path),
        ) {
            let key_pem = Zeroizing::new(key_pem);
            if let Ok(key) = ca::keys::PrivateKey::from_pem(&key_pem, None)
                && self.server_cert_usable(&chain, &key, names)
            {
                return Ok(ServerIdentity {
                    chain_pem: chain,
                    key_pem: key.to_pem(),
                });
            }
        }
        self.renew_server_identity(conn, names, "start")
    }

    /// A new key and server certificate for the agency port, registered and audited, written to
    /// `<data_dir>/tls` (key first; a mismatch after a crash is renewed at the next start).
    pub fn renew_server_identity(
        &self,
        conn: &mut DbConn,
        names: &[String],
        why: &str,
    ) -> Result<ServerIdentity, PkiError> {
        let tls = self.dir.join("tls");
        std::fs::create_dir_all(&tls).map_err(PkiError::io(format_args!(
            "cannot create {}",
            tls.display()
        )))?;
        let key = ca::keys::PrivateKey::generate_p256()?;
        let issued = self.ca.issue_server(&key, names, SERVER_VALIDITY_DAYS)?;
        let chain_pem = format!("{}{}", issued.pem, self.ca.issuing_pem());
        crate::write_tx!(conn, |c| -> Result<(), PkiError> {
            c.insert_certificate(&NewCertificate {
                issued: &issued,
                agency_id: None,
                kind: certs::KIND_SERVER,
                renewed_from: None,
            })?;
            c.audit(
                &Actor::System,
                "cert.issue_server",
                Some(&issued.serial),
                serde_json::json!({"names": names, "not_after": issued.not_after.to_string(), "why": why}),
            )?;
            Ok(())
        })?;
        ca::write_private_file(&tls.join("server.key"), key.to_pem().as_bytes())?;
        ca::write_public_file(&tls.join("server.crt"), chain_pem.as_bytes())?;
        tracing::info!(serial = %issued.serial, names = ?names, not_after = %issued.not_after, why, "issued the agency port's server certificate");
        Ok(ServerIdentity {
            chain_pem,
            key_pem: key.to_pem(),
        })
    }

    /// True when a server certificate valid from `not_before` to `not_after` is due for renewal
    /// at `now`: fewer than `ca.server_renew_days` days or a third of its life left.
    pub fn server_renewal_due(
        &self,
        not_before: time::OffsetDateTime,
        not_after: time::OffsetDateTime,
        now: time::OffsetDateTime,
    ) -> bool {
        let left = not_after - now;
        left < time::Duration::days(i64::from(self.server_renew_days))
            || left * 3 < (not_after - not_before)
    }

    fn server_cert_usable(
        &self,
        chain: &str,
        key: &ca::keys::PrivateKey,
        names: &[String],
    ) -> bool {
        let Ok(ders) = ca::inspect::parse_chain_pem(chain) else {
            return false;
        };
        let Ok(info) = ca::inspect::parse_certificate_der(&ders[0]) else {
            return false;
        };
        let now = time::OffsetDateTime::now_utc();
        let mut have: Vec<String> = info.san_dns.clone();
        have.extend(info.san_ips.iter().map(|ip| ip.to_string()));
        let mut want: Vec<String> = names.to_vec();
        have.sort();
        want.sort();
        !self.server_renewal_due(info.not_before, info.not_after, now)
            && info.spki_der == key.public_key_der()
            && ders
                .get(1)
                .is_some_and(|d| d.as_slice() == self.ca.issuing_der())
            && have == want
    }

    /// Enrolment: redeems the one-time `token` and issues a client certificate for `csr_pem` to
    /// the token's agency, which must be active. All or nothing.
    pub fn enroll(
        &self,
        conn: &mut DbConn,
        token: &str,
        csr_pem: &str,
    ) -> Result<(ca::Issued, Agency), ApiError> {
        let token_hash = tokens::hash(token);
        crate::write_tx!(conn, |c| -> Result<_, ApiError> {
            let now = crate::db::now_ms();
            let (token_id, agency_id) = match c.check_token(&token_hash, now)? {
                Ok(found) => found,
                Err(problem) => return Err(token_error(problem)),
            };
            let agency = active_agency(c.find_agency(agency_id)?)?;
            let issued = self.issue_for(&agency, csr_pem)?;
            refuse_known_key(c, &issued, "enrolment")?;
            c.insert_certificate(&NewCertificate {
                issued: &issued,
                agency_id: Some(agency.id),
                kind: certs::KIND_CLIENT,
                renewed_from: None,
            })?;
            if !c.mark_token_used(token_id, &issued.serial, now)? {
                return Err(token_error(TokenProblem::Used));
            }
            let actor = Actor::Agency(agency.id);
            c.audit(
                &actor,
                "token.use",
                Some(&agency.id.to_string()),
                serde_json::json!({"token_id": token_id}),
            )?;
            c.audit(
                &actor,
                "cert.issue",
                Some(&issued.serial),
                serde_json::json!({"agency_id": agency.id, "not_after": issued.not_after.to_string(), "fingerprint": issued.fingerprint.to_hex()}),
            )?;
            Ok((issued, agency))
        })
    }

    /// Renewal over mutual TLS: a new certificate for a new key of the same agency. The old one
    /// stays valid until the new one is first used (then it is revoked as superseded), so a client
    /// that crashes before storing the new certificate is not locked out.
    ///
    /// Refused: a key the platform certified before (`renewal_same_key`), and a desk that received
    /// [`CERTIFICATES_PER_WINDOW`] certificates in the last [`RENEWAL_WINDOW_MS`] (429). A renewal
    /// replaces the current certificate's earlier renewals that were never used (revoked as
    /// superseded), so a certificate has at most one unused renewal.
    pub fn renew(
        &self,
        conn: &mut DbConn,
        agency_id: i64,
        current_serial: &str,
        csr_pem: &str,
    ) -> Result<(ca::Issued, Agency), ApiError> {
        crate::write_tx!(conn, |c| -> Result<_, ApiError> {
            let now = crate::db::now_ms();
            let agency = active_agency(c.find_agency(agency_id)?)?;
            c.lock_certificate(current_serial)?;
            let current =
                c.find_certificate(current_serial)?
                    .ok_or_else(|| ApiError::Unauthenticated {
                        code: "certificate_unknown",
                        message: "this certificate is not in the platform's register; enrol again"
                            .into(),
                    })?;
            if current.is_revoked() {
                // Revoked after this request was authenticated (the lock above waited for it).
                return Err(ApiError::Forbidden {
                    code: "certificate_revoked",
                    message: format!(
                        "certificate {} was revoked ({}); ask the platform operator for a new enrolment token",
                        current.serial,
                        current
                            .revocation_reason
                            .as_deref()
                            .unwrap_or("unspecified")
                    ),
                });
            }
            let recent =
                c.certificates_in_lineage_since(current.desk(), now - RENEWAL_WINDOW_MS)?;
            if recent.len() >= CERTIFICATES_PER_WINDOW {
                let oldest = recent[recent.len() - CERTIFICATES_PER_WINDOW].created_at;
                let wait_ms = u64::try_from(oldest + RENEWAL_WINDOW_MS - now).unwrap_or(0);
                let wait_secs = wait_ms.div_ceil(1_000).max(1);
                return Err(ApiError::RateLimited {
                    message: format!(
                        "this desk received {} certificates in the last 24 hours (enrolment and renewals), the most allowed; the next renewal is possible in {} minutes. Keep using the current certificate; if you did not ask for these renewals, the desk's key may be in other hands: tell the platform operator",
                        recent.len(),
                        wait_secs.div_ceil(60)
                    ),
                    retry_after_secs: wait_secs,
                });
            }
            let issued = self.issue_for(&agency, csr_pem)?;
            refuse_known_key(c, &issued, "renewal")?;
            let actor = Actor::Agency(agency.id);
            let unused: Vec<CertificateRow> = c
                .renewals_of(std::slice::from_ref(&current.serial))?
                .into_iter()
                .filter(|r| !r.is_revoked() && r.first_used_at.is_none())
                .collect();
            for earlier in unused {
                c.revoke_certificate(&earlier.serial, ca::RevocationReason::Superseded)?;
                c.audit(
                    &actor,
                    "cert.supersede",
                    Some(&earlier.serial),
                    serde_json::json!({
                        "by": issued.serial,
                        "why": "a newer renewal of the same certificate replaced it before its first use",
                        "renewed_from": current.serial,
                    }),
                )?;
            }
            c.insert_certificate(&NewCertificate {
                issued: &issued,
                agency_id: Some(agency.id),
                kind: certs::KIND_CLIENT,
                renewed_from: Some(current_serial),
            })?;
            c.audit(
                &actor,
                "cert.renew",
                Some(&issued.serial),
                serde_json::json!({"agency_id": agency.id, "renewed_from": current_serial, "lineage": current.desk(), "not_after": issued.not_after.to_string()}),
            )?;
            Ok((issued, agency))
        })
    }

    fn issue_for(&self, agency: &Agency, csr_pem: &str) -> Result<ca::Issued, ApiError> {
        let profile = ca::ClientProfile::new(
            agency.id.to_string(),
            agency.name.clone(),
            self.client_validity_days,
        );
        self.ca
            .issue_client(csr_pem, &profile)
            .map_err(|e| match e {
                ca::CaError::Csr(m) | ca::CaError::UnsupportedKey(m) | ca::CaError::Pem(m) => {
                    ApiError::Invalid {
                        code: "invalid_csr",
                        message: format!("the certificate request was refused: {m}"),
                        field: Some("csr".into()),
                    }
                }
                other => ApiError::internal(other),
            })
    }

    /// The current CRL of the current issuing CA, PEM (rebuilt first when stale, see [`crl`]).
    pub fn crl_pem(&self, conn: &mut DbConn) -> Result<String, ApiError> {
        self.issuing_crl(conn, self.ca.issuing_key_id())
            .map(|row| row.pem)
    }

    /// The current CRL of the issuing CA with key identifier `key_id` (current or retired),
    /// rebuilt first when stale and this node holds its key. Not found: an unknown CA, or a
    /// retired one whose CRL was never signed.
    pub fn issuing_crl(&self, conn: &mut DbConn, key_id: &[u8]) -> Result<CrlRow, ApiError> {
        let not_found = || ApiError::NotFound {
            code: "crl_not_found",
            message: format!(
                "no CRL of an issuing CA with key id {} is published here; see /ca/chain.pem",
                hex::encode(key_id)
            ),
        };
        let issuing = match self
            .ca
            .issuing_cas()
            .into_iter()
            .find(|i| i.key_id == key_id)
        {
            Some(i) => i,
            None => {
                // A retired CA of another node (not on this disk): its stored CRL.
                let rows = crate::with_conn!(conn, |c| c.ca_certificates())?;
                let Some(row) = rows
                    .iter()
                    .find(|r| r.role == custody::ROLE_ISSUING && r.key_id == hex::encode(key_id))
                else {
                    return Err(not_found());
                };
                let fingerprint = row.fingerprint.clone();
                return crate::with_conn!(conn, |c| c.find_crl(&fingerprint))?
                    .ok_or_else(not_found);
            }
        };
        crl::issuing_crl(&self.ca, conn, &issuing).map_err(|e| {
            if issuing.signs_crls {
                ApiError::internal(e)
            } else {
                not_found()
            }
        })
    }

    /// The root's CRL as last signed; not found when it never was (the root key was never
    /// online since the CA was recorded).
    pub fn root_crl(&self, conn: &mut DbConn) -> Result<CrlRow, ApiError> {
        crl::root_crl(&self.ca, conn)?.ok_or_else(|| ApiError::NotFound {
            code: "crl_not_found",
            message: "the root's CRL has not been signed yet; the operator signs it with `platform ca sign-root-crl`".into(),
        })
    }
}

/// What a desk may learn about a one-time enrolment token before spending it: the agency it
/// enrols into (so a desk already enrolled with another agency can stop and ask). Read only: the
/// token stays unused. Unknown, used and expired tokens get the same refusals as enrolment.
pub fn enrolment_preview(conn: &mut DbConn, token: &str) -> Result<(Agency, i64), ApiError> {
    let token_hash = tokens::hash(token);
    crate::with_conn!(conn, |c| {
        let now = crate::db::now_ms();
        let (_, agency_id) = match c.check_token(&token_hash, now)? {
            Ok(found) => found,
            Err(problem) => return Err(token_error(problem)),
        };
        let expires_at = c.token_expiry(&token_hash)?.unwrap_or(now);
        let agency = active_agency(c.find_agency(agency_id)?)?;
        Ok((agency, expires_at))
    })
}

/// Refuses a certificate for a public key the register already holds: a key is certified once,
/// so a renewal really replaces the key and a key compromise names every certificate of it.
fn refuse_known_key<C: CertificateStore>(
    c: &mut C,
    issued: &ca::Issued,
    what: &str,
) -> Result<(), ApiError> {
    let Some(key) = certs::key_sha256(&issued.der) else {
        return Err(ApiError::internal(ca::CaError::Certificate(
            "the CA issued a certificate it cannot parse".into(),
        )));
    };
    if c.certificates_with_key(&key)?.is_empty() {
        return Ok(());
    }
    Err(ApiError::Invalid {
        code: if what == "renewal" {
            "renewal_same_key"
        } else {
            "key_already_certified"
        },
        message: format!(
            "the certificate request carries a public key the platform has certified before; a {what} needs a new key pair: make one and send a request for it"
        ),
        field: Some("csr".into()),
    })
}

/// The agency if it is active, else the refusal.
fn active_agency(agency: Option<Agency>) -> Result<Agency, ApiError> {
    match agency {
        Some(a) if a.status() == AgencyStatus::Active => Ok(a),
        Some(a) => Err(ApiError::Forbidden {
            code: "agency_not_active",
            message: format!(
                "agency {} is {}; only active agencies may hold certificates; contact the platform operator",
                a.id,
                a.status().code()
            ),
        }),
        None => Err(ApiError::Forbidden {
            code: "agency_not_active",
            message: "the agency no longer exists".into(),
        }),
    }
}

fn token_error(problem: TokenProblem) -> ApiError {
    let (code, message) = match problem {
        TokenProblem::Unknown => (
            "token_unknown",
            "this enrolment token is not known; check that it was copied completely, or ask the platform operator for a new one",
        ),
        TokenProblem::Used => (
            "token_used",
            "this enrolment token was already used; each token works once; ask the platform operator for a new one",
        ),
        TokenProblem::Expired => (
            "token_expired",
            "this enrolment token has expired (tokens last 7 days); ask the platform operator for a new one",
        ),
        TokenProblem::Voided => (
            "token_voided",
            "this enrolment token was replaced by a newer one for the same desk of your agency; use the newest token the platform operator gave you for this desk, or ask for a new one",
        ),
    };
    ApiError::Forbidden {
        code,
        message: message.into(),
    }
}

/// Where the CA keeps its files under a data directory.
pub fn ca_dir(data_dir: &Path) -> PathBuf {
    custody::ca_dir(data_dir)
}
