//! The agency's saved searches on the platform (`/api/v1/saved-searches`): a tenant's or buyer's
//! wishes kept here, so matches reach the agency by email while its desk is off. Up to
//! [`MAX_ACTIVE_PER_AGENCY`](crate::searches::MAX_ACTIVE_PER_AGENCY) active, each living 30 days
//! from creation or renewal, like a buyer's.

use actix_web::{HttpResponse, web};
use api_types::api::{AgencySavedSearch, AgencySavedSearchRequest};

use super::{AuthenticatedAgency, parse_json};
use crate::error::ApiError;
use crate::searches::{NewSavedSearch, Owner, SavedSearch, SavedSearchError, SavedSearchStore};
use crate::state::AppState;

/// Mounts the routes under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/saved-searches", web::get().to(list))
        .route("/saved-searches", web::post().to(create))
        .route("/saved-searches/{id}", web::put().to(update))
        .route("/saved-searches/{id}", web::delete().to(delete))
        .route("/saved-searches/{id}/renew", web::post().to(renew));
}

fn wire(s: &SavedSearch) -> AgencySavedSearch {
    AgencySavedSearch {
        id: s.id,
        name: s.name.clone(),
        criteria: s.criteria(),
        expires_at: crate::listings::ms_to_time(s.expires_at),
    }
}

fn refused(e: SavedSearchError) -> ApiError {
    match e {
        SavedSearchError::Invalid { field, message } => {
            let field = if field == "name" {
                field
            } else {
                format!("criteria.{field}")
            };
            ApiError::invalid_field(field.replace("criteria.criteria", "criteria"), message)
        }
        SavedSearchError::LimitReached { .. } => ApiError::Conflict {
            code: "saved_search_limit",
            message: e.to_string(),
        },
        SavedSearchError::NotFound => ApiError::NotFound {
            code: "saved_search_not_found",
            message: "your agency has no saved search with this id".into(),
        },
        SavedSearchError::Db(e) => e.into(),
    }
}

fn request(body: &[u8]) -> Result<NewSavedSearch, ApiError> {
    let r: AgencySavedSearchRequest = parse_json(body)?;
    NewSavedSearch::new(&r.name, &r.criteria).map_err(refused)
}

async fn list(
    state: web::Data<AppState>,
    caller: AuthenticatedAgency,
) -> Result<HttpResponse, ApiError> {
    let owner = Owner::Agency(caller.agency.id);
    let rows = state
        .db
        .run(move |conn| {
            Ok::<_, ApiError>(crate::with_conn!(conn, |c| c.list_saved_searches(owner))?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(rows.iter().map(wire).collect::<Vec<_>>()))
}

async fn create(
    state: web::Data<AppState>,
    caller: AuthenticatedAgency,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let new = request(&body)?;
    let owner = Owner::Agency(caller.agency.id);
    let row = state
        .db
        .run(move |conn| {
            crate::write_tx!(conn, |c| c.create_saved_search(
                owner,
                &new,
                crate::db::now_ms()
            ))
            .map_err(refused)
        })
        .await?;
    Ok(HttpResponse::Created().json(wire(&row)))
}

async fn update(
    state: web::Data<AppState>,
    caller: AuthenticatedAgency,
    id: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let new = request(&body)?;
    let (owner, id) = (Owner::Agency(caller.agency.id), id.into_inner());
    let row = state
        .db
        .run(move |conn| {
            crate::write_tx!(conn, |c| c.update_saved_search(owner, id, &new)).map_err(refused)
        })
        .await?;
    Ok(HttpResponse::Ok().json(wire(&row)))
}

async fn delete(
    state: web::Data<AppState>,
    caller: AuthenticatedAgency,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let (owner, id) = (Owner::Agency(caller.agency.id), id.into_inner());
    state
        .db
        .run(move |conn| {
            crate::write_tx!(conn, |c| c.delete_saved_search(owner, id)).map_err(refused)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn renew(
    state: web::Data<AppState>,
    caller: AuthenticatedAgency,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let (owner, id) = (Owner::Agency(caller.agency.id), id.into_inner());
    let row = state
        .db
        .run(move |conn| {
            crate::write_tx!(conn, |c| c.renew_saved_search(
                owner,
                id,
                crate::db::now_ms()
            ))
            .map_err(refused)
        })
        .await?;
    Ok(HttpResponse::Ok().json(wire(&row)))
}
