//! Ring files from the outside: corrupted headers are rejected with the right error (one test per
//! field), raw bytes written into a live file simulate a torn or overwritten broadcast slot, a
//! stale heartbeat reads as a dead producer, and `RingInfo` shows the header, cursors and readers.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use hotrisk_feed::ring::broadcast::{BroadcastReader, BroadcastWriter, ReadOutcome};
use hotrisk_feed::ring::layout::{self, RingKind};
use hotrisk_feed::ring::spsc::{SpscConsumer, SpscProducer};
use hotrisk_feed::ring::{RingError, RingInfo};
use hotrisk_feed::Msg;

/// A unique ring path under /dev/shm, removed on drop.
struct ShmPath(PathBuf);
impl ShmPath {
    fn new(name: &str) -> Self {
        let p = PathBuf::from(format!(
            "/dev/shm/hotrisk-hdr-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&p);
        Self(p)
    }
}
impl Drop for ShmPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn poke(path: &Path, word: usize, value: u64) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(&value.to_le_bytes(), (word * 8) as u64)
        .unwrap();
}

fn peek(path: &Path, word: usize) -> u64 {
    let f = std::fs::File::open(path).unwrap();
    let mut b = [0u8; 8];
    f.read_exact_at(&mut b, (word * 8) as u64).unwrap();
    u64::from_le_bytes(b)
}

/// An SPSC ring of `Msg` with capacity 8, its producer dropped (file kept).
fn spsc_file(name: &str) -> ShmPath {
    let p = ShmPath::new(name);
    drop(SpscProducer::<Msg>::create(&p.0, 8).unwrap());
    p
}

fn header_err(e: RingError) -> (&'static str, u64, u64, String) {
    let text = e.to_string();
    match e {
        RingError::Header {
            field,
            expected,
            found,
            ..
        } => (field, expected, found, text),
        other => panic!("expected a header field error, got {other:?}"),
    }
}

#[test]
fn wrong_magic_is_rejected() {
    let p = spsc_file("magic");
    poke(&p.0, layout::MAGIC_W, 0x1234);
    let e = SpscConsumer::<Msg>::attach(&p.0).unwrap_err();
    assert!(
        matches!(e, RingError::BadMagic { found: 0x1234, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("not a hotrisk ring"), "{e}");
    assert!(e.to_string().contains(&p.0.display().to_string()), "{e}");
}

#[test]
fn wrong_version_names_expected_and_found() {
    let p = spsc_file("version");
    assert_eq!(layout::LAYOUT_VERSION, 2);
    // A version-1 file (SPSC slots without a sequence word) must not be read as version 2.
    poke(&p.0, layout::VERSION_W, 1);
    let (field, expected, found, text) = header_err(SpscConsumer::<Msg>::attach(&p.0).unwrap_err());
    assert_eq!((field, expected, found), ("layout version", 2, 1));
    assert!(
        text.ends_with("ring layout version 2 expected, file has 1"),
        "{text}"
    );
    poke(&p.0, layout::VERSION_W, 3);
    let (_, expected, found, _) = header_err(BroadcastReader::<Msg>::attach(&p.0).unwrap_err());
    assert_eq!((expected, found), (2, 3));
}

#[test]
fn wrong_kind_is_rejected() {
    let p = spsc_file("kind");
    let (field, expected, found, _) = header_err(BroadcastReader::<Msg>::attach(&p.0).unwrap_err());
    assert!(field.starts_with("ring kind"));
    assert_eq!((expected, found), (2, 1));
    poke(&p.0, layout::KIND_W, 7);
    let (_, expected, found, _) = header_err(SpscConsumer::<Msg>::attach(&p.0).unwrap_err());
    assert_eq!((expected, found), (1, 7));
}

#[test]
fn message_size_mismatch_is_rejected() {
    let p = spsc_file("msgsize");
    let (field, expected, found, text) = header_err(SpscConsumer::<u64>::attach(&p.0).unwrap_err());
    assert_eq!((field, expected, found), ("message size", 8, 64));
    assert!(
        text.contains("ring message size 8 expected, file has 64"),
        "{text}"
    );
    poke(&p.0, layout::MSG_SIZE_W, 72);
    let (field, expected, found, _) = header_err(SpscConsumer::<Msg>::attach(&p.0).unwrap_err());
    assert_eq!((field, expected, found), ("message size", 64, 72));
}

#[test]
fn capacity_not_a_power_of_two_is_rejected() {
    let p = spsc_file("cap");
    for bad in [0, 1, 6, 1000] {
        poke(&p.0, layout::CAPACITY_W, bad);
        let e = SpscConsumer::<Msg>::attach(&p.0).unwrap_err();
        assert!(
            matches!(e, RingError::CapacityNotPowerOfTwo { found, .. } if found == bad),
            "{e:?}"
        );
    }
    assert!(matches!(
        SpscProducer::<Msg>::create(&p.0, 12),
        Err(RingError::InvalidCapacity(12))
    ));
}

#[test]
fn file_too_small_for_declared_capacity_is_rejected() {
    let p = spsc_file("small");
    poke(&p.0, layout::CAPACITY_W, 1 << 20);
    let e = SpscConsumer::<Msg>::attach(&p.0).unwrap_err();
    match &e {
        RingError::FileTooSmall {
            needed,
            found,
            what,
            ..
        } => {
            assert_eq!(*needed, (layout::HEADER_BYTES + (1 << 20) * 128) as u64);
            assert_eq!(*found, (layout::HEADER_BYTES + 8 * 128) as u64);
            assert_eq!(*what, "the declared capacity");
        }
        other => panic!("{other:?}"),
    }
    // A file cut inside the header.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p.0)
        .unwrap()
        .set_len(100)
        .unwrap();
    let e = SpscConsumer::<Msg>::attach(&p.0).unwrap_err();
    assert!(
        matches!(
            e,
            RingError::FileTooSmall {
                found: 100,
                what: "the ring header",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(matches!(
        RingInfo::read(&p.0),
        Err(RingError::FileTooSmall { found: 100, .. })
    ));
}

#[test]
fn stride_offset_and_reader_slot_count_are_checked() {
    for (word, field, good) in [
        (layout::STRIDE_W, "slot stride", 128),
        (
            layout::DATA_OFFSET_W,
            "data offset",
            layout::HEADER_BYTES as u64,
        ),
        (
            layout::READER_SLOTS_W,
            "reader slot count",
            layout::READER_SLOTS as u64,
        ),
    ] {
        let p = spsc_file("geom");
        poke(&p.0, word, good + 8);
        let (f, expected, found, _) = header_err(SpscConsumer::<Msg>::attach(&p.0).unwrap_err());
        assert_eq!((f, expected, found), (field, good, good + 8));
    }
}

#[test]
fn missing_file_is_an_io_error_naming_the_path() {
    let p = ShmPath::new("missing");
    let e = SpscConsumer::<Msg>::attach(&p.0).unwrap_err();
    assert!(matches!(e, RingError::Io { .. }), "{e:?}");
    assert!(e.to_string().contains("hotrisk-hdr-"), "{e}");
}

#[test]
fn second_spsc_consumer_is_refused_and_resumes_after_the_first() {
    let p = ShmPath::new("consumers");
    let mut tx = SpscProducer::<u64>::create(&p.0, 4).unwrap();
    let mut rx = SpscConsumer::<u64>::attach(&p.0).unwrap();
    assert!(matches!(
        SpscConsumer::<u64>::attach(&p.0),
        Err(RingError::ConsumerAttached { .. })
    ));
    for v in 1..=3 {
        tx.try_push(v).unwrap();
    }
    assert_eq!(rx.try_pop(), Some(1));
    drop(rx);
    let mut rx = SpscConsumer::<u64>::attach(&p.0).unwrap();
    assert_eq!(rx.popped(), 1, "resumes from the read cursor in the file");
    assert_eq!(rx.try_pop(), Some(2));
    assert_eq!(rx.try_pop(), Some(3));
    assert_eq!(rx.try_pop(), None);
}

#[test]
fn raw_bytes_simulate_busy_and_overwritten_broadcast_slots() {
    let p = ShmPath::new("torn");
    let mut w = BroadcastWriter::<u64>::create(&p.0, 4).unwrap();
    let mut r = BroadcastReader::<u64>::attach(&p.0).unwrap();
    for s in 1..=3u64 {
        w.publish(s * 11);
    }
    let stride_w = RingKind::Broadcast.stride(8) / 8;
    let seq_word = |s: u64| layout::HEADER_WORDS + ((s - 1) as usize % 4) * stride_w;
    // Message 2's slot caught mid-write (BUSY marker), as another process would leave it.
    poke(&p.0, seq_word(2), 2 | layout::BUSY);
    assert_eq!(r.try_read(), ReadOutcome::Item(11));
    assert_eq!(
        r.try_read(),
        ReadOutcome::Empty,
        "a slot mid-write is not data"
    );
    // Now the slot says message 6 overwrote it: the reader was lapped and says by how much.
    poke(&p.0, seq_word(2), 6);
    poke(&p.0, seq_word(2) + 1, 0xdead);
    assert_eq!(
        r.try_read(),
        ReadOutcome::Lapped {
            expected: 2,
            resumed_at: 3
        }
    );
    assert_eq!(r.try_read(), ReadOutcome::Item(33));
    assert_eq!(r.lost(), 1);
    // A garbage value never comes back as data.
    assert_eq!(r.try_read(), ReadOutcome::Empty);
}

#[test]
fn attach_at_resumes_and_reports_overwritten_history() {
    let p = ShmPath::new("resume");
    let mut w = BroadcastWriter::<u64>::create(&p.0, 4).unwrap();
    for s in 1..=6u64 {
        w.publish(s);
    }
    let mut r = BroadcastReader::<u64>::attach_at(&p.0, 5).unwrap();
    assert_eq!(r.try_read(), ReadOutcome::Item(5));
    let mut old = BroadcastReader::<u64>::attach_at(&p.0, 1).unwrap();
    assert_eq!(
        old.try_read(),
        ReadOutcome::Lapped {
            expected: 1,
            resumed_at: 4
        }
    );
    let fresh = BroadcastReader::<u64>::attach(&p.0).unwrap();
    assert_eq!(fresh.next_seq(), 7);
}

#[test]
fn stale_heartbeat_reads_as_dead_producer() {
    let p = ShmPath::new("heartbeat");
    let tx = SpscProducer::<Msg>::create(&p.0, 8).unwrap();
    let rx = SpscConsumer::<Msg>::attach(&p.0).unwrap();
    assert!(rx.producer_alive(5_000_000_000));
    let now = hotrisk_feed::clock::now_ns() as u64;
    poke(&p.0, layout::HEARTBEAT_W, now - 10_000_000_000);
    assert!(!rx.producer_alive(1_000_000_000), "10 s old heartbeat");
    assert!(rx.producer_heartbeat_age_ns() >= 10_000_000_000);
    tx.heartbeat();
    assert!(rx.producer_alive(1_000_000_000));
}

#[test]
fn ring_info_reads_header_cursors_and_readers_from_outside() {
    let p = ShmPath::new("info");
    let mut w = BroadcastWriter::<Msg>::create(&p.0, 16).unwrap();
    let mut r1 = BroadcastReader::<Msg>::attach(&p.0).unwrap();
    let _r2 = BroadcastReader::<Msg>::attach(&p.0).unwrap();
    for _ in 0..5 {
        w.publish(Msg::market(hotrisk_feed::MsgKind::Heartbeat, 0, 0, 0));
    }
    for _ in 0..3 {
        assert!(matches!(r1.try_read(), ReadOutcome::Item(_)));
    }
    let info = RingInfo::read(&p.0).unwrap();
    assert_eq!(info.geometry.kind, RingKind::Broadcast);
    assert_eq!(info.geometry.capacity, 16);
    assert_eq!(info.geometry.msg_size, 64);
    assert_eq!(info.geometry.stride, 128);
    assert_eq!(info.write_cursor, 5);
    assert_eq!(info.producer_pid, u64::from(std::process::id()));
    assert!(!info.closed);
    assert!(info.created_wall_ns > 1_600_000_000_000_000_000);
    let lags: Vec<(u64, u64)> = info.readers.iter().map(|r| (r.position, r.lag)).collect();
    assert_eq!(lags, vec![(3, 2), (0, 5)]);
    let text = info.to_string();
    assert!(text.contains("kind broadcast"), "{text}");
    assert!(text.contains("lag 2"), "{text}");
    w.close();
    assert!(RingInfo::read(&p.0).unwrap().closed);
    assert_eq!(peek(&p.0, layout::MAGIC_W), layout::MAGIC);
}

#[test]
fn ring_info_counts_a_published_slot_the_write_cursor_has_not_caught_up_with() {
    let p = ShmPath::new("info-spsc");
    let mut tx = SpscProducer::<Msg>::create(&p.0, 4).unwrap();
    let mut rx = SpscConsumer::<Msg>::attach(&p.0).unwrap();
    for _ in 0..6 {
        if tx
            .try_push(Msg::market(hotrisk_feed::MsgKind::Trade, 1, 0, 0))
            .is_err()
        {
            assert!(rx.try_pop().is_some());
            tx.try_push(Msg::market(hotrisk_feed::MsgKind::Trade, 1, 0, 0))
                .unwrap();
        }
    }
    let info = RingInfo::read(&p.0).unwrap();
    assert_eq!(info.geometry.stride, 128);
    assert_eq!((info.write_cursor, info.read_cursor), (6, 2));
    assert_eq!(info.readers[0].lag, 4);
    // A producer that died between publishing message 6 (its slot's sequence word) and storing
    // the write cursor: the count is still exact.
    poke(&p.0, layout::WRITE_CURSOR_W, 5);
    assert_eq!(RingInfo::read(&p.0).unwrap().write_cursor, 6);
    // The next slot holds message 3 (from the previous lap), not 7: the cursor is not bumped.
    poke(&p.0, layout::WRITE_CURSOR_W, 6);
    assert_eq!(RingInfo::read(&p.0).unwrap().write_cursor, 6);
    let stride_w = RingKind::Spsc.stride(64) / 8;
    // Message 6 lives in slot (6 − 1) mod 4 = 1.
    let slot_of_6 = layout::HEADER_WORDS + stride_w;
    assert_eq!(
        peek(&p.0, slot_of_6),
        6,
        "the sequence word starts the slot"
    );
    // The consumer never trusts the cursor: a rewound cursor changes no pop.
    poke(&p.0, layout::WRITE_CURSOR_W, 0);
    for _ in 3..=6 {
        assert!(rx.try_pop().is_some());
    }
    assert!(rx.try_pop().is_none());
    assert_eq!(rx.backlog(), 0, "saturates instead of wrapping below zero");
}

#[test]
fn create_replaces_the_file_without_breaking_an_attached_reader() {
    let p = ShmPath::new("replace");
    let mut w1 = BroadcastWriter::<u64>::create(&p.0, 4).unwrap();
    let mut old = BroadcastReader::<u64>::attach(&p.0).unwrap();
    w1.publish(1);
    let mut w2 = BroadcastWriter::<u64>::create(&p.0, 8).unwrap();
    w2.publish(100);
    assert_eq!(
        old.try_read(),
        ReadOutcome::Item(1),
        "old mapping still valid"
    );
    assert_eq!(RingInfo::read(&p.0).unwrap().geometry.capacity, 8);
    let mut new = BroadcastReader::<u64>::attach_at(&p.0, 1).unwrap();
    assert_eq!(new.try_read(), ReadOutcome::Item(100));
}
