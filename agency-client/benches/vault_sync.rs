//! Benchmark: the agency vault. Desk 1 holds 10 000 customers (`BENCH_CUSTOMERS=N` to change)
//! and creates the vault (sealing and sending them all); desk 2 enrols, is approved, and its
//! first sync pulls, opens and stores every customer (target: under 5 s). Then desk 1 changes
//! 100 customers and syncs, and desk 2 syncs them (target: under 0.5 s each).
//!
//! The real platform binary (found beside this benchmark as the end-to-end tests find theirs:
//! `e2e_tests::binaries`; `E2E_BIN_DIR` to choose others) runs on a fresh SQLite database; both
//! desks enrol for real and sync through the client library, exactly as `agency-client sync`.
//!
//! Run: `cargo build --release -p platform && cargo bench -p agency-client --bench vault_sync`

use std::time::Instant;

use agency_client::db::Store;
use agency_client::db::schema::customers;
use agency_client::identity::{self, Session};
use agency_client::vault;
use diesel::prelude::*;

const PASSPHRASE: &str = "bench desk passphrase, not a secret";

fn desk(
    app: &platform::testing::PlatformProcess,
    token: &str,
    fingerprint: &str,
) -> (tempfile::TempDir, Store, Session) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    identity::enroll(
        &mut store,
        &[app.agency_url()],
        token,
        fingerprint,
        PASSPHRASE,
        None,
    )
    .unwrap();
    let session = Session::open(&mut store, PASSPHRASE, &[]).unwrap();
    (dir, store, session)
}

fn main() {
    let n: usize = std::env::var("BENCH_CUSTOMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let app = e2e_tests::platform().spawn().expect("platform starts");
    let added = app.cli_json(&[
        "agency",
        "add",
        "--name",
        "Vault Bench",
        "--licence",
        "VB-1",
        "--email",
        "desk@bench.example",
    ]);
    let fingerprint = added["ca_fingerprint"].as_str().unwrap().to_owned();
    let agency_id = added["agency"]["id"].as_i64().unwrap().to_string();
    let (_d1, mut store1, mut session1) =
        desk(&app, added["token"].as_str().unwrap(), &fingerprint);

    // Desk 1's customers: half owners, half tenants with wishes, written in one transaction.
    let now = agency_client::db::now_ms();
    store1
        .conn()
        .immediate_transaction(|c| {
            for i in 0..n {
                let tenant = i % 2 == 1;
                diesel::insert_into(customers::table)
                    .values((
                        customers::kind.eq(if tenant { "tenant" } else { "owner" }),
                        customers::name.eq(format!("Customer Number {i}")),
                        customers::contact.eq(format!("+351 900 {i:06} / c{i}@example.org")),
                        customers::notes.eq("prefers calls in the afternoon"),
                        customers::wishes.eq(tenant.then(|| {
                            format!(
                                r#"{{"city":"lisbon","max_price":{},"transaction_type":"rent"}}"#,
                                900 + i % 1000
                            )
                        })),
                        customers::listing_keys.eq("[]"),
                        customers::created_at.eq(now),
                        customers::updated_at.eq(now),
                    ))
                    .execute(c)?;
            }
            Ok::<_, diesel::result::Error>(())
        })
        .unwrap();

    let start = Instant::now();
    let init = vault::init(&mut store1, &mut session1, PASSPHRASE).unwrap();
    let init_s = start.elapsed().as_secs_f64();
    assert_eq!(init.sync.pushed, n, "{:?}", init.sync);

    let token = app.cli_json(&["agency", "token", &agency_id])["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_d2, mut store2, mut session2) = desk(&app, &token, &fingerprint);
    let waiting = vault::sync(&mut store2, &mut session2, PASSPHRASE).unwrap();
    assert_eq!(waiting.state, "waiting");
    vault::approve(
        &mut store1,
        &mut session1,
        PASSPHRASE,
        waiting.fingerprint.as_deref().unwrap(),
    )
    .unwrap();

    let start = Instant::now();
    let first = vault::sync(&mut store2, &mut session2, PASSPHRASE).unwrap();
    let first_s = start.elapsed().as_secs_f64();
    assert_eq!((first.pulled, first.applied), (n, n), "{first:?}");

    // 100 changes on desk 1 (new contacts), sent, then received by desk 2.
    store1
        .conn()
        .immediate_transaction(|c| {
            diesel::update(customers::table.filter(customers::id.le(100)))
                .set(customers::contact.eq("changed at the other office"))
                .execute(c)
        })
        .unwrap();
    let start = Instant::now();
    let pushed = vault::sync(&mut store1, &mut session1, PASSPHRASE).unwrap();
    let push_s = start.elapsed().as_secs_f64();
    assert_eq!(pushed.pushed, 100, "{pushed:?}");
    let start = Instant::now();
    let pulled = vault::sync(&mut store2, &mut session2, PASSPHRASE).unwrap();
    let pull_s = start.elapsed().as_secs_f64();
    assert_eq!(pulled.applied, 100, "{pulled:?}");

    println!("vault init with {n} customers (seal and send all): {init_s:.2} s");
    println!(
        "first sync of {n} customers to a new desk: {first_s:.2} s ({:.0} records/s)",
        n as f64 / first_s
    );
    println!("incremental sync, 100 changes sent: {push_s:.3} s");
    println!("incremental sync, 100 changes received: {pull_s:.3} s");
}
