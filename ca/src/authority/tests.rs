//! Unit tests of the authority's parts.

use time::Duration;
use x509_parser::prelude::FromDer;

use super::publication::authority_info_access_der;
use super::*;
use crate::keys::PrivateKey;

#[test]
fn reasons_parse_and_display() {
    for r in RevocationReason::all() {
        assert_eq!(r.to_string().parse::<RevocationReason>().unwrap(), *r);
        assert_eq!(
            r.to_string()
                .replace('_', "-")
                .parse::<RevocationReason>()
                .unwrap(),
            *r
        );
    }
    assert_eq!(
        RevocationReason::KeyCompromise.to_string(),
        "key_compromise"
    );
    assert!("stolen".parse::<RevocationReason>().is_err());
}

#[test]
fn serials_are_16_bytes_positive() {
    for _ in 0..50 {
        let s = random_serial().unwrap().to_bytes();
        assert_eq!(s.len(), 16);
        assert!(s[0] & 0x80 == 0 && s[0] != 0);
    }
}

#[test]
fn shareable_across_threads() {
    fn check<T: Send + Sync>() {}
    check::<CertificateAuthority>();
    check::<crate::keys::PrivateKey>();
    check::<CaError>();
}

#[test]
fn the_issuing_ca_ends_no_later_than_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::create_with_validity(
        tmp.path(),
        "Clamp",
        None,
        None,
        100,
        ISSUING_VALIDITY_DAYS,
    )
    .unwrap();
    assert_eq!(ca.issuing_not_after(), ca.root_not_after());
    let root = ca.root_key(None).unwrap();
    let rolled = ca.rollover(&root, None).unwrap();
    assert_eq!(rolled.issuing_not_after(), rolled.root_not_after());
    let key = PrivateKey::generate_p256().unwrap();
    let server = rolled
        .issue_server(&key, &["localhost".into()], 365)
        .unwrap();
    assert_eq!(server.not_after, rolled.root_not_after());
}

#[test]
fn authority_info_access_is_der() {
    // Short and long (two-byte length) URLs both parse back with x509-parser.
    for url in [
        "https://x.example/ca/root.der".to_string(),
        format!("https://{}.example/ca/root.der", "a".repeat(300)),
    ] {
        let der = authority_info_access_der(&url);
        let (rest, aia) = x509_parser::extensions::AuthorityInfoAccess::from_der(&der).unwrap();
        assert!(rest.is_empty());
        assert_eq!(aia.accessdescs.len(), 1);
        assert_eq!(
            aia.accessdescs[0].access_method,
            x509_parser::oid_registry::OID_PKIX_ACCESS_DESCRIPTOR_CA_ISSUERS
        );
        match &aia.accessdescs[0].access_location {
            x509_parser::extensions::GeneralName::URI(u) => assert_eq!(*u, url),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn profile_defaults() {
    let p = ClientProfile::new("a1", "Acme", 90);
    let d = p.not_after - p.not_before;
    assert!(d >= Duration::days(90) && d <= Duration::days(90) + Duration::minutes(6));
}
