//! Tests of the matcher: each criterion alone, random workloads against the reference
//! [`SearchCriteria::matches`], and the rebuild from the database.

use std::collections::{BTreeMap, BTreeSet};

use api_types::search::{ListingFacts, SearchCriteria, normalize};
use api_types::{PropertyType, StandardStatus, TransactionType};
use proptest::prelude::*;

use super::*;

fn listing() -> ListingFacts {
    ListingFacts {
        transaction_type: TransactionType::Sale,
        property_type: PropertyType::Apartment,
        status: StandardStatus::Active,
        city: "lisbon".into(),
        district: Some("alfama".into()),
        price: 350_000,
        living_area: Some(84.5),
        bedrooms: Some(2),
        title: "bright flat with balcony".into(),
        description: "near the river, renovated kitchen".into(),
    }
}

/// The ids the index finds, sorted.
fn found(index: &MatcherIndex, l: &ListingFacts) -> Vec<SearchId> {
    let mut ids = index.matching(l);
    ids.sort_unstable();
    ids
}

/// The ids of `searches` that match `l` by the reference semantics, in their order.
fn reference<'a>(
    searches: impl IntoIterator<Item = (&'a SearchId, &'a SearchCriteria)>,
    l: &ListingFacts,
) -> Vec<SearchId> {
    searches
        .into_iter()
        .filter(|(_, c)| c.matches(l))
        .map(|(id, _)| *id)
        .collect()
}

/// Asserts that a one-search index agrees with the reference on `l` and returns the verdict.
fn single(c: SearchCriteria, l: &ListingFacts) -> bool {
    let mut index = MatcherIndex::new();
    index.insert(1, &c);
    let got = !index.matching(l).is_empty();
    assert_eq!(got, c.normalized().matches(l), "{c:?} on {l:?}");
    got
}

#[test]
fn each_criterion_alone() {
    let l = listing();
    let c = SearchCriteria::default;
    assert!(single(c(), &l));
    assert!(single(
        SearchCriteria {
            transaction_type: Some(TransactionType::Sale),
            ..c()
        },
        &l
    ));
    assert!(!single(
        SearchCriteria {
            transaction_type: Some(TransactionType::Rent),
            ..c()
        },
        &l
    ));
    assert!(single(
        SearchCriteria {
            city: Some(" Lisbon ".into()),
            ..c()
        },
        &l
    ));
    assert!(!single(
        SearchCriteria {
            city: Some("Porto".into()),
            ..c()
        },
        &l
    ));
    assert!(single(
        SearchCriteria {
            district: Some("ALFAMA".into()),
            ..c()
        },
        &l
    ));
    assert!(!single(
        SearchCriteria {
            district: Some("baixa".into()),
            ..c()
        },
        &l
    ));
    assert!(!single(
        SearchCriteria {
            district: Some("alfama".into()),
            ..c()
        },
        &ListingFacts {
            district: None,
            ..listing()
        }
    ));
    assert!(single(
        SearchCriteria {
            property_types: vec![PropertyType::House, PropertyType::Apartment],
            ..c()
        },
        &l
    ));
    assert!(!single(
        SearchCriteria {
            property_types: vec![PropertyType::House],
            ..c()
        },
        &l
    ));
    for (lo, hi, want) in [
        (Some(350_000), Some(350_000), true),
        (Some(350_001), None, false),
        (None, Some(349_999), false),
        (Some(0), Some(u64::MAX), true),
        (None, Some(350_000), true),
    ] {
        assert_eq!(
            single(
                SearchCriteria {
                    min_price: lo,
                    max_price: hi,
                    ..c()
                },
                &l
            ),
            want
        );
    }
    for (lo, hi, want) in [
        (Some(84.5), Some(84.5), true),
        (Some(84.6), None, false),
        (None, Some(84.4), false),
        (Some(f64::NEG_INFINITY), Some(f64::INFINITY), true),
    ] {
        assert_eq!(
            single(
                SearchCriteria {
                    min_living_area: lo,
                    max_living_area: hi,
                    ..c()
                },
                &l
            ),
            want
        );
    }
    assert!(!single(
        SearchCriteria {
            max_living_area: Some(1000.0),
            ..c()
        },
        &ListingFacts {
            living_area: None,
            ..listing()
        }
    ));
    assert!(single(
        SearchCriteria {
            min_bedrooms: Some(2),
            ..c()
        },
        &l
    ));
    assert!(!single(
        SearchCriteria {
            min_bedrooms: Some(3),
            ..c()
        },
        &l
    ));
    assert!(!single(
        SearchCriteria {
            min_bedrooms: Some(0),
            ..c()
        },
        &ListingFacts {
            bedrooms: None,
            ..listing()
        }
    ));
    assert!(single(
        SearchCriteria {
            min_bedrooms: Some(9),
            ..c()
        },
        &ListingFacts {
            bedrooms: Some(12),
            ..listing()
        }
    ));
    assert!(!single(
        SearchCriteria {
            min_bedrooms: Some(13),
            ..c()
        },
        &ListingFacts {
            bedrooms: Some(12),
            ..listing()
        }
    ));
    assert!(single(
        SearchCriteria {
            keywords: vec!["Balcony".into(), "river".into()],
            ..c()
        },
        &l
    ));
    assert!(!single(
        SearchCriteria {
            keywords: vec!["balcony".into(), "garden".into()],
            ..c()
        },
        &l
    ));
    assert!(!single(
        c(),
        &ListingFacts {
            status: StandardStatus::Sold,
            ..listing()
        }
    ));
}

#[test]
fn insert_replace_remove_and_owners() {
    let mut index = MatcherIndex::new();
    let l = listing();
    let porto = SearchCriteria {
        city: Some("porto".into()),
        ..Default::default()
    };
    let lisbon = SearchCriteria {
        city: Some("lisbon".into()),
        ..Default::default()
    };
    index.insert(1, &porto);
    index.insert(2, &lisbon);
    assert_eq!(index.len(), 2);
    assert_eq!(index.matching(&l), vec![2]);
    index.insert(1, &lisbon); // replaces
    assert_eq!(index.len(), 2);
    assert_eq!(found(&index, &l), vec![1, 2]);
    assert!(index.remove(2));
    assert!(!index.remove(2));
    assert_eq!(index.matching(&l), vec![1]);
    assert!(index.memory_bytes() > 0);

    // Many removals compact a bucket and keep the rest findable.
    for id in 100..1_000 {
        index.insert(id, &lisbon);
    }
    for id in (100..1_000).filter(|id| id % 3 != 0) {
        index.remove(id);
    }
    let want: Vec<SearchId> = std::iter::once(1)
        .chain((100..1_000).filter(|id| id % 3 == 0))
        .collect();
    assert_eq!(found(&index, &l), want);
    assert_eq!(index.len(), want.len());
}

#[test]
fn the_shared_matcher() {
    let matcher = Matcher::new();
    assert!(matcher.is_empty());
    matcher.upsert(
        5,
        &SearchCriteria {
            max_price: Some(400_000),
            ..Default::default()
        },
    );
    assert_eq!(matcher.matching(&listing()), vec![5]);
    let old = matcher.replace(MatcherIndex::new());
    assert_eq!(old.len(), 1);
    assert_eq!(matcher.len(), 0);
    assert!(!matcher.remove(5));
}

/// Bounds just around every band edge, keywords beyond the keyword bit mask (more than 64
/// distinct), duplicate ids: built and incremental indexes against the reference.
#[test]
fn band_edges_many_keywords_and_duplicates() {
    let (price_edges, area_edges) = MatcherIndex::new().band_edges();
    let mut prices = vec![0, 1, u64::MAX - 1, u64::MAX];
    for &e in &price_edges {
        prices.extend([e - 2, e - 1, e, e + 1]);
    }
    let mut areas = vec![f64::NEG_INFINITY, -1.0, 0.0, f64::INFINITY];
    for &e in &area_edges {
        areas.extend([e.next_down(), e, e.next_up()]);
    }
    let words: Vec<String> = (0..100).map(|i| format!("kw{i:03}")).collect();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let beds = [0u32, 1, 3, 6, 7, 8, 200, u32::MAX];
    let mut searches = Vec::new();
    for i in 0..3_000i64 {
        let opt_price = |next: &mut dyn FnMut(usize) -> usize| {
            (next(3) != 0).then(|| prices[next(prices.len())])
        };
        let min_price = opt_price(&mut next);
        let max_price = opt_price(&mut next);
        let opt_area =
            |next: &mut dyn FnMut(usize) -> usize| (next(3) == 0).then(|| areas[next(areas.len())]);
        let min_living_area = opt_area(&mut next);
        let max_living_area = opt_area(&mut next);
        let c = SearchCriteria {
            transaction_type: None,
            city: (next(2) == 0).then(|| "lisbon".to_owned()),
            district: None,
            property_types: (0..next(3))
                .map(|_| PropertyType::ALL[next(PropertyType::ALL.len())])
                .collect(),
            min_price,
            max_price,
            min_living_area,
            max_living_area,
            min_bedrooms: (next(2) == 0).then(|| beds[next(beds.len())]),
            keywords: (0..[0, 0, 0, 1, 2][next(5)])
                .map(|_| words[next(words.len())].clone())
                .collect(),
        };
        searches.push((i % 2_500, c));
    }
    let built = MatcherIndex::build(searches.iter().map(|(id, c)| (*id, c)));
    let mut incremental = MatcherIndex::new();
    let mut live: BTreeMap<SearchId, SearchCriteria> = BTreeMap::new();
    for (id, c) in &searches {
        incremental.insert(*id, c);
        live.insert(*id, c.normalized());
    }
    assert_eq!(built.len(), live.len());
    assert_eq!(incremental.len(), live.len());
    for _ in 0..300 {
        let text: Vec<&str> = (0..next(30))
            .map(|_| words[next(words.len())].as_str())
            .collect();
        let l = ListingFacts {
            city: if next(2) == 0 { "lisbon" } else { "porto" }.into(),
            district: None,
            property_type: PropertyType::ALL[next(PropertyType::ALL.len())],
            price: prices[next(prices.len())],
            living_area: match next(10) {
                0 => None,
                1 => Some(f64::NAN),
                _ => Some(areas[next(areas.len())]),
            },
            bedrooms: (next(8) != 0).then(|| beds[next(beds.len())]),
            title: text[..text.len() / 3].join(" "),
            description: text[text.len() / 3..].join(" "),
            ..listing()
        };
        let want = reference(&live, &l);
        for index in [&built, &incremental] {
            assert_eq!(found(index, &l), want, "{l:?}");
        }
    }
}

/// Search ids that do not fit 32-bit offsets from one base (extreme values, far apart) next to
/// ones that do, inserted into buckets that were narrow, removed until buckets compact, and
/// built: the ids come back exactly.
#[test]
fn wide_and_narrow_ids() {
    let l = listing();
    let lisbon = SearchCriteria {
        city: Some("lisbon".into()),
        ..Default::default()
    };
    let anywhere = SearchCriteria::default();
    let far = [
        i64::MIN,
        i64::MIN + 1,
        -5_000_000_000,
        -1,
        0,
        1,
        4_294_967_295,
        4_294_967_296,
        9_000_000_000,
        i64::MAX - 1,
        i64::MAX,
    ];
    let ids: Vec<SearchId> = (1_000..1_300).chain(far).collect();
    let mut want: BTreeSet<SearchId> = BTreeSet::new();
    let mut incremental = MatcherIndex::new();
    for (k, &id) in ids.iter().enumerate() {
        let c = if k % 2 == 0 { &lisbon } else { &anywhere };
        incremental.insert(id, c);
        want.insert(id);
    }
    let check = |index: &MatcherIndex, want: &BTreeSet<SearchId>| {
        let want: Vec<SearchId> = want.iter().copied().collect();
        assert_eq!(found(index, &l), want);
        let mut each = Vec::new();
        index.for_each_match(&l, |id| each.push(id));
        each.sort_unstable();
        assert_eq!(each, want);
    };
    check(&incremental, &want);
    let built = MatcherIndex::build(
        ids.iter()
            .enumerate()
            .map(|(k, &id)| (id, if k % 2 == 0 { &lisbon } else { &anywhere })),
    );
    check(&built, &want);
    // Remove most of the narrow ones: buckets compact (and may turn narrow again).
    let mut index = built;
    for (k, &id) in ids.iter().enumerate().take(300) {
        if k % 5 != 0 {
            assert!(index.remove(id));
            assert!(incremental.remove(id));
            want.remove(&id);
        }
    }
    check(&index, &want);
    check(&incremental, &want);
    // Then the far ones: the rest fit again.
    for &id in &far {
        assert!(index.remove(id));
        want.remove(&id);
    }
    for i in 0..200i64 {
        index.insert(2_000 + i, &lisbon);
        want.insert(2_000 + i);
    }
    check(&index, &want);
}

/// A large bucket keeps, per part (searches naming keywords or not) and price band, where its
/// sorted slots with a minimum price in that band end, and a listing skips the slots past its
/// band: searches built in, inserted after the build (past the sorted slots), removed, and
/// compacted, against the reference at every band edge.
#[test]
fn large_buckets_skip_the_slots_past_the_listing_price() {
    let (price_edges, _) = MatcherIndex::new().band_edges();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let search = |next: &mut dyn FnMut(u64) -> u64| {
        let price = |next: &mut dyn FnMut(u64) -> u64| {
            let e = price_edges[next(price_edges.len() as u64) as usize];
            e - 1 + next(3)
        };
        let (a, b) = (price(&mut *next), price(&mut *next));
        // The listing's text has balcony, river and kitchen, not garden.
        let words = ["balcony", "river", "garden", "kitchen"];
        SearchCriteria {
            city: Some("lisbon".into()),
            min_price: (next(4) != 0).then_some(a.min(b)),
            max_price: (next(4) != 0).then_some(a.max(b)),
            keywords: (0..[0, 0, 1, 2][next(4) as usize])
                .map(|_| words[next(4) as usize].to_owned())
                .collect(),
            ..Default::default()
        }
    };
    let built: Vec<(SearchId, SearchCriteria)> =
        (0..5_000).map(|id| (id, search(&mut next))).collect();
    let mut index = MatcherIndex::build(built.iter().map(|(id, c)| (*id, c)));
    let mut live: BTreeMap<SearchId, SearchCriteria> = built.into_iter().collect();
    for id in 5_000..5_600 {
        let c = search(&mut next);
        index.insert(id, &c);
        live.insert(id, c);
    }
    let mut prices: Vec<u64> = vec![0, 1, u64::MAX];
    for &e in price_edges.iter().step_by(3) {
        prices.extend([e - 1, e, e + 1]);
    }
    let check = |index: &MatcherIndex, live: &BTreeMap<SearchId, SearchCriteria>| {
        for &price in &prices {
            let l = ListingFacts { price, ..listing() };
            let want = reference(live, &l);
            assert_eq!(found(index, &l), want, "price {price}");
        }
    };
    check(&index, &live);
    // Removals leave dead slots, then compact the bucket (laid out sorted again).
    for id in (0..5_600).filter(|id| id % 3 == 0) {
        assert!(index.remove(id));
        live.remove(&id);
    }
    check(&index, &live);
    for id in (0..5_600).filter(|id| id % 3 == 1) {
        assert!(index.remove(id));
        live.remove(&id);
    }
    assert!(live.len() > 1_024, "still a large bucket");
    check(&index, &live);
}

/// Bounds and listings inside one price band and one area band, on and around the boundaries
/// of the band's 256ths (where the keys of a bound and of a listing tie or just differ).
#[test]
fn bounds_within_a_band() {
    let (price_edges, area_edges) = MatcherIndex::new().band_edges();
    let mut prices = Vec::new();
    for k in [0usize, 1, 100, 200, 253] {
        let (lo, hi) = (price_edges[k], price_edges[k + 1]);
        for j in [0u64, 1, 2, 127, 128, 255, 256] {
            let at = lo + (u128::from(hi - lo) * u128::from(j) / 256) as u64;
            prices.extend([at.saturating_sub(1), at, at + 1]);
        }
    }
    let mut areas = Vec::new();
    for k in [0usize, 10, 30, 60] {
        let (lo, hi) = (area_edges[k], area_edges[k + 1]);
        for j in [0.0, 1.0, 2.0, 127.0, 128.0, 255.0, 256.0] {
            let at = lo + (hi - lo) * j / 256.0;
            areas.extend([at.next_down(), at, at.next_up()]);
        }
    }
    let mut searches = Vec::new();
    let mut id = 0;
    for (i, &p) in prices.iter().enumerate() {
        let q = prices[(i * 7 + 3) % prices.len()];
        for (j, &a) in areas.iter().enumerate().step_by(3) {
            let b = areas[(j * 5 + 1) % areas.len()];
            id += 1;
            searches.push((
                id,
                SearchCriteria {
                    min_price: Some(p.min(q)),
                    max_price: Some(p.max(q)),
                    min_living_area: Some(a.min(b)),
                    max_living_area: (j % 2 == 0).then_some(a.max(b)),
                    ..Default::default()
                },
            ));
        }
    }
    let index = MatcherIndex::build(searches.iter().map(|(id, c)| (*id, c)));
    for (i, &price) in prices.iter().enumerate() {
        for &area in areas.iter().skip(i % 4).step_by(4) {
            let l = ListingFacts {
                price,
                living_area: Some(area),
                bedrooms: None,
                ..listing()
            };
            let want = reference(searches.iter().map(|(id, c)| (id, c)), &l);
            assert_eq!(found(&index, &l), want, "{l:?}");
        }
    }
}

/// Keywords as substrings: short ones, inside other words, accented, split between the title
/// and the description (which matches neither), many per listing (the trigram prefilter).
#[test]
fn keyword_substrings() {
    let words = [
        "ba",
        "alc",
        "balcony",
        "cony",
        "ny w",
        "sé",
        "praça",
        "açaí",
        "xyz",
        "with bal",
        "river",
        "kitchenette",
        "bright flat",
        "flatnear",
        "view",
    ];
    let mut index = MatcherIndex::new();
    let mut live = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let c = SearchCriteria {
            keywords: vec![(*w).to_owned()],
            ..Default::default()
        };
        index.insert(i as SearchId, &c);
        live.push((i as SearchId, c.normalized()));
    }
    for (title, description) in [
        (
            "bright flat with balcony",
            "near the river, renovated kitchen",
        ),
        ("praça da sé", "açaí bar downstairs"),
        ("", ""),
        ("flat", "near"),
        ("ba", "xy z"),
    ] {
        let l = ListingFacts {
            title: normalize(title),
            description: normalize(description),
            ..listing()
        };
        let want = reference(live.iter().map(|(id, c)| (id, c)), &l);
        assert_eq!(found(&index, &l), want, "{l:?}");
    }
}

// ---- random workloads against the reference ----

const CITIES: [&str; 3] = ["lisbon", "porto", "são paulo"];
const DISTRICTS: [&str; 3] = ["alfama", "baixa", "centro"];
const WORDS: [&str; 5] = ["balcony", "garden", "sea view", "garage", "pool"];
const PRICES: [u64; 9] = [0, 1, 199, 200, 241, 1_000, 350_000, 20_000_000, u64::MAX];
const AREAS: [f64; 9] = [
    0.0,
    11.9,
    12.0,
    14.0,
    50.0,
    84.5,
    1000.0,
    5000.0,
    f64::INFINITY,
];

fn arb_price() -> impl Strategy<Value = u64> {
    prop_oneof![prop::sample::select(&PRICES[..]), 0u64..30_000_000]
}

fn arb_area() -> impl Strategy<Value = f64> {
    prop_oneof![
        prop::sample::select(&AREAS[..]),
        (0u32..20_000).prop_map(|a| f64::from(a) / 10.0)
    ]
}

fn arb_text(options: &'static [&'static str]) -> impl Strategy<Value = String> {
    // Odd case and spacing: the index must normalise as the reference's normal form does.
    (prop::sample::select(options), any::<bool>()).prop_map(|(s, shout)| {
        if shout {
            format!("  {}  ", s.to_uppercase())
        } else {
            s.to_owned()
        }
    })
}

fn arb_criteria() -> impl Strategy<Value = SearchCriteria> {
    (
        prop::option::of(prop::sample::select(&TransactionType::ALL[..])),
        prop::option::of(arb_text(&CITIES)),
        prop::option::of(arb_text(&DISTRICTS)),
        prop::collection::vec(prop::sample::select(&PropertyType::ALL[..]), 0..3),
        (prop::option::of(arb_price()), prop::option::of(arb_price())),
        (prop::option::of(arb_area()), prop::option::of(arb_area())),
        prop::option::of(prop_oneof![0u32..10, Just(200u32), Just(u32::MAX)]),
        prop::collection::vec(arb_text(&WORDS), 0..3),
    )
        .prop_map(
            |(transaction_type, city, district, property_types, prices, areas, beds, keywords)| {
                SearchCriteria {
                    transaction_type,
                    city,
                    district,
                    property_types,
                    min_price: prices.0,
                    max_price: prices.1,
                    min_living_area: areas.0,
                    max_living_area: areas.1,
                    min_bedrooms: beds,
                    keywords,
                }
            },
        )
}

fn arb_listing() -> impl Strategy<Value = ListingFacts> {
    (
        prop::sample::select(&TransactionType::ALL[..]),
        prop::sample::select(&PropertyType::ALL[..]),
        prop_oneof![
            4 => Just(StandardStatus::Active),
            1 => prop::sample::select(&StandardStatus::ALL[..]),
        ],
        prop_oneof![prop::sample::select(&CITIES[..]), Just("faro")],
        prop::option::of(prop_oneof![
            prop::sample::select(&DISTRICTS[..]),
            Just("sé")
        ]),
        arb_price(),
        prop::option::of(prop_oneof![arb_area(), Just(f64::NAN)]),
        prop::option::of(prop_oneof![0u32..10, Just(200u32), Just(u32::MAX)]),
        prop::collection::vec(prop::sample::select(&WORDS[..]), 0..4),
        prop::collection::vec(prop::sample::select(&WORDS[..]), 0..4),
    )
        .prop_map(
            |(tt, pt, status, city, district, price, area, beds, title, desc)| ListingFacts {
                transaction_type: tt,
                property_type: pt,
                status,
                city: city.into(),
                district: district.map(Into::into),
                price,
                living_area: area,
                bedrooms: beds,
                title: normalize(&format!("flat {}", title.join(" "))),
                description: normalize(&desc.join(", ")),
            },
        )
}

#[derive(Debug, Clone)]
enum Op {
    Insert(SearchId, SearchCriteria),
    Remove(SearchId),
    Check(ListingFacts),
}

/// Mostly small ids, some that do not fit 32-bit offsets from the others.
fn arb_id() -> impl Strategy<Value = SearchId> {
    prop_oneof![
        12 => 0i64..60,
        1 => prop::sample::select(&[i64::MIN, -5_000_000_000, 4_294_967_296, i64::MAX][..]),
    ]
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (arb_id(), arb_criteria()).prop_map(|(id, c)| Op::Insert(id, c)),
        2 => arb_id().prop_map(Op::Remove),
        3 => arb_listing().prop_map(Op::Check),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_index_agrees_with_the_reference(ops in prop::collection::vec(arb_op(), 1..200)) {
        let mut index = MatcherIndex::new();
        let mut live: BTreeMap<SearchId, SearchCriteria> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Insert(id, c) => {
                    index.insert(id, &c);
                    live.insert(id, c.normalized());
                }
                Op::Remove(id) => {
                    prop_assert_eq!(index.remove(id), live.remove(&id).is_some());
                }
                Op::Check(l) => {
                    let want = reference(&live, &l);
                    prop_assert_eq!(found(&index, &l), want, "listing {:?}", l);
                }
            }
            prop_assert_eq!(index.len(), live.len());
        }
    }

    #[test]
    fn a_built_index_agrees_with_the_reference(
        searches in prop::collection::vec(arb_criteria(), 0..400),
        listings in prop::collection::vec(arb_listing(), 1..30),
    ) {
        // Some ids far from the others (wide buckets), distinct.
        let id = |i: usize| i as SearchId + if i % 13 == 5 { 9_000_000_000 } else { 0 };
        let index = MatcherIndex::build(
            searches.iter().enumerate().map(|(i, c)| (id(i), c)),
        );
        let normal: Vec<SearchCriteria> = searches.iter().map(SearchCriteria::normalized).collect();
        for l in &listings {
            let mut want: Vec<SearchId> = (0..normal.len())
                .filter(|&i| normal[i].matches(l))
                .map(id)
                .collect();
            want.sort_unstable();
            prop_assert_eq!(found(&index, l), want);
        }
    }
}

// ---- rebuild from the database ----

crate::db_test!(the_index_is_rebuilt_from_live_saved_searches, |db| {
    use crate::searches::{LIFETIME_MS, NewSavedSearch, Owner, SavedSearchStore};
    use crate::testing::fixtures;

    let mut conn = db.get().unwrap();
    let alice = Owner::User(fixtures::user(&mut conn, "alice@example.com"));
    let bob = Owner::User(fixtures::user(&mut conn, "bob@example.com"));
    let now = crate::db::now_ms();
    let create = |conn: &mut DbConn, owner: Owner, city: &str, at: i64| {
        let s = NewSavedSearch::new(
            "",
            &SearchCriteria {
                city: Some(city.into()),
                max_price: Some(400_000),
                ..Default::default()
            },
        )
        .unwrap();
        crate::write_tx!(conn, |c| c.create_saved_search(owner, &s, at))
            .unwrap()
            .id
    };
    let a1 = create(&mut conn, alice, "Lisbon", now);
    let a2 = create(&mut conn, alice, "Porto", now);
    let expired = create(&mut conn, bob, "Lisbon", now - LIFETIME_MS - 1);
    let deleted = create(&mut conn, bob, "Lisbon", now);
    crate::write_tx!(&mut conn, |c| c.delete_saved_search(bob, deleted)).unwrap();

    let matcher = Matcher::new();
    assert_eq!(matcher.rebuild(&mut conn, now).unwrap(), 2);
    assert!(matcher.read().contains(a1) && matcher.read().contains(a2));
    assert!(!matcher.read().contains(expired) && !matcher.read().contains(deleted));
    assert_eq!(matcher.matching(&listing()), vec![a1]);

    let index = load_index(&mut conn, now - LIFETIME_MS + 10).unwrap();
    assert_eq!(index.len(), 3); // the expired one was still live then
    assert_eq!(found(&index, &listing()), vec![a1, expired]);
});
