//! The website's open doors, tried as an attacker would (issue 17): every door is rate-limited
//! per client address and per account by the limiter every node shares, refusals change nothing
//! (no mail, no agency, no session, no password hashing), parallel requests cannot slip past
//! the count together, and the owner is never locked out by someone else's failures.
//!
//! Different client addresses are real: each visitor's connections leave from its own loopback
//! address (127.0.0.x), so no `X-Forwarded-For` is involved.

use std::net::{IpAddr, Ipv4Addr};

use diesel::prelude::*;
use e2e_tests::website::{Browser, Page, emailed_link, signed_in, site};
use platform::db::Db;
use platform::db::schema::{agencies, notifications, rate_limits, users, web_sessions};
use platform::testing::{PlatformProcess, TestDb};

const PASSWORD: &str = "a long enough password";

/// A browser whose connections leave from 127.0.0.`last`.
fn visitor(app: &PlatformProcess, last: u8) -> Browser {
    platform::testing::install_crypto_provider();
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .build()
        .unwrap();
    Browser::with_client(&app.web_url, client)
}

/// Argon2 runs so far in the platform process (`platform_password_hashes_total`).
fn hashes_run(app: &PlatformProcess) -> u64 {
    let text = platform::testing::http_client()
        .get(app.admin("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("platform_password_hashes_total "))
        .unwrap_or_else(|| panic!("no password hash counter in {text}"))
        .trim()
        .parse()
        .unwrap()
}

fn count(db: &Db, table: &str) -> i64 {
    let mut conn = db.get().unwrap();
    platform::with_conn!(&mut conn, |c| match table {
        "users" => users::table.count().get_result(c),
        "agencies" => agencies::table.count().get_result(c),
        "web_sessions" => web_sessions::table.count().get_result(c),
        "password_reset" => notifications::table
            .filter(notifications::kind.eq("password_reset"))
            .count()
            .get_result(c),
        other => panic!("no count for {other}"),
    })
    .unwrap()
}

fn retry_after(page_status: u16, headers: &reqwest::header::HeaderMap) -> i64 {
    assert_eq!(page_status, 429);
    let secs: i64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(secs > 0, "Retry-After {secs}");
    secs
}

/// POSTs `form` (plus the browser's CSRF token) to `path` and keeps the raw answer's headers.
fn post_raw(
    b: &Browser,
    app: &PlatformProcess,
    path: &str,
    csrf: &str,
    form: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut fields: Vec<(&str, &str)> = vec![("csrf", csrf)];
    fields.extend_from_slice(form);
    let mut req = b.client().post(app.url(path));
    if let Some(c) = b.cookie_header() {
        req = req.header("Cookie", c);
    }
    let r = req.form(&fields).send().unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().unwrap())
}

#[test]
fn parallel_guesses_get_the_quota_and_the_owner_still_signs_in() {
    let db = TestDb::sqlite();
    let app = site(&db);
    signed_in(&app, &db.db, "owner@example.com");
    let mut attacker = visitor(&app, 3);
    let csrf = attacker.get("/account/sign-in").csrf();
    let cookie = attacker.cookie_header().unwrap();
    let before = hashes_run(&app);
    // Twelve guesses at once from one address: the count is taken before the hash, atomically,
    // so exactly five are checked and the rest refused without hashing.
    let answers: Vec<(u16, Option<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|i| {
                let (csrf, cookie, url) =
                    (csrf.clone(), cookie.clone(), app.url("/account/sign-in"));
                s.spawn(move || {
                    let client = reqwest::blocking::Client::builder()
                        .timeout(std::time::Duration::from_secs(60))
                        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)))
                        .redirect(reqwest::redirect::Policy::none())
                        .build()
                        .unwrap();
                    let guess = format!("guess number {i}");
                    let r = client
                        .post(url)
                        .header("Cookie", cookie)
                        .form(&[
                            ("csrf", csrf.as_str()),
                            ("email", "owner@example.com"),
                            ("password", guess.as_str()),
                        ])
                        .send()
                        .unwrap();
                    let retry = r
                        .headers()
                        .get("retry-after")
                        .map(|v| v.to_str().unwrap().to_owned());
                    (r.status().as_u16(), retry)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let checked = answers.iter().filter(|(s, _)| *s == 422).count();
    let refused: Vec<_> = answers.iter().filter(|(s, _)| *s == 429).collect();
    assert_eq!(checked, 5, "{answers:?}");
    assert_eq!(refused.len(), 7, "{answers:?}");
    assert!(
        refused.iter().all(|(_, r)| r.is_some()),
        "every 429 has Retry-After"
    );
    assert_eq!(
        hashes_run(&app) - before,
        5,
        "refused guesses hashed nothing"
    );
    // The right password from the attacker's address is refused too (that address is spent)…
    let (status, headers, _) = post_raw(
        &attacker,
        &app,
        "/account/sign-in",
        &csrf,
        &[("email", "owner@example.com"), ("password", PASSWORD)],
    );
    retry_after(status, &headers);
    assert_eq!(
        count(&db.db, "web_sessions"),
        1,
        "only the owner's first session"
    );
    // …but the owner, elsewhere, signs in: someone else's failures only slow the account down.
    let mut owner = visitor(&app, 4);
    let r = owner.submit(
        "/account/sign-in",
        "/account/sign-in",
        &[("email", "owner@example.com"), ("password", PASSWORD)],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(owner.get("/account").status, 200);
}

#[test]
fn forgot_sends_at_most_the_account_quota_of_mails() {
    let db = TestDb::sqlite();
    let app = site(&db);
    signed_in(&app, &db.db, "ben@example.com");
    let mut b = visitor(&app, 5);
    let csrf = b.get("/account/forgot").csrf();
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let (status, headers, body) = post_raw(
            &b,
            &app,
            "/account/forgot",
            &csrf,
            &[("email", "ben@example.com")],
        );
        if status == 429 {
            retry_after(status, &headers);
            assert!(body.contains("Too many attempts"), "{body}");
        }
        statuses.push(status);
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429, 429, 429, 429, 429]);
    // The per-account quota holds from any address.
    let other = visitor(&app, 6);
    let mut other_b = other;
    let csrf2 = other_b.get("/account/forgot").csrf();
    let (status, headers, _) = post_raw(
        &other_b,
        &app,
        "/account/forgot",
        &csrf2,
        &[("email", "BEN@example.com")],
    );
    retry_after(status, &headers);
    emailed_link(&app, &db.db, "ben@example.com", "password_reset");
    assert_eq!(count(&db.db, "password_reset"), 3, "three mails, not ten");
}

#[test]
fn ten_applications_from_one_address_make_three_pending_agencies() {
    let db = TestDb::sqlite();
    let app = site(&db);
    let mut b = visitor(&app, 7);
    let csrf = b.get("/agencies/apply").csrf();
    let mut statuses = Vec::new();
    for i in 0..10 {
        let (name, licence, email) = (
            format!("Agency {i}"),
            format!("AMI-{i}"),
            format!("desk{i}@agency{i}.example"),
        );
        let (status, headers, _) = post_raw(
            &b,
            &app,
            "/agencies/apply",
            &csrf,
            &[("name", &name), ("licence", &licence), ("email", &email)],
        );
        if status == 429 {
            retry_after(status, &headers);
        }
        statuses.push(status);
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429, 429, 429, 429, 429]);
    assert_eq!(count(&db.db, "agencies"), 3);
}

#[test]
fn registrations_are_limited_and_refusals_hash_nothing() {
    let db = TestDb::sqlite();
    let app = site(&db);
    let mut b = visitor(&app, 8);
    let csrf = b.get("/account/register").csrf();
    let before = hashes_run(&app);
    let mut statuses = Vec::new();
    for i in 0..7 {
        let email = format!("new{i}@example.com");
        let (status, _, _) = post_raw(
            &b,
            &app,
            "/account/register",
            &csrf,
            &[("email", &email), ("password", PASSWORD)],
        );
        statuses.push(status);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429]);
    assert_eq!(count(&db.db, "users"), 5);
    assert_eq!(
        hashes_run(&app) - before,
        5,
        "a refused registration hashes nothing"
    );
    // The same account from elsewhere: three per hour.
    let mut c = visitor(&app, 9);
    let csrf = c.get("/account/register").csrf();
    let statuses: Vec<u16> = (0..4)
        .map(|_| {
            post_raw(
                &c,
                &app,
                "/account/register",
                &csrf,
                &[("email", "same@example.com"), ("password", PASSWORD)],
            )
            .0
        })
        .collect();
    assert_eq!(statuses, [200, 200, 200, 429]);
}

#[test]
fn a_reset_with_a_bad_token_hashes_nothing_and_resets_are_limited() {
    let db = TestDb::sqlite();
    let app = site(&db);
    let mut b = visitor(&app, 10);
    let csrf = b.get("/account/reset?token=nonsense").csrf();
    let before = hashes_run(&app);
    let mut statuses = Vec::new();
    for _ in 0..11 {
        let (status, _, _) = post_raw(
            &b,
            &app,
            "/account/reset",
            &csrf,
            &[("token", "nonsense"), ("password", PASSWORD)],
        );
        statuses.push(status);
    }
    assert_eq!(&statuses[..10], &[404; 10]);
    assert_eq!(statuses[10], 429);
    assert_eq!(
        hashes_run(&app),
        before,
        "no hashing for a link that cannot be used"
    );
}

#[test]
fn forms_store_no_session_and_a_reset_clears_the_account_counters() {
    let db = TestDb::sqlite();
    let app = site(&db);
    for path in [
        "/account/register",
        "/account/sign-in",
        "/account/forgot",
        "/account/reset?token=x",
        "/agencies/apply",
        "/",
    ] {
        let mut b = visitor(&app, 11);
        let page: Page = b.get(path);
        assert_eq!(page.status, 200, "{path}");
        assert!(b.cookie.is_none(), "{path} set a session cookie");
    }
    assert_eq!(
        count(&db.db, "web_sessions"),
        0,
        "no session stored by opening forms"
    );
    // A form posted with a CSRF cookie that is not ours (planted by someone who cannot sign) is
    // refused.
    let mut forged = visitor(&app, 12);
    forged.csrf_cookie = Some("csrf=planted.AAAA".to_owned());
    let (status, _, _) = post_raw(
        &forged,
        &app,
        "/account/forgot",
        "planted.AAAA",
        &[("email", "x@example.com")],
    );
    assert_eq!(status, 403);

    // Failures on an account, then the owner resets the password: the counters start again.
    let owner = signed_in(&app, &db.db, "cy@example.com");
    drop(owner);
    let mut guesser = visitor(&app, 13);
    let csrf = guesser.get("/account/sign-in").csrf();
    for _ in 0..3 {
        let (status, _, _) = post_raw(
            &guesser,
            &app,
            "/account/sign-in",
            &csrf,
            &[("email", "cy@example.com"), ("password", "not it at all")],
        );
        assert_eq!(status, 422);
    }
    let account_key = format!(
        "sign-in:account:{}",
        platform::accounts::limiter::account_digest("cy@example.com")
    );
    assert_eq!(limiter_hits(&db.db, &account_key), Some(3));
    let mut b = visitor(&app, 14);
    let r = b.submit(
        "/account/forgot",
        "/account/forgot",
        &[("email", "cy@example.com")],
    );
    assert_eq!(r.status, 200);
    let link = emailed_link(&app, &db.db, "cy@example.com", "password_reset");
    let token = link.split_once("token=").unwrap().1.to_owned();
    let r = b.submit(
        &link,
        "/account/reset",
        &[("token", &token), ("password", "a brand new password")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        limiter_hits(&db.db, &account_key),
        None,
        "cleared by the reset"
    );
}

fn limiter_hits(db: &Db, key: &str) -> Option<i64> {
    let mut conn = db.get().unwrap();
    platform::with_conn!(&mut conn, |c| rate_limits::table
        .find(key)
        .select(rate_limits::hits)
        .first(c)
        .optional())
    .unwrap()
}

#[test]
fn a_platform_behind_a_proxy_without_forwarded_for_warns_at_start() {
    let warned = |app: &PlatformProcess| {
        app.logs()
            .iter()
            .any(|line| line.contains("\"WARN\"") && line.contains("PLATFORM_TRUST_FORWARDED_FOR"))
    };
    // https public URL, loopback listener, trust_forwarded_for off: every visitor would share
    // the proxy's address.
    let behind = e2e_tests::platform()
        .env("PLATFORM_PUBLIC_URL", "https://homes.example")
        .env("PLATFORM_CA_ALLOW_UNENCRYPTED_KEYS", "true")
        .spawn()
        .expect("platform starts");
    assert!(warned(&behind), "{:#?}", behind.logs());
    // Configured: no warning.
    let trusted = e2e_tests::platform()
        .env("PLATFORM_PUBLIC_URL", "https://homes.example")
        .env("PLATFORM_CA_ALLOW_UNENCRYPTED_KEYS", "true")
        .env("PLATFORM_TRUST_FORWARDED_FOR", "true")
        .spawn()
        .expect("platform starts");
    assert!(!warned(&trusted), "{:#?}", trusted.logs());
    // Plain-HTTP development: no warning either.
    let development = e2e_tests::spawn_platform();
    assert!(!warned(&development));
}
