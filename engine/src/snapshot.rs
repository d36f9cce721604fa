//! Loading instruments and accounts: the scenario TOML of `hotrisk risk`, and the large
//! snapshot format of `hotrisk run`.
//!
//! # Scenario TOML
//! The format of `../shared/spec/scenario.md`: `[[instrument]]` (with `[[instrument.bracket]]`
//! and optional `[[instrument.book]]`), `[[account]]` (with `[[account.position]]`), optional
//! `insurance_fund`. Decimals are strings, parsed exactly at E8. An unknown or missing key, a
//! malformed decimal, a decimal finer than the instrument's tick (prices) or lot (quantities), a
//! value outside the [bounds](crate::margin::bounds) or an unknown symbol is a [`SnapshotError`]
//! naming the file and the key path (`account[2].position[0].qty`) or, for TOML syntax and
//! unknown/missing keys, the line. [`Scenario::load`] returns everything or nothing.
//!
//! # Large snapshot (`hotrisk run`, `hotrisk-tools gen-accounts`)
//! Two files: an **instruments file** in the scenario format without accounts (it may carry
//! books and `insurance_fund`), and a **positions file**, a line-oriented text file meant for
//! 10^5–10^7 accounts, streamed straight into a [`MarginState`] without intermediate records:
//!
//! ```text
//! # hotrisk positions v1            ← required first line
//! A,<account id>,<wallet balance>   ← an account (must precede its positions)
//! P,<account id>,<symbol>,<qty>,<entry price>,cross
//! P,<account id>,<symbol>,<qty>,<entry price>,isolated,<isolated margin>
//! # comment lines and empty lines are ignored
//! ```
//! Decimals as in the scenario format (exact, on the tick/lot grid). Errors name the file, the
//! 1-based line and the field. About 40 bytes of text per position; loading parses ~10^6
//! lines per second per core.

#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use hotrisk_feed::fixed::parse_e8;
use hotrisk_feed::Side;
use serde::Deserialize;

use crate::margin::{
    BracketSpec, Instrument, InstrumentSpec, Kind, MarginMode, MarginState, SpecError, StateError,
};

/// Why a scenario or snapshot could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// TOML syntax, or an unknown, missing or mistyped key (the message names the line).
    #[error("{file}: {message}")]
    Toml {
        /// The file.
        file: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A bad value at a key path.
    #[error("{file}: {key}: {reason}")]
    Value {
        /// The file.
        file: PathBuf,
        /// Key path, e.g. `account[2].position[0].qty`, or `line 12, field qty`.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    #[serde(default)]
    instrument: Vec<RawInstrument>,
    #[serde(default)]
    account: Vec<RawAccount>,
    insurance_fund: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstrument {
    symbol: String,
    kind: String,
    tick_size: String,
    lot_size: String,
    contract_size: String,
    mark_price: String,
    index_price: Option<String>,
    liquidation_fee_rate: Option<String>,
    #[serde(default)]
    bracket: Vec<RawBracket>,
    #[serde(default)]
    book: Vec<RawLevel>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBracket {
    notional_cap: Option<String>,
    max_leverage: String,
    maintenance_margin_rate: String,
    maintenance_amount: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLevel {
    side: String,
    price: String,
    qty: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    id: u32,
    wallet_balance: String,
    #[serde(default)]
    position: Vec<RawPosition>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPosition {
    symbol: String,
    qty: String,
    entry_price: String,
    margin_mode: String,
    isolated_margin: Option<String>,
}

/// One L2 level of a scenario book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookLevel {
    /// Bid (`Buy`) or ask (`Sell`).
    pub side: Side,
    /// Price (E8, on the tick grid).
    pub price_e8: i64,
    /// Quantity (E8, positive, on the lot grid).
    pub qty_e8: i64,
}

/// An instrument of a scenario with its market data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioInstrument {
    /// The checked instrument.
    pub instrument: Instrument,
    /// Mark price (E8).
    pub mark_e8: i64,
    /// Index price (E8), if given.
    pub index_e8: Option<i64>,
    /// Book levels in file order.
    pub book: Vec<BookLevel>,
}

/// A position of a scenario account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScenarioPosition {
    /// Instrument id (0-based order of `[[instrument]]`).
    pub instrument: u16,
    /// Signed quantity (E8).
    pub qty_e8: i64,
    /// Entry price (E8).
    pub entry_e8: i64,
    /// Cross or isolated.
    pub mode: MarginMode,
    /// Isolated margin (E8), for isolated positions.
    pub isolated_margin_e8: Option<i64>,
}

/// An account of a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioAccount {
    /// Account id.
    pub id: u32,
    /// Cross wallet balance (E8).
    pub wallet_e8: i64,
    /// Positions in file order.
    pub positions: Vec<ScenarioPosition>,
}

/// A loaded, checked scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// Instruments in file order (id = index).
    pub instruments: Vec<ScenarioInstrument>,
    /// Accounts in file order.
    pub accounts: Vec<ScenarioAccount>,
    /// Insurance fund (E8), if given.
    pub insurance_fund_e8: Option<i64>,
}

struct Ctx<'a> {
    file: &'a Path,
}

impl Ctx<'_> {
    fn err(&self, key: impl Into<String>, reason: impl Into<String>) -> SnapshotError {
        SnapshotError::Value {
            file: self.file.to_path_buf(),
            key: key.into(),
            reason: reason.into(),
        }
    }
    fn dec(&self, key: &str, text: &str) -> Result<i64, SnapshotError> {
        parse_e8(text).map_err(|e| self.err(key, e.to_string()))
    }
    fn spec(&self, e: SpecError) -> SnapshotError {
        self.err(e.key, e.reason)
    }
}

fn price_on_grid(
    ctx: &Ctx<'_>,
    key: &str,
    text: &str,
    inst: &Instrument,
) -> Result<i64, SnapshotError> {
    let v = ctx.dec(key, text)?;
    if !inst.price_in_range(v) {
        return Err(ctx.err(
            key,
            format!(
                "{text} is outside [{}, {}]",
                hotrisk_feed::fixed::format_e8(inst.min_mark_e8()),
                hotrisk_feed::fixed::format_e8(inst.max_mark_e8())
            ),
        ));
    }
    if v % inst.tick_e8() != 0 {
        return Err(ctx.err(
            key,
            format!(
                "{text} is finer than the tick size {}",
                hotrisk_feed::fixed::format_e8(inst.tick_e8())
            ),
        ));
    }
    Ok(v)
}

fn qty_on_grid(
    ctx: &Ctx<'_>,
    key: &str,
    text: &str,
    inst: &Instrument,
) -> Result<i64, SnapshotError> {
    let v = ctx.dec(key, text)?;
    if v % inst.lot_e8() != 0 {
        return Err(ctx.err(
            key,
            format!(
                "{text} is finer than the lot size {}",
                hotrisk_feed::fixed::format_e8(inst.lot_e8())
            ),
        ));
    }
    if v == 0 || v.unsigned_abs() > inst.max_qty_e8() as u64 {
        return Err(ctx.err(
            key,
            format!(
                "{text} must be non-zero and at most {} in absolute value",
                hotrisk_feed::fixed::format_e8(inst.max_qty_e8())
            ),
        ));
    }
    Ok(v)
}

fn balance(
    ctx: &Ctx<'_>,
    key: &str,
    text: &str,
    allow_negative: bool,
) -> Result<i64, SnapshotError> {
    let v = ctx.dec(key, text)?;
    let max = crate::margin::bounds::MAX_BALANCE_E8;
    if v.unsigned_abs() > max as u64 || (!allow_negative && v < 0) {
        return Err(ctx.err(
            key,
            format!(
                "{text} must be in [{}{}, {}]",
                if allow_negative { "-" } else { "" },
                if allow_negative {
                    hotrisk_feed::fixed::format_e8(max)
                } else {
                    "0".into()
                },
                hotrisk_feed::fixed::format_e8(max)
            ),
        ));
    }
    Ok(v)
}

fn instruments_from(
    ctx: &Ctx<'_>,
    raw: Vec<RawInstrument>,
) -> Result<Vec<ScenarioInstrument>, SnapshotError> {
    if raw.len() >= usize::from(crate::margin::CROSS) {
        return Err(ctx.err("instrument", "too many instruments"));
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut seen = HashSet::new();
    for (i, r) in raw.into_iter().enumerate() {
        let p = format!("instrument[{i}]");
        let kind = match r.kind.as_str() {
            "linear" => Kind::Linear,
            "inverse" => Kind::Inverse,
            other => {
                return Err(ctx.err(
                    format!("{p}.kind"),
                    format!("{other:?} is not \"linear\" or \"inverse\""),
                ))
            }
        };
        if !seen.insert(r.symbol.clone()) {
            return Err(ctx.err(
                format!("{p}.symbol"),
                format!("duplicate symbol {:?}", r.symbol),
            ));
        }
        let mut brackets = Vec::with_capacity(r.bracket.len());
        for (j, b) in r.bracket.iter().enumerate() {
            let bp = format!("{p}.bracket[{j}]");
            brackets.push(BracketSpec {
                notional_cap_e8: b
                    .notional_cap
                    .as_deref()
                    .map(|t| ctx.dec(&format!("{bp}.notional_cap"), t))
                    .transpose()?,
                max_leverage_e8: ctx.dec(&format!("{bp}.max_leverage"), &b.max_leverage)?,
                maintenance_margin_rate_e8: ctx.dec(
                    &format!("{bp}.maintenance_margin_rate"),
                    &b.maintenance_margin_rate,
                )?,
                maintenance_amount_e8: b
                    .maintenance_amount
                    .as_deref()
                    .map(|t| ctx.dec(&format!("{bp}.maintenance_amount"), t))
                    .transpose()?,
            });
        }
        let spec = InstrumentSpec {
            symbol: r.symbol.clone(),
            kind,
            tick_size_e8: ctx.dec(&format!("{p}.tick_size"), &r.tick_size)?,
            lot_size_e8: ctx.dec(&format!("{p}.lot_size"), &r.lot_size)?,
            contract_size_e8: ctx.dec(&format!("{p}.contract_size"), &r.contract_size)?,
            liquidation_fee_rate_e8: r
                .liquidation_fee_rate
                .as_deref()
                .map(|t| ctx.dec(&format!("{p}.liquidation_fee_rate"), t))
                .transpose()?
                .unwrap_or(0),
            brackets,
        };
        let inst = Instrument::new(spec).map_err(|e| ctx.spec(e.within(&p)))?;
        let mark_e8 = price_on_grid(ctx, &format!("{p}.mark_price"), &r.mark_price, &inst)?;
        let index_e8 = r
            .index_price
            .as_deref()
            .map(|t| price_on_grid(ctx, &format!("{p}.index_price"), t, &inst))
            .transpose()?;
        let mut book = Vec::with_capacity(r.book.len());
        for (j, l) in r.book.iter().enumerate() {
            let lp = format!("{p}.book[{j}]");
            let side = match l.side.as_str() {
                "bid" => Side::Buy,
                "ask" => Side::Sell,
                other => {
                    return Err(ctx.err(
                        format!("{lp}.side"),
                        format!("{other:?} is not \"bid\" or \"ask\""),
                    ))
                }
            };
            let price_e8 = price_on_grid(ctx, &format!("{lp}.price"), &l.price, &inst)?;
            let qty_e8 = qty_on_grid(ctx, &format!("{lp}.qty"), &l.qty, &inst)?;
            if qty_e8 < 0 {
                return Err(ctx.err(format!("{lp}.qty"), "must be positive"));
            }
            book.push(BookLevel {
                side,
                price_e8,
                qty_e8,
            });
        }
        out.push(ScenarioInstrument {
            instrument: inst,
            mark_e8,
            index_e8,
            book,
        });
    }
    Ok(out)
}

fn read(file: &Path) -> Result<String, SnapshotError> {
    std::fs::read_to_string(file).map_err(|source| SnapshotError::Io {
        file: file.to_path_buf(),
        source,
    })
}

fn parse_raw(file: &Path, text: &str) -> Result<RawScenario, SnapshotError> {
    toml::from_str(text).map_err(|e| SnapshotError::Toml {
        file: file.to_path_buf(),
        message: e.to_string().trim_end().to_owned(),
    })
}

impl Scenario {
    /// Loads and checks a scenario file.
    pub fn load(file: &Path) -> Result<Self, SnapshotError> {
        let text = read(file)?;
        Self::parse(file, &text)
    }

    /// Parses and checks scenario text; `file` names it in errors.
    pub fn parse(file: &Path, text: &str) -> Result<Self, SnapshotError> {
        let raw = parse_raw(file, text)?;
        let ctx = Ctx { file };
        let instruments = instruments_from(&ctx, raw.instrument)?;
        let insurance_fund_e8 = raw
            .insurance_fund
            .as_deref()
            .map(|t| balance(&ctx, "insurance_fund", t, false))
            .transpose()?;
        let mut accounts = Vec::with_capacity(raw.account.len());
        let mut ids = HashSet::new();
        for (a, ra) in raw.account.into_iter().enumerate() {
            let p = format!("account[{a}]");
            if !ids.insert(ra.id) {
                return Err(ctx.err(format!("{p}.id"), format!("duplicate account id {}", ra.id)));
            }
            let wallet_e8 = balance(
                &ctx,
                &format!("{p}.wallet_balance"),
                &ra.wallet_balance,
                true,
            )?;
            let mut positions = Vec::with_capacity(ra.position.len());
            let mut held = HashSet::new();
            for (j, rp) in ra.position.iter().enumerate() {
                let pp = format!("{p}.position[{j}]");
                let instrument = instruments
                    .iter()
                    .position(|i| i.instrument.symbol() == rp.symbol)
                    .ok_or_else(|| {
                        ctx.err(
                            format!("{pp}.symbol"),
                            format!("unknown symbol {:?}", rp.symbol),
                        )
                    })? as u16;
                if !held.insert(instrument) {
                    return Err(ctx.err(
                        format!("{pp}.symbol"),
                        format!(
                            "a second position in {:?} (one-way mode: one per instrument)",
                            rp.symbol
                        ),
                    ));
                }
                let inst = &instruments[usize::from(instrument)].instrument;
                let qty_e8 = qty_on_grid(&ctx, &format!("{pp}.qty"), &rp.qty, inst)?;
                let entry_e8 =
                    price_on_grid(&ctx, &format!("{pp}.entry_price"), &rp.entry_price, inst)?;
                let (mode, isolated_margin_e8) =
                    match (rp.margin_mode.as_str(), rp.isolated_margin.as_deref()) {
                        ("cross", None) => (MarginMode::Cross, None),
                        ("cross", Some(_)) => {
                            return Err(ctx.err(
                                format!("{pp}.isolated_margin"),
                                "forbidden for a cross position",
                            ))
                        }
                        ("isolated", Some(t)) => (
                            MarginMode::Isolated,
                            Some(balance(&ctx, &format!("{pp}.isolated_margin"), t, false)?),
                        ),
                        ("isolated", None) => {
                            return Err(ctx.err(
                                format!("{pp}.isolated_margin"),
                                "missing: required for an isolated position",
                            ))
                        }
                        (other, _) => {
                            return Err(ctx.err(
                                format!("{pp}.margin_mode"),
                                format!("{other:?} is not \"cross\" or \"isolated\""),
                            ))
                        }
                    };
                positions.push(ScenarioPosition {
                    instrument,
                    qty_e8,
                    entry_e8,
                    mode,
                    isolated_margin_e8,
                });
            }
            accounts.push(ScenarioAccount {
                id: ra.id,
                wallet_e8,
                positions,
            });
        }
        let s = Self {
            instruments,
            accounts,
            insurance_fund_e8,
        };
        // Build once so that every state-level rule (margin assets, bounds) is checked here.
        s.build_state_named(file)?;
        Ok(s)
    }

    /// Builds the margin state (evaluated: statuses and bands set).
    pub fn build_state(&self) -> Result<MarginState, SnapshotError> {
        self.build_state_named(Path::new("<scenario>"))
    }

    fn build_state_named(&self, file: &Path) -> Result<MarginState, SnapshotError> {
        let ctx = Ctx { file };
        let mut st = MarginState::new(
            self.instruments
                .iter()
                .map(|i| i.instrument.clone())
                .collect(),
            self.instruments.iter().map(|i| i.mark_e8).collect(),
        )
        .map_err(|e| ctx.err("instrument", e.to_string()))?;
        for (a, acc) in self.accounts.iter().enumerate() {
            st.add_account(acc.id, acc.wallet_e8)
                .map_err(|e| ctx.err(format!("account[{a}]"), e.to_string()))?;
            for (j, p) in acc.positions.iter().enumerate() {
                st.add_position(
                    acc.id,
                    p.instrument,
                    p.qty_e8,
                    p.entry_e8,
                    p.mode,
                    p.isolated_margin_e8,
                )
                .map_err(|e| state_err(&ctx, &format!("account[{a}].position[{j}]"), e))?;
            }
        }
        st.evaluate_all();
        Ok(st)
    }
}

fn state_err(ctx: &Ctx<'_>, key: &str, e: StateError) -> SnapshotError {
    let field = match e {
        StateError::MixedMarginAsset { .. } => ".symbol",
        StateError::OutOfRange { what: "qty", .. } => ".qty",
        StateError::OutOfRange {
            what: "entry_price",
            ..
        } => ".entry_price",
        _ => "",
    };
    ctx.err(format!("{key}{field}"), e.to_string())
}

/// A loaded large snapshot: instruments (with their books) and the evaluated state.
#[derive(Debug)]
pub struct Snapshot {
    /// Instruments of the instruments file.
    pub instruments: Vec<ScenarioInstrument>,
    /// Insurance fund of the instruments file (E8), if given.
    pub insurance_fund_e8: Option<i64>,
    /// The evaluated margin state.
    pub state: MarginState,
}

/// First line of a positions file.
pub const POSITIONS_MAGIC: &str = "# hotrisk positions v1";

/// Loads an instruments file (scenario format; accounts there are added too) and a positions
/// file (see the module docs). Everything or nothing.
pub fn load_snapshot(
    instruments_file: &Path,
    positions_file: &Path,
) -> Result<Snapshot, SnapshotError> {
    let scenario = Scenario::load(instruments_file)?;
    let mut state = scenario.build_state_named(instruments_file)?;
    let f = std::fs::File::open(positions_file).map_err(|source| SnapshotError::Io {
        file: positions_file.to_path_buf(),
        source,
    })?;
    load_positions(positions_file, BufReader::new(f), &mut state)?;
    state.evaluate_all();
    Ok(Snapshot {
        instruments: scenario.instruments,
        insurance_fund_e8: scenario.insurance_fund_e8,
        state,
    })
}

/// Streams a positions file into `state` (not evaluated; call `evaluate_all`). On error the
/// state is partly filled: callers drop it (as [`load_snapshot`] does).
pub fn load_positions(
    file: &Path,
    reader: impl BufRead,
    state: &mut MarginState,
) -> Result<(), SnapshotError> {
    let ctx = Ctx { file };
    let symbols: std::collections::HashMap<String, u16> = state
        .instruments()
        .iter()
        .enumerate()
        .map(|(i, x)| (x.symbol().to_owned(), i as u16))
        .collect();
    let mut first = true;
    for (n, line) in reader.lines().enumerate() {
        let ln = n + 1;
        let line = line.map_err(|source| SnapshotError::Io {
            file: file.to_path_buf(),
            source,
        })?;
        if first {
            if line.trim_end() != POSITIONS_MAGIC {
                return Err(ctx.err("line 1", format!("expected the header {POSITIONS_MAGIC:?}")));
            }
            first = false;
            continue;
        }
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let field = |i: usize, name: &str| -> Result<&str, SnapshotError> {
            f.get(i)
                .copied()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| ctx.err(format!("line {ln}, field {name}"), "missing"))
        };
        let id: u32 = field(1, "account")?
            .parse()
            .map_err(|_| ctx.err(format!("line {ln}, field account"), "not a u32 account id"))?;
        match f[0] {
            "A" => {
                if f.len() != 3 {
                    return Err(ctx.err(
                        format!("line {ln}"),
                        "an A line has 3 fields: A,account,wallet_balance",
                    ));
                }
                let w = balance(
                    &ctx,
                    &format!("line {ln}, field wallet_balance"),
                    field(2, "wallet_balance")?,
                    true,
                )?;
                state
                    .add_account(id, w)
                    .map_err(|e| ctx.err(format!("line {ln}, field account"), e.to_string()))?;
            }
            "P" => {
                let sym = field(2, "symbol")?;
                let instr = *symbols.get(sym).ok_or_else(|| {
                    ctx.err(
                        format!("line {ln}, field symbol"),
                        format!("unknown symbol {sym:?}"),
                    )
                })?;
                let inst = &state.instruments()[usize::from(instr)];
                let qty = qty_on_grid(
                    &ctx,
                    &format!("line {ln}, field qty"),
                    field(3, "qty")?,
                    inst,
                )?;
                let entry = price_on_grid(
                    &ctx,
                    &format!("line {ln}, field entry_price"),
                    field(4, "entry_price")?,
                    inst,
                )?;
                let (mode, iso) = match (field(5, "margin_mode")?, f.len()) {
                    ("cross", 6) => (MarginMode::Cross, None),
                    ("isolated", 7) => (
                        MarginMode::Isolated,
                        Some(balance(&ctx, &format!("line {ln}, field isolated_margin"), field(6, "isolated_margin")?, false)?),
                    ),
                    _ => {
                        return Err(ctx.err(
                            format!("line {ln}"),
                            "expected P,account,symbol,qty,entry_price,cross or P,account,symbol,qty,entry_price,isolated,isolated_margin",
                        ))
                    }
                };
                state
                    .add_position(id, instr, qty, entry, mode, iso)
                    .map_err(|e| ctx.err(format!("line {ln}"), e.to_string()))?;
            }
            other => {
                return Err(ctx.err(
                    format!("line {ln}, field 1"),
                    format!("{other:?} is not A or P"),
                ))
            }
        }
    }
    if first {
        return Err(ctx.err(
            "line 1",
            format!("empty file; expected the header {POSITIONS_MAGIC:?}"),
        ));
    }
    Ok(())
}
