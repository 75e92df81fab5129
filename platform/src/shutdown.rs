//! The signal that tells background jobs to stop: the server sends it on SIGTERM or Ctrl-C, each
//! job (matching, CA upkeep, mail) waits on a clone of [`Shutdown`] and stops at a safe point.

use tokio::sync::watch;

/// Tells background jobs to stop; cheap to clone.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// A pair: the trigger and the receiver side.
    pub fn new() -> (watch::Sender<bool>, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (tx, Shutdown(rx))
    }

    /// True once shutdown has begun.
    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves when shutdown begins.
    pub async fn requested(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}
