//! Listing queries, for both backends. Writers run inside the caller's
//! [`write_tx!`](crate::write_tx) so the listing, its change-feed event, its notifications and
//! its audit entry commit together.

use api_types::api::{ChangeEvent, ChangeKind, PublishOutcome};
use api_types::{SearchCriteria, StandardStatus};
use diesel::prelude::*;

use api_types::{Signable, TakedownStatement};

use super::{ListingRow, ListingStatus, TakedownRow, VerifiedListing, search_text, time_to_ms};
use crate::audit::AuditLog;
use crate::db::schema::{agencies, listing_events, listing_takedowns, listings};
use crate::pki::PlatformSigner;

/// What a write to a listing did.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// Created, updated or unchanged.
    pub outcome: PublishOutcome,
    /// The change-feed event kind, when something changed.
    pub kind: Option<ChangeKind>,
    /// The change-feed sequence number, when something changed.
    pub sequence: Option<i64>,
    /// The row before the write (None for a new listing).
    pub previous: Option<ListingRow>,
    /// The row after the write.
    pub current: ListingRow,
}

/// Why a publish was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// An operator took the listing down; the agency cannot change it.
    #[error("listing {0} was taken down by the platform operator and cannot be changed")]
    TakenDown(String),
    /// The document is older than the stored one (e.g. an old change delivered late), or as old
    /// with other content.
    #[error(
        "listing {key} has a newer version on the platform (ModificationTimestamp {stored}); send a newer document"
    )]
    Stale {
        /// The listing key.
        key: String,
        /// The stored ModificationTimestamp (RFC 3339).
        stored: String,
    },
    /// The document has the stored ModificationTimestamp but other content: every change needs a
    /// newer timestamp, or two different documents could claim to be the same version.
    #[error(
        "listing {key} already has other content with ModificationTimestamp {stored}; every change needs a newer ModificationTimestamp"
    )]
    SameTimestamp {
        /// The listing key.
        key: String,
        /// The stored ModificationTimestamp (RFC 3339).
        stored: String,
    },
    /// The take-down statement could not be signed with the platform's key.
    #[error("the take-down statement could not be signed: {0}")]
    Signing(String),
    /// Another write to the same listing committed first; retrying will work.
    #[error("listing {0} was changed at the same moment by another request; retry")]
    Concurrent(String),
    /// A database error.
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

/// [`ListingStore::search_listings`] counts matches up to this many and answers `COUNT_CAP + 1`
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
    fn publish_listing(
        &mut self,
        agency_id: i64,
        listing: &VerifiedListing,
    ) -> Result<Published, PublishError>;

    /// An operator takes a listing down: a take-down statement ([`TakedownStatement`]) signed by
    /// the platform's document-signing key is stored with the listing and carried by its
    /// change-feed event; audited. `Ok(None)` when there is no such listing.
    fn take_down_listing(
        &mut self,
        listing_id: i64,
        operator: &str,
        reason: &str,
        signer: &PlatformSigner,
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
    ) -> Result<Published, PublishError> {
        let doc = listing.document();
        let now = crate::db::now_ms();
        let modified_at = time_to_ms(doc.modification_timestamp);
        let status = ListingStatus::Market(doc.standard_status);
        let media = serde_json::to_string(
            &doc.media.iter().map(|m| m.media_url.as_str()).collect::<Vec<_>>(),
        )
        .expect("strings serialise");
        let text = search_text(doc);
        let values = (
            listings::status.eq(status.code()),
            listings::transaction_type.eq(doc.transaction_type.code()),
            listings::property_type.eq(doc.property_type.code()),
            listings::city.eq(&doc.city),
            listings::city_key.eq(api_types::search::normalize(&doc.city)),
            listings::district.eq(doc.district.as_deref()),
            listings::district_key.eq(doc.district.as_deref().map(api_types::search::normalize)),
            listings::postal_code.eq(doc.postal_code.as_deref()),
            listings::address.eq(doc.unparsed_address.as_deref()),
            listings::price.eq(i64::try_from(doc.list_price).unwrap_or(i64::MAX)),
            listings::currency.eq(&doc.currency),
            listings::living_area.eq(doc.living_area),
            listings::rooms.eq(doc.rooms_total.map(|v| v as i32)),
            listings::bedrooms.eq(doc.bedrooms_total.map(|v| v as i32)),
            listings::bathrooms.eq(doc.bathrooms_total_integer.map(|v| v as i32)),
            listings::title.eq(&doc.title),
            listings::description.eq(&doc.public_remarks),
            listings::media.eq(&media),
            listings::search_text.eq(&text),
            listings::modified_at.eq(modified_at),
            listings::document.eq(listing.canonical()),
            listings::signature.eq(&listing.signature().value),
            listings::signature_alg.eq(listing.signature().algorithm.name()),
            listings::cert_serial.eq(listing.cert_serial()),
            listings::updated_at.eq(now),
            listings::held_at.eq(None::<i64>),
        );

        let previous = listings::table
            .filter(listings::agency_id.eq(agency_id))
            .filter(listings::listing_key.eq(&doc.listing_key))
            .select(ListingRow::as_select())
            .first(self)
            .optional()?;

        let (current, kind) = match &previous {
            None => {
                let inserted = diesel::insert_into(listings::table)
                    .values((
                        listings::agency_id.eq(agency_id),
                        listings::listing_key.eq(&doc.listing_key),
                        listings::version.eq(1_i64),
                        listings::created_at.eq(now),
                        values,
                    ))
                    .on_conflict((listings::agency_id, listings::listing_key))
                    .do_nothing()
                    .returning(ListingRow::as_returning())
                    .get_result(self)
                    .optional()?;
                match inserted {
                    Some(row) => (row, ChangeKind::Created),
                    None => return Err(PublishError::Concurrent(doc.listing_key.clone())),
                }
            }
            Some(old) => {
                if old.status() == ListingStatus::TakenDown {
                    return Err(PublishError::TakenDown(doc.listing_key.clone()));
                }
                let stored = || {
                    super::ms_to_time(old.modified_at)
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default()
                };
                if modified_at < old.modified_at {
                    return Err(PublishError::Stale {
                        key: doc.listing_key.clone(),
                        stored: stored(),
                    });
                }
                let mut resign = false;
                if modified_at == old.modified_at {
                    if !same_document(&old.document, listing.canonical()) {
                        return Err(PublishError::SameTimestamp {
                            key: doc.listing_key.clone(),
                            stored: stored(),
                        });
                    }
                    if old.cert_serial == listing.cert_serial() {
                        return Ok(Published {
                            outcome: PublishOutcome::Unchanged,
                            kind: None,
                            sequence: None,
                            previous: previous.clone(),
                            current: old.clone(),
                        });
                    }
                    resign = true;
                }
                let updated = diesel::update(
                    listings::table
                        .filter(listings::id.eq(old.id))
                        .filter(listings::version.eq(old.version)),
                )
                .set((listings::version.eq(old.version + 1), values))
                .returning(ListingRow::as_returning())
                .get_result(self)
                .optional()?;
                let Some(row) = updated else {
                    return Err(PublishError::Concurrent(doc.listing_key.clone()));
                };
                let kind = if resign {
                    ChangeKind::Resigned
                } else if doc.standard_status == StandardStatus::Withdrawn
                    && old.status != row.status
                {
                    ChangeKind::Withdrawn
                } else if old.status != row.status && same_content(old, &row) {
                    ChangeKind::StatusChanged
                } else {
                    ChangeKind::Updated
                };
                (row, kind)
            }
        };
        let seq = self.next_counter("listing_events")?;
        diesel::insert_into(listing_events::table)
            .values((
                listing_events::seq.eq(seq),
                listing_events::listing_id.eq(current.id),
                listing_events::agency_id.eq(agency_id),
                listing_events::listing_key.eq(&current.listing_key),
                listing_events::kind.eq(kind.code()),
                listing_events::version.eq(current.version),
                listing_events::at.eq(now),
            ))
            .execute(self)?;
        Ok(Published {
            outcome: match (&previous, kind) {
                (None, _) => PublishOutcome::Created,
                (Some(_), ChangeKind::Resigned) => PublishOutcome::Resigned,
                (Some(_), _) => PublishOutcome::Updated,
            },
            kind: Some(kind),
            sequence: Some(seq),
            previous,
            current,
        })
    }

    fn take_down_listing(
        &mut self,
        listing_id: i64,
        operator: &str,
        reason: &str,
        signer: &PlatformSigner,
    ) -> Result<Option<Published>, PublishError> {
        let Some(old) = listings::table
            .find(listing_id)
            .select(ListingRow::as_select())
            .first(self)
            .optional()?
        else {
            return Ok(None);
        };
        if old.status() == ListingStatus::TakenDown {
            return Ok(Some(Published {
                outcome: PublishOutcome::Unchanged,
                kind: None,
                sequence: None,
                previous: Some(old.clone()),
                current: old,
            }));
        }
        let now = crate::db::now_ms();
        let statement = Signable::new(TakedownStatement {
            list_office_key: old.agency_id.to_string(),
            listing_key: old.listing_key.clone(),
            version: old.version + 1,
            taken_down_at: super::ms_to_time(now),
            reason: reason.to_owned(),
        })
        .map_err(|e| PublishError::Signing(e.to_string()))?;
        let signature = signer
            .sign(statement.canonical_bytes())
            .map_err(|e| PublishError::Signing(e.to_string()))?;
        let current = diesel::update(
            listings::table
                .filter(listings::id.eq(listing_id))
                .filter(listings::version.eq(old.version)),
        )
        .set((
            listings::status.eq(ListingStatus::TakenDown.code()),
            listings::version.eq(old.version + 1),
            listings::updated_at.eq(now),
            listings::taken_down_at.eq(now),
            listings::takedown_reason.eq(reason),
        ))
        .returning(ListingRow::as_returning())
        .get_result(self)
        .optional()?
        .ok_or_else(|| PublishError::Concurrent(old.listing_key.clone()))?;
        diesel::insert_into(listing_takedowns::table)
            .values((
                listing_takedowns::listing_id.eq(current.id),
                listing_takedowns::statement.eq(statement.raw()),
                listing_takedowns::signature.eq(&signature.value),
                listing_takedowns::signature_alg.eq(signature.algorithm.name()),
                listing_takedowns::cert_serial.eq(signer.serial()),
                listing_takedowns::created_at.eq(now),
            ))
            .execute(self)?;
        let seq = self.next_counter("listing_events")?;
        diesel::insert_into(listing_events::table)
            .values((
                listing_events::seq.eq(seq),
                listing_events::listing_id.eq(current.id),
                listing_events::agency_id.eq(current.agency_id),
                listing_events::listing_key.eq(&current.listing_key),
                listing_events::kind.eq(ChangeKind::TakenDown.code()),
                listing_events::version.eq(current.version),
                listing_events::at.eq(now),
            ))
            .execute(self)?;
        self.audit(
            &crate::audit::Actor::Operator(operator.to_owned()),
            "listing.take_down",
            Some(&listing_id.to_string()),
            serde_json::json!({
                "agency_id": current.agency_id,
                "listing_key": current.listing_key,
                "version": current.version,
                "reason": reason,
                "signed_by": signer.serial(),
            }),
        )?;
        Ok(Some(Published {
            outcome: PublishOutcome::Updated,
            kind: Some(ChangeKind::TakenDown),
            sequence: Some(seq),
            previous: Some(old),
            current,
        }))
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

/// True when two stored documents say the same: equal RFC 8785 forms (a row stored before
/// RFC 8785 holds another form of the same content).
fn same_document(stored: &str, canonical: &str) -> bool {
    stored == canonical
        || api_types::canonical::canonicalize_text(stored)
            .is_ok_and(|bytes| bytes == canonical.as_bytes())
}

/// True when two rows differ at most in status and modification time.
fn same_content(a: &ListingRow, b: &ListingRow) -> bool {
    let strip = |row: &ListingRow| -> Option<Vec<u8>> {
        let mut v = api_types::canonical::parse_strict(&row.document).ok()?;
        let obj = v.as_object_mut()?;
        obj.remove("StandardStatus");
        obj.remove("ModificationTimestamp");
        api_types::canonical::canonicalize(&v).ok()
    };
    strip(a).is_some() && strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fixtures;
    use api_types::ListingDocument;

    fn doc(key: &str) -> ListingDocument {
        ListingDocument::example(key)
    }

    fn later(mut d: ListingDocument, secs: i64) -> ListingDocument {
        d.modification_timestamp += time::Duration::seconds(secs);
        d
    }

    crate::db_test!(publish_is_idempotent_versioned_and_fed, |db| {
        let mut conn = db.get().unwrap();
        let (agency, serial) = fixtures::active_agency_with_certificate(&mut conn, "Acme");
        let first = fixtures::publish(&mut conn, agency.id, &serial, &doc("K-1")).unwrap();
        assert_eq!(first.outcome, PublishOutcome::Created);
        assert_eq!(first.current.version, 1);
        assert_eq!(first.sequence, Some(1));

        // The same document again: nothing changes, no event.
        let again = fixtures::publish(&mut conn, agency.id, &serial, &doc("K-1")).unwrap();
        assert_eq!(again.outcome, PublishOutcome::Unchanged);
        assert_eq!(again.current.version, 1);

        // A price drop: version 2, an `updated` event.
        let cheaper = ListingDocument {
            list_price: 300_000,
            ..later(doc("K-1"), 60)
        };
        let second = fixtures::publish(&mut conn, agency.id, &serial, &cheaper).unwrap();
        assert_eq!(second.kind, Some(ChangeKind::Updated));
        assert_eq!(second.current.version, 2);
        assert_eq!(second.previous.as_ref().unwrap().price, 350_000);

        // Only the status changes: `status_changed`.
        let offer = ListingDocument {
            standard_status: StandardStatus::UnderOffer,
            ..later(cheaper.clone(), 120)
        };
        let third = fixtures::publish(&mut conn, agency.id, &serial, &offer).unwrap();
        assert_eq!(third.kind, Some(ChangeKind::StatusChanged));

        // An older document arriving late is refused; nothing changes.
        let err = fixtures::publish(&mut conn, agency.id, &serial, &doc("K-1")).unwrap_err();
        assert!(matches!(err, PublishError::Stale { .. }), "{err}");

        let events = crate::with_conn!(&mut conn, |c| c.changes_after(0, 100)).unwrap();
        let kinds: Vec<ChangeKind> = events.iter().map(|e| e.event_type).collect();
        assert_eq!(
            kinds,
            [
                ChangeKind::Created,
                ChangeKind::Updated,
                ChangeKind::StatusChanged
            ]
        );
        assert_eq!(events[2].entity_event_sequence, 3);
        assert_eq!(events[2].list_office_name, "Acme");
        assert_eq!(
            events[2].listing.as_ref().unwrap().get().list_price,
            300_000
        );
        let (count, latest) = crate::with_conn!(&mut conn, |c| c.count_changes_after(1)).unwrap();
        assert_eq!((count, latest), (2, 3));
        let page = crate::with_conn!(&mut conn, |c| c.changes_after(1, 1)).unwrap();
        assert_eq!(page.len(), 1);
        assert_eq!(page[0].entity_event_sequence, 2);
    });

    crate::db_test!(
        equal_timestamps_refuse_other_content_and_resign_same_content,
        |db| {
            let mut conn = db.get().unwrap();
            let (agency, serial) = fixtures::active_agency_with_certificate(&mut conn, "Acme");
            fixtures::publish(&mut conn, agency.id, &serial, &doc("K-1")).unwrap();
            // The same ModificationTimestamp with other content: refused, nothing changes.
            let sneaky = ListingDocument {
                list_price: 1,
                ..doc("K-1")
            };
            let err = fixtures::publish(&mut conn, agency.id, &serial, &sneaky).unwrap_err();
            assert!(matches!(err, PublishError::SameTimestamp { .. }), "{err}");
            assert!(
                err.to_string()
                    .contains("every change needs a newer ModificationTimestamp")
            );
            // The same content signed again by the same certificate (a new ECDSA signature): unchanged.
            let retry = fixtures::publish(&mut conn, agency.id, &serial, &doc("K-1")).unwrap();
            assert_eq!(
                (retry.outcome, retry.current.version),
                (PublishOutcome::Unchanged, 1)
            );
            // By another certificate of the agency (renewal, re-enrolment): re-signed.
            let renewed = fixtures::another_certificate(&mut conn, &agency);
            let resigned = fixtures::publish(&mut conn, agency.id, &renewed, &doc("K-1")).unwrap();
            assert_eq!(resigned.outcome, PublishOutcome::Resigned);
            assert_eq!(resigned.kind, Some(ChangeKind::Resigned));
            assert_eq!(resigned.current.version, 2);
            assert_eq!(resigned.current.cert_serial, renewed);
            assert_ne!(resigned.current.signature, retry.current.signature);
            assert_eq!(
                resigned.current.document, retry.current.document,
                "content unchanged"
            );
            assert_eq!(resigned.current.price, 350_000);
            // And again from the new certificate: unchanged.
            let again = fixtures::publish(&mut conn, agency.id, &renewed, &doc("K-1")).unwrap();
            assert_eq!(again.outcome, PublishOutcome::Unchanged);
            let events = crate::with_conn!(&mut conn, |c| c.changes_after(0, 10)).unwrap();
            let kinds: Vec<ChangeKind> = events.iter().map(|e| e.event_type).collect();
            assert_eq!(kinds, [ChangeKind::Created, ChangeKind::Resigned]);
            assert_eq!(
                events[1].certificate_serial.as_deref(),
                Some(renewed.as_str())
            );
        }
    );

    crate::db_test!(a_row_stored_before_rfc_8785_is_the_same_content, |db| {
        let mut conn = db.get().unwrap();
        let (agency, serial) = fixtures::active_agency_with_certificate(&mut conn, "Acme");
        let d = ListingDocument {
            living_area: Some(84.0),
            ..doc("K-1")
        };
        let first = fixtures::publish(&mut conn, agency.id, &serial, &d).unwrap();
        // As the platform stored it before: serde_json's form, 84.0.
        let old_form = String::from_utf8(api_types::canonical::legacy_form_for_verification_only(
            &serde_json::to_value(&d).unwrap(),
        ))
        .unwrap();
        assert_ne!(old_form, first.current.document);
        crate::with_conn!(&mut conn, |c| diesel::update(
            listings::table.find(first.current.id)
        )
        .set(listings::document.eq(&old_form))
        .execute(c))
        .unwrap();
        let retry = fixtures::publish(&mut conn, agency.id, &serial, &d).unwrap();
        assert_eq!(retry.outcome, PublishOutcome::Unchanged, "not a conflict");
        let renewed = fixtures::another_certificate(&mut conn, &agency);
        let resigned = fixtures::publish(&mut conn, agency.id, &renewed, &d).unwrap();
        assert_eq!(resigned.outcome, PublishOutcome::Resigned);
        assert_eq!(
            resigned.current.document, first.current.document,
            "now in RFC 8785 form"
        );
    });

    crate::db_test!(signed_withdrawal_and_signed_take_down, |db| {
        let (_dir, signer) = fixtures::platform_signer(db);
        let mut conn = db.get().unwrap();
        let (agency, serial) = fixtures::active_agency_with_certificate(&mut conn, "Acme");
        fixtures::publish(&mut conn, agency.id, &serial, &doc("K-1")).unwrap();
        fixtures::publish(&mut conn, agency.id, &serial, &doc("K-2")).unwrap();
        let withdrawal = ListingDocument {
            standard_status: StandardStatus::Withdrawn,
            ..later(doc("K-1"), 30)
        };
        let withdrawn = fixtures::publish(&mut conn, agency.id, &serial, &withdrawal).unwrap();
        assert_eq!(withdrawn.kind, Some(ChangeKind::Withdrawn));
        // Twice is harmless.
        let again = fixtures::publish(&mut conn, agency.id, &serial, &withdrawal).unwrap();
        assert_eq!(again.outcome, PublishOutcome::Unchanged);

        let k2 = crate::with_conn!(&mut conn, |c| c.find_listing(agency.id, "K-2"))
            .unwrap()
            .unwrap();
        let down = crate::write_tx!(&mut conn, |c| c
            .take_down_listing(k2.id, "cli", "fraud", &signer))
        .unwrap()
        .unwrap();
        assert_eq!(down.kind, Some(ChangeKind::TakenDown));
        // The agency cannot bring it back.
        let err =
            fixtures::publish(&mut conn, agency.id, &serial, &later(doc("K-2"), 10)).unwrap_err();
        assert!(matches!(err, PublishError::TakenDown(_)));
        let events = crate::with_conn!(&mut conn, |c| c.changes_after(2, 10)).unwrap();
        assert_eq!(events.len(), 2);
        // The withdrawal carries the agency's signed Withdrawn document.
        let w = &events[0];
        assert_eq!(
            (w.event_type, w.status.as_str()),
            (ChangeKind::Withdrawn, "withdrawn")
        );
        let object = w.listing.as_ref().unwrap();
        assert_eq!(object.get(), &withdrawal);
        assert_eq!(w.certificate_serial.as_deref(), Some(serial.as_str()));
        assert!(w.signature.is_some() && w.takedown.is_none());
        // The take-down carries the platform's signed statement, and no listing.
        let t = &events[1];
        assert_eq!(t.status, "taken_down");
        assert!(t.listing.is_none() && t.signature.is_none());
        let takedown = t.takedown.as_ref().unwrap();
        let statement = takedown.statement.get();
        assert_eq!(statement.list_office_key, agency.id.to_string());
        assert_eq!(
            (statement.listing_key.as_str(), statement.version),
            ("K-2", t.version)
        );
        assert_eq!(statement.reason, "fraud");
        assert_eq!(takedown.certificate_serial, signer.serial());
        let der = ca::inspect::parse_chain_pem(signer.chain_pem())
            .unwrap()
            .remove(0);
        let bytes = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            &takedown.signature.value,
        )
        .unwrap();
        ca::sign::verify_with_certificate(
            &der,
            ca::sign::SignatureAlgorithm::EcdsaP256Sha256,
            takedown.statement.canonical_bytes(),
            &bytes,
        )
        .expect("the statement verifies with the platform's signing certificate");
        // Twice: nothing new, the first statement stays.
        let twice = crate::write_tx!(&mut conn, |c| c
            .take_down_listing(k2.id, "cli", "again", &signer))
        .unwrap()
        .unwrap();
        assert_eq!(twice.outcome, PublishOutcome::Unchanged);
        let audit = crate::with_conn!(&mut conn, |c| c.audit_entries(Some("listing.take_down"), 5))
            .unwrap();
        assert_eq!(audit.len(), 1);
        // Neither shows in search.
        let (rows, total) = crate::with_conn!(&mut conn, |c| c.search_listings(&ListingQuery {
            limit: 10,
            ..Default::default()
        }))
        .unwrap();
        assert_eq!((rows.len(), total), (0, 0));
    });

    crate::db_test!(search_applies_the_shared_semantics, |db| {
        use api_types::{PropertyType, TransactionType};
        let mut conn = db.get().unwrap();
        let (agency, serial) = fixtures::active_agency_with_certificate(&mut conn, "Acme");
        let listings = [
            ListingDocument::example("S-1"),
            ListingDocument {
                list_price: 1200,
                transaction_type: TransactionType::Rent,
                city: "Porto".into(),
                district: None,
                title: "Studio 100% renovated".into(),
                ..ListingDocument::example("S-2")
            },
            ListingDocument {
                list_price: 900_000,
                property_type: PropertyType::House,
                bedrooms_total: Some(4),
                rooms_total: Some(7),
                living_area: None,
                ..ListingDocument::example("S-3")
            },
        ];
        for d in &listings {
            fixtures::publish(&mut conn, agency.id, &serial, d).unwrap();
        }
        let search = |conn: &mut crate::db::DbConn, criteria: SearchCriteria, sort| {
            let (rows, total) = crate::with_conn!(conn, |c| c.search_listings(&ListingQuery {
                criteria: criteria.clone(),
                sort,
                offset: 0,
                limit: 10,
                exclude_ids: Vec::new(),
            }))
            .unwrap();
            // The SQL agrees with the reference semantics on every row.
            let expected: Vec<&str> = listings
                .iter()
                .filter(|d| {
                    criteria
                        .normalized()
                        .matches(&api_types::search::ListingFacts::from_document(d))
                })
                .map(|d| d.listing_key.as_str())
                .collect();
            let mut got: Vec<String> = rows.iter().map(|r| r.listing_key.clone()).collect();
            assert_eq!(total as usize, got.len());
            let in_order = got.clone();
            got.sort();
            let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
            want.sort();
            assert_eq!(got, want, "{criteria:?}");
            in_order
        };
        let by_price = search(&mut conn, SearchCriteria::default(), ListingSort::PriceAsc);
        assert_eq!(by_price, ["S-2", "S-1", "S-3"]);
        let newest = search(&mut conn, SearchCriteria::default(), ListingSort::Newest);
        assert_eq!(newest, ["S-3", "S-2", "S-1"]);
        search(
            &mut conn,
            SearchCriteria {
                city: Some("PORTO".into()),
                ..Default::default()
            },
            ListingSort::Newest,
        );
        search(
            &mut conn,
            SearchCriteria {
                keywords: vec!["100%".into()],
                ..Default::default()
            },
            ListingSort::Newest,
        );
        search(
            &mut conn,
            SearchCriteria {
                keywords: vec!["%".into(), "RIVER".into()],
                ..Default::default()
            },
            ListingSort::Newest,
        );
        search(
            &mut conn,
            SearchCriteria {
                min_living_area: Some(10.0),
                ..Default::default()
            },
            ListingSort::Newest,
        );
        search(
            &mut conn,
            SearchCriteria {
                min_bedrooms: Some(3),
                property_types: vec![PropertyType::House],
                ..Default::default()
            },
            ListingSort::Newest,
        );
        search(
            &mut conn,
            SearchCriteria {
                district: Some("alfama".into()),
                max_price: Some(400_000),
                ..Default::default()
            },
            ListingSort::Newest,
        );
        search(
            &mut conn,
            SearchCriteria {
                transaction_type: Some(TransactionType::Rent),
                ..Default::default()
            },
            ListingSort::PriceDesc,
        );
    });

    crate::db_test!(
        search_leaves_out_what_the_user_dismissed_and_pages_stay_full,
        |db| {
            use crate::db::schema::dismissed_listings;
            let mut conn = db.get().unwrap();
            let (agency, serial) = fixtures::active_agency_with_certificate(&mut conn, "Acme");
            let mut ids = Vec::new();
            for i in 0..25 {
                let published =
                    fixtures::publish(&mut conn, agency.id, &serial, &doc(&format!("D-{i:02}")))
                        .unwrap();
                ids.push(published.current.id);
            }
            let user = fixtures::user(&mut conn, "picky@example.org");
            let other = fixtures::user(&mut conn, "other@example.org");
            for id in &ids[..3] {
                crate::with_conn!(&mut conn, |c| diesel::insert_into(
                    dismissed_listings::table
                )
                .values((
                    dismissed_listings::user_id.eq(user),
                    dismissed_listings::listing_id.eq(*id),
                    dismissed_listings::created_at.eq(0_i64),
                ))
                .execute(c))
                .unwrap();
            }
            let dismissed_by = |conn: &mut crate::db::DbConn, u: i64| -> Vec<i64> {
                crate::with_conn!(conn, |c| dismissed_listings::table
                    .filter(dismissed_listings::user_id.eq(u))
                    .select(dismissed_listings::listing_id)
                    .load(c))
                .unwrap()
            };
            let excluded = [
                dismissed_by(&mut conn, user),
                dismissed_by(&mut conn, other),
                Vec::new(),
            ];
            let query = |exclude: &Vec<i64>| ListingQuery {
                sort: ListingSort::PriceAsc,
                limit: 20,
                exclude_ids: exclude.clone(),
                ..Default::default()
            };
            let (rows, total) =
                crate::with_conn!(&mut conn, |c| c.search_listings(&query(&excluded[0]))).unwrap();
            assert_eq!(
                (rows.len(), total),
                (20, 22),
                "a full first page, the count without them"
            );
            assert!(rows.iter().all(|r| !ids[..3].contains(&r.id)));
            for exclude in &excluded[1..] {
                let (rows, total) =
                    crate::with_conn!(&mut conn, |c| c.search_listings(&query(exclude))).unwrap();
                assert_eq!((rows.len(), total), (20, 25), "nothing left out");
            }
        }
    );
}
