//! Listings on the platform: what agencies publish, kept with the agency's signature, versioned,
//! and announced on the change feed.
//!
//! Three layers, converted here and nowhere else: the wire document
//! ([`api_types::ListingDocument`]), the verified domain value ([`VerifiedListing`]) and the
//! database row ([`ListingRow`]).

mod holds;
mod store;

pub use holds::ListingHolds;
pub use store::{COUNT_CAP, ListingQuery, ListingSort, ListingStore, PublishError, Published};

use api_types::api::{ChangeEvent, ChangeKind};
use api_types::search::{ListingFacts, normalize};
use api_types::{ListingDocument, SignatureEnvelope, StandardStatus};
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::listings;

/// The platform's status of a listing: the agency's market status, or taken down by an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ListingStatus {
    /// As the agency set it.
    Market(StandardStatus),
    /// Removed by an operator; the agency cannot bring it back.
    TakenDown,
}

impl ListingStatus {
    /// The code stored in `listings.status`.
    pub fn code(self) -> &'static str {
        match self {
            ListingStatus::Market(s) => s.code(),
            ListingStatus::TakenDown => "taken_down",
        }
    }

    /// Parses [`ListingStatus::code`].
    pub fn from_code(code: &str) -> Option<ListingStatus> {
        if code == "taken_down" {
            Some(ListingStatus::TakenDown)
        } else {
            StandardStatus::from_code(code).map(ListingStatus::Market)
        }
    }

    /// True when the listing shows in searches and alerts.
    pub fn is_active(self) -> bool {
        self == ListingStatus::Market(StandardStatus::Active)
    }
}

/// A listing whose document passed validation and whose signature was verified against the
/// certificate `cert_serial` (the API builds these only after both checks).
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedListing {
    document: ListingDocument,
    canonical: String,
    signature: SignatureEnvelope,
    cert_serial: String,
}

impl VerifiedListing {
    /// Wraps a document whose validity and signature the caller has checked.
    pub fn new(
        document: ListingDocument,
        signature: SignatureEnvelope,
        cert_serial: impl Into<String>,
    ) -> VerifiedListing {
        let canonical =
            String::from_utf8(document.canonical_bytes()).expect("canonical JSON is UTF-8");
        VerifiedListing {
            document,
            canonical,
            signature,
            cert_serial: cert_serial.into(),
        }
    }

    /// The document.
    pub fn document(&self) -> &ListingDocument {
        &self.document
    }

    /// The canonical JSON the signature covers.
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// The signature.
    pub fn signature(&self) -> &SignatureEnvelope {
        &self.signature
    }

    /// Serial of the certificate whose key signed.
    pub fn cert_serial(&self) -> &str {
        &self.cert_serial
    }
}

/// A row of `listings`.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = listings)]
pub struct ListingRow {
    /// Platform id.
    pub id: i64,
    /// Owning agency.
    pub agency_id: i64,
    /// The agency's key.
    pub listing_key: String,
    /// Increases by one with every change.
    pub version: i64,
    /// Status code (see [`ListingStatus`]).
    pub status: String,
    /// `sale` or `rent`.
    pub transaction_type: String,
    /// Property type code.
    pub property_type: String,
    /// City as written.
    pub city: String,
    /// City normalised.
    pub city_key: String,
    /// District as written.
    pub district: Option<String>,
    /// District normalised.
    pub district_key: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// One-line address.
    pub address: Option<String>,
    /// Price in whole currency units.
    pub price: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// m².
    pub living_area: Option<f64>,
    /// Rooms.
    pub rooms: Option<i32>,
    /// Bedrooms.
    pub bedrooms: Option<i32>,
    /// Bathrooms.
    pub bathrooms: Option<i32>,
    /// Headline.
    pub title: String,
    /// Description.
    pub description: String,
    /// JSON array of photo URLs.
    pub media: String,
    /// Normalised title, newline, normalised description.
    pub search_text: String,
    /// The agency's ModificationTimestamp (ms).
    pub modified_at: i64,
    /// The canonical JSON the agency signed.
    pub document: String,
    /// Base64 signature over `document`.
    pub signature: String,
    /// Signature algorithm name.
    pub signature_alg: String,
    /// Certificate whose key signed.
    pub cert_serial: String,
    /// First published (ms).
    pub created_at: i64,
    /// Last changed (ms).
    pub updated_at: i64,
    /// When an operator took it down (ms).
    pub taken_down_at: Option<i64>,
    /// Why it was taken down.
    pub takedown_reason: Option<String>,
    /// When it was held out of search and alerts because its signing key was reported
    /// compromised (ms); None once the agency signed it again.
    pub held_at: Option<i64>,
}

impl ListingRow {
    /// The platform status.
    pub fn status(&self) -> ListingStatus {
        ListingStatus::from_code(&self.status).unwrap_or(ListingStatus::TakenDown)
    }

    /// The signed document as the agency sent it.
    pub fn document(&self) -> Result<ListingDocument, serde_json::Error> {
        serde_json::from_str(&self.document)
    }

    /// The stored signature.
    pub fn signature_envelope(&self) -> Option<SignatureEnvelope> {
        Some(SignatureEnvelope {
            algorithm: api_types::SignatureAlgorithm::from_name(&self.signature_alg)?,
            value: self.signature.clone(),
        })
    }

    /// Photo URLs in display order.
    pub fn media_urls(&self) -> Vec<String> {
        serde_json::from_str(&self.media).unwrap_or_default()
    }

    /// The facts matching looks at, read from the columns (no JSON parsing). A withdrawn,
    /// taken-down or held listing reads as not active (so signing a held listing again brings it
    /// back on the market for alerts).
    pub fn facts(&self) -> ListingFacts {
        let (title, description) = self
            .search_text
            .split_once('\n')
            .unwrap_or((&self.search_text, ""));
        ListingFacts {
            transaction_type: api_types::TransactionType::from_code(&self.transaction_type)
                .unwrap_or(api_types::TransactionType::Sale),
            property_type: api_types::PropertyType::from_code(&self.property_type)
                .unwrap_or(api_types::PropertyType::Other),
            status: match self.status() {
                _ if self.held_at.is_some() => StandardStatus::Withdrawn,
                ListingStatus::Market(s) => s,
                ListingStatus::TakenDown => StandardStatus::Withdrawn,
            },
            city: self.city_key.clone(),
            district: self.district_key.clone(),
            price: u64::try_from(self.price).unwrap_or(0),
            living_area: self.living_area,
            bedrooms: self.bedrooms.and_then(|b| u32::try_from(b).ok()),
            title: title.to_owned(),
            description: description.to_owned(),
        }
    }

    /// The change-feed event for sequence `seq` of kind `kind`, showing the listing as it is now.
    pub fn change_event(
        &self,
        seq: i64,
        kind: ChangeKind,
        at_ms: i64,
        agency_name: &str,
    ) -> ChangeEvent {
        let status = self.status();
        let gone = matches!(
            status,
            ListingStatus::TakenDown | ListingStatus::Market(StandardStatus::Withdrawn)
        );
        ChangeEvent {
            entity_event_sequence: seq,
            event_type: kind,
            list_office_key: self.agency_id.to_string(),
            list_office_name: agency_name.to_owned(),
            listing_key: self.listing_key.clone(),
            version: self.version,
            event_timestamp: ms_to_time(at_ms),
            listing: if gone { None } else { self.document().ok() },
            signature: if gone {
                None
            } else {
                self.signature_envelope()
            },
            certificate_serial: (!gone).then(|| self.cert_serial.clone()),
            status: status.code().to_owned(),
        }
    }
}

/// Normalised title and description joined by a newline: a keyword (which never contains a
/// newline) is a substring of this exactly when it is one of the title or of the description.
pub fn search_text(doc: &ListingDocument) -> String {
    format!(
        "{}\n{}",
        normalize(&doc.title),
        normalize(&doc.public_remarks)
    )
}

/// Milliseconds since the epoch as a UTC time.
pub fn ms_to_time(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// A time as milliseconds since the epoch.
pub fn time_to_ms(t: time::OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}
