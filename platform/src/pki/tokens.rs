//! One-time enrolment tokens. An operator's approval creates one; the agency's client sends it
//! with its first CSR. Only the token's SHA-256 is stored, so a database reader cannot enrol. A
//! token may name the desk it is for; a new token voids the agency's older unused ones of the
//! same desk name (or, without a name, the older ones without a name), so an agency can enrol
//! several new desks at once and at most one token per desk name is usable.

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
    /// Replaced by a newer token for the same desk of the agency before it was used.
    Voided,
}

/// An unused, unexpired token, as the operator sees it (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, serde::Serialize)]
pub struct PendingToken {
    /// Row id.
    pub id: i64,
    /// Issued at (ms).
    pub created_at: i64,
    /// Stops working at (ms).
    pub expires_at: i64,
    /// The desk it is for, if named.
    pub desk_name: Option<String>,
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
    /// Stores a new token hash for the agency (for the desk `desk`, if named), valid for
    /// [`TOKEN_LIFETIME_MS`]; returns expiry.
    fn insert_token(
        &mut self,
        agency_id: i64,
        token_hash: &str,
        desk: Option<&str>,
    ) -> QueryResult<i64>;
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
    /// Voids the agency's unused, unexpired, not yet voided tokens; returns how many.
    fn void_unused_tokens(&mut self, agency_id: i64, now_ms: i64) -> QueryResult<usize>;
    /// Voids the agency's unused, unexpired, not yet voided tokens for the desk named `desk`
    /// (`None`: the tokens without a desk name); returns how many.
    fn void_desk_tokens(
        &mut self,
        agency_id: i64,
        desk: Option<&str>,
        now_ms: i64,
    ) -> QueryResult<usize>;
    /// The desk names of the agency's used tokens, by the serial of the certificate each
    /// enrolled (the desk's lineage).
    fn desk_names(&mut self, agency_id: i64) -> QueryResult<Vec<(String, String)>>;
    /// The agency's tokens that still work at `now_ms`, oldest first.
    fn pending_tokens(&mut self, agency_id: i64, now_ms: i64) -> QueryResult<Vec<PendingToken>>;
}

crate::impl_for_backends!(TokenStore {
    fn insert_token(
        &mut self,
        agency_id: i64,
        token_hash: &str,
        desk: Option<&str>,
    ) -> QueryResult<i64> {
        let now = crate::db::now_ms();
        let expires = now + TOKEN_LIFETIME_MS;
        diesel::insert_into(enrolment_tokens::table)
            .values((
                enrolment_tokens::agency_id.eq(agency_id),
                enrolment_tokens::token_hash.eq(token_hash),
                enrolment_tokens::created_at.eq(now),
                enrolment_tokens::expires_at.eq(expires),
                enrolment_tokens::desk_name.eq(desk),
            ))
            .execute(self)?;
        Ok(expires)
    }

    fn check_token(
        &mut self,
        token_hash: &str,
        now_ms: i64,
    ) -> QueryResult<Result<(i64, i64), TokenProblem>> {
        #[allow(clippy::type_complexity)]
        let row: Option<(i64, i64, i64, Option<i64>, Option<i64>)> = enrolment_tokens::table
            .filter(enrolment_tokens::token_hash.eq(token_hash))
            .select((
                enrolment_tokens::id,
                enrolment_tokens::agency_id,
                enrolment_tokens::expires_at,
                enrolment_tokens::used_at,
                enrolment_tokens::voided_at,
            ))
            .first(self)
            .optional()?;
        Ok(match row {
            None => Err(TokenProblem::Unknown),
            Some((_, _, _, Some(_), _)) => Err(TokenProblem::Used),
            Some((_, _, _, None, Some(_))) => Err(TokenProblem::Voided),
            Some((_, _, expires, None, None)) if expires <= now_ms => Err(TokenProblem::Expired),
            Some((id, agency, _, None, None)) => Ok((id, agency)),
        })
    }

    fn mark_token_used(&mut self, token_id: i64, serial: &str, now_ms: i64) -> QueryResult<bool> {
        let n = diesel::update(
            enrolment_tokens::table
                .find(token_id)
                .filter(enrolment_tokens::used_at.is_null())
                .filter(enrolment_tokens::voided_at.is_null()),
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

    fn void_unused_tokens(&mut self, agency_id: i64, now_ms: i64) -> QueryResult<usize> {
        diesel::update(
            enrolment_tokens::table
                .filter(enrolment_tokens::agency_id.eq(agency_id))
                .filter(enrolment_tokens::used_at.is_null())
                .filter(enrolment_tokens::voided_at.is_null())
                .filter(enrolment_tokens::expires_at.gt(now_ms)),
        )
        .set(enrolment_tokens::voided_at.eq(now_ms))
        .execute(self)
    }

    fn void_desk_tokens(
        &mut self,
        agency_id: i64,
        desk: Option<&str>,
        now_ms: i64,
    ) -> QueryResult<usize> {
        let q = enrolment_tokens::table
            .filter(enrolment_tokens::agency_id.eq(agency_id))
            .filter(enrolment_tokens::used_at.is_null())
            .filter(enrolment_tokens::voided_at.is_null())
            .filter(enrolment_tokens::expires_at.gt(now_ms));
        match desk {
            Some(name) => diesel::update(q.filter(enrolment_tokens::desk_name.eq(name)))
                .set(enrolment_tokens::voided_at.eq(now_ms))
                .execute(self),
            None => diesel::update(q.filter(enrolment_tokens::desk_name.is_null()))
                .set(enrolment_tokens::voided_at.eq(now_ms))
                .execute(self),
        }
    }

    fn desk_names(&mut self, agency_id: i64) -> QueryResult<Vec<(String, String)>> {
        enrolment_tokens::table
            .filter(enrolment_tokens::agency_id.eq(agency_id))
            .filter(enrolment_tokens::certificate_serial.is_not_null())
            .filter(enrolment_tokens::desk_name.is_not_null())
            .select((
                enrolment_tokens::certificate_serial.assume_not_null(),
                enrolment_tokens::desk_name.assume_not_null(),
            ))
            .load(self)
    }

    fn pending_tokens(&mut self, agency_id: i64, now_ms: i64) -> QueryResult<Vec<PendingToken>> {
        enrolment_tokens::table
            .filter(enrolment_tokens::agency_id.eq(agency_id))
            .filter(enrolment_tokens::used_at.is_null())
            .filter(enrolment_tokens::voided_at.is_null())
            .filter(enrolment_tokens::expires_at.gt(now_ms))
            .order(enrolment_tokens::id.asc())
            .select((
                enrolment_tokens::id,
                enrolment_tokens::created_at,
                enrolment_tokens::expires_at,
                enrolment_tokens::desk_name,
            ))
            .load(self)
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
            let expires = c.insert_token(agency.id, &h, None).unwrap();
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

    crate::db_test!(a_void_token_stops_working_and_used_ones_stay_used, |db| {
        let mut conn = db.get().unwrap();
        let agency = crate::testing::fixtures::active_agency_with_certificate(&mut conn, "Void").0;
        let other = crate::testing::fixtures::active_agency_with_certificate(&mut conn, "Other").0;
        let (used, used_hash) = generate();
        let (old, old_hash) = generate();
        let (theirs, theirs_hash) = generate();
        crate::with_conn!(&mut conn, |c| {
            let now = crate::db::now_ms();
            c.insert_token(agency.id, &used_hash, None).unwrap();
            let (id, _) = c.check_token(&hash(&used), now).unwrap().unwrap();
            assert!(c.mark_token_used(id, "ab", now).unwrap());
            c.insert_token(agency.id, &old_hash, None).unwrap();
            c.insert_token(other.id, &theirs_hash, None).unwrap();
            assert_eq!(c.pending_tokens(agency.id, now).unwrap().len(), 1);

            assert_eq!(c.void_unused_tokens(agency.id, now).unwrap(), 1);
            assert_eq!(
                c.check_token(&hash(&old), now).unwrap(),
                Err(TokenProblem::Voided)
            );
            assert_eq!(
                c.check_token(&hash(&used), now).unwrap(),
                Err(TokenProblem::Used),
                "a used token stays used"
            );
            assert!(c.pending_tokens(agency.id, now).unwrap().is_empty());
            // Another agency's token is untouched.
            assert!(c.check_token(&hash(&theirs), now).unwrap().is_ok());
            assert_eq!(c.pending_tokens(other.id, now).unwrap().len(), 1);
        });
    });

    crate::db_test!(a_desk_token_voids_only_that_desks_older_token, |db| {
        let mut conn = db.get().unwrap();
        let agency = crate::testing::fixtures::active_agency_with_certificate(&mut conn, "Desks").0;
        let (porto, porto_hash) = generate();
        let (faro, faro_hash) = generate();
        let (plain, plain_hash) = generate();
        crate::with_conn!(&mut conn, |c| {
            let now = crate::db::now_ms();
            c.insert_token(agency.id, &porto_hash, Some("Porto"))
                .unwrap();
            c.insert_token(agency.id, &faro_hash, Some("Faro")).unwrap();
            c.insert_token(agency.id, &plain_hash, None).unwrap();
            // A newer token for Porto voids Porto's only.
            assert_eq!(
                c.void_desk_tokens(agency.id, Some("Porto"), now).unwrap(),
                1
            );
            assert_eq!(
                c.check_token(&hash(&porto), now).unwrap(),
                Err(TokenProblem::Voided)
            );
            assert!(c.check_token(&hash(&faro), now).unwrap().is_ok());
            assert!(c.check_token(&hash(&plain), now).unwrap().is_ok());
            // One without a name voids only those without a name.
            assert_eq!(c.void_desk_tokens(agency.id, None, now).unwrap(), 1);
            assert!(c.check_token(&hash(&faro), now).unwrap().is_ok());
            let pending = c.pending_tokens(agency.id, now).unwrap();
            assert_eq!(pending.len(), 1);
            assert_eq!(pending[0].desk_name.as_deref(), Some("Faro"));
            // The name stays with the desk that enrolled with it.
            let (id, _) = c.check_token(&hash(&faro), now).unwrap().unwrap();
            assert!(c.mark_token_used(id, "fa", now).unwrap());
            assert_eq!(
                c.desk_names(agency.id).unwrap(),
                vec![("fa".to_owned(), "Faro".to_owned())]
            );
        });
    });
}
