//! Local search over every listing pulled from the platform, with the platform's own matching
//! semantics ([`SearchCriteria::matches`]); past searches are kept and can be run again.

use api_types::ListingDocument;
use api_types::search::{ListingFacts, SearchCriteria};
use diesel::prelude::*;
use serde::Serialize;

use crate::db::now_ms;
use crate::db::schema::{saved_queries, shared_listings};
use crate::error::ClientError;

/// One listing found.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    /// The listing's agency.
    pub office_key: String,
    /// The agency's name.
    pub office_name: String,
    /// The listing.
    pub listing: ListingDocument,
}

/// The answer to a search.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    /// Id of the saved query (for `search --rerun`).
    pub query_id: i32,
    /// Human summary of the criteria.
    pub summary: String,
    /// How many listings match.
    pub total: usize,
    /// The first `limit` of them, cheapest first.
    pub listings: Vec<Found>,
}

/// A past search.
#[derive(Debug, Clone, Serialize, Queryable)]
pub struct SavedQuery {
    /// Id.
    pub id: i32,
    /// Criteria JSON (normal form).
    pub criteria: String,
    /// Summary.
    pub summary: String,
    /// How often it ran.
    pub run_count: i32,
    /// Hits the last time.
    pub last_result_count: i32,
    /// When it last ran, Unix ms.
    pub last_run_at: i64,
}

/// Every shared listing that matches `criteria` (normal form): (office, key, document). A first
/// cut by the indexed columns, then the shared matching rule decides.
pub(crate) fn candidates(
    conn: &mut SqliteConnection,
    criteria: &SearchCriteria,
) -> Result<Vec<(String, String, ListingDocument)>, ClientError> {
    let mut q = shared_listings::table
        .select((
            shared_listings::office_key,
            shared_listings::listing_key,
            shared_listings::document,
        ))
        .order((shared_listings::price, shared_listings::listing_key))
        .into_boxed();
    if let Some(t) = criteria.transaction_type {
        q = q.filter(shared_listings::transaction_type.eq(t.code()));
    }
    if let Some(city) = &criteria.city {
        q = q.filter(shared_listings::city_norm.eq(api_types::search::normalize(city)));
    }
    if let Some(p) = criteria.min_price {
        q = q.filter(shared_listings::price.ge(p as i64));
    }
    if let Some(p) = criteria.max_price {
        q = q.filter(shared_listings::price.le(p as i64));
    }
    let rows: Vec<(String, String, String)> = q.load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(office, key, doc)| {
            let doc: ListingDocument = serde_json::from_str(&doc).ok()?;
            criteria
                .matches(&ListingFacts::from_document(&doc))
                .then_some((office, key, doc))
        })
        .collect())
}

/// Runs a search, records it among past searches, and returns the first `limit` hits.
pub fn search(
    conn: &mut SqliteConnection,
    criteria: &SearchCriteria,
    limit: usize,
) -> Result<SearchResult, ClientError> {
    let criteria = crate::customers::check_wishes(criteria)?;
    let found = candidates(conn, &criteria)?;
    let total = found.len();
    let names: std::collections::HashMap<String, String> = shared_listings::table
        .select((shared_listings::office_key, shared_listings::office_name))
        .distinct()
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let text = serde_json::to_string(&criteria).unwrap_or_default();
    let summary = criteria.summary();
    let now = now_ms();
    let query_id: i32 = diesel::insert_into(saved_queries::table)
        .values((
            saved_queries::criteria.eq(&text),
            saved_queries::summary.eq(&summary),
            saved_queries::run_count.eq(1),
            saved_queries::last_result_count.eq(total as i32),
            saved_queries::last_run_at.eq(now),
        ))
        .on_conflict(saved_queries::criteria)
        .do_update()
        .set((
            saved_queries::run_count.eq(saved_queries::run_count + 1),
            saved_queries::last_result_count.eq(total as i32),
            saved_queries::last_run_at.eq(now),
        ))
        .returning(saved_queries::id)
        .get_result(conn)?;
    Ok(SearchResult {
        query_id,
        summary,
        total,
        listings: found
            .into_iter()
            .take(limit)
            .map(|(office_key, _, listing)| Found {
                office_name: names.get(&office_key).cloned().unwrap_or_default(),
                office_key,
                listing,
            })
            .collect(),
    })
}

/// Past searches, most recent first.
pub fn history(conn: &mut SqliteConnection) -> Result<Vec<SavedQuery>, ClientError> {
    Ok(saved_queries::table
        .order(saved_queries::last_run_at.desc())
        .load(conn)?)
}

/// Runs past search `id` again.
pub fn rerun(
    conn: &mut SqliteConnection,
    id: i32,
    limit: usize,
) -> Result<SearchResult, ClientError> {
    let text: String = saved_queries::table
        .find(id)
        .select(saved_queries::criteria)
        .first(conn)
        .optional()?
        .ok_or_else(|| ClientError::NotFound(format!("there is no past search {id}")))?;
    let criteria: SearchCriteria = serde_json::from_str(&text)
        .map_err(|e| ClientError::Storage(format!("past search {id} is unreadable: {e}")))?;
    search(conn, &criteria, limit)
}
