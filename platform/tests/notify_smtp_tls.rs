//! SMTP over TLS, as configured (`mail.smtp_tls`, `mail.smtp_ca_file`): STARTTLS and implicit
//! TLS against the test SMTP server presenting a certificate from a private CA, refusal of a
//! certificate nobody trusts, a server that does not offer STARTTLS, unusable CA files, and
//! connection reuse by the pool.

use std::path::{Path, PathBuf};

use lettre::Message;
use platform::config::{MailConfig, SmtpTls};
use platform::notify::mailer::MailerError;
use platform::notify::{Mailer, SendError};
use platform::testing::smtp::{SinkTls, SmtpSink};

/// A private CA in `dir` and a server certificate for `localhost`: (CA root file, chain, key).
fn private_ca(dir: &Path) -> (PathBuf, String, String) {
    let authority =
        ca::CertificateAuthority::load_or_create(&dir.join("ca"), "Mail Relay Test", None).unwrap();
    let key = ca::keys::PrivateKey::generate_p256().unwrap();
    let issued = authority
        .issue_server(&key, &["localhost".to_owned()], 30)
        .unwrap();
    let root = dir.join("relay-ca.pem");
    std::fs::write(&root, authority.root_pem()).unwrap();
    let chain = format!("{}{}", issued.pem, authority.chain_pem());
    (root, chain, key.to_pem().to_string())
}

fn config(tls: SmtpTls, port: u16, ca_file: Option<PathBuf>) -> MailConfig {
    MailConfig {
        smtp_tls: tls,
        smtp_port: Some(port),
        smtp_ca_file: ca_file,
        smtp_timeout_secs: 10,
        ..MailConfig::default()
    }
}

fn message(n: usize) -> Message {
    Message::builder()
        .from("Listing Exchange <noreply@homes.example>".parse().unwrap())
        .to(format!("buyer{n}@example.org").parse().unwrap())
        .subject(format!("New match {n}"))
        .body(format!("Listing {n} matches your saved search.\r\n"))
        .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn delivered_over_tls(tls: SinkTls, mode: SmtpTls) {
    let dir = tempfile::tempdir().unwrap();
    let (root, chain, key) = private_ca(dir.path());
    let sink = SmtpSink::start_tls(tls, &chain, &key);
    runtime().block_on(async {
        let mailer = Mailer::smtp(&config(mode, sink.port(), Some(root)), "localhost", None)
            .expect("mailer");
        for n in 0..3 {
            mailer.send(&message(n)).await.expect("delivered");
        }
    });
    let got = sink.messages();
    assert_eq!(got.len(), 3);
    for (n, m) in got.iter().enumerate() {
        assert!(m.tls, "message {n} travelled encrypted");
        assert_eq!(m.to, vec![format!("buyer{n}@example.org")]);
        let text = String::from_utf8_lossy(&m.data);
        assert!(text.contains(&format!("Subject: New match {n}")), "{text}");
    }
    assert_eq!(
        sink.connections(),
        1,
        "one pooled connection carried all three"
    );
}

#[test]
fn starttls_with_private_ca_delivers_encrypted() {
    delivered_over_tls(SinkTls::StartTls, SmtpTls::Starttls);
}

#[test]
fn implicit_tls_with_private_ca_delivers_encrypted() {
    delivered_over_tls(SinkTls::Implicit, SmtpTls::Tls);
}

#[test]
fn untrusted_server_certificate_is_refused_and_nothing_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (_root, chain, key) = private_ca(dir.path());
    for (tls, mode) in [
        (SinkTls::StartTls, SmtpTls::Starttls),
        (SinkTls::Implicit, SmtpTls::Tls),
    ] {
        let sink = SmtpSink::start_tls(tls, &chain, &key);
        let err = runtime().block_on(async {
            let mailer =
                Mailer::smtp(&config(mode, sink.port(), None), "localhost", None).expect("mailer");
            mailer.send(&message(0)).await.unwrap_err()
        });
        let SendError::Transient(text) = &err else {
            panic!("a TLS failure is retried later (the CA may be fixed): {err:?}")
        };
        assert!(
            text.to_lowercase().contains("certificate") || text.contains("UnknownIssuer"),
            "{mode:?}: {text}"
        );
        assert_eq!(sink.count(), 0, "{mode:?}: nothing went out in clear");
    }
}

#[test]
fn server_without_starttls_is_not_sent_mail_in_clear() {
    let sink = SmtpSink::start();
    let err = runtime().block_on(async {
        let mailer = Mailer::smtp(
            &config(SmtpTls::Starttls, sink.port(), None),
            "localhost",
            None,
        )
        .expect("mailer");
        mailer.send(&message(0)).await.unwrap_err()
    });
    assert!(err.to_string().contains("STARTTLS"), "{err}");
    assert_eq!(sink.count(), 0);
}

#[test]
fn unusable_ca_file_is_a_clear_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "this is not a certificate\n").unwrap();
    let rt = runtime();
    let _guard = rt.enter();
    for path in [missing, not_pem] {
        let err = Mailer::smtp(
            &config(SmtpTls::Starttls, 2525, Some(path.clone())),
            "localhost",
            None,
        )
        .unwrap_err();
        assert!(matches!(err, MailerError::CaFile { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("mail.smtp_ca_file"), "{text}");
        assert!(text.contains(&path.display().to_string()), "{text}");
    }
}

#[test]
fn pool_reuses_connections_and_opens_no_more_than_its_size() {
    let sink = SmtpSink::start();
    runtime().block_on(async {
        let mail = MailConfig {
            smtp_pool_size: 3,
            ..config(SmtpTls::None, sink.port(), None)
        };
        let mailer = Mailer::smtp(&mail, "127.0.0.1", None).unwrap();
        let sends = (0..30).map(|n| {
            let mailer = mailer.clone();
            async move { mailer.send(&message(n)).await }
        });
        for result in futures_util::future::join_all(sends).await {
            result.expect("delivered");
        }
    });
    assert_eq!(sink.count(), 30);
    assert!(
        (1..=3).contains(&sink.connections()),
        "{} connections for a pool of 3",
        sink.connections()
    );
}
