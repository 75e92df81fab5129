//! Mail: failed and waiting notifications, one mail inspected (its secrets masked), retry and
//! discard: the functions of [`crate::admin::mail`] that `platform mail` calls too.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::action::{ActionPage, perform};
use super::session::{ConsoleVisitor, operator};
use super::{ConsoleError, Layout, html, notice};
use crate::admin::mail::{MailStatus, MailSummary};
use crate::state::AppState;

/// Registers the mail pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/mail", web::get().to(list))
        .route("/mail/{id}", web::get().to(show))
        .route("/mail/{id}/{action}", web::post().to(act));
}

/// The mail page.
#[derive(Debug, Template)]
#[template(path = "console/mail.html")]
pub struct MailPage {
    /// Frame.
    pub layout: Layout,
    /// What waits and failed.
    pub s: MailStatus,
}

/// One mail.
#[derive(Debug, Template)]
#[template(path = "console/mail_one.html")]
pub struct MailOnePage {
    /// Frame.
    pub layout: Layout,
    /// The mail.
    pub m: MailSummary,
    /// Its payload, pretty (secrets masked).
    pub payload: String,
}

/// `?done=`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DoneQuery {
    /// Outcome of the last action.
    pub done: Option<String>,
}

async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<DoneQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let (visitor, _) = operator(&state, &req).await?;
    let s = state
        .db
        .run(|conn| -> Result<_, ConsoleError> { Ok(crate::admin::mail::mail_status(conn, 100)?) })
        .await?;
    let mut layout = visitor.layout("Mail", "mail");
    layout.notice = notice(query.done.as_deref());
    Ok(visitor.finish(html(StatusCode::OK, &MailPage { layout, s })))
}

async fn render(
    state: &AppState,
    visitor: &ConsoleVisitor,
    mut layout: Layout,
    id: i64,
    status: StatusCode,
) -> Result<HttpResponse, ConsoleError> {
    let m = state
        .db
        .run(move |conn| -> Result<_, ConsoleError> { Ok(crate::admin::mail::mail(conn, id)?) })
        .await?;
    layout.title = format!("Mail {id}");
    let payload = serde_json::to_string_pretty(&m.payload).unwrap_or_default();
    Ok(visitor.finish(html(status, &MailOnePage { layout, m, payload })))
}

async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<i64>,
    query: web::Query<DoneQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let (visitor, _) = operator(&state, &req).await?;
    let mut layout = visitor.layout("Mail", "mail");
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
    perform(
        &state,
        &req,
        &form.csrf,
        ActionPage::new(format!("/mail/{id}"), "Mail", "mail"),
        move |conn, actor| {
            use crate::admin::mail;
            Ok(match action.as_str() {
                "retry" => mail::retry_mail(conn, actor, id).map(|_| "retried")?,
                "discard" => mail::discard_mail(conn, actor, id).map(|_| "discarded")?,
                _ => return Err(ConsoleError::NotFound),
            })
        },
        async |visitor, layout, status| render(&state, visitor, layout, id, status).await,
    )
    .await
}
