//! Buyers' enquiries for the agency's desk (`/api/v1/enquiries`): the desk reads the waiting ones,
//! stores each as a lead, then acknowledges it, which erases the buyer's details on the platform
//! ([`crate::enquiries`]). Every route is scoped to the caller's agency: another agency's enquiry
//! is not found.

use actix_web::{HttpResponse, web};
use api_types::api::Enquiry;

use super::AuthenticatedAgency;
use crate::enquiries::EnquiryStore;
use crate::error::ApiError;
use crate::state::AppState;

/// Mounts the routes under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/enquiries", web::get().to(list))
        .route("/enquiries/{id}/ack", web::post().to(ack));
}

async fn list(
    state: web::Data<AppState>,
    caller: AuthenticatedAgency,
) -> Result<HttpResponse, ApiError> {
    let agency = caller.agency.id;
    let rows = state
        .db
        .run(move |conn| {
            Ok::<_, ApiError>(crate::with_conn!(conn, |c| c.pending_enquiries(agency))?)
        })
        .await?;
    let wire: Vec<Enquiry> = rows
        .into_iter()
        .map(|p| Enquiry {
            id: p.row.id,
            listing_key: p.listing_key,
            listing_title: p.listing_title,
            name: p.row.name.unwrap_or_default(),
            email: p.row.email.unwrap_or_default(),
            phone: p.row.phone,
            message: p.row.message.unwrap_or_default(),
            created_at_ms: p.row.created_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(wire))
}

async fn ack(
    state: web::Data<AppState>,
    caller: AuthenticatedAgency,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::NotFound {
        code: "enquiry_not_found",
        message: "your agency has no enquiry with this id".into(),
    };
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let agency = caller.agency.id;
    let found = state
        .db
        .run(move |conn| {
            Ok::<_, ApiError>(crate::write_tx!(conn, |c| c.acknowledge_enquiry(
                agency,
                id,
                crate::db::now_ms()
            ))?)
        })
        .await?;
    if !found {
        return Err(not_found());
    }
    tracing::info!(
        agency,
        enquiry = id,
        "enquiry acknowledged: buyer's details erased"
    );
    Ok(HttpResponse::NoContent().finish())
}
