//! Listings on the platform: what agencies publish, kept with the agency's signature, versioned,
//! and announced on the change feed.
//!
//! Three layers, converted here and nowhere else: the wire document
//! ([`api_types::ListingObject`], the object as its agency sent it), the verified domain value
//! ([`VerifiedListing`]) and the database row ([`ListingRow`]).
//!
//! A signature covers the RFC 8785 form of the listing object **as received**
//! ([`api_types::canonical`]); those exact bytes are what `listings.document` keeps and what
//! the change feed, search and `GET /api/v1/listings/{key}` serve, so anyone re-running RFC 8785
//! over the served object gets the signed bytes. Rows stored before RFC 8785 hold the older
//! canonical form their signature covers; served as they are, they still verify
//! ([`api_types::canonical::legacy_form_for_verification_only`]).

mod holds;
pub mod operator;
mod store;

pub use holds::ListingHolds;
pub use store::{
    COUNT_CAP, ListingQuery, ListingSort, ListingStore, PRICE_HISTORY_SHOWN, Precondition,
    PriceHistory, PricePoint, PublishError, Published,
};

use api_types::api::{ChangeEvent, ChangeKind};
use api_types::search::{ListingFacts, normalize};
use api_types::{
    FieldError, ListingDocument, ListingObject, SignatureEnvelope, SignedTakedown, StandardStatus,
    TakedownStatement,
};
use base64::Engine;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{listing_takedowns, listings};

/// The platform's status of a listing: the agency's market status, or taken down by an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ListingStatus {
    /// As the agency set it.
    Market(StandardStatus),
    /// Removed by an operator; the agency cannot bring it back (an operator can restore it).
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

/// A listing whose signature verified over the RFC 8785 form of the listing object as sent,
/// with the key of certificate `cert_serial`, and whose document then passed validation. The
/// only way to make one is [`VerifiedListing::verify`].
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedListing {
    document: ListingDocument,
    canonical: String,
    signature: SignatureEnvelope,
    cert_serial: String,
}

/// Why a signed listing was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ListingRefusal {
    /// The listing object is not one (a member named twice, a number out of range, a wrong
    /// type, a field that fails validation); `field` is relative to the listing object.
    #[error("{0}")]
    Field(FieldError),
    /// The signature value is not standard base64.
    #[error("the signature value is not standard base64")]
    SignatureEncoding,
    /// The signature does not verify over the canonical bytes with the certificate's key.
    #[error(
        "the signature does not verify over the RFC 8785 form of the listing as sent (SHA-256 {canonical_sha256})"
    )]
    BadSignature {
        /// SHA-256 (lowercase hex) of the canonical bytes the signature was checked against.
        canonical_sha256: String,
    },
}

impl VerifiedListing {
    /// Checks a listing as received: `listing_text` is the listing object exactly as sent; the
    /// signature must verify over its RFC 8785 form with the public key of `certificate_der`
    /// (whose serial is `cert_serial`); only then is the document read and validated.
    pub fn verify(
        listing_text: &str,
        signature: SignatureEnvelope,
        certificate_der: &[u8],
        cert_serial: &str,
    ) -> Result<VerifiedListing, ListingRefusal> {
        let field = |e: api_types::canonical::CanonicalError| {
            ListingRefusal::Field(FieldError::new(e.path(), e.to_string()))
        };
        let tree = api_types::canonical::parse_strict(listing_text).map_err(field)?;
        if !tree.is_object() {
            return Err(ListingRefusal::Field(FieldError::new(
                "",
                "the listing must be a JSON object",
            )));
        }
        let canonical = api_types::canonical::canonicalize(&tree).map_err(field)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(signature.value.trim())
            .map_err(|_| ListingRefusal::SignatureEncoding)?;
        ca::sign::verify_with_certificate(certificate_der, signature.algorithm, &canonical, &bytes)
            .map_err(|_| ListingRefusal::BadSignature {
                canonical_sha256: api_types::canonical::sha256_hex(&canonical),
            })?;
        let document: ListingDocument =
            api_types::envelope::read_typed(&tree).map_err(ListingRefusal::Field)?;
        document.validate().map_err(ListingRefusal::Field)?;
        Ok(VerifiedListing {
            document,
            canonical: String::from_utf8(canonical).expect("canonical JSON is UTF-8"),
            signature,
            cert_serial: cert_serial.to_owned(),
        })
    }

    /// The document.
    pub fn document(&self) -> &ListingDocument {
        &self.document
    }

    /// The RFC 8785 bytes the signature covers (what `listings.document` keeps).
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

/// A row of `listing_takedowns`: an operator's take-down statement as the platform signed it.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = listing_takedowns)]
pub struct TakedownRow {
    /// The listing taken down.
    pub listing_id: i64,
    /// The [`TakedownStatement`] in RFC 8785 form: exactly the signed bytes.
    pub statement: String,
    /// Base64 signature over `statement` by the platform's document-signing key.
    pub signature: String,
    /// Its algorithm name.
    pub signature_alg: String,
    /// Serial of the platform's document-signing certificate that signed it.
    pub cert_serial: String,
    /// When it was recorded (ms).
    pub created_at: i64,
}

impl TakedownRow {
    /// The statement with its signature, as the change feed carries it.
    pub fn signed(&self) -> Option<SignedTakedown> {
        let statement = match api_types::Signable::<TakedownStatement>::parse(&self.statement) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(listing = self.listing_id, error = %e, "stored take-down statement unreadable");
                return None;
            }
        };
        Some(SignedTakedown {
            statement,
            signature: SignatureEnvelope {
                algorithm: api_types::SignatureAlgorithm::from_name(&self.signature_alg)?,
                value: self.signature.clone(),
            },
            certificate_serial: self.cert_serial.clone(),
        })
    }
}

impl ListingRow {
    /// The platform status.
    pub fn status(&self) -> ListingStatus {
        ListingStatus::from_code(&self.status).unwrap_or(ListingStatus::TakenDown)
    }

    /// The signed listing object as stored (the bytes its signature covers).
    pub fn object(&self) -> Result<ListingObject, FieldError> {
        ListingObject::parse(&self.document)
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

    /// The change-feed event for sequence `seq` of kind `kind`, showing the listing as it is now
    /// (with `takedown`, its signed take-down statement, once taken down).
    pub fn change_event(
        &self,
        seq: i64,
        kind: ChangeKind,
        at_ms: i64,
        agency_name: &str,
        takedown: Option<&TakedownRow>,
    ) -> ChangeEvent {
        let status = self.status();
        // A withdrawn listing carries its agency's signed Withdrawn document (the proof of the
        // withdrawal); a taken-down one only the platform's signed statement.
        let gone = status == ListingStatus::TakenDown;
        // The event shows the listing as it is now: a take-down an operator has since undone
        // (the listing restored) reads as a status change, so a desk reading it after the
        // restore is not asked to remove, without a statement, a listing that is back.
        let kind = if kind == ChangeKind::TakenDown && !gone {
            ChangeKind::StatusChanged
        } else {
            kind
        };
        let listing = if gone {
            None
        } else {
            match self.object() {
                Ok(object) => Some(object),
                Err(e) => {
                    tracing::error!(listing = self.id, error = %e, "stored listing document unreadable");
                    None
                }
            }
        };
        ChangeEvent {
            entity_event_sequence: seq,
            event_type: kind,
            list_office_key: self.agency_id.to_string(),
            list_office_name: agency_name.to_owned(),
            listing_key: self.listing_key.clone(),
            version: self.version,
            event_timestamp: ms_to_time(at_ms),
            signature: listing.as_ref().and_then(|_| self.signature_envelope()),
            certificate_serial: listing.as_ref().map(|_| self.cert_serial.clone()),
            listing,
            status: status.code().to_owned(),
            takedown: takedown.filter(|_| gone).and_then(TakedownRow::signed),
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
