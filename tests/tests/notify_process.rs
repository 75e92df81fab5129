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
