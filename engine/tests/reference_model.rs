//! Differential test: the fixed-point hot path against a slow, exact reference.
//!
//! The reference below is written from the definitions of `../shared/spec/margin-and-liquidation.md`
//! in exact rationals (`num-rational` over big integers) and shares no code with the engine: it
//! derives the maintenance amounts from the table itself, finds the tier by scanning caps,
//! and solves the liquidation price tier by tier, keeping the root whose own tier matches.
//!
//! On random portfolios (linear and inverse, cross and isolated, long and short, 1–6 tiers) and
//! random price paths (ticks of up to ±15%, which move positions across tiers and across
//! maintenance), after every tick, for every position:
//! - notional = ceil(exact) (linear: exact);
//! - uPnL ≤ exact and within 2·10^-16 (linear: exact);
//! - maintenance ≥ exact and within 2·10^-16; bracket = exact tier (an inverse notional rounded
//!   up across a cap may report the next tier, never a lower one);
//! - the liquidation and bankruptcy prices equal the exact solution for the engine's own inputs,
//!   rounded against the account (long up, short down), and lie on the account's bad side of the
//!   exact solution for the exact inputs;
//! - the tracked status of every margin unit is never "healthy" when the exact slack is ≤ 0, and
//!   "liquidatable" only when the exact slack is within the rounding tolerance of 0.

mod common;

use common::{next_mark, world, Pos, E8};
use hotrisk_engine::margin::{Crossings, InstrumentSpec, Kind, MarginMode, MarginState, CROSS};
use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{Signed, Zero};
use proptest::prelude::*;

type Q = BigRational;

fn int(v: i128) -> Q {
    Q::from_integer(BigInt::from(v))
}
fn e8(v: i64) -> Q {
    int(v.into()) / int(E8.into())
}
fn money(v: i128) -> Q {
    int(v) / int(10i128.pow(16))
}
/// `x · 10^k` rounded towards −∞ / +∞ as an integer.
fn scaled_floor(x: &Q, k: u32) -> BigInt {
    (x * int(10i128.pow(k))).floor().to_integer()
}
fn scaled_ceil(x: &Q, k: u32) -> BigInt {
    (x * int(10i128.pow(k))).ceil().to_integer()
}

/// The reference instrument: the spec's table, `cum` derived by its definition.
struct RefInst {
    kind: Kind,
    face: Q,
    caps: Vec<Option<Q>>,
    mmr: Vec<Q>,
    cum: Vec<Q>,
}

impl RefInst {
    fn new(s: &InstrumentSpec) -> Self {
        let caps: Vec<Option<Q>> = s
            .brackets
            .iter()
            .map(|b| b.notional_cap_e8.map(e8))
            .collect();
        let mmr: Vec<Q> = s
            .brackets
            .iter()
            .map(|b| e8(b.maintenance_margin_rate_e8))
            .collect();
        let mut cum = vec![Q::zero()];
        for n in 1..mmr.len() {
            let c = &cum[n - 1] + caps[n - 1].clone().unwrap() * (&mmr[n] - &mmr[n - 1]);
            cum.push(c);
        }
        Self {
            kind: s.kind,
            face: e8(s.contract_size_e8),
            caps,
            mmr,
            cum,
        }
    }
    fn tier(&self, n: &Q) -> usize {
        self.caps
            .iter()
            .position(|c| c.as_ref().is_none_or(|c| n <= c))
            .unwrap_or(self.caps.len() - 1)
    }
    fn notional(&self, q: &Q, m: &Q) -> Q {
        match self.kind {
            Kind::Linear => q.abs() * m,
            Kind::Inverse => q.abs() * &self.face / m,
        }
    }
    /// `entry_term`: linear `q·e`, inverse `q·F/e`.
    fn entry_term(&self, q: &Q, e: &Q) -> Q {
        match self.kind {
            Kind::Linear => q * e,
            Kind::Inverse => q * &self.face / e,
        }
    }
    fn upnl(&self, q: &Q, entry_term: &Q, m: &Q) -> Q {
        match self.kind {
            Kind::Linear => q * m - entry_term,
            Kind::Inverse => entry_term - q * &self.face / m,
        }
    }
    fn mm(&self, n: &Q) -> (Q, usize) {
        let t = self.tier(n);
        (n * &self.mmr[t] - &self.cum[t], t)
    }
    fn slack(&self, q: &Q, et: &Q, m: &Q) -> Q {
        self.upnl(q, et, m) - self.mm(&self.notional(q, m)).0
    }
    /// The mark solving `others + U(m) = MM(m)`, tier matched; `None` if no positive root.
    fn liquidation(&self, q: &Q, et: &Q, others: &Q) -> Option<Q> {
        let mut found: Option<Q> = None;
        for t in 0..self.mmr.len() {
            let m = match self.kind {
                Kind::Linear => {
                    let den = q.abs() * &self.mmr[t] - q;
                    (others + &self.cum[t] - et) / den
                }
                Kind::Inverse => {
                    let den = others + &self.cum[t] + et;
                    if den.is_zero() {
                        continue;
                    }
                    &self.face * (q + q.abs() * &self.mmr[t]) / den
                }
            };
            if m.is_positive() && self.tier(&self.notional(q, &m)) == t {
                found = Some(m);
            }
        }
        found
    }
    fn bankruptcy(&self, q: &Q, et: &Q, others: &Q) -> Option<Q> {
        let m = match self.kind {
            Kind::Linear => (et - others) / q,
            Kind::Inverse => {
                let den = others + et;
                if den.is_zero() {
                    return None;
                }
                q * &self.face / den
            }
        };
        m.is_positive().then_some(m)
    }
}

fn against(q: &Q, price: &Q) -> i64 {
    let v = if q.is_positive() {
        scaled_ceil(price, 8)
    } else {
        scaled_floor(price, 8)
    };
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Checks every position and unit of the state against the reference.
fn check(st: &MarginState, insts: &[RefInst], w: &common::World) -> Result<(), TestCaseError> {
    let marks: Vec<Q> = (0..insts.len())
        .map(|i| e8(st.mark(i as u16).unwrap()))
        .collect();
    for &(acct, wallet) in &w.wallets {
        let cross: Vec<&Pos> = w
            .positions
            .iter()
            .filter(|p| p.account == acct && p.isolated_margin_e8.is_none())
            .collect();
        let exact_slack_of = |p: &Pos| {
            let ri = &insts[usize::from(p.instr)];
            let q = e8(p.qty_e8);
            ri.slack(
                &q,
                &ri.entry_term(&q, &e8(p.entry_e8)),
                &marks[usize::from(p.instr)],
            )
        };
        let exact_upnl_of = |p: &Pos| {
            let ri = &insts[usize::from(p.instr)];
            let q = e8(p.qty_e8);
            ri.upnl(
                &q,
                &ri.entry_term(&q, &e8(p.entry_e8)),
                &marks[usize::from(p.instr)],
            )
        };
        // Unit statuses.
        let tol = |n: usize| money(4 * n as i128 + 4);
        let cross_slack: Q = e8(wallet)
            + cross
                .iter()
                .map(|p| exact_slack_of(p))
                .fold(Q::zero(), |a, b| a + b);
        let tracked = st.tracked_liquidatable(acct, CROSS).unwrap();
        if !cross.is_empty() {
            prop_assert!(
                cross_slack > Q::zero() || tracked,
                "account {acct}: exact slack {cross_slack} ≤ 0 but tracked healthy"
            );
            prop_assert!(
                !(tracked && cross_slack > tol(cross.len())),
                "account {acct}: tracked liquidatable, exact slack {cross_slack}"
            );
        } else {
            prop_assert!(!tracked);
        }
        prop_assert_eq!(
            st.account(acct).unwrap().liquidatable,
            tracked,
            "account {}: tracked status differs from a fresh evaluation",
            acct
        );
        for p in w.positions.iter().filter(|p| p.account == acct) {
            let ri = &insts[usize::from(p.instr)];
            let m = &marks[usize::from(p.instr)];
            let q = e8(p.qty_e8);
            let et = ri.entry_term(&q, &e8(p.entry_e8));
            let fx = st.position(acct, p.instr).unwrap();
            let ctx = format!("account {acct} instr {} {:?} mark {m}", p.instr, ri.kind);
            // Notional.
            let n = ri.notional(&q, m);
            prop_assert_eq!(
                BigInt::from(fx.notional),
                scaled_ceil(&n, 16),
                "{}: notional",
                ctx
            );
            // uPnL.
            let u = ri.upnl(&q, &et, m);
            let fu = money(fx.unrealized_pnl);
            prop_assert!(
                fu <= u && &u - &fu < money(3),
                "{}: upnl {} vs exact {}",
                ctx,
                fu,
                u
            );
            if ri.kind == Kind::Linear {
                prop_assert!(fu == u, "{}: linear upnl must be exact", ctx);
            }
            // Maintenance and bracket.
            let (mm, t) = ri.mm(&n);
            let fmm = money(fx.maintenance_margin);
            prop_assert!(
                fmm >= mm && &fmm - &mm < money(2),
                "{}: mm {} vs exact {}",
                ctx,
                fmm,
                mm
            );
            let ok_bracket =
                fx.bracket == t + 1 || (ri.kind == Kind::Inverse && fx.bracket == t + 2);
            prop_assert!(
                ok_bracket,
                "{}: bracket {} vs exact tier {}",
                ctx,
                fx.bracket,
                t + 1
            );
            // Others, exactly.
            let (others_slack, others_eq) = match p.isolated_margin_e8 {
                Some(img) => (e8(img), e8(img)),
                None => {
                    let rest: Vec<&&Pos> = cross.iter().filter(|o| o.instr != p.instr).collect();
                    (
                        e8(wallet)
                            + rest
                                .iter()
                                .map(|o| exact_slack_of(o))
                                .fold(Q::zero(), |a, b| a + b),
                        e8(wallet)
                            + rest
                                .iter()
                                .map(|o| exact_upnl_of(o))
                                .fold(Q::zero(), |a, b| a + b),
                    )
                }
            };
            prop_assert!(
                money(fx.others_slack) <= others_slack,
                "{}: others slack above exact",
                ctx
            );
            prop_assert!(
                money(fx.others_equity) <= others_eq,
                "{}: others equity above exact",
                ctx
            );
            // Liquidation price: exact for the engine's inputs, rounded against the account…
            let basis = money(fx.basis);
            let lp_fixed_inputs = ri.liquidation(&q, &basis, &money(fx.others_slack));
            let lp_exact_inputs = ri.liquidation(&q, &et, &others_slack);
            prop_assert_eq!(
                fx.liquidation_price_e8,
                lp_fixed_inputs.as_ref().map(|x| against(&q, x)),
                "{}: liquidation price",
                ctx
            );
            // …and on the bad side of the exact solution.
            if let (Some(a), Some(b)) = (&lp_fixed_inputs, &lp_exact_inputs) {
                prop_assert!(
                    if q.is_positive() { a >= b } else { a <= b },
                    "{}: liq price on the account's good side",
                    ctx
                );
            }
            let bp_fixed_inputs = ri.bankruptcy(&q, &basis, &money(fx.others_equity));
            let bp_exact_inputs = ri.bankruptcy(&q, &et, &others_eq);
            prop_assert_eq!(
                fx.bankruptcy_price_e8,
                bp_fixed_inputs.as_ref().map(|x| against(&q, x)),
                "{}: bankruptcy price",
                ctx
            );
            if let (Some(a), Some(b)) = (&bp_fixed_inputs, &bp_exact_inputs) {
                prop_assert!(
                    if q.is_positive() { a >= b } else { a <= b },
                    "{}: bankruptcy price on the account's good side",
                    ctx
                );
            }
            // The basis is the entry term, exact for linear, floored for inverse.
            prop_assert!(basis <= et && &et - &basis < money(1), "{}: basis", ctx);
            if let Some(img) = p.isolated_margin_e8 {
                prop_assert_eq!(fx.mode, MarginMode::Isolated);
                let s = e8(img) + &u - &mm;
                let tr = st.tracked_liquidatable(acct, p.instr).unwrap();
                prop_assert!(
                    s > Q::zero() || tr,
                    "{}: isolated exact slack {} ≤ 0 but tracked healthy",
                    ctx,
                    s
                );
                prop_assert!(
                    !(tr && s > tol(1)),
                    "{}: isolated tracked liquidatable, exact slack {}",
                    ctx,
                    s
                );
                prop_assert_eq!(fx.liquidatable, tr);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn fixed_point_agrees_with_the_exact_reference(seed in any::<u64>(), steps in 1usize..40) {
        let w = world(seed);
        let insts: Vec<RefInst> = w.specs.iter().map(RefInst::new).collect();
        let mut st = common::build(&w);
        check(&st, &insts, &w)?;
        let mut r = common::rng(seed ^ 0x5eed);
        let mut out = Crossings::with_capacity(st.crossings_capacity());
        for _ in 0..steps {
            let i = rand::Rng::gen_range(&mut r, 0..insts.len()) as u16;
            let inst = st.instrument(i).unwrap().clone();
            let m = next_mark(&mut r, &inst, st.mark(i).unwrap(), 15.0);
            out.clear();
            st.on_mark(i, m, &mut out).unwrap();
            check(&st, &insts, &w)?;
        }
    }
}
