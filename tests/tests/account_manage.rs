//! A buyer manages their own account, through the real `platform` binary on SQLite and
//! PostgreSQL: changing the password signs out every other session, and deleting the account
//! erases it and everything kept for it. The database is read afterwards for what must not be
//! there: the address, the saved search's name and the words searched.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use e2e_tests::website::{Browser, emailed_link, seed_listings, signed_in, site};
use platform::db::Db;
use platform::db::schema::{
    dismissed_listings, email_tokens, mail_messages, notifications, saved_searches, search_history,
    sign_in_attempts, users, web_sessions,
};
use platform::notify::outbox::{MailKind, NewNotification, OutboxStore};
use platform::testing::{PlatformProcess, TestDb};

const EMAIL: &str = "ann.erase@example.com";
const OLD: &str = "a long enough password";
const NEW: &str = "another long passphrase";
/// Words that only this user's data carries.
const SEARCH_NAME: &str = "Zanzibar balcony hunt";
const KEYWORD: &str = "harbourlights";
const NEEDLES: [&str; 3] = [EMAIL, SEARCH_NAME, KEYWORD];

fn user_id(db: &Db) -> Option<i64> {
    let mut conn = db.get().unwrap();
    platform::with_conn!(&mut conn, |c| users::table
        .filter(users::email.eq(EMAIL))
        .select(users::id)
        .first(c)
        .optional())
    .unwrap()
}

fn password_hash(db: &Db) -> String {
    let mut conn = db.get().unwrap();
    platform::with_conn!(&mut conn, |c| users::table
        .filter(users::email.eq(EMAIL))
        .select(users::password_hash)
        .first(c))
    .unwrap()
}

/// Rows that still belong to user `id` or name the address, table by table.
fn rows_left(db: &Db, id: i64) -> Vec<(&'static str, i64)> {
    let mut conn = db.get().unwrap();
    platform::with_conn!(&mut conn, |c| {
        let counts: Vec<(&'static str, i64)> = vec![
            (
                "users",
                users::table
                    .filter(users::id.eq(id))
                    .count()
                    .get_result(c)
                    .unwrap(),
            ),
            (
                "saved_searches",
                saved_searches::table
                    .filter(saved_searches::user_id.eq(id))
                    .count()
                    .get_result(c)
                    .unwrap(),
            ),
            (
                "notifications",
                notifications::table
                    .filter(notifications::user_id.eq(id))
                    .count()
                    .get_result(c)
                    .unwrap(),
            ),
            (
                "search_history",
                search_history::table
                    .filter(search_history::user_id.eq(id))
                    .count()
                    .get_result(c)
                    .unwrap(),
            ),
            (
                "dismissed_listings",
                dismissed_listings::table
                    .filter(dismissed_listings::user_id.eq(id))
                    .count()
                    .get_result(c)
                    .unwrap(),
            ),
            (
                "email_tokens",
                email_tokens::table
                    .filter(email_tokens::user_id.eq(id))
                    .count()
                    .get_result(c)
                    .unwrap(),
            ),
            (
                "web_sessions",
                web_sessions::table
                    .filter(web_sessions::user_id.eq(id))
                    .count()
                    .get_result(c)
                    .unwrap(),
            ),
            (
                "sign_in_attempts",
                sign_in_attempts::table
                    .filter(sign_in_attempts::key.like(format!("%{EMAIL}%")))
                    .count()
                    .get_result(c)
                    .unwrap(),
            ),
            (
                "mail_messages",
                mail_messages::table
                    .filter(mail_messages::recipient.eq(EMAIL))
                    .count()
                    .get_result(c)
                    .unwrap(),
            ),
        ];
        Ok::<_, diesel::result::Error>(counts.into_iter().filter(|(_, n)| *n > 0).collect())
    })
    .unwrap()
}

/// `hits` scans the platform's storage for [`NEEDLES`]; before the deletion it must find them
/// (so the scan sees what is stored), after it nothing.
fn manage_account(app: &PlatformProcess, db: &Db, hits: &dyn Fn() -> Vec<String>) {
    let ids = seed_listings(db);
    let mut b = signed_in(app, db, EMAIL);
    let mut other = Browser::new(&app.web_url);
    let r = other.submit(
        "/account/sign-in",
        "/account/sign-in",
        &[("email", EMAIL), ("password", OLD)],
    );
    assert_eq!(r.status, 303, "a second session: {}", r.body);
    let id = user_id(db).expect("the account exists");

    // What a user leaves on the site: a saved search, a search in the history, a listing marked
    // "not interested", and a match (mailed by the running platform).
    let r = b.submit(
        "/search?city=Porto",
        "/saved",
        &[("query", "city=Porto"), ("name", SEARCH_NAME)],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(b.get(&format!("/search?keywords={KEYWORD}")).status, 200);
    let r = b.submit(
        &format!("/listings/{}", ids[0]),
        &format!("/listings/{}/dismiss", ids[0]),
        &[],
    );
    assert!(r.status == 303 || r.status == 200, "{}", r.body);
    {
        let mut conn = db.get().unwrap();
        let search_id: i64 = platform::with_conn!(&mut conn, |c| saved_searches::table
            .filter(saved_searches::user_id.eq(id))
            .select(saved_searches::id)
            .first(c))
        .unwrap();
        let mut n = NewNotification::new(
            MailKind::ListingMatch,
            EMAIL,
            format!("match:{search_id}:{}:1", ids[3]),
            serde_json::json!({"reason": "new", "price": 280000}),
        );
        n.user_id = Some(id);
        n.saved_search_id = Some(search_id);
        n.listing_id = Some(ids[3]);
        n.listing_version = Some(1);
        platform::with_conn!(&mut conn, |c| c.enqueue_notification(&n)).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut conn = db.get().unwrap();
        let sent: i64 = platform::with_conn!(&mut conn, |c| mail_messages::table
            .filter(mail_messages::recipient.eq(EMAIL))
            .filter(mail_messages::sent_at.is_not_null())
            .count()
            .get_result(c))
        .unwrap();
        if sent >= 2 {
            break; // the confirmation link and the match
        }
        assert!(Instant::now() < deadline, "the match mail was not sent");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(b.get("/notifications").body.contains("Ribeira loft"));

    // The account page leads to both.
    let account = b.get("/account");
    assert!(
        account.body.contains("href=\"/account/password\""),
        "{}",
        account.body
    );
    assert!(
        account.body.contains("href=\"/account/delete\""),
        "{}",
        account.body
    );

    // Change the password: mistakes first, each changing nothing.
    let before = password_hash(db);
    let r = b.submit(
        "/account/password",
        "/account/password",
        &[
            ("current_password", "not my password"),
            ("new_password", NEW),
        ],
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains("That is not your current password."),
        "{}",
        r.body
    );
    let r = b.submit(
        "/account/password",
        "/account/password",
        &[("current_password", OLD), ("new_password", "short")],
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("New password: use at least"), "{}", r.body);
    let r = b.submit(
        "/account/password",
        "/account/password",
        &[("current_password", OLD), ("new_password", OLD)],
    );
    assert_eq!(r.status, 422, "{}", r.body);
    let r = b.post(
        "/account/password",
        &[
            ("csrf", "forged"),
            ("current_password", OLD),
            ("new_password", NEW),
        ],
    );
    assert_eq!(r.status, 403, "a forged form: {}", r.body);
    assert_eq!(password_hash(db), before, "no mistake changed the password");
    assert_eq!(other.get("/account").status, 200, "the other session lives");

    let r = b.submit(
        "/account/password",
        "/account/password",
        &[("current_password", OLD), ("new_password", NEW)],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Password changed"), "{}", r.body);
    assert_ne!(password_hash(db), before);
    assert_eq!(
        b.get("/account").status,
        200,
        "this browser stays signed in"
    );
    let gone = other.get("/account");
    assert_eq!(gone.status, 303, "the other session is signed out");
    assert!(gone.location.unwrap().starts_with("/account/sign-in"));
    let mut fresh = Browser::new(&app.web_url);
    let r = fresh.submit(
        "/account/sign-in",
        "/account/sign-in",
        &[("email", EMAIL), ("password", OLD)],
    );
    assert_eq!(
        r.status, 422,
        "the old password no longer works: {}",
        r.body
    );
    let r = fresh.submit(
        "/account/sign-in",
        "/account/sign-in",
        &[("email", EMAIL), ("password", NEW)],
    );
    assert_eq!(r.status, 303, "the new one does: {}", r.body);

    // Signed out, the pages send to sign-in and the forms do nothing.
    let mut stranger = Browser::new(&app.web_url);
    let r = stranger.get("/account/delete");
    assert_eq!(r.status, 303);

    let before = hits();
    for needle in NEEDLES {
        assert!(
            before.iter().any(|h| h.contains(needle)),
            "the scan sees {needle:?} while the account lives: {before:?}"
        );
    }

    // Delete: asked first, a wrong password changes nothing.
    let ask = b.get("/account/delete");
    assert_eq!(ask.status, 200);
    assert!(
        ask.body.contains(EMAIL) && ask.body.contains("cannot be undone"),
        "{}",
        ask.body
    );
    let r = b.submit("/account/delete", "/account/delete", &[("password", OLD)]);
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("That is not your current password."));
    let r = b.submit("/account/delete", "/account/delete", &[("password", "")]);
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(user_id(db), Some(id), "still there");

    let r = b.submit("/account/delete", "/account/delete", &[("password", NEW)]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Your account is deleted"), "{}", r.body);
    assert!(b.cookie.is_none(), "the browser forgets the session");
    assert_eq!(fresh.get("/account").status, 303, "every session ended");
    assert_eq!(
        rows_left(db, id),
        Vec::<(&str, i64)>::new(),
        "erased, not flagged"
    );
}

/// Every hit of `needles` in the text of the PostgreSQL database at `url`.
fn postgres_hits(url: &str, needles: &[&str]) -> Vec<String> {
    e2e_tests::scan::postgres_text_hits(url, needles)
}

#[test]
fn account_changes_and_deletion_on_sqlite_leave_nothing_behind() {
    let db = TestDb::sqlite();
    let mut app = site(&db);
    // The database file and its journal, read as bytes (SQLite runs with secure_delete).
    let path = db.url.trim_start_matches("sqlite://").to_owned();
    let dir = std::path::Path::new(&path).parent().unwrap().to_owned();
    let hits = || e2e_tests::scan::file_hits(&dir, &NEEDLES, ".db");
    manage_account(&app, &db.db, &hits);
    app.terminate(Duration::from_secs(30));
    let left = hits();
    assert!(left.is_empty(), "still held: {left:?}");
}

#[test]
fn account_changes_and_deletion_on_postgresql_leave_nothing_behind() {
    let name = "account_changes_and_deletion_on_postgresql_leave_nothing_behind";
    let Some(db) = TestDb::postgres(name) else {
        platform::testing::skip(name, "TEST_POSTGRES_URL is not set");
        return;
    };
    let mut app = site(&db);
    let hits = || postgres_hits(&db.url, &NEEDLES);
    manage_account(&app, &db.db, &hits);
    app.terminate(Duration::from_secs(30));
    let left = hits();
    assert!(left.is_empty(), "still held: {left:?}");
}

/// Changing the address: asked with the password, confirmed from the new address (a page with a
/// button), the old address told; mistakes change nothing; a taken address is refused at
/// confirmation.
fn change_email(app: &PlatformProcess, db: &Db) {
    let old = "bo.move@example.com";
    let new = "bo.new@example.com";
    let mut b = signed_in(app, db, old);
    let page = b.get("/account/email");
    assert_eq!(page.status, 200);
    assert!(page.body.contains(old), "{}", page.body);
    let count = |kind: &str| -> i64 {
        let mut conn = db.get().unwrap();
        platform::with_conn!(&mut conn, |c| notifications::table
            .filter(notifications::kind.eq(kind))
            .count()
            .get_result(c))
        .unwrap()
    };
    for (typed, password, says) in [
        (old, OLD, "That is your address already."),
        ("not an address", OLD, "email"),
        (
            new,
            "wrong password here",
            "That is not your current password.",
        ),
        (new, "", "Type your password to confirm."),
    ] {
        let r = b.submit(
            "/account/email",
            "/account/email",
            &[("new_email", typed), ("password", password)],
        );
        assert_eq!(r.status, 422, "{typed}: {}", r.body);
        assert!(r.body.contains(says), "{typed}: {}", r.body);
    }
    assert_eq!(count("confirm_new_email"), 0, "no mistake sent a link");

    let r = b.submit(
        "/account/email",
        "/account/email",
        &[("new_email", new), ("password", OLD)],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Check your new address"), "{}", r.body);
    let link = emailed_link(app, db, new, "confirm_new_email");
    // The old address is told; it stays the account's until the link is confirmed.
    assert_eq!(count("email_change_requested"), 1);
    assert!(b.get("/account").body.contains(old));
    // Opening the link changes nothing: a page with a button.
    let stranger_page = Browser::new(&app.web_url).get(&link);
    assert_eq!(stranger_page.status, 200, "{}", stranger_page.body);
    assert!(
        stranger_page.body.contains("Use this address"),
        "{}",
        stranger_page.body
    );
    assert!(
        b.get("/account").body.contains(old),
        "a GET changes nothing"
    );
    let token = link.split_once("token=").unwrap().1.to_owned();
    let r = Browser::new(&app.web_url).post("/account/email/confirm", &[("token", &token)]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Email address changed"), "{}", r.body);
    assert!(
        b.get("/account").body.contains(new),
        "the account uses the new address"
    );
    // Used once.
    let again = Browser::new(&app.web_url).post("/account/email/confirm", &[("token", &token)]);
    assert_eq!(again.status, 404, "{}", again.body);
    // The new address signs in; the old one no longer does.
    let mut fresh = Browser::new(&app.web_url);
    let r = fresh.submit(
        "/account/sign-in",
        "/account/sign-in",
        &[("email", new), ("password", OLD)],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let r = Browser::new(&app.web_url).submit(
        "/account/sign-in",
        "/account/sign-in",
        &[("email", old), ("password", OLD)],
    );
    assert_eq!(r.status, 422, "{}", r.body);

    // An address another account takes meanwhile is refused at confirmation.
    let taken = "cy.taken@example.com";
    let r = b.submit(
        "/account/email",
        "/account/email",
        &[("new_email", taken), ("password", OLD)],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let link = emailed_link(app, db, taken, "confirm_new_email");
    let _other = signed_in(app, db, taken);
    let token = link.split_once("token=").unwrap().1.to_owned();
    let r = Browser::new(&app.web_url).post("/account/email/confirm", &[("token", &token)]);
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(b.get("/account").body.contains(new), "nothing changed");
    // Signed out, the form is not there.
    assert_eq!(Browser::new(&app.web_url).get("/account/email").status, 303);
}

#[test]
fn the_address_changes_only_when_the_new_one_confirms() {
    let db = TestDb::sqlite();
    let app = site(&db);
    change_email(&app, &db.db);
    if let Some(db) = TestDb::postgres("the_address_changes_only_when_the_new_one_confirms") {
        let app = site(&db);
        change_email(&app, &db.db);
    }
}
