//! What the worker counts: the process-wide delivery counters ([`MailMetrics`], at `/metrics`)
//! and the outcome of one round ([`RoundReport`]).

use prometheus_client::metrics::counter::Counter;

use crate::metrics::Metrics;

/// Delivery counters, exported at `/metrics` as `platform_mail_*_total`.
#[derive(Debug, Clone, Default)]
pub struct MailMetrics {
    /// Emails accepted by the mail server (or written to files).
    pub emails_sent: Counter,
    /// Notification rows delivered (several per batched email).
    pub notifications_sent: Counter,
    /// Attempts that failed and will be retried.
    pub retries: Counter,
    /// Notification rows given up (`failed`).
    pub notifications_failed: Counter,
    /// Notification rows cancelled (duplicates, unsubscribed users, withdrawn listings).
    pub notifications_cancelled: Counter,
}

impl MailMetrics {
    /// Registers the counters with the process's registry.
    pub fn register(&self, metrics: &Metrics) {
        metrics.register(
            "mail_emails_sent",
            "Emails delivered",
            self.emails_sent.clone(),
        );
        metrics.register(
            "mail_notifications_sent",
            "Notification rows delivered",
            self.notifications_sent.clone(),
        );
        metrics.register(
            "mail_retries",
            "Delivery attempts that failed and will be retried",
            self.retries.clone(),
        );
        metrics.register(
            "mail_notifications_failed",
            "Notification rows given up after the retry limit or a permanent error",
            self.notifications_failed.clone(),
        );
        metrics.register(
            "mail_notifications_cancelled",
            "Notification rows cancelled: duplicates, unsubscribed users, listings off the market",
            self.notifications_cancelled.clone(),
        );
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Rows claimed.
    pub claimed: usize,
    /// Emails delivered.
    pub emails_sent: usize,
    /// Rows delivered.
    pub rows_sent: usize,
    /// Rows put back for a retry.
    pub rows_retried: usize,
    /// Rows given up.
    pub rows_failed: usize,
    /// Rows cancelled.
    pub rows_cancelled: usize,
    /// Rows held for a daily digest.
    pub rows_deferred: usize,
}
