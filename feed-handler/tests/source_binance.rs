//! Binance JSON-lines source: the accepted line forms, the depth continuity check, bad lines.

use std::path::{Path, PathBuf};

use hotrisk_feed::source::{load, Format, Instruments, OnError};
use hotrisk_feed::wire::{MsgKind, Side};

fn fx(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn run(file: &str, policy: OnError) -> Result<hotrisk_feed::source::Loaded, String> {
    let mut t = Instruments::from_toml_file(&fx("instruments.toml")).unwrap();
    load(Format::Binance, &[fx(file)], &mut t, policy).map_err(|e| e.to_string())
}

#[test]
fn good_capture_decodes_every_event_kind() {
    let l = run("binance/good.jsonl", OnError::Stop).unwrap();
    let kinds: Vec<&str> = l.msgs.iter().map(|m| m.kind().unwrap().name()).collect();
    assert_eq!(
        kinds,
        vec![
            "snapshot_begin",
            "book",
            "book",
            "book",
            "snapshot_end", // snapshot line
            "book",
            "book",
            "book", // depth U=98..u=105 (the stale u=99 one is dropped)
            "book", // combined-stream depth
            "trade",
            "mark",
            "index",
            "funding",
            "liquidation",
        ]
    );
    assert_eq!(l.notes.len(), 1, "{:?}", l.notes);
    assert!(
        l.notes[0].contains("dropped 1 depth update"),
        "{:?}",
        l.notes
    );
    let t0 = 1_714_521_600_000_000_000i64;
    let trade = &l.msgs[9];
    assert_eq!(
        trade.aux,
        Side::Buy as u8,
        "m=false: the buyer was the taker"
    );
    assert_eq!(trade.body, [6_000_020_000_000, 40_000_000, 26129]);
    assert_eq!(trade.exch_ts, t0 + 4_000_000);
    assert_eq!(trade.local_ts, t0 + 5_000_000);
    let funding = &l.msgs[12];
    assert_eq!(funding.kind(), Some(MsgKind::Funding));
    assert_eq!(funding.body, [10_000, 1_714_550_400_000_000_000, 0]);
    let liq = &l.msgs[13];
    assert_eq!(liq.aux, Side::Sell as u8);
    assert_eq!(liq.body, [5_995_050_000_000, 1_400_000, 0]);
    let delete = &l.msgs[6];
    assert_eq!((delete.aux, delete.body[1]), (Side::Sell as u8, 0));
}

#[test]
fn pu_mismatch_is_a_fatal_book_gap() {
    for policy in [OnError::Stop, OnError::Skip] {
        let e = run("binance/gap.jsonl", policy).unwrap_err();
        assert!(
            e.ends_with("binance/gap.jsonl:2: book gap on BTCUSDT: pu 106 but the previous update ended at u 105"),
            "{e}"
        );
    }
}

#[test]
fn bad_lines_stop_or_are_skipped_and_reported() {
    let e = run("binance/bad.jsonl", OnError::Stop).unwrap_err();
    assert!(e.contains("binance/bad.jsonl:2: invalid JSON line"), "{e}");
    let l = run("binance/bad.jsonl", OnError::Skip).unwrap();
    assert_eq!(l.msgs.len(), 2);
    let r = l.skips.report();
    assert!(r.starts_with("skipped 3 bad row(s)"), "{r}");
    assert!(r.contains("bad.jsonl:2: invalid JSON line"), "{r}");
    assert!(
        r.contains("bad.jsonl:3: unsupported or malformed event: unknown variant `kline`"),
        "{r}"
    );
    assert!(
        r.contains("bad.jsonl:4: local_ts 1714521600001000 goes back in time"),
        "{r}"
    );
}

#[test]
fn unknown_symbol_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.jsonl");
    std::fs::write(
        &p,
        "{\"local_ts\":1,\"data\":{\"e\":\"aggTrade\",\"s\":\"DOGEUSDT\",\"a\":1,\"p\":\"0.1\",\"q\":\"5\",\"T\":1,\"m\":true}}\n",
    )
    .unwrap();
    let mut t = Instruments::from_toml_file(&fx("instruments.toml")).unwrap();
    let e = load(Format::Binance, &[p], &mut t, OnError::Stop)
        .unwrap_err()
        .to_string();
    assert!(
        e.ends_with("x.jsonl:1: unknown symbol \"DOGEUSDT\" (not in the instrument table)"),
        "{e}"
    );
}
