//! The margin state: positions in per-instrument structure-of-arrays, margin units, bands.
//!
//! ```text
//! MarginState
//!  ├─ tables[instr]: Table (dense; positions of ONE instrument, index = slot)
//!  │    keys:  KeyVec   8 B  ← the only array a mark tick streams
//!  │    qty:   [i64]    8 B  ┐
//!  │    basis: [i128]  16 B  │ read only when a unit is re-evaluated or queried
//!  │    unit:  [u32]    4 B  │
//!  │    next:  [u64]    8 B  ┘ link to the unit's next position (instr << 32 | slot)
//!  ├─ units: [Unit]   an account's cross part, or one isolated position
//!  └─ marks: [i64]    current mark per instrument
//! ```
//! Closing a position moves the table's last slot into the hole (dense arrays) and repoints the
//! one link that referred to the moved slot.

#![forbid(unsafe_code)]

use std::collections::HashMap;

use super::math::{self, Round};
use super::tick::{self, KeyVec, LANES};
use super::{Instrument, Kind, Money, E8, MONEY_PER_E8};

/// `instrument` value of a [`Crossing`] or unit that is an account's cross part.
pub const CROSS: u16 = u16::MAX;

const NIL: u64 = u64::MAX;
const NO_UNIT: u32 = u32::MAX;

#[inline]
const fn pos_ref(instr: u16, slot: u32) -> u64 {
    ((instr as u64) << 32) | slot as u64
}
#[inline]
const fn pos_instr(r: u64) -> usize {
    (r >> 32) as usize
}
#[inline]
const fn pos_slot(r: u64) -> usize {
    (r & 0xffff_ffff) as usize
}

/// Cross or isolated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MarginMode {
    /// Shares the account's wallet balance.
    Cross,
    /// Has its own margin.
    Isolated,
}

impl MarginMode {
    /// `"cross"` or `"isolated"`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Cross => "cross",
            Self::Isolated => "isolated",
        }
    }
}

/// A margin unit whose liquidatable status changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crossing {
    /// The account.
    pub account: u32,
    /// The isolated position's instrument, or [`CROSS`] for the account's cross part.
    pub instrument: u16,
    /// `true`: newly at or below maintenance; `false`: recovered.
    pub liquidatable: bool,
}

/// A caller-owned, preallocated buffer of [`Crossing`]s. Operations append; the caller clears.
#[derive(Debug, Clone)]
pub struct Crossings {
    buf: Vec<Crossing>,
}

impl Crossings {
    /// A buffer that holds `n` crossings (use [`MarginState::crossings_capacity`]).
    pub fn with_capacity(n: usize) -> Self {
        Self {
            buf: Vec::with_capacity(n),
        }
    }
    /// The crossings recorded since the last [`clear`](Self::clear).
    pub fn as_slice(&self) -> &[Crossing] {
        &self.buf
    }
    /// Number recorded.
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    /// Whether none is recorded.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    /// Room left without allocating.
    pub fn room(&self) -> usize {
        self.buf.capacity() - self.buf.len()
    }
    /// Forgets the recorded crossings (keeps the allocation).
    pub fn clear(&mut self) {
        self.buf.clear();
    }
    #[inline]
    fn push(&mut self, c: Crossing) {
        // Callers check `room()` first, so this never reallocates.
        debug_assert!(self.room() > 0);
        self.buf.push(c);
    }
}

/// Why a mark tick was refused (nothing was changed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TickError {
    /// No such instrument.
    #[error("unknown instrument {0}")]
    UnknownInstrument(u16),
    /// Mark outside the instrument's accepted range.
    #[error("mark {mark} of instrument {instrument} outside [{min}, {max}] (E8)")]
    MarkOutOfRange {
        /// Instrument.
        instrument: u16,
        /// The mark (E8).
        mark: i64,
        /// Lowest accepted.
        min: i64,
        /// Highest accepted.
        max: i64,
    },
    /// The crossings buffer might not hold every crossing of the tick.
    #[error("crossings buffer has room for {room}, {needed} may be needed")]
    BufferTooSmall {
        /// Room left.
        room: usize,
        /// Room required.
        needed: usize,
    },
}

/// Why a state change was refused (nothing was changed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// No such account.
    #[error("unknown account {0}")]
    UnknownAccount(u32),
    /// The account already exists.
    #[error("account {0} already exists")]
    DuplicateAccount(u32),
    /// No such instrument.
    #[error("unknown instrument {0}")]
    UnknownInstrument(u16),
    /// The account already holds a position in the instrument (one-way mode).
    #[error("account {account} already holds a position in instrument {instrument}")]
    DuplicatePosition {
        /// Account.
        account: u32,
        /// Instrument.
        instrument: u16,
    },
    /// A value outside its bound or grid.
    #[error("{what} {value} (E8) is out of range or off the grid")]
    OutOfRange {
        /// Which value.
        what: &'static str,
        /// The value (E8).
        value: i128,
    },
    /// Cross positions of one account must share a margin asset: all linear, or all in one
    /// inverse instrument.
    #[error("account {account}: cross position in instrument {instrument} does not share the margin asset of its other cross positions")]
    MixedMarginAsset {
        /// Account.
        account: u32,
        /// Instrument.
        instrument: u16,
    },
    /// The crossings buffer has no room for the crossings this change may cause.
    #[error("crossings buffer has room for {0}, 2 may be needed")]
    BufferTooSmall(usize),
}

/// Risk of an account's cross part, computed exactly at the current marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountRisk {
    /// Account id.
    pub account: u32,
    /// Cross wallet balance (Money, E16).
    pub wallet_balance: Money,
    /// Σ U of the cross positions.
    pub unrealized_pnl: Money,
    /// `wallet_balance + unrealized_pnl`.
    pub margin_balance: Money,
    /// Σ MM of the cross positions.
    pub maintenance_margin: Money,
    /// Number of cross positions.
    pub cross_positions: u32,
    /// Has cross positions and `margin_balance ≤ maintenance_margin`.
    pub liquidatable: bool,
}

/// One position with every quantity of the spec at the current mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PositionRisk {
    /// Account id.
    pub account: u32,
    /// Instrument id.
    pub instrument: u16,
    /// Cross or isolated.
    pub mode: MarginMode,
    /// Signed quantity (E8).
    pub qty_e8: i64,
    /// Cost basis (Money): linear `q·e`, inverse `q·F/e`.
    pub basis: Money,
    /// Average entry price (E8), rounded against the account.
    pub entry_e8: i64,
    /// Isolated margin (Money); 0 for cross.
    pub isolated_margin: Money,
    /// Notional at the mark (Money).
    pub notional: Money,
    /// Unrealised PnL (Money).
    pub unrealized_pnl: Money,
    /// Maintenance margin (Money).
    pub maintenance_margin: Money,
    /// Initial margin at the tier's maximum leverage (Money).
    pub initial_margin: Money,
    /// 1-based bracket at the mark.
    pub bracket: usize,
    /// Liquidatable by its own rule (isolated) or its account's (cross).
    pub liquidatable: bool,
    /// Liquidation price (E8), `None` when none exists.
    pub liquidation_price_e8: Option<i64>,
    /// Bankruptcy price (E8), `None` when none exists.
    pub bankruptcy_price_e8: Option<i64>,
    /// Rest of the margin for the liquidation price: isolated margin, or `WB + Σ(U−MM)` of the
    /// other cross positions (Money).
    pub others_slack: Money,
    /// Rest of the margin for the bankruptcy price: isolated margin, or `WB + Σ U` of the other
    /// cross positions (Money).
    pub others_equity: Money,
}

#[derive(Debug, Clone)]
struct Unit {
    account: u32,
    instr: u16,
    liquidatable: bool,
    npos: u32,
    head: u64,
    /// Next unit of the same account (the cross unit heads the chain).
    next_unit: u32,
    /// Cross: wallet balance; isolated: isolated margin.
    collateral: Money,
}

#[derive(Debug, Clone, Default)]
struct Table {
    keys: KeyVec,
    qty: Vec<i64>,
    basis: Vec<Money>,
    unit: Vec<u32>,
    next: Vec<u64>,
}

impl Table {
    fn reserve(&mut self, n: usize) {
        self.keys.reserve(n);
        self.qty.reserve(n);
        self.basis.reserve(n);
        self.unit.reserve(n);
        self.next.reserve(n);
    }
}

/// Counters of the state's work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Unit re-evaluations (exact recomputation of slack and bands).
    pub evaluations: u64,
    /// Positions whose band a mark left.
    pub band_exits: u64,
}

/// The margin state of every account. See the [module docs](super) for the design.
#[derive(Debug, Clone)]
pub struct MarginState {
    instruments: Vec<Instrument>,
    marks: Vec<i64>,
    tables: Vec<Table>,
    units: Vec<Unit>,
    cross_unit: HashMap<u32, u32>,
    iso_unit: HashMap<(u32, u16), u32>,
    stats: Stats,
}

impl MarginState {
    /// A state with these instruments (ids = indices) and initial marks, and no accounts.
    pub fn new(instruments: Vec<Instrument>, marks_e8: Vec<i64>) -> Result<Self, TickError> {
        if instruments.len() > usize::from(CROSS) {
            return Err(TickError::UnknownInstrument(CROSS));
        }
        for (i, inst) in instruments.iter().enumerate() {
            let mark = marks_e8.get(i).copied().unwrap_or(0);
            if !inst.price_in_range(mark) {
                return Err(TickError::MarkOutOfRange {
                    instrument: i as u16,
                    mark,
                    min: inst.min_mark_e8(),
                    max: inst.max_mark_e8(),
                });
            }
        }
        let n = instruments.len();
        Ok(Self {
            instruments,
            marks: marks_e8[..n].to_vec(),
            tables: vec![Table::default(); n],
            units: Vec::new(),
            cross_unit: HashMap::new(),
            iso_unit: HashMap::new(),
            stats: Stats::default(),
        })
    }

    /// Reserves room for `accounts` more accounts and `positions` more positions in `instr`.
    pub fn reserve(&mut self, instr: u16, positions: usize, accounts: usize) {
        if let Some(t) = self.tables.get_mut(usize::from(instr)) {
            t.reserve(positions);
        }
        self.units.reserve(accounts);
        self.cross_unit.reserve(accounts);
    }

    /// The instruments.
    pub fn instruments(&self) -> &[Instrument] {
        &self.instruments
    }
    /// One instrument.
    pub fn instrument(&self, instr: u16) -> Option<&Instrument> {
        self.instruments.get(usize::from(instr))
    }
    /// The id of a symbol.
    pub fn instrument_id(&self, symbol: &str) -> Option<u16> {
        self.instruments
            .iter()
            .position(|i| i.symbol() == symbol)
            .map(|i| i as u16)
    }
    /// Current mark (E8).
    pub fn mark(&self, instr: u16) -> Option<i64> {
        self.marks.get(usize::from(instr)).copied()
    }
    /// Number of positions in an instrument.
    pub fn positions_in(&self, instr: u16) -> usize {
        self.tables
            .get(usize::from(instr))
            .map_or(0, |t| t.qty.len())
    }
    /// Number of accounts.
    pub fn accounts(&self) -> usize {
        self.cross_unit.len()
    }
    /// A [`Crossings`] capacity that no single operation can exceed (one per margin unit + 2).
    pub fn crossings_capacity(&self) -> usize {
        self.units.len() + 2
    }
    /// Work counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }
    /// Bytes per position of the instrument tables (keys, qty, basis, unit, link).
    pub const BYTES_PER_POSITION: usize = 8 + 8 + 16 + 4 + 8;

    /// Adds an account with a cross wallet balance (E8).
    pub fn add_account(&mut self, account: u32, wallet_e8: i64) -> Result<(), StateError> {
        if self.cross_unit.contains_key(&account) {
            return Err(StateError::DuplicateAccount(account));
        }
        check_balance("wallet_balance", wallet_e8)?;
        let u = self.new_unit(account, CROSS, math::money_from_e8(wallet_e8));
        self.cross_unit.insert(account, u);
        Ok(())
    }

    fn new_unit(&mut self, account: u32, instr: u16, collateral: Money) -> u32 {
        let u = self.units.len() as u32;
        self.units.push(Unit {
            account,
            instr,
            liquidatable: false,
            npos: 0,
            head: NIL,
            next_unit: NO_UNIT,
            collateral,
        });
        u
    }

    /// Adds a position (load time; call [`evaluate_all`](Self::evaluate_all) after the last).
    /// `isolated_margin_e8` is required for isolated and must be `None` for cross.
    pub fn add_position(
        &mut self,
        account: u32,
        instr: u16,
        qty_e8: i64,
        entry_e8: i64,
        mode: MarginMode,
        isolated_margin_e8: Option<i64>,
    ) -> Result<(), StateError> {
        let cu = *self
            .cross_unit
            .get(&account)
            .ok_or(StateError::UnknownAccount(account))?;
        let inst = self
            .instruments
            .get(usize::from(instr))
            .ok_or(StateError::UnknownInstrument(instr))?;
        if qty_e8 == 0 || !inst.on_lot_grid(qty_e8) {
            return Err(StateError::OutOfRange {
                what: "qty",
                value: qty_e8.into(),
            });
        }
        if !inst.price_in_range(entry_e8) {
            return Err(StateError::OutOfRange {
                what: "entry_price",
                value: entry_e8.into(),
            });
        }
        if self.find(account, instr).is_some() {
            return Err(StateError::DuplicatePosition {
                account,
                instrument: instr,
            });
        }
        let basis = math::cost_basis(inst, qty_e8, entry_e8);
        let unit = match (mode, isolated_margin_e8) {
            (MarginMode::Cross, None) => {
                self.check_cross_asset(cu, instr)?;
                cu
            }
            (MarginMode::Isolated, Some(m)) => {
                if !(0..=super::bounds::MAX_BALANCE_E8).contains(&m) {
                    return Err(StateError::OutOfRange {
                        what: "isolated_margin",
                        value: m.into(),
                    });
                }
                self.isolated_unit(account, cu, instr, math::money_from_e8(m))
            }
            _ => {
                return Err(StateError::OutOfRange {
                    what: "isolated_margin (required for isolated, forbidden for cross)",
                    value: isolated_margin_e8.unwrap_or(0).into(),
                })
            }
        };
        self.insert_position(unit, instr, qty_e8, basis);
        Ok(())
    }

    fn isolated_unit(&mut self, account: u32, cu: u32, instr: u16, margin: Money) -> u32 {
        if let Some(&u) = self.iso_unit.get(&(account, instr)) {
            self.units[u as usize].collateral += margin;
            return u;
        }
        let u = self.new_unit(account, instr, margin);
        self.units[u as usize].next_unit = self.units[cu as usize].next_unit;
        self.units[cu as usize].next_unit = u;
        self.iso_unit.insert((account, instr), u);
        u
    }

    fn check_cross_asset(&self, cu: u32, instr: u16) -> Result<(), StateError> {
        let kind = self.instruments[usize::from(instr)].kind();
        let mut r = self.units[cu as usize].head;
        while r != NIL {
            let other = pos_instr(r);
            let ok = match kind {
                Kind::Linear => self.instruments[other].kind() == Kind::Linear,
                Kind::Inverse => other == usize::from(instr),
            };
            if !ok {
                return Err(StateError::MixedMarginAsset {
                    account: self.units[cu as usize].account,
                    instrument: instr,
                });
            }
            r = self.tables[other].next[pos_slot(r)];
        }
        Ok(())
    }

    /// Appends a position to its instrument's table and to the tail of its unit's list.
    fn insert_position(&mut self, unit: u32, instr: u16, qty_e8: i64, basis: Money) {
        let t = &mut self.tables[usize::from(instr)];
        let slot = t.qty.len() as u32;
        // Fires on any mark until the unit is evaluated.
        t.keys.push(tick::key_below(i64::MAX));
        t.qty.push(qty_e8);
        t.basis.push(basis);
        t.unit.push(unit);
        t.next.push(NIL);
        let me = pos_ref(instr, slot);
        let head = self.units[unit as usize].head;
        if head == NIL {
            self.units[unit as usize].head = me;
        } else {
            let mut r = head;
            loop {
                let n = self.tables[pos_instr(r)].next[pos_slot(r)];
                if n == NIL {
                    self.tables[pos_instr(r)].next[pos_slot(r)] = me;
                    break;
                }
                r = n;
            }
        }
        self.units[unit as usize].npos += 1;
    }

    /// Removes a position: unlinks it, moves the table's last slot into its place.
    fn remove_position(&mut self, instr: u16, slot: usize) {
        let i = usize::from(instr);
        let unit = self.tables[i].unit[slot];
        let me = pos_ref(instr, slot as u32);
        let after = self.tables[i].next[slot];
        self.replace_link(unit, me, after);
        self.units[unit as usize].npos -= 1;
        let last = self.tables[i].qty.len() - 1;
        if slot != last {
            let moved_unit = self.tables[i].unit[last];
            self.replace_link(moved_unit, pos_ref(instr, last as u32), me);
        }
        let t = &mut self.tables[i];
        t.keys.swap_remove(slot);
        t.qty.swap_remove(slot);
        t.basis.swap_remove(slot);
        t.unit.swap_remove(slot);
        t.next.swap_remove(slot);
    }

    /// In `unit`'s list, makes whatever pointed to `old` point to `new`.
    fn replace_link(&mut self, unit: u32, old: u64, new: u64) {
        let u = unit as usize;
        if self.units[u].head == old {
            self.units[u].head = new;
            return;
        }
        let mut r = self.units[u].head;
        while r != NIL {
            let n = self.tables[pos_instr(r)].next[pos_slot(r)];
            if n == old {
                self.tables[pos_instr(r)].next[pos_slot(r)] = new;
                return;
            }
            r = n;
        }
    }

    /// (unit, slot) of the account's position in `instr`, if any.
    fn find(&self, account: u32, instr: u16) -> Option<(u32, usize)> {
        let mut u = *self.cross_unit.get(&account)?;
        while u != NO_UNIT {
            let unit = &self.units[u as usize];
            let mut r = unit.head;
            while r != NIL {
                if pos_instr(r) == usize::from(instr) {
                    return Some((u, pos_slot(r)));
                }
                r = self.tables[pos_instr(r)].next[pos_slot(r)];
            }
            u = unit.next_unit;
        }
        None
    }

    /// A new state built from scratch from this one's accounts, positions (quantity and cost
    /// basis) and marks, inserted in a different order (by account id) and freshly evaluated.
    /// Used to check that the incremental bookkeeping equals a from-scratch recomputation.
    pub fn rebuilt(&self) -> MarginState {
        let mut st = MarginState {
            instruments: self.instruments.clone(),
            marks: self.marks.clone(),
            tables: vec![Table::default(); self.instruments.len()],
            units: Vec::new(),
            cross_unit: HashMap::new(),
            iso_unit: HashMap::new(),
            stats: Stats::default(),
        };
        let mut ids: Vec<u32> = self.cross_unit.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let cu = self.cross_unit[&id];
            let ncu = st.new_unit(id, CROSS, self.units[cu as usize].collateral);
            st.cross_unit.insert(id, ncu);
            let mut u = cu;
            while u != NO_UNIT {
                let unit = &self.units[u as usize];
                let target = if u == cu {
                    ncu
                } else if unit.npos > 0 {
                    st.isolated_unit(id, ncu, unit.instr, unit.collateral)
                } else {
                    NO_UNIT
                };
                let mut r = unit.head;
                while r != NIL && target != NO_UNIT {
                    let (i, k) = (pos_instr(r), pos_slot(r));
                    let t = &self.tables[i];
                    st.insert_position(target, i as u16, t.qty[k], t.basis[k]);
                    r = t.next[k];
                }
                u = unit.next_unit;
            }
        }
        st.evaluate_all();
        st
    }

    /// Checks the internal links (every position reachable from exactly its unit, counts
    /// consistent); `Err` describes the first inconsistency. For tests.
    pub fn check_links(&self) -> Result<(), String> {
        let mut seen: Vec<Vec<bool>> = self
            .tables
            .iter()
            .map(|t| vec![false; t.qty.len()])
            .collect();
        for (u, unit) in self.units.iter().enumerate() {
            let mut n = 0;
            let mut r = unit.head;
            while r != NIL {
                let (i, k) = (pos_instr(r), pos_slot(r));
                if k >= self.tables[i].qty.len() {
                    return Err(format!("unit {u} links to a slot past the end: {i}/{k}"));
                }
                if self.tables[i].unit[k] != u as u32 {
                    return Err(format!(
                        "slot {i}/{k} is in unit {u}'s list but says unit {}",
                        self.tables[i].unit[k]
                    ));
                }
                if std::mem::replace(&mut seen[i][k], true) {
                    return Err(format!("slot {i}/{k} reached twice"));
                }
                n += 1;
                r = self.tables[i].next[k];
            }
            if n != unit.npos {
                return Err(format!(
                    "unit {u}: {n} positions linked, npos says {}",
                    unit.npos
                ));
            }
        }
        for (i, s) in seen.iter().enumerate() {
            if let Some(k) = s.iter().position(|x| !x) {
                return Err(format!("slot {i}/{k} is in no unit's list"));
            }
            if self.tables[i].keys.len() != s.len() {
                return Err(format!(
                    "instrument {i}: {} keys for {} positions",
                    self.tables[i].keys.len(),
                    s.len()
                ));
            }
        }
        Ok(())
    }

    /// Evaluates every unit (after loading): sets statuses and bands. Returns how many units are
    /// liquidatable. Reports no crossings (there is no previous status).
    pub fn evaluate_all(&mut self) -> usize {
        let mut n = 0;
        for u in 0..self.units.len() as u32 {
            self.evaluate(u);
            n += usize::from(self.units[u as usize].liquidatable);
        }
        n
    }

    /// Exact slack of a unit at the current marks.
    fn unit_slack(&self, u: u32) -> Money {
        let unit = &self.units[u as usize];
        let mut s = unit.collateral;
        let mut r = unit.head;
        while r != NIL {
            let (i, k) = (pos_instr(r), pos_slot(r));
            let t = &self.tables[i];
            s += math::slack(&self.instruments[i], t.qty[k], t.basis[k], self.marks[i]);
            r = t.next[k];
        }
        s
    }

    /// Re-evaluates a unit exactly: status and fresh bands. Returns whether the status changed.
    fn evaluate(&mut self, u: u32) -> bool {
        self.stats.evaluations += 1;
        let s = self.unit_slack(u);
        let unit = &self.units[u as usize];
        let liq = unit.npos > 0 && s <= 0;
        if unit.npos > 0 {
            let n = Money::from(unit.npos);
            let budget = if s > 0 { (s - 1) / n } else { -s / n };
            let mut r = unit.head;
            while r != NIL {
                let (i, k) = (pos_instr(r), pos_slot(r));
                let key = band_key(
                    &self.instruments[i],
                    self.tables[i].qty[k],
                    self.tables[i].basis[k],
                    self.marks[i],
                    budget,
                    liq,
                );
                self.tables[i].keys.set(k, key);
                r = self.tables[i].next[k];
            }
        }
        let unit = &mut self.units[u as usize];
        let changed = unit.liquidatable != liq;
        unit.liquidatable = liq;
        changed
    }

    fn crossing(&self, u: u32) -> Crossing {
        let unit = &self.units[u as usize];
        Crossing {
            account: unit.account,
            instrument: unit.instr,
            liquidatable: unit.liquidatable,
        }
    }

    /// Applies a mark tick to one instrument and appends to `out` the margin units whose status
    /// changed (newly liquidatable, or recovered). Streams only the instrument's band keys;
    /// re-evaluates exactly the units of the positions that left their band. No allocation; on
    /// error nothing changes. Returns the number of crossings appended.
    pub fn on_mark(
        &mut self,
        instr: u16,
        mark_e8: i64,
        out: &mut Crossings,
    ) -> Result<usize, TickError> {
        let i = usize::from(instr);
        let inst = self
            .instruments
            .get(i)
            .ok_or(TickError::UnknownInstrument(instr))?;
        if !inst.price_in_range(mark_e8) {
            return Err(TickError::MarkOutOfRange {
                instrument: instr,
                mark: mark_e8,
                min: inst.min_mark_e8(),
                max: inst.max_mark_e8(),
            });
        }
        let needed = self.tables[i].qty.len();
        if out.room() < needed.min(self.units.len()) {
            return Err(TickError::BufferTooSmall {
                room: out.room(),
                needed: needed.min(self.units.len()),
            });
        }
        self.marks[i] = mark_e8;
        let before = out.len();
        let mut from = 0;
        while let Some((line, mut mask)) = tick::scan(self.tables[i].keys.lines(), mark_e8, from) {
            while mask != 0 {
                let lane = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                let slot = line * LANES + lane;
                self.stats.band_exits += 1;
                let u = self.tables[i].unit[slot];
                if self.evaluate(u) {
                    let c = self.crossing(u);
                    out.push(c);
                }
            }
            from = line + 1;
        }
        Ok(out.len() - before)
    }

    /// Applies a fill (one-way mode): `qty_e8` signed (+ buy), at `price_e8`, paying `fee_e8`
    /// (E8, positive = paid). Opens a cross position when the account holds none in the
    /// instrument; increases average the basis; reduces realise PnL (floored) into the unit's
    /// collateral; a close of an isolated position returns its margin to the wallet. Appends
    /// crossings to `out` (at most 2). On error nothing changes.
    pub fn apply_fill(
        &mut self,
        account: u32,
        instr: u16,
        qty_e8: i64,
        price_e8: i64,
        fee_e8: i64,
        out: &mut Crossings,
    ) -> Result<usize, StateError> {
        if out.room() < 2 {
            return Err(StateError::BufferTooSmall(out.room()));
        }
        let cu = *self
            .cross_unit
            .get(&account)
            .ok_or(StateError::UnknownAccount(account))?;
        let inst = self
            .instruments
            .get(usize::from(instr))
            .ok_or(StateError::UnknownInstrument(instr))?;
        if qty_e8 == 0 || !inst.on_lot_grid(qty_e8) {
            return Err(StateError::OutOfRange {
                what: "fill qty",
                value: qty_e8.into(),
            });
        }
        if !inst.price_in_range(price_e8) {
            return Err(StateError::OutOfRange {
                what: "fill price",
                value: price_e8.into(),
            });
        }
        check_balance("fee", fee_e8)?;
        let fee = math::money_from_e8(fee_e8);
        let before = out.len();
        let Some((u, slot)) = self.find(account, instr) else {
            self.check_cross_asset(cu, instr)?;
            let basis = math::cost_basis(inst, qty_e8, price_e8);
            self.insert_position(cu, instr, qty_e8, basis);
            self.units[cu as usize].collateral -= fee;
            if self.evaluate(cu) {
                out.push(self.crossing(cu));
            }
            return Ok(out.len() - before);
        };
        let i = usize::from(instr);
        let q = self.tables[i].qty[slot];
        let basis = self.tables[i].basis[slot];
        let new_q = i128::from(q) + i128::from(qty_e8);
        if new_q.unsigned_abs() > inst.max_qty_e8() as u128 {
            return Err(StateError::OutOfRange {
                what: "position qty after fill",
                value: new_q,
            });
        }
        let new_q = new_q as i64;
        let mut realized: Money = 0;
        let new_basis;
        if (q > 0) == (qty_e8 > 0) {
            new_basis = basis + math::cost_basis(inst, qty_e8, price_e8);
        } else {
            // Closing c (same sign as q, |c| = min(|fill|, |q|)).
            let c = if qty_e8.unsigned_abs() >= q.unsigned_abs() {
                q
            } else {
                -qty_e8
            };
            let (removed, value) = match inst.kind() {
                Kind::Linear => (
                    math::mul_div(basis, c.into(), q.into(), Round::Ceil).unwrap_or(basis),
                    i128::from(c) * i128::from(price_e8),
                ),
                Kind::Inverse => (
                    math::mul_div(basis, c.into(), q.into(), Round::Floor).unwrap_or(basis),
                    math::div_ceil(math::face(inst, c) * i128::from(E8), i128::from(price_e8)),
                ),
            };
            realized = match inst.kind() {
                Kind::Linear => value - removed,
                Kind::Inverse => removed - value,
            };
            new_basis = if new_q == 0 || (new_q > 0) == (q > 0) {
                basis - removed
            } else {
                math::cost_basis(inst, new_q, price_e8)
            };
        }
        self.units[u as usize].collateral += realized - fee;
        let mut touched = [u, NO_UNIT];
        if new_q == 0 {
            self.remove_position(instr, slot);
            if u != cu {
                // Closed isolated position: its margin returns to the wallet.
                let m = std::mem::take(&mut self.units[u as usize].collateral);
                self.units[cu as usize].collateral += m;
                touched[1] = cu;
            }
        } else {
            self.tables[i].qty[slot] = new_q;
            self.tables[i].basis[slot] = new_basis;
        }
        for &t in touched.iter().filter(|&&t| t != NO_UNIT) {
            if self.evaluate(t) {
                out.push(self.crossing(t));
            }
        }
        Ok(out.len() - before)
    }

    /// Adds `amount_e8` (signed) to an account's cross wallet balance. Appends at most one
    /// crossing. On error nothing changes.
    pub fn apply_collateral(
        &mut self,
        account: u32,
        amount_e8: i64,
        out: &mut Crossings,
    ) -> Result<usize, StateError> {
        if out.room() < 1 {
            return Err(StateError::BufferTooSmall(out.room()));
        }
        let cu = *self
            .cross_unit
            .get(&account)
            .ok_or(StateError::UnknownAccount(account))?;
        check_balance("collateral amount", amount_e8)?;
        let new = self.units[cu as usize].collateral + math::money_from_e8(amount_e8);
        if new.abs() > math::money_from_e8(super::bounds::MAX_BALANCE_E8) {
            return Err(StateError::OutOfRange {
                what: "wallet balance after collateral change",
                value: new / MONEY_PER_E8,
            });
        }
        self.units[cu as usize].collateral = new;
        if self.evaluate(cu) {
            out.push(self.crossing(cu));
            return Ok(1);
        }
        Ok(0)
    }

    /// The risk of an account's cross part, exactly at the current marks.
    pub fn account(&self, account: u32) -> Option<AccountRisk> {
        let u = *self.cross_unit.get(&account)?;
        let unit = &self.units[u as usize];
        let (mut upnl, mut mm) = (0, 0);
        let mut r = unit.head;
        while r != NIL {
            let (i, k) = (pos_instr(r), pos_slot(r));
            let (inst, t) = (&self.instruments[i], &self.tables[i]);
            upnl += math::upnl(inst, t.qty[k], t.basis[k], self.marks[i]);
            mm += math::maintenance(inst, math::notional(inst, t.qty[k], self.marks[i])).0;
            r = t.next[k];
        }
        let mb = unit.collateral + upnl;
        Some(AccountRisk {
            account,
            wallet_balance: unit.collateral,
            unrealized_pnl: upnl,
            margin_balance: mb,
            maintenance_margin: mm,
            cross_positions: unit.npos,
            liquidatable: unit.npos > 0 && mb <= mm,
        })
    }

    /// The status the state tracks (from the last evaluation) for the account's cross part
    /// (`instr == CROSS`) or its isolated position in `instr`. Equal to the exact status at the
    /// current marks at all times (the invariant the kernel maintains).
    pub fn tracked_liquidatable(&self, account: u32, instr: u16) -> Option<bool> {
        let u = if instr == CROSS {
            *self.cross_unit.get(&account)?
        } else {
            *self.iso_unit.get(&(account, instr))?
        };
        Some(self.units[u as usize].liquidatable)
    }

    /// Every account id (arbitrary order).
    pub fn account_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.cross_unit.keys().copied()
    }

    /// The account's position in `instr`, with every quantity at the current mark.
    pub fn position(&self, account: u32, instr: u16) -> Option<PositionRisk> {
        let (u, slot) = self.find(account, instr)?;
        Some(self.position_risk(u, instr, slot))
    }

    /// Calls `f` for each position of the account: cross ones first (in opening order), then
    /// isolated ones. No allocation.
    pub fn for_each_position(&self, account: u32, mut f: impl FnMut(PositionRisk)) {
        let Some(&first) = self.cross_unit.get(&account) else {
            return;
        };
        let mut u = first;
        while u != NO_UNIT {
            let unit = &self.units[u as usize];
            let mut r = unit.head;
            while r != NIL {
                f(self.position_risk(u, pos_instr(r) as u16, pos_slot(r)));
                r = self.tables[pos_instr(r)].next[pos_slot(r)];
            }
            u = unit.next_unit;
        }
    }

    /// The account's positions (allocates; see [`for_each_position`](Self::for_each_position)).
    pub fn positions(&self, account: u32) -> Vec<PositionRisk> {
        let mut v = Vec::new();
        self.for_each_position(account, |p| v.push(p));
        v
    }

    fn position_risk(&self, u: u32, instr: u16, slot: usize) -> PositionRisk {
        let i = usize::from(instr);
        let (inst, t, mark) = (&self.instruments[i], &self.tables[i], self.marks[i]);
        let (q, basis) = (t.qty[slot], t.basis[slot]);
        let unit = &self.units[u as usize];
        let n = math::notional(inst, q, mark);
        let (mm, tier) = math::maintenance(inst, n);
        let upnl = math::upnl(inst, q, basis, mark);
        // Others: the rest of the unit.
        let (mut others_slack, mut others_equity) = (unit.collateral, unit.collateral);
        let mut r = unit.head;
        while r != NIL {
            let (j, k) = (pos_instr(r), pos_slot(r));
            if !(j == i && k == slot) {
                let (oi, ot) = (&self.instruments[j], &self.tables[j]);
                let ou = math::upnl(oi, ot.qty[k], ot.basis[k], self.marks[j]);
                let omm = math::maintenance(oi, math::notional(oi, ot.qty[k], self.marks[j])).0;
                others_slack += ou - omm;
                others_equity += ou;
            }
            r = self.tables[j].next[k];
        }
        let iso = unit.instr != CROSS;
        PositionRisk {
            account: unit.account,
            instrument: instr,
            mode: if iso {
                MarginMode::Isolated
            } else {
                MarginMode::Cross
            },
            qty_e8: q,
            basis,
            entry_e8: math::entry_price(inst, q, basis).unwrap_or(0),
            isolated_margin: if iso { unit.collateral } else { 0 },
            notional: n,
            unrealized_pnl: upnl,
            maintenance_margin: mm,
            initial_margin: math::initial_margin(n, inst.brackets()[tier].max_leverage_e8),
            bracket: tier + 1,
            liquidatable: others_slack + upnl - mm <= 0,
            liquidation_price_e8: math::liquidation_price(inst, q, basis, others_slack),
            bankruptcy_price_e8: math::bankruptcy_price(inst, q, basis, others_equity),
            others_slack,
            others_equity,
        }
    }
}

fn check_balance(what: &'static str, v: i64) -> Result<(), StateError> {
    if v.unsigned_abs() > super::bounds::MAX_BALANCE_E8 as u64 {
        return Err(StateError::OutOfRange {
            what,
            value: v.into(),
        });
    }
    Ok(())
}

/// The band key of a position whose unit has per-position `budget` and status `liq`: the mark
/// range, on the side where the unit's status could change, within which the position's slack
/// contribution moves by at most `budget`. Conservative (never wider than the exact range).
fn band_key(inst: &Instrument, q: i64, basis: Money, m0: i64, budget: Money, liq: bool) -> i64 {
    // Only the debug check below needs the slack at m0.
    let f0 = if cfg!(debug_assertions) {
        math::slack(inst, q, basis, m0)
    } else {
        0
    };
    let within = |m: i64| (math::slack(inst, q, basis, m) - f0).abs() <= budget;
    let (lo_bound, hi_bound) = (inst.min_mark_e8(), inst.max_mark_e8());
    // Healthy long and liquidatable short watch falls; the others watch rises.
    let below = (q > 0) != liq;
    // A slope bound gives the edge without search; rounding of U and MM costs at most 8 units,
    // hence the margin.
    let b = (budget - 8).max(0);
    let aq = i128::from(q).abs();
    let mmr_max = i128::from(inst.brackets().last().map_or(0, |x| x.mmr_e8));
    let guess = match inst.kind() {
        Kind::Linear => {
            let dm = math::mul_div(
                b,
                i128::from(E8),
                aq * (i128::from(E8) + mmr_max),
                Round::Floor,
            )
            .unwrap_or(i128::MAX);
            if below {
                i128::from(m0).saturating_sub(dm).max(i128::from(lo_bound)) as i64
            } else {
                i128::from(m0).saturating_add(dm).min(i128::from(hi_bound)) as i64
            }
        }
        Kind::Inverse => {
            // |Δf| ≤ K·|1/m − 1/m0| with K = |q|·F·(1 + MMR_max) (E24).
            let k = aq * i128::from(inst.contract_e8()) * (i128::from(E8) + mmr_max);
            let bm = b.checked_mul(i128::from(m0));
            if below {
                match bm.and_then(|x| x.checked_add(k)) {
                    Some(den) => math::mul_div(k, i128::from(m0), den, Round::Ceil)
                        .map_or(lo_bound, |m| {
                            m.clamp(i128::from(lo_bound), i128::from(m0)) as i64
                        }),
                    None => lo_bound,
                }
            } else {
                match bm {
                    Some(x) if x < k => math::mul_div(k, i128::from(m0), k - x, Round::Floor)
                        .map_or(hi_bound, |m| {
                            m.clamp(i128::from(m0), i128::from(hi_bound)) as i64
                        }),
                    _ => hi_bound,
                }
            }
        }
    };
    // The slope bound is a proof (|ΔU| ≤ |q|·|Δm| or |q|·F·|Δ(1/m)|, |ΔMM| ≤ MMR_max·|ΔN|, plus
    // at most 8 units of rounding), so the guess is inside the exact band. Debug builds (all the
    // tests) check it on every band computed.
    debug_assert!(
        within(guess),
        "band edge {guess} not within budget {budget} (m0 {m0}, q {q})"
    );
    let edge = guess;
    if below {
        tick::key_below(edge)
    } else {
        tick::key_above(edge)
    }
}
