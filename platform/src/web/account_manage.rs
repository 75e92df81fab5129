//! `/account/password` and `/account/delete`: a signed-in user changes the password or erases
//! the account (the model is [`crate::accounts::manage`]). Both ask for the current password.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::WebError;
use super::pages::{self, FieldErrors, Layout, MessagePage};
use super::session::Visitor;
use crate::accounts::limiter::FAILURE_WINDOW_MS;
use crate::accounts::manage::{self, Confirmed};
use crate::accounts::passwords::check_password;
use crate::state::AppState;

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/account/password", web::get().to(password_form))
        .route("/account/password", web::post().to(change_password))
        .route("/account/delete", web::get().to(delete_form))
        .route("/account/delete", web::post().to(delete_account));
}

/// The change-password page.
#[derive(Debug, Template)]
#[template(path = "account_password.html")]
pub struct PasswordPage {
    /// Frame.
    pub layout: Layout,
    /// Mistakes by field (`form` for the whole form).
    pub errors: FieldErrors,
}

/// The delete-account page.
#[derive(Debug, Template)]
#[template(path = "account_delete.html")]
pub struct DeletePage {
    /// Frame.
    pub layout: Layout,
    /// The account's email.
    pub email: String,
    /// Mistakes by field (`form` for the whole form).
    pub errors: FieldErrors,
}

/// The change-password form.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PasswordForm {
    /// CSRF token.
    pub csrf: String,
    /// The password now.
    pub current_password: String,
    /// The one wanted.
    pub new_password: String,
}

/// The delete-account form.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DeleteForm {
    /// CSRF token.
    pub csrf: String,
    /// The password, to confirm.
    pub password: String,
}

const WRONG: &str = "That is not your current password.";
const LIMITED: &str =
    "Too many wrong passwords. Wait 15 minutes and try again, or reset your password.";

/// The page with a 422, or a 429 with `Retry-After` when the account is limited.
fn refused<T: Template>(visitor: &Visitor, page: &T, limited: bool) -> HttpResponse {
    if !limited {
        return pages::invalid(visitor, page);
    }
    let mut answer = pages::html(StatusCode::TOO_MANY_REQUESTS, page);
    answer.headers_mut().insert(
        actix_web::http::header::RETRY_AFTER,
        actix_web::http::header::HeaderValue::from(FAILURE_WINDOW_MS / 1000),
    );
    visitor.finish(answer)
}

/// `GET /account/password`.
async fn password_form(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, WebError> {
    let visitor = Visitor::load(&state, &req).await?;
    visitor.require_user()?;
    let page = PasswordPage {
        layout: Layout::new("Change your password", &visitor),
        errors: FieldErrors::new(),
    };
    Ok(pages::ok(&visitor, &page))
}

/// `POST /account/password`.
async fn change_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, WebError> {
    let visitor = Visitor::load(&state, &req).await?;
    let user = visitor.require_user()?.clone();
    visitor.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let mut page = PasswordPage {
        layout: Layout::new("Change your password", &visitor),
        errors: FieldErrors::new(),
    };
    if form.current_password.is_empty() {
        page.errors
            .add("current_password", "Type your current password.");
    }
    if let Err(e) = check_password(&form.new_password) {
        page.errors
            .add("new_password", format!("New password: {e}."));
    } else if form.new_password == form.current_password {
        page.errors.add(
            "new_password",
            "Choose a password other than the current one.",
        );
    }
    if !page.errors.is_empty() {
        return Ok(pages::invalid(&visitor, &page));
    }
    let keep = visitor.session.as_ref().map(|s| s.id_hash.clone());
    let outcome = manage::change_password(
        &state.db,
        user.id,
        &user.email,
        form.current_password,
        form.new_password,
        keep,
    )
    .await?;
    match outcome {
        Confirmed::Done => {
            // Live streams of the other sessions end with them (this page's reconnects).
            state.streams.end_user(user.id);
            let page = MessagePage {
                layout: Layout::new("Password changed", &visitor),
                heading: "Password changed".into(),
                message: "Your new password is set. Everywhere else you were signed in is signed out; this browser stays signed in.".into(),
                link: Some(("/account".into(), "Back to your account".into())),
            };
            Ok(pages::ok(&visitor, &page))
        }
        Confirmed::WrongPassword => {
            page.errors.add("current_password", WRONG);
            Ok(refused(&visitor, &page, false))
        }
        Confirmed::Limited => {
            page.errors.add("form", LIMITED);
            Ok(refused(&visitor, &page, true))
        }
    }
}

/// `GET /account/delete`: asks first.
async fn delete_form(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, WebError> {
    let visitor = Visitor::load(&state, &req).await?;
    let user = visitor.require_user()?;
    let page = DeletePage {
        layout: Layout::new("Delete your account", &visitor),
        email: user.email.clone(),
        errors: FieldErrors::new(),
    };
    Ok(pages::ok(&visitor, &page))
}

/// `POST /account/delete`.
async fn delete_account(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<DeleteForm>,
) -> Result<HttpResponse, WebError> {
    let mut visitor = Visitor::load(&state, &req).await?;
    let user = visitor.require_user()?.clone();
    visitor.check_csrf(&form.csrf)?;
    let mut page = DeletePage {
        layout: Layout::new("Delete your account", &visitor),
        email: user.email.clone(),
        errors: FieldErrors::new(),
    };
    if form.password.is_empty() {
        page.errors
            .add("password", "Type your password to confirm.");
        return Ok(pages::invalid(&visitor, &page));
    }
    let outcome =
        manage::delete_account(&state.db, user.id, &user.email, form.into_inner().password).await?;
    match outcome {
        Confirmed::Done => {
            state.streams.end_user(user.id);
            // The session row went with the account; the browser forgets the cookie.
            visitor.end(&state).await?;
            let page = MessagePage {
                layout: Layout::new("Account deleted", &visitor),
                heading: "Your account is deleted".into(),
                message: "Your account and everything kept for it are erased. No more email will be sent to this address.".into(),
                link: Some(("/".into(), "Go to the home page".into())),
            };
            Ok(visitor.finish(pages::html(StatusCode::OK, &page)))
        }
        Confirmed::WrongPassword => {
            page.errors.add("password", WRONG);
            Ok(refused(&visitor, &page, false))
        }
        Confirmed::Limited => {
            page.errors.add("form", LIMITED);
            Ok(refused(&visitor, &page, true))
        }
    }
}
