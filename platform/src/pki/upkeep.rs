//! The CA's upkeep while the platform runs, at start and then every `ca.check_interval_secs`:
//!
//! * the agency port's server certificate is renewed well before it expires (fewer than
//!   `ca.server_renew_days` days or a third of its life left, or issued by an issuing CA that is
//!   no longer current), registered, audited, written to `DATA_DIR/tls` and swapped into the
//!   running TLS server: new handshakes get it at once, no restart;
//! * the CRLs of the issuing CAs whose keys this node holds are rebuilt when stale (with
//!   several nodes, by the one holding the CRL lease, [`CRL_JOB`]);
//! * the issuing CAs accepted in client chains are reloaded from the database (a rollover made
//!   elsewhere is picked up);
//! * the seconds left before the server, issuing and root certificates (and the root's CRL)
//!   expire are set as metrics, and an operator warning is logged at start and then daily when
//!   one is close ([`expiry_warnings`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use time::OffsetDateTime;

use super::{Pki, PkiError};
use crate::api::tls::ServerCertResolver;
use crate::db::{Db, DbConn};
use crate::listings::ms_to_time;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;

/// Warn when the server certificate has fewer days left (it renews itself well before).
pub const SERVER_WARN_DAYS: i64 = 14;
/// Warn when the issuing or the root CA has fewer days left.
pub const CA_WARN_DAYS: i64 = 180;
/// Warn when the root's CRL has fewer days left before its next update.
pub const ROOT_CRL_WARN_DAYS: i64 = 30;
/// How often a warning that still holds is repeated.
const WARN_EVERY: Duration = Duration::from_secs(24 * 3600);

/// Label of the expiry gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RoleLabels {
    /// `server`, `issuing`, `root` or `root_crl`.
    pub role: &'static str,
}

/// `platform_ca_expiry_seconds{role}`: seconds until each expires.
#[derive(Debug, Clone, Default)]
pub struct ExpiryGauges {
    seconds_left: Family<RoleLabels, Gauge>,
}

impl ExpiryGauges {
    /// Registers the gauges with `metrics`.
    pub fn register(metrics: &Metrics) -> ExpiryGauges {
        let gauges = ExpiryGauges::default();
        metrics.register(
            "ca_expiry_seconds",
            "Seconds until the agency port's server certificate, the current issuing CA, the root CA and the root's CRL (next update) expire, by role",
            gauges.seconds_left.clone(),
        );
        gauges
    }

    fn set(&self, role: &'static str, at: OffsetDateTime, now: OffsetDateTime) {
        self.seconds_left
            .get_or_create(&RoleLabels { role })
            .set((at - now).whole_seconds());
    }
}

/// An expiry an operator must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryWarning {
    /// `server`, `issuing`, `root` or `root_crl`.
    pub role: &'static str,
    /// Whole days left (negative once past).
    pub days_left: i64,
    /// What expires and what to do.
    pub message: String,
}

/// When each of the CA's time limits falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiries {
    /// The agency port's server certificate, when known.
    pub server: Option<OffsetDateTime>,
    /// The current issuing CA.
    pub issuing: OffsetDateTime,
    /// The root CA.
    pub root: OffsetDateTime,
    /// The root's CRL's next update, when it was ever signed.
    pub root_crl: Option<OffsetDateTime>,
}

/// The warnings that hold at `now`: server certificate under [`SERVER_WARN_DAYS`], issuing or
/// root CA under [`CA_WARN_DAYS`], root CRL under [`ROOT_CRL_WARN_DAYS`].
pub fn expiry_warnings(expiries: &Expiries, now: OffsetDateTime) -> Vec<ExpiryWarning> {
    let mut out = Vec::new();
    let mut check = |role: &'static str, at: OffsetDateTime, limit: i64, what: &str, todo: &str| {
        let days_left = (at - now).whole_days();
        if days_left < limit {
            out.push(ExpiryWarning {
                role,
                days_left,
                message: format!("{what} expires in {days_left} days ({at}): {todo}"),
            });
        }
    };
    if let Some(at) = expiries.server {
        check(
            "server",
            at,
            SERVER_WARN_DAYS,
            "the agency port's server certificate",
            "it should have renewed itself; look for renewal errors in this log",
        );
    }
    check(
        "issuing",
        expiries.issuing,
        CA_WARN_DAYS,
        "the issuing CA",
        "bring the root key and run `platform ca rollover --root-key FILE` (no certificate outlives its issuer)",
    );
    check(
        "root",
        expiries.root,
        CA_WARN_DAYS,
        "the root CA",
        "plan a new CA; every agency desk will need its fingerprint",
    );
    if let Some(at) = expiries.root_crl {
        check(
            "root_crl",
            at,
            ROOT_CRL_WARN_DAYS,
            "the root's CRL",
            "sign it again with `platform ca sign-root-crl --root-key FILE`",
        );
    }
    out
}

/// What one upkeep run found.
#[derive(Debug, Clone)]
pub struct Report {
    /// Every limit, for the metrics and warnings.
    pub expiries: Expiries,
    /// Serial of the server certificate issued by this run, if one was.
    pub renewed_server: Option<String>,
}

/// The upkeep of one platform process.
#[derive(Debug)]
pub struct Upkeep {
    pki: Arc<Pki>,
    resolver: Arc<ServerCertResolver>,
    names: Vec<String>,
    gauges: ExpiryGauges,
    warned: Mutex<HashMap<&'static str, Instant>>,
    /// With several nodes: this node and the lease of the CRL refresh (one node at a time).
    cluster: Option<(crate::cluster::NodeId, Duration)>,
}

/// The lease name of the CRL refresh (see [`crate::cluster`]).
pub const CRL_JOB: &str = "ca.crl_refresh";

impl Upkeep {
    /// Upkeep of `pki`, renewing the certificate served by `resolver` for `names`.
    pub fn new(
        pki: Arc<Pki>,
        resolver: Arc<ServerCertResolver>,
        names: Vec<String>,
        gauges: ExpiryGauges,
    ) -> Upkeep {
        Upkeep {
            pki,
            resolver,
            names,
            gauges,
            warned: Mutex::new(HashMap::new()),
            cluster: None,
        }
    }

    /// Refreshes the CRLs only while `node` holds the CRL lease, renewed every run (`every`):
    /// with several nodes, one rebuilds them and every node serves them from the database.
    pub fn shared_with_cluster(mut self, node: crate::cluster::NodeId, every: Duration) -> Upkeep {
        self.cluster = Some((node, crate::cluster::lease_for(every)));
        self
    }

    /// One run (blocking; see the module documentation).
    pub fn run_once(&self, conn: &mut DbConn) -> Result<Report, PkiError> {
        let now = OffsetDateTime::now_utc();
        let leaf = self.resolver.leaf();
        let from_current_issuer =
            leaf.authority_key_id.as_deref() == Some(self.pki.ca().issuing_key_id());
        let mut renewed_server = None;
        if self
            .pki
            .server_renewal_due(leaf.not_before, leaf.not_after, now)
            || !from_current_issuer
        {
            let identity = self
                .pki
                .renew_server_identity(conn, &self.names, "renewal")?;
            self.resolver.swap(&identity)?;
            renewed_server = Some(identity.leaf()?.serial);
        }
        let crl_turn = match &self.cluster {
            Some((node, lease)) => crate::cluster::take_turn(conn, CRL_JOB, node, *lease)?,
            None => true,
        };
        for issuing in self.pki.ca().issuing_cas() {
            if crl_turn && issuing.signs_crls {
                super::crl::issuing_crl(self.pki.ca(), conn, &issuing)?;
            }
        }
        self.pki.refresh_trust(conn)?;
        let root_crl = super::crl::root_crl(self.pki.ca(), conn)?;
        Ok(Report {
            expiries: Expiries {
                server: Some(self.resolver.leaf().not_after),
                issuing: self.pki.ca().issuing_not_after(),
                root: self.pki.ca().root_not_after(),
                root_crl: root_crl.map(|c| ms_to_time(c.next_update)),
            },
            renewed_server,
        })
    }

    /// Sets the metrics and logs the warnings due (each at most daily).
    pub fn observe(&self, report: &Report) {
        let now = OffsetDateTime::now_utc();
        let e = &report.expiries;
        if let Some(at) = e.server {
            self.gauges.set("server", at, now);
        }
        self.gauges.set("issuing", e.issuing, now);
        self.gauges.set("root", e.root, now);
        if let Some(at) = e.root_crl {
            self.gauges.set("root_crl", at, now);
        }
        let mut warned = self.warned.lock().expect("warning times");
        for warning in expiry_warnings(e, now) {
            let due = warned
                .get(warning.role)
                .is_none_or(|at| at.elapsed() >= WARN_EVERY);
            if due {
                tracing::warn!(
                    role = warning.role,
                    days_left = warning.days_left,
                    "{}",
                    warning.message
                );
                warned.insert(warning.role, Instant::now());
            }
        }
    }
}

/// Runs the upkeep at start and then every `every`, until shutdown.
pub async fn run(db: Db, upkeep: Arc<Upkeep>, every: Duration, mut shutdown: Shutdown) {
    loop {
        let u = Arc::clone(&upkeep);
        match db.run::<_, PkiError, _>(move |conn| u.run_once(conn)).await {
            Ok(report) => upkeep.observe(&report),
            Err(e) => tracing::warn!(error = %e.with_causes(), "CA upkeep failed; will retry"),
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.requested() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use time::Duration;

    use super::*;

    #[test]
    fn warnings_come_when_an_expiry_is_close() {
        let now = OffsetDateTime::now_utc();
        let far = Expiries {
            server: Some(now + Duration::days(300)),
            issuing: now + Duration::days(1000),
            root: now + Duration::days(3000),
            root_crl: Some(now + Duration::days(300)),
        };
        assert!(expiry_warnings(&far, now).is_empty());

        let close = Expiries {
            server: Some(now + Duration::days(13)),
            issuing: now + Duration::days(179),
            root: now + Duration::days(100),
            root_crl: Some(now + Duration::days(29)),
        };
        let warnings = expiry_warnings(&close, now);
        let roles: Vec<&str> = warnings.iter().map(|w| w.role).collect();
        assert_eq!(roles, ["server", "issuing", "root", "root_crl"]);
        assert_eq!(warnings[0].days_left, 13);
        assert!(
            warnings[1].message.contains("platform ca rollover"),
            "{}",
            warnings[1].message
        );
        assert!(warnings[3].message.contains("sign-root-crl"));

        // Just outside each limit: nothing.
        let edge = Expiries {
            server: Some(now + Duration::days(15)),
            issuing: now + Duration::days(181),
            root: now + Duration::days(181),
            root_crl: None,
        };
        assert!(expiry_warnings(&edge, now).is_empty());
    }
}
