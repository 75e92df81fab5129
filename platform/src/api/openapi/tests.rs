//! The document against the routes actix registers, and against answers of the wire types.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use actix_web::App;
use actix_web::dev::Service;
use actix_web::http::Method;
use actix_web::test as actix_test;
use serde_json::{Value, json};

use super::*;

/// Every path pattern in actix's resource map of the agency port, joined with its scope's
/// prefix (actix has no listing of its routes but prints its resource map; the map is the
/// routing table itself).
fn patterns(resource_map: &str) -> BTreeSet<String> {
    // Walk the printed tree: a `ResourceMap {` opens a node whose first `patterns: Single("…")`
    // is its pattern; a node's path is its ancestors' patterns joined.
    let mut found = BTreeSet::new();
    let mut stack: Vec<(usize, Option<String>)> = Vec::new();
    let mut depth = 0usize;
    let bytes = resource_map.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &resource_map[i..];
        if rest.starts_with("ResourceMap {") {
            stack.push((depth + 1, None));
            depth += 1;
            i += "ResourceMap {".len();
            continue;
        }
        if let Some(after) = rest.strip_prefix("patterns: Single(\"") {
            let end = after.find('"').expect("a closed pattern");
            if let Some(top) = stack.last_mut()
                && top.1.is_none()
            {
                top.1 = Some(after[..end].to_owned());
                let path: String = stack.iter().filter_map(|(_, p)| p.as_deref()).collect();
                if !path.is_empty() {
                    found.insert(path);
                }
            }
            i += "patterns: Single(\"".len() + end + 1;
            continue;
        }
        match bytes[i] {
            b'"' => {
                // Skip a string (patterns hold braces).
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' => depth += 1,
            b'}' => {
                if stack.last().is_some_and(|(d, _)| *d == depth) {
                    stack.pop();
                }
                depth -= 1;
            }
            _ => {}
        }
        i += 1;
    }
    found
}

/// `{key}` and `{ListingKey}` alike: a path with its parameters unnamed.
fn unnamed(path: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in path.chars() {
        match c {
            '{' => {
                inside = true;
                out.push_str("{}");
            }
            '}' => inside = false,
            _ if inside => {}
            c => out.push(c),
        }
    }
    out
}

/// A path of the pattern with a plausible value in each parameter.
fn sample(pattern: &str) -> String {
    unnamed(pattern)
        .replace("/ca/issuing/{}/{}", "/ca/issuing/ab/crl.der")
        .replace("/ca/issuing/{}", "/ca/issuing/ab.der")
        .replace("{}", "1")
}

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

/// Every (method, path) the agency port answers, asked of actix: each pattern of its resource
/// map tried with every method; a route is there unless actix answers 405 or the port's
/// `no_such_route`, and it is the pattern actix matched.
async fn registered_routes() -> BTreeSet<(String, String)> {
    let printed = Rc::new(RefCell::new(String::new()));
    let seen = printed.clone();
    let app = actix_test::init_service(
        App::new()
            .wrap_fn(move |req, srv| {
                *seen.borrow_mut() = format!("{:?}", req.resource_map());
                srv.call(req)
            })
            .configure(crate::api::routes),
    )
    .await;
    actix_test::call_service(&app, actix_test::TestRequest::get().uri("/").to_request()).await;
    let patterns = patterns(&printed.borrow());
    assert!(patterns.contains("/api/v1/enroll"), "{patterns:?}");
    let mut routes = BTreeSet::new();
    for pattern in patterns {
        for method in METHODS {
            let request = actix_test::TestRequest::default()
                .method(Method::from_bytes(method.as_bytes()).unwrap())
                .uri(&sample(&pattern))
                .to_request();
            let response = actix_test::call_service(&app, request).await;
            let status = response.status().as_u16();
            // The route that answered (`GET /certificates/renew` is `/certificates/{serial}`).
            let matched = response.request().match_pattern();
            let body = actix_test::read_body(response).await;
            let nowhere = status == 405
                || (status == 404 && String::from_utf8_lossy(&body).contains("no_such_route"));
            if !nowhere {
                let matched = matched.expect("an answering route has a pattern");
                routes.insert((method.to_owned(), unnamed(&matched)));
            }
        }
    }
    routes
}

fn documented_routes(spec: &Value) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in METHODS {
            if item.get(method.to_ascii_lowercase()).is_some() {
                routes.insert((method.to_owned(), unnamed(path)));
            }
        }
    }
    routes
}

#[actix_web::test]
async fn every_route_actix_registers_is_documented_and_every_documented_one_is_there() {
    let registered = registered_routes().await;
    let documented = documented_routes(&spec());
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    let missing: Vec<_> = documented.difference(&registered).collect();
    assert!(
        undocumented.is_empty() && missing.is_empty(),
        "registered but not documented: {undocumented:?}; documented but not registered: {missing:?}"
    );
    // The known shape, so the probing itself is checked.
    assert!(registered.contains(&("PUT".into(), "/api/v1/listings/{}".into())));
    assert!(registered.contains(&("DELETE".into(), "/api/v1/saved-searches/{}".into())));
    assert!(!registered.contains(&("PATCH".into(), "/api/v1/listings/{}".into())));
    assert!(registered.len() >= 30, "{registered:?}");
}

#[test]
fn every_reference_resolves_and_the_security_is_mutual_tls() {
    let spec = spec();
    let text = spec.to_string();
    for reference in text.split("\"$ref\":\"").skip(1) {
        let name = reference
            .split('"')
            .next()
            .unwrap()
            .trim_start_matches("#/components/schemas/");
        assert!(
            spec["components"]["schemas"].get(name).is_some(),
            "{name} is referred to but not in the document"
        );
    }
    assert_eq!(spec["openapi"], "3.1.0");
    // The error body keeps its name and shape (clients read `canonical_sha256` from it).
    let error = &spec["components"]["schemas"]["Error"]["properties"]["error"];
    assert!(
        error["properties"]["canonical_sha256"].is_object(),
        "{error}"
    );
    assert_eq!(
        spec["components"]["securitySchemes"]["agencyCertificate"]["type"],
        "mutualTLS"
    );
    // Enrolment needs no certificate; the rest do.
    assert_eq!(
        spec["paths"]["/api/v1/enroll"]["post"]["security"],
        json!([])
    );
    assert!(
        spec["paths"]["/api/v1/changes"]["get"]
            .get("security")
            .is_none()
    );
    assert_eq!(spec["security"], json!([{"agencyCertificate": []}]));
}

#[test]
fn the_error_codes_keep_their_descriptions() {
    let spec = spec();
    let put = &spec["paths"]["/api/v1/listings/{ListingKey}"]["put"]["responses"];
    assert!(
        put["409"]["description"]
            .as_str()
            .unwrap()
            .contains("stale_listing")
    );
    assert!(
        put["401"]["description"]
            .as_str()
            .unwrap()
            .contains("certificate_mismatch")
    );
    assert_eq!(
        put["400"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Error"
    );
}

#[test]
fn answers_of_the_wire_types_validate_against_the_document() {
    use api_types::api::{ChangeEvent, ChangeKind, ErrorDetail, PublishOutcome};
    use api_types::{ListingDocument, ListingObject};
    let spec = spec();
    let publish = serde_json::to_value(PublishResponse {
        listing_key: "K-1".into(),
        version: 2,
        outcome: PublishOutcome::Updated,
        sequence: Some(7),
    })
    .unwrap();
    check_answer(&spec, "PUT", "/api/v1/listings/{ListingKey}", 200, &publish).unwrap();
    let page = serde_json::to_value(ChangesPage {
        events: vec![ChangeEvent {
            entity_event_sequence: 7,
            event_type: ChangeKind::Created,
            list_office_key: "3".into(),
            list_office_name: "Acme".into(),
            listing_key: "K-1".into(),
            version: 1,
            event_timestamp: time::OffsetDateTime::UNIX_EPOCH,
            listing: Some(ListingObject::new(ListingDocument::example("K-1")).unwrap()),
            signature: None,
            certificate_serial: Some("0a".into()),
            status: "active".into(),
            takedown: None,
        }],
        next_after: 7,
        has_more: false,
    })
    .unwrap();
    check_answer(&spec, "GET", "/api/v1/changes", 200, &page).unwrap();
    let error = serde_json::to_value(ErrorBody {
        error: ErrorDetail {
            code: "bad_signature".into(),
            message: "m".into(),
            field: Some("signature".into()),
            canonical_sha256: Some("ab".into()),
            current_version: None,
            current: None,
        },
    })
    .unwrap();
    check_answer(&spec, "PUT", "/api/v1/listings/{ListingKey}", 400, &error).unwrap();
    // And a departure is caught: a member the document does not name, a wrong type.
    let mut extra = publish.clone();
    extra["colour"] = json!("red");
    assert!(check_answer(&spec, "PUT", "/api/v1/listings/{ListingKey}", 200, &extra).is_err());
    let mut wrong = publish;
    wrong["version"] = json!("two");
    assert!(check_answer(&spec, "PUT", "/api/v1/listings/{ListingKey}", 200, &wrong).is_err());
    let mut bad_listing = page;
    bad_listing["events"][0]["Listing"]["ListPrice"] = json!("cheap");
    assert!(check_answer(&spec, "GET", "/api/v1/changes", 200, &bad_listing).is_err());
}
