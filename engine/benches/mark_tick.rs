//! Mark-tick update: hotrisk's band kernel beside the first version a competent engineer would
//! write (positions as an array of structs with `f64`, accounts in a `HashMap`, every position's
//! PnL and maintenance recomputed and pushed into its account on every tick, status changes into
//! a `Mutex<Vec>`), in the same run. The baseline and the population are the harness's
//! (`bench/src/baseline.rs`, included here), so this bench and `hotrisk-bench scaling` measure
//! the same peer.
//!
//! Groups:
//! - `mark_tick/{hotrisk,baseline}/N`: N ∈ {10^3, 10^4, 10^5, 10^6} positions in the ticked
//!   instrument, 10^6 accounts in total (the others hold a position in another instrument);
//!   the mark alternates between two prices one tick apart (a quiet market: no band exits);
//! - `mark_tick_moving/hotrisk/N`: the mark walks ±0.5% per tick, so positions near
//!   liquidation leave their bands and their units are re-evaluated (the exit count is printed);
//! - `other_accounts/hotrisk/M`: 10^5 positions in the ticked instrument while M ∈ {10^3, 10^6}
//!   other accounts exist: the cost must not depend on M.
//!
//! Run: `cargo bench -p hotrisk-engine --bench mark_tick`. Under `cargo test` (no `--bench`
//! argument) the sizes shrink so that the benchmark only proves it still runs.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use hotrisk_engine::margin::{Crossings, MarginState};

// The baseline peer and the seeded population both sides are built from: one implementation,
// the harness's (`hotrisk-bench scaling` runs the same one). Its unit tests run in the bench
// crate; here (no test harness) they are compiled out, leaving their imports unused.
#[allow(dead_code, unreachable_pub, unused_imports)]
#[path = "../../bench/src/baseline.rs"]
mod baseline;

use baseline::{build, Baseline, MARK, TICK};

/// The population's seed.
const SEED: u64 = 42;

fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args()
}

fn mark_tick(c: &mut Criterion) {
    let (sizes, total): (Vec<usize>, usize) = if full_run() {
        (vec![1_000, 10_000, 100_000, 1_000_000], 1_000_000)
    } else {
        (vec![1_000], 2_000)
    };
    let mut g = c.benchmark_group("mark_tick");
    for &n in &sizes {
        let (mut st, gens) = build(n, total - n, SEED);
        let mut out = Crossings::with_capacity(st.crossings_capacity());
        let mut flip = false;
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("hotrisk", n), &n, |b, _| {
            b.iter(|| {
                flip = !flip;
                out.clear();
                let m = if flip { MARK + TICK } else { MARK };
                black_box(st.on_mark(0, black_box(m), &mut out).unwrap());
            })
        });
        eprintln!(
            "hotrisk n={n}: {} band exits, {} re-evaluations so far (incl. load); {} B/position in tables, {} B/position streamed per tick",
            st.stats().band_exits,
            st.stats().evaluations,
            MarginState::BYTES_PER_POSITION,
            8
        );
        let mut base = Baseline::new(&gens, total - n);
        g.bench_with_input(BenchmarkId::new("baseline", n), &n, |b, _| {
            b.iter(|| {
                flip = !flip;
                let m = if flip { 50_000.1 } else { 50_000.0 };
                black_box(base.on_mark(black_box(m)));
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("mark_tick_moving");
    for &n in &sizes {
        let (mut st, _) = build(n, total - n, SEED);
        let mut out = Crossings::with_capacity(st.crossings_capacity());
        let mut step = 0u64;
        let e0 = st.stats().band_exits;
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("hotrisk", n), &n, |b, _| {
            b.iter(|| {
                step += 1;
                out.clear();
                // ±0.5% saw-tooth: 0, +0.5%, 0, -0.5%, …
                let m = match step % 4 {
                    1 => MARK + MARK / 200 / TICK * TICK,
                    3 => MARK - MARK / 200 / TICK * TICK,
                    _ => MARK,
                };
                black_box(st.on_mark(0, m, &mut out).unwrap());
            })
        });
        eprintln!(
            "moving n={n}: {} ticks, {} band exits ({:.4} per position per tick)",
            step,
            st.stats().band_exits - e0,
            (st.stats().band_exits - e0) as f64 / (step.max(1) as f64 * n as f64)
        );
    }
    g.finish();

    let (n, others): (usize, Vec<usize>) = if full_run() {
        (100_000, vec![1_000, 1_000_000])
    } else {
        (1_000, vec![10, 1_000])
    };
    let mut g = c.benchmark_group("other_accounts");
    for &m in &others {
        let (mut st, _) = build(n, m, SEED);
        let mut out = Crossings::with_capacity(st.crossings_capacity());
        let mut flip = false;
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("hotrisk", m), &m, |b, _| {
            b.iter(|| {
                flip = !flip;
                out.clear();
                let m = if flip { MARK + TICK } else { MARK };
                black_box(st.on_mark(0, m, &mut out).unwrap());
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = mark_tick
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
