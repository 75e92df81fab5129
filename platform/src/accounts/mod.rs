//! Website accounts, the model behind the account pages: the `users` table ([`users`]),
//! passwords ([`passwords`]), one-time email tokens ([`tokens`]), the sign-in limiter
//! ([`limiter`]), stored sessions ([`sessions`]), and what a user keeps on the site: the search
//! history ([`history`]) and listings marked "not interested" ([`dismissals`]). Each table here is queried only from its
//! file; the website's handlers ([`crate::web::accounts`]) parse the form, call one function
//! below and render the outcome.
//!
//! * Passwords are hashed with argon2id (OWASP parameters) on the blocking pool; an unknown
//!   email is checked against a dummy hash so timing does not tell which addresses have
//!   accounts.
//! * Email links carry a random 256-bit token; only its SHA-256 is stored; each works once.
//! * Every door (sign-in, register, forgot, reset, verify, verify-resend, agency application) is
//!   rate-limited per client address and per account by the database-backed
//!   [`limiter::RateLimiter`], shared by every node; sign-in refuses per address only and slows
//!   an account down, so the owner is never locked out; a successful reset clears the account's
//!   counters.
//! * Registering an address that already has an account, or asking a reset for an unknown one,
//!   does nothing visible, so the site does not reveal who has an account.

pub mod dismissals;
mod error;
pub mod history;
pub mod limiter;
pub mod manage;
pub mod operator;
pub mod passwords;
pub mod secrets;
pub mod sessions;
pub mod tokens;
pub mod users;

pub use error::AccountError;
pub use users::{NotifyMode, SignedInUser, UserStore};

use crate::db::Db;
use crate::email_address::EmailAddress;
use limiter::{RateLimiter, SignInLimiter, Verdict};
use passwords::{dummy_hash, hash_password_blocking, verify_password_blocking};
use sessions::SessionStore;
use tokens::{TokenOutcome, TokenPurpose, TokenStore, issue_token};

/// Creates an account for `email` and sends the link to confirm it. An address that already has
/// an account gets nothing, and the caller cannot tell the difference.
pub async fn register(
    db: &Db,
    public_url: &str,
    email: &EmailAddress,
    password: String,
) -> Result<(), AccountError> {
    let hash = hash_password_blocking(password).await?;
    let public_url = public_url.to_owned();
    let email = email.key();
    db.run(move |conn| -> Result<(), AccountError> {
        crate::write_tx!(conn, |c| -> Result<(), AccountError> {
            if let Some(id) = c.insert_user(&email, &hash, None, crate::db::now_ms())? {
                issue_token(c, &public_url, id, &email, TokenPurpose::VerifyEmail)?;
            }
            Ok(())
        })
    })
    .await
}

/// Confirms an address with the token from its link.
/// What confirming with `token` would do, changing nothing: the confirmation link's page (a GET,
/// which mail scanners follow) only shows a button; [`verify_email`] (its POST) uses the token.
pub async fn check_verify_token(db: &Db, token: String) -> Result<TokenOutcome, AccountError> {
    db.run(move |conn| -> Result<TokenOutcome, AccountError> {
        Ok(crate::with_conn!(conn, |c| c.peek_token(TokenPurpose::VerifyEmail, &token))?)
    })
    .await
}

pub async fn verify_email(db: &Db, token: String) -> Result<TokenOutcome, AccountError> {
    db.run(move |conn| -> Result<TokenOutcome, AccountError> {
        crate::write_tx!(conn, |c| -> Result<TokenOutcome, AccountError> {
            let outcome = c.consume_token(TokenPurpose::VerifyEmail, &token)?;
            if let TokenOutcome::Used(user) = outcome {
                c.mark_email_verified(user, crate::db::now_ms())?;
            }
            Ok(outcome)
        })
    })
    .await
}

/// How a sign-in attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignIn {
    /// Too many recent failures from this client address; nothing was checked.
    Limited {
        /// Seconds until the address may try again.
        retry_after_secs: i64,
    },
    /// Unknown address or wrong password (not told apart); the failure was counted.
    WrongCredentials,
    /// Right password, unconfirmed address: a new confirmation link was sent (unless the
    /// account's resend quota is spent, which the answer does not tell).
    Unconfirmed,
    /// Right password, confirmed address: the user to sign in.
    SignedIn(i64),
}

/// Checks a sign-in of `email` (as typed) with `password` from the client address `addr`.
///
/// The attempt is counted BEFORE the password is checked, in one atomic statement per key
/// ([`limiter::RateLimiter::hit`]), and given back only when the password was right, so N
/// parallel guesses count N. Per client address past [`limiter::MAX_FAILURES`] the answer is
/// [`SignIn::Limited`]; per account there is only a slowdown ([`limiter::sign_in_slowdown_ms`]),
/// so the owner is never locked out by someone else's failures.
pub async fn sign_in(
    db: &Db,
    public_url: &str,
    email: &str,
    addr: &str,
    password: String,
) -> Result<SignIn, AccountError> {
    let policy = limiter::Policy::SIGN_IN;
    let email = email.trim().to_lowercase();
    let client_key = policy.client_key(addr);
    let account_key = policy.account_key(&email);
    let chart_key = limiter::addr_key(addr);
    let check = {
        let (client_key, account_key) = (client_key.clone(), account_key.clone());
        let account_quota = policy.per_account.expect("sign-in counts per account");
        db.run(move |conn| -> Result<_, AccountError> {
            crate::write_tx!(conn, |c| -> Result<_, AccountError> {
                let now = crate::db::now_ms();
                if let Verdict::Refused { retry_after_ms } =
                    c.hit(&client_key, policy.per_client, now)?
                {
                    return Ok(Err(retry_after_ms));
                }
                let failures = match c.hit(&account_key, account_quota, now)? {
                    Verdict::Allowed { hits } => hits,
                    Verdict::Refused { .. } => i64::MAX,
                };
                Ok(Ok((failures, c.credentials(&email)?)))
            })
        })
        .await?
    };
    let (failures, account) = match check {
        Err(retry_after_ms) => {
            return Ok(SignIn::Limited {
                retry_after_secs: (retry_after_ms + 999) / 1000,
            });
        }
        Ok(found) => found,
    };
    let slowdown = limiter::sign_in_slowdown_ms(failures);
    if slowdown > 0 {
        // No hashing turn is held while waiting.
        tokio::time::sleep(std::time::Duration::from_millis(slowdown)).await;
    }
    let stored = account
        .as_ref()
        .map(|a| a.password_hash.clone())
        .unwrap_or_else(|| dummy_hash().to_owned());
    let matches = verify_password_blocking(password, stored).await?;
    let Some(account) = account.filter(|_| matches) else {
        db.run(move |conn| -> Result<(), AccountError> {
            // For the console's chart of sign-in failures.
            crate::with_conn!(conn, |c| Ok(
                c.record_failure(&[&chart_key], crate::db::now_ms())?
            ))
        })
        .await?;
        return Ok(SignIn::WrongCredentials);
    };
    if !account.verified {
        // Counted as a failure like a wrong password (the same answer, the same counts), so
        // whoever knows the password cannot tell a new account from an old one.
        let public_url = public_url.to_owned();
        let resend = limiter::Policy::VERIFY_RESEND;
        db.run(move |conn| -> Result<(), AccountError> {
            crate::write_tx!(conn, |c| -> Result<(), AccountError> {
                let quota = resend.per_account.expect("resend counts per account");
                let key = resend.account_key(&account.email);
                if let Verdict::Allowed { .. } = c.hit(&key, quota, crate::db::now_ms())? {
                    issue_token(
                        c,
                        &public_url,
                        account.id,
                        &account.email,
                        TokenPurpose::VerifyEmail,
                    )?;
                }
                Ok(())
            })
        })
        .await?;
        return Ok(SignIn::Unconfirmed);
    }
    db.run(move |conn| -> Result<(), AccountError> {
        crate::with_conn!(conn, |c| {
            c.give_back(&client_key)?;
            c.forget(&[&account_key])?;
            Ok(())
        })
    })
    .await?;
    Ok(SignIn::SignedIn(account.id))
}

/// Sends a reset link to `email` if an account uses it; the caller cannot tell whether one does.
pub async fn request_reset(
    db: &Db,
    public_url: &str,
    email: &EmailAddress,
) -> Result<(), AccountError> {
    let public_url = public_url.to_owned();
    let email = email.key();
    db.run(move |conn| -> Result<(), AccountError> {
        crate::write_tx!(conn, |c| -> Result<(), AccountError> {
            if let Some(id) = c.user_id_by_email(&email)? {
                issue_token(c, &public_url, id, &email, TokenPurpose::PasswordReset)?;
            }
            Ok(())
        })
    })
    .await
}

/// Sets a new password with the token from a reset link (a valid policy is checked by the
/// caller). The link reached the mailbox, so the address counts as confirmed; every session of
/// the user ends.
pub async fn reset_password(
    db: &Db,
    token: String,
    password: String,
) -> Result<TokenOutcome, AccountError> {
    // The token first: no hashing (slow on purpose) for a link that cannot be used.
    let check = token.clone();
    let outcome = db
        .run(move |conn| -> Result<TokenOutcome, AccountError> {
            Ok(crate::with_conn!(conn, |c| c.peek_token(TokenPurpose::PasswordReset, &check))?)
        })
        .await?;
    if !matches!(outcome, TokenOutcome::Used(_)) {
        return Ok(outcome);
    }
    let hash = hash_password_blocking(password).await?;
    db.run(move |conn| -> Result<TokenOutcome, AccountError> {
        crate::write_tx!(conn, |c| -> Result<TokenOutcome, AccountError> {
            let outcome = c.consume_token(TokenPurpose::PasswordReset, &token)?;
            if let TokenOutcome::Used(user) = outcome {
                let now = crate::db::now_ms();
                c.set_password_hash(user, &hash, now)?;
                c.mark_email_verified(user, now)?;
                // Signed in elsewhere with the old password: not any more.
                c.delete_user_sessions(user)?;
                // The owner proved the mailbox: the account's counters start again.
                if let Some(u) = c.signed_in_user(user)? {
                    let keys: Vec<String> = [
                        limiter::Policy::SIGN_IN,
                        limiter::Policy::FORGOT,
                        limiter::Policy::VERIFY_RESEND,
                    ]
                    .iter()
                    .map(|p| p.account_key(&u.email))
                    .collect();
                    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
                    c.forget(&keys)?;
                }
            }
            Ok(outcome)
        })
    })
    .await
}

/// Sets how the user wants listing emails.
pub async fn set_notify_mode(db: &Db, user_id: i64, mode: NotifyMode) -> Result<(), AccountError> {
    db.run(move |conn| -> Result<(), AccountError> {
        crate::with_conn!(conn, |c| {
            c.set_notify_mode(user_id, mode, crate::db::now_ms())?;
            Ok(())
        })
    })
    .await
}
