//! A simulated matching engine ("venue") for synthetic runs, the demo and end-to-end tests.
//!
//! It keeps a full-depth L2 book per instrument from the market-data records it is shown, and
//! answers the engine's [`Order`] records the way a matching engine answers IOC, reduce-only
//! liquidation orders:
//!
//! - an order sweeps the opposite side of the book from the best level, as far as its limit price
//!   allows, consuming the liquidity it takes (so a cascade of liquidations walks the book down);
//!   each level taken produces one [`MsgKind::Fill`] at that level's exact price, then one
//!   [`MsgKind::OrderAck`] (`Filled`, `Partial` or `Cancelled` for nothing filled) carrying the
//!   filled quantity and the average price (rounded to E8 toward the account's disadvantage);
//! - a backstop or ADL order ([`Tier::Backstop`], [`Tier::Adl`]) is an off-book transfer to the
//!   insurance fund or the deleveraged counterparty: filled whole at its limit (the bankruptcy
//!   price) in one fill, without touching the book;
//! - a [`MsgKind::CancelAll`] is acknowledged `Cancelled` (the simulation holds no resting orders
//!   of accounts);
//! - a malformed order (unknown instrument, zero or negative quantity, not reduce-only, unknown
//!   side) is acknowledged `Rejected`, never silently ignored.
//!
//! The venue is deterministic: the same market data and orders give the same replies, however
//! fast each process runs. The process loop ([`run`]) reads the market-data ring eagerly (so it
//! is never lapped) but applies a record to its books only when an order needs it
//! ([`AsOfBook`]): an order triggered by market-data record `m` is answered against the books as
//! of `m` (and as of the latest such record of any earlier order), plus what earlier orders took.
//! A venue that applied records as it read them would answer the same order against a book that
//! depends on how far it happened to have read: in a crash, a book one step later sits tens of
//! ticks lower, a full order's limit is no longer met, and the tier counts change run to run.
//! This one models an exchange that answers at the instant of the trigger.
//!
//! It is not on a hot path (a `BTreeMap` per side is fine here); it stands for the exchange
//! across the wire.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::clock::now_ns;
use crate::ring::broadcast::{BroadcastReader, ReadOutcome};
use crate::ring::idle::{IdleStrategy, SpinThenYield};
use crate::ring::spsc::{SpscConsumer, SpscProducer};
use crate::ring::RingError;
use crate::wire::{AckStatus, Msg, MsgKind, Order, Side, Tier, FLAG_REDUCE_ONLY};

/// One instrument's full-depth book: price (E8) → quantity (E8).
#[derive(Debug, Default, Clone)]
struct SimBook {
    bids: BTreeMap<i64, i64>,
    asks: BTreeMap<i64, i64>,
}

/// What the venue did with one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Execution {
    /// Quantity filled (E8, unsigned).
    pub filled_qty: i64,
    /// Σ price × qty of the fills, in E8 × E8 units (exact).
    pub filled_value: i128,
    /// Levels taken.
    pub levels: u32,
}

/// The simulated matching engine. See the module docs.
#[derive(Debug, Default, Clone)]
pub struct Venue {
    books: Vec<SimBook>,
    replies_sent: u64,
}

impl Venue {
    /// A venue for `instruments` instruments (ids `0..instruments`).
    pub fn new(instruments: usize) -> Self {
        Self {
            books: vec![SimBook::default(); instruments],
            replies_sent: 0,
        }
    }

    /// Applies one market-data record to the venue's books (other kinds are ignored).
    pub fn on_market(&mut self, msg: &Msg) {
        let Some(book) = self.books.get_mut(usize::from(msg.instrument)) else {
            return;
        };
        match msg.kind() {
            Some(MsgKind::SnapshotBegin) => {
                book.bids.clear();
                book.asks.clear();
            }
            Some(MsgKind::BookLevel) => {
                let side = match Side::from_u8(msg.aux) {
                    Some(Side::Buy) => &mut book.bids,
                    Some(Side::Sell) => &mut book.asks,
                    None => return,
                };
                let (price, qty) = (msg.body[0], msg.body[1]);
                if qty <= 0 {
                    side.remove(&price);
                } else {
                    side.insert(price, qty);
                }
            }
            _ => {}
        }
    }

    /// Best bid and ask of an instrument, if any.
    pub fn top(&self, instrument: u16) -> (Option<i64>, Option<i64>) {
        match self.books.get(usize::from(instrument)) {
            Some(b) => (
                b.bids.keys().next_back().copied(),
                b.asks.keys().next().copied(),
            ),
            None => (None, None),
        }
    }

    /// Number of reply records produced so far.
    pub fn replies_sent(&self) -> u64 {
        self.replies_sent
    }

    /// Answers one order: calls `reply` with each fill and then the acknowledgement, stamped with
    /// `now` as exchange and local time (publish time and sequence are the publisher's to set).
    pub fn on_order(&mut self, order: &Order, now: i64, mut reply: impl FnMut(Msg)) -> Execution {
        let mut exec = Execution::default();
        let ack = |status: AckStatus, exec: &Execution| {
            let avg = if exec.filled_qty > 0 {
                average_price(exec.filled_value, exec.filled_qty, order.side)
            } else {
                0
            };
            Msg {
                seq: 0,
                exch_ts: now,
                local_ts: now,
                publish_ts: 0,
                kind: MsgKind::OrderAck as u8,
                aux: status as u8,
                instrument: order.instrument,
                account: order.account,
                body: [order.order_id as i64, exec.filled_qty, avg],
            }
        };
        let valid_side = Side::from_u8(order.side);
        let book = self.books.get_mut(usize::from(order.instrument));
        match (order.kind(), valid_side, book) {
            (Some(MsgKind::CancelAll), _, _) => {
                reply(ack(AckStatus::Cancelled, &exec));
            }
            (Some(MsgKind::Order), Some(side), Some(book))
                if order.qty > 0
                    && order.flags & FLAG_REDUCE_ONLY != 0
                    && order.limit_price > 0 =>
            {
                if matches!(Tier::from_u8(order.tier), Some(Tier::Backstop | Tier::Adl)) {
                    // Off-book transfers: the insurance fund (backstop) or the deleveraged
                    // counterparty (ADL) takes the whole quantity at the order's price (the
                    // bankruptcy price); the book is not touched.
                    exec.filled_qty = order.qty;
                    exec.filled_value = i128::from(order.limit_price) * i128::from(order.qty);
                    reply(fill_msg(order, side, order.qty, order.limit_price, now));
                    self.replies_sent += 1;
                    reply(ack(AckStatus::Filled, &exec));
                    self.replies_sent += 1;
                    return exec;
                }
                let mut remaining = order.qty;
                // A sell order takes bids from the highest down; a buy takes asks from the lowest up.
                loop {
                    if remaining == 0 {
                        break;
                    }
                    let level = match side {
                        Side::Sell => book
                            .bids
                            .iter_mut()
                            .next_back()
                            .filter(|(p, _)| **p >= order.limit_price),
                        Side::Buy => book
                            .asks
                            .iter_mut()
                            .next()
                            .filter(|(p, _)| **p <= order.limit_price),
                    };
                    let Some((&price, qty)) = level else { break };
                    let take = remaining.min(*qty);
                    *qty -= take;
                    remaining -= take;
                    if *qty == 0 {
                        match side {
                            Side::Sell => book.bids.remove(&price),
                            Side::Buy => book.asks.remove(&price),
                        };
                    }
                    exec.filled_qty += take;
                    exec.filled_value += i128::from(price) * i128::from(take);
                    exec.levels += 1;
                    reply(fill_msg(order, side, take, price, now));
                    self.replies_sent += 1;
                }
                let status = if exec.filled_qty == order.qty {
                    AckStatus::Filled
                } else if exec.filled_qty > 0 {
                    AckStatus::Partial
                } else {
                    AckStatus::Cancelled
                };
                reply(ack(status, &exec));
            }
            _ => reply(ack(AckStatus::Rejected, &exec)),
        }
        self.replies_sent += 1;
        exec
    }
}

/// The venue's books advanced lazily, to the market-data position each order was triggered at
/// (see the module docs): market data waits in a queue until an order needs it.
///
/// An order's `trigger_seq` is the sequence of the market-data record that triggered it, or, for
/// an order the engine decided on receiving one of this venue's replies (a re-decision after an
/// acknowledgement), that reply's sequence. The two are told apart by the reply's publish time,
/// which the engine copies into the order (`trigger_publish_ts`): a reply-triggered order leaves
/// the books where they are; a market-data-triggered one advances them to its trigger.
#[derive(Debug, Default)]
pub struct AsOfBook {
    venue: Venue,
    /// Records read but not yet applied: (ring sequence, record).
    pending: VecDeque<(u64, Msg)>,
    /// The books are as of this ring sequence.
    applied: u64,
    /// Record time (`exch_ts`, else `local_ts`) of the last record applied: the venue's clock.
    time: i64,
    /// `publish_ts` of every reply sent, index = reply seq − 1.
    reply_ts: Vec<i64>,
}

/// Most records held back before the oldest is applied regardless (a feed with no orders for a
/// long time must not grow the queue without bound; 2^22 records = 288 MiB). Beyond it the
/// venue is no longer exactly as-of, which only a run of more than 4 M records without an order
/// can reach.
const MAX_PENDING: usize = 1 << 22;

impl AsOfBook {
    /// Books for `instruments` instruments.
    pub fn new(instruments: usize) -> Self {
        Self {
            venue: Venue::new(instruments),
            ..Self::default()
        }
    }

    /// Queues market-data record `msg` read at ring sequence `seq`.
    pub fn push_market(&mut self, seq: u64, msg: Msg) {
        if self.pending.len() >= MAX_PENDING {
            if let Some((s, m)) = self.pending.pop_front() {
                self.apply(s, &m);
            }
        }
        self.pending.push_back((seq, msg));
    }

    /// The ring sequence of the last record read (applied or queued).
    pub fn last_read(&self) -> u64 {
        self.pending.back().map_or(self.applied, |p| p.0)
    }

    /// Where `order` must be answered: `Some(seq)` of its market-data trigger, `None` when it
    /// was triggered by one of this venue's replies (answered where the books are).
    pub fn market_trigger(&self, order: &Order) -> Option<u64> {
        let reply = usize::try_from(order.trigger_seq)
            .ok()
            .and_then(|s| s.checked_sub(1))
            .and_then(|i| self.reply_ts.get(i));
        match reply {
            Some(&ts) if ts == order.trigger_publish_ts => None,
            _ => Some(order.trigger_seq),
        }
    }

    /// Applies the queued records up to ring sequence `seq` (never goes back).
    pub fn advance_to(&mut self, seq: u64) {
        while let Some(&(s, m)) = self.pending.front() {
            if s > seq {
                break;
            }
            self.pending.pop_front();
            self.apply(s, &m);
        }
    }

    fn apply(&mut self, seq: u64, m: &Msg) {
        self.venue.on_market(m);
        self.applied = seq;
        let t = if m.exch_ts != 0 {
            m.exch_ts
        } else {
            m.local_ts
        };
        self.time = self.time.max(t);
    }

    /// The venue's clock: the record time of the market data the books are at.
    pub fn time(&self) -> i64 {
        self.time
    }

    /// Answers `order` (see [`Venue::on_order`]) after advancing the books to its trigger; the
    /// caller has queued the market data up to the trigger (see [`AsOfBook::last_read`]).
    /// Replies get consecutive sequences from 1, set here, the venue's clock ([`AsOfBook::time`],
    /// market record time, so the engine's record-time rules see one clock) as exchange and local
    /// time, and `publish_ts` from `stamp` (the real time, for latency).
    pub fn on_order(
        &mut self,
        order: &Order,
        mut stamp: impl FnMut() -> i64,
        mut reply: impl FnMut(Msg),
    ) -> Execution {
        if let Some(seq) = self.market_trigger(order) {
            self.advance_to(seq);
        }
        let reply_ts = &mut self.reply_ts;
        self.venue.on_order(order, self.time, |mut m| {
            m.seq = reply_ts.len() as u64 + 1;
            m.publish_ts = stamp();
            reply_ts.push(m.publish_ts);
            reply(m);
        })
    }

    /// The books (as of the last order's trigger).
    pub fn venue(&self) -> &Venue {
        &self.venue
    }

    /// Applies everything queued (at the end of a run).
    pub fn flush(&mut self) {
        self.advance_to(u64::MAX);
    }
}

/// Counters of a [`run`] of the venue process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VenueStats {
    /// Market-data records applied to the books.
    pub market_records: u64,
    /// Market-data records the venue lost because the feed lapped it (its book may be stale
    /// until the next snapshot).
    pub market_lost: u64,
    /// Liquidation orders answered.
    pub orders: u64,
    /// Cancel-all requests answered.
    pub cancels: u64,
    /// Fill records sent.
    pub fills: u64,
    /// Quantity filled in total (E8).
    pub filled_qty: i64,
}

/// Where the venue process reads and writes.
#[derive(Debug, Clone, Copy)]
pub struct VenueRings<'a> {
    /// The market-data broadcast ring (read, as one more reader).
    pub market: &'a Path,
    /// The engine's order ring (SPSC, consumed).
    pub orders: &'a Path,
    /// The account-event ring (SPSC, produced: fills and acks). Created by the venue.
    pub account_events: &'a Path,
}

/// Runs the venue process loop until the market-data feed and the order ring are both closed
/// and drained, or `stop` is set.
///
/// The venue creates the account-event ring, attaches to the market-data ring (waiting up to
/// `attach_timeout_ns` for it and for the order ring to appear), and then loops: apply every
/// available market-data record, answer every available order (replies are pushed with
/// back-pressure: never dropped), heartbeat, idle. `instruments` sizes the books.
pub fn run(
    rings: VenueRings<'_>,
    instruments: usize,
    attach_timeout_ns: i64,
    stop: &AtomicBool,
) -> Result<VenueStats, RingError> {
    let mut acct = SpscProducer::<Msg>::create(rings.account_events, 1 << 16)?;
    let deadline = now_ns().saturating_add(attach_timeout_ns);
    let mut md = attach_retry(
        || BroadcastReader::<Msg>::attach_at(rings.market, 1),
        deadline,
    )?;
    let mut orders = attach_retry(|| SpscConsumer::<Order>::attach(rings.orders), deadline)?;
    let mut book = AsOfBook::new(instruments);
    let mut stats = VenueStats::default();
    let mut idle = SpinThenYield::default();
    let mut md_done = false;
    let mut last_beat = now_ns();
    // Reads every available market-data record into `book`'s queue.
    let mut read_md = |book: &mut AsOfBook, stats: &mut VenueStats, md_done: &mut bool| {
        let mut work = false;
        loop {
            match md.try_read() {
                ReadOutcome::Item(m) => {
                    book.push_market(md.next_seq() - 1, m);
                    stats.market_records += 1;
                    work = true;
                }
                ReadOutcome::Lapped {
                    expected,
                    resumed_at,
                } => {
                    stats.market_lost += resumed_at - expected;
                    work = true;
                }
                ReadOutcome::Empty => break,
                ReadOutcome::Closed => {
                    *md_done = true;
                    break;
                }
            }
        }
        work
    };
    while !stop.load(Ordering::Relaxed) {
        let mut work = read_md(&mut book, &mut stats, &mut md_done);
        while let Some(order) = orders.try_pop() {
            work = true;
            if order.kind() == Some(MsgKind::CancelAll) {
                stats.cancels += 1;
            } else {
                stats.orders += 1;
            }
            // The engine has read the trigger, so it is published: read up to it.
            if let Some(seq) = book.market_trigger(&order) {
                let mut spin = SpinThenYield::default();
                while book.last_read() < seq && !md_done && !stop.load(Ordering::Relaxed) {
                    if !read_md(&mut book, &mut stats, &mut md_done) {
                        spin.idle();
                    }
                }
            }
            let exec = book.on_order(&order, now_ns, |reply| {
                if reply.kind() == Some(MsgKind::Fill) {
                    stats.fills += 1;
                }
                acct.push_spin(reply, &mut SpinThenYield::default());
            });
            stats.filled_qty += exec.filled_qty;
        }
        if md_done && orders.is_closed() {
            break;
        }
        let now = now_ns();
        if now - last_beat > 10_000_000 {
            acct.heartbeat();
            last_beat = now;
        }
        if work {
            idle.reset();
        } else {
            idle.idle();
        }
    }
    acct.close();
    Ok(stats)
}

fn attach_retry<R>(
    mut attach: impl FnMut() -> Result<R, RingError>,
    deadline: i64,
) -> Result<R, RingError> {
    loop {
        match attach() {
            Ok(r) => return Ok(r),
            Err(e) if now_ns() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
        }
    }
}

/// Average fill price at E8, rounded against the account: down for a sell, up for a buy.
fn average_price(value: i128, qty: i64, side: u8) -> i64 {
    let q = i128::from(qty);
    let (quot, rem) = (value / q, value % q);
    let up = side == Side::Buy as u8 && rem != 0;
    i64::try_from(quot + i128::from(up)).unwrap_or(i64::MAX)
}

/// The fill record the venue sends for `qty` lots of `order` at `price` (signed: + for a buy).
fn fill_msg(order: &Order, side: Side, qty: i64, price: i64, now: i64) -> Msg {
    Msg {
        seq: 0,
        exch_ts: now,
        local_ts: now,
        publish_ts: 0,
        kind: MsgKind::Fill as u8,
        aux: side as u8,
        instrument: order.instrument,
        account: order.account,
        body: [if side == Side::Buy { qty } else { -qty }, price, 0],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{order_id, Tier, TIF_IOC};

    fn level(side: Side, price: i64, qty: i64) -> Msg {
        let mut m = Msg::market(MsgKind::BookLevel, 0, 0, 0);
        m.aux = side as u8;
        m.body = [price, qty, 0];
        m
    }

    fn order(side: Side, qty: i64, limit: i64) -> Order {
        Order {
            order_id: order_id(9, 1, 0),
            trigger_seq: 1,
            trigger_publish_ts: 0,
            emit_ts: 0,
            kind: MsgKind::Order as u8,
            side: side as u8,
            instrument: 0,
            account: 9,
            qty,
            limit_price: limit,
            tier: Tier::Partial as u8,
            tif: TIF_IOC,
            flags: FLAG_REDUCE_ONLY,
            attempt: 0,
            reserved: 0,
        }
    }

    #[test]
    fn sell_sweeps_bids_down_to_the_limit_and_consumes_them() {
        let mut v = Venue::new(1);
        for (p, q) in [(100, 5), (99, 5), (98, 5)] {
            v.on_market(&level(Side::Buy, p, q));
        }
        let mut out = Vec::new();
        let e = v.on_order(&order(Side::Sell, 12, 99), 7, |m| out.push(m));
        assert_eq!(e.filled_qty, 10);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].body, [-5, 100, 0]);
        assert_eq!(out[1].body, [-5, 99, 0]);
        assert_eq!(out[2].kind(), Some(MsgKind::OrderAck));
        assert_eq!(AckStatus::from_u8(out[2].aux), Some(AckStatus::Partial));
        assert_eq!(out[2].body[1], 10);
        assert_eq!(out[2].body[2], 99); // 99.5 rounded down for a sell
        assert_eq!(v.top(0), (Some(98), None));
    }

    #[test]
    fn buy_fills_completely_and_rounds_average_up() {
        let mut v = Venue::new(1);
        v.on_market(&level(Side::Sell, 10, 1));
        v.on_market(&level(Side::Sell, 11, 2));
        let mut out = Vec::new();
        v.on_order(&order(Side::Buy, 3, 20), 0, |m| out.push(m));
        let ack = out.last().unwrap();
        assert_eq!(AckStatus::from_u8(ack.aux), Some(AckStatus::Filled));
        assert_eq!(ack.body[2], 11); // 32/3 = 10.67 → 11
    }

    #[test]
    fn nothing_at_the_limit_is_cancelled_and_bad_orders_rejected() {
        let mut v = Venue::new(1);
        v.on_market(&level(Side::Buy, 50, 1));
        let mut out = Vec::new();
        v.on_order(&order(Side::Sell, 1, 60), 0, |m| out.push(m));
        assert_eq!(AckStatus::from_u8(out[0].aux), Some(AckStatus::Cancelled));
        out.clear();
        let mut bad = order(Side::Sell, 1, 40);
        bad.flags = 0;
        v.on_order(&bad, 0, |m| out.push(m));
        assert_eq!(AckStatus::from_u8(out[0].aux), Some(AckStatus::Rejected));
        out.clear();
        bad = order(Side::Sell, 1, 40);
        bad.instrument = 5;
        v.on_order(&bad, 0, |m| out.push(m));
        assert_eq!(AckStatus::from_u8(out[0].aux), Some(AckStatus::Rejected));
    }

    #[test]
    fn runs_over_real_rings_until_both_inputs_close() {
        use crate::ring::broadcast::BroadcastWriter;
        let dir = tempfile::tempdir().unwrap();
        let (md_p, ord_p, acct_p) = (
            dir.path().join("md"),
            dir.path().join("orders"),
            dir.path().join("acct"),
        );
        // Everything is written and closed before the venue starts; the order (triggered at
        // md seq 1) is answered against the book as of that record.
        let mut md = BroadcastWriter::<Msg>::create(&md_p, 64).unwrap();
        let mut orders = SpscProducer::<Order>::create(&ord_p, 64).unwrap();
        md.publish(level(Side::Buy, 100, 5));
        md.close();
        orders.try_push(order(Side::Sell, 3, 90)).unwrap();
        orders.close();
        let stop = AtomicBool::new(false);
        let rings = VenueRings {
            market: &md_p,
            orders: &ord_p,
            account_events: &acct_p,
        };
        let stats = run(rings, 1, 1_000_000_000, &stop).unwrap();
        assert_eq!((stats.orders, stats.fills, stats.market_records), (1, 1, 1));
        let mut acct = SpscConsumer::<Msg>::attach(&acct_p).unwrap();
        let fill = acct.try_pop().unwrap();
        assert_eq!((fill.seq, fill.kind()), (1, Some(MsgKind::Fill)));
        assert_eq!(fill.body, [-3, 100, 0]);
        let ack = acct.try_pop().unwrap();
        assert_eq!(
            (ack.seq, AckStatus::from_u8(ack.aux)),
            (2, Some(AckStatus::Filled))
        );
        assert!(acct.try_pop().is_none());
        assert!(acct.is_closed());
    }

    #[test]
    fn answers_as_of_the_trigger_whatever_was_read_after_it() {
        let mut b = AsOfBook::new(1);
        let mut first = level(Side::Buy, 100, 5);
        first.exch_ts = 42;
        b.push_market(1, first);
        // Read later, the next step's book: the bid has moved down to 90.
        b.push_market(2, level(Side::Buy, 100, 0));
        b.push_market(3, level(Side::Buy, 90, 5));
        let mut out = Vec::new();
        let mut o = order(Side::Sell, 2, 95);
        o.trigger_seq = 1;
        o.trigger_publish_ts = 1_000;
        b.on_order(&o, || 7_000, |m| out.push(m));
        assert_eq!(
            out[0].body,
            [-2, 100, 0],
            "filled against the book as of seq 1"
        );
        assert_eq!((out[0].exch_ts, out[0].publish_ts), (42, 7_000));
        assert_eq!((out[0].seq, out[1].seq), (1, 2));
        assert_eq!(b.venue().top(0), (Some(100), None));
        // A re-decision on the ack (seq 2, its publish time): the books stay as of seq 1.
        let mut again = order(Side::Sell, 3, 95);
        again.trigger_seq = 2;
        again.trigger_publish_ts = 7_000;
        assert_eq!(b.market_trigger(&again), None);
        out.clear();
        b.on_order(&again, || 8_000, |m| out.push(m));
        assert_eq!(out[0].body, [-3, 100, 0]);
        // Seq 3 with another publish time is a market-data trigger: the bid at 100 is gone.
        let mut later = order(Side::Sell, 1, 95);
        later.trigger_seq = 3;
        later.trigger_publish_ts = 2_000;
        assert_eq!(b.market_trigger(&later), Some(3));
        out.clear();
        b.on_order(&later, || 9_000, |m| out.push(m));
        assert_eq!(AckStatus::from_u8(out[0].aux), Some(AckStatus::Cancelled));
        b.flush();
        assert_eq!(b.venue().top(0), (Some(90), None));
    }

    #[test]
    fn snapshot_begin_clears_the_book() {
        let mut v = Venue::new(1);
        v.on_market(&level(Side::Buy, 50, 1));
        v.on_market(&Msg::market(MsgKind::SnapshotBegin, 0, 0, 0));
        assert_eq!(v.top(0), (None, None));
        v.on_market(&level(Side::Sell, 51, 1));
        v.on_market(&level(Side::Sell, 51, 0));
        assert_eq!(v.top(0), (None, None));
    }
}
