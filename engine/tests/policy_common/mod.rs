//! Shared helpers of the `policy_*` tests: an instrument, a feed, and a one-instrument account
//! model small enough to check by hand.
#![allow(dead_code, unreachable_pub)]

use hotrisk_engine::policy::metrics::OrderMetrics;
use hotrisk_engine::policy::spec::{Bracket, ContractKind, InstrumentSpec};
use hotrisk_engine::policy::tiers::{PositionView, ScopeView};
use hotrisk_engine::policy::{BreachInput, Policy, PolicyConfig, TriggerInfo};
use hotrisk_feed::fixed::E8;
use hotrisk_feed::wire::{Msg, MsgKind, Order, Side};

pub const S: i64 = 1_000_000_000;

/// BTCUSDT-like: tick 0.1, lot 0.001, Binance's first three brackets, fee 0.05%.
pub fn btc() -> InstrumentSpec {
    InstrumentSpec::new(
        ContractKind::Linear,
        E8 / 10,
        E8 / 1000,
        E8,
        E8 / 2000,
        &[
            Bracket {
                cap: 50_000 * E8,
                mmr: E8 * 4 / 1000,
                cum: 0,
            },
            Bracket {
                cap: 250_000 * E8,
                mmr: E8 * 5 / 1000,
                cum: 50 * E8,
            },
            Bracket {
                cap: 0,
                mmr: E8 / 100,
                cum: 1_300 * E8,
            },
        ],
    )
    .unwrap()
}

/// BTCUSD inverse: $100 contracts, tick 0.5, lot 1 contract.
pub fn btcusd() -> InstrumentSpec {
    InstrumentSpec::new(
        ContractKind::Inverse,
        E8 / 2,
        E8,
        100 * E8,
        E8 / 2000,
        &[
            Bracket {
                cap: 5 * E8,
                mmr: E8 / 200,
                cum: 0,
            },
            Bracket {
                cap: 0,
                mmr: E8 / 100,
                cum: E8 / 40,
            },
        ],
    )
    .unwrap()
}

pub fn config() -> PolicyConfig {
    let mut c = PolicyConfig::default();
    c.tiers.slippage = E8 / 1000; // 0.1%
    c
}

pub fn msg(kind: MsgKind, instrument: u16, seq: u64, ts: i64, aux: u8, body: [i64; 3]) -> Msg {
    Msg {
        seq,
        exch_ts: ts,
        local_ts: ts,
        publish_ts: ts,
        kind: kind as u8,
        aux,
        instrument,
        account: 0,
        body,
    }
}

/// Feeds mark and index (equal) at `ts`.
pub fn prices(p: &mut Policy, inst: u16, ts: i64, mark: i64) {
    p.on_market(&msg(MsgKind::IndexPrice, inst, 0, ts, 0, [mark, 0, 0]));
    p.on_market(&msg(MsgKind::MarkPrice, inst, 0, ts, 0, [mark, 0, 0]));
}

/// Replaces the book with a snapshot.
pub fn book(p: &mut Policy, inst: u16, ts: i64, bids: &[(i64, i64)], asks: &[(i64, i64)]) {
    p.on_market(&msg(MsgKind::SnapshotBegin, inst, 0, ts, 0, [0; 3]));
    for &(px, q) in bids {
        p.on_market(&msg(
            MsgKind::BookLevel,
            inst,
            0,
            ts,
            Side::Buy as u8,
            [px, q, 0],
        ));
    }
    for &(px, q) in asks {
        p.on_market(&msg(
            MsgKind::BookLevel,
            inst,
            0,
            ts,
            Side::Sell as u8,
            [px, q, 0],
        ));
    }
    p.on_market(&msg(MsgKind::SnapshotEnd, inst, 0, ts, 0, [0; 3]));
}

/// Book levels `(price, qty)`, best first.
pub type Levels = Vec<(i64, i64)>;

/// `n` levels each side, `step` apart from `mark`, `qty` each.
pub fn ladder(mark: i64, step: i64, n: usize, qty: i64) -> (Levels, Levels) {
    let bids = (1..=n as i64).map(|i| (mark - i * step, qty)).collect();
    let asks = (1..=n as i64).map(|i| (mark + i * step, qty)).collect();
    (bids, asks)
}

/// A cross account with one position on one instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acct {
    pub id: u32,
    pub wallet: i64,
    pub qty: i64,
    pub entry: i64,
}

impl Acct {
    pub fn upnl(&self, spec: &InstrumentSpec, mark: i64) -> i64 {
        spec.realised_pnl(self.qty.signum(), self.qty.abs(), self.entry, mark)
    }
    pub fn mb(&self, spec: &InstrumentSpec, mark: i64) -> i64 {
        self.wallet
            + if self.qty == 0 {
                0
            } else {
                self.upnl(spec, mark)
            }
    }
    pub fn mm(&self, spec: &InstrumentSpec, mark: i64) -> i64 {
        spec.maintenance(spec.notional(self.qty.abs(), mark))
    }
    pub fn breached(&self, spec: &InstrumentSpec, mark: i64) -> bool {
        self.qty != 0 && self.mb(spec, mark) <= self.mm(spec, mark)
    }
    pub fn views(&self, spec: &InstrumentSpec, inst: u16, mark: i64) -> (ScopeView, PositionView) {
        let mm = self.mm(spec, mark);
        (
            ScopeView {
                margin_balance: self.mb(spec, mark),
                maintenance: mm,
            },
            PositionView {
                instrument: inst,
                qty: self.qty,
                entry: self.entry,
                maintenance: mm,
            },
        )
    }
}

/// Runs one decision for `a`, collecting orders.
pub fn decide(
    p: &mut Policy,
    spec: &InstrumentSpec,
    inst: u16,
    a: &Acct,
    mark: i64,
    seq: u64,
    ts: i64,
) -> (hotrisk_engine::policy::Outcome, Vec<(Order, OrderMetrics)>) {
    let (scope, pos) = a.views(spec, inst, mark);
    let positions = [pos];
    let marks = [mark];
    let input = BreachInput {
        account: a.id,
        scope,
        positions: &positions,
        marks: &marks,
    };
    let mut out = Vec::new();
    let o = p.on_breach(
        &input,
        TriggerInfo {
            seq,
            ts,
            publish_ts: ts,
        },
        &mut |o, m| out.push((o, m)),
    );
    (o, out)
}

/// An ack record.
pub fn ack(account: u32, inst: u16, status: u8, order_id: u64, filled: i64, avg: i64) -> Msg {
    Msg {
        seq: 0,
        exch_ts: 0,
        local_ts: 0,
        publish_ts: 0,
        kind: MsgKind::OrderAck as u8,
        aux: status,
        instrument: inst,
        account,
        body: [order_id as i64, filled, avg],
    }
}

pub mod sim {
    //! A small deterministic exchange around the policy: accounts with one BTC position each, a
    //! falling price path with books regenerated each tick (sometimes with no bids), a matching
    //! engine that fills IOC orders against the book, executes backstop and ADL transfers, and
    //! keeps the conservation ledger from the amounts the policy reports.

    use super::*;
    use hotrisk_engine::policy::insurance::Ledger;
    use hotrisk_engine::policy::tiers::AdlRanking;
    use hotrisk_feed::wire::{AckStatus, Tier};
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256StarStar;

    pub struct Run {
        pub orders: Vec<Order>,
        pub ledger: Ledger,
        pub opening_total: i128,
        pub wallets: Vec<i64>,
        pub fund: i64,
        pub tiers: [u64; 5],
        pub accounts: Vec<Acct>,
        pub metrics: hotrisk_engine::policy::metrics::InstrumentMetrics,
        pub fund_change: i64,
    }

    pub fn run(seed: u64, accounts: usize, ticks: usize, fund: i64) -> Run {
        run_with(seed, accounts, ticks, fund, 0.15, 60)
    }

    /// `thin`: probability that a tick's book has no bids at all; `fall`: the mark's mean fall
    /// per tick (USDT) over the first two thirds.
    pub fn run_with(
        seed: u64,
        accounts: usize,
        ticks: usize,
        fund: i64,
        thin: f64,
        fall: i64,
    ) -> Run {
        let spec = btc();
        let mut rng = Xoshiro256StarStar::seed_from_u64(seed);
        let mut cfg = config();
        cfg.tiers.slippage = E8 / 500;
        cfg.ack_timeout_ns = S;
        let mut p = Policy::new(cfg, vec![spec], accounts, fund);
        let mut accts: Vec<Acct> = (0..accounts as u32)
            .map(|id| {
                let qty = spec.floor_lot(rng.gen_range(E8 / 10..3 * E8));
                let qty = if rng.gen_bool(0.6) { qty } else { -qty };
                let entry = 50_000 * E8 + rng.gen_range(-500i64..500) * E8;
                let lev = rng.gen_range(5i64..60);
                let wallet = spec.notional(qty.abs(), entry) / lev;
                Acct {
                    id,
                    wallet,
                    qty,
                    entry,
                }
            })
            .collect();
        let mut ledger = Ledger::open(accts.iter().map(|a| a.wallet), p.fund());
        let opening_total = ledger.total();
        let mut orders = Vec::new();
        let mut tiers = [0u64; 5];
        let mut mark = 50_000 * E8;
        let mut seq = 0u64;
        for k in 0..ticks {
            let ts = (k as i64 + 1) * S / 10;
            let drift = if k < ticks * 2 / 3 { -fall } else { 40 };
            mark = spec.round_tick(mark + (drift + rng.gen_range(-40i64..40)) * E8, false);
            seq += 1;
            prices(&mut p, 0, ts, mark);
            let thin = rng.gen_bool(thin);
            let mut bids: Vec<(i64, i64)> = (1..=20)
                .map(|i| {
                    (
                        mark - i * 5 * E8,
                        spec.floor_lot(rng.gen_range(E8 / 20..E8)),
                    )
                })
                .collect();
            if thin {
                bids.clear();
            }
            let mut asks: Vec<(i64, i64)> = (1..=20)
                .map(|i| {
                    (
                        mark + i * 5 * E8,
                        spec.floor_lot(rng.gen_range(E8 / 20..E8)),
                    )
                })
                .collect();
            book(&mut p, 0, ts, &bids, &asks);
            // ADL ranking from the current state.
            for a in &accts {
                let score = AdlRanking::score(
                    if a.qty == 0 { 0 } else { a.upnl(&spec, mark) },
                    spec.notional(a.qty.abs(), a.entry),
                    spec.notional(a.qty.abs(), mark),
                    a.mb(&spec, mark),
                );
                p.adl_mut(0).set(a.id, a.qty, score);
            }
            let mut expired = Vec::new();
            p.on_time(ts, |a| expired.push(a));
            for id in 0..accounts {
                let a = accts[id];
                if !a.breached(&spec, mark) {
                    if a.qty != 0 || a.wallet >= 0 {
                        p.on_recovered(a.id);
                    }
                    continue;
                }
                let (_, out) = decide(&mut p, &spec, 0, &a, mark, seq, ts);
                for (o, m) in out {
                    orders.push(o);
                    tiers[m.tier as usize] += 1;
                    execute(
                        &mut p,
                        &spec,
                        &mut accts,
                        &mut ledger,
                        &mut bids,
                        &mut asks,
                        o,
                        m,
                        mark,
                    );
                }
                // accounts closed out with a negative wallet
                for a in accts.iter_mut() {
                    if a.qty == 0 && a.wallet < 0 {
                        let covered = p.cover_negative(a.id, 0, -a.wallet);
                        ledger.write_off(&mut a.wallet, covered);
                    }
                }
            }
        }
        Run {
            orders,
            ledger,
            opening_total,
            wallets: accts.iter().map(|a| a.wallet).collect(),
            fund: p.fund().balance(),
            tiers,
            accounts: accts,
            metrics: *p.metrics(0),
            fund_change: p.fund().change(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn execute(
        p: &mut Policy,
        spec: &InstrumentSpec,
        accts: &mut [Acct],
        ledger: &mut Ledger,
        bids: &mut [(i64, i64)],
        asks: &mut [(i64, i64)],
        o: Order,
        m: OrderMetrics,
        mark: i64,
    ) {
        let id = o.account as usize;
        if o.kind == MsgKind::CancelAll as u8 {
            p.on_ack(
                &ack(o.account, 0, AckStatus::Cancelled as u8, o.order_id, 0, 0),
                0,
            )
            .unwrap();
            return;
        }
        let sign = accts[id].qty.signum();
        match Tier::from_u8(o.tier).unwrap() {
            Tier::Partial | Tier::Full => {
                assert!(o.qty <= accts[id].qty.abs(), "reduce-only");
                let levels: &mut [(i64, i64)] = if o.side == Side::Sell as u8 {
                    bids
                } else {
                    asks
                };
                let (mut filled, mut cost) = (0i64, 0i128);
                for l in levels.iter_mut() {
                    let ok = if o.side == Side::Sell as u8 {
                        l.0 >= o.limit_price
                    } else {
                        l.0 <= o.limit_price
                    };
                    if !ok || filled == o.qty {
                        break;
                    }
                    let t = l.1.min(o.qty - filled);
                    l.1 -= t;
                    filled += t;
                    cost += t as i128 * l.0 as i128;
                    let pnl = spec.realised_pnl(sign, t, accts[id].entry, l.0);
                    ledger.realise(&mut accts[id].wallet, pnl);
                    accts[id].qty -= sign * t;
                }
                let avg = if filled > 0 {
                    (cost / filled as i128) as i64
                } else {
                    0
                };
                let status = if filled == o.qty {
                    AckStatus::Filled
                } else if filled > 0 {
                    AckStatus::Partial
                } else {
                    AckStatus::Cancelled
                };
                let left = accts[id].mb(spec, mark);
                let r = p
                    .on_ack(
                        &ack(o.account, 0, status as u8, o.order_id, filled, avg),
                        left,
                    )
                    .unwrap();
                ledger.fee(&mut accts[id].wallet, r.fee);
            }
            Tier::Backstop | Tier::Adl => {
                let q = o.qty.min(accts[id].qty.abs());
                let pnl = spec.realised_pnl(sign, q, accts[id].entry, o.limit_price);
                ledger.realise(&mut accts[id].wallet, pnl);
                accts[id].qty -= sign * q;
                // Every transfer is tracked: the bankrupt account's own order and each ADL
                // counterparty reduction. The fund's side (backstop, or the ADL remainder) is
                // booked by the policy on this ack.
                let before = p.fund().balance();
                let _ = p.on_ack(
                    &ack(
                        o.account,
                        0,
                        AckStatus::Filled as u8,
                        o.order_id,
                        q,
                        o.limit_price,
                    ),
                    0,
                );
                let moved = p.fund().balance() - before;
                if moved != 0 {
                    ledger.backstop(moved);
                }
                let _ = m;
            }
            Tier::Cancel => unreachable!(),
        }
    }
}
