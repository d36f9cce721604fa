//! Random instruments, portfolios and price paths for the property tests (seeded, so a failing
//! case is reproduced by its seed).
#![allow(dead_code, unreachable_pub)]

use hotrisk_engine::margin::{
    BracketSpec, Instrument, InstrumentSpec, Kind, MarginMode, MarginState,
};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

pub const E8: i64 = 100_000_000;

pub fn rng(seed: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed)
}

/// A position as loaded (exact inputs known to the reference).
#[derive(Debug, Clone, Copy)]
pub struct Pos {
    pub account: u32,
    pub instr: u16,
    pub qty_e8: i64,
    pub entry_e8: i64,
    pub isolated_margin_e8: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct World {
    pub specs: Vec<InstrumentSpec>,
    pub marks: Vec<i64>,
    pub wallets: Vec<(u32, i64)>,
    pub positions: Vec<Pos>,
}

const RATES: [i64; 11] = [
    400_000, 500_000, 650_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 12_500_000, 15_000_000,
    25_000_000, 50_000_000,
];

/// A random instrument and a mark on its grid. Bracket caps are placed around the notionals the
/// generated positions will have, so positions fall in every tier and ticks move them across.
pub fn instrument(r: &mut impl Rng, id: usize) -> (InstrumentSpec, i64, i64) {
    let kind = if r.gen_bool(0.5) {
        Kind::Linear
    } else {
        Kind::Inverse
    };
    let tick = [100_000i64, 1_000_000, 10_000_000, 50_000_000][r.gen_range(0..4)];
    let (lot, contract) = match kind {
        Kind::Linear => ([100_000i64, 1_000_000, E8][r.gen_range(0..3)], E8),
        Kind::Inverse => (E8, [1i64, 10, 100][r.gen_range(0..3)] * E8),
    };
    // Mark: 100 .. 100 000 ticks above 10 ticks, on the grid.
    let mark = tick * r.gen_range(1_000..200_000);
    // Typical |qty| (E8): 1..2000 lots.
    let typical_lots: i64 = r.gen_range(1..2_000);
    let typical_notional_e8: i128 = match kind {
        Kind::Linear => i128::from(typical_lots * lot) * i128::from(mark) / i128::from(E8),
        Kind::Inverse => i128::from(typical_lots * lot) * i128::from(contract) / i128::from(mark),
    };
    let n_tiers = r.gen_range(1..=6);
    let mut rate_ix: Vec<usize> = (0..RATES.len()).collect();
    rate_ix.sort_by_key(|_| r.gen::<u32>());
    let mut rates: Vec<i64> = rate_ix[..n_tiers].iter().map(|&i| RATES[i]).collect();
    rates.sort_unstable();
    let mut cap = (typical_notional_e8 / 8).max(1_000_000) as i64;
    let mut brackets = Vec::new();
    for (t, &mmr) in rates.iter().enumerate() {
        let last = t + 1 == n_tiers;
        brackets.push(BracketSpec {
            notional_cap_e8: (!last).then_some(cap),
            max_leverage_e8: (E8 * E8 / (2 * mmr)).max(E8),
            maintenance_margin_rate_e8: mmr,
            maintenance_amount_e8: None,
        });
        cap = cap.saturating_mul(r.gen_range(2..5));
    }
    let spec = InstrumentSpec {
        symbol: format!("I{id}"),
        kind,
        tick_size_e8: tick,
        lot_size_e8: lot,
        contract_size_e8: contract,
        liquidation_fee_rate_e8: 500_000,
        brackets,
    };
    (spec, mark, typical_lots * lot)
}

/// A random world: 1–4 instruments, 1–6 accounts, each with up to one position per instrument,
/// cross (sharing the margin asset rule: all linear, or one inverse) or isolated, long or short,
/// with balances that put some accounts near or below maintenance.
pub fn world(seed: u64) -> World {
    let mut r = rng(seed);
    let n_instr = r.gen_range(1..=4);
    let mut specs = Vec::new();
    let mut marks = Vec::new();
    let mut typical = Vec::new();
    for i in 0..n_instr {
        let (s, m, q) = instrument(&mut r, i);
        specs.push(s);
        marks.push(m);
        typical.push(q);
    }
    let n_acc = r.gen_range(1..=6);
    let mut wallets = Vec::new();
    let mut positions = Vec::new();
    for a in 0..n_acc {
        let id = 100 + a as u32 * 7;
        let mut cross_kind: Option<(Kind, usize)> = None;
        let mut margin_need: i128 = 0;
        for (i, s) in specs.iter().enumerate() {
            if !r.gen_bool(0.6) {
                continue;
            }
            let lots = (typical[i] / s.lot_size_e8).max(1);
            let q_lots = r.gen_range(1..=lots * 3);
            let q = q_lots * s.lot_size_e8 * if r.gen_bool(0.5) { 1 } else { -1 };
            let tick = s.tick_size_e8;
            let entry = ((marks[i] / tick) as f64 * r.gen_range(0.8..1.2)) as i64 * tick;
            let entry = entry.max(tick);
            let n_e8: i128 = match s.kind {
                Kind::Linear => i128::from(q.abs()) * i128::from(marks[i]) / i128::from(E8),
                Kind::Inverse => {
                    i128::from(q.abs()) * i128::from(s.contract_size_e8) / i128::from(marks[i])
                }
            };
            let cross_ok = match cross_kind {
                None => true,
                Some((Kind::Linear, _)) => s.kind == Kind::Linear,
                Some((Kind::Inverse, j)) => j == i,
            };
            if cross_ok && r.gen_bool(0.6) {
                cross_kind.get_or_insert((s.kind, i));
                // Cross wallets are in one asset: only count linear or the one inverse.
                margin_need += n_e8;
                positions.push(Pos {
                    account: id,
                    instr: i as u16,
                    qty_e8: q,
                    entry_e8: entry,
                    isolated_margin_e8: None,
                });
            } else {
                let img = (n_e8 as f64 * r.gen_range(0.0..0.3)) as i64;
                positions.push(Pos {
                    account: id,
                    instr: i as u16,
                    qty_e8: q,
                    entry_e8: entry,
                    isolated_margin_e8: Some(img.max(0)),
                });
            }
        }
        let wallet = (margin_need as f64 * r.gen_range(-0.02..0.3)) as i64;
        wallets.push((id, wallet));
    }
    World {
        specs,
        marks,
        wallets,
        positions,
    }
}

pub fn build(w: &World) -> MarginState {
    let insts = w
        .specs
        .iter()
        .map(|s| Instrument::new(s.clone()).expect("generated spec"))
        .collect();
    let mut st = MarginState::new(insts, w.marks.clone()).expect("marks");
    for &(id, wb) in &w.wallets {
        st.add_account(id, wb).unwrap();
    }
    for p in &w.positions {
        let mode = if p.isolated_margin_e8.is_some() {
            MarginMode::Isolated
        } else {
            MarginMode::Cross
        };
        st.add_position(
            p.account,
            p.instr,
            p.qty_e8,
            p.entry_e8,
            mode,
            p.isolated_margin_e8,
        )
        .unwrap_or_else(|e| panic!("{p:?}: {e}"));
    }
    st.evaluate_all();
    st
}

/// A new mark: the old one moved by up to ±`pct`%, on the grid, inside the accepted range.
pub fn next_mark(r: &mut impl Rng, inst: &Instrument, mark: i64, pct: f64) -> i64 {
    let f = 1.0 + r.gen_range(-pct..pct) / 100.0;
    let t = inst.tick_e8();
    let m = ((mark as f64 * f) / t as f64).round() as i64 * t;
    m.clamp(inst.min_mark_e8(), inst.max_mark_e8())
}

/// The fixed one-bracket BTCUSDT of the settlement tests: linear, tick 0.1, lot 0.001, 100×,
/// 0.5 % maintenance, 0.5 % liquidation fee.
pub fn btc_linear() -> Instrument {
    Instrument::new(InstrumentSpec {
        symbol: "BTCUSDT".into(),
        kind: Kind::Linear,
        tick_size_e8: E8 / 10,
        lot_size_e8: E8 / 1000,
        contract_size_e8: E8,
        liquidation_fee_rate_e8: E8 / 200,
        brackets: vec![BracketSpec {
            notional_cap_e8: None,
            max_leverage_e8: 100 * E8,
            maintenance_margin_rate_e8: E8 / 200,
            maintenance_amount_e8: None,
        }],
    })
    .expect("a valid instrument")
}
