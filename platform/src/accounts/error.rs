//! [`AccountError`]: what can fail in an account operation that is not the user's doing.

use crate::db::DbError;

/// Why an account operation failed. Policy: wrong input is not an error here (the outcome enums
/// say what happened); these are failures of ours, shown as an opaque 500 and logged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Every turn at password hashing stayed taken longer than the wait: the site is
    /// flooded; the request is answered 503 with `Retry-After` and nothing was changed.
    #[error("too many password checks at once")]
    Busy,
    /// Hashing a password failed, or its blocking task did not finish.
    #[error("{0}")]
    Hashing(String),
}

impl From<diesel::result::Error> for AccountError {
    fn from(e: diesel::result::Error) -> Self {
        AccountError::Db(DbError::Query(e))
    }
}
