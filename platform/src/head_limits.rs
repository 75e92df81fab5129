//! Oversized request heads, refused with a proper answer before actix-http parses them.
//!
//! actix-http answers a request line it cannot hold (a URL over 64 KiB) with an empty `400`
//! and a head over its 128 KiB buffer (or with more than 96 headers) with an empty `431`, and
//! logs both at ERROR, all before any middleware runs. So the website and agency ports screen
//! the first request head of every connection here: [`screen`] reads it (after the TLS
//! handshake on the agency port), and when the request line is over [`MAX_REQUEST_LINE`] it
//! answers `414`, when the head is over [`MAX_HEAD`] or has more than [`MAX_HEADERS`] header
//! lines `431`, with a body (a short HTML page on the website, the documented JSON error body
//! on the agency port), logs it at WARN and closes. A head within the limits is replayed to
//! actix-http unchanged ([`Screened`]). Later requests on a kept-alive connection are not
//! screened; they keep actix-http's own refusals.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// The longest request line (method, target, version) accepted: 8 KiB.
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
/// The largest request head (request line and headers) accepted: 64 KiB.
pub const MAX_HEAD: usize = 64 * 1024;
/// The most header lines accepted (actix-http's own limit).
pub const MAX_HEADERS: usize = 96;
/// How long the first head may take to arrive before it is handed to actix-http as it is
/// (which then applies its own request timeout).
const HEAD_WAIT: Duration = Duration::from_secs(5);
/// How long, and how much, of the rest of a refused request is read and dropped after the
/// answer, so the client receives the answer rather than a reset.
const DRAIN_WAIT: Duration = Duration::from_secs(2);
const DRAIN_MAX: usize = 1024 * 1024;

/// Which port a connection came in on; it decides the shape of the refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// The public website (HTML).
    Website,
    /// The agency API (the JSON error body).
    Agency,
}

/// Why a head was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The request line is over [`MAX_REQUEST_LINE`]: 414.
    UriTooLong,
    /// The head is over [`MAX_HEAD`] or has more than [`MAX_HEADERS`] headers: 431.
    HeadersTooLarge,
}

/// Looks at the bytes of a head received so far: `Ok(true)` when it is complete and within the
/// limits, `Ok(false)` when more is needed, `Err` when it is over a limit.
pub fn check(head: &[u8]) -> Result<bool, Refusal> {
    let line_end = head.iter().position(|&b| b == b'\n');
    match line_end {
        Some(end) if end > MAX_REQUEST_LINE => return Err(Refusal::UriTooLong),
        None if head.len() > MAX_REQUEST_LINE => return Err(Refusal::UriTooLong),
        None => return Ok(false),
        Some(_) => {}
    }
    let end = head
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| i + 2)
        .into_iter()
        .chain(head.windows(3).position(|w| w == b"\n\r\n").map(|i| i + 3))
        .min();
    let scanned = &head[..end.unwrap_or(head.len())];
    if scanned.len() > MAX_HEAD {
        return Err(Refusal::HeadersTooLarge);
    }
    // Lines after the request line and before the blank line.
    let lines = scanned.iter().filter(|&&b| b == b'\n').count();
    let headers = lines.saturating_sub(if end.is_some() { 2 } else { 1 });
    if headers > MAX_HEADERS {
        return Err(Refusal::HeadersTooLarge);
    }
    Ok(end.is_some())
}

/// The full answer written for a refusal on `door`.
pub fn answer(door: Door, refusal: Refusal) -> Vec<u8> {
    let (status, reason, what) = match refusal {
        Refusal::UriTooLong => (
            414,
            "URI Too Long",
            format!(
                "The address asked for is longer than the {} KiB accepted.",
                MAX_REQUEST_LINE / 1024
            ),
        ),
        Refusal::HeadersTooLarge => (
            431,
            "Request Header Fields Too Large",
            format!(
                "The request's headers are larger than the {} KiB (or more than the {MAX_HEADERS} \
                 headers) accepted.",
                MAX_HEAD / 1024
            ),
        ),
    };
    let (content_type, body) = match door {
        Door::Website => (
            "text/html; charset=utf-8",
            format!(
                "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{status} \
                 {reason}</title></head>\n<body><h1>{reason}</h1><p>{what}</p>\
                 <p><a href=\"/\">Go to the home page</a></p></body></html>\n"
            ),
        ),
        Door::Agency => {
            let code = match refusal {
                Refusal::UriTooLong => "uri_too_long",
                Refusal::HeadersTooLarge => "headers_too_large",
            };
            let body = api_types::api::ErrorBody {
                error: api_types::api::ErrorDetail {
                    code: code.to_owned(),
                    message: format!("{what} See /api/openapi.json."),
                    field: None,
                    canonical_sha256: None,
                    current_version: None,
                    current: None,
                },
            };
            (
                "application/json",
                serde_json::to_string(&body).unwrap_or_default(),
            )
        }
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
         connection: close\r\ncache-control: no-store\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Reads the first request head of a connection. Within the limits (or when the client stops
/// sending, or takes longer than actix-http's request timeout), the connection is handed back
/// with what was read, to be replayed; over a limit, the refusal is written, the rest of the
/// request drained for a moment, and `None` returned (the connection is closed).
pub async fn screen<S>(mut io: S, door: Door) -> Option<Screened<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut head = Vec::with_capacity(2048);
    let mut chunk = vec![0u8; 8192];
    let deadline = tokio::time::Instant::now() + HEAD_WAIT;
    let refusal = loop {
        let read = tokio::time::timeout_at(deadline, io.read(&mut chunk)).await;
        match read {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return Some(Screened::new(io, head)),
            Ok(Ok(n)) => head.extend_from_slice(&chunk[..n]),
        }
        match check(&head) {
            Ok(true) => return Some(Screened::new(io, head)),
            Ok(false) => {}
            Err(refusal) => break refusal,
        }
    };
    tracing::warn!(
        door = ?door,
        refusal = ?refusal,
        received_bytes = head.len(),
        "refused an oversized request head"
    );
    let _ = io.write_all(&answer(door, refusal)).await;
    let _ = io.flush().await;
    let _ = tokio::time::timeout(DRAIN_WAIT, async {
        let mut drained = 0;
        while drained < DRAIN_MAX {
            match io.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    })
    .await;
    let _ = io.shutdown().await;
    None
}

/// A connection whose first bytes were read by [`screen`]; they are read again first.
#[derive(Debug)]
pub struct Screened<S> {
    inner: S,
    replay: Vec<u8>,
    at: usize,
}

impl<S> Screened<S> {
    fn new(inner: S, replay: Vec<u8>) -> Screened<S> {
        Screened {
            inner,
            replay,
            at: 0,
        }
    }

    /// The underlying connection.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Screened<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.at < this.replay.len() {
            let n = buf.remaining().min(this.replay.len() - this.at);
            buf.put_slice(&this.replay[this.at..this.at + n]);
            this.at += n;
            if this.at == this.replay.len() {
                this.replay = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Screened<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_within_the_limits_pass_and_oversized_ones_are_refused() {
        assert_eq!(check(b"GET / HTTP/1.1\r\nHost: x\r\n"), Ok(false));
        assert_eq!(check(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), Ok(true));
        assert_eq!(check(b"GET / HTTP/1.1\nHost: x\n\n"), Ok(true));
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_REQUEST_LINE));
        assert_eq!(check(long.as_bytes()), Err(Refusal::UriTooLong));
        // Still arriving, already too long.
        assert_eq!(
            check(&long.as_bytes()[..MAX_REQUEST_LINE + 1]),
            Err(Refusal::UriTooLong)
        );
        let big = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n", "b".repeat(MAX_HEAD));
        assert_eq!(check(big.as_bytes()), Err(Refusal::HeadersTooLarge));
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: 1\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(check(many.as_bytes()), Err(Refusal::HeadersTooLarge));
        let enough: String = (0..MAX_HEADERS).map(|i| format!("X-{i}: 1\r\n")).collect();
        let enough = format!("GET / HTTP/1.1\r\n{enough}\r\n");
        assert_eq!(check(enough.as_bytes()), Ok(true));
    }

    #[test]
    fn the_agency_refusal_is_the_json_error_body() {
        let text = String::from_utf8(answer(Door::Agency, Refusal::UriTooLong)).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 414 "), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let parsed: api_types::api::ErrorBody = serde_json::from_str(body).unwrap();
        assert_eq!(parsed.error.code, "uri_too_long");
    }
}
