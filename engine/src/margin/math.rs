//! The margin math of `../shared/spec/margin-and-liquidation.md`, in fixed point.
//!
//! Pure functions of an [`Instrument`] and E8 inputs, returning [`Money`] (E16) or E8 prices.
//! Every rounding is against the account (see the table in the [module docs](super)). Inputs are
//! assumed inside the [bounds](super::bounds) (the state checks them on entry), so nothing here
//! can overflow; intermediate products that could exceed `i128` (liquidation prices with a large
//! balance, margin ratios) go through a 256-bit [`mul_div`].
//!
//! A position is `(qty_e8, basis)`: the signed quantity and its **cost basis**, the entry term of
//! the PnL — linear `q·e` (exact), inverse `q·F/e` (floored). Keeping the basis instead of the
//! entry price makes averaging on fills exact for linear and the PnL a difference of two terms.

#![forbid(unsafe_code)]

use super::{Instrument, Kind, Money, E8, MONEY_PER_E8};

const E8_128: i128 = E8 as i128;

/// `floor(a / b)` for `b != 0`.
#[inline]
pub fn div_floor(a: i128, b: i128) -> i128 {
    let q = a / b;
    if (a % b != 0) && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    }
}

/// `ceil(a / b)` for `b != 0`.
#[inline]
pub fn div_ceil(a: i128, b: i128) -> i128 {
    let q = a / b;
    if (a % b != 0) && ((a < 0) == (b < 0)) {
        q + 1
    } else {
        q
    }
}

/// Which way [`mul_div`] rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// Towards −∞.
    Floor,
    /// Towards +∞.
    Ceil,
    /// To the nearest, halves away from zero (display only: the spec's conformance examples are
    /// rounded this way).
    Nearest,
}

fn mul_u128(a: u128, b: u128) -> (u128, u128) {
    let (a1, a0) = (a >> 64, a & u128::from(u64::MAX));
    let (b1, b0) = (b >> 64, b & u128::from(u64::MAX));
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 64) + (p01 & u128::from(u64::MAX)) + (p10 & u128::from(u64::MAX));
    let lo = (p00 & u128::from(u64::MAX)) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    (hi, lo)
}

/// `a · b / c` rounded as asked, with a 256-bit intermediate; `None` when `c == 0` or the
/// result does not fit an `i128`. Cold path (a bit-serial division when the product exceeds
/// 128 bits).
pub fn mul_div(a: i128, b: i128, c: i128, round: Round) -> Option<i128> {
    if c == 0 {
        return None;
    }
    let neg = (a < 0) ^ (b < 0) ^ (c < 0);
    let (hi, lo) = mul_u128(a.unsigned_abs(), b.unsigned_abs());
    let d = c.unsigned_abs();
    let (q, r) = if hi == 0 {
        (lo / d, lo % d)
    } else {
        if hi >= d {
            return None;
        }
        let mut r = hi;
        let mut q = 0u128;
        for i in (0..128).rev() {
            let carry = r >> 127;
            r = (r << 1) | ((lo >> i) & 1);
            q <<= 1;
            if carry == 1 || r >= d {
                r = r.wrapping_sub(d);
                q |= 1;
            }
        }
        (q, r)
    };
    let bump = u128::from(r != 0);
    let mag = match (neg, round) {
        (false, Round::Floor) | (true, Round::Ceil) => q,
        (false, Round::Ceil) | (true, Round::Floor) => q.checked_add(bump)?,
        // r ≥ d − r  ⇔  the remainder is at least half the divisor.
        (_, Round::Nearest) => q.checked_add(u128::from(r != 0 && r >= d - r))?,
    };
    if neg {
        if mag > i128::MAX as u128 + 1 {
            None
        } else {
            Some((mag as i128).wrapping_neg())
        }
    } else {
        i128::try_from(mag).ok()
    }
}

/// Face value `q · F` of a quantity, at E16 of quote (signed). Linear: `q` itself at E16.
#[inline]
pub fn face(inst: &Instrument, qty_e8: i64) -> i128 {
    i128::from(qty_e8) * i128::from(inst.contract_e8())
}

/// Notional `N` at the mark (quote for linear, coin for inverse): linear `|q|·m` exact, inverse
/// `|q|·F/m` rounded up.
#[inline]
pub fn notional(inst: &Instrument, qty_e8: i64, mark_e8: i64) -> Money {
    let aq = i128::from(qty_e8).abs();
    match inst.kind() {
        Kind::Linear => aq * i128::from(mark_e8),
        Kind::Inverse => div_ceil(
            aq * i128::from(inst.contract_e8()) * E8_128,
            i128::from(mark_e8),
        ),
    }
}

/// 0-based tier of a notional: the first bracket whose cap is at least `N`.
#[inline]
pub fn tier(inst: &Instrument, notional: Money) -> usize {
    let b = inst.brackets();
    let mut t = 0;
    while t + 1 < b.len() && notional > b[t].cap {
        t += 1;
    }
    t
}

/// Maintenance margin `N·MMR_t − cum_t` (rounded up) and the 0-based tier `t` of `N`.
#[inline]
pub fn maintenance(inst: &Instrument, notional: Money) -> (Money, usize) {
    let t = tier(inst, notional);
    let b = inst.brackets()[t];
    (div_ceil(notional * i128::from(b.mmr_e8), E8_128) - b.cum, t)
}

/// Initial margin `N / leverage` rounded up (leverage E8, positive).
pub fn initial_margin(notional: Money, leverage_e8: i64) -> Money {
    mul_div(
        notional,
        E8_128,
        i128::from(leverage_e8.max(1)),
        Round::Ceil,
    )
    .unwrap_or(Money::MAX)
}

/// Cost basis of opening `qty_e8` at `price_e8`: linear `q·e` (exact), inverse `floor(q·F/e)`.
#[inline]
pub fn cost_basis(inst: &Instrument, qty_e8: i64, price_e8: i64) -> Money {
    match inst.kind() {
        Kind::Linear => i128::from(qty_e8) * i128::from(price_e8),
        Kind::Inverse => div_floor(face(inst, qty_e8) * E8_128, i128::from(price_e8)),
    }
}

/// Unrealised PnL at the mark, never above the exact value: linear `q·m − basis` (exact),
/// inverse `basis − ceil(q·F/m)`.
#[inline]
pub fn upnl(inst: &Instrument, qty_e8: i64, basis: Money, mark_e8: i64) -> Money {
    match inst.kind() {
        Kind::Linear => i128::from(qty_e8) * i128::from(mark_e8) - basis,
        Kind::Inverse => basis - div_ceil(face(inst, qty_e8) * E8_128, i128::from(mark_e8)),
    }
}

/// A position's contribution to its unit's slack: `U − MM` at the mark.
#[inline]
pub fn slack(inst: &Instrument, qty_e8: i64, basis: Money, mark_e8: i64) -> Money {
    upnl(inst, qty_e8, basis, mark_e8) - maintenance(inst, notional(inst, qty_e8, mark_e8)).0
}

/// Average entry price (E8) implied by a basis, rounded against the account (long up, short
/// down). `None` for a zero quantity or a basis that implies no positive price.
pub fn entry_price(inst: &Instrument, qty_e8: i64, basis: Money) -> Option<i64> {
    if qty_e8 == 0 {
        return None;
    }
    let round = against(qty_e8);
    let p = match inst.kind() {
        Kind::Linear => mul_div(basis, 1, i128::from(qty_e8), round)?,
        Kind::Inverse => mul_div(face(inst, qty_e8), E8_128, basis, round)?,
    };
    positive_price(p)
}

fn positive_price(p: i128) -> Option<i64> {
    if p > 0 {
        i64::try_from(p).ok()
    } else {
        None
    }
}

/// Margin ratio `MM / MB` at E8, rounded as asked; `None` when `MB ≤ 0`.
pub fn margin_ratio_e8(maintenance: Money, margin_balance: Money, round: Round) -> Option<i128> {
    if margin_balance <= 0 {
        return None;
    }
    mul_div(maintenance, E8_128, margin_balance, round)
}

/// Liquidation price (E8) of a position: the mark at which `others + U(m) = MM(m)`, with `others`
/// the rest of its margin (the isolated margin, or for cross `WB + Σ (U − MM)` of the account's
/// other cross positions), the tier evaluated at the resulting price. Linear:
/// `(others + cum − basis) / (|q|·MMR − q)`; inverse: `F·(q + |q|·MMR) / (others + cum + basis)`.
/// Rounded against the account (long up, short down). `None` when no positive price exists.
pub fn liquidation_price(
    inst: &Instrument,
    qty_e8: i64,
    basis: Money,
    others: Money,
) -> Option<i64> {
    liquidation_price_rounded(inst, qty_e8, basis, others, against(qty_e8))
}

/// The rounding against the account for a price of a position: long up, short down.
#[inline]
pub fn against(qty_e8: i64) -> Round {
    if qty_e8 > 0 {
        Round::Ceil
    } else {
        Round::Floor
    }
}

/// [`liquidation_price`] with an explicit rounding of the 8th decimal.
pub fn liquidation_price_rounded(
    inst: &Instrument,
    qty_e8: i64,
    basis: Money,
    others: Money,
    round: Round,
) -> Option<i64> {
    if qty_e8 == 0 {
        return None;
    }
    let long = qty_e8 > 0;
    let q = i128::from(qty_e8);
    let mut best: Option<i64> = None;
    for (t, b) in inst.brackets().iter().enumerate() {
        let mmr = i128::from(b.mmr_e8);
        let cand = match inst.kind() {
            Kind::Linear => {
                let num = others + b.cum - basis;
                let den = q.abs() * mmr - q * E8_128;
                mul_div(num, E8_128, den, round)
            }
            Kind::Inverse => {
                let a = q * E8_128 + q.abs() * mmr;
                mul_div(
                    i128::from(inst.contract_e8()),
                    a,
                    others + b.cum + basis,
                    round,
                )
            }
        };
        let Some(p) = cand.and_then(positive_price) else {
            continue;
        };
        // The candidate is the answer when its own tier is t (one unit of slack for the
        // rounding of a boundary price).
        let fits = [p, p.saturating_sub(1), p.saturating_add(1)]
            .iter()
            .any(|&m| m > 0 && tier(inst, notional(inst, qty_e8, m)) == t);
        if fits {
            best = Some(match best {
                None => p,
                Some(x) if long => x.max(p),
                Some(x) => x.min(p),
            });
        }
    }
    best
}

/// Bankruptcy price (E8): the mark at which `others + U(m) = 0`, with `others` the isolated
/// margin or, for cross, `WB + Σ U` of the other cross positions. Linear `(basis − others)/q`,
/// inverse `q·F / (others + basis)`. Rounded against the account (long up, short down); `None`
/// when no positive price exists.
pub fn bankruptcy_price(
    inst: &Instrument,
    qty_e8: i64,
    basis: Money,
    others: Money,
) -> Option<i64> {
    bankruptcy_price_rounded(inst, qty_e8, basis, others, against(qty_e8))
}

/// [`bankruptcy_price`] with an explicit rounding of the 8th decimal.
pub fn bankruptcy_price_rounded(
    inst: &Instrument,
    qty_e8: i64,
    basis: Money,
    others: Money,
    round: Round,
) -> Option<i64> {
    if qty_e8 == 0 {
        return None;
    }
    let p = match inst.kind() {
        Kind::Linear => mul_div(basis - others, 1, i128::from(qty_e8), round)?,
        Kind::Inverse => mul_div(face(inst, qty_e8), E8_128, others + basis, round)?,
    };
    positive_price(p)
}

/// Converts an E8 amount to [`Money`].
#[inline]
pub const fn money_from_e8(v: i64) -> Money {
    v as i128 * MONEY_PER_E8
}

/// Rounds [`Money`] to E8 (`Floor` for amounts in the account's favour, `Ceil` for requirements).
#[inline]
pub fn money_to_e8(v: Money, round: Round) -> i128 {
    match round {
        Round::Floor => div_floor(v, MONEY_PER_E8),
        Round::Ceil => div_ceil(v, MONEY_PER_E8),
        Round::Nearest => mul_div(v, 1, MONEY_PER_E8, Round::Nearest).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn floor_and_ceil() {
        assert_eq!(div_floor(7, 2), 3);
        assert_eq!(div_floor(-7, 2), -4);
        assert_eq!(div_ceil(7, 2), 4);
        assert_eq!(div_ceil(-7, 2), -3);
        assert_eq!(div_ceil(-7, -2), 4);
        assert_eq!(div_floor(6, -2), -3);
    }

    proptest! {
        #[test]
        fn mul_div_matches_bigint_free_cases(a in any::<i64>(), b in any::<i64>(), c in any::<i64>().prop_filter("nonzero", |c| *c != 0)) {
            let (a, b, c) = (i128::from(a), i128::from(b), i128::from(c));
            prop_assert_eq!(mul_div(a, b, c, Round::Floor), Some(div_floor(a * b, c)));
            prop_assert_eq!(mul_div(a, b, c, Round::Ceil), Some(div_ceil(a * b, c)));
        }

        #[test]
        fn mul_div_wide_is_consistent(a in any::<i128>(), b in 1i128..1_000_000_000_000, c in 1i128..i128::MAX) {
            // q = floor(a·b/c) satisfies q·c ≤ a·b < (q+1)·c; check through the identity
            // a·b = q·c + r using a second mul_div on the remainder-free products.
            if let Some(q) = mul_div(a, b, c, Round::Floor) {
                let ceil = mul_div(a, b, c, Round::Ceil).unwrap();
                prop_assert!(ceil == q || ceil == q + 1);
            }
        }
    }
}
