//! The platform's side of the PKI: the certificate authority loaded from the data directory, the
//! agency port's server identity, enrolment with one-time tokens, renewal, revocation and the CRL.
//! Every issuance and revocation is registered in `certificates` and audited in the same
//! transaction.

pub mod certs;
pub mod jobs;
pub mod signer;
pub mod tokens;

use std::path::{Path, PathBuf};

use anyhow::Context;
use zeroize::Zeroizing;

use crate::agencies::{Agency, AgencyStatus, AgencyStore};
use crate::audit::{Actor, AuditLog};
use crate::config::Config;
use crate::db::DbConn;
use crate::error::ApiError;
pub use certs::{CertificateRow, CertificateStore, NewCertificate};
pub use signer::PlatformSigner;
pub use tokens::{TokenProblem, TokenStore};

/// Environment variable holding the passphrase that encrypts the CA's private keys at rest.
pub const PASSPHRASE_ENV: &str = "PLATFORM_CA_PASSPHRASE";

/// Server certificates are reissued when fewer days than this are left.
const SERVER_RENEW_DAYS: i64 = 30;
/// Validity of the agency port's server certificate.
const SERVER_VALIDITY_DAYS: u32 = 365;

/// The CA and the server identity of one platform process.
#[derive(Debug)]
pub struct Pki {
    ca: ca::CertificateAuthority,
    dir: PathBuf,
    client_validity_days: u32,
}

/// The agency port's TLS identity.
#[derive(Debug)]
pub struct ServerIdentity {
    /// Leaf then issuing CA, PEM.
    pub chain_pem: String,
    /// PKCS#8 private key, PEM.
    pub key_pem: Zeroizing<String>,
}

impl Pki {
    /// Loads the CA from `<data_dir>/ca`, creating it on first use.
    pub fn open(config: &Config) -> anyhow::Result<Pki> {
        let passphrase = std::env::var(PASSPHRASE_ENV).ok().filter(|p| !p.is_empty());
        let dir = config.data_dir.join("ca");
        let ca = ca::CertificateAuthority::load_or_create(
            &dir,
            &config.ca.organization,
            passphrase.as_deref(),
        )
        .with_context(|| format!("certificate authority in {}", dir.display()))?;
        Ok(Pki {
            ca,
            dir: config.data_dir.clone(),
            client_validity_days: config.ca.client_validity_days,
        })
    }

    /// The CA.
    pub fn ca(&self) -> &ca::CertificateAuthority {
        &self.ca
    }

    /// Fingerprint of the root CA, as agencies are told to check it.
    pub fn fingerprint(&self) -> String {
        self.ca.root_fingerprint().to_string()
    }

    /// The agency port's certificate and key from `<data_dir>/tls`, issued (and registered) when
    /// missing, close to expiry, from another CA, or for other names than `names`.
    pub fn server_identity(
        &self,
        conn: &mut DbConn,
        names: &[String],
    ) -> anyhow::Result<ServerIdentity> {
        let tls = self.dir.join("tls");
        std::fs::create_dir_all(&tls)
            .with_context(|| format!("cannot create {}", tls.display()))?;
        let key_path = tls.join("server.key");
        let cert_path = tls.join("server.crt");
        let key = match std::fs::read_to_string(&key_path) {
            Ok(pem) => ca::keys::PrivateKey::from_pem(&pem, None)
                .with_context(|| format!("server key {}", key_path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = ca::keys::PrivateKey::generate_p256()?;
                ca::write_private_file(&key_path, key.to_pem().as_bytes())?;
                key
            }
            Err(e) => return Err(e).context(format!("cannot read {}", key_path.display())),
        };
        if let Ok(chain) = std::fs::read_to_string(&cert_path)
            && self.server_cert_usable(&chain, &key, names)
        {
            return Ok(ServerIdentity {
                chain_pem: chain,
                key_pem: key.to_pem(),
            });
        }
        let issued = self.ca.issue_server(&key, names, SERVER_VALIDITY_DAYS)?;
        let chain_pem = format!("{}{}", issued.pem, self.ca.issuing_pem());
        crate::write_tx!(conn, |c| -> anyhow::Result<()> {
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
                serde_json::json!({"names": names, "not_after": issued.not_after.to_string()}),
            )?;
            Ok(())
        })?;
        ca::write_public_file(&cert_path, chain_pem.as_bytes())?;
        tracing::info!(serial = %issued.serial, names = ?names, "issued the agency port's server certificate");
        Ok(ServerIdentity {
            chain_pem,
            key_pem: key.to_pem(),
        })
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
        info.days_left(now) >= SERVER_RENEW_DAYS
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
    pub fn renew(
        &self,
        conn: &mut DbConn,
        agency_id: i64,
        current_serial: &str,
        csr_pem: &str,
    ) -> Result<(ca::Issued, Agency), ApiError> {
        crate::write_tx!(conn, |c| -> Result<_, ApiError> {
            let agency = active_agency(c.find_agency(agency_id)?)?;
            let issued = self.issue_for(&agency, csr_pem)?;
            c.insert_certificate(&NewCertificate {
                issued: &issued,
                agency_id: Some(agency.id),
                kind: certs::KIND_CLIENT,
                renewed_from: Some(current_serial),
            })?;
            c.audit(
                &Actor::Agency(agency.id),
                "cert.renew",
                Some(&issued.serial),
                serde_json::json!({"agency_id": agency.id, "renewed_from": current_serial, "not_after": issued.not_after.to_string()}),
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

    /// The current CRL, signed now, valid for a day.
    pub fn crl_pem(&self, conn: &mut DbConn) -> Result<String, ApiError> {
        let now = time::OffsetDateTime::now_utc();
        let rows = crate::with_conn!(conn, |c| c.revoked_unexpired(crate::db::now_ms()))?;
        let entries: Vec<ca::RevokedEntry> = rows
            .iter()
            .map(|r| ca::RevokedEntry {
                serial: r.serial.clone(),
                revoked_at: crate::listings::ms_to_time(r.revoked_at.unwrap_or(r.created_at)),
                reason: r
                    .revocation_reason
                    .as_deref()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(ca::RevocationReason::Unspecified),
            })
            .collect();
        self.ca
            .crl_pem(
                &entries,
                now.unix_timestamp() as u64,
                now,
                now + time::Duration::days(1),
            )
            .map_err(ApiError::internal)
    }
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
    };
    ApiError::Forbidden {
        code,
        message: message.into(),
    }
}

/// Where the CA keeps its files under a data directory.
pub fn ca_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("ca")
}
