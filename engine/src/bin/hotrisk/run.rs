//! `hotrisk run --config hotrisk.toml [--set key=value]... [flags]`: the pinned-thread engine on
//! shared-memory rings. See `hotrisk_engine::pipeline` for the threads and
//! `hotrisk_engine::config` for every setting.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use hotrisk_engine::config::{Config, CoreKind};
use hotrisk_engine::pipeline::margin_core::MarginCore;
use hotrisk_engine::pipeline::threshold::ThresholdCore;
use hotrisk_engine::pipeline::{self, RiskCore};
use hotrisk_engine::snapshot::{load_snapshot, Scenario};

/// Arguments of `hotrisk run`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Configuration file (`hotrisk.toml`); defaults apply when absent.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Override any setting: `--set threads.risk_core=1` (repeatable; TOML values).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Market-data ring (`rings.md`).
    #[arg(long)]
    md_ring: Option<PathBuf>,
    /// Account-event ring (`rings.acct`; `--set rings.acct='""'` disables it).
    #[arg(long)]
    acct_ring: Option<PathBuf>,
    /// Order ring (`rings.orders`).
    #[arg(long)]
    order_ring: Option<PathBuf>,
    /// Snapshot file (`state.snapshot`): scenario TOML, or instruments file with --positions.
    #[arg(long)]
    snapshot: Option<PathBuf>,
    /// Positions file of a large snapshot (`state.positions`).
    #[arg(long)]
    positions: Option<PathBuf>,
    /// Journal file (`journal.path`).
    #[arg(long)]
    journal: Option<PathBuf>,
    /// Latency output directory (`latency.out_dir`).
    #[arg(long)]
    hist_dir: Option<PathBuf>,
    /// Exit cleanly once the md producer has closed its ring and everything is drained.
    #[arg(long)]
    exit_on_eof: bool,
    /// Print the effective configuration (file + overrides) and exit.
    #[arg(long)]
    print_config: bool,
}

fn quoted(p: &std::path::Path) -> String {
    toml::Value::String(p.display().to_string()).to_string()
}

impl Args {
    /// The explicit flags as `--set` overrides (applied after the file, before `--set`).
    fn overrides(&self) -> Vec<String> {
        let mut o = Vec::new();
        let flags = [
            ("rings.md", &self.md_ring),
            ("rings.acct", &self.acct_ring),
            ("rings.orders", &self.order_ring),
            ("state.snapshot", &self.snapshot),
            ("state.positions", &self.positions),
            ("journal.path", &self.journal),
            ("latency.out_dir", &self.hist_dir),
        ];
        for (key, v) in flags {
            if let Some(p) = v {
                o.push(format!("{key}={}", quoted(p)));
            }
        }
        if self.exit_on_eof {
            o.push("health.exit_on_eof=true".into());
        }
        o.extend(self.set.iter().cloned());
        o
    }
}

pub(crate) fn main(args: Args) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(args.config.as_deref(), &args.overrides())?;
    if args.print_config {
        print!("{}", cfg.to_toml());
        return Ok(ExitCode::SUCCESS);
    }
    match cfg.state.core {
        CoreKind::Threshold => {
            let core = ThresholdCore::load(&cfg.state.snapshot)
                .map_err(anyhow::Error::msg)
                .context("loading the threshold snapshot")?;
            run_with(&cfg, core)
        }
        CoreKind::Margin => {
            let core = load_margin_core(&cfg)?;
            run_with(&cfg, core)
        }
    }
}

fn load_margin_core(cfg: &Config) -> anyhow::Result<MarginCore> {
    let (state, books, fund) = if cfg.state.positions.as_os_str().is_empty() {
        let sc = Scenario::load(&cfg.state.snapshot)?;
        let state = sc.build_state()?;
        let books: Vec<_> = sc.instruments.iter().map(|i| i.book.clone()).collect();
        (state, books, sc.insurance_fund_e8)
    } else {
        let snap = load_snapshot(&cfg.state.snapshot, &cfg.state.positions)?;
        let books: Vec<_> = snap.instruments.iter().map(|i| i.book.clone()).collect();
        (snap.state, books, snap.insurance_fund_e8)
    };
    let policy = cfg.policy.to_policy_config()?;
    let mut core = MarginCore::new(state, policy, fund.unwrap_or(0)).map_err(anyhow::Error::msg)?;
    core.seed_books(&books);
    Ok(core)
}

fn run_with<C: RiskCore + 'static>(cfg: &Config, core: C) -> anyhow::Result<ExitCode> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .with_context(|| format!("installing the handler for signal {sig}"))?;
    }
    println!("hotrisk run: {}", core.describe());
    let info = core.info();
    println!(
        "state: {} instruments, {} accounts, {} positions, {:.1} MiB",
        info.instruments,
        info.accounts,
        info.positions,
        info.state_bytes as f64 / (1024.0 * 1024.0)
    );
    let (inputs, banner) = pipeline::open(cfg, core).context("attaching the rings")?;
    for line in banner {
        println!("{line}");
    }
    let running = pipeline::start(cfg, inputs, Arc::clone(&stop)).context("starting threads")?;
    for n in &running.notes {
        println!("{n}");
    }
    println!(
        "running (latency: {}, interval {} ms); SIGINT/SIGTERM to stop",
        cfg.latency.out_dir.display(),
        cfg.latency.interval_ms
    );
    let s = running.wait().context("waiting for the engine")?;
    println!("\n== latency (ns), whole run\n{}", s.table);
    if !s.core_summary.is_empty() {
        println!("{}", s.core_summary);
    }
    let c = s.counters;
    println!(
        "ticks {} | account events {} | orders {} | suppressed on replay {} | md records missed {} | producer dead {} | queue depth max {} | orders delayed by back-pressure {} (backlog max {}, stalls {})",
        c.ticks,
        c.account_events,
        c.orders,
        c.orders_suppressed,
        c.md_gaps,
        c.producer_dead,
        c.queue_depth_max,
        c.orders_delayed,
        c.backlog_max,
        c.backlog_stalls
    );
    println!(
        "journal: {} ({} records) | histograms: {}/latency.hlog and <stage>.hgrm",
        cfg.journal.path.display(),
        s.journal_records,
        s.hist_dir.display()
    );
    if s.unread_md > 0 {
        println!("stopped with {} md records unread", s.unread_md);
    }
    if let Some(f) = s.fatal {
        eprintln!("hotrisk: error: {f}");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
