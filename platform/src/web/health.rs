//! `/healthz` (the process is up) and `/readyz` (it can serve: the database answers, and the
//! SMTP server when `mail.ready_requires_smtp`) on the website port; `/metrics` is served by the
//! admin listener only ([`crate::console`]).

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

/// How long `/readyz` waits for its checks, so a load balancer's probe never hangs.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_millis(800);

/// Readiness: 200 when the database answers a query (and, with `mail.ready_requires_smtp`, the
/// SMTP server accepts a connection), 503 with `Retry-After` otherwise. Always answers within a
/// second: a check that has not answered by [`READY_WITHIN`] counts as down.
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let db = state.db.clone();
    let backend = db.backend().name();
    let database = async {
        match tokio::time::timeout(READY_WITHIN, tokio::task::spawn_blocking(move || db.ping()))
            .await
        {
            Ok(Ok(Ok(()))) => None,
            Ok(Ok(Err(e))) => {
                tracing::warn!(error = %e, "readiness check: the database is not answering");
                Some("the database is not answering".to_owned())
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "readiness check task failed");
                Some("the database check failed".to_owned())
            }
            Err(_) => {
                tracing::warn!("readiness check: the database did not answer in time");
                Some("the database is not answering".to_owned())
            }
        }
    };
    let mail = &state.config.mail;
    let smtp = async {
        let host = match (&mail.smtp_host, mail.ready_requires_smtp) {
            (Some(host), true) => host.clone(),
            _ => return None,
        };
        let port = mail.port();
        match tokio::time::timeout(
            READY_WITHIN,
            tokio::net::TcpStream::connect((host.as_str(), port)),
        )
        .await
        {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, host, port, "readiness check: the SMTP server refuses connections");
                Some(format!(
                    "the SMTP server {host}:{port} does not accept connections"
                ))
            }
            Err(_) => {
                tracing::warn!(
                    host,
                    port,
                    "readiness check: the SMTP server did not answer in time"
                );
                Some(format!(
                    "the SMTP server {host}:{port} does not accept connections"
                ))
            }
        }
    };
    let (database, smtp) = tokio::join!(database, smtp);
    let problems: Vec<String> = database.into_iter().chain(smtp).collect();
    if problems.is_empty() {
        return HttpResponse::Ok().json(HealthStatus {
            database: Some(backend.into()),
            error: None,
            status: "ready".into(),
        });
    }
    HttpResponse::ServiceUnavailable()
        .insert_header((
            "Retry-After",
            crate::error::UNAVAILABLE_RETRY_AFTER_SECS.to_string(),
        ))
        .json(HealthStatus {
            database: Some(backend.into()),
            error: Some(problems.join("; ")),
            status: "unavailable".into(),
        })
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

    /// `/readyz` of a fresh state whose mail settings `mail` changes; with the time it took.
    async fn ready_with(
        base: &crate::state::AppState,
        mail: impl FnOnce(&mut crate::config::MailConfig),
    ) -> (u16, bool, serde_json::Value, std::time::Duration) {
        let mut config = (*base.config).clone();
        mail(&mut config.mail);
        let state = crate::state::AppState::new(config, base.db.clone(), base.pki.clone());
        let app = test::init_service(
            App::new()
                .app_data(web::Data::new(state))
                .configure(crate::web::health::routes),
        )
        .await;
        let started = std::time::Instant::now();
        let response =
            test::call_service(&app, test::TestRequest::get().uri("/readyz").to_request()).await;
        let took = started.elapsed();
        let status = response.status().as_u16();
        let retry_after = response.headers().contains_key("retry-after");
        (
            status,
            retry_after,
            test::read_body_json(response).await,
            took,
        )
    }

    crate::db_test!(async readiness_is_red_within_a_second_while_smtp_is_required_and_down, |db| {
        let (_dir, base) = crate::testing::app_state(db);
        // A port nothing listens on: bound, then closed.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let (status, retry_after, body, took) = ready_with(&base, |m| {
            m.smtp_host = Some("127.0.0.1".into());
            m.smtp_port = Some(closed);
            m.ready_requires_smtp = true;
        })
        .await;
        assert!(took < std::time::Duration::from_secs(1), "{took:?}");
        assert_eq!((status, retry_after), (503, true));
        assert_eq!(body["status"], "unavailable");
        assert!(body["error"].as_str().unwrap().contains(&format!("SMTP server 127.0.0.1:{closed}")), "{body}");

        // SMTP up: green. Not required: green whatever SMTP does.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap().port();
        let (status, _, body, _) = ready_with(&base, |m| {
            m.smtp_host = Some("127.0.0.1".into());
            m.smtp_port = Some(open);
            m.ready_requires_smtp = true;
        })
        .await;
        assert_eq!(status, 200, "{body}");
        let (status, _, _, _) = ready_with(&base, |m| {
            m.smtp_host = Some("127.0.0.1".into());
            m.smtp_port = Some(closed);
        })
        .await;
        assert_eq!(status, 200);
    });
}
