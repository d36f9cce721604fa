//! `hotrisk`: the engine's command line.
//!
//! - `hotrisk risk FILE.toml [--json]`: what-if margin calculator (see `risk.rs`);
//! - `hotrisk run --config hotrisk.toml`: the pinned-thread engine (see `run.rs`);
//! - `hotrisk demo [--out DIR]`: generate, replay, and report, in one command (see `demo.rs`).
//!
//! Hidden, for the demo's and the benchmark's child processes (`cargo run --bin hotrisk` builds
//! only this binary, so the pipeline's other processes are this executable re-exec'd):
//! - `hotrisk feed-handler ARGS…`: exactly the `feed-handler` binary (`hotrisk_feed::cli`);
//! - `hotrisk venue …`: the simulated matching engine (see `venue.rs`).
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};

mod demo;
mod risk;
mod run;
mod venue;

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
    /// The feed-handler command line (same as the `feed-handler` binary).
    #[command(hide = true, disable_help_flag = true)]
    FeedHandler {
        /// Its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// The simulated matching engine.
    #[command(hide = true)]
    Venue(venue::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Risk(a) => risk::main(a),
        Command::Run(a) => run::main(a),
        Command::Demo(a) => demo::main(a),
        Command::FeedHandler { args } => {
            let argv = std::iter::once(std::ffi::OsString::from("feed-handler")).chain(args);
            return hotrisk_feed::cli::main(argv);
        }
        Command::Venue(a) => venue::main(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hotrisk: error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
