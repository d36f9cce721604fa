//! Recovery after `kill -9`: what the journal says about the previous runs, turned into a plan for
//! this one.
//!
//! # The design
//! - **Journal first, then publish.** For every order the gateway appends a journal record
//!   (carrying the order's position on this run's order ring), pushes the order, then sets the
//!   record's `published` bit. Account events are journaled with the md sequence after which the
//!   risk thread applied them.
//! - **Deterministic replay.** Decisions are a pure function of the records the risk thread
//!   applied, in the order it applied them (no clock, RNG or float in decisions; order ids are
//!   `order_id(account, trigger_seq, attempt)`). A restarted engine loads the same snapshot,
//!   re-attaches the md ring at the sequence the first run started from (the first `RunStart`
//!   record), re-applies the journaled account events at exactly their md positions (it does not
//!   read the live account ring until the replay has passed the last of them), and so regenerates
//!   every order the previous runs emitted, with the same ids.
//! - **The gateway suppresses duplicates.** Orders whose ids the journal holds as published are
//!   not sent again. An order journaled but not published (killed between the two steps) is sent
//!   now: "published" is the record's bit, or, for the last run, its ring position being below
//!   the old order ring's write cursor (read from the old ring file before it is replaced), which
//!   closes the window between the push and the bit.
//! - **Resume position.** After the replay the md reader simply continues: it is at the live
//!   position. The account ring's consumer cursor lives in the ring file, so the account ring
//!   resumes after the last event popped.
//!
//! # Assumption
//! Market-data records carry `seq` equal to their ring sequence (the feed-handler numbers the
//! stream from 1 into a fresh ring): the replay boundary compares orders' `trigger_seq` with ring
//! positions.
//!
//! # Limits (documented, reported at start-up)
//! - The md ring must still hold the records since the first run's start; if it has lapped them,
//!   the gap is reported and orders that depended on the lost records may be missed. A production
//!   deployment would checkpoint the state periodically and replay from the checkpoint.
//! - An account event popped from the account ring but not yet journaled when the process is
//!   killed (it is in the in-process queue for a few µs) is lost: the account ring has already
//!   advanced its consumer cursor.
#![forbid(unsafe_code)]

use std::collections::HashMap;

use hotrisk_feed::wire::Msg;

use crate::journal::{Record, RecordKind, STATE_PUBLISHED};

/// What this run must do to continue where the previous runs stopped.
#[derive(Debug, Clone, Default)]
pub struct RecoveryPlan {
    /// This run's number (1 for a fresh journal).
    pub run: u64,
    /// md ring sequence to attach at (the first run's start); `None` for a fresh start.
    pub resume_md_seq: Option<u64>,
    /// Journaled account events, in application order, each with the md sequence after which
    /// it was applied.
    pub events: Vec<(u64, Msg)>,
    /// Highest md sequence the journal refers to: the replay runs until the md reader passes it.
    pub replay_until: u64,
    /// Order ids already published (suppressed on replay).
    pub published: HashMap<u64, u64>,
    /// Order ids journaled but not published, with their journal index (sent on replay).
    pub unpublished: HashMap<u64, u64>,
}

impl RecoveryPlan {
    /// Builds the plan from the journal's records and, when readable, the write cursor of the
    /// previous run's order ring (`None` if the file is gone).
    pub fn from_journal(records: &[Record], old_ring_published: Option<u64>) -> Self {
        let mut plan = Self {
            run: 1,
            ..Self::default()
        };
        let last_start = records
            .iter()
            .rposition(|r| r.record_kind() == Some(RecordKind::RunStart));
        for (i, r) in records.iter().enumerate() {
            match r.record_kind() {
                Some(RecordKind::RunStart) => {
                    plan.run += 1;
                    if plan.resume_md_seq.is_none() {
                        plan.resume_md_seq = Some(r.md_seq);
                    }
                }
                Some(RecordKind::AccountEvent) => {
                    plan.events.push((r.md_seq, r.to_event()));
                    plan.replay_until = plan.replay_until.max(r.md_seq);
                }
                Some(RecordKind::Order) => {
                    plan.replay_until = plan.replay_until.max(r.md_seq);
                    let in_last_run = last_start.is_some_and(|s| i > s);
                    let on_old_ring =
                        in_last_run && old_ring_published.is_some_and(|p| (r.c as u64) < p);
                    if r.state & STATE_PUBLISHED != 0 || on_old_ring {
                        plan.published.insert(r.id, i as u64);
                    } else {
                        plan.unpublished.insert(r.id, i as u64);
                    }
                }
                None => {}
            }
        }
        plan
    }

    /// Whether this run replays a previous one.
    pub fn is_restart(&self) -> bool {
        self.run > 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotrisk_feed::wire::{order_id, MsgKind, Order};

    fn ord(acct: u32, seq: u64) -> Order {
        let mut o: Order = bytemuck::Zeroable::zeroed();
        o.order_id = order_id(acct, seq, 0);
        o.trigger_seq = seq;
        o.account = acct;
        o.kind = MsgKind::Order as u8;
        o
    }

    fn with_seq(mut r: Record, jseq: u64) -> Record {
        r.jseq = jseq;
        r
    }

    #[test]
    fn plan_from_two_runs() {
        let mut ev = Msg::market(MsgKind::Fill, 0, 0, 0);
        ev.seq = 1;
        ev.account = 5;
        let mut published = Record::order(&ord(1, 10), 0);
        published.state = STATE_PUBLISHED;
        let recs = vec![
            with_seq(Record::run_start(1, 3), 1),
            with_seq(published, 2),
            with_seq(Record::account_event(&ev, 12), 3),
            with_seq(Record::run_start(2, 3), 4),
            with_seq(Record::order(&ord(2, 20), 0), 5), // on the old ring (pos 0 < 1)
            with_seq(Record::order(&ord(3, 21), 1), 6), // journaled, never pushed
        ];
        let p = RecoveryPlan::from_journal(&recs, Some(1));
        assert_eq!(p.run, 3);
        assert_eq!(p.resume_md_seq, Some(3));
        assert_eq!(p.replay_until, 21);
        assert_eq!(p.events.len(), 1);
        assert_eq!(p.events[0].0, 12);
        assert!(p.published.contains_key(&order_id(1, 10, 0)));
        assert!(p.published.contains_key(&order_id(2, 20, 0)));
        assert_eq!(p.unpublished.get(&order_id(3, 21, 0)), Some(&5));
        let p = RecoveryPlan::from_journal(&recs, None);
        assert!(p.unpublished.contains_key(&order_id(2, 20, 0)));
        let fresh = RecoveryPlan::from_journal(&[], None);
        assert!(!fresh.is_restart());
        assert_eq!(fresh.resume_md_seq, None);
    }
}
