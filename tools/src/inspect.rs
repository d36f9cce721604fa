//! `hotrisk-tools inspect PATH`: shows a ring, a capture or a journal, recognised by the magic in
//! its first 8 bytes. It only reads: a ring is observed from outside (header, cursors, producer pid
//! and heartbeat age, each reader's position, lag and losses), never attached to.
//!
//! - ring (`HRKRING\0`): [`hotrisk_feed::ring::RingInfo`];
//! - capture (`HRCAPTUR`): version, instruments with message counts, time span (local and
//!   exchange), counts by kind, sequence contiguity, feed latency (local − exchange) percentiles;
//!   `--records N` also prints the first N records;
//! - journal (`HOTRJRNL`): the engine's journal (`hotrisk_engine::journal`): header, counts by
//!   record kind, and its records (orders, account events, run starts), `--records N` of them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use hotrisk_feed::capture::{self, CaptureReader};
use hotrisk_feed::fixed::format_e8;
use hotrisk_feed::ring::RingInfo;
use hotrisk_feed::source::publish::utc;
use hotrisk_feed::wire::{Msg, MsgKind};

/// Arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A ring file (/dev/shm/...), a capture file or a journal.
    path: PathBuf,
    /// Print this many records (captures and journals; 0 = none for captures, all for journals).
    #[arg(long)]
    records: Option<usize>,
}

/// `writeln!` into the output buffer (writing to a `String` cannot fail).
macro_rules! w {
    ($o:expr, $($t:tt)*) => {{
        let _ = writeln!($o, $($t)*);
    }};
}

const RING_MAGIC: [u8; 8] = *b"HRKRING\0";
const JOURNAL_MAGIC: [u8; 8] = *b"HOTRJRNL";

pub(crate) fn main(a: Args) -> Result<()> {
    let mut head = [0u8; 8];
    let n = std::fs::File::open(&a.path)
        .and_then(|mut f| f.read(&mut head))
        .with_context(|| format!("{}: cannot read", a.path.display()))?;
    let head = &head[..n];
    let mut o = String::new();
    if head == RING_MAGIC {
        let info = RingInfo::read(&a.path)?;
        let _ = write!(o, "{info}");
    } else if capture::has_magic(head) {
        inspect_capture(&mut o, &a.path, a.records.unwrap_or(0))?;
    } else if head == JOURNAL_MAGIC {
        inspect_journal(&mut o, &a.path, a.records)?;
    } else {
        bail!(
            "{}:byte 0: not a ring, capture or journal (magic {:?}; expected {:?}, {:?} or {:?})",
            a.path.display(),
            String::from_utf8_lossy(head),
            String::from_utf8_lossy(&RING_MAGIC),
            String::from_utf8_lossy(&capture::MAGIC),
            String::from_utf8_lossy(&JOURNAL_MAGIC),
        )
    }
    // One write; a closed pipe (`inspect ... | head`) is not an error.
    match std::io::stdout().write_all(o.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Capture summary, built in one streaming pass.
#[derive(Debug, Default)]
struct Summary {
    by_kind: BTreeMap<&'static str, u64>,
    by_instrument: BTreeMap<u16, u64>,
    first_local: Option<i64>,
    last_local: i64,
    first_exch: Option<i64>,
    last_exch: i64,
    first_seq: Option<u64>,
    last_seq: u64,
    seq_breaks: u64,
    local_back: u64,
    feed_latency_us: Vec<i64>,
}

fn inspect_capture(o: &mut String, path: &Path, show: usize) -> Result<()> {
    let mut r = CaptureReader::open(path)?;
    let h = r.header().clone();
    let mut s = Summary::default();
    let mut buf = vec![Msg::market(MsgKind::Heartbeat, 0, 0, 0); 1 << 14];
    let mut shown = Vec::new();
    loop {
        let n = r.read_batch(&mut buf)?;
        if n == 0 {
            break;
        }
        for m in &buf[..n] {
            if shown.len() < show {
                shown.push(*m);
            }
            s.add(m);
        }
    }
    w!(o, "capture {}", path.display());
    w!(
        o,
        "  version {} · {} records × 64 B · header {} B",
        h.version,
        h.count,
        h.header_len
    );
    w!(o, "  instruments ({}):", h.symbols.len());
    for (id, sym) in h.symbols.iter().enumerate() {
        let c = s.by_instrument.get(&(id as u16)).copied().unwrap_or(0);
        w!(o, "    {id:>5}  {sym:<16} {c} msgs");
    }
    for (&id, &c) in &s.by_instrument {
        if usize::from(id) >= h.symbols.len() {
            w!(o, "    {id:>5}  (not in the symbol table) {c} msgs");
        }
    }
    if let Some(fl) = s.first_local {
        w!(
            o,
            "  local time    {} → {} ({:.3} s)",
            utc(fl),
            utc(s.last_local),
            (s.last_local - fl) as f64 / 1e9
        );
    }
    if let Some(fe) = s.first_exch {
        w!(o, "  exchange time {} → {}", utc(fe), utc(s.last_exch));
    }
    if let Some(fs) = s.first_seq {
        w!(
            o,
            "  seq {fs} → {} ({})",
            s.last_seq,
            if s.seq_breaks == 0 {
                "contiguous".to_owned()
            } else {
                format!("{} break(s)", s.seq_breaks)
            }
        );
    }
    if s.local_back > 0 {
        w!(
            o,
            "  WARNING: local time goes back {} time(s)",
            s.local_back
        );
    }
    w!(o, "  by kind:");
    for (k, c) in &s.by_kind {
        w!(o, "    {k:<16} {c}");
    }
    if !s.feed_latency_us.is_empty() {
        let v = &mut s.feed_latency_us;
        v.sort_unstable();
        let q = |p: usize| v[(v.len() - 1) * p / 1000];
        w!(
            o,
            "  feed latency (local − exchange): p50 {} µs · p99 {} µs · p99.9 {} µs · max {} µs",
            q(500),
            q(990),
            q(999),
            v[v.len() - 1]
        );
    }
    for m in &shown {
        w!(o, "  {}", describe(m, &h.symbols));
    }
    Ok(())
}

impl Summary {
    fn add(&mut self, m: &Msg) {
        let name = m.kind().map_or("?", MsgKind::name);
        *self.by_kind.entry(name).or_default() += 1;
        *self.by_instrument.entry(m.instrument).or_default() += 1;
        if m.local_ts != 0 {
            if self.first_local.is_some() && m.local_ts < self.last_local {
                self.local_back += 1;
            }
            self.first_local.get_or_insert(m.local_ts);
            self.last_local = m.local_ts;
        }
        if m.exch_ts != 0 {
            self.first_exch.get_or_insert(m.exch_ts);
            self.last_exch = self.last_exch.max(m.exch_ts);
            if m.local_ts != 0 && self.feed_latency_us.len() < 10_000_000 {
                self.feed_latency_us.push((m.local_ts - m.exch_ts) / 1000);
            }
        }
        if self.first_seq.is_some() && m.seq != self.last_seq + 1 {
            self.seq_breaks += 1;
        }
        self.first_seq.get_or_insert(m.seq);
        self.last_seq = m.seq;
    }
}

fn describe(m: &Msg, symbols: &[String]) -> String {
    let sym = symbols
        .get(usize::from(m.instrument))
        .map_or("?", String::as_str);
    let kind = m.kind().map_or("?", MsgKind::name);
    let side = if m.aux == 0 { "buy/bid" } else { "sell/ask" };
    let body = match m.kind() {
        Some(MsgKind::MarkPrice | MsgKind::IndexPrice) => format_e8(m.body[0]),
        Some(MsgKind::BookLevel) => {
            format!("{side} {} × {}", format_e8(m.body[0]), format_e8(m.body[1]))
        }
        Some(MsgKind::Trade) => format!(
            "{side} {} × {} id {}",
            format_e8(m.body[0]),
            format_e8(m.body[1]),
            m.body[2]
        ),
        Some(MsgKind::Liquidation) => {
            format!("{side} {} × {}", format_e8(m.body[0]), format_e8(m.body[1]))
        }
        Some(MsgKind::Funding) => format!("rate {} next {}", format_e8(m.body[0]), utc(m.body[1])),
        _ => format!("aux {} body {:?}", m.aux, m.body),
    };
    format!(
        "#{} {} {sym} {kind} {body} (exch {}, local {})",
        m.seq,
        m.instrument,
        utc(m.exch_ts),
        utc(m.local_ts)
    )
}

fn inspect_journal(o: &mut String, path: &Path, show: Option<usize>) -> Result<()> {
    use hotrisk_engine::journal::{read_journal, RecordKind};
    let (h, records) = read_journal(path)?;
    w!(o, "journal {}", path.display());
    w!(
        o,
        "  version {} · {} records of capacity {} · created {}",
        h.version,
        records.len(),
        h.capacity,
        utc(h.created_wall_ns)
    );
    let count = |k: RecordKind| {
        records
            .iter()
            .filter(|r| r.record_kind() == Some(k))
            .count()
    };
    w!(
        o,
        "  orders {} · account events {} · run starts {}",
        count(RecordKind::Order),
        count(RecordKind::AccountEvent),
        count(RecordKind::RunStart)
    );
    let n = show.unwrap_or(records.len());
    for r in records.iter().take(n) {
        w!(o, "  {r}");
    }
    if n < records.len() {
        w!(o, "  ... {} more (use --records N)", records.len() - n);
    }
    Ok(())
}
