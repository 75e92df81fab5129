//! Structured logs through `tracing`, to stderr (stdout is for command output).

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber. A bad filter is reported, not ignored.
pub fn init(log: &LogConfig) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&log.filter)
        .map_err(|e| anyhow::anyhow!("log filter {:?} is not valid: {e}", log.filter))?;
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
