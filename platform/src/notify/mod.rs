//! Notifications: every email the platform sends goes through the outbox (`notifications`
//! table), written in the same transaction as the change that causes it, and is delivered by the
//! outbox worker. Nothing is lost when the mail server is down or the process dies, and the
//! unique idempotency key stops duplicates across retries, restarts and nodes.
//!
//! This module holds the contract every producer uses: the [`MailKind`]s, the payload each kind
//! carries, and [`OutboxStore::enqueue_notification`].

pub mod outbox;

pub use outbox::{MailKind, MatchReason, NewNotification, OutboxStore};
