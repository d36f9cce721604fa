//! The lossless single-producer / single-consumer ring (account events, liquidation orders).
//!
//! # Protocol
//! Two cursors, each on its own 128-byte line ([`super::layout`]): the *write cursor* (messages
//! pushed, owned by the producer) and the *read cursor* (messages popped, owned by the consumer).
//! Message `n` (1-based) lives in slot `(n − 1) & (capacity − 1)`.
//!
//! - push: if `write − read == capacity` the ring is full and the value is handed back (the
//!   producer never overwrites). Otherwise the producer copies the message into the slot (Relaxed
//!   word stores) and then stores `write + 1` with **Release**.
//! - pop: if `read == write` the ring is empty. Otherwise the consumer copies the message out
//!   (Relaxed word loads) after loading `write` with **Acquire** (which makes the slot's words
//!   visible), then stores `read + 1` with **Release** (which orders its loads of the slot before
//!   the producer's next reuse of it, which the producer observes with an **Acquire** load).
//!
//! Each side caches the other's cursor (as rtrb does) and reloads it only when the cached value
//! says full / empty, so in steady state each side touches the other's line once per batch, not
//! once per message.
//!
//! Nothing is ever dropped: back-pressure is the producer waiting ([`SpscProducer::push_spin`])
//! with an [`IdleStrategy`]. `try_push` and `try_pop` never block, allocate or make system calls.
//!
//! # Lifecycle
//! [`SpscProducer::create`] creates (or replaces) the ring file; [`SpscConsumer::attach`]
//! validates it and registers the consumer's pid in reader slot 0 (a second live consumer is
//! refused). The consumer resumes from the read cursor stored in the file. The producer
//! [`close`](SpscProducer::close)s the ring when done (also on drop); [`SpscConsumer::is_closed`]
//! turns true once everything published has been popped. A producer that dies without closing is
//! detected with [`SpscConsumer::producer_alive`] from its heartbeat, which the producer refreshes
//! with [`SpscProducer::heartbeat`] (e.g. every millisecond of its loop, or on every idle poll).

#[cfg(not(loom))]
use std::path::Path;

use bytemuck::Pod;

use super::idle::IdleStrategy;
use super::layout::{self, RingKind};
use super::sync::Ordering;
use super::{RingError, Shared};

/// The producing side of an SPSC ring. `Send`, not `Clone`: there is exactly one.
#[derive(Debug)]
pub struct SpscProducer<T: Pod> {
    shared: Shared<T>,
    /// Messages pushed (our copy of the write cursor).
    write: u64,
    /// Last read cursor seen.
    cached_read: u64,
    capacity: u64,
}

/// The consuming side of an SPSC ring. `Send`, not `Clone`: there is exactly one.
#[derive(Debug)]
pub struct SpscConsumer<T: Pod> {
    shared: Shared<T>,
    /// Messages popped (our copy of the read cursor).
    read: u64,
    /// Last write cursor seen.
    cached_write: u64,
    registered: bool,
}

/// An in-process SPSC queue over heap memory: the same ring code as the shared-memory rings.
///
/// Allocates the ring once, here; pushes and pops never allocate.
pub fn channel<T: Pod>(capacity: usize) -> Result<(SpscProducer<T>, SpscConsumer<T>), RingError> {
    let shared = Shared::<T>::heap(RingKind::Spsc, capacity)?;
    let consumer = SpscConsumer::from_shared(shared.clone())?;
    Ok((SpscProducer::from_shared(shared), consumer))
}

impl<T: Pod> SpscProducer<T> {
    /// Creates the ring file at `path` (replacing any file there) with `capacity` slots (a power
    /// of two >= 2), and becomes its producer.
    #[cfg(not(loom))]
    pub fn create(path: &Path, capacity: usize) -> Result<Self, RingError> {
        Ok(Self::from_shared(Shared::create_file(
            path,
            RingKind::Spsc,
            capacity,
        )?))
    }

    fn from_shared(shared: Shared<T>) -> Self {
        let write = shared.word(layout::WRITE_CURSOR_W).load(Ordering::Acquire);
        let cached_read = shared.word(layout::READ_CURSOR_W).load(Ordering::Acquire);
        let capacity = shared.geometry.capacity as u64;
        Self {
            shared,
            write,
            cached_read,
            capacity,
        }
    }

    /// Pushes `v`, or hands it back if the ring is full. Never blocks.
    #[inline]
    pub fn try_push(&mut self, v: T) -> Result<(), T> {
        let write = self.write;
        if write.wrapping_sub(self.cached_read) >= self.capacity {
            // Acquire: the consumer's loads from the slot we are about to reuse happened before
            // its Release store of this read cursor.
            self.cached_read = self
                .shared
                .word(layout::READ_CURSOR_W)
                .load(Ordering::Acquire);
            // A corrupt read cursor (ahead of `write`) wraps to a huge distance: "full", never
            // an overwrite of unread data.
            if write.wrapping_sub(self.cached_read) >= self.capacity {
                return Err(v);
            }
        }
        let base = self.shared.geometry.slot_w(write + 1);
        Shared::store_msg(&self.shared.region.words()[base..], &v);
        self.write = write + 1;
        // Release: the slot's words are visible to whoever Acquire-loads this cursor value.
        self.shared
            .word(layout::WRITE_CURSOR_W)
            .store(self.write, Ordering::Release);
        Ok(())
    }

    /// Pushes `v`, waiting with `idle` while the ring is full (back-pressure: never drops).
    ///
    /// Returns only once pushed. If the consumer has died this waits forever; producers that
    /// must notice should loop over [`try_push`](Self::try_push) and check their consumer.
    #[inline]
    pub fn push_spin(&mut self, mut v: T, idle: &mut impl IdleStrategy) {
        loop {
            match self.try_push(v) {
                Ok(()) => {
                    idle.reset();
                    return;
                }
                Err(back) => {
                    v = back;
                    idle.idle();
                }
            }
        }
    }

    /// Refreshes the producer heartbeat (`CLOCK_MONOTONIC` now) in the header.
    #[inline]
    pub fn heartbeat(&self) {
        self.shared.heartbeat();
    }

    /// Marks end of stream: the consumer sees [`SpscConsumer::is_closed`] once drained.
    pub fn close(&self) {
        self.shared.close();
    }

    /// Messages pushed so far.
    pub fn pushed(&self) -> u64 {
        self.write
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> usize {
        self.shared.geometry.capacity
    }

    /// Messages pushed but not yet popped (reads the consumer's cursor).
    pub fn backlog(&self) -> u64 {
        self.write.wrapping_sub(
            self.shared
                .word(layout::READ_CURSOR_W)
                .load(Ordering::Acquire),
        )
    }

    /// The ring file (or a placeholder for heap rings).
    pub fn path(&self) -> &std::path::Path {
        &self.shared.path
    }
}

impl<T: Pod> Drop for SpscProducer<T> {
    /// Closes the ring: a producer that goes away ends the stream.
    fn drop(&mut self) {
        self.shared.close();
    }
}

impl<T: Pod> SpscConsumer<T> {
    /// Attaches to the ring file at `path`, validating its header against `T`, and registers as
    /// its consumer (fails if another live process already is).
    #[cfg(not(loom))]
    pub fn attach(path: &Path) -> Result<Self, RingError> {
        Self::from_shared(Shared::attach_file(path, RingKind::Spsc)?)
    }

    fn from_shared(shared: Shared<T>) -> Result<Self, RingError> {
        let read = shared.word(layout::READ_CURSOR_W).load(Ordering::Acquire);
        if shared.claim_reader_slot(0..1, read).is_none() {
            let pid = shared
                .word(layout::reader_w(0) + layout::READER_PID)
                .load(Ordering::Relaxed);
            return Err(RingError::ConsumerAttached {
                path: shared.path.clone(),
                pid,
            });
        }
        Ok(Self {
            shared,
            read,
            cached_write: read,
            registered: true,
        })
    }

    /// Pops the next message, or `None` if the ring is empty. Never blocks.
    #[inline]
    pub fn try_pop(&mut self) -> Option<T> {
        let read = self.read;
        let base = self.shared.geometry.slot_w(read + 1);
        let v = if read == self.cached_write {
            // Acquire: the producer's stores into the slots before this cursor are visible.
            let write = self
                .shared
                .word(layout::WRITE_CURSOR_W)
                .load(Ordering::Acquire);
            // Copy the slot in the same poll, before testing `write`: these loads come after the
            // Acquire load (so they see the message if `write` says it is there) but do not
            // depend on its value, so the CPU overlaps the two cache misses (cursor line, slot
            // line) instead of taking them one after the other. A copy made while the ring was
            // still empty is simply discarded.
            let v = Shared::load_msg(&self.shared.region.words()[base..]);
            self.cached_write = write;
            if read == write {
                return None;
            }
            v
        } else {
            Shared::load_msg(&self.shared.region.words()[base..])
        };
        self.read = read + 1;
        // Release: our loads of the slot happen before the producer may reuse it.
        self.shared
            .word(layout::READ_CURSOR_W)
            .store(self.read, Ordering::Release);
        Some(v)
    }

    /// Pops the next message, waiting with `idle` while the ring is empty; `None` once the ring
    /// is closed and drained. Waits forever on a dead producer that never closed: check
    /// [`producer_alive`](Self::producer_alive) in loops that must notice.
    #[inline]
    pub fn pop_spin(&mut self, idle: &mut impl IdleStrategy) -> Option<T> {
        loop {
            if let Some(v) = self.try_pop() {
                idle.reset();
                return Some(v);
            }
            if self.is_closed() {
                return None;
            }
            idle.idle();
        }
    }

    /// True once the producer has closed the ring **and** every message has been popped.
    pub fn is_closed(&self) -> bool {
        // The closed flag is stored after the last cursor update; Acquire on it makes that
        // final cursor visible to the load below.
        self.shared.closed_flag()
            && self
                .shared
                .word(layout::WRITE_CURSOR_W)
                .load(Ordering::Acquire)
                == self.read
    }

    /// Whether the producer has closed the ring (there may still be messages to pop).
    pub fn producer_closed(&self) -> bool {
        self.shared.closed_flag()
    }

    /// Nanoseconds since the producer's last heartbeat (`CLOCK_MONOTONIC`).
    pub fn producer_heartbeat_age_ns(&self) -> i64 {
        self.shared.heartbeat_age_ns()
    }

    /// Whether the producer's heartbeat is at most `max_age_ns` old.
    pub fn producer_alive(&self, max_age_ns: i64) -> bool {
        self.producer_heartbeat_age_ns() <= max_age_ns
    }

    /// The producer's process id, from the header.
    pub fn producer_pid(&self) -> u64 {
        self.shared.producer_pid()
    }

    /// Messages popped so far (the read cursor).
    pub fn popped(&self) -> u64 {
        self.read
    }

    /// Messages published but not yet popped.
    pub fn backlog(&self) -> u64 {
        self.shared
            .word(layout::WRITE_CURSOR_W)
            .load(Ordering::Acquire)
            .wrapping_sub(self.read)
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> usize {
        self.shared.geometry.capacity
    }

    /// The ring file (or a placeholder for heap rings).
    pub fn path(&self) -> &std::path::Path {
        &self.shared.path
    }
}

impl<T: Pod> Drop for SpscConsumer<T> {
    /// Frees reader slot 0 so another consumer may attach (and resume from the read cursor).
    fn drop(&mut self) {
        if self.registered {
            self.shared.release_reader_slot(0);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::ring::idle::SpinThenYield;

    #[test]
    fn fifo_full_and_empty() {
        let (mut tx, mut rx) = channel::<u64>(4).unwrap();
        assert_eq!(rx.try_pop(), None);
        for i in 1..=4 {
            tx.try_push(i).unwrap();
        }
        assert_eq!(tx.try_push(5), Err(5), "full ring hands the value back");
        assert_eq!(tx.backlog(), 4);
        assert_eq!(rx.try_pop(), Some(1));
        tx.try_push(5).unwrap();
        for i in 2..=5 {
            assert_eq!(rx.try_pop(), Some(i));
        }
        assert_eq!(rx.try_pop(), None);
        assert_eq!(rx.popped(), 5);
        assert_eq!(tx.pushed(), 5);
    }

    #[test]
    fn wraps_many_times_with_64_byte_messages() {
        let (mut tx, mut rx) = channel::<crate::Msg>(8).unwrap();
        let mut next = 1u64;
        let rounds = if cfg!(miri) { 40 } else { 1000u64 };
        for round in 0..rounds {
            for k in 0..5 {
                let mut m = crate::Msg::market(crate::MsgKind::Trade, 3, 0, 0);
                m.seq = round * 5 + k + 1;
                m.body = [m.seq as i64, -(m.seq as i64), 7];
                tx.try_push(m).unwrap();
            }
            while let Some(m) = rx.try_pop() {
                assert_eq!(m.seq, next);
                assert_eq!(m.body, [next as i64, -(next as i64), 7]);
                next += 1;
            }
        }
        assert_eq!(next, rounds * 5 + 1);
    }

    #[test]
    fn close_is_seen_only_after_drain() {
        let (mut tx, mut rx) = channel::<u64>(2).unwrap();
        tx.try_push(9).unwrap();
        tx.close();
        assert!(rx.producer_closed());
        assert!(!rx.is_closed(), "one message still unread");
        assert_eq!(rx.pop_spin(&mut SpinThenYield::default()), Some(9));
        assert!(rx.is_closed());
        assert_eq!(rx.pop_spin(&mut SpinThenYield::default()), None);
    }

    #[test]
    fn drop_closes_and_heartbeat_ages() {
        let (tx, rx) = channel::<u64>(2).unwrap();
        tx.heartbeat();
        assert!(rx.producer_alive(10_000_000_000));
        assert!(rx.producer_heartbeat_age_ns() >= 0);
        assert!(!rx.producer_alive(-1), "any age exceeds a negative bound");
        assert_eq!(rx.producer_pid(), u64::from(std::process::id()));
        drop(tx);
        assert!(rx.is_closed());
    }

    #[test]
    fn threads_transfer_in_order() {
        let n = if cfg!(miri) { 200 } else { 200_000 };
        let (mut tx, mut rx) = channel::<[u64; 8]>(16).unwrap();
        let t = std::thread::spawn(move || {
            let mut idle = SpinThenYield::new(50);
            for i in 1..=n {
                tx.push_spin([i; 8], &mut idle);
            }
        });
        let mut idle = SpinThenYield::new(50);
        let mut expect = 1;
        while let Some(v) = rx.pop_spin(&mut idle) {
            assert_eq!(v, [expect; 8]);
            expect += 1;
        }
        assert_eq!(expect, n + 1);
        t.join().unwrap();
    }

    #[test]
    fn bad_capacity_rejected() {
        assert!(matches!(
            channel::<u64>(3),
            Err(RingError::InvalidCapacity(3))
        ));
        assert!(matches!(
            channel::<u64>(1),
            Err(RingError::InvalidCapacity(1))
        ));
    }
}
