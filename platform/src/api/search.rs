//! `POST /api/v1/search`: a search over every agency's active listings for an agency desk, with
//! the website's search underneath ([`ListingStore::search_listings`]: same criteria, same
//! orders, same capped count), answered in the change feed's listing shape so the desk can check
//! each agency's signature exactly as it does for pulled listings.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use api_types::api::{ListingRecord, SEARCH_MAX_PER_PAGE, SearchPage, SearchRequest, SearchSort};

use super::{AuthenticatedAgency, parse_json};
use crate::agencies::AgencyStore;
use crate::error::ApiError;
use crate::listings::{COUNT_CAP, ListingQuery, ListingRow, ListingSort, ListingStore};
use crate::state::AppState;

/// Mounts the route under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/search", web::post().to(search));
}

/// A checked search request: the store's query and the page asked for.
#[derive(Debug, Clone, PartialEq)]
struct AgencySearch {
    query: ListingQuery,
    page: u32,
    per_page: u32,
}

impl AgencySearch {
    /// Checks criteria, page and page size; the first problem names its JSON field.
    fn parse(request: SearchRequest) -> Result<AgencySearch, ApiError> {
        request
            .criteria
            .validate()
            .map_err(|e| ApiError::invalid_field(format!("criteria.{}", e.field), e.message))?;
        if !(1..=SEARCH_MAX_PER_PAGE).contains(&request.per_page) {
            return Err(ApiError::invalid_field(
                "per_page",
                format!("must be between 1 and {SEARCH_MAX_PER_PAGE}"),
            ));
        }
        if request.page == 0 {
            return Err(ApiError::invalid_field("page", "pages count from 1"));
        }
        let offset = i64::from(request.page - 1) * i64::from(request.per_page);
        if offset >= COUNT_CAP {
            return Err(ApiError::invalid_field(
                "page",
                format!(
                    "only the first {COUNT_CAP} results are served; narrow the search (e.g. a city or a price range)"
                ),
            ));
        }
        let sort = match request.sort {
            SearchSort::Newest => ListingSort::Newest,
            SearchSort::PriceAsc => ListingSort::PriceAsc,
            SearchSort::PriceDesc => ListingSort::PriceDesc,
        };
        Ok(AgencySearch {
            query: ListingQuery {
                criteria: request.criteria.normalized(),
                sort,
                offset,
                // Never past the served window, so the last page ends at COUNT_CAP.
                limit: i64::from(request.per_page).min(COUNT_CAP - offset),
                exclude_ids: Vec::new(),
            },
            page: request.page,
            per_page: request.per_page,
        })
    }
}

/// A stored listing in the feed's shape; `None` when its stored document cannot be read (it is
/// then left out and logged rather than served half).
fn record(row: &ListingRow, agency_name: &str) -> Option<ListingRecord> {
    let listing = match row.object() {
        Ok(doc) => doc,
        Err(e) => {
            tracing::error!(listing = row.id, error = %e, "stored listing document unreadable");
            return None;
        }
    };
    Some(ListingRecord {
        list_office_key: row.agency_id.to_string(),
        list_office_name: agency_name.to_owned(),
        listing_key: row.listing_key.clone(),
        version: row.version,
        listing,
        signature: row.signature_envelope(),
        certificate_serial: row.cert_serial.clone(),
        status: row.status().code().to_owned(),
    })
}

async fn search(
    state: web::Data<AppState>,
    _caller: AuthenticatedAgency,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request: SearchRequest = parse_json(&body)?;
    let search = AgencySearch::parse(request)?;
    let query = search.query.clone();
    let (rows, total, names) = state
        .db
        .run(move |conn| {
            crate::with_conn!(conn, |c| {
                let (rows, total) = c.search_listings(&query)?;
                let mut names: HashMap<i64, String> = HashMap::new();
                for row in &rows {
                    if let std::collections::hash_map::Entry::Vacant(slot) =
                        names.entry(row.agency_id)
                    {
                        let name = c.find_agency(row.agency_id)?.map(|a| a.name);
                        slot.insert(name.unwrap_or_default());
                    }
                }
                Ok::<_, ApiError>((rows, total, names))
            })
        })
        .await?;
    let listings: Vec<ListingRecord> = rows
        .iter()
        .filter_map(|row| record(row, names.get(&row.agency_id).map_or("", String::as_str)))
        .collect();
    let served = search.query.offset + rows.len() as i64;
    Ok(HttpResponse::Ok().json(SearchPage {
        listings,
        total: total.min(COUNT_CAP),
        total_capped: total > COUNT_CAP,
        page: search.page,
        per_page: search.per_page,
        has_more: served < total.min(COUNT_CAP),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: serde_json::Value) -> Result<AgencySearch, ApiError> {
        AgencySearch::parse(parse_json(body.to_string().as_bytes())?)
    }

    fn field(e: ApiError) -> Option<String> {
        match e {
            ApiError::Invalid { field, .. } => field,
            other => panic!("not an input error: {other:?}"),
        }
    }

    #[test]
    fn defaults_and_paging() {
        let s = parse(serde_json::json!({})).unwrap();
        assert_eq!((s.page, s.per_page, s.query.offset), (1, 50, 0));
        assert_eq!(s.query.sort, ListingSort::Newest);
        let s = parse(serde_json::json!({"page": 3, "per_page": 20, "sort": "price_asc"})).unwrap();
        assert_eq!((s.query.offset, s.query.limit), (40, 20));
        assert_eq!(s.query.sort, ListingSort::PriceAsc);
        // The last servable page stops at COUNT_CAP.
        let s = parse(serde_json::json!({"page": 100, "per_page": 100})).unwrap();
        assert_eq!(s.query.offset + s.query.limit, COUNT_CAP);
    }

    #[test]
    fn only_a_json_object_is_a_request() {
        // serde alone would read `[]` or `[{..}, 2]` as the struct's members in order.
        for body in ["[]", " [{}, 1]", "\n\"page\"", "3", "null"] {
            match parse_json::<SearchRequest>(body.as_bytes()) {
                Err(ApiError::Invalid { code, .. }) => assert_eq!(code, "invalid_json", "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        assert!(parse_json::<SearchRequest>(b" \n{}").is_ok());
    }

    #[test]
    fn bad_input_names_the_field() {
        for (body, want) in [
            (serde_json::json!({"per_page": 0}), "per_page"),
            (serde_json::json!({"per_page": 101}), "per_page"),
            (serde_json::json!({"page": 0}), "page"),
            (serde_json::json!({"page": 101, "per_page": 100}), "page"),
            (serde_json::json!({"sort": "cheapest"}), "sort"),
            (
                serde_json::json!({"criteria": {"min_price": 10, "max_price": 5}}),
                "criteria.max_price",
            ),
            (
                serde_json::json!({"criteria": {"city": "  "}}),
                "criteria.city",
            ),
            (
                serde_json::json!({"criteria": {"colour": "red"}}),
                "criteria",
            ),
        ] {
            let e = parse(body.clone()).expect_err(&body.to_string());
            let got = field(e);
            assert!(
                got.as_deref().is_some_and(|f| f.starts_with(want)),
                "{body}: {got:?}"
            );
        }
    }
}
