//! `platform`: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = platform::cli::Cli::parse();
    let json = cli.json;
    match platform::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if json => {
            // Scripts read one JSON object on stdout, and the exit status.
            println!("{}", e.json());
            ExitCode::FAILURE
        }
        // Already one JSON line in the log (`log.format = "json"`).
        Err(platform::RunError::Logged(_)) => ExitCode::FAILURE,
        Err(e) => {
            // One line, the whole chain of causes, no backtrace.
            eprintln!("error: {}", e.one_line());
            ExitCode::FAILURE
        }
    }
}
