//! Who is calling the agency API: the [`AuthenticatedAgency`] extractor. It takes the result of
//! the per-connection chain check ([`PeerCheck`]) and, on every request, checks expiry again (a
//! connection may outlive its certificate), the certificate register (so a revocation takes
//! effect on the very next request) and the agency's status.

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
            let state = state.ok_or_else(|| ApiError::internal(anyhow::anyhow!("no state")))?;
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
                    crate::with_conn!(conn, |c| {
                        let Some(row) = c.find_certificate(&peer.serial)? else {
                            return Err(ApiError::Unauthenticated {
                                code: "certificate_unknown",
                                message: "this certificate is not in the platform's register; enrol again".into(),
                            });
                        };
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
                        let agency = c.find_agency(peer.agency_id)?.ok_or_else(|| ApiError::Forbidden {
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
                        if let Some(previous) = &row.renewed_from {
                            // Revocation and its audit entry commit together or not at all.
                            diesel::Connection::transaction(c, |c| {
                                retire_predecessor(c, agency.id, previous, &row.serial)
                            })?;
                        }
                        Ok(AuthenticatedAgency {
                            agency,
                            serial: peer.serial,
                            certificate_der: peer.der,
                        })
                    })
                })
                .await
        })
    }
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
