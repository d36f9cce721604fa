//! The `feed-handler` binary end to end over a real /dev/shm ring:
//! Tardis fixture → native capture → `replay` into a ring → `capture` again = the identical file.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use hotrisk_feed::capture;
use hotrisk_feed::source::{load, Format, Instruments, OnError};

fn fx(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_feed-handler"))
}

fn shm(name: &str) -> PathBuf {
    let dir = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("hotrisk-test-{}-{name}", std::process::id()))
}

fn tardis_capture(dir: &Path) -> PathBuf {
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
    let p = dir.join("fixture.hrcap");
    capture::write_file(&p, inst.symbols(), &l.msgs).unwrap();
    p
}

fn ok(c: &mut Command) -> String {
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{c:?} failed: {err}");
    err
}

#[test]
fn replay_then_capture_from_start_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let a = tardis_capture(dir.path());
    let ring = shm("rt1");
    let b = dir.path().join("again.hrcap");
    let err = ok(bin().arg("replay").arg(&a).arg("--ring").arg(&ring).args([
        "--max-speed",
        "--capacity",
        "1024",
        "--quiet",
    ]));
    assert!(err.contains("published 23 msgs"), "{err}");
    ok(bin()
        .args(["capture", "--from-start", "--ring"])
        .arg(&ring)
        .arg("--out")
        .arg(&b)
        .arg("--instruments")
        .arg(&a));
    let _ = std::fs::remove_file(&ring);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

#[test]
fn live_capture_of_a_paced_replay_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let a = tardis_capture(dir.path());
    let ring = shm("rt2");
    let b = dir.path().join("live.hrcap");
    // The replay creates the ring and waits for one reader; the capture waits for the ring.
    let replay = bin()
        .arg("replay")
        .arg(&a)
        .arg("--ring")
        .arg(&ring)
        .args(["--speed", "10", "--wait-readers", "1", "--quiet"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    ok(bin()
        .args(["capture", "--ring"])
        .arg(&ring)
        .arg("--out")
        .arg(&b)
        .arg("--instruments")
        .arg(fx("instruments.toml")));
    let out = replay.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("publish lateness"), "{err}");
    let _ = std::fs::remove_file(&ring);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

#[test]
fn bad_inputs_exit_non_zero_with_file_and_line() {
    let ring = shm("bad");
    for (args, want) in [
        (vec!["tardis", "tardis/bad_row.csv"], "bad_row.csv:3: price"),
        (
            vec!["tardis", "tardis/bad_header.csv"],
            "bad_header.csv:1: wrong column header",
        ),
        (
            vec!["binance", "binance/gap.jsonl"],
            "gap.jsonl:2: book gap on BTCUSDT",
        ),
        (
            vec!["replay", "capture/bad_magic.hrcap"],
            "bad_magic.hrcap:byte 0: not a hotrisk capture",
        ),
        (
            vec!["replay", "capture/bad_version.hrcap"],
            "bad_version.hrcap:byte 8: capture version 1 expected",
        ),
    ] {
        let out = bin()
            .arg(args[0])
            .arg(fx(args[1]))
            .arg("--ring")
            .arg(&ring)
            .arg("--max-speed")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let out = bin()
        .arg("tardis")
        .arg(fx("tardis/unknown_symbol.csv"))
        .arg("--instruments")
        .arg(fx("instruments.toml"))
        .arg("--ring")
        .arg(&ring)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("unknown_symbol.csv:3: unknown symbol \"XRPUSDT\""));
    // Skipping publishes the good rows and lists every skipped one.
    let out = bin()
        .arg("tardis")
        .arg(fx("tardis/bad_row.csv"))
        .args(["--on-error", "skip", "--max-speed", "--quiet", "--ring"])
        .arg(&ring)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("published 2 msgs") && err.contains("skipped 2 bad row(s)"),
        "{err}"
    );
    assert!(
        err.contains("bad_row.csv:3:") && err.contains("bad_row.csv:4:"),
        "{err}"
    );
    let _ = std::fs::remove_file(&ring);
}

#[test]
fn synthetic_capture_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, seed: &str| {
        let p = dir.path().join(name);
        ok(bin()
            .args([
                "synthetic",
                "--scenario",
                "flash",
                "--seed",
                seed,
                "--duration-ms",
                "300",
                "--out",
            ])
            .arg(&p));
        std::fs::read(p).unwrap()
    };
    let (a, b, c) = (run("a", "5"), run("b", "5"), run("c", "6"));
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn capture_consumes_an_spsc_ring() {
    use hotrisk_feed::ring::spsc::SpscProducer;
    use hotrisk_feed::wire::{Msg, MsgKind};
    let dir = tempfile::tempdir().unwrap();
    let ring = shm("spsc");
    let mut p = SpscProducer::<Msg>::create(&ring, 64).unwrap();
    let msgs: Vec<Msg> = (1..=10)
        .map(|i| {
            let mut m = Msg::market(MsgKind::Fill, 0, i, i);
            m.seq = i as u64;
            m.account = 3;
            m.body = [i, 2 * i, 0];
            m
        })
        .collect();
    for m in &msgs {
        p.try_push(*m).unwrap();
    }
    p.close();
    let out = dir.path().join("acct.hrcap");
    ok(bin()
        .args(["capture", "--ring"])
        .arg(&ring)
        .arg("--out")
        .arg(&out));
    let _ = std::fs::remove_file(&ring);
    let (_, back) = capture::CaptureReader::read_all(&out).unwrap();
    assert_eq!(back, msgs);
}

#[test]
fn lossless_replay_never_laps_a_slow_capture_through_a_tiny_ring() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("synthetic.hrcap");
    ok(bin()
        .args([
            "synthetic",
            "--scenario",
            "crash",
            "--seed",
            "9",
            "--duration-ms",
            "400",
            "--out",
        ])
        .arg(&a));
    let ring = shm("lossless");
    let b = dir.path().join("b.hrcap");
    let replay = bin()
        .arg("replay")
        .arg(&a)
        .arg("--ring")
        .arg(&ring)
        .args([
            "--capacity",
            "16",
            "--max-speed",
            "--lossless",
            "--wait-readers",
            "1",
            "--quiet",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    ok(bin()
        .args(["capture", "--ring"])
        .arg(&ring)
        .arg("--out")
        .arg(&b)
        .arg("--instruments")
        .arg(&a));
    let out = replay.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_file(&ring);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}
