//! `GET /api/v1/certificates/{serial}`: a signing certificate by serial, with the issuing CA that
//! signed it (also after a rollover) and its status in the register, so a desk can check any
//! signature itself: an agency's certificate (listings) or the platform's document-signing
//! certificate (take-down statements). Certificates are public (they only bind a public key to a
//! name), so any authenticated agency may fetch any of them; the platform's own server
//! certificate is not served. The record carries the certificate's fingerprint and, after a key
//! compromise, the date from which its signatures are not to be trusted (`compromised_since`).

use actix_web::{HttpResponse, web};
use api_types::api::CertificateRecord;

use super::AuthenticatedAgency;
use crate::error::ApiError;
use crate::listings::ms_to_time;
use crate::pki::CertificateStore;
use crate::pki::certs::{KIND_CLIENT, KIND_SIGNER};
use crate::state::AppState;

/// Mounts the route under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/certificates/{serial}", web::get().to(get_certificate));
}

/// A serial as the register keys it (lowercase hex), or an input error naming `serial`.
fn parse_serial(serial: &str) -> Result<String, ApiError> {
    let s = serial.trim().to_ascii_lowercase();
    if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::invalid_field(
            "serial",
            "a certificate serial is 1 to 64 hexadecimal digits (as in a change-feed event's CertificateSerial)",
        ));
    }
    Ok(s)
}

async fn get_certificate(
    state: web::Data<AppState>,
    _caller: AuthenticatedAgency,
    serial: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let serial = parse_serial(&serial)?;
    let s = serial.clone();
    let row = state
        .db
        .run(move |conn| Ok::<_, ApiError>(crate::with_conn!(conn, |c| c.find_certificate(&s))?))
        .await?;
    let row = row.filter(|r| {
        (r.kind == KIND_CLIENT && r.agency_id.is_some())
            || (r.kind == KIND_SIGNER && r.agency_id.is_none())
    });
    let Some(row) = row else {
        return Err(ApiError::NotFound {
            code: "certificate_not_found",
            message: format!(
                "no agency certificate and no platform signing certificate has serial {serial}"
            ),
        });
    };
    let mut certificate = row.pem.clone();
    if !certificate.ends_with('\n') {
        certificate.push('\n');
    }
    certificate.push_str(&state.pki().issuing_pem_of(&row.pem));
    Ok(HttpResponse::Ok().json(CertificateRecord {
        serial: row.serial.clone(),
        kind: row.kind.clone(),
        agency_id: row.agency_id,
        certificate,
        status: if row.is_revoked() { "revoked" } else { "valid" }.to_owned(),
        revoked_at: row.revoked_at.map(ms_to_time),
        revocation_reason: row.revocation_reason.clone(),
        compromised_since: row.compromised_since.map(ms_to_time),
        fingerprint: row.fingerprint.clone(),
        not_before: ms_to_time(row.not_before),
        not_after: ms_to_time(row.not_after),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_hex() {
        assert_eq!(parse_serial("0A1b").unwrap(), "0a1b");
        for bad in ["", "xyz", "12 34", &"a".repeat(65)] {
            assert!(parse_serial(bad).is_err(), "{bad:?}");
        }
    }
}
