//! Keeping a process's [`Matcher`] in step with the database, and turning a publish into due
//! notifications.
//!
//! Every saved-search create, edit, renewal and delete appends to `saved_search_log` in its own
//! transaction (commit-ordered sequence numbers). [`LiveMatcher::catch_up`] applies the entries
//! after the last one this process applied; it runs before every match (inside the publishing
//! transaction, so a saved search committed before the publish is always seen, whichever process
//! stored it) and on a timer. Expired searches leave the index when their time passes.
//!
//! When a notification is due (see [`LiveMatcher::notify_publish`]): a listing is created
//! matching; it changes so that it newly matches (a price drop into range, a change of city…); it
//! comes back on the market (active again) matching; or it drops in price while matching. At most
//! one notification per (saved search, listing version): the outbox's idempotency key is
//! `match:{saved_search_id}:{listing_id}:{listing_version}`. A listing the user marked "not
//! interested" is never notified again.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use api_types::StandardStatus;
use api_types::api::ChangeKind;
use api_types::search::ListingFacts;
use diesel::prelude::*;

use super::{Matcher, SearchId};
use crate::accounts::UserStore;
use crate::db::schema::{agencies, dismissed_listings, saved_search_log, saved_searches};
use crate::events::LiveEvent;
use crate::listings::Published;
use crate::notify::outbox::{MailKind, MatchReason, NewNotification, OutboxStore};
use crate::searches::{Owner, SavedSearch, SavedSearchStore};

/// The process's matcher and how far it has read the saved-search log.
#[derive(Debug, Default)]
pub struct LiveMatcher {
    matcher: Matcher,
    state: Mutex<SyncState>,
    last_rebuild: Mutex<Option<Rebuild>>,
}

/// The last full rebuild of the index (at start): when, how long it took, how many searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rebuild {
    /// When it finished (ms since the epoch).
    pub at_ms: i64,
    /// How long reading the saved searches and building the index took.
    pub took: std::time::Duration,
    /// Saved searches in the index it built.
    pub searches: usize,
}

#[derive(Debug, Default)]
struct SyncState {
    applied_seq: i64,
    expires: HashMap<SearchId, i64>,
}

/// A match that became due with a publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueMatch {
    /// The saved search.
    pub saved_search_id: i64,
    /// Its owner.
    pub owner: Owner,
    /// Why now.
    pub reason: MatchReason,
    /// Whether the outbox row was new (false: already queued, e.g. a retried request).
    pub queued: bool,
}

/// Connections the matcher's queries run on.
pub trait MatchConn: SavedSearchStore + OutboxStore + UserStore {
    /// The newest saved-search log sequence number (0 when empty).
    fn latest_log_seq(&mut self) -> QueryResult<i64>;
    /// Live saved searches among `ids` (not deleted, not expired at `now_ms`).
    fn live_searches_among(&mut self, ids: &[i64], now_ms: i64) -> QueryResult<Vec<SavedSearch>>;
    /// Email address of each agency among `ids`.
    fn agency_emails(&mut self, ids: &[i64]) -> QueryResult<Vec<(i64, String)>>;
    /// Users among `ids` who marked `listing_id` "not interested".
    fn dismissed_by(&mut self, listing_id: i64, ids: &[i64]) -> QueryResult<Vec<i64>>;
}

crate::impl_for_backends!(MatchConn {
    fn latest_log_seq(&mut self) -> QueryResult<i64> {
        saved_search_log::table
            .select(diesel::dsl::max(saved_search_log::seq))
            .first::<Option<i64>>(self)
            .map(|v| v.unwrap_or(0))
    }

    fn live_searches_among(&mut self, ids: &[i64], now_ms: i64) -> QueryResult<Vec<SavedSearch>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(500) {
            out.extend(
                saved_searches::table
                    .filter(saved_searches::id.eq_any(chunk))
                    .filter(saved_searches::deleted_at.is_null())
                    .filter(saved_searches::expires_at.gt(now_ms))
                    .select(SavedSearch::as_select())
                    .load(self)?,
            );
        }
        Ok(out)
    }

    fn agency_emails(&mut self, ids: &[i64]) -> QueryResult<Vec<(i64, String)>> {
        agencies::table
            .filter(agencies::id.eq_any(ids))
            .select((agencies::id, agencies::email))
            .load(self)
    }

    fn dismissed_by(&mut self, listing_id: i64, ids: &[i64]) -> QueryResult<Vec<i64>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(500) {
            out.extend(
                dismissed_listings::table
                    .filter(dismissed_listings::listing_id.eq(listing_id))
                    .filter(dismissed_listings::user_id.eq_any(chunk))
                    .select(dismissed_listings::user_id)
                    .load::<i64>(self)?,
            );
        }
        Ok(out)
    }
});

impl LiveMatcher {
    /// An empty matcher; call [`LiveMatcher::rebuild`] before use.
    pub fn new() -> LiveMatcher {
        LiveMatcher::default()
    }

    /// The index.
    pub fn matcher(&self) -> &Matcher {
        &self.matcher
    }

    /// The last saved-search log entry this process applied (the lag gauge counts the ones
    /// after it).
    pub fn applied_seq(&self) -> i64 {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .applied_seq
    }

    /// Loads every live saved search; later changes come through [`LiveMatcher::catch_up`].
    pub fn rebuild<C: MatchConn>(&self, c: &mut C, now_ms: i64) -> QueryResult<usize> {
        let started = std::time::Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // Read the log position first: changes committed after it are applied again by the
        // next catch-up, which is harmless (upserts and removes are idempotent).
        let seq = c.latest_log_seq()?;
        let rows = c.live_saved_searches(now_ms)?;
        let parsed: Vec<(SearchId, api_types::SearchCriteria)> = rows
            .iter()
            .map(|r| (r.id, r.criteria()))
            .filter(|(_, criteria)| !criteria.is_empty())
            .collect();
        state.expires = rows.iter().map(|r| (r.id, r.expires_at)).collect();
        let index = super::MatcherIndex::build(parsed.iter().map(|(id, c)| (*id, c)));
        let n = index.len();
        self.matcher.replace(index);
        state.applied_seq = seq;
        *self.last_rebuild.lock().unwrap_or_else(|e| e.into_inner()) = Some(Rebuild {
            at_ms: crate::db::now_ms(),
            took: started.elapsed(),
            searches: n,
        });
        Ok(n)
    }

    /// The last full rebuild, if there was one (the dashboard shows it).
    pub fn last_rebuild(&self) -> Option<Rebuild> {
        *self.last_rebuild.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies saved-search changes logged since the last call and drops searches that have
    /// expired by `now_ms`; returns how many log entries were applied.
    pub fn catch_up<C: MatchConn>(&self, c: &mut C, now_ms: i64) -> QueryResult<usize> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut applied = 0;
        loop {
            let entries = c.saved_search_log_after(state.applied_seq, 1_000)?;
            if entries.is_empty() {
                break;
            }
            for entry in &entries {
                let id = entry.saved_search_id;
                let current = if entry.deleted {
                    None
                } else {
                    c.find_saved_search(id)?
                };
                match current {
                    Some(s) if s.is_live(now_ms) && !s.criteria().is_empty() => {
                        self.matcher.upsert(id, &s.criteria());
                        state.expires.insert(id, s.expires_at);
                    }
                    _ => {
                        self.matcher.remove(id);
                        state.expires.remove(&id);
                    }
                }
                state.applied_seq = entry.seq;
            }
            applied += entries.len();
        }
        let expired: Vec<SearchId> = state
            .expires
            .iter()
            .filter(|(_, at)| **at <= now_ms)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.matcher.remove(id);
            state.expires.remove(&id);
        }
        Ok(applied)
    }

    /// Queues the notifications a publish made due, inside the publishing transaction `c`, and
    /// returns them (the caller announces them on the live-event bus after commit).
    pub fn notify_publish<C: MatchConn>(
        &self,
        c: &mut C,
        published: &Published,
        now_ms: i64,
    ) -> QueryResult<Vec<DueMatch>> {
        if matches!(published.kind, None | Some(ChangeKind::Resigned)) {
            // Nothing changed (an idempotent retry), or only the signature (a re-sign).
            return Ok(Vec::new());
        }
        let current = published.current.facts();
        if current.status != StandardStatus::Active {
            return Ok(Vec::new());
        }
        self.catch_up(c, now_ms)?;
        let now_matching = self.matcher.matching(&current);
        if now_matching.is_empty() {
            return Ok(Vec::new());
        }
        let previous: Option<ListingFacts> = published.previous.as_ref().map(|p| p.facts());
        let before: HashSet<SearchId> = match &previous {
            Some(p) if p.status == StandardStatus::Active => {
                self.matcher.matching(p).into_iter().collect()
            }
            _ => HashSet::new(),
        };
        let mut due: Vec<(SearchId, MatchReason)> = Vec::new();
        for id in &now_matching {
            let reason = match &previous {
                None => MatchReason::New,
                Some(p) if p.status != StandardStatus::Active => MatchReason::BackOnMarket,
                Some(_) if !before.contains(id) => MatchReason::NowMatches,
                Some(p) if current.price < p.price => MatchReason::PriceDrop,
                Some(_) => continue,
            };
            due.push((*id, reason));
        }
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = due.iter().map(|(id, _)| *id).collect();
        let searches: HashMap<i64, SavedSearch> = c
            .live_searches_among(&ids, now_ms)?
            .into_iter()
            .map(|s| (s.id, s))
            .collect();
        let user_ids: Vec<i64> = searches.values().filter_map(|s| s.user_id).collect();
        let agency_ids: Vec<i64> = searches.values().filter_map(|s| s.agency_id).collect();
        let user_emails: HashMap<i64, String> = c.user_emails(&user_ids)?.into_iter().collect();
        let agency_emails: HashMap<i64, String> =
            c.agency_emails(&agency_ids)?.into_iter().collect();
        let listing = &published.current;
        let dismissed: HashSet<i64> = c.dismissed_by(listing.id, &user_ids)?.into_iter().collect();
        let previous_price = published.previous.as_ref().map(|p| p.price);

        let mut out = Vec::new();
        for (id, reason) in due {
            let Some(search) = searches.get(&id) else {
                continue; // expired or deleted since the index last heard
            };
            let owner = search.owner();
            let (recipient, user_id, agency_id) = match owner {
                Owner::User(u) => {
                    if dismissed.contains(&u) {
                        continue;
                    }
                    (user_emails.get(&u), Some(u), None)
                }
                Owner::Agency(a) => (agency_emails.get(&a), None, Some(a)),
            };
            let Some(recipient) = recipient else {
                continue;
            };
            let mut payload = serde_json::json!({
                "reason": reason,
                "price": listing.price,
                "saved_search_name": search.name,
                "listing_key": listing.listing_key,
            });
            if reason == MatchReason::PriceDrop {
                payload["previous_price"] = previous_price.into();
            }
            let notification = NewNotification {
                user_id,
                agency_id,
                saved_search_id: Some(id),
                listing_id: Some(listing.id),
                listing_version: Some(listing.version),
                not_before: now_ms,
                ..NewNotification::new(
                    MailKind::ListingMatch,
                    recipient.clone(),
                    format!("match:{id}:{}:{}", listing.id, listing.version),
                    payload,
                )
            };
            let queued = c.enqueue_notification(&notification)?;
            out.push(DueMatch {
                saved_search_id: id,
                owner,
                reason,
                queued,
            });
        }
        Ok(out)
    }
}

/// The live events for due matches of users (agencies have no open pages).
pub fn live_events(listing_id: i64, due: &[DueMatch]) -> Vec<LiveEvent> {
    due.iter()
        .filter(|d| d.queued)
        .filter_map(|d| match d.owner {
            Owner::User(user_id) => Some(LiveEvent::Match {
                user_id,
                saved_search_id: d.saved_search_id,
                listing_id,
                notification_id: None,
            }),
            Owner::Agency(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use api_types::{ListingDocument, SearchCriteria, StandardStatus};
    use diesel::prelude::*;

    use super::*;
    use crate::db::DbConn;
    use crate::notify::outbox::MatchReason;
    use crate::searches::NewSavedSearch;
    use crate::testing::fixtures;

    fn save(conn: &mut DbConn, owner: Owner, criteria: SearchCriteria) -> i64 {
        let new = NewSavedSearch::new("my search", &criteria).unwrap();
        crate::write_tx!(conn, |c| c.create_saved_search(
            owner,
            &new,
            crate::db::now_ms()
        ))
        .unwrap()
        .id
    }

    fn lisbon(max_price: u64) -> SearchCriteria {
        SearchCriteria {
            city: Some("lisbon".into()),
            max_price: Some(max_price),
            ..Default::default()
        }
    }

    fn publish_and_match(
        conn: &mut DbConn,
        m: &LiveMatcher,
        agency: i64,
        serial: &str,
        doc: &ListingDocument,
    ) -> Vec<(i64, MatchReason)> {
        let published = fixtures::publish(conn, agency, serial, doc).unwrap();
        let mut due = crate::with_conn!(conn, |c| m.notify_publish(
            c,
            &published,
            crate::db::now_ms()
        ))
        .unwrap();
        due.sort_by_key(|d| d.saved_search_id);
        due.into_iter()
            .filter(|d| d.queued)
            .map(|d| (d.saved_search_id, d.reason))
            .collect()
    }

    crate::db_test!(publishes_make_exactly_the_due_notifications, |db| {
        let mut conn = db.get().unwrap();
        let (agency, serial) = fixtures::active_agency_with_certificate(&mut conn, "Acme");
        let u1 = fixtures::user(&mut conn, "one@buyer.example");
        let u2 = fixtures::user(&mut conn, "two@buyer.example");
        let u3 = fixtures::user(&mut conn, "three@buyer.example");
        let s1 = save(&mut conn, Owner::User(u1), lisbon(360_000));
        let _s2 = save(
            &mut conn,
            Owner::User(u2),
            SearchCriteria {
                city: Some("Porto".into()),
                ..Default::default()
            },
        );
        let s3 = save(&mut conn, Owner::User(u3), lisbon(300_000));
        let sa = save(&mut conn, Owner::Agency(agency.id), lisbon(1_000_000));

        let m = LiveMatcher::new();
        assert_eq!(
            crate::with_conn!(&mut conn, |c| m.rebuild(c, crate::db::now_ms())).unwrap(),
            4
        );

        let mut doc = ListingDocument::example("L-1"); // Lisbon, 350,000
        let due = publish_and_match(&mut conn, &m, agency.id, &serial, &doc);
        assert_eq!(due, [(s1, MatchReason::New), (sa, MatchReason::New)]);

        // The same document again changes nothing and notifies nobody.
        assert!(publish_and_match(&mut conn, &m, agency.id, &serial, &doc).is_empty());

        // A price drop: s1 hears "price dropped", s3 "now matches"; the agency search too.
        doc.list_price = api_types::Price::new(290_000).unwrap();
        doc.modification_timestamp += std::time::Duration::from_secs(60);
        let due = publish_and_match(&mut conn, &m, agency.id, &serial, &doc);
        assert_eq!(
            due,
            [
                (s1, MatchReason::PriceDrop),
                (s3, MatchReason::NowMatches),
                (sa, MatchReason::PriceDrop)
            ]
        );

        // A change that is not a price drop notifies nobody already told.
        doc.public_remarks.push_str(" New kitchen.");
        doc.modification_timestamp += std::time::Duration::from_secs(60);
        assert!(publish_and_match(&mut conn, &m, agency.id, &serial, &doc).is_empty());

        // u1 is not interested any more: never told again about this listing.
        let listing_id = crate::with_conn!(&mut conn, |c| {
            use crate::listings::ListingStore;
            c.find_listing(agency.id, "L-1")
        })
        .unwrap()
        .unwrap()
        .id;
        crate::with_conn!(&mut conn, |c| diesel::insert_into(
            dismissed_listings::table
        )
        .values((
            dismissed_listings::user_id.eq(u1),
            dismissed_listings::listing_id.eq(listing_id),
            dismissed_listings::created_at.eq(0_i64),
        ))
        .execute(c))
        .unwrap();
        doc.list_price = api_types::Price::new(280_000).unwrap();
        doc.modification_timestamp += std::time::Duration::from_secs(60);
        let due = publish_and_match(&mut conn, &m, agency.id, &serial, &doc);
        assert_eq!(
            due,
            [(s3, MatchReason::PriceDrop), (sa, MatchReason::PriceDrop)]
        );

        // Off the market and back: "back on the market".
        doc.standard_status = StandardStatus::UnderOffer;
        doc.modification_timestamp += std::time::Duration::from_secs(60);
        assert!(publish_and_match(&mut conn, &m, agency.id, &serial, &doc).is_empty());
        doc.standard_status = StandardStatus::Active;
        doc.modification_timestamp += std::time::Duration::from_secs(60);
        let due = publish_and_match(&mut conn, &m, agency.id, &serial, &doc);
        assert_eq!(
            due,
            [
                (s3, MatchReason::BackOnMarket),
                (sa, MatchReason::BackOnMarket)
            ]
        );

        // A saved search stored after the index was built (by any process) is seen at the
        // next publish; a deleted one is not.
        let u4 = fixtures::user(&mut conn, "four@buyer.example");
        let s4 = save(&mut conn, Owner::User(u4), lisbon(500_000));
        crate::write_tx!(&mut conn, |c| c.delete_saved_search(Owner::User(u3), s3)).unwrap();
        let due = publish_and_match(
            &mut conn,
            &m,
            agency.id,
            &serial,
            &ListingDocument::example("L-2"),
        );
        assert_eq!(
            due,
            [
                (s1, MatchReason::New),
                (sa, MatchReason::New),
                (s4, MatchReason::New)
            ],
            "u1 dismissed L-1 only"
        );
        assert_eq!(m.matcher().len(), 4);

        // One outbox row per (saved search, listing version), addressed to the owner.
        let rows: Vec<(String, String, String)> = crate::with_conn!(&mut conn, |c| {
            use crate::db::schema::notifications;
            notifications::table
                .filter(notifications::kind.eq("listing_match"))
                .select((
                    notifications::idempotency_key,
                    notifications::recipient,
                    notifications::payload,
                ))
                .order(notifications::id.asc())
                .load(c)
        })
        .unwrap();
        assert_eq!(rows.len(), 12);
        let keys: HashSet<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(keys.len(), rows.len(), "no duplicates");
        assert_eq!(rows[0].1, "one@buyer.example");
        assert_eq!(rows[1].1, "desk@agency.example");
        let drop = rows
            .iter()
            .find(|r| r.1 == "one@buyer.example" && r.2.contains("price_drop"))
            .unwrap();
        let drop: serde_json::Value = serde_json::from_str(&drop.2).unwrap();
        assert_eq!(drop["reason"], "price_drop");
        assert_eq!(drop["previous_price"], 350_000);
        assert_eq!(drop["price"], 290_000);
    });

    crate::db_test!(
        expired_searches_leave_the_index_and_owners_are_told_before,
        |db| {
            let mut conn = db.get().unwrap();
            let (agency, serial) = fixtures::active_agency_with_certificate(&mut conn, "Acme");
            let u1 = fixtures::user(&mut conn, "one@buyer.example");
            let s1 = save(&mut conn, Owner::User(u1), lisbon(400_000));
            let soon = crate::db::now_ms() + 2 * 86_400_000;
            crate::with_conn!(&mut conn, |c| diesel::update(
                saved_searches::table.find(s1)
            )
            .set(saved_searches::expires_at.eq(soon))
            .execute(c))
            .unwrap();
            let (notices, purged) = crate::matching::jobs::expiry_housekeeping(
                &mut conn,
                "http://homes.example",
                "https://agency.homes.example",
            )
            .unwrap();
            assert_eq!((notices, purged), (1, 0));
            let payload: String = crate::with_conn!(&mut conn, |c| {
                use crate::db::schema::notifications;
                notifications::table
                    .filter(notifications::kind.eq("saved_search_expiring"))
                    .select(notifications::payload)
                    .first(c)
            })
            .unwrap();
            let payload: serde_json::Value = serde_json::from_str(&payload).unwrap();
            assert_eq!(payload["renew_link"], "http://homes.example/saved");
            assert_eq!(payload["name"], "my search");
            assert_eq!(
                crate::matching::jobs::expiry_housekeeping(
                    &mut conn,
                    "http://homes.example",
                    "https://agency.homes.example"
                )
                .unwrap()
                .0,
                0,
                "told once"
            );

            let m = LiveMatcher::new();
            crate::with_conn!(&mut conn, |c| m.rebuild(c, crate::db::now_ms())).unwrap();
            assert_eq!(m.matcher().len(), 1);
            // Three days later it has expired: out of the index, no notification.
            crate::with_conn!(&mut conn, |c| m.catch_up(c, soon + 86_400_000)).unwrap();
            assert_eq!(m.matcher().len(), 0);
            crate::with_conn!(&mut conn, |c| diesel::update(
                saved_searches::table.find(s1)
            )
            .set(saved_searches::expires_at.eq(1_i64))
            .execute(c))
            .unwrap();
            assert!(
                publish_and_match(
                    &mut conn,
                    &m,
                    agency.id,
                    &serial,
                    &ListingDocument::example("L-9")
                )
                .is_empty()
            );
            // Long expired: cleaned up.
            let (_, purged) = crate::matching::jobs::expiry_housekeeping(
                &mut conn,
                "http://homes.example",
                "https://agency.homes.example",
            )
            .unwrap();
            assert_eq!(purged, 1);
        }
    );
}
