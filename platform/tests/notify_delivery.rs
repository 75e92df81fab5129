//! Email delivery through a real SMTP conversation: the outbox worker against the test SMTP
//! server, on SQLite and PostgreSQL. Each test asserts what a recipient would notice (which
//! emails arrive, what they say, their links and headers) and what must not happen (repeats,
//! lost mail).

use std::time::Duration;

use api_types::ListingDocument;
use diesel::prelude::*;
use mail_parser::{HeaderValue, MessageParser};
use platform::config::{MailConfig, SmtpTls};
use platform::db::schema::{notifications, saved_searches, users};
use platform::db::{Db, DbConn};
use platform::notify::unsubscribe::UnsubscribeKey;
use platform::notify::{MailKind, Mailer, NewNotification, OutboxStore, Worker, WorkerSettings};
use platform::testing::fixtures;
use platform::testing::smtp::{ReceivedMail, SmtpMode, SmtpSink};
use serde_json::json;

const PUBLIC_URL: &str = "https://homes.example";
const HOUR: i64 = 3_600_000;

struct Harness {
    sink: SmtpSink,
    worker: Worker,
    key: UnsubscribeKey,
    _dir: tempfile::TempDir,
}

fn settings() -> WorkerSettings {
    WorkerSettings {
        batch_window_ms: 60_000,
        retry_base_ms: 1_000,
        max_attempts: 4,
        ..WorkerSettings::from_config(&MailConfig::default())
    }
}

fn harness(db: &Db, settings: WorkerSettings) -> Harness {
    let sink = SmtpSink::start();
    let mail = MailConfig {
        smtp_tls: SmtpTls::None,
        smtp_port: Some(sink.port()),
        smtp_timeout_secs: 5,
        ..MailConfig::default()
    };
    let mailer = Mailer::smtp(&mail, "127.0.0.1", None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = UnsubscribeKey::load_or_create(dir.path()).unwrap();
    let worker = Worker::new(
        db.clone(),
        mailer,
        settings,
        PUBLIC_URL,
        "Listing Exchange <noreply@homes.example>".parse().unwrap(),
        key.clone(),
    );
    Harness {
        sink,
        worker,
        key,
        _dir: dir,
    }
}

fn enqueue(db: &Db, n: &NewNotification) {
    let mut conn = db.get().unwrap();
    assert!(platform::write_tx!(&mut conn, |c| c.enqueue_notification(n)).unwrap());
}

fn listing(conn: &mut DbConn, agency: &(i64, String), key: &str, title: &str, price: i64) -> i64 {
    let mut doc = ListingDocument::example(key);
    doc.title = title.to_owned();
    doc.list_price = api_types::Price::new(u64::try_from(price).unwrap()).unwrap();
    fixtures::publish(conn, agency.0, &agency.1, &doc)
        .unwrap()
        .current
        .id
}

fn agency(conn: &mut DbConn) -> (i64, String) {
    let (a, serial) = fixtures::active_agency_with_certificate(conn, "Casa Lisboa");
    (a.id, serial)
}

fn saved_search(conn: &mut DbConn, user_id: i64, name: &str) -> i64 {
    let now = platform::db::now_ms();
    platform::with_conn!(conn, |c| diesel::insert_into(saved_searches::table)
        .values((
            saved_searches::user_id.eq(Some(user_id)),
            saved_searches::name.eq(name),
            saved_searches::criteria.eq("{}"),
            saved_searches::created_at.eq(now),
            saved_searches::renewed_at.eq(now),
            saved_searches::expires_at.eq(now + 30 * 24 * HOUR),
        ))
        .returning(saved_searches::id)
        .get_result(c))
    .unwrap()
}

fn set_mode(conn: &mut DbConn, user_id: i64, mode: &str) {
    platform::with_conn!(conn, |c| diesel::update(users::table.find(user_id))
        .set(users::notify_mode.eq(mode))
        .execute(c))
    .unwrap();
}

#[allow(clippy::too_many_arguments)]
fn a_match(
    email: &str,
    user_id: i64,
    search: i64,
    listing_id: i64,
    version: i64,
    price: i64,
    previous: Option<i64>,
) -> NewNotification {
    let payload = match previous {
        Some(p) => json!({"reason": "price_drop", "price": price, "previous_price": p}),
        None => json!({"reason": "new", "price": price}),
    };
    NewNotification {
        user_id: Some(user_id),
        saved_search_id: Some(search),
        listing_id: Some(listing_id),
        listing_version: Some(version),
        ..NewNotification::new(
            MailKind::ListingMatch,
            email,
            format!("match:{search}:{listing_id}:{version}"),
            payload,
        )
    }
}

/// (status, attempts, next_attempt_at, last_error, payload) by idempotency key.
fn row(db: &Db, key: &str) -> (String, i32, i64, Option<String>, String) {
    let mut conn = db.get().unwrap();
    platform::with_conn!(&mut conn, |c| notifications::table
        .filter(notifications::idempotency_key.eq(key))
        .select((
            notifications::status,
            notifications::attempts,
            notifications::next_attempt_at,
            notifications::last_error,
            notifications::payload,
        ))
        .first(c))
    .unwrap()
}

struct Parsed {
    to: Vec<String>,
    subject: String,
    text: String,
    html: String,
    list_unsubscribe: Option<String>,
    list_unsubscribe_post: Option<String>,
    message_id: Option<String>,
}

fn parse(mail: &ReceivedMail) -> Parsed {
    let m = MessageParser::default()
        .parse(&mail.data)
        .expect("a parseable message");
    let header = |name: &str| {
        m.header_raw(name)
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(""))
    };
    let mut to = Vec::new();
    if let Some(HeaderValue::Address(a)) = m.header("To") {
        to.extend(a.iter().filter_map(|a| a.address().map(str::to_owned)));
    }
    assert_eq!(m.text_body_count(), 1, "one text/plain part");
    assert_eq!(m.html_body_count(), 1, "one text/html part");
    Parsed {
        to,
        subject: m.subject().unwrap_or_default().to_owned(),
        text: m.body_text(0).unwrap().into_owned(),
        html: m.body_html(0).unwrap().into_owned(),
        list_unsubscribe: header("List-Unsubscribe"),
        list_unsubscribe_post: header("List-Unsubscribe-Post").map(|v| v.replace(' ', "")),
        message_id: m.message_id().map(str::to_owned),
    }
}

fn for_recipient(mails: &[ReceivedMail], email: &str) -> Vec<Parsed> {
    mails
        .iter()
        .filter(|m| m.to.iter().any(|t| t == email))
        .map(parse)
        .collect()
}

platform::db_test!(async every_mail_kind_renders_and_secrets_are_scrubbed, |db| {
    let h = harness(db, settings());
    let mut conn = db.get().unwrap();
    let agency = agency(&mut conn);
    let user = fixtures::user(&mut conn, "ana@example.org");
    let search = saved_search(&mut conn, user, "Alfama flats");
    let listing_id = listing(&mut conn, &agency, "A-1", "River view flat", 350_000);
    drop(conn);
    let kinds = [
        (MailKind::VerifyEmail, "verify@example.org", json!({"link": "https://homes.example/account/verify?token=VERIFYTOKEN"})),
        (MailKind::PasswordReset, "reset@example.org", json!({"link": "https://homes.example/account/reset?token=RESETTOKEN"})),
        (MailKind::SavedSearchExpiring, "ana@example.org", json!({"name": "Alfama flats", "expires_at": "2026-12-01T00:00:00Z", "renew_link": "https://homes.example/account/searches/1/renew"})),
        (MailKind::AgencyApproved, "desk@agency.example", json!({"agency_name": "Casa Lisboa", "token": "ENROLTOKEN", "token_expires_at": "2026-12-01T00:00:00Z", "ca_fingerprint": "AB:CD", "agency_api": "https://api.homes.example"})),
        (MailKind::AgencyRejected, "rejected@agency.example", json!({"agency_name": "Shady <b>Homes</b>"})),
        (MailKind::CertificateExpiring, "certs@agency.example", json!({"agency_name": "Casa Lisboa", "serial": "0a1b", "not_after": "2026-12-07T00:00:00Z"})),
    ];
    for (kind, to, payload) in &kinds {
        let mut n = NewNotification::new(*kind, *to, format!("{}:1", kind.code()), payload.clone());
        if *kind == MailKind::SavedSearchExpiring {
            n.user_id = Some(user);
        }
        enqueue(db, &n);
    }
    enqueue(db, &a_match("ana@example.org", user, search, listing_id, 1, 350_000, None));

    let report = h.worker.run_once(platform::db::now_ms() + 61_000).await.unwrap();
    assert_eq!(report.emails_sent, 7, "{report:?}");
    let mails = h.sink.messages();
    assert_eq!(mails.len(), 7);
    for m in &mails {
        assert_eq!(m.from, "noreply@homes.example");
        assert_eq!(m.to.len(), 1);
    }

    let verify = &for_recipient(&mails, "verify@example.org")[0];
    assert_eq!(verify.subject, "Confirm your email address");
    assert!(verify.text.contains("https://homes.example/account/verify?token=VERIFYTOKEN"));
    assert!(verify.html.contains("href=\"https://homes.example/account/verify?token=VERIFYTOKEN\""));
    assert!(verify.list_unsubscribe.is_none(), "account mail has no unsubscribe");
    let reset = &for_recipient(&mails, "reset@example.org")[0];
    assert_eq!(reset.subject, "Reset your password");
    assert!(reset.text.contains("RESETTOKEN"));
    let approved = &for_recipient(&mails, "desk@agency.example")[0];
    assert!(approved.subject.contains("Casa Lisboa is approved"));
    assert!(approved.text.contains("ENROLTOKEN") && approved.text.contains("AB:CD"));
    assert!(approved.html.contains("ENROLTOKEN"));
    let rejected = &for_recipient(&mails, "rejected@agency.example")[0];
    assert!(rejected.html.contains("Shady &#60;b&#62;Homes&#60;/b&#62;"), "{}", rejected.html);
    assert!(!rejected.html.contains("<b>Homes"));
    let certs = &for_recipient(&mails, "certs@agency.example")[0];
    assert!(certs.subject.contains("certificate of Casa Lisboa expires"));
    assert!(certs.text.contains("0a1b"));

    let ana = for_recipient(&mails, "ana@example.org");
    assert_eq!(ana.len(), 2);
    let expiring = ana.iter().find(|p| p.subject.contains("expires soon")).unwrap();
    assert!(expiring.text.contains("https://homes.example/account/searches/1/renew"));
    assert!(expiring.list_unsubscribe.is_some());
    let matched = ana.iter().find(|p| p.subject.starts_with("New match")).unwrap();
    assert_eq!(matched.to, vec!["ana@example.org".to_owned()]);
    assert!(matched.text.contains("River view flat"));
    assert!(matched.text.contains(&format!("{PUBLIC_URL}/listings/{listing_id}")));
    assert!(matched.text.contains("350,000 EUR") && matched.text.contains("Lisbon, Alfama"));
    assert!(matched.text.contains("2 bedrooms") && matched.text.contains("84 m²") || matched.text.contains("85 m²"));
    assert!(matched.text.contains("\"Alfama flats\""));
    assert!(matched.html.contains(&format!("href=\"{PUBLIC_URL}/listings/{listing_id}\"")));
    let unsubscribe = format!("<{}>", h.key.link(PUBLIC_URL, user));
    assert_eq!(matched.list_unsubscribe.as_deref(), Some(unsubscribe.as_str()));
    assert_eq!(matched.list_unsubscribe_post.as_deref(), Some("List-Unsubscribe=One-Click"));
    assert!(matched.text.contains(&h.key.link(PUBLIC_URL, user)));
    assert!(matched.text.contains(&format!("{PUBLIC_URL}/account")));

    // Every row is sent; one-time tokens do not outlive their delivery.
    for (kind, _, _) in &kinds {
        let (status, _, _, _, payload) = row(db, &format!("{}:1", kind.code()));
        assert_eq!(status, "sent", "{kind:?}");
        if kind.contains_secret() {
            assert_eq!(payload, "{}", "{kind:?} payload scrubbed");
        } else {
            assert_ne!(payload, "{}", "{kind:?} payload kept");
        }
    }
    // Nothing is sent twice.
    let again = h.worker.run_once(platform::db::now_ms() + 3_600_000).await.unwrap();
    assert_eq!(again.claimed, 0);
    assert_eq!(h.sink.count(), 7);
});

platform::db_test!(async matches_of_one_user_are_batched_capped_and_explained, |db| {
    let h = harness(db, settings());
    let mut conn = db.get().unwrap();
    let agency = agency(&mut conn);
    let ana = fixtures::user(&mut conn, "ana@example.org");
    let bob = fixtures::user(&mut conn, "bob@example.org");
    let flats = saved_search(&mut conn, ana, "Alfama flats");
    let cheap = saved_search(&mut conn, ana, "Cheap & cheerful");
    let bobs = saved_search(&mut conn, bob, "Bob's search");
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(listing(&mut conn, &agency, &format!("L-{i}"), &format!("Flat number {i}"), 300_000 + i));
    }
    drop(conn);
    let now = platform::db::now_ms();
    // Ana: 12 matches (one a price drop, one matching both of her searches); Bob: one.
    enqueue(db, &a_match("ana@example.org", ana, flats, ids[0], 1, 300_000, Some(320_000)));
    for id in &ids[1..] {
        enqueue(db, &a_match("ana@example.org", ana, flats, *id, 1, 300_000 + (id - ids[0]), None));
    }
    enqueue(db, &a_match("ana@example.org", ana, cheap, ids[0], 1, 300_000, Some(320_000)));
    enqueue(db, &a_match("bob@example.org", bob, bobs, ids[3], 1, 300_003, None));

    // Inside the batch window nothing goes out.
    let early = h.worker.run_once(now + 1_000).await.unwrap();
    assert_eq!(early.claimed, 0, "{early:?}");
    assert_eq!(h.sink.count(), 0);

    let report = h.worker.run_once(now + 61_000).await.unwrap();
    assert_eq!(report.emails_sent, 2, "{report:?}");
    assert_eq!(report.rows_sent, 14);
    let mails = h.sink.messages();
    let to_ana = for_recipient(&mails, "ana@example.org");
    assert_eq!(to_ana.len(), 1, "one email for all of Ana's matches");
    let m = &to_ana[0];
    assert_eq!(m.subject, "12 new listings match your searches");
    let words: Vec<&str> = m.text.split_whitespace().collect();
    let shown = (0..12)
        .filter(|i| words.contains(&format!("{PUBLIC_URL}/listings/{}", ids[*i]).as_str()))
        .count();
    assert_eq!(shown, 10, "capped at 10 listings:\n{}", m.text);
    assert!(m.text.contains("and 2 more"));
    assert!(m.text.contains(&format!("See all: {PUBLIC_URL}/notifications")));
    assert!(m.text.contains("price dropped from 320,000 EUR to 300,000 EUR"), "{}", m.text);
    assert!(m.text.contains("\"Alfama flats\", \"Cheap & cheerful\""), "{}", m.text);
    assert!(m.html.contains("Cheap &#38; cheerful"));
    assert!(m.list_unsubscribe.as_deref().unwrap().contains(&h.key.token(ana)));
    let to_bob = for_recipient(&mails, "bob@example.org");
    assert_eq!(to_bob.len(), 1);
    assert!(to_bob[0].text.contains("Flat number 3"));
    assert!(to_bob[0].list_unsubscribe.as_deref().unwrap().contains(&h.key.token(bob)));
    assert!(!to_bob[0].text.contains("Flat number 4"), "Bob sees only his match");
});

platform::db_test!(async daily_digest_users_get_one_email_a_day, |db| {
    let s = settings();
    let h = harness(db, s.clone());
    let mut conn = db.get().unwrap();
    let agency = agency(&mut conn);
    let ana = fixtures::user(&mut conn, "ana@example.org");
    set_mode(&mut conn, ana, "daily");
    let search = saved_search(&mut conn, ana, "Alfama flats");
    let a = listing(&mut conn, &agency, "D-1", "First flat", 100_000);
    let b = listing(&mut conn, &agency, "D-2", "Second flat", 200_000);
    drop(conn);
    let now = platform::db::now_ms();
    enqueue(db, &a_match("ana@example.org", ana, search, a, 1, 100_000, None));
    let first = h.worker.run_once(now + 61_000).await.unwrap();
    assert_eq!((first.emails_sent, first.rows_deferred), (0, 1), "{first:?}");
    let slot = s.next_digest_at(now);
    let (status, attempts, next, _, _) = row(db, &format!("match:{search}:{a}:1"));
    assert_eq!((status.as_str(), attempts, next), ("pending", 0, slot));

    enqueue(db, &a_match("ana@example.org", ana, search, b, 1, 200_000, None));
    let second = h.worker.run_once(now + 122_000).await.unwrap();
    assert_eq!(second.emails_sent, 0, "{second:?}");
    assert_eq!(h.sink.count(), 0, "nothing before the digest hour");

    let digest = h.worker.run_once(slot + 1_000).await.unwrap();
    assert_eq!(digest.emails_sent, 1, "{digest:?}");
    let mails = h.sink.messages();
    assert_eq!(mails.len(), 1);
    let m = parse(&mails[0]);
    assert_eq!(m.subject, "Your daily digest: 2 new matches");
    assert!(m.text.contains("First flat") && m.text.contains("Second flat"));
    assert_eq!(h.worker.run_once(slot + 2 * HOUR).await.unwrap().claimed, 0);
});

platform::db_test!(async a_listing_is_not_repeated_at_the_same_price_and_off_cancels, |db| {
    let h = harness(db, settings());
    let mut conn = db.get().unwrap();
    let agency = agency(&mut conn);
    let ana = fixtures::user(&mut conn, "ana@example.org");
    let search = saved_search(&mut conn, ana, "Alfama flats");
    let other = saved_search(&mut conn, ana, "Anything in Lisbon");
    let l = listing(&mut conn, &agency, "R-1", "Repeat flat", 250_000);
    drop(conn);
    let now = platform::db::now_ms();
    enqueue(db, &a_match("ana@example.org", ana, search, l, 1, 250_000, None));
    assert_eq!(h.worker.run_once(now + 61_000).await.unwrap().emails_sent, 1);

    // Back on the market at the same price, and matching another search: already told.
    enqueue(db, &a_match("ana@example.org", ana, search, l, 2, 250_000, None));
    enqueue(db, &a_match("ana@example.org", ana, other, l, 2, 250_000, None));
    let report = h.worker.run_once(now + 200_000).await.unwrap();
    assert_eq!((report.emails_sent, report.rows_cancelled), (0, 2), "{report:?}");
    let (status, _, _, last_error, _) = row(db, &format!("match:{search}:{l}:2"));
    assert_eq!(status, "cancelled");
    assert!(last_error.unwrap().starts_with("duplicate"));
    assert_eq!(h.sink.count(), 1);

    // A price drop is news.
    enqueue(db, &a_match("ana@example.org", ana, search, l, 3, 230_000, Some(250_000)));
    assert_eq!(h.worker.run_once(now + 400_000).await.unwrap().emails_sent, 1);
    assert_eq!(h.sink.count(), 2);
    assert!(parse(&h.sink.messages()[1]).text.contains("price dropped from 250,000 EUR to 230,000 EUR"));

    // Unsubscribed: matches are cancelled, nothing is sent.
    let mut conn = db.get().unwrap();
    set_mode(&mut conn, ana, "off");
    drop(conn);
    enqueue(db, &a_match("ana@example.org", ana, search, l, 4, 200_000, Some(230_000)));
    let off = h.worker.run_once(now + 600_000).await.unwrap();
    assert_eq!((off.emails_sent, off.rows_cancelled), (0, 1));
    assert_eq!(h.sink.count(), 2);
});

platform::db_test!(async smtp_outage_is_retried_with_backoff_then_delivered_once, |db| {
    let s = settings();
    let h = harness(db, s.clone());
    enqueue(db, &NewNotification::new(MailKind::AgencyRejected, "desk@agency.example", "rejected:1", json!({"agency_name": "Acme"})));
    h.sink.set_mode(SmtpMode::Down);
    let t0 = platform::db::now_ms();
    let r = h.worker.run_once(t0).await.unwrap();
    assert_eq!(r.rows_retried, 1, "{r:?}");
    let (status, attempts, next, err, _) = row(db, "rejected:1");
    assert_eq!((status.as_str(), attempts), ("pending", 1));
    assert!(next >= t0 + s.retry_base_ms as i64, "backoff applied");
    assert!(err.unwrap().contains("421"), "the server's answer is kept");
    // Not due again before the backoff ends.
    assert_eq!(h.worker.run_once(next - 1).await.unwrap().claimed, 0);

    let r = h.worker.run_once(next).await.unwrap();
    assert_eq!(r.rows_retried, 1);
    let (_, attempts, next2, _, _) = row(db, "rejected:1");
    assert_eq!(attempts, 2);
    assert!(next2 - next >= 2 * s.retry_base_ms as i64, "the delay doubles");

    h.sink.set_mode(SmtpMode::Accept);
    let r = h.worker.run_once(next2).await.unwrap();
    assert_eq!(r.emails_sent, 1, "{r:?}");
    assert_eq!(row(db, "rejected:1").0, "sent");
    for later in 1..4 {
        h.worker.run_once(next2 + later * HOUR).await.unwrap();
    }
    assert_eq!(h.sink.count(), 1, "delivered exactly once");
});

platform::db_test!(async failures_end_as_failed_with_the_reason_visible, |db| {
    let s = settings();
    let h = harness(db, s.clone());
    enqueue(db, &NewNotification::new(MailKind::AgencyRejected, "a@agency.example", "temp:1", json!({"agency_name": "Acme"})));
    h.sink.set_mode(SmtpMode::TempFail);
    let mut t = platform::db::now_ms();
    for _ in 0..s.max_attempts {
        h.worker.run_once(t).await.unwrap();
        t += 24 * HOUR;
    }
    let (status, attempts, _, err, _) = row(db, "temp:1");
    assert_eq!((status.as_str(), attempts), ("failed", s.max_attempts));
    assert!(err.unwrap().contains("451"));
    assert_eq!(h.worker.run_once(t + 48 * HOUR).await.unwrap().claimed, 0, "failed rows stay failed");

    // A 5xx answer is final at once.
    enqueue(db, &NewNotification::new(MailKind::AgencyRejected, "b@agency.example", "perm:1", json!({"agency_name": "Acme"})));
    h.sink.set_mode(SmtpMode::PermFail);
    let r = h.worker.run_once(t + 49 * HOUR).await.unwrap();
    assert_eq!(r.rows_failed, 1, "{r:?}");
    let (status, attempts, _, err, _) = row(db, "perm:1");
    assert_eq!((status.as_str(), attempts), ("failed", 1));
    assert!(err.unwrap().contains("550"));
    // A payload a template cannot render fails with the reason, without an SMTP attempt.
    enqueue(db, &NewNotification::new(MailKind::VerifyEmail, "c@example.org", "broken:1", json!({})));
    h.sink.set_mode(SmtpMode::Accept);
    h.worker.run_once(t + 50 * HOUR).await.unwrap();
    let (status, _, _, err, _) = row(db, "broken:1");
    assert_eq!(status, "failed");
    assert!(err.unwrap().contains("link"));
    assert_eq!(h.sink.count(), 0);
});

platform::db_test!(async lapsed_claims_are_taken_over_and_sent_rows_never_resent, |db| {
    let h = harness(db, settings());
    for key in ["crashed:1", "done:1", "held:1"] {
        enqueue(db, &NewNotification::new(MailKind::AgencyRejected, format!("{}@agency.example", key.replace(':', "")), key, json!({"agency_name": "Acme"})));
    }
    let now = platform::db::now_ms();
    let mut conn = db.get().unwrap();
    platform::with_conn!(&mut conn, |c| {
        // A worker that died mid-send, a row already sent, and a live claim of another worker.
        diesel::update(notifications::table.filter(notifications::idempotency_key.eq("crashed:1")))
            .set((notifications::status.eq("sending"), notifications::claimed_by.eq("dead"), notifications::claimed_until.eq(now - 1)))
            .execute(c).unwrap();
        diesel::update(notifications::table.filter(notifications::idempotency_key.eq("done:1")))
            .set((notifications::status.eq("sent"), notifications::sent_at.eq(now - 10)))
            .execute(c).unwrap();
        diesel::update(notifications::table.filter(notifications::idempotency_key.eq("held:1")))
            .set((notifications::status.eq("sending"), notifications::claimed_by.eq("alive"), notifications::claimed_until.eq(now + HOUR)))
            .execute(c).unwrap();
    });
    drop(conn);
    let r = h.worker.run_once(now).await.unwrap();
    assert_eq!((r.claimed, r.emails_sent), (1, 1), "{r:?}");
    let mails = h.sink.messages();
    assert_eq!(mails[0].to, vec!["crashed1@agency.example".to_owned()]);
    assert_eq!(row(db, "crashed:1").0, "sent");
    assert_eq!(row(db, "done:1").0, "sent");
    assert_eq!(row(db, "held:1").0, "sending", "a live claim is respected");
    // The same email keeps the same Message-ID across attempts (derived from its key).
    assert!(parse(&mails[0]).message_id.unwrap().ends_with("@homes.example"));
});

platform::db_test!(async without_smtp_mail_is_written_as_eml_files, |db| {
    let dir = tempfile::tempdir().unwrap();
    let key = UnsubscribeKey::load_or_create(dir.path()).unwrap();
    let worker = Worker::new(
        db.clone(),
        Mailer::Files(dir.path().join("mail")),
        settings(),
        PUBLIC_URL,
        "noreply@homes.example".parse().unwrap(),
        key,
    );
    for i in 0..3 {
        enqueue(db, &NewNotification::new(MailKind::PasswordReset, format!("u{i}@example.org"), format!("reset:{i}"), json!({"link": format!("{PUBLIC_URL}/account/reset?token=T{i}")})));
    }
    let r = worker.run_once(platform::db::now_ms()).await.unwrap();
    assert_eq!(r.emails_sent, 3);
    let files: Vec<_> = std::fs::read_dir(dir.path().join("mail")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 3, "one file per message, no temporary files left: {files:?}");
    let mut seen = Vec::new();
    for f in files {
        assert_eq!(f.extension().unwrap(), "eml");
        let bytes = std::fs::read(&f).unwrap();
        let p = parse(&ReceivedMail { from: String::new(), to: vec![], data: bytes, tls: false });
        assert_eq!(p.subject, "Reset your password");
        seen.extend(p.to);
    }
    seen.sort();
    assert_eq!(seen, vec!["u0@example.org", "u1@example.org", "u2@example.org"]);
});

platform::db_test!(async unsubscribe_link_turns_listing_emails_off, |db| {
    use actix_web::{App, test, web};
    let (_dir, state) = platform::testing::app_state(db);
    let key = UnsubscribeKey::load_or_create(&state.config.data_dir).unwrap();
    let mut conn = db.get().unwrap();
    let ana = fixtures::user(&mut conn, "ana@example.org");
    drop(conn);
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(state))
            .configure(platform::web::routes),
    )
    .await;
    let token = key.token(ana);
    let page = test::call_service(&app, test::TestRequest::get().uri(&format!("/unsubscribe?token={token}")).to_request()).await;
    assert_eq!(page.status(), 200);
    let body = String::from_utf8(test::read_body(page).await.to_vec()).unwrap();
    assert!(body.contains("method=\"post\"") && body.contains(&token));
    let mode = |db: &Db| {
        let mut conn = db.get().unwrap();
        platform::with_conn!(&mut conn, |c| users::table.find(ana).select(users::notify_mode).first::<String>(c)).unwrap()
    };
    assert_eq!(mode(db), "instant", "a GET changes nothing");

    let bad = test::call_service(&app, test::TestRequest::post().uri("/unsubscribe?token=1.forged").set_payload("List-Unsubscribe=One-Click").insert_header(("content-type", "application/x-www-form-urlencoded")).to_request()).await;
    assert_eq!(bad.status(), 400);
    let body = String::from_utf8(test::read_body(bad).await.to_vec()).unwrap();
    assert!(body.contains("not valid"));
    let bad_get = test::call_service(&app, test::TestRequest::get().uri("/unsubscribe").to_request()).await;
    assert_eq!(bad_get.status(), 400);
    assert_eq!(mode(db), "instant");

    // RFC 8058 one-click: token in the URL, fixed body.
    let one_click = test::call_service(&app, test::TestRequest::post().uri(&format!("/unsubscribe?token={token}")).set_payload("List-Unsubscribe=One-Click").insert_header(("content-type", "application/x-www-form-urlencoded")).to_request()).await;
    assert_eq!(one_click.status(), 200);
    assert_eq!(mode(db), "off");

    // The confirmation form posts the token in the body.
    let mut conn = db.get().unwrap();
    set_mode(&mut conn, ana, "daily");
    drop(conn);
    let form = test::call_service(&app, test::TestRequest::post().uri("/unsubscribe").set_payload(format!("token={token}")).insert_header(("content-type", "application/x-www-form-urlencoded")).to_request()).await;
    assert_eq!(form.status(), 200);
    assert_eq!(mode(db), "off");
    let _ = Duration::ZERO;
});

platform::db_test!(async two_workers_never_send_the_same_row, |db| {
    let s = WorkerSettings {
        claim_limit: 7,
        ..settings()
    };
    let h = harness(db, s.clone());
    let mail = MailConfig {
        smtp_tls: SmtpTls::None,
        smtp_port: Some(h.sink.port()),
        ..MailConfig::default()
    };
    let other = Worker::new(
        db.clone(),
        Mailer::smtp(&mail, "127.0.0.1", None).unwrap(),
        s,
        PUBLIC_URL,
        "noreply@homes.example".parse().unwrap(),
        h.key.clone(),
    );
    for i in 0..30 {
        enqueue(db, &NewNotification::new(MailKind::AgencyRejected, format!("desk{i}@agency.example"), format!("rejected:{i}"), json!({"agency_name": "Acme"})));
    }
    let now = platform::db::now_ms();
    for _ in 0..6 {
        let (a, b) = tokio::join!(h.worker.run_once(now), other.run_once(now));
        a.unwrap();
        b.unwrap();
    }
    let mut to: Vec<String> = h.sink.messages().into_iter().flat_map(|m| m.to).collect();
    assert_eq!(to.len(), 30, "each row sent once");
    to.sort();
    to.dedup();
    assert_eq!(to.len(), 30, "no recipient twice");
});

platform::db_test!(async a_message_is_sent_again_as_composed_and_a_live_lease_is_kept, |db| {
    use platform::db::schema::mail_messages;
    // A lease of 300 ms, renewed every 100 ms while the worker works.
    let s = WorkerSettings { claim_timeout_ms: 300, batch_window_ms: 0, ..settings() };
    let h = harness(db, s.clone());
    let mut conn = db.get().unwrap();
    let agency = agency(&mut conn);
    let ana = fixtures::user(&mut conn, "ana@example.org");
    let search = saved_search(&mut conn, ana, "Lisbon flats");
    let first = listing(&mut conn, &agency, "L-1", "Flat by the river", 250_000);
    let second = listing(&mut conn, &agency, "L-2", "Flat on the hill", 260_000);
    drop(conn);
    enqueue(db, &a_match("ana@example.org", ana, search, first, 1, 250_000, None));
    // After the enqueue: with no batch window the row is due from its creation on.
    let t0 = platform::db::now_ms();
    h.sink.set_mode(SmtpMode::TempFail);
    let r = h.worker.run_once(t0).await.unwrap();
    assert_eq!(r.rows_retried, 1, "{r:?}");
    let stored = |db: &Db| {
        let mut conn = db.get().unwrap();
        platform::with_conn!(&mut conn, |c| mail_messages::table
            .select((mail_messages::message_id, mail_messages::status))
            .order(mail_messages::id)
            .load::<(String, String)>(c))
        .unwrap()
    };
    let composed = stored(db);
    assert_eq!(composed.len(), 1);
    assert_eq!(composed[0].1, "pending");

    // A new match for the same buyer is queued meanwhile: the composed message is not changed,
    // the new match goes in a message of its own.
    enqueue(db, &a_match("ana@example.org", ana, search, second, 1, 260_000, None));
    // The server is slow (1 s, over three leases): a second worker running meanwhile takes
    // nothing the first one holds.
    h.sink.set_mode(SmtpMode::Slow(1_000));
    let (_, _, next, _, _) = row(db, &format!("match:{search}:{first}:1"));
    let wait = u64::try_from(next - platform::db::now_ms()).unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(wait + 10)).await;
    let other = Worker::new(
        db.clone(),
        Mailer::smtp(
            &MailConfig { smtp_tls: SmtpTls::None, smtp_port: Some(h.sink.port()), ..MailConfig::default() },
            "127.0.0.1",
            None,
        )
        .unwrap(),
        s,
        PUBLIC_URL,
        "noreply@homes.example".parse().unwrap(),
        h.key.clone(),
    );
    // Wall-clock times: the other worker looks at 600 ms, after two leases would have lapsed
    // without renewal.
    let busy = h.worker.run_once(platform::db::now_ms());
    let meanwhile = async {
        tokio::time::sleep(Duration::from_millis(600)).await;
        other.run_once(platform::db::now_ms()).await
    };
    let (r, o) = tokio::join!(busy, meanwhile);
    let (r, o) = (r.unwrap(), o.unwrap());
    assert_eq!((r.emails_sent, o.emails_sent), (2, 0), "{r:?} {o:?}");
    let mails = for_recipient(&h.sink.messages(), "ana@example.org");
    assert_eq!(mails.len(), 2, "each message once");
    let retried = mails.iter().find(|m| m.text.contains("Flat by the river")).unwrap();
    assert_eq!(retried.message_id.as_deref(), Some(composed[0].0.trim_matches(|c| c == '<' || c == '>')));
    assert!(!retried.text.contains("Flat on the hill"), "a composed message is sent as composed");
    let late = mails.iter().find(|m| m.text.contains("Flat on the hill")).unwrap();
    assert_ne!(late.message_id, retried.message_id);
    assert!(stored(db).iter().all(|(_, status)| status == "sent"));
    // Sent messages keep no bytes.
    let mut conn = db.get().unwrap();
    let kept: Vec<Vec<u8>> = platform::with_conn!(&mut conn, |c| mail_messages::table.select(mail_messages::raw).load(c)).unwrap();
    assert!(kept.iter().all(Vec::is_empty));
});
