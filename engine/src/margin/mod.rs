//! # Margin core: instruments, the SoA position state, exact fixed-point margin math
//!
//! ```text
//!            load (cold)                         run (hot: risk thread)
//!  snapshot ─► Instrument::new (checks bounds) ─► MarginState ─┬─ on_mark(instr, mark, &mut Crossings)
//!                                               (SoA per       ├─ apply_fill / apply_collateral
//!                                                instrument)   └─ queries: account(), positions(), …
//! ```
//!
//! ## Units and scales
//! - Prices, quantities, balances and rates enter as `i64` at the wire's **E8** scale
//!   ([`hotrisk_feed::fixed`]).
//! - Money (balances, PnL, notional, maintenance, in the margin asset: quote for linear, coin for
//!   inverse) is [`Money`] = `i128` at **E16** (value × 10^16). Linear PnL and notional
//!   (`q_E8 · price_E8`) are exact at this scale.
//!
//! ## Rounding (always against the account)
//! | quantity | rule |
//! |---|---|
//! | linear notional `|q|·m`, linear PnL `q·(m−e)`, cost basis `q·e` | exact |
//! | inverse notional `|q|·F/m` | rounded up at E16 |
//! | inverse PnL `q·F/e − q·F/m` | `floor(q·F/e) − ceil(q·F/m)` at E16: never above the exact value, at most 2·10^-16 below |
//! | maintenance `N·MMR − cum` | `ceil` at E16 (of the already rounded-up notional) |
//! | initial margin `N / leverage` | `ceil` at E16 |
//! | liquidation and bankruptcy prices | long: rounded up, short: rounded down, at E8 |
//! | realised PnL on a reduce | floor at E16 |
//! | wire output (`hotrisk risk`) | 8 decimals: margin, notional, ratio up; PnL, balances down |
//!
//! ## Bounds (checked at load and on every fill/mark, see [`bounds`])
//! Prices (marks, entries, fills) are in `[tick, 10^7]`; a linear position holds at most
//! `10^7` base units, an inverse one at most `10^8` quote of face value; an inverse tick is at
//! least `10^-6`; balances and isolated margins are at most `10^10` in absolute value; at most
//! [`bounds::MAX_TIERS`] brackets. So any position's notional is below `10^14` (10^30 Money units)
//! and `N · MMR` below `10^38 < i128::MAX`; an account sums at most 65 536 positions (one per
//! instrument, one-way mode), below `10^35`. No hot-path operation can overflow.
//!
//! ## The state and the mark-tick kernel
//! [`MarginState`] keeps, per instrument, the positions of that instrument in parallel arrays
//! (quantity, cost basis, margin unit, link to the unit's next position, and the 8-byte **band
//! key**). A *margin unit* is an account's cross part or one isolated position. Whenever a unit is
//! evaluated (at load, on a fill or collateral change, or when the kernel flags it) its exact
//! slack `S = collateral + Σ (U − MM)` is computed and split into per-position budgets
//! (`(S−1)/n` while healthy, `−S/n` while liquidatable); each position gets the mark range
//! (its *band*) within which its own slack contribution moves by at most its budget. While every
//! position of a unit stays in its band, the sign of `S` — liquidatable or not — cannot change.
//! A mark tick therefore streams only the ticked instrument's 8-byte keys and compares each to
//! the mark ([`tick`]); the few positions that left their band trigger an exact re-evaluation of
//! their unit, which reports a [`Crossing`] if its status changed and sets fresh bands. The
//! per-unit aggregates (collateral, position list) are kept incrementally on fills; equity and
//! maintenance are computed exactly on demand from the current marks (a unit holds few
//! positions). The correctness argument and its property tests live in `tests/invariants.rs`.
//!
//! ## Public API
//! - Build: [`Instrument::new`] from an [`InstrumentSpec`]; [`MarginState::new`];
//!   [`MarginState::add_account`], [`MarginState::add_position`], then [`MarginState::evaluate_all`].
//! - Hot: [`MarginState::on_mark`] (no allocation, no panic, O(positions of the instrument) compares),
//!   [`MarginState::apply_fill`], [`MarginState::apply_collateral`].
//! - Queries: [`MarginState::account`], [`MarginState::positions`], [`MarginState::position`],
//!   [`MarginState::mark`], [`MarginState::instrument`]; pure math in [`math`]
//!   (notional, PnL, maintenance with tiers, initial margin, margin ratio, liquidation and
//!   bankruptcy prices).
//!
//! What allocates: loading, and a fill that opens a position beyond an instrument's reserved
//! capacity (reserve with [`MarginState::reserve`]). Nothing blocks; nothing panics on bad input
//! (errors are returned).
//!
//! Limits of this version: a fill always opens a *cross* position when the account holds none in
//! the instrument (isolated positions come from the snapshot); the cross positions of one account
//! must share a margin asset (all linear, or one inverse instrument); an account's cross wallet
//! is a single balance in that asset.
//!
//! ## Cost (see `benches/mark_tick.rs` and the README)
//! A quiet tick costs about 0.5–1.1 ns per position of the ticked instrument (8 bytes streamed,
//! AVX-512/AVX2 compares), independent of the number of other accounts; each band exit costs an
//! exact re-evaluation of one margin unit (≈1 µs: a few `i128` divisions and cache misses).

pub mod instrument;
pub mod math;
pub mod state;
pub mod tick;

pub use instrument::{Bracket, BracketSpec, Instrument, InstrumentSpec, Kind};
pub use state::{
    AccountRisk, Crossing, Crossings, MarginMode, MarginState, PositionRisk, StateError, Stats,
    TickError, CROSS,
};

use hotrisk_feed::fixed::FixedDisplay;

/// Money: an amount of the margin asset at E16 (value × 10^16).
pub type Money = i128;
/// The wire scale (10^8).
pub const E8: i64 = hotrisk_feed::fixed::E8;
/// One unit of money at E16 expressed per E8 unit: `Money = E8 value × MONEY_PER_E8`.
pub const MONEY_PER_E8: Money = 100_000_000;

/// The documented bounds, checked at load, on fills and on marks.
pub mod bounds {
    use super::Kind;

    /// Highest accepted price (marks, entries, fills): 10^7 (E8).
    pub const MAX_PRICE_E8: i64 = 1_000_000_000_000_000;
    /// Largest |quantity| of a linear position: 10^7 base units (E8).
    pub const MAX_LINEAR_QTY_E8: i64 = 1_000_000_000_000_000;
    /// Largest face value `|q| · F` of an inverse position: 10^8 quote, at E16.
    pub const MAX_FACE_E16: i128 = 1_000_000_000_000_000_000_000_000;
    /// Smallest tick of an inverse instrument: 10^-6 (E8), which bounds the coin notional.
    pub const MIN_INVERSE_TICK_E8: i64 = 100;
    /// Largest |balance| and isolated margin: 10^10 (E8).
    pub const MAX_BALANCE_E8: i64 = 1_000_000_000_000_000_000;
    /// Most brackets per instrument.
    pub const MAX_TIERS: usize = 16;

    /// Largest |quantity| (E8) of a position in an instrument of this kind and contract size.
    pub fn max_qty_e8(kind: Kind, contract_e8: i64) -> i128 {
        match kind {
            Kind::Linear => i128::from(MAX_LINEAR_QTY_E8),
            Kind::Inverse => {
                (MAX_FACE_E16 / i128::from(contract_e8.max(1))).min(i128::from(i64::MAX))
            }
        }
    }
}

/// A bad value in an instrument, scenario or snapshot, with the key path that holds it
/// (relative to the object that was checked; callers prefix their own path).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct SpecError {
    /// Key path, e.g. `bracket[2].notional_cap`.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

impl SpecError {
    /// Prefixes the key path (`instrument[0]` + `bracket[2].cap` → `instrument[0].bracket[2].cap`).
    pub fn within(mut self, prefix: &str) -> Self {
        self.key = if self.key.is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix}.{}", self.key)
        };
        self
    }
}

pub(crate) fn fmt_e8(v: i64) -> String {
    hotrisk_feed::fixed::format_e8(v)
}

pub(crate) fn fmt_money(v: Money) -> String {
    FixedDisplay {
        value: v,
        digits: 16,
    }
    .to_string()
}
