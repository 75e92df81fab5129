//! A listing with its agency's detached signature: the body of `PUT /api/v1/listings/{key}`.
//!
//! The signature covers [`ListingDocument::canonical_bytes`] exactly. The platform verifies it
//! with the public key of the client certificate the request came with, and keeps document,
//! signature and certificate serial, so the listing's origin can be proven later by anyone holding
//! the certificate.

use serde::{Deserialize, Serialize};

use crate::listing::ListingDocument;

/// How a listing signature was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SignatureAlgorithm {
    /// ECDSA over P-256 with SHA-256; the value is the ASN.1 DER signature.
    #[serde(rename = "ECDSA-P256-SHA256")]
    EcdsaP256Sha256,
    /// Ed25519; the value is the 64-byte signature.
    #[serde(rename = "Ed25519")]
    Ed25519,
}

impl SignatureAlgorithm {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            SignatureAlgorithm::EcdsaP256Sha256 => "ECDSA-P256-SHA256",
            SignatureAlgorithm::Ed25519 => "Ed25519",
        }
    }

    /// Parses [`SignatureAlgorithm::name`].
    pub fn from_name(name: &str) -> Option<SignatureAlgorithm> {
        [
            SignatureAlgorithm::EcdsaP256Sha256,
            SignatureAlgorithm::Ed25519,
        ]
        .into_iter()
        .find(|a| a.name() == name)
    }
}

/// A detached signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureEnvelope {
    /// How it was made.
    pub algorithm: SignatureAlgorithm,
    /// The signature bytes, standard base64 with padding.
    pub value: String,
}

/// A listing and its agency's signature over the listing's canonical bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedListing {
    /// The listing as signed.
    pub listing: ListingDocument,
    /// The agency's signature over `listing.canonical_bytes()`.
    pub signature: SignatureEnvelope,
}
