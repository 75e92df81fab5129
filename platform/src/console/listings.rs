//! Listings: search every agency's listings whatever their state, one listing's facts, and its
//! take-down with a reason, signed by the platform's document-signing key, and its restore (each
//! one function of [`crate::admin`], as `platform listing take-down` and `restore`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::action::{ActionPage, perform};
use super::session::{ConsoleVisitor, operator};
use super::{ConsoleError, Layout, html, notice, when};
use crate::admin;
use crate::listings::operator::ListingOverview;
use crate::listings::{ListingRow, ListingStore};
use crate::state::AppState;

/// Registers the listing pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/listings", web::get().to(list))
        .route("/listings/{id}", web::get().to(show))
        .route("/listings/{id}/{action}", web::post().to(act));
}

/// The search form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListingQuery {
    /// Title, city or key contains.
    pub q: String,
    /// Only this agency's.
    pub agency: Option<i64>,
    /// Only this state (`active`, `taken_down`, …).
    pub status: String,
}

/// The search page.
#[derive(Debug, Template)]
#[template(path = "console/listings.html")]
pub struct ListingsPage {
    /// Frame.
    pub layout: Layout,
    /// The search as given.
    pub q: ListingQuery,
    /// Matching listings (at most 200), with their last change worded.
    pub rows: Vec<(ListingRow, String)>,
}

async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<ListingQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let (visitor, _) = operator(&state, &req).await?;
    let q = query.into_inner();
    let (text, agency, status) = (q.q.clone(), q.agency, q.status.clone());
    let rows = state
        .db
        .run(move |conn| -> Result<_, ConsoleError> {
            let status = Some(status).filter(|s| !s.is_empty());
            Ok(crate::with_conn!(conn, |c| c.operator_listings(
                Some(&text),
                agency,
                status.as_deref(),
                200
            ))?)
        })
        .await?
        .into_iter()
        .map(|l| {
            let w = when(l.updated_at);
            (l, w)
        })
        .collect();
    Ok(visitor.finish(html(
        StatusCode::OK,
        &ListingsPage {
            layout: visitor.layout("Listings", "listings"),
            q,
            rows,
        },
    )))
}

/// One listing.
#[derive(Debug, Template)]
#[template(path = "console/listing.html")]
pub struct ListingPage {
    /// Frame.
    pub layout: Layout,
    /// The listing.
    pub l: ListingRow,
    /// Last change, worded.
    pub updated: String,
    /// Taken down at, worded.
    pub taken_down: Option<String>,
}

/// `?done=`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DoneQuery {
    /// Outcome of the last action.
    pub done: Option<String>,
}

async fn render(
    state: &AppState,
    visitor: &ConsoleVisitor,
    mut layout: Layout,
    id: i64,
    status: StatusCode,
) -> Result<HttpResponse, ConsoleError> {
    let l = state
        .db
        .run(move |conn| -> Result<_, ConsoleError> {
            Ok(crate::with_conn!(conn, |c| c.find_listing_by_id(id))?)
        })
        .await?
        .ok_or(ConsoleError::NotFound)?;
    layout.title = format!("Listing {id}");
    Ok(visitor.finish(html(
        status,
        &ListingPage {
            layout,
            updated: when(l.updated_at),
            taken_down: l.taken_down_at.map(when),
            l,
        },
    )))
}

async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<i64>,
    query: web::Query<DoneQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let (visitor, _) = operator(&state, &req).await?;
    let mut layout = visitor.layout("Listing", "listings");
    layout.notice = notice(query.done.as_deref());
    render(&state, &visitor, layout, path.into_inner(), StatusCode::OK).await
}

/// The take-down and restore form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReasonForm {
    /// CSRF token.
    pub csrf: String,
    /// Why (a take-down's goes in the signed statement every desk receives; both in the audit
    /// log).
    pub reason: String,
}

async fn act(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(i64, String)>,
    form: web::Form<ReasonForm>,
) -> Result<HttpResponse, ConsoleError> {
    let (id, action) = path.into_inner();
    let reason = form.reason.clone();
    let (pki, matcher, events) = (
        state.pki.clone(),
        state.matcher.clone(),
        state.events.clone(),
    );
    perform(
        &state,
        &req,
        &form.csrf,
        ActionPage::new(format!("/listings/{id}"), "Listing", "listings"),
        move |conn, actor| match action.as_str() {
            "take-down" => {
                let signer = pki
                    .platform_signer(conn)
                    .map_err(|e| ConsoleError::Internal(e.to_string()))?;
                admin::take_down_listing(conn, actor, &signer, id, &reason)?;
                Ok("taken-down")
            }
            "restore" => {
                let restored = admin::restore_listing(conn, actor, &matcher, id, &reason)?;
                // Committed: open pages of the saved searches it matches hear of it now.
                for event in crate::matching::live::live_events(id, &restored.due) {
                    events.publish(event);
                }
                Ok("restored")
            }
            _ => Err(ConsoleError::NotFound),
        },
        async |visitor, layout, status| render(&state, visitor, layout, id, status).await,
    )
    .await
}
