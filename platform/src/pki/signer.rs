//! The platform's own document-signing key: it signs what the platform itself states, today an
//! operator's take-down of a listing, so a desk removes a listing only on a signature it can
//! check and never on the platform's (or its database's) bare word.
//!
//! The key is made on the node and kept 0600 under `<data_dir>/tls/signer.key`, like the agency
//! port's server key; its certificate (`signer.crt`, leaf then issuing CA) comes from the issuing
//! CA with extended key usage id-kp-documentSigning only (RFC 9336, so it can serve no TLS) and
//! the SAN URI `urn:listing-exchange:platform`, and is registered in `certificates` with kind
//! `signer` and audited, so `GET /api/v1/certificates/{serial}` serves it to desks. It is
//! reissued when missing, within [`SIGNER_RENEW_DAYS`] of its end, from another CA, for another
//! key, or not (or no longer validly) in the register. Several nodes sharing a database each
//! have their own; every statement names the serial that signed it.

use std::fmt;

use super::PkiError;
use super::error::Context;
use api_types::SignatureEnvelope;
use base64::Engine;

use super::Pki;
use super::certs::{self, CertificateStore, NewCertificate};
use crate::audit::{Actor, AuditLog};
use crate::db::DbConn;

/// Signing certificates are reissued when fewer days than this are left.
pub const SIGNER_RENEW_DAYS: i64 = 30;
/// Validity of the signing certificate (never past the issuing CA's end).
const SIGNER_VALIDITY_DAYS: u32 = 365;

/// The platform's document-signing key with its registered certificate.
pub struct PlatformSigner {
    key: ca::keys::PrivateKey,
    serial: String,
    chain_pem: String,
}

impl fmt::Debug for PlatformSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlatformSigner")
            .field("serial", &self.serial)
            .field("key", &"[elided]")
            .finish()
    }
}

impl PlatformSigner {
    /// Serial of the signing certificate (what a signed statement names).
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The certificate then the issuing CA, PEM.
    pub fn chain_pem(&self) -> &str {
        &self.chain_pem
    }

    /// A detached signature over `bytes` (ECDSA P-256, DER, base64).
    pub fn sign(&self, bytes: &[u8]) -> Result<SignatureEnvelope, ca::CaError> {
        let signature = self.key.sign(bytes)?;
        Ok(SignatureEnvelope {
            algorithm: signature.algorithm,
            value: base64::engine::general_purpose::STANDARD.encode(&signature.bytes),
        })
    }
}

impl Pki {
    /// The document-signing key and certificate from `<data_dir>/tls`, the key made and the
    /// certificate issued (registered and audited in one transaction) when needed; see the
    /// module documentation.
    pub fn platform_signer(&self, conn: &mut DbConn) -> Result<PlatformSigner, PkiError> {
        let tls = self.dir.join("tls");
        std::fs::create_dir_all(&tls).map_err(PkiError::io(format_args!(
            "cannot create {}",
            tls.display()
        )))?;
        let key_path = tls.join("signer.key");
        let cert_path = tls.join("signer.crt");
        let key = match std::fs::read_to_string(&key_path) {
            Ok(pem) => ca::keys::PrivateKey::from_pem(&pem, None)
                .with_context(|| format!("platform signing key {}", key_path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = ca::keys::PrivateKey::generate_p256()?;
                ca::write_private_file(&key_path, key.to_pem().as_bytes())?;
                key
            }
            Err(e) => {
                return Err(PkiError::io(format_args!(
                    "cannot read {}",
                    key_path.display()
                ))(e));
            }
        };
        if let Ok(chain) = std::fs::read_to_string(&cert_path)
            && let Some(serial) = self.signer_cert_usable(conn, &chain, &key)?
        {
            return Ok(PlatformSigner {
                key,
                serial,
                chain_pem: chain,
            });
        }
        let issued = self.ca.issue_signer(&key, SIGNER_VALIDITY_DAYS)?;
        let chain_pem = format!("{}{}", issued.pem, self.ca.issuing_pem());
        crate::write_tx!(conn, |c| -> Result<(), PkiError> {
            c.insert_certificate(&NewCertificate {
                issued: &issued,
                agency_id: None,
                kind: certs::KIND_SIGNER,
                renewed_from: None,
            })?;
            c.audit(
                &Actor::System,
                "cert.issue_signer",
                Some(&issued.serial),
                serde_json::json!({
                    "not_after": issued.not_after.to_string(),
                    "fingerprint": issued.fingerprint.to_hex(),
                }),
            )?;
            Ok(())
        })?;
        ca::write_public_file(&cert_path, chain_pem.as_bytes())?;
        tracing::info!(serial = %issued.serial, "issued the platform's document-signing certificate");
        Ok(PlatformSigner {
            key,
            serial: issued.serial,
            chain_pem,
        })
    }

    /// The serial of the stored signing certificate when it can go on being used.
    fn signer_cert_usable(
        &self,
        conn: &mut DbConn,
        chain: &str,
        key: &ca::keys::PrivateKey,
    ) -> Result<Option<String>, PkiError> {
        let Ok(ders) = ca::inspect::parse_chain_pem(chain) else {
            return Ok(None);
        };
        let Ok(info) = ca::inspect::parse_certificate_der(&ders[0]) else {
            return Ok(None);
        };
        let fits = info.days_left(time::OffsetDateTime::now_utc()) >= SIGNER_RENEW_DAYS
            && info.spki_der == key.public_key_der()
            && info.san_uris.iter().any(|u| u == ca::PLATFORM_SIGNER_URI)
            && ders
                .get(1)
                .is_some_and(|d| d.as_slice() == self.ca.issuing_der());
        if !fits {
            return Ok(None);
        }
        let registered = crate::with_conn!(conn, |c| c.find_certificate(&info.serial))?;
        Ok(registered
            .filter(|r| {
                r.kind == certs::KIND_SIGNER
                    && !r.is_revoked()
                    && r.fingerprint == info.fingerprint.to_hex()
            })
            .map(|r| r.serial))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::db_test!(
        the_signer_is_issued_once_registered_and_reissued_when_unusable,
        |db| {
            let (dir, state) = crate::testing::app_state(db);
            let mut conn = db.get().unwrap();
            let first = state.pki().platform_signer(&mut conn).unwrap();
            let key_path = dir.path().join("tls/signer.key");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "the key is the owner's only");
            }
            // Loaded again: the same certificate, nothing new registered.
            let again = state.pki().platform_signer(&mut conn).unwrap();
            assert_eq!(again.serial(), first.serial());
            let row = crate::with_conn!(&mut conn, |c| c.find_certificate(first.serial()))
                .unwrap()
                .unwrap();
            assert_eq!((row.kind.as_str(), row.agency_id), ("signer", None));
            let issued = crate::with_conn!(&mut conn, |c| c
                .audit_entries(Some("cert.issue_signer"), 10))
            .unwrap();
            assert_eq!(issued.len(), 1);
            // What it signs verifies with its certificate; it is not a TLS certificate.
            let envelope = first.sign(b"statement").unwrap();
            let der = ca::inspect::parse_chain_pem(first.chain_pem())
                .unwrap()
                .remove(0);
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(&envelope.value)
                .unwrap();
            ca::sign::verify_with_certificate(
                &der,
                ca::sign::SignatureAlgorithm::EcdsaP256Sha256,
                b"statement",
                &bytes,
            )
            .unwrap();
            let info = ca::inspect::parse_certificate_der(&der).unwrap();
            assert!(!info.eku_client_auth && !info.eku_server_auth);
            // Revoked in the register (e.g. the node's disk was copied): a new one is issued.
            crate::with_conn!(&mut conn, |c| c
                .revoke_certificate(first.serial(), ca::RevocationReason::KeyCompromise))
            .unwrap();
            let renewed = state.pki().platform_signer(&mut conn).unwrap();
            assert_ne!(renewed.serial(), first.serial());
            // Its file lost: issued again too.
            std::fs::remove_file(dir.path().join("tls/signer.crt")).unwrap();
            let third = state.pki().platform_signer(&mut conn).unwrap();
            assert_ne!(third.serial(), renewed.serial());
            let issued = crate::with_conn!(&mut conn, |c| c
                .audit_entries(Some("cert.issue_signer"), 10))
            .unwrap();
            assert_eq!(issued.len(), 3, "every issuance audited");
            assert!(!format!("{third:?}").contains("PRIVATE"));
        }
    );
}
