//! Random tokens and their digests: the session ids, CSRF tokens and email-link tokens are random
//! 256-bit values; the database keeps only their SHA-256.

use base64::Engine;

/// A random 256-bit value, base64url without padding.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of `text`, lowercase hex.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()))
}

/// Constant-time equality of two strings (lengths may leak; tokens have a fixed length).
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The `site_keys` queries, for both backends: keys every node shares, made by whichever node
/// needs one first.
pub trait SiteKeyStore {
    /// The 32-byte key named `name`, created (random) when there is none yet. Two nodes asking
    /// at once get the same key: the insert does nothing when the row exists.
    fn site_key(&mut self, name: &str, now: i64) -> diesel::QueryResult<Vec<u8>>;
}

crate::impl_for_backends!(SiteKeyStore {
    fn site_key(&mut self, name: &str, now: i64) -> diesel::QueryResult<Vec<u8>> {
        use crate::db::schema::site_keys;
        use diesel::prelude::*;
        let fresh: [u8; 32] = rand::random();
        diesel::insert_into(site_keys::table)
            .values((
                site_keys::name.eq(name),
                site_keys::secret.eq(fresh.to_vec()),
                site_keys::created_at.eq(now),
            ))
            .on_conflict(site_keys::name)
            .do_nothing()
            .execute(self)?;
        site_keys::table
            .find(name)
            .select(site_keys::secret)
            .first(self)
    }
});
