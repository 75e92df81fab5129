//! Notifications: every email the platform sends goes through the outbox (`notifications`
//! table), written in the same transaction as the change that causes it, and is delivered by the
//! outbox worker. Nothing is lost when the mail server is down or the process dies, and the
//! unique idempotency key stops duplicates across retries, restarts and nodes.
//!
//! This module holds the contract every producer uses: the [`MailKind`]s, the payload each kind
//! carries, and [`OutboxStore::enqueue_notification`]. Beside it: the [`worker`] that delivers,
//! the [`render`]ed templates, the [`mailer`] backends (SMTP or files) and the one-click
//! [`unsubscribe`] link and page.

pub mod mailer;
pub mod messages;
pub mod outbox;
pub mod render;
pub mod send_error;
pub mod smtp_pool;
pub mod status;
pub mod store;
pub mod unsubscribe;
pub mod worker;

pub use mailer::Mailer;
pub use outbox::{MailKind, MatchReason, NewNotification, OutboxStore};
pub use send_error::SendError;
pub use status::NotificationStatus;
pub use worker::{RoundReport, Worker, WorkerSettings};
