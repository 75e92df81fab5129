//! The operator console: its own listener (`admin.listen`, default `127.0.0.1:8081`), apart
//! from the website, serving server-rendered pages (askama, no scripts at all) and `/metrics`.
//!
//! Security, as the website's and more: console sessions are their own table and cookie
//! ([`session`]), so a buyer's website session opens nothing here; every state-changing form
//! carries the session's CSRF token; every answer carries a strict CSP (`default-src 'none'`,
//! only the console's own stylesheet, forms only to itself, no frames) and the other security
//! headers ([`security_headers`]); sign-in is rate limited per account and per address, and
//! needs the password and then a TOTP code ([`auth`]). Each action goes through
//! [`action::perform`] (operator, CSRF, then one function of [`crate::admin`], which the
//! `platform` command line calls too, and which audits it with the operator's identity in the
//! same transaction).
//!
//! Error policy: the console answers operators, so errors are HTML pages ([`ConsoleError`])
//! that say what to do; a refused action (wrong state, bad input) is shown on the page it came
//! from; a 500 shows an opaque message and logs the cause.

pub mod action;
pub mod agencies;
pub mod audit;
pub mod auth;
pub mod certificates;
pub mod charts;
pub mod dashboard;
pub mod listings;
pub mod mail;
pub mod session;
pub mod users;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError, web};
use askama::Template;

use crate::admin::AdminError;
use crate::db::DbError;

/// The console's stylesheet, embedded in the binary.
pub const STYLESHEET: &str = include_str!("../../static/console.css");

/// The Content-Security-Policy of every console answer: nothing but the console's own
/// stylesheet and inline SVG charts' images; forms post only to the console; no frames.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Registers every route of the admin listener.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/console.css", web::get().to(stylesheet))
        .route(
            "/metrics",
            web::get().to(crate::web::health::metrics_handler),
        )
        .route(
            "/healthz",
            web::get().to(crate::web::health::healthz_handler),
        );
    auth::routes(cfg);
    dashboard::routes(cfg);
    agencies::routes(cfg);
    certificates::routes(cfg);
    listings::routes(cfg);
    users::routes(cfg);
    audit::routes(cfg);
    mail::routes(cfg);
}

/// The security headers every console answer carries (set unless a handler set its own).
pub fn security_headers() -> actix_web::middleware::DefaultHeaders {
    actix_web::middleware::DefaultHeaders::new()
        .add(("Content-Security-Policy", CSP))
        .add(("X-Frame-Options", "DENY"))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add(("Cache-Control", "no-store"))
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "private, max-age=3600"))
        .body(STYLESHEET)
}

/// Why a console request failed; each variant renders as an HTML page.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleError {
    /// No such page or record.
    #[error("this page does not exist")]
    NotFound,
    /// The form's CSRF token is missing or wrong.
    #[error(
        "this form has expired or did not come from the console; reload the page and try again"
    )]
    Csrf,
    /// Not signed in (303 to the sign-in page).
    #[error("sign in to the console")]
    SignInRequired,
    /// Password checked, TOTP code not yet (303 to the second-factor page).
    #[error("enter the code from your authenticator app")]
    SecondFactorRequired,
    /// Bad input in a query string or form.
    #[error("{0}")]
    Invalid(String),
    /// A database error.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Anything else that is our fault.
    #[error("internal error: {0}")]
    Internal(String),
    /// Too many password checks at once (503; nothing was changed).
    #[error("the console is very busy right now; try again in a few seconds")]
    Busy,
}

impl From<diesel::result::Error> for ConsoleError {
    fn from(e: diesel::result::Error) -> Self {
        ConsoleError::Db(DbError::Query(e))
    }
}

impl From<askama::Error> for ConsoleError {
    fn from(e: askama::Error) -> Self {
        ConsoleError::Internal(format!("template: {e}"))
    }
}

impl From<crate::accounts::AccountError> for ConsoleError {
    fn from(e: crate::accounts::AccountError) -> Self {
        match e {
            crate::accounts::AccountError::Db(e) => ConsoleError::Db(e),
            crate::accounts::AccountError::Busy => ConsoleError::Busy,
            other => ConsoleError::Internal(other.to_string()),
        }
    }
}

impl From<AdminError> for ConsoleError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::NotFound(_) => ConsoleError::NotFound,
            AdminError::Db(e) => ConsoleError::Db(DbError::Query(e)),
            other => ConsoleError::Invalid(other.to_string()),
        }
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::NotFound => StatusCode::NOT_FOUND,
            ConsoleError::Csrf => StatusCode::FORBIDDEN,
            ConsoleError::SignInRequired | ConsoleError::SecondFactorRequired => {
                StatusCode::SEE_OTHER
            }
            ConsoleError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ConsoleError::Db(DbError::Pool(_)) | ConsoleError::Busy => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ConsoleError::Db(_) | ConsoleError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ConsoleError::SignInRequired => return see_other("/sign-in"),
            ConsoleError::SecondFactorRequired => return see_other("/second-factor"),
            _ => {}
        }
        let status = self.status_code();
        let message = if status.is_server_error() {
            tracing::error!(error = %self, "console request failed");
            "Something went wrong on our side; the cause is in the platform's log.".to_owned()
        } else {
            self.to_string()
        };
        html(
            status,
            &MessagePage {
                layout: Layout::bare(status.canonical_reason().unwrap_or("Error")),
                heading: status.canonical_reason().unwrap_or("Error").to_owned(),
                message,
            },
        )
    }
}

/// A `303 See Other` to `location`.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", location))
        .finish()
}

/// Renders `page` with `status`.
pub fn html<T: Template>(status: StatusCode, page: &T) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "console template failed");
            HttpResponse::InternalServerError().body("Something went wrong on our side.")
        }
    }
}

/// The frame of every console page.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// Page title.
    pub title: String,
    /// The signed-in operator's email (fully signed in only).
    pub operator: Option<String>,
    /// CSRF token for forms on the page.
    pub csrf: String,
    /// Which navigation entry is current.
    pub section: &'static str,
    /// A one-line notice (the outcome of the last action).
    pub notice: Option<String>,
    /// A refusal to show at the top (the action was not done).
    pub refusal: Option<String>,
}

impl Layout {
    /// A frame for nobody in particular (error pages).
    pub fn bare(title: &str) -> Layout {
        Layout {
            title: title.to_owned(),
            ..Default::default()
        }
    }
}

/// A page with a heading and a message.
#[derive(Debug, Template)]
#[template(path = "console/message.html")]
pub struct MessagePage {
    /// Frame.
    pub layout: Layout,
    /// Heading.
    pub heading: String,
    /// Message.
    pub message: String,
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM UTC` for pages.
pub fn when(ms: i64) -> String {
    let t = crate::listings::ms_to_time(ms);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// The notice after an action's redirect (`?done=CODE`): only known codes are worded, so a
/// crafted link cannot put words on an operator's page.
pub fn notice(done: Option<&str>) -> Option<String> {
    let text = match done? {
        "approved" => "Approved; the enrolment token was emailed to the agency.",
        "reinstated" => "Reinstated; the agency's certificates work again.",
        "rejected" => "Rejected; the applicant was told by email, with the reason.",
        "suspended" => "Suspended; the agency's requests are refused from now on.",
        "token" => {
            "A new enrolment token was emailed to the agency; older unused ones stop working."
        }
        "voided" => "The unused enrolment tokens were voided.",
        "revoked" => "Revoked; refused from the next request, listed in the CRL.",
        "taken-down" => "Taken down; desks remove it on the signed statement.",
        "restored" => "Restored; the listing is visible again.",
        "disabled" => "Disabled; the user is signed out and cannot sign in.",
        "enabled" => "Enabled; the user can sign in again.",
        "resent" => "A new confirmation link was emailed.",
        "retried" => "The mail is due again; the worker sends it on its next round.",
        "discarded" => "The mail was discarded; it will not be sent.",
        _ => return None,
    };
    Some(text.to_owned())
}

#[cfg(test)]
#[macro_use]
mod tests;
#[cfg(test)]
mod pages_tests;
