//! `hotrisk demo [--out DIR] [--quick]`: the whole engine in one command.
//!
//! 1. generates seeded accounts leveraged around the synthetic feed's start prices
//!    (`hotrisk_engine::generate`);
//! 2. starts three processes over fresh, uniquely named `/dev/shm` rings
//!    (`hotrisk_engine::launch`): the feed-handler publishing a synthetic crash (−10 % in one
//!    second) in real time, the simulated matching engine (`hotrisk venue`), and the engine
//!    (`hotrisk run`, margin core + liquidation policy) — all this executable re-exec'd;
//! 3. prints the tick-to-order latency per stage, the liquidations (per tier, slippage, and the
//!    engine's own summary: bad debt, insurance fund), and where the report was written:
//!    `report.md`, `latency.hlog`, `<stage>.hgrm`, SVG plots, the journal and every process's
//!    output. The rings are removed at the end, whatever happens.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hotrisk_engine::generate::GenConfig;
use hotrisk_engine::latency::Stage;
use hotrisk_engine::launch::{self, CpuPlan, SyntheticRun};
use hotrisk_engine::machine::Machine;
use hotrisk_engine::outcome::health_note;
use hotrisk_engine::report::{draw_latency_plots, file_list, Markdown};
use hotrisk_feed::fixed::E8;
use hotrisk_feed::source::synthetic::Scenario;

/// Arguments of `hotrisk demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Report directory (default `./hotrisk-demo-<UTC time>`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// A small, fast run (2 000 accounts, 1.5 s of feed): the end-to-end test's setting.
    #[arg(long)]
    quick: bool,
    /// Accounts (default 20 000, sized so that the engine keeps up with the real-time feed on a
    /// 2-core machine; 2 000 with --quick).
    #[arg(long)]
    accounts: Option<u32>,
    /// Positions per account, in distinct instruments (1..=3).
    #[arg(long, default_value_t = 2)]
    positions_per_account: u32,
    /// Seed of the accounts and of the feed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Simulated feed length, ms (default 3 000; 1 500 with --quick).
    #[arg(long)]
    duration_ms: Option<i64>,
    /// When the crash starts, simulated ms.
    #[arg(long, default_value_t = 500)]
    event_at_ms: i64,
    /// Feed speed over real time (1 = real time; the latency is then measured at the feed's own
    /// rate, free of coordinated omission).
    #[arg(long, default_value = "1")]
    speed: String,
    /// Mean resting size of a synthetic book level, in lots (BTC: 0.001 lot).
    #[arg(long, default_value_t = 5_000)]
    level_lots: i64,
    /// Book levels per side in the synthetic feed.
    #[arg(long, default_value_t = 10)]
    depth: usize,
    /// Share of positions at low leverage (2–8×, they survive the crash), percent; the rest are
    /// leveraged 10–100× (longs) or 5–50× (shorts).
    #[arg(long, default_value_t = 90)]
    safe_pct: u32,
    /// Largest position notional, USDT (log-uniform from 100).
    #[arg(long, default_value_t = 1_000_000)]
    notional_max: i64,
    /// Insurance fund at the start, USDT.
    #[arg(long, default_value_t = 10_000_000)]
    insurance_fund: i64,
    /// Give up (and clean up) after this many seconds.
    #[arg(long, default_value_t = 110)]
    timeout_s: u64,
    /// Lock-step with the venue (`queue.lockstep`): the engine reads the next market-data record
    /// only once every order it sent has its answer, so each fill is applied at a fixed place in
    /// the feed and two runs give the same orders bit for bit. The latency then includes the
    /// venue's round trip.
    #[arg(long)]
    lockstep: bool,
}

/// What is and is not the same from run to run (printed and written into the report).
const DETERMINISM: &str = "Same seed, same inputs: the accounts and the feed are identical byte for byte, and the venue answers each order against the book as of the record that triggered it, so its fills depend on the orders alone. The engine itself is a deterministic function of the md records and of where among them each account event (fill, ack) is applied: the accounting check replays the journal and reproduces every order. What can vary between runs is only that placement: a fill that comes back while the engine is still inside the same feed step (a burst of up to ~100 records at one timestamp) may be applied before or after a later record of that step, which can change a later decision (partial vs full, a backstop). The number of accounts liquidated did not vary in our runs; tier counts varied by a few percent, more when the machine was loaded and the engine fell behind the feed. With --lockstep the engine reads the next md record only once every order has its answer, so that placement is fixed too and two runs give the same orders bit for bit (the latency then includes the venue's round trip).";
const DETERMINISM_LOCKSTEP: &str = "Lock-step run (--lockstep): same seed, same inputs, and every venue answer applied right after the md record that triggered its order, before the next one, so the whole run is deterministic: two runs give the same orders bit for bit. The tick-to-order latency includes waiting for the venue's answers (ring read).";

const SYMBOLS: [&str; 3] = ["BTCUSDT", "ETHUSDT", "SOLUSDT"];
const STEP_US: i64 = 1_000;
const VOL_PPM: i64 = 5;

fn utc_stamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (y, m, d, h, mi, s) = hotrisk_feed::clock::civil_utc(secs);
    format!("{y:04}{m:02}{d:02}-{h:02}{mi:02}{s:02}")
}

pub(crate) fn main(a: Args) -> anyhow::Result<ExitCode> {
    let t0 = Instant::now();
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("hotrisk-demo-{}", utc_stamp())));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let out = out
        .canonicalize()
        .with_context(|| format!("resolving {}", out.display()))?;
    let accounts = a.accounts.unwrap_or(if a.quick { 2_000 } else { 20_000 });
    let duration_ms = a.duration_ms.unwrap_or(if a.quick { 1_500 } else { 3_000 });
    if a.event_at_ms >= duration_ms {
        bail!(
            "--event-at-ms {} must be before the end of the feed ({duration_ms} ms)",
            a.event_at_ms
        );
    }
    let machine = Machine::current();
    println!(
        "hotrisk demo: {} accounts x {} positions, synthetic crash (-10% in 1 s at {} ms of a {} ms feed), speed {}",
        accounts, a.positions_per_account, a.event_at_ms, duration_ms, a.speed
    );
    println!(
        "machine: {} | {} logical CPUs | kernel {} | git {}",
        machine.cpu_model, machine.logical_cpus, machine.kernel, machine.git_revision
    );

    // 1.–2. Accounts, feed, processes, read-back.
    let gen = GenConfig {
        seed: a.seed,
        accounts,
        positions_per_account: a.positions_per_account,
        symbols: SYMBOLS.map(String::from).to_vec(),
        safe_pct: a.safe_pct,
        notional_min_e8: 100 * E8,
        notional_max_e8: a.notional_max.saturating_mul(E8),
        insurance_fund_e8: a.insurance_fund.saturating_mul(E8),
        ..GenConfig::default()
    };
    let cpus = CpuPlan::current();
    println!("placement: {}", cpus.description);
    let run = SyntheticRun {
        exe: launch::current_exe()?,
        accounts: gen.clone(),
        scenario: Scenario::Crash,
        duration_ms,
        event_at_ms: a.event_at_ms,
        step_us: STEP_US,
        depth: a.depth,
        vol_ppm: VOL_PPM,
        level_lots: Some(a.level_lots),
        speed: Some(a.speed.clone()),
        out: out.clone(),
        engine_extra: if a.lockstep {
            vec!["--set".into(), "queue.lockstep=true".into()]
        } else {
            Vec::new()
        },
        cpus: Some(cpus.clone()),
        capture: None,
        timeout: Duration::from_secs(a.timeout_s).saturating_sub(t0.elapsed()),
        tag: "demo".into(),
    };
    println!("running feed-handler, venue and engine over /dev/shm rings (removed at the end) ...");
    let r = launch::run_synthetic(&run)
        .map_err(anyhow::Error::msg)
        .context("the demo run")?;
    let snap = &r.snapshot;
    println!(
        "rings: {} (removed)",
        r.rings
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "accounts: {} accounts, {} positions ({} long, {} isolated, {} at 10x or more) in {}",
        snap.accounts,
        snap.positions,
        snap.longs,
        snap.isolated,
        snap.leveraged,
        snap.positions_file.display()
    );
    let (lat, liq, summary, journal, md_records) = (
        &r.latency,
        &r.liquidations,
        &r.engine_summary,
        &r.journal,
        r.md_records,
    );
    let plots = draw_latency_plots(&out, "hotrisk demo", lat, &[]);
    let table = lat.table();

    let mut md = Markdown::new("hotrisk demo report");
    md.para(&format!(
        "Synthetic crash: {} instruments, −10 % in one second starting at {} ms of a {} ms feed ({} md records, speed {}), {} accounts, {} positions. Three processes over `/dev/shm` rings: feed-handler → engine (`hotrisk run`, margin core + policy) → simulated matching engine → engine.",
        gen.symbols.len(), a.event_at_ms, duration_ms, md_records, a.speed, snap.accounts, snap.positions
    ));
    md.section("Machine").para(&machine.to_string());
    let sharing = if machine.threads_share_a_core(3) {
        format!(
            "{} logical CPUs for the feed-handler's publisher, the venue and the engine's risk and gateway threads: hot threads share cores (spin-then-yield), so the tails include scheduling.",
            machine.logical_cpus
        )
    } else {
        "Each hot thread can have a core of its own.".to_owned()
    };
    md.para(&sharing);
    md.section("Tick-to-order latency per stage (ns)")
        .code(&table)
        .para("Per reporting interval:")
        .code(&lat.over_time(&[Stage::RingRead, Stage::TickToOrder]))
        .para("`ring_read`: md publish → read by the risk thread; `decision`: read → decision; `enqueue`: decision → in the gateway queue; `gateway_publish`: queue → order ring; `tick_to_order`: md publish → order on the order ring. `ring_read` and `decision` count every md record; `enqueue` onwards only the records that produced an order (cancel-alls included).");
    let audit = match &r.audit {
        Ok(a) => a.table() + &health_note(summary).unwrap_or_default(),
        Err(e) => format!("accounting check: could not run: {e}\n"),
    };
    md.section("Liquidations")
        .para(&liq.table())
        .para(if a.lockstep {
            DETERMINISM_LOCKSTEP
        } else {
            DETERMINISM
        });
    md.section("Accounting check").para(&audit).para("The run replayed in-process from its journal (see `hotrisk_engine::outcome::Audit`): collateral must move by exactly the realised PnL of the fills (recomputed independently) minus the fees the fund received, plus the negative balances of accounts closed out below zero that the engine settled (paid by the fund or written off); the fund by its fees, takeovers and covered balances.");
    if !summary.is_empty() {
        md.para("The engine's own summary (policy bookkeeping: bad debt, insurance fund):")
            .code(summary);
    }
    md.section("Dataset").para(&format!(
        "| | |\n|---|---|\n| accounts | {} |\n| positions | {} (per instrument: {:?}) |\n| long / isolated / ≥10x | {} / {} / {} |\n| seed | {} |\n| md records | {} |\n| instruments file | snapshot/instruments.toml |\n| positions file | snapshot/positions.csv |",
        snap.accounts, snap.positions, snap.per_instrument, snap.longs, snap.isolated, snap.leveraged, a.seed, md_records
    ));
    md.section("Processes");
    for f in [&r.processes.feed, &r.processes.venue, &r.processes.engine] {
        md.para(&format!(
            "**{}** ({:.2} s)",
            f.name,
            f.elapsed.as_secs_f64()
        ))
        .code(
            &f.stdout
                .lines()
                .chain(f.stderr.lines())
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
    let mut files = vec![out.join("latency.hlog")];
    files.extend(
        Stage::ALL
            .iter()
            .map(|s| out.join(format!("{}.hgrm", s.name()))),
    );
    files.extend(plots.iter().cloned());
    files.push(journal.clone());
    files.push(out.join("snapshot/instruments.toml"));
    md.section("Files").para(&file_list(&out, &files)).para(
        "Redraw or re-tabulate with `hotrisk-tools hist latency.hlog` / `hotrisk-tools hist *.hgrm`.",
    );
    let report = out.join("report.md");
    md.write(&report)
        .with_context(|| format!("writing {}", report.display()))?;

    println!("\n== tick-to-order latency per stage (ns)\n{table}");
    println!(
        "== per {} ms interval (flat: the engine kept up with the feed)\n{}",
        250,
        lat.over_time(&[Stage::RingRead, Stage::TickToOrder])
    );
    println!("== liquidations\n{}", liq.table());
    if !summary.is_empty() {
        println!("== engine summary\n{summary}\n");
    }
    println!("== accounting check\n{audit}");
    println!(
        "{}\n",
        if a.lockstep {
            DETERMINISM_LOCKSTEP
        } else {
            DETERMINISM
        }
    );
    println!(
        "report: {} (with latency.hlog, <stage>.hgrm, {} SVG plots, the journal and logs/) | {:.1} s",
        report.display(),
        plots.len(),
        t0.elapsed().as_secs_f64()
    );
    if liq.liquidation_orders() == 0 {
        eprintln!("hotrisk demo: warning: no liquidation order was emitted");
    }
    Ok(ExitCode::SUCCESS)
}
