//! Each tier and each state transition of the liquidation policy, on hand-checkable numbers.

mod policy_common;

use hotrisk_engine::policy::state::Phase;
use hotrisk_engine::policy::tiers::{AdlRanking, PositionView, ScopeView};
use hotrisk_engine::policy::{BreachInput, Outcome, Policy, TriggerInfo, Wait};
use hotrisk_feed::fixed::E8;
use hotrisk_feed::wire::{AckStatus, MsgKind, Side, Tier, FLAG_REDUCE_ONLY, TIF_IOC};
use policy_common::*;

const MARK: i64 = 49_000 * E8;

/// Long 1 BTC from 50000 at mark 49000: MM 196, MB 190 (breached, above half MM).
fn long_acct() -> Acct {
    Acct {
        id: 1,
        wallet: 1_190 * E8,
        qty: E8,
        entry: 50_000 * E8,
    }
}

fn setup(cancel_first: bool, fund: i64) -> Policy {
    let mut cfg = config();
    cfg.cancel_first = cancel_first;
    let mut p = Policy::new(cfg, vec![btc()], 16, fund);
    prices(&mut p, 0, 0, MARK);
    let (b, a) = ladder(MARK, E8, 20, E8 / 10);
    book(&mut p, 0, 0, &b, &a);
    p
}

#[test]
fn cancel_first_then_partial_then_full_after_a_failed_partial() {
    let spec = btc();
    let mut p = setup(true, 0);
    let a = long_acct();
    assert!(a.breached(&spec, MARK));

    // Tier 0: cancel-all, and no duplicate while it is outstanding.
    let (o, orders) = decide(&mut p, &spec, 0, &a, MARK, 10, S);
    assert_eq!(o, Outcome::Sent(Tier::Cancel));
    assert_eq!(orders.len(), 1);
    let cancel = orders[0].0;
    assert_eq!(cancel.kind, MsgKind::CancelAll as u8);
    assert_eq!((cancel.qty, cancel.limit_price), (0, 0));
    assert_eq!(p.states().phase(1), Phase::Cancelling);
    let (o, orders) = decide(&mut p, &spec, 0, &a, MARK, 11, S + 1);
    assert_eq!(o, Outcome::Waiting(Wait::Outstanding));
    assert!(orders.is_empty());
    let r = p
        .on_ack(
            &ack(1, 0, AckStatus::Cancelled as u8, cancel.order_id, 0, 0),
            0,
        )
        .unwrap();
    assert!(r.effect.reevaluate);

    // Tier 1: partial, smallest lot count restoring MB ≥ 1.1·MM at the limit after the fee.
    let (o, orders) = decide(&mut p, &spec, 0, &a, MARK, 12, S + 2);
    assert_eq!(o, Outcome::Sent(Tier::Partial));
    let (ord, m) = orders[0];
    assert_eq!(ord.side, Side::Sell as u8);
    assert_eq!((ord.tif, ord.flags), (TIF_IOC, FLAG_REDUCE_ONLY));
    assert_eq!(ord.limit_price, 48_951 * E8); // mark·(1 − 0.1%), BP 48810 is further
    assert!(ord.qty > 0 && ord.qty < a.qty && ord.qty % spec.lot == 0);
    let after = |x: i64| {
        let loss = spec.close_loss(1, x, MARK, ord.limit_price);
        let fee = spec.liquidation_fee(x, ord.limit_price, i64::MAX);
        let mb = a.mb(&spec, MARK) - loss - fee;
        let mm = spec.maintenance(spec.notional(a.qty - x, MARK));
        (mb, mm)
    };
    let (mb, mm) = after(ord.qty);
    assert!(mb * 10 >= mm * 11, "restored: {mb} vs {mm}");
    let (mb, mm) = after(ord.qty - spec.lot);
    assert!(mb * 10 < mm * 11, "one lot less would not restore");
    // By hand: slope per BTC 1.1·196 − 49 − 24.48 = 142.12, deficit 1.1·196 − 190 = 25.6
    // → 0.1801 → 0.181 BTC (0.180 leaves 176.774 < 1.1·160.72 = 176.792).
    assert_eq!(ord.qty, 18_100_000);
    assert_eq!(m.tier, Tier::Partial);
    assert_eq!(m.fraction_closed(), ord.qty);
    assert!(m.mr_after() < m.mr_before());
    assert_eq!(m.breach_to_order_ns, 2);

    // It fills only partly: the next decision is full.
    let r = p
        .on_ack(
            &ack(
                1,
                0,
                AckStatus::Partial as u8,
                ord.order_id,
                ord.qty / 2,
                48_990 * E8,
            ),
            i64::MAX,
        )
        .unwrap();
    assert!(r.fee > 0);
    assert_eq!(p.fund().balance(), r.fee);
    assert!(p.states().partial_failed(1));
    let (o, orders) = decide(&mut p, &spec, 0, &a, MARK, 13, S + 3);
    assert_eq!(o, Outcome::Sent(Tier::Full));
    assert_eq!(orders[0].0.qty, a.qty);
    assert_ne!(orders[0].0.order_id, ord.order_id);
    p.on_ack(
        &ack(
            1,
            0,
            AckStatus::Filled as u8,
            orders[0].0.order_id,
            a.qty,
            48_990 * E8,
        ),
        0,
    )
    .unwrap();
    assert_eq!(p.states().phase(1), Phase::Normal);
    // a stale ack changes nothing
    assert!(p
        .on_ack(&ack(1, 0, AckStatus::Filled as u8, ord.order_id, 1, 1), 0)
        .is_none());
}

#[test]
fn full_below_the_second_threshold() {
    let spec = btc();
    let mut p = setup(false, 0);
    let a = Acct {
        wallet: 1_090 * E8,
        ..long_acct()
    }; // MB 90 ≤ 0.5 · 196
    let (o, orders) = decide(&mut p, &spec, 0, &a, MARK, 1, S);
    assert_eq!(o, Outcome::Sent(Tier::Full));
    // the book holds 2 BTC within the bound: the whole position goes
    assert_eq!(orders[0].0.qty, E8);
    // BP = 49000 − 90 = 48910 < bound 48951: the limit is the slippage bound
    assert_eq!(orders[0].0.limit_price, 48_951 * E8);
}

#[test]
fn full_sliced_by_depth_within_the_slippage_bound() {
    let spec = btc();
    let mut p = setup(false, 0);
    book(
        &mut p,
        0,
        0,
        &[
            (48_990 * E8, E8 / 4),
            (48_960 * E8, E8 / 4),
            (48_900 * E8, 5 * E8),
        ],
        &[],
    );
    let a = Acct {
        wallet: 1_090 * E8,
        ..long_acct()
    };
    let (_, orders) = decide(&mut p, &spec, 0, &a, MARK, 1, S);
    let (ord, m) = orders[0];
    assert_eq!(ord.qty, E8 / 2); // only the two levels ≥ 48951; the rest waits
    assert_eq!(m.fraction_closed(), E8 / 2);
    // VWAP 48975: slippage 25/49000 = 5.10204081 bps
    assert_eq!(m.slippage_bps(), 510_204_081);
}

#[test]
fn no_partial_when_the_limit_costs_more_than_it_frees_goes_full() {
    let spec = btc();
    let mut cfg = config();
    cfg.cancel_first = false;
    cfg.tiers.slippage = E8 / 100; // 1% > the 0.4% maintenance rate
    let mut p = Policy::new(cfg, vec![btc()], 4, 0);
    prices(&mut p, 0, 0, MARK);
    let (b, a) = ladder(MARK, E8, 20, E8 / 10);
    book(&mut p, 0, 0, &b, &a);
    let (o, _) = decide(&mut p, &spec, 0, &long_acct(), MARK, 1, S);
    assert_eq!(o, Outcome::Sent(Tier::Full));
}

#[test]
fn timeout_gives_up_and_escalates() {
    let spec = btc();
    let mut p = setup(false, 0);
    let a = long_acct();
    let (o, orders) = decide(&mut p, &spec, 0, &a, MARK, 1, S);
    assert_eq!(o, Outcome::Sent(Tier::Partial));
    let mut re = Vec::new();
    p.on_time(S + p.config().ack_timeout_ns, |acc| re.push(acc));
    assert!(re.is_empty());
    p.on_time(S + p.config().ack_timeout_ns + 1, |acc| re.push(acc));
    assert_eq!(re, [1]);
    let (o, later) = decide(&mut p, &spec, 0, &a, MARK, 2, 3 * S);
    assert_eq!(o, Outcome::Sent(Tier::Full));
    assert_ne!(later[0].0.order_id, orders[0].0.order_id);
    // recovery ends the episode
    p.on_ack(&ack(1, 0, 0, later[0].0.order_id, a.qty, MARK), 0)
        .unwrap();
    p.on_recovered(1);
    assert!(!p.states().partial_failed(1));
}

#[test]
fn backstop_when_the_book_cannot_fill_before_bankruptcy() {
    let spec = btc();
    let mut p = setup(false, 1_000 * E8);
    // Past bankruptcy: MB = −20, BP = 49020 above the mark; bids only below it.
    let a = Acct {
        wallet: 980 * E8,
        ..long_acct()
    };
    let (o, orders) = decide(&mut p, &spec, 0, &a, MARK, 1, S);
    assert_eq!(o, Outcome::Sent(Tier::Backstop));
    let (ord, m) = orders[0];
    assert_eq!((ord.qty, ord.limit_price), (E8, 49_020 * E8));
    assert_eq!(ord.tier, Tier::Backstop as u8);
    assert_eq!(m.fund_change, -20 * E8);
    assert_eq!(m.bad_debt, 20 * E8);
    // Reserved at the decision, paid on the fill.
    assert_eq!(
        (p.fund().balance(), p.fund().available()),
        (1_000 * E8, 980 * E8)
    );
    assert_eq!(p.metrics(0).bad_debt, 0);
    p.on_ack(&ack(1, 0, 0, ord.order_id, E8, ord.limit_price), 0)
        .unwrap();
    assert_eq!(p.states().phase(1), Phase::Bankrupt);
    assert_eq!(p.fund().balance(), 980 * E8);
    // The fund carried all of the bad debt: nothing socialised, nothing written off.
    let agg = p.metrics(0);
    assert_eq!(
        (agg.bad_debt, agg.fund_covered()),
        (20 * E8 as i128, 20 * E8 as i128)
    );
    assert_eq!((agg.socialised, agg.written_off), (0, 0));
    assert_eq!(agg.fund_change, -20 * E8 as i128);
    // Its price is the bankruptcy price above the mark (−40.81 bps): a transfer, not counted
    // as the book's slippage.
    assert_eq!(agg.mean_slippage_bps(), 0);
    assert_eq!(agg.mean_transfer_slippage_bps(), m.slippage_bps());
    assert!(m.slippage_bps() < 0);
}

#[test]
fn adl_in_ranking_order_when_the_fund_cannot_cover() {
    let spec = btc();
    let mut p = setup(false, 5 * E8); // less than the 20 loss
                                      // Shorts ranked by pnl% × leverage: 3 (0.9), 5 (0.5), 4 (0.2); 6 is losing.
    let r = p.adl_mut(0);
    r.set(3, -E8 / 2, AdlRanking::score(9, 10, 10, 1));
    r.set(4, -E8, AdlRanking::score(2, 10, 10, 1));
    r.set(5, -E8 / 4, AdlRanking::score(5, 10, 10, 1));
    r.set(6, -E8, AdlRanking::score(-5, 10, 10, 1));
    r.set(7, E8, AdlRanking::score(9, 10, 100, 1)); // a long: same side, not a counterparty
    let a = Acct {
        wallet: 980 * E8,
        ..long_acct()
    };
    let (o, orders) = decide(&mut p, &spec, 0, &a, MARK, 1, S);
    assert_eq!(o, Outcome::Sent(Tier::Adl));
    let got: Vec<(u32, i64, u8, i64)> = orders
        .iter()
        .map(|(o, _)| (o.account, o.qty, o.side, o.limit_price))
        .collect();
    let bp = 49_020 * E8;
    assert_eq!(
        got,
        [
            (3, E8 / 2, Side::Buy as u8, bp),
            (5, E8 / 4, Side::Buy as u8, bp),
            (4, E8 / 4, Side::Buy as u8, bp),
            (1, E8, Side::Sell as u8, bp),
        ]
    );
    assert!(orders.iter().all(|(o, _)| o.tier == Tier::Adl as u8));
    assert_eq!(p.metrics(0).adl_count, 3);
    // Every reduction and the bankrupt account's own transfer fill: the money is booked then.
    for (o, _) in &orders {
        p.on_ack(&ack(o.account, 0, 0, o.order_id, o.qty, o.limit_price), 0)
            .unwrap();
    }
    // The 20 of bad debt went to the deleveraged shorts, none to the fund.
    let agg = p.metrics(0);
    assert_eq!(agg.bad_debt, 20 * E8 as i128);
    assert_eq!(agg.socialised, 20 * E8 as i128);
    assert_eq!(
        (agg.fund_covered(), agg.written_off, agg.fund_change),
        (0, 0, 0)
    );
    assert_eq!(p.fund().balance(), 5 * E8); // untouched
                                            // account 4 keeps 0.75 short in the ranking
    assert_eq!(p.adl_mut(0).qty(4), -3 * E8 / 4);
}

#[test]
fn cross_account_closes_the_largest_maintenance_contributor_first() {
    let btc = btc();
    let mut cfg = config();
    cfg.cancel_first = false;
    let mut p = Policy::new(cfg, vec![btc, btc], 4, 0);
    for i in 0..2 {
        prices(&mut p, i, 0, MARK);
        let (b, a) = ladder(MARK, E8, 20, E8);
        book(&mut p, i, 0, &b, &a);
    }
    let small = PositionView {
        instrument: 0,
        qty: E8 / 2,
        entry: 50_000 * E8,
        maintenance: 98 * E8,
    };
    let big = PositionView {
        instrument: 1,
        qty: -2 * E8,
        entry: 48_000 * E8,
        maintenance: 392 * E8,
    };
    let scope = ScopeView {
        margin_balance: 450 * E8,
        maintenance: 490 * E8,
    };
    let positions = [small, big];
    let input = BreachInput {
        account: 2,
        scope,
        positions: &positions,
        marks: &[MARK, MARK],
    };
    let mut out = Vec::new();
    let o = p.on_breach(
        &input,
        TriggerInfo {
            seq: 1,
            ts: S,
            publish_ts: 0,
        },
        &mut |o, _| out.push(o),
    );
    assert!(matches!(o, Outcome::Sent(Tier::Partial | Tier::Full)));
    assert_eq!(out[0].instrument, 1);
    assert_eq!(out[0].side, Side::Buy as u8);
}

#[test]
fn inverse_partial_restores_the_account() {
    let spec = btcusd();
    let mark = 40_000 * E8;
    let mut cfg = config();
    cfg.cancel_first = false;
    let mut p = Policy::new(cfg, vec![spec], 4, 0);
    prices(&mut p, 0, 0, mark);
    let (b, a) = ladder(mark, E8, 20, 1_000 * E8);
    book(&mut p, 0, 0, &b, &a);
    // short 2000 contracts ($200k, 5 BTC at 40000) from 39000
    let mut acct = Acct {
        id: 1,
        wallet: 0,
        qty: -2_000 * E8,
        entry: 39_000 * E8,
    };
    let mm = acct.mm(&spec, mark);
    acct.wallet = mm - acct.upnl(&spec, mark) - E8 / 100; // MB = MM − 0.01 BTC
    let (o, orders) = decide(&mut p, &spec, 0, &acct, mark, 1, S);
    assert_eq!(o, Outcome::Sent(Tier::Partial));
    let ord = orders[0].0;
    assert_eq!(ord.side, Side::Buy as u8);
    let x = ord.qty;
    let mb = acct.mb(&spec, mark)
        - spec.close_loss(-1, x, mark, ord.limit_price)
        - spec.liquidation_fee(x, ord.limit_price, i64::MAX);
    let mm_after = spec.maintenance(spec.notional(acct.qty.abs() - x, mark));
    assert!(mb >= mm_after, "{mb} {mm_after}");
}

/// Long 1 BTC from 50000 at mark 49000 with MB 50 (below half of MM 196): full at once;
/// bankruptcy at 48950, the book's bids (48999 … 48980) lie above it.
fn deep_acct() -> Acct {
    Acct {
        wallet: 1_050 * E8,
        ..long_acct()
    }
}

/// What a venue whose book is already taken answers: nothing filled.
fn unfilled(p: &mut Policy, o: &hotrisk_feed::wire::Order) {
    p.on_ack(
        &ack(o.account, 0, AckStatus::Cancelled as u8, o.order_id, 0, 0),
        0,
    )
    .unwrap();
}

#[test]
fn an_unfilled_full_order_escalates_to_the_backstop_instead_of_being_resent() {
    let spec = btc();
    let mut p = setup(false, 1_000 * E8);
    let a = deep_acct();
    let (o, orders) = decide(&mut p, &spec, 0, &a, MARK, 1, S);
    assert_eq!(o, Outcome::Sent(Tier::Full));
    assert_eq!(orders[0].0.qty, E8);
    unfilled(&mut p, &orders[0].0);
    assert_eq!(p.states().full_failures(1), 1);
    // The policy's book still shows the bids, but the venue said no: the fund takes the
    // position at the bankruptcy price.
    let (o, orders) = decide(&mut p, &spec, 0, &a, MARK, 2, S + 1);
    assert_eq!(o, Outcome::Sent(Tier::Backstop));
    let (ord, m) = orders[0];
    assert_eq!((ord.qty, ord.limit_price), (E8, 48_950 * E8));
    assert_eq!(m.bad_debt, 0); // the fund buys below the mark: no loss beyond margin
    assert_eq!(m.fund_change, 50 * E8);
    assert_eq!(p.metrics(0).escalations, 1);
    assert_eq!(p.states().full_failures(1), 0);
    p.on_ack(
        &ack(
            1,
            0,
            AckStatus::Filled as u8,
            ord.order_id,
            E8,
            ord.limit_price,
        ),
        0,
    )
    .unwrap();
    assert_eq!(p.states().phase(1), Phase::Bankrupt);
}

#[test]
fn a_short_full_fill_sends_only_the_remainder_to_the_backstop() {
    let spec = btc();
    let mut p = setup(false, 1_000 * E8);
    let mut a = deep_acct();
    let (_, orders) = decide(&mut p, &spec, 0, &a, MARK, 1, S);
    let full = orders[0].0;
    p.on_ack(
        &ack(
            1,
            0,
            AckStatus::Partial as u8,
            full.order_id,
            3 * E8 / 10,
            48_990 * E8,
        ),
        i64::MAX,
    )
    .unwrap();
    // 0.3 sold at 48990 (realised into the wallet), 0.7 left.
    a.wallet -= 3 * (50_000 - 48_990) * E8 / 10;
    a.qty = 7 * E8 / 10;
    let (o, orders) = decide(&mut p, &spec, 0, &a, MARK, 2, S + 1);
    assert_eq!(o, Outcome::Sent(Tier::Backstop));
    assert_eq!(orders[0].0.qty, 7 * E8 / 10);
}

#[test]
fn retries_of_unfilled_full_orders_are_bounded_by_the_configuration() {
    let spec = btc();
    for retries in [0u8, 1, 3] {
        let mut cfg = config();
        cfg.cancel_first = false;
        cfg.tiers.full_retries = retries;
        let mut p = Policy::new(cfg, vec![btc()], 16, 1_000 * E8);
        prices(&mut p, 0, 0, MARK);
        let (b, asks) = ladder(MARK, E8, 20, E8 / 10);
        book(&mut p, 0, 0, &b, &asks);
        let a = deep_acct();
        // A venue that never fills a book order: at most 1 + retries full orders, then the
        // backstop; never an endless resend.
        let mut fulls = 0;
        let mut backstop = false;
        for k in 0..50u64 {
            let (o, orders) = decide(&mut p, &spec, 0, &a, MARK, 10 + k, S + k as i64);
            match o {
                Outcome::Sent(Tier::Full) => {
                    fulls += 1;
                    unfilled(&mut p, &orders[0].0);
                }
                Outcome::Sent(Tier::Backstop) => {
                    backstop = true;
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(backstop, "retries {retries}: escalated");
        assert_eq!(fulls, 1 + u32::from(retries), "retries {retries}");
    }
}

#[test]
fn a_rejected_backstop_waits_for_its_deadline_before_the_next_try() {
    let spec = btc();
    let mut p = setup(false, 1_000 * E8);
    let a = Acct {
        wallet: 980 * E8, // past bankruptcy: backstop at once
        ..long_acct()
    };
    let (o, orders) = decide(&mut p, &spec, 0, &a, MARK, 1, S);
    assert_eq!(o, Outcome::Sent(Tier::Backstop));
    let first = orders[0].0;
    p.on_ack(
        &ack(1, 0, AckStatus::Rejected as u8, first.order_id, 0, 0),
        0,
    )
    .unwrap();
    assert_eq!(p.states().phase(1), Phase::Backoff);
    // The ack's re-evaluation sends nothing: no resend loop against a rejecting venue.
    for k in 0..5 {
        let (o, orders) = decide(&mut p, &spec, 0, &a, MARK, 2 + k, S + 1 + k as i64);
        assert_eq!(o, Outcome::Waiting(Wait::Outstanding));
        assert!(orders.is_empty());
    }
    let mut re = Vec::new();
    p.on_time(S + p.config().ack_timeout_ns + 1, |acc| re.push(acc));
    assert_eq!(re, [1]);
    let (o, _) = decide(&mut p, &spec, 0, &a, MARK, 9, 2 * S + 2);
    assert_eq!(o, Outcome::Sent(Tier::Backstop));
}

#[test]
fn the_slippage_bound_kept_per_mark_follows_the_mark() {
    // The policy keeps each instrument's slippage bounds for the last mark it decided at: a
    // policy that decided at one mark and then decides at another sends exactly what a fresh
    // policy at the second mark sends, for a long (sell) and a short (buy).
    let spec = btc();
    let (ts, next) = (0, 48_900 * E8);
    let long = long_acct();
    let short = Acct {
        id: 2,
        wallet: 1_190 * E8,
        qty: -E8,
        entry: 48_000 * E8,
    };
    let at_next = |p: &mut Policy| {
        prices(p, 0, ts, next);
        let (b, a) = ladder(next, E8, 20, E8 / 10);
        book(p, 0, ts, &b, &a);
    };
    let mut warm = setup(false, 0);
    for a in [long, short] {
        assert!(a.breached(&spec, MARK));
        let (o, _) = decide(&mut warm, &spec, 0, &a, MARK, 10, ts + 1);
        assert!(matches!(o, Outcome::Sent(_)), "{o:?}");
    }
    at_next(&mut warm);
    let mut fresh = setup(false, 0);
    at_next(&mut fresh);
    // MB 190 at the new mark for both: the slippage bound binds, not the bankruptcy price.
    let long = Acct {
        id: 3,
        wallet: 1_290 * E8,
        ..long
    };
    let short = Acct {
        id: 4,
        wallet: 1_090 * E8,
        ..short
    };
    for a in [long, short] {
        assert!(a.breached(&spec, next));
        let (o1, w) = decide(&mut warm, &spec, 0, &a, next, 11, ts + 2);
        let (o2, f) = decide(&mut fresh, &spec, 0, &a, next, 11, ts + 2);
        assert_eq!((o1, &w), (o2, &f));
        assert!(matches!(o1, Outcome::Sent(_)), "{o1:?}");
        let want = spec.round_tick(
            if a.qty > 0 {
                next - next / 1000
            } else {
                next + next / 1000
            },
            a.qty > 0,
        );
        assert_eq!(w[0].0.limit_price, want);
    }
}
