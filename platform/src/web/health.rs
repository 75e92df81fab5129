//! `/healthz` (the process is up) and `/readyz` (it can serve: the database answers) on the
//! website port; `/metrics` is served by the admin listener only ([`crate::console`]).

use actix_web::{HttpResponse, get, web};
use api_types::api::HealthStatus;

use crate::state::AppState;

/// Registers the health routes of the website port.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz_handler))
        .service(readyz);
}

/// Liveness: answers as long as the process serves HTTP.
pub async fn healthz_handler() -> HttpResponse {
    HttpResponse::Ok().json(HealthStatus {
        database: None,
        error: None,
        status: "ok".into(),
    })
}

/// Readiness: 200 when the database answers a query, 503 otherwise.
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let db = state.db.clone();
    let backend = db.backend().name();
    let ping = tokio::task::spawn_blocking(move || db.ping()).await;
    match ping {
        Ok(Ok(())) => HttpResponse::Ok().json(HealthStatus {
            database: Some(backend.into()),
            error: None,
            status: "ready".into(),
        }),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(HealthStatus {
                database: Some(backend.into()),
                error: Some("the database is not answering".into()),
                status: "unavailable".into(),
            })
        }
        Err(e) => {
            tracing::error!(error = %e, "readiness check task failed");
            HttpResponse::ServiceUnavailable().json(HealthStatus {
                database: None,
                error: None,
                status: "unavailable".into(),
            })
        }
    }
}

/// Prometheus text exposition of every registered metric (the admin listener's `/metrics`).
pub async fn metrics_handler(state: web::Data<AppState>) -> HttpResponse {
    let (open, idle) = state.db.pool_state();
    state.metrics.db_connections.set(i64::from(open));
    state.metrics.db_idle_connections.set(i64::from(idle));
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.encode())
}

#[cfg(test)]
mod tests {
    use actix_web::{App, test, web};

    crate::db_test!(async health_ready_and_metrics_answer, |db| {
        let (_dir, state) = crate::testing::app_state(db);
        let state = web::Data::new(state);
        let app = test::init_service(
            App::new()
                .app_data(state.clone())
                .wrap(actix_web::middleware::from_fn(crate::http_metrics::track))
                .configure(crate::web::health::routes),
        )
        .await;
        let health = test::call_service(&app, test::TestRequest::get().uri("/healthz").to_request()).await;
        assert_eq!(health.status(), 200);
        let ready: serde_json::Value = test::call_and_read_body_json(
            &app,
            test::TestRequest::get().uri("/readyz").to_request(),
        )
        .await;
        assert_eq!(ready["status"], "ready");
        assert_eq!(ready["database"], db.backend().name());
        // Not on the website port: /metrics is the admin listener's.
        let public = test::call_service(&app, test::TestRequest::get().uri("/metrics").to_request()).await;
        assert_eq!(public.status(), 404);
        let admin = test::init_service(
            App::new()
                .app_data(state.clone())
                .route("/metrics", web::get().to(crate::web::health::metrics_handler)),
        )
        .await;
        let body = test::call_and_read_body(&admin, test::TestRequest::get().uri("/metrics").to_request()).await;
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            text.contains(r#"platform_http_requests_total{server="website",method="GET",route="/healthz",status="200"} 1"#),
            "{text}"
        );
        assert!(text.contains("platform_db_connections"), "{text}");
    });
}
