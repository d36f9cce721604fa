//! `hotrisk-bench`: the benchmarking harness. See the library docs for each subcommand.
#![forbid(unsafe_code)]

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};
use hotrisk_bench::transport;

mod report;

/// Counts allocations on hot threads (reported by `roundtrip` and `scaling`).
#[global_allocator]
static GLOBAL: hotrisk_bench::alloc::Counting = hotrisk_bench::alloc::Counting;

#[derive(Debug, Parser)]
#[command(name = "hotrisk-bench", about = "hotrisk latency benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One-way latency and throughput of the shm rings vs crossbeam, rtrb, disruptor (and Aeron
    /// IPC when built with `--features aeron`) and a bare cache-line ping-pong, on two pinned cores.
    Transport {
        /// Round trips timed per transport (plus 10% warm-up, at most 100 000).
        #[arg(long, default_value_t = 1_000_000)]
        messages: u64,
        /// Messages streamed per transport for the throughput figure.
        #[arg(long, default_value_t = 10_000_000)]
        throughput_messages: u64,
        /// The two cores, A (sender, timer) and B (echo, receiver).
        #[arg(long, default_value = "0,1", value_parser = transport::parse_cores)]
        cores: (usize, usize),
        /// Write `<transport>.hgrm` files and `transport.md` here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Directory for the ring files.
        #[arg(long, default_value = "/dev/shm")]
        shm_dir: PathBuf,
    },
    /// The whole pipeline as processes over /dev/shm rings (synthetic crash, N accounts), paced
    /// and/or saturating.
    E2e(report::E2eArgs),
    /// Tick → liquidation order → back, driver on core A, engine on core B, beside the
    /// cache-line ping-pong floor between the same cores.
    Roundtrip(report::RoundtripArgs),
    /// Cost per tick against positions and accounts, hotrisk beside the baseline; memory.
    Scaling(report::ScalingArgs),
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Transport {
            messages,
            throughput_messages,
            cores,
            out,
            shm_dir,
        } => {
            let options = transport::Options {
                messages,
                throughput_messages,
                cores,
                out,
                shm_dir,
            };
            let (_, report) = transport::run(&options)?;
            print!("{report}");
        }
        Command::E2e(a) => report::e2e(&a)?,
        Command::Roundtrip(a) => report::roundtrip(&a)?,
        Command::Scaling(a) => report::scaling(&a)?,
    }
    Ok(())
}
