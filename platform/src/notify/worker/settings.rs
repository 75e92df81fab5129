//! The worker's knobs ([`WorkerSettings`], from the `mail` section of the configuration): batch
//! window, digest hour, retry backoff, claim size and timeout.

use std::time::Duration;

use crate::config::MailConfig;

/// Longest delay between two attempts.
const MAX_BACKOFF_MS: u64 = 6 * 3_600_000;

/// The worker's knobs, from [`MailConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSettings {
    /// How long a match waits for others of the same recipient (ms).
    pub batch_window_ms: i64,
    /// Hour of day (UTC) of the daily digest.
    pub digest_hour_utc: u8,
    /// Most listings shown in one email.
    pub max_listings: usize,
    /// Attempts before a row is `failed`.
    pub max_attempts: i32,
    /// First retry delay (ms), doubled per attempt.
    pub retry_base_ms: u64,
    /// How long a claim lasts (ms).
    pub claim_timeout_ms: i64,
    /// Rows claimed per round (before same-recipient matches are added).
    pub claim_limit: i64,
    /// Emails sent at once.
    pub concurrency: usize,
    /// Pause between rounds when nothing was due.
    pub poll_interval: Duration,
}

impl WorkerSettings {
    /// Settings from the `mail` section.
    pub fn from_config(mail: &MailConfig) -> WorkerSettings {
        WorkerSettings {
            batch_window_ms: i64::try_from(mail.batch_window_secs.saturating_mul(1000))
                .unwrap_or(i64::MAX),
            digest_hour_utc: mail.digest_hour_utc,
            max_listings: mail.max_listings_per_email as usize,
            max_attempts: i32::try_from(mail.max_attempts).unwrap_or(i32::MAX),
            retry_base_ms: mail.retry_base_ms,
            claim_timeout_ms: i64::try_from(mail.claim_timeout_secs.saturating_mul(1000))
                .unwrap_or(i64::MAX),
            claim_limit: 100,
            concurrency: mail.smtp_pool_size.max(1) as usize,
            poll_interval: Duration::from_millis(mail.poll_interval_ms),
        }
    }

    /// Delay before the attempt that follows `failed_attempts` failures.
    pub fn backoff_ms(&self, failed_attempts: i32) -> i64 {
        let exp = u32::try_from(failed_attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        let delay = self
            .retry_base_ms
            .saturating_mul(1u64 << exp)
            .min(MAX_BACKOFF_MS);
        i64::try_from(delay).unwrap_or(i64::MAX)
    }

    /// The first digest time strictly after `t` (ms).
    pub fn next_digest_at(&self, t: i64) -> i64 {
        const DAY: i64 = 86_400_000;
        let slot = t - t.rem_euclid(DAY) + i64::from(self.digest_hour_utc) * 3_600_000;
        if slot > t { slot } else { slot + DAY }
    }
}
