//! The website port: health and metrics endpoints, and the buyer site (search, listings,
//! accounts, search history, saved searches, notifications, agency applications, enquiries). The admin
//! pages mount their routes from their own module.
//!
//! The site is server-rendered with askama templates (auto-escaped HTML), works without
//! JavaScript, and uses a little script only for live matches (server-sent events). Error
//! policy: the site answers humans, so errors are HTML pages ([`WebError`]) with a status and a
//! message saying what to do next; form mistakes are shown next to their field with status 422;
//! a 500 shows an opaque message and logs the cause.

pub mod account_manage;
pub mod accounts;
pub mod apply;
pub mod enquiry;
pub mod health;
pub mod limits;
pub mod notifications;
pub mod pages;
pub mod protocol;
pub mod saved;
pub mod search;
pub mod session;
pub mod streams;

use actix_web::{HttpResponse, ResponseError, http::StatusCode, web};

use crate::db::DbError;

/// Registers every route of the website port.
pub fn routes(cfg: &mut web::ServiceConfig) {
    health::routes(cfg);
    crate::notify::unsubscribe::routes(cfg);
    cfg.route("/static/site.css", web::get().to(pages::stylesheet))
        .route("/static/site.js", web::get().to(pages::script))
        .route("/favicon.svg", web::get().to(pages::favicon))
        .route("/favicon.ico", web::get().to(pages::favicon));
    search::routes(cfg);
    accounts::routes(cfg);
    account_manage::routes(cfg);
    saved::routes(cfg);
    notifications::routes(cfg);
    apply::routes(cfg);
    enquiry::routes(cfg);
}

/// Why a website request failed; each variant renders as an HTML page.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// No such page or listing.
    #[error("this page does not exist; go back to the search")]
    NotFound,
    /// The form's CSRF token is missing or wrong (an old page, or a forged request).
    #[error("this form has expired or did not come from this site; reload the page and try again")]
    Csrf,
    /// The page needs a signed-in user.
    #[error("sign in to see this page")]
    SignInRequired,
    /// A database error.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Anything else that is our fault.
    #[error("internal error: {0}")]
    Internal(String),
    /// Too many password checks at once (503 with `Retry-After`; nothing was changed).
    #[error("the site is very busy right now; try again in a few seconds")]
    Busy,
    /// A rate limit of this door was reached ([`limits::check`]): 429 with `Retry-After`;
    /// nothing was done.
    #[error("too many attempts from here; nothing was done. Try again in {}", wait_text(*retry_after_secs))]
    TooManyRequests {
        /// Seconds until the window ends.
        retry_after_secs: i64,
    },
}

/// "2 minutes", "1 hour": how long to wait, for people.
fn wait_text(secs: i64) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if secs >= 3600 {
        plural((secs + 3599) / 3600, "hour")
    } else if secs >= 60 {
        plural((secs + 59) / 60, "minute")
    } else {
        plural(secs.max(1), "second")
    }
}

impl From<diesel::result::Error> for WebError {
    fn from(e: diesel::result::Error) -> Self {
        WebError::Db(DbError::Query(e))
    }
}

impl From<crate::accounts::AccountError> for WebError {
    fn from(e: crate::accounts::AccountError) -> Self {
        match e {
            crate::accounts::AccountError::Db(e) => WebError::Db(e),
            crate::accounts::AccountError::Busy => WebError::Busy,
            other => WebError::Internal(other.to_string()),
        }
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> Self {
        WebError::Internal(format!("template: {e}"))
    }
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::Csrf => StatusCode::FORBIDDEN,
            WebError::SignInRequired => StatusCode::SEE_OTHER,
            WebError::Db(e) if e.is_outage() => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            WebError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            WebError::Db(_) | WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if matches!(self, WebError::SignInRequired) {
            return HttpResponse::SeeOther()
                .insert_header(("Location", protocol::SIGN_IN))
                .finish();
        }
        let status = self.status_code();
        if matches!(self, WebError::Busy) {
            tracing::warn!("password hashing is saturated: a request was answered 503");
            let mut page = pages::html(
                status,
                &pages::MessagePage {
                    layout: pages::Layout::anonymous("Busy"),
                    heading: "Very busy".to_owned(),
                    message: "The site is very busy right now. Nothing was changed: try again in a few seconds.".to_owned(),
                    link: Some(("/".to_owned(), "Back to the search".to_owned())),
                },
            );
            page.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from_static("5"),
            );
            return page;
        }
        let message = if status.is_server_error() {
            tracing::error!(error = %self, "website request failed");
            "Something went wrong on our side. Please try again in a moment.".to_owned()
        } else {
            let m = self.to_string();
            let mut chars = m.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().collect::<String>() + chars.as_str() + ".")
                .unwrap_or_default()
        };
        let mut page = pages::html(
            status,
            &pages::MessagePage {
                layout: pages::Layout::anonymous(status.canonical_reason().unwrap_or("Error")),
                heading: status.canonical_reason().unwrap_or("Error").to_owned(),
                message,
                link: Some(("/".to_owned(), "Back to the search".to_owned())),
            },
        );
        if let WebError::TooManyRequests { retry_after_secs } = self {
            page.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from(*retry_after_secs),
            );
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            page.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from(
                    crate::error::UNAVAILABLE_RETRY_AFTER_SECS,
                ),
            );
        }
        page
    }
}

/// A `303 See Other` to `location` (after a successful POST).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", location))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limit_is_a_429_page_with_retry_after() {
        let page = WebError::TooManyRequests {
            retry_after_secs: 900,
        }
        .error_response();
        assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            page.headers()
                .get(actix_web::http::header::RETRY_AFTER)
                .unwrap(),
            "900"
        );
        assert_eq!(wait_text(900), "15 minutes");
        assert_eq!(wait_text(3600), "1 hour");
        assert_eq!(wait_text(1), "1 second");
    }

    #[test]
    fn a_flood_of_password_checks_is_a_503_with_retry_after() {
        let busy = WebError::from(crate::accounts::AccountError::Busy).error_response();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            busy.headers()
                .get(actix_web::http::header::RETRY_AFTER)
                .unwrap(),
            "5"
        );
    }

    #[test]
    fn a_lost_database_connection_is_a_503_with_retry_after_on_both_ports() {
        use diesel::result::{DatabaseErrorKind, Error};
        let lost = || {
            Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection,
                Box::new("server closed the connection unexpectedly".to_owned()),
            )
        };
        let page = WebError::from(lost()).error_response();
        assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            page.headers()
                .contains_key(actix_web::http::header::RETRY_AFTER)
        );
        let api = crate::error::ApiError::from(lost()).error_response();
        assert_eq!(api.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            api.headers()
                .get(actix_web::http::header::RETRY_AFTER)
                .unwrap(),
            "5"
        );
        // A query that is wrong is still our fault, not an outage.
        let wrong = Error::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            Box::new("duplicate key".to_owned()),
        );
        assert_eq!(
            WebError::from(wrong).error_response().status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            crate::error::ApiError::from(Error::NotFound)
                .error_response()
                .status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
