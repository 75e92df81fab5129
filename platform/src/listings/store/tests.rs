//! The store's tests, on SQLite and PostgreSQL: versioning, re-signing, withdrawals and
//! take-downs, the change feed, and search semantics.

use super::*;
use crate::audit::AuditLog;
use crate::testing::fixtures;
use api_types::api::PublishOutcome;
use api_types::{ListingDocument, SearchCriteria, StandardStatus};

fn doc(key: &str) -> ListingDocument {
    ListingDocument::example(key)
}

fn later(mut d: ListingDocument, secs: i64) -> ListingDocument {
    d.modification_timestamp += time::Duration::seconds(secs);
    d
}

crate::db_test!(publish_is_idempotent_versioned_and_fed, |db| {
    let mut conn = db.get().unwrap();
    let (agency, serial) = fixtures::active_agency_with_certificate(&mut conn, "Acme");
    let first = fixtures::publish(&mut conn, agency.id, &serial, &doc("K-1")).unwrap();
    assert_eq!(first.outcome, PublishOutcome::Created);
    assert_eq!(first.current.version, 1);
    assert_eq!(first.sequence, Some(1));

    // The same document again: nothing changes, no event.
    let again = fixtures::publish(&mut conn, agency.id, &serial, &doc("K-1")).unwrap();
    assert_eq!(again.outcome, PublishOutcome::Unchanged);
    assert_eq!(again.current.version, 1);

    // A price drop: version 2, an `updated` event.
    let cheaper = ListingDocument {
        list_price: api_types::Price::new(300_000).unwrap(),
        ..later(doc("K-1"), 60)
    };
    let second = fixtures::publish(&mut conn, agency.id, &serial, &cheaper).unwrap();
    assert_eq!(second.kind, Some(ChangeKind::Updated));
    assert_eq!(second.current.version, 2);
    assert_eq!(second.previous.as_ref().unwrap().price, 350_000);

    // Only the status changes: `status_changed`.
    let offer = ListingDocument {
        standard_status: StandardStatus::UnderOffer,
        ..later(cheaper.clone(), 120)
    };
    let third = fixtures::publish(&mut conn, agency.id, &serial, &offer).unwrap();
    assert_eq!(third.kind, Some(ChangeKind::StatusChanged));

    // An older document arriving late is refused; nothing changes.
    let err = fixtures::publish(&mut conn, agency.id, &serial, &doc("K-1")).unwrap_err();
    assert!(matches!(err, PublishError::Stale { .. }), "{err}");

    let events = crate::with_conn!(&mut conn, |c| c.changes_after(0, 100)).unwrap();
    let kinds: Vec<ChangeKind> = events.iter().map(|e| e.event_type).collect();
    assert_eq!(
        kinds,
        [
            ChangeKind::Created,
            ChangeKind::Updated,
            ChangeKind::StatusChanged
        ]
    );
    assert_eq!(events[2].entity_event_sequence, 3);
    assert_eq!(events[2].list_office_name, "Acme");
    assert_eq!(
        events[2].listing.as_ref().unwrap().get().list_price.get(),
        300_000
    );
    let (count, latest) = crate::with_conn!(&mut conn, |c| c.count_changes_after(1)).unwrap();
    assert_eq!((count, latest), (2, 3));
    let page = crate::with_conn!(&mut conn, |c| c.changes_after(1, 1)).unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].entity_event_sequence, 2);
});

crate::db_test!(
    equal_timestamps_refuse_other_content_and_resign_same_content,
    |db| {
        let mut conn = db.get().unwrap();
        let (agency, serial) = fixtures::active_agency_with_certificate(&mut conn, "Acme");
        fixtures::publish(&mut conn, agency.id, &serial, &doc("K-1")).unwrap();
        // The same ModificationTimestamp with other content: refused, nothing changes.
        let sneaky = ListingDocument {
            list_price: api_types::Price::new(1).unwrap(),
            ..doc("K-1")
        };
        let err = fixtures::publish(&mut conn, agency.id, &serial, &sneaky).unwrap_err();
        assert!(matches!(err, PublishError::SameTimestamp { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("every change needs a newer ModificationTimestamp")
        );
        // The same content signed again by the same certificate (a new ECDSA signature): unchanged.
        let retry = fixtures::publish(&mut conn, agency.id, &serial, &doc("K-1")).unwrap();
        assert_eq!(
            (retry.outcome, retry.current.version),
            (PublishOutcome::Unchanged, 1)
        );
        // By another certificate of the agency (renewal, re-enrolment): re-signed.
        let renewed = fixtures::another_certificate(&mut conn, &agency);
        let resigned = fixtures::publish(&mut conn, agency.id, &renewed, &doc("K-1")).unwrap();
        assert_eq!(resigned.outcome, PublishOutcome::Resigned);
        assert_eq!(resigned.kind, Some(ChangeKind::Resigned));
        assert_eq!(resigned.current.version, 2);
        assert_eq!(resigned.current.cert_serial, renewed);
        assert_ne!(resigned.current.signature, retry.current.signature);
        assert_eq!(
            resigned.current.document, retry.current.document,
            "content unchanged"
        );
        assert_eq!(resigned.current.price, 350_000);
        // And again from the new certificate: unchanged.
        let again = fixtures::publish(&mut conn, agency.id, &renewed, &doc("K-1")).unwrap();
        assert_eq!(again.outcome, PublishOutcome::Unchanged);
        let events = crate::with_conn!(&mut conn, |c| c.changes_after(0, 10)).unwrap();
        let kinds: Vec<ChangeKind> = events.iter().map(|e| e.event_type).collect();
        assert_eq!(kinds, [ChangeKind::Created, ChangeKind::Resigned]);
        assert_eq!(
            events[1].certificate_serial.as_deref(),
            Some(renewed.as_str())
        );
    }
);

crate::db_test!(a_row_stored_before_rfc_8785_is_the_same_content, |db| {
    let mut conn = db.get().unwrap();
    let (agency, serial) = fixtures::active_agency_with_certificate(&mut conn, "Acme");
    let d = ListingDocument {
        living_area: Some(84.0),
        ..doc("K-1")
    };
    let first = fixtures::publish(&mut conn, agency.id, &serial, &d).unwrap();
    // As the platform stored it before: serde_json's form, 84.0.
    let old_form = String::from_utf8(api_types::canonical::legacy_form_for_verification_only(
        &serde_json::to_value(&d).unwrap(),
    ))
    .unwrap();
    assert_ne!(old_form, first.current.document);
    crate::with_conn!(&mut conn, |c| diesel::update(
        listings::table.find(first.current.id)
    )
    .set(listings::document.eq(&old_form))
    .execute(c))
    .unwrap();
    let retry = fixtures::publish(&mut conn, agency.id, &serial, &d).unwrap();
    assert_eq!(retry.outcome, PublishOutcome::Unchanged, "not a conflict");
    let renewed = fixtures::another_certificate(&mut conn, &agency);
    let resigned = fixtures::publish(&mut conn, agency.id, &renewed, &d).unwrap();
    assert_eq!(resigned.outcome, PublishOutcome::Resigned);
    assert_eq!(
        resigned.current.document, first.current.document,
        "now in RFC 8785 form"
    );
});

crate::db_test!(signed_withdrawal_and_signed_take_down, |db| {
    let (_dir, signer) = fixtures::platform_signer(db);
    let mut conn = db.get().unwrap();
    let (agency, serial) = fixtures::active_agency_with_certificate(&mut conn, "Acme");
    fixtures::publish(&mut conn, agency.id, &serial, &doc("K-1")).unwrap();
    fixtures::publish(&mut conn, agency.id, &serial, &doc("K-2")).unwrap();
    let withdrawal = ListingDocument {
        standard_status: StandardStatus::Withdrawn,
        ..later(doc("K-1"), 30)
    };
    let withdrawn = fixtures::publish(&mut conn, agency.id, &serial, &withdrawal).unwrap();
    assert_eq!(withdrawn.kind, Some(ChangeKind::Withdrawn));
    // Twice is harmless.
    let again = fixtures::publish(&mut conn, agency.id, &serial, &withdrawal).unwrap();
    assert_eq!(again.outcome, PublishOutcome::Unchanged);

    let k2 = crate::with_conn!(&mut conn, |c| c.find_listing(agency.id, "K-2"))
        .unwrap()
        .unwrap();
    let down = crate::write_tx!(&mut conn, |c| c.take_down_listing(
        k2.id,
        &crate::audit::Actor::Operator("cli".into()),
        "fraud",
        &signer
    ))
    .unwrap()
    .unwrap();
    assert_eq!(down.kind, Some(ChangeKind::TakenDown));
    // The agency cannot bring it back.
    let err = fixtures::publish(&mut conn, agency.id, &serial, &later(doc("K-2"), 10)).unwrap_err();
    assert!(matches!(err, PublishError::TakenDown(_)));
    let events = crate::with_conn!(&mut conn, |c| c.changes_after(2, 10)).unwrap();
    assert_eq!(events.len(), 2);
    // The withdrawal carries the agency's signed Withdrawn document.
    let w = &events[0];
    assert_eq!(
        (w.event_type, w.status.as_str()),
        (ChangeKind::Withdrawn, "withdrawn")
    );
    let object = w.listing.as_ref().unwrap();
    assert_eq!(object.get(), &withdrawal);
    assert_eq!(w.certificate_serial.as_deref(), Some(serial.as_str()));
    assert!(w.signature.is_some() && w.takedown.is_none());
    // The take-down carries the platform's signed statement, and no listing.
    let t = &events[1];
    assert_eq!(t.status, "taken_down");
    assert!(t.listing.is_none() && t.signature.is_none());
    let takedown = t.takedown.as_ref().unwrap();
    let statement = takedown.statement.get();
    assert_eq!(statement.list_office_key, agency.id.to_string());
    assert_eq!(
        (statement.listing_key.as_str(), statement.version),
        ("K-2", t.version)
    );
    assert_eq!(statement.reason, "fraud");
    assert_eq!(takedown.certificate_serial, signer.serial());
    let der = ca::inspect::parse_chain_pem(signer.chain_pem())
        .unwrap()
        .remove(0);
    let bytes = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        &takedown.signature.value,
    )
    .unwrap();
    ca::sign::verify_with_certificate(
        &der,
        ca::sign::SignatureAlgorithm::EcdsaP256Sha256,
        takedown.statement.canonical_bytes(),
        &bytes,
    )
    .expect("the statement verifies with the platform's signing certificate");
    // Twice: nothing new, the first statement stays.
    let twice = crate::write_tx!(&mut conn, |c| c.take_down_listing(
        k2.id,
        &crate::audit::Actor::Operator("cli".into()),
        "again",
        &signer
    ))
    .unwrap()
    .unwrap();
    assert_eq!(twice.outcome, PublishOutcome::Unchanged);
    let audit =
        crate::with_conn!(&mut conn, |c| c.audit_entries(Some("listing.take_down"), 5)).unwrap();
    assert_eq!(audit.len(), 1);
    // Neither shows in search.
    let (rows, total) = crate::with_conn!(&mut conn, |c| c.search_listings(&ListingQuery {
        limit: 10,
        ..Default::default()
    }))
    .unwrap();
    assert_eq!((rows.len(), total), (0, 0));
});

crate::db_test!(search_applies_the_shared_semantics, |db| {
    use api_types::{PropertyType, TransactionType};
    let mut conn = db.get().unwrap();
    let (agency, serial) = fixtures::active_agency_with_certificate(&mut conn, "Acme");
    let listings = [
        ListingDocument::example("S-1"),
        ListingDocument {
            list_price: api_types::Price::new(1200).unwrap(),
            transaction_type: TransactionType::Rent,
            city: "Porto".into(),
            district: None,
            title: "Studio 100% renovated".into(),
            ..ListingDocument::example("S-2")
        },
        ListingDocument {
            list_price: api_types::Price::new(900_000).unwrap(),
            property_type: PropertyType::House,
            bedrooms_total: Some(4),
            rooms_total: Some(7),
            living_area: None,
            ..ListingDocument::example("S-3")
        },
    ];
    for d in &listings {
        fixtures::publish(&mut conn, agency.id, &serial, d).unwrap();
    }
    let search = |conn: &mut crate::db::DbConn, criteria: SearchCriteria, sort| {
        let (rows, total) = crate::with_conn!(conn, |c| c.search_listings(&ListingQuery {
            criteria: criteria.clone(),
            sort,
            offset: 0,
            limit: 10,
            exclude_ids: Vec::new(),
        }))
        .unwrap();
        // The SQL agrees with the reference semantics on every row.
        let expected: Vec<&str> = listings
            .iter()
            .filter(|d| {
                criteria
                    .normalized()
                    .matches(&api_types::search::ListingFacts::from_document(d))
            })
            .map(|d| d.listing_key.as_str())
            .collect();
        let mut got: Vec<String> = rows.iter().map(|r| r.listing_key.clone()).collect();
        assert_eq!(total as usize, got.len());
        let in_order = got.clone();
        got.sort();
        let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "{criteria:?}");
        in_order
    };
    let by_price = search(&mut conn, SearchCriteria::default(), ListingSort::PriceAsc);
    assert_eq!(by_price, ["S-2", "S-1", "S-3"]);
    let newest = search(&mut conn, SearchCriteria::default(), ListingSort::Newest);
    assert_eq!(newest, ["S-3", "S-2", "S-1"]);
    search(
        &mut conn,
        SearchCriteria {
            city: Some("PORTO".into()),
            ..Default::default()
        },
        ListingSort::Newest,
    );
    search(
        &mut conn,
        SearchCriteria {
            keywords: vec!["100%".into()],
            ..Default::default()
        },
        ListingSort::Newest,
    );
    search(
        &mut conn,
        SearchCriteria {
            keywords: vec!["%".into(), "RIVER".into()],
            ..Default::default()
        },
        ListingSort::Newest,
    );
    search(
        &mut conn,
        SearchCriteria {
            min_living_area: Some(10.0),
            ..Default::default()
        },
        ListingSort::Newest,
    );
    search(
        &mut conn,
        SearchCriteria {
            min_bedrooms: Some(3),
            property_types: vec![PropertyType::House],
            ..Default::default()
        },
        ListingSort::Newest,
    );
    search(
        &mut conn,
        SearchCriteria {
            district: Some("alfama".into()),
            max_price: Some(400_000),
            ..Default::default()
        },
        ListingSort::Newest,
    );
    search(
        &mut conn,
        SearchCriteria {
            transaction_type: Some(TransactionType::Rent),
            ..Default::default()
        },
        ListingSort::PriceDesc,
    );
});

crate::db_test!(
    search_leaves_out_what_the_user_dismissed_and_pages_stay_full,
    |db| {
        use crate::db::schema::dismissed_listings;
        let mut conn = db.get().unwrap();
        let (agency, serial) = fixtures::active_agency_with_certificate(&mut conn, "Acme");
        let mut ids = Vec::new();
        for i in 0..25 {
            let published =
                fixtures::publish(&mut conn, agency.id, &serial, &doc(&format!("D-{i:02}")))
                    .unwrap();
            ids.push(published.current.id);
        }
        let user = fixtures::user(&mut conn, "picky@example.org");
        let other = fixtures::user(&mut conn, "other@example.org");
        for id in &ids[..3] {
            crate::with_conn!(&mut conn, |c| diesel::insert_into(
                dismissed_listings::table
            )
            .values((
                dismissed_listings::user_id.eq(user),
                dismissed_listings::listing_id.eq(*id),
                dismissed_listings::created_at.eq(0_i64),
            ))
            .execute(c))
            .unwrap();
        }
        let dismissed_by = |conn: &mut crate::db::DbConn, u: i64| -> Vec<i64> {
            crate::with_conn!(conn, |c| dismissed_listings::table
                .filter(dismissed_listings::user_id.eq(u))
                .select(dismissed_listings::listing_id)
                .load(c))
            .unwrap()
        };
        let excluded = [
            dismissed_by(&mut conn, user),
            dismissed_by(&mut conn, other),
            Vec::new(),
        ];
        let query = |exclude: &Vec<i64>| ListingQuery {
            sort: ListingSort::PriceAsc,
            limit: 20,
            exclude_ids: exclude.clone(),
            ..Default::default()
        };
        let (rows, total) =
            crate::with_conn!(&mut conn, |c| c.search_listings(&query(&excluded[0]))).unwrap();
        assert_eq!(
            (rows.len(), total),
            (20, 22),
            "a full first page, the count without them"
        );
        assert!(rows.iter().all(|r| !ids[..3].contains(&r.id)));
        for exclude in &excluded[1..] {
            let (rows, total) =
                crate::with_conn!(&mut conn, |c| c.search_listings(&query(exclude))).unwrap();
            assert_eq!((rows.len(), total), (20, 25), "nothing left out");
        }
    }
);

crate::db_test!(
    a_change_names_the_version_it_edits_and_a_stale_one_is_refused,
    |db| {
        let mut conn = db.get().unwrap();
        let (agency, desk1) = fixtures::active_agency_with_certificate(&mut conn, "Acme");
        let desk2 = fixtures::another_certificate(&mut conn, &agency);
        let pay = |d: ListingDocument, price: u64, secs: i64| ListingDocument {
            list_price: api_types::Price::new(price).unwrap(),
            ..later(d, secs)
        };
        // A first publish: If-None-Match: * creates; from another desk it is refused once the
        // listing exists, carrying what is there.
        let first = fixtures::publish_with(
            &mut conn,
            agency.id,
            &desk1,
            &doc("B-1"),
            &Precondition::Absent,
        )
        .unwrap();
        assert_eq!(first.current.version, 1);
        let err = fixtures::publish_with(
            &mut conn,
            agency.id,
            &desk2,
            &pay(doc("B-1"), 1_000, 1),
            &Precondition::Absent,
        )
        .unwrap_err();
        match err {
            PublishError::VersionMismatch {
                expected: None,
                current: Some(row),
                ..
            } => assert_eq!(row.version, 1),
            other => panic!("expected a version mismatch, got {other}"),
        }
        // The same first publish again from desk 1 (its answer lost): unchanged, not refused.
        let retry = fixtures::publish_with(
            &mut conn,
            agency.id,
            &desk1,
            &doc("B-1"),
            &Precondition::Absent,
        )
        .unwrap();
        assert_eq!(retry.outcome, PublishOutcome::Unchanged);

        // Desk 2 edits version 1: version 2.
        let cheap = pay(doc("B-1"), 1_000, 10);
        let second = fixtures::publish_with(
            &mut conn,
            agency.id,
            &desk2,
            &cheap,
            &Precondition::Version(1),
        )
        .unwrap();
        assert_eq!(second.current.version, 2);
        // Desk 1's edit of version 1, although newer by its timestamp, is refused: 1,000 stays.
        let stale = pay(doc("B-1"), 280_000, 20);
        let err = fixtures::publish_with(
            &mut conn,
            agency.id,
            &desk1,
            &stale,
            &Precondition::Version(1),
        )
        .unwrap_err();
        assert!(
            matches!(&err, PublishError::VersionMismatch { expected: Some(1), current: Some(row), .. } if row.version == 2 && row.price == 1_000),
            "{err}"
        );
        assert!(err.to_string().contains("now version 2"), "{err}");
        // So is a withdrawal of version 1.
        let withdrawn = ListingDocument {
            standard_status: StandardStatus::Withdrawn,
            ..later(doc("B-1"), 30)
        };
        let err = fixtures::publish_with(
            &mut conn,
            agency.id,
            &desk1,
            &withdrawn,
            &Precondition::Version(1),
        )
        .unwrap_err();
        assert!(matches!(err, PublishError::VersionMismatch { .. }), "{err}");
        // With no header, desk 1 may not change what desk 2 wrote ...
        let err = fixtures::publish_with(
            &mut conn,
            agency.id,
            &desk1,
            &stale,
            &Precondition::SameDesk(desk1.clone()),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                PublishError::VersionRequired {
                    current_version: 2,
                    ..
                }
            ),
            "{err}"
        );
        // ... while desk 2, which wrote it, still may (an older desk working alone).
        let third = fixtures::publish_with(
            &mut conn,
            agency.id,
            &desk2,
            &pay(doc("B-1"), 1_100, 40),
            &Precondition::SameDesk(desk2.clone()),
        )
        .unwrap();
        assert_eq!(third.current.version, 3);
        // Desk 1, naming the current version, changes it; nothing was written in between.
        let row = crate::with_conn!(&mut conn, |c| c.find_listing(agency.id, "B-1"))
            .unwrap()
            .unwrap();
        assert_eq!((row.version, row.price), (3, 1_100));
        let fourth = fixtures::publish_with(
            &mut conn,
            agency.id,
            &desk1,
            &pay(doc("B-1"), 280_000, 50),
            &Precondition::Version(3),
        )
        .unwrap();
        assert_eq!((fourth.current.version, fourth.current.price), (4, 280_000));
        // If-Match on a key the agency has no listing under: refused, nothing created.
        let err = fixtures::publish_with(
            &mut conn,
            agency.id,
            &desk1,
            &doc("B-9"),
            &Precondition::Version(1),
        )
        .unwrap_err();
        assert!(
            matches!(err, PublishError::VersionMismatch { current: None, .. }),
            "{err}"
        );
        assert!(
            crate::with_conn!(&mut conn, |c| c.find_listing(agency.id, "B-9"))
                .unwrap()
                .is_none()
        );
        let events = crate::with_conn!(&mut conn, |c| c.changes_after(0, 100)).unwrap();
        assert_eq!(
            events.len(),
            4,
            "one event per accepted change, none for refusals"
        );
    }
);

crate::db_test!(price_history_keeps_each_price_change_once, |db| {
    let mut conn = db.get().unwrap();
    let (agency, serial) = fixtures::active_agency_with_certificate(&mut conn, "Acme");
    let first = fixtures::publish(&mut conn, agency.id, &serial, &doc("P-1")).unwrap();
    let priced = |d: ListingDocument, price: u64| ListingDocument {
        list_price: api_types::Price::new(price).unwrap(),
        ..d
    };
    // A drop, then a status change and a text edit at the same price, then a rise.
    let drop = priced(later(doc("P-1"), 60), 320_000);
    fixtures::publish(&mut conn, agency.id, &serial, &drop).unwrap();
    let offer = ListingDocument {
        standard_status: StandardStatus::UnderOffer,
        ..later(drop.clone(), 60)
    };
    fixtures::publish(&mut conn, agency.id, &serial, &offer).unwrap();
    let retitled = ListingDocument {
        title: "Bright flat, new kitchen".into(),
        ..later(offer.clone(), 60)
    };
    fixtures::publish(&mut conn, agency.id, &serial, &retitled).unwrap();
    let rise = priced(later(retitled.clone(), 60), 330_000);
    let last = fixtures::publish(&mut conn, agency.id, &serial, &rise).unwrap();
    // The same document again changes nothing.
    fixtures::publish(&mut conn, agency.id, &serial, &rise).unwrap();

    let id = first.current.id;
    let history = crate::with_conn!(&mut conn, |c| c.price_history(id)).unwrap();
    let seen: Vec<(i64, i64)> = history.iter().map(|p| (p.version, p.price)).collect();
    assert_eq!(seen, [(1, 350_000), (2, 320_000), (5, 330_000)]);
    assert_eq!(last.current.version, 5);
    assert_eq!(history[2].at, last.current.updated_at);
    assert!(history.iter().all(|p| p.currency == "EUR"));
});
