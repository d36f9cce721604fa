//! The liquidation decision for one breached account, including the book walk.
//!
//! - `decision/partial_20_levels`: `Policy::on_breach` for a cross account whose partial needs
//!   19 of the 20 bid levels, plus the `on_ack` that returns the account to `Normal` so the next
//!   iteration decides again (the ack is the small part: see `ack_only`).
//! - `decision/full_20_levels`: the same below the full threshold (no partial solve).
//! - `decision_only/partial_20_levels`, `decision_only/full_20_levels`: `on_breach` alone, per
//!   account: 64 accounts in the same breach decided back to back (timed), their acks untimed.
//! - `decision/harness_baseline`: the harness alone.
//! - `kernels/*`: the book walk and the partial solve alone.
//!
//! Target (issue 4): under 200 ns for the decision including a 20-level walk.

use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, Criterion};
use hotrisk_engine::policy::book::Book;
use hotrisk_engine::policy::metrics::OrderMetrics;
use hotrisk_engine::policy::spec::InstrumentSpec;
use hotrisk_engine::policy::tiers::{PartialInput, PositionView, ScopeView};
use hotrisk_engine::policy::{sizing, tiers, BreachInput, Policy, PolicyConfig, TriggerInfo};
use hotrisk_feed::fixed::E8;
use hotrisk_feed::wire::{AckStatus, Msg, MsgKind, Order, Side};

#[path = "../tests/policy_common/mod.rs"]
mod policy_common;

const MARK: i64 = 49_000 * E8;

/// Accounts decided per timed batch in `decision_only`.
const BATCH: usize = 64;

/// The BTCUSDT-like instrument of the policy tests (one definition for tests and bench).
fn spec() -> InstrumentSpec {
    policy_common::btc()
}

fn rec(kind: MsgKind, ts: i64, aux: u8, body: [i64; 3]) -> Msg {
    Msg {
        seq: 1,
        exch_ts: ts,
        local_ts: ts,
        publish_ts: ts,
        kind: kind as u8,
        aux,
        instrument: 0,
        account: 0,
        body,
    }
}

fn policy() -> Policy {
    let mut cfg = PolicyConfig {
        cancel_first: false,
        ..PolicyConfig::default()
    };
    cfg.tiers.slippage = E8 / 1000;
    cfg.ack_timeout_ns = i64::MAX / 4;
    let mut p = Policy::new(cfg, vec![spec()], 1024, 1_000_000 * E8);
    p.on_market(&rec(MsgKind::IndexPrice, 1, 0, [MARK, 0, 0]));
    p.on_market(&rec(MsgKind::MarkPrice, 1, 0, [MARK, 0, 0]));
    p.on_market(&rec(MsgKind::SnapshotBegin, 1, 0, [0; 3]));
    for i in 1..=20 {
        // 0.01 BTC per level: the 0.181 BTC partial walks 19 levels
        p.on_market(&rec(
            MsgKind::BookLevel,
            1,
            Side::Buy as u8,
            [MARK - i * E8, E8 / 100, 0],
        ));
        p.on_market(&rec(
            MsgKind::BookLevel,
            1,
            Side::Sell as u8,
            [MARK + i * E8, E8 / 100, 0],
        ));
    }
    p.on_market(&rec(MsgKind::SnapshotEnd, 1, 0, [0; 3]));
    p
}

fn bench(c: &mut Criterion) {
    let s = spec();
    let pos = PositionView {
        instrument: 0,
        qty: E8,
        entry: 50_000 * E8,
        maintenance: 196 * E8,
    };
    let positions = [pos];
    let marks = [MARK];
    let mut g = c.benchmark_group("decision");
    for (name, mb) in [("partial_20_levels", 190 * E8), ("full_20_levels", 90 * E8)] {
        let mut p = policy();
        let input = BreachInput {
            account: 7,
            scope: ScopeView {
                margin_balance: mb,
                maintenance: 196 * E8,
            },
            positions: &positions,
            marks: &marks,
        };
        let mut last = <Order as bytemuck::Zeroable>::zeroed();
        let mut sink = |o: Order, _m: OrderMetrics| last = o;
        let mut seq = 0u64;
        // sanity: the decision sends what the name says
        let o = p.on_breach(
            &input,
            TriggerInfo {
                seq: 0,
                ts: 2,
                publish_ts: 0,
            },
            &mut sink,
        );
        assert!(
            matches!(o, hotrisk_engine::policy::Outcome::Sent(_)),
            "{o:?}"
        );
        let ack = |id: u64| Msg {
            account: 7,
            body: [id as i64, 0, 0],
            ..rec(MsgKind::OrderAck, 3, AckStatus::Filled as u8, [0; 3])
        };
        p.on_ack(&ack(last.order_id), 0).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| {
                seq += 1;
                let mut id = 0;
                let out = p.on_breach(
                    black_box(&input),
                    TriggerInfo {
                        seq,
                        ts: 2,
                        publish_ts: 0,
                    },
                    &mut |o: Order, _m: OrderMetrics| id = o.order_id,
                );
                black_box(out);
                p.on_ack(&ack(id), 0)
            })
        });
    }
    // baseline: the harness alone (a counter through black_box)
    let mut n = 0u64;
    g.bench_function("harness_baseline", |b| {
        b.iter(|| {
            n += 1;
            black_box(n)
        })
    });
    g.finish();

    // The decision alone: BATCH accounts in the same breach decided back to back (timed), then
    // their acks (untimed), so the figure is `on_breach` only, per account.
    let mut g = c.benchmark_group("decision_only");
    for (name, mb) in [("partial_20_levels", 190 * E8), ("full_20_levels", 90 * E8)] {
        let mut p = policy();
        let inputs: Vec<BreachInput<'_>> = (1..=BATCH as u32)
            .map(|account| BreachInput {
                account,
                scope: ScopeView {
                    margin_balance: mb,
                    maintenance: 196 * E8,
                },
                positions: &positions,
                marks: &marks,
            })
            .collect();
        let ack = |account: u32, id: u64| Msg {
            account,
            body: [id as i64, 0, 0],
            ..rec(MsgKind::OrderAck, 3, AckStatus::Filled as u8, [0; 3])
        };
        let mut ids = [0u64; BATCH];
        let mut seq = 0u64;
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut done = 0u64;
                while done < iters {
                    let n = (iters - done).min(BATCH as u64) as usize;
                    seq += 1;
                    let t = Instant::now();
                    for (input, id) in inputs[..n].iter().zip(ids.iter_mut()) {
                        black_box(p.on_breach(
                            black_box(input),
                            TriggerInfo {
                                seq,
                                ts: 2,
                                publish_ts: 0,
                            },
                            &mut |o: Order, _m: OrderMetrics| *id = o.order_id,
                        ));
                    }
                    total += t.elapsed();
                    for (input, &id) in inputs[..n].iter().zip(&ids) {
                        assert_ne!(id, 0, "account {} sent nothing", input.account);
                        p.on_ack(&ack(input.account, id), 0)
                            .expect("the ack matches the order just sent");
                    }
                    done += n as u64;
                }
                total
            })
        });
    }

    g.finish();

    let mut k = c.benchmark_group("kernels");
    let book = {
        let mut b = Book::new();
        for i in 1..=20 {
            b.apply(Side::Buy, MARK - i * E8, E8 / 100);
        }
        b
    };
    let limit = sizing::limit_price(&s, Side::Sell, MARK, E8 / 1000, Some(48_810 * E8)).unwrap();
    k.bench_function("walk_20_levels", |b| {
        b.iter(|| {
            sizing::walk(
                &s,
                black_box(book.bids()),
                Side::Sell,
                black_box(E8),
                limit,
                Some(48_810 * E8),
            )
        })
    });
    let pi = PartialInput {
        sign: 1,
        abs_qty: E8,
        mark: MARK,
        limit,
        margin_balance: 190 * E8,
        mm_others: 0,
        buffer: E8 / 10,
    };
    k.bench_function("partial_solve", |b| {
        b.iter(|| tiers::partial_qty(&s, black_box(&pi)))
    });
    k.finish();
}

criterion_group!(benches, bench);

/// `DECISION_LOOP=N cargo bench --bench decision` runs N partial decisions (with their acks)
/// and nothing else, for `perf stat -e cycles:u,instructions:u`: user-mode cycles per decision
/// do not count the time the thread was preempted, which on a shared 2-core machine dominates
/// criterion's wall-clock figures. Where there is no `perf`, callgrind counts the same
/// instructions: run the binary (`target/release/deps/decision-*` after `cargo bench --no-run`)
/// under `valgrind --tool=callgrind` with `DECISION_LOOP=1000` and `11000`; instructions per
/// decision (with its ack) = the difference of the two totals / 10 000. With `DECISION_FULL=1`
/// the loop runs the `full_20_levels` case instead.
fn fixed_loop(n: u64) {
    let pos = PositionView {
        instrument: 0,
        qty: E8,
        entry: 50_000 * E8,
        maintenance: 196 * E8,
    };
    let positions = [pos];
    let marks = [MARK];
    let input = BreachInput {
        account: 7,
        scope: ScopeView {
            margin_balance: if std::env::var_os("DECISION_FULL").is_some() {
                90 * E8
            } else {
                190 * E8
            },
            maintenance: 196 * E8,
        },
        positions: &positions,
        marks: &marks,
    };
    let mut p = policy();
    let mut sent = 0u64;
    for seq in 0..n {
        let mut id = 0;
        p.on_breach(
            black_box(&input),
            TriggerInfo {
                seq,
                ts: 2,
                publish_ts: 0,
            },
            &mut |o: Order, _m: OrderMetrics| id = o.order_id,
        );
        sent += u64::from(id != 0);
        let ack = Msg {
            account: 7,
            body: [id as i64, 0, 0],
            ..rec(MsgKind::OrderAck, 3, AckStatus::Filled as u8, [0; 3])
        };
        black_box(p.on_ack(&ack, 0));
    }
    println!("{sent} decisions");
}

fn main() {
    match std::env::var("DECISION_LOOP")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        Some(n) => fixed_loop(n),
        None => {
            benches();
            Criterion::default().configure_from_args().final_summary();
        }
    }
}
