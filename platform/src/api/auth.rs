//! Who is calling the agency API: the [`AuthenticatedAgency`] extractor. It takes the result of
//! the per-connection chain check ([`PeerCheck`]) and, on every request, checks expiry again (a
//! connection may outlive its certificate), the certificate register (so a revocation takes
//! effect on the very next request) and the agency's status.
//!
//! The register check binds the whole certificate: the SHA-256 fingerprint of the certificate
//! presented must be the one registered under its serial. Serials are public (the change feed
//! carries them), so a certificate made with the issuing key for another key and a copied serial
//! is refused (`certificate_mismatch`) and the attempt audited. The first request with a
//! certificate records its first use and, for a renewal, retires the certificate it renewed.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use super::tls::PeerCheck;
use crate::agencies::{Agency, AgencyStatus, AgencyStore};
use crate::audit::{Actor, AuditLog};
use crate::error::ApiError;
use crate::pki::CertificateStore;
use crate::state::AppState;

/// An active agency that presented a valid, unrevoked certificate of its own.
#[derive(Debug, Clone)]
pub struct AuthenticatedAgency {
    /// The agency.
    pub agency: Agency,
    /// Serial of the certificate it presented.
    pub serial: String,
    /// That certificate (DER), whose key signs the agency's listings.
    pub certificate_der: Vec<u8>,
}

impl FromRequest for AuthenticatedAgency {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<AuthenticatedAgency, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let check = req.conn_data::<PeerCheck>().cloned();
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("no state"))?;
            let peer = match check {
                Some(PeerCheck(Ok(peer))) => peer,
                Some(PeerCheck(Err(refusal))) => {
                    return Err(ApiError::Unauthenticated {
                        code: refusal.code,
                        message: refusal.message,
                    });
                }
                None => {
                    return Err(ApiError::Unauthenticated {
                        code: "certificate_required",
                        message: "this route needs a client certificate over TLS".into(),
                    });
                }
            };
            if peer.not_after <= time::OffsetDateTime::now_utc() {
                return Err(ApiError::Unauthenticated {
                    code: "certificate_expired",
                    message: "the client certificate has expired; ask the operator for a new enrolment token".into(),
                });
            }
            state
                .db
                .run(move |conn| {
                    let row = crate::with_conn!(conn, |c| {
                        let Some(row) = c.find_certificate(&peer.serial)? else {
                            refused(c, &peer, "not_registered")?;
                            return Err(ApiError::Unauthenticated {
                                code: "certificate_unknown",
                                message: "this certificate is not in the platform's register; enrol again".into(),
                            });
                        };
                        let presented = ca::inspect::Fingerprint::of(&peer.der).to_hex();
                        if presented != row.fingerprint {
                            refused(c, &peer, "fingerprint_mismatch")?;
                            return Err(ApiError::Unauthenticated {
                                code: "certificate_mismatch",
                                message: format!(
                                    "this is not the certificate the platform issued with serial {}; it was refused and the attempt recorded. Use the certificate your desk received at enrolment or renewal",
                                    peer.serial
                                ),
                            });
                        }
                        if row.agency_id != Some(peer.agency_id) || row.kind != crate::pki::certs::KIND_CLIENT {
                            return Err(ApiError::Unauthenticated {
                                code: "certificate_invalid",
                                message: "this certificate does not belong to an agency".into(),
                            });
                        }
                        if row.is_revoked() {
                            return Err(ApiError::Forbidden {
                                code: "certificate_revoked",
                                message: format!(
                                    "certificate {} was revoked ({}); ask the platform operator for a new enrolment token",
                                    row.serial,
                                    row.revocation_reason.as_deref().unwrap_or("unspecified")
                                ),
                            });
                        }
                        Ok::<_, ApiError>(row)
                    })?;
                    let agency = crate::with_conn!(conn, |c| c.find_agency(peer.agency_id))?
                        .ok_or_else(|| ApiError::Forbidden {
                            code: "agency_not_active",
                            message: "the agency no longer exists".into(),
                        })?;
                    if agency.status() != AgencyStatus::Active {
                        return Err(ApiError::Forbidden {
                            code: "agency_not_active",
                            message: format!(
                                "agency {} is {}; publishing is blocked; contact the platform operator",
                                agency.id,
                                agency.status().code()
                            ),
                        });
                    }
                    if row.first_used_at.is_none() {
                        // First use, and the retirement of the renewed certificate, commit
                        // together with their audit entry or not at all.
                        crate::write_tx!(conn, |c| -> Result<(), ApiError> {
                            if c.mark_first_use(&row.serial, crate::db::now_ms())?
                                && let Some(previous) = &row.renewed_from
                            {
                                retire_predecessor(c, agency.id, previous, &row.serial)?;
                            }
                            Ok(())
                        })?;
                    }
                    Ok(AuthenticatedAgency {
                        agency,
                        serial: peer.serial,
                        certificate_der: peer.der,
                    })
                })
                .await
        })
    }
}

/// Audits a certificate from the platform's own CA that the register does not know (or knows
/// with another fingerprint): whoever made it holds the issuing key or a copy of the register.
fn refused<C: AuditLog>(
    c: &mut C,
    peer: &super::tls::PeerCertificate,
    why: &str,
) -> Result<(), ApiError> {
    c.audit(
        &Actor::Public,
        "cert.refused",
        Some(&peer.serial),
        serde_json::json!({
            "why": why,
            "claimed_agency_id": peer.agency_id,
            "fingerprint": ca::inspect::Fingerprint::of(&peer.der).to_hex(),
        }),
    )?;
    tracing::warn!(serial = %peer.serial, agency = peer.agency_id, why, "refused a certificate of the platform's CA that is not in the register");
    Ok(())
}

/// The first use of a renewed certificate revokes the one it replaced (reason superseded).
fn retire_predecessor<C>(
    c: &mut C,
    agency_id: i64,
    previous: &str,
    current: &str,
) -> Result<(), ApiError>
where
    C: CertificateStore + AuditLog,
{
    let Some(old) = c.find_certificate(previous)? else {
        return Ok(());
    };
    if old.is_revoked() || old.agency_id != Some(agency_id) {
        return Ok(());
    }
    c.revoke_certificate(previous, ca::RevocationReason::Superseded)?;
    c.audit(
        &Actor::Agency(agency_id),
        "cert.supersede",
        Some(previous),
        serde_json::json!({"by": current}),
    )?;
    Ok(())
}
