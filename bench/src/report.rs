//! The `e2e`, `roundtrip` and `scaling` subcommands: arguments, running, and the report
//! directory (`report.md` starting with the machine, `.hgrm`/`.hlog`, SVG plots).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use hotrisk_bench::{e2e, roundtrip, scaling};
use hotrisk_engine::config::{GatewayMode, IdleKind};
use hotrisk_engine::latency::plot::{draw_spectrum, spectrum_from_histogram};
use hotrisk_engine::machine::Machine;
use hotrisk_engine::report::{draw_latency_plots, file_list, Markdown, RunLatency};

fn utc_stamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("{secs}")
}

fn out_dir(out: &Option<PathBuf>, what: &str) -> Result<PathBuf> {
    let d = out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("hotrisk-report-{what}-{}", utc_stamp())));
    std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    Ok(d)
}

fn header(title: &str, threads: usize) -> (Markdown, Machine) {
    let m = Machine::current();
    let mut md = Markdown::new(title);
    md.section("Machine").para(&m.to_string());
    md.para(&if m.threads_share_a_core(threads) {
        format!(
            "**{} busy threads on {} logical CPUs: threads share cores** (spin-then-yield where they do); tails include scheduling.",
            threads, m.logical_cpus
        )
    } else {
        format!("{threads} busy threads, {} logical CPUs: each can have its own.", m.logical_cpus)
    });
    (md, m)
}

fn finish(md: &Markdown, dir: &Path, files: &[PathBuf]) -> Result<()> {
    let mut md = md.clone();
    md.section("Files").para(&file_list(dir, files));
    let p = dir.join("report.md");
    md.write(&p)
        .with_context(|| format!("writing {}", p.display()))?;
    println!("report: {}", p.display());
    Ok(())
}

/// `hotrisk-bench e2e` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct E2eArgs {
    /// Accounts (10^3 .. 10^7).
    #[arg(long, default_value_t = 100_000)]
    accounts: u32,
    /// Positions per account in distinct instruments (1..=instruments): P per instrument ≈
    /// N·this/instruments.
    #[arg(long, default_value_t = 2)]
    positions_per_account: u32,
    /// Simulated feed length, ms (the crash starts at a quarter of it).
    #[arg(long, default_value_t = 4_000)]
    duration_ms: i64,
    /// Paced mode's speed over the feed's timestamps (1 = real time ≈ 25k msg/s).
    #[arg(long, default_value = "1")]
    speed: String,
    /// Which modes.
    #[arg(long, value_enum, default_value_t = Modes::Both)]
    mode: Modes,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The `hotrisk` executable (default: next to this one).
    #[arg(long)]
    hotrisk: Option<PathBuf>,
    /// Report directory (default `hotrisk-report-e2e-<time>`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Deadline per mode, s.
    #[arg(long, default_value_t = 600)]
    timeout_s: u64,
    /// Instruments (BTC, ETH, SOL, BNB, XRP, then SYN06USDT… at 100); 10^6 positions over 10^5
    /// accounts needs 10 with `--positions-per-account 10`.
    #[arg(long, default_value_t = 3)]
    instruments: usize,
    /// Engine setting `key=value` (repeatable; `hotrisk run --set`), e.g.
    /// `threads.gateway=inline`.
    #[arg(long = "engine-set", value_name = "KEY=VALUE")]
    engine_set: Vec<String>,
    /// The synthetic feed's price path (the event starts at a quarter of the feed).
    #[arg(long, value_enum, default_value_t = hotrisk_feed::source::synthetic::Scenario::Crash)]
    scenario: hotrisk_feed::source::synthetic::Scenario,
    /// Replay this native capture (`HRCAPTUR`, from `hotrisk-tools convert` or `feed-handler
    /// capture`/`synthetic --out`) instead of the synthetic crash; accounts are generated around
    /// its symbols' first prices (`--instruments` and `--duration-ms` are then unused).
    #[arg(long, value_name = "FILE")]
    capture: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Modes {
    Paced,
    Saturating,
    Both,
}

pub(crate) fn e2e(a: &E2eArgs) -> Result<()> {
    let dir = out_dir(&a.out, "e2e")?.canonicalize()?;
    let o = e2e::Options {
        hotrisk: a.hotrisk.clone().unwrap_or_else(e2e::default_hotrisk),
        accounts: a.accounts,
        positions_per_account: a.positions_per_account,
        duration_ms: a.duration_ms,
        speed: a.speed.clone(),
        paced: a.mode != Modes::Saturating,
        saturating: a.mode != Modes::Paced,
        seed: a.seed,
        out: dir.clone(),
        timeout: Duration::from_secs(a.timeout_s),
        instruments: a.instruments,
        engine_set: a.engine_set.clone(),
        scenario: a.scenario,
        capture: a.capture.clone(),
    };
    if a.capture.is_none()
        && (a.instruments == 0 || a.positions_per_account as usize > a.instruments)
    {
        anyhow::bail!(
            "--positions-per-account {} needs at least that many --instruments (got {})",
            a.positions_per_account,
            a.instruments
        );
    }
    let results = e2e::run(&o)?;
    let (mut md, _) = header("hotrisk-bench e2e", 5);
    let sets = a
        .engine_set
        .iter()
        .map(|kv| format!(" --set {kv}"))
        .collect::<String>();
    let dataset = match (&a.capture, results.first()) {
        (Some(cap), Some(first)) => format!(
            "**Captured feed** `{}` ({} md records; symbols {}), replayed by `feed-handler replay`; seed {}, {} accounts × {} positions generated around each symbol's first price in the capture (`hotrisk_engine::generate`). Processes: feed-handler, engine (`hotrisk run`{sets}), simulated venue, over `/dev/shm` rings.",
            cap.display(),
            first.run.md_records,
            first.run.snapshot.per_instrument.len(),
            a.seed,
            a.accounts,
            a.positions_per_account,
        ),
        _ => format!(
            "**Synthetic {:?} feed** (crash: −10 % in 1 s; grind: −20 % over 60 s; from {} ms of {} ms, {} instruments, 20 levels a side), seed {}, {} accounts × {} positions (generated by `hotrisk_engine::generate`). Processes: feed-handler, engine (`hotrisk run`{sets}), simulated venue, over `/dev/shm` rings.",
            a.scenario,
            a.duration_ms / 4,
            a.duration_ms,
            a.instruments,
            a.seed,
            a.accounts,
            a.positions_per_account,
        ),
    };
    md.section("Dataset").para(&dataset);
    md.section("Results").para(&e2e::markdown(&results));
    let mut files = Vec::new();
    let mut peers = Vec::new();
    for m in &results {
        let mdir = dir.join(m.mode);
        files.push(mdir.join("latency.hlog"));
        files.extend(draw_latency_plots(
            &mdir,
            &format!("e2e {}", m.mode),
            &m.run.latency,
            &[],
        ));
        if let Some(h) = m
            .run
            .latency
            .get(hotrisk_engine::latency::Stage::TickToOrder)
        {
            peers.push(spectrum_from_histogram(
                &format!("{} tick_to_order", m.mode),
                h,
            ));
        }
    }
    let p = dir.join("tick_to_order_modes.svg");
    if draw_spectrum(&p, "e2e: tick-to-order, paced vs saturating", &peers).is_ok() {
        files.push(p);
    }
    print!("{}", e2e::markdown(&results));
    finish(&md, &dir, &files)
}

/// `hotrisk-bench roundtrip` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct RoundtripArgs {
    /// Timed round trips.
    #[arg(long, default_value_t = 200_000)]
    ticks: u64,
    /// Untimed round trips first.
    #[arg(long, default_value_t = 20_000)]
    warmup: u64,
    /// Driver core A and engine core B.
    #[arg(long, default_value = "0,1", value_parser = hotrisk_bench::transport::parse_cores)]
    cores: (usize, usize),
    /// Directory of the rings and journal.
    #[arg(long, default_value = "/dev/shm")]
    shm_dir: PathBuf,
    /// Report directory (default `hotrisk-report-roundtrip-<time>`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The engine's gateway: `auto` (inline, risk and gateway share core B), `inline`, or
    /// `thread` (a gateway thread on core B next to the risk thread: the hand-off through the
    /// scheduler, for comparison).
    #[arg(long, default_value = "auto", value_parser = parse_gateway)]
    gateway: GatewayMode,
    /// The risk thread's idle strategy: `busy-spin`, `spin-then-yield`, or `auto` (the engine's
    /// rule). Default: busy-spin with an inline gateway (the risk thread is the only hot thread
    /// on core B and the driver has core A), the engine's rule otherwise.
    #[arg(long, value_parser = parse_idle)]
    idle: Option<IdleKind>,
}

fn parse_idle(s: &str) -> Result<IdleKind, String> {
    match s {
        "auto" => Ok(IdleKind::Auto),
        "busy-spin" => Ok(IdleKind::BusySpin),
        "spin-then-yield" => Ok(IdleKind::SpinThenYield),
        _ => Err(format!(
            "`{s}`: expected auto, busy-spin or spin-then-yield"
        )),
    }
}

fn parse_gateway(s: &str) -> Result<GatewayMode, String> {
    match s {
        "auto" => Ok(GatewayMode::Auto),
        "inline" => Ok(GatewayMode::Inline),
        "thread" => Ok(GatewayMode::Thread),
        _ => Err(format!("`{s}`: expected auto, inline or thread")),
    }
}

pub(crate) fn roundtrip(a: &RoundtripArgs) -> Result<()> {
    let dir = out_dir(&a.out, "roundtrip")?;
    let o = roundtrip::Options {
        ticks: a.ticks,
        warmup: a.warmup,
        cores: a.cores,
        shm_dir: a.shm_dir.clone(),
        hist_dir: dir.join("engine"),
        gateway: a.gateway,
        idle: a.idle,
    };
    let r = roundtrip::run(&o)?;
    let (mut md, _) = header("hotrisk-bench roundtrip", 3);
    md.para(&format!(
        "Driver on core {}, engine on core {}: {} (threshold core: each tick crosses one position's liquidation price). {} timed round trips after {} warm-up.",
        a.cores.0,
        a.cores.1,
        if r.gateway_inline {
            "the risk thread, gateway inline (journal + publish right after the decision, no hand-off)"
        } else {
            "risk and gateway threads, handing off through the decision queue"
        },
        a.ticks,
        a.warmup
    ));
    let text = r.markdown();
    md.section("Round trip").para(&text);
    let mut files = Vec::new();
    for (name, h) in [("roundtrip", &r.round_trip), ("floor", &r.floor)] {
        let p = dir.join(format!("{name}.hgrm"));
        let mut f = std::io::BufWriter::new(std::fs::File::create(&p)?);
        hotrisk_engine::latency::hlog::write_hgrm(&mut f, h)?;
        files.push(p);
    }
    let lat =
        RunLatency::from_hlog(&dir.join("engine/latency.hlog")).map_err(anyhow::Error::msg)?;
    let peers = [
        spectrum_from_histogram("round trip", &r.round_trip),
        spectrum_from_histogram("ping-pong floor", &r.floor),
    ];
    files.push(dir.join("engine/latency.hlog"));
    files.extend(draw_latency_plots(&dir, "roundtrip", &lat, &peers));
    print!("{text}");
    finish(&md, &dir, &files)
}

/// `hotrisk-bench scaling` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct ScalingArgs {
    /// Positions in the ticked instrument (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1000,10000,100000,1000000"
    )]
    positions: Vec<usize>,
    /// Total accounts of the positions sweep.
    #[arg(long, default_value_t = 1_000_000)]
    accounts_total: usize,
    /// Positions in the ticked instrument during the accounts sweep.
    #[arg(long, default_value_t = 10_000)]
    fixed_positions: usize,
    /// Total accounts of the accounts sweep (comma-separated; 10^7 needs ~4 GB and ~1 min).
    #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
    accounts: Vec<usize>,
    /// Time per case, ms.
    #[arg(long, default_value_t = 1_000)]
    budget_ms: u64,
    /// Fewest ticks per case.
    #[arg(long, default_value_t = 50)]
    min_ticks: u64,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Report directory (default `hotrisk-report-scaling-<time>`).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub(crate) fn scaling(a: &ScalingArgs) -> Result<()> {
    let dir = out_dir(&a.out, "scaling")?;
    let o = scaling::Options {
        positions: a.positions.clone(),
        accounts_total: a.accounts_total,
        fixed_positions: a.fixed_positions,
        accounts: a.accounts.clone(),
        budget_ms: a.budget_ms,
        min_ticks: a.min_ticks,
        seed: a.seed,
    };
    let s = scaling::run(&o)?;
    let (mut md, _) = header("hotrisk-bench scaling", 1);
    md.para("One thread ticks instrument 0 and times every tick. `hotrisk`: the SoA fixed-point band kernel (`MarginState::on_mark`), mark alternating one tick; `hotrisk moving`: ±0.5 % saw-tooth (band exits, unit re-evaluations); `baseline`: array of structs, f64, HashMap of accounts, Mutex<Vec> order queue, every position recomputed every tick. Same population for both.");
    let text = s.markdown();
    md.section("Results").para(&text);
    let mut files = scaling::write_hgrms(&s, &dir)?;
    let p = dir.join("scaling.svg");
    s.plot(&p)?;
    files.push(p);
    print!("{text}");
    finish(&md, &dir, &files)
}
