//! Signed documents: a listing with its agency's detached signature (the body of
//! `PUT /api/v1/listings/{key}`), and the platform's signed take-down statement.
//!
//! A signature covers the RFC 8785 canonical form ([`crate::canonical`]) of the JSON object **as
//! the signer sent it**, never a re-serialisation of a typed value: a document that leaves out an
//! optional member, writes `LivingArea: 84` or a timestamp with `+00:00` verifies over exactly
//! what was sent. [`Signable`] carries such an object on the wire: the text as received (for
//! anyone to canonicalise and verify) together with the typed value read from it.

use std::fmt;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::canonical::{self, CanonicalError};
use crate::listing::{FieldError, ListingDocument};

/// How a signature was made: the `ca` crate's type (which signs and verifies with it), on the
/// wire by its name, `"ECDSA-P256-SHA256"` (the value is the ASN.1 DER signature) or
/// `"Ed25519"` (the value is the 64-byte signature).
pub use ca::sign::SignatureAlgorithm;

/// A detached signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureEnvelope {
    /// How it was made.
    pub algorithm: SignatureAlgorithm,
    /// The signature bytes, standard base64 with padding.
    pub value: String,
}

/// A JSON object as a signer sent it, with the RFC 8785 canonical bytes its signature covers
/// and the typed value read from it.
///
/// On the wire it is the object itself, written back exactly as received (so whoever receives
/// it from us can canonicalise it again and get the same bytes). Reading one is strict: a member
/// named twice, an integer beyond ±2^53 or a value that does not fit `T` is refused, naming the
/// member. The only ways to make one are [`Signable::parse`] (received text) and
/// [`Signable::new`] (a value about to be signed, written in canonical form).
#[derive(Clone)]
pub struct Signable<T> {
    raw: Box<RawValue>,
    canonical: Vec<u8>,
    value: T,
}

/// A listing object as signed by its agency.
pub type ListingObject = Signable<ListingDocument>;

impl<T: Serialize> Signable<T> {
    /// The object for `value`, written in canonical form (what a signer sends).
    pub fn new(value: T) -> Result<Signable<T>, CanonicalError> {
        let text = canonical::to_string(&value)?;
        let raw =
            RawValue::from_string(text).map_err(|e| CanonicalError::Serialize(e.to_string()))?;
        Ok(Signable {
            canonical: raw.get().as_bytes().to_vec(),
            raw,
            value,
        })
    }
}

impl<T: DeserializeOwned> Signable<T> {
    /// Reads a received object strictly. The error names the offending member (empty for the
    /// whole object).
    pub fn parse(text: &str) -> Result<Signable<T>, FieldError> {
        let raw = RawValue::from_string(text.to_owned())
            .map_err(|e| FieldError::new("", format!("not valid JSON: {e}")))?;
        Self::from_raw(raw)
    }

    fn from_raw(raw: Box<RawValue>) -> Result<Signable<T>, FieldError> {
        let tree = canonical::parse_strict(raw.get()).map_err(canonical_field_error)?;
        if !tree.is_object() {
            return Err(FieldError::new("", "must be a JSON object"));
        }
        let canonical = canonical::canonicalize(&tree).map_err(canonical_field_error)?;
        let value = read_typed(&tree)?;
        Ok(Signable {
            raw,
            canonical,
            value,
        })
    }
}

impl<T> Signable<T> {
    /// The object's text as received (or as written by [`Signable::new`]).
    pub fn raw(&self) -> &str {
        self.raw.get()
    }

    /// The RFC 8785 bytes of the object: what a signature over it covers.
    pub fn canonical_bytes(&self) -> &[u8] {
        &self.canonical
    }

    /// **Verify-only.** The pre-RFC 8785 form of the object
    /// ([`canonical::legacy_form_for_verification_only`]), for signatures stored before the
    /// platform adopted RFC 8785. Never sign these bytes.
    pub fn legacy_bytes_for_verification_only(&self) -> Vec<u8> {
        match canonical::parse_strict(self.raw.get()) {
            Ok(tree) => canonical::legacy_form_for_verification_only(&tree),
            Err(_) => Vec::new(),
        }
    }

    /// The typed value read from the object.
    pub fn get(&self) -> &T {
        &self.value
    }

    /// The typed value.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> fmt::Debug for Signable<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Signable").field(&self.raw.get()).finish()
    }
}

impl<T> PartialEq for Signable<T> {
    /// The same text: the same object (the typed value is read from it).
    fn eq(&self, other: &Self) -> bool {
        self.raw.get() == other.raw.get()
    }
}

impl<T> Serialize for Signable<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(serializer)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Signable<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Signable::from_raw(raw).map_err(|e| {
            if e.field.is_empty() {
                D::Error::custom(e.message)
            } else {
                D::Error::custom(e)
            }
        })
    }
}

fn canonical_field_error(e: CanonicalError) -> FieldError {
    FieldError::new(e.path(), e.to_string())
}

/// Reads a `T` from a strictly parsed JSON value; a problem names the member it is in (empty
/// for the object itself, e.g. an unknown member, which the message names).
pub fn read_typed<T: DeserializeOwned>(tree: &serde_json::Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(tree).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." || path == "?" {
            String::new()
        } else {
            path
        };
        FieldError::new(path, e.into_inner().to_string())
    })
}

/// A listing and its agency's signature over the listing object's canonical bytes: the body of
/// `PUT /api/v1/listings/{key}` and of `DELETE` (a withdrawal: the listing with
/// `StandardStatus: Withdrawn` and a newer `ModificationTimestamp`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedListing {
    /// The listing object as signed.
    pub listing: ListingObject,
    /// The agency's signature over `listing.canonical_bytes()`.
    pub signature: SignatureEnvelope,
}

/// What an operator's take-down says, signed by the platform's own document-signing key
/// (a certificate from the platform CA with extended key usage documentSigning, RFC 9336, and
/// the SAN URI `urn:listing-exchange:platform`) over its RFC 8785 form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TakedownStatement {
    /// The listing's agency (its id on the platform, as text).
    pub list_office_key: String,
    /// The agency's key for the listing.
    pub listing_key: String,
    /// The listing's version after the take-down (the change-feed event's `Version`).
    pub version: i64,
    /// When the operator took it down.
    #[serde(with = "time::serde::rfc3339")]
    pub taken_down_at: OffsetDateTime,
    /// Why, as the operator wrote it.
    pub reason: String,
}

/// A take-down statement with the platform's signature, as the change feed carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SignedTakedown {
    /// The statement as signed.
    pub statement: Signable<TakedownStatement>,
    /// The platform's signature over `statement.canonical_bytes()`.
    pub signature: SignatureEnvelope,
    /// Serial of the platform's document-signing certificate (fetch it from
    /// `GET /api/v1/certificates/{serial}`).
    pub certificate_serial: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithms_keep_their_wire_names() {
        for (algorithm, name) in [
            (SignatureAlgorithm::EcdsaP256Sha256, "ECDSA-P256-SHA256"),
            (SignatureAlgorithm::Ed25519, "Ed25519"),
        ] {
            let envelope = SignatureEnvelope {
                algorithm,
                value: "AAAA".into(),
            };
            let wire = serde_json::to_string(&envelope).unwrap();
            assert_eq!(wire, format!(r#"{{"algorithm":"{name}","value":"AAAA"}}"#));
            assert_eq!(
                serde_json::from_str::<SignatureEnvelope>(&wire).unwrap(),
                envelope
            );
            assert_eq!(SignatureAlgorithm::from_name(name), Some(algorithm));
        }
        assert!(
            serde_json::from_str::<SignatureEnvelope>(r#"{"algorithm":"RSA","value":"AAAA"}"#)
                .is_err()
        );
        assert_eq!(SignatureAlgorithm::from_name("ed25519"), None);
    }

    #[test]
    fn a_new_object_is_written_in_canonical_form() {
        let doc = ListingDocument::example("A-1");
        let object = ListingObject::new(doc.clone()).unwrap();
        assert_eq!(object.raw().as_bytes(), object.canonical_bytes());
        assert_eq!(object.canonical_bytes(), doc.canonical_bytes());
        assert_eq!(object.get(), &doc);
        let wire = serde_json::to_string(&object).unwrap();
        assert_eq!(wire, object.raw());
        let back: ListingObject = serde_json::from_str(&wire).unwrap();
        assert_eq!(back, object);
    }

    #[test]
    fn reading_names_the_member_at_fault() {
        let mut json = serde_json::to_value(ListingDocument::example("A-1")).unwrap();
        json["ListPrice"] = "cheap".into();
        let err = ListingObject::parse(&json.to_string()).unwrap_err();
        assert_eq!(err.field, "ListPrice", "{err}");

        json["ListPrice"] = serde_json::json!(9_007_199_254_740_993u64);
        let err = ListingObject::parse(&json.to_string()).unwrap_err();
        assert_eq!(err.field, "ListPrice", "{err}");
        assert!(err.message.contains("2^53"), "{err}");

        let text = json
            .to_string()
            .replacen("{", r#"{"City":"Porto","#, 1)
            .replace(r#""ListPrice":9007199254740993"#, r#""ListPrice":1"#);
        let err = ListingObject::parse(&text).unwrap_err();
        assert!(err.message.contains("\"City\" appears twice"), "{err}");

        json["ListPrice"] = 1.into();
        json["Colour"] = "red".into();
        let err = ListingObject::parse(&json.to_string()).unwrap_err();
        assert!(err.message.contains("Colour"), "{err}");

        assert_eq!(
            ListingObject::parse("[1]").unwrap_err().message,
            "must be a JSON object"
        );
    }

    #[test]
    fn the_legacy_bytes_keep_the_old_number_form() {
        let object = ListingObject::new(ListingDocument {
            living_area: Some(84.0),
            ..ListingDocument::example("A-1")
        })
        .unwrap();
        let canonical = String::from_utf8(object.canonical_bytes().to_vec()).unwrap();
        assert!(canonical.contains(r#""LivingArea":84,"#), "{canonical}");
        // Served from an old row, written by serde_json: 84.0.
        let old = String::from_utf8(canonical::legacy_form_for_verification_only(
            &serde_json::to_value(object.get()).unwrap(),
        ))
        .unwrap();
        assert!(old.contains(r#""LivingArea":84.0,"#), "{old}");
        let served = ListingObject::parse(&old).unwrap();
        assert_eq!(served.legacy_bytes_for_verification_only(), old.as_bytes());
        assert_eq!(served.canonical_bytes(), object.canonical_bytes());
    }
}
