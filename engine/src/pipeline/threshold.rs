//! The threshold core: one position per (account, instrument) with a precomputed liquidation
//! price; a mark through it emits one full, reduce-only IOC order. It exists to test and measure
//! the pipeline's mechanics (rings, queue, gateway, journal, recovery, determinism, allocation)
//! independently of the margin math and the policy, which [`crate::margin`] and
//! [`crate::policy`] own. `hotrisk run` uses it only with `state.core = "threshold"`.
//!
//! Snapshot format (`state.snapshot`, TOML):
//! ```toml
//! slippage_bps = 50          # limit price = mark ∓ 50 bps
//! [[position]]
//! account = 1
//! instrument = 0
//! qty_e8 = 150000000         # signed: + long, − short
//! liq_price_e8 = 9000000000000
//! ```
//! Rules: a long is liquidated when mark <= its liquidation price, a short when mark >= it; once
//! per position (until a fill reopens it); nothing while the md input is untrusted (after a gap
//! or a dead producer, until the next mark). Fills adjust the quantity. All integer arithmetic.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::path::Path;

use hotrisk_feed::wire::{order_id, Msg, MsgKind, Order, Side, Tier, FLAG_REDUCE_ONLY, TIF_IOC};
use serde::Deserialize;

use super::core::{CoreInfo, Health, OrderSink, RiskCore};

/// One position of the threshold core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdPosition {
    /// Account id (non-zero).
    pub account: u32,
    /// Instrument id.
    pub instrument: u16,
    /// Signed quantity, E8.
    pub qty_e8: i64,
    /// Liquidation price, E8.
    pub liq_price_e8: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotFile {
    #[serde(default = "default_slippage")]
    slippage_bps: i64,
    #[serde(default)]
    position: Vec<ThresholdPosition>,
}

fn default_slippage() -> i64 {
    50
}

/// The threshold core (see the module docs).
#[derive(Debug)]
pub struct ThresholdCore {
    positions: Vec<ThresholdPosition>,
    liquidated: Vec<bool>,
    by_instrument: Vec<Vec<u32>>,
    index: HashMap<(u32, u16), u32>,
    slippage_bps: i64,
    trusted: bool,
    accounts: usize,
}

impl ThresholdCore {
    /// Builds the core (allocates everything here).
    pub fn new(positions: Vec<ThresholdPosition>, slippage_bps: i64) -> Result<Self, String> {
        let n_instr = positions
            .iter()
            .map(|p| usize::from(p.instrument) + 1)
            .max()
            .unwrap_or(0);
        let mut by_instrument = vec![Vec::new(); n_instr];
        let mut index = HashMap::with_capacity(positions.len());
        let mut accounts = std::collections::HashSet::new();
        for (i, p) in positions.iter().enumerate() {
            if p.account == 0 {
                return Err(format!("position {}: account 0 is reserved", i + 1));
            }
            if p.liq_price_e8 <= 0 {
                return Err(format!(
                    "position {} (account {}): liq_price_e8 must be positive",
                    i + 1,
                    p.account
                ));
            }
            if index.insert((p.account, p.instrument), i as u32).is_some() {
                return Err(format!(
                    "position {}: account {} instrument {} listed twice",
                    i + 1,
                    p.account,
                    p.instrument
                ));
            }
            by_instrument[usize::from(p.instrument)].push(i as u32);
            accounts.insert(p.account);
        }
        if !(0..10_000).contains(&slippage_bps) {
            return Err(format!("slippage_bps {slippage_bps} outside 0..10000"));
        }
        Ok(Self {
            liquidated: vec![false; positions.len()],
            positions,
            by_instrument,
            index,
            slippage_bps,
            trusted: true,
            accounts: accounts.len(),
        })
    }

    /// Loads a threshold snapshot file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read snapshot {}: {e}", path.display()))?;
        let f: SnapshotFile =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::new(f.position, f.slippage_bps).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Writes a snapshot file for `positions` (tests and tools).
    pub fn write_snapshot(
        path: &Path,
        positions: &[ThresholdPosition],
        slippage_bps: i64,
    ) -> std::io::Result<()> {
        use std::fmt::Write as _;
        let mut s = format!("slippage_bps = {slippage_bps}\n");
        for p in positions {
            let _ = write!(
                s,
                "[[position]]\naccount = {}\ninstrument = {}\nqty_e8 = {}\nliq_price_e8 = {}\n",
                p.account, p.instrument, p.qty_e8, p.liq_price_e8
            );
        }
        std::fs::write(path, s)
    }

    fn on_mark(&mut self, msg: &Msg, out: &mut OrderSink) {
        let mark = msg.body[0];
        let Some(list) = self.by_instrument.get(usize::from(msg.instrument)) else {
            return;
        };
        for &i in list {
            let i = i as usize;
            let p = self.positions[i];
            if self.liquidated[i] || p.qty_e8 == 0 {
                continue;
            }
            let long = p.qty_e8 > 0;
            let crossed = if long {
                mark <= p.liq_price_e8
            } else {
                mark >= p.liq_price_e8
            };
            if !crossed {
                continue;
            }
            // Limit: sell a long below the mark, buy a short back above it.
            let off = (i128::from(mark) * i128::from(self.slippage_bps) / 10_000) as i64;
            let (side, limit) = if long {
                (Side::Sell, mark - off)
            } else {
                (Side::Buy, mark + off)
            };
            let o = Order {
                order_id: order_id(p.account, msg.seq, 0),
                trigger_seq: msg.seq,
                trigger_publish_ts: msg.publish_ts,
                emit_ts: 0,
                kind: MsgKind::Order as u8,
                side: side as u8,
                instrument: p.instrument,
                account: p.account,
                qty: p.qty_e8.unsigned_abs() as i64,
                limit_price: limit,
                tier: Tier::Full as u8,
                tif: TIF_IOC,
                flags: FLAG_REDUCE_ONLY,
                attempt: 0,
                reserved: 0,
            };
            if out.push(o) {
                self.liquidated[i] = true;
            }
        }
    }
}

impl RiskCore for ThresholdCore {
    #[inline]
    fn on_market(&mut self, msg: &Msg, out: &mut OrderSink) {
        if msg.kind() == Some(MsgKind::MarkPrice) {
            // A fresh mark after a gap restores trust; the decision uses this mark.
            self.trusted = true;
            self.on_mark(msg, out);
        }
    }

    #[inline]
    fn on_account(&mut self, msg: &Msg, _out: &mut OrderSink) {
        if msg.kind() != Some(MsgKind::Fill) {
            return;
        }
        if let Some(&i) = self.index.get(&(msg.account, msg.instrument)) {
            let i = i as usize;
            let before = self.positions[i].qty_e8;
            let after = before.saturating_add(msg.body[0]);
            self.positions[i].qty_e8 = after;
            if after == 0 || (before > 0) != (after > 0) {
                // Closed (or flipped): a new episode may start later.
                self.liquidated[i] = false;
            }
        }
    }

    fn on_health(&mut self, h: Health, _out: &mut OrderSink) {
        match h {
            Health::MdGap { .. } | Health::MdProducerDead => self.trusted = false,
            Health::MdProducerAlive => {}
        }
    }

    fn info(&self) -> CoreInfo {
        CoreInfo {
            instruments: self.by_instrument.len(),
            accounts: self.accounts,
            positions: self.positions.len(),
            state_bytes: self.positions.capacity() * std::mem::size_of::<ThresholdPosition>()
                + self.liquidated.capacity()
                + self
                    .by_instrument
                    .iter()
                    .map(|v| v.capacity() * 4)
                    .sum::<usize>()
                + self.index.capacity() * 16,
        }
    }

    fn describe(&self) -> String {
        format!(
            "threshold core (pipeline test core), slippage {} bps",
            self.slippage_bps
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(seq: u64, instr: u16, px: i64) -> Msg {
        let mut m = Msg::market(MsgKind::MarkPrice, instr, 0, 0);
        m.seq = seq;
        m.body[0] = px;
        m
    }

    #[test]
    fn liquidates_once_on_crossing_and_reopens_after_fill() {
        let mut c = ThresholdCore::new(
            vec![
                ThresholdPosition {
                    account: 1,
                    instrument: 0,
                    qty_e8: 100,
                    liq_price_e8: 90_000,
                },
                ThresholdPosition {
                    account: 2,
                    instrument: 0,
                    qty_e8: -100,
                    liq_price_e8: 110_000,
                },
            ],
            100,
        )
        .unwrap();
        let mut out = OrderSink::with_capacity(8);
        c.on_market(&mark(1, 0, 100_000), &mut out);
        assert!(out.is_empty());
        c.on_market(&mark(2, 0, 90_000), &mut out);
        assert_eq!(out.len(), 1);
        let o = out.orders()[0];
        assert_eq!(
            (o.account, o.side, o.qty, o.limit_price),
            (1, Side::Sell as u8, 100, 89_100)
        );
        assert_eq!(o.order_id, order_id(1, 2, 0));
        out.clear();
        c.on_market(&mark(3, 0, 80_000), &mut out);
        assert!(out.is_empty(), "once per episode");
        c.on_health(
            Health::MdGap {
                expected: 4,
                resumed_at: 6,
            },
            &mut out,
        );
        c.on_market(&mark(6, 0, 120_000), &mut out);
        assert_eq!(out.len(), 1, "a fresh mark restores trust");
        assert_eq!(out.orders()[0].limit_price, 121_200);
        let mut fill = Msg::market(MsgKind::Fill, 0, 0, 0);
        fill.account = 1;
        fill.body[0] = -100;
        c.on_account(&fill, &mut out);
        assert!(ThresholdCore::new(vec![], 20_000).is_err());
    }
}
