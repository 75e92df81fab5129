//! Live events inside one platform process: producers (the matcher, when it queues a match)
//! publish, and the website's server-sent-events endpoint forwards what concerns the signed-in
//! user. A subscriber that falls behind loses old events rather than slowing producers; pages
//! that must not miss anything re-read the database (several nodes each have their own bus).

use serde::Serialize;
use tokio::sync::broadcast;

/// Something a user's open pages may want to show at once.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    /// A listing matched one of the user's saved searches.
    Match {
        /// The user.
        user_id: i64,
        /// The saved search.
        saved_search_id: i64,
        /// The listing.
        listing_id: i64,
        /// The outbox row recording it, if any.
        notification_id: Option<i64>,
    },
}

impl LiveEvent {
    /// The user the event is for.
    pub fn user_id(&self) -> i64 {
        match self {
            LiveEvent::Match { user_id, .. } => *user_id,
        }
    }
}

/// A broadcast channel of [`LiveEvent`]s; cheap to clone.
#[derive(Debug, Clone)]
pub struct EventBus(
    broadcast::Sender<LiveEvent>,
    /// Set once the process shuts down: open streams end at once.
    std::sync::Arc<tokio::sync::watch::Sender<bool>>,
);

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new(4096)
    }
}

impl EventBus {
    /// A bus keeping up to `capacity` events for slow subscribers.
    pub fn new(capacity: usize) -> EventBus {
        EventBus(
            broadcast::channel(capacity).0,
            std::sync::Arc::new(tokio::sync::watch::channel(false).0),
        )
    }

    /// Ends every open stream (shutdown): their connections close at once instead of holding
    /// the server's grace period.
    pub fn close(&self) {
        self.1.send_replace(true);
    }

    /// Resolves once [`EventBus::close`] was called.
    pub async fn closed(&self) {
        let mut rx = self.1.subscribe();
        let _ = rx.wait_for(|closed| *closed).await;
    }

    /// Publishes an event; returns how many subscribers there were (0 is fine).
    pub fn publish(&self, event: LiveEvent) -> usize {
        self.0.send(event).unwrap_or(0)
    }

    /// A new subscription, seeing events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.0.subscribe()
    }
}
