//! `hotrisk-tools`: the user-facing utilities.
//!
//! - `convert --from tardis|binance INPUT... --out FILE`: captured files → native capture;
//! - `inspect PATH`: a ring, a capture or a journal, recognised by its header;
//! - `gen-accounts`: a seeded accounts/positions snapshot;
//! - `hist`: percentile tables and plots from `.hlog`/`.hgrm` files.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};

mod convert;
mod gen_accounts;
mod hist;
mod inspect;

#[derive(Debug, Parser)]
#[command(name = "hotrisk-tools", version, about = "hotrisk user tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Convert captured Tardis CSV or Binance JSON-lines files into a native capture.
    Convert(convert::Args),
    /// Show a ring, a capture file or a journal (recognised by its header).
    Inspect(inspect::Args),
    /// Generate a seeded accounts/positions snapshot.
    GenAccounts(gen_accounts::Args),
    /// Print percentile tables and draw plots from .hlog/.hgrm files.
    Hist(hist::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Convert(a) => convert::main(a),
        Command::Inspect(a) => inspect::main(a),
        Command::GenAccounts(a) => gen_accounts::main(a),
        Command::Hist(a) => hist::main(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hotrisk-tools: error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
