//! The decision path allocates nothing after set-up: market data, breaches (every tier), acks
//! and timeouts run under a counting global allocator that counts this thread's allocations.

mod policy_common;

use hotrisk_engine::policy::tiers::AdlRanking;
use hotrisk_engine::policy::{Policy, TriggerInfo};
use hotrisk_feed::fixed::E8;
use hotrisk_feed::wire::{MsgKind, Side};
use policy_common::*;

mod thread_alloc;
use thread_alloc::allocations;

#[test]
fn no_allocation_after_set_up() {
    let spec = btc();
    let mut cfg = config();
    cfg.guard.budget_notional = 60_000 * E8;
    let mut p = Policy::new(cfg, vec![spec], 64, 5 * E8);
    for a in 20..40u32 {
        p.adl_mut(0)
            .set(a, -E8 / 10, AdlRanking::score(1 + a as i64, 10, 10, 1));
    }
    let mark = 49_000 * E8;
    let before = allocations();
    let mut sent = 0u64;
    let mut tiers = 0u32;
    for round in 0..50i64 {
        let ts = round * S / 10;
        prices(&mut p, 0, ts, mark + round * E8);
        p.on_market(&msg(MsgKind::SnapshotBegin, 0, 0, ts, 0, [0; 3]));
        for i in 1..=20 {
            let q = if round % 5 == 4 { 0 } else { E8 / 10 };
            p.on_market(&msg(
                MsgKind::BookLevel,
                0,
                0,
                ts,
                Side::Buy as u8,
                [mark - i * E8, q, 0],
            ));
            p.on_market(&msg(
                MsgKind::BookLevel,
                0,
                0,
                ts,
                Side::Sell as u8,
                [mark + i * E8, E8 / 10, 0],
            ));
        }
        p.on_market(&msg(MsgKind::SnapshotEnd, 0, 0, ts, 0, [0; 3]));
        for id in 1..10u32 {
            // from partial to past bankruptcy
            let a = Acct {
                id,
                wallet: 1_200 * E8 - i64::from(id) * 30 * E8,
                qty: E8,
                entry: 50_000 * E8,
            };
            let (scope, pos) = a.views(&spec, 0, mark);
            let input = hotrisk_engine::policy::BreachInput {
                account: id,
                scope,
                positions: &[pos],
                marks: &[mark],
            };
            let mut last = (0u64, 0u8);
            p.on_breach(
                &input,
                TriggerInfo {
                    seq: round as u64,
                    ts,
                    publish_ts: 0,
                },
                &mut |o, _| {
                    sent += 1;
                    tiers |= 1u32 << o.tier;
                    if o.account == id {
                        last = (o.order_id, o.kind);
                    }
                },
            );
            if round % 3 != 2 && last.0 != 0 {
                let status = if last.1 == MsgKind::CancelAll as u8 {
                    2
                } else {
                    round as u8 % 4
                };
                p.on_ack(&ack(id, 0, status, last.0, E8 / 20, mark), 10 * E8);
            }
        }
        p.on_time(ts, |_| {});
        while p.next_waiting(0, ts).is_some() {}
    }
    assert!(sent > 50, "the loop exercised the policy ({sent} orders)");
    // cancel, partial or full, and backstop or ADL all happened
    assert!(
        tiers & 1 != 0 && tiers & 0b110 != 0 && tiers & 0b11000 != 0,
        "tiers {tiers:b}"
    );
    assert_eq!(
        allocations() - before,
        0,
        "allocations on the decision path"
    );
}
