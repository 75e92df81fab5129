//! Matching listings against saved searches: an in-memory [`MatcherIndex`] of every live saved
//! search, shared by request handlers as a [`Matcher`] (the index behind a read-write lock).
//!
//! The index is rebuilt from the database with [`load_index`] / [`Matcher::rebuild`]; keeping it
//! in step afterwards (reading `saved_search_log`) and calling it when a listing is published is
//! the caller's business.

mod index;
pub mod jobs;
pub mod live;

#[cfg(test)]
mod tests;

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use api_types::search::{ListingFacts, SearchCriteria};
use diesel::QueryResult;

pub use self::index::{MatcherIndex, SearchId};
use crate::db::DbConn;
use crate::searches::SavedSearchStore;

/// A [`MatcherIndex`] shared between threads: many readers match listings at once, a writer
/// applies saved-search changes or swaps in a rebuilt index.
#[derive(Debug, Default)]
pub struct Matcher {
    index: RwLock<MatcherIndex>,
}

impl Matcher {
    /// A matcher with an empty index.
    pub fn new() -> Matcher {
        Matcher::default()
    }

    /// A matcher serving `index`.
    pub fn from_index(index: MatcherIndex) -> Matcher {
        Matcher {
            index: RwLock::new(index),
        }
    }

    /// Read access to the index (a panic of another holder does not make it unusable: every
    /// index operation leaves the index consistent or panics before changing it).
    pub fn read(&self) -> RwLockReadGuard<'_, MatcherIndex> {
        self.index.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Write access to the index.
    pub fn write(&self) -> RwLockWriteGuard<'_, MatcherIndex> {
        self.index.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The saved searches `listing` matches.
    pub fn matching(&self, listing: &ListingFacts) -> Vec<SearchId> {
        self.read().matching(listing)
    }

    /// Adds or replaces saved search `id`.
    pub fn upsert(&self, id: SearchId, criteria: &SearchCriteria) {
        self.write().insert(id, criteria);
    }

    /// Removes saved search `id`; returns whether it was there.
    pub fn remove(&self, id: SearchId) -> bool {
        self.write().remove(id)
    }

    /// Live saved searches in the index.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// True when the index holds no saved search.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Swaps in `index`, returning the old one.
    pub fn replace(&self, index: MatcherIndex) -> MatcherIndex {
        std::mem::replace(&mut *self.write(), index)
    }

    /// Loads every saved search live at `now_ms` from the database into a fresh index (built
    /// without holding the lock) and swaps it in; returns how many searches it holds.
    pub fn rebuild(&self, conn: &mut DbConn, now_ms: i64) -> QueryResult<usize> {
        let index = load_index(conn, now_ms)?;
        let n = index.len();
        self.replace(index);
        Ok(n)
    }
}

/// A fresh index of every saved search live at `now_ms` (not deleted, not expired).
pub fn load_index(conn: &mut DbConn, now_ms: i64) -> QueryResult<MatcherIndex> {
    let rows = crate::with_conn!(conn, |c| c.live_saved_searches(now_ms))?;
    let parsed: Vec<(SearchId, SearchCriteria)> = rows
        .iter()
        .map(|row| (row.id, row.criteria()))
        .filter(|(_, criteria)| !criteria.is_empty()) // unparsable rows: match nothing
        .collect();
    Ok(MatcherIndex::build(parsed.iter().map(|(id, c)| (*id, c))))
}
