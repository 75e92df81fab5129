//! Tests of opening the CA against the database record.

use ca::inspect::Fingerprint;
use diesel::prelude::*;

use super::*;
use crate::audit::AuditLog;
use crate::db::schema::certificates;
use crate::pki::{CertificateStore, NewCertificate};

fn config(data_dir: &Path) -> Config {
    Config {
        data_dir: data_dir.to_owned(),
        ..Config::default()
    }
}

fn audit_actions(conn: &mut DbConn) -> Vec<String> {
    crate::with_conn!(conn, |c| c.audit_entries(None, 100))
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

fn recorded(conn: &mut DbConn) -> Vec<CaCertificateRow> {
    crate::with_conn!(conn, |c| c.ca_certificates()).unwrap()
}

/// Registers a client certificate issued by `ca`, as enrolment would.
fn register_client(conn: &mut DbConn, ca: &ca::CertificateAuthority) -> String {
    let (agency, _) = crate::testing::fixtures::active_agency_with_certificate(conn, "Acme");
    crate::with_conn!(conn, |c| {
        diesel::delete(certificates::table).execute(c).unwrap();
    });
    let key = ca::keys::PrivateKey::generate_p256().unwrap();
    let issued = ca
        .issue_client(
            &key.csr_pem("desk").unwrap(),
            &ca::ClientProfile::new(agency.id.to_string(), "Acme", 90),
        )
        .unwrap();
    crate::with_conn!(conn, |c| c.insert_certificate(&NewCertificate {
        issued: &issued,
        agency_id: Some(agency.id),
        kind: crate::pki::certs::KIND_CLIENT,
        renewed_from: None,
    }))
    .unwrap();
    issued.serial
}

crate::db_test!(a_fresh_database_and_directory_get_a_recorded_ca, |db| {
    let tmp = tempfile::tempdir().unwrap();
    let config = config(tmp.path());
    let mut conn = db.get().unwrap();
    let ca = open_authority(&config, &mut conn, None, Opening::Serve).unwrap();
    let rows = recorded(&mut conn);
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0].role.as_str(), rows[0].status.as_str()),
        ("root", "active")
    );
    assert_eq!(rows[0].fingerprint, ca.root_fingerprint().to_hex());
    assert_eq!(
        rows[1].fingerprint,
        Fingerprint::of(ca.issuing_der()).to_hex()
    );
    assert_eq!(rows[1].key_id, hex::encode(ca.issuing_key_id()));
    assert!(audit_actions(&mut conn).contains(&"ca.create".to_owned()));
    // Nothing left in a staging directory; the CA names where its CRL is.
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".ca-new-"))
        .collect();
    assert!(leftovers.is_empty());
    assert_eq!(
        ca.publication().unwrap().base_url(),
        "https://127.0.0.1:8443"
    );

    // Opened again: the same CA, nothing recorded twice.
    let again = open_authority(&config, &mut conn, None, Opening::Operator).unwrap();
    assert_eq!(again.root_fingerprint(), ca.root_fingerprint());
    assert_eq!(recorded(&mut conn), rows);
});

crate::db_test!(
    a_database_with_a_ca_refuses_an_empty_or_foreign_directory,
    |db| {
        let first = tempfile::tempdir().unwrap();
        let mut conn = db.get().unwrap();
        let ca = open_authority(&config(first.path()), &mut conn, None, Opening::Serve).unwrap();
        let before = recorded(&mut conn);
        let audit_before = audit_actions(&mut conn);

        // Its keys are in clear, so the database holds only its certificates: an empty
        // directory is told where the keys are (the tests with encrypted keys, where an empty
        // directory gets everything from the database, are end to end: tests/tests/nodes.rs).
        let fresh = tempfile::tempdir().unwrap();
        let err = open_authority(&config(fresh.path()), &mut conn, None, Opening::Serve)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("encrypt-keys") && err.contains("not encrypted"),
            "{err}"
        );
        assert!(!fresh.path().join("ca").exists(), "nothing written");
        assert_eq!(recorded(&mut conn), before, "nothing recorded");

        // A database from before the files were stored there refuses an empty directory.
        crate::with_conn!(&mut conn, |c| diesel::delete(
            crate::db::schema::platform_secrets::table
                .filter(crate::db::schema::platform_secrets::name.like("ca/%"))
        )
        .execute(c))
        .unwrap();
        let empty = tempfile::tempdir().unwrap();
        let err = open_authority(&config(empty.path()), &mut conn, None, Opening::Serve)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&ca.root_fingerprint().to_string()), "{err}");
        assert!(
            err.contains("restore") && err.contains("nothing was created"),
            "{err}"
        );
        assert!(!empty.path().join("ca").exists(), "no CA directory made");
        assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0);

        let foreign = tempfile::tempdir().unwrap();
        let other =
            ca::CertificateAuthority::load_or_create(&foreign.path().join("ca"), "Other", None)
                .unwrap();
        let err = open_authority(&config(foreign.path()), &mut conn, None, Opening::Operator)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&ca.root_fingerprint().to_string()), "{err}");
        assert!(err.contains(&other.root_fingerprint().to_string()), "{err}");
        assert_eq!(recorded(&mut conn), before, "nothing recorded");
        assert_eq!(audit_actions(&mut conn), audit_before);

        // A copy of the same CA (another node) is fine.
        let copy = tempfile::tempdir().unwrap();
        std::fs::create_dir(copy.path().join("ca")).unwrap();
        for f in ["root.crt", "root.key", "issuing.crt", "issuing.key"] {
            std::fs::copy(
                first.path().join("ca").join(f),
                copy.path().join("ca").join(f),
            )
            .unwrap();
        }
        let same = open_authority(&config(copy.path()), &mut conn, None, Opening::Serve).unwrap();
        assert_eq!(same.issuing_der(), ca.issuing_der());
    }
);

crate::db_test!(
    an_upgraded_database_records_only_the_ca_that_issued_its_certificates,
    |db| {
        // Today's schema had no record of the CA: certificates only.
        let old = tempfile::tempdir().unwrap();
        let old_ca =
            ca::CertificateAuthority::load_or_create(&old.path().join("ca"), "Old", None).unwrap();
        let mut conn = db.get().unwrap();
        register_client(&mut conn, &old_ca);

        // Another CA, or none, is refused: nothing created, nothing recorded.
        let foreign = tempfile::tempdir().unwrap();
        ca::CertificateAuthority::load_or_create(&foreign.path().join("ca"), "Other", None)
            .unwrap();
        let err = open_authority(&config(foreign.path()), &mut conn, None, Opening::Serve)
            .unwrap_err()
            .to_string();
        assert!(err.contains("did not issue"), "{err}");
        let empty = tempfile::tempdir().unwrap();
        let err = open_authority(&config(empty.path()), &mut conn, None, Opening::Serve)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("registered certificate") && err.contains("restore"),
            "{err}"
        );
        assert!(!empty.path().join("ca").exists());
        assert!(recorded(&mut conn).is_empty());

        // The CA that issued them is recorded.
        let ca = open_authority(&config(old.path()), &mut conn, None, Opening::Serve).unwrap();
        assert_eq!(ca.root_fingerprint(), old_ca.root_fingerprint());
        let rows = recorded(&mut conn);
        assert_eq!(rows.len(), 2);
        assert!(audit_actions(&mut conn).contains(&"ca.record".to_owned()));
    }
);

crate::db_test!(production_refuses_unencrypted_keys_unless_allowed, |db| {
    let tmp = tempfile::tempdir().unwrap();
    let mut production = config(tmp.path());
    production.web.public_url = "https://homes.example".into();
    let mut conn = db.get().unwrap();

    // Not even created with unencrypted keys.
    let err = open_authority(&production, &mut conn, None, Opening::Serve)
        .unwrap_err()
        .to_string();
    assert!(err.contains("PLATFORM_CA_PASSPHRASE"), "{err}");
    assert!(!tmp.path().join("ca").exists());
    assert!(recorded(&mut conn).is_empty());

    // Created by a development start, the keys are plain: production refuses them.
    open_authority(&config(tmp.path()), &mut conn, None, Opening::Serve).unwrap();
    let err = open_authority(&production, &mut conn, None, Opening::Serve)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("issuing.key") && err.contains("root.key"),
        "{err}"
    );
    assert!(err.contains("platform ca encrypt-keys"), "{err}");
    assert!(err.contains("ca.allow_unencrypted_keys"), "{err}");
    // Operator commands still open it (to encrypt the keys), and the risk can be accepted.
    open_authority(&production, &mut conn, None, Opening::Operator).unwrap();
    production.ca.allow_unencrypted_keys = true;
    open_authority(&production, &mut conn, None, Opening::Serve).unwrap();
});

crate::db_test!(
    a_rollover_on_disk_is_recorded_and_a_retired_ca_is_refused,
    |db| {
        let tmp = tempfile::tempdir().unwrap();
        let config = config(tmp.path());
        let mut conn = db.get().unwrap();
        let ca = open_authority(&config, &mut conn, None, Opening::Serve).unwrap();
        let backup = tempfile::tempdir().unwrap();
        for f in ["root.crt", "issuing.crt", "issuing.key"] {
            std::fs::copy(tmp.path().join("ca").join(f), backup.path().join(f)).unwrap();
        }
        // A rollover whose database step did not happen (a crash between the two).
        let root = ca.root_key(None).unwrap();
        let rolled = ca.rollover(&root, None).unwrap();
        let opened = open_authority(&config, &mut conn, None, Opening::Serve).unwrap();
        assert_eq!(opened.issuing_der(), rolled.issuing_der());
        let rows = recorded(&mut conn);
        let status = |der: &[u8]| {
            rows.iter()
                .find(|r| r.fingerprint == Fingerprint::of(der).to_hex())
                .map(|r| r.status.clone())
        };
        assert_eq!(status(rolled.issuing_der()).as_deref(), Some("active"));
        assert_eq!(status(ca.issuing_der()).as_deref(), Some("retired"));

        // The old issuing CA put back as current (an old backup): refused (its keys are in
        // clear, so the database holds no copy to take its place).
        for f in ["issuing.crt", "issuing.key"] {
            std::fs::copy(backup.path().join(f), tmp.path().join("ca").join(f)).unwrap();
        }
        let err = open_authority(&config, &mut conn, None, Opening::Serve)
            .unwrap_err()
            .to_string();
        assert!(err.contains("retired"), "{err}");
        assert!(
            err.contains(&Fingerprint::of(rolled.issuing_der()).to_string()),
            "{err}"
        );
    }
);
