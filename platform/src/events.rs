//! Live events: producers (the matcher, when it queues a match) publish, and the website's
//! server-sent-events endpoint forwards what concerns the signed-in user. A subscriber that
//! falls behind loses old events rather than slowing producers; pages that must not miss
//! anything re-read the database.
//!
//! On PostgreSQL the bus reaches every node ([`EventBus::connect_postgres`]): each event
//! published here is also sent with `NOTIFY platform_events` (batched, tagged with this node's
//! id) by a thread of its own, and a listening thread publishes other nodes' events on this
//! node's bus. Delivery stays best effort across nodes as within one: a node whose database
//! connection drops reconnects and loses what was sent meanwhile. On SQLite (one node) the bus
//! stays in the process.

use std::sync::{Arc, OnceLock, mpsc};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// Something a user's open pages may want to show at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    Arc<tokio::sync::watch::Sender<bool>>,
    /// With PostgreSQL: the queue of the thread that sends this node's events to the others.
    Arc<OnceLock<mpsc::SyncSender<LiveEvent>>>,
);

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new(4096)
    }
}

/// The PostgreSQL channel live events travel on between nodes.
pub const CHANNEL: &str = "platform_events";
/// NOTIFY payloads must stay under 8000 bytes.
const MAX_PAYLOAD: usize = 7000;
/// Events waiting to be sent to the other nodes, at most.
const RELAY_QUEUE: usize = 16_384;
/// How often the listening thread looks for notifications.
const LISTEN_POLL: Duration = Duration::from_millis(50);

/// One NOTIFY: the events of a node.
#[derive(Debug, Serialize, Deserialize)]
struct Relayed {
    node: String,
    events: Vec<LiveEvent>,
}

impl EventBus {
    /// A bus keeping up to `capacity` events for slow subscribers.
    pub fn new(capacity: usize) -> EventBus {
        EventBus(
            broadcast::channel(capacity).0,
            Arc::new(tokio::sync::watch::channel(false).0),
            Arc::new(OnceLock::new()),
        )
    }

    /// Ends every open stream (shutdown): their connections close at once instead of holding
    /// the server's grace period. The relay threads stop too.
    pub fn close(&self) {
        self.1.send_replace(true);
    }

    fn is_closed(&self) -> bool {
        *self.1.borrow()
    }

    /// Resolves once [`EventBus::close`] was called.
    pub async fn closed(&self) {
        let mut rx = self.1.subscribe();
        let _ = rx.wait_for(|closed| *closed).await;
    }

    /// Publishes an event on this node, and to the other nodes when connected; returns how many
    /// subscribers there were on this node (0 is fine).
    pub fn publish(&self, event: LiveEvent) -> usize {
        if let Some(relay) = self.2.get() {
            // Full (the database away for long): dropped, like a lagging subscriber's events.
            let _ = relay.try_send(event.clone());
        }
        self.0.send(event).unwrap_or(0)
    }

    /// A new subscription, seeing events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.0.subscribe()
    }

    /// Shares this bus with every node on the PostgreSQL database at `url`: starts the thread
    /// that sends this node's events and the one that listens for the others'. Returns once
    /// the listener is listening (so an event published by another node after this returns
    /// arrives here), or the error that kept it from connecting.
    pub fn connect_postgres(
        &self,
        url: &str,
        node: &crate::cluster::NodeId,
    ) -> Result<(), diesel::ConnectionError> {
        use diesel::Connection as _;
        let mut listener = diesel::PgConnection::establish(url)?;
        listen(&mut listener).map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
        let sender = diesel::PgConnection::establish(url)?;
        let (tx, rx) = mpsc::sync_channel(RELAY_QUEUE);
        if self.2.set(tx).is_err() {
            return Ok(());
        }
        let (bus, url_l, me) = (self.clone(), url.to_owned(), node.to_string());
        std::thread::Builder::new()
            .name("events-listen".into())
            .spawn(move || bus.listen_loop(listener, &url_l, &me))
            .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
        let (bus, url_s, me) = (self.clone(), url.to_owned(), node.to_string());
        std::thread::Builder::new()
            .name("events-notify".into())
            .spawn(move || bus.notify_loop(sender, rx, &url_s, &me))
            .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
        Ok(())
    }

    fn listen_loop(&self, mut conn: diesel::PgConnection, url: &str, me: &str) {
        while !self.is_closed() {
            let mut broken = false;
            for note in conn.notifications_iter() {
                match note {
                    Ok(note) => match serde_json::from_str::<Relayed>(&note.payload) {
                        Ok(relayed) if relayed.node != me => {
                            for event in relayed.events {
                                let _ = self.0.send(event);
                            }
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "unreadable live event from another node")
                        }
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the live-event connection; reconnecting");
                        broken = true;
                        break;
                    }
                }
            }
            if broken {
                match reconnect(url, &self.1, true) {
                    Some(c) => conn = c,
                    None => return,
                }
            }
            std::thread::sleep(LISTEN_POLL);
        }
    }

    fn notify_loop(
        &self,
        mut conn: diesel::PgConnection,
        rx: mpsc::Receiver<LiveEvent>,
        url: &str,
        me: &str,
    ) {
        loop {
            let first = match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(e) => e,
                Err(mpsc::RecvTimeoutError::Timeout) if !self.is_closed() => continue,
                Err(_) => return,
            };
            let mut pending = vec![first];
            while let Ok(e) = rx.try_recv() {
                pending.push(e);
            }
            for payload in batches(me, pending) {
                if let Err(e) = notify(&mut conn, &payload) {
                    tracing::warn!(error = %e, "could not send live events to the other nodes; reconnecting");
                    match reconnect(url, &self.1, false) {
                        Some(c) => conn = c,
                        None => return,
                    }
                }
            }
        }
    }
}

/// The events as NOTIFY payloads, each under [`MAX_PAYLOAD`] bytes.
fn batches(me: &str, events: Vec<LiveEvent>) -> Vec<String> {
    let mut out = Vec::new();
    let mut batch: Vec<LiveEvent> = Vec::new();
    let mut size = me.len() + 32;
    for event in events {
        let len = serde_json::to_string(&event).map_or(0, |t| t.len()) + 1;
        if !batch.is_empty() && size + len > MAX_PAYLOAD {
            out.push(payload(me, std::mem::take(&mut batch)));
            size = me.len() + 32;
        }
        size += len;
        batch.push(event);
    }
    if !batch.is_empty() {
        out.push(payload(me, batch));
    }
    out
}

fn payload(me: &str, events: Vec<LiveEvent>) -> String {
    serde_json::to_string(&Relayed {
        node: me.to_owned(),
        events,
    })
    .unwrap_or_default()
}

fn listen(conn: &mut diesel::PgConnection) -> diesel::QueryResult<()> {
    use diesel::RunQueryDsl as _;
    diesel::sql_query(format!("LISTEN {CHANNEL}")).execute(conn)?;
    Ok(())
}

fn notify(conn: &mut diesel::PgConnection, payload: &str) -> diesel::QueryResult<()> {
    use diesel::RunQueryDsl as _;
    diesel::sql_query("SELECT pg_notify($1, $2)")
        .bind::<diesel::sql_types::Text, _>(CHANNEL)
        .bind::<diesel::sql_types::Text, _>(payload)
        .execute(conn)?;
    Ok(())
}

/// A new connection (listening when `listening`), tried every second until it works or the bus
/// closes (then `None`).
fn reconnect(
    url: &str,
    closed: &tokio::sync::watch::Sender<bool>,
    listening: bool,
) -> Option<diesel::PgConnection> {
    use diesel::Connection as _;
    loop {
        if *closed.borrow() {
            return None;
        }
        std::thread::sleep(Duration::from_secs(1));
        let Ok(mut conn) = diesel::PgConnection::establish(url) else {
            continue;
        };
        if !listening || listen(&mut conn).is_ok() {
            tracing::info!("live-event connection restored");
            return Some(conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: i64) -> LiveEvent {
        LiveEvent::Match {
            user_id: n,
            saved_search_id: n,
            listing_id: n,
            notification_id: Some(n),
        }
    }

    #[test]
    fn batches_stay_under_the_notify_limit_and_keep_every_event_in_order() {
        let events: Vec<LiveEvent> = (0..1000).map(event).collect();
        let payloads = batches("node-a", events.clone());
        assert!(payloads.len() > 1);
        let mut back = Vec::new();
        for p in &payloads {
            assert!(p.len() < 8000, "{}", p.len());
            let r: Relayed = serde_json::from_str(p).unwrap();
            assert_eq!(r.node, "node-a");
            back.extend(r.events);
        }
        assert_eq!(back, events);
    }

    #[test]
    fn events_published_on_one_node_reach_another_on_postgres() {
        let Some((url, _guard)) = crate::testing::db::fresh_postgres_database(
            "events::events_published_on_one_node_reach_another_on_postgres",
        ) else {
            return;
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (a, b) = (EventBus::default(), EventBus::default());
        a.connect_postgres(&url, &crate::cluster::NodeId::new())
            .unwrap();
        b.connect_postgres(&url, &crate::cluster::NodeId::new())
            .unwrap();
        let (mut on_a, mut on_b) = (a.subscribe(), b.subscribe());
        a.publish(event(7));
        runtime.block_on(async {
            let got = tokio::time::timeout(Duration::from_secs(30), on_b.recv())
                .await
                .expect("the other node sees the event")
                .unwrap();
            assert_eq!(got, event(7));
            // Its own node sees it once, not again from the database.
            assert_eq!(on_a.recv().await.unwrap(), event(7));
            b.publish(event(8));
            let got = tokio::time::timeout(Duration::from_secs(30), on_a.recv())
                .await
                .expect("and back")
                .unwrap();
            assert_eq!(got, event(8));
        });
        assert!(on_a.try_recv().is_err(), "no echo of its own events");
        a.close();
        b.close();
    }
}
