//! One-time enrolment tokens. An operator's approval creates one; the agency's client sends it
//! with its first CSR. Only the token's SHA-256 is stored, so a database reader cannot enrol.

use base64::Engine;
use diesel::prelude::*;

use crate::db::schema::enrolment_tokens;

/// How long a token stays usable.
pub const TOKEN_LIFETIME_MS: i64 = 7 * 86_400_000;

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    /// Never issued (or mistyped).
    Unknown,
    /// Already used for an enrolment.
    Used,
    /// Older than [`TOKEN_LIFETIME_MS`].
    Expired,
}

/// A fresh random token (256 bits, URL-safe base64) and its stored hash.
pub fn generate() -> (String, String) {
    let bytes: [u8; 32] = rand::random();
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&token);
    (token, hash)
}

/// The stored form of a token.
pub fn hash(token: &str) -> String {
    hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        token.trim().as_bytes(),
    ))
}

/// Token rows; implemented for both connection types. Call inside a write transaction.
pub trait TokenStore {
    /// Stores a new token hash for the agency, valid for [`TOKEN_LIFETIME_MS`]; returns expiry.
    fn insert_token(&mut self, agency_id: i64, token_hash: &str) -> QueryResult<i64>;
    /// Claims a token: `Ok(Ok((token_id, agency_id)))` when it is unused and unexpired. The
    /// claim holds only if the transaction commits (then [`TokenStore::mark_token_used`]).
    fn check_token(
        &mut self,
        token_hash: &str,
        now_ms: i64,
    ) -> QueryResult<Result<(i64, i64), TokenProblem>>;
    /// Marks the token used by the certificate `serial`; false when someone else used it first.
    fn mark_token_used(&mut self, token_id: i64, serial: &str, now_ms: i64) -> QueryResult<bool>;
    /// When the token with this hash expires (ms), if it exists.
    fn token_expiry(&mut self, token_hash: &str) -> QueryResult<Option<i64>>;
}

crate::impl_for_backends!(TokenStore {
    fn insert_token(&mut self, agency_id: i64, token_hash: &str) -> QueryResult<i64> {
        let now = crate::db::now_ms();
        let expires = now + TOKEN_LIFETIME_MS;
        diesel::insert_into(enrolment_tokens::table)
            .values((
                enrolment_tokens::agency_id.eq(agency_id),
                enrolment_tokens::token_hash.eq(token_hash),
                enrolment_tokens::created_at.eq(now),
                enrolment_tokens::expires_at.eq(expires),
            ))
            .execute(self)?;
        Ok(expires)
    }

    fn check_token(
        &mut self,
        token_hash: &str,
        now_ms: i64,
    ) -> QueryResult<Result<(i64, i64), TokenProblem>> {
        let row: Option<(i64, i64, i64, Option<i64>)> = enrolment_tokens::table
            .filter(enrolment_tokens::token_hash.eq(token_hash))
            .select((
                enrolment_tokens::id,
                enrolment_tokens::agency_id,
                enrolment_tokens::expires_at,
                enrolment_tokens::used_at,
            ))
            .first(self)
            .optional()?;
        Ok(match row {
            None => Err(TokenProblem::Unknown),
            Some((_, _, _, Some(_))) => Err(TokenProblem::Used),
            Some((_, _, expires, None)) if expires <= now_ms => Err(TokenProblem::Expired),
            Some((id, agency, _, None)) => Ok((id, agency)),
        })
    }

    fn mark_token_used(&mut self, token_id: i64, serial: &str, now_ms: i64) -> QueryResult<bool> {
        let n = diesel::update(
            enrolment_tokens::table
                .find(token_id)
                .filter(enrolment_tokens::used_at.is_null()),
        )
        .set((
            enrolment_tokens::used_at.eq(now_ms),
            enrolment_tokens::certificate_serial.eq(serial),
        ))
        .execute(self)?;
        Ok(n == 1)
    }

    fn token_expiry(&mut self, token_hash: &str) -> QueryResult<Option<i64>> {
        enrolment_tokens::table
            .filter(enrolment_tokens::token_hash.eq(token_hash))
            .select(enrolment_tokens::expires_at)
            .first(self)
            .optional()
    }
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, ha) = generate();
        let (b, _) = generate();
        assert_ne!(a, b);
        assert!(a.len() >= 43);
        assert_eq!(hash(&a), ha);
        assert_eq!(hash(&format!(" {a}\n")), ha, "pasted whitespace is ignored");
        assert_ne!(ha, a);
    }

    crate::db_test!(tokens_are_single_use_and_expire, |db| {
        let mut conn = db.get().unwrap();
        let agency = crate::testing::fixtures::active_agency_with_certificate(&mut conn, "Tok").0;
        let (token, h) = generate();
        crate::with_conn!(&mut conn, |c| {
            let expires = c.insert_token(agency.id, &h).unwrap();
            let now = crate::db::now_ms();
            assert!(expires > now + TOKEN_LIFETIME_MS - 60_000);
            assert_eq!(
                c.check_token(&hash("nope"), now).unwrap(),
                Err(TokenProblem::Unknown)
            );
            assert_eq!(
                c.check_token(&hash(&token), expires + 1).unwrap(),
                Err(TokenProblem::Expired)
            );
            let (id, agency_id) = c.check_token(&hash(&token), now).unwrap().unwrap();
            assert_eq!(agency_id, agency.id);
            assert!(c.mark_token_used(id, "ab", now).unwrap());
            assert!(!c.mark_token_used(id, "cd", now).unwrap());
            assert_eq!(
                c.check_token(&hash(&token), now).unwrap(),
                Err(TokenProblem::Used)
            );
        });
    });
}
