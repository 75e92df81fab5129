//! Agencies: the list by state (applications first), one agency with its desks, certificates,
//! unused enrolment tokens and listings, and the actions: approve, reject with a reason mailed
//! to the applicant, suspend, reinstate, issue or void an enrolment token. Each action is one
//! function of [`crate::admin`], as `platform agency …` calls it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::action::{ActionPage, perform};
use super::session::operator;
use super::{ConsoleError, Layout, html, notice, when};
use crate::admin::{self, AgencyDetails, AgencySummary};
use crate::agencies::AgencyStatus;
use crate::listings::ListingRow;
use crate::listings::operator::ListingOverview;
use crate::pki::CertificateStore;
use crate::pki::certs::CertificateRow;
use crate::state::AppState;

/// Registers the agency pages and actions.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/agencies", web::get().to(list))
        .route("/agencies/{id}", web::get().to(show))
        .route("/agencies/{id}/{action}", web::post().to(act));
}

/// `?status=&done=`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    /// Only this status.
    pub status: String,
    /// The outcome of the last action.
    pub done: Option<String>,
}

/// The agency list.
#[derive(Debug, Template)]
#[template(path = "console/agencies.html")]
pub struct AgenciesPage {
    /// Frame.
    pub layout: Layout,
    /// The status filter ("" for all).
    pub status: String,
    /// The agencies, applications first.
    pub agencies: Vec<AgencySummary>,
    /// When each applied.
    pub applied: Vec<String>,
}

async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let (visitor, _) = operator(&state, &req).await?;
    let status = match query.status.as_str() {
        "" => None,
        s => Some(AgencyStatus::from_code(s).ok_or_else(|| {
            ConsoleError::Invalid(format!(
                "status {s:?}: use pending, active, rejected or suspended"
            ))
        })?),
    };
    let mut agencies = state
        .db
        .run(move |conn| -> Result<_, ConsoleError> { Ok(admin::list_agencies(conn, status)?) })
        .await?;
    // Applications first, then the rest oldest first.
    agencies.sort_by_key(|a| (a.agency.status() != AgencyStatus::Pending, a.agency.id));
    let mut layout = visitor.layout("Agencies", "agencies");
    layout.notice = notice(query.done.as_deref());
    let applied = agencies.iter().map(|a| when(a.agency.created_at)).collect();
    Ok(visitor.finish(html(
        StatusCode::OK,
        &AgenciesPage {
            layout,
            status: query.status.clone(),
            agencies,
            applied,
        },
    )))
}

/// One agency.
#[derive(Debug, Template)]
#[template(path = "console/agency.html")]
pub struct AgencyPage {
    /// Frame.
    pub layout: Layout,
    /// The agency, desks and tokens.
    pub d: AgencyDetails,
    /// Its certificates, newest first.
    pub certificates: Vec<CertificateRow>,
    /// Certificates' end dates, worded.
    pub cert_ends: Vec<String>,
    /// Its listings, newest change first.
    pub listings: Vec<ListingRow>,
    /// When it applied.
    pub applied: String,
}

/// `?done=`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DoneQuery {
    /// The outcome of the last action.
    pub done: Option<String>,
}

async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<i64>,
    query: web::Query<DoneQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let (visitor, _) = operator(&state, &req).await?;
    let mut layout = visitor.layout("Agency", "agencies");
    layout.notice = notice(query.done.as_deref());
    render_agency(&state, &visitor, layout, path.into_inner(), StatusCode::OK).await
}

async fn render_agency(
    state: &AppState,
    visitor: &super::session::ConsoleVisitor,
    mut layout: Layout,
    id: i64,
    status: StatusCode,
) -> Result<HttpResponse, ConsoleError> {
    let (d, certificates, listings) = state
        .db
        .run(move |conn| -> Result<_, ConsoleError> {
            let d = admin::agency_details(conn, id)?;
            let (certs, listings) = crate::with_conn!(conn, |c| {
                Ok::<_, diesel::result::Error>((
                    c.list_certificates(Some(id))?,
                    c.operator_listings(None, Some(id), None, 100)?,
                ))
            })?;
            Ok((d, certs, listings))
        })
        .await?;
    layout.title = format!("Agency {} · {}", d.agency.id, d.agency.name);
    let cert_ends = certificates.iter().map(|c| when(c.not_after)).collect();
    let applied = when(d.agency.created_at);
    Ok(visitor.finish(html(
        status,
        &AgencyPage {
            layout,
            d,
            certificates,
            cert_ends,
            listings,
            applied,
        },
    )))
}

/// An action's form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ActionForm {
    /// CSRF token.
    pub csrf: String,
    /// Why (reject).
    pub reason: String,
}

async fn act(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(i64, String)>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, ConsoleError> {
    let (id, action) = path.into_inner();
    let config = state.config.clone();
    let fingerprint = state.pki().fingerprint();
    let reason = form.reason.clone();
    perform(
        &state,
        &req,
        &form.csrf,
        ActionPage::new(format!("/agencies/{id}"), "Agency", "agencies"),
        move |conn, actor| {
            Ok(match action.as_str() {
                "approve" => {
                    let approval = admin::approve_agency(conn, actor, &config, &fingerprint, id)?;
                    if approval.token.is_some() {
                        "approved"
                    } else {
                        "reinstated"
                    }
                }
                "reinstate" => {
                    admin::approve_agency(conn, actor, &config, &fingerprint, id)?;
                    "reinstated"
                }
                "reject" => {
                    if reason.trim().is_empty() {
                        return Err(ConsoleError::Invalid(
                            "say why the application is rejected; the applicant reads it".into(),
                        ));
                    }
                    admin::reject_agency(conn, actor, id, Some(&reason))?;
                    "rejected"
                }
                "suspend" => {
                    admin::suspend_agency(conn, actor, id)?;
                    "suspended"
                }
                "token" => {
                    admin::new_token(conn, actor, &config, &fingerprint, id)?;
                    "token"
                }
                "void-tokens" => {
                    admin::void_tokens(conn, actor, id)?;
                    "voided"
                }
                _ => return Err(ConsoleError::NotFound),
            })
        },
        async |visitor, layout, status| render_agency(&state, visitor, layout, id, status).await,
    )
    .await
}
