//! A deterministic, seeded synthetic market: several instruments, a fixed-point price process
//! with volatility and jumps, an L2 book of configurable depth around the mark, trades, funding,
//! an index (oracle) price, and named crash scenarios.
//!
//! # Model (all integer arithmetic; no floats)
//! Time advances in steps of `step_ns` from `start_ts`. Per step and instrument:
//!
//! 1. the *fundamental* price `F` moves by a return `r` (parts per million):
//!    `r = vol_ppm × z`, with `z` ≈ N(0,1) from the Irwin–Hall sum of 12 uniforms in fixed point,
//!    plus, with probability `jump_ppm`/10^6, a jump uniform in `±jump_bp` basis points;
//! 2. the scenario overlay multiplies `F` by a deterministic factor `S(t)` (ppm of 1):
//!    - `calm`: 1;
//!    - `crash`: from `event_at` down linearly by 10% over 1 s, then flat;
//!    - `grind`: from `event_at` down linearly by 20% over 60 s;
//!    - `flash`: from `event_at` down 20% in 250 ms, flat for 250 ms, back to 1 over 1.5 s;
//! 3. index = `F·S` rounded to the tick; mark = index × (1 + basis), the basis a bounded random
//!    walk of a few ppm per step (|basis| ≤ 300 ppm); both published every step;
//! 4. the book is `depth` levels a side, one tick apart, best bid = mark floored to the tick, best
//!    ask one tick above; each step publishes only the difference (deleted levels with qty 0,
//!    new levels, and two random resizes a side); the first step is a full snapshot;
//! 5. a trade with probability `trade_ppm`/10^6 at the best bid or ask (sell-biased while the
//!    overlay is falling), sizes in whole lots;
//! 6. every `funding_interval_ns`, `Funding` with rate = clamp((mark − index)/index, ±0.75%).
//!
//! Every instrument shares the overlay (a market-wide move), so leveraged longs across the book
//! cross their maintenance margin together: the cascade the engine must hold in check.
//! `exch_ts` is the step time, `local_ts` 1 ms later; both whole microseconds, so the output
//! converts to Tardis CSV and back exactly.

use rand::{Rng, RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::fixed::E8;
use crate::wire::{Msg, MsgKind, Side};

/// A named price path overlay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// No overlay.
    Calm,
    /// 10% drop in 1 second.
    Crash,
    /// 20% slow grind down over 60 seconds.
    Grind,
    /// Flash crash of 20% in 250 ms and recovery over 1.5 s.
    Flash,
}

impl Scenario {
    /// The overlay factor in ppm of 1 at `t` ns after `event_at`'s origin (`dt` = t − event_at).
    pub fn factor_ppm(self, dt: i64) -> i64 {
        const ONE: i64 = 1_000_000;
        const MS: i64 = 1_000_000;
        let ramp = |dt: i64, len: i64, depth: i64| -> i64 {
            // Linear from 0 to `depth` ppm over `len` ns.
            depth * dt.clamp(0, len) / len
        };
        if dt < 0 {
            return ONE;
        }
        match self {
            Self::Calm => ONE,
            Self::Crash => ONE - ramp(dt, 1_000 * MS, 100_000),
            Self::Grind => ONE - ramp(dt, 60_000 * MS, 200_000),
            Self::Flash => {
                if dt < 500 * MS {
                    ONE - ramp(dt, 250 * MS, 200_000)
                } else {
                    ONE - 200_000 + ramp(dt - 500 * MS, 1_500 * MS, 200_000)
                }
            }
        }
    }

    /// A sensible default run length for the scenario, ns.
    pub fn default_duration_ns(self) -> i64 {
        match self {
            Self::Calm | Self::Crash | Self::Flash => 5_000_000_000,
            Self::Grind => 65_000_000_000,
        }
    }
}

/// One synthetic instrument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthInstrument {
    /// Symbol (for the capture's symbol table).
    pub symbol: String,
    /// Starting price, E8.
    pub start_price: i64,
    /// Tick size, E8.
    pub tick: i64,
    /// Lot size, E8.
    pub lot: i64,
    /// Mean resting size of a book level, in lots.
    pub level_lots: i64,
}

impl SynthInstrument {
    /// Defaults for a symbol: known majors get realistic prices/ticks, anything else 100.0.
    pub fn for_symbol(symbol: &str) -> Self {
        let (price, tick, lot) = match symbol {
            "BTCUSDT" => (60_000 * E8, E8 / 10, E8 / 1000),
            "ETHUSDT" => (3_000 * E8, E8 / 100, E8 / 1000),
            "SOLUSDT" => (150 * E8, E8 / 100, E8 / 100),
            "BNBUSDT" => (600 * E8, E8 / 100, E8 / 100),
            "XRPUSDT" => (E8 / 2, E8 / 10_000, E8 / 10),
            _ => (100 * E8, E8 / 100, E8 / 100),
        };
        Self {
            symbol: symbol.to_owned(),
            start_price: price,
            tick,
            lot,
            level_lots: 50,
        }
    }
}

/// Synthetic instruments from the engine's instruments or scenario TOML (`[[instrument]]`
/// tables, id = position): `symbol` is required; `mark_price` (the start price), `tick_size` and
/// `lot_size`, exact decimal strings, are used when present, so the synthetic market starts where
/// the accounts' snapshot is marked. Other keys are ignored; missing ones default as in
/// [`SynthInstrument::for_symbol`].
pub fn instruments_from_toml(
    name: &str,
    text: &str,
) -> Result<Vec<SynthInstrument>, crate::source::InputError> {
    use crate::source::{InputError, Instruments};
    let table = Instruments::from_toml_str(name, text)?;
    let value: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| InputError::file(name, format!("invalid TOML: {e}")))?;
    let list = value
        .get("instrument")
        .and_then(toml::Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let mut out = Vec::new();
    for (i, sym) in table.symbols().iter().enumerate() {
        let mut inst = SynthInstrument::for_symbol(sym);
        let entry = &list[i];
        for (key, field) in [
            ("mark_price", &mut inst.start_price),
            ("tick_size", &mut inst.tick),
            ("lot_size", &mut inst.lot),
        ] {
            if let Some(v) = entry.get(key) {
                let s = v.as_str().ok_or_else(|| {
                    InputError::file(
                        name,
                        format!("instrument[{i}].{key}: expected a decimal string"),
                    )
                })?;
                let x = crate::fixed::parse_e8(s)
                    .map_err(|e| InputError::file(name, format!("instrument[{i}].{key}: {e}")))?;
                if x <= 0 {
                    return Err(InputError::file(
                        name,
                        format!("instrument[{i}].{key}: must be positive"),
                    ));
                }
                *field = x;
            }
        }
        out.push(inst);
    }
    Ok(out)
}

/// Generator configuration.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    /// RNG seed: the same seed gives the same messages, bit for bit.
    pub seed: u64,
    /// Instruments, id = position.
    pub instruments: Vec<SynthInstrument>,
    /// First step time, ns since the epoch.
    pub start_ts: i64,
    /// Run length, ns.
    pub duration_ns: i64,
    /// Step, ns (a multiple of 1000).
    pub step_ns: i64,
    /// Book levels per side.
    pub depth: usize,
    /// Per-step return standard deviation, ppm.
    pub vol_ppm: i64,
    /// Per-step jump probability, ppm.
    pub jump_ppm: u32,
    /// Largest jump, basis points.
    pub jump_bp: i64,
    /// Per-step trade probability, ppm.
    pub trade_ppm: u32,
    /// Funding interval, ns.
    pub funding_interval_ns: i64,
    /// The overlay.
    pub scenario: Scenario,
    /// When the overlay starts, ns after `start_ts`.
    pub event_at_ns: i64,
}

impl SynthConfig {
    /// Defaults: 1 ms steps, 20 levels, 5 ppm/step volatility, rare 50 bp jumps, a trade on 30% of
    /// steps, funding every second, the event 1 s in.
    pub fn new(seed: u64, symbols: &[String], scenario: Scenario) -> Self {
        Self {
            seed,
            instruments: symbols
                .iter()
                .map(|s| SynthInstrument::for_symbol(s))
                .collect(),
            start_ts: 1_767_225_600_000_000_000, // 2026-01-01T00:00:00Z
            duration_ns: scenario.default_duration_ns(),
            step_ns: 1_000_000,
            depth: 20,
            vol_ppm: 5,
            jump_ppm: 200,
            jump_bp: 50,
            trade_ppm: 300_000,
            funding_interval_ns: 1_000_000_000,
            scenario,
            event_at_ns: 1_000_000_000,
        }
    }
}

#[derive(Debug, Clone)]
struct InstState {
    fundamental: i64,
    basis_ppm: i64,
    bids: Vec<(i64, i64)>,
    asks: Vec<(i64, i64)>,
    last_mark: i64,
    last_index: i64,
}

/// The generator: an iterator of market-data [`Msg`]s (seq and publish_ts zero).
#[derive(Debug)]
pub struct Synthetic {
    cfg: SynthConfig,
    rng: Xoshiro256PlusPlus,
    state: Vec<InstState>,
    step: i64,
    steps: i64,
    buf: Vec<Msg>,
    pos: usize,
    trade_id: i64,
    next_funding: i64,
    scratch: Vec<(i64, i64)>,
}

impl Synthetic {
    /// A generator for `cfg`.
    pub fn new(cfg: SynthConfig) -> Self {
        let state = cfg
            .instruments
            .iter()
            .map(|i| InstState {
                fundamental: i.start_price,
                basis_ppm: 0,
                bids: Vec::new(),
                asks: Vec::new(),
                last_mark: i.start_price,
                last_index: i.start_price,
            })
            .collect();
        let steps = cfg.duration_ns / cfg.step_ns.max(1);
        Self {
            rng: Xoshiro256PlusPlus::seed_from_u64(cfg.seed),
            next_funding: cfg.start_ts + cfg.funding_interval_ns,
            cfg,
            state,
            step: 0,
            steps,
            buf: Vec::new(),
            pos: 0,
            trade_id: 1,
            scratch: Vec::new(),
        }
    }

    /// Symbols in id order.
    pub fn symbols(&self) -> Vec<String> {
        self.cfg
            .instruments
            .iter()
            .map(|i| i.symbol.clone())
            .collect()
    }

    /// The last published mark price of an instrument (E8).
    pub fn mark(&self, instrument: u16) -> i64 {
        self.state[usize::from(instrument)].last_mark
    }

    /// Approximately N(0,1) × 2^20 (Irwin–Hall, 12 uniforms).
    fn normal_fp(&mut self) -> i64 {
        let mut s = 0i64;
        for _ in 0..12 {
            s += (self.rng.next_u32() >> 12) as i64; // uniform in [0, 2^20)
        }
        s - 6 * (1 << 20)
    }

    fn generate_step(&mut self) {
        self.buf.clear();
        self.pos = 0;
        let t = self.cfg.start_ts + self.step * self.cfg.step_ns;
        let local = t + 1_000_000;
        let dt = t - self.cfg.start_ts - self.cfg.event_at_ns;
        let factor = self.cfg.scenario.factor_ppm(dt);
        let falling = factor < self.cfg.scenario.factor_ppm(dt - self.cfg.step_ns);
        let first = self.step == 0;
        for i in 0..self.cfg.instruments.len() {
            let id = i as u16;
            let inst = self.cfg.instruments[i].clone();
            // 1. fundamental return.
            let z = self.normal_fp();
            let mut ret_ppm_fp = self.cfg.vol_ppm * z; // ppm × 2^20
            if self.rng.gen_range(0..1_000_000u32) < self.cfg.jump_ppm {
                let j = self.rng.gen_range(-self.cfg.jump_bp..=self.cfg.jump_bp);
                ret_ppm_fp += (j * 100) << 20;
            }
            let st = &mut self.state[i];
            let f = i128::from(st.fundamental);
            st.fundamental = (f + f * i128::from(ret_ppm_fp) / (1_000_000i128 << 20))
                .max(i128::from(inst.tick) * 10) as i64;
            // 2./3. overlay, index and mark.
            let index = round_tick(
                (i128::from(st.fundamental) * i128::from(factor) / 1_000_000) as i64,
                inst.tick,
            );
            st.basis_ppm = (st.basis_ppm + self.rng.gen_range(-5..=5)).clamp(-300, 300);
            let mark = round_tick(
                (i128::from(index) * i128::from(1_000_000 + st.basis_ppm) / 1_000_000) as i64,
                inst.tick,
            );
            st.last_mark = mark;
            st.last_index = index;
            let mut m = Msg::market(MsgKind::MarkPrice, id, t, local);
            m.body[0] = mark;
            self.buf.push(m);
            let mut m = Msg::market(MsgKind::IndexPrice, id, t, local);
            m.body[0] = index;
            self.buf.push(m);
            // 4. book.
            self.book_step(i, &inst, mark, t, local, first);
            // 5. trade.
            if self.rng.gen_range(0..1_000_000u32) < self.cfg.trade_ppm {
                let sell = if falling {
                    self.rng.gen_range(0..10) < 8
                } else {
                    self.rng.gen_bool(0.5)
                };
                let st = &self.state[i];
                let price = if sell { st.bids[0].0 } else { st.asks[0].0 };
                let lots = self.rng.gen_range(1..=inst.level_lots.max(1));
                let mut m = Msg::market(MsgKind::Trade, id, t, local);
                m.aux = if sell { Side::Sell } else { Side::Buy } as u8;
                m.body = [price, lots * inst.lot, self.trade_id];
                self.trade_id += 1;
                self.buf.push(m);
            }
        }
        // 6. funding.
        if t >= self.next_funding {
            self.next_funding += self.cfg.funding_interval_ns;
            for (i, st) in self.state.iter().enumerate() {
                let prem = (i128::from(st.last_mark - st.last_index) * i128::from(E8)
                    / i128::from(st.last_index.max(1))) as i64;
                let mut m = Msg::market(MsgKind::Funding, i as u16, t, local);
                m.body = [prem.clamp(-750_000, 750_000), self.next_funding, 0];
                self.buf.push(m);
            }
        }
        self.step += 1;
    }

    fn random_qty(&mut self, inst: &SynthInstrument) -> i64 {
        let l = inst.level_lots.max(2);
        self.rng.gen_range(l / 2..=l + l / 2) * inst.lot
    }

    fn book_step(
        &mut self,
        i: usize,
        inst: &SynthInstrument,
        mark: i64,
        t: i64,
        local: i64,
        first: bool,
    ) {
        let id = i as u16;
        let best_bid = mark.div_euclid(inst.tick) * inst.tick;
        let best_ask = best_bid + inst.tick;
        if first {
            self.buf
                .push(Msg::market(MsgKind::SnapshotBegin, id, t, local));
        }
        for side in [Side::Buy, Side::Sell] {
            let old = std::mem::take(match side {
                Side::Buy => &mut self.state[i].bids,
                Side::Sell => &mut self.state[i].asks,
            });
            let mut new = std::mem::take(&mut self.scratch);
            new.clear();
            for k in 0..self.cfg.depth as i64 {
                let p = match side {
                    Side::Buy => best_bid - k * inst.tick,
                    Side::Sell => best_ask + k * inst.tick,
                };
                if p <= 0 {
                    break;
                }
                let q = match old.iter().find(|l| l.0 == p) {
                    Some(l) => l.1,
                    None => self.random_qty(inst),
                };
                new.push((p, q));
            }
            let level = |p: i64, q: i64| {
                let mut m = Msg::market(MsgKind::BookLevel, id, t, local);
                m.aux = side as u8;
                m.body = [p, q, 0];
                m
            };
            for &(p, _) in &old {
                if !new.iter().any(|l| l.0 == p) {
                    self.buf.push(level(p, 0));
                }
            }
            for &(p, q) in &new {
                if first || !old.iter().any(|l| l.0 == p) {
                    self.buf.push(level(p, q));
                }
            }
            if !first && !new.is_empty() {
                for _ in 0..2 {
                    let k = self.rng.gen_range(0..new.len());
                    let q = self.random_qty(inst);
                    if new[k].1 != q {
                        new[k].1 = q;
                        self.buf.push(level(new[k].0, q));
                    }
                }
            }
            let slot = match side {
                Side::Buy => &mut self.state[i].bids,
                Side::Sell => &mut self.state[i].asks,
            };
            self.scratch = old;
            *slot = new;
        }
        if first {
            self.buf
                .push(Msg::market(MsgKind::SnapshotEnd, id, t, local));
        }
    }
}

fn round_tick(p: i64, tick: i64) -> i64 {
    ((p + tick / 2).div_euclid(tick) * tick).max(tick)
}

impl Iterator for Synthetic {
    type Item = Msg;

    fn next(&mut self) -> Option<Msg> {
        while self.pos >= self.buf.len() {
            if self.step >= self.steps {
                return None;
            }
            self.generate_step();
        }
        let m = self.buf[self.pos];
        self.pos += 1;
        Some(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(seed: u64, sc: Scenario) -> SynthConfig {
        let mut c = SynthConfig::new(seed, &["BTCUSDT".into(), "ETHUSDT".into()], sc);
        c.duration_ns = 2_500_000_000;
        c.step_ns = 10_000_000;
        c
    }

    #[test]
    fn toml_instruments_take_mark_tick_and_lot() {
        let t = "[[instrument]]\nsymbol = \"BTCUSDT\"\nmark_price = \"50000\"\ntick_size = \"0.5\"\n[[instrument.bracket]]\nx = 1\n[[instrument]]\nsymbol = \"ABC\"\n";
        let v = instruments_from_toml("s.toml", t).unwrap();
        assert_eq!(v[0].start_price, 50_000 * E8);
        assert_eq!(v[0].tick, E8 / 2);
        assert_eq!(v[0].lot, E8 / 1000);
        assert_eq!(v[1], SynthInstrument::for_symbol("ABC"));
        let e = instruments_from_toml("s.toml", "[[instrument]]\nsymbol = \"X\"\nmark_price = 5\n")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "s.toml: instrument[0].mark_price: expected a decimal string"
        );
    }

    #[test]
    fn same_seed_same_messages() {
        let a: Vec<Msg> = Synthetic::new(cfg(7, Scenario::Crash)).collect();
        let b: Vec<Msg> = Synthetic::new(cfg(7, Scenario::Crash)).collect();
        let c: Vec<Msg> = Synthetic::new(cfg(8, Scenario::Crash)).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.windows(2).all(|w| w[0].local_ts <= w[1].local_ts));
    }

    #[test]
    fn crash_drops_ten_percent_and_book_stays_consistent() {
        let mut g = Synthetic::new(cfg(1, Scenario::Crash));
        let mut books = [
            std::collections::BTreeMap::new(),
            std::collections::BTreeMap::new(),
        ];
        let mut marks = vec![];
        for m in g.by_ref() {
            match m.kind() {
                Some(MsgKind::MarkPrice) if m.instrument == 0 => marks.push((m.exch_ts, m.body[0])),
                Some(MsgKind::BookLevel) => {
                    let b = &mut books[usize::from(m.instrument)];
                    if m.body[1] == 0 {
                        assert!(
                            b.remove(&(m.aux, m.body[0])).is_some(),
                            "delete of a missing level"
                        );
                    } else {
                        b.insert((m.aux, m.body[0]), m.body[1]);
                    }
                }
                _ => {}
            }
        }
        assert_eq!(books[0].len(), 40);
        let start = marks[0].1;
        let end = marks.last().unwrap().1;
        // 10% overlay; the random walk adds well under 1% in 2.5 s at these settings.
        assert!(
            end < start * 92 / 100 && end > start * 88 / 100,
            "{start} → {end}"
        );
        assert_eq!(Scenario::Flash.factor_ppm(2_000_000_000), 1_000_000);
        assert_eq!(Scenario::Crash.factor_ppm(5_000_000_000), 900_000);
    }
}
