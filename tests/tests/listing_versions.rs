//! Several desks of one agency edit the same listings, end to end on the real platform: every
//! change names the version it was made on (`If-Match`, the `ETag` of `GET`), a stale one gets
//! `412` with the current signed version, and nothing is overwritten; on the desks (two data
//! directories, two enrolment tokens), a stale edit becomes a conflict that staff settle either
//! way, and a listing one desk publishes is the other's to edit.

use api_types::{ListingDocument, Price, StandardStatus};
use e2e_tests::{
    Desk, PlatformProcess, TestAgency, TestDb, add_agency, error_code, platform, spawn_desk,
};
use reqwest::Method;
use serde_json::Value;

/// The agency's second desk: the operator issues another enrolment token, which enrols a new
/// certificate lineage.
fn second_token(app: &PlatformProcess, agency_id: i64) -> String {
    let out = app.cli_json(&["agency", "token", &agency_id.to_string()]);
    out["token"].as_str().expect("a token").to_owned()
}

fn priced(key: &str, price: u64, secs: i64) -> ListingDocument {
    let mut d = ListingDocument::example(key);
    d.list_price = Price::new(price).unwrap();
    d.modification_timestamp += time::Duration::seconds(secs);
    d
}

fn withdrawn(d: &ListingDocument, secs: i64) -> ListingDocument {
    let mut w = d.clone();
    w.standard_status = StandardStatus::Withdrawn;
    w.modification_timestamp += time::Duration::seconds(secs);
    w
}

fn versions_over_http(app: &PlatformProcess) {
    let added = add_agency(app, "Acme Homes", "AMI-1");
    let desk1 = added.enroll(app);
    let desk2 = TestAgency::enroll(
        &app.agency_url(),
        &added.root_pem,
        &second_token(app, added.id),
    );
    assert_ne!(desk1.serial, desk2.serial);
    let openapi: Value = desk1
        .client()
        .get(desk1.url("/api/openapi.json"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let documented = |method: &str, status: u16, answer: &Value| {
        platform::api::openapi::check_answer(
            &openapi,
            method,
            "/api/v1/listings/{ListingKey}",
            status,
            answer,
        )
        .unwrap_or_else(|e| panic!("{method} {status} departs from the document: {e}"));
    };
    let get = |a: &TestAgency, key: &str| {
        let r = a
            .client()
            .get(a.url(&format!("/api/v1/listings/{key}")))
            .send()
            .unwrap();
        let etag = r
            .headers()
            .get("etag")
            .map(|v| v.to_str().unwrap().to_owned());
        (r.status().as_u16(), etag, r.json::<Value>().unwrap())
    };

    // Desk 1 publishes B-1 for the first time (If-None-Match: *): version 1, ETag "1".
    let first = priced("B-1", 280_000, 0);
    let (status, body, etag) = desk1.send_versioned(Method::PUT, &first, &[("If-None-Match", "*")]);
    assert_eq!(status, 201, "{body}");
    assert_eq!(etag.as_deref(), Some("\"1\""));
    // Desk 2 sees it (the agency's listing) with its ETag.
    let (status, etag, stored) = get(&desk2, "B-1");
    assert_eq!(status, 200);
    assert_eq!(etag.as_deref(), Some("\"1\""));
    assert_eq!(stored["listing"]["ListPrice"], 280_000);
    // A second first publish of B-1 (desk 2 not knowing desk 1 had one): 412, with desk 1's.
    let (status, body, _) =
        desk2.send_versioned(Method::PUT, &priced("B-1", 5, 1), &[("If-None-Match", "*")]);
    assert_eq!(
        (status, error_code(&body)),
        (412, "version_mismatch"),
        "{body}"
    );
    assert_eq!(body["error"]["current"]["listing"]["ListPrice"], 280_000);
    documented("PUT", 412, &body);

    // Desk 2 edits version 1: 1,000. Version 2.
    let (status, body, etag) = desk2.send_versioned(
        Method::PUT,
        &priced("B-1", 1_000, 10),
        &[("If-Match", "\"1\"")],
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["version"].as_i64(), etag.as_deref()),
        (Some(2), Some("\"2\""))
    );

    // Desk 1's edit of version 1 (newer by its clock): 412 with the current version, signed by
    // desk 2, and nothing changes.
    let (status, body, _) = desk1.send_versioned(
        Method::PUT,
        &priced("B-1", 281_000, 20),
        &[("If-Match", "\"1\"")],
    );
    assert_eq!(
        (status, error_code(&body)),
        (412, "version_mismatch"),
        "{body}"
    );
    assert_eq!(body["error"]["current_version"], 2);
    let current = &body["error"]["current"];
    assert_eq!(current["version"], 2);
    assert_eq!(current["listing"]["ListPrice"], 1_000);
    assert_eq!(current["certificate_serial"], desk2.serial.as_str());
    assert!(current["signature"]["value"].is_string());
    documented("PUT", 412, &body);
    // The same for a withdrawal of version 1.
    let (status, body, _) = desk1.send_versioned(
        Method::DELETE,
        &withdrawn(&first, 30),
        &[("If-Match", "\"1\"")],
    );
    assert_eq!(
        (status, error_code(&body)),
        (412, "version_mismatch"),
        "{body}"
    );
    documented("DELETE", 412, &body);
    // An old desk (no header) over desk 2's version: 428, nothing overwritten.
    let (status, body, _) = desk1.send_versioned(Method::PUT, &priced("B-1", 282_000, 40), &[]);
    assert_eq!(
        (status, error_code(&body)),
        (428, "if_match_required"),
        "{body}"
    );
    assert_eq!(body["error"]["current_version"], 2);
    documented("PUT", 428, &body);
    let (_, etag, stored) = get(&desk1, "B-1");
    assert_eq!(etag.as_deref(), Some("\"2\""));
    assert_eq!(
        stored["listing"]["ListPrice"], 1_000,
        "nothing was overwritten"
    );
    // Bad preconditions are named.
    for headers in [
        vec![("If-Match", "*")],
        vec![("If-Match", "W/\"2\"")],
        vec![("If-Match", "\"1\", \"2\"")],
        vec![("If-None-Match", "\"2\"")],
        vec![("If-Match", "\"2\""), ("If-None-Match", "*")],
    ] {
        let (status, body, _) =
            desk1.send_versioned(Method::PUT, &priced("B-1", 283_000, 45), &headers);
        assert_eq!(
            (status, error_code(&body)),
            (400, "invalid_precondition"),
            "{headers:?}: {body}"
        );
    }

    // Desk 2, which wrote version 2, still may change it without a header (a desk working alone
    // is not disturbed).
    let (status, body, _) = desk2.send_versioned(Method::PUT, &priced("B-1", 1_100, 50), &[]);
    assert_eq!((status, body["version"].as_i64()), (200, Some(3)), "{body}");
    // Desk 1, naming version 3, changes it back to its price, knowingly; then withdraws
    // version 4.
    let mine = priced("B-1", 280_000, 60);
    let (status, body, _) = desk1.send_versioned(Method::PUT, &mine, &[("If-Match", "\"3\"")]);
    assert_eq!((status, body["version"].as_i64()), (200, Some(4)), "{body}");
    // A retry of that very request (its answer lost) is unchanged, not a conflict.
    let (status, body, _) = desk1.send_versioned(Method::PUT, &mine, &[("If-Match", "\"3\"")]);
    assert_eq!(
        (status, body["outcome"].as_str()),
        (200, Some("unchanged")),
        "{body}"
    );
    let (status, body, etag) = desk1.send_versioned(
        Method::DELETE,
        &withdrawn(&mine, 1),
        &[("If-Match", "\"4\"")],
    );
    assert_eq!((status, etag.as_deref()), (200, Some("\"5\"")), "{body}");
    // If-Match on a key the agency has no listing under: 412 without `current`, nothing made.
    let (status, body, _) =
        desk1.send_versioned(Method::PUT, &priced("B-9", 1, 0), &[("If-Match", "\"1\"")]);
    assert_eq!(
        (status, error_code(&body)),
        (412, "version_mismatch"),
        "{body}"
    );
    assert!(body["error"].get("current").is_none(), "{body}");
    assert_eq!(get(&desk1, "B-9").0, 404);
    // The feed has one event per accepted change (create, update, update, update, withdraw).
    let (_, feed) = desk1.get("/api/v1/changes?after=0");
    let kinds: Vec<&str> = feed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["EventType"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["created", "updated", "updated", "updated", "withdrawn"]
    );
}

#[test]
fn stale_changes_get_412_with_the_current_version_on_sqlite() {
    versions_over_http(&platform().spawn().expect("platform starts"));
}

#[test]
fn stale_changes_get_412_with_the_current_version_on_postgres() {
    let Some(db) = TestDb::postgres("listing_versions::stale_changes_on_postgres") else {
        return;
    };
    let app = platform()
        .database_url(&db.url)
        .spawn()
        .expect("platform starts");
    versions_over_http(&app);
}

/// Own listing `key` on `desk`: (state, price, version it rests on).
fn own(desk: &Desk, key: &str) -> (String, i64, Option<i64>) {
    let all = desk.run(&["listing", "list"]).ok();
    let l = all
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["listing_key"] == key)
        .unwrap_or_else(|| panic!("{key} is not an own listing here: {all}"))
        .clone();
    (
        l["state"].as_str().unwrap().to_owned(),
        l["document"]["ListPrice"].as_i64().unwrap(),
        l["published_version"].as_i64(),
    )
}

fn edit_price(desk: &Desk, key: &str, price: u64) {
    desk.run(&[
        "listing",
        "edit",
        "--key",
        key,
        "--price",
        &price.to_string(),
    ])
    .ok();
}

#[test]
fn two_desks_of_one_agency_never_overwrite_each_other() {
    let app = platform().spawn().expect("platform starts");
    let url = app.agency_url();
    let added = add_agency(&app, "Acme Homes", "AMI-1");
    let (agency_id, root_pem) = (added.id, added.root_pem.clone());
    let (token1, fingerprint) = added.handover();
    let (desk1, desk2) = (spawn_desk(), spawn_desk());
    desk1.enroll(std::slice::from_ref(&url), &token1, &fingerprint);
    let token2 = second_token(&app, agency_id);
    desk2.enroll(std::slice::from_ref(&url), &token2, &fingerprint);
    // What the platform holds, read over the API by a third certificate of the agency.
    let auditor = TestAgency::enroll(&url, &root_pem, &second_token(&app, agency_id));
    let on_platform = |key: &str| -> (i64, i64, String) {
        let (status, l) = auditor.get(&format!("/api/v1/listings/{key}"));
        assert_eq!(status, 200, "{l}");
        (
            l["version"].as_i64().unwrap(),
            l["listing"]["ListPrice"].as_i64().unwrap(),
            l["status"].as_str().unwrap().to_owned(),
        )
    };
    let shown = app.cli_json(&["agency", "show", &agency_id.to_string()]);
    assert_eq!(shown["desks"].as_array().unwrap().len(), 3, "{shown}");

    // Desk 1 publishes B-1 at 280,000; desk 2 syncs and has it as the agency's own, editable.
    desk1.add_flat("B-1", "Lisbon", 280_000);
    desk1.run(&["publish"]).ok();
    desk2.run(&["sync"]).ok();
    assert_eq!(own(&desk2, "B-1"), ("published".into(), 280_000, Some(1)));

    // Desk 2 publishes B-1 at 1,000; desk 1 has not synced and still shows 280,000.
    edit_price(&desk2, "B-1", 1_000);
    desk2.run(&["publish"]).ok();
    assert_eq!(on_platform("B-1"), (2, 1_000, "active".into()));
    assert_eq!(own(&desk1, "B-1").1, 280_000);

    // Desk 1's next edit does not put it back: a conflict, exit 4, nothing overwritten.
    edit_price(&desk1, "B-1", 285_000);
    let run = desk1.run(&["publish"]);
    assert_eq!(run.code, 4, "{}\n{}", run.stderr, run.json);
    let conflicts = run.json["report"]["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{}", run.json);
    assert_eq!(conflicts[0]["listing_key"], "B-1");
    assert_eq!(on_platform("B-1"), (2, 1_000, "active".into()));
    assert_eq!(own(&desk1, "B-1"), ("conflict".into(), 285_000, Some(1)));
    // Both versions, side by side; theirs checked against desk 2's certificate.
    let shown = desk1.run(&["listing", "conflicts"]).ok();
    let c = &shown[0];
    assert_eq!(c["listing_key"], "B-1");
    assert_eq!(c["action"], "publish");
    assert_eq!(c["base_version"], 1);
    assert_eq!(c["mine"]["ListPrice"], 285_000);
    assert_eq!(c["theirs"]["version"], 2);
    assert_eq!(c["theirs"]["document"]["ListPrice"], 1_000);
    assert_eq!(c["theirs"]["signature"]["state"], "verified", "{c}");
    let (code, text, _) = desk1.run_text(&["listing", "conflicts", "B-1"]);
    assert_eq!(code, 0);
    assert!(
        text.contains("mine:") && text.contains("theirs (platform version 2)"),
        "{text}"
    );
    // While in conflict it is not sent again, and cannot be withdrawn before staff choose.
    let again = desk1.run(&["publish", "B-1"]);
    assert_eq!(
        (again.code, again.error_code()),
        (1, "conflict"),
        "{}",
        again.json
    );
    let w = desk1.run(&["listing", "withdraw", "B-1"]);
    assert_eq!((w.code, w.error_code()), (1, "conflict"), "{}", w.json);
    assert_eq!(on_platform("B-1").0, 2);
    // The conflict survives restarts (a new process for every command) and is kept on disk.
    assert_eq!(
        desk1
            .run(&["listing", "conflicts"])
            .ok()
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Keep theirs: desk 1's copy becomes desk 2's version; nothing is sent.
    let r = desk1
        .run(&["listing", "resolve", "B-1", "--keep", "theirs"])
        .ok();
    assert_eq!(r["resolution"]["kept"], "theirs");
    assert_eq!(own(&desk1, "B-1"), ("published".into(), 1_000, Some(2)));
    assert_eq!(on_platform("B-1"), (2, 1_000, "active".into()));
    let none = desk1.run(&["listing", "resolve", "B-1", "--keep", "mine"]);
    assert_eq!(
        (none.code, none.error_code()),
        (1, "not_found"),
        "{}",
        none.json
    );

    // Again, and this time keep mine, merged: desk 2 sets 1,200; desk 1 (on version 2) sets
    // 290,000, meets the conflict, edits once more while in conflict, and keeps its own.
    edit_price(&desk2, "B-1", 1_200);
    desk2.run(&["publish"]).ok();
    edit_price(&desk1, "B-1", 290_000);
    assert_eq!(desk1.run(&["publish"]).code, 4);
    edit_price(&desk1, "B-1", 291_000);
    let r = desk1.run(&["listing", "resolve", "B-1", "--keep", "mine"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.json);
    assert_eq!(r.json["resolution"]["queued"], "publish");
    assert_eq!(r.json["sent"]["sent"][0]["version"], 4, "{}", r.json);
    assert_eq!(on_platform("B-1"), (4, 291_000, "active".into()));
    assert_eq!(own(&desk1, "B-1"), ("published".into(), 291_000, Some(4)));
    // Desk 2 takes desk 1's version from the feed.
    desk2.run(&["sync"]).ok();
    assert_eq!(own(&desk2, "B-1"), ("published".into(), 291_000, Some(4)));

    // A withdrawal of a stale version is refused too: desk 2 sets 1,300 (version 5); desk 1,
    // still on version 4, withdraws.
    edit_price(&desk2, "B-1", 1_300);
    desk2.run(&["publish"]).ok();
    desk1.run(&["listing", "withdraw", "B-1"]).ok();
    let run = desk1.run(&["publish"]);
    assert_eq!(run.code, 4, "{}\n{}", run.stderr, run.json);
    assert_eq!(on_platform("B-1"), (5, 1_300, "active".into()));
    let c = desk1.run(&["listing", "conflicts", "B-1"]).ok();
    assert_eq!(c[0]["action"], "withdraw");
    assert_eq!(c[0]["theirs"]["document"]["ListPrice"], 1_300);
    // Keep mine: withdrawn, knowingly, on top of version 5 (desk 1's document, withdrawn).
    desk1
        .run(&["listing", "resolve", "B-1", "--keep", "mine"])
        .ok();
    assert_eq!(on_platform("B-1"), (6, 291_000, "withdrawn".into()));
    desk2.run(&["sync"]).ok();
    assert_eq!(own(&desk2, "B-1").0, "withdrawn");

    // A listing desk 2 publishes first is desk 1's to edit after a sync.
    desk2.add_flat("B-2", "Porto", 900);
    desk2.run(&["publish"]).ok();
    desk1.run(&["sync"]).ok();
    assert_eq!(own(&desk1, "B-2"), ("published".into(), 900, Some(1)));
    edit_price(&desk1, "B-2", 950);
    let sent = desk1.run(&["publish"]).ok();
    assert_eq!(sent["report"]["sent"][0]["outcome"], "updated", "{sent}");
    assert_eq!(on_platform("B-2"), (2, 950, "active".into()));
    // And a draft under a key another desk published first meets it as a conflict, not as an
    // overwrite.
    desk1.add_flat("B-3", "Faro", 700);
    desk2.add_flat("B-3", "Faro", 750);
    desk2.run(&["publish"]).ok();
    let run = desk1.run(&["publish"]);
    assert_eq!(run.code, 4, "{}\n{}", run.stderr, run.json);
    let c = desk1.run(&["listing", "conflicts", "B-3"]).ok();
    assert!(c[0]["base_version"].is_null(), "{c}");
    assert_eq!(on_platform("B-3"), (1, 750, "active".into()));
}
