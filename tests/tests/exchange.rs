//! The desk program end to end: the real platform process, real mutual TLS, the real
//! `agency-client` binary (a new process for every command, so every step also survives a
//! restart of the client).

use e2e_tests::desk::{TwoDesks, listing_in, two_enrolled_desks};
use e2e_tests::{add_agency, closed_port_url, platform, platform_sql, spawn_desk, spawn_platform};
use serde_json::Value;

fn keys(v: &Value, field: &str) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x[field].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_publishes_b_pulls_gets_a_hint_and_sees_the_withdrawal() {
    let app = spawn_platform();
    let TwoDesks {
        a,
        b,
        a_enrolment: enrolled,
        ..
    } = two_enrolled_desks(&app, "Beta Realty", "BR-2");
    assert!(enrolled["days_left"].as_i64().unwrap() > 80, "{enrolled}");

    a.add_flat("A-1", "Lisbon", 1200);
    a.add_flat("A-2", "Porto", 900);
    assert_eq!(
        a.states(),
        [
            ("A-1".into(), "draft".into()),
            ("A-2".into(), "draft".into())
        ]
    );
    let published = a.run(&["publish"]).ok();
    assert_eq!(
        keys(&published["report"]["sent"], "outcome"),
        ["created", "created"]
    );
    assert_eq!(published["report"]["remaining"], 0);
    assert!(a.states().iter().all(|(_, s)| s == "published"));

    // B: a tenant who wants a flat to rent in Lisbon up to 1500.
    let tenant = b
        .run(&[
            "customer",
            "add-tenant",
            "--name",
            "Tina",
            "--contact",
            "tina@example.org",
            "--type",
            "rent",
            "--city",
            "lisbon",
            "--max-price",
            "1500",
        ])
        .ok();
    let tenant_id = tenant["id"].as_i64().unwrap();
    // An owner is linked only to the agency's own listings.
    b.add_flat("B-9", "Braga", 250_000);
    b.run(&[
        "customer",
        "add-owner",
        "--name",
        "Otto",
        "--listing",
        "B-9",
    ])
    .ok();
    let updates = b.run(&["updates"]).ok();
    assert_eq!(updates["count"], 2, "{updates}");
    let synced = b.run(&["sync"]).ok();
    assert_eq!(synced["pulled"]["upserted"], 2, "{synced}");
    assert_eq!(synced["pulled"]["new_hints"], 1, "{synced}");
    assert_eq!(b.run(&["updates"]).ok()["count"], 0);

    let found = b.run(&["search", "--city", "Lisbon"]).ok();
    assert_eq!(found["total"], 1);
    assert_eq!(found["listings"][0]["listing"]["ListingKey"], "A-1");
    assert_eq!(found["listings"][0]["office_name"], "Acme Homes");
    let all = b.run(&["search"]).ok();
    assert_eq!(all["total"], 2);
    let history = b.run(&["search", "--history"]).ok();
    assert_eq!(history.as_array().unwrap().len(), 2);
    let rerun = b
        .run(&["search", "--rerun", &found["query_id"].to_string()])
        .ok();
    assert_eq!(rerun["total"], 1);

    let hints = b.run(&["hints"]).ok();
    assert_eq!(keys(&hints, "listing_key"), ["A-1"]);
    assert_eq!(hints[0]["customer_id"].as_i64(), Some(tenant_id));

    // Wishes widen to Porto too: a hint for A-2 appears; dismissing it keeps it away.
    let widened = b
        .run(&[
            "customer",
            "wishes",
            &tenant_id.to_string(),
            "--type",
            "rent",
            "--max-price",
            "1500",
        ])
        .ok();
    assert_eq!(widened["open_hints"], 2, "{widened}");
    let hints = b.run(&["hints"]).ok();
    let porto = hints
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["listing_key"] == "A-2")
        .unwrap()["id"]
        .to_string();
    b.run(&["hints", "--dismiss", &porto]).ok();
    // A lowers the Porto rent: the listing changes, still fits, but was marked unsuitable.
    a.run(&["listing", "edit", "--key", "A-2", "--price", "850"])
        .ok();
    assert_eq!(a.states()[1].1, "changed");
    a.run(&["publish", "A-2"]).ok();
    let synced = b.run(&["sync"]).ok();
    assert_eq!(synced["pulled"]["upserted"], 1);
    assert_eq!(synced["pulled"]["new_hints"], 0);
    assert_eq!(keys(&b.run(&["hints"]).ok(), "listing_key"), ["A-1"]);

    // A withdraws A-1: B sees it gone and the hint drops.
    let w = a.run(&["listing", "withdraw", "A-1"]).ok();
    assert_eq!(w["state"], "queued");
    let sent = a.run(&["sync"]).ok();
    assert_eq!(keys(&sent["sent"]["sent"], "action"), ["withdraw"]);
    let synced = b.run(&["sync"]).ok();
    assert_eq!(synced["pulled"]["removed"], 1, "{synced}");
    assert_eq!(b.run(&["search", "--city", "Lisbon"]).ok()["total"], 0);
    assert_eq!(b.run(&["hints"]).ok().as_array().unwrap().len(), 0);
    let customers = b.run(&["customer", "list"]).ok();
    assert_eq!(customers.as_array().unwrap().len(), 2);
}

#[test]
fn publishing_offline_queues_in_order_and_drains_when_the_platform_returns() {
    let mut app = spawn_platform();
    let url = app.agency_url();
    let (token, fp) = add_agency(&app, "Acme Homes", "AMI-1").handover();
    let a = spawn_desk();
    a.enroll(std::slice::from_ref(&url), &token, &fp);
    a.add_flat("X-1", "Lisbon", 1000);
    a.run(&["publish"]).ok();

    app.terminate(std::time::Duration::from_secs(20))
        .expect("platform stops");
    a.add_flat("X-2", "Lisbon", 1100);
    a.add_flat("X-3", "Lisbon", 1200);
    let offline = a.run(&["publish"]);
    assert_eq!(offline.code, 3, "{offline:?}");
    assert_eq!(offline.error_code(), "unreachable");
    assert!(
        offline.stderr.contains(&format!(
            "cannot reach the platform at {url}; your changes are kept and will be sent when it answers"
        )),
        "{}",
        offline.stderr
    );
    a.run(&["listing", "edit", "--key", "X-1", "--price", "990"])
        .ok();
    assert_eq!(a.run(&["publish"]).code, 3);
    a.run(&["listing", "withdraw", "X-2"]).ok();
    assert!(
        a.states().iter().all(|(_, s)| s == "queued"),
        "{:?}",
        a.states()
    );

    // The same data directory, a new process (on new ports: the desk is told the new address).
    let app = platform()
        .data_dir(app.data_dir.clone())
        .spawn()
        .expect("platform restarts");
    let new_url = app.agency_url();
    let synced = a.run(&["sync", "--server", &new_url]).ok();
    let sent: Vec<(String, String)> = synced["sent"]["sent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["listing_key"].as_str().unwrap().to_owned(),
                s["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expect = [
        ("X-2", "created"),
        ("X-3", "created"),
        ("X-1", "updated"),
        ("X-2", "withdrawn"),
    ];
    assert_eq!(
        sent,
        expect.map(|(k, o)| (k.to_owned(), o.to_owned())),
        "sent in the order queued"
    );
    assert_eq!(synced["sent"]["remaining"], 0);
    let found = a.run(&["search"]).ok();
    let prices: Vec<(String, i64)> = found["listings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["listing"]["ListingKey"].as_str().unwrap().to_owned(),
                f["listing"]["ListPrice"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(prices, [("X-1".to_owned(), 990), ("X-3".to_owned(), 1200)]);
}

#[test]
fn a_dead_first_endpoint_fails_over_to_the_second() {
    let app = spawn_platform();
    let (token, fp) = add_agency(&app, "Acme Homes", "AMI-1").handover();
    let a = spawn_desk();
    let dead = closed_port_url();
    a.enroll(&[dead.clone(), app.agency_url()], &token, &fp);
    let cert = a.run(&["cert"]).ok();
    assert_eq!(
        cert["endpoints"],
        serde_json::json!([dead, app.agency_url()])
    );
    a.add_flat("F-1", "Faro", 700);
    let published = a.run(&["publish"]).ok();
    assert_eq!(published["report"]["sent"][0]["outcome"], "created");
    // Only dead endpoints: offline, and the change stays queued.
    a.add_flat("F-2", "Faro", 800);
    let offline = a.run(&["publish", "--server", &closed_port_url()]);
    assert_eq!(offline.error_code(), "unreachable", "{offline:?}");
    assert_eq!(a.states()[1], ("F-2".to_owned(), "queued".to_owned()));
    let back = a
        .run(&["sync", "--server", &dead, "--server", &app.agency_url()])
        .ok();
    assert_eq!(back["sent"]["sent"][0]["listing_key"], "F-2");
}

#[test]
fn bad_input_gets_a_clear_message_and_nothing_is_lost() {
    let app = spawn_platform();
    let url = app.agency_url();
    let (token, fp) = add_agency(&app, "Acme Homes", "AMI-1").handover();
    let a = spawn_desk();

    // Fingerprint mismatch: refused, nothing stored, the token is still good.
    let wrong = "00".repeat(32);
    let r = a.run(&[
        "enroll",
        "--server",
        &url,
        "--token",
        &token,
        "--fingerprint",
        &wrong,
    ]);
    assert_eq!(r.error_code(), "fingerprint_mismatch", "{r:?}");
    assert!(r.stderr.contains("nothing was stored"), "{}", r.stderr);
    assert_eq!(a.run(&["cert"]).error_code(), "not_enrolled");
    let enrolled = a.enroll(std::slice::from_ref(&url), &token, &fp);
    let serial = enrolled["serial"].as_str().unwrap().to_owned();

    // Malformed listings name the field and store nothing.
    let r = a.run(&[
        "listing",
        "add",
        "--key",
        "M-1",
        "--type",
        "rent",
        "--property",
        "apartment",
        "--city",
        "Lisbon",
        "--price",
        "0",
        "--title",
        "Free flat",
    ]);
    assert_eq!((r.code, r.error_code()), (1, "invalid_listing"), "{r:?}");
    assert_eq!(r.json["error"]["field"], "ListPrice");
    assert!(
        r.stderr.contains("the listing is not valid: ListPrice"),
        "{}",
        r.stderr
    );
    let file = a.dir.path().join("bad.json");
    let mut doc = serde_json::to_value(api_types::ListingDocument::example("M-2")).unwrap();
    doc["ListPrice"] = "cheap".into();
    std::fs::write(&file, doc.to_string()).unwrap();
    let r = a.run(&["listing", "add", "--file", file.to_str().unwrap()]);
    assert_eq!(r.json["error"]["field"], "ListPrice", "{r:?}");
    assert!(a.states().is_empty());

    // Wrong passphrase: plain words, the draft stays a draft.
    a.add_flat("P-1", "Lisbon", 1000);
    let r = a.run_with(&["publish"], "not the passphrase");
    assert_eq!(r.error_code(), "wrong_passphrase");
    assert!(r.stderr.contains("the passphrase is wrong"), "{}", r.stderr);
    assert_eq!(a.states(), [("P-1".to_owned(), "draft".to_owned())]);

    // Revoked certificate: refused with the reason; the change stays queued.
    let (status, _, err) = app.cli(["cert", "revoke", &serial, "--reason", "key_compromise"]);
    assert!(status.success(), "{err}");
    let r = a.run(&["publish"]);
    assert_eq!(r.error_code(), "certificate_revoked", "{r:?}");
    assert!(
        r.stderr.contains("revoked this desk's certificate"),
        "{}",
        r.stderr
    );
    assert_eq!(a.states(), [("P-1".to_owned(), "queued".to_owned())]);

    // A new enrolment (new token) keeps the queue, and the next sync sends it.
    let agency_id = enrolled["agency_id"].to_string();
    let fresh = app.cli_json(&["agency", "token", &agency_id]);
    let token2 = fresh["token"].as_str().expect("token").to_owned();
    a.enroll(std::slice::from_ref(&url), &token2, &fp);
    let synced = a.run(&["sync"]).ok();
    assert_eq!(synced["sent"]["sent"][0]["listing_key"], "P-1", "{synced}");
    assert_eq!(a.states(), [("P-1".to_owned(), "published".to_owned())]);
}

#[test]
fn a_tenants_wishes_are_watched_on_the_platform_while_the_desk_is_off() {
    let app = spawn_platform();
    let TwoDesks { a, b, .. } = two_enrolled_desks(&app, "Beta Realty", "BR-2");

    let tenant = b.add_tenant("Tina", "lisbon", 1500);
    let tenant_id = tenant["id"].as_i64().unwrap().to_string();
    let owner = b.run(&["customer", "add-owner", "--name", "Otto"]).ok();
    let refused = b.run(&[
        "customer",
        "watch",
        &owner["id"].as_i64().unwrap().to_string(),
    ]);
    assert_ne!(refused.code, 0, "an owner has no wishes to watch");

    let watched = b.run(&["customer", "watch", &tenant_id]).ok();
    let platform_id = watched["id"].as_i64().unwrap();
    assert_eq!(watched["criteria"]["city"], "lisbon");
    // Watching again renews the same saved search instead of adding one.
    let again = b.run(&["customer", "watch", &tenant_id]).ok();
    assert_eq!(again["id"].as_i64(), Some(platform_id));
    let list = b.run(&["customer", "watched"]).ok();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");

    // B's desk is off; A publishes a fitting flat: the platform queues a match mail for B.
    a.add_flat("A-1", "Lisbon", 1200);
    a.run(&["publish"]).ok();
    let db = app.data_dir.join("platform.db");
    let mut conn =
        <diesel::SqliteConnection as diesel::Connection>::establish(db.to_str().unwrap()).unwrap();
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        payload: String,
    }
    let rows: Vec<Row> = diesel::RunQueryDsl::load(
        diesel::sql_query("SELECT payload FROM notifications WHERE kind = 'listing_match'"),
        &mut conn,
    )
    .unwrap();
    assert_eq!(rows.len(), 1);
    // The platform knows the tenant only by the desk's opaque handle.
    let handle = watched["name"].as_str().unwrap();
    assert!(handle.starts_with("tenant-"), "{watched}");
    assert!(!rows[0].payload.contains("Tina"), "{}", rows[0].payload);
    assert!(rows[0].payload.contains(handle), "{}", rows[0].payload);

    b.run(&["customer", "unwatch", &platform_id.to_string()])
        .ok();
    assert!(
        b.run(&["customer", "watched"])
            .ok()
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn customers_are_edited_and_removed_and_a_watched_tenants_saved_search_goes_with_them() {
    let app = spawn_platform();
    let url = app.agency_url();
    let (token, fp) = add_agency(&app, "Beta Realty", "BR-2").handover();
    let b = spawn_desk();
    b.enroll(std::slice::from_ref(&url), &token, &fp);
    b.add_flat("B-1", "Lisbon", 1200);
    let id_of = |v: &Value| v["id"].as_i64().unwrap().to_string();

    // Owners are linked to own listings only; a refused change stores nothing.
    let r = b.run(&[
        "customer",
        "add-owner",
        "--name",
        "Otto",
        "--listing",
        "NOPE",
    ]);
    assert_eq!((r.code, r.error_code()), (1, "invalid_input"), "{r:?}");
    assert_eq!(r.json["error"]["field"], "--listing");
    assert!(
        r.stderr
            .contains("\"NOPE\" is not one of this agency's listings"),
        "{}",
        r.stderr
    );
    let otto = b
        .run(&[
            "customer",
            "add-owner",
            "--name",
            "Otto",
            "--contact",
            "otto@example.org",
            "--listing",
            "B-1",
        ])
        .ok();
    let otto_id = id_of(&otto);
    for (args, code, field, words) in [
        (
            vec!["--listings", "B-1,NOPE"],
            "invalid_input",
            "--listings",
            "is not one of",
        ),
        (vec!["--name", " "], "invalid_input", "--name", "is empty"),
        (vec![], "invalid_input", "ID", "nothing to change"),
    ] {
        let mut cmd = vec!["customer", "edit", otto_id.as_str()];
        cmd.extend(args);
        let r = b.run(&cmd);
        assert_eq!((r.code, r.error_code()), (1, code), "{r:?}");
        assert_eq!(r.json["error"]["field"], field);
        assert!(r.stderr.contains(words), "{}", r.stderr);
    }
    let r = b.run(&["customer", "edit", "999", "--name", "X"]);
    assert_eq!((r.code, r.error_code()), (1, "not_found"), "{r:?}");
    let edited = b
        .run(&[
            "customer",
            "edit",
            &otto_id,
            "--name",
            "Otto Silva",
            "--listings",
            "",
        ])
        .ok();
    assert_eq!(edited["name"], "Otto Silva");
    assert_eq!(edited["contact"], "otto@example.org", "not given, kept");
    assert_eq!(edited["listing_keys"], serde_json::json!([]));

    // A watched tenant: renamed, watching again updates the same saved search.
    let tina = b
        .run(&[
            "customer",
            "add-tenant",
            "--name",
            "Tina",
            "--type",
            "rent",
            "--city",
            "lisbon",
        ])
        .ok();
    let tina_id = id_of(&tina);
    let r = b.run(&["customer", "edit", &tina_id, "--listings", "B-1"]);
    assert_eq!(r.json["error"]["field"], "--listings", "{r:?}");
    assert!(r.stderr.contains("is a tenant"), "{}", r.stderr);
    let watched = b.run(&["customer", "watch", &tina_id]).ok();
    let platform_id = watched["id"].as_i64().unwrap();
    b.run(&["customer", "edit", &tina_id, "--name", "Tina Silva"])
        .ok();
    let again = b.run(&["customer", "watch", &tina_id]).ok();
    assert_eq!(again["id"].as_i64(), Some(platform_id));
    assert_eq!(
        again["name"], watched["name"],
        "the same handle, never the name"
    );
    assert!(!again.to_string().contains("Tina"), "{again}");

    // Removing her needs the platform, to delete her saved search there; without it nothing goes.
    let dead = closed_port_url();
    let r = b.run(&["--server", &dead, "customer", "remove", &tina_id]);
    assert_eq!((r.code, r.error_code()), (3, "unreachable"), "{r:?}");
    assert!(r.stderr.contains("nothing was removed"), "{}", r.stderr);
    assert!(r.stderr.contains("--local-only"), "{}", r.stderr);
    let list = b.run(&["customer", "list"]).ok();
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    // `--server` given again replaces the dead endpoint stored above.
    let removed = b
        .run(&["--server", &url, "customer", "remove", &tina_id])
        .ok();
    assert_eq!(removed["unwatched"].as_i64(), Some(platform_id));
    assert_eq!(removed["customer"]["name"], "Tina Silva");
    assert!(
        b.run(&["customer", "watched"])
            .ok()
            .as_array()
            .unwrap()
            .is_empty()
    );

    // --local-only removes a watched tenant without the platform and leaves her saved search.
    let tess = b
        .run(&[
            "customer",
            "add-tenant",
            "--name",
            "Tess",
            "--city",
            "porto",
        ])
        .ok();
    let tess_id = id_of(&tess);
    let tess_watch = b.run(&["customer", "watch", &tess_id]).ok()["id"]
        .as_i64()
        .unwrap();
    let (code, text, err) = b.run_text(&[
        "--server",
        &dead,
        "customer",
        "remove",
        &tess_id,
        "--local-only",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains(&format!(
            "saved search {tess_watch} is left on the platform"
        )),
        "{text}"
    );
    let left = b.run(&["customer", "watched"]).ok();
    assert_eq!(left[0]["id"].as_i64(), Some(tess_watch), "{left}");
    b.run(&["customer", "unwatch", &tess_watch.to_string()])
        .ok();

    let removed = b.run(&["customer", "remove", &otto_id]).ok();
    assert_eq!(removed["customer"]["listing_keys"], serde_json::json!([]));
    assert!(
        b.run(&["customer", "list"])
            .ok()
            .as_array()
            .unwrap()
            .is_empty()
    );
    let r = b.run(&["customer", "remove", &otto_id]);
    assert_eq!((r.code, r.error_code()), (1, "not_found"), "{r:?}");
    assert_eq!(b.states().len(), 1, "listings are untouched");
}

#[test]
fn the_certificate_renews_itself_when_a_third_of_its_life_is_left() {
    let app = spawn_platform();
    let url = app.agency_url();
    let (token, fp) = add_agency(&app, "Acme Homes", "AMI-1").handover();
    let desk = spawn_desk();
    desk.enroll(std::slice::from_ref(&url), &token, &fp);
    let before = desk.run(&["cert"]).ok();
    assert_eq!(before["renewal_due"], false, "{before}");
    let old_serial = before["serial"].as_str().unwrap().to_owned();

    // Age the stored certificate: 80 of its 90 days gone (the desk judges by what it stored).
    let db = desk.dir.path().join("agency-client.sqlite3");
    let mut conn =
        <diesel::SqliteConnection as diesel::Connection>::establish(db.to_str().unwrap()).unwrap();
    let day: i64 = 86_400_000;
    diesel::RunQueryDsl::execute(
        diesel::sql_query(format!(
            "UPDATE identity SET not_before = not_before - {}, not_after = not_after - {}",
            80 * day,
            80 * day
        )),
        &mut conn,
    )
    .unwrap();
    drop(conn);

    // The next command that talks to the platform renews first, over mutual TLS.
    let after = desk.run(&["cert"]).ok();
    assert_eq!(after["renewed"], true, "{after}");
    let new_serial = after["serial"].as_str().unwrap();
    assert_ne!(new_serial, old_serial);
    assert!(after["days_left"].as_i64().unwrap() > 80, "{after}");
    // The platform registered the renewal; the new certificate works, the old one is retired.
    assert_eq!(desk.run(&["updates"]).ok()["count"], 0);
    let certs = app.cli_json(&["cert", "list"]);
    let old = certs
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["serial"] == old_serial.as_str())
        .unwrap();
    assert_eq!(old["revocation_reason"], "superseded", "{old}");
}

#[test]
fn signatures_are_checked_on_pull_and_remote_search_and_a_tampered_listing_is_flagged() {
    let app = spawn_platform();
    let TwoDesks { a, b, .. } = two_enrolled_desks(&app, "Beta Realty", "BR-2");
    b.add_tenant("Tina", "lisbon", 1500);
    a.add_flat("A-1", "Lisbon", 1200);
    a.add_flat("A-2", "Lisbon", 1300);
    a.run(&["publish"]).ok();

    // Someone with write access to the platform's database lowers A-2's rent behind A's back.
    let changed = platform_sql(
        &app,
        "UPDATE listings SET price = 1250, \
         document = replace(document, '\"ListPrice\":1300', '\"ListPrice\":1250') \
         WHERE listing_key = 'A-2'",
    );
    assert_eq!(changed, 1);

    // B's desk pulls: A-1 verifies, A-2 is kept but flagged, and gives no hint.
    let synced = b.run(&["sync"]).ok();
    let pulled = &synced["pulled"];
    assert_eq!(pulled["upserted"], 2, "{synced}");
    assert_eq!(pulled["verified"], 1, "{synced}");
    assert_eq!(pulled["invalid"][0]["listing_key"], "A-2", "{synced}");
    let problem = pulled["invalid"][0]["problem"].as_str().unwrap();
    assert!(
        problem.contains("changed after the agency signed it"),
        "{problem}"
    );
    assert_eq!(pulled["new_hints"], 1, "{synced}");
    assert_eq!(keys(&b.run(&["hints"]).ok(), "listing_key"), ["A-1"]);
    // The signing certificate is cached on the desk.
    assert_eq!(b.sql("UPDATE certificates SET status = status"), 1);
    // Listings stored unchecked (pulled by an older desk program) are checked at the next sync,
    // even with no news on the feed; the invalid one loses the hint it had.
    b.sql(
        "UPDATE shared_listings SET signature_state = 'unchecked', signature_problem = NULL, \
         signature_checked_at = NULL",
    );
    b.sql(
        "INSERT INTO hints (customer_id, office_key, listing_key, state, created_at) \
         SELECT 1, office_key, 'A-2', 'open', 0 FROM shared_listings WHERE listing_key = 'A-2'",
    );
    assert_eq!(b.run(&["hints"]).ok().as_array().unwrap().len(), 2);
    let resynced = b.run(&["sync"]).ok();
    assert_eq!(resynced["pulled"]["events"], 0, "{resynced}");
    assert_eq!(resynced["pulled"]["verified"], 1, "{resynced}");
    assert_eq!(
        resynced["pulled"]["invalid"][0]["listing_key"], "A-2",
        "{resynced}"
    );
    assert_eq!(keys(&b.run(&["hints"]).ok(), "listing_key"), ["A-1"]);

    let here = b.run(&["search", "--city", "Lisbon"]).ok();
    assert_eq!(here["total"], 2);
    assert_eq!(listing_in(&here, "A-1")["signature"]["state"], "verified");
    assert_eq!(listing_in(&here, "A-2")["signature"]["state"], "invalid");
    let (code, text, _) = b.run_text(&["search", "--city", "Lisbon"]);
    assert_eq!(code, 0);
    assert!(text.contains("INVALID SIGNATURE"), "{text}");
    assert!(text.contains("signature verified"), "{text}");

    // The same query rerun on the platform: the same verdicts, from the platform's answer.
    let query_id = here["query_id"].to_string();
    let remote = b.run(&["search", "--rerun", &query_id, "--remote"]).ok();
    assert_eq!(remote["total"], 2, "{remote}");
    assert_eq!(remote["invalid"], 1, "{remote}");
    assert_eq!(remote["query_id"].to_string(), query_id);
    assert_eq!(listing_in(&remote, "A-1")["signature"]["state"], "verified");
    assert_eq!(listing_in(&remote, "A-2")["signature"]["state"], "invalid");
    assert_eq!(
        listing_in(&remote, "A-1")["signature"]
            .get("problem")
            .cloned()
            .unwrap_or(Value::Null),
        Value::Null
    );
    let history = b.run(&["search", "--history"]).ok();
    assert_eq!(history[0]["last_remote_total"], 2, "{history}");
    let (code, text, _) = b.run_text(&["search", "--remote", "--city", "lisbon"]);
    assert_eq!(code, 0);
    assert!(text.contains("WARNING: 1 listing(s)"), "{text}");
    // Remote results are shown, not stored: the desk still holds what the feed brought.
    let cheap = b
        .run(&[
            "search",
            "--remote",
            "--max-price",
            "1250",
            "--sort",
            "price_asc",
        ])
        .ok();
    assert_eq!(
        cheap["total"], 2,
        "the tampered price is what the platform searched: {cheap}"
    );
    assert_eq!(cheap["listings"][0]["listing"]["ListingKey"], "A-1");

    // A renews its certificate (the old one is superseded at the new one's first use) and
    // publishes again: A-1, signed before the renewal, stays valid; A-3 verifies with the new one.
    a.run(&["cert", "renew"]).ok();
    a.add_flat("A-3", "Lisbon", 1400);
    a.run(&["publish"]).ok();
    let synced = b.run(&["sync"]).ok();
    // A-3 verified; A-1 judged again at once, since the certificate events announced that its
    // certificate was superseded, and still valid (signed before).
    assert_eq!(synced["pulled"]["certificate_events"], 1, "{synced}");
    assert_eq!(synced["pulled"]["verified"], 2, "{synced}");
    assert_eq!(
        synced["pulled"]["invalid"],
        serde_json::json!([]),
        "{synced}"
    );
    assert_eq!(synced["pulled"]["new_hints"], 1, "{synced}");
    b.sql("UPDATE certificates SET fetched_at = 0"); // ask the platform again
    let remote = b.run(&["search", "--remote", "--city", "lisbon"]).ok();
    assert_eq!(remote["total"], 3, "{remote}");
    assert_eq!(
        listing_in(&remote, "A-1")["signature"]["state"],
        "verified",
        "{remote}"
    );
    assert_eq!(
        listing_in(&remote, "A-3")["signature"]["state"],
        "verified",
        "{remote}"
    );
    assert_eq!(
        b.sql("UPDATE certificates SET status = status WHERE status = 'revoked' AND revocation_reason = 'superseded'"),
        1,
        "the superseded certificate's status was fetched"
    );

    // A's new key is reported compromised: everything signed with it is untrusted.
    let new_serial = a.run(&["cert"]).ok()["serial"].as_str().unwrap().to_owned();
    let (ok, _, err) = app.cli(["cert", "revoke", &new_serial, "--reason", "key_compromise"]);
    assert!(ok.success(), "{err}");
    let mut hinted = keys(&b.run(&["hints"]).ok(), "listing_key");
    hinted.sort();
    assert_eq!(hinted, ["A-1", "A-3"]);
    // The next sync after the cached status has aged asks the platform again, even with no news
    // on the feed: A-3, verified and hinted before, is now invalid and its hint is gone.
    b.sql("UPDATE certificates SET fetched_at = 0");
    let synced = b.run(&["sync"]).ok();
    assert_eq!(synced["pulled"]["events"], 0, "{synced}");
    assert_eq!(
        synced["pulled"]["invalid"][0]["listing_key"], "A-3",
        "{synced}"
    );
    assert!(
        synced["pulled"]["invalid"][0]["problem"]
            .as_str()
            .unwrap()
            .contains("compromised"),
        "{synced}"
    );
    assert_eq!(keys(&b.run(&["hints"]).ok(), "listing_key"), ["A-1"]);
    let here = b.run(&["search", "--city", "Lisbon"]).ok();
    assert_eq!(
        listing_in(&here, "A-3")["signature"]["state"],
        "invalid",
        "{here}"
    );
    assert_eq!(
        listing_in(&here, "A-1")["signature"]["state"],
        "verified",
        "{here}"
    );
    // The platform holds what the compromised key signed out of its search (until A signs it
    // again): the remote search no longer serves A-3 at all; A-1 still verifies.
    let remote = b.run(&["search", "--remote", "--city", "lisbon"]).ok();
    let served: Vec<&str> = remote["listings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["listing"]["ListingKey"].as_str().unwrap())
        .collect();
    assert!(!served.contains(&"A-3"), "{remote}");
    assert_eq!(listing_in(&remote, "A-1")["signature"]["state"], "verified");
}

#[test]
fn remote_search_refuses_bad_options_clearly() {
    let app = spawn_platform();
    let url = app.agency_url();
    let (token, fp) = add_agency(&app, "Beta Realty", "BR-2").handover();
    let b = spawn_desk();
    // Not enrolled yet.
    let r = b.run(&["search", "--remote"]);
    assert_eq!(r.error_code(), "not_enrolled", "{r:?}");
    b.enroll(std::slice::from_ref(&url), &token, &fp);
    for (args, field) in [
        (vec!["search", "--sort", "price_asc"], "--sort"),
        (vec!["search", "--page", "2"], "--page"),
        (vec!["search", "--remote", "--history"], "--history"),
        (vec!["search", "--remote", "--limit", "500"], "--limit"),
        (vec!["search", "--remote", "--page", "0"], "--page"),
        (vec!["search", "--remote", "--sort", "cheapest"], "--sort"),
        (
            vec!["search", "--remote", "--min-price", "9", "--max-price", "1"],
            "max_price",
        ),
    ] {
        let r = b.run(&args);
        assert_eq!(r.code, 1, "{args:?}: {r:?}");
        assert_eq!(r.json["error"]["field"], field, "{args:?}: {r:?}");
        assert!(!r.stderr.trim().is_empty(), "{args:?}");
    }
    let r = b.run(&["search", "--remote", "--rerun", "99"]);
    assert_eq!(r.error_code(), "not_found", "{r:?}");
    assert!(r.stderr.contains("no past search 99"), "{}", r.stderr);
    // The platform is down: exit 3 and a plain message; the past searches are untouched.
    let r = b.run(&[
        "--server",
        &closed_port_url(),
        "search",
        "--remote",
        "--city",
        "x",
    ]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stderr.contains("cannot reach the platform"),
        "{}",
        r.stderr
    );
    assert!(
        b.run(&["search", "--history"])
            .ok()
            .as_array()
            .unwrap()
            .is_empty()
    );
}
