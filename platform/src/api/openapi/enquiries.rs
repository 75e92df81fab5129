//! The enquiries' operations in the OpenAPI document (`/api/v1/enquiries…`, see
//! `api/enquiries.rs`).

use api_types::api::Enquiry;
use utoipa::openapi::path::HttpMethod::{Get, Post};

use super::Caller::Agency;
use super::{Body, Builder, id_param, op};

/// Adds the enquiries' operations.
pub(super) fn operations(b: &mut Builder) {
    let list = b.json_list::<Enquiry>();
    b.add(
        op(Get, "/api/v1/enquiries", Agency, "Buyers' enquiries about the agency's listings not yet acknowledged, oldest first, at most 100 (acknowledge them to see the next)")
            .answer("200", "list of Enquiry", list),
    );
    let errors = b.errors(&[(
        "404",
        "enquiry_not_found (none of the agency's enquiries has this id)",
    )]);
    b.add(
        op(Post, "/api/v1/enquiries/{id}/ack", Agency, "The desk stored the enquiry as a lead: the platform erases the buyer's name, email and phone (and the message of a buyer who was not signed in); acknowledging again changes nothing")
            .param(id_param())
            .answer("204", "acknowledged", Body::Empty)
            .answers(errors),
    );
}
