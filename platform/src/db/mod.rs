//! Storage: one code path over SQLite (the embedded default) and PostgreSQL (at scale).
//!
//! diesel's `MultiConnection` derive cannot express `ON CONFLICT`, `RETURNING` or
//! `FOR UPDATE SKIP LOCKED`, so instead [`Db`] is an enum of two r2d2 pools and the macros
//! [`with_conn!`](crate::with_conn) and [`write_tx!`](crate::write_tx) expand the same query code
//! once per backend, so each arm is type-checked against its own backend. Backend-only SQL goes in
//! a plain `match` on [`DbConn`].
//!
//! Conventions every table follows (both flavours under `migrations/`):
//! * ids are `BIGINT` (`i64`); timestamps are `BIGINT` milliseconds since the Unix epoch, UTC;
//! * enumerations are `TEXT` with a `CHECK`; JSON documents are `TEXT`;
//! * each user-visible change runs in one [`write_tx!`](crate::write_tx) together with its
//!   outbox rows and audit entry;
//! * query code several modules share is a trait implemented for both connection types with
//!   [`impl_for_backends!`](crate::impl_for_backends) (see [`crate::audit`]).

pub mod schema;

use std::path::PathBuf;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::{PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// Migrations for PostgreSQL, embedded in the binary.
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");
/// Migrations for SQLite, embedded in the binary.
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");

/// Key of the PostgreSQL advisory lock that serialises migrations of several starting nodes.
const MIGRATION_LOCK_KEY: i64 = 0x006c_6973_7469_6e67; // "listing" in ASCII

/// A parsed database URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `postgres://` or `postgresql://`, passed to libpq unchanged.
    Postgres(String),
    /// `sqlite://PATH` (or `sqlite:PATH`): a database file.
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    /// Recognises the two supported schemes; any other input is refused with a hint.
    pub fn parse(url: &str) -> Result<DatabaseUrl, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_owned()));
        }
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err("sqlite:// needs a file path, e.g. sqlite://data/platform.db".into());
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        Err(format!(
            "{:?} is not supported: use postgres://USER@HOST:PORT/DB or sqlite://PATH",
            redact(url)
        ))
    }
}

/// The URL with any password replaced by `***`, safe for logs and error messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default.
    Sqlite,
    /// PostgreSQL, for scale and several platform nodes.
    Postgres,
}

impl Backend {
    /// Lowercase name, as shown by `/readyz`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgresql",
        }
    }
}

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The database could not be reached or opened at start.
    #[error("cannot connect to the database at {url}: {reason}")]
    Unreachable {
        /// The URL without its password.
        url: String,
        /// What the driver said.
        reason: String,
    },
    /// No pooled connection became free in time (the database is down or overloaded).
    #[error("the database is not answering: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// Applying migrations failed.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// The blocking task running a query was cancelled or panicked.
    #[error("database task failed: {0}")]
    Task(String),
}

impl DbError {
    /// True when the database cannot be reached (no pooled connection came free, the connection
    /// was lost or closed): the request may succeed if tried again, so it is answered 503 with
    /// `Retry-After`, never 500.
    pub fn is_outage(&self) -> bool {
        match self {
            DbError::Unreachable { .. } | DbError::Pool(_) => true,
            DbError::Query(e) => query_is_outage(e),
            DbError::Migration(_) | DbError::Task(_) => false,
        }
    }
}

/// True for a query error that means the connection is gone, not that the query was wrong.
pub fn query_is_outage(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(kind, info) => {
            matches!(
                kind,
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand
            ) || {
                // libpq words a lost server this way without a specific kind.
                let m = info.message();
                m.contains("server closed the connection")
                    || m.contains("terminating connection")
                    || m.contains("no connection to the server")
                    || m.contains("could not receive data from server")
            }
        }
        Error::BrokenTransactionManager => true,
        _ => false,
    }
}

/// SQLite settings applied to every pooled connection.
#[derive(Debug, Clone, Copy)]
struct SqlitePragmas {
    busy_timeout_ms: u64,
}

/// Logs failed connection attempts at debug level on one line: the caller reports the outcome
/// (a start-up error, a 503, `/readyz`), so r2d2's default multi-line error logs are only noise.
#[derive(Debug, Clone, Copy)]
struct QuietErrors;

impl<E: std::fmt::Display> diesel::r2d2::HandleError<E> for QuietErrors {
    fn handle_error(&self, error: E) {
        let message = error.to_string();
        tracing::debug!(error = %message.split_whitespace().collect::<Vec<_>>().join(" "), "database connection attempt failed");
    }
}

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        // WAL lets readers run beside the one writer; busy_timeout makes a second writer wait
        // instead of failing; foreign keys are off by default in SQLite; secure_delete zeroes
        // deleted content, so a deleted saved search's words do not linger in free pages.
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;",
            self.busy_timeout_ms
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// A pool of connections to one database, cheap to clone.
#[derive(Clone)]
pub enum Db {
    /// SQLite file.
    Sqlite(Pool<ConnectionManager<SqliteConnection>>),
    /// PostgreSQL server.
    Postgres(Pool<ConnectionManager<PgConnection>>),
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Db({})", self.backend().name())
    }
}

/// One connection taken from a [`Db`]; use it through [`with_conn!`](crate::with_conn).
pub enum DbConn {
    /// SQLite connection.
    Sqlite(PooledConnection<ConnectionManager<SqliteConnection>>),
    /// PostgreSQL connection.
    Postgres(PooledConnection<ConnectionManager<PgConnection>>),
}

impl std::fmt::Debug for DbConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbConn::Sqlite(_) => f.write_str("DbConn(sqlite)"),
            DbConn::Postgres(_) => f.write_str("DbConn(postgresql)"),
        }
    }
}

/// Runs `$body` with `$c` bound to `&mut SqliteConnection` or `&mut PgConnection`; the body is
/// compiled once per backend. `$conn` must be a `&mut DbConn`.
#[macro_export]
macro_rules! with_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Sqlite($c) => {
                let $c: &mut ::diesel::SqliteConnection = $c;
                $body
            }
            $crate::db::DbConn::Postgres($c) => {
                let $c: &mut ::diesel::PgConnection = $c;
                $body
            }
        }
    };
}

/// Like [`with_conn!`](crate::with_conn), inside a write transaction: `BEGIN IMMEDIATE` on SQLite
/// (takes the write lock up front, so the transaction cannot fail half-way on a lock upgrade) and
/// a plain transaction on PostgreSQL. `$body` returns `Result<T, E>` with
/// `E: From<diesel::result::Error>`; an `Err` rolls everything back.
#[macro_export]
macro_rules! write_tx {
    ($conn:expr, |$c:ident| -> $ret:ty $body:block) => {
        match $conn {
            $crate::db::DbConn::Sqlite(conn) => {
                let conn: &mut ::diesel::SqliteConnection = conn;
                conn.immediate_transaction(|$c| -> $ret { $body })
            }
            $crate::db::DbConn::Postgres(conn) => {
                let conn: &mut ::diesel::PgConnection = conn;
                ::diesel::Connection::transaction(conn, |$c| -> $ret { $body })
            }
        }
    };
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Sqlite(conn) => {
                let conn: &mut ::diesel::SqliteConnection = conn;
                conn.immediate_transaction(|$c| $body)
            }
            $crate::db::DbConn::Postgres(conn) => {
                let conn: &mut ::diesel::PgConnection = conn;
                ::diesel::Connection::transaction(conn, |$c| $body)
            }
        }
    };
}

/// Implements a query trait for both `SqliteConnection` and `PgConnection` from one body, so
/// query code shared by several modules (audit entries, counters, …) is written once and
/// type-checked per backend: `impl_for_backends!(AuditLog { fn audit(&mut self, …) { … } });`.
/// Backend-only SQL (SKIP LOCKED, LISTEN/NOTIFY) belongs in a separate `impl` per connection type.
#[macro_export]
macro_rules! impl_for_backends {
    ($trait:path { $($body:tt)* }) => {
        impl $trait for ::diesel::SqliteConnection {
            $($body)*
        }
        impl $trait for ::diesel::PgConnection {
            $($body)*
        }
    };
}

/// Stores an enum as text: `text_enum!(NotificationStatus, "notification status")` gives it
/// diesel's `ToSql`/`FromSql` for `Text` on both backends through its `code()` and `from_code()`
/// (the type also derives `AsExpression` and `FromSqlRow` with `#[diesel(sql_type = Text)]`).
/// A stored code the type does not know is an error naming `what`, never a silent default.
#[macro_export]
macro_rules! text_enum {
    ($type:ty, $what:literal) => {
        impl<DB> ::diesel::serialize::ToSql<::diesel::sql_types::Text, DB> for $type
        where
            DB: ::diesel::backend::Backend,
            str: ::diesel::serialize::ToSql<::diesel::sql_types::Text, DB>,
        {
            fn to_sql<'b>(
                &'b self,
                out: &mut ::diesel::serialize::Output<'b, '_, DB>,
            ) -> ::diesel::serialize::Result {
                self.code().to_sql(out)
            }
        }

        impl<DB> ::diesel::deserialize::FromSql<::diesel::sql_types::Text, DB> for $type
        where
            DB: ::diesel::backend::Backend,
            String: ::diesel::deserialize::FromSql<::diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> ::diesel::deserialize::Result<Self> {
                let code = String::from_sql(bytes)?;
                <$type>::from_code(&code)
                    .ok_or_else(|| format!("unknown {} {code:?}", $what).into())
            }
        }
    };
}

impl Db {
    /// Opens a pool for `url` and checks that one connection works, so a wrong URL or a database
    /// that is down is reported at start. For SQLite the file (and its directory) is created.
    pub fn connect(url: &str, pool_size: u32, timeout: Duration) -> Result<Db, DbError> {
        let unreachable = |reason: String| DbError::Unreachable {
            url: redact(url),
            reason,
        };
        match DatabaseUrl::parse(url).map_err(unreachable)? {
            DatabaseUrl::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        unreachable(format!("cannot create {}: {e}", dir.display()))
                    })?;
                }
                let manager = ConnectionManager::<SqliteConnection>::new(path.to_string_lossy());
                let pool = Pool::builder()
                    .max_size(pool_size)
                    .min_idle(Some(1))
                    .connection_timeout(timeout)
                    .error_handler(Box::new(QuietErrors))
                    .connection_customizer(Box::new(SqlitePragmas {
                        busy_timeout_ms: timeout.as_millis() as u64,
                    }))
                    .build(manager)
                    .map_err(|e| unreachable(e.to_string()))?;
                Ok(Db::Sqlite(pool))
            }
            DatabaseUrl::Postgres(url) => {
                let manager = ConnectionManager::<PgConnection>::new(with_connect_timeout(
                    &url,
                    timeout.as_secs().max(1),
                ));
                let pool = Pool::builder()
                    .max_size(pool_size)
                    .min_idle(Some(1))
                    .connection_timeout(timeout)
                    .error_handler(Box::new(QuietErrors))
                    .build(manager)
                    .map_err(|e| unreachable(e.to_string()))?;
                Ok(Db::Postgres(pool))
            }
        }
    }

    /// Which backend this pool talks to.
    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Takes a connection, waiting at most the configured timeout. Blocking: call it from
    /// [`Db::run`] or another blocking context, never directly in an async handler.
    pub fn get(&self) -> Result<DbConn, DbError> {
        Ok(match self {
            Db::Sqlite(pool) => DbConn::Sqlite(pool.get()?),
            Db::Postgres(pool) => DbConn::Postgres(pool.get()?),
        })
    }

    /// Runs blocking database work on tokio's blocking pool, so async handlers never block.
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.get()?;
            work(&mut conn)
        })
        .await
        .map_err(|e| E::from(DbError::Task(e.to_string())))?
    }

    /// Applies pending migrations and returns the versions applied. Safe to call from several
    /// nodes at once: on PostgreSQL an advisory lock serialises them.
    pub fn migrate(&self) -> Result<Vec<String>, DbError> {
        let mut conn = self.get()?;
        let failed =
            |e: Box<dyn std::error::Error + Send + Sync>| DbError::Migration(e.to_string());
        match &mut conn {
            DbConn::Sqlite(c) => {
                let c: &mut SqliteConnection = c;
                let applied = c
                    .run_pending_migrations(SQLITE_MIGRATIONS)
                    .map_err(failed)?;
                Ok(applied.iter().map(ToString::to_string).collect())
            }
            DbConn::Postgres(c) => {
                let c: &mut PgConnection = c;
                c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))?;
                let result = c
                    .run_pending_migrations(POSTGRES_MIGRATIONS)
                    .map(|applied| applied.iter().map(ToString::to_string).collect())
                    .map_err(failed);
                let unlocked =
                    c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"));
                let applied = result?;
                unlocked?;
                Ok(applied)
            }
        }
    }

    /// Checks that the database answers a trivial query.
    pub fn ping(&self) -> Result<(), DbError> {
        let mut conn = self.get()?;
        with_conn!(&mut conn, |c| c.batch_execute("SELECT 1"))?;
        Ok(())
    }

    /// Connections currently open and idle in the pool.
    pub fn pool_state(&self) -> (u32, u32) {
        let state = match self {
            Db::Sqlite(pool) => pool.state(),
            Db::Postgres(pool) => pool.state(),
        };
        (state.connections, state.idle_connections)
    }
}

/// Adds libpq's `connect_timeout` unless the URL sets one, so a silent host fails fast.
fn with_connect_timeout(url: &str, seconds: u64) -> String {
    if url.contains("connect_timeout=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&connect_timeout={seconds}")
    } else {
        format!("{url}?connect_timeout={seconds}")
    }
}

/// Milliseconds since the Unix epoch, the unit of every timestamp column.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_recognised() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/p.db").unwrap(),
            DatabaseUrl::Sqlite("data/p.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:/tmp/x.db").unwrap(),
            DatabaseUrl::Sqlite("/tmp/x.db".into())
        );
        assert!(matches!(
            DatabaseUrl::parse("postgresql://root@127.0.0.1/test").unwrap(),
            DatabaseUrl::Postgres(_)
        ));
        let err = DatabaseUrl::parse("mysql://u:secret@h/db").unwrap_err();
        assert!(!err.contains("secret"), "{err}");
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://app:s3cret@db.example:5432/x"),
            "postgres://app:***@db.example:5432/x"
        );
        assert_eq!(
            redact("postgres://root@127.0.0.1/test"),
            "postgres://root@127.0.0.1/test"
        );
        assert_eq!(redact("sqlite://data/p.db"), "sqlite://data/p.db");
    }

    #[test]
    fn connect_timeout_is_added_once() {
        assert_eq!(
            with_connect_timeout("postgres://h/db", 5),
            "postgres://h/db?connect_timeout=5"
        );
        assert_eq!(
            with_connect_timeout("postgres://h/db?sslmode=disable", 5),
            "postgres://h/db?sslmode=disable&connect_timeout=5"
        );
        assert_eq!(
            with_connect_timeout("postgres://h/db?connect_timeout=9", 5),
            "postgres://h/db?connect_timeout=9"
        );
    }

    crate::db_test!(migrations_apply_once_and_ping, |db| {
        db.ping().unwrap();
        // The test database was migrated on creation; a second run applies nothing.
        assert!(db.migrate().unwrap().is_empty());
    });

    crate::db_test!(unknown_tables_are_not_there_but_ours_are, |db| {
        use diesel::prelude::*;
        let mut conn = db.get().unwrap();
        let n: i64 =
            with_conn!(&mut conn, |c| schema::agencies::table.count().get_result(c)).unwrap();
        assert_eq!(n, 0);
    });
}
