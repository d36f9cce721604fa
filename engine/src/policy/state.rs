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
//! ```
//! - While a cancel-all or an order is outstanding, no other order is sent for the account
//!   ([`AccountStates::can_send`]).
//! - A partial order that did not fill completely (partial fill, nothing filled, rejected, or timed
//!   out) sets `partial_failed`: the next decision is a full liquidation.
//! - Recovery (the margin core says the account is above maintenance again) resets the cancel and
//!   partial-failure flags.
//! - Order ids are [`hotrisk_feed::wire::order_id`]`(account, trigger_seq, attempt)`; `attempt` is
//!   a per-account counter incremented on every order, so ids never repeat within a run and a
//!   replay of the same inputs reproduces them.
//!
//! Outstanding orders are also listed in a preallocated vector so that timeouts are found in
//! O(outstanding), not O(accounts).

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
}

/// Per-account state, one entry per account id.
#[derive(Debug)]
pub struct AccountStates {
    phase: Vec<Phase>,
    cancel_done: Vec<bool>,
    partial_failed: Vec<bool>,
    attempt: Vec<u8>,
    order_id: Vec<u64>,
    tier: Vec<Tier>,
    instrument: Vec<u16>,
    qty: Vec<i64>,
    deadline: Vec<i64>,
    /// Record time of the first breach of the current episode (`i64::MIN` when none).
    breach_ts: Vec<i64>,
    outstanding: Vec<u32>,
    listed: Vec<bool>,
}

impl AccountStates {
    /// States for account ids `0..accounts` (allocates here only).
    pub fn new(accounts: usize) -> Self {
        Self {
            phase: vec![Phase::Normal; accounts],
            cancel_done: vec![false; accounts],
            partial_failed: vec![false; accounts],
            attempt: vec![0; accounts],
            order_id: vec![0; accounts],
            tier: vec![Tier::Cancel; accounts],
            instrument: vec![0; accounts],
            qty: vec![0; accounts],
            deadline: vec![0; accounts],
            breach_ts: vec![i64::MIN; accounts],
            outstanding: Vec::with_capacity(accounts),
            listed: vec![false; accounts],
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
        self.order_id[a] = order_id;
        self.tier[a] = tier;
        self.instrument[a] = instrument;
        self.qty[a] = qty;
        self.deadline[a] = deadline;
        if !self.listed[a] {
            // Capacity is the number of accounts and each is listed at most once: no growth.
            self.listed[a] = true;
            self.outstanding.push(account);
        }
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
        if a >= self.phase.len() || self.can_send(account) || self.order_id[a] != order_id {
            return None;
        }
        let tier = self.tier[a];
        let complete = status == AckStatus::Filled || filled >= self.qty[a];
        self.finish(a, tier, complete && status != AckStatus::Rejected);
        Some(AckEffect {
            tier,
            instrument: self.instrument[a],
            ordered_qty: self.qty[a],
            reevaluate: true,
        })
    }

    /// Outstanding orders whose deadline is before `now` are given up (as failed); each such
    /// account is passed to `reevaluate`.
    pub fn expire(&mut self, now: i64, mut reevaluate: impl FnMut(u32)) {
        let mut i = 0;
        while i < self.outstanding.len() {
            let acc = self.outstanding[i];
            let a = acc as usize;
            if self.can_send(acc) {
                self.outstanding.swap_remove(i);
                self.listed[a] = false;
                continue;
            }
            if now > self.deadline[a] {
                let tier = self.tier[a];
                self.finish(a, tier, false);
                self.outstanding.swap_remove(i);
                self.listed[a] = false;
                reevaluate(acc);
                continue;
            }
            i += 1;
        }
    }

    fn finish(&mut self, a: usize, tier: Tier, complete: bool) {
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
            Tier::Full => self.phase[a] = Phase::Normal,
            Tier::Backstop | Tier::Adl => {
                self.phase[a] = if complete {
                    Phase::Bankrupt
                } else {
                    Phase::Normal
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
    fn backstop_fill_marks_bankrupt() {
        let mut s = AccountStates::new(1);
        s.sent(0, 1, Tier::Backstop, 0, 5, 10);
        s.ack(0, 1, AckStatus::Filled, 5).unwrap();
        assert_eq!(s.phase(0), Phase::Bankrupt);
        assert!(s.can_send(0));
    }
}
