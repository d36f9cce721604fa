//! The engine peer: the first version a competent engineer would write, measured side by side
//! with hotrisk's SoA fixed-point band kernel in the same run.
//!
//! - positions as an **array of structs** with `f64` quantity, entry, PnL and maintenance;
//! - accounts in a **`HashMap<u32, Account>`** (balance, Σ PnL, Σ maintenance, status);
//! - every tick recomputes **every** position of the instrument (PnL, notional, the bracket by a
//!   linear search, maintenance) and pushes the difference into its account;
//! - status changes are pushed as orders into a **`Mutex<Vec<u32>>`**, as a gateway queue.
//!
//! Also here: [`build`], the seeded population both sides are built from (hotrisk's
//! [`MarginState`] and the baseline hold the same positions).
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::sync::Mutex;

use hotrisk_engine::margin::{
    BracketSpec, Instrument, InstrumentSpec, Kind, MarginMode, MarginState,
};

/// E8.
pub const E8: i64 = 100_000_000;
/// The population's mark (50 000).
pub const MARK: i64 = 50_000 * E8;
/// The instrument's tick (0.1).
pub const TICK: i64 = E8 / 10;

/// Binance-like USDT-perpetual brackets.
pub fn brackets() -> Vec<BracketSpec> {
    let caps = [50_000i64, 250_000, 1_000_000, 10_000_000, 20_000_000];
    let rates = [
        400_000i64, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000,
    ];
    let lev = [125i64, 100, 50, 20, 10, 5];
    (0..rates.len())
        .map(|i| BracketSpec {
            notional_cap_e8: caps.get(i).map(|c| c * E8),
            max_leverage_e8: lev[i] * E8,
            maintenance_margin_rate_e8: rates[i],
            maintenance_amount_e8: None,
        })
        .collect()
}

/// A linear instrument with [`brackets`].
pub fn instrument(symbol: &str) -> Instrument {
    Instrument::new(InstrumentSpec {
        symbol: symbol.into(),
        kind: Kind::Linear,
        tick_size_e8: TICK,
        lot_size_e8: E8 / 1000,
        contract_size_e8: E8,
        liquidation_fee_rate_e8: 1_250_000,
        brackets: brackets(),
    })
    .expect("the benchmark instrument is valid")
}

/// One generated position.
#[derive(Debug, Clone, Copy)]
pub struct Gen {
    /// Account.
    pub account: u32,
    /// Signed quantity, E8.
    pub qty: i64,
    /// Entry, E8.
    pub entry: i64,
    /// Cross wallet, E8.
    pub wallet: i64,
    /// Isolated margin, if isolated.
    pub isolated: Option<i64>,
}

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn gen(r: &mut SplitMix, account: u32) -> Gen {
    // 0.001 .. ~20 BTC (log-spread by a power of two), long or short, 2x .. 100x, 20% isolated.
    let lots = 1i64 << r.below(15);
    let lots = lots + r.below(lots as u64) as i64;
    let qty = lots * (E8 / 1000) * if r.below(2) == 0 { 1 } else { -1 };
    let entry = (MARK / TICK + r.below(10_000) as i64 - 5_000) * TICK;
    let notional = (i128::from(qty.abs()) * i128::from(MARK) / i128::from(E8)) as i64;
    let lev = 2 + r.below(98) as i64;
    let margin = notional / lev;
    if r.below(5) == 0 {
        Gen {
            account,
            qty,
            entry,
            wallet: r.below(1000) as i64 * E8,
            isolated: Some(margin),
        }
    } else {
        Gen {
            account,
            qty,
            entry,
            wallet: margin,
            isolated: None,
        }
    }
}

/// `ticked` accounts with a position in instrument 0 (ticked), `others` with one in instrument 1.
/// Returns the evaluated state and the ticked positions (for the baseline).
pub fn build(ticked: usize, others: usize, seed: u64) -> (MarginState, Vec<Gen>) {
    let mut r = SplitMix(seed);
    let mut st = MarginState::new(
        vec![instrument("BTCUSDT"), instrument("ETHUSDT")],
        vec![MARK, MARK],
    )
    .expect("two valid instruments");
    st.reserve(0, ticked, ticked + others);
    st.reserve(1, others, 0);
    let mut gens = Vec::with_capacity(ticked);
    for a in 0..(ticked + others) as u32 {
        let g = gen(&mut r, a);
        let instr = u16::from(a as usize >= ticked);
        st.add_account(a, g.wallet).expect("fresh account");
        let mode = if g.isolated.is_some() {
            MarginMode::Isolated
        } else {
            MarginMode::Cross
        };
        st.add_position(a, instr, g.qty, g.entry, mode, g.isolated)
            .expect("generated positions are within bounds");
        if instr == 0 {
            gens.push(g);
        }
    }
    st.evaluate_all();
    (st, gens)
}

#[derive(Debug)]
struct Pos {
    account: u32,
    qty: f64,
    entry: f64,
    upnl: f64,
    mm: f64,
}

#[derive(Debug, Default)]
struct Account {
    balance: f64,
    upnl: f64,
    mm: f64,
    liquidatable: bool,
}

/// The baseline engine (see the module docs).
#[derive(Debug)]
pub struct Baseline {
    caps: Vec<f64>,
    rates: Vec<f64>,
    cums: Vec<f64>,
    positions: Vec<Pos>,
    accounts: HashMap<u32, Account>,
    /// The gateway queue: accounts whose status changed.
    pub orders: Mutex<Vec<u32>>,
}

impl Baseline {
    /// The ticked positions `gens`, plus `other_accounts` accounts that hold none of them.
    pub fn new(gens: &[Gen], other_accounts: usize) -> Self {
        let b = brackets();
        let caps: Vec<f64> = b
            .iter()
            .map(|x| {
                x.notional_cap_e8
                    .map_or(f64::INFINITY, |c| c as f64 / E8 as f64)
            })
            .collect();
        let rates: Vec<f64> = b
            .iter()
            .map(|x| x.maintenance_margin_rate_e8 as f64 / E8 as f64)
            .collect();
        let mut cums = vec![0.0];
        for i in 1..rates.len() {
            cums.push(cums[i - 1] + caps[i - 1] * (rates[i] - rates[i - 1]));
        }
        let mut accounts = HashMap::with_capacity(gens.len() + other_accounts);
        for g in gens {
            accounts.insert(
                g.account,
                Account {
                    balance: g.isolated.unwrap_or(g.wallet) as f64 / E8 as f64,
                    ..Account::default()
                },
            );
        }
        for a in 0..other_accounts as u32 {
            accounts.insert(gens.len() as u32 + a, Account::default());
        }
        let positions = gens
            .iter()
            .map(|g| Pos {
                account: g.account,
                qty: g.qty as f64 / E8 as f64,
                entry: g.entry as f64 / E8 as f64,
                upnl: 0.0,
                mm: 0.0,
            })
            .collect();
        let s = Self {
            caps,
            rates,
            cums,
            positions,
            accounts,
            orders: Mutex::new(Vec::with_capacity(gens.len())),
        };
        let mut s = s;
        s.on_mark(MARK as f64 / E8 as f64);
        s.orders.lock().expect("not poisoned").clear();
        s
    }

    /// One tick: every position recomputed; status changes pushed under the lock.
    pub fn on_mark(&mut self, mark: f64) -> usize {
        let mut changed = 0;
        for p in &mut self.positions {
            let upnl = p.qty * (mark - p.entry);
            let notional = p.qty.abs() * mark;
            let mut t = 0;
            while notional > self.caps[t] {
                t += 1;
            }
            let mm = notional * self.rates[t] - self.cums[t];
            let Some(acc) = self.accounts.get_mut(&p.account) else {
                continue;
            };
            acc.upnl += upnl - p.upnl;
            acc.mm += mm - p.mm;
            p.upnl = upnl;
            p.mm = mm;
            let liq = acc.balance + acc.upnl <= acc.mm;
            if liq != acc.liquidatable {
                acc.liquidatable = liq;
                if let Ok(mut q) = self.orders.lock() {
                    q.push(p.account);
                }
                changed += 1;
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotrisk_engine::margin::Crossings;

    #[test]
    fn both_sides_hold_the_same_positions_and_a_crash_liquidates_in_both() {
        let (mut st, gens) = build(2_000, 500, 3);
        assert_eq!(gens.len(), 2_000);
        assert_eq!(st.positions_in(0), 2_000);
        assert_eq!(st.positions_in(1), 500);
        let mut b = Baseline::new(&gens, 500);
        let mut out = Crossings::with_capacity(st.crossings_capacity());
        let crash = MARK - MARK / 10 / TICK * TICK;
        let n = st.on_mark(0, crash, &mut out).unwrap();
        let m = b.on_mark(crash as f64 / E8 as f64);
        assert!(n > 100 && m > 100, "hotrisk {n}, baseline {m}");
        // Same population, same rules up to f64 rounding and the cross/isolated split: close.
        let diff = n.abs_diff(m);
        assert!(diff * 10 < n.max(m), "hotrisk {n} vs baseline {m}");
    }
}
