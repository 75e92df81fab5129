//! `search`: over the listings pulled to this desk (cheapest first), over every agency's active
//! listings on the platform (`--remote`, each signature checked), and past searches, each kept.

use api_types::search::SearchCriteria;
use api_types::{PropertyType, TransactionType};

use super::open_session;
use crate::cli::Cli;
use crate::cli::args::{CriteriaArgs, SearchArgs};
use crate::cli::render::{self, Output};
use crate::db::Store;
use crate::error::ClientError;
use crate::{customers, search};

/// Runs `search`.
pub fn run(store: &mut Store, cli: &Cli, args: &SearchArgs) -> Result<Output, ClientError> {
    if let Some(page) = args.remote_page()? {
        let criteria = match args.rerun {
            Some(id) => search::past_criteria(store.conn(), id)?,
            None => args.criteria.to_criteria()?,
        };
        let criteria = customers::check_wishes(&criteria)?;
        let not_searched = "the platform was not searched (nothing changes here)";
        let mut session = open_session(store, cli).map_err(|e| e.nothing_done(not_searched))?;
        let result = search::search_remote(store.conn(), &mut session, &criteria, page)
            .map_err(|e| e.nothing_done(not_searched))?;
        return Ok(render::remote_search(&result));
    }
    if args.history {
        return Ok(render::search_history(&search::history(store.conn())?));
    }
    let result = match args.rerun {
        Some(id) => search::rerun(store.conn(), id, args.limit)?,
        None => search::search(store.conn(), &args.criteria.to_criteria()?, args.limit)?,
    };
    Ok(render::search(&result))
}

impl SearchArgs {
    /// The page of a remote search these options ask for; refuses remote-only options without
    /// `--remote` and `--remote` with `--history`.
    fn remote_page(&self) -> Result<Option<search::RemotePage>, ClientError> {
        if !self.remote {
            if self.sort.is_some() {
                return Err(ClientError::input(
                    "--sort",
                    "only a search on the platform (--remote) can be sorted; results here are cheapest first",
                ));
            }
            if self.page.is_some() {
                return Err(ClientError::input(
                    "--page",
                    "only a search on the platform (--remote) has pages; use --limit here",
                ));
            }
            return Ok(None);
        }
        if self.history {
            return Err(ClientError::input(
                "--history",
                "past searches are kept on this desk; list them without --remote",
            ));
        }
        let sort = match self.sort.as_deref() {
            None => api_types::api::SearchSort::Newest,
            Some(s) => api_types::api::SearchSort::from_code(s).ok_or_else(|| {
                ClientError::input(
                    "--sort",
                    format!("has no value {s:?}; use newest, price_asc or price_desc"),
                )
            })?,
        };
        search::RemotePage {
            sort,
            page: self.page.unwrap_or(1),
            per_page: u32::try_from(self.limit).unwrap_or(u32::MAX),
        }
        .check()
        .map(Some)
    }
}

impl CriteriaArgs {
    /// The criteria these options describe.
    pub fn to_criteria(&self) -> Result<SearchCriteria, ClientError> {
        let input =
            |field: &str, value: &str| ClientError::input(field, format!("has no value {value:?}"));
        Ok(SearchCriteria {
            transaction_type: match &self.transaction_type {
                Some(t) => Some(TransactionType::from_code(t).ok_or_else(|| input("--type", t))?),
                None => None,
            },
            city: self.city.clone(),
            district: self.district.clone(),
            property_types: self
                .property_types
                .iter()
                .map(|p| PropertyType::from_code(p).ok_or_else(|| input("--property", p)))
                .collect::<Result<_, _>>()?,
            min_price: self.min_price,
            max_price: self.max_price,
            min_living_area: self.min_area,
            max_living_area: self.max_area,
            min_bedrooms: self.min_bedrooms,
            keywords: self.keywords.clone(),
        })
    }
}
