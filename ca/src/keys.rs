//! Private keys: generation, PEM (plain and passphrase-encrypted PKCS#8), CSRs and signing.

use std::fmt;

use pkcs8::der::{Decode, Encode};
use rcgen::{KeyPair, PublicKeyData, SigningKey};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::CaError;
use crate::sign::{Signature, SignatureAlgorithm};

/// PEM label of an unencrypted PKCS#8 private key.
const PLAIN_LABEL: &str = "PRIVATE KEY";
/// PEM label of a passphrase-encrypted PKCS#8 private key.
const ENCRYPTED_LABEL: &str = "ENCRYPTED PRIVATE KEY";

/// PBKDF2-HMAC-SHA256 iterations of [`KdfCost::CA`]: about one second on the reference machine
/// (2-core AMD EPYC, release build; see docs/benchmarks.md, "Key encryption").
pub const CA_PBKDF2_ITERATIONS: u32 = 8_000_000;

/// How expensive it is to derive, from a passphrase, the key that encrypts a private key
/// (PBES2, AES-256-CBC). Both kinds are read by `openssl pkey`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KdfCost {
    /// scrypt with N = 2^`log_n`, block size `r` and parallelism `p`. OpenSSL refuses scrypt
    /// above 32 MiB of memory by default (N = 2^14, r = 8 uses 16 MiB), which caps the cost.
    Scrypt {
        /// log2 of the cost parameter N.
        log_n: u8,
        /// Block size.
        r: u32,
        /// Parallelism.
        p: u32,
    },
    /// PBKDF2 with HMAC-SHA256 and this many iterations: no memory limit in any reader, so its
    /// cost can be raised to what the keys deserve.
    Pbkdf2Sha256 {
        /// Iteration count.
        iterations: u32,
    },
}

impl KdfCost {
    /// The desk's key (and [`PrivateKey::to_encrypted_pem`]): scrypt N = 2^14, r = 8, p = 1
    /// (16 MiB, tens of milliseconds), unlocked at every start of the agency client.
    pub const DESK: KdfCost = KdfCost::Scrypt {
        log_n: 14,
        r: 8,
        p: 1,
    };

    /// The CA's keys: PBKDF2-HMAC-SHA256 with [`CA_PBKDF2_ITERATIONS`] (about a second per
    /// guess on the reference machine).
    pub const CA: KdfCost = KdfCost::Pbkdf2Sha256 {
        iterations: CA_PBKDF2_ITERATIONS,
    };
}

impl fmt::Display for KdfCost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KdfCost::Scrypt { log_n, r, p } => write!(f, "scrypt N=2^{log_n} r={r} p={p}"),
            KdfCost::Pbkdf2Sha256 { iterations } => {
                write!(f, "PBKDF2-HMAC-SHA256, {iterations} iterations")
            }
        }
    }
}

/// How a private key file is protected at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyProtection {
    /// Unencrypted PKCS#8 ("PRIVATE KEY").
    Plain,
    /// Passphrase-encrypted PKCS#8, with its key derivation when it is one we know.
    Encrypted(Option<KdfCost>),
}

impl KeyProtection {
    /// How the key in `pem` is protected; an error when it is not a PKCS#8 key.
    pub fn of_pem(pem: &str) -> Result<KeyProtection, CaError> {
        let block = pem::parse(pem).map_err(|e| CaError::Pem(format!("private key: {e}")))?;
        match block.tag() {
            PLAIN_LABEL => Ok(KeyProtection::Plain),
            ENCRYPTED_LABEL => {
                let info = pkcs8::EncryptedPrivateKeyInfo::from_der(block.contents())
                    .map_err(|e| CaError::Pem(format!("encrypted private key: {e}")))?;
                let cost = match info.encryption_algorithm {
                    pkcs8::pkcs5::EncryptionScheme::Pbes2(params) => match params.kdf {
                        pkcs8::pkcs5::pbes2::Kdf::Pbkdf2(p)
                            if p.prf == pkcs8::pkcs5::pbes2::Pbkdf2Prf::HmacWithSha256 =>
                        {
                            Some(KdfCost::Pbkdf2Sha256 {
                                iterations: p.iteration_count,
                            })
                        }
                        pkcs8::pkcs5::pbes2::Kdf::Scrypt(s) => Some(KdfCost::Scrypt {
                            log_n: s.cost_parameter.trailing_zeros() as u8,
                            r: u32::from(s.block_size),
                            p: u32::from(s.parallelization),
                        }),
                        _ => None,
                    },
                    _ => None,
                };
                Ok(KeyProtection::Encrypted(cost))
            }
            other => Err(CaError::Pem(format!(
                "expected a \"{PLAIN_LABEL}\" or \"{ENCRYPTED_LABEL}\" PEM block, found \"{other}\""
            ))),
        }
    }

    /// True for an encrypted key.
    pub fn is_encrypted(self) -> bool {
        matches!(self, KeyProtection::Encrypted(_))
    }
}

impl fmt::Display for KeyProtection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyProtection::Plain => f.write_str("not encrypted"),
            KeyProtection::Encrypted(Some(cost)) => write!(f, "encrypted ({cost})"),
            KeyProtection::Encrypted(None) => f.write_str("encrypted"),
        }
    }
}

/// The key algorithms this CA generates and accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// ECDSA on the NIST P-256 curve (signatures with SHA-256).
    EcdsaP256,
    /// Ed25519.
    Ed25519,
}

impl KeyAlgorithm {
    /// A short human-readable name: "ECDSA P-256" or "Ed25519".
    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256 => "ECDSA P-256",
            KeyAlgorithm::Ed25519 => "Ed25519",
        }
    }

    /// The signature algorithm used with keys of this type.
    pub fn signature_algorithm(self) -> SignatureAlgorithm {
        match self {
            KeyAlgorithm::EcdsaP256 => SignatureAlgorithm::EcdsaP256Sha256,
            KeyAlgorithm::Ed25519 => SignatureAlgorithm::Ed25519,
        }
    }

    fn rcgen_algorithm(self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            KeyAlgorithm::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyAlgorithm::Ed25519 => &rcgen::PKCS_ED25519,
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A private key (ECDSA P-256 or Ed25519). Its `Debug` output never shows key material.
pub struct PrivateKey {
    key_pair: KeyPair,
    algorithm: KeyAlgorithm,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.algorithm)
            .field("key", &"[secret key elided]")
            .finish()
    }
}

impl PrivateKey {
    /// Generates a fresh ECDSA P-256 key.
    pub fn generate_p256() -> Result<PrivateKey, CaError> {
        Self::generate(KeyAlgorithm::EcdsaP256)
    }

    /// Generates a fresh Ed25519 key.
    pub fn generate_ed25519() -> Result<PrivateKey, CaError> {
        Self::generate(KeyAlgorithm::Ed25519)
    }

    fn generate(algorithm: KeyAlgorithm) -> Result<PrivateKey, CaError> {
        let key_pair = KeyPair::generate_for(algorithm.rcgen_algorithm())?;
        Ok(PrivateKey {
            key_pair,
            algorithm,
        })
    }

    /// Wraps an rcgen key pair, refusing key types other than P-256 and Ed25519.
    fn from_key_pair(key_pair: KeyPair) -> Result<PrivateKey, CaError> {
        let alg = key_pair.algorithm();
        let algorithm = if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
            KeyAlgorithm::EcdsaP256
        } else if alg == &rcgen::PKCS_ED25519 {
            KeyAlgorithm::Ed25519
        } else {
            return Err(CaError::UnsupportedKey(format!(
                "private key of type {alg:?}"
            )));
        };
        Ok(PrivateKey {
            key_pair,
            algorithm,
        })
    }

    fn from_pkcs8_der(der: &[u8]) -> Result<PrivateKey, CaError> {
        let key_pair = KeyPair::try_from(der).map_err(|e| {
            CaError::UnsupportedKey(format!("the PKCS#8 private key could not be loaded: {e}"))
        })?;
        Self::from_key_pair(key_pair)
    }

    /// Reads a PKCS#8 key from PEM: either "PRIVATE KEY" or "ENCRYPTED PRIVATE KEY".
    ///
    /// An encrypted key without a passphrase, or with the wrong one, gives
    /// [`CaError::Passphrase`]. A passphrase given for a plaintext key is ignored.
    pub fn from_pem(pem: &str, passphrase: Option<&str>) -> Result<PrivateKey, CaError> {
        let block = pem::parse(pem).map_err(|e| CaError::Pem(format!("private key: {e}")))?;
        match block.tag() {
            PLAIN_LABEL => {
                let der = Zeroizing::new(block.contents().to_vec());
                Self::from_pkcs8_der(&der)
            }
            ENCRYPTED_LABEL => {
                let passphrase = passphrase.ok_or(CaError::Passphrase)?;
                let info = pkcs8::EncryptedPrivateKeyInfo::from_der(block.contents())
                    .map_err(|e| CaError::Pem(format!("encrypted private key: {e}")))?;
                let doc = info
                    .decrypt(passphrase.as_bytes())
                    .map_err(|_| CaError::Passphrase)?;
                // A wrong passphrase occasionally yields valid padding; the
                // result then is not a PKCS#8 structure.
                pkcs8::PrivateKeyInfo::from_der(doc.as_bytes()).map_err(|_| CaError::Passphrase)?;
                Self::from_pkcs8_der(doc.as_bytes())
            }
            other => Err(CaError::Pem(format!(
                "expected a \"{PLAIN_LABEL}\" or \"{ENCRYPTED_LABEL}\" PEM block, found \"{other}\""
            ))),
        }
    }

    /// The key as unencrypted PKCS#8 PEM ("PRIVATE KEY").
    pub fn to_pem(&self) -> Zeroizing<String> {
        let der = self.portable_pkcs8_der();
        let block = pem::Pem::new(PLAIN_LABEL, der.to_vec());
        Zeroizing::new(pem::encode_config(&block, pem_config()))
    }

    /// PKCS#8 DER that other tools read. ring writes Ed25519 keys as PKCS#8 v2
    /// (with the public key), which OpenSSL 3.0 refuses; those are rewritten as
    /// v1 without the public key. P-256 keys are kept as they are.
    fn portable_pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        let der = self.key_pair.serialized_der();
        if self.algorithm == KeyAlgorithm::Ed25519
            && let Ok(mut info) = pkcs8::PrivateKeyInfo::from_der(der)
        {
            info.public_key = None;
            if let Ok(v1) = info.to_der() {
                return Zeroizing::new(v1);
            }
        }
        Zeroizing::new(der.to_vec())
    }

    /// The key as passphrase-encrypted PKCS#8 PEM ("ENCRYPTED PRIVATE KEY"),
    /// PBES2 with scrypt (N = 2^14, r = 8, p = 1, [`KdfCost::DESK`]) and AES-256-CBC;
    /// readable by `openssl pkey`.
    pub fn to_encrypted_pem(&self, passphrase: &str) -> Result<Zeroizing<String>, CaError> {
        self.to_encrypted_pem_with(passphrase, KdfCost::DESK)
    }

    /// Like [`to_encrypted_pem`](Self::to_encrypted_pem) with the key derivation `cost`
    /// ([`KdfCost::CA`] for the CA's keys).
    pub fn to_encrypted_pem_with(
        &self,
        passphrase: &str,
        cost: KdfCost,
    ) -> Result<Zeroizing<String>, CaError> {
        let rng = SystemRandom::new();
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        rng.fill(&mut salt)
            .and_then(|()| rng.fill(&mut iv))
            .map_err(|_| CaError::Random)?;
        let params = match cost {
            KdfCost::Scrypt { log_n, r, p } => {
                let scrypt = pkcs8::pkcs5::scrypt::Params::new(log_n, r, p, 32)
                    .map_err(|e| CaError::key_encryption("scrypt parameters", e))?;
                pkcs8::pkcs5::pbes2::Parameters::scrypt_aes256cbc(scrypt, &salt, &iv)
            }
            KdfCost::Pbkdf2Sha256 { iterations } => {
                pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(iterations, &salt, &iv)
            }
        }
        .map_err(|e| CaError::key_encryption("PBES2 parameters", e))?;
        let der = self.portable_pkcs8_der();
        let info = pkcs8::PrivateKeyInfo::from_der(&der)
            .map_err(|e| CaError::key_encryption("PKCS#8 encoding", e))?;
        let doc = info
            .encrypt_with_params(params, passphrase.as_bytes())
            .map_err(|e| CaError::key_encryption("key encryption", e))?;
        let block = pem::Pem::new(ENCRYPTED_LABEL, doc.as_bytes().to_vec());
        Ok(Zeroizing::new(pem::encode_config(&block, pem_config())))
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The public key as DER-encoded SubjectPublicKeyInfo.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.key_pair.subject_public_key_info()
    }

    /// A PKCS#10 certificate signing request with subject CN = `common_name`,
    /// signed by this key, as PEM ("CERTIFICATE REQUEST").
    pub fn csr_pem(&self, common_name: &str) -> Result<String, CaError> {
        let mut params = rcgen::CertificateParams::default();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, common_name);
        params.distinguished_name = dn;
        Ok(params.serialize_request(&self.key_pair)?.pem()?)
    }

    /// Signs `message`: ECDSA P-256 with SHA-256 (ASN.1 DER signature) or Ed25519.
    pub fn sign(&self, message: &[u8]) -> Result<Signature, CaError> {
        let bytes = self.key_pair.sign(message)?;
        Ok(Signature {
            algorithm: self.algorithm.signature_algorithm(),
            bytes,
        })
    }

    /// The underlying rcgen key pair (for building certificates and CSRs).
    pub fn key_pair(&self) -> &KeyPair {
        &self.key_pair
    }

    pub(crate) fn into_key_pair(self) -> KeyPair {
        self.key_pair
    }
}

pub(crate) fn pem_config() -> pem::EncodeConfig {
    pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_pem_roundtrip_both_types() {
        for key in [
            PrivateKey::generate_p256().unwrap(),
            PrivateKey::generate_ed25519().unwrap(),
        ] {
            let pem = key.to_pem();
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
            let back = PrivateKey::from_pem(&pem, None).unwrap();
            assert_eq!(back.algorithm(), key.algorithm());
            assert_eq!(back.public_key_der(), key.public_key_der());
            // A passphrase for a plaintext key is fine.
            let back = PrivateKey::from_pem(&pem, Some("ignored")).unwrap();
            assert_eq!(back.public_key_der(), key.public_key_der());
        }
    }

    #[test]
    fn encrypted_pem_roundtrip() {
        let key = PrivateKey::generate_ed25519().unwrap();
        let pem = key.to_encrypted_pem("correct horse").unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
        let back = PrivateKey::from_pem(&pem, Some("correct horse")).unwrap();
        assert_eq!(back.public_key_der(), key.public_key_der());
        assert!(matches!(
            PrivateKey::from_pem(&pem, None),
            Err(CaError::Passphrase)
        ));
        assert!(matches!(
            PrivateKey::from_pem(&pem, Some("wrong")),
            Err(CaError::Passphrase)
        ));
    }

    #[test]
    fn kdf_cost_is_a_parameter_and_reported() {
        let key = PrivateKey::generate_p256().unwrap();
        let desk = key.to_encrypted_pem("correct horse").unwrap();
        assert_eq!(
            KeyProtection::of_pem(&desk).unwrap(),
            KeyProtection::Encrypted(Some(KdfCost::DESK))
        );
        // A cheap PBKDF2 cost keeps the test fast; the CA's cost is the same code path.
        let cheap = KdfCost::Pbkdf2Sha256 { iterations: 1_000 };
        let pbkdf2 = key.to_encrypted_pem_with("correct horse", cheap).unwrap();
        assert_eq!(
            KeyProtection::of_pem(&pbkdf2).unwrap(),
            KeyProtection::Encrypted(Some(cheap))
        );
        let back = PrivateKey::from_pem(&pbkdf2, Some("correct horse")).unwrap();
        assert_eq!(back.public_key_der(), key.public_key_der());
        assert!(matches!(
            PrivateKey::from_pem(&pbkdf2, Some("wrong horse")),
            Err(CaError::Passphrase)
        ));
        assert_eq!(
            KeyProtection::of_pem(&key.to_pem()).unwrap(),
            KeyProtection::Plain
        );
        assert!(KeyProtection::of_pem("garbage").is_err());
        assert_eq!(
            KdfCost::CA.to_string(),
            format!("PBKDF2-HMAC-SHA256, {CA_PBKDF2_ITERATIONS} iterations")
        );
    }

    #[test]
    fn debug_hides_key_material() {
        let key = PrivateKey::generate_p256().unwrap();
        let dbg = format!("{key:?}");
        assert!(dbg.contains("EcdsaP256"));
        let pem = key.to_pem();
        let body: String = pem.lines().nth(1).unwrap().chars().take(20).collect();
        assert!(!dbg.contains(&body));
    }

    #[test]
    fn other_key_types_and_labels_are_refused() {
        let p384 = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        assert!(matches!(
            PrivateKey::from_pem(&p384.serialize_pem(), None),
            Err(CaError::UnsupportedKey(_))
        ));
        let cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            PrivateKey::from_pem(cert, None),
            Err(CaError::Pem(_))
        ));
        assert!(matches!(
            PrivateKey::from_pem("garbage", None),
            Err(CaError::Pem(_))
        ));
    }

    #[test]
    fn csr_is_signed_by_key() {
        let key = PrivateKey::generate_p256().unwrap();
        let csr = key.csr_pem("Agency Desk").unwrap();
        assert!(csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
        let parsed = rcgen::CertificateSigningRequestParams::from_pem(&csr).unwrap();
        assert_eq!(
            parsed.public_key.subject_public_key_info(),
            key.public_key_der()
        );
    }
}
