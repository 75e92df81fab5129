//! The OpenAPI 3.1 document of the agency API, served at `GET /api/openapi.json`.
//!
//! Every schema is derived from the api-types structs the routes answer with and read
//! (`utoipa::ToSchema`, feature `openapi` of api-types), so a field added to a wire type is in
//! the document at once. The operations are listed here, once each, with the error codes each
//! route answers; the tests check them against the routes actix registers (both ways, with their
//! methods) and real answers against the documented types.

use actix_web::HttpResponse;
use api_types::SignedListing;
use api_types::api::{
    AgencyIdentity, AgencySavedSearch, AgencySavedSearchRequest, CertificateEventsPage,
    CertificateRecord, CertificateResponse, ChangesCount, ChangesPage, EnrollCheck,
    EnrollCheckRequest, EnrollRequest, ErrorBody, PublishResponse, RenewRequest, SearchPage,
    SearchRequest, StoredListing,
};
use api_types::openapi::collect;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ComponentsBuilder, ObjectBuilder, Type};
use utoipa::openapi::security::{SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Paths, Ref, RefOr, Required,
    ResponseBuilder, Schema,
};

/// What the agency port answers to no client certificate, or to one it refuses.
const AUTH_ERRORS: [(&str, &str); 2] = [
    (
        "401",
        "no certificate, or one that is expired, foreign (certificate_unknown_issuer), not for client authentication (certificate_wrong_usage), unregistered (certificate_unknown) or not the certificate registered under its serial (certificate_mismatch)",
    ),
    ("403", "certificate_revoked or agency_not_active"),
];

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// Anyone (no client certificate).
    Anyone,
    /// An active agency, over mutual TLS.
    Agency,
}

/// The body of an answer.
#[derive(Clone)]
enum Body {
    /// JSON of a schema.
    Json(Box<RefOr<Schema>>),
    /// A media type carrying text or bytes.
    Media(&'static str),
    /// Nothing described.
    Empty,
}

/// One operation as listed below.
struct Op {
    method: HttpMethod,
    path: &'static str,
    summary: &'static str,
    caller: Caller,
    parameters: Vec<utoipa::openapi::path::Parameter>,
    request: Option<RefOr<Schema>>,
    answers: Vec<(&'static str, &'static str, Body)>,
}

/// The document being built: its operations and every schema they refer to.
#[derive(Default)]
struct Builder {
    paths: Paths,
    schemas: Vec<(String, RefOr<Schema>)>,
}

impl Builder {
    /// A reference to `T`'s schema, which (with what it refers to) joins the components.
    fn schema<T: ToSchema>(&mut self) -> RefOr<Schema> {
        collect::<T>(&mut self.schemas);
        RefOr::Ref(Ref::from_schema_name(T::name()))
    }

    fn json<T: ToSchema>(&mut self) -> Body {
        Body::Json(Box::new(self.schema::<T>()))
    }

    fn json_list<T: ToSchema>(&mut self) -> Body {
        let item = self.schema::<T>();
        Body::Json(Box::new(ArrayBuilder::new().items(item).into()))
    }

    fn errors(
        &mut self,
        codes: &[(&'static str, &'static str)],
    ) -> Vec<(&'static str, &'static str, Body)> {
        let error = self.json::<ErrorBody>();
        codes
            .iter()
            .map(|(status, what)| (*status, *what, error.clone()))
            .collect()
    }

    fn add(&mut self, mut op: Op) {
        if op.caller == Caller::Agency {
            let auth = self.errors(&AUTH_ERRORS);
            op.answers.extend(auth);
        }
        let mut operation = OperationBuilder::new().summary(Some(op.summary));
        if op.caller == Caller::Anyone {
            operation = operation.securities(Some(Vec::<SecurityRequirement>::new()));
        }
        for parameter in &op.parameters {
            operation = operation.parameter(parameter.clone());
        }
        if op.request.is_some() {
            let too_large = self.errors(&[(
                "413",
                "body_too_large: the body is over the 1 MiB the agency API accepts",
            )]);
            op.answers.extend(too_large);
        }
        // What every route answers besides its own outcomes: a path parameter that does not
        // parse names nothing (404), a body or query that does not parse is refused (400).
        let has = |place: ParameterIn| {
            op.parameters
                .iter()
                .any(|p| std::mem::discriminant(&p.parameter_in) == std::mem::discriminant(&place))
        };
        let documented = |answers: &[(&str, &str, Body)], status: &str| {
            answers.iter().any(|(s, ..)| *s == status)
        };
        if has(ParameterIn::Path) && !documented(&op.answers, "404") {
            let not_found = self.errors(&[(
                "404",
                "not_found: a path parameter that does not parse, or names nothing",
            )]);
            op.answers.extend(not_found);
        }
        if (op.request.is_some() || has(ParameterIn::Query) || has(ParameterIn::Header))
            && !documented(&op.answers, "400")
        {
            let invalid = self.errors(&[(
                "400",
                "invalid_json, invalid_query, invalid_field or bad_request: the body, query or a header is not what this operation takes (the message and field say what to change)",
            )]);
            op.answers.extend(invalid);
        }
        op.answers.sort_by_key(|(status, ..)| *status);
        if let Some(schema) = op.request {
            operation = operation.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content(
                        "application/json",
                        ContentBuilder::new().schema(Some(schema)).build(),
                    )
                    .build(),
            ));
        }
        for (status, what, body) in op.answers {
            let mut response = ResponseBuilder::new().description(what);
            match body {
                Body::Json(schema) => {
                    response = response.content(
                        "application/json",
                        ContentBuilder::new().schema(Some(*schema)).build(),
                    );
                }
                Body::Media(media) => {
                    let schema = ObjectBuilder::new().schema_type(Type::String);
                    response =
                        response.content(media, ContentBuilder::new().schema(Some(schema)).build());
                }
                Body::Empty => {}
            }
            operation = operation.response(status, response.build());
        }
        self.paths
            .add_path_operation(op.path, vec![op.method], operation.build());
    }
}

fn path_param(name: &str, pattern: &str, description: &str) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(pattern)),
        ))
        .build()
}

fn query_param(
    name: &str,
    default: i64,
    maximum: Option<i64>,
    description: &str,
) -> utoipa::openapi::path::Parameter {
    let minimum = if name == "limit" { 1 } else { 0 };
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(minimum))
                .maximum(maximum)
                .default(Some(default.into())),
        ))
        .build()
}

fn after_param(what: &str) -> utoipa::openapi::path::Parameter {
    query_param("after", 0, None, what)
}

fn limit_param() -> utoipa::openapi::path::Parameter {
    query_param("limit", 500, Some(1000), "events per page")
}

fn key_param() -> utoipa::openapi::path::Parameter {
    path_param(
        "ListingKey",
        "^[A-Za-z0-9._-]{1,64}$",
        "the agency's key for the listing",
    )
}

fn header_param(name: &str, pattern: &str, description: &str) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(pattern)),
        ))
        .build()
}

/// `If-Match`: the version a change was made on, as `GET` answers it in `ETag`.
fn if_match_param(what: &str) -> utoipa::openapi::path::Parameter {
    header_param("If-Match", "^\"[0-9]+\"$", what)
}

fn id_param() -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name("id")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .schema(Some(ObjectBuilder::new().schema_type(Type::Integer)))
        .build()
}

fn op(method: HttpMethod, path: &'static str, caller: Caller, summary: &'static str) -> Op {
    Op {
        method,
        path,
        summary,
        caller,
        parameters: Vec::new(),
        request: None,
        answers: Vec::new(),
    }
}

impl Op {
    fn param(mut self, parameter: utoipa::openapi::path::Parameter) -> Op {
        self.parameters.push(parameter);
        self
    }

    fn body(mut self, schema: RefOr<Schema>) -> Op {
        self.request = Some(schema);
        self
    }

    fn answer(mut self, status: &'static str, what: &'static str, body: Body) -> Op {
        self.answers.push((status, what, body));
        self
    }

    fn answers(mut self, answers: Vec<(&'static str, &'static str, Body)>) -> Op {
        self.answers.extend(answers);
        self
    }
}

/// The CA downloads (no client certificate): path, media type, what.
const CA_FILES: [(&str, &str, &str); 11] = [
    (
        "/ca/root.pem",
        "application/x-pem-file",
        "The root CA certificate (check its SHA-256 fingerprint against the one the operator gave you)",
    ),
    (
        "/ca/chain.pem",
        "application/x-pem-file",
        "Issuing CA then root",
    ),
    (
        "/ca/crl.pem",
        "application/x-pem-file",
        "The current certificate revocation list, signed by the issuing CA",
    ),
    (
        "/ca/root.der",
        "application/pkix-cert",
        "The root CA certificate (DER)",
    ),
    (
        "/ca/issuing.pem",
        "application/x-pem-file",
        "The current issuing CA",
    ),
    (
        "/ca/issuing.der",
        "application/pkix-cert",
        "The current issuing CA (DER)",
    ),
    (
        "/ca/crl.der",
        "application/pkix-crl",
        "The current issuing CA's CRL (DER; what certificates' CRL distribution points name)",
    ),
    (
        "/ca/root-crl.pem",
        "application/x-pem-file",
        "The root's CRL, covering the issuing CAs",
    ),
    (
        "/ca/root-crl.der",
        "application/pkix-crl",
        "The root's CRL (DER)",
    ),
    (
        "/ca/issuing/{file}",
        "application/pkix-cert",
        "An issuing CA (current or retired) by its subject key identifier in hex: {key id}.der or {key id}.pem",
    ),
    (
        "/ca/issuing/{id}/{file}",
        "application/pkix-crl",
        "That issuing CA's CRL: crl.der or crl.pem",
    ),
];

mod enquiries;
mod vault;

/// The document.
pub fn document() -> OpenApi {
    use Caller::{Agency, Anyone};
    use HttpMethod::{Delete, Get, Post, Put};
    let mut b = Builder::default();

    for (path, media, summary) in CA_FILES {
        let mut o = op(Get, path, Anyone, summary).answer("200", "the file", Body::Media(media));
        if path.starts_with("/ca/issuing/") {
            if path.contains("{id}") {
                o = o.param(path_param(
                    "id",
                    "^[0-9A-Fa-f]+$",
                    "subject key identifier, hex",
                ));
            }
            o = o.param(path_param("file", "^.+$", "the file's name"));
            let missing = b.errors(&[(
                "404",
                "no_such_ca (no issuing CA with that key identifier) or no_such_route",
            )]);
            o = o.answers(missing);
        }
        b.add(o);
    }
    b.add(
        op(Get, "/api/openapi.json", Anyone, "This document").answer(
            "200",
            "OpenAPI 3.1",
            Body::Media("application/json"),
        ),
    );
    b.add(
        op(Get, "/healthz", Anyone, "Liveness of the agency port").answer(
            "200",
            "ok",
            Body::Media("text/plain"),
        ),
    );

    let (request, answer) = (b.schema::<EnrollRequest>(), b.json::<CertificateResponse>());
    let errors = b.errors(&[
        ("400", "invalid_json, invalid_field, invalid_csr or key_already_certified (a key the platform certified before)"),
        ("403", "token_unknown, token_used, token_expired, token_voided (a newer token replaced it) or agency_not_active"),
    ]);
    b.add(
        op(
            Post,
            "/api/v1/enroll",
            Anyone,
            "Exchange a one-time enrolment token and a CSR for a client certificate",
        )
        .body(request)
        .answer("201", "the certificate, then the issuing CA", answer)
        .answers(errors),
    );

    let (request, answer) = (b.schema::<EnrollCheckRequest>(), b.json::<EnrollCheck>());
    let errors = b.errors(&[
        ("400", "invalid_json or invalid_field"),
        (
            "403",
            "token_unknown, token_used, token_expired or agency_not_active",
        ),
    ]);
    b.add(
        op(Post, "/api/v1/enroll/check", Anyone, "Which agency a one-time enrolment token enrols into, without spending it (asked by a desk before it enrols, so it never silently changes agency)")
            .body(request)
            .answer("200", "the token's agency", answer)
            .answers(errors),
    );

    let answer = b.json::<AgencyIdentity>();
    b.add(
        op(
            Get,
            "/api/v1/agency",
            Agency,
            "The calling agency and its certificate",
        )
        .answer("200", "agency", answer),
    );

    let (request, answer) = (b.schema::<RenewRequest>(), b.json::<CertificateResponse>());
    let errors = b.errors(&[
        (
            "400",
            "invalid_csr, or renewal_same_key (a key the platform certified before)",
        ),
        ("429", "rate_limited, with Retry-After in seconds"),
    ]);
    b.add(
        op(Post, "/api/v1/certificates/renew", Agency, "A new certificate for a new key; the presented certificate is revoked (superseded) when the new one is first used, and its earlier renewals never used are revoked (superseded) at once. A desk receives at most 3 certificates (enrolment and renewals) per 24 hours")
            .body(request)
            .answer("201", "the new certificate", answer)
            .answers(errors),
    );

    let (request, answer) = (b.schema::<SignedListing>(), b.json::<PublishResponse>());
    let errors = b.errors(&[
        ("400", "invalid_field (field names the JSON path, e.g. listing.ListPrice; `listing` for a member named twice) or bad_signature (canonical_sha256 names the SHA-256 of the RFC 8785 bytes verified)"),
        ("409", "stale_listing (an older ModificationTimestamp than stored, or the same one with other content) or concurrent_change"),
        ("403", "listing_taken_down"),
        ("412", "version_mismatch: the listing is not at the version If-Match names (another desk of the agency changed it), or exists although If-None-Match: * says it should not; current_version and current (the listing as stored, signed) say what it is now"),
        ("428", "if_match_required: no If-Match or If-None-Match, and the listing's current version (current_version) was written by another desk of the agency"),
    ]);
    b.add(
        op(Put, "/api/v1/listings/{ListingKey}", Agency, "Create or replace the agency's listing; the signature covers the RFC 8785 form of the listing object exactly as sent (docs/agency-api.md, Signatures). Status changes are a new document with another StandardStatus; the same content signed with another certificate of the agency is a re-sign. A change names the version it was made on with If-Match (the ETag GET answers); a first publish sends If-None-Match: *. With neither header (desks before versioned publishing) a new listing is created and an existing one changed only when the same desk (certificate lineage) wrote its current version, else 428. The same document from the same certificate again is answered unchanged whatever the headers (a retry). Answers carry the new version's ETag")
            .param(key_param())
            .param(if_match_param("the version this change was made on (\"3\")"))
            .param(header_param("If-None-Match", "^\\*$", "* for a first publish: refused with 412 if the agency has the listing already"))
            .body(request.clone())
            .answer("200", "updated, unchanged (a retry) or resigned", answer.clone())
            .answer("201", "created", answer.clone())
            .answers(errors),
    );
    let stored = b.json::<StoredListing>();
    let errors = b.errors(&[
        ("400", "invalid_field (ListingKey)"),
        ("404", "listing_not_found"),
    ]);
    b.add(
        op(Get, "/api/v1/listings/{ListingKey}", Agency, "The agency's own listing as stored (the object exactly as signed), with its signature and, once taken down, the platform's signed take-down statement; held_at is set while it is held out of search and alerts because its signing key was reported compromised (publish it again, signed with a current certificate). Every desk of the agency reads it. The ETag header is its version (\"3\"), to send back in If-Match with a change made on it")
            .param(key_param())
            .answer("200", "the listing", stored)
            .answers(errors),
    );
    let errors = b.errors(&[
        ("400", "signature_required (no body), invalid_field (e.g. listing.StandardStatus is not Withdrawn) or bad_signature"),
        ("404", "listing_not_found"),
        ("409", "stale_listing"),
        ("412", "version_mismatch: the listing is not at the version If-Match names; current_version and current say what it is now"),
        ("428", "if_match_required: no If-Match, and another desk of the agency wrote the current version (current_version)"),
    ]);
    b.add(
        op(Delete, "/api/v1/listings/{ListingKey}", Agency, "Withdraw the listing: the body is the signed listing with StandardStatus Withdrawn and a newer ModificationTimestamp (the change feed carries it as the proof). If-Match names the version withdrawn, as for PUT")
            .param(key_param())
            .param(if_match_param("the version being withdrawn (\"3\")"))
            .body(request)
            .answer("200", "withdrawn (or unchanged)", answer)
            .answers(errors),
    );

    let list = b.json_list::<AgencySavedSearch>();
    b.add(op(Get, "/api/v1/saved-searches", Agency, "The agency's saved searches (tenants' wishes kept on the platform; matches are emailed to the agency)").answer("200", "list of AgencySavedSearch", list));
    let (request, answer) = (
        b.schema::<AgencySavedSearchRequest>(),
        b.json::<AgencySavedSearch>(),
    );
    let errors = b.errors(&[
        ("400", "invalid_field naming criteria.FIELD"),
        ("409", "saved_search_limit"),
    ]);
    b.add(
        op(
            Post,
            "/api/v1/saved-searches",
            Agency,
            "Save a search (30 days, renewable)",
        )
        .body(request.clone())
        .answer("201", "saved", answer.clone())
        .answers(errors),
    );
    let errors = b.errors(&[("404", "saved_search_not_found")]);
    b.add(
        op(
            Put,
            "/api/v1/saved-searches/{id}",
            Agency,
            "Change name and criteria",
        )
        .param(id_param())
        .body(request)
        .answer("200", "changed", answer.clone())
        .answers(errors),
    );
    b.add(
        op(Delete, "/api/v1/saved-searches/{id}", Agency, "Delete")
            .param(id_param())
            .answer("204", "deleted", Body::Empty),
    );
    b.add(
        op(
            Post,
            "/api/v1/saved-searches/{id}/renew",
            Agency,
            "30 more days from now",
        )
        .param(id_param())
        .answer("200", "renewed", answer),
    );

    let answer = b.json::<ChangesPage>();
    let errors = b.errors(&[(
        "400",
        "invalid_query, or invalid_field naming after or limit",
    )]);
    b.add(
        op(Get, "/api/v1/changes", Agency, "Change feed of all agencies' listings after a sequence number (RESO EntityEvent style), oldest first")
            .param(after_param("the last EntityEventSequence already seen"))
            .param(limit_param())
            .answer("200", "a page; pass next_after as after for the next", answer)
            .answers(errors),
    );
    let answer = b.json::<ChangesCount>();
    let errors = b.errors(&[("400", "invalid_query, or invalid_field naming after")]);
    b.add(
        op(Get, "/api/v1/changes/count", Agency, "How many changes follow a sequence number (\"N updates available\"), and the newest certificate-event sequence")
            .param(after_param("the last EntityEventSequence already seen"))
            .answer("200", "count", answer)
            .answers(errors),
    );
    let answer = b.json::<CertificateEventsPage>();
    let errors = b.errors(&[(
        "400",
        "invalid_query, or invalid_field naming after or limit",
    )]);
    b.add(
        op(Get, "/api/v1/changes/certificates", Agency, "Certificate events after a sequence number (their own sequence), oldest first: every revocation, cascades included, and every reason raised to key_compromise. Signatures by a certificate revoked for key_compromise at or after compromised_since (all of them without it) are not to be trusted")
            .param(after_param("the last certificate-event sequence already seen"))
            .param(limit_param())
            .answer("200", "a page; pass next_after as after for the next", answer)
            .answers(errors),
    );

    let (request, answer) = (b.schema::<SearchRequest>(), b.json::<SearchPage>());
    let errors = b.errors(&[(
        "400",
        "invalid_json, or invalid_field naming criteria.FIELD, sort, page or per_page",
    )]);
    b.add(
        op(Post, "/api/v1/search", Agency, "Every agency's active listings matching the criteria (the website's search: same criteria, orders and count cap), a page at a time, in the change feed's listing shape with signature and certificate serial")
            .body(request)
            .answer("200", "a page of results", answer)
            .answers(errors),
    );

    let answer = b.json::<CertificateRecord>();
    let errors = b.errors(&[
        ("400", "invalid_field (serial)"),
        ("404", "certificate_not_found"),
    ]);
    b.add(
        op(Get, "/api/v1/certificates/{serial}", Agency, "A signing certificate by serial (public), with the issuing CA and its status: an agency's (to check a listing's signature) or the platform's document-signing certificate (kind signer, to check a take-down statement)")
            .param(path_param("serial", "^[0-9A-Fa-f]{1,64}$", "serial, hex"))
            .answer("200", "the certificate", answer)
            .answers(errors),
    );

    vault::operations(&mut b);
    enquiries::operations(&mut b);

    let mut schemas = std::mem::take(&mut b.schemas);
    schemas.sort_by(|a, b| a.0.cmp(&b.0));
    schemas.dedup_by(|a, b| a.0 == b.0);
    let components = ComponentsBuilder::new()
        .schemas_from_iter(schemas)
        .security_scheme(
            "agencyCertificate",
            SecurityScheme::MutualTls {
                description: Some(
                    "client certificate issued by the platform CA to an active agency".into(),
                ),
                extensions: None,
            },
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Listing exchange: agency API")
                .version("1")
                .description(Some(
                    "Mutual TLS with a client certificate from the platform's CA on every route except enrolment, the CA and CRL downloads and this document. Errors are {\"error\": {\"code\", \"message\", \"field\"}}.",
                ))
                .build(),
        )
        .paths(b.paths)
        .components(Some(components))
        .security(Some([SecurityRequirement::new(
            "agencyCertificate",
            Vec::<String>::new(),
        )]))
        .build()
}

/// The document as JSON.
pub fn spec() -> serde_json::Value {
    let mut spec = serde_json::to_value(document()).expect("the OpenAPI document serialises");
    bound_integers(&mut spec);
    spec
}

/// Every integer of the API is a 64-bit signed integer (the server reads each into an `i64` or
/// narrower, and refuses what does not fit): each integer schema without bounds gets
/// `format: int64` and the `i64` range, so a value the server cannot read is outside the
/// document too.
fn bound_integers(value: &mut Value) {
    match value {
        Value::Object(members) => {
            let integer = match members.get("type") {
                Some(Value::String(t)) => t == "integer",
                Some(Value::Array(ts)) => ts.iter().any(|t| t == "integer"),
                _ => false,
            };
            if integer {
                let format = members
                    .entry("format")
                    .or_insert_with(|| Value::from("int64"))
                    .as_str()
                    .unwrap_or("int64")
                    .to_owned();
                let unsigned = format.starts_with('u')
                    || members
                        .get("minimum")
                        .and_then(Value::as_i64)
                        .is_some_and(|m| m >= 0);
                let (lowest, highest): (i64, i64) = match (format.trim_start_matches('u'), unsigned)
                {
                    ("int8", false) => (i8::MIN.into(), i8::MAX.into()),
                    ("int8", true) => (0, u8::MAX.into()),
                    ("int16", false) => (i16::MIN.into(), i16::MAX.into()),
                    ("int16", true) => (0, u16::MAX.into()),
                    ("int32", false) => (i32::MIN.into(), i32::MAX.into()),
                    ("int32", true) => (0, u32::MAX.into()),
                    (_, false) => (i64::MIN, i64::MAX),
                    (_, true) => (0, i64::MAX),
                };
                members
                    .entry("minimum")
                    .or_insert_with(|| Value::from(lowest));
                members
                    .entry("maximum")
                    .or_insert_with(|| Value::from(highest));
            }
            for member in members.values_mut() {
                bound_integers(member);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(bound_integers),
        _ => {}
    }
}

/// The document as JSON, built once.
fn cached_spec() -> &'static Value {
    static SPEC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    SPEC.get_or_init(spec)
}

/// `GET /api/openapi.json`.
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok().json(cached_spec())
}

/// The methods (upper case, in the document's order) the document lists for the concrete
/// `path`, a `{name}` segment of a documented path matching any one non-empty segment; empty
/// when no documented path matches.
pub fn methods_at(path: &str) -> Vec<String> {
    let segments: Vec<&str> = path.split('/').collect();
    let mut methods: Vec<String> = Vec::new();
    let Some(paths) = cached_spec()["paths"].as_object() else {
        return methods;
    };
    for (template, operations) in paths {
        let pattern: Vec<&str> = template.split('/').collect();
        let matches = pattern.len() == segments.len()
            && pattern
                .iter()
                .zip(&segments)
                .all(|(p, s)| (p.starts_with('{') && p.ends_with('}') && !s.is_empty()) || p == s);
        if !matches {
            continue;
        }
        for method in operations.as_object().into_iter().flat_map(|o| o.keys()) {
            let method = method.to_ascii_uppercase();
            if ["GET", "PUT", "POST", "DELETE", "PATCH"].contains(&method.as_str())
                && !methods.contains(&method)
            {
                methods.push(method);
            }
        }
    }
    methods
}

/// Checks a real JSON answer of `method path` with status `status` against the schema the
/// document `spec` gives for it: types, enumerations, required members, and no member the
/// document does not name. The error says where the answer departs from the document.
pub fn check_answer(
    spec: &Value,
    method: &str,
    path: &str,
    status: u16,
    answer: &Value,
) -> Result<(), String> {
    let schema = &spec["paths"][path][method.to_ascii_lowercase()]["responses"][status.to_string()]
        ["content"]["application/json"]["schema"];
    if schema.is_null() {
        return Err(format!("{method} {path} documents no JSON answer {status}"));
    }
    check(spec, schema, answer, "")
}

fn check(spec: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .ok_or_else(|| format!("{at}: unknown reference {reference}"))?;
        let target = &spec["components"]["schemas"][name];
        if target.is_null() {
            return Err(format!("{at}: {reference} is not in the document"));
        }
        return check(spec, target, value, at);
    }
    if let Some(options) = schema["oneOf"].as_array() {
        let errors: Vec<String> = options
            .iter()
            .filter_map(|option| check(spec, option, value, at).err())
            .collect();
        if errors.len() == options.len() {
            return Err(errors.join("; "));
        }
    }
    if let Some(all) = schema["allOf"].as_array() {
        for part in all {
            check(spec, part, value, at)?;
        }
    }
    if let Some(values) = schema["enum"].as_array()
        && !values.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {values:?}"));
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let is = |t: &str| match t {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    };
    if !types.is_empty() && !types.iter().any(|t| is(t)) {
        return Err(format!("{at}: {value} is not of type {types:?}"));
    }
    if let Value::Object(members) = value
        && let Some(properties) = schema["properties"].as_object()
    {
        for required in schema["required"].as_array().into_iter().flatten() {
            let name = required.as_str().unwrap_or_default();
            if !members.contains_key(name) {
                return Err(format!("{at}: required member {name} is missing"));
            }
        }
        for (name, member) in members {
            let Some(property) = properties.get(name) else {
                return Err(format!("{at}: member {name} is not in the document"));
            };
            check(spec, property, member, &format!("{at}.{name}"))?;
        }
    }
    if let (Value::Array(items), Some(schema)) = (value, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            check(spec, schema, item, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
