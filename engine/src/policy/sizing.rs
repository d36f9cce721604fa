//! Pricing and sizing a liquidation order from the book.
//!
//! # The rule
//! The order closes (part of) a position: a long is closed by a **sell** that walks the bids, a
//! short by a **buy** that walks the asks. Two price bounds apply:
//! - the slippage bound `B = mark·(1 − σ)` for a sell, `mark·(1 + σ)` for a buy;
//! - the bankruptcy price `BP` (see [`InstrumentSpec::bankruptcy_price`]).
//!
//! The limit price is whichever of the two is **reached first** as the price moves against the
//! account — `max(B, BP)` for a sell, `min(B, BP)` for a buy — rounded to the tick in the
//! direction that protects solvency (up for a sell, down for a buy). The spec calls this the
//! "worse-for-the-account" bound; read literally the other way (`min` for a sell) it would let an
//! order fill beyond bankruptcy, which the backstop tier exists to prevent, so hotrisk takes the
//! bound that binds first and documents it here. Consequences: a fill is never worse than `BP`
//! (no bad debt is created by an order), and never more than `σ` away from the mark.
//!
//! The quantity is the wanted quantity capped by the depth the book shows at or better than the
//! limit, rounded down to the lot. Because every level that can fill lies within the bound, the
//! volume-weighted average price of the walked levels (reported as [`Sized::vwap`]) is also within
//! `σ` of the mark. The rest is not sent now: it waits for the next decision (an IOC cannot rest).
//!
//! The same walk measures the depth at or better than `BP` ([`Sized::depth_to_bankruptcy`]): when
//! it is zero, the book cannot absorb anything without bad debt and the policy moves to the
//! backstop tier.
//!
//! Cost: one pass over at most [`crate::policy::book::BOOK_DEPTH`] levels; no allocation.

use super::book::BookSide;
use super::spec::{ceil_div, floor_div, sat, InstrumentSpec};
use hotrisk_feed::fixed::E8;
use hotrisk_feed::wire::Side;

/// The result of pricing and sizing one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sized {
    /// Quantity to send now (lots, ≤ wanted); 0 when nothing can fill within the bounds.
    pub qty: i64,
    /// IOC limit price (E8, on the tick).
    pub limit_price: i64,
    /// Estimated volume-weighted fill price of `qty` from the book (E8, rounded against the
    /// account); 0 when `qty` is 0.
    pub vwap: i64,
    /// Book quantity at or better than the bankruptcy price, capped at the wanted quantity
    /// (the whole wanted quantity when there is no bankruptcy price).
    pub depth_to_bankruptcy: i64,
    /// Levels the walk looked at.
    pub levels: u32,
}

/// The limit price for closing on `side` (see the module docs). `None` when the bound is not a
/// positive price (e.g. a buy bounded by a non-positive price).
#[inline]
pub fn limit_price(
    spec: &InstrumentSpec,
    side: Side,
    mark: i64,
    slippage: i64,
    bankruptcy: Option<i64>,
) -> Option<i64> {
    limit_from_bound(
        spec,
        side,
        SlippageBounds::new(mark, slippage).get(side),
        bankruptcy,
    )
}

/// [`limit_price`] with the slippage bound already known (`bound ==
/// SlippageBounds::new(mark, slippage).get(side)`): the bound depends only on the mark, so the
/// policy keeps it per instrument and mark instead of recomputing it for every decision.
#[inline]
pub fn limit_from_bound(
    spec: &InstrumentSpec,
    side: Side,
    bound: i64,
    bankruptcy: Option<i64>,
) -> Option<i64> {
    let p = match side {
        Side::Sell => spec.round_tick(bankruptcy.map_or(bound, |bp| bound.max(bp)), true),
        Side::Buy => spec.round_tick(bankruptcy.map_or(bound, |bp| bound.min(bp)), false),
    };
    (p > 0).then_some(p)
}

/// The slippage bounds `B` of one mark: `mark·(1 − σ)` rounded up for a sell, `mark·(1 + σ)`
/// rounded down for a buy (before the tick rounding of [`limit_from_bound`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SlippageBounds {
    /// The mark they were computed for.
    pub mark: i64,
    /// The sell bound.
    pub sell: i64,
    /// The buy bound.
    pub buy: i64,
}

impl SlippageBounds {
    /// The bounds of `mark` for slippage rate `slippage` (E8).
    pub fn new(mark: i64, slippage: i64) -> Self {
        let (m, s) = (mark as i128, slippage as i128);
        Self {
            mark,
            sell: sat(ceil_div(m * (E8 as i128 - s), E8 as i128)),
            buy: sat(floor_div(m * (E8 as i128 + s), E8 as i128)),
        }
    }

    /// The bound for an order on `side`.
    #[inline]
    pub fn get(&self, side: Side) -> i64 {
        match side {
            Side::Sell => self.sell,
            Side::Buy => self.buy,
        }
    }
}

/// Walks `levels` (the contra side of an order on `side`) and sizes an order wanting `want`
/// (> 0) at `limit`. `bankruptcy` bounds the depth measured for the backstop decision.
///
/// The walk is two tight loops, one per price bound, specialised by side (`walk_side`):
/// the levels at or better than the limit (taken, with their cost `Σ price·qty` kept as it goes),
/// then, only if they were not enough, the levels between the limit and the bankruptcy price
/// (counted for the backstop decision). When the limit is not at or better than the bankruptcy
/// price (never the case for [`limit_price`]'s limits) the general walk runs instead.
#[inline]
pub fn walk(
    spec: &InstrumentSpec,
    levels: &BookSide,
    side: Side,
    want: i64,
    limit: i64,
    bankruptcy: Option<i64>,
) -> Sized {
    match side {
        Side::Sell => walk_side::<true>(spec, levels, want, limit, bankruptcy),
        Side::Buy => walk_side::<false>(spec, levels, want, limit, bankruptcy),
    }
}

/// `p` is at or better than `bound` for an order on the side `SELL` says.
#[inline(always)]
fn within<const SELL: bool>(p: i64, bound: i64) -> bool {
    if SELL {
        p >= bound
    } else {
        p <= bound
    }
}

/// Out of line: the caller is large, and the walk loop wants its registers.
#[inline(never)]
fn walk_side<const SELL: bool>(
    spec: &InstrumentSpec,
    levels: &BookSide,
    want: i64,
    limit: i64,
    bankruptcy: Option<i64>,
) -> Sized {
    let px = levels.prices();
    let qty = &levels.quantities()[..px.len()];
    // No bankruptcy price: every level may be counted (the bound is the worst price there is).
    let bp = bankruptcy.unwrap_or(if SELL { i64::MIN } else { i64::MAX });
    if want <= 0 || !within::<SELL>(limit, bp) || !positive::<SELL>(px, limit) {
        return walk_general::<SELL>(spec, levels, want, limit, bankruptcy);
    }
    let t = take_within::<SELL>(px, qty, want, limit);
    count_and_finish::<SELL>(spec, px, qty, want, limit, bankruptcy, t)
}

/// [`walk`] for a limit at or better than the bankruptcy price (the slippage bound binds
/// first: [`InstrumentSpec::bankruptcy_beyond`]), with the bankruptcy price computed by
/// `bankruptcy` only when the walk needs it: when the levels within the limit do not cover
/// `want` (the depth to the bankruptcy price is then counted beyond them), or on the general
/// walk's inputs. Otherwise the depth to it is `want` whatever it is, as in [`walk`]. Returns
/// the sizing, equal to `walk(…, bankruptcy())`'s, and the price if it was computed.
///
/// Precondition (the caller's, not checked when the price is not computed): `limit` is at or
/// better than the bankruptcy price for `side` (a sell's `limit ≥ bp`, a buy's `limit ≤ bp`), or
/// there is none — what [`limit_from_bound`] gives when the slippage bound binds. On other
/// inputs the result can differ from [`walk`]'s, which then takes its general path.
#[inline]
pub fn walk_bound_binds(
    spec: &InstrumentSpec,
    levels: &BookSide,
    side: Side,
    want: i64,
    limit: i64,
    bankruptcy: impl FnOnce() -> Option<i64>,
) -> (Sized, Option<Option<i64>>) {
    match side {
        Side::Sell => walk_bound_binds_side::<true>(spec, levels, want, limit, bankruptcy),
        Side::Buy => walk_bound_binds_side::<false>(spec, levels, want, limit, bankruptcy),
    }
}

#[inline(never)]
fn walk_bound_binds_side<const SELL: bool>(
    spec: &InstrumentSpec,
    levels: &BookSide,
    want: i64,
    limit: i64,
    bankruptcy: impl FnOnce() -> Option<i64>,
) -> (Sized, Option<Option<i64>>) {
    let px = levels.prices();
    let qty = &levels.quantities()[..px.len()];
    if want <= 0 || !positive::<SELL>(px, limit) {
        let bp = bankruptcy();
        return (walk_side::<SELL>(spec, levels, want, limit, bp), Some(bp));
    }
    let t = take_within::<SELL>(px, qty, want, limit);
    if t.left == 0 {
        // `want` is covered within the limit: `walk` counts the depth to the bankruptcy price
        // as `want` with or without one.
        return (
            count_and_finish::<SELL>(spec, px, qty, want, limit, None, t),
            None,
        );
    }
    let bp = bankruptcy();
    let b = bp.unwrap_or(if SELL { i64::MIN } else { i64::MAX });
    if !within::<SELL>(limit, b) {
        // Not the caller's case (the bound binds), but exact anyway.
        return (walk_side::<SELL>(spec, levels, want, limit, bp), Some(bp));
    }
    (
        count_and_finish::<SELL>(spec, px, qty, want, limit, bp, t),
        Some(bp),
    )
}

/// Prices are positive in every level taken (a sell's are at or above a positive limit, a
/// buy's at or above the best ask), so the cost can be summed with unsigned products.
#[inline(always)]
fn positive<const SELL: bool>(px: &[i64], limit: i64) -> bool {
    if SELL {
        limit > 0
    } else {
        !matches!(px.first(), Some(&p) if p <= 0)
    }
}

/// What [`take_within`] took.
#[derive(Debug, Clone, Copy)]
struct Taken {
    /// The next level to look at.
    i: usize,
    /// Still wanted.
    left: i64,
    /// Σ price·qty of what is taken.
    cost: u128,
    /// Quantity taken at the last level taken (level `i − 1`).
    last_t: i64,
}

/// The levels at or better than the limit: take until `want` (> 0; prices positive, see
/// [`positive`]). Whole levels are taken while `left` exceeds them; the level that completes
/// `want` is the last. Quantities and prices are positive here, so the products are unsigned
/// 64 × 64 → 128.
#[inline(always)]
fn take_within<const SELL: bool>(px: &[i64], qty: &[i64], want: i64, limit: i64) -> Taken {
    let mut left = want; // still wanted, > 0 inside the loop
    let mut cost = 0u128;
    let mut last_t = 0i64;
    let mut i = 0usize;
    // The levels are sorted best first (`BookSide` keeps them so), so those within the limit
    // are a prefix: walk by quantity alone to the level that completes `want` (or the end),
    // then check that level's price once. When it is within the limit, so is every level
    // before it and this is exactly the walk that checks each price; otherwise (the depth
    // within the limit does not cover `want`) walk again checking each price.
    let n = px.len().min(qty.len());
    while i < n && qty[i] < left {
        cost += u128::from(qty[i] as u64) * u128::from(px[i] as u64);
        left -= qty[i];
        i += 1;
    }
    let stop = if i < n { i } else { n.wrapping_sub(1) };
    if n > 0 && within::<SELL>(px[stop], limit) {
        if i < n {
            // Level `i` completes `want`.
            cost += u128::from(left as u64) * u128::from(px[i] as u64);
            last_t = left;
            left = 0;
            i += 1;
        }
    } else {
        (left, cost, i) = (want, 0, 0);
        while i < n {
            let p = px[i];
            if !within::<SELL>(p, limit) {
                break;
            }
            let q = qty[i];
            i += 1;
            if q >= left {
                cost += u128::from(left as u64) * u128::from(p as u64);
                last_t = left;
                left = 0;
                break;
            }
            cost += u128::from(q as u64) * u128::from(p as u64);
            left -= q;
        }
    }
    if left > 0 && i > 0 {
        last_t = qty[i - 1]; // the whole of the last level was taken
    }
    Taken {
        i,
        left,
        cost,
        last_t,
    }
}

/// After [`take_within`]: the levels up to the bankruptcy price, counted (capped at `want`),
/// not taken; then [`finish`].
#[inline(always)]
fn count_and_finish<const SELL: bool>(
    spec: &InstrumentSpec,
    px: &[i64],
    qty: &[i64],
    want: i64,
    limit: i64,
    bankruptcy: Option<i64>,
    t: Taken,
) -> Sized {
    let bp = bankruptcy.unwrap_or(if SELL { i64::MIN } else { i64::MAX });
    let mut i = t.i;
    let take = want - t.left;
    let last_i = i.saturating_sub(1);
    let cost = t.cost as i128;
    let mut to_bp = take;
    if take < want {
        while i < px.len().min(qty.len()) && within::<SELL>(px[i], bp) {
            to_bp = to_bp.saturating_add(qty[i]).min(want);
            i += 1;
            if to_bp >= want {
                break;
            }
        }
    }
    if bankruptcy.is_none() {
        to_bp = want;
    }
    finish::<SELL>(
        spec, px, qty, take, cost, last_i, t.last_t, to_bp, i as u32, limit,
    )
}

/// Rounds the taken quantity down to lots and prices it (shared by both walks).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn finish<const SELL: bool>(
    spec: &InstrumentSpec,
    px: &[i64],
    qty: &[i64],
    take: i64,
    cost: i128,
    last_i: usize,
    last_t: i64,
    to_bp: i64,
    levels: u32,
    limit: i64,
) -> Sized {
    let lots = spec.floor_lot(take);
    // The sub-lot remainder is not sent: take it back from the worst levels taken.
    let vwap = if lots > 0 {
        let mut c = cost;
        let mut r = take - lots;
        let mut i = last_i;
        let mut t = last_t;
        while r > 0 {
            let back = r.min(t);
            c -= back as i128 * px[i] as i128;
            r -= back;
            if i == 0 {
                break;
            }
            i -= 1;
            t = qty[i];
        }
        // `⌊c/lots⌋ = ⌊⌊c/lot⌋/k⌋` with `lots = k·lot` (nested floors of positive integers):
        // the lot's reciprocal for the wide part, then one 64-bit division. Other cases (a
        // negative sum, a quotient beyond 64 bits) take the plain division.
        let k = spec.lots_in(lots as u64);
        let fast = if c >= 0 {
            // ⌈c/lots⌉ = ⌊(c + lots − 1)/lots⌋ for the buy.
            let n = if SELL {
                c as u128
            } else {
                c as u128 + (lots as u128 - 1)
            };
            spec.div_lot_wide(n)
        } else {
            None
        };
        match fast {
            Some(y) => i64::try_from(y / k.max(1)).unwrap_or(i64::MAX),
            None if SELL => sat(floor_div(c, lots as i128)),
            None => sat(ceil_div(c, lots as i128)),
        }
    } else {
        0
    };
    Sized {
        qty: lots,
        limit_price: limit,
        vwap,
        depth_to_bankruptcy: to_bp,
        levels,
    }
}

/// The walk for any bounds: one pass checking both at every level.
#[cold]
#[inline(never)]
fn walk_general<const SELL: bool>(
    spec: &InstrumentSpec,
    levels: &BookSide,
    want: i64,
    limit: i64,
    bankruptcy: Option<i64>,
) -> Sized {
    let px = levels.prices();
    let qty = levels.quantities();
    let mut take = 0i64;
    let mut cost = 0i128;
    let mut to_bp = 0i64;
    let mut n = 0u32;
    let mut last_i = 0usize; // index of the last level taken from
    let mut last_t = 0i64; // quantity taken there
    for i in 0..px.len() {
        let p = px[i];
        let in_limit = within::<SELL>(p, limit);
        let in_bp = match bankruptcy {
            Some(bp) => within::<SELL>(p, bp),
            None => true,
        };
        if !in_bp {
            break;
        }
        n += 1;
        to_bp = to_bp.saturating_add(qty[i]).min(want);
        if in_limit && take < want {
            let t = qty[i].min(want - take);
            take += t;
            cost += t as i128 * p as i128;
            last_i = i;
            last_t = t;
        }
        if to_bp >= want && (!in_limit || take >= want) {
            break;
        }
    }
    if bankruptcy.is_none() {
        to_bp = want;
    }
    finish::<SELL>(spec, px, qty, take, cost, last_i, last_t, to_bp, n, limit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::book::Book;
    use crate::policy::spec::{Bracket, ContractKind};

    fn spec() -> InstrumentSpec {
        InstrumentSpec::new(
            ContractKind::Linear,
            E8 / 10,
            E8 / 1000,
            E8,
            0,
            &[Bracket {
                cap: 0,
                mmr: 500_000,
                cum: 0,
            }],
        )
        .unwrap()
    }

    #[test]
    fn limit_is_the_bound_reached_first_rounded_for_solvency() {
        let s = spec();
        let mark = 100 * E8;
        // σ = 1%: sell bound 99; BP 95 is further → limit 99.
        assert_eq!(
            limit_price(&s, Side::Sell, mark, E8 / 100, Some(95 * E8)),
            Some(99 * E8)
        );
        // BP 99.55 binds first → rounded up to 99.6.
        assert_eq!(
            limit_price(&s, Side::Sell, mark, E8 / 100, Some(9_955_000_000)),
            Some(9_960_000_000)
        );
        // buy: bound 101, BP 100.44 → rounded down to 100.4.
        assert_eq!(
            limit_price(&s, Side::Buy, mark, E8 / 100, Some(10_044_000_000)),
            Some(10_040_000_000)
        );
    }

    #[test]
    fn walk_caps_at_limit_and_lot() {
        let s = spec();
        let mut b = Book::new();
        b.apply(Side::Buy, 100 * E8, E8 / 2);
        b.apply(Side::Buy, 99 * E8, E8 / 2 + 1); // a sub-lot tail
        b.apply(Side::Buy, 98 * E8, 10 * E8);
        b.apply(Side::Buy, 90 * E8, 10 * E8);
        let z = walk(&s, b.bids(), Side::Sell, 5 * E8, 99 * E8, Some(95 * E8));
        assert_eq!(z.qty, E8); // 0.5 + 0.5 (the 1e-8 tail is below a lot)
        assert_eq!(z.vwap, 9_950_000_000);
        assert_eq!(z.depth_to_bankruptcy, 5 * E8);
        let z = walk(&s, b.bids(), Side::Sell, 50 * E8, 99 * E8, Some(95 * E8));
        assert_eq!(z.depth_to_bankruptcy, 11 * E8 + 1);
        // nothing at or above a BP of 101: backstop territory
        let z = walk(&s, b.bids(), Side::Sell, E8, 101 * E8, Some(101 * E8));
        assert_eq!((z.qty, z.depth_to_bankruptcy), (0, 0));
    }
}
