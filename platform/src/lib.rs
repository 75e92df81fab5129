#![recursion_limit = "512"]
//! The listing exchange platform as a library: the `platform` binary only parses its arguments
//! and calls [`run`]; tests drive the same functions.

pub mod accounts;
pub mod admin;
pub mod agencies;
pub mod api;
pub mod audit;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod console;
pub mod db;
pub mod email_address;
pub mod enquiries;
pub mod error;
pub mod events;
pub mod head_limits;
pub mod http_metrics;
pub mod listings;
pub mod matching;
pub mod metrics;
pub mod notify;
mod operator;
pub mod operators;
pub mod pki;
pub mod searches;
pub mod server;
pub mod settings;
pub mod shutdown;
pub mod state;
pub mod telemetry;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod vault;
pub mod web;

use crate::cli::{Cli, Command};
use crate::config::{Config, ConfigError};

pub use operator::OperatorError;

/// Why a command failed. The binary prints it with its chain of causes (`source()`) on one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The configuration (file, variables, flags) is not acceptable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The log filter is not valid.
    #[error(transparent)]
    Log(#[from] telemetry::LogFilterError),
    /// The server could not start, or stopped with an error.
    #[error(transparent)]
    Server(#[from] server::ServerError),
    /// `platform migrate` failed.
    #[error("migrate")]
    Migrate(#[source] server::ServerError),
    /// An operator command failed.
    #[error(transparent)]
    Operator(#[from] OperatorError),
    /// A failure already written to the log as a JSON line (`log.format = "json"`), so the
    /// binary prints no text line besides.
    #[error(transparent)]
    Logged(Box<RunError>),
}

impl RunError {
    /// A stable code for what kind of failure this is (the `--json` error's `code`).
    pub fn code(&self) -> &'static str {
        use crate::admin::AdminError;
        match self {
            RunError::Logged(e) => e.code(),
            RunError::Config(_) => "config",
            RunError::Log(_) => "config",
            RunError::Server(_) => "server",
            RunError::Migrate(_) => "migrate",
            RunError::Operator(e) => match e {
                OperatorError::Admin(AdminError::NotFound(_)) => "not_found",
                OperatorError::Admin(AdminError::Refused(_)) => "refused",
                OperatorError::Admin(AdminError::Invalid(_)) | OperatorError::Invalid(_) => {
                    "invalid"
                }
                OperatorError::Account(operators::OperatorAccountError::Invalid(_)) => "invalid",
                OperatorError::Account(operators::OperatorAccountError::Exists(_)) => "refused",
                OperatorError::Startup(_) | OperatorError::Db(_) => "database",
                _ => "failed",
            },
        }
    }

    /// The error as `platform --json` prints it on stdout:
    /// `{"error": {"code": "...", "message": "..."}}`.
    pub fn json(&self) -> String {
        serde_json::json!({"error": {"code": self.code(), "message": self.one_line()}}).to_string()
    }

    /// The message and each of its causes, joined by `": "` on one line.
    pub fn one_line(&self) -> String {
        error::causes(self)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Runs the command the user asked for.
pub fn run(cli: Cli) -> Result<(), RunError> {
    let config = Config::load(cli.config.as_deref(), &cli.overrides)?;
    telemetry::init(&config.log)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let json_logs = config.log.format == config::LogFormat::Json;
            actix_web::rt::System::new()
                .block_on(server::serve(config))
                .map_err(|e| {
                    let e = RunError::Server(e);
                    if !json_logs {
                        return e;
                    }
                    tracing::error!(code = e.code(), error = %e.one_line(), "the platform could not start or stopped with an error");
                    RunError::Logged(Box::new(e))
                })
        }
        Command::Migrate => {
            server::prepare_data_dir(&config)?;
            let db = server::open_database(&config).map_err(RunError::Migrate)?;
            let report = serde_json::json!({
                "database": db::redact(&config.database_url()),
                "backend": db.backend().name(),
                "status": "up to date",
            });
            if cli.json {
                println!("{report}");
            } else {
                println!(
                    "{} database {} is up to date",
                    db.backend().name(),
                    db::redact(&config.database_url())
                );
            }
            Ok(())
        }
        Command::Agency(cmd) => {
            let config = operator::with_server_settings(config, &cli.overrides)?;
            Ok(operator::agency(&config, cmd, cli.json)?)
        }
        Command::Cert(cmd) => {
            let config = operator::with_server_settings(config, &cli.overrides)?;
            Ok(operator::cert(&config, cmd, cli.json)?)
        }
        Command::Listing(cmd) => {
            let config = operator::with_server_settings(config, &cli.overrides)?;
            Ok(operator::listing(&config, cmd, cli.json)?)
        }
        Command::Admin(cmd) => Ok(operator::admin(&config, cmd, cli.json)?),
        Command::Mail(cmd) => Ok(operator::mail(&config, cmd, cli.json)?),
        Command::Ca(cmd) => Ok(operator::ca(&config, cmd, cli.json)?),
        Command::Audit { action, limit } => Ok(operator::audit(&config, action, limit, cli.json)?),
    }
}
