//! Answers that actix-web writes itself (a body over the limit, a path parameter that does not
//! parse, an extractor's refusal) come as plain text; on the agency port every error is the
//! documented JSON error body. The middleware [`json_errors`] rewrites any error answer that is
//! not JSON into [`ApiError`]'s body with a code for its status, keeping the status (and the
//! text actix gave, for a 400, as the message).

use actix_web::body::{BoxBody, MessageBody, to_bytes_limited};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};

use crate::error::ApiError;

/// The largest piece of actix's own text kept as the message of a 400.
const MAX_TEXT: usize = 512;

/// The middleware; see the module documentation.
pub async fn json_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let response = next.call(req).await?;
    let status = response.status();
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json || !(status.is_client_error() || status.is_server_error()) {
        return Ok(response.map_into_boxed_body());
    }
    let (req, res) = response.into_parts();
    let text = match to_bytes_limited(res.into_body(), MAX_TEXT).await {
        Ok(Ok(bytes)) => String::from_utf8_lossy(&bytes).trim().to_owned(),
        _ => String::new(),
    };
    Ok(ServiceResponse::new(req, answer(status, &text)))
}

/// The agency port's answer to a request no route takes: when the OpenAPI document lists the
/// path with other methods, 405 with `Allow` naming them (a `method_not_allowed` error body);
/// otherwise 404 `no_such_route`. The document is the route table's twin (its tests check both
/// ways), so `Allow` says exactly what the port serves.
pub async fn no_route(req: actix_web::HttpRequest) -> HttpResponse {
    let allowed = super::openapi::methods_at(req.path());
    if allowed.is_empty() {
        return ApiError::NotFound {
            code: "no_such_route",
            message: "no such route on the agency API; see /api/openapi.json".into(),
        }
        .error_response();
    }
    let allow = allowed.join(", ");
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, allow.clone()))
        .json(api_types::api::ErrorBody {
            error: api_types::api::ErrorDetail {
                code: "method_not_allowed".to_owned(),
                message: format!(
                    "{} is not served at this path; it answers {allow} (see /api/openapi.json)",
                    req.method()
                ),
                field: None,
                canonical_sha256: None,
                current_version: None,
                current: None,
            },
        })
}

/// The JSON answer for an error status actix produced, `text` being what it wrote.
pub fn answer(status: StatusCode, text: &str) -> HttpResponse {
    let error = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge {
            message: format!(
                "the body is larger than the {} KiB the agency API accepts",
                super::MAX_BODY / 1024
            ),
        },
        StatusCode::NOT_FOUND => ApiError::NotFound {
            code: "not_found",
            message: "no such resource on the agency API (a path parameter that does not parse \
                      names nothing); see /api/openapi.json"
                .into(),
        },
        StatusCode::METHOD_NOT_ALLOWED => ApiError::NotFound {
            code: "no_such_route",
            message: "no such route on the agency API; see /api/openapi.json".into(),
        },
        s if s.is_client_error() => ApiError::Invalid {
            code: "bad_request",
            message: if text.is_empty() {
                "the request is not one the agency API accepts; see /api/openapi.json".into()
            } else {
                format!("the request is not one the agency API accepts: {text}")
            },
            field: None,
        },
        _ => ApiError::internal(format!("{status}: {text}")),
    };
    error.error_response()
}

#[cfg(test)]
mod tests {
    use actix_web::test::{TestRequest, call_service, init_service, read_body};
    use actix_web::{App, middleware, web};
    use api_types::api::ErrorBody;

    use super::*;

    async fn by_id(id: web::Path<i64>) -> HttpResponse {
        HttpResponse::Ok().body(id.to_string())
    }

    async fn echo(body: web::Bytes) -> HttpResponse {
        HttpResponse::Ok().body(body)
    }

    async fn refused() -> Result<HttpResponse, ApiError> {
        Err(ApiError::invalid_field("x", "is wrong"))
    }

    #[actix_web::test]
    async fn actix_own_error_answers_become_the_json_error_body() {
        let app = init_service(
            App::new()
                .wrap(middleware::from_fn(json_errors))
                .app_data(web::PayloadConfig::new(16))
                .route("/things/{id}", web::get().to(by_id))
                .route("/echo", web::post().to(echo))
                .route("/refused", web::get().to(refused)),
        )
        .await;
        let cases = [
            (
                TestRequest::get().uri("/things/abc").to_request(),
                404,
                "not_found",
            ),
            (
                TestRequest::post()
                    .uri("/echo")
                    .set_payload(vec![b'x'; 64])
                    .to_request(),
                413,
                "body_too_large",
            ),
            (
                TestRequest::get().uri("/refused").to_request(),
                400,
                "invalid_field",
            ),
        ];
        for (req, status, code) in cases {
            let res = call_service(&app, req).await;
            assert_eq!(res.status().as_u16(), status, "{code}");
            assert_eq!(
                res.headers().get(header::CONTENT_TYPE).unwrap(),
                "application/json",
                "{code}"
            );
            let body: ErrorBody = serde_json::from_slice(&read_body(res).await).unwrap();
            assert_eq!(body.error.code, code);
            assert!(!body.error.message.is_empty());
        }
        // Success answers pass untouched.
        let res = call_service(&app, TestRequest::get().uri("/things/7").to_request()).await;
        assert_eq!(res.status(), 200);
        assert_eq!(read_body(res).await.as_ref(), b"7");
    }

    #[test]
    fn a_plain_400_keeps_actix_text_as_its_message() {
        let res = answer(
            StatusCode::BAD_REQUEST,
            "Query deserialize error: invalid digit",
        );
        assert_eq!(res.status(), 400);
    }
}
