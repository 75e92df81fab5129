//! Signatures anyone can check, and a platform that is not trusted blindly, end to end: the real
//! platform process, real mutual TLS, the real `agency-client` binary; another implementation
//! made of `openssl`, `curl` and a few lines of Python; and an intruder with write access to the
//! platform's database.

use std::path::Path;
use std::process::Command;

use diesel::prelude::*;
use e2e_tests::desk::{TwoDesks, keys_of, listing_in, two_enrolled_desks};
use e2e_tests::{Desk, PlatformProcess, add_agency, platform_sql, spawn_desk, spawn_platform};
use serde_json::Value;

/// Appends a change-feed event of `kind` for listing `key` as it stands, as the platform would.
fn append_event(app: &PlatformProcess, key: &str, kind: &str) {
    platform_sql(
        app,
        "UPDATE counters SET value = value + 1 WHERE name = 'listing_events'",
    );
    let added = platform_sql(
        app,
        &format!(
            "INSERT INTO listing_events (seq, listing_id, agency_id, listing_key, kind, version, at) \
             SELECT (SELECT value FROM counters WHERE name = 'listing_events'), id, agency_id, \
                    listing_key, '{kind}', version, 0 \
             FROM listings WHERE listing_key = '{key}'"
        ),
    );
    assert_eq!(added, 1);
}

#[derive(QueryableByName)]
struct StoredRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    document: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    signature: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    modified_at: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    price: i64,
}

/// The platform's row of listing `key`.
fn stored(app: &PlatformProcess, key: &str) -> StoredRow {
    let db = app.data_dir.join("platform.db");
    let mut conn = SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    diesel::sql_query("PRAGMA busy_timeout = 10000")
        .execute(&mut conn)
        .unwrap();
    diesel::sql_query(
        "SELECT id, document, signature, modified_at, price FROM listings WHERE listing_key = ?",
    )
    .bind::<diesel::sql_types::Text, _>(key)
    .get_result(&mut conn)
    .unwrap()
}

fn hinted(desk: &Desk) -> Vec<String> {
    keys_of(&desk.run(&["hints"]).ok())
}

/// The tools another implementation would use; `None` when one is missing.
fn tools() -> Option<()> {
    for (tool, arg) in [
        ("python3", "--version"),
        ("openssl", "version"),
        ("curl", "--version"),
    ] {
        if Command::new(tool).arg(arg).output().is_err() {
            platform::testing::skip(
                "trust::a_listing_signed_with_openssl_and_python_is_accepted_and_verified_everywhere",
                &format!("{tool} is not on PATH"),
            );
            return None;
        }
    }
    Some(())
}

fn run(dir: &Path, program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_listing_signed_with_openssl_and_python_is_accepted_and_verified_everywhere() {
    if tools().is_none() {
        return;
    }
    let app = spawn_platform();
    let url = app.agency_url();
    let (token, fingerprint) = add_agency(&app, "Outside Implementation", "OI-1").handover();
    let (token_b, _) = add_agency(&app, "Beta Realty", "BR-2").handover();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let curl = |args: &[&str]| {
        let mut all = vec!["--silent", "--show-error"];
        all.extend_from_slice(args);
        run(dir, "curl", &all)
    };

    // First contact: the root, checked against the fingerprint the operator gave.
    curl(&[
        "--insecure",
        "--output",
        "root.pem",
        &format!("{url}/ca/root.pem"),
    ]);
    let shown = run(
        dir,
        "openssl",
        &[
            "x509",
            "-in",
            "root.pem",
            "-noout",
            "-fingerprint",
            "-sha256",
        ],
    );
    assert!(
        shown.trim().ends_with(&format!("={fingerprint}")),
        "{shown} vs {fingerprint}"
    );
    // A key and a CSR made by openssl; the key never leaves this directory.
    run(
        dir,
        "openssl",
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "desk.key",
        ],
    );
    run(
        dir,
        "openssl",
        &[
            "req", "-new", "-key", "desk.key", "-subj", "/CN=desk", "-out", "desk.csr",
        ],
    );
    let csr = std::fs::read_to_string(dir.join("desk.csr")).unwrap();
    std::fs::write(
        dir.join("enroll.json"),
        serde_json::json!({"token": token, "csr": csr}).to_string(),
    )
    .unwrap();
    let answer = curl(&[
        "--fail-with-body",
        "--cacert",
        "root.pem",
        "-H",
        "content-type: application/json",
        "--data-binary",
        "@enroll.json",
        &format!("{url}/api/v1/enroll"),
    ]);
    let enrolled: Value = serde_json::from_str(&answer).unwrap();
    std::fs::write(
        dir.join("desk.pem"),
        enrolled["certificate"].as_str().unwrap(),
    )
    .unwrap();

    // The documented listing, as another implementation writes it (members in its own order,
    // spaces, an integer LivingArea, a +00:00 timestamp, no PublicRemarks), signed by the
    // documented script (Python's standard library and openssl) and sent by curl over mutual
    // TLS exactly as written.
    let sent = platform::testing::docs::agency_api_vector("listing-as-sent");
    std::fs::write(dir.join("listing.json"), &sent).unwrap();
    std::fs::write(
        dir.join("sign.py"),
        platform::testing::docs::agency_api_vector("python-sign"),
    )
    .unwrap();
    let body = run(dir, "python3", &["sign.py", "listing.json", "desk.key"]);
    std::fs::write(dir.join("body.json"), &body).unwrap();
    assert!(body.contains(&sent), "sent as written, not re-serialised");
    let put = |file: &str, key: &str| {
        curl(&[
            "--cacert",
            "root.pem",
            "--cert",
            "desk.pem",
            "--key",
            "desk.key",
            "-X",
            "PUT",
            "-H",
            "content-type: application/json",
            "--data-binary",
            &format!("@{file}"),
            "--write-out",
            "\n%{http_code}",
            &format!("{url}/api/v1/listings/{key}"),
        ])
    };
    let answer = put("body.json", "DOC-1");
    let (json, code) = answer.rsplit_once('\n').unwrap();
    assert_eq!(code, "201", "{answer}");
    assert_eq!(
        serde_json::from_str::<Value>(json).unwrap()["outcome"],
        "created"
    );

    // The website's listing page shows the agency's signature verified.
    let id = stored(&app, "DOC-1").id;
    let page = platform::testing::http_client()
        .get(format!("{}/listings/{id}", app.web_url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("Signature verified"), "{page}");
    assert!(page.contains("84 m²"), "{page}");

    // A desk pulls it, checks the signature itself, keeps the object exactly as served (the
    // documented canonical bytes) and hints it to a tenant.
    let b = spawn_desk();
    b.enroll(std::slice::from_ref(&url), &token_b, &fingerprint);
    b.add_tenant("Tina", "lisbon", 1500);
    let synced = b.run(&["sync"]).ok();
    assert_eq!(synced["pulled"]["verified"], 1, "{synced}");
    assert_eq!(
        synced["pulled"]["invalid"],
        serde_json::json!([]),
        "{synced}"
    );
    assert_eq!(synced["pulled"]["new_hints"], 1, "{synced}");
    let here = b.run(&["search", "--city", "Lisbon"]).ok();
    assert_eq!(
        listing_in(&here, "DOC-1")["signature"]["state"],
        "verified",
        "{here}"
    );
    assert_eq!(listing_in(&here, "DOC-1")["listing"]["LivingArea"], 84.0);
    let remote = b.run(&["search", "--remote", "--city", "Lisbon"]).ok();
    assert_eq!(
        listing_in(&remote, "DOC-1")["signature"]["state"],
        "verified",
        "{remote}"
    );
    let db = b.dir.path().join("agency-client.sqlite3");
    let mut conn = SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    diesel::sql_query("PRAGMA busy_timeout = 10000")
        .execute(&mut conn)
        .unwrap();
    #[derive(QueryableByName)]
    struct Kept {
        #[diesel(sql_type = diesel::sql_types::Text)]
        document: String,
    }
    let kept: Kept = diesel::sql_query("SELECT document FROM shared_listings")
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(
        kept.document,
        platform::testing::docs::agency_api_vector("listing-canonical"),
        "kept as served: the documented canonical bytes"
    );

    // The same body with one value changed after signing: refused, and the answer names the
    // SHA-256 of the canonical bytes the platform verified.
    std::fs::write(
        dir.join("tampered.json"),
        body.replace("1450", "1400").replace("DOC-1", "DOC-2"),
    )
    .unwrap();
    let answer = put("tampered.json", "DOC-2");
    let (json, code) = answer.rsplit_once('\n').unwrap();
    assert_eq!(code, "400", "{answer}");
    let refused: Value = serde_json::from_str(json).unwrap();
    assert_eq!(refused["error"]["code"], "bad_signature", "{refused}");
    let verified_over = api_types::canonical::canonicalize_text(
        &sent.replace("1450", "1400").replace("DOC-1", "DOC-2"),
    )
    .unwrap();
    assert_eq!(
        refused["error"]["canonical_sha256"],
        api_types::canonical::sha256_hex(&verified_over).as_str()
    );
}

#[test]
fn a_listing_signed_before_rfc_8785_still_verifies_on_desks_and_the_website() {
    let app = spawn_platform();
    let url = app.agency_url();
    let (token_a, fingerprint) = add_agency(&app, "Acme Homes", "AMI-1").handover();
    let (token_b, _) = add_agency(&app, "Beta Realty", "BR-2").handover();
    let root = platform::testing::agency::fetch_root(&url);
    let a = platform::testing::agency::TestAgency::enroll(&url, &root, &token_a);
    let doc = api_types::ListingDocument {
        living_area: Some(70.0),
        ..api_types::ListingDocument::example("OLD-1")
    };
    assert_eq!(a.publish(&doc).0, 201);
    // As the platform stored it before RFC 8785: serde_json's form (70.0), signed as such.
    let old_form = api_types::canonical::legacy_form_for_verification_only(
        &serde_json::to_value(&doc).unwrap(),
    );
    let old_text = String::from_utf8(old_form.clone()).unwrap();
    assert!(old_text.contains(r#""LivingArea":70.0"#), "{old_text}");
    let signature = a.signature_over(&old_form).value;
    platform_sql(
        &app,
        &format!(
            "UPDATE listings SET document = '{}', signature = '{signature}' WHERE listing_key = 'OLD-1'",
            old_text.replace('\'', "''")
        ),
    );
    let id = stored(&app, "OLD-1").id;
    let page = platform::testing::http_client()
        .get(format!("{}/listings/{id}", app.web_url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("Signature verified"), "{page}");
    let b = spawn_desk();
    b.enroll(std::slice::from_ref(&url), &token_b, &fingerprint);
    let synced = b.run(&["sync"]).ok();
    assert_eq!(
        synced["pulled"]["verified"], 1,
        "an upgrade invalidates nothing: {synced}"
    );
    let remote = b.run(&["search", "--remote"]).ok();
    assert_eq!(
        listing_in(&remote, "OLD-1")["signature"]["state"],
        "verified",
        "{remote}"
    );
    // The same row with its content changed is still caught.
    platform_sql(
        &app,
        "UPDATE listings SET document = replace(document, '350000', '1') WHERE listing_key = 'OLD-1'",
    );
    let remote = b.run(&["search", "--remote"]).ok();
    assert_eq!(
        listing_in(&remote, "OLD-1")["signature"]["state"],
        "invalid",
        "{remote}"
    );
}

#[test]
fn a_desk_refuses_unsigned_removals_and_rollbacks_and_applies_signed_ones() {
    let app = spawn_platform();
    let TwoDesks { a, b, .. } = two_enrolled_desks(&app, "Beta Realty", "BR-2");
    b.add_tenant("Tina", "lisbon", 1500);
    for (key, price) in [
        ("A-1", 1200),
        ("A-2", 1300),
        ("A-3", 1350),
        ("A-4", 1400),
        ("A-5", 1450),
    ] {
        a.add_flat(key, "Lisbon", price);
    }
    a.run(&["publish"]).ok();
    let all = ["A-1", "A-2", "A-3", "A-4", "A-5"]
        .map(String::from)
        .to_vec();
    assert_eq!(b.run(&["sync"]).ok()["pulled"]["new_hints"], 5);
    assert_eq!(hinted(&b), all);

    // A lowers A-2's rent; B pulls the newer version.
    let old_a2 = stored(&app, "A-2");
    a.run(&["listing", "edit", "--key", "A-2", "--price", "1250"])
        .ok();
    a.run(&["publish"]).ok();
    assert_eq!(b.run(&["sync"]).ok()["pulled"]["upserted"], 1);
    // An intruder puts the older, genuinely signed document back with a higher version.
    platform_sql(
        &app,
        &format!(
            "UPDATE listings SET document = '{}', signature = '{}', modified_at = {}, price = {}, \
             version = version + 1 WHERE listing_key = 'A-2'",
            old_a2.document.replace('\'', "''"),
            old_a2.signature,
            old_a2.modified_at,
            old_a2.price
        ),
    );
    append_event(&app, "A-2", "updated");
    let synced = b.run(&["sync"]).ok();
    let pulled = &synced["pulled"];
    assert_eq!(
        pulled["refused_rollbacks"][0]["listing_key"], "A-2",
        "{synced}"
    );
    let problem = pulled["refused_rollbacks"][0]["problem"].as_str().unwrap();
    assert!(problem.contains("rollback refused"), "{problem}");
    assert_eq!(pulled["upserted"], 0, "{synced}");
    let here = b.run(&["search", "--city", "Lisbon"]).ok();
    assert_eq!(
        listing_in(&here, "A-2")["listing"]["ListPrice"],
        1250,
        "the newer copy is kept"
    );
    assert_eq!(listing_in(&here, "A-2")["signature"]["state"], "verified");

    // The intruder marks A-1 withdrawn and A-3 taken down, without any signed document.
    platform_sql(
        &app,
        "UPDATE listings SET status = 'withdrawn', version = version + 1 WHERE listing_key = 'A-1'",
    );
    append_event(&app, "A-1", "withdrawn");
    platform_sql(
        &app,
        "UPDATE listings SET status = 'taken_down', version = version + 1 WHERE listing_key = 'A-3'",
    );
    append_event(&app, "A-3", "taken_down");
    let cursor_before: i64 = {
        let db = b.dir.path().join("agency-client.sqlite3");
        let mut conn = SqliteConnection::establish(db.to_str().unwrap()).unwrap();
        diesel::sql_query("PRAGMA busy_timeout = 10000")
            .execute(&mut conn)
            .unwrap();
        #[derive(QueryableByName)]
        struct Cursor {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            feed_cursor: i64,
        }
        diesel::sql_query("SELECT feed_cursor FROM identity")
            .get_result::<Cursor>(&mut conn)
            .unwrap()
            .feed_cursor
    };
    let synced = b.run(&["sync"]).ok();
    let refused = synced["pulled"]["refused_removals"].as_array().unwrap();
    let refused_keys: Vec<&str> = refused
        .iter()
        .map(|r| r["listing_key"].as_str().unwrap())
        .collect();
    assert_eq!(refused_keys, ["A-1", "A-3"], "{synced}");
    for r in refused {
        let problem = r["problem"].as_str().unwrap();
        assert!(
            problem.contains("removal without a valid signature refused"),
            "{problem}"
        );
    }
    assert_eq!(synced["pulled"]["removed"], 0, "{synced}");
    // Both stay, flagged, and keep their hints.
    let here = b.run(&["search", "--city", "Lisbon"]).ok();
    assert_eq!(keys_of(&here["listings"]), all);
    assert!(
        listing_in(&here, "A-1")["removal_refused"]
            .as_str()
            .unwrap()
            .contains("refused"),
        "{here}"
    );
    assert!(
        listing_in(&here, "A-4").get("removal_refused").is_none(),
        "{here}"
    );
    assert_eq!(hinted(&b), all);
    // The same pull in plain text says so, line by line.
    b.sql(&format!(
        "UPDATE identity SET feed_cursor = {cursor_before}"
    ));
    let (code, text, _) = b.run_text(&["sync"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("WARNING: the platform says listing")
            && text.contains("A-1 is gone, but removal without a valid signature refused"),
        "{text}"
    );
    assert!(
        text.contains("A-3 is gone, but removal without a valid signature refused"),
        "{text}"
    );
    let (_, text, _) = b.run_text(&["search", "--city", "Lisbon"]);
    assert!(
        text.contains(
            "the platform says it is gone, but removal without a valid signature refused"
        ),
        "{text}"
    );

    // Genuine removals: A withdraws A-4 (a signed Withdrawn document), an operator takes A-5
    // down (a statement signed by the platform's key).
    a.run(&["listing", "withdraw", "A-4"]).ok();
    let sent = a.run(&["sync"]).ok();
    assert_eq!(sent["sent"]["sent"][0]["outcome"], "withdrawn", "{sent}");
    let a5 = stored(&app, "A-5").id;
    let down = app.cli_json(&[
        "listing",
        "take-down",
        &a5.to_string(),
        "--reason",
        "duplicate",
    ]);
    assert_eq!(down["status"], "taken_down", "{down}");
    let synced = b.run(&["sync"]).ok();
    assert_eq!(synced["pulled"]["removed"], 2, "{synced}");
    assert_eq!(
        synced["pulled"]["refused_removals"],
        serde_json::json!([]),
        "{synced}"
    );
    let here = b.run(&["search", "--city", "Lisbon"]).ok();
    assert_eq!(keys_of(&here["listings"]), ["A-1", "A-2", "A-3"]);
    assert_eq!(hinted(&b), ["A-1", "A-2", "A-3"]);
    // A forged statement (its signature made by another key) is refused too: the intruder
    // moves A-5's statement onto A-1 with A-1's facts.
    platform_sql(
        &app,
        &format!(
            "INSERT INTO listing_takedowns (listing_id, statement, signature, signature_alg, cert_serial, created_at) \
             SELECT l.id, replace(t.statement, '\"A-5\"', '\"A-1\"'), t.signature, t.signature_alg, t.cert_serial, 0 \
             FROM listings l, listing_takedowns t WHERE l.listing_key = 'A-1' AND t.listing_id = {a5}"
        ),
    );
    platform_sql(
        &app,
        "UPDATE listings SET status = 'taken_down', version = (SELECT version FROM listings WHERE listing_key = 'A-5') \
         WHERE listing_key = 'A-1'",
    );
    append_event(&app, "A-1", "taken_down");
    let synced = b.run(&["sync"]).ok();
    let refused = &synced["pulled"]["refused_removals"][0];
    assert_eq!(refused["listing_key"], "A-1", "{synced}");
    assert!(
        refused["problem"]
            .as_str()
            .unwrap()
            .contains("does not match the take-down statement"),
        "{synced}"
    );
    assert_eq!(hinted(&b), ["A-1", "A-2", "A-3"]);
}
