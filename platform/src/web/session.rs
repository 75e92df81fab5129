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
//! * Sessions are stored only when something needs one (a signed-in user). A visitor without one
//!   who opens a form (sign-in, register, forgot, reset, apply) gets a signed double-submit
//!   cookie instead, nothing stored: the cookie `csrf` (`__Host-csrf` behind TLS) holds
//!   `nonce.HMAC-SHA256(key, "csrf:v1:" + nonce)` and the form carries the same value; a POST
//!   passes when the form's value equals the cookie's and the signature is ours. The key
//!   ([`CsrfKey`]) lives in the database (`site_keys`), so every node checks every node's cookies;
//!   the signature stops a cookie planted by someone else (who cannot sign) from being accepted.
//! * Signing in replaces the session with a new id (no session fixation); signing out deletes it.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;

use super::WebError;
use crate::accounts::SignedInUser;
use crate::accounts::secrets::{SiteKeyStore, constant_time_eq, random_token, sha256_hex};
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

    /// The anonymous CSRF cookie's name: `__Host-csrf` when secure, `csrf` otherwise.
    pub fn csrf_name(self) -> &'static str {
        if self.secure { "__Host-csrf" } else { "csrf" }
    }

    fn csrf_cookie(self, value: String) -> Cookie<'static> {
        Cookie::build(self.csrf_name(), value)
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .max_age(actix_web::cookie::time::Duration::days(1))
            .finish()
    }
}

/// The key that signs anonymous CSRF cookies: read from the database (`site_keys`, made by the
/// first node that needs it) on first use, then kept for the life of the process.
#[derive(Debug, Default)]
pub struct CsrfKey(tokio::sync::OnceCell<hmac::Key>);

impl CsrfKey {
    async fn get(&self, db: &crate::db::Db) -> Result<&hmac::Key, WebError> {
        self.0
            .get_or_try_init(|| async {
                let bytes = db
                    .run(move |conn| -> Result<Vec<u8>, WebError> {
                        crate::with_conn!(conn, |c| Ok(c.site_key("csrf", crate::db::now_ms())?))
                    })
                    .await?;
                Ok(hmac::Key::new(hmac::HMAC_SHA256, &bytes))
            })
            .await
    }
}

fn csrf_message(nonce: &str) -> String {
    format!("csrf:v1:{nonce}")
}

/// A new anonymous CSRF token: `nonce.signature`.
fn new_csrf_token(key: &hmac::Key) -> String {
    let nonce = random_token();
    let tag = hmac::sign(key, csrf_message(&nonce).as_bytes());
    format!("{nonce}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// Whether an anonymous CSRF token carries our signature.
fn csrf_token_is_ours(key: &hmac::Key, token: &str) -> bool {
    let Some((nonce, tag)) = token.split_once('.') else {
        return false;
    };
    let Ok(tag) = URL_SAFE_NO_PAD.decode(tag) else {
        return false;
    };
    hmac::verify(key, csrf_message(nonce).as_bytes(), &tag).is_ok()
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
    /// Without a session: the anonymous CSRF token (from a cookie whose signature is ours, or
    /// made for this answer).
    anonymous_csrf: Option<String>,
    set_csrf_cookie: Option<Cookie<'static>>,
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
        let mut visitor = Visitor::default();
        if let Some(cookie) = req.cookie(policy.csrf_name()) {
            let key = state.csrf_key.get(&state.db).await?;
            if csrf_token_is_ours(key, cookie.value()) {
                visitor.anonymous_csrf = Some(cookie.value().to_owned());
            }
        }
        let Some(cookie) = req.cookie(policy.name) else {
            return Ok(visitor);
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
            ..visitor
        })
    }

    /// The signed-in user, or [`WebError::SignInRequired`].
    pub fn require_user(&self) -> Result<&SignedInUser, WebError> {
        self.user.as_ref().ok_or(WebError::SignInRequired)
    }

    /// The CSRF token forms carry: the session's, else the anonymous cookie's (empty when there
    /// is neither).
    pub fn csrf(&self) -> &str {
        self.session
            .as_ref()
            .map(|s| s.csrf_token.as_str())
            .or(self.anonymous_csrf.as_deref())
            .unwrap_or("")
    }

    /// Refuses a form whose token does not match the session's or, without a session, the
    /// anonymous CSRF cookie's (whose signature was checked when it was read).
    pub fn check_csrf(&self, token: &str) -> Result<(), WebError> {
        let expected = match (&self.session, &self.anonymous_csrf) {
            (Some(s), _) => &s.csrf_token,
            (None, Some(anonymous)) => anonymous,
            (None, None) => return Err(WebError::Csrf),
        };
        if !token.is_empty() && constant_time_eq(expected, token) {
            Ok(())
        } else {
            Err(WebError::Csrf)
        }
    }

    /// Makes sure the page's POST forms can carry a CSRF token: the session's when there is one,
    /// else a signed anonymous cookie (set on the answer by [`Visitor::finish`]). Stores nothing:
    /// opening a form does not make a session.
    pub async fn ensure_session(&mut self, state: &AppState) -> Result<(), WebError> {
        if self.session.is_none() && self.anonymous_csrf.is_none() {
            let key = state.csrf_key.get(&state.db).await?;
            let token = new_csrf_token(key);
            let policy = CookiePolicy::from_config(&state.config.web);
            self.set_csrf_cookie = Some(policy.csrf_cookie(token.clone()));
            self.anonymous_csrf = Some(token);
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
        for cookie in [&self.set_csrf_cookie, &self.set_cookie]
            .into_iter()
            .flatten()
        {
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
    fn anonymous_csrf_tokens_carry_our_signature() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &[7; 32]);
        let other = hmac::Key::new(hmac::HMAC_SHA256, &[8; 32]);
        let token = new_csrf_token(&key);
        assert!(csrf_token_is_ours(&key, &token));
        assert!(!csrf_token_is_ours(&other, &token), "another key's cookie");
        let (nonce, _) = token.split_once('.').unwrap();
        assert!(!csrf_token_is_ours(&key, nonce), "no signature");
        assert!(!csrf_token_is_ours(&key, &format!("{nonce}.AAAA")));
        assert!(!csrf_token_is_ours(&key, "not.base64!"));
        let visitor = Visitor {
            anonymous_csrf: Some(token.clone()),
            ..Visitor::default()
        };
        assert!(visitor.check_csrf(&token).is_ok());
        assert!(
            visitor.check_csrf(&new_csrf_token(&key)).is_err(),
            "another cookie's token"
        );
        assert!(visitor.check_csrf("").is_err());
        assert!(Visitor::default().check_csrf("").is_err());
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
