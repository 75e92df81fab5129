//! The real `platform` binary delivering mail to the test SMTP server: killed in the middle of
//! sending, then restarted on the same data, it loses nothing and sends nothing twice. Runs on
//! SQLite and on PostgreSQL.

use std::time::Duration;

use diesel::prelude::*;
use e2e_tests::{PlatformBuilder, TestDb, platform, wait_until};
use platform::db::schema::notifications;
use platform::notify::{MailKind, NewNotification, OutboxStore};
use platform::testing::smtp::{SmtpMode, SmtpSink};
use serde_json::json;

fn statuses(db: &platform::db::Db) -> Vec<(String, String)> {
    let mut conn = db.get().unwrap();
    platform::with_conn!(&mut conn, |c| notifications::table
        .select((notifications::idempotency_key, notifications::status))
        .order(notifications::idempotency_key)
        .load(c))
    .unwrap()
}

fn platform_on(test_db: &TestDb, sink: &SmtpSink) -> PlatformBuilder {
    platform()
        .database_url(test_db.url.clone())
        .args([
            "--smtp-host",
            "127.0.0.1",
            "--smtp-tls",
            "none",
            "--mail-claim-timeout-secs",
            "2",
            "--mail-poll-interval-ms",
            "100",
            "--mail-batch-window-secs",
            "0",
        ])
        .args(["--smtp-port".to_owned(), sink.port().to_string()])
}

fn killed_while_sending_then_restarted(test_db: TestDb) {
    let sink = SmtpSink::start();
    sink.set_mode(SmtpMode::Hang);
    let mut conn = test_db.db.get().unwrap();
    for who in ["a", "b", "c", "done"] {
        let n = NewNotification::new(
            MailKind::AgencyRejected,
            format!("{who}@agency.example"),
            format!("rejected:{who}"),
            json!({"agency_name": format!("Agency {who}")}),
        );
        assert!(platform::write_tx!(&mut conn, |c| c.enqueue_notification(&n)).unwrap());
    }
    // One was delivered before: it must never go out again.
    platform::with_conn!(&mut conn, |c| diesel::update(
        notifications::table.filter(notifications::idempotency_key.eq("rejected:done"))
    )
    .set((
        notifications::status.eq("sent"),
        notifications::sent_at.eq(platform::db::now_ms()),
    ))
    .execute(c))
    .unwrap();
    drop(conn);

    let mut first = platform_on(&test_db, &sink)
        .spawn()
        .expect("platform starts");
    wait_until(
        "the worker is sending all three",
        Duration::from_secs(30),
        || {
            statuses(&test_db.db)
                .iter()
                .filter(|(_, s)| s == "sending")
                .count()
                == 3
        },
    );
    // The server has the messages' data but has not confirmed them: crash now.
    first.kill();
    assert_eq!(sink.count(), 0);

    sink.set_mode(SmtpMode::Accept);
    let second = platform_on(&test_db, &sink)
        .data_dir(first.data_dir.clone())
        .spawn()
        .expect("platform restarts");
    let mails = sink.wait_for(3, Duration::from_secs(30));
    assert_eq!(
        mails.len(),
        3,
        "every claimed mail is delivered after the restart"
    );
    wait_until("every row is marked sent", Duration::from_secs(10), || {
        statuses(&test_db.db).iter().all(|(_, s)| s == "sent")
    });
    // Give the worker several more rounds: nothing is sent twice.
    std::thread::sleep(Duration::from_millis(1_000));
    let mut recipients: Vec<String> = sink.messages().into_iter().flat_map(|m| m.to).collect();
    recipients.sort();
    assert_eq!(
        recipients,
        vec!["a@agency.example", "b@agency.example", "c@agency.example"]
    );

    // Operators see the count at /metrics and in the log.
    let metrics = platform::testing::http_client()
        .get(second.admin("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("platform_mail_emails_sent_total 3"),
        "{metrics}"
    );
    assert!(
        second
            .logs()
            .iter()
            .any(|l| l.contains("mail round") && l.contains("\"emails_sent\":3")),
        "{:?}",
        second.logs()
    );
}

#[test]
fn killed_while_sending_then_restarted_sqlite() {
    killed_while_sending_then_restarted(TestDb::sqlite());
}

#[test]
fn killed_while_sending_then_restarted_postgres() {
    let Some(db) = TestDb::postgres("notify_process::killed_while_sending_then_restarted_postgres")
    else {
        return;
    };
    killed_while_sending_then_restarted(db);
}

/// 10 buyers, each with one saved search matching 9 listings (90 buyer/listing pairs, one round), mailed
/// one message per buyer through one SMTP connection to a slow server; the platform is killed
/// (SIGKILL) in the middle of the round and restarted on the same data. Every (search, listing
/// version) arrives, in one message; at most the one message in flight when the process died
/// arrives twice, and then with the same Message-ID and the same listings; matches queued while
/// the node was down go out in new messages, never into one composed before.
fn killed_mid_round_repeats_at_most_the_message_in_flight(test_db: TestDb) {
    use api_types::ListingDocument;
    use platform::db::schema::saved_searches;
    use platform::testing::fixtures;
    use std::collections::{BTreeMap, BTreeSet};

    const BUYERS: usize = 10;
    const LISTINGS: usize = 9;
    let sink = SmtpSink::start();
    let builder = || {
        platform_on(&test_db, &sink).args(["--smtp-pool-size", "1", "--mail-max-listings", "20"])
    };
    // A first start creates the CA; the fixtures (an agency, listings) go in while it is down.
    let mut first = builder().spawn().expect("platform starts");
    first.terminate(Duration::from_secs(15));
    let data_dir = first.data_dir.clone();

    let mut conn = test_db.db.get().unwrap();
    let (agency, serial) = fixtures::active_agency_with_certificate(&mut conn, "Casa Lisboa");
    let listings: Vec<(i64, i64)> = (0..LISTINGS)
        .map(|i| {
            let mut doc = ListingDocument::example(&format!("KILL-{i}"));
            doc.title = format!("Flat {i}");
            let published = fixtures::publish(&mut conn, agency.id, &serial, &doc).unwrap();
            (published.current.id, published.current.version)
        })
        .collect();
    let mut expected: BTreeMap<String, (i64, BTreeSet<i64>)> = BTreeMap::new();
    for b in 0..BUYERS {
        let email = format!("buyer{b:02}@example.org");
        let user = fixtures::user(&mut conn, &email);
        let now = platform::db::now_ms();
        let search: i64 =
            platform::with_conn!(&mut conn, |c| diesel::insert_into(saved_searches::table)
                .values((
                    saved_searches::user_id.eq(Some(user)),
                    saved_searches::name.eq(format!("search of {b}")),
                    saved_searches::criteria.eq("{}"),
                    saved_searches::created_at.eq(now),
                    saved_searches::renewed_at.eq(now),
                    saved_searches::expires_at.eq(now + 30 * 86_400_000),
                ))
                .returning(saved_searches::id)
                .get_result(c))
            .unwrap();
        for &(listing, version) in &listings {
            let n = NewNotification {
                user_id: Some(user),
                saved_search_id: Some(search),
                listing_id: Some(listing),
                listing_version: Some(version),
                ..NewNotification::new(
                    MailKind::ListingMatch,
                    email.clone(),
                    format!("match:{search}:{listing}:{version}"),
                    json!({"reason": "new", "price": 250_000}),
                )
            };
            assert!(platform::write_tx!(&mut conn, |c| c.enqueue_notification(&n)).unwrap());
        }
        expected.insert(email, (search, listings.iter().map(|l| l.0).collect()));
    }
    drop(conn);

    sink.set_mode(SmtpMode::Slow(150));
    let mut second = builder()
        .data_dir(data_dir.clone())
        .spawn()
        .expect("platform restarts");
    wait_until(
        "some of the messages arrived",
        Duration::from_secs(60),
        || sink.count() >= BUYERS / 3,
    );
    // The server holds the next message's data and has not answered yet: crash now.
    second.kill();
    let before = sink.count();
    assert!(before < BUYERS, "killed before the round ended ({before})");

    // New matches while the node is down: they go in new messages, never into one composed
    // before the crash.
    let mut conn = test_db.db.get().unwrap();
    let mut doc = ListingDocument::example("KILL-NEW");
    doc.title = "Flat new".to_owned();
    let late = fixtures::publish(&mut conn, agency.id, &serial, &doc)
        .unwrap()
        .current;
    for (email, (search, ids)) in &mut expected {
        let user: i64 = platform::with_conn!(&mut conn, |c| saved_searches::table
            .find(*search)
            .select(saved_searches::user_id.assume_not_null())
            .first(c))
        .unwrap();
        let n = NewNotification {
            user_id: Some(user),
            saved_search_id: Some(*search),
            listing_id: Some(late.id),
            listing_version: Some(late.version),
            ..NewNotification::new(
                MailKind::ListingMatch,
                email.clone(),
                format!("match:{search}:{}:{}", late.id, late.version),
                json!({"reason": "new", "price": 250_000}),
            )
        };
        assert!(platform::write_tx!(&mut conn, |c| c.enqueue_notification(&n)).unwrap());
        ids.insert(late.id);
    }
    drop(conn);

    sink.set_mode(SmtpMode::Accept);
    let _third = builder()
        .data_dir(data_dir)
        .spawn()
        .expect("platform restarts again");
    wait_until("every row is marked sent", Duration::from_secs(60), || {
        statuses(&test_db.db).iter().all(|(_, s)| s == "sent")
    });
    // A few more rounds: nothing more goes out.
    std::thread::sleep(Duration::from_millis(1_000));

    // (Message-ID, recipient, listing ids) of every arrival.
    type Arrival = (String, String, BTreeSet<i64>);
    let arrivals: Vec<Arrival> = sink
        .messages()
        .iter()
        .map(|m| {
            let parsed = mail_parser::MessageParser::default()
                .parse(&m.data)
                .expect("a parseable message");
            let text = parsed.body_text(0).unwrap().into_owned();
            let ids: BTreeSet<i64> = text
                .split_whitespace()
                .filter_map(|w| w.rsplit_once("/listings/"))
                .filter_map(|(_, id)| id.parse().ok())
                .collect();
            (parsed.message_id().unwrap().to_owned(), m.to.join(","), ids)
        })
        .collect();
    let mut by_message_id: BTreeMap<&str, Vec<&Arrival>> = BTreeMap::new();
    for a in &arrivals {
        by_message_id.entry(a.0.as_str()).or_default().push(a);
    }
    let repeated: Vec<_> = by_message_id.values().filter(|v| v.len() > 1).collect();
    assert!(
        repeated.len() <= 1,
        "at most the message in flight repeats: {repeated:?}"
    );
    for copies in &repeated {
        assert_eq!(copies.len(), 2);
        assert_eq!(
            copies[0].1, copies[1].1,
            "a repeat goes to the same recipient"
        );
        assert_eq!(
            copies[0].2, copies[1].2,
            "a repeat carries the same listings"
        );
    }
    // Each (search, listing version) arrives in exactly one message (Message-ID).
    let mut pairs: BTreeMap<(String, i64), BTreeSet<&str>> = BTreeMap::new();
    for (id, to, listing_ids) in &arrivals {
        for l in listing_ids {
            pairs
                .entry((to.clone(), *l))
                .or_default()
                .insert(id.as_str());
        }
    }
    assert_eq!(pairs.len(), BUYERS * (LISTINGS + 1), "every pair arrived");
    for ((to, listing), ids) in &pairs {
        assert_eq!(ids.len(), 1, "{to} got listing {listing} in {ids:?}");
        assert!(expected[to].1.contains(listing));
    }
    // One message per buyer composed before the crash, sent as composed, and one with the late
    // match.
    assert_eq!(by_message_id.len(), 2 * BUYERS);
    assert_eq!(arrivals.len(), 2 * BUYERS + repeated.len());
    for (to, (_, ids)) in &expected {
        let theirs: Vec<_> = by_message_id
            .values()
            .filter(|copies| &copies[0].1 == to)
            .map(|copies| copies[0].2.clone())
            .collect();
        assert_eq!(theirs.len(), 2, "{to}");
        assert!(
            theirs
                .iter()
                .any(|l| l.len() == LISTINGS && !l.contains(&late.id))
        );
        assert!(theirs.iter().any(|l| l.len() == 1 && l.contains(&late.id)));
        assert_eq!(ids.len(), LISTINGS + 1);
    }
}

#[test]
fn killed_mid_round_repeats_at_most_the_message_in_flight_sqlite() {
    killed_mid_round_repeats_at_most_the_message_in_flight(TestDb::sqlite());
}

#[test]
fn killed_mid_round_repeats_at_most_the_message_in_flight_postgres() {
    let Some(db) = TestDb::postgres(
        "notify_process::killed_mid_round_repeats_at_most_the_message_in_flight_postgres",
    ) else {
        return;
    };
    killed_mid_round_repeats_at_most_the_message_in_flight(db);
}
