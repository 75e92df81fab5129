//! A listing's price history (`listing_prices`): the price of each version whose price or
//! currency differs from the version before, recorded by [`publish_listing`] in the publishing
//! transaction, read by the listing page.
//!
//! [`publish_listing`]: super::publish

use diesel::prelude::*;

use crate::db::schema::listing_prices;

/// Price points kept per listing on the page (the newest).
pub const PRICE_HISTORY_SHOWN: i64 = 50;

/// One price a listing had: from `version`, published on the platform at `at` (ms).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = listing_prices)]
pub struct PricePoint {
    /// The listing version that set it.
    pub version: i64,
    /// Whole currency units.
    pub price: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// When the platform took that version (ms), like the page's "Published" date.
    pub at: i64,
}

/// Price-history queries, for both backends.
pub trait PriceHistory {
    /// The listing's prices, oldest first (the newest [`PRICE_HISTORY_SHOWN`]).
    fn price_history(&mut self, listing_id: i64) -> QueryResult<Vec<PricePoint>>;

    /// Records `point` unless the listing's newest recorded price is the same price and
    /// currency (a re-signing, a status change or an edit of the text keeps one row).
    fn record_price(&mut self, listing_id: i64, point: &PricePoint) -> QueryResult<()>;
}

crate::impl_for_backends!(PriceHistory {
    fn price_history(&mut self, listing_id: i64) -> QueryResult<Vec<PricePoint>> {
        let mut points = listing_prices::table
            .filter(listing_prices::listing_id.eq(listing_id))
            .order(listing_prices::version.desc())
            .limit(PRICE_HISTORY_SHOWN)
            .select(PricePoint::as_select())
            .load(self)?;
        points.reverse();
        Ok(points)
    }

    fn record_price(&mut self, listing_id: i64, point: &PricePoint) -> QueryResult<()> {
        let newest: Option<(i64, String)> = listing_prices::table
            .filter(listing_prices::listing_id.eq(listing_id))
            .order(listing_prices::version.desc())
            .select((listing_prices::price, listing_prices::currency))
            .first(self)
            .optional()?;
        if newest.is_some_and(|(price, currency)| price == point.price && currency == point.currency)
        {
            return Ok(());
        }
        diesel::insert_into(listing_prices::table)
            .values((
                listing_prices::listing_id.eq(listing_id),
                listing_prices::version.eq(point.version),
                listing_prices::price.eq(point.price),
                listing_prices::currency.eq(&point.currency),
                listing_prices::at.eq(point.at),
            ))
            .on_conflict((listing_prices::listing_id, listing_prices::version))
            .do_nothing()
            .execute(self)?;
        Ok(())
    }
});
