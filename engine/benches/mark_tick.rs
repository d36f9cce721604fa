//! Mark-tick update: hotrisk's band kernel beside the first version a competent engineer would
//! write (positions as an array of structs with `f64`, accounts in a `HashMap`, every position's
//! PnL and maintenance recomputed and pushed into its account on every tick), in the same run.
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

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use hotrisk_engine::margin::{
    BracketSpec, Crossings, Instrument, InstrumentSpec, Kind, MarginMode, MarginState,
};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

const E8: i64 = 100_000_000;
const MARK: i64 = 50_000 * E8;
const TICK: i64 = E8 / 10;

fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn brackets() -> Vec<BracketSpec> {
    let caps = [50_000i64, 250_000, 1_000_000, 10_000_000, 20_000_000];
    let rates = [
        400_000i64, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000,
    ];
    let lev = [125i64, 100, 50, 20, 10, 5];
    (0..rates.len())
        .map(|i| BracketSpec {
            notional_cap_e8: caps.get(i).map(|c| c * E8),
            max_leverage_e8: lev[i] * E8,
            maintenance_margin_rate_e8: rates[i],
            maintenance_amount_e8: None,
        })
        .collect()
}

fn instrument(symbol: &str) -> Instrument {
    Instrument::new(InstrumentSpec {
        symbol: symbol.into(),
        kind: Kind::Linear,
        tick_size_e8: TICK,
        lot_size_e8: E8 / 1000,
        contract_size_e8: E8,
        liquidation_fee_rate_e8: 1_250_000,
        brackets: brackets(),
    })
    .unwrap()
}

/// One generated position: (account, qty E8, entry E8, wallet E8, isolated margin).
#[derive(Clone, Copy)]
struct Gen {
    qty: i64,
    entry: i64,
    wallet: i64,
    isolated: Option<i64>,
}

fn gen(r: &mut Xoshiro256PlusPlus) -> Gen {
    // 0.001 .. 20 BTC, long or short, leverage 2x .. 100x, 20% isolated.
    let lots = (10f64.powf(r.gen_range(0.0..4.3))) as i64;
    let qty = lots * (E8 / 1000) * if r.gen_bool(0.5) { 1 } else { -1 };
    let entry = (MARK / TICK + r.gen_range(-5_000..5_000)) * TICK;
    let notional = (i128::from(qty.abs()) * i128::from(MARK) / i128::from(E8)) as i64;
    let lev = r.gen_range(2..100);
    let margin = notional / lev;
    if r.gen_bool(0.2) {
        Gen {
            qty,
            entry,
            wallet: r.gen_range(0..1000) * E8,
            isolated: Some(margin),
        }
    } else {
        Gen {
            qty,
            entry,
            wallet: margin,
            isolated: None,
        }
    }
}

/// `ticked` accounts with a position in instrument 0, `others` accounts with one in instrument 1.
fn build(ticked: usize, others: usize) -> (MarginState, Vec<(u32, Gen)>) {
    let mut r = Xoshiro256PlusPlus::seed_from_u64(42);
    let mut st = MarginState::new(
        vec![instrument("BTCUSDT"), instrument("ETHUSDT")],
        vec![MARK, MARK],
    )
    .unwrap();
    st.reserve(0, ticked, ticked + others);
    st.reserve(1, others, 0);
    let mut gens = Vec::with_capacity(ticked);
    for a in 0..(ticked + others) as u32 {
        let g = gen(&mut r);
        let instr = u16::from(a as usize >= ticked);
        st.add_account(a, g.wallet).unwrap();
        let mode = if g.isolated.is_some() {
            MarginMode::Isolated
        } else {
            MarginMode::Cross
        };
        st.add_position(a, instr, g.qty, g.entry, mode, g.isolated)
            .unwrap();
        if instr == 0 {
            gens.push((a, g));
        }
    }
    st.evaluate_all();
    (st, gens)
}

/// The baseline: array of structs with f64, accounts in a HashMap.
struct BaselinePos {
    account: u32,
    qty: f64,
    entry: f64,
    upnl: f64,
    mm: f64,
}

#[derive(Default)]
struct BaselineAccount {
    balance: f64,
    upnl: f64,
    mm: f64,
    liquidatable: bool,
}

struct Baseline {
    caps: Vec<f64>,
    rates: Vec<f64>,
    cums: Vec<f64>,
    positions: Vec<BaselinePos>,
    accounts: HashMap<u32, BaselineAccount>,
    crossings: Vec<u32>,
}

impl Baseline {
    fn new(gens: &[(u32, Gen)], other_accounts: usize) -> Self {
        let b = brackets();
        let caps: Vec<f64> = b
            .iter()
            .map(|x| {
                x.notional_cap_e8
                    .map_or(f64::INFINITY, |c| c as f64 / E8 as f64)
            })
            .collect();
        let rates: Vec<f64> = b
            .iter()
            .map(|x| x.maintenance_margin_rate_e8 as f64 / E8 as f64)
            .collect();
        let mut cums = vec![0.0];
        for i in 1..rates.len() {
            cums.push(cums[i - 1] + caps[i - 1] * (rates[i] - rates[i - 1]));
        }
        let mut accounts = HashMap::new();
        for &(a, g) in gens {
            accounts.insert(
                a,
                BaselineAccount {
                    balance: (g.isolated.unwrap_or(g.wallet)) as f64 / E8 as f64,
                    ..Default::default()
                },
            );
        }
        for a in 0..other_accounts as u32 {
            accounts.insert(gens.len() as u32 + a, BaselineAccount::default());
        }
        let positions = gens
            .iter()
            .map(|&(a, g)| BaselinePos {
                account: a,
                qty: g.qty as f64 / E8 as f64,
                entry: g.entry as f64 / E8 as f64,
                upnl: 0.0,
                mm: 0.0,
            })
            .collect();
        let mut s = Self {
            caps,
            rates,
            cums,
            positions,
            accounts,
            crossings: Vec::with_capacity(gens.len()),
        };
        s.on_mark(MARK as f64 / E8 as f64);
        s
    }

    fn on_mark(&mut self, mark: f64) {
        self.crossings.clear();
        for p in &mut self.positions {
            let upnl = p.qty * (mark - p.entry);
            let notional = p.qty.abs() * mark;
            let mut t = 0;
            while notional > self.caps[t] {
                t += 1;
            }
            let mm = notional * self.rates[t] - self.cums[t];
            let acc = self.accounts.get_mut(&p.account).unwrap();
            acc.upnl += upnl - p.upnl;
            acc.mm += mm - p.mm;
            p.upnl = upnl;
            p.mm = mm;
            let liq = acc.balance + acc.upnl <= acc.mm;
            if liq != acc.liquidatable {
                acc.liquidatable = liq;
                self.crossings.push(p.account);
            }
        }
    }
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
        let (mut st, gens) = build(n, total - n);
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
                base.on_mark(black_box(m));
                black_box(base.crossings.len());
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("mark_tick_moving");
    for &n in &sizes {
        let (mut st, _) = build(n, total - n);
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
        let (mut st, _) = build(n, m);
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
