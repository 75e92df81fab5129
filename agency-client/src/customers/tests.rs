use api_types::{ListingDocument, TransactionType};

use super::*;
use crate::db::Store;
use crate::db::schema::hints;

fn desk() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    for key in ["OWN-1", "OWN-2"] {
        crate::listings::add(store.conn(), ListingDocument::example(key)).unwrap();
    }
    (dir, store)
}

fn rent_in(city: &str) -> SearchCriteria {
    SearchCriteria {
        transaction_type: Some(TransactionType::Rent),
        city: Some(city.into()),
        ..SearchCriteria::default()
    }
}

fn keys(k: &[&str]) -> Vec<String> {
    k.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn an_owner_is_linked_only_to_own_listings() {
    let (_d, mut store) = desk();
    let conn = store.conn();
    let e = add_owner(conn, "Olga", "", &keys(&["OWN-1", "NOPE"])).unwrap_err();
    assert_eq!(e.field(), Some("--listing"));
    assert!(
        e.to_string()
            .contains("\"NOPE\" is not one of this agency's listings")
    );
    assert!(list(conn).unwrap().is_empty(), "nothing stored");
    let o = add_owner(conn, " Olga ", " 900 ", &keys(&["OWN-1", " OWN-1"])).unwrap();
    assert_eq!((o.name.as_str(), o.contact.as_str()), ("Olga", "900"));
    assert_eq!(o.listing_keys, ["OWN-1"]);
}

#[test]
fn names_must_not_be_empty_or_too_long() {
    let (_d, mut store) = desk();
    let conn = store.conn();
    let e = add_tenant(conn, "  ", "", &rent_in("porto")).unwrap_err();
    assert_eq!(e.field(), Some("--name"));
    assert!(e.to_string().contains("is empty"), "{e}");
    let long = "x".repeat(201);
    assert!(add_owner(conn, &long, "", &[]).is_err());
    assert_eq!(
        add_owner(conn, "Olga", &long, &[]).unwrap_err().field(),
        Some("--contact")
    );
    assert!(list(conn).unwrap().is_empty());
}

#[test]
fn editing_changes_only_what_is_given() {
    let (_d, mut store) = desk();
    let conn = store.conn();
    let o = add_owner(conn, "Olga", "olga@example.org", &keys(&["OWN-1"])).unwrap();
    let changed = edit(
        conn,
        o.id,
        &CustomerChanges {
            name: Some("Olga Silva".into()),
            listing_keys: Some(keys(&["OWN-2", "OWN-1"])),
            ..CustomerChanges::default()
        },
    )
    .unwrap();
    assert_eq!(changed.name, "Olga Silva");
    assert_eq!(changed.contact, "olga@example.org", "not given, kept");
    assert_eq!(changed.listing_keys, ["OWN-2", "OWN-1"]);
    let cleared = edit(
        conn,
        o.id,
        &CustomerChanges {
            contact: Some(String::new()),
            listing_keys: Some(Vec::new()),
            ..CustomerChanges::default()
        },
    )
    .unwrap();
    assert_eq!(cleared.contact, "");
    assert!(cleared.listing_keys.is_empty());
    assert_eq!(cleared.name, "Olga Silva");
}

#[test]
fn a_refused_edit_stores_nothing() {
    let (_d, mut store) = desk();
    let conn = store.conn();
    let o = add_owner(conn, "Olga", "1", &keys(&["OWN-1"])).unwrap();
    let t = add_tenant(conn, "Tom", "2", &rent_in("porto")).unwrap();
    let nothing = edit(conn, o.id, &CustomerChanges::default()).unwrap_err();
    assert!(
        nothing.to_string().contains("nothing to change"),
        "{nothing}"
    );
    let unknown = edit(
        conn,
        999,
        &CustomerChanges {
            name: Some("X".into()),
            ..CustomerChanges::default()
        },
    )
    .unwrap_err();
    assert_eq!(unknown.code(), "not_found");
    assert!(unknown.to_string().contains("there is no customer 999"));
    let tenant_listings = edit(
        conn,
        t.id,
        &CustomerChanges {
            name: Some("Tomás".into()),
            listing_keys: Some(keys(&["OWN-1"])),
            ..CustomerChanges::default()
        },
    )
    .unwrap_err();
    assert_eq!(tenant_listings.field(), Some("--listings"));
    assert!(tenant_listings.to_string().contains("is a tenant"));
    let bad_key = edit(
        conn,
        o.id,
        &CustomerChanges {
            name: Some("Olga Silva".into()),
            listing_keys: Some(keys(&["OWN-9"])),
            ..CustomerChanges::default()
        },
    )
    .unwrap_err();
    assert_eq!(bad_key.field(), Some("--listings"));
    let empty_name = edit(
        conn,
        o.id,
        &CustomerChanges {
            name: Some(" ".into()),
            contact: Some("changed".into()),
            ..CustomerChanges::default()
        },
    )
    .unwrap_err();
    assert_eq!(empty_name.field(), Some("--name"));
    assert_eq!(get(conn, o.id).unwrap().name, "Olga");
    assert_eq!(get(conn, o.id).unwrap().contact, "1");
    assert_eq!(get(conn, o.id).unwrap().listing_keys, ["OWN-1"]);
    assert_eq!(get(conn, t.id).unwrap().name, "Tom");
}

/// A verified shared listing in Porto, so a tenant there gets a hint.
fn porto_listing(conn: &mut SqliteConnection, key: &str) {
    let mut doc = ListingDocument::example(key);
    doc.city = "Porto".into();
    doc.transaction_type = TransactionType::Rent;
    let page = api_types::api::ChangesPage {
        events: vec![api_types::api::ChangeEvent {
            entity_event_sequence: 1,
            event_type: api_types::api::ChangeKind::Created,
            list_office_key: "42".into(),
            list_office_name: "Other Agency".into(),
            listing_key: key.into(),
            version: 1,
            event_timestamp: crate::listings::timestamp_now(),
            listing: Some(api_types::ListingObject::new(doc).unwrap()),
            signature: None,
            certificate_serial: None,
            status: "active".into(),
            takedown: None,
        }],
        next_after: 1,
        has_more: false,
    };
    let mut report = crate::feed::PullReport::default();
    crate::feed::apply_page(
        conn,
        &page,
        &[crate::feed::EventCheck::listing(
            crate::signatures::Verdict::verified(),
        )],
        &mut report,
    )
    .unwrap();
}

#[test]
fn removing_a_tenant_deletes_their_hints_and_marks_and_nothing_else() {
    let (_d, mut store) = desk();
    let conn = store.conn();
    porto_listing(conn, "S-1");
    let tom = add_tenant(conn, "Tom", "", &rent_in("porto")).unwrap();
    let tina = add_tenant(conn, "Tina", "", &rent_in("porto")).unwrap();
    let olga = add_owner(conn, "Olga", "", &keys(&["OWN-1"])).unwrap();
    let tom_hint = list_hints(conn, false)
        .unwrap()
        .into_iter()
        .find(|h| h.customer_id == tom.id)
        .unwrap();
    dismiss(conn, tom_hint.id).unwrap();
    let removed = remove(conn, tom.id, false).unwrap();
    assert_eq!(removed.customer.name, "Tom");
    assert_eq!(removed.hints, 1, "the unsuitable mark goes too");
    let left: Vec<i32> = hints::table.select(hints::customer_id).load(conn).unwrap();
    assert_eq!(left, [tina.id], "Tina's hint stays");
    let ids: Vec<i32> = list(conn).unwrap().iter().map(|c| c.id).collect();
    assert_eq!(ids, [tina.id, olga.id]);
    assert_eq!(
        crate::listings::list(conn).unwrap().len(),
        2,
        "listings stay"
    );
    let again = remove(conn, tom.id, false).unwrap_err();
    assert_eq!(again.code(), "not_found");
    let removed = remove(conn, olga.id, false).unwrap();
    assert_eq!(removed.customer.listing_keys, ["OWN-1"]);
    assert_eq!(crate::listings::list(conn).unwrap().len(), 2);
}

#[test]
fn a_watched_tenant_is_removed_only_with_the_watch() {
    let (_d, mut store) = desk();
    let conn = store.conn();
    let tom = add_tenant(conn, "Tom", "", &rent_in("porto")).unwrap();
    diesel::update(customers::table.find(tom.id))
        .set(customers::watch_id.eq(Some(12i64)))
        .execute(conn)
        .unwrap();
    let e = remove(conn, tom.id, false).unwrap_err();
    assert!(
        e.to_string()
            .contains("is watched on the platform (saved search 12)"),
        "{e}"
    );
    assert!(get(conn, tom.id).is_ok(), "kept");
    remove(conn, tom.id, true).unwrap();
    assert!(list(conn).unwrap().is_empty());
}

#[test]
fn an_owner_has_no_wishes() {
    let (_d, mut store) = desk();
    let conn = store.conn();
    let o = add_owner(conn, "Olga", "", &[]).unwrap();
    let e = set_wishes(conn, o.id, &rent_in("porto")).unwrap_err();
    assert!(e.to_string().contains("Olga (customer"), "{e}");
    assert!(get(conn, o.id).unwrap().wishes.is_none());
}

#[test]
fn a_watch_handle_is_opaque_and_random() {
    let handles: Vec<String> = (0..50).map(|_| new_handle()).collect();
    for h in &handles {
        let tail = h.strip_prefix("tenant-").expect(h);
        assert_eq!(tail.len(), 8, "{h}");
        assert!(
            tail.bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)),
            "{h}"
        );
    }
    let mut distinct = handles.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        handles.len(),
        "40 random bits do not repeat here"
    );
}
