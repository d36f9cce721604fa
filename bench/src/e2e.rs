//! `hotrisk-bench e2e`: the whole pipeline as three processes over `/dev/shm` rings —
//! feed-handler → engine (`hotrisk run`, margin core + policy) → simulated matching engine →
//! engine — on the synthetic crash feed, or on a captured feed (`--capture FILE`, a native
//! `HRCAPTUR` file replayed by `feed-handler replay`), with N generated accounts
//! ([`hotrisk_engine::launch::run_synthetic`], the demo's core). The report names the feed.
//!
//! Two modes, labelled in the report:
//! - **paced**: the feed-handler publishes at the feed's own timestamps × `speed` (a fixed message
//!   rate) and stamps each record with its *scheduled* time, so the latencies are measured from
//!   when the record should have gone out: free of coordinated omission;
//! - **saturating**: as fast as the ring takes them; the report gives the throughput and the
//!   engine's service time (the `decision` stage: read → decision) — `ring_read` then measures
//!   queueing, not latency.
//!
//! The processes are the `hotrisk` executable (found next to `hotrisk-bench`, or `--hotrisk`).
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use hotrisk_engine::generate::GenConfig;
use hotrisk_engine::latency::Stage;
use hotrisk_engine::launch::{run_synthetic, SyntheticResult, SyntheticRun};
use hotrisk_feed::source::synthetic::Scenario;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `hotrisk` executable.
    pub hotrisk: PathBuf,
    /// Accounts.
    pub accounts: u32,
    /// Positions per account (distinct instruments).
    pub positions_per_account: u32,
    /// Simulated feed length, ms.
    pub duration_ms: i64,
    /// Speed of the paced mode.
    pub speed: String,
    /// Run the paced mode.
    pub paced: bool,
    /// Run the saturating mode.
    pub saturating: bool,
    /// Seed.
    pub seed: u64,
    /// Report directory.
    pub out: PathBuf,
    /// Deadline per run.
    pub timeout: Duration,
    /// Instruments (symbols, see [`symbols`]); `positions_per_account` is at most this.
    pub instruments: usize,
    /// Extra engine settings (`key=value`, passed as `--set`).
    pub engine_set: Vec<String>,
    /// The synthetic feed's price path.
    pub scenario: Scenario,
    /// A native capture (`HRCAPTUR`) replayed instead of the synthetic feed (its symbols and
    /// first prices place the accounts; `instruments`, `duration_ms` and `scenario` are then
    /// unused).
    pub capture: Option<PathBuf>,
}

/// `n` symbols: the synthetic feed's five known ones, then `SYN06USDT`, … (start price 100)
/// ([`hotrisk_engine::generate::symbols`]).
pub fn symbols(n: usize) -> Vec<String> {
    hotrisk_engine::generate::symbols(n)
}

/// One mode's result.
#[derive(Debug)]
pub struct ModeResult {
    /// `paced` or `saturating`.
    pub mode: &'static str,
    /// The run.
    pub run: SyntheticResult,
    /// Message rate the feed-handler achieved, msg/s (from its own report).
    pub feed_rate: Option<f64>,
    /// `synthetic` or `captured <file>`.
    pub feed: String,
}

/// The `hotrisk` binary next to this executable.
pub fn default_hotrisk() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("hotrisk")))
        .unwrap_or_else(|| PathBuf::from("hotrisk"))
}

fn feed_rate(stderr: &str) -> Option<f64> {
    // "feed-handler: published N msgs into … in S s (R M msg/s)": N / S (R is rounded to
    // 0.01 M, too coarse for a paced feed).
    let l = stderr.lines().find(|l| l.contains("published"))?;
    let after = &l[l.find("published ")? + "published ".len()..];
    let n: f64 = after.split_whitespace().next()?.parse().ok()?;
    let secs_at = l.rfind(" s (")?;
    let secs: f64 = l[l[..secs_at].rfind(' ')? + 1..secs_at].parse().ok()?;
    (secs > 0.0).then(|| n / secs)
}

/// Runs the selected modes.
pub fn run(o: &Options) -> Result<Vec<ModeResult>> {
    if !o.hotrisk.exists() {
        anyhow::bail!(
            "{}: not found; build it first (`cargo build --release --bin hotrisk`) or pass --hotrisk",
            o.hotrisk.display()
        );
    }
    let mut modes = Vec::new();
    if o.paced {
        modes.push(("paced", Some(o.speed.clone())));
    }
    if o.saturating {
        modes.push(("saturating", None));
    }
    let mut out = Vec::new();
    for (mode, speed) in modes {
        let dir = o.out.join(mode);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        match &o.capture {
            Some(c) => eprintln!(
                "e2e {mode}: {} accounts x {} positions, captured feed {} ...",
                o.accounts,
                o.positions_per_account,
                c.display()
            ),
            None => eprintln!(
                "e2e {mode}: {} accounts x {} positions, {} ms of synthetic feed ...",
                o.accounts, o.positions_per_account, o.duration_ms
            ),
        }
        let r = run_synthetic(&SyntheticRun {
            exe: o.hotrisk.clone(),
            accounts: GenConfig {
                seed: o.seed,
                accounts: o.accounts,
                positions_per_account: o.positions_per_account,
                symbols: symbols(o.instruments),
                ..GenConfig::default()
            },
            scenario: o.scenario,
            duration_ms: o.duration_ms,
            event_at_ms: o.duration_ms / 4,
            step_us: 1_000,
            depth: 20,
            vol_ppm: 5,
            level_lots: Some(5_000),
            speed,
            out: dir,
            engine_extra: o
                .engine_set
                .iter()
                .flat_map(|kv| ["--set".to_owned(), kv.clone()])
                .collect(),
            cpus: Some(hotrisk_engine::launch::CpuPlan::current()),
            capture: o.capture.clone(),
            timeout: o.timeout,
            tag: format!("e2e-{mode}"),
        })
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("e2e {mode}"))?;
        let feed_rate = feed_rate(&r.processes.feed.stderr);
        out.push(ModeResult {
            mode,
            run: r,
            feed_rate,
            feed: o.capture.as_ref().map_or_else(
                || format!("synthetic {:?}", o.scenario).to_lowercase(),
                |c| format!("captured ({})", c.display()),
            ),
        });
    }
    Ok(out)
}

/// The Markdown section of the runs.
pub fn markdown(results: &[ModeResult]) -> String {
    let mut s = String::new();
    for m in results {
        let r = &m.run;
        let _ = writeln!(
            s,
            "### {} — {} feed, {} accounts, {} positions, {} md records\n",
            m.mode, m.feed, r.snapshot.accounts, r.snapshot.positions, r.md_records
        );
        let rate = m
            .feed_rate
            .map_or_else(|| "?".to_owned(), |r| format!("{:.0}", r));
        let _ = writeln!(
            s,
            "feed-handler publish rate: {rate} msg/s; engine process wall time {:.2} s.\n",
            r.processes.engine.elapsed.as_secs_f64()
        );
        if m.mode == "saturating" {
            if let Some(d) = r.latency.get(Stage::Decision) {
                let _ = writeln!(
                    s,
                    "Service time (decision stage: record read → decision, every md record): p50 {} ns, p99 {} ns, max {} ns. In this mode `ring_read` and `tick_to_order` include queueing behind the backlog.\n",
                    d.value_at_quantile(0.5),
                    d.value_at_quantile(0.99),
                    d.max()
                );
            }
        } else {
            s.push_str("Latencies from each record's scheduled publish time (coordinated-omission free).\n\n");
        }
        let _ = writeln!(s, "```text\n{}```\n", r.latency.table());
        s.push_str(&r.liquidations.table());
        match &r.audit {
            Ok(a) => {
                s.push('\n');
                s.push_str(&a.table());
                s.push_str(
                    &hotrisk_engine::outcome::health_note(&r.engine_summary).unwrap_or_default(),
                );
            }
            Err(e) => {
                let _ = writeln!(s, "\naccounting check: could not run: {e}");
            }
        }
        if !r.engine_summary.is_empty() {
            let _ = writeln!(s, "\n```text\n{}\n```\n", r.engine_summary);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn feed_rate_from_count_and_seconds() {
        let l = "feed-handler: published 344723 msgs into /dev/shm/x-md in 39.980 s (0.01 M msg/s); last";
        let r = super::feed_rate(l).unwrap();
        assert!((r - 344_723.0 / 39.98).abs() < 1e-6, "{r}");
        assert_eq!(super::feed_rate("nothing"), None);
    }
}
