//! Fresh databases for tests: a SQLite file in a temporary directory, or a PostgreSQL database
//! created for the test and dropped after it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

use crate::db::Db;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A migrated, empty database that disappears with the value.
#[derive(Debug)]
pub struct TestDb {
    /// The pool to use.
    pub db: Db,
    /// Its URL, e.g. to hand to a platform process.
    pub url: String,
    dir: Option<tempfile::TempDir>,
    postgres: Option<PostgresGuard>,
}

impl TestDb {
    /// A migrated SQLite database in a fresh temporary directory.
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let db = Db::connect(&url, 4, Duration::from_secs(10)).expect("open SQLite");
        db.migrate().expect("migrate SQLite");
        TestDb {
            db,
            url,
            dir: Some(dir),
            postgres: None,
        }
    }

    /// A migrated PostgreSQL database of its own, or `None` (after a loud skip) when
    /// `TEST_POSTGRES_URL` is not set.
    pub fn postgres(test: &str) -> Option<TestDb> {
        let (url, guard) = fresh_postgres_database(test)?;
        let db = Db::connect(&url, 4, Duration::from_secs(10)).expect("open PostgreSQL");
        db.migrate().expect("migrate PostgreSQL");
        Some(TestDb {
            db,
            url,
            dir: None,
            postgres: Some(guard),
        })
    }

    /// The temporary directory holding a SQLite database (None for PostgreSQL).
    pub fn dir(&self) -> Option<&std::path::Path> {
        self.dir.as_ref().map(|d| d.path())
    }

    /// True when this database is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }
}

/// Drops its PostgreSQL database when dropped.
#[derive(Debug)]
pub struct PostgresGuard {
    admin_url: String,
    name: String,
}

impl Drop for PostgresGuard {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.admin_url) {
            let _ = conn.batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// Creates an empty PostgreSQL database for `test` and returns its URL and a guard that drops
/// it; `None` (after a loud skip) when `TEST_POSTGRES_URL` is not set.
pub fn fresh_postgres_database(test: &str) -> Option<(String, PostgresGuard)> {
    let Ok(admin_url) = std::env::var("TEST_POSTGRES_URL") else {
        super::skip(
            test,
            "PostgreSQL variant skipped: set TEST_POSTGRES_URL=postgres://root@127.0.0.1:5432/test",
        );
        return None;
    };
    let name = format!(
        "t_{}_{}_{:08x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    );
    let mut admin = PgConnection::establish(&admin_url).unwrap_or_else(|e| {
        panic!(
            "TEST_POSTGRES_URL={} is set but unusable: {e}",
            crate::db::redact(&admin_url)
        )
    });
    admin
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .expect("CREATE DATABASE for the test");
    let url = replace_database(&admin_url, &name);
    Some((url, PostgresGuard { admin_url, name }))
}

/// `postgres://u@h:p/old?x=y` with its database name replaced.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_and_path = &base[scheme_end..];
    let host = host_and_path.split('/').next().unwrap_or(host_and_path);
    let mut out = format!("{}{}/{}", &base[..scheme_end], host, name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            super::replace_database("postgres://root@127.0.0.1:5432/test", "t_1"),
            "postgres://root@127.0.0.1:5432/t_1"
        );
        assert_eq!(
            super::replace_database("postgres://root@h/test?sslmode=disable", "t_2"),
            "postgres://root@h/t_2?sslmode=disable"
        );
        assert_eq!(
            super::replace_database("postgres://root@h", "t_3"),
            "postgres://root@h/t_3"
        );
    }
}
