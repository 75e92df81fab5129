//! HTTP hygiene of the website port, as one middleware ([`hygiene`]) in front of every route:
//!
//! * `HEAD` is answered for every `GET` route: the request is routed as a `GET` and its answer
//!   sent with the same status and headers but no body (RFC 9110 §9.3.2);
//! * a method the site does not serve (`TRACE`, `PUT`, `FOO`, …) is `405 Method Not Allowed`
//!   with `Allow: GET, HEAD, POST`, not a 404, and reaches no handler;
//! * with an `https://` public URL every answer carries `Strict-Transport-Security`, so a
//!   browser that has seen the site once never talks to it in clear again (the server says so
//!   with the app data [`Hsts`], from [`sends_hsts`] of `web.public_url`).

use actix_web::HttpResponse;
use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;

/// The methods the website serves.
pub const ALLOWED: &str = "GET, HEAD, POST";

/// What the site sends as `Strict-Transport-Security` under `https://`: a year, subdomains
/// included (the platform's site owns its host name).
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

/// App data: whether answers carry [`HSTS`].
#[derive(Debug, Clone, Copy)]
pub struct Hsts(pub bool);

/// Whether answers carry [`HSTS`]: exactly when the public URL is `https://`.
pub fn sends_hsts(public_url: &str) -> bool {
    public_url
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
}

/// The middleware; see the module documentation.
pub async fn hygiene(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<BoxBody>>, actix_web::Error> {
    let hsts = req.app_data::<Hsts>().is_some_and(|h| h.0);
    let method = req.method().clone();
    // A page read (GET) that sends the visitor to sign in brings them back to it after.
    let wanted = (method == Method::GET || method == Method::HEAD)
        .then(|| req.uri().path_and_query().map(|p| p.as_str().to_owned()))
        .flatten();
    let mut response = if method == Method::GET || method == Method::POST {
        next.call(req)
            .await?
            .map_into_boxed_body()
            .map_into_left_body()
    } else if method == Method::HEAD {
        req.head_mut().method = Method::GET;
        let response = next.call(req).await?;
        // Same status and headers, no body: the length a GET would have had is not known
        // without producing the body, so it is left out rather than sent wrong.
        response
            .map_body(|head, _| {
                head.headers_mut().remove(header::CONTENT_LENGTH);
                BoxBody::new(())
            })
            .map_into_left_body()
    } else {
        let refused = HttpResponse::build(StatusCode::METHOD_NOT_ALLOWED)
            .insert_header((header::ALLOW, ALLOWED))
            .content_type("text/plain; charset=utf-8")
            .body(format!(
                "{method} is not served here; this site answers {ALLOWED}\n"
            ));
        req.into_response(refused).map_into_right_body()
    };
    security_headers(response.headers_mut());
    if let Some(wanted) = wanted
        && response.status() == StatusCode::SEE_OTHER
        && response
            .headers()
            .get(header::LOCATION)
            .is_some_and(|l| l == SIGN_IN)
        && let Ok(query) = serde_urlencoded::to_string([("next", wanted.as_str())])
        && let Ok(value) = header::HeaderValue::from_str(&format!("{SIGN_IN}?{query}"))
    {
        response.headers_mut().insert(header::LOCATION, value);
    }
    if hsts {
        response.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            header::HeaderValue::from_static(HSTS),
        );
    }
    Ok(response)
}

/// The sign-in page, where a page that needs a signed-in visitor sends others.
pub const SIGN_IN: &str = "/account/sign-in";

/// Where to go after signing in: `next` when it is a page of this site (a path, not `//host` or
/// `/\\host`, which browsers read as another site), else the home page.
pub fn safe_next(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.contains(['\r', '\n'])
        && !next.starts_with("/account/sign-");
    if local { next } else { "/" }
}

/// The content security policy of every page: nothing from elsewhere but images (agencies'
/// photo addresses), no inline script or style, no framing.
pub const CSP: &str = "default-src 'self'; img-src * data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'";

/// Adds the site's security headers to an answer that does not set its own: every page, error
/// and the unsubscribe pages alike.
fn security_headers(headers: &mut header::HeaderMap) {
    let defaults = [
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CONTENT_SECURITY_POLICY, CSP),
    ];
    for (name, value) in defaults {
        if !headers.contains_key(&name) {
            headers.insert(name, header::HeaderValue::from_static(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::{TestRequest, call_service, init_service, read_body};
    use actix_web::{App, middleware, web};

    use super::*;

    async fn page() -> HttpResponse {
        HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body("<p>a page</p>")
    }

    async fn private() -> HttpResponse {
        HttpResponse::SeeOther()
            .insert_header((header::LOCATION, SIGN_IN))
            .finish()
    }

    /// A site with a GET page at `/` and a POST form at `/form`, under `public_url`.
    macro_rules! site {
        ($public_url:expr) => {
            init_service(
                App::new()
                    .app_data(Hsts(sends_hsts($public_url)))
                    .wrap(middleware::from_fn(hygiene))
                    .route("/", web::get().to(page))
                    .route("/form", web::post().to(page))
                    .route("/private", web::get().to(private))
                    .route("/private", web::post().to(private)),
            )
            .await
        };
    }

    #[actix_web::test]
    async fn a_page_that_asks_to_sign_in_is_returned_to_after_and_every_answer_has_security_headers()
     {
        let app = site!("http://127.0.0.1:8080");
        let res = call_service(
            &app,
            TestRequest::get()
                .uri("/private?tab=saved&x=1")
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let to = res
            .headers()
            .get(header::LOCATION)
            .unwrap()
            .to_str()
            .unwrap();
        assert_eq!(to, "/account/sign-in?next=%2Fprivate%3Ftab%3Dsaved%26x%3D1");
        for name in [
            header::X_FRAME_OPTIONS,
            header::X_CONTENT_TYPE_OPTIONS,
            header::CONTENT_SECURITY_POLICY,
            header::REFERRER_POLICY,
        ] {
            assert!(res.headers().contains_key(&name), "{name}");
        }
        // A form post has no page to return to.
        let res = call_service(&app, TestRequest::post().uri("/private").to_request()).await;
        assert_eq!(res.headers().get(header::LOCATION).unwrap(), SIGN_IN);
        // Only this site's pages are followed after signing in.
        assert_eq!(safe_next("/saved?x=1"), "/saved?x=1");
        for evil in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "",
            "saved",
            "/account/sign-in",
        ] {
            assert_eq!(safe_next(evil), "/", "{evil}");
        }
    }

    #[actix_web::test]
    async fn head_answers_like_get_without_a_body() {
        let app = site!("http://127.0.0.1:8080");
        let get = call_service(&app, TestRequest::get().uri("/").to_request()).await;
        assert_eq!(get.status(), StatusCode::OK);
        let head = call_service(
            &app,
            TestRequest::default()
                .method(Method::HEAD)
                .uri("/")
                .to_request(),
        )
        .await;
        assert_eq!(head.status(), StatusCode::OK);
        assert_eq!(
            head.headers().get(header::CONTENT_TYPE),
            get.headers().get(header::CONTENT_TYPE)
        );
        assert!(read_body(head).await.is_empty());
        assert_eq!(read_body(get).await.as_ref(), b"<p>a page</p>");
    }

    #[actix_web::test]
    async fn unknown_methods_are_405_with_allow_and_reach_no_handler() {
        let app = site!("http://127.0.0.1:8080");
        for method in ["TRACE", "PUT", "DELETE", "OPTIONS", "FOO"] {
            let req = TestRequest::default()
                .method(Method::from_bytes(method.as_bytes()).unwrap())
                .uri("/form")
                .to_request();
            let res = call_service(&app, req).await;
            assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{method}");
            assert_eq!(res.headers().get(header::ALLOW).unwrap(), ALLOWED);
            let body = read_body(res).await;
            assert!(!body.windows(6).any(|w| w == b"a page"), "{method}");
        }
        // A GET of a POST-only route is still the router's own answer (404 here).
        let res = call_service(&app, TestRequest::get().uri("/form").to_request()).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }

    #[actix_web::test]
    async fn hsts_exactly_under_https() {
        let plain = site!("http://127.0.0.1:8080");
        let res = call_service(&plain, TestRequest::get().uri("/").to_request()).await;
        assert!(
            res.headers()
                .get(header::STRICT_TRANSPORT_SECURITY)
                .is_none()
        );

        let secure = site!("https://homes.example");
        for req in [
            TestRequest::get().uri("/").to_request(),
            TestRequest::get().uri("/missing").to_request(),
            TestRequest::default()
                .method(Method::TRACE)
                .uri("/")
                .to_request(),
        ] {
            let res = call_service(&secure, req).await;
            assert_eq!(
                res.headers()
                    .get(header::STRICT_TRANSPORT_SECURITY)
                    .unwrap(),
                HSTS
            );
        }
        assert!(sends_hsts("HTTPS://homes.example"));
        assert!(!sends_hsts("http://homes.example"));
        assert!(!sends_hsts("https:/"));
    }
}
