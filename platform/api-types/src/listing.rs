//! The listing document an agency publishes, with field names from the RESO Data Dictionary
//! where one fits (ListingKey, ListPrice, BedroomsTotal, LivingArea, City, PostalCode,
//! StandardStatus, ModificationTimestamp, PublicRemarks, Media/MediaURL, …).
//!
//! The key, the price and the currency are types that can only hold a valid value
//! ([`ListingKey`], [`Price`], [`CurrencyCode`]): built by their `parse`/`new`, or by serde
//! through the same check, so reading a document refuses a bad one and names the field.
//! [`ListingDocument::validate`] checks the rest (texts, counts, photos, the timestamp); together
//! they are the single definition of a well-formed listing: the platform refuses any other with a
//! [`FieldError`] naming the field, and the client checks the same rules before it signs.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Largest accepted price, in whole currency units.
pub const MAX_PRICE: u64 = 1_000_000_000_000;
/// Largest accepted living area, in square metres.
pub const MAX_LIVING_AREA: f64 = 100_000.0;
/// Most photos per listing.
pub const MAX_MEDIA: usize = 50;

/// Sale or rent.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TransactionType {
    /// For sale.
    Sale,
    /// For rent (lease).
    Rent,
}

impl TransactionType {
    /// Every value, in display order.
    pub const ALL: [TransactionType; 2] = [TransactionType::Sale, TransactionType::Rent];

    /// The lowercase code stored in databases and used in URLs (`sale`, `rent`).
    pub fn code(self) -> &'static str {
        match self {
            TransactionType::Sale => "sale",
            TransactionType::Rent => "rent",
        }
    }

    /// Parses [`TransactionType::code`] (case-insensitive) or the wire name.
    pub fn from_code(code: &str) -> Option<TransactionType> {
        TransactionType::ALL
            .into_iter()
            .find(|t| t.code().eq_ignore_ascii_case(code.trim()))
    }
}

/// The kind of property.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PropertyType {
    /// A flat in a building.
    Apartment,
    /// A detached or semi-detached house.
    House,
    /// A terraced house or townhouse.
    Townhouse,
    /// A plot of land.
    Land,
    /// Offices, shops, industrial.
    Commercial,
    /// A garage or parking space.
    Parking,
    /// A room in a shared home.
    Room,
    /// Anything else.
    Other,
}

impl PropertyType {
    /// Every value, in display order.
    pub const ALL: [PropertyType; 8] = [
        PropertyType::Apartment,
        PropertyType::House,
        PropertyType::Townhouse,
        PropertyType::Land,
        PropertyType::Commercial,
        PropertyType::Parking,
        PropertyType::Room,
        PropertyType::Other,
    ];

    /// The lowercase code stored in databases and used in URLs.
    pub fn code(self) -> &'static str {
        match self {
            PropertyType::Apartment => "apartment",
            PropertyType::House => "house",
            PropertyType::Townhouse => "townhouse",
            PropertyType::Land => "land",
            PropertyType::Commercial => "commercial",
            PropertyType::Parking => "parking",
            PropertyType::Room => "room",
            PropertyType::Other => "other",
        }
    }

    /// Parses [`PropertyType::code`] (case-insensitive).
    pub fn from_code(code: &str) -> Option<PropertyType> {
        PropertyType::ALL
            .into_iter()
            .find(|t| t.code().eq_ignore_ascii_case(code.trim()))
    }

    /// Position in [`PropertyType::ALL`], for bitsets.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Where a listing stands. Only `Active` listings appear in searches and alerts.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StandardStatus {
    /// On the market.
    Active,
    /// An offer has been accepted; not yet closed.
    UnderOffer,
    /// Sold (sale listings).
    Sold,
    /// Rented (rent listings).
    Rented,
    /// Taken off the market by the agency.
    Withdrawn,
}

impl StandardStatus {
    /// Every value.
    pub const ALL: [StandardStatus; 5] = [
        StandardStatus::Active,
        StandardStatus::UnderOffer,
        StandardStatus::Sold,
        StandardStatus::Rented,
        StandardStatus::Withdrawn,
    ];

    /// The snake_case code stored in databases.
    pub fn code(self) -> &'static str {
        match self {
            StandardStatus::Active => "active",
            StandardStatus::UnderOffer => "under_offer",
            StandardStatus::Sold => "sold",
            StandardStatus::Rented => "rented",
            StandardStatus::Withdrawn => "withdrawn",
        }
    }

    /// Parses [`StandardStatus::code`] (case-insensitive; `-` and ` ` count as `_`).
    pub fn from_code(code: &str) -> Option<StandardStatus> {
        let code = code.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        StandardStatus::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// Why a value was refused, with what would be right; the field is named where it is read (by
/// the newtype's `parse`, or by the path serde was at).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(&'static str);

impl InvalidValue {
    /// What is wrong and what would be right.
    pub fn message(&self) -> &'static str {
        self.0
    }

    fn in_field(self, field: &str) -> FieldError {
        FieldError::new(field, self.0)
    }
}

/// The agency's own key for a listing: 1 to 64 of `A-Z a-z 0-9 . _ -` (see
/// [`is_valid_listing_key`]). Sent as a JSON string.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct ListingKey(String);

/// Written as the bare value (`"K-1"`, `350000`), as messages showed it when it was plain.
impl std::fmt::Debug for ListingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl ListingKey {
    const RULE: &'static str = "must be 1 to 64 characters of letters, digits, '.', '_' or '-'";

    /// Checks a key; a bad one is a [`FieldError`] naming `ListingKey`.
    pub fn parse(key: impl Into<String>) -> Result<ListingKey, FieldError> {
        ListingKey::try_from(key.into()).map_err(|e| e.in_field("ListingKey"))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ListingKey {
    type Error = InvalidValue;

    fn try_from(key: String) -> Result<ListingKey, InvalidValue> {
        if is_valid_listing_key(&key) {
            Ok(ListingKey(key))
        } else {
            Err(InvalidValue(ListingKey::RULE))
        }
    }
}

impl std::ops::Deref for ListingKey {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for ListingKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ListingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ListingKey> for String {
    fn from(key: ListingKey) -> String {
        key.0
    }
}

impl PartialEq<str> for ListingKey {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ListingKey {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for ListingKey {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

/// An asking price (sale) or monthly rent in whole currency units: 1 to [`MAX_PRICE`]. Sent as
/// a JSON integer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u64")]
pub struct Price(u64);

/// Written as the bare value (`"K-1"`, `350000`), as messages showed it when it was plain.
impl std::fmt::Debug for Price {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl Price {
    const RULE: &'static str = "must be between 1 and 1000000000000";

    /// Checks a price; a bad one is a [`FieldError`] naming `ListPrice`.
    pub fn new(units: u64) -> Result<Price, FieldError> {
        Price::try_from(units).map_err(|e| e.in_field("ListPrice"))
    }

    /// The price in whole currency units.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl TryFrom<u64> for Price {
    type Error = InvalidValue;

    fn try_from(units: u64) -> Result<Price, InvalidValue> {
        if units == 0 || units > MAX_PRICE {
            Err(InvalidValue(Price::RULE))
        } else {
            Ok(Price(units))
        }
    }
}

impl From<Price> for u64 {
    fn from(price: Price) -> u64 {
        price.0
    }
}

impl std::fmt::Display for Price {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// An ISO 4217 currency code: three capital letters (`EUR`). Sent as a JSON string.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct CurrencyCode(String);

/// Written as the bare value (`"K-1"`, `350000`), as messages showed it when it was plain.
impl std::fmt::Debug for CurrencyCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl CurrencyCode {
    const RULE: &'static str = "must be an ISO 4217 code of three capital letters, e.g. EUR";

    /// Checks a code; a bad one is a [`FieldError`] naming `Currency`.
    pub fn parse(code: impl Into<String>) -> Result<CurrencyCode, FieldError> {
        CurrencyCode::try_from(code.into()).map_err(|e| e.in_field("Currency"))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CurrencyCode {
    type Error = InvalidValue;

    fn try_from(code: String) -> Result<CurrencyCode, InvalidValue> {
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(CurrencyCode(code))
        } else {
            Err(InvalidValue(CurrencyCode::RULE))
        }
    }
}

impl std::ops::Deref for CurrencyCode {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for CurrencyCode {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for CurrencyCode {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for CurrencyCode {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// One photo.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaItem {
    /// `https://` (or `http://`) address of the image.
    #[serde(rename = "MediaURL")]
    pub media_url: String,
}

/// A listing as its agency publishes and signs it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListingDocument {
    /// The agency's own key for the listing.
    pub listing_key: ListingKey,
    /// Sale or rent.
    pub transaction_type: TransactionType,
    /// Kind of property.
    pub property_type: PropertyType,
    /// Market status.
    pub standard_status: StandardStatus,
    /// Town or city.
    pub city: String,
    /// District or neighbourhood within the city.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub district: Option<String>,
    /// Postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// Street address as one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unparsed_address: Option<String>,
    /// Asking price (sale) or monthly rent, in whole units of `Currency`.
    pub list_price: Price,
    /// ISO 4217 code, three capital letters (`EUR`).
    pub currency: CurrencyCode,
    /// Living area in square metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub living_area: Option<f64>,
    /// Number of rooms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rooms_total: Option<u32>,
    /// Number of bedrooms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bedrooms_total: Option<u32>,
    /// Number of bathrooms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bathrooms_total_integer: Option<u32>,
    /// A one-line headline.
    pub title: String,
    /// The description shown to the public.
    #[serde(default)]
    pub public_remarks: String,
    /// Photos, in display order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<MediaItem>,
    /// When the agency last changed the listing (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub modification_timestamp: OffsetDateTime,
}

/// What is wrong with one field of a document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The field's wire name, e.g. `ListPrice` or `Media[2].MediaURL`.
    pub field: String,
    /// What is wrong and what would be right.
    pub message: String,
}

impl FieldError {
    /// An error for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// True for a valid listing key: 1 to 64 of `A-Z a-z 0-9 . _ -`.
pub fn is_valid_listing_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn text(field: &str, value: &str, min: usize, max: usize) -> Result<(), FieldError> {
    let len = value.chars().count();
    if value.trim() != value {
        return Err(FieldError::new(field, "must not start or end with spaces"));
    }
    if len < min {
        return Err(FieldError::new(
            field,
            if min == 1 {
                "must not be empty".to_owned()
            } else {
                format!("must have at least {min} characters")
            },
        ));
    }
    if len > max {
        return Err(FieldError::new(
            field,
            format!("must have at most {max} characters (has {len})"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    if let Some(c) = value.chars().find(|&c| hidden(c)) {
        return Err(FieldError::new(
            field,
            format!(
                "must not contain invisible or direction-overriding characters (U+{:04X}): they \
                 can make the text read differently from what it says",
                c as u32
            ),
        ));
    }
    Ok(())
}

/// Characters that change how text reads without being seen: the bidirectional embeddings,
/// overrides and isolates (U+202A–U+202E, U+2066–U+2069: "Trojan Source") and the invisible
/// spaces and operators (zero-width space U+200B, word joiner and invisible operators
/// U+2060–U+2064, zero-width no-break space U+FEFF, Mongolian vowel separator U+180E).
/// The joiners U+200C/U+200D (needed by Persian, Indic scripts and emoji) and the plain
/// direction marks U+200E/U+200F are allowed.
fn hidden(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200B}'
            | '\u{2060}'..='\u{2064}'
            | '\u{FEFF}'
            | '\u{180E}'
    )
}

fn optional_text(field: &str, value: &Option<String>, max: usize) -> Result<(), FieldError> {
    match value {
        Some(v) => text(field, v, 1, max),
        None => Ok(()),
    }
}

fn count(field: &str, value: Option<u32>, max: u32) -> Result<(), FieldError> {
    match value {
        Some(v) if v > max => Err(FieldError::new(field, format!("must be at most {max}"))),
        _ => Ok(()),
    }
}

impl ListingDocument {
    /// Checks every field the types do not (the key, price and currency are valid by
    /// construction); the first problem is returned with the field's wire name.
    pub fn validate(&self) -> Result<(), FieldError> {
        text("City", &self.city, 1, 100)?;
        optional_text("District", &self.district, 100)?;
        optional_text("PostalCode", &self.postal_code, 16)?;
        optional_text("UnparsedAddress", &self.unparsed_address, 200)?;
        if let Some(area) = self.living_area
            && (!area.is_finite() || area <= 0.0 || area > MAX_LIVING_AREA)
        {
            return Err(FieldError::new(
                "LivingArea",
                format!("must be more than 0 and at most {MAX_LIVING_AREA} square metres"),
            ));
        }
        count("RoomsTotal", self.rooms_total, 500)?;
        count("BedroomsTotal", self.bedrooms_total, 200)?;
        count("BathroomsTotalInteger", self.bathrooms_total_integer, 200)?;
        if let (Some(bedrooms), Some(rooms)) = (self.bedrooms_total, self.rooms_total)
            && bedrooms > rooms
        {
            return Err(FieldError::new(
                "BedroomsTotal",
                "cannot be more than RoomsTotal",
            ));
        }
        text("Title", &self.title, 1, 200)?;
        if !self.public_remarks.is_empty() {
            text("PublicRemarks", &self.public_remarks, 1, 10_000)?;
        }
        if self.media.len() > MAX_MEDIA {
            return Err(FieldError::new(
                "Media",
                format!("at most {MAX_MEDIA} photos"),
            ));
        }
        for (i, item) in self.media.iter().enumerate() {
            let url = &item.media_url;
            let field = format!("Media[{i}].MediaURL");
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"));
            match rest {
                Some(rest)
                    if !rest.is_empty()
                        && url.len() <= 2048
                        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
                        && !rest.starts_with('/') => {}
                _ => {
                    return Err(FieldError::new(
                        field,
                        "must be an https:// or http:// address without spaces, at most 2048 characters",
                    ));
                }
            }
        }
        let year = self.modification_timestamp.year();
        if !(2000..=9999).contains(&year) {
            return Err(FieldError::new(
                "ModificationTimestamp",
                "must be an RFC 3339 time after the year 2000",
            ));
        }
        if self.modification_timestamp > OffsetDateTime::now_utc() + time::Duration::days(1) {
            return Err(FieldError::new(
                "ModificationTimestamp",
                "lies in the future; check the clock of the sending computer",
            ));
        }
        Ok(())
    }

    /// The RFC 8785 bytes of this document as serde writes it (optional members left out when
    /// absent): what a signer signs when it sends [`crate::ListingObject::new`] of it.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        crate::canonical::to_vec(self).expect("a listing document always serialises")
    }

    /// Whether the listing is on the market.
    pub fn is_active(&self) -> bool {
        self.standard_status == StandardStatus::Active
    }

    /// A realistic valid listing for tests and examples.
    pub fn example(key: &str) -> ListingDocument {
        ListingDocument {
            listing_key: ListingKey::parse(key).expect("an example key is valid"),
            transaction_type: TransactionType::Sale,
            property_type: PropertyType::Apartment,
            standard_status: StandardStatus::Active,
            city: "Lisbon".to_owned(),
            district: Some("Alfama".to_owned()),
            postal_code: Some("1100-001".to_owned()),
            unparsed_address: Some("Rua dos Remédios 12".to_owned()),
            list_price: Price(350_000),
            currency: CurrencyCode("EUR".to_owned()),
            living_area: Some(84.5),
            rooms_total: Some(4),
            bedrooms_total: Some(2),
            bathrooms_total_integer: Some(1),
            title: "Bright two-bedroom flat with river view".to_owned(),
            public_remarks: "Renovated in 2024, balcony facing the Tagus, close to the tram."
                .to_owned(),
            media: vec![MediaItem {
                media_url: "https://photos.example/alfama-12/1.jpg".to_owned(),
            }],
            modification_timestamp: OffsetDateTime::from_unix_timestamp(1_790_000_000)
                .expect("valid timestamp"),
        }
    }
}

#[cfg(test)]
mod tests;
