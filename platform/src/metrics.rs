//! Prometheus metrics, served as text at `/metrics` on the operator console's listener.
//!
//! Each part of the platform registers its own metrics with [`Metrics::register`] at start; the
//! HTTP middleware ([`crate::http_metrics::track`]) fills the request counter and histogram
//! declared here. This module knows nothing of the application state.

use std::sync::RwLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};

/// Labels of the HTTP request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `website` or `agency`.
    pub server: &'static str,
    /// HTTP method, from a fixed set ([`crate::http_metrics::method_label`]).
    pub method: &'static str,
    /// Matched route pattern, e.g. `/api/v1/listings/{key}`.
    pub route: String,
    /// Status code.
    pub status: u16,
}

/// Labels of the HTTP latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// `website` or `agency`.
    pub server: &'static str,
    /// Matched route pattern.
    pub route: String,
}

/// The registry and the metrics every server shares.
#[derive(Debug)]
pub struct Metrics {
    registry: RwLock<Registry>,
    /// Requests answered.
    pub http_requests: Family<RequestLabels, Counter>,
    /// Seconds to answer.
    pub http_duration: Family<RouteLabels, Histogram>,
    /// Open database connections in the pool.
    pub db_connections: Gauge,
    /// Idle database connections in the pool.
    pub db_idle_connections: Gauge,
    /// Seconds to answer a signed publish or withdrawal (`PUT`/`DELETE` of a listing).
    pub publish_duration: Histogram,
    /// Composed emails by status (`pending`, `sending`, `sent`, `failed`, …).
    pub mail_messages: Family<StatusLabels, Gauge>,
    /// Age in seconds of the oldest email waiting to be sent (0 when none waits).
    pub mail_oldest_pending_seconds: Gauge,
    /// Matches queued for mail and not yet composed into an email.
    pub mail_queued_matches: Gauge,
    /// Live saved searches in this node's index.
    pub matcher_saved_searches: Gauge,
    /// Saved-search changes committed that this node's index has not applied yet (at most
    /// 10,000 counted).
    pub matcher_lag_entries: Gauge,
}

/// Label of the mail gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    /// The status, as stored.
    pub status: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry with the shared metrics registered under the `platform` prefix.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("platform");
        let http_requests = Family::<RequestLabels, Counter>::default();
        let http_duration = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_5, 2.0, 16))
        });
        let db_connections = Gauge::default();
        let db_idle_connections = Gauge::default();
        registry.register(
            "http_requests",
            "HTTP requests answered",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests",
            http_duration.clone(),
        );
        registry.register(
            "db_connections",
            "Open database connections in the pool",
            db_connections.clone(),
        );
        registry.register(
            "db_idle_connections",
            "Idle database connections in the pool",
            db_idle_connections.clone(),
        );
        let publish_duration = Histogram::new(exponential_buckets(0.000_5, 2.0, 16));
        registry.register(
            "publish_duration_seconds",
            "Time to answer a signed publish or withdrawal of a listing (agency API PUT/DELETE)",
            publish_duration.clone(),
        );
        let mail_messages = Family::<StatusLabels, Gauge>::default();
        registry.register(
            "mail_messages",
            "Composed emails by status: pending (waiting to be sent or retried), sending (leased by a worker), failed (given up)",
            mail_messages.clone(),
        );
        let mail_oldest_pending_seconds = Gauge::default();
        registry.register(
            "mail_oldest_pending_seconds",
            "Age of the oldest email waiting to be sent, 0 when none waits",
            mail_oldest_pending_seconds.clone(),
        );
        let mail_queued_matches = Gauge::default();
        registry.register(
            "mail_queued_notifications",
            "Notifications queued and not yet composed into an email",
            mail_queued_matches.clone(),
        );
        let matcher_saved_searches = Gauge::default();
        registry.register(
            "matcher_saved_searches",
            "Live saved searches in this node's matching index",
            matcher_saved_searches.clone(),
        );
        let matcher_lag_entries = Gauge::default();
        registry.register(
            "matcher_lag_entries",
            "Saved-search changes committed that this node's index has not applied yet (counted up to 10000)",
            matcher_lag_entries.clone(),
        );
        Metrics {
            publish_duration,
            mail_messages,
            mail_oldest_pending_seconds,
            mail_queued_matches,
            matcher_saved_searches,
            matcher_lag_entries,
            registry: RwLock::new(registry),
            http_requests,
            http_duration,
            db_connections,
            db_idle_connections,
        }
    }

    /// Registers a metric of another part of the platform (call at start).
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.registry
            .write()
            .expect("metrics registry lock")
            .register(name, help, metric);
    }

    /// The registry in Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.read().expect("metrics registry lock");
        prometheus_client::encoding::text::encode(&mut out, &registry)
            .expect("writing to a String cannot fail");
        out
    }
}
