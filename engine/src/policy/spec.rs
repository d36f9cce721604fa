//! The instrument parameters and the exact per-position arithmetic the policy decides with.
//!
//! Everything is an `i64` at the E8 scale (see [`hotrisk_feed::fixed`]); products are taken in
//! `i128` and every division states its rounding. "Against the account" (the margin spec's rule)
//! means: notional and maintenance round up, losses and fees round up, gains round down.
//!
//! [`InstrumentSpec`] is a small, `Copy` view of an instrument (brackets inline, no pointers) so
//! that the decision path reads it from one or two cache lines. It is built once at set-up from
//! the margin core's instrument table.

use hotrisk_feed::fixed::E8;

/// Most brackets an instrument may have in the policy's view.
pub const MAX_BRACKETS: usize = 16;

const E8W: i128 = E8 as i128;

/// Linear (quote-margined) or inverse (coin-margined).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractKind {
    /// Quantity in base units, margin in quote. Notional `|q|·mark`.
    Linear,
    /// Quantity in contracts of face value `contract_size` quote; margin in the base coin.
    /// Notional `|q|·F/mark`.
    Inverse,
}

/// One maintenance bracket: notional in (`previous cap`, `cap`] has rate `mmr` and amount `cum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bracket {
    /// Upper notional bound (E8, margin asset); `i64::MAX` for the last, unbounded one.
    pub cap: i64,
    /// Maintenance margin rate (E8).
    pub mmr: i64,
    /// Maintenance amount `cum` (E8, margin asset).
    pub cum: i64,
}

/// What the policy needs to know about an instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstrumentSpec {
    /// Linear or inverse.
    pub kind: ContractKind,
    /// Price tick (E8, > 0).
    pub tick: i64,
    /// Quantity lot (E8, > 0).
    pub lot: i64,
    /// Face value per contract (E8 quote; inverse only, `E8` for linear).
    pub contract_size: i64,
    /// Liquidation fee rate (E8).
    pub fee_rate: i64,
    brackets: [Bracket; MAX_BRACKETS],
    n_brackets: usize,
    /// `lot` and `tick` as multiply-shift reciprocals (the decision divides by them).
    lot_div: DivU64,
    tick_div: DivU64,
    /// `lot` for `u128` dividends (the book walk's average price).
    lot_wide: DivWide,
    /// Linear, fee rate at most 100%, every bracket's rate in `[0, 100%]` and amount in
    /// `[0, 2^62)`: the partial solve may take its `u64`/`u128` fast path (see
    /// [`crate::policy::tiers`]) when the position's values are in range too.
    pub(crate) lean: bool,
}

/// Exact unsigned division by a divisor fixed at set-up, as a multiplication and shifts
/// (Granlund and Montgomery, "Division by invariant integers using multiplication", 1994,
/// figure 4.1): with `l = ⌈log2 d⌉` and `m = ⌊2^64·(2^l − d)/d⌋ + 1`, every `n < 2^64` has
/// `⌊n/d⌋ = (t + ((n − t) >> 1)) >> (l − 1)` where `t = ⌊m·n / 2^64⌋`. A hardware 64-bit
/// division costs 10–90 cycles; this costs a multiplication. `d = 1` is kept apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DivU64 {
    d: u64,
    m: u64,
    shift: u32,
}

impl DivU64 {
    /// The reciprocal of 1 (a placeholder).
    pub(crate) const ONE: Self = Self {
        d: 1,
        m: 0,
        shift: 0,
    };

    /// The reciprocal of `d` (> 0).
    pub(crate) fn new(d: u64) -> Self {
        assert!(d > 0, "division by zero");
        if d == 1 {
            return Self { d, m: 0, shift: 0 };
        }
        let l = 64 - (d - 1).leading_zeros(); // ⌈log2 d⌉, 1..=64
        let two_l: u128 = 1 << l;
        let m = (((two_l - u128::from(d)) << 64) / u128::from(d) + 1) as u64;
        Self { d, m, shift: l - 1 }
    }

    /// `⌊n / d⌋`.
    #[inline(always)]
    pub(crate) fn div(&self, n: u64) -> u64 {
        if self.d == 1 {
            return n;
        }
        let t = ((u128::from(self.m) * u128::from(n)) >> 64) as u64;
        (t + ((n - t) >> 1)) >> self.shift
    }

    /// `n mod d`.
    #[inline(always)]
    pub(crate) fn rem(&self, n: u64) -> u64 {
        n - self.div(n) * self.d
    }
}

/// Exact division of a `u128` by a `u64` fixed ahead (a mark, for the slippage metric), as two
/// multiplications and a correction: Möller and Granlund, "Improved division by invariant
/// integers", IEEE Trans. Computers 60(2), 2011, algorithm 4 (`div_2by1`), on the divisor shifted
/// left until its top bit is set. A `u128 / u64` in Rust is a library call (`__udivti3`, 50–100
/// instructions); this is about fifteen. Only for quotients below 2^64 ([`DivWide::div_rem`]
/// says `None` otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DivWide {
    d: u64,
    /// `d << shift`, top bit set.
    dn: u64,
    shift: u32,
    /// `⌊(2^128 − 1)/dn⌋ − 2^64`.
    v: u64,
}

impl DivWide {
    /// The reciprocal of `d` (> 0).
    pub(crate) fn new(d: u64) -> Self {
        assert!(d > 0, "division by zero");
        let shift = d.leading_zeros();
        let dn = d << shift;
        // `dn ≥ 2^63`, so the quotient is in [2^64, 2^65): `v` fits 64 bits.
        let v = (u128::MAX / u128::from(dn) - (1u128 << 64)) as u64;
        Self { d, dn, shift, v }
    }

    /// The divisor.
    #[inline(always)]
    pub(crate) fn divisor(&self) -> u64 {
        self.d
    }

    /// `(⌊n/d⌋, n mod d)`, or `None` when the quotient would not fit 64 bits (`n ≥ d·2^64`).
    #[inline(always)]
    pub(crate) fn div_rem(&self, n: u128) -> Option<(u64, u64)> {
        if (n >> 64) as u64 >= self.d {
            return None;
        }
        // `n < d·2^64`, so `n << shift < dn·2^64 < 2^128`: nothing shifted out, `u1 < dn`.
        let nn = n << self.shift;
        let (u1, u0) = ((nn >> 64) as u64, nn as u64);
        let q = (u128::from(self.v) * u128::from(u1)).wrapping_add(nn);
        let (mut q1, q0) = ((q >> 64) as u64, q as u64);
        q1 = q1.wrapping_add(1);
        let mut r = u0.wrapping_sub(q1.wrapping_mul(self.dn));
        if r > q0 {
            q1 = q1.wrapping_sub(1);
            r = r.wrapping_add(self.dn);
        }
        if r >= self.dn {
            q1 += 1;
            r -= self.dn;
        }
        Some((q1, r >> self.shift))
    }
}

impl Default for DivWide {
    fn default() -> Self {
        Self::new(1)
    }
}

/// Why an [`InstrumentSpec`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// No bracket, or more than [`MAX_BRACKETS`].
    #[error("an instrument needs 1 to {MAX_BRACKETS} brackets, got {0}")]
    BracketCount(usize),
    /// Tick, lot or contract size not positive, or a negative fee rate.
    #[error("tick, lot and contract size must be positive and the fee rate not negative")]
    Parameters,
    /// Caps not strictly increasing or rates decreasing.
    #[error("bracket {0}: caps must increase and rates must not decrease")]
    Order(usize),
}

impl InstrumentSpec {
    /// Builds a spec; the brackets must be ordered by cap with non-decreasing rates.
    pub fn new(
        kind: ContractKind,
        tick: i64,
        lot: i64,
        contract_size: i64,
        fee_rate: i64,
        brackets: &[Bracket],
    ) -> Result<Self, SpecError> {
        if brackets.is_empty() || brackets.len() > MAX_BRACKETS {
            return Err(SpecError::BracketCount(brackets.len()));
        }
        if tick <= 0 || lot <= 0 || contract_size <= 0 || fee_rate < 0 {
            return Err(SpecError::Parameters);
        }
        let mut b = [Bracket::default(); MAX_BRACKETS];
        b[..brackets.len()].copy_from_slice(brackets);
        // The last bracket is unbounded whatever cap it carries.
        b[brackets.len() - 1].cap = i64::MAX;
        for i in 1..brackets.len() {
            if b[i].cap <= b[i - 1].cap || b[i].mmr < b[i - 1].mmr {
                return Err(SpecError::Order(i));
            }
        }
        let lean = kind == ContractKind::Linear
            && fee_rate <= E8
            && brackets
                .iter()
                .all(|b| (0..=E8).contains(&b.mmr) && (0..1 << 62).contains(&b.cum));
        Ok(Self {
            kind,
            tick,
            lot,
            contract_size,
            fee_rate,
            lean,
            brackets: b,
            n_brackets: brackets.len(),
            lot_div: DivU64::new(lot as u64),
            tick_div: DivU64::new(tick as u64),
            lot_wide: DivWide::new(lot as u64),
        })
    }

    /// The brackets, lowest first.
    pub fn brackets(&self) -> &[Bracket] {
        &self.brackets[..self.n_brackets]
    }

    /// 0-based bracket index of a notional.
    #[inline(always)]
    pub fn bracket_of(&self, notional: i64) -> usize {
        // The first bracket inline (most positions), the search out of line: inlined, the
        // search is unrolled over all `MAX_BRACKETS` caps and their loads hoisted (spilled)
        // into every caller's frame.
        if notional <= self.brackets[0].cap {
            0
        } else {
            self.bracket_search(notional)
        }
    }

    #[inline(never)]
    fn bracket_search(&self, notional: i64) -> usize {
        let mut t = 0;
        while t + 1 < self.n_brackets && notional > self.brackets[t].cap {
            t += 1;
        }
        t
    }

    /// Notional of `abs_qty` (≥ 0) at `price` (> 0), rounded up. Linear: `q·p`; inverse: `q·F/p`.
    #[inline(always)]
    pub fn notional(&self, abs_qty: i64, price: i64) -> i64 {
        let v = match self.kind {
            ContractKind::Linear => ceil_div(abs_qty as i128 * price as i128, E8W),
            ContractKind::Inverse => {
                ceil_div(abs_qty as i128 * self.contract_size as i128, price as i128)
            }
        };
        sat(v)
    }

    /// Maintenance margin of a notional: `N·MMR_t − cum_t` (rounded up, never negative).
    #[inline(always)]
    pub fn maintenance(&self, notional: i64) -> i64 {
        self.maintenance_in(notional, self.bracket_of(notional))
    }

    /// [`InstrumentSpec::maintenance`] with the bracket already known (`t == bracket_of(n)`).
    #[inline(always)]
    pub(crate) fn maintenance_in(&self, notional: i64, t: usize) -> i64 {
        let b = &self.brackets[t];
        let mm = ceil_div(notional as i128 * b.mmr as i128, E8W) - b.cum as i128;
        sat(mm.max(0))
    }

    /// Bracket `t` (`t < brackets().len()`).
    #[inline(always)]
    pub(crate) fn bracket_at(&self, t: usize) -> &Bracket {
        &self.brackets[t]
    }

    /// What closing `abs_qty` at `fill` instead of valuing it at `mark` costs the account
    /// (rounded up; negative when the fill is better than the mark). `sign` +1 long, −1 short.
    #[inline(always)]
    pub fn close_loss(&self, sign: i64, abs_qty: i64, mark: i64, fill: i64) -> i64 {
        let q = abs_qty as i128;
        let v = match self.kind {
            ContractKind::Linear => ceil_div(sign as i128 * q * (mark - fill) as i128, E8W),
            ContractKind::Inverse => {
                // value of the position in coin: q·F/p; a long loses N(fill) − N(mark).
                let qf = q * self.contract_size as i128;
                let (at_fill_up, at_fill_dn) =
                    (ceil_div(qf, fill as i128), floor_div(qf, fill as i128));
                let (at_mark_up, at_mark_dn) =
                    (ceil_div(qf, mark as i128), floor_div(qf, mark as i128));
                if sign > 0 {
                    at_fill_up - at_mark_dn
                } else {
                    at_mark_up - at_fill_dn
                }
            }
        };
        sat(v)
    }

    /// Liquidation fee on a fill of `abs_qty` at `price`: `rate × filled notional`, rounded up,
    /// capped at `cap` (the margin left above bankruptcy; a negative cap means no fee).
    #[inline(always)]
    pub fn liquidation_fee(&self, abs_qty: i64, price: i64, cap: i64) -> i64 {
        let n = self.notional(abs_qty, price);
        let fee = sat(ceil_div(n as i128 * self.fee_rate as i128, E8W));
        fee.min(cap.max(0))
    }

    /// Realised PnL of closing `abs_qty` of a position of `sign` opened at `entry`, at `price`
    /// (rounded against the account: down). Linear `s·q·(p − e)`; inverse `s·q·F·(1/e − 1/p)`.
    pub fn realised_pnl(&self, sign: i64, abs_qty: i64, entry: i64, price: i64) -> i64 {
        let q = abs_qty as i128;
        let v = match self.kind {
            ContractKind::Linear => floor_div(sign as i128 * q * (price - entry) as i128, E8W),
            ContractKind::Inverse => {
                let qf = q * self.contract_size as i128;
                if sign > 0 {
                    floor_div(qf, entry as i128) - ceil_div(qf, price as i128)
                } else {
                    floor_div(qf, price as i128) - ceil_div(qf, entry as i128)
                }
            }
        };
        sat(v)
    }

    /// The price at which a scope's margin balance `mb` reaches zero when only this position
    /// (`sign`, `abs_qty`) moves from `mark`, rounded to E8 in the direction that protects
    /// solvency: up for a long (the closing sell must get at least this), down for a short.
    /// `None` when no such positive price exists.
    pub fn bankruptcy_price(&self, sign: i64, abs_qty: i64, mark: i64, mb: i64) -> Option<i64> {
        if abs_qty <= 0 || mark <= 0 {
            return None;
        }
        let (q, p, m) = (abs_qty as i128, mark as i128, mb as i128);
        let bp = match self.kind {
            // mb + s·q·(bp − p)/E8 = 0  →  bp = p − s·mb·E8/q
            ContractKind::Linear => {
                if sign > 0 {
                    p - floor_div(m * E8W, q)
                } else {
                    p + floor_div(m * E8W, q)
                }
            }
            // mb + s·q·F·(1/p − 1/bp) = 0  →  bp = p·s·qF / (s·qF + mb·p)
            ContractKind::Inverse => {
                let sqf = sign as i128 * q * self.contract_size as i128;
                let den = sqf.checked_add(m.checked_mul(p)?)?;
                let num = p.checked_mul(sqf)?;
                if den == 0 || (num > 0) != (den > 0) {
                    return None;
                }
                if sign > 0 {
                    ceil_div(num, den)
                } else {
                    floor_div(num, den)
                }
            }
        };
        (bp > 0 && bp <= i64::MAX as i128).then_some(bp as i64)
    }

    /// Whether the slippage `bound` binds before the bankruptcy price for the order closing a
    /// position of `sign`: `true` when [`InstrumentSpec::bankruptcy_price`] is at or beyond
    /// `bound` for that order (a long's sell: `bp ≤ bound`; a short's buy: `bp ≥ bound`) or does
    /// not exist on that side (a long's `bp ≤ 0`, a short's beyond `i64::MAX`). Then the limit is
    /// the bound's and the exact price is not needed to set it. `None` when this cannot be told
    /// without the division (inverse contracts, `mb ≤ 0`, no position or mark).
    ///
    /// Linear: `bp = mark ∓ ⌊mb·E8/q⌋` (− for a long), and for integers `⌊a/q⌋ ≥ c ⇔ a ≥ c·q`
    /// (`q > 0`), so `bp ≤ bound ⇔ mb·E8 ≥ (mark − bound)·q` for a long and `bp ≥ bound ⇔
    /// mb·E8 ≥ (bound − mark)·q` for a short: one multiplication, no division. A long's `bp ≤ 0`
    /// and a short's `bp > i64::MAX` satisfy the same inequality (the bound is positive and an
    /// `i64`), so they count as binding, as they should.
    #[inline]
    pub fn bankruptcy_beyond(
        &self,
        sign: i64,
        abs_qty: i64,
        mark: i64,
        mb: i64,
        bound: i64,
    ) -> Option<bool> {
        if self.kind != ContractKind::Linear || abs_qty <= 0 || mark <= 0 || mb <= 0 || bound <= 0 {
            return None;
        }
        let gap = if sign > 0 {
            i128::from(mark) - i128::from(bound)
        } else {
            i128::from(bound) - i128::from(mark)
        };
        // |gap| < 2^64 and q < 2^63: the product fits an `i128`.
        Some(i128::from(mb) * E8W >= gap * i128::from(abs_qty))
    }

    /// `price` rounded to the tick: up when `up`, else down (saturating at the `i64` range).
    /// One 64-bit remainder `r`: `price − r` is the tick at or below, `price + (tick − r)` the
    /// one above.
    #[inline]
    pub fn round_tick(&self, price: i64, up: bool) -> i64 {
        let r = if price >= 0 {
            self.tick_div.rem(price as u64) as i64
        } else {
            price.rem_euclid(self.tick)
        };
        if r == 0 {
            price
        } else if up {
            price.saturating_add(self.tick - r)
        } else {
            price.saturating_sub(r)
        }
    }

    /// `⌊v / lot⌋` for `v < lot·2^64`, `None` otherwise.
    #[inline(always)]
    pub(crate) fn div_lot_wide(&self, v: u128) -> Option<u64> {
        self.lot_wide.div_rem(v).map(|(q, _)| q)
    }

    /// `lots / lot` for `lots` a whole number of lots (`floor_lot`'s result), exactly.
    #[inline(always)]
    pub(crate) fn lots_in(&self, lots: u64) -> u64 {
        self.lot_div.div(lots)
    }

    /// `qty` rounded down to whole lots.
    #[inline]
    pub fn floor_lot(&self, qty: i64) -> i64 {
        let q = qty.max(0) as u64;
        (q - self.lot_div.rem(q)) as i64
    }

    /// `qty` rounded up to whole lots (saturating).
    #[inline]
    pub fn ceil_lot(&self, qty: i64) -> i64 {
        let q = qty.max(0);
        let r = self.lot_div.rem(q as u64) as i64;
        if r == 0 {
            q
        } else {
            (q - r).saturating_add(self.lot)
        }
    }
}

/// `a / b` rounded towards −∞ (`b > 0`).
///
/// For `b < 2^32` and `|a| < 2^96` (every product of two bounded E8 values divided by a price, a
/// quantity or the scale) this is long division in base 2^32 with two 64-bit divisions, which is
/// several times cheaper than a 128-bit division and, when `b` is a constant such as `10^8`
/// after inlining, becomes multiplications. Other operands take the general 128-bit path.
#[inline(always)]
pub(crate) fn floor_div(a: i128, b: i128) -> i128 {
    if b == E8W {
        return floor_e8(a);
    }
    // Both in `i64` (a ratio of bounded E8 values, a margin ratio, a fraction): one 64-bit
    // division, inline.
    if let (Ok(a64), Ok(b64)) = (i64::try_from(a), i64::try_from(b)) {
        if b64 > 0 {
            return i128::from(a64.div_euclid(b64));
        }
    }
    floor_div_general(a, b)
}

#[inline(never)]
fn floor_div_general(a: i128, b: i128) -> i128 {
    let m = a.unsigned_abs();
    if b <= 1 {
        return a.div_euclid(b);
    }
    if b >= 1 << 32 || m >> 96 != 0 {
        // One unsigned 128-bit division (`div_euclid` on `i128` is a quotient and a remainder
        // call), then the floor adjustment for a negative dividend.
        let d = b as u128;
        let q = m / d;
        let exact = q * d == m;
        let q = q as i128;
        return if a >= 0 {
            q
        } else if exact {
            -q
        } else {
            -q - 1
        };
    }
    let d = b as u64;
    let h = (m >> 32) as u64;
    let l = (m as u64) & 0xFFFF_FFFF;
    let (qh, rh) = (h / d, h % d);
    let low = (rh << 32) | l;
    let (ql, rl) = (low / d, low % d);
    let q = (((qh as u128) << 32) | ql as u128) as i128;
    if a >= 0 {
        q
    } else if rl == 0 {
        -q
    } else {
        -q - 1
    }
}

const E8U: u64 = E8 as u64;

/// `⌊m / 10^8⌋`, `None` when `m ≥ 2^96`. Below 2^64 (most products on the decision path: a
/// maintenance rate times a notional, a buffered requirement, a fee) it is one 64-bit division by
/// a constant, which compiles to a multiplication; below 2^96 it is long division in base 2^32,
/// two of them (a hardware 64-bit `div` costs 10–90 cycles, a 128-bit one is a library call).
#[inline(always)]
fn div_e8_u96(m: u128) -> Option<u128> {
    let hi = (m >> 64) as u64;
    if hi == 0 {
        return Some(((m as u64) / E8U) as u128);
    }
    if hi >> 32 != 0 {
        return None;
    }
    let h = (m >> 32) as u64;
    let l = (m as u64) & 0xFFFF_FFFF;
    let qh = h / E8U;
    let rh = h - qh * E8U;
    let low = (rh << 32) | l;
    Some(((qh as u128) << 32) | (low / E8U) as u128)
}

/// `⌊a / 10^8⌋`. Non-negative values (the common case: notionals, maintenance, fees) take one
/// unsigned division; negative ones use `⌊a/D⌋ = −⌊(|a| + D − 1)/D⌋`. Values of 2^96 and
/// more (never produced by bounded E8 operands) take the general 128-bit division.
#[inline(always)]
pub(crate) fn floor_e8(a: i128) -> i128 {
    if a >= 0 {
        match div_e8_u96(a as u128) {
            Some(q) => q as i128,
            None => floor_e8_wide(a),
        }
    } else {
        match div_e8_u96(a.unsigned_abs() + (E8U as u128 - 1)) {
            Some(q) => -(q as i128),
            None => floor_e8_wide(a),
        }
    }
}

/// `⌈a / 10^8⌉`, the mirror of [`floor_e8`]: `⌈a/D⌉ = ⌊(a + D − 1)/D⌋` for `a > 0`,
/// `−⌊|a|/D⌋` otherwise.
#[inline(always)]
pub(crate) fn ceil_e8(a: i128) -> i128 {
    if a > 0 {
        match div_e8_u96(a as u128 + (E8U as u128 - 1)) {
            Some(q) => q as i128,
            None => ceil_e8_wide(a),
        }
    } else {
        match div_e8_u96(a.unsigned_abs()) {
            Some(q) => -(q as i128),
            None => ceil_e8_wide(a),
        }
    }
}

/// `⌊v / 10^8⌋` for `v < 10^8 · 2^64` (the quotient fits a `u64`): one 64-bit division by the
/// constant (a multiplication) below 2^64, two above. The caller proves the range; a debug
/// build checks it.
#[inline(always)]
pub(crate) fn floor_e8_lt(v: u128) -> u64 {
    debug_assert!(v < (E8U as u128) << 64, "{v} / 1e8 does not fit a u64");
    let hi = (v >> 64) as u64;
    if hi == 0 {
        return (v as u64) / E8U;
    }
    // Long division in base 2^32: `qh < 2^32` because the quotient fits 64 bits, and the
    // remainder `rh < 10^8` leaves room for the low 32 bits.
    let h = (v >> 32) as u64;
    let qh = h / E8U;
    let rh = h - qh * E8U;
    let low = (rh << 32) | (v as u64 & 0xFFFF_FFFF);
    (qh << 32) | (low / E8U)
}

/// `⌈v / 10^8⌉` for `v + 10^8 − 1 < 10^8 · 2^64` (see [`floor_e8_lt`]).
#[inline(always)]
pub(crate) fn ceil_e8_lt(v: u128) -> u64 {
    floor_e8_lt(v + (E8U as u128 - 1))
}

#[cold]
#[inline(never)]
fn floor_e8_wide(a: i128) -> i128 {
    a.div_euclid(E8W)
}

#[cold]
#[inline(never)]
fn ceil_e8_wide(a: i128) -> i128 {
    -(-a).div_euclid(E8W)
}

/// `a / b` rounded towards +∞ (`b > 0`).
#[inline(always)]
pub(crate) fn ceil_div(a: i128, b: i128) -> i128 {
    if b == E8W {
        return ceil_e8(a);
    }
    -floor_div(-a, b)
}

/// Saturates an `i128` into `i64` (values are bounded at load; saturation only guards).
#[inline]
pub(crate) fn sat(v: i128) -> i64 {
    v.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lin() -> InstrumentSpec {
        InstrumentSpec::new(
            ContractKind::Linear,
            E8 / 10,
            E8 / 1000,
            E8,
            0,
            &[
                Bracket {
                    cap: 50_000 * E8,
                    mmr: 400_000,
                    cum: 0,
                },
                Bracket {
                    cap: 250_000 * E8,
                    mmr: 500_000,
                    cum: 50 * E8,
                },
                Bracket {
                    cap: 0,
                    mmr: 1_000_000,
                    cum: 1_300 * E8,
                },
            ],
        )
        .unwrap()
    }

    #[test]
    fn maintenance_is_continuous_at_caps() {
        let s = lin();
        assert_eq!(s.maintenance(50_000 * E8), 200 * E8);
        assert_eq!(s.maintenance(50_000 * E8 + 1), 200 * E8 + 1);
        assert_eq!(s.maintenance(250_000 * E8), 1_200 * E8);
        assert_eq!(s.bracket_of(250_000 * E8 + 1), 2);
    }

    #[test]
    fn bankruptcy_price_zeroes_the_balance() {
        let s = lin();
        // long 1 BTC at mark 50000 with 1000 of margin balance: bankrupt at 49000.
        assert_eq!(
            s.bankruptcy_price(1, E8, 50_000 * E8, 1_000 * E8),
            Some(49_000 * E8)
        );
        assert_eq!(
            s.bankruptcy_price(-1, E8, 50_000 * E8, 1_000 * E8),
            Some(51_000 * E8)
        );
        assert_eq!(s.bankruptcy_price(1, E8, 50_000 * E8, 60_000 * E8), None);
        let inv = InstrumentSpec::new(
            ContractKind::Inverse,
            E8 / 10,
            E8,
            100 * E8,
            0,
            &[Bracket {
                cap: 0,
                mmr: 500_000,
                cum: 0,
            }],
        )
        .unwrap();
        // long 100 contracts ($10k) at 50000 with 0.1 BTC: 1/bp = 1/50000 + 0.1/10000 → bp = 33333.33…
        let bp = inv
            .bankruptcy_price(1, 100 * E8, 50_000 * E8, E8 / 10)
            .unwrap();
        assert_eq!(bp, 3_333_333_333_334);
        // at bp the loss equals the balance (to rounding)
        let loss = inv.close_loss(1, 100 * E8, 50_000 * E8, bp);
        assert!((loss - E8 / 10).abs() <= 2, "{loss}");
    }

    proptest::proptest! {
        #[test]
        fn fast_division_is_exact_by_the_scale(a in proptest::num::i128::ANY) {
            proptest::prop_assert_eq!(floor_div(a, E8W), a.div_euclid(E8W));
            let small = a >> 33;
            proptest::prop_assert_eq!(floor_div(small, E8W), small.div_euclid(E8W));
            proptest::prop_assert_eq!(ceil_div(small, E8W), -(-small).div_euclid(E8W));
        }

        #[test]
        fn e8_division_of_quotients_that_fit_u64(v in proptest::num::u128::ANY, shift in 0u32..128) {
            let lim = (E8U as u128) << 64;
            let v = (v >> shift) % lim;
            proptest::prop_assert_eq!(u128::from(floor_e8_lt(v)), v / E8U as u128);
            if v + (E8U as u128 - 1) < lim {
                proptest::prop_assert_eq!(u128::from(ceil_e8_lt(v)), v.div_ceil(E8U as u128));
            }
            for w in [lim - 1, (1u128 << 64) - 1, 1u128 << 64, 0, E8U as u128 - 1] {
                proptest::prop_assert_eq!(u128::from(floor_e8_lt(w)), w / E8U as u128);
            }
        }

        #[test]
        fn wide_invariant_division_is_exact(n in proptest::num::u128::ANY, d in 1u64.., k in 0u32..64, shift in 0u32..128) {
            for d in [d, d >> k, 1u64 << k, (1u64 << k).max(2) - 1, u64::MAX, 1, E8U] {
                let d = d.max(1);
                let w = DivWide::new(d);
                let dd = u128::from(d);
                for n in [n, n >> shift, u128::MAX, 0, dd, (dd << 64) - 1, dd << 64, (n >> shift) % (dd << 64)] {
                    let want = (n < dd << 64).then(|| ((n / dd) as u64, (n % dd) as u64));
                    proptest::prop_assert_eq!(w.div_rem(n), want, "{} / {}", n, d);
                }
            }
        }

        #[test]
        fn invariant_division_is_exact(n in proptest::num::u64::ANY, d in 1u64.., small in 1u64..100_000_000_000, k in 0u32..64) {
            for d in [d, small, 1u64 << k, (1u64 << k).max(2) - 1, (1u64 << k) + 1, E8 as u64] {
                let v = DivU64::new(d);
                for n in [n, n >> k, u64::MAX, 0, d, d.wrapping_mul(n >> 40), d.saturating_sub(1)] {
                    proptest::prop_assert_eq!(v.div(n), n / d, "{} / {}", n, d);
                    proptest::prop_assert_eq!(v.rem(n), n % d);
                }
            }
        }

        #[test]
        fn fast_division_matches_for_any_small_divisor(a in proptest::num::i128::ANY, b in 1i128..(1 << 33), shift in 0u32..64) {
            let a = a >> shift;
            proptest::prop_assert_eq!(floor_div(a, b), a.div_euclid(b));
            proptest::prop_assert_eq!(ceil_div(a >> 1, b), -(-(a >> 1)).div_euclid(b));
        }
    }

    proptest::proptest! {
        #[test]
        fn bankruptcy_beyond_matches_the_exact_price(
            long in proptest::bool::ANY,
            q in 1i64..1 << 50,
            mark in 1i64..1 << 50,
            mb in 1i64..1 << 55,
            bound_off in -(1i64 << 40)..1 << 40,
            shift in 0u32..40,
        ) {
            let s = lin();
            let sign = if long { 1 } else { -1 };
            for (q, mb) in [(q, mb), (q >> shift.min(49), mb), (q, mb >> shift)] {
                let q = q.max(1);
                let mb = mb.max(1);
                let bound = (mark + (bound_off >> shift)).max(1);
                let got = s.bankruptcy_beyond(sign, q, mark, mb, bound);
                let want = match s.bankruptcy_price(sign, q, mark, mb) {
                    Some(bp) => if long { bp <= bound } else { bp >= bound },
                    None => true,
                };
                proptest::prop_assert_eq!(got, Some(want), "{} {} {} {} {}", sign, q, mark, mb, bound);
            }
        }
    }

    #[test]
    fn rounding_goes_against_the_account() {
        let s = lin();
        assert_eq!(s.close_loss(1, 1, 3, 2), 1); // 1e-8·1e-8 loss rounds up to one unit
        assert_eq!(s.close_loss(1, 1, 2, 3), 0); // a tiny gain rounds down to zero
        assert_eq!(s.realised_pnl(-1, 1, 2, 3), -1);
        assert_eq!(s.round_tick(5_000_000_001, true), 5_010_000_000);
        assert_eq!(s.round_tick(5_000_000_001, false), 5_000_000_000);
    }
}
