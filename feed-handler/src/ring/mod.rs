//! Shared-memory rings: the lossless [`spsc`] ring (account events, liquidation orders) and the
//! lossy-detecting [`broadcast`] ring (market data), over a `/dev/shm` file or a heap block.
//!
//! # Contract
//! - **Set-up** (allocates, makes system calls, may fail with [`RingError`]): a producer
//!   *creates* a ring file ([`spsc::SpscProducer::create`], [`broadcast::BroadcastWriter::create`]);
//!   consumers *attach* to it, which validates the header ([`layout`]) and names any mismatch
//!   ("ring layout version 1 expected, file has 2"). In-process queues use the same code over heap
//!   memory ([`spsc::channel`], [`broadcast::channel`]).
//! - **Run** (no allocation, no lock, no system call, no panic): `try_push` / `try_pop` /
//!   `publish` / `try_read` return at once. Waiting is a separate [`idle::IdleStrategy`].
//! - **Shutdown**: the producer [`close`](spsc::SpscProducer::close)s the ring (also on drop);
//!   consumers see end-of-stream once they have drained it. A producer that dies without closing
//!   is detected from its heartbeat age ([`spsc::SpscConsumer::producer_alive`]).
//!
//! Who owns what: the producer side owns the write cursor, the heartbeat and the slots; each
//! consumer owns its read cursor (SPSC) or its reader slot (broadcast). See [`layout`] for the
//! file layout and position numbering (messages are numbered from 1).
//!
//! # Soundness against other processes
//! A ring file can be changed under us by any process that maps it. The rings therefore access
//! shared memory **only through atomics** (the private `region::Region` exposes `&[AtomicU64]`), copy a
//! message out of its slot word by word before validating it, and never hand out a reference into
//! a slot. The only `unsafe` code is in the private `region` module (viewing a mapping as atomics) and the `mmap`
//! calls below.
//!
//! ```
//! use hotrisk_feed::ring::{spsc, idle::SpinThenYield};
//! let (mut tx, mut rx) = spsc::channel::<u64>(8).unwrap();
//! tx.push_spin(42, &mut SpinThenYield::default());
//! assert_eq!(rx.try_pop(), Some(42));
//! tx.close();
//! assert!(rx.is_closed());
//! ```

pub mod broadcast;
pub mod idle;
pub mod layout;
mod region;
pub mod spsc;
mod sync;

use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use bytemuck::Pod;

use layout::{Geometry, RingKind};
use region::Region;
use sync::{AtomicU64, Ordering};

/// Why a ring could not be created, attached or read.
#[derive(Debug, thiserror::Error)]
pub enum RingError {
    /// An I/O operation on the ring file failed.
    #[error("{path}: cannot {op}: {source}")]
    Io {
        /// The ring file.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is shorter than its header or its declared capacity needs.
    #[error("{path}: file is {found} bytes, too small for {what} ({needed} bytes needed)")]
    FileTooSmall {
        /// The ring file.
        path: PathBuf,
        /// Bytes needed.
        needed: u64,
        /// Bytes found.
        found: u64,
        /// What needed them.
        what: &'static str,
    },
    /// The first word is not the ring magic.
    #[error(
        "{path}: not a hotrisk ring: magic {:#018x} expected, file has {found:#018x}",
        layout::MAGIC
    )]
    BadMagic {
        /// The ring file.
        path: PathBuf,
        /// The word found.
        found: u64,
    },
    /// A header field differs from what this code (or the caller's message type) expects.
    #[error("{path}: ring {field} {expected} expected, file has {found}")]
    Header {
        /// The ring file.
        path: PathBuf,
        /// The field, e.g. "layout version", "message size".
        field: &'static str,
        /// The value expected.
        expected: u64,
        /// The value found.
        found: u64,
    },
    /// The header declares a capacity that is not a power of two (>= 2).
    #[error("{path}: ring capacity {found} is not a power of two >= 2")]
    CapacityNotPowerOfTwo {
        /// The ring file.
        path: PathBuf,
        /// The capacity found.
        found: u64,
    },
    /// A ring was requested with a capacity that is not a power of two (>= 2).
    #[error("ring capacity {0} is not a power of two >= 2")]
    InvalidCapacity(usize),
    /// The message type's size is zero or not a multiple of 8 bytes.
    #[error("message size {0} bytes: must be a non-zero multiple of 8")]
    InvalidMessageSize(usize),
    /// An SPSC ring already has a live consumer.
    #[error("{path}: the SPSC ring already has a consumer (pid {pid})")]
    ConsumerAttached {
        /// The ring file.
        path: PathBuf,
        /// The consumer's pid.
        pid: u64,
    },
    /// Every reader slot of a broadcast ring is held by a live process.
    #[error(
        "{path}: all {} reader slots are held by live readers",
        layout::READER_SLOTS
    )]
    ReaderSlotsFull {
        /// The ring file.
        path: PathBuf,
    },
}

/// A ring's shared words plus its validated geometry; the part every handle holds.
#[derive(Debug, Clone)]
struct Shared<T> {
    region: Region,
    geometry: Geometry,
    path: PathBuf,
    _msg: PhantomData<fn() -> T>,
}

/// The path shown in errors for heap rings.
const HEAP_PATH: &str = "<in-process heap ring>";

impl<T: Pod> Shared<T> {
    /// Message size in words; a compile-time error for types whose size is not a multiple of 8.
    const WORDS: usize = {
        assert!(
            std::mem::size_of::<T>() > 0 && std::mem::size_of::<T>().is_multiple_of(8),
            "ring messages must be a non-zero multiple of 8 bytes"
        );
        std::mem::size_of::<T>() / 8
    };

    fn geometry_for(kind: RingKind, capacity: usize) -> Result<Geometry, RingError> {
        let _ = Self::WORDS;
        Geometry::new(kind, std::mem::size_of::<T>(), capacity)
    }

    /// A new ring on the heap, header initialised.
    fn heap(kind: RingKind, capacity: usize) -> Result<Self, RingError> {
        let geometry = Self::geometry_for(kind, capacity)?;
        let shared = Self {
            region: Region::heap(geometry.file_words()),
            geometry,
            path: PathBuf::from(HEAP_PATH),
            _msg: PhantomData,
        };
        shared.init_header();
        Ok(shared)
    }

    /// Creates the ring file at `path`: written under a temporary name, then renamed into
    /// place, so an attacher never sees a half-initialised header and a reader still mapping an
    /// older file at that path keeps its (now unlinked) file intact.
    #[cfg(not(loom))]
    fn create_file(path: &Path, kind: RingKind, capacity: usize) -> Result<Self, RingError> {
        let geometry = Self::geometry_for(kind, capacity)?;
        let io = |op: &'static str| {
            let path = path.to_path_buf();
            move |source| RingError::Io { path, op, source }
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io("create the ring file"))?;
        let result = (|| {
            file.set_len(geometry.file_bytes() as u64)
                .map_err(io("size the ring file"))?;
            let map = map_file(&file).map_err(io("map the ring file"))?;
            let region = Region::from_map(map).ok_or_else(|| RingError::FileTooSmall {
                path: path.to_path_buf(),
                needed: geometry.file_bytes() as u64,
                found: 0,
                what: "the mapping",
            })?;
            let shared = Self {
                region,
                geometry,
                path: path.to_path_buf(),
                _msg: PhantomData,
            };
            shared.init_header();
            std::fs::rename(&tmp, path).map_err(io("rename the ring file into place"))?;
            Ok(shared)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// Maps an existing ring file and validates its header for `kind` and `T`.
    #[cfg(not(loom))]
    fn attach_file(path: &Path, kind: RingKind) -> Result<Self, RingError> {
        let io = |op: &'static str| {
            let path = path.to_path_buf();
            move |source| RingError::Io { path, op, source }
        };
        let _ = Self::WORDS;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io("open the ring file"))?;
        let len = file
            .metadata()
            .map_err(io("read the ring file's size"))?
            .len();
        if len < layout::HEADER_BYTES as u64 {
            return Err(RingError::FileTooSmall {
                path: path.to_path_buf(),
                needed: layout::HEADER_BYTES as u64,
                found: len,
                what: "the ring header",
            });
        }
        let map = map_file(&file).map_err(io("map the ring file"))?;
        let region = Region::from_map(map).ok_or_else(|| RingError::FileTooSmall {
            path: path.to_path_buf(),
            needed: layout::HEADER_BYTES as u64,
            found: len,
            what: "the ring header",
        })?;
        let header: Vec<u64> = region.words()[..layout::HEADER_WORDS]
            .iter()
            .map(|w| w.load(Ordering::Acquire))
            .collect();
        let geometry = Geometry::validate(
            path,
            &header,
            region.words().len() as u64 * 8,
            Some((kind, std::mem::size_of::<T>())),
        )?;
        Ok(Self {
            region,
            geometry,
            path: path.to_path_buf(),
            _msg: PhantomData,
        })
    }

    /// Writes the header of a fresh (zeroed) region; the magic goes last, with Release.
    fn init_header(&self) {
        let w = self.region.words();
        w[layout::HEARTBEAT_W].store(crate::clock::now_ns() as u64, Ordering::Relaxed);
        let pid = u64::from(std::process::id());
        for (i, v) in self
            .geometry
            .header_words(pid, crate::clock::wall_ns() as u64)
        {
            let order = if i == layout::MAGIC_W {
                Ordering::Release
            } else {
                Ordering::Relaxed
            };
            w[i].store(v, order);
        }
    }

    #[inline]
    fn word(&self, i: usize) -> &AtomicU64 {
        &self.region.words()[i]
    }

    fn is_heap(&self) -> bool {
        self.path.as_os_str() == HEAP_PATH
    }

    fn heartbeat(&self) {
        self.word(layout::HEARTBEAT_W)
            .store(crate::clock::now_ns() as u64, Ordering::Release);
    }

    fn heartbeat_age_ns(&self) -> i64 {
        let hb = self.word(layout::HEARTBEAT_W).load(Ordering::Acquire) as i64;
        crate::clock::now_ns().saturating_sub(hb)
    }

    fn close(&self) {
        self.word(layout::CLOSED_W).store(1, Ordering::Release);
    }

    fn closed_flag(&self) -> bool {
        self.word(layout::CLOSED_W).load(Ordering::Acquire) != 0
    }

    fn producer_pid(&self) -> u64 {
        self.word(layout::PRODUCER_PID_W).load(Ordering::Relaxed)
    }

    /// Copies `v` into `dst[..WORDS]`, word by word, with Relaxed atomic stores, **last word
    /// first**: a slot's sequence word shares the first cache line with the first message words,
    /// so the stores to the slot's *other* line(s) go first and the stores to the sequence line
    /// (message words, then the caller's sequence store) come last and back to back, which gives
    /// a polling consumer less chance to pull that line back between them. (A latency hint only,
    /// measured no worse than the natural order; correctness never depends on the order, only
    /// on the Release store that follows.)
    #[inline(always)]
    fn store_msg(dst: &[AtomicU64], v: &T) {
        let bytes = bytemuck::bytes_of(v);
        for (word, chunk) in dst[..Self::WORDS].iter().zip(bytes.chunks_exact(8)).rev() {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            word.store(u64::from_ne_bytes(b), Ordering::Relaxed);
        }
    }

    /// Hints the CPU to fetch the cache lines of the slot at word `base` after its first one
    /// (the line holding the sequence word, which the caller is polling).
    #[inline(always)]
    fn prefetch_slot_tail(&self, base: usize) {
        #[cfg(all(target_arch = "x86_64", not(miri), not(loom)))]
        {
            let words = self.region.words();
            let mut w = base + 8;
            while w < base + self.geometry.stride_words() {
                let p = words[w].as_ptr().cast::<i8>().cast_const();
                // SAFETY: `prefetcht0` only hints the cache; it never faults, reads nothing into
                // the program and has no effect on memory. `p` is in bounds of the region anyway.
                unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p) };
                w += 8;
            }
        }
        #[cfg(not(all(target_arch = "x86_64", not(miri), not(loom))))]
        let _ = base;
    }

    /// Copies a message out of `src[..WORDS]`, word by word, with Relaxed atomic loads. Any bit
    /// pattern is a valid `T` (`Pod`), so a concurrently overwritten slot yields wrong data, never
    /// undefined behaviour; callers validate before using it.
    #[inline(always)]
    fn load_msg(src: &[AtomicU64]) -> T {
        let mut out = T::zeroed();
        let bytes = bytemuck::bytes_of_mut(&mut out);
        for (word, chunk) in src[..Self::WORDS].iter().zip(bytes.chunks_exact_mut(8)) {
            chunk.copy_from_slice(&word.load(Ordering::Relaxed).to_ne_bytes());
        }
        out
    }

    /// Claims a free reader slot (one whose pid is 0, or whose process is gone) for this
    /// process, with `position` as its read count. Heap rings never reclaim (one process).
    fn claim_reader_slot(&self, range: std::ops::Range<usize>, position: u64) -> Option<usize> {
        let me = u64::from(std::process::id());
        for i in range {
            let base = layout::reader_w(i);
            let pid_w = self.word(base + layout::READER_PID);
            let cur = pid_w.load(Ordering::Acquire);
            let free = cur == 0 || (!self.is_heap() && cur != me && !process_alive(cur));
            // Claim with a marker first so nobody reads a half-set slot as registered.
            if free
                && pid_w
                    .compare_exchange(cur, CLAIMING, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            {
                self.word(base + layout::READER_POS)
                    .store(position, Ordering::Relaxed);
                self.word(base + layout::READER_LOST)
                    .store(0, Ordering::Relaxed);
                self.word(base + layout::READER_ATTACHED)
                    .store(crate::clock::wall_ns() as u64, Ordering::Relaxed);
                pid_w.store(me, Ordering::Release);
                return Some(i);
            }
        }
        None
    }

    fn release_reader_slot(&self, i: usize) {
        self.word(layout::reader_w(i) + layout::READER_PID)
            .store(0, Ordering::Release);
    }
}

/// Pid marker of a reader slot being claimed.
const CLAIMING: u64 = u64::MAX;

/// Maps a whole ring file shared and writable, pre-faulting its pages.
#[cfg(not(loom))]
fn map_file(file: &std::fs::File) -> std::io::Result<memmap2::MmapMut> {
    // SAFETY: memmap2 marks mapping unsafe because the file may be changed or truncated by others
    // while mapped. The mapping is only ever accessed as atomic words (see `Region::words`), so
    // concurrent changes are not data races; ring files are never truncated while in use (they
    // are replaced by rename), so the mapped pages stay backed.
    unsafe { memmap2::MmapOptions::new().populate().map_mut(file) }
}

/// Whether process `pid` exists (signal 0 probe). Unknown (e.g. EPERM) counts as alive.
fn process_alive(pid: u64) -> bool {
    if cfg!(miri) || cfg!(loom) {
        return true;
    }
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 sends nothing; it only checks that the pid exists and that we
    // may signal it. No memory is passed.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// One registered broadcast reader (or the SPSC consumer, slot 0), as seen from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderInfo {
    /// Reader slot index.
    pub slot: usize,
    /// The reader's process id.
    pub pid: u64,
    /// Messages read (sequence of the last message consumed or skipped).
    pub position: u64,
    /// `write cursor − position`.
    pub lag: u64,
    /// Messages lost to lapping since the reader attached.
    pub lost: u64,
    /// When the reader attached, wall ns.
    pub attached_wall_ns: u64,
}

/// A ring's header, cursors and reader slots, read from outside by a tool
/// (`hotrisk-tools inspect`), without attaching or mapping.
///
/// The header is read with one `read(2)` of the file: the words are a snapshot, each word
/// consistent on its own but not necessarily with the others while the ring is live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingInfo {
    /// The ring file.
    pub path: PathBuf,
    /// Validated geometry (kind, message size, capacity, stride).
    pub geometry: Geometry,
    /// Size of the file in bytes.
    pub file_bytes: u64,
    /// Producer pid.
    pub producer_pid: u64,
    /// Last producer heartbeat, `CLOCK_MONOTONIC` ns.
    pub heartbeat_ns: i64,
    /// Heartbeat age when read, ns.
    pub heartbeat_age_ns: i64,
    /// Creation time, wall ns since the Unix epoch.
    pub created_wall_ns: u64,
    /// The end-of-stream flag.
    pub closed: bool,
    /// Messages published: the header's write cursor, plus one if the next slot already holds
    /// its message (a producer stopped between publishing a slot and advancing the cursor).
    pub write_cursor: u64,
    /// Messages consumed (SPSC); 0 for broadcast rings.
    pub read_cursor: u64,
    /// Registered readers (broadcast) or the attached consumer (SPSC, slot 0).
    pub readers: Vec<ReaderInfo>,
}

impl RingInfo {
    /// Reads and validates the header of the ring file at `path`.
    pub fn read(path: &Path) -> Result<Self, RingError> {
        use std::io::Read;
        let io = |op: &'static str| {
            let path = path.to_path_buf();
            move |source| RingError::Io { path, op, source }
        };
        let mut file = std::fs::File::open(path).map_err(io("open the ring file"))?;
        let len = file
            .metadata()
            .map_err(io("read the ring file's size"))?
            .len();
        let mut bytes = vec![0u8; layout::HEADER_BYTES.min(len as usize)];
        file.read_exact(&mut bytes)
            .map_err(io("read the ring header"))?;
        let header: Vec<u64> = bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect();
        let geometry = Geometry::validate(path, &header, len, None)?;
        let heartbeat_ns = header[layout::HEARTBEAT_W] as i64;
        // The producer stores the write cursor just after publishing a slot (its sequence word),
        // so the cursor may trail by one message — for good if the producer died in between.
        // The next slot's sequence word settles it: it holds `cursor + 1` only if that message
        // was published.
        let mut write_cursor = header[layout::WRITE_CURSOR_W];
        let next = write_cursor.wrapping_add(1);
        let mut seq = [0u8; 8];
        {
            use std::os::unix::fs::FileExt;
            file.read_exact_at(&mut seq, geometry.slot_w(next) as u64 * 8)
                .map_err(io("read a ring slot's sequence word"))?;
        }
        if u64::from_le_bytes(seq) == next {
            write_cursor = next;
        }
        let readers = (0..layout::READER_SLOTS)
            .filter_map(|slot| {
                let base = layout::reader_w(slot);
                let pid = header[base + layout::READER_PID];
                (pid != 0 && pid != CLAIMING).then(|| {
                    let position = if geometry.kind == RingKind::Spsc {
                        header[layout::READ_CURSOR_W]
                    } else {
                        header[base + layout::READER_POS]
                    };
                    ReaderInfo {
                        slot,
                        pid,
                        position,
                        lag: write_cursor.saturating_sub(position),
                        lost: header[base + layout::READER_LOST],
                        attached_wall_ns: header[base + layout::READER_ATTACHED],
                    }
                })
            })
            .collect();
        Ok(Self {
            path: path.to_path_buf(),
            geometry,
            file_bytes: len,
            producer_pid: header[layout::PRODUCER_PID_W],
            heartbeat_ns,
            heartbeat_age_ns: crate::clock::now_ns().saturating_sub(heartbeat_ns),
            created_wall_ns: header[layout::CREATED_W],
            closed: header[layout::CLOSED_W] != 0,
            write_cursor,
            read_cursor: header[layout::READ_CURSOR_W],
            readers,
        })
    }
}

impl fmt::Display for RingInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = &self.geometry;
        writeln!(f, "ring {}", self.path.display())?;
        writeln!(
            f,
            "  kind {} · layout v{} · {} slots × {} B messages (stride {} B) · {} B file",
            g.kind,
            layout::LAYOUT_VERSION,
            g.capacity,
            g.msg_size,
            g.stride,
            self.file_bytes
        )?;
        writeln!(
            f,
            "  producer pid {} · heartbeat {:.3} ms ago · {}",
            self.producer_pid,
            self.heartbeat_age_ns as f64 / 1e6,
            if self.closed { "CLOSED" } else { "open" }
        )?;
        write!(f, "  write cursor {}", self.write_cursor)?;
        if g.kind == RingKind::Spsc {
            write!(
                f,
                " · read cursor {} · backlog {}",
                self.read_cursor,
                self.write_cursor.saturating_sub(self.read_cursor)
            )?;
        }
        writeln!(f)?;
        for r in &self.readers {
            writeln!(
                f,
                "  reader slot {:>2}: pid {} · read {} · lag {} · lost {}",
                r.slot, r.pid, r.position, r.lag, r.lost
            )?;
        }
        Ok(())
    }
}
