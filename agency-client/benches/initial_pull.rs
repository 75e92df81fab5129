//! Benchmark: a fresh desk's initial pull of the whole change feed (100 000 listings by
//! default; `BENCH_LISTINGS=N` to change), then a local search and a new tenant's hint scan.
//!
//! The real platform binary (the release build beside this benchmark, found as the end-to-end
//! tests find theirs: `e2e_tests::binaries`; `E2E_BIN_DIR` to choose others) runs on a fresh
//! SQLite database; a seeding agency enrols for real and its listings, each signed with its key,
//! are written straight through the platform library (`ListingStore::publish_listing`, 5 000 per
//! transaction). Then a desk enrols and pulls through the client library, exactly as
//! `agency-client sync` does, checking every listing's signature on the way.
//!
//! Run: `cargo build --release -p platform && cargo bench -p agency-client --bench initial_pull`

use std::time::Instant;

use agency_client::db::Store;
use agency_client::identity::{self, Session};
use agency_client::{customers, feed, search};
use api_types::search::SearchCriteria;
use api_types::{ListingDocument, TransactionType};
use diesel::Connection;
use platform::listings::{ListingStore, Precondition, PublishError, VerifiedListing};
use platform::testing::TestDb;
use platform::testing::agency::TestAgency;

const CITIES: [&str; 10] = [
    "Lisbon", "Porto", "Faro", "Braga", "Coimbra", "Aveiro", "Evora", "Setubal", "Leiria", "Viseu",
];

fn doc(i: usize) -> ListingDocument {
    let mut d = ListingDocument::example(&format!("S-{i}"));
    d.city = CITIES[i % CITIES.len()].to_owned();
    d.transaction_type = if i.is_multiple_of(2) {
        TransactionType::Rent
    } else {
        TransactionType::Sale
    };
    d.list_price = api_types::Price::new(if i.is_multiple_of(2) {
        500 + (i % 2000) as u64
    } else {
        100_000 + (i % 500) as u64 * 1000
    })
    .expect("a price in range");
    d.title = format!("Listing {i} in {}", d.city);
    d
}

fn main() {
    let n: usize = std::env::var("BENCH_LISTINGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let db = TestDb::sqlite();
    let app = e2e_tests::platform()
        .database_url(&db.url)
        .spawn()
        .expect("platform starts");
    // The seeding agency enrols for real, so every listing carries a real signature that the
    // desk verifies while pulling (certificate fetched by serial, chain to the pinned root).
    let seeding = app.cli_json(&[
        "agency",
        "add",
        "--name",
        "Seed Estates",
        "--licence",
        "SE-1",
        "--email",
        "seed@bench.example",
    ]);
    let root_pem = platform::testing::agency::fetch_root(&app.agency_url());
    let seeder = TestAgency::enroll(
        &app.agency_url(),
        &root_pem,
        seeding["token"].as_str().unwrap(),
    );
    let mut conn = db.db.get().expect("connection");
    let seed_start = Instant::now();
    let seeder_der = ca::inspect::parse_chain_pem(&seeder.chain_pem)
        .expect("seeder certificate")
        .remove(0);
    for chunk in (0..n).collect::<Vec<_>>().chunks(5000) {
        let signed: Vec<VerifiedListing> = chunk
            .iter()
            .map(|&i| {
                let signed = seeder.sign(&doc(i));
                VerifiedListing::verify(
                    signed.listing.raw(),
                    signed.signature,
                    &seeder_der,
                    &seeder.serial,
                )
                .expect("a seeded listing verifies")
            })
            .collect();
        platform::with_conn!(&mut conn, |c| c.transaction::<_, PublishError, _>(|c| {
            for listing in &signed {
                c.publish_listing(seeder.agency_id, listing, &Precondition::Unchecked)?;
            }
            Ok(())
        }))
        .expect("seed listings");
    }
    drop(conn);
    eprintln!(
        "seeded {n} signed listings in {:.1} s",
        seed_start.elapsed().as_secs_f64()
    );
    let added = app.cli_json(&[
        "agency",
        "add",
        "--name",
        "Bench Desk",
        "--licence",
        "BD-1",
        "--email",
        "desk@bench.example",
    ]);
    let token = added["token"].as_str().unwrap();
    let fingerprint = added["ca_fingerprint"].as_str().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    identity::enroll(
        &mut store,
        &[app.agency_url()],
        token,
        fingerprint,
        "bench desk passphrase, not a secret",
        None,
    )
    .unwrap();
    let mut session =
        Session::open(&mut store, "bench desk passphrase, not a secret", &[]).unwrap();

    let start = Instant::now();
    let waiting = feed::count(&mut store, &mut session).unwrap();
    let report = feed::pull(&mut store, &mut session, &mut |done, total| {
        if done % 20_000 < 1000 {
            eprintln!("pulled {done} of {total}");
        }
    })
    .unwrap();
    let pull = start.elapsed().as_secs_f64();
    assert_eq!(report.upserted, n, "{report:?}");
    assert_eq!(
        (report.verified, report.invalid.len(), report.unchecked),
        (n, 0, 0),
        "every listing's signature checked and good"
    );
    assert_eq!(waiting.count as usize, n);

    let start = Instant::now();
    let found = search::search(
        store.conn(),
        &SearchCriteria {
            transaction_type: Some(TransactionType::Rent),
            city: Some("lisbon".into()),
            max_price: Some(1500),
            ..Default::default()
        },
        20,
    )
    .unwrap();
    let search_ms = start.elapsed().as_secs_f64() * 1000.0;

    let start = Instant::now();
    let tenant = customers::add_tenant(
        store.conn(),
        "Tina",
        "",
        &SearchCriteria {
            transaction_type: Some(TransactionType::Rent),
            city: Some("Faro".into()),
            max_price: Some(1000),
            ..Default::default()
        },
    )
    .unwrap();
    let tenant_ms = start.elapsed().as_secs_f64() * 1000.0;

    println!(
        "initial pull: {n} listings in {pull:.2} s ({:.0} listings/s, {} pages)",
        n as f64 / pull,
        report.pages
    );
    println!(
        "local search (rent, Lisbon, <= 1500): {} hits in {search_ms:.0} ms",
        found.total
    );
    println!(
        "new tenant hint scan: {} hints in {tenant_ms:.0} ms",
        tenant.open_hints
    );
}
