//! Loom models of the ring cursor protocols (run by `.ci/loom`):
//! `RUSTFLAGS="--cfg loom" cargo test -p hotrisk-feed --test loom --release`.
//!
//! Each model runs the real ring code over a heap region whose words are loom atomics, with tiny
//! capacities so the writer wraps, and checks every interleaving loom explores (bounded by
//! `LOOM_MAX_PREEMPTIONS`, set by the script) for: SPSC — FIFO order, nothing lost or duplicated,
//! close seen only after the drain (it fails if the slot's sequence store is made Relaxed, or the
//! consumer's load of it; loom does not model load buffering, so it cannot catch a Relaxed
//! read-cursor store, whose Release orders the consumer's copy before the slot's reuse); broadcast — no torn or stale value is ever returned, and the
//! reported gaps plus the items add up to exactly the messages published.
#![cfg(loom)]

use hotrisk_feed::ring::broadcast::{self, ReadOutcome};
use hotrisk_feed::ring::spsc;

#[test]
fn spsc_fifo_lossless_with_wraparound() {
    loom::model(|| {
        let (mut tx, mut rx) = spsc::channel::<u64>(2).unwrap();
        let producer = loom::thread::spawn(move || {
            for v in 1..=3u64 {
                let mut v = v;
                loop {
                    match tx.try_push(v) {
                        Ok(()) => break,
                        Err(back) => {
                            v = back;
                            loom::thread::yield_now();
                        }
                    }
                }
            }
            tx.close();
        });
        let mut expect = 1u64;
        loop {
            match rx.try_pop() {
                Some(v) => {
                    assert_eq!(v, expect, "out of order or duplicated");
                    expect += 1;
                }
                None if rx.is_closed() => break,
                None => loom::thread::yield_now(),
            }
        }
        assert_eq!(expect, 4, "a message was lost");
        producer.join().unwrap();
    });
}

#[test]
fn broadcast_never_returns_torn_data_and_gaps_are_exact() {
    loom::model(|| {
        let (mut w, mut r) = broadcast::channel::<[u64; 2]>(2).unwrap();
        let writer = loom::thread::spawn(move || {
            for s in 1..=3u64 {
                w.publish([s, s * 10]);
            }
            w.close();
        });
        let (mut expect, mut items, mut lost) = (1u64, 0u64, 0u64);
        loop {
            match r.try_read() {
                ReadOutcome::Item(v) => {
                    assert_eq!(v, [expect, expect * 10], "torn or stale message returned");
                    expect += 1;
                    items += 1;
                }
                ReadOutcome::Lapped {
                    expected,
                    resumed_at,
                } => {
                    assert_eq!(expected, expect);
                    assert!(resumed_at > expected && resumed_at <= 4);
                    lost += resumed_at - expected;
                    expect = resumed_at;
                }
                ReadOutcome::Closed => break,
                ReadOutcome::Empty => loom::thread::yield_now(),
            }
        }
        assert_eq!(
            items + lost,
            3,
            "items and gaps must account for every message"
        );
        writer.join().unwrap();
    });
}
