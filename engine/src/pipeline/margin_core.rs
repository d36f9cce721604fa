//! The production core: the SoA margin state ([`crate::margin`]) driven by market data and
//! account events, and the liquidation policy ([`crate::policy`]) deciding for every margin unit
//! the state reports below maintenance. An adapter only: the math and the rules live in those
//! modules.
//!
//! Per record (all on the risk thread, no allocation: the crossing buffer, the breached-unit set
//! and the scratch list are sized at set-up for every margin unit):
//! - market data → `Policy::on_market` (books, trust); a mark → `MarginState::on_mark`, then
//!   `Policy::on_unit` for each unit that crossed into liquidation and `on_recovered` for each that
//!   left it; an instrument that became sound again re-evaluates every breached unit; the
//!   notional-budget queue is served; acknowledgements that never came are expired
//!   (`Policy::on_time`, record time).
//! - fill / collateral → `MarginState::apply_fill` / `apply_collateral`, ADL ranks refreshed,
//!   crossings handled as above.
//! - order ack → `Policy::on_ack`; the liquidation fee it returns is debited from the account's
//!   wallet; a still-breached account is re-evaluated.
//! - after a fill or a fee debit: an account left with no position and a negative wallet is
//!   settled (see below).
//! - a md gap or a dead producer → `Policy::on_gap` (books untrusted until the next snapshot).
//!
//! # Negative balances (bad debt)
//! A fill that closes an account's last position beyond its bankruptcy price leaves its wallet
//! below zero (in practice: an ADL counterparty closed at another account's bankruptcy price, far
//! from the mark). The core settles that debt once the order that closed it is acknowledged (at
//! the fill when no order of the account is outstanding; at the ack otherwise, because the ack is
//! what books the order's money; at the ack deadline if the ack never comes), the way
//! `tests/policy_accounting.rs` drives the policy: `Policy::cover_negative` pays what the
//! insurance fund can (its available balance; metrics: bad debt, fund change, written off — the
//! part an ADL reduction made the account carry is not counted twice) and the account's wallet is
//! credited with the whole debt (`MarginState::apply_collateral`), so it ends at zero: the fund's
//! share comes out of the fund, the rest is written off. The debt is the wallet rounded up to E8 (the wallet ends in
//! `[0, 1 E8 unit)`). Only accounts with no position at all (cross or isolated) are settled:
//! an isolated position still open returns its margin to the wallet when it closes. Accounts
//! that are flat and negative in the start snapshot are left alone (no event closed them).
//!
//! Settling is a pure function of the state and the account events, so the journal replay
//! (`crate::outcome::audit`, which drives this same core) reproduces it; [`MarginCore::settled`]
//! gives the totals the accounting check adds to its collateral identity. It costs an
//! O(positions of the account) look-up per fill, allocates nothing and takes no lock.
#![forbid(unsafe_code)]

use std::collections::HashMap;

use hotrisk_feed::wire::{Msg, MsgKind};

use super::core::{CoreInfo, Health, OrderSink, RiskCore};
use crate::margin::math::{money_to_e8, Round};
use crate::margin::{Crossings, MarginMode, MarginState, CROSS};
use crate::policy::state::Phase;
use crate::policy::{Outcome, Policy, PolicyConfig, TriggerInfo, Wait};

/// Counters of records the core could not apply (reported at exit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MarginCoreErrors {
    /// Marks the state refused (out of range for the instrument, unknown instrument).
    pub bad_marks: u64,
    /// Fills/collateral changes the state refused.
    pub bad_events: u64,
    /// Negative balances the state refused to credit back (out of range): left unsettled.
    pub unsettled: u64,
}

/// Negative balances the core settled (see the module docs), E8.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settled {
    /// Settlements (an account settled twice counts twice).
    pub count: u64,
    /// Σ debt credited to the settled wallets (= `covered + written_off`).
    pub debt_e8: i128,
    /// Σ paid by the insurance fund (`Policy::cover_negative`).
    pub covered_e8: i128,
    /// Σ written off (the fund could not cover it).
    pub written_off_e8: i128,
}

/// The margin state plus the policy.
#[derive(Debug)]
pub struct MarginCore {
    state: MarginState,
    policy: Policy,
    crossings: Crossings,
    /// Units currently at or below maintenance: (account, unit) → index in `breached_list`.
    breached: HashMap<(u32, u16), usize>,
    breached_list: Vec<(u32, u16)>,
    scratch: Vec<u32>,
    positions: usize,
    errors: MarginCoreErrors,
    settled: Settled,
    initial_pending: bool,
}

impl MarginCore {
    /// Wraps an evaluated state. `insurance_fund_e8` seeds the fund.
    pub fn new(
        state: MarginState,
        cfg: PolicyConfig,
        insurance_fund_e8: i64,
    ) -> Result<Self, String> {
        let n_accounts = state.account_ids().max().map_or(0, |m| m as usize + 1);
        let policy = Policy::for_state(cfg, &state, n_accounts, insurance_fund_e8)
            .map_err(|e| format!("policy set-up: {e}"))?;
        let units = state.crossings_capacity();
        let positions = (0..state.instruments().len())
            .map(|i| state.positions_in(i as u16))
            .sum();
        let mut core = Self {
            crossings: Crossings::with_capacity(units),
            breached: HashMap::with_capacity(units),
            breached_list: Vec::with_capacity(units),
            scratch: Vec::with_capacity(units),
            state,
            policy,
            positions,
            errors: MarginCoreErrors::default(),
            settled: Settled::default(),
            initial_pending: false,
        };
        // In id order: the state's account map iterates in a per-process random order, and the
        // accounts already breached are decided in this order on the first record.
        let mut ids: Vec<u32> = core.state.account_ids().collect();
        ids.sort_unstable();
        for a in ids {
            core.policy.rank_adl(&core.state, a);
            // Units already below maintenance in the snapshot: decided on the first record.
            if core.state.account(a).is_some_and(|r| r.liquidatable) {
                core.mark_breached(a, CROSS);
            }
            let mut isolated = Vec::new();
            core.state.for_each_position(a, |p| {
                if p.mode == MarginMode::Isolated && p.liquidatable {
                    isolated.push(p.instrument);
                }
            });
            for i in isolated {
                core.mark_breached(a, i);
            }
        }
        core.initial_pending = !core.breached_list.is_empty();
        Ok(core)
    }

    /// Seeds the policy's books from snapshot book levels (index = instrument id).
    pub fn seed_books(&mut self, books: &[Vec<crate::snapshot::BookLevel>]) {
        for (i, levels) in books.iter().enumerate() {
            if i >= self.state.instruments().len() {
                break;
            }
            let book = self.policy.book_mut(i as u16);
            for l in levels {
                book.apply(l.side, l.price_e8, l.qty_e8);
            }
        }
    }

    /// The margin state.
    pub fn state(&self) -> &MarginState {
        &self.state
    }

    /// The policy (metrics, insurance fund).
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Records refused so far.
    pub fn errors(&self) -> MarginCoreErrors {
        self.errors
    }

    /// Negative balances settled so far.
    pub fn settled(&self) -> Settled {
        self.settled
    }

    /// Settles `account`'s wallet if it has no position left and is below zero (see the module
    /// docs); `instrument` is the one whose fill or fee left it there (its metrics take the bad
    /// debt). No allocation: a hash look-up and a walk of the account's (at most a few) units.
    fn settle_if_closed(
        &mut self,
        account: u32,
        instrument: u16,
        trig: TriggerInfo,
        out: &mut OrderSink,
    ) {
        let Some(r) = self.state.account(account) else {
            return;
        };
        if r.wallet_balance >= 0 || r.cross_positions > 0 {
            return;
        }
        // An order of the account is still outstanding (its fills came, its ack not yet): wait
        // for the ack, which books what the order moved (an ADL reduction's socialised loss),
        // so the debt is not counted twice (see `Policy::cover_negative`).
        if matches!(
            self.policy.states().phase(account),
            Phase::Cancelling | Phase::Liquidating
        ) {
            return;
        }
        let mut open = false;
        self.state.for_each_position(account, |_| open = true);
        if open {
            return;
        }
        let Ok(debt) = i64::try_from(money_to_e8(-r.wallet_balance, Round::Ceil)) else {
            self.errors.unsettled += 1;
            return;
        };
        // Credit first: if the state refuses (out of range), the fund is not touched either.
        self.crossings.clear();
        if self
            .state
            .apply_collateral(account, debt, &mut self.crossings)
            .is_err()
        {
            // Counted apart from `bad_events`: the event itself was applied (the audit tells a
            // refused event by that counter).
            self.errors.unsettled += 1;
            return;
        }
        let covered = self.policy.cover_negative(account, instrument, debt);
        self.settled.count += 1;
        self.settled.debt_e8 += i128::from(debt);
        self.settled.covered_e8 += i128::from(covered);
        self.settled.written_off_e8 += i128::from(debt - covered);
        self.handle_crossings(trig, out);
    }

    fn mark_breached(&mut self, account: u32, unit: u16) {
        if !self.breached.contains_key(&(account, unit))
            && self.breached_list.len() < self.breached_list.capacity()
        {
            self.breached
                .insert((account, unit), self.breached_list.len());
            self.breached_list.push((account, unit));
        }
    }

    fn mark_recovered(&mut self, account: u32, unit: u16) {
        if let Some(i) = self.breached.remove(&(account, unit)) {
            self.breached_list.swap_remove(i);
            if let Some(&moved) = self.breached_list.get(i) {
                self.breached.insert(moved, i);
            }
        }
    }

    fn decide(
        &mut self,
        account: u32,
        unit: u16,
        trig: TriggerInfo,
        out: &mut OrderSink,
    ) -> Outcome {
        let Self { state, policy, .. } = self;
        policy.on_unit(state, account, unit, trig, &mut |o, _m| {
            out.push(o);
        })
    }

    /// Handles the crossings of the last state operation.
    fn handle_crossings(&mut self, trig: TriggerInfo, out: &mut OrderSink) {
        for i in 0..self.crossings.len() {
            let c = self.crossings.as_slice()[i];
            if c.liquidatable {
                self.mark_breached(c.account, c.instrument);
                self.decide(c.account, c.instrument, trig, out);
            } else {
                self.mark_recovered(c.account, c.instrument);
                self.policy.on_recovered(c.account);
            }
        }
        self.crossings.clear();
    }

    /// Re-decides every breached unit (`all`), or those of the accounts in `scratch`: the
    /// account's cross unit and its isolated positions, looked up in the breached set (linear in
    /// the accounts' positions, never in the number of breached units).
    fn redecide(&mut self, all: bool, trig: TriggerInfo, out: &mut OrderSink) {
        if all {
            let mut i = 0;
            while i < self.breached_list.len() {
                let (a, u) = self.breached_list[i];
                self.decide(a, u, trig, out);
                i += 1;
            }
        } else {
            let mut k = 0;
            while k < self.scratch.len() {
                let a = self.scratch[k];
                k += 1;
                self.decide_account(a, trig, out);
            }
        }
        self.scratch.clear();
    }

    /// Decides every breached unit of `account`: its cross unit, then its isolated units in
    /// instrument order (hash lookups: O(instruments), independent of how many units are
    /// breached). Returns whether one of them waits for the notional budget.
    fn decide_account(&mut self, account: u32, trig: TriggerInfo, out: &mut OrderSink) -> bool {
        let mut budget_wait = false;
        if self.breached.contains_key(&(account, CROSS)) {
            budget_wait |= is_budget_wait(self.decide(account, CROSS, trig, out));
        }
        let n = self.state.instruments().len();
        for i in 0..n as u16 {
            if self.breached.contains_key(&(account, i)) {
                budget_wait |= is_budget_wait(self.decide(account, i, trig, out));
            }
        }
        budget_wait
    }

    fn push_scratch(&mut self, a: u32) {
        if self.scratch.len() < self.scratch.capacity() {
            self.scratch.push(a);
        }
    }
}

impl RiskCore for MarginCore {
    fn on_market(&mut self, msg: &Msg, out: &mut OrderSink) {
        let trig = TriggerInfo::of(msg);
        let effect = self.policy.on_market(msg);
        if self.initial_pending {
            self.initial_pending = false;
            self.redecide(true, trig, out);
        }
        if msg.kind() == Some(MsgKind::MarkPrice) {
            self.crossings.clear();
            if self
                .state
                .on_mark(msg.instrument, msg.body[0], &mut self.crossings)
                .is_err()
            {
                self.errors.bad_marks += 1;
            }
            self.handle_crossings(trig, out);
        }
        if let Some(e) = effect {
            if e.resumed {
                self.redecide(true, trig, out);
            }
            // Serve the notional-budget queue while budget is left.
            // Each account popped is re-decided through its own units (looked up, O(instruments)),
            // never by a scan of every breached unit.
            while let Some(a) = self.policy.next_waiting(e.instrument, trig.ts) {
                if self.decide_account(a, trig, out) {
                    break;
                }
            }
        }
        // Acknowledgements that never came: re-decide those accounts.
        let Self {
            policy, scratch, ..
        } = self;
        policy.on_time(trig.ts, |a| {
            if scratch.len() < scratch.capacity() {
                scratch.push(a);
            }
        });
        if !self.scratch.is_empty() {
            // An account whose order was given up may be flat and below zero (its fills came,
            // its ack never did): settle it now.
            let mut k = 0;
            while k < self.scratch.len() {
                let a = self.scratch[k];
                k += 1;
                let instrument = self.policy.transfer(a).map_or(0, |t| t.instrument);
                self.settle_if_closed(a, instrument, trig, out);
            }
            self.redecide(false, trig, out);
        }
    }

    fn on_account(&mut self, msg: &Msg, out: &mut OrderSink) {
        let trig = TriggerInfo::of(msg);
        let a = msg.account;
        match msg.kind() {
            Some(MsgKind::Fill) => {
                self.crossings.clear();
                let r = self.state.apply_fill(
                    a,
                    msg.instrument,
                    msg.body[0],
                    msg.body[1],
                    msg.body[2],
                    &mut self.crossings,
                );
                if r.is_err() {
                    self.errors.bad_events += 1;
                }
                self.policy.rank_adl(&self.state, a);
                self.handle_crossings(trig, out);
                if r.is_ok() {
                    self.settle_if_closed(a, msg.instrument, trig, out);
                }
            }
            Some(MsgKind::Collateral) => {
                self.crossings.clear();
                if self
                    .state
                    .apply_collateral(a, msg.body[0], &mut self.crossings)
                    .is_err()
                {
                    self.errors.bad_events += 1;
                }
                self.policy.rank_adl(&self.state, a);
                self.handle_crossings(trig, out);
            }
            Some(MsgKind::OrderAck) => {
                let margin_left = self.state.account(a).map_or(0, |r| {
                    money_to_e8(r.margin_balance, Round::Floor).clamp(0, i128::from(i64::MAX))
                        as i64
                });
                if let Some(r) = self.policy.on_ack(msg, margin_left) {
                    if r.fee > 0 {
                        self.crossings.clear();
                        if self
                            .state
                            .apply_collateral(a, -r.fee, &mut self.crossings)
                            .is_err()
                        {
                            self.errors.bad_events += 1;
                        }
                        self.handle_crossings(trig, out);
                    }
                    // After the ack (settlement waits for it: see `settle_if_closed`).
                    self.settle_if_closed(a, r.effect.instrument, trig, out);
                    // Still breached: the next step of the episode.
                    self.push_scratch(a);
                    self.redecide(false, trig, out);
                }
            }
            _ => {}
        }
    }

    fn on_health(&mut self, h: Health, _out: &mut OrderSink) {
        match h {
            Health::MdGap { .. } | Health::MdProducerDead => self.policy.on_gap(),
            Health::MdProducerAlive => {}
        }
    }

    fn info(&self) -> CoreInfo {
        CoreInfo {
            instruments: self.state.instruments().len(),
            accounts: self.state.accounts(),
            positions: self.positions,
            state_bytes: self.positions * MarginState::BYTES_PER_POSITION
                + self.state.accounts() * 64
                + self.breached_list.capacity() * 24,
        }
    }

    fn describe(&self) -> String {
        "margin core (SoA margin state + liquidation policy)".into()
    }

    fn summary(&self) -> String {
        use std::fmt::Write as _;
        let policy = &self.policy;
        let rows = self
            .state
            .instruments()
            .iter()
            .enumerate()
            .map(|(i, inst)| {
                let asset = crate::policy::metrics::margin_asset(
                    inst.symbol(),
                    inst.kind() == crate::margin::Kind::Inverse,
                );
                (inst.symbol(), asset, policy.metrics(i as u16))
            });
        let mut s = crate::policy::metrics::summary_table(rows, policy.fund());
        if self.settled.count > 0 {
            let f =
                |v: i128| hotrisk_feed::fixed::format_e8(v.clamp(0, i128::from(i64::MAX)) as i64);
            let _ = writeln!(
                s,
                "negative balances settled: {} (debt {}, insurance fund paid {}, written off {})",
                self.settled.count,
                f(self.settled.debt_e8),
                f(self.settled.covered_e8),
                f(self.settled.written_off_e8)
            );
        }
        if self.errors != MarginCoreErrors::default() {
            let _ = writeln!(
                s,
                "refused records: {} marks, {} account events; negative balances left unsettled: {}",
                self.errors.bad_marks, self.errors.bad_events, self.errors.unsettled
            );
        }
        s
    }
}

/// Whether an outcome means "the budget is spent" (stop serving the queue).
pub fn is_budget_wait(o: Outcome) -> bool {
    matches!(o, Outcome::Waiting(Wait::Budget))
}
