//! Accounts: register, confirm the email address, sign in and out, reset a forgotten password,
//! and the account page with email preferences.
//!
//! * Passwords are hashed with argon2id, m = 19456 KiB, t = 2, p = 1 (OWASP), on the blocking
//!   pool; an unknown email is checked against a dummy hash so timing does not tell which
//!   addresses have accounts.
//! * Email links carry a random 256-bit token; only its SHA-256 is stored. A verification link
//!   lives [`VERIFY_TTL_MS`], a reset link [`RESET_TTL_MS`]; each works once.
//! * Sign-in failures are counted per account and per client address (see
//!   [`super::session::client_addr`]); after [`MAX_FAILURES`] within [`FAILURE_WINDOW_MS`]
//!   further attempts are refused with a clear message until the window passes.
//! * Registering an address that already has an account, or asking a reset for an unknown one,
//!   shows the same page as success, so the site does not reveal who has an account.

use std::sync::OnceLock;

use actix_web::{HttpRequest, HttpResponse, web};
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use askama::Template;
use diesel::prelude::*;
use serde::Deserialize;

use super::pages::{self, FieldErrors, Layout, MessagePage, SelectOption};
use super::schema::{email_tokens, sign_in_attempts, web_sessions};
use super::session::{Visitor, client_addr, random_token, sha256_hex};
use super::{WebError, see_other};
use crate::db::schema::users;
use crate::email_address::EmailAddress;
use crate::notify::outbox::{MailKind, NewNotification, OutboxStore};
use crate::state::AppState;

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted (argon2 handles any length; this bounds the work per request).
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// Lifetime of an email verification link.
pub const VERIFY_TTL_MS: i64 = 24 * 3_600_000;
/// Lifetime of a password reset link.
pub const RESET_TTL_MS: i64 = 3_600_000;
/// Failed sign-ins allowed per account and per address within the window.
pub const MAX_FAILURES: i64 = 5;
/// The rate-limit window.
pub const FAILURE_WINDOW_MS: i64 = 15 * 60_000;

/// Registers the account routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/account/register", web::get().to(register_form))
        .route("/account/register", web::post().to(register))
        .route("/account/verify", web::get().to(verify))
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

fn argon2() -> Argon2<'static> {
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19_456, 2, 1, None).expect("valid argon2 parameters"),
    )
}

/// Hashes a password (PHC string). Slow on purpose: call it on the blocking pool.
pub fn hash_password(password: &str) -> Result<String, WebError> {
    let salt: [u8; 16] = rand::random();
    argon2()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| WebError::Internal(format!("password hashing failed: {e}")))
}

/// Checks a password against a stored PHC string. Slow on purpose: call it on the blocking pool.
pub fn verify_password(password: &str, hash: &str) -> bool {
    argon2().verify_password(password.as_bytes(), hash).is_ok()
}

/// A hash that no password matches in practice, checked for unknown emails.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password(&random_token()).unwrap_or_default())
}

/// Checks the password policy.
pub fn check_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(format!(
            "use at least {MIN_PASSWORD_CHARS} characters (a few words make a good password)"
        ));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(format!("use at most {MAX_PASSWORD_CHARS} characters"));
    }
    Ok(())
}

/// What an email token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    /// Confirm the address.
    VerifyEmail,
    /// Reset the password.
    PasswordReset,
}

impl TokenPurpose {
    /// The code stored in `email_tokens.purpose` (equal to the mail kind's code).
    pub fn code(self) -> &'static str {
        match self {
            TokenPurpose::VerifyEmail => "verify_email",
            TokenPurpose::PasswordReset => "password_reset",
        }
    }

    fn ttl(self) -> i64 {
        match self {
            TokenPurpose::VerifyEmail => VERIFY_TTL_MS,
            TokenPurpose::PasswordReset => RESET_TTL_MS,
        }
    }

    fn mail(self) -> MailKind {
        match self {
            TokenPurpose::VerifyEmail => MailKind::VerifyEmail,
            TokenPurpose::PasswordReset => MailKind::PasswordReset,
        }
    }

    fn path(self) -> &'static str {
        match self {
            TokenPurpose::VerifyEmail => "/account/verify",
            TokenPurpose::PasswordReset => "/account/reset",
        }
    }
}

/// Stores a new token for `user_id` and queues the email carrying its link. Call inside the
/// transaction of the change that causes it.
fn issue_token<C>(
    c: &mut C,
    public_url: &str,
    user_id: i64,
    email: &str,
    purpose: TokenPurpose,
) -> QueryResult<()>
where
    C: OutboxStore + TokenStore,
{
    let token = random_token();
    let hash = sha256_hex(&token);
    let now = crate::db::now_ms();
    c.insert_token(user_id, purpose, &hash, now, now + purpose.ttl())?;
    let mut mail = NewNotification::new(
        purpose.mail(),
        email,
        format!("{}:{hash}", purpose.code()),
        serde_json::json!({"link": format!("{public_url}{}?token={token}", purpose.path())}),
    );
    mail.user_id = Some(user_id);
    c.enqueue_notification(&mail)?;
    Ok(())
}

/// What happened to a token presented from a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenOutcome {
    /// Valid: it is now used; the user it was for.
    Used(i64),
    /// It was valid once but expired.
    Expired,
    /// Already used, or never issued.
    Invalid,
}

/// Email-token storage, per backend.
trait TokenStore {
    fn insert_token(
        &mut self,
        user_id: i64,
        purpose: TokenPurpose,
        hash: &str,
        now: i64,
        expires: i64,
    ) -> QueryResult<()>;
    fn consume_token(&mut self, purpose: TokenPurpose, token: &str) -> QueryResult<TokenOutcome>;
}

crate::impl_for_backends!(TokenStore {
    fn insert_token(
        &mut self,
        user_id: i64,
        purpose: TokenPurpose,
        hash: &str,
        now: i64,
        expires: i64,
    ) -> QueryResult<()> {
        diesel::insert_into(email_tokens::table)
            .values((
                email_tokens::user_id.eq(user_id),
                email_tokens::purpose.eq(purpose.code()),
                email_tokens::token_hash.eq(hash),
                email_tokens::created_at.eq(now),
                email_tokens::expires_at.eq(expires),
            ))
            .execute(self)
            .map(drop)
    }

    fn consume_token(&mut self, purpose: TokenPurpose, token: &str) -> QueryResult<TokenOutcome> {
        let hash = sha256_hex(token);
        let now = crate::db::now_ms();
        // One UPDATE decides: of two concurrent uses, only one finds the token unused.
        let used: Option<i64> = diesel::update(
            email_tokens::table
                .filter(email_tokens::token_hash.eq(&hash))
                .filter(email_tokens::purpose.eq(purpose.code()))
                .filter(email_tokens::used_at.is_null())
                .filter(email_tokens::expires_at.gt(now)),
        )
        .set(email_tokens::used_at.eq(now))
        .returning(email_tokens::user_id)
        .get_result(self)
        .optional()?;
        if let Some(user) = used {
            return Ok(TokenOutcome::Used(user));
        }
        let expired = email_tokens::table
            .filter(email_tokens::token_hash.eq(&hash))
            .filter(email_tokens::purpose.eq(purpose.code()))
            .filter(email_tokens::used_at.is_null())
            .count()
            .get_result::<i64>(self)?
            > 0;
        Ok(if expired {
            TokenOutcome::Expired
        } else {
            TokenOutcome::Invalid
        })
    }
});

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

async fn sign_in_form(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, WebError> {
    form_page(&state, &req, "sign-in", String::new()).await
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
    let password = form.into_inner().password;
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| WebError::Internal(e.to_string()))??;
    let public_url = state.config.web.public_url.clone();
    state
        .db
        .run(move |conn| -> Result<(), WebError> {
            crate::write_tx!(conn, |c| -> Result<(), WebError> {
                let now = crate::db::now_ms();
                let id: Option<i64> = diesel::insert_into(users::table)
                    .values((
                        users::email.eq(email.key()),
                        users::password_hash.eq(&hash),
                        users::created_at.eq(now),
                        users::updated_at.eq(now),
                    ))
                    .on_conflict(users::email)
                    .do_nothing()
                    .returning(users::id)
                    .get_result(c)
                    .optional()?;
                // An existing account gets nothing: the page below is the same either way.
                if let Some(id) = id {
                    issue_token(c, &public_url, id, &email.key(), TokenPurpose::VerifyEmail)?;
                }
                Ok(())
            })
        })
        .await?;
    let page = message(
        &visitor,
        "Check your email",
        "We sent a link to confirm your address. Open it within 24 hours, then sign in.",
        Some(("/account/sign-in", "Go to sign in")),
    );
    Ok(pages::ok(&visitor, &page))
}

/// `GET /account/verify?token=…`.
async fn verify(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<TokenQuery>,
) -> Result<HttpResponse, WebError> {
    let visitor = Visitor::load(&state, &req).await?;
    let token = q.into_inner().token;
    let outcome = state
        .db
        .run(move |conn| -> Result<TokenOutcome, WebError> {
            crate::write_tx!(conn, |c| -> Result<TokenOutcome, WebError> {
                let outcome = c.consume_token(TokenPurpose::VerifyEmail, &token)?;
                if let TokenOutcome::Used(user) = outcome {
                    let now = crate::db::now_ms();
                    diesel::update(users::table.find(user))
                        .filter(users::email_verified_at.is_null())
                        .set((users::email_verified_at.eq(now), users::updated_at.eq(now)))
                        .execute(c)?;
                }
                Ok(outcome)
            })
        })
        .await?;
    let (status, page) = match outcome {
        TokenOutcome::Used(_) => (
            actix_web::http::StatusCode::OK,
            message(
                &visitor,
                "Email confirmed",
                "Your address is confirmed. You can sign in now.",
                Some(("/account/sign-in", "Sign in")),
            ),
        ),
        TokenOutcome::Expired => (
            actix_web::http::StatusCode::GONE,
            message(
                &visitor,
                "This link has expired",
                "Confirmation links work for 24 hours. Sign in with your email and password and we will send you a new one.",
                Some(("/account/sign-in", "Sign in")),
            ),
        ),
        TokenOutcome::Invalid => (
            actix_web::http::StatusCode::NOT_FOUND,
            message(
                &visitor,
                "This link does not work",
                "It was already used or is incomplete. If your address is confirmed, just sign in.",
                Some(("/account/sign-in", "Sign in")),
            ),
        ),
    };
    Ok(visitor.finish(pages::html(status, &page)))
}

/// What a sign-in attempt found in the database.
enum SignInCheck {
    /// Too many recent failures for the account or the address.
    Limited,
    /// `(user id, email, hash, verified)`, or None for an unknown email.
    Account(Option<(i64, String, String, bool)>),
}

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
    let email = form.email.trim().to_lowercase();
    let account_key = format!("account:{email}");
    let addr_key = format!("addr:{}", client_addr(&req, &state.config.web));
    let check = {
        let (email, account_key, addr_key) = (email.clone(), account_key.clone(), addr_key.clone());
        state
            .db
            .run(move |conn| -> Result<SignInCheck, WebError> {
                crate::with_conn!(conn, |c| {
                    let since = crate::db::now_ms() - FAILURE_WINDOW_MS;
                    for key in [&account_key, &addr_key] {
                        let failures: i64 = sign_in_attempts::table
                            .filter(sign_in_attempts::key.eq(key))
                            .filter(sign_in_attempts::at.gt(since))
                            .count()
                            .get_result(c)?;
                        if failures >= MAX_FAILURES {
                            return Ok(SignInCheck::Limited);
                        }
                    }
                    let user: Option<(i64, String, String, Option<i64>)> = users::table
                        .filter(users::email.eq(&email))
                        .select((
                            users::id,
                            users::email,
                            users::password_hash,
                            users::email_verified_at,
                        ))
                        .first(c)
                        .optional()?;
                    Ok(SignInCheck::Account(
                        user.map(|(id, e, h, v)| (id, e, h, v.is_some())),
                    ))
                })
            })
            .await?
    };
    let account = match check {
        SignInCheck::Limited => {
            page.errors.add(
                "form",
                "Too many failed sign-ins. Wait 15 minutes and try again, or reset your password.",
            );
            return Ok(visitor.finish(pages::html(
                actix_web::http::StatusCode::TOO_MANY_REQUESTS,
                &page,
            )));
        }
        SignInCheck::Account(a) => a,
    };
    let password = form.password.clone();
    let stored = account
        .as_ref()
        .map(|(_, _, h, _)| h.clone())
        .unwrap_or_else(|| dummy_hash().to_owned());
    let matches = tokio::task::spawn_blocking(move || verify_password(&password, &stored))
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?;
    let Some((user_id, email, _, verified)) = account.filter(|_| matches) else {
        state
            .db
            .run(move |conn| -> Result<(), WebError> {
                crate::with_conn!(conn, |c| {
                    let now = crate::db::now_ms();
                    diesel::insert_into(sign_in_attempts::table)
                        .values(&vec![
                            (
                                sign_in_attempts::key.eq(&account_key),
                                sign_in_attempts::at.eq(now),
                            ),
                            (
                                sign_in_attempts::key.eq(&addr_key),
                                sign_in_attempts::at.eq(now),
                            ),
                        ])
                        .execute(c)?;
                    diesel::delete(
                        sign_in_attempts::table
                            .filter(sign_in_attempts::at.lt(now - FAILURE_WINDOW_MS)),
                    )
                    .execute(c)?;
                    Ok(())
                })
            })
            .await?;
        page.errors.add("form", "Wrong email or password.");
        return Ok(pages::invalid(&visitor, &page));
    };
    if !verified {
        let public_url = state.config.web.public_url.clone();
        state
            .db
            .run(move |conn| -> Result<(), WebError> {
                crate::write_tx!(conn, |c| -> Result<(), WebError> {
                    issue_token(c, &public_url, user_id, &email, TokenPurpose::VerifyEmail)?;
                    Ok(())
                })
            })
            .await?;
        page.errors.add(
            "form",
            "Confirm your email address first: we just sent you a new link.",
        );
        return Ok(pages::invalid(&visitor, &page));
    }
    state
        .db
        .run(move |conn| -> Result<(), WebError> {
            crate::with_conn!(conn, |c| {
                diesel::delete(
                    sign_in_attempts::table.filter(sign_in_attempts::key.eq(&account_key)),
                )
                .execute(c)?;
                Ok(())
            })
        })
        .await?;
    visitor.start(&state, Some(user_id)).await?;
    Ok(visitor.finish(see_other("/")))
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
        Ok(e) => e.key(),
        Err(e) => {
            let mut page = CredentialsPage::new("forgot", &visitor);
            page.email = form.email.trim().to_owned();
            page.errors.add("email", e);
            return Ok(pages::invalid(&visitor, &page));
        }
    };
    let public_url = state.config.web.public_url.clone();
    state
        .db
        .run(move |conn| -> Result<(), WebError> {
            crate::write_tx!(conn, |c| -> Result<(), WebError> {
                let user: Option<i64> = users::table
                    .filter(users::email.eq(&email))
                    .select(users::id)
                    .first(c)
                    .optional()?;
                if let Some(id) = user {
                    issue_token(c, &public_url, id, &email, TokenPurpose::PasswordReset)?;
                }
                Ok(())
            })
        })
        .await?;
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
    let form = form.into_inner();
    if let Err(e) = check_password(&form.password) {
        let mut page = CredentialsPage::new("reset", &visitor);
        page.token = form.token;
        page.errors.add("password", e);
        return Ok(pages::invalid(&visitor, &page));
    }
    let password = form.password;
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| WebError::Internal(e.to_string()))??;
    let token = form.token;
    let outcome = state
        .db
        .run(move |conn| -> Result<TokenOutcome, WebError> {
            crate::write_tx!(conn, |c| -> Result<TokenOutcome, WebError> {
                let outcome = c.consume_token(TokenPurpose::PasswordReset, &token)?;
                if let TokenOutcome::Used(user) = outcome {
                    let now = crate::db::now_ms();
                    diesel::update(users::table.find(user))
                        .set((users::password_hash.eq(&hash), users::updated_at.eq(now)))
                        .execute(c)?;
                    // The link reached the mailbox, so the address is confirmed.
                    diesel::update(users::table.find(user))
                        .filter(users::email_verified_at.is_null())
                        .set(users::email_verified_at.eq(now))
                        .execute(c)?;
                    // Signed in elsewhere with the old password: not any more.
                    diesel::delete(web_sessions::table.filter(web_sessions::user_id.eq(user)))
                        .execute(c)?;
                }
                Ok(outcome)
            })
        })
        .await?;
    let (status, page) = match outcome {
        TokenOutcome::Used(_) => (
            actix_web::http::StatusCode::OK,
            message(
                &visitor,
                "Password changed",
                "Your new password is set, and every other session was signed out. Sign in with the new password.",
                Some(("/account/sign-in", "Sign in")),
            ),
        ),
        TokenOutcome::Expired => (
            actix_web::http::StatusCode::GONE,
            message(
                &visitor,
                "This link has expired",
                "Reset links work for one hour. Ask for a new one.",
                Some(("/account/forgot", "Ask for a new link")),
            ),
        ),
        TokenOutcome::Invalid => (
            actix_web::http::StatusCode::NOT_FOUND,
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
        modes: mode_options(&user.notify_mode),
    };
    Ok(pages::ok(&visitor, &page))
}

fn mode_options(current: &str) -> Vec<SelectOption> {
    SelectOption::list(
        &[
            ("instant", "Right away, one email per batch of matches"),
            ("daily", "Once a day, a digest"),
            ("off", "Never (matches still show on the site)"),
        ],
        current,
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
    let mode = form.into_inner().notify_mode;
    if !matches!(mode.as_str(), "instant" | "daily" | "off") {
        let mut page = AccountPage {
            layout: Layout::new("Your account", &visitor),
            email: user.email.clone(),
            modes: mode_options(&user.notify_mode),
        };
        page.layout.notice = Some("Choose one of the three email options.".into());
        return Ok(pages::invalid(&visitor, &page));
    }
    state
        .db
        .run(move |conn| -> Result<(), WebError> {
            crate::with_conn!(conn, |c| {
                diesel::update(users::table.find(user.id))
                    .set((
                        users::notify_mode.eq(&mode),
                        users::updated_at.eq(crate::db::now_ms()),
                    ))
                    .execute(c)?;
                Ok(())
            })
        })
        .await?;
    Ok(see_other("/account?saved=1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_owasp_parameters() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse battery!", &h));
        assert!(!verify_password("x", "not a hash"));
        assert!(check_password("short").is_err());
        assert!(check_password("long enough!").is_ok());
    }

    crate::db_test!(tokens_work_once_and_expire, |db| {
        let mut conn = db.get().unwrap();
        let user = crate::testing::fixtures::user(&mut conn, "a@example.com");
        crate::with_conn!(&mut conn, |c| {
            let now = crate::db::now_ms();
            c.insert_token(
                user,
                TokenPurpose::PasswordReset,
                &sha256_hex("t1"),
                now,
                now + 1000,
            )
            .unwrap();
            c.insert_token(
                user,
                TokenPurpose::PasswordReset,
                &sha256_hex("t2"),
                now - 10,
                now - 1,
            )
            .unwrap();
            // The wrong purpose does not consume it.
            assert_eq!(
                c.consume_token(TokenPurpose::VerifyEmail, "t1").unwrap(),
                TokenOutcome::Invalid
            );
            assert_eq!(
                c.consume_token(TokenPurpose::PasswordReset, "t1").unwrap(),
                TokenOutcome::Used(user)
            );
            assert_eq!(
                c.consume_token(TokenPurpose::PasswordReset, "t1").unwrap(),
                TokenOutcome::Invalid
            );
            assert_eq!(
                c.consume_token(TokenPurpose::PasswordReset, "t2").unwrap(),
                TokenOutcome::Expired
            );
        });
    });
}
