//! The [`Worker`] and one round: claim due rows, turn them into emails, send them, record what
//! became of each row.

use futures_util::StreamExt as _;
use lettre::message::Mailbox;

use super::batch::{Dispositions, Outgoing};
use super::compose::Composer;
use super::error::WorkerError;
use super::metrics::{MailMetrics, RoundReport};
use super::settings::WorkerSettings;
use crate::config::Config;
use crate::db::{Db, DbConn, DbError};
use crate::notify::mailer::Mailer;
use crate::notify::send_error::SendError;
use crate::notify::store::{DeliveryStore, NotificationStatus, claim};
use crate::notify::unsubscribe::UnsubscribeKey;

/// `last_error` is cut to this many characters.
const MAX_ERROR_LEN: usize = 500;

/// The outbox worker of one process.
#[derive(Debug, Clone)]
pub struct Worker {
    pub(super) db: Db,
    pub(super) mailer: Mailer,
    pub(super) composer: Composer,
    pub(super) id: String,
    /// Delivery counters.
    pub metrics: MailMetrics,
}

impl Worker {
    /// A worker with explicit parts (tests and benchmarks use this).
    pub fn new(
        db: Db,
        mailer: Mailer,
        settings: WorkerSettings,
        public_url: &str,
        from: Mailbox,
        key: UnsubscribeKey,
    ) -> Worker {
        Worker {
            db,
            mailer,
            composer: Composer {
                settings,
                public_url: public_url.trim_end_matches('/').to_owned(),
                from,
                key,
            },
            id: format!("{}-{:08x}", std::process::id(), rand::random::<u32>()),
            metrics: MailMetrics::default(),
        }
    }

    /// The worker the configuration asks for (SMTP or files; key under the data directory).
    /// Call inside a tokio runtime.
    pub fn from_config(config: &Config, db: Db) -> Result<Worker, WorkerError> {
        let mailer = Mailer::from_config(&config.mail, &config.data_dir)?;
        let key = UnsubscribeKey::load_or_create(&config.data_dir).map_err(|e| {
            WorkerError::UnsubscribeKey {
                path: UnsubscribeKey::path(&config.data_dir),
                reason: e.to_string(),
            }
        })?;
        let from = config
            .mail
            .from
            .parse()
            .map_err(|e: lettre::address::AddressError| WorkerError::From(e.to_string()))?;
        Ok(Worker::new(
            db,
            mailer,
            WorkerSettings::from_config(&config.mail),
            &config.web.public_url,
            from,
            key,
        ))
    }

    /// This worker's id, written to `claimed_by`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Where mail goes.
    pub fn mailer(&self) -> &Mailer {
        &self.mailer
    }

    /// One round at time `now` (ms): claim, render, send, record.
    pub async fn run_once(&self, now: i64) -> Result<RoundReport, WorkerError> {
        let settings = self.composer.settings.clone();
        let me = self.id.clone();
        let claimed = self
            .db
            .run(move |conn| claim(conn, &me, now, &settings))
            .await?;
        let mut report = RoundReport {
            claimed: claimed.len(),
            ..Default::default()
        };
        if claimed.is_empty() {
            return Ok(report);
        }
        let composer = self.composer.clone();
        let (outgoing, dispositions) = self
            .db
            .run(move |conn| composer.prepare(conn, claimed))
            .await?;
        report.rows_cancelled = dispositions.cancel.len();
        report.rows_failed = dispositions.fail.len();
        report.rows_deferred = dispositions.defer.len();
        self.metrics
            .notifications_cancelled
            .inc_by(dispositions.cancel.len() as u64);
        self.metrics
            .notifications_failed
            .inc_by(dispositions.fail.len() as u64);
        for (id, reason) in &dispositions.fail {
            tracing::warn!(notification = id, error = %reason, "mail cannot be rendered; marked failed");
        }
        let me = self.id.clone();
        self.db
            .run(move |conn| record_dispositions(conn, &me, dispositions))
            .await?;

        let results: Vec<Result<(usize, SendOutcome), DbError>> =
            futures_util::stream::iter(outgoing)
                .map(|out| async move {
                    let result = self.mailer.send(&out.message).await;
                    self.record(out, result, now).await
                })
                .buffer_unordered(self.composer.settings.concurrency)
                .collect()
                .await;
        for result in results {
            match result? {
                (n, SendOutcome::Sent) => {
                    report.emails_sent += 1;
                    report.rows_sent += n;
                }
                (n, SendOutcome::Retry) => report.rows_retried += n,
                (n, SendOutcome::Failed) => report.rows_failed += n,
            }
        }
        Ok(report)
    }

    /// Records the outcome of one email (sent in the round at `round_now`) and updates the
    /// counters.
    async fn record(
        &self,
        out: Outgoing,
        result: Result<(), SendError>,
        round_now: i64,
    ) -> Result<(usize, SendOutcome), DbError> {
        let n = out.ids.len();
        let me = self.id.clone();
        let settings = self.composer.settings.clone();
        // The later of the round's clock and the wall clock: sending takes time, and tests run
        // rounds at chosen future times.
        let now = crate::db::now_ms().max(round_now);
        match result {
            Ok(()) => {
                let ids = out.ids;
                let secret = out.secret;
                let updated = self
                    .db
                    .run(move |conn| {
                        Ok::<_, DbError>(
                            crate::with_conn!(conn, |c| c.mark_sent(&ids, &me, now, secret))?
                        )
                    })
                    .await?;
                if updated != n {
                    tracing::warn!(
                        expected = n,
                        updated,
                        "a claim lapsed while its mail was being sent; another worker may send it again"
                    );
                }
                self.metrics.emails_sent.inc();
                self.metrics.notifications_sent.inc_by(n as u64);
                Ok((n, SendOutcome::Sent))
            }
            Err(error) => {
                let permanent = matches!(error, SendError::Permanent(_));
                let message = truncate(&error.to_string());
                let ids = out.ids;
                let (retried, failed) = self
                    .db
                    .run(move |conn| {
                        crate::write_tx!(conn, |c| -> Result<(usize, usize), DbError> {
                            Ok(c.mark_attempt_failed(
                                &ids, &me, now, &message, permanent, &settings,
                            )?)
                        })
                    })
                    .await?;
                self.metrics.retries.inc_by(retried as u64);
                self.metrics.notifications_failed.inc_by(failed as u64);
                if failed > 0 {
                    tracing::warn!(error = %error, rows = failed, "mail delivery failed for good; marked failed");
                    Ok((n, SendOutcome::Failed))
                } else {
                    tracing::warn!(error = %error, rows = retried, "mail delivery failed; will retry");
                    Ok((n, SendOutcome::Retry))
                }
            }
        }
    }
}

/// How an email attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendOutcome {
    Sent,
    Retry,
    Failed,
}

fn truncate(s: &str) -> String {
    s.chars().take(MAX_ERROR_LEN).collect()
}

fn record_dispositions(conn: &mut DbConn, me: &str, d: Dispositions) -> Result<(), DbError> {
    if d.cancel.is_empty() && d.fail.is_empty() && d.defer.is_empty() {
        return Ok(());
    }
    crate::write_tx!(conn, |c| -> Result<(), DbError> {
        for (id, reason) in &d.cancel {
            c.finish(*id, me, NotificationStatus::Cancelled, &truncate(reason))?;
        }
        for (id, reason) in &d.fail {
            c.finish(*id, me, NotificationStatus::Failed, &truncate(reason))?;
        }
        for (id, at) in &d.defer {
            c.defer(*id, me, *at)?;
        }
        Ok(())
    })
}
