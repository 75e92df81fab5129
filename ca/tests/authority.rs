//! Integration tests of the CA: creation and loading, issuance, CRLs, and
//! interoperability with the `openssl` command line tool when it is installed.

use std::fs;
use std::path::Path;
use std::process::Command;

use ca::inspect::{self, Fingerprint, parse_certificate_der, parse_certificate_pem};
use ca::keys::{KeyAlgorithm, PrivateKey};
use ca::sign::{self, SignatureAlgorithm};
use ca::{CaError, CertificateAuthority, ClientProfile, RevocationReason, RevokedEntry};
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::FromDer;

const ORG: &str = "Listing Exchange Test";

fn new_ca(dir: &Path) -> CertificateAuthority {
    CertificateAuthority::load_or_create(dir, ORG, None).unwrap()
}

fn profile() -> ClientProfile {
    ClientProfile::new("agency-42", "Acme Homes", 90)
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn create_then_reload_gives_the_same_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    let first = new_ca(&dir);
    let again = new_ca(&dir);
    assert_eq!(first.root_fingerprint(), again.root_fingerprint());
    assert_eq!(first.issuing_der(), again.issuing_der());
    assert_eq!(first.chain_pem(), again.chain_pem());
    assert_eq!(
        first.chain_pem(),
        format!("{}{}", first.issuing_pem(), first.root_pem())
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("root.key")), 0o600);
        assert_eq!(mode(&dir.join("issuing.key")), 0o600);
        assert_eq!(mode(&dir.join("root.crt")), 0o644);
    }
    // Debug output carries no key material.
    let dbg = format!("{first:?}");
    assert!(dbg.contains("root_fingerprint"));
    let key = fs::read_to_string(dir.join("issuing.key")).unwrap();
    assert!(!dbg.contains(key.lines().nth(1).unwrap()));

    let root = parse_certificate_pem(first.root_pem()).unwrap();
    assert!(root.is_ca);
    assert_eq!(root.subject, format!("CN={ORG} Root CA, O={ORG}"));
    assert_eq!(root.key_algorithm, Some(KeyAlgorithm::EcdsaP256));
    assert!(root.days_left(OffsetDateTime::now_utc()) >= 3649);
    let issuing = parse_certificate_der(first.issuing_der()).unwrap();
    assert!(issuing.is_ca);
    assert_eq!(issuing.issuer, root.subject);
    assert_eq!(issuing.subject, format!("CN={ORG} Issuing CA, O={ORG}"));
    let years5 = issuing.days_left(OffsetDateTime::now_utc());
    assert!((5 * 365 - 1..=5 * 365).contains(&years5), "{years5}");
}

#[test]
fn incomplete_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    new_ca(tmp.path());
    fs::remove_file(tmp.path().join("issuing.key")).unwrap();
    let err = CertificateAuthority::load_or_create(tmp.path(), ORG, None).unwrap_err();
    assert!(err.to_string().contains("issuing.key"), "{err}");
}

#[test]
fn encrypted_keys_need_the_passphrase() {
    let tmp = tempfile::tempdir().unwrap();
    let first = CertificateAuthority::load_or_create(tmp.path(), ORG, Some("s3cret")).unwrap();
    let key = fs::read_to_string(tmp.path().join("root.key")).unwrap();
    assert!(key.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    let again = CertificateAuthority::load_or_create(tmp.path(), ORG, Some("s3cret")).unwrap();
    assert_eq!(first.root_fingerprint(), again.root_fingerprint());

    let err = CertificateAuthority::load_or_create(tmp.path(), ORG, None).unwrap_err();
    assert!(matches!(err, CaError::Passphrase));
    assert_eq!(
        err.to_string(),
        "the CA key could not be decrypted: wrong or missing passphrase (PLATFORM_CA_PASSPHRASE)"
    );
    let err = CertificateAuthority::load_or_create(tmp.path(), ORG, Some("wrong")).unwrap_err();
    assert!(matches!(err, CaError::Passphrase), "{err:?}");
}

#[test]
fn plaintext_keys_load_with_a_passphrase_given() {
    let tmp = tempfile::tempdir().unwrap();
    let first = new_ca(tmp.path());
    let again = CertificateAuthority::load_or_create(tmp.path(), ORG, Some("unused")).unwrap();
    assert_eq!(first.root_fingerprint(), again.root_fingerprint());
}

fn check_client(ca: &CertificateAuthority, key: &PrivateKey) {
    // The CSR asks for something else; the profile wins.
    let csr = key.csr_pem("Evil Corp CA").unwrap();
    let issued = ca.issue_client(&csr, &profile()).unwrap();
    let info = parse_certificate_pem(&issued.pem).unwrap();
    assert_eq!(info.der, issued.der);
    assert_eq!(info.serial, issued.serial);
    assert_eq!(info.fingerprint, issued.fingerprint);
    assert_eq!(info.fingerprint, Fingerprint::of(&issued.der));
    assert_eq!(info.subject, "CN=Acme Homes, O=Acme Homes");
    assert_eq!(issued.subject, info.subject);
    assert_eq!(info.issuer, format!("CN={ORG} Issuing CA, O={ORG}"));
    assert!(info.eku_client_auth);
    assert!(!info.eku_server_auth);
    assert!(!info.is_ca);
    assert_eq!(
        info.san_uris,
        vec!["urn:listing-exchange:agency:agency-42".to_string()]
    );
    assert!(info.san_dns.is_empty() && info.san_ips.is_empty());
    assert_eq!(info.agency_id().as_deref(), Some("agency-42"));
    assert_eq!(info.key_algorithm, Some(key.algorithm()));
    assert_eq!(info.spki_der, key.public_key_der());
    let span = info.not_after - info.not_before;
    assert!(
        (span - Duration::days(90)).abs() <= Duration::minutes(6),
        "validity {span}"
    );
    let now = OffsetDateTime::now_utc();
    assert!(info.is_valid_at(now));
    assert!((89..=90).contains(&info.days_left(now)));
    assert!(!info.is_valid_at(now + Duration::days(91)));
    assert!(info.serial.len() >= 16, "serial {}", info.serial);

    // Extensions as seen by x509-parser: key usage critical digitalSignature only,
    // key identifiers present, signed by the issuing CA which is signed by the root.
    let (_, cert) = x509_parser::parse_x509_certificate(&issued.der).unwrap();
    let ku = cert.key_usage().unwrap().unwrap();
    assert!(ku.critical);
    assert!(ku.value.digital_signature());
    assert!(!ku.value.key_cert_sign());
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth && eku.other.is_empty());
    let bc = cert.basic_constraints().unwrap().unwrap().value;
    assert!(!bc.ca);
    use x509_parser::extensions::ParsedExtension as P;
    let exts: Vec<_> = cert
        .extensions()
        .iter()
        .map(|e| e.parsed_extension())
        .collect();
    assert!(
        exts.iter()
            .any(|e| matches!(e, P::AuthorityKeyIdentifier(_)))
    );
    assert!(exts.iter().any(|e| matches!(e, P::SubjectKeyIdentifier(_))));
    let (_, issuing) = x509_parser::parse_x509_certificate(ca.issuing_der()).unwrap();
    let (_, root) = x509_parser::parse_x509_certificate(ca.root_der()).unwrap();
    cert.verify_signature(Some(issuing.public_key())).unwrap();
    issuing.verify_signature(Some(root.public_key())).unwrap();
    root.verify_signature(None).unwrap();
}

#[test]
fn issues_client_certificates_for_p256_and_ed25519() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = new_ca(tmp.path());
    check_client(&ca, &PrivateKey::generate_p256().unwrap());
    check_client(&ca, &PrivateKey::generate_ed25519().unwrap());
}

fn tamper_signature(csr_pem: &str) -> String {
    let block = pem::parse(csr_pem).unwrap();
    let mut der = block.contents().to_vec();
    let last = der.len() - 3;
    der[last] ^= 0x01;
    pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", der))
}

#[test]
fn tampered_csrs_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = new_ca(tmp.path());
    for key in [
        PrivateKey::generate_p256().unwrap(),
        PrivateKey::generate_ed25519().unwrap(),
    ] {
        let bad = tamper_signature(&key.csr_pem("x").unwrap());
        let err = ca.issue_client(&bad, &profile()).unwrap_err();
        assert!(matches!(err, CaError::Csr(_)), "{err:?}");
        assert!(err.to_string().contains("proof of possession"), "{err}");
    }
}

#[test]
fn garbage_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = new_ca(tmp.path());
    for text in [
        "",
        "hello",
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        ca.root_pem(),
    ] {
        let err = ca.issue_client(text, &profile()).unwrap_err();
        assert!(matches!(err, CaError::Csr(_)), "{text:?}: {err:?}");
    }
}

#[test]
fn p384_csr_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = new_ca(tmp.path());
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let csr = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .serialize_request(&key)
        .unwrap()
        .pem()
        .unwrap();
    let err = ca.issue_client(&csr, &profile()).unwrap_err();
    assert!(matches!(err, CaError::UnsupportedKey(_)), "{err:?}");
}

fn openssl() -> bool {
    let found = Command::new("openssl")
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        eprintln!("\n*** SKIPPED: openssl not found on PATH; interop test not run ***\n");
    }
    found
}

fn run(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn rsa_csr_is_refused() {
    if !openssl() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let ca = new_ca(&tmp.path().join("ca"));
    let (ok, text) = run(
        &[
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=rsa", "-keyout",
            "rsa.key", "-out", "rsa.csr",
        ],
        tmp.path(),
    );
    assert!(ok, "{text}");
    let csr = fs::read_to_string(tmp.path().join("rsa.csr")).unwrap();
    let err = ca.issue_client(&csr, &profile()).unwrap_err();
    assert!(matches!(err, CaError::UnsupportedKey(_)), "{err:?}");
    assert!(err.to_string().contains("RSA"), "{err}");
}

#[test]
fn issues_the_platform_signer_certificate_for_document_signing_only() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = new_ca(tmp.path());
    let key = PrivateKey::generate_p256().unwrap();
    let issued = ca.issue_signer(&key, 365).unwrap();
    let info = parse_certificate_der(&issued.der).unwrap();
    assert_eq!(info.san_uris, vec![ca::PLATFORM_SIGNER_URI.to_string()]);
    assert_eq!(info.agency_id(), None, "names no agency");
    assert!(!info.is_ca && !info.eku_client_auth && !info.eku_server_auth);
    assert!(info.eku_document_signing);
    assert_eq!(info.spki_der, key.public_key_der());
    assert!((364..=365).contains(&info.days_left(OffsetDateTime::now_utc())));
    let (_, cert) = x509_parser::parse_x509_certificate(&issued.der).unwrap();
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    let want = x509_parser::der_parser::oid!(1.3.6.1.5.5.7.3.36);
    assert_eq!(
        eku.other,
        vec![want],
        "id-kp-documentSigning (RFC 9336) and nothing else"
    );
    assert!(!eku.any && !eku.code_signing && !eku.email_protection);
    let usage = cert.key_usage().unwrap().unwrap();
    assert!(usage.critical && usage.value.digital_signature() && !usage.value.key_cert_sign());
    // Chained to the issuing CA.
    let (_, issuing) = x509_parser::parse_x509_certificate(ca.issuing_der()).unwrap();
    cert.verify_signature(Some(issuing.public_key())).unwrap();
    // Never valid past the issuing CA.
    let long = ca.issue_signer(&key, 100 * 365).unwrap();
    let issuing_end = parse_certificate_der(ca.issuing_der()).unwrap().not_after;
    assert_eq!(
        parse_certificate_der(&long.der).unwrap().not_after,
        issuing_end
    );
    // A statement signed with the key verifies with the certificate.
    let sig = key.sign(b"statement").unwrap();
    sign::verify_with_certificate(&issued.der, sig.algorithm, b"statement", &sig.bytes).unwrap();
}

#[test]
fn issues_server_certificates() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = new_ca(tmp.path());
    let key = PrivateKey::generate_p256().unwrap();
    let names = vec![
        "agency.platform.example".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
        "localhost".to_string(),
    ];
    let issued = ca.issue_server(&key, &names, 365).unwrap();
    let info = parse_certificate_der(&issued.der).unwrap();
    assert!(!info.eku_document_signing);
    assert_eq!(info.subject, "CN=agency.platform.example");
    assert_eq!(info.san_dns, vec!["agency.platform.example", "localhost"]);
    assert_eq!(
        info.san_ips,
        vec![
            "127.0.0.1".parse::<std::net::IpAddr>().unwrap(),
            "::1".parse().unwrap()
        ]
    );
    assert!(info.eku_server_auth && !info.eku_client_auth && !info.is_ca);
    assert!(info.san_uris.is_empty());
    assert_eq!(info.agency_id(), None);
    assert!((364..=365).contains(&info.days_left(OffsetDateTime::now_utc())));
    assert!(ca.issue_server(&key, &[], 365).is_err());

    // A signature by the server key verifies against its certificate.
    let sig = key.sign(b"payload").unwrap();
    sign::verify_with_certificate(&issued.der, sig.algorithm, b"payload", &sig.bytes).unwrap();
    assert!(matches!(
        sign::verify_with_certificate(&issued.der, sig.algorithm, b"payloaD", &sig.bytes),
        Err(CaError::Signature(_))
    ));
}

#[test]
fn sign_and_verify_both_key_types() {
    for key in [
        PrivateKey::generate_p256().unwrap(),
        PrivateKey::generate_ed25519().unwrap(),
    ] {
        let msg = b"{\"listing\":1}";
        let sig = key.sign(msg).unwrap();
        let expected = match key.algorithm() {
            KeyAlgorithm::EcdsaP256 => SignatureAlgorithm::EcdsaP256Sha256,
            KeyAlgorithm::Ed25519 => SignatureAlgorithm::Ed25519,
        };
        assert_eq!(sig.algorithm, expected);
        sign::verify(&key.public_key_der(), sig.algorithm, msg, &sig.bytes).unwrap();
        let err = sign::verify(&key.public_key_der(), sig.algorithm, b"other", &sig.bytes);
        assert!(matches!(err, Err(CaError::Signature(_))));
        let other = PrivateKey::generate_p256().unwrap();
        assert!(sign::verify(&other.public_key_der(), sig.algorithm, msg, &sig.bytes).is_err());
    }
}

#[test]
fn fingerprint_roundtrip() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = new_ca(tmp.path());
    let fp = ca.root_fingerprint();
    let shown = fp.to_string();
    assert!(shown.contains(':') && shown == shown.to_uppercase());
    assert_eq!(Fingerprint::parse(&shown), Some(fp));
    assert_eq!(Fingerprint::parse(&fp.to_hex()), Some(fp));
    assert_eq!(Fingerprint::parse(&shown.to_lowercase()), Some(fp));
    assert_eq!(
        parse_certificate_pem(ca.root_pem()).unwrap().fingerprint,
        fp
    );
    let chain = inspect::parse_chain_pem(&ca.chain_pem()).unwrap();
    assert_eq!(
        chain,
        vec![ca.issuing_der().to_vec(), ca.root_der().to_vec()]
    );
}

fn revoke_two(ca: &CertificateAuthority) -> (String, Vec<RevokedEntry>) {
    let now = OffsetDateTime::now_utc();
    let a = ca
        .issue_client(
            &PrivateKey::generate_p256().unwrap().csr_pem("a").unwrap(),
            &profile(),
        )
        .unwrap();
    let b = ca
        .issue_client(
            &PrivateKey::generate_ed25519()
                .unwrap()
                .csr_pem("b")
                .unwrap(),
            &ClientProfile::new("agency-7", "Beta Estates", 30),
        )
        .unwrap();
    let entries = vec![
        RevokedEntry {
            serial: a.serial,
            revoked_at: now - Duration::hours(1),
            reason: RevocationReason::KeyCompromise,
            invalidity_date: Some(
                OffsetDateTime::from_unix_timestamp(now.unix_timestamp() - 3 * 86_400).unwrap(),
            ),
        },
        RevokedEntry {
            serial: b.serial,
            revoked_at: now,
            reason: RevocationReason::Superseded,
            invalidity_date: None,
        },
    ];
    let crl = ca
        .crl_pem(&entries, 7, now, now + Duration::days(7))
        .unwrap();
    (crl, entries)
}

#[test]
fn crl_lists_the_revoked_serials() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = new_ca(tmp.path());
    let (crl_pem, entries) = revoke_two(&ca);
    assert!(crl_pem.starts_with("-----BEGIN X509 CRL-----"));
    let block = pem::parse(&crl_pem).unwrap();
    let (_, crl) =
        x509_parser::revocation_list::CertificateRevocationList::from_der(block.contents())
            .unwrap();
    let serials: Vec<String> = crl
        .iter_revoked_certificates()
        .map(|r| inspect::serial_hex(r.raw_serial()))
        .collect();
    let expected: Vec<String> = entries.iter().map(|e| e.serial.clone()).collect();
    assert_eq!(serials, expected);
    let codes: Vec<u8> = crl
        .iter_revoked_certificates()
        .map(|r| r.reason_code().unwrap().1.0)
        .collect();
    assert_eq!(codes, vec![1, 4]);
    // The key compromise carries its invalidity date (whole seconds), the other entry none.
    let invalidity: Vec<Option<i64>> = crl
        .iter_revoked_certificates()
        .map(|r| r.invalidity_date().map(|(_, t)| t.timestamp()))
        .collect();
    assert_eq!(
        invalidity,
        vec![entries[0].invalidity_date.map(|t| t.unix_timestamp()), None]
    );
    assert_eq!(crl.crl_number().map(|n| n.to_string()), Some("7".into()));
    let (_, issuing) = x509_parser::parse_x509_certificate(ca.issuing_der()).unwrap();
    crl.verify_signature(issuing.public_key()).unwrap();

    let now = OffsetDateTime::now_utc();
    assert!(ca.crl_pem(&[], 1, now, now).is_err());
    let bad = RevokedEntry {
        serial: "not hex".into(),
        revoked_at: now,
        reason: RevocationReason::Unspecified,
        invalidity_date: None,
    };
    assert!(ca.crl_pem(&[bad], 1, now, now + Duration::days(1)).is_err());
}

#[test]
fn openssl_accepts_client_chain_crl_and_keys() {
    if !openssl() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ca =
        CertificateAuthority::load_or_create(&dir.join("ca"), ORG, Some("pass phrase")).unwrap();
    fs::write(dir.join("root.pem"), ca.root_pem()).unwrap();
    fs::write(dir.join("issuing.pem"), ca.issuing_pem()).unwrap();

    for (name, key) in [
        ("p256", PrivateKey::generate_p256().unwrap()),
        ("ed25519", PrivateKey::generate_ed25519().unwrap()),
    ] {
        let issued = ca
            .issue_client(&key.csr_pem(name).unwrap(), &profile())
            .unwrap();
        let file = format!("client-{name}.pem");
        fs::write(dir.join(&file), &issued.pem).unwrap();
        let (ok, text) = run(
            &[
                "verify",
                "-CAfile",
                "root.pem",
                "-untrusted",
                "issuing.pem",
                "-purpose",
                "sslclient",
                &file,
            ],
            dir,
        );
        assert!(ok, "openssl verify {name}: {text}");
        let (ok, text) = run(&["x509", "-in", &file, "-noout", "-text"], dir);
        assert!(ok, "{text}");
        for needle in [
            "TLS Web Client Authentication",
            "Digital Signature",
            "CA:FALSE",
            "URI:urn:listing-exchange:agency:agency-42",
            "Subject Key Identifier",
            "Authority Key Identifier",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
        assert!(!text.contains("TLS Web Server Authentication"), "{text}");
        // The client key itself, plain and encrypted, is readable by openssl.
        fs::write(dir.join("client.key"), key.to_pem().as_bytes()).unwrap();
        let (ok, text) = run(&["pkey", "-in", "client.key", "-noout"], dir);
        assert!(ok, "{name}: {text}");
        let encrypted = key.to_encrypted_pem("k p").unwrap();
        fs::write(dir.join("client-enc.key"), encrypted.as_bytes()).unwrap();
        let (ok, text) = run(
            &[
                "pkey",
                "-in",
                "client-enc.key",
                "-passin",
                "pass:k p",
                "-noout",
            ],
            dir,
        );
        assert!(ok, "{name} encrypted: {text}");
    }

    let server_key = PrivateKey::generate_p256().unwrap();
    let server = ca
        .issue_server(&server_key, &["localhost".to_string()], 30)
        .unwrap();
    fs::write(dir.join("server.pem"), &server.pem).unwrap();
    let (ok, text) = run(
        &[
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "issuing.pem",
            "-purpose",
            "sslserver",
            "server.pem",
        ],
        dir,
    );
    assert!(ok, "openssl verify server: {text}");

    let (crl, entries) = revoke_two(&ca);
    fs::write(dir.join("crl.pem"), &crl).unwrap();
    let (ok, text) = run(&["crl", "-in", "crl.pem", "-noout", "-text"], dir);
    assert!(ok, "{text}");
    assert!(
        text.to_lowercase().contains(&entries[0].serial),
        "serial {} missing in:\n{text}",
        entries[0].serial
    );
    assert!(text.contains("Key Compromise"), "{text}");
    assert!(text.contains("Superseded"), "{text}");
    let (ok, text) = run(
        &["crl", "-in", "crl.pem", "-noout", "-CAfile", "issuing.pem"],
        dir,
    );
    assert!(ok && text.contains("verify OK"), "{text}");

    for key in ["ca/root.key", "ca/issuing.key"] {
        let (ok, text) = run(
            &["pkey", "-in", key, "-passin", "pass:pass phrase", "-noout"],
            dir,
        );
        assert!(ok, "openssl pkey {key}: {text}");
        let (ok, _) = run(
            &["pkey", "-in", key, "-passin", "pass:wrong", "-noout"],
            dir,
        );
        assert!(!ok, "openssl accepted a wrong passphrase for {key}");
    }

    // A key encrypted by openssl is readable by us.
    let (ok, text) = run(
        &[
            "genpkey",
            "-algorithm",
            "ed25519",
            "-aes-256-cbc",
            "-pass",
            "pass:xyz",
            "-out",
            "ossl.key",
        ],
        dir,
    );
    assert!(ok, "{text}");
    let pem = fs::read_to_string(dir.join("ossl.key")).unwrap();
    let key = PrivateKey::from_pem(&pem, Some("xyz")).unwrap();
    assert_eq!(key.algorithm(), KeyAlgorithm::Ed25519);
    assert!(matches!(
        PrivateKey::from_pem(&pem, Some("nope")),
        Err(CaError::Passphrase)
    ));
}
