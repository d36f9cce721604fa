//! What a pipeline run did to the accounts, read back from its journal after the run: orders per
//! tier, acknowledgements and fills, and the realised slippage of each filled order against the
//! mark of the market-data record that triggered it.
//!
//! Cold code for reports (the demo, `hotrisk-bench e2e`): it allocates freely. The journal is the
//! engine's own record (every order published, every account event applied), so these numbers
//! are what the engine did, not what it meant to do. Bad debt and the insurance fund are the
//! policy's bookkeeping: the engine prints them in its end-of-run summary
//! (`RiskCore::summary`), which reports quote alongside this.
#![forbid(unsafe_code)]

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;

use hotrisk_feed::fixed::{format_e8, E8};
use hotrisk_feed::wire::{AckStatus, Msg, MsgKind, Side, Tier};

use crate::journal::{Record, RecordKind};

/// The mark of every instrument as a function of the md sequence, from the published records.
#[derive(Debug, Clone, Default)]
pub struct MarkTimeline {
    /// Per instrument: `(seq, mark)` in seq order.
    by_instrument: Vec<Vec<(u64, i64)>>,
}

impl MarkTimeline {
    /// Builds the timeline from md records carrying their ring sequence (`seq`).
    pub fn from_msgs(msgs: &[Msg]) -> Self {
        let mut t = Self::default();
        for m in msgs {
            if m.kind() == Some(MsgKind::MarkPrice) {
                let i = usize::from(m.instrument);
                if t.by_instrument.len() <= i {
                    t.by_instrument.resize(i + 1, Vec::new());
                }
                t.by_instrument[i].push((m.seq, m.body[0]));
            }
        }
        t
    }

    /// The last mark of `instrument` published at or before `seq`.
    pub fn mark_at(&self, instrument: u16, seq: u64) -> Option<i64> {
        let v = self.by_instrument.get(usize::from(instrument))?;
        let i = v.partition_point(|&(s, _)| s <= seq);
        i.checked_sub(1).map(|i| v[i].1)
    }
}

/// Liquidation activity of one run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Liquidations {
    /// Orders journaled per tier (index = [`Tier`] as usize; tier 0 = cancel-all).
    pub orders_by_tier: [u64; 5],
    /// Distinct accounts that received at least one liquidation order (cancel-alls excluded).
    pub accounts: u64,
    /// Acknowledgements of liquidation orders applied, by status: filled, partial, cancelled
    /// (nothing filled), rejected.
    pub acks: [u64; 4],
    /// Acknowledgements of cancel-alls (counted apart: a cancel-all's ack always says
    /// `Cancelled`, which is not an unfilled order).
    pub cancel_acks: u64,
    /// Fill events applied.
    pub fills: u64,
    /// Account events the engine refused (a fill it could not apply, e.g. to a position that
    /// is no longer there); the independent ledger skips them too.
    pub events_refused: u64,
    /// The first refused event, described.
    pub first_refused: Option<String>,
    /// Notional filled (Σ qty × average price, quote, E8).
    pub filled_notional_e8: i128,
    /// Quantity-weighted mean slippage of filled book orders (partial, full) against the trigger
    /// mark, basis points.
    pub slippage_mean_bps: f64,
    /// Worst slippage of a filled order, basis points.
    pub slippage_max_bps: f64,
    /// Filled book orders with a known trigger mark (the slippage sample).
    pub slippage_orders: u64,
    /// Quantity-weighted mean distance of backstop / ADL transfer prices (the bankruptcy price)
    /// from the trigger mark, basis points: kept apart from the book's slippage (a transfer of a
    /// position past bankruptcy is priced better than the mark for the account, so negative).
    pub transfer_mean_bps: f64,
    /// Filled transfers with a known trigger mark.
    pub transfer_orders: u64,
    /// Journal records read.
    pub records: u64,
}

impl Liquidations {
    /// Counts a journal's records; `marks` gives the marks for slippage, at the md position
    /// each order was decided at: `decided_at` (order id → md seq, from [`audit`]'s replay)
    /// when given, else inferred from the journal (see the comments below).
    pub fn from_journal(
        records: &[Record],
        marks: &MarkTimeline,
        decided_at: Option<&HashMap<u64, u64>>,
    ) -> Self {
        let mut l = Self {
            records: records.len() as u64,
            ..Self::default()
        };
        // order id → (side, instrument, trigger seq, tier)
        let mut orders: HashMap<u64, (u8, u16, u64, u8)> = HashMap::new();
        let mut accounts = HashSet::new();
        let mut cancels: HashSet<u64> = HashSet::new();
        let (mut w_sum, mut q_sum) = (0f64, 0f64);
        let mut worst = f64::MIN;
        let (mut tw_sum, mut tq_sum) = (0f64, 0f64);
        // The last account event journaled: (its acct-ring seq, the md seq it was applied after).
        // An order triggered by an account event (an ack's re-decision) carries that event's
        // acct-ring seq as `trigger_seq` and is journaled right after it; its mark is the one
        // current at the event's md seq, not at an md record of the same number.
        let mut last_event = (u64::MAX, 0u64);
        for r in records {
            match r.record_kind() {
                Some(RecordKind::Order) => {
                    if r.kind == MsgKind::Order as u8 {
                        if let Some(t) = l.orders_by_tier.get_mut(usize::from(r.tier)) {
                            *t += 1;
                        }
                        accounts.insert(r.account);
                        let md = match decided_at.and_then(|d| d.get(&r.id)) {
                            Some(&seq) => seq,
                            None if r.md_seq == last_event.0 => last_event.1,
                            None => r.md_seq,
                        };
                        orders.insert(r.id, (r.aux, r.instrument, md, r.tier));
                    } else {
                        l.orders_by_tier[Tier::Cancel as usize] += 1;
                        cancels.insert(r.id);
                    }
                }
                Some(RecordKind::AccountEvent) => {
                    last_event = (r.id, r.md_seq);
                    match MsgKind::from_u8(r.kind) {
                        Some(MsgKind::Fill) => l.fills += 1,
                        Some(MsgKind::OrderAck) => {
                            if cancels.remove(&(r.a as u64)) {
                                l.cancel_acks += 1;
                                continue;
                            }
                            let slot = match AckStatus::from_u8(r.aux) {
                                Some(AckStatus::Filled) => 0,
                                Some(AckStatus::Partial) => 1,
                                Some(AckStatus::Cancelled) => 2,
                                _ => 3,
                            };
                            l.acks[slot] += 1;
                            let (id, qty, avg) = (r.a as u64, r.b, r.c);
                            if qty <= 0 || avg <= 0 {
                                continue;
                            }
                            l.filled_notional_e8 +=
                                i128::from(qty) * i128::from(avg) / i128::from(E8);
                            let Some(&(side, instr, trig, tier)) = orders.get(&id) else {
                                continue;
                            };
                            let Some(mark) = marks.mark_at(instr, trig) else {
                                continue;
                            };
                            let diff = match Side::from_u8(side) {
                                Some(Side::Sell) => mark - avg,
                                _ => avg - mark,
                            };
                            let bps = diff as f64 / mark as f64 * 1e4;
                            let q = qty as f64;
                            if matches!(Tier::from_u8(tier), Some(Tier::Backstop | Tier::Adl)) {
                                tw_sum += bps * q;
                                tq_sum += q;
                                l.transfer_orders += 1;
                                continue;
                            }
                            w_sum += bps * q;
                            q_sum += q;
                            worst = worst.max(bps);
                            l.slippage_orders += 1;
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        l.accounts = accounts.len() as u64;
        if q_sum > 0.0 {
            l.slippage_mean_bps = w_sum / q_sum;
            l.slippage_max_bps = worst;
        }
        if tq_sum > 0.0 {
            l.transfer_mean_bps = tw_sum / tq_sum;
        }
        l
    }

    /// Liquidation orders (tiers partial..ADL).
    pub fn liquidation_orders(&self) -> u64 {
        self.orders_by_tier[1..].iter().sum()
    }

    /// A plain-text table (also valid Markdown).
    pub fn table(&self) -> String {
        let t = &self.orders_by_tier;
        let mut s = String::new();
        let _ = writeln!(s, "| liquidations | |\n|---|---|");
        let _ = writeln!(s, "| partial orders | {} |", t[Tier::Partial as usize]);
        let _ = writeln!(s, "| full orders | {} |", t[Tier::Full as usize]);
        let _ = writeln!(
            s,
            "| backstop (insurance fund takeover) | {} |",
            t[Tier::Backstop as usize]
        );
        let _ = writeln!(s, "| ADL orders | {} |", t[Tier::Adl as usize]);
        let _ = writeln!(
            s,
            "| cancel-alls (acknowledged) | {} ({}) |",
            t[Tier::Cancel as usize],
            self.cancel_acks
        );
        let _ = writeln!(s, "| accounts liquidated | {} |", self.accounts);
        let _ = writeln!(
            s,
            "| liquidation-order acks: filled / partial / nothing filled / rejected | {} / {} / {} / {} |",
            self.acks[0], self.acks[1], self.acks[2], self.acks[3]
        );
        let _ = writeln!(s, "| fills | {} |", self.fills);
        let _ = writeln!(
            s,
            "| notional filled | {} |",
            format_e8(i64::try_from(self.filled_notional_e8).unwrap_or(i64::MAX))
        );
        if self.slippage_orders > 0 {
            let _ = writeln!(
                s,
                "| book slippage of filled partial/full orders vs the mark at decision (qty-weighted mean / worst, bps; + = worse for the account) | {:.2} / {:.2} over {} orders |",
                self.slippage_mean_bps, self.slippage_max_bps, self.slippage_orders
            );
        } else {
            let _ = writeln!(s, "| book slippage vs mark | no filled book order |");
        }
        if self.transfer_orders > 0 {
            let _ = writeln!(
                s,
                "| backstop/ADL transfer price (bankruptcy) vs the mark at decision (qty-weighted mean, bps) | {:.2} over {} transfers |",
                self.transfer_mean_bps, self.transfer_orders
            );
        }
        s
    }
}

/// The accounting check of a run, by replaying it in-process: the snapshot is loaded into a fresh
/// [`MarginCore`](crate::pipeline::margin_core::MarginCore) (the engine's own code), the
/// market data is fed record by record and each journaled account event is applied right after
/// the md record it followed in the run. Then:
///
/// - **orders**: the replay's orders are compared with the journal's, one by one (a mismatch
///   says where the run and its replay part ways; the journal does not keep an event's record
///   time, so the replay gives each event the record time of the md record it followed, which can
///   differ from the venue's by up to one feed step);
/// - **collateral**: Σ collateral (wallets and isolated margins) must move by exactly the realised
///   PnL of the journal's fills, recomputed here independently from the snapshot's positions
///   (average cost, exact integers), minus the liquidation fees the fund received, plus the
///   negative balances the engine settled (credited back to zero from the fund or written off,
///   [`MarginCore::settled`](crate::pipeline::margin_core::MarginCore::settled)), within one E8
///   unit of rounding per fill;
/// - **fund**: its change must equal fees − backstop losses (+ takeover gains) − negative
///   balances covered, and per instrument bad debt = paid by the fund + socialised by ADL +
///   written off;
/// - **bad debt against the fills**: recomputed from the journal, independently of the policy's
///   metrics, the loss beyond margin that bankrupt accounts' backstop/ADL transfers handed on
///   (each filled transfer's quantity × (price − the mark its decision saw), from the acks and
///   the replay's decision points) and what ADL counterparties carried. The engine's bad debt
///   must be that loss plus the settled negative balances, less at most what counterparties
///   carried (a counterparty's debt that ADL caused is not new bad debt: each settlement the
///   replay makes is matched with the loss that account carried), within one E8 unit of
///   rounding per transfer: a loss booked twice (a transfer that never executed, or a settled
///   counterparty's debt on top of its socialised loss) breaks it;
/// - **bad debt left on accounts**: accounts with no position left and a negative balance
///   (debt nobody settled, e.g. flat and negative in the start snapshot), counted and summed.
///
/// So collateral + fund − written off moves only by the realised PnL of the fills (the
/// counterparties' side) and the fund's takeover PnL: nothing appears or vanishes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Audit {
    /// Orders (cancel-alls included) in the journal.
    pub orders_journaled: u64,
    /// Orders the replay emitted.
    pub orders_replayed: u64,
    /// Leading orders identical in both (id, kind, side, qty, limit, tier).
    pub orders_matching: u64,
    /// The first difference, described.
    pub first_mismatch: Option<String>,
    /// Fill events applied.
    pub fills: u64,
    /// Account events the engine refused (a fill it could not apply, e.g. to a position that
    /// is no longer there); the independent ledger skips them too.
    pub events_refused: u64,
    /// The first refused event, described.
    pub first_refused: Option<String>,
    /// Σ collateral before and after, E8 (floor).
    pub collateral_e8: (i128, i128),
    /// Realised PnL of all fills, recomputed independently, E8 (floor).
    pub realised_pnl_e8: i128,
    /// Fees paid into the fund, E8.
    pub fees_e8: i128,
    /// Negative balances the engine settled (credited to the accounts), E8: `(count, debt,
    /// paid by the fund, written off)`.
    pub settled_e8: (u64, i128, i128, i128),
    /// Σ collateral change − (realised PnL − fees + settled debt), in E8: zero up to rounding.
    pub collateral_residual_e8: i128,
    /// The fund before and after, E8.
    pub fund_e8: (i64, i64),
    /// Backstop gains (+) and losses (−) of the fund, E8.
    pub fund_takeover_e8: i64,
    /// Negative balances the fund covered, E8.
    pub fund_covered_e8: i64,
    /// Whether every per-instrument bad-debt split adds up.
    pub bad_debt_split_ok: bool,
    /// Total bad debt the engine reported (Σ instruments), E8.
    pub bad_debt_e8: i128,
    /// Recomputed from the journal's transfer acks: `(loss handed on by bankrupt accounts'
    /// filled transfers, loss carried by ADL counterparties, filled transfers)`, E8.
    pub transfer_loss_e8: (i128, i128, u64),
    /// Settled negative balances beyond what the account carried as an ADL counterparty (new
    /// bad debt), and settlements not attributable to an account event (ack deadlines), E8.
    pub new_debt_e8: (i128, i128),
    /// Whether the engine's bad debt matches the transfers and settlements (see the docs); not
    /// checked (true) when the replay's orders differ from the journal's.
    pub bad_debt_fills_ok: bool,
    /// Accounts with no position and a negative balance, and that debt (≤ 0), E8.
    pub negative_accounts: (u64, i128),
    /// Why parts were skipped (e.g. inverse instruments), if any.
    pub note: Option<String>,
    /// Order id → the md sequence the replay had reached when it emitted the order (the mark
    /// the decision saw is the last one at or before it): the slippage figures' reference.
    pub decided_at: HashMap<u64, u64>,
}

impl Audit {
    /// Whether every check passed (orders reproduced, collateral and fund conserved).
    pub fn passed(&self) -> bool {
        self.first_mismatch.is_none()
            && self.orders_journaled == self.orders_replayed
            && self.conserved()
    }

    /// Whether the money checks passed (collateral within one E8 unit per fill, fund identity,
    /// bad-debt split).
    pub fn conserved(&self) -> bool {
        self.collateral_residual_e8.unsigned_abs() <= u128::from(self.fills.max(1))
            && self.fund_e8.1 - self.fund_e8.0
                == i64::try_from(self.fees_e8).unwrap_or(i64::MAX) + self.fund_takeover_e8
                    - self.fund_covered_e8
            && self.bad_debt_split_ok
            && self.bad_debt_fills_ok
    }

    /// The bad-debt check against the fills: the engine's bad debt must be the transfers' loss
    /// plus the new debt of settlements (plus at most the unattributed settlements), within one
    /// E8 unit per filled transfer (the policy rounds each share of a transfer's loss apart).
    fn bad_debt_matches_fills(&self) -> bool {
        let (handed_on, _, n) = self.transfer_loss_e8;
        let (new, unattributed) = self.new_debt_e8;
        let tol = i128::from(n);
        let expected = handed_on + new;
        self.bad_debt_e8 >= expected - tol && self.bad_debt_e8 <= expected + unattributed + tol
    }

    /// A plain-text table (also valid Markdown).
    pub fn table(&self) -> String {
        let f = |v: i128| format_e8(i64::try_from(v).unwrap_or(i64::MAX));
        let mut s = String::new();
        let _ = writeln!(
            s,
            "| accounting check (replay of the journal) | |\n|---|---|"
        );
        let _ = writeln!(
            s,
            "| orders reproduced by the replay | {} of {} journaled ({} replayed){} |",
            self.orders_matching,
            self.orders_journaled,
            self.orders_replayed,
            self.first_mismatch
                .as_deref()
                .map_or(String::new(), |m| format!("; first difference: {m}"))
        );
        let _ = writeln!(
            s,
            "| Σ collateral | {} → {} (change {}) |",
            f(self.collateral_e8.0),
            f(self.collateral_e8.1),
            f(self.collateral_e8.1 - self.collateral_e8.0)
        );
        let _ = writeln!(
            s,
            "| = realised PnL of {} fills (recomputed) − fees + negative balances settled | {} − {} + {} = {} (residual {} E8 units; ≤ 1 per fill allowed) |",
            self.fills,
            f(self.realised_pnl_e8),
            f(self.fees_e8),
            f(self.settled_e8.1),
            f(self.realised_pnl_e8 - self.fees_e8 + self.settled_e8.1),
            self.collateral_residual_e8
        );
        let _ = writeln!(
            s,
            "| negative balances settled (account closed below zero) | {} accounts, {} = fund {} + written off {} |",
            self.settled_e8.0,
            f(self.settled_e8.1),
            f(self.settled_e8.2),
            f(self.settled_e8.3)
        );
        if self.events_refused > 0 {
            let _ = writeln!(
                s,
                "| account events the engine refused (not applied, not counted above) | {} (first: {}) |",
                self.events_refused,
                self.first_refused.as_deref().unwrap_or("?")
            );
        }
        let _ = writeln!(
            s,
            "| insurance fund | {} → {} = + fees {} + takeover {} − covered {} |",
            format_e8(self.fund_e8.0),
            format_e8(self.fund_e8.1),
            f(self.fees_e8),
            format_e8(self.fund_takeover_e8),
            format_e8(self.fund_covered_e8)
        );
        let _ = writeln!(
            s,
            "| bad debt (engine) = fund + ADL + written off | {} ({}) |",
            f(self.bad_debt_e8),
            if self.bad_debt_split_ok {
                "adds up"
            } else {
                "DOES NOT add up"
            }
        );
        let _ = writeln!(
            s,
            "| bad debt vs the fills (recomputed) = transfers' loss at the decision's mark + settled balances beyond what ADL made the account carry | {} = {} + {}{} over {} filled transfers ({}; counterparties carried {}) |",
            f(self.bad_debt_e8),
            f(self.transfer_loss_e8.0),
            f(self.new_debt_e8.0),
            if self.new_debt_e8.1 > 0 {
                format!(" (+ up to {} settled at ack deadlines)", f(self.new_debt_e8.1))
            } else {
                String::new()
            },
            self.transfer_loss_e8.2,
            if self.first_mismatch.is_some() {
                "not checked: the replay's orders differ from the run's"
            } else if self.bad_debt_fills_ok {
                "matches"
            } else {
                "DOES NOT match: a loss booked twice or not at all"
            },
            f(self.transfer_loss_e8.1)
        );
        let _ = writeln!(
            s,
            "| accounts closed out with a negative balance | {} (Σ {}) |",
            self.negative_accounts.0,
            f(self.negative_accounts.1)
        );
        let _ = writeln!(
            s,
            "| verdict | {} |",
            match (self.conserved(), self.passed()) {
                (true, true) => "conserved; orders reproduced",
                (true, false) => "conserved; the replay's orders differ (see above)",
                _ => "NOT CONSERVED",
            }
        );
        if let Some(n) = &self.note {
            let _ = writeln!(s, "| note | {n} |");
        }
        s
    }
}

/// A note for the accounting check when the engine's summary (`hotrisk run`'s last lines)
/// reports input-health events: a stale producer heartbeat or lost md records pause or change
/// the policy's decisions, and they are not journaled, so the replay cannot reproduce them.
pub fn health_note(engine_summary: &str) -> Option<String> {
    let healthy = engine_summary.contains("| producer dead 0 |")
        && engine_summary.contains("md records missed 0 |");
    (!healthy).then(|| {
        "| note | the engine saw input-health events (stale producer heartbeat or lost md records; see its summary): they change decisions and are not journaled, so the replay's orders may differ from that point on |\n".to_owned()
    })
}

/// The journal's backstop/ADL transfers for the audit's bad-debt check: which order is a
/// bankrupt account's own transfer and which an ADL counterparty's reduction, what their fills
/// handed on or made counterparties carry (at the mark each decision saw), and how much of each
/// settled negative balance was such a carried loss.
#[derive(Debug, Default)]
struct TransferAcks {
    /// Transfer order id → (side, instrument, limit price, own transfer).
    orders: HashMap<u64, (u8, u16, i64, bool)>,
    /// The current run of ADL orders of one decision: (trigger, instrument, limit, side of the
    /// counterparties' reductions). The policy emits an ADL decision's counterparty reductions
    /// first and the bankrupt account's own transfer (the opposite side) last, consecutively.
    run: Option<(u64, u16, i64, u8)>,
    /// Σ loss handed on by own transfers' fills, E8.
    handed_on: i128,
    /// Σ loss carried by counterparties' fills, E8.
    carried: i128,
    /// Filled transfers valued.
    filled: u64,
    /// Per account: loss carried as a counterparty and not yet settled.
    carrying: HashMap<u32, i128>,
    /// Σ over settlements of the debt beyond what the account was carrying (new bad debt).
    new_debt: i128,
    /// Σ settlements the replay made outside an account event (ack deadlines): not attributed
    /// to an account, so anywhere between carried and new.
    unattributed: i128,
    /// Σ settlements made while applying account events.
    settled_in_events: i128,
}

impl TransferAcks {
    /// An order record of the journal.
    fn on_order(&mut self, r: &Record) {
        if r.kind != MsgKind::Order as u8 {
            self.run = None;
            return;
        }
        // Order records: `a` = qty, `b` = limit price.
        let key = (r.md_seq, r.instrument, r.b);
        match Tier::from_u8(r.tier) {
            Some(Tier::Backstop) => {
                self.orders.insert(r.id, (r.aux, r.instrument, r.b, true));
                self.run = None;
            }
            Some(Tier::Adl) => {
                let own = matches!(self.run, Some((t, i, p, side))
                    if (t, i, p) == key && side != r.aux);
                self.orders.insert(r.id, (r.aux, r.instrument, r.b, own));
                self.run = if own {
                    None
                } else {
                    Some((key.0, key.1, key.2, r.aux))
                };
            }
            _ => self.run = None,
        }
    }

    /// An account event the replay just applied (`ev`), and the debt the engine settled while
    /// applying it (`settled`, E8). `decided_at` must already hold the event's order.
    fn on_event(
        &mut self,
        ev: &Msg,
        settled: i128,
        marks: &MarkTimeline,
        decided_at: &HashMap<u64, u64>,
    ) {
        if ev.kind() == Some(MsgKind::OrderAck) && ev.body[1] > 0 {
            let (id, qty, price) = (ev.body[0] as u64, ev.body[1], ev.body[2]);
            if let Some(&(side, instrument, limit, own)) = self.orders.get(&id) {
                if let Some(mark) = decided_at
                    .get(&id)
                    .and_then(|&seq| marks.mark_at(instrument, seq))
                {
                    // Transfers fill whole at their limit; the ack's average is that price.
                    let price = if price > 0 { price } else { limit };
                    // What the account got beyond the mark by closing at `price`.
                    let gain = match Side::from_u8(side) {
                        Some(Side::Sell) => i128::from(price - mark),
                        _ => i128::from(mark - price),
                    } * i128::from(qty)
                        / i128::from(E8);
                    if own {
                        self.handed_on += gain.max(0);
                    } else {
                        self.carried += (-gain).max(0);
                        *self.carrying.entry(ev.account).or_insert(0) += (-gain).max(0);
                    }
                    self.filled += 1;
                }
            }
        }
        if settled > 0 {
            self.settled_in_events += settled;
            let carrying = self.carrying.remove(&ev.account).unwrap_or(0);
            self.new_debt += settled - carrying.min(settled);
        }
    }
}

/// Independent position keeping for the audit: (qty E8, cost basis E16) per (account, instrument).
type Book = HashMap<(u32, u16), (i64, i128)>;

/// Realised PnL (E16) of a linear fill of signed `qty` at `price` on `pos`, which it updates.
fn realise(pos: &mut (i64, i128), qty: i64, price: i64) -> i128 {
    let (q, b) = *pos;
    let mut pnl = 0;
    let mut open = qty;
    if q != 0 && q.signum() != qty.signum() {
        // Closing x of q (same sign as q): realised = x·(price − entry) = x·price − b·x/q.
        let x = if qty.abs() >= q.abs() { q } else { -qty };
        let basis_part = b * i128::from(x) / i128::from(q);
        pnl = i128::from(x) * i128::from(price) - basis_part;
        pos.0 = q - x;
        pos.1 = b - basis_part;
        open = qty + x;
    }
    if open != 0 {
        pos.0 += open;
        pos.1 += i128::from(open) * i128::from(price);
    }
    pnl
}

/// Runs the audit (see [`Audit`]) of a run over `md` (the feed, `seq` = ring sequence) with the
/// snapshot `instruments` + `positions` and the journal `records`.
pub fn audit(
    instruments: &Path,
    positions: &Path,
    md: &[Msg],
    records: &[Record],
) -> Result<Audit, String> {
    use crate::margin::math::{money_to_e8, Round};
    use crate::margin::MarginState;
    use crate::pipeline::core::{OrderSink, RiskCore};
    use crate::pipeline::margin_core::MarginCore;
    use crate::policy::PolicyConfig;

    let snap = crate::snapshot::load_snapshot(instruments, positions).map_err(|e| e.to_string())?;
    let linear = snap
        .state
        .instruments()
        .iter()
        .all(|i| i.kind() == crate::margin::Kind::Linear);
    let collateral = |st: &MarginState| -> i128 {
        let mut sum = 0i128;
        for a in st.account_ids() {
            sum += st.account(a).map_or(0, |r| r.wallet_balance);
            st.for_each_position(a, |p| sum += p.isolated_margin);
        }
        money_to_e8(sum, Round::Floor)
    };
    let mut a = Audit {
        collateral_e8: (collateral(&snap.state), 0),
        ..Audit::default()
    };
    let mut book: Book = HashMap::new();
    for id in snap.state.account_ids() {
        snap.state.for_each_position(id, |p| {
            book.insert((id, p.instrument), (p.qty_e8, p.basis));
        });
    }
    let books: Vec<_> = snap.instruments.iter().map(|i| i.book.clone()).collect();
    let mut core = MarginCore::new(
        snap.state,
        PolicyConfig::default(),
        snap.insurance_fund_e8.unwrap_or(0),
    )?;
    core.seed_books(&books);
    a.fund_e8.0 = core.policy().fund().balance();
    // Detached: it keeps a record's orders until they are taken out after the record (far more
    // room than one record's orders; a refusal would show as a mismatch).
    let mut sink = OrderSink::with_capacity(1 << 16);
    let mut replayed: Vec<hotrisk_feed::wire::Order> = Vec::new();
    let mut next_md = 0usize;
    let mut time = 0i64;
    let mut realised: i128 = 0;
    let mut decided_at = HashMap::new();
    let mut feed_to = |upto: u64,
                       core: &mut MarginCore,
                       sink: &mut OrderSink,
                       out: &mut Vec<hotrisk_feed::wire::Order>,
                       decided_at: &mut HashMap<u64, u64>,
                       time: &mut i64| {
        while let Some(m) = md.get(next_md) {
            if m.seq > upto {
                break;
            }
            next_md += 1;
            core.on_market(m, sink);
            while let Some(o) = sink.pop() {
                decided_at.insert(o.order_id, m.seq);
                out.push(o);
            }
            *time = (*time).max(if m.exch_ts != 0 {
                m.exch_ts
            } else {
                m.local_ts
            });
        }
    };
    let mut journaled = Vec::new();
    let mut transfers = TransferAcks::default();
    let marks = MarkTimeline::from_msgs(md);
    for r in records {
        match r.record_kind() {
            Some(RecordKind::Order) => {
                transfers.on_order(r);
                journaled.push(r.to_order());
            }
            Some(RecordKind::AccountEvent) => {
                feed_to(
                    r.md_seq,
                    &mut core,
                    &mut sink,
                    &mut replayed,
                    &mut decided_at,
                    &mut time,
                );
                let mut ev = r.to_event();
                ev.exch_ts = time;
                ev.local_ts = time;
                let refused_before = core.errors().bad_events;
                let settled_before = core.settled().debt_e8;
                core.on_account(&ev, &mut sink);
                transfers.on_event(
                    &ev,
                    core.settled().debt_e8 - settled_before,
                    &marks,
                    &decided_at,
                );
                if core.errors().bad_events != refused_before {
                    // The engine refused it (state unchanged): so does the independent ledger.
                    a.events_refused += 1;
                    if a.first_refused.is_none() {
                        a.first_refused = Some(format!(
                            "{:?} account {} instrument {} body {:?} (journal #{})",
                            ev.kind(),
                            ev.account,
                            ev.instrument,
                            ev.body,
                            r.jseq
                        ));
                    }
                } else if ev.kind() == Some(MsgKind::Fill) {
                    a.fills += 1;
                    let pos = book.entry((ev.account, ev.instrument)).or_insert((0, 0));
                    realised += realise(pos, ev.body[0], ev.body[1]);
                }
                while let Some(o) = sink.pop() {
                    decided_at.insert(o.order_id, r.md_seq);
                    replayed.push(o);
                }
            }
            _ => {}
        }
    }
    feed_to(
        u64::MAX,
        &mut core,
        &mut sink,
        &mut replayed,
        &mut decided_at,
        &mut time,
    );
    // Settlements the replay made outside account events (ack deadlines, on md records).
    transfers.unattributed = core.settled().debt_e8 - transfers.settled_in_events;
    a.transfer_loss_e8 = (transfers.handed_on, transfers.carried, transfers.filled);
    a.new_debt_e8 = (transfers.new_debt, transfers.unattributed);
    a.decided_at = decided_at;
    a.orders_journaled = journaled.len() as u64;
    a.orders_replayed = replayed.len() as u64;
    let key = |o: &hotrisk_feed::wire::Order| {
        (
            o.order_id,
            o.kind,
            o.side,
            o.qty,
            o.limit_price,
            o.tier,
            o.account,
        )
    };
    a.orders_matching = journaled
        .iter()
        .zip(&replayed)
        .take_while(|(j, r)| key(j) == key(r))
        .count() as u64;
    if let (Some(j), r) = (
        journaled.get(a.orders_matching as usize),
        replayed.get(a.orders_matching as usize),
    ) {
        a.first_mismatch = Some(format!(
            "order #{}: journal {:?} vs replay {:?}",
            a.orders_matching + 1,
            key(j),
            r.map(key)
        ));
    } else if replayed.len() > journaled.len() {
        a.first_mismatch = Some(format!(
            "the replay emitted {} more orders",
            replayed.len() - journaled.len()
        ));
    }
    let state = core.state();
    a.collateral_e8.1 = collateral(state);
    let fund = core.policy().fund();
    a.fund_e8.1 = fund.balance();
    a.fees_e8 = i128::from(fund.fees());
    a.fund_takeover_e8 = -fund.backstop_loss();
    a.fund_covered_e8 = fund.bad_debt_covered();
    a.realised_pnl_e8 = money_to_e8(realised, Round::Floor);
    let settled = core.settled();
    a.settled_e8 = (
        settled.count,
        settled.debt_e8,
        settled.covered_e8,
        settled.written_off_e8,
    );
    a.collateral_residual_e8 =
        (a.collateral_e8.1 - a.collateral_e8.0) - (a.realised_pnl_e8 - a.fees_e8 + settled.debt_e8);
    a.bad_debt_split_ok = true;
    for i in 0..state.instruments().len() as u16 {
        let m = core.policy().metrics(i);
        a.bad_debt_e8 += m.bad_debt;
        // The fund's share is what is neither socialised nor written off; it cannot be negative.
        a.bad_debt_split_ok &= m.bad_debt >= m.socialised + m.written_off;
    }
    // Valued at the replay's decision points: only meaningful when the replay made the run's
    // decisions (a run with input-health events can differ; the order check reports that).
    a.bad_debt_fills_ok = a.first_mismatch.is_some() || a.bad_debt_matches_fills();
    let mut neg = (0u64, 0i128);
    for id in state.account_ids() {
        let mut open = false;
        state.for_each_position(id, |_| open = true);
        let w = state.account(id).map_or(0, |r| r.wallet_balance);
        if !open && w < 0 {
            neg.0 += 1;
            neg.1 += money_to_e8(w, Round::Floor);
        }
    }
    a.negative_accounts = neg;
    if !linear {
        a.note = Some("inverse instruments present: the collateral check is linear only".into());
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotrisk_feed::wire::{order_id, Order};

    fn mark(seq: u64, instr: u16, p: i64) -> Msg {
        let mut m = Msg::market(MsgKind::MarkPrice, instr, 0, 0);
        m.seq = seq;
        m.body[0] = p;
        m
    }

    #[test]
    fn realise_closes_at_average_cost_and_flips() {
        // Long 2 @ 100 (basis 200), sell 1 @ 90: −10; then sell 3 @ 80: −20 on the last one and
        // short 2 @ 80 opened.
        let mut pos = (2 * E8, 2 * E8 as i128 * (100 * E8) as i128);
        let pnl = realise(&mut pos, -E8, 90 * E8);
        assert_eq!(pnl, -10 * (E8 as i128) * (E8 as i128));
        let pnl = realise(&mut pos, -3 * E8, 80 * E8);
        assert_eq!(pnl, -20 * (E8 as i128) * (E8 as i128));
        assert_eq!(pos, (-2 * E8, -2 * (E8 as i128) * (80 * E8) as i128));
    }

    #[test]
    fn counts_tiers_and_slippage() {
        let marks = MarkTimeline::from_msgs(&[mark(1, 0, 100 * E8), mark(5, 0, 90 * E8)]);
        assert_eq!(marks.mark_at(0, 0), None);
        assert_eq!(marks.mark_at(0, 4), Some(100 * E8));
        assert_eq!(marks.mark_at(0, 9), Some(90 * E8));
        let o = Order {
            order_id: order_id(7, 6, 0),
            trigger_seq: 6,
            kind: MsgKind::Order as u8,
            side: Side::Sell as u8,
            account: 7,
            qty: E8,
            limit_price: 80 * E8,
            tier: Tier::Partial as u8,
            ..Order::default()
        };
        let mut ack = Msg::market(MsgKind::OrderAck, 0, 0, 0);
        ack.kind = MsgKind::OrderAck as u8;
        ack.aux = AckStatus::Filled as u8;
        ack.account = 7;
        ack.body = [o.order_id as i64, E8, 891 * E8 / 10];
        // A cancel-all first, acknowledged `Cancelled`: not an unfilled liquidation order.
        let c = Order {
            order_id: order_id(7, 5, 0),
            kind: MsgKind::CancelAll as u8,
            tier: Tier::Cancel as u8,
            ..o
        };
        let mut cack = ack;
        cack.aux = AckStatus::Cancelled as u8;
        cack.body = [c.order_id as i64, 0, 0];
        // A backstop of another account at its bankruptcy price 91, above the mark of 90.
        let b = Order {
            order_id: order_id(8, 6, 0),
            account: 8,
            limit_price: 91 * E8,
            tier: Tier::Backstop as u8,
            ..o
        };
        let mut back = ack;
        back.account = 8;
        back.body = [b.order_id as i64, E8, 91 * E8];
        // The partial is the cancel-all ack's re-decision: its trigger_seq is the ack's
        // acct-ring seq (2), its mark the one at md seq 6 (90), not md record 2's (100).
        cack.seq = 2;
        let o = Order {
            trigger_seq: 2,
            order_id: order_id(7, 2, 1),
            ..o
        };
        ack.body[0] = o.order_id as i64;
        let recs = [
            Record::order(&c, 0),
            Record::account_event(&cack, 6),
            Record::order(&o, 0),
            Record::account_event(&ack, 6),
            Record::order(&b, 0),
            Record::account_event(&back, 6),
        ];
        let l = Liquidations::from_journal(&recs, &marks, None);
        assert_eq!(l.orders_by_tier[Tier::Partial as usize], 1);
        assert_eq!(l.orders_by_tier[Tier::Cancel as usize], 1);
        assert_eq!(l.accounts, 2);
        assert_eq!(l.acks, [2, 0, 0, 0]);
        assert_eq!(l.cancel_acks, 1);
        assert_eq!(l.transfer_orders, 1);
        // sold at 91 against 90: −111.11 bps, not mixed into the book's slippage.
        assert!((l.transfer_mean_bps + 1e6 / 9_000.0).abs() < 1e-6);
        assert_eq!(l.slippage_orders, 1);
        // sold at 89.1 against a mark of 90: 100 bps.
        assert!((l.slippage_mean_bps - 100.0).abs() < 1e-9);
        assert!(l.table().contains("| partial orders | 1 |"));
    }

    #[test]
    fn transfer_acks_value_own_transfers_and_counterparties_at_the_decision_mark() {
        let order = |id: u64, account: u32, side: Side, tier: Tier, qty: i64, trig: u64| {
            Record::order(
                &Order {
                    order_id: id,
                    trigger_seq: trig,
                    trigger_publish_ts: 0,
                    emit_ts: 0,
                    kind: MsgKind::Order as u8,
                    side: side as u8,
                    instrument: 0,
                    account,
                    qty,
                    limit_price: 90 * E8,
                    tier: tier as u8,
                    tif: 0,
                    flags: 0,
                    attempt: 0,
                    reserved: 0,
                },
                0,
            )
        };
        let ack = |id: u64, account: u32, qty: i64| {
            let mut m = Msg::market(MsgKind::OrderAck, 0, 0, 0);
            m.account = account;
            m.body = [id as i64, qty, 90 * E8];
            m
        };
        let marks = MarkTimeline::from_msgs(&[mark(1, 0, 85 * E8)]);
        let decided_at: HashMap<u64, u64> = (1..=4).map(|id| (id, 1)).collect();
        let mut t = TransferAcks::default();
        // A backstop of account 1; an ADL of account 2 against 3 and 4 (reductions first, the
        // bankrupt account's own transfer last, on the other side).
        t.on_order(&order(1, 1, Side::Sell, Tier::Backstop, E8, 1));
        t.on_order(&order(2, 3, Side::Buy, Tier::Adl, E8, 1));
        t.on_order(&order(3, 4, Side::Buy, Tier::Adl, E8, 1));
        t.on_order(&order(4, 2, Side::Sell, Tier::Adl, 2 * E8, 1));
        assert!(t.orders[&1].3 && !t.orders[&2].3 && !t.orders[&3].3 && t.orders[&4].3);
        t.on_event(&ack(1, 1, E8), 0, &marks, &decided_at);
        // 3's reduction leaves it 3 below zero, settled with this ack: all of it carried.
        t.on_event(&ack(2, 3, E8), 3 * E8 as i128, &marks, &decided_at);
        t.on_event(&ack(3, 4, E8), 0, &marks, &decided_at);
        t.on_event(&ack(4, 2, 2 * E8), 0, &marks, &decided_at);
        // A settlement beyond what the account carried is new debt.
        let mut flat = ack(99, 4, 0);
        flat.kind = MsgKind::Fill as u8;
        t.on_event(&flat, 7 * E8 as i128, &marks, &decided_at);
        let e8 = i128::from(E8);
        assert_eq!((t.handed_on, t.carried, t.filled), (15 * e8, 10 * e8, 4));
        // Account 4 carried 5 (its ack came before), so only 2 of its 7 is new.
        assert_eq!(t.new_debt, 2 * e8);
        assert_eq!(t.settled_in_events, 10 * e8);
    }
}
