//! Talking to the platform: HTTPS with mutual TLS, trusting only the platform's root CA, over a
//! list of endpoints with failover (a connection error or a server error (5xx, 503) moves on to
//! the next endpoint; server errors everywhere are retried with backoff and jitter, then count
//! as an outage).
//!
//! Two kinds of failure are told apart, because staff must act differently on them:
//! * an outage (nothing answers: refused, timed out, reset) — [`ClientError::Unreachable`]; work
//!   stays queued and goes out when the platform answers again;
//! * a trust failure (something answers, but its certificate does not chain to the root CA this
//!   desk pinned at enrolment, has expired, or is for another name) — [`ClientError::Untrusted`];
//!   retrying does not help and nothing may be sent to such a server.
//!
//! Every endpoint is tried before giving up; a trust failure on any endpoint wins over an outage
//! on the others, so the message names the real problem.

use std::sync::Arc;
use std::time::Duration;

use api_types::api::ErrorBody;
use reqwest::blocking::{Client, RequestBuilder, Response};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::de::DeserializeOwned;

use crate::error::ClientError;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How many times the endpoint list is tried while the platform answers with server errors.
pub const SERVER_ERROR_ROUNDS: u32 = 5;
/// First wait after a round of server errors; doubled each round.
const BACKOFF_BASE: Duration = Duration::from_millis(250);
/// Longest wait between two rounds (a longer `Retry-After` is cut to this).
pub const MAX_BACKOFF: Duration = Duration::from_secs(4);

/// The wait before round `round` (1 = the first retry): the server's `Retry-After` when it gave
/// one, else an exponential backoff, at most [`MAX_BACKOFF`]; then "full jitter" over the upper
/// half, so desks that failed together do not retry together.
fn backoff(round: u32, asked: Option<Duration>) -> Duration {
    let exp = BACKOFF_BASE.saturating_mul(1 << round.saturating_sub(1).min(8));
    let wait = asked.unwrap_or(exp).min(MAX_BACKOFF);
    let half = wait / 2;
    half + half.mul_f64(rand::random::<f64>())
}

/// The `Retry-After` of an answer, in seconds.
fn retry_after(r: &Response) -> Option<Duration> {
    r.headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Installs rustls's ring crypto provider for the process (idempotent).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Checks and normalises an endpoint URL (`https://host:port`, no trailing slash).
pub fn parse_endpoint(url: &str) -> Result<String, ClientError> {
    let url = url.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| ClientError::input("--server", format!("{url} must start with https://")))?;
    if rest.is_empty() || rest.contains(char::is_whitespace) || rest.contains('/') {
        return Err(ClientError::input(
            "--server",
            format!("{url} must look like https://host:port"),
        ));
    }
    Ok(url.to_owned())
}

fn is_connection_failure(e: &reqwest::Error) -> bool {
    e.is_connect() || e.is_timeout() || e.is_request() && !e.is_body() && !e.is_decode()
}

/// The TLS error behind a failed request, if TLS is what failed. reqwest wraps it in hyper's
/// error and `io::Error`s (two, nested), whose `source()` skips the wrapped error itself, so each
/// `io::Error` is unwrapped by hand.
fn tls_error(e: &reqwest::Error) -> Option<&rustls::Error> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        let mut inner = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref());
        while let Some(wrapped) = inner {
            if let Some(tls) = wrapped.downcast_ref::<rustls::Error>() {
                return Some(tls);
            }
            inner = wrapped
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref());
        }
        current = err.source();
    }
    None
}

/// What is wrong with the server's certificate (or the TLS exchange), in plain words.
pub fn trust_problem(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(cert) => match cert {
            // Another CA with the same names as ours is found by name, then fails its signature.
            C::UnknownIssuer | C::BadSignature => "its certificate was not issued by the \
                 platform's certificate authority that this desk pinned at enrolment (a wrong \
                 address, an interception, or the platform replaced its CA)"
                .into(),
            C::Expired | C::ExpiredContext { .. } => {
                "its certificate has expired (or this computer's clock is wrong)".into()
            }
            C::NotValidYet | C::NotValidYetContext { .. } => {
                "its certificate is not valid yet (check this computer's clock)".into()
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "its certificate is for another name than the address this desk uses (check the \
                 --server address)"
                    .into()
            }
            C::Revoked => "its certificate has been revoked".into(),
            other => format!("its certificate was refused ({other:?})"),
        },
        rustls::Error::AlertReceived(alert) => {
            format!("it ended the secure connection ({alert:?}): it does not accept this desk")
        }
        other => format!("the secure connection failed ({other})"),
    }
}

/// An HTTPS client over one or more platform endpoints.
#[derive(Debug)]
pub struct PlatformClient {
    client: Client,
    urls: Vec<String>,
    current: usize,
    /// SHA-256 fingerprint of the trusted root, for messages ("" for the bootstrap client).
    pinned: String,
}

impl PlatformClient {
    /// A client that trusts only `root_pem` and, given an identity (chain PEM, unencrypted key
    /// PEM), presents it.
    pub fn new(
        root_pem: &str,
        identity: Option<(&str, &str)>,
        urls: Vec<String>,
    ) -> Result<PlatformClient, ClientError> {
        install_crypto_provider();
        let mut roots = rustls::RootCertStore::empty();
        let mut pinned = String::new();
        for cert in CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
            let cert = cert.map_err(|e| ClientError::Crypto(format!("stored root CA: {e}")))?;
            if pinned.is_empty() {
                pinned = ca::inspect::Fingerprint::of(&cert).to_string();
            }
            roots
                .add(cert)
                .map_err(|e| ClientError::Crypto(format!("stored root CA: {e}")))?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Crypto(e.to_string()))?
        .with_root_certificates(roots);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some((chain, key)) => {
                let chain = CertificateDer::pem_slice_iter(chain.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| ClientError::Crypto(format!("stored certificate: {e}")))?;
                let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
                    .map_err(|e| ClientError::Crypto(format!("key: {e}")))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| ClientError::Crypto(format!("client certificate: {e}")))?
            }
        };
        let client = Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .tls_backend_preconfigured(config)
            .build()
            .map_err(|e| ClientError::Crypto(format!("HTTPS client: {e}")))?;
        Self::with_client(client, urls, pinned)
    }

    fn with_client(
        client: Client,
        urls: Vec<String>,
        pinned: String,
    ) -> Result<PlatformClient, ClientError> {
        if urls.is_empty() {
            return Err(ClientError::input(
                "--server",
                "no platform endpoint is configured; give --server https://host:port",
            ));
        }
        Ok(PlatformClient {
            client,
            urls,
            current: 0,
            pinned,
        })
    }

    /// A client for first contact: it does not check the server certificate at all, so it is
    /// used only to download the root CA, whose fingerprint the caller then checks.
    pub fn bootstrap(urls: Vec<String>) -> Result<PlatformClient, ClientError> {
        install_crypto_provider();
        let client = Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .tls_danger_accept_invalid_certs(true)
            .build()
            .map_err(|e| ClientError::Crypto(format!("HTTPS client: {e}")))?;
        Self::with_client(client, urls, String::new())
    }

    /// The endpoint that answered last (or will be tried first).
    pub fn current_url(&self) -> &str {
        &self.urls[self.current]
    }

    /// Sends a request built for `base` on each endpoint in turn, starting with the one that
    /// answered last, until one answers. A server error (5xx: the platform is up but cannot
    /// serve, e.g. its database is down) is not an answer: the next endpoint is tried, and when
    /// every endpoint failed with at least one such answer, the whole list is tried again after
    /// a backoff with jitter (the `Retry-After` asked for, within [`MAX_BACKOFF`]), up to
    /// [`SERVER_ERROR_ROUNDS`] times; after that it is an outage ([`ClientError::Unreachable`]:
    /// queued work stays queued, exit status 3). When nothing answers at all, a trust failure on
    /// any endpoint is reported ([`ClientError::Untrusted`]) before an outage.
    pub fn send(
        &mut self,
        build: impl Fn(&Client, &str) -> RequestBuilder,
    ) -> Result<Response, ClientError> {
        let n = self.urls.len();
        let mut round = 0;
        loop {
            let mut untrusted = None;
            let mut server_error: Option<(String, u16, Option<Duration>)> = None;
            for i in 0..n {
                let idx = (self.current + i) % n;
                match build(&self.client, &self.urls[idx]).send() {
                    Ok(r) if r.status().is_server_error() => {
                        server_error =
                            Some((self.urls[idx].clone(), r.status().as_u16(), retry_after(&r)));
                    }
                    Ok(r) => {
                        self.current = idx;
                        return Ok(r);
                    }
                    Err(e) => {
                        if let Some(tls) = tls_error(&e) {
                            untrusted.get_or_insert_with(|| ClientError::Untrusted {
                                url: self.urls[idx].clone(),
                                problem: trust_problem(tls),
                                pinned: self.pinned.clone(),
                            });
                        } else if !is_connection_failure(&e) {
                            return Err(ClientError::Protocol(e.to_string()));
                        }
                    }
                }
            }
            let Some((url, status, asked)) = server_error else {
                return Err(untrusted.unwrap_or_else(|| ClientError::Unreachable {
                    url: self.urls.join(", "),
                }));
            };
            round += 1;
            if round >= SERVER_ERROR_ROUNDS {
                return Err(ClientError::Unreachable {
                    url: format!(
                        "{} (last answer: {status} from {url})",
                        self.urls.join(", ")
                    ),
                });
            }
            std::thread::sleep(backoff(round, asked));
        }
    }

    /// `GET path`, expecting a JSON body.
    pub fn get_json<T: DeserializeOwned>(&mut self, path: &str) -> Result<T, ClientError> {
        let r = self.send(|c, base| c.get(format!("{base}{path}")))?;
        json_or_error(r)
    }

    /// `GET path` as text (PEM downloads).
    pub fn get_text(&mut self, path: &str) -> Result<String, ClientError> {
        let r = self.send(|c, base| c.get(format!("{base}{path}")))?;
        if !r.status().is_success() {
            return Err(api_error(r));
        }
        r.text().map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// `POST path` with a JSON body, expecting a JSON body.
    pub fn post_json<B: serde::Serialize, T: DeserializeOwned>(
        &mut self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let r = self.send(|c, base| c.post(format!("{base}{path}")).json(body))?;
        json_or_error(r)
    }

    /// `PUT path` with a JSON body, expecting a JSON body.
    pub fn put_json<B: serde::Serialize, T: DeserializeOwned>(
        &mut self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let r = self.send(|c, base| c.put(format!("{base}{path}")).json(body))?;
        json_or_error(r)
    }

    /// `DELETE path`; the raw response, for callers that treat some statuses specially.
    pub fn delete(&mut self, path: &str) -> Result<Response, ClientError> {
        self.send(|c, base| c.delete(format!("{base}{path}")))
    }

    /// `DELETE path` with a JSON body (a signed withdrawal); the raw response.
    pub fn delete_json<B: serde::Serialize>(
        &mut self,
        path: &str,
        body: &B,
    ) -> Result<Response, ClientError> {
        self.send(|c, base| c.delete(format!("{base}{path}")).json(body))
    }
}

/// The JSON body of a successful answer, or the platform's error as a [`ClientError`].
pub fn json_or_error<T: DeserializeOwned>(r: Response) -> Result<T, ClientError> {
    if !r.status().is_success() {
        return Err(api_error(r));
    }
    let bytes = r
        .bytes()
        .map_err(|e| ClientError::Protocol(e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(e.to_string()))
}

/// Turns an error answer into the [`ClientError`] a user can act on.
pub fn api_error(r: Response) -> ClientError {
    let status = r.status().as_u16();
    let text = r.text().unwrap_or_default();
    let Ok(body) = serde_json::from_str::<ErrorBody>(&text) else {
        return ClientError::Refused {
            status,
            code: format!("http_{status}"),
            message: text.chars().take(300).collect(),
            field: None,
        };
    };
    let e = body.error;
    match e.code.as_str() {
        "certificate_revoked" => ClientError::CertificateRevoked(e.message),
        code if code.starts_with("certificate_") || code == "agency_not_active" => {
            ClientError::CertificateRefused {
                code: e.code,
                message: e.message,
            }
        }
        _ => ClientError::Refused {
            status,
            code: e.code,
            message: e.message,
            field: e.field,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read as _, Write as _};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A plain-HTTP server on a loopback port answering request `i` (from 0) with `answer(i)`
    /// (status, body); it counts requests and lives as long as the test process.
    fn server(answer: fn(usize) -> (u16, &'static str)) -> (String, Arc<AtomicUsize>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let (status, body) = answer(seen.fetch_add(1, Ordering::SeqCst));
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nRetry-After: 0\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (url, count)
    }

    fn client(urls: Vec<String>) -> PlatformClient {
        install_crypto_provider();
        PlatformClient::with_client(Client::new(), urls, String::new()).unwrap()
    }

    #[test]
    fn a_server_error_fails_over_to_the_next_endpoint() {
        let (down, down_hits) =
            server(|_| (503, r#"{"error":{"code":"unavailable","message":"db"}}"#));
        let (up, _) = server(|_| (200, r#"{"ok":true}"#));
        let mut c = client(vec![down, up.clone()]);
        let answer: serde_json::Value = c.get_json("/x").unwrap();
        assert_eq!(answer["ok"], true);
        assert_eq!(
            c.current_url(),
            up,
            "the endpoint that answered is tried first next time"
        );
        assert_eq!(down_hits.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn server_errors_are_retried_then_count_as_an_outage() {
        // Two 500s, then an answer: retried with backoff, it succeeds.
        let (flaky, flaky_hits) = server(|i| {
            if i < 2 {
                (500, "oops")
            } else {
                (200, r#"{"ok":1}"#)
            }
        });
        let answer: serde_json::Value = client(vec![flaky]).get_json("/x").unwrap();
        assert_eq!(answer["ok"], 1);
        assert_eq!(flaky_hits.load(Ordering::SeqCst), 3);

        // 503 every time: after every round, an outage (exit status 3, work kept).
        let (down, hits) = server(|_| (503, r#"{"error":{"code":"unavailable","message":"db"}}"#));
        let err = client(vec![down.clone()])
            .get_json::<serde_json::Value>("/x")
            .unwrap_err();
        assert_eq!(
            hits.load(Ordering::SeqCst),
            super::SERVER_ERROR_ROUNDS as usize
        );
        assert!(matches!(err, ClientError::Unreachable { .. }), "{err:?}");
        assert_eq!(err.exit_code(), 3);
        assert!(err.to_string().contains("503"), "{err}");
        assert!(err.to_string().contains("your changes are kept"), "{err}");
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let first = super::backoff(1, None);
        assert!(first >= super::BACKOFF_BASE / 2 && first <= super::BACKOFF_BASE);
        let late = super::backoff(9, None);
        assert!(late >= super::MAX_BACKOFF / 2 && late <= super::MAX_BACKOFF);
        let asked = super::backoff(1, Some(std::time::Duration::from_secs(60)));
        assert!(
            asked <= super::MAX_BACKOFF,
            "Retry-After is honoured within the cap"
        );
        let waits: std::collections::HashSet<_> =
            (0..20).map(|_| super::backoff(3, None)).collect();
        assert!(waits.len() > 1, "jittered");
    }

    #[test]
    fn endpoints_are_checked_and_normalised() {
        assert_eq!(
            parse_endpoint(" https://127.0.0.1:8443/ ").unwrap(),
            "https://127.0.0.1:8443"
        );
        assert!(parse_endpoint("http://127.0.0.1:8443").is_err());
        assert!(parse_endpoint("https://").is_err());
        assert!(parse_endpoint("https://host/path").is_err());
    }
}
