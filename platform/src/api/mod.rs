//! The agency API on its own port, with mutual TLS: enrolment, certificate renewal, publishing
//! and withdrawing listings, the change feed, search over all listings, agency certificates by
//! serial, and the CA and CRL downloads.

pub mod auth;
mod ca_downloads;
pub mod certificate_events;
pub mod certificates;
pub mod enquiries;
pub mod fallback;
pub mod openapi;
pub mod saved_searches;
pub mod search;
pub mod tls;
pub mod vault;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use api_types::api::{
    AgencyIdentity, AgencyProfile, CertificateResponse, ChangesCount, ChangesPage, EnrollCheck,
    EnrollCheckRequest, EnrollRequest, PresentedCertificate, PublishResponse, RenewRequest,
    StoredListing,
};
use api_types::listing::is_valid_listing_key;
use api_types::{SignatureEnvelope, StandardStatus};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::error::ApiError;
use crate::listings::{
    ListingRefusal, ListingRow, ListingStore, Precondition, PublishError, Published, TakedownRow,
    VerifiedListing,
};
use crate::state::AppState;
pub use auth::AuthenticatedAgency;

/// Largest request body accepted (a listing with a long description and many photo URLs).
pub(crate) const MAX_BODY: usize = 1 << 20;
/// Largest page of the change feed.
const MAX_PAGE: i64 = 1_000;

/// Mounts every route of the agency port.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(MAX_BODY))
        .route("/ca/root.pem", web::get().to(root_pem))
        .route("/ca/chain.pem", web::get().to(chain_pem))
        .route("/ca/crl.pem", web::get().to(crl_pem))
        .configure(ca_downloads::routes)
        .route("/api/openapi.json", web::get().to(openapi::serve))
        .route(
            "/healthz",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .content_type("text/plain; charset=utf-8")
                    .body("ok")
            }),
        )
        .service(
            web::scope("/api/v1")
                .route("/enroll", web::post().to(enroll))
                .route("/enroll/check", web::post().to(enroll_check))
                .route("/agency", web::get().to(whoami))
                .route("/certificates/renew", web::post().to(renew))
                .route("/changes", web::get().to(changes))
                .route("/changes/count", web::get().to(changes_count))
                .route("/listings/{key}", web::put().to(put_listing))
                .route("/listings/{key}", web::get().to(get_listing))
                .route("/listings/{key}", web::delete().to(withdraw_listing))
                .configure(saved_searches::routes)
                .configure(search::routes)
                .configure(certificates::routes)
                .configure(certificate_events::routes)
                .configure(vault::routes)
                .configure(enquiries::routes),
        )
        .default_service(web::to(fallback::no_route));
}

pub(crate) fn pem(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/x-pem-file")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

async fn root_pem(state: web::Data<AppState>) -> HttpResponse {
    pem(state.pki().ca().root_pem().to_owned())
}

async fn chain_pem(state: web::Data<AppState>) -> HttpResponse {
    pem(state.pki().ca().chain_pem())
}

async fn crl_pem(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    let crl = state.db.run(move |conn| st.pki().crl_pem(conn)).await?;
    Ok(pem(crl))
}

/// Parses a JSON body; a problem names the field (dotted path) it is in. Every body of the
/// agency API is a JSON object: serde would also read a struct from an array of its members in
/// order, which no client means, so anything but an object is refused first.
///
/// A number with a fractional part or exponent whose value is a whole number (`3.0`, `1e3`) is
/// read as that whole number: JSON Schema's `integer` (what the OpenAPI document says) takes
/// them, and serde's integers would not.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    parse_json_exact(&whole_numbers_as_integers(body))
}

/// `body` with every number outside strings that is a whole number written with a fraction or
/// exponent (`3.0`, `-2.50e1`, `1e3`) rewritten as an integer, when it fits an `i64`.
fn whole_numbers_as_integers(body: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let is_number_byte = |b: u8| b.is_ascii_digit() || b"+-.eE".contains(&b);
    let mut out: Option<Vec<u8>> = None;
    let (mut i, mut in_string, mut escaped) = (0, false, false);
    while i < body.len() {
        let b = body[i];
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if b == b'-' || b.is_ascii_digit() {
            let end = (i..body.len())
                .find(|&j| !is_number_byte(body[j]))
                .unwrap_or(body.len());
            let token = &body[i..end];
            if token.iter().any(|c| b".eE".contains(c))
                && let Some(whole) = std::str::from_utf8(token)
                    .ok()
                    .and_then(|t| t.parse::<f64>().ok())
                    .filter(|v| v.fract() == 0.0 && v.abs() < 9.0e18)
            {
                let out = out.get_or_insert_with(|| body[..i].to_vec());
                out.extend_from_slice((whole as i64).to_string().as_bytes());
                i = end;
                continue;
            }
            if let Some(out) = &mut out {
                out.extend_from_slice(token);
            }
            i = end;
            continue;
        }
        if let Some(out) = &mut out {
            out.push(b);
        }
        i += 1;
    }
    match out {
        Some(rewritten) => std::borrow::Cow::Owned(rewritten),
        None => std::borrow::Cow::Borrowed(body),
    }
}

/// [`parse_json`] without rewriting numbers: for a body kept exactly as sent (a signed listing).
pub fn parse_json_exact<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let first = body.iter().find(|b| !b" \t\r\n".contains(b));
    if first.is_some_and(|&b| b != b'{') {
        return Err(ApiError::Invalid {
            code: "invalid_json",
            message: "the body must be a JSON object ({...})".into(),
            field: None,
        });
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let syntax = matches!(
            inner.classify(),
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof
        );
        if syntax || path.is_empty() || path == "." || path == "?" {
            invalid_json(&inner)
        } else {
            ApiError::invalid_field(path, inner.to_string())
        }
    })?;
    de.end().map_err(|e| invalid_json(&e))?;
    Ok(value)
}

fn invalid_json(e: &serde_json::Error) -> ApiError {
    ApiError::Invalid {
        code: "invalid_json",
        message: format!("the body is not the expected JSON: {e}"),
        field: None,
    }
}

async fn enroll(state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let request: EnrollRequest = parse_json(&body)?;
    let st = state.clone();
    let (issued, agency) = state
        .db
        .run(move |conn| st.pki().enroll(conn, &request.token, &request.csr))
        .await?;
    tracing::info!(agency = agency.id, serial = %issued.serial, "agency enrolled");
    Ok(HttpResponse::Created().json(certificate_response(&state, &issued, agency.id)))
}

async fn enroll_check(
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request: EnrollCheckRequest = parse_json(&body)?;
    let (agency, expires_at) = state
        .db
        .run(move |conn| crate::pki::enrolment_preview(conn, &request.token))
        .await?;
    Ok(HttpResponse::Ok().json(EnrollCheck {
        agency_id: agency.id,
        agency_name: agency.name,
        expires_at: crate::listings::ms_to_time(expires_at),
    }))
}

fn certificate_response(
    state: &AppState,
    issued: &ca::Issued,
    agency_id: i64,
) -> CertificateResponse {
    CertificateResponse {
        certificate: format!("{}{}", issued.pem, state.pki().ca().issuing_pem()),
        serial: issued.serial.clone(),
        agency_id,
        not_after: Some(issued.not_after),
    }
}

async fn renew(
    state: web::Data<AppState>,
    caller: AuthenticatedAgency,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request: RenewRequest = parse_json(&body)?;
    let st = state.clone();
    let serial = caller.serial.clone();
    let agency_id = caller.agency.id;
    let (issued, _) = state
        .db
        .run(move |conn| st.pki().renew(conn, agency_id, &serial, &request.csr))
        .await?;
    tracing::info!(agency = agency_id, serial = %issued.serial, renewed_from = %caller.serial, "certificate renewed");
    Ok(HttpResponse::Created().json(certificate_response(&state, &issued, agency_id)))
}

async fn whoami(caller: AuthenticatedAgency) -> HttpResponse {
    let info = ca::inspect::parse_certificate_der(&caller.certificate_der).ok();
    let agency = caller.agency;
    HttpResponse::Ok().json(AgencyIdentity {
        agency: AgencyProfile {
            created_at: agency.created_at,
            email: agency.email,
            id: agency.id,
            licence: agency.licence,
            name: agency.name,
            status: agency.status,
            updated_at: agency.updated_at,
        },
        certificate: PresentedCertificate {
            fingerprint: info.as_ref().map(|i| i.fingerprint.to_hex()),
            not_after: info.as_ref().and_then(|i| {
                i.not_after
                    .format(&time::format_description::well_known::Rfc3339)
                    .ok()
            }),
            serial: caller.serial,
        },
    })
}

fn check_key(key: &str) -> Result<(), ApiError> {
    if is_valid_listing_key(key) {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            "ListingKey",
            "a listing key is 1 to 64 letters, digits, '-', '_' or '.'",
        ))
    }
}

/// The body of `PUT` and `DELETE /api/v1/listings/{key}`: the listing object kept exactly as
/// sent (its RFC 8785 form is what the signature covers) and the signature.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignedBody {
    listing: Box<RawValue>,
    signature: SignatureEnvelope,
}

/// Checks a signed listing as sent: the signature over the RFC 8785 form of the listing object
/// with the presenting certificate's key, then the document and its key against the path.
pub fn verify_signed_listing(
    body: &[u8],
    key: &str,
    caller: &AuthenticatedAgency,
) -> Result<VerifiedListing, ApiError> {
    let signed: SignedBody = parse_json_exact(body)?;
    let listing = VerifiedListing::verify(
        signed.listing.get(),
        signed.signature,
        &caller.certificate_der,
        &caller.serial,
    )
    .map_err(refusal_error)?;
    if listing.document().listing_key != key {
        return Err(ApiError::invalid_field(
            "listing.ListingKey",
            format!(
                "the listing's ListingKey {:?} differs from the key in the address {key:?}",
                listing.document().listing_key
            ),
        ));
    }
    Ok(listing)
}

fn refusal_error(refusal: ListingRefusal) -> ApiError {
    match refusal {
        ListingRefusal::Field(e) => ApiError::invalid_field(
            if e.field.is_empty() {
                "listing".to_owned()
            } else {
                format!("listing.{}", e.field)
            },
            e.message,
        ),
        ListingRefusal::SignatureEncoding => {
            ApiError::invalid_field("signature.value", "not standard base64")
        }
        ListingRefusal::BadSignature { canonical_sha256 } => ApiError::BadSignature {
            message: format!(
                "the signature does not verify with the key of the certificate this request came with; \
                 it was checked over the RFC 8785 (JCS) form of the listing object as sent, whose SHA-256 is \
                 {canonical_sha256}: sign exactly those bytes with the agency's current key (docs/agency-api.md, Signatures)"
            ),
            canonical_sha256,
        },
    }
}

fn publish_error(e: PublishError) -> ApiError {
    match e {
        PublishError::TakenDown(_) => ApiError::Forbidden {
            code: "listing_taken_down",
            message: e.to_string(),
        },
        PublishError::Stale { .. } | PublishError::SameTimestamp { .. } => ApiError::Conflict {
            code: "stale_listing",
            message: e.to_string(),
        },
        PublishError::VersionMismatch { ref current, .. } => ApiError::PreconditionFailed {
            code: "version_mismatch",
            message: e.to_string(),
            current_version: current.as_ref().map(|row| row.version),
            current: current
                .as_deref()
                .and_then(|row| stored_listing(row.clone(), None).ok())
                .map(Box::new),
        },
        PublishError::VersionRequired {
            current_version, ..
        } => ApiError::PreconditionRequired {
            code: "if_match_required",
            message: e.to_string(),
            current_version: Some(current_version),
        },
        PublishError::Concurrent(_) => ApiError::Conflict {
            code: "concurrent_change",
            message: e.to_string(),
        },
        PublishError::Db(e) => e.into(),
        other => ApiError::internal(other),
    }
}

fn publish_response(p: &Published) -> PublishResponse {
    PublishResponse {
        listing_key: p.current.listing_key.clone(),
        version: p.current.version,
        outcome: p.outcome,
        sequence: p.sequence,
    }
}

/// The version a `PUT` or `DELETE` of a listing says it edits, from its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asked {
    /// `If-Match: "N"`.
    Version(i64),
    /// `If-None-Match: *`: a first publish.
    Absent,
    /// Neither header (a desk from before versioned publishing).
    Unstated,
}

/// Reads `If-Match` / `If-None-Match`. Only one strong tag as `GET` answers it (`"3"`) is
/// accepted in `If-Match` (`*` would overwrite whatever is there, which is what the header is
/// for preventing), and only `*` in `If-None-Match`.
fn asked_version(req: &actix_web::HttpRequest) -> Result<Asked, ApiError> {
    let header = |name: header::HeaderName| -> Result<Option<String>, ApiError> {
        let mut values = req.headers().get_all(&name);
        let Some(first) = values.next() else {
            return Ok(None);
        };
        let text = first
            .to_str()
            .ok()
            .filter(|_| values.next().is_none())
            .ok_or_else(|| bad_precondition(name.as_str()))?;
        Ok(Some(text.trim().to_owned()))
    };
    match (header(header::IF_MATCH)?, header(header::IF_NONE_MATCH)?) {
        (Some(_), Some(_)) => Err(ApiError::Invalid {
            code: "invalid_precondition",
            message: "send If-Match (a change to the version named) or If-None-Match: * (a first publish), not both".into(),
            field: Some("If-Match".into()),
        }),
        (Some(tag), None) => api_types::api::parse_listing_etag(&tag)
            .map(Asked::Version)
            .ok_or_else(|| bad_precondition("If-Match")),
        (None, Some(tag)) if tag == "*" => Ok(Asked::Absent),
        (None, Some(_)) => Err(bad_precondition("If-None-Match")),
        (None, None) => Ok(Asked::Unstated),
    }
}

fn bad_precondition(name: &str) -> ApiError {
    ApiError::Invalid {
        code: "invalid_precondition",
        message: format!(
            "{name} must be one version as GET answers it in ETag (If-Match: \"3\"), or If-None-Match: * for a first publish"
        ),
        field: Some(name.to_owned()),
    }
}

/// A publish or withdrawal answer, with the new version's `ETag`.
fn published_answer(status: actix_web::http::StatusCode, published: &Published) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((
            header::ETAG,
            api_types::api::listing_etag(published.current.version),
        ))
        .json(publish_response(published))
}

async fn put_listing(
    state: web::Data<AppState>,
    caller: AuthenticatedAgency,
    key: web::Path<String>,
    req: actix_web::HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let key = key.into_inner();
    check_key(&key)?;
    let asked = asked_version(&req)?;
    let listing = web::block({
        let caller = caller.clone();
        let key = key.clone();
        move || verify_signed_listing(&body, &key, &caller)
    })
    .await
    .map_err(ApiError::internal)??;
    let published = publish(&state, &caller, listing, asked, false)
        .await?
        .ok_or_else(|| not_found(&key))?;
    let status = match published.outcome {
        api_types::api::PublishOutcome::Created => actix_web::http::StatusCode::CREATED,
        _ => actix_web::http::StatusCode::OK,
    };
    Ok(published_answer(status, &published))
}

/// Publishes a verified listing (with its alerts, announced after commit) if it is a change of
/// the version `asked` names; with `existing`, only over a listing the agency already has
/// (`Ok(None)` otherwise).
async fn publish(
    state: &web::Data<AppState>,
    caller: &AuthenticatedAgency,
    listing: VerifiedListing,
    asked: Asked,
    existing: bool,
) -> Result<Option<Published>, ApiError> {
    let matcher = state.matcher.clone();
    let agency_id = caller.agency.id;
    let serial = caller.serial.clone();
    let written = state
        .db
        .run(move |conn| {
            crate::write_tx!(conn, |c| -> Result<_, PublishError> {
                if existing
                    && c.find_listing(agency_id, &listing.document().listing_key)?
                        .is_none()
                {
                    return Ok(None);
                }
                let precondition = match asked {
                    Asked::Version(v) => Precondition::Version(v),
                    Asked::Absent => Precondition::Absent,
                    Asked::Unstated => {
                        use crate::pki::CertificateStore;
                        let desk = c.find_certificate(&serial)?.map(|r| r.desk().to_owned());
                        Precondition::SameDesk(desk.unwrap_or(serial.clone()))
                    }
                };
                let published = c.publish_listing(agency_id, &listing, &precondition)?;
                let due = matcher.notify_publish(c, &published, crate::db::now_ms())?;
                Ok(Some((published, due)))
            })
            .map_err(publish_error)
        })
        .await?;
    let Some((published, due)) = written else {
        return Ok(None);
    };
    for event in crate::matching::live::live_events(published.current.id, &due) {
        state.events.publish(event);
    }
    if !due.is_empty() {
        tracing::info!(
            listing = published.current.id,
            due = due.len(),
            "listing matched saved searches"
        );
    }
    Ok(Some(published))
}

async fn get_listing(
    state: web::Data<AppState>,
    caller: AuthenticatedAgency,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = key.into_inner();
    check_key(&key)?;
    let agency_id = caller.agency.id;
    let k = key.clone();
    let found: Option<(ListingRow, Option<TakedownRow>)> = state
        .db
        .run(move |conn| {
            Ok::<_, ApiError>(crate::with_conn!(conn, |c| {
                match c.find_listing(agency_id, &k)? {
                    Some(row) => {
                        let takedown = c.find_takedown(row.id)?;
                        Ok::<_, diesel::result::Error>(Some((row, takedown)))
                    }
                    None => Ok(None),
                }
            })?)
        })
        .await?;
    let (row, takedown) = found.ok_or_else(|| not_found(&key))?;
    let stored = stored_listing(row, takedown.as_ref())?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, api_types::api::listing_etag(stored.version)))
        .json(stored))
}

/// A stored listing as `GET /api/v1/listings/{key}` (and a `version_mismatch`) shows it.
fn stored_listing(
    row: ListingRow,
    takedown: Option<&TakedownRow>,
) -> Result<StoredListing, ApiError> {
    let listing = row
        .object()
        .map_err(|e| ApiError::internal(format!("stored listing {}: {e}", row.id)))?;
    Ok(StoredListing {
        signature: row.signature_envelope(),
        takedown: takedown.and_then(TakedownRow::signed),
        listing_key: row.listing_key,
        version: row.version,
        status: row.status,
        listing,
        certificate_serial: row.cert_serial,
        takedown_reason: row.takedown_reason,
        held_at: row.held_at.map(crate::listings::ms_to_time),
    })
}

fn not_found(key: &str) -> ApiError {
    ApiError::NotFound {
        code: "listing_not_found",
        message: format!("your agency has no listing with key {key:?}"),
    }
}

/// `DELETE /api/v1/listings/{key}`: a withdrawal, which must be signed like a publish: the
/// listing with `StandardStatus: Withdrawn` and a newer `ModificationTimestamp`, so the change
/// feed carries the agency's signed proof and no one else can make a listing disappear.
async fn withdraw_listing(
    state: web::Data<AppState>,
    caller: AuthenticatedAgency,
    key: web::Path<String>,
    req: actix_web::HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let key = key.into_inner();
    check_key(&key)?;
    let asked = asked_version(&req)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::Invalid {
            code: "signature_required",
            message: "a withdrawal must be signed by the agency: send DELETE (or PUT) with the body \
                      {\"listing\": …, \"signature\": …}, the listing being the current document with \
                      StandardStatus \"Withdrawn\" and a newer ModificationTimestamp, signed like a publish"
                .into(),
            field: None,
        });
    }
    let listing = web::block({
        let caller = caller.clone();
        let key = key.clone();
        move || verify_signed_listing(&body, &key, &caller)
    })
    .await
    .map_err(ApiError::internal)??;
    if listing.document().standard_status != StandardStatus::Withdrawn {
        return Err(ApiError::invalid_field(
            "listing.StandardStatus",
            "a withdrawal is the listing with StandardStatus \"Withdrawn\"; other changes are a PUT",
        ));
    }
    let published = publish(&state, &caller, listing, asked, true)
        .await?
        .ok_or_else(|| not_found(&key))?;
    Ok(published_answer(
        actix_web::http::StatusCode::OK,
        &published,
    ))
}

/// `after` and `limit` of a feed route, checked.
#[derive(Debug, Deserialize)]
pub(crate) struct ChangesQuery {
    /// The last sequence number already seen.
    #[serde(default)]
    pub(crate) after: i64,
    /// Page size, 1 to [`MAX_PAGE`].
    pub(crate) limit: Option<i64>,
}

/// Parses and checks a feed route's query string (the listing feed and the certificate events).
pub(crate) fn changes_query(query: &str) -> Result<ChangesQuery, ApiError> {
    let q: ChangesQuery = serde_urlencoded::from_str(query).map_err(|e| ApiError::Invalid {
        code: "invalid_query",
        message: format!("after and limit must be whole numbers: {e}"),
        field: None,
    })?;
    if q.after < 0 {
        return Err(ApiError::invalid_field("after", "must be 0 or more"));
    }
    if let Some(limit) = q.limit
        && !(1..=MAX_PAGE).contains(&limit)
    {
        return Err(ApiError::invalid_field(
            "limit",
            format!("must be between 1 and {MAX_PAGE}"),
        ));
    }
    Ok(q)
}

async fn changes(
    state: web::Data<AppState>,
    _caller: AuthenticatedAgency,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = changes_query(req.query_string())?;
    let limit = q.limit.unwrap_or(500);
    let after = q.after;
    let mut events = state
        .db
        .run(move |conn| {
            Ok::<_, ApiError>(crate::with_conn!(conn, |c| c.changes_after(after, limit + 1))?)
        })
        .await?;
    let has_more = events.len() as i64 > limit;
    events.truncate(limit as usize);
    let next_after = events.last().map_or(after, |e| e.entity_event_sequence);
    Ok(HttpResponse::Ok().json(ChangesPage {
        events,
        next_after,
        has_more,
    }))
}

async fn changes_count(
    state: web::Data<AppState>,
    _caller: AuthenticatedAgency,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = changes_query(req.query_string())?;
    let after = q.after;
    let ((count, latest), certificates_latest) = state
        .db
        .run(move |conn| {
            Ok::<_, ApiError>(crate::with_conn!(conn, |c| {
                use crate::pki::CertificateStore;
                Ok::<_, diesel::result::Error>((
                    c.count_changes_after(after)?,
                    c.latest_certificate_event()?,
                ))
            })?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(ChangesCount {
        after,
        count,
        latest,
        certificates_latest,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_written_as_fractions_read_as_integers_outside_strings_only() {
        let rewritten = whole_numbers_as_integers(
            br#"{"epoch": 175361489.0, "n": -2.50e1, "e": 1e3, "f": 1.5, "s": "3.0", "q": "a\"4.0", "big": 1e300}"#,
        );
        assert_eq!(
            std::str::from_utf8(&rewritten).unwrap(),
            r#"{"epoch": 175361489, "n": -25, "e": 1000, "f": 1.5, "s": "3.0", "q": "a\"4.0", "big": 1e300}"#
        );
        assert!(matches!(
            whole_numbers_as_integers(br#"{"a": 1, "b": [2, 3]}"#),
            std::borrow::Cow::Borrowed(_)
        ));
        #[derive(Debug, Deserialize)]
        struct Epoch {
            epoch: i64,
        }
        let parsed: Epoch = parse_json(br#"{"epoch": -244823.0}"#).unwrap();
        assert_eq!(parsed.epoch, -244823);
    }
}
