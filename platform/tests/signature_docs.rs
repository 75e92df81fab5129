//! The test vectors of docs/agency-api.md ("Signatures"), read from the page itself: the
//! canonical bytes, their SHA-256 and both signatures must be what the code computes and
//! verifies, and the page's openssl commands must work as written.

use std::process::Command;

use api_types::canonical;
use base64::Engine;
use platform::testing::docs::agency_api_vector as vector;

fn public_key_der(pem_text: &str) -> Vec<u8> {
    let block = pem::parse(pem_text).expect("a PEM public key");
    assert_eq!(block.tag(), "PUBLIC KEY");
    block.into_contents()
}

fn base64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .expect("standard base64")
}

#[test]
fn the_documented_canonical_bytes_and_hash_are_what_the_code_computes() {
    let sent = vector("listing-as-sent");
    let canonical_text = vector("listing-canonical");
    assert_eq!(
        String::from_utf8(canonical::canonicalize_text(&sent).unwrap()).unwrap(),
        canonical_text
    );
    assert!(!canonical_text.contains('\n'), "one line");
    assert_eq!(
        canonical::sha256_hex(canonical_text.as_bytes()),
        vector("listing-canonical-sha256")
    );
    // A valid listing as sent: the platform would accept it (and serve the canonical form).
    let object = api_types::ListingObject::parse(&sent).unwrap();
    object.get().validate().unwrap();
    assert_eq!(object.canonical_bytes(), canonical_text.as_bytes());
    assert_eq!(object.get().living_area, Some(84.0));
    assert!(object.get().public_remarks.is_empty());
}

#[test]
fn the_documented_signatures_verify_and_the_test_keys_are_theirs() {
    let message = vector("listing-canonical").into_bytes();
    // ECDSA P-256: the documented signature verifies with the documented public key, which is
    // the test key's; a fresh one made with the key verifies too.
    let key = ca::keys::PrivateKey::from_pem(&vector("ecdsa-test-key"), None).unwrap();
    let public = public_key_der(&vector("ecdsa-test-public-key"));
    assert_eq!(key.public_key_der(), public);
    ca::sign::verify(
        &public,
        ca::sign::SignatureAlgorithm::EcdsaP256Sha256,
        &message,
        &base64(&vector("ecdsa-signature")),
    )
    .expect("the documented ECDSA signature verifies");
    let fresh = key.sign(&message).unwrap();
    ca::sign::verify(&public, fresh.algorithm, &message, &fresh.bytes).unwrap();
    // One byte changed: it does not.
    let mut changed = message.clone();
    changed[10] ^= 1;
    assert!(
        ca::sign::verify(
            &public,
            ca::sign::SignatureAlgorithm::EcdsaP256Sha256,
            &changed,
            &base64(&vector("ecdsa-signature")),
        )
        .is_err()
    );
    // Ed25519 is deterministic: the documented signature is exactly what the key makes.
    let key = ca::keys::PrivateKey::from_pem(&vector("ed25519-test-key"), None).unwrap();
    let public = public_key_der(&vector("ed25519-test-public-key"));
    assert_eq!(key.public_key_der(), public);
    let signature = key.sign(&message).unwrap();
    assert_eq!(signature.algorithm, ca::sign::SignatureAlgorithm::Ed25519);
    assert_eq!(signature.bytes, base64(&vector("ed25519-signature")));
    ca::sign::verify(&public, signature.algorithm, &message, &signature.bytes).unwrap();
}

#[test]
fn the_documented_openssl_commands_work_as_written() {
    if Command::new("openssl").arg("version").output().is_err() {
        platform::testing::skip(
            "signature_docs::the_documented_openssl_commands_work_as_written",
            "openssl is not on PATH",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (file, name) in [
        ("test-key.pem", "ecdsa-test-key"),
        ("test-key.pub.pem", "ecdsa-test-public-key"),
        ("ed25519-test-key.pem", "ed25519-test-key"),
        ("ed25519-test-key.pub.pem", "ed25519-test-public-key"),
    ] {
        std::fs::write(dir.path().join(file), vector(name) + "\n").unwrap();
    }
    std::fs::write(
        dir.path().join("listing-canonical.json"),
        vector("listing-canonical"),
    )
    .unwrap();
    let sh = |script: &str| {
        let out = Command::new("sh")
            .args(["-e", "-c", script])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{script}\n{text}");
        text
    };
    let verified = sh(&vector("openssl-verify"));
    assert!(verified.contains("Verified OK"), "{verified}");
    assert!(
        verified.contains("Signature Verified Successfully"),
        "{verified}"
    );
    // The signing commands: their output verifies with our code (and the Ed25519 one is the
    // documented signature).
    let signed = sh(&vector("openssl-sign"));
    let lines: Vec<&str> = signed.lines().filter(|l| !l.trim().is_empty()).collect();
    let message = vector("listing-canonical").into_bytes();
    let [ecdsa, ed25519] = lines.as_slice() else {
        panic!("expected two signatures, got {lines:?}");
    };
    ca::sign::verify(
        &public_key_der(&vector("ecdsa-test-public-key")),
        ca::sign::SignatureAlgorithm::EcdsaP256Sha256,
        &message,
        &base64(ecdsa),
    )
    .expect("openssl's ECDSA signature verifies with our code");
    assert_eq!(base64(ed25519), base64(&vector("ed25519-signature")));
}
