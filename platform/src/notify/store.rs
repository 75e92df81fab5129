//! The `notifications` table apart from enqueueing ([`super::outbox`]): a row's
//! [`NotificationStatus`], claiming due rows for a worker, putting them in a composed message
//! ([`super::messages`]), recording what became of them, and what the website shows of a user's
//! matches. Every other query on the table is here.

use diesel::prelude::*;

use super::messages::{AttemptOutcome, MessageStore};
use super::outbox::{MailKind, MatchPayload};
pub use super::status::NotificationStatus;
use super::worker::settings::WorkerSettings;
use crate::db::schema::{listings, notifications, saved_searches};
use crate::db::{DbConn, DbError};
use crate::listings::ListingRow;

/// A row of the `notifications` table.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = notifications)]
pub struct NotificationRow {
    /// Row id.
    pub id: i64,
    /// Unique per intended email.
    pub idempotency_key: String,
    /// [`MailKind::code`].
    pub kind: String,
    /// Email address.
    pub recipient: String,
    /// The user it concerns.
    pub user_id: Option<i64>,
    /// The agency it concerns.
    pub agency_id: Option<i64>,
    /// The saved search it concerns.
    pub saved_search_id: Option<i64>,
    /// The listing it concerns.
    pub listing_id: Option<i64>,
    /// The listing version it concerns.
    pub listing_version: Option<i64>,
    /// JSON payload.
    pub payload: String,
    /// Where the row is in its delivery.
    pub status: NotificationStatus,
    /// Failed attempts so far.
    pub attempts: i32,
    /// Not to be tried before this time (ms).
    pub next_attempt_at: i64,
    /// Worker holding the claim.
    pub claimed_by: Option<String>,
    /// When the claim lapses (ms).
    pub claimed_until: Option<i64>,
    /// Why the last attempt failed or the row was cancelled.
    pub last_error: Option<String>,
    /// When it was queued (ms).
    pub created_at: i64,
    /// When it was sent (ms).
    pub sent_at: Option<i64>,
    /// The composed message it went into ([`super::messages`]); cleared when that message was
    /// given up, so the row can be retried in a new one.
    pub mail_message_id: Option<i64>,
}

/// The filter of rows a worker may claim at `$now` to compose: rows not in a message yet, due
/// pending ones (matches only after their batch window) and ones whose claim lapsed.
macro_rules! claimable {
    ($now:expr, $window_start:expr) => {
        notifications::table
            .filter(notifications::mail_message_id.is_null())
            .filter(
                notifications::status
                    .eq(NotificationStatus::Pending)
                    .and(notifications::next_attempt_at.le($now))
                    .and(
                        notifications::kind
                            .ne(MailKind::ListingMatch.code())
                            .or(notifications::created_at.le($window_start)),
                    )
                    .or(notifications::status
                        .eq(NotificationStatus::Sending)
                        .and(notifications::claimed_until.lt($now))),
            )
    };
}

/// The other due matches of the recipients in `$recipients`.
macro_rules! same_recipient_matches {
    ($now:expr, $recipients:expr) => {
        notifications::table.filter(
            notifications::status
                .eq(NotificationStatus::Pending)
                .and(notifications::mail_message_id.is_null())
                .and(notifications::kind.eq(MailKind::ListingMatch.code()))
                .and(notifications::next_attempt_at.le($now))
                .and(notifications::recipient.eq_any($recipients)),
        )
    };
}

/// Claims due rows for worker `me` at time `now` (see the module documentation).
pub fn claim(
    conn: &mut DbConn,
    me: &str,
    now: i64,
    settings: &WorkerSettings,
) -> Result<Vec<NotificationRow>, DbError> {
    let window_start = now.saturating_sub(settings.batch_window_ms);
    let until = now.saturating_add(settings.claim_timeout_ms);
    let limit = settings.claim_limit;
    let rows = match conn {
        DbConn::Sqlite(c) => {
            let c: &mut SqliteConnection = c;
            c.immediate_transaction(|c| -> QueryResult<Vec<NotificationRow>> {
                let ids: Vec<i64> = claimable!(now, window_start)
                    .select(notifications::id)
                    .order(notifications::id)
                    .limit(limit)
                    .load(c)?;
                let mut rows = c.mark_claimed(&ids, me, until)?;
                let recipients = match_recipients(&rows);
                if !recipients.is_empty() {
                    let more: Vec<i64> = same_recipient_matches!(now, &recipients)
                        .select(notifications::id)
                        .limit(1000)
                        .load(c)?;
                    rows.extend(c.mark_claimed(&more, me, until)?);
                }
                Ok(rows)
            })?
        }
        DbConn::Postgres(c) => {
            let c: &mut PgConnection = c;
            c.transaction(|c| -> QueryResult<Vec<NotificationRow>> {
                let ids: Vec<i64> = claimable!(now, window_start)
                    .select(notifications::id)
                    .order(notifications::id)
                    .limit(limit)
                    .for_update()
                    .skip_locked()
                    .load(c)?;
                let mut rows = c.mark_claimed(&ids, me, until)?;
                let recipients = match_recipients(&rows);
                if !recipients.is_empty() {
                    let more: Vec<i64> = same_recipient_matches!(now, &recipients)
                        .select(notifications::id)
                        .limit(1000)
                        .for_update()
                        .skip_locked()
                        .load(c)?;
                    rows.extend(c.mark_claimed(&more, me, until)?);
                }
                Ok(rows)
            })?
        }
    };
    Ok(rows)
}

fn match_recipients(rows: &[NotificationRow]) -> Vec<String> {
    let mut r: Vec<String> = rows
        .iter()
        .filter(|r| r.kind == MailKind::ListingMatch.code())
        .map(|r| r.recipient.clone())
        .collect();
    r.sort();
    r.dedup();
    r
}

/// The worker's queries, for both backends.
pub trait DeliveryStore {
    /// Marks rows `sending` under `me` until `until`; returns them.
    fn mark_claimed(
        &mut self,
        ids: &[i64],
        me: &str,
        until: i64,
    ) -> QueryResult<Vec<NotificationRow>>;
    /// Puts the rows `ids` that `me` still claims into message `message` (status `sending`,
    /// claim released: the message's lease covers them now); returns how many.
    fn attach_to_message(&mut self, ids: &[i64], me: &str, message: i64) -> QueryResult<usize>;
    /// Extends every claim `me` holds on rows not yet in a message to `until`.
    fn renew_claims(&mut self, me: &str, until: i64) -> QueryResult<usize>;
    /// How many rows each of `messages` stands for.
    fn rows_per_message(&mut self, messages: &[i64]) -> QueryResult<Vec<(i64, i64)>>;
    /// Marks the rows of a sent message sent (scrubbing the payload when `secret`).
    fn mark_message_rows_sent(
        &mut self,
        message: i64,
        now: i64,
        secret: bool,
    ) -> QueryResult<usize>;
    /// Mirrors a failed attempt at a message on its rows: `pending` until `next_attempt_at`
    /// (still in the message), or `failed` and out of the message.
    fn mark_message_rows_attempt(
        &mut self,
        message: i64,
        outcome: &AttemptOutcome,
        error: &str,
    ) -> QueryResult<usize>;
    /// Ends a row claimed by `me` with `status` (`cancelled` or `failed`) and a reason.
    fn finish(
        &mut self,
        id: i64,
        me: &str,
        status: NotificationStatus,
        reason: &str,
    ) -> QueryResult<()>;
    /// Puts a row claimed by `me` back to `pending` until `at`, not counting an attempt.
    fn defer(&mut self, id: i64, me: &str, at: i64) -> QueryResult<()>;
    /// (listing id, price) pairs among `listing_ids` already sent (or composed into a message)
    /// as matches to the user (when
    /// known) or else to the address `recipient`.
    fn told_prices(
        &mut self,
        user_id: Option<i64>,
        recipient: &str,
        listing_ids: &[i64],
    ) -> QueryResult<Vec<(i64, i64)>>;
}

crate::impl_for_backends!(DeliveryStore {
    fn mark_claimed(
        &mut self,
        ids: &[i64],
        me: &str,
        until: i64,
    ) -> QueryResult<Vec<NotificationRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        diesel::update(notifications::table.filter(notifications::id.eq_any(ids)))
            .set((
                notifications::status.eq(NotificationStatus::Sending),
                notifications::claimed_by.eq(me),
                notifications::claimed_until.eq(until),
            ))
            .returning(NotificationRow::as_returning())
            .get_results(self)
    }

    fn attach_to_message(&mut self, ids: &[i64], me: &str, message: i64) -> QueryResult<usize> {
        if ids.is_empty() {
            return Ok(0);
        }
        diesel::update(
            notifications::table.filter(
                notifications::id
                    .eq_any(ids)
                    .and(notifications::status.eq(NotificationStatus::Sending))
                    .and(notifications::claimed_by.eq(me)),
            ),
        )
        .set((
            notifications::mail_message_id.eq(message),
            notifications::claimed_by.eq(None::<String>),
            notifications::claimed_until.eq(None::<i64>),
        ))
        .execute(self)
    }

    fn renew_claims(&mut self, me: &str, until: i64) -> QueryResult<usize> {
        diesel::update(
            notifications::table.filter(
                notifications::claimed_by
                    .eq(me)
                    .and(notifications::status.eq(NotificationStatus::Sending)),
            ),
        )
        .set(notifications::claimed_until.eq(until))
        .execute(self)
    }

    fn rows_per_message(&mut self, messages: &[i64]) -> QueryResult<Vec<(i64, i64)>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(Option<i64>, i64)> = notifications::table
            .filter(notifications::mail_message_id.eq_any(messages))
            .group_by(notifications::mail_message_id)
            .select((notifications::mail_message_id, diesel::dsl::count_star()))
            .load(self)?;
        Ok(rows
            .into_iter()
            .filter_map(|(m, n)| Some((m?, n)))
            .collect())
    }

    fn mark_message_rows_sent(
        &mut self,
        message: i64,
        now: i64,
        secret: bool,
    ) -> QueryResult<usize> {
        let target =
            notifications::table.filter(notifications::mail_message_id.eq(message));
        let common = (
            notifications::status.eq(NotificationStatus::Sent),
            notifications::sent_at.eq(now),
            notifications::last_error.eq(None::<String>),
        );
        if secret {
            diesel::update(target)
                .set((common, notifications::payload.eq("{}")))
                .execute(self)
        } else {
            diesel::update(target).set(common).execute(self)
        }
    }

    fn mark_message_rows_attempt(
        &mut self,
        message: i64,
        outcome: &AttemptOutcome,
        error: &str,
    ) -> QueryResult<usize> {
        let target =
            notifications::table.filter(notifications::mail_message_id.eq(message));
        let common = (
            notifications::status.eq(outcome.status),
            notifications::attempts.eq(outcome.attempts),
            notifications::next_attempt_at.eq(outcome.next_attempt_at),
            notifications::last_error.eq(error),
        );
        if outcome.status == NotificationStatus::Failed {
            diesel::update(target)
                .set((common, notifications::mail_message_id.eq(None::<i64>)))
                .execute(self)
        } else {
            diesel::update(target).set(common).execute(self)
        }
    }

    fn finish(
        &mut self,
        id: i64,
        me: &str,
        status: NotificationStatus,
        reason: &str,
    ) -> QueryResult<()> {
        diesel::update(
            notifications::table.filter(
                notifications::id
                    .eq(id)
                    .and(notifications::claimed_by.eq(me)),
            ),
        )
        .set((
            notifications::status.eq(status),
            notifications::claimed_by.eq(None::<String>),
            notifications::claimed_until.eq(None::<i64>),
            notifications::last_error.eq(reason),
        ))
        .execute(self)?;
        Ok(())
    }

    fn defer(&mut self, id: i64, me: &str, at: i64) -> QueryResult<()> {
        diesel::update(
            notifications::table.filter(
                notifications::id
                    .eq(id)
                    .and(notifications::claimed_by.eq(me)),
            ),
        )
        .set((
            notifications::status.eq(NotificationStatus::Pending),
            notifications::next_attempt_at.eq(at),
            notifications::claimed_by.eq(None::<String>),
            notifications::claimed_until.eq(None::<i64>),
        ))
        .execute(self)?;
        Ok(())
    }

    fn told_prices(
        &mut self,
        user_id: Option<i64>,
        recipient: &str,
        listing_ids: &[i64],
    ) -> QueryResult<Vec<(i64, i64)>> {
        if listing_ids.is_empty() {
            return Ok(Vec::new());
        }
        // Sent, or in a message composed and not given up (being sent or waiting for a retry).
        let sent = notifications::table.filter(
            notifications::kind
                .eq(MailKind::ListingMatch.code())
                .and(
                    notifications::status
                        .eq(NotificationStatus::Sent)
                        .or(notifications::mail_message_id.is_not_null()),
                )
                .and(notifications::listing_id.eq_any(listing_ids)),
        );
        let columns = (notifications::listing_id, notifications::payload);
        let rows: Vec<(Option<i64>, String)> = match user_id {
            Some(user) => sent
                .filter(notifications::user_id.eq(user))
                .select(columns)
                .load(self)?,
            None => sent
                .filter(notifications::recipient.eq(recipient))
                .select(columns)
                .load(self)?,
        };
        Ok(rows
            .into_iter()
            .filter_map(|(listing, payload)| {
                let p: MatchPayload = serde_json::from_str(&payload).ok()?;
                Some((listing?, p.price))
            })
            .collect())
    }
});

/// A past match as the website shows it: when it was queued, the listing, the saved search's
/// name (if the search still exists).
pub type MatchRecord = (i64, ListingRow, Option<String>);

/// What the website reads of a user's matches, for both backends.
pub trait MatchHistory {
    /// The user's newest `limit` matches, newest first.
    fn recent_matches(&mut self, user_id: i64, limit: i64) -> QueryResult<Vec<MatchRecord>>;
    /// How many matches the user got after `since` (ms).
    fn matches_since(&mut self, user_id: i64, since: i64) -> QueryResult<i64>;
}

crate::impl_for_backends!(MatchHistory {
    fn recent_matches(&mut self, user_id: i64, limit: i64) -> QueryResult<Vec<MatchRecord>> {
        notifications::table
            .inner_join(listings::table.on(notifications::listing_id.eq(listings::id.nullable())))
            .left_join(
                saved_searches::table
                    .on(notifications::saved_search_id.eq(saved_searches::id.nullable())),
            )
            .filter(notifications::user_id.eq(user_id))
            .filter(notifications::kind.eq(MailKind::ListingMatch.code()))
            .order(notifications::id.desc())
            .limit(limit)
            .select((
                notifications::created_at,
                ListingRow::as_select(),
                saved_searches::name.nullable(),
            ))
            .load(self)
    }

    fn matches_since(&mut self, user_id: i64, since: i64) -> QueryResult<i64> {
        notifications::table
            .filter(notifications::user_id.eq(user_id))
            .filter(notifications::kind.eq(MailKind::ListingMatch.code()))
            .filter(notifications::created_at.gt(since))
            .count()
            .get_result(self)
    }
});

/// Forgetting what the outbox holds about a saved search, for both backends.
pub trait SavedSearchMail {
    /// Deletes every notification row of saved search `id`, whatever its status (a match's
    /// payload names the search; an expiry notice's carries its name): an agency's deleted saved
    /// search leaves nothing behind. Returns how many rows went.
    fn delete_saved_search_notifications(&mut self, id: i64) -> QueryResult<usize>;
}

crate::impl_for_backends!(SavedSearchMail {
    fn delete_saved_search_notifications(&mut self, id: i64) -> QueryResult<usize> {
        // Messages composed and waiting for a retry would carry the search's name: they go, and
        // their other rows wait to be composed again. Sent messages kept no bytes.
        let mut messages: Vec<i64> = notifications::table
            .filter(notifications::saved_search_id.eq(id))
            .filter(notifications::mail_message_id.is_not_null())
            .select(notifications::mail_message_id.assume_not_null())
            .load(self)?;
        messages.sort_unstable();
        messages.dedup();
        let deleted =
            diesel::delete(notifications::table.filter(notifications::saved_search_id.eq(id)))
                .execute(self)?;
        if !messages.is_empty() {
            let unsent = self.unsent_messages(&messages)?;
            diesel::update(
                notifications::table.filter(notifications::mail_message_id.eq_any(&unsent)),
            )
            .set((
                notifications::mail_message_id.eq(None::<i64>),
                notifications::status.eq(NotificationStatus::Pending),
            ))
            .execute(self)?;
            self.delete_unsent_messages(&unsent)?;
        }
        Ok(deleted)
    }
});

/// The operator's view of the outbox (the console's Mail page and `platform mail`), for both
/// backends: what waits or failed, and putting a mail back in line or setting it aside.
pub trait MailDesk {
    /// Rows waiting to be sent (pending or being sent).
    fn outbox_depth(&mut self) -> QueryResult<i64>;
    /// `(status, time)` of every row sent (at `sent_at`) or failed (at its last change, the
    /// due time) since `since`, and the creation time of every match queued since then
    /// (status `pending` for those), for the dashboard's counts and charts.
    fn mail_activity(&mut self, since: i64) -> QueryResult<Vec<(NotificationStatus, i64, bool)>>;
    /// The newest `limit` rows of `status` (pending and sending when None), newest first.
    fn mail_rows(
        &mut self,
        status: Option<NotificationStatus>,
        limit: i64,
    ) -> QueryResult<Vec<NotificationRow>>;
    /// One row.
    fn mail_row(&mut self, id: i64) -> QueryResult<Option<NotificationRow>>;
    /// A failed (or cancelled) row becomes pending again, due now, with its attempts reset;
    /// false when the row is in another state.
    fn retry_mail(&mut self, id: i64, now: i64) -> QueryResult<bool>;
    /// A pending or failed row is cancelled with `why`; false when the row is in another state
    /// (sent, or being sent right now).
    fn discard_mail(&mut self, id: i64, why: &str) -> QueryResult<bool>;
}

crate::impl_for_backends!(MailDesk {
    fn outbox_depth(&mut self) -> QueryResult<i64> {
        notifications::table
            .filter(
                notifications::status
                    .eq(NotificationStatus::Pending)
                    .or(notifications::status.eq(NotificationStatus::Sending)),
            )
            .count()
            .get_result(self)
    }

    fn mail_activity(&mut self, since: i64) -> QueryResult<Vec<(NotificationStatus, i64, bool)>> {
        let sent: Vec<Option<i64>> = notifications::table
            .filter(notifications::status.eq(NotificationStatus::Sent))
            .filter(notifications::sent_at.ge(since))
            .select(notifications::sent_at)
            .load(self)?;
        let failed: Vec<i64> = notifications::table
            .filter(notifications::status.eq(NotificationStatus::Failed))
            .filter(notifications::next_attempt_at.ge(since))
            .select(notifications::next_attempt_at)
            .load(self)?;
        let matches: Vec<i64> = notifications::table
            .filter(notifications::kind.eq(MailKind::ListingMatch.code()))
            .filter(notifications::created_at.ge(since))
            .select(notifications::created_at)
            .load(self)?;
        let mut out: Vec<(NotificationStatus, i64, bool)> = sent
            .into_iter()
            .flatten()
            .map(|t| (NotificationStatus::Sent, t, false))
            .collect();
        out.extend(failed.into_iter().map(|t| (NotificationStatus::Failed, t, false)));
        out.extend(matches.into_iter().map(|t| (NotificationStatus::Pending, t, true)));
        Ok(out)
    }

    fn mail_rows(
        &mut self,
        status: Option<NotificationStatus>,
        limit: i64,
    ) -> QueryResult<Vec<NotificationRow>> {
        let query = notifications::table.into_boxed();
        let query = match status {
            Some(s) => query.filter(notifications::status.eq(s)),
            None => query.filter(
                notifications::status
                    .eq(NotificationStatus::Pending)
                    .or(notifications::status.eq(NotificationStatus::Sending)),
            ),
        };
        query
            .order(notifications::id.desc())
            .limit(limit)
            .select(NotificationRow::as_select())
            .load(self)
    }

    fn mail_row(&mut self, id: i64) -> QueryResult<Option<NotificationRow>> {
        notifications::table
            .find(id)
            .select(NotificationRow::as_select())
            .first(self)
            .optional()
    }

    fn retry_mail(&mut self, id: i64, now: i64) -> QueryResult<bool> {
        let n = diesel::update(
            notifications::table.find(id).filter(
                notifications::status
                    .eq(NotificationStatus::Failed)
                    .or(notifications::status.eq(NotificationStatus::Cancelled)),
            ),
        )
        .set((
            notifications::status.eq(NotificationStatus::Pending),
            notifications::attempts.eq(0),
            notifications::next_attempt_at.eq(now),
            notifications::claimed_by.eq(None::<String>),
            notifications::claimed_until.eq(None::<i64>),
        ))
        .execute(self)?;
        Ok(n == 1)
    }

    fn discard_mail(&mut self, id: i64, why: &str) -> QueryResult<bool> {
        let n = diesel::update(
            notifications::table.find(id).filter(
                notifications::status
                    .eq(NotificationStatus::Pending)
                    .or(notifications::status.eq(NotificationStatus::Failed)),
            ),
        )
        .set((
            notifications::status.eq(NotificationStatus::Cancelled),
            notifications::last_error.eq(why),
        ))
        .execute(self)?;
        Ok(n == 1)
    }
});

/// The count behind the mail gauges (`platform_mail_queued_notifications`).
pub trait MailGaugeQueries {
    /// Notifications queued (`pending`) and not yet composed into an email.
    fn queued_notifications(&mut self) -> QueryResult<i64>;
}

crate::impl_for_backends!(MailGaugeQueries {
    fn queued_notifications(&mut self) -> QueryResult<i64> {
        notifications::table
            .filter(notifications::status.eq(NotificationStatus::Pending))
            .filter(notifications::mail_message_id.is_null())
            .count()
            .get_result(self)
    }
});

#[cfg(test)]
mod tests {
    use super::*;

    crate::db_test!(statuses_are_stored_as_their_codes, |db| {
        use crate::notify::outbox::{NewNotification, OutboxStore};
        let mut conn = db.get().unwrap();
        let n = NewNotification::new(
            MailKind::AgencyRejected,
            "desk@agency.example",
            "agency_rejected:1",
            serde_json::json!({"agency_name": "Acme"}),
        );
        crate::write_tx!(&mut conn, |c| c.enqueue_notification(&n)).unwrap();
        let (text, typed): (String, NotificationStatus) = crate::with_conn!(&mut conn, |c| {
            notifications::table
                .select((notifications::status, notifications::status))
                .first::<(String, NotificationStatus)>(c)
        })
        .unwrap();
        assert_eq!(
            (text.as_str(), typed),
            ("pending", NotificationStatus::Pending)
        );
        crate::with_conn!(&mut conn, |c| diesel::update(notifications::table)
            .set(notifications::status.eq(NotificationStatus::Cancelled))
            .execute(c))
        .unwrap();
        let text: String = crate::with_conn!(&mut conn, |c| notifications::table
            .select(notifications::status)
            .first(c))
        .unwrap();
        assert_eq!(text, "cancelled");
    });
}
