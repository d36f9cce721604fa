//! The policy on the margin core's real state: the spec conversion agrees with the core's
//! maintenance, and a partial decided by `Policy::on_unit`, filled at its limit with its fee
//! through `MarginState::apply_fill`, leaves the account at or above maintenance by the core's
//! own exact arithmetic.

mod policy_common;

use hotrisk_engine::margin::math::{money_to_e8, Round};
use hotrisk_engine::margin::{
    BracketSpec, Crossings, Instrument, InstrumentSpec as CoreSpec, Kind, MarginMode, MarginState,
    CROSS,
};
use hotrisk_engine::policy::spec::InstrumentSpec;
use hotrisk_engine::policy::{Outcome, Policy, PolicyConfig, TriggerInfo};
use hotrisk_feed::fixed::E8;
use hotrisk_feed::wire::{Side, Tier};
use policy_common::*;
use proptest::prelude::*;

fn core(kind: Kind) -> Instrument {
    let b = |cap: Option<i64>, lev: i64, mmr: i64| BracketSpec {
        notional_cap_e8: cap,
        max_leverage_e8: lev * E8,
        maintenance_margin_rate_e8: mmr,
        maintenance_amount_e8: None,
    };
    let spec = match kind {
        Kind::Linear => CoreSpec {
            symbol: "BTCUSDT".into(),
            kind,
            tick_size_e8: E8 / 10,
            lot_size_e8: E8 / 1000,
            contract_size_e8: E8,
            liquidation_fee_rate_e8: E8 / 2000,
            brackets: vec![
                b(Some(50_000 * E8), 125, E8 * 4 / 1000),
                b(Some(250_000 * E8), 100, E8 * 5 / 1000),
                b(None, 50, E8 / 100),
            ],
        },
        Kind::Inverse => CoreSpec {
            symbol: "BTCUSD".into(),
            kind,
            tick_size_e8: E8 / 2,
            lot_size_e8: E8,
            contract_size_e8: 100 * E8,
            liquidation_fee_rate_e8: E8 / 2000,
            brackets: vec![b(Some(5 * E8), 125, E8 / 200), b(None, 50, E8 / 100)],
        },
    };
    Instrument::new(spec).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn spec_conversion_is_never_less_strict(n in 0i64..1_000_000_000 * E8, inverse in any::<bool>()) {
        let inst = core(if inverse { Kind::Inverse } else { Kind::Linear });
        let s = InstrumentSpec::from_instrument(&inst).unwrap();
        let theirs = money_to_e8(hotrisk_engine::margin::math::maintenance(&inst, i128::from(n) * 100_000_000).0, Round::Ceil);
        let mine = i128::from(s.maintenance(n));
        prop_assert!(mine >= theirs && mine <= theirs + 1, "{mine} vs {theirs}");
    }

    #[test]
    fn partial_on_the_margin_core_restores_maintenance(
        inverse in any::<bool>(),
        long in any::<bool>(),
        lots in 10i64..3_000,
        deficit_pct in 1i64..45,
        entry_off in -300i64..300,
    ) {
        let kind = if inverse { Kind::Inverse } else { Kind::Linear };
        let inst = core(kind);
        let spec = InstrumentSpec::from_instrument(&inst).unwrap();
        let mark = 40_000 * E8;
        let entry = mark + entry_off * E8;
        let qty = if long { lots * spec.lot } else { -lots * spec.lot };
        let n = spec.notional(qty.abs(), mark);
        let mm = spec.maintenance(n);
        let upnl = spec.realised_pnl(qty.signum(), qty.abs(), entry, mark);
        let wallet = mm - mm * deficit_pct / 100 - upnl;
        let mut state = MarginState::new(vec![inst], vec![mark]).unwrap();
        state.add_account(3, wallet).unwrap();
        state.add_position(3, 0, qty, entry, MarginMode::Cross, None).unwrap();
        state.evaluate_all();
        let acc = state.account(3).unwrap();
        prop_assume!(acc.liquidatable);

        let cfg = PolicyConfig { cancel_first: false, ..config() };
        let mut p = Policy::for_state(cfg, &state, 8, 0).unwrap();
        prices(&mut p, 0, 0, mark);
        let (b, a) = ladder(mark, spec.tick, 20, 1_000 * spec.lot);
        book(&mut p, 0, 0, &b, &a);
        let mut orders = Vec::new();
        let o = p.on_unit(&state, 3, CROSS, TriggerInfo { seq: 1, ts: 1, publish_ts: 0 }, &mut |o, m| orders.push((o, m)));
        prop_assert!(matches!(o, Outcome::Sent(_)), "{o:?}");
        let (ord, m) = orders[0];
        prop_assert!(ord.qty > 0 && ord.qty <= qty.abs());
        if m.tier == Tier::Partial {
            prop_assert_eq!(ord.qty, m.target_qty, "the book is deep enough for the partial");
            let signed = if ord.side == Side::Sell as u8 { -ord.qty } else { ord.qty };
            let fee = spec.liquidation_fee(ord.qty, ord.limit_price, i64::MAX);
            let mut x = Crossings::with_capacity(4);
            state.apply_fill(3, 0, signed, ord.limit_price, fee, &mut x).unwrap();
            let after = state.account(3).unwrap();
            prop_assert!(after.margin_balance >= after.maintenance_margin,
                "after the partial: MB {} < MM {}", after.margin_balance, after.maintenance_margin);
        }
    }
}

#[test]
fn crossing_to_order_on_the_core() {
    let inst = core(Kind::Linear);
    let mut state = MarginState::new(vec![inst], vec![50_000 * E8]).unwrap();
    state.add_account(1, 1_190 * E8).unwrap();
    state
        .add_position(1, 0, E8, 50_000 * E8, MarginMode::Cross, None)
        .unwrap();
    state.add_account(2, 100 * E8).unwrap();
    state
        .add_position(
            2,
            0,
            -E8 / 10,
            50_000 * E8,
            MarginMode::Isolated,
            Some(100 * E8),
        )
        .unwrap();
    state.evaluate_all();
    let mut p = Policy::for_state(
        PolicyConfig {
            cancel_first: false,
            ..config()
        },
        &state,
        4,
        0,
    )
    .unwrap();
    let mark = 49_000 * E8;
    prices(&mut p, 0, 0, mark);
    let (b, a) = ladder(mark, E8, 20, E8 / 10);
    book(&mut p, 0, 0, &b, &a);
    let mut x = Crossings::with_capacity(16);
    state.on_mark(0, mark, &mut x).unwrap();
    let crossings: Vec<_> = x.as_slice().to_vec();
    assert!(crossings
        .iter()
        .any(|c| c.account == 1 && c.instrument == CROSS && c.liquidatable));
    let mut orders = Vec::new();
    for c in &crossings {
        p.on_unit(
            &state,
            c.account,
            c.instrument,
            TriggerInfo {
                seq: 1,
                ts: 1,
                publish_ts: 0,
            },
            &mut |o, _| orders.push(o),
        );
    }
    let o = orders.iter().find(|o| o.account == 1).unwrap();
    assert_eq!(o.tier, Tier::Partial as u8);
    assert_eq!(o.qty, 18_100_000); // as computed by hand in policy_tiers
                                   // the isolated short is healthy: no order for it
    assert!(orders.iter().all(|o| o.account != 2));
    // a unit that is not liquidatable ends the episode
    assert_eq!(
        p.on_unit(&state, 2, 0, TriggerInfo::default(), &mut |_, _| {}),
        Outcome::Waiting(hotrisk_engine::policy::Wait::Nothing)
    );
}
