//! Benchmark of the saved-search matcher on a realistic workload: 1,000,000 saved searches of
//! 333,000 users over 500 cities (Zipf), 10,000 listings from the same distributions.
//!
//! Measures index build time, per-listing latency (p50/p99), throughput on two threads, memory
//! per search, the naive scan with `SearchCriteria::matches` and, when `TEST_POSTGRES_URL` or
//! `BENCH_POSTGRES_URL` is set, the equivalent SQL on PostgreSQL. `MATCH_BENCH_SEARCHES`
//! overrides the number of searches. The last line printed is the summary:
//! `matching searches=N p50_us=X p99_us=Y naive_ratio=R pg_ratio=P bytes_per_search=B build_s=S`.

use std::time::{Duration, Instant};

use api_types::search::{ListingFacts, SearchCriteria, normalize};
use api_types::{PropertyType, StandardStatus, TransactionType};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Double, Integer, Nullable, SmallInt, Text};
use platform::matching::{MatcherIndex, SearchId};
use platform::searches::Owner;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const USERS: i64 = 333_000;
const CITIES: usize = 500;
const DISTRICTS_PER_CITY: usize = 12;
const LISTINGS: usize = 10_000;
const NAIVE_LISTINGS: usize = 200;
const PG_LISTINGS: usize = 200;

const WORDS: [&str; 50] = [
    "balcony",
    "garden",
    "garage",
    "renovated",
    "terrace",
    "pool",
    "elevator",
    "fireplace",
    "parking",
    "furnished",
    "sea view",
    "river",
    "quiet",
    "bright",
    "storage",
    "cellar",
    "attic",
    "loft",
    "penthouse",
    "duplex",
    "air conditioning",
    "heating",
    "solar",
    "patio",
    "courtyard",
    "kitchen",
    "dishwasher",
    "laundry",
    "gym",
    "concierge",
    "security",
    "pets",
    "wheelchair",
    "accessible",
    "new build",
    "historic",
    "modern",
    "spacious",
    "cosy",
    "view",
    "park",
    "school",
    "metro",
    "tram",
    "beach",
    "centre",
    "office",
    "studio",
    "double glazing",
    "hardwood",
];

const FILLER: [&str; 16] = [
    "the", "a", "with", "and", "in", "of", "for", "near", "this", "lovely", "home", "flat", "room",
    "offers", "large", "family",
];

/// Zipf sampling over `n` ranks with exponent `s`, by a cumulative table.
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut total = 0.0;
        let cumulative = (1..=n)
            .map(|k| {
                total += 1.0 / (k as f64).powf(s);
                total
            })
            .collect::<Vec<_>>();
        Zipf {
            cumulative: cumulative.iter().map(|c| c / total).collect(),
        }
    }

    fn sample(&self, rng: &mut StdRng) -> usize {
        let u: f64 = rng.random();
        self.cumulative
            .partition_point(|&c| c < u)
            .min(self.cumulative.len() - 1)
    }
}

struct World {
    cities: Vec<String>,
    districts: Vec<Vec<String>>,
    zipf: Zipf,
}

impl World {
    fn new(rng: &mut StdRng) -> World {
        let cities: Vec<String> = (0..CITIES).map(|i| format!("city {i:03}")).collect();
        let districts = (0..CITIES)
            .map(|_| {
                (0..DISTRICTS_PER_CITY)
                    .map(|j| format!("district {}", (j * 7 + rng.random_range(0..3)) % 40))
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect()
            })
            .collect();
        World {
            cities,
            districts,
            zipf: Zipf::new(CITIES, 1.0),
        }
    }
}

fn log_uniform(rng: &mut StdRng, lo: f64, hi: f64) -> f64 {
    (lo.ln() + rng.random::<f64>() * (hi.ln() - lo.ln())).exp()
}

fn round_to(x: f64, step: f64) -> u64 {
    ((x / step).round() * step).max(step) as u64
}

fn weighted_type(rng: &mut StdRng) -> PropertyType {
    const WEIGHTS: [u32; 8] = [45, 25, 10, 5, 5, 3, 5, 2];
    let mut x = rng.random_range(0..WEIGHTS.iter().sum::<u32>());
    for (t, w) in PropertyType::ALL.into_iter().zip(WEIGHTS) {
        if x < w {
            return t;
        }
        x -= w;
    }
    PropertyType::Other
}

fn price_scale(tt: TransactionType) -> (f64, f64, f64) {
    match tt {
        TransactionType::Sale => (50_000.0, 2_000_000.0, 1_000.0),
        TransactionType::Rent => (300.0, 5_000.0, 50.0),
    }
}

fn search(rng: &mut StdRng, world: &World) -> SearchCriteria {
    let tt = if rng.random_bool(0.6) {
        TransactionType::Sale
    } else {
        TransactionType::Rent
    };
    let city_ix = rng.random_bool(0.9).then(|| world.zipf.sample(rng));
    let district = city_ix.filter(|_| rng.random_bool(0.33)).map(|c| {
        let ds = &world.districts[c];
        ds[rng.random_range(0..ds.len())].clone()
    });
    let (lo, hi, step) = price_scale(tt);
    let center = log_uniform(rng, lo, hi);
    let (min_price, max_price) = match rng.random_range(0..100) {
        0..45 => {
            let a = round_to(center * rng.random_range(0.6..0.9), step);
            let b = round_to(center * rng.random_range(1.1..1.4), step);
            (Some(a), Some(b.max(a)))
        }
        45..75 => (None, Some(round_to(center, step))),
        75..85 => (Some(round_to(center, step)), None),
        _ => (None, None),
    };
    let (min_area, max_area) = match rng.random_range(0..100) {
        0..50 => (
            Some(round_to(rng.random_range(20.0..150.0), 5.0) as f64),
            None,
        ),
        50..65 => {
            let a = round_to(rng.random_range(20.0..150.0), 5.0) as f64;
            (
                Some(a),
                Some((a * rng.random_range(1.3..2.5)).round().min(300.0)),
            )
        }
        _ => (None, None),
    };
    let min_bedrooms = rng.random_bool(0.6).then(|| match rng.random_range(0..10) {
        0 => 0,
        1..4 => 1,
        4..7 => 2,
        7..9 => 3,
        _ => rng.random_range(4..=5),
    });
    let property_types = if rng.random_bool(0.5) {
        (0..rng.random_range(1..=3))
            .map(|_| weighted_type(rng))
            .collect()
    } else {
        Vec::new()
    };
    let keywords = if rng.random_bool(0.2) {
        (0..rng.random_range(1..=2))
            .map(|_| WORDS[rng.random_range(0..WORDS.len())].to_owned())
            .collect()
    } else {
        Vec::new()
    };
    SearchCriteria {
        transaction_type: Some(tt),
        city: city_ix.map(|c| world.cities[c].clone()),
        district,
        property_types,
        min_price,
        max_price,
        min_living_area: min_area,
        max_living_area: max_area,
        min_bedrooms,
        keywords,
    }
    .normalized()
}

fn listing(rng: &mut StdRng, world: &World) -> ListingFacts {
    let tt = if rng.random_bool(0.6) {
        TransactionType::Sale
    } else {
        TransactionType::Rent
    };
    let city = world.zipf.sample(rng);
    let district = rng.random_bool(0.85).then(|| {
        let ds = &world.districts[city];
        ds[rng.random_range(0..ds.len())].clone()
    });
    let (lo, hi, step) = price_scale(tt);
    let price = round_to(log_uniform(rng, lo, hi), step / 10.0);
    let area = log_uniform(rng, 20.0, 300.0);
    let bedrooms = ((area / 35.0) as u32).min(6);
    let property_type = weighted_type(rng);
    let words = |n: usize, rng: &mut StdRng| {
        (0..n)
            .map(|_| {
                if rng.random_bool(0.25) {
                    WORDS[rng.random_range(0..WORDS.len())]
                } else {
                    FILLER[rng.random_range(0..FILLER.len())]
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let title = format!(
        "{} {} bedrooms {}",
        property_type.code(),
        bedrooms,
        words(3, rng)
    );
    let description = words(rng.random_range(30..80), rng);
    ListingFacts {
        transaction_type: tt,
        property_type,
        status: StandardStatus::Active,
        city: world.cities[city].clone(),
        district,
        price,
        living_area: rng.random_bool(0.92).then_some(area.round()),
        bedrooms: rng.random_bool(0.9).then_some(bedrooms),
        title: normalize(&title),
        description: normalize(&description),
    }
}

fn mean_us(times: &[Duration]) -> f64 {
    times.iter().map(Duration::as_secs_f64).sum::<f64>() / times.len() as f64 * 1e6
}

fn sorted_ids(mut v: Vec<SearchId>) -> Vec<SearchId> {
    v.sort_unstable();
    v
}

fn main() {
    let n: usize = std::env::var("MATCH_BENCH_SEARCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let mut rng = StdRng::seed_from_u64(0x6d61_7463_6869_6e67);
    let world = World::new(&mut rng);
    let t = Instant::now();
    let searches: Vec<(SearchId, Owner, SearchCriteria)> = (0..n)
        .map(|i| {
            (
                i as SearchId + 1,
                Owner::User(i as i64 % USERS + 1),
                search(&mut rng, &world),
            )
        })
        .collect();
    let listings: Vec<ListingFacts> = (0..LISTINGS).map(|_| listing(&mut rng, &world)).collect();
    println!(
        "generated {n} searches and {LISTINGS} listings in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // Build from the criteria in memory.
    let t = Instant::now();
    let index = MatcherIndex::build(searches.iter().map(|(id, _, c)| (*id, c)));
    let build_mem_s = t.elapsed().as_secs_f64();
    let bytes_per_search = index.memory_bytes() as f64 / n as f64;
    println!(
        "index build (in memory): {build_mem_s:.2} s; {:.1} MB, {bytes_per_search:.1} bytes per search",
        index.memory_bytes() as f64 / 1e6
    );

    // Latency of each call.
    for l in listings.iter().take(500) {
        std::hint::black_box(index.matching(l));
    }
    let mut times = Vec::with_capacity(LISTINGS);
    let mut counts = Vec::with_capacity(LISTINGS);
    let mut total_matches = 0usize;
    let faults_before = minor_faults();
    for l in &listings {
        let t = Instant::now();
        let found = index.matching(l);
        times.push(t.elapsed());
        counts.push(found.len());
        total_matches += found.len();
        std::hint::black_box(found);
    }
    let faults = minor_faults().zip(faults_before).map(|(a, b)| a - b);
    let index_mean_us = mean_us(&times);
    let mut by_time: Vec<(Duration, usize)> = times.iter().copied().zip(counts.clone()).collect();
    by_time.sort_unstable();
    let slowest = &by_time[by_time.len() * 99 / 100..];
    let mut all_counts: Vec<usize> = by_time.iter().map(|(_, c)| *c).collect();
    all_counts.sort_unstable();
    println!(
        "matches per listing: p50 {}, p99 {}, max {}; the slowest 1 % of calls averaged {:.0} matches",
        all_counts[all_counts.len() / 2],
        all_counts[all_counts.len() * 99 / 100],
        all_counts[all_counts.len() - 1],
        slowest.iter().map(|(_, c)| *c as f64).sum::<f64>() / slowest.len() as f64
    );
    if let Some(f) = faults {
        println!(
            "diagnostics: {f} minor page faults during the {LISTINGS} timed calls ({:.1} per call)",
            f as f64 / LISTINGS as f64
        );
    }
    // Diagnostics for profilers (perf, callgrind): repeat the 1 % of listings with the most
    // matches (those that make the p99), then stop.
    if let Some(rounds) = std::env::var("MATCH_BENCH_PROFILE_SLOWEST")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        let mut order: Vec<usize> = (0..LISTINGS).collect();
        order.sort_unstable_by_key(|&i| std::cmp::Reverse(counts[i]));
        let slow: Vec<&ListingFacts> = order[..LISTINGS / 100]
            .iter()
            .map(|&i| &listings[i])
            .collect();
        let t = Instant::now();
        let mut found = 0usize;
        for _ in 0..rounds {
            for l in &slow {
                found += std::hint::black_box(index.matching(l)).len();
            }
        }
        println!(
            "diagnostics: {rounds} rounds over the {} listings with the most matches: {:.2} µs per call, {:.0} matches per call",
            slow.len(),
            t.elapsed().as_secs_f64() * 1e6 / (rounds * slow.len()) as f64,
            found as f64 / (rounds * slow.len()) as f64
        );
        return;
    }
    times.sort_unstable();
    let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e6;
    let (p50, p99) = (pct(0.50), pct(0.99));
    println!(
        "latency per listing: mean {index_mean_us:.2} µs, p50 {p50:.2} µs, p90 {:.2} µs, p99 {p99:.2} µs, max {:.2} µs; {:.1} matches per listing on average",
        pct(0.90),
        pct(1.0),
        total_matches as f64 / LISTINGS as f64
    );

    // Throughput on two threads sharing the index.
    let rounds = 5;
    let t = Instant::now();
    let counted: usize = std::thread::scope(|s| {
        let handles: Vec<_> = listings
            .chunks(LISTINGS / 2)
            .map(|part| {
                let index = &index;
                s.spawn(move || {
                    let mut count = 0usize;
                    for _ in 0..rounds {
                        for l in part {
                            index.for_each_match(l, |_| count += 1);
                        }
                    }
                    count
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let elapsed = t.elapsed().as_secs_f64();
    assert_eq!(counted, total_matches * rounds);
    println!(
        "throughput on 2 threads: {:.0} listings/s",
        (LISTINGS * rounds) as f64 / elapsed
    );

    // Naive scan with the reference, which must agree with the index.
    let mut naive_times = Vec::with_capacity(NAIVE_LISTINGS);
    for l in listings.iter().take(NAIVE_LISTINGS) {
        let t = Instant::now();
        let found: Vec<SearchId> = searches
            .iter()
            .filter(|(_, _, c)| c.matches(l))
            .map(|(id, _, _)| *id)
            .collect();
        naive_times.push(t.elapsed());
        let indexed = sorted_ids(index.matching(l));
        assert_eq!(indexed, found, "index and reference disagree on {l:?}");
    }
    let naive_mean_us = mean_us(&naive_times);
    let naive_ratio = naive_mean_us / index_mean_us;
    println!(
        "naive scan: mean {naive_mean_us:.0} µs over {NAIVE_LISTINGS} listings (results equal the index's); naive_ratio {naive_ratio:.1}"
    );

    // PostgreSQL baseline.
    let pg_url = std::env::var("BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("TEST_POSTGRES_URL"))
        .ok()
        .filter(|u| !u.is_empty());
    let (pg_ratio, build_s, build_note) = match pg_url {
        Some(url) => {
            let (pg_mean_us, build_s) = postgres_baseline(&url, &searches, &listings, &index);
            let ratio = pg_mean_us / index_mean_us;
            println!("postgresql: mean {pg_mean_us:.0} µs per listing; pg_ratio {ratio:.1}");
            (
                ratio,
                build_s,
                "build_s = read 1M rows back from the PostgreSQL table + build the index",
            )
        }
        None => {
            println!();
            println!(
                "!!! NO POSTGRESQL: set TEST_POSTGRES_URL or BENCH_POSTGRES_URL for the SQL baseline !!!"
            );
            println!(
                "!!! pg_ratio=NaN, build_s is the in-memory build time                            !!!"
            );
            println!();
            (
                f64::NAN,
                build_mem_s,
                "build_s = in-memory build from criteria",
            )
        }
    };
    println!("{build_note}");
    println!(
        "matching searches={n} p50_us={p50:.2} p99_us={p99:.2} naive_ratio={naive_ratio:.2} pg_ratio={} bytes_per_search={bytes_per_search:.2} build_s={build_s:.2}",
        if pg_ratio.is_nan() {
            "NaN".to_owned()
        } else {
            format!("{pg_ratio:.2}")
        }
    );
}

/// Minor page faults of this process so far (Linux `/proc/self/stat`), for diagnostics.
fn minor_faults() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command (which may contain spaces) in parentheses; minflt is field 10.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(7)?.parse().ok()
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "NULL".to_owned(), |v| v.to_string())
}

fn tt_code(tt: Option<TransactionType>) -> i16 {
    match tt {
        None => 0,
        Some(TransactionType::Sale) => 1,
        Some(TransactionType::Rent) => 2,
    }
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    #[allow(dead_code)]
    owner_id: i64,
}

#[derive(QueryableByName)]
struct CriteriaRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    owner_id: i64,
    #[diesel(sql_type = SmallInt)]
    tt: i16,
    #[diesel(sql_type = Text)]
    city: String,
    #[diesel(sql_type = Text)]
    district: String,
    #[diesel(sql_type = SmallInt)]
    types: i16,
    #[diesel(sql_type = Nullable<BigInt>)]
    min_price: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    max_price: Option<i64>,
    #[diesel(sql_type = Nullable<Double>)]
    min_area: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    max_area: Option<f64>,
    #[diesel(sql_type = Nullable<Integer>)]
    min_beds: Option<i32>,
    #[diesel(sql_type = Nullable<Array<Text>>)]
    keywords: Option<Vec<String>>,
}

impl CriteriaRow {
    fn criteria(self) -> (SearchId, Owner, SearchCriteria) {
        let c = SearchCriteria {
            transaction_type: match self.tt {
                1 => Some(TransactionType::Sale),
                2 => Some(TransactionType::Rent),
                _ => None,
            },
            city: Some(self.city).filter(|c| !c.is_empty()),
            district: Some(self.district).filter(|d| !d.is_empty()),
            property_types: PropertyType::ALL
                .into_iter()
                .filter(|t| self.types & (1 << t.index()) != 0)
                .collect(),
            min_price: self.min_price.map(|p| p as u64),
            max_price: self.max_price.map(|p| p as u64),
            min_living_area: self.min_area,
            max_living_area: self.max_area,
            min_bedrooms: self.min_beds.map(|b| b as u32),
            keywords: self.keywords.unwrap_or_default(),
        };
        (self.id, Owner::User(self.owner_id), c)
    }
}

/// The listing's WHERE clause over the criteria table (same semantics as `matches`).
fn where_clause(l: &ListingFacts) -> String {
    let tt = tt_code(Some(l.transaction_type));
    let district = match &l.district {
        Some(d) => format!("district IN ('', {})", quote(d)),
        None => "district = ''".to_owned(),
    };
    let area = match l.living_area {
        Some(a) => format!(
            "(min_area IS NULL OR min_area <= {a:?}) AND (max_area IS NULL OR max_area >= {a:?})"
        ),
        None => "min_area IS NULL AND max_area IS NULL".to_owned(),
    };
    let beds = match l.bedrooms {
        Some(b) => format!("(min_beds IS NULL OR min_beds <= {b})"),
        None => "min_beds IS NULL".to_owned(),
    };
    format!(
        "city IN ('', {city}) AND tt IN (0, {tt}) AND {district} \
         AND (types = 0 OR (types & {bit}) <> 0) \
         AND (min_price IS NULL OR min_price <= {p}) AND (max_price IS NULL OR max_price >= {p}) \
         AND {area} AND {beds} \
         AND (keywords IS NULL OR NOT EXISTS (SELECT 1 FROM unnest(keywords) k \
              WHERE strpos({title}, k) = 0 AND strpos({desc}, k) = 0))",
        city = quote(&l.city),
        bit = 1 << l.property_type.index(),
        p = l.price,
        title = quote(&l.title),
        desc = quote(&l.description),
    )
}

/// Loads the criteria into a temporary table, times the SQL equivalent of matching for
/// [`PG_LISTINGS`] listings (mean µs) and the read-back-and-build (s).
fn postgres_baseline(
    url: &str,
    searches: &[(SearchId, Owner, SearchCriteria)],
    listings: &[ListingFacts],
    index: &MatcherIndex,
) -> (f64, f64) {
    let mut conn = PgConnection::establish(url).expect("connect to PostgreSQL");
    let table = format!(
        "bench_matching_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    conn.batch_execute(&format!(
        "CREATE TABLE {table} (id BIGINT PRIMARY KEY, owner_id BIGINT NOT NULL, \
         tt SMALLINT NOT NULL, city TEXT NOT NULL, district TEXT NOT NULL, types SMALLINT NOT NULL, \
         min_price BIGINT, max_price BIGINT, min_area DOUBLE PRECISION, max_area DOUBLE PRECISION, \
         min_beds INTEGER, keywords TEXT[])"
    ))
    .expect("create table");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let t = Instant::now();
        conn.transaction(|conn| {
            for chunk in searches.chunks(1_000) {
                let rows: Vec<String> = chunk
                    .iter()
                    .map(|(id, owner, c)| {
                        let owner = match owner {
                            Owner::User(u) | Owner::Agency(u) => *u,
                        };
                        let types = c
                            .property_types
                            .iter()
                            .fold(0i16, |m, t| m | 1 << t.index());
                        let keywords = if c.keywords.is_empty() {
                            "NULL".to_owned()
                        } else {
                            format!(
                                "ARRAY[{}]",
                                c.keywords
                                    .iter()
                                    .map(|k| quote(k))
                                    .collect::<Vec<_>>()
                                    .join(",")
                            )
                        };
                        format!(
                            "({id},{owner},{},{},{},{types},{},{},{},{},{},{keywords})",
                            tt_code(c.transaction_type),
                            quote(c.city.as_deref().unwrap_or("")),
                            quote(c.district.as_deref().unwrap_or("")),
                            opt(c.min_price),
                            opt(c.max_price),
                            opt(c.min_living_area.map(|a| format!("{a:?}"))),
                            opt(c.max_living_area.map(|a| format!("{a:?}"))),
                            opt(c.min_bedrooms),
                        )
                    })
                    .collect();
                conn.batch_execute(&format!("INSERT INTO {table} VALUES {}", rows.join(",")))?;
            }
            diesel::QueryResult::Ok(())
        })
        .expect("insert criteria");
        println!(
            "postgresql: loaded {} rows in {:.1} s",
            searches.len(),
            t.elapsed().as_secs_f64()
        );
        conn.batch_execute(&format!(
            "CREATE INDEX ON {table} (city, tt); ANALYZE {table};"
        ))
        .expect("index");

        let mut pg_times = Vec::with_capacity(PG_LISTINGS);
        for l in listings.iter().take(PG_LISTINGS) {
            let sql = format!("SELECT id, owner_id FROM {table} WHERE {}", where_clause(l));
            let t = Instant::now();
            let rows: Vec<IdRow> = diesel::sql_query(sql).load(&mut conn).expect("match query");
            pg_times.push(t.elapsed());
            let from_pg = sorted_ids(rows.into_iter().map(|r| r.id).collect());
            let indexed = sorted_ids(index.matching(l));
            assert_eq!(
                from_pg, indexed,
                "PostgreSQL and the index disagree on {l:?}"
            );
        }

        let t = Instant::now();
        let rows: Vec<CriteriaRow> = diesel::sql_query(format!(
            "SELECT id, owner_id, tt, city, district, types, min_price, max_price, min_area, \
             max_area, min_beds, keywords FROM {table}"
        ))
        .load(&mut conn)
        .expect("read criteria back");
        let read_s = t.elapsed().as_secs_f64();
        let criteria: Vec<_> = rows.into_iter().map(CriteriaRow::criteria).collect();
        let rebuilt = MatcherIndex::build(criteria.iter().map(|(id, _, c)| (*id, c)));
        let build_s = t.elapsed().as_secs_f64();
        assert_eq!(rebuilt.len(), index.len());
        println!("rebuild from PostgreSQL: read {read_s:.2} s, read + build {build_s:.2} s");
        (mean_us(&pg_times), build_s)
    }));
    conn.batch_execute(&format!("DROP TABLE IF EXISTS {table}"))
        .expect("drop table");
    match result {
        Ok(r) => r,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}
