//! The worker's loop: a round right after a busy one, else after the poll interval, until
//! shutdown; and [`spawn`], which starts it in a serving process.

use super::error::WorkerError;
use super::round::Worker;
use crate::shutdown::Shutdown;

impl Worker {
    /// Runs rounds until shutdown: a round right after a busy one, else after the poll interval.
    /// A round in progress finishes first, so no mail is left half-recorded.
    pub async fn run(self, mut shutdown: Shutdown) {
        tracing::info!(backend = %self.mailer.describe(), worker = %self.id, "mail worker started");
        loop {
            let mut busy = false;
            match self.run_once(crate::db::now_ms()).await {
                Ok(report) => {
                    busy = report.claimed as i64 >= self.composer.settings.claim_limit;
                    if report.claimed > 0 {
                        tracing::info!(
                            emails_sent = report.emails_sent,
                            notifications_sent = report.rows_sent,
                            retried = report.rows_retried,
                            failed = report.rows_failed,
                            cancelled = report.rows_cancelled,
                            deferred = report.rows_deferred,
                            "mail round"
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "mail round failed; will retry"),
            }
            if shutdown.is_requested() {
                break;
            }
            if busy {
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(self.composer.settings.poll_interval) => {}
                () = shutdown.requested() => break,
            }
        }
        tracing::info!("mail worker stopped");
    }
}

/// Starts the worker of a serving process (registering its metrics); it stops on shutdown.
pub fn spawn(
    state: &crate::state::AppState,
    shutdown: Shutdown,
) -> Result<tokio::task::JoinHandle<()>, WorkerError> {
    let worker = Worker::from_config(&state.config, state.db.clone())?;
    worker.metrics.register(&state.metrics);
    Ok(tokio::spawn(worker.run(shutdown)))
}
