//! The audit log: filter by actor (an operator's email), action, object and time; export what
//! the filter selects as JSON lines (one entry per line, `detail` as JSON).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::session::operator;
use super::{ConsoleError, Layout, html, when};
use crate::audit::{AuditEntry, AuditFilter, AuditSearch};
use crate::state::AppState;

/// Most entries on the page.
pub const PAGE_LIMIT: i64 = 200;
/// Most entries in one export.
pub const EXPORT_LIMIT: i64 = 100_000;

/// Registers the audit pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit", web::get().to(page))
        .route("/audit/export", web::get().to(export));
}

/// The filter form (dates as `YYYY-MM-DD`, UTC; `until` inclusive).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AuditQuery {
    /// Actor contains.
    pub actor: String,
    /// Action, or a prefix ending in `.`.
    pub action: String,
    /// Object (subject), exactly.
    pub object: String,
    /// From this day.
    pub since: String,
    /// Up to and with this day.
    pub until: String,
}

impl AuditQuery {
    fn filter(&self) -> Result<AuditFilter, ConsoleError> {
        let day = |s: &str, name: &str| -> Result<Option<i64>, ConsoleError> {
            let s = s.trim();
            if s.is_empty() {
                return Ok(None);
            }
            let format = time::macros::format_description!("[year]-[month]-[day]");
            time::Date::parse(s, &format)
                .map(|d| Some(d.midnight().assume_utc().unix_timestamp() * 1000))
                .map_err(|_| ConsoleError::Invalid(format!("{name} {s:?}: use YYYY-MM-DD")))
        };
        let opt = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(AuditFilter {
            actor: opt(&self.actor),
            action: opt(&self.action),
            subject: opt(&self.object),
            since: day(&self.since, "from")?,
            until: day(&self.until, "until")?.map(|t| t + 86_400_000),
        })
    }

    /// The query string of this filter (for the export link).
    pub fn query_string(&self) -> String {
        serde_urlencoded::to_string([
            ("actor", &self.actor),
            ("action", &self.action),
            ("object", &self.object),
            ("since", &self.since),
            ("until", &self.until),
        ])
        .unwrap_or_default()
    }
}

/// The audit page.
#[derive(Debug, Template)]
#[template(path = "console/audit.html")]
pub struct AuditPage {
    /// Frame.
    pub layout: Layout,
    /// The filter as given.
    pub q: AuditQuery,
    /// The entries, with their time worded.
    pub entries: Vec<(AuditEntry, String)>,
}

async fn search(
    state: &AppState,
    filter: AuditFilter,
    limit: i64,
) -> Result<Vec<AuditEntry>, ConsoleError> {
    state
        .db
        .run(move |conn| -> Result<_, ConsoleError> {
            Ok(crate::with_conn!(conn, |c| c.search_audit(&filter, limit))?)
        })
        .await
}

async fn page(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let (visitor, _) = operator(&state, &req).await?;
    let q = query.into_inner();
    let entries = search(&state, q.filter()?, PAGE_LIMIT)
        .await?
        .into_iter()
        .map(|e| {
            let w = when(e.at);
            (e, w)
        })
        .collect();
    Ok(visitor.finish(html(
        StatusCode::OK,
        &AuditPage {
            layout: visitor.layout("Audit log", "audit"),
            q,
            entries,
        },
    )))
}

async fn export(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let (visitor, _) = operator(&state, &req).await?;
    let entries = search(&state, query.filter()?, EXPORT_LIMIT).await?;
    let mut out = String::new();
    for e in entries {
        let detail: serde_json::Value =
            serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::String(e.detail.clone()));
        let line = serde_json::json!({
            "id": e.id,
            "at": crate::admin::rfc3339(e.at),
            "actor": e.actor,
            "action": e.action,
            "subject": e.subject,
            "detail": detail,
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    Ok(visitor.finish(
        HttpResponse::Ok()
            .content_type("application/x-ndjson; charset=utf-8")
            .insert_header((
                "Content-Disposition",
                "attachment; filename=\"audit.jsonl\"",
            ))
            .body(out),
    ))
}
