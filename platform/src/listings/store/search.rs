//! Searching active listings: the query, its order, and the count capped at [`COUNT_CAP`].
//! Reached through [`ListingStore::search_listings`](super::ListingStore::search_listings).

use api_types::{SearchCriteria, StandardStatus};
use diesel::prelude::*;

use crate::db::schema::listings;
use crate::listings::{ListingRow, ListingStatus};

/// [`ListingStore::search_listings`](super::ListingStore::search_listings) counts matches up to this many and answers `COUNT_CAP + 1`
/// for anything more ("10,000+").
pub const COUNT_CAP: i64 = 10_000;

/// Order of search results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListingSort {
    /// Most recently published first.
    #[default]
    Newest,
    /// Cheapest first.
    PriceAsc,
    /// Dearest first.
    PriceDesc,
}

/// A search over active listings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ListingQuery {
    /// What to match (normalised by the query itself).
    pub criteria: SearchCriteria,
    /// Order.
    pub sort: ListingSort,
    /// Rows to skip.
    pub offset: i64,
    /// Rows to return (at most 100).
    pub limit: i64,
    /// Listing ids to leave out, in the count too (what a website user marked "not
    /// interested": a short list, so a `NOT IN` probe per row stays cheap).
    pub exclude_ids: Vec<i64>,
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `\` as escape character.
fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The body of [`ListingStore::search_listings`](super::ListingStore::search_listings), for both
/// backends.
pub(super) trait ListingSearch {
    /// See [`ListingStore::search_listings`](super::ListingStore::search_listings).
    fn search_listings(&mut self, query: &ListingQuery) -> QueryResult<(Vec<ListingRow>, i64)>;
}

crate::impl_for_backends!(ListingSearch {
    fn search_listings(&mut self, query: &ListingQuery) -> QueryResult<(Vec<ListingRow>, i64)> {
        let c = query.criteria.normalized();
        let filtered = || {
            let mut q = listings::table
                .filter(listings::status.eq(ListingStatus::Market(StandardStatus::Active).code()))
                .filter(listings::held_at.is_null())
                .into_boxed();
            if let Some(t) = c.transaction_type {
                q = q.filter(listings::transaction_type.eq(t.code()));
            }
            if let Some(city) = &c.city {
                q = q.filter(listings::city_key.eq(city.clone()));
            }
            if let Some(district) = &c.district {
                q = q.filter(listings::district_key.eq(district.clone()));
            }
            if !c.property_types.is_empty() {
                q = q.filter(
                    listings::property_type
                        .eq_any(c.property_types.iter().map(|t| t.code()).collect::<Vec<_>>()),
                );
            }
            if let Some(p) = c.min_price {
                q = q.filter(listings::price.ge(i64::try_from(p).unwrap_or(i64::MAX)));
            }
            if let Some(p) = c.max_price {
                q = q.filter(listings::price.le(i64::try_from(p).unwrap_or(i64::MAX)));
            }
            if let Some(a) = c.min_living_area {
                q = q.filter(listings::living_area.ge(a));
            }
            if let Some(a) = c.max_living_area {
                q = q.filter(listings::living_area.le(a));
            }
            if let Some(b) = c.min_bedrooms {
                q = q.filter(listings::bedrooms.ge(i32::try_from(b).unwrap_or(i32::MAX)));
            }
            if !query.exclude_ids.is_empty() {
                q = q.filter(listings::id.ne_all(query.exclude_ids.clone()));
            }
            for keyword in &c.keywords {
                q = q.filter(
                    listings::search_text
                        .like(format!("%{}%", like_escape(keyword)))
                        .escape('\\'),
                );
            }
            q
        };
        // Counting stops past COUNT_CAP: an exact count of a broad search over a million
        // listings costs more than the page itself, and "10,000+" is all a reader needs.
        let total = filtered()
            .select(listings::id)
            .limit(COUNT_CAP + 1)
            .load::<i64>(self)?
            .len() as i64;
        let mut page = filtered();
        page = match query.sort {
            ListingSort::Newest => page.order((listings::created_at.desc(), listings::id.desc())),
            ListingSort::PriceAsc => page.order((listings::price.asc(), listings::id.asc())),
            ListingSort::PriceDesc => page.order((listings::price.desc(), listings::id.desc())),
        };
        let rows = page
            .offset(query.offset.max(0))
            .limit(query.limit.clamp(1, 100))
            .select(ListingRow::as_select())
            .load(self)?;
        Ok((rows, total))
    }
});
