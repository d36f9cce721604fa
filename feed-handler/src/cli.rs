//! The `feed-handler` command line (also `hotrisk feed-handler`): publishes market data into a shared-memory broadcast ring, and records rings
//! into native capture files.
//!
//! ```text
//! feed-handler replay CAPTURE [--ring /dev/shm/hotrisk-md] [--speed X | --max-speed]
//! feed-handler tardis FILES... [--instruments F] [--on-error stop|skip] [--ring ...] [pacing]
//! feed-handler binance FILES... [--instruments F] [--on-error stop|skip] [--ring ...] [pacing]
//! feed-handler synthetic --scenario crash --seed 1 [--symbols A,B | --instruments F] [--out F]
//! feed-handler capture --ring PATH --out FILE [--from-start] [--instruments F]
//! ```
//! Instruments: `--instruments` takes the engine's TOML (`[[instrument]] symbol = ...`, id = 0-based
//! position, other keys ignored) or a native capture (its symbol table). Without it, text sources
//! assign ids in order of first appearance. Bad input: `FILE:LINE: what was wrong`, exit status 2.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::capture::{self, CaptureReader, CaptureWriter};
use crate::clock::now_ns;
use crate::ring::broadcast::{BroadcastReader, BroadcastWriter, ReadOutcome};
use crate::ring::idle::{Backoff, IdleStrategy};
use crate::ring::layout::RingKind;
use crate::ring::spsc::SpscConsumer;
use crate::ring::RingInfo;
use crate::source::pacing::{Pace, Pacer};
use crate::source::publish::{publish_slice, utc, Progress, Throttle};
use crate::source::synthetic::{
    instruments_from_toml, Scenario, SynthConfig, SynthInstrument, Synthetic,
};
use crate::source::{self, Format, Instruments, OnError};
use crate::wire::Msg;

#[derive(Debug, Parser)]
#[command(
    name = "feed-handler",
    version,
    about = "hotrisk feed-handler: publish market data into a shared-memory ring"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Replay a native capture file into the ring (bit-exact except publish_ts).
    Replay {
        /// The capture file.
        capture: PathBuf,
        #[command(flatten)]
        out: RingOut,
    },
    /// Parse Tardis.dev CSV files (plain or .gz), merge them by local time and publish.
    Tardis(TextArgs),
    /// Parse Binance USD-M JSON-lines captures, merge them by local time and publish.
    Binance(TextArgs),
    /// Generate a seeded synthetic market (with a crash scenario) into the ring or a capture.
    Synthetic(SynthArgs),
    /// Record every message of a ring (broadcast: as one more reader; SPSC: as its consumer)
    /// into a native capture file.
    Capture(CaptureArgs),
}

#[derive(Debug, Args)]
struct RingOut {
    /// The broadcast ring to create (replaced if it exists).
    #[arg(long, default_value = "/dev/shm/hotrisk-md")]
    ring: PathBuf,
    /// Ring slots (a power of two).
    #[arg(long, default_value_t = 1 << 16)]
    capacity: usize,
    /// Speed factor over the captured local timestamps (1 = real time).
    #[arg(long, default_value = "1", conflicts_with = "max_speed")]
    speed: String,
    /// Publish as fast as possible (publish_ts = actual time).
    #[arg(long)]
    max_speed: bool,
    /// With --max-speed: read the clock once per N messages for publish_ts (faster; a stamp may
    /// precede the true publish time by up to N−1 publishes, so latencies are only overstated).
    #[arg(long, default_value_t = 1, requires = "max_speed")]
    stamp_every: u32,
    /// Never lap a reader: wait for the slowest attached reader when the ring is full (e.g. a
    /// max-speed replay into an engine that must see every message).
    #[arg(long)]
    lossless: bool,
    /// Wait until this many readers have attached before publishing.
    #[arg(long, default_value_t = 0)]
    wait_readers: usize,
    /// Give up waiting for readers after this many milliseconds.
    #[arg(long, default_value_t = 30_000)]
    wait_timeout_ms: u64,
    /// No progress line.
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct TextArgs {
    /// Input files (merged by local timestamp).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Instrument table: the engine's instruments TOML, or a native capture's symbol table.
    #[arg(long)]
    instruments: Option<PathBuf>,
    /// What to do with a bad row.
    #[arg(long, value_enum, default_value_t = OnError::Stop)]
    on_error: OnError,
    #[command(flatten)]
    out: RingOut,
}

#[derive(Debug, Args)]
struct SynthArgs {
    /// The price path.
    #[arg(long, value_enum, default_value_t = Scenario::Crash)]
    scenario: Scenario,
    /// RNG seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Symbols, comma-separated (ignored with --instruments).
    #[arg(long, default_value = "BTCUSDT,ETHUSDT,SOLUSDT", value_delimiter = ',')]
    symbols: Vec<String>,
    /// Instrument table giving the symbols: the engine's instruments/scenario TOML (whose
    /// mark_price, tick_size and lot_size, when present, set the start price, tick and lot) or a
    /// capture.
    #[arg(long)]
    instruments: Option<PathBuf>,
    /// Start price overrides, e.g. `--price BTCUSDT=65000`.
    #[arg(long = "price", value_name = "SYMBOL=PRICE")]
    prices: Vec<String>,
    /// Run length in simulated milliseconds (default: the scenario's).
    #[arg(long)]
    duration_ms: Option<i64>,
    /// Simulated step in microseconds.
    #[arg(long, default_value_t = 1_000)]
    step_us: i64,
    /// Book levels per side.
    #[arg(long, default_value_t = 20)]
    depth: usize,
    /// Per-step volatility in ppm.
    #[arg(long, default_value_t = 5)]
    vol_ppm: i64,
    /// Mean resting size of a book level, in lots (default: the symbol's, 50).
    #[arg(long)]
    level_lots: Option<i64>,
    /// When the scenario's event starts, simulated ms after the start.
    #[arg(long, default_value_t = 1_000)]
    event_at_ms: i64,
    /// Write a native capture here instead of publishing into a ring.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also write Tardis CSVs (book.csv.gz, trades.csv.gz) into this directory.
    #[arg(long)]
    tardis_dir: Option<PathBuf>,
    #[command(flatten)]
    ring: RingOut,
}

#[derive(Debug, Args)]
struct CaptureArgs {
    /// The ring to record.
    #[arg(long, default_value = "/dev/shm/hotrisk-md")]
    ring: PathBuf,
    /// The capture file to write.
    #[arg(long)]
    out: PathBuf,
    /// Symbol table for the capture header (TOML or capture).
    #[arg(long)]
    instruments: Option<PathBuf>,
    /// Start at the ring's first message (if still in the ring) instead of the next one.
    #[arg(long)]
    from_start: bool,
    /// Keep publish_ts (default: zeroed, so a replay→capture round trip is byte-identical).
    #[arg(long)]
    keep_publish_ts: bool,
    /// Wait this long for the ring file to appear.
    #[arg(long, default_value_t = 10_000)]
    wait_ms: u64,
    /// Fail if the producer's heartbeat is older than this while the ring is open and idle.
    #[arg(long, default_value_t = 5_000)]
    stale_ms: u64,
    /// On a gap (the capture was lapped): stop with an error, or record the gap and go on.
    #[arg(long, value_enum, default_value_t = OnError::Stop)]
    on_error: OnError,
}

/// Runs the command line `args` (the first item is the program name, as in `std::env::args_os`)
/// and returns the process exit status: 0, or 2 with the error on stderr.
pub fn main<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::parse_from(args);
    let r = match cli.command {
        Command::Replay { capture, out } => replay(&capture, &out),
        Command::Tardis(a) => text(Format::Tardis, &a),
        Command::Binance(a) => text(Format::Binance, &a),
        Command::Synthetic(a) => synthetic(&a),
        Command::Capture(a) => capture_ring(&a),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("feed-handler: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Loads an instrument table from a TOML file or a capture's header.
fn instruments_from(path: &Path) -> Result<Instruments> {
    Ok(Instruments::from_path(path)?)
}

fn pacer(out: &RingOut) -> Result<Pacer> {
    let pace = if out.max_speed {
        Pace::Max
    } else {
        Pace::parse_speed(&out.speed).map_err(anyhow::Error::msg)?
    };
    Ok(Pacer::new(pace).stamp_every(out.stamp_every))
}

fn open_ring(out: &RingOut) -> Result<BroadcastWriter<Msg>> {
    let w = BroadcastWriter::<Msg>::create(&out.ring, out.capacity)
        .with_context(|| format!("creating ring {}", out.ring.display()))?;
    w.heartbeat();
    if out.wait_readers > 0 {
        let deadline = now_ns() + out.wait_timeout_ms as i64 * 1_000_000;
        loop {
            let n = RingInfo::read(&out.ring)
                .map(|i| i.readers.len())
                .unwrap_or(0);
            if n >= out.wait_readers {
                break;
            }
            if now_ns() > deadline {
                bail!(
                    "{}: {} reader(s) attached after {} ms, {} wanted",
                    out.ring.display(),
                    n,
                    out.wait_timeout_ms,
                    out.wait_readers
                );
            }
            w.heartbeat();
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    Ok(w)
}

fn finish(writer: BroadcastWriter<Msg>, pacer: &Pacer, progress: &Progress, last_local: i64) {
    writer.close();
    let secs = progress.elapsed_ns().max(1) as f64 / 1e9;
    eprintln!(
        "feed-handler: published {} msgs into {} in {:.3} s ({:.2} M msg/s); last capture time {}",
        progress.done(),
        writer.path().display(),
        secs,
        progress.done() as f64 / secs / 1e6,
        utc(last_local)
    );
    if let Some(l) = pacer.lateness_report() {
        eprintln!("feed-handler: {l}");
    }
}

fn replay(path: &Path, out: &RingOut) -> Result<()> {
    let mut reader = CaptureReader::open(path)?;
    let total = reader.header().count;
    let mut pacer = pacer(out)?;
    let mut writer = open_ring(out)?;
    let mut throttle = Throttle::new(out.lossless, 5_000_000_000);
    let mut progress = Progress::new(!out.quiet, Some(total));
    let mut buf = vec![Msg::market(crate::MsgKind::Heartbeat, 0, 0, 0); 1 << 14];
    let mut last_local = 0;
    loop {
        let n = reader.read_batch(&mut buf)?;
        if n == 0 {
            break;
        }
        publish_slice(
            &mut writer,
            &buf[..n],
            &mut pacer,
            &mut progress,
            &mut throttle,
        );
        last_local = buf[n - 1].local_ts;
    }
    finish(writer, &pacer, &progress, last_local);
    Ok(())
}

fn text(format: Format, a: &TextArgs) -> Result<()> {
    let mut inst = match &a.instruments {
        Some(p) => instruments_from(p)?,
        None => Instruments::open(),
    };
    let loaded = source::load(format, &a.files, &mut inst, a.on_error)?;
    for n in &loaded.notes {
        eprintln!("feed-handler: note: {n}");
    }
    let mut pacer = pacer(&a.out)?;
    let mut writer = open_ring(&a.out)?;
    let mut throttle = Throttle::new(a.out.lossless, 5_000_000_000);
    let mut progress = Progress::new(!a.out.quiet, Some(loaded.msgs.len() as u64));
    publish_slice(
        &mut writer,
        &loaded.msgs,
        &mut pacer,
        &mut progress,
        &mut throttle,
    );
    let last = loaded.msgs.last().map_or(0, |m| m.local_ts);
    eprintln!(
        "feed-handler: instruments (id = position): {}",
        inst.symbols().join(", ")
    );
    finish(writer, &pacer, &progress, last);
    if !loaded.skips.is_empty() {
        eprint!("feed-handler: {}", loaded.skips.report());
    }
    Ok(())
}

fn synth_config(a: &SynthArgs) -> Result<SynthConfig> {
    let mut cfg = SynthConfig::new(a.seed, &a.symbols, a.scenario);
    if let Some(p) = &a.instruments {
        let text = std::fs::read(p).with_context(|| format!("{}: cannot read", p.display()))?;
        cfg.instruments = if capture::has_magic(&text) {
            let syms = Instruments::from_path(p)?.symbols().to_vec();
            syms.iter()
                .map(|s| SynthInstrument::for_symbol(s))
                .collect()
        } else {
            let text =
                String::from_utf8(text).with_context(|| format!("{}: not UTF-8", p.display()))?;
            instruments_from_toml(&p.display().to_string(), &text)?
        };
    }
    if cfg.instruments.is_empty() {
        bail!("no symbols");
    }
    for p in &a.prices {
        let (sym, price) = p
            .split_once('=')
            .with_context(|| format!("--price {p:?}: expected SYMBOL=PRICE"))?;
        let price = crate::fixed::parse_e8(price).with_context(|| format!("--price {p:?}"))?;
        let inst = cfg
            .instruments
            .iter_mut()
            .find(|i| i.symbol == sym)
            .with_context(|| format!("--price {p:?}: unknown symbol {sym:?}"))?;
        inst.start_price = price;
    }
    if a.step_us <= 0 {
        bail!("--step-us must be positive");
    }
    cfg.step_ns = a.step_us * 1_000;
    if let Some(d) = a.duration_ms {
        cfg.duration_ns = d * 1_000_000;
    }
    cfg.depth = a.depth;
    if let Some(l) = a.level_lots {
        if l <= 0 {
            bail!("--level-lots must be positive");
        }
        for i in &mut cfg.instruments {
            i.level_lots = l;
        }
    }
    cfg.vol_ppm = a.vol_ppm;
    cfg.event_at_ns = a.event_at_ms * 1_000_000;
    Ok(cfg)
}

fn synthetic(a: &SynthArgs) -> Result<()> {
    let cfg = synth_config(a)?;
    let gen = Synthetic::new(cfg);
    let symbols = gen.symbols();
    let mut msgs: Vec<Msg> = gen.collect();
    source::number(&mut msgs);
    if let Some(dir) = &a.tardis_dir {
        write_tardis(dir, &symbols, &msgs)?;
    }
    if let Some(out) = &a.out {
        let n = capture::write_file(out, &symbols, &msgs)?;
        eprintln!(
            "feed-handler: wrote {n} msgs ({} instruments) to {}",
            symbols.len(),
            out.display()
        );
        return Ok(());
    }
    if a.tardis_dir.is_some() {
        return Ok(());
    }
    let mut pacer = pacer(&a.ring)?;
    let mut writer = open_ring(&a.ring)?;
    let mut throttle = Throttle::new(a.ring.lossless, 5_000_000_000);
    let mut progress = Progress::new(!a.ring.quiet, Some(msgs.len() as u64));
    publish_slice(&mut writer, &msgs, &mut pacer, &mut progress, &mut throttle);
    finish(
        writer,
        &pacer,
        &progress,
        msgs.last().map_or(0, |m| m.local_ts),
    );
    Ok(())
}

fn write_tardis(dir: &Path, symbols: &[String], msgs: &[Msg]) -> Result<()> {
    use flate2::write::GzEncoder;
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let open = |name: &str| -> Result<GzEncoder<std::io::BufWriter<std::fs::File>>> {
        let p = dir.join(name);
        let f =
            std::fs::File::create(&p).with_context(|| format!("{}: cannot create", p.display()))?;
        Ok(GzEncoder::new(
            std::io::BufWriter::new(f),
            flate2::Compression::fast(),
        ))
    };
    let (mut book, mut trades) = (open("book.csv.gz")?, open("trades.csv.gz")?);
    source::tardis::write_csv(&mut book, &mut trades, symbols, msgs)
        .context("writing Tardis CSV")?;
    book.finish().context("writing book.csv.gz")?;
    trades.finish().context("writing trades.csv.gz")?;
    eprintln!(
        "feed-handler: wrote {}/book.csv.gz and trades.csv.gz",
        dir.display()
    );
    Ok(())
}

/// The ring being captured: either kind, polled the same way.
enum RingSource {
    Broadcast(BroadcastReader<Msg>),
    Spsc(SpscConsumer<Msg>),
}

impl RingSource {
    fn poll(&mut self) -> ReadOutcome<Msg> {
        match self {
            Self::Broadcast(r) => r.try_read(),
            Self::Spsc(c) => match c.try_pop() {
                Some(m) => ReadOutcome::Item(m),
                None if c.is_closed() => ReadOutcome::Closed,
                None => ReadOutcome::Empty,
            },
        }
    }

    fn producer_heartbeat_age_ns(&self) -> i64 {
        match self {
            Self::Broadcast(r) => r.producer_heartbeat_age_ns(),
            Self::Spsc(c) => c.producer_heartbeat_age_ns(),
        }
    }

    fn producer_pid(&self) -> u64 {
        match self {
            Self::Broadcast(r) => r.producer_pid(),
            Self::Spsc(c) => c.producer_pid(),
        }
    }
}

fn capture_ring(a: &CaptureArgs) -> Result<()> {
    let symbols = match &a.instruments {
        Some(p) => instruments_from(p)?.symbols().to_vec(),
        None => Vec::new(),
    };
    let deadline = now_ns() + a.wait_ms as i64 * 1_000_000;
    while !a.ring.exists() {
        if now_ns() > deadline {
            bail!(
                "{}: no ring appeared within {} ms",
                a.ring.display(),
                a.wait_ms
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let kind = RingInfo::read(&a.ring)
        .with_context(|| format!("reading {}", a.ring.display()))?
        .geometry
        .kind;
    let mut reader = match kind {
        RingKind::Broadcast => RingSource::Broadcast(
            if a.from_start {
                BroadcastReader::<Msg>::attach_at(&a.ring, 1)
            } else {
                BroadcastReader::<Msg>::attach(&a.ring)
            }
            .with_context(|| format!("attaching to {}", a.ring.display()))?,
        ),
        // An SPSC ring has one consumer, which the capture becomes (e.g. standing in for the
        // matching engine on the order ring); it reads from the oldest unconsumed message.
        RingKind::Spsc => RingSource::Spsc(
            SpscConsumer::<Msg>::attach(&a.ring)
                .with_context(|| format!("attaching to {}", a.ring.display()))?,
        ),
    };
    let mut w = CaptureWriter::create(&a.out, &symbols)?;
    let mut buf: Vec<Msg> = Vec::with_capacity(1 << 14);
    let mut idle = Backoff::new();
    let mut gaps: Vec<(u64, u64)> = Vec::new();
    let stale_ns = a.stale_ms as i64 * 1_000_000;
    let mut idle_since: Option<i64> = None;
    loop {
        match reader.poll() {
            ReadOutcome::Item(mut m) => {
                idle.reset();
                idle_since = None;
                if !a.keep_publish_ts {
                    m.publish_ts = 0;
                }
                buf.push(m);
                if buf.len() == buf.capacity() {
                    w.write(&buf)?;
                    buf.clear();
                }
            }
            ReadOutcome::Empty => {
                if !buf.is_empty() {
                    w.write(&buf)?;
                    buf.clear();
                }
                let now = now_ns();
                let since = *idle_since.get_or_insert(now);
                if now - since > stale_ns && reader.producer_heartbeat_age_ns() > stale_ns {
                    bail!(
                        "{}: producer pid {} has not heartbeated for {} ms and the ring is not closed; {} msgs recorded in {} (unfinished)",
                        a.ring.display(),
                        reader.producer_pid(),
                        reader.producer_heartbeat_age_ns() / 1_000_000,
                        w.count(),
                        a.out.display()
                    );
                }
                idle.idle();
            }
            ReadOutcome::Lapped {
                expected,
                resumed_at,
            } => {
                let what = format!(
                    "{}: capture was lapped: messages {expected}..{} ({} msgs) were overwritten before they were read",
                    a.ring.display(),
                    resumed_at - 1,
                    resumed_at - expected
                );
                if a.on_error == OnError::Stop {
                    bail!(
                        "{what}; use a larger ring (--capacity on the producer) or --on-error skip"
                    );
                }
                eprintln!("feed-handler: {what} (recorded as a gap)");
                gaps.push((expected, resumed_at));
            }
            ReadOutcome::Closed => break,
        }
    }
    w.write(&buf)?;
    let n = w.finish()?;
    eprintln!(
        "feed-handler: captured {n} msgs from {} into {}",
        a.ring.display(),
        a.out.display()
    );
    if !gaps.is_empty() {
        let lost: u64 = gaps.iter().map(|(a, b)| b - a).sum();
        eprintln!("feed-handler: {} gap(s), {lost} msgs lost:", gaps.len());
        for (a, b) in &gaps {
            eprintln!("  messages {a}..{} lost", b - 1);
        }
    }
    Ok(())
}
