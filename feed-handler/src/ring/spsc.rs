//! The lossless single-producer / single-consumer ring (account events, liquidation orders).
//!
//! # Protocol
//! Message `s` (1-based) lives in slot `(s − 1) & (capacity − 1)`; a slot is a *sequence word*
//! followed by the message ([`super::layout`]). Two cursors, each on its own 128-byte line: the
//! *write cursor* (messages pushed, owned by the producer) and the *read cursor* (messages popped,
//! owned by the consumer).
//!
//! - push `s`: if `s − 1 − read == capacity` the ring is full and the value is handed back (the
//!   producer never overwrites). Otherwise the producer copies the message into the slot (Relaxed
//!   word stores), then stores `s` into the slot's sequence word with **Release** (the publication
//!   point), then `s` into the write cursor (Release; a count for tools, see below).
//! - pop `r`: the consumer loads the sequence word of slot `r` with **Acquire**. If it is not `r`
//!   (`r − capacity` from the previous lap, or 0) the ring is empty. If it is `r`, the consumer
//!   copies the message out (Relaxed word loads, after that load in program order), then stores
//!   `r` into the read cursor with **Release**.
//!
//! Why this is correct:
//! - *Visibility*: the consumer's Acquire load that reads `r` synchronises with the producer's
//!   Release store of `r`, so every word the producer stored into the slot before it happens
//!   before the consumer's copy, which therefore sees them (or later values, ruled out next).
//! - *No torn or overwritten reads*: the producer writes into the slot again only for message
//!   `r + capacity`, and only after an **Acquire** load of the read cursor returned `>= r`. That
//!   value was stored (Release) by the consumer after its copy of message `r`, so the copy happens
//!   before the overwrite and cannot observe it. The consumer never copies a slot whose word is
//!   not `r`.
//! - *Lossless, in order, no duplicates*: the consumer accepts exactly the sequence it expects,
//!   one at a time; the producer never reuses a slot whose message was not popped.
//!
//! Why this shape (latency): the consumer polls only the slot it will read next, never a cursor
//! the producer writes, so a message costs the slot's cache lines moving from producer to
//! consumer instead of a cursor line *then* the slot (version 1 of the layout did that: about
//! 2x the bare cache-line ping-pong). With 64-byte messages a slot spans two lines: the sequence
//! word and the first 56 bytes, then the last 8. The producer stores the second line first and
//! the sequence line last, back to back; the consumer, while the ring is empty, polls the
//! sequence word with a load and the second line with a *prefetch* hint, so both lines travel at
//! once. (Copying the whole slot on every poll — loads instead of the prefetch — measured ~10%
//! slower: a load that a producer store invalidates before it retires forces the polling core to
//! replay; a prefetch does not.) The producer reads the consumer's read cursor only when its
//! cached copy says full, so in steady state neither side touches a line the other writes except
//! the slots. The consumer stores its read cursor on every pop anyway: the line is its own (no
//! coherence traffic unless the producer is waiting on a full ring), and a consumer that restarts
//! resumes exactly after the last message it popped.
//!
//! The write cursor is not part of the hot path: [`SpscConsumer::is_closed`], `backlog` and
//! outside tools read it. It trails the slots by at most one message (it is stored just after the
//! sequence word), so counts computed from it saturate instead of wrapping, and
//! [`super::RingInfo::read`] corrects it from the next slot's sequence word.
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
        let s = write + 1;
        let base = self.shared.geometry.slot_w(s);
        let words = self.shared.region.words();
        Shared::store_msg(&words[base + 1..], &v);
        // Release: the publication point. A consumer that Acquire-loads `s` from the sequence
        // word sees every message word stored above.
        words[base].store(s, Ordering::Release);
        self.write = s;
        // Release: readers of the count (is_closed, backlog, tools) that see `s` also see the
        // slot. Stored after the sequence word, so it never counts an unpublished message.
        self.shared
            .word(layout::WRITE_CURSOR_W)
            .store(s, Ordering::Release);
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
            registered: true,
        })
    }

    /// Pops the next message, or `None` if the ring is empty. Never blocks.
    #[inline]
    pub fn try_pop(&mut self) -> Option<T> {
        let r = self.read + 1;
        let base = self.shared.geometry.slot_w(r);
        let words = self.shared.region.words();
        // Acquire: if this is `r`, the producer's stores of message `r` are visible below.
        let seq = words[base].load(Ordering::Acquire);
        if seq != r {
            // Empty (the word still holds `r − capacity`, or 0). While we poll the sequence
            // word's line, ask for the slot's other line too: when the producer has written it
            // (it stores that line first), the fetch overlaps the one of the sequence line
            // instead of following it. A hint, not a load: it cannot see or return anything.
            self.shared.prefetch_slot_tail(base);
            return None;
        }
        // These loads follow the Acquire load in program order: they see message `r`.
        let v = Shared::load_msg(&words[base + 1..]);
        self.read = r;
        // Release: our loads of the slot happen before the producer, which Acquire-loads this
        // cursor before reusing the slot, overwrites it.
        self.shared
            .word(layout::READ_CURSOR_W)
            .store(r, Ordering::Release);
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

    /// Messages published but not yet popped (from the write cursor, which may trail the slots
    /// by one message for an instant: never negative, may be one short).
    pub fn backlog(&self) -> u64 {
        self.shared
            .word(layout::WRITE_CURSOR_W)
            .load(Ordering::Acquire)
            .saturating_sub(self.read)
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
