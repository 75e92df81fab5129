//! A small SMTP server for tests and benchmarks that speaks real SMTP (greeting, EHLO/HELO, MAIL,
//! RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT) on a loopback port and keeps every message
//! it accepts. It can offer TLS ([`SinkTls`]): `STARTTLS` or TLS from the first byte, with a
//! certificate the test provides. [`SmtpMode`] simulates outages: a server that answers 421 and hangs up, one that
//! answers 4xx or 5xx to every mail, one that never confirms the end of DATA (to crash a
//! sender mid-send), or one slow to confirm it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// TLS the server offers, with the certificate chain and key it presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkTls {
    /// Plain connection; `STARTTLS` is offered after `EHLO` (RFC 3207).
    StartTls,
    /// TLS from the first byte (SMTPS, RFC 8314).
    Implicit,
}

/// How the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpMode {
    /// Accepts every message.
    Accept,
    /// Answers every connection and command with `421` and closes: a server that is down.
    Down,
    /// Answers `MAIL FROM` with `451` (try again later).
    TempFail,
    /// Answers `MAIL FROM` with `550` (refused for good).
    PermFail,
    /// Reads the message but never answers the end of DATA.
    Hang,
    /// Accepts every message, keeping it as soon as its data ends, but answers the end of DATA
    /// only after this many milliseconds: a slow server, to kill a sender between the server's
    /// receipt and its reply.
    Slow(u64),
}

/// A message the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`).
    pub from: String,
    /// The envelope recipients (`RCPT TO`).
    pub to: Vec<String>,
    /// The message as transmitted, dot-unstuffed, with CRLF line ends.
    pub data: Vec<u8>,
    /// Whether it arrived over TLS.
    pub tls: bool,
}

#[derive(Debug)]
struct SinkState {
    mode: SmtpMode,
    received: Vec<ReceivedMail>,
    connections: usize,
    keep_data: bool,
}

/// The running server; stopped when dropped.
#[derive(Debug)]
pub struct SmtpSink {
    addr: SocketAddr,
    state: Arc<Mutex<SinkState>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SmtpSink {
    /// Starts a server on a free loopback port, on a thread of its own.
    pub fn start() -> SmtpSink {
        SmtpSink::start_with(true)
    }

    /// Like [`SmtpSink::start`]; with `keep_data` false only envelopes are kept (benchmarks).
    pub fn start_with(keep_data: bool) -> SmtpSink {
        SmtpSink::spawn(keep_data, None)
    }

    /// Like [`SmtpSink::start`], offering TLS with `cert_chain_pem` (leaf first) and `key_pem`.
    pub fn start_tls(tls: SinkTls, cert_chain_pem: &str, key_pem: &str) -> SmtpSink {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain = CertificateDer::pem_slice_iter(cert_chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("certificate chain PEM");
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("private key PEM");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server certificate and key");
        SmtpSink::spawn(true, Some((tls, TlsAcceptor::from(Arc::new(config)))))
    }

    fn spawn(keep_data: bool, tls: Option<(SinkTls, TlsAcceptor)>) -> SmtpSink {
        let state = Arc::new(Mutex::new(SinkState {
            mode: SmtpMode::Accept,
            received: Vec::new(),
            connections: 0,
            keep_data,
        }));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread_state = Arc::clone(&state);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("SMTP sink runtime");
            runtime.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind SMTP sink");
                addr_tx
                    .send(listener.local_addr().expect("local address"))
                    .expect("report address");
                let accept = async {
                    loop {
                        let Ok((stream, _)) = listener.accept().await else {
                            continue;
                        };
                        let state = Arc::clone(&thread_state);
                        let tls = tls.clone();
                        tokio::spawn(async move {
                            let _ = session(stream, state, tls).await;
                        });
                    }
                };
                tokio::select! {
                    () = accept => {}
                    _ = stop_rx => {}
                }
            });
            runtime.shutdown_timeout(Duration::from_millis(100));
        });
        let addr = addr_rx.recv().expect("SMTP sink started");
        SmtpSink {
            addr,
            state,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Changes how it answers from the next command on.
    pub fn set_mode(&self, mode: SmtpMode) {
        self.state.lock().unwrap().mode = mode;
    }

    /// Every message accepted so far.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.state.lock().unwrap().received.clone()
    }

    /// How many messages were accepted.
    pub fn count(&self) -> usize {
        self.state.lock().unwrap().received.len()
    }

    /// How many connections were opened (including refused ones).
    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }

    /// Waits until at least `n` messages arrived, or `timeout`; returns what arrived.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + timeout;
        while self.count() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.messages()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn mode(state: &Mutex<SinkState>) -> SmtpMode {
    state.lock().unwrap().mode
}

/// The address inside `MAIL FROM:<a>` / `RCPT TO:<a>`.
fn path_of(line: &str) -> String {
    let start = line.find('<').map_or(0, |i| i + 1);
    let end = line[start..].find('>').map_or(line.len(), |i| start + i);
    line[start..end].to_owned()
}

async fn session(
    stream: TcpStream,
    state: Arc<Mutex<SinkState>>,
    tls: Option<(SinkTls, TlsAcceptor)>,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    state.lock().unwrap().connections += 1;
    match tls {
        None => {
            converse(BufReader::new(stream), &state, Phase::Plain).await?;
        }
        Some((SinkTls::Implicit, acceptor)) => {
            let stream = acceptor.accept(stream).await?;
            converse(BufReader::new(stream), &state, Phase::Encrypted).await?;
        }
        Some((SinkTls::StartTls, acceptor)) => {
            if let End::StartTls(plain) =
                converse(BufReader::new(stream), &state, Phase::OfferStartTls).await?
            {
                let stream = acceptor.accept(plain).await?;
                converse(BufReader::new(stream), &state, Phase::AfterStartTls).await?;
            }
        }
    }
    Ok(())
}

/// Where a conversation stands with respect to TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No TLS on offer.
    Plain,
    /// Plain so far; `STARTTLS` is offered.
    OfferStartTls,
    /// Encrypted after `STARTTLS` (no new greeting).
    AfterStartTls,
    /// Encrypted from the first byte.
    Encrypted,
}

/// How a conversation ended.
enum End<S> {
    /// The client left or said `QUIT`.
    Closed,
    /// The client asked for `STARTTLS`: here is the plain stream to encrypt.
    StartTls(S),
}

/// Writes one reply and pushes it out (a TLS stream buffers until flushed).
async fn reply<S: AsyncWrite + Unpin>(io: &mut S, text: &[u8]) -> std::io::Result<()> {
    io.write_all(text).await?;
    io.flush().await
}

async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: BufReader<S>,
    state: &Mutex<SinkState>,
    phase: Phase,
) -> std::io::Result<End<S>> {
    let encrypted = matches!(phase, Phase::AfterStartTls | Phase::Encrypted);
    if mode(state) == SmtpMode::Down {
        reply(&mut io, b"421 4.3.2 sink.test Service not available\r\n").await?;
        return Ok(End::Closed);
    }
    if phase != Phase::AfterStartTls {
        reply(&mut io, b"220 sink.test ESMTP test sink\r\n").await?;
    }
    let mut from = String::new();
    let mut to = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if io.read_until(b'\n', &mut line).await? == 0 {
            return Ok(End::Closed);
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_owned();
        let upper = text.to_ascii_uppercase();
        if mode(state) == SmtpMode::Down {
            reply(&mut io, b"421 4.3.2 sink.test Service not available\r\n").await?;
            return Ok(End::Closed);
        }
        if upper.starts_with("EHLO") {
            let offer: &[u8] = if phase == Phase::OfferStartTls {
                b"250-sink.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 SIZE 52428800\r\n"
            } else {
                b"250-sink.test\r\n250-PIPELINING\r\n250 SIZE 52428800\r\n"
            };
            reply(&mut io, offer).await?;
        } else if upper == "STARTTLS" && phase == Phase::OfferStartTls {
            reply(&mut io, b"220 2.0.0 Ready to start TLS\r\n").await?;
            return Ok(End::StartTls(io.into_inner()));
        } else if phase == Phase::OfferStartTls && upper.starts_with("MAIL FROM:") {
            reply(
                &mut io,
                b"530 5.7.0 Must issue a STARTTLS command first\r\n",
            )
            .await?;
        } else if upper.starts_with("HELO") {
            reply(&mut io, b"250 sink.test\r\n").await?;
        } else if upper.starts_with("MAIL FROM:") {
            match mode(state) {
                SmtpMode::TempFail => {
                    reply(&mut io, b"451 4.3.0 Temporary failure, try again later\r\n").await?;
                }
                SmtpMode::PermFail => {
                    reply(&mut io, b"550 5.7.1 Message refused by policy\r\n").await?;
                }
                _ => {
                    from = path_of(&text);
                    to.clear();
                    reply(&mut io, b"250 2.1.0 OK\r\n").await?;
                }
            }
        } else if upper.starts_with("RCPT TO:") {
            to.push(path_of(&text));
            reply(&mut io, b"250 2.1.5 OK\r\n").await?;
        } else if upper == "DATA" {
            reply(&mut io, b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
            let mut data = Vec::new();
            loop {
                line.clear();
                if io.read_until(b'\n', &mut line).await? == 0 {
                    return Ok(End::Closed);
                }
                if line == b".\r\n" || line == b".\n" {
                    break;
                }
                let body = if line.starts_with(b"..") {
                    &line[1..]
                } else {
                    &line[..]
                };
                data.extend_from_slice(body);
            }
            if mode(state) == SmtpMode::Hang {
                std::future::pending::<()>().await;
            }
            {
                let mut s = state.lock().unwrap();
                let data = if s.keep_data { data } else { Vec::new() };
                s.received.push(ReceivedMail {
                    from: std::mem::take(&mut from),
                    to: std::mem::take(&mut to),
                    data,
                    tls: encrypted,
                });
            }
            if let SmtpMode::Slow(ms) = mode(state) {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            reply(&mut io, b"250 2.0.0 OK queued\r\n").await?;
        } else if upper == "RSET" {
            from.clear();
            to.clear();
            reply(&mut io, b"250 2.0.0 OK\r\n").await?;
        } else if upper.starts_with("NOOP") {
            reply(&mut io, b"250 2.0.0 OK\r\n").await?;
        } else if upper == "QUIT" {
            reply(&mut io, b"221 2.0.0 Bye\r\n").await?;
            return Ok(End::Closed);
        } else {
            reply(&mut io, b"502 5.5.2 Command not recognized\r\n").await?;
        }
    }
}
