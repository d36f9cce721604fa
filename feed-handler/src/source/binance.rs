//! Binance USD-M futures websocket captures as JSON lines.
//!
//! # Accepted line format
//! One message per line; blank lines are ignored. Each line is either
//!
//! - `{"local_ts": <µs>, "data": <event>}` — `local_ts` is the capture host's receive time in
//!   integer microseconds since the epoch; or
//! - `<µs> <event>` — the same two things separated by one space;
//!
//! where `<event>` is the websocket payload as Binance sends it, optionally still wrapped in the
//! combined-stream envelope `{"stream": "...", "data": {...}}`. Events, by their `"e"` field:
//!
//! | `e` | fields used | messages |
//! |---|---|---|
//! | `depthUpdate` | `s`, `T`, `U`, `u`, `pu`, `b`, `a` | one `BookLevel` per level (qty 0 deletes) |
//! | `aggTrade` | `s`, `T`, `a` (id), `p`, `q`, `m` | `Trade`; aggressor = sell when `m` (buyer is maker) |
//! | `markPriceUpdate` | `s`, `E`, `p`, `i`, `r`, `T` | `MarkPrice`, `IndexPrice` (if `i` non-empty), `Funding` `[r, T]` (if `r` non-empty) |
//! | `forceOrder` | `o.s`, `o.T`, `o.S`, `o.ap`, `o.z` | `Liquidation` (aux = side of the liquidation order, body `[average price, filled qty, 0]`) |
//!
//! A REST depth snapshot may be recorded as a line
//! `{"local_ts": <µs>, "snapshot": {"symbol": "BTCUSDT", "lastUpdateId": N, "T": <ms>, "bids": [...], "asks": [...]}}`;
//! it becomes `SnapshotBegin`, its levels, `SnapshotEnd`.
//!
//! `exch_ts` is the event's `T` (transaction time) where it is one, else `E`, in ms → ns.
//!
//! # Continuity
//! Per symbol, every `depthUpdate` must continue the previous one: `pu == previous u`. After a
//! snapshot with `lastUpdateId = L`, updates with `u < L` are older than the snapshot and are
//! dropped (counted in [`BinanceFile::stale_dropped`], as Binance's book procedure prescribes);
//! the first one kept must have `U <= L <= u`. The first update of a symbol without a snapshot
//! starts its book from empty. A break is a **book gap**, a fatal error (skipping cannot repair a
//! book): `FILE:LINE: book gap on BTCUSDT: pu 105 but the previous update ended at u 104`.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use serde::Deserialize;

use super::{ms_to_ns, us_to_ns, InputError, Instruments, MsgSource};
use crate::fixed::parse_e8;
use crate::wire::{Msg, MsgKind, Side};

#[derive(Deserialize)]
struct Wrapped {
    local_ts: i64,
    #[serde(default)]
    data: Option<serde_json::Value>,
    #[serde(default)]
    snapshot: Option<Snapshot>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Snapshot {
    symbol: String,
    #[serde(rename = "lastUpdateId")]
    last_update_id: u64,
    #[serde(rename = "E", default)]
    _event_ms: Option<i64>,
    #[serde(rename = "T", default)]
    tx_ms: Option<i64>,
    bids: Vec<(String, String)>,
    asks: Vec<(String, String)>,
}

#[derive(Deserialize)]
#[serde(tag = "e")]
enum Event {
    #[serde(rename = "depthUpdate")]
    Depth {
        s: String,
        #[serde(rename = "T")]
        tx_ms: i64,
        #[serde(rename = "U")]
        first: u64,
        u: u64,
        pu: u64,
        b: Vec<(String, String)>,
        a: Vec<(String, String)>,
    },
    #[serde(rename = "aggTrade")]
    AggTrade {
        s: String,
        #[serde(rename = "T")]
        tx_ms: i64,
        a: i64,
        p: String,
        q: String,
        m: bool,
    },
    #[serde(rename = "markPriceUpdate")]
    MarkPrice {
        s: String,
        #[serde(rename = "E")]
        event_ms: i64,
        p: String,
        #[serde(default)]
        i: String,
        #[serde(default)]
        r: String,
        #[serde(rename = "T", default)]
        next_funding_ms: i64,
    },
    #[serde(rename = "forceOrder")]
    ForceOrder { o: ForceOrder },
}

#[derive(Deserialize)]
struct ForceOrder {
    s: String,
    #[serde(rename = "S")]
    side: String,
    ap: String,
    z: String,
    #[serde(rename = "T")]
    tx_ms: i64,
}

#[derive(Debug, Clone, Copy, Default)]
struct BookSeq {
    /// Last `u` applied.
    last_u: Option<u64>,
    /// `lastUpdateId` of a snapshot not yet bridged by an update.
    snapshot_id: Option<u64>,
}

/// One Binance JSON-lines file as a [`MsgSource`].
pub struct BinanceFile {
    name: String,
    lines: Box<dyn BufRead>,
    buf: String,
    line: u64,
    pending: Vec<Msg>,
    pend_pos: usize,
    last_local: i64,
    last_line: u64,
    books: HashMap<u16, BookSeq>,
    done: bool,
    stale: u64,
}

impl std::fmt::Debug for BinanceFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BinanceFile")
            .field("name", &self.name)
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

impl BinanceFile {
    /// Opens `path` (plain or gzip).
    pub fn open(path: &Path) -> Result<Self, InputError> {
        let input = super::tardis::open_maybe_gz(path)?;
        Ok(Self {
            name: path.display().to_string(),
            lines: Box::new(std::io::BufReader::new(input)),
            buf: String::new(),
            line: 0,
            pending: Vec::new(),
            pend_pos: 0,
            last_local: i64::MIN,
            last_line: 0,
            books: HashMap::new(),
            done: false,
            stale: 0,
        })
    }

    /// Depth updates dropped because they predate the symbol's snapshot.
    pub fn stale_dropped(&self) -> u64 {
        self.stale
    }

    fn parse_line(&mut self, inst: &mut Instruments) -> Result<(), (String, bool)> {
        let text = self.buf.trim_end_matches(['\n', '\r']);
        let soft = |s: String| (s, false);
        let (local_us, data, snapshot) = if text.starts_with('{') {
            let w: Wrapped =
                serde_json::from_str(text).map_err(|e| soft(format!("invalid JSON line: {e}")))?;
            (w.local_ts, w.data, w.snapshot)
        } else {
            let (ts, json) = text.split_once(' ').ok_or_else(|| {
                soft("expected `<local µs> <json>` or a JSON object with local_ts".into())
            })?;
            let ts = super::parse_int(ts.as_bytes())
                .ok_or_else(|| soft(format!("local time {ts:?} is not integer microseconds")))?;
            let v = serde_json::from_str(json).map_err(|e| soft(json_err(&e)))?;
            (ts, Some(v), None)
        };
        let local = us_to_ns(local_us)
            .filter(|&t| t >= 0)
            .ok_or_else(|| soft(format!("local_ts {local_us} out of range")))?;
        if local < self.last_local {
            return Err(soft(format!(
                "local_ts {} goes back in time (previous line {} had {})",
                local_us,
                self.last_line,
                self.last_local / 1000
            )));
        }
        let mut out = Vec::new();
        let mut seq_update: Option<(u16, BookSeq)> = None;
        match (data, snapshot) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(soft(
                    "a line holds exactly one of `data` or `snapshot`".into(),
                ))
            }
            (None, Some(s)) => {
                let id = inst.id(&s.symbol).map_err(soft)?;
                let ts = ms(s.tx_ms.unwrap_or(0)).map_err(soft)?;
                out.push(Msg::market(MsgKind::SnapshotBegin, id, ts, local));
                levels(&mut out, id, ts, local, &s.bids, Side::Buy).map_err(soft)?;
                levels(&mut out, id, ts, local, &s.asks, Side::Sell).map_err(soft)?;
                out.push(Msg::market(MsgKind::SnapshotEnd, id, ts, local));
                seq_update = Some((
                    id,
                    BookSeq {
                        last_u: None,
                        snapshot_id: Some(s.last_update_id),
                    },
                ));
            }
            (Some(mut v), None) => {
                if let Some(inner) = v
                    .get_mut("stream")
                    .is_some()
                    .then(|| v.get_mut("data"))
                    .flatten()
                {
                    v = inner.take();
                }
                let ev: Event = serde_json::from_value(v)
                    .map_err(|e| soft(format!("unsupported or malformed event: {e}")))?;
                match ev {
                    Event::Depth {
                        s,
                        tx_ms,
                        first,
                        u,
                        pu,
                        b,
                        a,
                    } => {
                        let id = inst.id(&s).map_err(soft)?;
                        let mut st = self.books.get(&id).copied().unwrap_or_default();
                        if let Some(l) = st.snapshot_id {
                            if u < l {
                                self.stale += 1;
                                self.last_local = local;
                                self.last_line = self.line;
                                return Ok(());
                            }
                            if first > l {
                                return Err((
                                    format!("book gap on {s}: first update after the snapshot (lastUpdateId {l}) starts at U {first}"),
                                    true,
                                ));
                            }
                            st.snapshot_id = None;
                        } else if let Some(prev) = st.last_u {
                            if pu != prev {
                                return Err((
                                    format!("book gap on {s}: pu {pu} but the previous update ended at u {prev}"),
                                    true,
                                ));
                            }
                        }
                        st.last_u = Some(u);
                        let ts = ms(tx_ms).map_err(soft)?;
                        levels(&mut out, id, ts, local, &b, Side::Buy).map_err(soft)?;
                        levels(&mut out, id, ts, local, &a, Side::Sell).map_err(soft)?;
                        seq_update = Some((id, st));
                    }
                    Event::AggTrade {
                        s,
                        tx_ms,
                        a,
                        p,
                        q,
                        m,
                    } => {
                        let id = inst.id(&s).map_err(soft)?;
                        let mut t =
                            Msg::market(MsgKind::Trade, id, ms(tx_ms).map_err(soft)?, local);
                        t.aux = if m { Side::Sell } else { Side::Buy } as u8;
                        t.body = [pos(&p, "p").map_err(soft)?, pos(&q, "q").map_err(soft)?, a];
                        out.push(t);
                    }
                    Event::MarkPrice {
                        s,
                        event_ms,
                        p,
                        i,
                        r,
                        next_funding_ms,
                    } => {
                        let id = inst.id(&s).map_err(soft)?;
                        let ts = ms(event_ms).map_err(soft)?;
                        let mut m = Msg::market(MsgKind::MarkPrice, id, ts, local);
                        m.body[0] = pos(&p, "p").map_err(soft)?;
                        out.push(m);
                        if !i.is_empty() {
                            let mut m = Msg::market(MsgKind::IndexPrice, id, ts, local);
                            m.body[0] = pos(&i, "i").map_err(soft)?;
                            out.push(m);
                        }
                        if !r.is_empty() {
                            let mut m = Msg::market(MsgKind::Funding, id, ts, local);
                            m.body = [
                                parse_e8(&r).map_err(|e| soft(format!("r: {e}")))?,
                                ms(next_funding_ms).map_err(soft)?,
                                0,
                            ];
                            out.push(m);
                        }
                    }
                    Event::ForceOrder { o } => {
                        let id = inst.id(&o.s).map_err(soft)?;
                        let side = match o.side.as_str() {
                            "BUY" => Side::Buy,
                            "SELL" => Side::Sell,
                            other => {
                                return Err(soft(format!(
                                    "o.S must be BUY or SELL, found {other:?}"
                                )))
                            }
                        };
                        let mut m = Msg::market(
                            MsgKind::Liquidation,
                            id,
                            ms(o.tx_ms).map_err(soft)?,
                            local,
                        );
                        m.aux = side as u8;
                        m.body = [
                            pos(&o.ap, "o.ap").map_err(soft)?,
                            pos(&o.z, "o.z").map_err(soft)?,
                            0,
                        ];
                        out.push(m);
                    }
                }
            }
        }
        if let Some((id, st)) = seq_update {
            self.books.insert(id, st);
        }
        self.last_local = local;
        self.last_line = self.line;
        self.pending = out;
        Ok(())
    }
}

/// serde_json's message without its "at line 1 column N" suffix (always line 1 here), with the
/// column put first.
fn json_err(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let text = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(a, _)| a);
    format!("invalid JSON line (column {}): {text}", e.column())
}

fn ms(v: i64) -> Result<i64, String> {
    ms_to_ns(v)
        .filter(|&t| t >= 0)
        .ok_or_else(|| format!("timestamp {v} ms out of range"))
}

fn pos(s: &str, what: &str) -> Result<i64, String> {
    let v = parse_e8(s).map_err(|e| format!("{what}: {e}"))?;
    if v <= 0 {
        return Err(format!("{what} must be positive, found {s:?}"));
    }
    Ok(v)
}

fn levels(
    out: &mut Vec<Msg>,
    id: u16,
    ts: i64,
    local: i64,
    lv: &[(String, String)],
    side: Side,
) -> Result<(), String> {
    for (p, q) in lv {
        let mut m = Msg::market(MsgKind::BookLevel, id, ts, local);
        m.aux = side as u8;
        let qty = parse_e8(q).map_err(|e| format!("level quantity: {e}"))?;
        if qty < 0 {
            return Err(format!("level quantity must not be negative, found {q:?}"));
        }
        m.body = [pos(p, "level price")?, qty, 0];
        out.push(m);
    }
    Ok(())
}

impl MsgSource for BinanceFile {
    fn stale_dropped(&self) -> Option<u64> {
        Some(self.stale)
    }

    fn next_msg(&mut self, inst: &mut Instruments) -> Option<Result<Msg, InputError>> {
        loop {
            if self.pend_pos < self.pending.len() {
                let m = self.pending[self.pend_pos];
                self.pend_pos += 1;
                return Some(Ok(m));
            }
            if self.done {
                return None;
            }
            self.pending.clear();
            self.pend_pos = 0;
            self.buf.clear();
            self.line += 1;
            match self.lines.read_line(&mut self.buf) {
                Ok(0) => {
                    self.done = true;
                    return None;
                }
                Ok(_) => {}
                Err(e) => {
                    self.done = true;
                    let what = match e.kind() {
                        std::io::ErrorKind::InvalidData if e.to_string().contains("UTF-8") => {
                            format!("line is not UTF-8: {e}")
                        }
                        std::io::ErrorKind::UnexpectedEof => {
                            format!("truncated input (gzip stream ends early): {e}")
                        }
                        _ => format!("read error (corrupt or truncated gzip?): {e}"),
                    };
                    return Some(Err(InputError::fatal_line(&self.name, self.line, what)));
                }
            }
            if self.buf.trim().is_empty() {
                continue;
            }
            if let Err((what, fatal)) = self.parse_line(inst) {
                self.pending.clear();
                if fatal {
                    self.done = true;
                }
                return Some(Err(InputError {
                    fatal,
                    ..InputError::line(&self.name, self.line, what)
                }));
            }
        }
    }
}
