//! Feed sources: everything that turns captured or generated market data into wire [`Msg`]s.
//!
//! | source | module | input |
//! |---|---|---|
//! | Tardis.dev CSV (plain or gzip) | [`tardis`] | `incremental_book_L2`, `trades`, `derivative_ticker` |
//! | Binance USD-M websocket capture | [`binance`] | JSON lines with a local receive time |
//! | native capture | [`crate::capture`] | the ring's own records behind a file header |
//! | synthetic | [`synthetic`] | a seeded generator with named crash scenarios |
//!
//! and the publishing side: [`pacing`] (max speed, or the captured local timestamps × a speed
//! factor, with the lateness of every message recorded) and [`publish`] (the hot loop into the
//! broadcast ring: progress line, heartbeat, optional back-pressure from the slowest reader).
//!
//! The symbol → instrument id table is [`Instruments`]: from the engine's instruments TOML
//! (`[[instrument]] symbol = ...`, id = position, other keys ignored), from a capture's symbol
//! table, or assigned by first appearance; an unknown symbol in a fixed table is an error.
//!
//! # Phases and allocation
//! Sources run **before** the publish loop: they parse and allocate freely (one `Vec` per file
//! reader, a few small buffers) and hand out plain [`Msg`]s with `seq` and `publish_ts` zero; the
//! publisher numbers and stamps them. Nothing here is on the engine's hot path.
//!
//! # Merging
//! [`Merge`] interleaves several per-file streams by local timestamp, **stably**: ties are broken
//! by the stream's [`MsgSource::rank`] (Tardis trades 0, derivative ticker 1, book 2, so trades
//! come before book rows at equal timestamps), then by the order the files were given, then by
//! their order inside the file. Each stream checks that its own local timestamps never go back.
//!
//! # Bad input
//! Every problem is an [`InputError`] that prints as `FILE:LINE: what was wrong` (or
//! `FILE:byte OFFSET: ...` for binary files). Under [`OnError::Stop`] (the default) the first one
//! ends the run. Under [`OnError::Skip`] a *row-level* error drops that row, is counted and kept in
//! the [`SkipLog`], which the caller prints at the end: nothing is dropped silently. Errors that
//! no skipping can repair (unreadable or truncated file, wrong column header, a gap in a book's
//! update sequence) are *fatal* and stop the run under either policy.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use crate::wire::Msg;

pub mod binance;
pub mod pacing;
pub mod publish;
pub mod synthetic;
pub mod tardis;

/// What to do with a bad row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OnError {
    /// Stop at the first bad row with its error (exit status non-zero).
    #[default]
    Stop,
    /// Drop bad rows, count them and report every one at the end.
    Skip,
}

/// Where in an input file something went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// The file as a whole (cannot open, empty, ...).
    File,
    /// A 1-based line of a text file.
    Line(u64),
    /// A byte offset in a binary file.
    Offset(u64),
}

/// A bad input: the file, where in it, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InputError {
    /// The file as given by the user.
    pub file: String,
    /// Line or byte offset.
    pub at: Location,
    /// What was wrong, in words.
    pub what: String,
    /// Whether skipping cannot recover from this error (the stream ends).
    pub fatal: bool,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Location::File => write!(f, "{}: {}", self.file, self.what),
            Location::Line(l) => write!(f, "{}:{}: {}", self.file, l, self.what),
            Location::Offset(o) => write!(f, "{}:byte {}: {}", self.file, o, self.what),
        }
    }
}

impl InputError {
    /// A row-level (skippable) error at a line.
    pub fn line(file: &str, line: u64, what: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            at: Location::Line(line),
            what: what.into(),
            fatal: false,
        }
    }

    /// A fatal error at a line.
    pub fn fatal_line(file: &str, line: u64, what: impl Into<String>) -> Self {
        Self {
            fatal: true,
            ..Self::line(file, line, what)
        }
    }

    /// A fatal error about the whole file.
    pub fn file(file: &str, what: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            at: Location::File,
            what: what.into(),
            fatal: true,
        }
    }

    /// A fatal error at a byte offset of a binary file.
    pub fn offset(file: &str, offset: u64, what: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            at: Location::Offset(offset),
            what: what.into(),
            fatal: true,
        }
    }
}

/// Every row skipped under [`OnError::Skip`], in the order met.
#[derive(Debug, Default, Clone)]
pub struct SkipLog {
    /// The skipped rows' errors.
    pub skipped: Vec<InputError>,
}

impl SkipLog {
    /// Number of skipped rows.
    pub fn len(&self) -> usize {
        self.skipped.len()
    }

    /// Whether nothing was skipped.
    pub fn is_empty(&self) -> bool {
        self.skipped.is_empty()
    }

    /// The end-of-run report: a count line then one line per skipped row.
    pub fn report(&self) -> String {
        let mut s = format!("skipped {} bad row(s)\n", self.skipped.len());
        for e in &self.skipped {
            s.push_str("  skipped ");
            s.push_str(&e.to_string());
            s.push('\n');
        }
        s
    }
}

/// The symbol → instrument id table shared by all files of one run.
///
/// Either **fixed** (from an instruments TOML or a capture's symbol table: an unknown symbol is an
/// error) or **open** (no table given: ids are assigned 0, 1, ... in order of first appearance in
/// the merged input, and the resulting table is written into the capture header).
#[derive(Debug, Clone, Default)]
pub struct Instruments {
    symbols: Vec<String>,
    ids: HashMap<String, u16>,
    open: bool,
}

impl Instruments {
    /// An open table: ids assigned on first sight.
    pub fn open() -> Self {
        Self {
            open: true,
            ..Self::default()
        }
    }

    /// A fixed table from symbols in id order.
    pub fn fixed(symbols: Vec<String>) -> Result<Self, String> {
        let mut t = Self::default();
        for s in symbols {
            t.insert(s)?;
        }
        Ok(t)
    }

    /// Loads `[[instrument]] symbol = "..."` entries from the engine's instruments TOML: id is the
    /// 0-based position; every other key is ignored.
    pub fn from_toml_file(path: &Path) -> Result<Self, InputError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| InputError::file(&name, format!("cannot read: {e}")))?;
        Self::from_toml_str(&name, &text)
    }

    /// Loads a table from `path`: a native capture (its symbol table, recognised by the magic)
    /// or else the engine's instruments TOML.
    pub fn from_path(path: &Path) -> Result<Self, InputError> {
        let name = path.display().to_string();
        let mut head = [0u8; 8];
        let n = std::fs::File::open(path)
            .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
            .map_err(|e| InputError::file(&name, format!("cannot read: {e}")))?;
        if crate::capture::has_magic(&head[..n]) {
            let r = crate::capture::CaptureReader::open(path)?;
            Self::fixed(r.header().symbols.clone()).map_err(|e| InputError::file(&name, e))
        } else {
            Self::from_toml_file(path)
        }
    }

    /// As [`Self::from_toml_file`], from text (`name` is used in errors).
    pub fn from_toml_str(name: &str, text: &str) -> Result<Self, InputError> {
        let value: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| InputError::file(name, format!("invalid TOML: {e}")))?;
        let list = match value.get("instrument") {
            Some(toml::Value::Array(a)) => a,
            Some(_) => {
                return Err(InputError::file(
                    name,
                    "`instrument` must be an array of tables ([[instrument]])",
                ))
            }
            None => return Err(InputError::file(name, "no [[instrument]] entries")),
        };
        let mut t = Self::default();
        for (i, entry) in list.iter().enumerate() {
            let sym = entry
                .get("symbol")
                .and_then(toml::Value::as_str)
                .ok_or_else(|| {
                    InputError::file(
                        name,
                        format!("instrument[{i}].symbol: missing or not a string"),
                    )
                })?;
            t.insert(sym.to_owned())
                .map_err(|e| InputError::file(name, format!("instrument[{i}].symbol: {e}")))?;
        }
        Ok(t)
    }

    fn insert(&mut self, sym: String) -> Result<u16, String> {
        if sym.is_empty() || sym.len() > crate::capture::MAX_SYMBOL_LEN {
            return Err(format!(
                "symbol {sym:?} must be 1..={} bytes",
                crate::capture::MAX_SYMBOL_LEN
            ));
        }
        if self.ids.contains_key(&sym) {
            return Err(format!("duplicate symbol {sym:?}"));
        }
        let id = u16::try_from(self.symbols.len())
            .map_err(|_| "more than 65536 instruments".to_owned())?;
        self.ids.insert(sym.clone(), id);
        self.symbols.push(sym);
        Ok(id)
    }

    /// The id of `sym`; assigns the next id in an open table, errors on an unknown symbol in a
    /// fixed one.
    pub fn id(&mut self, sym: &str) -> Result<u16, String> {
        if let Some(&id) = self.ids.get(sym) {
            return Ok(id);
        }
        if self.open {
            self.insert(sym.to_owned())
        } else {
            Err(format!(
                "unknown symbol {sym:?} (not in the instrument table)"
            ))
        }
    }

    /// Symbols in id order.
    pub fn symbols(&self) -> &[String] {
        &self.symbols
    }

    /// The symbol of an id.
    pub fn symbol(&self, id: u16) -> Option<&str> {
        self.symbols.get(usize::from(id)).map(String::as_str)
    }
}

/// One stream of messages in local-timestamp order (one input file).
pub trait MsgSource {
    /// The next message, an error for a bad row, or `None` at the end. After a fatal error the
    /// stream must return `None`.
    fn next_msg(&mut self, instruments: &mut Instruments) -> Option<Result<Msg, InputError>>;

    /// Tie-break rank at equal local timestamps (lower first).
    fn rank(&self) -> u8 {
        0
    }

    /// Rows dropped by design rather than error (Binance depth updates older than a snapshot).
    fn stale_dropped(&self) -> Option<u64> {
        None
    }
}

/// Stable k-way merge of several [`MsgSource`]s by `(local_ts, rank, input order)`, applying the
/// error policy. See the module docs.
#[derive(Debug)]
pub struct Merge<S> {
    sources: Vec<S>,
    heads: Vec<Option<Msg>>,
    started: bool,
    policy: OnError,
    /// Rows skipped so far (under [`OnError::Skip`]).
    pub skips: SkipLog,
}

impl<S: MsgSource> Merge<S> {
    /// Merges `sources` (in the order the user gave them).
    pub fn new(sources: Vec<S>, policy: OnError) -> Self {
        let heads = vec![None; sources.len()];
        Self {
            sources,
            heads,
            started: false,
            policy,
            skips: SkipLog::default(),
        }
    }

    fn refill(&mut self, i: usize, inst: &mut Instruments) -> Result<(), InputError> {
        loop {
            match self.sources[i].next_msg(inst) {
                None => {
                    self.heads[i] = None;
                    return Ok(());
                }
                Some(Ok(m)) => {
                    self.heads[i] = Some(m);
                    return Ok(());
                }
                Some(Err(e)) if e.fatal || self.policy == OnError::Stop => return Err(e),
                Some(Err(e)) => self.skips.skipped.push(e),
            }
        }
    }

    /// The next message of the merged stream.
    pub fn next(&mut self, inst: &mut Instruments) -> Option<Result<Msg, InputError>> {
        if !self.started {
            self.started = true;
            for i in 0..self.sources.len() {
                if let Err(e) = self.refill(i, inst) {
                    return Some(Err(e));
                }
            }
        }
        let mut best: Option<(usize, (i64, u8))> = None;
        for (i, h) in self.heads.iter().enumerate() {
            if let Some(m) = h {
                let key = (m.local_ts, self.sources[i].rank());
                if best.is_none_or(|(_, k)| key < k) {
                    best = Some((i, key));
                }
            }
        }
        let (i, _) = best?;
        let m = self.heads[i].take()?;
        if let Err(e) = self.refill(i, inst) {
            return Some(Err(e));
        }
        Some(Ok(m))
    }

    /// Drains the merged stream into a vector, stopping at the first error.
    pub fn collect_all(&mut self, inst: &mut Instruments) -> Result<Vec<Msg>, InputError> {
        let mut out = Vec::new();
        while let Some(r) = self.next(inst) {
            out.push(r?);
        }
        Ok(out)
    }
}

impl<S: MsgSource + ?Sized> MsgSource for Box<S> {
    fn next_msg(&mut self, instruments: &mut Instruments) -> Option<Result<Msg, InputError>> {
        (**self).next_msg(instruments)
    }

    fn rank(&self) -> u8 {
        (**self).rank()
    }

    fn stale_dropped(&self) -> Option<u64> {
        (**self).stale_dropped()
    }
}

/// A captured-feed text format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Tardis.dev CSV ([`tardis`]).
    Tardis,
    /// Binance USD-M JSON lines ([`binance`]).
    Binance,
}

/// The result of [`load`]: the merged, numbered messages and what was skipped.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Messages in merged order, `seq` 1..=n, `publish_ts` 0.
    pub msgs: Vec<Msg>,
    /// Rows skipped under [`OnError::Skip`].
    pub skips: SkipLog,
    /// Other things the user should know (e.g. stale depth updates dropped by the Binance
    /// snapshot procedure), one line each.
    pub notes: Vec<String>,
}

/// Opens every file of `format`, merges them (see the module docs) and numbers the result.
pub fn load(
    format: Format,
    paths: &[std::path::PathBuf],
    instruments: &mut Instruments,
    policy: OnError,
) -> Result<Loaded, InputError> {
    let mut binance_names = Vec::new();
    let mut sources: Vec<Box<dyn MsgSource>> = Vec::new();
    for p in paths {
        match format {
            Format::Tardis => sources.push(Box::new(tardis::TardisFile::open(p)?)),
            Format::Binance => {
                binance_names.push(p.display().to_string());
                sources.push(Box::new(binance::BinanceFile::open(p)?));
            }
        }
    }
    let mut merge = Merge::new(sources, policy);
    let mut msgs = merge.collect_all(instruments)?;
    number(&mut msgs);
    let mut notes = Vec::new();
    for (i, s) in merge.sources.iter().enumerate() {
        if let Some(n) = s.stale_dropped().filter(|&n| n > 0) {
            let name = binance_names.get(i).map_or("?", String::as_str);
            notes.push(format!(
                "{name}: dropped {n} depth update(s) older than their symbol's snapshot"
            ));
        }
    }
    Ok(Loaded {
        msgs,
        skips: merge.skips,
        notes,
    })
}

/// Numbers the messages `1..=n` (the producer's contiguous sequence) and zeroes `publish_ts`.
pub fn number(msgs: &mut [Msg]) {
    for (i, m) in msgs.iter_mut().enumerate() {
        m.seq = i as u64 + 1;
        m.publish_ts = 0;
    }
}

/// Microseconds → nanoseconds, with an overflow check.
pub(crate) fn us_to_ns(us: i64) -> Option<i64> {
    us.checked_mul(1_000)
}

/// Milliseconds → nanoseconds, with an overflow check.
pub(crate) fn ms_to_ns(ms: i64) -> Option<i64> {
    ms.checked_mul(1_000_000)
}

/// Parses an unsigned decimal integer from ASCII bytes (no sign, no spaces).
pub(crate) fn parse_int(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 18 {
        // 18 digits always fit an i64; longer values are out of any timestamp range.
        return None;
    }
    let mut v: i64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::MsgKind;

    struct Vecs(Vec<Result<Msg, InputError>>, u8);
    impl MsgSource for Vecs {
        fn next_msg(&mut self, _: &mut Instruments) -> Option<Result<Msg, InputError>> {
            if self.0.is_empty() {
                None
            } else {
                Some(self.0.remove(0))
            }
        }
        fn rank(&self) -> u8 {
            self.1
        }
    }

    fn m(ts: i64, tag: i64) -> Result<Msg, InputError> {
        let mut m = Msg::market(MsgKind::Trade, 0, ts, ts);
        m.body[2] = tag;
        Ok(m)
    }

    #[test]
    fn merge_is_stable_by_time_rank_then_input_order() {
        let a = Vecs(vec![m(1, 10), m(5, 11), m(5, 12)], 2);
        let b = Vecs(vec![m(5, 20), m(6, 21)], 0);
        let c = Vecs(vec![m(5, 30)], 2);
        let mut inst = Instruments::open();
        let out = Merge::new(vec![a, b, c], OnError::Stop)
            .collect_all(&mut inst)
            .unwrap();
        let tags: Vec<i64> = out.iter().map(|m| m.body[2]).collect();
        assert_eq!(tags, vec![10, 20, 11, 12, 30, 21]);
    }

    #[test]
    fn skip_policy_logs_and_stop_policy_fails() {
        let bad = || Err(InputError::line("f.csv", 3, "bad"));
        let mut inst = Instruments::open();
        let mut mg = Merge::new(vec![Vecs(vec![m(1, 1), bad(), m(2, 2)], 0)], OnError::Skip);
        assert_eq!(mg.collect_all(&mut inst).unwrap().len(), 2);
        assert_eq!(mg.skips.len(), 1);
        assert!(mg.skips.report().contains("f.csv:3: bad"));
        let mut mg = Merge::new(vec![Vecs(vec![m(1, 1), bad(), m(2, 2)], 0)], OnError::Stop);
        assert_eq!(
            mg.collect_all(&mut inst).unwrap_err().to_string(),
            "f.csv:3: bad"
        );
    }

    #[test]
    fn instruments_from_toml_ignore_other_keys() {
        let t = "[[instrument]]\nsymbol = \"BTCUSDT\"\ntick = \"0.1\"\n[[instrument]]\nsymbol = \"ETHUSDT\"\n";
        let mut i = Instruments::from_toml_str("i.toml", t).unwrap();
        assert_eq!(i.id("ETHUSDT"), Ok(1));
        assert!(i.id("XRPUSDT").unwrap_err().contains("unknown symbol"));
        let e = Instruments::from_toml_str("i.toml", "[[instrument]]\nsym = 1\n").unwrap_err();
        assert!(e.to_string().starts_with("i.toml: instrument[0].symbol"));
    }
}
