//! One-click unsubscribe: a signed token naming the user, the `List-Unsubscribe` link in every
//! subscription email, and the `/unsubscribe` page on the website port.
//!
//! The token is `{user_id}.{base64url(HMAC-SHA256(key, "unsubscribe:v1:{user_id}"))}`; the key is
//! 32 random bytes in `<data_dir>/secrets/mail.key` (mode 0600), created on first use. Holding a
//! token lets one do exactly one thing: turn the user's listing emails off. That is why the POST
//! needs no session or CSRF token (RFC 8058 one-click POSTs come from mail clients without any).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use diesel::prelude::*;
use ring::hmac;

use crate::accounts::{NotifyMode, UserStore};
use crate::state::AppState;

/// The key that signs unsubscribe tokens. Its bytes are never printed.
#[derive(Clone)]
pub struct UnsubscribeKey(hmac::Key);

impl std::fmt::Debug for UnsubscribeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UnsubscribeKey(…)")
    }
}

impl UnsubscribeKey {
    /// The key file inside a data directory.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("secrets").join("mail.key")
    }

    /// Reads the key from `<data_dir>/secrets/mail.key`, creating it (0600, atomically, so two
    /// processes starting together agree on one key) when it does not exist yet.
    pub fn load_or_create(data_dir: &Path) -> std::io::Result<UnsubscribeKey> {
        let path = Self::path(data_dir);
        match std::fs::read(&path) {
            Ok(bytes) => return Self::from_bytes(&bytes, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let dir = path.parent().expect("the key path has a parent");
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
        let bytes: [u8; 32] = rand::random();
        let temp = dir.join(format!(
            ".mail.key.{}.{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&temp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
        }
        // hard_link fails when the key exists: whoever linked first wins, everyone reads theirs.
        let linked = std::fs::hard_link(&temp, &path);
        let _ = std::fs::remove_file(&temp);
        match linked {
            Ok(()) => Self::from_bytes(&bytes, &path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Self::from_bytes(&std::fs::read(&path)?, &path)
            }
            Err(e) => Err(e),
        }
    }

    fn from_bytes(bytes: &[u8], path: &Path) -> std::io::Result<UnsubscribeKey> {
        if bytes.len() != 32 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{} must hold 32 bytes; delete it to create a new key (old unsubscribe links stop working)",
                    path.display()
                ),
            ));
        }
        Ok(UnsubscribeKey(hmac::Key::new(hmac::HMAC_SHA256, bytes)))
    }

    fn message(user_id: i64) -> String {
        format!("unsubscribe:v1:{user_id}")
    }

    /// The token that unsubscribes `user_id`.
    pub fn token(&self, user_id: i64) -> String {
        let tag = hmac::sign(&self.0, Self::message(user_id).as_bytes());
        format!("{user_id}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// The user a token names, if its signature is ours.
    pub fn verify(&self, token: &str) -> Option<i64> {
        let (id, tag) = token.trim().split_once('.')?;
        let user_id: i64 = id.parse().ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        hmac::verify(&self.0, Self::message(user_id).as_bytes(), &tag).ok()?;
        Some(user_id)
    }

    /// The unsubscribe address for `user_id` on the website at `public_url`.
    pub fn link(&self, public_url: &str, user_id: i64) -> String {
        format!("{public_url}/unsubscribe?token={}", self.token(user_id))
    }
}

/// Turns off every listing email of `user_id` (`users.notify_mode = 'off'`); false when no such
/// user exists.
pub fn unsubscribe_user(conn: &mut crate::db::DbConn, user_id: i64) -> QueryResult<bool> {
    let now = crate::db::now_ms();
    crate::with_conn!(conn, |c| c.set_notify_mode(user_id, NotifyMode::Off, now))
}

/// Registers `GET /unsubscribe` (a confirmation page) and `POST /unsubscribe` (does it; also the
/// RFC 8058 one-click target) on the website port.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/unsubscribe")
            .route(web::get().to(confirm_page))
            .route(web::post().to(unsubscribe)),
    );
}

fn token_from(query: &str, body: &[u8]) -> Option<String> {
    let find = |pairs: Vec<(String, String)>| {
        pairs
            .into_iter()
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v)
    };
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()
        .and_then(find)
        .or_else(|| {
            serde_urlencoded::from_str::<Vec<(String, String)>>(query)
                .ok()
                .and_then(find)
        })
}

/// The unsubscribe pages: a title, a fixed paragraph (trusted HTML written here) and, on the
/// confirmation page, the form carrying the token (escaped by askama).
#[derive(askama::Template)]
#[template(path = "unsubscribe.html")]
struct UnsubscribePage<'a> {
    title: &'a str,
    body_html: &'static str,
    token: Option<&'a str>,
}

fn page(
    status: actix_web::http::StatusCode,
    title: &str,
    body_html: &'static str,
    token: Option<&str>,
) -> HttpResponse {
    let page = UnsubscribePage {
        title,
        body_html,
        token,
    };
    match askama::Template::render(&page) {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .insert_header(("Referrer-Policy", "no-referrer"))
            .body(html),
        Err(e) => {
            tracing::error!(error = %e, "unsubscribe page failed to render");
            HttpResponse::InternalServerError().finish()
        }
    }
}

fn invalid_link() -> HttpResponse {
    page(
        actix_web::http::StatusCode::BAD_REQUEST,
        "This unsubscribe link is not valid",
        "<p>The link is incomplete or was not made by this site. Copy the whole link from the \
         email, or sign in and change your notifications under Account → Notifications.</p>",
        None,
    )
}

fn server_error(e: impl std::fmt::Display) -> HttpResponse {
    tracing::error!(error = %e, "unsubscribe failed");
    page(
        actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "<p>We could not process the request. Please try again in a minute.</p>",
        None,
    )
}

async fn key_of(state: &AppState) -> Result<UnsubscribeKey, HttpResponse> {
    let dir = state.config.data_dir.clone();
    web::block(move || UnsubscribeKey::load_or_create(&dir))
        .await
        .map_err(server_error)?
        .map_err(server_error)
}

/// `GET /unsubscribe?token=…`: asks for confirmation (a GET must not change anything, since
/// link scanners open every link in a mail).
async fn confirm_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let key = match key_of(&state).await {
        Ok(k) => k,
        Err(response) => return response,
    };
    let Some(token) = token_from(req.query_string(), b"") else {
        return invalid_link();
    };
    if key.verify(&token).is_none() {
        return invalid_link();
    }
    page(
        actix_web::http::StatusCode::OK,
        "Stop listing emails?",
        "<p>You will no longer get emails about listings that match your saved searches. \
         Account emails (such as password resets) still reach you.</p>",
        Some(&token),
    )
}

/// `POST /unsubscribe`: the token comes from the form or, for RFC 8058 one-click requests
/// (body `List-Unsubscribe=One-Click`), from the query string.
async fn unsubscribe(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let key = match key_of(&state).await {
        Ok(k) => k,
        Err(response) => return response,
    };
    let Some(user_id) = token_from(req.query_string(), &body).and_then(|t| key.verify(&t)) else {
        return invalid_link();
    };
    match state
        .db
        .run::<_, crate::db::DbError, _>(move |conn| Ok(unsubscribe_user(conn, user_id)?))
        .await
    {
        Ok(_) => {
            tracing::info!(user_id, "user unsubscribed from listing emails");
            page(
                actix_web::http::StatusCode::OK,
                "You are unsubscribed",
                "<p>You will no longer get listing emails. You can turn them back on under \
                 Account → Notifications.</p>",
                None,
            )
        }
        Err(e) => server_error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_and_forgeries_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let key = UnsubscribeKey::load_or_create(dir.path()).unwrap();
        let again = UnsubscribeKey::load_or_create(dir.path()).unwrap();
        let t = key.token(42);
        assert_eq!(again.verify(&t), Some(42));
        assert_eq!(key.verify(&t.replacen("42.", "43.", 1)), None);
        assert_eq!(key.verify("42"), None);
        assert_eq!(key.verify("x.y"), None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(UnsubscribeKey::path(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let other = tempfile::tempdir().unwrap();
        let foreign = UnsubscribeKey::load_or_create(other.path()).unwrap();
        assert_eq!(foreign.verify(&t), None);
    }

    #[test]
    fn token_is_read_from_form_or_query() {
        assert_eq!(token_from("", b"token=a.b").as_deref(), Some("a.b"));
        assert_eq!(
            token_from("token=c.d", b"List-Unsubscribe=One-Click").as_deref(),
            Some("c.d")
        );
        assert_eq!(token_from("", b""), None);
    }
}
