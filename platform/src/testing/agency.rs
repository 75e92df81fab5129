//! A test agency: a real key pair, enrolment over the real API, and an HTTPS client that presents
//! the real certificate (mutual TLS) and trusts only the platform's root.

use std::sync::Arc;
use std::time::Duration;

use api_types::{
    ListingDocument, ListingObject, SignatureAlgorithm, SignatureEnvelope, SignedListing,
};
use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// An agency's key and certificate chain as the client would keep them.
#[derive(Debug)]
pub struct TestAgency {
    /// The key (never sent anywhere).
    pub key: ca::keys::PrivateKey,
    /// Leaf then issuing CA, PEM, as enrolment returned it.
    pub chain_pem: String,
    /// Serial of the leaf.
    pub serial: String,
    /// Agency id.
    pub agency_id: i64,
    /// The platform root, PEM.
    pub root_pem: String,
    /// `https://127.0.0.1:PORT`.
    pub base_url: String,
}

/// Downloads the root CA without a client certificate and without trusting the server yet (the
/// caller checks the fingerprint, as a real client does on first contact).
pub fn fetch_root(base_url: &str) -> String {
    super::install_crypto_provider();
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .tls_danger_accept_invalid_certs(true)
        .build()
        .expect("bootstrap client");
    client
        .get(format!("{base_url}/ca/root.pem"))
        .send()
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.text())
        .expect("root.pem")
}

/// A client that trusts only `root_pem` and presents no certificate.
pub fn anonymous_client(root_pem: &str) -> reqwest::blocking::Client {
    client_with(root_pem, None)
}

/// A client that trusts only `root_pem` and presents `chain_pem` with `key_pem`.
pub fn client_with(root_pem: &str, identity: Option<(&str, &str)>) -> reqwest::blocking::Client {
    let config = client_config(root_pem, identity);
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .tls_backend_preconfigured(config)
        .build()
        .expect("mTLS client")
}

/// The TLS configuration of [`client_with`], for tests that speak raw TLS.
pub fn client_config(root_pem: &str, identity: Option<(&str, &str)>) -> rustls::ClientConfig {
    super::install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
        roots
            .add(cert.expect("root PEM"))
            .expect("root certificate");
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots);
    match identity {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => {
            let chain = CertificateDer::pem_slice_iter(chain.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .expect("chain PEM");
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key PEM");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client certificate")
        }
    }
}

impl TestAgency {
    /// Makes a P-256 key, sends a CSR with `token`, and keeps what comes back. Panics with the
    /// platform's answer when enrolment is refused.
    pub fn enroll(base_url: &str, root_pem: &str, token: &str) -> TestAgency {
        let key = ca::keys::PrivateKey::generate_p256().expect("key");
        let response = Self::send_enroll(base_url, root_pem, token, &key.csr_pem("desk").unwrap());
        let status = response.status();
        let body: serde_json::Value = response.json().expect("JSON answer");
        assert_eq!(status, 201, "enrolment refused: {body}");
        let chain_pem = body["certificate"].as_str().unwrap().to_owned();
        TestAgency {
            key,
            serial: body["serial"].as_str().unwrap().to_owned(),
            agency_id: body["agency_id"].as_i64().unwrap(),
            chain_pem,
            root_pem: root_pem.to_owned(),
            base_url: base_url.to_owned(),
        }
    }

    /// Posts an enrolment request as is and returns the answer.
    pub fn send_enroll(
        base_url: &str,
        root_pem: &str,
        token: &str,
        csr: &str,
    ) -> reqwest::blocking::Response {
        anonymous_client(root_pem)
            .post(format!("{base_url}/api/v1/enroll"))
            .json(&serde_json::json!({"token": token, "csr": csr}))
            .send()
            .expect("enrol request")
    }

    /// A client presenting this agency's certificate.
    pub fn client(&self) -> reqwest::blocking::Client {
        client_with(&self.root_pem, Some((&self.chain_pem, &self.key.to_pem())))
    }

    /// `base_url` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The document signed with this agency's key, as the PUT body.
    pub fn sign(&self, doc: &ListingDocument) -> SignedListing {
        let listing = ListingObject::new(doc.clone()).expect("a canonical form");
        let signature = self.signature_over(listing.canonical_bytes());
        SignedListing { listing, signature }
    }

    /// This agency's signature over `bytes`.
    pub fn signature_over(&self, bytes: &[u8]) -> SignatureEnvelope {
        let signature = self.key.sign(bytes).expect("sign");
        SignatureEnvelope {
            algorithm: SignatureAlgorithm::EcdsaP256Sha256,
            value: base64::engine::general_purpose::STANDARD.encode(&signature.bytes),
        }
    }

    /// A body `{"listing": <listing_text>, "signature": …}` with the listing object written as
    /// `listing_text` (any layout) and signed over its RFC 8785 form, as another implementation
    /// would send it (a text without one, e.g. with a member named twice, is signed as is).
    pub fn signed_body(&self, listing_text: &str) -> String {
        let canonical = api_types::canonical::canonicalize_text(listing_text)
            .unwrap_or_else(|_| listing_text.as_bytes().to_vec());
        let signature = serde_json::to_string(&self.signature_over(&canonical)).unwrap();
        format!("{{\"listing\": {listing_text}, \"signature\": {signature}}}")
    }

    /// Sends `body` as is to `method` `/api/v1/listings/{key}`; returns status and JSON body.
    pub fn send(
        &self,
        method: reqwest::Method,
        key: &str,
        body: String,
    ) -> (u16, serde_json::Value) {
        let r = self
            .client()
            .request(method, self.url(&format!("/api/v1/listings/{key}")))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .expect("listing request");
        (
            r.status().as_u16(),
            r.json().unwrap_or(serde_json::Value::Null),
        )
    }

    /// Withdraws the listing as an agency must: `DELETE` with the signed document, marked
    /// Withdrawn and dated `seconds_later` after `doc`.
    pub fn withdraw(&self, doc: &ListingDocument, seconds_later: i64) -> (u16, serde_json::Value) {
        let withdrawn = ListingDocument {
            standard_status: api_types::StandardStatus::Withdrawn,
            modification_timestamp: doc.modification_timestamp
                + time::Duration::seconds(seconds_later),
            ..doc.clone()
        };
        let body = serde_json::to_string(&self.sign(&withdrawn)).unwrap();
        self.send(reqwest::Method::DELETE, &doc.listing_key, body)
    }

    /// PUTs the signed document; returns status and JSON body.
    pub fn publish(&self, doc: &ListingDocument) -> (u16, serde_json::Value) {
        let r = self
            .client()
            .put(self.url(&format!("/api/v1/listings/{}", doc.listing_key)))
            .json(&self.sign(doc))
            .send()
            .expect("publish request");
        (
            r.status().as_u16(),
            r.json().unwrap_or(serde_json::Value::Null),
        )
    }

    /// Sends the signed `doc` with `method` (`PUT` to publish, `DELETE` to withdraw) to its
    /// listing's address with the headers `headers` (e.g. `[("If-Match", "\"2\"")]`); returns
    /// status, JSON body and the `ETag` answered.
    pub fn send_versioned(
        &self,
        method: reqwest::Method,
        doc: &ListingDocument,
        headers: &[(&str, &str)],
    ) -> (u16, serde_json::Value, Option<String>) {
        let mut request = self
            .client()
            .request(
                method,
                self.url(&format!("/api/v1/listings/{}", doc.listing_key)),
            )
            .json(&self.sign(doc));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let r = request.send().expect("listing request");
        let etag = r
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (
            r.status().as_u16(),
            r.json().unwrap_or(serde_json::Value::Null),
            etag,
        )
    }

    /// GETs `path` with this agency's certificate; returns status and JSON body.
    pub fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self.client().get(self.url(path)).send().expect("request");
        (
            r.status().as_u16(),
            r.json().unwrap_or(serde_json::Value::Null),
        )
    }
}
