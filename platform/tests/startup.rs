//! The real `platform` binary on free ports in a temporary data directory: it starts on the
//! embedded SQLite default and on PostgreSQL, answers its health checks, stops gracefully, and
//! refuses bad configuration with one clear line.

use std::time::Duration;

use diesel::prelude::*;
use platform::testing::PlatformBuilder;

fn platform() -> PlatformBuilder {
    PlatformBuilder::new(env!("CARGO_BIN_EXE_platform"))
}

fn get_json(url: &str) -> (u16, serde_json::Value) {
    let response = platform::testing::http_client()
        .get(url)
        .send()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    (status, response.json().unwrap())
}

diesel::table! {
    __diesel_schema_migrations (version) {
        version -> Text,
    }
}

#[test]
fn starts_on_embedded_sqlite_with_health_checks_and_stops_gracefully() {
    let mut app = platform().spawn().expect("platform starts");
    let (status, health) = get_json(&app.url("/healthz"));
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok");
    let (status, ready) = get_json(&app.url("/readyz"));
    assert_eq!(status, 200);
    assert_eq!(ready["database"], "sqlite");

    // The SQLite file is in the data directory, migrated.
    let db_file = app.data_dir.join("platform.db");
    assert!(db_file.exists(), "{} missing", db_file.display());
    let mut conn = SqliteConnection::establish(db_file.to_str().unwrap()).unwrap();
    let applied: i64 = __diesel_schema_migrations::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    let embedded = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations/sqlite"))
        .unwrap()
        .count() as i64;
    assert_eq!(applied, embedded, "every embedded migration is applied");

    let status = app
        .terminate(Duration::from_secs(15))
        .expect("exits after SIGTERM");
    assert!(status.success(), "graceful exit, got {status}");
    assert!(
        app.logs().iter().any(|l| l.contains("platform stopped")),
        "{:#?}",
        app.logs()
    );
}

#[test]
fn starts_on_postgresql() {
    let Some((url, _guard)) =
        platform::testing::db::fresh_postgres_database("startup::starts_on_postgresql")
    else {
        return;
    };
    let app = platform()
        .database_url(&url)
        .spawn()
        .expect("platform starts");
    let (status, ready) = get_json(&app.url("/readyz"));
    assert_eq!(status, 200);
    assert_eq!(ready["database"], "postgresql");
    // No SQLite file is created when PostgreSQL is configured.
    assert!(!app.data_dir.join("platform.db").exists());
    let mut conn = PgConnection::establish(&url).unwrap();
    let applied: i64 = __diesel_schema_migrations::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    let embedded = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../migrations/postgres"
    ))
    .unwrap()
    .count() as i64;
    assert_eq!(applied, embedded);
}

#[test]
fn restarts_on_the_same_data_without_migrating_again() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut first = platform().data_dir(&data).spawn().expect("first start");
    assert!(first.terminate(Duration::from_secs(15)).unwrap().success());
    let second = platform().data_dir(&data).spawn().expect("second start");
    assert!(
        !second
            .logs()
            .iter()
            .any(|l| l.contains("applied database migrations")),
        "{:#?}",
        second.logs()
    );
    assert_eq!(get_json(&second.url("/readyz")).0, 200);
}

/// Asserts the process failed with exactly one `error:` line on stderr containing `needle`.
fn assert_one_clear_error(result: (std::process::ExitStatus, String, String), needle: &str) {
    let (status, stdout, stderr) = result;
    assert!(!status.success(), "should fail; stdout: {stdout}");
    assert_eq!(status.code(), Some(1), "exit code; stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let errors: Vec<&&str> = lines.iter().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "one error line, got: {stderr}");
    assert!(
        errors[0].contains(needle),
        "{:?} should mention {needle:?}",
        errors[0]
    );
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");
    assert!(!stderr.contains("RUST_BACKTRACE"), "no backtrace: {stderr}");
}

#[test]
fn unparsable_config_file_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("platform.toml");
    std::fs::write(&file, "[web]\nlisten = \"127.0.0.1:8080\nmore = 1\n").unwrap();
    let result = platform()
        .run_to_exit(
            ["--config", file.to_str().unwrap(), "serve"],
            Duration::from_secs(30),
        )
        .unwrap();
    assert_one_clear_error(result, "line 2");
}

#[test]
fn unknown_config_key_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("platform.toml");
    std::fs::write(&file, "[web]\nlisten_on = \"127.0.0.1:8080\"\n").unwrap();
    let result = platform()
        .run_to_exit(
            ["--config", file.to_str().unwrap()],
            Duration::from_secs(30),
        )
        .unwrap();
    assert_one_clear_error(result, "listen_on");
}

#[test]
fn unreachable_database_is_one_clear_error() {
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    let result = platform()
        .env("DATABASE_URL", "postgres://root:secret@127.0.0.1:1/nothing")
        .run_to_exit(["serve"], Duration::from_secs(60))
        .unwrap();
    assert!(
        !result.2.contains("secret"),
        "password leaked: {}",
        result.2
    );
    assert_one_clear_error(
        result,
        "cannot connect to the database at postgres://root:***@127.0.0.1:1/nothing",
    );
}

#[test]
fn port_in_use_is_one_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let result = platform()
        .run_to_exit(["--web-listen", &addr, "serve"], Duration::from_secs(60))
        .unwrap();
    assert_one_clear_error(result, &format!("cannot listen on {addr} for the website"));
}

#[test]
fn migrate_applies_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    let (status, stdout, stderr) = platform()
        .env("DATABASE_URL", &url)
        .run_to_exit(["migrate", "--json"], Duration::from_secs(60))
        .unwrap();
    assert!(status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["status"], "up to date");
    assert_eq!(report["backend"], "sqlite");
    assert!(dir.path().join("m.db").exists());
}
