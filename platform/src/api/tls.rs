//! TLS of the agency port. The handshake asks every client for a certificate and checks that
//! the client holds its key (the CertificateVerify signature), but lets a connection without an
//! acceptable certificate through to HTTP, so each refusal is a JSON error that says what is wrong
//! (no certificate, foreign CA, expired, wrong key usage) instead of a bare TLS alert. The chain
//! is validated with webpki once per connection, in [`inspect_peer`]; the result rides along with
//! the connection and the [`AuthenticatedAgency`](super::auth::AuthenticatedAgency) extractor
//! enforces it (plus expiry, revocation and the agency's status) on every request. Routes without
//! that extractor (enrolment, CA downloads, OpenAPI) work without a certificate.
//!
//! The server's own certificate comes from a [`ServerCertResolver`] whose certified key is
//! swapped when the CA's upkeep renews it, so a long-running process never serves an expired
//! certificate and needs no restart. The issuing CAs accepted in client chains ([`TrustStore`])
//! are reloaded the same way, so certificates of a new issuing CA work after a rollover.

use std::any::Any;
use std::sync::{Arc, RwLock};

use actix_web::dev::Extensions;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};

/// Why the agency port's TLS identity or configuration could not be set up.
/// The agency port's TLS identity.
#[derive(Debug)]
pub struct ServerIdentity {
    /// Leaf then issuing CA, PEM.
    pub chain_pem: String,
    /// PKCS#8 private key, PEM.
    pub key_pem: zeroize::Zeroizing<String>,
}

impl ServerIdentity {
    /// The leaf certificate, parsed.
    pub fn leaf(&self) -> Result<ca::inspect::CertificateInfo, ca::CaError> {
        ca::inspect::parse_certificate_pem(&self.chain_pem)
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The server certificate chain (`DATA_DIR/tls/server.crt`) is not PEM.
    #[error("server certificate: {0}")]
    Certificate(rustls_pki_types::pem::Error),
    /// The server key (`DATA_DIR/tls/server.key`) is not a PEM private key.
    #[error("server key: {0}")]
    Key(rustls_pki_types::pem::Error),
    /// The leaf certificate cannot be read.
    #[error(transparent)]
    Leaf(#[from] ca::CaError),
    /// rustls refused the key, the certificate or the configuration.
    #[error(transparent)]
    Rustls(#[from] rustls::Error),
}

/// Asks for a client certificate, checks possession of its key, defers chain validation.
#[derive(Debug)]
struct DeferredClientVerifier {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for DeferredClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Validated per connection by `inspect_peer`, so the refusal can be explained over HTTP.
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The agency port's server certificate and key, swappable while the server runs.
#[derive(Debug)]
pub struct ServerCertResolver {
    provider: Arc<rustls::crypto::CryptoProvider>,
    current: RwLock<Current>,
}

#[derive(Debug)]
struct Current {
    key: Arc<rustls::sign::CertifiedKey>,
    leaf: ca::inspect::CertificateInfo,
}

impl ServerCertResolver {
    /// A resolver serving `identity`.
    pub fn new(identity: &ServerIdentity) -> Result<ServerCertResolver, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let current = RwLock::new(certified(&provider, identity)?);
        Ok(ServerCertResolver { provider, current })
    }

    /// Serves `identity` to every new handshake from now on.
    pub fn swap(&self, identity: &ServerIdentity) -> Result<(), TlsError> {
        let next = certified(&self.provider, identity)?;
        *self.current.write().expect("server certificate lock") = next;
        Ok(())
    }

    /// The certificate served now.
    pub fn leaf(&self) -> ca::inspect::CertificateInfo {
        self.current
            .read()
            .expect("server certificate lock")
            .leaf
            .clone()
    }
}

fn certified(
    provider: &rustls::crypto::CryptoProvider,
    identity: &ServerIdentity,
) -> Result<Current, TlsError> {
    let chain = CertificateDer::pem_slice_iter(identity.chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(TlsError::Certificate)?;
    let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes()).map_err(TlsError::Key)?;
    let leaf = identity.leaf()?;
    let key = rustls::sign::CertifiedKey::from_der(chain, key, provider)?;
    Ok(Current {
        key: Arc::new(key),
        leaf,
    })
}

impl rustls::server::ResolvesServerCert for ServerCertResolver {
    fn resolve(
        &self,
        _client_hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(Arc::clone(
            &self.current.read().expect("server certificate lock").key,
        ))
    }
}

/// The rustls configuration of the agency port, its certificate from `resolver`.
pub fn server_config(resolver: Arc<ServerCertResolver>) -> Result<rustls::ServerConfig, TlsError> {
    let provider = Arc::clone(&resolver.provider);
    let verifier = Arc::new(DeferredClientVerifier {
        algorithms: provider.signature_verification_algorithms,
    });
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(resolver);
    Ok(config)
}

/// What the CA trusts: the root as anchor, its issuing CAs (current and retired) as
/// intermediates. The intermediates can be replaced while the server runs.
#[derive(Debug)]
pub struct TrustStore {
    root: CertificateDer<'static>,
    intermediates: RwLock<Arc<Vec<CertificateDer<'static>>>>,
}

impl TrustStore {
    /// From the CA's certificates (every issuing CA it holds).
    pub fn new(ca: &ca::CertificateAuthority) -> TrustStore {
        TrustStore {
            root: CertificateDer::from(ca.root_der().to_vec()),
            intermediates: RwLock::new(Arc::new(
                ca.issuing_cas()
                    .into_iter()
                    .map(|i| CertificateDer::from(i.der))
                    .collect(),
            )),
        }
    }

    /// Replaces the accepted issuing CAs.
    pub fn set_intermediates(&self, ders: Vec<Vec<u8>>) {
        let next = Arc::new(ders.into_iter().map(CertificateDer::from).collect());
        *self.intermediates.write().expect("trust store lock") = next;
    }

    /// The accepted issuing CAs, DER.
    pub fn intermediates(&self) -> Vec<Vec<u8>> {
        self.current().iter().map(|c| c.to_vec()).collect()
    }

    /// The accepted issuing CA whose key signed `cert_der` (DER), if any.
    pub fn issuer_of(&self, cert_der: &[u8]) -> Option<Vec<u8>> {
        self.current()
            .iter()
            .find(|issuer| ca::inspect::is_signed_by(cert_der, issuer))
            .map(|c| c.to_vec())
    }

    fn current(&self) -> Arc<Vec<CertificateDer<'static>>> {
        Arc::clone(&self.intermediates.read().expect("trust store lock"))
    }
}

/// A client certificate that chains to the platform CA, is within validity now and is meant for
/// client authentication.
#[derive(Debug, Clone)]
pub struct PeerCertificate {
    /// Serial, lowercase hex.
    pub serial: String,
    /// The agency id from the SAN URI.
    pub agency_id: i64,
    /// End of validity.
    pub not_after: time::OffsetDateTime,
    /// The certificate.
    pub der: Vec<u8>,
}

/// Why a connection's certificate is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Stable error code.
    pub code: &'static str,
    /// What is wrong and what to do.
    pub message: String,
}

impl Refusal {
    fn new(code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

/// The outcome of checking a connection's client certificate, kept with the connection.
#[derive(Debug, Clone)]
pub struct PeerCheck(pub Result<PeerCertificate, Refusal>);

/// Validates a presented chain (leaf first) against the platform CA at `now`.
#[allow(deprecated)] // webpki::Error::RequiredEkuNotFound is still returned by some paths
pub fn validate_chain(
    chain: &[CertificateDer<'_>],
    trust: &TrustStore,
    now: UnixTime,
) -> Result<PeerCertificate, Refusal> {
    let Some(leaf) = chain.first() else {
        return Err(required());
    };
    let anchor = webpki::anchor_from_trusted_cert(&trust.root)
        .map_err(|e| Refusal::new("certificate_invalid", format!("platform CA unusable: {e}")))?;
    let end_entity = webpki::EndEntityCert::try_from(leaf).map_err(|e| {
        Refusal::new(
            "certificate_invalid",
            format!("the client certificate cannot be parsed: {e}"),
        )
    })?;
    let mut intermediates: Vec<CertificateDer<'_>> = chain[1..].to_vec();
    intermediates.extend(trust.current().iter().cloned());
    end_entity
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &[anchor],
            &intermediates,
            now,
            webpki::KeyUsage::client_auth(),
            None,
            None,
        )
        .map_err(|e| match e {
            webpki::Error::UnknownIssuer => Refusal::new(
                "certificate_unknown_issuer",
                "the client certificate was not issued by this platform's certificate authority; enrol with this platform to get one",
            ),
            webpki::Error::CertExpired { .. } => Refusal::new(
                "certificate_expired",
                "the client certificate has expired; renew it before it expires, or ask the operator for a new enrolment token",
            ),
            webpki::Error::CertNotValidYet { .. } => Refusal::new(
                "certificate_not_yet_valid",
                "the client certificate is not valid yet; check this computer's clock",
            ),
            webpki::Error::RequiredEkuNotFound | webpki::Error::RequiredEkuNotFoundContext(_) => {
                wrong_usage()
            }
            other => Refusal::new(
                "certificate_invalid",
                format!("the client certificate was refused: {other}"),
            ),
        })?;
    let info = ca::inspect::parse_certificate_der(leaf).map_err(|e| {
        Refusal::new(
            "certificate_invalid",
            format!("the client certificate cannot be read: {e}"),
        )
    })?;
    if !info.eku_client_auth || info.is_ca {
        return Err(wrong_usage());
    }
    let agency_id = info
        .agency_id()
        .and_then(|id| id.parse::<i64>().ok())
        .ok_or_else(|| {
            Refusal::new(
                "certificate_no_agency",
                "the client certificate names no agency of this platform",
            )
        })?;
    Ok(PeerCertificate {
        serial: info.serial,
        agency_id,
        not_after: info.not_after,
        der: leaf.to_vec(),
    })
}

fn required() -> Refusal {
    Refusal::new(
        "certificate_required",
        "this route needs a client certificate from the platform's certificate authority; enrol first (POST /api/v1/enroll) and present the certificate",
    )
}

fn wrong_usage() -> Refusal {
    Refusal::new(
        "certificate_wrong_usage",
        "this certificate is not meant for client authentication; present the agency's client certificate",
    )
}

/// The `on_connect` hook: checks the TLS peer's certificate once per connection and stores a
/// [`PeerCheck`] for the handlers.
pub fn inspect_peer(trust: &TrustStore, connection: &dyn Any, extensions: &mut Extensions) {
    type Tls = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;
    let Some(tls) = connection.downcast_ref::<Tls>() else {
        return;
    };
    let (_, session) = tls.get_ref();
    let check = match session.peer_certificates() {
        None | Some([]) => Err(required()),
        Some(chain) => validate_chain(chain, trust, UnixTime::now()),
    };
    extensions.insert(PeerCheck(check));
}
