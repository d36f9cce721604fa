//! The risk and gateway threads allocate nothing after start-up: a counting global allocator
//! counts every allocation made on a thread marked hot (`pipeline::hot`), over a run of one
//! million market-data records with liquidations, account fills and order-ring traffic.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use hotrisk_engine::config::{Config, IdleKind};
use hotrisk_engine::journal::JournalWriter;
use hotrisk_engine::pipeline::hot::is_hot_thread;
use hotrisk_engine::pipeline::recovery::RecoveryPlan;
use hotrisk_engine::pipeline::threshold::{ThresholdCore, ThresholdPosition};
use hotrisk_engine::pipeline::{start, EngineInputs};
use hotrisk_feed::clock::now_ns;
use hotrisk_feed::ring::{broadcast, spsc};
use hotrisk_feed::wire::{Msg, MsgKind, Order};

struct Counting;

static HOT_ALLOCS: AtomicU64 = AtomicU64::new(0);
static ALL_ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to the system allocator with the caller's arguments unchanged;
// the counting touches only atomics and a const-initialised thread-local (no allocation, no
// re-entrancy).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALL_ALLOCS.fetch_add(1, Ordering::Relaxed);
        if is_hot_thread() {
            HOT_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller upholds `alloc`'s contract; we pass it through.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_hot_thread() {
            HOT_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: `ptr` was allocated by `System` with `layout` (we forward every alloc).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if is_hot_thread() {
            HOT_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as for dealloc; `new_size` comes from the caller, who upholds the contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const TICKS: u64 = 1_000_000;

#[test]
fn hot_threads_allocate_nothing_over_a_million_ticks() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::default();
    cfg.journal.path = dir.path().join("journal");
    cfg.journal.capacity = 1 << 16;
    cfg.latency.out_dir = dir.path().join("latency");
    cfg.latency.interval_ms = 50;
    cfg.health.exit_on_eof = true;
    cfg.threads.risk_core = None;
    cfg.threads.gateway_core = None;
    cfg.threads.reporter_core = None;
    cfg.threads.idle = IdleKind::SpinThenYield;
    // Small hand-off buffers: the back-pressure path (orders waiting in the risk thread's
    // backlog, stalls when it is full) runs too.
    cfg.queue.capacity = 4;
    cfg.queue.backlog = 16;

    // 2000 positions whose liquidation prices the saw-tooth path crosses again and again; fills
    // close and reopen them, so orders keep flowing for the whole run.
    let positions: Vec<ThresholdPosition> = (1..=2000u32)
        .map(|a| ThresholdPosition {
            account: a,
            instrument: (a % 4) as u16,
            qty_e8: if a.is_multiple_of(2) {
                100_000_000
            } else {
                -100_000_000
            },
            liq_price_e8: if a.is_multiple_of(2) {
                10_000_000_000 - i64::from(a) * 1_000_000
            } else {
                10_000_000_000 + i64::from(a) * 1_000_000
            },
        })
        .collect();
    let core = ThresholdCore::new(positions, 50).unwrap();
    let (mut md_w, md) = broadcast::channel::<Msg>(1 << 14).unwrap();
    let (mut acct_w, acct) = spsc::channel::<Msg>(1 << 12).unwrap();
    let (o_tx, mut o_rx) = spsc::channel::<Order>(8).unwrap();
    let (journal, _) = JournalWriter::open(&cfg.journal.path, cfg.journal.capacity).unwrap();
    let running = start(
        &cfg,
        EngineInputs {
            core,
            md,
            acct: Some(acct),
            orders: o_tx,
            journal,
            plan: RecoveryPlan::default(),
        },
        Arc::new(AtomicBool::new(false)),
    )
    .unwrap();

    // The matching engine: drains orders (not a hot thread).
    let done = Arc::new(AtomicBool::new(false));
    let me_done = Arc::clone(&done);
    let matching = std::thread::spawn(move || {
        let mut n = 0u64;
        while !me_done.load(Ordering::Relaxed) || o_rx.try_pop().is_some() {
            if o_rx.try_pop().is_some() {
                n += 1;
            } else {
                std::thread::yield_now();
            }
        }
        n
    });

    for i in 0..TICKS {
        // Saw-tooth around 100 per instrument: ±25 over 2000 ticks.
        let phase = (i % 2000) as i64;
        let px = 10_000_000_000 + (phase - 1000) * 2_500_000;
        let mut m = Msg::market(MsgKind::MarkPrice, (i % 4) as u16, 0, 0);
        m.seq = i + 1;
        m.body[0] = px;
        m.publish_ts = now_ns();
        // Never lap the engine: wait for it to be within half the ring.
        while md_w
            .min_reader_position()
            .is_some_and(|p| i - p > (1 << 13))
        {
            std::thread::yield_now();
        }
        md_w.publish(m);
        if i % 1000 == 999 {
            // A fill that closes one position (re-arming it for a later crossing).
            let a = (i / 1000 % 2000) as u32 + 1;
            let mut f = Msg::market(MsgKind::Fill, (a % 4) as u16, 0, 0);
            f.account = a;
            f.seq = i / 1000 + 1;
            f.body[0] = if a.is_multiple_of(2) {
                -100_000_000
            } else {
                100_000_000
            };
            f.publish_ts = now_ns();
            while let Err(back) = acct_w.try_push(f) {
                f = back;
                std::thread::yield_now();
            }
        }
    }
    md_w.close();
    let s = running.wait().unwrap();
    done.store(true, Ordering::Relaxed);
    let delivered = matching.join().unwrap();
    assert_eq!(s.counters.ticks, TICKS);
    assert_eq!(s.counters.account_events, TICKS / 1000);
    assert!(s.counters.orders > 1000, "{:?}", s.counters);
    assert_eq!(delivered, s.counters.orders);
    eprintln!(
        "orders {}, delayed by back-pressure {}, backlog max {}, stalls {}",
        s.counters.orders,
        s.counters.orders_delayed,
        s.counters.backlog_max,
        s.counters.backlog_stalls
    );
    assert!(ALL_ALLOCS.load(Ordering::Relaxed) > 0, "the counter works");
    assert_eq!(
        HOT_ALLOCS.load(Ordering::Relaxed),
        0,
        "allocations on the risk/gateway threads after start-up"
    );
}
