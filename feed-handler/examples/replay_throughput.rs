//! Throughput of the feed-handler's input paths (a measurement, not a test).
//!
//! ```text
//! cargo run --release -p hotrisk-feed --example replay_throughput -- [MILLION_MSGS] [RING_DIR]
//! ```
//! Generates a synthetic market (3 instruments, crash scenario) of about `MILLION_MSGS` million
//! messages (default 4), writes it as a native capture and as Tardis `incremental_book_L2` +
//! `trades` CSVs (plain and gzip), then measures, each best of 3 runs:
//!
//! 1. Tardis CSV parsing (`source::load`: read, decompress, parse, merge, number) in rows/s;
//! 2. native capture reading alone (batches into memory) in msgs/s;
//! 3. native capture replay into a broadcast ring in `RING_DIR` (default `/dev/shm`) at max
//!    speed, exactly as `feed-handler replay --max-speed` does (clock stamp + publish per
//!    message), in msgs/s, with no reader attached;
//! 4. the same with one reader thread draining the ring concurrently (on a 2-core machine the
//!    two threads compete with everything else running);
//!
//! 3 and 4 each with the clock read for every message (`clock/1`, the default) and once per 16
//! (`clock/16`, `feed-handler replay --max-speed --stamp-every 16`); then the cost of one clock
//! read and of a bare publish loop, to show where the time goes.
//!
//! Rates are given per wall-clock second and per CPU second of this process (all its threads):
//! on a shared, loaded machine the second is the steadier measure of the code itself.
//!
//! Targets (from the issue): native replay ≥ 20 M msgs/s, Tardis CSV ≥ 2 M rows/s.

use std::path::{Path, PathBuf};
use std::time::Instant;

use hotrisk_feed::capture::{self, CaptureReader};
use hotrisk_feed::ring::broadcast::{BroadcastReader, BroadcastWriter, ReadOutcome};
use hotrisk_feed::source::pacing::{Pace, Pacer};
use hotrisk_feed::source::publish::{publish_slice, Progress, Throttle};
use hotrisk_feed::source::synthetic::{Scenario, SynthConfig, Synthetic};
use hotrisk_feed::source::{self, tardis, Format, Instruments, OnError};
use hotrisk_feed::wire::{Msg, MsgKind};

/// CPU time consumed by this process so far (all threads), seconds.
fn process_cpu_s() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call, and
    // CLOCK_PROCESS_CPUTIME_ID is supported on Linux; the call only writes into `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// Best of `runs`: (items per wall second, items per CPU second, last value).
fn best_of<T>(runs: usize, mut f: impl FnMut() -> (u64, T)) -> (f64, T) {
    let mut best = f64::MAX;
    let mut best_cpu = f64::MAX;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let c = process_cpu_s();
        let (n, v) = f();
        let dt = t.elapsed().as_secs_f64();
        let dc = process_cpu_s() - c;
        best = best.min(dt / n as f64);
        best_cpu = best_cpu.min(dc / n as f64);
        last = Some(v);
    }
    CPU_RATE.with(|r| r.set(1.0 / best_cpu));
    (1.0 / best, last.expect("at least one run"))
}

thread_local! {
    static CPU_RATE: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

/// The per-CPU-second rate of the last `best_of`, formatted.
fn cpu() -> String {
    format!("{:>8.2} M/CPU-s", CPU_RATE.with(|r| r.get()) / 1e6)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let millions: f64 = args.get(1).map_or(Ok(4.0), |s| s.parse())?;
    let ring_dir = PathBuf::from(args.get(2).map_or("/dev/shm", String::as_str));
    let dir = tempfile::tempdir()?;
    let symbols: Vec<String> = ["BTCUSDT", "ETHUSDT", "SOLUSDT"].map(String::from).to_vec();
    let mut cfg = SynthConfig::new(1, &symbols, Scenario::Crash);
    // ~38 msgs per 1 ms step for 3 instruments at depth 20.
    cfg.duration_ns = (millions * 1e6 / 38.0 * 1e6) as i64;
    let t = Instant::now();
    let mut msgs: Vec<Msg> = Synthetic::new(cfg).collect();
    source::number(&mut msgs);
    let n = msgs.len() as u64;
    println!(
        "generated {n} synthetic msgs in {:.2} s",
        t.elapsed().as_secs_f64()
    );

    // Inputs.
    let cap = dir.path().join("synthetic.hrcap");
    capture::write_file(&cap, &symbols, &msgs)?;
    let (mut book, mut trades) = (Vec::new(), Vec::new());
    tardis::write_csv(&mut book, &mut trades, &symbols, &msgs)?;
    let rows = (book.iter().filter(|&&b| b == b'\n').count()
        + trades.iter().filter(|&&b| b == b'\n').count()
        - 2) as u64;
    let write = |name: &str, data: &[u8], gz: bool| -> anyhow::Result<PathBuf> {
        let p = dir.path().join(name);
        if gz {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data)?;
            std::fs::write(&p, e.finish()?)?;
        } else {
            std::fs::write(&p, data)?;
        }
        Ok(p)
    };
    let plain = [
        write("book.csv", &book, false)?,
        write("trades.csv", &trades, false)?,
    ];
    let gz = [
        write("book.csv.gz", &book, true)?,
        write("trades.csv.gz", &trades, true)?,
    ];
    println!(
        "inputs: {rows} Tardis rows ({:.0} MB CSV, {:.0} MB gzip), capture {:.0} MB",
        (book.len() + trades.len()) as f64 / 1e6,
        gz.iter().map(|p| size(p)).sum::<u64>() as f64 / 1e6,
        size(&cap) as f64 / 1e6
    );

    for (label, files) in [("Tardis .csv.gz", &gz), ("Tardis .csv (plain)", &plain)] {
        let (rate, out) = best_of(3, || {
            let mut inst = Instruments::fixed(symbols.clone()).expect("valid symbols");
            let l = source::load(Format::Tardis, files, &mut inst, OnError::Stop).expect("parses");
            (rows, l.msgs.len())
        });
        println!(
            "{label:<34} {:>8.2} M rows/s {}   ({out} msgs out)",
            rate / 1e6,
            cpu()
        );
    }

    let mut buf = vec![Msg::market(MsgKind::Heartbeat, 0, 0, 0); 1 << 14];
    let (rate, _) = best_of(3, || {
        let mut r = CaptureReader::open(&cap).expect("capture opens");
        let mut sum = 0u64;
        while let Ok(k) = r.read_batch(&mut buf) {
            if k == 0 {
                break;
            }
            sum = sum.wrapping_add(buf[k - 1].seq);
        }
        (n, sum)
    });
    println!(
        "{:<34} {:>8.2} M msgs/s {}",
        "native capture read (no ring)",
        rate / 1e6,
        cpu()
    );

    let ring = ring_dir.join(format!("hotrisk-bench-{}", std::process::id()));
    for (readers, stamp_every) in [(0, 1), (0, 16), (1, 1), (1, 16)] {
        let (rate, lost) = best_of(3, || {
            let mut w = BroadcastWriter::<Msg>::create(&ring, 1 << 16).expect("ring");
            let reader = (readers == 1).then(|| {
                let mut r = BroadcastReader::<Msg>::attach(&ring).expect("attach");
                std::thread::spawn(move || {
                    let (mut got, mut lost) = (0u64, 0u64);
                    loop {
                        match r.try_read() {
                            ReadOutcome::Item(_) => got += 1,
                            ReadOutcome::Empty => std::hint::spin_loop(),
                            ReadOutcome::Lapped {
                                expected,
                                resumed_at,
                            } => lost += resumed_at - expected,
                            ReadOutcome::Closed => return (got, lost),
                        }
                    }
                })
            });
            let mut pacer = Pacer::new(Pace::Max).stamp_every(stamp_every);
            let mut progress = Progress::new(false, Some(n));
            let mut r = CaptureReader::open(&cap).expect("capture opens");
            loop {
                let k = r.read_batch(&mut buf).expect("reads");
                if k == 0 {
                    break;
                }
                publish_slice(
                    &mut w,
                    &buf[..k],
                    &mut pacer,
                    &mut progress,
                    &mut Throttle::off(),
                );
            }
            w.close();
            let lost = reader.map(|h| h.join().expect("reader thread"));
            (n, lost)
        });
        let label = format!(
            "replay → ring ({} reader{}, clock/{stamp_every})",
            readers,
            if readers == 1 { "" } else { "s" }
        );
        let extra = lost.map_or(String::new(), |(got, lost)| {
            format!("   (reader got {got}, lapped over {lost})")
        });
        println!("{label:<34} {:>8.2} M msgs/s {}{extra}", rate / 1e6, cpu());
    }
    // Where the time goes: the clock stamp alone, and publishing from memory without it.
    let (rate, _) = best_of(3, || {
        let mut acc = 0i64;
        for _ in 0..n {
            acc = acc.wrapping_add(hotrisk_feed::clock::now_ns());
        }
        (n, acc)
    });
    println!(
        "{:<34} {:>8.2} ns/call",
        "  of which: clock_gettime stamp",
        1e9 / rate
    );
    let (rate, _) = best_of(3, || {
        let mut w = BroadcastWriter::<Msg>::create(&ring, 1 << 16).expect("ring");
        for m in &msgs {
            w.publish(*m);
        }
        w.close();
        (n, w.published())
    });
    println!(
        "{:<34} {:>8.2} M msgs/s {}",
        "  ring publish from memory, no clock",
        rate / 1e6,
        cpu()
    );
    let _ = std::fs::remove_file(&ring);
    Ok(())
}

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}
