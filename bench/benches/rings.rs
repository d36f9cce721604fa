//! Throughput of 64-byte messages through the rings and their peers (criterion).
//!
//! - `push_pop_64B`: one thread pushes then pops one message per iteration: the cost of the
//!   queue operations themselves, cache-hot, no contention. `baseline_harness` times only the
//!   loop and the `black_box`ed message, so the others can be read as "baseline + queue".
//! - `stream_64B_two_threads`: a producer streams `BATCH` messages per iteration to a consumer
//!   thread (cross-core transfer, the real use). `baseline_spawn_join` times only the thread
//!   start/join that every batch of that group pays.
//!
//! Run: `cargo bench -p hotrisk-bench --bench rings`. One-way latency percentiles are measured by
//! `hotrisk-bench transport`, not here.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hotrisk_feed::ring::broadcast::{self, BroadcastReader, BroadcastWriter, ReadOutcome};
use hotrisk_feed::ring::spsc::{self, SpscConsumer, SpscProducer};
use hotrisk_feed::{Msg, MsgKind};

const CAP: usize = 4096;
const BATCH: u64 = 10_000;

fn msg() -> Msg {
    Msg::market(MsgKind::Trade, 1, 0, 0)
}

fn shm(name: &str) -> PathBuf {
    PathBuf::from(format!(
        "/dev/shm/hotrisk-crit-{}-{name}",
        std::process::id()
    ))
}

fn push_pop(c: &mut Criterion) {
    let mut g = c.benchmark_group("push_pop_64B");
    g.throughput(Throughput::Elements(1));
    g.bench_function("baseline_harness", |b| {
        let mut m = msg();
        b.iter(|| {
            m.seq = m.seq.wrapping_add(1);
            black_box(black_box(m))
        })
    });
    g.bench_function("shm_spsc", |b| {
        let path = shm("pp-spsc");
        let mut tx = SpscProducer::<Msg>::create(&path, CAP).unwrap();
        let mut rx = SpscConsumer::<Msg>::attach(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let mut m = msg();
        b.iter(|| {
            m.seq = m.seq.wrapping_add(1);
            let _ = tx.try_push(black_box(m));
            black_box(rx.try_pop())
        })
    });
    g.bench_function("heap_spsc", |b| {
        let (mut tx, mut rx) = spsc::channel::<Msg>(CAP).unwrap();
        let mut m = msg();
        b.iter(|| {
            m.seq = m.seq.wrapping_add(1);
            let _ = tx.try_push(black_box(m));
            black_box(rx.try_pop())
        })
    });
    g.bench_function("shm_broadcast", |b| {
        let path = shm("pp-bcast");
        let mut w = BroadcastWriter::<Msg>::create(&path, CAP).unwrap();
        let mut r = BroadcastReader::<Msg>::attach(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let mut m = msg();
        b.iter(|| {
            m.seq = m.seq.wrapping_add(1);
            w.publish(black_box(m));
            black_box(r.try_read())
        })
    });
    g.bench_function("crossbeam", |b| {
        let q = crossbeam_queue::ArrayQueue::<Msg>::new(CAP);
        let mut m = msg();
        b.iter(|| {
            m.seq = m.seq.wrapping_add(1);
            let _ = q.push(black_box(m));
            black_box(q.pop())
        })
    });
    g.bench_function("rtrb", |b| {
        let (mut tx, mut rx) = rtrb::RingBuffer::<Msg>::new(CAP);
        let mut m = msg();
        b.iter(|| {
            m.seq = m.seq.wrapping_add(1);
            let _ = tx.push(black_box(m));
            black_box(rx.pop().ok())
        })
    });
    g.finish();
}

/// Streams `iters * BATCH` messages from this thread to a consumer thread; returns the time.
fn stream<Tx, Rx>(
    iters: u64,
    make: impl Fn() -> (Tx, Rx),
    mut send: impl FnMut(&mut Tx, Msg),
    recv: fn(&mut Rx) -> Option<Msg>,
) -> Duration
where
    Rx: Send + 'static,
{
    let n = iters * BATCH;
    let (mut tx, mut rx) = make();
    let consumer = std::thread::spawn(move || {
        let mut got = 0u64;
        while got < n {
            match recv(&mut rx) {
                Some(m) => {
                    black_box(m);
                    got += 1;
                }
                None => std::hint::spin_loop(),
            }
        }
        rx
    });
    let start = Instant::now();
    let mut m = msg();
    for i in 0..n {
        m.seq = i;
        send(&mut tx, m);
    }
    drop(consumer.join().unwrap());
    let elapsed = start.elapsed();
    drop(tx);
    elapsed
}

fn two_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("stream_64B_two_threads");
    g.throughput(Throughput::Elements(BATCH));
    g.bench_function("baseline_spawn_join", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                std::thread::spawn(|| black_box(0)).join().unwrap();
            }
            start.elapsed()
        })
    });
    g.bench_function("shm_spsc", |b| {
        b.iter_custom(|iters| {
            stream(
                iters,
                || {
                    let path = shm("st-spsc");
                    let tx = SpscProducer::<Msg>::create(&path, CAP).unwrap();
                    let rx = SpscConsumer::<Msg>::attach(&path).unwrap();
                    let _ = std::fs::remove_file(&path);
                    (tx, rx)
                },
                |tx, mut m| {
                    while let Err(back) = tx.try_push(m) {
                        m = back;
                        std::hint::spin_loop();
                    }
                },
                |rx| rx.try_pop(),
            )
        })
    });
    g.bench_function("heap_spsc", |b| {
        b.iter_custom(|iters| {
            stream(
                iters,
                || spsc::channel::<Msg>(CAP).unwrap(),
                |tx, mut m| {
                    while let Err(back) = tx.try_push(m) {
                        m = back;
                        std::hint::spin_loop();
                    }
                },
                |rx| rx.try_pop(),
            )
        })
    });
    g.bench_function("heap_broadcast_throttled", |b| {
        b.iter_custom(|iters| {
            let mut allowed = 0u64;
            stream(
                iters,
                || broadcast::channel::<Msg>(CAP).unwrap(),
                move |w, m| {
                    let s = w.published() + 1;
                    while s > allowed {
                        allowed = w.min_reader_position().unwrap_or(0) + CAP as u64;
                    }
                    w.publish(m);
                },
                |r| match r.try_read() {
                    ReadOutcome::Item(m) => Some(m),
                    ReadOutcome::Empty => None,
                    other => panic!("{other:?}"),
                },
            )
        })
    });
    g.bench_function("crossbeam", |b| {
        b.iter_custom(|iters| {
            stream(
                iters,
                || {
                    let q = Arc::new(crossbeam_queue::ArrayQueue::<Msg>::new(CAP));
                    (q.clone(), q)
                },
                |q, mut m| {
                    while let Err(back) = q.push(m) {
                        m = back;
                        std::hint::spin_loop();
                    }
                },
                |q| q.pop(),
            )
        })
    });
    g.bench_function("rtrb", |b| {
        b.iter_custom(|iters| {
            stream(
                iters,
                || rtrb::RingBuffer::<Msg>::new(CAP),
                |tx, mut m| {
                    while let Err(rtrb::PushError::Full(back)) = tx.push(m) {
                        m = back;
                        std::hint::spin_loop();
                    }
                },
                |rx| rx.pop().ok(),
            )
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = push_pop, two_threads
}
criterion_main!(benches);
