//! The running engine: pinned risk and gateway threads, a cold reporter.
//!
//! ```text
//!  md ring (broadcast) ──┐
//!                        ├─► risk thread ── backlog ── Decision queue (SPSC, heap) ──► gateway ──► order ring (SPSC)
//!  acct ring (SPSC) ─────┘   (RiskCore)   (OrderSink)                                   └──► journal (mmap)
//!                             └─ Recorders ─┐                                  Recorder ─┘
//!                                           └──────────► reporter (cold): .hlog, .hgrm, table, Prometheus, msync
//! ```
//!
//! The cold threads stay out of the hot cores' way: the reporter sleeps until its next journal
//! sync or interval (about a dozen wake-ups a second with the defaults, not a poll), and the
//! Prometheus endpoint, when configured, is a thread of its own blocked in `accept`. Each wake-up
//! of a cold thread that the scheduler places on a hot core preempts the hot thread for a few
//! microseconds (more on a VM), which is what the far tail of `hotrisk-bench roundtrip` sees.
//!
//! # Back-pressure: the order backlog
//! Every order a core decides goes into the risk thread's [`OrderSink`], a preallocated FIFO
//! ring (`queue.backlog` slots; by default two per account), together with the journal-only
//! account events, in the order they happened. The risk loop hands entries to the gateway side
//! (the decision queue, or the inline gateway's order ring) while it has room, never waiting.
//! When the gateway side is full:
//! - entries wait in the backlog, in order, and are counted once each as **orders delayed by
//!   back-pressure** (`orders_delayed`);
//! - the risk loop reads **no market data** until the backlog is empty. That is correct
//!   back-pressure: the md ring is a broadcast ring whose writer never waits, so records wait
//!   there; if the writer laps the engine, the reader reports the exact gap and the core stops
//!   trusting prices (no liquidation on data it has not seen). Because a record is read only
//!   when everything before it was handed over, the order stream does not depend on any buffer
//!   size (`tests::tiny_buffers_delay_but_never_lose_orders`);
//! - the risk loop **keeps reading account events** while `queue.event_headroom` slots are
//!   free. The order consumer (the venue) may itself be waiting for room on the account ring
//!   before it reads more orders; not reading it here is how an inline gateway used to deadlock
//!   with it (`tests::inline_gateway_does_not_deadlock_with_a_waiting_venue`);
//! - a single record that produces more orders than the backlog has free slots makes the risk
//!   thread hand the oldest over and wait for room (counted as `backlog_stalls`): slower, never
//!   lossy. The default size (two slots per account) holds a tick on which every account is
//!   liquidated, since the policy has at most one order of its own in flight per account.
//!
//! No order is refused or dropped on this path, so none waits for an ack timeout to be
//! re-decided. Record time (and so the policy's ack timeouts) advances only with market data,
//! which waits while orders wait: back-pressure cannot expire an order that was never sent.
//!
//! # Gateway thread or inline gateway
//! The gateway's work (dedupe on replay, journal the order, publish it, mark it published) is one
//! type, `Gateway`, run in one of two places ([`placement::Placement::gateway_inline`], config
//! `threads.gateway`):
//! - **thread**: its own thread pops the decision queue. Right when risk and gateway each have a
//!   core: the risk thread hands an order over in one queue store and goes back to the feed.
//! - **inline**: the risk thread hands each order straight to the gateway code; there is no
//!   queue and no gateway thread. Right when the two would share a core (`auto` on a 2-core
//!   machine). A full order ring does not stop the risk thread: orders wait in its backlog and it
//!   keeps reading account events (above):
//!   there a hand-off only completes when the risk thread yields the core to the gateway, a
//!   spin window plus a context switch (the round trip measured ~15 µs in `gateway_publish`).
//!   Inline, the cost of the gateway is the journal append (a copy into the mapped file) and the
//!   ring store: no system call, no allocation, a few hundred ns. The stage histograms keep
//!   their meaning (`enqueue`: decision done → handed to the gateway code; `gateway_publish`:
//!   handed over → on the order ring); the queue depth reads 0.
//!
//! # Phases
//! - **Set-up** ([`open`], [`start`]): loads nothing itself (the caller builds the [`RiskCore`]),
//!   reads the journal ([`recovery`]), attaches/creates the rings, allocates the decision queue
//!   (even when the gateway runs inline, it is small),
//!   the order backlog (written through once, so its pages are resident) and the histograms,
//!   pins threads ([`placement`]).
//! - **Run**: the risk and gateway loops below. After start-up neither allocates, locks, logs or
//!   makes a system call (the idle strategy's `sched_yield` when the threads share a core is the
//!   one deliberate exception, taken only when there is no work). `hotrisk run`'s allocation test
//!   checks this with a counting global allocator and [`hot::is_hot_thread`].
//! - **Shutdown**: the stop flag (SIGINT/SIGTERM) or end of stream (`--exit-on-eof`) ends the
//!   risk loop; it hands the rest of its backlog over (waiting for room; an inline gateway gives
//!   up on an order ring nobody reads after 2 s, leaving those orders journaled for a restart);
//!   dropping its queue producer closes the queue; the gateway drains it, then the
//!   reporter collects the final histograms, writes them, and `msync`s the journal.
//!
//! # The risk thread's fixed poll order
//! Each iteration: (0) hand the backlog over as far as the gateway side has room; (1) one
//! market-data record (or a lap/gap report, or end of stream), only if the backlog is empty; then
//! (2) one account event if `queue.event_headroom` backlog slots are free — unless a replay is in
//! progress, in which case the journaled events are re-applied right after the md record they
//! followed. The orders of each record are handed over right after it. Then, every 4096
//! iterations, the md producer's heartbeat is checked and the backlog counters are published. The order matters for determinism: with both rings pre-filled
//! the interleaving is always md₁, a₁, md₂, a₂, …; in general the journal records the
//! interleaving that happened, and a replay reproduces it.
//!
//! # Lock-step (`queue.lockstep`)
//! Against a live venue the interleaving depends on timing: an answer that comes back while the
//! engine is inside a burst of md records is applied before or after some record of the burst.
//! With `queue.lockstep` step (1) also waits until every live order has its final answer (one
//! `OrderAck` per order; the sink counts orders, step (2) counts acks), so each answer, and the
//! orders it causes, land right after the md record that triggered the order and before the next
//! one. Against a deterministic venue the whole run is then the same bit for bit, run after run
//! (`tests::lockstep_holds_market_data_until_every_order_is_answered`, and the demo test
//! `lockstep_demo_is_deterministic_run_to_run`). The price: md waits for the venue's round trip.
//!
//! # Input health
//! A lap or a hole in the producer's sequence, and a producer whose heartbeat is older than
//! `health.heartbeat_timeout_ms`, are given to the core as [`Health`] (which must not liquidate
//! on data it cannot trust) and counted; the reporter prints them. Never a panic.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use bytemuck::{Pod, Zeroable};
use crossbeam_utils::CachePadded;
use hotrisk_feed::clock::now_ns;
use hotrisk_feed::ring::broadcast::{BroadcastReader, ReadOutcome};
use hotrisk_feed::ring::idle::{BusySpin, IdleStrategy, SpinThenYield};
use hotrisk_feed::ring::spsc::{self, SpscConsumer, SpscProducer};
use hotrisk_feed::ring::{RingError, RingInfo};
use hotrisk_feed::wire::{Msg, Order};

use crate::config::Config;
use crate::journal::{JournalError, JournalSync, JournalWriter, Record};
use crate::latency::report::{prometheus_text, stage_table, CounterSnapshot, LatencyFiles};
use crate::latency::{recorder_pair, Collector, Recorder, Stage, StageHistograms};

pub mod core;
pub mod hot;
pub mod margin_core;
pub mod placement;
pub mod recovery;
pub mod threshold;

pub use self::core::{CoreInfo, Health, OrderSink, RiskCore, SinkStats};
use placement::{Placement, Role};
use recovery::RecoveryPlan;

/// Errors setting up the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A ring could not be attached or created.
    #[error("{what}: {source}")]
    Ring {
        /// Which ring.
        what: &'static str,
        /// Why.
        source: RingError,
    },
    /// The journal could not be opened.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Output files or threads.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why.
        source: std::io::Error,
    },
}

/// `Decision::flags`: journal-only account event.
pub const DECISION_EVENT: u64 = 1;
/// `Decision::flags`: produced while replaying a previous run (no latency recorded).
pub const DECISION_REPLAY: u64 = 2;

/// One entry of the in-process queue from the risk thread to the gateway (96 bytes, `Pod`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct Decision {
    /// The journal record (an order, or an applied account event).
    pub rec: Record,
    /// `publish_ts` of the triggering md record.
    pub trigger_publish_ts: i64,
    /// When the risk thread pushed it (`CLOCK_MONOTONIC` ns).
    pub enqueue_ts: i64,
    /// [`DECISION_EVENT`], [`DECISION_REPLAY`].
    pub flags: u64,
    /// Zero.
    pub reserved: u64,
}

/// Counters written by one hot thread each (single writer: load + store, no locked RMW).
#[derive(Debug, Default)]
pub struct Counters {
    risk: CachePadded<RiskCounters>,
    gateway: CachePadded<GatewayCounters>,
}

#[derive(Debug, Default)]
struct RiskCounters {
    ticks: AtomicU64,
    account_events: AtomicU64,
    md_gaps: AtomicU64,
    producer_dead: AtomicU64,
    orders_delayed: AtomicU64,
    backlog_max: AtomicU64,
    backlog_stalls: AtomicU64,
    replayed_ticks: AtomicU64,
}

#[derive(Debug, Default)]
struct GatewayCounters {
    orders: AtomicU64,
    suppressed: AtomicU64,
    queue_depth: AtomicU64,
    queue_depth_max: AtomicU64,
    journal_full: AtomicU64,
    undelivered: AtomicU64,
}

#[inline]
fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

impl Counters {
    /// A snapshot for reports.
    pub fn snapshot(&self) -> CounterSnapshot {
        let r = &self.risk;
        let g = &self.gateway;
        CounterSnapshot {
            ticks: r.ticks.load(Ordering::Relaxed),
            account_events: r.account_events.load(Ordering::Relaxed),
            orders: g.orders.load(Ordering::Relaxed),
            orders_suppressed: g.suppressed.load(Ordering::Relaxed),
            md_gaps: r.md_gaps.load(Ordering::Relaxed),
            producer_dead: r.producer_dead.load(Ordering::Relaxed),
            queue_depth: g.queue_depth.load(Ordering::Relaxed),
            queue_depth_max: g.queue_depth_max.load(Ordering::Relaxed),
            orders_delayed: r.orders_delayed.load(Ordering::Relaxed),
            backlog_max: r.backlog_max.load(Ordering::Relaxed),
            backlog_stalls: r.backlog_stalls.load(Ordering::Relaxed),
        }
    }
}

/// The idle strategy of a hot thread, without dynamic dispatch.
#[derive(Debug, Clone, Copy)]
enum Idle {
    Busy(BusySpin),
    Yield(SpinThenYield),
}

impl Idle {
    fn new(p: &Placement) -> Self {
        if p.spin_then_yield {
            Idle::Yield(SpinThenYield::new(p.spins))
        } else {
            Idle::Busy(BusySpin)
        }
    }
}

impl IdleStrategy for Idle {
    #[inline]
    fn idle(&mut self) {
        match self {
            Idle::Busy(b) => b.idle(),
            Idle::Yield(y) => y.idle(),
        }
    }

    #[inline]
    fn reset(&mut self) {
        match self {
            Idle::Busy(b) => b.reset(),
            Idle::Yield(y) => y.reset(),
        }
    }
}

/// Everything the engine runs on, built by [`open`] (shared memory) or by a test (heap rings).
#[derive(Debug)]
pub struct EngineInputs<C: RiskCore> {
    /// The risk core.
    pub core: C,
    /// Market-data reader, positioned where this run starts.
    pub md: BroadcastReader<Msg>,
    /// Account-event consumer, if any.
    pub acct: Option<SpscConsumer<Msg>>,
    /// Order ring producer.
    pub orders: SpscProducer<Order>,
    /// The journal, with this run's `RunStart` appended.
    pub journal: JournalWriter,
    /// What the journal said about previous runs.
    pub plan: RecoveryPlan,
}

/// Opens the shared-memory inputs for `cfg`: reads the journal, reconciles it with the previous
/// order ring, attaches the md ring (at the replay start on a restart) and the account ring,
/// creates the order ring, and journals this run's start. Returns the inputs and the start-up
/// banner lines.
pub fn open<C: RiskCore>(
    cfg: &Config,
    core: C,
) -> Result<(EngineInputs<C>, Vec<String>), EngineError> {
    let mut banner = Vec::new();
    let (mut journal, records) = JournalWriter::open(&cfg.journal.path, cfg.journal.capacity)?;
    let old_ring = RingInfo::read(&cfg.rings.orders).ok();
    let plan = RecoveryPlan::from_journal(&records, old_ring.as_ref().map(|r| r.write_cursor));
    banner.push(format!(
        "journal: {} ({} records, capacity {}), run {}",
        cfg.journal.path.display(),
        records.len(),
        journal.capacity(),
        plan.run
    ));
    let md = match plan.resume_md_seq {
        Some(seq) => {
            banner.push(format!(
                "recovery: replaying md from seq {seq} to {} with {} journaled account events; {} orders already published (suppressed), {} journaled but unpublished (will be sent)",
                plan.replay_until,
                plan.events.len(),
                plan.published.len(),
                plan.unpublished.len()
            ));
            BroadcastReader::<Msg>::attach_at(&cfg.rings.md, seq)
        }
        None if cfg.rings.md_from_start => BroadcastReader::<Msg>::attach_at(&cfg.rings.md, 1),
        None => BroadcastReader::<Msg>::attach(&cfg.rings.md),
    }
    .map_err(|source| EngineError::Ring {
        what: "market-data ring",
        source,
    })?;
    let md_info = RingInfo::read(&cfg.rings.md).map_err(|source| EngineError::Ring {
        what: "market-data ring",
        source,
    })?;
    banner.push(format!(
        "md ring: {} (broadcast, layout v{}, {} x {} B, producer pid {}, {} published, reading from seq {})",
        cfg.rings.md.display(),
        hotrisk_feed::ring::layout::LAYOUT_VERSION,
        md_info.geometry.capacity,
        md_info.geometry.msg_size,
        md.producer_pid(),
        md_info.write_cursor,
        md.next_seq()
    ));
    let acct = if cfg.rings.acct.as_os_str().is_empty() {
        banner.push("acct ring: disabled".into());
        None
    } else {
        let c =
            SpscConsumer::<Msg>::attach(&cfg.rings.acct).map_err(|source| EngineError::Ring {
                what: "account-event ring",
                source,
            })?;
        banner.push(format!(
            "acct ring: {} (spsc, layout v{}, capacity {}, producer pid {}, resuming after {} popped, backlog {})",
            cfg.rings.acct.display(),
            hotrisk_feed::ring::layout::LAYOUT_VERSION,
            c.capacity(),
            c.producer_pid(),
            c.popped(),
            c.backlog()
        ));
        Some(c)
    };
    if let Some(old) = &old_ring {
        banner.push(format!(
            "previous order ring: {} orders published, {} consumed",
            old.write_cursor, old.read_cursor
        ));
    }
    let orders = SpscProducer::<Order>::create(&cfg.rings.orders, cfg.rings.order_capacity)
        .map_err(|source| EngineError::Ring {
            what: "order ring",
            source,
        })?;
    banner.push(format!(
        "order ring: {} (spsc, layout v{}, capacity {}, created by pid {})",
        cfg.rings.orders.display(),
        hotrisk_feed::ring::layout::LAYOUT_VERSION,
        orders.capacity(),
        std::process::id()
    ));
    journal
        .append(Record::run_start(plan.run, md.next_seq()))
        .map_err(|e| EngineError::Io {
            what: format!("journal {}", cfg.journal.path.display()),
            source: std::io::Error::other(e),
        })?;
    Ok((
        EngineInputs {
            core,
            md,
            acct,
            orders,
            journal,
            plan,
        },
        banner,
    ))
}

/// What a finished run reports.
#[derive(Debug)]
pub struct RunSummary {
    /// Cumulative histograms of every stage.
    pub total: StageHistograms,
    /// Final counters.
    pub counters: CounterSnapshot,
    /// The final percentile table.
    pub table: String,
    /// Where `.hlog`/`.hgrm` were written.
    pub hist_dir: PathBuf,
    /// Journal records at exit.
    pub journal_records: u64,
    /// Account events / md records still waiting when the run stopped (0 after a full drain).
    pub unread_md: u64,
    /// Orders suppressed because of a full journal or an undeliverable order ring: a non-empty
    /// value means the run did not end cleanly.
    pub fatal: Option<String>,
    /// The core's end-of-run summary ([`RiskCore::summary`]).
    pub core_summary: String,
}

/// A started engine.
#[derive(Debug)]
pub struct Running<C: RiskCore> {
    risk: JoinHandle<RiskExit<C>>,
    /// `None` when the gateway runs inline on the risk thread.
    gateway: Option<JoinHandle<GatewayExit>>,
    reporter: JoinHandle<std::io::Result<StageHistograms>>,
    reporter_stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    hist_dir: PathBuf,
    /// Start-up banner lines (placement, memory).
    pub notes: Vec<String>,
}

#[derive(Debug)]
struct RiskExit<C> {
    core: C,
    unread_md: u64,
    /// The inline gateway's exit (`None` with a gateway thread).
    gateway: Option<GatewayExit>,
}

#[derive(Debug)]
struct GatewayExit {
    journal_records: u64,
    fatal: Option<String>,
}

/// Starts the threads. `stop` ends the run (set it from a signal handler).
pub fn start<C: RiskCore + 'static>(
    cfg: &Config,
    inputs: EngineInputs<C>,
    stop: Arc<AtomicBool>,
) -> Result<Running<C>, EngineError> {
    let placement = placement::plan(&cfg.threads, &placement::available_cores());
    let mut notes = placement.notes.clone();
    notes.extend(placement::apply_memory(&cfg.memory));
    let counters = Arc::new(Counters::default());
    let (q_tx, q_rx) =
        spsc::channel::<Decision>(cfg.queue.capacity).map_err(|source| EngineError::Ring {
            what: "decision queue",
            source,
        })?;
    let (risk_rec, risk_col) = recorder_pair(cfg.latency.max_ns, cfg.latency.sigfig);
    let (hand_rec, hand_col) = recorder_pair(cfg.latency.max_ns, cfg.latency.sigfig);
    let (gw_rec, gw_col) = recorder_pair(cfg.latency.max_ns, cfg.latency.sigfig);
    let files = LatencyFiles::create(
        &cfg.latency.out_dir,
        SystemTime::now(),
        &format!(
            "Logged by hotrisk {} (pid {}); stages: ring_read decision enqueue gateway_publish tick_to_order",
            env!("CARGO_PKG_VERSION"),
            std::process::id()
        ),
    )
    .map_err(|source| EngineError::Io {
        what: format!("latency output dir {}", cfg.latency.out_dir.display()),
        source,
    })?;
    let prom = match cfg.latency.prometheus_port {
        Some(port) => {
            let l = std::net::TcpListener::bind(("127.0.0.1", port)).map_err(|source| {
                EngineError::Io {
                    what: format!("Prometheus endpoint 127.0.0.1:{port}"),
                    source,
                }
            })?;
            l.set_nonblocking(true).map_err(|source| EngineError::Io {
                what: "Prometheus endpoint".into(),
                source,
            })?;
            notes.push(format!("prometheus: http://127.0.0.1:{port}/metrics"));
            Some(l)
        }
        None => None,
    };
    let EngineInputs {
        core,
        md,
        acct,
        orders,
        journal,
        plan,
    } = inputs;
    let backlog = backlog_capacity(cfg.queue.backlog, core.info().accounts);
    notes.push(format!(
        "order backlog: {backlog} slots ({} MiB, preallocated); account events are read while {} are free; market data waits while it is not empty",
        (backlog * std::mem::size_of::<Decision>()) >> 20,
        cfg.queue.event_headroom.min(backlog)
    ));
    let sync = journal.sync_handle();
    let RecoveryPlan {
        events,
        replay_until,
        published,
        unpublished,
        ..
    } = plan;

    let gateway = Gateway {
        out: orders,
        journal,
        rec: gw_rec,
        published,
        unpublished,
        counters: Arc::clone(&counters),
        idle: Idle::new(&placement),
        stop: Arc::clone(&stop),
        fatal: None,
        idle_iter: 0,
        handled: 0,
        room: 0,
        stuck_since: 0,
    };
    let (downstream, gateway) = if placement.gateway_inline {
        drop(q_rx);
        (Downstream::Inline(Box::new(gateway)), None)
    } else {
        (
            Downstream::Queue(q_tx),
            Some(GatewayLoop {
                q: q_rx,
                gw: gateway,
                core_id: placement.gateway,
            }),
        )
    };
    let output = Output {
        q: downstream,
        rec: hand_rec,
        room: 0,
    };
    let risk = RiskLoop {
        core,
        md,
        acct,
        rec: risk_rec,
        sink: OrderSink::attached(backlog, output),
        acct_headroom: cfg.queue.event_headroom.clamp(1, backlog),
        lockstep: cfg.queue.lockstep,
        answers: 0,
        events,
        next_event: 0,
        replay_until,
        stop: Arc::clone(&stop),
        counters: Arc::clone(&counters),
        exit_on_eof: cfg.health.exit_on_eof,
        heartbeat_timeout_ns: (cfg.health.heartbeat_timeout_ms as i64).saturating_mul(1_000_000),
        idle: Idle::new(&placement),
        core_id: placement.risk,
    };
    let reporter_stop = Arc::new(AtomicBool::new(false));
    let reporter = Reporter {
        collectors: vec![risk_col, hand_col, gw_col],
        files,
        interval: Duration::from_millis(cfg.latency.interval_ms),
        sync_interval: Duration::from_millis(cfg.journal.sync_interval_ms.max(1)),
        print_intervals: cfg.latency.print_intervals,
        sync,
        prom,
        counters: Arc::clone(&counters),
        stop: Arc::clone(&reporter_stop),
        core_id: placement.reporter,
        max_ns: cfg.latency.max_ns,
        sigfig: cfg.latency.sigfig,
    };
    let spawn_err = |source| EngineError::Io {
        what: "spawning a thread".into(),
        source,
    };
    let risk = std::thread::Builder::new()
        .name("hotrisk-risk".into())
        .spawn(move || risk.run())
        .map_err(spawn_err)?;
    let gateway = match gateway {
        Some(g) => Some(
            std::thread::Builder::new()
                .name("hotrisk-gateway".into())
                .spawn(move || g.run())
                .map_err(spawn_err)?,
        ),
        None => None,
    };
    let reporter = std::thread::Builder::new()
        .name("hotrisk-reporter".into())
        .spawn(move || reporter.run())
        .map_err(spawn_err)?;
    Ok(Running {
        risk,
        gateway,
        reporter,
        reporter_stop,
        counters,
        hist_dir: cfg.latency.out_dir.clone(),
        notes,
    })
}

impl<C: RiskCore + 'static> Running<C> {
    /// Live counters.
    pub fn counters(&self) -> CounterSnapshot {
        self.counters.snapshot()
    }

    /// Whether the gateway runs inline on the risk thread (no gateway thread).
    pub fn gateway_inline(&self) -> bool {
        self.gateway.is_none()
    }

    /// Whether the hot threads have finished (end of stream or stop).
    pub fn is_finished(&self) -> bool {
        self.risk.is_finished() && self.gateway.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits for the hot threads (they stop on the stop flag or end of stream), then for the
    /// reporter's final output.
    pub fn wait(self) -> std::io::Result<RunSummary> {
        let mut risk = self
            .risk
            .join()
            .map_err(|_| std::io::Error::other("the risk thread panicked"))?;
        let gw = match self.gateway {
            Some(g) => g
                .join()
                .map_err(|_| std::io::Error::other("the gateway thread panicked"))?,
            None => risk
                .gateway
                .take()
                .ok_or_else(|| std::io::Error::other("the inline gateway did not report"))?,
        };
        self.reporter_stop.store(true, Ordering::Release);
        self.reporter.thread().unpark();
        let total = self
            .reporter
            .join()
            .map_err(|_| std::io::Error::other("the reporter thread panicked"))??;
        let table = stage_table(&total);
        Ok(RunSummary {
            table,
            total,
            counters: self.counters.snapshot(),
            hist_dir: self.hist_dir,
            journal_records: gw.journal_records,
            unread_md: risk.unread_md,
            fatal: gw.fatal,
            core_summary: risk.core.summary(),
        })
    }
}

struct RiskLoop<C: RiskCore> {
    core: C,
    md: BroadcastReader<Msg>,
    acct: Option<SpscConsumer<Msg>>,
    rec: Recorder,
    /// The order backlog; it owns the hand-off to the gateway ([`Output`]).
    sink: OrderSink,
    /// Account events are read only while this many backlog slots are free.
    acct_headroom: usize,
    /// `queue.lockstep`: the next md record waits until every live order has its answer.
    lockstep: bool,
    /// Final answers (`OrderAck`) read live from the account ring.
    answers: u64,
    events: Vec<(u64, Msg)>,
    next_event: usize,
    replay_until: u64,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    exit_on_eof: bool,
    heartbeat_timeout_ns: i64,
    idle: Idle,
    core_id: Option<usize>,
}

impl<C: RiskCore> RiskLoop<C> {
    fn run(mut self) -> RiskExit<C> {
        // The banner already reported the placement; a failure here is counted, not printed
        // from the hot thread: the reporter cannot tell, so print it once now (still cold).
        if let Some(w) = placement::pin_current(Role::Risk, self.core_id) {
            eprintln!("hotrisk: {w}");
        }
        if let Some(Downstream::Inline(g)) = self.sink.output().map(|o| &mut o.q) {
            g.start();
        }
        let mut last_md = self.md.next_seq().saturating_sub(1);
        let mut last_msg_seq = 0u64;
        let mut md_closed = false;
        let mut producer_dead = false;
        let mut iter: u32 = 0;
        // Events journaled before the first md record of the first run.
        self.inject_until(last_md);
        hot::set_hot(true);
        loop {
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            let replaying = self.next_event < self.events.len() || last_md < self.replay_until;
            let mut worked = false;
            // (0) hand the backlog to the gateway side, as far as it has room.
            let had = self.sink.len();
            let drained = self.sink.drain();
            worked |= self.sink.len() != had;
            // (1) one market-data record, only when nothing waits (back-pressure: the record
            // stays in the broadcast ring; if the writer laps us, the gap is reported) and, in
            // lock-step, when every order sent has its answer (applied before this record).
            let answered = !self.lockstep || replaying || self.answers >= self.sink.live_orders();
            if !md_closed && drained && answered {
                match self.md.try_read() {
                    ReadOutcome::Item(m) => {
                        let t_read = now_ns();
                        let seq = self.md.next_seq() - 1;
                        if last_msg_seq != 0 && m.seq != last_msg_seq.wrapping_add(1) && m.seq != 0
                        {
                            bump(&self.counters.risk.md_gaps, 1);
                            self.sink.begin_record(replaying);
                            self.core.on_health(
                                Health::MdGap {
                                    expected: last_msg_seq + 1,
                                    resumed_at: m.seq,
                                },
                                &mut self.sink,
                            );
                            self.sink.end_record(t_read);
                        }
                        if m.seq != 0 {
                            last_msg_seq = m.seq;
                        }
                        self.sink.begin_record(replaying);
                        self.core.on_market(&m, &mut self.sink);
                        let t_done = now_ns();
                        self.sink.end_record(t_done);
                        self.sink.drain();
                        if replaying {
                            bump(&self.counters.risk.replayed_ticks, 1);
                        } else {
                            self.rec.record(Stage::RingRead, t_read - m.publish_ts);
                            self.rec.record(Stage::Decision, t_done - t_read);
                        }
                        bump(&self.counters.risk.ticks, 1);
                        last_md = seq;
                        if replaying {
                            self.inject_until(seq);
                        }
                        worked = true;
                    }
                    ReadOutcome::Lapped {
                        expected,
                        resumed_at,
                    } => {
                        bump(&self.counters.risk.md_gaps, resumed_at - expected);
                        self.sink.begin_record(replaying);
                        self.core.on_health(
                            Health::MdGap {
                                expected,
                                resumed_at,
                            },
                            &mut self.sink,
                        );
                        self.sink.end_record(now_ns());
                        // Records we cannot see again: re-apply their journaled events now.
                        self.inject_until(resumed_at - 1);
                        worked = true;
                    }
                    ReadOutcome::Closed => md_closed = true,
                    ReadOutcome::Empty => {
                        if replaying && self.next_event < self.events.len() && !worked {
                            // Caught up with the live ring: whatever remains was applied after
                            // the last md record; apply it now.
                            self.inject_until(u64::MAX);
                        }
                    }
                }
            }
            if md_closed && self.next_event < self.events.len() {
                self.inject_until(u64::MAX);
            }
            // (2) one account event (live only after the replay), also while market data waits
            // for the backlog: the venue may be waiting for room on this ring before it reads
            // more orders, so not reading it here could deadlock the two.
            let replaying = self.next_event < self.events.len() || last_md < self.replay_until;
            if (!replaying || md_closed) && self.sink.free() >= self.acct_headroom {
                if let Some(acct) = self.acct.as_mut() {
                    if let Some(ev) = acct.try_pop() {
                        let t_read = now_ns();
                        self.answers +=
                            u64::from(ev.kind == hotrisk_feed::wire::MsgKind::OrderAck as u8);
                        self.apply_event(&ev, last_md, t_read, false);
                        self.sink.drain();
                        worked = true;
                    }
                }
            }
            // (3) input health and counters, every 4096 iterations.
            iter = iter.wrapping_add(1);
            if iter & 4095 == 0 {
                self.publish_sink_stats();
                if !md_closed {
                    // A producer that closed its ring has ended its stream cleanly: what is
                    // still unread is as good as when it was written (a replay at max speed
                    // finishes long before the engine has read it all).
                    let alive = self.md.producer_closed()
                        || self.md.producer_alive(self.heartbeat_timeout_ns);
                    if alive == producer_dead {
                        producer_dead = !alive;
                        if producer_dead {
                            bump(&self.counters.risk.producer_dead, 1);
                        }
                        self.sink.begin_record(false);
                        self.core.on_health(
                            if producer_dead {
                                Health::MdProducerDead
                            } else {
                                Health::MdProducerAlive
                            },
                            &mut self.sink,
                        );
                        self.sink.end_record(now_ns());
                    }
                }
            }
            if worked {
                self.idle.reset();
            } else {
                if md_closed && self.exit_on_eof && self.sink.is_empty() {
                    let acct_drained = self.acct.as_ref().is_none_or(|a| a.backlog() == 0);
                    if acct_drained {
                        break;
                    }
                }
                self.rec.poll();
                if let Some(out) = self.sink.output() {
                    out.rec.poll();
                    if let Downstream::Inline(g) = &mut out.q {
                        g.on_idle();
                    }
                }
                self.idle.idle();
            }
        }
        // Stop reading; hand over everything decided (waits for room; lossless).
        self.sink.drain_blocking();
        self.publish_sink_stats();
        hot::set_hot(false);
        let unread_md = self.md.lag();
        self.rec.finish();
        let gateway = match self.sink.take_output() {
            Some(out) => {
                out.rec.finish();
                match out.q {
                    // Dropping the queue producer closes it: the gateway thread drains and exits.
                    Downstream::Queue(q) => {
                        drop(q);
                        None
                    }
                    Downstream::Inline(g) => Some(g.finish()),
                }
            }
            None => None,
        };
        RiskExit {
            core: self.core,
            unread_md,
            gateway,
        }
    }

    /// Copies the backlog's counters where the reporter reads them (single writer).
    fn publish_sink_stats(&self) {
        let st = self.sink.stats();
        let r = &self.counters.risk;
        r.orders_delayed.store(st.delayed, Ordering::Relaxed);
        r.backlog_max.store(st.max_len, Ordering::Relaxed);
        r.backlog_stalls.store(st.stalls, Ordering::Relaxed);
    }

    /// Re-applies journaled account events recorded after md sequences `<= upto`.
    #[inline]
    fn inject_until(&mut self, upto: u64) {
        while let Some(&(after, ev)) = self.events.get(self.next_event) {
            if after > upto {
                break;
            }
            self.next_event += 1;
            self.apply_event(&ev, after, now_ns(), true);
        }
    }

    #[inline]
    fn apply_event(&mut self, ev: &Msg, after_md: u64, t_read: i64, replay: bool) {
        self.sink.begin_record(replay);
        if !replay {
            // Journal the event (the gateway appends it) before the orders it causes.
            self.sink.push_decision(Decision {
                rec: Record::account_event(ev, after_md),
                trigger_publish_ts: ev.publish_ts,
                enqueue_ts: 0,
                flags: DECISION_EVENT,
                reserved: 0,
            });
        }
        self.core.on_account(ev, &mut self.sink);
        bump(&self.counters.risk.account_events, 1);
        self.sink.end_record(t_read);
    }
}

/// Where the risk thread's decisions go.
enum Downstream {
    /// The decision queue to the gateway thread.
    Queue(SpscProducer<Decision>),
    /// The gateway itself, run on the risk thread (boxed: it is large and this is set up once).
    Inline(Box<Gateway>),
}

/// The hand-off from the risk thread's backlog ([`OrderSink`]) to the gateway side.
pub(crate) struct Output {
    q: Downstream,
    /// The `enqueue` stage (risk thread).
    rec: Recorder,
    /// Free queue slots known without reading the gateway's cursor (refreshed at 0).
    room: u64,
}

impl Output {
    /// Whether one more decision can be handed over without waiting.
    #[inline]
    pub(crate) fn has_room(&mut self) -> bool {
        match &mut self.q {
            Downstream::Queue(q) => {
                if self.room == 0 {
                    self.room = (q.capacity() as u64).saturating_sub(q.backlog());
                }
                self.room > 0
            }
            Downstream::Inline(g) => g.has_room(),
        }
    }

    /// Hands `d` over (`d.enqueue_ts` holds when its decision ended). Call after
    /// [`has_room`](Self::has_room); without room it waits (lossless either way).
    #[inline]
    pub(crate) fn hand(&mut self, mut d: Decision) {
        let now = now_ns();
        if d.flags & (DECISION_EVENT | DECISION_REPLAY) == 0 {
            self.rec.record(Stage::Enqueue, now - d.enqueue_ts);
        }
        d.enqueue_ts = now;
        match &mut self.q {
            Downstream::Queue(q) => {
                self.room = self.room.saturating_sub(1);
                if let Err(back) = q.try_push(d) {
                    // Only if `has_room` was not asked first: wait, never drop.
                    let mut idle = SpinThenYield::new(64);
                    q.push_spin(back, &mut idle);
                }
            }
            Downstream::Inline(g) => g.handle(d),
        }
    }

    /// Hands `d` over, waiting for room (the backlog is full, or shutdown).
    pub(crate) fn hand_blocking(&mut self, d: Decision) {
        self.hand(d);
    }
}

/// The risk thread's backlog capacity: `configured`, or (0) two slots per account and at least
/// 4096, as a power of two.
fn backlog_capacity(configured: usize, accounts: usize) -> usize {
    let n = if configured == 0 {
        accounts.saturating_mul(2).max(4096)
    } else {
        configured
    };
    n.next_power_of_two()
}

/// The gateway thread: pops the decision queue into a [`Gateway`].
struct GatewayLoop {
    q: SpscConsumer<Decision>,
    gw: Gateway,
    core_id: Option<usize>,
}

/// The gateway's work on one decision, on whichever thread runs it (see the module docs):
/// journal an account event; or dedupe (replay), journal, publish and mark an order published.
struct Gateway {
    out: SpscProducer<Order>,
    journal: JournalWriter,
    rec: Recorder,
    published: HashMap<u64, u64>,
    unpublished: HashMap<u64, u64>,
    counters: Arc<Counters>,
    /// Waiting for room on a full order ring.
    idle: Idle,
    stop: Arc<AtomicBool>,
    fatal: Option<&'static str>,
    idle_iter: u32,
    handled: u32,
    /// Free order-ring slots known without reading the consumer's cursor (refreshed at 0).
    room: u64,
    /// When, after a stop, the order ring was first found full with no room coming.
    stuck_since: i64,
}

/// After a stop, how long the gateway waits for room on a full order ring.
const UNDELIVERABLE_AFTER_NS: i64 = 2_000_000_000;

impl GatewayLoop {
    fn run(mut self) -> GatewayExit {
        if let Some(w) = placement::pin_current(Role::Gateway, self.core_id) {
            eprintln!("hotrisk: {w}");
        }
        let mut popped: u32 = 0;
        self.gw.start();
        hot::set_hot(true);
        loop {
            let Some(d) = self.q.try_pop() else {
                if self.q.is_closed() {
                    break;
                }
                self.gw.on_idle();
                self.gw.idle.idle();
                continue;
            };
            popped = popped.wrapping_add(1);
            if popped & 63 == 0 {
                let depth = self.q.backlog();
                let g = &self.gw.counters.gateway;
                g.queue_depth.store(depth, Ordering::Relaxed);
                if depth > g.queue_depth_max.load(Ordering::Relaxed) {
                    g.queue_depth_max.store(depth, Ordering::Relaxed);
                }
            }
            self.gw.handle(d);
        }
        hot::set_hot(false);
        self.gw.finish()
    }
}

impl Gateway {
    /// Before the first decision (cold).
    fn start(&mut self) {
        self.out.heartbeat();
    }

    /// Nothing to do: heartbeat the order ring now and then, answer the reporter.
    #[inline]
    fn on_idle(&mut self) {
        self.idle_iter = self.idle_iter.wrapping_add(1);
        if self.idle_iter & 1023 == 0 {
            self.out.heartbeat();
        }
        self.rec.poll();
    }

    /// Whether one more order fits on the order ring now (inline gateway; no waiting).
    #[inline]
    fn has_room(&mut self) -> bool {
        if self.room == 0 {
            self.room = (self.out.capacity() as u64).saturating_sub(self.out.backlog());
        }
        self.room > 0
    }

    /// One decision. Waits for room on the order ring (the inline gateway asks
    /// [`has_room`](Self::has_room) first and so never waits here).
    #[inline]
    fn handle(&mut self, d: Decision) {
        self.idle.reset();
        self.handled = self.handled.wrapping_add(1);
        if self.handled & 63 == 0 {
            self.out.heartbeat();
        }
        if d.flags & DECISION_EVENT != 0 {
            if self.journal.append(d.rec).is_err() {
                self.fatal.get_or_insert("journal full");
                bump(&self.counters.gateway.journal_full, 1);
                self.stop.store(true, Ordering::Relaxed);
            }
            return;
        }
        let id = d.rec.id;
        if !self.published.is_empty() && self.published.contains_key(&id) {
            bump(&self.counters.gateway.suppressed, 1);
            return;
        }
        let replayed = if self.unpublished.is_empty() {
            None
        } else {
            self.unpublished.remove(&id)
        };
        let index = match replayed {
            Some(i) => Some(i),
            None => {
                let mut rec = d.rec;
                rec.c = self.out.pushed() as i64;
                match self.journal.append(rec) {
                    Ok(i) => Some(i),
                    Err(_) => {
                        // Still publish: a liquidation reduces risk; the run then stops.
                        self.fatal.get_or_insert("journal full");
                        bump(&self.counters.gateway.journal_full, 1);
                        self.stop.store(true, Ordering::Relaxed);
                        None
                    }
                }
            }
        };
        let mut o = d.rec.to_order();
        o.trigger_publish_ts = d.trigger_publish_ts;
        o.emit_ts = now_ns();
        self.room = self.room.saturating_sub(1);
        let delivered = loop {
            match self.out.try_push(o) {
                Ok(()) => {
                    self.stuck_since = 0;
                    break true;
                }
                Err(back) => {
                    o = back;
                    self.room = 0;
                    if self.stop.load(Ordering::Relaxed) {
                        // Once stuck past the limit, later orders give up at once.
                        let now = now_ns();
                        if self.stuck_since == 0 {
                            self.stuck_since = now;
                        } else if now - self.stuck_since > UNDELIVERABLE_AFTER_NS {
                            break false;
                        }
                    }
                    self.idle.idle();
                }
            }
        };
        if !delivered {
            // Journaled, unpublished: a restart sends it.
            bump(&self.counters.gateway.undelivered, 1);
            self.fatal
                .get_or_insert("order ring full at shutdown (no consumer?)");
            return;
        }
        let t_pub = o.emit_ts;
        if let Some(i) = index {
            self.journal.mark_published(i);
        }
        bump(&self.counters.gateway.orders, 1);
        if d.flags & DECISION_REPLAY == 0 {
            self.rec.record(Stage::GatewayPublish, t_pub - d.enqueue_ts);
            self.rec
                .record(Stage::TickToOrder, t_pub - d.trigger_publish_ts);
        }
    }

    /// After the last decision (cold): final heartbeat, histograms handed to the reporter.
    fn finish(self) -> GatewayExit {
        self.out.heartbeat();
        self.rec.finish();
        let undelivered = self.counters.gateway.undelivered.load(Ordering::Relaxed);
        GatewayExit {
            journal_records: self.journal.len(),
            fatal: self.fatal.map(|f| {
                if undelivered > 0 {
                    format!("{f}; {undelivered} orders journaled but not delivered (a restart sends them)")
                } else {
                    f.to_string()
                }
            }),
        }
    }
}

struct Reporter {
    collectors: Vec<Collector>,
    files: LatencyFiles,
    interval: Duration,
    sync_interval: Duration,
    print_intervals: bool,
    sync: JournalSync,
    prom: Option<std::net::TcpListener>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    core_id: Option<usize>,
    max_ns: u64,
    sigfig: u8,
}

impl Reporter {
    fn run(mut self) -> std::io::Result<StageHistograms> {
        if let Some(w) = placement::pin_current(Role::Reporter, self.core_id) {
            eprintln!("hotrisk: {w}");
        }
        let start = Instant::now();
        let mut total = StageHistograms::new(self.max_ns, self.sigfig);
        let mut interval = StageHistograms::new(self.max_ns, self.sigfig);
        let mut last = StageHistograms::new(self.max_ns, self.sigfig);
        let mut interval_start = Duration::ZERO;
        let mut next_report = self.interval;
        let mut next_sync = self.sync_interval;
        let mut seen = self.counters.snapshot();
        let prom = match self.prom.take() {
            Some(l) => Some(PromServer::start(
                l,
                Arc::clone(&self.counters),
                last.clone(),
            )?),
            None => None,
        };
        while !self.stop.load(Ordering::Acquire) {
            // Sleep until the next thing is due (a journal sync or an interval), not on a short
            // poll: every wake-up of this thread can preempt a hot thread that shares its core
            // (the scheduler places it), and on a VM each costs microseconds. `wait` unparks us.
            let now = start.elapsed();
            let due = next_sync.min(next_report);
            if now < due {
                std::thread::park_timeout(due - now);
                continue;
            }
            if now >= next_sync {
                next_sync = now + self.sync_interval;
                if let Err(e) = self.sync.flush_async() {
                    eprintln!("hotrisk: warning: journal msync failed: {e}");
                }
            }
            if now < next_report {
                continue;
            }
            next_report = now + self.interval;
            for c in &mut self.collectors {
                c.request();
            }
            let deadline = Instant::now() + Duration::from_millis(50);
            while self.collectors.iter().any(Collector::outstanding) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_micros(200));
            }
            for c in &mut self.collectors {
                c.collect(&mut interval);
            }
            let end = start.elapsed();
            self.close_interval(&mut interval, &mut total, &mut last, interval_start, end)?;
            interval_start = end;
            if let Some(p) = &prom {
                p.publish(&last);
            }
            let c = self.counters.snapshot();
            if c.md_gaps != seen.md_gaps {
                eprintln!(
                    "hotrisk: warning: {} market-data records missed so far (ring lapped or producer sequence gap); the core was told and does not act on untrusted data",
                    c.md_gaps
                );
            }
            if c.producer_dead != seen.producer_dead {
                eprintln!(
                    "hotrisk: warning: market-data producer heartbeat stale ({} times so far); no liquidation until it is fresh",
                    c.producer_dead
                );
            }
            seen = c;
        }
        // The hot threads have exited and handed over their last sets.
        for c in &mut self.collectors {
            c.collect(&mut interval);
        }
        let end = start.elapsed();
        self.close_interval(&mut interval, &mut total, &mut last, interval_start, end)?;
        if let Some(p) = prom {
            p.stop();
        }
        self.files.write_hgrms(&total)?;
        self.sync.flush()?;
        Ok(total)
    }

    fn close_interval(
        &mut self,
        interval: &mut StageHistograms,
        total: &mut StageHistograms,
        last: &mut StageHistograms,
        from: Duration,
        to: Duration,
    ) -> std::io::Result<()> {
        if interval.total_count() > 0 {
            self.files
                .write_interval(interval, from, to.saturating_sub(from))?;
            if self.print_intervals {
                println!(
                    "-- interval {:.3}s..{:.3}s\n{}",
                    from.as_secs_f64(),
                    to.as_secs_f64(),
                    stage_table(interval)
                );
            }
        }
        total.add(interval);
        last.reset();
        last.add(interval);
        interval.reset();
        Ok(())
    }
}

/// The Prometheus endpoint: its own cold thread, blocked in `accept` (no polling, so it never
/// wakes up unless scraped). It serves the last closed interval's histograms, which the reporter
/// hands over after each interval, and the live counters.
struct PromServer {
    last: Arc<std::sync::Mutex<StageHistograms>>,
    stop: Arc<AtomicBool>,
    addr: Option<std::net::SocketAddr>,
    thread: JoinHandle<()>,
}

impl PromServer {
    fn start(
        listener: std::net::TcpListener,
        counters: Arc<Counters>,
        empty: StageHistograms,
    ) -> std::io::Result<Self> {
        let last = Arc::new(std::sync::Mutex::new(empty));
        let stop = Arc::new(AtomicBool::new(false));
        let addr = listener.local_addr().ok();
        let (l2, s2) = (Arc::clone(&last), Arc::clone(&stop));
        let thread = std::thread::Builder::new()
            .name("hotrisk-prom".into())
            .spawn(move || Self::serve(&listener, &l2, &s2, &counters))?;
        Ok(Self {
            last,
            stop,
            addr,
            thread,
        })
    }

    fn serve(
        l: &std::net::TcpListener,
        last: &std::sync::Mutex<StageHistograms>,
        stop: &AtomicBool,
        counters: &Counters,
    ) {
        use std::io::{Read, Write};
        if let Err(e) = l.set_nonblocking(false) {
            eprintln!("hotrisk: warning: Prometheus endpoint: {e}; not served");
            return;
        }
        for conn in l.incoming() {
            if stop.load(Ordering::Acquire) {
                return;
            }
            let Ok(mut s) = conn else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let body = {
                let h = last
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                prometheus_text(&h, &counters.snapshot())
            };
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    }

    /// Hands over the last closed interval (cold: the reporter's thread).
    fn publish(&self, h: &StageHistograms) {
        let mut g = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.reset();
        g.add(h);
    }

    /// Stops the thread: sets the flag and wakes its `accept` with a connection of our own.
    fn stop(self) {
        self.stop.store(true, Ordering::Release);
        if let Some(a) = self.addr {
            let _ = std::net::TcpStream::connect_timeout(&a, Duration::from_millis(200));
        }
        let _ = self.thread.join();
    }
}

#[cfg(test)]
mod tests;
