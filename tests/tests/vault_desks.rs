//! Several desks of one agency, end to end with the real `platform` and `agency-client`
//! binaries: enrolment tokens per desk name (`platform agency token ID --desk NAME`) and the
//! desks `platform agency show` lists with their state; a watched tenant's saved search
//! travelling with the customer through the vault, so another desk shows the watch and deletes
//! the saved search when it removes or unwatches the tenant; and every vault command that
//! needs the platform (and the reads that need it) saying plainly, without it, that nothing was
//! done (exit 3), while a customer changed offline stays queued and goes out later.

use e2e_tests::desk::{TwoDesks, closed_port_url, two_enrolled_desks};
use e2e_tests::{Desk, PlatformProcess, add_agency, platform, spawn_desk};
use serde_json::Value;

fn id_of(v: &Value) -> String {
    v["id"].as_i64().unwrap().to_string()
}

/// `platform agency token ID --desk NAME --json`.
fn desk_token(app: &PlatformProcess, agency: i64, desk: &str) -> Value {
    app.cli_json(&["agency", "token", &agency.to_string(), "--desk", desk])
}

/// The agencies' saved searches on the platform, counted in its database.
fn saved_searches(app: &PlatformProcess) -> usize {
    use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let db = app.data_dir.join("platform.db");
    let mut conn = SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    diesel::sql_query("PRAGMA busy_timeout = 10000")
        .execute(&mut conn)
        .unwrap();
    let count: Count =
        diesel::sql_query("SELECT count(*) AS n FROM saved_searches WHERE agency_id IS NOT NULL")
            .get_result(&mut conn)
            .unwrap();
    count.n as usize
}

#[test]
fn tokens_for_several_new_desks_work_at_once_and_the_desks_are_listed() {
    let app = platform().spawn().expect("platform starts");
    let added = add_agency(&app, "Several Offices", "SO-1");
    let agency = added.id;
    let fingerprint = added.fingerprint.clone();
    let url = app.agency_url();

    // Two tokens for two new desks: the second does not void the first.
    let porto = desk_token(&app, agency, "Porto office");
    assert_eq!(porto["desk"], "Porto office", "{porto}");
    let faro = desk_token(&app, agency, "Faro office");
    assert_eq!(faro["desk"], "Faro office", "{faro}");
    let shown = app.cli_json(&["agency", "show", &agency.to_string()]);
    let unused: Vec<&str> = shown["unused_tokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["desk"].as_str())
        .collect();
    assert_eq!(unused, ["Porto office", "Faro office"], "{shown}");

    // A new token for Porto voids only Porto's older one.
    let porto_again = desk_token(&app, agency, "Porto office");
    let stale = spawn_desk();
    let r = stale.run(&[
        "enroll",
        "--token",
        porto["token"].as_str().unwrap(),
        "--fingerprint",
        &fingerprint,
        "--server",
        &url,
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("same desk"), "{}", r.stderr);

    let faro_desk = spawn_desk();
    faro_desk.enroll(
        std::slice::from_ref(&url),
        faro["token"].as_str().unwrap(),
        &fingerprint,
    );
    let porto_desk = spawn_desk();
    porto_desk.enroll(
        std::slice::from_ref(&url),
        porto_again["token"].as_str().unwrap(),
        &fingerprint,
    );

    // `agency show` lists the desks by name with their state; the first desk (the token of
    // `agency add`, no name) too. Faro joins the vault and waits for access.
    let first = spawn_desk();
    first.enroll(std::slice::from_ref(&url), &added.token, &fingerprint);
    first.run(&["vault", "init"]).ok();
    let waiting = faro_desk.run(&["vault", "sync"]).ok();
    assert_eq!(waiting["vault"]["state"], "waiting", "{waiting}");
    let shown = app.cli_json(&["agency", "show", &agency.to_string()]);
    let desks = shown["desks"].as_array().unwrap();
    assert_eq!(desks.len(), 3, "{shown}");
    let by_name = |name: &str| {
        desks
            .iter()
            .find(|d| d["name"] == name)
            .unwrap_or_else(|| panic!("{name} not in {shown}"))
            .clone()
    };
    assert_eq!(by_name("Porto office")["state"], "active", "{shown}");
    assert_eq!(by_name("Faro office")["vault"], "waiting", "{shown}");
    let unnamed = desks.iter().find(|d| d["name"].is_null()).unwrap();
    assert_eq!(unnamed["vault"], "approved", "{shown}");
    assert!(
        shown["unused_tokens"].as_array().unwrap().is_empty(),
        "{shown}"
    );
    let (ok, text, err) = app.cli(["agency", "show", &agency.to_string()]);
    assert!(ok.success(), "{err}");
    assert!(
        text.contains("desk \"Faro office\" ") && text.contains("vault: waiting"),
        "{text}"
    );

    // A revoked desk shows as revoked.
    let serial = by_name("Porto office")["lineage"]
        .as_str()
        .unwrap()
        .to_owned();
    app.cli_json(&[
        "cert",
        "revoke",
        &serial,
        "--reason",
        "cessation_of_operation",
    ]);
    let shown = app.cli_json(&["agency", "show", &agency.to_string()]);
    let porto_row = shown["desks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "Porto office")
        .unwrap()
        .clone();
    assert_eq!(porto_row["state"], "revoked", "{shown}");

    // Bad names and unknown agencies are refused like the other operator commands: a JSON
    // error on stdout under --json, the message on stderr without, and nothing issued.
    for (name, says) in [
        ("", "1 to 40 characters"),
        ("Porto/office", "is not allowed in a desk name"),
        (
            "an office name far longer than forty characters",
            "1 to 40 characters",
        ),
    ] {
        let (ok, out, _) = app.cli([
            "agency",
            "token",
            &agency.to_string(),
            "--desk",
            name,
            "--json",
        ]);
        assert!(!ok.success(), "{name:?}");
        let answer: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(answer["error"]["code"], "invalid", "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("--desk") && message.contains(says),
            "{answer}"
        );
    }
    let (ok, _, err) = app.cli(["agency", "token", "9999", "--desk", "Lagos office"]);
    assert!(!ok.success() && err.contains("9999"), "{err}");
    let shown = app.cli_json(&["agency", "show", &agency.to_string()]);
    assert!(
        shown["unused_tokens"].as_array().unwrap().is_empty(),
        "nothing was issued: {shown}"
    );
}

/// Desk `a` (with a vault) and a second desk of the same agency, approved, both synced.
fn two_desks_in_one_vault(app: &PlatformProcess) -> (Desk, Desk) {
    let TwoDesks {
        a,
        a_enrolment,
        fingerprint,
        ..
    } = two_enrolled_desks(app, "Beta Realty", "BR-2");
    let agency = a_enrolment["agency_id"].as_i64().unwrap();
    let token = desk_token(app, agency, "Second office");
    let a2 = spawn_desk();
    a2.enroll(
        &[app.agency_url()],
        token["token"].as_str().unwrap(),
        &fingerprint,
    );
    a.run(&["vault", "init"]).ok();
    let waiting = a2.run(&["vault", "sync"]).ok();
    let fp = waiting["vault"]["fingerprint"].as_str().unwrap().to_owned();
    a.run(&["vault", "approve", &fp]).ok();
    a2.run(&["vault", "sync"]).ok();
    (a, a2)
}

fn customer<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {list}"))
}

#[test]
fn a_watched_tenant_removed_or_unwatched_on_another_desk_loses_its_saved_search() {
    let app = platform().spawn().expect("platform starts");
    let (a, a2) = two_desks_in_one_vault(&app);

    // Desk 1 watches two tenants; desk 2 receives them with their watch.
    let tina = a.add_tenant("Tina Watched", "porto", 1200);
    let rui = a.add_tenant("Rui Watched", "faro", 900);
    let tina_watch = a.run(&["customer", "watch", &id_of(&tina)]).ok();
    let rui_watch = a.run(&["customer", "watch", &id_of(&rui)]).ok();
    assert_eq!(saved_searches(&app), 2);
    a.run(&["vault", "sync"]).ok();
    a2.run(&["vault", "sync"]).ok();
    let list = a2.run(&["customer", "list"]).ok();
    let tina2 = customer(&list, "Tina Watched");
    assert_eq!(tina2["watch_id"], tina_watch["id"], "{list}");
    assert_eq!(tina2["watch_handle"], tina_watch["name"], "{list}");
    let (_, text, _) = a2.run_text(&["customer", "list"]);
    assert!(
        text.contains(tina_watch["name"].as_str().unwrap()),
        "desk 2 shows the watch: {text}"
    );

    // Desk 2 removes Tina: her saved search is deleted on the platform (hard delete), and desk
    // 1 loses her at its next sync.
    let removed = a2.run(&["customer", "remove", &id_of(tina2)]).ok();
    assert_eq!(removed["unwatched"], tina_watch["id"], "{removed}");
    assert_eq!(saved_searches(&app), 1);
    a2.run(&["vault", "sync"]).ok();
    let synced = a.run(&["vault", "sync"]).ok();
    let list = a.run(&["customer", "list"]).ok();
    assert!(
        !list.to_string().contains("Tina Watched"),
        "{list} after {synced}"
    );
    // Deleting it again (queued by the tombstone) found nothing to delete: still one left.
    assert_eq!(saved_searches(&app), 1);

    // Desk 2 unwatches Rui: the saved search goes, and desk 1 shows him unwatched.
    let rui2 = customer(&a2.run(&["customer", "list"]).ok(), "Rui Watched").clone();
    assert_eq!(rui2["watch_id"], rui_watch["id"]);
    a2.run(&["customer", "unwatch", &id_of(&rui_watch)]).ok();
    assert_eq!(saved_searches(&app), 0);
    a2.run(&["vault", "sync"]).ok();
    a.run(&["vault", "sync"]).ok();
    let list = a.run(&["customer", "list"]).ok();
    assert_eq!(
        customer(&list, "Rui Watched")["watch_id"],
        Value::Null,
        "{list}"
    );

    // A saved search a tombstone leaves behind (its desk could not delete it) is deleted by
    // the desk that applies the tombstone: desk 1 watches Rui again, desk 2 receives it, then
    // the platform copy survives a removal made by editing desk 2's database directly.
    let again = a.run(&["customer", "watch", &id_of(&rui)]).ok();
    assert_eq!(saved_searches(&app), 1);
    a.run(&["vault", "sync"]).ok();
    a2.run(&["vault", "sync"]).ok();
    let rui2 = customer(&a2.run(&["customer", "list"]).ok(), "Rui Watched").clone();
    assert_eq!(rui2["watch_id"], again["id"]);
    let rui2_id = id_of(&rui2);
    a2.sql(&format!(
        "UPDATE vault_records SET customer_id = NULL WHERE customer_id = {rui2_id}"
    ));
    a2.sql(&format!("DELETE FROM customers WHERE id = {rui2_id}"));
    a2.run(&["vault", "sync"]).ok();
    assert_eq!(saved_searches(&app), 1, "desk 2 never asked the platform");
    let applied = a.run(&["vault", "sync"]).ok();
    assert_eq!(
        applied["vault"]["unwatched"],
        serde_json::json!([again["id"]]),
        "{applied}"
    );
    assert_eq!(saved_searches(&app), 0);
    assert!(
        !a.run(&["customer", "list"])
            .ok()
            .to_string()
            .contains("Rui Watched")
    );
}

#[test]
fn vault_commands_without_the_platform_say_nothing_was_done() {
    let app = platform().spawn().expect("platform starts");
    let (a, a2) = two_desks_in_one_vault(&app);
    let dead = closed_port_url();
    let status = a.run(&["vault", "status"]).ok();
    let other = status["desks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["this_desk"] == false)
        .unwrap()["desk"]
        .as_str()
        .unwrap()
        .to_owned();

    // A change made offline is queued (a sync without the platform says so, exit 3) and sent
    // once the platform answers.
    a.run(&["customer", "add-owner", "--name", "Offline Owner"])
        .ok();
    for (args, says) in [
        (vec!["vault", "sync"], "customer changes stay queued"),
        (vec!["vault", "status"], "the vault's state was not read"),
        (
            vec!["vault", "approve", &other],
            "the desk was not approved",
        ),
        (vec!["vault", "remove", &other], "the desk was not removed"),
        (vec!["vault", "init"], "the vault was not created"),
        // Reads that need the platform do not promise to send anything either.
        (
            vec!["customer", "watched"],
            "the agency's saved searches were not read",
        ),
        (
            vec!["updates"],
            "the updates waiting on the platform were not counted",
        ),
        (
            vec!["search", "--remote", "--city", "porto"],
            "the platform was not searched",
        ),
    ] {
        let mut all = vec!["--server", dead.as_str()];
        all.extend(args.iter().copied());
        let r = a.run(&all);
        assert_eq!(
            (r.code, r.error_code()),
            (3, "unreachable"),
            "{args:?}: {r:?}"
        );
        assert!(
            r.stderr.contains("nothing was done") && r.stderr.contains(says),
            "{args:?}: {}",
            r.stderr
        );
    }
    let r = a.run_env(
        &["--server", &dead, "vault", "recover"],
        e2e_tests::PASSPHRASE,
        &[(
            "AGENCY_CLIENT_RECOVERY_KEY",
            "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-HHHH-2222-3333-4444-5555-6666",
        )],
    );
    assert_eq!((r.code, r.error_code()), (3, "unreachable"), "{r:?}");
    assert!(
        r.stderr.contains("this desk was not let in"),
        "{}",
        r.stderr
    );
    // `--server` replaces the stored address: give the platform's back.
    let url = app.agency_url();
    let status = a.run(&["--server", &url, "vault", "status"]).ok();
    assert_eq!(status["local"]["pending"], 1, "{status}");
    assert!(
        status["desks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["state"] == "approved"),
        "nothing changed on the platform: {status}"
    );

    // Back online: the queued change goes out and reaches desk 2.
    let sent = a.run(&["vault", "sync"]).ok();
    assert_eq!(sent["vault"]["pushed"], 1, "{sent}");
    a2.run(&["vault", "sync"]).ok();
    assert!(
        a2.run(&["customer", "list"])
            .ok()
            .to_string()
            .contains("Offline Owner")
    );
}
