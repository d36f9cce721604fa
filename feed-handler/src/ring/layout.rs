//! The ring file layout: one descriptor for both ring kinds, read by the rings, by attach-time
//! validation and by outside tools ([`super::RingInfo`]).
//!
//! A ring is a file (under `/dev/shm`, i.e. tmpfs: memory, no disk) or a heap block with this
//! layout. Every field is a little-endian `u64` *word*, and every access to a shared word goes
//! through an atomic, so the layout is described in word indices (`_W`) as well as byte offsets.
//!
//! ```text
//!  byte offset  line  contents                                         written by
//!  ───────────  ────  ───────────────────────────────────────────────  ───────────────────────
//!      0         0    w0  magic  "HRKRING\0"  (stored LAST, Release)     creator, once
//!                     w1  layout version (= 2)
//!                     w2  ring kind (1 = SPSC, 2 = broadcast)
//!                     w3  message size, bytes (size_of::<T>(), multiple of 8)
//!                     w4  capacity, slots (power of two, >= 2)
//!                     w5  slot stride, bytes
//!                     w6  data offset, bytes (= 2560)
//!                     w7  reader slot count (= 16)
//!                     w8  producer pid
//!                     w9  creation time, wall clock ns since the Unix epoch
//!                     w10 closed flag (0 open, 1 end of stream)           producer, once
//!                     w11..w15 reserved (zero)
//!    128         1    w16 producer heartbeat, CLOCK_MONOTONIC ns           producer, periodically
//!    256         2    w32 write cursor: messages published so far          producer (see below)
//!    384         3    w48 read cursor: messages consumed (SPSC only)       SPSC consumer
//!    512         4    reader slot 0: w64 pid (0 = free), w65 messages read  each reader, its own line
//!                                    w66 messages lost to lapping, w67 attach wall ns
//!    640         5    reader slot 1 …
//!    …                … (16 reader slots, one 128-byte line each)
//!   2560        20    slot 0, slot 1, … slot capacity-1                   producer (see below)
//! ```
//!
//! Every cursor, the heartbeat and every reader slot sit on their own 128-byte line (two 64-byte
//! cache lines, so the adjacent-line prefetcher cannot create false sharing either).
//!
//! # Positions
//! Messages are numbered from **1** in publication order (the *sequence*). The write cursor, the
//! SPSC read cursor and a reader slot's "messages read" are *counts*: the write cursor equals the
//! sequence of the last published message (0 = none yet), a read count equals the sequence of the
//! last message consumed (or skipped). So `lag = write cursor − read count`, and message `s` lives
//! in slot `(s − 1) & (capacity − 1)`.
//!
//! # Slots
//! Both kinds use the same slot: a *sequence word* followed by the message, the stride rounded up
//! to 64 bytes (128 for the 64-byte wire records):
//!
//! ```text
//!  slot k (message s, k = (s − 1) & (capacity − 1)), 64-byte messages, stride 128:
//!  byte   0        8                                   64        72                 128
//!         ┌────────┬───────────────────────────────────┬─────────┬──────────────────┐
//!         │ seq    │ message bytes 0..56               │ msg     │ (zero padding)   │
//!         │ word   │                                   │ 56..64  │                  │
//!         └────────┴───────────────────────────────────┴─────────┴──────────────────┘
//!         └──────────── cache line 1 ─────────────────┘└────────── cache line 2 ────┘
//! ```
//!
//! The sequence word holds `s` once message `s` is complete, 0 if the slot was never written. A
//! consumer waiting for message `s` polls only that word (SPSC: and prefetches the slot's other line),
//! never a shared cursor, so one message costs the slot's lines moving from producer to consumer
//! and nothing else; the slot starts a cache line so the word and the first 56 message bytes
//! arrive together.
//!
//! - **SPSC**: exclusive by protocol: the producer writes the slot of message `s` only once
//!   `s − read cursor <= capacity`, i.e. after the consumer has finished with the message that
//!   used it before. The sequence word is stored last (Release) and is the publication point.
//! - **Broadcast**: the writer also marks the word `s | BUSY` before writing the message; a
//!   reader copies the message out, then re-reads the sequence word (a per-slot seqlock), so a
//!   slot overwritten under it is detected, never returned.
//!
//! # The write cursor
//! The producer stores the write cursor right *after* publishing a slot, for readers that need a
//! count (`lag`, `backlog`, end of stream, tools, crash recovery); nobody polls it on the hot
//! path. So it may trail the slots by one message for an instant, or for good if the producer dies
//! between the two stores: [`super::RingInfo::read`] therefore also checks the sequence word of
//! the next slot and reports the exact count of messages published.

use std::fmt;
use std::path::Path;

use super::RingError;

/// The file's first word: the bytes `HRKRING\0`.
pub const MAGIC: u64 = u64::from_le_bytes(*b"HRKRING\0");
/// The layout this code reads and writes.
///
/// Version 2: SPSC slots carry a sequence word like broadcast slots (version 1 SPSC slots were
/// the bare message, published by the write cursor).
pub const LAYOUT_VERSION: u64 = 2;
/// Bytes per line: cursors and reader slots each own one.
pub const LINE_BYTES: usize = 128;
/// Words per line.
pub const LINE_WORDS: usize = LINE_BYTES / 8;
/// Reader registration slots in every ring header.
pub const READER_SLOTS: usize = 16;
/// Header size in bytes (also the offset of the first slot).
pub const HEADER_BYTES: usize = (4 + READER_SLOTS) * LINE_BYTES;
/// Header size in words.
pub const HEADER_WORDS: usize = HEADER_BYTES / 8;
/// Marks a broadcast slot's sequence word while the writer is writing the slot.
pub const BUSY: u64 = 1 << 63;

/// Word index: magic.
pub const MAGIC_W: usize = 0;
/// Word index: layout version.
pub const VERSION_W: usize = 1;
/// Word index: ring kind.
pub const KIND_W: usize = 2;
/// Word index: message size in bytes.
pub const MSG_SIZE_W: usize = 3;
/// Word index: capacity in slots.
pub const CAPACITY_W: usize = 4;
/// Word index: slot stride in bytes.
pub const STRIDE_W: usize = 5;
/// Word index: data offset in bytes.
pub const DATA_OFFSET_W: usize = 6;
/// Word index: number of reader slots.
pub const READER_SLOTS_W: usize = 7;
/// Word index: producer pid.
pub const PRODUCER_PID_W: usize = 8;
/// Word index: creation time, wall ns.
pub const CREATED_W: usize = 9;
/// Word index: closed (end-of-stream) flag.
pub const CLOSED_W: usize = 10;
/// Word index: producer heartbeat, `CLOCK_MONOTONIC` ns (line 1).
pub const HEARTBEAT_W: usize = LINE_WORDS;
/// Word index: write cursor (line 2).
pub const WRITE_CURSOR_W: usize = 2 * LINE_WORDS;
/// Word index: SPSC read cursor (line 3).
pub const READ_CURSOR_W: usize = 3 * LINE_WORDS;
/// Word index of reader slot 0 (line 4); slot `i` starts at `READER_BASE_W + i * LINE_WORDS`.
pub const READER_BASE_W: usize = 4 * LINE_WORDS;
/// Offset within a reader slot: pid (0 = free).
pub const READER_PID: usize = 0;
/// Offset within a reader slot: messages read (the last sequence consumed or skipped).
pub const READER_POS: usize = 1;
/// Offset within a reader slot: messages lost to lapping.
pub const READER_LOST: usize = 2;
/// Offset within a reader slot: attach time, wall ns.
pub const READER_ATTACHED: usize = 3;

/// Word index of reader slot `i`'s first word.
pub const fn reader_w(i: usize) -> usize {
    READER_BASE_W + i * LINE_WORDS
}

/// Which protocol a ring file speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingKind {
    /// Lossless single producer, single consumer, with back-pressure.
    Spsc = 1,
    /// One writer that never waits, any number of readers that detect being lapped.
    Broadcast = 2,
}

impl RingKind {
    /// Decodes the kind word.
    pub const fn from_word(w: u64) -> Option<Self> {
        match w {
            1 => Some(Self::Spsc),
            2 => Some(Self::Broadcast),
            _ => None,
        }
    }

    /// Slot stride in bytes for messages of `msg_size` bytes: a sequence word plus the message,
    /// rounded up to 64 bytes (the same for both kinds).
    pub const fn stride(self, msg_size: usize) -> usize {
        match self {
            Self::Spsc | Self::Broadcast => (8 + msg_size).div_ceil(64) * 64,
        }
    }
}

impl fmt::Display for RingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Spsc => "SPSC",
            Self::Broadcast => "broadcast",
        })
    }
}

/// The shape of a validated ring: where the slots are and how big they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Ring kind.
    pub kind: RingKind,
    /// Message size in bytes.
    pub msg_size: usize,
    /// Slots (a power of two, >= 2).
    pub capacity: usize,
    /// Slot stride in bytes.
    pub stride: usize,
}

impl Geometry {
    /// The geometry of a new ring; checks the capacity and message size.
    pub fn new(kind: RingKind, msg_size: usize, capacity: usize) -> Result<Self, RingError> {
        if capacity < 2 || !capacity.is_power_of_two() || capacity > (1 << 40) {
            return Err(RingError::InvalidCapacity(capacity));
        }
        if msg_size == 0 || !msg_size.is_multiple_of(8) {
            return Err(RingError::InvalidMessageSize(msg_size));
        }
        Ok(Self {
            kind,
            msg_size,
            capacity,
            stride: kind.stride(msg_size),
        })
    }

    /// Total file size in bytes: the header plus every slot.
    pub const fn file_bytes(&self) -> usize {
        HEADER_BYTES + self.capacity * self.stride
    }

    /// Total size in words.
    pub const fn file_words(&self) -> usize {
        self.file_bytes() / 8
    }

    /// Slot stride in words.
    pub const fn stride_words(&self) -> usize {
        self.stride / 8
    }

    /// The first word of the slot holding message `seq` (1-based).
    #[inline]
    pub const fn slot_w(&self, seq: u64) -> usize {
        // `capacity` is a power of two, so this is `(seq - 1) mod capacity`.
        HEADER_WORDS + ((seq.wrapping_sub(1) as usize) & (self.capacity - 1)) * self.stride_words()
    }

    /// The header words a creator writes, magic included (store the magic last).
    pub fn header_words(&self, pid: u64, created_wall_ns: u64) -> [(usize, u64); 10] {
        [
            (VERSION_W, LAYOUT_VERSION),
            (KIND_W, self.kind as u64),
            (MSG_SIZE_W, self.msg_size as u64),
            (CAPACITY_W, self.capacity as u64),
            (STRIDE_W, self.stride as u64),
            (DATA_OFFSET_W, HEADER_BYTES as u64),
            (READER_SLOTS_W, READER_SLOTS as u64),
            (PRODUCER_PID_W, pid),
            (CREATED_W, created_wall_ns),
            (MAGIC_W, MAGIC),
        ]
    }

    /// Validates a header snapshot (`header[w]` = word `w`) of a ring `file_len` bytes long.
    ///
    /// `expect` is what the caller will use the ring as (kind and message size); `None` accepts
    /// any (for inspection tools). Each mismatch names the field, the expected and found values.
    pub fn validate(
        path: &Path,
        header: &[u64],
        file_len: u64,
        expect: Option<(RingKind, usize)>,
    ) -> Result<Self, RingError> {
        let path = path.to_path_buf();
        if (file_len as usize) < HEADER_BYTES || header.len() < HEADER_WORDS {
            return Err(RingError::FileTooSmall {
                path,
                needed: HEADER_BYTES as u64,
                found: file_len,
                what: "the ring header",
            });
        }
        if header[MAGIC_W] != MAGIC {
            return Err(RingError::BadMagic {
                path,
                found: header[MAGIC_W],
            });
        }
        let field = |field: &'static str, expected: u64, found: u64| {
            if expected == found {
                Ok(())
            } else {
                Err(RingError::Header {
                    path: path.clone(),
                    field,
                    expected,
                    found,
                })
            }
        };
        field("layout version", LAYOUT_VERSION, header[VERSION_W])?;
        let kind = match (RingKind::from_word(header[KIND_W]), expect) {
            (Some(k), None) => k,
            (Some(k), Some((want, _))) if k == want => k,
            (_, Some((want, _))) => {
                return Err(RingError::Header {
                    path,
                    field: "ring kind (1 SPSC, 2 broadcast)",
                    expected: want as u64,
                    found: header[KIND_W],
                })
            }
            (None, None) => {
                return Err(RingError::Header {
                    path,
                    field: "ring kind (1 SPSC, 2 broadcast)",
                    expected: RingKind::Spsc as u64,
                    found: header[KIND_W],
                })
            }
        };
        let msg_size = header[MSG_SIZE_W];
        if let Some((_, want)) = expect {
            field("message size", want as u64, msg_size)?;
        } else if msg_size == 0 || !msg_size.is_multiple_of(8) || msg_size > 1 << 20 {
            field("message size (a multiple of 8)", 64, msg_size)?;
        }
        let capacity = header[CAPACITY_W];
        if capacity < 2 || !capacity.is_power_of_two() || capacity > 1 << 40 {
            return Err(RingError::CapacityNotPowerOfTwo {
                path,
                found: capacity,
            });
        }
        let stride = kind.stride(msg_size as usize) as u64;
        field("slot stride", stride, header[STRIDE_W])?;
        field("data offset", HEADER_BYTES as u64, header[DATA_OFFSET_W])?;
        field(
            "reader slot count",
            READER_SLOTS as u64,
            header[READER_SLOTS_W],
        )?;
        let geometry = Self {
            kind,
            msg_size: msg_size as usize,
            capacity: capacity as usize,
            stride: stride as usize,
        };
        let needed = geometry.file_bytes() as u64;
        if file_len < needed {
            return Err(RingError::FileTooSmall {
                path,
                needed,
                found: file_len,
                what: "the declared capacity",
            });
        }
        Ok(geometry)
    }
}

// The layout's promises, checked at compile time.
const _: () = assert!(HEADER_BYTES == 2560);
const _: () = assert!(HEADER_BYTES.is_multiple_of(LINE_BYTES));
const _: () = assert!(
    (WRITE_CURSOR_W * 8).is_multiple_of(LINE_BYTES)
        && (READ_CURSOR_W * 8).is_multiple_of(LINE_BYTES)
);
const _: () = assert!(reader_w(READER_SLOTS) == HEADER_WORDS);
const _: () = assert!(RingKind::Broadcast.stride(64) == 128 && RingKind::Spsc.stride(64) == 128);
const _: () = assert!(RingKind::Spsc.stride(8) == 64 && RingKind::Spsc.stride(56) == 64);
