//! Shared helpers of the end-to-end tests: a test producer writing scripted market data into a
//! real shared-memory ring, the `hotrisk run` command line, and an exact reference of the
//! threshold core's orders.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hotrisk_engine::pipeline::threshold::{ThresholdCore, ThresholdPosition};
use hotrisk_feed::clock::now_ns;
use hotrisk_feed::ring::broadcast::BroadcastWriter;
use hotrisk_feed::ring::spsc::SpscConsumer;
use hotrisk_feed::wire::{order_id, Msg, MsgKind, Order, Side};

/// Paths of one scenario: shm rings named after the test and the pid, files in a temp dir.
pub struct Scenario {
    pub dir: tempfile::TempDir,
    pub md: PathBuf,
    pub orders: PathBuf,
    pub snapshot: PathBuf,
}

impl Scenario {
    pub fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let tag = format!("hotrisk-test-{}-{name}", std::process::id());
        Self {
            md: PathBuf::from(format!("/dev/shm/{tag}-md")),
            orders: PathBuf::from(format!("/dev/shm/{tag}-orders")),
            snapshot: dir.path().join("snapshot.toml"),
            dir,
        }
    }

    pub fn journal(&self, run: &str) -> PathBuf {
        self.dir.path().join(format!("{run}.journal"))
    }

    pub fn hist(&self, run: &str) -> PathBuf {
        self.dir.path().join(format!("{run}-latency"))
    }

    /// `hotrisk run` with the threshold core, unpinned threads (tests run side by side), md
    /// from the ring's first record, exit at end of stream.
    pub fn command(&self, run: &str) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_hotrisk"));
        c.args(["run", "--exit-on-eof"])
            .arg("--md-ring")
            .arg(&self.md)
            .arg("--order-ring")
            .arg(&self.orders)
            .arg("--snapshot")
            .arg(&self.snapshot)
            .arg("--journal")
            .arg(self.journal(run))
            .arg("--hist-dir")
            .arg(self.hist(run))
            .args([
                "--set",
                "state.core=threshold",
                "--set",
                "rings.acct=\"\"",
                "--set",
                "rings.md_from_start=true",
                "--set",
                "rings.order_capacity=65536",
                "--set",
                "threads.risk_core=none",
                "--set",
                "threads.gateway_core=none",
                "--set",
                "threads.reporter_core=none",
                "--set",
                "latency.interval_ms=100",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.md);
        let _ = std::fs::remove_file(&self.orders);
    }
}

/// Waits for `child` up to `limit`; kills it and panics on timeout. Returns (success, stdout, stderr).
pub fn wait(mut child: Child, limit: Duration) -> (bool, String, String) {
    let start = Instant::now();
    loop {
        if let Some(_st) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            return (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "hotrisk run did not finish in {limit:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Positions: `n` accounts on instrument 0, alternating long/short, liquidation prices spread
/// around 100.
pub fn positions(n: u32) -> Vec<ThresholdPosition> {
    (1..=n)
        .map(|a| {
            let off = i64::from(a % 97 + 1) * 10_000_000; // 0.1 .. 9.7
            let long = a.is_multiple_of(2);
            ThresholdPosition {
                account: a,
                instrument: 0,
                qty_e8: if long { 100_000_000 } else { -50_000_000 },
                liq_price_e8: if long {
                    100 * 100_000_000 - off
                } else {
                    100 * 100_000_000 + off
                },
            }
        })
        .collect()
}

pub fn write_snapshot(path: &Path, positions: &[ThresholdPosition]) {
    ThresholdCore::write_snapshot(path, positions, 50).unwrap();
}

/// A deterministic price path (E8) of `n` marks: a random walk around 100 with occasional
/// dives and spikes (xorshift, seeded).
pub fn price_path(n: usize, seed: u64) -> Vec<i64> {
    let mut x = seed | 1;
    let mut px: i64 = 100 * 100_000_000;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let step = (x % 2001) as i64 - 1000; // ±1000 e-8 … tiny steps
            px += step * 1000;
            if i % 5000 == 4999 {
                px = 100 * 100_000_000 + ((x % 2001) as i64 - 1000) * 1_000_000;
            }
            px.clamp(80 * 100_000_000, 120 * 100_000_000)
        })
        .collect()
}

/// Creates the md ring at `path` and publishes `prices` as marks on instrument 0 (seq 1..),
/// then closes it (end of stream).
pub fn publish_marks(path: &Path, prices: &[i64]) {
    let cap = (prices.len() + 16).next_power_of_two();
    let mut w = BroadcastWriter::<Msg>::create(path, cap).unwrap();
    for (i, &p) in prices.iter().enumerate() {
        let mut m = Msg::market(MsgKind::MarkPrice, 0, 0, 0);
        m.seq = i as u64 + 1;
        m.body[0] = p;
        m.publish_ts = now_ns();
        w.publish(m);
    }
    w.heartbeat();
    w.close();
}

/// Pops every order left on the order ring at `path`.
pub fn drain_orders(path: &Path) -> Vec<Order> {
    let mut c = SpscConsumer::<Order>::attach(path).unwrap();
    let mut v = Vec::new();
    while let Some(o) = c.try_pop() {
        v.push(o);
    }
    v
}

/// The exact reference: the orders the threshold core must emit for `prices` (ids, sides,
/// quantities, limits), in emission order.
pub fn expected_orders(
    positions: &[ThresholdPosition],
    prices: &[i64],
    slippage_bps: i64,
) -> Vec<(u64, u32, u8, i64, i64)> {
    let mut done = vec![false; positions.len()];
    let mut out = Vec::new();
    for (i, &mark) in prices.iter().enumerate() {
        let seq = i as u64 + 1;
        for (k, p) in positions.iter().enumerate() {
            if done[k] {
                continue;
            }
            let long = p.qty_e8 > 0;
            if (long && mark <= p.liq_price_e8) || (!long && mark >= p.liq_price_e8) {
                done[k] = true;
                let off = mark * slippage_bps / 10_000;
                let (side, limit) = if long {
                    (Side::Sell, mark - off)
                } else {
                    (Side::Buy, mark + off)
                };
                out.push((
                    order_id(p.account, seq, 0),
                    p.account,
                    side as u8,
                    p.qty_e8.abs(),
                    limit,
                ));
            }
        }
    }
    out
}

pub fn key(o: &Order) -> (u64, u32, u8, i64, i64) {
    (o.order_id, o.account, o.side, o.qty, o.limit_price)
}

/// Creates the md ring at `path` and publishes `msgs` (seq assigned 1..), then closes it.
pub fn publish_msgs(path: &Path, msgs: &[Msg]) {
    let cap = (msgs.len() + 16).next_power_of_two();
    let mut w = BroadcastWriter::<Msg>::create(path, cap).unwrap();
    for (i, m) in msgs.iter().enumerate() {
        let mut m = *m;
        m.seq = i as u64 + 1;
        m.publish_ts = now_ns();
        w.publish(m);
    }
    w.heartbeat();
    w.close();
}
