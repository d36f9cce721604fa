//! The insurance fund, the ledger of backstop/ADL transfers, and the conservation ledger.
//!
//! # The fund
//! [`InsuranceFund`] holds one balance (E8, the margin asset; one fund per settlement asset is the
//! caller's choice). It receives liquidation fees on fills, pays the loss of positions it takes
//! over at the bankruptcy price (the backstop), and covers negative balances left after an account
//! is closed out. It never goes negative: it pays at most its **available** balance (the balance
//! minus what outstanding backstops have reserved); a loss beyond it is written off, and a
//! decision whose loss exceeds it auto-deleverages instead (see [`crate::policy::tiers`]).
//!
//! # Money is booked on what executed, never at the decision
//! A backstop or ADL decision only *reserves*: the fund's share of the transfer's loss (what the
//! decision plans the fund to pay) is set aside ([`InsuranceFund::reserve`]) so the next
//! decision sees `balance − reserved`, and the transfer's terms (price, the decision's mark, the
//! quantity handed to counterparties) are kept per account in [`Transfers`]. Then:
//! - **fill** (the order's ack with a filled quantity): the reservation is released and the
//!   filled quantity is booked — the fund takes what counterparties do not, paying its loss from
//!   the available balance (the rest is written off) or keeping its gain; a counterparty's fill
//!   books what it carries (socialised);
//! - **not filled** (rejected, cancelled, or the ack deadline passed): the reservation is
//!   released, nothing is booked; a counterparty's share that did not execute falls to the fund
//!   once the bankrupt account's own transfer has filled;
//! - a re-decision after a failure is a new transfer; the old one books only if its (late) fill
//!   arrives before the account's next transfer is decided.
//!
//! So each unit of loss is booked once, by the event that moved it. The loss of a transfer is
//! `qty × (transfer price − the decision's mark)` for the quantity that filled: the account's
//! negative equity at the mark its transfer was priced against, which the buyer (fund or
//! counterparties) takes over. A negative balance left when an account closes is booked by
//! [`crate::policy::Policy::cover_negative`]; the part of it that an ADL reduction caused (the
//! counterparty could not carry its share) was already booked as bad debt (socialised), so it is
//! moved from `socialised` to the fund / written off instead of being counted again.
//!
//! # Limits (what a venue that answers out of line can still do)
//! - A counterparty reduction that fills while the bankrupt account's own transfer does not
//!   (refused, timed out) is booked as socialised: the counterparty did close at a price worse
//!   than the mark. The position stays with the bankrupt account and its next transfer books its
//!   own loss, so bad debt then exceeds that account's negative equity by the orphaned
//!   reduction's loss (`tests/policy_ledger.rs` counts it as such).
//! - A counterparty reduction whose ack comes after its deadline: its share went to the fund at
//!   the deadline and the late fill is not booked (if it leaves the counterparty below zero, that
//!   debt is booked as new bad debt).
//! - A late fill of a bankrupt account's own transfer books only until the account's next
//!   transfer is decided (one record per account).
//! - What an account carries as a counterparty is kept as one amount and the instrument it was
//!   booked on last; an account deleveraged on two instruments before its settlement moves the
//!   whole amount from that instrument's `socialised`.
//!
//! # Fees
//! `fee = ⌈rate × filled notional⌉`, capped by the margin the account has left above bankruptcy
//! after the fill (never pushing it below zero); see [`crate::policy::spec::InstrumentSpec::liquidation_fee`].
//!
//! # Conservation
//! [`Ledger`] keeps four books as `i128` sums and moves value only by transfers between them, each
//! transfer applied with one rounded amount to both sides:
//! - `wallets`: Σ account wallet balances;
//! - `realised_pnl`: the counterparties' side of every realised PnL (an account realising `+r`
//!   moves `r` out of this book);
//! - `fund`: the insurance fund;
//! - `bad_debt`: negative balances written off (≤ 0; a write-off of `d` moves `−d` here).
//!
//! `wallets + realised_pnl + fund + bad_debt` is therefore conserved to the last unit over any
//! scenario; `tests/policy_accounting.rs` checks it against independently kept balances, and
//! `tests/policy_ledger.rs` checks the bad-debt metrics against losses summed from the fills.
//!
//! # Cost
//! [`Transfers`] is allocated at set-up (one slot per account); booking is O(1), allocates
//! nothing and uses no floats.

use super::metrics::InstrumentMetrics;
use super::spec::InstrumentSpec;

/// The insurance fund's balance and what moved it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InsuranceFund {
    balance: i64,
    initial: i64,
    fees: i64,
    backstop_loss: i64,
    bad_debt_covered: i64,
    reserved: i64,
}

impl InsuranceFund {
    /// A fund starting at `balance` (E8).
    pub const fn new(balance: i64) -> Self {
        Self {
            balance,
            initial: balance,
            fees: 0,
            backstop_loss: 0,
            bad_debt_covered: 0,
            reserved: 0,
        }
    }

    /// Current balance.
    pub fn balance(&self) -> i64 {
        self.balance
    }

    /// Change since start (fees in, losses out).
    pub fn change(&self) -> i64 {
        self.balance - self.initial
    }

    /// Fees received so far.
    pub fn fees(&self) -> i64 {
        self.fees
    }

    /// Backstop losses paid so far.
    pub fn backstop_loss(&self) -> i64 {
        self.backstop_loss
    }

    /// Negative balances covered so far.
    pub fn bad_debt_covered(&self) -> i64 {
        self.bad_debt_covered
    }

    /// Set aside for outstanding backstops (decided, not yet filled).
    pub fn reserved(&self) -> i64 {
        self.reserved
    }

    /// What a new decision may count on: the balance minus the reservations (never negative).
    pub fn available(&self) -> i64 {
        (self.balance - self.reserved).max(0)
    }

    /// Whether the fund can absorb `loss` from its available balance.
    pub fn can_cover(&self, loss: i64) -> bool {
        loss <= self.available()
    }

    /// Sets aside `amount` (≥ 0, at most the available balance) for a decided backstop.
    pub fn reserve(&mut self, amount: i64) {
        self.reserved += amount.clamp(0, self.available());
    }

    /// Releases `amount` of the reservations (its transfer filled or failed).
    pub fn release(&mut self, amount: i64) {
        self.reserved -= amount.clamp(0, self.reserved);
    }

    /// Receives a liquidation fee.
    pub fn credit_fee(&mut self, fee: i64) {
        self.balance += fee;
        self.fees += fee;
    }

    /// Books the fund's PnL on a taken-over position (negative = loss).
    pub fn take_backstop(&mut self, pnl: i64) {
        self.balance += pnl;
        self.backstop_loss -= pnl;
    }

    /// Pays up to `debt` (never more than the available balance) to cover a negative balance;
    /// returns what it paid.
    pub fn cover_up_to(&mut self, debt: i64) -> i64 {
        let amount = debt.clamp(0, self.available());
        self.balance -= amount;
        self.bad_debt_covered += amount;
        amount
    }
}

/// Where a transfer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransferState {
    /// No transfer recorded for the account.
    #[default]
    None,
    /// Decided and sent; its ack has not come.
    Outstanding,
    /// Its ack deadline passed: its reservation is released; a late fill still books (once).
    TimedOut,
    /// Booked (filled) or failed: nothing more to do.
    Done,
}

/// One backstop or ADL transfer of an account (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Transfer {
    /// The order's id.
    pub order_id: u64,
    /// Where it is.
    pub state: TransferState,
    /// Its instrument.
    pub instrument: u16,
    /// Sign of the **bankrupt** position (+1 long, −1 short), also on a counterparty's record.
    pub sign: i64,
    /// Quantity of the order, E8.
    pub qty: i64,
    /// The transfer price (the bankruptcy price, tick-rounded), E8.
    pub price: i64,
    /// The mark the decision priced the transfer against, E8.
    pub mark: i64,
    /// The fund's reservation for this transfer.
    pub reserved: i64,
    /// The bankrupt account's record: quantity handed to counterparties (the fund takes the
    /// rest of what fills); a counterparty's record: 0.
    pub cp_qty: i64,
    /// The bankrupt account's record: counterparty quantity that did not execute, reported
    /// before its own fill (falls to the fund when it fills).
    pub cp_unfilled: i64,
    /// A counterparty's record: the bankrupt account and its transfer's generation.
    pub counterparty: Option<(u32, u32)>,
    /// Generation of the account's own transfers (counts them; links counterparties).
    pub generation: u32,
}

/// Per-account transfer records and the ADL losses accounts carried, preallocated (one slot per
/// account: an account has at most one order outstanding).
#[derive(Debug, Clone)]
pub struct Transfers {
    slots: Vec<Transfer>,
    /// Per account: the socialised loss booked on it as an ADL counterparty and not yet settled,
    /// and the instrument it was booked on (the latest one, if several).
    carried: Vec<(i64, u16)>,
}

impl Transfers {
    /// Slots for account ids `0..accounts` (allocates here only).
    pub fn new(accounts: usize) -> Self {
        Self {
            slots: vec![Transfer::default(); accounts],
            carried: vec![(0, 0); accounts],
        }
    }

    /// The record of `account`.
    pub fn get(&self, account: u32) -> Option<&Transfer> {
        self.slots.get(account as usize)
    }

    /// Mutable record of `account`.
    pub fn get_mut(&mut self, account: u32) -> Option<&mut Transfer> {
        self.slots.get_mut(account as usize)
    }

    /// Starts a new transfer of `account`'s own position: returns its generation (the old
    /// record, if any, can no longer book).
    pub fn begin(&mut self, account: u32) -> u32 {
        let t = &mut self.slots[account as usize];
        let generation = t.generation.wrapping_add(1);
        *t = Transfer {
            generation,
            ..Transfer::default()
        };
        generation
    }

    /// Records a counterparty reduction of `account` (its own generation is kept).
    pub fn set_counterparty(&mut self, account: u32, t: Transfer) {
        let s = &mut self.slots[account as usize];
        let generation = s.generation;
        *s = Transfer { generation, ..t };
    }

    /// The socialised loss `account` carries as a counterparty (not yet settled), and its
    /// instrument.
    pub fn carried(&self, account: u32) -> (i64, u16) {
        self.carried
            .get(account as usize)
            .copied()
            .unwrap_or((0, 0))
    }

    /// Adds `loss` booked on `instrument` to what `account` carries.
    pub fn carry(&mut self, account: u32, instrument: u16, loss: i64) {
        if let Some(c) = self.carried.get_mut(account as usize) {
            *c = (c.0.saturating_add(loss), instrument);
        }
    }

    /// Takes up to `debt` of what `account` carries (its settlement) and forgets the rest (the
    /// account absorbed it). Returns the part taken and its instrument.
    pub fn settle_carried(&mut self, account: u32, debt: i64) -> (i64, u16) {
        match self.carried.get_mut(account as usize) {
            Some(c) => {
                let part = c.0.clamp(0, debt.max(0));
                let instrument = c.1;
                *c = (0, 0);
                (part, instrument)
            }
            None => (0, 0),
        }
    }
}

/// The books a transfer's fill or failure moves: the fund, the transfer records and the
/// per-instrument metrics (borrowed from the policy, so the ack-timeout walk can book while the
/// account states are borrowed). See the module docs for the rules.
#[derive(Debug)]
pub struct TransferBooks<'a> {
    /// The fund.
    pub fund: &'a mut InsuranceFund,
    /// The transfer records.
    pub transfers: &'a mut Transfers,
    /// Per-instrument metrics (money fields).
    pub metrics: &'a mut [InstrumentMetrics],
    /// Instrument specs (PnL arithmetic).
    pub specs: &'a [InstrumentSpec],
}

impl TransferBooks<'_> {
    /// The fund takes `qty` of a bankrupt position of `sign` at `price`, worth `mark`: keeps its
    /// gain, or pays its loss (bad debt) from the available balance, writing off the rest.
    pub fn fund_takes(&mut self, instrument: u16, sign: i64, qty: i64, price: i64, mark: i64) {
        let i = usize::from(instrument);
        if qty <= 0 || i >= self.specs.len() {
            return;
        }
        let pnl = self.specs[i].realised_pnl(sign, qty, price, mark);
        let m = &mut self.metrics[i];
        if pnl >= 0 {
            self.fund.take_backstop(pnl);
            m.fund_gain += i128::from(pnl);
            m.fund_change += i128::from(pnl);
        } else {
            let loss = pnl.saturating_neg();
            let covered = loss.min(self.fund.available());
            self.fund.take_backstop(-covered);
            m.bad_debt += i128::from(loss);
            m.written_off += i128::from(loss - covered);
            m.fund_change -= i128::from(covered);
        }
    }

    /// The ack of order `order_id` of `account` reports `filled` (0 when rejected or nothing
    /// filled): books the transfer if that order is one (see the module docs); anything else is
    /// ignored (a book order, a stale or duplicate ack).
    pub fn on_fill(&mut self, account: u32, order_id: u64, filled: i64) {
        let Some(&t) = self.transfers.get(account) else {
            return;
        };
        if t.order_id != order_id
            || !matches!(
                t.state,
                TransferState::Outstanding | TransferState::TimedOut
            )
        {
            return;
        }
        self.fund.release(t.reserved);
        let f = filled.clamp(0, t.qty);
        if let Some(s) = self.transfers.get_mut(account) {
            s.state = TransferState::Done;
            s.reserved = 0;
        }
        let i = usize::from(t.instrument);
        if i >= self.specs.len() {
            return;
        }
        match t.counterparty {
            Some((parent, generation)) => {
                // The counterparty closes `f` at the transfer price instead of the mark: it
                // carries that (the bankrupt position's gain beyond the mark).
                let loss = self.specs[i]
                    .realised_pnl(t.sign, f, t.mark, t.price)
                    .max(0);
                let m = &mut self.metrics[i];
                m.bad_debt += i128::from(loss);
                m.socialised += i128::from(loss);
                self.transfers.carry(account, t.instrument, loss);
                self.unfilled_share(parent, generation, t.qty - f);
            }
            None => {
                // The fund takes what filled beyond the counterparties' executed share.
                let cp = (t.cp_qty - t.cp_unfilled).max(0);
                let fund_qty = (f - cp).clamp(0, f);
                if let Some(s) = self.transfers.get_mut(account) {
                    // What of the fill is left to counterparties that have not answered yet.
                    s.cp_qty = f - fund_qty;
                    s.cp_unfilled = 0;
                }
                self.fund_takes(t.instrument, t.sign, fund_qty, t.price, t.mark);
            }
        }
    }

    /// A counterparty reduction of `parent`'s transfer (`generation`) left `qty` unexecuted:
    /// the fund takes it if the bankrupt account's transfer filled, or will when it fills.
    fn unfilled_share(&mut self, parent: u32, generation: u32, qty: i64) {
        let Some(&p) = self.transfers.get(parent) else {
            return;
        };
        if qty <= 0 || p.generation != generation || p.counterparty.is_some() {
            return;
        }
        match p.state {
            TransferState::Outstanding | TransferState::TimedOut => {
                if let Some(s) = self.transfers.get_mut(parent) {
                    s.cp_unfilled += qty;
                }
            }
            TransferState::Done => {
                // After its fill, `cp_qty` is what of the fill was left to counterparties.
                let x = qty.min(p.cp_qty);
                if let Some(s) = self.transfers.get_mut(parent) {
                    s.cp_qty -= x;
                }
                self.fund_takes(p.instrument, p.sign, x, p.price, p.mark);
            }
            TransferState::None => {}
        }
    }

    /// `account`'s outstanding order passed its ack deadline: a transfer's reservation is
    /// released (a late fill of the bankrupt account's own transfer still books); a counterparty
    /// reduction counts as not executed.
    pub fn on_timeout(&mut self, account: u32) {
        let Some(&t) = self.transfers.get(account) else {
            return;
        };
        if t.state != TransferState::Outstanding {
            return;
        }
        if t.counterparty.is_some() {
            self.on_fill(account, t.order_id, 0);
            return;
        }
        self.fund.release(t.reserved);
        if let Some(s) = self.transfers.get_mut(account) {
            s.state = TransferState::TimedOut;
            s.reserved = 0;
        }
    }
}

/// The four conserved books (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ledger {
    /// Σ wallet balances.
    pub wallets: i128,
    /// Counterparties' side of realised PnL.
    pub realised_pnl: i128,
    /// The insurance fund.
    pub fund: i128,
    /// Written-off negative balances (≤ 0).
    pub bad_debt: i128,
}

impl Ledger {
    /// A ledger over the given opening wallets and fund.
    pub fn open(wallets: impl IntoIterator<Item = i64>, fund: &InsuranceFund) -> Self {
        Self {
            wallets: wallets.into_iter().map(i128::from).sum(),
            realised_pnl: 0,
            fund: i128::from(fund.balance()),
            bad_debt: 0,
        }
    }

    /// The conserved total.
    pub fn total(&self) -> i128 {
        self.wallets + self.realised_pnl + self.fund + self.bad_debt
    }

    /// An account realises `pnl` (closing at a fill price): its wallet moves by `pnl`.
    pub fn realise(&mut self, wallet: &mut i64, pnl: i64) {
        *wallet += pnl;
        self.wallets += i128::from(pnl);
        self.realised_pnl -= i128::from(pnl);
    }

    /// A liquidation fee moves from the wallet to the fund (the fund itself is credited by
    /// whoever computed the fee, e.g. [`crate::policy::Policy::on_ack`]).
    pub fn fee(&mut self, wallet: &mut i64, fee: i64) {
        *wallet -= fee;
        self.wallets -= i128::from(fee);
        self.fund += i128::from(fee);
    }

    /// The fund's PnL on a position it took over at the bankruptcy price and closed at the mark
    /// (as booked by [`InsuranceFund::take_backstop`]) moves between the fund and the market.
    pub fn backstop(&mut self, fund_pnl: i64) {
        self.fund += i128::from(fund_pnl);
        self.realised_pnl -= i128::from(fund_pnl);
    }

    /// An account with nothing left open ends with a negative wallet: `covered` of it was paid
    /// by the fund ([`InsuranceFund::cover_up_to`]), the rest is written off as bad debt. Returns the
    /// amount written off.
    pub fn write_off(&mut self, wallet: &mut i64, covered: i64) -> i64 {
        if *wallet >= 0 {
            return 0;
        }
        let debt = -*wallet;
        let covered = covered.clamp(0, debt);
        self.fund -= i128::from(covered);
        let rest = debt - covered;
        self.bad_debt -= i128::from(rest);
        self.wallets += i128::from(debt);
        *wallet = 0;
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::spec::{Bracket, ContractKind, InstrumentSpec};
    use hotrisk_feed::fixed::E8;

    #[test]
    fn a_transfer_record_is_small() {
        // The policy's module docs count it in the per-account memory.
        assert!(std::mem::size_of::<Transfer>() <= 96);
    }

    #[test]
    fn reservations_limit_what_the_fund_pays() {
        let mut f = InsuranceFund::new(10);
        f.reserve(7);
        assert_eq!((f.available(), f.reserved()), (3, 7));
        assert!(f.can_cover(3) && !f.can_cover(4));
        // Pays at most the available balance; a reservation beyond it is clamped.
        assert_eq!(f.cover_up_to(5), 3);
        f.reserve(100);
        assert_eq!(f.reserved(), 7);
        f.release(7);
        assert_eq!((f.balance(), f.available(), f.reserved()), (7, 7, 0));
        f.release(1);
        assert_eq!(f.reserved(), 0, "never below zero");
    }

    #[test]
    fn transfers_conserve() {
        let spec = InstrumentSpec::new(
            ContractKind::Linear,
            1,
            1,
            E8,
            E8 / 100,
            &[Bracket {
                cap: 0,
                mmr: E8 / 100,
                cum: 0,
            }],
        )
        .unwrap();
        let mut fund = InsuranceFund::new(10 * E8);
        let mut w = [100 * E8, 5 * E8];
        let mut l = Ledger::open(w, &fund);
        let t0 = l.total();
        l.realise(&mut w[0], -7 * E8 - 3);
        fund.credit_fee(1_234);
        l.fee(&mut w[0], 1_234);
        let pnl = spec.realised_pnl(1, E8, 100 * E8, 99 * E8 + 7);
        fund.take_backstop(pnl);
        l.backstop(pnl);
        l.realise(&mut w[1], -20 * E8);
        let c = fund.cover_up_to(-w[1]);
        let r = l.write_off(&mut w[1], c);
        assert_eq!(w[1], 0);
        assert_eq!(c + r, 15 * E8);
        assert!(fund.balance() >= 0);
        assert_eq!(l.total(), t0);
        assert_eq!(l.wallets, i128::from(w[0]) + i128::from(w[1]));
        assert_eq!(l.fund, i128::from(fund.balance()));
    }
}
