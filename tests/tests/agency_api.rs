//! The agency API end to end: the real `platform` binary, real TLS with real certificates from
//! its CA, real enrolment, publishing and the change feed, and every refusal with its own error.

use std::time::Duration;

use api_types::ListingDocument;
use diesel::prelude::*;
use e2e_tests::{AddedAgency, PlatformProcess, TestDb, add_agency, enrolled, error_code, platform};
use platform::testing::agency::{TestAgency, anonymous_client, client_with};

fn doc(key: &str) -> ListingDocument {
    ListingDocument::example(key)
}

fn enrol_publish_and_read_the_feed(app: &PlatformProcess) {
    let AddedAgency {
        id: agency_id,
        token,
        root_pem: root,
        ..
    } = add_agency(app, "Acme Homes", "AMI-100");
    let base = app.agency_url();

    // The CA, chain and CRL need no client certificate.
    let anon = anonymous_client(&root);
    for path in [
        "/ca/root.pem",
        "/ca/chain.pem",
        "/ca/crl.pem",
        "/api/openapi.json",
    ] {
        let r = anon.get(format!("{base}{path}")).send().unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let openapi: serde_json::Value = anon
        .get(format!("{base}/api/openapi.json"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(openapi["paths"]["/api/v1/listings/{ListingKey}"]["put"].is_object());
    // Each real answer below is what the document says it is.
    let documented = |method: &str, path: &str, status: u16, answer: &serde_json::Value| {
        platform::api::openapi::check_answer(&openapi, method, path, status, answer)
            .unwrap_or_else(|e| panic!("{method} {path} {status}: {e}\n{answer}"));
    };

    // Enrolment: the key stays here, the certificate comes back with the issuing CA.
    let a = TestAgency::enroll(&base, &root, &token);
    assert_eq!(a.agency_id, agency_id);
    let chain = ca::inspect::parse_chain_pem(&a.chain_pem).unwrap();
    assert_eq!(chain.len(), 2, "leaf then issuing CA");
    let leaf = ca::inspect::parse_certificate_der(&chain[0]).unwrap();
    assert_eq!(
        leaf.agency_id().as_deref(),
        Some(agency_id.to_string().as_str())
    );
    assert!(leaf.eku_client_auth && !leaf.eku_server_auth);
    assert_eq!(
        leaf.spki_der,
        a.key.public_key_der(),
        "certificate for our own key"
    );

    // The token works once.
    let key2 = ca::keys::PrivateKey::generate_p256().unwrap();
    let again = TestAgency::send_enroll(&base, &root, &token, &key2.csr_pem("x").unwrap());
    assert_eq!(again.status(), 403);
    assert_eq!(error_code(&again.json().unwrap()), "token_used");
    let unknown = TestAgency::send_enroll(&base, &root, "not-a-token", &key2.csr_pem("x").unwrap());
    assert_eq!(unknown.status(), 403);
    assert_eq!(error_code(&unknown.json().unwrap()), "token_unknown");

    let (status, me) = a.get("/api/v1/agency");
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["agency"]["name"], "Acme Homes");
    documented("GET", "/api/v1/agency", status, &me);
    // Answers actix writes itself are the JSON error body too: a path parameter that does not
    // parse; a method a route does not have is no route.
    let r = a
        .client()
        .delete(a.url("/api/v1/saved-searches/abc"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(&r.json().unwrap()), "not_found");
    // A method the path does not serve: 405 with Allow from the OpenAPI document, JSON.
    let r = a
        .client()
        .get(a.url("/api/v1/saved-searches/7"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 405);
    let mut allow: Vec<&str> = r.headers()["allow"].to_str().unwrap().split(", ").collect();
    allow.sort();
    assert_eq!(allow, ["DELETE", "PUT"]);
    assert_eq!(error_code(&r.json().unwrap()), "method_not_allowed");
    let r = a
        .client()
        .request(reqwest::Method::TRACE, a.url("/ca/root.pem"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET");
    let r = a
        .client()
        .get(a.url("/api/v1/no/such/thing"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(&r.json().unwrap()), "no_such_route");
    // Timestamps in answers are RFC 3339.
    let not_after = me["certificate"]["not_after"].as_str().unwrap();
    time::OffsetDateTime::parse(not_after, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("not_after {not_after:?} is not RFC 3339: {e}"));

    // Publish: created, the same again is unchanged, a change is an update.
    let mut d = doc("A-1");
    let (status, body) = a.publish(&d);
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["outcome"], "created");
    assert_eq!(body["version"], 1);
    documented("PUT", "/api/v1/listings/{ListingKey}", status, &body);
    let (status, body) = a.publish(&d);
    assert_eq!(
        (status, body["outcome"].as_str()),
        (200, Some("unchanged")),
        "{body}"
    );
    documented("PUT", "/api/v1/listings/{ListingKey}", status, &body);
    d.list_price = api_types::Price::new(340_000).unwrap();
    d.modification_timestamp += Duration::from_secs(60);
    let (status, body) = a.publish(&d);
    assert_eq!(
        (status, body["outcome"].as_str()),
        (200, Some("updated")),
        "{body}"
    );
    assert_eq!(body["version"], 2);

    // What is stored carries the signature and the certificate serial: provable origin.
    let (status, stored) = a.get("/api/v1/listings/A-1");
    assert_eq!(status, 200, "{stored}");
    assert_eq!(stored["certificate_serial"], a.serial.as_str());
    assert_eq!(stored["listing"]["ListPrice"], 340_000);
    documented("GET", "/api/v1/listings/{ListingKey}", status, &stored);

    // Status change and withdrawal. A withdrawal must be signed: a bare DELETE is refused and
    // says how, and changes nothing.
    d.standard_status = api_types::StandardStatus::UnderOffer;
    d.modification_timestamp += Duration::from_secs(60);
    assert_eq!(a.publish(&d).0, 200);
    let r = a
        .client()
        .delete(a.url("/api/v1/listings/A-1"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    let refused: serde_json::Value = r.json().unwrap();
    assert_eq!(error_code(&refused), "signature_required", "{refused}");
    documented("DELETE", "/api/v1/listings/{ListingKey}", 400, &refused);
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("StandardStatus \"Withdrawn\"")
            && message.contains("newer ModificationTimestamp"),
        "{message}"
    );
    assert_eq!(a.get("/api/v1/listings/A-1").1["status"], "under_offer");
    let (status, body) = a.withdraw(&d, 60);
    assert_eq!((status, body["version"].as_i64()), (200, Some(4)), "{body}");
    documented("DELETE", "/api/v1/listings/{ListingKey}", status, &body);
    let (status, _) = a.withdraw(&doc("NOPE"), 60);
    assert_eq!(status, 404);

    // A second agency: same listing key, its own listing; it cannot touch Acme's.
    let b = enrolled(app, "Beta Realty", "BR-200");
    let mut bd = doc("A-1");
    bd.city = "Porto".into();
    let (status, body) = b.publish(&bd);
    assert_eq!(
        (status, body["outcome"].as_str()),
        (201, Some("created")),
        "{body}"
    );
    let (_, acme) = a.get("/api/v1/listings/A-1");
    assert_eq!(
        acme["listing"]["City"], "Lisbon",
        "Acme's listing untouched"
    );

    // The feed: every change in order, with RESO names; paged; count-only.
    let (status, page) = b.get("/api/v1/changes?after=0");
    assert_eq!(status, 200, "{page}");
    documented("GET", "/api/v1/changes", status, &page);
    let events = page["events"].as_array().unwrap();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["EventType"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "created",
            "updated",
            "status_changed",
            "withdrawn",
            "created"
        ]
    );
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["EntityEventSequence"].as_i64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(events[4]["ListOfficeName"], "Beta Realty");
    // The withdrawal carries the agency's signed Withdrawn document: anyone can check it.
    let withdrawal = &events[3];
    assert_eq!(
        withdrawal["Listing"]["StandardStatus"], "Withdrawn",
        "{withdrawal}"
    );
    assert_eq!(withdrawal["CertificateSerial"], a.serial.as_str());
    let object = api_types::ListingObject::parse(&withdrawal["Listing"].to_string()).unwrap();
    let signature = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        withdrawal["Signature"]["value"].as_str().unwrap(),
    )
    .unwrap();
    ca::sign::verify(
        &a.key.public_key_der(),
        ca::sign::SignatureAlgorithm::EcdsaP256Sha256,
        object.canonical_bytes(),
        &signature,
    )
    .expect("the withdrawal is signed by the agency");
    let (_, page1) = b.get("/api/v1/changes?after=0&limit=2");
    assert_eq!(page1["events"].as_array().unwrap().len(), 2);
    assert_eq!(page1["has_more"], true);
    let (_, page2) = b.get(&format!(
        "/api/v1/changes?after={}&limit=1000",
        page1["next_after"]
    ));
    assert_eq!(page2["events"].as_array().unwrap().len(), 3);
    assert_eq!(page2["has_more"], false);
    let (_, count) = b.get(&format!("/api/v1/changes/count?after={}", seqs[1]));
    assert_eq!(count["count"], 3);
    assert_eq!(count["latest"], seqs[4]);
    documented("GET", "/api/v1/changes/count", 200, &count);
    let (status, bad) = b.get("/api/v1/changes?after=-1");
    assert_eq!((status, error_code(&bad)), (400, "invalid_field"));
    documented("GET", "/api/v1/changes", status, &bad);

    // Every CA action is in the audit log.
    let audit = app.cli_json(&["audit", "--limit", "100"]);
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "agency.add",
        "token.create",
        "token.use",
        "cert.issue",
        "cert.issue_server",
        "cert.issue_signer",
    ] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
    let text = serde_json::to_string(&audit).unwrap();
    assert!(
        !text.contains(&token),
        "the token never goes into the audit log"
    );
}

#[test]
fn enrol_publish_and_feed_on_sqlite() {
    let app = platform().spawn().expect("platform starts");
    enrol_publish_and_read_the_feed(&app);
}

#[test]
fn enrol_publish_and_feed_on_postgres() {
    let Some(db) = TestDb::postgres("agency_api::enrol_publish_and_feed_on_postgres") else {
        return;
    };
    let app = platform()
        .database_url(&db.url)
        .spawn()
        .expect("platform starts");
    enrol_publish_and_read_the_feed(&app);
}

#[test]
fn bad_listings_are_refused_naming_the_field() {
    let app = platform().spawn().expect("platform starts");
    let a = enrolled(&app, "Acme Homes", "AMI-1");
    let put = |key: &str, body: serde_json::Value| {
        let r = a
            .client()
            .put(a.url(&format!("/api/v1/listings/{key}")))
            .json(&body)
            .send()
            .unwrap();
        (r.status().as_u16(), r.json::<serde_json::Value>().unwrap())
    };

    // The signature is checked first, over what was sent; then the document, naming the field.
    let mut cheap = serde_json::to_value(doc("K-1")).unwrap();
    cheap["ListPrice"] = serde_json::json!("cheap");
    let (status, body) = a.send(
        reqwest::Method::PUT,
        "K-1",
        a.signed_body(&cheap.to_string()),
    );
    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "listing.ListPrice", "{body}");
    // A member named twice is refused (parsers disagree on which one counts).
    let twice = serde_json::to_string(&doc("K-1"))
        .unwrap()
        .replacen('{', r#"{"City":"Porto","#, 1);
    let (status, body) = a.send(reqwest::Method::PUT, "K-1", a.signed_body(&twice));
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("listing")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"City\" appears twice"),
        "{body}"
    );
    // An integer a double cannot hold.
    let mut huge = serde_json::to_value(doc("K-1")).unwrap();
    huge["ListPrice"] = serde_json::json!(9_007_199_254_740_993u64);
    let (status, body) = a.send(
        reqwest::Method::PUT,
        "K-1",
        a.signed_body(&huge.to_string()),
    );
    assert_eq!(
        body["error"]["field"], "listing.ListPrice",
        "{status} {body}"
    );
    assert!(
        body["error"]["message"].as_str().unwrap().contains("2^53"),
        "{body}"
    );

    let mut bad_city = doc("K-1");
    bad_city.city = "  ".into();
    let (status, body) = put("K-1", serde_json::to_value(a.sign(&bad_city)).unwrap());
    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "listing.City", "{body}");

    // A right-to-left override in a title (the text would read otherwise than it says).
    let mut spoofed = doc("K-1");
    spoofed.title = "Flat \u{202E}0001 rof\u{202C} sale".into();
    let (status, body) = put("K-1", serde_json::to_value(a.sign(&spoofed)).unwrap());
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "listing.Title", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("U+202E"),
        "{body}"
    );

    // Key in the path and in the body differ.
    let (status, body) = put("K-2", serde_json::to_value(a.sign(&doc("K-1"))).unwrap());
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("listing.ListingKey")),
        "{body}"
    );

    // Signed, then changed: the signature no longer verifies, and the answer names the SHA-256
    // of the RFC 8785 bytes it was checked over, so the sender can compare with what it signed.
    let mut tampered = serde_json::to_value(a.sign(&doc("K-1"))).unwrap();
    tampered["listing"]["ListPrice"] = serde_json::json!(1);
    let (status, body) = put("K-1", tampered.clone());
    assert_eq!(
        (status, error_code(&body)),
        (400, "bad_signature"),
        "{body}"
    );
    let verified_over =
        api_types::canonical::canonicalize_text(&tampered["listing"].to_string()).unwrap();
    let sha = api_types::canonical::sha256_hex(&verified_over);
    assert_eq!(body["error"]["canonical_sha256"], sha.as_str(), "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains(&sha),
        "{body}"
    );
    assert_eq!(body["error"]["field"], "signature");

    // Signed by another key than the certificate's.
    let other = ca::keys::PrivateKey::generate_p256().unwrap();
    let d = doc("K-1");
    let mut foreign = serde_json::to_value(a.sign(&d)).unwrap();
    let sig = other.sign(&d.canonical_bytes()).unwrap();
    foreign["signature"]["value"] =
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &sig.bytes).into();
    let (status, body) = put("K-1", foreign);
    assert_eq!(
        (status, error_code(&body)),
        (400, "bad_signature"),
        "{body}"
    );

    let r = a
        .client()
        .put(a.url("/api/v1/listings/K-1"))
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(&r.json().unwrap()), "invalid_json");
    let (status, body) = put(
        "bad%20key",
        serde_json::to_value(a.sign(&doc("K-1"))).unwrap(),
    );
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("ListingKey")),
        "{body}"
    );

    // An older document than the stored one is refused (a late, stale delivery).
    let mut newer = doc("K-9");
    assert_eq!(a.publish(&newer).0, 201);
    let stored = newer.clone();
    newer.modification_timestamp -= Duration::from_secs(3600);
    newer.list_price = api_types::Price::new(1).unwrap();
    let (status, body) = a.publish(&newer);
    assert_eq!(
        (status, error_code(&body)),
        (409, "stale_listing"),
        "{body}"
    );
    // So is other content with the stored timestamp: every change needs a newer one.
    let same_time = api_types::ListingDocument {
        list_price: api_types::Price::new(1).unwrap(),
        ..stored.clone()
    };
    let (status, body) = a.publish(&same_time);
    assert_eq!(
        (status, error_code(&body)),
        (409, "stale_listing"),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("every change needs a newer ModificationTimestamp"),
        "{body}"
    );
    assert_eq!(
        a.get("/api/v1/listings/K-9").1["listing"]["ListPrice"],
        350_000
    );

    // Nothing bad was stored.
    let (_, page) = a.get("/api/v1/changes?after=0");
    assert_eq!(page["events"].as_array().unwrap().len(), 1);

    // Bad CSR at enrolment.
    let AddedAgency {
        token,
        root_pem: root,
        ..
    } = add_agency(&app, "Gamma", "G-3");
    let r = TestAgency::send_enroll(
        &app.agency_url(),
        &root,
        &token,
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
    );
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(
        (error_code(&body), body["error"]["field"].as_str()),
        ("invalid_csr", Some("csr")),
        "{body}"
    );
    // The token was not spent by the failed attempt.
    TestAgency::enroll(&app.agency_url(), &root, &token);
}

#[test]
fn certificate_refusals_each_have_their_own_error() {
    let app = platform().spawn().expect("platform starts");
    let a = enrolled(&app, "Acme Homes", "AMI-1");
    let base = app.agency_url();
    let changes = format!("{base}/api/v1/changes?after=0");
    let call = |client: &reqwest::blocking::Client| {
        let r = client.get(&changes).send().expect("request");
        (r.status().as_u16(), r.json::<serde_json::Value>().unwrap())
    };

    // No certificate.
    let (status, body) = call(&anonymous_client(&a.root_pem));
    assert_eq!(
        (status, error_code(&body)),
        (401, "certificate_required"),
        "{body}"
    );

    // A certificate from another CA, for the same agency id.
    let foreign_dir = tempfile::tempdir().unwrap();
    let foreign =
        ca::CertificateAuthority::load_or_create(foreign_dir.path(), "Elsewhere", None).unwrap();
    let key = ca::keys::PrivateKey::generate_p256().unwrap();
    let issued = foreign
        .issue_client(
            &key.csr_pem("x").unwrap(),
            &ca::ClientProfile::new(a.agency_id.to_string(), "Acme Homes", 30),
        )
        .unwrap();
    let chain = format!("{}{}", issued.pem, foreign.issuing_pem());
    let (status, body) = call(&client_with(&a.root_pem, Some((&chain, &key.to_pem()))));
    assert_eq!(
        (status, error_code(&body)),
        (401, "certificate_unknown_issuer"),
        "{body}"
    );

    // Our CA, but expired.
    let ours =
        ca::CertificateAuthority::load_or_create(&app.data_dir.join("ca"), "x", None).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let mut profile = ca::ClientProfile::new(a.agency_id.to_string(), "Acme Homes", 30);
    profile.not_before = now - time::Duration::days(40);
    profile.not_after = now - time::Duration::days(10);
    let expired = ours
        .issue_client(&key.csr_pem("x").unwrap(), &profile)
        .unwrap();
    let (status, body) = call(&client_with(
        &a.root_pem,
        Some((&expired.pem, &key.to_pem())),
    ));
    assert_eq!(
        (status, error_code(&body)),
        (401, "certificate_expired"),
        "{body}"
    );

    // Our CA, valid, but a server certificate (wrong key usage).
    let server_key = std::fs::read_to_string(app.data_dir.join("tls/server.key")).unwrap();
    let server_chain = std::fs::read_to_string(app.data_dir.join("tls/server.crt")).unwrap();
    let (status, body) = call(&client_with(
        &a.root_pem,
        Some((&server_chain, &server_key)),
    ));
    assert_eq!(
        (status, error_code(&body)),
        (401, "certificate_wrong_usage"),
        "{body}"
    );

    // Issued by our CA but never registered (not from enrolment).
    let stray = ours
        .issue_client(
            &key.csr_pem("x").unwrap(),
            &ca::ClientProfile::new(a.agency_id.to_string(), "Acme", 30),
        )
        .unwrap();
    let (status, body) = call(&client_with(&a.root_pem, Some((&stray.pem, &key.to_pem()))));
    assert_eq!(
        (status, error_code(&body)),
        (401, "certificate_unknown"),
        "{body}"
    );

    // The real one works.
    let client = a.client();
    assert_eq!(call(&client).0, 200);

    // Suspended agency: refused at once, on the same connection; approved again: back.
    let (ok, _, err) = app.cli(["agency", "suspend", &a.agency_id.to_string()]);
    assert!(ok.success(), "{err}");
    let (status, body) = call(&client);
    assert_eq!(
        (status, error_code(&body)),
        (403, "agency_not_active"),
        "{body}"
    );
    let approved = app.cli_json(&["agency", "approve", &a.agency_id.to_string()]);
    assert!(
        approved["token"].is_null(),
        "it still has a valid certificate: no new token"
    );
    assert_eq!(call(&client).0, 200);

    // Revoked by the operator: refused on the very next request, and listed in the CRL.
    let (ok, out, err) = app.cli(["cert", "revoke", &a.serial, "--reason", "key_compromise"]);
    assert!(ok.success(), "{err}");
    assert!(out.contains("revoked"), "{out}");
    let (status, body) = call(&client);
    assert_eq!(
        (status, error_code(&body)),
        (403, "certificate_revoked"),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("key_compromise")
    );
    let crl_pem = anonymous_client(&a.root_pem)
        .get(format!("{base}/ca/crl.pem"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let crl_der = pem::parse(&crl_pem).unwrap().into_contents();
    let (_, crl) = x509_parser::parse_x509_crl(&crl_der).unwrap();
    let serials: Vec<String> = crl
        .iter_revoked_certificates()
        .map(|r| ca::inspect::serial_hex(r.raw_serial()))
        .collect();
    assert_eq!(serials, std::slice::from_ref(&a.serial));

    // Revoking twice, or an unknown serial, or a bad reason: a clear message, non-zero exit.
    let (ok, _, err) = app.cli(["cert", "revoke", &a.serial, "--reason", "superseded"]);
    assert!(!ok.success() && err.contains("already revoked"), "{err}");
    let (ok, _, err) = app.cli(["cert", "revoke", "abcdef", "--reason", "superseded"]);
    assert!(
        !ok.success() && err.contains("no certificate with serial"),
        "{err}"
    );
    let (ok, _, err) = app.cli(["cert", "revoke", &a.serial, "--reason", "bored"]);
    assert!(!ok.success() && err.contains("--reason"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");

    let audit = app.cli_json(&["audit", "--action", "cert.revoke"]);
    assert_eq!(audit[0]["subject"], a.serial.as_str());
    assert!(audit[0]["actor"].as_str().unwrap().starts_with("operator:"));
}

#[test]
fn tokens_expire_and_renewal_supersedes_the_old_certificate() {
    let app = platform().spawn().expect("platform starts");
    let AddedAgency {
        id: agency_id,
        token,
        root_pem: root,
        ..
    } = add_agency(&app, "Acme Homes", "AMI-1");

    // An expired token (made old in the database).
    let mut conn =
        SqliteConnection::establish(app.data_dir.join("platform.db").to_str().unwrap()).unwrap();
    diesel::sql_query("PRAGMA busy_timeout = 10000")
        .execute(&mut conn)
        .unwrap();
    diesel::sql_query("UPDATE enrolment_tokens SET expires_at = 1")
        .execute(&mut conn)
        .unwrap();
    let key = ca::keys::PrivateKey::generate_p256().unwrap();
    let r = TestAgency::send_enroll(&app.agency_url(), &root, &token, &key.csr_pem("x").unwrap());
    assert_eq!(r.status(), 403);
    assert_eq!(error_code(&r.json().unwrap()), "token_expired");

    // A fresh token from the operator works.
    let fresh = app.cli_json(&["agency", "token", &agency_id.to_string()]);
    let mut a = TestAgency::enroll(&app.agency_url(), &root, fresh["token"].as_str().unwrap());
    let old_client = a.client();
    let old_serial = a.serial.clone();

    // Renew with a new key over mutual TLS.
    let new_key = ca::keys::PrivateKey::generate_p256().unwrap();
    let r = old_client
        .post(a.url("/api/v1/certificates/renew"))
        .json(&serde_json::json!({"csr": new_key.csr_pem("desk").unwrap()}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let renewed: serde_json::Value = r.json().unwrap();
    assert_ne!(renewed["serial"], old_serial.as_str());

    // Until the new certificate is used, the old one still works (a crash before saving it
    // does not lock the desk out) ...
    assert_eq!(
        old_client
            .get(a.url("/api/v1/agency"))
            .send()
            .unwrap()
            .status(),
        200
    );
    a.key = new_key;
    a.chain_pem = renewed["certificate"].as_str().unwrap().to_owned();
    a.serial = renewed["serial"].as_str().unwrap().to_owned();
    assert_eq!(a.get("/api/v1/agency").0, 200);
    // ... and its first use retires the old one.
    let r = old_client.get(a.url("/api/v1/agency")).send().unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(error_code(&r.json().unwrap()), "certificate_revoked");
    let certs = app.cli_json(&["cert", "list", "--agency", &agency_id.to_string()]);
    let old = certs
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["serial"] == old_serial.as_str())
        .unwrap();
    assert_eq!(old["revocation_reason"], "superseded");

    // A bad CSR on renewal.
    let r = a
        .client()
        .post(a.url("/api/v1/certificates/renew"))
        .json(&serde_json::json!({"csr": "nope"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(&r.json().unwrap()), "invalid_csr");

    let actions: Vec<String> = app
        .cli_json(&["audit"])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        actions.contains(&"cert.renew".to_owned())
            && actions.contains(&"cert.supersede".to_owned()),
        "{actions:?}"
    );
}

#[test]
fn operator_commands_vet_agencies_and_refuse_bad_input_clearly() {
    let app = platform().spawn().expect("platform starts");
    let AddedAgency {
        token: id_token, ..
    } = add_agency(&app, "Acme Homes", "AMI-1");
    assert!(!id_token.is_empty());
    // The same licence again.
    let (ok, _, err) = app.cli([
        "agency",
        "add",
        "--name",
        "Other",
        "--licence",
        "AMI-1",
        "--email",
        "a@b.example",
    ]);
    assert!(!ok.success() && err.contains("already registered"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let (ok, _, err) = app.cli([
        "agency",
        "add",
        "--name",
        "X",
        "--licence",
        "L-2",
        "--email",
        "not-an-email",
    ]);
    assert!(!ok.success() && err.contains("--email"), "{err}");
    let (ok, _, err) = app.cli(["agency", "approve", "999"]);
    assert!(
        !ok.success() && err.contains("no agency with id 999"),
        "{err}"
    );
    let (ok, _, err) = app.cli(["agency", "reject", "1"]);
    assert!(!ok.success() && err.contains("not pending"), "{err}");
    let (ok, _, err) = app.cli(["agency", "list", "--status", "sleepy"]);
    assert!(!ok.success() && err.contains("--status"), "{err}");

    let list = app.cli_json(&["agency", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (ok, out, _) = app.cli(["agency", "list"]);
    assert!(ok.success() && out.contains("Acme Homes"), "{out}");

    // The approval mail with the token is queued in the outbox.
    let mut conn =
        SqliteConnection::establish(app.data_dir.join("platform.db").to_str().unwrap()).unwrap();
    diesel::sql_query("PRAGMA busy_timeout = 10000")
        .execute(&mut conn)
        .unwrap();
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        kind: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        payload: String,
    }
    let rows: Vec<Row> = diesel::sql_query("SELECT kind, payload FROM notifications")
        .load(&mut conn)
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].kind, "agency_approved");
    assert!(rows[0].payload.contains(&id_token));
}

#[test]
fn curl_publishes_with_the_agency_certificate() {
    for tool in ["curl", "openssl"] {
        let found = std::process::Command::new(tool)
            .arg("--version")
            .output()
            .or_else(|_| std::process::Command::new(tool).arg("version").output())
            .is_ok();
        if !found {
            platform::testing::skip(
                "agency_api::curl_publishes_with_the_agency_certificate",
                &format!("{tool} is not on PATH"),
            );
            return;
        }
    }
    let app = platform().spawn().expect("platform starts");
    let a = enrolled(&app, "Acme Homes", "AMI-1");
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let root = write("root.pem", &a.root_pem);
    let cert = write("cert.pem", &a.chain_pem);
    let key = write("key.pem", &a.key.to_pem());
    let body = write(
        "body.json",
        &serde_json::to_string(&a.sign(&doc("CURL-1"))).unwrap(),
    );
    let out = std::process::Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "30", "--cacert"])
        .arg(&root)
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .args([
            "-X",
            "PUT",
            "-H",
            "content-type: application/json",
            "--data-binary",
        ])
        .arg(format!("@{}", body.display()))
        .args(["--write-out", "\n%{http_code}"])
        .arg(a.url("/api/v1/listings/CURL-1"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (json, code) = text.rsplit_once('\n').unwrap();
    assert_eq!(code, "201", "{text}");
    let answer: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(answer["outcome"], "created");
    // And curl without a certificate gets the JSON refusal, not a TLS failure.
    let out = std::process::Command::new("curl")
        .args(["--silent", "--max-time", "30", "--cacert"])
        .arg(&root)
        .arg(a.url("/api/v1/changes"))
        .output()
        .unwrap();
    let refused: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(error_code(&refused), "certificate_required");
}

#[test]
fn agency_saved_searches_bring_matches_from_other_agencies() {
    let app = platform().spawn().expect("platform starts");
    let a = enrolled(&app, "Acme Homes", "AMI-1");
    let b = enrolled(&app, "Beta Realty", "BR-2");
    let client = a.client();
    let url = a.url("/api/v1/saved-searches");

    // Bad criteria name the field; an empty search is refused.
    let r = client
        .post(&url)
        .json(&serde_json::json!({"criteria": {"min_price": 5, "max_price": 1}}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().unwrap();
    assert!(
        body["error"]["field"]
            .as_str()
            .unwrap()
            .starts_with("criteria."),
        "{body}"
    );
    let r = client
        .post(&url)
        .json(&serde_json::json!({"criteria": {}}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);

    let r = client
        .post(&url)
        .json(&serde_json::json!({"name": "Tenant 17: Lisbon flat", "criteria": {"city": "Lisbon", "max_price": 400000}}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let saved: serde_json::Value = r.json().unwrap();
    let id = saved["id"].as_i64().unwrap();
    assert_eq!(saved["criteria"]["city"], "lisbon");
    let list: serde_json::Value = client.get(&url).send().unwrap().json().unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    // Both answers are what the API's document says they are.
    let openapi: serde_json::Value = client
        .get(a.url("/api/openapi.json"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    for (method, status, answer) in [("POST", 201, &saved), ("GET", 200, &list)] {
        platform::api::openapi::check_answer(
            &openapi,
            method,
            "/api/v1/saved-searches",
            status,
            answer,
        )
        .unwrap_or_else(|e| panic!("{method} {status}: {e}\n{answer}"));
    }
    // Another agency cannot see or change it.
    let r = b
        .client()
        .delete(b.url(&format!("/api/v1/saved-searches/{id}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = client
        .post(a.url(&format!("/api/v1/saved-searches/{id}/renew")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);

    // Beta publishes a matching listing: a match for Acme is queued with the publish.
    assert_eq!(b.publish(&doc("B-1")).0, 201);
    let mut conn =
        SqliteConnection::establish(app.data_dir.join("platform.db").to_str().unwrap()).unwrap();
    diesel::sql_query("PRAGMA busy_timeout = 10000")
        .execute(&mut conn)
        .unwrap();
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        recipient: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        payload: String,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT recipient, payload FROM notifications WHERE kind = 'listing_match'",
    )
    .load(&mut conn)
    .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].recipient, "desk@agency.example");
    assert!(rows[0].payload.contains("Tenant 17"), "{}", rows[0].payload);

    let r = client
        .delete(a.url(&format!("/api/v1/saved-searches/{id}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    let mut d = doc("B-2");
    d.list_price = api_types::Price::new(300_000).unwrap();
    assert_eq!(b.publish(&d).0, 201);
    let n: Vec<Row> = diesel::sql_query(
        "SELECT recipient, payload FROM notifications WHERE kind = 'listing_match'",
    )
    .load(&mut conn)
    .unwrap();
    // A deleted search matches nothing, and its mail rows went with it (they named it).
    assert_eq!(
        n.len(),
        0,
        "a deleted search matches nothing and keeps no mail rows"
    );
}

/// POSTs a search as agency `a`; returns status and JSON body.
fn search(a: &TestAgency, body: serde_json::Value) -> (u16, serde_json::Value) {
    let r = a
        .client()
        .post(a.url("/api/v1/search"))
        .json(&body)
        .send()
        .expect("search request");
    (
        r.status().as_u16(),
        r.json().unwrap_or(serde_json::Value::Null),
    )
}

fn keys_of(page: &serde_json::Value) -> Vec<String> {
    page["listings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["ListingKey"].as_str().unwrap().to_owned())
        .collect()
}

fn search_and_certificates(app: &PlatformProcess) {
    let a = enrolled(app, "Acme Homes", "AMI-1");
    let b = enrolled(app, "Beta Realty", "BR-2");
    let mut lisbon = doc("A-1");
    lisbon.list_price = api_types::Price::new(300_000).unwrap();
    let mut porto = doc("A-2");
    porto.city = "Porto".into();
    porto.district = None;
    porto.list_price = api_types::Price::new(200_000).unwrap();
    let mut gone = doc("A-3");
    gone.list_price = api_types::Price::new(100_000).unwrap();
    let mut beta = doc("B-1");
    beta.list_price = api_types::Price::new(400_000).unwrap();
    for (agency, d) in [(&a, &lisbon), (&a, &porto), (&a, &gone), (&b, &beta)] {
        let (status, body) = agency.publish(d);
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = a.withdraw(&gone, 60);
    assert_eq!(status, 200, "{body}");

    // Every agency's active listings, newest first, in the change feed's shape.
    let (status, all) = search(&b, serde_json::json!({}));
    assert_eq!(status, 200, "{all}");
    assert_eq!(
        keys_of(&all),
        ["B-1", "A-2", "A-1"],
        "withdrawn A-3 is not found"
    );
    assert_eq!(all["total"], 3);
    assert_eq!(all["total_capped"], false);
    assert_eq!(all["has_more"], false);
    let hit = &all["listings"][2];
    assert_eq!(hit["ListOfficeKey"], a.agency_id.to_string());
    assert_eq!(hit["ListOfficeName"], "Acme Homes");
    assert_eq!(hit["Status"], "active");
    assert_eq!(hit["Version"], 1);
    assert_eq!(hit["Listing"]["ListPrice"], 300_000);
    assert_eq!(hit["CertificateSerial"], a.serial.as_str());
    assert_eq!(hit["Signature"]["algorithm"], "ECDSA-P256-SHA256");

    // Criteria, order and pages, as on the website.
    let (_, cheap) = search(
        &b,
        serde_json::json!({"criteria": {"max_price": 350000}, "sort": "price_asc"}),
    );
    assert_eq!(keys_of(&cheap), ["A-2", "A-1"]);
    let (_, porto_hits) = search(&b, serde_json::json!({"criteria": {"city": " PORTO "}}));
    assert_eq!(keys_of(&porto_hits), ["A-2"]);
    let (_, page1) = search(&b, serde_json::json!({"sort": "price_desc", "per_page": 2}));
    assert_eq!(keys_of(&page1), ["B-1", "A-1"]);
    assert_eq!(page1["has_more"], true);
    let (_, page2) = search(
        &b,
        serde_json::json!({"sort": "price_desc", "per_page": 2, "page": 2}),
    );
    assert_eq!(keys_of(&page2), ["A-2"]);
    assert_eq!(page2["has_more"], false);
    assert_eq!(page2["total"], 3);

    // Bad input: a clear error naming the field; nothing else happens.
    for (body, code, field) in [
        (
            serde_json::json!({"per_page": 101}),
            "invalid_field",
            Some("per_page"),
        ),
        (
            serde_json::json!({"page": 0}),
            "invalid_field",
            Some("page"),
        ),
        (
            serde_json::json!({"page": 500, "per_page": 100}),
            "invalid_field",
            Some("page"),
        ),
        (
            serde_json::json!({"sort": "cheapest"}),
            "invalid_field",
            Some("sort"),
        ),
        (
            serde_json::json!({"criteria": {"min_price": 10, "max_price": 5}}),
            "invalid_field",
            Some("criteria.max_price"),
        ),
        (
            serde_json::json!({"criteria": {"keywords": ["", "x"]}}),
            "invalid_field",
            Some("criteria.keywords"),
        ),
    ] {
        let (status, err) = search(&b, body.clone());
        assert_eq!(status, 400, "{body}: {err}");
        assert_eq!(error_code(&err), code, "{body}: {err}");
        assert_eq!(err["error"]["field"].as_str(), field, "{body}: {err}");
        assert!(!err["error"]["message"].as_str().unwrap().is_empty());
    }
    let (status, err) = search(&b, serde_json::json!({"limit": 5}));
    assert_eq!(status, 400, "{err}");
    assert!(
        err["error"]["message"].as_str().unwrap().contains("limit"),
        "an unknown option is named: {err}"
    );
    let r = b
        .client()
        .post(b.url("/api/v1/search"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(&r.json().unwrap()), "invalid_json");
    // No certificate, no search.
    let r = anonymous_client(&a.root_pem)
        .post(a.url("/api/v1/search"))
        .json(&serde_json::json!({}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(error_code(&r.json().unwrap()), "certificate_required");

    // The signing certificate by serial: any agency may fetch any agency's certificate, and
    // the listing's signature verifies with it over the canonical JSON.
    let (status, cert) = b.get(&format!("/api/v1/certificates/{}", a.serial.to_uppercase()));
    assert_eq!(status, 200, "{cert}");
    assert_eq!(cert["serial"], a.serial.as_str());
    assert_eq!(cert["kind"], "client");
    assert_eq!(cert["agency_id"], a.agency_id);
    assert_eq!(cert["status"], "valid");
    assert!(cert["revoked_at"].is_null());
    let chain = ca::inspect::parse_chain_pem(cert["certificate"].as_str().unwrap()).unwrap();
    assert_eq!(chain.len(), 2, "leaf then issuing CA");
    let leaf = ca::inspect::parse_certificate_der(&chain[0]).unwrap();
    assert_eq!(leaf.serial, a.serial);
    assert_eq!(leaf.agency_id(), Some(a.agency_id.to_string()));
    let listing: ListingDocument = serde_json::from_value(hit["Listing"].clone()).unwrap();
    let signature = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        hit["Signature"]["value"].as_str().unwrap(),
    )
    .unwrap();
    ca::sign::verify_with_certificate(
        &chain[0],
        ca::sign::SignatureAlgorithm::EcdsaP256Sha256,
        &listing.canonical_bytes(),
        &signature,
    )
    .expect("A's signature verifies with the served certificate");
    let (status, err) = b.get("/api/v1/certificates/abcdef0123");
    assert_eq!(
        (status, error_code(&err)),
        (404, "certificate_not_found"),
        "{err}"
    );
    let (status, err) = b.get("/api/v1/certificates/not-hex");
    assert_eq!((status, error_code(&err)), (400, "invalid_field"), "{err}");
    assert_eq!(err["error"]["field"], "serial");

    // A revocation shows, with when and why.
    let (ok, _, stderr) = app.cli(["cert", "revoke", &a.serial, "--reason", "key_compromise"]);
    assert!(ok.success(), "{stderr}");
    let (status, cert) = b.get(&format!("/api/v1/certificates/{}", a.serial));
    assert_eq!(status, 200, "{cert}");
    assert_eq!(cert["status"], "revoked");
    assert_eq!(cert["revocation_reason"], "key_compromise");
    assert!(cert["revoked_at"].is_string(), "{cert}");

    let openapi: serde_json::Value = anonymous_client(&a.root_pem)
        .get(a.url("/api/openapi.json"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(openapi["paths"]["/api/v1/search"]["post"].is_object());
    assert!(openapi["paths"]["/api/v1/certificates/{serial}"]["get"].is_object());
    assert!(openapi["components"]["schemas"]["SearchPage"].is_object());
    // Real answers are what the document says they are.
    for (method, path, status, answer) in [
        ("POST", "/api/v1/search", 200, &all),
        ("GET", "/api/v1/certificates/{serial}", 200, &cert),
        ("GET", "/api/v1/certificates/{serial}", 400, &err),
    ] {
        platform::api::openapi::check_answer(&openapi, method, path, status, answer)
            .unwrap_or_else(|e| panic!("{method} {path} {status}: {e}\n{answer}"));
    }
}

#[test]
fn search_and_certificates_on_sqlite() {
    let app = platform().spawn().expect("platform starts");
    search_and_certificates(&app);
}

#[test]
fn search_and_certificates_on_postgres() {
    let Some(db) = TestDb::postgres("agency_api::search_and_certificates_on_postgres") else {
        return;
    };
    let app = platform()
        .database_url(&db.url)
        .spawn()
        .expect("platform starts");
    search_and_certificates(&app);
}
