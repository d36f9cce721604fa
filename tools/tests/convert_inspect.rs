//! `hotrisk-tools convert` and `inspect` as a user runs them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fx(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../feed-handler/tests/fixtures")
        .join(name)
}

fn tools(args: &[&str], paths: &[&Path]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hotrisk-tools"));
    c.args(args).args(paths);
    c.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn convert_tardis_then_inspect_the_capture() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.hrcap");
    let o = tools(
        &[
            "convert",
            "--from",
            "tardis",
            "--out",
            out.to_str().unwrap(),
            "--instruments",
        ],
        &[
            &fx("instruments.toml"),
            &fx("tardis/book.csv"),
            &fx("tardis/trades.csv"),
            &fx("tardis/ticker.csv"),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("wrote 23 msgs, 2 instrument(s) (BTCUSDT, ETHUSDT)"));
    let o = tools(&["inspect"], &[&out]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    for want in [
        "23 records",
        "0  BTCUSDT          16 msgs",
        "1  ETHUSDT          7 msgs",
        "local time    2024-05-01T00:00:00.001Z → 2024-05-01T00:00:00.201Z",
        "seq 1 → 23 (contiguous)",
        "trade            3",
        "book             10",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

#[test]
fn convert_binance_good_and_bad() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b.hrcap");
    let o = tools(
        &[
            "convert",
            "--from",
            "binance",
            "--out",
            out.to_str().unwrap(),
        ],
        &[&fx("binance/good.jsonl")],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("wrote 14 msgs"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("dropped 1 depth update"),
        "{}",
        stderr(&o)
    );
    let o = tools(
        &[
            "convert",
            "--from",
            "binance",
            "--out",
            out.to_str().unwrap(),
        ],
        &[&fx("binance/gap.jsonl")],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(
        "gap.jsonl:2: book gap on BTCUSDT: pu 106 but the previous update ended at u 105"
    ));
    let o = tools(
        &[
            "convert",
            "--from",
            "binance",
            "--on-error",
            "skip",
            "--out",
            out.to_str().unwrap(),
        ],
        &[&fx("binance/bad.jsonl")],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("skipped 3 bad row(s)"), "{e}");
    for line in [":2: invalid JSON line", ":3: unsupported", ":4: local_ts"] {
        assert!(e.contains(line), "missing {line} in {e}");
    }
}

#[test]
fn convert_and_inspect_reject_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.hrcap");
    for (file, want) in [
        ("tardis/bad_row.csv", "bad_row.csv:3: price"),
        (
            "tardis/bad_header.csv",
            "bad_header.csv:1: wrong column header",
        ),
        (
            "tardis/non_monotonic.csv",
            "non_monotonic.csv:4: local_timestamp",
        ),
    ] {
        let o = tools(
            &[
                "convert",
                "--from",
                "tardis",
                "--out",
                out.to_str().unwrap(),
            ],
            &[&fx(file)],
        );
        assert_eq!(o.status.code(), Some(2), "{file}");
        assert!(stderr(&o).contains(want), "{file}: {}", stderr(&o));
    }
    let o = tools(&["inspect"], &[&fx("capture/bad_version.hrcap")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("bad_version.hrcap:byte 8: capture version 1 expected, file has 2"));
    let o = tools(&["inspect"], &[&fx("tardis/book.csv")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("book.csv:byte 0: not a ring, capture or journal"));
}

#[test]
fn inspect_shows_a_journal_from_the_engine() {
    use hotrisk_engine::journal::{JournalWriter, Record};
    use hotrisk_feed::wire::{order_id, MsgKind, Order, Side, Tier, FLAG_REDUCE_ONLY, TIF_IOC};
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("j.journal");
    {
        let (mut w, existing) = JournalWriter::open(&p, 16).unwrap();
        assert!(existing.is_empty());
        let o = Order {
            order_id: order_id(7, 42, 0),
            trigger_seq: 42,
            trigger_publish_ts: 0,
            emit_ts: 0,
            kind: MsgKind::Order as u8,
            side: Side::Sell as u8,
            instrument: 1,
            account: 7,
            qty: 150_000_000,
            limit_price: 5_990_000_000_000,
            tier: Tier::Partial as u8,
            tif: TIF_IOC,
            flags: FLAG_REDUCE_ONLY,
            attempt: 0,
            reserved: 0,
        };
        w.append(Record::order(&o, 0)).unwrap();
        let s = w.sync_handle();
        s.flush().unwrap();
    }
    let o = tools(&["inspect"], &[&p]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(text.contains("orders 1"), "{text}");
    assert!(
        text.contains("acct=7") && text.contains("trigger=42"),
        "{text}"
    );
}

#[test]
fn inspect_shows_a_ring_with_its_readers_lag() {
    use hotrisk_feed::ring::broadcast::{BroadcastReader, BroadcastWriter, ReadOutcome};
    use hotrisk_feed::wire::{Msg, MsgKind};
    let dir = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let ring = dir.join(format!("hotrisk-test-inspect-{}", std::process::id()));
    let mut w = BroadcastWriter::<Msg>::create(&ring, 64).unwrap();
    let mut r = BroadcastReader::<Msg>::attach(&ring).unwrap();
    for i in 0..10 {
        w.publish(Msg::market(MsgKind::MarkPrice, 0, i, i));
    }
    w.heartbeat();
    for _ in 0..4 {
        assert!(matches!(r.try_read(), ReadOutcome::Item(_)));
    }
    let o = tools(&["inspect"], &[&ring]);
    let text = String::from_utf8_lossy(&o.stdout);
    let _ = std::fs::remove_file(&ring);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(text.contains("kind broadcast"), "{text}");
    assert!(
        text.contains(&format!("producer pid {}", std::process::id())),
        "{text}"
    );
    assert!(
        text.contains("heartbeat") && text.contains("ms ago · open"),
        "{text}"
    );
    assert!(text.contains("write cursor 10"), "{text}");
    assert!(text.contains("read 4 · lag 6 · lost 0"), "{text}");
}
