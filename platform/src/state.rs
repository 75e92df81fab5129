//! The state shared by every request handler and background job, handed to actix as
//! `web::Data<AppState>`. Nothing global: everything a handler uses is reachable from here.

use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::db::Db;
use crate::events::EventBus;
use crate::matching::live::LiveMatcher;
use crate::metrics::Metrics;
use crate::pki::Pki;
use crate::web::streams::LiveStreams;

/// Shared state of one platform process.
#[derive(Debug)]
pub struct AppState {
    /// The configuration in effect.
    pub config: Arc<Config>,
    /// The database pool.
    pub db: Db,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// Live events for open pages.
    pub events: EventBus,
    /// When the process started.
    pub started_at: Instant,
    /// The certificate authority and its register.
    pub pki: Arc<Pki>,
    /// The saved-search index, kept in step with the database.
    pub matcher: Arc<LiveMatcher>,
    /// The live-match streams open on this node, by session.
    pub streams: LiveStreams,
    /// The key signing anonymous CSRF cookies (read from the database on first use).
    pub csrf_key: crate::web::session::CsrfKey,
}

impl AppState {
    /// State for a process with this configuration and database.
    pub fn new(config: Config, db: Db, pki: Arc<Pki>) -> AppState {
        let metrics = Arc::new(Metrics::new());
        crate::accounts::passwords::register_metrics(&metrics);
        AppState {
            pki,
            matcher: Arc::new(LiveMatcher::new()),
            config: Arc::new(config),
            db,
            metrics,
            events: EventBus::default(),
            streams: LiveStreams::default(),
            csrf_key: Default::default(),
            started_at: Instant::now(),
        }
    }

    /// The certificate authority.
    pub fn pki(&self) -> &Pki {
        &self.pki
    }
}
