//! Keywords: interning a search's keywords as an [`Entry::kw`](super::Entry::kw) (a bit mask of small ids, or a
//! list), the keyword columns' "first" id, and testing a listing's title and description for them
//! once per listing ([`KeywordMemo`], with a trigram filter that spares most substring searches).

use api_types::search::{ListingFacts, normalize};

use super::{KW_FIRST_OTHER, KW_LIST, KW_MASK_IDS, MatcherIndex};

impl MatcherIndex {
    /// Frees the keyword list of [`Entry::kw`](super::Entry::kw) `kw` (if it has one) for reuse.
    pub(super) fn free_keywords(&mut self, kw: u64) {
        if kw & KW_LIST != 0 {
            let ix = kw as u32;
            self.kw_lists[ix as usize] = Box::new([]);
            self.kw_free.push(ix);
        }
    }

    /// Interns a search's keywords as an [`Entry::kw`](super::Entry::kw): the mask of their ids when they are all
    /// below [`KW_MASK_IDS`], else [`KW_LIST`] | the index of the whole list.
    pub(super) fn intern_keywords(&mut self, keywords: &[String]) -> u64 {
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

    /// The [`SET_KW_FIRST`](super::SET_KW_FIRST) column of a search naming keywords ([`Entry::kw`](super::Entry::kw) `kw`, not 0).
    pub(super) fn first_keyword(&self, kw: u64) -> usize {
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

    /// Whether `listing` contains every keyword of [`Entry::kw`](super::Entry::kw) `kw`.
    #[inline(always)]
    pub(super) fn keywords_ok(&self, kw: u64, memo: &mut KeywordMemo, l: &ListingFacts) -> bool {
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
}

/// Per-listing memo of keyword tests: a bit mask for ids below [`KW_MASK_IDS`], direct-mapped
/// for the others (a collision just tests again).
#[derive(Debug)]
pub(super) struct KeywordMemo {
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

impl KeywordMemo {
    /// The mask of every keyword id below [`KW_MASK_IDS`] the listing contains (each tested
    /// once per listing).
    pub(super) fn present_mask(&mut self, strings: &[Box<str>], l: &ListingFacts) -> u64 {
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
