//! The policy in `hotrisk risk`: what the engine would send for a scenario snapshot.
//!
//! [`scenario_orders`] builds a [`Policy`] over the scenario's state, feeds each instrument's
//! mark, index (the mark when the file has none) and `[[instrument.book]]` levels as one
//! snapshot, ranks every position for ADL, then decides for every liquidatable unit (cross part,
//! then isolated positions) of every account in file order. The insurance fund (`insurance_fund`,
//! default 0) carries over from one account's backstop to the next, as it would in the engine.
//! Each decision's orders (its own and any ADL counterparty reductions) are then taken as
//! acknowledged (filled, no fee: a snapshot says nothing about fills), so that an account with
//! several liquidatable units gets an order for each. Cancel-alls are not listed (the scenario
//! has no resting orders).
//!
//! ADL: an `adl` order of the bankrupt account lists its counterparty reductions (account,
//! quantity, bankruptcy price); each is also an `adl` order of that counterparty. With no
//! counterparty at all there is no ADL order (it would go to nobody): the fund takes the position
//! as a `backstop`, and what it cannot pay is reported as `uncovered_bad_debt`.
//!
//! Record time is 0 throughout, so `breach_to_order_ns` is 0. Accounts are numbered densely
//! inside the policy (any `u32` id works); orders carry the file's ids.
//!
//! Cold path: allocates freely.

use super::bridge::UnitBuf;
use super::metrics::OrderMetrics;
use super::spec::SpecError;
use super::{Policy, PolicyConfig, TriggerInfo};
use crate::margin::{MarginMode, MarginState, CROSS};
use crate::snapshot::Scenario;
use hotrisk_feed::fixed::FixedDisplay;
use hotrisk_feed::wire::{AckStatus, Msg, MsgKind, Order, Side, Tier};
use serde::Serialize;

/// One order of a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScenarioOrder {
    /// The file's account id.
    pub account: u32,
    /// The order.
    pub order: Order,
    /// Its metrics.
    pub metrics: OrderMetrics,
}

/// What the policy would do for a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioPolicy {
    /// Orders in decision order (ADL counterparty orders carry their own account).
    pub orders: Vec<ScenarioOrder>,
    /// Insurance fund before (E8).
    pub fund_before: i64,
    /// Insurance fund after the backstops (E8).
    pub fund_after: i64,
    /// Bad debt nobody covered (E8, summed over instruments).
    pub uncovered_bad_debt: i64,
}

/// The metrics of one order as decimal strings (`hotrisk risk --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MetricsReport {
    /// Record time from breach to decision, ns.
    pub breach_to_order_ns: i64,
    /// Estimated slippage vs mark, basis points (positive = worse than mark for the account).
    pub slippage_bps: String,
    /// Order quantity / position quantity.
    pub fraction_closed: String,
    /// The tier's quantity before slicing by book depth and budget.
    pub target_qty: String,
    /// Margin ratio `MM/MB` before (`null` when `MB ≤ 0`).
    pub margin_ratio_before: Option<String>,
    /// Margin ratio if the order fills completely at its limit (`null` when `MB ≤ 0`).
    pub margin_ratio_after: Option<String>,
    /// Loss beyond bankruptcy taken by a backstop or ADL.
    pub bad_debt: String,
    /// Insurance fund change of this decision.
    pub insurance_fund_change: String,
}

fn dec(v: i64) -> String {
    FixedDisplay {
        value: i128::from(v),
        digits: 8,
    }
    .to_string()
}

impl MetricsReport {
    /// The report of one order's metrics.
    pub fn of(m: &OrderMetrics) -> Self {
        let ratio = |r: i64| (r != i64::MAX).then(|| dec(r));
        Self {
            breach_to_order_ns: m.breach_to_order_ns,
            slippage_bps: dec(m.slippage_bps()),
            fraction_closed: dec(m.fraction_closed()),
            target_qty: dec(m.target_qty),
            margin_ratio_before: ratio(m.mr_before()),
            margin_ratio_after: ratio(m.mr_after()),
            bad_debt: dec(m.bad_debt),
            insurance_fund_change: dec(m.fund_change),
        }
    }
}

/// `"buy"` / `"sell"`.
pub fn side_name(side: u8) -> &'static str {
    if side == Side::Buy as u8 {
        "buy"
    } else {
        "sell"
    }
}

/// Decides for every liquidatable unit of a scenario (see the module docs).
pub fn scenario_orders(
    scenario: &Scenario,
    state: &MarginState,
    cfg: PolicyConfig,
) -> Result<ScenarioPolicy, SpecError> {
    let cfg = PolicyConfig {
        cancel_first: false,
        ..cfg
    };
    let fund = scenario.insurance_fund_e8.unwrap_or(0);
    let mut p = Policy::for_state(cfg, state, scenario.accounts.len().max(1), fund)?;
    let rec = |kind: MsgKind, instrument: u16, aux: u8, body: [i64; 3]| Msg {
        seq: 0,
        exch_ts: 0,
        local_ts: 0,
        publish_ts: 0,
        kind: kind as u8,
        aux,
        instrument,
        account: 0,
        body,
    };
    for (i, si) in scenario.instruments.iter().enumerate() {
        let i = i as u16;
        let index = si.index_e8.unwrap_or(si.mark_e8);
        p.on_market(&rec(MsgKind::IndexPrice, i, 0, [index, 0, 0]));
        p.on_market(&rec(MsgKind::MarkPrice, i, 0, [si.mark_e8, 0, 0]));
        p.on_market(&rec(MsgKind::SnapshotBegin, i, 0, [0; 3]));
        for l in &si.book {
            p.on_market(&rec(
                MsgKind::BookLevel,
                i,
                l.side as u8,
                [l.price_e8, l.qty_e8, 0],
            ));
        }
        p.on_market(&rec(MsgKind::SnapshotEnd, i, 0, [0; 3]));
    }
    for (k, acc) in scenario.accounts.iter().enumerate() {
        p.rank_adl_as(state, acc.id, k as u32);
    }
    let mut orders = Vec::new();
    let mut buf = UnitBuf::new();
    for (k, acc) in scenario.accounts.iter().enumerate() {
        let dense = k as u32;
        let mut units = vec![CROSS];
        units.extend(
            acc.positions
                .iter()
                .filter(|q| q.mode == MarginMode::Isolated)
                .map(|q| q.instrument),
        );
        for unit in units {
            if buf.load(state, acc.id, unit) != Some(true) {
                continue;
            }
            let input = buf.input(dense);
            let first = orders.len();
            p.on_breach(&input, TriggerInfo::default(), &mut |o, m| {
                if o.tier == Tier::Cancel as u8 {
                    return;
                }
                let account = scenario.accounts[o.account as usize].id;
                orders.push(ScenarioOrder {
                    account,
                    order: o,
                    metrics: m,
                });
            });
            for so in &orders[first..] {
                let o = &so.order;
                let ack = Msg {
                    account: o.account,
                    body: [o.order_id as i64, o.qty, o.limit_price],
                    ..rec(
                        MsgKind::OrderAck,
                        o.instrument,
                        AckStatus::Filled as u8,
                        [0; 3],
                    )
                };
                p.on_ack(&ack, 0);
            }
        }
    }
    let uncovered = (0..scenario.instruments.len())
        .map(|i| p.metrics(i as u16).written_off)
        .sum::<i128>();
    Ok(ScenarioPolicy {
        orders,
        fund_before: fund,
        fund_after: p.fund().balance(),
        uncovered_bad_debt: super::spec::sat(uncovered),
    })
}

/// Fills the `orders` of `hotrisk risk`'s account reports from [`scenario_orders`] with the
/// default [`PolicyConfig`]; returns the fund report when the scenario gives a fund.
pub fn fill_orders(
    scenario: &Scenario,
    state: &MarginState,
    accounts: &mut [crate::risk::AccountReport],
) -> Option<crate::risk::FundReport> {
    // Margin-core instruments have at most `MAX_TIERS` = `MAX_BRACKETS` brackets, so the
    // conversion cannot fail; were it to, the orders stay empty and the fund says why.
    let sp = match scenario_orders(scenario, state, PolicyConfig::default()) {
        Ok(sp) => sp,
        Err(e) => {
            return Some(crate::risk::FundReport {
                before: dec(scenario.insurance_fund_e8.unwrap_or(0)),
                after: format!("policy unavailable: {e}"),
                uncovered_bad_debt: String::new(),
            })
        }
    };
    for (k, so) in sp.orders.iter().enumerate() {
        let o = &so.order;
        // An own ADL order follows its counterparty reductions (same decision, same trigger,
        // the opposite side, emitted just before it).
        let mut counterparties = Vec::new();
        if o.tier == Tier::Adl as u8 {
            for c in sp.orders[..k].iter().rev() {
                let co = &c.order;
                if co.tier != Tier::Adl as u8
                    || co.side == o.side
                    || co.instrument != o.instrument
                    || co.limit_price != o.limit_price
                {
                    break;
                }
                counterparties.push(crate::risk::CounterpartyReport {
                    account: c.account,
                    qty: dec(co.qty),
                    price: dec(co.limit_price),
                });
            }
            counterparties.reverse();
        }
        let Some(a) = accounts.iter_mut().find(|a| a.id == so.account) else {
            continue;
        };
        a.orders.push(crate::risk::OrderReport {
            symbol: state
                .instrument(o.instrument)
                .map_or_else(String::new, |i| i.symbol().to_owned()),
            side: side_name(o.side).to_owned(),
            qty: dec(o.qty),
            limit_price: dec(o.limit_price),
            tier: Tier::from_u8(o.tier).map_or("?", Tier::name).to_owned(),
            counterparties,
            metrics: MetricsReport::of(&so.metrics),
        });
    }
    scenario.insurance_fund_e8.map(|_| crate::risk::FundReport {
        before: dec(sp.fund_before),
        after: dec(sp.fund_after),
        uncovered_bad_debt: dec(sp.uncovered_bad_debt),
    })
}
