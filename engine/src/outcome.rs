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
    /// Counts a journal's records; `marks` gives the trigger marks for slippage.
    pub fn from_journal(records: &[Record], marks: &MarkTimeline) -> Self {
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
                        let md = if r.md_seq == last_event.0 {
                            last_event.1
                        } else {
                            r.md_seq
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
        // The slippage figures below are re-derived from a regenerated feed whose record
        // numbering does not yet match the ring's exactly (known issue); until it does, the
        // table points at the engine's own per-instrument figures, computed at decision time
        // against the mark the engine saw.
        let _ = writeln!(
            s,
            "| slippage | see the engine summary: book slip vs mark per instrument, transfers apart |"
        );
        s
    }
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
        let l = Liquidations::from_journal(&recs, &marks);
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
}
