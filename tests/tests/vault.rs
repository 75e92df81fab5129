//! The agency vault end to end: two desks of one agency (two data directories, the real
//! `agency-client` binary) and a third agency, over a real platform process. Customers converge
//! after edits on both desks, deletes included; a conflict keeps both sides until staff choose;
//! another agency finds nothing (404) whatever id it tries; a removed desk cannot read what is
//! written after its removal; tampered ciphertext and a wrong recovery key are reported with
//! nothing local lost; and the platform's database (SQLite file, PostgreSQL text and byte
//! columns) holds no customer name, contact, note or wish word.

use std::collections::BTreeSet;
use std::path::Path;

use diesel::prelude::*;
use e2e_tests::desk::{TwoDesks, two_enrolled_desks};
use e2e_tests::{
    Desk, PASSPHRASE, PlatformProcess, TestDb, enrolled, error_code, platform, skip, spawn_desk,
};
use serde_json::{Value, json};

/// Every personal string the flows give the desks: none may reach the platform in clear.
const SECRETS: [&str; 9] = [
    "Tina Marquesa",
    "tina.marquesa@example.org",
    "Olga Proprietaria",
    "+351 912 345 678",
    "Rui Confidencial",
    "rui@example.org",
    "Zeferino Novo",
    "Geheimnotiz",
    "wintergartensauna",
];

fn id_of(v: &Value) -> String {
    v["id"].as_i64().unwrap().to_string()
}

/// The customers of a desk as (name, contact, notes), sorted.
fn people(desk: &Desk) -> BTreeSet<(String, String, String)> {
    desk.run(&["customer", "list"])
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["contact"].as_str().unwrap().to_owned(),
                c["notes"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn names(desk: &Desk) -> BTreeSet<String> {
    people(desk).into_iter().map(|(n, _, _)| n).collect()
}

fn customer_id(desk: &Desk, name: &str) -> String {
    let list = desk.run(&["customer", "list"]).ok();
    id_of(
        list.as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} not in {list}")),
    )
}

fn vault_sync(desk: &Desk) -> Value {
    desk.run(&["vault", "sync"]).ok()["vault"].clone()
}

/// The ids of the live records (customers) on a desk's database.
fn record_ids(desk: &Desk) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Text)]
        record_id: String,
    }
    let db = desk.path.join("agency-client.sqlite3");
    let mut conn = SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    diesel::sql_query("PRAGMA busy_timeout = 10000")
        .execute(&mut conn)
        .unwrap();
    diesel::sql_query(
        "SELECT record_id FROM vault_records WHERE customer_id IS NOT NULL ORDER BY record_id",
    )
    .load::<Id>(&mut conn)
    .unwrap()
    .into_iter()
    .map(|r| r.record_id)
    .collect()
}

/// A new desk of the agency `agency_id` (its own enrolment token and certificate).
fn another_desk(app: &PlatformProcess, agency_id: i64, fingerprint: &str) -> Desk {
    let token = app.cli_json(&["agency", "token", &agency_id.to_string()])["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let desk = spawn_desk();
    desk.enroll(&[app.agency_url()], &token, fingerprint);
    desk
}

/// Runs `sql` on the platform's database (SQLite file or PostgreSQL).
fn platform_exec(app: &PlatformProcess, pg: Option<&str>, sql: &str) -> usize {
    match pg {
        Some(url) => {
            let mut conn = PgConnection::establish(url).unwrap();
            diesel::sql_query(sql).execute(&mut conn).unwrap()
        }
        None => e2e_tests::platform_sql(app, sql),
    }
}

/// The flows; `pg` is the PostgreSQL URL when the platform runs on it. Returns the platform's
/// data directory for the scan.
fn flows(app: &PlatformProcess, pg: Option<&str>) {
    let TwoDesks {
        a,
        b: other,
        a_enrolment,
        fingerprint,
    } = two_enrolled_desks(app, "Beta Realty", "BR-2");
    let agency_id = a_enrolment["agency_id"].as_i64().unwrap();
    let a2 = another_desk(app, agency_id, &fingerprint);

    // Desk 1 has customers before the vault exists.
    let tina = a
        .run(&[
            "customer",
            "add-tenant",
            "--name",
            "Tina Marquesa",
            "--contact",
            "tina.marquesa@example.org",
            "--city",
            "porto",
            "--keyword",
            "Wintergartensauna",
        ])
        .ok();
    let olga = a
        .run(&[
            "customer",
            "add-owner",
            "--name",
            "Olga Proprietaria",
            "--contact",
            "+351 912 345 678",
        ])
        .ok();
    a.run(&[
        "customer",
        "edit",
        &id_of(&olga),
        "--notes",
        "calls after six; Geheimnotiz",
    ])
    .ok();

    // Without a vault, sync says so and sends nothing of them.
    let before = a.run(&["sync"]).ok();
    assert_eq!(before["vault"]["state"], "none", "{before}");

    // Init prints the recovery key once; the customers are sent.
    let init = a.run(&["vault", "init"]).ok();
    let recovery = init["recovery_key"].as_str().unwrap().to_owned();
    assert_eq!(recovery.len(), 64, "{init}");
    assert_eq!(init["sync"]["pushed"], 2, "{init}");
    let again = a.run(&["vault", "init"]);
    assert_eq!(again.code, 1, "{again:?}");
    assert!(again.stderr.contains("exists already"), "{}", again.stderr);
    let (code, text, _) = a.run_text(&["vault", "status"]);
    assert_eq!(code, 0);
    assert!(
        !text.contains(&recovery),
        "the recovery key is shown once only: {text}"
    );

    // Desk 2 registers and waits; desk 1 sees it with the same fingerprint and approves it.
    let waiting = a2.run(&["sync"]).ok();
    assert_eq!(waiting["vault"]["state"], "waiting", "{waiting}");
    let fp2 = waiting["vault"]["fingerprint"].as_str().unwrap().to_owned();
    assert!(
        a2.run(&["customer", "list"])
            .ok()
            .as_array()
            .unwrap()
            .is_empty()
    );
    let status = a.run(&["vault", "status"]).ok();
    let shown = status["desks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["state"] == "waiting")
        .unwrap_or_else(|| panic!("{status}"))
        .clone();
    assert_eq!(shown["fingerprint"], fp2.as_str(), "{status}");
    let desk2_id = shown["desk"].as_str().unwrap().to_owned();
    let approved = a.run(&["vault", "approve", &fp2]).ok();
    assert_eq!(approved["approved"]["state"], "approved", "{approved}");
    let denied = a.run(&["vault", "approve", &fp2]);
    assert_eq!(denied.code, 1, "{denied:?}");

    // Desk 2 now holds desk 1's customers, notes and wishes included.
    let first = a2.run(&["sync"]).ok();
    assert_eq!(first["vault"]["applied"], 2, "{first}");
    assert_eq!(people(&a2), people(&a));
    let synced_tina = a2.run(&["customer", "list"]).ok();
    assert!(
        synced_tina.to_string().contains("wintergartensauna"),
        "{synced_tina}"
    );

    // Edits on both desks, a removal on each: they converge.
    a.run(&[
        "customer",
        "edit",
        &id_of(&tina),
        "--contact",
        "tina.marquesa@example.org, 22 000 000",
    ])
    .ok();
    a2.run(&[
        "customer",
        "add-tenant",
        "--name",
        "Rui Confidencial",
        "--contact",
        "rui@example.org",
        "--city",
        "lisbon",
    ])
    .ok();
    a2.run(&["customer", "remove", &customer_id(&a2, "Olga Proprietaria")])
        .ok();
    vault_sync(&a);
    vault_sync(&a2);
    vault_sync(&a);
    assert_eq!(people(&a), people(&a2));
    assert_eq!(
        names(&a),
        BTreeSet::from(["Rui Confidencial".to_owned(), "Tina Marquesa".to_owned()])
    );
    assert!(people(&a).iter().any(|(_, c, _)| c.ends_with("22 000 000")));

    // A conflict: both desks change Tina; desk 1 syncs first, desk 2 keeps both sides.
    a.run(&[
        "customer",
        "edit",
        &customer_id(&a, "Tina Marquesa"),
        "--contact",
        "from desk one",
    ])
    .ok();
    a2.run(&[
        "customer",
        "edit",
        &customer_id(&a2, "Tina Marquesa"),
        "--contact",
        "from desk two",
    ])
    .ok();
    vault_sync(&a);
    let clash = vault_sync(&a2);
    assert_eq!(
        (
            clash["new_conflicts"].as_i64(),
            clash["open_conflicts"].as_i64()
        ),
        (Some(1), Some(1)),
        "{clash}"
    );
    let conflicts = a2.run(&["vault", "conflicts"]).ok();
    let conflict = &conflicts["conflicts"][0];
    assert_eq!(conflict["mine"]["contact"], "from desk two", "{conflicts}");
    assert_eq!(
        conflict["theirs"]["contact"], "from desk one",
        "{conflicts}"
    );
    // Nothing is overwritten meanwhile: each desk still shows its own side.
    assert!(people(&a2).iter().any(|(_, c, _)| c == "from desk two"));
    let (code, text, _) = a2.run_text(&["sync"]);
    assert_eq!(code, 0);
    assert!(text.contains("conflict(s) wait for you"), "{text}");
    let bad = a2.run(&["vault", "resolve", "NOSUCHRECORD00000", "--keep", "mine"]);
    assert_eq!(bad.code, 1, "{bad:?}");
    let conflict_id = conflict["id"].as_str().unwrap().to_owned();
    a2.run(&["vault", "resolve", &conflict_id, "--keep", "mine"])
        .ok();
    vault_sync(&a2);
    vault_sync(&a);
    assert!(
        people(&a).iter().any(|(_, c, _)| c == "from desk two"),
        "{:?}",
        people(&a)
    );
    assert_eq!(people(&a), people(&a2));

    // A third agency finds nothing of this vault, whatever it tries.
    let third = enrolled(app, "Gamma Homes", "GH-3");
    let client = third.client();
    let init_third = client
        .post(third.url("/api/v1/vault"))
        .json(&json!({
            "public_key": b64(&[1; 32]), "wrapped_key": b64(&[2; 80]),
            "recovery_public_key": b64(&[3; 32]), "recovery_wrapped_key": b64(&[4; 80]),
            "recovery_proof": b64(&[5; 32]),
        }))
        .send()
        .unwrap();
    assert_eq!(init_third.status().as_u16(), 201);
    for id in record_ids(&a) {
        let (status, body) = third.get(&format!("/api/v1/vault/records/{id}"));
        assert_eq!(
            (status, error_code(&body)),
            (404, "vault_record_not_found"),
            "{body}"
        );
        let r = client
            .post(third.url("/api/v1/vault/records"))
            .json(
                &json!({"records": [{"id": id, "expected_version": 1, "epoch": 1,
                "ciphertext": b64(&[9; 64])}]}),
            )
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 404);
    }
    let r = client
        .post(third.url(&format!("/api/v1/vault/desks/{desk2_id}/remove")))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let (_, page) = third.get("/api/v1/vault/records?after=0");
    assert!(page["records"].as_array().unwrap().is_empty(), "{page}");
    // Desk 2 of the first agency lost nothing to the attempts.
    assert_eq!(people(&a), people(&a2));
    // A desk of the other agency sees its own (empty) vault, not this one.
    let theirs = other.run(&["vault", "status"]).ok();
    assert_eq!(theirs["initialized"], false, "{theirs}");

    // Tampered ciphertext: an intruder swaps one record's ciphertext for another's as a new
    // version; the desk refuses it and keeps its customer.
    let ids = record_ids(&a);
    let (victim, donor) = (&ids[0], &ids[1]);
    let before_tamper = people(&a2);
    platform_exec(
        app,
        pg,
        &format!(
            "UPDATE vault_records SET ciphertext = (SELECT ciphertext FROM vault_records WHERE record_id = '{donor}'), \
             version = version + 1, sequence = (SELECT sequence + 1 FROM vaults WHERE agency_id = {agency_id}) \
             WHERE record_id = '{victim}'"
        ),
    );
    platform_exec(
        app,
        pg,
        &format!("UPDATE vaults SET sequence = sequence + 1 WHERE agency_id = {agency_id}"),
    );
    let tampered = a2.run(&["sync"]).ok();
    assert_eq!(tampered["vault"]["refused"], json!([victim]), "{tampered}");
    assert_eq!(people(&a2), before_tamper, "nothing local was lost");
    let (_, text, _) = a2.run_text(&["vault", "sync"]);
    assert!(text.contains("did not authenticate"), "{text}");

    // Desk 1 removes desk 2: desk 2 is refused at once and cannot read what follows; the key
    // rotates and the records are sealed anew under it.
    let removed = a.run(&["vault", "remove", &desk2_id]).ok();
    assert_eq!(removed["removed"]["state"], "removed", "{removed}");
    assert_eq!(removed["sync"]["rotated_to"], 2, "{removed}");
    a.run(&[
        "customer",
        "add-tenant",
        "--name",
        "Zeferino Novo",
        "--city",
        "faro",
    ])
    .ok();
    assert_eq!(vault_sync(&a)["pushed"], 1);
    let after = a2.run(&["sync"]).ok();
    assert_eq!(after["vault"]["state"], "removed", "{after}");
    assert!(!names(&a2).contains("Zeferino Novo"));
    assert_eq!(
        people(&a2),
        before_tamper,
        "the removed desk keeps what it had"
    );

    // Recovery on a new desk: a wrong key is reported and changes nothing; the right one works.
    let a3 = another_desk(app, agency_id, &fingerprint);
    a3.run(&["customer", "add-owner", "--name", "Local Only"])
        .ok();
    let wrong = a3.run_env(
        &["vault", "recover"],
        PASSPHRASE,
        &[(
            "AGENCY_CLIENT_RECOVERY_KEY",
            "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-HHHH-2222-3333-4444-5555-6666",
        )],
    );
    assert_eq!(
        (wrong.code, wrong.error_code()),
        (1, "invalid_input"),
        "{wrong:?}"
    );
    assert!(wrong.stderr.contains("wrong"), "{}", wrong.stderr);
    assert_eq!(names(&a3), BTreeSet::from(["Local Only".to_owned()]));
    let recovered = a3
        .run_env(
            &["vault", "recover"],
            PASSPHRASE,
            &[("AGENCY_CLIENT_RECOVERY_KEY", &recovery)],
        )
        .ok();
    assert_eq!(recovered["sync"]["state"], "approved", "{recovered}");
    assert!(names(&a3).contains("Zeferino Novo"), "{:?}", names(&a3));
    assert!(names(&a3).contains("Local Only"));
    vault_sync(&a);
    assert!(names(&a).contains("Local Only"));
    // Every live record is sealed under the new epoch.
    let status = a.run(&["vault", "status"]).ok();
    assert_eq!(status["epoch"], 2, "{status}");
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Each `file: secret` found in the files under `dir`.
fn file_hits(dir: &Path) -> Vec<String> {
    e2e_tests::scan::file_hits(dir, &SECRETS, "")
}

#[test]
fn desks_share_customers_through_a_vault_the_platform_cannot_read() {
    let mut app = platform().spawn().expect("platform starts");
    flows(&app, None);
    let data_dir = app.data_dir.clone();
    app.terminate(std::time::Duration::from_secs(30));
    assert!(
        e2e_tests::scan::files_under(&data_dir)
            .iter()
            .any(|(p, _)| p.ends_with("platform.db")),
        "the database file is scanned"
    );
    let left = file_hits(&data_dir);
    assert!(left.is_empty(), "the platform holds: {left:?}");
}

#[test]
fn the_vault_on_postgresql_holds_no_customer_text() {
    let test = "the_vault_on_postgresql_holds_no_customer_text";
    let Some(test_db) = TestDb::postgres(test) else {
        skip(test, "TEST_POSTGRES_URL is not set");
        return;
    };
    let mut app = platform()
        .database_url(test_db.url.clone())
        .spawn()
        .expect("platform starts");
    flows(&app, Some(&test_db.url));
    app.terminate(std::time::Duration::from_secs(30));

    #[derive(QueryableByName)]
    struct Column {
        #[diesel(sql_type = diesel::sql_types::Text)]
        table_name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        column_name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        data_type: String,
    }
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = PgConnection::establish(&test_db.url).unwrap();
    let columns: Vec<Column> = diesel::sql_query(
        "SELECT table_name::text AS table_name, column_name::text AS column_name, \
         data_type::text AS data_type FROM information_schema.columns \
         WHERE table_schema = current_schema() \
         AND data_type IN ('text', 'character varying', 'json', 'jsonb', 'bytea')",
    )
    .load(&mut conn)
    .unwrap();
    assert!(
        columns
            .iter()
            .any(|c| c.table_name == "vault_records" && c.column_name == "ciphertext"),
        "the scan sees the vault's tables"
    );
    let mut hits = Vec::new();
    for c in &columns {
        for s in SECRETS {
            // Bytes are searched for the secret's UTF-8 bytes as typed and in lower case.
            let (condition, needle) = if c.data_type == "bytea" {
                (
                    format!(
                        "position(convert_to($1, 'UTF8') IN \"{0}\") > 0 \
                         OR position(convert_to(lower($1), 'UTF8') IN \"{0}\") > 0",
                        c.column_name
                    ),
                    s.to_owned(),
                )
            } else {
                (
                    format!("lower(\"{}\"::text) LIKE $1", c.column_name),
                    format!("%{}%", s.to_lowercase()),
                )
            };
            let found: Count = diesel::sql_query(format!(
                "SELECT count(*) AS n FROM \"{}\" WHERE {condition}",
                c.table_name
            ))
            .bind::<diesel::sql_types::Text, _>(needle)
            .get_result(&mut conn)
            .unwrap();
            if found.n > 0 {
                hits.push(format!("{}.{}: {s:?}", c.table_name, c.column_name));
            }
        }
    }
    assert!(hits.is_empty(), "the platform holds: {hits:?}");
}
