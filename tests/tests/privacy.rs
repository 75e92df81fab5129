//! Nothing personal leaves the desk in clear: a watched tenant's saved search is named by an
//! opaque handle, the agency's alert email names that handle, and unwatching or removing the
//! tenant deletes the platform's rows about them. After the desk flows, the platform's SQLite
//! file (or every text column of every PostgreSQL table) and its mail files hold none of the
//! names, contacts or wish words used. And `customer watch` without the platform says plainly
//! that nothing was done.

use std::path::Path;
use std::time::Duration;

use e2e_tests::desk::{TwoDesks, two_enrolled_desks};
use e2e_tests::scan::{contains, files_under};
use e2e_tests::{PlatformBuilder, TestDb, closed_port_url, platform, skip, wait_until};
use serde_json::Value;

/// The tenants' names and contacts the flows below hand to the desk: never sent at all.
const PEOPLE: [&str; 5] = [
    "Tina Marquesa",
    "Marquesa",
    "tina.marquesa@example.org",
    "Rui Confidencial",
    "+351 912 345 678",
];

/// Every personal string of the flows: the people, and a wish word (sent while watched, as
/// matching needs it, and gone once unwatched).
const SECRETS: [&str; 6] = [
    PEOPLE[0],
    PEOPLE[1],
    PEOPLE[2],
    PEOPLE[3],
    PEOPLE[4],
    "wintergartensauna",
];

fn id_of(v: &Value) -> String {
    v["id"].as_i64().unwrap().to_string()
}

fn quick_mail(builder: PlatformBuilder) -> PlatformBuilder {
    builder.args([
        "--mail-poll-interval-ms",
        "100",
        "--mail-batch-window-secs",
        "0",
    ])
}

/// Each `file: secret` found in the files under `dir`.
fn file_hits(dir: &Path) -> Vec<String> {
    e2e_tests::scan::file_hits(dir, &SECRETS, "")
}

/// The desk flows: two tenants with names, contacts and wishes, watched; a listing of another
/// agency matches one of them, so a notification row and an email exist; then one is unwatched
/// and the other removed. `hits` scans the platform's storage: while the tenants are watched it
/// must find their wish word (so the scan sees what is stored), and no name or contact.
fn desk_flows(app: &e2e_tests::PlatformProcess, hits: &dyn Fn() -> Vec<String>) {
    let TwoDesks { a, b, .. } = two_enrolled_desks(app, "Beta Realty", "BR-2");
    let tina = b
        .run(&[
            "customer",
            "add-tenant",
            "--name",
            "Tina Marquesa",
            "--contact",
            "tina.marquesa@example.org",
            "--type",
            "rent",
            "--city",
            "lisbon",
            "--max-price",
            "1500",
        ])
        .ok();
    let rui = b
        .run(&[
            "customer",
            "add-tenant",
            "--name",
            "Rui Confidencial",
            "--contact",
            "+351 912 345 678",
            "--city",
            "porto",
            "--keyword",
            "Wintergartensauna",
        ])
        .ok();
    let (tina_id, rui_id) = (id_of(&tina), id_of(&rui));

    let watched = b.run(&["customer", "watch", &tina_id]).ok();
    let handle = watched["name"].as_str().unwrap().to_owned();
    assert!(handle.starts_with("tenant-"), "{watched}");
    assert_eq!(handle.len(), "tenant-".len() + 8, "{handle}");
    let rui_watch = b.run(&["customer", "watch", &rui_id]).ok();
    assert_ne!(
        rui_watch["name"], watched["name"],
        "each tenant has a handle"
    );
    for s in PEOPLE {
        assert!(!contains(watched.to_string().as_bytes(), s), "{watched}");
        assert!(
            !contains(rui_watch.to_string().as_bytes(), s),
            "{rui_watch}"
        );
    }
    // The desk shows the tenant behind the handle.
    let (code, text, err) = b.run_text(&["customer", "watched"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains(&handle) && text.contains("Tina Marquesa"),
        "{text}"
    );
    let (_, text, _) = b.run_text(&["customer", "list"]);
    assert!(text.contains(&format!("\"{handle}\"")), "{text}");

    // Another agency publishes a fitting flat: a match row, and an email naming the handle.
    a.add_flat("A-1", "Lisbon", 1200);
    a.run(&["publish"]).ok();
    let mail_dir = app.data_dir.join("mail");
    wait_until(
        "the match email is written",
        Duration::from_secs(30),
        || {
            files_under(&mail_dir)
                .iter()
                .any(|(_, bytes)| contains(bytes, &handle))
        },
    );
    for (path, bytes) in files_under(&mail_dir) {
        for s in SECRETS {
            assert!(!contains(&bytes, s), "{path} names {s:?}");
        }
    }

    let watching = hits();
    assert!(
        watching.iter().any(|h| h.contains("wintergartensauna")),
        "the scan finds the wishes the platform holds while watched: {watching:?}"
    );
    assert!(
        watching.iter().all(|h| h.contains("wintergartensauna")),
        "only the wishes, never a name or contact: {watching:?}"
    );

    // Unwatch one, remove the other: the platform forgets both.
    b.run(&[
        "customer",
        "unwatch",
        watched["id"].as_i64().unwrap().to_string().as_str(),
    ])
    .ok();
    let removed = b.run(&["customer", "remove", &rui_id]).ok();
    assert_eq!(removed["unwatched"], rui_watch["id"], "{removed}");
    b.run(&["customer", "remove", &tina_id]).ok();
    assert!(
        b.run(&["customer", "watched"])
            .ok()
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn nothing_personal_is_left_in_the_platforms_sqlite_file_or_mail() {
    let mut app = quick_mail(platform()).spawn().expect("platform starts");
    let data_dir = app.data_dir.clone();
    desk_flows(&app, &|| file_hits(&data_dir));
    app.terminate(Duration::from_secs(30));
    let files = files_under(&data_dir);
    assert!(
        files.iter().any(|(p, _)| p.ends_with("platform.db")),
        "the database file is scanned"
    );
    assert!(
        files.iter().any(|(p, _)| p.ends_with(".eml")),
        "the mail files are scanned"
    );
    let left = file_hits(&data_dir);
    assert!(left.is_empty(), "still held: {left:?}");
}

/// Each `table.column: secret` found in a text column of the PostgreSQL database at `url`.
fn postgres_hits(url: &str) -> Vec<String> {
    e2e_tests::scan::postgres_text_hits(url, &SECRETS)
}

#[test]
fn nothing_personal_is_left_in_the_platforms_postgresql_tables() {
    let test = "nothing_personal_is_left_in_the_platforms_postgresql_tables";
    let Some(test_db) = TestDb::postgres(test) else {
        skip(test, "TEST_POSTGRES_URL is not set");
        return;
    };
    let mut app = quick_mail(platform().database_url(test_db.url.clone()))
        .spawn()
        .expect("platform starts");
    let data_dir = app.data_dir.clone();
    let url = test_db.url.clone();
    desk_flows(&app, &|| {
        let mut hits = postgres_hits(&url);
        hits.extend(file_hits(&data_dir));
        hits
    });
    app.terminate(Duration::from_secs(30));
    let left = postgres_hits(&url);
    assert!(left.is_empty(), "still held: {left:?}");
    assert!(
        files_under(&data_dir)
            .iter()
            .any(|(p, _)| p.ends_with(".eml")),
        "the mail files are scanned"
    );
    let left = file_hits(&data_dir);
    assert!(left.is_empty(), "still held: {left:?}");
}

#[test]
fn watching_without_the_platform_says_nothing_was_done() {
    let app = platform().spawn().expect("platform starts");
    let TwoDesks { b, .. } = two_enrolled_desks(&app, "Beta Realty", "BR-2");
    let tina = b.add_tenant("Tina", "lisbon", 1500);
    let tina_id = id_of(&tina);
    let dead = closed_port_url();

    let r = b.run(&["--server", &dead, "customer", "watch", &tina_id]);
    assert_eq!((r.code, r.error_code()), (3, "unreachable"), "{r:?}");
    assert!(r.stderr.contains("nothing was done"), "{}", r.stderr);
    assert!(r.stderr.contains("not watched"), "{}", r.stderr);
    assert!(!r.stderr.contains("will be sent"), "{}", r.stderr);
    // The desk's state matches: not watched, no handle, nothing queued for later.
    let list = b.run(&["customer", "list"]).ok();
    assert_eq!(list[0]["watch_id"], Value::Null, "{list}");
    assert_eq!(list[0]["watch_handle"], Value::Null, "{list}");

    // With the platform back it is watched; unwatching offline also says nothing was done.
    let url = app.agency_url();
    let watched = b
        .run(&["--server", &url, "customer", "watch", &tina_id])
        .ok();
    let platform_id = watched["id"].as_i64().unwrap().to_string();
    let r = b.run(&["--server", &dead, "customer", "unwatch", &platform_id]);
    assert_eq!((r.code, r.error_code()), (3, "unreachable"), "{r:?}");
    assert!(r.stderr.contains("nothing was done"), "{}", r.stderr);
    let list = b.run(&["customer", "list"]).ok();
    assert_eq!(
        list[0]["watch_id"].as_i64(),
        watched["id"].as_i64(),
        "{list}"
    );
    let still = b.run(&["--server", &url, "customer", "watched"]).ok();
    assert_eq!(still.as_array().unwrap().len(), 1, "{still}");
}
