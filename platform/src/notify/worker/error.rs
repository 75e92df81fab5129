//! Why the worker could not start or finish a round. Policy: a round that fails is logged and
//! tried again at the next poll; a worker that cannot be built stops the server from starting,
//! with the message saying which setting to fix.

use std::path::PathBuf;

use crate::db::DbError;
use crate::notify::mailer::MailerError;

/// Errors of the outbox worker.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// The mail backend cannot be built from the `mail` settings (TLS, the CA file).
    #[error(transparent)]
    Mailer(#[from] MailerError),
    /// The key that signs unsubscribe links cannot be read or created under the data directory.
    #[error("cannot read or create {}: {reason}", path.display())]
    UnsubscribeKey {
        /// The key file.
        path: PathBuf,
        /// What the file system said.
        reason: String,
    },
    /// `mail.from` is not a mailbox (`Name <address>` or `address`).
    #[error("mail.from: {0}")]
    From(String),
    /// The database failed during a round.
    #[error(transparent)]
    Db(#[from] DbError),
}
