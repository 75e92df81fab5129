//! What a signed-in user does to their own account: change the password (every other session
//! ends) and delete the account, which erases it with everything kept for it: saved searches
//! (deleted ones too) and every notification about them, search history, "not interested"
//! marks, email links, sessions, sign-in failure counts, and the mail composed for the address
//! (sent mail keeps its envelope recipient, which goes too). Nothing is only flagged.
//!
//! Both ask for the current password, and a wrong one counts as a failed sign-in, so a
//! session left open somewhere cannot be used to guess it.

use diesel::prelude::*;

use super::AccountError;
use super::limiter::{RateLimiter, SignInLimiter, account_key};
use super::passwords::{hash_password_blocking, verify_password_blocking};
use super::sessions::SessionStore;
use super::users::UserStore;
use crate::db::Db;
use crate::db::schema::{
    dismissed_listings, email_tokens, mail_messages, notifications, search_history, users,
    web_sessions,
};
use crate::notify::NotificationStatus;
use crate::notify::messages::MessageStore;
use crate::searches::SavedSearchStore;

/// How a request that needs the current password ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmed {
    /// Done.
    Done,
    /// The password was wrong (counted as a failed sign-in); nothing changed.
    WrongPassword,
    /// Too many recent failures for the account; nothing was checked.
    Limited,
}

/// Checks `password` against the account of `email`; counts a failure.
async fn check_current(db: &Db, email: &str, password: String) -> Result<Confirmed, AccountError> {
    let key = account_key(email);
    let stored = {
        let (email, key) = (email.to_owned(), key.clone());
        db.run(move |conn| -> Result<_, AccountError> {
            crate::with_conn!(conn, |c| {
                if c.is_limited(&[&key], crate::db::now_ms())? {
                    return Ok(None);
                }
                Ok(Some(c.credentials(&email)?))
            })
        })
        .await?
    };
    let Some(Some(account)) = stored else {
        return Ok(Confirmed::Limited);
    };
    if verify_password_blocking(password, account.password_hash).await? {
        return Ok(Confirmed::Done);
    }
    db.run(move |conn| -> Result<(), AccountError> {
        crate::with_conn!(
            conn,
            |c| Ok(c.record_failure(&[&key], crate::db::now_ms())?)
        )
    })
    .await?;
    Ok(Confirmed::WrongPassword)
}

/// Sets a new password (its policy checked by the caller) after checking the current one; every
/// session of the user but `keep_session` (the one asking, by its id hash) ends.
pub async fn change_password(
    db: &Db,
    user_id: i64,
    email: &str,
    current: String,
    new: String,
    keep_session: Option<String>,
) -> Result<Confirmed, AccountError> {
    let checked = check_current(db, email, current).await?;
    if checked != Confirmed::Done {
        return Ok(checked);
    }
    let hash = hash_password_blocking(new).await?;
    db.run(move |conn| -> Result<(), AccountError> {
        crate::write_tx!(conn, |c| -> Result<(), AccountError> {
            c.set_password_hash(user_id, &hash, crate::db::now_ms())?;
            match &keep_session {
                Some(keep) => {
                    diesel::delete(
                        web_sessions::table
                            .filter(web_sessions::user_id.eq(user_id))
                            .filter(web_sessions::id_hash.ne(keep)),
                    )
                    .execute(c)?;
                }
                None => c.delete_user_sessions(user_id)?,
            }
            Ok(())
        })
    })
    .await?;
    Ok(Confirmed::Done)
}

/// Erases the account after checking its password (see the module's text for what goes).
pub async fn delete_account(
    db: &Db,
    user_id: i64,
    email: &str,
    password: String,
) -> Result<Confirmed, AccountError> {
    let checked = check_current(db, email, password).await?;
    if checked != Confirmed::Done {
        return Ok(checked);
    }
    let email = email.to_owned();
    db.run(move |conn| -> Result<(), AccountError> {
        crate::write_tx!(conn, |c| -> Result<(), AccountError> {
            c.erase_account(user_id, &email)?;
            Ok(())
        })
    })
    .await?;
    Ok(Confirmed::Done)
}

/// The erasure, inside the caller's transaction, for both backends.
trait AccountEraser {
    fn erase_account(&mut self, user_id: i64, email: &str) -> QueryResult<()>;
}

crate::impl_for_backends!(AccountEraser {
    fn erase_account(&mut self, user_id: i64, email: &str) -> QueryResult<()> {
        // Saved searches and every notification about them (composed, unsent mail included).
        self.erase_user_saved_searches(user_id)?;
        // Any other notification of the user, with the unsent mail composed from it.
        let mut messages: Vec<i64> = notifications::table
            .filter(notifications::user_id.eq(user_id))
            .filter(notifications::mail_message_id.is_not_null())
            .select(notifications::mail_message_id.assume_not_null())
            .load(self)?;
        messages.sort_unstable();
        messages.dedup();
        diesel::delete(notifications::table.filter(notifications::user_id.eq(user_id)))
            .execute(self)?;
        let unsent = self.unsent_messages(&messages)?;
        self.delete_unsent_messages(&unsent)?;
        // Mail to the address that is not being sent right now: sent messages keep only their
        // envelope (no bytes); email links and given-up mail keep their bytes. One being sent
        // at this moment finishes and keeps its recipient until its lease is over.
        diesel::delete(
            mail_messages::table
                .filter(mail_messages::recipient.eq(email))
                .filter(mail_messages::status.ne(NotificationStatus::Sending)),
        )
        .execute(self)?;
        diesel::delete(search_history::table.filter(search_history::user_id.eq(user_id)))
            .execute(self)?;
        diesel::delete(dismissed_listings::table.filter(dismissed_listings::user_id.eq(user_id)))
            .execute(self)?;
        diesel::delete(email_tokens::table.filter(email_tokens::user_id.eq(user_id)))
            .execute(self)?;
        self.delete_user_sessions(user_id)?;
        self.clear_failures(&account_key(email))?;
        self.forget_account(email)?;
        diesel::delete(users::table.filter(users::id.eq(user_id))).execute(self)?;
        Ok(())
    }
});
