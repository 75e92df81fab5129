//! The OpenAPI 3.1 document of the agency API, served at `GET /api/openapi.json`.

use actix_web::HttpResponse;
use serde_json::{Value, json};

fn error_responses(codes: &[(&str, &str)]) -> Value {
    let mut map = serde_json::Map::new();
    for (status, what) in codes {
        map.insert(
            (*status).to_owned(),
            json!({"description": what, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
        );
    }
    Value::Object(map)
}

fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}

/// The document.
pub fn spec() -> Value {
    let auth_errors = error_responses(&[
        (
            "401",
            "no certificate, or one that is expired, foreign (certificate_unknown_issuer), not for client authentication (certificate_wrong_usage), unregistered (certificate_unknown) or not the certificate registered under its serial (certificate_mismatch)",
        ),
        ("403", "certificate_revoked or agency_not_active"),
    ]);
    let json_body = |schema: &str| json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    let ok = |what: &str, schema: &str| json!({"description": what, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    let pem = |what: &str| json!({"description": what, "content": {"application/x-pem-file": {"schema": {"type": "string"}}}});
    let key_param = json!([{"name": "ListingKey", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"}}]);
    let after_param = json!({"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}, "description": "the last EntityEventSequence already seen"});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Listing exchange: agency API",
            "version": "1",
            "description": "Mutual TLS with a client certificate from the platform's CA on every route except enrolment, the CA and CRL downloads and this document. Errors are {\"error\": {\"code\", \"message\", \"field\"}}.",
        },
        "paths": {
            "/ca/root.pem": {"get": {"summary": "The root CA certificate (check its SHA-256 fingerprint against the one the operator gave you)", "security": [], "responses": {"200": pem("PEM")}}},
            "/ca/chain.pem": {"get": {"summary": "Issuing CA then root", "security": [], "responses": {"200": pem("PEM")}}},
            "/ca/crl.pem": {"get": {"summary": "The current certificate revocation list, signed by the issuing CA", "security": [], "responses": {"200": pem("PEM X509 CRL")}}},
            "/api/openapi.json": {"get": {"summary": "This document", "security": [], "responses": {"200": {"description": "OpenAPI 3.1"}}}},
            "/api/v1/enroll": {"post": {
                "summary": "Exchange a one-time enrolment token and a CSR for a client certificate",
                "security": [],
                "requestBody": json_body("EnrollRequest"),
                "responses": with(json!({"201": ok("the certificate, then the issuing CA", "CertificateResponse")}), error_responses(&[("400", "invalid_json, invalid_field, invalid_csr or key_already_certified (a key the platform certified before)"), ("403", "token_unknown, token_used, token_expired, token_voided (a newer token replaced it) or agency_not_active")])),
            }},
            "/api/v1/enroll/check": {"post": {
                "summary": "Which agency a one-time enrolment token enrols into, without spending it (asked by a desk before it enrols, so it never silently changes agency)",
                "security": [],
                "requestBody": json_body("EnrollCheckRequest"),
                "responses": with(json!({"200": ok("the token's agency", "EnrollCheck")}), error_responses(&[("400", "invalid_json or invalid_field"), ("403", "token_unknown, token_used, token_expired or agency_not_active")])),
            }},
            "/api/v1/agency": {"get": {"summary": "The calling agency and its certificate", "responses": with(json!({"200": {"description": "agency"}}), auth_errors.clone())}},
            "/api/v1/certificates/renew": {"post": {
                "summary": "A new certificate for a new key; the presented certificate is revoked (superseded) when the new one is first used, and its earlier renewals never used are revoked (superseded) at once. A desk receives at most 3 certificates (enrolment and renewals) per 24 hours",
                "requestBody": json_body("RenewRequest"),
                "responses": with(json!({"201": ok("the new certificate", "CertificateResponse")}), with(auth_errors.clone(), error_responses(&[("400", "invalid_csr, or renewal_same_key (a key the platform certified before)"), ("429", "rate_limited, with Retry-After in seconds")]))),
            }},
            "/api/v1/listings/{ListingKey}": {
                "parameters": key_param,
                "put": {
                    "summary": "Create or replace the agency's listing; the signature covers the RFC 8785 form of the listing object exactly as sent (docs/agency-api.md, Signatures). Status changes are a new document with another StandardStatus; the same content signed with another certificate of the agency is a re-sign",
                    "requestBody": json_body("SignedListing"),
                    "responses": with(json!({"200": ok("updated, unchanged (a retry) or resigned", "PublishResponse"), "201": ok("created", "PublishResponse")}), with(auth_errors.clone(), error_responses(&[("400", "invalid_field (field names the JSON path, e.g. listing.ListPrice; `listing` for a member named twice) or bad_signature (canonical_sha256 names the SHA-256 of the RFC 8785 bytes verified)"), ("409", "stale_listing (an older ModificationTimestamp than stored, or the same one with other content) or concurrent_change"), ("403", "listing_taken_down")]))),
                },
                "get": {"summary": "The agency's own listing as stored (the object exactly as signed), with its signature and, once taken down, the platform's signed take-down statement; held_at is set while it is held out of search and alerts because its signing key was reported compromised (publish it again, signed with a current certificate)", "responses": with(json!({"200": {"description": "ListingKey, version, status, listing, signature, certificate_serial, takedown_reason, takedown (SignedTakedown)"}}), with(auth_errors.clone(), error_responses(&[("404", "listing_not_found")])))},
                "delete": {
                    "summary": "Withdraw the listing: the body is the signed listing with StandardStatus Withdrawn and a newer ModificationTimestamp (the change feed carries it as the proof)",
                    "requestBody": json_body("SignedListing"),
                    "responses": with(json!({"200": ok("withdrawn (or unchanged)", "PublishResponse")}), with(auth_errors.clone(), error_responses(&[("400", "signature_required (no body), invalid_field (e.g. listing.StandardStatus is not Withdrawn) or bad_signature"), ("404", "listing_not_found"), ("409", "stale_listing")]))),
                },
            },
            "/api/v1/saved-searches": {
                "get": {"summary": "The agency's saved searches (tenants' wishes kept on the platform; matches are emailed to the agency)", "responses": with(json!({"200": {"description": "list of AgencySavedSearch"}}), auth_errors.clone())},
                "post": {"summary": "Save a search (30 days, renewable)", "requestBody": json_body("AgencySavedSearchRequest"), "responses": with(json!({"201": ok("saved", "AgencySavedSearch")}), with(auth_errors.clone(), error_responses(&[("400", "invalid_field naming criteria.FIELD"), ("409", "saved_search_limit")])))},
            },
            "/api/v1/saved-searches/{id}": {
                "put": {"summary": "Change name and criteria", "requestBody": json_body("AgencySavedSearchRequest"), "responses": with(json!({"200": ok("changed", "AgencySavedSearch")}), with(auth_errors.clone(), error_responses(&[("404", "saved_search_not_found")])))},
                "delete": {"summary": "Delete", "responses": with(json!({"204": {"description": "deleted"}}), auth_errors.clone())},
            },
            "/api/v1/saved-searches/{id}/renew": {"post": {"summary": "30 more days from now", "responses": with(json!({"200": ok("renewed", "AgencySavedSearch")}), auth_errors.clone())}},
            "/api/v1/changes": {"get": {
                "summary": "Change feed of all agencies' listings after a sequence number (RESO EntityEvent style), oldest first",
                "parameters": [after_param.clone(), {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 500}}],
                "responses": with(json!({"200": ok("a page; pass next_after as after for the next", "ChangesPage")}), auth_errors.clone()),
            }},
            "/api/v1/search": {"post": {
                "summary": "Every agency's active listings matching the criteria (the website's search: same criteria, orders and count cap), a page at a time, in the change feed's listing shape with signature and certificate serial",
                "requestBody": json_body("SearchRequest"),
                "responses": with(json!({"200": ok("a page of results", "SearchPage")}), with(auth_errors.clone(), error_responses(&[("400", "invalid_json, or invalid_field naming criteria.FIELD, sort, page or per_page")]))),
            }},
            "/api/v1/certificates/{serial}": {"get": {
                "summary": "A signing certificate by serial (public), with the issuing CA and its status: an agency's (to check a listing's signature) or the platform's document-signing certificate (kind signer, to check a take-down statement)",
                "parameters": [{"name": "serial", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[0-9A-Fa-f]{1,64}$"}}],
                "responses": with(json!({"200": ok("the certificate", "CertificateRecord")}), with(auth_errors.clone(), error_responses(&[("400", "invalid_field (serial)"), ("404", "certificate_not_found")]))),
            }},
            "/api/v1/changes/count": {"get": {
                "summary": "How many changes follow a sequence number (\"N updates available\"), and the newest certificate-event sequence",
                "parameters": [after_param.clone()],
                "responses": with(json!({"200": ok("count", "ChangesCount")}), auth_errors.clone()),
            }},
            "/api/v1/changes/certificates": {"get": {
                "summary": "Certificate events after a sequence number (their own sequence), oldest first: every revocation, cascades included, and every reason raised to key_compromise. Signatures by a certificate revoked for key_compromise at or after compromised_since (all of them without it) are not to be trusted",
                "parameters": [{"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}, "description": "the last certificate-event sequence already seen"}, {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 500}}],
                "responses": with(json!({"200": ok("a page; pass next_after as after for the next", "CertificateEventsPage")}), with(auth_errors, error_responses(&[("400", "invalid_query, or invalid_field naming after or limit")]))),
            }},
        },
        "components": {
            "securitySchemes": {"agencyCertificate": {"type": "mutualTLS", "description": "client certificate issued by the platform CA to an active agency"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}, "canonical_sha256": {"type": "string", "description": "bad_signature only: SHA-256 (hex) of the RFC 8785 bytes the signature was checked against"}}}}},
                "EnrollRequest": {"type": "object", "required": ["token", "csr"], "properties": {"token": {"type": "string"}, "csr": {"type": "string", "description": "PKCS#10 PEM; P-256 or Ed25519 key"}}},
                "EnrollCheckRequest": {"type": "object", "required": ["token"], "properties": {"token": {"type": "string"}}},
                "EnrollCheck": {"type": "object", "properties": {"agency_id": {"type": "integer"}, "agency_name": {"type": "string"}, "expires_at": {"type": "string", "format": "date-time"}}},
                "RenewRequest": {"type": "object", "required": ["csr"], "properties": {"csr": {"type": "string"}}},
                "CertificateResponse": {"type": "object", "properties": {"certificate": {"type": "string"}, "serial": {"type": "string"}, "agency_id": {"type": "integer"}, "not_after": {"type": "string", "format": "date-time"}}},
                "SignedListing": {"type": "object", "required": ["listing", "signature"], "properties": {
                    "listing": {"$ref": "#/components/schemas/Listing"},
                    "signature": {"type": "object", "required": ["algorithm", "value"], "properties": {"algorithm": {"enum": ["ECDSA-P256-SHA256", "Ed25519"]}, "value": {"type": "string", "description": "base64 of the signature (ASN.1 DER for ECDSA, 64 bytes for Ed25519) over the RFC 8785 (JCS) form of the listing object exactly as sent"}}},
                }},
                "Listing": {"type": "object", "description": "RESO Data Dictionary names where one fits; served exactly as its agency signed it. No member may appear twice; integers within ±2^53", "required": ["ListingKey", "TransactionType", "PropertyType", "StandardStatus", "City", "ListPrice", "Currency", "Title", "ModificationTimestamp"], "properties": {
                    "ListingKey": {"type": "string"}, "TransactionType": {"enum": ["Sale", "Rent"]},
                    "PropertyType": {"enum": ["Apartment", "House", "Townhouse", "Land", "Commercial", "Parking", "Room", "Other"]}, "StandardStatus": {"enum": ["Active", "UnderOffer", "Sold", "Rented", "Withdrawn"]},
                    "City": {"type": "string"}, "District": {"type": "string"}, "PostalCode": {"type": "string"}, "UnparsedAddress": {"type": "string"},
                    "ListPrice": {"type": "integer"}, "Currency": {"type": "string", "description": "ISO 4217"},
                    "LivingArea": {"type": "number"}, "RoomsTotal": {"type": "integer"}, "BedroomsTotal": {"type": "integer"}, "BathroomsTotalInteger": {"type": "integer"},
                    "Title": {"type": "string"}, "PublicRemarks": {"type": "string"}, "Media": {"type": "array", "items": {"type": "object", "required": ["MediaURL"], "properties": {"MediaURL": {"type": "string", "format": "uri"}}}},
                    "ModificationTimestamp": {"type": "string", "format": "date-time"},
                }},
                "PublishResponse": {"type": "object", "properties": {"ListingKey": {"type": "string"}, "version": {"type": "integer"}, "outcome": {"enum": ["created", "updated", "unchanged", "resigned"]}, "sequence": {"type": "integer"}}},
                "ChangesPage": {"type": "object", "properties": {"events": {"type": "array", "items": {"$ref": "#/components/schemas/ChangeEvent"}}, "next_after": {"type": "integer"}, "has_more": {"type": "boolean"}}},
                "ChangeEvent": {"type": "object", "properties": {
                    "EntityEventSequence": {"type": "integer"}, "EventType": {"enum": ["created", "updated", "status_changed", "withdrawn", "taken_down", "resigned"]},
                    "ListOfficeKey": {"type": "string"}, "ListOfficeName": {"type": "string"}, "ListingKey": {"type": "string"}, "Version": {"type": "integer"},
                    "EventTimestamp": {"type": "string", "format": "date-time"},
                    "Listing": {"$ref": "#/components/schemas/Listing", "description": "the listing as it stands now, exactly as signed (a withdrawn one: its signed Withdrawn document); absent once taken down"},
                    "Signature": {"type": "object", "properties": {"algorithm": {"type": "string"}, "value": {"type": "string"}}},
                    "CertificateSerial": {"type": "string"}, "Status": {"type": "string"},
                    "Takedown": {"$ref": "#/components/schemas/SignedTakedown"},
                }},
                "SignedTakedown": {"type": "object", "description": "an operator's take-down, signed over the RFC 8785 form of Statement by the platform's document-signing certificate (EKU id-kp-documentSigning, SAN urn:listing-exchange:platform)", "properties": {
                    "Statement": {"type": "object", "properties": {"ListOfficeKey": {"type": "string"}, "ListingKey": {"type": "string"}, "Version": {"type": "integer"}, "TakenDownAt": {"type": "string", "format": "date-time"}, "Reason": {"type": "string"}}},
                    "Signature": {"type": "object", "properties": {"algorithm": {"type": "string"}, "value": {"type": "string"}}},
                    "CertificateSerial": {"type": "string", "description": "GET /api/v1/certificates/{serial}"},
                }},
                "AgencySavedSearchRequest": {"type": "object", "required": ["criteria"], "properties": {"name": {"type": "string"}, "criteria": {"$ref": "#/components/schemas/SearchCriteria"}}},
                "AgencySavedSearch": {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "criteria": {"$ref": "#/components/schemas/SearchCriteria"}, "expires_at": {"type": "string", "format": "date-time"}}},
                "SearchCriteria": {"type": "object", "description": "all optional; a listing matches when active and meeting every given criterion", "properties": {"transaction_type": {"enum": ["Sale", "Rent"]}, "city": {"type": "string"}, "district": {"type": "string"}, "property_types": {"type": "array", "items": {"type": "string"}}, "min_price": {"type": "integer"}, "max_price": {"type": "integer"}, "min_living_area": {"type": "number"}, "max_living_area": {"type": "number"}, "min_bedrooms": {"type": "integer"}, "keywords": {"type": "array", "items": {"type": "string"}}}},
                "SearchRequest": {"type": "object", "properties": {
                    "criteria": {"$ref": "#/components/schemas/SearchCriteria"},
                    "sort": {"enum": ["newest", "price_asc", "price_desc"], "default": "newest"},
                    "page": {"type": "integer", "minimum": 1, "default": 1, "description": "page * per_page may reach at most 10,000 results"},
                    "per_page": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50},
                }},
                "ListingRecord": {"type": "object", "description": "a listing in the change feed's shape", "properties": {
                    "ListOfficeKey": {"type": "string"}, "ListOfficeName": {"type": "string"}, "ListingKey": {"type": "string"}, "Version": {"type": "integer"},
                    "Listing": {"$ref": "#/components/schemas/Listing"},
                    "Signature": {"type": "object", "properties": {"algorithm": {"type": "string"}, "value": {"type": "string"}}},
                    "CertificateSerial": {"type": "string"}, "Status": {"type": "string"},
                }},
                "SearchPage": {"type": "object", "properties": {
                    "listings": {"type": "array", "items": {"$ref": "#/components/schemas/ListingRecord"}},
                    "total": {"type": "integer", "description": "matches, counted up to 10,000"},
                    "total_capped": {"type": "boolean", "description": "more than 10,000 match"},
                    "page": {"type": "integer"}, "per_page": {"type": "integer"}, "has_more": {"type": "boolean"},
                }},
                "CertificateRecord": {"type": "object", "properties": {
                    "serial": {"type": "string"}, "kind": {"enum": ["client", "signer"]}, "agency_id": {"type": ["integer", "null"], "description": "null for the platform's signer"},
                    "certificate": {"type": "string", "description": "PEM: the certificate, then the issuing CA"},
                    "status": {"enum": ["valid", "revoked"]}, "revoked_at": {"type": ["string", "null"], "format": "date-time"},
                    "revocation_reason": {"type": ["string", "null"]},
                    "compromised_since": {"type": ["string", "null"], "format": "date-time", "description": "for key_compromise: signatures from this time on are not to be trusted (null: all of them)"},
                    "fingerprint": {"type": "string", "description": "SHA-256 of the certificate's DER, lowercase hex"},
                    "not_before": {"type": "string", "format": "date-time"}, "not_after": {"type": "string", "format": "date-time"},
                }},
                "ChangesCount": {"type": "object", "properties": {"after": {"type": "integer"}, "count": {"type": "integer"}, "latest": {"type": "integer"}, "certificates_latest": {"type": "integer", "description": "the newest certificate-event sequence (0: none)"}}},
                "CertificateEvent": {"type": "object", "required": ["sequence", "event_type", "serial", "fingerprint", "reason", "revoked_at"], "properties": {
                    "sequence": {"type": "integer"}, "event_type": {"enum": ["revoked", "reason_changed"]},
                    "serial": {"type": "string"}, "fingerprint": {"type": "string", "description": "SHA-256 of the certificate's DER, lowercase hex"},
                    "agency_id": {"type": ["integer", "null"]}, "reason": {"type": "string", "description": "RFC 5280 reason, snake_case"},
                    "revoked_at": {"type": "string", "format": "date-time"},
                    "compromised_since": {"type": ["string", "null"], "format": "date-time"},
                }},
                "CertificateEventsPage": {"type": "object", "properties": {"events": {"type": "array", "items": {"$ref": "#/components/schemas/CertificateEvent"}}, "next_after": {"type": "integer"}, "has_more": {"type": "boolean"}}},
            },
        },
        "security": [{"agencyCertificate": []}],
    })
}

/// `GET /api/openapi.json`.
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(spec())
}
