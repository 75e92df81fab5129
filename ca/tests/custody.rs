//! Custody of the CA's keys, through the crate's public API: the root key offline, its export
//! and return for a rollover with overlap, certificates that name where their issuer and CRL
//! are, validity clamped to the issuer, keys encrypted at rest, and `openssl verify
//! -crl_check_all` over the whole chain when openssl is installed.

use std::fs;
use std::path::Path;
use std::process::Command;

use ca::custody::{CaFiles, RootKey, encrypt_key_files};
use ca::inspect::{Fingerprint, parse_certificate_der, parse_certificate_pem};
use ca::keys::{KdfCost, KeyProtection, PrivateKey};
use ca::{
    CaError, CertificateAuthority, ClientProfile, Publication, RevocationReason, RevokedEntry,
};
use time::{Duration, OffsetDateTime};

const ORG: &str = "Custody Test";
/// A cheap key derivation where the cost is not what a test is about.
const CHEAP: KdfCost = KdfCost::Pbkdf2Sha256 { iterations: 1_000 };

fn publication() -> Publication {
    Publication::new("https://exchange.example:8443/").unwrap()
}

fn new_ca(dir: &Path) -> CertificateAuthority {
    CertificateAuthority::create(dir, ORG, None, Some(&publication())).unwrap()
}

fn client(ca: &CertificateAuthority, days: u32) -> ca::Issued {
    let key = PrivateKey::generate_p256().unwrap();
    ca.issue_client(
        &key.csr_pem("desk").unwrap(),
        &ClientProfile::new("17", "Acme Homes", days),
    )
    .unwrap()
}

fn openssl_found() -> bool {
    let found = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("\n!!!!! SKIPPED openssl checks: openssl not found on PATH !!!!!\n");
    }
    found
}

fn openssl(args: &[&str], dir: &Path) -> (bool, String) {
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
fn certificates_name_their_crl_and_issuer() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = new_ca(tmp.path());
    let issuing_id = hex::encode(ca.issuing_key_id());

    let leaf = parse_certificate_pem(&client(&ca, 90).pem).unwrap();
    assert_eq!(
        leaf.crl_urls,
        vec![format!(
            "https://exchange.example:8443/ca/issuing/{issuing_id}/crl.der"
        )]
    );
    assert_eq!(
        leaf.ca_issuer_urls,
        vec![format!(
            "https://exchange.example:8443/ca/issuing/{issuing_id}.der"
        )]
    );
    assert_eq!(leaf.authority_key_id.as_deref(), Some(ca.issuing_key_id()));

    let key = PrivateKey::generate_p256().unwrap();
    let server = parse_certificate_pem(
        &ca.issue_server(&key, &["localhost".into()], 30)
            .unwrap()
            .pem,
    )
    .unwrap();
    assert_eq!(server.crl_urls, leaf.crl_urls);
    assert_eq!(server.ca_issuer_urls, leaf.ca_issuer_urls);

    let issuing = parse_certificate_der(ca.issuing_der()).unwrap();
    assert_eq!(
        issuing.crl_urls,
        vec!["https://exchange.example:8443/ca/root-crl.der".to_string()]
    );
    assert_eq!(
        issuing.ca_issuer_urls,
        vec!["https://exchange.example:8443/ca/root.der".to_string()]
    );
    let root = parse_certificate_der(ca.root_der()).unwrap();
    assert!(root.crl_urls.is_empty() && root.ca_issuer_urls.is_empty());

    // Without a publication (what load_or_create gives) nothing is named.
    let plain_dir = tempfile::tempdir().unwrap();
    let plain = CertificateAuthority::load_or_create(plain_dir.path(), ORG, None).unwrap();
    let bare = parse_certificate_pem(&client(&plain, 90).pem).unwrap();
    assert!(bare.crl_urls.is_empty() && bare.ca_issuer_urls.is_empty());

    assert!(Publication::new("ftp://x").is_err());
    assert!(Publication::new("https://").is_err());
    assert!(Publication::new("https://a b").is_err());
}

#[test]
fn certificates_end_no_later_than_their_issuer() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = new_ca(tmp.path());
    let issuing_end = ca.issuing_not_after();

    // Ten years asked, the issuing CA's five given.
    let long = client(&ca, 3650);
    assert_eq!(long.not_after, issuing_end);
    let key = PrivateKey::generate_p256().unwrap();
    let server = ca.issue_server(&key, &["localhost".into()], 3650).unwrap();
    assert_eq!(server.not_after, issuing_end);
    // A short one is left alone.
    let short = client(&ca, 30);
    assert!(short.not_after < issuing_end);
    assert!(
        (short.not_after - OffsetDateTime::now_utc() - Duration::days(30)).abs()
            < Duration::minutes(1)
    );

    // The issuing CA ends no later than the root.
    assert!(ca.issuing_not_after() <= ca.root_not_after());

    // leaf_params, the start of every end-entity certificate, clamps the same way.
    let now = OffsetDateTime::now_utc();
    let params = ca.leaf_params(now, now + Duration::days(10_000)).unwrap();
    assert_eq!(params.not_after, issuing_end);
    // Nothing left: a clear refusal.
    let err = ca
        .leaf_params(
            issuing_end + Duration::days(1),
            issuing_end + Duration::days(2),
        )
        .unwrap_err();
    assert!(err.to_string().contains("rollover"), "{err}");
}

#[test]
fn root_offline_export_and_rollover_with_overlap() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    let ca = new_ca(&dir);
    let before = client(&ca, 90);
    let first_issuing = ca.issuing_der().to_vec();

    // Export: certificate + encrypted key, readable again with the passphrase only.
    let root = ca.root_key(None).unwrap();
    let export = ca
        .export_root(&root, "a long export passphrase", CHEAP)
        .unwrap();
    assert!(export.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(export.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    assert!(!export.contains("-----BEGIN PRIVATE KEY-----"));
    assert!(matches!(
        RootKey::from_export(&export, Some("wrong")),
        Err(CaError::ExportPassphrase)
    ));
    assert!(matches!(
        RootKey::from_export(&export, None),
        Err(CaError::ExportPassphrase)
    ));
    let brought = RootKey::from_export(&export, Some("a long export passphrase")).unwrap();
    brought.check_belongs_to(&ca).unwrap();

    // Offline: the key leaves the directory, the CA still loads and issues.
    ca.remove_root_key().unwrap();
    assert!(!dir.join("root.key").exists());
    let offline = CertificateAuthority::load(&dir, None)
        .unwrap()
        .with_publication(Some(publication()));
    assert!(!offline.root_key_online());
    assert!(matches!(
        offline.root_key(None),
        Err(CaError::RootKeyOffline(_))
    ));
    let during = client(&offline, 90);
    assert_eq!(CaFiles::read(&dir).unwrap().root_key, None);

    // Another CA's root key is refused.
    let other_dir = tempfile::tempdir().unwrap();
    let other = new_ca(other_dir.path());
    let foreign = other.root_key(None).unwrap();
    let err = offline.rollover(&foreign, None).unwrap_err();
    assert!(
        err.to_string().contains("not the key of the root CA"),
        "{err}"
    );
    assert_eq!(
        fs::read(dir.join("issuing.crt")).unwrap(),
        offline.issuing_pem().as_bytes()
    );

    // Rollover with the exported key, in memory only.
    let rolled = offline.rollover(&brought, None).unwrap();
    assert!(
        !dir.join("root.key").exists(),
        "the root key is never written"
    );
    assert_ne!(rolled.issuing_der(), first_issuing.as_slice());
    assert_eq!(rolled.root_der(), ca.root_der(), "same root");
    let new_issuing = parse_certificate_der(rolled.issuing_der()).unwrap();
    assert_eq!(
        new_issuing.subject,
        format!("CN={ORG} Issuing CA 2, O={ORG}")
    );
    assert_eq!(new_issuing.issuer, format!("CN={ORG} Root CA, O={ORG}"));
    assert!(new_issuing.not_after <= rolled.root_not_after());

    // Overlap: both issuing CAs are known; each certificate finds the one that signed it.
    let cas = rolled.issuing_cas();
    assert_eq!(cas.len(), 2);
    assert!(cas[0].current && !cas[1].current);
    assert_eq!(cas[1].der, first_issuing);
    assert!(cas[1].signs_crls, "the retired key is kept to sign its CRL");
    for old in [&before, &during] {
        assert_eq!(rolled.issuing_ca_of(&old.der).unwrap().der, first_issuing);
    }
    let after = client(&rolled, 90);
    assert_eq!(
        rolled.issuing_ca_of(&after.der).unwrap().der,
        rolled.issuing_der()
    );
    let after_info = parse_certificate_der(&after.der).unwrap();
    assert!(after_info.crl_urls[0].contains(&cas[0].key_id_hex()));
    assert_eq!(
        parse_certificate_der(rolled.issuing_der())
            .unwrap()
            .crl_urls,
        vec!["https://exchange.example:8443/ca/root-crl.der".to_string()]
    );

    // The retired CA still signs its CRL; the root's CRL is signed with the brought key.
    let now = OffsetDateTime::now_utc();
    let entry = RevokedEntry {
        serial: before.serial.clone(),
        revoked_at: now,
        reason: RevocationReason::KeyCompromise,
        invalidity_date: None,
    };
    let old_crl = rolled
        .issuing_crl_pem(&cas[1].key_id, &[entry], 5, now, now + Duration::days(1))
        .unwrap();
    let old_crl_der = pem::parse(&old_crl).unwrap().into_contents();
    let (_, crl) = x509_parser::parse_x509_crl(&old_crl_der).unwrap();
    let (_, old_issuing) = x509_parser::parse_x509_certificate(&first_issuing).unwrap();
    crl.verify_signature(old_issuing.public_key()).unwrap();
    let root_crl = rolled
        .root_crl_pem(&brought, &[], 6, now, now + Duration::days(365))
        .unwrap();
    let root_crl_der = pem::parse(&root_crl).unwrap().into_contents();
    let (_, crl) = x509_parser::parse_x509_crl(&root_crl_der).unwrap();
    let (_, root_cert) = x509_parser::parse_x509_certificate(rolled.root_der()).unwrap();
    crl.verify_signature(root_cert.public_key()).unwrap();
    assert!(
        rolled
            .root_crl_pem(&foreign, &[], 7, now, now + Duration::days(1))
            .is_err()
    );

    // Loading again from disk gives the same picture.
    let again = CertificateAuthority::load(&dir, None).unwrap();
    assert_eq!(again.issuing_der(), rolled.issuing_der());
    assert_eq!(again.issuing_cas().len(), 2);
    let files = CaFiles::read(&dir).unwrap();
    assert_eq!(files.retired.len(), 1);
    assert_eq!(files.retired[0].0, first_issuing);

    // A second rollover names the third generation and keeps both older ones.
    let third = again.rollover(&brought, None).unwrap();
    assert!(
        parse_certificate_der(third.issuing_der())
            .unwrap()
            .subject
            .starts_with(&format!("CN={ORG} Issuing CA 3"))
    );
    assert_eq!(third.issuing_cas().len(), 3);
}

#[test]
fn an_interrupted_rollover_is_completed_or_forgotten() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    let ca = new_ca(&dir);
    let root = ca.root_key(None).unwrap();
    let rolled = ca.rollover(&root, None).unwrap();

    // Before the commit point (only the next key written): the current CA stays.
    fs::write(
        dir.join("issuing.next.key"),
        "-----BEGIN PRIVATE KEY-----\n",
    )
    .unwrap();
    let loaded = CertificateAuthority::load(&dir, None).unwrap();
    assert_eq!(loaded.issuing_der(), rolled.issuing_der());
    assert!(!dir.join("issuing.next.key").exists());

    // After it (the next certificate written, renames pending): the new CA takes over.
    let key = fs::read(dir.join("issuing.key")).unwrap();
    let crt = fs::read(dir.join("issuing.crt")).unwrap();
    let retired_before = CaFiles::read(&dir).unwrap().retired.len();
    // Put the first issuing CA back as current, and the second as the pending one.
    let first = CaFiles::read(&dir).unwrap().retired[0].0.clone();
    let first_id = hex::encode(ca.issuing_key_id());
    fs::copy(
        dir.join(format!("retired/{first_id}.key")),
        dir.join("issuing.key"),
    )
    .unwrap();
    fs::write(
        dir.join("issuing.crt"),
        pem::encode(&pem::Pem::new("CERTIFICATE", first)),
    )
    .unwrap();
    fs::write(dir.join("issuing.next.key"), &key).unwrap();
    fs::write(dir.join("issuing.next.crt"), &crt).unwrap();
    let loaded = CertificateAuthority::load(&dir, None).unwrap();
    assert_eq!(loaded.issuing_der(), rolled.issuing_der());
    assert!(!dir.join("issuing.next.crt").exists());
    assert_eq!(CaFiles::read(&dir).unwrap().retired.len(), retired_before);
}

#[test]
fn keys_are_encrypted_in_place_and_old_parameters_still_load() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    let ca = new_ca(&dir);
    let root = ca.root_key(None).unwrap();
    let ca = ca.rollover(&root, None).unwrap();
    let files = CaFiles::read(&dir).unwrap();
    assert_eq!(files.unencrypted_keys().len(), 3, "root, issuing, retired");

    // A key encrypted the way keys were before (scrypt N=2^14) still loads.
    let issuing_pem = fs::read_to_string(dir.join("issuing.key")).unwrap();
    let key = PrivateKey::from_pem(&issuing_pem, None).unwrap();
    fs::write(
        dir.join("issuing.key"),
        key.to_encrypted_pem_with("passphrase of old", KdfCost::DESK)
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    assert!(matches!(
        CertificateAuthority::load(&dir, None),
        Err(CaError::Passphrase)
    ));
    assert!(CertificateAuthority::load(&dir, Some("passphrase of old")).is_ok());

    // encrypt_key_files needs the same passphrase for keys already encrypted ...
    let err = encrypt_key_files(&dir, "another passphrase", CHEAP).unwrap_err();
    assert!(matches!(err, CaError::Passphrase), "{err:?}");
    assert_eq!(
        CaFiles::read(&dir).unwrap().unencrypted_keys().len(),
        2,
        "nothing changed"
    );
    // ... and then encrypts every key, the old one at the new cost too.
    let written = encrypt_key_files(&dir, "passphrase of old", CHEAP).unwrap();
    assert_eq!(written.len(), 3);
    let files = CaFiles::read(&dir).unwrap();
    assert!(files.unencrypted_keys().is_empty());
    for (path, protection) in files.key_files() {
        assert_eq!(
            protection,
            KeyProtection::Encrypted(Some(CHEAP)),
            "{}",
            path.display()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
        }
    }
    let loaded = CertificateAuthority::load(&dir, Some("passphrase of old")).unwrap();
    assert_eq!(loaded.issuing_der(), ca.issuing_der());
    assert_eq!(loaded.issuing_cas().len(), 2);
    assert!(loaded.root_key(Some("passphrase of old")).is_ok());
    assert!(matches!(
        CertificateAuthority::load(&dir, None),
        Err(CaError::Passphrase)
    ));
    assert!(encrypt_key_files(&dir, "", CHEAP).is_err());
}

#[test]
fn a_new_ca_with_a_passphrase_uses_the_ca_cost_readable_by_openssl() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    let passphrase = "correct horse battery";
    CertificateAuthority::create(&dir, ORG, Some(passphrase), None).unwrap();
    let files = CaFiles::read(&dir).unwrap();
    for (_, protection) in files.key_files() {
        assert_eq!(protection, KeyProtection::Encrypted(Some(KdfCost::CA)));
    }
    // Not over an existing CA.
    let err = CertificateAuthority::create(&dir, ORG, None, None).unwrap_err();
    assert!(err.to_string().contains("already holds a CA"), "{err}");
    if !openssl_found() {
        return;
    }
    for key in ["root.key", "issuing.key"] {
        let (ok, text) = openssl(
            &[
                "pkey",
                "-in",
                key,
                "-passin",
                &format!("pass:{passphrase}"),
                "-noout",
            ],
            &dir,
        );
        assert!(ok, "openssl pkey {key}: {text}");
    }
}

#[test]
fn openssl_checks_the_whole_chain_against_both_crls() {
    if !openssl_found() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ca = new_ca(&dir.join("ca"));
    let live = client(&ca, 90);
    let revoked = client(&ca, 90);
    let now = OffsetDateTime::now_utc();
    let crl = ca
        .crl_pem(
            &[RevokedEntry {
                serial: revoked.serial.clone(),
                revoked_at: now,
                reason: RevocationReason::KeyCompromise,
                invalidity_date: Some(now - Duration::days(3)),
            }],
            41,
            now,
            now + Duration::days(1),
        )
        .unwrap();
    let root = ca.root_key(None).unwrap();
    let root_crl = ca
        .root_crl_pem(&root, &[], 42, now, now + Duration::days(365))
        .unwrap();
    fs::write(dir.join("root.pem"), ca.root_pem()).unwrap();
    fs::write(dir.join("issuing.pem"), ca.issuing_pem()).unwrap();
    fs::write(dir.join("crl.pem"), &crl).unwrap();
    fs::write(dir.join("root-crl.pem"), &root_crl).unwrap();
    fs::write(dir.join("live.pem"), &live.pem).unwrap();
    fs::write(dir.join("revoked.pem"), &revoked.pem).unwrap();
    let verify = |leaf: &str, crls: &[&str]| {
        let mut args = vec![
            "verify",
            "-crl_check_all",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "issuing.pem",
        ];
        for c in crls {
            args.extend(["-CRLfile", c]);
        }
        args.push(leaf);
        openssl(&args, dir)
    };
    let (ok, text) = verify("live.pem", &["crl.pem", "root-crl.pem"]);
    assert!(ok && text.contains("live.pem: OK"), "{text}");
    let (ok, text) = verify("revoked.pem", &["crl.pem", "root-crl.pem"]);
    assert!(!ok && text.contains("certificate revoked"), "{text}");
    // Without the root's CRL the issuing CA is unchecked, and openssl says so.
    let (ok, text) = verify("live.pem", &["crl.pem"]);
    assert!(
        !ok && text.contains("unable to get certificate CRL"),
        "{text}"
    );

    // The extensions as openssl reads them.
    let (ok, text) = openssl(&["x509", "-in", "live.pem", "-noout", "-text"], dir);
    assert!(ok, "{text}");
    let id = hex::encode(ca.issuing_key_id());
    for needle in [
        "X509v3 CRL Distribution Points".to_string(),
        format!("URI:https://exchange.example:8443/ca/issuing/{id}/crl.der"),
        "Authority Information Access".to_string(),
        format!("CA Issuers - URI:https://exchange.example:8443/ca/issuing/{id}.der"),
    ] {
        assert!(text.contains(&needle), "missing {needle:?} in:\n{text}");
    }
    let (ok, text) = openssl(&["x509", "-in", "issuing.pem", "-noout", "-text"], dir);
    assert!(ok, "{text}");
    assert!(
        text.contains("CA Issuers - URI:https://exchange.example:8443/ca/root.der")
            && text.contains("URI:https://exchange.example:8443/ca/root-crl.der"),
        "{text}"
    );
    let (ok, text) = openssl(&["crl", "-in", "crl.pem", "-noout", "-text"], dir);
    assert!(ok && text.contains("Invalidity Date"), "{text}");
    assert!(
        text.contains("X509v3 CRL Number: \n                41"),
        "{text}"
    );

    // The root export is readable by openssl with the passphrase.
    let export = ca.export_root(&root, "export pass phrase", CHEAP).unwrap();
    fs::write(dir.join("root-export.pem"), export.as_bytes()).unwrap();
    let (ok, text) = openssl(
        &[
            "pkey",
            "-in",
            "root-export.pem",
            "-passin",
            "pass:export pass phrase",
            "-pubout",
        ],
        dir,
    );
    assert!(ok, "{text}");
    assert_eq!(
        Fingerprint::of(ca.root_der()),
        Fingerprint::of(&pem::parse(export.as_bytes()).unwrap().into_contents())
    );
}
