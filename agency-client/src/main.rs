//! `agency-client`: the agency desk program's command line (see `agency_client::cli`).

fn main() {
    std::process::exit(agency_client::cli::main());
}
