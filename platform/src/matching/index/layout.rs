//! Laying buckets out: [`MatcherIndex::build`] stages every search as a row, then each bucket is
//! sorted (searches naming no keyword first, then by minimum-price band and maximum price) and its
//! rows transposed into bit columns 64 slots at a time; compaction turns a bucket's columns back
//! into rows and lays it out again without its dead slots.

use api_types::search::SearchCriteria;

use super::ids::Ids;
use super::{
    Entry, MatcherIndex, PRICE_BANDS, PRICE_ENDS_MIN_SLOTS, ROW_WORDS, SET_ALIVE, SETS, SearchId,
    Staged,
};

impl MatcherIndex {
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

    /// Rewrites bucket `b` without its dead slots, tightly sized.
    pub(super) fn compact(&mut self, b: usize) {
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
