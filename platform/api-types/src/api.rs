//! Request and response bodies of the agency API (the port with mutual TLS) and its change feed.
//! Errors from any route have the shape [`ErrorBody`].

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::envelope::{ListingObject, SignatureEnvelope, SignedTakedown};

/// `POST /api/v1/enroll`: a one-time enrolment token and a PKCS#10 CSR (PEM). The private key
/// stays with the client.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The token an operator issued after vetting the agency.
    pub token: String,
    /// `-----BEGIN CERTIFICATE REQUEST-----…`
    pub csr: String,
}

/// The answer to enrolment and to renewal.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateResponse {
    /// PEM: the new client certificate, then the issuing CA.
    pub certificate: String,
    /// Serial of the new certificate, lowercase hex.
    #[serde(default)]
    pub serial: String,
    /// The agency the certificate belongs to.
    #[serde(default)]
    pub agency_id: i64,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub not_after: Option<OffsetDateTime>,
}

/// `POST /api/v1/enroll/check`: which agency a one-time enrolment token enrols into, asked
/// before enrolling (the token is not spent), so a desk already enrolled with one agency never
/// silently becomes another.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollCheckRequest {
    /// The token an operator issued.
    pub token: String,
}

/// The answer to `POST /api/v1/enroll/check`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollCheck {
    /// The agency the token enrols into.
    pub agency_id: i64,
    /// Its name.
    pub agency_name: String,
    /// When the token stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// `POST /api/v1/certificates/renew`: a CSR for a new key, sent over mutual TLS with the current
/// (still valid) certificate.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewRequest {
    /// `-----BEGIN CERTIFICATE REQUEST-----…`
    pub csr: String,
}

/// What a publish did.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublishOutcome {
    /// A new listing.
    Created,
    /// An existing listing changed; its version went up.
    Updated,
    /// Identical to the stored version: nothing changed (an idempotent retry).
    Unchanged,
    /// The same content, signed again with another certificate of the same agency (after a
    /// renewal or a re-enrolment): signature and certificate replaced, version + 1.
    Resigned,
}

/// The answer to `PUT /api/v1/listings/{ListingKey}` and `DELETE` of the same.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishResponse {
    /// The listing's key.
    #[serde(rename = "ListingKey")]
    pub listing_key: String,
    /// Version after the change (1 for a new listing).
    pub version: i64,
    /// What happened.
    pub outcome: PublishOutcome,
    /// Sequence number of the change-feed event, absent when nothing changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<i64>,
}

/// Kinds of change-feed events.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A new listing.
    Created,
    /// Content changed (price, text, photos, …).
    Updated,
    /// Only the market status changed (e.g. under offer, sold).
    StatusChanged,
    /// The agency withdrew the listing.
    Withdrawn,
    /// An operator took the listing down.
    TakenDown,
    /// The same content, signed again by the agency with another of its certificates (after a
    /// renewal or a re-enrolment); the signature and certificate serial changed, nothing else.
    Resigned,
}

impl ChangeKind {
    /// Every kind.
    pub const ALL: [ChangeKind; 6] = [
        ChangeKind::Created,
        ChangeKind::Updated,
        ChangeKind::StatusChanged,
        ChangeKind::Withdrawn,
        ChangeKind::TakenDown,
        ChangeKind::Resigned,
    ];

    /// The code stored in the database.
    pub fn code(self) -> &'static str {
        match self {
            ChangeKind::Created => "created",
            ChangeKind::Updated => "updated",
            ChangeKind::StatusChanged => "status_changed",
            ChangeKind::Withdrawn => "withdrawn",
            ChangeKind::TakenDown => "taken_down",
            ChangeKind::Resigned => "resigned",
        }
    }

    /// Parses [`ChangeKind::code`].
    pub fn from_code(code: &str) -> Option<ChangeKind> {
        ChangeKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// True when the listing is gone from the market for everyone after this event.
    pub fn removes(self) -> bool {
        matches!(self, ChangeKind::Withdrawn | ChangeKind::TakenDown)
    }
}

/// One change-feed event, in the manner of RESO's EntityEvent: a sequence number per change (not
/// a timestamp), the record it concerns, and the record's current state.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChangeEvent {
    /// Position in the feed; strictly increasing, never reused.
    pub entity_event_sequence: i64,
    /// What happened.
    pub event_type: ChangeKind,
    /// The listing's agency (its id on the platform, as text).
    pub list_office_key: String,
    /// The agency's name.
    pub list_office_name: String,
    /// The agency's key for the listing.
    pub listing_key: String,
    /// The listing's version when it was read.
    pub version: i64,
    /// When the change was recorded.
    #[serde(with = "time::serde::rfc3339")]
    pub event_timestamp: OffsetDateTime,
    /// The listing object as it stands now, exactly as its agency signed it (a withdrawn
    /// listing: the signed document with `StandardStatus: Withdrawn`); absent once taken down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listing: Option<ListingObject>,
    /// The agency's signature over the listing object's RFC 8785 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<SignatureEnvelope>,
    /// Serial of the certificate whose key made the signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_serial: Option<String>,
    /// The platform's current status code of the listing (`active`, `withdrawn`, `taken_down`, …).
    pub status: String,
    /// For a taken-down listing: the operator's take-down statement, signed by the platform's
    /// document-signing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub takedown: Option<SignedTakedown>,
}

/// `GET /api/v1/changes?after=N&limit=M`: events with sequence greater than `after`, oldest first.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangesPage {
    /// The events.
    pub events: Vec<ChangeEvent>,
    /// Pass this as `after` to get the next page (the last sequence returned, or `after`).
    pub next_after: i64,
    /// True when more events follow this page.
    pub has_more: bool,
}

/// `GET /api/v1/changes/count?after=N`: how many updates are waiting.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangesCount {
    /// The `after` asked about.
    pub after: i64,
    /// Events with sequence greater than `after`.
    pub count: i64,
    /// The newest sequence number in the feed (0 when empty).
    pub latest: i64,
    /// The newest sequence number of the certificate events
    /// (`GET /api/v1/changes/certificates`; 0 when there is none): a desk that has read less
    /// has news about revoked certificates.
    #[serde(default)]
    pub certificates_latest: i64,
}

/// The body of every error answer: `{"error": {"code", "message", "field"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `certificate_revoked`, `invalid_field`.
    pub code: String,
    /// What went wrong and what to do next, for people.
    pub message: String,
    /// The offending field, for input errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For `bad_signature`: the SHA-256 (lowercase hex) of the RFC 8785 bytes the signature was
    /// checked against, to compare with what was signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canonical_sha256: Option<String>,
    /// For `version_mismatch` (412) and `if_match_required` (428) on a listing: the listing's
    /// current version on the platform (absent when it has none), the version to name in
    /// `If-Match` once the change is made on top of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_version: Option<i64>,
    /// For `version_mismatch` (412): the listing as the platform holds it now, exactly as signed
    /// (the same as `GET /api/v1/listings/{ListingKey}` answers); absent when it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Box<StoredListing>>,
}

/// The `ETag` of a listing's version `version`: the version number as a strong entity tag
/// (`"3"`). `GET`, `PUT` and `DELETE` of `/api/v1/listings/{ListingKey}` answer it; `PUT` and
/// `DELETE` name the version they edit with `If-Match: "3"`.
pub fn listing_etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// The version named by an `If-Match` value written by [`listing_etag`]: `"3"` gives 3. A weak
/// tag, `*`, a list or anything else is `None`.
pub fn parse_listing_etag(value: &str) -> Option<i64> {
    let inner = value.trim().strip_prefix('"')?.strip_suffix('"')?;
    if inner.is_empty() || !inner.bytes().all(|b| b.is_ascii_digit()) || inner.len() > 18 {
        return None;
    }
    inner.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::ListingDocument;

    #[test]
    fn answers_once_written_with_json_macros_keep_their_bytes() {
        // These answers were `json!` objects (members sorted); the structs write the same bytes.
        let who = AgencyIdentity {
            agency: AgencyProfile {
                created_at: 1,
                email: "a@b.example".into(),
                id: 3,
                licence: "L-1".into(),
                name: "Acme".into(),
                status: "active".into(),
                updated_at: 2,
            },
            certificate: PresentedCertificate {
                fingerprint: None,
                not_after: Some("2027-01-01T00:00:00Z".into()),
                serial: "0a".into(),
            },
        };
        assert_eq!(
            serde_json::to_string(&who).unwrap(),
            r#"{"agency":{"created_at":1,"email":"a@b.example","id":3,"licence":"L-1","name":"Acme","status":"active","updated_at":2},"certificate":{"fingerprint":null,"not_after":"2027-01-01T00:00:00Z","serial":"0a"}}"#
        );
        let health = |database: Option<&str>, error: Option<&str>, status: &str| {
            serde_json::to_string(&HealthStatus {
                database: database.map(str::to_owned),
                error: error.map(str::to_owned),
                status: status.to_owned(),
            })
            .unwrap()
        };
        assert_eq!(health(None, None, "ok"), r#"{"status":"ok"}"#);
        assert_eq!(
            health(Some("sqlite"), None, "ready"),
            r#"{"database":"sqlite","status":"ready"}"#
        );
        assert_eq!(
            health(Some("postgres"), Some("down"), "unavailable"),
            r#"{"database":"postgres","error":"down","status":"unavailable"}"#
        );
    }

    #[test]
    fn change_event_uses_reso_entity_event_names() {
        let event = ChangeEvent {
            entity_event_sequence: 7,
            event_type: ChangeKind::StatusChanged,
            list_office_key: "3".into(),
            list_office_name: "Acme Homes".into(),
            listing_key: "A-1".into(),
            version: 2,
            event_timestamp: OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap(),
            listing: Some(ListingObject::new(ListingDocument::example("A-1")).unwrap()),
            signature: None,
            certificate_serial: None,
            status: "under_offer".into(),
            takedown: None,
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["EntityEventSequence"], 7);
        assert_eq!(json["EventType"], "status_changed");
        assert_eq!(json["Listing"]["ListingKey"], "A-1");
        let back: ChangeEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
        let text = serde_json::to_string(&event).unwrap();
        let back: ChangeEvent = serde_json::from_str(&text).unwrap();
        assert_eq!(back, event);
        assert_eq!(
            back.listing.unwrap().get(),
            &ListingDocument::example("A-1")
        );
    }

    #[test]
    fn certificate_events_use_snake_case_and_rfc3339() {
        let event = CertificateEvent {
            sequence: 3,
            event_type: CertificateEventType::ReasonChanged,
            serial: "0a1b".into(),
            fingerprint: "ff".repeat(32),
            agency_id: Some(4),
            reason: "key_compromise".into(),
            revoked_at: OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap(),
            compromised_since: None,
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["event_type"], "reason_changed");
        assert_eq!(json["revoked_at"], "2026-09-21T14:13:20Z");
        assert!(json["compromised_since"].is_null());
        let back: CertificateEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
        // A count from a platform without certificate events still reads.
        let count: ChangesCount =
            serde_json::from_str(r#"{"after": 1, "count": 2, "latest": 3}"#).unwrap();
        assert_eq!(count.certificates_latest, 0);
    }

    #[test]
    fn change_kind_codes_round_trip() {
        for k in ChangeKind::ALL {
            assert_eq!(ChangeKind::from_code(k.code()), Some(k));
        }
        assert_eq!(
            ChangeKind::from_code("resigned"),
            Some(ChangeKind::Resigned)
        );
    }

    #[test]
    fn a_listing_object_is_served_exactly_as_received() {
        // Not canonical: unsorted, spaced, an integral LivingArea, an offset timestamp.
        let sent = r#"{ "Title": "Flat", "ListingKey": "K-1", "TransactionType": "Rent",
            "PropertyType": "Apartment", "StandardStatus": "Active", "City": "Lisbon",
            "ListPrice": 900, "Currency": "EUR", "LivingArea": 84,
            "ModificationTimestamp": "2026-09-21T14:13:20+00:00" }"#;
        let page = format!(
            r#"{{"listings": [{{"ListOfficeKey": "3", "ListOfficeName": "A", "ListingKey": "K-1",
            "Version": 1, "Listing": {sent}, "Signature": null, "CertificateSerial": "ab",
            "Status": "active"}}], "total": 1, "total_capped": false, "page": 1, "per_page": 50,
            "has_more": false}}"#
        );
        let parsed: SearchPage = serde_json::from_str(&page).unwrap();
        let object = &parsed.listings[0].listing;
        assert_eq!(object.raw(), sent, "kept verbatim");
        assert_eq!(object.get().living_area, Some(84.0));
        assert!(
            String::from_utf8(object.canonical_bytes().to_vec())
                .unwrap()
                .contains(r#""LivingArea":84,"ModificationTimestamp":"2026-09-21T14:13:20+00:00""#)
        );
        let again = serde_json::to_string(&parsed).unwrap();
        assert!(again.contains(sent), "written back verbatim: {again}");
    }

    #[test]
    fn a_listing_naming_a_member_twice_is_refused() {
        let page = r#"{"listings": [{"ListOfficeKey": "3", "ListOfficeName": "A",
            "ListingKey": "K-1", "Version": 1, "Listing": {"City": "Lisbon", "City": "Porto"},
            "Signature": null, "CertificateSerial": "ab", "Status": "active"}],
            "total": 1, "total_capped": false, "page": 1, "per_page": 50, "has_more": false}"#;
        let err = serde_json::from_str::<SearchPage>(page).unwrap_err();
        assert!(err.to_string().contains("\"City\" appears twice"), "{err}");
    }
}

/// `POST /api/v1/saved-searches` and `PUT /api/v1/saved-searches/{id}`: a tenant's or buyer's
/// wishes kept on the platform, so matches reach the agency by email while its desk is off.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgencySavedSearchRequest {
    /// A name the agency recognises (e.g. the tenant's reference); blank gets a summary.
    #[serde(default)]
    pub name: String,
    /// What to match.
    pub criteria: crate::search::SearchCriteria,
}

/// One of the agency's saved searches on the platform.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgencySavedSearch {
    /// Platform id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Criteria in normal form.
    pub criteria: crate::search::SearchCriteria,
    /// When it stops matching unless renewed (`POST /api/v1/saved-searches/{id}/renew`).
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Most listings per page of `POST /api/v1/search`.
pub const SEARCH_MAX_PER_PAGE: u32 = 100;
/// Listings per page of `POST /api/v1/search` when `per_page` is not given.
pub const SEARCH_DEFAULT_PER_PAGE: u32 = 50;

/// Order of `POST /api/v1/search` results (the website's orders).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchSort {
    /// Most recently published first.
    #[default]
    Newest,
    /// Cheapest first.
    PriceAsc,
    /// Dearest first.
    PriceDesc,
}

impl SearchSort {
    /// The wire name.
    pub fn code(self) -> &'static str {
        match self {
            SearchSort::Newest => "newest",
            SearchSort::PriceAsc => "price_asc",
            SearchSort::PriceDesc => "price_desc",
        }
    }

    /// Parses [`SearchSort::code`].
    pub fn from_code(code: &str) -> Option<SearchSort> {
        [
            SearchSort::Newest,
            SearchSort::PriceAsc,
            SearchSort::PriceDesc,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }
}

fn first_page() -> u32 {
    1
}

fn default_per_page() -> u32 {
    SEARCH_DEFAULT_PER_PAGE
}

/// `POST /api/v1/search`: every agency's active listings that match `criteria`, a page at a time.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// What to match (the website's and the desk's criteria, same semantics).
    #[serde(default)]
    pub criteria: crate::search::SearchCriteria,
    /// Order.
    #[serde(default)]
    pub sort: SearchSort,
    /// Page number, from 1.
    #[serde(default = "first_page")]
    pub page: u32,
    /// Listings per page, 1 to [`SEARCH_MAX_PER_PAGE`].
    #[serde(default = "default_per_page")]
    pub per_page: u32,
}

impl Default for SearchRequest {
    fn default() -> Self {
        SearchRequest {
            criteria: crate::search::SearchCriteria::default(),
            sort: SearchSort::default(),
            page: 1,
            per_page: SEARCH_DEFAULT_PER_PAGE,
        }
    }
}

/// One listing as the platform holds it, in the change feed's shape (RESO names) without the
/// event fields: the agency's signed document, its signature and the signing certificate.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListingRecord {
    /// The listing's agency (its id on the platform, as text).
    pub list_office_key: String,
    /// The agency's name.
    pub list_office_name: String,
    /// The agency's key for the listing.
    pub listing_key: String,
    /// The listing's version.
    pub version: i64,
    /// The listing object exactly as its agency signed it.
    pub listing: ListingObject,
    /// The agency's signature over the listing's canonical bytes.
    pub signature: Option<SignatureEnvelope>,
    /// Serial of the certificate whose key made the signature.
    pub certificate_serial: String,
    /// The platform's status code of the listing (`active` for every search result).
    pub status: String,
}

fn client_kind() -> String {
    "client".to_owned()
}

/// The answer to `POST /api/v1/search`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchPage {
    /// The listings of this page, in the order asked for.
    pub listings: Vec<ListingRecord>,
    /// How many listings match in all, counted up to 10,000; see `total_capped`.
    pub total: i64,
    /// True when more than 10,000 match (`total` is then 10,000: "10,000+").
    pub total_capped: bool,
    /// This page's number.
    pub page: u32,
    /// Listings per page.
    pub per_page: u32,
    /// True when another page follows.
    pub has_more: bool,
}

/// `GET /api/v1/certificates/{serial}`: a signing certificate, public like what it signs: an
/// agency's certificate, or the platform's document-signing certificate (take-down statements).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRecord {
    /// Serial, lowercase hex.
    pub serial: String,
    /// `client` (an agency's certificate) or `signer` (the platform's document-signing
    /// certificate).
    #[serde(default = "client_kind")]
    pub kind: String,
    /// The agency the certificate was issued to (absent for the platform's signer).
    #[serde(default)]
    pub agency_id: Option<i64>,
    /// PEM: the certificate, then the issuing CA that signed it.
    pub certificate: String,
    /// `valid` or `revoked` (an expired certificate stays `valid`: expiry is in the certificate).
    pub status: String,
    /// When it was revoked.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub revoked_at: Option<OffsetDateTime>,
    /// Why (`superseded` after a renewal, `key_compromise`, …).
    #[serde(default)]
    pub revocation_reason: Option<String>,
    /// For `key_compromise`: since when the key is known to be in other hands; absent with
    /// `key_compromise` means everything the key ever signed is suspect.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub compromised_since: Option<OffsetDateTime>,
    /// SHA-256 of the certificate's DER, lowercase hex (what certificate events name).
    #[serde(default)]
    pub fingerprint: String,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
}

/// Kinds of certificate events (`GET /api/v1/changes/certificates`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateEventType {
    /// The certificate was revoked (by an operator, by the revocation of the certificate it was
    /// renewed from or of its key, or as `superseded` by its renewal's first use).
    Revoked,
    /// A revoked certificate's reason changed (raised to `key_compromise`) or its compromise date
    /// moved earlier.
    ReasonChanged,
}

/// One certificate event: what happened to a certificate, and its revocation as it stands after
/// the event. Signatures made with a certificate revoked for `key_compromise` at or after
/// `compromised_since` (every one, when it is absent) are not to be trusted.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateEvent {
    /// Position in the certificate-event sequence; strictly increasing, never reused (its own
    /// sequence, apart from the listing feed's).
    pub sequence: i64,
    /// What happened.
    pub event_type: CertificateEventType,
    /// The certificate's serial, lowercase hex (as in a listing's `CertificateSerial`).
    pub serial: String,
    /// SHA-256 of the certificate's DER, lowercase hex.
    pub fingerprint: String,
    /// The agency the certificate was issued to (absent for the platform's own certificates).
    #[serde(default)]
    pub agency_id: Option<i64>,
    /// The revocation reason (RFC 5280 names, snake_case: `key_compromise`, `superseded`, …).
    pub reason: String,
    /// When the certificate was revoked.
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
    /// For `key_compromise`: since when the key is known to be in other hands; absent means
    /// everything the key ever signed is suspect.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub compromised_since: Option<OffsetDateTime>,
}

/// `GET /api/v1/changes/certificates?after=N&limit=M`: certificate events with sequence greater
/// than `after`, oldest first.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateEventsPage {
    /// The events.
    pub events: Vec<CertificateEvent>,
    /// Pass this as `after` to get the next page (the last sequence returned, or `after`).
    pub next_after: i64,
    /// True when more events follow this page.
    pub has_more: bool,
}

/// The answer to `GET /api/v1/agency`: the calling agency as the platform holds it, and the
/// certificate the request came with.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgencyIdentity {
    /// The agency.
    pub agency: AgencyProfile,
    /// The certificate presented.
    pub certificate: PresentedCertificate,
}

/// An agency as the platform holds it (members in alphabetical order, as they have always been
/// sent).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgencyProfile {
    /// When the agency applied (ms since the epoch).
    pub created_at: i64,
    /// Contact address for enrolment and certificate mail.
    pub email: String,
    /// Platform id; also in the agency's certificates (SAN URI).
    pub id: i64,
    /// Licence or registration number.
    pub licence: String,
    /// Trading name.
    pub name: String,
    /// Status code: `pending`, `active`, `rejected` or `suspended`.
    pub status: String,
    /// Last change (ms since the epoch).
    pub updated_at: i64,
}

/// The certificate a request came with (members in alphabetical order).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresentedCertificate {
    /// SHA-256 of its DER, lowercase hex (null when it could not be read).
    pub fingerprint: Option<String>,
    /// End of validity, RFC 3339 (null when it could not be read).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub not_after: Option<String>,
    /// Serial, lowercase hex.
    pub serial: String,
}

/// The answer to `GET /api/v1/listings/{ListingKey}`: the agency's own listing as stored (the
/// object exactly as its signature covers it), its signature and, once taken down, the
/// platform's signed statement.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredListing {
    /// The listing's key.
    #[serde(rename = "ListingKey")]
    pub listing_key: String,
    /// Current version.
    pub version: i64,
    /// The platform's status code (`active`, `withdrawn`, `taken_down`, …).
    pub status: String,
    /// The listing object exactly as signed.
    pub listing: ListingObject,
    /// The agency's signature over the listing's RFC 8785 bytes.
    pub signature: Option<SignatureEnvelope>,
    /// Serial of the certificate whose key made the signature.
    pub certificate_serial: String,
    /// Why an operator took it down.
    pub takedown_reason: Option<String>,
    /// Once taken down: the operator's statement, signed by the platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub takedown: Option<SignedTakedown>,
    /// Set while the listing is held because its signing key was reported compromised:
    /// publishing it again, signed with a current certificate, clears it.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub held_at: Option<OffsetDateTime>,
}

/// The answer to the website's `GET /healthz` and `GET /readyz` (members in alphabetical order).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthStatus {
    /// The database backend (`sqlite`, `postgres`), for readiness.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// What is wrong, when not ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `ok` (alive), `ready` or `unavailable`.
    pub status: String,
}

/// A buyer's enquiry about one of the agency's listings, waiting for the agency's desk
/// (`GET /api/v1/enquiries`). The desk stores it as a lead, then acknowledges it
/// (`POST /api/v1/enquiries/{id}/ack`), after which the platform erases the buyer's details.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enquiry {
    /// Platform id (what the acknowledgement names; the desk's idempotency key).
    pub id: i64,
    /// The agency's own key of the listing asked about.
    pub listing_key: String,
    /// The listing's title when the enquiry was read.
    pub listing_title: String,
    /// The buyer's name.
    pub name: String,
    /// The buyer's email address.
    pub email: String,
    /// The buyer's phone number, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The buyer's message.
    pub message: String,
    /// When the buyer sent it (ms since the epoch).
    pub created_at_ms: i64,
}
