//! `/agencies/apply`: an agency asks to publish on the platform. The application is stored as a
//! pending agency (audited as a public action); an operator vets it later.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::WebError;
use super::pages::{self, FieldErrors, Layout};
use super::session::Visitor;
use crate::agencies::{AgencyStatus, AgencyStore, NewAgency};
use crate::audit::{Actor, AuditLog};
use crate::state::AppState;

/// Registers the application routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/agencies/apply", web::get().to(form))
        .route("/agencies/apply", web::post().to(apply));
}

/// The application form as submitted.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ApplicationForm {
    /// CSRF token.
    pub csrf: String,
    /// Trading name.
    pub name: String,
    /// Licence number.
    pub licence: String,
    /// Contact email.
    pub email: String,
}

/// The application page.
#[derive(Debug, Template)]
#[template(path = "apply.html")]
pub struct ApplyPage {
    /// Frame.
    pub layout: Layout,
    /// What was typed.
    pub form: ApplicationForm,
    /// Mistakes by field.
    pub errors: FieldErrors,
}

async fn form(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let mut visitor = Visitor::load(&state, &req).await?;
    visitor.ensure_session(&state).await?;
    let page = ApplyPage {
        layout: Layout::new("Apply to publish listings", &visitor),
        form: ApplicationForm::default(),
        errors: FieldErrors::new(),
    };
    Ok(pages::ok(&visitor, &page))
}

async fn apply(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<ApplicationForm>,
) -> Result<HttpResponse, WebError> {
    let visitor = Visitor::load(&state, &req).await?;
    visitor.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let invalid = |errors: FieldErrors| ApplyPage {
        layout: Layout::new("Apply to publish listings", &visitor),
        form: ApplicationForm {
            csrf: String::new(),
            ..form.clone()
        },
        errors,
    };
    let new = match NewAgency::parse(&form.name, &form.licence, &form.email) {
        Ok(n) => n,
        Err(e) => {
            return Ok(pages::invalid(
                &visitor,
                &invalid(FieldErrors::one(e.field, e.message)),
            ));
        }
    };
    super::limits::check(
        &state,
        &req,
        &crate::accounts::limiter::Policy::AGENCY_APPLICATION,
        Some(&form.email),
    )
    .await?;
    let stored = state
        .db
        .run(move |conn| -> Result<_, WebError> {
            crate::write_tx!(conn, |c| -> Result<_, WebError> {
                let Some(agency) = c.insert_agency(&new, AgencyStatus::Pending)? else {
                    return Ok(None);
                };
                c.audit(
                    &Actor::Public,
                    "agency.apply",
                    Some(&agency.id.to_string()),
                    serde_json::json!({"name": agency.name, "licence": agency.licence}),
                )?;
                Ok(Some(agency))
            })
        })
        .await?;
    let Some(agency) = stored else {
        let errors = FieldErrors::one(
            "licence",
            "an agency with this licence number is already registered; if it is yours, contact the platform operator",
        );
        return Ok(visitor.finish(pages::html(
            actix_web::http::StatusCode::CONFLICT,
            &invalid(errors),
        )));
    };
    let page = pages::MessagePage {
        layout: Layout::new("Application received", &visitor),
        heading: "Application received".into(),
        message: format!(
            "Thank you. {} (licence {}) is now waiting for review. We will write to {} when an operator has checked it.",
            agency.name, agency.licence, agency.email
        ),
        link: Some(("/".into(), "Back to the search".into())),
    };
    Ok(pages::ok(&visitor, &page))
}
