//! The vault's cryptography, all on the desk (the platform sees public keys, wrapped keys and
//! ciphertext only):
//!
//! * each desk's **vault key pair**: X25519 (the `hpke` crate's KEM), its private key kept as
//!   passphrase-encrypted PKCS#8 (scrypt N = 2^14, r = 8, p = 1 and AES-256-CBC, like the
//!   desk's certificate key; OID 1.3.101.110, so `openssl pkey` reads it);
//! * the agency's **vault key** of each epoch: 32 random bytes, **wrapped** for a desk's (or the
//!   recovery key's) public key with HPKE (RFC 9180, base mode, DHKEM(X25519, HKDF-SHA256),
//!   HKDF-SHA256, ChaCha20-Poly1305), `info` naming the agency and the epoch, the holder as
//!   associated data;
//! * each **record** sealed with ChaCha20-Poly1305 (ring) under the epoch's vault key, a fresh
//!   random nonce each time, the agency, record id, version and epoch as associated data, so a
//!   ciphertext moved to another record, version or epoch does not open;
//! * the **recovery key**: 32 random bytes shown once as base32 groups; HKDF-SHA256 derives from
//!   it an X25519 key pair (the vault key of every epoch is wrapped for its public key, so any
//!   approved desk can wrap a new epoch for it without knowing it) and a proof whose SHA-256 the
//!   platform keeps to let a recovering desk in.
//!
//! Why `hpke`: it is the pure-Rust RFC 9180 implementation (rozbb/rust-hpke) checked against the
//! RFC's test vectors, built on RustCrypto's x25519-dalek, hkdf and chacha20poly1305; ring has
//! no HPKE and keeps X25519 private keys ephemeral only.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::{Zeroize, Zeroizing};

use crate::error::ClientError;

type KemX = X25519HkdfSha256;
type SecretKey = <KemX as Kem>::PrivateKey;
type PublicKey = <KemX as Kem>::PublicKey;
type EncappedKey = <KemX as Kem>::EncappedKey;

/// OID of X25519 keys (RFC 8410).
const X25519_OID: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.3.101.110");
/// Format byte in front of every sealed record.
const RECORD_FORMAT: u8 = 1;
/// Bytes of a sealed record besides its plaintext: format, nonce, tag.
pub const SEAL_OVERHEAD: usize = 1 + 12 + 16;
/// RFC 4648 base32 alphabet (recovery keys and fingerprints).
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn crypto(what: &str) -> ClientError {
    ClientError::Crypto(what.to_owned())
}

/// `n` random bytes from the system's generator.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], ClientError> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| crypto("the system's random generator failed"))?;
    Ok(bytes)
}

/// A new random record id: 26 base32 characters (128 bits).
pub fn new_record_id() -> Result<String, ClientError> {
    let bytes: [u8; 16] = random_bytes()?;
    Ok(base32(&bytes))
}

/// RFC 4648 base32 without padding.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Reads base32 (case-insensitive; spaces and dashes ignored); `None` on another character.
pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.chars().filter(|c| !matches!(c, '-' | ' ')) {
        let value = BASE32
            .iter()
            .position(|&a| char::from(a) == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

/// The short fingerprint of a vault public key (base64), which staff compare on both desks
/// before approving one: the first 80 bits of its SHA-256 in base32, in four groups of four.
pub fn fingerprint(public_key_b64: &str) -> String {
    let bytes = B64.decode(public_key_b64).unwrap_or_default();
    let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
    let text = base32(&digest.as_ref()[..10]);
    text.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// A vault key of one epoch (32 bytes), wiped when dropped.
#[derive(Clone)]
pub struct VaultKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VaultKey(…)")
    }
}

impl VaultKey {
    /// A new random vault key.
    pub fn generate() -> Result<VaultKey, ClientError> {
        Ok(VaultKey(Zeroizing::new(random_bytes()?)))
    }

    fn aead(&self) -> LessSafeKey {
        LessSafeKey::new(
            UnboundKey::new(&CHACHA20_POLY1305, self.0.as_ref()).expect("a 32-byte key"),
        )
    }
}

fn record_aad(agency_id: i64, record_id: &str, version: i64, epoch: i64) -> String {
    format!("agency-vault record v1|{agency_id}|{record_id}|{version}|{epoch}")
}

/// Seals a record's content for `version` under the epoch's key: format byte, a fresh random
/// nonce, ciphertext and tag (base64).
pub fn seal_record(
    key: &VaultKey,
    agency_id: i64,
    record_id: &str,
    version: i64,
    epoch: i64,
    plaintext: &[u8],
) -> Result<String, ClientError> {
    let nonce: [u8; 12] = random_bytes()?;
    let mut buffer = plaintext.to_vec();
    key.aead()
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(record_aad(agency_id, record_id, version, epoch).as_bytes()),
            &mut buffer,
        )
        .map_err(|_| crypto("sealing a record failed"))?;
    let mut sealed = Vec::with_capacity(SEAL_OVERHEAD + plaintext.len());
    sealed.push(RECORD_FORMAT);
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&buffer);
    buffer.zeroize();
    Ok(B64.encode(sealed))
}

/// Opens a sealed record; `None` when it does not authenticate (tampered, moved to another
/// record or version, or sealed under another key).
pub fn open_record(
    key: &VaultKey,
    agency_id: i64,
    record_id: &str,
    version: i64,
    epoch: i64,
    sealed_b64: &str,
) -> Option<Zeroizing<Vec<u8>>> {
    let sealed = B64.decode(sealed_b64).ok()?;
    if sealed.len() < SEAL_OVERHEAD || sealed[0] != RECORD_FORMAT {
        return None;
    }
    let nonce = Nonce::try_assume_unique_for_key(&sealed[1..13]).ok()?;
    let mut buffer = Zeroizing::new(sealed[13..].to_vec());
    let len = key
        .aead()
        .open_in_place(
            nonce,
            Aad::from(record_aad(agency_id, record_id, version, epoch).as_bytes()),
            &mut buffer,
        )
        .ok()?
        .len();
    buffer.truncate(len);
    Some(buffer)
}

/// An X25519 key pair for HPKE: a desk's vault key pair, or the recovery key's.
pub struct KeyPair {
    secret: SecretKey,
    public: PublicKey,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &self.public_b64())
            .finish_non_exhaustive()
    }
}

fn wrap_info(agency_id: i64, epoch: i64) -> String {
    format!("agency-vault key v1|{agency_id}|{epoch}")
}

impl KeyPair {
    /// A new random key pair.
    pub fn generate() -> KeyPair {
        let (secret, public) = KemX::gen_keypair();
        KeyPair { secret, public }
    }

    /// The key pair derived from 32 bytes of keying material (the recovery key).
    pub fn derive(ikm: &[u8]) -> KeyPair {
        let (secret, public) = KemX::derive_keypair(ikm);
        KeyPair { secret, public }
    }

    /// The public key, base64.
    pub fn public_b64(&self) -> String {
        B64.encode(self.public.to_bytes())
    }

    /// The private key as passphrase-encrypted PKCS#8 PEM.
    pub fn to_encrypted_pem(&self, passphrase: &str) -> Result<String, ClientError> {
        let secret = Zeroizing::new(self.secret.to_bytes().to_vec());
        // RFC 8410: the private key is an OCTET STRING holding the 32 bytes.
        let mut inner = Zeroizing::new(vec![0x04, 0x20]);
        inner.extend_from_slice(&secret);
        let info = pkcs8::PrivateKeyInfo::new(
            pkcs8::AlgorithmIdentifierRef {
                oid: X25519_OID,
                parameters: None,
            },
            &inner,
        );
        let salt: [u8; 16] = random_bytes()?;
        let iv: [u8; 16] = random_bytes()?;
        let scrypt = pkcs8::pkcs5::scrypt::Params::new(14, 8, 1, 32)
            .map_err(|_| crypto("scrypt parameters"))?;
        let params = pkcs8::pkcs5::pbes2::Parameters::scrypt_aes256cbc(scrypt, &salt, &iv)
            .map_err(|_| crypto("PBES2 parameters"))?;
        let doc = info
            .encrypt_with_params(params, passphrase.as_bytes())
            .map_err(|_| crypto("encrypting the vault key failed"))?;
        let pem = doc
            .to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF)
            .map_err(|_| crypto("encoding the vault key failed"))?;
        Ok(pem.to_string())
    }

    /// Reads a key pair stored by [`to_encrypted_pem`](Self::to_encrypted_pem).
    pub fn from_encrypted_pem(pem: &str, passphrase: &str) -> Result<KeyPair, ClientError> {
        let (_, doc) = pkcs8::SecretDocument::from_pem(pem)
            .map_err(|_| crypto("this desk's stored vault key is damaged"))?;
        let encrypted = pkcs8::EncryptedPrivateKeyInfo::try_from(doc.as_bytes())
            .map_err(|_| crypto("this desk's stored vault key is damaged"))?;
        let plain = encrypted
            .decrypt(passphrase.as_bytes())
            .map_err(|_| ClientError::WrongPassphrase)?;
        let info = pkcs8::PrivateKeyInfo::try_from(plain.as_bytes())
            .map_err(|_| crypto("this desk's stored vault key is damaged"))?;
        if info.algorithm.oid != X25519_OID
            || info.private_key.len() != 34
            || info.private_key[..2] != [0x04, 0x20]
        {
            return Err(crypto("this desk's stored vault key is not an X25519 key"));
        }
        let secret = SecretKey::from_bytes(&info.private_key[2..])
            .map_err(|_| crypto("this desk's stored vault key is damaged"))?;
        let public = KemX::sk_to_pk(&secret);
        Ok(KeyPair { secret, public })
    }

    /// Opens a vault key wrapped for this key pair as `holder`; `None` when it does not open.
    pub fn unwrap_key(
        &self,
        wrapped_b64: &str,
        agency_id: i64,
        epoch: i64,
        holder: &str,
    ) -> Option<VaultKey> {
        let wrapped = B64.decode(wrapped_b64).ok()?;
        if wrapped.len() < 32 {
            return None;
        }
        let encapped = EncappedKey::from_bytes(&wrapped[..32]).ok()?;
        let plain = Zeroizing::new(
            hpke::single_shot_open::<hpke::aead::ChaCha20Poly1305, hpke::kdf::HkdfSha256, KemX>(
                &OpModeR::Base,
                &self.secret,
                &encapped,
                wrap_info(agency_id, epoch).as_bytes(),
                &wrapped[32..],
                holder.as_bytes(),
            )
            .ok()?,
        );
        let key: [u8; 32] = plain.as_slice().try_into().ok()?;
        Some(VaultKey(Zeroizing::new(key)))
    }
}

/// Wraps `key` (epoch `epoch`) for the holder whose X25519 public key is `public_key_b64`.
pub fn wrap_key(
    key: &VaultKey,
    public_key_b64: &str,
    agency_id: i64,
    epoch: i64,
    holder: &str,
) -> Result<String, ClientError> {
    let bytes = B64
        .decode(public_key_b64)
        .map_err(|_| crypto("a desk's vault public key is not base64"))?;
    let public = PublicKey::from_bytes(&bytes)
        .map_err(|_| crypto("a desk's vault public key is not an X25519 key"))?;
    let (encapped, sealed) =
        hpke::single_shot_seal::<hpke::aead::ChaCha20Poly1305, hpke::kdf::HkdfSha256, KemX>(
            &OpModeS::Base,
            &public,
            wrap_info(agency_id, epoch).as_bytes(),
            key.0.as_ref(),
            holder.as_bytes(),
        )
        .map_err(|_| crypto("wrapping the vault key failed"))?;
    let mut out = encapped.to_bytes().to_vec();
    out.extend_from_slice(&sealed);
    Ok(B64.encode(out))
}

/// The recovery key: 32 random bytes, shown once (`vault init`) as 13 groups of base32.
pub struct RecoveryKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for RecoveryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryKey(…)")
    }
}

impl RecoveryKey {
    /// A new random recovery key.
    pub fn generate() -> Result<RecoveryKey, ClientError> {
        Ok(RecoveryKey(Zeroizing::new(random_bytes()?)))
    }

    /// Reads a recovery key as shown (case, spaces and dashes do not matter).
    pub fn parse(text: &str) -> Result<RecoveryKey, ClientError> {
        let bytes = from_base32(text.trim())
            .filter(|b| b.len() == 32)
            .ok_or_else(|| {
                ClientError::input(
                    "recovery key",
                    "is not a recovery key: 52 letters A-Z and digits 2-7, in groups of four, as \
                 `vault init` showed it",
                )
            })?;
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes);
        Ok(RecoveryKey(Zeroizing::new(key)))
    }

    /// The form shown to staff: base32 in groups of four.
    pub fn display(&self) -> Zeroizing<String> {
        let text = Zeroizing::new(base32(self.0.as_ref()));
        Zeroizing::new(
            text.as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join("-"),
        )
    }

    fn derive(&self, label: &[u8]) -> Zeroizing<[u8; 32]> {
        struct Len;
        impl ring::hkdf::KeyType for Len {
            fn len(&self) -> usize {
                32
            }
        }
        let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"agency-vault recovery v1");
        let prk = salt.extract(self.0.as_ref());
        let mut out = Zeroizing::new([0u8; 32]);
        prk.expand(&[label], Len)
            .and_then(|okm| okm.fill(out.as_mut()))
            .expect("32 bytes of HKDF-SHA256 output");
        out
    }

    /// The X25519 key pair the vault key of each epoch is wrapped for.
    pub fn key_pair(&self) -> KeyPair {
        KeyPair::derive(self.derive(b"x25519").as_ref())
    }

    /// The proof shown to the platform (which keeps its SHA-256), base64.
    pub fn proof_b64(&self) -> String {
        B64.encode(self.derive(b"proof").as_ref())
    }
}

/// The holder name of the recovery key on the platform.
pub const RECOVERY_HOLDER: &str = "recovery";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_open_only_where_they_were_sealed() {
        let key = VaultKey::generate().unwrap();
        let sealed = seal_record(&key, 7, "REC1", 2, 1, b"Tina Tenant").unwrap();
        let opened = open_record(&key, 7, "REC1", 2, 1, &sealed).unwrap();
        assert_eq!(opened.as_slice(), b"Tina Tenant");
        // Another record, version, epoch, agency or key: refused.
        assert!(open_record(&key, 7, "REC2", 2, 1, &sealed).is_none());
        assert!(open_record(&key, 7, "REC1", 3, 1, &sealed).is_none());
        assert!(open_record(&key, 7, "REC1", 2, 2, &sealed).is_none());
        assert!(open_record(&key, 8, "REC1", 2, 1, &sealed).is_none());
        let other = VaultKey::generate().unwrap();
        assert!(open_record(&other, 7, "REC1", 2, 1, &sealed).is_none());
        // One flipped bit: refused.
        let mut bytes = B64.decode(&sealed).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(open_record(&key, 7, "REC1", 2, 1, &B64.encode(bytes)).is_none());
        // Fresh nonce each time: the same content seals differently.
        assert_ne!(
            sealed,
            seal_record(&key, 7, "REC1", 2, 1, b"Tina Tenant").unwrap()
        );
    }

    #[test]
    fn wrapped_keys_open_for_their_holder_only() {
        let key = VaultKey::generate().unwrap();
        let desk = KeyPair::generate();
        let wrapped = wrap_key(&key, &desk.public_b64(), 7, 3, "ab12").unwrap();
        let opened = desk.unwrap_key(&wrapped, 7, 3, "ab12").unwrap();
        assert_eq!(opened.0.as_ref(), key.0.as_ref());
        assert!(desk.unwrap_key(&wrapped, 7, 4, "ab12").is_none(), "epoch");
        assert!(desk.unwrap_key(&wrapped, 7, 3, "cd34").is_none(), "holder");
        assert!(
            KeyPair::generate()
                .unwrap_key(&wrapped, 7, 3, "ab12")
                .is_none()
        );
    }

    #[test]
    fn the_stored_vault_key_needs_the_passphrase() {
        let desk = KeyPair::generate();
        let pem = desk
            .to_encrypted_pem("correct horse battery staple")
            .unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        let back = KeyPair::from_encrypted_pem(&pem, "correct horse battery staple").unwrap();
        assert_eq!(back.public_b64(), desk.public_b64());
        assert!(matches!(
            KeyPair::from_encrypted_pem(&pem, "wrong"),
            Err(ClientError::WrongPassphrase)
        ));
    }

    #[test]
    fn recovery_keys_round_trip_and_derive_the_same_keys() {
        let recovery = RecoveryKey::generate().unwrap();
        let shown = recovery.display();
        assert_eq!(shown.len(), 52 + 12, "{}", shown.as_str());
        let again = RecoveryKey::parse(&shown.to_lowercase()).unwrap();
        assert_eq!(again.proof_b64(), recovery.proof_b64());
        assert_eq!(
            again.key_pair().public_b64(),
            recovery.key_pair().public_b64()
        );
        assert_ne!(
            recovery.proof_b64(),
            RecoveryKey::generate().unwrap().proof_b64()
        );
        assert!(RecoveryKey::parse("not-a-key").is_err());
    }

    #[test]
    fn fingerprints_are_short_and_stable() {
        let desk = KeyPair::generate();
        let f = fingerprint(&desk.public_b64());
        assert_eq!(f.len(), 19, "{f}");
        assert_eq!(f, fingerprint(&desk.public_b64()));
        assert_ne!(f, fingerprint(&KeyPair::generate().public_b64()));
    }
}
