//! The account pages: register, confirm the email address, sign in and out, reset a forgotten
//! password, and the account page with email preferences. Each handler parses the form, calls
//! one function of [`crate::accounts`] (which owns the queries, hashing and the limiter) and
//! renders the outcome.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::limits;
use super::pages::{self, FieldErrors, Layout, MessagePage, SelectOption};
use super::session::{Visitor, client_addr};
use super::{WebError, see_other};
use crate::accounts::limiter::Policy;
use crate::accounts::passwords::check_password;
use crate::accounts::tokens::TokenOutcome;
use crate::accounts::{self, NotifyMode, SignIn};
use crate::email_address::EmailAddress;
use crate::state::AppState;

/// Registers the account routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/account/register", web::get().to(register_form))
        .route("/account/register", web::post().to(register))
        .route("/account/verify", web::get().to(verify_page))
        .route("/account/verify", web::post().to(verify))
        .route("/account/sign-in", web::get().to(sign_in_form))
        .route("/account/sign-in", web::post().to(sign_in))
        .route("/account/sign-out", web::post().to(sign_out))
        .route("/account/forgot", web::get().to(forgot_form))
        .route("/account/forgot", web::post().to(forgot))
        .route("/account/reset", web::get().to(reset_form))
        .route("/account/reset", web::post().to(reset))
        .route("/account", web::get().to(account))
        .route("/account/preferences", web::post().to(preferences));
}

/// Register / sign-in / forgot form fields.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CredentialsForm {
    /// CSRF token.
    pub csrf: String,
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
    /// Reset token (reset form only).
    pub token: String,
    /// Sign-in only: the page to return to (the one that asked the visitor to sign in).
    pub next: String,
}

/// The registration, sign-in, forgot-password and reset forms.
#[derive(Debug, Template)]
#[template(path = "credentials.html")]
pub struct CredentialsPage {
    /// Frame.
    pub layout: Layout,
    /// `register`, `sign-in`, `forgot` or `reset`.
    pub mode: &'static str,
    /// Heading.
    pub heading: &'static str,
    /// Form action.
    pub action: &'static str,
    /// Email as typed.
    pub email: String,
    /// Reset token (reset only).
    pub token: String,
    /// Sign-in only: the page to return to after.
    pub next: String,
    /// Mistakes by field (`form` for the whole form).
    pub errors: FieldErrors,
}

impl CredentialsPage {
    fn new(mode: &'static str, visitor: &Visitor) -> CredentialsPage {
        let (heading, action) = match mode {
            "register" => ("Create an account", "/account/register"),
            "sign-in" => ("Sign in", "/account/sign-in"),
            "forgot" => ("Forgot your password?", "/account/forgot"),
            _ => ("Choose a new password", "/account/reset"),
        };
        CredentialsPage {
            layout: Layout::new(heading, visitor),
            mode,
            heading,
            action,
            email: String::new(),
            token: String::new(),
            next: String::new(),
            errors: FieldErrors::new(),
        }
    }
}

fn message(
    visitor: &Visitor,
    heading: &str,
    text: &str,
    link: Option<(&str, &str)>,
) -> MessagePage {
    MessagePage {
        layout: Layout::new(heading, visitor),
        heading: heading.to_owned(),
        message: text.to_owned(),
        link: link.map(|(h, t)| (h.to_owned(), t.to_owned())),
    }
}

async fn form_page(
    state: &AppState,
    req: &HttpRequest,
    mode: &'static str,
    token: String,
) -> Result<HttpResponse, WebError> {
    let mut visitor = Visitor::load(state, req).await?;
    visitor.ensure_session(state).await?;
    let mut page = CredentialsPage::new(mode, &visitor);
    page.token = token;
    Ok(pages::ok(&visitor, &page))
}

async fn register_form(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, WebError> {
    form_page(&state, &req, "register", String::new()).await
}

/// `?next=` of the sign-in page.
#[derive(Debug, Default, Deserialize)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

async fn sign_in_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<NextQuery>,
) -> Result<HttpResponse, WebError> {
    let mut visitor = Visitor::load(&state, &req).await?;
    visitor.ensure_session(&state).await?;
    let mut page = CredentialsPage::new("sign-in", &visitor);
    page.next = super::protocol::safe_next(&q.next).to_owned();
    if page.next == "/" {
        page.next.clear();
    }
    Ok(pages::ok(&visitor, &page))
}

async fn forgot_form(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, WebError> {
    form_page(&state, &req, "forgot", String::new()).await
}

/// Query of the links in emails.
#[derive(Debug, Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

async fn reset_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<TokenQuery>,
) -> Result<HttpResponse, WebError> {
    form_page(&state, &req, "reset", q.into_inner().token).await
}

/// `POST /account/register`.
async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CredentialsForm>,
) -> Result<HttpResponse, WebError> {
    let visitor = Visitor::load(&state, &req).await?;
    visitor.check_csrf(&form.csrf)?;
    let mut page = CredentialsPage::new("register", &visitor);
    page.email = form.email.trim().to_owned();
    let email = EmailAddress::parse(&form.email);
    if let Err(e) = &email {
        page.errors.add("email", e.clone());
    }
    if let Err(e) = check_password(&form.password) {
        page.errors.add("password", e);
    }
    let Ok(email) = email else {
        return Ok(pages::invalid(&visitor, &page));
    };
    if !page.errors.is_empty() {
        return Ok(pages::invalid(&visitor, &page));
    }
    limits::check(&state, &req, &Policy::REGISTER, Some(&email.key())).await?;
    let password = form.into_inner().password;
    accounts::register(&state.db, &state.config.web.public_url, &email, password).await?;
    let page = message(
        &visitor,
        "Check your email",
        "We sent a link to confirm your address. Open it within 24 hours, then sign in.",
        Some(("/account/sign-in", "Go to sign in")),
    );
    Ok(pages::ok(&visitor, &page))
}

/// The confirmation link's page: a button that confirms (a POST).
#[derive(Debug, Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    /// Frame.
    pub layout: Layout,
    /// Heading.
    pub heading: String,
    /// What the button does.
    pub message: String,
    /// Where the form posts.
    pub action: String,
    /// The token from the link, posted back.
    pub token: String,
    /// The button's label.
    pub button: String,
}

/// `GET /account/verify?token=…`: the link from the email. Changes nothing (mail scanners and
/// link previews open links): a valid link shows a button that confirms.
async fn verify_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<TokenQuery>,
) -> Result<HttpResponse, WebError> {
    let visitor = Visitor::load(&state, &req).await?;
    let token = q.into_inner().token;
    let outcome = accounts::check_verify_token(&state.db, token.clone()).await?;
    if let TokenOutcome::Used(_) = outcome {
        let page = ConfirmPage {
            layout: Layout::new("Confirm your email", &visitor),
            heading: "Confirm your email".to_owned(),
            message: "Press the button to confirm this address for your account.".to_owned(),
            action: "/account/verify".to_owned(),
            token,
            button: "Confirm my email".to_owned(),
        };
        return Ok(visitor.finish(pages::html(StatusCode::OK, &page)));
    }
    Ok(visitor.finish(verify_outcome(&visitor, outcome)))
}

/// `POST /account/verify` (the confirmation page's button): uses the token.
async fn verify(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<TokenQuery>,
) -> Result<HttpResponse, WebError> {
    let visitor = Visitor::load(&state, &req).await?;
    limits::check(&state, &req, &Policy::VERIFY, None).await?;
    let outcome = accounts::verify_email(&state.db, form.into_inner().token).await?;
    Ok(visitor.finish(verify_outcome(&visitor, outcome)))
}

/// The page saying how a confirmation ended.
fn verify_outcome(visitor: &Visitor, outcome: TokenOutcome) -> HttpResponse {
    let (status, page) = match outcome {
        TokenOutcome::Used(_) => (
            StatusCode::OK,
            message(
                visitor,
                "Email confirmed",
                "Your address is confirmed. You can sign in now.",
                Some(("/account/sign-in", "Sign in")),
            ),
        ),
        TokenOutcome::Expired => (
            StatusCode::GONE,
            message(
                visitor,
                "This link has expired",
                "Confirmation links work for 24 hours. Sign in with your email and password and we will send you a new one.",
                Some(("/account/sign-in", "Sign in")),
            ),
        ),
        TokenOutcome::Invalid => (
            StatusCode::NOT_FOUND,
            message(
                visitor,
                "This link does not work",
                "It was already used or is incomplete. If your address is confirmed, just sign in.",
                Some(("/account/sign-in", "Sign in")),
            ),
        ),
    };
    pages::html(status, &page)
}

/// What a refused sign-in says, whether the password was wrong or the address is not confirmed
/// yet (for which a new confirmation link has just been sent to it).
pub const SIGN_IN_REFUSED: &str = "Wrong email or password, or your address is not confirmed yet: \
     if it is not, we have just sent a new confirmation link to it.";

/// `POST /account/sign-in`.
async fn sign_in(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CredentialsForm>,
) -> Result<HttpResponse, WebError> {
    let mut visitor = Visitor::load(&state, &req).await?;
    visitor.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let mut page = CredentialsPage::new("sign-in", &visitor);
    page.email = form.email.trim().to_owned();
    page.next = form.next.clone();
    let addr = client_addr(&req, &state.config.web);
    let outcome = accounts::sign_in(
        &state.db,
        &state.config.web.public_url,
        &form.email,
        &addr,
        form.password,
    )
    .await?;
    match outcome {
        SignIn::Limited { retry_after_secs } => {
            page.errors.add(
                "form",
                format!(
                    "Too many failed sign-ins from here. Wait {} minutes and try again, or reset your password.",
                    (retry_after_secs + 59) / 60
                ),
            );
            let mut answer = pages::html(StatusCode::TOO_MANY_REQUESTS, &page);
            answer.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from(retry_after_secs),
            );
            Ok(visitor.finish(answer))
        }
        // One answer for both: telling them apart would tell whoever registered someone
        // else's address with a password of their own whether that address had an account.
        SignIn::WrongCredentials | SignIn::Unconfirmed => {
            page.errors.add("form", SIGN_IN_REFUSED);
            Ok(pages::invalid(&visitor, &page))
        }
        SignIn::SignedIn(user_id) => {
            visitor.start(&state, Some(user_id)).await?;
            Ok(visitor.finish(see_other(super::protocol::safe_next(&form.next))))
        }
    }
}

/// A form with only a CSRF token.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CsrfForm {
    /// CSRF token.
    pub csrf: String,
}

/// `POST /account/sign-out`.
async fn sign_out(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    let mut visitor = Visitor::load(&state, &req).await?;
    visitor.check_csrf(&form.csrf)?;
    if let Some(session) = &visitor.session {
        state.streams.end_session(&session.id_hash);
    }
    visitor.end(&state).await?;
    Ok(visitor.finish(see_other("/")))
}

/// `POST /account/forgot`.
async fn forgot(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CredentialsForm>,
) -> Result<HttpResponse, WebError> {
    let visitor = Visitor::load(&state, &req).await?;
    visitor.check_csrf(&form.csrf)?;
    let email = match EmailAddress::parse(&form.email) {
        Ok(e) => e,
        Err(e) => {
            let mut page = CredentialsPage::new("forgot", &visitor);
            page.email = form.email.trim().to_owned();
            page.errors.add("email", e);
            return Ok(pages::invalid(&visitor, &page));
        }
    };
    limits::check(&state, &req, &Policy::FORGOT, Some(&email.key())).await?;
    accounts::request_reset(&state.db, &state.config.web.public_url, &email).await?;
    let page = message(
        &visitor,
        "Check your email",
        "If an account uses this address, we sent it a link to choose a new password. The link works for one hour.",
        None,
    );
    Ok(pages::ok(&visitor, &page))
}

/// `POST /account/reset`.
async fn reset(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CredentialsForm>,
) -> Result<HttpResponse, WebError> {
    let visitor = Visitor::load(&state, &req).await?;
    visitor.check_csrf(&form.csrf)?;
    limits::check(&state, &req, &Policy::RESET, None).await?;
    let form = form.into_inner();
    if let Err(e) = check_password(&form.password) {
        let mut page = CredentialsPage::new("reset", &visitor);
        page.token = form.token;
        page.errors.add("password", e);
        return Ok(pages::invalid(&visitor, &page));
    }
    let outcome = accounts::reset_password(&state.db, form.token, form.password).await?;
    if let TokenOutcome::Used(user) = outcome {
        state.streams.end_user(user);
    }
    let (status, page) = match outcome {
        TokenOutcome::Used(_) => (
            StatusCode::OK,
            message(
                &visitor,
                "Password changed",
                "Your new password is set, and every other session was signed out. Sign in with the new password.",
                Some(("/account/sign-in", "Sign in")),
            ),
        ),
        TokenOutcome::Expired => (
            StatusCode::GONE,
            message(
                &visitor,
                "This link has expired",
                "Reset links work for one hour. Ask for a new one.",
                Some(("/account/forgot", "Ask for a new link")),
            ),
        ),
        TokenOutcome::Invalid => (
            StatusCode::NOT_FOUND,
            message(
                &visitor,
                "This link does not work",
                "It was already used or is incomplete. Ask for a new one.",
                Some(("/account/forgot", "Ask for a new link")),
            ),
        ),
    };
    Ok(visitor.finish(pages::html(status, &page)))
}

/// The account page.
#[derive(Debug, Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    /// Frame.
    pub layout: Layout,
    /// The user's email.
    pub email: String,
    /// Email preference options.
    pub modes: Vec<SelectOption>,
}

/// `GET /account`.
async fn account(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let visitor = Visitor::load(&state, &req).await?;
    let user = visitor.require_user()?;
    let page = AccountPage {
        layout: Layout::new("Your account", &visitor),
        email: user.email.clone(),
        modes: mode_options(user.notify_mode),
    };
    Ok(pages::ok(&visitor, &page))
}

fn mode_options(current: NotifyMode) -> Vec<SelectOption> {
    SelectOption::list(
        &[
            ("instant", "Right away, one email per batch of matches"),
            ("daily", "Once a day, a digest"),
            ("off", "Never (matches still show on the site)"),
        ],
        current.code(),
    )
}

/// The email-preferences form.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PreferencesForm {
    /// CSRF token.
    pub csrf: String,
    /// `instant`, `daily` or `off`.
    pub notify_mode: String,
}

/// `POST /account/preferences`.
async fn preferences(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<PreferencesForm>,
) -> Result<HttpResponse, WebError> {
    let visitor = Visitor::load(&state, &req).await?;
    let user = visitor.require_user()?.clone();
    visitor.check_csrf(&form.csrf)?;
    let Some(mode) = NotifyMode::from_code(&form.notify_mode) else {
        let mut page = AccountPage {
            layout: Layout::new("Your account", &visitor),
            email: user.email.clone(),
            modes: mode_options(user.notify_mode),
        };
        page.layout.notice = Some("Choose one of the three email options.".into());
        return Ok(pages::invalid(&visitor, &page));
    };
    accounts::set_notify_mode(&state.db, user.id, mode).await?;
    Ok(see_other("/account?saved=1"))
}
