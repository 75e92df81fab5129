//! Operator actions on website accounts, shared by the console's Users page: disable (the
//! user cannot sign in, their sessions end), enable, resend the confirmation link. Audited
//! with the operator's identity in the same transaction. Passwords are never shown or set.

use super::AdminError;
use crate::accounts::operator::{UserOverview, UserSummary};
use crate::accounts::tokens::{TokenPurpose, issue_token};
use crate::audit::{Actor, AuditLog};
use crate::db::DbConn;

fn user_not_found(id: i64) -> AdminError {
    AdminError::NotFound(format!("no user with id {id}"))
}

/// Disables (`disable`) or enables a website account.
pub fn set_user_disabled(
    conn: &mut DbConn,
    actor: &Actor,
    id: i64,
    disable: bool,
) -> Result<UserSummary, AdminError> {
    crate::write_tx!(conn, |c| {
        c.user_summary(id)?.ok_or_else(|| user_not_found(id))?;
        let at = disable.then(crate::db::now_ms);
        if !c.set_user_disabled(id, at)? {
            return Err(AdminError::Refused(format!(
                "user {id} is already {}",
                if disable { "disabled" } else { "enabled" }
            )));
        }
        c.audit(
            actor,
            if disable {
                "user.disable"
            } else {
                "user.enable"
            },
            Some(&id.to_string()),
            serde_json::json!({}),
        )?;
        c.user_summary(id)?.ok_or_else(|| user_not_found(id))
    })
}

/// Sends a new confirmation link to an unconfirmed account (links in it use `public_url`).
pub fn resend_verification(
    conn: &mut DbConn,
    actor: &Actor,
    public_url: &str,
    id: i64,
) -> Result<UserSummary, AdminError> {
    crate::write_tx!(conn, |c| {
        let user = c.user_summary(id)?.ok_or_else(|| user_not_found(id))?;
        if user.email_verified_at.is_some() {
            return Err(AdminError::Refused(format!(
                "user {id} has confirmed their address already"
            )));
        }
        if user.disabled_at.is_some() {
            return Err(AdminError::Refused(format!(
                "user {id} is disabled; enable the account first"
            )));
        }
        issue_token(c, public_url, id, &user.email, TokenPurpose::VerifyEmail)?;
        c.audit(
            actor,
            "user.resend_verification",
            Some(&id.to_string()),
            serde_json::json!({}),
        )?;
        Ok(user)
    })
}
