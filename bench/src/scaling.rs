//! `hotrisk-bench scaling`: cost of one mark tick as a function of the positions in the ticked
//! instrument and of the total number of accounts, hotrisk's band kernel beside the baseline
//! ([`crate::baseline`]) on the same population in the same run; and memory per position.
//!
//! Every tick is timed on its own (`CLOCK_MONOTONIC` around one `on_mark`), so the table gives
//! percentiles, not a mean. The mark alternates between two prices one tick apart (a quiet
//! market: few band exits), which is the common case the kernel is built for; `moving` rows
//! walk it ±0.5 % so that positions leave their bands and units are re-evaluated.
//! The timed thread is marked hot, so the counting allocator of `hotrisk-bench` attributes any
//! allocation inside the timed loop to it.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use hotrisk_engine::margin::{Crossings, MarginState};
use hotrisk_engine::pipeline::hot;

use crate::alloc;
use crate::baseline::{build, Baseline, E8, MARK, TICK};

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// Positions in the ticked instrument (total accounts = max of these and `accounts_total`).
    pub positions: Vec<usize>,
    /// Accounts in total for the positions sweep.
    pub accounts_total: usize,
    /// Positions in the ticked instrument for the accounts sweep.
    pub fixed_positions: usize,
    /// Total accounts for the accounts sweep.
    pub accounts: Vec<usize>,
    /// Time budget per case, ms (at least `min_ticks` ticks).
    pub budget_ms: u64,
    /// Fewest ticks per case.
    pub min_ticks: u64,
    /// Seed of the population.
    pub seed: u64,
}

/// One measured case.
#[derive(Debug, Clone)]
pub struct Case {
    /// `hotrisk`, `hotrisk moving` or `baseline`.
    pub engine: String,
    /// Positions in the ticked instrument.
    pub positions: usize,
    /// Accounts in total.
    pub accounts: usize,
    /// Per-tick latency, ns.
    pub hist: Histogram<u64>,
    /// Crossings (status changes) seen over the run.
    pub crossings: u64,
    /// Allocations counted on the timed thread during the timed loop.
    pub allocations: u64,
}

impl Case {
    /// Median ns per position.
    pub fn ns_per_position(&self) -> f64 {
        self.hist.value_at_quantile(0.5) as f64 / self.positions.max(1) as f64
    }
}

/// Resident set size of this process, bytes (from `/proc/self/statm`).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds")
}

fn time_ticks(
    budget_ms: u64,
    min_ticks: u64,
    mut tick: impl FnMut(u64) -> u64,
) -> (Histogram<u64>, u64, u64) {
    let mut h = hist();
    let mut crossings = 0;
    // Warm-up.
    for i in 0..4 {
        crossings += tick(i);
    }
    let start = Instant::now();
    let a0 = alloc::hot_allocations();
    hot::set_hot(true);
    let mut i = 4u64;
    while i < min_ticks + 4 || (start.elapsed().as_millis() as u64) < budget_ms {
        let t = Instant::now();
        crossings += tick(i);
        let ns = t.elapsed().as_nanos() as u64;
        hot::set_hot(false);
        let _ = h.record(ns.max(1));
        hot::set_hot(true);
        i += 1;
        if i > 4 + 1_000_000 {
            break;
        }
    }
    hot::set_hot(false);
    (h, crossings, alloc::hot_allocations() - a0)
}

fn measure_hotrisk(st: &mut MarginState, o: &Options, moving: bool) -> (Histogram<u64>, u64, u64) {
    let mut out = Crossings::with_capacity(st.crossings_capacity());
    time_ticks(o.budget_ms, o.min_ticks, |i| {
        out.clear();
        let m = if moving {
            match i % 4 {
                1 => MARK + MARK / 200 / TICK * TICK,
                3 => MARK - MARK / 200 / TICK * TICK,
                _ => MARK,
            }
        } else if i % 2 == 0 {
            MARK + TICK
        } else {
            MARK
        };
        black_box(
            st.on_mark(0, black_box(m), &mut out)
                .map_or(0, |n| n as u64),
        )
    })
}

fn measure_baseline(b: &mut Baseline, o: &Options) -> (Histogram<u64>, u64, u64) {
    time_ticks(o.budget_ms, o.min_ticks, |i| {
        let m = if i % 2 == 0 { MARK + TICK } else { MARK };
        let n = b.on_mark(black_box(m as f64 / E8 as f64)) as u64;
        if let Ok(mut q) = b.orders.lock() {
            q.clear();
        }
        n
    })
}

/// Results of a scaling run.
#[derive(Debug, Default)]
pub struct Scaling {
    /// Positions sweep (hotrisk quiet, hotrisk moving, baseline per size).
    pub by_positions: Vec<Case>,
    /// Accounts sweep (hotrisk quiet).
    pub by_accounts: Vec<Case>,
    /// Bytes of resident memory per position, measured over the largest build.
    pub rss_per_position: f64,
    /// Bytes per position of the instrument tables (the layout's figure).
    pub table_bytes_per_position: usize,
}

/// Runs the sweeps, printing progress on stderr.
pub fn run(o: &Options) -> Result<Scaling> {
    let mut s = Scaling {
        table_bytes_per_position: MarginState::BYTES_PER_POSITION,
        ..Scaling::default()
    };
    for &p in &o.positions {
        let total = o.accounts_total.max(p);
        let rss0 = rss_bytes();
        let t = Instant::now();
        let (mut st, gens) = build(p, total - p, o.seed);
        let rss1 = rss_bytes();
        if p == *o.positions.iter().max().unwrap_or(&p) && total > 0 {
            s.rss_per_position = rss1.saturating_sub(rss0) as f64 / total as f64;
        }
        eprintln!(
            "scaling: {p} positions / {total} accounts built in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        let (h, c, a) = measure_hotrisk(&mut st, o, false);
        s.by_positions.push(Case {
            engine: "hotrisk".into(),
            positions: p,
            accounts: total,
            hist: h,
            crossings: c,
            allocations: a,
        });
        let (h, c, a) = measure_hotrisk(&mut st, o, true);
        s.by_positions.push(Case {
            engine: "hotrisk moving".into(),
            positions: p,
            accounts: total,
            hist: h,
            crossings: c,
            allocations: a,
        });
        drop(st);
        let mut b = Baseline::new(&gens, total - p);
        drop(gens);
        let (h, c, a) = measure_baseline(&mut b, o);
        s.by_positions.push(Case {
            engine: "baseline".into(),
            positions: p,
            accounts: total,
            hist: h,
            crossings: c,
            allocations: a,
        });
    }
    for &m in &o.accounts {
        let p = o.fixed_positions.min(m);
        let t = Instant::now();
        let (mut st, _) = build(p, m - p, o.seed);
        eprintln!(
            "scaling: {p} positions / {m} accounts built in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        let (h, c, a) = measure_hotrisk(&mut st, o, false);
        s.by_accounts.push(Case {
            engine: "hotrisk".into(),
            positions: p,
            accounts: m,
            hist: h,
            crossings: c,
            allocations: a,
        });
    }
    Ok(s)
}

fn row(s: &mut String, c: &Case) {
    let h = &c.hist;
    let _ = writeln!(
        s,
        "| {} | {} | {} | {} | {} | {} | {} | {:.3} | {} | {} | {} |",
        c.engine,
        c.positions,
        c.accounts,
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.9999),
        h.max(),
        c.ns_per_position(),
        h.len(),
        c.crossings,
        c.allocations
    );
}

const HEADER: &str = "| engine | positions (ticked) | accounts | p50 ns | p99 ns | p99.99 ns | max ns | ns/position (p50) | ticks | crossings | hot allocations |\n|---|---|---|---|---|---|---|---|---|---|---|\n";

impl Scaling {
    /// The Markdown tables and the ratios.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        s.push_str("### Cost per tick against positions in the ticked instrument\n\n");
        s.push_str(HEADER);
        for c in &self.by_positions {
            row(&mut s, c);
        }
        s.push_str("\n| positions | baseline / hotrisk (p50) |\n|---|---|\n");
        for c in self.by_positions.iter().filter(|c| c.engine == "hotrisk") {
            if let Some(b) = self
                .by_positions
                .iter()
                .find(|b| b.engine == "baseline" && b.positions == c.positions)
            {
                let _ = writeln!(
                    s,
                    "| {} | {:.1}x |",
                    c.positions,
                    b.hist.value_at_quantile(0.5) as f64
                        / c.hist.value_at_quantile(0.5).max(1) as f64
                );
            }
        }
        s.push_str("\n### Cost per tick against total accounts (fixed positions in the ticked instrument)\n\n");
        s.push_str(HEADER);
        for c in &self.by_accounts {
            row(&mut s, c);
        }
        let _ = writeln!(
            s,
            "\nMemory: {} B per position in the instrument tables (layout), {:.0} B resident per account+position measured over the largest build (state, accounts map, units).",
            self.table_bytes_per_position, self.rss_per_position
        );
        s
    }

    /// Draws `scaling.svg`: p50 ns per tick against positions, log axes, one line per engine.
    pub fn plot(&self, path: &Path) -> Result<()> {
        use plotters::prelude::*;
        let engines = ["hotrisk", "hotrisk moving", "baseline"];
        let pts = |e: &str| -> Vec<(f64, f64)> {
            self.by_positions
                .iter()
                .filter(|c| c.engine == e)
                .map(|c| {
                    (
                        c.positions as f64,
                        c.hist.value_at_quantile(0.5).max(1) as f64,
                    )
                })
                .collect()
        };
        let all: Vec<(f64, f64)> = engines.iter().flat_map(|e| pts(e)).collect();
        if all.is_empty() {
            return Ok(());
        }
        let (x0, x1) = all
            .iter()
            .fold((f64::MAX, 0f64), |a, p| (a.0.min(p.0), a.1.max(p.0)));
        let (y0, y1) = all
            .iter()
            .fold((f64::MAX, 0f64), |a, p| (a.0.min(p.1), a.1.max(p.1)));
        let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "mark tick: p50 cost per tick vs positions in the ticked instrument",
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(
                (x0 / 2.0..x1 * 2.0).log_scale(),
                (y0 / 2.0..y1 * 2.0).log_scale(),
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        chart
            .configure_mesh()
            .x_desc("positions")
            .y_desc("ns per tick (p50)")
            .draw()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for (i, e) in engines.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let p = pts(e);
            chart
                .draw_series(LineSeries::new(p.clone(), color.stroke_width(2)))
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .label(*e)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            chart
                .draw_series(p.into_iter().map(|q| Circle::new(q, 3, color.filled())))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(())
    }
}

/// Writes the hgrm of every case into `dir` (`scaling-<engine>-<positions>-<accounts>.hgrm`).
pub fn write_hgrms(s: &Scaling, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for c in s.by_positions.iter().chain(&s.by_accounts) {
        let p = dir.join(format!(
            "scaling-{}-{}-{}.hgrm",
            c.engine.replace(' ', "_"),
            c.positions,
            c.accounts
        ));
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(&p).with_context(|| format!("creating {}", p.display()))?,
        );
        hotrisk_engine::latency::hlog::write_hgrm(&mut f, &c.hist)
            .with_context(|| format!("writing {}", p.display()))?;
        out.push(p);
    }
    Ok(out)
}
