//! Properties on random books and accounts, against an exact rational reference that shares no
//! arithmetic with the policy: no order is priced beyond the bankruptcy price, no order exceeds
//! the position, and a partial leaves the account at or above maintenance when it fills at its
//! limit and pays the fee.

mod policy_common;

use hotrisk_engine::policy::spec::{Bracket, ContractKind, InstrumentSpec};
use hotrisk_engine::policy::{Policy, PolicyConfig};
use hotrisk_feed::fixed::E8;
use hotrisk_feed::wire::{MsgKind, Side, Tier};
use num_bigint::BigInt;
use num_rational::BigRational;
use policy_common::*;
use proptest::prelude::*;

fn r(v: i64) -> BigRational {
    BigRational::new(BigInt::from(v), BigInt::from(E8))
}

/// Exact notional of `q` at `p` (real units).
fn notional(spec: &InstrumentSpec, q: i64, p: i64) -> BigRational {
    match spec.kind {
        ContractKind::Linear => r(q) * r(p),
        ContractKind::Inverse => r(q) * r(spec.contract_size) / r(p),
    }
}

/// Exact maintenance from the bracket table (cum derived from the definition).
fn maintenance(spec: &InstrumentSpec, n: &BigRational) -> BigRational {
    let b = spec.brackets();
    let mut cum = r(0);
    for t in 0..b.len() {
        if t > 0 {
            cum += r(b[t - 1].cap) * (r(b[t].mmr) - r(b[t - 1].mmr));
        }
        if t + 1 == b.len() || *n <= r(b[t].cap) {
            return n * r(b[t].mmr) - cum;
        }
    }
    unreachable!()
}

/// Exact change of the scope balance when `q` of a position of `sign` is valued at `p`
/// instead of `mark`.
fn value_change(spec: &InstrumentSpec, sign: i64, q: i64, mark: i64, p: i64) -> BigRational {
    let s = BigRational::from_integer(BigInt::from(sign));
    match spec.kind {
        ContractKind::Linear => s * r(q) * (r(p) - r(mark)),
        ContractKind::Inverse => {
            s * r(q) * r(spec.contract_size) * (r(E8) / r(mark) - r(E8) / r(p))
        }
    }
}

fn brackets_from(mmr0: i64, cap0: i64) -> Vec<Bracket> {
    let b0 = Bracket {
        cap: cap0,
        mmr: mmr0,
        cum: 0,
    };
    let b1 = Bracket {
        cap: cap0 * 5,
        mmr: mmr0 * 2,
        cum: (cap0 as i128 * mmr0 as i128 / E8 as i128) as i64,
    };
    let b2 = Bracket {
        cap: 0,
        mmr: mmr0 * 4,
        cum: (11 * cap0 as i128 * mmr0 as i128 / E8 as i128) as i64,
    };
    vec![b0, b1, b2]
}

#[derive(Debug, Clone)]
struct Case {
    inverse: bool,
    mark_ticks: i64,
    sign: i64,
    lots: i64,
    entry_off: i64,
    deficit_pct: i64,
    mmr0: i64,
    fee: i64,
    slippage: i64,
    buffer: i64,
    levels: Vec<(i64, i64)>, // (ticks from mark, lots)
    fund: i64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        any::<bool>(),
        1_000i64..200_000,
        prop_oneof![Just(1i64), Just(-1i64)],
        1i64..5_000,
        -2_000i64..2_000,
        1i64..160,
        (100_000i64..2_000_000, 0i64..100_000),
        (1_000i64..5_000_000, 0i64..30_000_000),
        proptest::collection::vec((-50i64..400, 1i64..2_000), 0..20),
        0i64..2_000,
    )
        .prop_map(
            |(
                inverse,
                mark_ticks,
                sign,
                lots,
                entry_off,
                deficit_pct,
                (mmr0, fee),
                (slippage, buffer),
                levels,
                fund,
            )| Case {
                inverse,
                mark_ticks,
                sign,
                lots,
                entry_off,
                deficit_pct,
                mmr0,
                fee,
                slippage,
                buffer,
                levels,
                fund,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn orders_respect_bankruptcy_position_and_maintenance(c in case()) {
        let tick = E8 / 10;
        let (kind, lot, cs) = if c.inverse {
            (ContractKind::Inverse, E8, 100 * E8)
        } else {
            (ContractKind::Linear, E8 / 1000, E8)
        };
        let mark = c.mark_ticks * tick;
        let probe = InstrumentSpec::new(kind, tick, lot, cs, c.fee, &[Bracket { cap: 0, mmr: c.mmr0, cum: 0 }]).unwrap();
        let cap0 = (probe.notional(c.lots * lot, mark) / 3).max(1);
        let spec = InstrumentSpec::new(kind, tick, lot, cs, c.fee, &brackets_from(c.mmr0, cap0)).unwrap();
        let mut cfg = PolicyConfig { cancel_first: false, ..PolicyConfig::default() };
        cfg.tiers.slippage = c.slippage;
        cfg.tiers.buffer = c.buffer;
        let mut p = Policy::new(cfg, vec![spec], 4, c.fund * E8 / 100);
        prices(&mut p, 0, 0, mark);
        // levels: positive ticks = worse for the closing side
        let side = if c.sign > 0 { Side::Buy } else { Side::Sell };
        p.on_market(&msg(MsgKind::SnapshotBegin, 0, 0, 0, 0, [0; 3]));
        for &(t, l) in &c.levels {
            let px = if c.sign > 0 { mark - t * tick } else { mark + t * tick };
            if px > 0 {
                p.on_market(&msg(MsgKind::BookLevel, 0, 0, 0, side as u8, [px, l * lot, 0]));
            }
        }
        p.on_market(&msg(MsgKind::SnapshotEnd, 0, 0, 0, 0, [0; 3]));
        prop_assume!(!p.book(0).is_crossed());

        let q = c.lots * lot;
        let entry = (mark + c.entry_off * tick).max(tick);
        let mm = spec.maintenance(spec.notional(q, mark));
        let upnl = spec.realised_pnl(c.sign, q, entry, mark);
        // MB = MM·(1 − deficit%): from just below maintenance to deep below zero.
        let mb = mm - (mm as i128 * c.deficit_pct as i128 / 100) as i64 - 1;
        let a = Acct { id: 1, wallet: mb - upnl, qty: c.sign * q, entry };
        prop_assert_eq!(a.mb(&spec, mark), mb);
        let (_, orders) = decide(&mut p, &spec, 0, &a, mark, 1, 1);
        for (o, m) in &orders {
            if o.account != 1 {
                continue; // ADL counterparties (none ranked here)
            }
            let tier = Tier::from_u8(o.tier).unwrap();
            prop_assert!(o.qty > 0 && o.qty <= q, "qty {} of {}", o.qty, q);
            prop_assert!(o.flags & 1 == 1);
            prop_assert_eq!(o.side, if c.sign > 0 { Side::Sell as u8 } else { Side::Buy as u8 });
            // Not beyond bankruptcy: the scope balance at the order price is ≥ 0.
            let at_price = r(mb) + value_change(&spec, c.sign, q, mark, o.limit_price);
            prop_assert!(at_price >= r(0), "{tier:?} priced beyond bankruptcy: {} at {}", at_price, o.limit_price);
            prop_assert!(o.qty <= m.target_qty && m.target_qty <= q);
            if tier == Tier::Partial {
                // The partial's quantity (the order is that, or a slice of it when the book
                // is thinner), filled at the limit with the fee paid, restores maintenance.
                let x = m.target_qty;
                prop_assert!(x < q);
                prop_assert_eq!(x % lot, 0);
                prop_assert_eq!(o.qty % lot, 0);
                let fee = spec.liquidation_fee(x, o.limit_price, i64::MAX);
                let mb_after = r(mb) + value_change(&spec, c.sign, x, mark, o.limit_price) - r(fee);
                let mm_after = maintenance(&spec, &notional(&spec, q - x, mark));
                prop_assert!(mb_after >= mm_after, "partial leaves {} < {}", mb_after, mm_after);
            }
        }
    }
}
