//! The desk's own trust decisions, through the real `agency-client` binary against real platform
//! processes: an untrusted platform is not an outage, a token of another agency needs a confirmed
//! switch, weak passphrases are refused, the data folder is private, and a revoked certificate
//! says so.

use std::time::Duration;

use e2e_tests::desk::{TwoDesks, keys_of, listing_in, two_enrolled_desks};
use e2e_tests::{
    Desk, PASSPHRASE, add_agency, closed_port_url, platform, spawn_desk, spawn_platform,
};

fn own_states(desk: &Desk) -> Vec<(String, String)> {
    desk.states()
}

#[test]
fn an_untrusted_platform_is_told_apart_from_an_outage_and_nothing_is_sent_to_it() {
    let mut app = spawn_platform();
    let url = app.agency_url();
    let (token, fp) = add_agency(&app, "Acme Homes", "AMI-1").handover();
    let desk = spawn_desk();
    desk.enroll(std::slice::from_ref(&url), &token, &fp);
    desk.add_flat("T-1", "Lisbon", 1000);
    desk.run(&["publish"]).ok();

    // Another platform, with a CA of its own, at an address typed by mistake.
    let other = spawn_platform();
    desk.run(&["listing", "edit", "--key", "T-1", "--price", "950"])
        .ok();
    let refused = desk.run(&["publish", "--server", &other.agency_url()]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert_eq!(refused.error_code(), "untrusted_platform", "{refused:?}");
    for words in [
        "cannot be trusted",
        "not issued by the platform's certificate authority that this desk pinned",
        "This is not an outage",
        &fp,
    ] {
        assert!(
            refused.stderr.contains(words),
            "{words:?} in {}",
            refused.stderr
        );
    }
    assert!(
        !refused.stderr.contains("cannot reach"),
        "not reported as an outage: {}",
        refused.stderr
    );
    assert_eq!(
        own_states(&desk),
        [("T-1".to_owned(), "queued".to_owned())],
        "the change stays on the desk"
    );
    let (_, other_feed) = other_feed_count(&other);
    assert_eq!(other_feed, 0, "nothing reached the impostor");

    // A dead address and the untrusted one: the trust failure is what is reported.
    let both = desk.run(&[
        "sync",
        "--server",
        &closed_port_url(),
        "--server",
        &other.agency_url(),
    ]);
    assert_eq!(both.error_code(), "untrusted_platform", "{both:?}");

    // The genuine platform, restarted on the same data with a certificate for another name.
    app.terminate(Duration::from_secs(20)).expect("stops");
    let renamed = platform()
        .data_dir(app.data_dir.clone())
        .args(["--agency-server-names", "platform.example.test"])
        .spawn()
        .expect("platform restarts");
    let wrong_name = desk.run(&["sync", "--server", &renamed.agency_url()]);
    assert_eq!(
        wrong_name.error_code(),
        "untrusted_platform",
        "{wrong_name:?}"
    );
    assert!(
        wrong_name.stderr.contains("for another name"),
        "{}",
        wrong_name.stderr
    );
    drop(renamed);

    // Back to the right name: the queue goes out as it was.
    let fixed = platform()
        .data_dir(app.data_dir.clone())
        .spawn()
        .expect("platform restarts");
    let synced = desk.run(&["sync", "--server", &fixed.agency_url()]).ok();
    assert_eq!(synced["sent"]["sent"][0]["listing_key"], "T-1");
    assert_eq!(synced["sent"]["sent"][0]["outcome"], "updated");
    assert_eq!(
        own_states(&desk),
        [("T-1".to_owned(), "published".to_owned())]
    );

    // An outage is still an outage.
    let offline = desk.run(&["sync", "--server", &closed_port_url()]);
    assert_eq!((offline.code, offline.error_code()), (3, "unreachable"));
}

/// The number of listing changes on a platform, read by its own operator database.
fn other_feed_count(app: &platform::testing::PlatformProcess) -> (i64, i64) {
    let db = app.data_dir.join("platform.db");
    let mut conn =
        <diesel::SqliteConnection as diesel::Connection>::establish(db.to_str().unwrap()).unwrap();
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let listings: Count = diesel::RunQueryDsl::get_result(
        diesel::sql_query("SELECT count(*) AS n FROM listings"),
        &mut conn,
    )
    .unwrap();
    let events: Count = diesel::RunQueryDsl::get_result(
        diesel::sql_query("SELECT count(*) AS n FROM listing_events"),
        &mut conn,
    )
    .unwrap();
    (listings.n, events.n)
}

#[test]
fn a_token_of_another_agency_needs_a_confirmed_switch() {
    let app = spawn_platform();
    let url = app.agency_url();
    let (token_a, fp) = add_agency(&app, "Acme Homes", "AMI-1").handover();
    let (token_b, _) = add_agency(&app, "Beta Lettings", "BET-2").handover();
    let desk = spawn_desk();
    let enrolled = desk.enroll(std::slice::from_ref(&url), &token_a, &fp);
    let acme = enrolled["agency_id"].as_i64().unwrap();
    assert_eq!(enrolled["agency_name"], "Acme Homes");
    desk.add_flat("A-1", "Porto", 900);
    desk.run(&["publish"]).ok();

    let enroll_b = |extra: &[&str]| {
        let mut args = vec![
            "enroll",
            "--token",
            &token_b,
            "--fingerprint",
            &fp,
            "--server",
            &url,
        ];
        args.extend_from_slice(extra);
        desk.run(&args)
    };

    // Without the flag: refused before the token is spent, the desk unchanged.
    let refused = enroll_b(&[]);
    assert_eq!(refused.error_code(), "other_agency", "{refused:?}");
    for words in [
        "Acme Homes",
        "Beta Lettings",
        "--switch-agency",
        "nothing was changed",
    ] {
        assert!(
            refused.stderr.contains(words),
            "{words:?} in {}",
            refused.stderr
        );
    }
    assert_eq!(desk.run(&["cert"]).ok()["agency_id"], acme);

    // Customers are private to Acme: the desk cannot become Beta's while it holds them.
    desk.run(&[
        "customer",
        "add-tenant",
        "--name",
        "Tina",
        "--type",
        "rent",
        "--city",
        "Porto",
    ])
    .ok();
    let with_customers = enroll_b(&["--switch-agency", "--yes"]);
    assert_eq!(
        with_customers.error_code(),
        "invalid_input",
        "{with_customers:?}"
    );
    assert!(
        with_customers.stderr.contains("1 customer(s)"),
        "{}",
        with_customers.stderr
    );
    let tina = desk.run(&["customer", "list"]).ok()[0]["id"]
        .as_i64()
        .unwrap()
        .to_string();
    desk.run(&["customer", "remove", &tina]).ok();

    // The flag without a confirmation (no terminal here, no --yes): still nothing changes.
    let unconfirmed = enroll_b(&["--switch-agency"]);
    assert_eq!(unconfirmed.error_code(), "invalid_input", "{unconfirmed:?}");
    assert!(
        unconfirmed.stderr.contains("not confirmed"),
        "{}",
        unconfirmed.stderr
    );
    assert_eq!(desk.run(&["cert"]).ok()["agency_id"], acme);
    assert_eq!(own_states(&desk).len(), 1);

    // Confirmed: the desk works for Beta, Acme's listing left the desk but not the platform.
    let switched = enroll_b(&["--switch-agency", "--yes"]).ok();
    assert_eq!(switched["agency_name"], "Beta Lettings");
    assert_ne!(switched["agency_id"], acme);
    assert!(own_states(&desk).is_empty(), "{:?}", own_states(&desk));
    let pulled = desk.run(&["sync"]).ok();
    assert!(pulled["pulled"]["cursor"].as_i64().unwrap() >= 1);
    let found = desk.run(&["search", "--city", "Porto"]).ok();
    assert_eq!(found["listings"][0]["listing"]["ListingKey"], "A-1");
    assert_eq!(found["listings"][0]["office_name"], "Acme Homes");
}

#[test]
fn a_weak_passphrase_or_a_mistyped_token_is_refused_and_nothing_is_stored() {
    let app = spawn_platform();
    let url = app.agency_url();
    let (token, fp) = add_agency(&app, "Acme Homes", "AMI-1").handover();
    let desk = spawn_desk();
    for (weak, words) in [
        ("hunter2", "too short"),
        ("password1234", "too easy to guess"),
        ("aaaaaaaaaaaaaaaa", "too easy to guess"),
    ] {
        let r = desk.run_with(
            &[
                "enroll",
                "--token",
                &token,
                "--fingerprint",
                &fp,
                "--server",
                &url,
            ],
            weak,
        );
        assert_eq!(r.code, 1, "{weak}: {r:?}");
        assert_eq!(r.json["error"]["field"], "passphrase", "{weak}: {r:?}");
        assert!(r.stderr.contains(words), "{weak}: {}", r.stderr);
        assert_eq!(desk.run(&["cert"]).error_code(), "not_enrolled");
    }
    // A mistyped token is named as such, before anything is stored.
    let unknown = desk.run(&[
        "enroll",
        "--token",
        &format!("{}x", &token[..token.len() - 1]),
        "--fingerprint",
        &fp,
        "--server",
        &url,
    ]);
    assert_eq!(unknown.error_code(), "refused", "{unknown:?}");
    assert!(
        unknown.stderr.contains("token_unknown"),
        "{}",
        unknown.stderr
    );
    assert_eq!(desk.run(&["cert"]).error_code(), "not_enrolled");
    // The token was not spent: a strong passphrase enrols with it.
    assert_eq!(PASSPHRASE, "correct horse battery staple");
    desk.enroll(std::slice::from_ref(&url), &token, &fp);
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[test]
fn the_desk_folder_and_its_files_are_private_to_the_user() {
    use std::os::unix::fs::PermissionsExt;

    let app = spawn_platform();
    let (token, fp) = add_agency(&app, "Acme Homes", "AMI-1").handover();
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("desk");
    let desk = Desk::at(&dir);
    desk.enroll(&[app.agency_url()], &token, &fp);
    desk.add_flat("P-1", "Braga", 800);
    desk.run(&["sync"]).ok();
    let db = dir.join("agency-client.sqlite3");
    assert_eq!(mode(&dir), 0o700);
    for file in std::fs::read_dir(&dir).unwrap() {
        let path = file.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    assert!(db.exists());

    // A folder loosened by hand (or made by an older version) is tightened on the next run.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    desk.run(&["listing", "list"]).ok();
    assert_eq!((mode(&dir), mode(&db)), (0o700, 0o600));

    // A shared folder given as --data-dir is not locked, but the database in it is private.
    let shared = tempfile::tempdir().unwrap();
    std::fs::write(shared.path().join("someone-elses.txt"), "x").unwrap();
    std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let guest = Desk::at(shared.path());
    guest.run(&["listing", "list"]).ok();
    assert_eq!(mode(shared.path()), 0o755);
    assert_eq!(mode(&shared.path().join("agency-client.sqlite3")), 0o600);
}

#[test]
fn a_revoked_certificate_is_shown_as_revoked_online_and_offline() {
    let mut app = spawn_platform();
    let url = app.agency_url();
    let (token, fp) = add_agency(&app, "Acme Homes", "AMI-1").handover();
    let desk = spawn_desk();
    let enrolled = desk.enroll(std::slice::from_ref(&url), &token, &fp);
    let serial = enrolled["serial"].as_str().unwrap().to_owned();
    let before = desk.run(&["cert"]).ok();
    assert!(before["revoked"].is_null(), "{before}");

    app.cli_json(&["cert", "revoke", &serial, "--reason", "key_compromise"]);
    let (code, text, _) = desk.run_text(&["cert"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.starts_with("REVOKED"), "{text}");
    assert!(text.contains("key_compromise"), "{text}");
    assert!(text.contains("new enrolment token"), "{text}");
    let shown = desk.run(&["cert"]).ok();
    assert!(
        shown["revoked"]["note"]
            .as_str()
            .unwrap()
            .contains("key_compromise"),
        "{shown}"
    );
    let sync = desk.run(&["sync"]);
    assert_eq!(sync.error_code(), "certificate_revoked", "{sync:?}");

    // Offline, the desk still knows.
    app.terminate(Duration::from_secs(20)).expect("stops");
    let (code, text, _) = desk.run_text(&["cert"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.starts_with("REVOKED"), "{text}");
    assert!(text.contains("did not answer"), "{text}");

    // A new enrolment clears it.
    let app = platform()
        .data_dir(app.data_dir.clone())
        .spawn()
        .expect("platform restarts");
    let new_url = app.agency_url();
    let token = app.cli_json(&["agency", "token", &enrolled["agency_id"].to_string()])["token"]
        .as_str()
        .unwrap()
        .to_owned();
    desk.enroll(&[new_url], &token, &fp);
    let after = desk.run(&["cert"]).ok();
    assert!(after["revoked"].is_null(), "{after}");
    assert_ne!(after["serial"], serial.as_str());
}

fn signature_state(found: &serde_json::Value, key: &str) -> String {
    listing_in(found, key)["signature"]["state"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn rfc3339_seconds(t: time::OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[test]
fn a_key_compromise_is_news_on_the_next_sync_and_the_agency_signs_anew_after_enrolling_again() {
    let app = spawn_platform();
    let url = app.agency_url();
    let TwoDesks {
        a,
        b,
        a_enrolment: enrolled,
        fingerprint: fp,
    } = two_enrolled_desks(&app, "Beta Lettings", "BET-2");
    let acme = enrolled["agency_id"].to_string();
    let compromised_serial = enrolled["serial"].as_str().unwrap().to_owned();

    // A publishes two flats; B's tenant gets a hint for the first, B holds both verified.
    a.add_flat("A-1", "Lisbon", 1200);
    a.add_flat("A-2", "Lisbon", 2400);
    a.run(&["publish"]).ok();
    b.add_tenant("Tina", "Lisbon", 1500);
    b.run(&["sync"]).ok();
    assert_eq!(keys_of(&b.run(&["hints"]).ok()), ["A-1"]);
    let held = b.run(&["search", "--city", "Lisbon"]).ok();
    assert_eq!(signature_state(&held, "A-1"), "verified");

    // The operator learns A's key was stolen. B's very next sync knows (not an hour later).
    app.cli_json(&[
        "cert",
        "revoke",
        &compromised_serial,
        "--reason",
        "key_compromise",
    ]);
    let (code, text, _) = b.run_text(&["sync"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!(
            "NOTICE: the platform announced that certificate {compromised_serial} was revoked because its key was compromised"
        )),
        "{text}"
    );
    let after = b.run(&["search", "--city", "Lisbon"]).ok();
    assert_eq!(signature_state(&after, "A-1"), "invalid");
    assert_eq!(signature_state(&after, "A-2"), "invalid");
    assert!(
        b.run(&["hints"]).ok().as_array().unwrap().is_empty(),
        "the hint on a listing signed with a stolen key goes"
    );
    // The platform holds both out of search.
    let remote = b.run(&["search", "--remote", "--city", "Lisbon"]).ok();
    assert!(keys_of(&remote["listings"]).is_empty(), "{remote}");
    // A sees its certificate refused.
    assert_eq!(a.run(&["sync"]).error_code(), "certificate_revoked");

    // A enrols again: its desk signs both listings anew by itself and says so.
    let token = app.cli_json(&["agency", "token", &acme])["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, text, err) = a.run_text(&[
        "enroll",
        "--token",
        &token,
        "--fingerprint",
        &fp,
        "--server",
        &url,
    ]);
    assert_eq!(code, 0, "{text}{err}");
    assert!(text.contains("signing anew"), "{text}");
    assert!(text.contains(&compromised_serial), "{text}");
    assert!(text.contains("sent publish A-1: resigned"), "{text}");
    assert!(text.contains("sent publish A-2: resigned"), "{text}");
    // Nothing more to sign anew afterwards.
    let again = a.run(&["sync"]).ok();
    assert!(
        again["resigning"]["queued"].as_array().unwrap().is_empty(),
        "{again}"
    );

    // Trusted again everywhere: on B, with the hint back, and in the platform's search.
    b.run(&["sync"]).ok();
    let restored = b.run(&["search", "--city", "Lisbon"]).ok();
    assert_eq!(signature_state(&restored, "A-1"), "verified");
    assert_eq!(signature_state(&restored, "A-2"), "verified");
    assert_eq!(keys_of(&b.run(&["hints"]).ok()), ["A-1"]);
    let remote = b.run(&["search", "--remote", "--city", "Lisbon"]).ok();
    assert_eq!(keys_of(&remote["listings"]), ["A-1", "A-2"]);
}

#[test]
fn a_compromise_dated_back_keeps_what_a_desk_held_before_that_date() {
    let app = spawn_platform();
    let url = app.agency_url();
    let TwoDesks {
        a,
        b,
        a_enrolment,
        fingerprint: fp,
    } = two_enrolled_desks(&app, "Beta Lettings", "BET-2");
    let serial = a_enrolment["serial"].as_str().unwrap().to_owned();

    // B holds A-1 before the compromise date; A-2 reaches the platform and B after it.
    a.add_flat("A-1", "Porto", 900);
    a.run(&["publish"]).ok();
    b.run(&["sync"]).ok();
    std::thread::sleep(Duration::from_millis(1500));
    let since = rfc3339_seconds(time::OffsetDateTime::now_utc());
    std::thread::sleep(Duration::from_millis(1500));
    a.add_flat("A-2", "Porto", 950);
    a.run(&["publish"]).ok();

    app.cli_json(&[
        "cert",
        "revoke",
        &serial,
        "--reason",
        "key_compromise",
        "--compromised-since",
        &since,
    ]);
    b.run(&["sync"]).ok();
    let found = b.run(&["search", "--city", "Porto"]).ok();
    assert_eq!(
        signature_state(&found, "A-1"),
        "verified",
        "held here before the key left its owner: {found}"
    );
    assert_eq!(signature_state(&found, "A-2"), "invalid", "{found}");
    let a2 = found["listings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["listing"]["ListingKey"] == "A-2")
        .unwrap();
    assert!(
        a2["signature"]["problem"]
            .as_str()
            .unwrap()
            .contains("first received this signature after"),
        "{a2}"
    );
    // The platform agrees: A-1 (received before) stays in search, A-2 is held.
    let remote = b.run(&["search", "--remote", "--city", "Porto"]).ok();
    assert_eq!(keys_of(&remote["listings"]), ["A-1"]);

    // A desk that first sees both after the date trusts neither.
    let c = spawn_desk();
    let (token_c, _) = add_agency(&app, "Casa Nova", "CAS-3").handover();
    c.enroll(&[url], &token_c, &fp);
    c.run(&["sync"]).ok();
    let fresh = c.run(&["search", "--city", "Porto"]).ok();
    assert_eq!(signature_state(&fresh, "A-1"), "invalid");
    assert_eq!(signature_state(&fresh, "A-2"), "invalid");
}
