//! What the operator console reads of listings: counts, the times of recent publishes (the
//! dashboard's chart) and a search over every agency's listings whatever their state.

use diesel::prelude::*;

use super::ListingRow;
use crate::db::schema::{listing_events, listings};

/// The console's listing queries, for both backends.
pub trait ListingOverview {
    /// `(active, all)` listings.
    fn count_listings(&mut self) -> QueryResult<(i64, i64)>;
    /// The time of every change-feed event (publishes, changes, withdrawals) since `since`.
    fn publish_times(&mut self, since: i64) -> QueryResult<Vec<i64>>;
    /// Listings of every agency, newest change first: `text` in the title, city or key,
    /// `agency` and `status` (a [`super::ListingStatus`] code) when given.
    fn operator_listings(
        &mut self,
        text: Option<&str>,
        agency: Option<i64>,
        status: Option<&str>,
        limit: i64,
    ) -> QueryResult<Vec<ListingRow>>;
}

crate::impl_for_backends!(ListingOverview {
    fn count_listings(&mut self) -> QueryResult<(i64, i64)> {
        let all: i64 = listings::table.count().get_result(self)?;
        let active: i64 = listings::table
            .filter(listings::status.eq(super::ListingStatus::Market(api_types::StandardStatus::Active).code()))
            .count()
            .get_result(self)?;
        Ok((active, all))
    }

    fn publish_times(&mut self, since: i64) -> QueryResult<Vec<i64>> {
        listing_events::table
            .filter(listing_events::at.ge(since))
            .select(listing_events::at)
            .load(self)
    }

    fn operator_listings(
        &mut self,
        text: Option<&str>,
        agency: Option<i64>,
        status: Option<&str>,
        limit: i64,
    ) -> QueryResult<Vec<ListingRow>> {
        let mut query = listings::table.into_boxed();
        if let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) {
            let pattern = format!(
                "%{}%",
                text.replace(['\\', '%'], "")
            );
            query = query.filter(
                listings::title
                    .like(pattern.clone())
                    .or(listings::city.like(pattern.clone()))
                    .or(listings::listing_key.like(pattern)),
            );
        }
        if let Some(agency) = agency {
            query = query.filter(listings::agency_id.eq(agency));
        }
        if let Some(status) = status {
            query = query.filter(listings::status.eq(status.to_owned()));
        }
        query
            .order(listings::updated_at.desc())
            .limit(limit)
            .select(ListingRow::as_select())
            .load(self)
    }
});
