//! Listings a user marked "not interested" (`dismissed_listings` table), left out of the user's
//! searches and matches pages. (Matching reads the same table for whom not to alert.)

use diesel::prelude::*;

use crate::db::schema::dismissed_listings;

/// Most "not interested" marks a search leaves out: the newest ones (older marks beyond this
/// many may show up again).
pub const MAX_EXCLUDED: i64 = 5_000;

/// The "not interested" queries, for both backends.
pub trait Dismissals {
    /// Listing ids the user marked, newest first, at most [`MAX_EXCLUDED`].
    fn dismissed_ids(&mut self, user_id: i64) -> QueryResult<Vec<i64>>;
    /// Whether the user marked this listing.
    fn is_dismissed(&mut self, user_id: i64, listing_id: i64) -> QueryResult<bool>;
    /// Marks a listing (again is a no-op).
    fn dismiss(&mut self, user_id: i64, listing_id: i64, now: i64) -> QueryResult<()>;
}

crate::impl_for_backends!(Dismissals {
    fn dismissed_ids(&mut self, user_id: i64) -> QueryResult<Vec<i64>> {
        dismissed_listings::table
            .filter(dismissed_listings::user_id.eq(user_id))
            .order(dismissed_listings::created_at.desc())
            .select(dismissed_listings::listing_id)
            .limit(MAX_EXCLUDED)
            .load(self)
    }

    fn is_dismissed(&mut self, user_id: i64, listing_id: i64) -> QueryResult<bool> {
        Ok(dismissed_listings::table
            .find((user_id, listing_id))
            .count()
            .get_result::<i64>(self)?
            > 0)
    }

    fn dismiss(&mut self, user_id: i64, listing_id: i64, now: i64) -> QueryResult<()> {
        diesel::insert_into(dismissed_listings::table)
            .values((
                dismissed_listings::user_id.eq(user_id),
                dismissed_listings::listing_id.eq(listing_id),
                dismissed_listings::created_at.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(self)
            .map(drop)
    }
});
