//! The risk thread's view of the risk state: the [`RiskCore`] trait and the preallocated
//! [`OrderSink`] (the order backlog) decisions go into.
//!
//! A core owns the margin state and the policy; the risk thread owns the core exclusively. Every
//! method runs on the hot path: no allocation, no lock, no syscall, no clock, no panic. Time is
//! the record time passed in, so the same records give the same orders bit for bit.
#![forbid(unsafe_code)]

use bytemuck::Zeroable;
use hotrisk_feed::clock::now_ns;
use hotrisk_feed::wire::{Msg, Order};

use super::{Decision, Output};
use crate::journal::Record;

/// Something the risk thread observed about its inputs (not a record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Market-data records `expected .. resumed_at` (ring sequence) were lost (lapped, or a gap
    /// in the producer's own sequence). Data is untrusted until the core sees fresh prices.
    MdGap {
        /// First sequence missed.
        expected: u64,
        /// First sequence seen after the gap.
        resumed_at: u64,
    },
    /// The md producer's heartbeat is older than the configured timeout.
    MdProducerDead,
    /// The md producer's heartbeat is fresh again.
    MdProducerAlive,
}

/// Sizes and memory of a core, printed at start-up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoreInfo {
    /// Instruments.
    pub instruments: usize,
    /// Accounts.
    pub accounts: usize,
    /// Open positions.
    pub positions: usize,
    /// Bytes held by the state (approximate: the arrays' capacities).
    pub state_bytes: usize,
}

/// The risk thread's order backlog: a preallocated FIFO ring of decisions (orders, and the
/// account events the gateway journals) between the risk core and the gateway.
///
/// A core pushes every order it decides; the risk loop hands the backlog to the gateway (the
/// decision queue, or the inline gateway's order ring) as far as there is room, without waiting.
/// What does not fit stays here, in order, and the risk loop applies back-pressure upstream
/// (it reads no market data until the backlog is empty; see the pipeline docs). Nothing is ever
/// dropped:
/// - below capacity, `push` stores the order;
/// - at capacity (a single record produced more orders than the backlog holds), an engine sink
///   hands its oldest entry over, waiting for room downstream (counted as a stall), then stores
///   the new one. Only a detached sink (tests, tools: no downstream) refuses, counted in
///   [`SinkStats::refused`].
///
/// Pushing never allocates. Entries carry the time their record's decision ended, so the
/// `enqueue` stage measures decision done → handed to the gateway, back-pressure included.
pub struct OrderSink {
    ring: Box<[Decision]>,
    mask: u64,
    /// Next entry to hand over.
    head: u64,
    /// Next free slot.
    tail: u64,
    /// First entry of the record in progress.
    record_start: u64,
    /// Entries below this index were already counted as delayed.
    counted: u64,
    /// Flags given to orders of the record in progress ([`super::DECISION_REPLAY`]).
    flags: u64,
    stats: SinkStats,
    out: Option<Box<Output>>,
}

/// What a sink has seen (the engine reports these).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Orders (and journal-only events) that could not be handed over right after the record that
    /// produced them because the gateway side was full: delayed by back-pressure, never lost.
    pub delayed: u64,
    /// Entries handed over while the risk thread waited, because the backlog itself was full.
    pub stalls: u64,
    /// Orders refused by a detached sink at capacity (an engine sink never refuses).
    pub refused: u64,
    /// Highest backlog length seen.
    pub max_len: u64,
    /// Live orders added (not replays of a recovery): what lock-step counts answers against.
    pub orders: u64,
}

impl std::fmt::Debug for OrderSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderSink")
            .field("capacity", &self.ring.len())
            .field("len", &self.len())
            .field("stats", &self.stats)
            .field("attached", &self.out.is_some())
            .finish()
    }
}

impl OrderSink {
    /// A detached sink holding up to `cap` entries (rounded up to a power of two, at least 1;
    /// allocated here, once). Past capacity it refuses, counted; the engine's own sink is
    /// attached to the gateway side and never refuses.
    pub fn with_capacity(cap: usize) -> Self {
        let n = cap.max(1).next_power_of_two();
        Self {
            ring: vec![Decision::zeroed(); n].into_boxed_slice(),
            mask: n as u64 - 1,
            head: 0,
            tail: 0,
            record_start: 0,
            counted: 0,
            flags: 0,
            stats: SinkStats::default(),
            out: None,
        }
    }

    /// A sink attached to the gateway side (never refuses).
    pub(super) fn attached(cap: usize, out: Output) -> Self {
        let mut s = Self::with_capacity(cap);
        s.out = Some(Box::new(out));
        s
    }

    /// Adds an order (see the type docs). False only for a detached sink at capacity.
    #[inline]
    pub fn push(&mut self, o: Order) -> bool {
        let added = self.push_decision(Decision {
            rec: Record::order(&o, 0),
            trigger_publish_ts: o.trigger_publish_ts,
            enqueue_ts: 0,
            flags: self.flags,
            reserved: 0,
        });
        self.stats.orders += u64::from(added && self.flags & super::DECISION_REPLAY == 0);
        added
    }

    /// Live orders added so far ([`SinkStats::orders`]).
    #[inline]
    pub fn live_orders(&self) -> u64 {
        self.stats.orders
    }

    /// Adds any decision (the risk loop's journal-only account events).
    #[inline]
    pub(super) fn push_decision(&mut self, d: Decision) -> bool {
        if self.len() == self.ring.len() {
            let Some(out) = self.out.as_deref_mut() else {
                self.stats.refused += 1;
                return false;
            };
            // The backlog itself is full: wait for room downstream for the oldest entry.
            let mut oldest = self.ring[(self.head & self.mask) as usize];
            if oldest.enqueue_ts == 0 {
                oldest.enqueue_ts = now_ns();
            }
            out.hand_blocking(oldest);
            self.head += 1;
            self.stats.stalls += 1;
        }
        self.ring[(self.tail & self.mask) as usize] = d;
        self.tail += 1;
        let len = self.len() as u64;
        if len > self.stats.max_len {
            self.stats.max_len = len;
        }
        true
    }

    /// Starts a record: its orders carry `replay` ([`super::DECISION_REPLAY`]).
    #[inline]
    pub(super) fn begin_record(&mut self, replay: bool) {
        self.record_start = self.tail;
        self.flags = if replay { super::DECISION_REPLAY } else { 0 };
    }

    /// Ends a record: its entries still here are stamped with `t_done` (decision done).
    #[inline]
    pub(super) fn end_record(&mut self, t_done: i64) {
        let mut i = self.record_start.max(self.head);
        while i < self.tail {
            self.ring[(i & self.mask) as usize].enqueue_ts = t_done;
            i += 1;
        }
        self.record_start = self.tail;
        self.flags = 0;
    }

    /// Hands entries over while the gateway side has room, never waiting. Returns whether the
    /// backlog is now empty. Entries left behind are counted as delayed (once each).
    #[inline]
    pub(super) fn drain(&mut self) -> bool {
        let Some(out) = self.out.as_deref_mut() else {
            return self.head == self.tail;
        };
        while self.head < self.tail {
            if !out.has_room() {
                let from = self.head.max(self.counted);
                self.stats.delayed += self.tail.saturating_sub(from);
                self.counted = self.tail;
                return false;
            }
            let d = self.ring[(self.head & self.mask) as usize];
            out.hand(d);
            self.head += 1;
        }
        true
    }

    /// Hands everything over, waiting for room (shutdown).
    pub(super) fn drain_blocking(&mut self) {
        let Some(out) = self.out.as_deref_mut() else {
            return;
        };
        while self.head < self.tail {
            let mut d = self.ring[(self.head & self.mask) as usize];
            if d.enqueue_ts == 0 {
                d.enqueue_ts = now_ns();
            }
            out.hand_blocking(d);
            self.head += 1;
        }
    }

    /// The gateway side (engine sinks).
    pub(super) fn output(&mut self) -> Option<&mut Output> {
        self.out.as_deref_mut()
    }

    /// Takes the gateway side out (shutdown).
    pub(super) fn take_output(&mut self) -> Option<Output> {
        self.out.take().map(|b| *b)
    }

    /// Entries waiting.
    #[inline]
    pub fn len(&self) -> usize {
        (self.tail - self.head) as usize
    }

    /// Whether nothing waits.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.head == self.tail
    }

    /// Slots in the backlog.
    pub fn capacity(&self) -> usize {
        self.ring.len()
    }

    /// Free slots.
    #[inline]
    pub fn free(&self) -> usize {
        self.ring.len() - self.len()
    }

    /// Counters so far.
    pub fn stats(&self) -> SinkStats {
        self.stats
    }

    /// The orders waiting, oldest first (a detached sink's output; cold: allocates).
    pub fn orders(&self) -> Vec<Order> {
        (self.head..self.tail)
            .map(|i| self.ring[(i & self.mask) as usize])
            .filter(|d| d.flags & super::DECISION_EVENT == 0)
            .map(|d| {
                let mut o = d.rec.to_order();
                o.trigger_publish_ts = d.trigger_publish_ts;
                o
            })
            .collect()
    }

    /// Takes the oldest waiting order out (a detached sink's consumer; events are skipped).
    pub fn pop(&mut self) -> Option<Order> {
        while self.head < self.tail {
            let d = self.ring[(self.head & self.mask) as usize];
            self.head += 1;
            if d.flags & super::DECISION_EVENT == 0 {
                let mut o = d.rec.to_order();
                o.trigger_publish_ts = d.trigger_publish_ts;
                return Some(o);
            }
        }
        None
    }

    /// Forgets every waiting entry (a detached sink's consumer).
    #[inline]
    pub fn clear(&mut self) {
        self.head = self.tail;
        self.record_start = self.tail;
        self.counted = self.tail;
    }
}

/// The margin state plus the policy, as the risk thread drives it.
pub trait RiskCore: Send {
    /// Applies one market-data record (mark, index, book, trade, funding, status, heartbeat) and
    /// pushes the resulting orders (all of them: the sink never refuses in the engine).
    fn on_market(&mut self, msg: &Msg, out: &mut OrderSink);
    /// Applies one account event (fill, collateral, order ack) and pushes the resulting orders.
    fn on_account(&mut self, msg: &Msg, out: &mut OrderSink);
    /// Reacts to an input-health change (no liquidation on data the core cannot trust).
    fn on_health(&mut self, h: Health, out: &mut OrderSink);
    /// Sizes for the start-up banner.
    fn info(&self) -> CoreInfo;
    /// A one-line description (which core, which parameters).
    fn describe(&self) -> String;
    /// An end-of-run summary (liquidations by tier, fund, errors); cold, may allocate.
    fn summary(&self) -> String {
        String::new()
    }
}
