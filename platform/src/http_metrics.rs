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

/// The method as a metrics label, from a fixed set: any other method (anyone can send `FOO`)
/// counts as `other`, so requests cannot grow the label sets.
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// Middleware: counts and times every request.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let method = method_label(req.method());
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

#[cfg(test)]
mod tests {
    use actix_web::http::Method;

    use super::method_label;

    #[test]
    fn method_labels_come_from_a_fixed_set() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::HEAD), "HEAD");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        for odd in ["TRACE", "FOO", "BREW", "get"] {
            assert_eq!(
                method_label(&Method::from_bytes(odd.as_bytes()).unwrap()),
                "other"
            );
        }
    }
}
