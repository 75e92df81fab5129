//! Writes to a listing: publishing a verified document under the versioning rules (stale, same
//! timestamp with other content, idempotent retry, re-sign, update) and an operator's signed
//! take-down and its undoing (restore), each with its change-feed event in the caller's transaction. Reached through
//! [`ListingStore`](super::ListingStore), which documents each rule.

use api_types::api::{ChangeKind, PublishOutcome};
use api_types::{Signable, StandardStatus, TakedownStatement};
use diesel::prelude::*;

use super::PriceHistory;
use crate::audit::{Actor, AuditLog};
use crate::db::schema::{listing_events, listing_takedowns, listings};
use crate::listings::{
    ListingRow, ListingStatus, VerifiedListing, ms_to_time, search_text, time_to_ms,
};
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

/// Which version of a listing a write says it edits: the HTTP preconditions of `PUT` and
/// `DELETE /api/v1/listings/{ListingKey}`. Several desks of one agency edit the same listings, so
/// a change names the version it was made on, and one made on an older version is refused rather
/// than written over another desk's change.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Precondition {
    /// `If-Match: "N"`: the change was made on version N, which must be the current one.
    Version(i64),
    /// `If-None-Match: *`: a first publish; the agency must have no listing with this key yet.
    Absent,
    /// No header (a desk from before versioned publishing), from the desk (certificate lineage)
    /// named: creates a listing; changes an existing one only when this same desk wrote its
    /// current version, so no other desk's change can be overwritten unseen.
    SameDesk(String),
    /// No check of versions (only the timestamp rules): for seeding databases in tests and
    /// benchmarks; the agency API never uses it.
    Unchecked,
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
    /// The write names a version (or "none yet") that is not the current one: another desk of
    /// the agency changed the listing first.
    #[error(
        "listing {key} was changed on the platform since the version this change was made on ({}); it is now {}: look at the current version, then send the change again naming it",
        expected.map_or("none yet".to_owned(), |v| format!("version {v}")),
        current.as_ref().map_or("not on the platform".to_owned(), |r| format!("version {}", r.version))
    )]
    VersionMismatch {
        /// The listing key.
        key: String,
        /// The version the write named (None: it expected no listing).
        expected: Option<i64>,
        /// The listing as stored now (None: there is none).
        current: Option<Box<ListingRow>>,
    },
    /// A write naming no version over a listing whose current version another desk wrote.
    #[error(
        "listing {key} exists on the platform (version {current_version}, last changed by another desk of your agency): send If-Match: \"{current_version}\" with a change made on that version (agency-client does this from this release on; update it)"
    )]
    VersionRequired {
        /// The listing key.
        key: String,
        /// The current version.
        current_version: i64,
    },
    /// A restore of a listing that is not taken down.
    #[error("listing {id} is {status}, not taken down; there is nothing to restore")]
    NotTakenDown {
        /// The listing id.
        id: i64,
        /// Its status code.
        status: String,
    },
    /// The stored signed document could not be read back (a restore needs its status).
    #[error("the stored signed document of {0} cannot be read; it cannot be restored")]
    Unreadable(String),
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

/// The bodies of [`ListingStore::publish_listing`](super::ListingStore::publish_listing) and
/// [`ListingStore::take_down_listing`](super::ListingStore::take_down_listing), for both backends.
pub(super) trait ListingWrites {
    /// See [`ListingStore::publish_listing`](super::ListingStore::publish_listing).
    fn publish_listing(
        &mut self,
        agency_id: i64,
        listing: &VerifiedListing,
        precondition: &Precondition,
    ) -> Result<Published, PublishError>;

    /// See [`ListingStore::take_down_listing`](super::ListingStore::take_down_listing).
    fn take_down_listing(
        &mut self,
        listing_id: i64,
        actor: &Actor,
        reason: &str,
        signer: &PlatformSigner,
    ) -> Result<Option<Published>, PublishError>;

    /// See [`ListingStore::restore_listing`](super::ListingStore::restore_listing).
    fn restore_listing(
        &mut self,
        listing_id: i64,
        actor: &Actor,
        reason: &str,
    ) -> Result<Option<Published>, PublishError>;
}

crate::impl_for_backends!(ListingWrites {
    fn publish_listing(
        &mut self,
        agency_id: i64,
        listing: &VerifiedListing,
        precondition: &Precondition,
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
            listings::price.eq(i64::try_from(doc.list_price.get()).unwrap_or(i64::MAX)),
            listings::currency.eq(doc.currency.as_str()),
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
            .filter(listings::listing_key.eq(doc.listing_key.as_str()))
            .select(ListingRow::as_select())
            .first(self)
            .optional()?;

        if let Some(unchanged) = check_precondition(self, precondition, previous.as_ref(), listing)? {
            return Ok(unchanged);
        }

        let (current, kind) = match &previous {
            None => {
                let inserted = diesel::insert_into(listings::table)
                    .values((
                        listings::agency_id.eq(agency_id),
                        listings::listing_key.eq(doc.listing_key.as_str()),
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
                    None => return Err(PublishError::Concurrent(doc.listing_key.to_string())),
                }
            }
            Some(old) => {
                if old.status() == ListingStatus::TakenDown {
                    return Err(PublishError::TakenDown(doc.listing_key.to_string()));
                }
                let stored = || {
                    ms_to_time(old.modified_at)
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default()
                };
                if modified_at < old.modified_at {
                    return Err(PublishError::Stale {
                        key: doc.listing_key.to_string(),
                        stored: stored(),
                    });
                }
                let mut resign = false;
                if modified_at == old.modified_at {
                    if !same_document(&old.document, listing.canonical()) {
                        return Err(PublishError::SameTimestamp {
                            key: doc.listing_key.to_string(),
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
                    return Err(PublishError::Concurrent(doc.listing_key.to_string()));
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
        self.record_price(
            current.id,
            &super::PricePoint {
                version: current.version,
                price: current.price,
                currency: current.currency.clone(),
                at: now,
            },
        )?;
        let seq = self.append_listing_event(&current, kind, now)?;
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
        actor: &Actor,
        reason: &str,
        signer: &PlatformSigner,
    ) -> Result<Option<Published>, PublishError> {
        let Some(old) = super::ListingStore::find_listing_by_id(self, listing_id)? else {
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
            taken_down_at: ms_to_time(now),
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
        let seq = self.append_listing_event(&current, ChangeKind::TakenDown, now)?;
        self.audit(
            actor,
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

    fn restore_listing(
        &mut self,
        listing_id: i64,
        actor: &Actor,
        reason: &str,
    ) -> Result<Option<Published>, PublishError> {
        let Some(old) = super::ListingStore::find_listing_by_id(self, listing_id)? else {
            return Ok(None);
        };
        if old.status() != ListingStatus::TakenDown {
            return Err(PublishError::NotTakenDown {
                id: listing_id,
                status: old.status,
            });
        }
        // Back to the status the agency signed (Active, Sold, Withdrawn…), read from the document
        // its signature covers.
        let signed = old
            .object()
            .map_err(|e| PublishError::Unreadable(format!("listing {listing_id}: {e}")))?;
        let status = ListingStatus::Market(signed.get().standard_status);
        let now = crate::db::now_ms();
        let current = diesel::update(
            listings::table
                .filter(listings::id.eq(listing_id))
                .filter(listings::version.eq(old.version)),
        )
        .set((
            listings::status.eq(status.code()),
            listings::version.eq(old.version + 1),
            listings::updated_at.eq(now),
            listings::taken_down_at.eq(None::<i64>),
            listings::takedown_reason.eq(None::<String>),
        ))
        .returning(ListingRow::as_returning())
        .get_result(self)
        .optional()?
        .ok_or_else(|| PublishError::Concurrent(old.listing_key.clone()))?;
        diesel::delete(listing_takedowns::table.filter(listing_takedowns::listing_id.eq(listing_id)))
            .execute(self)?;
        let seq = self.append_listing_event(&current, ChangeKind::StatusChanged, now)?;
        self.audit(
            actor,
            "listing.restore",
            Some(&listing_id.to_string()),
            serde_json::json!({
                "agency_id": current.agency_id,
                "listing_key": current.listing_key,
                "version": current.version,
                "status": current.status,
                "reason": reason,
                "taken_down_for": old.takedown_reason,
            }),
        )?;
        Ok(Some(Published {
            outcome: PublishOutcome::Updated,
            kind: Some(ChangeKind::StatusChanged),
            sequence: Some(seq),
            previous: Some(old),
            current,
        }))
    }
});

/// Appending a listing's change-feed event, for both backends.
trait FeedLog {
    /// Appends the event `kind` of `row` (at its current version) at `at` (ms), numbered by the
    /// counter row locked in commit order; returns its sequence number.
    fn append_listing_event(
        &mut self,
        row: &ListingRow,
        kind: ChangeKind,
        at: i64,
    ) -> QueryResult<i64>;
}

crate::impl_for_backends!(FeedLog {
    fn append_listing_event(
        &mut self,
        row: &ListingRow,
        kind: ChangeKind,
        at: i64,
    ) -> QueryResult<i64> {
        let seq = self.next_counter("listing_events")?;
        diesel::insert_into(listing_events::table)
            .values((
                listing_events::seq.eq(seq),
                listing_events::listing_id.eq(row.id),
                listing_events::agency_id.eq(row.agency_id),
                listing_events::listing_key.eq(&row.listing_key),
                listing_events::kind.eq(kind.code()),
                listing_events::version.eq(row.version),
                listing_events::at.eq(at),
            ))
            .execute(self)?;
        Ok(seq)
    }
});

/// Checks `precondition` against the stored row (`previous`). `Ok(Some)` is an idempotent retry
/// answered as unchanged (the stored version is exactly this document from this certificate: a
/// repeated request whose first answer was lost); `Ok(None)` lets the write go on.
fn check_precondition<C: crate::pki::CertificateStore>(
    conn: &mut C,
    precondition: &Precondition,
    previous: Option<&ListingRow>,
    listing: &VerifiedListing,
) -> Result<Option<Published>, PublishError> {
    let key = || listing.document().listing_key.to_string();
    let Some(old) = previous else {
        return match precondition {
            Precondition::Version(v) => Err(PublishError::VersionMismatch {
                key: key(),
                expected: Some(*v),
                current: None,
            }),
            _ => Ok(None),
        };
    };
    let matches = match precondition {
        Precondition::Unchecked => return Ok(None),
        Precondition::Version(v) => *v == old.version,
        Precondition::Absent => false,
        Precondition::SameDesk(desk) => {
            let stored_desk = conn
                .find_certificate(&old.cert_serial)?
                .map(|c| c.desk().to_owned());
            stored_desk.as_deref() == Some(desk.as_str())
        }
    };
    if matches || old.status() == ListingStatus::TakenDown {
        // A taken-down listing is refused by the rules that follow, whatever version is named.
        return Ok(None);
    }
    if old.cert_serial == listing.cert_serial() && same_document(&old.document, listing.canonical())
    {
        return Ok(Some(Published {
            outcome: PublishOutcome::Unchanged,
            kind: None,
            sequence: None,
            previous: Some(old.clone()),
            current: old.clone(),
        }));
    }
    match precondition {
        Precondition::SameDesk(_) => Err(PublishError::VersionRequired {
            key: key(),
            current_version: old.version,
        }),
        Precondition::Version(v) => Err(PublishError::VersionMismatch {
            key: key(),
            expected: Some(*v),
            current: Some(Box::new(old.clone())),
        }),
        _ => Err(PublishError::VersionMismatch {
            key: key(),
            expected: None,
            current: Some(Box::new(old.clone())),
        }),
    }
}

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
