//! The CA's downloads beside `/ca/root.pem`, `/ca/chain.pem` and `/ca/crl.pem`, without a
//! client certificate: DER forms (what the CRL distribution point and CA-issuers addresses in
//! certificates name), the root's CRL, and every issuing CA (current or retired) with its CRL
//! by key identifier, so a certificate's addresses keep working after a rollover.
//!
//! | route | what |
//! |---|---|
//! | `/ca/root.der` | the root certificate |
//! | `/ca/issuing.pem`, `/ca/issuing.der` | the current issuing CA |
//! | `/ca/crl.der` | the current issuing CA's CRL (as `/ca/crl.pem`) |
//! | `/ca/root-crl.pem`, `/ca/root-crl.der` | the root's CRL, covering the issuing CAs |
//! | `/ca/issuing/{key id}.der`, `.pem` | an issuing CA by its subject key identifier (hex) |
//! | `/ca/issuing/{key id}/crl.der`, `crl.pem` | that issuing CA's CRL |

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::error::ApiError;
use crate::pki::CaStore;
use crate::pki::custody::ROLE_ISSUING;
use crate::state::AppState;

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ca/root.der", web::get().to(root_der))
        .route("/ca/issuing.pem", web::get().to(issuing_pem))
        .route("/ca/issuing.der", web::get().to(issuing_der))
        .route("/ca/crl.der", web::get().to(crl_der))
        .route("/ca/root-crl.pem", web::get().to(root_crl_pem))
        .route("/ca/root-crl.der", web::get().to(root_crl_der))
        .route("/ca/issuing/{file}", web::get().to(issuing_by_id))
        .route("/ca/issuing/{id}/{file}", web::get().to(issuing_crl_by_id));
}

fn der(content_type: &'static str, body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

fn cert_der(body: Vec<u8>) -> HttpResponse {
    der("application/pkix-cert", body)
}

fn crl_der_response(body: Vec<u8>) -> HttpResponse {
    der("application/pkix-crl", body)
}

async fn root_der(state: web::Data<AppState>) -> HttpResponse {
    cert_der(state.pki().ca().root_der().to_vec())
}

async fn issuing_pem(state: web::Data<AppState>) -> HttpResponse {
    super::pem(state.pki().ca().issuing_pem().to_owned())
}

async fn issuing_der(state: web::Data<AppState>) -> HttpResponse {
    cert_der(state.pki().ca().issuing_der().to_vec())
}

async fn crl_der(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let key_id = state.pki().ca().issuing_key_id().to_vec();
    let row = issuing_crl(&state, key_id).await?;
    Ok(crl_der_response(row.der().map_err(ApiError::internal)?))
}

async fn root_crl_pem(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    let row = state.db.run(move |conn| st.pki().root_crl(conn)).await?;
    Ok(super::pem(row.pem))
}

async fn root_crl_der(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    let row = state.db.run(move |conn| st.pki().root_crl(conn)).await?;
    Ok(crl_der_response(row.der().map_err(ApiError::internal)?))
}

async fn issuing_crl(
    state: &web::Data<AppState>,
    key_id: Vec<u8>,
) -> Result<crate::pki::CrlRow, ApiError> {
    let st = state.clone();
    state
        .db
        .run(move |conn| st.pki().issuing_crl(conn, &key_id))
        .await
}

/// A key identifier in a download path: lowercase or uppercase hex.
fn key_id(text: &str) -> Result<Vec<u8>, ApiError> {
    hex::decode(text)
        .ok()
        .filter(|id| !id.is_empty() && id.len() <= 64)
        .ok_or_else(|| ApiError::NotFound {
            code: "no_such_ca",
            message: format!(
                "{text:?} is not a CA key identifier (hex); see /ca/chain.pem for the current issuing CA"
            ),
        })
}

async fn issuing_by_id(
    state: web::Data<AppState>,
    file: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let file = file.into_inner();
    let (id, as_pem) = match (file.strip_suffix(".der"), file.strip_suffix(".pem")) {
        (Some(id), _) => (id.to_owned(), false),
        (_, Some(id)) => (id.to_owned(), true),
        _ => {
            return Err(ApiError::NotFound {
                code: "no_such_route",
                message: "an issuing CA is downloaded as /ca/issuing/{key id}.der or .pem".into(),
            });
        }
    };
    let wanted = hex::encode(key_id(&id)?);
    let known = state
        .pki()
        .ca()
        .issuing_cas()
        .into_iter()
        .find(|i| i.key_id_hex() == wanted)
        .map(|i| i.der);
    let der = match known {
        Some(der) => der,
        None => {
            let rows = state
                .db
                .run(move |conn| {
                    Ok::<_, ApiError>(crate::with_conn!(conn, |c| c.ca_certificates())?)
                })
                .await?;
            rows.into_iter()
                .find(|r| r.role == ROLE_ISSUING && r.key_id == wanted)
                .and_then(|r| r.der())
                .ok_or_else(|| ApiError::NotFound {
                    code: "no_such_ca",
                    message: format!("no issuing CA of this platform has key id {wanted}"),
                })?
        }
    };
    Ok(if as_pem {
        super::pem(pem::encode_config(
            &pem::Pem::new("CERTIFICATE", der),
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        ))
    } else {
        cert_der(der)
    })
}

async fn issuing_crl_by_id(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, file) = path.into_inner();
    let as_pem = match file.as_str() {
        "crl.der" => false,
        "crl.pem" => true,
        _ => {
            return Err(ApiError::NotFound {
                code: "no_such_route",
                message:
                    "an issuing CA's CRL is downloaded as /ca/issuing/{key id}/crl.der or crl.pem"
                        .into(),
            });
        }
    };
    let row = issuing_crl(&state, key_id(&id)?).await?;
    Ok(if as_pem {
        super::pem(row.pem)
    } else {
        crl_der_response(row.der().map_err(ApiError::internal)?)
    })
}
