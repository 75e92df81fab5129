//! Saved searches: a buyer's (at most [`MAX_ACTIVE_PER_USER`] active) or an agency's (a tenant's
//! wishes kept on the platform so matches reach the agency by email while its desk is off).
//!
//! Each lives [`LIFETIME_DAYS`] days from creation or its last renewal; an expired search stops
//! matching (the match index drops it) and can be renewed. Every create, change, renewal and
//! delete is appended to `saved_search_log` in the same transaction, numbered in commit order,
//! so every platform node can keep its in-memory match index in step by reading the log.
//!
//! Deleting an agency's saved search deletes its row and its notification rows for real (the
//! log keeps only "search N was deleted"); a website user's is marked deleted.

use api_types::SearchCriteria;
use diesel::prelude::*;
use serde::Serialize;

use crate::accounts::UserStore;
use crate::audit::AuditLog;
use crate::db::schema::{agencies, saved_search_log, saved_searches};
use crate::notify::store::SavedSearchMail;

/// Most active saved searches a website user may keep.
pub const MAX_ACTIVE_PER_USER: i64 = 3;
/// Most active saved searches an agency may keep (one per tenant or buyer wish).
pub const MAX_ACTIVE_PER_AGENCY: i64 = 1_000;
/// Days a saved search lives after creation or renewal.
pub const LIFETIME_DAYS: i64 = 30;
/// [`LIFETIME_DAYS`] in milliseconds.
pub const LIFETIME_MS: i64 = LIFETIME_DAYS * 86_400_000;

/// Whose saved search it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Owner {
    /// A website user.
    User(i64),
    /// An agency (through the agency API).
    Agency(i64),
}

/// A saved search as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = saved_searches)]
pub struct SavedSearch {
    /// Id.
    pub id: i64,
    /// Owning user, if a user's.
    pub user_id: Option<i64>,
    /// Owning agency, if an agency's.
    pub agency_id: Option<i64>,
    /// Name shown in lists and emails.
    pub name: String,
    /// JSON of the criteria (normal form).
    pub criteria: String,
    /// Created (ms).
    pub created_at: i64,
    /// Created or last renewed (ms).
    pub renewed_at: i64,
    /// Stops matching at (ms).
    pub expires_at: i64,
    /// Deleted at (ms).
    pub deleted_at: Option<i64>,
    /// When the "expires soon" email was queued (ms), cleared on renewal.
    pub expiry_notice_sent_at: Option<i64>,
}

impl SavedSearch {
    /// The owner.
    pub fn owner(&self) -> Owner {
        match (self.user_id, self.agency_id) {
            (Some(u), _) => Owner::User(u),
            (None, Some(a)) => Owner::Agency(a),
            (None, None) => Owner::User(0),
        }
    }

    /// The criteria (normal form); a row that does not parse reads as matching nothing it
    /// should not: an empty criteria set is never stored, so this only guards corruption.
    pub fn criteria(&self) -> SearchCriteria {
        serde_json::from_str(&self.criteria).unwrap_or_default()
    }

    /// True when not deleted and not expired at `now_ms`.
    pub fn is_live(&self, now_ms: i64) -> bool {
        self.deleted_at.is_none() && self.expires_at > now_ms
    }
}

/// A saved search ready to store: a name and valid, non-empty criteria in normal form.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSavedSearch {
    name: String,
    criteria: SearchCriteria,
}

/// Why a saved search cannot be stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SavedSearchError {
    /// A field is wrong (`name` or a criteria field).
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The owner already has the most active saved searches allowed.
    #[error(
        "you already have {limit} active saved searches, the most allowed; delete one or let one expire first"
    )]
    LimitReached {
        /// The limit that applies.
        limit: i64,
    },
    /// No such saved search of this owner.
    #[error("no such saved search")]
    NotFound,
    /// A database error.
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

impl NewSavedSearch {
    /// Checks the name (1 to 80 characters; blank gets the criteria's summary) and criteria
    /// (valid and not empty: a search for everything would alert on every listing).
    pub fn new(name: &str, criteria: &SearchCriteria) -> Result<NewSavedSearch, SavedSearchError> {
        criteria.validate().map_err(|e| SavedSearchError::Invalid {
            field: e.field,
            message: e.message,
        })?;
        let criteria = criteria.normalized();
        if criteria.is_empty() {
            return Err(SavedSearchError::Invalid {
                field: "criteria".into(),
                message: "choose at least one criterion (for example a city or a price range)"
                    .into(),
            });
        }
        let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
        let name = if name.is_empty() {
            criteria.summary()
        } else {
            name
        };
        if name.chars().count() > 80 || name.chars().any(char::is_control) {
            return Err(SavedSearchError::Invalid {
                field: "name".into(),
                message: "use at most 80 characters".into(),
            });
        }
        Ok(NewSavedSearch { name, criteria })
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The criteria, in normal form.
    pub fn criteria(&self) -> &SearchCriteria {
        &self.criteria
    }
}

/// One entry of the saved-search change log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Queryable)]
pub struct LogEntry {
    /// Position in the log.
    pub seq: i64,
    /// The saved search.
    pub saved_search_id: i64,
    /// True for a delete, false for a create or change.
    pub deleted: bool,
}

/// `(user_id, agency_id)` to filter on for an owner; -1 never matches.
fn owner_ids(owner: Owner) -> (i64, i64) {
    match owner {
        Owner::User(u) => (u, -1),
        Owner::Agency(a) => (-1, a),
    }
}

/// The owner's rows that are not deleted (a plain filtered table, so it can be an update target).
macro_rules! owned {
    ($owner:expr) => {{
        let (user, agency) = owner_ids($owner);
        saved_searches::table
            .filter(saved_searches::deleted_at.is_null())
            .filter(
                saved_searches::user_id
                    .eq(user)
                    .or(saved_searches::agency_id.eq(agency)),
            )
    }};
}

/// Saved-search storage; implemented for both connection types. Writers must run inside a
/// [`write_tx!`](crate::write_tx).
pub trait SavedSearchStore {
    /// Stores a new saved search, refusing one over the owner's limit.
    fn create_saved_search(
        &mut self,
        owner: Owner,
        search: &NewSavedSearch,
        now_ms: i64,
    ) -> Result<SavedSearch, SavedSearchError>;

    /// Changes name and criteria of one of the owner's saved searches.
    fn update_saved_search(
        &mut self,
        owner: Owner,
        id: i64,
        search: &NewSavedSearch,
    ) -> Result<SavedSearch, SavedSearchError>;

    /// Extends one of the owner's saved searches to [`LIFETIME_DAYS`] from `now_ms` (an expired
    /// one comes back if the owner is under the limit).
    fn renew_saved_search(
        &mut self,
        owner: Owner,
        id: i64,
        now_ms: i64,
    ) -> Result<SavedSearch, SavedSearchError>;

    /// Deletes one of the owner's saved searches and logs the delete: an agency's (a tenant's
    /// wishes) for real, with every notification row about it; a website user's is marked
    /// deleted.
    fn delete_saved_search(&mut self, owner: Owner, id: i64) -> Result<(), SavedSearchError>;

    /// The owner's saved searches that are not deleted (expired ones included), newest first.
    fn list_saved_searches(&mut self, owner: Owner) -> QueryResult<Vec<SavedSearch>>;

    /// Erases every saved search of website user `user_id`, deleted ones included, with every
    /// notification about them (the account is being deleted); live ones are logged as deleted
    /// for the match index. Returns how many rows went.
    fn erase_user_saved_searches(&mut self, user_id: i64) -> QueryResult<usize>;

    /// One saved search by id, whoever owns it.
    fn find_saved_search(&mut self, id: i64) -> QueryResult<Option<SavedSearch>>;

    /// Every live saved search (not deleted, not expired at `now_ms`), by id.
    fn live_saved_searches(&mut self, now_ms: i64) -> QueryResult<Vec<SavedSearch>>;

    /// How many saved searches are live (not deleted, not expired at `now_ms`).
    fn count_live_saved_searches(&mut self, now_ms: i64) -> QueryResult<i64>;

    /// Change-log entries after `seq`, oldest first.
    fn saved_search_log_after(&mut self, seq: i64, limit: i64) -> QueryResult<Vec<LogEntry>>;

    /// Live saved searches that expire before `before_ms` and have had no expiry notice yet.
    fn saved_searches_expiring(
        &mut self,
        now_ms: i64,
        before_ms: i64,
    ) -> QueryResult<Vec<SavedSearch>>;

    /// Records that the expiry notice of `id` was queued.
    fn mark_expiry_notice_sent(&mut self, id: i64, now_ms: i64) -> QueryResult<()>;

    /// Deletes saved searches that expired before `cutoff_ms` (logged like any delete); returns
    /// their ids.
    fn purge_expired_saved_searches(
        &mut self,
        cutoff_ms: i64,
        now_ms: i64,
    ) -> QueryResult<Vec<i64>>;
}

crate::impl_for_backends!(SavedSearchStore {
    fn create_saved_search(
        &mut self,
        owner: Owner,
        search: &NewSavedSearch,
        now_ms: i64,
    ) -> Result<SavedSearch, SavedSearchError> {
        lock_owner_and_check_limit(self, owner, now_ms, None)?;
        let (user_id, agency_id) = match owner {
            Owner::User(u) => (Some(u), None),
            Owner::Agency(a) => (None, Some(a)),
        };
        let row = diesel::insert_into(saved_searches::table)
            .values((
                saved_searches::user_id.eq(user_id),
                saved_searches::agency_id.eq(agency_id),
                saved_searches::name.eq(&search.name),
                saved_searches::criteria.eq(serde_json::to_string(&search.criteria)
                    .expect("criteria serialise")),
                saved_searches::created_at.eq(now_ms),
                saved_searches::renewed_at.eq(now_ms),
                saved_searches::expires_at.eq(now_ms + LIFETIME_MS),
            ))
            .returning(SavedSearch::as_returning())
            .get_result(self)?;
        log_change(self, row.id, false, now_ms)?;
        Ok(row)
    }

    fn update_saved_search(
        &mut self,
        owner: Owner,
        id: i64,
        search: &NewSavedSearch,
    ) -> Result<SavedSearch, SavedSearchError> {
        let row = diesel::update(owned!(owner).filter(saved_searches::id.eq(id)))
            .set((
                saved_searches::name.eq(&search.name),
                saved_searches::criteria.eq(serde_json::to_string(&search.criteria)
                    .expect("criteria serialise")),
            ))
            .returning(SavedSearch::as_returning())
            .get_result(self)
            .optional()?
            .ok_or(SavedSearchError::NotFound)?;
        log_change(self, row.id, false, crate::db::now_ms())?;
        Ok(row)
    }

    fn renew_saved_search(
        &mut self,
        owner: Owner,
        id: i64,
        now_ms: i64,
    ) -> Result<SavedSearch, SavedSearchError> {
        let current = owned!(owner)
            .filter(saved_searches::id.eq(id))
            .select(SavedSearch::as_select())
            .first(self)
            .optional()?
            .ok_or(SavedSearchError::NotFound)?;
        if !current.is_live(now_ms) {
            lock_owner_and_check_limit(self, owner, now_ms, Some(id))?;
        }
        let row = diesel::update(saved_searches::table.find(id))
            .set((
                saved_searches::renewed_at.eq(now_ms),
                saved_searches::expires_at.eq(now_ms + LIFETIME_MS),
                saved_searches::expiry_notice_sent_at.eq(None::<i64>),
            ))
            .returning(SavedSearch::as_returning())
            .get_result(self)?;
        log_change(self, row.id, false, now_ms)?;
        Ok(row)
    }

    fn erase_user_saved_searches(&mut self, user_id: i64) -> QueryResult<usize> {
        let now = crate::db::now_ms();
        let rows: Vec<(i64, Option<i64>)> = saved_searches::table
            .filter(saved_searches::user_id.eq(user_id))
            .select((saved_searches::id, saved_searches::deleted_at))
            .load(self)?;
        for (id, deleted_at) in &rows {
            self.delete_saved_search_notifications(*id)?;
            if deleted_at.is_none() {
                log_change(self, *id, true, now)?;
            }
        }
        diesel::delete(saved_searches::table.filter(saved_searches::user_id.eq(user_id)))
            .execute(self)
    }

    fn delete_saved_search(&mut self, owner: Owner, id: i64) -> Result<(), SavedSearchError> {
        let now = crate::db::now_ms();
        let n = match owner {
            // A tenant's wishes: the row and every notification about it go.
            Owner::Agency(_) => {
                self.delete_saved_search_notifications(id)?;
                diesel::delete(owned!(owner).filter(saved_searches::id.eq(id))).execute(self)?
            }
            Owner::User(_) => diesel::update(owned!(owner).filter(saved_searches::id.eq(id)))
                .set(saved_searches::deleted_at.eq(now))
                .execute(self)?,
        };
        if n == 0 {
            return Err(SavedSearchError::NotFound);
        }
        log_change(self, id, true, now)?;
        Ok(())
    }

    fn list_saved_searches(&mut self, owner: Owner) -> QueryResult<Vec<SavedSearch>> {
        owned!(owner)
            .order(saved_searches::id.desc())
            .select(SavedSearch::as_select())
            .load(self)
    }

    fn find_saved_search(&mut self, id: i64) -> QueryResult<Option<SavedSearch>> {
        saved_searches::table
            .find(id)
            .select(SavedSearch::as_select())
            .first(self)
            .optional()
    }

    fn live_saved_searches(&mut self, now_ms: i64) -> QueryResult<Vec<SavedSearch>> {
        saved_searches::table
            .filter(saved_searches::deleted_at.is_null())
            .filter(saved_searches::expires_at.gt(now_ms))
            .order(saved_searches::id.asc())
            .select(SavedSearch::as_select())
            .load(self)
    }

    fn count_live_saved_searches(&mut self, now_ms: i64) -> QueryResult<i64> {
        saved_searches::table
            .filter(saved_searches::deleted_at.is_null())
            .filter(saved_searches::expires_at.gt(now_ms))
            .count()
            .get_result(self)
    }

    fn saved_search_log_after(&mut self, seq: i64, limit: i64) -> QueryResult<Vec<LogEntry>> {
        let rows: Vec<(i64, i64, String)> = saved_search_log::table
            .filter(saved_search_log::seq.gt(seq))
            .order(saved_search_log::seq.asc())
            .limit(limit)
            .select((
                saved_search_log::seq,
                saved_search_log::saved_search_id,
                saved_search_log::op,
            ))
            .load(self)?;
        Ok(rows
            .into_iter()
            .map(|(seq, saved_search_id, op)| LogEntry {
                seq,
                saved_search_id,
                deleted: op == "delete",
            })
            .collect())
    }

    fn saved_searches_expiring(
        &mut self,
        now_ms: i64,
        before_ms: i64,
    ) -> QueryResult<Vec<SavedSearch>> {
        saved_searches::table
            .filter(saved_searches::deleted_at.is_null())
            .filter(saved_searches::expires_at.gt(now_ms))
            .filter(saved_searches::expires_at.le(before_ms))
            .filter(saved_searches::expiry_notice_sent_at.is_null())
            .order(saved_searches::expires_at.asc())
            .select(SavedSearch::as_select())
            .load(self)
    }

    fn mark_expiry_notice_sent(&mut self, id: i64, now_ms: i64) -> QueryResult<()> {
        diesel::update(saved_searches::table.find(id))
            .set(saved_searches::expiry_notice_sent_at.eq(now_ms))
            .execute(self)
            .map(drop)
    }

    fn purge_expired_saved_searches(
        &mut self,
        cutoff_ms: i64,
        now_ms: i64,
    ) -> QueryResult<Vec<i64>> {
        let ids: Vec<i64> = diesel::update(
            saved_searches::table
                .filter(saved_searches::deleted_at.is_null())
                .filter(saved_searches::expires_at.le(cutoff_ms)),
        )
        .set(saved_searches::deleted_at.eq(now_ms))
        .returning(saved_searches::id)
        .get_results(self)?;
        for id in &ids {
            log_change(self, *id, true, now_ms)?;
        }
        if !ids.is_empty() {
            self.audit(
                &crate::audit::Actor::System,
                "saved_search.purge_expired",
                None,
                serde_json::json!({"count": ids.len()}),
            )?;
        }
        Ok(ids)
    }
});

/// Locks the owner's row (so two concurrent creates cannot both pass the check) and refuses when
/// the owner already has the most live saved searches, not counting `except`.
fn lock_owner_and_check_limit<C>(
    conn: &mut C,
    owner: Owner,
    now_ms: i64,
    except: Option<i64>,
) -> Result<(), SavedSearchError>
where
    C: OwnerLock,
{
    let (limit, found) = conn.lock_owner(owner)?;
    if !found {
        return Err(SavedSearchError::NotFound);
    }
    let live = conn.count_live(owner, now_ms, except)?;
    if live >= limit {
        return Err(SavedSearchError::LimitReached { limit });
    }
    Ok(())
}

/// Helpers of the limit check, per backend.
trait OwnerLock {
    fn lock_owner(&mut self, owner: Owner) -> QueryResult<(i64, bool)>;
    fn count_live(&mut self, owner: Owner, now_ms: i64, except: Option<i64>) -> QueryResult<i64>;
}

crate::impl_for_backends!(OwnerLock {
    fn lock_owner(&mut self, owner: Owner) -> QueryResult<(i64, bool)> {
        // A no-op update takes the row lock on PostgreSQL until the transaction ends; SQLite's
        // write transaction already serialises writers.
        Ok(match owner {
            Owner::User(u) => (
                MAX_ACTIVE_PER_USER,
                self.lock_user(u)?,
            ),
            Owner::Agency(a) => (
                MAX_ACTIVE_PER_AGENCY,
                diesel::update(agencies::table.find(a))
                    .set(agencies::updated_at.eq(agencies::updated_at))
                    .execute(self)?
                    == 1,
            ),
        })
    }

    fn count_live(&mut self, owner: Owner, now_ms: i64, except: Option<i64>) -> QueryResult<i64> {
        owned!(owner)
            .filter(saved_searches::expires_at.gt(now_ms))
            .filter(saved_searches::id.ne(except.unwrap_or(-1)))
            .count()
            .get_result(self)
    }
});

/// Appends to the change log with the next number from the `saved_search_log` counter.
fn log_change<C: crate::audit::AuditLog + SavedSearchLog>(
    conn: &mut C,
    id: i64,
    deleted: bool,
    now_ms: i64,
) -> QueryResult<()> {
    let seq = conn.next_counter("saved_search_log")?;
    conn.append_log(seq, id, deleted, now_ms)
}

/// Writing the change log, per backend.
trait SavedSearchLog {
    fn append_log(&mut self, seq: i64, id: i64, deleted: bool, now_ms: i64) -> QueryResult<()>;
}

crate::impl_for_backends!(SavedSearchLog {
    fn append_log(&mut self, seq: i64, id: i64, deleted: bool, now_ms: i64) -> QueryResult<()> {
        diesel::insert_into(saved_search_log::table)
            .values((
                saved_search_log::seq.eq(seq),
                saved_search_log::saved_search_id.eq(id),
                saved_search_log::op.eq(if deleted { "delete" } else { "upsert" }),
                saved_search_log::at.eq(now_ms),
            ))
            .execute(self)
            .map(drop)
    }
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fixtures;

    fn criteria(city: &str) -> SearchCriteria {
        SearchCriteria {
            city: Some(city.into()),
            max_price: Some(500_000),
            ..Default::default()
        }
    }

    #[test]
    fn new_saved_searches_are_checked() {
        let s = NewSavedSearch::new("  ", &criteria(" Lisbon ")).unwrap();
        assert_eq!(s.criteria().city.as_deref(), Some("lisbon"));
        assert_eq!(s.name(), "lisbon · ≤ 500,000");
        assert!(matches!(
            NewSavedSearch::new("x", &SearchCriteria::default()),
            Err(SavedSearchError::Invalid { field, .. }) if field == "criteria"
        ));
        assert!(matches!(
            NewSavedSearch::new("x", &SearchCriteria { min_price: Some(9), max_price: Some(1), ..Default::default() }),
            Err(SavedSearchError::Invalid { field, .. }) if field == "max_price"
        ));
    }

    crate::db_test!(a_fourth_active_search_is_refused, |db| {
        let mut conn = db.get().unwrap();
        let user = fixtures::user(&mut conn, "buyer@example.com");
        let now = crate::db::now_ms();
        let owner = Owner::User(user);
        let mut ids = Vec::new();
        for city in ["Lisbon", "Porto", "Faro"] {
            let s = NewSavedSearch::new("", &criteria(city)).unwrap();
            let row =
                crate::write_tx!(&mut conn, |c| c.create_saved_search(owner, &s, now)).unwrap();
            assert_eq!(row.expires_at, now + LIFETIME_MS);
            ids.push(row.id);
        }
        let fourth = NewSavedSearch::new("", &criteria("Braga")).unwrap();
        let err = crate::write_tx!(&mut conn, |c| c.create_saved_search(owner, &fourth, now))
            .unwrap_err();
        assert!(
            matches!(err, SavedSearchError::LimitReached { limit: 3 }),
            "{err}"
        );
        assert!(err.to_string().contains("delete one"), "{err}");
        // Nothing was stored by the refused attempt.
        let listed = crate::with_conn!(&mut conn, |c| c.list_saved_searches(owner)).unwrap();
        assert_eq!(listed.len(), 3);

        // After a delete there is room again.
        crate::write_tx!(&mut conn, |c| c.delete_saved_search(owner, ids[0])).unwrap();
        crate::write_tx!(&mut conn, |c| c.create_saved_search(owner, &fourth, now)).unwrap();

        // Someone else's search cannot be touched.
        let other = Owner::User(fixtures::user(&mut conn, "other@example.com"));
        assert!(matches!(
            crate::write_tx!(&mut conn, |c| c.delete_saved_search(other, ids[1])),
            Err(SavedSearchError::NotFound)
        ));
    });

    crate::db_test!(expiry_renewal_and_the_change_log, |db| {
        let mut conn = db.get().unwrap();
        let owner = Owner::User(fixtures::user(&mut conn, "buyer@example.com"));
        let day = 86_400_000;
        let t0 = crate::db::now_ms() - 40 * day;
        let s = NewSavedSearch::new("Old", &criteria("Lisbon")).unwrap();
        let old = crate::write_tx!(&mut conn, |c| c.create_saved_search(owner, &s, t0)).unwrap();
        let now = crate::db::now_ms();
        // 40 days later it has expired: not live, not counted.
        let live = crate::with_conn!(&mut conn, |c| c.live_saved_searches(now)).unwrap();
        assert!(live.is_empty());
        for city in ["Porto", "Faro", "Braga"] {
            let s = NewSavedSearch::new("", &criteria(city)).unwrap();
            crate::write_tx!(&mut conn, |c| c.create_saved_search(owner, &s, now)).unwrap();
        }
        // Renewing the expired one would make four: refused.
        assert!(matches!(
            crate::write_tx!(&mut conn, |c| c.renew_saved_search(owner, old.id, now)),
            Err(SavedSearchError::LimitReached { .. })
        ));
        // Expiring soon: the three new ones expire in 30 days, none within 3 days.
        let soon = crate::with_conn!(&mut conn, |c| c.saved_searches_expiring(now, now + 3 * day))
            .unwrap();
        assert!(soon.is_empty());
        let later = crate::with_conn!(&mut conn, |c| c
            .saved_searches_expiring(now, now + 31 * day))
        .unwrap();
        assert_eq!(later.len(), 3);

        let purged =
            crate::write_tx!(&mut conn, |c| c.purge_expired_saved_searches(now, now)).unwrap();
        assert_eq!(purged, vec![old.id]);
        let log = crate::with_conn!(&mut conn, |c| c.saved_search_log_after(0, 100)).unwrap();
        assert_eq!(log.len(), 5);
        assert!(log.windows(2).all(|w| w[0].seq < w[1].seq));
        assert_eq!(log.last().unwrap().saved_search_id, old.id);
        assert!(log.last().unwrap().deleted);
        let tail =
            crate::with_conn!(&mut conn, |c| c.saved_search_log_after(log[3].seq, 100)).unwrap();
        assert_eq!(tail.len(), 1);
    });

    crate::db_test!(an_agency_delete_leaves_no_row_and_no_mail_behind, |db| {
        use crate::notify::{MailKind, NewNotification, OutboxStore};
        let mut conn = db.get().unwrap();
        let (agency, _) = fixtures::active_agency_with_certificate(&mut conn, "Acme");
        let owner = Owner::Agency(agency.id);
        let now = crate::db::now_ms();
        let s = NewSavedSearch::new("tenant-ABCDEFGH", &criteria("Lisbon")).unwrap();
        let row = crate::write_tx!(&mut conn, |c| c.create_saved_search(owner, &s, now)).unwrap();
        let mail = NewNotification {
            agency_id: Some(agency.id),
            saved_search_id: Some(row.id),
            ..NewNotification::new(
                MailKind::SavedSearchExpiring,
                "desk@acme.example",
                format!("expiring:{}", row.id),
                serde_json::json!({"name": row.name}),
            )
        };
        assert!(crate::write_tx!(&mut conn, |c| c.enqueue_notification(&mail)).unwrap());

        crate::write_tx!(&mut conn, |c| c.delete_saved_search(owner, row.id)).unwrap();
        let found = crate::with_conn!(&mut conn, |c| c.find_saved_search(row.id)).unwrap();
        assert_eq!(found, None, "the row itself is gone");
        let left: i64 = crate::with_conn!(&mut conn, |c| {
            crate::db::schema::notifications::table
                .count()
                .get_result::<i64>(c)
        })
        .unwrap();
        assert_eq!(left, 0, "its notification rows are gone");
        // The match index still hears of the delete.
        let log = crate::with_conn!(&mut conn, |c| c.saved_search_log_after(0, 100)).unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log[1].saved_search_id, row.id);
        assert!(log[1].deleted);
        // Gone is gone: a second delete finds nothing.
        assert!(matches!(
            crate::write_tx!(&mut conn, |c| c.delete_saved_search(owner, row.id)),
            Err(SavedSearchError::NotFound)
        ));
    });
}
