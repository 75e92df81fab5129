//! Operators: the people who run the platform, apart from website users (own table, own
//! sessions, a second factor). The first operator is made with `platform admin create EMAIL`,
//! which prints a one-time set-password link to the console; the TOTP second factor
//! ([`totp`]) is set up at the first sign-in and asked at every sign-in after.
//!
//! This module owns the `operators` and `operator_sessions` tables; the console's handlers
//! (`crate::console`) call the flows here.

pub mod sessions;
pub mod totp;

use diesel::prelude::*;
use serde::Serialize;

use crate::accounts::secrets::{random_token, sha256_hex};
use crate::audit::{Actor, AuditLog};
use crate::db::schema::operators;
use crate::db::{DbConn, now_ms};
use crate::email_address::EmailAddress;

/// How long a set-password link works.
pub const SETUP_LINK_LIFETIME_MS: i64 = 24 * 3_600_000;

/// An operator as stored (the password hash and TOTP secret never leave this module's callers
/// for a page or a log).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = operators)]
pub struct Operator {
    /// Id.
    pub id: i64,
    /// Lowercased email.
    pub email: String,
    /// argon2id hash, once set.
    pub password_hash: Option<String>,
    /// SHA-256 of the unused set-password token.
    pub setup_token_hash: Option<String>,
    /// When that token stops working (ms).
    pub setup_expires_at: Option<i64>,
    /// Base32 TOTP secret, once generated.
    pub totp_secret: Option<String>,
    /// When the second factor was confirmed (ms).
    pub totp_confirmed_at: Option<i64>,
    /// The last accepted TOTP step.
    pub totp_last_step: Option<i64>,
    /// Disabled at (ms).
    pub disabled_at: Option<i64>,
    /// Created (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

impl Operator {
    /// The operator's identity in the audit log.
    pub fn actor(&self) -> Actor {
        Actor::Operator(self.email.clone())
    }

    /// Whether the TOTP second factor is set up.
    pub fn has_second_factor(&self) -> bool {
        self.totp_secret.is_some() && self.totp_confirmed_at.is_some()
    }
}

/// The `operators` queries, for both backends.
pub trait OperatorStore {
    /// A new operator with a set-password token; None when the email is taken.
    fn insert_operator(
        &mut self,
        email: &str,
        token_hash: &str,
        expires_at: i64,
        now: i64,
    ) -> QueryResult<Option<Operator>>;
    /// The operator with this (lowercased) email.
    fn operator_by_email(&mut self, email: &str) -> QueryResult<Option<Operator>>;
    /// The operator with this id.
    fn operator_by_id(&mut self, id: i64) -> QueryResult<Option<Operator>>;
    /// The operator whose unexpired set-password token has this hash.
    fn operator_by_setup_token(&mut self, hash: &str, now: i64) -> QueryResult<Option<Operator>>;
    /// A new set-password token for an operator (the older one stops working).
    fn set_setup_token(
        &mut self,
        id: i64,
        hash: &str,
        expires_at: i64,
        now: i64,
    ) -> QueryResult<()>;
    /// Stores the password hash and uses up the set-password token, if `token_hash` is still
    /// the operator's unexpired token; false otherwise (used twice, expired).
    fn set_operator_password(
        &mut self,
        token_hash: &str,
        password_hash: &str,
        now: i64,
    ) -> QueryResult<bool>;
    /// Stores a new, unconfirmed TOTP secret.
    fn set_totp_secret(&mut self, id: i64, secret: &str, now: i64) -> QueryResult<()>;
    /// Records `step` as the last accepted TOTP step, only if it is later than the stored one
    /// (one statement: two requests racing with the same code cannot both pass); confirms the
    /// second factor on first use. True when recorded.
    fn accept_totp_step(&mut self, id: i64, step: i64, now: i64) -> QueryResult<bool>;
    /// Every operator, oldest first.
    fn list_operators(&mut self) -> QueryResult<Vec<Operator>>;
}

crate::impl_for_backends!(OperatorStore {
    fn insert_operator(
        &mut self,
        email: &str,
        token_hash: &str,
        expires_at: i64,
        now: i64,
    ) -> QueryResult<Option<Operator>> {
        diesel::insert_into(operators::table)
            .values((
                operators::email.eq(email),
                operators::setup_token_hash.eq(token_hash),
                operators::setup_expires_at.eq(expires_at),
                operators::created_at.eq(now),
                operators::updated_at.eq(now),
            ))
            .on_conflict(operators::email)
            .do_nothing()
            .returning(Operator::as_returning())
            .get_result(self)
            .optional()
    }

    fn operator_by_email(&mut self, email: &str) -> QueryResult<Option<Operator>> {
        operators::table
            .filter(operators::email.eq(email))
            .select(Operator::as_select())
            .first(self)
            .optional()
    }

    fn operator_by_id(&mut self, id: i64) -> QueryResult<Option<Operator>> {
        operators::table
            .find(id)
            .select(Operator::as_select())
            .first(self)
            .optional()
    }

    fn operator_by_setup_token(&mut self, hash: &str, now: i64) -> QueryResult<Option<Operator>> {
        operators::table
            .filter(operators::setup_token_hash.eq(hash))
            .filter(operators::setup_expires_at.gt(now))
            .filter(operators::disabled_at.is_null())
            .select(Operator::as_select())
            .first(self)
            .optional()
    }

    fn set_setup_token(
        &mut self,
        id: i64,
        hash: &str,
        expires_at: i64,
        now: i64,
    ) -> QueryResult<()> {
        diesel::update(operators::table.find(id))
            .set((
                operators::setup_token_hash.eq(hash),
                operators::setup_expires_at.eq(expires_at),
                operators::updated_at.eq(now),
            ))
            .execute(self)
            .map(drop)
    }

    fn set_operator_password(
        &mut self,
        token_hash: &str,
        password_hash: &str,
        now: i64,
    ) -> QueryResult<bool> {
        let n = diesel::update(
            operators::table
                .filter(operators::setup_token_hash.eq(token_hash))
                .filter(operators::setup_expires_at.gt(now)),
        )
        .set((
            operators::password_hash.eq(password_hash),
            operators::setup_token_hash.eq(None::<String>),
            operators::setup_expires_at.eq(None::<i64>),
            operators::updated_at.eq(now),
        ))
        .execute(self)?;
        Ok(n == 1)
    }

    fn set_totp_secret(&mut self, id: i64, secret: &str, now: i64) -> QueryResult<()> {
        diesel::update(operators::table.find(id).filter(operators::totp_confirmed_at.is_null()))
            .set((
                operators::totp_secret.eq(secret),
                operators::updated_at.eq(now),
            ))
            .execute(self)
            .map(drop)
    }

    fn accept_totp_step(&mut self, id: i64, step: i64, now: i64) -> QueryResult<bool> {
        let n = diesel::update(
            operators::table.find(id).filter(
                operators::totp_last_step
                    .is_null()
                    .or(operators::totp_last_step.lt(step)),
            ),
        )
        .set((
            operators::totp_last_step.eq(step),
            operators::totp_confirmed_at
                .eq(diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::BigInt>>(&format!(
                    "COALESCE(totp_confirmed_at, {now})"
                ))),
            operators::updated_at.eq(now),
        ))
        .execute(self)?;
        Ok(n == 1)
    }

    fn list_operators(&mut self) -> QueryResult<Vec<Operator>> {
        operators::table
            .order(operators::id.asc())
            .select(Operator::as_select())
            .load(self)
    }
});

/// Why an operator account action was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OperatorAccountError {
    /// The email address is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// An operator with this email already exists and has set a password.
    #[error("an operator {0} already exists and has a password; they sign in at the console")]
    Exists(String),
    /// A database query failed.
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

/// What `platform admin create` made.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedOperator {
    /// Operator id.
    pub id: i64,
    /// Email.
    pub email: String,
    /// The one-time set-password link (works once, for 24 hours).
    pub set_password_link: String,
    /// When the link stops working (RFC 3339).
    pub expires_at: String,
}

/// `platform admin create EMAIL`: a new operator (or a fresh link for one who never set a
/// password), audited as `operator.create` by `actor`. `console_url` is the console's address.
pub fn create_operator(
    conn: &mut DbConn,
    actor: &Actor,
    email: &str,
    console_url: &str,
) -> Result<CreatedOperator, OperatorAccountError> {
    let email = EmailAddress::parse(email)
        .map_err(|e| OperatorAccountError::Invalid(format!("EMAIL: {e}")))?
        .as_str()
        .to_lowercase();
    let token = random_token();
    let hash = sha256_hex(&token);
    let now = now_ms();
    let expires = now + SETUP_LINK_LIFETIME_MS;
    let id = crate::write_tx!(conn, |c| -> Result<i64, OperatorAccountError> {
        let id = match c.insert_operator(&email, &hash, expires, now)? {
            Some(op) => op.id,
            None => {
                let existing = c
                    .operator_by_email(&email)?
                    .ok_or(diesel::result::Error::NotFound)?;
                if existing.password_hash.is_some() {
                    return Err(OperatorAccountError::Exists(email.clone()));
                }
                c.set_setup_token(existing.id, &hash, expires, now)?;
                existing.id
            }
        };
        c.audit(
            actor,
            "operator.create",
            Some(&email),
            serde_json::json!({"operator_id": id}),
        )?;
        Ok(id)
    })?;
    Ok(CreatedOperator {
        id,
        email,
        set_password_link: format!(
            "{}/set-password?token={token}",
            console_url.trim_end_matches('/')
        ),
        expires_at: crate::listings::ms_to_time(expires)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::db_test!(
        an_operator_sets_a_password_once_and_a_totp_step_is_used_once,
        |db| {
            let mut conn = db.get().unwrap();
            let actor = Actor::Operator("cli".into());
            let made = create_operator(
                &mut conn,
                &actor,
                "Ops@Example.org",
                "http://127.0.0.1:8081/",
            )
            .unwrap();
            assert_eq!(made.email, "ops@example.org");
            let token = made
                .set_password_link
                .strip_prefix("http://127.0.0.1:8081/set-password?token=")
                .unwrap()
                .to_owned();
            let hash = sha256_hex(&token);
            crate::with_conn!(&mut conn, |c| {
                let op = c.operator_by_setup_token(&hash, now_ms()).unwrap().unwrap();
                assert_eq!(op.id, made.id);
                assert!(
                    c.set_operator_password(&hash, "argon-hash", now_ms())
                        .unwrap()
                );
                // The link works once.
                assert!(!c.set_operator_password(&hash, "other", now_ms()).unwrap());
                assert!(
                    c.operator_by_setup_token(&hash, now_ms())
                        .unwrap()
                        .is_none()
                );
                assert!(c.accept_totp_step(op.id, 100, now_ms()).unwrap());
                assert!(!c.accept_totp_step(op.id, 100, now_ms()).unwrap());
                assert!(!c.accept_totp_step(op.id, 99, now_ms()).unwrap());
                assert!(c.accept_totp_step(op.id, 101, now_ms()).unwrap());
                let op = c.operator_by_id(op.id).unwrap().unwrap();
                assert_eq!(op.totp_last_step, Some(101));
                assert!(op.totp_confirmed_at.is_some());
                let entries = c.audit_entries(Some("operator.create"), 5).unwrap();
                assert_eq!(entries[0].subject.as_deref(), Some("ops@example.org"));
            });
            // With a password set, a second create is refused.
            let again = create_operator(&mut conn, &actor, "ops@example.org", "http://x");
            assert!(matches!(again, Err(OperatorAccountError::Exists(_))));
            assert!(matches!(
                create_operator(&mut conn, &actor, "not an email", "http://x"),
                Err(OperatorAccountError::Invalid(_))
            ));
        }
    );
}
