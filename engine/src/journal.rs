//! The journal: an append-only, memory-mapped file of every emitted order and every account event
//! the risk thread applied, each with a contiguous sequence number.
//!
//! # Layout
//! ```text
//! offset 0    header (64 bytes)
//!             0  8  magic        b"HOTRJRNL"
//!             8  4  version      u32 (1)
//!            12  4  record_size  u32 (64)
//!            16  8  capacity     u64 records
//!            24  8  created      i64 wall-clock ns since the Unix epoch
//!            32 32  reserved (zero)
//! offset 64   records, 64 bytes each ([`Record`]); record i (0-based) at 64 + 64·i
//! ```
//! A record is written payload first and its `jseq` (1-based, contiguous) last, with a release
//! store. A zero `jseq` ends the journal. The file is preallocated and mapped `MAP_SHARED`
//! (and pre-faulted), so the gateway's append is a 64-byte copy into the page cache: no syscall,
//! no allocation, no lock. Stores into a shared mapping survive `kill -9` of the process (the
//! page cache belongs to the kernel); the cold reporter thread `msync`s periodically and at exit so
//! they also survive a machine crash up to the last sync.
//!
//! # Who writes what
//! Only the gateway thread appends ([`JournalWriter`] is not `Clone`). The reporter holds a
//! [`JournalSync`] to flush. Readers ([`read_journal`]) copy the file and validate every record.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytemuck::{Pod, Zeroable};
use hotrisk_feed::wire::{Msg, MsgKind, Order};
use memmap2::{MmapOptions, MmapRaw};

/// File magic.
pub const JOURNAL_MAGIC: [u8; 8] = *b"HOTRJRNL";
/// Layout version.
pub const JOURNAL_VERSION: u32 = 1;
/// Size of the header and of every record.
pub const RECORD_SIZE: usize = 64;

/// Errors opening or reading a journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// An I/O error on the file.
    #[error("journal {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a journal of this version.
    #[error("journal {path}: {what}")]
    Format {
        /// The file.
        path: PathBuf,
        /// Expected vs found.
        what: String,
    },
}

/// The file header.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct Header {
    /// [`JOURNAL_MAGIC`].
    pub magic: [u8; 8],
    /// [`JOURNAL_VERSION`].
    pub version: u32,
    /// [`RECORD_SIZE`].
    pub record_size: u32,
    /// Records the file holds.
    pub capacity: u64,
    /// Creation time, wall-clock ns.
    pub created_wall_ns: i64,
    /// Zero.
    pub reserved: [u8; 32],
}

/// What a record holds.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A liquidation order or cancel-all handed to the order ring.
    Order = 1,
    /// An account event (fill, collateral, ack) the risk thread applied.
    AccountEvent = 2,
    /// An engine (re)start: `id` = run number, `md_seq` = first md sequence it will read.
    RunStart = 3,
}

/// `Record::state` bit: the order was pushed onto the order ring.
pub const STATE_PUBLISHED: u8 = 1;

/// One journal record (64 bytes). Clock stamps are deliberately absent: the journal of the same
/// inputs is byte-identical from run to run.
///
/// ```text
///  0  8 jseq        u64, 1-based, contiguous
///  8  8 id          order_id | account-event seq | run number
/// 16  8 md_seq      trigger seq (orders) | last md seq applied before the event | resume seq
/// 24  1 jkind       RecordKind
/// 25  1 kind        wire MsgKind of the payload
/// 26  1 aux         order side | event aux
/// 27  1 tier        orders
/// 28  1 tif         orders
/// 29  1 flags       orders
/// 30  1 attempt     orders
/// 31  1 state       STATE_PUBLISHED
/// 32  2 instrument
/// 34  2 reserved
/// 36  4 account
/// 40  8 a           qty | body[0]
/// 48  8 b           limit price | body[1]
/// 56  8 c           position on the order ring (0-based) | body[2]
/// ```
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct Record {
    /// Journal sequence, 1-based.
    pub jseq: u64,
    /// See the layout.
    pub id: u64,
    /// See the layout.
    pub md_seq: u64,
    /// [`RecordKind`].
    pub jkind: u8,
    /// Wire kind.
    pub kind: u8,
    /// Side or aux.
    pub aux: u8,
    /// Order tier.
    pub tier: u8,
    /// Order time in force.
    pub tif: u8,
    /// Order flags.
    pub flags: u8,
    /// Order attempt.
    pub attempt: u8,
    /// [`STATE_PUBLISHED`].
    pub state: u8,
    /// Instrument.
    pub instrument: u16,
    /// Zero.
    pub reserved: u16,
    /// Account.
    pub account: u32,
    /// See the layout.
    pub a: i64,
    /// See the layout.
    pub b: i64,
    /// See the layout.
    pub c: i64,
}

const _: () = assert!(core::mem::size_of::<Record>() == RECORD_SIZE);
const _: () = assert!(core::mem::size_of::<Header>() == RECORD_SIZE);

impl Record {
    /// A record for an order about to be pushed at position `ring_pos` of the order ring.
    pub fn order(o: &Order, ring_pos: u64) -> Self {
        Self {
            jseq: 0,
            id: o.order_id,
            md_seq: o.trigger_seq,
            jkind: RecordKind::Order as u8,
            kind: o.kind,
            aux: o.side,
            tier: o.tier,
            tif: o.tif,
            flags: o.flags,
            attempt: o.attempt,
            state: 0,
            instrument: o.instrument,
            reserved: 0,
            account: o.account,
            a: o.qty,
            b: o.limit_price,
            c: ring_pos as i64,
        }
    }

    /// A record for an account event applied after md sequence `md_seq`.
    pub fn account_event(m: &Msg, md_seq: u64) -> Self {
        Self {
            jseq: 0,
            id: m.seq,
            md_seq,
            jkind: RecordKind::AccountEvent as u8,
            kind: m.kind,
            aux: m.aux,
            tier: 0,
            tif: 0,
            flags: 0,
            attempt: 0,
            state: 0,
            instrument: m.instrument,
            reserved: 0,
            account: m.account,
            a: m.body[0],
            b: m.body[1],
            c: m.body[2],
        }
    }

    /// A run-start marker.
    pub fn run_start(run: u64, resume_md_seq: u64) -> Self {
        Self {
            id: run,
            md_seq: resume_md_seq,
            jkind: RecordKind::RunStart as u8,
            ..Zeroable::zeroed()
        }
    }

    /// The decoded record kind.
    pub fn record_kind(&self) -> Option<RecordKind> {
        match self.jkind {
            1 => Some(RecordKind::Order),
            2 => Some(RecordKind::AccountEvent),
            3 => Some(RecordKind::RunStart),
            _ => None,
        }
    }

    /// The order of an order record (clock stamps zero).
    pub fn to_order(&self) -> Order {
        Order {
            order_id: self.id,
            trigger_seq: self.md_seq,
            trigger_publish_ts: 0,
            emit_ts: 0,
            kind: self.kind,
            side: self.aux,
            instrument: self.instrument,
            account: self.account,
            qty: self.a,
            limit_price: self.b,
            tier: self.tier,
            tif: self.tif,
            flags: self.flags,
            attempt: self.attempt,
            reserved: 0,
        }
    }

    /// The account event of an event record (clock stamps zero).
    pub fn to_event(&self) -> Msg {
        Msg {
            seq: self.id,
            exch_ts: 0,
            local_ts: 0,
            publish_ts: 0,
            kind: self.kind,
            aux: self.aux,
            instrument: self.instrument,
            account: self.account,
            body: [self.a, self.b, self.c],
        }
    }
}

impl std::fmt::Display for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = MsgKind::from_u8(self.kind).map_or("?", MsgKind::name);
        match self.record_kind() {
            Some(RecordKind::Order) => write!(
                f,
                "#{} order id={:#018x} trigger={} {kind} acct={} instr={} side={} qty={} px={} tier={} attempt={} ring_pos={}{}",
                self.jseq, self.id, self.md_seq, self.account, self.instrument, self.aux,
                self.a, self.b, self.tier, self.attempt, self.c,
                if self.state & STATE_PUBLISHED != 0 { "" } else { " (unpublished)" }
            ),
            Some(RecordKind::AccountEvent) => write!(
                f,
                "#{} event seq={} after_md={} {kind} acct={} instr={} aux={} body=[{}, {}, {}]",
                self.jseq, self.id, self.md_seq, self.account, self.instrument, self.aux,
                self.a, self.b, self.c
            ),
            Some(RecordKind::RunStart) => write!(
                f,
                "#{} run-start run={} resume_md_seq={}",
                self.jseq, self.id, self.md_seq
            ),
            None => write!(f, "#{} unknown record kind {}", self.jseq, self.jkind),
        }
    }
}

/// The journal is full; the record was not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("journal full ({capacity} records)")]
pub struct JournalFull {
    /// Capacity in records.
    pub capacity: u64,
}

/// The appending side (gateway thread). Not `Clone`: one writer per file.
#[derive(Debug)]
pub struct JournalWriter {
    map: Arc<MmapRaw>,
    capacity: u64,
    /// Records written so far (index of the next slot).
    len: u64,
}

/// The flushing side (reporter thread).
#[derive(Debug, Clone)]
pub struct JournalSync {
    map: Arc<MmapRaw>,
}

impl JournalSync {
    /// Schedules write-back of dirty pages (`msync(MS_ASYNC)`).
    pub fn flush_async(&self) -> std::io::Result<()> {
        self.map.flush_async()
    }

    /// Writes dirty pages back and waits (`msync(MS_SYNC)`).
    pub fn flush(&self) -> std::io::Result<()> {
        self.map.flush()
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_owned(),
        source,
    }
}

impl JournalWriter {
    /// Opens `path` for appending, creating it with room for `capacity` records if absent.
    /// Returns the writer and the records already in the file (for recovery). An existing file
    /// smaller than `capacity` is grown.
    pub fn open(path: &Path, capacity: u64) -> Result<(Self, Vec<Record>), JournalError> {
        if !path.exists() {
            create_file(path, capacity)?;
        }
        let existing = Some(read_journal(path)?);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io_err(path))?;
        let old_capacity = existing.as_ref().map_or(0, |(h, _)| h.capacity);
        let capacity = capacity.max(old_capacity);
        let bytes = (capacity + 1) * RECORD_SIZE as u64;
        if file.metadata().map_err(io_err(path))?.len() < bytes {
            file.set_len(bytes).map_err(io_err(path))?;
        }
        let map = MmapOptions::new()
            .len(usize::try_from(bytes).map_err(|_| JournalError::Format {
                path: path.to_owned(),
                what: format!("capacity {capacity} records does not fit in memory"),
            })?)
            .populate()
            .map_raw(&file)
            .map_err(io_err(path))?;
        let header = Header {
            magic: JOURNAL_MAGIC,
            version: JOURNAL_VERSION,
            record_size: RECORD_SIZE as u32,
            capacity,
            created_wall_ns: existing
                .as_ref()
                .map_or_else(hotrisk_feed::clock::wall_ns, |(h, _)| h.created_wall_ns),
            reserved: [0; 32],
        };
        // SAFETY: the mapping is at least 64 bytes long (bytes >= 128) and writable; this process
        // is the journal's only writer and no reference into the mapping exists yet.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytemuck::bytes_of(&header).as_ptr(),
                map.as_mut_ptr(),
                RECORD_SIZE,
            );
        }
        let records = existing.map(|(_, r)| r).unwrap_or_default();
        let len = records.len() as u64;
        Ok((
            Self {
                map: Arc::new(map),
                capacity,
                len,
            },
            records,
        ))
    }

    /// A handle for the reporter to `msync` with.
    pub fn sync_handle(&self) -> JournalSync {
        JournalSync {
            map: Arc::clone(&self.map),
        }
    }

    /// Records written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Capacity in records.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    fn slot_ptr(&self, index: u64) -> *mut u8 {
        // In bounds: callers check index < capacity, and the mapping holds capacity + 1 slots.
        self.map
            .as_mut_ptr()
            .wrapping_add((index as usize + 1) * RECORD_SIZE)
    }

    /// Appends `rec` (its `jseq` is assigned) and returns its index. Hot path: a 64-byte copy
    /// into the mapping and a release store, no syscall.
    #[inline]
    pub fn append(&mut self, mut rec: Record) -> Result<u64, JournalFull> {
        if self.len >= self.capacity {
            return Err(JournalFull {
                capacity: self.capacity,
            });
        }
        let index = self.len;
        rec.jseq = index + 1;
        let slot = self.slot_ptr(index);
        let payload = &bytemuck::bytes_of(&rec)[8..];
        let dst = slot.wrapping_add(8);
        // SAFETY: `slot` is the start of record `index` (< capacity), inside the mapping and
        // 64-byte aligned (page-aligned base + multiples of 64), so `dst .. dst + 56` is inside
        // the mapping; we are the only writer, nothing in this process holds a reference into
        // it, and `payload` (a local) cannot overlap it.
        unsafe {
            std::ptr::copy_nonoverlapping(payload.as_ptr(), dst, RECORD_SIZE - 8);
        }
        // SAFETY: the jseq word is 8-byte aligned (see above) and lives as long as the mapping
        // (held by `self.map`); it is only accessed atomically while mapped. The release store
        // orders the payload before the sequence that publishes it.
        let seq_word = unsafe { AtomicU64::from_ptr(slot.cast::<u64>()) };
        seq_word.store(rec.jseq, Ordering::Release);
        self.len += 1;
        Ok(index)
    }

    /// Marks order record `index` as pushed onto the order ring.
    #[inline]
    pub fn mark_published(&mut self, index: u64) {
        if index >= self.len {
            return;
        }
        let state = self.slot_ptr(index).wrapping_add(31);
        // SAFETY: `index < len <= capacity`, so byte 31 of the slot is inside the mapping; we are
        // the only writer and a byte store cannot tear.
        unsafe { state.write_volatile(STATE_PUBLISHED) };
    }
}

/// Creates an empty journal atomically: written under a temporary name, then renamed into place,
/// so a process killed during creation never leaves a journal without its header.
fn create_file(path: &Path, capacity: u64) -> Result<(), JournalError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".creating.{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let header = Header {
        magic: JOURNAL_MAGIC,
        version: JOURNAL_VERSION,
        record_size: RECORD_SIZE as u32,
        capacity,
        created_wall_ns: hotrisk_feed::clock::wall_ns(),
        reserved: [0; 32],
    };
    std::fs::write(&tmp, bytemuck::bytes_of(&header)).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

/// Reads and validates a journal: the header and every record up to the first zero `jseq`.
pub fn read_journal(path: &Path) -> Result<(Header, Vec<Record>), JournalError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    parse_journal(&bytes).map_err(|what| JournalError::Format {
        path: path.to_owned(),
        what,
    })
}

/// Parses journal bytes (see [`read_journal`]).
pub fn parse_journal(bytes: &[u8]) -> Result<(Header, Vec<Record>), String> {
    if bytes.len() < RECORD_SIZE {
        return Err(format!(
            "file is {} bytes, shorter than the 64-byte header",
            bytes.len()
        ));
    }
    let header: Header = bytemuck::pod_read_unaligned(&bytes[..RECORD_SIZE]);
    if header.magic != JOURNAL_MAGIC {
        return Err(format!(
            "bad magic at offset 0: expected {:?}, found {:?}",
            String::from_utf8_lossy(&JOURNAL_MAGIC),
            String::from_utf8_lossy(&header.magic)
        ));
    }
    if header.version != JOURNAL_VERSION {
        return Err(format!(
            "journal version {JOURNAL_VERSION} expected, file has {} (offset 8)",
            header.version
        ));
    }
    if header.record_size as usize != RECORD_SIZE {
        return Err(format!(
            "record size {RECORD_SIZE} expected, file has {} (offset 12)",
            header.record_size
        ));
    }
    let mut records = Vec::new();
    for (i, chunk) in bytes[RECORD_SIZE..].chunks_exact(RECORD_SIZE).enumerate() {
        if i as u64 >= header.capacity {
            break;
        }
        let rec: Record = bytemuck::pod_read_unaligned(chunk);
        if rec.jseq == 0 {
            break;
        }
        let offset = RECORD_SIZE * (i + 1);
        if rec.jseq != i as u64 + 1 {
            return Err(format!(
                "record at offset {offset} has sequence {}, expected {}",
                rec.jseq,
                i + 1
            ));
        }
        if rec.record_kind().is_none() {
            return Err(format!(
                "record at offset {offset} (seq {}) has unknown kind {}",
                rec.jseq, rec.jkind
            ));
        }
        records.push(rec);
    }
    Ok((header, records))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotrisk_feed::wire::{order_id, Side, Tier, FLAG_REDUCE_ONLY, TIF_IOC};

    fn order(acct: u32, seq: u64) -> Order {
        Order {
            order_id: order_id(acct, seq, 0),
            trigger_seq: seq,
            trigger_publish_ts: 123,
            emit_ts: 456,
            kind: MsgKind::Order as u8,
            side: Side::Sell as u8,
            instrument: 2,
            account: acct,
            qty: 5_000_000,
            limit_price: 99_000_000,
            tier: Tier::Full as u8,
            tif: TIF_IOC,
            flags: FLAG_REDUCE_ONLY,
            attempt: 0,
            reserved: 0,
        }
    }

    #[test]
    fn append_reopen_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j");
        let (mut w, old) = JournalWriter::open(&p, 8).unwrap();
        assert!(old.is_empty());
        w.append(Record::run_start(1, 1)).unwrap();
        let i = w.append(Record::order(&order(7, 10), 0)).unwrap();
        w.mark_published(i);
        let mut ev = Msg::market(MsgKind::Fill, 2, 0, 0);
        ev.seq = 3;
        ev.account = 7;
        ev.body = [-5_000_000, 99_000_000, 10];
        w.append(Record::account_event(&ev, 11)).unwrap();
        drop(w);

        let (mut w, old) = JournalWriter::open(&p, 4).unwrap();
        assert_eq!(old.len(), 3);
        assert_eq!(w.capacity(), 8, "an existing journal never shrinks");
        assert_eq!(old[1].state, STATE_PUBLISHED);
        let mut expect = order(7, 10);
        expect.trigger_publish_ts = 0;
        expect.emit_ts = 0;
        assert_eq!(old[1].to_order(), expect);
        let mut ev0 = ev;
        ev0.exch_ts = 0;
        assert_eq!(old[2].to_event(), ev0);
        assert_eq!(old[2].md_seq, 11);
        for k in 0..5 {
            w.append(Record::order(&order(8, 20 + k), k)).unwrap();
        }
        assert_eq!(
            w.append(Record::run_start(2, 0)),
            Err(JournalFull { capacity: 8 })
        );
        w.sync_handle().flush().unwrap();
        let (_, recs) = read_journal(&p).unwrap();
        assert_eq!(recs.len(), 8);
        assert_eq!(recs[7].jseq, 8);
        assert!(recs[3].to_string().contains("unpublished"));
    }

    #[test]
    fn corrupt_files_are_named_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j");
        let (mut w, _) = JournalWriter::open(&p, 4).unwrap();
        w.append(Record::run_start(1, 1)).unwrap();
        w.append(Record::run_start(2, 1)).unwrap();
        drop(w);
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[128] = 9; // jseq of the second record
        let err = parse_journal(&bytes).unwrap_err();
        assert!(err.contains("offset 128"), "{err}");
        bytes[0] = b'X';
        assert!(parse_journal(&bytes).unwrap_err().contains("magic"));
        std::fs::write(&p, b"short").unwrap();
        let err = read_journal(&p).unwrap_err().to_string();
        assert!(
            err.contains("shorter") && err.contains(p.to_str().unwrap()),
            "{err}"
        );
    }
}
