//! Trust end to end (issue 18), through the real `platform` binary and real TLS: the register
//! binds whole certificates, revocation follows a certificate's family, compromise is news on the
//! change feed, listings signed by a compromised key leave search and alerts until signed again,
//! enrolment tokens replace each other, and a revocation shuts a kept-alive connection to another
//! process out on its very next request.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use api_types::ListingDocument;
use diesel::prelude::*;
use e2e_tests::{
    AddedAgency, PlatformBuilder, PlatformProcess, TestDb, add_agency_with_email, error_code,
    platform, wait_until,
};
use platform::db::schema::{listings, notifications};
use platform::testing::agency::{TestAgency, anonymous_client};
use platform::testing::smtp::SmtpSink;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn builder(db: &TestDb) -> PlatformBuilder {
    platform().database_url(db.url.clone())
}

/// Adds an active agency by CLI with its own contact address (`<licence>@agency.example`).
fn add_agency(app: &PlatformProcess, name: &str, licence: &str) -> AddedAgency {
    let email = format!("{}@agency.example", licence.to_ascii_lowercase());
    add_agency_with_email(app, name, licence, &email)
}

/// An agency with its own contact address, enrolled over the real API.
fn enrolled(app: &PlatformProcess, name: &str, licence: &str) -> TestAgency {
    add_agency(app, name, licence).enroll(app)
}

/// Sends a renewal request for `key` with `a`'s certificate; returns the raw answer.
fn send_renewal(a: &TestAgency, key: &ca::keys::PrivateKey) -> reqwest::blocking::Response {
    a.client()
        .post(a.url("/api/v1/certificates/renew"))
        .json(&serde_json::json!({"csr": key.csr_pem("desk").unwrap()}))
        .send()
        .expect("renewal request")
}

/// Renews `a` with a new key; panics with the answer when refused.
fn renew(a: &TestAgency) -> TestAgency {
    let key = ca::keys::PrivateKey::generate_p256().unwrap();
    let r = send_renewal(a, &key);
    let status = r.status();
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(status, 201, "renewal refused: {body}");
    TestAgency {
        key,
        chain_pem: body["certificate"].as_str().unwrap().to_owned(),
        serial: body["serial"].as_str().unwrap().to_owned(),
        agency_id: a.agency_id,
        root_pem: a.root_pem.clone(),
        base_url: a.base_url.clone(),
    }
}

/// Status and error code of `GET /api/v1/agency` with `a`'s certificate.
fn whoami(a: &TestAgency) -> (u16, String) {
    let (status, body) = a.get("/api/v1/agency");
    (status, error_code(&body).to_owned())
}

fn cert_row<'a>(list: &'a serde_json::Value, serial: &str) -> &'a serde_json::Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["serial"] == serial)
        .unwrap_or_else(|| panic!("{serial} not in {list}"))
}

fn certificate_events(a: &TestAgency, after: i64, limit: i64) -> serde_json::Value {
    let (status, body) = a.get(&format!(
        "/api/v1/changes/certificates?after={after}&limit={limit}"
    ));
    assert_eq!(status, 200, "{body}");
    body
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The register binds the whole certificate.

/// A client certificate for a new key, made with the issuing CA's key read from the platform's
/// data directory, carrying `victim`'s serial and agency: what a thief of the issuing key (or of
/// a backup of the data directory) could make. Returns the chain and the new key.
fn forge(app: &PlatformProcess, victim: &TestAgency) -> (String, ca::keys::PrivateKey) {
    let ca_dir = app.data_dir.join("ca");
    let issuing_key = std::fs::read_to_string(ca_dir.join("issuing.key")).unwrap();
    let issuing_crt = std::fs::read_to_string(ca_dir.join("issuing.crt")).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(
        &issuing_crt,
        rcgen::KeyPair::from_pem(&issuing_key).expect("unencrypted issuing key in tests"),
    )
    .unwrap();
    let key = ca::keys::PrivateKey::generate_p256().unwrap();
    let public = rcgen::KeyPair::from_pem(&key.to_pem()).unwrap();
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Beta Realty");
    params.subject_alt_names = vec![rcgen::SanType::URI(
        ca::inspect::agency_uri(&victim.agency_id.to_string())
            .try_into()
            .unwrap(),
    )];
    params.serial_number = Some(rcgen::SerialNumber::from_slice(
        &hex::decode(&victim.serial).unwrap(),
    ));
    let now = OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(30);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&public, &issuer).unwrap();
    let info = ca::inspect::parse_certificate_der(cert.der()).unwrap();
    assert_eq!(info.serial, victim.serial, "the forgery carries the serial");
    assert_eq!(info.agency_id(), Some(victim.agency_id.to_string()));
    (format!("{}{issuing_crt}", cert.pem()), key)
}

#[test]
fn a_certificate_forged_with_another_agencys_serial_is_refused_and_audited() {
    let db = TestDb::sqlite();
    let app = builder(&db).spawn().expect("platform starts");
    let _acme = enrolled(&app, "Acme Homes", "AMI-1");
    let beta = enrolled(&app, "Beta Realty", "BR-2");
    let (chain, key) = forge(&app, &beta);
    let thief = TestAgency {
        key,
        chain_pem: chain,
        serial: beta.serial.clone(),
        agency_id: beta.agency_id,
        root_pem: beta.root_pem.clone(),
        base_url: beta.base_url.clone(),
    };

    let (status, body) = thief.get("/api/v1/agency");
    assert_eq!(
        (status, error_code(&body)),
        (401, "certificate_mismatch"),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&beta.serial),
        "{body}"
    );
    let (status, body) = thief.publish(&ListingDocument::example("FAKE-1"));
    assert_eq!(
        (status, error_code(&body)),
        (401, "certificate_mismatch"),
        "{body}"
    );

    // Nothing was published as Beta, and Beta's own certificate still works.
    let (status, feed) = beta.get("/api/v1/changes?after=0");
    assert_eq!(status, 200);
    assert_eq!(feed["events"].as_array().unwrap().len(), 0, "{feed}");
    assert_eq!(beta.get("/api/v1/listings/FAKE-1").0, 404);
    assert_eq!(whoami(&beta), (200, "<no error code>".into()));

    // Both attempts are in the audit log, with the forgery's fingerprint.
    let audit = app.cli_json(&["audit", "--action", "cert.refused"]);
    let entries = audit.as_array().unwrap();
    assert_eq!(entries.len(), 2, "{audit}");
    let forged_fp =
        ca::inspect::Fingerprint::of(&ca::inspect::parse_chain_pem(&thief.chain_pem).unwrap()[0])
            .to_hex();
    for e in entries {
        assert_eq!(e["subject"], beta.serial.as_str());
        let detail: serde_json::Value =
            serde_json::from_str(e["detail"].as_str().unwrap()).unwrap();
        assert_eq!(detail["why"], "fingerprint_mismatch");
        assert_eq!(detail["fingerprint"], forged_fp.as_str());
        assert_eq!(detail["claimed_agency_id"], beta.agency_id);
    }
}

// ---------------------------------------------------------------------------------------------
// Renewal: a new key, at most one unused renewal, rate-limited per desk.

#[test]
fn renewal_refuses_the_same_key_and_is_rate_limited_per_desk() {
    let db = TestDb::sqlite();
    let app = builder(&db).spawn().expect("platform starts");
    let x = enrolled(&app, "Acme Homes", "AMI-1");
    let serials = |app: &PlatformProcess| -> Vec<String> {
        let list = app.cli_json(&["cert", "list"]);
        list.as_array()
            .unwrap()
            .iter()
            .map(|c| c["serial"].as_str().unwrap().to_owned())
            .collect()
    };
    let before = serials(&app);

    // The same key again: refused, nothing registered, X unchanged.
    let r = send_renewal(&x, &x.key);
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(error_code(&body), "renewal_same_key", "{body}");
    assert_eq!(body["error"]["field"], "csr");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("new key pair"),
        "{body}"
    );
    assert_eq!(serials(&app), before);
    assert_eq!(whoami(&x).0, 200);

    // Enrolment, then two renewals within the day: the third renewal is refused for a day.
    let y = renew(&x);
    assert_eq!(whoami(&y).0, 200);
    let z = renew(&y);
    assert_eq!(whoami(&z).0, 200);
    let started = Instant::now();
    let r = send_renewal(&z, &ca::keys::PrivateKey::generate_p256().unwrap());
    assert_eq!(r.status(), 429);
    let retry_after: u64 = r
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (86_000..=86_400).contains(&retry_after),
        "a day after the enrolment: {retry_after}"
    );
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(error_code(&body), "rate_limited");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("3 certificates in the last 24 hours") && message.contains("operator"),
        "{message}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // Nothing changed: Z still works, the desk holds three certificates, one of them live.
    assert_eq!(whoami(&z).0, 200);
    let show = app.cli_json(&["agency", "show", &x.agency_id.to_string()]);
    assert_eq!(show["desks"].as_array().unwrap().len(), 1, "{show}");
    assert_eq!(show["desks"][0]["lineage"], x.serial.as_str());
    assert_eq!(show["desks"][0]["certificates"], 3);
    assert_eq!(show["desks"][0]["live"][0]["serial"], z.serial.as_str());
    assert_eq!(show["live_certificates"], 1);
}

#[test]
fn renewals_twice_then_key_compromise_shuts_out_the_whole_family() {
    renewals_twice_then_key_compromise(TestDb::sqlite());
}

#[test]
fn renewals_twice_then_key_compromise_shuts_out_the_whole_family_postgres() {
    let Some(db) = TestDb::postgres("trust::renewals_twice_then_key_compromise_postgres") else {
        return;
    };
    renewals_twice_then_key_compromise(db);
}

fn renewals_twice_then_key_compromise(db: TestDb) {
    let app = builder(&db).spawn().expect("platform starts");
    let watcher = enrolled(&app, "Watcher Estates", "WE-9");
    let x = enrolled(&app, "Acme Homes", "AMI-1");

    // Renewing twice from X: the second renewal replaces the first, never used.
    let y = renew(&x);
    let z = renew(&x);
    assert_eq!(whoami(&y), (403, "certificate_revoked".into()));
    let list = app.cli_json(&["cert", "list", "--agency", &x.agency_id.to_string()]);
    assert_eq!(
        cert_row(&list, &y.serial)["revocation_reason"],
        "superseded"
    );
    let supersede = app.cli_json(&["audit", "--action", "cert.supersede"]);
    assert_eq!(supersede[0]["subject"], y.serial.as_str());
    assert!(supersede[0]["detail"].as_str().unwrap().contains(&z.serial));
    // X keeps working until Z is first used (a desk that crashed before saving Z is not out).
    assert_eq!(whoami(&x).0, 200);
    for serial in [&x.serial, &y.serial, &z.serial] {
        assert_eq!(cert_row(&list, serial)["lineage"], x.serial.as_str());
    }

    // X's key is stolen: revoking X reaches Z (renewed from it) and raises Y's reason.
    let out = app.cli_json(&["cert", "revoke", &x.serial, "--reason", "key_compromise"]);
    // The certificate named stays at the top level of the JSON, as before families.
    assert_eq!(out["serial"], x.serial.as_str(), "{out}");
    assert_eq!(out["status"], "revoked");
    assert_eq!(out["revocation_reason"], "key_compromise");
    let changed: Vec<(&str, &str)> = out["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["serial"].as_str().unwrap(), c["event"].as_str().unwrap()))
        .collect();
    assert_eq!(
        changed,
        [
            (x.serial.as_str(), "revoked"),
            (y.serial.as_str(), "reason_changed"),
            (z.serial.as_str(), "revoked"),
        ]
    );
    for a in [&x, &y, &z] {
        let (status, body) = a.get("/api/v1/agency");
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
    }
    let (status, body) = z.publish(&ListingDocument::example("Z-1"));
    assert_eq!((status, error_code(&body)), (403, "certificate_revoked"));
    let list = app.cli_json(&["cert", "list", "--agency", &x.agency_id.to_string()]);
    for serial in [&x.serial, &y.serial, &z.serial] {
        assert_eq!(cert_row(&list, serial)["status"], "revoked");
        assert_eq!(
            cert_row(&list, serial)["revocation_reason"],
            "key_compromise"
        );
        assert!(cert_row(&list, serial)["compromised_since"].is_null());
    }
    let (_, text, _) = app.cli(["cert", "list"]);
    assert!(
        text.contains("compromised since") && text.contains("ever"),
        "{text}"
    );
    // Each one audited with what cascaded it.
    let revoked = app.cli_json(&["audit", "--action", "cert.revoke"]);
    let z_entry = revoked
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["subject"] == z.serial.as_str())
        .expect("Z's revocation audited");
    let detail: serde_json::Value =
        serde_json::from_str(z_entry["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["cascade"], "renewal");
    assert_eq!(detail["cascaded_from"], x.serial.as_str());
    let raised = app.cli_json(&["audit", "--action", "cert.revocation_raise"]);
    assert_eq!(raised[0]["subject"], y.serial.as_str());

    // Every other desk learns of it on its next sync: the certificate events, in order.
    let feed = certificate_events(&watcher, 0, 100);
    let events: Vec<(i64, &str, &str, &str)> = feed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["sequence"].as_i64().unwrap(),
                e["event_type"].as_str().unwrap(),
                e["serial"].as_str().unwrap(),
                e["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            (1, "revoked", y.serial.as_str(), "superseded"),
            (2, "revoked", x.serial.as_str(), "key_compromise"),
            (3, "reason_changed", y.serial.as_str(), "key_compromise"),
            (4, "revoked", z.serial.as_str(), "key_compromise"),
        ]
    );
    let x_event = &feed["events"][1];
    assert_eq!(x_event["agency_id"], x.agency_id);
    assert_eq!(
        x_event["fingerprint"],
        ca::inspect::Fingerprint::of(&ca::inspect::parse_chain_pem(&x.chain_pem).unwrap()[0])
            .to_hex()
    );
    assert!(x_event["compromised_since"].is_null());
    assert_eq!(feed["next_after"], 4);
    assert_eq!(feed["has_more"], false);
    let (_, count) = watcher.get("/api/v1/changes/count?after=0");
    assert_eq!(count["certificates_latest"], 4, "{count}");
    assert_eq!(count["latest"], 0, "no listing changes: {count}");
}

#[test]
fn raising_superseded_to_key_compromise_cascades_dates_back_and_reaches_the_crl() {
    raising_superseded(TestDb::sqlite());
}

#[test]
fn raising_superseded_to_key_compromise_cascades_dates_back_and_reaches_the_crl_postgres() {
    let Some(db) = TestDb::postgres("trust::raising_superseded_postgres") else {
        return;
    };
    raising_superseded(db);
}

fn raising_superseded(db: TestDb) {
    let app = builder(&db).spawn().expect("platform starts");
    let watcher = enrolled(&app, "Watcher Estates", "WE-9");
    let x = enrolled(&app, "Acme Homes", "AMI-1");
    // The usual life of a desk: X renewed to Y, Y used (X superseded), Y renewed to Z, Z used.
    let y = renew(&x);
    assert_eq!(whoami(&y).0, 200);
    let z = renew(&y);
    assert_eq!(whoami(&z).0, 200);
    assert_eq!(whoami(&x), (403, "certificate_revoked".into()));
    assert_eq!(whoami(&y), (403, "certificate_revoked".into()));
    let latest_before = watcher.get("/api/v1/changes/count").1["certificates_latest"]
        .as_i64()
        .unwrap();
    assert_eq!(latest_before, 2, "two supersessions");

    // Another reason on a revoked certificate is refused, in one line.
    for reason in ["superseded", "privilege_withdrawn"] {
        let (ok, _, err) = app.cli(["cert", "revoke", &x.serial, "--reason", reason]);
        assert!(!ok.success(), "{reason}");
        assert!(
            err.contains("already revoked (superseded)") && err.contains("key_compromise"),
            "{err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    // A compromise date in the future, or with another reason, or unreadable: refused.
    let tomorrow = rfc3339(OffsetDateTime::now_utc() + time::Duration::days(1));
    let bad: [(&[&str], &str); 3] = [
        (
            &[
                "--reason",
                "key_compromise",
                "--compromised-since",
                &tomorrow,
            ],
            "in the future",
        ),
        (
            &[
                "--reason",
                "unspecified",
                "--compromised-since",
                "2026-01-01",
            ],
            "only with --reason key_compromise",
        ),
        (
            &[
                "--reason",
                "key_compromise",
                "--compromised-since",
                "last week",
            ],
            "give a date",
        ),
    ];
    for (args, says) in bad {
        let mut all = vec!["cert", "revoke", x.serial.as_str()];
        all.extend_from_slice(args);
        let (ok, _, err) = app.cli(&all);
        assert!(!ok.success() && err.contains(says), "{args:?}: {err}");
    }
    assert_eq!(
        watcher.get("/api/v1/changes/count").1["certificates_latest"],
        latest_before,
        "nothing changed"
    );
    assert_eq!(whoami(&z).0, 200);

    // The raise, dated back three days: X and Y raised, Z revoked.
    let since = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() - time::Duration::days(3);
    let (ok, out, err) = app.cli([
        "cert",
        "revoke",
        &x.serial,
        "--reason",
        "key_compromise",
        "--compromised-since",
        &rfc3339(since),
    ]);
    assert!(ok.success(), "{err}");
    assert!(
        out.contains("its reason is now key_compromise")
            && out.contains(&y.serial)
            && out.contains(&z.serial),
        "{out}"
    );
    assert_eq!(whoami(&z), (403, "certificate_revoked".into()));

    let feed = certificate_events(&watcher, latest_before, 10);
    let events: Vec<(&str, &str)> = feed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["event_type"].as_str().unwrap(),
                e["serial"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("reason_changed", x.serial.as_str()),
            ("reason_changed", y.serial.as_str()),
            ("revoked", z.serial.as_str()),
        ]
    );
    for e in feed["events"].as_array().unwrap() {
        assert_eq!(e["reason"], "key_compromise");
        assert_eq!(e["compromised_since"], rfc3339(since).as_str());
    }
    // The raise keeps the original revocation time.
    let x_record = watcher.get(&format!("/api/v1/certificates/{}", x.serial)).1;
    assert_eq!(x_record["revocation_reason"], "key_compromise");
    assert_eq!(x_record["compromised_since"], rfc3339(since).as_str());
    assert_eq!(x_record["revoked_at"], feed["events"][0]["revoked_at"]);
    assert_eq!(
        x_record["fingerprint"],
        ca::inspect::Fingerprint::of(&ca::inspect::parse_chain_pem(&x.chain_pem).unwrap()[0])
            .to_hex()
    );

    // The CRL lists the three with reason keyCompromise and the invalidity date.
    let crl_pem = anonymous_client(&watcher.root_pem)
        .get(format!("{}/ca/crl.pem", app.agency_url()))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let crl_der = pem::parse(&crl_pem).unwrap().into_contents();
    let (_, crl) = x509_parser::parse_x509_crl(&crl_der).unwrap();
    let mut entries: Vec<(String, u8, Option<i64>)> = crl
        .iter_revoked_certificates()
        .map(|r| {
            (
                ca::inspect::serial_hex(r.raw_serial()),
                r.reason_code().map(|(_, c)| c.0).unwrap_or(0),
                r.invalidity_date().map(|(_, t)| t.timestamp()),
            )
        })
        .collect();
    entries.sort();
    let mut want: Vec<(String, u8, Option<i64>)> = [&x.serial, &y.serial, &z.serial]
        .into_iter()
        .map(|s| (s.clone(), 1, Some(since.unix_timestamp())))
        .collect();
    want.sort();
    assert_eq!(entries, want);

    // Raising again to the same or a later date changes nothing; an earlier date widens it.
    let (ok, _, err) = app.cli(["cert", "revoke", &z.serial, "--reason", "key_compromise"]);
    assert!(ok.success(), "no date is wider than a date: {err}");
    let (ok, _, err) = app.cli(["cert", "revoke", &z.serial, "--reason", "key_compromise"]);
    assert!(
        !ok.success() && err.contains("already revoked for key_compromise"),
        "{err}"
    );
}

#[test]
fn the_certificate_event_feed_pages_and_refuses_bad_input_like_the_listing_feed() {
    let db = TestDb::sqlite();
    let app = builder(&db).spawn().expect("platform starts");
    let reader = enrolled(&app, "Reader Homes", "RH-1");
    let mut serials = Vec::new();
    for i in 0..5 {
        let a = enrolled(&app, &format!("Agency {i}"), &format!("AG-{i}"));
        let (ok, _, err) = app.cli([
            "cert",
            "revoke",
            &a.serial,
            "--reason",
            "cessation_of_operation",
        ]);
        assert!(ok.success(), "{err}");
        serials.push(a.serial);
    }
    let mut after = 0;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = certificate_events(&reader, after, 2);
        pages += 1;
        for e in page["events"].as_array().unwrap() {
            assert!(e["sequence"].as_i64().unwrap() > after);
            seen.push(e["serial"].as_str().unwrap().to_owned());
        }
        after = page["next_after"].as_i64().unwrap();
        if !page["has_more"].as_bool().unwrap() {
            break;
        }
    }
    assert_eq!(seen, serials);
    assert_eq!((pages, after), (3, 5));
    let empty = certificate_events(&reader, 5, 2);
    assert_eq!(empty["events"].as_array().unwrap().len(), 0);
    assert_eq!(empty["next_after"], 5);
    assert_eq!(empty["has_more"], false);

    for (query, field) in [
        ("after=-1", "after"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
    ] {
        let (status, body) = reader.get(&format!("/api/v1/changes/certificates?{query}"));
        assert_eq!(
            (status, error_code(&body)),
            (400, "invalid_field"),
            "{query}: {body}"
        );
        assert_eq!(body["error"]["field"], field);
    }
    let (status, body) = reader.get("/api/v1/changes/certificates?after=x");
    assert_eq!(
        (status, error_code(&body)),
        (400, "invalid_query"),
        "{body}"
    );
    let r = anonymous_client(&reader.root_pem)
        .get(reader.url("/api/v1/changes/certificates"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);

    // Documented in the OpenAPI document.
    let spec: serde_json::Value = anonymous_client(&reader.root_pem)
        .get(reader.url("/api/openapi.json"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(spec["paths"]["/api/v1/changes/certificates"]["get"].is_object());
    assert!(spec["components"]["schemas"]["CertificateEventsPage"].is_object());
}

// ---------------------------------------------------------------------------------------------
// Enrolment tokens and `agency show`.

#[test]
fn a_new_token_voids_the_older_unused_one_and_agency_show_lists_desks() {
    let db = TestDb::sqlite();
    let app = builder(&db).spawn().expect("platform starts");
    let AddedAgency {
        id,
        token: first_token,
        root_pem: root,
        ..
    } = add_agency(&app, "Acme Homes", "AMI-1");
    let desk_one = TestAgency::enroll(&app.agency_url(), &root, &first_token);
    let second = app.cli_json(&["agency", "token", &id.to_string()]);
    let third = app.cli_json(&["agency", "token", &id.to_string()]);

    // The second token was never used and the third replaced it.
    let key = ca::keys::PrivateKey::generate_p256().unwrap();
    let r = TestAgency::send_enroll(
        &app.agency_url(),
        &root,
        second["token"].as_str().unwrap(),
        &key.csr_pem("desk").unwrap(),
    );
    assert_eq!(r.status(), 403);
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(error_code(&body), "token_voided", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("newest token"),
        "{body}"
    );
    let voided = app.cli_json(&["audit", "--action", "token.void"]);
    assert_eq!(voided.as_array().unwrap().len(), 1, "{voided}");
    assert_eq!(voided[0]["subject"], id.to_string());

    // Before the third is used, `agency show` lists it; it then enrols a second desk.
    let show = app.cli_json(&["agency", "show", &id.to_string()]);
    assert_eq!(show["unused_tokens"].as_array().unwrap().len(), 1, "{show}");
    assert_eq!(show["desks"].as_array().unwrap().len(), 1);
    // A key is certified once: enrolling desk one's key again is refused, the token not spent.
    let r = TestAgency::send_enroll(
        &app.agency_url(),
        &root,
        third["token"].as_str().unwrap(),
        &desk_one.key.csr_pem("desk").unwrap(),
    );
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(error_code(&body), "key_already_certified", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("new key pair"),
        "{body}"
    );
    let desk_two = TestAgency::enroll(&app.agency_url(), &root, third["token"].as_str().unwrap());
    let renewed = renew(&desk_two); // not used yet: desk two has two live certificates
    assert_eq!(whoami(&desk_one).0, 200);

    let show = app.cli_json(&["agency", "show", &id.to_string()]);
    assert_eq!(show["agency"]["id"], id);
    assert!(
        show["unused_tokens"].as_array().unwrap().is_empty(),
        "{show}"
    );
    let desks = show["desks"].as_array().unwrap();
    assert_eq!(desks.len(), 2, "{show}");
    assert_eq!(desks[0]["lineage"], desk_one.serial.as_str());
    assert_eq!(desks[0]["live"][0]["serial"], desk_one.serial.as_str());
    assert!(desks[0]["live"][0]["first_used_at"].is_string());
    assert_eq!(desks[1]["lineage"], desk_two.serial.as_str());
    let live_two: Vec<&str> = desks[1]["live"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["serial"].as_str().unwrap())
        .collect();
    assert_eq!(
        live_two,
        [renewed.serial.as_str(), desk_two.serial.as_str()]
    );
    assert!(desks[1]["live"][0]["first_used_at"].is_null(), "{show}");
    assert_eq!(show["live_certificates"], 3);
    let (ok, text, _) = app.cli(["agency", "show", &id.to_string()]);
    assert!(ok.success());
    assert!(
        text.contains("2 desk(s), 3 live certificate(s)")
            && text.contains("not used yet")
            && text.contains("no unused enrolment token"),
        "{text}"
    );

    // `agency list` counts live certificates, in text and JSON.
    let list = app.cli_json(&["agency", "list"]);
    assert_eq!(list[0]["live_certificates"], 3, "{list}");
    assert_eq!(
        list[0]["name"], "Acme Homes",
        "the agency's own fields stay"
    );
    let (_, text, _) = app.cli(["agency", "list"]);
    assert!(text.lines().next().unwrap().contains("live"), "{text}");
    let (ok, _, err) = app.cli(["agency", "show", "999"]);
    assert!(
        !ok.success() && err.contains("no agency with id 999"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Listings signed by a compromised key leave search and alerts until signed again.

fn titled(key: &str, title: &str, secs: i64) -> ListingDocument {
    let mut d = ListingDocument::example(key);
    d.title = title.to_owned();
    d.modification_timestamp += time::Duration::seconds(secs);
    d
}

fn listing_id(db: &TestDb, key: &str) -> i64 {
    let mut conn = db.db.get().unwrap();
    platform::with_conn!(&mut conn, |c| listings::table
        .filter(listings::listing_key.eq(key))
        .select(listings::id)
        .first(c))
    .unwrap()
}

fn match_rows(db: &TestDb) -> Vec<(i64, String, Option<String>)> {
    let mut conn = db.db.get().unwrap();
    let rows: Vec<(Option<i64>, String, Option<String>)> =
        platform::with_conn!(&mut conn, |c| notifications::table
            .filter(notifications::kind.eq("listing_match"))
            .order(notifications::id.asc())
            .select((
                notifications::listing_id,
                notifications::status,
                notifications::last_error,
            ))
            .load(c))
        .unwrap();
    rows.into_iter()
        .map(|(l, s, e)| (l.unwrap_or(0), s, e))
        .collect()
}

/// The text of every match email the sink received.
fn match_mails(sink: &SmtpSink) -> Vec<String> {
    sink.messages()
        .iter()
        .filter_map(|m| {
            let parsed = mail_parser::MessageParser::default().parse(&m.data)?;
            let text = parsed.body_text(0)?.into_owned();
            text.contains("Bright").then_some(text)
        })
        .collect()
}

#[test]
fn listings_signed_by_a_compromised_key_leave_search_and_alerts_until_signed_again() {
    held_listings(TestDb::sqlite());
}

#[test]
fn listings_signed_by_a_compromised_key_leave_search_and_alerts_until_signed_again_postgres() {
    let Some(db) = TestDb::postgres("trust::held_listings_postgres") else {
        return;
    };
    held_listings(db);
}

fn held_listings(db: TestDb) {
    const OLD: &str = "Bright flat signed before the theft";
    const NEW: &str = "Bright flat signed after the theft";
    let sink = SmtpSink::start();
    let app = builder(&db)
        .args([
            "--smtp-host",
            "127.0.0.1",
            "--smtp-tls",
            "none",
            "--mail-poll-interval-ms",
            "100",
            "--mail-batch-window-secs",
            "8",
        ])
        .args(["--smtp-port".to_owned(), sink.port().to_string()])
        .spawn()
        .expect("platform starts");
    let AddedAgency {
        id: acme_id,
        root_pem: root,
        ..
    } = add_agency(&app, "Acme Homes", "AMI-1");
    let acme_token = app.cli_json(&["agency", "token", &acme_id.to_string()]);
    let acme = TestAgency::enroll(
        &app.agency_url(),
        &root,
        acme_token["token"].as_str().unwrap(),
    );
    let watcher = enrolled(&app, "Watcher Estates", "WE-9");
    // The watcher keeps a tenant's wishes on the platform: matches are mailed to it.
    let r = watcher
        .client()
        .post(watcher.url("/api/v1/saved-searches"))
        .json(&serde_json::json!({"name": "Tenant 17", "criteria": {"city": "Lisbon", "max_price": 400000}}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);

    assert_eq!(acme.publish(&titled("OLD-1", OLD, 0)).0, 201);
    std::thread::sleep(Duration::from_millis(20));
    let stolen_at = OffsetDateTime::now_utc();
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(acme.publish(&titled("NEW-1", NEW, 0)).0, 201);
    let (old_id, new_id) = (listing_id(&db, "OLD-1"), listing_id(&db, "NEW-1"));
    assert_eq!(match_rows(&db).len(), 2, "both matched, mail not yet due");

    // The key was stolen in between: what arrived after is held; what came before stays.
    let out = app.cli_json(&[
        "cert",
        "revoke",
        &acme.serial,
        "--reason",
        "key_compromise",
        "--compromised-since",
        &rfc3339(stolen_at),
    ]);
    assert_eq!(out["held_listings"], 1, "{out}");
    let hold = app.cli_json(&["audit", "--action", "listing.hold"]);
    assert_eq!(hold[0]["subject"], acme.serial.as_str());

    // Alerts: the held listing's match is cancelled, never mailed; the other one goes out.
    wait_until(
        "the old listing's match is mailed",
        Duration::from_secs(40),
        || !match_mails(&sink).is_empty(),
    );
    wait_until(
        "both match rows are settled",
        Duration::from_secs(10),
        || {
            match_rows(&db)
                .iter()
                .all(|(_, s, _)| s != "pending" && s != "sending")
        },
    );
    let mails = match_mails(&sink);
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert!(
        mails[0].contains(OLD) && !mails[0].contains(NEW),
        "{}",
        mails[0]
    );
    let rows = match_rows(&db);
    let new_row = rows.iter().find(|(l, _, _)| *l == new_id).unwrap();
    assert_eq!(new_row.1, "cancelled");
    assert!(
        new_row
            .2
            .as_deref()
            .unwrap()
            .contains("reported compromised"),
        "{new_row:?}"
    );
    assert_eq!(
        rows.iter().find(|(l, _, _)| *l == old_id).unwrap().1,
        "sent"
    );

    // Search: gone from the website and from the agency search.
    let web = platform::testing::http_client();
    let page = web
        .get(app.url("/search?city=Lisbon"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains(OLD) && !page.contains(NEW), "{page}");
    let agency_search = |a: &TestAgency| -> Vec<String> {
        let body: serde_json::Value = a
            .client()
            .post(a.url("/api/v1/search"))
            .json(&serde_json::json!({"criteria": {"city": "Lisbon"}}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(
            body["total"].as_i64().unwrap() as usize,
            body["listings"].as_array().unwrap().len()
        );
        body["listings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["ListingKey"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(agency_search(&watcher), ["OLD-1"]);

    // The listing page says why instead of "Signature verified".
    let held_page = web
        .get(app.url(&format!("/listings/{new_id}")))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let today = rfc3339(OffsetDateTime::now_utc())[..10].to_owned();
    assert!(
        held_page.contains(&format!(
            "the agency's signing key was reported compromised on {today}"
        )) && held_page.contains("hidden from search and alerts until the agency signs it again"),
        "{held_page}"
    );
    assert!(!held_page.contains("Signature verified"), "{held_page}");
    let old_page = web
        .get(app.url(&format!("/listings/{old_id}")))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(old_page.contains("Signature verified"), "{old_page}");

    // Acme enrols again; its own view of the listing says it is held (so its desk knows what
    // to sign again). Signed again: back in search, and now alerted.
    let token = app.cli_json(&["agency", "token", &acme_id.to_string()]);
    let acme2 = TestAgency::enroll(&app.agency_url(), &root, token["token"].as_str().unwrap());
    let (_, own_new) = acme2.get("/api/v1/listings/NEW-1");
    assert!(own_new["held_at"].is_string(), "{own_new}");
    let (_, own) = acme2.get("/api/v1/listings/OLD-1");
    assert!(own["held_at"].is_null(), "{own}");
    // The new desk names the version it signs again (the held listing's, from GET).
    let etag = format!("\"{}\"", own_new["version"]);
    let (status, body, _) = acme2.send_versioned(
        reqwest::Method::PUT,
        &titled("NEW-1", NEW, 60),
        &[("If-Match", &etag)],
    );
    assert_eq!(
        (status, body["outcome"].as_str()),
        (200, Some("updated")),
        "{body}"
    );
    let page = web
        .get(app.url("/search?city=Lisbon"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains(OLD) && page.contains(NEW), "{page}");
    assert!(acme2.get("/api/v1/listings/NEW-1").1["held_at"].is_null());
    let mut keys = agency_search(&watcher);
    keys.sort();
    assert_eq!(keys, ["NEW-1", "OLD-1"]);
    let signed_again = web
        .get(app.url(&format!("/listings/{new_id}")))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        signed_again.contains("Signature verified") && signed_again.contains(&acme2.serial),
        "{signed_again}"
    );
    wait_until(
        "the re-signed listing is mailed",
        Duration::from_secs(40),
        || match_mails(&sink).len() == 2,
    );
    let mails = match_mails(&sink);
    assert!(
        mails[1].contains(NEW) && !mails[1].contains(OLD),
        "{}",
        mails[1]
    );
}

// ---------------------------------------------------------------------------------------------
// Revocation reaches a kept-alive connection to another process at once.

/// One TLS connection with the agency's certificate, kept open across requests (HTTP/1.1
/// keep-alive), so a test knows the next request goes over the same connection.
struct KeptConnection {
    tls: rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>,
    host: String,
}

impl KeptConnection {
    fn open(addr: SocketAddr, a: &TestAgency) -> KeptConnection {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(a.root_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let chain = CertificateDer::pem_slice_iter(a.chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(a.key.to_pem().as_bytes()).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
        let conn = rustls::ClientConnection::new(
            Arc::new(config),
            ServerName::IpAddress(addr.ip().into()),
        )
        .unwrap();
        let tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        tcp.set_nodelay(true).unwrap();
        KeptConnection {
            tls: rustls::StreamOwned::new(conn, tcp),
            host: addr.to_string(),
        }
    }

    /// `GET path` on this connection; status and JSON body.
    fn get(&mut self, path: &str) -> (u16, serde_json::Value) {
        write!(
            self.tls,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: keep-alive\r\n\r\n",
            self.host
        )
        .unwrap();
        self.tls.flush().unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            self.tls.read_exact(&mut byte).expect("response head");
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().unwrap())
            })
            .expect("a content-length");
        assert!(
            !head.to_ascii_lowercase().contains("connection: close"),
            "the server keeps the connection: {head}"
        );
        let mut body = vec![0u8; length];
        self.tls.read_exact(&mut body).unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }
}

#[test]
fn revocation_through_the_cli_refuses_the_next_request_on_another_process_sqlite() {
    revocation_reaches_another_process(TestDb::sqlite());
}

#[test]
fn revocation_through_the_cli_refuses_the_next_request_on_another_process_postgres() {
    let Some(db) = TestDb::postgres("trust::revocation_reaches_another_process_postgres") else {
        return;
    };
    revocation_reaches_another_process(db);
}

fn revocation_reaches_another_process(db: TestDb) {
    let a = builder(&db).spawn().expect("process A starts");
    // Process B: another node on the same database, with the same CA.
    let b = builder(&db)
        .data_dir(a.data_dir.clone())
        .spawn()
        .expect("process B starts");
    assert_ne!(a.agency_addr, b.agency_addr);
    let b_addr = b.agency_addr.unwrap();
    let mut latencies = Vec::new();
    for round in 0..5 {
        let agency = enrolled(&a, &format!("Agency {round}"), &format!("AG-{round}"));
        let mut kept = KeptConnection::open(b_addr, &agency);
        assert_eq!(kept.get("/api/v1/agency").0, 200);
        assert_eq!(kept.get("/api/v1/changes/count").0, 200);

        let (ok, _, err) = a.cli([
            "cert",
            "revoke",
            &agency.serial,
            "--reason",
            "key_compromise",
        ]);
        let exited = Instant::now();
        let (status, body) = kept.get("/api/v1/agency");
        let latency = exited.elapsed();
        assert!(ok.success(), "{err}");
        assert_eq!(
            (status, error_code(&body)),
            (403, "certificate_revoked"),
            "{body}"
        );
        latencies.push(latency);
    }
    latencies.sort();
    eprintln!(
        "revocation-to-refusal on another process ({}): min {:?} median {:?} max {:?}",
        if db.is_postgres() {
            "postgresql"
        } else {
            "sqlite"
        },
        latencies[0],
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
}
