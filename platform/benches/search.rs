//! Website search latency: the queries the search page runs (`ListingStore::search_listings`:
//! one page of results plus the total count) over 100 000 and 1 000 000 listings, on SQLite and,
//! when `TEST_POSTGRES_URL` is set, on PostgreSQL. Target: p99 ≤ 50 ms.
//!
//! ```text
//! cargo bench -p platform --bench search
//! BENCH_SIZES=100000 TEST_POSTGRES_URL=postgres://root@127.0.0.1:5432/test cargo bench -p platform --bench search
//! ```
//!
//! Listings are generated inside the database (a recursive CTE) with a deterministic spread:
//! 100 cities of 20 districts each, four property types, one third to rent, 90 % active.

use std::time::{Duration, Instant};

use api_types::{PropertyType, SearchCriteria, TransactionType};
use diesel::prelude::*;
use platform::db::{Db, DbConn};
use platform::listings::{ListingQuery, ListingSort, ListingStore};
use platform::testing::TestDb;

/// Rounds per query pattern.
const ROUNDS: usize = 60;

fn fill(db: &Db, n: u64) {
    let mut conn = db.get().unwrap();
    let (agency, serial) =
        platform::testing::fixtures::active_agency_with_certificate(&mut conn, "Bench Homes");
    let sql = format!(
        "INSERT INTO listings (agency_id, listing_key, version, status, transaction_type,
            property_type, city, city_key, district, district_key, price, currency, living_area,
            rooms, bedrooms, bathrooms, title, description, media, search_text, modified_at,
            document, signature, signature_alg, cert_serial, created_at, updated_at)
         SELECT {agency}, 'K' || i, 1,
            CASE WHEN i % 10 = 0 THEN 'sold' ELSE 'active' END,
            CASE WHEN i % 3 = 0 THEN 'rent' ELSE 'sale' END,
            CASE i % 4 WHEN 0 THEN 'apartment' WHEN 1 THEN 'house' WHEN 2 THEN 'townhouse' ELSE 'commercial' END,
            'City ' || ((i * 31) % 100), 'city ' || ((i * 31) % 100),
            'District ' || ((i / 100 * 17) % 20), 'district ' || ((i / 100 * 17) % 20),
            CASE WHEN i % 3 = 0 THEN 400 + (i * 7919) % 3000 ELSE 50000 + ((i * 7919) % 950) * 1000 END,
            'EUR', CAST(20 + (i * 13) % 280 AS DOUBLE PRECISION),
            1 + (i * 7) % 7, (i * 7) % 6, 1 + i % 3,
            'Listing ' || i || CASE WHEN i % 7 = 0 THEN ' with balcony' ELSE '' END,
            'A home' || CASE WHEN i % 11 = 0 THEN ' near the river' ELSE '' END,
            '[]',
            'listing ' || i || CASE WHEN i % 7 = 0 THEN ' with balcony' ELSE '' END || '\n' ||
                'a home' || CASE WHEN i % 11 = 0 THEN ' near the river' ELSE '' END,
            i, '{{}}', 'c2ln', 'ECDSA-P256-SHA256', '{serial}',
            1700000000000 + i * 1000, 1700000000000 + i * 1000
         FROM (WITH RECURSIVE n(i) AS (SELECT CAST(1 AS BIGINT) UNION ALL SELECT i + 1 FROM n WHERE i < {n})
               SELECT i FROM n) AS g",
        agency = agency.id
    );
    platform::with_conn!(&mut conn, |c| diesel::sql_query(sql).execute(c)).unwrap();
    // Statistics as a long-running database has them (PostgreSQL's autovacuum also sets the
    // visibility map that index-only scans rely on).
    let analyze = match db.backend() {
        platform::db::Backend::Sqlite => "ANALYZE",
        platform::db::Backend::Postgres => "VACUUM ANALYZE listings",
    };
    platform::with_conn!(&mut conn, |c| diesel::sql_query(analyze).execute(c)).unwrap();
}

/// The query mix: what people type into the search page.
fn patterns(round: usize) -> Vec<(&'static str, ListingQuery)> {
    let city = Some(format!("City {}", (round * 37) % 100));
    let q = |criteria: SearchCriteria, sort: ListingSort, page: i64| ListingQuery {
        criteria,
        sort,
        offset: (page - 1) * 20,
        limit: 20,
        exclude_ids: Vec::new(),
    };
    vec![
        (
            "city",
            q(
                SearchCriteria {
                    city: city.clone(),
                    ..Default::default()
                },
                ListingSort::Newest,
                1,
            ),
        ),
        (
            "city+sale+price, price asc",
            q(
                SearchCriteria {
                    city: city.clone(),
                    transaction_type: Some(TransactionType::Sale),
                    min_price: Some(200_000),
                    max_price: Some(400_000),
                    ..Default::default()
                },
                ListingSort::PriceAsc,
                1,
            ),
        ),
        (
            "city+rent+bedrooms",
            q(
                SearchCriteria {
                    city: city.clone(),
                    transaction_type: Some(TransactionType::Rent),
                    min_bedrooms: Some(2),
                    ..Default::default()
                },
                ListingSort::Newest,
                1,
            ),
        ),
        (
            "city+district+type+area",
            q(
                SearchCriteria {
                    city: city.clone(),
                    district: Some(format!("District {}", round % 20)),
                    property_types: vec![PropertyType::Apartment, PropertyType::House],
                    min_living_area: Some(60.0),
                    ..Default::default()
                },
                ListingSort::PriceDesc,
                1,
            ),
        ),
        (
            "city+keyword",
            q(
                SearchCriteria {
                    city: city.clone(),
                    keywords: vec!["balcony".into()],
                    ..Default::default()
                },
                ListingSort::Newest,
                1,
            ),
        ),
        (
            "city, page 5",
            q(
                SearchCriteria {
                    city,
                    ..Default::default()
                },
                ListingSort::Newest,
                5,
            ),
        ),
        (
            "everything, newest",
            q(SearchCriteria::default(), ListingSort::Newest, 1),
        ),
        (
            "sale+price, no city",
            q(
                SearchCriteria {
                    transaction_type: Some(TransactionType::Sale),
                    min_price: Some(300_000),
                    max_price: Some(350_000),
                    ..Default::default()
                },
                ListingSort::PriceDesc,
                1,
            ),
        ),
    ]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn measure(backend: &str, n: u64, conn: &mut DbConn) {
    let mut all = Vec::new();
    let (mut anonymous, mut signed_in) = (Vec::new(), Vec::new());
    let mut per: Vec<(&'static str, Vec<Duration>)> = Vec::new();
    // A signed-in visitor who marked 25 listings "not interested": the website leaves them out
    // in the query itself. Each query runs both ways, one right after the other.
    let hidden: Vec<i64> = (1..=25).map(|i| i * 7_919).collect();
    // One warm-up round.
    for (_, query) in patterns(999) {
        platform::with_conn!(conn, |c| c.search_listings(&query)).unwrap();
    }
    for round in 0..ROUNDS {
        for (i, (name, query)) in patterns(round).into_iter().enumerate() {
            let signed = ListingQuery {
                exclude_ids: hidden.clone(),
                ..query.clone()
            };
            for (q, times) in [(&query, &mut anonymous), (&signed, &mut signed_in)] {
                let start = Instant::now();
                let (rows, total) = platform::with_conn!(conn, |c| c.search_listings(q)).unwrap();
                let took = start.elapsed();
                assert!(rows.len() as i64 <= total);
                all.push(took);
                times.push(took);
                if per.len() <= i {
                    per.push((name, Vec::new()));
                }
                per[i].1.push(took);
            }
        }
    }
    all.sort();
    println!(
        "search {backend} {n} listings: p50 {} p99 {} max {} ({} queries)",
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.99)),
        ms(*all.last().unwrap()),
        all.len()
    );
    for (label, mut times) in [
        ("anonymous", anonymous),
        ("signed in, 25 hidden", signed_in),
    ] {
        times.sort();
        println!(
            "    {label:<28} p50 {:>9} p99 {:>9}",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99))
        );
    }
    for (name, mut times) in per {
        times.sort();
        println!(
            "    {name:<28} p50 {:>9} p99 {:>9}",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99))
        );
    }
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent: keep that quick.
    let sizes: Vec<u64> = std::env::var("BENCH_SIZES")
        .unwrap_or_else(|_| "100000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let sizes = if std::env::args().any(|a| a == "--bench") {
        sizes
    } else {
        vec![2_000]
    };
    for &n in &sizes {
        let db = TestDb::sqlite();
        let start = Instant::now();
        fill(&db.db, n);
        eprintln!("sqlite: {n} listings generated in {:?}", start.elapsed());
        measure("sqlite", n, &mut db.db.get().unwrap());
        if let Some(db) = TestDb::postgres(&format!("bench_search_{n}")) {
            let start = Instant::now();
            fill(&db.db, n);
            eprintln!(
                "postgresql: {n} listings generated in {:?}",
                start.elapsed()
            );
            measure("postgresql", n, &mut db.db.get().unwrap());
        }
    }
}
