//! Website sessions, kept in the database so they survive restarts and work on every node.
//!
//! * The cookie carries a random 256-bit id; the table keeps only its SHA-256, so a copy of the
//!   database does not let anyone act as a user.
//! * The cookie is `HttpOnly` and `SameSite=Lax`. Behind TLS ([`CookiePolicy::secure`]) it is
//!   named `__Host-session` and marked `Secure`, so browsers refuse it over plain HTTP and from
//!   subdomains. Over plain HTTP (development, and the tests on `http://127.0.0.1`) a
//!   `__Host-` cookie would be rejected by browsers, so it is named `session` and not `Secure`.
//!   Which applies is `web.secure_cookies`, by default true exactly when `web.public_url` is
//!   `https://…`.
//! * Every session holds a CSRF synchronizer token; every POST form carries it in a hidden field
//!   and [`Visitor::check_csrf`] compares it in constant time.
//! * Signing in replaces the session with a new id (no session fixation); signing out deletes it.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};

use super::WebError;
use crate::accounts::SignedInUser;
use crate::accounts::secrets::{constant_time_eq, random_token, sha256_hex};
use crate::accounts::sessions::{SessionRow, SessionStore};
use crate::config::WebConfig;
use crate::state::AppState;

/// How long a session lives without being renewed by a new sign-in.
pub const SESSION_LIFETIME_MS: i64 = 14 * 86_400_000;

/// The cookie's name and flags, decided once from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookiePolicy {
    /// `__Host-session` when secure, `session` otherwise.
    pub name: &'static str,
    /// Whether the cookie is marked `Secure`.
    pub secure: bool,
}

impl CookiePolicy {
    /// The policy for this website configuration.
    pub fn from_config(web: &WebConfig) -> CookiePolicy {
        let secure = web
            .secure_cookies
            .unwrap_or_else(|| web.public_url.starts_with("https://"));
        CookiePolicy {
            name: if secure { "__Host-session" } else { "session" },
            secure,
        }
    }

    fn cookie(self, value: String) -> Cookie<'static> {
        Cookie::build(self.name, value)
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .max_age(actix_web::cookie::time::Duration::milliseconds(
                SESSION_LIFETIME_MS,
            ))
            .finish()
    }

    fn removal(self) -> Cookie<'static> {
        let mut c = self.cookie(String::new());
        c.make_removal();
        c
    }
}

/// Who is asking: the session (if any), the signed-in user (if any), and the cookie to set on
/// the response when the session changed.
#[derive(Debug, Default)]
pub struct Visitor {
    /// The current session.
    pub session: Option<SessionRow>,
    /// The signed-in user.
    pub user: Option<SignedInUser>,
    set_cookie: Option<Cookie<'static>>,
}

/// The client's address for rate limiting: the TCP peer, or, only when
/// `web.trust_forwarded_for` is set (the site runs behind a proxy that appends it), the last
/// address of `X-Forwarded-For`, which is the one the nearest proxy saw. Earlier entries are
/// written by the client and never trusted.
pub fn client_addr(req: &HttpRequest, web: &WebConfig) -> String {
    if web.trust_forwarded_for
        && let Some(last) = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    {
        return last.to_owned();
    }
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".to_owned())
}

impl Visitor {
    /// Reads the session cookie and loads the session and its user.
    pub async fn load(state: &AppState, req: &HttpRequest) -> Result<Visitor, WebError> {
        let policy = CookiePolicy::from_config(&state.config.web);
        let Some(cookie) = req.cookie(policy.name) else {
            return Ok(Visitor::default());
        };
        let hash = sha256_hex(cookie.value());
        let now = crate::db::now_ms();
        let (session, user) = state
            .db
            .run(move |conn| -> Result<_, WebError> {
                crate::with_conn!(conn, |c| Ok(c.live_session(&hash, now)?))
            })
            .await?;
        Ok(Visitor {
            session,
            user,
            set_cookie: None,
        })
    }

    /// The signed-in user, or [`WebError::SignInRequired`].
    pub fn require_user(&self) -> Result<&SignedInUser, WebError> {
        self.user.as_ref().ok_or(WebError::SignInRequired)
    }

    /// The session's CSRF token (empty when there is no session yet).
    pub fn csrf(&self) -> &str {
        self.session
            .as_ref()
            .map(|s| s.csrf_token.as_str())
            .unwrap_or("")
    }

    /// Refuses a form whose token does not match the session's.
    pub fn check_csrf(&self, token: &str) -> Result<(), WebError> {
        match &self.session {
            Some(s) if !token.is_empty() && constant_time_eq(&s.csrf_token, token) => Ok(()),
            _ => Err(WebError::Csrf),
        }
    }

    /// Makes sure there is a session (an anonymous one if needed), so a page with a POST form
    /// can carry a CSRF token.
    pub async fn ensure_session(&mut self, state: &AppState) -> Result<(), WebError> {
        if self.session.is_none() {
            self.start(state, None).await?;
        }
        Ok(())
    }

    /// Replaces the session with a new one for `user_id` (sign-in) or an anonymous one.
    pub async fn start(&mut self, state: &AppState, user_id: Option<i64>) -> Result<(), WebError> {
        let policy = CookiePolicy::from_config(&state.config.web);
        let id = random_token();
        let now = crate::db::now_ms();
        let row = SessionRow {
            id_hash: sha256_hex(&id),
            user_id,
            csrf_token: random_token(),
            created_at: now,
            expires_at: now + SESSION_LIFETIME_MS,
        };
        let old = self.session.as_ref().map(|s| s.id_hash.clone());
        let new = row.clone();
        state
            .db
            .run(move |conn| -> Result<(), WebError> {
                crate::with_conn!(conn, |c| Ok(c.replace_session(
                    old.as_deref(),
                    &new,
                    now
                )?))
            })
            .await?;
        self.session = Some(row);
        if user_id.is_none() {
            self.user = None;
        }
        self.set_cookie = Some(policy.cookie(id));
        Ok(())
    }

    /// Deletes the session (sign-out) and tells the browser to forget the cookie.
    pub async fn end(&mut self, state: &AppState) -> Result<(), WebError> {
        let policy = CookiePolicy::from_config(&state.config.web);
        if let Some(s) = self.session.take() {
            state
                .db
                .run(move |conn| -> Result<(), WebError> {
                    crate::with_conn!(conn, |c| Ok(c.delete_session(&s.id_hash)?))
                })
                .await?;
        }
        self.user = None;
        self.set_cookie = Some(policy.removal());
        Ok(())
    }

    /// Adds the session cookie to `response` when the session changed during the request.
    pub fn finish(&self, mut response: actix_web::HttpResponse) -> actix_web::HttpResponse {
        if let Some(cookie) = &self.set_cookie {
            let _ = response.add_cookie(cookie);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_policy_follows_the_public_url_unless_configured() {
        let mut web = WebConfig::default();
        assert_eq!(CookiePolicy::from_config(&web).name, "session");
        web.public_url = "https://homes.example".into();
        let p = CookiePolicy::from_config(&web);
        assert_eq!((p.name, p.secure), ("__Host-session", true));
        let c = p.cookie("x".into());
        assert_eq!(c.http_only(), Some(true));
        assert_eq!(c.same_site(), Some(SameSite::Lax));
        assert_eq!(c.path(), Some("/"));
        web.secure_cookies = Some(false);
        assert!(!CookiePolicy::from_config(&web).secure);
    }

    #[test]
    fn forwarded_for_is_ignored_unless_trusted() {
        let req = actix_web::test::TestRequest::default()
            .peer_addr("10.0.0.9:4000".parse().unwrap())
            .insert_header(("X-Forwarded-For", "1.2.3.4, 5.6.7.8"))
            .to_http_request();
        let mut web = WebConfig::default();
        assert_eq!(client_addr(&req, &web), "10.0.0.9");
        web.trust_forwarded_for = true;
        assert_eq!(client_addr(&req, &web), "5.6.7.8");
    }

    #[test]
    fn tokens_are_random_and_compared_in_constant_time() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
        assert!(constant_time_eq(&a, &a.clone()));
        assert!(!constant_time_eq(&a, &random_token()));
        assert_eq!(sha256_hex("abc").len(), 64);
    }
}
