//! Liquidation efficiency metrics: hotrisk's own definitions (no exchange publishes these).
//!
//! Per order ([`OrderMetrics`], produced with every decision; it carries the decision's raw
//! integers and computes the ratios when they are read, off the decision path):
//! - **breach-to-order** (`breach_to_order_ns`): record time of the decision's trigger minus the
//!   record time at which the account was first seen below maintenance in this episode. Record
//!   time (the feed's timestamps), so it measures how long the *policy* let the account stay
//!   breached (pauses, budget waits, cancel round trips), not the engine's compute latency
//!   (that is the pipeline's histograms' job).
//! - **slippage vs mark** (`slippage_bps()`, E8-scaled basis points, from `mark`, `price` and
//!   `sell`): `(mark − p)/mark · 10⁴` for a sell, `(p − mark)/mark · 10⁴` for a buy, where `p` is
//!   the book walk's estimated VWAP (orders) or the bankruptcy price (backstop, ADL). Positive =
//!   the account closes worse than the mark.
//! - **fraction closed** (`fraction_closed()`, E8): `qty / position_qty`; with
//!   `target_qty`, the tier's quantity before depth and budget slicing (an order with
//!   `qty < target_qty` is a slice: the rest follows in later decisions).
//! - **margin ratio before / after** (`mr_before()`, `mr_after()`, E8, from `mm_before`,
//!   `mb_before`, `mm_after`, `mb_after`): `MM / MB` of the scope
//!   (cross part or isolated position) at the decision, and as it would be if the order filled
//!   completely at its limit price and paid the fee; `i64::MAX` when `MB ≤ 0`.
//! - **expected bad debt** (`bad_debt`, E8, ≥ 0): the loss beyond the account's margin that a
//!   backstop or ADL order would hand on **if it filled completely** (the position's loss from the
//!   transfer price to the decision's mark); 0 for book orders (they never fill beyond
//!   bankruptcy). An estimate: nothing is booked at the decision (see below).
//! - **expected insurance fund change** (`fund_change`, E8): what the fund would gain (+) or pay
//!   (−) if the order filled completely: the takeover PnL of a backstop, the covered part of an
//!   ADL remainder. Fees are not in it (they depend on the fill).
//!
//! # When money is booked (the aggregates)
//! A decision books **no money**; [`InstrumentMetrics::record`] counts it (tiers, times,
//! slippage, fractions) only. The money fields of [`InstrumentMetrics`] move on events that
//! executed, each unit of loss once ([`crate::policy::insurance`] has the rules):
//! - `fees`, `fund_change` (+): on the ack of a partial/full order's fill;
//! - `bad_debt`, `fund_gain`, `fund_change`, `written_off`: on the ack of a backstop or ADL
//!   order's fill, for the quantity that filled and that the fund takes (what the counterparties
//!   did not), valued as `qty × (transfer price − the decision's mark)`; the fund pays from its
//!   available balance, the rest is written off; a takeover below the mark is a `fund_gain`;
//! - `bad_debt`, `socialised`: on the ack of an ADL counterparty reduction's fill, what that
//!   counterparty carries (`qty × |transfer price − mark|`); a reduction that did not execute
//!   hands its share to the fund once the bankrupt account's own transfer has filled;
//! - on [`crate::policy::Policy::cover_negative`] (an account closed below zero, settled after its
//!   last order's ack): the debt up to what the account carried as an ADL counterparty moves
//!   from `socialised` to the fund / `written_off` (it was already bad debt); the rest is new
//!   `bad_debt`, paid by the fund as far as it can, the rest `written_off`.
//!
//! A rejected, cancelled or timed-out transfer books nothing (the decision only reserved the
//! fund's share), so a re-decision of the same position cannot count it twice. Invariants, to
//! the last unit: `bad_debt = fund_covered() + socialised + written_off` and
//! `fund_change = fees + fund_gain − fund_covered()` = the fund's balance change.
//!
//! `bad_debt` values a transfer at the mark the decision priced it against: it is the account's
//! negative equity at that mark, which the fund or counterparties take over. The mark is a
//! point-in-time valuation (in a flash crash, the trough), not cash: `written_off` in
//! particular is the part of that valuation the fund's balance could not absorb, not money any
//! account was left owing (that is the settled negative balances, `MarginCore::settled`).
//!
//! Per instrument ([`InstrumentMetrics`]): counts per tier, the sum and max of breach-to-order,
//! the quantity-weighted mean slippage of **book orders** (partial and full: the market's price)
//! and, separately, of **transfers** (backstop and ADL: the bankruptcy price, which is better than
//! the mark for the account when it is already past bankruptcy, so it is negative then — mixing
//! the two would hide the book's slippage), the mean fraction closed, total bad debt and its
//! split (`socialised` by ADL, `written_off`, the rest paid by the fund), total fund change, the
//! ADL count (positions deleveraged), escalations of unfilled full orders to the backstop, and
//! decisions deferred for pauses, budget or depth. All money is E8 of the instrument's margin
//! asset (quote for linear, the base coin for inverse); [`summary_table`] prints it as exact
//! decimals and bps as decimals (the per-order figures are bps × 10⁸).

use hotrisk_feed::wire::Tier;

/// Metrics of one decision (see the module docs for each definition).
///
/// It carries the decision's raw integers; the ratios ([`OrderMetrics::slippage_bps`],
/// [`OrderMetrics::fraction_closed`], [`OrderMetrics::mr_before`], [`OrderMetrics::mr_after`])
/// are computed when asked for, so the decision path does not pay the divisions of figures
/// nobody reads there (the per-instrument aggregate computes the two it sums, see
/// [`InstrumentMetrics::record`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderMetrics {
    /// The order's tier.
    pub tier: Tier,
    /// Record time from first breach to this decision, ns.
    pub breach_to_order_ns: i64,
    /// The mark slippage is measured against (E8); 0 where no slippage is reported (a
    /// cancel-all, an ADL counterparty's reduction).
    pub mark: i64,
    /// The price slippage is measured at (E8): the book walk's estimated VWAP for book orders,
    /// the transfer price for backstop and ADL.
    pub price: i64,
    /// The order sells (slippage is `mark − price` then, `price − mark` for a buy).
    pub sell: bool,
    /// The order's quantity (E8).
    pub qty: i64,
    /// The position's quantity before the order, unsigned (E8); 0 for a cancel-all.
    pub position_qty: i64,
    /// The tier's quantity before slicing by depth and budget (the partial's restoring quantity
    /// or the whole position), E8; the order's `qty` is at most this.
    pub target_qty: i64,
    /// The scope's maintenance and margin balance at the decision (E8).
    pub mm_before: i64,
    /// See `mm_before`.
    pub mb_before: i64,
    /// The scope's maintenance and margin balance after a complete fill at the limit that pays
    /// the fee (E8).
    pub mm_after: i64,
    /// See `mm_after`.
    pub mb_after: i64,
    /// Bad debt this decision hands on if its order fills completely (an estimate: the fill
    /// books the money), E8.
    pub bad_debt: i64,
    /// Insurance fund change if this decision's order fills completely (an estimate), E8.
    pub fund_change: i64,
}

impl OrderMetrics {
    /// Metrics with every figure zero (ratios 0, slippage 0) for `tier`.
    pub const fn zero(tier: Tier) -> Self {
        Self {
            tier,
            breach_to_order_ns: 0,
            mark: 0,
            price: 0,
            sell: false,
            qty: 0,
            position_qty: 0,
            target_qty: 0,
            mm_before: 0,
            mb_before: 1,
            mm_after: 0,
            mb_after: 1,
            bad_debt: 0,
            fund_change: 0,
        }
    }

    /// Slippage vs mark, basis points at E8 (see [`slippage_bps`]).
    pub fn slippage_bps(&self) -> i64 {
        slippage_bps(self.mark, self.price, self.sell)
    }

    /// Order quantity / position quantity, E8 (rounded down; 0 with no position).
    pub fn fraction_closed(&self) -> i64 {
        let pq = self.position_qty.max(1);
        if (0..=i64::MAX / hotrisk_feed::fixed::E8).contains(&self.qty) {
            // `qty·E8` fits an `i64` and both are non-negative: the floor is the unsigned
            // quotient (one division).
            let e8 = hotrisk_feed::fixed::E8 as u64;
            return ((self.qty as u64 * e8) / pq as u64) as i64;
        }
        crate::policy::spec::sat(crate::policy::spec::floor_div(
            i128::from(self.qty) * i128::from(hotrisk_feed::fixed::E8),
            i128::from(pq),
        ))
    }

    /// Margin ratio before, E8 (see [`margin_ratio`]).
    pub fn mr_before(&self) -> i64 {
        margin_ratio(self.mm_before, self.mb_before)
    }

    /// Margin ratio after a complete fill at the limit, E8 (see [`margin_ratio`]).
    pub fn mr_after(&self) -> i64 {
        margin_ratio(self.mm_after, self.mb_after)
    }
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
    /// Σ slippage_bps × qty of book orders (partial, full).
    pub slippage_qty_sum: i128,
    /// Σ qty of book orders.
    pub qty_sum: i128,
    /// Σ slippage_bps × qty of transfers (backstop, ADL) at the bankruptcy price.
    pub transfer_slippage_qty_sum: i128,
    /// Σ qty of transfers.
    pub transfer_qty_sum: i128,
    /// Σ fraction closed.
    pub fraction_sum: i128,
    /// Total bad debt, E8: the loss beyond margin of the transfers that filled (at the decision's
    /// mark) plus negative balances settled that no transfer already counted. Booked on fills
    /// and settlements, never at a decision (module docs).
    pub bad_debt: i128,
    /// Part of `bad_debt` carried by deleveraged counterparties (closed at the bankruptcy
    /// price instead of the mark), booked on their fills, less what a counterparty could not
    /// carry (settled below zero), E8.
    pub socialised: i128,
    /// Part of `bad_debt` nobody covered (beyond the fund's available balance when booked), E8.
    pub written_off: i128,
    /// Total insurance fund change (fees, takeovers, covered debt), E8: always
    /// `fees + fund_gain − fund_covered()`.
    pub fund_change: i128,
    /// Liquidation fees credited to the fund (on fills), E8.
    pub fees: i128,
    /// The fund's gains on positions it took over below their value at the mark (accounts with
    /// margin left: the remaining margin goes to the fund), booked on the transfer's fill, E8.
    pub fund_gain: i128,
    /// Positions auto-deleveraged.
    pub adl_count: u64,
    /// Full orders that came back short and sent the rest to the backstop or ADL.
    pub escalations: u64,
    /// Decisions skipped because the instrument was paused.
    pub paused: u64,
    /// Decisions deferred by the notional budget.
    pub budget_waits: u64,
    /// Decisions deferred because the book showed no depth within the bounds.
    pub depth_waits: u64,
}

impl InstrumentMetrics {
    /// Adds one decision (of quantity `m.qty`): counts, times, slippage, fractions — no money
    /// (see the module docs).
    pub fn record(&mut self, m: &OrderMetrics) {
        let slippage = if m.tier == Tier::Cancel {
            0
        } else {
            m.slippage_bps()
        };
        self.record_with(m, slippage);
    }

    /// [`InstrumentMetrics::record`] with `m.slippage_bps()` already computed (the policy
    /// divides by the mark with a reciprocal it keeps per mark).
    pub(crate) fn record_with(&mut self, m: &OrderMetrics, slippage_bps: i64) {
        self.orders_by_tier[m.tier as usize] += 1;
        if m.tier == Tier::Cancel {
            return;
        }
        let qty = m.qty;
        self.breach_to_order_sum_ns += i128::from(m.breach_to_order_ns);
        self.breach_to_order_max_ns = self.breach_to_order_max_ns.max(m.breach_to_order_ns);
        let (sum, q) = match m.tier {
            Tier::Backstop | Tier::Adl => (
                &mut self.transfer_slippage_qty_sum,
                &mut self.transfer_qty_sum,
            ),
            _ => (&mut self.slippage_qty_sum, &mut self.qty_sum),
        };
        *sum += i128::from(slippage_bps) * i128::from(qty);
        *q += i128::from(qty);
        self.fraction_sum += i128::from(m.fraction_closed());
        // The money fields are not booked here (a decision moves no money): see
        // `policy::insurance` — fills book them.
    }

    /// Liquidation decisions (all tiers but the cancel).
    pub fn decisions(&self) -> u64 {
        self.orders_by_tier[1..].iter().sum()
    }

    /// Quantity-weighted mean slippage of book orders, bps E8 (0 with no orders).
    pub fn mean_slippage_bps(&self) -> i64 {
        mean(self.slippage_qty_sum, self.qty_sum)
    }

    /// Quantity-weighted mean distance of transfer prices from the mark, bps E8 (0 with none).
    pub fn mean_transfer_slippage_bps(&self) -> i64 {
        mean(self.transfer_slippage_qty_sum, self.transfer_qty_sum)
    }

    /// Part of the bad debt the insurance fund paid, E8.
    pub fn fund_covered(&self) -> i128 {
        self.bad_debt - self.socialised - self.written_off
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

fn mean(sum: i128, n: i128) -> i64 {
    if n == 0 {
        0
    } else {
        crate::policy::spec::sat(crate::policy::spec::floor_div(sum, n))
    }
}

/// An E8 amount as an exact decimal (`-12.5`, `0`).
pub fn dec_e8(v: i128) -> String {
    hotrisk_feed::fixed::FixedDisplay {
        value: v,
        digits: 8,
    }
    .to_string()
}

/// bps × 10⁸ as decimal bps with two places, rounded toward zero (`-52.12`).
pub fn bps_e8(v: i64) -> String {
    let cents = i128::from(v) / 1_000_000; // bps × 100
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    format!("{sign}{}.{:02}", c / 100, c % 100)
}

/// A display label for an instrument's margin asset: the quote suffix of a linear symbol
/// (`BTCUSDT` → `USDT`), the base of an inverse one (`BTCUSD` → `BTC`); `quote` / `coin` when
/// the symbol does not say.
pub fn margin_asset(symbol: &str, inverse: bool) -> &str {
    const QUOTES: [&str; 5] = ["USDT", "USDC", "BUSD", "FDUSD", "USD"];
    if inverse {
        return match symbol.find("USD") {
            Some(n) if n > 0 => &symbol[..n],
            _ => "coin",
        };
    }
    QUOTES
        .iter()
        .find(|q| symbol.len() > q.len() && symbol.ends_with(*q))
        .map_or("quote", |q| &symbol[symbol.len() - q.len()..])
}

/// The per-instrument liquidation table and the insurance-fund line, for end-of-run summaries.
/// `instruments` gives each instrument's symbol and margin asset label (e.g. `"quote"`);
/// money is printed as exact decimals of that asset, slippage in bps.
pub fn summary_table<'a>(
    instruments: impl IntoIterator<Item = (&'a str, &'a str, &'a InstrumentMetrics)>,
    fund: &crate::policy::insurance::InsuranceFund,
) -> String {
    use std::fmt::Write as _;
    let mut s = String::from("liquidations (decisions by tier; money in each instrument's margin asset; slippage in bps vs mark, + = worse for the account):\n");
    let _ = writeln!(
        s,
        "{:<10} {:>7} {:>7} {:>7} {:>8} {:>6} {:>9} {:>10} {:>10} {:>16} {:>16} {:>16} {:>16} {:>7}",
        "instrument",
        "cancel",
        "partial",
        "full",
        "backstop",
        "adl",
        "escalated",
        "book slip",
        "bp vs mark",
        "bad debt",
        "fund paid",
        "adl socialised",
        "written off",
        "paused"
    );
    let rows: Vec<_> = instruments.into_iter().collect();
    for &(symbol, asset, m) in &rows {
        let t = m.orders_by_tier;
        let _ = writeln!(
            s,
            "{:<10} {:>7} {:>7} {:>7} {:>8} {:>6} {:>9} {:>10} {:>10} {:>16} {:>16} {:>16} {:>16} {:>7}",
            symbol,
            t[0],
            t[1],
            t[2],
            t[3],
            t[4],
            m.escalations,
            bps_e8(m.mean_slippage_bps()),
            bps_e8(m.mean_transfer_slippage_bps()),
            format!("{} {asset}", dec_e8(m.bad_debt)),
            dec_e8(m.fund_covered()),
            dec_e8(m.socialised),
            dec_e8(m.written_off),
            m.paused
        );
    }
    let sum = |f: fn(&InstrumentMetrics) -> i128| rows.iter().map(|r| f(r.2)).sum::<i128>();
    let _ = writeln!(
        s,
        "insurance fund{}: balance {}, change {} = fees {} + takeover gains {} - bad debt paid {}",
        match rows.first() {
            Some((_, a, _)) if rows.iter().all(|r| r.1 == *a) => format!(" ({a})"),
            _ => String::new(),
        },
        dec_e8(i128::from(fund.balance())),
        dec_e8(i128::from(fund.change())),
        dec_e8(sum(|m| m.fees)),
        dec_e8(sum(|m| m.fund_gain)),
        dec_e8(sum(|m| m.fund_covered())),
    );
    s
}

/// Slippage of `price` vs `mark` for an order on a sell (`sell = true`) or buy, bps at E8
/// (rounded down).
pub fn slippage_bps(mark: i64, price: i64, sell: bool) -> i64 {
    if mark <= 0 {
        return 0;
    }
    // In i128: the difference of two `i64` cannot overflow there.
    let (m, p) = (i128::from(mark), i128::from(price));
    let d = if sell { m - p } else { p - m };
    crate::policy::spec::floor_div(d * 10_000 * hotrisk_feed::fixed::E8 as i128, mark as i128)
        as i64
}

/// [`slippage_bps`] with the division by the mark done by `mark_div` (the mark's reciprocal,
/// kept by the policy per mark). The same bits whenever `mark_div` divides by `mark`.
#[inline]
pub(crate) fn slippage_bps_by(
    mark: i64,
    price: i64,
    sell: bool,
    mark_div: &crate::policy::spec::DivWide,
) -> i64 {
    if mark <= 0 || mark_div.divisor() != mark as u64 {
        return slippage_bps(mark, price, sell);
    }
    let d = if sell {
        i128::from(mark) - i128::from(price)
    } else {
        i128::from(price) - i128::from(mark)
    };
    // |d| < 2^64, so |d|·10^12 < 2^104: no overflow.
    match mark_div.div_rem(d.unsigned_abs() * 1_000_000_000_000) {
        // ⌊d·10^12/mark⌋: the quotient for d ≥ 0, minus one more when inexact below 0. The
        // `as i64` is [`slippage_bps`]'s own conversion.
        Some((q, r)) => {
            let q = i128::from(q);
            let v = if d >= 0 { q } else { -q - i128::from(r != 0) };
            v as i64
        }
        None => slippage_bps(mark, price, sell),
    }
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
        // a sell 4 bps below a mark of 10 000, a quarter of the position
        let m = OrderMetrics {
            tier: Tier::Partial,
            breach_to_order_ns: 10,
            mark: 10_000 * E8,
            price: 9_996 * E8,
            sell: true,
            qty: 3,
            position_qty: 12,
            mm_before: 10,
            mb_before: 10,
            mm_after: 5,
            mb_after: 10,
            ..OrderMetrics::zero(Tier::Partial)
        };
        assert_eq!(
            (
                m.slippage_bps(),
                m.fraction_closed(),
                m.mr_before(),
                m.mr_after()
            ),
            (4 * E8, E8 / 4, E8, E8 / 2)
        );
        a.record(&m);
        a.record(&OrderMetrics {
            price: 10_000 * E8,
            qty: 1,
            breach_to_order_ns: 30,
            ..m
        });
        assert_eq!(a.mean_slippage_bps(), 3 * E8);
        assert_eq!(a.fraction_sum, i128::from(E8 / 4 + E8 / 12));
        assert_eq!(a.breach_to_order_max_ns, 30);
        assert_eq!(a.mean_breach_to_order_ns(), 20);
    }

    proptest::proptest! {
        #[test]
        fn fraction_closed_is_the_floor(qty in proptest::num::i64::ANY, pq in proptest::num::i64::ANY, shift in 0u32..64) {
            for (qty, pq) in [(qty, pq), (qty >> shift, pq >> shift), (qty.abs() >> shift, pq.abs()), (i64::MAX / E8, 3), (i64::MAX / E8 + 1, 3)] {
                let m = OrderMetrics { qty, position_qty: pq, ..OrderMetrics::zero(Tier::Full) };
                let want = crate::policy::spec::sat((i128::from(qty) * i128::from(E8)).div_euclid(i128::from(pq.max(1))));
                proptest::prop_assert_eq!(m.fraction_closed(), want);
            }
        }

        #[test]
        fn slippage_by_reciprocal_is_exact(mark in 1i64.., price in proptest::num::i64::ANY, sell in proptest::bool::ANY, small in 1i64..1 << 40) {
            for (mark, price) in [(mark, price), (small, price), (mark, mark - small), (small, small + 7), (mark, 0), (1, i64::MAX), (1, i64::MIN), (i64::MAX, i64::MIN)] {
                let div = crate::policy::spec::DivWide::new(mark as u64);
                proptest::prop_assert_eq!(slippage_bps_by(mark, price, sell, &div), slippage_bps(mark, price, sell));
            }
        }
    }

    #[test]
    fn transfers_are_kept_apart_from_the_book_slippage() {
        let mut a = InstrumentMetrics::default();
        // 5 bps below a mark of 10 000
        let full = OrderMetrics {
            mark: 10_000 * E8,
            price: 9_995 * E8,
            sell: true,
            qty: 2 * E8,
            position_qty: 2 * E8,
            ..OrderMetrics::zero(Tier::Full)
        };
        a.record(&full);
        // a position past bankruptcy, taken over 100 bps above the mark for a long
        let backstop = OrderMetrics {
            tier: Tier::Backstop,
            price: 10_100 * E8,
            qty: 8 * E8,
            position_qty: 8 * E8,
            bad_debt: 7 * E8,
            fund_change: -7 * E8,
            ..full
        };
        a.record(&backstop);
        assert_eq!(a.mean_slippage_bps(), 5 * E8);
        assert_eq!(a.mean_transfer_slippage_bps(), -100 * E8);
        // A decision moves no money: the fills book it (`policy::insurance`).
        assert_eq!((a.bad_debt, a.fund_change, a.fund_covered()), (0, 0, 0));
    }

    #[test]
    fn the_summary_prints_decimals_in_the_margin_asset() {
        assert_eq!(bps_e8(-5_212_177_118), "-52.12");
        assert_eq!(bps_e8(196_000_000), "1.96");
        assert_eq!(bps_e8(-1), "0.00");
        assert_eq!(dec_e8(1_622_088_748_070_000), "16220887.4807");
        assert_eq!(dec_e8(-12_345), "-0.00012345");
        assert_eq!(margin_asset("BTCUSDT", false), "USDT");
        assert_eq!(margin_asset("BTCUSD_PERP", true), "BTC");
        assert_eq!(margin_asset("XYZ", false), "quote");
        let mut m = InstrumentMetrics {
            escalations: 4,
            ..InstrumentMetrics::default()
        };
        // 1.96 bps below a mark of 10 000 (0.0196 below 100: a sell at 99.9804)
        m.record(&OrderMetrics {
            mark: 100 * E8,
            price: 9_998_040_000,
            sell: true,
            qty: E8,
            position_qty: E8,
            ..OrderMetrics::zero(Tier::Full)
        });
        m.bad_debt = 1_622_088_748_070_000;
        m.socialised = 1_000_000_000_000_000;
        let fund = crate::policy::insurance::InsuranceFund::new(100 * E8);
        let t = summary_table([("BTCUSDT", "USDT", &m)], &fund);
        assert!(t.contains("16220887.4807 USDT"), "{t}");
        assert!(t.contains("6220887.4807"), "fund's share: {t}");
        assert!(t.contains(" 1.96 "), "{t}");
        assert!(
            t.contains("insurance fund (USDT): balance 100, change 0"),
            "{t}"
        );
        assert!(!t.contains("E8"), "no raw fixed-point: {t}");
    }
}
