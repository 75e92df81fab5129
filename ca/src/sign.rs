//! Detached signatures made with a [`PrivateKey`](crate::keys::PrivateKey) and their verification.

use std::fmt;
use std::str::FromStr;

use ring::signature::{self, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use x509_parser::oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_SIG_ED25519};
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::CaError;
use crate::keys::KeyAlgorithm;

/// How a detached signature was made: the one type for it, used by the keys that sign, by
/// [`verify`], and on the wire (`api_types::SignatureEnvelope` serialises it by its wire name,
/// [`SignatureAlgorithm::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SignatureAlgorithm {
    /// ECDSA on P-256 with SHA-256; the signature is ASN.1 DER encoded.
    #[serde(rename = "ECDSA-P256-SHA256")]
    EcdsaP256Sha256,
    /// Ed25519 (64-byte signature).
    #[serde(rename = "Ed25519")]
    Ed25519,
}

impl SignatureAlgorithm {
    /// The wire name: "ECDSA-P256-SHA256" or "Ed25519".
    pub fn name(self) -> &'static str {
        match self {
            SignatureAlgorithm::EcdsaP256Sha256 => "ECDSA-P256-SHA256",
            SignatureAlgorithm::Ed25519 => "Ed25519",
        }
    }

    /// Parses [`SignatureAlgorithm::name`] (exact match); `None` for any other text.
    pub fn from_name(name: &str) -> Option<SignatureAlgorithm> {
        [
            SignatureAlgorithm::EcdsaP256Sha256,
            SignatureAlgorithm::Ed25519,
        ]
        .into_iter()
        .find(|a| a.name() == name)
    }

    /// The key algorithm that makes signatures of this kind.
    pub fn key_algorithm(self) -> KeyAlgorithm {
        match self {
            SignatureAlgorithm::EcdsaP256Sha256 => KeyAlgorithm::EcdsaP256,
            SignatureAlgorithm::Ed25519 => KeyAlgorithm::Ed25519,
        }
    }
}

impl fmt::Display for SignatureAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SignatureAlgorithm {
    type Err = CaError;

    /// Parses the wire name produced by [`SignatureAlgorithm::name`] (exact match).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SignatureAlgorithm::from_name(s)
            .ok_or_else(|| CaError::Signature(SignatureProblem::UnknownAlgorithm(s.to_owned())))
    }
}

/// Why a signature did not verify: the detail of [`CaError::Signature`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureProblem {
    /// The algorithm's name is not one of [`SignatureAlgorithm::name`].
    #[error("unknown signature algorithm {0:?} (expected ECDSA-P256-SHA256 or Ed25519)")]
    UnknownAlgorithm(String),
    /// The public key is not a DER SubjectPublicKeyInfo (the parser's reason).
    #[error("the public key is not valid DER: {0}")]
    PublicKeyDer(String),
    /// The public key's DER is followed by more bytes.
    #[error("trailing bytes after the public key")]
    TrailingBytes,
    /// The key's type does not make signatures of the algorithm named.
    #[error("the public key ({key}) does not fit the signature algorithm {algorithm}")]
    KeyDoesNotFit {
        /// The key's type, or `unsupported type`.
        key: &'static str,
        /// The algorithm the signature claims.
        algorithm: SignatureAlgorithm,
    },
    /// The signature is not one the key made over the message.
    #[error("the {0} signature does not match the message and key")]
    Mismatch(SignatureAlgorithm),
    /// A certificate is not signed by the issuer it was checked against.
    #[error("the certificate is not signed by that issuer")]
    NotSignedByIssuer,
    /// A CA certificate of the CA directory is not signed by the root (both files named).
    #[error("{certificate} is not signed by {root}")]
    NotSignedByRoot {
        /// The CA certificate's file.
        certificate: String,
        /// The root certificate's file.
        root: String,
    },
}

/// A detached signature together with its algorithm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// How the signature was made.
    pub algorithm: SignatureAlgorithm,
    /// The raw signature bytes (DER for ECDSA, 64 bytes for Ed25519).
    pub bytes: Vec<u8>,
}

/// The key algorithm of a DER SubjectPublicKeyInfo, if it is one we support.
pub(crate) fn spki_key_algorithm(spki: &SubjectPublicKeyInfo<'_>) -> Option<KeyAlgorithm> {
    let alg = &spki.algorithm;
    if alg.algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = alg.parameters.as_ref()?.as_oid().ok()?;
        (curve == OID_EC_P256).then_some(KeyAlgorithm::EcdsaP256)
    } else if alg.algorithm == OID_SIG_ED25519 {
        Some(KeyAlgorithm::Ed25519)
    } else {
        None
    }
}

/// Verifies `signature` over `message` with the public key `spki_der`
/// (DER SubjectPublicKeyInfo). The key type must fit `algorithm`.
pub fn verify(
    spki_der: &[u8],
    algorithm: SignatureAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> Result<(), CaError> {
    let (rest, spki) = SubjectPublicKeyInfo::from_der(spki_der)
        .map_err(|e| CaError::Signature(SignatureProblem::PublicKeyDer(e.to_string())))?;
    if !rest.is_empty() {
        return Err(CaError::Signature(SignatureProblem::TrailingBytes));
    }
    let key_alg = spki_key_algorithm(&spki);
    if key_alg != Some(algorithm.key_algorithm()) {
        return Err(CaError::Signature(SignatureProblem::KeyDoesNotFit {
            key: key_alg.map_or("unsupported type", KeyAlgorithm::name),
            algorithm,
        }));
    }
    let ring_alg: &dyn signature::VerificationAlgorithm = match algorithm {
        SignatureAlgorithm::EcdsaP256Sha256 => &signature::ECDSA_P256_SHA256_ASN1,
        SignatureAlgorithm::Ed25519 => &signature::ED25519,
    };
    UnparsedPublicKey::new(ring_alg, &spki.subject_public_key.data)
        .verify(message, signature)
        .map_err(|_| CaError::Signature(SignatureProblem::Mismatch(algorithm)))
}

/// Like [`verify`], with the public key taken from a DER certificate.
pub fn verify_with_certificate(
    cert_der: &[u8],
    algorithm: SignatureAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> Result<(), CaError> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|e| CaError::Certificate(format!("the certificate could not be parsed: {e}")))?;
    verify(cert.public_key().raw, algorithm, message, signature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PrivateKey;

    #[test]
    fn roundtrip_and_tamper_both_types() {
        for key in [
            PrivateKey::generate_p256().unwrap(),
            PrivateKey::generate_ed25519().unwrap(),
        ] {
            let sig = key.sign(b"listing 42").unwrap();
            assert_eq!(sig.algorithm.key_algorithm(), key.algorithm());
            let spki = key.public_key_der();
            verify(&spki, sig.algorithm, b"listing 42", &sig.bytes).unwrap();
            assert!(matches!(
                verify(&spki, sig.algorithm, b"listing 43", &sig.bytes),
                Err(CaError::Signature(_))
            ));
        }
    }

    #[test]
    fn key_type_must_fit_algorithm() {
        let key = PrivateKey::generate_ed25519().unwrap();
        let sig = key.sign(b"m").unwrap();
        let err = verify(
            &key.public_key_der(),
            SignatureAlgorithm::EcdsaP256Sha256,
            b"m",
            &sig.bytes,
        )
        .unwrap_err();
        assert!(err.to_string().contains("does not fit"), "{err}");
    }

    #[test]
    fn problems_read_as_before_they_were_typed() {
        let key = PrivateKey::generate_ed25519().unwrap();
        let sig = key.sign(b"m").unwrap();
        let spki = key.public_key_der();
        let text = |r: Result<(), CaError>| r.unwrap_err().to_string();
        assert_eq!(
            text(verify(
                &spki,
                SignatureAlgorithm::EcdsaP256Sha256,
                b"m",
                &sig.bytes
            )),
            "signature verification failed: the public key (Ed25519) does not fit the signature \
             algorithm ECDSA-P256-SHA256"
        );
        assert_eq!(
            text(verify(&spki, SignatureAlgorithm::Ed25519, b"n", &sig.bytes)),
            "signature verification failed: the Ed25519 signature does not match the message and key"
        );
        assert_eq!(
            text(verify(
                &[spki.clone(), vec![0]].concat(),
                SignatureAlgorithm::Ed25519,
                b"m",
                &sig.bytes
            )),
            "signature verification failed: trailing bytes after the public key"
        );
        assert_eq!(
            "RSA".parse::<SignatureAlgorithm>().unwrap_err().to_string(),
            "signature verification failed: unknown signature algorithm \"RSA\" (expected \
             ECDSA-P256-SHA256 or Ed25519)"
        );
        assert!(matches!(
            verify(&spki, SignatureAlgorithm::Ed25519, b"n", &sig.bytes),
            Err(CaError::Signature(SignatureProblem::Mismatch(
                SignatureAlgorithm::Ed25519
            )))
        ));
    }

    #[test]
    fn names_roundtrip() {
        for alg in [
            SignatureAlgorithm::EcdsaP256Sha256,
            SignatureAlgorithm::Ed25519,
        ] {
            assert_eq!(alg.name().parse::<SignatureAlgorithm>().unwrap(), alg);
        }
        assert_eq!(
            SignatureAlgorithm::EcdsaP256Sha256.name(),
            "ECDSA-P256-SHA256"
        );
        assert!("RSA".parse::<SignatureAlgorithm>().is_err());
    }
}
