//! Contact the agency: the enquiry form on the listing page (`POST /listings/{id}/enquiry`) and
//! a signed-in buyer's past enquiries (`GET /enquiries`). Storage, the agency's mail and what is
//! erased when are in [`crate::enquiries`].

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::WebError;
use super::pages::{self, FieldErrors, Layout};
use super::session::Visitor;
use crate::agencies::AgencyStore;
use crate::enquiries::{EnquiryStore, NewEnquiry};
use crate::listings::ListingStore;
use crate::state::AppState;

/// Registers the enquiry routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/listings/{id}/enquiry", web::post().to(send))
        .route("/enquiries", web::get().to(list));
}

/// The enquiry form as typed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct EnquiryForm {
    /// CSRF token.
    pub csrf: String,
    /// The buyer's name.
    pub name: String,
    /// The buyer's email.
    pub email: String,
    /// The buyer's phone (optional).
    pub phone: String,
    /// The message.
    pub message: String,
    /// `yes` when the consent box is ticked.
    pub consent: String,
}

impl EnquiryForm {
    /// An empty form, its email prefilled for a signed-in buyer.
    pub fn for_visitor(visitor: &Visitor) -> EnquiryForm {
        EnquiryForm {
            email: visitor
                .user
                .as_ref()
                .map(|u| u.email.clone())
                .unwrap_or_default(),
            ..EnquiryForm::default()
        }
    }
}

/// The form again with its mistakes (422), when the listing page's form was refused.
#[derive(Debug, Template)]
#[template(path = "enquiry.html")]
pub struct EnquiryPage {
    /// Frame.
    pub layout: Layout,
    /// The listing's id.
    pub listing_id: i64,
    /// The listing's title.
    pub listing_title: String,
    /// Where the form posts.
    pub enquiry_action: String,
    /// What was typed.
    pub enquiry: EnquiryForm,
    /// Mistakes by field.
    pub enquiry_errors: FieldErrors,
}

/// One past enquiry on `/enquiries`.
#[derive(Debug)]
pub struct PastEnquiry {
    /// The listing's id.
    pub listing_id: i64,
    /// Its title (empty when the listing is gone).
    pub title: String,
    /// `2026-12-02 17:05`.
    pub sent: String,
    /// The buyer's message.
    pub message: String,
    /// `Received by the agency on …` or `Waiting for the agency`.
    pub state: String,
}

/// A signed-in buyer's past enquiries.
#[derive(Debug, Template)]
#[template(path = "enquiries.html")]
pub struct EnquiriesPage {
    /// Frame.
    pub layout: Layout,
    /// Newest first.
    pub enquiries: Vec<PastEnquiry>,
}

async fn send(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<EnquiryForm>,
) -> Result<HttpResponse, WebError> {
    let visitor = Visitor::load(&state, &req).await?;
    visitor.check_csrf(&form.csrf)?;
    let id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    let form = form.into_inner();
    let found = state
        .db
        .run(move |conn| -> Result<_, WebError> {
            crate::with_conn!(conn, |c| {
                let Some(listing) = c.find_listing_by_id(id)? else {
                    return Ok(None);
                };
                let agency = c.find_agency(listing.agency_id)?;
                Ok(agency.map(|a| (listing, a)))
            })
        })
        .await?;
    let Some((listing, agency)) = found else {
        return Err(WebError::NotFound);
    };
    if listing.status == "taken_down" {
        return Err(WebError::NotFound);
    }
    if listing.status != "active" || listing.held_at.is_some() {
        let page = pages::MessagePage {
            layout: Layout::new("Listing not available", &visitor),
            heading: "This listing is no longer available".into(),
            message: "Enquiries can only be sent about listings on the market. Nothing was sent."
                .into(),
            link: Some((format!("/listings/{id}"), "Back to the listing".into())),
        };
        return Ok(visitor.finish(pages::html(StatusCode::CONFLICT, &page)));
    }
    let new = match NewEnquiry::parse(
        &form.name,
        &form.email,
        &form.phone,
        &form.message,
        form.consent == "yes",
    ) {
        Ok(new) => new,
        Err(problems) => {
            let mut errors = FieldErrors::new();
            for (field, message) in problems {
                errors.add(field, message);
            }
            let page = EnquiryPage {
                layout: Layout::new(format!("Contact the agency: {}", listing.title), &visitor),
                listing_id: id,
                listing_title: listing.title.clone(),
                enquiry_action: format!("/listings/{id}/enquiry"),
                enquiry: EnquiryForm {
                    csrf: String::new(),
                    ..form
                },
                enquiry_errors: errors,
            };
            return Ok(pages::invalid(&visitor, &page));
        }
    };
    super::limits::check(
        &state,
        &req,
        &crate::accounts::limiter::Policy::ENQUIRY,
        Some(&new.email),
    )
    .await?;
    let user_id = visitor.user.as_ref().map(|u| u.id);
    let public_url = state.config.web.public_url.trim_end_matches('/').to_owned();
    let (title, agency_id, agency_email) = (listing.title.clone(), agency.id, agency.email);
    let stored = new.clone();
    state
        .db
        .run(move |conn| -> Result<i64, WebError> {
            crate::write_tx!(conn, |c| -> Result<i64, WebError> {
                Ok(c.create_enquiry(
                    id,
                    &title,
                    agency_id,
                    &agency_email,
                    user_id,
                    &stored,
                    &public_url,
                    crate::db::now_ms(),
                )?)
            })
        })
        .await?;
    tracing::info!(listing = id, agency = agency.id, "enquiry stored");
    let link = if user_id.is_some() {
        ("/enquiries".to_owned(), "See your enquiries".to_owned())
    } else {
        (format!("/listings/{id}"), "Back to the listing".to_owned())
    };
    let page = pages::MessagePage {
        layout: Layout::new("Enquiry sent", &visitor),
        heading: "Enquiry sent".into(),
        message: format!(
            "Your message about \"{}\" was sent to {}. The agency will answer you at {}.",
            listing.title, agency.name, new.email
        ),
        link: Some(link),
    };
    Ok(pages::ok(&visitor, &page))
}

async fn list(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let visitor = Visitor::load(&state, &req).await?;
    let user_id = visitor.require_user()?.id;
    let rows = state
        .db
        .run(move |conn| -> Result<_, WebError> {
            crate::with_conn!(conn, |c| Ok(c.user_enquiries(user_id)?))
        })
        .await?;
    let enquiries = rows
        .into_iter()
        .map(|(row, title)| PastEnquiry {
            listing_id: row.listing_id,
            title,
            sent: pages::date_time(row.created_at),
            message: row.message.unwrap_or_default(),
            state: match row.delivered_at {
                Some(at) => format!("Received by the agency on {}", pages::date(at)),
                None => "Sent by email; waiting for the agency's program".to_owned(),
            },
        })
        .collect();
    let page = EnquiriesPage {
        layout: Layout::new("Your enquiries", &visitor),
        enquiries,
    };
    Ok(pages::ok(&visitor, &page))
}
