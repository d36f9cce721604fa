//! Auto-deleveraging: explicit, tracked counterparty reductions; no ADL order when nobody holds
//! the opposite side (the loss the fund cannot pay is reported as uncovered).

mod policy_common;

use hotrisk_engine::policy::state::Phase;
use hotrisk_engine::policy::tiers::AdlRanking;
use hotrisk_engine::policy::{Outcome, Policy};
use hotrisk_feed::fixed::E8;
use hotrisk_feed::wire::{AckStatus, Side, Tier};
use policy_common::*;

const MARK: i64 = 49_000 * E8;
/// MB −20 for a long 1 BTC from 50000 at 49000 with a wallet of 980: bankrupt at 49020.
const BP: i64 = 49_020 * E8;

fn bankrupt_long(id: u32) -> Acct {
    Acct {
        id,
        wallet: 980 * E8,
        qty: E8,
        entry: 50_000 * E8,
    }
}

fn setup(fund: i64) -> Policy {
    let mut cfg = config();
    cfg.cancel_first = false;
    let mut p = Policy::new(cfg, vec![btc()], 16, fund);
    prices(&mut p, 0, 0, MARK);
    // bids below the mark only: nothing at or above the bankruptcy price
    let (b, a) = ladder(MARK, E8, 20, E8 / 10);
    book(&mut p, 0, 0, &b, &a);
    p
}

#[test]
fn no_counterparty_means_a_backstop_and_uncovered_bad_debt() {
    let spec = btc();
    let mut p = setup(5 * E8); // less than the 20 loss
    let (o, orders) = decide(&mut p, &spec, 0, &bankrupt_long(1), MARK, 1, S);
    assert_eq!(o, Outcome::Sent(Tier::Backstop));
    assert_eq!(orders.len(), 1, "{orders:?}");
    let (ord, m) = orders[0];
    assert_eq!((ord.account, ord.tier), (1, Tier::Backstop as u8));
    assert_eq!((ord.qty, ord.limit_price), (E8, BP));
    assert_eq!((m.bad_debt, m.fund_change), (20 * E8, -5 * E8));
    // Money moves on the fill, not at the decision: the fund's 5 is only reserved.
    assert_eq!(p.metrics(0).bad_debt, 0);
    assert_eq!((p.fund().balance(), p.fund().available()), (5 * E8, 0));
    // tracked as the account's own order: its fill marks it bankrupt and books the loss
    p.on_ack(&ack(1, 0, AckStatus::Filled as u8, ord.order_id, E8, BP), 0)
        .unwrap();
    assert_eq!(p.states().phase(1), Phase::Bankrupt);
    let agg = p.metrics(0);
    assert_eq!(agg.adl_count, 0);
    assert_eq!(
        (
            agg.bad_debt,
            agg.socialised,
            agg.written_off,
            agg.fund_covered()
        ),
        (20 * E8 as i128, 0, 15 * E8 as i128, 5 * E8 as i128)
    );
    assert_eq!(p.fund().balance(), 0);
}

#[test]
fn counterparty_reductions_are_explicit_and_their_acks_are_tracked() {
    let spec = btc();
    let mut p = setup(0);
    let r = p.adl_mut(0);
    r.set(3, -E8 / 2, AdlRanking::score(9, 10, 10, 1));
    r.set(4, -E8, AdlRanking::score(2, 10, 10, 1));
    let (o, orders) = decide(&mut p, &spec, 0, &bankrupt_long(1), MARK, 1, S);
    assert_eq!(o, Outcome::Sent(Tier::Adl));
    let got: Vec<(u32, i64, u8, i64, u8)> = orders
        .iter()
        .map(|(o, _)| (o.account, o.qty, o.side, o.limit_price, o.tier))
        .collect();
    let adl = Tier::Adl as u8;
    assert_eq!(
        got,
        [
            (3, E8 / 2, Side::Buy as u8, BP, adl),
            (4, E8 / 2, Side::Buy as u8, BP, adl),
            (1, E8, Side::Sell as u8, BP, adl),
        ]
    );
    // Every reduction is outstanding for its account until acknowledged.
    for a in [3, 4] {
        assert_eq!(p.states().phase(a), Phase::Liquidating);
        assert!(p.states().is_counterparty(a));
    }
    let id3 = orders[0].0.order_id;
    // a stale id is not applied
    assert!(p
        .on_ack(&ack(3, 0, AckStatus::Filled as u8, id3 + 1, E8 / 2, BP), 0)
        .is_none());
    let r3 = p
        .on_ack(&ack(3, 0, AckStatus::Filled as u8, id3, E8 / 2, BP), 0)
        .unwrap();
    assert!(r3.effect.counterparty);
    assert_eq!((r3.effect.tier, r3.fee), (Tier::Adl, 0));
    assert_eq!(p.states().phase(3), Phase::Normal);
    // duplicate
    assert!(p
        .on_ack(&ack(3, 0, AckStatus::Filled as u8, id3, E8 / 2, BP), 0)
        .is_none());
    // even a rejected reduction leaves a solvent counterparty Normal
    let id4 = orders[1].0.order_id;
    p.on_ack(&ack(4, 0, AckStatus::Rejected as u8, id4, 0, 0), 0)
        .unwrap();
    assert_eq!(p.states().phase(4), Phase::Normal);
    // a reduction that is never acknowledged times out like any order
    let own = orders[2].0.order_id;
    p.on_ack(&ack(1, 0, AckStatus::Filled as u8, own, E8, BP), 0)
        .unwrap();
    assert_eq!(p.states().phase(1), Phase::Bankrupt);
    assert_eq!(p.states().pending(), 0);
}

#[test]
fn a_counterparty_with_an_outstanding_order_is_passed_over_and_keeps_its_rank() {
    let spec = btc();
    let mut p = setup(0);
    let r = p.adl_mut(0);
    r.set(3, -E8 / 2, AdlRanking::score(9, 10, 10, 1));
    r.set(4, -E8, AdlRanking::score(2, 10, 10, 1));
    // account 1's ADL takes 3's 0.5 and half of 4's 1.0; 4's reduction stays unacknowledged
    let (_, first) = decide(&mut p, &spec, 0, &bankrupt_long(1), MARK, 1, S);
    assert_eq!(first.len(), 3);
    assert_eq!(p.adl_mut(0).qty(4), -E8 / 2);
    // account 2 goes bankrupt the same way: 4 is busy, 3 is gone → no counterparty → backstop
    let (o, orders) = decide(&mut p, &spec, 0, &bankrupt_long(2), MARK, 2, S + 1);
    assert_eq!(o, Outcome::Sent(Tier::Backstop));
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].0.account, 2);
    // 4 is still ranked with its remaining 0.5, for the next ADL once it is free
    assert!(p.adl_mut(0).opposite_mut(1).contains(4));
    assert_eq!(p.adl_mut(0).qty(4), -E8 / 2);
    let id4 = first[1].0.order_id;
    p.on_ack(&ack(4, 0, AckStatus::Filled as u8, id4, E8 / 2, BP), 0)
        .unwrap();
    let (o, orders) = decide(&mut p, &spec, 0, &bankrupt_long(5), MARK, 3, S + 2);
    assert_eq!(o, Outcome::Sent(Tier::Adl));
    assert_eq!(
        orders
            .iter()
            .map(|(o, _)| (o.account, o.qty))
            .collect::<Vec<_>>(),
        [(4, E8 / 2), (5, E8)]
    );
}

#[test]
fn a_counterparty_reduction_that_is_never_acknowledged_times_out() {
    let spec = btc();
    let mut p = setup(0);
    p.adl_mut(0).set(3, -E8, AdlRanking::score(9, 10, 10, 1));
    let (_, orders) = decide(&mut p, &spec, 0, &bankrupt_long(1), MARK, 1, S);
    assert_eq!(orders.len(), 2);
    let timeout = p.config().ack_timeout_ns;
    let mut got = Vec::new();
    p.on_time(S + timeout + 1, |a| got.push(a));
    got.sort_unstable();
    assert_eq!(got, [1, 3]);
    assert_eq!(p.states().phase(3), Phase::Normal);
}
