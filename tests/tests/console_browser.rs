//! The operator console in a real headless browser (Chromium through chromedriver and
//! fantoccini): an agency applies on the website; the first operator, made by `platform admin
//! create`, follows the emailed link, chooses a password, signs in with it and a TOTP code (the
//! test computes it from the secret the page shows, as an authenticator app would), approves the
//! application in the console; and the enrolment mail, delivered to a real SMTP server, carries
//! the agency address the platform was started with.
//!
//! Without `/usr/bin/chromium` and `/usr/bin/chromedriver` the test is skipped loudly
//! (`REQUIRE_FULL_TESTS=1` makes that a failure).
//!
//! Set `CONSOLE_SCREENSHOTS=DIR` to write `console-dashboard.png` and `console-agency.png` into
//! `DIR` (docs/console.md's come from `CONSOLE_SCREENSHOTS=docs/screenshots`).

mod chromium;

use std::time::Duration;

use chromium::{Driver, browser, click, fill, screenshot, wait_text};
use e2e_tests::platform;
use e2e_tests::website::seed_listings;
use fantoccini::Locator;
use platform::operators::totp;
use platform::testing::TestDb;
use platform::testing::smtp::SmtpSink;

const AGENCY_API: &str = "https://agencies.example:9443";
const SHOTS: &str = "CONSOLE_SCREENSHOTS";

#[test]
fn an_operator_signs_in_with_totp_and_approves_an_application_whose_mail_names_the_agency_address()
{
    if !chromium::available() {
        platform::testing::skip(
            "console_browser::an_operator_signs_in_with_totp_and_approves_an_application",
            "needs /usr/bin/chromium and /usr/bin/chromedriver (Debian: chromium chromium-driver)",
        );
        return;
    }
    let sink = SmtpSink::start();
    let db = TestDb::sqlite();
    let app = platform()
        .database_url(&db.url)
        .args([
            "--agency-public-url",
            AGENCY_API,
            "--smtp-host",
            "127.0.0.1",
            "--smtp-tls",
            "none",
            "--mail-poll-interval-ms",
            "100",
        ])
        .args(["--smtp-port".to_owned(), sink.port().to_string()])
        .spawn()
        .expect("platform starts");
    // Another agency's listings already on the platform, so the dashboard has figures.
    seed_listings(&db.db);
    let driver = Driver::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = rt.block_on(browser(&driver.url));
    let (web, console) = (app.web_url.clone(), app.admin_url.clone());

    // The agency applies on the website.
    rt.block_on(async {
        c.goto(&format!("{web}/agencies/apply")).await.unwrap();
        fill(&c, "name", "Harbour Homes").await;
        fill(&c, "licence", "HH-2026").await;
        fill(&c, "email", "office@harbour.example").await;
        click(&c, "main form button[type=submit]").await;
        wait_text(&c, "main", "Application received").await;
    });

    // The first operator: the link from `platform admin create` leads to the running console.
    let made = app.cli_json(&["admin", "create", "ops@example.org"]);
    let link = made["set_password_link"].as_str().unwrap().to_owned();
    assert!(link.starts_with(&console), "{link} is not on {console}");
    let password = "a long operator passphrase";
    let secret = rt.block_on(async {
        c.goto(&link).await.unwrap();
        wait_text(&c, "main", "ops@example.org").await;
        fill(&c, "password", password).await;
        click(&c, "main form button[type=submit]").await;
        wait_text(&c, "h1", "Sign in").await;
        fill(&c, "email", "ops@example.org").await;
        fill(&c, "password", password).await;
        click(&c, "main form button[type=submit]").await;
        // The password alone opens nothing: the second factor is set up now.
        wait_text(&c, "h1", "Set up your second factor").await;
        c.goto(&format!("{console}/agencies")).await.unwrap();
        wait_text(&c, "h1", "Set up your second factor").await;
        c.find(Locator::Id("totp-secret"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert_eq!(secret.len(), 32, "a base32 secret: {secret}");
    let code = totp::code_at(&secret, platform::db::now_ms() / 1000).unwrap();
    rt.block_on(async {
        fill(&c, "code", &code).await;
        click(&c, "main form button[type=submit]").await;
        wait_text(&c, "h1", "Dashboard").await;
        let pending = wait_text(&c, "#agencies-pending", "1").await;
        assert_eq!(pending, "1");
        wait_text(&c, "header", "Sign out ops@example.org").await;
        screenshot(&c, SHOTS, "console-dashboard.png").await;

        // The application, from the list to its page, approved.
        c.goto(&format!("{console}/agencies?status=pending"))
            .await
            .unwrap();
        c.find(Locator::LinkText("Harbour Homes"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        // The state is shown in capitals (CSS), as the browser renders it.
        wait_text(&c, "h1", "Harbour Homes (PENDING)").await;
        screenshot(&c, SHOTS, "console-agency.png").await;
        click(&c, "#approve").await;
        wait_text(&c, "main", "Approved; the enrolment token was emailed").await;
        wait_text(&c, "h1", "(ACTIVE)").await;
        c.close().await.unwrap();
    });

    // The enrolment mail reached the SMTP server and names the server's agency address.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mail = loop {
        let found = sink
            .messages()
            .into_iter()
            .find(|m| m.to.iter().any(|t| t.contains("office@harbour.example")));
        if let Some(m) = found {
            break m;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no enrolment mail to office@harbour.example reached the SMTP server; got {:?}",
            sink.messages().iter().map(|m| &m.to).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let message = mail_parser::MessageParser::default()
        .parse(&mail.data)
        .expect("a MIME message");
    let text = message.body_text(0).unwrap().into_owned();
    assert!(
        text.contains(&format!("Agency API: {AGENCY_API}")),
        "{text}"
    );
    assert!(!text.contains("https://127.0.0.1:8443"), "{text}");
    // The approval is in the audit log under the operator's name.
    let audit = app.cli_json(&["audit", "--action", "agency.approve"]);
    assert_eq!(audit[0]["actor"], "operator:ops@example.org", "{audit}");
}
