//! The real `platform` binary on free ports in a temporary data directory: it starts on the
//! embedded SQLite default and on PostgreSQL, answers its health checks, stops gracefully, and
//! refuses bad configuration with one clear line.

use std::time::Duration;

use diesel::prelude::*;
use e2e_tests::platform;

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

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Rows of `table` in the database at `url` (SQLite or PostgreSQL).
fn count(url: &str, table: &str) -> i64 {
    let query = format!("SELECT COUNT(*) AS n FROM {table}");
    let rows: Vec<Count> = if let Some(path) = url.strip_prefix("sqlite://") {
        let mut c = SqliteConnection::establish(path).unwrap();
        diesel::sql_query(query).load(&mut c).unwrap()
    } else {
        let mut c = PgConnection::establish(url).unwrap();
        diesel::sql_query(query).load(&mut c).unwrap()
    };
    rows[0].n
}

/// Runs one SQL statement on the database at `url`.
fn exec(url: &str, statement: &str) -> usize {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let mut c = SqliteConnection::establish(path).unwrap();
        diesel::sql_query("PRAGMA busy_timeout = 10000")
            .execute(&mut c)
            .unwrap();
        diesel::sql_query(statement).execute(&mut c).unwrap()
    } else {
        let mut c = PgConnection::establish(url).unwrap();
        diesel::sql_query(statement).execute(&mut c).unwrap()
    }
}

/// Starts on `url` with a data directory, enrols an agency, stops. With the CA's files stored
/// in the database (`platform_secrets`), a node with an empty data directory starts with that
/// CA; a data directory holding another CA is refused. A database that records a CA but stores
/// no files (from before the table) refuses an empty or foreign data directory with one line
/// naming the root it belongs to, and nothing is created or recorded.
fn refuses_a_data_directory_without_the_database_ca(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let first_data = dir.path().join("first");
    let mut first = platform()
        .data_dir(&first_data)
        .database_url(url)
        .spawn()
        .expect("first start");
    let added = first.cli_json(&[
        "agency",
        "add",
        "--name",
        "Acme Homes",
        "--licence",
        "AMI-1",
        "--email",
        "desk@acme.example",
    ]);
    let root = platform::testing::agency::fetch_root(&first.agency_url());
    platform::testing::agency::TestAgency::enroll(
        &first.agency_url(),
        &root,
        added["token"].as_str().unwrap(),
    );
    let fingerprint = added["ca_fingerprint"].as_str().unwrap().to_owned();
    assert!(first.terminate(Duration::from_secs(15)).unwrap().success());
    let (ca_rows, certificates, audit) = (
        count(url, "ca_certificates"),
        count(url, "certificates"),
        count(url, "audit_log"),
    );
    assert_eq!(ca_rows, 2, "root and issuing CA recorded");
    assert_eq!(
        count(url, "platform_secrets WHERE name LIKE 'ca/%'"),
        2,
        "the CA's certificates are stored in the database, its keys in clear are not"
    );
    // A database from before the CA's files were stored in it.
    exec(url, "DELETE FROM platform_secrets WHERE name LIKE 'ca/%'");

    let empty = dir.path().join("empty");
    let result = platform()
        .data_dir(&empty)
        .database_url(url)
        .run_to_exit(["serve"], Duration::from_secs(60))
        .unwrap();
    assert_one_clear_error(result, &fingerprint);
    let result = platform()
        .data_dir(&empty)
        .database_url(url)
        .run_to_exit(["serve"], Duration::from_secs(60))
        .unwrap();
    assert!(
        result.2.contains("holds no CA") && result.2.contains("restore"),
        "{}",
        result.2
    );
    let made: Vec<_> = std::fs::read_dir(&empty)
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        made.is_empty(),
        "nothing created in the data directory: {made:?}"
    );
    // Operator commands open the CA too, and refuse the same way.
    let result = platform()
        .data_dir(&empty)
        .database_url(url)
        .run_to_exit(["agency", "token", "1"], Duration::from_secs(60))
        .unwrap();
    assert_one_clear_error(result, &fingerprint);

    let foreign = dir.path().join("foreign");
    let other =
        ca::CertificateAuthority::load_or_create(&foreign.join("ca"), "Other", None).unwrap();
    let result = platform()
        .data_dir(&foreign)
        .database_url(url)
        .run_to_exit(["serve"], Duration::from_secs(60))
        .unwrap();
    assert!(
        result.2.contains(&other.root_fingerprint().to_string()),
        "{}",
        result.2
    );
    assert_one_clear_error(result, &fingerprint);
    assert!(
        !foreign.join("tls").exists(),
        "no server certificate issued"
    );

    assert_eq!(count(url, "ca_certificates"), ca_rows, "no CA recorded");
    assert_eq!(count(url, "certificates"), certificates, "nothing issued");
    assert_eq!(count(url, "audit_log"), audit);

    // The right data directory still works, and stores its CA's files in the database.
    let mut again = platform()
        .data_dir(&first_data)
        .database_url(url)
        .spawn()
        .expect("the CA's own data directory starts");
    assert_eq!(
        platform::testing::agency::fetch_root(&again.agency_url()),
        root
    );
    assert!(again.terminate(Duration::from_secs(15)).unwrap().success());

    // Its keys are in clear: a node with an empty data directory is told where they are…
    let fresh = dir.path().join("fresh");
    let result = platform()
        .data_dir(&fresh)
        .database_url(url)
        .run_to_exit(["serve"], Duration::from_secs(60))
        .unwrap();
    assert!(
        result.2.contains("not encrypted") && result.2.contains("encrypt-keys"),
        "{}",
        result.2
    );
    // …and once they are encrypted, it starts with the CA stored in the database (nothing
    // copied by hand).
    let passphrase = "a passphrase for the nodes";
    let (status, _, err) = platform()
        .data_dir(&first_data)
        .database_url(url)
        .env("PLATFORM_CA_PASSPHRASE", passphrase)
        .run_to_exit(["ca", "encrypt-keys"], Duration::from_secs(120))
        .unwrap();
    assert!(status.success(), "{err}");
    assert_eq!(count(url, "platform_secrets WHERE name LIKE 'ca/%'"), 4);
    let node = platform()
        .data_dir(&fresh)
        .database_url(url)
        .env("PLATFORM_CA_PASSPHRASE", passphrase)
        .spawn()
        .expect("an empty data directory starts with the CA stored in the database");
    assert_eq!(
        platform::testing::agency::fetch_root(&node.agency_url()),
        root
    );
    assert!(fresh.join("ca").join("issuing.key").exists());
    // A data directory with another CA is still refused.
    let result = platform()
        .data_dir(&foreign)
        .database_url(url)
        .run_to_exit(["serve"], Duration::from_secs(60))
        .unwrap();
    assert_one_clear_error(result, &fingerprint);
}

#[test]
fn a_database_with_a_ca_never_gets_another_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shared.db").display());
    refuses_a_data_directory_without_the_database_ca(&url);
}

#[test]
fn a_database_with_a_ca_never_gets_another_on_postgres() {
    let Some((url, _guard)) = platform::testing::db::fresh_postgres_database(
        "startup::a_database_with_a_ca_never_gets_another_on_postgres",
    ) else {
        return;
    };
    refuses_a_data_directory_without_the_database_ca(&url);
}
