//! Invariants of the margin state and math, on random portfolios, ticks, fills and collateral
//! changes:
//! - the incremental state (bands, tracked statuses, dense tables with swap-removes, unit links)
//!   equals a from-scratch rebuild after every operation, and the crossings reported are exactly
//!   the units whose status changed;
//! - a fill at the mark conserves equity up to the fee (linear exactly; inverse within 4·10^-16,
//!   against the account);
//! - monotonicity: a worse mark never raises equity or slack; a larger notional never lowers
//!   maintenance;
//! - continuity of maintenance across every tier boundary;
//! - the liquidation price lies on the correct side of the mark for the unit's status.

mod common;

use std::collections::HashMap;

use common::{next_mark, world, E8};
use hotrisk_engine::margin::math;
use hotrisk_engine::margin::{Crossings, Instrument, Kind, MarginMode, MarginState, CROSS};
use proptest::prelude::*;
use rand::Rng;

/// Tracked status of every unit that holds positions: (account, instrument or CROSS) → status.
fn statuses(st: &MarginState) -> HashMap<(u32, u16), bool> {
    let mut m = HashMap::new();
    for a in st.account_ids() {
        if st.account(a).unwrap().cross_positions > 0 {
            m.insert((a, CROSS), st.tracked_liquidatable(a, CROSS).unwrap());
        }
        st.for_each_position(a, |p| {
            if p.mode == MarginMode::Isolated {
                m.insert(
                    (a, p.instrument),
                    st.tracked_liquidatable(a, p.instrument).unwrap(),
                );
            }
        });
    }
    m
}

fn equity(st: &MarginState, a: u32) -> i128 {
    let mut e = st.account(a).unwrap().margin_balance;
    st.for_each_position(a, |p| {
        if p.mode == MarginMode::Isolated {
            e += p.isolated_margin + p.unrealized_pnl;
        }
    });
    e
}

fn same_as_rebuild(st: &MarginState) -> Result<(), TestCaseError> {
    st.check_links().map_err(TestCaseError::fail)?;
    let fresh = st.rebuilt();
    let mut ids: Vec<u32> = st.account_ids().collect();
    ids.sort_unstable();
    for a in ids {
        prop_assert_eq!(st.account(a), fresh.account(a));
        let mut p1 = st.positions(a);
        let mut p2 = fresh.positions(a);
        p1.sort_by_key(|p| p.instrument);
        p2.sort_by_key(|p| p.instrument);
        prop_assert_eq!(&p1, &p2);
        prop_assert_eq!(
            st.tracked_liquidatable(a, CROSS),
            fresh.tracked_liquidatable(a, CROSS)
        );
        for p in &p1 {
            if p.mode == MarginMode::Isolated {
                prop_assert_eq!(
                    st.tracked_liquidatable(a, p.instrument),
                    fresh.tracked_liquidatable(a, p.instrument)
                );
            }
        }
    }
    for i in 0..st.instruments().len() as u16 {
        prop_assert_eq!(st.positions_in(i), fresh.positions_in(i));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn incremental_state_equals_rebuild(seed in any::<u64>(), steps in 1usize..60) {
        let w = world(seed);
        let mut st = common::build(&w);
        let mut r = common::rng(seed ^ 0xf111);
        let accounts: Vec<u32> = w.wallets.iter().map(|x| x.0).collect();
        let n_instr = st.instruments().len();
        same_as_rebuild(&st)?;
        for _ in 0..steps {
            let before = statuses(&st);
            let mut out = Crossings::with_capacity(st.crossings_capacity() + 4);
            let op = r.gen_range(0..10);
            let i = r.gen_range(0..n_instr) as u16;
            let inst = st.instrument(i).unwrap().clone();
            let mark = st.mark(i).unwrap();
            let a = accounts[r.gen_range(0..accounts.len())];
            if op < 6 {
                let m = next_mark(&mut r, &inst, mark, 12.0);
                st.on_mark(i, m, &mut out).unwrap();
            } else if op < 9 {
                let held = st.position(a, i).map_or(0, |p| p.qty_e8);
                let lot = inst.lot_e8();
                let q = match r.gen_range(0..4) {
                    0 if held != 0 => -held,
                    1 if held != 0 => -held * 2,
                    _ => r.gen_range(-50i64..=50).max(1) * lot * if r.gen_bool(0.5) { 1 } else { -1 },
                };
                let fee = r.gen_range(0..1000i64);
                let eq0 = equity(&st, a);
                match st.apply_fill(a, i, q, mark, fee, &mut out) {
                    Ok(_) => {
                        // A fill at the mark changes equity by the fee only.
                        let d = equity(&st, a) - eq0 + i128::from(fee) * 100_000_000;
                        if inst.kind() == Kind::Linear {
                            prop_assert_eq!(d, 0, "linear fill must conserve equity exactly");
                        } else {
                            prop_assert!((-4..=0).contains(&d), "inverse fill: equity moved by {} beyond the fee", d);
                        }
                    }
                    Err(e) => {
                        // Only the margin-asset rule or bounds may refuse a generated fill.
                        let msg = e.to_string();
                        prop_assert!(msg.contains("margin asset") || msg.contains("out of range"), "{}", msg);
                    }
                }
            } else {
                let amt = r.gen_range(-100_000i64..100_000) * E8 / 100;
                let _ = st.apply_collateral(a, amt, &mut out);
            }
            // Crossings = exactly the status changes.
            let after = statuses(&st);
            let mut changed: Vec<(u32, u16, bool)> = after
                .iter()
                .filter(|(k, v)| before.get(k).copied().unwrap_or(false) != **v)
                .map(|(k, v)| (k.0, k.1, *v))
                .collect();
            // Units that disappeared (closed isolated positions) recover if they were flagged.
            for (k, v) in &before {
                if *v && !after.contains_key(k) {
                    changed.push((k.0, k.1, false));
                }
            }
            let mut got: Vec<(u32, u16, bool)> = out.as_slice().iter().map(|c| (c.account, c.instrument, c.liquidatable)).collect();
            changed.sort_unstable();
            got.sort_unstable();
            prop_assert_eq!(got, changed);
            same_as_rebuild(&st)?;
        }
    }

    #[test]
    fn worse_marks_never_help(seed in any::<u64>()) {
        let mut r = common::rng(seed);
        let (spec, mark, typical) = common::instrument(&mut r, 0);
        let inst = Instrument::new(spec).unwrap();
        let lots = (typical / inst.lot_e8()).max(1);
        let q = r.gen_range(1..=lots * 4) * inst.lot_e8() * if r.gen_bool(0.5) { 1 } else { -1 };
        let basis = math::cost_basis(&inst, q, mark);
        let m1 = next_mark(&mut r, &inst, mark, 60.0);
        let m2 = next_mark(&mut r, &inst, mark, 60.0);
        // `worse` is the mark that is worse for this position.
        let (worse, better) = if (q > 0) == (m1 < m2) { (m1, m2) } else { (m2, m1) };
        prop_assert!(math::upnl(&inst, q, basis, worse) <= math::upnl(&inst, q, basis, better));
        prop_assert!(math::slack(&inst, q, basis, worse) <= math::slack(&inst, q, basis, better));
        // Maintenance is monotone in the notional; the notional rises on the worse side for
        // linear shorts and inverse longs.
        let n1 = math::notional(&inst, q, worse);
        let n2 = math::notional(&inst, q, better);
        let (lo, hi) = if n1 <= n2 { (n1, n2) } else { (n2, n1) };
        prop_assert!(math::maintenance(&inst, lo).0 <= math::maintenance(&inst, hi).0);
        if (inst.kind() == Kind::Linear) == (q < 0) {
            prop_assert!(math::maintenance(&inst, n1).0 >= math::maintenance(&inst, n2).0);
        }
    }

    #[test]
    fn maintenance_is_continuous_across_tiers(seed in any::<u64>()) {
        let mut r = common::rng(seed);
        let (spec, _, _) = common::instrument(&mut r, 0);
        let inst = Instrument::new(spec).unwrap();
        let b = inst.brackets();
        for t in 0..b.len() - 1 {
            let cap = b[t].cap;
            let (at, ta) = math::maintenance(&inst, cap);
            let (above, tb) = math::maintenance(&inst, cap + 1);
            prop_assert_eq!((ta, tb), (t, t + 1));
            // The next tier's formula gives the same value at the cap: no jump.
            let next_formula = math::div_ceil(cap * i128::from(b[t + 1].mmr_e8), 100_000_000) - b[t + 1].cum;
            prop_assert_eq!(at, next_formula);
            prop_assert!((0..=1).contains(&(above - at)), "jump of {} at cap {}", above - at, cap);
        }
    }

    #[test]
    fn liquidation_price_is_on_the_correct_side(seed in any::<u64>()) {
        let w = world(seed);
        let st = common::build(&w);
        for &(a, _) in &w.wallets {
            for p in st.positions(a) {
                let mark = st.mark(p.instrument).unwrap();
                let Some(lp) = p.liquidation_price_e8 else { continue };
                let tol = 10 + mark / 1_000_000_000;
                let long = p.qty_e8 > 0;
                let ctx = format!("{p:?} mark {mark}");
                match (long, p.liquidatable) {
                    (true, false) => prop_assert!(lp <= mark + tol, "healthy long: liq price above the mark: {}", ctx),
                    (true, true) => prop_assert!(lp >= mark - tol, "liquidatable long: liq price below the mark: {}", ctx),
                    (false, false) => prop_assert!(lp >= mark - tol, "healthy short: liq price below the mark: {}", ctx),
                    (false, true) => prop_assert!(lp <= mark + tol, "liquidatable short: liq price above the mark: {}", ctx),
                }
                if let Some(bp) = p.bankruptcy_price_e8 {
                    // Bankruptcy is beyond liquidation (maintenance ≥ 0).
                    prop_assert!(if long { bp <= lp + tol } else { bp >= lp - tol }, "bankruptcy before liquidation: {}", ctx);
                }
            }
        }
    }
}
