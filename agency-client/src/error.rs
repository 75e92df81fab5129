//! Errors of the desk program.
//!
//! Policy: every variant says in plain words what happened and what to do next, because its
//! `Display` text is what the agency's staff read. Nothing is stored when an operation fails:
//! the caller's transaction is rolled back, and queued changes stay queued. Every function of the
//! library returns this type; the command line turns it into a line on stderr and an exit status
//! (`cli::render`, [`ClientError::exit_code`]), so the program has no use for `anyhow`.

/// Everything that can go wrong at the desk.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No identity yet: the desk has to enrol first.
    #[error(
        "this desk is not enrolled yet; run `agency-client enroll --server URL --token T --fingerprint F`"
    )]
    NotEnrolled,
    /// The key could not be decrypted with the given passphrase.
    #[error("the passphrase is wrong")]
    WrongPassphrase,
    /// No passphrase was given and none could be asked for.
    #[error("a passphrase is needed: set AGENCY_CLIENT_PASSPHRASE or run from a terminal ({0})")]
    NoPassphrase(String),
    /// The platform's root CA is not the one the operator named: possibly a man in the middle.
    #[error(
        "the platform at {url} presents a root CA with fingerprint {actual}, not {expected} as given; \
         nothing was stored. Check the fingerprint with the platform operator"
    )]
    FingerprintMismatch {
        /// The server asked.
        url: String,
        /// The fingerprint given with `--fingerprint`.
        expected: String,
        /// The fingerprint of the root the server handed out.
        actual: String,
    },
    /// No endpoint answered; queued changes are kept.
    #[error(
        "cannot reach the platform at {url}; your changes are kept and will be sent when it answers"
    )]
    Unreachable {
        /// The endpoints tried, comma-separated.
        url: String,
    },
    /// No endpoint answered for a change that is not queued: nothing was done, and the message
    /// says so (watching, unwatching a tenant's saved search).
    #[error(
        "cannot reach the platform at {url}; nothing was done: {what}. Try again when it answers"
    )]
    UnreachableNothingDone {
        /// The endpoints tried, comma-separated.
        url: String,
        /// What was not done, in plain words.
        what: String,
    },
    /// An endpoint answered, but with a certificate this desk does not trust (not chained to the
    /// root pinned at enrolment, expired, or for another name). Not an outage: retrying will not
    /// help, and sending to such a server could hand data to an impostor.
    #[error(
        "the platform at {url} cannot be trusted: {problem}. This is not an outage, so nothing \
         was sent; your changes are kept on this desk. Check the address, then ask the platform \
         operator (the root CA this desk pinned at enrolment has fingerprint {pinned})"
    )]
    Untrusted {
        /// The endpoint whose certificate failed.
        url: String,
        /// What is wrong with its certificate, in plain words.
        problem: String,
        /// Fingerprint of the root CA pinned at enrolment.
        pinned: String,
    },
    /// The enrolment token belongs to another agency than the one this desk is enrolled with.
    #[error(
        "this desk is enrolled with agency {current_id} ({current_name}) but the token is for agency \
         {new_id} ({new_name}); nothing was changed. To make this desk work for {new_name}, run \
         enroll again with --switch-agency (this desk's own listings of {current_name} are then \
         removed from it), or enrol another desk with its own --data-dir"
    )]
    OtherAgency {
        /// The agency this desk is enrolled with.
        current_id: i64,
        /// Its name, from the desk's certificate.
        current_name: String,
        /// The token's agency.
        new_id: i64,
        /// Its name.
        new_name: String,
    },
    /// The platform revoked this desk's certificate.
    #[error(
        "the platform has revoked this desk's certificate ({0}); your data is kept. Ask the platform \
         operator for a new enrolment token and run `agency-client enroll` again"
    )]
    CertificateRevoked(String),
    /// The platform refused this desk's certificate or agency for another reason.
    #[error("the platform refused this desk's certificate ({code}): {message}")]
    CertificateRefused {
        /// The platform's error code (`certificate_expired`, `agency_not_active`, …).
        code: String,
        /// The platform's explanation.
        message: String,
    },
    /// A listing is malformed; the field is named.
    #[error("the listing is not valid: {field} {message}")]
    InvalidListing {
        /// The field's wire name (`ListPrice`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// Some other input is malformed.
    #[error("{field}: {message}")]
    InvalidInput {
        /// The option or field concerned.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The platform refused a request for a reason that concerns the request itself.
    #[error("the platform refused the request ({code}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The platform's error code.
        code: String,
        /// The platform's explanation.
        message: String,
        /// The field concerned, if any.
        field: Option<String>,
    },
    /// An edit that changes nothing (no option given, or only the values the record has):
    /// refused, so that nothing is marked changed or sent again.
    #[error("{0}")]
    Unchanged(String),
    /// The change cannot be made while the listing is in conflict with another desk's version:
    /// resolve it first (the message says how).
    #[error("{0}")]
    Conflict(String),
    /// A record asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The local database failed.
    #[error("the local database failed: {0}")]
    Database(#[from] diesel::result::Error),
    /// The local database could not be opened or migrated.
    #[error("{0}")]
    Storage(String),
    /// A key or certificate operation failed.
    #[error("{0}")]
    Crypto(String),
    /// The platform answered something this program does not understand.
    #[error("unexpected answer from the platform: {0}")]
    Protocol(String),
}

impl ClientError {
    /// A stable code for `--json` output.
    pub fn code(&self) -> &'static str {
        match self {
            ClientError::NotEnrolled => "not_enrolled",
            ClientError::WrongPassphrase => "wrong_passphrase",
            ClientError::NoPassphrase(_) => "no_passphrase",
            ClientError::FingerprintMismatch { .. } => "fingerprint_mismatch",
            ClientError::Unreachable { .. } | ClientError::UnreachableNothingDone { .. } => {
                "unreachable"
            }
            ClientError::Untrusted { .. } => "untrusted_platform",
            ClientError::OtherAgency { .. } => "other_agency",
            ClientError::CertificateRevoked(_) => "certificate_revoked",
            ClientError::CertificateRefused { .. } => "certificate_refused",
            ClientError::InvalidListing { .. } => "invalid_listing",
            ClientError::InvalidInput { .. } => "invalid_input",
            ClientError::Refused { .. } => "refused",
            ClientError::Unchanged(_) => "unchanged",
            ClientError::Conflict(_) => "conflict",
            ClientError::NotFound(_) => "not_found",
            ClientError::Database(_) => "database",
            ClientError::Storage(_) => "storage",
            ClientError::Crypto(_) => "crypto",
            ClientError::Protocol(_) => "protocol",
        }
    }

    /// The field concerned, for input errors.
    pub fn field(&self) -> Option<&str> {
        match self {
            ClientError::InvalidListing { field, .. } | ClientError::InvalidInput { field, .. } => {
                Some(field)
            }
            ClientError::Refused { field, .. } => field.as_deref(),
            _ => None,
        }
    }

    /// Process exit status: 3 when the platform could not be reached (work is queued, or the
    /// message says nothing was done), 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            ClientError::Unreachable { .. } | ClientError::UnreachableNothingDone { .. } => 3,
            _ => 1,
        }
    }

    /// An outage turned into "nothing was done: `what`" for a change that is not queued; other
    /// errors stay as they are.
    pub fn nothing_done(self, what: impl Into<String>) -> ClientError {
        match self {
            ClientError::Unreachable { url } => ClientError::UnreachableNothingDone {
                url,
                what: what.into(),
            },
            other => other,
        }
    }

    /// An input error.
    pub fn input(field: impl Into<String>, message: impl Into<String>) -> ClientError {
        ClientError::InvalidInput {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<api_types::FieldError> for ClientError {
    fn from(e: api_types::FieldError) -> ClientError {
        ClientError::InvalidListing {
            field: e.field,
            message: e.message,
        }
    }
}

impl From<ca::CaError> for ClientError {
    fn from(e: ca::CaError) -> ClientError {
        match e {
            ca::CaError::Passphrase => ClientError::WrongPassphrase,
            other => ClientError::Crypto(other.to_string()),
        }
    }
}
