//! `GET /api/v1/changes/certificates?after=N&limit=M`: the certificate events of the change
//! feed, in a sequence of their own. Every revocation (an operator's, a cascade to a renewal or
//! to the same key, a renewal's first use retiring its predecessor) and every raise of a reason
//! to `key_compromise` is one event, written in the revoking transaction and numbered by a
//! counter row locked there, so events are handed out in commit order and a reader of
//! "everything after N" never misses one. A desk reads them on every sync and stops trusting
//! signatures by a compromised key at once, instead of at its next CRL download.

use actix_web::{HttpResponse, web};
use api_types::api::{CertificateEvent, CertificateEventType, CertificateEventsPage};

use super::{AuthenticatedAgency, changes_query};
use crate::error::ApiError;
use crate::listings::ms_to_time;
use crate::pki::CertificateStore;
use crate::pki::certs::{CertificateEventKind, CertificateEventRow};
use crate::state::AppState;

/// Events per page when `limit` is not given.
const DEFAULT_PAGE: i64 = 500;

/// Mounts the route under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/changes/certificates", web::get().to(certificate_events));
}

/// The wire form of a stored event.
fn event(row: CertificateEventRow) -> CertificateEvent {
    CertificateEvent {
        sequence: row.seq,
        event_type: match CertificateEventKind::from_code(&row.kind) {
            Some(CertificateEventKind::ReasonChanged) => CertificateEventType::ReasonChanged,
            _ => CertificateEventType::Revoked,
        },
        serial: row.serial,
        fingerprint: row.fingerprint,
        agency_id: row.agency_id,
        reason: row.reason,
        revoked_at: ms_to_time(row.revoked_at),
        compromised_since: row.compromised_since.map(ms_to_time),
    }
}

async fn certificate_events(
    state: web::Data<AppState>,
    _caller: AuthenticatedAgency,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = changes_query(req.query_string())?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    let after = q.after;
    let mut rows = state
        .db
        .run(move |conn| {
            Ok::<_, ApiError>(
                crate::with_conn!(conn, |c| c.certificate_events_after(after, limit + 1))?
            )
        })
        .await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_after = rows.last().map_or(after, |e| e.seq);
    Ok(HttpResponse::Ok().json(CertificateEventsPage {
        events: rows.into_iter().map(event).collect(),
        next_after,
        has_more,
    }))
}
