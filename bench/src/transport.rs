//! `hotrisk-bench transport`: one-way latency and throughput of the shared-memory rings against
//! their peers and against the physical floor, measured side by side in one run.
//!
//! # What is measured
//! Every transport carries the same 64-byte wire record ([`Msg`]) between the same two pinned
//! threads (`--cores A,B`), each spinning on its own core:
//!
//! | name | what |
//! |---|---|
//! | `floor` | a bare cache-line ping-pong: A stores `i` to one 128-byte-padded atomic, B spins until it sees `i` and stores it to a second one, A spins on that. The cost of moving one cache line each way: no queue can beat it. |
//! | `shm-spsc` | [`hotrisk_feed::ring::spsc`] over a `/dev/shm` file (producer and consumer map it separately) |
//! | `shm-broadcast` | [`hotrisk_feed::ring::broadcast`] over a `/dev/shm` file |
//! | `crossbeam` | `crossbeam_queue::ArrayQueue` |
//! | `rtrb` | `rtrb::RingBuffer` |
//! | `disruptor` | the `disruptor` crate (v3), single producer, `EventPoller` consumer |
//! | `aeron-ipc` | only with the cargo feature `aeron`: Aeron IPC (`aeron:ipc`, exclusive publication, embedded C media driver), see `bench/src/aeron.rs` and `.ci/aeron` |
//!
//! **One-way latency = round trip / 2.** A sends message `i` on a *ping* queue and stamps
//! `CLOCK_MONOTONIC` before the send; B pops it and sends it back on a *pong* queue of the same
//! kind; A pops it and stamps again. Half the round trip is recorded (ns, HdrHistogram, 3
//! significant digits) after a warm-up of 10% of the round trips (at most 100 000). One message
//! is in flight at a time, so this is latency, not queueing. Round trip / 2 needs no cross-core
//! clock agreement and includes one pair of clock reads (their cost is printed) in every
//! transport alike, the floor included, so the ratios compare like with like.
//!
//! **Throughput**: A streams `--throughput-messages` messages as fast as the queue accepts them
//! (waiting when full); B pops them all; messages/second from A's first send to B's last pop.
//! The broadcast writer never waits by design, so for this run it throttles itself on the
//! reader's registered position (it never laps; lapping would make the count meaningless).
//! The floor has no queue and no throughput figure.
//!
//! Each ratio is to the floor's p50 and to the best *peer* (crossbeam, rtrb, disruptor, aeron-ipc: the
//! lowest p50, the highest throughput). Results go to stdout and, with `--out DIR`, to
//! `DIR/<name>.hgrm` (percentile distributions, values in ns) and `DIR/transport.md`.
//!
//! # Caveats printed with the results
//! Whether the two cores share a physical core (SMT siblings), whether pinning failed, whether
//! the machine is a VM and its load average: on a shared 2-core VM the numbers carry the noise
//! of whatever else runs there.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};

use anyhow::{bail, Context, Result};
use bytemuck::Zeroable;
use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;
use hotrisk_feed::clock::now_ns;
use hotrisk_feed::ring::broadcast::{BroadcastReader, BroadcastWriter, ReadOutcome};
use hotrisk_feed::ring::idle::{IdleStrategy, SpinThenYield};
use hotrisk_feed::ring::spsc::{SpscConsumer, SpscProducer};
use hotrisk_feed::Msg;

// Aeron IPC, a peer that needs Aeron's C code built (cmake, libclang): only with `--features aeron`.
#[cfg(feature = "aeron")]
#[path = "aeron.rs"]
mod aeron;

/// Slots in every queue under test.
pub const CAPACITY: usize = 4096;

/// Options of one run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Round trips timed per transport (after warm-up).
    pub messages: u64,
    /// Messages streamed per transport for throughput.
    pub throughput_messages: u64,
    /// The two cores (A: sender / timer, B: echo / receiver).
    pub cores: (usize, usize),
    /// Where to write `.hgrm` files and `transport.md`.
    pub out: Option<PathBuf>,
    /// Directory for the shared-memory ring files.
    pub shm_dir: PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            messages: 1_000_000,
            throughput_messages: 10_000_000,
            cores: (0, 1),
            out: None,
            shm_dir: PathBuf::from("/dev/shm"),
        }
    }
}

/// The sending end of a one-way queue: `send` waits (spinning) while the queue is full.
pub trait Sender: Send + 'static {
    /// Sends `m`, waiting while full.
    fn send(&mut self, m: Msg);
}

/// The receiving end: `recv` spins until a message arrives.
pub trait Receiver: Send + 'static {
    /// Receives the next message.
    fn recv(&mut self) -> Msg;
}

/// The idle strategy of every endpoint: pure spinning on separate cores, spin-then-yield when
/// both threads share one core (so they can make progress at all).
fn idle(shared_core: bool) -> SpinThenYield {
    SpinThenYield::new(if shared_core { 64 } else { u32::MAX })
}

struct ShmSpscTx(SpscProducer<Msg>, SpinThenYield);
struct ShmSpscRx(SpscConsumer<Msg>, SpinThenYield);
impl Sender for ShmSpscTx {
    #[inline]
    fn send(&mut self, m: Msg) {
        self.0.push_spin(m, &mut self.1);
    }
}
impl Receiver for ShmSpscRx {
    #[inline]
    fn recv(&mut self) -> Msg {
        loop {
            if let Some(m) = self.0.try_pop() {
                self.1.reset();
                return m;
            }
            self.1.idle();
        }
    }
}

struct BcastTx {
    w: BroadcastWriter<Msg>,
    /// Highest sequence publishable without lapping the reader.
    allowed: u64,
    idle: SpinThenYield,
}
struct BcastRx(BroadcastReader<Msg>, SpinThenYield);
impl Sender for BcastTx {
    #[inline]
    fn send(&mut self, m: Msg) {
        let s = self.w.published() + 1;
        while s > self.allowed {
            self.allowed = self.w.min_reader_position().unwrap_or(0) + self.w.capacity() as u64;
            if s > self.allowed {
                self.idle.idle();
            }
        }
        self.idle.reset();
        self.w.publish(m);
    }
}
impl Receiver for BcastRx {
    #[inline]
    fn recv(&mut self) -> Msg {
        match self.0.read_spin(&mut self.1) {
            ReadOutcome::Item(m) => m,
            other => panic!("broadcast reader: {other:?} (the throttled writer must not lap)"),
        }
    }
}

struct CrossbeamTx(Arc<crossbeam_queue::ArrayQueue<Msg>>, SpinThenYield);
struct CrossbeamRx(Arc<crossbeam_queue::ArrayQueue<Msg>>, SpinThenYield);
impl Sender for CrossbeamTx {
    #[inline]
    fn send(&mut self, mut m: Msg) {
        while let Err(back) = self.0.push(m) {
            m = back;
            self.1.idle();
        }
        self.1.reset();
    }
}
impl Receiver for CrossbeamRx {
    #[inline]
    fn recv(&mut self) -> Msg {
        loop {
            if let Some(m) = self.0.pop() {
                self.1.reset();
                return m;
            }
            self.1.idle();
        }
    }
}

struct RtrbTx(rtrb::Producer<Msg>, SpinThenYield);
struct RtrbRx(rtrb::Consumer<Msg>, SpinThenYield);
impl Sender for RtrbTx {
    #[inline]
    fn send(&mut self, mut m: Msg) {
        while let Err(rtrb::PushError::Full(back)) = self.0.push(m) {
            m = back;
            self.1.idle();
        }
        self.1.reset();
    }
}
impl Receiver for RtrbRx {
    #[inline]
    fn recv(&mut self) -> Msg {
        loop {
            if let Ok(m) = self.0.pop() {
                self.1.reset();
                return m;
            }
            self.1.idle();
        }
    }
}

type DisruptorProducer = disruptor::SingleProducer<Msg, disruptor::SingleConsumerBarrier>;
type DisruptorPoller = disruptor::EventPoller<Msg, disruptor::SingleProducerBarrier>;
struct DisruptorTx(DisruptorProducer);
struct DisruptorRx(DisruptorPoller, SpinThenYield);
impl Sender for DisruptorTx {
    #[inline]
    fn send(&mut self, m: Msg) {
        use disruptor::Producer;
        // `publish` busy-spins while the ring is full.
        self.0.publish(|e| *e = m);
    }
}
impl Receiver for DisruptorRx {
    #[inline]
    fn recv(&mut self) -> Msg {
        loop {
            if let Ok(mut events) = self.0.poll_take(1) {
                if let Some(e) = (&mut events).next() {
                    let m = *e;
                    drop(events);
                    self.1.reset();
                    return m;
                }
            }
            self.1.idle();
        }
    }
}

/// Builds fresh queue endpoints for one measurement.
trait Kind {
    type Tx: Sender;
    type Rx: Receiver;
    const NAME: &'static str;
    const PEER: bool;
    fn pair(&self, tag: &str, shared_core: bool) -> Result<(Self::Tx, Self::Rx)>;
}

struct ShmSpsc<'a>(&'a Path);
impl Kind for ShmSpsc<'_> {
    type Tx = ShmSpscTx;
    type Rx = ShmSpscRx;
    const NAME: &'static str = "shm-spsc";
    const PEER: bool = false;
    fn pair(&self, tag: &str, shared_core: bool) -> Result<(ShmSpscTx, ShmSpscRx)> {
        let path = ring_path(self.0, Self::NAME, tag);
        let tx = SpscProducer::create(&path, CAPACITY)?;
        let rx = SpscConsumer::attach(&path)?;
        let _ = std::fs::remove_file(&path); // both mapped; the pages live on until unmapped
        Ok((
            ShmSpscTx(tx, idle(shared_core)),
            ShmSpscRx(rx, idle(shared_core)),
        ))
    }
}

struct ShmBroadcast<'a>(&'a Path);
impl Kind for ShmBroadcast<'_> {
    type Tx = BcastTx;
    type Rx = BcastRx;
    const NAME: &'static str = "shm-broadcast";
    const PEER: bool = false;
    fn pair(&self, tag: &str, shared_core: bool) -> Result<(BcastTx, BcastRx)> {
        let path = ring_path(self.0, Self::NAME, tag);
        let w = BroadcastWriter::create(&path, CAPACITY)?;
        let r = BroadcastReader::attach(&path)?;
        let _ = std::fs::remove_file(&path);
        Ok((
            BcastTx {
                w,
                allowed: 0,
                idle: idle(shared_core),
            },
            BcastRx(r, idle(shared_core)),
        ))
    }
}

struct Crossbeam;
impl Kind for Crossbeam {
    type Tx = CrossbeamTx;
    type Rx = CrossbeamRx;
    const NAME: &'static str = "crossbeam";
    const PEER: bool = true;
    fn pair(&self, _: &str, shared_core: bool) -> Result<(CrossbeamTx, CrossbeamRx)> {
        let q = Arc::new(crossbeam_queue::ArrayQueue::new(CAPACITY));
        Ok((
            CrossbeamTx(q.clone(), idle(shared_core)),
            CrossbeamRx(q, idle(shared_core)),
        ))
    }
}

struct Rtrb;
impl Kind for Rtrb {
    type Tx = RtrbTx;
    type Rx = RtrbRx;
    const NAME: &'static str = "rtrb";
    const PEER: bool = true;
    fn pair(&self, _: &str, shared_core: bool) -> Result<(RtrbTx, RtrbRx)> {
        let (tx, rx) = rtrb::RingBuffer::new(CAPACITY);
        Ok((RtrbTx(tx, idle(shared_core)), RtrbRx(rx, idle(shared_core))))
    }
}

struct Disruptor;
impl Kind for Disruptor {
    type Tx = DisruptorTx;
    type Rx = DisruptorRx;
    const NAME: &'static str = "disruptor";
    const PEER: bool = true;
    fn pair(&self, _: &str, shared_core: bool) -> Result<(DisruptorTx, DisruptorRx)> {
        let (poller, builder) =
            disruptor::build_single_producer(CAPACITY, Msg::zeroed, disruptor::BusySpin)
                .event_poller();
        Ok((
            DisruptorTx(builder.build()),
            DisruptorRx(poller, idle(shared_core)),
        ))
    }
}

fn ring_path(dir: &Path, name: &str, tag: &str) -> PathBuf {
    dir.join(format!("hotrisk-bench-{}-{name}-{tag}", std::process::id()))
}

/// The pinning outcome of every thread the run started.
#[derive(Debug, Default)]
struct Pinning {
    attempts: AtomicU64,
    failures: AtomicU64,
}

impl Pinning {
    fn pin(&self, core: usize) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        let ok = core_affinity::get_core_ids()
            .and_then(|ids| ids.into_iter().find(|c| c.id == core))
            .is_some_and(core_affinity::set_for_current);
        if !ok {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Results for one transport.
#[derive(Debug)]
pub struct Outcome {
    /// Transport name.
    pub name: &'static str,
    /// Whether it is a peer (crossbeam, rtrb, disruptor).
    pub peer: bool,
    /// One-way latency, ns.
    pub latency: Histogram<u64>,
    /// Messages per second (none for the floor).
    pub throughput: Option<f64>,
}

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

fn template() -> Msg {
    Msg::market(hotrisk_feed::MsgKind::Trade, 1, 0, 0)
}

fn warmup(n: u64) -> u64 {
    (n / 10).min(100_000)
}

/// Round trips over a ping and a pong queue; records half of each.
fn latency<K: Kind>(kind: &K, o: &Options, pin: &Arc<Pinning>) -> Result<Histogram<u64>> {
    let shared = o.cores.0 == o.cores.1;
    let (mut ping_tx, mut ping_rx) = kind.pair("ping", shared)?;
    let (mut pong_tx, mut pong_rx) = kind.pair("pong", shared)?;
    let total = o.messages + warmup(o.messages);
    let warm = warmup(o.messages);
    let barrier = Arc::new(Barrier::new(2));
    let echo = {
        let (barrier, pin, core) = (barrier.clone(), pin.clone(), o.cores.1);
        std::thread::spawn(move || {
            pin.pin(core);
            barrier.wait();
            for _ in 0..total {
                let m = ping_rx.recv();
                pong_tx.send(m);
            }
        })
    };
    let timer = {
        let (pin, core) = (pin.clone(), o.cores.0);
        std::thread::spawn(move || -> Result<Histogram<u64>> {
            pin.pin(core);
            let mut hist = new_hist();
            let mut m = template();
            barrier.wait();
            for i in 0..total {
                m.seq = i;
                let t0 = now_ns();
                ping_tx.send(m);
                let back = pong_rx.recv();
                let t1 = now_ns();
                if back.seq != i {
                    bail!("{}: round trip {i} returned message {}", K::NAME, back.seq);
                }
                if i >= warm {
                    hist.saturating_record(((t1 - t0) / 2).max(1) as u64);
                }
            }
            Ok(hist)
        })
    };
    let hist = timer.join().expect("timer thread panicked")?;
    echo.join().expect("echo thread panicked");
    Ok(hist)
}

/// Streams messages one way as fast as the queue takes them; messages per second.
fn throughput<K: Kind>(kind: &K, o: &Options, pin: &Arc<Pinning>) -> Result<f64> {
    let shared = o.cores.0 == o.cores.1;
    let (mut tx, mut rx) = kind.pair("stream", shared)?;
    let n = o.throughput_messages;
    let barrier = Arc::new(Barrier::new(2));
    let start = Arc::new(AtomicU64::new(0));
    let receiver = {
        let (barrier, pin, core) = (barrier.clone(), pin.clone(), o.cores.1);
        std::thread::spawn(move || -> Result<i64> {
            pin.pin(core);
            barrier.wait();
            for i in 0..n {
                let m = rx.recv();
                if m.seq != i {
                    bail!("{}: expected message {i}, got {}", K::NAME, m.seq);
                }
            }
            Ok(now_ns())
        })
    };
    let sender = {
        let (pin, core, start) = (pin.clone(), o.cores.0, start.clone());
        std::thread::spawn(move || {
            pin.pin(core);
            let mut m = template();
            barrier.wait();
            start.store(now_ns() as u64, Ordering::Relaxed);
            for i in 0..n {
                m.seq = i;
                tx.send(m);
            }
            // Keep the sender (a disruptor producer, a ring writer) alive until the receiver is
            // done: dropping it may close or shut down the queue.
            tx
        })
    };
    let end = receiver.join().expect("receiver thread panicked")?;
    drop(sender.join().expect("sender thread panicked"));
    let secs = (end - start.load(Ordering::Relaxed) as i64) as f64 / 1e9;
    Ok(n as f64 / secs)
}

/// The bare cache-line ping-pong between the two cores.
fn floor(o: &Options, pin: &Arc<Pinning>) -> Histogram<u64> {
    let lines = Arc::new((
        CachePadded::new(AtomicU64::new(u64::MAX)),
        CachePadded::new(AtomicU64::new(u64::MAX)),
    ));
    let total = o.messages + warmup(o.messages);
    let warm = warmup(o.messages);
    let shared = o.cores.0 == o.cores.1;
    let barrier = Arc::new(Barrier::new(2));
    let echo = {
        let (lines, barrier, pin, core) = (lines.clone(), barrier.clone(), pin.clone(), o.cores.1);
        std::thread::spawn(move || {
            pin.pin(core);
            let mut idle = idle(shared);
            barrier.wait();
            for i in 0..total {
                while lines.0.load(Ordering::Acquire) != i {
                    idle.idle();
                }
                idle.reset();
                lines.1.store(i, Ordering::Release);
            }
        })
    };
    let timer = {
        let pin = pin.clone();
        let core = o.cores.0;
        std::thread::spawn(move || {
            pin.pin(core);
            let mut idle = idle(shared);
            let mut hist = new_hist();
            barrier.wait();
            for i in 0..total {
                let t0 = now_ns();
                lines.0.store(i, Ordering::Release);
                while lines.1.load(Ordering::Acquire) != i {
                    idle.idle();
                }
                idle.reset();
                let t1 = now_ns();
                if i >= warm {
                    hist.saturating_record(((t1 - t0) / 2).max(1) as u64);
                }
            }
            hist
        })
    };
    let hist = timer.join().expect("timer thread panicked");
    echo.join().expect("echo thread panicked");
    hist
}

fn measure<K: Kind>(kind: K, o: &Options, pin: &Arc<Pinning>) -> Result<Outcome> {
    eprintln!("  {} ...", K::NAME);
    let latency = latency(&kind, o, pin).with_context(|| format!("{} latency", K::NAME))?;
    let throughput =
        throughput(&kind, o, pin).with_context(|| format!("{} throughput", K::NAME))?;
    Ok(Outcome {
        name: K::NAME,
        peer: K::PEER,
        latency,
        throughput: Some(throughput),
    })
}

/// Runs every transport and returns the outcomes (floor first) and the report text.
pub fn run(o: &Options) -> Result<(Vec<Outcome>, String)> {
    if o.messages == 0 || o.throughput_messages == 0 {
        bail!("--messages and --throughput-messages must be positive");
    }
    let pin = Arc::new(Pinning::default());
    eprintln!(
        "transport: {} round trips and {} streamed messages per transport, cores {},{}",
        o.messages, o.throughput_messages, o.cores.0, o.cores.1
    );
    let floor_hist = {
        eprintln!("  floor ...");
        floor(o, &pin)
    };
    let mut all = vec![Outcome {
        name: "floor",
        peer: false,
        latency: floor_hist,
        throughput: None,
    }];
    all.push(measure(ShmSpsc(&o.shm_dir), o, &pin)?);
    all.push(measure(ShmBroadcast(&o.shm_dir), o, &pin)?);
    all.push(measure(Crossbeam, o, &pin)?);
    all.push(measure(Rtrb, o, &pin)?);
    all.push(measure(Disruptor, o, &pin)?);
    #[cfg(feature = "aeron")]
    all.push(measure(aeron::AeronIpc::launch(&o.shm_dir)?, o, &pin)?);
    let report = report(&all, o, &pin);
    if let Some(dir) = &o.out {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        for t in &all {
            let path = dir.join(format!("{}.hgrm", t.name));
            let mut f = std::io::BufWriter::new(
                std::fs::File::create(&path)
                    .with_context(|| format!("create {}", path.display()))?,
            );
            crate::hgrm::write_hgrm(&t.latency, &mut f, 1.0)
                .with_context(|| format!("write {}", path.display()))?;
        }
        let md = dir.join("transport.md");
        std::fs::write(&md, &report).with_context(|| format!("write {}", md.display()))?;
    }
    Ok((all, report))
}

/// Cost of one pair of clock reads (p50 over 100 000 pairs), ns.
fn clock_pair_ns() -> u64 {
    let mut h = new_hist();
    for _ in 0..100_000 {
        let a = now_ns();
        let b = now_ns();
        h.saturating_record((b - a).max(1) as u64);
    }
    h.value_at_quantile(0.5)
}

fn read_trim(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn environment(o: &Options, pin: &Pinning) -> String {
    let mut s = String::new();
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let vm = cpuinfo.contains(" hypervisor");
    let (a, b) = o.cores;
    let topo =
        |c: usize, f: &str| read_trim(&format!("/sys/devices/system/cpu/cpu{c}/topology/{f}"));
    let siblings_a = topo(a, "thread_siblings_list");
    let same_physical = a == b
        || (topo(a, "core_id").is_some()
            && topo(a, "core_id") == topo(b, "core_id")
            && topo(a, "physical_package_id") == topo(b, "physical_package_id"));
    let _ = writeln!(
        s,
        "- CPU: {model} ({} logical CPUs){}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if vm {
            ", virtual machine (hypervisor flag set)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        s,
        "- cores: A = {a} (sender, timer), B = {b} (echo, receiver); {}; core {a} SMT siblings: {}",
        if a == b {
            "SAME logical CPU: threads share it (spin-then-yield), latency is scheduler-bound"
                .to_string()
        } else if same_physical {
            "SMT siblings on one physical core (they share L1/L2)".to_string()
        } else {
            "separate physical cores".to_string()
        },
        siblings_a.unwrap_or_else(|| "unknown".into())
    );
    let attempts = pin.attempts.load(Ordering::Relaxed);
    let failures = pin.failures.load(Ordering::Relaxed);
    let _ = writeln!(
        s,
        "- pinning: {}",
        if failures == 0 {
            format!("all {attempts} threads pinned")
        } else {
            format!("FAILED for {failures} of {attempts} threads (they ran unpinned)")
        }
    );
    let _ = writeln!(
        s,
        "- load average when done: {} (other processes share these cores)",
        read_trim("/proc/loadavg").unwrap_or_else(|| "unknown".into())
    );
    let _ = writeln!(
        s,
        "- clock: CLOCK_MONOTONIC via vDSO ({} clocksource); a pair of reads costs ~{} ns (p50), included in every round trip alike",
        read_trim("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .unwrap_or_else(|| "unknown".into()),
        clock_pair_ns()
    );
    let _ = writeln!(
        s,
        "- {} timed round trips per transport (+{} warm-up), {} messages streamed for throughput; {} slots per queue; 64-byte messages",
        o.messages,
        warmup(o.messages),
        o.throughput_messages,
        CAPACITY
    );
    s
}

/// The results table (markdown) with ratios and the targets.
fn report(all: &[Outcome], o: &Options, pin: &Pinning) -> String {
    let p50 = |t: &Outcome| t.latency.value_at_quantile(0.5) as f64;
    let floor = all.iter().find(|t| t.name == "floor").map_or(1.0, p50);
    let best_peer = all
        .iter()
        .filter(|t| t.peer)
        .min_by(|x, y| p50(x).total_cmp(&p50(y)));
    let best_peer_p50 = best_peer.map_or(f64::NAN, p50);
    let best_peer_tp = all
        .iter()
        .filter(|t| t.peer)
        .filter_map(|t| t.throughput)
        .fold(f64::NAN, f64::max);
    let mut s = String::new();
    let _ = writeln!(s, "# hotrisk-bench transport\n");
    let _ = writeln!(
        s,
        "One-way latency = round trip / 2 over a ping and a pong queue of the same kind (ns); throughput = one-way stream. Best peer by p50: {}.\n",
        best_peer.map_or("none", |t| t.name)
    );
    s.push_str(&environment(o, pin));
    let _ = writeln!(
        s,
        "\n| transport | min | p50 | p99 | p99.9 | p99.99 | max | p50 / floor | p50 / best peer | M msg/s | thrpt / best peer |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for t in all {
        let h = &t.latency;
        let (tp, tp_ratio) = match t.throughput {
            Some(x) => (
                format!("{:.1}", x / 1e6),
                format!("{:.2}", x / best_peer_tp),
            ),
            None => ("—".into(), "—".into()),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {} | {} |",
            t.name,
            h.min(),
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.value_at_quantile(0.9999),
            h.max(),
            p50(t) / floor,
            p50(t) / best_peer_p50,
            tp,
            tp_ratio
        );
    }
    if let Some(spsc) = all.iter().find(|t| t.name == "shm-spsc") {
        let v = p50(spsc);
        let tp = spsc.throughput.unwrap_or(0.0);
        let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
        let _ = writeln!(s, "\nTargets (shm-spsc):");
        let _ = writeln!(
            s,
            "- p50 no worse than the best peer: {} ({v:.0} ns vs {best_peer_p50:.0} ns)",
            verdict(v <= best_peer_p50)
        );
        let _ = writeln!(
            s,
            "- p50 within 1.3x of the floor: {} ({:.2}x)",
            verdict(v <= 1.3 * floor),
            v / floor
        );
        let _ = writeln!(
            s,
            "- throughput >= 30 M msg/s: {} ({:.1} M msg/s)",
            verdict(tp >= 30e6),
            tp / 1e6
        );
    }
    s
}

/// Parses `A,B`.
pub fn parse_cores(s: &str) -> Result<(usize, usize)> {
    let (a, b) = s
        .split_once(',')
        .with_context(|| format!("--cores {s:?}: expected two core ids as A,B"))?;
    let parse = |x: &str| {
        x.trim()
            .parse::<usize>()
            .with_context(|| format!("--cores {s:?}: {x:?} is not a core id"))
    };
    Ok((parse(a)?, parse(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cores() {
        assert_eq!(parse_cores("0,1").unwrap(), (0, 1));
        assert_eq!(parse_cores(" 3 , 5").unwrap(), (3, 5));
        assert!(parse_cores("1").is_err());
        assert!(parse_cores("a,1").is_err());
    }

    #[test]
    fn tiny_run_measures_every_transport() {
        let dir = std::env::temp_dir().join(format!("hotrisk-transport-{}", std::process::id()));
        let o = Options {
            messages: 500,
            throughput_messages: 5_000,
            cores: (0, 0), // one core: exercises the spin-then-yield path, runs anywhere
            out: Some(dir.clone()),
            shm_dir: std::env::temp_dir(),
        };
        let (all, report) = run(&o).unwrap();
        let names: Vec<_> = all.iter().map(|t| t.name).collect();
        let mut expected = vec![
            "floor",
            "shm-spsc",
            "shm-broadcast",
            "crossbeam",
            "rtrb",
            "disruptor",
        ];
        if cfg!(feature = "aeron") {
            expected.push("aeron-ipc");
        }
        assert_eq!(names, expected);
        for t in &all {
            assert_eq!(t.latency.len(), 500, "{}", t.name);
        }
        assert!(report.contains("| shm-spsc |"));
        assert!(report.contains("SAME logical CPU"));
        assert!(dir.join("transport.md").exists());
        assert!(dir.join("disruptor.hgrm").exists());
        let _ = std::fs::remove_dir_all(dir);
    }
}
