//! The buyer website through the front door: the real `platform` binary on a fresh SQLite or
//! PostgreSQL database, driven over HTTP like a browser without JavaScript.

use diesel::prelude::*;
use e2e_tests::website::{Browser, emailed_link, seed_listings, signed_in, site};
use platform::db::Db;
use platform::db::schema::{
    agencies, audit_log, dismissed_listings, notifications, users, web_sessions,
};
use platform::notify::outbox::{MailKind, NewNotification, OutboxStore};
use platform::testing::{PlatformProcess, TestDb};

fn on_both(name: &str, test: fn(&PlatformProcess, &Db)) {
    let db = TestDb::sqlite();
    let app = site(&db);
    test(&app, &db.db);
    if let Some(db) = TestDb::postgres(name) {
        let app = site(&db);
        test(&app, &db.db);
    }
}

fn search_and_listing_pages(app: &PlatformProcess, db: &Db) {
    let mut b = Browser::new(&app.web_url);
    // A fresh site: no "try fewer criteria" when there were none.
    let empty = b.get("/search");
    assert!(empty.body.contains("No listings yet"), "{}", empty.body);
    assert!(!empty.body.contains("Try fewer criteria"));
    let ids = seed_listings(db);

    let home = b.get("/");
    assert_eq!(home.status, 200);
    for label in [
        "<label for=\"city\">City</label>",
        "name=\"min_price\"",
        "name=\"keywords\"",
    ] {
        assert!(home.body.contains(label), "home has {label}");
    }
    // Browsing anonymously creates no session.
    assert!(b.cookie.is_none());
    assert_eq!(b.get("/static/site.css").status, 200);

    // HEAD answers every page a GET answers, without a body; a method the site does not serve
    // is 405 with Allow (not 404); plain http: no Strict-Transport-Security.
    let http = platform::testing::http_client();
    for path in [
        "/",
        "/search?city=lisbon",
        "/account/sign-in",
        "/static/site.css",
    ] {
        let head = http.head(format!("{}{path}", app.web_url)).send().unwrap();
        assert_eq!(head.status(), 200, "HEAD {path}");
        assert!(head.bytes().unwrap().is_empty(), "HEAD {path} has no body");
    }
    assert_eq!(
        http.head(format!("{}/listings/999999", app.web_url))
            .send()
            .unwrap()
            .status(),
        404
    );
    for method in ["TRACE", "PUT", "DELETE", "PATCH"] {
        let r = http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                &app.web_url,
            )
            .send()
            .unwrap();
        assert_eq!(r.status(), 405, "{method}");
        assert_eq!(r.headers()["allow"], "GET, HEAD, POST", "{method}");
        assert!(r.headers().get("strict-transport-security").is_none());
    }

    // City, sale, price range; newest first by default.
    let r = b.get("/search?city=lisbon&transaction=sale&min_price=300000&max_price=600000");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("2 listings"), "{}", r.body);
    let river = r.body.find("River view flat").unwrap();
    let house = r.body.find("Family house with garden").unwrap();
    assert!(house < river, "newest first");
    assert!(!r.body.contains("Ribeira loft"));
    assert!(!r.body.contains("Studio near the tram"));
    // Price ascending puts the flat first.
    let r = b.get("/search?city=lisbon&transaction=sale&sort=price_asc");
    assert!(r.body.find("River view flat").unwrap() < r.body.find("Family house").unwrap());
    // Type, bedrooms, area and keywords.
    let r =
        b.get("/search?property_type=house&min_bedrooms=2&min_area=80&max_area=90&keywords=garden");
    assert!(r.body.contains("1 listing:"), "{}", r.body);
    assert!(r.body.contains("Family house with garden"));
    let r = b.get("/search?transaction=rent");
    assert!(r.body.contains("Studio near the tram") && r.body.contains("1 listing:"));
    // Anonymous visitors are invited to sign in to save.
    assert!(r.body.contains("to save this search"));

    // Bad input: 422, the error next to its field, nothing searched.
    let r = b.get("/search?min_price=cheap&max_area=-4");
    assert_eq!(r.status, 422);
    assert!(r.body.contains("id=\"min_price-error\""), "{}", r.body);
    assert!(r.body.contains("aria-describedby=\"min_price-error\""));
    let r = b.get("/search?min_price=10&max_price=5");
    assert_eq!(r.status, 422);
    assert!(r.body.contains("id=\"max_price-error\""), "{}", r.body);
    let r = b.get("/search?property_type=castle");
    assert_eq!(r.status, 422);
    // Typed text comes back escaped.
    let r = b.get("/search?city=%3Cscript%3Ealert(1)%3C%2Fscript%3E");
    assert_eq!(r.status, 200);
    assert!(!r.body.contains("<script>alert(1)"), "escaped");

    // Paging: page size is 20, so everything fits on page 1; a page past the last leads to the
    // last one, not to "Page 999 of 1".
    let r = b.get("/search?city=lisbon&page=999");
    assert_eq!(r.status, 303);
    assert_eq!(r.location.as_deref(), Some("/search?city=lisbon&page=1"));
    assert!(
        b.get("/search?city=lisbon&page=1")
            .body
            .contains("Page 1 of 1")
    );
    // The summary shows the city as typed; an empty result says what to do.
    let r = b.get("/search?city=Lisbon");
    assert!(r.body.contains(": Lisbon</h1>"), "{}", r.body);
    let r = b.get("/search?city=Nowhere");
    assert!(r.body.contains("Try fewer criteria"), "{}", r.body);
    // A page that needs an account sends the visitor to sign in, and back after.
    let r = b.get("/saved?created=1");
    assert_eq!(r.status, 303);
    assert_eq!(
        r.location.as_deref(),
        Some("/account/sign-in?next=%2Fsaved%3Fcreated%3D1")
    );
    let form = b.get(r.location.as_deref().unwrap());
    assert!(
        form.body
            .contains("name=\"next\" value=\"/saved?created=1\""),
        "{}",
        form.body
    );
    e2e_tests::website::signed_in(app, db, "back@example.com");
    let r = b.post(
        "/account/sign-in",
        &[
            ("csrf", &form.csrf()),
            ("email", "back@example.com"),
            ("password", "a long enough password"),
            ("next", "/saved?created=1"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        r.location.as_deref(),
        Some("/saved?created=1"),
        "back to the page asked for"
    );
    // The unsubscribe page and the icon: styled, with the site's security headers.
    let http = platform::testing::http_client();
    let page = http
        .get(format!("{}/unsubscribe?token=bogus", app.web_url))
        .send()
        .unwrap();
    assert!(page.headers().contains_key("content-security-policy"));
    assert!(page.headers().contains_key("x-frame-options"));
    assert!(page.text().unwrap().contains("/static/site.css"));
    let icon = http
        .get(format!("{}/favicon.ico", app.web_url))
        .send()
        .unwrap();
    assert_eq!(icon.status(), 200);
    assert_eq!(icon.headers()["content-type"], "image/svg+xml");

    // The listing page: facts, photos, agency; the agency's signature over the stored bytes.
    let r = b.get(&format!("/listings/{}", ids[0]));
    assert_eq!(r.status, 200);
    assert!(r.body.contains("River view flat"));
    assert!(r.body.contains("Seed Homes"));
    assert!(r.body.contains("https://photos.example/alfama-12/1.jpg"));
    assert!(r.body.contains("84.5 m²"));
    assert!(r.body.contains("Signature verified"), "{}", r.body);
    // Changed behind the agency's back (in the database): the page says so.
    {
        use platform::db::schema::listings;
        let mut conn = db.get().unwrap();
        let changed =
            platform::with_conn!(&mut conn, |c| diesel::update(listings::table.find(ids[0]))
                .set(
                    listings::document.eq(diesel::dsl::sql::<diesel::sql_types::Text>(
                        "replace(document, '350000', '1')"
                    ))
                )
                .execute(c))
            .unwrap();
        assert_eq!(changed, 1);
    }
    let r = b.get(&format!("/listings/{}", ids[0]));
    assert!(r.body.contains("Signature not verified"), "{}", r.body);
    assert_eq!(b.get("/listings/999999").status, 404);
    assert_eq!(b.get("/listings/abc").status, 404);
}

#[test]
fn search_and_listing_pages_work() {
    on_both(
        "website_pages::search_and_listing_pages",
        search_and_listing_pages,
    );
}

fn accounts(app: &PlatformProcess, db: &Db) {
    let mut b = Browser::new(&app.web_url);
    // The register page stores no session: its CSRF token rides in a signed cookie.
    let form = b.get("/account/register");
    assert_eq!(form.status, 200);
    assert!(b.cookie.is_none(), "no session cookie for a form");
    let csrf_cookie = b.csrf_cookie.clone().expect("an anonymous CSRF cookie");
    assert!(
        csrf_cookie.starts_with("csrf="),
        "plain HTTP: no __Host- prefix"
    );
    assert_eq!(sessions(db), 0, "opening a form stores no session");
    let csrf = form.csrf();
    assert_eq!(csrf_cookie, format!("csrf={csrf}"), "double submit");

    // Missing CSRF token: refused, nothing stored.
    let r = b.post(
        "/account/register",
        &[
            ("email", "ana@example.com"),
            ("password", "long enough pass"),
        ],
    );
    assert_eq!(r.status, 403);
    // Wrong CSRF token too.
    let r = b.post(
        "/account/register",
        &[
            ("csrf", "forged"),
            ("email", "ana@example.com"),
            ("password", "long enough pass"),
        ],
    );
    assert_eq!(r.status, 403);
    // Short password and bad email: 422 with both errors next to their fields.
    let r = b.post(
        "/account/register",
        &[
            ("csrf", &csrf),
            ("email", "not-an-email"),
            ("password", "short"),
        ],
    );
    assert_eq!(r.status, 422);
    assert!(r.body.contains("id=\"email-error\"") && r.body.contains("id=\"password-error\""));
    assert!(r.body.contains("at least 10 characters"));
    let count = |db: &Db| -> i64 {
        let mut conn = db.get().unwrap();
        platform::with_conn!(&mut conn, |c| users::table.count().get_result(c)).unwrap()
    };
    assert_eq!(count(db), 0, "nothing stored by refused forms");

    let password = "correct horse battery";
    let r = b.post(
        "/account/register",
        &[
            ("csrf", &csrf),
            ("email", "Ana@Example.com"),
            ("password", password),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Check your email"));
    assert_eq!(count(db), 1);
    // The hash is argon2id with the OWASP parameters.
    let mut conn = db.get().unwrap();
    let hash: String = platform::with_conn!(&mut conn, |c| users::table
        .select(users::password_hash)
        .first(c))
    .unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );

    // Not confirmed yet: sign-in refused, a new link sent.
    let r = b.post(
        "/account/sign-in",
        &[
            ("csrf", &csrf),
            ("email", "ana@example.com"),
            ("password", password),
        ],
    );
    assert_eq!(r.status, 422);
    // The same answer as a wrong password (no telling whether the address had an account),
    // and a new link is on its way.
    assert!(
        r.body
            .contains(&askama_escaped(platform::web::accounts::SIGN_IN_REFUSED)),
        "{}",
        r.body
    );
    let link = emailed_link(app, db, "ana@example.com", "verify_email");
    assert!(link.starts_with("/account/verify?token="), "{link}");
    assert_eq!(b.get("/account/verify?token=nonsense").status, 404);
    // Opening the link (as a mail scanner or a link preview does) changes nothing: it shows a
    // button, and the address is still unconfirmed.
    for _ in 0..2 {
        let r = b.get(&link);
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.contains("Confirm my email"), "{}", r.body);
        assert!(!r.body.contains("Email confirmed"));
    }
    let r = b.post(
        "/account/sign-in",
        &[
            ("csrf", &csrf),
            ("email", "ana@example.com"),
            ("password", password),
        ],
    );
    assert_eq!(r.status, 422, "still unconfirmed after the link was opened");
    let link = emailed_link(app, db, "ana@example.com", "verify_email");
    let token = link.split_once("token=").unwrap().1.to_owned();
    let r = b.post("/account/verify", &[("token", &token)]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Email confirmed"));
    assert_eq!(
        b.post("/account/verify", &[("token", &token)]).status,
        404,
        "a link works once"
    );
    assert_eq!(b.get(&link).status, 404, "a used link says so when opened");

    // Wrong password: a clear message, no session.
    let r = b.post(
        "/account/sign-in",
        &[
            ("csrf", &csrf),
            ("email", "ana@example.com"),
            ("password", "wrong password!"),
        ],
    );
    assert_eq!(r.status, 422);
    assert!(
        r.body
            .contains(&askama_escaped(platform::web::accounts::SIGN_IN_REFUSED)),
        "{}",
        r.body
    );
    // Right password: a new session id, redirect home, signed in.
    let r = b.post(
        "/account/sign-in",
        &[
            ("csrf", &csrf),
            ("email", "ana@example.com"),
            ("password", password),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location.as_deref(), Some("/"));
    let signed_in_cookie = b.cookie.clone().unwrap();
    assert_eq!(sessions(db), 1, "the session is stored at sign-in");
    let account = b.get("/account");
    assert_eq!(account.status, 200);
    assert!(account.body.contains("ana@example.com"));
    // The anonymous CSRF cookie alone is worth nothing.
    let mut old = Browser::new(&app.web_url);
    old.csrf_cookie = Some(csrf_cookie);
    assert_eq!(old.get("/account").status, 303);

    // Preferences.
    let csrf_in = account.csrf();
    let r = b.post(
        "/account/preferences",
        &[("csrf", &csrf_in), ("notify_mode", "daily")],
    );
    assert_eq!(r.status, 303);
    let mode: String = platform::with_conn!(&mut conn, |c| users::table
        .select(users::notify_mode)
        .first(c))
    .unwrap();
    assert_eq!(mode, "daily");
    let r = b.post(
        "/account/preferences",
        &[("csrf", &csrf_in), ("notify_mode", "hourly")],
    );
    assert_eq!(r.status, 422);

    // Sign out: cookie cleared, the session is gone from the database.
    let r = b.post("/account/sign-out", &[("csrf", &csrf_in)]);
    assert_eq!(r.status, 303);
    assert!(b.cookie.is_none());
    let mut stolen = Browser::new(&app.web_url);
    stolen.cookie = Some(signed_in_cookie);
    assert_eq!(stolen.get("/account").status, 303, "purged at sign-out");

    // Password reset: a one-hour, single-use link.
    let r = b.submit(
        "/account/forgot",
        "/account/forgot",
        &[("email", "ana@example.com")],
    );
    assert_eq!(r.status, 200);
    // Unknown addresses get the same answer and no email.
    let r = b.submit(
        "/account/forgot",
        "/account/forgot",
        &[("email", "nobody@example.com")],
    );
    assert_eq!(r.status, 200);
    let link = emailed_link(app, db, "ana@example.com", "password_reset");
    let reset = b.get(&link);
    assert_eq!(reset.status, 200);
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let csrf = reset.csrf();
    let r = b.post(
        "/account/reset",
        &[("csrf", &csrf), ("token", &token), ("password", "short")],
    );
    assert_eq!(r.status, 422);
    let r = b.post(
        "/account/reset",
        &[
            ("csrf", &csrf),
            ("token", &token),
            ("password", "a brand new password"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = b.post(
        "/account/reset",
        &[
            ("csrf", &csrf),
            ("token", &token),
            ("password", "yet another password"),
        ],
    );
    assert_eq!(r.status, 404, "single use");
    let r = b.post(
        "/account/sign-in",
        &[
            ("csrf", &csrf),
            ("email", "ana@example.com"),
            ("password", password),
        ],
    );
    assert_eq!(r.status, 422, "the old password no longer works");
    // An expired reset link.
    b.submit(
        "/account/forgot",
        "/account/forgot",
        &[("email", "ana@example.com")],
    );
    let link = emailed_link(app, db, "ana@example.com", "password_reset");
    exec(
        db,
        "UPDATE email_tokens SET expires_at = 1 WHERE used_at IS NULL",
    );
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let csrf = b.get(&link).csrf();
    let r = b.post(
        "/account/reset",
        &[
            ("csrf", &csrf),
            ("token", &token),
            ("password", "a brand new password 2"),
        ],
    );
    assert_eq!(r.status, 410);
    assert!(r.body.contains("expired"));
    let r = b.post(
        "/account/sign-in",
        &[
            ("csrf", &csrf),
            ("email", "ana@example.com"),
            ("password", "a brand new password"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
}

/// Stored website sessions.
fn sessions(db: &Db) -> i64 {
    let mut conn = db.get().unwrap();
    platform::with_conn!(&mut conn, |c| web_sessions::table.count().get_result(c)).unwrap()
}

/// Runs raw SQL on either backend.
fn exec(db: &Db, sql: &str) {
    let mut conn = db.get().unwrap();
    platform::with_conn!(&mut conn, |c| diesel::sql_query(sql).execute(c)).unwrap();
}

#[test]
fn accounts_register_verify_sign_in_out_and_reset() {
    on_both("website_pages::accounts", accounts);
}

fn rate_limits(app: &PlatformProcess, db: &Db) {
    signed_in(app, db, "bo@example.com");
    let mut b = Browser::new(&app.web_url);
    let csrf = b.get("/account/sign-in").csrf();
    for _ in 0..5 {
        let r = b.post(
            "/account/sign-in",
            &[
                ("csrf", &csrf),
                ("email", "bo@example.com"),
                ("password", "not the password"),
            ],
        );
        assert_eq!(r.status, 422);
    }
    // The sixth attempt is refused even with the right password.
    let r = b.post(
        "/account/sign-in",
        &[
            ("csrf", &csrf),
            ("email", "bo@example.com"),
            ("password", "a long enough password"),
        ],
    );
    assert_eq!(r.status, 429);
    assert!(
        r.body.contains("Too many failed sign-ins from here"),
        "{}",
        r.body
    );
    // X-Forwarded-For is not trusted by default: a spoofed header does not reset the count.
    let client = platform::testing::http_client();
    let r = client
        .post(app.url("/account/sign-in"))
        .header("Cookie", b.cookie_header().unwrap())
        .header("X-Forwarded-For", "203.0.113.7")
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "other@example.com"),
            ("password", "x"),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 429, "the address limit applies to this peer");
    let retry: i64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (800..=900).contains(&retry),
        "a 429 says when to come back (the 15-minute window's end): {retry}"
    );
}

#[test]
fn sign_in_failures_are_rate_limited() {
    on_both("website_pages::rate_limits", rate_limits);
}

fn saved_searches_history_and_matches(app: &PlatformProcess, db: &Db) {
    let ids = seed_listings(db);
    let mut b = signed_in(app, db, "cy@example.com");

    // History: searches are kept; the home page offers them and prefills the last one.
    b.get("/search?city=porto");
    b.get("/search?city=lisbon&transaction=sale");
    let home = b.get("/");
    assert!(home.body.contains("Your recent searches"));
    assert!(
        home.body.contains("city=lisbon\">For sale · lisbon</a>"),
        "{}",
        home.body
    );
    assert!(home.body.contains("href=\"/search?city=porto\""));
    assert!(
        home.body
            .contains("id=\"city\" name=\"city\" value=\"lisbon\""),
        "prefilled"
    );

    // Save the search: the listings that already match show at once.
    let results = b.get("/search?city=lisbon&transaction=sale");
    assert!(results.body.contains("Save this search"));
    let csrf = results.csrf();
    let r = b.post(
        "/saved",
        &[
            ("csrf", &csrf),
            ("query", "city=lisbon&transaction=sale"),
            ("name", "Lisbon buys"),
        ],
    );
    assert_eq!(r.status, 303);
    let created = b.get(r.location.as_deref().unwrap());
    assert!(
        created
            .body
            .contains("Saved “Lisbon buys”: 2 listings already match"),
        "{}",
        created.body
    );
    assert!(created.body.contains("River view flat"));
    // The same search again (written another way) is refused, naming the one that exists.
    let r = b.post(
        "/saved",
        &[
            ("csrf", &csrf),
            ("query", "city=Lisbon&transaction=sale"),
            ("name", "Again"),
        ],
    );
    assert_eq!(r.status, 409);
    assert!(
        r.body
            .contains("You already save this search as “Lisbon buys”"),
        "{}",
        r.body
    );
    // CSRF missing: refused.
    assert_eq!(b.post("/saved", &[("query", "city=porto")]).status, 403);
    // Everything-search cannot be saved.
    let r = b.post("/saved", &[("csrf", &csrf), ("query", "")]);
    assert_eq!(r.status, 409);
    assert!(r.body.contains("cannot be saved"));

    for city in ["porto", "faro"] {
        let q = format!("city={city}");
        assert_eq!(
            b.post("/saved", &[("csrf", &csrf), ("query", &q)]).status,
            303
        );
    }
    // The fourth is refused with a clear message.
    let r = b.post("/saved", &[("csrf", &csrf), ("query", "city=braga")]);
    assert_eq!(r.status, 409);
    assert!(
        r.body.contains("You already have 3 active saved searches"),
        "{}",
        r.body
    );
    let list = b.get("/saved");
    assert_eq!(list.body.matches("<tr id=\"saved-").count(), 3);
    assert!(!list.body.contains("braga"));
    assert!(list.body.contains("Runs until"));

    // Edit, renew, delete.
    let first_id: i64 = {
        let marker = "<tr id=\"saved-";
        let start = list.body.rfind(marker).unwrap() + marker.len();
        list.body[start..]
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let edit = b.get(&format!("/saved/{first_id}/edit"));
    assert_eq!(edit.status, 200);
    assert!(edit.body.contains("value=\"Lisbon buys\""));
    let r = b.post(
        &format!("/saved/{first_id}/edit"),
        &[
            ("csrf", &csrf),
            ("name", "Lisbon cheap"),
            ("city", "Lisbon"),
            ("max_price", "oops"),
        ],
    );
    assert_eq!(r.status, 422);
    assert!(r.body.contains("id=\"max_price-error\""));
    let r = b.post(
        &format!("/saved/{first_id}/edit"),
        &[
            ("csrf", &csrf),
            ("name", "Lisbon cheap"),
            ("city", "Lisbon"),
            ("max_price", "400000"),
        ],
    );
    assert_eq!(r.status, 303);
    let after = b.get(r.location.as_deref().unwrap());
    assert!(
        after.body.contains("Saved your changes to “Lisbon cheap”"),
        "{}",
        after.body
    );
    let r = b.post(&format!("/saved/{first_id}/renew"), &[("csrf", &csrf)]);
    assert_eq!(r.status, 303);
    let after = b.get(r.location.as_deref().unwrap());
    assert!(
        after.body.contains("Renewed “Lisbon cheap”: it runs until"),
        "{}",
        after.body
    );
    // Delete asks first: the list links to a page with the button.
    assert!(
        after
            .body
            .contains(&format!("href=\"/saved/{first_id}/delete\""))
    );
    let ask = b.get(&format!("/saved/{first_id}/delete"));
    assert_eq!(ask.status, 200);
    assert!(ask.body.contains("Delete “Lisbon cheap”?"), "{}", ask.body);
    assert_eq!(
        b.get("/saved").body.matches("<tr id=\"saved-").count(),
        3,
        "asking deletes nothing"
    );
    let r = b.post(&format!("/saved/{first_id}/delete"), &[("csrf", &csrf)]);
    assert_eq!(r.status, 303);
    let after = b.get(r.location.as_deref().unwrap());
    assert!(
        after.body.contains("Deleted “Lisbon cheap”."),
        "{}",
        after.body
    );
    assert_eq!(b.get("/saved").body.matches("<tr id=\"saved-").count(), 2);
    assert_eq!(
        b.post(&format!("/saved/{first_id}/delete"), &[("csrf", &csrf)])
            .status,
        404
    );
    // Someone else cannot touch them.
    let mut other = signed_in(app, db, "dee@example.com");
    let other_csrf = other.get("/saved").csrf();
    let any_id = first_id + 1;
    assert_eq!(
        other
            .post(&format!("/saved/{any_id}/delete"), &[("csrf", &other_csrf)])
            .status,
        404
    );

    // A match arrives (as the matcher would write it): counted on the home page, listed.
    let (user_id, search_id): (i64, i64) = {
        let mut conn = db.get().unwrap();
        let user_id: i64 = platform::with_conn!(&mut conn, |c| users::table
            .filter(users::email.eq("cy@example.com"))
            .select(users::id)
            .first(c))
        .unwrap();
        let search_id: i64 =
            platform::with_conn!(&mut conn, |c| platform::db::schema::saved_searches::table
                .filter(platform::db::schema::saved_searches::user_id.eq(user_id))
                .filter(platform::db::schema::saved_searches::deleted_at.is_null())
                .select(platform::db::schema::saved_searches::id)
                .first(c))
            .unwrap();
        let mut n = NewNotification::new(
            MailKind::ListingMatch,
            "cy@example.com",
            format!("match:{search_id}:{}:1", ids[3]),
            serde_json::json!({"reason": "new", "price": 280000}),
        );
        n.user_id = Some(user_id);
        n.saved_search_id = Some(search_id);
        n.listing_id = Some(ids[3]);
        n.listing_version = Some(1);
        platform::with_conn!(&mut conn, |c| c.enqueue_notification(&n)).unwrap();
        (user_id, search_id)
    };
    let _ = search_id;
    let home = b.get("/");
    assert!(
        home.body.contains("1 new match for your saved searches"),
        "{}",
        home.body
    );
    let page = b.get("/notifications");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Ribeira loft"));
    assert!(page.body.contains("<strong>New</strong>"));
    let home = b.get("/");
    assert!(!home.body.contains("new match"), "seen now");

    // Not interested: hidden from results and from the matches page.
    let csrf = b.get(&format!("/listings/{}", ids[3])).csrf();
    let r = b.post(&format!("/listings/{}/dismiss", ids[3]), &[("csrf", &csrf)]);
    assert_eq!(r.status, 303);
    let mut conn = db.get().unwrap();
    let n: i64 = platform::with_conn!(&mut conn, |c| dismissed_listings::table
        .filter(dismissed_listings::user_id.eq(user_id))
        .count()
        .get_result(c))
    .unwrap();
    assert_eq!(n, 1);
    let r = b.get("/search?city=porto");
    assert!(!r.body.contains("Ribeira loft"));
    assert!(
        r.body
            .contains("1 listing you marked “not interested” hidden")
    );
    assert!(!b.get("/notifications").body.contains("Ribeira loft"));
    assert!(
        b.get(&format!("/listings/{}", ids[3]))
            .body
            .contains("You marked this listing")
    );
    // Anonymous visitors cannot reach any of it.
    let mut anon = Browser::new(&app.web_url);
    for path in ["/saved", "/notifications", "/account"] {
        let r = anon.get(path);
        assert_eq!(r.status, 303, "{path}");
        let back = format!("/account/sign-in?next=%2F{}", &path[1..]);
        assert_eq!(r.location.as_deref(), Some(back.as_str()));
    }
    assert_eq!(anon.get("/events").status, 401);
    let n: i64 = platform::with_conn!(&mut conn, |c| notifications::table
        .filter(notifications::kind.eq("listing_match"))
        .count()
        .get_result(c))
    .unwrap();
    assert_eq!(n, 1, "the site itself writes no matches");
}

#[test]
fn saved_searches_history_and_matches_work() {
    on_both("website_pages::saved", saved_searches_history_and_matches);
}

fn agency_applications(app: &PlatformProcess, db: &Db) {
    let mut b = Browser::new(&app.web_url);
    let form = b.get("/agencies/apply");
    assert_eq!(form.status, 200);
    assert!(form.body.contains("<label for=\"licence\">"));
    let r = b.submit(
        "/agencies/apply",
        "/agencies/apply",
        &[
            ("name", "Casa Nova"),
            ("licence", "AMI-777"),
            ("email", "not an email"),
        ],
    );
    assert_eq!(r.status, 422);
    assert!(r.body.contains("id=\"email-error\""));
    assert!(
        r.body.contains("value=\"Casa Nova\""),
        "what was typed stays"
    );
    let r = b.submit(
        "/agencies/apply",
        "/agencies/apply",
        &[
            ("name", "Casa Nova"),
            ("licence", "AMI-777"),
            ("email", "desk@casanova.example"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("waiting for review"));
    let r = b.submit(
        "/agencies/apply",
        "/agencies/apply",
        &[
            ("name", "Other"),
            ("licence", "AMI-777"),
            ("email", "x@other.example"),
        ],
    );
    assert_eq!(r.status, 409);
    assert!(r.body.contains("already registered"), "{}", r.body);
    assert_eq!(
        b.post(
            "/agencies/apply",
            &[("name", "X"), ("licence", "Y-1"), ("email", "a@b.example")]
        )
        .status,
        403
    );
    let mut conn = db.get().unwrap();
    let rows: Vec<(String, String)> = platform::with_conn!(&mut conn, |c| agencies::table
        .select((agencies::name, agencies::status))
        .load(c))
    .unwrap();
    assert_eq!(rows, vec![("Casa Nova".to_owned(), "pending".to_owned())]);
    let audit: Vec<(String, String)> = platform::with_conn!(&mut conn, |c| audit_log::table
        .filter(audit_log::action.eq("agency.apply"))
        .select((audit_log::actor, audit_log::action))
        .load(c))
    .unwrap();
    assert_eq!(
        audit,
        vec![("public".to_owned(), "agency.apply".to_owned())]
    );
}

#[test]
fn agencies_apply_from_the_website() {
    on_both("website_pages::apply", agency_applications);
}

/// `text` as the site's templates write it (askama escapes `'` and `&`, among others).
fn askama_escaped(text: &str) -> String {
    text.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}
