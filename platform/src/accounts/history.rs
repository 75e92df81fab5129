//! A signed-in user's search history (`search_history` table): the home page shows the newest
//! [`HISTORY_SHOWN`]; the newest [`HISTORY_KEPT`] are kept.

use diesel::prelude::*;

use crate::db::schema::search_history;

/// Searches kept per user.
pub const HISTORY_KEPT: i64 = 20;
/// Searches shown on the home page.
pub const HISTORY_SHOWN: i64 = 10;

/// One remembered search: the search form's query string, its human summary, when (ms).
pub type PastSearch = (String, String, i64);

/// The search-history queries, for both backends.
pub trait SearchHistory {
    /// The user's newest `limit` searches, newest first.
    fn recent_searches(&mut self, user_id: i64, limit: i64) -> QueryResult<Vec<PastSearch>>;
    /// Appends a search at `now` (moving it to the top when it was there already) and keeps the last
    /// [`HISTORY_KEPT`].
    fn record_search(
        &mut self,
        user_id: i64,
        query: &str,
        summary: &str,
        now: i64,
    ) -> QueryResult<()>;
}

crate::impl_for_backends!(SearchHistory {
    fn recent_searches(&mut self, user_id: i64, limit: i64) -> QueryResult<Vec<PastSearch>> {
        search_history::table
            .filter(search_history::user_id.eq(user_id))
            .order(search_history::id.desc())
            .limit(limit)
            .select((
                search_history::query,
                search_history::summary,
                search_history::created_at,
            ))
            .load(self)
    }

    fn record_search(
        &mut self,
        user_id: i64,
        query: &str,
        summary: &str,
        now: i64,
    ) -> QueryResult<()> {
        // A search run again moves to the top: its earlier entries go, so the list never
        // shows one search twice.
        diesel::delete(
            search_history::table
                .filter(search_history::user_id.eq(user_id))
                .filter(search_history::query.eq(query)),
        )
        .execute(self)?;
        diesel::insert_into(search_history::table)
            .values((
                search_history::user_id.eq(user_id),
                search_history::query.eq(query),
                search_history::summary.eq(summary),
                search_history::created_at.eq(now),
            ))
            .execute(self)?;
        let keep_from: Option<i64> = search_history::table
            .filter(search_history::user_id.eq(user_id))
            .order(search_history::id.desc())
            .offset(HISTORY_KEPT - 1)
            .select(search_history::id)
            .first(self)
            .optional()?;
        if let Some(id) = keep_from {
            diesel::delete(
                search_history::table
                    .filter(search_history::user_id.eq(user_id))
                    .filter(search_history::id.lt(id)),
            )
            .execute(self)?;
        }
        Ok(())
    }
});

#[cfg(test)]
mod tests {
    use super::*;

    crate::db_test!(history_skips_repeats_and_keeps_the_newest, |db| {
        let mut conn = db.get().unwrap();
        let user = crate::testing::fixtures::user(&mut conn, "h@example.com");
        crate::with_conn!(&mut conn, |c| {
            c.record_search(user, "q=a", "A", 1).unwrap();
            c.record_search(user, "q=a", "A", 2).unwrap();
            assert_eq!(
                c.recent_searches(user, HISTORY_SHOWN).unwrap(),
                vec![("q=a".to_owned(), "A".to_owned(), 2)]
            );
            // Run again after another search, it moves to the top and is listed once.
            c.record_search(user, "q=b", "B", 3).unwrap();
            c.record_search(user, "q=a", "A", 4).unwrap();
            assert_eq!(
                c.recent_searches(user, HISTORY_SHOWN).unwrap(),
                vec![
                    ("q=a".to_owned(), "A".to_owned(), 4),
                    ("q=b".to_owned(), "B".to_owned(), 3)
                ]
            );
            for i in 0..HISTORY_KEPT + 5 {
                c.record_search(user, &format!("q={i}"), "S", 10 + i)
                    .unwrap();
            }
            let all = c.recent_searches(user, 100).unwrap();
            assert_eq!(all.len() as i64, HISTORY_KEPT);
            assert_eq!(all[0].0, format!("q={}", HISTORY_KEPT + 4));
            assert_eq!(
                c.recent_searches(user, HISTORY_SHOWN).unwrap().len() as i64,
                HISTORY_SHOWN
            );
        });
    });
}
