//! Who is asking the console: the console session cookie (never the website's), its stage,
//! the operator, and CSRF checks.
//!
//! The cookie is `console_session` (`__Host-console_session` with `Secure` when the website is
//! served over `https://`, as the console then sits behind the same TLS front), `HttpOnly`,
//! `SameSite=Strict`, 8 hours. Cookies are not kept apart by port, so the browser also sends
//! the website's cookie here: it is never read, and its id names no console session.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};

use super::{ConsoleError, Layout};
use crate::accounts::secrets::{constant_time_eq, random_token, sha256_hex};
use crate::operators::sessions::{OperatorSessionRow, OperatorSessionStore, SessionStage};
use crate::operators::{Operator, OperatorStore};
use crate::state::AppState;

/// How long a console session lives.
pub const SESSION_LIFETIME_MS: i64 = 8 * 3_600_000;
/// How long the step between password and TOTP code may take.
pub const SECOND_FACTOR_WINDOW_MS: i64 = 10 * 60_000;

/// The console cookie's name and flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleCookie {
    /// `__Host-console_session` when secure, `console_session` otherwise.
    pub name: &'static str,
    /// Whether it is marked `Secure`.
    pub secure: bool,
}

impl ConsoleCookie {
    /// The cookie policy for this configuration.
    pub fn from_config(config: &crate::config::Config) -> ConsoleCookie {
        let secure = crate::web::session::CookiePolicy::from_config(&config.web).secure;
        ConsoleCookie {
            name: if secure {
                "__Host-console_session"
            } else {
                "console_session"
            },
            secure,
        }
    }

    fn cookie(self, value: String) -> Cookie<'static> {
        Cookie::build(self.name, value)
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Strict)
            .finish()
    }
}

/// The console visitor: session, operator (from the password step on) and the cookie to set.
#[derive(Debug, Default)]
pub struct ConsoleVisitor {
    /// The current session.
    pub session: Option<OperatorSessionRow>,
    /// The operator of a `password` or `full` session.
    pub operator: Option<Operator>,
    set_cookie: Option<Cookie<'static>>,
}

impl ConsoleVisitor {
    /// Reads the console cookie and loads the session and its operator (a disabled operator
    /// counts as nobody).
    pub async fn load(state: &AppState, req: &HttpRequest) -> Result<ConsoleVisitor, ConsoleError> {
        let policy = ConsoleCookie::from_config(&state.config);
        let Some(cookie) = req.cookie(policy.name) else {
            return Ok(ConsoleVisitor::default());
        };
        let hash = sha256_hex(cookie.value());
        let now = crate::db::now_ms();
        let (session, operator) = state
            .db
            .run(move |conn| -> Result<_, ConsoleError> {
                crate::with_conn!(conn, |c| {
                    let session = c.live_operator_session(&hash, now)?;
                    let operator = match session.as_ref().and_then(|s| s.operator_id) {
                        Some(id) => c.operator_by_id(id)?.filter(|o| o.disabled_at.is_none()),
                        None => None,
                    };
                    Ok((session, operator))
                })
            })
            .await?;
        Ok(ConsoleVisitor {
            session,
            operator,
            set_cookie: None,
        })
    }

    /// The session's stage (anonymous without a session or operator).
    pub fn stage(&self) -> SessionStage {
        match (&self.session, &self.operator) {
            (Some(s), Some(_)) => s.stage(),
            _ => SessionStage::Anonymous,
        }
    }

    /// The fully signed-in operator (password and TOTP code), or the redirect to the step
    /// still missing.
    pub fn require_operator(&self) -> Result<&Operator, ConsoleError> {
        match (self.stage(), &self.operator) {
            (SessionStage::Full, Some(op)) => Ok(op),
            (SessionStage::Password, _) => Err(ConsoleError::SecondFactorRequired),
            _ => Err(ConsoleError::SignInRequired),
        }
    }

    /// The CSRF token of the session (empty without one).
    pub fn csrf(&self) -> &str {
        self.session
            .as_ref()
            .map(|s| s.csrf_token.as_str())
            .unwrap_or("")
    }

    /// Refuses a form whose token does not match the session's.
    pub fn check_csrf(&self, token: &str) -> Result<(), ConsoleError> {
        match &self.session {
            Some(s) if !token.is_empty() && constant_time_eq(&s.csrf_token, token) => Ok(()),
            _ => Err(ConsoleError::Csrf),
        }
    }

    /// The frame of a page for this visitor.
    pub fn layout(&self, title: &str, section: &'static str) -> Layout {
        Layout {
            title: title.to_owned(),
            operator: (self.stage() == SessionStage::Full)
                .then(|| self.operator.as_ref().map(|o| o.email.clone()))
                .flatten(),
            csrf: self.csrf().to_owned(),
            section,
            notice: None,
            refusal: None,
        }
    }

    /// Makes sure there is a session, so a form can carry a CSRF token.
    pub async fn ensure_session(&mut self, state: &AppState) -> Result<(), ConsoleError> {
        if self.session.is_none() {
            self.start(state, None, SessionStage::Anonymous).await?;
        }
        Ok(())
    }

    /// Replaces the session with a new one (new id, new CSRF token) at `stage`.
    pub async fn start(
        &mut self,
        state: &AppState,
        operator: Option<Operator>,
        stage: SessionStage,
    ) -> Result<(), ConsoleError> {
        let policy = ConsoleCookie::from_config(&state.config);
        let id = random_token();
        let now = crate::db::now_ms();
        let lifetime = match stage {
            SessionStage::Password => SECOND_FACTOR_WINDOW_MS,
            _ => SESSION_LIFETIME_MS,
        };
        let row = OperatorSessionRow {
            id_hash: sha256_hex(&id),
            operator_id: operator.as_ref().map(|o| o.id),
            stage: stage.code().to_owned(),
            csrf_token: random_token(),
            created_at: now,
            expires_at: now + lifetime,
        };
        let old = self.session.as_ref().map(|s| s.id_hash.clone());
        let new = row.clone();
        state
            .db
            .run(move |conn| -> Result<(), ConsoleError> {
                crate::with_conn!(conn, |c| Ok(c.replace_operator_session(
                    old.as_deref(),
                    &new,
                    now
                )?))
            })
            .await?;
        self.session = Some(row);
        self.operator = operator;
        self.set_cookie = Some(policy.cookie(id));
        Ok(())
    }

    /// Deletes the session (sign-out) and tells the browser to forget the cookie.
    pub async fn end(&mut self, state: &AppState) -> Result<(), ConsoleError> {
        let policy = ConsoleCookie::from_config(&state.config);
        if let Some(s) = self.session.take() {
            state
                .db
                .run(move |conn| -> Result<(), ConsoleError> {
                    crate::with_conn!(conn, |c| Ok(c.delete_operator_session(&s.id_hash)?))
                })
                .await?;
        }
        self.operator = None;
        let mut removal = policy.cookie(String::new());
        removal.make_removal();
        self.set_cookie = Some(removal);
        Ok(())
    }

    /// Adds the cookie to `response` when the session changed.
    pub fn finish(&self, mut response: actix_web::HttpResponse) -> actix_web::HttpResponse {
        if let Some(cookie) = &self.set_cookie {
            let _ = response.add_cookie(cookie);
        }
        response
    }
}

/// A console handler's start: the visitor, fully signed in, and the operator's audit identity.
pub async fn operator(
    state: &AppState,
    req: &HttpRequest,
) -> Result<(ConsoleVisitor, crate::audit::Actor), ConsoleError> {
    let visitor = ConsoleVisitor::load(state, req).await?;
    let actor = visitor.require_operator()?.actor();
    Ok((visitor, actor))
}
