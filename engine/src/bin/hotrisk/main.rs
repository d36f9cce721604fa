//! `hotrisk`: the engine's command line.
//!
//! - `hotrisk risk FILE.toml [--json]`: what-if margin calculator (see `risk.rs`);
//! - `hotrisk run --config hotrisk.toml`: the pinned-thread engine (see `run.rs`);
//! - `hotrisk demo [--out DIR]`: generate, replay, and report, in one command (see `demo.rs`).
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};

mod demo;
mod risk;
mod run;

#[derive(Debug, Parser)]
#[command(
    name = "hotrisk",
    version,
    about = "Low-latency liquidation risk engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Evaluate a scenario file: margin, liquidation and bankruptcy prices, orders.
    Risk(risk::Args),
    /// Run the engine on shared-memory rings.
    Run(run::Args),
    /// Generate accounts and a crash scenario, run feed-handler and engine, print the report.
    Demo(demo::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Risk(a) => risk::main(a),
        Command::Run(a) => run::main(a),
        Command::Demo(a) => demo::main(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hotrisk: error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
