//! Stored website sessions (`web_sessions` table), keyed by the SHA-256 of the cookie's id so a
//! copy of the database does not let anyone act as a user. The cookie itself, CSRF checks and
//! who is asking are the website's ([`crate::web::session`]).

use diesel::prelude::*;

use super::users::{SignedInUser, UserStore};
use crate::db::schema::web_sessions;

/// A row of `web_sessions`.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = web_sessions)]
pub struct SessionRow {
    /// SHA-256 of the id.
    pub id_hash: String,
    /// Signed-in user.
    pub user_id: Option<i64>,
    /// CSRF token.
    pub csrf_token: String,
    /// Created (ms).
    pub created_at: i64,
    /// Expires (ms).
    pub expires_at: i64,
}

/// The session queries, for both backends.
pub trait SessionStore {
    /// The live session with this id hash at `now`, and its signed-in user if any.
    fn live_session(
        &mut self,
        id_hash: &str,
        now: i64,
    ) -> QueryResult<(Option<SessionRow>, Option<SignedInUser>)>;
    /// Stores `new` in place of the session `old` (if any); sessions expired at `now` go too.
    fn replace_session(&mut self, old: Option<&str>, new: &SessionRow, now: i64)
    -> QueryResult<()>;
    /// Deletes one session (sign-out).
    fn delete_session(&mut self, id_hash: &str) -> QueryResult<()>;
    /// Deletes every session of a user (after a password reset).
    fn delete_user_sessions(&mut self, user_id: i64) -> QueryResult<()>;
}

crate::impl_for_backends!(SessionStore {
    fn live_session(
        &mut self,
        id_hash: &str,
        now: i64,
    ) -> QueryResult<(Option<SessionRow>, Option<SignedInUser>)> {
        let session: Option<SessionRow> = web_sessions::table
            .find(id_hash)
            .filter(web_sessions::expires_at.gt(now))
            .select(SessionRow::as_select())
            .first(self)
            .optional()?;
        let user = match session.as_ref().and_then(|s| s.user_id) {
            Some(id) => self.signed_in_user(id)?,
            None => None,
        };
        Ok((session, user))
    }

    fn replace_session(
        &mut self,
        old: Option<&str>,
        new: &SessionRow,
        now: i64,
    ) -> QueryResult<()> {
        if let Some(old) = old {
            diesel::delete(web_sessions::table.find(old)).execute(self)?;
        }
        // Expired sessions go whenever someone starts a new one.
        diesel::delete(web_sessions::table.filter(web_sessions::expires_at.le(now)))
            .execute(self)?;
        diesel::insert_into(web_sessions::table)
            .values(new)
            .execute(self)
            .map(drop)
    }

    fn delete_session(&mut self, id_hash: &str) -> QueryResult<()> {
        diesel::delete(web_sessions::table.find(id_hash))
            .execute(self)
            .map(drop)
    }

    fn delete_user_sessions(&mut self, user_id: i64) -> QueryResult<()> {
        diesel::delete(web_sessions::table.filter(web_sessions::user_id.eq(user_id)))
            .execute(self)
            .map(drop)
    }
});
