//! Users: search website accounts by address; one account with its saved searches (never its
//! password); disable, enable, resend the confirmation link (functions of
//! [`crate::admin::users`]).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::action::{ActionPage, perform};
use super::session::{ConsoleVisitor, operator};
use super::{ConsoleError, Layout, html, notice, when};
use crate::accounts::operator::{UserOverview, UserSummary};
use crate::searches::{Owner, SavedSearch, SavedSearchStore};
use crate::state::AppState;

/// Registers the user pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/users", web::get().to(list))
        .route("/users/{id}", web::get().to(show))
        .route("/users/{id}/{action}", web::post().to(act));
}

/// `?q=`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UserQuery {
    /// Address contains.
    pub q: String,
}

/// The search page.
#[derive(Debug, Template)]
#[template(path = "console/users.html")]
pub struct UsersPage {
    /// Frame.
    pub layout: Layout,
    /// The search as given.
    pub q: String,
    /// Matching accounts (at most 200), with their registration worded.
    pub rows: Vec<(UserSummary, String)>,
}

async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<UserQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let (visitor, _) = operator(&state, &req).await?;
    let q = query.into_inner().q;
    let text = q.clone();
    let rows = state
        .db
        .run(move |conn| -> Result<_, ConsoleError> {
            Ok(crate::with_conn!(conn, |c| c.search_users(&text, 200))?)
        })
        .await?
        .into_iter()
        .map(|u| {
            let w = when(u.created_at);
            (u, w)
        })
        .collect();
    Ok(visitor.finish(html(
        StatusCode::OK,
        &UsersPage {
            layout: visitor.layout("Users", "users"),
            q,
            rows,
        },
    )))
}

/// One account.
#[derive(Debug, Template)]
#[template(path = "console/user.html")]
pub struct UserPage {
    /// Frame.
    pub layout: Layout,
    /// The account.
    pub u: UserSummary,
    /// Registered, worded.
    pub registered: String,
    /// Its saved searches (live or not), with their end worded.
    pub searches: Vec<(SavedSearch, String)>,
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
    let (u, searches) = state
        .db
        .run(move |conn| -> Result<_, ConsoleError> {
            Ok(crate::with_conn!(conn, |c| {
                let u = c.user_summary(id)?;
                let searches = c.list_saved_searches(Owner::User(id))?;
                Ok::<_, diesel::result::Error>((u, searches))
            })?)
        })
        .await?;
    let u = u.ok_or(ConsoleError::NotFound)?;
    layout.title = format!("User {id}");
    Ok(visitor.finish(html(
        status,
        &UserPage {
            layout,
            registered: when(u.created_at),
            u,
            searches: searches
                .into_iter()
                .map(|s| {
                    let w = when(s.expires_at);
                    (s, w)
                })
                .collect(),
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
    let mut layout = visitor.layout("User", "users");
    layout.notice = notice(query.done.as_deref());
    render(&state, &visitor, layout, path.into_inner(), StatusCode::OK).await
}

/// An action's form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ActionForm {
    /// CSRF token.
    pub csrf: String,
}

async fn act(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(i64, String)>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, ConsoleError> {
    let (id, action) = path.into_inner();
    let public_url = state.config.web.public_url.clone();
    perform(
        &state,
        &req,
        &form.csrf,
        ActionPage::new(format!("/users/{id}"), "User", "users"),
        move |conn, actor| {
            use crate::admin::users;
            Ok(match action.as_str() {
                "disable" => users::set_user_disabled(conn, actor, id, true).map(|_| "disabled")?,
                "enable" => users::set_user_disabled(conn, actor, id, false).map(|_| "enabled")?,
                "resend" => {
                    users::resend_verification(conn, actor, &public_url, id).map(|_| "resent")?
                }
                _ => return Err(ConsoleError::NotFound),
            })
        },
        async |visitor, layout, status| render(&state, visitor, layout, id, status).await,
    )
    .await
}
