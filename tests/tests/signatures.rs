//! Signatures anyone can check, end to end with the real `platform` binary and real TLS: versions
//! (an equal timestamp, a retry, a re-sign after a renewal or a re-enrolment), signed
//! withdrawals, and take-downs signed by the platform's own document-signing certificate.

use std::time::Duration;

use api_types::{ListingDocument, StandardStatus};
use base64::Engine;
use diesel::prelude::*;
use e2e_tests::{PlatformProcess, TestDb, enrolled, error_code, platform};
use platform::db::Db;
use platform::testing::agency::TestAgency;

/// Runs `test` against a platform on a fresh SQLite database, then on PostgreSQL when
/// `TEST_POSTGRES_URL` is set (skipped loudly otherwise).
fn on_both(name: &str, test: fn(&PlatformProcess, &Db)) {
    let db = TestDb::sqlite();
    test(&spawn(&db), &db.db);
    if let Some(db) = TestDb::postgres(name) {
        test(&spawn(&db), &db.db);
    }
}

fn spawn(db: &TestDb) -> PlatformProcess {
    platform()
        .database_url(&db.url)
        .spawn()
        .expect("platform starts")
}

/// How many buyer/agency alerts (`listing_match` mails) are queued.
fn alerts(db: &Db) -> i64 {
    use platform::db::schema::notifications;
    let mut conn = db.get().unwrap();
    platform::with_conn!(&mut conn, |c| notifications::table
        .filter(notifications::kind.eq("listing_match"))
        .count()
        .get_result(c))
    .unwrap()
}

fn event_kinds(page: &serde_json::Value) -> Vec<String> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["EventType"].as_str().unwrap().to_owned())
        .collect()
}

fn resigning(app: &PlatformProcess, db: &Db) {
    let mut a = enrolled(app, "Acme Homes", "AMI-1");
    let b = enrolled(app, "Beta Realty", "BR-2");
    // Beta watches for Lisbon flats: the listing below matches, once.
    let r = b
        .client()
        .post(b.url("/api/v1/saved-searches"))
        .json(&serde_json::json!({"name": "Tenant 9", "criteria": {"city": "Lisbon"}}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let d = ListingDocument::example("A-1");
    let (status, body) = a.publish(&d);
    assert_eq!((status, body["version"].as_i64()), (201, Some(1)), "{body}");
    assert_eq!(alerts(db), 1);

    // The same content again (a retry: ECDSA makes a new signature every time): unchanged.
    let (status, body) = a.publish(&d);
    assert_eq!(
        (status, body["outcome"].as_str()),
        (200, Some("unchanged")),
        "{body}"
    );
    // Other content with the same ModificationTimestamp: refused, nothing changes.
    let (status, body) = a.publish(&ListingDocument {
        list_price: api_types::Price::new(100_000).unwrap(),
        ..d.clone()
    });
    assert_eq!(
        (status, error_code(&body)),
        (409, "stale_listing"),
        "{body}"
    );
    let (_, stored) = a.get("/api/v1/listings/A-1");
    assert_eq!(
        (
            stored["version"].as_i64(),
            stored["listing"]["ListPrice"].as_i64()
        ),
        (Some(1), Some(350_000))
    );

    // A renews its certificate and signs the same document again: a re-sign.
    let old_serial = a.serial.clone();
    let new_key = ca::keys::PrivateKey::generate_p256().unwrap();
    let r = a
        .client()
        .post(a.url("/api/v1/certificates/renew"))
        .json(&serde_json::json!({"csr": new_key.csr_pem("desk").unwrap()}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let renewed: serde_json::Value = r.json().unwrap();
    a.key = new_key;
    a.chain_pem = renewed["certificate"].as_str().unwrap().to_owned();
    a.serial = renewed["serial"].as_str().unwrap().to_owned();
    let (status, body) = a.publish(&d);
    assert_eq!(
        (status, body["outcome"].as_str(), body["version"].as_i64()),
        (200, Some("resigned"), Some(2)),
        "{body}"
    );
    let (_, stored) = a.get("/api/v1/listings/A-1");
    assert_eq!(
        stored["certificate_serial"],
        a.serial.as_str(),
        "the old signature is gone"
    );
    assert_ne!(stored["certificate_serial"], old_serial.as_str());
    assert_eq!(stored["listing"]["ListPrice"], 350_000, "content unchanged");
    // Signed by the new key, over the stored bytes.
    let object = api_types::ListingObject::parse(&stored["listing"].to_string()).unwrap();
    let signature = base64::engine::general_purpose::STANDARD
        .decode(stored["signature"]["value"].as_str().unwrap())
        .unwrap();
    ca::sign::verify(
        &a.key.public_key_der(),
        ca::sign::SignatureAlgorithm::EcdsaP256Sha256,
        object.canonical_bytes(),
        &signature,
    )
    .expect("signed by the renewed key");
    // The retry with the new certificate: unchanged.
    assert_eq!(a.publish(&d).1["outcome"], "unchanged");

    // A re-enrols (a new key with a new token, as after a compromise): a re-sign again.
    let token = app.cli_json(&["agency", "token", &a.agency_id.to_string()]);
    let fresh = TestAgency::enroll(&a.base_url, &a.root_pem, token["token"].as_str().unwrap());
    // A new desk (lineage) over what another desk wrote names the version it re-signs.
    assert_eq!(
        fresh.publish(&d).0,
        428,
        "no silent overwrite of another desk's version"
    );
    let (status, body, _) =
        fresh.send_versioned(reqwest::Method::PUT, &d, &[("If-Match", "\"2\"")]);
    assert_eq!(
        (status, body["outcome"].as_str(), body["version"].as_i64()),
        (200, Some("resigned"), Some(3)),
        "{body}"
    );
    assert_eq!(
        fresh.get("/api/v1/listings/A-1").1["certificate_serial"],
        fresh.serial.as_str()
    );

    // The feed says so, with the new serials; the buyer got no new alert.
    let (_, page) = b.get("/api/v1/changes?after=0");
    assert_eq!(event_kinds(&page), ["created", "resigned", "resigned"]);
    let events = page["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .all(|e| e["CertificateSerial"] == fresh.serial.as_str()),
        "every event shows the listing as it stands now"
    );
    assert_eq!(alerts(db), 1, "a re-sign is no news for buyers");

    // A real change still alerts nobody new here (same price) but is an update.
    let later = ListingDocument {
        list_price: api_types::Price::new(300_000).unwrap(),
        modification_timestamp: d.modification_timestamp + Duration::from_secs(60),
        ..d.clone()
    };
    let (status, body) = fresh.publish(&later);
    assert_eq!(
        (status, body["outcome"].as_str(), body["version"].as_i64()),
        (200, Some("updated"), Some(4)),
        "{body}"
    );
    assert_eq!(alerts(db), 2, "a price drop is news");
}

#[test]
fn equal_timestamps_retries_and_resigning_after_renewal_or_reenrolment() {
    on_both(
        "signatures::equal_timestamps_retries_and_resigning",
        resigning,
    );
}

/// The listing's id on the platform.
fn listing_id(db: &Db, key: &str) -> i64 {
    use platform::db::schema::listings;
    let mut conn = db.get().unwrap();
    platform::with_conn!(&mut conn, |c| listings::table
        .filter(listings::listing_key.eq(key))
        .select(listings::id)
        .first(c))
    .unwrap()
}

fn removals(app: &PlatformProcess, db: &Db) {
    let a = enrolled(app, "Acme Homes", "AMI-1");
    let b = enrolled(app, "Beta Realty", "BR-2");
    let one = ListingDocument::example("A-1");
    let two = ListingDocument::example("A-2");
    assert_eq!(a.publish(&one).0, 201);
    assert_eq!(a.publish(&two).0, 201);

    // No signature, no withdrawal.
    let r = a
        .client()
        .delete(a.url("/api/v1/listings/A-1"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(error_code(&body), "signature_required", "{body}");
    // A signed document that is not a withdrawal is not one either.
    let not_withdrawn = ListingDocument {
        modification_timestamp: one.modification_timestamp + Duration::from_secs(5),
        ..one.clone()
    };
    let (status, body) = a.send(
        reqwest::Method::DELETE,
        "A-1",
        serde_json::to_string(&a.sign(&not_withdrawn)).unwrap(),
    );
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("listing.StandardStatus")),
        "{body}"
    );
    // Another agency's signature on A's listing: the key does not match the certificate's
    // agency, so it is B's own (absent) listing and nothing of A's changes.
    let (status, _) = b.withdraw(&one, 60);
    assert_eq!(status, 404);
    assert_eq!(a.get("/api/v1/listings/A-1").1["status"], "active");

    // The agency's signed withdrawal.
    let (status, body) = a.withdraw(&one, 60);
    assert_eq!((status, body["version"].as_i64()), (200, Some(2)), "{body}");
    let (_, page) = b.get("/api/v1/changes?after=2");
    assert_eq!(event_kinds(&page), ["withdrawn"]);
    let event = &page["events"][0];
    assert_eq!(event["Status"], "withdrawn");
    assert_eq!(event["Listing"]["StandardStatus"], "Withdrawn");
    assert_eq!(event["CertificateSerial"], a.serial.as_str());
    let object = api_types::ListingObject::parse(&event["Listing"].to_string()).unwrap();
    assert_eq!(object.get().standard_status, StandardStatus::Withdrawn);
    let signature = base64::engine::general_purpose::STANDARD
        .decode(event["Signature"]["value"].as_str().unwrap())
        .unwrap();
    let (_, agency_cert) = b.get(&format!("/api/v1/certificates/{}", a.serial));
    let agency_der = ca::inspect::parse_chain_pem(agency_cert["certificate"].as_str().unwrap())
        .unwrap()
        .remove(0);
    ca::sign::verify_with_certificate(
        &agency_der,
        ca::sign::SignatureAlgorithm::EcdsaP256Sha256,
        object.canonical_bytes(),
        &signature,
    )
    .expect("the withdrawal verifies with the agency's certificate");

    // An operator takes A-2 down: the statement is signed by the platform's own key.
    let id = listing_id(db, "A-2");
    let out = app.cli_json(&[
        "listing",
        "take-down",
        &id.to_string(),
        "--reason",
        "misleading photos",
    ]);
    assert_eq!(out["status"], "taken_down", "{out}");
    let signer_serial = out["signed_by"].as_str().unwrap().to_owned();
    let (ok, text, err) = app.cli(["listing", "take-down", "999999", "--reason", "x"]);
    assert!(
        !ok.success() && err.contains("no listing with id 999999"),
        "{text}{err}"
    );
    let (ok, _, err) = app.cli(["listing", "take-down", &id.to_string(), "--reason", " "]);
    assert!(!ok.success() && err.contains("--reason"), "{err}");

    let (_, page) = b.get("/api/v1/changes?after=3");
    assert_eq!(event_kinds(&page), ["taken_down"]);
    let event = &page["events"][0];
    assert!(
        event.get("Listing").is_none(),
        "a taken-down listing is not served: {event}"
    );
    let takedown = &event["Takedown"];
    assert_eq!(takedown["CertificateSerial"], signer_serial.as_str());
    let statement: api_types::Signable<api_types::TakedownStatement> =
        api_types::Signable::parse(&takedown["Statement"].to_string()).unwrap();
    assert_eq!(statement.get().list_office_key, a.agency_id.to_string());
    assert_eq!(statement.get().listing_key, "A-2");
    assert_eq!(statement.get().version, event["Version"].as_i64().unwrap());
    assert_eq!(statement.get().reason, "misleading photos");
    assert_eq!(
        statement.raw().as_bytes(),
        statement.canonical_bytes(),
        "served as signed"
    );

    // The signer certificate, from the same route as agency certificates.
    let (status, record) = b.get(&format!("/api/v1/certificates/{signer_serial}"));
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["kind"], "signer");
    assert!(record["agency_id"].is_null(), "{record}");
    assert_eq!(record["status"], "valid");
    let chain = ca::inspect::parse_chain_pem(record["certificate"].as_str().unwrap()).unwrap();
    let signature = base64::engine::general_purpose::STANDARD
        .decode(takedown["Signature"]["value"].as_str().unwrap())
        .unwrap();
    ca::sign::verify_with_certificate(
        &chain[0],
        ca::sign::SignatureAlgorithm::EcdsaP256Sha256,
        statement.canonical_bytes(),
        &signature,
    )
    .expect("the statement verifies with the served signer certificate");
    // ... which chains to the root (leaf by the issuing CA, issuing CA by the root) ...
    let root = ca::inspect::parse_chain_pem(&a.root_pem).unwrap().remove(0);
    let (_, leaf) = x509_parser::parse_x509_certificate(&chain[0]).unwrap();
    let (_, issuing) = x509_parser::parse_x509_certificate(&chain[1]).unwrap();
    let (_, root) = x509_parser::parse_x509_certificate(&root).unwrap();
    leaf.verify_signature(Some(issuing.public_key()))
        .expect("signed by the issuing CA");
    issuing
        .verify_signature(Some(root.public_key()))
        .expect("issuing CA signed by the root");
    // ... and is for document signing by the platform, nothing else.
    let info = ca::inspect::parse_certificate_der(&chain[0]).unwrap();
    assert_eq!(info.san_uris, ["urn:listing-exchange:platform"]);
    assert!(!info.eku_client_auth && !info.eku_server_auth && !info.is_ca);
    let eku = leaf.extended_key_usage().unwrap().unwrap().value;
    assert_eq!(
        eku.other,
        [x509_parser::der_parser::oid!(1.3.6.1.5.5.7.3.36)]
    );
    // It cannot be used to talk to the agency API.
    let key_pem = std::fs::read_to_string(app.data_dir.join("tls/signer.key"));
    if let Ok(key_pem) = key_pem {
        let client = platform::testing::agency::client_with(
            &a.root_pem,
            Some((record["certificate"].as_str().unwrap(), &key_pem)),
        );
        let r = client.get(a.url("/api/v1/agency")).send().unwrap();
        assert_eq!(r.status(), 401, "not a client certificate");
    }

    // A's own view: the statement is there too, and A cannot bring the listing back.
    let (_, stored) = a.get("/api/v1/listings/A-2");
    assert_eq!(stored["status"], "taken_down");
    assert_eq!(
        stored["takedown"]["CertificateSerial"],
        signer_serial.as_str()
    );
    let (status, body) = a.publish(&ListingDocument {
        modification_timestamp: two.modification_timestamp + Duration::from_secs(60),
        ..two.clone()
    });
    assert_eq!(
        (status, error_code(&body)),
        (403, "listing_taken_down"),
        "{body}"
    );
    // Audited with the signer.
    let audit = app.cli_json(&["audit", "--action", "listing.take_down"]);
    let detail: serde_json::Value =
        serde_json::from_str(audit[0]["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["signed_by"], signer_serial.as_str(), "{audit}");
    // The OpenAPI document says how.
    let openapi: serde_json::Value = platform::testing::agency::anonymous_client(&a.root_pem)
        .get(a.url("/api/openapi.json"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let delete = &openapi["paths"]["/api/v1/listings/{ListingKey}"]["delete"];
    assert!(delete["requestBody"].is_object(), "{delete}");
    let schemas = &openapi["components"]["schemas"];
    assert!(schemas["SignedTakedown"].is_object());
    assert!(schemas["Error"]["properties"]["error"]["properties"]["canonical_sha256"].is_object());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(app.data_dir.join("tls/signer.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn withdrawals_and_take_downs_are_signed_and_anyone_can_check_them() {
    on_both(
        "signatures::withdrawals_and_take_downs_are_signed",
        removals,
    );
}
