//! Slow, obviously-correct versions of the decision kernels, for equivalence tests only.
//!
//! The fast kernels ([`super::tiers::partial_qty`], [`super::sizing::walk`]) are tuned for the
//! decision benchmark: specialised divisions by the E8 scale, an incremental book walk, a
//! per-instrument table prepared at start-up. This module keeps the original algorithms written
//! with plain `i128::div_euclid` arithmetic and nothing clever, so that
//! `tests/policy_fastpath.rs` can check on random inputs that the fast versions return **the
//! same bits**. Not used by the engine.

use super::book::BookSide;
use super::sizing::Sized;
use super::spec::{ContractKind, InstrumentSpec};
use super::tiers::PartialInput;
use hotrisk_feed::fixed::E8;
use hotrisk_feed::wire::Side;

const E8W: i128 = E8 as i128;

fn fl(a: i128, b: i128) -> i128 {
    a.div_euclid(b)
}

fn ce(a: i128, b: i128) -> i128 {
    -(-a).div_euclid(b)
}

fn sat(v: i128) -> i64 {
    v.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// Notional, rounded up (see [`InstrumentSpec::notional`]).
pub fn notional(s: &InstrumentSpec, q: i64, p: i64) -> i64 {
    sat(match s.kind {
        ContractKind::Linear => ce(q as i128 * p as i128, E8W),
        ContractKind::Inverse => ce(q as i128 * s.contract_size as i128, p as i128),
    })
}

/// Maintenance of a notional (see [`InstrumentSpec::maintenance`]).
pub fn maintenance(s: &InstrumentSpec, n: i64) -> i64 {
    let b = s.brackets();
    let mut t = 0;
    while t + 1 < b.len() && n > b[t].cap {
        t += 1;
    }
    sat((ce(n as i128 * b[t].mmr as i128, E8W) - b[t].cum as i128).max(0))
}

/// Close loss (see [`InstrumentSpec::close_loss`]).
pub fn close_loss(s: &InstrumentSpec, sign: i64, q: i64, mark: i64, fill: i64) -> i64 {
    let q = q as i128;
    sat(match s.kind {
        ContractKind::Linear => ce(sign as i128 * q * (mark - fill) as i128, E8W),
        ContractKind::Inverse => {
            let qf = q * s.contract_size as i128;
            if sign > 0 {
                ce(qf, fill as i128) - fl(qf, mark as i128)
            } else {
                ce(qf, mark as i128) - fl(qf, fill as i128)
            }
        }
    })
}

/// Liquidation fee, uncapped.
pub fn fee(s: &InstrumentSpec, q: i64, p: i64) -> i64 {
    let n = notional(s, q, p);
    sat(ce(n as i128 * s.fee_rate as i128, E8W))
}

/// The partial slack (see [`super::tiers::partial_slack`]).
pub fn partial_slack(s: &InstrumentSpec, p: &PartialInput, x: i64) -> i64 {
    let mm = maintenance(s, notional(s, p.abs_qty - x, p.mark));
    let loss = close_loss(s, p.sign, x, p.mark, p.limit);
    let fee = fee(s, x, p.limit);
    let need = ce(
        (p.mm_others as i128 + mm as i128) * (E8W + p.buffer as i128),
        E8W,
    );
    sat(p.margin_balance as i128 - loss as i128 - fee as i128 - need)
}

fn qty_at_cap(s: &InstrumentSpec, cap: i64, mark: i64) -> i128 {
    match s.kind {
        ContractKind::Linear => fl(cap as i128 * E8W, mark as i128),
        ContractKind::Inverse => fl(cap as i128 * mark as i128, s.contract_size as i128),
    }
}

/// The partial quantity, by the original bracket-by-bracket guess and lot-stepping verification.
pub fn partial_qty(s: &InstrumentSpec, p: &PartialInput) -> Option<i64> {
    let (q, lot) = (p.abs_qty, s.lot);
    if q <= lot || p.mark <= 0 || p.limit <= 0 {
        return None;
    }
    let (m, l, r) = (p.mark as i128, p.limit as i128, s.fee_rate as i128);
    let (np, lp, fp) = match s.kind {
        ContractKind::Linear => (m, p.sign as i128 * (m - l), ce(l * r, E8W)),
        ContractKind::Inverse => {
            let f = s.contract_size as i128 * E8W;
            let loss = if p.sign > 0 {
                ce(f, l) - fl(f, m)
            } else {
                ce(f, m) - fl(f, l)
            };
            (fl(f, m), loss, ce(ce(f, l) * r, E8W))
        }
    };
    let brackets = s.brackets();
    let n0 = notional(s, q, p.mark);
    let mut t = s.bracket_of(n0);
    let need0 = ce(
        (p.mm_others as i128 + maintenance(s, n0) as i128) * (E8W + p.buffer as i128),
        E8W,
    );
    let slack0 = sat(p.margin_balance as i128 - need0);
    let mut x_start = 0i64;
    let mut guess: Option<i64> = None;
    loop {
        let slack = if x_start == 0 {
            slack0
        } else {
            partial_slack(s, p, x_start)
        };
        if slack >= 0 {
            guess = Some(x_start);
            break;
        }
        let freed = fl(
            fl(np * brackets[t].mmr as i128 * (E8W + p.buffer as i128), E8W),
            E8W,
        );
        let k = freed - lp - fp;
        if k <= 0 {
            break;
        }
        let x = x_start as i128 + ce(-(slack as i128) * E8W, k);
        let x_end = if t == 0 {
            q as i128
        } else {
            q as i128 - qty_at_cap(s, brackets[t - 1].cap, p.mark)
        };
        if x <= x_end || t == 0 {
            guess = Some(sat(x));
            break;
        }
        t -= 1;
        x_start = sat(x_end).max(x_start);
    }
    let g = guess?.max(0) as i128;
    let mut x = sat(ce(g, lot as i128) * lot as i128).max(lot);
    let mut steps = 0;
    while x < q && partial_slack(s, p, x) < 0 {
        x += lot;
        steps += 1;
        if steps > 64 {
            return None;
        }
    }
    if x >= q {
        return None;
    }
    while x - lot >= lot && partial_slack(s, p, x - lot) >= 0 {
        x -= lot;
        steps += 1;
        if steps > 128 {
            break;
        }
    }
    Some(x)
}

/// The original book walk (see [`super::sizing::walk`]).
pub fn walk(
    s: &InstrumentSpec,
    levels: &BookSide,
    side: Side,
    want: i64,
    limit: i64,
    bankruptcy: Option<i64>,
) -> Sized {
    let px = levels.prices();
    let qty = levels.quantities();
    let within = |p: i64, bound: i64| match side {
        Side::Sell => p >= bound,
        Side::Buy => p <= bound,
    };
    let mut take = 0i64;
    let mut cost = 0i128;
    let mut to_bp = 0i64;
    let mut n = 0u32;
    let mut last_i = 0usize;
    let mut last_t = 0i64;
    for i in 0..px.len() {
        let p = px[i];
        let in_limit = within(p, limit);
        let in_bp = match bankruptcy {
            Some(bp) => within(p, bp),
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
    let lots = take.max(0) / s.lot * s.lot;
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
        match side {
            Side::Sell => sat(fl(c, lots as i128)),
            Side::Buy => sat(ce(c, lots as i128)),
        }
    } else {
        0
    };
    Sized {
        qty: lots,
        limit_price: limit,
        vwap,
        depth_to_bankruptcy: to_bp,
        levels: n,
    }
}

/// The original limit price (see [`super::sizing::limit_price`]).
pub fn limit_price(
    s: &InstrumentSpec,
    side: Side,
    mark: i64,
    slippage: i64,
    bankruptcy: Option<i64>,
) -> Option<i64> {
    let (m, sl, t) = (mark as i128, slippage as i128, s.tick as i128);
    let p = match side {
        Side::Sell => {
            let b = sat(ce(m * (E8W - sl), E8W));
            let p = bankruptcy.map_or(b, |bp| b.max(bp));
            sat(ce(p as i128, t) * t)
        }
        Side::Buy => {
            let b = sat(fl(m * (E8W + sl), E8W));
            let p = bankruptcy.map_or(b, |bp| b.min(bp));
            sat(fl(p as i128, t) * t)
        }
    };
    (p > 0).then_some(p)
}
