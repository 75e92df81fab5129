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

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use api_types::search::{ListingFacts, SearchCriteria, normalize};
use api_types::{PropertyType, StandardStatus, TransactionType};

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

    /// An index of `searches` (a later duplicate id replaces an earlier one), laid out tightly.
    pub fn build<'a>(
        searches: impl IntoIterator<Item = (SearchId, &'a SearchCriteria)>,
    ) -> MatcherIndex {
        let mut index = MatcherIndex::new();
        let searches = searches.into_iter();
        index.slots.reserve(searches.size_hint().0);
        // Rows per bucket first, the bit columns once at the end (writing bits column by
        // column while inserting scatters ~200 writes per search over the columns).
        let mut staged: Vec<Vec<Staged>> = Vec::new();
        for (id, criteria) in searches {
            let (b, row) = index.prepare(id, criteria);
            let b = b as usize;
            if staged.len() <= b {
                staged.resize_with(b + 1, Vec::new);
            }
            let at = (b as u32, staged[b].len() as u32);
            staged[b].push(row);
            if let Some((ob, oix)) = index.slots.insert(id, at) {
                // A duplicate id: the earlier search is dropped.
                let old = &mut staged[ob as usize][oix as usize];
                old.bits[SET_ALIVE / 64] &= !(1 << (SET_ALIVE % 64));
                let kw = std::mem::replace(&mut old.entry.kw, 0);
                index.free_keywords(kw);
            }
        }
        for (b, rows) in staged.into_iter().enumerate() {
            index.lay_out(b, rows);
        }
        index
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

    /// The bucket of a search (created if need be) and its slot contents.
    fn prepare(&mut self, id: SearchId, criteria: &SearchCriteria) -> (u32, Staged) {
        let tt = match criteria.transaction_type {
            None => 0,
            Some(TransactionType::Sale) => 1,
            Some(TransactionType::Rent) => 2,
        };
        let city = match criteria.city.as_deref().map(normalize) {
            Some(c) if !c.is_empty() => self.intern_city(c),
            _ => 0,
        };
        let district = match criteria.district.as_deref().map(normalize) {
            Some(d) if !d.is_empty() => {
                let next = self.districts.len() as u32 + 1;
                *self.districts.entry(d.into_boxed_str()).or_insert(next)
            }
            _ => 0,
        };
        let kw = self.intern_keywords(&criteria.keywords);
        let bounds = Bounds {
            min_price: criteria.min_price.unwrap_or(0),
            max_price: criteria.max_price.unwrap_or(u64::MAX),
            min_area: criteria.min_living_area.unwrap_or(f64::NEG_INFINITY),
            max_area: criteria.max_living_area.unwrap_or(f64::INFINITY),
        };
        let entry = Entry {
            bounds,
            keys: [
                self.price_key(bounds.min_price),
                self.price_key(bounds.max_price),
                // A NaN bound matches no area: keys that fail every area or leave it to the
                // exact check.
                if bounds.min_area.is_nan() {
                    u16::MAX
                } else {
                    self.area_key(bounds.min_area)
                },
                if bounds.max_area.is_nan() {
                    0
                } else {
                    self.area_key(bounds.max_area)
                },
            ],
            kw,
            min_beds: criteria.min_bedrooms.unwrap_or(0),
        };
        let columns = self.columns(criteria, &entry.bounds);

        let place = self
            .places
            .entry((city, district))
            .or_insert([NO_BUCKET; 3]);
        let bucket_ix = match place[tt] {
            NO_BUCKET => {
                let ix = self.buckets.len() as u32;
                place[tt] = ix;
                self.buckets.push(Bucket::default());
                ix
            }
            ix => ix,
        };
        let mut bits = [0u64; ROW_WORDS];
        put(&mut bits, SET_ALIVE, &[1]);
        if kw == 0 {
            put(&mut bits, SET_NO_KEYWORDS, &[1]);
        }
        put(&mut bits, SET_PRICE, &columns.price);
        put(&mut bits, SET_PRICE_IN, &columns.price_in);
        put(&mut bits, SET_AREA, &[columns.area]);
        put(&mut bits, SET_AREA_IN, &[columns.area_in]);
        put(&mut bits, SET_BEDS, &[u64::from(columns.beds)]);
        put(&mut bits, SET_TYPES, &[u64::from(columns.types)]);
        if kw != 0 {
            put(&mut bits, SET_KW_FIRST + self.first_keyword(kw), &[1]);
            // One or two small ids: the columns settle the keywords (else they are checked).
            if kw & KW_LIST == 0 && kw.count_ones() <= 2 {
                let second = match kw.count_ones() {
                    1 => KW_SECOND_NONE,
                    _ => 63 - kw.leading_zeros() as usize,
                };
                put(&mut bits, SET_KW_SECOND + second, &[1]);
            }
        }
        (bucket_ix, Staged { entry, id, bits })
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

    /// Hands every search `listing` matches to `out`.
    fn scan_all(&self, listing: &ListingFacts, out: &mut impl Emit) {
        if listing.status != StandardStatus::Active {
            return;
        }
        let tt = match listing.transaction_type {
            TransactionType::Sale => 1,
            TransactionType::Rent => 2,
        };
        let city = self.cities.get(listing.city.as_str()).copied();
        let district = listing
            .district
            .as_deref()
            .and_then(|d| self.districts.get(d).copied());
        let mut buckets = [NO_BUCKET; 8];
        let mut places = [Some((0, 0)), None, None, None];
        if let Some(c) = city {
            places[1] = Some((c, 0));
        }
        if let Some(d) = district {
            places[2] = Some((0, d));
            places[3] = city.map(|c| (c, d));
        }
        for (i, key) in places.into_iter().enumerate() {
            if let Some(p) = key.and_then(|k| self.places.get(&k)) {
                buckets[2 * i] = p[0];
                buckets[2 * i + 1] = p[tt];
            }
        }
        let price = self.price_band(listing.price);
        let area = self.area_band(listing.living_area);
        let beds = match listing.bedrooms {
            None => BEDS_UNKNOWN,
            Some(b) => (b as usize).min(BEDS_SEVEN_OR_MORE),
        };
        let area_value = listing.living_area.unwrap_or(f64::NAN);
        let query = Query {
            listing,
            price_band: price,
            area: area_value,
            price_key: self.price_key(listing.price),
            area_key: if area_value.is_nan() {
                None
            } else {
                Some(self.area_key(area_value))
            },
            beds_settled: beds != BEDS_SEVEN_OR_MORE,
            sets: [
                SET_PRICE + price,
                SET_AREA + area,
                SET_BEDS + beds,
                SET_TYPES + listing.property_type.index(),
            ],
            // `alive` (a superset of the survivors) where the survivor column is exact.
            sure: [
                SET_PRICE_IN + price,
                if area < AREA_BANDS {
                    SET_AREA_IN + area
                } else {
                    SET_ALIVE // "no area" is exact
                },
                if beds == BEDS_SEVEN_OR_MORE {
                    SET_BEDS + BEDS_UNKNOWN // no minimum
                } else {
                    SET_ALIVE // exact
                },
                SET_NO_KEYWORDS,
            ],
        };
        let mut memo = KeywordMemo::default();
        // Once per listing, not per bucket: zeroing it is not free.
        let mut lists = SlotLists {
            need_bounds: [0; BLOCK_WORDS * 64],
            need_other: [0; BLOCK_WORDS * 64],
            unsure: [0; BLOCK_WORDS * 64],
        };
        for b in buckets {
            if b != NO_BUCKET {
                let bucket = &self.buckets[b as usize];
                self.scan(bucket, &query, &mut memo, &mut lists, out);
            }
        }
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

    /// Frees the keyword list of [`Entry::kw`] `kw` (if it has one) for reuse.
    fn free_keywords(&mut self, kw: u64) {
        if kw & KW_LIST != 0 {
            let ix = kw as u32;
            self.kw_lists[ix as usize] = Box::new([]);
            self.kw_free.push(ix);
        }
    }

    fn intern_city(&mut self, city: String) -> u32 {
        if let Some(&id) = self.cities.get(city.as_str()) {
            return id;
        }
        let id = self.cities.len() as u32 + 1;
        self.cities.insert(city.into_boxed_str(), id);
        id
    }

    /// Interns a search's keywords as an [`Entry::kw`]: the mask of their ids when they are all
    /// below [`KW_MASK_IDS`], else [`KW_LIST`] | the index of the whole list.
    fn intern_keywords(&mut self, keywords: &[String]) -> u64 {
        let mut ids: Vec<u32> = Vec::with_capacity(keywords.len());
        for k in keywords {
            let k = normalize(k);
            if k.is_empty() {
                continue; // every text contains the empty string
            }
            let id = match self.kw_ids.get(k.as_str()) {
                Some(&id) => id,
                None => {
                    let id = self.kw_strings.len() as u32;
                    self.kw_strings.push(k.clone().into_boxed_str());
                    self.kw_ids.insert(k.into_boxed_str(), id);
                    id
                }
            };
            ids.push(id);
        }
        if ids.iter().all(|&k| k < KW_MASK_IDS) {
            return ids.iter().fold(0, |m, &k| m | 1 << k);
        }
        ids.sort_unstable();
        ids.dedup();
        let list = ids.into_boxed_slice();
        let ix = match self.kw_free.pop() {
            Some(ix) => {
                self.kw_lists[ix as usize] = list;
                ix
            }
            None => {
                self.kw_lists.push(list);
                (self.kw_lists.len() - 1) as u32
            }
        };
        KW_LIST | u64::from(ix)
    }

    fn price_band(&self, price: u64) -> usize {
        self.price_edges.partition_point(|&e| e <= price)
    }

    /// A key of `price` that orders like the price: its band, then which 256th of the band.
    /// Two prices with different keys compare as their keys do.
    fn price_key(&self, price: u64) -> u16 {
        let k = self.price_band(price);
        let lo = if k == 0 { 0 } else { self.price_edges[k - 1] };
        let end = if k == PRICE_BANDS - 1 {
            u128::from(u64::MAX) + 1
        } else {
            u128::from(self.price_edges[k])
        };
        let sub = u128::from(price - lo) * 256 / (end - u128::from(lo));
        (k as u16) << 8 | sub as u16
    }

    /// A key of a (non-NaN) living area that orders like the area, as [`Self::price_key`] (the
    /// open first and last bands are one key each; +∞ above all).
    fn area_key(&self, area: f64) -> u16 {
        if area == f64::INFINITY {
            return u16::MAX;
        }
        let k = self.area_edges.partition_point(|&e| e <= area);
        let sub = if k == 0 || k == AREA_BANDS - 1 {
            0.0
        } else {
            let (lo, hi) = (self.area_edges[k - 1], self.area_edges[k]);
            ((area - lo) / (hi - lo) * 256.0).clamp(0.0, 255.0)
        };
        (k as u16) << 8 | sub as u16
    }

    /// Band of a listing's living area; no area (or NaN) is the "unknown" column.
    fn area_band(&self, area: Option<f64>) -> usize {
        match area {
            Some(a) if !a.is_nan() => self.area_edges.partition_point(|&e| e <= a),
            _ => AREA_BANDS,
        }
    }

    /// The bit columns of a search: each band its bounds can meet (a superset of the listings
    /// it matches; the entry check is exact) and each band its bounds contain (a subset).
    fn columns(&self, criteria: &SearchCriteria, e: &Bounds) -> Columns {
        let (mut price, mut price_in) = ([0u64; PRICE_BANDS / 64], [0u64; PRICE_BANDS / 64]);
        for k in 0..PRICE_BANDS {
            // Band k is [lo, hi] with both ends inclusive.
            let lo = if k == 0 { 0 } else { self.price_edges[k - 1] };
            let hi = if k == PRICE_BANDS - 1 {
                u64::MAX
            } else {
                self.price_edges[k] - 1
            };
            if e.min_price <= hi && e.max_price >= lo {
                price[k / 64] |= 1 << (k % 64);
            }
            if e.min_price <= lo && e.max_price >= hi {
                price_in[k / 64] |= 1 << (k % 64);
            }
        }
        let has_area = criteria.min_living_area.is_some() || criteria.max_living_area.is_some();
        let (mut area, mut area_in) = (0u64, 0u64);
        if !has_area {
            area = u64::MAX; // every band and "unknown"
            area_in = u64::MAX >> (64 - AREA_BANDS);
        } else {
            for k in 0..AREA_BANDS {
                // Band k is [lo, hi) (band 0 from -inf inclusive; the last band up to +inf
                // inclusive).
                let lo = if k == 0 {
                    f64::NEG_INFINITY
                } else {
                    self.area_edges[k - 1]
                };
                let last = k == AREA_BANDS - 1;
                let hi = if last {
                    f64::INFINITY
                } else {
                    self.area_edges[k]
                };
                let lo_ok = if last {
                    e.min_area <= hi
                } else {
                    e.min_area < hi
                };
                if lo_ok && e.max_area >= lo {
                    area |= 1 << k;
                }
                // Inside: every value of the band is within [min, max] (for a band open at
                // `hi`, `max >= hi` is a little stricter than needed, which only costs a
                // check).
                if e.min_area <= lo && e.max_area >= hi {
                    area_in |= 1 << k;
                }
            }
        }
        let beds = match criteria.min_bedrooms {
            None => (1u16 << BED_BANDS) - 1,
            Some(m) => {
                let mut beds = 1u16 << BEDS_SEVEN_OR_MORE; // checked exactly
                for k in 0..BEDS_SEVEN_OR_MORE {
                    if m as usize <= k {
                        beds |= 1 << k;
                    }
                }
                beds
            }
        };
        let types = if criteria.property_types.is_empty() {
            u8::MAX
        } else {
            criteria
                .property_types
                .iter()
                .fold(0u8, |m, t| m | 1 << t.index())
        };
        Columns {
            price,
            price_in,
            area,
            area_in,
            beds,
            types,
        }
    }

    fn scan(
        &self,
        bucket: &Bucket,
        q: &Query<'_>,
        memo: &mut KeywordMemo,
        lists: &mut SlotLists,
        out: &mut impl Emit,
    ) {
        match &bucket.ids {
            Ids::Narrow { base, offsets } => self.scan_with(
                bucket,
                NarrowIds {
                    base: *base,
                    offsets,
                },
                q,
                memo,
                lists,
                out,
            ),
            Ids::Wide(ids) => self.scan_with(bucket, ids.as_slice(), q, memo, lists, out),
        }
    }

    /// [`MatcherIndex::scan`] with the bucket's search id storage `ids`.
    fn scan_with(
        &self,
        bucket: &Bucket,
        ids: impl SlotIds,
        q: &Query<'_>,
        memo: &mut KeywordMemo,
        lists: &mut SlotLists,
        out: &mut impl Emit,
    ) {
        let n = bucket.ids.len();
        let words = n.div_ceil(64);
        // Of each sorted part, the slots up to the listing's minimum-price band; then any
        // inserted since (word ranges, in order and disjoint).
        let (a, b, c) = match &*bucket.price_ends {
            [] => (words, words, words),
            ends => (
                (ends[q.price_band] as usize).div_ceil(64),
                ends[PRICE_BANDS - 1] as usize / 64,
                (ends[PRICE_BANDS + q.price_band] as usize).div_ceil(64),
            ),
        };
        let b = b.max(a);
        let c = c.max(b);
        let ranges = [(0, a), (b, c), ((bucket.sorted / 64).max(c), words)];
        let [c0, c1, c2, c3] = q.sets.map(|s| &bucket.column(s)[..words]);
        let [s_price, s_area, s_beds, s_kw] = q.sure.map(|s| &bucket.column(s)[..words]);
        let (bounds, keys) = (&bucket.bounds[..n], &bucket.keys[..n]);
        let (kws, min_beds) = (&bucket.kw[..n], &bucket.min_beds[..n]);
        let l = q.listing;
        // Blocks of BLOCK_WORDS words: first the masks of every word and the list of slots to
        // check, then each check as one branch-free loop over the block's list (so the cache
        // misses of a whole block overlap), then the matches.
        let mut m_of = [0u64; BLOCK_WORDS];
        let mut fail = [0u64; BLOCK_WORDS];
        let SlotLists {
            need_bounds,
            need_other,
            unsure,
        } = lists;
        let blocks = ranges.into_iter().flat_map(|(from, to)| {
            (from..to)
                .step_by(BLOCK_WORDS)
                .map(move |start| (start, (start + BLOCK_WORDS).min(to)))
        });
        for (start, end) in blocks {
            let len = end - start;
            // The block's part of each column (so that indexing needs no bounds checks).
            let [c0, c1, c2, c3] = [c0, c1, c2, c3].map(|c| &c[start..end]);
            let [s_price, s_area, s_beds, s_kw] =
                [s_price, s_area, s_beds, s_kw].map(|c| &c[start..end]);
            let (m_of, fail) = (&mut m_of[..len], &mut fail[..len]);
            let mut keyworded = 0;
            for i in 0..len {
                let m = c0[i] & c1[i] & c2[i] & c3[i];
                m_of[i] = m;
                fail[i] = 0;
                keyworded |= m & !s_kw[i];
            }
            // Survivors whose keywords are settled: those naming none, and (below) those
            // naming one or two keywords the listing contains.
            let mut kw_ok = [0u64; BLOCK_WORDS];
            let kw_ok = &mut kw_ok[..len];
            kw_ok.copy_from_slice(s_kw);
            if keyworded != 0 {
                // A survivor naming keywords fails outright unless the listing contains the
                // smallest id among them (its `SET_KW_FIRST` column); naming exactly two, it
                // needs the larger one too (its `SET_KW_SECOND` column). The columns of the
                // keywords the listing contains are ORed; only searches naming more keywords
                // (or rare ones) are checked one by one.
                let present = memo.present_mask(&self.kw_strings, l);
                let mut first = [0u64; BLOCK_WORDS];
                let mut second = [0u64; BLOCK_WORDS];
                let (first, second) = (&mut first[..len], &mut second[..len]);
                first.copy_from_slice(&bucket.column(SET_KW_FIRST + KW_FIRST_OTHER)[start..end]);
                second.copy_from_slice(&bucket.column(SET_KW_SECOND + KW_SECOND_NONE)[start..end]);
                let mut p = present;
                while p != 0 {
                    let k = p.trailing_zeros() as usize;
                    p &= p - 1;
                    let column = &bucket.column(SET_KW_FIRST + k)[start..end];
                    for (c, &x) in first.iter_mut().zip(column) {
                        *c |= x;
                    }
                    let column = &bucket.column(SET_KW_SECOND + k)[start..end];
                    for (c, &x) in second.iter_mut().zip(column) {
                        *c |= x;
                    }
                }
                for i in 0..len {
                    let named = m_of[i] & !s_kw[i];
                    fail[i] = named & !first[i];
                    kw_ok[i] |= named & first[i] & second[i];
                }
            }
            let (mut nb, mut no) = (0, 0);
            for i in 0..len {
                let m = m_of[i] & !fail[i];
                let first = ((start + i) * 64) as u32;
                let bounds_ok = s_price[i] & s_area[i];
                let others_ok = s_beds[i] & kw_ok[i];
                let maybe = m & !(bounds_ok & others_ok);
                let mut check = maybe & !bounds_ok;
                while check != 0 {
                    need_bounds[nb] = first + check.trailing_zeros();
                    nb += 1;
                    check &= check - 1;
                }
                let mut check = maybe & !others_ok;
                while check != 0 {
                    need_other[no] = first + check.trailing_zeros();
                    no += 1;
                    check &= check - 1;
                }
            }
            // The keys settle most bounds; the exact bounds only where a key ties.
            let mut nu = 0;
            for &slot in &need_bounds[..nb] {
                let slot = slot as usize;
                let (bad, ok) = q.keys_verdict(keys[slot]);
                fail[slot / 64 - start] |= u64::from(bad) << (slot % 64);
                unsure[nu] = slot as u32;
                nu += usize::from(!bad & !ok);
            }
            for &slot in &unsure[..nu] {
                let slot = slot as usize;
                let bad = !q.bounds_ok(&bounds[slot]);
                fail[slot / 64 - start] |= u64::from(bad) << (slot % 64);
            }
            for &slot in &need_other[..no] {
                let slot = slot as usize;
                let bad = (!q.beds_settled && l.bedrooms.is_some_and(|b| b < min_beds[slot]))
                    || !self.keywords_ok(kws[slot], memo, l);
                fail[slot / 64 - start] |= u64::from(bad) << (slot % 64);
            }
            for (i, (&m, &f)) in m_of.iter().zip(fail.iter()).enumerate() {
                let emit = m & !f;
                if emit != 0 {
                    out.word(ids, (start + i) * 64, emit);
                }
            }
        }
    }

    /// The [`SET_KW_FIRST`] column of a search naming keywords ([`Entry::kw`] `kw`, not 0).
    fn first_keyword(&self, kw: u64) -> usize {
        let first = if kw & KW_LIST == 0 {
            kw.trailing_zeros()
        } else {
            // Lists are sorted.
            self.kw_lists[kw as u32 as usize][0]
        };
        if first < KW_MASK_IDS {
            first as usize
        } else {
            KW_FIRST_OTHER
        }
    }

    /// Whether `listing` contains every keyword of [`Entry::kw`] `kw`.
    #[inline(always)]
    fn keywords_ok(&self, kw: u64, memo: &mut KeywordMemo, l: &ListingFacts) -> bool {
        if kw & (KW_LIST | !memo.known) == 0 {
            kw & !memo.present == 0
        } else {
            self.keywords_ok_untested(kw, memo, l)
        }
    }

    /// [`Self::keywords_ok`] for keywords not yet tested on this listing (or a keyword list).
    #[inline(never)]
    fn keywords_ok_untested(&self, kw: u64, memo: &mut KeywordMemo, l: &ListingFacts) -> bool {
        if kw & KW_LIST == 0 {
            memo.contains_all(kw, &self.kw_strings, l)
        } else {
            self.kw_lists[kw as u32 as usize]
                .iter()
                .all(|&k| memo.contains(k, &self.kw_strings, l))
        }
    }

    /// Rewrites bucket `b` without its dead slots, tightly sized.
    fn compact(&mut self, b: usize) {
        let bucket = &mut self.buckets[b];
        let ids = std::mem::take(&mut bucket.ids).into_wide();
        let bounds = std::mem::take(&mut bucket.bounds);
        let keys = std::mem::take(&mut bucket.keys);
        let kw = std::mem::take(&mut bucket.kw);
        let min_beds = std::mem::take(&mut bucket.min_beds);
        let bits = std::mem::take(&mut bucket.bits);
        let stride = bucket.stride;
        // Columns back to rows, 64 slots at a time (each column word read once).
        let mut rows: Vec<Staged> = (0..ids.len())
            .map(|i| Staged {
                entry: Entry {
                    bounds: bounds[i],
                    keys: keys[i],
                    kw: kw[i],
                    min_beds: min_beds[i],
                },
                id: ids[i],
                bits: [0; ROW_WORDS],
            })
            .collect();
        drop((ids, bounds, keys, kw, min_beds));
        for (w, block) in rows.chunks_mut(64).enumerate() {
            for s in 0..SETS {
                let mut word = bits[s * stride + w];
                while word != 0 {
                    let j = word.trailing_zeros() as usize;
                    word &= word - 1;
                    block[j].bits[s / 64] |= 1 << (s % 64);
                }
            }
        }
        drop(bits);
        self.lay_out(b, rows);
    }

    /// Makes `rows` (those with the alive bit) the contents of bucket `b`, sorted and tightly
    /// sized, and points [`MatcherIndex::slots`] at them.
    fn lay_out(&mut self, b: usize, mut rows: Vec<Staged>) {
        rows.retain(|r| r.bits[SET_ALIVE / 64] & (1 << (SET_ALIVE % 64)) != 0);
        // Searches with similar price ranges side by side: the matches of a listing then lie
        // in a few dense runs of slots instead of being spread over the whole bucket.
        let price_edges = self.price_edges;
        // Searches naming keywords after the others: the keyword columns are then read only
        // over their part.
        rows.sort_unstable_by_key(|r| {
            (
                r.entry.kw != 0,
                price_edges.partition_point(|&x| x <= r.entry.bounds.min_price),
                r.entry.bounds.max_price,
            )
        });
        let live = rows.len();
        let price_ends = if live >= PRICE_ENDS_MIN_SLOTS {
            let mut ends = vec![0u32; 2 * PRICE_BANDS];
            for r in &rows {
                let part = usize::from(r.entry.kw != 0);
                ends[part * PRICE_BANDS + self.price_band(r.entry.bounds.min_price)] += 1;
            }
            for k in 1..2 * PRICE_BANDS {
                ends[k] += ends[k - 1];
            }
            ends.into_boxed_slice()
        } else {
            Box::new([])
        };
        let stride = live.div_ceil(64).max(1);
        let mut bits = vec![0u64; stride * SETS];
        let bucket = &mut self.buckets[b];
        bucket.ids = Ids::for_rows(&rows);
        bucket.bounds = Vec::with_capacity(live);
        bucket.keys = Vec::with_capacity(live);
        bucket.kw = Vec::with_capacity(live);
        bucket.min_beds = Vec::with_capacity(live);
        let mut block = [0u64; ROW_WORDS * 64];
        for (w, chunk) in rows.chunks(64).enumerate() {
            block.fill(0);
            for (j, r) in chunk.iter().enumerate() {
                for (rw, &word) in r.bits.iter().enumerate() {
                    let mut word = word;
                    while word != 0 {
                        let k = word.trailing_zeros() as usize;
                        word &= word - 1;
                        block[rw * 64 + k] |= 1 << j;
                    }
                }
                self.slots.insert(r.id, (b as u32, (w * 64 + j) as u32));
                bucket.push(r);
            }
            for s in 0..SETS {
                bits[s * stride + w] = block[s];
            }
        }
        bucket.bits = bits;
        bucket.stride = stride;
        bucket.dead = 0;
        bucket.sorted = live;
        bucket.price_ends = price_ends;
    }
}

/// The search id of each slot of a bucket: offsets from a per-bucket base when they all fit in
/// 32 bits (4 bytes per slot: emitting the matches streams through this array, so its size is
/// much of a large answer's cost), else in full.
#[derive(Debug)]
enum Ids {
    Narrow { base: i64, offsets: Vec<u32> },
    Wide(Vec<SearchId>),
}

impl Default for Ids {
    fn default() -> Self {
        Ids::Narrow {
            base: 0,
            offsets: Vec::new(),
        }
    }
}

impl Ids {
    /// Storage for the ids of `rows` (not yet pushed), narrow if they fit.
    fn for_rows(rows: &[Staged]) -> Ids {
        let lo = rows.iter().map(|r| r.id).min();
        let hi = rows.iter().map(|r| r.id).max();
        let (Some(lo), Some(hi)) = (lo, hi) else {
            return Ids::default();
        };
        match narrow_base(lo, hi) {
            Some(base) => Ids::Narrow {
                base,
                offsets: Vec::with_capacity(rows.len()),
            },
            None => Ids::Wide(Vec::with_capacity(rows.len())),
        }
    }

    fn len(&self) -> usize {
        match self {
            Ids::Narrow { offsets, .. } => offsets.len(),
            Ids::Wide(ids) => ids.len(),
        }
    }

    fn capacity_bytes(&self) -> usize {
        match self {
            Ids::Narrow { offsets, .. } => offsets.capacity() * 4,
            Ids::Wide(ids) => ids.capacity() * 8,
        }
    }

    /// Appends `id`; an id that does not fit the base turns the storage wide.
    fn push(&mut self, id: SearchId) {
        match self {
            Ids::Narrow { base, offsets } => {
                if offsets.is_empty() {
                    // Centre the base on the first id: later ids (database serials) fit.
                    *base = narrow_base(id, id).unwrap_or(id);
                }
                match offset(*base, id) {
                    Some(o) => offsets.push(o),
                    None => {
                        let mut wide = std::mem::take(self).into_wide();
                        wide.push(id);
                        *self = Ids::Wide(wide);
                    }
                }
            }
            Ids::Wide(v) => v.push(id),
        }
    }

    fn into_wide(self) -> Vec<SearchId> {
        match self {
            Ids::Narrow { base, offsets } => offsets
                .into_iter()
                .map(|o| NarrowIds::widen(base, o))
                .collect(),
            Ids::Wide(ids) => ids,
        }
    }
}

/// A base from which every value in `lo..=hi` is a `u32` offset, with as much room below `lo`
/// as above `hi`; `None` if the range is too wide.
fn narrow_base(lo: i64, hi: i64) -> Option<i64> {
    let span = i128::from(hi) - i128::from(lo);
    let room = i128::from(u32::MAX) - span;
    if room < 0 {
        return None;
    }
    Some((i128::from(lo) - room / 2).max(i128::from(i64::MIN)) as i64)
}

/// `x` as an offset from `base`, if it fits.
fn offset(base: i64, x: i64) -> Option<u32> {
    u32::try_from(i128::from(x) - i128::from(base)).ok()
}

/// Reads the search id of a slot.
trait SlotIds: Copy {
    fn get(self, slot: usize) -> SearchId;

    /// Stores the ids of slots `first + k`, for every bit `k` of `emit`, in order at the start
    /// of `dst`; returns how many.
    fn gather(self, first: usize, emit: u64, dst: &mut [SearchId; 64]) -> usize;
}

/// [`SlotIds::gather`] from a whole word's 64 stored ids (`widen` makes a stored id a search
/// id): no bounds checks, and a dense word is a plain vectorised copy.
#[inline(always)]
fn gather_word<T: Copy>(
    stored: &[T; 64],
    widen: impl Fn(T) -> SearchId,
    mut emit: u64,
    dst: &mut [SearchId; 64],
) -> usize {
    if emit == u64::MAX {
        for (d, &x) in dst.iter_mut().zip(stored) {
            *d = widen(x);
        }
        return 64;
    }
    let k = emit.count_ones() as usize;
    for d in &mut dst[..k] {
        *d = widen(stored[emit.trailing_zeros() as usize & 63]);
        emit &= emit - 1;
    }
    k
}

/// [`SlotIds::gather`] for a bucket's last, partial word.
#[inline(never)]
fn gather_slots(ids: impl SlotIds, first: usize, mut emit: u64, dst: &mut [SearchId; 64]) -> usize {
    let mut k = 0;
    while emit != 0 {
        dst[k & 63] = ids.get(first + emit.trailing_zeros() as usize);
        k += 1;
        emit &= emit - 1;
    }
    k
}

impl SlotIds for &[SearchId] {
    #[inline]
    fn get(self, slot: usize) -> SearchId {
        self[slot]
    }

    #[inline(always)]
    fn gather(self, first: usize, emit: u64, dst: &mut [SearchId; 64]) -> usize {
        match self.get(first..first + 64) {
            Some(stored) => gather_word(stored.try_into().expect("64 ids"), |x| x, emit, dst),
            None => gather_slots(self, first, emit, dst),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct NarrowIds<'a> {
    base: i64,
    offsets: &'a [u32],
}

impl NarrowIds<'_> {
    #[inline]
    fn widen(base: i64, offset: u32) -> SearchId {
        // The true value fits in an i64, so the wrapping sum is exact.
        base.wrapping_add(i64::from(offset))
    }
}

impl SlotIds for NarrowIds<'_> {
    #[inline]
    fn get(self, slot: usize) -> SearchId {
        NarrowIds::widen(self.base, self.offsets[slot])
    }

    #[inline(always)]
    fn gather(self, first: usize, emit: u64, dst: &mut [SearchId; 64]) -> usize {
        let base = self.base;
        match self.offsets.get(first..first + 64) {
            Some(stored) => gather_word(
                stored.try_into().expect("64 offsets"),
                |o| NarrowIds::widen(base, o),
                emit,
                dst,
            ),
            None => gather_slots(self, first, emit, dst),
        }
    }
}

/// Where a scan hands its matches, a word of 64 slots at a time.
trait Emit {
    /// Takes slot `first + k` for every bit `k` of `emit` (not 0), reading the ids from `ids`.
    fn word(&mut self, ids: impl SlotIds, first: usize, emit: u64);
}

/// [`MatcherIndex::matching`]'s answer while it is collected: a vector kept zero-filled some
/// way past the matches so far, so that a word's matches are stored straight into it with no
/// per-match capacity check (and no `unsafe`).
struct Collect {
    ids: Vec<SearchId>,
    len: usize,
}

/// Slots [`Collect`] zero-fills at a time.
const COLLECT_STEP: usize = 4096;

impl Collect {
    fn with_capacity(capacity: usize) -> Collect {
        Collect {
            ids: Vec::with_capacity(capacity),
            len: 0,
        }
    }

    fn finish(mut self) -> Vec<SearchId> {
        self.ids.truncate(self.len);
        self.ids
    }
}

impl Emit for Collect {
    #[inline(always)]
    fn word(&mut self, ids: impl SlotIds, first: usize, emit: u64) {
        if self.ids.len() < self.len + 64 {
            self.ids.resize(self.len + COLLECT_STEP, 0);
        }
        let dst: &mut [SearchId; 64] = (&mut self.ids[self.len..self.len + 64])
            .try_into()
            .expect("64 slots");
        self.len += ids.gather(first, emit, dst);
    }
}

/// [`MatcherIndex::for_each_match`]: a call per match.
struct EachMatch<F>(F);

impl<F: FnMut(SearchId)> Emit for EachMatch<F> {
    #[inline(always)]
    fn word(&mut self, ids: impl SlotIds, first: usize, mut emit: u64) {
        while emit != 0 {
            let bit = emit.trailing_zeros() as usize;
            emit &= emit - 1;
            (self.0)(ids.get(first + bit));
        }
    }
}

/// Sets bit `base + k` of a row for every bit `k` of `mask` (little-endian words).
fn put(row: &mut [u64; ROW_WORDS], base: usize, mask: &[u64]) {
    let (w, b) = (base / 64, base % 64);
    for (i, &x) in mask.iter().enumerate() {
        if x == 0 {
            continue;
        }
        row[w + i] |= x << b;
        if b != 0 && x >> (64 - b) != 0 {
            row[w + i + 1] |= x >> (64 - b);
        }
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

/// What one listing looks for in each bucket.
#[derive(Debug)]
struct Query<'a> {
    listing: &'a ListingFacts,
    /// The band of the listing's price.
    price_band: usize,
    /// The listing's living area, NaN when it states none.
    area: f64,
    /// [`MatcherIndex::price_key`] of the listing's price, [`MatcherIndex::area_key`] of its
    /// area if it states one.
    price_key: u16,
    area_key: Option<u16>,
    /// Survivor columns.
    sets: [usize; 4],
    /// The survivor columns settle bedrooms (the listing states fewer than 7 or none).
    beds_settled: bool,
    /// Columns that, with the survivor columns, make a slot a certain match.
    sure: [usize; 4],
}

/// Slots of one block a scan checks: for their bounds, for the rest, and those whose bound keys
/// tie the listing's.
#[derive(Debug)]
struct SlotLists {
    need_bounds: [u32; BLOCK_WORDS * 64],
    need_other: [u32; BLOCK_WORDS * 64],
    unsure: [u32; BLOCK_WORDS * 64],
}

/// Per-listing memo of keyword tests: a bit mask for ids below [`KW_MASK_IDS`], direct-mapped
/// for the others (a collision just tests again).
#[derive(Debug)]
struct KeywordMemo {
    /// Ids below [`KW_MASK_IDS`] tested, and those found.
    known: u64,
    present: u64,
    ids: [u32; 64],
    hits: u64,
    /// The byte trigrams of the title and the description, hashed into 4096 bits (built at the
    /// first keyword test): a keyword with a trigram not in it is in neither text, which spares
    /// most substring searches.
    trigrams: Option<Box<[u64; TRIGRAM_WORDS]>>,
}

/// Words of [`KeywordMemo::trigrams`].
const TRIGRAM_WORDS: usize = 64;

impl Default for KeywordMemo {
    fn default() -> Self {
        KeywordMemo {
            known: 0,
            present: 0,
            ids: [u32::MAX; 64],
            hits: 0,
            trigrams: None,
        }
    }
}

/// Bit of a byte trigram in [`KeywordMemo::trigrams`].
#[inline]
fn trigram_bit(t: &[u8]) -> usize {
    let x = u32::from(t[0]) | u32::from(t[1]) << 8 | u32::from(t[2]) << 16;
    (x.wrapping_mul(0x9e37_79b1) >> 20) as usize % (TRIGRAM_WORDS * 64)
}

/// Whether `l`'s title or description contains `word` (as `str::contains`).
fn listing_contains(
    trigrams: &mut Option<Box<[u64; TRIGRAM_WORDS]>>,
    word: &str,
    l: &ListingFacts,
) -> bool {
    let w = word.as_bytes();
    if w.len() >= 3 {
        let grams = trigrams.get_or_insert_with(|| {
            let mut g = Box::new([0u64; TRIGRAM_WORDS]);
            for text in [&l.title, &l.description] {
                for t in text.as_bytes().windows(3) {
                    let b = trigram_bit(t);
                    g[b / 64] |= 1 << (b % 64);
                }
            }
            g
        });
        // A substring's trigrams are all trigrams of the text that contains it.
        if !w.windows(3).all(|t| {
            let b = trigram_bit(t);
            grams[b / 64] >> (b % 64) & 1 != 0
        }) {
            return false;
        }
    }
    l.title.contains(word) || l.description.contains(word)
}

impl Query<'_> {
    /// What the keys of a search's bounds say: (certainly out of bounds, certainly within).
    #[inline]
    fn keys_verdict(&self, [min_p, max_p, min_a, max_a]: [u16; 4]) -> (bool, bool) {
        let p = self.price_key;
        let (mut bad, mut ok) = ((p < min_p) | (p > max_p), (p > min_p) & (p < max_p));
        if let Some(a) = self.area_key {
            bad |= (a < min_a) | (a > max_a);
            ok &= (a > min_a) & (a < max_a);
        }
        (bad, ok)
    }

    /// The price and area checks (transaction type, city and district are the bucket's;
    /// property type is exact in its column, and so is an unknown area).
    #[inline]
    fn bounds_ok(&self, b: &Bounds) -> bool {
        let price = self.listing.price;
        (price >= b.min_price)
            & (price <= b.max_price)
            & (self.area.is_nan() | ((self.area >= b.min_area) & (self.area <= b.max_area)))
    }
}

impl KeywordMemo {
    /// The mask of every keyword id below [`KW_MASK_IDS`] the listing contains (each tested
    /// once per listing).
    fn present_mask(&mut self, strings: &[Box<str>], l: &ListingFacts) -> u64 {
        let ids = strings.len().min(KW_MASK_IDS as usize);
        let all = (1u64 << ids) - 1; // ids ≤ 63
        if self.known & all != all {
            self.contains_all(all, strings, l);
        }
        self.present & all
    }

    /// Whether the listing contains every keyword of `mask` (ids below [`KW_MASK_IDS`]).
    #[inline]
    fn contains_all(&mut self, mask: u64, strings: &[Box<str>], l: &ListingFacts) -> bool {
        let mut unknown = mask & !self.known;
        while unknown != 0 {
            let k = unknown.trailing_zeros();
            unknown &= unknown - 1;
            let word = &*strings[k as usize];
            if listing_contains(&mut self.trigrams, word, l) {
                self.present |= 1 << k;
            }
            self.known |= 1 << k;
        }
        mask & !self.present == 0
    }

    fn contains(&mut self, k: u32, strings: &[Box<str>], l: &ListingFacts) -> bool {
        let slot = (k % 64) as usize;
        if self.ids[slot] == k {
            return self.hits & (1 << slot) != 0;
        }
        let word = &*strings[k as usize];
        let hit = listing_contains(&mut self.trigrams, word, l);
        self.ids[slot] = k;
        if hit {
            self.hits |= 1 << slot;
        } else {
            self.hits &= !(1 << slot);
        }
        hit
    }
}
