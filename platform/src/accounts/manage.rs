//! What a signed-in user does to their own account: change the password (every other session
//! ends), change the address (confirmed from the new one, the old one told), and delete the
//! account, which erases it with everything kept for it: saved searches
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
use super::secrets::{random_token, sha256_hex};
use super::sessions::SessionStore;
use super::users::UserStore;
use crate::db::Db;
use crate::db::schema::{
    dismissed_listings, email_changes, email_tokens, mail_messages, notifications, search_history,
    users, web_sessions,
};
use crate::email_address::EmailAddress;
use crate::notify::NotificationStatus;
use crate::notify::messages::MessageStore;
use crate::notify::outbox::{MailKind, NewNotification, OutboxStore};
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

/// Lifetime of a change-of-address link.
pub const EMAIL_CHANGE_TTL_MS: i64 = 24 * 3_600_000;

/// Asks to change the address of the account to `new_email`, after checking its password: a
/// link to confirm goes to the new address and a notice to the current one; the address changes
/// only when the link is confirmed ([`confirm_email_change`]). A newer request replaces an older
/// one. Whether another account uses the new address is not told here (the confirmation page,
/// seen by whoever reads that mailbox, says it).
pub async fn request_email_change(
    db: &Db,
    public_url: &str,
    user_id: i64,
    email: &str,
    password: String,
    new_email: &EmailAddress,
) -> Result<Confirmed, AccountError> {
    let checked = check_current(db, email, password).await?;
    if checked != Confirmed::Done {
        return Ok(checked);
    }
    let (old, new) = (email.to_owned(), new_email.key());
    let link_base = format!("{public_url}/account/email/confirm?token=");
    db.run(move |conn| -> Result<(), AccountError> {
        crate::write_tx!(conn, |c| -> Result<(), AccountError> {
            c.start_email_change(user_id, &old, &new, &link_base)?;
            Ok(())
        })
    })
    .await?;
    Ok(Confirmed::Done)
}

/// How confirming a change of address ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailChange {
    /// The link is good (a peek) or the address changed (a confirmation): the user and the new
    /// address.
    Changed(i64, String),
    /// Another account uses that address now; nothing changed (the link is spent).
    Taken,
    /// The link expired.
    Expired,
    /// Used already, replaced by a newer request, or never issued.
    Invalid,
}

/// What [`confirm_email_change`] would answer, changing nothing (the link's page is a GET).
pub async fn check_email_change(db: &Db, token: String) -> Result<EmailChange, AccountError> {
    db.run(move |conn| -> Result<EmailChange, AccountError> {
        Ok(crate::with_conn!(conn, |c| c.email_change(&token, false))?)
    })
    .await
}

/// Confirms a change of address with the token from its link: the account takes the new
/// (now confirmed) address, and the request keeps no address.
pub async fn confirm_email_change(db: &Db, token: String) -> Result<EmailChange, AccountError> {
    db.run(move |conn| -> Result<EmailChange, AccountError> {
        crate::write_tx!(conn, |c| -> Result<EmailChange, AccountError> {
            Ok(c.email_change(&token, true)?)
        })
    })
    .await
}

/// The change-of-address queries, for both backends.
trait EmailChanges {
    fn start_email_change(
        &mut self,
        user_id: i64,
        old: &str,
        new: &str,
        link_base: &str,
    ) -> QueryResult<()>;
    /// Looks the token up; with `spend`, uses it and changes the address.
    fn email_change(&mut self, token: &str, spend: bool) -> QueryResult<EmailChange>;
}

crate::impl_for_backends!(EmailChanges {
    fn start_email_change(
        &mut self,
        user_id: i64,
        old: &str,
        new: &str,
        link_base: &str,
    ) -> QueryResult<()> {
        // One pending request per account: an older link stops working.
        diesel::delete(
            email_changes::table
                .filter(email_changes::user_id.eq(user_id))
                .filter(email_changes::used_at.is_null()),
        )
        .execute(self)?;
        let token = random_token();
        let hash = sha256_hex(&token);
        let now = crate::db::now_ms();
        diesel::insert_into(email_changes::table)
            .values((
                email_changes::user_id.eq(user_id),
                email_changes::new_email.eq(new),
                email_changes::token_hash.eq(&hash),
                email_changes::created_at.eq(now),
                email_changes::expires_at.eq(now + EMAIL_CHANGE_TTL_MS),
            ))
            .execute(self)?;
        let mut confirm = NewNotification::new(
            MailKind::ConfirmNewEmail,
            new,
            format!("confirm_new_email:{hash}"),
            serde_json::json!({"link": format!("{link_base}{token}")}),
        );
        confirm.user_id = Some(user_id);
        self.enqueue_notification(&confirm)?;
        let mut notice = NewNotification::new(
            MailKind::EmailChangeRequested,
            old,
            format!("email_change_requested:{hash}"),
            serde_json::json!({"new_email": new}),
        );
        notice.user_id = Some(user_id);
        self.enqueue_notification(&notice)?;
        Ok(())
    }

    fn email_change(&mut self, token: &str, spend: bool) -> QueryResult<EmailChange> {
        let hash = sha256_hex(token);
        let now = crate::db::now_ms();
        let row: Option<(i64, i64, String, i64, Option<i64>)> = email_changes::table
            .filter(email_changes::token_hash.eq(&hash))
            .select((
                email_changes::id,
                email_changes::user_id,
                email_changes::new_email,
                email_changes::expires_at,
                email_changes::used_at,
            ))
            .first(self)
            .optional()?;
        let Some((id, user, new, expires, used)) = row else {
            return Ok(EmailChange::Invalid);
        };
        if used.is_some() {
            return Ok(EmailChange::Invalid);
        }
        if expires <= now {
            return Ok(EmailChange::Expired);
        }
        let taken = users::table
            .filter(users::email.eq(&new))
            .filter(users::id.ne(user))
            .count()
            .get_result::<i64>(self)?
            > 0;
        if !spend {
            return Ok(if taken {
                EmailChange::Taken
            } else {
                EmailChange::Changed(user, new)
            });
        }
        // One UPDATE decides: of two concurrent confirmations only one finds the link unused.
        let spent = diesel::update(
            email_changes::table
                .filter(email_changes::id.eq(id))
                .filter(email_changes::used_at.is_null()),
        )
        .set((email_changes::used_at.eq(now), email_changes::new_email.eq("")))
        .execute(self)?;
        if spent == 0 {
            return Ok(EmailChange::Invalid);
        }
        if taken {
            return Ok(EmailChange::Taken);
        }
        diesel::update(users::table.filter(users::id.eq(user)))
            .set((
                users::email.eq(&new),
                users::email_verified_at.eq(now),
                users::updated_at.eq(now),
            ))
            .execute(self)?;
        Ok(EmailChange::Changed(user, new))
    }
});

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
        diesel::delete(email_changes::table.filter(email_changes::user_id.eq(user_id)))
            .execute(self)?;
        self.delete_user_sessions(user_id)?;
        self.clear_failures(&account_key(email))?;
        self.forget_account(email)?;
        diesel::delete(users::table.filter(users::id.eq(user_id))).execute(self)?;
        Ok(())
    }
});
