//! In-process pipeline tests over heap rings (the same ring code as the shm rings).

use super::threshold::{ThresholdCore, ThresholdPosition};
use super::*;
use crate::journal::{read_journal, RecordKind};
use hotrisk_feed::ring::broadcast;
use hotrisk_feed::wire::{order_id, MsgKind};

fn cfg(dir: &std::path::Path) -> Config {
    let mut c = Config::default();
    c.journal.path = dir.join("journal");
    c.journal.capacity = 1024;
    c.latency.out_dir = dir.join("latency");
    c.latency.interval_ms = 20;
    c.health.exit_on_eof = true;
    c.threads.risk_core = None;
    c.threads.gateway_core = None;
    c.threads.reporter_core = None;
    c.threads.idle = crate::config::IdleKind::SpinThenYield;
    c
}

fn positions() -> Vec<ThresholdPosition> {
    (1..=10u32)
        .map(|a| ThresholdPosition {
            account: a,
            instrument: 0,
            qty_e8: if a.is_multiple_of(2) {
                100_000_000
            } else {
                -100_000_000
            },
            // longs liquidate at 100 - a, shorts at 100 + a
            liq_price_e8: if a.is_multiple_of(2) {
                (100 - i64::from(a)) * 100_000_000
            } else {
                (100 + i64::from(a)) * 100_000_000
            },
        })
        .collect()
}

fn mark(px: i64) -> Msg {
    let mut m = Msg::market(MsgKind::MarkPrice, 0, 0, 0);
    m.body[0] = px * 100_000_000;
    m
}

#[test]
fn scripted_path_gives_expected_orders_and_journal() {
    scripted_path(crate::config::GatewayMode::Auto);
}

#[test]
fn scripted_path_same_with_gateway_thread_and_inline() {
    scripted_path(crate::config::GatewayMode::Thread);
    scripted_path(crate::config::GatewayMode::Inline);
}

fn scripted_path(gateway: crate::config::GatewayMode) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = cfg(dir.path());
    cfg.threads.gateway = gateway;
    let (mut w, md) = broadcast::channel::<Msg>(1024).unwrap();
    let (o_tx, mut o_rx) = spsc::channel::<Order>(1024).unwrap();
    let (journal, old) = JournalWriter::open(&cfg.journal.path, cfg.journal.capacity).unwrap();
    assert!(old.is_empty());
    // 100 → 95 (longs 2, 4 at 98, 96) → 103 (shorts 1, 3 at 101, 103) → 90 (longs 6, 8, 10)
    let path = [100, 99, 98, 95, 100, 103, 90, 90];
    for (i, px) in path.iter().enumerate() {
        let mut m = mark(*px);
        m.seq = i as u64 + 1;
        m.publish_ts = now_ns();
        w.publish(m);
    }
    w.close();
    let core = ThresholdCore::new(positions(), 0).unwrap();
    let inputs = EngineInputs {
        core,
        md,
        acct: None,
        orders: o_tx,
        journal,
        plan: RecoveryPlan::default(),
    };
    let running = start(&cfg, inputs, Arc::new(AtomicBool::new(false))).unwrap();
    match gateway {
        crate::config::GatewayMode::Thread => assert!(!running.gateway_inline()),
        crate::config::GatewayMode::Inline => assert!(running.gateway_inline()),
        crate::config::GatewayMode::Auto => {}
    }
    let s = running.wait().unwrap();
    let mut got = Vec::new();
    while let Some(o) = o_rx.try_pop() {
        got.push((o.account, o.trigger_seq));
        assert_eq!(o.order_id, order_id(o.account, o.trigger_seq, 0));
        assert!(o.emit_ts >= o.trigger_publish_ts);
    }
    assert_eq!(
        got,
        vec![(2, 3), (4, 4), (1, 6), (3, 6), (6, 7), (8, 7), (10, 7)]
    );
    assert_eq!(s.counters.ticks, 8);
    assert_eq!(s.counters.orders, 7);
    assert_eq!(s.total.get(Stage::TickToOrder).len(), 7);
    assert_eq!(s.total.get(Stage::RingRead).len(), 8);
    assert!(s.fatal.is_none());
    let (_, recs) = read_journal(&cfg.journal.path).unwrap();
    let orders: Vec<(u32, u64)> = recs
        .iter()
        .filter(|r| r.record_kind() == Some(RecordKind::Order))
        .map(|r| (r.account, r.md_seq))
        .collect();
    assert_eq!(orders, got);
    assert!(recs
        .iter()
        .filter(|r| r.record_kind() == Some(RecordKind::Order))
        .all(|r| r.state & crate::journal::STATE_PUBLISHED != 0));
    let hlog = std::fs::read(cfg.latency.out_dir.join("latency.hlog")).unwrap();
    let back = crate::latency::hlog::read_hlog(&hlog).unwrap();
    let n: u64 = back
        .iter()
        .filter(|i| i.tag.as_deref() == Some("tick_to_order"))
        .map(|i| i.hist.len())
        .sum();
    assert_eq!(n, 7);
    assert!(cfg.latency.out_dir.join("tick_to_order.hgrm").exists());
}

#[test]
fn gap_is_reported_and_replay_suppresses_published_orders() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = cfg(dir.path());
    // Capacity 4: publishing 8 before reading laps the reader.
    let (mut w, md) = broadcast::channel::<Msg>(4).unwrap();
    let (o_tx, mut o_rx) = spsc::channel::<Order>(64).unwrap();
    let (journal, _) = JournalWriter::open(&cfg.journal.path, 64).unwrap();
    for (i, px) in [100, 100, 100, 100, 100, 100, 97, 90].iter().enumerate() {
        let mut m = mark(*px);
        m.seq = i as u64 + 1;
        w.publish(m);
    }
    w.close();
    // Pretend order (2, seq 7) was published by a previous run.
    let mut plan = RecoveryPlan::default();
    plan.published.insert(order_id(2, 7, 0), 0);
    let inputs = EngineInputs {
        core: ThresholdCore::new(positions(), 0).unwrap(),
        md,
        acct: None,
        orders: o_tx,
        journal,
        plan,
    };
    let s = start(&cfg, inputs, Arc::new(AtomicBool::new(false)))
        .unwrap()
        .wait()
        .unwrap();
    assert!(s.counters.md_gaps >= 4, "{:?}", s.counters);
    assert_eq!(s.counters.orders_suppressed, 1);
    let mut got = Vec::new();
    while let Some(o) = o_rx.try_pop() {
        got.push((o.account, o.trigger_seq));
    }
    assert_eq!(got, vec![(4, 8), (6, 8), (8, 8), (10, 8)]);
}

#[test]
fn stop_flag_ends_a_live_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = cfg(dir.path());
    cfg.health.exit_on_eof = false;
    let (_w, md) = broadcast::channel::<Msg>(16).unwrap();
    let (o_tx, _o_rx) = spsc::channel::<Order>(16).unwrap();
    let (journal, _) = JournalWriter::open(&cfg.journal.path, 16).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let running = start(
        &cfg,
        EngineInputs {
            core: ThresholdCore::new(positions(), 0).unwrap(),
            md,
            acct: None,
            orders: o_tx,
            journal,
            plan: RecoveryPlan::default(),
        },
        Arc::clone(&stop),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert!(!running.is_finished());
    stop.store(true, Ordering::Relaxed);
    let s = running.wait().unwrap();
    assert_eq!(s.counters.ticks, 0);
}

#[test]
fn prometheus_endpoint_serves_text() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = cfg(dir.path());
    cfg.health.exit_on_eof = false;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    cfg.latency.prometheus_port = Some(port);
    let (mut w, md) = broadcast::channel::<Msg>(16).unwrap();
    let (o_tx, _o_rx) = spsc::channel::<Order>(16).unwrap();
    let (journal, _) = JournalWriter::open(&cfg.journal.path, 16).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let running = start(
        &cfg,
        EngineInputs {
            core: ThresholdCore::new(positions(), 0).unwrap(),
            md,
            acct: None,
            orders: o_tx,
            journal,
            plan: RecoveryPlan::default(),
        },
        Arc::clone(&stop),
    )
    .unwrap();
    let mut m = mark(100);
    m.seq = 1;
    m.publish_ts = now_ns();
    w.publish(m);
    std::thread::sleep(Duration::from_millis(100));
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    stop.store(true, Ordering::Relaxed);
    running.wait().unwrap();
    assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
    assert!(body.contains("hotrisk_ticks_total 1"), "{body}");
    assert!(body.contains("hotrisk_latency_ns{stage=\"ring_read\",quantile=\"0.99\"}"));
}
