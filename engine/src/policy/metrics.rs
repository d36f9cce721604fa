//! Liquidation efficiency metrics: hotrisk's own definitions (no exchange publishes these).
//!
//! Per order ([`OrderMetrics`], produced with every decision):
//! - **breach-to-order** (`breach_to_order_ns`): record time of the decision's trigger minus the
//!   record time at which the account was first seen below maintenance in this episode. Record
//!   time (the feed's timestamps), so it measures how long the *policy* let the account stay
//!   breached (pauses, budget waits, cancel round trips), not the engine's compute latency
//!   (that is the pipeline's histograms' job).
//! - **slippage vs mark** (`slippage_bps`, E8-scaled basis points): `(mark − p)/mark · 10⁴` for a
//!   sell, `(p − mark)/mark · 10⁴` for a buy, where `p` is the book walk's estimated VWAP (orders)
//!   or the bankruptcy price (backstop, ADL). Positive = the account closes worse than the mark.
//! - **fraction closed** (`fraction_closed`, E8): order quantity / position quantity; with
//!   `target_qty`, the tier's quantity before depth and budget slicing (an order with
//!   `qty < target_qty` is a slice: the rest follows in later decisions).
//! - **margin ratio before / after** (`mr_before`, `mr_after`, E8): `MM / MB` of the scope
//!   (cross part or isolated position) at the decision, and as it would be if the order filled
//!   completely at its limit price and paid the fee; `i64::MAX` when `MB ≤ 0`.
//! - **bad debt** (`bad_debt`, E8): loss beyond the margin taken by the backstop or ADL decision
//!   (the position's loss from bankruptcy to mark); 0 for book orders (they never fill beyond
//!   bankruptcy).
//! - **insurance fund change** (`fund_change`, E8): what the decision moves into (+, fees) or out
//!   of (−, backstop) the fund; fees are added when fills are acknowledged.
//!
//! Per instrument ([`InstrumentMetrics`]): counts per tier, the sum and max of breach-to-order,
//! the quantity-weighted mean slippage, the mean fraction closed, total bad debt, total fund
//! change, the ADL count (positions deleveraged), decisions deferred for pauses, budget or depth.

use hotrisk_feed::wire::Tier;

/// Metrics of one decision (see the module docs for each definition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderMetrics {
    /// The order's tier.
    pub tier: Tier,
    /// Record time from first breach to this decision, ns.
    pub breach_to_order_ns: i64,
    /// Slippage vs mark, basis points at E8.
    pub slippage_bps: i64,
    /// Order quantity / position quantity, E8.
    pub fraction_closed: i64,
    /// The tier's quantity before slicing by depth and budget (the partial's restoring quantity
    /// or the whole position), E8; the order's `qty` is at most this.
    pub target_qty: i64,
    /// Margin ratio before, E8.
    pub mr_before: i64,
    /// Margin ratio after a complete fill at the limit, E8.
    pub mr_after: i64,
    /// Bad debt taken by this decision, E8.
    pub bad_debt: i64,
    /// Insurance fund change of this decision, E8.
    pub fund_change: i64,
}

/// Aggregates for one instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InstrumentMetrics {
    /// Decisions per tier (index = `Tier as usize`).
    pub orders_by_tier: [u64; 5],
    /// Σ breach-to-order, ns.
    pub breach_to_order_sum_ns: i128,
    /// Max breach-to-order, ns.
    pub breach_to_order_max_ns: i64,
    /// Σ slippage_bps × qty (for the quantity-weighted mean).
    pub slippage_qty_sum: i128,
    /// Σ qty of orders with a slippage figure.
    pub qty_sum: i128,
    /// Σ fraction closed.
    pub fraction_sum: i128,
    /// Total bad debt, E8.
    pub bad_debt: i128,
    /// Total insurance fund change (fees and backstop), E8.
    pub fund_change: i128,
    /// Positions auto-deleveraged.
    pub adl_count: u64,
    /// Decisions skipped because the instrument was paused.
    pub paused: u64,
    /// Decisions deferred by the notional budget.
    pub budget_waits: u64,
    /// Decisions deferred because the book showed no depth within the bounds.
    pub depth_waits: u64,
}

impl InstrumentMetrics {
    /// Adds one decision of quantity `qty`.
    pub fn record(&mut self, m: &OrderMetrics, qty: i64) {
        self.orders_by_tier[m.tier as usize] += 1;
        if m.tier == Tier::Cancel {
            return;
        }
        self.breach_to_order_sum_ns += i128::from(m.breach_to_order_ns);
        self.breach_to_order_max_ns = self.breach_to_order_max_ns.max(m.breach_to_order_ns);
        self.slippage_qty_sum += i128::from(m.slippage_bps) * i128::from(qty);
        self.qty_sum += i128::from(qty);
        self.fraction_sum += i128::from(m.fraction_closed);
        self.bad_debt += i128::from(m.bad_debt);
        self.fund_change += i128::from(m.fund_change);
    }

    /// Liquidation decisions (all tiers but the cancel).
    pub fn decisions(&self) -> u64 {
        self.orders_by_tier[1..].iter().sum()
    }

    /// Quantity-weighted mean slippage, bps E8 (0 with no orders).
    pub fn mean_slippage_bps(&self) -> i64 {
        if self.qty_sum == 0 {
            0
        } else {
            (self.slippage_qty_sum / self.qty_sum) as i64
        }
    }

    /// Mean fraction closed, E8 (0 with no orders).
    pub fn mean_fraction_closed(&self) -> i64 {
        match self.decisions() {
            0 => 0,
            n => (self.fraction_sum / i128::from(n)) as i64,
        }
    }

    /// Mean breach-to-order, ns.
    pub fn mean_breach_to_order_ns(&self) -> i64 {
        match self.decisions() {
            0 => 0,
            n => (self.breach_to_order_sum_ns / i128::from(n)) as i64,
        }
    }
}

/// Slippage of `price` vs `mark` for an order on a sell (`sell = true`) or buy, bps at E8
/// (rounded down).
pub fn slippage_bps(mark: i64, price: i64, sell: bool) -> i64 {
    if mark <= 0 {
        return 0;
    }
    let d = if sell { mark - price } else { price - mark } as i128;
    crate::policy::spec::floor_div(d * 10_000 * hotrisk_feed::fixed::E8 as i128, mark as i128)
        as i64
}

/// `mm / mb` at E8 (rounded down), `i64::MAX` when `mb ≤ 0`.
pub fn margin_ratio(mm: i64, mb: i64) -> i64 {
    if mb <= 0 {
        i64::MAX
    } else {
        let r = crate::policy::spec::floor_div(
            i128::from(mm) * i128::from(hotrisk_feed::fixed::E8),
            i128::from(mb),
        );
        r.min(i128::from(i64::MAX)) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotrisk_feed::fixed::E8;

    #[test]
    fn definitions() {
        assert_eq!(slippage_bps(100 * E8, 99 * E8, true), 100 * E8);
        assert_eq!(slippage_bps(100 * E8, 99 * E8, false), -100 * E8);
        assert_eq!(margin_ratio(5, 10), E8 / 2);
        assert_eq!(margin_ratio(5, 0), i64::MAX);
        let mut a = InstrumentMetrics::default();
        let m = OrderMetrics {
            tier: Tier::Partial,
            breach_to_order_ns: 10,
            slippage_bps: 4 * E8,
            fraction_closed: E8 / 4,
            target_qty: 0,
            mr_before: E8,
            mr_after: E8 / 2,
            bad_debt: 0,
            fund_change: 0,
        };
        a.record(&m, 3);
        a.record(
            &OrderMetrics {
                slippage_bps: 0,
                breach_to_order_ns: 30,
                ..m
            },
            1,
        );
        assert_eq!(a.mean_slippage_bps(), 3 * E8);
        assert_eq!(a.breach_to_order_max_ns, 30);
        assert_eq!(a.mean_breach_to_order_ns(), 20);
    }
}
