//! The insurance fund and the conservation ledger.
//!
//! # The fund
//! [`InsuranceFund`] holds one balance (E8, the margin asset; one fund per settlement asset is the
//! caller's choice). It receives liquidation fees on fills, pays the loss of positions it takes
//! over at the bankruptcy price (the backstop), and covers negative balances left after an account
//! is closed out. It never goes negative: when a loss would exceed the balance, the policy
//! auto-deleverages instead (see [`crate::policy::tiers`]).
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
//! scenario; `tests/policy_accounting.rs` checks it against independently kept balances.

/// The insurance fund's balance and what moved it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InsuranceFund {
    balance: i64,
    initial: i64,
    fees: i64,
    backstop_loss: i64,
    bad_debt_covered: i64,
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

    /// Whether the fund can absorb `loss` without going negative.
    pub fn can_cover(&self, loss: i64) -> bool {
        loss <= self.balance
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

    /// Pays up to `debt` (never more than the balance) to cover a negative balance; returns
    /// what it paid.
    pub fn cover_up_to(&mut self, debt: i64) -> i64 {
        let amount = debt.clamp(0, self.balance.max(0));
        self.balance -= amount;
        self.bad_debt_covered += amount;
        amount
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
