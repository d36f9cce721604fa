//! Instruments: linear and inverse perpetuals, their grids and their maintenance brackets.
//!
//! An [`Instrument`] is built once, at load, from an [`InstrumentSpec`] (exact E8 integers as
//! parsed from a file) and is immutable afterwards. [`Instrument::new`] checks every bound of
//! [`super::bounds`] so that no later operation on a position of this instrument can overflow, and
//! derives the maintenance amounts (`cum`) of the bracket table, checking any that were given.

#![forbid(unsafe_code)]

use super::bounds::{MAX_BALANCE_E8, MAX_FACE_E16, MAX_PRICE_E8, MAX_TIERS, MIN_INVERSE_TICK_E8};
use super::{Money, SpecError, E8};

/// Linear (quote-margined) or inverse (coin-margined) perpetual.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Quantity in base units, prices, PnL and margin in quote.
    Linear,
    /// Quantity in contracts of `contract_size` quote each; PnL and margin in the base coin.
    Inverse,
}

impl Kind {
    /// `"linear"` or `"inverse"`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Linear => "linear",
            Self::Inverse => "inverse",
        }
    }
}

/// One maintenance bracket (tier) as given in a file, exact E8 values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BracketSpec {
    /// Upper notional bound of the tier (quote for linear, coin for inverse); `None` = unbounded
    /// (only the last tier).
    pub notional_cap_e8: Option<i64>,
    /// Maximum leverage of the tier (initial margin rate = 1 / leverage).
    pub max_leverage_e8: i64,
    /// Maintenance margin rate.
    pub maintenance_margin_rate_e8: i64,
    /// Maintenance amount (`cum`) if given; derived when `None`, checked when `Some`.
    pub maintenance_amount_e8: Option<i64>,
}

/// An instrument as given in a file, exact E8 values. See [`Instrument::new`] for the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstrumentSpec {
    /// Unique symbol.
    pub symbol: String,
    /// Linear or inverse.
    pub kind: Kind,
    /// Price grid.
    pub tick_size_e8: i64,
    /// Quantity grid.
    pub lot_size_e8: i64,
    /// Face value of one contract in quote (inverse); must be 1 for linear.
    pub contract_size_e8: i64,
    /// Liquidation fee as a fraction of the filled notional.
    pub liquidation_fee_rate_e8: i64,
    /// The maintenance bracket table, ordered by cap.
    pub brackets: Vec<BracketSpec>,
}

/// A checked maintenance bracket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bracket {
    /// Upper notional bound, inclusive, in [`Money`] units (E16 of the margin asset);
    /// `Money::MAX` for the unbounded last tier.
    pub cap: Money,
    /// Maximum leverage (E8).
    pub max_leverage_e8: i64,
    /// Maintenance margin rate (E8), strictly below 1.
    pub mmr_e8: i64,
    /// Maintenance amount `cum` in [`Money`] units, exact: `cum_1 = 0`,
    /// `cum_n = cum_{n-1} + cap_{n-1} · (MMR_n − MMR_{n-1})`.
    pub cum: Money,
}

/// A checked, immutable instrument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instrument {
    symbol: String,
    kind: Kind,
    tick_e8: i64,
    lot_e8: i64,
    contract_e8: i64,
    liquidation_fee_rate_e8: i64,
    brackets: Vec<Bracket>,
}

fn err(key: impl Into<String>, reason: impl Into<String>) -> SpecError {
    SpecError {
        key: key.into(),
        reason: reason.into(),
    }
}

impl Instrument {
    /// Checks a spec and derives the bracket table.
    ///
    /// Errors (key paths relative to the instrument, e.g. `bracket[2].notional_cap`):
    /// tick, lot or contract size not positive or above bounds; linear contract size other than
    /// 1; inverse tick below [`MIN_INVERSE_TICK_E8`]; a fee rate outside `[0, 1)`; no brackets or
    /// more than [`MAX_TIERS`]; a cap missing before the last tier, not strictly increasing, or not
    /// positive; a rate not strictly increasing or outside `(0, 1)`; a leverage not positive; a
    /// maintenance amount that differs from the derived one.
    pub fn new(spec: InstrumentSpec) -> Result<Self, SpecError> {
        let InstrumentSpec {
            symbol,
            kind,
            tick_size_e8,
            lot_size_e8,
            contract_size_e8,
            liquidation_fee_rate_e8,
            brackets: specs,
        } = spec;
        if symbol.is_empty() {
            return Err(err("symbol", "must not be empty"));
        }
        if tick_size_e8 <= 0 || tick_size_e8 > MAX_PRICE_E8 {
            return Err(err(
                "tick_size",
                format!("must be in (0, {}]", super::fmt_e8(MAX_PRICE_E8)),
            ));
        }
        if kind == Kind::Inverse && tick_size_e8 < MIN_INVERSE_TICK_E8 {
            return Err(err(
                "tick_size",
                format!(
                    "an inverse instrument's tick must be at least {} (bound on coin notional)",
                    super::fmt_e8(MIN_INVERSE_TICK_E8)
                ),
            ));
        }
        if lot_size_e8 <= 0
            || i128::from(lot_size_e8) > super::bounds::max_qty_e8(kind, contract_size_e8.max(1))
        {
            return Err(err(
                "lot_size",
                "must be positive and within the quantity bound",
            ));
        }
        match kind {
            Kind::Linear if contract_size_e8 != E8 => {
                return Err(err(
                    "contract_size",
                    "must be \"1\" for a linear instrument",
                ))
            }
            Kind::Inverse
                if contract_size_e8 <= 0
                    || i128::from(contract_size_e8) * i128::from(E8) > MAX_FACE_E16 =>
            {
                return Err(err(
                    "contract_size",
                    "must be positive and at most the face-value bound",
                ))
            }
            _ => {}
        }
        if !(0..E8).contains(&liquidation_fee_rate_e8) {
            return Err(err("liquidation_fee_rate", "must be in [0, 1)"));
        }
        if specs.is_empty() {
            return Err(err("bracket", "at least one bracket is required"));
        }
        if specs.len() > MAX_TIERS {
            return Err(err(
                "bracket",
                format!("at most {MAX_TIERS} brackets are supported"),
            ));
        }
        let mut brackets = Vec::with_capacity(specs.len());
        let mut prev: Option<Bracket> = None;
        let last = specs.len() - 1;
        for (i, b) in specs.iter().enumerate() {
            let cap = match b.notional_cap_e8 {
                Some(c) if c <= 0 => {
                    return Err(err(
                        format!("bracket[{i}].notional_cap"),
                        "must be positive",
                    ))
                }
                Some(c) => Money::from(c) * Money::from(E8),
                None if i == last => Money::MAX,
                None => {
                    return Err(err(
                        format!("bracket[{i}].notional_cap"),
                        "missing: only the last bracket may be unbounded",
                    ))
                }
            };
            if b.max_leverage_e8 <= 0 {
                return Err(err(
                    format!("bracket[{i}].max_leverage"),
                    "must be positive",
                ));
            }
            let mmr = b.maintenance_margin_rate_e8;
            if mmr <= 0 || mmr >= E8 {
                return Err(err(
                    format!("bracket[{i}].maintenance_margin_rate"),
                    "must be in (0, 1)",
                ));
            }
            let cum = match prev {
                None => 0,
                Some(p) => {
                    if cap <= p.cap {
                        return Err(err(
                            format!("bracket[{i}].notional_cap"),
                            "caps must be strictly increasing",
                        ));
                    }
                    if mmr <= p.mmr_e8 {
                        return Err(err(
                            format!("bracket[{i}].maintenance_margin_rate"),
                            "rates must be strictly increasing",
                        ));
                    }
                    p.cum + p.cap * Money::from(mmr - p.mmr_e8) / Money::from(E8)
                }
            };
            if let Some(given) = b.maintenance_amount_e8 {
                let given = Money::from(given) * Money::from(E8);
                if given != cum {
                    return Err(err(
                        format!("bracket[{i}].maintenance_amount"),
                        format!(
                            "{} contradicts the table, which gives {}",
                            super::fmt_money(given),
                            super::fmt_money(cum)
                        ),
                    ));
                }
            }
            let br = Bracket {
                cap,
                max_leverage_e8: b.max_leverage_e8,
                mmr_e8: mmr,
                cum,
            };
            brackets.push(br);
            prev = Some(br);
        }
        Ok(Self {
            symbol,
            kind,
            tick_e8: tick_size_e8,
            lot_e8: lot_size_e8,
            contract_e8: contract_size_e8,
            liquidation_fee_rate_e8,
            brackets,
        })
    }

    /// The symbol.
    pub fn symbol(&self) -> &str {
        &self.symbol
    }
    /// Linear or inverse.
    pub fn kind(&self) -> Kind {
        self.kind
    }
    /// Tick size (E8).
    pub fn tick_e8(&self) -> i64 {
        self.tick_e8
    }
    /// Lot size (E8).
    pub fn lot_e8(&self) -> i64 {
        self.lot_e8
    }
    /// Contract face value in quote (E8); 1 for linear.
    pub fn contract_e8(&self) -> i64 {
        self.contract_e8
    }
    /// Liquidation fee rate (E8).
    pub fn liquidation_fee_rate_e8(&self) -> i64 {
        self.liquidation_fee_rate_e8
    }
    /// The bracket table, ordered by cap.
    pub fn brackets(&self) -> &[Bracket] {
        &self.brackets
    }
    /// Lowest mark accepted for this instrument: one tick (E8).
    pub fn min_mark_e8(&self) -> i64 {
        self.tick_e8
    }
    /// Highest mark accepted: [`MAX_PRICE_E8`].
    pub fn max_mark_e8(&self) -> i64 {
        MAX_PRICE_E8
    }
    /// Largest |quantity| (E8) a position may hold: the notional bound divided by the price bound.
    pub fn max_qty_e8(&self) -> i64 {
        super::bounds::max_qty_e8(self.kind, self.contract_e8) as i64
    }
    /// Whether `price_e8` is inside the accepted price range (not necessarily on the tick grid).
    pub fn price_in_range(&self, price_e8: i64) -> bool {
        (self.min_mark_e8()..=MAX_PRICE_E8).contains(&price_e8)
    }
    /// Whether `price_e8` is a positive multiple of the tick within range.
    pub fn on_tick_grid(&self, price_e8: i64) -> bool {
        self.price_in_range(price_e8) && price_e8 % self.tick_e8 == 0
    }
    /// Whether `qty_e8` is a multiple of the lot within the quantity bound.
    pub fn on_lot_grid(&self, qty_e8: i64) -> bool {
        qty_e8 % self.lot_e8 == 0 && qty_e8.unsigned_abs() <= self.max_qty_e8() as u64
    }
    /// Largest balance or isolated margin accepted (E8).
    pub fn max_balance_e8() -> i64 {
        MAX_BALANCE_E8
    }
}
