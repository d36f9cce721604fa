//! Per-account liquidation state machine (structure of arrays, preallocated for every account).
//!
//! ```text
//!            breach (first)                 ack of the cancel-all
//!  Normal ─────────────────► Cancelling ───────────────────────────► Normal (cancel done)
//!    ▲  │ breach (cancel done)                                          │
//!    │  └──────────────────────► Liquidating ◄──────────────────────────┘ breach
//!    │          ack filled / partial / cancelled / rejected, or timeout │
//!    └──────────────────────────────────────────────────────────────────┘
//!    backstop or ADL acked ──► Bankrupt (reported; behaves as Normal for a new breach)
//!    backstop or ADL not filled ──► Backoff ──(the order's ack deadline)──► Normal
//! ```
//! - While a cancel-all or an order is outstanding, no other order is sent for the account
//!   ([`AccountStates::can_send`]).
//! - A partial order that did not fill completely (partial fill, nothing filled, rejected, or timed
//!   out) sets `partial_failed`: the next decision is a full liquidation.
//! - A full order that did not fill completely counts a **full failure**
//!   ([`AccountStates::full_failures`]): an IOC at the limit that came back short is the book's
//!   answer that it cannot absorb the position within the bounds, so once the failures exceed the
//!   configured retries (`TierConfig::full_retries`, default 0) the policy sends the remaining
//!   position to the backstop (or ADL) at the bankruptcy price instead of resending the full
//!   order. Sending a backstop or ADL order resets the count (the position it was about is gone;
//!   another position of the account gets its own try at the book).
//! - A backstop or ADL order that is not filled (rejected, or timed out) leaves the account in
//!   **Backoff** until that order's ack deadline: no order is sent for it before then, and the
//!   timeout re-evaluates it. So every failure either moves the account up a tier (partial →
//!   full → backstop) or waits an ack timeout: the state machine cannot spin, whatever the venue
//!   answers.
//! - Recovery (the margin core says the account is above maintenance again) resets the cancel and
//!   partial-failure flags.
//! - An ADL **counterparty** reduction (the opposite side of a bankrupt position, closed at the
//!   bankruptcy price) is tracked like any order of that account
//!   ([`AccountStates::sent_counterparty`]): its ack (or its timeout) returns the account to
//!   Normal whatever the status — the counterparty is solvent, so nothing escalates — and a stale
//!   or duplicate ack is ignored. A counterparty with an order of its own outstanding is not
//!   deleveraged at that moment (one order per account is tracked).
//! - Order ids are [`hotrisk_feed::wire::order_id`]`(account, trigger_seq, attempt)`; `attempt` is
//!   a per-account counter incremented on every order, so ids never repeat within a run and a
//!   replay of the same inputs reproduces them.
//!
//! # Timeouts
//! Every account with something pending at a deadline (an outstanding order or cancel-all, or a
//! back-off) sits in a preallocated indexed heap keyed by that deadline, earliest first (ties:
//! lowest account id, so expiry order is deterministic). [`AccountStates::expire`] pops only the
//! accounts whose deadline has passed: O(1) when none is due (it is called for every record),
//! O(log n) per expired account, never a scan of the outstanding orders or of the accounts.
//! [`AccountStates::expire_at_most`] bounds the work of one call further, for callers that
//! spread a burst of simultaneous timeouts over several records. An ack that completes an order
//! takes the account out of the heap (O(log n)); a new order replaces its key.

use super::heap::IndexedHeap;
use hotrisk_feed::wire::{AckStatus, Tier};

/// Where an account is in its liquidation.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Nothing outstanding.
    Normal = 0,
    /// A cancel-all is outstanding.
    Cancelling = 1,
    /// A liquidation order is outstanding.
    Liquidating = 2,
    /// The account's position was taken over (backstop or ADL); nothing outstanding.
    Bankrupt = 3,
    /// A backstop or ADL order was not filled: nothing is sent until its ack deadline.
    Backoff = 4,
}

/// What an ack did to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckEffect {
    /// The tier of the order acknowledged.
    pub tier: Tier,
    /// Instrument of the order.
    pub instrument: u16,
    /// Quantity the order asked for.
    pub ordered_qty: i64,
    /// The account must be re-evaluated now (it may still be below maintenance).
    pub reevaluate: bool,
    /// The order was an ADL reduction of this account as a counterparty.
    pub counterparty: bool,
}

/// Per-account state, one entry per account id.
#[derive(Debug)]
pub struct AccountStates {
    phase: Vec<Phase>,
    cancel_done: Vec<bool>,
    partial_failed: Vec<bool>,
    full_failures: Vec<u8>,
    attempt: Vec<u8>,
    order_id: Vec<u64>,
    tier: Vec<Tier>,
    instrument: Vec<u16>,
    qty: Vec<i64>,
    deadline: Vec<i64>,
    /// Record time of the first breach of the current episode (`i64::MIN` when none).
    breach_ts: Vec<i64>,
    /// The outstanding order is an ADL reduction of this account as a counterparty.
    counterparty: Vec<bool>,
    /// Accounts with a pending deadline, keyed by the negated deadline (max-heap → earliest
    /// first). Keys are never `i64::MIN` (`saturating_neg`), so negating them back is exact.
    deadlines: IndexedHeap,
}

impl AccountStates {
    /// States for account ids `0..accounts` (allocates here only).
    pub fn new(accounts: usize) -> Self {
        Self {
            phase: vec![Phase::Normal; accounts],
            cancel_done: vec![false; accounts],
            partial_failed: vec![false; accounts],
            full_failures: vec![0; accounts],
            attempt: vec![0; accounts],
            order_id: vec![0; accounts],
            tier: vec![Tier::Cancel; accounts],
            instrument: vec![0; accounts],
            qty: vec![0; accounts],
            deadline: vec![0; accounts],
            breach_ts: vec![i64::MIN; accounts],
            counterparty: vec![false; accounts],
            deadlines: IndexedHeap::with_capacity(accounts),
        }
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.phase.len()
    }

    /// Whether there are no accounts.
    pub fn is_empty(&self) -> bool {
        self.phase.is_empty()
    }

    /// The phase of `account`.
    pub fn phase(&self, account: u32) -> Phase {
        self.phase[account as usize]
    }

    /// Whether a new order may be sent (nothing outstanding).
    pub fn can_send(&self, account: u32) -> bool {
        matches!(
            self.phase[account as usize],
            Phase::Normal | Phase::Bankrupt
        )
    }

    /// Whether the cancel-all was acknowledged in this episode.
    pub fn cancel_done(&self, account: u32) -> bool {
        self.cancel_done[account as usize]
    }

    /// Whether a partial of this episode failed (the next order is full).
    pub fn partial_failed(&self, account: u32) -> bool {
        self.partial_failed[account as usize]
    }

    /// Full orders of this episode that did not fill completely (since the last backstop/ADL).
    pub fn full_failures(&self, account: u32) -> u8 {
        self.full_failures[account as usize]
    }

    /// Records the breach time (first call of an episode wins); returns it.
    pub fn note_breach(&mut self, account: u32, ts: i64) -> i64 {
        let b = &mut self.breach_ts[account as usize];
        if *b == i64::MIN {
            *b = ts;
        }
        *b
    }

    /// The account recovered: forget the episode (flags and breach time).
    pub fn recovered(&mut self, account: u32) {
        let a = account as usize;
        self.cancel_done[a] = false;
        self.partial_failed[a] = false;
        self.full_failures[a] = 0;
        self.breach_ts[a] = i64::MIN;
        if self.phase[a] == Phase::Bankrupt {
            self.phase[a] = Phase::Normal;
        }
    }

    /// Takes the next attempt number for `account`.
    pub fn next_attempt(&mut self, account: u32) -> u8 {
        let a = &mut self.attempt[account as usize];
        let v = *a;
        *a = a.wrapping_add(1);
        v
    }

    /// An order (or cancel-all, `tier == Cancel`) was sent; it is outstanding until `deadline`.
    pub fn sent(
        &mut self,
        account: u32,
        order_id: u64,
        tier: Tier,
        instrument: u16,
        qty: i64,
        deadline: i64,
    ) {
        let a = account as usize;
        debug_assert!(self.can_send(account));
        self.phase[a] = if tier == Tier::Cancel {
            Phase::Cancelling
        } else {
            Phase::Liquidating
        };
        if matches!(tier, Tier::Backstop | Tier::Adl) {
            self.full_failures[a] = 0;
        }
        self.order_id[a] = order_id;
        self.tier[a] = tier;
        self.instrument[a] = instrument;
        self.qty[a] = qty;
        self.deadline[a] = deadline;
        // Capacity is the number of accounts and each is present at most once: no growth.
        self.deadlines.upsert(account, deadline.saturating_neg());
    }

    /// An ADL reduction of `account` as a counterparty was sent (`qty` at the bankruptcy price of
    /// another account's position); it is outstanding until `deadline` like any order. Its ack
    /// returns the account to Normal whatever the status (see the module docs).
    pub fn sent_counterparty(
        &mut self,
        account: u32,
        order_id: u64,
        instrument: u16,
        qty: i64,
        deadline: i64,
    ) {
        let a = account as usize;
        debug_assert!(self.can_send(account));
        self.phase[a] = Phase::Liquidating;
        self.counterparty[a] = true;
        self.order_id[a] = order_id;
        self.tier[a] = Tier::Adl;
        self.instrument[a] = instrument;
        self.qty[a] = qty;
        self.deadline[a] = deadline;
        self.deadlines.upsert(account, deadline.saturating_neg());
    }

    /// Whether the outstanding order of `account` is an ADL counterparty reduction.
    pub fn is_counterparty(&self, account: u32) -> bool {
        self.counterparty[account as usize]
    }

    /// The earliest pending deadline, if any (the next record time at which
    /// [`AccountStates::expire`] will have work is any time after it).
    pub fn next_deadline(&self) -> Option<i64> {
        self.deadlines.peek().map(|(_, key)| -key)
    }

    /// Accounts with a pending deadline (outstanding orders and back-offs).
    pub fn pending(&self) -> usize {
        self.deadlines.len()
    }

    /// Applies an ack. Returns `None` when it does not match the outstanding order (a stale or
    /// duplicate ack: ignored).
    pub fn ack(
        &mut self,
        account: u32,
        order_id: u64,
        status: AckStatus,
        filled: i64,
    ) -> Option<AckEffect> {
        let a = account as usize;
        if a >= self.phase.len()
            || !matches!(self.phase[a], Phase::Cancelling | Phase::Liquidating)
            || self.order_id[a] != order_id
        {
            return None;
        }
        let tier = self.tier[a];
        let complete = status == AckStatus::Filled || filled >= self.qty[a];
        let counterparty = self.counterparty[a];
        self.finish(a, tier, complete && status != AckStatus::Rejected);
        if self.phase[a] != Phase::Backoff {
            // Nothing left for `expire` to do at the order's deadline.
            self.deadlines.remove(account);
        }
        Some(AckEffect {
            tier,
            instrument: self.instrument[a],
            ordered_qty: self.qty[a],
            reevaluate: true,
            counterparty,
        })
    }

    /// Outstanding orders whose deadline is before `now` are given up (as failed), and back-offs
    /// whose deadline is before `now` end; each such account is passed to `reevaluate`, earliest
    /// deadline first. O(1) when nothing is due, O(log n) per account expired.
    pub fn expire(&mut self, now: i64, reevaluate: impl FnMut(u32)) {
        self.expire_at_most(now, usize::MAX, reevaluate);
    }

    /// [`AccountStates::expire`] for at most `max` accounts; returns whether more are due at
    /// `now` (call again, e.g. at the next record, to continue).
    pub fn expire_at_most(
        &mut self,
        now: i64,
        max: usize,
        mut reevaluate: impl FnMut(u32),
    ) -> bool {
        let mut done = 0;
        while let Some((acc, key)) = self.deadlines.peek() {
            if now <= -key {
                return false;
            }
            if done == max {
                return true;
            }
            self.deadlines.pop();
            done += 1;
            let a = acc as usize;
            match self.phase[a] {
                Phase::Cancelling | Phase::Liquidating => {
                    let tier = self.tier[a];
                    self.finish(a, tier, false);
                }
                Phase::Backoff => {}
                // Nothing pending (not reached: acks remove the account).
                Phase::Normal | Phase::Bankrupt => continue,
            }
            // The deadline has passed: a back-off (new or earlier) ends here.
            if self.phase[a] == Phase::Backoff {
                self.phase[a] = Phase::Normal;
            }
            reevaluate(acc);
        }
        false
    }

    fn finish(&mut self, a: usize, tier: Tier, complete: bool) {
        if self.counterparty[a] {
            // A counterparty reduction: the account is solvent, nothing escalates.
            self.counterparty[a] = false;
            self.phase[a] = Phase::Normal;
            return;
        }
        match tier {
            Tier::Cancel => {
                // Whatever the status, the resting orders are no longer counted on.
                self.cancel_done[a] = true;
                self.phase[a] = Phase::Normal;
            }
            Tier::Partial => {
                if !complete {
                    self.partial_failed[a] = true;
                }
                self.phase[a] = Phase::Normal;
            }
            Tier::Full => {
                if !complete {
                    self.full_failures[a] = self.full_failures[a].saturating_add(1);
                }
                self.phase[a] = Phase::Normal;
            }
            Tier::Backstop | Tier::Adl => {
                // Not filled: wait for the order's deadline (`expire` re-evaluates then).
                self.phase[a] = if complete {
                    Phase::Bankrupt
                } else {
                    Phase::Backoff
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_then_partial_then_failure_escalates() {
        let mut s = AccountStates::new(4);
        assert!(s.can_send(1));
        s.sent(1, 10, Tier::Cancel, 0, 0, 100);
        assert_eq!(s.phase(1), Phase::Cancelling);
        assert!(!s.can_send(1));
        assert_eq!(s.ack(1, 99, AckStatus::Cancelled, 0), None); // not ours
        let e = s.ack(1, 10, AckStatus::Cancelled, 0).unwrap();
        assert!(e.reevaluate && s.cancel_done(1) && s.can_send(1));
        s.sent(1, 11, Tier::Partial, 0, 5, 200);
        s.ack(1, 11, AckStatus::Partial, 2).unwrap();
        assert!(s.partial_failed(1));
        assert_eq!(s.phase(1), Phase::Normal);
        s.recovered(1);
        assert!(!s.partial_failed(1) && !s.cancel_done(1));
    }

    #[test]
    fn timeout_reevaluates_once() {
        let mut s = AccountStates::new(4);
        s.sent(2, 20, Tier::Partial, 0, 5, 100);
        let mut got = Vec::new();
        s.expire(100, |a| got.push(a));
        assert!(got.is_empty());
        s.expire(101, |a| got.push(a));
        assert_eq!(got, [2]);
        assert!(s.partial_failed(2) && s.can_send(2));
        s.expire(500, |a| got.push(a));
        assert_eq!(got, [2]);
        // a late ack for the expired order is ignored
        assert_eq!(s.ack(2, 20, AckStatus::Filled, 5), None);
    }

    #[test]
    fn unfilled_full_orders_are_counted_until_a_backstop() {
        let mut s = AccountStates::new(2);
        s.sent(1, 30, Tier::Full, 0, 5, 100);
        s.ack(1, 30, AckStatus::Cancelled, 0).unwrap();
        assert_eq!((s.full_failures(1), s.phase(1)), (1, Phase::Normal));
        s.sent(1, 31, Tier::Full, 0, 5, 100);
        s.ack(1, 31, AckStatus::Partial, 2).unwrap();
        assert_eq!(s.full_failures(1), 2);
        // a complete fill of a slice is not a failure
        s.sent(1, 32, Tier::Full, 0, 3, 100);
        s.ack(1, 32, AckStatus::Filled, 3).unwrap();
        assert_eq!(s.full_failures(1), 2);
        s.sent(1, 33, Tier::Backstop, 0, 3, 100);
        assert_eq!(s.full_failures(1), 0);
    }

    #[test]
    fn an_unfilled_backstop_backs_off_until_its_deadline() {
        let mut s = AccountStates::new(1);
        s.sent(0, 7, Tier::Backstop, 0, 5, 100);
        s.ack(0, 7, AckStatus::Rejected, 0).unwrap();
        assert_eq!(s.phase(0), Phase::Backoff);
        assert!(!s.can_send(0));
        // the same ack again is not applied
        assert_eq!(s.ack(0, 7, AckStatus::Rejected, 0), None);
        let mut got = Vec::new();
        s.expire(100, |a| got.push(a));
        assert!(got.is_empty() && !s.can_send(0));
        s.expire(101, |a| got.push(a));
        assert_eq!(got, [0]);
        assert_eq!(s.phase(0), Phase::Normal);
        // a backstop that times out also ends in Normal (its deadline has passed)
        s.sent(0, 8, Tier::Adl, 0, 5, 200);
        s.expire(201, |a| got.push(a));
        assert_eq!(s.phase(0), Phase::Normal);
    }

    #[test]
    fn expiry_pops_only_due_deadlines_earliest_first() {
        let mut s = AccountStates::new(1000);
        // 1000 outstanding orders, deadlines 1000 − a (account 999 is due first)
        for a in 0..1000u32 {
            s.sent(a, u64::from(a) + 1, Tier::Full, 0, 5, 1000 - i64::from(a));
        }
        assert_eq!((s.pending(), s.next_deadline()), (1000, Some(1)));
        // nothing due: nothing done
        let mut got = Vec::new();
        s.expire(1, |a| got.push(a));
        assert!(got.is_empty());
        // deadlines 1, 2, 3 are before 4: accounts 999, 998, 997, in that order
        s.expire(4, |a| got.push(a));
        assert_eq!(got, [999, 998, 997]);
        assert_eq!((s.pending(), s.next_deadline()), (997, Some(4)));
        assert!(s.can_send(999) && !s.can_send(996));
        // an ack takes its account out of the heap: it is not expired later
        s.ack(996, 997, AckStatus::Filled, 5).unwrap();
        assert_eq!(s.next_deadline(), Some(5));
        got.clear();
        s.expire(6, |a| got.push(a));
        assert_eq!(got, [995]);
    }

    #[test]
    fn bounded_expiry_spreads_a_burst() {
        let mut s = AccountStates::new(10);
        for a in 0..10u32 {
            s.sent(a, u64::from(a) + 1, Tier::Partial, 0, 5, 100);
        }
        let mut got = Vec::new();
        assert!(s.expire_at_most(101, 4, |a| got.push(a)));
        assert_eq!(got, [0, 1, 2, 3]); // equal deadlines: lowest account first
        assert!(s.expire_at_most(101, 4, |a| got.push(a)));
        assert!(!s.expire_at_most(101, 4, |a| got.push(a)));
        assert_eq!(got, (0..10).collect::<Vec<_>>());
        assert_eq!(s.pending(), 0);
        assert!(!s.expire_at_most(1_000, 4, |a| got.push(a)));
        assert_eq!(got.len(), 10);
    }

    #[test]
    fn a_new_order_replaces_the_deadline() {
        let mut s = AccountStates::new(2);
        s.sent(1, 1, Tier::Cancel, 0, 0, 100);
        s.ack(1, 1, AckStatus::Cancelled, 0).unwrap();
        assert_eq!(s.pending(), 0);
        s.sent(1, 2, Tier::Partial, 0, 5, 300);
        let mut got = Vec::new();
        s.expire(200, |a| got.push(a));
        assert!(got.is_empty() && !s.can_send(1));
        s.expire(301, |a| got.push(a));
        assert_eq!(got, [1]);
        // a back-off keeps its deadline in the heap until it ends
        s.sent(1, 3, Tier::Backstop, 0, 5, 400);
        s.ack(1, 3, AckStatus::Rejected, 0).unwrap();
        assert_eq!((s.phase(1), s.next_deadline()), (Phase::Backoff, Some(400)));
        s.expire(401, |a| got.push(a));
        assert_eq!((got.as_slice(), s.phase(1)), (&[1, 1][..], Phase::Normal));
    }

    #[test]
    fn counterparty_reductions_are_tracked_and_never_escalate() {
        let mut s = AccountStates::new(3);
        s.sent_counterparty(2, 40, 0, 7, 100);
        assert!(!s.can_send(2) && s.is_counterparty(2));
        assert_eq!(s.ack(2, 41, AckStatus::Filled, 7), None); // not its order
        let e = s.ack(2, 40, AckStatus::Rejected, 0).unwrap();
        assert!(e.counterparty && e.tier == Tier::Adl);
        // rejected, yet Normal (not Backoff or Bankrupt), and out of the deadline heap
        assert_eq!((s.phase(2), s.pending()), (Phase::Normal, 0));
        assert!(!s.is_counterparty(2));
        assert_eq!(s.ack(2, 40, AckStatus::Filled, 7), None); // duplicate
                                                              // a timeout ends it the same way
        s.sent_counterparty(2, 42, 0, 7, 100);
        let mut got = Vec::new();
        s.expire(101, |a| got.push(a));
        assert_eq!((got.as_slice(), s.phase(2)), (&[2][..], Phase::Normal));
        // the account's own ADL order, by contrast, marks it bankrupt when filled
        s.sent(2, 43, Tier::Adl, 0, 7, 300);
        assert!(!s.ack(2, 43, AckStatus::Filled, 7).unwrap().counterparty);
        assert_eq!(s.phase(2), Phase::Bankrupt);
    }

    #[test]
    fn backstop_fill_marks_bankrupt() {
        let mut s = AccountStates::new(1);
        s.sent(0, 1, Tier::Backstop, 0, 5, 10);
        s.ack(0, 1, AckStatus::Filled, 5).unwrap();
        assert_eq!(s.phase(0), Phase::Bankrupt);
        assert!(s.can_send(0));
    }
}
