//! The desktop window driven without a window through egui_kittest, over a temporary desk
//! database seeded through the core library (no platform needed), except the vault's desk
//! removal, which runs against the real platform binary (as the end-to-end tests find it).

use agency_client::db::Store;
use agency_client::gui::{App, Notice};
use agency_client::signatures::Verdict;
use agency_client::{conflicts, customers, feed, listings};
use api_types::api::{ChangeEvent, ChangeKind, ChangesPage};
use api_types::search::SearchCriteria;
use api_types::{ListingDocument, TransactionType};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

fn seeded() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let conn = store.conn();
    let mut own = ListingDocument::example("OWN-1");
    own.title = "Sunny flat by the river".into();
    listings::add(conn, own).unwrap();
    customers::add_owner(conn, "Olga Owner", "olga@example.org", &["OWN-1".into()]).unwrap();
    let wishes = SearchCriteria {
        transaction_type: Some(TransactionType::Rent),
        city: Some("Porto".into()),
        ..SearchCriteria::default()
    };
    customers::add_tenant(conn, "Tom Tenant", "+351 900 000 000", &wishes).unwrap();
    let mut doc = ListingDocument::example("S-7");
    doc.city = "Porto".into();
    doc.transaction_type = TransactionType::Rent;
    doc.list_price = api_types::Price::new(950).unwrap();
    doc.title = "Two rooms near the market".into();
    // Fits the tenant too, but its signature failed: shown flagged, never hinted.
    let mut forged = doc.clone();
    forged.listing_key = api_types::ListingKey::parse("S-8").unwrap();
    forged.title = "Suspiciously cheap loft".into();
    forged.list_price = api_types::Price::new(500).unwrap();
    let event = |seq: i64, doc: ListingDocument| ChangeEvent {
        entity_event_sequence: seq,
        event_type: ChangeKind::Created,
        list_office_key: "42".into(),
        list_office_name: "Other Agency".into(),
        listing_key: doc.listing_key.to_string(),
        version: 1,
        event_timestamp: listings::timestamp_now(),
        listing: Some(api_types::ListingObject::new(doc).unwrap()),
        signature: None,
        certificate_serial: None,
        status: "active".into(),
        takedown: None,
    };
    let page = ChangesPage {
        events: vec![event(1, doc), event(2, forged)],
        next_after: 2,
        has_more: false,
    };
    let mut report = feed::PullReport::default();
    let checks = [
        feed::EventCheck::listing(Verdict::verified()),
        feed::EventCheck::listing(Verdict::invalid(
            "its agency's signature does not match its content",
        )),
    ];
    feed::apply_page(store.conn(), &page, &checks, &mut report).unwrap();
    assert_eq!(
        report.new_hints, 1,
        "only the verified listing gives a hint"
    );
    assert_eq!(report.invalid.len(), 1);
    (dir, store)
}

/// Stores an identity as enrolment would, issued by a throwaway CA (nothing is contacted).
fn enrol_offline(store: &mut Store, ca_dir: &std::path::Path, endpoint: &str) {
    use diesel::RunQueryDsl;
    let authority =
        ca::CertificateAuthority::load_or_create(ca_dir, "Test Exchange", None).unwrap();
    let key = ca::keys::PrivateKey::generate_p256().unwrap();
    let issued = authority
        .issue_client(
            &key.csr_pem("desk").unwrap(),
            &ca::ClientProfile::new("7", "Casa Nova Imóveis", 90),
        )
        .unwrap();
    let ms = |t: time::OffsetDateTime| (t.unix_timestamp_nanos() / 1_000_000) as i64;
    let row = agency_client::identity::Identity {
        id: 1,
        agency_id: 7,
        chain_pem: format!("{}{}", issued.pem, authority.issuing_pem()),
        key_pem: key.to_encrypted_pem("secret").unwrap().to_string(),
        root_pem: authority.root_pem().to_owned(),
        root_fingerprint: authority.root_fingerprint().to_string(),
        serial: issued.serial.clone(),
        not_before: ms(issued.not_before),
        not_after: ms(issued.not_after),
        feed_cursor: 1,
        enrolled_at: ms(issued.not_before),
        revoked_at: None,
        revocation_note: None,
        certificate_cursor: 0,
    };
    diesel::insert_into(agency_client::db::schema::identity::table)
        .values(&row)
        .execute(store.conn())
        .unwrap();
    agency_client::identity::set_endpoints(store.conn(), &[endpoint.to_owned()]).unwrap();
}

/// A seeded desk enrolled with a platform that cannot be reached: nothing listens on port 9
/// here, so the connection is refused at once.
fn enrolled_unreachable() -> (tempfile::TempDir, Store) {
    let (dir, mut store) = seeded();
    enrol_offline(&mut store, &dir.path().join("ca"), "https://127.0.0.1:9");
    (dir, store)
}

fn harness(store: Store) -> Harness<'static, App> {
    Harness::builder()
        .with_size([1200.0, 1400.0])
        .build_ui_state(|ui, app: &mut App| app.ui(ui), App::new(store, Vec::new()))
}

/// A taller window, so everyone's listings below the own ones are on screen.
fn tall_harness(store: Store) -> Harness<'static, App> {
    Harness::builder()
        .with_size([1200.0, 2400.0])
        .build_ui_state(|ui, app: &mut App| app.ui(ui), App::new(store, Vec::new()))
}

/// True when `AGENCY_CLIENT_PASSPHRASE` is set: the window then asks for no passphrase, and the
/// tests that go through the prompt have nothing to do.
fn the_prompt_is_skipped() -> bool {
    std::env::var_os("AGENCY_CLIENT_PASSPHRASE").is_some()
}

/// Unlocks the key in the passphrase dialog (the offline desks' passphrase is `secret`) and
/// waits for the background job it starts to end.
fn unlock_and_wait(h: &mut Harness<'_, App>) {
    unlock_with_and_wait(h, "secret");
}

/// Same, with the passphrase `passphrase`.
fn unlock_with_and_wait(h: &mut Harness<'_, App>, passphrase: &str) {
    let role = eframe::egui::Role::PasswordInput;
    h.get_by_role_and_label(role, "Passphrase").focus();
    h.run();
    h.get_by_role_and_label(role, "Passphrase")
        .type_text(passphrase);
    h.run();
    h.get_by_label("Unlock").click();
    wait_for_the_job(h);
}

/// Steps the window until the background job ends (at most a minute), then once more so its
/// outcome is shown.
fn wait_for_the_job(h: &mut Harness<'_, App>) {
    h.step();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while h.state().busy() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
        h.step();
    }
    h.step();
}

/// The status line shows a problem containing `needle`.
fn expect_problem(h: &Harness<'_, App>, needle: &str) {
    match h.state().notice() {
        Some(Notice::Problem(t)) => assert!(t.contains(needle), "{t}"),
        other => panic!("expected a problem, got {other:?}"),
    }
}

/// Clicks the widget labelled `label` and lets the window answer.
fn click(h: &mut Harness<'_, App>, label: &str) {
    h.get_by_label(label).click();
    h.run();
}

fn go(h: &mut Harness<'_, App>, view: &str) {
    h.get_by_label_contains(view).click();
    h.run();
}

#[test]
fn every_view_shows_its_key_labels() {
    let (_dir, store) = seeded();
    let mut h = harness(store);
    h.get_by_label("Own listings");
    h.get_by_label("Sunny flat by the river");
    h.get_by_label("New listing");

    go(&mut h, "Customers");
    h.get_by_label("Owners and tenants");
    h.get_by_label("Olga Owner");
    h.get_by_label("Tom Tenant");

    go(&mut h, "Hints");
    h.get_by_label("Open hints");
    h.get_by_label("Two rooms near the market");

    go(&mut h, "Sync");
    h.get_by_label("Sync with the platform");
    h.get_by_label("Publish queued and pull");
    h.get_by_label("Updates available: not asked yet");

    go(&mut h, "Certificate");
    h.get_by_label("Desk certificate");
    h.get_by_label_contains("not enrolled yet");
}

#[test]
fn the_certificate_view_shows_subject_and_days_left_and_asks_for_the_passphrase() {
    let (dir, mut store) = seeded();
    enrol_offline(
        &mut store,
        &dir.path().join("ca"),
        "https://exchange.example:8443",
    );
    let mut h = harness(store);
    go(&mut h, "Certificate");
    h.get_by_label("Subject");
    h.get_by_label_contains("Casa Nova");
    h.get_by_label("Days left");
    h.get_by_label("89");
    h.get_by_label("https://exchange.example:8443");
    if std::env::var_os("AGENCY_CLIENT_PASSPHRASE").is_none() {
        click(&mut h, "Renew certificate now");
        h.get_by_label("Key passphrase");
        click(&mut h, "Cancel");
        assert!(h.query_by_label("Key passphrase").is_none());
        assert!(!h.state().busy());
    }
}

#[test]
fn a_revoked_certificate_is_shown_as_revoked_with_what_to_do() {
    let (dir, mut store) = seeded();
    enrol_offline(
        &mut store,
        &dir.path().join("ca"),
        "https://exchange.example:8443",
    );
    agency_client::identity::record_revoked(
        store.conn(),
        "certificate 1f was revoked (key_compromise); ask the platform operator for a new enrolment token",
    )
    .unwrap();
    let mut h = harness(store);
    go(&mut h, "Certificate");
    h.get_by_label_contains("REVOKED: the platform refuses this certificate");
    h.get_by_label_contains("key_compromise");
    h.get_by_label_contains("run `agency-client enroll` again");
    assert!(h.query_by_label_contains("Renewal is due").is_none());
}

fn type_into(h: &mut Harness<'_, App>, label: &str, text: &str) {
    h.get_by_role_and_label(eframe::egui::Role::TextInput, label)
        .focus();
    h.run();
    h.get_by_role_and_label(eframe::egui::Role::TextInput, label)
        .type_text(text);
    h.run();
}

#[test]
fn a_listing_added_through_the_form_is_stored() {
    let (_dir, store) = seeded();
    let mut h = harness(store);
    type_into(&mut h, "Listing key", "NEW-1");
    type_into(&mut h, "Title", "Garden house");
    type_into(&mut h, "City", "Braga");
    type_into(&mut h, "Price", "250000");
    click(&mut h, "Save listing");
    let stored = listings::get(h.state_mut().store().conn(), "NEW-1").unwrap();
    assert_eq!(stored.document.title, "Garden house");
    assert_eq!(stored.document.city, "Braga");
    assert_eq!(stored.document.list_price.get(), 250_000);
    assert_eq!(stored.state, "draft");
    h.get_by_label("Garden house");
}

#[test]
fn a_bad_price_is_shown_next_to_the_field() {
    let (_dir, store) = seeded();
    let mut h = harness(store);
    type_into(&mut h, "Listing key", "NEW-2");
    type_into(&mut h, "Title", "Cheap");
    type_into(&mut h, "City", "Faro");
    type_into(&mut h, "Price", "twelve");
    click(&mut h, "Save listing");
    h.get_by_label_contains("Price must be a whole number");
    assert!(listings::get(h.state_mut().store().conn(), "NEW-2").is_err());
}

#[test]
fn a_listing_withdrawn_and_its_status_changed_from_the_table() {
    let (_dir, store) = seeded();
    let mut h = harness(store);
    h.get_by_role_and_label(eframe::egui::Role::Button, "Status")
        .click();
    h.run();
    click(&mut h, "under offer");
    let l = listings::get(h.state_mut().store().conn(), "OWN-1").unwrap();
    assert_eq!(
        l.document.standard_status,
        api_types::StandardStatus::UnderOffer
    );
    click(&mut h, "Withdraw");
    let l = listings::get(h.state_mut().store().conn(), "OWN-1").unwrap();
    assert_eq!(l.state, "withdrawn");
    assert!(h.query_by_label("Withdraw").is_none());
}

#[test]
fn editing_a_listing_through_the_form_changes_it() {
    let (_dir, store) = seeded();
    let mut h = harness(store);
    click(&mut h, "Edit");
    h.get_by_label("Edit listing OWN-1");
    type_into(&mut h, "Title", " (renovated)");
    click(&mut h, "Save listing");
    let l = listings::get(h.state_mut().store().conn(), "OWN-1").unwrap();
    assert_eq!(l.document.title, "Sunny flat by the river (renovated)");
}

#[test]
fn a_tenants_wishes_edited_in_the_window_recompute_the_hints() {
    let (_dir, store) = seeded();
    let mut h = harness(store);
    go(&mut h, "Customers");
    click(&mut h, "Edit wishes of Tom Tenant");
    type_into(&mut h, "Highest price", "900");
    click(&mut h, "Save wishes");
    let conn = h.state_mut().store().conn();
    let tom = customers::list(conn)
        .unwrap()
        .into_iter()
        .find(|c| c.name == "Tom Tenant")
        .unwrap();
    assert_eq!(tom.wishes.unwrap().max_price, Some(900));
    assert!(
        customers::list_hints(conn, false).unwrap().is_empty(),
        "950 is over 900"
    );
    go(&mut h, "Hints");
    h.get_by_label("No open hints.");
}

#[test]
fn a_hint_marked_unsuitable_goes_away() {
    let (_dir, store) = seeded();
    let mut h = harness(store);
    go(&mut h, "Hints");
    click(&mut h, "Not suitable");
    assert!(h.query_by_label("Not suitable").is_none());
    h.get_by_label("No open hints.");
    let conn = h.state_mut().store().conn();
    assert!(customers::list_hints(conn, false).unwrap().is_empty());
    assert_eq!(
        customers::list_hints(conn, true).unwrap()[0].state,
        "unsuitable"
    );
}

#[test]
fn a_vault_conflict_shows_both_sides_and_staff_pick_one() {
    use agency_client::vault::local::{self, RecordRow};
    let (_dir, mut store) = seeded();
    let conn = store.conn();
    let tom = customers::list(conn)
        .unwrap()
        .into_iter()
        .find(|c| c.name == "Tom Tenant")
        .unwrap();
    let mut theirs = customers::synced::snapshot(conn, Some(tom.id))
        .unwrap()
        .remove(&tom.id)
        .unwrap();
    theirs.contact = "changed at the other office".into();
    local::put(
        conn,
        &RecordRow {
            record_id: "RECORDTOMAAAAAAAAAAAAAAAAA".into(),
            customer_id: Some(tom.id),
            version: 1,
            epoch: 1,
            synced_hash: Some("changed here since".into()),
            deleted: false,
        },
    )
    .unwrap();
    local::put_conflict(conn, "RECORDTOMAAAAAAAAAAAAAAAAA", 2, 1, Some(&theirs)).unwrap();
    let mut h = harness(store);
    go(&mut h, "Sync");
    h.get_by_label("1 conflict(s): pick a side");
    h.get_by_label_contains("This desk: Tom Tenant (tenant) +351 900 000 000");
    h.get_by_label_contains("Other desk: Tom Tenant (tenant) changed at the other office");
    click(&mut h, "Keep theirs (RECORDTOMAAAAAAAAAAAAAAAAA)");
    assert!(h.query_by_label("1 conflict(s): pick a side").is_none());
    let conn = h.state_mut().store().conn();
    let now = customers::get(conn, tom.id).unwrap();
    assert_eq!(now.contact, "changed at the other office");
    assert!(agency_client::vault::conflicts(conn).unwrap().is_empty());
    let row = local::find(conn, "RECORDTOMAAAAAAAAAAAAAAAAA")
        .unwrap()
        .unwrap();
    assert_eq!(
        row.version, 2,
        "based on their version now, nothing left to send"
    );
}

#[test]
fn a_sync_that_cannot_reach_the_platform_runs_in_the_background_and_says_so() {
    if the_prompt_is_skipped() {
        return;
    }
    let (_dir, store) = enrolled_unreachable();
    let mut h = harness(store);
    go(&mut h, "Sync");
    click(&mut h, "Publish queued and pull");
    unlock_and_wait(&mut h);
    expect_problem(&h, "Cannot reach the platform");
    h.get_by_label_contains("your changes are kept");
}

#[test]
fn everyones_listings_show_their_signature_state_and_a_remote_search_needs_enrolment() {
    let (_dir, store) = seeded();
    let mut h = tall_harness(store);
    h.get_by_label("Everyone's listings");
    h.get_by_label_contains("2 listing(s) pulled to this desk; 1 with an invalid signature");
    type_into(&mut h, "Search: city", "porto");
    click(&mut h, "Search here");
    h.get_by_label_contains("2 listing(s) pulled here match");
    h.get_by_label("Two rooms near the market");
    h.get_by_label("verified");
    h.get_by_label("Suspiciously cheap loft");
    h.get_by_label_contains("INVALID SIGNATURE: its agency's signature does not match");
    // A bad number is refused in plain words, nothing is searched.
    type_into(&mut h, "Search: lowest price", "lots");
    click(&mut h, "Search on platform");
    expect_problem(&h, "must be a whole number");
    assert!(!h.state().busy());
}

#[test]
fn a_search_on_the_platform_that_cannot_reach_it_says_so() {
    if the_prompt_is_skipped() {
        return;
    }
    let (_dir, store) = seeded();
    let mut h = tall_harness(store);
    click(&mut h, "Search on platform");
    expect_problem(&h, "not enrolled yet");
    let (_dir, store) = enrolled_unreachable();
    let mut h = tall_harness(store);
    click(&mut h, "Search on platform");
    unlock_and_wait(&mut h);
    expect_problem(&h, "Cannot reach the platform");
}

#[test]
fn sync_without_enrolment_says_so_in_plain_words() {
    let (_dir, store) = seeded();
    let mut h = harness(store);
    go(&mut h, "Sync");
    click(&mut h, "Publish queued and pull");
    expect_problem(&h, "not enrolled yet");
}

/// Not a test: fills `AGENCY_CLIENT_DEMO_DIR` with the demo data the screenshots show
/// (`docs/screenshots/take-agency-client.sh` runs it).
#[test]
#[ignore = "seeds a demo database for the screenshots"]
fn seed_demo_database() {
    let Ok(dir) = std::env::var("AGENCY_CLIENT_DEMO_DIR") else {
        return;
    };
    let (tmp, store) = seeded();
    drop(store);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(tmp.path()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(
            entry.path(),
            std::path::Path::new(&dir).join(entry.file_name()),
        )
        .unwrap();
    }
    let mut store = Store::open(std::path::Path::new(&dir)).unwrap();
    enrol_offline(
        &mut store,
        &std::path::Path::new(&dir).join("ca"),
        "https://exchange.example:8443",
    );
    let conn = store.conn();
    for (key, city, price, title) in [
        ("OWN-2", "Lisbon", 1_250, "Bright studio in Alfama"),
        ("OWN-3", "Coimbra", 310_000, "Family house with garden"),
    ] {
        let mut d = ListingDocument::example(key);
        d.city = city.into();
        d.list_price = api_types::Price::new(price).unwrap();
        d.title = title.into();
        listings::add(conn, d).unwrap();
    }
    listings::edit(conn, "OWN-3", |d| {
        d.standard_status = api_types::StandardStatus::UnderOffer
    })
    .unwrap();
    customers::add_owner(
        conn,
        "Rui Almeida",
        "rui@example.org",
        &["OWN-2".into(), "OWN-3".into()],
    )
    .unwrap();
    let ines = customers::add_tenant(
        conn,
        "Inês Costa",
        "+351 912 345 678",
        &SearchCriteria {
            transaction_type: Some(TransactionType::Sale),
            city: Some("Lisbon".into()),
            max_price: Some(400_000),
            min_bedrooms: Some(2),
            ..SearchCriteria::default()
        },
    )
    .unwrap();
    // Shown as watched on the platform (as `customer watch` would record).
    use agency_client::db::schema::customers as c;
    use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
    diesel::update(c::table.find(ines.id))
        .set(c::watch_id.eq(Some(3i64)))
        .execute(conn)
        .unwrap();
}

fn customer_named(h: &mut Harness<'_, App>, name: &str) -> Option<customers::Customer> {
    customers::list(h.state_mut().store().conn())
        .unwrap()
        .into_iter()
        .find(|c| c.name == name)
}

#[test]
fn an_owner_added_in_the_window_is_linked_to_the_chosen_listing() {
    let (_dir, store) = seeded();
    let mut h = harness(store);
    go(&mut h, "Customers");
    click(&mut h, "New owner");
    h.get_by_label("Add an owner");
    type_into(&mut h, "Name", "Ana Owner");
    type_into(&mut h, "Contact (phone or email)", "ana@example.org");
    click(&mut h, "OWN-1: Sunny flat by the river");
    click(&mut h, "Save customer");
    let ana = customer_named(&mut h, "Ana Owner").expect("stored");
    assert_eq!(ana.kind, "owner");
    assert_eq!(ana.contact, "ana@example.org");
    assert_eq!(ana.listing_keys, ["OWN-1"]);
    h.get_by_label("Ana Owner");
    h.get_by_label("Ana Owner was added.");
    assert!(
        h.query_by_label("Add an owner").is_none(),
        "the form closes"
    );
}

#[test]
fn a_tenant_added_in_the_window_gets_hints_for_their_wishes() {
    let (_dir, store) = seeded();
    let mut h = harness(store);
    go(&mut h, "Customers");
    click(&mut h, "New tenant");
    h.get_by_label("Add a tenant");
    type_into(&mut h, "Name", "Rita Renter");
    type_into(&mut h, "Wished city", "Porto");
    type_into(&mut h, "Highest price", "1000");
    click(&mut h, "Save customer");
    let rita = customer_named(&mut h, "Rita Renter").expect("stored");
    assert_eq!(rita.kind, "tenant");
    let wishes = rita.wishes.unwrap();
    assert_eq!(wishes.max_price, Some(1000));
    assert_eq!(wishes.city.as_deref(), Some("porto"));
    assert_eq!(
        rita.open_hints, 1,
        "the verified flat at 950 fits; the invalid one does not"
    );
    h.get_by_label("Rita Renter was added; 1 open hint(s).");
    go(&mut h, "Hints");
    h.get_by_label("Rita Renter");
}

#[test]
fn a_new_customers_mistakes_are_shown_next_to_the_field_and_nothing_is_stored() {
    let (_dir, store) = seeded();
    let mut h = harness(store);
    go(&mut h, "Customers");
    click(&mut h, "New tenant");
    type_into(&mut h, "Lowest price", "lots");
    click(&mut h, "Save customer");
    h.get_by_label("Name is empty; give the customer's name");
    h.get_by_label_contains("Lowest price must be a whole number");
    type_into(&mut h, "Name", "Rita Renter");
    click(&mut h, "Save customer");
    assert!(
        h.query_by_label("Name is empty; give the customer's name")
            .is_none()
    );
    h.get_by_label_contains("Lowest price must be a whole number, not \"lots\"");
    expect_problem(&h, "Nothing was saved");
    assert!(customer_named(&mut h, "Rita Renter").is_none());
    assert_eq!(
        customers::list(h.state_mut().store().conn()).unwrap().len(),
        2
    );
}

#[test]
fn a_customer_edited_in_the_window_keeps_what_was_not_changed() {
    let (_dir, store) = seeded();
    let mut h = harness(store);
    go(&mut h, "Customers");
    click(&mut h, "Edit Olga Owner");
    h.get_by_label("Change Olga Owner");
    type_into(&mut h, "Name", " Silva");
    type_into(&mut h, "Contact (phone or email)", ", +351 911");
    click(&mut h, "OWN-1: Sunny flat by the river");
    click(&mut h, "Save customer");
    let olga = customer_named(&mut h, "Olga Owner Silva").expect("renamed");
    assert_eq!(olga.contact, "olga@example.org, +351 911");
    assert!(olga.listing_keys.is_empty(), "unticked");
    assert!(customer_named(&mut h, "Olga Owner").is_none());
    let tom = customer_named(&mut h, "Tom Tenant").unwrap();
    assert_eq!(tom.open_hints, 1, "others untouched");
    h.get_by_label("Olga Owner Silva was saved.");
}

#[test]
fn removing_a_customer_asks_first_and_then_deletes_their_hints() {
    let (_dir, store) = seeded();
    let mut h = harness(store);
    go(&mut h, "Customers");
    click(&mut h, "Remove Tom Tenant");
    h.get_by_label("Remove Tom Tenant?");
    h.get_by_label_contains("1 open hint(s) and any not-suitable marks are deleted");
    click(&mut h, "Keep Tom Tenant");
    assert!(h.query_by_label("Remove Tom Tenant?").is_none());
    assert!(customer_named(&mut h, "Tom Tenant").is_some(), "kept");

    click(&mut h, "Remove Tom Tenant");
    click(&mut h, "Yes, remove Tom Tenant");
    assert!(customer_named(&mut h, "Tom Tenant").is_none());
    let conn = h.state_mut().store().conn();
    assert!(customers::list_hints(conn, true).unwrap().is_empty());
    assert!(
        customer_named(&mut h, "Olga Owner").is_some(),
        "others stay"
    );
    assert!(h.query_by_label("Tom Tenant").is_none());
    h.get_by_label("Tom Tenant was removed from this desk with 1 hint(s).");
    go(&mut h, "Hints");
    h.get_by_label("No open hints.");
}

#[test]
fn watching_a_tenant_needs_enrolment() {
    let (_dir, store) = seeded();
    let mut h = harness(store);
    go(&mut h, "Customers");
    click(&mut h, "Watch Tom Tenant on the platform");
    expect_problem(&h, "not enrolled yet");
    assert!(!h.state().busy());
}

#[test]
fn watching_or_removing_a_watched_tenant_without_the_platform_says_so_and_keeps_them() {
    if the_prompt_is_skipped() {
        return;
    }
    use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
    let (_dir, store) = enrolled_unreachable();
    let mut h = harness(store);
    go(&mut h, "Customers");
    click(&mut h, "Watch Tom Tenant on the platform");
    unlock_and_wait(&mut h);
    expect_problem(
        &h,
        "Cannot reach the platform at https://127.0.0.1:9, so Tom Tenant is not watched there yet",
    );
    assert_eq!(customer_named(&mut h, "Tom Tenant").unwrap().watch_id, None);

    // Watched earlier: removal must delete the platform's copy first; it cannot, so nothing goes.
    let tom = customer_named(&mut h, "Tom Tenant").unwrap();
    use agency_client::db::schema::customers as c;
    diesel::update(c::table.find(tom.id))
        .set(c::watch_id.eq(Some(12i64)))
        .execute(h.state_mut().store().conn())
        .unwrap();
    h.state_mut().reload();
    h.run();
    click(&mut h, "Remove Tom Tenant");
    h.get_by_label_contains("is watched on the platform (saved search 12)");
    h.get_by_label("Yes, remove Tom Tenant").click();
    wait_for_the_job(&mut h);
    expect_problem(&h, "so nothing was removed");
    let tom = customer_named(&mut h, "Tom Tenant").expect("kept");
    assert_eq!(tom.open_hints, 1);
}

#[test]
fn wishes_that_contradict_themselves_are_shown_next_to_the_field_and_not_stored() {
    let (_dir, store) = seeded();
    let mut h = harness(store);
    go(&mut h, "Customers");
    click(&mut h, "Edit wishes of Tom Tenant");
    h.get_by_label("Wishes of Tom Tenant");
    type_into(&mut h, "Lowest price", "2000");
    type_into(&mut h, "Highest price", "1000");
    click(&mut h, "Save wishes");
    h.get_by_label("Highest price must not be below the minimum price");
    let tom = customer_named(&mut h, "Tom Tenant").unwrap();
    assert_eq!(tom.wishes.unwrap().max_price, None, "unchanged");
    assert_eq!(tom.open_hints, 1);
}

/// OWN-1 published as version 1, edited here (price 999), while another desk published version
/// 2 (price 1,000, a new title): the conflict as the desk records it from the platform's 412.
fn in_conflict() -> (tempfile::TempDir, Store) {
    use diesel::RunQueryDsl;
    let (dir, mut store) = seeded();
    let conn = store.conn();
    diesel::sql_query(
        "UPDATE own_listings SET published_version = 1, dirty = 0 WHERE listing_key = 'OWN-1'",
    )
    .execute(conn)
    .unwrap();
    listings::edit(conn, "OWN-1", |d| {
        d.list_price = api_types::Price::new(999).unwrap()
    })
    .unwrap();
    let mut theirs = ListingDocument::example("OWN-1");
    theirs.title = "Sunny flat, new kitchen".into();
    theirs.list_price = api_types::Price::new(1_000).unwrap();
    theirs.modification_timestamp = listings::timestamp_now();
    let current = api_types::api::StoredListing {
        listing_key: "OWN-1".into(),
        version: 2,
        status: "active".into(),
        listing: api_types::ListingObject::new(theirs).unwrap(),
        signature: None,
        certificate_serial: "0b".into(),
        takedown_reason: None,
        takedown: None,
        held_at: None,
    };
    conflicts::record(
        conn,
        "OWN-1",
        "publish",
        Some(1),
        Some(&current),
        &Verdict::verified(),
    )
    .unwrap();
    (dir, store)
}

#[test]
fn a_conflict_shows_both_versions_and_keep_theirs_takes_the_other_desks() {
    let (_dir, store) = in_conflict();
    let mut h = tall_harness(store);
    h.get_by_label("Conflicts (1)");
    h.get_by_label("Mine (this desk)");
    h.get_by_label("Theirs (platform version 2)");
    // Side by side: this desk's price beside the other desk's (mine also in the own table),
    // and the other desk's title.
    assert_eq!(h.query_all_by_label("999 EUR").count(), 2);
    h.get_by_label("1000 EUR");
    h.get_by_label("Sunny flat, new kitchen");
    assert_eq!(
        listings::get(h.state_mut().store().conn(), "OWN-1")
            .unwrap()
            .state,
        "conflict"
    );
    click(&mut h, "Keep theirs (OWN-1)");
    let l = listings::get(h.state_mut().store().conn(), "OWN-1").unwrap();
    assert_eq!(
        (
            l.state.as_str(),
            l.document.list_price.get(),
            l.published_version
        ),
        ("published", 1_000, Some(2))
    );
    assert_eq!(l.document.title, "Sunny flat, new kitchen");
    assert!(h.query_by_label("Conflicts (1)").is_none());
    assert!(
        conflicts::list(h.state_mut().store().conn())
            .unwrap()
            .is_empty()
    );
    assert!(
        listings::queue(h.state_mut().store().conn())
            .unwrap()
            .is_empty(),
        "nothing sent"
    );
}

#[test]
fn a_conflict_merged_in_the_form_then_kept_goes_out_on_top_of_theirs() {
    let (_dir, store) = in_conflict();
    let mut h = tall_harness(store);
    // Start from the other desk's version, add to its title, save: the merge is this desk's.
    click(&mut h, "Start from theirs (OWN-1)");
    h.get_by_label("Edit listing OWN-1");
    type_into(&mut h, "Title", " and balcony");
    click(&mut h, "Save listing");
    let l = listings::get(h.state_mut().store().conn(), "OWN-1").unwrap();
    assert_eq!(l.document.title, "Sunny flat, new kitchen and balcony");
    assert_eq!(l.state, "conflict", "still to be settled");
    // The conflict shows the merged version as mine (and the own table too).
    assert_eq!(
        h.query_all_by_label("Sunny flat, new kitchen and balcony")
            .count(),
        2
    );
    click(&mut h, "Keep mine (OWN-1)");
    let conn = h.state_mut().store().conn();
    let l = listings::get(conn, "OWN-1").unwrap();
    assert_eq!((l.state.as_str(), l.published_version), ("queued", Some(2)));
    assert_eq!(l.document.list_price.get(), 1_000);
    let queue = listings::queue(conn).unwrap();
    assert_eq!(
        (queue.len(), queue[0].action.as_str()),
        (1, "publish"),
        "sent with the next sync, as a change of version 2"
    );
    assert!(conflicts::list(conn).unwrap().is_empty());
}

/// The key passphrase of the desks enrolled with the real platform.
const REAL_PASSPHRASE: &str = "correct horse battery staple";

/// A desk enrolled for real with the agency `agency` of `app` (key passphrase [`REAL_PASSPHRASE`]).
fn real_desk(
    app: &platform::testing::PlatformProcess,
    token: &str,
    fingerprint: &str,
) -> (tempfile::TempDir, Store, agency_client::identity::Session) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    agency_client::identity::enroll(
        &mut store,
        &[app.agency_url()],
        token,
        fingerprint,
        REAL_PASSPHRASE,
        None,
    )
    .unwrap();
    let session = agency_client::identity::Session::open(&mut store, REAL_PASSPHRASE, &[]).unwrap();
    (dir, store, session)
}

#[test]
fn removing_a_desk_from_the_vault_asks_first_then_the_desk_loses_access() {
    if the_prompt_is_skipped() {
        return;
    }
    use agency_client::vault;
    let app = e2e_tests::platform().spawn().expect("platform starts");
    let added = app.cli_json(&[
        "agency",
        "add",
        "--name",
        "Window Realty",
        "--licence",
        "WR-1",
        "--email",
        "desk@window.example",
    ]);
    let fingerprint = added["ca_fingerprint"].as_str().unwrap().to_owned();
    let agency = added["agency"]["id"].as_i64().unwrap().to_string();
    let (_d1, mut store1, mut session1) =
        real_desk(&app, added["token"].as_str().unwrap(), &fingerprint);
    vault::init(&mut store1, &mut session1, REAL_PASSPHRASE).unwrap();
    let token = app.cli_json(&["agency", "token", &agency, "--desk", "Second office"]);
    let (_d2, mut store2, mut session2) =
        real_desk(&app, token["token"].as_str().unwrap(), &fingerprint);
    let waiting = vault::sync(&mut store2, &mut session2, REAL_PASSPHRASE).unwrap();
    assert_eq!(waiting.state, "waiting");
    let desk2 = waiting.desk.clone();
    vault::approve(
        &mut store1,
        &mut session1,
        REAL_PASSPHRASE,
        waiting.fingerprint.as_deref().unwrap(),
    )
    .unwrap();
    assert_eq!(
        vault::sync(&mut store2, &mut session2, REAL_PASSPHRASE)
            .unwrap()
            .state,
        "approved"
    );
    drop(session1);

    let mut h = harness(store1);
    go(&mut h, "Sync");
    click(&mut h, "Publish queued and pull");
    unlock_with_and_wait(&mut h, REAL_PASSPHRASE);
    h.get_by_label_contains(&format!("Desk {desk2} (approved), fingerprint"));

    // The first click only asks; keeping the desk changes nothing.
    click(&mut h, &format!("Remove desk {desk2}"));
    h.get_by_label(&format!("Remove desk {desk2} from the vault?"));
    h.get_by_label_contains("loses access: the vault key is rotated at once");
    click(&mut h, &format!("Keep desk {desk2}"));
    assert!(
        h.query_by_label(&format!("Remove desk {desk2} from the vault?"))
            .is_none()
    );
    assert_eq!(
        vault::sync(&mut store2, &mut session2, REAL_PASSPHRASE)
            .unwrap()
            .state,
        "approved",
        "kept"
    );

    // Confirmed: the platform refuses the desk from now on, and the key was rotated.
    click(&mut h, &format!("Remove desk {desk2}"));
    h.get_by_label(&format!("Yes, remove desk {desk2}")).click();
    wait_for_the_job(&mut h);
    match h.state().notice() {
        Some(Notice::Info(t)) => {
            assert!(
                t.contains(&format!("Desk {desk2} (fingerprint"))
                    && t.contains("was removed from the vault")
                    && t.contains("epoch 2"),
                "{t}"
            )
        }
        other => panic!("expected the removal, got {other:?}"),
    }
    assert!(
        h.query_by_label(&format!("Remove desk {desk2}")).is_none(),
        "a removed desk is not offered again"
    );
    let after = vault::sync(&mut store2, &mut session2, REAL_PASSPHRASE).unwrap();
    assert_eq!(after.state, "removed");
}
