//! What a saved search puts in the index: its bucket (interned city and district, transaction
//! type), its [`Entry`] (exact bounds and their 16-bit keys) and its bit columns (price, area,
//! bedroom and property-type bands), staged as one row ([`Staged`]); and the band and key of a
//! price or an area, which a query computes the same way.

use api_types::TransactionType;
use api_types::search::{SearchCriteria, normalize};

use super::{
    AREA_BANDS, BED_BANDS, BEDS_SEVEN_OR_MORE, Bounds, Bucket, Columns, Entry, KW_LIST,
    KW_SECOND_NONE, MatcherIndex, NO_BUCKET, PRICE_BANDS, ROW_WORDS, SET_ALIVE, SET_AREA,
    SET_AREA_IN, SET_BEDS, SET_KW_FIRST, SET_KW_SECOND, SET_NO_KEYWORDS, SET_PRICE, SET_PRICE_IN,
    SET_TYPES, SearchId, Staged,
};

impl MatcherIndex {
    /// The bucket of a search (created if need be) and its slot contents.
    pub(super) fn prepare(&mut self, id: SearchId, criteria: &SearchCriteria) -> (u32, Staged) {
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

    fn intern_city(&mut self, city: String) -> u32 {
        if let Some(&id) = self.cities.get(city.as_str()) {
            return id;
        }
        let id = self.cities.len() as u32 + 1;
        self.cities.insert(city.into_boxed_str(), id);
        id
    }

    pub(super) fn price_band(&self, price: u64) -> usize {
        self.price_edges.partition_point(|&e| e <= price)
    }

    /// A key of `price` that orders like the price: its band, then which 256th of the band.
    /// Two prices with different keys compare as their keys do.
    pub(super) fn price_key(&self, price: u64) -> u16 {
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
    pub(super) fn area_key(&self, area: f64) -> u16 {
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
    pub(super) fn area_band(&self, area: Option<f64>) -> usize {
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
