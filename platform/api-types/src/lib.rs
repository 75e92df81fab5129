//! The wire types both the platform and the agency client speak, so the two can never disagree
//! on a listing's canonical form, on what a search criterion means, or on an API body.
//!
//! * [`listing`]: the listing document (RESO Data Dictionary field names) and its validation;
//! * [`canonical`]: RFC 8785 (JCS), the canonical JSON bytes a signature covers;
//! * [`envelope`]: signed documents: a listing object with its agency's detached signature, as
//!   sent to `PUT /api/v1/listings/{key}`, and the platform's signed take-down statement;
//! * [`search`]: search criteria and their matching semantics (shared by the platform's matcher,
//!   the website's search and the client's tenant hints);
//! * [`api`]: request and response bodies of the agency API and its change feed;
//! * [`vault`]: the agency vault (customer records as ciphertext, desks, wrapped keys);
//! * `openapi` (feature `openapi`): the OpenAPI schemas of these types, from which the platform
//!   derives its `/api/openapi.json`.

pub mod api;
pub mod canonical;
pub mod envelope;
pub mod listing;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod search;
pub mod vault;

pub use envelope::{
    ListingObject, Signable, SignatureAlgorithm, SignatureEnvelope, SignedListing, SignedTakedown,
    TakedownStatement,
};
pub use listing::{
    CurrencyCode, FieldError, ListingDocument, ListingKey, MediaItem, Price, PropertyType,
    StandardStatus, TransactionType,
};
pub use search::SearchCriteria;
