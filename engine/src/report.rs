//! The report directory of a demo or benchmark run: `report.md`, the engine's `latency.hlog` and
//! `<stage>.hgrm` (written by its reporter thread), and SVG plots drawn from them with
//! [`crate::latency::plot`] (percentile spectrum per stage, tick-to-order over time).
//! `hotrisk-tools hist` redraws any of them from the `.hlog`/`.hgrm` files.
//!
//! Cold code: it allocates and does I/O freely.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;

use crate::latency::hlog::read_hlog;
use crate::latency::plot::{
    draw_over_time, draw_spectrum, spectrum_from_histogram, SpectrumSeries, TimeSeries,
};
use crate::latency::report::format_table;
use crate::latency::{new_histogram, Stage};

/// One reporting interval of a stage: `(start s, p50, p99, max)` (ns).
pub type Interval = (f64, u64, u64, u64);

/// The histograms of one run, read back from its `.hlog`.
#[derive(Debug, Clone, Default)]
pub struct RunLatency {
    /// Whole-run histogram per stage name (pipeline order for the known stages).
    pub total: BTreeMap<String, Histogram<u64>>,
    /// Per stage: every interval's summary.
    pub intervals: BTreeMap<String, Vec<Interval>>,
}

impl RunLatency {
    /// Reads `path` (an interval log); errors name the file.
    pub fn from_hlog(path: &Path) -> Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let ivs = read_hlog(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut r = Self::default();
        for iv in ivs {
            let tag = iv.tag.clone().unwrap_or_else(|| "untagged".into());
            let tot = r
                .total
                .entry(tag.clone())
                .or_insert_with(|| new_histogram(iv.hist.high().max(2), iv.hist.sigfig()));
            tot.add(&iv.hist)
                .map_err(|e| format!("{}: merging {tag}: {e:?}", path.display()))?;
            if !iv.hist.is_empty() {
                r.intervals.entry(tag).or_default().push((
                    iv.start.as_secs_f64(),
                    iv.hist.value_at_quantile(0.5),
                    iv.hist.value_at_quantile(0.99),
                    iv.hist.max(),
                ));
            }
        }
        Ok(r)
    }

    /// Stage names with data, the pipeline's stages first in pipeline order.
    pub fn stages(&self) -> Vec<&str> {
        let mut v: Vec<&str> = Stage::ALL
            .iter()
            .map(|s| s.name())
            .filter(|n| self.total.contains_key(*n))
            .collect();
        for k in self.total.keys() {
            // Untagged intervals (a copy of a tagged stage for tools that read only untagged
            // histograms) would be listed twice.
            if k != "untagged" && !v.contains(&k.as_str()) {
                v.push(k);
            }
        }
        v
    }

    /// The percentile table (ns) of every stage.
    pub fn table(&self) -> String {
        format_table(self.stages().into_iter().map(|n| (n, &self.total[n])))
    }

    /// `stages` over time: one line per reporting interval with each stage's p50, p99 and max in
    /// µs (blank where a stage has no sample in the interval), so a reader sees at once whether
    /// the engine kept up (flat) or fell behind the feed (rising).
    pub fn over_time(&self, stages: &[Stage]) -> String {
        let mut s = String::new();
        let series: Vec<(&str, &Vec<Interval>)> = stages
            .iter()
            .filter_map(|st| self.intervals.get(st.name()).map(|v| (st.name(), v)))
            .collect();
        let mut starts: Vec<f64> = series
            .iter()
            .flat_map(|(_, v)| v.iter().map(|x| x.0))
            .collect();
        starts.sort_by(f64::total_cmp);
        starts.dedup_by(|a, b| (*a - *b).abs() < 1e-6);
        let Some(&t0) = starts.first() else {
            return s;
        };
        let _ = write!(s, "{:>8}", "t (s)");
        for (name, _) in &series {
            let _ = write!(s, " | {:>28}", format!("{name} p50 / p99 / max µs"));
        }
        s.push('\n');
        for t in starts {
            let _ = write!(s, "{:>8.2}", t - t0);
            for (_, v) in &series {
                match v.iter().find(|x| (x.0 - t).abs() < 1e-6) {
                    Some(&(_, p50, p99, max)) => {
                        let us = |v: u64| v as f64 / 1e3;
                        let _ = write!(
                            s,
                            " | {:>28}",
                            format!("{:.1} / {:.1} / {:.1}", us(p50), us(p99), us(max))
                        );
                    }
                    None => {
                        let _ = write!(s, " | {:>28}", "");
                    }
                }
            }
            s.push('\n');
        }
        s
    }

    /// The whole-run histogram of `stage`, if recorded.
    pub fn get(&self, stage: Stage) -> Option<&Histogram<u64>> {
        self.total.get(stage.name())
    }
}

/// Draws `latency_spectrum.svg` (every stage, plus `peers`) and `tick_to_order_over_time.svg`
/// into `dir`; returns the files written (a plot with no data is skipped).
pub fn draw_latency_plots(
    dir: &Path,
    title: &str,
    lat: &RunLatency,
    peers: &[SpectrumSeries],
) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut series: Vec<SpectrumSeries> = lat
        .stages()
        .into_iter()
        .map(|n| spectrum_from_histogram(n, &lat.total[n]))
        .collect();
    series.extend(peers.iter().cloned());
    let p = dir.join("latency_spectrum.svg");
    if draw_spectrum(&p, &format!("{title}: latency by percentile"), &series).is_ok() {
        out.push(p);
    }
    if let Some(iv) = lat.intervals.get(Stage::TickToOrder.name()) {
        let mk = |label: &str, f: fn(&(f64, u64, u64, u64)) -> u64| TimeSeries {
            label: label.into(),
            points: iv.iter().map(|x| (x.0, f(x) as f64)).collect(),
        };
        let ts = [mk("p50", |x| x.1), mk("p99", |x| x.2), mk("max", |x| x.3)];
        let p = dir.join("tick_to_order_over_time.svg");
        if draw_over_time(&p, &format!("{title}: tick-to-order over time"), &ts).is_ok() {
            out.push(p);
        }
    }
    out
}

/// A Markdown document built section by section.
#[derive(Debug, Default, Clone)]
pub struct Markdown(pub String);

impl Markdown {
    /// A document with a title.
    pub fn new(title: &str) -> Self {
        Self(format!("# {title}\n\n"))
    }

    /// A `##` section heading.
    pub fn section(&mut self, h: &str) -> &mut Self {
        let _ = write!(self.0, "## {h}\n\n");
        self
    }

    /// A paragraph (or a Markdown table, passed through).
    pub fn para(&mut self, text: &str) -> &mut Self {
        let _ = write!(self.0, "{}\n\n", text.trim_end());
        self
    }

    /// A fenced code block.
    pub fn code(&mut self, text: &str) -> &mut Self {
        let _ = write!(self.0, "```text\n{}\n```\n\n", text.trim_end());
        self
    }

    /// Writes the document to `path`.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, &self.0)
    }
}

/// Relative file list for a report (`- [name](name)` lines).
pub fn file_list(dir: &Path, files: &[PathBuf]) -> String {
    let mut s = String::new();
    for f in files {
        let rel = f.strip_prefix(dir).unwrap_or(f).display().to_string();
        let _ = writeln!(s, "- [{rel}]({rel})");
    }
    s
}
