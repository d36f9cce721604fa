//! The tuned decision kernels return the same bits as the original, plainly written ones
//! (`policy::reference`: `i128::div_euclid` arithmetic, one-pass walk) on random instruments,
//! accounts and books — linear and inverse, one to three brackets, any buffer and slippage.

mod policy_common;

use hotrisk_engine::policy::book::Book;
use hotrisk_engine::policy::reference as slow;
use hotrisk_engine::policy::spec::{Bracket, ContractKind, InstrumentSpec};
use hotrisk_engine::policy::tiers::{partial_slack, partial_solve, PartialInput};
use hotrisk_engine::policy::{sizing, tiers};
use hotrisk_feed::fixed::E8;
use hotrisk_feed::wire::Side;
use proptest::prelude::*;

fn spec(inverse: bool, mmr0: i64, cap0: i64, n: usize, fee: i64, tick: i64) -> InstrumentSpec {
    let (kind, lot, cs) = if inverse {
        (ContractKind::Inverse, E8, 100 * E8)
    } else {
        (ContractKind::Linear, E8 / 1000, E8)
    };
    let all = [
        Bracket {
            cap: cap0,
            mmr: mmr0,
            cum: 0,
        },
        Bracket {
            cap: cap0.saturating_mul(5),
            mmr: mmr0 * 2,
            cum: (cap0 as i128 * mmr0 as i128 / E8 as i128) as i64,
        },
        Bracket {
            cap: 0,
            mmr: mmr0 * 4,
            // deliberately a little off the continuous value: the kernels must agree anyway
            cum: (11 * cap0 as i128 * mmr0 as i128 / E8 as i128) as i64 - 7,
        },
    ];
    InstrumentSpec::new(kind, tick, lot, cs, fee, &all[..n]).unwrap()
}

#[derive(Debug, Clone)]
struct Case {
    inverse: bool,
    brackets: usize,
    mmr0: i64,
    cap_div: i64,
    fee: i64,
    mark: i64,
    sign: i64,
    lots: i64,
    deficit: i64,
    others: i64,
    buffer: i64,
    limit_off: i64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        (any::<bool>(), 1usize..=3, 50_000i64..3_000_000, 1i64..6),
        (0i64..1_000_000, 1_000i64..20_000_000),
        (prop_oneof![Just(1i64), Just(-1i64)], 1i64..200_000),
        (-2_000i64..20_000, 0i64..5_000 * E8, 0i64..50_000_000),
        -300i64..3_000,
    )
        .prop_map(
            |(
                (inverse, brackets, mmr0, cap_div),
                (fee, mark_ticks),
                (sign, lots),
                (deficit, others, buffer),
                limit_off,
            )| Case {
                inverse,
                brackets,
                mmr0,
                cap_div,
                fee,
                mark: mark_ticks * (E8 / 10),
                sign,
                lots,
                deficit,
                others,
                buffer,
                limit_off,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn partial_solve_matches_the_reference(c in case()) {
        let probe = spec(c.inverse, c.mmr0, i64::MAX / 4, 1, c.fee, E8 / 10);
        let q = c.lots * probe.lot;
        let cap0 = (probe.notional(q, c.mark) / c.cap_div).max(1);
        let s = spec(c.inverse, c.mmr0, cap0, c.brackets, c.fee, E8 / 10);
        let mm = s.maintenance(s.notional(q, c.mark));
        // MB from 20% above to 200% below maintenance (in 0.01% steps)
        let mb = mm - (mm as i128 * c.deficit as i128 / 10_000) as i64;
        // limit: up to 3% worse than the mark for the account, or a little better
        let off = (c.mark as i128 * c.limit_off as i128 / 100_000) as i64;
        let limit = (c.mark - c.sign * off).max(1);
        let p = PartialInput {
            sign: c.sign,
            abs_qty: q,
            mark: c.mark,
            limit,
            margin_balance: mb,
            mm_others: c.others,
            buffer: c.buffer,
        };
        let fast = partial_solve(&s, &p);
        prop_assert_eq!(fast.map(|x| x.qty), slow::partial_qty(&s, &p));
        prop_assert_eq!(tiers::partial_qty(&s, &p), slow::partial_qty(&s, &p));
        if let Some(x) = fast {
            // the parts it hands back are those of the slack at the quantity found
            prop_assert_eq!(partial_slack(&s, &p, x.qty), slow::partial_slack(&s, &p, x.qty));
            prop_assert_eq!(x.mm_rest, slow::maintenance(&s, slow::notional(&s, q - x.qty, c.mark)));
            prop_assert_eq!(x.loss, slow::close_loss(&s, c.sign, x.qty, c.mark, limit));
            prop_assert_eq!(x.fee, slow::fee(&s, x.qty, limit));
        }
        for x in [s.lot, q / 3, q - s.lot] {
            prop_assert_eq!(partial_slack(&s, &p, x), slow::partial_slack(&s, &p, x));
        }
    }

    /// Around the edges of the fast path's range (`Q·max(mark, limit)` near 2^88, buffers
    /// outside `[0, 1]`, other maintenance near 2^61, rates above 100%, large bracket amounts):
    /// the fast path and the general one must both agree with the reference.
    #[test]
    fn partial_solve_matches_the_reference_at_range_edges(
        log_qm in 60u32..96,
        mark_bits in 20u32..62,
        lots_frac in 1i64..1_000,
        sign in prop_oneof![Just(1i64), Just(-1i64)],
        buffer in prop_oneof![Just(0i64), Just(E8), Just(E8 + 1), Just(-1i64), -E8..3 * E8],
        others in prop_oneof![Just(0i64), Just((1i64 << 61) - 1), Just(1i64 << 61), 0i64..1 << 62],
        mmr in prop_oneof![Just(E8), Just(E8 + 1), 0i64..2 * E8],
        fee in prop_oneof![Just(E8), Just(E8 + 1), 0i64..2 * E8],
        cum in prop_oneof![Just(0i64), Just((1i64 << 62) - 1), Just(1i64 << 62)],
        deficit in -2_000i64..20_000,
        limit_off in -300i64..3_000,
        two in any::<bool>(),
    ) {
        let mark = (1i64 << mark_bits) + lots_frac;
        // Q so that Q·mark is about 2^log_qm, in whole lots (lot 0.001)
        let lot = E8 / 1000;
        let q_target = ((1u128 << log_qm) / mark as u128).min(i64::MAX as u128 / 2) as i64;
        let q = (q_target / lot).max(2) * lot;
        let off = (mark as i128 * limit_off as i128 / 100_000) as i64;
        let limit = (mark - sign * off).max(1);
        let cap0 = (q as i128 * mark as i128 / E8 as i128 / 3).clamp(1, i64::MAX as i128 / 4) as i64;
        let brackets = [
            Bracket { cap: cap0, mmr: mmr / 2, cum: 0 },
            Bracket { cap: 0, mmr, cum },
        ];
        let s = InstrumentSpec::new(
            ContractKind::Linear,
            E8 / 10,
            lot,
            E8,
            fee,
            &brackets[..if two { 2 } else { 1 }],
        )
        .unwrap();
        let mm = s.maintenance(s.notional(q, mark)) as i128;
        let mb = (mm - mm * deficit as i128 / 10_000).clamp(i64::MIN as i128, i64::MAX as i128) as i64;
        let p = PartialInput {
            sign,
            abs_qty: q,
            mark,
            limit,
            margin_balance: mb,
            mm_others: others,
            buffer,
        };
        let fast = partial_solve(&s, &p);
        prop_assert_eq!(fast.map(|x| x.qty), slow::partial_qty(&s, &p));
        if let Some(x) = fast {
            prop_assert_eq!(x.mm_rest, slow::maintenance(&s, slow::notional(&s, q - x.qty, mark)));
            prop_assert_eq!(x.loss, slow::close_loss(&s, sign, x.qty, mark, limit));
            prop_assert_eq!(x.fee, slow::fee(&s, x.qty, limit));
        }
    }

    #[test]
    fn walk_and_limit_match_the_reference(
        inverse in any::<bool>(),
        sell in any::<bool>(),
        mark_ticks in 1_000i64..2_000_000,
        slippage in 0i64..5_000_000,
        bp_off in prop::option::of(-500i64..500),
        want_lots in -2i64..3_000,
        levels in proptest::collection::vec((-100i64..600, 1i64..3_000, 0i64..1_000), 0..40),
        limit_shift in prop::option::of(-300i64..300),
    ) {
        let tick = E8 / 10;
        let s = spec(inverse, 500_000, i64::MAX / 4, 1, 0, tick);
        let mark = mark_ticks * tick;
        let side = if sell { Side::Sell } else { Side::Buy };
        // ticks away from the mark, + = worse for the order
        let at = |t: i64| if sell { mark - t * tick } else { mark + t * tick };
        let bp = bp_off.map(|t| at(t) + 3).filter(|&p| p > 0);
        let mut book = Book::new();
        for &(t, lots, frac) in &levels {
            // whole lots plus, sometimes, a sub-lot tail
            let px = at(t);
            if px > 0 {
                book.apply(if sell { Side::Buy } else { Side::Sell }, px, lots * s.lot + frac);
            }
        }
        let lim = sizing::limit_price(&s, side, mark, slippage, bp);
        prop_assert_eq!(lim, slow::limit_price(&s, side, mark, slippage, bp));
        let want = want_lots * s.lot;
        // the limit the policy would send, and (sometimes) arbitrary ones beyond bankruptcy
        let limit = match (lim, limit_shift) {
            (Some(l), None) => l,
            (Some(l), Some(sh)) => (l + sh * tick).max(tick),
            (None, _) => at(0),
        };
        let levels_side = book.contra(side);
        let exact = slow::walk(&s, levels_side, side, want, limit, bp);
        prop_assert_eq!(sizing::walk(&s, levels_side, side, want, limit, bp), exact);
        // The walk that computes the bankruptcy price only when it needs it, for a limit at or
        // better than the bankruptcy price (its precondition: the slippage bound binds).
        if bp.is_none_or(|b| if sell { limit >= b } else { limit <= b }) {
            let (lazy, computed) =
                sizing::walk_bound_binds(&s, levels_side, side, want, limit, || bp);
            prop_assert_eq!(lazy, exact);
            prop_assert!(computed.is_none_or(|c| c == bp));
        }
    }

    #[test]
    fn tick_and_lot_rounding_match_the_i128_forms(p in any::<i64>(), tick in 1i64..1_000_000_000, q in any::<i64>()) {
        let s = InstrumentSpec::new(ContractKind::Linear, tick, tick, E8, 0, &[Bracket { cap: 0, mmr: 1, cum: 0 }]).unwrap();
        let t = tick as i128;
        let sat = |v: i128| v.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
        prop_assert_eq!(s.round_tick(p, true), sat(-(-(p as i128)).div_euclid(t) * t));
        prop_assert_eq!(s.round_tick(p, false), sat((p as i128).div_euclid(t) * t));
        let qq = q.max(0) as i128;
        prop_assert_eq!(s.ceil_lot(q), sat(-(-qq).div_euclid(t) * t));
    }
}

#[test]
fn the_bench_case_matches() {
    // the decision benchmark's partial: 1 BTC long, 19 of 20 levels
    let s = policy_common::btc();
    let p = PartialInput {
        sign: 1,
        abs_qty: E8,
        mark: 49_000 * E8,
        limit: 48_951 * E8,
        margin_balance: 190 * E8,
        mm_others: 0,
        buffer: E8 / 10,
    };
    assert_eq!(
        partial_solve(&s, &p).map(|x| x.qty),
        slow::partial_qty(&s, &p)
    );
    assert!(partial_solve(&s, &p).is_some());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    /// The whole decision (`Policy::on_breach`: cached bounds and partial constants, the
    /// bankruptcy price left out while the slippage bound binds, the walk that checks the limit
    /// once) sends what the plain pieces say: the reference limit, partial quantity and walk with
    /// the exact bankruptcy price, on random accounts and books.
    #[test]
    fn decision_matches_the_reference_pieces(
        long in any::<bool>(),
        lots in 2i64..5_000,
        deficit in prop_oneof![-500i64..6_000, -1_000i64..15_000],
        levels in proptest::collection::vec(
            (prop_oneof![0i64..400, 0i64..40_000], 1i64..300, 0i64..1_000),
            0..30,
        ),
        slippage in prop_oneof![0i64..600_000, 0i64..3_000_000],
        decisions in 1usize..3,
    ) {
        use hotrisk_engine::policy::tiers::{PositionView, ScopeView};
        use hotrisk_engine::policy::{BreachInput, Outcome, Policy, TriggerInfo, Wait};
        use hotrisk_feed::wire::Tier;
        let spec = policy_common::btc();
        let mark = 49_000 * E8;
        let mut cfg = policy_common::config();
        cfg.cancel_first = false;
        cfg.tiers.slippage = slippage;
        cfg.ack_timeout_ns = i64::MAX / 4;
        let mut p = Policy::new(cfg, vec![spec], 16, 1_000_000 * E8);
        policy_common::prices(&mut p, 0, 1, mark);
        let tick = spec.tick;
        let at = |t: i64| if long { mark - t * tick } else { mark + t * tick };
        let contra: Vec<(i64, i64)> =
            levels.iter().map(|&(t, l, f)| (at(t), l * spec.lot + f)).collect();
        if long {
            policy_common::book(&mut p, 0, 1, &contra, &[]);
        } else {
            policy_common::book(&mut p, 0, 1, &[], &contra);
        }
        let (sign, side) = if long { (1, Side::Sell) } else { (-1, Side::Buy) };
        let q = lots * spec.lot;
        let mm = spec.maintenance(spec.notional(q, mark));
        let mb = mm - (mm as i128 * deficit as i128 / 10_000) as i64;
        let positions = [PositionView { instrument: 0, qty: sign * q, entry: mark, maintenance: mm }];
        let marks = [mark];
        let input = BreachInput {
            account: 3,
            scope: ScopeView { margin_balance: mb, maintenance: mm },
            positions: &positions,
            marks: &marks,
        };
        // The expected decision from the plain pieces.
        let bp = spec.bankruptcy_price(sign, q, mark, mb);
        let expected = if bp.is_none() && mb <= 0 {
            (Outcome::Sent(Tier::Backstop), None)
        } else {
            match slow::limit_price(&spec, side, mark, slippage, bp) {
                None => (Outcome::Waiting(Wait::Nothing), None),
                Some(limit) => {
                    let full = i128::from(mb) * i128::from(E8)
                        <= i128::from(cfg.tiers.full_threshold) * i128::from(mm);
                    let partial = if full {
                        None
                    } else {
                        slow::partial_qty(&spec, &PartialInput {
                            sign,
                            abs_qty: q,
                            mark,
                            limit,
                            margin_balance: mb,
                            mm_others: 0,
                            buffer: cfg.tiers.buffer,
                        })
                    };
                    let (tier, want) = match partial {
                        Some(x) => (Tier::Partial, x),
                        None => (Tier::Full, q),
                    };
                    let sized = slow::walk(&spec, p.book(0).contra(side), side, want, limit, bp);
                    if bp.is_some() && sized.depth_to_bankruptcy == 0 {
                        (Outcome::Sent(Tier::Backstop), None)
                    } else if sized.qty == 0 {
                        (Outcome::Waiting(Wait::NoDepth), None)
                    } else {
                        (Outcome::Sent(tier), Some((sized.qty, limit)))
                    }
                }
            }
        };
        // Decide (more than once: the second decision reuses the caches).
        for seq in 0..decisions as u64 {
            let mut sent = Vec::new();
            let o = p.on_breach(
                &input,
                TriggerInfo { seq, ts: 1, publish_ts: 0 },
                &mut |o: hotrisk_feed::wire::Order, _| sent.push(o),
            );
            prop_assert_eq!(o, expected.0);
            if let Some((qty, limit)) = expected.1 {
                prop_assert_eq!(sent.len(), 1);
                prop_assert_eq!((sent[0].qty, sent[0].limit_price, sent[0].side), (qty, limit, side as u8));
            }
            if let Some(last) = sent.last() {
                let ack = policy_common::msg(
                    hotrisk_feed::wire::MsgKind::OrderAck,
                    0,
                    0,
                    1,
                    hotrisk_feed::wire::AckStatus::Filled as u8,
                    [last.order_id as i64, 0, 0],
                );
                p.on_ack(&hotrisk_feed::wire::Msg { account: last.account, ..ack }, 0);
            }
        }
    }
}
