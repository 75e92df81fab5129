//! `/account/email`, `/account/password` and `/account/delete`: a signed-in user changes the
//! address or the password, or erases the account (the model is [`crate::accounts::manage`]).
//! Each asks for the current password. `/account/email/confirm` is the new address's link: a
//! page with a button (GET changes nothing), whoever opens it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::WebError;
use super::accounts::ConfirmPage;
use super::limits;
use super::pages::{self, FieldErrors, Layout, MessagePage};
use super::session::Visitor;
use crate::accounts::limiter::FAILURE_WINDOW_MS;
use crate::accounts::limiter::Policy;
use crate::accounts::manage::{self, Confirmed, EmailChange};
use crate::accounts::passwords::check_password;
use crate::email_address::EmailAddress;
use crate::state::AppState;

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/account/email", web::get().to(email_form))
        .route("/account/email", web::post().to(change_email))
        .route("/account/email/confirm", web::get().to(email_confirm_page))
        .route("/account/email/confirm", web::post().to(email_confirm))
        .route("/account/password", web::get().to(password_form))
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

/// A page whose form asks for the current password.
trait AsksPassword: Template {
    /// The page's field errors.
    fn errors(&mut self) -> &mut FieldErrors;
}

impl AsksPassword for PasswordPage {
    fn errors(&mut self) -> &mut FieldErrors {
        &mut self.errors
    }
}

impl AsksPassword for DeletePage {
    fn errors(&mut self) -> &mut FieldErrors {
        &mut self.errors
    }
}

impl AsksPassword for EmailPage {
    fn errors(&mut self) -> &mut FieldErrors {
        &mut self.errors
    }
}

/// The form again after a refused password: a 422 naming `field` for a wrong one, or a 429 with
/// `Retry-After` when the account is limited.
fn refused<T: AsksPassword>(
    visitor: &Visitor,
    mut page: T,
    field: &str,
    outcome: Confirmed,
) -> HttpResponse {
    if outcome != Confirmed::Limited {
        page.errors().add(field, WRONG);
        return pages::invalid(visitor, &page);
    }
    page.errors().add("form", LIMITED);
    let mut answer = pages::html(StatusCode::TOO_MANY_REQUESTS, &page);
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
        refusal => Ok(refused(&visitor, page, "current_password", refusal)),
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
        refusal => Ok(refused(&visitor, page, "password", refusal)),
    }
}

/// The change-of-address page.
#[derive(Debug, Template)]
#[template(path = "account_email.html")]
pub struct EmailPage {
    /// Frame.
    pub layout: Layout,
    /// The address now.
    pub email: String,
    /// The new address as typed.
    pub new_email: String,
    /// Mistakes by field (`form` for the whole form).
    pub errors: FieldErrors,
}

/// The change-of-address form.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct EmailForm {
    /// CSRF token.
    pub csrf: String,
    /// The address wanted.
    pub new_email: String,
    /// The password, to confirm.
    pub password: String,
}

/// The token of a link, from its query or its page's form.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TokenForm {
    /// The token.
    pub token: String,
}

/// `GET /account/email`.
async fn email_form(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, WebError> {
    let visitor = Visitor::load(&state, &req).await?;
    let user = visitor.require_user()?;
    let page = EmailPage {
        layout: Layout::new("Change your email address", &visitor),
        email: user.email.clone(),
        new_email: String::new(),
        errors: FieldErrors::new(),
    };
    Ok(pages::ok(&visitor, &page))
}

/// `POST /account/email`.
async fn change_email(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<EmailForm>,
) -> Result<HttpResponse, WebError> {
    let visitor = Visitor::load(&state, &req).await?;
    let user = visitor.require_user()?.clone();
    visitor.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let mut page = EmailPage {
        layout: Layout::new("Change your email address", &visitor),
        email: user.email.clone(),
        new_email: form.new_email.trim().to_owned(),
        errors: FieldErrors::new(),
    };
    let new = match EmailAddress::parse(&form.new_email) {
        Ok(e) if e.key() == user.email => {
            page.errors
                .add("new_email", "That is your address already.");
            None
        }
        Ok(e) => Some(e),
        Err(e) => {
            page.errors.add("new_email", e);
            None
        }
    };
    if form.password.is_empty() {
        page.errors
            .add("password", "Type your password to confirm.");
    }
    let Some(new) = new.filter(|_| page.errors.is_empty()) else {
        return Ok(pages::invalid(&visitor, &page));
    };
    limits::check(&state, &req, &Policy::CHANGE_EMAIL, Some(&user.email)).await?;
    let outcome = manage::request_email_change(
        &state.db,
        &state.config.web.public_url,
        user.id,
        &user.email,
        form.password,
        &new,
    )
    .await?;
    match outcome {
        Confirmed::Done => {
            let page = MessagePage {
                layout: Layout::new("Check your new address", &visitor),
                heading: "Check your new address".into(),
                message: format!(
                    "We sent a link to {}. Open it within 24 hours to use that address; until then your account keeps {}.",
                    new.key(),
                    user.email
                ),
                link: Some(("/account".into(), "Back to your account".into())),
            };
            Ok(pages::ok(&visitor, &page))
        }
        refusal => Ok(refused(&visitor, page, "password", refusal)),
    }
}

/// `GET /account/email/confirm?token=…`: the link from the new address's mail; a button.
async fn email_confirm_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<TokenForm>,
) -> Result<HttpResponse, WebError> {
    let visitor = Visitor::load(&state, &req).await?;
    let token = q.into_inner().token;
    match manage::check_email_change(&state.db, token.clone()).await? {
        EmailChange::Changed(_, new) => {
            let page = ConfirmPage {
                layout: Layout::new("Confirm your new address", &visitor),
                heading: "Confirm your new address".to_owned(),
                message: format!("Press the button to use {new} for your account."),
                action: "/account/email/confirm".to_owned(),
                token,
                button: "Use this address".to_owned(),
            };
            Ok(visitor.finish(pages::html(StatusCode::OK, &page)))
        }
        other => Ok(visitor.finish(email_change_outcome(&visitor, other))),
    }
}

/// `POST /account/email/confirm` (the page's button).
async fn email_confirm(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, WebError> {
    let visitor = Visitor::load(&state, &req).await?;
    limits::check(&state, &req, &Policy::VERIFY, None).await?;
    let outcome = manage::confirm_email_change(&state.db, form.into_inner().token).await?;
    Ok(visitor.finish(email_change_outcome(&visitor, outcome)))
}

/// The page saying how a change of address ended.
fn email_change_outcome(visitor: &Visitor, outcome: EmailChange) -> HttpResponse {
    let (status, heading, message): (StatusCode, &str, String) = match outcome {
        EmailChange::Changed(_, new) => (
            StatusCode::OK,
            "Email address changed",
            format!("Your account now uses {new}. Sign in with it from now on."),
        ),
        EmailChange::Taken => (
            StatusCode::CONFLICT,
            "That address is taken",
            "Another account uses this address now, so nothing changed. Sign in to that account, or ask for the change again with another address.".to_owned(),
        ),
        EmailChange::Expired => (
            StatusCode::GONE,
            "This link has expired",
            "Change-of-address links work for 24 hours. Ask for the change again from your account page.".to_owned(),
        ),
        EmailChange::Invalid => (
            StatusCode::NOT_FOUND,
            "This link does not work",
            "It was already used, replaced by a newer request, or is incomplete.".to_owned(),
        ),
    };
    let page = MessagePage {
        layout: Layout::new(heading, visitor),
        heading: heading.to_owned(),
        message,
        link: Some(("/account".into(), "Your account".into())),
    };
    pages::html(status, &page)
}
