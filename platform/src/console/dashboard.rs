//! The dashboard: the platform at a glance (see [`crate::admin::overview`]), the health of the
//! database and the SMTP server, and the last day as small SVG charts.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::session::operator;
use super::{ConsoleError, Layout, html, when};
use crate::admin::overview::{Overview, overview};
use crate::state::AppState;

/// Registers the dashboard.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(dashboard));
}

/// A health line: what, in words, and whether it is fine.
#[derive(Debug, Clone)]
pub struct Health {
    /// What was checked.
    pub what: &'static str,
    /// OK or not.
    pub ok: bool,
    /// What was found.
    pub detail: String,
}

/// The dashboard page.
#[derive(Debug, Template)]
#[template(path = "console/dashboard.html")]
pub struct DashboardPage {
    /// Frame.
    pub layout: Layout,
    /// The figures.
    pub o: Overview,
    /// The match index: its size and last rebuild.
    pub matcher: MatcherFigures,
    /// Database and SMTP.
    pub health: Vec<Health>,
    /// Charts as inline SVG (made of numbers and escaped labels only).
    pub charts: Vec<(String, u64, String)>,
    /// Audit entries' times, worded.
    pub audit_when: Vec<String>,
}

/// The match index as the dashboard shows it.
#[derive(Debug, Clone)]
pub struct MatcherFigures {
    /// Saved searches in the index of this node.
    pub searches: usize,
    /// Its heap memory, worded (`1.2 MiB`).
    pub memory: String,
    /// The last full rebuild (at start): when, and how long it took, worded.
    pub rebuilt: Option<(String, String)>,
}

impl MatcherFigures {
    /// Reads `matcher` now.
    pub fn of(matcher: &crate::matching::live::LiveMatcher) -> MatcherFigures {
        let index = matcher.matcher();
        let memory = index.read().memory_bytes();
        MatcherFigures {
            searches: index.len(),
            memory: if memory >= 1 << 20 {
                format!("{:.1} MiB", memory as f64 / f64::from(1 << 20))
            } else {
                format!("{:.1} KiB", memory as f64 / 1024.0)
            },
            rebuilt: matcher
                .last_rebuild()
                .map(|r| (when(r.at_ms), format!("{} ms", r.took.as_millis()))),
        }
    }
}

/// How long the SMTP check may take.
const SMTP_CHECK: Duration = Duration::from_secs(2);

async fn smtp_health(state: &AppState) -> Health {
    let mail = &state.config.mail;
    let Some(host) = mail.smtp_host.clone() else {
        return Health {
            what: "SMTP",
            ok: true,
            detail: "not configured: mail is written as .eml files under the data directory".into(),
        };
    };
    let port = mail.port();
    let target = format!("{host}:{port}");
    match tokio::time::timeout(SMTP_CHECK, tokio::net::TcpStream::connect(&target)).await {
        Ok(Ok(_)) => Health {
            what: "SMTP",
            ok: true,
            detail: format!("{target} accepts connections"),
        },
        Ok(Err(e)) => Health {
            what: "SMTP",
            ok: false,
            detail: format!("{target} refused: {e}"),
        },
        Err(_) => Health {
            what: "SMTP",
            ok: false,
            detail: format!("{target} did not answer within {} s", SMTP_CHECK.as_secs()),
        },
    }
}

async fn dashboard(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let (visitor, _) = operator(&state, &req).await?;
    let db = state.db.clone();
    let ping = tokio::task::spawn_blocking(move || db.ping()).await;
    let db_health = Health {
        what: "Database",
        ok: matches!(ping, Ok(Ok(()))),
        detail: match ping {
            Ok(Ok(())) => format!("{} answers", state.db.backend().name()),
            Ok(Err(e)) => format!("{} does not answer: {e}", state.db.backend().name()),
            Err(e) => format!("the check failed: {e}"),
        },
    };
    let o = state
        .db
        .run(|conn| -> Result<_, ConsoleError> { Ok(overview(conn, crate::db::now_ms())?) })
        .await?;
    let health = vec![db_health, smtp_health(&state).await];
    let charts = o
        .charts
        .iter()
        .map(|s| (s.label.clone(), s.total(), s.svg()))
        .collect();
    let audit_when = o.recent_audit.iter().map(|e| when(e.at)).collect();
    Ok(visitor.finish(html(
        StatusCode::OK,
        &DashboardPage {
            layout: visitor.layout("Dashboard", "dashboard"),
            matcher: MatcherFigures::of(&state.matcher),
            o,
            health,
            charts,
            audit_when,
        },
    )))
}
