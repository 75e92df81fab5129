//! Holds: a listing whose signing key was reported compromised leaves search and alerts until
//! its agency signs it again. The hold is a column on `listings` (`held_at`), set in the
//! revoking transaction and cleared by the next accepted publish, so search filters on a column
//! instead of looking up certificates per row.

use diesel::prelude::*;

use crate::db::schema::listings;

/// Setting holds; implemented for both connection types. Call inside the revoking transaction.
pub trait ListingHolds {
    /// Holds, as of `now_ms`, every listing not yet held whose stored version was signed with
    /// one of the certificates `serials` and received at or after `received_since` (every one
    /// when None). Returns how many listings were newly held.
    fn hold_signed_by(
        &mut self,
        serials: &[String],
        received_since: Option<i64>,
        now_ms: i64,
    ) -> QueryResult<usize>;
}

crate::impl_for_backends!(ListingHolds {
    fn hold_signed_by(
        &mut self,
        serials: &[String],
        received_since: Option<i64>,
        now_ms: i64,
    ) -> QueryResult<usize> {
        if serials.is_empty() {
            return Ok(0);
        }
        let target = listings::table
            .filter(listings::cert_serial.eq_any(serials))
            .filter(listings::held_at.is_null());
        match received_since {
            // `updated_at` is when the platform stored the row's current signed version.
            Some(since) => diesel::update(target.filter(listings::updated_at.ge(since)))
                .set(listings::held_at.eq(now_ms))
                .execute(self),
            None => diesel::update(target)
                .set(listings::held_at.eq(now_ms))
                .execute(self),
        }
    }
});
