//! Listing queries, for both backends, behind one trait ([`ListingStore`]). Writers run inside
//! the caller's [`write_tx!`](crate::write_tx) so the listing, its change-feed event, its
//! notifications and its audit entry commit together.
//!
//! The reads and the change feed are here; the writes (publish, take-down, restore) and their versioning
//! rules in `publish.rs`; search in `search.rs`.

mod prices;
mod publish;
mod search;
#[cfg(test)]
mod tests;

pub use prices::{PRICE_HISTORY_SHOWN, PriceHistory, PricePoint};
pub use publish::{Precondition, PublishError, Published};
pub use search::{COUNT_CAP, ListingQuery, ListingSort};

use api_types::api::{ChangeEvent, ChangeKind};
use diesel::prelude::*;

use super::{ListingRow, ListingStatus, TakedownRow, VerifiedListing};
use crate::audit::Actor;
use crate::db::schema::{agencies, listing_events, listing_takedowns, listings};
use crate::pki::PlatformSigner;

/// Listing reads and writes; implemented for both connection types.
pub trait ListingStore {
    /// The agency's listing with this key.
    fn find_listing(&mut self, agency_id: i64, key: &str) -> QueryResult<Option<ListingRow>>;

    /// A listing by platform id.
    fn find_listing_by_id(&mut self, id: i64) -> QueryResult<Option<ListingRow>>;

    /// Creates or replaces the agency's listing with a verified document, and appends a
    /// change-feed event for every real change. A withdrawal is such a document too (the listing
    /// with `StandardStatus: Withdrawn`, signed by its agency). Versions:
    ///
    /// * an older `ModificationTimestamp` than stored: [`PublishError::Stale`];
    /// * the stored timestamp with other content: [`PublishError::SameTimestamp`];
    /// * the same content again from the same certificate: unchanged (an idempotent retry,
    ///   whatever the new signature's bytes: ECDSA signatures differ on every signing);
    /// * the same content from another certificate of the agency (after a renewal or a
    ///   re-enrolment): re-signed: signature and certificate replaced, version + 1, a
    ///   [`ChangeKind::Resigned`] event;
    /// * a newer timestamp: updated (or withdrawn, or status changed).
    ///
    /// Before those, `precondition` (see [`Precondition`]): a write naming a version that is not
    /// the current one is [`PublishError::VersionMismatch`], one naming none over another desk's
    /// version [`PublishError::VersionRequired`]; either is answered as unchanged instead when
    /// the stored version is exactly this document from this certificate (a retry).
    fn publish_listing(
        &mut self,
        agency_id: i64,
        listing: &VerifiedListing,
        precondition: &Precondition,
    ) -> Result<Published, PublishError>;

    /// An operator takes a listing down: a take-down statement ([`TakedownStatement`](api_types::TakedownStatement)) signed by
    /// the platform's document-signing key is stored with the listing and carried by its
    /// change-feed event; audited. `Ok(None)` when there is no such listing.
    fn take_down_listing(
        &mut self,
        listing_id: i64,
        actor: &Actor,
        reason: &str,
        signer: &PlatformSigner,
    ) -> Result<Option<Published>, PublishError>;

    /// An operator puts a taken-down listing back as its agency last signed it: the status
    /// becomes the signed document's again, the version goes up, the take-down statement is
    /// dropped, and a [`ChangeKind::StatusChanged`] event carries the agency's signed document,
    /// which every desk checks as it checks any listing (no platform signature is needed to add
    /// back what the agency signed); audited as `listing.restore`. `Ok(None)` when there is no
    /// such listing; a listing that is not taken down is [`PublishError::NotTakenDown`].
    fn restore_listing(
        &mut self,
        listing_id: i64,
        actor: &Actor,
        reason: &str,
    ) -> Result<Option<Published>, PublishError>;

    /// The signed take-down statement of a listing an operator took down.
    fn find_takedown(&mut self, listing_id: i64) -> QueryResult<Option<TakedownRow>>;

    /// Change-feed events with sequence greater than `after`, oldest first, at most `limit`.
    fn changes_after(&mut self, after: i64, limit: i64) -> QueryResult<Vec<ChangeEvent>>;

    /// Number of events after `after`, and the newest sequence number (0 when the feed is empty).
    fn count_changes_after(&mut self, after: i64) -> QueryResult<(i64, i64)>;

    /// Active listings matching `query` (never held ones: see [`super::ListingHolds`]), and how
    /// many match in all, counted up to
    /// [`COUNT_CAP`] (`COUNT_CAP + 1` means more).
    fn search_listings(&mut self, query: &ListingQuery) -> QueryResult<(Vec<ListingRow>, i64)>;
}

crate::impl_for_backends!(ListingStore {
    fn find_listing(&mut self, agency_id: i64, key: &str) -> QueryResult<Option<ListingRow>> {
        listings::table
            .filter(listings::agency_id.eq(agency_id))
            .filter(listings::listing_key.eq(key))
            .select(ListingRow::as_select())
            .first(self)
            .optional()
    }

    fn find_listing_by_id(&mut self, id: i64) -> QueryResult<Option<ListingRow>> {
        listings::table
            .find(id)
            .select(ListingRow::as_select())
            .first(self)
            .optional()
    }

    fn publish_listing(
        &mut self,
        agency_id: i64,
        listing: &VerifiedListing,
        precondition: &Precondition,
    ) -> Result<Published, PublishError> {
        publish::ListingWrites::publish_listing(self, agency_id, listing, precondition)
    }

    fn take_down_listing(
        &mut self,
        listing_id: i64,
        actor: &Actor,
        reason: &str,
        signer: &PlatformSigner,
    ) -> Result<Option<Published>, PublishError> {
        publish::ListingWrites::take_down_listing(self, listing_id, actor, reason, signer)
    }

    fn restore_listing(
        &mut self,
        listing_id: i64,
        actor: &Actor,
        reason: &str,
    ) -> Result<Option<Published>, PublishError> {
        publish::ListingWrites::restore_listing(self, listing_id, actor, reason)
    }

    fn find_takedown(&mut self, listing_id: i64) -> QueryResult<Option<TakedownRow>> {
        listing_takedowns::table
            .find(listing_id)
            .select(TakedownRow::as_select())
            .first(self)
            .optional()
    }

    fn changes_after(&mut self, after: i64, limit: i64) -> QueryResult<Vec<ChangeEvent>> {
        let rows: Vec<(i64, String, i64, ListingRow, String)> = listing_events::table
            .inner_join(listings::table.inner_join(agencies::table))
            .filter(listing_events::seq.gt(after))
            .order(listing_events::seq.asc())
            .limit(limit)
            .select((
                listing_events::seq,
                listing_events::kind,
                listing_events::at,
                ListingRow::as_select(),
                agencies::name,
            ))
            .load(self)?;
        let taken_down: Vec<i64> = rows
            .iter()
            .filter(|r| r.3.status() == ListingStatus::TakenDown)
            .map(|r| r.3.id)
            .collect();
        let statements: Vec<TakedownRow> = if taken_down.is_empty() {
            Vec::new()
        } else {
            listing_takedowns::table
                .filter(listing_takedowns::listing_id.eq_any(taken_down))
                .select(TakedownRow::as_select())
                .load(self)?
        };
        Ok(rows
            .into_iter()
            .map(|(seq, kind, at, row, agency)| {
                let kind = ChangeKind::from_code(&kind).unwrap_or(ChangeKind::Updated);
                let takedown = statements.iter().find(|t| t.listing_id == row.id);
                row.change_event(seq, kind, at, &agency, takedown)
            })
            .collect())
    }

    fn count_changes_after(&mut self, after: i64) -> QueryResult<(i64, i64)> {
        let count: i64 = listing_events::table
            .filter(listing_events::seq.gt(after))
            .count()
            .get_result(self)?;
        let latest: Option<i64> = listing_events::table
            .select(diesel::dsl::max(listing_events::seq))
            .first(self)?;
        Ok((count, latest.unwrap_or(0)))
    }

    fn search_listings(&mut self, query: &ListingQuery) -> QueryResult<(Vec<ListingRow>, i64)> {
        search::ListingSearch::search_listings(self, query)
    }
});
