//! Cold-side latency outputs: the percentile table, the interval log, the `.hgrm` files and the
//! Prometheus text. Everything here runs on the reporter thread (or after the run) and may
//! allocate and do I/O.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;

use super::hlog::{write_hgrm, HlogWriter};
use super::{Stage, StageHistograms};

/// The quantiles of the table.
pub const TABLE_QUANTILES: [(f64, &str); 5] = [
    (0.5, "p50"),
    (0.9, "p90"),
    (0.99, "p99"),
    (0.999, "p99.9"),
    (0.9999, "p99.99"),
];

/// A percentile table (ns) of the given named histograms: min, p50, p90, p99, p99.9, p99.99,
/// max, count.
pub fn format_table<'a>(rows: impl IntoIterator<Item = (&'a str, &'a Histogram<u64>)>) -> String {
    let mut s = String::new();
    let _ = write!(s, "{:<16}", "stage (ns)");
    for name in std::iter::once("min")
        .chain(TABLE_QUANTILES.iter().map(|q| q.1))
        .chain(["max", "count"])
    {
        let _ = write!(s, " {name:>10}");
    }
    s.push('\n');
    for (name, h) in rows {
        let _ = write!(s, "{name:<16}");
        if h.is_empty() {
            for _ in 0..7 {
                let _ = write!(s, " {:>10}", "-");
            }
        } else {
            let _ = write!(s, " {:>10}", h.min());
            for (q, _) in TABLE_QUANTILES {
                let _ = write!(s, " {:>10}", h.value_at_quantile(q));
            }
            let _ = write!(s, " {:>10}", h.max());
        }
        let _ = writeln!(s, " {:>10}", h.len());
    }
    s
}

/// The table of every stage of `h`.
pub fn stage_table(h: &StageHistograms) -> String {
    format_table(Stage::ALL.iter().map(|s| (s.name(), h.get(*s))))
}

/// The on-disk latency outputs of one run: `latency.hlog` (appended every interval) and
/// `<stage>.hgrm` (written at the end).
#[derive(Debug)]
pub struct LatencyFiles {
    dir: PathBuf,
    hlog: HlogWriter<BufWriter<File>>,
}

impl LatencyFiles {
    /// Creates `dir` and starts `dir/latency.hlog`.
    pub fn create(dir: &Path, start: SystemTime, comment: &str) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let f = File::create(dir.join("latency.hlog"))?;
        let hlog = HlogWriter::new(BufWriter::new(f), start, comment)?;
        Ok(Self {
            dir: dir.to_owned(),
            hlog,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one interval to the interval log: every stage with data, tagged with its name,
    /// and the end-to-end stage once more untagged — the histogram that tools reading only
    /// untagged intervals (HdrHistogram's `HistogramLogProcessor` without `-tag`) show.
    pub fn write_interval(
        &mut self,
        h: &StageHistograms,
        start_offset: Duration,
        length: Duration,
    ) -> std::io::Result<()> {
        for s in Stage::ALL {
            let hist = h.get(s);
            if !hist.is_empty() {
                self.hlog.write(s.name(), start_offset, length, hist)?;
            }
        }
        let e2e = h.get(Stage::TickToOrder);
        if !e2e.is_empty() {
            self.hlog.write("", start_offset, length, e2e)?;
        }
        self.hlog.flush()
    }

    /// Writes `<stage>.hgrm` for every stage of the cumulative histograms.
    pub fn write_hgrms(&mut self, total: &StageHistograms) -> std::io::Result<Vec<PathBuf>> {
        let mut paths = Vec::new();
        for s in Stage::ALL {
            let p = self.dir.join(format!("{}.hgrm", s.name()));
            let mut w = BufWriter::new(File::create(&p)?);
            write_hgrm(&mut w, total.get(s))?;
            w.flush()?;
            paths.push(p);
        }
        self.hlog.flush()?;
        Ok(paths)
    }
}

/// Counters the pipeline exposes (a snapshot, read by the reporter).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// Market-data records processed.
    pub ticks: u64,
    /// Account events applied.
    pub account_events: u64,
    /// Orders published on the order ring.
    pub orders: u64,
    /// Orders suppressed as duplicates of journaled ones (replay after restart).
    pub orders_suppressed: u64,
    /// Records missed on the md ring (gaps and laps).
    pub md_gaps: u64,
    /// Times the md producer was seen dead.
    pub producer_dead: u64,
    /// Decision-queue depth seen by the gateway (last).
    pub queue_depth: u64,
    /// Highest decision-queue depth.
    pub queue_depth_max: u64,
    /// Orders (and journal-only events) that waited in the risk thread's backlog because the
    /// gateway side was full: delayed by back-pressure, never dropped.
    pub orders_delayed: u64,
    /// Highest risk-thread backlog length.
    pub backlog_max: u64,
    /// Hand-overs where the risk thread waited because its backlog was full.
    pub backlog_stalls: u64,
}

/// Prometheus text exposition of the last interval's percentiles and the counters.
pub fn prometheus_text(last: &StageHistograms, c: &CounterSnapshot) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# HELP hotrisk_latency_ns Stage latency over the last interval, ns.\n# TYPE hotrisk_latency_ns gauge"
    );
    for st in Stage::ALL {
        let h = last.get(st);
        for (q, label) in [(0.5, "0.5"), (0.99, "0.99"), (0.999, "0.999")] {
            let v = if h.is_empty() {
                0
            } else {
                h.value_at_quantile(q)
            };
            let _ = writeln!(
                s,
                "hotrisk_latency_ns{{stage=\"{}\",quantile=\"{label}\"}} {v}",
                st.name()
            );
        }
        let _ = writeln!(
            s,
            "hotrisk_latency_ns{{stage=\"{}\",quantile=\"1\"}} {}",
            st.name(),
            h.max()
        );
    }
    for (name, v, help) in [
        ("ticks_total", c.ticks, "Market-data records processed."),
        (
            "account_events_total",
            c.account_events,
            "Account events applied.",
        ),
        ("orders_total", c.orders, "Orders published."),
        (
            "orders_suppressed_total",
            c.orders_suppressed,
            "Replayed orders suppressed.",
        ),
        (
            "md_gap_records_total",
            c.md_gaps,
            "Market-data records missed.",
        ),
        (
            "producer_dead_total",
            c.producer_dead,
            "Dead-producer detections.",
        ),
        (
            "orders_delayed_total",
            c.orders_delayed,
            "Orders delayed by back-pressure (waited in the risk thread's backlog).",
        ),
        (
            "backlog_stalls_total",
            c.backlog_stalls,
            "Hand-overs that waited because the risk thread's backlog was full.",
        ),
    ] {
        let _ = writeln!(
            s,
            "# HELP hotrisk_{name} {help}\n# TYPE hotrisk_{name} counter\nhotrisk_{name} {v}"
        );
    }
    let _ = writeln!(
        s,
        "# HELP hotrisk_queue_depth Decision-queue depth.\n# TYPE hotrisk_queue_depth gauge\nhotrisk_queue_depth {}",
        c.queue_depth
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_files() {
        let mut h = StageHistograms::new(1_000_000_000, 3);
        for i in 1..=1000 {
            h.record(Stage::TickToOrder, i * 100);
        }
        let t = stage_table(&h);
        assert!(t.contains("tick_to_order"), "{t}");
        assert!(t.contains("p99.99"));
        let line = t.lines().find(|l| l.starts_with("tick_to_order")).unwrap();
        assert!(line.trim_end().ends_with("1000"), "{line}");
        let dir = tempfile::tempdir().unwrap();
        let mut f = LatencyFiles::create(dir.path(), SystemTime::now(), "test").unwrap();
        f.write_interval(&h, Duration::ZERO, Duration::from_secs(1))
            .unwrap();
        let paths = f.write_hgrms(&h).unwrap();
        assert_eq!(paths.len(), 5);
        let back =
            super::super::hlog::read_hlog(&std::fs::read(dir.path().join("latency.hlog")).unwrap())
                .unwrap();
        assert_eq!(back.len(), 2, "tagged + untagged end to end");
        assert_eq!(back[0].tag.as_deref(), Some("tick_to_order"));
        assert_eq!(back[1].tag, None);
        let prom = prometheus_text(&h, &CounterSnapshot::default());
        assert!(prom.contains("hotrisk_latency_ns{stage=\"tick_to_order\",quantile=\"0.99\"}"));
    }
}
