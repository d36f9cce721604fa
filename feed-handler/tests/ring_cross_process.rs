//! Cross-process tests of the shared-memory rings: a child process (this test binary, re-run with
//! `HOTRISK_RING_CHILD` set) writes 10 million messages into a `/dev/shm` ring; this process
//! reads them all and checks they arrive in order, none lost or duplicated, none corrupted.
//!
//! - SPSC: the producer pushes with back-pressure (`push_spin`), so nothing can be lost.
//! - Broadcast, lossless run: the writer itself never waits, so to test delivery of every
//!   message the *child* throttles itself on the reader's registered position
//!   ([`BroadcastWriter::min_reader_position`]): it publishes `s` only once the reader has read
//!   `s − capacity`, so it never laps. It also waits for the reader to register before it starts.
//! - Broadcast, lapping run: the child publishes flat out on a small ring while the parent waits
//!   until it is more than two laps behind; the parent must then see `Lapped` gaps whose sum plus
//!   the items read is exactly the number published, and only intact messages.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hotrisk_feed::ring::broadcast::{BroadcastReader, BroadcastWriter, ReadOutcome};
use hotrisk_feed::ring::idle::{IdleStrategy, SpinThenYield};
use hotrisk_feed::ring::spsc::{SpscConsumer, SpscProducer};
use hotrisk_feed::ring::RingError;
use hotrisk_feed::{Msg, MsgKind};

const CHILD_ENV: &str = "HOTRISK_RING_CHILD";
const N: u64 = 10_000_000;

/// The message with sequence `s`: every field derived from `s`, so corruption is caught.
fn msg(s: u64) -> Msg {
    let mut m = Msg::market(MsgKind::Trade, (s % 65_521) as u16, s as i64, !s as i64);
    m.seq = s;
    m.publish_ts = s.rotate_left(17) as i64;
    m.account = (s as u32).wrapping_mul(2_654_435_761);
    m.body = [s as i64 * 3, -(s as i64), (s ^ 0x5555_5555_5555) as i64];
    m
}

fn check(m: &Msg, s: u64) {
    assert_eq!(m.seq, s, "out of order, lost or duplicated");
    assert_eq!(*m, msg(s), "message {s} corrupted");
}

fn shm_path(name: &str) -> PathBuf {
    let p = PathBuf::from(format!(
        "/dev/shm/hotrisk-test-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&p);
    p
}

/// Removes the ring file when the test ends, pass or fail.
struct Cleanup(PathBuf);
impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn spawn_child(spec: &str) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child process")
}

fn wait_child(child: std::process::Child) {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "child failed: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Retries `attach` until the child has created the ring (30 s at most).
fn attach_retry<R>(path: &Path, attach: impl Fn(&Path) -> Result<R, RingError>) -> R {
    let start = Instant::now();
    loop {
        match attach(path) {
            Ok(r) => return r,
            Err(RingError::Io { .. }) if start.elapsed() < Duration::from_secs(30) => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("attach {}: {e}", path.display()),
        }
    }
}

/// The child side: runs only when this binary is re-executed with `HOTRISK_RING_CHILD` set.
#[test]
fn child_process_entry() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let parts: Vec<&str> = spec.split(' ').collect();
    let (kind, path, n, cap) = (
        parts[0],
        Path::new(parts[1]),
        parts[2].parse::<u64>().unwrap(),
        parts[3].parse::<usize>().unwrap(),
    );
    let mut idle = SpinThenYield::new(200);
    match kind {
        "spsc" => {
            let mut tx = SpscProducer::<Msg>::create(path, cap).unwrap();
            for s in 1..=n {
                tx.push_spin(msg(s), &mut idle);
                if s % 65_536 == 0 {
                    tx.heartbeat();
                }
            }
            tx.close();
        }
        "broadcast-throttled" | "broadcast-flat-out" => {
            let throttle = kind == "broadcast-throttled";
            let mut w = BroadcastWriter::<Msg>::create(path, cap).unwrap();
            // Wait for the reader to register, so it starts at message 1.
            let start = Instant::now();
            while w.min_reader_position().is_none() {
                assert!(start.elapsed() < Duration::from_secs(30), "no reader came");
                idle.idle();
            }
            idle.reset();
            let mut allowed = 0u64; // highest sequence we may publish without lapping
            for s in 1..=n {
                if throttle {
                    while s > allowed {
                        allowed = w.min_reader_position().unwrap() + cap as u64;
                        if s > allowed {
                            idle.idle();
                        }
                    }
                    idle.reset();
                }
                w.publish(msg(s));
                if s % 65_536 == 0 {
                    w.heartbeat();
                }
            }
            w.close();
        }
        other => panic!("unknown child spec {other}"),
    }
}

#[test]
fn spsc_ten_million_across_processes() {
    let path = shm_path("spsc");
    let _cleanup = Cleanup(path.clone());
    let child = spawn_child(&format!("spsc {} {N} 65536", path.display()));
    let mut rx = attach_retry(&path, SpscConsumer::<Msg>::attach);
    assert_ne!(rx.producer_pid(), u64::from(std::process::id()));
    let mut idle = SpinThenYield::new(200);
    let mut s = 0u64;
    while let Some(m) = rx.pop_spin(&mut idle) {
        s += 1;
        check(&m, s);
    }
    assert_eq!(s, N, "every message arrives, then end of stream");
    wait_child(child);
}

#[test]
fn broadcast_ten_million_across_processes_without_lapping() {
    let path = shm_path("bcast");
    let _cleanup = Cleanup(path.clone());
    let child = spawn_child(&format!("broadcast-throttled {} {N} 65536", path.display()));
    let mut r = attach_retry(&path, BroadcastReader::<Msg>::attach);
    let mut idle = SpinThenYield::new(200);
    let mut s = 0u64;
    loop {
        match r.read_spin(&mut idle) {
            ReadOutcome::Item(m) => {
                s += 1;
                check(&m, s);
            }
            ReadOutcome::Closed => break,
            other => panic!("after {s} messages: {other:?} (the throttled writer must not lap)"),
        }
    }
    assert_eq!(s, N);
    assert_eq!(r.lost(), 0);
    wait_child(child);
}

#[test]
fn broadcast_lapping_across_processes_is_reported_exactly() {
    const LAP_N: u64 = 1_000_000;
    const CAP: usize = 1024;
    let path = shm_path("bcast-lap");
    let _cleanup = Cleanup(path.clone());
    let child = spawn_child(&format!(
        "broadcast-flat-out {} {LAP_N} {CAP}",
        path.display()
    ));
    let mut r = attach_retry(&path, BroadcastReader::<Msg>::attach);
    // Fall more than two laps behind before reading anything.
    let start = Instant::now();
    while r.lag() < 2 * CAP as u64 && !r.producer_closed() {
        assert!(start.elapsed() < Duration::from_secs(30));
        std::thread::yield_now();
    }
    let mut idle = SpinThenYield::new(200);
    let (mut expect, mut items, mut lost, mut laps) = (1u64, 0u64, 0u64, 0u64);
    loop {
        match r.read_spin(&mut idle) {
            ReadOutcome::Item(m) => {
                check(&m, expect);
                expect += 1;
                items += 1;
            }
            ReadOutcome::Lapped {
                expected,
                resumed_at,
            } => {
                assert_eq!(expected, expect, "a gap must start where the reader was");
                assert!(resumed_at > expected);
                lost += resumed_at - expected;
                expect = resumed_at;
                laps += 1;
            }
            ReadOutcome::Closed => break,
            ReadOutcome::Empty => unreachable!("read_spin never returns Empty"),
        }
    }
    assert!(
        laps >= 1,
        "the reader was two laps behind: lapping must be reported"
    );
    assert_eq!(
        items + lost,
        LAP_N,
        "items + gaps = messages published, exactly"
    );
    assert_eq!(r.lost(), lost);
    wait_child(child);
}
