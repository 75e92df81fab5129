//! A pool of SMTP connections built on lettre's SMTP client ([`AsyncSmtpConnection`]: the
//! protocol, STARTTLS, implicit TLS and authentication are lettre's), over TCP sockets this module
//! opens itself with `TCP_NODELAY` set.
//!
//! Why not lettre's own pooled transport: lettre writes a message's content and the terminating
//! `.` line in two writes on a socket with Nagle's algorithm on. The second, small write then waits
//! for the server's ACK of the first, and a server with nothing to answer yet delays that ACK
//! (about 40 ms on Linux). Every message so costs one delayed-ACK timeout: 8 pooled connections
//! delivered 174 messages/s into a loopback server. lettre exposes no way to set `TCP_NODELAY` on
//! the sockets it opens, but it can run a session over a stream we hand it.
//!
//! A connection is reused while it is healthy; one that failed is dropped. One idle for more than
//! [`CHECK_AFTER_IDLE`] is probed with `NOOP` before reuse, and one idle for more than
//! `idle_timeout` is closed (by a background sweep and on checkout), below the usual server-side
//! idle limit of 60 s so a connection the server already closed is not reused (lettre issue 743).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use super::send_error::{SendError, one_line};

/// A pooled connection idle for longer than this is probed with `NOOP` before it is reused.
pub const CHECK_AFTER_IDLE: Duration = Duration::from_secs(2);

/// How a connection is secured.
#[derive(Clone)]
pub enum Security {
    /// Plain SMTP.
    None,
    /// Plain connection upgraded with `STARTTLS`; a server that does not offer it is refused.
    StartTls(TlsParameters),
    /// TLS from the first byte (SMTPS), with this client configuration.
    Implicit(Arc<rustls::ClientConfig>),
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Security::None => "none",
            Security::StartTls(_) => "starttls",
            Security::Implicit(_) => "tls",
        })
    }
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Host name (also the TLS server name).
    pub host: String,
    /// Port.
    pub port: u16,
    /// TLS mode.
    pub security: Security,
    /// User name and password, if the server wants them.
    pub credentials: Option<Credentials>,
    /// Bound on connecting and on each whole message exchange.
    pub timeout: Duration,
    /// Most connections open at once (and messages in flight).
    pub max_size: usize,
    /// Idle connections older than this are closed.
    pub idle_timeout: Duration,
}

struct Idle {
    conn: AsyncSmtpConnection,
    since: Instant,
}

/// The pool; share it behind an [`Arc`].
pub struct SmtpPool {
    settings: PoolSettings,
    hello: ClientId,
    idle: Mutex<Vec<Idle>>,
    permits: Semaphore,
}

impl std::fmt::Debug for SmtpPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpPool")
            .field("host", &self.settings.host)
            .field("port", &self.settings.port)
            .field("max_size", &self.settings.max_size)
            .finish_non_exhaustive()
    }
}

impl SmtpPool {
    /// A pool with no connection yet. Inside a tokio runtime, a task closes connections that
    /// stayed idle too long; it ends when the pool is dropped.
    pub fn new(settings: PoolSettings) -> Arc<SmtpPool> {
        let max = settings.max_size.max(1);
        let pool = Arc::new(SmtpPool {
            hello: ClientId::default(),
            idle: Mutex::new(Vec::with_capacity(max)),
            permits: Semaphore::new(max),
            settings,
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(sweep(Arc::downgrade(&pool)));
        }
        pool
    }

    /// Connections idle in the pool now.
    pub fn idle_count(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Sends one message (`email` is the formatted message) over a pooled or a new connection.
    pub async fn send(&self, envelope: &Envelope, email: &[u8]) -> Result<(), SendError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| SendError::Transient("the SMTP pool is closed".into()))?;
        let mut conn = match self.checkout().await {
            Some(conn) => conn,
            None => self.connect().await?,
        };
        let sent = tokio::time::timeout(self.settings.timeout, conn.send(envelope, email)).await;
        match sent {
            Ok(Ok(_response)) => {
                self.checkin(conn);
                Ok(())
            }
            Ok(Err(e)) => {
                // lettre quits and marks the connection broken when a command fails; only a
                // message refused before any command (say, 8-bit content to a server without
                // 8BITMIME) leaves it usable.
                if !conn.has_broken() {
                    self.checkin(conn);
                }
                Err(classify(&e))
            }
            Err(_elapsed) => Err(SendError::Transient(format!(
                "SMTP server {}:{} did not answer within {} s",
                self.settings.host,
                self.settings.port,
                self.settings.timeout.as_secs()
            ))),
        }
    }

    /// A healthy idle connection, if any.
    async fn checkout(&self) -> Option<AsyncSmtpConnection> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()?;
            let age = idle.since.elapsed();
            let mut conn = idle.conn;
            if conn.has_broken() || age > self.settings.idle_timeout {
                close(conn);
                continue;
            }
            if age > CHECK_AFTER_IDLE {
                let probe = tokio::time::timeout(self.settings.timeout, conn.test_connected());
                if !matches!(probe.await, Ok(true)) {
                    close(conn);
                    continue;
                }
            }
            return Some(conn);
        }
    }

    fn checkin(&self, conn: AsyncSmtpConnection) {
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Idle {
                conn,
                since: Instant::now(),
            });
    }

    /// A new connection: TCP with `TCP_NODELAY`, greeting and `EHLO`, TLS as configured, then
    /// authentication.
    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let s = &self.settings;
        let session = async {
            let tcp = TcpStream::connect((s.host.as_str(), s.port))
                .await
                .map_err(|e| {
                    SendError::Transient(format!(
                        "cannot connect to SMTP server {}:{}: {e}",
                        s.host, s.port
                    ))
                })?;
            tcp.set_nodelay(true)
                .map_err(|e| SendError::Transient(format!("cannot set TCP_NODELAY: {e}")))?;
            let mut conn = match &s.security {
                Security::Implicit(config) => {
                    let peer = tcp
                        .peer_addr()
                        .map_err(|e| SendError::Transient(e.to_string()))?;
                    let name = rustls::pki_types::ServerName::try_from(s.host.clone())
                        .map_err(|e| SendError::Permanent(format!("bad SMTP host name: {e}")))?;
                    let inner = tokio_rustls::TlsConnector::from(Arc::clone(config))
                        .connect(name, tcp)
                        .await
                        .map_err(|e| {
                            SendError::Transient(format!(
                                "TLS with SMTP server {}:{} failed: {e}",
                                s.host, s.port
                            ))
                        })?;
                    AsyncSmtpConnection::connect_with_transport(
                        Box::new(Encrypted { inner, peer }),
                        &self.hello,
                    )
                    .await
                    .map_err(|e| classify(&e))?
                }
                Security::None | Security::StartTls(_) => {
                    AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello)
                        .await
                        .map_err(|e| classify(&e))?
                }
            };
            if let Security::StartTls(tls) = &s.security {
                conn.starttls(tls.clone(), &self.hello)
                    .await
                    .map_err(|e| classify(&e))?;
            }
            if let Some(credentials) = &s.credentials {
                conn.auth(DEFAULT_MECHANISMS, credentials)
                    .await
                    .map_err(|e| classify(&e))?;
            }
            Ok(conn)
        };
        tokio::time::timeout(s.timeout, session)
            .await
            .unwrap_or_else(|_| {
                Err(SendError::Transient(format!(
                    "SMTP server {}:{} did not answer within {} s",
                    s.host,
                    s.port,
                    s.timeout.as_secs()
                )))
            })
    }
}

/// 5xx replies are final; everything else (4xx, I/O, TLS set-up, timeouts) is worth a retry.
fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    if e.is_permanent() {
        SendError::Permanent(one_line(e))
    } else {
        SendError::Transient(one_line(e))
    }
}

/// Says `QUIT` and closes, without making the caller wait.
fn close(mut conn: AsyncSmtpConnection) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), conn.abort()).await;
        });
    }
}

/// Closes idle connections past the idle timeout, until the pool is gone.
async fn sweep(pool: Weak<SmtpPool>) {
    let period = match pool.upgrade() {
        Some(p) => (p.settings.idle_timeout / 3).max(Duration::from_secs(1)),
        None => return,
    };
    loop {
        tokio::time::sleep(period).await;
        let Some(pool) = pool.upgrade() else { return };
        let stale: Vec<Idle> = {
            let mut idle = pool.idle.lock().unwrap_or_else(|e| e.into_inner());
            let (stale, fresh) = std::mem::take(&mut *idle)
                .into_iter()
                .partition(|i| i.since.elapsed() > pool.settings.idle_timeout);
            *idle = fresh;
            stale
        };
        for i in stale {
            close(i.conn);
        }
    }
}

/// An implicit-TLS (SMTPS) stream, handed to lettre as a plain tokio stream.
struct Encrypted {
    inner: tokio_rustls::client::TlsStream<TcpStream>,
    peer: SocketAddr,
}

impl std::fmt::Debug for Encrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tls stream to {}", self.peer)
    }
}

impl AsyncTokioStream for Encrypted {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.peer)
    }
}

impl AsyncRead for Encrypted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Encrypted {
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
}

/// The TLS client settings of SMTPS: the system's trusted roots (as lettre uses for STARTTLS),
/// plus `extra_roots` (PEM certificates of a private mail relay's CA).
pub fn implicit_tls_config(extra_roots: &[u8]) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (_added, _ignored) = roots.add_parsable_certificates(native.certs);
    for cert in CertificateDer::pem_slice_iter(extra_roots) {
        let cert = cert.map_err(|e| format!("bad CA certificate: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("unusable CA certificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err("no trusted CA certificates for SMTP over TLS".into());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
