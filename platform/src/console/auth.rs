//! Signing in to the console: the one-time set-password link (`platform admin create`), the
//! password, then the TOTP code (set up at the first sign-in: the secret shown once, confirmed
//! by a first code), and signing out.
//!
//! Each step replaces the session with a new id. Failed passwords and failed codes count
//! against the same limiter as the website's (keys `operator:EMAIL`, `operator-addr:IP`), so
//! guessing either is bounded; a refused sign-in says the same for an unknown address, a wrong
//! password and an operator without a password yet.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::session::ConsoleVisitor;
use super::{ConsoleError, Layout, html, see_other};
use crate::accounts::limiter::SignInLimiter;
use crate::accounts::passwords::{
    check_password, dummy_hash, hash_password_blocking, verify_password_blocking,
};
use crate::accounts::secrets::sha256_hex;
use crate::audit::AuditLog;
use crate::operators::sessions::SessionStage;
use crate::operators::{OperatorStore, totp};
use crate::state::AppState;

/// What a refused sign-in says, whatever the cause.
pub const SIGN_IN_REFUSED: &str = "Wrong email or password.";
/// What a refused code says.
pub const CODE_REFUSED: &str =
    "That code is not right (or was already used); wait for the next code and try again.";
/// What the limiter's refusal says.
pub const LIMITED: &str = "Too many failed attempts; wait 15 minutes before trying again.";

/// Registers the sign-in routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/sign-in", web::get().to(sign_in_form))
        .route("/sign-in", web::post().to(sign_in))
        .route("/second-factor", web::get().to(second_factor_form))
        .route("/second-factor", web::post().to(second_factor))
        .route("/set-password", web::get().to(set_password_form))
        .route("/set-password", web::post().to(set_password))
        .route("/sign-out", web::post().to(sign_out));
}

/// The sign-in, second-factor and set-password forms.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AuthForm {
    /// CSRF token.
    pub csrf: String,
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
    /// TOTP code.
    pub code: String,
    /// Set-password token.
    pub token: String,
}

/// The console's sign-in pages.
#[derive(Debug, Template)]
#[template(path = "console/sign_in.html")]
pub struct AuthPage {
    /// Frame.
    pub layout: Layout,
    /// `sign-in`, `second-factor`, `enrol` or `set-password`.
    pub mode: &'static str,
    /// Email as typed.
    pub email: String,
    /// The set-password token (set-password only).
    pub token: String,
    /// The TOTP secret to type into the app (enrol only).
    pub secret: String,
    /// The `otpauth://` URI (enrol only).
    pub uri: String,
    /// What went wrong.
    pub error: Option<String>,
}

impl AuthPage {
    fn new(visitor: &ConsoleVisitor, mode: &'static str) -> AuthPage {
        let title = match mode {
            "sign-in" => "Sign in",
            "set-password" => "Choose your password",
            "enrol" => "Set up your second factor",
            _ => "Enter your code",
        };
        AuthPage {
            layout: visitor.layout(title, ""),
            mode,
            email: String::new(),
            token: String::new(),
            secret: String::new(),
            uri: String::new(),
            error: None,
        }
    }
}

fn limiter_keys(email: &str, addr: &str) -> [String; 2] {
    [format!("operator:{email}"), format!("operator-addr:{addr}")]
}

fn refused(visitor: &ConsoleVisitor, mut page: AuthPage, status: u16, error: &str) -> HttpResponse {
    page.error = Some(error.to_owned());
    visitor.finish(html(
        actix_web::http::StatusCode::from_u16(status).unwrap_or_default(),
        &page,
    ))
}

async fn sign_in_form(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let mut visitor = ConsoleVisitor::load(&state, &req).await?;
    if visitor.require_operator().is_ok() {
        return Ok(see_other("/"));
    }
    visitor.ensure_session(&state).await?;
    Ok(visitor.finish(html(
        actix_web::http::StatusCode::OK,
        &AuthPage::new(&visitor, "sign-in"),
    )))
}

async fn sign_in(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<AuthForm>,
) -> Result<HttpResponse, ConsoleError> {
    let mut visitor = ConsoleVisitor::load(&state, &req).await?;
    visitor.check_csrf(&form.csrf)?;
    let email = form.email.trim().to_lowercase();
    let addr = crate::web::session::client_addr(&req, &state.config.web);
    let keys = limiter_keys(&email, &addr);
    let mut page = AuthPage::new(&visitor, "sign-in");
    page.email = email.clone();
    let (limited, operator) = {
        let (keys, email) = (keys.clone(), email.clone());
        state
            .db
            .run(move |conn| -> Result<_, ConsoleError> {
                crate::with_conn!(conn, |c| {
                    let limited = c.is_limited(&[&keys[0], &keys[1]], crate::db::now_ms())?;
                    Ok((limited, c.operator_by_email(&email)?))
                })
            })
            .await?
    };
    if limited {
        return Ok(refused(&visitor, page, 429, LIMITED));
    }
    let stored = operator
        .as_ref()
        .filter(|o| o.disabled_at.is_none())
        .and_then(|o| o.password_hash.clone())
        .unwrap_or_else(|| dummy_hash().to_owned());
    let matches = verify_password_blocking(form.password.clone(), stored).await?;
    let operator =
        operator.filter(|o| matches && o.disabled_at.is_none() && o.password_hash.is_some());
    let Some(operator) = operator else {
        record_failure(&state, keys, "operator.sign_in_refused", email).await?;
        return Ok(refused(&visitor, page, 401, SIGN_IN_REFUSED));
    };
    visitor
        .start(&state, Some(operator), SessionStage::Password)
        .await?;
    Ok(visitor.finish(see_other("/second-factor")))
}

/// Counts a failure against the limiter and audits it.
async fn record_failure(
    state: &AppState,
    keys: [String; 2],
    action: &'static str,
    email: String,
) -> Result<(), ConsoleError> {
    state
        .db
        .run(move |conn| -> Result<(), ConsoleError> {
            crate::write_tx!(conn, |c| -> Result<(), ConsoleError> {
                c.record_failure(&[&keys[0], &keys[1]], crate::db::now_ms())?;
                c.audit(
                    &crate::audit::Actor::Public,
                    action,
                    Some(&email),
                    serde_json::json!({}),
                )?;
                Ok(())
            })
        })
        .await
}

async fn second_factor_form(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let visitor = ConsoleVisitor::load(&state, &req).await?;
    match visitor.stage() {
        SessionStage::Full => return Ok(see_other("/")),
        SessionStage::Anonymous => return Err(ConsoleError::SignInRequired),
        SessionStage::Password => {}
    }
    let operator = visitor
        .operator
        .clone()
        .ok_or(ConsoleError::SignInRequired)?;
    if operator.has_second_factor() {
        return Ok(visitor.finish(html(
            actix_web::http::StatusCode::OK,
            &AuthPage::new(&visitor, "second-factor"),
        )));
    }
    // First sign-in: a secret is made once and shown until confirmed by a first code.
    let secret = match operator.totp_secret.clone() {
        Some(s) => s,
        None => {
            let secret = totp::new_secret();
            let (id, stored) = (operator.id, secret.clone());
            state
                .db
                .run(move |conn| -> Result<(), ConsoleError> {
                    crate::with_conn!(conn, |c| Ok(c.set_totp_secret(
                        id,
                        &stored,
                        crate::db::now_ms()
                    )?))
                })
                .await?;
            secret
        }
    };
    let mut page = AuthPage::new(&visitor, "enrol");
    page.uri = totp::otpauth_uri(&secret, &operator.email);
    page.secret = secret;
    Ok(visitor.finish(html(actix_web::http::StatusCode::OK, &page)))
}

async fn second_factor(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<AuthForm>,
) -> Result<HttpResponse, ConsoleError> {
    let mut visitor = ConsoleVisitor::load(&state, &req).await?;
    visitor.check_csrf(&form.csrf)?;
    if visitor.stage() != SessionStage::Password {
        return Err(ConsoleError::SignInRequired);
    }
    let operator = visitor
        .operator
        .clone()
        .ok_or(ConsoleError::SignInRequired)?;
    let addr = crate::web::session::client_addr(&req, &state.config.web);
    let keys = limiter_keys(&operator.email, &addr);
    let enrolling = !operator.has_second_factor();
    let code = form.code.clone();
    let (id, email) = (operator.id, operator.email.clone());
    let accepted = {
        let keys = keys.clone();
        let actor = operator.actor();
        state
            .db
            .run(move |conn| -> Result<Option<bool>, ConsoleError> {
                crate::write_tx!(conn, |c| -> Result<Option<bool>, ConsoleError> {
                    let now = crate::db::now_ms();
                    if c.is_limited(&[&keys[0], &keys[1]], now)? {
                        return Ok(None);
                    }
                    let Some(op) = c.operator_by_id(id)? else {
                        return Ok(Some(false));
                    };
                    let Some(secret) = op.totp_secret.as_deref() else {
                        return Ok(Some(false));
                    };
                    let Some(step) = totp::verify(secret, &code, now / 1000, op.totp_last_step)
                    else {
                        return Ok(Some(false));
                    };
                    if !c.accept_totp_step(id, step, now)? {
                        return Ok(Some(false));
                    }
                    c.clear_failures(&keys[0])?;
                    if op.totp_confirmed_at.is_none() {
                        c.audit(
                            &actor,
                            "operator.totp_enrol",
                            Some(&op.email),
                            serde_json::json!({}),
                        )?;
                    }
                    c.audit(
                        &actor,
                        "operator.sign_in",
                        Some(&op.email),
                        serde_json::json!({}),
                    )?;
                    Ok(Some(true))
                })
            })
            .await?
    };
    match accepted {
        Some(true) => {
            let fresh = {
                state
                    .db
                    .run(move |conn| -> Result<_, ConsoleError> {
                        crate::with_conn!(conn, |c| Ok(c.operator_by_id(id)?))
                    })
                    .await?
            };
            visitor.start(&state, fresh, SessionStage::Full).await?;
            Ok(visitor.finish(see_other("/")))
        }
        Some(false) => {
            record_failure(&state, keys, "operator.second_factor_refused", email).await?;
            // Re-render the page the operator was on (the secret again while enrolling).
            let mut page =
                AuthPage::new(&visitor, if enrolling { "enrol" } else { "second-factor" });
            if enrolling && let Some(secret) = operator.totp_secret.clone() {
                page.uri = totp::otpauth_uri(&secret, &operator.email);
                page.secret = secret;
            }
            Ok(refused(&visitor, page, 401, CODE_REFUSED))
        }
        None => Ok(refused(
            &visitor,
            AuthPage::new(&visitor, "second-factor"),
            429,
            LIMITED,
        )),
    }
}

/// `?token=` of the set-password link.
#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    /// The token.
    #[serde(default)]
    pub token: String,
}

async fn set_password_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<TokenQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let mut visitor = ConsoleVisitor::load(&state, &req).await?;
    visitor.ensure_session(&state).await?;
    let hash = sha256_hex(&query.token);
    let operator = state
        .db
        .run(move |conn| -> Result<_, ConsoleError> {
            crate::with_conn!(conn, |c| Ok(
                c.operator_by_setup_token(&hash, crate::db::now_ms())?
            ))
        })
        .await?;
    let mut page = AuthPage::new(&visitor, "set-password");
    let Some(operator) = operator else {
        return Ok(refused(
            &visitor,
            page,
            410,
            "This link was used already or has expired; ask for a new one (`platform admin create EMAIL`).",
        ));
    };
    page.email = operator.email;
    page.token = query.token.clone();
    Ok(visitor.finish(html(actix_web::http::StatusCode::OK, &page)))
}

async fn set_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<AuthForm>,
) -> Result<HttpResponse, ConsoleError> {
    let visitor = ConsoleVisitor::load(&state, &req).await?;
    visitor.check_csrf(&form.csrf)?;
    let mut page = AuthPage::new(&visitor, "set-password");
    page.token = form.token.clone();
    if let Err(e) = check_password(&form.password) {
        return Ok(refused(&visitor, page, 422, &format!("Password: {e}.")));
    }
    let hash = sha256_hex(&form.token);
    let password_hash = hash_password_blocking(form.password.clone()).await?;
    let done = state
        .db
        .run(move |conn| -> Result<bool, ConsoleError> {
            crate::write_tx!(conn, |c| -> Result<bool, ConsoleError> {
                let now = crate::db::now_ms();
                let Some(op) = c.operator_by_setup_token(&hash, now)? else {
                    return Ok(false);
                };
                if !c.set_operator_password(&hash, &password_hash, now)? {
                    return Ok(false);
                }
                c.audit(
                    &op.actor(),
                    "operator.set_password",
                    Some(&op.email),
                    serde_json::json!({}),
                )?;
                Ok(true)
            })
        })
        .await?;
    if !done {
        return Ok(refused(
            &visitor,
            page,
            410,
            "This link was used already or has expired; ask for a new one (`platform admin create EMAIL`).",
        ));
    }
    Ok(visitor.finish(see_other("/sign-in")))
}

async fn sign_out(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<AuthForm>,
) -> Result<HttpResponse, ConsoleError> {
    let mut visitor = ConsoleVisitor::load(&state, &req).await?;
    visitor.check_csrf(&form.csrf)?;
    visitor.end(&state).await?;
    Ok(visitor.finish(see_other("/sign-in")))
}
