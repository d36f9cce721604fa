//! `hotrisk venue` (hidden): the simulated matching engine of the demo and the end-to-end
//! benchmark, run as its own process (see `hotrisk_feed::venue`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use hotrisk_feed::venue::{self, VenueRings};

/// Arguments of `hotrisk venue`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Market-data broadcast ring to read (from its first record).
    #[arg(long)]
    md_ring: PathBuf,
    /// The engine's order ring to consume.
    #[arg(long)]
    order_ring: PathBuf,
    /// Account-event ring to create (fills and acks).
    #[arg(long)]
    acct_ring: PathBuf,
    /// Number of instruments (ids 0..N).
    #[arg(long, default_value_t = 3)]
    instruments: usize,
    /// How long to wait for the md and order rings to appear, ms.
    #[arg(long, default_value_t = 30_000)]
    attach_timeout_ms: i64,
}

pub(crate) fn main(a: Args) -> anyhow::Result<ExitCode> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .with_context(|| format!("installing the handler for signal {sig}"))?;
    }
    let rings = VenueRings {
        market: &a.md_ring,
        orders: &a.order_ring,
        account_events: &a.acct_ring,
    };
    let s = venue::run(
        rings,
        a.instruments,
        a.attach_timeout_ms.saturating_mul(1_000_000),
        &stop,
    )
    .with_context(|| format!("venue on {}", a.order_ring.display()))?;
    println!(
        "venue: md records {} (lost {}) | orders {} | cancels {} | fills {} | filled qty {}",
        s.market_records,
        s.market_lost,
        s.orders,
        s.cancels,
        s.fills,
        hotrisk_feed::fixed::format_e8(s.filled_qty)
    );
    Ok(ExitCode::SUCCESS)
}
