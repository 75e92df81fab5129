//! Starting and stopping the platform process: database, servers, background jobs, and a
//! graceful shutdown on SIGTERM or Ctrl-C (in-flight requests finish, jobs stop at a safe point).

use std::net::SocketAddr;
use std::time::Duration;

use actix_http::HttpService;
use actix_http::error::DispatchError;
use actix_service::{ServiceFactoryExt, fn_service, map_config};
use actix_tls::accept::TlsError;
use actix_tls::accept::rustls_0_23::{Acceptor, TlsStream};
use actix_web::rt::net::TcpStream;
use actix_web::{App, HttpServer, middleware, web};

use crate::head_limits::{self, Door, Screened};

use crate::config::Config;
use crate::db::{Db, DbError};
use crate::http_metrics::ServerName;
use crate::shutdown::Shutdown;
use crate::state::AppState;

/// How long in-flight requests get to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Why the platform could not start or stopped with an error. Each message says what failed; the
/// binary prints it with its causes on one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The data directory could not be created.
    #[error("cannot create the data directory {}", path.display())]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Database(#[from] DbError),
    /// A query at start failed.
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    /// The saved-search index could not be loaded.
    #[error("loading saved searches")]
    SavedSearches(#[source] DbError),
    /// The certificate authority could not be opened, or the server or signing certificate issued.
    #[error(transparent)]
    CertificateAuthority(#[from] crate::pki::PkiError),
    /// The agency port's TLS configuration could not be built.
    #[error(transparent)]
    Tls(#[from] crate::api::tls::TlsError),
    /// The mail worker could not start (its configuration).
    #[error(transparent)]
    MailWorker(#[from] crate::notify::worker::WorkerError),
    /// The secrets shared by every node could not be read or written.
    #[error(transparent)]
    Secrets(#[from] crate::accounts::secrets::SecretsError),
    /// The live-event connection to PostgreSQL could not be made.
    #[error("connecting live events to the other nodes (PostgreSQL LISTEN)")]
    LiveEvents(#[source] diesel::ConnectionError),
    /// A port could not be bound; `hint` says what to do.
    #[error("cannot listen on {addr} for the {what}: {error}; {hint}")]
    Listen {
        /// `website`, `agency API` or `operator console`.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// What the system said.
        error: std::io::Error,
        /// What to do about it.
        hint: String,
    },
    /// The SIGTERM and Ctrl-C handlers could not be installed.
    #[error("installing signal handlers")]
    Signals(#[source] std::io::Error),
    /// A server failed while running.
    #[error(transparent)]
    Serve(std::io::Error),
    /// A start-up task was cancelled or panicked.
    #[error(transparent)]
    Blocking(#[from] tokio::task::JoinError),
    /// A server's task was cancelled or panicked.
    #[error("{what} task")]
    Task {
        /// `website` or `agency API`.
        what: &'static str,
        /// What happened to it.
        source: tokio::task::JoinError,
    },
}

impl ServerError {
    fn ca(cause: impl Into<crate::pki::PkiError>) -> ServerError {
        ServerError::CertificateAuthority(cause.into())
    }

    fn tls(cause: impl Into<crate::api::tls::TlsError>) -> ServerError {
        ServerError::Tls(cause.into())
    }

    fn mail_worker(cause: impl Into<crate::notify::worker::WorkerError>) -> ServerError {
        ServerError::MailWorker(cause.into())
    }
}

/// Creates the data directory, readable by the owner only (it holds the CA's keys).
pub fn prepare_data_dir(config: &Config) -> Result<(), ServerError> {
    let dir = &config.data_dir;
    if dir.exists() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| ServerError::DataDir {
        path: dir.clone(),
        source,
    })
}

/// Opens the database named by the configuration and applies pending migrations.
pub fn open_database(config: &Config) -> Result<Db, ServerError> {
    let url = config.database_url();
    let db = Db::connect(
        &url,
        config.database.pool_size,
        Duration::from_millis(config.database.timeout_ms),
    )?;
    let applied = db.migrate()?;
    if !applied.is_empty() {
        tracing::info!(count = applied.len(), versions = ?applied, "applied database migrations");
    }
    let filled = crate::pki::certs::backfill_key_hashes(&mut db.get()?)?;
    if filled > 0 {
        tracing::info!(
            count = filled,
            "recorded the public keys of earlier certificates"
        );
    }
    Ok(db)
}

/// Runs the platform until SIGTERM or Ctrl-C.
pub async fn serve(config: Config) -> Result<(), ServerError> {
    prepare_data_dir(&config)?;
    let db = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || open_database(&config)).await??
    };
    let node = crate::cluster::NodeId::new();
    tracing::info!(
        database = %crate::db::redact(&config.database_url()),
        backend = db.backend().name(),
        node = %node,
        "database ready"
    );
    let (pki, identity) = {
        let config = config.clone();
        let db = db.clone();
        tokio::task::spawn_blocking(move || -> Result<_, ServerError> {
            let mut conn = db.get()?;
            let pki = crate::pki::Pki::open_to_serve(&config, &mut conn).map_err(ServerError::ca)?;
            let identity = pki
                .server_identity(&mut conn, &config.agency.server_names)
                .map_err(ServerError::ca)?;
            // Issued (and registered) now, so take-downs from this node can be checked by desks.
            let signer = pki.platform_signer(&mut conn).map_err(ServerError::ca)?;
            tracing::info!(serial = %signer.serial(), "platform document-signing certificate ready");
            Ok((pki, identity))
        })
        .await??
    };
    tracing::info!(fingerprint = %pki.fingerprint(), "certificate authority ready");
    {
        let (db, data_dir) = (db.clone(), config.data_dir.clone());
        tokio::task::spawn_blocking(move || -> Result<(), ServerError> {
            Ok(crate::accounts::secrets::share_unsubscribe_key(
                &mut db.get()?,
                &data_dir,
            )?)
        })
        .await??;
    }
    let pki = std::sync::Arc::new(pki);
    let trust = pki.trust();
    let resolver = std::sync::Arc::new(
        crate::api::tls::ServerCertResolver::new(&identity).map_err(ServerError::tls)?,
    );
    let tls_config = crate::api::tls::server_config(std::sync::Arc::clone(&resolver))
        .map_err(ServerError::tls)?;
    drop(identity);
    let state = web::Data::new(AppState::new(
        config.clone(),
        db,
        std::sync::Arc::clone(&pki),
    ));
    if state.db.backend() == crate::db::Backend::Postgres {
        let (events, url, node) = (state.events.clone(), config.database_url(), node.clone());
        tokio::task::spawn_blocking(move || events.connect_postgres(&url, &node))
            .await?
            .map_err(ServerError::LiveEvents)?;
        tracing::info!("live events shared with the other nodes (PostgreSQL LISTEN/NOTIFY)");
    }
    let upkeep_every = Duration::from_secs(config.ca.check_interval_secs);
    let upkeep = std::sync::Arc::new(
        crate::pki::upkeep::Upkeep::new(
            std::sync::Arc::clone(&pki),
            resolver,
            config.agency.server_names.clone(),
            crate::pki::upkeep::ExpiryGauges::register(&state.metrics),
        )
        .shared_with_cluster(node.clone(), upkeep_every),
    );
    {
        let (db, matcher) = (state.db.clone(), state.matcher.clone());
        let started = std::time::Instant::now();
        let n = db
            .run::<_, DbError, _>(move |conn| {
                Ok(crate::with_conn!(conn, |c| matcher.rebuild(c, crate::db::now_ms()))?)
            })
            .await
            .map_err(ServerError::SavedSearches)?;
        tracing::info!(
            saved_searches = n,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "saved-search index built"
        );
    }
    let (stop_jobs, shutdown) = Shutdown::new();
    let mut jobs = vec![
        tokio::spawn(crate::pki::upkeep::run(
            state.db.clone(),
            upkeep,
            upkeep_every,
            shutdown.clone(),
        )),
        tokio::spawn(crate::cluster::every(
            state.db.clone(),
            node.clone(),
            "pki.expiry_notices",
            Duration::from_secs(3600),
            shutdown.clone(),
            {
                let db = state.db.clone();
                move || crate::pki::jobs::expiry_notices_round(db.clone())
            },
        )),
        tokio::spawn(crate::matching::jobs::keep_in_step(
            state.db.clone(),
            state.matcher.clone(),
            Duration::from_secs(2),
            shutdown.clone(),
        )),
        tokio::spawn(crate::cluster::every(
            state.db.clone(),
            node.clone(),
            "searches.expiry_housekeeping",
            Duration::from_secs(600),
            shutdown.clone(),
            {
                let db = state.db.clone();
                let (url, agency) = (
                    config.web.public_url.clone(),
                    config.agency.public_url.clone(),
                );
                move || housekeeping_round(db.clone(), url.clone(), agency.clone())
            },
        )),
        tokio::spawn(refresh_gauges(
            state.clone(),
            Duration::from_secs(5),
            shutdown.clone(),
        )),
    ];
    jobs.push(
        crate::notify::worker::spawn(&state, shutdown.clone()).map_err(ServerError::mail_worker)?,
    );

    let web_state = state.clone();
    let hsts = crate::web::protocol::sends_hsts(&config.web.public_url);
    let web_listener = bind("website", config.web.listen, "--web-listen")?;
    let web_addr = web_listener.local_addr().map_err(ServerError::Serve)?;
    let web_server = actix_server::Server::build()
        .disable_signals()
        .shutdown_timeout(SHUTDOWN_GRACE.as_secs())
        .listen("website", web_listener, move || {
            let app = App::new()
                .app_data(web_state.clone())
                .app_data(ServerName("website"))
                .app_data(crate::web::protocol::Hsts(hsts))
                .wrap(middleware::from_fn(crate::web::protocol::hygiene))
                .wrap(middleware::from_fn(crate::http_metrics::track))
                .wrap(middleware::NormalizePath::trim())
                .configure(crate::web::routes);
            let http = HttpService::build()
                .client_disconnect_timeout(Duration::from_secs(1))
                .local_addr(web_addr)
                .h1(app_service(app, false, web_addr));
            fn_service(|io: TcpStream| async move {
                let peer = io.peer_addr().ok();
                match head_limits::screen(io, Door::Website).await {
                    Some(io) => Ok((io, peer)),
                    None => Err(DispatchError::Io(std::io::ErrorKind::InvalidData.into())),
                }
            })
            .and_then(http)
        })
        .map_err(|e| listen_error("website", config.web.listen, "--web-listen", e))?
        .run();
    let web_handle = web_server.handle();
    let web_task = tokio::spawn(web_server);

    let admin_state = state.clone();
    let admin_server = HttpServer::new(move || {
        App::new()
            .app_data(admin_state.clone())
            .app_data(ServerName("admin"))
            .app_data(crate::web::protocol::Hsts(false))
            .wrap(crate::console::security_headers())
            .wrap(middleware::from_fn(crate::web::protocol::hygiene))
            .wrap(middleware::from_fn(crate::http_metrics::track))
            .wrap(middleware::NormalizePath::trim())
            .configure(crate::console::routes)
    })
    .disable_signals()
    .shutdown_timeout(SHUTDOWN_GRACE.as_secs())
    .bind(config.admin.listen)
    .map_err(|e| listen_error("operator console", config.admin.listen, "--admin-listen", e))?;
    let admin_addr = admin_server.addrs()[0];
    let admin_server = admin_server.run();
    let admin_handle = admin_server.handle();
    let admin_task = tokio::spawn(admin_server);
    {
        // Operator commands act with what this server uses (see `crate::settings`).
        let config = config.clone();
        let console_url = format!("http://{admin_addr}");
        state
            .db
            .run(move |conn| -> Result<(), DbError> {
                Ok(crate::with_conn!(conn, |c| {
                    crate::settings::record_effective(c, &config, &console_url)
                })?)
            })
            .await?;
    }

    let agency_state = state.clone();
    let agency_listener = bind("agency API", config.agency.listen, "--agency-listen")?;
    let agency_addr = agency_listener.local_addr().map_err(ServerError::Serve)?;
    let mut tls_config = tls_config;
    tls_config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let agency_server = actix_server::Server::build()
        .disable_signals()
        .shutdown_timeout(SHUTDOWN_GRACE.as_secs())
        .listen("agency API", agency_listener, move || {
            let app = App::new()
                .app_data(agency_state.clone())
                .app_data(ServerName("agency"))
                .wrap(middleware::from_fn(crate::api::fallback::json_errors))
                .wrap(middleware::from_fn(crate::http_metrics::track))
                .configure(crate::api::routes);
            let trust = trust.clone();
            let http = HttpService::build()
                .client_disconnect_timeout(Duration::from_secs(1))
                .local_addr(agency_addr)
                .on_connect_ext(move |io: &Screened<TlsStream<TcpStream>>, ext| {
                    crate::api::tls::inspect_peer(&trust, io.get_ref(), ext)
                })
                .h1(app_service(app, true, agency_addr));
            Acceptor::new(tls_config.clone())
                .map_init_err(|_| ())
                .map_err(TlsError::into_service_error)
                .and_then(fn_service(|io: TlsStream<TcpStream>| async move {
                    let peer = io.get_ref().0.peer_addr().ok();
                    match head_limits::screen(io, Door::Agency).await {
                        Some(io) => Ok((io, peer)),
                        None => Err(TlsError::Service(DispatchError::Io(
                            std::io::ErrorKind::InvalidData.into(),
                        ))),
                    }
                }))
                .and_then(http.map_err(TlsError::Service))
        })
        .map_err(|e| listen_error("agency API", config.agency.listen, "--agency-listen", e))?
        .run();
    let agency_handle = agency_server.handle();
    let agency_task = tokio::spawn(agency_server);

    let signal = shutdown_signal().map_err(ServerError::Signals)?;
    if let Some(warning) = config.web.proxy_warning() {
        tracing::warn!(listen = %config.web.listen, public_url = %config.web.public_url, "{warning}");
    }
    tracing::info!(
        web = %web_addr,
        agency = %agency_addr,
        admin = %admin_addr,
        public_url = %config.web.public_url,
        "platform ready"
    );

    signal.await;
    tracing::info!("shutdown requested; finishing in-flight requests");
    let _ = stop_jobs.send(true);
    state.events.close();
    tokio::join!(
        web_handle.stop(true),
        agency_handle.stop(true),
        admin_handle.stop(true)
    );
    web_task
        .await
        .map_err(|source| ServerError::Task {
            what: "website",
            source,
        })?
        .map_err(ServerError::Serve)?;
    agency_task
        .await
        .map_err(|source| ServerError::Task {
            what: "agency API",
            source,
        })?
        .map_err(ServerError::Serve)?;
    admin_task
        .await
        .map_err(|source| ServerError::Task {
            what: "operator console",
            source,
        })?
        .map_err(ServerError::Serve)?;
    for job in jobs {
        let _ = job.await;
    }
    tracing::info!("platform stopped");
    Ok(())
}

/// One round of saved-search expiry housekeeping (see [`crate::matching::jobs`]).
async fn housekeeping_round(db: Db, public_url: String, agency_url: String) {
    use crate::matching::jobs::{HousekeepingError, expiry_housekeeping};
    match db
        .run::<_, HousekeepingError, _>(move |conn| {
            expiry_housekeeping(conn, &public_url, &agency_url)
        })
        .await
    {
        Ok((0, 0)) => {}
        Ok((notices, purged)) => {
            tracing::info!(notices, purged, "saved-search expiry housekeeping")
        }
        Err(e) => tracing::warn!(error = %e, "saved-search housekeeping failed; will retry"),
    }
}

/// Sets the mail and matcher gauges every `every` until shutdown: emails by status and the
/// oldest waiting, notifications not yet composed, this node's index size and how far it is
/// behind the saved-search log.
async fn refresh_gauges(
    state: web::Data<AppState>,
    every: Duration,
    mut shutdown: crate::shutdown::Shutdown,
) {
    use crate::notify::messages::MessageStore;
    use crate::notify::store::MailGaugeQueries;
    use crate::searches::SavedSearchStore;
    loop {
        let applied = state.matcher.applied_seq();
        let counts = state
            .db
            .run::<_, DbError, _>(move |conn| {
                let counts: diesel::QueryResult<_> = crate::with_conn!(conn, |c| {
                    (|| {
                        let messages = c.message_counts()?;
                        let queued = c.queued_notifications()?;
                        let lag = c.saved_search_log_after(applied, 10_000)?.len();
                        Ok((messages, queued, lag))
                    })()
                });
                Ok(counts?)
            })
            .await;
        match counts {
            Ok(((by_status, oldest), queued, lag)) => {
                let m = &state.metrics;
                for status in ["pending", "sending", "failed"] {
                    m.mail_messages
                        .get_or_create(&crate::metrics::StatusLabels {
                            status: status.to_owned(),
                        })
                        .set(0);
                }
                for (status, n) in by_status {
                    m.mail_messages
                        .get_or_create(&crate::metrics::StatusLabels { status })
                        .set(n);
                }
                let age = oldest.map_or(0, |at| (crate::db::now_ms() - at).max(0) / 1000);
                m.mail_oldest_pending_seconds.set(age);
                m.mail_queued_matches.set(queued);
                m.matcher_saved_searches
                    .set(i64::try_from(state.matcher.matcher().len()).unwrap_or(i64::MAX));
                m.matcher_lag_entries
                    .set(i64::try_from(lag).unwrap_or(i64::MAX));
            }
            Err(e) => tracing::debug!(error = %e, "gauges not refreshed"),
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.requested() => return,
        }
    }
}

/// Binds a public port (the website's, the agency API's), as actix-web's `HttpServer` would.
fn bind(
    what: &'static str,
    addr: SocketAddr,
    flag: &str,
) -> Result<std::net::TcpListener, ServerError> {
    let listener =
        std::net::TcpListener::bind(addr).map_err(|e| listen_error(what, addr, flag, e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| listen_error(what, addr, flag, e))?;
    Ok(listener)
}

/// An actix-web application as the request service of an HTTP/1 server built from its parts
/// (the website and agency ports are, so their connections pass [`head_limits::screen`] first).
fn app_service<T, B>(
    app: App<T>,
    secure: bool,
    addr: SocketAddr,
) -> impl actix_service::ServiceFactory<
    actix_http::Request,
    Config = (),
    Response = actix_web::dev::ServiceResponse<B>,
    Error = actix_web::Error,
    InitError = (),
>
where
    B: actix_web::body::MessageBody,
    T: actix_service::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
{
    // What `HttpServer` gives the application: whether the port is TLS, and its address.
    map_config(app, move |()| {
        actix_web::dev::AppConfig::__priv_test_new(secure, addr.to_string(), addr)
    })
}

/// The error for a port that cannot be bound, with what to do about it.
fn listen_error(
    what: &'static str,
    addr: SocketAddr,
    flag: &str,
    e: std::io::Error,
) -> ServerError {
    let hint = match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            format!(
                "another program already uses it; stop it or choose another address with {flag}"
            )
        }
        std::io::ErrorKind::PermissionDenied => {
            format!("ports below 1024 need privileges; choose another with {flag}")
        }
        _ => format!("choose another address with {flag}"),
    };
    ServerError::Listen {
        what,
        addr,
        error: e,
        hint,
    }
}

/// Installs the SIGTERM and Ctrl-C (SIGINT) handlers now and returns a future that resolves on
/// either. Installed before the process reports ready, so a signal right after "platform ready"
/// is a graceful stop, never the default kill.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
