//! Matching one listing: the (at most eight) buckets it looks at, the survivor and "certain"
//! columns ANDed word by word, then per block of [`BLOCK_WORDS`] words the checks of what the
//! columns leave unsettled (bounds at the band edges, bedrooms of 7 or more, keywords).

use api_types::search::ListingFacts;
use api_types::{StandardStatus, TransactionType};

use super::ids::{Emit, Ids, NarrowIds, SlotIds};
use super::keywords::KeywordMemo;
use super::{
    AREA_BANDS, BEDS_SEVEN_OR_MORE, BEDS_UNKNOWN, BLOCK_WORDS, Bounds, Bucket, KW_FIRST_OTHER,
    KW_SECOND_NONE, MatcherIndex, NO_BUCKET, PRICE_BANDS, SET_ALIVE, SET_AREA, SET_AREA_IN,
    SET_BEDS, SET_KW_FIRST, SET_KW_SECOND, SET_NO_KEYWORDS, SET_PRICE, SET_PRICE_IN, SET_TYPES,
};

impl MatcherIndex {
    /// Hands every search `listing` matches to `out`.
    pub(super) fn scan_all(&self, listing: &ListingFacts, out: &mut impl Emit) {
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
