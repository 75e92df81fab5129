//! How sending a message failed, in the two kinds the worker acts on (retry or give up). Both
//! the [`Mailer`](super::Mailer) and the SMTP pool ([`super::smtp_pool`]) report these, so the
//! type lives apart from both.

/// Why a message was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// Worth retrying later: the server is down, busy (4xx) or the network failed.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// Retrying will not help: the server refused the message or recipient (5xx).
    #[error("permanent failure: {0}")]
    Permanent(String),
}

/// The error and its sources on one line.
pub(crate) fn one_line(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}
