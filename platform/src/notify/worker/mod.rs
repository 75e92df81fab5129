//! The outbox worker: claims due notifications, composes them into stored messages, sends the
//! messages and records the result.
//!
//! * **Claim.** In one write transaction the worker takes up to [`WorkerSettings::claim_limit`]
//!   due rows not yet in a message (`pending` and `next_attempt_at` passed, or `sending` with a
//!   lapsed claim: a worker that died while composing) and marks them `sending` with its id and
//!   `claimed_until`. On PostgreSQL the rows are locked `FOR UPDATE SKIP LOCKED`, so several nodes
//!   never take the same row; on SQLite the transaction is `BEGIN IMMEDIATE`, which holds the only
//!   write lock.
//! * **Compose, then send.** The claimed rows become emails, and each email is stored
//!   ([`crate::notify::messages`]: recipient, Message-ID, the exact bytes) with its rows pointing
//!   at it, in one transaction with the rows cancelled, failed or deferred. Only then is anything
//!   sent. A message is held by a short lease (`claim_timeout`, seconds) that the worker renews
//!   every third of it while it works, so a live worker never loses it and a dead one's lapses
//!   quickly; whoever takes a lapsed message sends the same bytes. After a crash (kill -9) the
//!   only mail that can arrive twice is a message the server accepted but whose `sent` mark was
//!   not written (one per SMTP connection in use), and it repeats with the same Message-ID and
//!   the same listings.
//! * **Batch.** A `listing_match` row becomes due `batch_window` after it was queued; then every
//!   due match of the same recipient is claimed with it and they go out as one email, showing at
//!   most `max_listings` listings and a link to see all. Users with `notify_mode = 'daily'` get
//!   their matches held until the next digest hour and sent together; `'off'` cancels them.
//! * **No repeats.** A match for a listing the recipient was already sent at the same price is
//!   cancelled (`last_error` says why), as are matches of listings no longer on the market and of
//!   listings held because their agency's signing key was reported compromised (signing one
//!   again brings it back on the market, with new matches).
//! * **Retry.** A failure of the SMTP server (4xx, refused, timeout) puts the message and its rows
//!   back to `pending` with an exponential backoff, to be sent again as it is; after
//!   `max_attempts`, or at once for a 5xx, they stay `failed` with `last_error`, and the rows
//!   leave the message (an operator's retry composes them anew). A row marked `sent` is never
//!   claimed again.
//! * **Secrets.** Payloads with one-time tokens are replaced by `{}` once sent, and a message's
//!   bytes are emptied once it is sent or given up.
//!
//! Here: `round.rs` the [`Worker`] and its round (claim, compose and store, send, record); `run.rs` the
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
