//! The desk's own SQLite database: opened (and created and migrated) under the data directory.
//!
//! Every user-visible change runs in one transaction, so a crash or a refused request never
//! leaves half a change behind.

pub mod schema;

use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::error::ClientError;

/// The migrations in `migrations/agency-client/`, compiled in.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/agency-client");

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "agency-client.sqlite3";

/// The per-user data directory of this program (e.g. `~/.local/share/agency-client` on Linux),
/// used unless `--data-dir` says otherwise.
pub fn default_data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "agency-client").map(|d| d.data_dir().to_owned())
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// An open desk database.
pub struct Store {
    conn: SqliteConnection,
    data_dir: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the database in `data_dir`, creating the directory and the file and applying
    /// pending migrations as needed.
    pub fn open(data_dir: &Path) -> Result<Store, ClientError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            ClientError::Storage(format!("cannot create {}: {e}", data_dir.display()))
        })?;
        let path = data_dir.join(DB_FILE);
        let mut conn = SqliteConnection::establish(&path.to_string_lossy())
            .map_err(|e| ClientError::Storage(format!("cannot open {}: {e}", path.display())))?;
        conn.batch_execute(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
        )?;
        conn.run_pending_migrations(MIGRATIONS)
            .map_err(|e| ClientError::Storage(format!("cannot migrate {}: {e}", path.display())))?;
        Ok(Store {
            conn,
            data_dir: data_dir.to_owned(),
        })
    }

    /// The connection, for the query functions of the other modules.
    pub fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }

    /// Where the database lives.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}
