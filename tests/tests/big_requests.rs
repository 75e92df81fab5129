//! Oversized requests (issue 17): a 100 KB URL and 200 KB of headers, sent over raw TCP to the
//! website and over mutual TLS (with an agency's certificate) to the agency API, get a proper
//! answer with a body (414 or 431; an HTML page on the website, the JSON error body on the
//! agency port), the process logs no ERROR for them, and it answers normally afterwards.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use e2e_tests::{PlatformProcess, enrolled, platform};

fn long_url() -> String {
    format!("/search?q={}", "a".repeat(100 * 1024))
}

fn big_headers() -> String {
    (0..2000)
        .map(|i| format!("X-Filler-{i:04}: {}\r\n", "b".repeat(84)))
        .collect()
}

fn request(path: &str, extra_headers: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra_headers}Connection: close\r\n\r\n")
        .into_bytes()
}

/// Writes `bytes` (ignoring a reset once the server has answered and closed) and reads the
/// answer to its end: (status, content type, body).
fn exchange(stream: &mut (impl Read + Write), bytes: &[u8]) -> (u16, String, String) {
    let _ = stream.write_all(bytes);
    let _ = stream.flush();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) if answer.is_empty() => panic!("no answer: {e}"),
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type:")
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

fn tcp(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

fn no_error_logged(app: &PlatformProcess) {
    let errors: Vec<String> = app
        .logs()
        .into_iter()
        .filter(|l| l.contains("\"level\":\"ERROR\""))
        .collect();
    assert!(errors.is_empty(), "ERROR lines in the log: {errors:#?}");
}

#[test]
fn oversized_requests_get_a_proper_answer_on_both_ports() {
    let app = platform().spawn().expect("platform starts");
    let web = app.web_url.trim_start_matches("http://").to_owned();

    // The website: a short HTML page.
    for (bytes, status) in [
        (request(&long_url(), ""), 414),
        (request("/", &big_headers()), 431),
    ] {
        let (got, content_type, body) = exchange(&mut tcp(&web), &bytes);
        assert_eq!(got, status, "{body}");
        assert!(content_type.starts_with("text/html"), "{content_type}");
        assert!(body.contains("<h1>"), "{body}");
        assert!(
            body.contains("KiB"),
            "the page says what the limit is: {body}"
        );
    }
    let (status, _, _) = exchange(&mut tcp(&web), &request("/", ""));
    assert_eq!(status, 200, "the website still answers");

    // The agency port, over TLS with an agency's certificate: the JSON error body.
    let agency = enrolled(&app, "Acme Homes", "AMI-1");
    let config = Arc::new(platform::testing::agency::client_config(
        &agency.root_pem,
        Some((&agency.chain_pem, &agency.key.to_pem())),
    ));
    let addr = app.agency_addr.expect("agency port").to_string();
    let tls = |bytes: &[u8]| {
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(Arc::clone(&config), name).unwrap();
        let mut stream = rustls::StreamOwned::new(conn, tcp(&addr));
        exchange(&mut stream, bytes)
    };
    for (bytes, status, code) in [
        (
            request(&long_url().replace("/search", "/api/v1/listings"), ""),
            414,
            "uri_too_long",
        ),
        (
            request("/api/v1/listings", &big_headers()),
            431,
            "headers_too_large",
        ),
    ] {
        let (got, content_type, body) = tls(&bytes);
        assert_eq!(got, status, "{body}");
        assert_eq!(content_type, "application/json");
        let json: serde_json::Value = serde_json::from_str(&body).expect("JSON error body");
        assert_eq!(json["error"]["code"], code, "{json}");
        assert!(
            json["error"]["message"].as_str().unwrap().contains("KiB"),
            "{json}"
        );
    }
    let (status, content_type, _) = tls(&request("/api/openapi.json", ""));
    assert_eq!(status, 200, "the agency API still answers");
    assert_eq!(content_type, "application/json");
    let (status, me) = agency.get("/api/v1/agency");
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["agency"]["name"], "Acme Homes", "{me}");

    no_error_logged(&app);
    assert!(
        app.logs()
            .iter()
            .any(|l| l.contains("refused an oversized request head") && l.contains("WARN")),
        "the refusals are logged at WARN"
    );
}
