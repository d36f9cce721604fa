//! `hotrisk-tools hist FILES... [--stage NAME] [--spectrum OUT.svg|png] [--over-time OUT.svg|png]`
//!
//! Reads HdrHistogram interval logs (`.hlog`, e.g. `latency.hlog` of `hotrisk run`) and
//! percentile distributions (`.hgrm`), prints a percentile table per file and stage, and draws a
//! percentile spectrum (every file and stage overlaid) and, from interval logs, latency over time
//! (p50, p99 and max per interval). The plotting code is the engine's
//! (`hotrisk_engine::latency::plot`), shared with `hotrisk run`, the demo and the bench report.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use hotrisk_engine::latency::hlog::{read_hgrm, read_hlog, Hgrm};
use hotrisk_engine::latency::plot::{
    draw_over_time, draw_spectrum, spectrum_from_hgrm, spectrum_from_histogram, SpectrumSeries,
    TimeSeries,
};
use hotrisk_engine::latency::report::{format_table, TABLE_QUANTILES};

/// Arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// `.hlog` and `.hgrm` files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Only this stage (hlog tag), e.g. `tick_to_order`.
    #[arg(long)]
    stage: Option<String>,
    /// Draw the percentile spectrum of every series into this file (.svg or .png).
    #[arg(long)]
    spectrum: Option<PathBuf>,
    /// Draw latency over time (interval logs only) into this file (.svg or .png).
    #[arg(long)]
    over_time: Option<PathBuf>,
}

/// Per tag: the summed histogram and the interval series (start s, histogram).
type ByTag = BTreeMap<String, (Histogram<u64>, Vec<(f64, Histogram<u64>)>)>;

/// What one input file holds.
enum Loaded {
    /// An interval log.
    Hlog(ByTag),
    /// A percentile distribution.
    Hgrm(Hgrm),
}

fn label_of(path: &Path) -> String {
    path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}

fn load(path: &Path) -> anyhow::Result<Loaded> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let is_hgrm = path.extension().is_some_and(|e| e == "hgrm")
        || bytes.starts_with(b"       Value")
        || bytes.trim_ascii_start().starts_with(b"Value");
    if is_hgrm {
        let text = String::from_utf8_lossy(&bytes);
        return read_hgrm(&text)
            .map(Loaded::Hgrm)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()));
    }
    let intervals = read_hlog(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if intervals.is_empty() {
        bail!("{}: no interval histograms", path.display());
    }
    let mut by_tag = ByTag::new();
    for iv in intervals {
        let tag = iv.tag.unwrap_or_else(|| "untagged".into());
        let entry = by_tag
            .entry(tag)
            .or_insert_with(|| (Histogram::new_from(&iv.hist), Vec::new()));
        entry
            .0
            .add(&iv.hist)
            .with_context(|| format!("{}: adding intervals", path.display()))?;
        entry.1.push((iv.start.as_secs_f64(), iv.hist));
    }
    // hotrisk writes the end-to-end stage twice: tagged, and untagged for tools that read only
    // untagged intervals. Show it once.
    if by_tag.contains_key("tick_to_order") {
        by_tag.remove("untagged");
    }
    Ok(Loaded::Hlog(by_tag))
}

fn hgrm_row(name: &str, h: &Hgrm) -> String {
    let mut s = format!("{name:<16}");
    let cell = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.0}"));
    let _ = write!(s, " {:>10}", cell(h.rows.first().map(|r| r.0)));
    for (q, _) in TABLE_QUANTILES {
        let _ = write!(s, " {:>10}", cell(h.value_at(q)));
    }
    let _ = write!(s, " {:>10} {:>10}", cell(Some(h.max_ns)), h.count);
    s
}

pub(crate) fn main(args: Args) -> anyhow::Result<()> {
    let mut spectra: Vec<SpectrumSeries> = Vec::new();
    let mut over_time: Vec<TimeSeries> = Vec::new();
    let many = args.files.len() > 1;
    for path in &args.files {
        let label = label_of(path);
        println!("== {}", path.display());
        match load(path)? {
            Loaded::Hgrm(h) => {
                let table = format_table(std::iter::empty());
                print!("{}", table.replace("stage (ns)", "file (ns)  "));
                println!("{}", hgrm_row(&label, &h));
                spectra.push(spectrum_from_hgrm(&label, &h));
            }
            Loaded::Hlog(by_tag) => {
                let selected: Vec<_> = by_tag
                    .iter()
                    .filter(|(tag, _)| args.stage.as_ref().is_none_or(|s| s == *tag))
                    .collect();
                if selected.is_empty() {
                    bail!(
                        "{}: no stage {:?}; the log has {:?}",
                        path.display(),
                        args.stage.as_deref().unwrap_or(""),
                        by_tag.keys().collect::<Vec<_>>()
                    );
                }
                print!(
                    "{}",
                    format_table(selected.iter().map(|(t, (h, _))| (t.as_str(), h)))
                );
                for (tag, (h, series)) in &selected {
                    let name = if many {
                        format!("{label}:{tag}")
                    } else {
                        (*tag).clone()
                    };
                    spectra.push(spectrum_from_histogram(&name, h));
                    for (q, qname) in [(0.5, "p50"), (0.99, "p99"), (1.0, "max")] {
                        over_time.push(TimeSeries {
                            label: format!("{name} {qname}"),
                            points: series
                                .iter()
                                .filter(|(_, h)| !h.is_empty())
                                .map(|(t, h)| (*t, h.value_at_quantile(q) as f64))
                                .collect(),
                        });
                    }
                }
            }
        }
        println!();
    }
    if let Some(out) = &args.spectrum {
        draw_spectrum(out, "latency percentile spectrum", &spectra)?;
        println!("wrote {}", out.display());
    }
    if let Some(out) = &args.over_time {
        if over_time.is_empty() {
            bail!("--over-time needs at least one .hlog interval log");
        }
        draw_over_time(out, "latency over time (per interval)", &over_time)?;
        println!("wrote {}", out.display());
    }
    Ok(())
}
