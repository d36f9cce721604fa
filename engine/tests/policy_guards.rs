//! Data-trust pauses (each reason, and the resume), the notional budget with its worst-first
//! queue, and the circuit breaker.

mod policy_common;

use hotrisk_engine::policy::guards::Pause;
use hotrisk_engine::policy::{Outcome, Policy, Wait};
use hotrisk_feed::fixed::E8;
use hotrisk_feed::wire::{InstrumentStatus, MsgKind, Side, Tier};
use policy_common::*;

const MARK: i64 = 49_000 * E8;

fn acct(id: u32, wallet: i64) -> Acct {
    Acct {
        id,
        wallet,
        qty: E8,
        entry: 50_000 * E8,
    }
}

fn sound_policy() -> Policy {
    let mut cfg = config();
    cfg.cancel_first = false;
    let mut p = Policy::new(cfg, vec![btc()], 16, 0);
    prices(&mut p, 0, 0, MARK);
    let (b, a) = ladder(MARK, E8, 20, E8);
    book(&mut p, 0, 0, &b, &a);
    p
}

/// Asserts a decision now is paused for `reason` and sends nothing.
fn assert_paused(p: &mut Policy, ts: i64, reason: Pause) {
    let spec = btc();
    let (o, orders) = decide(p, &spec, 0, &acct(1, 1_190 * E8), MARK, 1, ts);
    match o {
        Outcome::Waiting(Wait::Paused(r)) => assert!(r.contains(reason), "{r:?} lacks {reason:?}"),
        other => panic!("expected a pause for {reason:?}, got {other:?}"),
    }
    assert!(orders.is_empty());
}

fn assert_sends(p: &mut Policy, ts: i64) {
    let spec = btc();
    let (o, orders) = decide(p, &spec, 0, &acct(1, 1_190 * E8), MARK, 1, ts);
    assert!(matches!(o, Outcome::Sent(_)), "{o:?}");
    assert_eq!(orders.len(), 1);
    // let the next check start from a clean state
    p.on_ack(&ack(1, 0, 2, orders[0].0.order_id, 0, 0), 0)
        .unwrap();
}

#[test]
fn no_index_yet() {
    let mut p = Policy::new(config(), vec![btc()], 4, 0);
    p.on_market(&msg(MsgKind::MarkPrice, 0, 0, 0, 0, [MARK, 0, 0]));
    assert_paused(&mut p, 0, Pause::NO_INDEX);
}

#[test]
fn stale_index_pauses_and_a_fresh_one_resumes() {
    let mut p = sound_policy();
    let age = p.config().guard.max_index_age_ns;
    assert_paused(&mut p, age + 1, Pause::STALE_INDEX);
    // a mark alone does not refresh the oracle
    let e = p
        .on_market(&msg(MsgKind::MarkPrice, 0, 0, age + 2, 0, [MARK, 0, 0]))
        .unwrap();
    assert!(e.pause.contains(Pause::STALE_INDEX) && !e.resumed);
    let e = p
        .on_market(&msg(MsgKind::IndexPrice, 0, 0, age + 3, 0, [MARK, 0, 0]))
        .unwrap();
    assert!(e.resumed && e.pause.is_clear());
    assert_sends(&mut p, age + 4);
}

#[test]
fn mark_index_deviation() {
    let mut p = sound_policy();
    let e = p
        .on_market(&msg(
            MsgKind::IndexPrice,
            0,
            0,
            1,
            0,
            [MARK * 100 / 106, 0, 0],
        ))
        .unwrap();
    assert!(e.pause.contains(Pause::DEVIATION));
    assert_paused(&mut p, 2, Pause::DEVIATION);
    let e = p
        .on_market(&msg(MsgKind::IndexPrice, 0, 0, 3, 0, [MARK, 0, 0]))
        .unwrap();
    assert!(e.resumed);
    assert_sends(&mut p, 4);
}

#[test]
fn crossed_book() {
    let mut p = sound_policy();
    let e = p
        .on_market(&msg(
            MsgKind::BookLevel,
            0,
            0,
            1,
            Side::Buy as u8,
            [MARK + 5 * E8, E8, 0],
        ))
        .unwrap();
    assert!(e.pause.contains(Pause::CROSSED));
    assert_paused(&mut p, 2, Pause::CROSSED);
    let e = p
        .on_market(&msg(
            MsgKind::BookLevel,
            0,
            0,
            3,
            Side::Buy as u8,
            [MARK + 5 * E8, 0, 0],
        ))
        .unwrap();
    assert!(e.resumed);
    assert_sends(&mut p, 4);
}

#[test]
fn sequence_gap_until_the_next_snapshot() {
    let mut p = sound_policy();
    p.on_gap();
    assert_paused(&mut p, 1, Pause::GAP);
    let e = p
        .on_market(&msg(MsgKind::SnapshotBegin, 0, 0, 2, 0, [0; 3]))
        .unwrap();
    assert!(e.pause.contains(Pause::GAP));
    assert_paused(&mut p, 2, Pause::GAP); // snapshot in progress
    let (b, a) = ladder(MARK, E8, 20, E8);
    for (px, q) in b {
        p.on_market(&msg(
            MsgKind::BookLevel,
            0,
            0,
            2,
            Side::Buy as u8,
            [px, q, 0],
        ));
    }
    for (px, q) in a {
        p.on_market(&msg(
            MsgKind::BookLevel,
            0,
            0,
            2,
            Side::Sell as u8,
            [px, q, 0],
        ));
    }
    let e = p
        .on_market(&msg(MsgKind::SnapshotEnd, 0, 0, 3, 0, [0; 3]))
        .unwrap();
    assert!(e.resumed);
    assert_sends(&mut p, 4);
}

#[test]
fn halted() {
    let mut p = sound_policy();
    let e = p
        .on_market(&msg(
            MsgKind::Status,
            0,
            0,
            1,
            InstrumentStatus::Halted as u8,
            [0; 3],
        ))
        .unwrap();
    assert!(e.pause.contains(Pause::HALTED));
    assert_paused(&mut p, 2, Pause::HALTED);
    let e = p
        .on_market(&msg(
            MsgKind::Status,
            0,
            0,
            3,
            InstrumentStatus::Trading as u8,
            [0; 3],
        ))
        .unwrap();
    assert!(e.resumed);
    assert_sends(&mut p, 4);
    assert_eq!(p.metrics(0).paused, 1);
}

#[test]
fn circuit_breaker_waits_for_confirmation() {
    let mut p = sound_policy();
    let cfg = p.config().guard;
    // 12% in 0.2 s (index follows, so only the breaker objects)
    let t = S / 5;
    let low = MARK * 88 / 100;
    p.on_market(&msg(MsgKind::IndexPrice, 0, 0, t, 0, [low, 0, 0]));
    let e = p
        .on_market(&msg(MsgKind::MarkPrice, 0, 0, t, 0, [low, 0, 0]))
        .unwrap();
    assert!(e.pause.contains(Pause::BREAKER));
    assert_paused(&mut p, t + 1, Pause::BREAKER);
    // still within the confirmation wait
    p.on_market(&msg(
        MsgKind::MarkPrice,
        0,
        0,
        t + cfg.breaker_confirm_ns - 1,
        0,
        [low, 0, 0],
    ));
    assert_paused(&mut p, t + cfg.breaker_confirm_ns - 1, Pause::BREAKER);
    p.on_market(&msg(
        MsgKind::IndexPrice,
        0,
        0,
        t + cfg.breaker_confirm_ns,
        0,
        [MARK, 0, 0],
    ));
    let e = p
        .on_market(&msg(
            MsgKind::MarkPrice,
            0,
            0,
            t + cfg.breaker_confirm_ns,
            0,
            [MARK, 0, 0],
        ))
        .unwrap();
    assert!(e.resumed, "{e:?}");
    assert_sends(&mut p, t + cfg.breaker_confirm_ns + 1);
}

#[test]
fn budget_caps_notional_and_queues_worst_first() {
    let spec = btc();
    let mut cfg = config();
    cfg.cancel_first = false;
    cfg.guard.budget_notional = 30_000 * E8;
    cfg.guard.budget_window_ns = S;
    let mut p = Policy::new(cfg, vec![spec], 16, 0);
    prices(&mut p, 0, 0, MARK);
    let (b, a) = ladder(MARK, E8, 20, E8);
    book(&mut p, 0, 0, &b, &a);
    // B: MB 90 (full, 1 BTC wanted) decides first and takes what the budget allows.
    let (o, orders) = decide(&mut p, &spec, 0, &acct(2, 1_090 * E8), MARK, 1, 10);
    assert_eq!(o, Outcome::Sent(Tier::Full));
    let q = orders[0].0.qty;
    assert_eq!(q, 61_200_000); // ⌊30000 / 48951 lots⌋ = 0.612
    assert!(spec.notional(q, orders[0].0.limit_price) <= 30_000 * E8);
    // A (MB 60, worse) and C (MB 180, better) find the budget spent: both queue.
    let (o, _) = decide(&mut p, &spec, 0, &acct(3, 1_180 * E8), MARK, 2, 11);
    assert_eq!(o, Outcome::Waiting(Wait::Budget));
    let (o, _) = decide(&mut p, &spec, 0, &acct(1, 1_060 * E8), MARK, 3, 12);
    assert_eq!(o, Outcome::Waiting(Wait::Budget));
    assert_eq!(p.next_waiting(0, 13), None, "no budget left in this window");
    // Next window: the worst margin ratio first; C may not jump the queue meanwhile.
    let (o, _) = decide(&mut p, &spec, 0, &acct(3, 1_180 * E8), MARK, 4, S + 1);
    assert_eq!(o, Outcome::Waiting(Wait::Budget));
    assert_eq!(p.next_waiting(0, S + 2), Some(1));
    let (o, orders) = decide(&mut p, &spec, 0, &acct(1, 1_060 * E8), MARK, 5, S + 2);
    assert_eq!(o, Outcome::Sent(Tier::Full));
    assert_eq!(orders[0].0.qty, 61_200_000);
    assert_eq!(p.next_waiting(0, S + 3), None, "spent again");
    assert_eq!(p.next_waiting(0, 2 * S), Some(3));
    assert_eq!(p.metrics(0).budget_waits, 3);
}
