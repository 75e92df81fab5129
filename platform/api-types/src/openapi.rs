//! OpenAPI schemas (utoipa) of the wire types whose shape serde does not derive: the newtypes
//! that carry a rule (a pattern, a range), the signed envelopes, whose listing object is kept
//! as received, and the error body (named `Error`, its detail inline, as clients know it). Every other wire type derives `utoipa::ToSchema` beside its definition. Only
//! with the `openapi` feature (the platform serves the document; the desk does without).

use std::borrow::Cow;

use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::api::{ErrorBody, ErrorDetail};
use crate::envelope::{
    ListingObject, SignatureAlgorithm, SignatureEnvelope, SignedListing, SignedTakedown,
    TakedownStatement,
};
use crate::listing::{CurrencyCode, ListingDocument, ListingKey, MAX_PRICE, Price};

/// Adds `T` and every schema it refers to, as `components.schemas` wants them.
pub fn collect<T: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) {
    schemas.push((T::name().into_owned(), T::schema()));
    T::schemas(schemas);
}

fn reference<T: ToSchema>() -> RefOr<Schema> {
    RefOr::Ref(utoipa::openapi::Ref::from_schema_name(T::name()))
}

fn string(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
}

macro_rules! named {
    ($ty:ty, $name:literal, |$schemas:ident| $deps:block) => {
        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }

            fn schemas($schemas: &mut Vec<(String, RefOr<Schema>)>) {
                let _ = &$schemas;
                $deps
            }
        }
    };
}

impl PartialSchema for ListingKey {
    fn schema() -> RefOr<Schema> {
        string("the agency's own key for the listing")
            .pattern(Some("^[A-Za-z0-9._-]{1,64}$"))
            .into()
    }
}
named!(ListingKey, "ListingKey", |s| {});

impl PartialSchema for Price {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(1))
            .maximum(Some(MAX_PRICE as f64))
            .description(Some(
                "asking price (sale) or monthly rent, in whole units of Currency",
            ))
            .into()
    }
}
named!(Price, "Price", |s| {});

impl PartialSchema for CurrencyCode {
    fn schema() -> RefOr<Schema> {
        string("ISO 4217").pattern(Some("^[A-Z]{3}$")).into()
    }
}
named!(CurrencyCode, "CurrencyCode", |s| {});

/// The listing object exactly as its agency signed it: a [`ListingDocument`] on the wire.
impl PartialSchema for ListingObject {
    fn schema() -> RefOr<Schema> {
        match ListingDocument::schema() {
            RefOr::T(Schema::Object(mut object)) => {
                object.description = Some(
                    "RESO Data Dictionary names where one fits; served exactly as its agency \
                     signed it. No member may appear twice; integers within ±2^53"
                        .into(),
                );
                RefOr::T(Schema::Object(object))
            }
            other => other,
        }
    }
}
named!(ListingObject, "Listing", |s| {
    ListingDocument::schemas(s);
});

/// The schema of [`SignatureAlgorithm`], which the `ca` crate owns (a foreign type cannot
/// implement utoipa's traits here).
struct SignatureAlgorithmSchema;

impl PartialSchema for SignatureAlgorithmSchema {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some([
                SignatureAlgorithm::EcdsaP256Sha256.name(),
                SignatureAlgorithm::Ed25519.name(),
            ]))
            .into()
    }
}
named!(SignatureAlgorithmSchema, "SignatureAlgorithm", |s| {});

impl PartialSchema for SignatureEnvelope {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .property("algorithm", reference::<SignatureAlgorithmSchema>())
            .required("algorithm")
            .property(
                "value",
                string(
                    "base64 of the signature (ASN.1 DER for ECDSA, 64 bytes for Ed25519) over the \
                     RFC 8785 (JCS) form of the object exactly as sent",
                ),
            )
            .required("value")
            .into()
    }
}
named!(SignatureEnvelope, "SignatureEnvelope", |s| {
    collect::<SignatureAlgorithmSchema>(s);
});

impl PartialSchema for SignedListing {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .property("listing", reference::<ListingObject>())
            .required("listing")
            .property("signature", reference::<SignatureEnvelope>())
            .required("signature")
            .into()
    }
}
named!(SignedListing, "SignedListing", |s| {
    collect::<ListingObject>(s);
    collect::<SignatureEnvelope>(s);
});

impl PartialSchema for TakedownStatement {
    fn schema() -> RefOr<Schema> {
        let text = || ObjectBuilder::new().schema_type(Type::String);
        ObjectBuilder::new()
            .property("ListOfficeKey", text())
            .required("ListOfficeKey")
            .property("ListingKey", text())
            .required("ListingKey")
            .property("Version", i64::schema())
            .required("Version")
            .property(
                "TakenDownAt",
                text().format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
            )
            .required("TakenDownAt")
            .property("Reason", text())
            .required("Reason")
            .into()
    }
}
named!(TakedownStatement, "TakedownStatement", |s| {});

impl PartialSchema for SignedTakedown {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .description(Some(
                "an operator's take-down, signed over the RFC 8785 form of Statement by the \
                 platform's document-signing certificate (EKU id-kp-documentSigning, SAN \
                 urn:listing-exchange:platform)",
            ))
            .property("Statement", reference::<TakedownStatement>())
            .required("Statement")
            .property("Signature", reference::<SignatureEnvelope>())
            .required("Signature")
            .property(
                "CertificateSerial",
                string("GET /api/v1/certificates/{serial}"),
            )
            .required("CertificateSerial")
            .into()
    }
}
named!(SignedTakedown, "SignedTakedown", |s| {
    collect::<TakedownStatement>(s);
    collect::<SignatureEnvelope>(s);
});

impl PartialSchema for ErrorBody {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .description(Some(
                "the body of every error answer: {\"error\": {\"code\", \"message\", \"field\"}}",
            ))
            .property("error", ErrorDetail::schema())
            .required("error")
            .into()
    }
}
named!(ErrorBody, "Error", |s| {});
