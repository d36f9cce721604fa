//! `hotrisk-tools hist` on files written by the engine's latency writers.

use std::process::Command;
use std::time::{Duration, SystemTime};

use hotrisk_engine::latency::report::LatencyFiles;
use hotrisk_engine::latency::{Stage, StageHistograms};

#[test]
fn hist_reads_hlog_and_hgrm_and_draws() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = LatencyFiles::create(dir.path(), SystemTime::now(), "test").unwrap();
    let mut total = StageHistograms::new(1_000_000_000, 3);
    for k in 0..3u64 {
        let mut h = StageHistograms::new(1_000_000_000, 3);
        for i in 1..=1000i64 {
            h.record(Stage::TickToOrder, i * 10 * (k as i64 + 1));
            h.record(Stage::RingRead, i);
        }
        files
            .write_interval(&h, Duration::from_secs(k), Duration::from_secs(1))
            .unwrap();
        total.add(&h);
    }
    files.write_hgrms(&total).unwrap();
    let hlog = dir.path().join("latency.hlog");
    let hgrm = dir.path().join("tick_to_order.hgrm");
    let spectrum = dir.path().join("spectrum.svg");
    let over = dir.path().join("over.png");
    let out = Command::new(env!("CARGO_BIN_EXE_hotrisk-tools"))
        .arg("hist")
        .arg(&hlog)
        .arg(&hgrm)
        .arg("--spectrum")
        .arg(&spectrum)
        .arg("--over-time")
        .arg(&over)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("tick_to_order "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.trim_end().ends_with("3000"), "{line}");
    assert!(stdout.contains("p99.99"));
    // The .hgrm row: count 3000, max 30 µs.
    let hgrm_line = stdout
        .lines()
        .find(|l| l.starts_with("tick_to_order  ") && l.contains("3000"))
        .unwrap();
    assert!(hgrm_line.contains("300"), "{hgrm_line}");
    let svg = std::fs::read_to_string(&spectrum).unwrap();
    assert!(
        svg.contains("latency:tick_to_order") && svg.contains("tick_to_order"),
        "labels"
    );
    assert!(std::fs::read(&over).unwrap().starts_with(b"\x89PNG"));

    let bad = dir.path().join("bad.hlog");
    std::fs::write(&bad, "Tag=x,notanumber\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hotrisk-tools"))
        .arg("hist")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.hlog"));
}
