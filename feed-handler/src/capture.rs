//! Native capture files: the ring's own 64-byte records behind a self-describing file header.
//!
//! A capture is what `feed-handler capture` records from a ring and what `hotrisk-tools convert`
//! writes from Tardis or Binance input; `feed-handler replay` publishes it back bit-exact (only
//! `publish_ts`, a property of one publication, is restamped on replay and zeroed on capture).
//!
//! # Layout (little-endian)
//! ```text
//! off  size  field
//!   0    8   magic            b"HRCAPTUR"
//!   8    4   version          u32 = 1
//!  12    4   msg_size         u32 = 64 (size of one record)
//!  16    8   count            u64: number of records (written last, by `finish`)
//!  24    4   header_len       u32: bytes before the first record, a multiple of 64
//!  28    4   n_instruments    u32: entries in the symbol table
//!  32   32   reserved         zero
//!  64    …   symbol table     n_instruments × (u8 len, len bytes of UTF-8), id = position
//!   …    …   padding          zero up to header_len
//! header_len  count × 64      records (`wire::Msg` / `wire::Order` layout)
//! ```
//! The file is exactly `header_len + 64 × count` bytes long; a reader rejects anything else
//! (a count of 0 with records behind it is an unfinished capture). There is no creation time in
//! the header, so the same records give the same file, byte for byte.
//!
//! # I/O
//! The writer buffers (1 MiB) and patches `count` at [`CaptureWriter::finish`]. The reader reads
//! whole batches straight into a caller's `[Msg]` buffer (no per-record copy, no `unsafe`), and
//! validates each record's kind byte, naming the byte offset of a bad one.
#![forbid(unsafe_code)]

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::source::InputError;
use crate::wire::{Msg, MSG_SIZE};

/// File magic.
pub const MAGIC: [u8; 8] = *b"HRCAPTUR";
/// Layout version written and accepted.
pub const VERSION: u32 = 1;
/// Size of the fixed part of the header.
pub const FIXED_HEADER_LEN: usize = 64;
/// Longest symbol the table holds.
pub const MAX_SYMBOL_LEN: usize = 255;
/// Offset of the record count.
const COUNT_OFFSET: u64 = 16;

/// The decoded header of a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureHeader {
    /// Layout version.
    pub version: u32,
    /// Number of records.
    pub count: u64,
    /// Bytes before the first record.
    pub header_len: u64,
    /// Instrument symbols, id = position.
    pub symbols: Vec<String>,
}

/// Whether `bytes` (the start of a file) carry the capture magic.
pub fn has_magic(bytes: &[u8]) -> bool {
    bytes.len() >= MAGIC.len() && bytes[..MAGIC.len()] == MAGIC
}

fn io_err(name: &str, what: &str, e: std::io::Error) -> InputError {
    InputError::file(name, format!("{what}: {e}"))
}

/// Encodes a header for `symbols` with `count` records.
pub fn encode_header(symbols: &[String], count: u64) -> Result<Vec<u8>, String> {
    let mut h = Vec::with_capacity(FIXED_HEADER_LEN + symbols.len() * 16);
    h.extend_from_slice(&MAGIC);
    h.extend_from_slice(&VERSION.to_le_bytes());
    h.extend_from_slice(&(MSG_SIZE as u32).to_le_bytes());
    h.extend_from_slice(&count.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes()); // header_len, patched below
    let n = u32::try_from(symbols.len()).map_err(|_| "too many instruments".to_owned())?;
    h.extend_from_slice(&n.to_le_bytes());
    h.resize(FIXED_HEADER_LEN, 0);
    for s in symbols {
        let len = u8::try_from(s.len())
            .ok()
            .filter(|&l| l > 0)
            .ok_or_else(|| format!("symbol {s:?} must be 1..={MAX_SYMBOL_LEN} bytes"))?;
        h.push(len);
        h.extend_from_slice(s.as_bytes());
    }
    let padded = h.len().div_ceil(MSG_SIZE) * MSG_SIZE;
    h.resize(padded, 0);
    let hl = u32::try_from(padded).map_err(|_| "symbol table too large".to_owned())?;
    h[24..28].copy_from_slice(&hl.to_le_bytes());
    Ok(h)
}

/// Decodes and checks a header from the first bytes of a file (`name` is used in errors).
pub fn decode_header(name: &str, bytes: &[u8]) -> Result<CaptureHeader, InputError> {
    let need = |off: usize, what: &str| {
        InputError::offset(
            name,
            off as u64,
            format!("file ends inside the capture header (reading {what})"),
        )
    };
    if bytes.len() < FIXED_HEADER_LEN {
        if bytes.len() >= 8 && !has_magic(bytes) {
            return Err(bad_magic(name, bytes));
        }
        return Err(need(bytes.len(), "the 64-byte fixed header"));
    }
    if !has_magic(bytes) {
        return Err(bad_magic(name, bytes));
    }
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap_or([0; 4]));
    let version = u32_at(8);
    if version != VERSION {
        return Err(InputError::offset(
            name,
            8,
            format!("capture version {VERSION} expected, file has {version}"),
        ));
    }
    let msg_size = u32_at(12);
    if msg_size as usize != MSG_SIZE {
        return Err(InputError::offset(
            name,
            12,
            format!("message size {MSG_SIZE} expected, file has {msg_size}"),
        ));
    }
    let count = u64::from_le_bytes(bytes[16..24].try_into().unwrap_or([0; 8]));
    let header_len = u32_at(24) as usize;
    if header_len < FIXED_HEADER_LEN || !header_len.is_multiple_of(MSG_SIZE) {
        return Err(InputError::offset(
            name,
            24,
            format!("header length {header_len} is not a multiple of {MSG_SIZE} of at least {FIXED_HEADER_LEN}"),
        ));
    }
    let n = u32_at(28) as usize;
    let mut symbols = Vec::with_capacity(n.min(65_536));
    let mut off = FIXED_HEADER_LEN;
    for i in 0..n {
        if off >= header_len || off >= bytes.len() {
            return Err(need(off, &format!("symbol {i} of {n}")));
        }
        let len = usize::from(bytes[off]);
        if len == 0 || off + 1 + len > header_len || off + 1 + len > bytes.len() {
            return Err(InputError::offset(
                name,
                off as u64,
                format!(
                    "symbol {i} of {n} (length {len}) does not fit the {header_len}-byte header"
                ),
            ));
        }
        let s = std::str::from_utf8(&bytes[off + 1..off + 1 + len]).map_err(|_| {
            InputError::offset(name, off as u64 + 1, format!("symbol {i} is not UTF-8"))
        })?;
        symbols.push(s.to_owned());
        off += 1 + len;
    }
    Ok(CaptureHeader {
        version,
        count,
        header_len: header_len as u64,
        symbols,
    })
}

fn bad_magic(name: &str, bytes: &[u8]) -> InputError {
    InputError::offset(
        name,
        0,
        format!(
            "not a hotrisk capture: magic {:?} expected, file starts with {:?}",
            String::from_utf8_lossy(&MAGIC),
            String::from_utf8_lossy(&bytes[..bytes.len().min(8)])
        ),
    )
}

/// Writes a capture file. Buffered; call [`CaptureWriter::finish`] to complete the header.
#[derive(Debug)]
pub struct CaptureWriter {
    out: BufWriter<File>,
    name: String,
    count: u64,
}

impl CaptureWriter {
    /// Creates (truncates) `path` and writes the header with the instrument `symbols`.
    pub fn create(path: &Path, symbols: &[String]) -> Result<Self, InputError> {
        let name = path.display().to_string();
        let header = encode_header(symbols, 0).map_err(|e| InputError::file(&name, e))?;
        let file = File::create(path).map_err(|e| io_err(&name, "cannot create", e))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(&header)
            .map_err(|e| io_err(&name, "cannot write", e))?;
        Ok(Self {
            out,
            name,
            count: 0,
        })
    }

    /// Appends records.
    pub fn write(&mut self, msgs: &[Msg]) -> Result<(), InputError> {
        self.out
            .write_all(bytemuck::cast_slice(msgs))
            .map_err(|e| io_err(&self.name, "cannot write", e))?;
        self.count += msgs.len() as u64;
        Ok(())
    }

    /// Records written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Flushes, writes the record count into the header and returns it.
    pub fn finish(self) -> Result<u64, InputError> {
        let name = self.name;
        let mut file = self
            .out
            .into_inner()
            .map_err(|e| io_err(&name, "cannot write", e.into_error()))?;
        file.seek(SeekFrom::Start(COUNT_OFFSET))
            .and_then(|_| file.write_all(&self.count.to_le_bytes()))
            .and_then(|_| file.flush())
            .map_err(|e| io_err(&name, "cannot finish", e))?;
        Ok(self.count)
    }
}

/// Reads a capture file in batches.
#[derive(Debug)]
pub struct CaptureReader {
    file: File,
    name: String,
    header: CaptureHeader,
    next: u64,
}

impl CaptureReader {
    /// Opens `path`, checks the header and that the file length matches the record count.
    pub fn open(path: &Path) -> Result<Self, InputError> {
        let name = path.display().to_string();
        let mut file = File::open(path).map_err(|e| io_err(&name, "cannot open", e))?;
        let len = file
            .metadata()
            .map_err(|e| io_err(&name, "cannot stat", e))?
            .len();
        let mut head = vec![0u8; FIXED_HEADER_LEN];
        let got = read_up_to(&mut file, &mut head).map_err(|e| io_err(&name, "cannot read", e))?;
        head.truncate(got);
        if got == FIXED_HEADER_LEN {
            // Read the rest of the header (symbol table) now that its length is known.
            let hl = u32::from_le_bytes(head[24..28].try_into().unwrap_or([0; 4])) as usize;
            if has_magic(&head) && hl > FIXED_HEADER_LEN && hl <= 1 << 24 {
                head.resize(hl, 0);
                let got = read_up_to(&mut file, &mut head[FIXED_HEADER_LEN..])
                    .map_err(|e| io_err(&name, "cannot read", e))?;
                head.truncate(FIXED_HEADER_LEN + got);
            }
        }
        let header = decode_header(&name, &head)?;
        let body = len.saturating_sub(header.header_len);
        let expect = header.count.checked_mul(MSG_SIZE as u64);
        if len < header.header_len || Some(body) != expect {
            let whole = body / MSG_SIZE as u64;
            let what = if header.count == 0 && body > 0 {
                format!("header says 0 records but {body} bytes follow: an unfinished capture (the writer did not finish)")
            } else if body % MSG_SIZE as u64 != 0 {
                format!(
                    "truncated record: {body} bytes follow the header, not a multiple of {MSG_SIZE}; header says {} records, the file holds {whole} whole ones",
                    header.count
                )
            } else {
                format!(
                    "header says {} records but the file holds {whole}",
                    header.count
                )
            };
            let at = header.header_len + whole.min(header.count) * MSG_SIZE as u64;
            return Err(InputError::offset(&name, at, what));
        }
        file.seek(SeekFrom::Start(header.header_len))
            .map_err(|e| io_err(&name, "cannot seek", e))?;
        Ok(Self {
            file,
            name,
            header,
            next: 0,
        })
    }

    /// The header.
    pub fn header(&self) -> &CaptureHeader {
        &self.header
    }

    /// Records not yet read.
    pub fn remaining(&self) -> u64 {
        self.header.count - self.next
    }

    /// Index of the next record to be read.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// Reads up to `buf.len()` records; returns how many (0 at the end). Checks each record's kind.
    pub fn read_batch(&mut self, buf: &mut [Msg]) -> Result<usize, InputError> {
        let n = buf
            .len()
            .min(usize::try_from(self.remaining()).unwrap_or(usize::MAX));
        let first = self.next;
        let at = |i: u64| self.header.header_len + i * MSG_SIZE as u64;
        self.file
            .read_exact(bytemuck::cast_slice_mut(&mut buf[..n]))
            .map_err(|e| InputError::offset(&self.name, at(first), format!("cannot read: {e}")))?;
        for (i, m) in buf[..n].iter().enumerate() {
            if m.kind().is_none() {
                return Err(InputError::offset(
                    &self.name,
                    at(first + i as u64) + 32,
                    format!(
                        "record {} has unknown kind byte {}",
                        first + i as u64,
                        m.kind
                    ),
                ));
            }
        }
        self.next += n as u64;
        Ok(n)
    }

    /// Reads the whole capture into memory.
    pub fn read_all(path: &Path) -> Result<(CaptureHeader, Vec<Msg>), InputError> {
        let mut r = Self::open(path)?;
        let n = usize::try_from(r.header.count)
            .map_err(|_| InputError::file(&r.name, "too many records for memory"))?;
        let mut v = vec![Msg::market(crate::wire::MsgKind::Heartbeat, 0, 0, 0); n];
        let got = r.read_batch(&mut v)?;
        debug_assert_eq!(got, n);
        Ok((r.header.clone(), v))
    }
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match f.read(&mut buf[got..])? {
            0 => break,
            k => got += k,
        }
    }
    Ok(got)
}

/// Writes `msgs` as a complete capture (convenience for tools and tests).
pub fn write_file(path: &Path, symbols: &[String], msgs: &[Msg]) -> Result<u64, InputError> {
    let mut w = CaptureWriter::create(path, symbols)?;
    w.write(msgs)?;
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::MsgKind;

    fn msgs(n: usize) -> Vec<Msg> {
        (0..n)
            .map(|i| {
                let mut m = Msg::market(MsgKind::Trade, (i % 2) as u16, i as i64, i as i64 + 5);
                m.seq = i as u64 + 1;
                m.body = [i as i64, 2, 3];
                m
            })
            .collect()
    }

    #[test]
    fn round_trips_and_is_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let syms = vec!["BTCUSDT".to_owned(), "ETHUSDT".to_owned()];
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        write_file(&a, &syms, &msgs(1000)).unwrap();
        write_file(&b, &syms, &msgs(1000)).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        let (h, v) = CaptureReader::read_all(&a).unwrap();
        assert_eq!(h.symbols, syms);
        assert_eq!(h.header_len, 128);
        assert_eq!(v, msgs(1000));
        let mut r = CaptureReader::open(&a).unwrap();
        let mut buf = vec![msgs(1)[0]; 300];
        let mut total = 0;
        loop {
            let n = r.read_batch(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            total += n;
        }
        assert_eq!(total, 1000);
    }

    #[test]
    fn rejects_truncation_and_bad_kind_with_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c");
        write_file(&p, &["X".to_owned()], &msgs(3)).unwrap();
        let mut bytes = std::fs::read(&p).unwrap();
        bytes.truncate(bytes.len() - 10);
        std::fs::write(&p, &bytes).unwrap();
        let e = CaptureReader::open(&p).unwrap_err().to_string();
        assert!(e.contains(":byte 256: truncated record"), "{e}");
        write_file(&p, &["X".to_owned()], &msgs(3)).unwrap();
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[128 + 64 + 32] = 200;
        std::fs::write(&p, &bytes).unwrap();
        let mut r = CaptureReader::open(&p).unwrap();
        let mut buf = msgs(3);
        let e = r.read_batch(&mut buf).unwrap_err().to_string();
        assert!(
            e.contains(":byte 224: record 1 has unknown kind byte 200"),
            "{e}"
        );
    }
}
