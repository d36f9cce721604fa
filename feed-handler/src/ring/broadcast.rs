//! The broadcast ring (market data): one writer that **never waits**, any number of readers, each
//! of which detects being lapped and reports the exact gap instead of returning bad data.
//!
//! # Protocol (a seqlock per slot)
//! Message `s` (1-based) goes to slot `(s − 1) & (capacity − 1)`; a slot is a sequence word
//! followed by the message ([`super::layout`]).
//!
//! Writer, for message `s`:
//! 1. store `s | BUSY` into the slot's sequence word (Relaxed), then a **Release fence**;
//! 2. store the message words (Relaxed);
//! 3. store `s` into the sequence word (**Release**), then `s` into the write cursor (Release).
//!
//! Reader, expecting message `r`:
//! 1. load the sequence word (**Acquire**): `r` means complete; anything below `r` (or `r | BUSY`)
//!    means not yet written ([`ReadOutcome::Empty`], or [`ReadOutcome::Closed`] after end of
//!    stream); anything above `r` means the writer has lapped us;
//! 2. copy the message out (Relaxed word loads) into a local value — before acting on step 1, so
//!    the loads of the slot's second cache line overlap the miss on the first; a copy is only
//!    ever returned after the check in step 3;
//! 3. if step 1 saw `r`: an **Acquire fence**, then re-load the sequence word: if it is still `r`, no store of a
//!    later message reached any word we copied (if one had, the writer's Release fence in its
//!    step 1 synchronises with our Acquire fence, so we would see its `BUSY` marker or later), and
//!    the copy is returned. Otherwise the slot was overwritten while we copied: a torn read,
//!    reported as a lap, never returned.
//!
//! On a lap the reader skips to `resumed_at = max(w + 2 − capacity, r + 1)`, where `w` is the
//! write cursor (slots `w + 2 − capacity ..= w` are intact unless the writer is already past `w`),
//! and reports [`ReadOutcome::Lapped`] `{ expected: r, resumed_at }`: messages `r .. resumed_at`
//! were not delivered, exactly. A reader that is lapped again reports the next gap the same way,
//! so the reports always add up to exactly the messages skipped.
//!
//! # Readers are visible from outside
//! A reader registers in one of the header's reader slots (pid, messages read, messages lost), so
//! `hotrisk-tools inspect` ([`super::RingInfo`]) can show each reader's lag. The writer ignores
//! them (it never waits); [`BroadcastWriter::min_reader_position`] lets a *test* or tool throttle
//! a writer if it chooses to.
//!
//! `publish` and `try_read` never block, allocate or make system calls.

#[cfg(not(loom))]
use std::path::Path;

use bytemuck::Pod;

use super::idle::IdleStrategy;
use super::layout::{self, RingKind, BUSY};
use super::sync::{fence, Ordering};
use super::{RingError, Shared, CLAIMING};

/// The result of one poll of a [`BroadcastReader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOutcome<T> {
    /// The next message, validated.
    Item(T),
    /// Nothing new yet.
    Empty,
    /// The writer overwrote messages `expected .. resumed_at` before we read them; the reader
    /// now continues at `resumed_at`.
    Lapped {
        /// The sequence the reader was waiting for (the first one lost).
        expected: u64,
        /// The sequence the reader resumes at (the first one not lost).
        resumed_at: u64,
    },
    /// The writer closed the ring and every message up to its last has been read (or skipped).
    Closed,
}

/// The single writer of a broadcast ring.
#[derive(Debug)]
pub struct BroadcastWriter<T: Pod> {
    shared: Shared<T>,
    /// Sequence of the next message to publish (1-based).
    next: u64,
}

/// One reader of a broadcast ring; each reader has its own position.
#[derive(Debug)]
pub struct BroadcastReader<T: Pod> {
    shared: Shared<T>,
    /// Sequence of the next message to read (1-based).
    next: u64,
    /// Our reader slot in the header.
    slot: usize,
    /// Messages lost to lapping since attach.
    lost: u64,
}

/// An in-process broadcast ring over heap memory (same code as the shm ring) and a first reader;
/// more readers with [`BroadcastWriter::subscribe`].
pub fn channel<T: Pod>(
    capacity: usize,
) -> Result<(BroadcastWriter<T>, BroadcastReader<T>), RingError> {
    let shared = Shared::<T>::heap(RingKind::Broadcast, capacity)?;
    let reader = BroadcastReader::from_shared(shared.clone(), None)?;
    Ok((BroadcastWriter { shared, next: 1 }, reader))
}

impl<T: Pod> BroadcastWriter<T> {
    /// Creates the ring file at `path` (replacing any file there) with `capacity` slots (a power
    /// of two >= 2) and becomes its writer.
    #[cfg(not(loom))]
    pub fn create(path: &Path, capacity: usize) -> Result<Self, RingError> {
        Ok(Self {
            shared: Shared::create_file(path, RingKind::Broadcast, capacity)?,
            next: 1,
        })
    }

    /// Publishes `v` as the next message and returns its sequence. Never waits: a slot a slow
    /// reader has not read yet is overwritten (that reader will report the gap).
    #[inline]
    pub fn publish(&mut self, v: T) -> u64 {
        let s = self.next;
        let base = self.shared.geometry.slot_w(s);
        let words = self.shared.region.words();
        words[base].store(s | BUSY, Ordering::Relaxed);
        // Release fence: a reader that sees any of the message stores below and then issues its
        // Acquire fence will see the BUSY marker (or later) when it re-checks the sequence word.
        fence(Ordering::Release);
        Shared::store_msg(&words[base + 1..], &v);
        // Release: a reader that Acquire-loads `s` sees the whole message.
        words[base].store(s, Ordering::Release);
        self.shared
            .word(layout::WRITE_CURSOR_W)
            .store(s, Ordering::Release);
        self.next = s + 1;
        s
    }

    /// Refreshes the producer heartbeat (`CLOCK_MONOTONIC` now) in the header.
    #[inline]
    pub fn heartbeat(&self) {
        self.shared.heartbeat();
    }

    /// Marks end of stream: readers get [`ReadOutcome::Closed`] after the last message.
    pub fn close(&self) {
        self.shared.close();
    }

    /// Messages published so far (= the sequence of the last one).
    pub fn published(&self) -> u64 {
        self.next - 1
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> usize {
        self.shared.geometry.capacity
    }

    /// The ring file (or a placeholder for heap rings).
    pub fn path(&self) -> &std::path::Path {
        &self.shared.path
    }

    /// A new reader on the same ring, starting at the next message published.
    pub fn subscribe(&self) -> Result<BroadcastReader<T>, RingError> {
        BroadcastReader::from_shared(self.shared.clone(), None)
    }

    /// The smallest "messages read" among registered readers, `None` if there are none.
    ///
    /// The writer never waits on readers; this exists for tests and tools that want to throttle a
    /// writer so it cannot lap a reader (`published() − min < capacity` leaves the reader's next
    /// slot intact).
    pub fn min_reader_position(&self) -> Option<u64> {
        (0..layout::READER_SLOTS)
            .filter_map(|i| {
                let base = layout::reader_w(i);
                let pid = self
                    .shared
                    .word(base + layout::READER_PID)
                    .load(Ordering::Acquire);
                // Acquire: pairs with the reader's Release store of its position, so its copies
                // out of slots up to that position are done before we overwrite them.
                (pid != 0 && pid != CLAIMING).then(|| {
                    self.shared
                        .word(base + layout::READER_POS)
                        .load(Ordering::Acquire)
                })
            })
            .min()
    }
}

impl<T: Pod> Drop for BroadcastWriter<T> {
    /// Closes the ring: a writer that goes away ends the stream.
    fn drop(&mut self) {
        self.shared.close();
    }
}

impl<T: Pod> BroadcastReader<T> {
    /// Attaches to the ring file at `path` (validating its header against `T`) and registers a
    /// reader slot; reading starts at the next message published.
    #[cfg(not(loom))]
    pub fn attach(path: &Path) -> Result<Self, RingError> {
        Self::from_shared(Shared::attach_file(path, RingKind::Broadcast)?, None)
    }

    /// As [`attach`](Self::attach), resuming at sequence `next_seq` (1-based). If that message
    /// was already overwritten, the first read reports the gap as [`ReadOutcome::Lapped`].
    #[cfg(not(loom))]
    pub fn attach_at(path: &Path, next_seq: u64) -> Result<Self, RingError> {
        Self::from_shared(
            Shared::attach_file(path, RingKind::Broadcast)?,
            Some(next_seq),
        )
    }

    fn from_shared(shared: Shared<T>, next_seq: Option<u64>) -> Result<Self, RingError> {
        let next = next_seq.unwrap_or_else(|| {
            shared
                .word(layout::WRITE_CURSOR_W)
                .load(Ordering::Acquire)
                .wrapping_add(1)
        });
        let next = next.max(1);
        let slot = shared
            .claim_reader_slot(0..layout::READER_SLOTS, next - 1)
            .ok_or_else(|| RingError::ReaderSlotsFull {
                path: shared.path.clone(),
            })?;
        Ok(Self {
            shared,
            next,
            slot,
            lost: 0,
        })
    }

    /// Polls for the next message. Never blocks.
    #[inline]
    pub fn try_read(&mut self) -> ReadOutcome<T> {
        self.read_with(|| {})
    }

    /// Polls until the outcome is not [`ReadOutcome::Empty`], idling with `idle` in between.
    #[inline]
    pub fn read_spin(&mut self, idle: &mut impl IdleStrategy) -> ReadOutcome<T> {
        loop {
            match self.try_read() {
                ReadOutcome::Empty => idle.idle(),
                other => {
                    idle.reset();
                    return other;
                }
            }
        }
    }

    /// `try_read` with a hook run between copying the slot and re-checking its sequence word
    /// (tests use it to overwrite the slot at exactly that point).
    #[inline(always)]
    fn read_with(&mut self, between_copy_and_check: impl FnOnce()) -> ReadOutcome<T> {
        let r = self.next;
        let base = self.shared.geometry.slot_w(r);
        let words = self.shared.region.words();
        // Acquire: if this is `r`, the writer's message stores for `r` are visible.
        let s1 = words[base].load(Ordering::Acquire);
        // Copy out first, validate after: never a reference into the slot. The copy is made
        // before testing `s1` so that its loads (the slot's second cache line) overlap the miss
        // on the sequence word instead of following it; it is discarded unless validated.
        let v = Shared::load_msg(&words[base + 1..]);
        if s1 == r {
            between_copy_and_check();
            fence(Ordering::Acquire);
            if words[base].load(Ordering::Relaxed) == r {
                self.advance(r + 1);
                return ReadOutcome::Item(v);
            }
            return self.lapped(r);
        }
        if s1 & !BUSY > r {
            return self.lapped(r);
        }
        // Not written yet (an older sequence, 0, or `r | BUSY` mid-write).
        if self.shared.closed_flag()
            && self
                .shared
                .word(layout::WRITE_CURSOR_W)
                .load(Ordering::Acquire)
                < r
        {
            return ReadOutcome::Closed;
        }
        ReadOutcome::Empty
    }

    #[cold]
    fn lapped(&mut self, r: u64) -> ReadOutcome<T> {
        let w = self
            .shared
            .word(layout::WRITE_CURSOR_W)
            .load(Ordering::Acquire);
        let capacity = self.shared.geometry.capacity as u64;
        let resumed_at = w.saturating_add(2).saturating_sub(capacity).max(r + 1);
        self.lost += resumed_at - r;
        self.shared
            .word(layout::reader_w(self.slot) + layout::READER_LOST)
            .store(self.lost, Ordering::Relaxed);
        self.advance(resumed_at);
        ReadOutcome::Lapped {
            expected: r,
            resumed_at,
        }
    }

    #[inline(always)]
    fn advance(&mut self, next: u64) {
        self.next = next;
        // Release: our copies out of slots before `next` are done before a writer that
        // Acquire-loads this position (see `min_reader_position`) reuses them.
        self.shared
            .word(layout::reader_w(self.slot) + layout::READER_POS)
            .store(next - 1, Ordering::Release);
    }

    /// Sequence of the next message this reader will read (1-based).
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// Messages published but not yet read by this reader.
    pub fn lag(&self) -> u64 {
        self.shared
            .word(layout::WRITE_CURSOR_W)
            .load(Ordering::Acquire)
            .saturating_sub(self.next - 1)
    }

    /// Messages lost to lapping since attach.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Our reader slot index in the header.
    pub fn reader_slot(&self) -> usize {
        self.slot
    }

    /// Whether the writer has closed the ring (messages may remain to read).
    pub fn producer_closed(&self) -> bool {
        self.shared.closed_flag()
    }

    /// Nanoseconds since the writer's last heartbeat (`CLOCK_MONOTONIC`).
    pub fn producer_heartbeat_age_ns(&self) -> i64 {
        self.shared.heartbeat_age_ns()
    }

    /// Whether the writer's heartbeat is at most `max_age_ns` old.
    pub fn producer_alive(&self, max_age_ns: i64) -> bool {
        self.producer_heartbeat_age_ns() <= max_age_ns
    }

    /// The writer's process id, from the header.
    pub fn producer_pid(&self) -> u64 {
        self.shared.producer_pid()
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> usize {
        self.shared.geometry.capacity
    }
}

impl<T: Pod> Drop for BroadcastReader<T> {
    /// Frees the reader slot.
    fn drop(&mut self) {
        self.shared.release_reader_slot(self.slot);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::ring::idle::BusySpin;

    #[test]
    fn readers_see_every_message_in_order() {
        let (mut w, mut r1) = channel::<[u64; 8]>(8).unwrap();
        let mut r2 = w.subscribe().unwrap();
        assert_eq!(r1.try_read(), ReadOutcome::Empty);
        for s in 1..=5u64 {
            assert_eq!(w.publish([s; 8]), s);
        }
        for r in [&mut r1, &mut r2] {
            for s in 1..=5u64 {
                assert_eq!(r.try_read(), ReadOutcome::Item([s; 8]));
            }
            assert_eq!(r.try_read(), ReadOutcome::Empty);
            assert_eq!(r.lag(), 0);
        }
        assert_eq!(w.min_reader_position(), Some(5));
        let r3 = w.subscribe().unwrap();
        assert_eq!(r3.next_seq(), 6, "a new reader starts at the next message");
    }

    #[test]
    fn lapping_reports_the_exact_gap() {
        let (mut w, mut r) = channel::<u64>(4).unwrap();
        for s in 1..=10u64 {
            w.publish(s * 100);
        }
        // Slots hold 7..=10; with the writer possibly writing 11, 8..=10 are the safe ones.
        assert_eq!(
            r.try_read(),
            ReadOutcome::Lapped {
                expected: 1,
                resumed_at: 8
            }
        );
        assert_eq!(r.lost(), 7);
        for s in 8..=10u64 {
            assert_eq!(r.try_read(), ReadOutcome::Item(s * 100));
        }
        assert_eq!(r.try_read(), ReadOutcome::Empty);
    }

    #[test]
    fn torn_slot_is_detected_not_returned() {
        let (mut w, mut r) = channel::<u64>(4).unwrap();
        w.publish(1);
        // While the reader copies message 1, the writer laps it: messages 2..=5, and 5 reuses
        // message 1's slot.
        let outcome = r.read_with(|| {
            for s in 2..=5 {
                w.publish(s);
            }
        });
        assert_eq!(
            outcome,
            ReadOutcome::Lapped {
                expected: 1,
                resumed_at: 3
            }
        );
        for s in 3..=5 {
            assert_eq!(r.try_read(), ReadOutcome::Item(s));
        }
    }

    #[test]
    fn slot_being_written_reads_as_empty() {
        let (mut w, mut r) = channel::<u64>(4).unwrap();
        w.publish(1);
        let slot2 = w.shared.geometry.slot_w(2);
        // Simulate the writer stopped between its BUSY marker and its final store.
        w.shared.region.words()[slot2].store(2 | BUSY, Ordering::Relaxed);
        assert_eq!(r.try_read(), ReadOutcome::Item(1));
        assert_eq!(r.try_read(), ReadOutcome::Empty);
        w.shared.region.words()[slot2].store(0, Ordering::Relaxed);
        w.publish(2);
        assert_eq!(r.try_read(), ReadOutcome::Item(2));
    }

    #[test]
    fn closed_after_the_last_message() {
        let (mut w, mut r) = channel::<u64>(4).unwrap();
        w.publish(1);
        drop(w);
        assert!(r.producer_closed());
        assert_eq!(r.read_spin(&mut BusySpin), ReadOutcome::Item(1));
        assert_eq!(r.try_read(), ReadOutcome::Closed);
    }

    #[test]
    fn reader_slots_are_limited_and_released() {
        let (w, r) = channel::<u64>(4).unwrap();
        let mut more: Vec<_> = (1..layout::READER_SLOTS)
            .map(|_| w.subscribe().unwrap())
            .collect();
        assert!(matches!(
            w.subscribe(),
            Err(RingError::ReaderSlotsFull { .. })
        ));
        more.pop();
        drop(r);
        assert!(w.subscribe().is_ok());
    }

    #[test]
    fn threads_never_see_torn_data() {
        let n = if cfg!(miri) { 300 } else { 300_000 };
        let (mut w, mut r) = channel::<[u64; 8]>(8).unwrap();
        let t = std::thread::spawn(move || {
            for s in 1..=n {
                w.publish([s; 8]);
            }
        });
        let (mut items, mut lost, mut expect) = (0u64, 0u64, 1u64);
        let mut idle = crate::ring::idle::SpinThenYield::new(100);
        loop {
            match r.read_spin(&mut idle) {
                ReadOutcome::Item(v) => {
                    assert_eq!(v, [expect; 8], "a torn or stale message was returned");
                    items += 1;
                    expect += 1;
                }
                ReadOutcome::Lapped {
                    expected,
                    resumed_at,
                } => {
                    assert_eq!(expected, expect);
                    assert!(resumed_at > expected);
                    lost += resumed_at - expected;
                    expect = resumed_at;
                }
                ReadOutcome::Closed => break,
                ReadOutcome::Empty => unreachable!(),
            }
        }
        t.join().unwrap();
        assert_eq!(items + lost, n, "items + gaps account for every message");
        assert_eq!(r.lost(), lost);
    }
}
