//! Desks: the real `agency-client` binary, each desk in a data directory of its own, a new
//! process for every command (so every step also survives a restart of the program).

use std::path::{Path, PathBuf};
use std::process::Command;

use platform::testing::PlatformProcess;
use serde_json::Value;

/// Passphrase the test desks use.
pub const PASSPHRASE: &str = "correct horse battery staple";

/// One desk: a data directory and the real client binary.
#[derive(Debug)]
pub struct Desk {
    /// Kept alive for the test.
    pub dir: tempfile::TempDir,
    /// The data directory (`dir` itself unless made with [`Desk::at`]).
    pub path: PathBuf,
}

/// What one client run did.
#[derive(Debug)]
pub struct Run {
    /// Exit status code.
    pub code: i32,
    /// Parsed `--json` output (Null when none).
    pub json: Value,
    /// stderr.
    pub stderr: String,
}

impl Run {
    /// Asserts success and returns the JSON.
    pub fn ok(self) -> Value {
        assert_eq!(
            self.code, 0,
            "client failed: {}\n{}",
            self.stderr, self.json
        );
        self.json
    }

    /// The error code of a failed run.
    pub fn error_code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("<none>")
    }
}

/// A desk with an empty data directory of its own.
pub fn spawn_desk() -> Desk {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    Desk { dir, path }
}

impl Desk {
    /// A desk whose data directory is `path` (which may not exist yet).
    pub fn at(path: &Path) -> Desk {
        Desk {
            dir: tempfile::tempdir().unwrap(),
            path: path.to_owned(),
        }
    }

    /// Runs `agency-client --json --data-dir DIR args…` with the test passphrase.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, PASSPHRASE)
    }

    /// Same, with another passphrase.
    pub fn run_with(&self, args: &[&str], passphrase: &str) -> Run {
        self.run_env(args, passphrase, &[])
    }

    /// Same, with another passphrase and more environment variables.
    pub fn run_env(&self, args: &[&str], passphrase: &str, env: &[(&str, &str)]) -> Run {
        let output = self
            .command(passphrase)
            .envs(env.iter().copied())
            .arg("--json")
            .arg("--data-dir")
            .arg(&self.path)
            .args(args)
            .output()
            .expect("run agency-client");
        let stdout = String::from_utf8_lossy(&output.stdout);
        Run {
            code: output.status.code().unwrap_or(-1),
            json: serde_json::from_str(stdout.trim()).unwrap_or(Value::Null),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs `agency-client --data-dir DIR args…` without `--json`: (exit code, stdout, stderr).
    pub fn run_text(&self, args: &[&str]) -> (i32, String, String) {
        let output = self
            .command(PASSPHRASE)
            .arg("--data-dir")
            .arg(&self.path)
            .args(args)
            .output()
            .expect("run agency-client");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// The client binary with `passphrase` and nothing from the developer's environment
    /// choosing the data directory.
    fn command(&self, passphrase: &str) -> Command {
        let mut cmd = Command::new(crate::binaries::agency_client());
        cmd.env("AGENCY_CLIENT_PASSPHRASE", passphrase)
            .env_remove("AGENCY_CLIENT_DATA_DIR");
        cmd
    }

    /// Runs one SQL statement on this desk's database; returns the rows changed.
    pub fn sql(&self, statement: &str) -> usize {
        let db = self.path.join("agency-client.sqlite3");
        let mut conn =
            <diesel::SqliteConnection as diesel::Connection>::establish(db.to_str().unwrap())
                .unwrap();
        diesel::RunQueryDsl::execute(diesel::sql_query(statement), &mut conn).unwrap()
    }

    /// Enrols against `servers` (first to last); returns the enrolment JSON.
    pub fn enroll(&self, servers: &[String], token: &str, fingerprint: &str) -> Value {
        let mut args = vec!["enroll", "--token", token, "--fingerprint", fingerprint];
        for s in servers {
            args.push("--server");
            args.push(s);
        }
        self.run(&args).ok()
    }

    /// Adds a rental flat in `city` at `price`.
    pub fn add_flat(&self, key: &str, city: &str, price: u64) -> Value {
        self.run(&[
            "listing",
            "add",
            "--key",
            key,
            "--type",
            "rent",
            "--property",
            "apartment",
            "--city",
            city,
            "--price",
            &price.to_string(),
            "--title",
            &format!("Flat {key} in {city}"),
            "--rooms",
            "3",
            "--bedrooms",
            "2",
            "--area",
            "70",
        ])
        .ok()
    }

    /// Adds a tenant who wants to rent in `city` for at most `max_price`.
    pub fn add_tenant(&self, name: &str, city: &str, max_price: u64) -> Value {
        self.run(&[
            "customer",
            "add-tenant",
            "--name",
            name,
            "--type",
            "rent",
            "--city",
            city,
            "--max-price",
            &max_price.to_string(),
        ])
        .ok()
    }

    /// Own listings by key: key → state.
    pub fn states(&self) -> Vec<(String, String)> {
        self.run(&["listing", "list"])
            .ok()
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["listing_key"].as_str().unwrap().to_owned(),
                    l["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

/// Two agencies on one platform, each with its desk enrolled.
#[derive(Debug)]
pub struct TwoDesks {
    /// The desk of Acme Homes (licence AMI-1).
    pub a: Desk,
    /// The desk of the other agency.
    pub b: Desk,
    /// What A's enrolment printed (`serial`, `agency_id`, `days_left`, …).
    pub a_enrolment: Value,
    /// The platform's CA fingerprint, which both desks checked on first contact.
    pub fingerprint: String,
}

/// The operator adds Acme Homes (AMI-1) and `b_name` (`b_licence`) on `app`; each agency's
/// desk enrols with its token.
pub fn two_enrolled_desks(app: &PlatformProcess, b_name: &str, b_licence: &str) -> TwoDesks {
    let url = app.agency_url();
    let (token_a, fingerprint) = crate::add_agency(app, "Acme Homes", "AMI-1").handover();
    let (token_b, _) = crate::add_agency(app, b_name, b_licence).handover();
    let a = spawn_desk();
    let b = spawn_desk();
    let a_enrolment = a.enroll(std::slice::from_ref(&url), &token_a, &fingerprint);
    b.enroll(std::slice::from_ref(&url), &token_b, &fingerprint);
    TwoDesks {
        a,
        b,
        a_enrolment,
        fingerprint,
    }
}

/// The entry of listing `key` (`{"listing": …, "signature": …}`) in a search result; panics
/// naming the result when it is not there.
pub fn listing_in<'a>(result: &'a Value, key: &str) -> &'a Value {
    result["listings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["listing"]["ListingKey"] == key)
        .unwrap_or_else(|| panic!("{key} not in {result}"))
}

/// The listing keys, sorted, of a JSON array of search results (`listing.ListingKey`) or of
/// objects with a `listing_key` (hints, sent changes).
pub fn keys_of(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            x["listing"]["ListingKey"]
                .as_str()
                .or(x["listing_key"].as_str())
                .unwrap()
                .to_owned()
        })
        .collect();
    keys.sort();
    keys
}

/// A loopback port nothing listens on.
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("https://127.0.0.1:{port}")
}
