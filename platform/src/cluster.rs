//! Several nodes on one database: who this node is, and the leases (`cluster_leases`) that let
//! one node at a time run each periodic job.
//!
//! A job's lease names its holder and when it runs out (three of the job's intervals). Before
//! each round a node renews its own lease or takes one that has run out; a node that does not
//! get it skips the round. A node that stops gives its leases back, so another takes the job at
//! its next round; one that dies loses them when they run out. Each step is one statement, so
//! two nodes never both hold a lease (PostgreSQL re-checks an `UPDATE`'s condition on the row
//! it locked; SQLite has one writer). The work itself must stay safe if it ever ran twice
//! (a node paused longer than its lease): every job here is (notices are queued once by their
//! dedupe key, CRL numbers only go up).
//!
//! Per-node work is not leased: the saved-search index (each node's memory), the agency port's
//! server certificate (each node's own), the trusted issuing CAs, and the mail worker, whose
//! rows and messages are claimed with their own short leases (`notify::messages`), so every
//! node may send.

use std::future::Future;
use std::time::Duration;

use diesel::prelude::*;

use crate::db::schema::cluster_leases as l;
use crate::db::{Db, DbConn, DbError};
use crate::shutdown::Shutdown;

/// This node's name in leases: host, process id and a random suffix (unique per start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeId(String);

impl NodeId {
    /// A new id for this process.
    pub fn new() -> NodeId {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "node".to_owned());
        NodeId(format!(
            "{host}-{}-{:06x}",
            std::process::id(),
            rand::random::<u32>() & 0xff_ffff
        ))
    }

    /// The id as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for NodeId {
    fn default() -> Self {
        NodeId::new()
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The lease queries, one module for the table.
pub trait LeaseStore {
    /// Renews `holder`'s lease on `job`, or takes it if it ran out (or never existed), until
    /// `until` (ms). True when `holder` now holds it.
    fn take_lease(&mut self, job: &str, holder: &str, now: i64, until: i64) -> QueryResult<bool>;
    /// Gives `holder`'s lease on `job` back.
    fn release_lease(&mut self, job: &str, holder: &str) -> QueryResult<()>;
    /// Who holds `job` now, if anyone.
    fn lease_holder(&mut self, job: &str, now: i64) -> QueryResult<Option<String>>;
}

crate::impl_for_backends!(LeaseStore {
    fn take_lease(&mut self, job: &str, holder: &str, now: i64, until: i64) -> QueryResult<bool> {
        let renewed = diesel::update(
            l::table
                .filter(l::job.eq(job))
                .filter(l::expires_at.lt(now).or(l::holder.eq(holder))),
        )
        .set((l::holder.eq(holder), l::expires_at.eq(until)))
        .execute(self)?;
        if renewed == 1 {
            return Ok(true);
        }
        let inserted = diesel::insert_into(l::table)
            .values((l::job.eq(job), l::holder.eq(holder), l::expires_at.eq(until)))
            .on_conflict(l::job)
            .do_nothing()
            .execute(self)?;
        Ok(inserted == 1)
    }

    fn release_lease(&mut self, job: &str, holder: &str) -> QueryResult<()> {
        diesel::update(l::table.filter(l::job.eq(job)).filter(l::holder.eq(holder)))
            .set(l::expires_at.eq(0_i64))
            .execute(self)?;
        Ok(())
    }

    fn lease_holder(&mut self, job: &str, now: i64) -> QueryResult<Option<String>> {
        l::table
            .filter(l::job.eq(job))
            .filter(l::expires_at.ge(now))
            .select(l::holder)
            .first(self)
            .optional()
    }
});

/// How long a lease on a job run every `every` lasts: three intervals.
pub fn lease_for(every: Duration) -> Duration {
    every.saturating_mul(3).max(Duration::from_secs(1))
}

/// Takes (or renews) `node`'s turn at `job` for `lease`; false when another node holds it.
pub fn take_turn(
    conn: &mut DbConn,
    job: &str,
    node: &NodeId,
    lease: Duration,
) -> QueryResult<bool> {
    let now = crate::db::now_ms();
    let until = now + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
    crate::with_conn!(conn, |c| c.take_lease(job, node.as_str(), now, until))
}

/// Runs `round` at start and then every `every` until shutdown, on the one node holding the
/// job's lease; gives the lease back on shutdown.
pub async fn every<F, Fut>(
    db: Db,
    node: NodeId,
    job: &'static str,
    every: Duration,
    mut shutdown: Shutdown,
    round: F,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let lease = lease_for(every);
    let mut held = false;
    loop {
        let n = node.clone();
        let turn = db
            .run::<_, DbError, _>(move |conn| Ok(take_turn(conn, job, &n, lease)?))
            .await;
        match turn {
            Ok(true) => {
                if !held {
                    tracing::info!(job, node = %node, "this node runs the job");
                }
                held = true;
                round().await;
            }
            Ok(false) => {
                if held {
                    tracing::info!(job, "another node took the job");
                }
                held = false;
            }
            Err(e) => tracing::warn!(job, error = %e, "could not take the job's lease; will retry"),
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.requested() => break,
        }
    }
    if held {
        let _ = db
            .run::<_, DbError, _>(move |conn| {
                Ok(crate::with_conn!(conn, |c| c.release_lease(job, node.as_str()))?)
            })
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::db_test!(
        one_node_holds_a_job_until_it_gives_it_back_or_its_lease_runs_out,
        |db| {
            let mut conn = db.get().unwrap();
            let (a, b) = (NodeId::new(), NodeId::new());
            assert_ne!(a, b);
            let lease = Duration::from_secs(60);
            assert!(
                take_turn(&mut conn, "job", &a, lease).unwrap(),
                "first come"
            );
            assert!(
                !take_turn(&mut conn, "job", &b, lease).unwrap(),
                "held by a"
            );
            assert!(take_turn(&mut conn, "job", &a, lease).unwrap(), "a renews");
            assert!(
                take_turn(&mut conn, "other", &b, lease).unwrap(),
                "jobs are apart"
            );
            let now = crate::db::now_ms();
            assert_eq!(
                crate::with_conn!(&mut conn, |c| c.lease_holder("job", now)).unwrap(),
                Some(a.as_str().to_owned())
            );

            // Given back (a node stopping): the other takes it at once.
            crate::with_conn!(&mut conn, |c| c.release_lease("job", a.as_str())).unwrap();
            assert!(take_turn(&mut conn, "job", &b, lease).unwrap());
            assert!(!take_turn(&mut conn, "job", &a, lease).unwrap());

            // Run out (a node that died): taken over.
            let now = crate::db::now_ms();
            crate::with_conn!(&mut conn, |c| c.take_lease(
                "short",
                a.as_str(),
                now,
                now - 1
            ))
            .unwrap();
            assert!(
                take_turn(&mut conn, "short", &b, lease).unwrap(),
                "a's lease ran out"
            );
            assert!(!take_turn(&mut conn, "short", &a, lease).unwrap());
        }
    );

    #[test]
    fn a_lease_lasts_three_intervals() {
        assert_eq!(
            lease_for(Duration::from_secs(600)),
            Duration::from_secs(1800)
        );
        assert_eq!(lease_for(Duration::ZERO), Duration::from_secs(1));
    }
}
