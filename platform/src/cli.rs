//! The `platform` command line. Parsing only: each command calls into the library.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::ConfigOverrides;

/// The listing exchange platform: website, agency API over mutual TLS, certificate authority.
///
/// Configuration is layered: built-in defaults, then the TOML file given with --config, then
/// environment variables, then flags. With nothing configured it runs on a SQLite file under
/// ./data and writes mail as .eml files under ./data/mail.
#[derive(Debug, Parser)]
#[command(name = "platform", version, propagate_version = true)]
pub struct Cli {
    /// TOML configuration file (keys as in the README's configuration table)
    #[arg(
        long,
        short = 'c',
        env = "PLATFORM_CONFIG",
        value_name = "FILE",
        global = true
    )]
    pub config: Option<PathBuf>,

    /// Print records as JSON
    #[arg(long, global = true)]
    pub json: bool,

    #[command(flatten)]
    pub overrides: ConfigOverrides,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do; `serve` when none is given.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the platform: website, admin, agency API, background workers (the default)
    Serve,
    /// Apply database migrations and exit
    Migrate,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
