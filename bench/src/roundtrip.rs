//! `hotrisk-bench roundtrip`: the honest latency measurement on a small machine — a ping-pong.
//!
//! A driver thread pinned to core A publishes one mark tick into a real `/dev/shm` market-data
//! ring and spins on the order ring until the liquidation order that tick causes arrives from
//! the engine, whose risk and gateway work is pinned to core B (the engine's own pipeline,
//! [`hotrisk_engine::pipeline::start`], in this process; the rings are the same shared-memory
//! files a separate process would map). Then the next tick. The engine runs the pipeline's
//! threshold core (a mark through a precomputed liquidation price emits one reduce-only IOC
//! order, O(1) work here): one position at liquidation price `L`; the ticks alternate `L − δ` and
//! `L + δ`, and between two round trips (untimed) the driver sends a fill on the account-event
//! ring that flips the position (long ↔ short), so every tick liquidates it once more.
//!
//! In the same run, the physical floor: a bare cache-line ping-pong between the same two cores
//! (A stores `i`, B spins until it sees it and echoes it on a second 128-byte-padded line, A
//! spins on that). No message path between two cores can beat it.
//!
//! With risk and gateway on one core the engine runs its gateway inline on the risk thread (see
//! `hotrisk_engine::pipeline`): a hand-off between two threads of one core would cost a spin
//! window plus a context switch per order. `--gateway thread` measures that configuration.
//!
//! Reported: round trip and half of it (percentiles, max), the floor, the ratio of the p50s, the
//! engine's per-stage histograms, and the allocations counted on the engine's hot threads.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;
use hotrisk_engine::config::{Config, GatewayMode, IdleKind};
use hotrisk_engine::journal::JournalWriter;
use hotrisk_engine::pipeline::recovery::RecoveryPlan;
use hotrisk_engine::pipeline::threshold::{ThresholdCore, ThresholdPosition};
use hotrisk_engine::pipeline::{start, EngineInputs, RunSummary};
use hotrisk_feed::clock::now_ns;
use hotrisk_feed::ring::broadcast::{BroadcastReader, BroadcastWriter};
use hotrisk_feed::ring::spsc::{SpscConsumer, SpscProducer};
use hotrisk_feed::wire::{Msg, MsgKind, Order};

use crate::alloc;
use crate::interrupts::{Delta, Snapshot};

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Timed round trips (after `warmup`).
    pub ticks: u64,
    /// Untimed round trips first.
    pub warmup: u64,
    /// Core A (driver) and core B (engine risk + gateway).
    pub cores: (usize, usize),
    /// Directory of the rings and the journal (tmpfs: `/dev/shm`).
    pub shm_dir: PathBuf,
    /// Where the engine writes its `.hlog`/`.hgrm`.
    pub hist_dir: PathBuf,
    /// The engine's gateway placement (`Auto`: inline, since risk and gateway share core B).
    pub gateway: GatewayMode,
    /// The risk thread's idle strategy; `None`: busy-spin when the gateway is not a thread of its
    /// own (the risk thread is then the only hot thread on core B, the driver has core A, and a
    /// `sched_yield` in the wait would only add a syscall to a tick that arrives during it),
    /// otherwise the engine's own rule.
    pub idle: Option<IdleKind>,
}

/// What was measured.
#[derive(Debug)]
pub struct Outcome {
    /// Tick published → its order popped by the driver, ns.
    pub round_trip: Histogram<u64>,
    /// Cache-line ping-pong round trip between the same cores, ns.
    pub floor: Histogram<u64>,
    /// The engine's summary (per-stage histograms, counters).
    pub engine: RunSummary,
    /// Allocations on the engine's hot threads during the run.
    pub hot_allocations: u64,
    /// Wall time of the timed part, s.
    pub seconds: f64,
    /// Whether the engine ran its gateway inline on the risk thread.
    pub gateway_inline: bool,
    /// Interrupts on the two cores during the floor, and its wall time, s.
    pub floor_irq: Option<(Delta, f64)>,
    /// Interrupts on the two cores during the timed round trips.
    pub round_trip_irq: Option<Delta>,
}

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 10_000_000_000, 3).expect("valid bounds")
}

fn pin(core: usize) -> bool {
    core_affinity::set_for_current(core_affinity::CoreId { id: core })
}

/// The cache-line ping-pong floor between `cores`, `n` round trips.
pub fn floor(cores: (usize, usize), n: u64) -> Histogram<u64> {
    let ping = Arc::new(CachePadded::new(AtomicU64::new(0)));
    let pong = Arc::new(CachePadded::new(AtomicU64::new(0)));
    let (pi, po) = (Arc::clone(&ping), Arc::clone(&pong));
    let echo = std::thread::spawn(move || {
        pin(cores.1);
        for i in 1..=n {
            while pi.load(Ordering::Acquire) != i {
                std::hint::spin_loop();
            }
            po.store(i, Ordering::Release);
        }
    });
    pin(cores.0);
    let mut h = hist();
    for i in 1..=n {
        let t = now_ns();
        ping.store(i, Ordering::Release);
        while pong.load(Ordering::Acquire) != i {
            std::hint::spin_loop();
        }
        let _ = h.record((now_ns() - t).max(1) as u64);
    }
    let _ = echo.join();
    h
}

const P0: i64 = 100_000 * 100_000_000;
const STEP: i64 = 1_000;

/// Runs the ping-pong floor, then the engine round trip.
pub fn run(o: &Options) -> Result<Outcome> {
    let total = o.ticks + o.warmup;
    if total == 0 || total > 5_000_000 {
        bail!("ticks + warmup = {total}: 1 to 5 000 000 expected");
    }
    eprintln!(
        "roundtrip: floor ({} round trips) ...",
        o.ticks.min(1_000_000)
    );
    // In its own thread: pinning the calling thread would narrow the affinity the engine's
    // threads inherit.
    let (cores, n) = (o.cores, o.ticks.min(1_000_000));
    let irq_cores = [o.cores.0, o.cores.1];
    let (irq0, t0) = (Snapshot::take(&irq_cores), Instant::now());
    let floor = std::thread::spawn(move || floor(cores, n))
        .join()
        .map_err(|_| anyhow::anyhow!("the floor thread panicked"))?;
    let floor_secs = t0.elapsed().as_secs_f64();
    let floor_irq = irq0
        .zip(Snapshot::take(&irq_cores))
        .map(|(a, b)| (a.delta(&b), floor_secs));

    let tag = format!("hotrisk-rt-{}", std::process::id());
    let md_path = o.shm_dir.join(format!("{tag}-md"));
    let orders_path = o.shm_dir.join(format!("{tag}-orders"));
    let acct_path = o.shm_dir.join(format!("{tag}-acct"));
    let journal_path = o.shm_dir.join(format!("{tag}.journal"));
    let cleanup = Cleanup(vec![
        md_path.clone(),
        orders_path.clone(),
        journal_path.clone(),
    ]);

    let mut cfg = Config::default();
    cfg.journal.path = journal_path.clone();
    cfg.journal.capacity = (total * 2 + 16).next_power_of_two();
    cfg.latency.out_dir = o.hist_dir.clone();
    cfg.latency.interval_ms = 1000;
    cfg.health.exit_on_eof = true;
    cfg.threads.risk_core = Some(o.cores.1);
    cfg.threads.gateway_core = Some(o.cores.1);
    cfg.threads.reporter_core = None;
    cfg.threads.idle = o.idle.unwrap_or(match o.gateway {
        GatewayMode::Thread => IdleKind::Auto,
        _ => IdleKind::BusySpin,
    });
    cfg.threads.gateway = o.gateway;

    // One position, flipped long ↔ short by a fill after each order (see the module docs).
    let positions = vec![ThresholdPosition {
        account: 1,
        instrument: 0,
        qty_e8: 100_000_000,
        liq_price_e8: P0,
    }];
    let core = ThresholdCore::new(positions, 50).map_err(anyhow::Error::msg)?;
    let mut md_w = BroadcastWriter::<Msg>::create(&md_path, 1 << 16)
        .with_context(|| format!("creating {}", md_path.display()))?;
    let md = BroadcastReader::<Msg>::attach(&md_path)
        .with_context(|| format!("attaching {}", md_path.display()))?;
    let mut acct_w = SpscProducer::<Msg>::create(&acct_path, 1 << 12)
        .with_context(|| format!("creating {}", acct_path.display()))?;
    let acct = SpscConsumer::<Msg>::attach(&acct_path)
        .with_context(|| format!("attaching {}", acct_path.display()))?;
    let orders = SpscProducer::<Order>::create(&orders_path, 1 << 16)
        .with_context(|| format!("creating {}", orders_path.display()))?;
    let mut rx = SpscConsumer::<Order>::attach(&orders_path)
        .with_context(|| format!("attaching {}", orders_path.display()))?;
    let (journal, _) = JournalWriter::open(&journal_path, cfg.journal.capacity)
        .with_context(|| format!("opening {}", journal_path.display()))?;
    let stop = Arc::new(AtomicBool::new(false));
    let a0 = alloc::hot_allocations();
    let running = start(
        &cfg,
        EngineInputs {
            core,
            md,
            acct: Some(acct),
            orders,
            journal,
            plan: RecoveryPlan::default(),
        },
        Arc::clone(&stop),
    )
    .context("starting the engine")?;
    for n in &running.notes {
        eprintln!("roundtrip: engine: {n}");
    }
    let gateway_inline = running.gateway_inline();
    eprintln!(
        "roundtrip: {} warm-up + {} timed round trips ...",
        o.warmup, o.ticks
    );

    let (cores, warmup) = (o.cores, o.warmup);
    type Driven = (Histogram<u64>, f64, Option<Delta>);
    let driver = std::thread::spawn(move || -> Result<Driven> {
        if !pin(cores.0) {
            eprintln!(
                "roundtrip: warning: cannot pin the driver to core {}",
                cores.0
            );
        }
        let mut h = hist();
        let mut t_start = Instant::now();
        let mut irq0 = None;
        let mut last_beat = 0i64;
        for i in 0..total {
            if i == warmup {
                // Untimed (between round trips): a procfs read.
                irq0 = Snapshot::take(&irq_cores);
                t_start = Instant::now();
            }
            // Even ticks: the position is long, the mark goes below L; odd: short, above.
            let long = i % 2 == 0;
            let mut m = Msg::market(MsgKind::MarkPrice, 0, 0, 0);
            m.seq = i + 1;
            m.body[0] = if long { P0 - STEP } else { P0 + STEP };
            let mut t = now_ns();
            if t - last_beat > 10_000_000 {
                md_w.heartbeat();
                acct_w.heartbeat();
                last_beat = t;
                t = now_ns();
            }
            m.publish_ts = t;
            md_w.publish(m);
            let spin_start = Instant::now();
            loop {
                if let Some(ord) = rx.try_pop() {
                    let dt = now_ns() - t;
                    if ord.account != 1 || ord.trigger_seq != i + 1 {
                        bail!(
                            "tick {i}: order for account {} trigger {} (expected 1, {})",
                            ord.account,
                            ord.trigger_seq,
                            i + 1
                        );
                    }
                    if i >= warmup {
                        let _ = h.record(dt.max(1) as u64);
                    }
                    break;
                }
                if spin_start.elapsed().as_secs() > 10 {
                    bail!("tick {i}: no order within 10 s");
                }
                std::hint::spin_loop();
            }
            // Untimed: flip the position with a fill and wait until the engine has taken it.
            let mut f = Msg::market(MsgKind::Fill, 0, 0, 0);
            f.account = 1;
            f.seq = i + 1;
            f.body = [if long { -200_000_000 } else { 200_000_000 }, m.body[0], 0];
            f.publish_ts = now_ns();
            while let Err(back) = acct_w.try_push(f) {
                f = back;
                std::hint::spin_loop();
            }
            let wait = Instant::now();
            while acct_w.backlog() > 0 {
                if wait.elapsed().as_secs() > 10 {
                    bail!("tick {i}: the engine did not take the fill within 10 s");
                }
                std::hint::spin_loop();
            }
        }
        let secs = t_start.elapsed().as_secs_f64();
        let irq = irq0
            .zip(Snapshot::take(&irq_cores))
            .map(|(a, b)| a.delta(&b));
        md_w.close();
        acct_w.close();
        Ok((h, secs, irq))
    });
    let driven = driver
        .join()
        .map_err(|_| anyhow::anyhow!("the driver thread panicked"))?;
    if driven.is_err() {
        stop.store(true, Ordering::Relaxed);
    }
    let engine = running.wait().context("stopping the engine")?;
    let (round_trip, seconds, round_trip_irq) = driven?;
    drop(cleanup);
    Ok(Outcome {
        round_trip,
        floor,
        engine,
        hot_allocations: alloc::hot_allocations() - a0,
        seconds,
        gateway_inline,
        floor_irq,
        round_trip_irq,
    })
}

/// Removes the listed files when dropped.
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Outcome {
    /// The Markdown tables.
    pub fn markdown(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let q = |h: &Histogram<u64>, p: f64| h.value_at_quantile(p);
        s.push_str("| ns | min | p50 | p90 | p99 | p99.9 | p99.99 | max | count |\n|---|---|---|---|---|---|---|---|---|\n");
        let mut line = |name: &str, h: &Histogram<u64>, div: u64| {
            let _ = writeln!(
                s,
                "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |",
                h.min() / div,
                q(h, 0.5) / div,
                q(h, 0.9) / div,
                q(h, 0.99) / div,
                q(h, 0.999) / div,
                q(h, 0.9999) / div,
                h.max() / div,
                h.len()
            );
        };
        line("tick → order round trip", &self.round_trip, 1);
        line("half round trip", &self.round_trip, 2);
        line("cache-line ping-pong floor (round trip)", &self.floor, 1);
        let ratio = q(&self.round_trip, 0.5) as f64 / q(&self.floor, 0.5).max(1) as f64;
        let _ = writeln!(
            s,
            "\nRound-trip p50 / floor p50 = **{ratio:.2}x** (target ≤ 2x); round-trip p99.99 = **{:.2} µs** (target < 20 µs); {:.0} round trips/s; allocations on the engine's hot threads: **{}**.",
            q(&self.round_trip, 0.9999) as f64 / 1000.0,
            self.round_trip.len() as f64 / self.seconds.max(1e-9),
            self.hot_allocations
        );
        if let (Some((fi, fs)), Some(ri)) = (&self.floor_irq, &self.round_trip_irq) {
            let per = |d: &Delta| {
                d.cores
                    .iter()
                    .map(|c| format!(" core {c}: timer / resched / call (TLB) / other |"))
                    .collect::<String>()
            };
            let _ = writeln!(
                s,
                "\nInterrupts on the two cores while each was measured (`/proc/interrupts`; a spinning thread still takes them, and on a VM each is an exit costing microseconds):\n\n| run |{} total | per s | per 10^4 samples |\n|---|{}---|---|---|\n{}\n{}",
                per(ri),
                "---|".repeat(ri.cores.len()),
                fi.row("cache-line ping-pong floor", *fs, self.floor.len()),
                ri.row("tick → order round trip", self.seconds, self.round_trip.len()),
            );
            let k = ri.per_10k(self.round_trip.len());
            let _ = writeln!(
                s,
                "\n{k:.1} interrupts per 10^4 round trips: {}",
                if k >= 1.0 {
                    "the round trip's p99.99 (and the floor's, at its own rate) can include interrupt and hypervisor time; compare it with the floor's p99.99 from the same run before blaming the engine."
                } else {
                    "fewer than one per 10^4, so p99.99 is the code's own tail."
                }
            );
        }
        let _ = writeln!(
            s,
            "\nEngine stages over the same run (ns):\n\n```text\n{}```",
            self.engine.table
        );
        s
    }
}
