//! What the operator console reads and changes of website accounts: counts, a search by
//! address, disabling and enabling. Never a password hash.

use diesel::prelude::*;
use serde::Serialize;

use super::sessions::SessionStore;
use super::users::NotifyMode;
use crate::db::schema::users;

/// A website account as the console shows it.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = users)]
pub struct UserSummary {
    /// Id.
    pub id: i64,
    /// Email (lowercased).
    pub email: String,
    /// When the address was confirmed (ms).
    pub email_verified_at: Option<i64>,
    /// How the user wants listing emails.
    #[serde(skip)]
    pub notify_mode: NotifyMode,
    /// Registered (ms).
    pub created_at: i64,
    /// Disabled by an operator (ms).
    pub disabled_at: Option<i64>,
}

/// The console's account queries, for both backends.
pub trait UserOverview {
    /// `(all, confirmed)` accounts.
    fn count_users(&mut self) -> QueryResult<(i64, i64)>;
    /// Accounts whose address contains `text`, newest first.
    fn search_users(&mut self, text: &str, limit: i64) -> QueryResult<Vec<UserSummary>>;
    /// One account.
    fn user_summary(&mut self, id: i64) -> QueryResult<Option<UserSummary>>;
    /// Disables (`Some(now)`) or enables (`None`) an account; disabling ends its sessions.
    /// False when it was already so.
    fn set_user_disabled(&mut self, id: i64, at: Option<i64>) -> QueryResult<bool>;
}

crate::impl_for_backends!(UserOverview {
    fn count_users(&mut self) -> QueryResult<(i64, i64)> {
        let all: i64 = users::table.count().get_result(self)?;
        let confirmed: i64 = users::table
            .filter(users::email_verified_at.is_not_null())
            .count()
            .get_result(self)?;
        Ok((all, confirmed))
    }

    fn search_users(&mut self, text: &str, limit: i64) -> QueryResult<Vec<UserSummary>> {
        let pattern = format!(
            "%{}%",
            text.trim().to_lowercase().replace(['%', '_', '\\'], "")
        );
        users::table
            .filter(users::email.like(pattern))
            .order(users::id.desc())
            .limit(limit)
            .select(UserSummary::as_select())
            .load(self)
    }

    fn user_summary(&mut self, id: i64) -> QueryResult<Option<UserSummary>> {
        users::table
            .find(id)
            .select(UserSummary::as_select())
            .first(self)
            .optional()
    }

    fn set_user_disabled(&mut self, id: i64, at: Option<i64>) -> QueryResult<bool> {
        let target = users::table.find(id);
        let n = match at {
            Some(now) => diesel::update(target.filter(users::disabled_at.is_null()))
                .set((users::disabled_at.eq(now), users::updated_at.eq(now)))
                .execute(self)?,
            None => diesel::update(target.filter(users::disabled_at.is_not_null()))
                .set(users::disabled_at.eq(None::<i64>))
                .execute(self)?,
        };
        if n == 1 && at.is_some() {
            self.delete_user_sessions(id)?;
        }
        Ok(n == 1)
    }
});
