//! Throughput of email delivery: rendered listing-match emails sent through the SMTP connection
//! pool (`platform::notify::smtp_pool`, lettre's SMTP client on `TCP_NODELAY` sockets) into the
//! in-process test SMTP server on loopback (real SMTP conversations, one per message). Prints one final line: `email messages=N per_sec=X`.
//!
//! Run: `cargo bench -p platform --bench email` (`EMAIL_BENCH_MESSAGES`, default 5000;
//! `EMAIL_BENCH_POOL`, default 8).

use std::time::Instant;

use futures_util::StreamExt as _;
use lettre::Message;
use lettre::message::MultiPart;
use platform::config::{MailConfig, SmtpTls};
use platform::notify::Mailer;
use platform::notify::outbox::MatchReason;
use platform::notify::render::{Links, ListingSummary, MatchItem, render_matches};
use platform::testing::smtp::SmtpSink;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn message(i: usize) -> Message {
    let items: Vec<MatchItem> = (0..3)
        .map(|j| MatchItem {
            listing: ListingSummary {
                id: (i * 3 + j) as i64,
                title: format!("Bright flat number {j} with a river view"),
                city: "Lisbon".into(),
                district: Some("Alfama".into()),
                price: 350_000,
                currency: "EUR".into(),
                bedrooms: Some(2),
                living_area: Some(84.5),
                monthly: false,
            },
            searches: vec!["Alfama flats".into()],
            reason: MatchReason::PriceDrop,
            price: 350_000,
            previous_price: Some(380_000),
        })
        .collect();
    let links = Links {
        public_url: "https://homes.example".into(),
        unsubscribe: Some(format!("https://homes.example/unsubscribe?token={i}.x")),
    };
    let r = render_matches(&items, 3, false, &links);
    Message::builder()
        .from("Listing Exchange <noreply@homes.example>".parse().unwrap())
        .to(format!("user{i}@example.org").parse().unwrap())
        .subject(r.subject)
        .multipart(MultiPart::alternative_plain_html(r.text, r.html))
        .unwrap()
}

fn main() {
    let n = env_or("EMAIL_BENCH_MESSAGES", 5_000);
    let pool = env_or("EMAIL_BENCH_POOL", 8);
    let sink = SmtpSink::start_with(false);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let messages: Vec<Message> = (0..n).map(message).collect();
    let per_sec = runtime.block_on(async {
        let mail = MailConfig {
            smtp_tls: SmtpTls::None,
            smtp_port: Some(sink.port()),
            smtp_pool_size: u32::try_from(pool).unwrap(),
            ..MailConfig::default()
        };
        let mailer = Mailer::smtp(&mail, "127.0.0.1", None).unwrap();
        // Warm the pool so connection set-up is not counted as throughput.
        for m in messages.iter().take(pool) {
            mailer.send(m).await.unwrap();
        }
        let start = Instant::now();
        let failures = futures_util::stream::iter(messages.iter())
            .map(|m| mailer.send(m))
            .buffer_unordered(pool)
            .filter(|r| std::future::ready(r.is_err()))
            .count()
            .await;
        assert_eq!(failures, 0, "every message is accepted");
        n as f64 / start.elapsed().as_secs_f64()
    });
    assert_eq!(
        sink.count(),
        n + pool.min(n),
        "the server received every message"
    );
    println!("email smtp_connections={} pool={pool}", sink.connections());
    println!("email messages={n} per_sec={per_sec:.0}");
}
