//! Certificates: the register, filtered (agency, state, kind, serial, ending within 30 days);
//! one certificate's details (subject, serial, validity, fingerprint, its chain, PEM download)
//! and its revocation with an RFC 5280 reason (one function of [`crate::admin`], as `platform
//! cert revoke`); and the state of the issuing CA's CRL.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::action::{ActionPage, perform};
use super::session::{ConsoleVisitor, operator};
use super::{ConsoleError, Layout, html, notice, when};
use crate::admin;
use crate::pki::certs::CertificateRow;
use crate::pki::{CertificateStore, Revocation};
use crate::state::AppState;

/// Registers the certificate pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/certificates", web::get().to(list))
        .route("/certificates/{serial}/pem", web::get().to(pem))
        .route("/certificates/{serial}", web::get().to(show))
        .route("/certificates/{serial}/revoke", web::post().to(revoke));
}

/// The reasons an operator may give, as `platform cert revoke --reason` takes them.
pub const REASONS: [&str; 6] = [
    "key_compromise",
    "superseded",
    "cessation_of_operation",
    "affiliation_changed",
    "privilege_withdrawn",
    "unspecified",
];

/// The list's filters.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Filters {
    /// Only this agency's.
    pub agency: Option<i64>,
    /// `valid`, `revoked`, `expired` or empty.
    pub state: String,
    /// `client`, `server`, `signer` or empty.
    pub kind: String,
    /// Serial contains.
    pub serial: String,
    /// Only those ending within 30 days.
    pub expiring: Option<u8>,
}

/// The register page.
#[derive(Debug, Template)]
#[template(path = "console/certificates.html")]
pub struct CertificatesPage {
    /// Frame.
    pub layout: Layout,
    /// Filters as given.
    pub f: Filters,
    /// Matching certificates (at most 500), with their state and end worded.
    pub rows: Vec<(CertificateRow, &'static str, String)>,
    /// The current issuing CA's CRL: number, this update, next update.
    pub crl: Option<(i64, String, String)>,
}

fn state_of(cert: &CertificateRow, now: i64) -> &'static str {
    if cert.is_revoked() {
        "revoked"
    } else if cert.not_after <= now {
        "expired"
    } else {
        "valid"
    }
}

async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<Filters>,
) -> Result<HttpResponse, ConsoleError> {
    let (visitor, _) = operator(&state, &req).await?;
    let f = query.into_inner();
    let agency = f.agency;
    let pki = state.pki.clone();
    let (certs, crl) = state
        .db
        .run(move |conn| -> Result<_, ConsoleError> {
            let certs = crate::with_conn!(conn, |c| c.list_certificates(agency))?;
            let crl = pki.issuing_crl(conn, pki.ca().issuing_key_id()).ok();
            Ok((certs, crl))
        })
        .await?;
    let now = crate::db::now_ms();
    let serial = f.serial.trim().to_ascii_lowercase().replace(':', "");
    let rows = certs
        .into_iter()
        .filter(|c| f.kind.is_empty() || c.kind == f.kind)
        .filter(|c| f.state.is_empty() || state_of(c, now) == f.state)
        .filter(|c| serial.is_empty() || c.serial.contains(&serial))
        .filter(|c| {
            f.expiring.is_none()
                || (state_of(c, now) == "valid"
                    && c.not_after <= now + crate::admin::overview::EXPIRING_DAYS * 86_400_000)
        })
        .take(500)
        .map(|c| {
            let s = state_of(&c, now);
            let end = when(c.not_after);
            (c, s, end)
        })
        .collect();
    Ok(visitor.finish(html(
        StatusCode::OK,
        &CertificatesPage {
            layout: visitor.layout("Certificates", "certificates"),
            f,
            rows,
            crl: crl.map(|r| (r.crl_number, when(r.this_update), when(r.next_update))),
        },
    )))
}

/// One certificate.
#[derive(Debug, Template)]
#[template(path = "console/certificate.html")]
pub struct CertificatePage {
    /// Frame.
    pub layout: Layout,
    /// The certificate.
    pub cert: CertificateRow,
    /// `valid`, `revoked` or `expired`.
    pub state: &'static str,
    /// Validity, worded.
    pub not_before: String,
    /// Validity, worded.
    pub not_after: String,
    /// Revoked at, worded.
    pub revoked_at: Option<String>,
    /// Its issuing CA certificate, PEM.
    pub issuer_pem: String,
    /// The reasons offered.
    pub reasons: [&'static str; 6],
}

/// `?done=`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DoneQuery {
    /// Outcome of the last action.
    pub done: Option<String>,
}

async fn find(state: &AppState, serial: String) -> Result<CertificateRow, ConsoleError> {
    let serial = serial.to_ascii_lowercase();
    state
        .db
        .run(move |conn| -> Result<_, ConsoleError> {
            Ok(crate::with_conn!(conn, |c| c.find_certificate(&serial))?)
        })
        .await?
        .ok_or(ConsoleError::NotFound)
}

async fn render(
    state: &AppState,
    visitor: &ConsoleVisitor,
    mut layout: Layout,
    serial: String,
    status: StatusCode,
) -> Result<HttpResponse, ConsoleError> {
    let cert = find(state, serial).await?;
    let now = crate::db::now_ms();
    layout.title = format!("Certificate {}", cert.serial);
    Ok(visitor.finish(html(
        status,
        &CertificatePage {
            layout,
            state: state_of(&cert, now),
            not_before: when(cert.not_before),
            not_after: when(cert.not_after),
            revoked_at: cert.revoked_at.map(when),
            issuer_pem: state.pki().issuing_pem_of(&cert.pem),
            cert,
            reasons: REASONS,
        },
    )))
}

async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<DoneQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let (visitor, _) = operator(&state, &req).await?;
    let mut layout = visitor.layout("Certificate", "certificates");
    layout.notice = notice(query.done.as_deref());
    render(&state, &visitor, layout, path.into_inner(), StatusCode::OK).await
}

async fn pem(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let (visitor, _) = operator(&state, &req).await?;
    let cert = find(&state, path.into_inner()).await?;
    let chain = format!(
        "{}\n{}",
        cert.pem.trim_end(),
        state.pki().issuing_pem_of(&cert.pem).trim_end()
    );
    Ok(visitor.finish(
        HttpResponse::Ok()
            .content_type("application/x-pem-file")
            .insert_header((
                "Content-Disposition",
                format!("attachment; filename=\"{}.pem\"", cert.serial),
            ))
            .body(chain + "\n"),
    ))
}

/// The revocation form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RevokeForm {
    /// CSRF token.
    pub csrf: String,
    /// An RFC 5280 reason, snake_case.
    pub reason: String,
}

async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<RevokeForm>,
) -> Result<HttpResponse, ConsoleError> {
    let serial = path.into_inner();
    let reason = form.reason.clone();
    let pki = state.pki.clone();
    let named = serial.clone();
    perform(
        &state,
        &req,
        &form.csrf,
        ActionPage::new(
            format!("/certificates/{serial}"),
            "Certificate",
            "certificates",
        ),
        move |conn, actor| {
            let reason = reason.parse::<ca::RevocationReason>().map_err(|_| {
                ConsoleError::Invalid(format!(
                    "reason {reason:?}: choose one of {}",
                    REASONS.join(", ")
                ))
            })?;
            admin::revoke_certificate(
                conn,
                actor,
                &named,
                Revocation {
                    reason,
                    compromised_since: None,
                },
            )?;
            // The CRL is rebuilt now, so the download reflects the revocation at once (the
            // revocation stands even if this fails: the timer rebuilds it).
            if let Err(e) = pki.crl_pem(conn) {
                tracing::warn!(error = %e, "CRL not rebuilt after a revocation; the timer will");
            }
            Ok("revoked")
        },
        async |visitor, layout, status| render(&state, visitor, layout, serial, status).await,
    )
    .await
}
