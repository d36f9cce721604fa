//! `hotrisk-bench roundtrip` end to end, small: real `/dev/shm` rings, the engine's pipeline on
//! two cores (or one, shared, on a 1-core runner), every tick answered by its order, the report's
//! tables present, no allocation on the engine's hot threads.

use hotrisk_bench::alloc::Counting;
use hotrisk_bench::roundtrip::{run, Options};
use hotrisk_engine::config::{GatewayMode, IdleKind};

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
fn every_tick_comes_back_as_its_order_and_the_report_says_what_the_cores_took() {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    let dir = tempfile::tempdir().expect("temp dir");
    let o = Options {
        ticks: 3_000,
        warmup: 300,
        cores: (0, if n > 1 { 1 } else { 0 }),
        shm_dir: dir.path().to_path_buf(),
        hist_dir: dir.path().join("hist"),
        gateway: GatewayMode::Auto,
        // One core: driver and engine take turns, so the engine must yield when idle.
        idle: (n == 1).then_some(IdleKind::SpinThenYield),
    };
    let out = run(&o).expect("round trip runs");
    assert_eq!(out.round_trip.len(), 3_000);
    assert_eq!(out.floor.len(), 3_000);
    assert!(out.round_trip.min() > 0);
    assert_eq!(out.hot_allocations, 0, "the engine's hot threads allocated");
    let md = out.markdown();
    assert!(md.contains("| tick → order round trip |"), "{md}");
    assert!(md.contains("Round-trip p50 / floor p50"), "{md}");
    if std::path::Path::new("/proc/interrupts").exists() {
        let irq = out
            .round_trip_irq
            .expect("interrupts counted where procfs exists");
        assert_eq!(irq.cores, vec![o.cores.0, o.cores.1]);
        assert!(md.contains("per 10^4 samples"), "{md}");
    }
}
