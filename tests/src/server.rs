//! The platform side: the real `platform` process, the operator's commands on it, and agencies
//! added and enrolled through them.

use platform::testing::agency::{TestAgency, fetch_root};
use platform::testing::{PlatformBuilder, PlatformProcess};

/// The real `platform` binary, to configure before it starts (`.database_url(…)`,
/// `.data_dir(…)` to restart on the same data, `.args(…)`, `.env(…)`), then `.spawn()`.
pub fn platform() -> PlatformBuilder {
    PlatformBuilder::new(crate::binaries::platform())
}

/// A fresh platform on free loopback ports with a data directory and SQLite database of its
/// own, ready (the website and the agency API answer). Panics with its log when it does not start.
pub fn spawn_platform() -> PlatformProcess {
    platform().spawn().expect("platform starts")
}

/// An agency the operator added with `platform agency add`: active, with a fresh enrolment token.
#[derive(Debug, Clone)]
pub struct AddedAgency {
    /// The agency's id.
    pub id: i64,
    /// The enrolment token the operator hands over.
    pub token: String,
    /// The CA fingerprint the CLI printed (checked to be the served root's).
    pub fingerprint: String,
    /// The root certificate the agency API serves, PEM.
    pub root_pem: String,
}

impl AddedAgency {
    /// What the operator hands to the agency's desk: the enrolment token, and the CA fingerprint
    /// the desk checks on first contact.
    pub fn handover(self) -> (String, String) {
        (self.token, self.fingerprint)
    }

    /// Enrols over the real API with a fresh key (as a desk would, without the desk).
    pub fn enroll(&self, app: &PlatformProcess) -> TestAgency {
        TestAgency::enroll(&app.agency_url(), &self.root_pem, &self.token)
    }
}

/// Adds an active agency with the contact address `desk@agency.example` by the operator CLI.
pub fn add_agency(app: &PlatformProcess, name: &str, licence: &str) -> AddedAgency {
    add_agency_with_email(app, name, licence, "desk@agency.example")
}

/// Adds an active agency with contact address `email` by the operator CLI, checking that the
/// CA fingerprint it prints is the one of the root the agency API serves.
pub fn add_agency_with_email(
    app: &PlatformProcess,
    name: &str,
    licence: &str,
    email: &str,
) -> AddedAgency {
    let out = app.cli_json(&[
        "agency",
        "add",
        "--name",
        name,
        "--licence",
        licence,
        "--email",
        email,
    ]);
    let root_pem = fetch_root(&app.agency_url());
    let der = ca::inspect::parse_chain_pem(&root_pem).unwrap().remove(0);
    let fingerprint = ca::inspect::Fingerprint::of(&der).to_string();
    assert_eq!(
        out["ca_fingerprint"], fingerprint,
        "CLI shows the served root's fingerprint"
    );
    AddedAgency {
        id: out["agency"]["id"].as_i64().unwrap(),
        token: out["token"].as_str().unwrap().to_owned(),
        fingerprint,
        root_pem,
    }
}

/// Adds an agency (contact `desk@agency.example`) and enrols it over the real API.
pub fn enrolled(app: &PlatformProcess, name: &str, licence: &str) -> TestAgency {
    add_agency(app, name, licence).enroll(app)
}

/// The `error.code` of an API error body (`<no error code>` when there is none).
pub fn error_code(body: &serde_json::Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

/// Runs one SQL statement on the platform's SQLite database (what an intruder with write access
/// to it could do); returns the rows changed.
pub fn platform_sql(app: &PlatformProcess, statement: &str) -> usize {
    use diesel::{Connection, RunQueryDsl, SqliteConnection};
    let db = app.data_dir.join("platform.db");
    let mut conn = SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    // The running platform writes too (mail leases, upkeep): wait for its lock, as it waits for ours.
    diesel::sql_query("PRAGMA busy_timeout = 10000")
        .execute(&mut conn)
        .unwrap();
    diesel::sql_query(statement).execute(&mut conn).unwrap()
}
