//! Tardis CSV source: the hand-written fixtures, every bad-input case, and the merge order.

use std::io::Write;
use std::path::{Path, PathBuf};

use hotrisk_feed::source::{load, Format, Instruments, OnError};
use hotrisk_feed::wire::{Msg, MsgKind, Side};

fn fx(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn table() -> Instruments {
    Instruments::from_toml_file(&fx("instruments.toml")).unwrap()
}

fn load_tardis(files: &[&str], policy: OnError) -> Result<hotrisk_feed::source::Loaded, String> {
    let paths: Vec<PathBuf> = files.iter().map(|f| fx(f)).collect();
    load(Format::Tardis, &paths, &mut table(), policy).map_err(|e| e.to_string())
}

const T0: i64 = 1_714_521_600_000_000_000;

fn tag(m: &Msg) -> (&'static str, u16, i64) {
    (
        m.kind().unwrap().name(),
        m.instrument,
        (m.local_ts - T0) / 1000,
    )
}

#[test]
fn book_snapshot_blocks_are_framed_and_values_exact() {
    let l = load_tardis(&["tardis/book.csv"], OnError::Stop).unwrap();
    let tags: Vec<_> = l.msgs.iter().map(tag).collect();
    assert_eq!(
        tags,
        vec![
            ("snapshot_begin", 0, 1000),
            ("book", 0, 1000),
            ("book", 0, 1000),
            ("book", 0, 1000),
            ("book", 0, 1000),
            ("snapshot_end", 0, 1000),
            ("snapshot_begin", 1, 1000),
            ("book", 1, 1000),
            ("book", 1, 1000),
            ("snapshot_end", 1, 1000),
            ("book", 0, 101_000),
            ("book", 0, 101_000),
            ("book", 1, 151_000),
            ("book", 0, 201_000),
        ]
    );
    let first = &l.msgs[1];
    assert_eq!(first.aux, Side::Sell as u8);
    assert_eq!(first.body, [6_000_010_000_000, 150_000_000, 0]);
    assert_eq!(first.exch_ts, T0);
    assert_eq!(first.local_ts, T0 + 1_000_000);
    let delete = &l.msgs[10];
    assert_eq!(delete.body[1], 0, "amount 0 deletes the level");
    let seqs: Vec<u64> = l.msgs.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=14).collect::<Vec<_>>());
}

#[test]
fn merge_is_by_local_time_with_trades_before_book_rows() {
    // Book file first on the command line: the rank, not the order, puts trades first at ties.
    let l = load_tardis(
        &["tardis/book.csv", "tardis/ticker.csv", "tardis/trades.csv"],
        OnError::Stop,
    )
    .unwrap();
    let tags: Vec<_> = l.msgs.iter().map(tag).collect();
    let at = |ts: i64| -> Vec<(&str, u16)> {
        tags.iter()
            .filter(|t| t.2 == ts)
            .map(|t| (t.0, t.1))
            .collect()
    };
    // At 1000 µs: ticker (rank 1) before the book snapshots (rank 2).
    assert_eq!(
        &at(1000)[..4],
        &[
            ("mark", 0),
            ("index", 0),
            ("funding", 0),
            ("snapshot_begin", 0)
        ]
    );
    // At 101000 µs: trade, then the ticker's mark and funding, then the two book rows.
    assert_eq!(
        at(101_000),
        vec![
            ("trade", 0),
            ("mark", 0),
            ("funding", 0),
            ("book", 0),
            ("book", 0)
        ]
    );
    assert_eq!(at(201_000), vec![("trade", 0), ("book", 0)]);
    assert!(l.msgs.windows(2).all(|w| w[0].local_ts <= w[1].local_ts));
    assert_eq!(l.msgs.len(), 14 + 3 + 6);
    // Empty ticker fields give no message; the ETH row carries only the index.
    assert_eq!(at(51_000), vec![("index", 1)]);
    let funding = l
        .msgs
        .iter()
        .find(|m| m.kind() == Some(MsgKind::Funding))
        .unwrap();
    assert_eq!(funding.body, [10_000, 1_714_550_400_000_000_000, 0]);
}

#[test]
fn malformed_row_stops_with_file_and_line() {
    let e = load_tardis(&["tardis/bad_row.csv"], OnError::Stop).unwrap_err();
    assert!(e.ends_with("tardis/bad_row.csv:3: price: invalid decimal \"60000.1.2\": expected digits with an optional sign and point"), "{e}");
}

#[test]
fn skip_policy_reports_every_skipped_line() {
    let l = load_tardis(&["tardis/bad_row.csv"], OnError::Skip).unwrap();
    assert_eq!(l.msgs.len(), 2);
    assert_eq!(l.skips.len(), 2);
    let report = l.skips.report();
    assert!(report.starts_with("skipped 2 bad row(s)"), "{report}");
    assert!(report.contains("bad_row.csv:3: price"), "{report}");
    assert!(
        report.contains("bad_row.csv:4: expected 8 fields, found 7"),
        "{report}"
    );
}

#[test]
fn wrong_column_header_is_fatal_even_when_skipping() {
    let e = load_tardis(&["tardis/bad_header.csv"], OnError::Skip).unwrap_err();
    assert!(e.contains("bad_header.csv:1: wrong column header"), "{e}");
}

#[test]
fn non_monotonic_local_timestamps_are_rejected() {
    let e = load_tardis(&["tardis/non_monotonic.csv"], OnError::Stop).unwrap_err();
    assert!(
        e.ends_with("non_monotonic.csv:4: local_timestamp 1714521600151000 goes back in time (previous row at line 3 had 1714521600201000)"),
        "{e}"
    );
    let l = load_tardis(&["tardis/non_monotonic.csv"], OnError::Skip).unwrap();
    assert_eq!(l.msgs.len(), 3);
}

#[test]
fn unknown_symbol_is_an_error_with_a_fixed_table_and_assigned_with_an_open_one() {
    let e = load_tardis(&["tardis/unknown_symbol.csv"], OnError::Stop).unwrap_err();
    assert!(
        e.ends_with(
            "unknown_symbol.csv:3: unknown symbol \"XRPUSDT\" (not in the instrument table)"
        ),
        "{e}"
    );
    let mut open = Instruments::open();
    let l = load(
        Format::Tardis,
        &[fx("tardis/unknown_symbol.csv")],
        &mut open,
        OnError::Stop,
    )
    .unwrap();
    assert_eq!(open.symbols(), ["BTCUSDT", "XRPUSDT"]);
    assert_eq!(l.msgs[1].instrument, 1);
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn gzip_input_reads_the_same_and_truncated_gzip_fails() {
    let dir = tempfile::tempdir().unwrap();
    let plain = std::fs::read(fx("tardis/book.csv")).unwrap();
    let good = dir.path().join("book.csv.gz");
    let z = gz(&plain);
    std::fs::write(&good, &z).unwrap();
    let a = load(Format::Tardis, &[good], &mut table(), OnError::Stop).unwrap();
    let b = load_tardis(&["tardis/book.csv"], OnError::Stop).unwrap();
    assert_eq!(a.msgs, b.msgs);
    let cut = dir.path().join("cut.csv.gz");
    std::fs::write(&cut, &z[..z.len() * 2 / 3]).unwrap();
    for policy in [OnError::Stop, OnError::Skip] {
        let e = load(
            Format::Tardis,
            std::slice::from_ref(&cut),
            &mut table(),
            policy,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("cut.csv.gz:") && e.contains("truncated"), "{e}");
    }
}

#[test]
fn csv_writer_round_trips_synthetic_book_and_trades() {
    use hotrisk_feed::source::synthetic::{Scenario, SynthConfig, Synthetic};
    let mut cfg = SynthConfig::new(3, &["BTCUSDT".into(), "ETHUSDT".into()], Scenario::Flash);
    cfg.duration_ns = 200_000_000;
    let g = Synthetic::new(cfg);
    let syms = g.symbols();
    let msgs: Vec<Msg> = g
        .filter(|m| {
            matches!(
                m.kind(),
                Some(
                    MsgKind::BookLevel
                        | MsgKind::Trade
                        | MsgKind::SnapshotBegin
                        | MsgKind::SnapshotEnd
                )
            )
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let (mut book, mut trades) = (Vec::new(), Vec::new());
    hotrisk_feed::source::tardis::write_csv(&mut book, &mut trades, &syms, &msgs).unwrap();
    std::fs::write(dir.path().join("b.csv"), book).unwrap();
    std::fs::write(dir.path().join("t.csv.gz"), gz(&trades)).unwrap();
    let mut inst = Instruments::fixed(syms).unwrap();
    let mut back = load(
        Format::Tardis,
        &[dir.path().join("b.csv"), dir.path().join("t.csv.gz")],
        &mut inst,
        OnError::Stop,
    )
    .unwrap()
    .msgs;
    for m in &mut back {
        m.seq = 0;
    }
    // Same multiset per local time; order within a time follows the merge rule (trades first).
    let key = |m: &Msg| (m.local_ts, m.kind != MsgKind::Trade as u8);
    let mut want = msgs.clone();
    want.sort_by_key(key);
    assert_eq!(back.len(), want.len());
    assert_eq!(back, want);
}
