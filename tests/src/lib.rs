//! The end-to-end suite's harness. The tests in `tests/tests/` start the real `platform` and
//! `agency-client` binaries, talk to them over real TLS and real HTTP, and read what a user (or
//! an intruder with access to a database file) would see.
//!
//! * [`platform()`] / [`spawn_platform`]: the real platform process on free loopback ports in a
//!   temporary data directory, stopped when dropped ([`PlatformBuilder`], [`PlatformProcess`]).
//! * [`add_agency`], [`enrolled`]: the operator adds an agency by the CLI; an agency enrols over
//!   the real API with a key of its own ([`TestAgency`]).
//! * [`spawn_desk`]: a desk, the real `agency-client` binary in a data directory of its own
//!   ([`Desk`]).
//! * [`website`]: the website's cookie-keeping HTTP browser and fixtures.
//! * [`scan`]: reading a platform's files and PostgreSQL tables for text that must not be there.
//! * [`binaries`]: where the binaries are found: beside the tests, where cargo built them
//!   (`./scripts/test` builds them first), refused with the command to run when missing or older
//!   than their sources; `E2E_BIN_DIR` to use others.
//!
//! What is not process-level stays beside its crate: unit tests in `#[cfg(test)]` modules, and
//! the platform's library-level integration tests in `platform/tests/`.
//!
//! Environment variables (as everywhere in this workspace, see `platform::testing`):
//! `TEST_POSTGRES_URL` runs the PostgreSQL variants (skipped loudly without it);
//! `REQUIRE_FULL_TESTS=1` turns every skip into a failure; `TEST_SKIP_LOG` collects the skips.

pub mod binaries;
pub mod desk;
pub mod scan;
mod server;
pub mod website;

pub use desk::{Desk, PASSPHRASE, Run, closed_port_url, spawn_desk};
pub use platform::testing::agency::TestAgency;
pub use platform::testing::{PlatformBuilder, PlatformProcess, TestDb, skip};
pub use server::{
    AddedAgency, add_agency, add_agency_with_email, enrolled, error_code, platform, platform_sql,
    spawn_platform,
};

use std::time::{Duration, Instant};

/// Waits until `done()` holds, checking every 50 ms; fails naming `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
