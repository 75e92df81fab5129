//! The desk's command line keeps its documented contract (docs/agency-client.md, Commands) at
//! every door, through the real `agency-client` binary: a command line clap refuses is an error
//! like any other under `--json` (code `usage`, exit 2), a negative number reaches validation, a
//! closed pipe ends the program quietly, an edit that changes nothing is refused, and dates print
//! as RFC 3339. Each test also checks that nothing was stored.

use std::process::Command;

use e2e_tests::desk::two_enrolled_desks;
use e2e_tests::{Desk, PASSPHRASE, add_agency, spawn_desk, spawn_platform};

const FLAT: [&str; 13] = [
    "listing",
    "add",
    "--key",
    "F-1",
    "--type",
    "rent",
    "--property",
    "apartment",
    "--city",
    "Lisbon",
    "--title",
    "Flat",
    "--price",
];

/// `listing add` of F-1 with `price` as given.
fn add_with_price(desk: &Desk, price: &str) -> e2e_tests::Run {
    let mut args = FLAT.to_vec();
    args.push(price);
    desk.run(&args)
}

#[test]
fn a_value_clap_refuses_is_a_json_usage_error_with_exit_2_and_stores_nothing() {
    let desk = spawn_desk();
    let run = add_with_price(&desk, "abc");
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.error_code(), "usage", "{run:?}");
    assert_eq!(run.json["error"]["field"], "--price", "{run:?}");
    let message = run.json["error"]["message"].as_str().unwrap();
    assert!(message.contains("'abc'"), "{message}");
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    // Refused before the desk database was even opened.
    assert!(!desk.path.join("agency-client.sqlite3").exists());

    let run = desk.run(&["customer", "unwatch", "abc"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.error_code(), "usage", "{run:?}");
    let unknown = desk.run(&["listing", "list", "--no-such-option"]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert_eq!(unknown.error_code(), "usage", "{unknown:?}");
    assert_eq!(unknown.json["error"]["field"], "--no-such-option");
    assert!(!desk.path.join("agency-client.sqlite3").exists());

    // Without --json: clap's own words and usage on stderr, nothing on stdout, still exit 2.
    let (code, stdout, stderr) = desk.run_text(&["customer", "unwatch", "abc"]);
    assert_eq!((code, stdout.as_str()), (2, ""), "{stderr}");
    assert!(stderr.contains("invalid value 'abc'"), "{stderr}");
    // --help is no error.
    let (code, stdout, _) = desk.run_text(&["listing", "--help"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("Usage"), "{stdout}");
}

#[test]
fn a_negative_price_reaches_validation_and_names_the_field() {
    let desk = spawn_desk();
    let run = add_with_price(&desk, "-5");
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.error_code(), "invalid_listing", "{run:?}");
    assert_eq!(run.json["error"]["field"], "ListPrice", "{run:?}");
    assert!(
        run.stderr.contains("ListPrice must be between 1"),
        "{run:?}"
    );
    assert!(desk.states().is_empty(), "nothing stored");

    add_with_price(&desk, "1000").ok();
    let run = desk.run(&["listing", "edit", "--key", "F-1", "--price", "-5"]);
    assert_eq!(run.error_code(), "invalid_listing", "{run:?}");
    assert_eq!(run.json["error"]["field"], "ListPrice", "{run:?}");
    let listed = desk.run(&["listing", "list"]).ok();
    assert_eq!(listed[0]["document"]["ListPrice"], 1000, "{listed}");

    // Other numbers too are read as values, not as unknown options.
    let run = desk.run(&["search", "--min-price", "-5"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.json["error"]["field"], "--min-price", "{run:?}");
}

#[test]
fn a_reader_that_closed_the_pipe_ends_the_program_quietly() {
    let desk = spawn_desk();
    desk.run(&["search", "--city", "Lisbon"]).ok();
    for json in [false, true] {
        // The read end is closed before the program starts: every write to stdout fails.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut cmd = Command::new(e2e_tests::binaries::agency_client());
        cmd.env("AGENCY_CLIENT_PASSPHRASE", PASSPHRASE)
            .env_remove("AGENCY_CLIENT_DATA_DIR")
            .arg("--data-dir")
            .arg(&desk.path);
        if json {
            cmd.arg("--json");
        }
        let output = cmd
            .args(["search", "--history"])
            .stdout(writer)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "json {json}: {stderr}");
        assert_eq!(stderr, "", "quiet, no panic (json {json})");
    }
    let history = desk.run(&["search", "--history"]).ok();
    assert_eq!(history.as_array().unwrap().len(), 1, "{history}");
}

#[test]
fn an_edit_that_changes_nothing_is_refused_and_queues_nothing() {
    let app = spawn_platform();
    let url = app.agency_url();
    let (token, fp) = add_agency(&app, "Acme Homes", "AMI-1").handover();
    let desk = spawn_desk();
    desk.enroll(std::slice::from_ref(&url), &token, &fp);
    desk.add_flat("T-1", "Lisbon", 1000);
    desk.run(&["publish"]).ok();
    let published = [("T-1".to_owned(), "published".to_owned())];
    assert_eq!(desk.states(), published);

    for args in [
        &["listing", "edit", "--key", "T-1"][..],
        &[
            "listing", "edit", "--key", "T-1", "--price", "1000", "--city", "Lisbon",
        ],
        &["listing", "status", "T-1", "active"],
    ] {
        let run = desk.run(args);
        assert_eq!(run.code, 1, "{args:?}: {run:?}");
        assert_eq!(run.error_code(), "unchanged", "{args:?}: {run:?}");
        assert!(run.stderr.contains("nothing to change"), "{run:?}");
        assert_eq!(desk.states(), published, "{args:?} marks nothing changed");
    }
    let sent = desk.run(&["publish"]).ok();
    assert_eq!(
        sent["queued"],
        serde_json::json!([]),
        "the outbox stays empty: {sent}"
    );

    // A real change still goes through.
    desk.run(&["listing", "edit", "--key", "T-1", "--price", "990"])
        .ok();
    assert_eq!(desk.states(), [("T-1".to_owned(), "changed".to_owned())]);
}

#[test]
fn dates_print_as_rfc_3339() {
    let app = spawn_platform();
    let desks = two_enrolled_desks(&app, "Beta Realty", "BR-2");
    let b = &desks.b;
    let tenant = b.add_tenant("Tina", "lisbon", 1500);
    let id = tenant["id"].as_i64().unwrap().to_string();
    let (code, watching, stderr) = b.run_text(&["customer", "watch", &id]);
    assert_eq!(code, 0, "{stderr}");
    let (code, watched, stderr) = b.run_text(&["customer", "watched"]);
    assert_eq!(code, 0, "{stderr}");
    for (text, before) in [(&watching, " until "), (&watched, "(until ")] {
        let date = text
            .split_once(before)
            .map(|(_, rest)| rest.trim().split(')').next().unwrap_or_default())
            .unwrap_or_else(|| panic!("a date in {text:?}"));
        time::OffsetDateTime::parse(date, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|e| panic!("{date:?} in {text:?} is RFC 3339: {e}"));
    }
}
