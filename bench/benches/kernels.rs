//! Micro-benchmarks of two hot-path kernels not covered elsewhere (the mark-tick sweep has
//! `engine/benches/mark_tick.rs`, the whole decision `engine/benches/decision.rs`, the rings
//! `benches/rings.rs`):
//!
//! - `bracket/maintenance`: the bracket lookup and maintenance margin of one notional
//!   (`margin::math::maintenance`), over 1024 notionals spread across all brackets;
//! - `sizing/limit_and_walk`: an order's limit price from the mark and slippage bound, then the
//!   walk of a 20-level book that sizes it (`policy::sizing`), over 1024 wanted quantities;
//! - `harness/iterate`: the same loop over the same inputs doing nothing but `black_box` — the
//!   cost of the harness itself, to subtract by eye.
//!
//! Run: `cargo bench -p hotrisk-bench --bench kernels`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hotrisk_bench::baseline::{instrument, E8, MARK, TICK};
use hotrisk_engine::margin::math::maintenance;
use hotrisk_engine::margin::MONEY_PER_E8;
use hotrisk_engine::policy::book::Book;
use hotrisk_engine::policy::sizing::{limit_price, walk};
use hotrisk_engine::policy::spec::InstrumentSpec;
use hotrisk_feed::wire::Side;

const N: usize = 1024;

fn inputs() -> Vec<i64> {
    // Notionals from 100 to ~30M quote, geometric: every bracket is visited.
    (0..N)
        .map(|i| {
            let e = i as u32 % 19;
            (100i64 << e) + i as i64
        })
        .collect()
}

fn kernels(c: &mut Criterion) {
    let inst = instrument("BTCUSDT");
    let notionals: Vec<i128> = inputs()
        .iter()
        .map(|&n| i128::from(n) * i128::from(E8) * MONEY_PER_E8)
        .collect();
    let mut g = c.benchmark_group("kernels");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("bracket/maintenance", |b| {
        b.iter(|| {
            let mut acc = 0i128;
            for &n in &notionals {
                acc = acc.wrapping_add(maintenance(&inst, black_box(n)).0);
            }
            black_box(acc)
        })
    });

    let spec = InstrumentSpec::from_instrument(&inst).expect("valid spec");
    let mut book = Book::new();
    for l in 0..20 {
        book.apply(Side::Buy, MARK - (l + 1) * TICK, (l + 1) * E8 / 10);
        book.apply(Side::Sell, MARK + l * TICK, (l + 1) * E8 / 10);
    }
    let wants: Vec<i64> = (0..N as i64).map(|i| (i % 200 + 1) * E8 / 100).collect();
    g.bench_function("sizing/limit_and_walk", |b| {
        b.iter(|| {
            let mut acc = 0i64;
            for &w in &wants {
                let lim =
                    limit_price(&spec, Side::Sell, black_box(MARK), E8 / 100, None).unwrap_or(TICK);
                let s = walk(
                    &spec,
                    book.contra(Side::Sell),
                    Side::Sell,
                    black_box(w),
                    lim,
                    None,
                );
                acc = acc.wrapping_add(s.qty);
            }
            black_box(acc)
        })
    });
    g.bench_function("harness/iterate", |b| {
        b.iter(|| {
            let mut acc = 0i64;
            for &w in &wants {
                acc = acc.wrapping_add(black_box(w));
            }
            black_box(acc)
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = kernels
}
criterion_main!(benches);
