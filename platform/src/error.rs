//! The HTTP boundary's error type.
//!
//! Policy: every handler returns `Result<_, ApiError>`. Errors a caller can act on (bad input,
//! missing or refused certificate, not found, conflict, rate limit, database briefly away) carry a
//! stable machine-readable `code`, a message that says what to do next and, for input errors, the
//! offending `field`; they render as `{"error": {"code", "message", "field"}}` with the matching
//! status, here and nowhere else, through the wire type both sides share
//! ([`api_types::api::ErrorBody`]; a `bad_signature` adds `canonical_sha256`). Anything else is [`ApiError::Internal`]: the user sees an opaque
//! message, the cause goes to the log. Handlers never `unwrap()` on input.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use api_types::api::{ErrorBody, ErrorDetail};

use crate::db::DbError;

/// An error answered over HTTP.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The request's content is wrong (400); `field` names the offending field when there is one.
    #[error("{message}")]
    Invalid {
        /// Stable code, e.g. `invalid_field`.
        code: &'static str,
        /// What is wrong and what would be right.
        message: String,
        /// The JSON field or form field at fault.
        field: Option<String>,
    },
    /// No acceptable credentials were presented (401).
    #[error("{message}")]
    Unauthenticated {
        /// Stable code, e.g. `certificate_required`.
        code: &'static str,
        /// What to present.
        message: String,
    },
    /// The caller is known but may not do this (403).
    #[error("{message}")]
    Forbidden {
        /// Stable code, e.g. `certificate_revoked`.
        code: &'static str,
        /// Why, and what to do.
        message: String,
    },
    /// The thing asked for does not exist (404).
    #[error("{message}")]
    NotFound {
        /// Stable code, e.g. `listing_not_found`.
        code: &'static str,
        /// What was not found.
        message: String,
    },
    /// The request conflicts with the current state (409).
    #[error("{message}")]
    Conflict {
        /// Stable code, e.g. `version_conflict`.
        code: &'static str,
        /// What conflicts.
        message: String,
    },
    /// The request names a version of what it changes (`If-Match`, or `If-None-Match: *` for
    /// "none yet") that is not the current one (412): someone else changed it first. The body
    /// carries the current version and, when there is one, the current state, so the caller can
    /// show both and choose.
    #[error("{message}")]
    PreconditionFailed {
        /// Stable code, e.g. `version_mismatch`.
        code: &'static str,
        /// What changed and what to do.
        message: String,
        /// The current version, when there is one.
        current_version: Option<i64>,
        /// The current state as stored, when there is one.
        current: Option<Box<api_types::api::StoredListing>>,
    },
    /// A change to something that exists names no version it edits (428): it could overwrite
    /// someone else's change unseen, so it must say `If-Match`.
    #[error("{message}")]
    PreconditionRequired {
        /// Stable code, e.g. `if_match_required`.
        code: &'static str,
        /// What to send.
        message: String,
        /// The current version, to fetch and edit.
        current_version: Option<i64>,
    },
    /// Too many attempts (429); try again after `retry_after_secs`.
    #[error("{message}")]
    RateLimited {
        /// What was limited.
        message: String,
        /// Seconds until another attempt may succeed.
        retry_after_secs: u64,
    },
    /// A dependency (the database) is briefly unavailable (503); retrying later may work.
    #[error("{message}")]
    Unavailable {
        /// What is unavailable.
        message: String,
    },
    /// A signature does not verify (400, `bad_signature`); the body names the SHA-256 of the
    /// RFC 8785 bytes it was checked against, so the signer can compare with what it signed.
    #[error("{message}")]
    BadSignature {
        /// What was checked and what to do.
        message: String,
        /// SHA-256 (lowercase hex) of the canonical bytes verified.
        canonical_sha256: String,
    },
    /// The request body is over the limit (413).
    #[error("{message}")]
    TooLarge {
        /// The limit.
        message: String,
    },
    /// A fault of ours (500). The cause is logged with its causes, never shown.
    #[error("internal error: {}", causes(.0.as_ref()))]
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// A 400 naming `field`.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::Invalid {
            code: "invalid_field",
            message: message.into(),
            field: Some(field.into()),
        }
    }

    /// Wraps any error as a 500.
    pub fn internal(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> ApiError {
        ApiError::Internal(error.into())
    }

    /// The stable code sent to the client.
    pub fn code(&self) -> &str {
        match self {
            ApiError::Invalid { code, .. }
            | ApiError::Unauthenticated { code, .. }
            | ApiError::Forbidden { code, .. }
            | ApiError::NotFound { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::PreconditionFailed { code, .. }
            | ApiError::PreconditionRequired { code, .. } => code,
            ApiError::BadSignature { .. } => "bad_signature",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::TooLarge { .. } => "body_too_large",
            ApiError::Unavailable { .. } => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

/// An error and each of its causes (`source()`), joined by `": "` on one line.
pub fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        next = cause.source();
    }
    line
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> ApiError {
        if error.is_outage() {
            tracing::warn!(error = %error, "the database is not answering: a request was answered 503");
            return ApiError::Unavailable {
                message: "the database is not answering; try again in a moment".into(),
            };
        }
        ApiError::Internal(error.into())
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> ApiError {
        DbError::Query(error).into()
    }
}

/// Seconds a client is asked to wait after a 503 (`Retry-After`).
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Invalid { .. } | ApiError::BadSignature { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            ApiError::PreconditionRequired { .. } => StatusCode::PRECONDITION_REQUIRED,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (message, field) = match self {
            ApiError::Internal(cause) => {
                tracing::error!(error = %causes(cause.as_ref()), "request failed");
                (
                    "something went wrong on our side; please try again later",
                    None,
                )
            }
            ApiError::Invalid { message, field, .. } => (message.as_str(), field.as_deref()),
            ApiError::BadSignature { message, .. } => (message.as_str(), Some("signature")),
            ApiError::Unauthenticated { message, .. }
            | ApiError::Forbidden { message, .. }
            | ApiError::NotFound { message, .. }
            | ApiError::Conflict { message, .. }
            | ApiError::PreconditionFailed { message, .. }
            | ApiError::PreconditionRequired { message, .. }
            | ApiError::RateLimited { message, .. }
            | ApiError::TooLarge { message }
            | ApiError::Unavailable { message } => (message.as_str(), None),
        };
        let mut response = HttpResponse::build(self.status_code());
        if let ApiError::RateLimited {
            retry_after_secs, ..
        } = self
        {
            response.insert_header(("Retry-After", retry_after_secs.to_string()));
        }
        if let ApiError::Unavailable { .. } = self {
            response.insert_header(("Retry-After", UNAVAILABLE_RETRY_AFTER_SECS.to_string()));
        }
        let canonical_sha256 = match self {
            ApiError::BadSignature {
                canonical_sha256, ..
            } => Some(canonical_sha256.clone()),
            _ => None,
        };
        response.json(ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message: message.to_owned(),
                field: field.map(str::to_owned),
                canonical_sha256,
                current_version: match self {
                    ApiError::PreconditionFailed {
                        current_version, ..
                    }
                    | ApiError::PreconditionRequired {
                        current_version, ..
                    } => *current_version,
                    _ => None,
                },
                current: match self {
                    ApiError::PreconditionFailed { current, .. } => current.clone(),
                    _ => None,
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    #[actix_web::test]
    async fn errors_render_as_json_with_code_and_field() {
        let response = ApiError::invalid_field("ListPrice", "must be positive").error_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = to_bytes(response.into_body()).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"]["code"], "invalid_field");
        assert_eq!(json["error"]["field"], "ListPrice");
        assert_eq!(json["error"]["message"], "must be positive");
    }

    #[actix_web::test]
    async fn a_bad_signature_names_the_hash_of_what_was_verified() {
        let response = ApiError::BadSignature {
            message: "does not verify".into(),
            canonical_sha256: "ab".repeat(32),
        }
        .error_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = to_bytes(response.into_body()).await.unwrap();
        let parsed: ErrorBody = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed.error.code, "bad_signature");
        assert_eq!(parsed.error.field.as_deref(), Some("signature"));
        assert_eq!(parsed.error.canonical_sha256, Some("ab".repeat(32)));
        // Other errors do not carry the member at all.
        let body = to_bytes(
            ApiError::invalid_field("x", "y")
                .error_response()
                .into_body(),
        )
        .await
        .unwrap();
        assert!(!String::from_utf8_lossy(&body).contains("canonical_sha256"));
    }

    #[actix_web::test]
    async fn internal_errors_do_not_leak_their_cause() {
        let response = ApiError::internal("password=hunter2 in a query").error_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = to_bytes(response.into_body()).await.unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("\"internal\""), "{text}");
    }

    #[actix_web::test]
    async fn rate_limits_say_when_to_retry() {
        let response = ApiError::RateLimited {
            message: "too many sign-in attempts".into(),
            retry_after_secs: 30,
        }
        .error_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers().get("Retry-After").unwrap(), "30");
    }
}
