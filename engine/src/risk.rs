//! `hotrisk risk`: the what-if calculator. A [`Scenario`] in, a [`Report`] out (JSON per
//! `../shared/spec/scenario.md`, or a readable table).
//!
//! Every figure comes from the [`MarginState`] built from the scenario, that is from the same
//! fixed-point math the running engine uses, and is printed at 8 decimals: margins and notionals
//! rounded up, PnL and balances down (against the account). Liquidation and bankruptcy prices
//! and the margin ratio are printed rounded to the nearest 8th decimal (halves away from zero),
//! because that is how the conformance examples in `../shared/conformance/` are written (e.g.
//! `linear-isolated-long`: exact 49196.787148594…, expected `49196.78714859`); the engine itself
//! (the policy, the kernel) uses the against-the-account rounding of
//! [`crate::margin::math::liquidation_price`]. Trailing zeros trimmed. `orders` is filled by the
//! liquidation policy (empty until it is wired in).

#![forbid(unsafe_code)]

use std::fmt::Write as _;

use hotrisk_feed::fixed::FixedDisplay;
use serde::Serialize;

use crate::margin::math::{self, Round};
use crate::margin::{MarginState, Money};
use crate::snapshot::Scenario;

/// A decimal string at E8 (exact, trailing zeros trimmed).
fn dec(v_e8: i128) -> String {
    FixedDisplay {
        value: v_e8,
        digits: 8,
    }
    .to_string()
}

fn money(v: Money, round: Round) -> String {
    dec(math::money_to_e8(v, round))
}

/// One order the engine would send (filled in by the liquidation policy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderReport {
    /// Symbol.
    pub symbol: String,
    /// `"buy"` or `"sell"`.
    pub side: String,
    /// Quantity (decimal string).
    pub qty: String,
    /// Limit price (decimal string).
    pub limit_price: String,
    /// `partial`, `full`, `backstop` or `adl`.
    pub tier: String,
    /// For the bankrupt account's own `adl` order: the counterparty reductions it is matched
    /// with, each also listed (tier `adl`) among that account's orders. What they do not take
    /// goes to the insurance fund. Empty (and omitted) otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub counterparties: Vec<CounterpartyReport>,
    /// The liquidation-efficiency metrics of the order (see [`crate::policy::metrics`]).
    pub metrics: crate::policy::scenario::MetricsReport,
}

/// One ADL counterparty reduction: which account gives up how much, at the bankruptcy price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CounterpartyReport {
    /// The counterparty's account id.
    pub account: u32,
    /// Quantity reduced (decimal string).
    pub qty: String,
    /// The bankruptcy price it closes at (decimal string).
    pub price: String,
}

/// One position's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PositionReport {
    /// Symbol.
    pub symbol: String,
    /// `cross` or `isolated`.
    pub margin_mode: String,
    /// Signed quantity.
    pub qty: String,
    /// Notional at the mark.
    pub notional: String,
    /// Unrealised PnL.
    pub unrealized_pnl: String,
    /// Maintenance margin.
    pub maintenance_margin: String,
    /// 1-based bracket at the mark.
    pub bracket: usize,
    /// By its own rule (isolated) or its account's (cross).
    pub liquidatable: bool,
    /// `null` when none.
    pub liquidation_price: Option<String>,
    /// `null` when none.
    pub bankruptcy_price: Option<String>,
}

/// One account's figures (cross part at account level).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountReport {
    /// Account id.
    pub id: u32,
    /// Cross wallet balance.
    pub wallet_balance: String,
    /// Σ U of cross positions.
    pub unrealized_pnl: String,
    /// `wallet_balance + unrealized_pnl`.
    pub margin_balance: String,
    /// Σ MM of cross positions.
    pub maintenance_margin: String,
    /// `maintenance_margin / margin_balance`; `null` when the margin balance is ≤ 0.
    pub margin_ratio: Option<String>,
    /// Has cross positions and `margin_balance ≤ maintenance_margin`.
    pub liquidatable: bool,
    /// Positions in file order.
    pub positions: Vec<PositionReport>,
    /// Orders the engine would send.
    pub orders: Vec<OrderReport>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Accounts in file order.
    pub accounts: Vec<AccountReport>,
    /// Insurance fund before and after the policy's decisions (when the scenario has one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insurance_fund: Option<FundReport>,
}

/// The insurance fund around the policy's decisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FundReport {
    /// Balance given by the scenario.
    pub before: String,
    /// Balance after backstops.
    pub after: String,
    /// Bad debt neither the fund nor ADL counterparties could take (no counterparty left and the
    /// fund exhausted): a loss the venue must socialise outside the engine.
    pub uncovered_bad_debt: String,
}

/// Evaluates a scenario (orders left empty).
pub fn evaluate(scenario: &Scenario) -> Result<Report, crate::snapshot::SnapshotError> {
    let state = scenario.build_state()?;
    Ok(report(scenario, &state))
}

/// The report of a scenario over an already built state.
pub fn report(scenario: &Scenario, state: &MarginState) -> Report {
    let mut accounts = Vec::with_capacity(scenario.accounts.len());
    for acc in &scenario.accounts {
        let Some(ar) = state.account(acc.id) else {
            continue;
        };
        let positions = acc
            .positions
            .iter()
            .filter_map(|p| state.position(acc.id, p.instrument))
            .map(|p| PositionReport {
                symbol: state
                    .instrument(p.instrument)
                    .map_or_else(String::new, |i| i.symbol().to_owned()),
                margin_mode: p.mode.name().to_owned(),
                qty: dec(p.qty_e8.into()),
                notional: money(p.notional, Round::Ceil),
                unrealized_pnl: money(p.unrealized_pnl, Round::Floor),
                maintenance_margin: money(p.maintenance_margin, Round::Ceil),
                bracket: p.bracket,
                liquidatable: p.liquidatable,
                liquidation_price: state.instrument(p.instrument).and_then(|i| {
                    math::liquidation_price_rounded(
                        i,
                        p.qty_e8,
                        p.basis,
                        p.others_slack,
                        Round::Nearest,
                    )
                    .map(|v| dec(v.into()))
                }),
                bankruptcy_price: state.instrument(p.instrument).and_then(|i| {
                    math::bankruptcy_price_rounded(
                        i,
                        p.qty_e8,
                        p.basis,
                        p.others_equity,
                        Round::Nearest,
                    )
                    .map(|v| dec(v.into()))
                }),
            })
            .collect();
        accounts.push(AccountReport {
            id: acc.id,
            wallet_balance: money(ar.wallet_balance, Round::Floor),
            unrealized_pnl: money(ar.unrealized_pnl, Round::Floor),
            margin_balance: money(ar.margin_balance, Round::Floor),
            maintenance_margin: money(ar.maintenance_margin, Round::Ceil),
            margin_ratio: math::margin_ratio_e8(
                ar.maintenance_margin,
                ar.margin_balance,
                Round::Nearest,
            )
            .map(dec),
            liquidatable: ar.liquidatable,
            positions,
            orders: Vec::new(),
        });
    }
    let insurance_fund = crate::policy::scenario::fill_orders(scenario, state, &mut accounts);
    Report {
        accounts,
        insurance_fund,
    }
}

impl Report {
    /// The JSON document (pretty-printed).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// A readable table.
    pub fn to_table(&self) -> String {
        let mut s = String::new();
        for a in &self.accounts {
            let _ = writeln!(
                s,
                "account {}  wallet {}  uPnL {}  margin balance {}  maintenance {}  ratio {}  {}",
                a.id,
                a.wallet_balance,
                a.unrealized_pnl,
                a.margin_balance,
                a.maintenance_margin,
                a.margin_ratio.as_deref().unwrap_or("-"),
                if a.liquidatable { "LIQUIDATABLE" } else { "ok" }
            );
            let _ = writeln!(
                s,
                "  {:<12} {:<8} {:>16} {:>18} {:>18} {:>16} {:>4} {:>20} {:>20}  status",
                "symbol",
                "mode",
                "qty",
                "notional",
                "uPnL",
                "maint",
                "tier",
                "liq price",
                "bankr price"
            );
            for p in &a.positions {
                let _ = writeln!(
                    s,
                    "  {:<12} {:<8} {:>16} {:>18} {:>18} {:>16} {:>4} {:>20} {:>20}  {}",
                    p.symbol,
                    p.margin_mode,
                    p.qty,
                    p.notional,
                    p.unrealized_pnl,
                    p.maintenance_margin,
                    p.bracket,
                    p.liquidation_price.as_deref().unwrap_or("none"),
                    p.bankruptcy_price.as_deref().unwrap_or("none"),
                    if p.liquidatable { "LIQUIDATABLE" } else { "ok" }
                );
            }
            for o in &a.orders {
                let _ = writeln!(
                    s,
                    "  order: {} {} {} @ {} ({})",
                    o.side, o.qty, o.symbol, o.limit_price, o.tier
                );
                for c in &o.counterparties {
                    let _ = writeln!(
                        s,
                        "    adl counterparty: account {} gives up {} @ {}",
                        c.account, c.qty, c.price
                    );
                }
            }
        }
        s
    }
}
