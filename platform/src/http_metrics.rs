//! The HTTP middleware that names each request (`X-Request-Id`), logs one line for it, counts
//! requests by server, method, matched route pattern (never the raw path, to keep label sets
//! small) and status, and times them, into the [`Metrics`](crate::metrics::Metrics) of the
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

/// The header carrying a request's id, both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The request's id: the caller's `X-Request-Id` when it is sane (1 to 64 characters of
/// letters, digits, `-`, `_`, `.`, `:`), else a new random one (16 hex digits).
pub fn request_id(incoming: Option<&actix_web::http::header::HeaderValue>) -> String {
    incoming
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        })
        .map_or_else(|| format!("{:016x}", rand::random::<u64>()), str::to_owned)
}

/// Middleware: gives every request an id (echoed in `X-Request-Id`), counts and times it, and
/// logs one line for it (request id, server, method, route pattern, status, duration, and the
/// agency of the client certificate on the agency port): refused sign-ins and 429s included,
/// since every answer passes here.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let method = method_label(req.method());
    let id = request_id(req.headers().get(REQUEST_ID_HEADER));
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.metrics.clone());
    let server = req.app_data::<ServerName>().map_or("website", |s| s.0);
    let agency = req
        .conn_data::<crate::api::tls::PeerCheck>()
        .and_then(|c| c.0.as_ref().ok())
        .map(|p| p.agency_id);
    let mut response = next.call(req).await?;
    let elapsed = start.elapsed();
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&id) {
        response.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static(REQUEST_ID_HEADER),
            value,
        );
    }
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = response.status().as_u16();
    tracing::info!(
        target: "platform::request",
        request_id = %id,
        server,
        method,
        route = %route,
        status,
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        agency_id = agency,
        "request"
    );
    if let Some(metrics) = metrics {
        if server == "agency"
            && matches!(method, "PUT" | "DELETE")
            && route.starts_with("/api/v1/listings/")
        {
            metrics.publish_duration.observe(elapsed.as_secs_f64());
        }
        metrics
            .http_requests
            .get_or_create(&RequestLabels {
                server,
                method,
                route: route.clone(),
                status,
            })
            .inc();
        metrics
            .http_duration
            .get_or_create(&RouteLabels { server, route })
            .observe(elapsed.as_secs_f64());
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use actix_web::http::Method;

    use super::{method_label, request_id};
    use actix_web::http::header::HeaderValue;

    #[test]
    fn a_sane_request_id_is_kept_and_any_other_replaced() {
        let kept = HeaderValue::from_static("lb-7f3a:0001.x_y");
        assert_eq!(request_id(Some(&kept)), "lb-7f3a:0001.x_y");
        for odd in ["", "has space", "semi;colon", &"a".repeat(65), "quote\"d"] {
            let value = HeaderValue::from_str(odd).unwrap();
            let made = request_id(Some(&value));
            assert_eq!(made.len(), 16, "{odd:?} replaced by {made}");
            assert!(made.bytes().all(|b| b.is_ascii_hexdigit()));
        }
        assert_ne!(request_id(None), request_id(None));
    }

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
