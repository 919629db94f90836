//! The `retort` CLI: train, distill, eval, bench, demo. Errors print as one line and exit 1.

mod args;
mod commands;
mod report;

use clap::Parser;

fn main() {
    let cli = args::Cli::parse();
    if let Err(e) = commands::run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
