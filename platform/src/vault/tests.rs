use api_types::vault::{VaultInit, VaultRecover, VaultRotate};

use super::*;
use crate::testing::fixtures::{active_agency_with_certificate, another_certificate};

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

fn key(byte: u8) -> String {
    b64(&[byte; 32])
}

fn wrapped(byte: u8) -> String {
    b64(&[byte; 80])
}

fn sealed(byte: u8) -> String {
    b64(&[byte; 64])
}

fn init_request() -> VaultInit {
    VaultInit {
        public_key: key(1),
        wrapped_key: wrapped(1),
        recovery_public_key: key(9),
        recovery_wrapped_key: wrapped(9),
        recovery_proof: key(42),
    }
}

fn change(id: &str, expected: i64, epoch: i64, byte: u8) -> VaultRecordChange {
    VaultRecordChange {
        id: id.into(),
        expected_version: expected,
        epoch,
        ciphertext: sealed(byte),
        deleted: false,
    }
}

const R1: &str = "RECORDAAAAAAAAAA01";
const R2: &str = "RECORDAAAAAAAAAA02";

macro_rules! tx {
    ($conn:expr, |$c:ident| $body:expr) => {
        crate::write_tx!($conn, |$c| -> Result<_, VaultError> { $body })
    };
}

crate::db_test!(two_desks_share_records_and_a_removed_one_is_refused, |db| {
    let mut conn = db.get().unwrap();
    let (agency, a) = active_agency_with_certificate(&mut conn, "Vault One");
    let b = another_certificate(&mut conn, &agency);
    let id = agency.id;

    // Nothing before init; init makes desk A approved at epoch 1.
    let before = tx!(&mut conn, |c| status(c, id, &a)).unwrap();
    assert!(!before.initialized);
    assert!(matches!(
        tx!(&mut conn, |c| pull(c, id, &a, 0, 10)),
        Err(VaultError::NotInitialized)
    ));
    let created = tx!(&mut conn, |c| init(c, id, &a, &init_request())).unwrap();
    assert_eq!((created.epoch, created.desks.len()), (1, 1));
    assert!(matches!(
        tx!(&mut conn, |c| init(c, id, &a, &init_request())),
        Err(VaultError::AlreadyInitialized)
    ));

    // B registers and waits: no records, no keys, cannot approve itself.
    let (desk_b, created) = tx!(&mut conn, |c| join(c, id, &b, &key(2))).unwrap();
    assert!(created);
    assert_eq!(desk_b.state, VaultDeskState::Waiting);
    assert!(matches!(
        tx!(&mut conn, |c| pull(c, id, &b, 0, 10)),
        Err(VaultError::Waiting)
    ));
    assert!(matches!(
        tx!(&mut conn, |c| desk_keys(c, id, &b)),
        Err(VaultError::Waiting)
    ));
    let keys = vec![WrappedKey {
        epoch: 1,
        wrapped: wrapped(2),
    }];
    assert!(matches!(
        tx!(&mut conn, |c| approve(c, id, &b, &b, &keys)),
        Err(VaultError::Waiting)
    ));

    // A writes; a stale push is a conflict carrying the current record, and stores nothing.
    let stored = tx!(&mut conn, |c| push(c, id, &a, &[change(R1, 0, 1, 5)])).unwrap();
    assert_eq!((stored[0].version, stored[0].sequence), (1, 1));
    let stale = tx!(&mut conn, |c| push(
        c,
        id,
        &a,
        &[change(R2, 0, 1, 6), change(R1, 0, 1, 7)]
    ));
    let Err(VaultError::Conflict(current)) = stale else {
        panic!("expected a conflict, got {stale:?}");
    };
    assert_eq!((current[0].id.as_str(), current[0].version), (R1, 1));
    assert_eq!(current[0].ciphertext, sealed(5));
    assert!(
        tx!(&mut conn, |c| Ok(c.find_vault_record(id, R2)?))
            .unwrap()
            .is_none(),
        "a push with a conflict stores nothing"
    );

    // A approves B (one wrapped key per epoch); B reads what A wrote.
    assert!(matches!(
        tx!(&mut conn, |c| approve(c, id, &a, &b, &[])),
        Err(VaultError::Invalid { .. })
    ));
    tx!(&mut conn, |c| approve(c, id, &a, &b, &keys)).unwrap();
    let (records, more) = tx!(&mut conn, |c| pull(c, id, &b, 0, 10)).unwrap();
    assert_eq!((records.len(), more), (1, false));
    assert_eq!(tx!(&mut conn, |c| desk_keys(c, id, &b)).unwrap(), keys);
    tx!(&mut conn, |c| push(c, id, &b, &[change(R1, 1, 1, 8)])).unwrap();
    let (changed, _) = tx!(&mut conn, |c| pull(c, id, &a, 1, 10)).unwrap();
    assert_eq!((changed[0].version, changed[0].sequence), (2, 2));

    // A removes B: refused at once, keys gone, no record accepted until the key rotates.
    assert!(matches!(
        tx!(&mut conn, |c| remove(c, id, &a, &a)),
        Err(VaultError::RemoveSelf)
    ));
    tx!(&mut conn, |c| remove(c, id, &a, &b)).unwrap();
    assert!(matches!(
        tx!(&mut conn, |c| pull(c, id, &b, 0, 10)),
        Err(VaultError::Removed)
    ));
    assert!(matches!(
        tx!(&mut conn, |c| desk_keys(c, id, &b)),
        Err(VaultError::Removed)
    ));
    assert!(
        tx!(&mut conn, |c| Ok(c.wrapped_keys(id, &b)?))
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        tx!(&mut conn, |c| join(c, id, &b, &key(3))),
        Err(VaultError::Removed)
    ));
    assert!(
        tx!(&mut conn, |c| status(c, id, &a))
            .unwrap()
            .rotation_required
    );
    assert!(matches!(
        tx!(&mut conn, |c| push(c, id, &a, &[change(R1, 2, 1, 9)])),
        Err(VaultError::RotationRequired)
    ));
    let rotate_for = |desks: &[&str], epoch| VaultRotate {
        epoch,
        keys: desks
            .iter()
            .map(|d| DeskWrappedKey {
                desk: (*d).into(),
                wrapped: wrapped(4),
            })
            .collect(),
        recovery_wrapped_key: wrapped(9),
    };
    assert!(matches!(
        tx!(&mut conn, |c| rotate(c, id, &a, &rotate_for(&[&a, &b], 2))),
        Err(VaultError::Invalid { .. })
    ));
    assert!(matches!(
        tx!(&mut conn, |c| rotate(c, id, &a, &rotate_for(&[&a], 3))),
        Err(VaultError::StaleEpoch { current: 1 })
    ));
    let rotated = tx!(&mut conn, |c| rotate(c, id, &a, &rotate_for(&[&a], 2))).unwrap();
    assert_eq!((rotated.epoch, rotated.rotation_required), (2, false));
    assert!(matches!(
        tx!(&mut conn, |c| push(c, id, &a, &[change(R1, 2, 1, 9)])),
        Err(VaultError::StaleEpoch { current: 2 })
    ));
    tx!(&mut conn, |c| push(c, id, &a, &[change(R1, 2, 2, 9)])).unwrap();

    // Tombstones carry no content.
    let mut tombstone = change(R1, 3, 2, 0);
    tombstone.deleted = true;
    assert!(matches!(
        tx!(&mut conn, |c| push(c, id, &a, &[tombstone.clone()])),
        Err(VaultError::Invalid { .. })
    ));
    tombstone.ciphertext = String::new();
    let gone = tx!(&mut conn, |c| push(c, id, &a, &[tombstone])).unwrap();
    assert!(gone[0].deleted);
    assert_eq!(tx!(&mut conn, |c| status(c, id, &a)).unwrap().records, 0);

    // Every membership change is audited.
    let actions: Vec<String> = crate::with_conn!(&mut conn, |c| c.audit_entries(None, 50))
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    for action in [
        "vault.create",
        "vault.desk.register",
        "vault.desk.approve",
        "vault.desk.remove",
        "vault.rotate",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
});

crate::db_test!(another_agency_finds_nothing, |db| {
    let mut conn = db.get().unwrap();
    let (one, a) = active_agency_with_certificate(&mut conn, "Vault Owner");
    let (other, x) = active_agency_with_certificate(&mut conn, "Vault Other");
    tx!(&mut conn, |c| init(c, one.id, &a, &init_request())).unwrap();
    tx!(&mut conn, |c| push(c, one.id, &a, &[change(R1, 0, 1, 5)])).unwrap();
    tx!(&mut conn, |c| init(c, other.id, &x, &init_request())).unwrap();

    assert!(matches!(
        tx!(&mut conn, |c| record(c, other.id, &x, R1)),
        Err(VaultError::RecordNotFound(_))
    ));
    assert!(matches!(
        tx!(&mut conn, |c| push(c, other.id, &x, &[change(R1, 1, 1, 6)])),
        Err(VaultError::RecordNotFound(_))
    ));
    let keys = vec![WrappedKey {
        epoch: 1,
        wrapped: wrapped(2),
    }];
    assert!(matches!(
        tx!(&mut conn, |c| approve(c, other.id, &x, &a, &keys)),
        Err(VaultError::DeskNotFound(_))
    ));
    assert!(matches!(
        tx!(&mut conn, |c| remove(c, other.id, &x, &a)),
        Err(VaultError::DeskNotFound(_))
    ));
    let (theirs, _) = tx!(&mut conn, |c| pull(c, other.id, &x, 0, 10)).unwrap();
    assert!(theirs.is_empty());
    // The owner's record is untouched.
    let mine = tx!(&mut conn, |c| record(c, one.id, &a, R1)).unwrap();
    assert_eq!((mine.version, mine.ciphertext), (1, sealed(5)));
});

crate::db_test!(
    a_revoked_desk_loses_access_and_recovery_needs_the_proof,
    |db| {
        let mut conn = db.get().unwrap();
        let (agency, a) = active_agency_with_certificate(&mut conn, "Vault Revoked");
        let b = another_certificate(&mut conn, &agency);
        let c_desk = another_certificate(&mut conn, &agency);
        let id = agency.id;
        tx!(&mut conn, |c| init(c, id, &a, &init_request())).unwrap();
        tx!(&mut conn, |c| join(c, id, &b, &key(2))).unwrap();
        let keys = vec![WrappedKey {
            epoch: 1,
            wrapped: wrapped(2),
        }];
        tx!(&mut conn, |c| approve(c, id, &a, &b, &keys)).unwrap();

        crate::with_conn!(&mut conn, |c| c
            .revoke_certificate(&b, ca::RevocationReason::KeyCompromise))
        .unwrap();
        let seen = tx!(&mut conn, |c| status(c, id, &a)).unwrap();
        assert!(seen.rotation_required);
        let desk_b = seen.desks.iter().find(|d| d.desk == b).unwrap();
        assert_eq!(desk_b.state, VaultDeskState::Removed);
        assert!(
            tx!(&mut conn, |c| Ok(c.wrapped_keys(id, &b)?))
                .unwrap()
                .is_empty()
        );

        // Recovery: a wrong proof changes nothing; the right one lets a new desk in.
        let mut request = VaultRecover {
            public_key: key(3),
            recovery_proof: key(41),
            keys: vec![WrappedKey {
                epoch: 1,
                wrapped: wrapped(3),
            }],
        };
        assert!(matches!(
            tx!(&mut conn, |c| recover(c, id, &c_desk, &request)),
            Err(VaultError::WrongRecoveryKey)
        ));
        assert!(
            tx!(&mut conn, |c| Ok(c.find_vault_desk(id, &c_desk)?))
                .unwrap()
                .is_none()
        );
        request.recovery_proof = key(42);
        let desk = tx!(&mut conn, |c| recover(c, id, &c_desk, &request)).unwrap();
        assert_eq!(desk.state, VaultDeskState::Approved);
        assert!(matches!(
            tx!(&mut conn, |c| recover(c, id, &b, &request)),
            Err(VaultError::Removed)
        ));
    }
);

crate::db_test!(sizes_and_counts_are_bounded, |db| {
    let mut conn = db.get().unwrap();
    let (agency, a) = active_agency_with_certificate(&mut conn, "Vault Bounds");
    let id = agency.id;
    tx!(&mut conn, |c| init(c, id, &a, &init_request())).unwrap();
    let mut big = change(R1, 0, 1, 1);
    big.ciphertext = b64(&vec![1u8; MAX_CIPHERTEXT + 1]);
    let too_many: Vec<_> = (0..=MAX_PUSH)
        .map(|i| change(&format!("RECORDAAAAAAAA{i:04}"), 0, 1, 1))
        .collect();
    for bad in [
        vec![big],
        vec![change("short", 0, 1, 1)],
        vec![change("RECORD/AAAAAAAAAAAA", 0, 1, 1)],
        vec![change(R1, 0, 1, 1), change(R1, 0, 1, 2)],
        vec![change(R1, -1, 1, 1)],
        too_many,
        Vec::new(),
    ] {
        assert!(
            matches!(
                tx!(&mut conn, |c| push(c, id, &a, &bad)),
                Err(VaultError::Invalid { .. })
            ),
            "{} change(s) refused",
            bad.len()
        );
    }
    let mut bad_key = init_request();
    bad_key.public_key = b64(&[1; 31]);
    let (other, x) = active_agency_with_certificate(&mut conn, "Vault Bounds Two");
    assert!(matches!(
        tx!(&mut conn, |c| init(c, other.id, &x, &bad_key)),
        Err(VaultError::Invalid { .. })
    ));
    assert!(matches!(
        tx!(&mut conn, |c| approve(
            c,
            id,
            &a,
            &a,
            &[WrappedKey {
                epoch: 1,
                wrapped: b64(&[0; 300])
            }]
        )),
        Err(VaultError::DeskNotWaiting { .. })
    ));
});
