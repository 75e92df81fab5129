//! The HTTP middleware that counts requests by server, method, matched route pattern (never the
//! raw path, to keep label sets small) and status, and times them, into the [`Metrics`](crate::metrics::Metrics) of the
//! [`AppState`] the server carries.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;

use crate::metrics::{RequestLabels, RouteLabels};
use crate::state::AppState;

/// Which server a request came through, stored as app data on each server.
#[derive(Debug, Clone, Copy)]
pub struct ServerName(pub &'static str);

/// Middleware: counts and times every request.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let method = req.method().to_string();
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.metrics.clone());
    let server = req.app_data::<ServerName>().map_or("website", |s| s.0);
    let response = next.call(req).await?;
    if let Some(metrics) = metrics {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        metrics
            .http_requests
            .get_or_create(&RequestLabels {
                server,
                method,
                route: route.clone(),
                status: response.status().as_u16(),
            })
            .inc();
        metrics
            .http_duration
            .get_or_create(&RouteLabels { server, route })
            .observe(start.elapsed().as_secs_f64());
    }
    Ok(response)
}
