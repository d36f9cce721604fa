//! The glue between the margin core's [`MarginState`] and the policy.
//!
//! - [`InstrumentSpec::from_instrument`]: the policy's compact view of a margin-core instrument
//!   (money converted from the core's E16 to E8, rounded so the policy is never less strict:
//!   maintenance amounts `cum` down, so maintenance comes out at least the core's).
//! - [`Policy::for_state`]: a policy for every instrument of a state.
//! - [`Policy::on_unit`]: the pipeline's per-breach entry point. `unit` is what a
//!   [`crate::margin::Crossing`] names: [`CROSS`] for the account's cross part, or the instrument
//!   of an isolated position. It reads the unit from the state (no allocation: positions go into a
//!   fixed stack array of [`MAX_UNIT_POSITIONS`]), converts margin balance (rounded down) and
//!   maintenance (rounded up) to E8, and calls [`Policy::on_breach`]. A unit that is no longer
//!   liquidatable ends the account's episode ([`Policy::on_recovered`]).
//! - [`Policy::rank_adl`]: refreshes an account's ADL ranks from the state (call on fills and
//!   collateral changes; O(positions · log n)).
//!
//! Bound: the policy works at E8 in `i64`, so a single position's notional must stay below
//! 9.2·10^10 of the margin asset (larger values saturate, which overstates maintenance: safe).

use super::spec::{Bracket, ContractKind, InstrumentSpec, SpecError, MAX_BRACKETS};
use super::tiers::{AdlRanking, PositionView, ScopeView};
use super::{BreachInput, Outcome, Policy, PolicyConfig, TriggerInfo, Wait};
use crate::margin::math::{money_to_e8, Round};
use crate::margin::{Instrument, Kind, MarginMode, MarginState, CROSS};
use hotrisk_feed::wire::Order;

use super::metrics::OrderMetrics;

/// Most cross positions of one account the policy considers at once (one per instrument).
pub const MAX_UNIT_POSITIONS: usize = 64;

fn e8_floor(v: i128) -> i64 {
    super::spec::sat(money_to_e8(v, Round::Floor))
}

fn e8_ceil(v: i128) -> i64 {
    super::spec::sat(money_to_e8(v, Round::Ceil))
}

impl InstrumentSpec {
    /// The policy's view of a margin-core instrument.
    pub fn from_instrument(inst: &Instrument) -> Result<Self, SpecError> {
        let src = inst.brackets();
        if src.is_empty() || src.len() > MAX_BRACKETS {
            return Err(SpecError::BracketCount(src.len()));
        }
        let mut b = [Bracket::default(); MAX_BRACKETS];
        for (d, s) in b.iter_mut().zip(src) {
            *d = Bracket {
                cap: e8_floor(s.cap),
                mmr: s.mmr_e8,
                cum: e8_floor(s.cum),
            };
        }
        let kind = match inst.kind() {
            Kind::Linear => ContractKind::Linear,
            Kind::Inverse => ContractKind::Inverse,
        };
        InstrumentSpec::new(
            kind,
            inst.tick_e8(),
            inst.lot_e8(),
            inst.contract_e8(),
            inst.liquidation_fee_rate_e8(),
            &b[..src.len()],
        )
    }
}

impl Policy {
    /// A policy for every instrument of `state`, account ids `0..accounts`.
    pub fn for_state(
        cfg: PolicyConfig,
        state: &MarginState,
        accounts: usize,
        insurance_fund: i64,
    ) -> Result<Self, SpecError> {
        let specs = state
            .instruments()
            .iter()
            .map(InstrumentSpec::from_instrument)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(cfg, specs, accounts, insurance_fund))
    }

    /// Decides for one margin unit of `account` (see the module docs).
    pub fn on_unit(
        &mut self,
        state: &MarginState,
        account: u32,
        unit: u16,
        trigger: TriggerInfo,
        out: &mut impl FnMut(Order, OrderMetrics),
    ) -> Outcome {
        if account as usize >= self.states.len() {
            return Outcome::Waiting(Wait::Nothing);
        }
        let empty = PositionView {
            instrument: 0,
            qty: 0,
            entry: 0,
            maintenance: 0,
        };
        let mut positions = [empty; MAX_UNIT_POSITIONS];
        let mut marks = [0i64; MAX_UNIT_POSITIONS];
        let mut n = 0;
        let scope = if unit == CROSS {
            let Some(acc) = state.account(account) else {
                return Outcome::Waiting(Wait::Nothing);
            };
            if !acc.liquidatable {
                self.on_recovered(account);
                return Outcome::Waiting(Wait::Nothing);
            }
            state.for_each_position(account, |p| {
                if p.mode == MarginMode::Cross && p.qty_e8 != 0 && n < MAX_UNIT_POSITIONS {
                    positions[n] = PositionView {
                        instrument: p.instrument,
                        qty: p.qty_e8,
                        entry: p.entry_e8,
                        maintenance: e8_ceil(p.maintenance_margin),
                    };
                    marks[n] = state.mark(p.instrument).unwrap_or(0);
                    n += 1;
                }
            });
            ScopeView {
                margin_balance: e8_floor(acc.margin_balance),
                maintenance: e8_ceil(acc.maintenance_margin),
            }
        } else {
            let Some(p) = state.position(account, unit) else {
                return Outcome::Waiting(Wait::Nothing);
            };
            if !p.liquidatable || p.mode != MarginMode::Isolated {
                self.on_recovered(account);
                return Outcome::Waiting(Wait::Nothing);
            }
            positions[0] = PositionView {
                instrument: p.instrument,
                qty: p.qty_e8,
                entry: p.entry_e8,
                maintenance: e8_ceil(p.maintenance_margin),
            };
            marks[0] = state.mark(p.instrument).unwrap_or(0);
            n = 1;
            ScopeView {
                margin_balance: e8_floor(p.isolated_margin + p.unrealized_pnl),
                maintenance: positions[0].maintenance,
            }
        };
        // The scope's maintenance as the sum of the rounded-up parts (consistent with the
        // per-position figures the tiers subtract).
        let scope = ScopeView {
            maintenance: scope
                .maintenance
                .max(positions[..n].iter().map(|p| p.maintenance).sum()),
            ..scope
        };
        let input = BreachInput {
            account,
            scope,
            positions: &positions[..n],
            marks: &marks[..n],
        };
        self.on_breach(&input, trigger, out)
    }

    /// Refreshes `account`'s ADL ranks from the state.
    pub fn rank_adl(&mut self, state: &MarginState, account: u32) {
        let cross_mb = state
            .account(account)
            .map_or(0, |a| e8_floor(a.margin_balance));
        state.for_each_position(account, |p| {
            let Some(ranking) = self.adl.get_mut(usize::from(p.instrument)) else {
                return;
            };
            let mb = match p.mode {
                MarginMode::Cross => cross_mb,
                MarginMode::Isolated => e8_floor(p.isolated_margin + p.unrealized_pnl),
            };
            let score = AdlRanking::score(
                e8_floor(p.unrealized_pnl),
                e8_ceil(p.basis.abs()),
                e8_ceil(p.notional),
                mb,
            );
            ranking.set(account, p.qty_e8, score);
        });
    }
}
