//! The liquidation policy: what to send for an account below maintenance, and when not to.
//!
//! The margin core says **who** is below maintenance; this module decides **what** to send:
//! cancel-all first, then a partial or full IOC reduce-only order priced and sized from the book,
//! the insurance-fund backstop when the book cannot absorb the position before bankruptcy, and
//! auto-deleveraging when the fund cannot cover it — while refusing to act on prices it cannot
//! trust and throttling cascades.
//!
//! | concept | module |
//! |---|---|
//! | instrument parameters, exact per-position arithmetic | [`spec`] |
//! | per-instrument L2 book (top [`book::BOOK_DEPTH`] levels) | [`book`] |
//! | limit price and size from the book | [`sizing`] |
//! | position choice, partial/full, backstop, ADL ranking | [`tiers`] |
//! | insurance fund, fees, conservation ledger | [`insurance`] |
//! | data-trust pauses, notional budget, circuit breaker | [`guards`] |
//! | per-account state machine, order ids, timeouts | [`state`] |
//! | efficiency metrics | [`metrics`] |
//! | the margin core's state → the policy (`on_unit`, ADL ranks) | [`bridge`] |
//! | `hotrisk risk`'s orders and metrics for a scenario | [`scenario`] |
//!
//! # Phases and ownership
//! - **Set-up** ([`Policy::new`]) allocates everything: books and guards per instrument, the
//!   account state arrays, the ADL and budget heaps (`accounts` ids each).
//! - **Run**: the risk thread owns the `Policy` exclusively (no sharing, no locks). It calls
//!   [`Policy::on_market`] for every market-data record (books, marks, index, status),
//!   [`Policy::on_breach`] for every account the margin core reports below maintenance,
//!   [`Policy::on_ack`] for every order acknowledgement, and [`Policy::on_time`] to expire
//!   acknowledgements that never came. None of these allocate, lock, read a clock or use floats:
//!   time is the record time passed in, so a replay gives the same orders bit for bit.
//! - Orders leave through a caller-supplied sink `FnMut(Order, OrderMetrics)`; the gateway
//!   stamps `emit_ts`.
//! - With the margin core: build with [`Policy::for_state`], call [`Policy::on_unit`] for every
//!   [`crate::margin::Crossing`] (and again for the accounts an ack, a timeout, a resume or the
//!   budget queue hands back), keep ADL ranks with [`Policy::rank_adl`] on fills, debit the fee
//!   [`Policy::on_ack`] returns from the wallet, and settle a closed-out negative wallet with
//!   [`Policy::cover_negative`] once the order that closed it is acknowledged.
//!   `tests/policy_accounting.rs` drives exactly that loop; `tests/policy_ledger.rs` checks the
//!   money it books against losses summed from the fills.
//!
//! # Money: booked on what executed
//! A decision moves no money. A backstop or ADL decision reserves the fund's planned share
//! ([`insurance::InsuranceFund::reserve`]; later decisions choose backstop vs ADL with the
//! balance minus the reservations) and records the transfer's terms; [`Policy::on_ack`] books
//! the filled quantity (fund takeover, counterparties' socialised loss, written off) and
//! releases the reservation, a rejection or an ack timeout ([`Policy::on_time`]) only releases
//! it. Fees are booked on book orders' fills, and [`Policy::cover_negative`] books a settled
//! negative balance without recounting what an ADL reduction already booked. One place books
//! each unit of loss; [`insurance`] and [`metrics`] have the rules and definitions.
//!
//! # Memory
//! Per instrument: one [`book::Book`] (2 × 32 levels × 16 B) and one guard; per account: about
//! 40 B of state and a transfer record plus the ADL loss it carries ([`insurance::Transfers`],
//! under 112 B); per (instrument, account): 3 heap slots of 16 B (two ADL sides, the budget
//! queue) plus the ADL quantity — so `instruments × accounts × 56 B` dominates at scale (10 MB
//! for 3 instruments × 60 000 accounts).
//!
//! # Cost
//! `benches/decision.rs` times one decision including a 20-level book walk (README: the numbers
//! on the project machine, and their callgrind instruction counts). Divisions by the E8 scale
//! are one or two 64-bit multiply-shifts ([`spec`]'s `floor_e8`/`floor_e8_lt`); a division by
//! a value fixed ahead (the lot, the tick, the mark, a partial's slope) uses a reciprocal kept
//! per instrument or per mark, so the usual decision runs two hardware divisions (the walk's
//! average price by the lot count, the fraction closed). The partial solve evaluates its exact
//! slack once in the usual case with constants cached per mark and limit ([`tiers`]); the
//! bankruptcy price's division is skipped when one multiplication shows that the slippage bound
//! binds first and the book within the limit covers the order; the book walk is one tight loop
//! by quantity that checks the limit once ([`sizing`]); the parts of the scope after the fill come
//! from the solve instead of being recomputed; the per-order metrics carry raw integers and
//! compute their ratios when read ([`metrics::OrderMetrics`]); and the spec is read by
//! reference. [`reference`](mod@reference) keeps the plain versions the fast ones are tested against.

#![forbid(unsafe_code)]

pub mod book;
pub mod bridge;
pub mod guards;
pub mod heap;
pub mod insurance;
pub mod metrics;
#[doc(hidden)]
pub mod reference;
pub mod scenario;
pub mod sizing;
pub mod spec;
pub mod state;
pub mod tiers;

use book::Book;
use guards::{Guard, GuardConfig, Pause};
use heap::IndexedHeap;
use hotrisk_feed::fixed::E8;
use hotrisk_feed::wire::{
    order_id, AckStatus, InstrumentStatus, Msg, MsgKind, Order, Side, Tier, FLAG_REDUCE_ONLY,
    TIF_IOC,
};
use insurance::{InsuranceFund, Transfer, TransferBooks, TransferState, Transfers};
use metrics::{margin_ratio, InstrumentMetrics, OrderMetrics};
use spec::InstrumentSpec;
use state::AccountStates;
use tiers::{AdlRanking, PartialInput, PositionView, ScopeView, TierConfig};

/// Policy parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyConfig {
    /// Tier parameters (slippage bound, partial buffer, full threshold).
    pub tiers: TierConfig,
    /// Data-trust, budget and breaker parameters.
    pub guard: GuardConfig,
    /// How long an order may stay unacknowledged before it is given up, ns of record time.
    pub ack_timeout_ns: i64,
    /// Send a cancel-all before the first liquidation order of an episode.
    pub cancel_first: bool,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            tiers: TierConfig::default(),
            guard: GuardConfig::default(),
            ack_timeout_ns: 1_000_000_000,
            cancel_first: true,
        }
    }
}

/// The record that triggered a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TriggerInfo {
    /// Its sequence number (goes into the order id).
    pub seq: u64,
    /// Its record time (ns): `exch_ts`, or `local_ts` when the venue time is unknown.
    pub ts: i64,
    /// Its `publish_ts` (copied into the order for end-to-end latency).
    pub publish_ts: i64,
}

impl TriggerInfo {
    /// The trigger info of a record.
    pub fn of(msg: &Msg) -> Self {
        Self {
            seq: msg.seq,
            ts: record_time(msg),
            publish_ts: msg.publish_ts,
        }
    }
}

/// A record's time for decisions: the venue time, or the capture time when that is unknown.
#[inline]
pub fn record_time(msg: &Msg) -> i64 {
    if msg.exch_ts != 0 {
        msg.exch_ts
    } else {
        msg.local_ts
    }
}

/// One breached scope handed to [`Policy::on_breach`].
#[derive(Debug, Clone, Copy)]
pub struct BreachInput<'a> {
    /// Account id (< the `accounts` given at set-up).
    pub account: u32,
    /// The scope's margin balance and maintenance.
    pub scope: ScopeView,
    /// The scope's positions: all cross positions of the account, or the one isolated position.
    pub positions: &'a [PositionView],
    /// Marks of the positions' instruments, index-aligned with `positions`.
    pub marks: &'a [i64],
}

/// Why nothing was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// An order or cancel-all is outstanding.
    Outstanding,
    /// The instrument is paused for these reasons.
    Paused(Pause),
    /// Nothing in the book within the slippage bound (the rest waits for the next decision).
    NoDepth,
    /// The instrument's notional budget is spent; the account is queued (worst margin first).
    Budget,
    /// No position or no valid price.
    Nothing,
}

/// What a decision did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Orders of this tier were sent (for ADL, also to counterparties).
    Sent(Tier),
    /// Nothing was sent.
    Waiting(Wait),
}

/// What an acknowledgement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckResult {
    /// The state transition's summary.
    pub effect: state::AckEffect,
    /// Liquidation fee credited to the fund; the caller debits it from the account's wallet.
    pub fee: i64,
}

/// What a market-data record did to an instrument's trust state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarketEffect {
    /// The instrument.
    pub instrument: u16,
    /// Current pause reasons.
    pub pause: Pause,
    /// The instrument just became sound again: re-evaluate every account holding it.
    pub resumed: bool,
}

/// The liquidation policy of one engine (see the module docs).
#[derive(Debug)]
pub struct Policy {
    cfg: PolicyConfig,
    specs: Vec<InstrumentSpec>,
    books: Vec<Book>,
    guards: Vec<Guard>,
    states: AccountStates,
    fund: InsuranceFund,
    /// Backstop/ADL transfers decided and not yet booked, one slot per account
    /// ([`insurance`]'s module docs: money is booked on fills, never at the decision).
    transfers: Transfers,
    adl: Vec<AdlRanking>,
    waiting: Vec<IndexedHeap>,
    metrics: Vec<InstrumentMetrics>,
    /// Per instrument: the slippage bounds and the reciprocal of the last mark a decision used
    /// on the mark; recomputed when a decision sees another one).
    bounds: Vec<MarkCache>,
    /// Per instrument: the partial solve's constants of the last mark, limit and side it used
    /// ([`tiers::PartialCache`]).
    partial: Vec<tiers::PartialCache>,
}

impl Policy {
    /// Allocates the policy for `specs.len()` instruments and account ids `0..accounts`.
    pub fn new(
        cfg: PolicyConfig,
        specs: Vec<InstrumentSpec>,
        accounts: usize,
        insurance_fund: i64,
    ) -> Self {
        let n = specs.len();
        Self {
            cfg,
            books: vec![Book::new(); n],
            guards: vec![Guard::new(); n],
            states: AccountStates::new(accounts),
            fund: InsuranceFund::new(insurance_fund),
            transfers: Transfers::new(accounts),
            adl: (0..n).map(|_| AdlRanking::new(accounts)).collect(),
            waiting: (0..n)
                .map(|_| IndexedHeap::with_capacity(accounts))
                .collect(),
            metrics: vec![InstrumentMetrics::default(); n],
            // `default()` is the bounds of mark 0 whatever the slippage rate: a valid entry.
            bounds: vec![MarkCache::default(); n],
            partial: vec![tiers::PartialCache::default(); n],
            specs,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PolicyConfig {
        &self.cfg
    }

    /// An instrument's spec.
    pub fn spec(&self, instrument: u16) -> &InstrumentSpec {
        &self.specs[instrument as usize]
    }

    /// An instrument's book.
    pub fn book(&self, instrument: u16) -> &Book {
        &self.books[instrument as usize]
    }

    /// Mutable access to a book (set-up and tests; the feed path is [`Policy::on_market`]).
    pub fn book_mut(&mut self, instrument: u16) -> &mut Book {
        &mut self.books[instrument as usize]
    }

    /// An instrument's guard.
    pub fn guard(&self, instrument: u16) -> &Guard {
        &self.guards[instrument as usize]
    }

    /// Mutable access to a guard (set-up, e.g. `hotrisk risk` trusting a static snapshot).
    pub fn guard_mut(&mut self, instrument: u16) -> &mut Guard {
        &mut self.guards[instrument as usize]
    }

    /// The per-account states.
    pub fn states(&self) -> &AccountStates {
        &self.states
    }

    /// The insurance fund.
    pub fn fund(&self) -> &InsuranceFund {
        &self.fund
    }

    /// The transfer record of `account` (its latest backstop/ADL order, own or as a
    /// counterparty), if any.
    pub fn transfer(&self, account: u32) -> Option<&Transfer> {
        self.transfers
            .get(account)
            .filter(|t| t.state != TransferState::None)
    }

    /// `account` has no position left and a negative wallet (`debt` > 0), after its last fill on
    /// `instrument` and after that order's ack (call it then: the ack books what an ADL
    /// reduction made the account carry). The fund pays what it can from its available balance;
    /// returns the amount covered (the rest is written off, see [`insurance::Ledger::write_off`]).
    ///
    /// Booked once: the part of the debt up to the loss the account carried as an ADL
    /// counterparty was already counted as bad debt (socialised) when that reduction filled, so
    /// it moves from `socialised` to the fund / written off; only the rest is new bad debt.
    pub fn cover_negative(&mut self, account: u32, instrument: u16, debt: i64) -> i64 {
        let debt = debt.max(0);
        let (carried, j) = self.transfers.settle_carried(account, debt);
        let mut covered = 0;
        if let Some(m) = self.metrics.get_mut(usize::from(j)) {
            let c = self.fund.cover_up_to(carried);
            m.socialised -= i128::from(carried);
            m.written_off += i128::from(carried - c);
            m.fund_change -= i128::from(c);
            covered += c;
        }
        let new = debt - carried;
        if let Some(m) = self.metrics.get_mut(usize::from(instrument)) {
            let c = self.fund.cover_up_to(new);
            m.bad_debt += i128::from(new);
            m.written_off += i128::from(new - c);
            m.fund_change -= i128::from(c);
            covered += c;
        }
        covered
    }

    fn books(&mut self) -> TransferBooks<'_> {
        TransferBooks {
            fund: &mut self.fund,
            transfers: &mut self.transfers,
            metrics: &mut self.metrics,
            specs: &self.specs,
        }
    }

    /// An instrument's aggregated metrics.
    pub fn metrics(&self, instrument: u16) -> &InstrumentMetrics {
        &self.metrics[instrument as usize]
    }

    /// An instrument's ADL ranking (the margin-state owner keeps it current).
    pub fn adl_mut(&mut self, instrument: u16) -> &mut AdlRanking {
        &mut self.adl[instrument as usize]
    }

    /// Updates the books and trust state from one market-data record. Returns `None` for
    /// records that are not market data of a known instrument.
    pub fn on_market(&mut self, msg: &Msg) -> Option<MarketEffect> {
        let i = msg.instrument as usize;
        if i >= self.specs.len() {
            return None;
        }
        let ts = record_time(msg);
        let (book, guard) = (&mut self.books[i], &mut self.guards[i]);
        match msg.kind()? {
            MsgKind::MarkPrice => guard.on_mark(&self.cfg.guard, msg.body[0], ts),
            MsgKind::IndexPrice => guard.on_index(msg.body[0], ts),
            MsgKind::BookLevel => {
                book.apply(Side::from_u8(msg.aux)?, msg.body[0], msg.body[1]);
                guard.set_crossed(book.is_crossed());
            }
            MsgKind::SnapshotBegin => {
                book.begin_snapshot();
                guard.set_gap(true);
                guard.set_crossed(false);
            }
            MsgKind::SnapshotEnd => {
                book.end_snapshot();
                guard.set_gap(false);
                guard.set_crossed(book.is_crossed());
            }
            MsgKind::Status => guard.set_halted(msg.aux == InstrumentStatus::Halted as u8),
            MsgKind::Trade | MsgKind::Funding | MsgKind::Heartbeat => {}
            _ => return None,
        }
        let (pause, resumed) = guard.on_record_time(&self.cfg.guard, ts);
        Some(MarketEffect {
            instrument: msg.instrument,
            pause,
            resumed,
        })
    }

    /// A market-data sequence gap (reported by the ring reader): every instrument's book is
    /// suspect until its next complete snapshot.
    pub fn on_gap(&mut self) {
        for g in &mut self.guards {
            g.set_gap(true);
        }
    }

    /// The margin core says `account` is no longer below maintenance: end its episode.
    pub fn on_recovered(&mut self, account: u32) {
        self.states.recovered(account);
        for w in &mut self.waiting {
            w.remove(account);
        }
    }

    /// Gives up outstanding orders older than the ack timeout at record time `now`; each such
    /// account is passed to `reevaluate`.
    ///
    /// Called for every record, so it must not cost O(outstanding orders) each time: the
    /// deadlines are kept in a heap by [`AccountStates`] (earliest on top), so this is O(1) when
    /// nothing is due and O(log n) per account whose deadline passed (see
    /// [`AccountStates::expire`]).
    ///
    /// A backstop/ADL transfer given up this way books nothing: its reservation is released
    /// (a late fill of the bankrupt account's own transfer still books, see [`insurance`]).
    pub fn on_time(&mut self, now: i64, mut reevaluate: impl FnMut(u32)) {
        let Self {
            states,
            fund,
            transfers,
            metrics,
            specs,
            ..
        } = self;
        let mut books = TransferBooks {
            fund,
            transfers,
            metrics,
            specs,
        };
        states.expire(now, |a| {
            books.on_timeout(a);
            reevaluate(a);
        });
    }

    /// The account waiting on `instrument`'s budget with the worst margin ratio, if at least one
    /// lot's notional of budget is left at `now`; it leaves the queue and the caller re-evaluates it
    /// with [`Policy::on_breach`] (which queues it again if the budget is still too small, so a
    /// caller loops until `None` or a `Waiting(Budget)` outcome).
    pub fn next_waiting(&mut self, instrument: u16, now: i64) -> Option<u32> {
        let i = instrument as usize;
        let one_lot = self.specs[i].notional(self.specs[i].lot, self.guards[i].mark().max(1));
        if self.guards[i].budget_left(&self.cfg.guard, now) >= one_lot {
            self.waiting[i].pop().map(|(a, _)| a)
        } else {
            None
        }
    }

    /// Applies an order acknowledgement (an `OrderAck` record). `margin_left` is the account's
    /// margin above bankruptcy after the fill was applied to the margin state (the fee cap).
    /// Returns `None` for an ack that matches no outstanding order (stale or duplicate).
    ///
    /// A backstop or ADL order's ack books its money here, for the quantity it reports filled
    /// ([`insurance`]'s module docs); a late fill of a transfer that timed out still books (the
    /// result is `None` then: the state machine has moved on).
    pub fn on_ack(&mut self, msg: &Msg, margin_left: i64) -> Option<AckResult> {
        let status = AckStatus::from_u8(msg.aux)?;
        let [oid, filled, avg] = msg.body;
        let executed = if status == AckStatus::Rejected {
            0
        } else {
            filled
        };
        self.books().on_fill(msg.account, oid as u64, executed);
        let effect = self.states.ack(msg.account, oid as u64, status, filled)?;
        let i = effect.instrument as usize;
        let fee = if filled > 0 && avg > 0 && matches!(effect.tier, Tier::Partial | Tier::Full) {
            self.specs[i].liquidation_fee(filled, avg, margin_left)
        } else {
            0
        };
        self.fund.credit_fee(fee);
        self.metrics[i].fund_change += i128::from(fee);
        self.metrics[i].fees += i128::from(fee);
        Some(AckResult { effect, fee })
    }

    /// Decides for one breached scope; orders go to `out`. See the module docs of [`tiers`] and
    /// [`sizing`] for the rules.
    pub fn on_breach(
        &mut self,
        input: &BreachInput<'_>,
        trigger: TriggerInfo,
        out: &mut impl FnMut(Order, OrderMetrics),
    ) -> Outcome {
        let account = input.account;
        let ts = trigger.ts;
        let breach_ts = self.states.note_breach(account, ts);
        if !self.states.can_send(account) {
            return Outcome::Waiting(Wait::Outstanding);
        }
        let Some(k) = tiers::pick_cross(input.positions) else {
            return Outcome::Waiting(Wait::Nothing);
        };
        let pos = input.positions[k];
        let mark = input.marks[k];
        let i = pos.instrument as usize;
        let pause = self.guards[i].pause(&self.cfg.guard, ts);
        if !pause.is_clear() {
            self.metrics[i].paused += 1;
            return Outcome::Waiting(Wait::Paused(pause));
        }
        let sign = pos.qty.signum();
        let side = tiers::closing_side(sign);
        let mut order = Order {
            order_id: 0,
            trigger_seq: trigger.seq,
            trigger_publish_ts: trigger.publish_ts,
            emit_ts: 0,
            kind: MsgKind::Order as u8,
            side: side as u8,
            instrument: pos.instrument,
            account,
            qty: 0,
            limit_price: 0,
            tier: Tier::Cancel as u8,
            tif: TIF_IOC,
            flags: FLAG_REDUCE_ONLY,
            attempt: 0,
            reserved: 0,
        };
        let deadline = ts.saturating_add(self.cfg.ack_timeout_ns);
        let mb = input.scope.margin_balance;
        let mm = input.scope.maintenance;
        let mut m = OrderMetrics {
            tier: Tier::Cancel,
            breach_to_order_ns: ts - breach_ts,
            mark: 0,
            price: 0,
            sell: side == Side::Sell,
            qty: 0,
            position_qty: 0,
            target_qty: 0,
            mm_before: mm,
            mb_before: mb,
            mm_after: mm,
            mb_after: mb,
            bad_debt: 0,
            fund_change: 0,
        };

        // Tier 0: cancel the account's resting orders first.
        if self.cfg.cancel_first && !self.states.cancel_done(account) {
            order.kind = MsgKind::CancelAll as u8;
            self.emit(&mut order, m, deadline, out);
            return Outcome::Sent(Tier::Cancel);
        }

        // A reference, not a copy: the spec is ~400 bytes and `emit` comes after its last use.
        let spec = &self.specs[i];
        let q = pos.qty.unsigned_abs() as i64;
        let cache = &mut self.bounds[i];
        if cache.bounds.mark != mark {
            *cache = MarkCache::new(spec, mark, self.cfg.tiers.slippage);
        }
        let (bound, bound_limit) = (cache.bounds.get(side), cache.limit(side));
        let full_failed = self.states.full_failures(account) > self.cfg.tiers.full_retries;
        // The bankruptcy price matters below when it binds the limit, for the backstop paths,
        // and for the walk's depth count when the book within the limit is too thin. When the
        // slippage bound binds (one multiplication tells, see
        // `InstrumentSpec::bankruptcy_beyond`) and nothing else needs it yet, its division is
        // left for later: `bp_known` is false and `bp` stays `None` until then.
        let bp_known = mb <= 0
            || full_failed
            || spec.bankruptcy_beyond(sign, q, mark, mb, bound) != Some(true);
        let mut bp = if bp_known {
            spec.bankruptcy_price(sign, q, mark, mb)
        } else {
            None
        };
        if bp.is_none() && mb <= 0 {
            // Bankrupt at every positive price (a short that lost more than its notional): no
            // fill can avoid bad debt, so the fund takes the position at the mark and the
            // negative balance is settled by the caller (`cover_negative`).
            return self.backstop(input, k, mark, &mut order, m, deadline, out);
        }
        // Tier 3 after failed full orders: what the book did not fill goes to the backstop.
        if let Some(bp) = bp {
            if full_failed {
                self.metrics[i].escalations += 1;
                return self.backstop(input, k, bp, &mut order, m, deadline, out);
            }
        }
        // With `bp` unknown the bound binds, so the bound's own limit is the one the exact price
        // would give.
        let limit = if bp_known {
            sizing::limit_from_bound(spec, side, bound, bp)
        } else {
            bound_limit
        };
        let Some(limit) = limit else {
            return Outcome::Waiting(Wait::Nothing);
        };
        let mm_others = mm - pos.maintenance;
        let full = self.states.partial_failed(account)
            || i128::from(mb) * i128::from(E8)
                <= i128::from(self.cfg.tiers.full_threshold) * i128::from(mm);
        let partial = if full {
            None
        } else {
            tiers::partial_solve_cached(
                spec,
                &PartialInput {
                    sign,
                    abs_qty: q,
                    mark,
                    limit,
                    margin_balance: mb,
                    mm_others,
                    buffer: self.cfg.tiers.buffer,
                },
                &mut self.partial[i],
            )
        };
        let (tier, want) = match partial {
            Some(x) => (Tier::Partial, x.qty),
            None => (Tier::Full, q),
        };
        let book = &self.books[i];
        // With `bp` unknown the slippage bound binds: the walk computes the bankruptcy price
        // only if it needs it (the levels within the limit do not cover `want`).
        let sized = if bp_known {
            sizing::walk(spec, book.contra(side), side, want, limit, bp)
        } else {
            let (sized, computed) =
                sizing::walk_bound_binds(spec, book.contra(side), side, want, limit, || {
                    spec.bankruptcy_price(sign, q, mark, mb)
                });
            if let Some(exact) = computed {
                bp = exact;
            }
            sized
        };

        // Tiers 3 and 4: the book cannot absorb anything at or better than bankruptcy.
        if let Some(bp) = bp {
            if sized.depth_to_bankruptcy == 0 {
                return self.backstop(input, k, bp, &mut order, m, deadline, out);
            }
        }
        if sized.qty == 0 {
            self.metrics[i].depth_waits += 1;
            return Outcome::Waiting(Wait::NoDepth);
        }

        // Cascade control: the per-instrument notional budget, worst margin ratio first.
        let mut qty = sized.qty;
        let mut notional = spec.notional(qty, limit);
        let left = self.guards[i].budget_left(&self.cfg.guard, ts);
        let queued_ahead = self.waiting[i]
            .peek()
            .is_some_and(|(top, key)| top != account && key > margin_ratio(mm, mb));
        if notional > left || queued_ahead {
            if !queued_ahead && left > 0 {
                qty = spec.floor_lot(sat_mul_div(qty, left, notional));
            } else {
                qty = 0;
            }
            if qty == 0 {
                self.waiting[i].upsert(account, margin_ratio(mm, mb));
                self.metrics[i].budget_waits += 1;
                return Outcome::Waiting(Wait::Budget);
            }
            notional = spec.notional(qty, limit);
        }
        if !self.waiting[i].is_empty() {
            self.waiting[i].remove(account);
        }
        self.guards[i].spend(notional);

        // The scope after a complete fill at the limit: the partial solve has it when the order
        // is the whole partial (the usual case), otherwise compute it.
        let (mm_rest, loss, fee) = match partial {
            Some(x) if x.qty == qty => (x.mm_rest, x.loss, x.fee),
            _ => (
                spec.maintenance(spec.notional(q - qty, mark)),
                spec.close_loss(sign, qty, mark, limit),
                spec.liquidation_fee(qty, limit, i64::MAX),
            ),
        };
        let mm_after = mm_others + mm_rest;
        let mb_after = mb - loss - fee;
        m.tier = tier;
        m.mark = mark;
        m.price = sized.vwap;
        m.position_qty = q;
        m.target_qty = want;
        m.mm_after = mm_after;
        m.mb_after = mb_after;
        order.tier = tier as u8;
        order.qty = qty;
        order.limit_price = limit;
        self.emit(&mut order, m, deadline, out);
        Outcome::Sent(tier)
    }

    /// Backstop (the fund takes the position at `bp`) or, when the fund cannot cover the loss,
    /// ADL against the ranked opposite positions.
    #[allow(clippy::too_many_arguments)]
    fn backstop(
        &mut self,
        input: &BreachInput<'_>,
        k: usize,
        bp: i64,
        order: &mut Order,
        mut m: OrderMetrics,
        deadline: i64,
        out: &mut impl FnMut(Order, OrderMetrics),
    ) -> Outcome {
        let pos = input.positions[k];
        let mark = input.marks[k];
        let i = pos.instrument as usize;
        let spec = self.specs[i];
        let sign = pos.qty.signum();
        let q = pos.qty.unsigned_abs() as i64;
        let side = tiers::closing_side(sign);
        // Tick-rounded for solvency: up for a long's sell, down for a short's buy.
        let price = spec.round_tick(bp, side == Side::Sell);
        // The fund enters at `price` and is worth the mark: its PnL (negative = loss).
        let fund_pnl = spec.realised_pnl(sign, q, price, mark);
        let loss = -fund_pnl;
        m.mark = mark;
        m.price = price;
        m.position_qty = q;
        m.target_qty = q;
        m.mm_after = input.scope.maintenance - pos.maintenance;
        m.mb_after = 0;
        m.bad_debt = loss.max(0);
        order.qty = q;
        order.limit_price = price;
        // Nothing is booked here: the fund's share is reserved, the transfer's terms recorded,
        // and the money moves when (and as far as) the venue fills it (`on_ack`).
        let generation = self.transfers.begin(input.account);
        if self.fund.can_cover(loss) {
            m.tier = Tier::Backstop;
            m.fund_change = fund_pnl;
            order.tier = Tier::Backstop as u8;
            self.emit(order, m, deadline, out);
            self.open_transfer(order, sign, mark, loss, 0);
            return Outcome::Sent(Tier::Backstop);
        }
        // ADL: reduce the highest-ranked opposite positions at the bankruptcy price. Each
        // reduction is an explicit order of the counterparty's account (its id, the quantity, the
        // bankruptcy price), tracked like any order so its ack is matched. A counterparty with an
        // order of its own outstanding is passed over this time and keeps its rank.
        let account = input.account;
        let mut left = q;
        let mut cp = Order {
            side: tiers::closing_side(-sign) as u8,
            tier: Tier::Adl as u8,
            ..*order
        };
        // A counterparty's reduction reports the fraction of its position only.
        let cm = OrderMetrics::zero(Tier::Adl);
        let mut passed = [(0u32, 0i64); MAX_ADL_PASSED];
        let mut n_passed = 0;
        let ranking = &mut self.adl[i];
        while left > 0 {
            let heap = ranking.opposite_mut(sign);
            let Some((other, key)) = heap.pop() else {
                break;
            };
            if other == account {
                continue;
            }
            let their = ranking.qty(other).unsigned_abs() as i64;
            let take = their.min(left);
            if take == 0 {
                continue;
            }
            if !self.states.can_send(other) {
                passed[n_passed] = (other, key);
                n_passed += 1;
                if n_passed == MAX_ADL_PASSED {
                    break;
                }
                continue;
            }
            left -= take;
            if their > take {
                let rest = (their - take) * (-sign);
                ranking.set(other, rest, Some(key));
            } else {
                ranking.set(other, 0, None);
            }
            cp.account = other;
            cp.qty = take;
            cp.attempt = self.states.next_attempt(other);
            cp.order_id = order_id(other, cp.trigger_seq, cp.attempt);
            self.states
                .sent_counterparty(other, cp.order_id, cp.instrument, take, deadline);
            self.transfers.set_counterparty(
                other,
                Transfer {
                    order_id: cp.order_id,
                    state: TransferState::Outstanding,
                    instrument: cp.instrument,
                    sign,
                    qty: take,
                    price,
                    mark,
                    counterparty: Some((account, generation)),
                    ..Transfer::default()
                },
            );
            self.metrics[i].adl_count += 1;
            out(
                cp,
                OrderMetrics {
                    qty: take,
                    position_qty: their,
                    target_qty: take,
                    ..cm
                },
            );
        }
        for &(other, key) in &passed[..n_passed] {
            ranking.opposite_mut(sign).upsert(other, key);
        }
        let taken = q - left;
        let mut reserve = 0;
        if left > 0 {
            // Nobody (left) to deleverage: the fund takes the rest at the bankruptcy price and
            // covers what it can (reserved now, paid on the fill); what it cannot is uncovered
            // bad debt (written off on the fill). The counterparties carry the rest, booked on
            // their own fills.
            let part_pnl = spec.realised_pnl(sign, left, price, mark);
            let left_loss = (-part_pnl).clamp(0, m.bad_debt);
            reserve = left_loss.min(self.fund.available());
            m.fund_change = -reserve;
        }
        if taken == 0 {
            // No counterparty at all: ADL cannot execute, and an ADL order would go to nobody.
            // The position goes to the fund at the bankruptcy price as a backstop whose loss
            // beyond the fund's balance is reported as uncovered (`written_off`).
            m.tier = Tier::Backstop;
            order.tier = Tier::Backstop as u8;
            self.emit(order, m, deadline, out);
            self.open_transfer(order, sign, mark, reserve, 0);
            return Outcome::Sent(Tier::Backstop);
        }
        // The bankrupt account's whole position goes at the bankruptcy price: `taken` to the
        // counterparties above, any remainder to the fund.
        m.tier = Tier::Adl;
        order.tier = Tier::Adl as u8;
        self.emit(order, m, deadline, out);
        self.open_transfer(order, sign, mark, reserve, taken);
        Outcome::Sent(Tier::Adl)
    }

    /// Records the bankrupt account's transfer `order` (just emitted: its id is set) and reserves
    /// `reserve` (clamped to the available balance) of the fund for it; `cp_qty` of it goes to
    /// counterparties.
    fn open_transfer(&mut self, order: &Order, sign: i64, mark: i64, reserve: i64, cp_qty: i64) {
        let reserve = reserve.clamp(0, self.fund.available());
        self.fund.reserve(reserve);
        if let Some(t) = self.transfers.get_mut(order.account) {
            t.order_id = order.order_id;
            t.state = TransferState::Outstanding;
            t.instrument = order.instrument;
            t.sign = sign;
            t.qty = order.qty;
            t.price = order.limit_price;
            t.mark = mark;
            t.reserved = reserve;
            t.cp_qty = cp_qty;
            t.cp_unfilled = 0;
            t.counterparty = None;
        }
    }

    // Inlined: the metrics (a dozen words) and the order are then built in place rather than
    // copied into its frame.
    #[inline(always)]
    fn emit(
        &mut self,
        order: &mut Order,
        mut m: OrderMetrics,
        deadline: i64,
        out: &mut impl FnMut(Order, OrderMetrics),
    ) {
        let account = order.account;
        m.qty = order.qty;
        order.attempt = self.states.next_attempt(account);
        order.order_id = order_id(account, order.trigger_seq, order.attempt);
        let tier = Tier::from_u8(order.tier).unwrap_or(Tier::Cancel);
        self.states.sent(
            account,
            order.order_id,
            tier,
            order.instrument,
            order.qty,
            deadline,
        );
        let i = order.instrument as usize;
        let slippage = if m.tier == Tier::Cancel {
            0
        } else {
            metrics::slippage_bps_by(m.mark, m.price, m.sell, &self.bounds[i].mark_div)
        };
        self.metrics[i].record_with(&m, slippage);
        out(*order, m);
    }
}

/// Per instrument, what depends only on the mark a decision used: the slippage bounds, the
/// limits they give when the bankruptcy price does not bind, and the mark's reciprocal for the
/// slippage metric (recomputed when a decision sees another mark).
#[derive(Debug, Clone, Copy, Default)]
struct MarkCache {
    bounds: sizing::SlippageBounds,
    /// `limit_from_bound(spec, side, bound, None)` for a sell and a buy.
    sell_limit: Option<i64>,
    buy_limit: Option<i64>,
    mark_div: spec::DivWide,
}

impl MarkCache {
    fn new(spec: &InstrumentSpec, mark: i64, slippage: i64) -> Self {
        let bounds = sizing::SlippageBounds::new(mark, slippage);
        Self {
            bounds,
            sell_limit: sizing::limit_from_bound(spec, Side::Sell, bounds.sell, None),
            buy_limit: sizing::limit_from_bound(spec, Side::Buy, bounds.buy, None),
            mark_div: spec::DivWide::new(mark.max(1) as u64),
        }
    }

    #[inline]
    fn limit(&self, side: Side) -> Option<i64> {
        match side {
            Side::Sell => self.sell_limit,
            Side::Buy => self.buy_limit,
        }
    }
}

/// Most ranked counterparties one ADL decision passes over (they have an order of their own
/// outstanding) before it stops and leaves the rest to the fund: bounds the decision's work.
const MAX_ADL_PASSED: usize = 16;

/// `a·b/c` rounded down, saturating (`c` is taken as at least 1).
#[inline]
fn sat_mul_div(a: i64, b: i64, c: i64) -> i64 {
    spec::sat(spec::floor_div(
        i128::from(a) * i128::from(b),
        i128::from(c.max(1)),
    ))
}
