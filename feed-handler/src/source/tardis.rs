//! Tardis.dev CSV files (plain or gzip-compressed, recognised by the gzip magic bytes).
//!
//! Three data types are accepted, each recognised by its exact column header (first line):
//!
//! | type | header | messages |
//! |---|---|---|
//! | `trades` | `exchange,symbol,timestamp,local_timestamp,id,side,price,amount` | one `Trade` (aux = `buy`/`sell` aggressor, body `[price, amount, id]`) |
//! | `derivative_ticker` | `exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,predicted_funding_rate,open_interest,last_price,index_price,mark_price` | `MarkPrice`, `IndexPrice`, `Funding` for each non-empty field (any field may be empty) |
//! | `incremental_book_L2` | `exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount` | one `BookLevel` per row (`bid`/`ask`; amount 0 deletes the level) |
//!
//! Timestamps are integer microseconds since the epoch; both are kept, converted to ns
//! (`exch_ts` ← `timestamp`, `local_ts` ← `local_timestamp`). Prices, amounts and rates are
//! parsed exactly at E8 ([`crate::fixed`]). In a book file, a block of consecutive
//! `is_snapshot=true` rows of one symbol resets that symbol's book: it is framed by
//! `SnapshotBegin` (before its first row) and `SnapshotEnd` (stamped like its last row, emitted
//! when the next row is not part of the block, or at the end of the file). A non-numeric trade id
//! is stored as its 63-bit FNV-1a hash. `predicted_funding_rate`, `open_interest` and `last_price`
//! are not carried (the wire has no field for them); `exchange` is not checked.
//!
//! Merge rank at equal local timestamps: trades 0, derivative ticker 1, book 2.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use super::{parse_int, us_to_ns, InputError, Instruments, MsgSource};
use crate::fixed::parse_e8;
use crate::wire::{Msg, MsgKind, Side};

/// Column header of `incremental_book_L2` files.
pub const BOOK_HEADER: &str =
    "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount";
/// Column header of `trades` files.
pub const TRADES_HEADER: &str = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount";
/// Column header of `derivative_ticker` files.
pub const TICKER_HEADER: &str = "exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,predicted_funding_rate,open_interest,last_price,index_price,mark_price";

/// Which Tardis data type a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TardisKind {
    /// `trades`.
    Trades,
    /// `derivative_ticker`.
    Ticker,
    /// `incremental_book_L2`.
    Book,
}

impl TardisKind {
    fn columns(self) -> usize {
        match self {
            Self::Trades | Self::Book => 8,
            Self::Ticker => 11,
        }
    }
}

/// Tracks an open snapshot block of a book file.
#[derive(Debug, Clone, Copy)]
struct OpenSnapshot {
    instrument: u16,
    exch_ts: i64,
    local_ts: i64,
}

/// One Tardis CSV file as a [`MsgSource`].
pub struct TardisFile {
    name: String,
    kind: TardisKind,
    rdr: csv::Reader<Box<dyn Read>>,
    rec: csv::ByteRecord,
    pending: [Msg; 4],
    pend_len: usize,
    pend_pos: usize,
    last_local: i64,
    last_line: u64,
    snapshot: Option<OpenSnapshot>,
    done: bool,
    sym_cache: Vec<u8>,
    sym_id: u16,
    rows: u64,
}

impl std::fmt::Debug for TardisFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TardisFile")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

const ZERO: Msg = Msg::market(MsgKind::Heartbeat, 0, 0, 0);

/// Opens a file, transparently decompressing gzip (recognised by its magic bytes).
pub(crate) fn open_maybe_gz(path: &Path) -> Result<Box<dyn Read>, InputError> {
    let name = path.display().to_string();
    let mut f =
        File::open(path).map_err(|e| InputError::file(&name, format!("cannot open: {e}")))?;
    let mut magic = [0u8; 2];
    let n = f
        .read(&mut magic)
        .map_err(|e| InputError::file(&name, format!("cannot read: {e}")))?;
    let f = File::open(path).map_err(|e| InputError::file(&name, format!("cannot open: {e}")))?;
    let buffered = BufReader::with_capacity(1 << 16, f);
    Ok(if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(BufReader::with_capacity(
            1 << 16,
            MultiGzDecoder::new(buffered),
        ))
    } else {
        Box::new(buffered)
    })
}

fn describe_read_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            format!("truncated input (gzip stream ends early): {e}")
        }
        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData => {
            format!("corrupt gzip stream: {e}")
        }
        _ => format!("read error: {e}"),
    }
}

impl TardisFile {
    /// Opens `path` and recognises its data type by the column header.
    pub fn open(path: &Path) -> Result<Self, InputError> {
        let name = path.display().to_string();
        let input = open_maybe_gz(path)?;
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(1 << 16)
            .from_reader(input);
        let mut rec = csv::ByteRecord::new();
        match rdr.read_byte_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => {
                return Err(InputError::fatal_line(
                    &name,
                    1,
                    "empty file: no column header",
                ))
            }
            Err(e) => return Err(csv_error(&name, 1, e)),
        }
        let header: Vec<&[u8]> = rec.iter().collect();
        let header = header.join(&b","[..]);
        let kind = match &header[..] {
            h if h == BOOK_HEADER.as_bytes() => TardisKind::Book,
            h if h == TRADES_HEADER.as_bytes() => TardisKind::Trades,
            h if h == TICKER_HEADER.as_bytes() => TardisKind::Ticker,
            h => {
                return Err(InputError::fatal_line(
                    &name,
                    1,
                    format!(
                        "wrong column header {:?}: expected incremental_book_L2 {BOOK_HEADER:?}, trades {TRADES_HEADER:?} or derivative_ticker {TICKER_HEADER:?}",
                        String::from_utf8_lossy(h)
                    ),
                ))
            }
        };
        Ok(Self {
            name,
            kind,
            rdr,
            rec,
            pending: [ZERO; 4],
            pend_len: 0,
            pend_pos: 0,
            last_local: i64::MIN,
            last_line: 1,
            snapshot: None,
            done: false,
            sym_cache: Vec::new(),
            sym_id: 0,
            rows: 0,
        })
    }

    /// The data type recognised from the header.
    pub fn kind(&self) -> TardisKind {
        self.kind
    }

    /// Data rows read so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    fn push(&mut self, m: Msg) {
        self.pending[self.pend_len] = m;
        self.pend_len += 1;
    }

    fn close_snapshot(&mut self) {
        if let Some(s) = self.snapshot.take() {
            self.push(Msg::market(
                MsgKind::SnapshotEnd,
                s.instrument,
                s.exch_ts,
                s.local_ts,
            ));
        }
    }

    /// Parses the current record into `pending`; on error nothing is changed.
    fn parse_row(&mut self, inst: &mut Instruments) -> Result<(), String> {
        let r = &self.rec;
        let want = self.kind.columns();
        if r.len() != want {
            return Err(format!("expected {want} fields, found {}", r.len()));
        }
        let sym = &r[1];
        let instrument = if sym == &self.sym_cache[..] && !sym.is_empty() {
            self.sym_id
        } else {
            let s = std::str::from_utf8(sym).map_err(|_| "symbol is not UTF-8".to_owned())?;
            if s.is_empty() {
                return Err("empty symbol".into());
            }
            inst.id(s)?
        };
        let exch = ts_field(&r[2], "timestamp")?;
        let local = ts_field(&r[3], "local_timestamp")?;
        if local < self.last_local {
            return Err(format!(
                "local_timestamp {} goes back in time (previous row at line {} had {})",
                local / 1000,
                self.last_line,
                self.last_local / 1000
            ));
        }
        let base = |kind| Msg::market(kind, instrument, exch, local);
        let mut out = [ZERO; 3];
        let mut n = 0;
        let mut snapshot_row = false;
        match self.kind {
            TardisKind::Book => {
                snapshot_row = match &r[4] {
                    b"true" => true,
                    b"false" => false,
                    v => {
                        return Err(format!(
                            "is_snapshot must be true or false, found {:?}",
                            lossy(v)
                        ))
                    }
                };
                let side = match &r[5] {
                    b"bid" => Side::Buy,
                    b"ask" => Side::Sell,
                    v => return Err(format!("side must be bid or ask, found {:?}", lossy(v))),
                };
                let price = dec(&r[6], "price")?;
                let amount = dec(&r[7], "amount")?;
                if price <= 0 {
                    return Err(format!("price must be positive, found {}", lossy(&r[6])));
                }
                if amount < 0 {
                    return Err(format!(
                        "amount must not be negative, found {}",
                        lossy(&r[7])
                    ));
                }
                let mut m = base(MsgKind::BookLevel);
                m.aux = side as u8;
                m.body = [price, amount, 0];
                out[0] = m;
                n = 1;
            }
            TardisKind::Trades => {
                let side = match &r[5] {
                    b"buy" => Side::Buy,
                    b"sell" => Side::Sell,
                    v => return Err(format!("side must be buy or sell, found {:?}", lossy(v))),
                };
                let price = dec(&r[6], "price")?;
                let amount = dec(&r[7], "amount")?;
                if price <= 0 || amount <= 0 {
                    return Err("trade price and amount must be positive".into());
                }
                let id = parse_int(&r[4]).unwrap_or_else(|| fnv63(&r[4]));
                let mut m = base(MsgKind::Trade);
                m.aux = side as u8;
                m.body = [price, amount, id];
                out[0] = m;
                n = 1;
            }
            TardisKind::Ticker => {
                let funding_ts = if r[4].is_empty() {
                    0
                } else {
                    ts_field(&r[4], "funding_timestamp")?
                };
                if !r[10].is_empty() {
                    let mut m = base(MsgKind::MarkPrice);
                    m.body[0] = positive(&r[10], "mark_price")?;
                    out[n] = m;
                    n += 1;
                }
                if !r[9].is_empty() {
                    let mut m = base(MsgKind::IndexPrice);
                    m.body[0] = positive(&r[9], "index_price")?;
                    out[n] = m;
                    n += 1;
                }
                if !r[5].is_empty() {
                    let mut m = base(MsgKind::Funding);
                    m.body = [dec(&r[5], "funding_rate")?, funding_ts, 0];
                    out[n] = m;
                    n += 1;
                }
                // Validate the carried-over decimals so that a malformed row is never accepted.
                for (i, what) in [
                    (6, "predicted_funding_rate"),
                    (7, "open_interest"),
                    (8, "last_price"),
                ] {
                    if !r[i].is_empty() {
                        dec(&r[i], what)?;
                    }
                }
            }
        }
        // Commit: the row is good.
        if sym != &self.sym_cache[..] {
            self.sym_cache.clear();
            self.sym_cache.extend_from_slice(sym);
            self.sym_id = instrument;
        }
        self.last_local = local;
        if self.kind == TardisKind::Book {
            let continues =
                snapshot_row && self.snapshot.is_some_and(|s| s.instrument == instrument);
            if !continues {
                self.close_snapshot();
            }
            if snapshot_row {
                if !continues {
                    self.push(base(MsgKind::SnapshotBegin));
                }
                self.snapshot = Some(OpenSnapshot {
                    instrument,
                    exch_ts: exch,
                    local_ts: local,
                });
            }
        }
        for m in &out[..n] {
            self.push(*m);
        }
        Ok(())
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ts_field(b: &[u8], what: &str) -> Result<i64, String> {
    parse_int(b)
        .and_then(us_to_ns)
        .ok_or_else(|| format!("{what} must be integer microseconds, found {:?}", lossy(b)))
}

fn dec(b: &[u8], what: &str) -> Result<i64, String> {
    if let Some(v) = fast_e8(b) {
        return Ok(v);
    }
    let s = std::str::from_utf8(b).map_err(|_| format!("{what} is not UTF-8"))?;
    parse_e8(s).map_err(|e| format!("{what}: {e}"))
}

/// The common case of [`parse_e8`] on bytes, without `i128`: an optional `-`, 1 to 10 integer
/// digits, optionally a point and 1 to 8 fractional digits. Anything else (and every error) is
/// `None`, and the caller falls back to [`parse_e8`], so the two always agree (a property test
/// checks it).
#[inline]
pub fn fast_e8(b: &[u8]) -> Option<i64> {
    let (neg, b) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    let (int, frac) = match b.iter().position(|&c| c == b'.') {
        Some(p) => (&b[..p], &b[p + 1..]),
        None => (b, &b[b.len()..]),
    };
    if int.is_empty()
        || int.len() > 10
        || frac.len() > 8
        || (frac.is_empty() && int.len() < b.len())
    {
        return None;
    }
    let mut v: u64 = 0;
    for &c in int {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + u64::from(d);
    }
    let mut f: u64 = 0;
    for &c in frac {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        f = f * 10 + u64::from(d);
    }
    const POW: [u64; 9] = [
        100_000_000,
        10_000_000,
        1_000_000,
        100_000,
        10_000,
        1_000,
        100,
        10,
        1,
    ];
    // 10 integer digits × 10^8 < 10^18 < i64::MAX: no overflow possible.
    let v = (v * 100_000_000 + f * POW[frac.len()]) as i64;
    Some(if neg { -v } else { v })
}

fn positive(b: &[u8], what: &str) -> Result<i64, String> {
    let v = dec(b, what)?;
    if v <= 0 {
        return Err(format!("{what} must be positive, found {}", lossy(b)));
    }
    Ok(v)
}

/// 63-bit FNV-1a hash (for non-numeric trade ids).
fn fnv63(b: &[u8]) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &c in b {
        h ^= u64::from(c);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h >> 1) as i64
}

fn csv_error(name: &str, line: u64, e: csv::Error) -> InputError {
    let line = e.position().map_or(line, |p| p.line());
    match e.into_kind() {
        csv::ErrorKind::Io(io) => InputError::fatal_line(name, line, describe_read_error(&io)),
        other => InputError::fatal_line(name, line, format!("unreadable CSV: {other:?}")),
    }
}

impl MsgSource for TardisFile {
    fn next_msg(&mut self, inst: &mut Instruments) -> Option<Result<Msg, InputError>> {
        loop {
            if self.pend_pos < self.pend_len {
                let m = self.pending[self.pend_pos];
                self.pend_pos += 1;
                return Some(Ok(m));
            }
            if self.done {
                return None;
            }
            self.pend_pos = 0;
            self.pend_len = 0;
            match self.rdr.read_byte_record(&mut self.rec) {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    self.close_snapshot();
                    continue;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(csv_error(&self.name, self.last_line + 1, e)));
                }
            }
            let line = self.rec.position().map_or(self.last_line + 1, |p| p.line());
            self.rows += 1;
            match self.parse_row(inst) {
                Ok(()) => self.last_line = line,
                Err(what) => {
                    self.pend_len = 0;
                    return Some(Err(InputError::line(&self.name, line, what)));
                }
            }
        }
    }

    fn rank(&self) -> u8 {
        match self.kind {
            TardisKind::Trades => 0,
            TardisKind::Ticker => 1,
            TardisKind::Book => 2,
        }
    }
}

/// Writes book (`BookLevel`, `SnapshotBegin/End`) messages as an `incremental_book_L2` CSV and
/// trades as a `trades` CSV (used to build large inputs for benchmarks and tests).
/// Timestamps must be whole microseconds.
pub fn write_csv<W: std::io::Write>(
    book: &mut W,
    trades: &mut W,
    symbols: &[String],
    msgs: &[Msg],
) -> std::io::Result<()> {
    writeln!(book, "{BOOK_HEADER}")?;
    writeln!(trades, "{TRADES_HEADER}")?;
    let mut in_snapshot = vec![false; symbols.len()];
    for m in msgs {
        let sym = symbols
            .get(usize::from(m.instrument))
            .map_or("?", String::as_str);
        let (e, l) = (m.exch_ts / 1000, m.local_ts / 1000);
        match m.kind() {
            Some(MsgKind::SnapshotBegin) => in_snapshot[usize::from(m.instrument)] = true,
            Some(MsgKind::SnapshotEnd) => in_snapshot[usize::from(m.instrument)] = false,
            Some(MsgKind::BookLevel) => writeln!(
                book,
                "binance-futures,{sym},{e},{l},{},{},{},{}",
                in_snapshot[usize::from(m.instrument)],
                if m.aux == Side::Buy as u8 {
                    "bid"
                } else {
                    "ask"
                },
                crate::fixed::format_e8(m.body[0]),
                crate::fixed::format_e8(m.body[1])
            )?,
            Some(MsgKind::Trade) => writeln!(
                trades,
                "binance-futures,{sym},{e},{l},{},{},{},{}",
                m.body[2],
                if m.aux == Side::Buy as u8 {
                    "buy"
                } else {
                    "sell"
                },
                crate::fixed::format_e8(m.body[0]),
                crate::fixed::format_e8(m.body[1])
            )?,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fast_path_cases() {
        assert_eq!(fast_e8(b"60000.1"), Some(6_000_010_000_000));
        assert_eq!(fast_e8(b"-0.00000001"), Some(-1));
        assert_eq!(fast_e8(b"7"), Some(700_000_000));
        for bad in [
            &b""[..],
            b"-",
            b".5",
            b"7.",
            b"1.2.3",
            b"1e5",
            b"0.000000001",
            b"12345678901",
            b"+1",
        ] {
            assert_eq!(fast_e8(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    proptest! {
        #[test]
        fn fast_path_agrees_with_exact_parser(s in "-?[0-9]{0,12}(\\.[0-9]{0,10})?") {
            if let Some(v) = fast_e8(s.as_bytes()) {
                prop_assert_eq!(parse_e8(&s), Ok(v));
            }
        }

        #[test]
        fn fast_path_takes_every_formatted_value_in_range(v in -99_999_999_999_999_999i64..99_999_999_999_999_999) {
            let s = crate::fixed::format_e8(v);
            prop_assert_eq!(fast_e8(s.as_bytes()), Some(v));
        }
    }
}
