//! The website's doors behind the shared rate limiter ([`crate::accounts::limiter`]): one call
//! per route counts a hit for the client address and one for the account (the email typed), and
//! answers 429 with `Retry-After` past either quota. A new door (an enquiry form, say) needs one
//! line:
//!
//! ```ignore
//! limits::check(&state, &req, &Policy::ENQUIRY, Some(&email)).await?;
//! ```
//!
//! The client address is [`client_addr`]: the TCP peer, or the proxy's `X-Forwarded-For` entry
//! when `web.trust_forwarded_for` is set.

use actix_web::HttpRequest;

use super::WebError;
use super::session::client_addr;
use crate::accounts::limiter::{Policy, RateLimiter, Verdict};
use crate::state::AppState;

/// Counts one hit of `policy` for this request's client and, when given, for `account`; refuses
/// with [`WebError::TooManyRequests`] past either quota. Both hits are counted in one write
/// transaction, each by one atomic statement, so parallel requests cannot slip past together.
pub async fn check(
    state: &AppState,
    req: &HttpRequest,
    policy: &Policy,
    account: Option<&str>,
) -> Result<(), WebError> {
    let addr = client_addr(req, &state.config.web);
    let keys: Vec<(String, crate::accounts::limiter::Quota)> =
        std::iter::once((policy.client_key(&addr), policy.per_client))
            .chain(
                account
                    .zip(policy.per_account)
                    .map(|(email, quota)| (policy.account_key(email), quota)),
            )
            .collect();
    let now = crate::db::now_ms();
    let retry_after_ms = state
        .db
        .run(move |conn| -> Result<Option<i64>, WebError> {
            crate::write_tx!(conn, |c| -> Result<Option<i64>, WebError> {
                let mut refused: Option<i64> = None;
                for (key, quota) in &keys {
                    if let Verdict::Refused { retry_after_ms } = c.hit(key, *quota, now)? {
                        refused = Some(refused.map_or(retry_after_ms, |r| r.max(retry_after_ms)));
                    }
                }
                Ok(refused)
            })
        })
        .await?;
    match retry_after_ms {
        None => Ok(()),
        Some(ms) => {
            tracing::info!(action = policy.action, "rate limit reached: answered 429");
            Err(WebError::TooManyRequests {
                retry_after_secs: (ms + 999) / 1000,
            })
        }
    }
}
