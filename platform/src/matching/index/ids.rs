//! Search ids: how a bucket stores them ([`Ids`]: 32-bit offsets from a base when they fit) and
//! how a scan hands a word's matches out ([`Emit`]: into the answer vector, [`Collect`], or to a
//! callback, [`EachMatch`]).

use super::{SearchId, Staged};

/// The search id of each slot of a bucket: offsets from a per-bucket base when they all fit in
/// 32 bits (4 bytes per slot: emitting the matches streams through this array, so its size is
/// much of a large answer's cost), else in full.
#[derive(Debug)]
pub(super) enum Ids {
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
    pub(super) fn for_rows(rows: &[Staged]) -> Ids {
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

    pub(super) fn len(&self) -> usize {
        match self {
            Ids::Narrow { offsets, .. } => offsets.len(),
            Ids::Wide(ids) => ids.len(),
        }
    }

    pub(super) fn capacity_bytes(&self) -> usize {
        match self {
            Ids::Narrow { offsets, .. } => offsets.capacity() * 4,
            Ids::Wide(ids) => ids.capacity() * 8,
        }
    }

    /// Appends `id`; an id that does not fit the base turns the storage wide.
    pub(super) fn push(&mut self, id: SearchId) {
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

    pub(super) fn into_wide(self) -> Vec<SearchId> {
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
pub(super) trait SlotIds: Copy {
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
pub(super) struct NarrowIds<'a> {
    pub(super) base: i64,
    pub(super) offsets: &'a [u32],
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
pub(super) trait Emit {
    /// Takes slot `first + k` for every bit `k` of `emit` (not 0), reading the ids from `ids`.
    fn word(&mut self, ids: impl SlotIds, first: usize, emit: u64);
}

/// [`MatcherIndex::matching`](super::MatcherIndex::matching)'s answer while it is collected: a vector kept zero-filled some
/// way past the matches so far, so that a word's matches are stored straight into it with no
/// per-match capacity check (and no `unsafe`).
pub(super) struct Collect {
    ids: Vec<SearchId>,
    len: usize,
}

/// Slots [`Collect`] zero-fills at a time.
const COLLECT_STEP: usize = 4096;

impl Collect {
    pub(super) fn with_capacity(capacity: usize) -> Collect {
        Collect {
            ids: Vec::with_capacity(capacity),
            len: 0,
        }
    }

    pub(super) fn finish(mut self) -> Vec<SearchId> {
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

/// [`MatcherIndex::for_each_match`](super::MatcherIndex::for_each_match): a call per match.
pub(super) struct EachMatch<F>(pub(super) F);

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
