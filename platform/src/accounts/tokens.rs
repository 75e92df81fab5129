//! One-time email tokens (`email_tokens` table): a link carries a random 256-bit token and only
//! its SHA-256 is stored. A verification link lives [`VERIFY_TTL_MS`], a reset link
//! [`RESET_TTL_MS`]; each works once.

use diesel::prelude::*;

use super::secrets::{random_token, sha256_hex};
use crate::db::schema::email_tokens;
use crate::notify::outbox::{MailKind, NewNotification, OutboxStore};

/// Lifetime of an email verification link.
pub const VERIFY_TTL_MS: i64 = 24 * 3_600_000;
/// Lifetime of a password reset link.
pub const RESET_TTL_MS: i64 = 3_600_000;

/// What an email token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    /// Confirm the address.
    VerifyEmail,
    /// Reset the password.
    PasswordReset,
}

impl TokenPurpose {
    /// The code stored in `email_tokens.purpose` (equal to the mail kind's code).
    pub fn code(self) -> &'static str {
        match self {
            TokenPurpose::VerifyEmail => "verify_email",
            TokenPurpose::PasswordReset => "password_reset",
        }
    }

    fn ttl(self) -> i64 {
        match self {
            TokenPurpose::VerifyEmail => VERIFY_TTL_MS,
            TokenPurpose::PasswordReset => RESET_TTL_MS,
        }
    }

    fn mail(self) -> MailKind {
        match self {
            TokenPurpose::VerifyEmail => MailKind::VerifyEmail,
            TokenPurpose::PasswordReset => MailKind::PasswordReset,
        }
    }

    fn path(self) -> &'static str {
        match self {
            TokenPurpose::VerifyEmail => "/account/verify",
            TokenPurpose::PasswordReset => "/account/reset",
        }
    }
}

/// What happened to a token presented from a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenOutcome {
    /// Valid: it is now used; the user it was for.
    Used(i64),
    /// It was valid once but expired.
    Expired,
    /// Already used, or never issued.
    Invalid,
}

/// Stores a new token for `user_id` and queues the email carrying its link. Call inside the
/// transaction of the change that causes it.
pub fn issue_token<C>(
    c: &mut C,
    public_url: &str,
    user_id: i64,
    email: &str,
    purpose: TokenPurpose,
) -> QueryResult<()>
where
    C: OutboxStore + TokenStore,
{
    let token = random_token();
    let hash = sha256_hex(&token);
    let now = crate::db::now_ms();
    c.insert_token(user_id, purpose, &hash, now, now + purpose.ttl())?;
    let mut mail = NewNotification::new(
        purpose.mail(),
        email,
        format!("{}:{hash}", purpose.code()),
        serde_json::json!({"link": format!("{public_url}{}?token={token}", purpose.path())}),
    );
    mail.user_id = Some(user_id);
    c.enqueue_notification(&mail)?;
    Ok(())
}

/// Email-token storage, for both backends.
pub trait TokenStore {
    /// Stores the digest `hash` of a new token.
    fn insert_token(
        &mut self,
        user_id: i64,
        purpose: TokenPurpose,
        hash: &str,
        now: i64,
        expires: i64,
    ) -> QueryResult<()>;
    /// Uses the token `token` (as received) if it is valid for `purpose`.
    fn consume_token(&mut self, purpose: TokenPurpose, token: &str) -> QueryResult<TokenOutcome>;
    /// What [`consume_token`](Self::consume_token) would answer, changing nothing
    /// (`Used(user)`: valid and unused), so a link opened by a mail scanner spends nothing.
    fn peek_token(&mut self, purpose: TokenPurpose, token: &str) -> QueryResult<TokenOutcome>;
    /// For a token (by its digest) that cannot be used: `Expired` when it was issued, never
    /// used and is past its time, else `Invalid`.
    fn why_unusable(&mut self, purpose: TokenPurpose, hash: &str) -> QueryResult<TokenOutcome>;
}

crate::impl_for_backends!(TokenStore {
    fn insert_token(
        &mut self,
        user_id: i64,
        purpose: TokenPurpose,
        hash: &str,
        now: i64,
        expires: i64,
    ) -> QueryResult<()> {
        diesel::insert_into(email_tokens::table)
            .values((
                email_tokens::user_id.eq(user_id),
                email_tokens::purpose.eq(purpose.code()),
                email_tokens::token_hash.eq(hash),
                email_tokens::created_at.eq(now),
                email_tokens::expires_at.eq(expires),
            ))
            .execute(self)
            .map(drop)
    }

    fn consume_token(&mut self, purpose: TokenPurpose, token: &str) -> QueryResult<TokenOutcome> {
        let hash = sha256_hex(token);
        let now = crate::db::now_ms();
        // One UPDATE decides: of two concurrent uses, only one finds the token unused.
        let used: Option<i64> = diesel::update(
            email_tokens::table
                .filter(email_tokens::token_hash.eq(&hash))
                .filter(email_tokens::purpose.eq(purpose.code()))
                .filter(email_tokens::used_at.is_null())
                .filter(email_tokens::expires_at.gt(now)),
        )
        .set(email_tokens::used_at.eq(now))
        .returning(email_tokens::user_id)
        .get_result(self)
        .optional()?;
        if let Some(user) = used {
            return Ok(TokenOutcome::Used(user));
        }
        self.why_unusable(purpose, &hash)
    }

    fn peek_token(&mut self, purpose: TokenPurpose, token: &str) -> QueryResult<TokenOutcome> {
        let hash = sha256_hex(token);
        let live: Option<i64> = email_tokens::table
            .filter(email_tokens::token_hash.eq(&hash))
            .filter(email_tokens::purpose.eq(purpose.code()))
            .filter(email_tokens::used_at.is_null())
            .filter(email_tokens::expires_at.gt(crate::db::now_ms()))
            .select(email_tokens::user_id)
            .first(self)
            .optional()?;
        match live {
            Some(user) => Ok(TokenOutcome::Used(user)),
            None => self.why_unusable(purpose, &hash),
        }
    }

    fn why_unusable(&mut self, purpose: TokenPurpose, hash: &str) -> QueryResult<TokenOutcome> {
        let expired = email_tokens::table
            .filter(email_tokens::token_hash.eq(hash))
            .filter(email_tokens::purpose.eq(purpose.code()))
            .filter(email_tokens::used_at.is_null())
            .count()
            .get_result::<i64>(self)?
            > 0;
        Ok(if expired {
            TokenOutcome::Expired
        } else {
            TokenOutcome::Invalid
        })
    }
});

#[cfg(test)]
mod tests {
    use super::*;

    crate::db_test!(tokens_work_once_and_expire, |db| {
        let mut conn = db.get().unwrap();
        let user = crate::testing::fixtures::user(&mut conn, "a@example.com");
        crate::with_conn!(&mut conn, |c| {
            let now = crate::db::now_ms();
            c.insert_token(
                user,
                TokenPurpose::PasswordReset,
                &sha256_hex("t1"),
                now,
                now + 1000,
            )
            .unwrap();
            c.insert_token(
                user,
                TokenPurpose::PasswordReset,
                &sha256_hex("t2"),
                now - 10,
                now - 1,
            )
            .unwrap();
            // The wrong purpose does not consume it.
            assert_eq!(
                c.consume_token(TokenPurpose::VerifyEmail, "t1").unwrap(),
                TokenOutcome::Invalid
            );
            // Peeking answers what using would, and uses nothing (twice over).
            for _ in 0..2 {
                assert_eq!(
                    c.peek_token(TokenPurpose::PasswordReset, "t1").unwrap(),
                    TokenOutcome::Used(user)
                );
            }
            assert_eq!(
                c.peek_token(TokenPurpose::PasswordReset, "t2").unwrap(),
                TokenOutcome::Expired
            );
            assert_eq!(
                c.peek_token(TokenPurpose::PasswordReset, "nope").unwrap(),
                TokenOutcome::Invalid
            );
            assert_eq!(
                c.consume_token(TokenPurpose::PasswordReset, "t1").unwrap(),
                TokenOutcome::Used(user)
            );
            assert_eq!(
                c.consume_token(TokenPurpose::PasswordReset, "t1").unwrap(),
                TokenOutcome::Invalid
            );
            assert_eq!(
                c.consume_token(TokenPurpose::PasswordReset, "t2").unwrap(),
                TokenOutcome::Expired
            );
        });
    });
}
