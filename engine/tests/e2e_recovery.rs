//! Crash recovery with real processes: `kill -9` the engine at random points of a scripted run
//! (several seeds), restart it on the same journal, and check that the union of the orders that
//! reached the order ring equals the uninterrupted run's, without duplicates.

mod e2e_common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use e2e_common::*;

#[test]
fn kill_9_at_random_points_loses_and_repeats_nothing() {
    let sc = Scenario::new("crash");
    let pos = positions(2000);
    write_snapshot(&sc.snapshot, &pos);
    let prices = price_path(60_000, 3);
    publish_marks(&sc.md, &prices);
    let expected = expected_orders(&pos, &prices, 50);

    // The uninterrupted run, timed to choose kill points inside it.
    let t0 = Instant::now();
    let (ok, out, err) = wait(sc.command("ref").spawn().unwrap(), Duration::from_secs(120));
    let full = t0.elapsed();
    assert!(ok, "{out}\n{err}");
    let reference: Vec<_> = drain_orders(&sc.orders).iter().map(key).collect();
    assert_eq!(reference, expected);

    let mut crashes = 0;
    let mut suppressed_total = 0u64;
    let mut seen_before_kill = 0usize;
    for seed in [1u64, 2, 3, 4] {
        let run = format!("seed{seed}");
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut seen = Vec::new();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut child = sc.command(&run).spawn().unwrap();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Kill somewhere in the first 80% of an uninterrupted run (start-up included); the
            // last attempt runs to the end.
            let kill_after = Duration::from_micros(x % (full.as_micros() as u64 * 8 / 10).max(1));
            if attempt <= 3 {
                std::thread::sleep(kill_after);
                if child.try_wait().unwrap().is_none() {
                    child.kill().unwrap(); // SIGKILL
                    let _ = child.wait();
                    crashes += 1;
                    if sc.orders.exists() {
                        let before = drain_orders(&sc.orders);
                        seen_before_kill += before.len();
                        seen.extend(before.iter().map(key));
                    }
                    continue;
                }
            }
            let (ok, out, err) = wait(child, Duration::from_secs(120));
            assert!(ok, "seed {seed} attempt {attempt}\n{out}\n{err}");
            suppressed_total += out
                .split("suppressed on replay ")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
            seen.extend(drain_orders(&sc.orders).iter().map(key));
            break;
        }
        let unique: HashSet<_> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "seed {seed}: duplicate orders");
        let mut sorted = seen.clone();
        sorted.sort();
        let mut want = reference.clone();
        want.sort();
        assert_eq!(sorted, want, "seed {seed}: orders lost or invented");
    }
    eprintln!(
        "uninterrupted run {full:?}; {crashes} kills; {seen_before_kill} orders delivered by killed runs; {suppressed_total} replayed orders suppressed by final runs"
    );
    assert!(
        crashes >= 4,
        "the test must actually crash the engine ({crashes} kills)"
    );
    assert!(
        seen_before_kill > 0 && suppressed_total > 0,
        "some kills must land mid-run, after orders were published"
    );
}
