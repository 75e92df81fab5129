//! The `mail_messages` table: composed emails. A message is written once, when the worker
//! composes it, with its recipient, its Message-ID and its exact bytes; the notification rows it
//! stands for point at it (`notifications.mail_message_id`). Sending it again, after a failed
//! attempt or after its sender died, sends those same bytes, so a repeat carries the same
//! Message-ID and the same listings.
//!
//! A sender holds a message by a short lease (`lease_by`, `lease_until`) that it renews while it
//! works (`renew_message_leases`); a lapsed lease means the sender died, and another worker (or
//! the same node restarted) takes the message over. Every query on the table is here.

use diesel::prelude::*;

use super::status::NotificationStatus;
use super::worker::settings::WorkerSettings;
use crate::db::schema::mail_messages;
use crate::db::{DbConn, DbError};

/// A row of the `mail_messages` table.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = mail_messages)]
pub struct MailMessageRow {
    /// Row id.
    pub id: i64,
    /// The `Message-ID` header, with its angle brackets.
    pub message_id: String,
    /// The envelope sender (`MAIL FROM`).
    pub sender: String,
    /// The envelope recipient (`RCPT TO`).
    pub recipient: String,
    /// The RFC 5322 message; emptied once the message is sent or given up.
    pub raw: Vec<u8>,
    /// Whether its notification rows carry a one-time secret (scrubbed once sent).
    pub secret: bool,
    /// Where the message is in its delivery.
    pub status: NotificationStatus,
    /// Failed attempts so far.
    pub attempts: i32,
    /// Not to be tried before this time (ms).
    pub next_attempt_at: i64,
    /// Worker holding the lease.
    pub lease_by: Option<String>,
    /// When the lease lapses unless renewed (ms).
    pub lease_until: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was composed (ms).
    pub created_at: i64,
    /// When the mail server accepted it (ms).
    pub sent_at: Option<i64>,
}

/// A composed message to store, leased at once to the worker that composed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMailMessage {
    /// The `Message-ID` header.
    pub message_id: String,
    /// The envelope sender.
    pub sender: String,
    /// The envelope recipient.
    pub recipient: String,
    /// The message's bytes.
    pub raw: Vec<u8>,
    /// Whether the rows carry a one-time secret.
    pub secret: bool,
}

/// What became of a failed attempt at a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptOutcome {
    /// `pending` (tried again at `next_attempt_at`) or `failed` (given up).
    pub status: NotificationStatus,
    /// Failed attempts so far.
    pub attempts: i32,
    /// When it is tried again.
    pub next_attempt_at: i64,
}

/// How many messages are in each status (by code), and when the oldest `pending` one was
/// composed (ms).
pub type MessageCounts = (Vec<(String, i64)>, Option<i64>);

/// The filter "message `id` while `me` holds its lease".
type Leased = diesel::dsl::And<
    diesel::dsl::And<
        diesel::dsl::Eq<mail_messages::id, i64>,
        diesel::dsl::Eq<mail_messages::lease_by, String>,
    >,
    diesel::dsl::Eq<mail_messages::status, NotificationStatus>,
>;

/// The queries on `mail_messages`, for both backends.
pub trait MessageStore {
    /// Stores a composed message, status `sending`, leased by `me` until `until`; returns its id.
    fn insert_message(
        &mut self,
        message: &NewMailMessage,
        me: &str,
        now: i64,
        until: i64,
    ) -> QueryResult<i64>;
    /// Leases messages `ids` to `me` until `until` (status `sending`); returns them.
    fn lease_messages(
        &mut self,
        ids: &[i64],
        me: &str,
        until: i64,
    ) -> QueryResult<Vec<MailMessageRow>>;
    /// Extends every lease `me` holds on messages being sent to `until`; returns how many.
    fn renew_message_leases(&mut self, me: &str, until: i64) -> QueryResult<usize>;
    /// Marks a message leased by `me` sent and empties its bytes; returns whether it was still
    /// leased by `me`.
    fn mark_message_sent(&mut self, id: i64, me: &str, now: i64) -> QueryResult<bool>;
    /// Counts a failed attempt at a message leased by `me`: back to `pending` after a backoff, or
    /// `failed` (bytes emptied) when `permanent` or out of attempts. `None` when the lease was
    /// lost.
    fn mark_message_attempt_failed(
        &mut self,
        id: i64,
        me: &str,
        now: i64,
        error: &str,
        permanent: bool,
        settings: &WorkerSettings,
    ) -> QueryResult<Option<AttemptOutcome>>;
    /// The messages among `ids` waiting for a retry (not being sent, not sent).
    fn unsent_messages(&mut self, ids: &[i64]) -> QueryResult<Vec<i64>>;
    /// Deletes messages not yet being sent among `ids` (their rows must be detached first);
    /// returns the ids deleted.
    fn delete_unsent_messages(&mut self, ids: &[i64]) -> QueryResult<Vec<i64>>;
    /// How many messages are in each status, and the oldest `pending` one's composition time.
    fn message_counts(&mut self) -> QueryResult<MessageCounts>;
}

crate::impl_for_backends!(MessageStore {
    fn insert_message(
        &mut self,
        m: &NewMailMessage,
        me: &str,
        now: i64,
        until: i64,
    ) -> QueryResult<i64> {
        diesel::insert_into(mail_messages::table)
            .values((
                mail_messages::message_id.eq(&m.message_id),
                mail_messages::sender.eq(&m.sender),
                mail_messages::recipient.eq(&m.recipient),
                mail_messages::raw.eq(&m.raw),
                mail_messages::secret.eq(m.secret),
                mail_messages::status.eq(NotificationStatus::Sending),
                mail_messages::attempts.eq(0),
                mail_messages::next_attempt_at.eq(now),
                mail_messages::lease_by.eq(me),
                mail_messages::lease_until.eq(until),
                mail_messages::created_at.eq(now),
            ))
            .returning(mail_messages::id)
            .get_result(self)
    }

    fn lease_messages(
        &mut self,
        ids: &[i64],
        me: &str,
        until: i64,
    ) -> QueryResult<Vec<MailMessageRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        diesel::update(mail_messages::table.filter(mail_messages::id.eq_any(ids)))
            .set((
                mail_messages::status.eq(NotificationStatus::Sending),
                mail_messages::lease_by.eq(me),
                mail_messages::lease_until.eq(until),
            ))
            .returning(MailMessageRow::as_returning())
            .get_results(self)
    }

    fn renew_message_leases(&mut self, me: &str, until: i64) -> QueryResult<usize> {
        diesel::update(
            mail_messages::table.filter(
                mail_messages::lease_by
                    .eq(me)
                    .and(mail_messages::status.eq(NotificationStatus::Sending)),
            ),
        )
        .set(mail_messages::lease_until.eq(until))
        .execute(self)
    }

    fn mark_message_sent(&mut self, id: i64, me: &str, now: i64) -> QueryResult<bool> {
        let n = diesel::update(mail_messages::table.filter(leased(id, me)))
            .set((
                mail_messages::status.eq(NotificationStatus::Sent),
                mail_messages::sent_at.eq(now),
                mail_messages::raw.eq(Vec::<u8>::new()),
                mail_messages::lease_by.eq(None::<String>),
                mail_messages::lease_until.eq(None::<i64>),
                mail_messages::last_error.eq(None::<String>),
            ))
            .execute(self)?;
        Ok(n == 1)
    }

    fn mark_message_attempt_failed(
        &mut self,
        id: i64,
        me: &str,
        now: i64,
        error: &str,
        permanent: bool,
        settings: &WorkerSettings,
    ) -> QueryResult<Option<AttemptOutcome>> {
        let Some(attempts) = mail_messages::table
            .filter(leased(id, me))
            .select(mail_messages::attempts)
            .first::<i32>(self)
            .optional()?
        else {
            return Ok(None);
        };
        let attempts = attempts.saturating_add(1);
        let give_up = permanent || attempts >= settings.max_attempts;
        let outcome = AttemptOutcome {
            status: if give_up {
                NotificationStatus::Failed
            } else {
                NotificationStatus::Pending
            },
            attempts,
            next_attempt_at: now.saturating_add(settings.backoff_ms(attempts)),
        };
        let target = mail_messages::table.filter(leased(id, me));
        let common = (
            mail_messages::status.eq(outcome.status),
            mail_messages::attempts.eq(attempts),
            mail_messages::next_attempt_at.eq(outcome.next_attempt_at),
            mail_messages::lease_by.eq(None::<String>),
            mail_messages::lease_until.eq(None::<i64>),
            mail_messages::last_error.eq(error),
        );
        if give_up {
            diesel::update(target)
                .set((common, mail_messages::raw.eq(Vec::<u8>::new())))
                .execute(self)?;
        } else {
            diesel::update(target).set(common).execute(self)?;
        }
        Ok(Some(outcome))
    }

    fn unsent_messages(&mut self, ids: &[i64]) -> QueryResult<Vec<i64>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        mail_messages::table
            .filter(
                mail_messages::id
                    .eq_any(ids)
                    .and(mail_messages::status.eq(NotificationStatus::Pending)),
            )
            .select(mail_messages::id)
            .load(self)
    }

    fn delete_unsent_messages(&mut self, ids: &[i64]) -> QueryResult<Vec<i64>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        diesel::delete(
            mail_messages::table.filter(
                mail_messages::id
                    .eq_any(ids)
                    .and(mail_messages::status.eq(NotificationStatus::Pending)),
            ),
        )
        .returning(mail_messages::id)
        .get_results(self)
    }

    fn message_counts(&mut self) -> QueryResult<MessageCounts> {
        let counts = mail_messages::table
            .group_by(mail_messages::status)
            .select((mail_messages::status, diesel::dsl::count_star()))
            .load(self)?;
        let oldest = mail_messages::table
            .filter(mail_messages::status.eq(NotificationStatus::Pending))
            .select(diesel::dsl::min(mail_messages::created_at))
            .first::<Option<i64>>(self)?;
        Ok((counts, oldest))
    }
});

/// The message `id` while `me` holds its lease.
fn leased(id: i64, me: &str) -> Leased {
    mail_messages::id
        .eq(id)
        .and(mail_messages::lease_by.eq(me.to_owned()))
        .and(mail_messages::status.eq(NotificationStatus::Sending))
}

/// The filter of messages a worker may take at `$now`: due `pending` ones (a retry) and ones
/// whose sender's lease lapsed.
macro_rules! takeable {
    ($now:expr) => {
        mail_messages::table.filter(
            mail_messages::status
                .eq(NotificationStatus::Pending)
                .and(mail_messages::next_attempt_at.le($now))
                .or(mail_messages::status
                    .eq(NotificationStatus::Sending)
                    .and(mail_messages::lease_until.lt($now))),
        )
    };
}

/// Leases to `me`, until `until`, up to `limit` messages due at `now` (retries and messages whose
/// sender died); returns them.
pub fn take_messages(
    conn: &mut DbConn,
    me: &str,
    now: i64,
    until: i64,
    limit: i64,
) -> Result<Vec<MailMessageRow>, DbError> {
    let rows = match conn {
        DbConn::Sqlite(c) => {
            let c: &mut SqliteConnection = c;
            c.immediate_transaction(|c| -> QueryResult<Vec<MailMessageRow>> {
                let ids: Vec<i64> = takeable!(now)
                    .select(mail_messages::id)
                    .order(mail_messages::id)
                    .limit(limit)
                    .load(c)?;
                c.lease_messages(&ids, me, until)
            })?
        }
        DbConn::Postgres(c) => {
            let c: &mut PgConnection = c;
            c.transaction(|c| -> QueryResult<Vec<MailMessageRow>> {
                let ids: Vec<i64> = takeable!(now)
                    .select(mail_messages::id)
                    .order(mail_messages::id)
                    .limit(limit)
                    .for_update()
                    .skip_locked()
                    .load(c)?;
                c.lease_messages(&ids, me, until)
            })?
        }
    };
    Ok(rows)
}
