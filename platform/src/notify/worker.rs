//! The outbox worker: claims due notifications, renders them, sends them and records the result.
//!
//! * **Claim.** In one write transaction the worker takes up to [`WorkerSettings::claim_limit`]
//!   due rows (`pending` and `next_attempt_at` passed, or `sending` with an expired claim — a
//!   worker that died mid-send) and marks them `sending` with its id and `claimed_until`. On
//!   PostgreSQL the rows are locked `FOR UPDATE SKIP LOCKED`, so several nodes never take the same
//!   row; on SQLite the transaction is `BEGIN IMMEDIATE`, which holds the only write lock.
//! * **Batch.** A `listing_match` row becomes due `batch_window` after it was queued; then every
//!   due match of the same recipient is claimed with it and they go out as one email, showing at
//!   most `max_listings` listings and a link to see all. Users with `notify_mode = 'daily'` get
//!   their matches held until the next digest hour and sent together; `'off'` cancels them.
//! * **No repeats.** A match for a listing the recipient was already sent at the same price is
//!   cancelled (`last_error` says why), as are matches of listings no longer on the market and of
//!   listings held because their agency's signing key was reported compromised (signing one
//!   again brings it back on the market, with new matches).
//! * **Retry.** A failure of the SMTP server (4xx, refused, timeout) puts the rows back to
//!   `pending` with an exponential backoff; after `max_attempts`, or at once for a 5xx, they stay
//!   `failed` with `last_error`. A row marked `sent` is never claimed again; the Message-ID is
//!   derived from the idempotency key, so even the one unavoidable duplicate (a crash between the
//!   server's acceptance and the `sent` mark) carries the same Message-ID.
//! * **Secrets.** Payloads with one-time tokens are replaced by `{}` once sent.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use diesel::prelude::*;
use futures_util::StreamExt as _;
use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use prometheus_client::metrics::counter::Counter;

use super::mailer::Mailer;
use super::outbox::{MailKind, MatchPayload};
use super::render::{self, Links, ListingSummary, MatchItem, Rendered};
use super::send_error::SendError;
use super::store::{DeliveryStore, NotificationRow, NotificationStatus, claim};
use super::unsubscribe::UnsubscribeKey;
use crate::accounts::{NotifyMode, UserStore};
use crate::config::{Config, MailConfig};
use crate::db::schema::{listings, saved_searches};
use crate::db::{Db, DbConn, DbError};
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;

/// Longest delay between two attempts.
const MAX_BACKOFF_MS: u64 = 6 * 3_600_000;
/// `last_error` is cut to this many characters.
const MAX_ERROR_LEN: usize = 500;

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

/// One email to send and the rows it stands for.
#[derive(Debug)]
struct Outgoing {
    ids: Vec<i64>,
    secret: bool,
    message: Message,
}

/// What to do with claimed rows that are not sent now.
#[derive(Debug, Default)]
struct Dispositions {
    cancel: Vec<(i64, String)>,
    fail: Vec<(i64, String)>,
    defer: Vec<(i64, i64)>,
}

/// The outbox worker of one process.
#[derive(Debug, Clone)]
pub struct Worker {
    db: Db,
    mailer: Mailer,
    settings: WorkerSettings,
    public_url: String,
    from: Mailbox,
    key: UnsubscribeKey,
    id: String,
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
            settings,
            public_url: public_url.trim_end_matches('/').to_owned(),
            from,
            key,
            id: format!("{}-{:08x}", std::process::id(), rand::random::<u32>()),
            metrics: MailMetrics::default(),
        }
    }

    /// The worker the configuration asks for (SMTP or files; key under the data directory).
    /// Call inside a tokio runtime.
    pub fn from_config(config: &Config, db: Db) -> anyhow::Result<Worker> {
        let mailer = Mailer::from_config(&config.mail, &config.data_dir)?;
        let key = UnsubscribeKey::load_or_create(&config.data_dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot read or create {}: {e}",
                UnsubscribeKey::path(&config.data_dir).display()
            )
        })?;
        let from = config
            .mail
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("mail.from: {e}"))?;
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

    /// Runs rounds until shutdown: a round right after a busy one, else after the poll interval.
    /// A round in progress finishes first, so no mail is left half-recorded.
    pub async fn run(self, mut shutdown: Shutdown) {
        tracing::info!(backend = %self.mailer.describe(), worker = %self.id, "mail worker started");
        loop {
            let mut busy = false;
            match self.run_once(crate::db::now_ms()).await {
                Ok(report) => {
                    busy = report.claimed as i64 >= self.settings.claim_limit;
                    if report.claimed > 0 {
                        tracing::info!(
                            emails_sent = report.emails_sent,
                            notifications_sent = report.rows_sent,
                            retried = report.rows_retried,
                            failed = report.rows_failed,
                            cancelled = report.rows_cancelled,
                            deferred = report.rows_deferred,
                            "mail round"
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "mail round failed; will retry"),
            }
            if shutdown.is_requested() {
                break;
            }
            if busy {
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(self.settings.poll_interval) => {}
                () = shutdown.requested() => break,
            }
        }
        tracing::info!("mail worker stopped");
    }

    /// One round at time `now` (ms): claim, render, send, record.
    pub async fn run_once(&self, now: i64) -> Result<RoundReport, DbError> {
        let settings = self.settings.clone();
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
        let this = self.clone();
        let (outgoing, dispositions) = self.db.run(move |conn| this.prepare(conn, claimed)).await?;
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
                .buffer_unordered(self.settings.concurrency)
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
        let settings = self.settings.clone();
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

    /// Turns claimed rows into emails; decides which rows are cancelled, failed or deferred.
    fn prepare(
        &self,
        conn: &mut DbConn,
        claimed: Vec<NotificationRow>,
    ) -> Result<(Vec<Outgoing>, Dispositions), DbError> {
        let mut out = Vec::new();
        let mut disp = Dispositions::default();
        let mut matches: BTreeMap<String, Vec<NotificationRow>> = BTreeMap::new();
        for row in claimed {
            let Some(kind) = MailKind::from_code(&row.kind) else {
                disp.fail
                    .push((row.id, format!("unknown mail kind {:?}", row.kind)));
                continue;
            };
            if kind == MailKind::ListingMatch {
                matches
                    .entry(row.recipient.to_lowercase())
                    .or_default()
                    .push(row);
                continue;
            }
            let payload: serde_json::Value =
                serde_json::from_str(&row.payload).unwrap_or(serde_json::Value::Null);
            let unsubscribe = match (kind, row.user_id) {
                (MailKind::SavedSearchExpiring, Some(user)) => {
                    Some(self.key.link(&self.public_url, user))
                }
                _ => None,
            };
            let links = Links {
                public_url: self.public_url.clone(),
                unsubscribe,
            };
            let rendered = match render::render_single(kind, &payload, &links) {
                Ok(r) => r,
                Err(e) => {
                    disp.fail.push((row.id, e.to_string()));
                    continue;
                }
            };
            match self.message(
                &row.recipient,
                &rendered,
                &row.idempotency_key,
                links.unsubscribe.as_deref(),
            ) {
                Ok(message) => out.push(Outgoing {
                    ids: vec![row.id],
                    secret: kind.contains_secret(),
                    message,
                }),
                Err(e) => disp.fail.push((row.id, e)),
            }
        }
        for (recipient, rows) in matches {
            if let Some(email) = self.prepare_matches(conn, &recipient, rows, &mut disp)? {
                out.push(email);
            }
        }
        Ok((out, disp))
    }

    /// One email for the claimed matches of one recipient, if any remain after deferring
    /// digest rows and cancelling repeats.
    fn prepare_matches(
        &self,
        conn: &mut DbConn,
        recipient: &str,
        mut rows: Vec<NotificationRow>,
        disp: &mut Dispositions,
    ) -> Result<Option<Outgoing>, DbError> {
        rows.sort_by_key(|r| r.id);
        let user_id = rows.iter().find_map(|r| r.user_id);
        let mode = match user_id {
            Some(id) => crate::with_conn!(conn, |c| c.notify_mode(id))?,
            None => None,
        };
        let mut digest = false;
        match mode.as_deref().and_then(NotifyMode::from_code) {
            Some(NotifyMode::Off) => {
                for r in rows {
                    disp.cancel.push((
                        r.id,
                        "cancelled: the recipient turned listing emails off".into(),
                    ));
                }
                return Ok(None);
            }
            Some(NotifyMode::Daily) => {
                digest = true;
                let (hold, due): (Vec<_>, Vec<_>) = rows
                    .into_iter()
                    .partition(|r| r.next_attempt_at < self.settings.next_digest_at(r.created_at));
                for r in hold {
                    disp.defer
                        .push((r.id, self.settings.next_digest_at(r.created_at)));
                }
                rows = due;
            }
            _ => {}
        }
        if rows.is_empty() {
            return Ok(None);
        }
        let listing_ids: Vec<i64> = rows.iter().filter_map(|r| r.listing_id).collect();
        let told: HashSet<(i64, i64)> = crate::with_conn!(conn, |c| c.told_prices(
            user_id,
            &rows[0].recipient,
            &listing_ids
        ))?
        .into_iter()
        .collect();
        let summaries: HashMap<i64, (ListingSummary, Availability)> =
            crate::with_conn!(conn, |c| c.listing_summaries(&listing_ids))?;
        let search_ids: Vec<i64> = rows.iter().filter_map(|r| r.saved_search_id).collect();
        let names: HashMap<i64, String> = crate::with_conn!(conn, |c| c.search_names(&search_ids))?;

        let mut items: Vec<MatchItem> = Vec::new();
        let mut index: HashMap<(i64, i64), usize> = HashMap::new();
        let mut ids = Vec::new();
        for r in &rows {
            let payload: MatchPayload = match serde_json::from_str(&r.payload) {
                Ok(p) => p,
                Err(e) => {
                    disp.fail
                        .push((r.id, format!("the listing_match payload is invalid: {e}")));
                    continue;
                }
            };
            let Some(listing_id) = r.listing_id else {
                disp.fail
                    .push((r.id, "the listing_match row names no listing".into()));
                continue;
            };
            if told.contains(&(listing_id, payload.price)) {
                disp.cancel.push((
                    r.id,
                    "duplicate: the recipient was already sent this listing at this price".into(),
                ));
                continue;
            }
            let Some((summary, availability)) = summaries.get(&listing_id) else {
                disp.cancel
                    .push((r.id, "cancelled: the listing no longer exists".into()));
                continue;
            };
            match availability {
                Availability::OnMarket => {}
                Availability::OffMarket => {
                    disp.cancel.push((
                        r.id,
                        "cancelled: the listing is no longer on the market".into(),
                    ));
                    continue;
                }
                Availability::Held => {
                    disp.cancel.push((
                        r.id,
                        "cancelled: the listing is held (its agency's signing key was reported compromised)".into(),
                    ));
                    continue;
                }
            }
            let search = r.saved_search_id.and_then(|s| names.get(&s).cloned());
            if let Some(&i) = index.get(&(listing_id, payload.price)) {
                // Several searches matched the same listing: one entry naming them all.
                if let Some(name) = search
                    && !items[i].searches.contains(&name)
                {
                    items[i].searches.push(name);
                }
                ids.push(r.id);
                continue;
            }
            index.insert((listing_id, payload.price), items.len());
            items.push(MatchItem {
                listing: summary.clone(),
                searches: search.into_iter().collect(),
                reason: payload.reason,
                price: payload.price,
                previous_price: payload.previous_price,
            });
            ids.push(r.id);
        }
        if items.is_empty() {
            return Ok(None);
        }
        let unsubscribe = user_id.map(|u| self.key.link(&self.public_url, u));
        let links = Links {
            public_url: self.public_url.clone(),
            unsubscribe,
        };
        let total = items.len();
        let shown = &items[..total.min(self.settings.max_listings)];
        let rendered = render::render_matches(shown, total, digest, &links);
        let key = rows
            .iter()
            .find(|r| ids.contains(&r.id))
            .map_or_else(|| recipient.to_owned(), |r| r.idempotency_key.clone());
        match self.message(recipient, &rendered, &key, links.unsubscribe.as_deref()) {
            Ok(message) => Ok(Some(Outgoing {
                ids,
                secret: false,
                message,
            })),
            Err(e) => {
                for id in ids {
                    disp.fail.push((id, e.clone()));
                }
                Ok(None)
            }
        }
    }

    /// A multipart message; the Message-ID derives from `key`, so a retry of the same email
    /// carries the same id.
    fn message(
        &self,
        to: &str,
        rendered: &Rendered,
        key: &str,
        unsubscribe: Option<&str>,
    ) -> Result<Message, String> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| format!("invalid recipient address: {e}"))?;
        let domain = self.from.email.domain().to_owned();
        let digest = ring::digest::digest(&ring::digest::SHA256, key.as_bytes());
        let message_id = format!("<{}@{domain}>", hex::encode(&digest.as_ref()[..16]));
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(rendered.subject.clone())
            .message_id(Some(message_id))
            .date_now();
        if let Some(url) = unsubscribe {
            builder = builder
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe"),
                    format!("<{url}>"),
                ))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".to_owned(),
                ));
        }
        builder
            .multipart(MultiPart::alternative_plain_html(
                rendered.text.clone(),
                rendered.html.clone(),
            ))
            .map_err(|e| format!("cannot build the message: {e}"))
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

/// Whether a matched listing may be mailed now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// Active and not held: mail it.
    OnMarket,
    /// Sold, rented, withdrawn or taken down.
    OffMarket,
    /// Held: its signing key was reported compromised and it was not signed again yet.
    Held,
}

/// What the worker reads of listings and saved searches, for both backends.
pub trait MatchFacts {
    /// Key facts of listings and whether each may be alerted.
    fn listing_summaries(
        &mut self,
        ids: &[i64],
    ) -> QueryResult<HashMap<i64, (ListingSummary, Availability)>>;
    /// Names of saved searches.
    fn search_names(&mut self, ids: &[i64]) -> QueryResult<HashMap<i64, String>>;
}

crate::impl_for_backends!(MatchFacts {
    fn listing_summaries(
        &mut self,
        ids: &[i64],
    ) -> QueryResult<HashMap<i64, (ListingSummary, Availability)>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        #[allow(clippy::type_complexity)]
        let rows: Vec<(
            i64,
            String,
            String,
            Option<String>,
            i64,
            String,
            Option<i32>,
            Option<f64>,
            String,
            Option<i64>,
        )> = listings::table
            .filter(listings::id.eq_any(ids))
            .select((
                listings::id,
                listings::title,
                listings::city,
                listings::district,
                listings::price,
                listings::currency,
                listings::bedrooms,
                listings::living_area,
                listings::status,
                listings::held_at,
            ))
            .load(self)?;
        Ok(rows
            .into_iter()
            .map(|(id, title, city, district, price, currency, bedrooms, living_area, status, held_at)| {
                (
                    id,
                    (
                        ListingSummary {
                            id,
                            title,
                            city,
                            district,
                            price,
                            currency,
                            bedrooms,
                            living_area,
                        },
                        if held_at.is_some() {
                            Availability::Held
                        } else if status == "active" {
                            Availability::OnMarket
                        } else {
                            Availability::OffMarket
                        },
                    ),
                )
            })
            .collect())
    }

    fn search_names(&mut self, ids: &[i64]) -> QueryResult<HashMap<i64, String>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        Ok(saved_searches::table
            .filter(saved_searches::id.eq_any(ids))
            .select((saved_searches::id, saved_searches::name))
            .load::<(i64, String)>(self)?
            .into_iter()
            .collect())
    }
});

/// Starts the worker of a serving process (registering its metrics); it stops on shutdown.
pub fn spawn(
    state: &crate::state::AppState,
    shutdown: Shutdown,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let worker = Worker::from_config(&state.config, state.db.clone())?;
    worker.metrics.register(&state.metrics);
    Ok(tokio::spawn(worker.run(shutdown)))
}
