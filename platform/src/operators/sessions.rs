//! Console sessions (`operator_sessions`), apart from the website's: a website session id
//! names no row here, so a buyer's cookie never opens the console. Keyed by the SHA-256 of the
//! cookie's id. A session moves `anonymous` → `password` (the password checked, the second
//! factor to come) → `full`, each step under a new id.

use diesel::prelude::*;

use crate::db::schema::operator_sessions;

/// How far a console session has signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStage {
    /// No one signed in (the session only carries a CSRF token for the sign-in form).
    Anonymous,
    /// The password was right; the TOTP code is still to come.
    Password,
    /// Password and TOTP code: the operator may act.
    Full,
}

impl SessionStage {
    /// The stored code.
    pub fn code(self) -> &'static str {
        match self {
            SessionStage::Anonymous => "anonymous",
            SessionStage::Password => "password",
            SessionStage::Full => "full",
        }
    }

    /// Parses [`SessionStage::code`].
    pub fn from_code(code: &str) -> Option<SessionStage> {
        [
            SessionStage::Anonymous,
            SessionStage::Password,
            SessionStage::Full,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }
}

/// A row of `operator_sessions`.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = operator_sessions)]
pub struct OperatorSessionRow {
    /// SHA-256 of the id.
    pub id_hash: String,
    /// The operator, from the password step on.
    pub operator_id: Option<i64>,
    /// [`SessionStage`] code.
    pub stage: String,
    /// CSRF token.
    pub csrf_token: String,
    /// Created (ms).
    pub created_at: i64,
    /// Expires (ms).
    pub expires_at: i64,
}

impl OperatorSessionRow {
    /// The stage (an unknown code reads as anonymous: it grants nothing).
    pub fn stage(&self) -> SessionStage {
        SessionStage::from_code(&self.stage).unwrap_or(SessionStage::Anonymous)
    }
}

/// The console session queries, for both backends.
pub trait OperatorSessionStore {
    /// The live session with this id hash at `now`.
    fn live_operator_session(
        &mut self,
        id_hash: &str,
        now: i64,
    ) -> QueryResult<Option<OperatorSessionRow>>;
    /// Stores `new` in place of `old` (if any); sessions expired at `now` go too.
    fn replace_operator_session(
        &mut self,
        old: Option<&str>,
        new: &OperatorSessionRow,
        now: i64,
    ) -> QueryResult<()>;
    /// Deletes one session (sign-out).
    fn delete_operator_session(&mut self, id_hash: &str) -> QueryResult<()>;
}

crate::impl_for_backends!(OperatorSessionStore {
    fn live_operator_session(
        &mut self,
        id_hash: &str,
        now: i64,
    ) -> QueryResult<Option<OperatorSessionRow>> {
        operator_sessions::table
            .find(id_hash)
            .filter(operator_sessions::expires_at.gt(now))
            .select(OperatorSessionRow::as_select())
            .first(self)
            .optional()
    }

    fn replace_operator_session(
        &mut self,
        old: Option<&str>,
        new: &OperatorSessionRow,
        now: i64,
    ) -> QueryResult<()> {
        if let Some(old) = old {
            diesel::delete(operator_sessions::table.find(old)).execute(self)?;
        }
        diesel::delete(operator_sessions::table.filter(operator_sessions::expires_at.le(now)))
            .execute(self)?;
        diesel::insert_into(operator_sessions::table)
            .values(new)
            .execute(self)
            .map(drop)
    }

    fn delete_operator_session(&mut self, id_hash: &str) -> QueryResult<()> {
        diesel::delete(operator_sessions::table.find(id_hash))
            .execute(self)
            .map(drop)
    }
});
