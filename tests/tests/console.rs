//! The operator console and the operator commands against the real `platform` process: the
//! console on its own port with `/metrics` (gone from the website), `platform admin create`'s
//! link to the running console, the sign-in with TOTP, an application approved in the console
//! whose enrolment mail names the agency address the server was started with, the same for
//! `platform agency add` run with only the data directory, and `--json` errors.

use std::time::Duration;

use e2e_tests::desk::{keys_of, listing_in};
use e2e_tests::website::Browser;
use e2e_tests::{add_agency, enrolled, platform, spawn_desk, spawn_platform, wait_until};
use platform::operators::totp;

const AGENCY_API: &str = "https://agencies.example:9443";

/// The text of every `.eml` file the platform wrote that mentions `needle`.
fn mails_with(app: &platform::testing::PlatformProcess, needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(app.data_dir.join("mail"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let bytes = std::fs::read(entry.path()).unwrap_or_default();
        let Some(message) = mail_parser::MessageParser::default().parse(&bytes) else {
            continue;
        };
        let text = message.body_text(0).unwrap_or_default().into_owned();
        if text.contains(needle) || String::from_utf8_lossy(&bytes).contains(needle) {
            out.push(text);
        }
    }
    out
}

fn text_of(page: &str, id: &str) -> String {
    page.split(&format!(r#"id="{id}">"#))
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or("")
        .to_owned()
}

/// The first operator, made by `platform admin create` with only the data directory, sets a
/// password through the emailed link (which points at the running console, not at the default
/// address), then signs in with it and a TOTP code computed here; the console stays shut until
/// both are given. Returns the signed-in console browser.
fn signed_in_operator(app: &platform::testing::PlatformProcess, email: &str) -> Browser {
    let made = app.cli_json(&["admin", "create", email]);
    let link = made["set_password_link"].as_str().unwrap();
    let path = link
        .strip_prefix(&app.admin_url)
        .unwrap_or_else(|| panic!("{link} is not on {}", app.admin_url));
    let mut console = Browser::new(&app.admin_url);
    let set = console.submit(
        path,
        "/set-password",
        &[
            ("token", path.strip_prefix("/set-password?token=").unwrap()),
            ("password", "a long operator passphrase"),
        ],
    );
    assert_eq!(set.location.as_deref(), Some("/sign-in"), "{}", set.body);
    // Setting the password opened nothing.
    let page = console.get("/agencies");
    assert_eq!(page.location.as_deref(), Some("/sign-in"));
    let signed = console.submit(
        "/sign-in",
        "/sign-in",
        &[("email", email), ("password", "a long operator passphrase")],
    );
    assert_eq!(signed.location.as_deref(), Some("/second-factor"));
    // Without the second factor, still shut.
    assert_eq!(
        console.get("/agencies").location.as_deref(),
        Some("/second-factor")
    );
    let enrol = console.get("/second-factor");
    let secret = text_of(&enrol.body, "totp-secret");
    let code = totp::code_at(&secret, platform::db::now_ms() / 1000).unwrap();
    let done = console.submit("/second-factor", "/second-factor", &[("code", &code)]);
    assert_eq!(done.location.as_deref(), Some("/"), "{}", done.body);
    console
}

#[test]
fn an_application_is_approved_in_the_console_and_the_mail_names_the_servers_agency_address() {
    let app = platform()
        .args(["--agency-public-url", AGENCY_API])
        .spawn()
        .expect("platform starts");
    assert!(
        app.admin_url.starts_with("http://127.0.0.1:"),
        "{}",
        app.admin_url
    );
    let http = platform::testing::http_client();
    // /metrics moved: gone from the website, served by the admin listener.
    assert_eq!(http.get(app.url("/metrics")).send().unwrap().status(), 404);
    let metrics = http.get(app.admin("/metrics")).send().unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(metrics.text().unwrap().contains("platform_http_requests"));

    // An agency applies on the website.
    let mut site = Browser::new(&app.web_url);
    let applied = site.submit(
        "/agencies/apply",
        "/agencies/apply",
        &[
            ("name", "Harbour Homes"),
            ("licence", "HH-2026"),
            ("email", "office@harbour.example"),
        ],
    );
    assert!(applied.status < 400, "{}", applied.body);

    let mut console = signed_in_operator(&app, "ops@example.org");
    let dash = console.get("/");
    assert_eq!(text_of(&dash.body, "agencies-pending"), "1");
    // The server rebuilt its match index at start, and the dashboard says how long it took.
    assert!(
        text_of(&dash.body, "matcher-rebuild").ends_with(" ms"),
        "{}",
        dash.body
    );

    // Approve the application in the console.
    let list = console.get("/agencies?status=pending");
    assert!(list.body.contains("Harbour Homes"));
    let id = list
        .body
        .split("/agencies/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let approved = console.submit(
        &format!("/agencies/{id}"),
        &format!("/agencies/{id}/approve"),
        &[],
    );
    assert_eq!(
        approved.location.as_deref(),
        Some(format!("/agencies/{id}?done=approved").as_str())
    );
    wait_until(
        "the enrolment mail is written",
        Duration::from_secs(30),
        || !mails_with(&app, "office@harbour.example").is_empty(),
    );
    let mail = mails_with(&app, "office@harbour.example").join("\n");
    assert!(
        mail.contains(&format!("Agency API: {AGENCY_API}")),
        "{mail}"
    );
    assert!(!mail.contains("https://127.0.0.1:8443"), "{mail}");
    // The audit log names the operator.
    let audit = app.cli_json(&["audit", "--action", "agency.approve"]);
    assert_eq!(audit[0]["actor"], "operator:ops@example.org", "{audit}");

    // `platform agency add` with only the data directory mails the same, server's address.
    app.cli_json(&[
        "agency",
        "add",
        "--name",
        "Quay Lets",
        "--licence",
        "QL-1",
        "--email",
        "desk@quay.example",
    ]);
    wait_until(
        "the agency add mail is written",
        Duration::from_secs(30),
        || !mails_with(&app, "desk@quay.example").is_empty(),
    );
    let mail = mails_with(&app, "desk@quay.example").join("\n");
    assert!(
        mail.contains(&format!("Agency API: {AGENCY_API}")),
        "{mail}"
    );

    // --json errors are JSON on stdout with a non-zero exit.
    for args in [
        vec!["--json", "agency", "token", "99"],
        vec![
            "--json",
            "cert",
            "revoke",
            "deadbeef",
            "--reason",
            "superseded",
        ],
        vec!["--json", "mail", "retry", "12345"],
    ] {
        let (status, out, _) = app.cli(&args);
        assert!(!status.success(), "{args:?}");
        let v: serde_json::Value =
            serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"));
        assert_eq!(v["error"]["code"], "not_found", "{args:?}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("no "),
            "{v}"
        );
    }
    let (status, out, _) = app.cli(["--json", "agency", "reject", "1"]);
    assert!(!status.success());
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["error"]["code"], "refused", "{v}");
    // `platform mail status` sees what the console sees.
    let status = app.cli_json(&["mail", "status"]);
    assert!(status["outbox_depth"].as_i64().is_some(), "{status}");
}

#[test]
fn a_listing_taken_down_in_the_console_and_restored_by_the_cli_is_back_on_the_site_and_on_desks() {
    let app = spawn_platform();
    let url = app.agency_url();
    let tejo = enrolled(&app, "Tejo Homes", "TEJO-1");
    let doc = api_types::ListingDocument::example("TEJO-R1");
    let (status, body) = tejo.publish(&doc);
    assert_eq!(status, 201, "{body}");
    // Another agency's desk follows the feed.
    let (token, fingerprint) = add_agency(&app, "Porto Homes", "PORTO-1").handover();
    let desk = spawn_desk();
    desk.enroll(std::slice::from_ref(&url), &token, &fingerprint);
    desk.run(&["sync"]).ok();
    let lisbon = || desk.run(&["search", "--city", "Lisbon"]).ok();
    assert_eq!(keys_of(&lisbon()["listings"]), ["TEJO-R1"]);

    let mut console = signed_in_operator(&app, "ops@example.org");
    let found = console.get("/listings?q=TEJO-R1");
    let id = found
        .body
        .split("href=\"/listings/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let site = platform::testing::http_client();
    let public = |path: &str| site.get(app.url(path)).send().unwrap();
    assert_eq!(public(&format!("/listings/{id}")).status(), 200);

    // Taken down in the console: gone from the site and, on its next sync, from the desk.
    let down = console.submit(
        &format!("/listings/{id}"),
        &format!("/listings/{id}/take-down"),
        &[("reason", "the photos are of another flat")],
    );
    assert_eq!(
        down.location.as_deref(),
        Some(format!("/listings/{id}?done=taken-down").as_str()),
        "{}",
        down.body
    );
    assert_eq!(public(&format!("/listings/{id}")).status(), 404);
    let synced = desk.run(&["sync"]).ok();
    assert_eq!(synced["pulled"]["removed"], 1, "{synced}");
    assert!(keys_of(&lisbon()["listings"]).is_empty());
    let (_, feed) = tejo.get("/api/v1/changes?after=0");
    let last = feed["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["EventType"], "taken_down", "{last}");

    // Restored by the operator command (the same code path as the console's button).
    let restored = app.cli_json(&[
        "listing",
        "restore",
        &id,
        "--reason",
        "the agency sent the right photos",
    ]);
    assert_eq!(restored["status"], "active", "{restored}");
    let page = public(&format!("/listings/{id}"));
    assert_eq!(page.status(), 200);
    assert!(page.text().unwrap().contains(&doc.title));
    let search = public("/search?city=Lisbon").text().unwrap();
    assert!(search.contains(&doc.title), "{search}");
    // The desk adds it back from the feed, with the agency's signature checked.
    let synced = desk.run(&["sync"]).ok();
    assert_eq!(synced["pulled"]["upserted"], 1, "{synced}");
    assert_eq!(
        listing_in(&lisbon(), "TEJO-R1")["signature"]["state"],
        "verified"
    );
    // A desk that first reads the feed now sees the listing, and no removal it cannot check.
    let (token, _) = add_agency(&app, "Braga Homes", "BRAGA-1").handover();
    let late = spawn_desk();
    late.enroll(std::slice::from_ref(&url), &token, &fingerprint);
    let synced = late.run(&["sync"]).ok();
    assert_eq!(
        synced["pulled"]["refused_removals"],
        serde_json::json!([]),
        "{synced}"
    );
    let here = late.run(&["search", "--city", "Lisbon"]).ok();
    assert_eq!(keys_of(&here["listings"]), ["TEJO-R1"]);
    // The agency may change it again.
    let (status, body) = tejo.publish(&api_types::ListingDocument {
        modification_timestamp: doc.modification_timestamp + std::time::Duration::from_secs(60),
        list_price: api_types::Price::new(340_000).unwrap(),
        ..doc.clone()
    });
    assert_eq!(status, 200, "{body}");

    // Both audited, each with who did it.
    let taken = app.cli_json(&["audit", "--action", "listing.take_down"]);
    assert_eq!(taken[0]["actor"], "operator:ops@example.org", "{taken}");
    let back = app.cli_json(&["audit", "--action", "listing.restore"]);
    assert!(
        back[0]["actor"].as_str().unwrap().starts_with("operator:"),
        "{back}"
    );
    assert!(
        back[0]["detail"]
            .as_str()
            .unwrap()
            .contains("the agency sent the right photos"),
        "{back}"
    );
    // The console shows it live again, and a second restore is refused with the reason.
    let page = console.get(&format!("/listings/{id}"));
    assert!(page.body.contains("(active)"), "{}", page.body);
    let (status, out, _) = app.cli(["--json", "listing", "restore", &id, "--reason", "again"]);
    assert!(!status.success());
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["error"]["code"], "refused", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not taken down"),
        "{v}"
    );
}
