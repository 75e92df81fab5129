// The fuzz targets, shared by the cargo-fuzz crate (`fuzz/fuzz_targets/*.rs`, nightly) and the
// stable harness (`platform/benches/fuzz.rs`, `scripts/fuzz SECONDS`): each takes any bytes and
// must neither panic nor break an invariant (an invariant broken is a panic too).

use api_types::ListingDocument;
use api_types::api::{EnrollRequest, SearchRequest};
use api_types::envelope::Signable;
use api_types::vault::{VaultInit, VaultPush};

/// The names of the targets, in the order the harness runs them.
pub const TARGETS: [&str; 6] = [
    "certificate",
    "csr",
    "listing",
    "search_web",
    "search_api",
    "vault",
];

/// Runs target `name` on `data`; the CA is the one `csr` issues from.
pub fn run(name: &str, ca: &ca::CertificateAuthority, data: &[u8]) {
    match name {
        "certificate" => certificate(data),
        "csr" => csr(ca, data),
        "listing" => listing(data),
        "search_web" => search_web(data),
        "search_api" => search_api(data),
        "vault" => vault(data),
        other => panic!("no fuzz target {other}"),
    }
}

/// Certificate parsing: DER, PEM, chains.
pub fn certificate(data: &[u8]) {
    let _ = ca::inspect::parse_certificate_der(data);
    let text = String::from_utf8_lossy(data);
    if let Ok(info) = ca::inspect::parse_certificate_pem(&text) {
        let _ = info.agency_id();
    }
    let _ = ca::inspect::parse_chain_pem(&text);
    let _ = ca::inspect::Fingerprint::parse(&text);
}

/// A CSR as enrolment and renewal take it: a JSON body, then the CA's signing pipeline (which
/// checks the CSR's signature and key before it signs anything).
pub fn csr(ca: &ca::CertificateAuthority, data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(request) = platform::api::parse_json::<EnrollRequest>(data) {
        let _ = issue(ca, &request.csr);
    }
    if let Ok(issued) = issue(ca, &text) {
        // Whatever the CSR said, the certificate is the profile's.
        let info =
            ca::inspect::parse_certificate_der(&issued.der).expect("an issued certificate parses");
        assert_eq!(info.agency_id().as_deref(), Some("fuzz-agency"));
    }
}

fn issue(ca: &ca::CertificateAuthority, csr_pem: &str) -> Result<ca::Issued, ca::CaError> {
    ca.issue_client(
        csr_pem,
        &ca::ClientProfile::new("fuzz-agency", "Fuzz Homes", 90),
    )
}

/// Listing JSON and its canonical form (RFC 8785): parsing a listing as signed, and the
/// canonical form being a fixed point (canonicalising it again gives the same bytes).
pub fn listing(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(signable) = Signable::<ListingDocument>::parse(text) {
        let canonical = signable.canonical_bytes().to_vec();
        let again = api_types::canonical::canonicalize_text(
            std::str::from_utf8(&canonical).expect("canonical JSON is UTF-8"),
        )
        .expect("canonical JSON canonicalises");
        assert_eq!(again, canonical, "the canonical form is a fixed point");
    }
    if let Ok(canonical) = api_types::canonical::canonicalize_text(text) {
        let again = api_types::canonical::canonicalize_text(
            std::str::from_utf8(&canonical).expect("canonical JSON is UTF-8"),
        )
        .expect("canonical JSON canonicalises");
        assert_eq!(again, canonical, "the canonical form is a fixed point");
    }
}

/// The website's search parameters (the query string of `/search`).
pub fn search_web(data: &[u8]) {
    if let Ok(form) = serde_urlencoded::from_bytes::<platform::web::search::SearchForm>(data)
        && let Ok((criteria, _sort)) = form.parse()
    {
        assert!(
            criteria.validate().is_ok(),
            "the form gives valid criteria: {criteria:?}"
        );
        let _ = criteria.normalized();
    }
}

/// The agency API's search body.
pub fn search_api(data: &[u8]) {
    if let Ok(request) = platform::api::parse_json::<SearchRequest>(data) {
        let _ = request.criteria.validate();
        let _ = request.criteria.normalized();
    }
}

/// The vault's inputs: its request bodies and their base64 fields.
pub fn vault(data: &[u8]) {
    if let Ok(init) = platform::api::parse_json::<VaultInit>(data) {
        let _ = platform::vault::decode("public_key", &init.public_key, 32..=32);
    }
    let _ = platform::api::parse_json::<VaultPush>(data);
    let text = String::from_utf8_lossy(data);
    if let Ok(bytes) = platform::vault::decode("field", &text, 0..=1 << 20) {
        assert!(bytes.len() <= 1 << 20);
    }
}
