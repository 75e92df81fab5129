//! HTTP tests of every console page and action not covered in `tests.rs`, in process against a
//! real database (both backends): certificates, listings (take-down and restore), users, mail,
//! the audit log, the dashboard's figures and the agency page's desks, certificates and
//! listings; and, for every action, the refusals (a signed-out visitor, a buyer's website
//! session, an operator without the second factor, a missing or wrong CSRF token), each read
//! back from the database: a refused action changes nothing, a done one is audited with the
//! operator's identity.

use actix_web::http::StatusCode;
use actix_web::test::{TestRequest, init_service};
use actix_web::{App, middleware};
use diesel::prelude::*;

use super::tests::{
    Browser, PASSWORD, audit, get, operator_with_password, pending_agency, post, send, signed_in,
    state, text_of,
};
use crate::accounts::UserStore;
use crate::accounts::operator::UserOverview;
use crate::accounts::secrets::sha256_hex;
use crate::agencies::{AgencyStatus, AgencyStore};
use crate::db::schema::{certificates, notifications};
use crate::listings::{ListingQuery, ListingStatus, ListingStore};
use crate::notify::outbox::{MailKind, NewNotification, OutboxStore};
use crate::notify::store::{MailDesk, NotificationStatus};
use crate::pki::CertificateStore;
use crate::searches::{NewSavedSearch, Owner, SavedSearchStore};
use crate::state::AppState;
use crate::testing::fixtures;
use api_types::SearchCriteria;
use api_types::api::ChangeKind;

const OPS: &str = "operator:ops@example.org";

/// A website user with a saved search for flats in Lisbon; returns (user id, search id).
fn buyer_with_search(state: &AppState, email: &str, verified: bool) -> (i64, i64) {
    let mut conn = state.db.get().unwrap();
    let now = crate::db::now_ms();
    let user = crate::with_conn!(&mut conn, |c| c.insert_user(
        email,
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$SECRETHASHMARKER",
        verified.then_some(now),
        now
    ))
    .unwrap()
    .unwrap();
    let search = NewSavedSearch::new(
        "Lisbon flats",
        &SearchCriteria {
            city: Some("Lisbon".into()),
            max_price: Some(400_000),
            ..Default::default()
        },
    )
    .unwrap();
    let saved = crate::write_tx!(&mut conn, |c| c.create_saved_search(
        Owner::User(user),
        &search,
        now
    ))
    .unwrap();
    (user, saved.id)
}

/// A signed-in website session of `user` (the buyer's cookie value).
fn buyer_session(state: &AppState, user: i64) -> String {
    use crate::accounts::sessions::{SessionRow, SessionStore};
    let mut conn = state.db.get().unwrap();
    let id = format!("buyer-session-{user}");
    let now = crate::db::now_ms();
    let row = SessionRow {
        id_hash: sha256_hex(&id),
        user_id: Some(user),
        csrf_token: "buyer-csrf".into(),
        created_at: now,
        expires_at: now + 3_600_000,
    };
    crate::with_conn!(&mut conn, |c| c.replace_session(None, &row, now)).unwrap();
    id
}

/// An active agency with a certificate and one published listing; returns (agency id, serial,
/// listing id).
fn agency_with_listing(state: &AppState, name: &str, key: &str) -> (i64, String, i64) {
    let mut conn = state.db.get().unwrap();
    let (agency, serial) = fixtures::active_agency_with_certificate(&mut conn, name);
    let doc = api_types::ListingDocument::example(key);
    let published = fixtures::publish(&mut conn, agency.id, &serial, &doc).unwrap();
    (agency.id, serial, published.current.id)
}

fn listing_status(state: &AppState, id: i64) -> (String, i64) {
    let mut conn = state.db.get().unwrap();
    let l = crate::with_conn!(&mut conn, |c| c.find_listing_by_id(id))
        .unwrap()
        .unwrap();
    (l.status, l.version)
}

fn searchable(state: &AppState, id: i64) -> bool {
    let mut conn = state.db.get().unwrap();
    let (rows, _) = crate::with_conn!(&mut conn, |c| c.search_listings(&ListingQuery {
        limit: 50,
        ..Default::default()
    }))
    .unwrap();
    rows.iter().any(|r| r.id == id)
}

fn failed_mail(state: &AppState, to: &str) -> i64 {
    let mut conn = state.db.get().unwrap();
    let n = NewNotification::new(
        MailKind::AgencyApproved,
        to.to_owned(),
        format!("test-mail:{to}"),
        serde_json::json!({"agency_name": "Mailed Homes", "token": "SECRET-ENROLMENT-TOKEN"}),
    );
    assert!(crate::write_tx!(&mut conn, |c| c.enqueue_notification(&n)).unwrap());
    crate::with_conn!(&mut conn, |c| {
        diesel::update(notifications::table.filter(notifications::recipient.eq(to)))
            .set((
                notifications::status.eq(NotificationStatus::Failed),
                notifications::attempts.eq(5),
                notifications::last_error.eq("550 mailbox unavailable"),
            ))
            .execute(c)
            .unwrap();
        notifications::table
            .filter(notifications::recipient.eq(to))
            .select(notifications::id)
            .first::<i64>(c)
            .unwrap()
    })
}

fn mail_status(state: &AppState, id: i64) -> NotificationStatus {
    let mut conn = state.db.get().unwrap();
    crate::with_conn!(&mut conn, |c| c.mail_row(id))
        .unwrap()
        .unwrap()
        .status
}

fn user_disabled(state: &AppState, id: i64) -> bool {
    let mut conn = state.db.get().unwrap();
    crate::with_conn!(&mut conn, |c| c.user_summary(id))
        .unwrap()
        .unwrap()
        .disabled_at
        .is_some()
}

fn cert_status(state: &AppState, serial: &str) -> String {
    let mut conn = state.db.get().unwrap();
    crate::with_conn!(&mut conn, |c| c.find_certificate(serial))
        .unwrap()
        .unwrap()
        .status
}

fn agency_status(state: &AppState, id: i64) -> AgencyStatus {
    let mut conn = state.db.get().unwrap();
    crate::with_conn!(&mut conn, |c| c.find_agency(id))
        .unwrap()
        .unwrap()
        .status()
}

crate::db_test!(async certificates_list_filter_details_pem_and_revoke, |db| {
    let (_dir, state) = state(db);
    let app = console_app!(state);
    let email = operator_with_password(&app, &state, "ops@example.org").await;
    let mut b = signed_in(&app, &state, &email, 0).await;
    let (agency, serial, _) = agency_with_listing(&state, "Cert Homes", "CERT-1");
    let (other, other_serial, _) = agency_with_listing(&state, "Other Homes", "OTHER-1");

    let all = get(&app, &mut b, "/certificates").await;
    assert_eq!(all.status, StatusCode::OK);
    assert!(all.body.contains(&serial) && all.body.contains(&other_serial));
    assert!(all.body.contains("Current CRL of the issuing CA"), "{}", all.body);
    // Filters: agency, state, kind, serial, ending within 30 days.
    let mine = get(&app, &mut b, &format!("/certificates?agency={agency}")).await;
    assert!(mine.body.contains(&serial) && !mine.body.contains(&other_serial));
    let by_serial = get(&app, &mut b, &format!("/certificates?serial={}", &serial[..12])).await;
    assert!(by_serial.body.contains(&serial) && !by_serial.body.contains(&other_serial));
    let servers = get(&app, &mut b, "/certificates?kind=server").await;
    assert!(!servers.body.contains(&serial));
    let revoked = get(&app, &mut b, "/certificates?state=revoked").await;
    assert!(revoked.body.contains("No certificate matches."));
    // One of them ends in 10 days: only it is "expiring".
    {
        let mut conn = state.db.get().unwrap();
        let soon = crate::db::now_ms() + 10 * 86_400_000;
        crate::with_conn!(&mut conn, |c| diesel::update(certificates::table.find(&other_serial))
            .set(certificates::not_after.eq(soon))
            .execute(c))
        .unwrap();
    }
    let expiring = get(&app, &mut b, "/certificates?expiring=1").await;
    assert!(expiring.body.contains(&other_serial) && !expiring.body.contains(&serial));

    // Details: subject, serial, validity, fingerprint, chain; the PEM download.
    let page = get(&app, &mut b, &format!("/certificates/{serial}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let row = {
        let mut conn = state.db.get().unwrap();
        crate::with_conn!(&mut conn, |c| c.find_certificate(&serial)).unwrap().unwrap()
    };
    assert_eq!(text_of(&page.body, "fingerprint"), row.fingerprint);
    assert!(page.body.contains(&row.subject) && page.body.contains("(valid)"));
    assert!(page.body.contains("BEGIN CERTIFICATE"));
    let pem = get(&app, &mut b, &format!("/certificates/{serial}/pem")).await;
    assert_eq!(pem.status, StatusCode::OK);
    assert_eq!(pem.headers.get("content-type").unwrap(), "application/x-pem-file");
    assert!(pem.headers.get("content-disposition").unwrap().to_str().unwrap().contains(&serial));
    assert_eq!(pem.body.matches("-----BEGIN CERTIFICATE-----").count(), 2, "{}", pem.body);
    assert!(pem.body.starts_with(row.pem.trim_end()));
    assert_eq!(get(&app, &mut b, "/certificates/00ff/pem").await.status, StatusCode::NOT_FOUND);

    // Revoke: a reason outside RFC 5280 is refused on the page, nothing changes.
    get(&app, &mut b, &format!("/certificates/{serial}")).await;
    let bad = post(&app, &mut b, &format!("/certificates/{serial}/revoke"), &[("reason", "because")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("choose one of key_compromise"), "{}", bad.body);
    assert_eq!(cert_status(&state, &serial), "valid");
    assert!(audit(&state, "cert.revoke").is_empty());
    let done = post(&app, &mut b, &format!("/certificates/{serial}/revoke"), &[("reason", "superseded")]).await;
    assert_eq!(done.location(), format!("/certificates/{serial}?done=revoked"));
    assert_eq!(cert_status(&state, &serial), "revoked");
    let revoked = audit(&state, "cert.revoke");
    assert_eq!(revoked[0].actor, OPS);
    assert_eq!(revoked[0].subject.as_deref(), Some(serial.as_str()));
    let page = get(&app, &mut b, done.location()).await;
    assert!(page.body.contains("Revoked; refused from the next request"));
    assert!(page.body.contains("(revoked)") && page.body.contains("superseded"));
    let listed = get(&app, &mut b, "/certificates?state=revoked").await;
    assert!(listed.body.contains(&serial) && !listed.body.contains(&other_serial));
    // The CRL was rebuilt with it: the list shows a published CRL.
    assert!(listed.body.contains("Current CRL of the issuing CA: number"), "{}", listed.body);
    // Revoking again with the same reason is refused; the other agency is untouched.
    let again = post(&app, &mut b, &format!("/certificates/{serial}/revoke"), &[("reason", "superseded")]).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(audit(&state, "cert.revoke").len(), revoked.len());
    assert_eq!(cert_status(&state, &other_serial), "valid");
    assert_eq!(agency_status(&state, other), AgencyStatus::Active);
});

crate::db_test!(async listings_search_take_down_and_restore, |db| {
    let (_dir, state) = state(db);
    let app = console_app!(state);
    let email = operator_with_password(&app, &state, "ops@example.org").await;
    let mut b = signed_in(&app, &state, &email, 0).await;
    let (agency, _, id) = agency_with_listing(&state, "Tagus Homes", "TAGUS-1");
    let (_, _, other) = agency_with_listing(&state, "Douro Homes", "DOURO-1");
    let (buyer, search) = buyer_with_search(&state, "eva@example.com", true);
    {
        let mut conn = state.db.get().unwrap();
        crate::with_conn!(&mut conn, |c| state.matcher.rebuild(c, crate::db::now_ms())).unwrap();
    }

    // Search: by key, by agency, by state.
    let found = get(&app, &mut b, "/listings?q=TAGUS").await;
    assert!(found.body.contains(&format!("/listings/{id}\"")) && !found.body.contains(&format!("/listings/{other}\"")));
    let by_agency = get(&app, &mut b, &format!("/listings?agency={agency}")).await;
    assert!(by_agency.body.contains(&format!("/listings/{id}\"")) && !by_agency.body.contains(&format!("/listings/{other}\"")));
    let none = get(&app, &mut b, "/listings?status=taken_down").await;
    assert!(!none.body.contains(&format!("/listings/{id}\"")));
    let (_, v1) = listing_status(&state, id);

    // Take down: a reason is needed.
    get(&app, &mut b, &format!("/listings/{id}")).await;
    let bare = post(&app, &mut b, &format!("/listings/{id}/take-down"), &[("reason", "  ")]).await;
    assert_eq!(bare.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(listing_status(&state, id), ("active".to_owned(), v1));
    let down = post(&app, &mut b, &format!("/listings/{id}/take-down"), &[("reason", "the photos are of another flat")]).await;
    assert_eq!(down.location(), format!("/listings/{id}?done=taken-down"));
    assert_eq!(listing_status(&state, id), ("taken_down".to_owned(), v1 + 1));
    assert!(!searchable(&state, id) && searchable(&state, other));
    let taken = audit(&state, "listing.take_down");
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].actor, OPS);
    assert!(taken[0].detail.contains("the photos are of another flat"));
    let page = get(&app, &mut b, down.location()).await;
    assert!(page.body.contains("Taken down;") && page.body.contains("the photos are of another flat"));
    assert!(page.body.contains(&format!("/listings/{id}/restore")));
    let listed = get(&app, &mut b, "/listings?status=taken_down").await;
    assert!(listed.body.contains(&format!("/listings/{id}\"")));
    {
        let mut conn = state.db.get().unwrap();
        let events = crate::with_conn!(&mut conn, |c| c.changes_after(0, 100)).unwrap();
        let last = events.last().unwrap();
        assert_eq!((last.event_type, last.listing.is_none()), (ChangeKind::TakenDown, true));
        assert!(last.takedown.is_some());
    }

    // Restore: a reason is needed; then it is back as the agency signed it, for search, the
    // feed (with the agency's signature) and the saved search that matches it.
    let bare = post(&app, &mut b, &format!("/listings/{id}/restore"), &[("reason", "")]).await;
    assert_eq!(bare.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(listing_status(&state, id).0, "taken_down");
    let restored = post(&app, &mut b, &format!("/listings/{id}/restore"), &[("reason", "the agency sent the right photos")]).await;
    assert_eq!(restored.location(), format!("/listings/{id}?done=restored"), "{}", restored.body);
    assert_eq!(listing_status(&state, id), ("active".to_owned(), v1 + 2));
    assert!(searchable(&state, id));
    let back = audit(&state, "listing.restore");
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].actor, OPS);
    assert_eq!(back[0].subject.as_deref(), Some(id.to_string().as_str()));
    assert!(back[0].detail.contains("the agency sent the right photos"));
    assert!(back[0].detail.contains("the photos are of another flat"));
    let page = get(&app, &mut b, restored.location()).await;
    assert!(page.body.contains("Restored; the listing is visible again."));
    assert!(page.body.contains(&format!("/listings/{id}/take-down")));
    {
        let mut conn = state.db.get().unwrap();
        assert!(crate::with_conn!(&mut conn, |c| c.find_takedown(id)).unwrap().is_none());
        let events = crate::with_conn!(&mut conn, |c| c.changes_after(0, 100)).unwrap();
        let mine: Vec<_> = events.iter().filter(|e| e.listing_key == "TAGUS-1").collect();
        // Created, taken down, restored: read now, every one shows the listing as signed, and
        // the undone take-down no longer asks desks to remove it.
        assert_eq!(mine.len(), 3);
        assert!(mine.iter().all(|e| e.listing.is_some() && e.signature.is_some() && e.takedown.is_none()));
        assert!(mine.iter().all(|e| e.event_type != ChangeKind::TakenDown && e.status == "active"));
        assert_eq!(mine[2].event_type, ChangeKind::StatusChanged);
        assert_eq!(mine[2].version, v1 + 2);
        // The buyer's saved search hears it is back on the market.
        let rows = crate::with_conn!(&mut conn, |c| c.mail_rows(Some(NotificationStatus::Pending), 50)).unwrap();
        let back_mail = rows
            .iter()
            .find(|r| r.saved_search_id == Some(search) && r.listing_version == Some(v1 + 2))
            .expect("a back-on-the-market match");
        assert_eq!(back_mail.user_id, Some(buyer));
        assert!(back_mail.payload.contains("back_on_market"), "{}", back_mail.payload);
    }
    // Restoring what is not taken down is refused; taking it down again works.
    let again = post(&app, &mut b, &format!("/listings/{id}/restore"), &[("reason", "twice")]).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.body.contains("not taken down"), "{}", again.body);
    assert_eq!(audit(&state, "listing.restore").len(), 1);
    let down = post(&app, &mut b, &format!("/listings/{id}/take-down"), &[("reason", "fraud after all")]).await;
    assert_eq!(down.location(), format!("/listings/{id}?done=taken-down"));
    assert_eq!(listing_status(&state, id), ("taken_down".to_owned(), v1 + 3));
    assert_eq!(get(&app, &mut b, "/listings/99999").await.status, StatusCode::NOT_FOUND);
    let missing = post(&app, &mut b, "/listings/99999/restore", &[("reason", "x")]).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(listing_status(&state, other).0, "active");
});

crate::db_test!(async users_search_disable_enable_resend_and_saved_searches, |db| {
    let (_dir, state) = state(db);
    let app = console_app!(state);
    let email = operator_with_password(&app, &state, "ops@example.org").await;
    let mut b = signed_in(&app, &state, &email, 0).await;
    let (new, _) = buyer_with_search(&state, "new.buyer@example.com", false);
    let (old, _) = buyer_with_search(&state, "old.buyer@example.com", true);

    let found = get(&app, &mut b, "/users?q=new.buyer").await;
    assert!(found.body.contains("new.buyer@example.com") && !found.body.contains("old.buyer@example.com"));
    let page = get(&app, &mut b, &format!("/users/{new}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Lisbon flats") && page.body.contains("Lisbon"));
    // Never the password hash.
    assert!(!page.body.contains("SECRETHASHMARKER") && !page.body.contains("argon2"));
    assert!(!found.body.contains("SECRETHASHMARKER"));

    // Resend the confirmation link: a verify-email mail queued, audited.
    let a = post(&app, &mut b, &format!("/users/{new}/resend"), &[]).await;
    assert_eq!(a.location(), format!("/users/{new}?done=resent"));
    let queued = {
        let mut conn = state.db.get().unwrap();
        crate::with_conn!(&mut conn, |c| c.mail_rows(Some(NotificationStatus::Pending), 50)).unwrap()
    };
    assert!(queued.iter().any(|m| m.recipient == "new.buyer@example.com" && m.kind == "verify_email"), "{queued:?}");
    assert_eq!(audit(&state, "user.resend_verification")[0].actor, OPS);
    // Not to a confirmed address.
    get(&app, &mut b, &format!("/users/{old}")).await;
    let refused = post(&app, &mut b, &format!("/users/{old}/resend"), &[]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("confirmed their address already"));
    assert_eq!(audit(&state, "user.resend_verification").len(), 1);

    // Disable and enable, each once.
    let a = post(&app, &mut b, &format!("/users/{old}/disable"), &[]).await;
    assert_eq!(a.location(), format!("/users/{old}?done=disabled"));
    assert!(user_disabled(&state, old));
    assert_eq!(audit(&state, "user.disable")[0].actor, OPS);
    let page = get(&app, &mut b, a.location()).await;
    assert!(page.body.contains("(disabled)"));
    let twice = post(&app, &mut b, &format!("/users/{old}/disable"), &[]).await;
    assert_eq!(twice.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(audit(&state, "user.disable").len(), 1);
    let a = post(&app, &mut b, &format!("/users/{old}/enable"), &[]).await;
    assert_eq!(a.location(), format!("/users/{old}?done=enabled"));
    assert!(!user_disabled(&state, old));
    assert_eq!(audit(&state, "user.enable")[0].actor, OPS);
    assert!(!user_disabled(&state, new));
    assert_eq!(get(&app, &mut b, "/users/99999").await.status, StatusCode::NOT_FOUND);
});

crate::db_test!(async mail_inspect_retry_and_discard, |db| {
    let (_dir, state) = state(db);
    let app = console_app!(state);
    let email = operator_with_password(&app, &state, "ops@example.org").await;
    let mut b = signed_in(&app, &state, &email, 0).await;
    let failed = failed_mail(&state, "office@failed.example");

    let list = get(&app, &mut b, "/mail").await;
    assert!(list.body.contains(&format!("/mail/{failed}\"")) && list.body.contains("550 mailbox unavailable"));
    let page = get(&app, &mut b, &format!("/mail/{failed}")).await;
    assert!(page.body.contains("office@failed.example") && page.body.contains("Mailed Homes"));
    // The enrolment token in the payload is masked.
    assert!(!page.body.contains("SECRET-ENROLMENT-TOKEN"), "{}", page.body);

    let a = post(&app, &mut b, &format!("/mail/{failed}/retry"), &[]).await;
    assert_eq!(a.location(), format!("/mail/{failed}?done=retried"));
    assert_eq!(mail_status(&state, failed), NotificationStatus::Pending);
    assert_eq!(audit(&state, "mail.retry")[0].actor, OPS);
    // A pending mail cannot be retried; it can be discarded.
    get(&app, &mut b, &format!("/mail/{failed}")).await;
    let again = post(&app, &mut b, &format!("/mail/{failed}/retry"), &[]).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(audit(&state, "mail.retry").len(), 1);
    let a = post(&app, &mut b, &format!("/mail/{failed}/discard"), &[]).await;
    assert_eq!(a.location(), format!("/mail/{failed}?done=discarded"));
    assert_eq!(mail_status(&state, failed), NotificationStatus::Cancelled);
    let discarded = audit(&state, "mail.discard");
    assert_eq!(discarded[0].actor, OPS);
    let gone = post(&app, &mut b, &format!("/mail/{failed}/discard"), &[]).await;
    assert_eq!(gone.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(get(&app, &mut b, "/mail/99999").await.status, StatusCode::NOT_FOUND);
});

crate::db_test!(async audit_filters_by_operator_action_object_time_and_exports, |db| {
    let (_dir, state) = state(db);
    let app = console_app!(state);
    let ops = operator_with_password(&app, &state, "ops@example.org").await;
    let other = operator_with_password(&app, &state, "night@example.org").await;
    let mut a = signed_in(&app, &state, &ops, 0).await;
    let mut n = signed_in(&app, &state, &other, 0).await;
    let first = pending_agency(&state, "First Homes", "LIC-F");
    let second = pending_agency(&state, "Second Homes", "LIC-S");
    get(&app, &mut a, &format!("/agencies/{first}")).await;
    post(&app, &mut a, &format!("/agencies/{first}/approve"), &[]).await;
    get(&app, &mut n, &format!("/agencies/{second}")).await;
    post(&app, &mut n, &format!("/agencies/{second}/reject"), &[("reason", "unknown licence")]).await;

    let by_ops = get(&app, &mut a, "/audit?actor=ops%40example.org").await;
    assert!(by_ops.body.contains("agency.approve") && !by_ops.body.contains("agency.reject"));
    let by_night = get(&app, &mut a, "/audit?actor=night%40example.org").await;
    assert!(by_night.body.contains("agency.reject") && !by_night.body.contains("agency.approve"));
    let by_action = get(&app, &mut a, "/audit?action=agency.").await;
    assert!(by_action.body.contains("agency.approve") && by_action.body.contains("agency.reject"));
    assert!(!by_action.body.contains("operator.sign_in"));
    let by_object = get(&app, &mut a, &format!("/audit?object={second}&action=agency.")).await;
    assert!(by_object.body.contains("agency.reject") && !by_object.body.contains("agency.approve"));
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let day = |offset: i64| {
        crate::listings::ms_to_time(crate::db::now_ms() + offset * 86_400_000)
            .date()
            .format(&format)
            .unwrap()
    };
    let today = get(&app, &mut a, &format!("/audit?action=agency.&since={}&until={}", day(0), day(0))).await;
    assert!(today.body.contains("agency.approve") && today.body.contains("agency.reject"));
    let tomorrow = get(&app, &mut a, &format!("/audit?action=agency.&since={}", day(1))).await;
    assert!(!tomorrow.body.contains("agency.approve"));
    let yesterday = get(&app, &mut a, &format!("/audit?action=agency.&until={}", day(-1))).await;
    assert!(!yesterday.body.contains("agency.approve"));
    let bad = get(&app, &mut a, "/audit?since=last+week").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("use YYYY-MM-DD"));

    // The export: the filter's entries as JSON lines.
    let export = get(&app, &mut a, "/audit/export?action=agency.").await;
    assert_eq!(export.status, StatusCode::OK);
    assert!(export.headers.get("content-type").unwrap().to_str().unwrap().starts_with("application/x-ndjson"));
    let lines: Vec<serde_json::Value> = export
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{}", export.body);
    assert!(lines.iter().all(|l| l["action"].as_str().unwrap().starts_with("agency.")));
    let reject = lines.iter().find(|l| l["action"] == "agency.reject").unwrap();
    assert_eq!(reject["actor"], "operator:night@example.org");
    assert_eq!(reject["subject"], second.to_string());
    assert_eq!(reject["detail"]["reason"], "unknown licence");
    let only_ops = get(&app, &mut a, "/audit/export?actor=ops%40example.org&action=agency.").await;
    assert_eq!(only_ops.body.lines().count(), 1);
    assert!(only_ops.body.contains("\"operator:ops@example.org\""));
});

crate::db_test!(async dashboard_numbers_and_the_agency_page, |db| {
    let (_dir, state) = state(db);
    let app = console_app!(state);
    let email = operator_with_password(&app, &state, "ops@example.org").await;
    let mut b = signed_in(&app, &state, &email, 0).await;
    pending_agency(&state, "Applying Homes", "LIC-A");
    pending_agency(&state, "Applying Too", "LIC-B");
    let (agency, serial, listing) = agency_with_listing(&state, "Busy Homes", "BUSY-1");
    let (_, expiring_serial, _) = agency_with_listing(&state, "Ending Homes", "END-1");
    {
        let mut conn = state.db.get().unwrap();
        let soon = crate::db::now_ms() + 5 * 86_400_000;
        crate::with_conn!(&mut conn, |c| diesel::update(certificates::table.find(&expiring_serial))
            .set(certificates::not_after.eq(soon))
            .execute(c))
        .unwrap();
    }
    buyer_with_search(&state, "a@example.com", true);
    buyer_with_search(&state, "b@example.com", false);
    failed_mail(&state, "failed@example.org");
    {
        let mut conn = state.db.get().unwrap();
        crate::with_conn!(&mut conn, |c| state.matcher.rebuild(c, crate::db::now_ms())).unwrap();
    }

    let dash = get(&app, &mut b, "/").await;
    assert_eq!(dash.status, StatusCode::OK);
    assert_eq!(text_of(&dash.body, "agencies-pending"), "2");
    assert_eq!(text_of(&dash.body, "agencies-active"), "2");
    assert_eq!(text_of(&dash.body, "desks"), "2");
    assert_eq!(text_of(&dash.body, "listings-active"), "2");
    assert_eq!(text_of(&dash.body, "users"), "2");
    assert_eq!(text_of(&dash.body, "saved-searches-live"), "2");
    assert_eq!(text_of(&dash.body, "matcher-size"), "2");
    assert!(text_of(&dash.body, "matcher-rebuild").ends_with(" ms"), "{}", dash.body);
    assert_eq!(text_of(&dash.body, "certificates-expiring"), "1");
    assert!(dash.body.contains(&expiring_serial) && !dash.body.contains(&format!("<code>{serial}</code>")));
    // The failed mail waits no more; nothing is pending.
    assert_eq!(text_of(&dash.body, "outbox-depth"), "0");
    assert_eq!(text_of(&dash.body, "health-database"), "ok");
    // No SMTP configured: mail goes to files, which is fine.
    assert_eq!(text_of(&dash.body, "health-smtp"), "ok");
    for chart in ["Publishes", "Matches", "Mails sent", "Mails failed", "Sign-in failures"] {
        assert!(dash.body.contains(&format!("<strong>{chart}</strong>")), "{chart}");
    }
    assert!(dash.body.contains("<strong>Publishes</strong>: 2 in 24 h"), "{}", dash.body);
    assert!(dash.body.contains("operator.sign_in"));

    // The agency page: desks, certificates, listings.
    let page = get(&app, &mut b, &format!("/agencies/{agency}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Busy Homes") && page.body.contains("(active)"));
    assert!(page.body.contains(&format!("<code>{serial}</code>")));
    assert!(page.body.contains("1 live certificates"), "{}", page.body);
    assert!(page.body.contains("BUSY-1") && page.body.contains(&format!("/listings/{listing}\"")));
    assert!(!page.body.contains("END-1"));
});

crate::db_test!(async every_action_refuses_strangers_and_forged_forms, |db| {
    let (_dir, state) = state(db);
    let app = console_app!(state);
    let email = operator_with_password(&app, &state, "ops@example.org").await;
    let pending = pending_agency(&state, "Waiting Homes", "LIC-W");
    let (active, serial, listing) = agency_with_listing(&state, "Live Homes", "LIVE-1");
    let (buyer, _) = buyer_with_search(&state, "buyer@example.com", false);
    let mail = failed_mail(&state, "office@waiting.example");
    let actions: Vec<(String, Vec<(&str, &str)>)> = vec![
        (format!("/agencies/{pending}/approve"), vec![]),
        (format!("/agencies/{pending}/reject"), vec![("reason", "no")]),
        (format!("/agencies/{active}/suspend"), vec![]),
        (format!("/agencies/{active}/token"), vec![]),
        (format!("/agencies/{active}/void-tokens"), vec![]),
        (format!("/agencies/{active}/reinstate"), vec![]),
        (format!("/certificates/{serial}/revoke"), vec![("reason", "key_compromise")]),
        (format!("/listings/{listing}/take-down"), vec![("reason", "fraud")]),
        (format!("/listings/{listing}/restore"), vec![("reason", "fine")]),
        (format!("/users/{buyer}/disable"), vec![]),
        (format!("/users/{buyer}/enable"), vec![]),
        (format!("/users/{buyer}/resend"), vec![]),
        (format!("/mail/{mail}/retry"), vec![]),
        (format!("/mail/{mail}/discard"), vec![]),
    ];
    let pages = [
        "/".to_owned(),
        "/agencies".to_owned(),
        format!("/agencies/{active}"),
        "/certificates".to_owned(),
        format!("/certificates/{serial}"),
        format!("/certificates/{serial}/pem"),
        "/listings".to_owned(),
        format!("/listings/{listing}"),
        "/users".to_owned(),
        format!("/users/{buyer}"),
        "/audit".to_owned(),
        "/audit/export".to_owned(),
        "/mail".to_owned(),
        format!("/mail/{mail}"),
    ];
    let audit_count = || {
        let mut conn = state.db.get().unwrap();
        crate::with_conn!(&mut conn, |c| crate::audit::AuditLog::audit_entries(c, None, 10_000))
            .unwrap()
            .len()
    };
    let unchanged = |audited: usize| {
        assert_eq!(agency_status(&state, pending), AgencyStatus::Pending);
        assert_eq!(agency_status(&state, active), AgencyStatus::Active);
        assert_eq!(cert_status(&state, &serial), "valid");
        assert_eq!(listing_status(&state, listing).0, ListingStatus::Market(api_types::StandardStatus::Active).code());
        assert!(!user_disabled(&state, buyer));
        assert_eq!(mail_status(&state, mail), NotificationStatus::Failed);
        assert_eq!(audit_count(), audited, "nothing was audited");
    };
    let before = audit_count();

    // A signed-out visitor, and a buyer with a live website session (under either cookie
    // name): every page and action sends to the sign-in, nothing else.
    let session = buyer_session(&state, buyer);
    let strangers = [
        ("signed out", None),
        ("buyer (website cookie)", Some(format!("session={session}"))),
        ("buyer (console cookie name)", Some(format!("console_session={session}"))),
    ];
    for (who, cookie) in strangers {
        let mut s = Browser { cookie, page: String::new() };
        for page in &pages {
            let a = get(&app, &mut s, page).await;
            assert_eq!((a.status, a.location()), (StatusCode::SEE_OTHER, "/sign-in"), "{who}: {page}");
            assert!(!a.body.contains("Live Homes"), "{who}: {page}");
        }
        for (path, fields) in &actions {
            let mut form: Vec<(&str, &str)> = vec![("csrf", "buyer-csrf")];
            form.extend_from_slice(fields);
            let a = send(&app, &mut s, TestRequest::post().uri(path).set_form(&form)).await;
            assert_eq!((a.status, a.location()), (StatusCode::SEE_OTHER, "/sign-in"), "{who}: {path}");
        }
    }
    unchanged(before);

    // The password without the second factor: sent to the code page, with the session's own
    // CSRF token too.
    let mut half = Browser::default();
    get(&app, &mut half, "/sign-in").await;
    let a = post(&app, &mut half, "/sign-in", &[("email", &email), ("password", PASSWORD)]).await;
    assert_eq!(a.location(), "/second-factor");
    get(&app, &mut half, "/second-factor").await;
    for page in &pages {
        let a = get(&app, &mut half, page).await;
        assert_eq!(a.location(), "/second-factor", "{page}");
    }
    for (path, fields) in &actions {
        let a = post(&app, &mut half, path, fields).await;
        assert_eq!(a.location(), "/second-factor", "{path}");
    }
    unchanged(before);

    // Fully signed in, but the form's CSRF token missing or wrong: 403, nothing done.
    let mut b = signed_in(&app, &state, &email, 1).await;
    let audited = audit_count(); // the sign-in itself is audited
    for (path, fields) in &actions {
        let missing = send(&app, &mut b, TestRequest::post().uri(path).set_form(fields)).await;
        assert_eq!(missing.status, StatusCode::FORBIDDEN, "{path}");
        assert!(missing.body.contains("reload the page"), "{path}");
        let mut form: Vec<(&str, &str)> = vec![("csrf", "not-the-token")];
        form.extend_from_slice(fields);
        let wrong = send(&app, &mut b, TestRequest::post().uri(path).set_form(&form)).await;
        assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{path}");
    }
    unchanged(audited);
    // And with the right token it works (one action, to show the refusals were the token's).
    get(&app, &mut b, &format!("/listings/{listing}")).await;
    let done = post(&app, &mut b, &format!("/listings/{listing}/take-down"), &[("reason", "fraud")]).await;
    assert_eq!(done.location(), format!("/listings/{listing}?done=taken-down"));
    assert_eq!(audit(&state, "listing.take_down")[0].actor, OPS);
});
