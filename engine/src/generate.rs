//! Seeded generation of a large snapshot (instruments file + positions file, the formats of
//! [`crate::snapshot`]) for the demo, the end-to-end benchmark and `hotrisk-tools gen-accounts`.
//!
//! The accounts are leveraged around the synthetic feed's start prices
//! ([`hotrisk_feed::source::synthetic::SynthInstrument::for_symbol`]) so that the feed's crash
//! scenario (−10 % in one second) drives a realistic spread of them through maintenance:
//!
//! - every account holds `positions_per_account` positions in distinct instruments (chosen round
//!   robin from a seeded offset; with `varied_positions`, 1 to that many), so each instrument
//!   holds about `accounts × positions_per_account / instruments` positions;
//! - a position's notional is log-uniform in `[notional_min, notional_max]` (quote; by default
//!   500 to 5 000 000, so about a sixth of them sit in the 2.5 % maintenance bracket, where a
//!   partial close frees more margin than it costs and the policy can choose a partial), rounded
//!   to the lot (at least one lot); its entry price is the start price ± 0.1 %, on the tick grid;
//! - `long_pct` % of positions are long (they lose in the crash), the rest short (they gain: the
//!   auto-deleveraging counterparties);
//! - leverage: `safe_pct` % of positions in `safe_leverage` (2–8×: they survive −10 %), the
//!   others in `long_leverage` (10–100×) or `short_leverage` (5–50×), capped by the bracket's
//!   maximum leverage (liquidation prices spread over the first 0.5–10 % of the fall; the most
//!   leveraged reach bankruptcy before the book can absorb them: backstop, and ADL once the
//!   insurance fund is spent);
//! - `isolated_pct` % of positions are isolated (their margin = notional / leverage); a cross
//!   account's wallet is Σ notional / leverage of its cross positions;
//! - `inverse_pct` % of positions (0 by default) are in an inverse `BTCUSD` perpetual (face value
//!   100 USD a contract, margin in BTC), added as the last instrument; an account's cross
//!   positions share one margin asset, so an inverse position is isolated unless it is the
//!   account's only one (then the wallet is in BTC).
//!
//! Two entry points use it: the demo and `hotrisk-bench e2e` (through [`crate::launch`]) and
//! `hotrisk-tools gen-accounts` (its flags map onto [`GenConfig`]).
//!
//! Deterministic: the same [`GenConfig`] writes byte-identical files. Integer arithmetic only
//! (the log-uniform draw bisects the range with integer square roots).
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use hotrisk_feed::fixed::{format_e8, E8};
use hotrisk_feed::source::synthetic::SynthInstrument;

use crate::snapshot::POSITIONS_MAGIC;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenConfig {
    /// RNG seed.
    pub seed: u64,
    /// Number of accounts (ids `1..=accounts`).
    pub accounts: u32,
    /// Positions per account (distinct instruments; at most the number of symbols).
    pub positions_per_account: u32,
    /// Symbols (the synthetic feed's defaults give their start prices, ticks and lots).
    pub symbols: Vec<String>,
    /// Share of long positions, percent.
    pub long_pct: u32,
    /// Share of low-leverage (2–8×) positions, percent.
    pub safe_pct: u32,
    /// Share of isolated positions, percent.
    pub isolated_pct: u32,
    /// Smallest notional, quote units (E8).
    pub notional_min_e8: i64,
    /// Largest notional, quote units (E8).
    pub notional_max_e8: i64,
    /// Insurance fund, quote (E8).
    pub insurance_fund_e8: i64,
    /// Liquidation fee rate (E8).
    pub liquidation_fee_rate_e8: i64,
    /// Start prices (E8) replacing [`instrument`]'s for these symbols (e.g. a captured feed's
    /// first marks), rounded to the tick.
    pub start_prices: Vec<(String, i64)>,
    /// `(symbol, tick, lot)` (E8) replacing [`instrument`]'s grid for these symbols (e.g. the
    /// price and size grid a captured feed's book is on).
    pub grids: Vec<(String, i64, i64)>,
    /// Each account holds 1 to `positions_per_account` positions (uniform) instead of exactly
    /// that many.
    pub varied_positions: bool,
    /// Leverage range of the low-leverage share (both sides).
    pub safe_leverage: (i64, i64),
    /// Leverage range of the other longs.
    pub long_leverage: (i64, i64),
    /// Leverage range of the other shorts.
    pub short_leverage: (i64, i64),
    /// Entry prices: start price ± this many ppm, uniform.
    pub entry_spread_ppm: i64,
    /// Share of positions in the inverse `BTCUSD`, percent (0: no inverse instrument).
    pub inverse_pct: u32,
}

impl Default for GenConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            accounts: 10_000,
            positions_per_account: 2,
            symbols: ["BTCUSDT", "ETHUSDT", "SOLUSDT"].map(String::from).to_vec(),
            long_pct: 75,
            safe_pct: 40,
            isolated_pct: 20,
            notional_min_e8: 500 * E8,
            notional_max_e8: 5_000_000 * E8,
            insurance_fund_e8: 1_000_000 * E8,
            liquidation_fee_rate_e8: E8 / 200,
            start_prices: Vec::new(),
            grids: Vec::new(),
            varied_positions: false,
            safe_leverage: (2, 8),
            long_leverage: (10, 100),
            short_leverage: (5, 50),
            entry_spread_ppm: 1_000,
            inverse_pct: 0,
        }
    }
}

impl GenConfig {
    /// The instruments' symbols: `symbols`, then `BTCUSD` when `inverse_pct` > 0.
    pub fn all_symbols(&self) -> Vec<String> {
        let mut v = self.symbols.clone();
        if self.inverse_pct > 0 {
            v.push(INVERSE_SYMBOL.to_owned());
        }
        v
    }

    /// The instrument of `symbol` with this configuration's start price, if it gives one.
    pub fn instrument(&self, symbol: &str) -> SynthInstrument {
        let mut i = instrument(symbol);
        if let Some(&(_, tick, lot)) = self.grids.iter().find(|(s, _, _)| s == symbol) {
            i.tick = tick.max(1);
            i.lot = lot.max(1);
        }
        if let Some((_, p)) = self.start_prices.iter().find(|(s, _)| s == symbol) {
            i.start_price = round_to(*p, i.tick).max(i.tick);
        }
        i
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenSummary {
    /// The instruments file.
    pub instruments_file: PathBuf,
    /// The positions file.
    pub positions_file: PathBuf,
    /// Accounts written.
    pub accounts: u64,
    /// Positions written.
    pub positions: u64,
    /// Positions per instrument (index = instrument id).
    pub per_instrument: Vec<u64>,
    /// Long positions.
    pub longs: u64,
    /// Isolated positions.
    pub isolated: u64,
    /// Positions at 10× or more.
    pub leveraged: u64,
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// A file could not be written.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A parameter is out of range.
    #[error("gen-accounts: {0}")]
    Invalid(String),
}

/// The inverse perpetual added when [`GenConfig::inverse_pct`] > 0.
pub const INVERSE_SYMBOL: &str = "BTCUSD";

/// Face value of one inverse contract, quote (E8).
const INVERSE_FACE: i64 = 100 * E8;

/// `n` linear symbols: BTC, ETH, SOL, BNB and XRP (the synthetic feed's known ones), then
/// `SYN06USDT`, … (start price 100).
pub fn symbols(n: usize) -> Vec<String> {
    let known = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT"];
    (0..n)
        .map(|i| match known.get(i) {
            Some(s) => (*s).to_owned(),
            None => format!("SYN{:02}USDT", i + 1),
        })
        .collect()
}

/// Binance-like bracket table: (max leverage, maintenance rate) per bracket, with the notional
/// caps in the margin asset: quote for the linear instruments, BTC for the inverse one.
const BRACKETS: [(&str, &str); 7] = [
    ("125", "0.004"),
    ("100", "0.005"),
    ("50", "0.01"),
    ("20", "0.025"),
    ("10", "0.05"),
    ("5", "0.1"),
    ("4", "0.125"),
];
const LINEAR_CAPS: [Option<i64>; 7] = [
    Some(50_000),
    Some(250_000),
    Some(1_000_000),
    Some(10_000_000),
    Some(20_000_000),
    Some(50_000_000),
    None,
];
const INVERSE_CAPS: [Option<i64>; 7] = [
    Some(5),
    Some(10),
    Some(20),
    Some(50),
    Some(100),
    Some(200),
    None,
];

/// The bracket table of the linear (`false`) or inverse (`true`) instruments: (notional cap,
/// max leverage, maintenance rate).
fn brackets(inverse: bool) -> impl Iterator<Item = (Option<i64>, &'static str, &'static str)> {
    let caps = if inverse { INVERSE_CAPS } else { LINEAR_CAPS };
    caps.into_iter()
        .zip(BRACKETS)
        .map(|(cap, (lev, mmr))| (cap, lev, mmr))
}

/// The bracket table's maximum leverage for a position of `notional` (E8, margin asset).
fn max_leverage(inverse: bool, notional: i64) -> i64 {
    brackets(inverse)
        .find(|(cap, _, _)| cap.is_none_or(|c| notional <= c.saturating_mul(E8)))
        .and_then(|(_, lev, _)| lev.parse().ok())
        .unwrap_or(1)
}

/// The instrument behind a symbol: start price, tick and lot. The synthetic feed's defaults
/// ([`SynthInstrument::for_symbol`]), except that ETH and SOL trade in the larger lots some venues
/// use (0.01 ETH, 1 SOL), so that a book level of the same number of lots holds a comparable
/// quote notional in every instrument (about 300 k, 150 k and 750 k USDT for BTC, ETH and SOL at
/// 5 000 lots a level): positions drawn from one notional range then meet books of similar depth.
/// The feed is given the written instruments file (`feed-handler synthetic --instruments`), so
/// the market and the accounts agree by construction.
pub fn instrument(symbol: &str) -> SynthInstrument {
    let mut i = SynthInstrument::for_symbol(symbol);
    match symbol {
        "ETHUSDT" => i.lot = E8 / 100,
        "SOLUSDT" => i.lot = E8,
        // The inverse BTC perpetual: BTC's price, half-dollar ticks, whole contracts.
        INVERSE_SYMBOL => {
            i.start_price = SynthInstrument::for_symbol("BTCUSDT").start_price;
            i.tick = E8 / 2;
            i.lot = E8;
        }
        _ => {}
    }
    i
}

/// SplitMix64: a small, fast, well-mixed deterministic generator (no dependency needed).
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi` (`lo <= hi`).
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = (hi - lo) as u64 + 1;
        lo + (self.next() % span) as i64
    }

    fn pct(&mut self, p: u32) -> bool {
        (self.next() % 100) < u64::from(p)
    }
}

/// `lo · (hi/lo)^(k/1024)` for a uniform `k`: log-uniform without floats, by bisection of the
/// ratio with integer square roots (10 halvings).
fn log_uniform(r: &mut Rng, lo: i64, hi: i64) -> i64 {
    let (mut a, mut b) = (i128::from(lo), i128::from(hi));
    let bits = r.next();
    for i in 0..10 {
        let mid = isqrt(a * b);
        if bits >> i & 1 == 1 {
            a = mid;
        } else {
            b = mid;
        }
    }
    i64::try_from(a).unwrap_or(lo)
}

fn isqrt(n: i128) -> i128 {
    if n < 2 {
        return n;
    }
    // Newton's iteration from above: decreasing until it reaches floor(sqrt(n)).
    let mut x = n;
    let mut y = (x + 1) / 2;
    while y < x {
        x = y;
        y = (x + n / x) / 2;
    }
    x
}

fn round_to(v: i64, step: i64) -> i64 {
    (v / step) * step
}

/// The instruments file text (scenario format) for `cfg`'s symbols (and the inverse one).
pub fn instruments_toml(cfg: &GenConfig) -> String {
    let mut s = format!(
        "# generated by hotrisk (engine::generate); USDT-margined linear perpetuals{}\ninsurance_fund = \"{}\"\n",
        if cfg.inverse_pct > 0 {
            " and a coin-margined inverse BTCUSD"
        } else {
            ""
        },
        format_e8(cfg.insurance_fund_e8)
    );
    for sym in cfg.all_symbols() {
        let i = cfg.instrument(&sym);
        let inverse = sym == INVERSE_SYMBOL;
        let _ = write!(
            s,
            "\n[[instrument]]\nsymbol = \"{sym}\"\nkind = \"{}\"\ntick_size = \"{}\"\nlot_size = \"{}\"\ncontract_size = \"{}\"\nmark_price = \"{}\"\nliquidation_fee_rate = \"{}\"\n",
            if inverse { "inverse" } else { "linear" },
            format_e8(i.tick),
            format_e8(i.lot),
            format_e8(if inverse { INVERSE_FACE } else { E8 }),
            format_e8(i.start_price),
            format_e8(cfg.liquidation_fee_rate_e8)
        );
        for (cap, lev, mmr) in brackets(inverse) {
            s.push_str("\n  [[instrument.bracket]]\n");
            if let Some(c) = cap {
                let _ = writeln!(s, "  notional_cap = \"{c}\"");
            }
            let _ = writeln!(
                s,
                "  max_leverage = \"{lev}\"\n  maintenance_margin_rate = \"{mmr}\""
            );
        }
    }
    s
}

/// Writes `dir/instruments.toml` and `dir/positions.csv`.
pub fn write_snapshot(cfg: &GenConfig, dir: &Path) -> Result<GenSummary, GenError> {
    let n_lin = cfg.symbols.len();
    if n_lin == 0 || n_lin > 64 {
        return Err(GenError::Invalid(format!(
            "{n_lin} symbols: 1 to 64 expected"
        )));
    }
    let all = cfg.all_symbols();
    let n_all = all.len();
    if cfg.positions_per_account == 0 || cfg.positions_per_account as usize > n_lin {
        return Err(GenError::Invalid(format!(
            "positions per account {}: 1 to {n_lin} (one per instrument) expected",
            cfg.positions_per_account
        )));
    }
    if cfg.accounts == 0 || cfg.accounts == u32::MAX {
        return Err(GenError::Invalid("accounts: at least 1 expected".into()));
    }
    if cfg.notional_min_e8 <= 0 || cfg.notional_max_e8 < cfg.notional_min_e8 {
        return Err(GenError::Invalid(
            "notional range: 0 < min <= max expected".into(),
        ));
    }
    for (what, (lo, hi)) in [
        ("safe leverage", cfg.safe_leverage),
        ("long leverage", cfg.long_leverage),
        ("short leverage", cfg.short_leverage),
    ] {
        if lo < 1 || hi < lo {
            return Err(GenError::Invalid(format!(
                "{what} {lo}..{hi}: 1 <= min <= max expected"
            )));
        }
    }
    if cfg.long_pct > 100 || cfg.safe_pct > 100 || cfg.isolated_pct > 100 || cfg.inverse_pct > 100 {
        return Err(GenError::Invalid("shares: 0 to 100 % expected".into()));
    }
    if !(0..1_000_000).contains(&cfg.entry_spread_ppm) {
        return Err(GenError::Invalid(format!(
            "entry spread {} ppm: 0 to 999 999 expected",
            cfg.entry_spread_ppm
        )));
    }
    let io = |file: &Path| {
        let file = file.to_path_buf();
        move |source| GenError::Io { file, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let instruments_file = dir.join("instruments.toml");
    std::fs::write(&instruments_file, instruments_toml(cfg)).map_err(io(&instruments_file))?;
    let positions_file = dir.join("positions.csv");
    let f = File::create(&positions_file).map_err(io(&positions_file))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    let specs: Vec<SynthInstrument> = all.iter().map(|s| cfg.instrument(s)).collect();
    let mut r = Rng(cfg.seed ^ 0x6A09_E667_F3BC_C908);
    let mut sum = GenSummary {
        instruments_file,
        positions_file: positions_file.clone(),
        accounts: 0,
        positions: 0,
        per_instrument: vec![0; n_all],
        longs: 0,
        isolated: 0,
        leveraged: 0,
    };
    let mut line = String::with_capacity(256);
    let mut pos_lines = String::with_capacity(1024);
    writeln!(w, "{POSITIONS_MAGIC}").map_err(io(&positions_file))?;
    writeln!(
        w,
        "# seed {} | {} accounts x {}{} positions | long {}% safe {}% isolated {}% inverse {}%",
        cfg.seed,
        cfg.accounts,
        if cfg.varied_positions { "1.." } else { "" },
        cfg.positions_per_account,
        cfg.long_pct,
        cfg.safe_pct,
        cfg.isolated_pct,
        cfg.inverse_pct
    )
    .map_err(io(&positions_file))?;
    let ppa = u64::from(cfg.positions_per_account);
    for account in 1..=cfg.accounts {
        let first = r.next() as usize % n_lin;
        let count = if cfg.varied_positions {
            1 + r.next() % ppa
        } else {
            ppa
        } as usize;
        // An inverse position takes the place of the account's last linear one.
        let inverse = cfg.inverse_pct > 0 && r.pct(cfg.inverse_pct);
        let (mut wallet, mut coin_wallet) = (0i64, 0i64);
        pos_lines.clear();
        for k in 0..count {
            let inv = inverse && k + 1 == count;
            let id = if inv { n_lin } else { (first + k) % n_lin };
            let spec = &specs[id];
            let notional = log_uniform(&mut r, cfg.notional_min_e8, cfg.notional_max_e8);
            let spread = cfg.entry_spread_ppm;
            let entry = round_to(
                spec.start_price + r.range(-spread, spread) * (spec.start_price / 1_000_000),
                spec.tick,
            )
            .max(spec.tick);
            // Linear: qty = notional / entry (base units); inverse: notional / face (contracts).
            // Rounded down to the lot, at least one lot.
            let qty_raw = if inv {
                i128::from(notional) * i128::from(E8) / i128::from(INVERSE_FACE)
            } else {
                i128::from(notional) * i128::from(E8) / i128::from(entry)
            };
            let qty = round_to(i64::try_from(qty_raw).unwrap_or(i64::MAX), spec.lot).max(spec.lot);
            let long = r.pct(cfg.long_pct);
            let range = if r.pct(cfg.safe_pct) {
                cfg.safe_leverage
            } else if long {
                cfg.long_leverage
            } else {
                cfg.short_leverage
            };
            let lev = r.range(range.0, range.1);
            // The position's value in its margin asset (quote; BTC for the inverse), and at
            // most the bracket's maximum leverage for it.
            let value = if inv {
                i128::from(qty) * i128::from(INVERSE_FACE) / i128::from(entry)
            } else {
                i128::from(qty) * i128::from(entry) / i128::from(E8)
            };
            let value = i64::try_from(value).unwrap_or(i64::MAX);
            let lev = lev.min(max_leverage(inv, value));
            let margin = value / lev + 1;
            let signed = if long { qty } else { -qty };
            sum.positions += 1;
            sum.per_instrument[id] += 1;
            sum.longs += u64::from(long);
            sum.leveraged += u64::from(lev >= 10);
            let sym = &all[id];
            // An account's cross positions share one margin asset: inverse ones are isolated
            // unless alone.
            if r.pct(cfg.isolated_pct) || (inv && count > 1) {
                sum.isolated += 1;
                let _ = writeln!(
                    pos_lines,
                    "P,{account},{sym},{},{},isolated,{}",
                    format_e8(signed),
                    format_e8(entry),
                    format_e8(margin)
                );
                // The wallet keeps a little free balance besides the isolated margin.
                if !inv {
                    wallet = wallet.saturating_add(margin / 10);
                }
            } else {
                let _ = writeln!(
                    pos_lines,
                    "P,{account},{sym},{},{},cross",
                    format_e8(signed),
                    format_e8(entry)
                );
                if inv {
                    coin_wallet = coin_wallet.saturating_add(margin);
                } else {
                    wallet = wallet.saturating_add(margin);
                }
            }
        }
        line.clear();
        let balance = if coin_wallet > 0 {
            coin_wallet
        } else {
            wallet.max(E8)
        };
        let _ = writeln!(line, "A,{account},{}", format_e8(balance));
        w.write_all(line.as_bytes()).map_err(io(&positions_file))?;
        w.write_all(pos_lines.as_bytes())
            .map_err(io(&positions_file))?;
        sum.accounts += 1;
    }
    w.flush().map_err(io(&positions_file))?;
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::load_snapshot;

    #[test]
    fn log_uniform_stays_in_range_and_spreads() {
        let mut r = Rng(7);
        let (lo, hi) = (500 * E8, 50_000 * E8);
        let v: Vec<i64> = (0..2000).map(|_| log_uniform(&mut r, lo, hi)).collect();
        assert!(v.iter().all(|&x| (lo..=hi).contains(&x)));
        let below_5k = v.iter().filter(|&&x| x < 5_000 * E8).count();
        // log-uniform: half the draws below the geometric mean (5000).
        assert!((800..1200).contains(&below_5k), "{below_5k}");
    }

    #[test]
    fn generated_snapshot_loads_and_is_deterministic() {
        let d = tempfile::tempdir().unwrap();
        let cfg = GenConfig {
            accounts: 500,
            ..GenConfig::default()
        };
        let s = write_snapshot(&cfg, d.path()).unwrap();
        assert_eq!(s.accounts, 500);
        assert_eq!(s.positions, 1000);
        assert_eq!(s.per_instrument.iter().sum::<u64>(), 1000);
        let snap = load_snapshot(&s.instruments_file, &s.positions_file).unwrap();
        assert_eq!(snap.state.accounts(), 500);
        assert_eq!(snap.insurance_fund_e8, Some(cfg.insurance_fund_e8));
        let total: usize = (0..3).map(|i| snap.state.positions_in(i)).sum();
        assert_eq!(total, 1000);
        let first = std::fs::read(&s.positions_file).unwrap();
        let d2 = tempfile::tempdir().unwrap();
        let s2 = write_snapshot(&cfg, d2.path()).unwrap();
        assert_eq!(first, std::fs::read(&s2.positions_file).unwrap());
    }

    #[test]
    fn inverse_and_varied_positions_load() {
        let d = tempfile::tempdir().unwrap();
        let cfg = GenConfig {
            accounts: 2_000,
            symbols: symbols(6),
            positions_per_account: 4,
            varied_positions: true,
            inverse_pct: 20,
            isolated_pct: 30,
            long_pct: 50,
            safe_pct: 100,
            safe_leverage: (2, 100),
            entry_spread_ppm: 30_000,
            ..GenConfig::default()
        };
        let s = write_snapshot(&cfg, d.path()).unwrap();
        assert_eq!(s.per_instrument.len(), 7);
        assert!(s.per_instrument[6] > 200, "{:?}", s.per_instrument);
        assert!(
            s.positions > 2_000 && s.positions < 8_000,
            "{}",
            s.positions
        );
        let snap = load_snapshot(&s.instruments_file, &s.positions_file).unwrap();
        assert_eq!(snap.state.accounts(), 2_000);
        let total: usize = (0..7).map(|i| snap.state.positions_in(i)).sum();
        assert_eq!(total as u64, s.positions);
        let text = std::fs::read_to_string(&s.positions_file).unwrap();
        for needle in [",isolated,", ",cross", "BTCUSD,", ",-", "SYN06USDT"] {
            assert!(text.contains(needle), "no {needle:?} in the generated file");
        }
    }

    #[test]
    fn bad_parameters_are_named() {
        let d = tempfile::tempdir().unwrap();
        let cfg = GenConfig {
            positions_per_account: 4,
            ..GenConfig::default()
        };
        let e = write_snapshot(&cfg, d.path()).unwrap_err().to_string();
        assert!(e.contains("positions per account 4"), "{e}");
    }
}
