//! The README's first command at small scale: `hotrisk demo --quick` runs the feed-handler, the
//! simulated venue and the engine as three processes over /dev/shm rings, and writes a report
//! with the latency files, the plots and a journal holding liquidation orders.

use std::process::Command;

use hotrisk_engine::journal::{read_journal, RecordKind};
use hotrisk_engine::latency::hlog::read_hlog;
use hotrisk_engine::outcome::{Liquidations, MarkTimeline};

#[test]
fn quick_demo_writes_the_report_and_liquidates() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let o = Command::new(env!("CARGO_BIN_EXE_hotrisk"))
        .args(["demo", "--quick", "--timeout-s", "90", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "demo failed\n{stdout}\n{stderr}");
    for f in [
        "report.md",
        "latency.hlog",
        "tick_to_order.hgrm",
        "ring_read.hgrm",
        "decision.hgrm",
        "latency_spectrum.svg",
        "engine.journal",
        "snapshot/instruments.toml",
        "snapshot/positions.csv",
    ] {
        let p = out.join(f);
        assert!(p.is_file(), "{} missing\n{stdout}", p.display());
    }
    assert!(
        stdout.contains("== tick-to-order latency per stage"),
        "{stdout}"
    );
    assert!(stdout.contains("== liquidations"), "{stdout}");
    // The accounting check ran: collateral moved by exactly the fills' realised PnL minus fees,
    // the fund by its own flows, and the in-process replay of the journal reproduced every order.
    assert!(stdout.contains("== accounting check"), "{stdout}");
    assert!(stdout.contains("| verdict | conserved"), "{stdout}");
    assert!(stdout.contains("(residual 0 E8 units"), "{stdout}");
    assert!(
        !stdout.contains("account events the engine refused"),
        "{stdout}"
    );
    // Every order is reproduced unless the engine reacted to something the journal does not
    // keep (a stale producer heartbeat or lost md records on an overloaded machine).
    if healthy(&stdout) {
        assert!(
            stdout.contains("| verdict | conserved; orders reproduced |"),
            "{stdout}"
        );
    }
    assert!(stdout.contains("report: "), "{stdout}");
    // The interval log parses back.
    let ivs = read_hlog(&std::fs::read(out.join("latency.hlog")).unwrap()).unwrap();
    assert!(!ivs.is_empty());
    // Liquidation orders were journaled, with tick-to-order intervals, unless the engine rightly
    // refused to act on data it could not trust (a producer judged dead on an overloaded machine).
    let (_, recs) = read_journal(&out.join("engine.journal")).unwrap();
    let l = Liquidations::from_journal(&recs, &MarkTimeline::default(), None);
    if healthy(&stdout) {
        assert!(ivs
            .iter()
            .any(|i| i.tag.as_deref() == Some("tick_to_order") && !i.hist.is_empty()));
        assert!(l.liquidation_orders() > 0, "{l:?}\n{stdout}");
        assert!(l.accounts > 0);
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("## Machine") && report.contains("## Liquidations"));
    // The rings were removed.
    let left: Vec<_> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("hotrisk-demo-") && n.contains(&format!("-{}-", o_pid(&stdout))))
        .collect();
    assert!(left.is_empty(), "rings left behind: {left:?}");
}

/// Whether the engine's summary reports no input-health event (they change the policy's
/// decisions and are not journaled, so a replay cannot reproduce them).
fn healthy(summary: &str) -> bool {
    summary.contains("| producer dead 0 |") && summary.contains("md records missed 0 |")
}

/// The demo's pid, from the ring names it printed (`/dev/shm/hotrisk-demo-<pid>-…`).
fn o_pid(stdout: &str) -> String {
    stdout
        .split("hotrisk-demo-")
        .nth(1)
        .and_then(|s| s.split('-').next())
        .unwrap_or("none")
        .to_owned()
}

/// The end-to-end core over a captured feed (`hotrisk-bench e2e --capture`): a native capture
/// is replayed by `feed-handler replay`, accounts are placed around its first prices, and the
/// run's accounting check passes with every order reproduced.
#[test]
fn captured_feed_runs_end_to_end_and_is_conserved() {
    use hotrisk_engine::generate::GenConfig;
    use hotrisk_engine::launch::{run_synthetic, SyntheticRun};
    use hotrisk_feed::source::synthetic::Scenario;
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("crash.hrcap");
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_hotrisk"));
    let o = Command::new(&exe)
        .args([
            "feed-handler",
            "synthetic",
            "--scenario",
            "crash",
            "--symbols",
            "BTCUSDT,ETHUSDT",
            "--duration-ms",
            "1200",
            "--event-at-ms",
            "200",
            "--depth",
            "10",
            "--level-lots",
            "5000",
            "--out",
        ])
        .arg(&cap)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = dir.path().join("run");
    let r = run_synthetic(&SyntheticRun {
        exe,
        accounts: GenConfig {
            accounts: 1_000,
            safe_pct: 80,
            ..GenConfig::default()
        },
        scenario: Scenario::Calm,
        duration_ms: 0,
        event_at_ms: 0,
        step_us: 1_000,
        depth: 10,
        vol_ppm: 5,
        level_lots: None,
        speed: None,
        out: out.clone(),
        engine_extra: Vec::new(),
        cpus: None,
        capture: Some(cap),
        timeout: Duration::from_secs(60),
        tag: "test-capture".into(),
    })
    .unwrap();
    // The capture's symbols replaced the configuration's three.
    assert_eq!(r.snapshot.per_instrument.len(), 2);
    assert!(r.md_records > 10_000, "{}", r.md_records);
    // A run the engine could not trust (producer judged dead under load, md records lost)
    // rightly liquidates nothing; a healthy one must liquidate.
    if healthy(&r.engine_summary) {
        assert!(
            r.liquidations.liquidation_orders() > 0,
            "{:?}\n{}",
            r.liquidations,
            r.engine_summary
        );
    } else {
        eprintln!("unhealthy run (orders not required):\n{}", r.engine_summary);
    }
    let a = r.audit.unwrap();
    assert!(a.conserved(), "{}", a.table());
    // The instruments are on the capture's grid: the engine applied every fill.
    assert_eq!(a.events_refused, 0, "{}", a.table());
    if healthy(&r.engine_summary) {
        assert!(a.passed(), "{}\n{}", a.table(), r.engine_summary);
    }
    assert!(out.join("latency.hlog").is_file());
}

/// `hotrisk demo --lockstep` twice: the engine reads the next md record only once every order has
/// its answer, so the two runs send the same orders and apply the same venue answers at the same
/// places, bit for bit (wall-clock stamps aside).
#[test]
fn lockstep_demo_is_deterministic_run_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut runs = Vec::new();
    for k in 0..2 {
        let out = dir.path().join(format!("lockstep-{k}"));
        let o = Command::new(env!("CARGO_BIN_EXE_hotrisk"))
            .args([
                "demo",
                "--quick",
                "--lockstep",
                "--timeout-s",
                "90",
                "--out",
            ])
            .arg(&out)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "demo failed\n{stdout}\n{stderr}");
        assert!(stdout.contains("Lock-step run"), "{stdout}");
        let (_, recs) = read_journal(&out.join("engine.journal")).unwrap();
        // What the engine decided and what it applied, where; not the wall-clock stamps.
        let stream: Vec<String> = recs
            .iter()
            .filter_map(|r| match r.record_kind() {
                Some(RecordKind::Order) => {
                    let o = r.to_order();
                    Some(format!(
                        "order md{} id{} a{} i{} s{} q{} p{} t{} k{}",
                        r.md_seq,
                        o.order_id,
                        o.account,
                        o.instrument,
                        o.side,
                        o.qty,
                        o.limit_price,
                        o.tier,
                        o.kind
                    ))
                }
                Some(RecordKind::AccountEvent) => {
                    let e = r.to_event();
                    Some(format!(
                        "event md{} k{} x{} a{} i{} {:?} ts{}",
                        r.md_seq, e.kind, e.aux, e.account, e.instrument, e.body, e.exch_ts
                    ))
                }
                _ => None,
            })
            .collect();
        assert!(stream.iter().any(|s| s.starts_with("order")), "{stdout}");
        runs.push((healthy(&stdout), stream, stdout));
    }
    let (a, b) = (&runs[0], &runs[1]);
    if a.0 && b.0 {
        assert_eq!(a.1.len(), b.1.len(), "{}\n{}", a.2, b.2);
        for (i, (x, y)) in a.1.iter().zip(&b.1).enumerate() {
            assert_eq!(x, y, "journal record {i} differs");
        }
    } else {
        eprintln!("an overloaded machine judged the feed's producer dead; not compared");
    }
}
