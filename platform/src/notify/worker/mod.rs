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
//!
//! Here: `round.rs` the [`Worker`] and its round (claim, prepare, send, record); `run.rs` the
//! loop and [`spawn`]; `batch.rs` rows to emails; `compose.rs` the lettre message; `facts.rs`
//! what is read of listings and saved searches; `settings.rs`, `metrics.rs`, `error.rs`. The
//! claim SQL and every update of a row's status are in [`crate::notify::store`].

mod batch;
mod compose;
mod error;
mod facts;
mod metrics;
mod round;
mod run;
pub mod settings;

pub use error::WorkerError;
pub use facts::{Availability, MatchFacts};
pub use metrics::{MailMetrics, RoundReport};
pub use round::Worker;
pub use run::spawn;
pub use settings::WorkerSettings;
