//! Structured logs through `tracing`, to stderr (stdout is for command output).

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// The log filter given is not one `tracing` understands.
#[derive(Debug, thiserror::Error)]
#[error("log filter {filter:?} is not valid: {error}")]
pub struct LogFilterError {
    /// The filter as given.
    pub filter: String,
    /// What `tracing` said of it.
    pub error: tracing_subscriber::filter::ParseError,
}

/// Installs the global subscriber. A bad filter is reported, not ignored.
pub fn init(log: &LogConfig) -> Result<(), LogFilterError> {
    let filter = EnvFilter::try_new(&log.filter).map_err(|error| LogFilterError {
        filter: log.filter.clone(),
        error,
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    // A second init (several commands in one test process) keeps the first subscriber.
    let _ = installed;
    Ok(())
}
