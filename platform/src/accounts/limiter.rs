//! The sign-in limiter (`sign_in_attempts` table): failures are counted per account and per
//! client address; after [`MAX_FAILURES`] within [`FAILURE_WINDOW_MS`] further attempts are
//! refused until the window passes. Failures older than a day are pruned whenever a new one is
//! recorded.

use diesel::prelude::*;

use crate::db::schema::sign_in_attempts;

/// Failed sign-ins allowed per account and per address within the window.
pub const MAX_FAILURES: i64 = 5;
/// The rate-limit window.
pub const FAILURE_WINDOW_MS: i64 = 15 * 60_000;
/// How long failures are kept: a day, for the console's chart of sign-in failures (only the
/// last [`FAILURE_WINDOW_MS`] count for the limit).
pub const FAILURE_RETENTION_MS: i64 = 24 * 3_600_000;

/// The limiter key of an account (its lowercased email).
pub fn account_key(email: &str) -> String {
    format!("account:{email}")
}

/// The limiter key of a client address.
pub fn addr_key(addr: &str) -> String {
    format!("addr:{addr}")
}

/// The limiter's queries, for both backends.
pub trait SignInLimiter {
    /// Whether any of `keys` had [`MAX_FAILURES`] failures within the window before `now`.
    fn is_limited(&mut self, keys: &[&str], now: i64) -> QueryResult<bool>;
    /// Records one failure for each of `keys` at `now` and prunes failures older than the window.
    fn record_failure(&mut self, keys: &[&str], now: i64) -> QueryResult<()>;
    /// Forgets the failures of `key` (after a successful sign-in).
    fn clear_failures(&mut self, key: &str) -> QueryResult<()>;
    /// When each failure since `since` happened (one per attempt: the address keys), for the
    /// console's chart.
    fn failure_times(&mut self, since: i64) -> QueryResult<Vec<i64>>;
}

crate::impl_for_backends!(SignInLimiter {
    fn is_limited(&mut self, keys: &[&str], now: i64) -> QueryResult<bool> {
        let since = now - FAILURE_WINDOW_MS;
        for key in keys {
            let failures: i64 = sign_in_attempts::table
                .filter(sign_in_attempts::key.eq(key))
                .filter(sign_in_attempts::at.gt(since))
                .count()
                .get_result(self)?;
            if failures >= MAX_FAILURES {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn record_failure(&mut self, keys: &[&str], now: i64) -> QueryResult<()> {
        let rows: Vec<_> = keys
            .iter()
            .map(|k| (sign_in_attempts::key.eq(*k), sign_in_attempts::at.eq(now)))
            .collect();
        diesel::insert_into(sign_in_attempts::table)
            .values(&rows)
            .execute(self)?;
        diesel::delete(sign_in_attempts::table.filter(sign_in_attempts::at.lt(now - FAILURE_RETENTION_MS)))
            .execute(self)?;
        Ok(())
    }

    fn failure_times(&mut self, since: i64) -> QueryResult<Vec<i64>> {
        sign_in_attempts::table
            .filter(sign_in_attempts::at.ge(since))
            .filter(
                sign_in_attempts::key
                    .like("addr:%")
                    .or(sign_in_attempts::key.like("operator-addr:%")),
            )
            .select(sign_in_attempts::at)
            .load(self)
    }

    fn clear_failures(&mut self, key: &str) -> QueryResult<()> {
        diesel::delete(sign_in_attempts::table.filter(sign_in_attempts::key.eq(key)))
            .execute(self)
            .map(drop)
    }
});
