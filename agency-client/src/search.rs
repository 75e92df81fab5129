//! Local search over every listing pulled from the platform, with the platform's own matching
//! semantics ([`SearchCriteria::matches`]); past searches are kept and can be run again, here or
//! on the platform (`POST /api/v1/search`, every agency's active listings).
//!
//! Remote results are shown, each with its agency's signature checked exactly as for pulled
//! listings, but not stored in `shared_listings`: that table mirrors the change feed up to the
//! stored cursor, and a search hit carries no feed position; the next `sync` brings the same
//! listings in order. The certificates fetched to check them are cached all the same.

use api_types::ListingDocument;
use api_types::api::{SearchPage, SearchRequest, SearchSort};
use api_types::search::{ListingFacts, SearchCriteria};
use diesel::prelude::*;
use serde::Serialize;

use crate::db::now_ms;
use crate::db::schema::{saved_queries, shared_listings};
use crate::error::ClientError;
use crate::identity::Session;
use crate::signatures::{Verdict, Verifier};

/// One listing found.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    /// The listing's agency.
    pub office_key: String,
    /// The agency's name.
    pub office_name: String,
    /// The listing.
    pub listing: ListingDocument,
    /// Whether its agency's signature verified; an invalid one is shown flagged, never trusted.
    pub signature: Verdict,
    /// Set when the platform said the listing is gone without a valid signed withdrawal or
    /// take-down, so this desk kept it: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removal_refused: Option<String>,
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
    /// Listings the platform found the last time it ran there (`--remote`), if it did.
    pub last_remote_total: Option<i32>,
}

/// A shared listing that matched: office, key, document, its signature verdict and why a
/// removal of it was refused (if one was).
pub(crate) type Candidate = (String, String, ListingDocument, Verdict, Option<String>);

/// Every shared listing that matches `criteria` (normal form). A first cut by the indexed
/// columns, then the shared matching rule decides.
pub(crate) fn candidates(
    conn: &mut SqliteConnection,
    criteria: &SearchCriteria,
) -> Result<Vec<Candidate>, ClientError> {
    let mut q = shared_listings::table
        .select((
            shared_listings::office_key,
            shared_listings::listing_key,
            shared_listings::document,
            shared_listings::signature_state,
            shared_listings::signature_problem,
            shared_listings::removal_refused,
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
    type Row = (
        String,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = q.load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(office, key, doc, state, problem, refused)| {
            let doc: ListingDocument = serde_json::from_str(&doc).ok()?;
            criteria
                .matches(&ListingFacts::from_document(&doc))
                .then(|| (office, key, doc, Verdict::stored(state, problem), refused))
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
            .map(
                |(office_key, _, listing, signature, removal_refused)| Found {
                    office_name: names.get(&office_key).cloned().unwrap_or_default(),
                    office_key,
                    listing,
                    signature,
                    removal_refused,
                },
            )
            .collect(),
    })
}

/// Listings pulled to this desk: (all, with an invalid signature, not checked yet).
pub fn shared_counts(conn: &mut SqliteConnection) -> Result<(i64, i64, i64), ClientError> {
    let by_state: Vec<(String, i64)> = shared_listings::table
        .group_by(shared_listings::signature_state)
        .select((shared_listings::signature_state, diesel::dsl::count_star()))
        .load(conn)?;
    let of = |state: &str| {
        by_state
            .iter()
            .filter(|(s, _)| s == state)
            .map(|(_, n)| n)
            .sum::<i64>()
    };
    let total = by_state.iter().map(|(_, n)| n).sum();
    Ok((
        total,
        of(crate::signatures::INVALID),
        of(crate::signatures::UNCHECKED),
    ))
}

/// Past searches, most recent first.
pub fn history(conn: &mut SqliteConnection) -> Result<Vec<SavedQuery>, ClientError> {
    Ok(saved_queries::table
        .order(saved_queries::last_run_at.desc())
        .load(conn)?)
}

/// The criteria of past search `id`.
pub fn past_criteria(conn: &mut SqliteConnection, id: i32) -> Result<SearchCriteria, ClientError> {
    let text: String = saved_queries::table
        .find(id)
        .select(saved_queries::criteria)
        .first(conn)
        .optional()?
        .ok_or_else(|| {
            ClientError::NotFound(format!(
                "there is no past search {id}; `agency-client search --history` lists them"
            ))
        })?;
    serde_json::from_str(&text)
        .map_err(|e| ClientError::Storage(format!("past search {id} is unreadable: {e}")))
}

/// Runs past search `id` again.
pub fn rerun(
    conn: &mut SqliteConnection,
    id: i32,
    limit: usize,
) -> Result<SearchResult, ClientError> {
    let criteria = past_criteria(conn, id)?;
    search(conn, &criteria, limit)
}

/// Which page of a search on the platform, in which order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemotePage {
    /// Order.
    pub sort: SearchSort,
    /// Page number, from 1.
    pub page: u32,
    /// Listings per page, 1 to 100.
    pub per_page: u32,
}

impl Default for RemotePage {
    fn default() -> Self {
        RemotePage {
            sort: SearchSort::Newest,
            page: 1,
            per_page: 20,
        }
    }
}

impl RemotePage {
    /// Checks page and page size before anything is sent.
    pub fn check(self) -> Result<RemotePage, ClientError> {
        let max = api_types::api::SEARCH_MAX_PER_PAGE;
        if !(1..=max).contains(&self.per_page) {
            return Err(ClientError::input(
                "--limit",
                format!("a search on the platform shows 1 to {max} listings a page"),
            ));
        }
        if self.page == 0 {
            return Err(ClientError::input("--page", "pages count from 1"));
        }
        Ok(self)
    }
}

/// The answer to a search on the platform.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteSearchResult {
    /// Id of the saved query (for `search --rerun ID [--remote]`).
    pub query_id: i32,
    /// Human summary of the criteria.
    pub summary: String,
    /// How many listings match on the platform, counted up to 10,000.
    pub total: i64,
    /// True when more than 10,000 match ("10,000+").
    pub total_capped: bool,
    /// This page.
    pub page: u32,
    /// Listings per page.
    pub per_page: u32,
    /// True when another page follows.
    pub has_more: bool,
    /// Order.
    pub sort: SearchSort,
    /// This page's listings, each with its signature checked.
    pub listings: Vec<Found>,
    /// How many of them failed the signature check (shown flagged).
    pub invalid: usize,
}

/// Runs a search on the platform, checks each result's agency signature, and records the
/// criteria among past searches (with the platform's total). Nothing is stored when the
/// platform cannot be reached or refuses.
pub fn search_remote(
    conn: &mut SqliteConnection,
    session: &mut Session,
    criteria: &SearchCriteria,
    page: RemotePage,
) -> Result<RemoteSearchResult, ClientError> {
    let criteria = crate::customers::check_wishes(criteria)?;
    let page = page.check()?;
    let answer: SearchPage = session.client.post_json(
        "/api/v1/search",
        &SearchRequest {
            criteria: criteria.clone(),
            sort: page.sort,
            page: page.page,
            per_page: page.per_page,
        },
    )?;
    let mut verifier = Verifier::new(&session.identity)?;
    verifier.fetch(
        conn,
        &mut session.client,
        answer
            .listings
            .iter()
            .map(|l| l.certificate_serial.as_str()),
    )?;
    let mut listings = Vec::with_capacity(answer.listings.len());
    for l in answer.listings {
        let first_seen = crate::signatures::first_seen(
            conn,
            &l.list_office_key,
            &l.listing_key,
            l.signature.as_ref(),
        )?;
        listings.push(Found {
            signature: verifier.check(
                &l.list_office_key,
                &l.listing,
                l.signature.as_ref(),
                Some(&l.certificate_serial),
                first_seen,
            ),
            office_key: l.list_office_key,
            office_name: l.list_office_name,
            listing: l.listing.into_inner(),
            removal_refused: None,
        });
    }
    let text = serde_json::to_string(&criteria).unwrap_or_default();
    let summary = criteria.summary();
    let now = now_ms();
    let remote_total = i32::try_from(answer.total).unwrap_or(i32::MAX);
    let query_id: i32 = diesel::insert_into(saved_queries::table)
        .values((
            saved_queries::criteria.eq(&text),
            saved_queries::summary.eq(&summary),
            saved_queries::run_count.eq(1),
            saved_queries::last_result_count.eq(0),
            saved_queries::last_run_at.eq(now),
            saved_queries::last_remote_total.eq(Some(remote_total)),
        ))
        .on_conflict(saved_queries::criteria)
        .do_update()
        .set((
            saved_queries::run_count.eq(saved_queries::run_count + 1),
            saved_queries::last_run_at.eq(now),
            saved_queries::last_remote_total.eq(Some(remote_total)),
        ))
        .returning(saved_queries::id)
        .get_result(conn)?;
    Ok(RemoteSearchResult {
        query_id,
        summary,
        total: answer.total,
        total_capped: answer.total_capped,
        page: answer.page,
        per_page: answer.per_page,
        has_more: answer.has_more,
        sort: page.sort,
        invalid: listings
            .iter()
            .filter(|f| f.signature.state == crate::signatures::INVALID)
            .count(),
        listings,
    })
}
