//! HTTP tests of the console, in process against a real database (both backends): who may in,
//! the sign-in with its second factor, and each action with its audit entry.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use actix_web::{App, middleware, web};

use crate::accounts::secrets::sha256_hex;
use crate::agencies::{AgencyStatus, AgencyStore, NewAgency};
use crate::audit::{Actor, AuditEntry, AuditLog};
use crate::db::Db;
use crate::operators::{OperatorStore, create_operator, totp};
use crate::state::AppState;

/// A browser of the console: its cookie and the last page.
#[derive(Debug, Default)]
pub(super) struct Browser {
    /// `name=value` of the console cookie.
    pub cookie: Option<String>,
    /// The last page's HTML.
    pub page: String,
}

/// What an answer was.
pub(super) struct Answer {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

pub(super) async fn send<S, B>(app: &S, b: &mut Browser, req: TestRequest) -> Answer
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut req = req.peer_addr("127.0.0.1:40000".parse().unwrap());
    if let Some(c) = &b.cookie {
        req = req.insert_header((header::COOKIE, c.clone()));
    }
    let res = call_service(app, req.to_request()).await;
    let status = res.status();
    let headers = res.headers().clone();
    for v in headers.get_all(header::SET_COOKIE) {
        let v = v.to_str().unwrap();
        let pair = v.split(';').next().unwrap().to_owned();
        if pair.ends_with('=') {
            b.cookie = None;
        } else {
            b.cookie = Some(pair);
        }
    }
    let body = String::from_utf8(read_body(res).await.to_vec()).unwrap_or_default();
    if status == StatusCode::OK {
        b.page = body.clone();
    }
    Answer {
        status,
        headers,
        body,
    }
}

pub(super) async fn get<S, B>(app: &S, b: &mut Browser, uri: &str) -> Answer
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    send(app, b, TestRequest::get().uri(uri)).await
}

/// Posts `fields` and the CSRF token of the last page.
pub(super) async fn post<S, B>(
    app: &S,
    b: &mut Browser,
    uri: &str,
    fields: &[(&str, &str)],
) -> Answer
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let csrf = csrf_of(&b.page);
    let mut form: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    send(app, b, TestRequest::post().uri(uri).set_form(&form)).await
}

pub(super) fn csrf_of(page: &str) -> String {
    page.split(r#"name="csrf" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("")
        .to_owned()
}

/// The text between `id="ID">` and the next `<`.
pub(super) fn text_of(page: &str, id: &str) -> String {
    page.split(&format!(r#"id="{id}">"#))
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or("")
        .to_owned()
}

pub(super) fn state(db: &Db) -> (tempfile::TempDir, web::Data<AppState>) {
    let (dir, state) = crate::testing::app_state(db);
    (dir, web::Data::new(state))
}

macro_rules! console_app {
    ($state:expr) => {
        init_service(
            App::new()
                .app_data($state.clone())
                .app_data(crate::http_metrics::ServerName("admin"))
                .wrap(crate::console::security_headers())
                .wrap(middleware::from_fn(crate::web::protocol::hygiene))
                .wrap(middleware::NormalizePath::trim())
                .configure(crate::console::routes),
        )
        .await
    };
}

pub(super) const PASSWORD: &str = "correct horse battery staple";

/// Makes an operator through `platform admin create`'s function and sets the password through
/// the emailed link's page. Returns the operator's email.
pub(super) async fn operator_with_password<S, B>(app: &S, state: &AppState, email: &str) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let made = {
        let mut conn = state.db.get().unwrap();
        create_operator(
            &mut conn,
            &Actor::Operator("cli".into()),
            email,
            "http://console.test",
        )
        .unwrap()
    };
    let path = made
        .set_password_link
        .strip_prefix("http://console.test")
        .unwrap();
    let token = path.strip_prefix("/set-password?token=").unwrap();
    let mut b = Browser::default();
    let page = get(app, &mut b, path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let weak = post(
        app,
        &mut b,
        "/set-password",
        &[("token", token), ("password", "short")],
    )
    .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    let set = post(
        app,
        &mut b,
        "/set-password",
        &[("token", token), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.body);
    // The link works once.
    let again = get(app, &mut b, path).await;
    assert_eq!(again.status, StatusCode::GONE);
    made.email
}

/// The current TOTP code of `email`'s secret.
pub(super) fn code_now(state: &AppState, email: &str, offset_steps: i64) -> String {
    let mut conn = state.db.get().unwrap();
    let op = crate::with_conn!(&mut conn, |c| c.operator_by_email(email))
        .unwrap()
        .unwrap();
    let secret = op.totp_secret.expect("a TOTP secret");
    totp::code_at(
        &secret,
        crate::db::now_ms() / 1000 + offset_steps * totp::STEP_SECS,
    )
    .unwrap()
}

/// Signs in fully (password, then TOTP enrolment or code) and returns the browser.
pub(super) async fn signed_in<S, B>(app: &S, state: &AppState, email: &str, offset: i64) -> Browser
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut b = Browser::default();
    get(app, &mut b, "/sign-in").await;
    let a = post(
        app,
        &mut b,
        "/sign-in",
        &[("email", email), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(a.location(), "/second-factor", "{}", a.body);
    let page = get(app, &mut b, "/second-factor").await;
    assert_eq!(page.status, StatusCode::OK);
    let code = code_now(state, email, offset);
    let a = post(app, &mut b, "/second-factor", &[("code", &code)]).await;
    assert_eq!(a.location(), "/", "{}", a.body);
    b
}

pub(super) fn audit(state: &AppState, action: &str) -> Vec<AuditEntry> {
    let mut conn = state.db.get().unwrap();
    crate::with_conn!(&mut conn, |c| c.audit_entries(Some(action), 50)).unwrap()
}

pub(super) fn pending_agency(state: &AppState, name: &str, licence: &str) -> i64 {
    let mut conn = state.db.get().unwrap();
    let new = NewAgency::parse(name, licence, "desk@agency.example").unwrap();
    crate::with_conn!(&mut conn, |c| c.insert_agency(&new, AgencyStatus::Pending))
        .unwrap()
        .unwrap()
        .id
}

crate::db_test!(async who_may_in_and_the_second_factor, |db| {
    let (_dir, state) = state(db);
    let app = console_app!(state);
    // Signed out: every page sends to the sign-in, every action too; headers as strict as set.
    let mut anon = Browser::default();
    for path in ["/", "/agencies", "/certificates", "/listings", "/users", "/audit", "/mail", "/agencies/1"] {
        let a = get(&app, &mut anon, path).await;
        assert_eq!((a.status, a.location()), (StatusCode::SEE_OTHER, "/sign-in"), "{path}");
    }
    let sign_in = get(&app, &mut anon, "/sign-in").await;
    assert_eq!(sign_in.status, StatusCode::OK);
    let csp = sign_in.headers.get("content-security-policy").unwrap().to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(sign_in.headers.get("x-frame-options").unwrap(), "DENY");
    assert_eq!(sign_in.headers.get("cache-control").unwrap(), "no-store");
    assert!(!sign_in.body.contains("<script"));
    let cookie = anon.cookie.clone().unwrap();
    assert!(cookie.starts_with("console_session="), "{cookie}");
    let set_cookie = sign_in.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    let id = pending_agency(&state, "Acme Homes", "LIC-1");
    let refused = post(&app, &mut anon, &format!("/agencies/{id}/approve"), &[]).await;
    assert_eq!(refused.location(), "/sign-in");

    // A buyer's website session opens nothing here, under either cookie name.
    let buyer_session = {
        use crate::accounts::sessions::{SessionRow, SessionStore};
        let mut conn = state.db.get().unwrap();
        let row = SessionRow {
            id_hash: sha256_hex("buyer-session-id"),
            user_id: None,
            csrf_token: "t".into(),
            created_at: crate::db::now_ms(),
            expires_at: crate::db::now_ms() + 60_000,
        };
        crate::with_conn!(&mut conn, |c| c.replace_session(None, &row, crate::db::now_ms())).unwrap();
        "buyer-session-id"
    };
    for name in ["session", "console_session"] {
        let mut buyer = Browser {
            cookie: Some(format!("{name}={buyer_session}")),
            page: String::new(),
        };
        let a = get(&app, &mut buyer, "/agencies").await;
        assert_eq!(a.location(), "/sign-in", "{name}");
    }

    let email = operator_with_password(&app, &state, "ops@example.org").await;
    // A wrong password and an unknown address read the same.
    let mut b = Browser::default();
    get(&app, &mut b, "/sign-in").await;
    let wrong = post(&app, &mut b, "/sign-in", &[("email", &email), ("password", "not the password")]).await;
    let unknown = post(&app, &mut b, "/sign-in", &[("email", "nobody@example.org"), ("password", PASSWORD)]).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains(crate::console::auth::SIGN_IN_REFUSED));
    assert!(unknown.body.contains(crate::console::auth::SIGN_IN_REFUSED));
    // No CSRF token, no sign-in.
    let forged = send(&app, &mut Browser::default(), TestRequest::post().uri("/sign-in").set_form([("email", email.as_str()), ("password", PASSWORD)])).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    // The password alone: the console stays shut; the first sign-in shows the secret.
    let a = post(&app, &mut b, "/sign-in", &[("email", &email), ("password", PASSWORD)]).await;
    assert_eq!(a.location(), "/second-factor");
    for path in ["/", "/agencies", "/audit"] {
        let a = get(&app, &mut b, path).await;
        assert_eq!(a.location(), "/second-factor", "{path}");
    }
    let refused = post(&app, &mut b, &format!("/agencies/{id}/approve"), &[]).await;
    assert_eq!(refused.location(), "/second-factor");
    let enrol = get(&app, &mut b, "/second-factor").await;
    assert_eq!(enrol.status, StatusCode::OK);
    let secret = text_of(&enrol.body, "totp-secret");
    assert_eq!(secret.len(), 32, "{}", enrol.body);
    assert!(text_of(&enrol.body, "totp-uri").starts_with("otpauth://totp/"));
    let bad = post(&app, &mut b, "/second-factor", &[("code", "000000")]).await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    let code = totp::code_at(&secret, crate::db::now_ms() / 1000).unwrap();
    let ok = post(&app, &mut b, "/second-factor", &[("code", &code)]).await;
    assert_eq!(ok.location(), "/");
    let dash = get(&app, &mut b, "/").await;
    assert_eq!(dash.status, StatusCode::OK, "{}", dash.body);
    assert!(dash.body.contains("Sign out ops@example.org"));
    assert_eq!(text_of(&dash.body, "agencies-pending"), "1");
    assert!(dash.body.contains("<svg") && dash.body.contains("Sign-in failures"));
    let enrolled = audit(&state, "operator.totp_enrol");
    assert_eq!(enrolled.len(), 1);
    assert_eq!(enrolled[0].actor, "operator:ops@example.org");

    // The same code is never accepted twice, even by another browser within its 30 s; the
    // secret is not shown again after enrolment.
    let mut other = Browser::default();
    get(&app, &mut other, "/sign-in").await;
    post(&app, &mut other, "/sign-in", &[("email", &email), ("password", PASSWORD)]).await;
    let page = get(&app, &mut other, "/second-factor").await;
    assert!(!page.body.contains(&secret));
    let reused = post(&app, &mut other, "/second-factor", &[("code", &code)]).await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED);
    assert!(reused.body.contains("already used"));
    let next = totp::code_at(&secret, crate::db::now_ms() / 1000 + totp::STEP_SECS).unwrap();
    let ok = post(&app, &mut other, "/second-factor", &[("code", &next)]).await;
    assert_eq!(ok.location(), "/");
    assert_eq!(audit(&state, "operator.sign_in").len(), 2);
    assert!(!audit(&state, "operator.second_factor_refused").is_empty());

    // Signing out ends the session for good.
    let old_cookie = other.cookie.clone();
    get(&app, &mut other, "/").await;
    let out = post(&app, &mut other, "/sign-out", &[]).await;
    assert_eq!(out.location(), "/sign-in");
    let mut replay = Browser { cookie: old_cookie, page: String::new() };
    assert_eq!(get(&app, &mut replay, "/").await.location(), "/sign-in");

    // /metrics is here (and only here), without a sign-in, for the scraper on the private
    // network; other methods are refused.
    let metrics = get(&app, &mut Browser::default(), "/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(metrics.body.contains("platform_db_connections"));
    let trace = send(&app, &mut Browser::default(), TestRequest::default().method(actix_web::http::Method::TRACE).uri("/")).await;
    assert_eq!(trace.status, StatusCode::METHOD_NOT_ALLOWED);
});

crate::db_test!(async too_many_failures_lock_the_door, |db| {
    let (_dir, state) = state(db);
    let app = console_app!(state);
    let email = operator_with_password(&app, &state, "ops@example.org").await;
    let mut b = Browser::default();
    get(&app, &mut b, "/sign-in").await;
    for _ in 0..crate::accounts::limiter::MAX_FAILURES {
        let a = post(&app, &mut b, "/sign-in", &[("email", &email), ("password", "wrong password!")]).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    // Now even the right password is refused for a while.
    let a = post(&app, &mut b, "/sign-in", &[("email", &email), ("password", PASSWORD)]).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(a.body.contains("Too many failed attempts"));
    assert_eq!(audit(&state, "operator.sign_in_refused").len(), 5);
});

crate::db_test!(async agency_actions_are_done_and_audited_with_the_operator, |db| {
    let (_dir, state) = state(db);
    let app = console_app!(state);
    let email = operator_with_password(&app, &state, "ops@example.org").await;
    let mut b = signed_in(&app, &state, &email, 0).await;
    let acme = pending_agency(&state, "Acme Homes", "LIC-1");
    let shady = pending_agency(&state, "Shady Deals", "LIC-2");

    let list = get(&app, &mut b, "/agencies?status=pending").await;
    assert!(list.body.contains("Acme Homes") && list.body.contains("Shady Deals"));
    let bad = get(&app, &mut b, "/agencies?status=sleeping").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Approve: active, a token mailed, audited with the operator's identity.
    get(&app, &mut b, &format!("/agencies/{acme}")).await;
    let a = post(&app, &mut b, &format!("/agencies/{acme}/approve"), &[]).await;
    assert_eq!(a.location(), format!("/agencies/{acme}?done=approved"));
    let page = get(&app, &mut b, a.location()).await;
    assert!(page.body.contains("Approved; the enrolment token was emailed"));
    assert!(page.body.contains("(active)"));
    let approved = audit(&state, "agency.approve");
    assert_eq!(approved[0].actor, "operator:ops@example.org");
    assert_eq!(approved[0].subject.as_deref(), Some(acme.to_string().as_str()));
    assert_eq!(audit(&state, "token.create")[0].actor, "operator:ops@example.org");
    // Approving again is refused on the page, nothing changes.
    let again = post(&app, &mut b, &format!("/agencies/{acme}/approve"), &[]).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.body.contains("Not done: agency"), "{}", again.body);
    assert_eq!(audit(&state, "agency.approve").len(), 1);

    // A new token voids the old one; voiding leaves none.
    let a = post(&app, &mut b, &format!("/agencies/{acme}/token"), &[]).await;
    assert_eq!(a.location(), format!("/agencies/{acme}?done=token"));
    get(&app, &mut b, &format!("/agencies/{acme}")).await;
    let a = post(&app, &mut b, &format!("/agencies/{acme}/void-tokens"), &[]).await;
    assert_eq!(a.location(), format!("/agencies/{acme}?done=voided"));
    let page = get(&app, &mut b, &format!("/agencies/{acme}")).await;
    assert!(page.body.contains("No unused enrolment token."));
    let voids = audit(&state, "token.void");
    assert!(voids.iter().any(|e| e.actor == "operator:ops@example.org" && e.detail.contains("voided by an operator")));

    // Suspend and reinstate.
    let a = post(&app, &mut b, &format!("/agencies/{acme}/suspend"), &[]).await;
    assert_eq!(a.location(), format!("/agencies/{acme}?done=suspended"));
    get(&app, &mut b, &format!("/agencies/{acme}")).await;
    let a = post(&app, &mut b, &format!("/agencies/{acme}/reinstate"), &[]).await;
    assert_eq!(a.location(), format!("/agencies/{acme}?done=reinstated"));
    assert_eq!(audit(&state, "agency.suspend")[0].actor, "operator:ops@example.org");
    let reinstated = audit(&state, "agency.approve");
    assert_eq!(reinstated.len(), 2);
    assert_eq!(reinstated[0].actor, "operator:ops@example.org");
    assert!(reinstated[0].detail.contains("suspended"), "{}", reinstated[0].detail);
    let tokens = audit(&state, "token.create");
    // The approval's, the one asked for, and the reinstatement's (no desk has a certificate).
    assert_eq!(tokens.len(), 3);
    assert!(tokens.iter().all(|e| e.actor == "operator:ops@example.org"));

    // Reject needs a reason, which the applicant gets by mail.
    get(&app, &mut b, &format!("/agencies/{shady}")).await;
    let a = post(&app, &mut b, &format!("/agencies/{shady}/reject"), &[("reason", " ")]).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    let a = post(&app, &mut b, &format!("/agencies/{shady}/reject"), &[("reason", "the licence number is not in the register")]).await;
    assert_eq!(a.location(), format!("/agencies/{shady}?done=rejected"));
    let rejected = audit(&state, "agency.reject");
    assert!(rejected[0].detail.contains("the licence number is not in the register"));
    assert_eq!(rejected[0].actor, "operator:ops@example.org");
    let mail = {
        use crate::notify::store::{MailDesk, NotificationStatus};
        let mut conn = state.db.get().unwrap();
        crate::with_conn!(&mut conn, |c| c.mail_rows(Some(NotificationStatus::Pending), 50)).unwrap()
    };
    let rejection = mail.iter().find(|m| m.kind == "agency_rejected").expect("the rejection mail");
    let payload: serde_json::Value = serde_json::from_str(&rejection.payload).unwrap();
    assert_eq!(payload["reason"], "the licence number is not in the register");

    // A forged form (no token) is refused and changes nothing; an unknown action is a 404.
    let forged = send(&app, &mut b, TestRequest::post().uri(&format!("/agencies/{acme}/suspend")).set_form([("csrf", "nope")])).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    get(&app, &mut b, &format!("/agencies/{acme}")).await;
    let unknown = post(&app, &mut b, &format!("/agencies/{acme}/delete"), &[]).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let missing = get(&app, &mut b, "/agencies/9999").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let mut conn = state.db.get().unwrap();
    let a = crate::with_conn!(&mut conn, |c| c.find_agency(acme)).unwrap().unwrap();
    assert_eq!(a.status(), AgencyStatus::Active);
});
