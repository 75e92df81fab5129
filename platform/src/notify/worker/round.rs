//! The [`Worker`] and one round: claim due rows, compose them into stored messages, send the
//! messages due, record what became of each message and its rows.

use futures_util::StreamExt as _;
use lettre::Address;
use lettre::address::Envelope;
use lettre::message::Mailbox;

use super::batch::{Dispositions, Outgoing};
use super::compose::Composer;
use super::error::WorkerError;
use super::metrics::{MailMetrics, RoundReport};
use super::settings::WorkerSettings;
use crate::config::Config;
use crate::db::{Db, DbConn, DbError};
use crate::notify::mailer::Mailer;
use crate::notify::messages::{AttemptOutcome, MailMessageRow, MessageStore, take_messages};
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

    /// One round at time `now` (ms). First the due rows are claimed (a short lease), turned into
    /// emails and stored as composed messages, in one transaction with what became of the rows
    /// not sent ([`Dispositions`]); then those messages and any others due (a retry, or one
    /// whose sender's lease lapsed) are sent, the leases renewed while sending, and each outcome
    /// recorded on the message and its rows together.
    pub async fn run_once(&self, now: i64) -> Result<RoundReport, WorkerError> {
        let settings = self.composer.settings.clone();
        let lease_ms = settings.claim_timeout_ms;
        let me = self.id.clone();
        let claimed = self
            .db
            .run(move |conn| claim(conn, &me, now, &settings))
            .await?;
        let mut report = RoundReport {
            claimed: claimed.len(),
            ..Default::default()
        };
        let mut to_send: Vec<(MailMessageRow, usize)> = Vec::new();
        if !claimed.is_empty() {
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
            let at = crate::db::now_ms().max(now);
            to_send = self
                .db
                .run(move |conn| store_composed(conn, &me, at, lease_ms, dispositions, outgoing))
                .await?;
        }
        let me = self.id.clone();
        let limit = self.composer.settings.claim_limit;
        let taken = self
            .db
            .run(
                move |conn| -> Result<Vec<(MailMessageRow, usize)>, DbError> {
                    let rows = take_messages(conn, &me, now, now.saturating_add(lease_ms), limit)?;
                    let ids: Vec<i64> = rows.iter().map(|m| m.id).collect();
                    let counts: std::collections::HashMap<i64, i64> =
                        crate::with_conn!(conn, |c| c.rows_per_message(&ids))?
                            .into_iter()
                            .collect();
                    Ok(rows
                        .into_iter()
                        .map(|m| {
                            let n = counts.get(&m.id).copied().unwrap_or(0);
                            (m, usize::try_from(n).unwrap_or(0))
                        })
                        .collect())
                },
            )
            .await?;
        report.claimed += taken.iter().map(|(_, n)| n).sum::<usize>();
        to_send.extend(taken);
        if to_send.is_empty() {
            return Ok(report);
        }

        let sending = futures_util::stream::iter(to_send)
            .map(|(message, n)| async move {
                let result = self.send(&message).await;
                self.record(message, n, result, now).await
            })
            .buffer_unordered(self.composer.settings.concurrency)
            .collect::<Vec<_>>();
        let results = tokio::select! {
            results = sending => results,
            never = self.renew_leases(now) => match never {},
        };
        for result in results {
            match result? {
                (n, SendOutcome::Sent) => {
                    report.emails_sent += 1;
                    report.rows_sent += n;
                }
                (n, SendOutcome::Retry) => report.rows_retried += n,
                (n, SendOutcome::Failed) => report.rows_failed += n,
                (_, SendOutcome::LeaseLost) => {}
            }
        }
        Ok(report)
    }

    /// Renews this worker's leases (messages and claimed rows) every third of the lease, for as
    /// long as it is polled; a failed renewal is logged and tried again at the next tick.
    async fn renew_leases(&self, round_now: i64) -> std::convert::Infallible {
        let lease_ms = self.composer.settings.claim_timeout_ms;
        let every =
            std::time::Duration::from_millis(u64::try_from(lease_ms / 3).unwrap_or(1).max(50));
        loop {
            tokio::time::sleep(every).await;
            let me = self.id.clone();
            let until = crate::db::now_ms().max(round_now).saturating_add(lease_ms);
            let renewed = self
                .db
                .run(move |conn| -> Result<(), DbError> {
                    crate::write_tx!(conn, |c| -> Result<(), DbError> {
                        c.renew_message_leases(&me, until)?;
                        c.renew_claims(&me, until)?;
                        Ok(())
                    })
                })
                .await;
            if let Err(e) = renewed {
                tracing::warn!(error = %e, "cannot renew the mail worker's leases; will retry");
            }
        }
    }

    /// Sends a stored message as it was composed.
    async fn send(&self, message: &MailMessageRow) -> Result<(), SendError> {
        let envelope = envelope(&message.sender, &message.recipient)
            .map_err(|e| SendError::Permanent(format!("the stored envelope is invalid: {e}")))?;
        self.mailer.send_raw(&envelope, &message.raw).await
    }

    /// Records the outcome of one message (`n` rows; sent in the round at `round_now`) on the
    /// message and its rows in one transaction, and updates the counters.
    async fn record(
        &self,
        message: MailMessageRow,
        n: usize,
        result: Result<(), SendError>,
        round_now: i64,
    ) -> Result<(usize, SendOutcome), DbError> {
        let me = self.id.clone();
        let settings = self.composer.settings.clone();
        // The later of the round's clock and the wall clock: sending takes time, and tests run
        // rounds at chosen future times.
        let now = crate::db::now_ms().max(round_now);
        let id = message.id;
        match result {
            Ok(()) => {
                let secret = message.secret;
                let held = self
                    .db
                    .run(move |conn| {
                        crate::write_tx!(conn, |c| -> Result<bool, DbError> {
                            if !c.mark_message_sent(id, &me, now)? {
                                return Ok(false);
                            }
                            c.mark_message_rows_sent(id, now, secret)?;
                            Ok(true)
                        })
                    })
                    .await?;
                if !held {
                    tracing::warn!(
                        message = id,
                        "a lease lapsed while its mail was being sent; another worker may send it again (same Message-ID)"
                    );
                    return Ok((n, SendOutcome::LeaseLost));
                }
                self.metrics.emails_sent.inc();
                self.metrics.notifications_sent.inc_by(n as u64);
                Ok((n, SendOutcome::Sent))
            }
            Err(error) => {
                let permanent = matches!(error, SendError::Permanent(_));
                let text = truncate(&error.to_string());
                let outcome = self
                    .db
                    .run(move |conn| {
                        crate::write_tx!(conn, |c| -> Result<Option<AttemptOutcome>, DbError> {
                            let Some(outcome) = c.mark_message_attempt_failed(
                                id, &me, now, &text, permanent, &settings,
                            )?
                            else {
                                return Ok(None);
                            };
                            c.mark_message_rows_attempt(id, &outcome, &text)?;
                            Ok(Some(outcome))
                        })
                    })
                    .await?;
                match outcome {
                    None => Ok((n, SendOutcome::LeaseLost)),
                    Some(o) if o.status == NotificationStatus::Failed => {
                        self.metrics.notifications_failed.inc_by(n as u64);
                        tracing::warn!(error = %error, message = id, rows = n, "mail delivery failed for good; marked failed");
                        Ok((n, SendOutcome::Failed))
                    }
                    Some(_) => {
                        self.metrics.retries.inc_by(n as u64);
                        tracing::warn!(error = %error, message = id, rows = n, "mail delivery failed; will retry");
                        Ok((n, SendOutcome::Retry))
                    }
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
    /// The lease lapsed and another worker took the message over; nothing recorded.
    LeaseLost,
}

fn truncate(s: &str) -> String {
    s.chars().take(MAX_ERROR_LEN).collect()
}

/// The envelope of a stored message.
fn envelope(sender: &str, recipient: &str) -> Result<Envelope, lettre::error::Error> {
    let parse = |a: &str| {
        a.parse::<Address>()
            .map_err(|_| lettre::error::Error::MissingTo)
    };
    Envelope::new(Some(parse(sender)?), vec![parse(recipient)?])
}

/// In one transaction: what became of the rows not sent, and each email stored as a composed
/// message leased to `me`, with its rows put in it. An email whose rows are no longer all
/// claimed by `me` (the claim lapsed) is not stored; its rows are composed again by whoever holds
/// them. Returns the messages to send and how many rows each stands for.
fn store_composed(
    conn: &mut DbConn,
    me: &str,
    now: i64,
    lease_ms: i64,
    d: Dispositions,
    outgoing: Vec<Outgoing>,
) -> Result<Vec<(MailMessageRow, usize)>, DbError> {
    let until = now.saturating_add(lease_ms);
    crate::write_tx!(conn, |c| -> Result<Vec<(MailMessageRow, usize)>, DbError> {
        for (id, reason) in &d.cancel {
            c.finish(*id, me, NotificationStatus::Cancelled, &truncate(reason))?;
        }
        for (id, reason) in &d.fail {
            c.finish(*id, me, NotificationStatus::Failed, &truncate(reason))?;
        }
        for (id, at) in &d.defer {
            c.defer(*id, me, *at)?;
        }
        let mut stored = Vec::with_capacity(outgoing.len());
        for out in outgoing {
            let new = out.stored();
            let id = c.insert_message(&new, me, now, until)?;
            let attached = c.attach_to_message(&out.ids, me, id)?;
            if attached != out.ids.len() {
                return Err(DbError::from(diesel::result::Error::RollbackTransaction));
            }
            stored.push((
                MailMessageRow {
                    id,
                    message_id: new.message_id,
                    sender: new.sender,
                    recipient: new.recipient,
                    raw: new.raw,
                    secret: new.secret,
                    status: NotificationStatus::Sending,
                    attempts: 0,
                    next_attempt_at: now,
                    lease_by: Some(me.to_owned()),
                    lease_until: Some(until),
                    last_error: None,
                    created_at: now,
                    sent_at: None,
                },
                attached,
            ));
        }
        Ok(stored)
    })
}
