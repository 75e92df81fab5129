//! Contact the agency, end to end on SQLite and PostgreSQL: a buyer sends an enquiry from the
//! listing page of the real `platform` process, the agency's mail is written by its mail worker,
//! the agency's real desk (`agency-client sync`) stores the enquiry as a customer linked to the
//! listing and acknowledges it, after which the platform no longer holds the buyer's details.
//! Every refusal (consent, email, message, CSRF, rate limit, unknown listing, another agency)
//! leaves no row and no mail; deleting the buyer's account deletes their enquiries.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use e2e_tests::website::{Browser, Page, signed_in, site};
use e2e_tests::{Desk, add_agency, add_agency_with_email, spawn_desk};
use platform::db::Db;
use platform::db::schema::{enquiries, listings, notifications};
use platform::testing::{PlatformProcess, TestDb};
use serde_json::Value;

const AGENCY_MAIL: &str = "acme@agency.example";
const MESSAGE: &str = "Is the flat still free in March? We are two adults and a cat.";

/// `(name, email, phone, message, delivered_at)` of every enquiry, oldest first.
type Row = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

fn rows(db: &Db) -> Vec<Row> {
    let mut conn = db.get().unwrap();
    platform::with_conn!(&mut conn, |c| enquiries::table
        .order(enquiries::id.asc())
        .select((
            enquiries::name,
            enquiries::email,
            enquiries::phone,
            enquiries::message,
            enquiries::delivered_at,
        ))
        .load::<Row>(c))
    .unwrap()
}

fn enquiry_mails_queued(db: &Db) -> i64 {
    let mut conn = db.get().unwrap();
    platform::with_conn!(&mut conn, |c| notifications::table
        .filter(notifications::kind.eq("enquiry"))
        .count()
        .get_result(c))
    .unwrap()
}

fn listing_id(db: &Db, key: &str) -> i64 {
    let mut conn = db.get().unwrap();
    platform::with_conn!(&mut conn, |c| listings::table
        .filter(listings::listing_key.eq(key))
        .select(listings::id)
        .first(c))
    .unwrap()
}

/// The text bodies of the `.eml` files the mail worker wrote to `to` that contain `needle`;
/// waits (bounded) until there is one.
fn mail_to(app: &PlatformProcess, to: &str, needle: &str) -> String {
    let dir = app.data_dir.join("mail");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let bytes = std::fs::read(entry.path()).unwrap();
            let Some(message) = mail_parser::MessageParser::default().parse(&bytes) else {
                continue;
            };
            let addressed = message
                .to()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .is_some_and(|a| a == to);
            let text = message.body_text(0).unwrap_or_default().into_owned();
            if addressed && text.contains(needle) {
                return format!("Subject: {}\n{text}", message.subject().unwrap_or_default());
            }
        }
        assert!(
            Instant::now() < deadline,
            "no mail to {to} with {needle:?} in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn send(b: &mut Browser, id: i64, csrf: &str, fields: &[(&str, &str)]) -> Page {
    let mut form = vec![("csrf", csrf)];
    form.extend_from_slice(fields);
    b.post(&format!("/listings/{id}/enquiry"), &form)
}

fn customers_named(desk: &Desk, name: &str) -> Vec<Value> {
    desk.run(&["customer", "list"])
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == name)
        .cloned()
        .collect()
}

fn enquiries_end_to_end(db: &TestDb) {
    let app = site(db);
    let added = add_agency_with_email(&app, "Acme Homes", "AMI-1", AGENCY_MAIL);
    let (token, fingerprint) = added.handover();
    let desk = spawn_desk();
    desk.enroll(&[app.agency_url()], &token, &fingerprint);
    desk.add_flat("A-1", "Lisbon", 1200);
    desk.add_flat("A-2", "Porto", 900);
    desk.run(&["publish"]).ok();
    desk.run(&["listing", "withdraw", "A-2"]).ok();
    let synced = desk.run(&["sync"]).ok();
    assert_eq!(synced["enquiries"]["leads"], 0, "{synced}");
    let withdrawn = listing_id(&db.db, "A-2");
    let other = add_agency(&app, "Beta Realty", "BR-2").enroll(&app);
    let id = listing_id(&db.db, "A-1");

    // A visitor, signed out, opens the listing: the form is there.
    let mut ana = Browser::new(&app.web_url);
    let page = ana.get(&format!("/listings/{id}"));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Contact the agency"), "{}", page.body);
    assert!(
        page.body
            .contains(&format!("action=\"/listings/{id}/enquiry\"")),
        "{}",
        page.body
    );
    let csrf = page.csrf();
    let good = [
        ("name", "Ana Lead"),
        ("email", "ana@example.org"),
        ("phone", "+351 912 345 678"),
        ("message", MESSAGE),
        ("consent", "yes"),
    ];
    let without = |field: &str, value: Option<&'static str>| -> Vec<(&'static str, &'static str)> {
        good.iter()
            .filter_map(|(k, v)| {
                if *k == field {
                    value.map(|v| (*k, v))
                } else {
                    Some((*k, *v))
                }
            })
            .collect()
    };

    // Refusals: each names its field, and nothing is stored or mailed.
    let r = send(&mut ana, id, &csrf, &without("consent", None));
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains("id=\"enquiry-consent-error\""),
        "{}",
        r.body
    );
    assert!(r.body.contains("Ana Lead"), "what was typed is kept");
    let r = send(
        &mut ana,
        id,
        &csrf,
        &without("email", Some("ana-at-example")),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("id=\"enquiry-email-error\""), "{}", r.body);
    let r = send(&mut ana, id, &csrf, &without("message", Some("   ")));
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains("id=\"enquiry-message-error\""),
        "{}",
        r.body
    );
    let r = send(&mut ana, id, "forged", &good);
    assert_eq!(r.status, 403, "{}", r.body);
    let r = send(&mut ana, 999_999, &csrf, &good);
    assert_eq!(r.status, 404, "{}", r.body);
    let r = send(&mut ana, -1, &csrf, &good);
    assert_eq!(r.status, 404, "{}", r.body);
    // A listing no longer on the market shows no form and refuses one.
    let page = ana.get(&format!("/listings/{withdrawn}"));
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("Contact the agency"), "{}", page.body);
    let r = send(&mut ana, withdrawn, &csrf, &good);
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("no longer available"), "{}", r.body);
    assert!(rows(&db.db).is_empty());
    assert_eq!(enquiry_mails_queued(&db.db), 0);

    // The enquiry goes through: stored, confirmed, mailed to the agency.
    let r = send(&mut ana, id, &csrf, &good);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Enquiry sent"), "{}", r.body);
    assert!(r.body.contains("Acme Homes"), "{}", r.body);
    let stored = rows(&db.db);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].0.as_deref(), Some("Ana Lead"));
    assert_eq!(stored[0].4, None);
    let mail = mail_to(&app, AGENCY_MAIL, "Ana Lead");
    assert!(
        mail.contains("Enquiry about \"Flat A-1 in Lisbon\""),
        "{mail}"
    );
    assert!(mail.contains("ana@example.org"), "{mail}");
    assert!(mail.contains("+351 912 345 678"), "{mail}");
    assert!(mail.contains("two adults and a cat"), "{mail}");
    // Its link leads to the listing page.
    let link_at = mail.find(&app.web_url).expect("a link to the site");
    let link: String = mail[link_at + app.web_url.len()..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '>')
        .collect();
    assert_eq!(link, format!("/listings/{id}"));
    let page = ana.get(&link);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Flat A-1 in Lisbon"));
    // Once sent, the mail's payload no longer holds the buyer's details.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut conn = db.db.get().unwrap();
        let payload: String = platform::with_conn!(&mut conn, |c| notifications::table
            .filter(notifications::kind.eq("enquiry"))
            .select(notifications::payload)
            .first(c))
        .unwrap();
        if payload == "{}" {
            break;
        }
        assert!(Instant::now() < deadline, "payload kept: {payload}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Another agency neither sees nor acknowledges it.
    let (status, body) = other.get("/api/v1/enquiries");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, serde_json::json!([]));
    let r = other
        .client()
        .post(other.url("/api/v1/enquiries/1/ack"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let body: Value = r.json().unwrap();
    assert_eq!(body["error"]["code"], "enquiry_not_found", "{body}");
    assert_eq!(rows(&db.db)[0].0.as_deref(), Some("Ana Lead"));

    // The agency's desk syncs: one lead, linked to the listing; the platform erases the details.
    let synced = desk.run(&["sync"]).ok();
    assert_eq!(synced["enquiries"]["leads"], 1, "{synced}");
    let lead = customers_named(&desk, "Ana Lead");
    assert_eq!(lead.len(), 1, "{lead:?}");
    assert_eq!(lead[0]["kind"], "tenant");
    assert_eq!(lead[0]["listing_keys"], serde_json::json!(["A-1"]));
    let contact = lead[0]["contact"].as_str().unwrap();
    assert!(contact.contains("ana@example.org") && contact.contains("+351 912 345 678"));
    assert!(lead[0]["notes"].as_str().unwrap().contains(MESSAGE));
    let erased = &rows(&db.db)[0];
    assert_eq!(
        (&erased.0, &erased.1, &erased.2, &erased.3),
        (&None, &None, &None, &None),
        "a signed-out buyer's enquiry keeps nothing personal"
    );
    assert!(erased.4.is_some());

    // A second sync makes no second customer; nor does an enquiry read again (a lost ack).
    let synced = desk.run(&["sync"]).ok();
    assert_eq!(synced["enquiries"]["leads"], 0, "{synced}");
    {
        let mut conn = db.db.get().unwrap();
        platform::with_conn!(&mut conn, |c| diesel::update(enquiries::table)
            .set((
                enquiries::delivered_at.eq(None::<i64>),
                enquiries::name.eq(Some("Ana Lead")),
                enquiries::email.eq(Some("ana@example.org")),
                enquiries::message.eq(Some(MESSAGE)),
            ))
            .execute(c))
        .unwrap();
    }
    let synced = desk.run(&["sync"]).ok();
    assert_eq!(synced["enquiries"]["leads"], 0, "{synced}");
    assert_eq!(synced["enquiries"]["already_stored"], 1, "{synced}");
    assert_eq!(customers_named(&desk, "Ana Lead").len(), 1);
    assert_eq!(rows(&db.db)[0].0, None);

    // A signed-in buyer: the email is filled in, and their enquiries are listed.
    let mut bob = signed_in(&app, &db.db, "bob@example.org");
    let account = bob.get("/account");
    assert!(
        account.body.contains("href=\"/enquiries\""),
        "{}",
        account.body
    );
    let page = bob.get(&format!("/listings/{id}"));
    assert!(
        page.body.contains("value=\"bob@example.org\""),
        "{}",
        page.body
    );
    let csrf = page.csrf();
    let bob_form = [
        ("name", "Bob Buyer"),
        ("email", "bob@example.org"),
        ("phone", ""),
        ("message", "Can I visit on Saturday?"),
        ("consent", "yes"),
    ];
    for _ in 0..5 {
        let r = send(&mut bob, id, &csrf, &bob_form);
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.contains("href=\"/enquiries\""), "{}", r.body);
    }
    // The sixth within the hour is refused with Retry-After; nothing stored or mailed.
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(&bob_form);
    let r = bob
        .client()
        .post(format!("{}/listings/{id}/enquiry", app.web_url))
        .header("Cookie", bob.cookie_header().unwrap())
        .form(&form)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    let wait: i64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait > 0);
    assert_eq!(rows(&db.db).len(), 6);
    assert_eq!(enquiry_mails_queued(&db.db), 6);
    let mine = bob.get("/enquiries");
    assert_eq!(mine.status, 200);
    assert_eq!(mine.body.matches("Can I visit on Saturday?").count(), 5);
    assert!(mine.body.contains("Flat A-1 in Lisbon"));
    assert!(
        !mine.body.contains(MESSAGE),
        "only the buyer's own enquiries"
    );
    // Signed out, the page asks to sign in.
    let r = Browser::new(&app.web_url).get("/enquiries");
    assert_eq!(r.status, 303);

    // After delivery the signed-in buyer's own message stays for their page; nothing else.
    let synced = desk.run(&["sync"]).ok();
    assert_eq!(synced["enquiries"]["leads"], 5, "{synced}");
    for row in &rows(&db.db)[1..] {
        assert_eq!((&row.0, &row.1, &row.2), (&None, &None, &None));
        assert_eq!(row.3.as_deref(), Some("Can I visit on Saturday?"));
    }
    let mine = bob.get("/enquiries");
    assert_eq!(mine.body.matches("Received by the agency").count(), 5);

    // Deleting the account erases the buyer's enquiries with it.
    let r = bob.submit(
        "/account/delete",
        "/account/delete",
        &[("password", "a long enough password")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let left = rows(&db.db);
    assert_eq!(
        left.len(),
        1,
        "only the signed-out buyer's (erased) row: {left:?}"
    );
    assert_eq!(left[0], (None, None, None, None, left[0].4));
}

#[test]
fn an_enquiry_reaches_the_agency_and_its_desk_on_sqlite() {
    enquiries_end_to_end(&TestDb::sqlite());
}

#[test]
fn an_enquiry_reaches_the_agency_and_its_desk_on_postgresql() {
    let name = "an_enquiry_reaches_the_agency_and_its_desk_on_postgresql";
    let Some(db) = TestDb::postgres(name) else {
        platform::testing::skip(name, "TEST_POSTGRES_URL is not set");
        return;
    };
    enquiries_end_to_end(&db);
}
