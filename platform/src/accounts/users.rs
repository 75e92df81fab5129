//! The `users` table: every query on website accounts is here, so the table is touched from one
//! place (sign-in, the account page, the mail worker's `notify_mode`, matching's addresses).

use diesel::deserialize::FromSqlRow;
use diesel::expression::AsExpression;
use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::db::schema::users;

/// How a user wants listing emails (`users.notify_mode`, stored as its [`code`](Self::code)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub enum NotifyMode {
    /// One email per batch of matches, right away.
    Instant,
    /// A daily digest.
    Daily,
    /// No listing emails (matches still show on the site).
    Off,
}

impl NotifyMode {
    /// Every mode, in the order the account page offers them.
    pub const ALL: [NotifyMode; 3] = [NotifyMode::Instant, NotifyMode::Daily, NotifyMode::Off];

    /// The code stored in `users.notify_mode`.
    pub fn code(self) -> &'static str {
        match self {
            NotifyMode::Instant => "instant",
            NotifyMode::Daily => "daily",
            NotifyMode::Off => "off",
        }
    }

    /// The mode of a stored or submitted code; `None` for anything else.
    pub fn from_code(code: &str) -> Option<NotifyMode> {
        NotifyMode::ALL.into_iter().find(|m| m.code() == code)
    }
}

crate::text_enum!(NotifyMode, "notify mode");

/// The signed-in user as pages need it.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct SignedInUser {
    /// Id.
    pub id: i64,
    /// Email (lowercased).
    pub email: String,
    /// How the user wants listing emails.
    pub notify_mode: NotifyMode,
    /// When the notifications page was last opened (ms).
    pub last_seen_at: Option<i64>,
}

/// What a sign-in checks of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Id.
    pub id: i64,
    /// Email (lowercased).
    pub email: String,
    /// The PHC string of the password.
    pub password_hash: String,
    /// Whether the address was confirmed.
    pub verified: bool,
}

/// The queries on `users`, for both backends.
pub trait UserStore {
    /// Creates an account unless the address (already lowercased) has one; the new id, or None.
    fn insert_user(
        &mut self,
        email: &str,
        password_hash: &str,
        verified_at: Option<i64>,
        now: i64,
    ) -> QueryResult<Option<i64>>;
    /// The id of the account with this (lowercased) address.
    fn user_id_by_email(&mut self, email: &str) -> QueryResult<Option<i64>>;
    /// What a sign-in with this (lowercased) address checks.
    fn credentials(&mut self, email: &str) -> QueryResult<Option<Credentials>>;
    /// The user as pages need it.
    fn signed_in_user(&mut self, id: i64) -> QueryResult<Option<SignedInUser>>;
    /// Confirms the address at `now`, unless it was confirmed before.
    fn mark_email_verified(&mut self, id: i64, now: i64) -> QueryResult<()>;
    /// Replaces the password's hash.
    fn set_password_hash(&mut self, id: i64, hash: &str, now: i64) -> QueryResult<()>;
    /// Sets how the user wants listing emails; whether the user exists.
    fn set_notify_mode(&mut self, id: i64, mode: NotifyMode, now: i64) -> QueryResult<bool>;
    /// The user's `notify_mode`, if the user exists.
    fn notify_mode(&mut self, id: i64) -> QueryResult<Option<NotifyMode>>;
    /// Records that the user opened the notifications page at `now`.
    fn mark_matches_seen(&mut self, id: i64, now: i64) -> QueryResult<()>;
    /// (id, email) of the users among `ids` that exist.
    fn user_emails(&mut self, ids: &[i64]) -> QueryResult<Vec<(i64, String)>>;
    /// Locks the user's row until the transaction ends (a no-op update: PostgreSQL takes the row
    /// lock; SQLite's write transaction already serialises writers); whether the user exists.
    fn lock_user(&mut self, id: i64) -> QueryResult<bool>;
}

crate::impl_for_backends!(UserStore {
    fn insert_user(
        &mut self,
        email: &str,
        password_hash: &str,
        verified_at: Option<i64>,
        now: i64,
    ) -> QueryResult<Option<i64>> {
        diesel::insert_into(users::table)
            .values((
                users::email.eq(email),
                users::password_hash.eq(password_hash),
                users::email_verified_at.eq(verified_at),
                users::created_at.eq(now),
                users::updated_at.eq(now),
            ))
            .on_conflict(users::email)
            .do_nothing()
            .returning(users::id)
            .get_result(self)
            .optional()
    }

    fn user_id_by_email(&mut self, email: &str) -> QueryResult<Option<i64>> {
        users::table
            .filter(users::email.eq(email))
            .select(users::id)
            .first(self)
            .optional()
    }

    fn credentials(&mut self, email: &str) -> QueryResult<Option<Credentials>> {
        // A disabled account (by an operator) cannot sign in: it reads as no account.
        let row: Option<(i64, String, String, Option<i64>)> = users::table
            .filter(users::email.eq(email))
            .filter(users::disabled_at.is_null())
            .select((
                users::id,
                users::email,
                users::password_hash,
                users::email_verified_at,
            ))
            .first(self)
            .optional()?;
        Ok(row.map(|(id, email, password_hash, verified_at)| Credentials {
            id,
            email,
            password_hash,
            verified: verified_at.is_some(),
        }))
    }

    fn signed_in_user(&mut self, id: i64) -> QueryResult<Option<SignedInUser>> {
        users::table
            .find(id)
            .filter(users::disabled_at.is_null())
            .select(SignedInUser::as_select())
            .first(self)
            .optional()
    }

    fn mark_email_verified(&mut self, id: i64, now: i64) -> QueryResult<()> {
        diesel::update(users::table.find(id))
            .filter(users::email_verified_at.is_null())
            .set((users::email_verified_at.eq(now), users::updated_at.eq(now)))
            .execute(self)
            .map(drop)
    }

    fn set_password_hash(&mut self, id: i64, hash: &str, now: i64) -> QueryResult<()> {
        diesel::update(users::table.find(id))
            .set((users::password_hash.eq(hash), users::updated_at.eq(now)))
            .execute(self)
            .map(drop)
    }

    fn set_notify_mode(&mut self, id: i64, mode: NotifyMode, now: i64) -> QueryResult<bool> {
        let n = diesel::update(users::table.find(id))
            .set((users::notify_mode.eq(mode), users::updated_at.eq(now)))
            .execute(self)?;
        Ok(n == 1)
    }

    fn notify_mode(&mut self, id: i64) -> QueryResult<Option<NotifyMode>> {
        users::table
            .find(id)
            .select(users::notify_mode)
            .first(self)
            .optional()
    }

    fn mark_matches_seen(&mut self, id: i64, now: i64) -> QueryResult<()> {
        diesel::update(users::table.find(id))
            .set(users::last_seen_at.eq(now))
            .execute(self)
            .map(drop)
    }

    fn user_emails(&mut self, ids: &[i64]) -> QueryResult<Vec<(i64, String)>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(500) {
            out.extend(
                users::table
                    .filter(users::id.eq_any(chunk))
                    .select((users::id, users::email))
                    .load::<(i64, String)>(self)?,
            );
        }
        Ok(out)
    }

    fn lock_user(&mut self, id: i64) -> QueryResult<bool> {
        Ok(diesel::update(users::table.find(id))
            .set(users::updated_at.eq(users::updated_at))
            .execute(self)?
            == 1)
    }
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_modes_round_trip_their_codes() {
        for mode in NotifyMode::ALL {
            assert_eq!(NotifyMode::from_code(mode.code()), Some(mode));
        }
        assert_eq!(NotifyMode::from_code("weekly"), None);
        assert_eq!(NotifyMode::from_code("OFF"), None);
    }

    crate::db_test!(users_are_found_by_address_and_updated_in_place, |db| {
        let mut conn = db.get().unwrap();
        crate::with_conn!(&mut conn, |c| {
            let id = c
                .insert_user("a@example.com", "h1", None, 5)
                .unwrap()
                .unwrap();
            // The same address again creates nothing.
            assert_eq!(c.insert_user("a@example.com", "h2", None, 6).unwrap(), None);
            assert_eq!(c.user_id_by_email("a@example.com").unwrap(), Some(id));
            assert_eq!(c.user_id_by_email("b@example.com").unwrap(), None);
            let creds = c.credentials("a@example.com").unwrap().unwrap();
            assert_eq!(
                (creds.password_hash.as_str(), creds.verified),
                ("h1", false)
            );
            c.mark_email_verified(id, 7).unwrap();
            c.set_password_hash(id, "h3", 8).unwrap();
            let creds = c.credentials("a@example.com").unwrap().unwrap();
            assert_eq!((creds.password_hash.as_str(), creds.verified), ("h3", true));
            assert_eq!(c.notify_mode(id).unwrap(), Some(NotifyMode::Instant));
            assert!(c.set_notify_mode(id, NotifyMode::Daily, 9).unwrap());
            assert!(!c.set_notify_mode(id + 1, NotifyMode::Daily, 9).unwrap());
            assert_eq!(c.notify_mode(id).unwrap(), Some(NotifyMode::Daily));
            c.mark_matches_seen(id, 10).unwrap();
            let user = c.signed_in_user(id).unwrap().unwrap();
            assert_eq!(user.last_seen_at, Some(10));
            assert_eq!(
                c.user_emails(&[id, id + 1]).unwrap(),
                vec![(id, "a@example.com".into())]
            );
            assert!(c.lock_user(id).unwrap());
            assert!(!c.lock_user(id + 1).unwrap());
        });
    });
}
