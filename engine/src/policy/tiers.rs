//! The tiers: which position, partial or full, backstop, auto-deleveraging.
//!
//! # Which position (cross accounts)
//! The position contributing the **most maintenance margin** is closed first (ties: lowest
//! instrument id). Reducing it frees the most requirement per unit closed, so it restores the
//! account with the least quantity traded; it is also usually the largest and most leveraged
//! exposure. Isolated positions are their own scope and are decided alone.
//!
//! # Partial: the smallest quantity that restores the account
//! Closing `x` of a position of size `Q` and sign `s` at the order's limit price `L` (the worst it
//! can fill) changes the scope's margin balance by `−loss(x) − fee(x)` (the realised difference
//! between `L` and the mark, and the liquidation fee) and its maintenance from `MM(Q)` to
//! `MM(Q − x)` with **brackets re-evaluated on the smaller notional**. The partial quantity is the
//! smallest whole number of lots `x ≥ 1 lot` with
//!
//! `MB − loss(x) − fee(x) ≥ ⌈(1 + buffer) · (MM_others + MM(Q − x))⌉`.
//!
//! Why this rule: it trades the least (least market impact, least of the user's position taken)
//! while leaving a buffer so the next tick does not liquidate again; fills at the limit are the
//! worst case, so any better fill leaves the account healthier.
//!
//! Solving: the slack `g(x)` (left side minus right side) is concave in `x` — the loss and fee are
//! linear, maintenance is convex in notional with rates rising by bracket — so within each bracket
//! `g` is linear and the first root is found bracket by bracket from the current one downwards
//! (one division each). The candidate is then verified with the exact rounded arithmetic and moved
//! by whole lots until it is the smallest that passes (a few steps at most: the rounding of the
//! linear estimate is below a lot). No partial exists when the slope is not positive (closing at
//! `L` costs more than it frees) or when the root reaches the whole position.
//!
//! Cost (the decision benchmark's hot spot): for linear contracts the exact slack is evaluated
//! with unsigned products and divisions by the scale that compile to multiplications
//! (`slack_linear`, falling back to the general form wherever a value could saturate), and the
//! check that one lot less fails is usually proved without evaluating it, from the parts of the
//! slack at the candidate and per-lot bounds of the loss, fee and maintenance
//! (`step_down_fails`, documented there). So the usual solve is one slack at `Q`, one root
//! division, one exact slack at the candidate and a few cheap bounds. Every shortcut returns the
//! same bits as the plain algorithm: `tests/policy_fastpath.rs` checks it against
//! [`crate::policy::reference`] on random instruments, accounts and books.
//!
//! # Full
//! The whole position, when no partial restores the scope, when `MB ≤ full_threshold · MM`
//! (default ½), or when a partial of this episode failed to fill completely.
//!
//! # Backstop and ADL
//! When the book shows nothing at or better than the bankruptcy price, **or when full orders came
//! back unfilled or short more than [`TierConfig::full_retries`] times in the episode** (the book
//! the policy saw was not there: an IOC at the limit is the market's answer), the insurance fund
//! takes the remaining position at the bankruptcy price (tick-rounded for solvency); its loss is
//! the position's value from there to the mark. Retrying a full order is not the default: the
//! acknowledgement comes back before any new market data, so an immediate retry would meet the
//! same book and fail the same way, resending the order for ever. When that loss exceeds the fund, the position is instead
//! **auto-deleveraged**: opposite-side positions are reduced at the bankruptcy price in the order of
//! [`AdlRanking`] (`pnl% × effective leverage`, highest first).

use super::heap::IndexedHeap;
use super::spec::{ceil_div, ceil_e8_u, floor_div, floor_e8_u, sat, ContractKind, InstrumentSpec};
use hotrisk_feed::fixed::E8;
use hotrisk_feed::wire::Side;

const E8W: i128 = E8 as i128;

/// A position as the policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PositionView {
    /// Instrument id.
    pub instrument: u16,
    /// Signed quantity (E8; + long).
    pub qty: i64,
    /// Entry price (E8).
    pub entry: i64,
    /// Its maintenance margin at the current mark (E8).
    pub maintenance: i64,
}

/// The scope being liquidated: an account's cross part, or one isolated position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScopeView {
    /// Margin balance (E8).
    pub margin_balance: i64,
    /// Total maintenance margin (E8).
    pub maintenance: i64,
}

/// Tier parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierConfig {
    /// Slippage bound σ (E8 rate).
    pub slippage: i64,
    /// Partial buffer: restore to `(1 + buffer)·MM` (E8 rate).
    pub buffer: i64,
    /// Full when `MB ≤ full_threshold · MM` (E8 rate).
    pub full_threshold: i64,
    /// Full orders of an episode that may come back not completely filled before the remaining
    /// position goes to the backstop (0: the first short full order escalates).
    pub full_retries: u8,
}

impl Default for TierConfig {
    fn default() -> Self {
        // σ = 0.2%: below the lowest maintenance rates (0.4–0.5%) so that closing at the bound
        // frees more maintenance than it costs and partials are possible; buffer 10%; full
        // below half of maintenance.
        Self {
            slippage: E8 / 500,
            buffer: E8 / 10,
            full_threshold: E8 / 2,
            full_retries: 0,
        }
    }
}

/// Index of the cross position to close first: the largest maintenance contributor.
pub fn pick_cross(positions: &[PositionView]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, p) in positions.iter().enumerate() {
        if p.qty == 0 {
            continue;
        }
        match best {
            None => best = Some(i),
            Some(b) => {
                let q = &positions[b];
                if p.maintenance > q.maintenance
                    || (p.maintenance == q.maintenance && p.instrument < q.instrument)
                {
                    best = Some(i);
                }
            }
        }
    }
    best
}

/// The order side that closes a position of sign `sign`.
#[inline]
pub fn closing_side(sign: i64) -> Side {
    if sign > 0 {
        Side::Sell
    } else {
        Side::Buy
    }
}

/// Inputs of the partial computation for one position in its scope.
#[derive(Debug, Clone, Copy)]
pub struct PartialInput {
    /// +1 long, −1 short.
    pub sign: i64,
    /// |position| (E8).
    pub abs_qty: i64,
    /// Mark (E8).
    pub mark: i64,
    /// Limit price the order would carry (E8).
    pub limit: i64,
    /// Scope margin balance (E8).
    pub margin_balance: i64,
    /// Maintenance of the scope's other positions (E8).
    pub mm_others: i64,
    /// Buffer (E8 rate).
    pub buffer: i64,
}

/// The partial quantity and the scope after it fills at the limit (what the decision reports as
/// `mr_after` without computing it again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialSolution {
    /// The quantity (whole lots, `lot ≤ qty < Q`).
    pub qty: i64,
    /// Maintenance of the remaining `Q − qty` at the mark (E8).
    pub mm_rest: i64,
    /// [`InstrumentSpec::close_loss`] of `qty` at the limit (E8).
    pub loss: i64,
    /// The uncapped liquidation fee of `qty` at the limit (E8).
    pub fee: i64,
}

/// The slack of closing `x` and its parts.
#[derive(Debug, Clone, Copy)]
struct Slack {
    slack: i64,
    mm_rest: i64,
    loss: i64,
    fee: i64,
    /// The slack before saturation.
    raw: i128,
    /// Notional of the rest `Q − x` at the mark, and its bracket.
    n_rest: i64,
    t_rest: usize,
    /// Computed by [`slack_linear`] (its parts are the exact unsaturated values).
    lean: bool,
}

/// `MB − loss − fee − ⌈(1+buffer)(MM_others + MM(Q−x))⌉` with its parts; `buf = E8 + buffer`.
#[inline]
fn slack_parts(spec: &InstrumentSpec, p: &PartialInput, x: i64, buf: i128) -> Slack {
    let n_rest = spec.notional(p.abs_qty - x, p.mark);
    let t_rest = spec.bracket_of(n_rest);
    let mm_rest = spec.maintenance_in(n_rest, t_rest);
    let loss = spec.close_loss(p.sign, x, p.mark, p.limit);
    let fee = spec.liquidation_fee(x, p.limit, i64::MAX);
    let need = ceil_div((p.mm_others as i128 + mm_rest as i128) * buf, E8W);
    let raw = p.margin_balance as i128 - loss as i128 - fee as i128 - need;
    Slack {
        slack: sat(raw),
        mm_rest,
        loss,
        fee,
        raw,
        n_rest,
        t_rest,
        lean: false,
    }
}

/// A non-negative `i64` as `u128` (zero-extended: `as u128` on an `i64` sign-extends, which
/// turns each product into a full signed 128-bit multiplication).
#[inline(always)]
fn wide(v: i64) -> u128 {
    debug_assert!(v >= 0);
    u128::from(v as u64)
}

/// [`slack_parts`] for a linear contract, with unsigned products and divisions where the signs
/// are known (`0 < x < Q`, mark and limit positive, `sign = ±1`, rates not negative: checked by
/// the caller or here). Returns `None` wherever its result could differ from [`slack_parts`]
/// (a value that would saturate, a product of 2^96 or more); the caller then uses that.
#[inline(always)]
fn slack_linear(spec: &InstrumentSpec, p: &PartialInput, x: i64, buf: i128) -> Option<Slack> {
    if x <= 0 || x >= p.abs_qty {
        return None;
    }
    // Maintenance of the rest: notional ⌈(Q − x)·m⌉, then its bracket's ⌈N·MMR⌉ − cum.
    let n = ceil_e8_u(wide(p.abs_qty - x) * wide(p.mark))?;
    let n = i64::try_from(n).ok()?;
    let t = spec.bracket_of(n);
    let b = spec.bracket_at(t);
    if b.mmr < 0 {
        return None;
    }
    let mm = ceil_e8_u(wide(n) * wide(b.mmr))? as i128 - b.cum as i128;
    let mm_rest = sat(mm.max(0));
    // Loss ⌈s·x·(m − l)⌉: `m − l` cannot overflow with both positive.
    let d = p.mark - p.limit;
    let sd = if p.sign > 0 { d } else { -d };
    let v = wide(x) * u128::from(sd.unsigned_abs());
    let loss = if sd >= 0 {
        ceil_e8_u(v)? as i128
    } else {
        -(floor_e8_u(v)? as i128)
    };
    let loss = sat(loss);
    // Fee ⌈⌈x·l⌉·rate⌉.
    let fee_notional = i64::try_from(ceil_e8_u(wide(x) * wide(p.limit))?).ok()?;
    let fee = i64::try_from(ceil_e8_u(wide(fee_notional) * wide(spec.fee_rate))?).ok()?;
    let need = ceil_div((p.mm_others as i128 + mm_rest as i128) * buf, E8W);
    let raw = p.margin_balance as i128 - loss as i128 - fee as i128 - need;
    Some(Slack {
        slack: sat(raw),
        mm_rest,
        loss,
        fee,
        raw,
        n_rest: n,
        t_rest: t,
        lean: true,
    })
}

/// Whether the slack one lot below `x` is certainly negative, from the parts `s` of the slack at
/// `x` ([`slack_linear`]'s) and three per-lot bounds, without evaluating it:
///
/// - loss: `⌈a − b⌉ ≥ ⌈a⌉ − ⌈b⌉`, so `loss(x − lot) ≥ loss(x) − ⌈lot·s(m − l)⌉`;
/// - fee: the same twice, `fee(x − lot) ≥ fee(x) − ⌈⌈lot·l⌉·rate⌉` (rate ≥ 0);
/// - maintenance: the rest grows by `lot`, its notional by at least `⌊lot·m⌋` and at most
///   `⌈lot·m⌉`; when the latter keeps it in the same bracket, the maintenance grows by at least
///   `M = ⌊⌊lot·m⌋·MMR⌋` (`⌈a + b⌉ ≥ ⌈a⌉ + ⌊b⌋`; 0 when the maintenance at `x` was clipped at 0),
///   and the buffered requirement by at least `⌊M·(1 + buffer)⌋` (buffer ≥ −1).
///
/// So `slack(x − lot) ≤ raw(x) + ⌈lot·s(m − l)⌉ + ⌈⌈lot·l⌉·rate⌉ − ⌊M·(1 + buffer)⌋`; when that is
/// negative the step down would fail and need not be evaluated. `false` (evaluate) whenever a
/// bound does not apply or a value is out of the fast range — it never changes the result, only
/// skips an evaluation whose outcome is known.
#[inline(always)]
fn step_down_fails(spec: &InstrumentSpec, p: &PartialInput, s: &Slack, buf: i128) -> bool {
    if !s.lean || buf < 0 || s.mm_rest >= 1 << 62 {
        return false;
    }
    let lot = wide(spec.lot);
    let d = p.mark - p.limit;
    let sd = if p.sign > 0 { d } else { -d };
    let v = lot * u128::from(sd.unsigned_abs());
    let loss_lot = if sd >= 0 {
        match ceil_e8_u(v) {
            Some(q) => q as i128,
            None => return false,
        }
    } else {
        match floor_e8_u(v) {
            Some(q) => -(q as i128),
            None => return false,
        }
    };
    let Some(fee_lot) =
        ceil_e8_u(lot * wide(p.limit)).and_then(|a| ceil_e8_u(a * wide(spec.fee_rate)))
    else {
        return false;
    };
    let lot_m = lot * wide(p.mark);
    let (Some(n_up), Some(n_dn)) = (ceil_e8_u(lot_m), floor_e8_u(lot_m)) else {
        return false;
    };
    let mm_lot = if s.mm_rest > 0 {
        // The notional at `x` and its bracket (those of `slack_linear`'s evaluation).
        let (n, b) = (s.n_rest, spec.bracket_at(s.t_rest));
        // `n ≤ cap` (its bracket), so `cap ≥ 0`.
        if wide(n) + n_up > wide(b.cap) || wide(n) + n_up > wide(i64::MAX) {
            return false;
        }
        match floor_e8_u(n_dn * wide(b.mmr)) {
            Some(m) if m < 1 << 62 => floor_div(m as i128 * buf, E8W),
            _ => return false,
        }
    } else {
        0
    };
    s.raw + loss_lot + fee_lot as i128 - mm_lot < 0
}

/// The slack of closing `x`: `MB − loss − fee − ⌈(1+buffer)(MM_others + MM(Q−x))⌉`.
#[inline]
pub fn partial_slack(spec: &InstrumentSpec, p: &PartialInput, x: i64) -> i64 {
    slack_parts(spec, p, x, E8W + p.buffer as i128).slack
}

/// The smallest partial quantity (whole lots, `lot ≤ x < Q`) whose slack is ≥ 0, if any.
#[inline]
pub fn partial_qty(spec: &InstrumentSpec, p: &PartialInput) -> Option<i64> {
    partial_solve(spec, p).map(|s| s.qty)
}

/// [`partial_qty`] with the parts of the slack at the quantity found.
///
/// Cost: one slack evaluation at `Q` (no loss, no fee), one division for the linear root in each
/// bracket visited (usually one), and two exact slack evaluations (the root rounded up to a lot
/// passes, one lot less fails) — about twenty multiply-shift divisions by the scale and two
/// 64-bit divisions.
#[inline]
pub fn partial_solve(spec: &InstrumentSpec, p: &PartialInput) -> Option<PartialSolution> {
    let (q, lot) = (p.abs_qty, spec.lot);
    if q <= lot || p.mark <= 0 || p.limit <= 0 {
        return None;
    }
    let buf = E8W + p.buffer as i128;
    // The slack at `x`: the linear fast form where it applies, the general one otherwise.
    let lean =
        spec.kind == ContractKind::Linear && spec.fee_rate >= 0 && (p.sign == 1 || p.sign == -1);
    let eval = |x: i64| {
        let fast = if lean {
            slack_linear(spec, p, x, buf)
        } else {
            None
        };
        match fast {
            Some(s) => s,
            None => slack_parts(spec, p, x, buf),
        }
    };
    // Per unit of quantity (1.0 = E8), at E8 money: notional at mark, loss vs limit, fee.
    let (np, lp, fp) = per_unit(spec, p);
    let brackets = spec.brackets();
    let n0 = spec.notional(q, p.mark);
    let mut t = spec.bracket_of(n0);
    // Nothing closed yet: no loss, no fee, the whole position's maintenance.
    let need0 = ceil_div(
        (p.mm_others as i128 + spec.maintenance_in(n0, t) as i128) * buf,
        E8W,
    );
    let slack0 = sat(p.margin_balance as i128 - need0);
    let mut x_start = 0i64;
    let mut guess: Option<i64> = None;
    loop {
        let slack = if x_start == 0 {
            slack0
        } else {
            eval(x_start).slack
        };
        if slack >= 0 {
            guess = Some(x_start);
            break;
        }
        // Slope of the slack per unit in this bracket (rounded down: the guess errs high).
        // ⌊⌊v/E8⌋/E8⌋ = ⌊v/E16⌋, in two cheap divisions by the scale.
        let freed = floor_div(floor_div(np * brackets[t].mmr as i128 * buf, E8W), E8W);
        let k = freed - lp - fp;
        if k <= 0 {
            break;
        }
        let x = x_start as i128 + ceil_div(-(slack as i128) * E8W, k);
        // Where the next lower bracket starts (the notional falls to its cap).
        let x_end = if t == 0 {
            q as i128
        } else {
            q as i128 - qty_at_cap(spec, brackets[t - 1].cap, p.mark)
        };
        if x <= x_end || t == 0 {
            guess = Some(sat(x));
            break;
        }
        t -= 1;
        x_start = sat(x_end).max(x_start);
    }
    let mut x = spec.ceil_lot(guess?).max(lot);
    // Verify exactly; move by whole lots to the smallest passing quantity. `best` holds the
    // parts of the last passing evaluation, which is always at the final `x`.
    let mut best = None;
    let mut steps = 0;
    while x < q {
        let s = eval(x);
        if s.slack >= 0 {
            best = Some(s);
            break;
        }
        x += lot;
        steps += 1;
        if steps > 64 {
            return None;
        }
    }
    let mut best = best?;
    if step_down_fails(spec, p, &best, buf) {
        return Some(PartialSolution {
            qty: x,
            mm_rest: best.mm_rest,
            loss: best.loss,
            fee: best.fee,
        });
    }
    while x - lot >= lot {
        let s = eval(x - lot);
        if s.slack < 0 {
            break;
        }
        x -= lot;
        best = s;
        steps += 1;
        if steps > 128 {
            break;
        }
    }
    Some(PartialSolution {
        qty: x,
        mm_rest: best.mm_rest,
        loss: best.loss,
        fee: best.fee,
    })
}

/// Per-unit notional at mark, loss vs limit, and fee at limit (E8 money per 1.0 quantity).
fn per_unit(spec: &InstrumentSpec, p: &PartialInput) -> (i128, i128, i128) {
    let (m, l, r) = (p.mark as i128, p.limit as i128, spec.fee_rate as i128);
    match spec.kind {
        ContractKind::Linear => (m, p.sign as i128 * (m - l), ceil_div(l * r, E8W)),
        ContractKind::Inverse => {
            let f = spec.contract_size as i128 * E8W;
            let (at_l, at_m) = (ceil_div(f, l), floor_div(f, m));
            let loss = if p.sign > 0 {
                at_l - at_m
            } else {
                ceil_div(f, m) - floor_div(f, l)
            };
            (floor_div(f, m), loss, ceil_div(at_l * r, E8W))
        }
    }
}

/// Largest quantity whose notional at `mark` is ≤ `cap`.
fn qty_at_cap(spec: &InstrumentSpec, cap: i64, mark: i64) -> i128 {
    match spec.kind {
        ContractKind::Linear => floor_div(cap as i128 * E8W, mark as i128),
        ContractKind::Inverse => floor_div(cap as i128 * mark as i128, spec.contract_size as i128),
    }
}

/// The ADL ranking of one instrument: two preallocated heaps (longs, shorts) keyed by
/// `pnl% × effective leverage` (E8), ids = account ids.
///
/// Kept incrementally: the owner of the margin state calls [`AdlRanking::update`] when a
/// position or its account's balance changes (O(log n)); deleveraging pops from the top
/// (O(log n) per position). Nothing is ever sorted.
#[derive(Debug, Clone)]
pub struct AdlRanking {
    longs: IndexedHeap,
    shorts: IndexedHeap,
    qty: Vec<i64>,
}

impl AdlRanking {
    /// A ranking for account ids `0..accounts` (allocates here only).
    pub fn new(accounts: usize) -> Self {
        Self {
            longs: IndexedHeap::with_capacity(accounts),
            shorts: IndexedHeap::with_capacity(accounts),
            qty: vec![0; accounts],
        }
    }

    /// The ADL score: `pnl/|entry notional| × notional/MB` at E8; `None` (not ranked) unless
    /// the position is profitable and the balance positive.
    pub fn score(
        upnl: i64,
        entry_notional: i64,
        notional: i64,
        margin_balance: i64,
    ) -> Option<i64> {
        if upnl <= 0 || entry_notional <= 0 || margin_balance <= 0 {
            return None;
        }
        let num = upnl as i128 * notional as i128 * E8W;
        let den = entry_notional as i128 * margin_balance as i128;
        Some(sat(num / den))
    }

    /// Sets an account's position (signed) and rank; `score == None` or `qty == 0` removes it
    /// from the ranking.
    pub fn set(&mut self, account: u32, qty: i64, score: Option<i64>) {
        self.longs.remove(account);
        self.shorts.remove(account);
        if let Some(q) = self.qty.get_mut(account as usize) {
            *q = qty;
        }
        if let Some(s) = score {
            if qty > 0 {
                self.longs.upsert(account, s);
            } else if qty < 0 {
                self.shorts.upsert(account, s);
            }
        }
    }

    /// The signed position last given for `account` (0 if none).
    pub fn qty(&self, account: u32) -> i64 {
        self.qty.get(account as usize).copied().unwrap_or(0)
    }

    /// The side that would take over a bankrupt position of sign `sign` (the opposite side).
    pub fn opposite_mut(&mut self, sign: i64) -> &mut IndexedHeap {
        if sign > 0 {
            &mut self.shorts
        } else {
            &mut self.longs
        }
    }

    /// Read-only view of the heap for `positions of sign`.
    pub fn side(&self, sign: i64) -> &IndexedHeap {
        if sign > 0 {
            &self.longs
        } else {
            &self.shorts
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::spec::Bracket;

    fn spec(fee: i64) -> InstrumentSpec {
        InstrumentSpec::new(
            ContractKind::Linear,
            E8 / 10,
            E8 / 1000,
            E8,
            fee,
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

    /// The smallest passing lot count by brute force.
    fn brute(s: &InstrumentSpec, p: &PartialInput) -> Option<i64> {
        let mut x = s.lot;
        while x < p.abs_qty {
            if partial_slack(s, p, x) >= 0 {
                return Some(x);
            }
            x += s.lot;
        }
        None
    }

    #[test]
    fn partial_matches_brute_force_across_brackets() {
        let s = spec(E8 / 2000);
        // 6 BTC long at 50000 (300k notional, top bracket), MB just under maintenance.
        let mm = s.maintenance(s.notional(6 * E8, 50_000 * E8));
        for mb_off in [1, 100 * E8, 1_000 * E8] {
            let p = PartialInput {
                sign: 1,
                abs_qty: 6 * E8,
                mark: 50_000 * E8,
                limit: 49_990 * E8,
                margin_balance: mm - mb_off,
                mm_others: 0,
                buffer: E8 / 10,
            };
            assert_eq!(partial_qty(&s, &p), brute(&s, &p), "mb_off {mb_off}");
        }
        assert!(partial_qty(
            &s,
            &PartialInput {
                sign: 1,
                abs_qty: 6 * E8,
                mark: 50_000 * E8,
                limit: 49_990 * E8,
                margin_balance: mm - 100 * E8,
                mm_others: 0,
                buffer: E8 / 10,
            }
        )
        .is_some());
    }

    #[test]
    fn no_partial_when_slippage_exceeds_the_rate() {
        let s = spec(0);
        let mm = s.maintenance(s.notional(E8, 50_000 * E8));
        // closing 2% below mark costs more than the 0.4% maintenance it frees
        let p = PartialInput {
            sign: 1,
            abs_qty: E8,
            mark: 50_000 * E8,
            limit: 49_000 * E8,
            margin_balance: mm - 1,
            mm_others: 0,
            buffer: 0,
        };
        assert_eq!(partial_qty(&s, &p), None);
    }

    #[test]
    fn largest_contributor_first() {
        let p = |instrument, maintenance| PositionView {
            instrument,
            qty: 1,
            entry: 1,
            maintenance,
        };
        assert_eq!(pick_cross(&[p(0, 5), p(1, 9), p(2, 9)]), Some(1));
        assert_eq!(pick_cross(&[]), None);
    }

    #[test]
    fn adl_ranks_highest_first() {
        let mut r = AdlRanking::new(8);
        r.set(1, -5, AdlRanking::score(10, 100, 100, 50)); // 10% × 2 = 0.2
        r.set(2, -5, AdlRanking::score(30, 100, 100, 100)); // 30% × 1 = 0.3
        r.set(3, -5, AdlRanking::score(-30, 100, 100, 100)); // losing: not ranked
        r.set(4, 5, AdlRanking::score(90, 100, 100, 10)); // a long
        let h = r.opposite_mut(1);
        assert_eq!(h.pop().map(|x| x.0), Some(2));
        assert_eq!(h.pop().map(|x| x.0), Some(1));
        assert_eq!(h.pop(), None);
    }
}
