//! Several `platform serve` processes on one PostgreSQL database, each with an empty data
//! directory of its own: they agree on one CA, share the secrets (an unsubscribe link made by
//! one works on the other), a saved search made through one matches a listing published
//! through the other and shows live on a page connected to the first; and a database outage
//! under a desk's publishing is answered 503, which the desk rides out by itself.
//!
//! PostgreSQL only (SQLite is one node): skipped loudly without `TEST_POSTGRES_URL`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use api_types::{ListingDocument, Price, PropertyType, TransactionType};
use e2e_tests::desk::spawn_desk;
use e2e_tests::website::{Browser, confirm};
use e2e_tests::{add_agency, platform, wait_until};
use platform::testing::smtp::{ReceivedMail, SmtpSink};
use platform::testing::{PlatformBuilder, PlatformProcess, TestDb};

/// A node on `url`, with a fresh data directory, mailing through `sink`. The CA's keys are
/// encrypted (as in production) so that the database may hold them.
fn node(url: &str, sink: &SmtpSink) -> PlatformBuilder {
    platform()
        .database_url(url)
        .env("PLATFORM_CA_PASSPHRASE", "the nodes' CA passphrase")
        .web_public_on_free_port()
        .args([
            "--smtp-host",
            "127.0.0.1",
            "--smtp-tls",
            "none",
            "--mail-poll-interval-ms",
            "100",
            "--mail-batch-window-secs",
            "0",
        ])
        .args(["--smtp-port".to_owned(), sink.port().to_string()])
}

/// Starts two nodes at the same moment (so they race to create the CA).
fn two_nodes(url: &str, sink: &SmtpSink) -> (PlatformProcess, PlatformProcess) {
    std::thread::scope(|s| {
        let a = s.spawn(|| node(url, sink).spawn().expect("node 1 starts"));
        let b = s.spawn(|| node(url, sink).spawn().expect("node 2 starts"));
        (a.join().unwrap(), b.join().unwrap())
    })
}

/// The newest mail to `to` whose text holds `needle`, waiting up to 60 s.
fn mail_to(sink: &SmtpSink, to: &str, needle: &str) -> ReceivedMail {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = sink
            .messages()
            .into_iter()
            .rev()
            .find(|m| m.to.iter().any(|t| t == to) && text_of(m).contains(needle));
        if let Some(m) = found {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "no mail to {to} with {needle:?} among {} mails",
            sink.count()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn text_of(m: &ReceivedMail) -> String {
    mail_parser::MessageParser::default()
        .parse(&m.data)
        .and_then(|p| p.body_text(0).map(|t| t.into_owned()))
        .unwrap_or_default()
}

/// The path and query of the link starting with `path` in the mail's text.
fn link_in(m: &ReceivedMail, path: &str) -> String {
    let text = text_of(m);
    let i = text
        .find(path)
        .unwrap_or_else(|| panic!("{path} in {text}"));
    text[i..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect()
}

/// The token of the `List-Unsubscribe` link in the mail's header.
fn unsubscribe_token(m: &ReceivedMail) -> String {
    let message = mail_parser::MessageParser::default()
        .parse(&m.data)
        .unwrap();
    let header = message
        .header_raw("List-Unsubscribe")
        .expect("a List-Unsubscribe header")
        .to_owned();
    let i = header.find("token=").expect("a token") + "token=".len();
    header[i..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect()
}

/// Registers, confirms and signs in `email` on `app`, reading the mails from `sink`.
fn buyer(app: &PlatformProcess, sink: &SmtpSink, email: &str) -> Browser {
    let mut b = Browser::new(&app.web_url);
    let password = "a long enough password";
    let r = b.submit(
        "/account/register",
        "/account/register",
        &[("email", email), ("password", password)],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let verify = mail_to(sink, email, "/account/verify?token=");
    confirm(&mut b, &link_in(&verify, "/account/verify?token="));
    let r = b.submit(
        "/account/sign-in",
        "/account/sign-in",
        &[("email", email), ("password", password)],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    b
}

/// Opens the live-match stream of `b`'s session on `app`; its lines arrive on the channel.
fn live_stream(app: &PlatformProcess, b: &Browser) -> mpsc::Receiver<String> {
    let client = reqwest::blocking::Client::builder()
        .timeout(None::<Duration>)
        .build()
        .unwrap();
    let response = client
        .get(format!("{}/events", app.web_url))
        .header("Cookie", b.cookie.clone().expect("signed in"))
        .send()
        .expect("the live stream opens");
    assert_eq!(response.status(), 200);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(response).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

fn faro_flat(key: &str, price: u64) -> ListingDocument {
    ListingDocument {
        city: "Faro".into(),
        list_price: Price::new(price).unwrap(),
        transaction_type: TransactionType::Sale,
        property_type: PropertyType::Apartment,
        title: format!("Flat {key} by the marina"),
        ..ListingDocument::example(key)
    }
}

#[test]
fn two_nodes_with_empty_data_directories_share_one_database() {
    let Some(db) =
        TestDb::postgres("nodes::two_nodes_with_empty_data_directories_share_one_database")
    else {
        return;
    };
    let sink = SmtpSink::start();
    let (one, two) = two_nodes(&db.url, &sink);

    // One CA for both, and nothing copied between their data directories.
    let root_one = platform::testing::agency::fetch_root(&one.agency_url());
    let root_two = platform::testing::agency::fetch_root(&two.agency_url());
    assert_eq!(root_one, root_two, "both nodes serve the one CA");

    // Enrolled through node 1, publishing through node 2.
    let added = add_agency(&one, "Algarve Homes", "AH-1");
    let mut agency = added.enroll(&one);
    agency.base_url = two.agency_url();

    // A buyer on node 1 saves a search and keeps a live page open there.
    let mut b = buyer(&one, &sink, "ana@example.com");
    let csrf = b.get("/search?city=faro&transaction=sale").csrf();
    let r = b.post(
        "/saved",
        &[
            ("csrf", &csrf),
            ("query", "city=faro&transaction=sale"),
            ("name", "Faro flats"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let live = live_stream(&one, &b);
    wait_until("the stream is connected", Duration::from_secs(10), || {
        live.try_recv().is_ok_and(|l| l.contains("connected"))
    });

    // Published through node 2: matched there against the search saved on node 1 (node 2's
    // index catches up with the saved-search log), shown live on node 1's page, mailed.
    let (status, body) = agency.publish(&faro_flat("FA-1", 240_000));
    assert!(status == 200 || status == 201, "{status} {body}");
    let listing_id = body["id"].as_i64();
    let deadline = Instant::now() + Duration::from_secs(30);
    let event = loop {
        let line = live
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the live page on node 1 shows the match published through node 2");
        if line.starts_with("data:") {
            break line;
        }
    };
    assert!(
        event.contains("Flat FA-1 by the marina") || event.contains("FA-1"),
        "{event}"
    );
    if let Some(id) = listing_id {
        assert!(event.contains(&id.to_string()), "{event}");
    }
    let matched = mail_to(&sink, "ana@example.com", "Flat FA-1 by the marina");

    // The unsubscribe link (made by whichever node composed the mail) works on both nodes.
    let token = unsubscribe_token(&matched);
    let client = platform::testing::http_client();
    for app in [&one, &two] {
        let r = client
            .get(format!("{}/unsubscribe?token={token}", app.web_url))
            .send()
            .unwrap();
        assert_eq!(
            r.status().as_u16(),
            200,
            "the link is good on {}",
            app.web_url
        );
    }
    let r = client
        .post(format!("{}/unsubscribe?token={token}", two.web_url))
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().unwrap().contains("You are unsubscribed"));
    let account = b.get("/account");
    assert!(
        !account.body.contains("checked value=\"instant\""),
        "listing emails are off"
    );

    // Each answer names its request.
    let r = client
        .get(format!("{}/healthz", one.web_url))
        .header("X-Request-Id", "lb-42")
        .send()
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "lb-42");
    let made = client
        .get(format!("{}/healthz", two.web_url))
        .send()
        .unwrap();
    assert_eq!(made.headers()["x-request-id"].len(), 16);

    // The gauges: the mail sent shows in the console listener's metrics.
    let metrics = client
        .get(one.admin("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    for gauge in [
        "platform_mail_messages",
        "platform_mail_oldest_pending_seconds",
        "platform_matcher_saved_searches",
        "platform_matcher_lag_entries",
        "platform_publish_duration_seconds",
    ] {
        assert!(metrics.contains(gauge), "{gauge} in {metrics}");
    }
    let two_metrics = client
        .get(two.admin("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        two_metrics.contains("platform_publish_duration_seconds_count 1"),
        "node 2 took the publish: {two_metrics}"
    );
}

/// A TCP proxy in front of PostgreSQL that can drop every connection and refuse new ones, as a
/// database outage looks from the platform (nothing else using the server is touched).
struct Proxy {
    port: u16,
    down: Arc<AtomicBool>,
    live: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(target: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let live = Arc::new(Mutex::new(Vec::<TcpStream>::new()));
        let (d, l, target) = (Arc::clone(&down), Arc::clone(&live), target.to_owned());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if d.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let mut streams = l.lock().unwrap();
                streams.push(client.try_clone().unwrap());
                streams.push(server.try_clone().unwrap());
                drop(streams);
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Proxy { port, down, live }
    }

    /// The outage begins: every connection is cut and new ones are refused.
    fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for s in self.live.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// The database is back.
    fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

#[test]
fn a_database_outage_under_publishing_is_503_and_the_desk_drains_its_queue_itself() {
    let Some(db) = TestDb::postgres(
        "nodes::a_database_outage_under_publishing_is_503_and_the_desk_drains_its_queue_itself",
    ) else {
        return;
    };
    let parsed = reqwest::Url::parse(&db.url).unwrap();
    let target = format!(
        "{}:{}",
        parsed.host_str().unwrap(),
        parsed.port().unwrap_or(5432)
    );
    let proxy = Proxy::start(&target);
    let mut through_proxy = parsed.clone();
    through_proxy.set_host(Some("127.0.0.1")).unwrap();
    through_proxy.set_port(Some(proxy.port)).unwrap();
    let app = platform()
        .database_url(through_proxy.as_str())
        .args(["--db-timeout-ms", "1000"])
        .spawn()
        .expect("platform starts behind the proxy");

    let (token, fingerprint) = add_agency(&app, "Outage Homes", "OH-1").handover();
    let desk = spawn_desk();
    desk.enroll(&[app.agency_url()], &token, &fingerprint);
    const LISTINGS: usize = 40;
    for i in 0..LISTINGS {
        desk.add_flat(&format!("OUT-{i}"), "Braga", 700 + i as u64);
    }

    let stored = |db: &TestDb| -> i64 {
        use diesel::prelude::*;
        let mut conn = db.db.get().unwrap();
        platform::with_conn!(&mut conn, |c| platform::db::schema::listings::table
            .count()
            .get_result(c))
        .unwrap()
    };
    let published = std::thread::scope(|s| {
        let publishing = s.spawn(|| desk.run(&["publish"]));
        wait_until("the first listings arrive", Duration::from_secs(60), || {
            stored(&db) >= 3
        });
        proxy.cut();
        std::thread::sleep(Duration::from_secs(3));
        proxy.restore();
        publishing.join().unwrap()
    });
    assert_eq!(
        published.code, 0,
        "the desk rode the outage out: {}\n{}",
        published.stderr, published.json
    );
    assert_eq!(stored(&db), LISTINGS as i64, "every listing arrived");
    assert!(
        desk.states().iter().all(|(_, s)| s == "published"),
        "{:?}",
        desk.states()
    );
    let logs = app.logs().join("\n");
    assert!(
        logs.contains("status=503") || logs.contains("\"status\":503"),
        "the platform answered 503 during the outage:\n{logs}"
    );
}

#[test]
fn with_json_logs_a_fatal_start_up_error_is_one_json_line() {
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    let (status, stdout, stderr) = platform()
        .env("DATABASE_URL", "postgres://root:secret@127.0.0.1:1/nothing")
        .env("PLATFORM_LOG_FORMAT", "json")
        .run_to_exit(["serve"], Duration::from_secs(60))
        .unwrap();
    assert_eq!(status.code(), Some(1), "{stdout}{stderr}");
    assert!(!stderr.contains("secret"), "password leaked: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for line in &lines {
        let parsed: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(parsed["level"].is_string(), "{line}");
    }
    let fatal: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["level"] == "ERROR")
        .collect();
    assert_eq!(fatal.len(), 1, "one fatal line: {stderr}");
    assert_eq!(fatal[0]["fields"]["code"], "server");
    let message = fatal[0]["fields"]["error"].as_str().unwrap();
    assert!(
        message
            .contains("cannot connect to the database at postgres://root:***@127.0.0.1:1/nothing"),
        "{message}"
    );
}
