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

/// `n` positions on instrument 0: even accounts long, odd short, liquidation prices spread over
/// 60..100 (longs) and 100..140 (shorts) so that a saw-tooth path crosses a few per tick.
fn many_positions(n: u32) -> Vec<ThresholdPosition> {
    (1..=n)
        .map(|a| {
            let off = i64::from(a % 40) + 1;
            let long = a.is_multiple_of(2);
            ThresholdPosition {
                account: a,
                instrument: 0,
                qty_e8: if long { 100_000_000 } else { -100_000_000 },
                liq_price_e8: if long { 100 - off } else { 100 + off } * 100_000_000,
            }
        })
        .collect()
}

/// Runs the threshold core over `path` with the given queue, backlog and order-ring sizes and
/// a consumer that drains the order ring slowly; returns the orders as the consumer saw them
/// (clock stamps zeroed), the journal's order records and the counters.
fn run_sized(
    gateway: crate::config::GatewayMode,
    queue: usize,
    backlog: usize,
    order_ring: usize,
    path: &[i64],
) -> (Vec<Order>, Vec<(u64, u32, u64)>, CounterSnapshot) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = cfg(dir.path());
    cfg.threads.gateway = gateway;
    cfg.queue.capacity = queue;
    cfg.queue.backlog = backlog;
    cfg.queue.event_headroom = 1;
    cfg.journal.capacity = 1 << 14;
    let (mut w, md) = broadcast::channel::<Msg>(1024).unwrap();
    let (o_tx, mut o_rx) = spsc::channel::<Order>(order_ring).unwrap();
    let (journal, _) = JournalWriter::open(&cfg.journal.path, cfg.journal.capacity).unwrap();
    for (i, px) in path.iter().enumerate() {
        let mut m = mark(*px);
        m.seq = i as u64 + 1;
        m.publish_ts = now_ns();
        w.publish(m);
    }
    w.close();
    let done = Arc::new(AtomicBool::new(false));
    let consumer = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut got = Vec::new();
            loop {
                match o_rx.try_pop() {
                    Some(mut o) => {
                        o.emit_ts = 0;
                        o.trigger_publish_ts = 0;
                        got.push(o);
                        if got.len() % 7 == 0 {
                            std::thread::sleep(Duration::from_micros(200));
                        }
                    }
                    None if done.load(Ordering::Acquire) => break got,
                    None => std::thread::yield_now(),
                }
            }
        })
    };
    let inputs = EngineInputs {
        core: ThresholdCore::new(many_positions(400), 0).unwrap(),
        md,
        acct: None,
        orders: o_tx,
        journal,
        plan: RecoveryPlan::default(),
    };
    let s = start(&cfg, inputs, Arc::new(AtomicBool::new(false)))
        .unwrap()
        .wait()
        .unwrap();
    done.store(true, Ordering::Release);
    let got = consumer.join().unwrap();
    assert!(s.fatal.is_none(), "{:?}", s.fatal);
    let (_, recs) = read_journal(&cfg.journal.path).unwrap();
    let journaled = recs
        .iter()
        .filter(|r| r.record_kind() == Some(RecordKind::Order))
        .map(|r| (r.id, r.account, r.md_seq))
        .collect();
    (got, journaled, s.counters)
}

/// Tiny queue, backlog and order ring against big ones: the same orders in the same order,
/// none lost; the tiny run reports them as delayed by back-pressure (and stalls: one tick
/// produces more orders than its backlog holds).
#[test]
fn tiny_buffers_delay_but_never_lose_orders() {
    let path: Vec<i64> = (0..45)
        .map(|i| if i % 2 == 0 { 100 - i } else { 100 + i })
        .collect();
    for gateway in [
        crate::config::GatewayMode::Thread,
        crate::config::GatewayMode::Inline,
    ] {
        let (big, big_j, big_c) = run_sized(gateway, 1 << 14, 1 << 14, 1 << 14, &path);
        let (tiny, tiny_j, tiny_c) = run_sized(gateway, 2, 4, 2, &path);
        assert_eq!(big.len(), 400, "{gateway:?}: every position crosses once");
        assert_eq!(tiny.len(), big.len(), "{gateway:?}");
        assert!(tiny == big, "{gateway:?}: same order stream");
        assert_eq!(tiny_j, big_j, "{gateway:?}: same journal");
        assert_eq!(big_c.orders, 400);
        assert_eq!(tiny_c.orders, 400);
        assert_eq!(big_c.orders_delayed, 0, "{gateway:?}: {big_c:?}");
        assert!(tiny_c.orders_delayed > 0, "{gateway:?}: {tiny_c:?}");
        assert!(tiny_c.backlog_stalls > 0, "{gateway:?}: {tiny_c:?}");
        assert!(tiny_c.backlog_max <= 4, "{gateway:?}: {tiny_c:?}");
    }
}

/// The inline gateway with a 2-slot order ring and a venue that, for every order, pushes two
/// account events into a 2-slot account ring and waits while that ring is full: the risk
/// thread must keep reading account events while its orders wait, or the two deadlock.
#[test]
fn inline_gateway_does_not_deadlock_with_a_waiting_venue() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = cfg(dir.path());
    cfg.threads.gateway = crate::config::GatewayMode::Inline;
    cfg.journal.capacity = 1 << 12;
    // Runs until stopped, after the venue has pushed its last event.
    cfg.health.exit_on_eof = false;
    let n = 300u32;
    let (mut w, md) = broadcast::channel::<Msg>(16).unwrap();
    let (o_tx, mut o_rx) = spsc::channel::<Order>(2).unwrap();
    let (mut a_tx, a_rx) = spsc::channel::<Msg>(2).unwrap();
    let (journal, _) = JournalWriter::open(&cfg.journal.path, cfg.journal.capacity).unwrap();
    let positions: Vec<ThresholdPosition> = (1..=n)
        .map(|a| ThresholdPosition {
            account: a,
            instrument: 0,
            qty_e8: 100_000_000,
            liq_price_e8: 99 * 100_000_000,
        })
        .collect();
    // One tick liquidates all `n` longs at once.
    for (i, px) in [100, 98].iter().enumerate() {
        let mut m = mark(*px);
        m.seq = i as u64 + 1;
        m.publish_ts = now_ns();
        w.publish(m);
    }
    w.close();
    let give_up = Arc::new(AtomicBool::new(false));
    let venue = {
        let give_up = Arc::clone(&give_up);
        std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut seq = 0u64;
            while got.len() < n as usize && !give_up.load(Ordering::Acquire) {
                let Some(o) = o_rx.try_pop() else {
                    std::thread::yield_now();
                    continue;
                };
                got.push(o.account);
                // A fill closing the position, then an ack: waits while the ring is full.
                for (kind, qty) in [(MsgKind::Fill, -o.qty), (MsgKind::OrderAck, 0)] {
                    seq += 1;
                    let mut m = Msg::market(kind, 0, 0, 0);
                    m.seq = seq;
                    m.account = o.account;
                    m.body[0] = qty;
                    let mut m = Some(m);
                    while let Some(v) = m.take() {
                        if let Err(back) = a_tx.try_push(v) {
                            if give_up.load(Ordering::Acquire) {
                                return got;
                            }
                            m = Some(back);
                            std::thread::yield_now();
                        }
                    }
                }
            }
            got
        })
    };
    let inputs = EngineInputs {
        core: ThresholdCore::new(positions, 0).unwrap(),
        md,
        acct: Some(a_rx),
        orders: o_tx,
        journal,
        plan: RecoveryPlan::default(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let running = start(&cfg, inputs, Arc::clone(&stop)).unwrap();
    assert!(running.gateway_inline());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !venue.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let finished = venue.is_finished();
    give_up.store(true, Ordering::Release);
    if !finished {
        stop.store(true, Ordering::Relaxed);
    }
    let got = venue.join().unwrap();
    if finished {
        // Let the engine read the venue's last events.
        while running.counters().account_events < 2 * u64::from(n) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let s = running.wait().unwrap();
    assert!(
        finished,
        "deadlock: the venue got {} of {n} orders",
        got.len()
    );
    assert_eq!(got, (1..=n).collect::<Vec<_>>());
    assert_eq!(s.counters.orders, u64::from(n));
    assert_eq!(s.counters.account_events, 2 * u64::from(n));
    assert!(s.counters.orders_delayed > 0, "{:?}", s.counters);
}

/// A producer that closed its ring is not "dead", however old its heartbeat: the records it left
/// are read and trusted (a max-speed replay ends long before the engine has read it all).
#[test]
fn closed_producer_is_not_reported_dead() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = cfg(dir.path());
    cfg.health.heartbeat_timeout_ms = 1;
    let (mut w, md) = broadcast::channel::<Msg>(1 << 14).unwrap();
    let (o_tx, _o_rx) = spsc::channel::<Order>(1024).unwrap();
    let (journal, _) = JournalWriter::open(&cfg.journal.path, cfg.journal.capacity).unwrap();
    for i in 0..10_000u64 {
        let mut m = mark(100);
        m.seq = i + 1;
        w.publish(m);
    }
    w.close();
    std::thread::sleep(Duration::from_millis(20));
    let s = start(
        &cfg,
        EngineInputs {
            core: ThresholdCore::new(positions(), 0).unwrap(),
            md,
            acct: None,
            orders: o_tx,
            journal,
            plan: RecoveryPlan::default(),
        },
        Arc::new(AtomicBool::new(false)),
    )
    .unwrap()
    .wait()
    .unwrap();
    assert_eq!(s.counters.ticks, 10_000);
    assert_eq!(s.counters.producer_dead, 0, "{:?}", s.counters);
}

// ---- negative balances: the margin core settles them through `Policy::cover_negative` ----

mod settlement {
    use super::super::core::{OrderSink, RiskCore};
    use super::super::margin_core::{MarginCore, Settled};
    use crate::margin::{BracketSpec, Instrument, InstrumentSpec, Kind, MarginMode, MarginState};
    use crate::policy::PolicyConfig;
    use hotrisk_feed::fixed::E8;
    use hotrisk_feed::wire::{Msg, MsgKind};

    /// BTCUSDT-like: tick 0.1, lot 0.001, 0.5 % maintenance, 0.5 % liquidation fee.
    fn btc() -> Instrument {
        Instrument::new(InstrumentSpec {
            symbol: "BTCUSDT".into(),
            kind: Kind::Linear,
            tick_size_e8: E8 / 10,
            lot_size_e8: E8 / 1000,
            contract_size_e8: E8,
            liquidation_fee_rate_e8: E8 / 200,
            brackets: vec![BracketSpec {
                notional_cap_e8: None,
                max_leverage_e8: 100 * E8,
                maintenance_margin_rate_e8: E8 / 200,
                maintenance_amount_e8: None,
            }],
        })
        .unwrap()
    }

    /// Account 1: wallet 10, long 1 @ 100 (cross; bankruptcy price 90), optionally an isolated
    /// short in instrument 1; account 2: wallet 1000, short 1 @ 100 (its counterparty).
    fn core(fund_e8: i64, isolated: bool) -> MarginCore {
        let mut st = MarginState::new(vec![btc(), btc()], vec![100 * E8, 100 * E8]).unwrap();
        st.add_account(1, 10 * E8).unwrap();
        st.add_position(1, 0, E8, 100 * E8, MarginMode::Cross, None)
            .unwrap();
        if isolated {
            st.add_position(
                1,
                1,
                -E8 / 1000,
                100 * E8,
                MarginMode::Isolated,
                Some(5 * E8),
            )
            .unwrap();
        }
        st.add_account(2, 1000 * E8).unwrap();
        st.add_position(2, 0, -E8, 100 * E8, MarginMode::Cross, None)
            .unwrap();
        st.evaluate_all();
        MarginCore::new(st, PolicyConfig::default(), fund_e8).unwrap()
    }

    fn fill(account: u32, instrument: u16, qty: i64, price: i64) -> Msg {
        let mut m = Msg::market(MsgKind::Fill, instrument, 1, 1);
        m.account = account;
        m.body = [qty, price, 0];
        m
    }

    fn wallet_e8(c: &MarginCore, account: u32) -> i128 {
        c.state().account(account).unwrap().wallet_balance / crate::margin::MONEY_PER_E8
    }

    #[test]
    fn fill_beyond_bankruptcy_is_covered_by_the_fund() {
        let mut c = core(1000 * E8, false);
        let mut out = OrderSink::with_capacity(64);
        // Closed at 80, 10 below bankruptcy: realised −20 on a wallet of 10.
        c.on_account(&fill(1, 0, -E8, 80 * E8), &mut out);
        assert_eq!(wallet_e8(&c, 1), 0, "the account ends at zero");
        assert_eq!(
            c.policy().fund().balance(),
            990 * E8,
            "the fund paid the debt"
        );
        assert_eq!(c.policy().fund().bad_debt_covered(), 10 * E8);
        let m = c.policy().metrics(0);
        assert_eq!(
            (m.bad_debt, m.written_off, m.fund_change),
            (i128::from(10 * E8), 0, -i128::from(10 * E8))
        );
        assert_eq!(
            c.settled(),
            Settled {
                count: 1,
                debt_e8: i128::from(10 * E8),
                covered_e8: i128::from(10 * E8),
                written_off_e8: 0,
            }
        );
        // The counterparty is untouched; a later fill of someone else settles nothing more.
        c.on_account(&fill(2, 0, E8 / 2, 80 * E8), &mut out);
        assert_eq!(c.settled().count, 1);
        assert_eq!(c.errors(), Default::default());
        assert!(c.summary().contains("negative balances settled: 1"));
    }

    #[test]
    fn a_short_fund_pays_what_it_has_and_the_rest_is_written_off() {
        let mut c = core(4 * E8, false);
        let mut out = OrderSink::with_capacity(64);
        c.on_account(&fill(1, 0, -E8, 80 * E8), &mut out);
        assert_eq!(wallet_e8(&c, 1), 0);
        assert_eq!(
            c.policy().fund().balance(),
            0,
            "the fund never goes negative"
        );
        let m = c.policy().metrics(0);
        assert_eq!(
            (m.bad_debt, m.written_off, m.fund_change),
            (i128::from(10 * E8), i128::from(6 * E8), -i128::from(4 * E8))
        );
        let s = c.settled();
        assert_eq!(
            (s.debt_e8, s.covered_e8, s.written_off_e8),
            (i128::from(10 * E8), i128::from(4 * E8), i128::from(6 * E8))
        );
        // An empty fund: everything is written off, the wallet still ends at zero.
        let mut c = core(0, false);
        c.on_account(&fill(1, 0, -E8, 70 * E8 + 3), &mut out);
        assert_eq!(wallet_e8(&c, 1), 0);
        assert_eq!(c.policy().fund().balance(), 0);
        assert_eq!(c.settled().written_off_e8, i128::from(20 * E8 - 3));
    }

    #[test]
    fn no_settlement_while_a_position_is_open_and_a_sub_e8_debt_rounds_up() {
        let mut c = core(1000 * E8, true);
        let mut out = OrderSink::with_capacity(64);
        // The cross long closes below zero, but the isolated short is still open: wait.
        c.on_account(&fill(1, 0, -E8, 80 * E8), &mut out);
        assert_eq!(wallet_e8(&c, 1), -10 * i128::from(E8));
        assert_eq!(c.settled(), Settled::default());
        assert_eq!(c.policy().fund().balance(), 1000 * E8);
        // The isolated short (0.001 @ 100) closes at 96.00000001: PnL 0.004 − 1e-11 and its
        // margin 5 back, so the wallet is −4.996 − 1e-11. The debt rounds up to the next E8
        // unit and the wallet ends in [0, 1 E8 unit).
        c.on_account(&fill(1, 1, E8 / 1000, 96 * E8 + 1), &mut out);
        let debt = 4_996 * E8 / 1000 + 1;
        assert_eq!(c.settled().debt_e8, i128::from(debt));
        assert_eq!(c.policy().fund().balance(), 1000 * E8 - debt);
        let w = c.state().account(1).unwrap().wallet_balance;
        assert!((0..crate::margin::MONEY_PER_E8).contains(&w), "{w}");
        assert_eq!(c.errors(), Default::default());
    }
}

/// `queue.lockstep`: after a record that caused an order, the next md record is read only once
/// that order has its answer; without lock-step the engine reads on regardless.
#[test]
fn lockstep_holds_market_data_until_every_order_is_answered() {
    for lockstep in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = cfg(dir.path());
        cfg.queue.lockstep = lockstep;
        cfg.health.exit_on_eof = false;
        let (mut w, md) = broadcast::channel::<Msg>(1024).unwrap();
        let (o_tx, mut o_rx) = spsc::channel::<Order>(1024).unwrap();
        let (mut a_tx, a_rx) = spsc::channel::<Msg>(1024).unwrap();
        let (journal, _) = JournalWriter::open(&cfg.journal.path, cfg.journal.capacity).unwrap();
        // The scripted path: orders after records 3, 4, 6 (two), 7 (three); 8 records in all.
        let path = [100, 99, 98, 95, 100, 103, 90, 90];
        for (i, px) in path.iter().enumerate() {
            let mut m = mark(*px);
            m.seq = i as u64 + 1;
            m.publish_ts = now_ns();
            w.publish(m);
        }
        let inputs = EngineInputs {
            core: ThresholdCore::new(positions(), 0).unwrap(),
            md,
            acct: Some(a_rx),
            orders: o_tx,
            journal,
            plan: RecoveryPlan::default(),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let running = start(&cfg, inputs, Arc::clone(&stop)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let next_order = |rx: &mut spsc::SpscConsumer<Order>| loop {
            if let Some(o) = rx.try_pop() {
                return o;
            }
            assert!(Instant::now() < deadline, "no order");
            std::thread::yield_now();
        };
        let first = next_order(&mut o_rx);
        assert_eq!((first.account, first.trigger_seq), (2, 3));
        // Give the engine time to read on, if it would.
        std::thread::sleep(Duration::from_millis(100));
        let ticks = running.counters().ticks;
        if !lockstep {
            assert_eq!(ticks, 8, "without lock-step every record is read");
            stop.store(true, Ordering::Relaxed);
            running.wait().unwrap();
            continue;
        }
        assert_eq!(ticks, 3, "record 4 was read before order 1 was answered");
        assert!(o_rx.try_pop().is_none());
        // Answer each order as it comes: the rest of the scripted path follows.
        let mut got = vec![(first.account, first.trigger_seq)];
        let mut o = first;
        let mut seq = 0;
        loop {
            seq += 1;
            let mut ack = Msg::market(MsgKind::OrderAck, 0, 0, 0);
            ack.seq = seq;
            ack.account = o.account;
            ack.body[0] = o.order_id as i64;
            assert!(a_tx.try_push(ack).is_ok());
            if got.len() == 7 {
                break;
            }
            o = next_order(&mut o_rx);
            got.push((o.account, o.trigger_seq));
        }
        assert_eq!(
            got,
            vec![(2, 3), (4, 4), (1, 6), (3, 6), (6, 7), (8, 7), (10, 7)]
        );
        while running.counters().ticks < 8 {
            assert!(
                Instant::now() < deadline,
                "record 8 never read after the last answer"
            );
            std::thread::yield_now();
        }
        w.close();
        stop.store(true, Ordering::Relaxed);
        let s = running.wait().unwrap();
        assert_eq!(s.counters.account_events, 7);
    }
}
