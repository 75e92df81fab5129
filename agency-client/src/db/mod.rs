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

/// Makes the data folder 0700 (when it is this desk's own; a new one is created 0700) and the
/// database file (created empty here when missing, so SQLite
/// never creates it world-readable) and its `-wal`/`-shm` companions 0600. SQLite gives the
/// companions it creates later the database file's mode.
fn restrict_to_owner(data_dir: &Path, db_file: &Path) -> Result<(), ClientError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let failed = |path: &Path, e: std::io::Error| {
            ClientError::Storage(format!(
                "cannot make {} private to this user: {e}",
                path.display()
            ))
        };
        // The folder is tightened only when it is this desk's own (it holds the database): a
        // `--data-dir` pointing at a shared folder such as /tmp must not lock others out of it.
        // The files inside are 0600 either way.
        if db_file.exists() {
            std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| failed(data_dir, e))?;
        }
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(db_file)
            .map_err(|e| failed(db_file, e))?;
        let name = db_file.to_string_lossy();
        for path in [
            db_file.to_path_buf(),
            PathBuf::from(format!("{name}-wal")),
            PathBuf::from(format!("{name}-shm")),
        ] {
            match std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(failed(&path, e)),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (data_dir, db_file);
    Ok(())
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
    ///
    /// The folder holds the agency's encrypted key and its customers' names and contacts, so it
    /// is made readable by this user only: the folder 0700, the database and its WAL files
    /// 0600, tightened on every start for a folder made by an older version or by hand.
    pub fn open(data_dir: &Path) -> Result<Store, ClientError> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(data_dir).map_err(|e| {
            ClientError::Storage(format!("cannot create {}: {e}", data_dir.display()))
        })?;
        let path = data_dir.join(DB_FILE);
        restrict_to_owner(data_dir, &path)?;
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
