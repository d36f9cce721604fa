//! Native capture files: header checks with byte offsets, and the conversion round trip.

use std::path::{Path, PathBuf};

use hotrisk_feed::capture::{self, CaptureReader};
use hotrisk_feed::source::{load, Format, Instruments, OnError};

fn fx(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn wrong_magic_and_version_name_the_offset() {
    let e = CaptureReader::open(&fx("capture/bad_magic.hrcap"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("bad_magic.hrcap:byte 0: not a hotrisk capture: magic \"HRCAPTUR\" expected, file starts with \"HRCAPTUX\""), "{e}");
    let e = CaptureReader::open(&fx("capture/bad_version.hrcap"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bad_version.hrcap:byte 8: capture version 1 expected, file has 2"),
        "{e}"
    );
    let e = CaptureReader::open(&fx("tardis/book.csv"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("book.csv:byte 0: not a hotrisk capture"), "{e}");
}

#[test]
fn tardis_to_capture_round_trips_with_symbol_table() {
    let mut inst = Instruments::from_toml_file(&fx("instruments.toml")).unwrap();
    let l = load(
        Format::Tardis,
        &[
            fx("tardis/book.csv"),
            fx("tardis/trades.csv"),
            fx("tardis/ticker.csv"),
        ],
        &mut inst,
        OnError::Stop,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.hrcap");
    assert_eq!(
        capture::write_file(&p, inst.symbols(), &l.msgs).unwrap(),
        23
    );
    let (h, back) = CaptureReader::read_all(&p).unwrap();
    assert_eq!(h.symbols, ["BTCUSDT", "ETHUSDT"]);
    assert_eq!(back, l.msgs);
    // An unfinished capture (count still 0) is recognised as such.
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[16..24].copy_from_slice(&0u64.to_le_bytes());
    std::fs::write(&p, &bytes).unwrap();
    let e = CaptureReader::open(&p).unwrap_err().to_string();
    assert!(
        e.contains(":byte 128: header says 0 records but 1472 bytes follow"),
        "{e}"
    );
}
