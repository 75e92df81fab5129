//! What the worker reads besides the outbox when it batches matches: each listing's key facts and
//! whether it may be mailed ([`Availability`]), and the names of saved searches.

use std::collections::HashMap;

use diesel::prelude::*;

use crate::db::schema::{listings, saved_searches};
use crate::notify::render::ListingSummary;

/// Whether a matched listing may be mailed now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// Active and not held: mail it.
    OnMarket,
    /// Sold, rented, withdrawn or taken down.
    OffMarket,
    /// Held: its signing key was reported compromised and it was not signed again yet.
    Held,
}

/// What the worker reads of listings and saved searches, for both backends.
pub trait MatchFacts {
    /// Key facts of listings and whether each may be alerted.
    fn listing_summaries(
        &mut self,
        ids: &[i64],
    ) -> QueryResult<HashMap<i64, (ListingSummary, Availability)>>;
    /// Names of saved searches.
    fn search_names(&mut self, ids: &[i64]) -> QueryResult<HashMap<i64, String>>;
}

crate::impl_for_backends!(MatchFacts {
    fn listing_summaries(
        &mut self,
        ids: &[i64],
    ) -> QueryResult<HashMap<i64, (ListingSummary, Availability)>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        #[allow(clippy::type_complexity)]
        let rows: Vec<(
            i64,
            String,
            String,
            Option<String>,
            i64,
            String,
            Option<i32>,
            Option<f64>,
            String,
            Option<i64>,
            String,
        )> = listings::table
            .filter(listings::id.eq_any(ids))
            .select((
                listings::id,
                listings::title,
                listings::city,
                listings::district,
                listings::price,
                listings::currency,
                listings::bedrooms,
                listings::living_area,
                listings::status,
                listings::held_at,
                listings::transaction_type,
            ))
            .load(self)?;
        Ok(rows
            .into_iter()
            .map(|(id, title, city, district, price, currency, bedrooms, living_area, status, held_at, transaction)| {
                (
                    id,
                    (
                        ListingSummary {
                            id,
                            title,
                            city,
                            district,
                            price,
                            currency,
                            bedrooms,
                            living_area,
                            monthly: transaction == "rent",
                        },
                        if held_at.is_some() {
                            Availability::Held
                        } else if status == "active" {
                            Availability::OnMarket
                        } else {
                            Availability::OffMarket
                        },
                    ),
                )
            })
            .collect())
    }

    fn search_names(&mut self, ids: &[i64]) -> QueryResult<HashMap<i64, String>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        Ok(saved_searches::table
            .filter(saved_searches::id.eq_any(ids))
            .select((saved_searches::id, saved_searches::name))
            .load::<(i64, String)>(self)?
            .into_iter()
            .collect())
    }
});
