//! The risk thread's view of the risk state: the [`RiskCore`] trait and the preallocated
//! [`OrderSink`] decisions go into.
//!
//! A core owns the margin state and the policy; the risk thread owns the core exclusively. Every
//! method runs on the hot path: no allocation, no lock, no syscall, no clock, no panic. Time is
//! the record time passed in, so the same records give the same orders bit for bit.
#![forbid(unsafe_code)]

use hotrisk_feed::wire::{Msg, Order};

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

/// A fixed-capacity buffer of orders for one record. Pushing never allocates: past capacity the
/// order is refused and counted (`overflow`), which the engine reports.
#[derive(Debug)]
pub struct OrderSink {
    buf: Vec<Order>,
    cap: usize,
    /// Orders refused because the buffer was full.
    pub overflow: u64,
}

impl OrderSink {
    /// A sink for up to `cap` orders per record (allocated here, once).
    pub fn with_capacity(cap: usize) -> Self {
        Self {
            buf: Vec::with_capacity(cap),
            cap,
            overflow: 0,
        }
    }

    /// Adds an order; false (and counted) if the buffer is full.
    #[inline]
    pub fn push(&mut self, o: Order) -> bool {
        if self.buf.len() < self.cap {
            self.buf.push(o);
            true
        } else {
            self.overflow += 1;
            false
        }
    }

    /// Orders so far.
    pub fn as_slice(&self) -> &[Order] {
        &self.buf
    }

    /// Number of orders.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Empties the buffer (keeps the allocation).
    #[inline]
    pub fn clear(&mut self) {
        self.buf.clear();
    }
}

/// The margin state plus the policy, as the risk thread drives it.
pub trait RiskCore: Send {
    /// Applies one market-data record (mark, index, book, trade, funding, status, heartbeat) and
    /// pushes the resulting orders.
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
