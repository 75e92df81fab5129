//! Test support, compiled for this crate's tests and, with the feature `test-support`, for the
//! end-to-end suite: fresh databases ([`TestDb`]), the real platform process
//! ([`PlatformProcess`]) and loud skips ([`skip`]).
//!
//! Environment variables the helpers read:
//! * `TEST_POSTGRES_URL`: a PostgreSQL URL whose user may create databases; each test gets a
//!   database of its own. Unset: PostgreSQL variants are skipped, loudly.
//! * `REQUIRE_FULL_TESTS=1` (set by CI): a skip becomes a failure, so nothing silently goes untested.
//! * `TEST_SKIP_LOG`: a file each skip is appended to, so the test script can list them at the end.

pub mod agency;
pub mod db;
pub mod docs;
pub mod fixtures;
pub mod process;
pub mod smtp;

pub use db::TestDb;
pub use process::{PlatformBuilder, PlatformProcess};

use std::io::Write;

/// Installs rustls's ring crypto provider for this process (idempotent); HTTP clients in tests
/// need one because no crate here enables a default provider.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A blocking HTTP client for tests, with a 30 s timeout and no redirects followed.
pub fn http_client() -> reqwest::blocking::Client {
    install_crypto_provider();
    reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client")
}

/// Application state over `db` with a fresh certificate authority in a temporary data directory
/// (kept alive by the returned guard). The CA is recorded in the database first: fixture
/// certificate rows (not real certificates) would otherwise look like the register of another
/// CA, which opening the CA rightly refuses.
pub fn app_state(db: &crate::db::Db) -> (tempfile::TempDir, crate::state::AppState) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = crate::config::Config {
        data_dir: dir.path().to_owned(),
        ..Default::default()
    };
    let mut conn = db.get().expect("database connection");
    let authority = ca::CertificateAuthority::create(
        &crate::pki::ca_dir(dir.path()),
        &config.ca.organization,
        None,
        None,
    )
    .expect("certificate authority");
    crate::pki::custody::record_new_ca(&mut conn, &authority, "ca.create", 0).expect("CA recorded");
    let pki = crate::pki::Pki::open(&config, &mut conn).expect("certificate authority");
    let state = crate::state::AppState::new(config, db.clone(), std::sync::Arc::new(pki));
    (dir, state)
}

/// True when CI demands that every test runs (`REQUIRE_FULL_TESTS=1`).
pub fn full_run_required() -> bool {
    std::env::var("REQUIRE_FULL_TESTS").is_ok_and(|v| v == "1" || v == "true")
}

/// Reports that `test` cannot run here because of `reason` (e.g. no PostgreSQL): a banner on
/// stderr and a line in `TEST_SKIP_LOG`. Panics instead when [`full_run_required`].
pub fn skip(test: &str, reason: &str) {
    if full_run_required() {
        panic!("{test} cannot run: {reason} (REQUIRE_FULL_TESTS=1 forbids skipping)");
    }
    eprintln!("\n!!!!! SKIPPED {test}: {reason} !!!!!\n");
    if let Ok(path) = std::env::var("TEST_SKIP_LOG")
        && let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    {
        let _ = writeln!(file, "{test}: {reason}");
    }
}

/// Declares a database test that runs twice, on a fresh SQLite file and on a fresh PostgreSQL
/// database (skipped loudly without `TEST_POSTGRES_URL`). The body gets `$db: &Db`.
///
/// `db_test!(name, |db| { ... })` runs a synchronous body; `db_test!(async name, |db| { ... })`
/// runs an async body inside an actix system (so actix test utilities work there too).
#[macro_export]
macro_rules! db_test {
    ($name:ident, |$db:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[::core::prelude::v1::test]
            fn sqlite() {
                let test_db = $crate::testing::TestDb::sqlite();
                let $db: &$crate::db::Db = &test_db.db;
                $body
            }
            #[::core::prelude::v1::test]
            fn postgres() {
                let Some(test_db) = $crate::testing::TestDb::postgres(module_path!()) else {
                    return;
                };
                let $db: &$crate::db::Db = &test_db.db;
                $body
            }
        }
    };
    (async $name:ident, |$db:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[::core::prelude::v1::test]
            fn sqlite() {
                let test_db = $crate::testing::TestDb::sqlite();
                ::actix_web::rt::System::new().block_on(async {
                    let $db: &$crate::db::Db = &test_db.db;
                    $body
                })
            }
            #[::core::prelude::v1::test]
            fn postgres() {
                let Some(test_db) = $crate::testing::TestDb::postgres(module_path!()) else {
                    return;
                };
                ::actix_web::rt::System::new().block_on(async {
                    let $db: &$crate::db::Db = &test_db.db;
                    $body
                })
            }
        }
    };
}
