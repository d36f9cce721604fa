//! The margin core's settlement of negative balances (a fill that closes an account below zero,
//! `Policy::cover_negative`, the wallet credited back to zero) allocates nothing: account fills
//! run under a counting global allocator that counts this thread's allocations.

mod common;
use hotrisk_engine::margin::{MarginMode, MarginState};
use hotrisk_engine::pipeline::core::{OrderSink, RiskCore};
use hotrisk_engine::pipeline::margin_core::MarginCore;
use hotrisk_engine::policy::PolicyConfig;
use hotrisk_feed::fixed::E8;
use hotrisk_feed::wire::{Msg, MsgKind};

mod thread_alloc;
use thread_alloc::allocations;

fn fill(account: u32, qty: i64, price: i64) -> Msg {
    let mut m = Msg::market(MsgKind::Fill, 0, 1, 1);
    m.account = account;
    m.body = [qty, price, 0];
    m
}

#[test]
fn settling_negative_balances_allocates_nothing() {
    let inst = common::btc_linear();
    let n = 200u32;
    let mut st = MarginState::new(vec![inst], vec![100 * E8]).unwrap();
    for a in 0..n {
        st.add_account(a, 10 * E8).unwrap();
        st.add_position(a, 0, E8, 100 * E8, MarginMode::Cross, None)
            .unwrap();
    }
    st.evaluate_all();
    // The fund covers the first half of the debts, the rest is written off.
    let mut core = MarginCore::new(st, PolicyConfig::default(), 1000 * E8).unwrap();
    let mut out = OrderSink::with_capacity(1024);
    let before = allocations();
    for a in 0..n {
        // Each long closes at 80, 10 below its bankruptcy price.
        core.on_account(&fill(a, -E8, 80 * E8), &mut out);
        while out.pop().is_some() {}
    }
    let allocated = allocations() - before;
    let s = core.settled();
    assert_eq!(s.count, u64::from(n));
    assert_eq!(s.covered_e8, i128::from(1000 * E8));
    assert_eq!(s.written_off_e8, i128::from(1000 * E8));
    assert_eq!(core.policy().fund().balance(), 0);
    assert_eq!(allocated, 0, "allocations while settling");
}
