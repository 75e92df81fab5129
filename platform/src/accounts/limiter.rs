//! Rate limits, kept in the database so every node shares them.
//!
//! * [`RateLimiter`] (`rate_limits` table) is the limiter of the website's doors: each
//!   [`Policy`] (sign-in, register, forgot, reset, verify, verify-resend, agency application,
//!   enquiry) gives a [`Quota`] per client address and one per account (the email typed). A hit is
//!   ONE statement, an upsert that adds one and returns the new count (`INSERT … ON CONFLICT DO
//!   UPDATE SET hits = hits + 1 RETURNING hits`), atomic on SQLite and PostgreSQL alike: N
//!   parallel requests make N hits and see N distinct counts, so they cannot all pass a check made
//!   before any of them is recorded. The window is fixed: it starts at the first hit and the
//!   row is replaced by a new window once it has passed.
//! * [`SignInLimiter`] (`sign_in_attempts` table) is the older failure log: the operator
//!   console's sign-in still limits with it, and the console's chart of sign-in failures reads it
//!   (the website's sign-in records its failures there too, for the chart only).

use diesel::prelude::*;

use crate::db::schema::{rate_limits, sign_in_attempts};

/// At most `hits` within `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Hits allowed in one window.
    pub hits: i64,
    /// The window's length (ms).
    pub window_ms: i64,
}

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;

/// The limits of one door of the site: a quota per client address and one per account (the
/// email address typed in the form, whether or not an account uses it, so the answer tells
/// nothing about who has an account).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The door's name, first part of its keys (`sign-in`, `forgot`, …).
    pub action: &'static str,
    /// Per client address.
    pub per_client: Quota,
    /// Per account, when the door names one.
    pub per_account: Option<Quota>,
}

impl Policy {
    /// Sign-in: failed attempts per client address (an attempt is counted before the password is
    /// checked and given back when it was right). Per account there is no refusal, only a
    /// slowdown ([`sign_in_slowdown_ms`]), so someone else's failures never lock the owner out.
    pub const SIGN_IN: Policy = Policy {
        action: "sign-in",
        per_client: Quota {
            hits: MAX_FAILURES,
            window_ms: FAILURE_WINDOW_MS,
        },
        per_account: Some(Quota {
            hits: i64::MAX,
            window_ms: FAILURE_WINDOW_MS,
        }),
    };
    /// Asking to change the account's address (each sends two mails): per client address and
    /// per account.
    pub const CHANGE_EMAIL: Policy = Policy {
        action: "change-email",
        per_client: Quota {
            hits: 10,
            window_ms: HOUR_MS,
        },
        per_account: Some(Quota {
            hits: 3,
            window_ms: HOUR_MS,
        }),
    };
    /// Registering (each may send a confirmation mail).
    pub const REGISTER: Policy = Policy {
        action: "register",
        per_client: Quota {
            hits: 5,
            window_ms: HOUR_MS,
        },
        per_account: Some(Quota {
            hits: 3,
            window_ms: HOUR_MS,
        }),
    };
    /// Asking for a reset link (each may send a mail).
    pub const FORGOT: Policy = Policy {
        action: "forgot",
        per_client: Quota {
            hits: 5,
            window_ms: HOUR_MS,
        },
        per_account: Some(Quota {
            hits: 3,
            window_ms: HOUR_MS,
        }),
    };
    /// Choosing a new password with a reset link.
    pub const RESET: Policy = Policy {
        action: "reset",
        per_client: Quota {
            hits: 10,
            window_ms: 15 * MINUTE_MS,
        },
        per_account: None,
    };
    /// Confirming an address with its link's button.
    pub const VERIFY: Policy = Policy {
        action: "verify",
        per_client: Quota {
            hits: 10,
            window_ms: 15 * MINUTE_MS,
        },
        per_account: None,
    };
    /// A new confirmation mail, sent when an unconfirmed account signs in with its password.
    /// Past the account quota nothing is sent and the answer is the same (a different answer
    /// would tell whoever knows the password that the account is unconfirmed).
    pub const VERIFY_RESEND: Policy = Policy {
        action: "verify-resend",
        per_client: Quota {
            hits: i64::MAX,
            window_ms: HOUR_MS,
        },
        per_account: Some(Quota {
            hits: 3,
            window_ms: HOUR_MS,
        }),
    };
    /// An agency's application (each makes a pending agency for the operators).
    pub const AGENCY_APPLICATION: Policy = Policy {
        action: "apply",
        per_client: Quota {
            hits: 3,
            window_ms: HOUR_MS,
        },
        per_account: Some(Quota {
            hits: 3,
            window_ms: 24 * HOUR_MS,
        }),
    };
    /// An enquiry to an agency about a listing (the route is not built yet: it calls
    /// `crate::web::limits::check(&state, &req, &Policy::ENQUIRY, Some(&email))`).
    pub const ENQUIRY: Policy = Policy {
        action: "enquiry",
        per_client: Quota {
            hits: 10,
            window_ms: HOUR_MS,
        },
        per_account: Some(Quota {
            hits: 5,
            window_ms: HOUR_MS,
        }),
    };

    /// The key counting this door's hits from client address `addr`.
    pub fn client_key(&self, addr: &str) -> String {
        format!("{}:client:{addr}", self.action)
    }

    /// The key counting this door's hits for the account `email`: its [`account_digest`], so
    /// the counters never hold an address.
    pub fn account_key(&self, email: &str) -> String {
        format!("{}:account:{}", self.action, account_digest(email))
    }
}

/// How the limiter names an account: the first 128 bits of the SHA-256 of its address
/// (lowercased, trimmed), in hex. Counters live two days at most and hold no address; a deleted
/// account's are erased by this digest ([`crate::accounts::manage`]).
pub fn account_digest(email: &str) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        email.trim().to_lowercase().as_bytes(),
    );
    hex::encode(&digest.as_ref()[..16])
}

/// How long a sign-in of an account waits before its password is checked, after `failures`
/// recent failed attempts on that account (this one included): nothing for the first
/// [`MAX_FAILURES`], then one more second per failure up to 10 s. The owner, with the right
/// password, is slowed but never refused; a guesser is slowed on every address at once.
pub fn sign_in_slowdown_ms(failures: i64) -> u64 {
    let over = failures.saturating_sub(MAX_FAILURES).clamp(0, 10);
    (over as u64) * 1000
}

/// What a hit found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the quota: the hit was counted; `hits` so far in this window.
    Allowed {
        /// Hits in this window, this one included.
        hits: i64,
    },
    /// Over the quota (the hit was counted too); the window ends in `retry_after_ms`.
    Refused {
        /// Until the window ends (ms, at least 1000).
        retry_after_ms: i64,
    },
}

/// How long counters are kept after their window began (the longest window is a day).
pub const RATE_LIMIT_RETENTION_MS: i64 = 2 * 24 * HOUR_MS;

/// The shared limiter's queries, for both backends. Run [`RateLimiter::hit`] inside a write
/// transaction (`write_tx!`): its two statements then act as one.
pub trait RateLimiter {
    /// Counts one hit of `key` at `now` and says whether it stays within `quota`.
    fn hit(&mut self, key: &str, quota: Quota, now: i64) -> QueryResult<Verdict>;
    /// Gives one hit back (a sign-in whose password was right).
    fn give_back(&mut self, key: &str) -> QueryResult<()>;
    /// Forgets every hit of `keys` (a successful password reset clears the account's counters).
    fn forget(&mut self, keys: &[&str]) -> QueryResult<()>;
    /// Forgets every counter of the account `email`, on every door (the account is erased).
    fn forget_account(&mut self, email: &str) -> QueryResult<()>;
}

crate::impl_for_backends!(RateLimiter {
    fn hit(&mut self, key: &str, quota: Quota, now: i64) -> QueryResult<Verdict> {
        // A passed window (and anything older than the retention) makes way for a new one.
        diesel::delete(
            rate_limits::table.filter(
                rate_limits::key
                    .eq(key)
                    .and(rate_limits::window_start.le(now - quota.window_ms))
                    .or(rate_limits::window_start.lt(now - RATE_LIMIT_RETENTION_MS)),
            ),
        )
        .execute(self)?;
        let (hits, start): (i64, i64) = diesel::insert_into(rate_limits::table)
            .values((
                rate_limits::key.eq(key),
                rate_limits::window_start.eq(now),
                rate_limits::hits.eq(1_i64),
            ))
            .on_conflict(rate_limits::key)
            .do_update()
            .set(rate_limits::hits.eq(rate_limits::hits + 1_i64))
            .returning((rate_limits::hits, rate_limits::window_start))
            .get_result(self)?;
        Ok(if hits > quota.hits {
            Verdict::Refused {
                retry_after_ms: (start + quota.window_ms - now).max(1000),
            }
        } else {
            Verdict::Allowed { hits }
        })
    }

    fn give_back(&mut self, key: &str) -> QueryResult<()> {
        diesel::update(rate_limits::table.find(key).filter(rate_limits::hits.gt(0_i64)))
            .set(rate_limits::hits.eq(rate_limits::hits - 1_i64))
            .execute(self)
            .map(drop)
    }

    fn forget(&mut self, keys: &[&str]) -> QueryResult<()> {
        diesel::delete(rate_limits::table.filter(rate_limits::key.eq_any(keys)))
            .execute(self)
            .map(drop)
    }

    fn forget_account(&mut self, email: &str) -> QueryResult<()> {
        let suffix = format!("%:account:{}", account_digest(email));
        diesel::delete(rate_limits::table.filter(rate_limits::key.like(suffix)))
            .execute(self)
            .map(drop)
    }
});

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

#[cfg(test)]
mod tests {
    use super::*;

    crate::db_test!(parallel_hits_get_exactly_the_quota, |db| {
        let quota = Quota {
            hits: 5,
            window_ms: 60_000,
        };
        let now = crate::db::now_ms();
        // 16 requests at once, each on its own connection: exactly 5 pass, whatever the order.
        let verdicts: Vec<Verdict> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..16)
                .map(|_| {
                    s.spawn(|| {
                        let mut conn = db.get().unwrap();
                        crate::write_tx!(&mut conn, |c| c.hit("test:client:a", quota, now)).unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut passed: Vec<i64> = verdicts
            .iter()
            .filter_map(|v| match v {
                Verdict::Allowed { hits } => Some(*hits),
                Verdict::Refused { .. } => None,
            })
            .collect();
        passed.sort();
        assert_eq!(passed, vec![1, 2, 3, 4, 5], "{verdicts:?}");
        for v in &verdicts {
            if let Verdict::Refused { retry_after_ms } = v {
                assert_eq!(*retry_after_ms, 60_000);
            }
        }
        let mut conn = db.get().unwrap();
        // Another key is not touched; a passed window starts a new one.
        let other = crate::write_tx!(&mut conn, |c| c.hit("test:client:b", quota, now)).unwrap();
        assert_eq!(other, Verdict::Allowed { hits: 1 });
        let later = now + quota.window_ms;
        let next = crate::write_tx!(&mut conn, |c| c.hit("test:client:a", quota, later)).unwrap();
        assert_eq!(next, Verdict::Allowed { hits: 1 });
        // Given back and forgotten.
        crate::with_conn!(&mut conn, |c| c.give_back("test:client:a")).unwrap();
        let again = crate::write_tx!(&mut conn, |c| c.hit("test:client:a", quota, later)).unwrap();
        assert_eq!(again, Verdict::Allowed { hits: 1 });
        crate::with_conn!(&mut conn, |c| c.forget(&["test:client:a", "test:client:b"])).unwrap();
        let fresh = crate::write_tx!(&mut conn, |c| c.hit("test:client:b", quota, later)).unwrap();
        assert_eq!(fresh, Verdict::Allowed { hits: 1 });
    });

    #[test]
    fn the_owner_is_slowed_never_refused() {
        assert_eq!(sign_in_slowdown_ms(1), 0);
        assert_eq!(sign_in_slowdown_ms(MAX_FAILURES), 0);
        assert_eq!(sign_in_slowdown_ms(MAX_FAILURES + 1), 1000);
        assert_eq!(sign_in_slowdown_ms(1_000), 10_000);
    }
}
