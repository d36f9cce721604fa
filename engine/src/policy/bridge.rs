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

/// A margin unit read from the state into fixed stack arrays (no allocation).
#[derive(Debug)]
pub(crate) struct UnitBuf {
    positions: [PositionView; MAX_UNIT_POSITIONS],
    marks: [i64; MAX_UNIT_POSITIONS],
    n: usize,
    scope: ScopeView,
}

impl UnitBuf {
    pub(crate) fn new() -> Self {
        let empty = PositionView {
            instrument: 0,
            qty: 0,
            entry: 0,
            maintenance: 0,
        };
        Self {
            positions: [empty; MAX_UNIT_POSITIONS],
            marks: [0; MAX_UNIT_POSITIONS],
            n: 0,
            scope: ScopeView {
                margin_balance: 0,
                maintenance: 0,
            },
        }
    }

    /// Reads `account`'s unit (`CROSS` or an isolated position's instrument). `None`: no such
    /// unit; `Some(liquidatable)` otherwise.
    pub(crate) fn load(&mut self, state: &MarginState, account: u32, unit: u16) -> Option<bool> {
        self.n = 0;
        if unit == CROSS {
            let acc = state.account(account)?;
            let (positions, marks, n) = (&mut self.positions, &mut self.marks, &mut self.n);
            state.for_each_position(account, |p| {
                if p.mode == MarginMode::Cross && p.qty_e8 != 0 && *n < MAX_UNIT_POSITIONS {
                    positions[*n] = PositionView {
                        instrument: p.instrument,
                        qty: p.qty_e8,
                        entry: p.entry_e8,
                        maintenance: e8_ceil(p.maintenance_margin),
                    };
                    marks[*n] = state.mark(p.instrument).unwrap_or(0);
                    *n += 1;
                }
            });
            self.scope = ScopeView {
                margin_balance: e8_floor(acc.margin_balance),
                maintenance: e8_ceil(acc.maintenance_margin),
            };
            self.finish();
            Some(acc.liquidatable)
        } else {
            let p = state.position(account, unit)?;
            if p.mode != MarginMode::Isolated {
                return None;
            }
            self.positions[0] = PositionView {
                instrument: p.instrument,
                qty: p.qty_e8,
                entry: p.entry_e8,
                maintenance: e8_ceil(p.maintenance_margin),
            };
            self.marks[0] = state.mark(p.instrument).unwrap_or(0);
            self.n = 1;
            self.scope = ScopeView {
                margin_balance: e8_floor(p.isolated_margin + p.unrealized_pnl),
                maintenance: self.positions[0].maintenance,
            };
            self.finish();
            Some(p.liquidatable)
        }
    }

    /// The scope's maintenance is at least the sum of the rounded-up parts (consistent with the
    /// per-position figures the tiers subtract).
    fn finish(&mut self) {
        let parts: i64 = self.positions[..self.n].iter().map(|p| p.maintenance).sum();
        self.scope.maintenance = self.scope.maintenance.max(parts);
    }

    pub(crate) fn input(&self, account: u32) -> BreachInput<'_> {
        BreachInput {
            account,
            scope: self.scope,
            positions: &self.positions[..self.n],
            marks: &self.marks[..self.n],
        }
    }
}

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
        let mut buf = UnitBuf::new();
        match buf.load(state, account, unit) {
            Some(true) => {}
            Some(false) => {
                self.on_recovered(account);
                return Outcome::Waiting(Wait::Nothing);
            }
            None => return Outcome::Waiting(Wait::Nothing),
        }
        let input = buf.input(account);
        self.on_breach(&input, trigger, out)
    }

    /// Refreshes `account`'s ADL ranks from the state.
    pub fn rank_adl(&mut self, state: &MarginState, account: u32) {
        self.rank_adl_as(state, account, account);
    }

    /// [`Policy::rank_adl`] with the policy's id for the account given separately (dense ids).
    pub(crate) fn rank_adl_as(&mut self, state: &MarginState, account: u32, id: u32) {
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
            ranking.set(id, p.qty_e8, score);
        });
    }
}
