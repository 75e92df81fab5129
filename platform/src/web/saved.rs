//! Saved searches on the website: save the search on a result page, list them with their expiry
//! dates, edit, delete and renew. The rules (at most three active, thirty days each) live in
//! [`crate::searches`]; this module only shows them.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::pages::{self, Card, FieldErrors, Layout};
use super::search::{FormView, SearchForm, run_search};
use super::session::Visitor;
use super::{WebError, see_other};
use crate::listings::ListingSort;
use crate::searches::{
    MAX_ACTIVE_PER_USER, NewSavedSearch, Owner, SavedSearch, SavedSearchError, SavedSearchStore,
};
use crate::state::AppState;

/// Registers the saved-search routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/saved", web::get().to(list))
        .route("/saved", web::post().to(create))
        .route("/saved/{id}/edit", web::get().to(edit_form))
        .route("/saved/{id}/edit", web::post().to(edit))
        .route("/saved/{id}/delete", web::get().to(delete_form))
        .route("/saved/{id}/delete", web::post().to(delete))
        .route("/saved/{id}/renew", web::post().to(renew));
}

/// A saved search as the list shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedView {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// What it searches for.
    pub summary: String,
    /// Link to its results.
    pub href: String,
    /// "2026-12-23".
    pub expires: String,
    /// Still matching.
    pub live: bool,
}

impl SavedView {
    fn of(s: &SavedSearch, now: i64) -> SavedView {
        let criteria = s.criteria();
        SavedView {
            id: s.id,
            name: s.name.clone(),
            summary: criteria.summary(),
            href: format!(
                "/search?{}",
                SearchForm::from_criteria(&criteria).query_without_page()
            ),
            expires: pages::date(s.expires_at),
            live: s.is_live(now),
        }
    }
}

/// The saved-searches page.
#[derive(Debug, Template)]
#[template(path = "saved.html")]
pub struct SavedPage {
    /// Frame.
    pub layout: Layout,
    /// The user's saved searches.
    pub searches: Vec<SavedView>,
    /// The limit.
    pub limit: i64,
    /// A refusal to show at the top.
    pub error: Option<String>,
    /// After saving: the new search's name and the listings that already match it.
    pub created: Option<(String, Vec<Card>, i64)>,
}

/// The edit page.
#[derive(Debug, Template)]
#[template(path = "saved_edit.html")]
pub struct EditPage {
    /// Frame.
    pub layout: Layout,
    /// The saved search.
    pub id: i64,
    /// Name as typed.
    pub name: String,
    /// Criteria as typed.
    pub search: FormView,
    /// Name mistakes.
    pub name_error: Option<String>,
}

async fn load_list(state: &AppState, user_id: i64) -> Result<Vec<SavedView>, WebError> {
    let now = crate::db::now_ms();
    let rows = state
        .db
        .run(move |conn| -> Result<_, WebError> {
            Ok(crate::with_conn!(conn, |c| c.list_saved_searches(Owner::User(user_id)))?)
        })
        .await?;
    Ok(rows.iter().map(|s| SavedView::of(s, now)).collect())
}

/// Query of the list page: what was just done (its confirmation is shown at the top).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ListQuery {
    created: Option<i64>,
    renewed: Option<i64>,
    updated: Option<i64>,
    deleted: Option<String>,
}

/// The confirmation shown after an action, naming the search (a name the user gave, looked up
/// among their own searches so a crafted link cannot make the page say anything else).
fn done_notice(q: &ListQuery, searches: &[SavedView]) -> Option<String> {
    let name = |id: i64| searches.iter().find(|s| s.id == id).map(|s| s.name.clone());
    if let Some(n) = q.renewed.and_then(name) {
        let until = q
            .renewed
            .and_then(|id| searches.iter().find(|s| s.id == id))
            .map(|s| s.expires.clone())
            .unwrap_or_default();
        return Some(format!("Renewed “{n}”: it runs until {until}."));
    }
    if let Some(n) = q.updated.and_then(name) {
        return Some(format!("Saved your changes to “{n}”."));
    }
    q.deleted
        .as_ref()
        .map(|n| format!("Deleted “{}”.", n.chars().take(80).collect::<String>()))
}

/// `GET /saved`.
async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, WebError> {
    let visitor = Visitor::load(&state, &req).await?;
    let user = visitor.require_user()?.clone();
    let searches = load_list(&state, user.id).await?;
    let notice = done_notice(&q, &searches);
    let created = match q.created {
        Some(id) => {
            state
                .db
                .run(move |conn| -> Result<_, WebError> {
                    let s = crate::with_conn!(conn, |c| c.find_saved_search(id))?;
                    match s.filter(|s| s.user_id == Some(user.id)) {
                        Some(s) => {
                            let (rows, total, _) = run_search(
                                conn,
                                &s.criteria(),
                                ListingSort::Newest,
                                1,
                                Some(user.id),
                            )?;
                            Ok(Some((s.name, rows.iter().map(Card::of).collect(), total)))
                        }
                        None => Ok(None),
                    }
                })
                .await?
        }
        None => None,
    };
    let mut layout = Layout::new("Saved searches", &visitor);
    layout.notice = notice;
    let page = SavedPage {
        layout,
        searches,
        limit: MAX_ACTIVE_PER_USER,
        error: None,
        created,
    };
    Ok(pages::ok(&visitor, &page))
}

/// The "save this search" form.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SaveForm {
    /// CSRF token.
    pub csrf: String,
    /// The search's query string.
    pub query: String,
    /// Name (blank: a summary of the criteria).
    pub name: String,
}

fn refusal(e: SavedSearchError) -> Result<String, WebError> {
    match e {
        SavedSearchError::Db(e) => Err(e.into()),
        SavedSearchError::NotFound => Err(WebError::NotFound),
        SavedSearchError::LimitReached { .. } => {
            let m = e.to_string();
            let mut chars = m.chars();
            Ok(chars
                .next()
                .map(|c| c.to_uppercase().collect::<String>() + chars.as_str() + ".")
                .unwrap_or_default())
        }
        SavedSearchError::Invalid { field, message } => Ok(format!(
            "This search cannot be saved: {}: {message}.",
            field.replace('_', " ")
        )),
    }
}

/// The name of the user's live saved search with these criteria, if there is one (a second copy
/// would only mail every match twice).
async fn already_saved(
    state: &AppState,
    user_id: i64,
    criteria: &api_types::SearchCriteria,
) -> Result<Option<String>, WebError> {
    let wanted = criteria.normalized();
    let now = crate::db::now_ms();
    let rows = state
        .db
        .run(move |conn| -> Result<_, WebError> {
            Ok(crate::with_conn!(conn, |c| c.list_saved_searches(Owner::User(user_id)))?)
        })
        .await?;
    Ok(rows
        .into_iter()
        .find(|s| s.is_live(now) && s.criteria().normalized() == wanted)
        .map(|s| s.name))
}

/// `POST /saved`.
async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<SaveForm>,
) -> Result<HttpResponse, WebError> {
    let visitor = Visitor::load(&state, &req).await?;
    let user = visitor.require_user()?.clone();
    visitor.check_csrf(&form.csrf)?;
    let search: SearchForm = serde_urlencoded::from_str(&form.query).unwrap_or_default();
    let outcome = match search.parse() {
        Err(errors) => Err(format!(
            "This search cannot be saved: {}.",
            errors
                .all()
                .iter()
                .map(|(f, m)| format!("{}: {m}", f.replace('_', " ")))
                .collect::<Vec<_>>()
                .join("; ")
        )),
        Ok((criteria, _)) => match NewSavedSearch::new(&form.name, &criteria) {
            Err(e) => Err(refusal(e)?),
            Ok(new) => {
                if let Some(same) = already_saved(&state, user.id, &criteria).await? {
                    return refused(
                        &state,
                        &visitor,
                        user.id,
                        format!(
                            "You already save this search as “{same}”: renew or edit that one."
                        ),
                    )
                    .await;
                }
                let now = crate::db::now_ms();
                let r = state
                    .db
                    .run(move |conn| -> Result<_, WebError> {
                        Ok(crate::write_tx!(conn, |c| c.create_saved_search(
                            Owner::User(user.id),
                            &new,
                            now
                        )))
                    })
                    .await?;
                match r {
                    Ok(row) => Ok(row.id),
                    Err(e) => Err(refusal(e)?),
                }
            }
        },
    };
    match outcome {
        Ok(id) => Ok(see_other(&format!("/saved?created={id}"))),
        Err(message) => refused(&state, &visitor, user.id, message).await,
    }
}

/// The list with a refusal at the top (409: nothing was saved).
async fn refused(
    state: &AppState,
    visitor: &Visitor,
    user_id: i64,
    message: String,
) -> Result<HttpResponse, WebError> {
    let page = SavedPage {
        layout: Layout::new("Saved searches", visitor),
        searches: load_list(state, user_id).await?,
        limit: MAX_ACTIVE_PER_USER,
        error: Some(message),
        created: None,
    };
    Ok(visitor.finish(pages::html(actix_web::http::StatusCode::CONFLICT, &page)))
}

async fn owned(state: &AppState, user_id: i64, id: i64) -> Result<SavedSearch, WebError> {
    let s = state
        .db
        .run(move |conn| -> Result<_, WebError> {
            Ok(crate::with_conn!(conn, |c| c.find_saved_search(id))?)
        })
        .await?;
    s.filter(|s| s.user_id == Some(user_id) && s.deleted_at.is_none())
        .ok_or(WebError::NotFound)
}

/// `GET /saved/{id}/edit`.
async fn edit_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    let visitor = Visitor::load(&state, &req).await?;
    let user = visitor.require_user()?.clone();
    let s = owned(&state, user.id, id.into_inner()).await?;
    let page = EditPage {
        layout: Layout::new("Edit saved search", &visitor),
        id: s.id,
        name: s.name.clone(),
        search: FormView::new(SearchForm::from_criteria(&s.criteria()), FieldErrors::new()),
        name_error: None,
    };
    Ok(pages::ok(&visitor, &page))
}

/// The edit form: a name, a CSRF token and the search fields.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct EditForm {
    /// CSRF token.
    pub csrf: String,
    /// Name.
    pub name: String,
    /// The criteria.
    #[serde(flatten)]
    pub search: SearchForm,
}

/// `POST /saved/{id}/edit`.
async fn edit(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let visitor = Visitor::load(&state, &req).await?;
    let user = visitor.require_user()?.clone();
    // Parsed by hand: actix's Form extractor cannot flatten.
    let form: EditForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    visitor.check_csrf(&form.csrf)?;
    let id = id.into_inner();
    owned(&state, user.id, id).await?;
    let invalid = |errors: FieldErrors, name_error: Option<String>| EditPage {
        layout: Layout::new("Edit saved search", &visitor),
        id,
        name: form.name.clone(),
        search: FormView::new(form.search.clone(), errors),
        name_error,
    };
    let criteria = match form.search.parse() {
        Ok((c, _)) => c,
        Err(errors) => return Ok(pages::invalid(&visitor, &invalid(errors, None))),
    };
    let new = match NewSavedSearch::new(&form.name, &criteria) {
        Ok(n) => n,
        Err(SavedSearchError::Invalid { field, message }) => {
            let page = if field == "name" {
                invalid(FieldErrors::new(), Some(message))
            } else {
                let field = if field == "criteria" { "city" } else { &field };
                invalid(FieldErrors::one(field, message), None)
            };
            return Ok(pages::invalid(&visitor, &page));
        }
        Err(e) => return Err(WebError::Internal(e.to_string())),
    };
    let r = state
        .db
        .run(move |conn| -> Result<_, WebError> {
            Ok(crate::write_tx!(conn, |c| c.update_saved_search(
                Owner::User(user.id),
                id,
                &new
            )))
        })
        .await?;
    r.map_err(|e| match e {
        SavedSearchError::NotFound => WebError::NotFound,
        other => WebError::Internal(other.to_string()),
    })?;
    Ok(see_other(&format!("/saved?updated={id}")))
}

/// The "are you sure" page before deleting.
#[derive(Debug, Template)]
#[template(path = "saved_delete.html")]
pub struct DeletePage {
    /// Frame.
    pub layout: Layout,
    /// The search.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// What it searches for.
    pub summary: String,
}

/// `GET /saved/{id}/delete`: asks before deleting.
async fn delete_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    let visitor = Visitor::load(&state, &req).await?;
    let user = visitor.require_user()?.clone();
    let s = owned(&state, user.id, id.into_inner()).await?;
    let view = SavedView::of(&s, crate::db::now_ms());
    let page = DeletePage {
        layout: Layout::new(format!("Delete “{}”?", view.name), &visitor),
        id: view.id,
        name: view.name,
        summary: view.summary,
    };
    Ok(pages::ok(&visitor, &page))
}

/// A form with only the CSRF token.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ActionForm {
    /// CSRF token.
    pub csrf: String,
}

/// `POST /saved/{id}/delete`.
async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, WebError> {
    let visitor = Visitor::load(&state, &req).await?;
    let user = visitor.require_user()?.clone();
    visitor.check_csrf(&form.csrf)?;
    let id = id.into_inner();
    let name = owned(&state, user.id, id).await?.name;
    let r = state
        .db
        .run(move |conn| -> Result<_, WebError> {
            Ok(crate::write_tx!(conn, |c| c.delete_saved_search(Owner::User(user.id), id)))
        })
        .await?;
    r.map_err(|e| match e {
        SavedSearchError::NotFound => WebError::NotFound,
        other => WebError::Internal(other.to_string()),
    })?;
    let query = serde_urlencoded::to_string([("deleted", name.as_str())])
        .map_err(|e| WebError::Internal(e.to_string()))?;
    Ok(see_other(&format!("/saved?{query}")))
}

/// `POST /saved/{id}/renew`.
async fn renew(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, WebError> {
    let visitor = Visitor::load(&state, &req).await?;
    let user = visitor.require_user()?.clone();
    visitor.check_csrf(&form.csrf)?;
    let id = id.into_inner();
    let now = crate::db::now_ms();
    let r = state
        .db
        .run(move |conn| -> Result<_, WebError> {
            Ok(crate::write_tx!(conn, |c| c.renew_saved_search(
                Owner::User(user.id),
                id,
                now
            )))
        })
        .await?;
    match r {
        Ok(_) => Ok(see_other(&format!("/saved?renewed={id}"))),
        Err(e) => {
            let message = refusal(e)?;
            let page = SavedPage {
                layout: Layout::new("Saved searches", &visitor),
                searches: load_list(&state, user.id).await?,
                limit: MAX_ACTIVE_PER_USER,
                error: Some(message),
                created: None,
            };
            Ok(visitor.finish(pages::html(actix_web::http::StatusCode::CONFLICT, &page)))
        }
    }
}
