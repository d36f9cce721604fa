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
//! Cost (the decision benchmark's hot spot): for a linear contract whose values are in a proven
//! range (`Lean`, the usual case) the slack is evaluated with `u64` values, `u128` products and
//! divisions by the scale that compile to multiplications, with no saturation or fallback inside
//! (the range argument is in `Lean`'s docs); what depends only on the mark, the limit, the side
//! and the buffer — the slope of the slack per bracket and its reciprocal (so the root needs no
//! hardware division), the per-lot bounds — is kept per instrument in a [`PartialCache`] and
//! reused by the next decision at the same mark and limit. The check that one lot less fails is
//! usually proved without evaluating it, from the parts of the slack at the candidate and those
//! per-lot bounds of the loss, fee and maintenance (`Lean::step_down_fails`, documented there),
//! and skipped when the verification already stepped up. So the usual solve is the requirement
//! at `Q`, one root, one exact slack at the candidate and one comparison. Other instruments and
//! values take the same steps in `i128` (`solve_general`). Every shortcut returns the same bits
//! as the plain algorithm: `tests/policy_fastpath.rs` checks it against
//! [`crate::policy::reference`] on random instruments, accounts and books, inside and outside the
//! fast range.
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
use super::spec::{
    ceil_div, ceil_e8_lt, floor_div, floor_e8_lt, sat, ContractKind, DivU64, InstrumentSpec,
    MAX_BRACKETS,
};
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
    // One position (isolated, or a cross account in one instrument): nothing to compare.
    if let [p] = positions {
        return (p.qty != 0).then_some(0);
    }
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
    }
}

/// A non-negative `i64` as `u128` (zero-extended: `as u128` on an `i64` sign-extends, which
/// turns each product into a full signed 128-bit multiplication).
#[inline(always)]
fn wide(v: i64) -> u128 {
    debug_assert!(v >= 0);
    u128::from(v as u64)
}

/// The partial solve's constants that depend only on the mark, the limit, the position's side
/// and the buffer — not on the position or the account: per lot, the loss and fee bounds and
/// the notional at the mark; per unit, the fee; per bracket, the slope of the slack (and its
/// reciprocal)
/// and the least growth of the requirement per lot. The first fast-path solve at a key fills
/// it (per-bracket values on first use) and the next ones at the same key reuse it: in a
/// cascade, every account liquidated on one side at one mark shares the limit (the slippage
/// bound) unless its bankruptcy price binds first. One per instrument; plain data, `Copy`.
#[derive(Debug, Clone, Copy)]
pub struct PartialCache {
    /// The key (mark 0: empty; the fast path needs a positive mark).
    mark: i64,
    limit: i64,
    sign: i64,
    buffer: i64,
    loss_lot: i128,
    fee_lot: i128,
    n_up: u64,
    n_dn: u64,
    fp: i128,
    /// Bit `t`: `slope[t]`, `slope_div[t]` and `mm_lot[t]` are filled for this key.
    have: u32,
    slope: [i128; MAX_BRACKETS],
    /// `slope[t]`'s reciprocal when `1 ≤ slope[t] < 2^64` (else unused).
    slope_div: [DivU64; MAX_BRACKETS],
    mm_lot: [i128; MAX_BRACKETS],
}

impl Default for PartialCache {
    fn default() -> Self {
        Self {
            mark: 0,
            limit: 0,
            sign: 0,
            buffer: 0,
            loss_lot: 0,
            fee_lot: 0,
            n_up: 0,
            n_dn: 0,
            fp: 0,
            have: 0,
            slope: [0; MAX_BRACKETS],
            slope_div: [DivU64::ONE; MAX_BRACKETS],
            mm_lot: [0; MAX_BRACKETS],
        }
    }
}

/// The slack of closing `x` and its parts, as [`Lean::eval`] computes them.
#[derive(Debug, Clone, Copy)]
struct LeanSlack {
    /// The slack, unsaturated (its sign is what the solve tests).
    raw: i128,
    mm_rest: i64,
    loss: i64,
    fee: i64,
    /// Notional of the rest `Q − x` at the mark, and its bracket.
    n_rest: i64,
    t_rest: usize,
}

/// The partial solve for a linear contract whose values are in the range [`Lean::new`] checks,
/// with unsigned 64-bit values, `u128` products and divisions by the scale that compile to
/// multiplications ([`floor_e8_lt`]) — no saturation, no fallback inside.
///
/// # Why the fast forms are exact
/// [`Lean::new`] requires, besides a [`InstrumentSpec`] marked `lean` (linear, fee rate in
/// `[0, 1]`, every bracket's rate in `[0, 1]` and amount in `[0, 2^62)`): `sign = ±1`,
/// mark and limit positive, `Q·max(mark, limit) < 2^88`, `buffer ∈ [0, 1]` and
/// `MM_others ∈ [0, 2^61)`. Then for every `0 ≤ x ≤ Q`:
/// - the rest's notional `⌈(Q − x)·m⌉ < 2^88/10^8 < 2^61.5`, its maintenance is at most that
///   (rate ≤ 1) and at least 0 (clipped), so `MM_others + MM(Q − x) < 2^62.3`; times
///   `1 + buffer ≤ 2` at E8 that is below `2^90 < 10^8·2^64`, so every quotient fits a `u64`
///   ([`floor_e8_lt`]'s condition) and the requirement `need < 2^64`;
/// - `x·|m − l| < Q·max(m, l) < 2^88`, so the loss is within `±2^61.5`; the fee's notional
///   `⌈x·l⌉ < 2^61.5` and the fee is at most it;
/// - so no part saturates, and each equals [`slack_parts`]'s (the same roundings of the same
///   exact values; the slack itself is kept in `i128`, as there).
///
/// `tests/policy_fastpath.rs` checks the whole solve against the plain reference on random
/// inputs inside and outside this range.
#[derive(Debug)]
struct Lean<'a> {
    spec: &'a InstrumentSpec,
    p: &'a PartialInput,
    /// The constants of this mark, limit, side and buffer (filled by [`Lean::new`]).
    c: &'a mut PartialCache,
    m: u128,
    l: u128,
    /// `|s·(m − l)|`, and whether `s·(m − l) < 0` (closing at the limit is a gain).
    d: u128,
    gain: bool,
    r: u128,
    mmo: u64,
    buf: u128,
}

impl<'a> Lean<'a> {
    /// The fast path's inputs, `None` when a value is out of its range (see the type's docs).
    /// The caller has checked `mark > 0` and `limit > 0`.
    #[inline(always)]
    fn new(spec: &'a InstrumentSpec, p: &'a PartialInput, c: &'a mut PartialCache) -> Option<Self> {
        if !spec.lean
            || !(p.sign == 1 || p.sign == -1)
            || !(0..=E8).contains(&p.buffer)
            || !(0..1 << 61).contains(&p.mm_others)
            || wide(p.abs_qty) * wide(p.mark.max(p.limit)) >= 1 << 88
        {
            return None;
        }
        // Both positive: `m − l` cannot overflow, nor can its negation.
        let diff = p.mark - p.limit;
        let sd = if p.sign > 0 { diff } else { -diff };
        let refill =
            c.mark != p.mark || c.limit != p.limit || c.sign != p.sign || c.buffer != p.buffer;
        let mut lean = Self {
            spec,
            p,
            c,
            m: wide(p.mark),
            l: wide(p.limit),
            d: u128::from(sd.unsigned_abs()),
            gain: sd < 0,
            r: wide(spec.fee_rate),
            mmo: p.mm_others as u64,
            buf: wide(E8 + p.buffer),
        };
        if refill {
            lean.fill();
        }
        Some(lean)
    }

    /// Fills the cache's per-lot and per-unit constants for this key; per-bracket ones are
    /// filled on first use ([`Lean::per_bracket`]). Ranges: `lot < Q`, so every product is below
    /// 2^88 as in [`Lean::eval`], and the quotients below 2^62.
    // Inlined although it runs once per key: out of line, it would take `self`'s address and
    // keep the whole struct in memory on the hot path.
    #[inline(always)]
    fn fill(&mut self) {
        let lot = wide(self.spec.lot);
        let v = lot * self.d;
        let lot_m = lot * self.m;
        let c = &mut *self.c;
        c.mark = self.p.mark;
        c.limit = self.p.limit;
        c.sign = self.p.sign;
        c.buffer = self.p.buffer;
        c.loss_lot = if self.gain {
            -i128::from(floor_e8_lt(v))
        } else {
            i128::from(ceil_e8_lt(v))
        };
        c.fee_lot = i128::from(ceil_e8_lt(u128::from(ceil_e8_lt(lot * self.l)) * self.r));
        c.n_up = ceil_e8_lt(lot_m);
        c.n_dn = floor_e8_lt(lot_m);
        c.fp = i128::from(ceil_e8_lt(self.l * self.r));
        c.have = 0;
    }

    /// Bracket `t`'s slope of the slack per unit, `⌊m·MMR_t·(1 + buffer)/10^16⌋ − s(m − l) −
    /// ⌈l·rate⌉` (the freed requirement less the loss and fee), and the least growth of the
    /// buffered requirement per lot, `⌊⌊⌊lot·m⌋·MMR_t⌋·(1 + buffer)⌋` (see
    /// [`Lean::step_down_fails`]); computed once per key.
    #[inline(always)]
    fn per_bracket(&mut self, t: usize) -> (i128, i128) {
        if self.c.have & (1 << t) == 0 {
            self.fill_bracket(t);
        }
        (self.c.slope[t], self.c.mm_lot[t])
    }

    /// `s(m − l)` per unit (the loss of closing one unit at the limit).
    #[inline(always)]
    fn loss_per_unit(&self) -> i128 {
        if self.gain {
            -(self.d as i128)
        } else {
            self.d as i128
        }
    }

    #[inline(always)]
    fn fill_bracket(&mut self, t: usize) {
        let mmr = self.spec.bracket_at(t).mmr;
        // `m·MMR·(1 + buffer)` can pass 2^96 (a mark near 2^63): the general `i128` division.
        let freed = floor_div(
            floor_div(self.m as i128 * mmr as i128 * self.buf as i128, E8W),
            E8W,
        );
        let k = freed - self.loss_per_unit() - self.c.fp;
        self.c.slope[t] = k;
        if (1..=u64::MAX as i128).contains(&k) {
            self.c.slope_div[t] = DivU64::new(k as u64);
        }
        // `⌊lot·m⌋ < 2^61.5` and `MMR ≤ 1`: below 2^88, and the quotient below 2^62.
        let mm = floor_e8_lt(u128::from(self.c.n_dn) * wide(mmr));
        self.c.mm_lot[t] = i128::from(floor_e8_lt(u128::from(mm) * self.buf));
        self.c.have |= 1 << t;
    }

    /// The rest `Q − x`: its notional, bracket, maintenance, and the buffered requirement.
    #[inline(always)]
    fn rest(&self, x: i64) -> (i64, usize, i64, u64) {
        let n = ceil_e8_lt(wide(self.p.abs_qty - x) * self.m) as i64;
        let t = self.spec.bracket_of(n);
        let b = self.spec.bracket_at(t);
        let mm = (ceil_e8_lt(wide(n) * wide(b.mmr)) as i64 - b.cum).max(0);
        let need = ceil_e8_lt(u128::from(self.mmo + mm as u64) * self.buf);
        (n, t, mm, need)
    }

    /// The slack of closing `x` (`0 ≤ x ≤ Q`) and its parts.
    #[inline(always)]
    fn eval(&self, x: i64) -> LeanSlack {
        let (n_rest, t_rest, mm_rest, need) = self.rest(x);
        let v = wide(x) * self.d;
        let loss = if self.gain {
            -(floor_e8_lt(v) as i64)
        } else {
            ceil_e8_lt(v) as i64
        };
        let fee = ceil_e8_lt(u128::from(ceil_e8_lt(wide(x) * self.l)) * self.r) as i64;
        let raw = i128::from(self.p.margin_balance)
            - i128::from(loss)
            - i128::from(fee)
            - i128::from(need);
        LeanSlack {
            raw,
            mm_rest,
            loss,
            fee,
            n_rest,
            t_rest,
        }
    }

    /// Whether the slack one lot below the passing `x` (parts `s`) is certainly negative,
    /// without evaluating it, from three per-lot bounds:
    ///
    /// - loss: `⌈a − b⌉ ≥ ⌈a⌉ − ⌈b⌉`, so `loss(x − lot) ≥ loss(x) − ⌈lot·s(m − l)⌉`;
    /// - fee: the same twice, `fee(x − lot) ≥ fee(x) − ⌈⌈lot·l⌉·rate⌉` (rate ≥ 0);
    /// - maintenance: the rest grows by `lot`, its notional by at least `⌊lot·m⌋` and at most
    ///   `⌈lot·m⌉`; when the latter keeps it in the same bracket, the maintenance grows by at
    ///   least `M = ⌊⌊lot·m⌋·MMR⌋` (`⌈a + b⌉ ≥ ⌈a⌉ + ⌊b⌋`; 0 when the maintenance at `x` was
    ///   clipped at 0), and the buffered requirement by at least `⌊M·(1 + buffer)⌋`.
    ///
    /// So `slack(x − lot) ≤ raw(x) + ⌈lot·s(m − l)⌉ + ⌈⌈lot·l⌉·rate⌉ − ⌊M·(1 + buffer)⌋`; when
    /// that is negative the step down would fail and need not be evaluated. `false` (evaluate)
    /// when the maintenance bound does not apply — it never changes the result, only skips an
    /// evaluation whose outcome is known. Ranges: `lot < Q`, so every product is below 2^88 as in
    /// [`Lean::eval`].
    #[inline(always)]
    fn step_down_fails(&mut self, s: &LeanSlack) -> bool {
        let mm_lot = if s.mm_rest > 0 {
            let b = self.spec.bracket_at(s.t_rest);
            // `0 ≤ n ≤ cap` (its bracket's), both below 2^62: no wrap.
            if s.n_rest as u64 + self.c.n_up > b.cap as u64 {
                return false;
            }
            self.per_bracket(s.t_rest).1
        } else {
            0
        };
        s.raw + self.c.loss_lot + self.c.fee_lot - mm_lot < 0
    }

    fn solution(s: &LeanSlack, qty: i64) -> PartialSolution {
        PartialSolution {
            qty,
            mm_rest: s.mm_rest,
            loss: s.loss,
            fee: s.fee,
        }
    }

    /// [`partial_solve`] on the fast path (the same steps as [`solve_general`]).
    #[inline(always)]
    fn solve(mut self) -> Option<PartialSolution> {
        let (spec, p) = (self.spec, self.p);
        let (q, lot) = (p.abs_qty, spec.lot);
        let (_, mut t, _, need0) = self.rest(0);
        let slack0 = sat(i128::from(p.margin_balance) - i128::from(need0));
        let mut x_start = 0i64;
        let mut guess: Option<i64> = None;
        loop {
            let slack = if x_start == 0 {
                slack0
            } else {
                sat(self.eval(x_start).raw)
            };
            if slack >= 0 {
                guess = Some(x_start);
                break;
            }
            // The slope per unit in this bracket (rounded down: the guess errs high).
            let k = self.per_bracket(t).0;
            if k <= 0 {
                break;
            }
            // ⌈a/k⌉ for `a = −slack·E8 > 0`: `⌊(a − 1)/k⌋ + 1` with the slope's reciprocal
            // when `a` fits 64 bits (the usual case), else the `i128` division.
            let a = -(slack as i128) * E8W;
            let up = if a <= u64::MAX as i128 && k <= u64::MAX as i128 {
                i128::from(self.c.slope_div[t].div(a as u64 - 1)) + 1
            } else {
                ceil_div(a, k)
            };
            let x = x_start as i128 + up;
            let x_end = if t == 0 {
                q as i128
            } else {
                q as i128 - qty_at_cap(spec, spec.brackets()[t - 1].cap, p.mark)
            };
            if x <= x_end || t == 0 {
                guess = Some(sat(x));
                break;
            }
            t -= 1;
            x_start = sat(x_end).max(x_start);
        }
        let mut x = spec.ceil_lot(guess?).max(lot);
        let mut steps = 0;
        let mut best = loop {
            if x >= q {
                return None;
            }
            let s = self.eval(x);
            if s.raw >= 0 {
                break s;
            }
            x += lot;
            steps += 1;
            if steps > 64 {
                return None;
            }
        };
        // One lot less is known to fail when the loop above stepped up (it was evaluated), when
        // it would be below one lot, or from the per-lot bounds.
        if steps > 0 || x - lot < lot || self.step_down_fails(&best) {
            return Some(Self::solution(&best, x));
        }
        while x - lot >= lot {
            let s = self.eval(x - lot);
            if s.raw < 0 {
                break;
            }
            x -= lot;
            best = s;
            steps += 1;
            if steps > 128 {
                break;
            }
        }
        Some(Self::solution(&best, x))
    }
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
/// Cost on the fast path (`Lean`: linear contracts with values in range, the usual case):
/// the requirement at `Q` (no loss, no fee), one division for the linear root in each bracket
/// visited (usually one), one exact slack at the candidate and a few per-lot bounds that prove
/// one lot less fails — a dozen multiply-shift divisions by the scale and one 64-bit division.
/// Other instruments take `solve_general` (the same steps in `i128`).
#[inline]
pub fn partial_solve(spec: &InstrumentSpec, p: &PartialInput) -> Option<PartialSolution> {
    partial_solve_cached(spec, p, &mut PartialCache::default())
}

/// [`partial_solve`] with the constants of the fast path kept in `cache` between calls (one
/// cache per instrument: its values are those of `spec`). The result does not depend on what
/// the cache holds.
#[inline]
pub fn partial_solve_cached(
    spec: &InstrumentSpec,
    p: &PartialInput,
    cache: &mut PartialCache,
) -> Option<PartialSolution> {
    if p.abs_qty <= spec.lot || p.mark <= 0 || p.limit <= 0 {
        return None;
    }
    match Lean::new(spec, p, cache) {
        Some(lean) => lean.solve(),
        None => solve_general(spec, p),
    }
}

/// [`partial_solve`] for any instrument and inputs: the slack in `i128` with saturation.
#[inline(never)]
fn solve_general(spec: &InstrumentSpec, p: &PartialInput) -> Option<PartialSolution> {
    let (q, lot) = (p.abs_qty, spec.lot);
    let buf = E8W + p.buffer as i128;
    let eval = |x: i64| slack_parts(spec, p, x, buf);
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
/// Kept incrementally: the owner of the margin state calls [`AdlRanking::set`] when a
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
