//! The in-memory index of live saved searches: which searches does a listing match?
//!
//! # Layout
//!
//! Searches are partitioned by `(transaction type, normalised city, normalised district)` into
//! buckets; a search without a city goes to an "any city" bucket, one without a district to an
//! "any district" bucket, one without a transaction type to an "any type" bucket. A listing
//! (sale, lisbon, alfama) therefore looks at most at eight buckets: {sale, any type} × {lisbon,
//! any city} × {alfama, any district}.
//!
//! Inside a bucket every search has a slot. The bucket keeps per slot, as separate arrays, the
//! search id (4 bytes as a 32-bit offset from a per-bucket base when every id of the bucket
//! fits, else 8: see [`Ids`]), 16-bit keys of the price and area bounds (8 bytes, ordered like
//! the bounds), the exact bounds ([`Bounds`], 32 bytes), the keywords (a bit mask of keyword
//! ids, 8 bytes) and the minimum bedrooms (4 bytes), and a set of bit columns over the slots
//! (one bit per search and column):
//!
//! * `alive`: the slot holds a live search (removal clears this bit and the property-type bits,
//!   so a dead slot never survives a query; a bucket with many dead slots is compacted);
//! * `no keywords` (the search names no keyword);
//! * one column per price band (256 geometric bands): the search's price interval meets the band,
//!   and a second one per band: the interval contains the whole band ("inside");
//! * one column per living-area band (63 geometric bands plus "listing states no area"), and per
//!   real band an "inside" one;
//! * one column per bedroom count 0..=6, "7 or more" and "listing states no count";
//! * one column per property type: the search accepts it;
//! * per keyword id below 63: the search's smallest keyword id is this one ("first"), and: the
//!   search names exactly two keywords, both below 63, and this is the larger ("second"); plus
//!   "first is 63 or above" and "names exactly one keyword".
//!
//! Matching a listing ANDs four columns word by word (64 searches per instruction): the
//! survivors. A survivor whose price and area bands lie inside its intervals and whose keywords
//! are settled is a certain match (more columns ANDed) and is emitted straight from the id
//! array. Keywords are settled by columns too: the listing's text is tested once against every
//! keyword id below 63, and the "first" and "second" columns of those it contains are ORed, so
//! a survivor whose first keyword is missing fails and one naming one or two keywords it
//! contains is certain. Only the rest are checked, and only for what is unsettled: the bounds
//! at the band edges (from the keys; the exact bounds only when a key ties the listing's),
//! bedrooms ≥ 7, searches naming three keywords or more (a per-listing memo). The checks run
//! per block of 16 words as branch-free loops so that their cache misses overlap.
//!
//! The answer is search ids only (8 bytes a match; who owns a search is the database's to say).
//! A large answer costs mostly per-match work and memory traffic (ids, keys), hence the narrow
//! arrays; each word's matches are stored straight into the answer (see [`Collect`]). The
//! result equals filtering every live search with [`SearchCriteria::matches`], which the tests
//! check on random data and at every band edge.
//!
//! `build` (and compaction) lay a bucket out from per-search rows of bits, transposed 64 slots
//! at a time, with slots sorted by (names keywords, minimum-price band, maximum price): a
//! listing's matches lie in dense runs, the keyword columns are read only over the part that
//! names keywords, and a large bucket records where each part's slots of each minimum-price
//! band end ([`Bucket::price_ends`]) so that a listing skips the slots whose minimum price is
//! above its band.
//!
//! # Files
//!
//! This file holds the layout's types and the public operations (insert, remove, matching);
//! `columns.rs` turns a search into its bucket, entry and bit columns; `keywords.rs` interns
//! keywords and tests listings for them; `layout.rs` builds and compacts buckets; `query.rs`
//! scans the buckets for one listing; `ids.rs` stores the search ids and hands the matches out.

mod columns;
mod ids;
mod keywords;
mod layout;
mod query;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use api_types::PropertyType;
use api_types::search::{ListingFacts, SearchCriteria};

use self::ids::{Collect, EachMatch, Ids};

/// Id of a saved search (the `saved_searches.id` column).
pub type SearchId = i64;

/// Price bands: band `k` holds prices in `[price_edges[k-1], price_edges[k])`, band 0 starts at 0
/// and the last band ends at `u64::MAX` inclusive.
const PRICE_BANDS: usize = 256;
/// Real living-area bands; one more column stands for "the listing states no living area".
const AREA_BANDS: usize = 63;
/// Bedroom columns 0..=6, then "7 or more", then "unknown".
const BED_BANDS: usize = 9;
const BEDS_SEVEN_OR_MORE: usize = 7;
const BEDS_UNKNOWN: usize = 8;
const TYPE_COUNT: usize = PropertyType::ALL.len();

const SET_ALIVE: usize = 0;
/// The search names no keyword.
const SET_NO_KEYWORDS: usize = 1;
const SET_PRICE: usize = 2;
/// Price band lies entirely inside the search's price interval.
const SET_PRICE_IN: usize = SET_PRICE + PRICE_BANDS;
const SET_AREA: usize = SET_PRICE_IN + PRICE_BANDS;
/// Area band lies entirely inside the search's area interval (real bands only).
const SET_AREA_IN: usize = SET_AREA + AREA_BANDS + 1;
const SET_BEDS: usize = SET_AREA_IN + AREA_BANDS;
const SET_TYPES: usize = SET_BEDS + BED_BANDS;
/// One column per keyword id below [`KW_MASK_IDS`]: the search names keywords and this is the
/// smallest id among them; then one for searches naming only larger ids.
const SET_KW_FIRST: usize = SET_TYPES + TYPE_COUNT;
/// The column of [`SET_KW_FIRST`] for searches naming only keyword ids ≥ [`KW_MASK_IDS`].
const KW_FIRST_OTHER: usize = KW_MASK_IDS as usize;
/// One column per keyword id below [`KW_MASK_IDS`]: the search names exactly two keywords,
/// both below it, and this is the larger id; then one for searches naming exactly one keyword
/// below it.
const SET_KW_SECOND: usize = SET_KW_FIRST + KW_FIRST_OTHER + 1;
/// The column of [`SET_KW_SECOND`] for searches naming exactly one keyword id (below
/// [`KW_MASK_IDS`]).
const KW_SECOND_NONE: usize = KW_MASK_IDS as usize;
/// Bit columns per bucket.
const SETS: usize = SET_KW_SECOND + KW_SECOND_NONE + 1;

/// Words of one slot's bits laid out as a row (bit `s` is column `s`).
const ROW_WORDS: usize = SETS.div_ceil(64);

/// [`Entry::kw`] holds an index into [`MatcherIndex::kw_lists`].
const KW_LIST: u64 = 1 << 63;
/// No bucket.
const NO_BUCKET: u32 = u32::MAX;
/// Words of a bucket a query handles as one block.
const BLOCK_WORDS: usize = 16;
/// Buckets of at least this many slots keep [`Bucket::price_ends`].
const PRICE_ENDS_MIN_SLOTS: usize = 1024;
/// Compact a bucket once it has this many dead slots and they are at least half of it.
const COMPACT_MIN_DEAD: usize = 64;
/// Keyword ids below this are kept as a bit mask in the entry; a search naming a keyword with a
/// larger id keeps its whole list in [`MatcherIndex::kw_lists`].
const KW_MASK_IDS: u32 = 63;

/// The exact price and area bounds of one search, checked for the slots whose price or area
/// band the bit columns do not settle. Absent bounds are the widest value (the bit columns settle
/// listings without an area).
#[derive(Debug, Clone, Copy)]
struct Bounds {
    min_price: u64,
    max_price: u64,
    min_area: f64,
    max_area: f64,
}

/// What the bit columns do not settle about one search.
#[derive(Debug, Clone, Copy)]
struct Entry {
    bounds: Bounds,
    /// The bounds as [`MatcherIndex::price_key`] / [`MatcherIndex::area_key`]: min price, max
    /// price, min area, max area.
    keys: [u16; 4],
    /// Keywords: 0 for none, else a bit per keyword id below [`KW_MASK_IDS`], or [`KW_LIST`] |
    /// an index into [`MatcherIndex::kw_lists`].
    kw: u64,
    /// Minimum bedrooms, 0 if none (the columns settle counts below 7 and an unknown count).
    min_beds: u32,
}

/// One partition: searches of one (transaction type or any, city or any, district or any).
#[derive(Debug, Default)]
struct Bucket {
    /// Search id per slot.
    ids: Ids,
    /// Per slot (struct of arrays: a query reads only what it must check).
    bounds: Vec<Bounds>,
    /// Per slot, [`Entry::keys`]: a check reads these 8 bytes and the 32-byte bounds only when a
    /// key equals the listing's.
    keys: Vec<[u16; 4]>,
    kw: Vec<u64>,
    min_beds: Vec<u32>,
    /// `SETS` bit columns of `stride` words each, column-major: column `s` is
    /// `bits[s * stride..(s + 1) * stride]`.
    bits: Vec<u64>,
    stride: usize,
    dead: usize,
    /// Slots `0..sorted` were laid out sorted (later ones were inserted since): first the
    /// searches naming no keyword, then those naming keywords, each part by minimum-price band.
    /// For a large bucket, `price_ends[part * PRICE_BANDS + k]` is the end of the part's slots
    /// with a minimum price in band `k` or below: a listing in band `k` need not look at the
    /// sorted slots past it.
    sorted: usize,
    price_ends: Box<[u32]>,
}

impl Bucket {
    fn column(&self, set: usize) -> &[u64] {
        &self.bits[set * self.stride..(set + 1) * self.stride]
    }

    /// Lays the columns out again with room for `slots` slots, keeping the bits of slots below
    /// `keep` (the rest are zero).
    fn relayout(&mut self, slots: usize, keep: usize) {
        let stride = slots.div_ceil(64).max(1);
        let mut bits = vec![0u64; stride * SETS];
        let words = keep.div_ceil(64).min(self.stride).min(stride);
        for s in 0..SETS {
            bits[s * stride..s * stride + words]
                .copy_from_slice(&self.bits[s * self.stride..s * self.stride + words]);
        }
        self.bits = bits;
        self.stride = stride;
    }

    fn set(&mut self, set: usize, slot: usize) {
        self.bits[set * self.stride + slot / 64] |= 1 << (slot % 64);
    }

    fn push(&mut self, row: &Staged) {
        self.ids.push(row.id);
        self.bounds.push(row.entry.bounds);
        self.keys.push(row.entry.keys);
        self.kw.push(row.entry.kw);
        self.min_beds.push(row.entry.min_beds);
    }

    fn clear(&mut self, set: usize, slot: usize) {
        self.bits[set * self.stride + slot / 64] &= !(1 << (slot % 64));
    }
}

/// One slot's contents while a bucket is laid out: its entry, search id and bits as a row.
#[derive(Debug, Clone, Copy)]
struct Staged {
    entry: Entry,
    id: SearchId,
    bits: [u64; ROW_WORDS],
}

/// The bit columns a search sets, computed once from its criteria.
#[derive(Debug, Clone, Copy)]
struct Columns {
    price: [u64; PRICE_BANDS / 64],
    price_in: [u64; PRICE_BANDS / 64],
    area: u64,
    area_in: u64,
    beds: u16,
    types: u8,
}

/// Live saved searches, indexed for [`MatcherIndex::matching`]. Not synchronised: share it
/// behind [`Matcher`](super::Matcher) (a read-write lock) or by `&` across threads.
#[derive(Debug)]
pub struct MatcherIndex {
    buckets: Vec<Bucket>,
    /// Per (city id, district id), 0 meaning any: bucket of [any type, sale, rent], or
    /// [`NO_BUCKET`].
    places: HashMap<(u32, u32), [u32; 3]>,
    /// Interned normalised cities (ids from 1).
    cities: HashMap<Box<str>, u32>,
    /// Interned normalised districts (ids from 1).
    districts: HashMap<Box<str>, u32>,
    /// Interned keywords by id.
    kw_strings: Vec<Box<str>>,
    kw_ids: HashMap<Box<str>, u32>,
    /// Keyword lists of the searches that name a keyword id ≥ [`KW_MASK_IDS`]; freed lists are
    /// reused.
    kw_lists: Vec<Box<[u32]>>,
    kw_free: Vec<u32>,
    /// Where each live search is: (bucket, slot).
    slots: HashMap<SearchId, (u32, u32)>,
    price_edges: [u64; PRICE_BANDS - 1],
    area_edges: [f64; AREA_BANDS - 1],
    /// The most matches of recent [`MatcherIndex::matching`] calls, slowly decaying: the result
    /// vector is reserved from this so that it rarely grows.
    size_hint: AtomicUsize,
}

impl Default for MatcherIndex {
    fn default() -> Self {
        MatcherIndex::new()
    }
}

impl MatcherIndex {
    /// An empty index.
    pub fn new() -> MatcherIndex {
        // Geometric edges: prices 200 to 20 million (both rents and sale prices get fine bands),
        // areas 12 to 1,000 m².
        let mut price_edges = [0u64; PRICE_BANDS - 1];
        for (i, e) in price_edges.iter_mut().enumerate() {
            let t = i as f64 / (PRICE_BANDS - 2) as f64;
            *e = (200.0 * 100_000f64.powf(t)).round() as u64;
        }
        let mut area_edges = [0f64; AREA_BANDS - 1];
        for (i, e) in area_edges.iter_mut().enumerate() {
            let t = i as f64 / (AREA_BANDS - 2) as f64;
            *e = (12.0 * (1000.0f64 / 12.0).powf(t)).round();
        }
        MatcherIndex {
            buckets: Vec::new(),
            places: HashMap::new(),
            cities: HashMap::new(),
            districts: HashMap::new(),
            kw_strings: Vec::new(),
            kw_ids: HashMap::new(),
            kw_lists: Vec::new(),
            kw_free: Vec::new(),
            slots: HashMap::new(),
            price_edges,
            area_edges,
            size_hint: AtomicUsize::new(0),
        }
    }

    /// Live searches in the index.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when no search is in the index.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// True when search `id` is in the index.
    pub fn contains(&self, id: SearchId) -> bool {
        self.slots.contains_key(&id)
    }

    /// Adds search `id`, replacing any search with that id. The criteria are taken in
    /// normal form ([`SearchCriteria::normalized`]; texts are normalised here if they are not).
    pub fn insert(&mut self, id: SearchId, criteria: &SearchCriteria) {
        self.remove(id);
        let (bucket_ix, row) = self.prepare(id, criteria);
        let bucket = &mut self.buckets[bucket_ix as usize];
        let slot = bucket.ids.len();
        if slot >= bucket.stride * 64 {
            let grow = (bucket.stride * 2 * 64).max(64);
            bucket.relayout(grow, slot);
        }
        bucket.push(&row);
        for (w, &word) in row.bits.iter().enumerate() {
            let mut word = word;
            while word != 0 {
                let k = word.trailing_zeros() as usize;
                word &= word - 1;
                bucket.set(w * 64 + k, slot);
            }
        }
        self.slots.insert(id, (bucket_ix, slot as u32));
    }

    /// Removes search `id`; returns whether it was there.
    pub fn remove(&mut self, id: SearchId) -> bool {
        let Some((b, slot)) = self.slots.remove(&id) else {
            return false;
        };
        let bucket = &mut self.buckets[b as usize];
        let slot = slot as usize;
        bucket.clear(SET_ALIVE, slot);
        // Queries do not read `alive`: without a type bit the slot never survives.
        for t in 0..TYPE_COUNT {
            bucket.clear(SET_TYPES + t, slot);
        }
        bucket.dead += 1;
        let kw = std::mem::replace(&mut bucket.kw[slot], 0);
        let compact = bucket.dead >= COMPACT_MIN_DEAD && bucket.dead * 2 >= bucket.ids.len();
        self.free_keywords(kw);
        if compact {
            self.compact(b as usize);
        }
        true
    }

    /// The searches `listing` matches, in no particular order.
    pub fn matching(&self, listing: &ListingFacts) -> Vec<SearchId> {
        // Reserve from recent answers so the vector rarely grows (a listing matches thousands
        // of searches in a large index); unused capacity is never touched.
        let hint = self.size_hint.load(Ordering::Relaxed);
        let mut collect = Collect::with_capacity(hint + hint / 4);
        self.scan_all(listing, &mut collect);
        let out = collect.finish();
        // Near the largest recent answer: a large answer right after small ones must not grow
        // (and copy) the vector several times.
        let decayed = hint - hint / 64;
        if out.len() > decayed || decayed != hint {
            self.size_hint
                .store(out.len().max(decayed), Ordering::Relaxed);
        }
        out
    }

    /// Calls `found` for every search `listing` matches, without allocating.
    pub fn for_each_match(&self, listing: &ListingFacts, found: impl FnMut(SearchId)) {
        self.scan_all(listing, &mut EachMatch(found));
    }

    /// Heap bytes used (capacities of every vector, map and string), an estimate for maps.
    pub fn memory_bytes(&self) -> usize {
        use std::mem::size_of;
        let mut bytes = self.buckets.capacity() * size_of::<Bucket>();
        for b in &self.buckets {
            bytes += b.bounds.capacity() * size_of::<Bounds>()
                + b.kw.capacity() * 8
                + b.min_beds.capacity() * 4
                + b.keys.capacity() * 8
                + b.ids.capacity_bytes()
                + b.bits.capacity() * 8
                + b.price_ends.len() * 4;
        }
        bytes += map_bytes(self.places.capacity(), size_of::<((u32, u32), [u32; 3])>());
        for map in [&self.cities, &self.districts, &self.kw_ids] {
            bytes += map_bytes(map.capacity(), size_of::<(Box<str>, u32)>());
            bytes += map.keys().map(|k| k.len()).sum::<usize>();
        }
        bytes += self.kw_strings.capacity() * size_of::<Box<str>>()
            + self.kw_strings.iter().map(|k| k.len()).sum::<usize>();
        bytes += self.kw_lists.capacity() * size_of::<Box<[u32]>>()
            + self.kw_lists.iter().map(|l| l.len() * 4).sum::<usize>();
        bytes += self.kw_free.capacity() * 4;
        bytes += map_bytes(self.slots.capacity(), size_of::<(SearchId, (u32, u32))>());
        bytes
    }

    /// The price and area band edges (for tests at the edges).
    #[cfg(test)]
    pub(super) fn band_edges(&self) -> (Vec<u64>, Vec<f64>) {
        (self.price_edges.to_vec(), self.area_edges.to_vec())
    }
}

/// Heap bytes of a std `HashMap` able to hold `capacity` entries of `entry` bytes (a table of
/// the next power of two of 8/7 the capacity, one control byte per entry).
fn map_bytes(capacity: usize, entry: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = (capacity * 8 / 7).next_power_of_two();
    buckets * (entry + 1)
}
