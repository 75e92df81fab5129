//! Why a PKI operation of the platform failed: opening the CA against the database, the agency
//! port's server identity, the document signer, CRLs, the upkeep and the `platform ca` commands.
//!
//! Policy: the operator reads these (the `platform` binary prints the whole chain of causes on
//! one line), so a refusal says what to do next and whether anything was changed, and a failure
//! names what was being done ([`PkiError::Context`]) and keeps its cause as the
//! [`source`](std::error::Error::source) rather than repeating it in its own message. Errors of
//! the `ca` crate and of the database pass through unchanged. The binary prints the chain of
//! causes on one line ([`crate::RunError::one_line`]).

use std::fmt::Display;

use crate::db::DbError;

/// Why a PKI operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// The certificate authority refused or failed (a key, a certificate, a CRL, a file in the
    /// CA directory).
    #[error(transparent)]
    Ca(#[from] ca::CaError),
    /// A database query failed.
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    /// No database connection could be had, or the blocking task running the work failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A file or directory of the platform (outside the CA's own files) could not be read or
    /// written; `what` names it and the action.
    #[error("{what}")]
    Io {
        /// What was being done, e.g. `cannot create /srv/platform/tls`.
        what: String,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The CA directory and the database do not belong together, a CA certificate does not fit
    /// its role, or the CA's state does not allow what was asked (e.g. the root key is already
    /// offline, a retired issuing CA's CRL cannot be signed on this node); the message says what
    /// to do and that nothing was changed.
    #[error("{0}")]
    Refused(String),
    /// A new passphrase for CA keys or a root key export is not acceptable (too short, or the
    /// server's own); the message says what a good one is.
    #[error("{0}")]
    WeakPassphrase(String),
    /// The agency port's TLS identity could not be served.
    #[error(transparent)]
    Tls(#[from] crate::api::tls::TlsError),
    /// A timestamp could not be written (RFC 3339).
    #[error(transparent)]
    Time(#[from] time::error::Format),
    /// `source` failed while doing `context` (e.g. `the root key in the CA directory`).
    #[error("{context}")]
    Context {
        /// What was being done.
        context: String,
        /// Why it failed.
        #[source]
        source: Box<PkiError>,
    },
}

impl PkiError {
    /// The message and each of its causes after `: `, on one line (what the binary prints, and
    /// what the upkeep logs).
    pub fn with_causes(&self) -> String {
        crate::error::causes(self)
    }

    /// A file-system failure, `what` naming the file and the action.
    pub(crate) fn io(what: impl Display) -> impl FnOnce(std::io::Error) -> PkiError {
        move |source| PkiError::Io {
            what: what.to_string(),
            source,
        }
    }
}

/// Adds what was being done to a failure, like `anyhow::Context` but typed.
pub(crate) trait Context<T> {
    /// Wraps the error in [`PkiError::Context`] saying `context`.
    fn context(self, context: impl Display) -> Result<T, PkiError>;
    /// Like [`Context::context`], the text made only on failure.
    fn with_context<D: Display>(self, context: impl FnOnce() -> D) -> Result<T, PkiError>;
}

impl<T, E: Into<PkiError>> Context<T> for Result<T, E> {
    fn context(self, context: impl Display) -> Result<T, PkiError> {
        self.map_err(|e| PkiError::Context {
            context: context.to_string(),
            source: Box::new(e.into()),
        })
    }

    fn with_context<D: Display>(self, context: impl FnOnce() -> D) -> Result<T, PkiError> {
        self.map_err(|e| PkiError::Context {
            context: context().to_string(),
            source: Box::new(e.into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(e: &PkiError) -> String {
        e.with_causes()
    }

    #[test]
    fn context_and_causes_read_as_one_line() {
        let e: Result<(), _> = Err(ca::CaError::Passphrase);
        let e = e.context("the root key in the CA directory").unwrap_err();
        assert_eq!(
            chain(&e),
            "the root key in the CA directory: the CA key could not be decrypted: wrong or \
             missing passphrase (PLATFORM_CA_PASSPHRASE)"
        );
        let io = std::fs::read("/nonexistent/platform/x")
            .map_err(PkiError::io("cannot read /nonexistent/platform/x"))
            .unwrap_err();
        assert!(
            chain(&io).starts_with("cannot read /nonexistent/platform/x: "),
            "{}",
            chain(&io)
        );
        assert_eq!(
            chain(&PkiError::Refused("nothing was removed".into())),
            "nothing was removed"
        );
    }
}
