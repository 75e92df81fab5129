//! The certificate authority's custody and lifecycle, end to end with the real `platform`
//! binary and real TLS: certificates that name their CRL and issuer, checked by `openssl verify
//! -crl_check_all`; CRL numbers that only go up, across two processes on one database; the
//! agency port's server certificate renewed while running; the root key exported, removed and
//! brought back for an issuing-CA rollover with overlap; and a production start that refuses
//! unencrypted keys until `platform ca encrypt-keys`.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use api_types::ListingDocument;
use e2e_tests::{PlatformBuilder, PlatformProcess, enrolled, platform};
use platform::testing::agency::{TestAgency, anonymous_client, fetch_root};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// The same binary on the data directory and database of `app`, for commands that need their
/// own environment.
fn beside(app: &PlatformProcess, database_url: Option<&str>) -> PlatformBuilder {
    let b = platform().data_dir(&app.data_dir);
    match database_url {
        Some(url) => b.database_url(url),
        None => b,
    }
}

/// GET without a client certificate; status and body.
fn download(root_pem: &str, url: &str) -> (u16, Vec<u8>) {
    let r = anonymous_client(root_pem).get(url).send().unwrap();
    (r.status().as_u16(), r.bytes().unwrap().to_vec())
}

fn ok_download(root_pem: &str, url: &str) -> Vec<u8> {
    let (status, body) = download(root_pem, url);
    assert_eq!(status, 200, "{url}: {}", String::from_utf8_lossy(&body));
    body
}

fn der_of_pem(text: &[u8]) -> Vec<u8> {
    pem::parse(text).unwrap().into_contents()
}

/// CRL number and listed serials of a CRL (PEM or DER).
fn crl_content(bytes: &[u8]) -> (u64, Vec<String>) {
    let der = if bytes.starts_with(b"-----") {
        der_of_pem(bytes)
    } else {
        bytes.to_vec()
    };
    let (_, crl) = x509_parser::parse_x509_crl(&der).unwrap();
    let number = crl.crl_number().unwrap().to_string().parse().unwrap();
    let mut serials: Vec<String> = crl
        .iter_revoked_certificates()
        .map(|r| ca::inspect::serial_hex(r.raw_serial()))
        .collect();
    serials.sort();
    (number, serials)
}

/// The path (from `/ca/`) of a URL written in a certificate, fetched from the running process
/// (the configured public URL names the default port, the test's process runs on another).
fn path_of(url: &str) -> String {
    url[url.find("/ca/").unwrap_or_else(|| panic!("{url}"))..].to_owned()
}

/// The certificate chain the agency port serves to a new TLS connection, which is verified
/// against `root_pem` alone for the name 127.0.0.1.
fn served_chain(app: &PlatformProcess, root_pem: &str) -> Vec<Vec<u8>> {
    platform::testing::install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut sock = std::net::TcpStream::connect(app.agency_addr.unwrap()).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)
            .expect("TLS handshake verified against the root");
    }
    conn.peer_certificates()
        .unwrap()
        .iter()
        .map(|c| c.to_vec())
        .collect()
}

fn openssl_available(test: &str) -> bool {
    let found = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        platform::testing::skip(test, "openssl not found on PATH");
    }
    found
}

fn openssl(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `openssl verify -crl_check_all` of `leaf` (PEM) through `issuing` (PEM) to `root` (PEM),
/// with the issuing CA's and the root's CRLs.
fn openssl_verify(
    dir: &Path,
    root: &[u8],
    issuing: &[u8],
    crl: &[u8],
    root_crl: &[u8],
    leaf: &str,
) -> (bool, String) {
    std::fs::write(dir.join("root.pem"), root).unwrap();
    std::fs::write(dir.join("issuing.pem"), issuing).unwrap();
    std::fs::write(dir.join("crl.pem"), crl).unwrap();
    std::fs::write(dir.join("root-crl.pem"), root_crl).unwrap();
    std::fs::write(dir.join("leaf.pem"), leaf).unwrap();
    openssl(
        &[
            "verify",
            "-crl_check_all",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "issuing.pem",
            "-CRLfile",
            "crl.pem",
            "-CRLfile",
            "root-crl.pem",
            "leaf.pem",
        ],
        dir,
    )
}

fn leaf_pem(agency: &TestAgency) -> String {
    let der = ca::inspect::parse_chain_pem(&agency.chain_pem)
        .unwrap()
        .remove(0);
    pem::encode(&pem::Pem::new("CERTIFICATE", der))
}

fn audit_actions(app: &PlatformProcess) -> Vec<String> {
    app.cli_json(&["audit", "--limit", "500"])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn certificates_name_their_crl_and_issuer_and_openssl_checks_both_crls() {
    let app = platform().spawn().expect("platform starts");
    let a = enrolled(&app, "Acme Homes", "AMI-1");
    let b = enrolled(&app, "Beta Realty", "BR-2");
    let base = app.agency_url();
    let root = a.root_pem.clone();

    // Every download works without a client certificate, DER and PEM alike.
    let root_der = ok_download(&root, &format!("{base}/ca/root.der"));
    assert_eq!(root_der, der_of_pem(root.as_bytes()));
    let issuing_der = ok_download(&root, &format!("{base}/ca/issuing.der"));
    let issuing_pem = ok_download(&root, &format!("{base}/ca/issuing.pem"));
    assert_eq!(der_of_pem(&issuing_pem), issuing_der);
    let chain = ok_download(&root, &format!("{base}/ca/chain.pem"));
    assert_eq!(
        ca::inspect::parse_chain_pem(std::str::from_utf8(&chain).unwrap()).unwrap(),
        vec![issuing_der.clone(), root_der.clone()]
    );
    let crl_pem = ok_download(&root, &format!("{base}/ca/crl.pem"));
    let crl_der = ok_download(&root, &format!("{base}/ca/crl.der"));
    assert_eq!(der_of_pem(&crl_pem), crl_der, "the same CRL in both forms");
    let root_crl_pem = ok_download(&root, &format!("{base}/ca/root-crl.pem"));
    let root_crl_der = ok_download(&root, &format!("{base}/ca/root-crl.der"));
    assert_eq!(der_of_pem(&root_crl_pem), root_crl_der);
    let (first_number, listed) = crl_content(&crl_pem);
    assert!(listed.is_empty());
    let (root_number, root_listed) = crl_content(&root_crl_der);
    assert!(root_listed.is_empty());
    assert_ne!(root_number, first_number);

    // The addresses written in the certificates lead to those very downloads.
    let leaf = ca::inspect::parse_certificate_pem(&a.chain_pem).unwrap();
    assert_eq!(leaf.crl_urls.len(), 1);
    assert!(
        leaf.crl_urls[0].starts_with("https://127.0.0.1:8443/ca/issuing/"),
        "the agency public URL by default: {:?}",
        leaf.crl_urls
    );
    assert_eq!(
        ok_download(&root, &format!("{base}{}", path_of(&leaf.crl_urls[0]))),
        crl_der
    );
    assert_eq!(
        ok_download(
            &root,
            &format!("{base}{}", path_of(&leaf.ca_issuer_urls[0]))
        ),
        issuing_der
    );
    let issuing = ca::inspect::parse_certificate_der(&issuing_der).unwrap();
    assert_eq!(path_of(&issuing.crl_urls[0]), "/ca/root-crl.der");
    assert_eq!(path_of(&issuing.ca_issuer_urls[0]), "/ca/root.der");
    let server = ca::inspect::parse_certificate_der(&served_chain(&app, &root)[0]).unwrap();
    assert_eq!(server.crl_urls, leaf.crl_urls, "the server certificate too");
    assert!(server.not_after <= issuing.not_after);

    // Unknown CAs are a clear 404.
    for path in [
        "/ca/issuing/zz.der",
        "/ca/issuing/00ff.der",
        "/ca/issuing/00ff/crl.der",
    ] {
        let (status, body) = download(&root, &format!("{base}{path}"));
        assert_eq!(status, 404, "{path}");
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(
            body["error"]["message"].as_str().unwrap().len() > 10,
            "{body}"
        );
    }

    // openssl: both agencies' certificates check out against both CRLs ...
    if !openssl_available(
        "ca_custody::certificates_name_their_crl_and_issuer_and_openssl_checks_both_crls",
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for agency in [&a, &b] {
        let (ok, text) = openssl_verify(
            dir,
            root.as_bytes(),
            &issuing_pem,
            &crl_pem,
            &root_crl_pem,
            &leaf_pem(agency),
        );
        assert!(ok && text.contains("leaf.pem: OK"), "{text}");
    }
    // ... until one is revoked: the next CRL says so, the other stays fine.
    let (ok, out, err) = app.cli(["cert", "revoke", &a.serial, "--reason", "key_compromise"]);
    assert!(ok.success(), "{out}{err}");
    let crl_pem = ok_download(&root, &format!("{base}/ca/crl.pem"));
    let (number, listed) = crl_content(&crl_pem);
    assert!(number > first_number);
    assert_eq!(listed, vec![a.serial.clone()]);
    let (ok, text) = openssl_verify(
        dir,
        root.as_bytes(),
        &issuing_pem,
        &crl_pem,
        &root_crl_pem,
        &leaf_pem(&a),
    );
    assert!(!ok && text.contains("certificate revoked"), "{text}");
    let (ok, text) = openssl_verify(
        dir,
        root.as_bytes(),
        &issuing_pem,
        &crl_pem,
        &root_crl_pem,
        &leaf_pem(&b),
    );
    assert!(ok, "{text}");
}

/// Two processes on one database (each with its own copy of the CA directory): revocations
/// made through either show up in the next CRL of both, with a higher number, and both hand out
/// the same CRL.
fn crl_numbers_across_two_processes(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let first = platform()
        .data_dir(dir.path().join("one"))
        .database_url(url)
        .spawn()
        .expect("first node");
    let second_dir = dir.path().join("two");
    std::fs::create_dir_all(second_dir.join("ca")).unwrap();
    for f in ["root.crt", "root.key", "issuing.crt", "issuing.key"] {
        std::fs::copy(
            first.data_dir.join("ca").join(f),
            second_dir.join("ca").join(f),
        )
        .unwrap();
    }
    let second = platform()
        .data_dir(&second_dir)
        .database_url(url)
        .spawn()
        .expect("second node");
    let a = enrolled(&first, "Acme Homes", "AMI-1");
    let b = enrolled(&first, "Beta Realty", "BR-2");
    let c = enrolled(&second, "Casa Nova", "CN-3");
    let root = a.root_pem.clone();
    let crl = |node: &PlatformProcess| {
        let pem = ok_download(&root, &format!("{}/ca/crl.pem", node.agency_url()));
        (crl_content(&pem), pem)
    };

    let ((n0, listed), pem0) = crl(&first);
    assert!(listed.is_empty());
    assert_eq!(crl(&second).1, pem0, "the same stored CRL from both");

    let (ok, _, err) = first.cli(["cert", "revoke", &a.serial, "--reason", "key_compromise"]);
    assert!(ok.success(), "{err}");
    let ((n1, listed), pem1) = crl(&second);
    assert!(n1 > n0, "{n1} > {n0}");
    assert_eq!(listed, vec![a.serial.clone()]);
    assert_eq!(crl(&first).1, pem1);

    let (ok, _, err) = second.cli(["cert", "revoke", &b.serial, "--reason", "superseded"]);
    assert!(ok.success(), "{err}");
    let ((n2, listed), _) = crl(&first);
    assert!(n2 > n1);
    let mut want = vec![a.serial.clone(), b.serial.clone()];
    want.sort();
    assert_eq!(listed, want);

    // Both nodes asked at once after a revocation: one new CRL, the same for both, higher still.
    let (ok, _, err) = first.cli(["cert", "revoke", &c.serial, "--reason", "unspecified"]);
    assert!(ok.success(), "{err}");
    let results: Vec<(u64, Vec<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = [&first, &second, &first, &second]
            .into_iter()
            .map(|node| {
                let root = root.clone();
                let url = format!("{}/ca/crl.der", node.agency_url());
                s.spawn(move || crl_content(&ok_download(&root, &url)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (number, listed) in &results {
        assert!(*number > n2, "{number} > {n2}");
        assert_eq!(listed.len(), 3, "{listed:?}");
    }
    let numbers: Vec<u64> = results.iter().map(|r| r.0).collect();
    assert!(
        numbers.iter().all(|n| *n == numbers[0]),
        "one CRL for everyone: {numbers:?}"
    );
}

#[test]
fn crl_numbers_only_go_up_across_two_processes_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shared.db").display());
    crl_numbers_across_two_processes(&url);
}

#[test]
fn crl_numbers_only_go_up_across_two_processes_on_postgres() {
    let Some((url, _guard)) = platform::testing::db::fresh_postgres_database(
        "ca_custody::crl_numbers_only_go_up_across_two_processes_on_postgres",
    ) else {
        return;
    };
    crl_numbers_across_two_processes(&url);
}

#[test]
fn the_server_certificate_renews_itself_while_running() {
    // Renewal due at once (400 days wanted, 365 given), checked every second.
    let mut app = platform()
        .args([
            "--ca-server-renew-days",
            "400",
            "--ca-check-interval-secs",
            "1",
        ])
        .spawn()
        .expect("platform starts");
    let pid = app.pid();
    let a = enrolled(&app, "Acme Homes", "AMI-1");
    let root = a.root_pem.clone();
    let first = served_chain(&app, &root);
    let first_serial = ca::inspect::parse_certificate_der(&first[0])
        .unwrap()
        .serial;

    let deadline = Instant::now() + Duration::from_secs(30);
    let renewed = loop {
        let chain = served_chain(&app, &root);
        if chain[0] != first[0] {
            break chain;
        }
        assert!(
            Instant::now() < deadline,
            "still serving {first_serial} after 30 s: {:#?}",
            app.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(app.pid(), pid, "no restart");
    assert!(app.try_wait().is_none(), "still running");
    let info = ca::inspect::parse_certificate_der(&renewed[0]).unwrap();
    assert_ne!(info.serial, first_serial);
    assert!(info.eku_server_auth);
    assert!(info.san_ips.iter().any(|ip| ip.to_string() == "127.0.0.1"));
    // It chains to the root (the handshake checked that) through the issuing CA.
    let issuing = ok_download(&root, &format!("{}/ca/issuing.der", app.agency_url()));
    assert_eq!(renewed[1], issuing);
    assert!(ca::inspect::is_signed_by(&renewed[0], &issuing));
    assert!(info.days_left(time::OffsetDateTime::now_utc()) >= 364);

    // Registered and audited; the agency still gets in over a new connection.
    let certs = app.cli_json(&["cert", "list"]);
    let servers: Vec<&serde_json::Value> = certs
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "server")
        .collect();
    assert!(servers.len() >= 2, "{servers:?}");
    assert!(servers.iter().any(|c| c["serial"] == info.serial.as_str()));
    let audit = app.cli_json(&["audit", "--action", "cert.issue_server", "--limit", "100"]);
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["detail"].as_str().unwrap().contains("\"renewal\"")),
        "{audit}"
    );
    assert_eq!(a.get("/api/v1/agency").0, 200);
    let on_disk = std::fs::read_to_string(app.data_dir.join("tls/server.crt")).unwrap();
    let on_disk = ca::inspect::parse_certificate_pem(&on_disk).unwrap();
    assert!(
        servers
            .iter()
            .any(|c| c["serial"] == on_disk.serial.as_str())
    );

    // Expiry is a metric, by role.
    let metrics = platform::testing::http_client()
        .get(app.admin("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let value = |role: &str| -> i64 {
        let prefix = format!("platform_ca_expiry_seconds{{role=\"{role}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {prefix} in:\n{metrics}"))
            .trim()
            .parse()
            .unwrap()
    };
    let day = 86_400;
    assert!((364 * day..=365 * day).contains(&value("server")));
    assert!((5 * 365 - 1) * day <= value("issuing") && value("issuing") <= 5 * 365 * day);
    assert!(value("root") > 9 * 365 * day);
    assert!(value("root_crl") > 364 * day);
}

#[test]
fn the_root_key_goes_offline_and_comes_back_for_a_rollover_with_overlap() {
    let mut app = platform().spawn().expect("platform starts");
    let data = app.data_dir.clone();
    let mut a = enrolled(&app, "Acme Homes", "AMI-1");
    let root = a.root_pem.clone();
    let mut doc = ListingDocument::example("A-1");
    assert_eq!(a.publish(&doc).0, 201);
    let first_issuing = ok_download(&root, &format!("{}/ca/issuing.der", app.agency_url()));
    let first_root_crl = crl_content(&ok_download(
        &root,
        &format!("{}/ca/root-crl.der", app.agency_url()),
    ))
    .0;

    // Removing the root key needs an export first, then --yes.
    let (ok, _, err) = app.cli(["ca", "remove-root", "--yes"]);
    assert!(
        !ok.success() && err.contains("no export of the root key"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let export = data.parent().unwrap().join("root-export.pem");
    let passphrase = "correct horse battery staple";
    let exporter = |p: &str| {
        beside(&app, None)
            .env("PLATFORM_CA_EXPORT_PASSPHRASE", p)
            .run_to_exit(
                ["ca", "export-root", "--out", export.to_str().unwrap()],
                Duration::from_secs(60),
            )
            .unwrap()
    };
    let (status, _, err) = exporter("short");
    assert!(!status.success() && err.contains("too short"), "{err}");
    assert!(!export.exists());
    let (status, out, err) = exporter(passphrase);
    assert!(status.success(), "{err}");
    assert!(out.contains("exported"), "{out}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&export).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let exported = std::fs::read_to_string(&export).unwrap();
    assert!(exported.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(exported.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    assert!(!exported.contains("-----BEGIN PRIVATE KEY-----"));
    let (status, _, err) = exporter(passphrase);
    assert!(!status.success() && err.contains("already exists"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&export).unwrap(),
        exported,
        "not overwritten"
    );

    let (ok, _, err) = app.cli(["ca", "remove-root"]);
    assert!(!ok.success() && err.contains("--yes"), "{err}");
    assert!(data.join("ca/root.key").exists());
    let removed = app.cli_json(&["ca", "remove-root", "--yes"]);
    assert!(!data.join("ca/root.key").exists());
    let offline_root_crl = removed["root_crl_number"].as_u64().unwrap();
    assert!(
        offline_root_crl > first_root_crl,
        "signed afresh as the root goes offline"
    );
    let status = app.cli_json(&["ca", "status"]);
    assert_eq!(status["certificates"][0]["role"], "root");
    assert_eq!(status["certificates"][0]["key"], "offline");
    assert!(status["certificates"][0]["exported_at"].is_string());
    assert!(status["problem"].is_null(), "{status}");

    // Root offline: the platform starts, authenticates, enrols and publishes.
    assert!(app.terminate(Duration::from_secs(15)).unwrap().success());
    let mut app = platform()
        .data_dir(&data)
        .spawn()
        .expect("starts with the root offline");
    a.base_url = app.agency_url();
    assert_eq!(a.get("/api/v1/agency").0, 200);
    let b = enrolled(&app, "Beta Realty", "BR-2");
    assert_eq!(b.publish(&ListingDocument::example("B-1")).0, 201);
    assert_eq!(
        crl_content(&ok_download(
            &root,
            &format!("{}/ca/root-crl.der", app.agency_url())
        ))
        .0,
        offline_root_crl,
        "the root's CRL stays published while the root is offline"
    );

    // Rollover with the export: the wrong passphrase is refused, nothing changes.
    let roller = |p: &str| {
        beside(&app, None)
            .env("PLATFORM_CA_EXPORT_PASSPHRASE", p)
            .run_to_exit(
                [
                    "ca",
                    "rollover",
                    "--root-key",
                    export.to_str().unwrap(),
                    "--json",
                ],
                Duration::from_secs(120),
            )
            .unwrap()
    };
    // Under --json the refusal is a JSON error on stdout.
    let (status, out, err) = roller("wrong passphrase here");
    assert!(
        !status.success() && json_error(&out).contains("could not be decrypted"),
        "{out}{err}"
    );
    assert_eq!(
        std::fs::read(data.join("ca/issuing.crt")).unwrap(),
        pem::encode_config(
            &pem::Pem::new("CERTIFICATE", first_issuing.clone()),
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF)
        )
        .into_bytes()
    );
    let (status, out, err) = roller(passphrase);
    assert!(status.success(), "{err}");
    let rolled: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(rolled["root_crl_number"].as_u64().unwrap() > offline_root_crl);
    assert!(
        !data.join("ca/root.key").exists(),
        "the root key is never written"
    );
    // Nowhere under the data directory is the root key, in clear or as exported.
    let encrypted_block = pem::parse_many(&exported)
        .unwrap()
        .into_iter()
        .find(|b| b.tag() == "ENCRYPTED PRIVATE KEY")
        .unwrap();
    let plain_root =
        ca::keys::PrivateKey::from_pem(&pem::encode(&encrypted_block), Some(passphrase))
            .unwrap()
            .to_pem();
    assert_eq!(
        plain_root.lines().next(),
        Some("-----BEGIN PRIVATE KEY-----")
    );
    let needles = [
        plain_root.lines().nth(1).unwrap().to_owned(),
        pem::encode(&encrypted_block)
            .lines()
            .nth(1)
            .unwrap()
            .to_owned(),
    ];
    for entry in walk(&data) {
        let text = String::from_utf8_lossy(&std::fs::read(&entry).unwrap()).into_owned();
        for needle in &needles {
            assert!(
                !text.contains(needle.as_str()),
                "{} holds the root key",
                entry.display()
            );
        }
    }

    // Restarted, the platform issues from the new issuing CA and still accepts the old one's.
    assert!(app.terminate(Duration::from_secs(15)).unwrap().success());
    let app = platform()
        .data_dir(&data)
        .spawn()
        .expect("starts after rollover");
    a.base_url = app.agency_url();
    let new_issuing = ok_download(&root, &format!("{}/ca/issuing.der", app.agency_url()));
    assert_ne!(new_issuing, first_issuing);
    assert_eq!(
        served_chain(&app, &root)[1],
        new_issuing,
        "server certificate reissued"
    );
    assert_eq!(
        a.get("/api/v1/agency").0,
        200,
        "a certificate of the old CA"
    );
    doc.list_price = api_types::Price::new(doc.list_price.get() + 1000).unwrap();
    doc.modification_timestamp += Duration::from_secs(60);
    let (status, body) = a.publish(&doc);
    assert_eq!(
        (status, body["outcome"].as_str()),
        (200, Some("updated")),
        "{body}"
    );
    let c = enrolled(&app, "Casa Nova", "CN-3");
    let c_chain = ca::inspect::parse_chain_pem(&c.chain_pem).unwrap();
    assert_eq!(
        c_chain[1], new_issuing,
        "new certificates come from the new CA"
    );
    assert_eq!(c.publish(&ListingDocument::example("C-1")).0, 201);

    // Each certificate is served with the issuing CA that signed it; both chain to one root.
    let root_der = der_of_pem(root.as_bytes());
    for (agency, issuing) in [(&a, &first_issuing), (&c, &new_issuing)] {
        let (status, record) = c.get(&format!("/api/v1/certificates/{}", agency.serial));
        assert_eq!(status, 200, "{record}");
        let chain = ca::inspect::parse_chain_pem(record["certificate"].as_str().unwrap()).unwrap();
        assert_eq!(&chain[1], issuing);
        assert!(ca::inspect::is_signed_by(&chain[0], issuing));
        assert!(ca::inspect::is_signed_by(issuing, &root_der));
        // The certificate's own CA-issuers address gives its issuer.
        let leaf = ca::inspect::parse_certificate_der(&chain[0]).unwrap();
        assert_eq!(
            &ok_download(
                &root,
                &format!("{}{}", app.agency_url(), path_of(&leaf.ca_issuer_urls[0]))
            ),
            issuing
        );
    }
    let status = app.cli_json(&["ca", "status"]);
    let roles: Vec<(String, String)> = status["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["role"].as_str().unwrap().to_owned(),
                c["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        [
            ("root".to_owned(), "active".to_owned()),
            ("issuing".to_owned(), "active".to_owned()),
            ("issuing".to_owned(), "retired".to_owned())
        ]
    );
    let actions = audit_actions(&app);
    for action in [
        "ca.create",
        "ca.export_root",
        "ca.remove_root",
        "ca.rollover",
        "crl.sign",
    ] {
        assert!(
            actions.contains(&action.to_owned()),
            "{action} missing: {actions:?}"
        );
    }

    // openssl: each certificate against its own issuer's CRL, found at its CRL address.
    if !openssl_available(
        "ca_custody::the_root_key_goes_offline_and_comes_back_for_a_rollover_with_overlap",
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root_crl = ok_download(&root, &format!("{}/ca/root-crl.pem", app.agency_url()));
    for (agency, issuing) in [(&a, &first_issuing), (&c, &new_issuing)] {
        let leaf = ca::inspect::parse_certificate_pem(&agency.chain_pem).unwrap();
        let crl_der = ok_download(
            &root,
            &format!("{}{}", app.agency_url(), path_of(&leaf.crl_urls[0])),
        );
        let crl = pem::encode(&pem::Pem::new("X509 CRL", crl_der));
        let issuing_pem = pem::encode(&pem::Pem::new("CERTIFICATE", issuing.clone()));
        let (ok, text) = openssl_verify(
            tmp.path(),
            root.as_bytes(),
            issuing_pem.as_bytes(),
            crl.as_bytes(),
            &root_crl,
            &leaf_pem(agency),
        );
        assert!(ok && text.contains("OK"), "{}: {text}", agency.serial);
    }
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn production_refuses_unencrypted_keys_until_they_are_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A development start creates the CA with plain keys.
    let mut dev = platform()
        .data_dir(&data)
        .spawn()
        .expect("development start");
    let root = fetch_root(&dev.agency_url());
    assert!(dev.terminate(Duration::from_secs(15)).unwrap().success());
    let production = || {
        platform()
            .data_dir(&data)
            .env("PLATFORM_PUBLIC_URL", "https://homes.example")
    };
    let (status, _, err) = production()
        .run_to_exit(["serve"], Duration::from_secs(60))
        .unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    for needle in [
        "not encrypted",
        "platform ca encrypt-keys",
        "ca.allow_unencrypted_keys",
    ] {
        assert!(errors[0].contains(needle), "{needle}: {err}");
    }
    // Told otherwise, it starts and warns.
    let allowed = production()
        .args(["--ca-allow-unencrypted-keys"])
        .spawn()
        .expect("allowed");
    assert!(
        allowed
            .logs()
            .iter()
            .any(|l| l.contains("WARN") && l.contains("not encrypted")),
        "{:#?}",
        allowed.logs()
    );
    drop(allowed);

    // encrypt-keys needs a good passphrase from the environment.
    let encrypt = |p: Option<&str>| {
        let mut b = platform().data_dir(&data);
        if let Some(p) = p {
            b = b.env("PLATFORM_CA_PASSPHRASE", p);
        }
        b.run_to_exit(["ca", "encrypt-keys", "--json"], Duration::from_secs(120))
            .unwrap()
    };
    let (status, out, err) = encrypt(None);
    assert!(
        !status.success() && json_error(&out).contains("PLATFORM_CA_PASSPHRASE"),
        "{out}{err}"
    );
    let (status, out, err) = encrypt(Some("short"));
    assert!(
        !status.success() && json_error(&out).contains("too short"),
        "{out}{err}"
    );
    let files = ca::custody::CaFiles::read(&data.join("ca")).unwrap();
    assert_eq!(files.unencrypted_keys().len(), 2, "nothing changed");
    let passphrase = "a passphrase for the CA keys";
    let (status, out, err) = encrypt(Some(passphrase));
    assert!(status.success(), "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["files"].as_array().unwrap().len(), 2);
    let files = ca::custody::CaFiles::read(&data.join("ca")).unwrap();
    assert!(files.unencrypted_keys().is_empty());
    let status = platform()
        .data_dir(&data)
        .run_to_exit(["ca", "status", "--json"], Duration::from_secs(60))
        .unwrap();
    let status: serde_json::Value = serde_json::from_str(&status.1).unwrap();
    for c in status["certificates"].as_array().unwrap() {
        assert_eq!(
            c["key_protection"],
            format!(
                "encrypted (PBKDF2-HMAC-SHA256, {} iterations)",
                ca::keys::CA_PBKDF2_ITERATIONS
            ),
            "{status}"
        );
    }

    // Production with the passphrase: the same CA, running.
    let prod = production()
        .env("PLATFORM_CA_PASSPHRASE", passphrase)
        .spawn()
        .expect("production start with encrypted keys");
    assert_eq!(fetch_root(&prod.agency_url()), root);
    let actions = audit_actions(&prod);
    assert!(
        actions.contains(&"ca.encrypt_keys".to_owned()),
        "{actions:?}"
    );
    drop(prod);
    // Without it: one clear line.
    let (status, _, err) = production()
        .run_to_exit(["serve"], Duration::from_secs(60))
        .unwrap();
    assert!(
        !status.success() && err.contains("PLATFORM_CA_PASSPHRASE"),
        "{err}"
    );

    if openssl_available("ca_custody::production_refuses_unencrypted_keys_until_they_are_encrypted")
    {
        let (ok, text) = openssl(
            &[
                "pkey",
                "-in",
                "issuing.key",
                "-passin",
                &format!("pass:{passphrase}"),
                "-noout",
            ],
            &data.join("ca"),
        );
        assert!(ok, "openssl reads the encrypted key: {text}");
    }
}

#[test]
fn custody_commands_refuse_clearly() {
    let app = platform()
        .env("PLATFORM_CA_PASSPHRASE", "the server's own passphrase")
        .spawn()
        .expect("platform starts");
    let one_line = |(status, _out, err): (std::process::ExitStatus, String, String),
                    needle: &str| {
        assert!(!status.success(), "should fail: {err}");
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
        assert_eq!(errors.len(), 1, "{err}");
        assert!(errors[0].contains(needle), "{needle:?} in {err}");
    };
    let export = app.data_dir.parent().unwrap().join("root.pem");
    let run = |env: &[(&str, &str)], args: &[&str]| {
        let mut b = beside(&app, None).env("PLATFORM_CA_PASSPHRASE", "the server's own passphrase");
        for (k, v) in env {
            b = b.env(k, *v);
        }
        b.run_to_exit(args, Duration::from_secs(120)).unwrap()
    };
    let out = export.to_str().unwrap();

    // The export passphrase must not be the server's.
    one_line(
        run(
            &[(
                "PLATFORM_CA_EXPORT_PASSPHRASE",
                "the server's own passphrase",
            )],
            &["ca", "export-root", "--out", out],
        ),
        "must differ from PLATFORM_CA_PASSPHRASE",
    );
    assert!(!export.exists());
    // Another CA's root key is not accepted for a rollover.
    let other_dir = tempfile::tempdir().unwrap();
    let other =
        ca::CertificateAuthority::load_or_create(other_dir.path(), "Elsewhere", None).unwrap();
    let foreign_export = other
        .export_root(
            &other.root_key(None).unwrap(),
            "foreign export passphrase",
            ca::keys::KdfCost::Pbkdf2Sha256 { iterations: 1_000 },
        )
        .unwrap();
    let foreign = app.data_dir.parent().unwrap().join("foreign.pem");
    std::fs::write(&foreign, foreign_export.as_bytes()).unwrap();
    let issuing_before = std::fs::read(app.data_dir.join("ca/issuing.crt")).unwrap();
    one_line(
        run(
            &[("PLATFORM_CA_EXPORT_PASSPHRASE", "foreign export passphrase")],
            &["ca", "rollover", "--root-key", foreign.to_str().unwrap()],
        ),
        "not the key of the root CA",
    );
    assert_eq!(
        std::fs::read(app.data_dir.join("ca/issuing.crt")).unwrap(),
        issuing_before,
        "nothing rolled over"
    );
    one_line(
        run(
            &[],
            &["ca", "rollover", "--root-key", "/nonexistent/root.pem"],
        ),
        "cannot read the root key file /nonexistent/root.pem",
    );

    // Offline root: nothing to export, nothing to remove, the CRL needs the export.
    let (status, _, err) = run(
        &[("PLATFORM_CA_EXPORT_PASSPHRASE", "the export passphrase")],
        &["ca", "export-root", "--out", out],
    );
    assert!(status.success(), "{err}");
    let (status, out_text, err) = run(&[], &["ca", "remove-root", "--yes"]);
    assert!(status.success(), "{err}");
    assert!(out_text.contains("sign-root-crl"), "{out_text}");
    let again = app.data_dir.parent().unwrap().join("again.pem");
    one_line(
        run(
            &[("PLATFORM_CA_EXPORT_PASSPHRASE", "the export passphrase")],
            &["ca", "export-root", "--out", again.to_str().unwrap()],
        ),
        "already offline",
    );
    assert!(!again.exists());
    one_line(run(&[], &["ca", "remove-root", "--yes"]), "already offline");
    one_line(run(&[], &["ca", "sign-root-crl"]), "--root-key FILE");
    let (status, out_text, err) = run(
        &[("PLATFORM_CA_EXPORT_PASSPHRASE", "the export passphrase")],
        &["ca", "sign-root-crl", "--root-key", out, "--json"],
    );
    assert!(status.success(), "{err}");
    let signed: serde_json::Value = serde_json::from_str(&out_text).unwrap();
    let root_crl = ok_download(
        &fetch_root(&app.agency_url()),
        &format!("{}/ca/root-crl.der", app.agency_url()),
    );
    assert_eq!(
        crl_content(&root_crl).0,
        signed["crl_number"].as_u64().unwrap(),
        "the running platform serves the CRL just signed"
    );
}

#[test]
fn a_running_node_accepts_a_new_issuing_ca_made_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shared.db").display());
    let old_node = platform()
        .data_dir(dir.path().join("old"))
        .database_url(&url)
        .args(["--ca-check-interval-secs", "1"])
        .spawn()
        .expect("first node");
    let a = enrolled(&old_node, "Acme Homes", "AMI-1");
    let root = a.root_pem.clone();

    // The rollover is made on the first node's CA directory, which a second node then uses.
    let export = dir.path().join("root.pem");
    let passphrase = "the export passphrase";
    let (status, _, err) = beside(&old_node, Some(&url))
        .env("PLATFORM_CA_EXPORT_PASSPHRASE", passphrase)
        .run_to_exit(
            ["ca", "export-root", "--out", export.to_str().unwrap()],
            Duration::from_secs(60),
        )
        .unwrap();
    assert!(status.success(), "{err}");
    let (status, _, err) = beside(&old_node, Some(&url))
        .env("PLATFORM_CA_EXPORT_PASSPHRASE", passphrase)
        .run_to_exit(
            ["ca", "rollover", "--root-key", export.to_str().unwrap()],
            Duration::from_secs(60),
        )
        .unwrap();
    assert!(status.success(), "{err}");
    let new_dir = dir.path().join("new");
    copy_dir(&old_node.data_dir.join("ca"), &new_dir.join("ca"));
    let new_node = platform()
        .data_dir(&new_dir)
        .database_url(&url)
        .spawn()
        .expect("second node, with the new CA directory");
    let mut c = enrolled(&new_node, "Casa Nova", "CN-3");
    let new_issuing = ok_download(&root, &format!("{}/ca/issuing.der", new_node.agency_url()));
    assert_eq!(
        ca::inspect::parse_chain_pem(&c.chain_pem).unwrap()[1],
        new_issuing
    );

    // The node that was not restarted still issues from the old CA, yet accepts the new one's
    // certificates after its next upkeep run, and the old certificates on the new node.
    let old_issuing = ok_download(&root, &format!("{}/ca/issuing.der", old_node.agency_url()));
    assert_ne!(old_issuing, new_issuing);
    c.base_url = old_node.agency_url();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = c.get("/api/v1/agency");
        if status == 200 {
            break;
        }
        assert_eq!(
            body["error"]["code"], "certificate_unknown_issuer",
            "{body}"
        );
        assert!(Instant::now() < deadline, "still refused: {body}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let mut a_on_new = a;
    a_on_new.base_url = new_node.agency_url();
    assert_eq!(a_on_new.get("/api/v1/agency").0, 200);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}

/// The message of a `--json` command's error: `{"error": {"code", "message"}}` on stdout.
fn json_error(stdout: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("a JSON error on stdout ({e}): {stdout}"));
    assert!(v["error"]["code"].is_string(), "{v}");
    v["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}
