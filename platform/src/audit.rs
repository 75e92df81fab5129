//! The audit log: every CA and operator action (and other security-relevant events) is appended
//! here, in the same transaction as the change it describes. Entries are never updated or deleted.
//! Secrets (tokens, keys, passwords) never go into `detail`.

use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{audit_log, counters};

/// Who did something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An operator at the `platform` command line or admin pages (name or `cli`).
    Operator(String),
    /// An agency, identified by id, acting through its client certificate.
    Agency(i64),
    /// A website user.
    User(i64),
    /// Anyone on the public website (e.g. an agency applying).
    Public,
    /// The platform itself (timers, workers).
    System,
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::Operator(name) => write!(f, "operator:{name}"),
            Actor::Agency(id) => write!(f, "agency:{id}"),
            Actor::User(id) => write!(f, "user:{id}"),
            Actor::Public => f.write_str("public"),
            Actor::System => f.write_str("system"),
        }
    }
}

/// One stored audit entry.
#[derive(Debug, Clone, Queryable, Serialize, PartialEq)]
pub struct AuditEntry {
    /// Row id; increases with time.
    pub id: i64,
    /// When, in milliseconds since the epoch.
    pub at: i64,
    /// Who (see [`Actor`]'s display form).
    pub actor: String,
    /// What, as a dotted verb such as `cert.issue` or `agency.approve`.
    pub action: String,
    /// On what (a certificate serial, an agency id, …).
    pub subject: Option<String>,
    /// Further facts, as JSON.
    pub detail: String,
}

/// Writing and reading the audit log; implemented for both connection types.
pub trait AuditLog {
    /// Appends an entry; call it inside the transaction of the change it records.
    fn audit(
        &mut self,
        actor: &Actor,
        action: &str,
        subject: Option<&str>,
        detail: serde_json::Value,
    ) -> QueryResult<()>;

    /// The newest `limit` entries, newest first, optionally only those of `action`.
    fn audit_entries(&mut self, action: Option<&str>, limit: i64) -> QueryResult<Vec<AuditEntry>>;

    /// Increments the named counter and returns its new value. The row stays locked until the
    /// transaction ends, so values are handed out in commit order.
    fn next_counter(&mut self, name: &str) -> QueryResult<i64>;
}

crate::impl_for_backends!(AuditLog {
    fn audit(
        &mut self,
        actor: &Actor,
        action: &str,
        subject: Option<&str>,
        detail: serde_json::Value,
    ) -> QueryResult<()> {
        diesel::insert_into(audit_log::table)
            .values((
                audit_log::at.eq(crate::db::now_ms()),
                audit_log::actor.eq(actor.to_string()),
                audit_log::action.eq(action),
                audit_log::subject.eq(subject),
                audit_log::detail.eq(detail.to_string()),
            ))
            .execute(self)
            .map(drop)
    }

    fn audit_entries(&mut self, action: Option<&str>, limit: i64) -> QueryResult<Vec<AuditEntry>> {
        let mut query = audit_log::table.into_boxed();
        if let Some(action) = action {
            query = query.filter(audit_log::action.eq(action.to_owned()));
        }
        query.order(audit_log::id.desc()).limit(limit).load(self)
    }

    fn next_counter(&mut self, name: &str) -> QueryResult<i64> {
        diesel::update(counters::table.find(name))
            .set(counters::value.eq(counters::value + 1))
            .returning(counters::value)
            .get_result(self)
    }
});

/// What to look for in the audit log (the console's Audit page and its export).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    /// Actor contains (e.g. an operator's email, `operator:`, `agency:3`).
    pub actor: Option<String>,
    /// Action, exactly or as a prefix ending in `.` (`agency.` for every agency action).
    pub action: Option<String>,
    /// Subject, exactly (an agency id, a serial).
    pub subject: Option<String>,
    /// From (ms, inclusive).
    pub since: Option<i64>,
    /// Until (ms, exclusive).
    pub until: Option<i64>,
}

/// Searching the audit log, for both backends.
pub trait AuditSearch {
    /// The newest `limit` entries matching `filter`, newest first.
    fn search_audit(&mut self, filter: &AuditFilter, limit: i64) -> QueryResult<Vec<AuditEntry>>;
}

fn like_escape(s: &str) -> String {
    s.replace(['%', '\\'], "")
}

crate::impl_for_backends!(AuditSearch {
    fn search_audit(&mut self, filter: &AuditFilter, limit: i64) -> QueryResult<Vec<AuditEntry>> {
        let mut query = audit_log::table.into_boxed();
        if let Some(actor) = filter.actor.as_deref().filter(|a| !a.is_empty()) {
            query = query.filter(audit_log::actor.like(format!("%{}%", like_escape(actor))));
        }
        if let Some(action) = filter.action.as_deref().filter(|a| !a.is_empty()) {
            query = if action.ends_with('.') {
                query.filter(audit_log::action.like(format!("{}%", like_escape(action))))
            } else {
                query.filter(audit_log::action.eq(action.to_owned()))
            };
        }
        if let Some(subject) = filter.subject.as_deref().filter(|s| !s.is_empty()) {
            query = query.filter(audit_log::subject.eq(subject.to_owned()));
        }
        if let Some(since) = filter.since {
            query = query.filter(audit_log::at.ge(since));
        }
        if let Some(until) = filter.until {
            query = query.filter(audit_log::at.lt(until));
        }
        query.order(audit_log::id.desc()).limit(limit).load(self)
    }
});

#[cfg(test)]
mod tests {
    use super::*;

    crate::db_test!(entries_are_appended_and_read_back, |db| {
        let mut conn = db.get().unwrap();
        crate::with_conn!(&mut conn, |c| {
            c.audit(
                &Actor::Operator("cli".into()),
                "agency.approve",
                Some("7"),
                serde_json::json!({"name": "Acme"}),
            )
            .unwrap();
            c.audit(&Actor::System, "crl.publish", None, serde_json::json!({}))
                .unwrap();
            let all = c.audit_entries(None, 10).unwrap();
            assert_eq!(all.len(), 2);
            assert_eq!(all[0].action, "crl.publish");
            assert_eq!(all[1].actor, "operator:cli");
            assert_eq!(all[1].subject.as_deref(), Some("7"));
            let only = c.audit_entries(Some("agency.approve"), 10).unwrap();
            assert_eq!(only.len(), 1);
        });
    });

    crate::db_test!(counters_count_up_and_roll_back, |db| {
        let mut conn = db.get().unwrap();
        let first = crate::with_conn!(&mut conn, |c| c.next_counter("listing_events")).unwrap();
        assert_eq!(first, 1);
        // A rolled-back transaction hands its number out again: no gaps from failed writes.
        let failed: Result<i64, diesel::result::Error> = crate::write_tx!(&mut conn, |c| {
            c.next_counter("listing_events")?;
            Err(diesel::result::Error::RollbackTransaction)
        });
        assert!(failed.is_err());
        let second = crate::with_conn!(&mut conn, |c| c.next_counter("listing_events")).unwrap();
        assert_eq!(second, 2);
    });
}
