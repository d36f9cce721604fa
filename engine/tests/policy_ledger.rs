//! The policy's bad-debt metrics against losses summed independently, account by account, from
//! what executed (the fills), with explicit acknowledgements: a backstop that is rejected and
//! decided again, a backstop that fills in two parts, an ADL with one counterparty that fills
//! (and is left below zero by it) and one that refuses, and the settlement of that negative
//! balance. Every unit of loss must be booked exactly once:
//!
//! - bad debt = Σ over bankrupt accounts of the loss beyond their margin that their transfer
//!   fills handed on (fill quantity × (transfer price − the decision's mark)), plus the negative
//!   balances of closed accounts that no earlier booking already counted;
//! - bad debt = paid by the fund + socialised (carried by counterparties) + written off;
//! - the fund's change = fees + takeover gains − what it paid.

mod policy_common;

mod common;
use hotrisk_engine::policy::metrics::OrderMetrics;
use hotrisk_engine::policy::spec::InstrumentSpec;
use hotrisk_engine::policy::tiers::AdlRanking;
use hotrisk_engine::policy::{Outcome, Policy};
use hotrisk_feed::fixed::E8;
use hotrisk_feed::wire::{AckStatus, Order, Tier};
use policy_common::*;

const MARK: i64 = 49_000 * E8;
/// A long 1 BTC from 50000 with a wallet of 980 at 49000: margin balance −20, bankrupt at 49020.
const BP: i64 = 49_020 * E8;

fn bankrupt_long(id: u32) -> Acct {
    Acct {
        id,
        wallet: 980 * E8,
        qty: E8,
        entry: 50_000 * E8,
    }
}

/// The test's own books: wallets and positions moved by the fills it executes, and the losses
/// it sums from them (never from the policy's metrics).
struct Exchange {
    spec: InstrumentSpec,
    accts: Vec<Acct>,
    /// Σ over transfer fills of bankrupt accounts: qty × (transfer price − decision mark).
    handed_on: i128,
    /// Per account: the loss ADL reductions made it carry (closing at the transfer price
    /// instead of the decision's mark).
    adl_carried: Vec<i128>,
    /// Σ negative balances of closed accounts beyond what ADL made them carry (new bad debt).
    new_debt: i128,
    /// Σ negative balances settled (credited back to zero).
    settled: i128,
}

impl Exchange {
    /// Executes `filled` of a transfer order `o` (decided at `mark`) for its account.
    fn transfer_fill(&mut self, o: &Order, filled: i64, mark: i64, counterparty: bool) {
        let a = &mut self.accts[o.account as usize];
        let sign = a.qty.signum();
        let pnl = self.spec.realised_pnl(sign, filled, a.entry, o.limit_price);
        a.wallet += pnl;
        a.qty -= sign * filled;
        // Closing at the transfer price instead of the decision's mark: `v` = what the account
        // got beyond the mark (> 0 for the bankrupt account, whose buyer pays it; < 0 for a
        // counterparty, which carries it).
        let v = self.spec.realised_pnl(sign, filled, mark, o.limit_price);
        if counterparty {
            self.adl_carried[o.account as usize] += i128::from((-v).max(0));
        } else {
            self.handed_on += i128::from(v.max(0));
        }
    }

    /// What the margin core does for a flat account below zero.
    fn settle(&mut self, p: &mut Policy, id: u32) {
        let a = &mut self.accts[id as usize];
        if a.qty != 0 || a.wallet >= 0 {
            return;
        }
        let debt = -a.wallet;
        let carried = self.adl_carried[id as usize].min(i128::from(debt));
        self.adl_carried[id as usize] = 0;
        self.new_debt += i128::from(debt) - carried;
        self.settled += i128::from(debt);
        p.cover_negative(id, 0, debt);
        a.wallet = 0;
    }
}

fn ack_of(p: &mut Policy, o: &Order, status: AckStatus, filled: i64) {
    let avg = if filled > 0 { o.limit_price } else { 0 };
    p.on_ack(&ack(o.account, 0, status as u8, o.order_id, filled, avg), 0)
        .expect("the ack matches the outstanding order");
}

fn only(orders: &[(Order, OrderMetrics)]) -> Order {
    assert_eq!(orders.len(), 1, "{orders:?}");
    orders[0].0
}

/// A policy without cancel-first over `accounts` accounts and a fund of `fund`, with the mark
/// and index at `MARK` and a 20-level book below and above it (nothing at any bankruptcy price
/// of the tests' bankrupt accounts); also the ack timeout.
fn backstop_policy(spec: InstrumentSpec, accounts: usize, fund: i64) -> (Policy, i64) {
    let mut cfg = config();
    cfg.cancel_first = false;
    let timeout = cfg.ack_timeout_ns;
    let mut p = Policy::new(cfg, vec![spec], accounts, fund);
    prices(&mut p, 0, 0, MARK);
    let (b, a) = ladder(MARK, E8, 20, E8 / 10);
    book(&mut p, 0, 0, &b, &a);
    (p, timeout)
}

#[test]
fn every_unit_of_bad_debt_is_booked_once_and_where_it_executed() {
    let spec = btc();
    let mut cfg = config();
    cfg.cancel_first = false;
    let timeout = cfg.ack_timeout_ns;
    let fund0 = 50 * E8;
    let mut p = Policy::new(cfg, vec![spec], 8, fund0);
    prices(&mut p, 0, 0, MARK);
    // Bids below the mark only: nothing at or above any bankruptcy price.
    let (b, a) = ladder(MARK, E8, 20, E8 / 10);
    book(&mut p, 0, 0, &b, &a);
    // Counterparties (shorts), ranked 3 then 4. Account 3 has almost no margin: closing at the
    // bankruptcy price of another account leaves it below zero.
    let mut x = Exchange {
        spec,
        accts: (0..8)
            .map(|id| Acct {
                id,
                wallet: 0,
                qty: 0,
                entry: 0,
            })
            .collect(),
        handed_on: 0,
        adl_carried: vec![0; 8],
        new_debt: 0,
        settled: 0,
    };
    for id in [1, 2, 5] {
        x.accts[id as usize] = bankrupt_long(id);
    }
    x.accts[3] = Acct {
        id: 3,
        wallet: E8,
        qty: -E8 / 2,
        entry: 49_005 * E8,
    };
    x.accts[4] = Acct {
        id: 4,
        wallet: 10_000 * E8,
        qty: -E8,
        entry: 55_000 * E8,
    };
    p.adl_mut(0)
        .set(3, -E8 / 2, AdlRanking::score(9, 10, 10, 1));
    p.adl_mut(0).set(4, -E8, AdlRanking::score(2, 10, 10, 1));

    // 1. Account 1: a backstop the venue rejects, decided again after the back-off, then filled.
    let (o, orders) = decide(&mut p, &spec, 0, &x.accts[1], MARK, 1, S);
    assert_eq!(o, Outcome::Sent(Tier::Backstop));
    let first = only(&orders);
    ack_of(&mut p, &first, AckStatus::Rejected, 0);
    let mut again = Vec::new();
    p.on_time(S + timeout + 1, |a| again.push(a));
    assert_eq!(again, [1]);
    prices(&mut p, 0, S + timeout + 1, MARK);
    let (o, orders) = decide(&mut p, &spec, 0, &x.accts[1], MARK, 2, S + timeout + 1);
    assert_eq!(o, Outcome::Sent(Tier::Backstop), "the fund still covers it");
    let second = only(&orders);
    assert_eq!((second.qty, second.limit_price), (E8, BP));
    x.transfer_fill(&second, E8, MARK, false);
    ack_of(&mut p, &second, AckStatus::Filled, E8);
    x.settle(&mut p, 1);
    // Booked once: the first decision's order never executed.
    assert_eq!(
        (p.metrics(0).bad_debt, p.fund().balance()),
        (20 * i128::from(E8), 30 * E8),
        "after account 1: {:#?}",
        p.metrics(0)
    );

    // 2. Account 5: a backstop that fills 0.4 of 1, then the rest after the back-off.
    let t = 3 * S + 2 * timeout;
    prices(&mut p, 0, t, MARK);
    let (o, orders) = decide(&mut p, &spec, 0, &x.accts[5], MARK, 3, t);
    assert_eq!(o, Outcome::Sent(Tier::Backstop));
    let part = only(&orders);
    x.transfer_fill(&part, 2 * E8 / 5, MARK, false);
    ack_of(&mut p, &part, AckStatus::Partial, 2 * E8 / 5);
    p.on_time(t + timeout + 1, |_| {});
    prices(&mut p, 0, t + timeout + 1, MARK);
    let (o, orders) = decide(&mut p, &spec, 0, &x.accts[5], MARK, 4, t + timeout + 1);
    assert_eq!(o, Outcome::Sent(Tier::Backstop));
    let rest = only(&orders);
    assert_eq!((rest.qty, rest.limit_price), (3 * E8 / 5, BP));
    x.transfer_fill(&rest, 3 * E8 / 5, MARK, false);
    ack_of(&mut p, &rest, AckStatus::Filled, 3 * E8 / 5);
    x.settle(&mut p, 5);

    // 3. Account 2: the fund has 10 left for a loss of 20: ADL against 3 and 4. Account 3's
    //    reduction fills and leaves it below zero; account 4 refuses; the bankrupt account's own
    //    transfer fills whole.
    let t = 5 * S + 4 * timeout;
    prices(&mut p, 0, t, MARK);
    let (o, orders) = decide(&mut p, &spec, 0, &x.accts[2], MARK, 5, t);
    assert_eq!(o, Outcome::Sent(Tier::Adl), "{orders:?}");
    let got: Vec<(u32, i64)> = orders.iter().map(|(o, _)| (o.account, o.qty)).collect();
    assert_eq!(got, [(3, E8 / 2), (4, E8 / 2), (2, E8)]);
    let (cp3, cp4, own) = (orders[0].0, orders[1].0, orders[2].0);
    x.transfer_fill(&cp3, E8 / 2, MARK, true);
    ack_of(&mut p, &cp3, AckStatus::Filled, E8 / 2);
    x.settle(&mut p, 3);
    ack_of(&mut p, &cp4, AckStatus::Rejected, 0);
    x.transfer_fill(&own, E8, MARK, false);
    ack_of(&mut p, &own, AckStatus::Filled, E8);
    x.settle(&mut p, 2);

    // The independent sums: 20 (account 1) + 8 + 12 (account 5) + 20 (account 2) handed on;
    // account 3 ends at 1 + 0.5·(49005 − 49020) = −6.5, all of it the ADL loss it could not
    // carry (10 carried from a margin balance of 3.5 at the mark): no new debt.
    assert_eq!(x.handed_on, 60 * i128::from(E8));
    assert_eq!(x.settled, 65 * i128::from(E8) / 10);
    assert_eq!(x.new_debt, 0);
    let carried3 = 10 * i128::from(E8) - x.settled; // what account 3 actually carried: 3.5

    let m = *p.metrics(0);
    let fund = *p.fund();
    let ctx = format!("metrics {m:#?}\nfund {fund:?}");
    assert_eq!(m.bad_debt, x.handed_on + x.new_debt, "bad debt\n{ctx}");
    assert_eq!(m.socialised, carried3, "socialised\n{ctx}");
    assert_eq!(
        m.bad_debt,
        m.fund_covered() + m.socialised + m.written_off,
        "split\n{ctx}"
    );
    // The fund paid 20 + 20 for the backstops, then its last 10 for account 4's refused share;
    // account 3's 6.5 found it empty: written off.
    assert_eq!(m.fund_covered(), 50 * i128::from(E8), "fund paid\n{ctx}");
    assert_eq!(
        m.written_off,
        65 * i128::from(E8) / 10,
        "written off\n{ctx}"
    );
    assert_eq!(i128::from(fund.change()), m.fund_change, "{ctx}");
    assert_eq!(
        m.fund_change,
        m.fees + m.fund_gain - m.fund_covered(),
        "{ctx}"
    );
    assert_eq!(fund.balance(), 0, "{ctx}");
    assert!(fund.balance() >= 0);
    // Nothing left on any account: wallets of the bankrupt accounts are zero at the transfer price.
    for a in &x.accts {
        assert!(a.wallet >= 0, "{a:?}");
    }
}

/// A backstop that times out (no ack at all) and is decided again books its loss once; the
/// reservation the first decision made is released at the timeout, so the second decision sees
/// the whole fund.
#[test]
fn a_timed_out_backstop_reserves_then_releases() {
    let spec = btc();
    let (mut p, timeout) = backstop_policy(spec, 4, 25 * E8);
    let acct = bankrupt_long(1);
    let (o, orders) = decide(&mut p, &spec, 0, &acct, MARK, 1, S);
    assert_eq!(o, Outcome::Sent(Tier::Backstop));
    let first = only(&orders);
    // Nothing is booked at the decision.
    assert_eq!(p.metrics(0).bad_debt, 0);
    assert_eq!(p.fund().balance(), 25 * E8);
    let mut again = Vec::new();
    p.on_time(S + timeout + 1, |a| again.push(a));
    assert_eq!(again, [1]);
    prices(&mut p, 0, S + timeout + 1, MARK);
    let (o, orders) = decide(&mut p, &spec, 0, &acct, MARK, 2, S + timeout + 1);
    assert_eq!(
        o,
        Outcome::Sent(Tier::Backstop),
        "the reservation was released"
    );
    let second = only(&orders);
    assert_ne!(first.order_id, second.order_id);
    ack_of(&mut p, &second, AckStatus::Filled, E8);
    let m = p.metrics(0);
    assert_eq!(m.bad_debt, 20 * i128::from(E8));
    assert_eq!(m.fund_covered(), 20 * i128::from(E8));
    assert_eq!(p.fund().balance(), 5 * E8);
}

/// The same accounting through the production path: the margin core (SoA state + policy) and
/// the simulated venue answering every order with its fills and acknowledgement, in-process and
/// deterministic. Account 1's first backstop order is lost on the way (no fill, no ack): it
/// times out and is decided again. Account 2 is deleveraged against 3 (almost no margin: the
/// reduction leaves it flat and below zero, and the core settles it) and 4. The losses are
/// summed from the venue's fills, never from the policy.
#[test]
fn through_the_margin_core_and_the_venue() {
    use hotrisk_engine::margin::{MarginMode, MarginState};
    use hotrisk_engine::pipeline::core::{OrderSink, RiskCore};
    use hotrisk_engine::pipeline::margin_core::MarginCore;
    use hotrisk_engine::policy::PolicyConfig;
    use hotrisk_feed::venue::Venue;
    use hotrisk_feed::wire::{Msg, MsgKind, Side};

    let inst = common::btc_linear();
    let mark = 85 * E8;
    let mut st = MarginState::new(vec![inst], vec![mark]).unwrap();
    // (account, wallet, qty, entry): 1 and 2 are past bankruptcy at 85 (both bankrupt at 90).
    let accounts: [(u32, i64, i64, i64); 4] = [
        (1, 10 * E8, E8, 100 * E8),
        (2, 40 * E8, 4 * E8, 100 * E8),
        (3, E8 / 2, -E8, 86 * E8),
        (4, 1_000 * E8, -10 * E8, 120 * E8),
    ];
    let mut wallets = [0i64; 5];
    for &(a, w, q, e) in &accounts {
        st.add_account(a, w).unwrap();
        st.add_position(a, 0, q, e, MarginMode::Cross, None)
            .unwrap();
        wallets[a as usize] = w;
    }
    st.evaluate_all();
    // Enough for account 1's loss of 5, not for account 2's 20 (whichever is decided first).
    let fund0 = 10 * E8;
    let mut core = MarginCore::new(st, PolicyConfig::default(), fund0).unwrap();
    let mut venue = Venue::new(1);
    let mut out = OrderSink::with_capacity(256);

    let md = |kind: MsgKind, ts: i64, aux: u8, body: [i64; 3]| {
        let mut m = Msg::market(kind, 0, ts, ts);
        m.aux = aux;
        m.body = body;
        m
    };
    // The independent books.
    let mut handed_on = 0i128; // Σ own transfer fills: qty × (price − mark)
    let mut carried = [0i128; 5]; // per counterparty: qty × (price − mark)
    let mut positions = [0i64; 5];
    let mut entries = [0i64; 5];
    for &(a, _, q, e) in &accounts {
        positions[a as usize] = q;
        entries[a as usize] = e;
    }
    let mut dropped = 0;
    let mut pending: Vec<Msg> = Vec::new();
    let mut run = |core: &mut MarginCore,
                   venue: &mut Venue,
                   out: &mut OrderSink,
                   msgs: &[Msg],
                   ts: i64,
                   account_events: bool| {
        for m in msgs {
            if account_events {
                core.on_account(m, out);
            } else {
                venue.on_market(m);
                core.on_market(m, out);
            }
        }
        // Orders → venue → replies → core, until quiet.
        loop {
            let mut orders = Vec::new();
            while let Some(o) = out.pop() {
                orders.push(o);
            }
            if orders.is_empty() && pending.is_empty() {
                break;
            }
            for o in orders {
                let transfer = matches!(Tier::from_u8(o.tier), Some(Tier::Backstop | Tier::Adl))
                    && o.kind == MsgKind::Order as u8;
                if transfer && o.account == 1 && dropped == 0 {
                    dropped += 1; // lost on the way: no fill, no ack
                    continue;
                }
                venue.on_order(&o, ts, |r| {
                    if transfer && r.kind == MsgKind::Fill as u8 {
                        let a = r.account as usize;
                        let q = r.body[0].abs();
                        let px = r.body[1];
                        let vs_mark = i128::from(px - mark) * i128::from(q) / i128::from(E8);
                        // A long selling above the mark hands that on; a short buying above it
                        // carries it.
                        if r.aux == Side::Sell as u8 {
                            handed_on += vs_mark;
                        } else {
                            carried[a] += vs_mark;
                        }
                        let sign = positions[a].signum();
                        let pnl = i128::from(sign) * i128::from(px - entries[a]) * i128::from(q)
                            / i128::from(E8);
                        wallets[a] += pnl as i64;
                        positions[a] -= sign * q;
                    }
                    pending.push(r);
                });
            }
            for r in std::mem::take(&mut pending) {
                core.on_account(&r, out);
            }
        }
    };
    // Trusted data at t = 1 s: a book with nothing at or above 90, the index and the mark.
    let s = 1_000_000_000i64;
    let mut feed = vec![md(MsgKind::SnapshotBegin, s, 0, [0; 3])];
    for k in 0..5 {
        feed.push(md(
            MsgKind::BookLevel,
            s,
            Side::Buy as u8,
            [(80 - k) * E8, E8, 0],
        ));
        feed.push(md(
            MsgKind::BookLevel,
            s,
            Side::Sell as u8,
            [(86 + k) * E8, E8, 0],
        ));
    }
    feed.push(md(MsgKind::SnapshotEnd, s, 0, [0; 3]));
    feed.push(md(MsgKind::IndexPrice, s, 0, [mark, 0, 0]));
    feed.push(md(MsgKind::MarkPrice, s, 0, [mark, 0, 0]));
    run(&mut core, &mut venue, &mut out, &feed, s, false);
    // 2.5 s later, same prices: account 1's lost backstop has timed out and is decided again.
    let t = s + 2 * s + s / 2;
    let later = [
        md(MsgKind::IndexPrice, t, 0, [mark, 0, 0]),
        md(MsgKind::MarkPrice, t, 0, [mark, 0, 0]),
    ];
    run(&mut core, &mut venue, &mut out, &later, t, false);
    assert_eq!(dropped, 1);

    let settled = core.settled();
    let new_debt = (settled.debt_e8 - carried[3]).max(0);
    let m = *core.policy().metrics(0);
    let fund = *core.policy().fund();
    let ctx = format!(
        "independent: handed on {handed_on}, carried {carried:?}, settled {settled:?}\n{m:#?}\n{fund:?}\n{}",
        core.summary()
    );
    assert_eq!(m.bad_debt, handed_on + new_debt, "bad debt\n{ctx}");
    assert_eq!(
        m.socialised,
        carried[3] + carried[4] - settled.debt_e8,
        "socialised\n{ctx}"
    );
    assert_eq!(
        m.bad_debt,
        m.fund_covered() + m.socialised + m.written_off,
        "{ctx}"
    );
    assert_eq!(i128::from(fund.change()), m.fund_change, "{ctx}");
    assert_eq!(
        m.fund_change,
        m.fees + m.fund_gain - m.fund_covered(),
        "{ctx}"
    );
    // The fund paid account 1's 5 and account 3's 3.5: nothing written off.
    assert_eq!(m.fund_covered(), 85 * i128::from(E8) / 10, "{ctx}");
    assert_eq!(m.written_off, 0, "{ctx}");
    assert_eq!(fund.balance(), fund0 - 85 * E8 / 10, "{ctx}");
    assert_eq!(fund.reserved(), 0, "{ctx}");
    // Independent: 1 hands on 5, 2 hands on 4 × 5 = 20; 3 carried 1 × 5 from a margin balance of
    // 1.5 and ended at 0.5 + (86 − 90) = −3.5: that 3.5 is the part it could not carry.
    assert_eq!(positions, [0, 0, 0, 0, -7 * E8]);
    assert_eq!(handed_on, 25 * i128::from(E8));
    assert_eq!(carried[3] + carried[4], 20 * i128::from(E8));
    assert_eq!(wallets[3], -35 * E8 / 10);
    assert_eq!(settled.debt_e8, 35 * i128::from(E8) / 10);
    // What happened: two backstop decisions for account 1 (the lost one and the one that
    // filled), one ADL decision for account 2 with two counterparty reductions.
    assert_eq!(
        (
            m.orders_by_tier[Tier::Backstop as usize],
            m.orders_by_tier[Tier::Adl as usize]
        ),
        (2, 1),
        "{ctx}"
    );
    assert_eq!(m.adl_count, 2, "{ctx}");
    // The core's own settlement totals agree.
    assert_eq!(settled.covered_e8 + settled.written_off_e8, settled.debt_e8);
}

/// An ADL decision (fund 10 for a loss of 20, counterparties 3 and 4): the books it ends with,
/// with the acks applied in `order` (indices into the decision's orders: 3's reduction, 4's,
/// the bankrupt account's own transfer) and 4's reduction refused.
fn adl_books_with_ack_order(order: [usize; 3]) -> (i128, i128, i128, i128, i64) {
    let spec = btc();
    let (mut p, _) = backstop_policy(spec, 8, 10 * E8);
    p.adl_mut(0)
        .set(3, -E8 / 2, AdlRanking::score(9, 10, 10, 1));
    p.adl_mut(0).set(4, -E8, AdlRanking::score(2, 10, 10, 1));
    let (o, orders) = decide(&mut p, &spec, 0, &bankrupt_long(2), MARK, 1, S);
    assert_eq!(o, Outcome::Sent(Tier::Adl));
    let got: Vec<u32> = orders.iter().map(|(o, _)| o.account).collect();
    assert_eq!(got, [3, 4, 2]);
    for k in order {
        let o = orders[k].0;
        if o.account == 4 {
            ack_of(&mut p, &o, AckStatus::Rejected, 0);
        } else {
            ack_of(&mut p, &o, AckStatus::Filled, o.qty);
        }
    }
    let m = p.metrics(0);
    assert_eq!(p.fund().reserved(), 0);
    (
        m.bad_debt,
        m.socialised,
        m.fund_covered(),
        m.written_off,
        p.fund().balance(),
    )
}

/// Whatever order the venue answers an ADL decision's orders in, the books end the same: the
/// refused counterparty's share (0.5 × 20 = 10) falls to the fund once the bankrupt account's
/// transfer has filled, whether that refusal came before or after.
#[test]
fn an_adl_books_the_same_whatever_order_its_acks_come_in() {
    let e8 = i128::from(E8);
    let want = (20 * e8, 10 * e8, 10 * e8, 0, 0);
    for order in [
        [0, 1, 2],
        [2, 1, 0],
        [1, 2, 0],
        [0, 2, 1],
        [2, 0, 1],
        [1, 0, 2],
    ] {
        assert_eq!(adl_books_with_ack_order(order), want, "ack order {order:?}");
    }
}

/// A backstop whose ack comes after its deadline (the fill did happen): its reservation was
/// released at the deadline and the late fill still books, once; a duplicate books nothing.
#[test]
fn a_late_fill_of_a_timed_out_backstop_books_once() {
    let spec = btc();
    let (mut p, timeout) = backstop_policy(spec, 4, 50 * E8);
    let (_, orders) = decide(&mut p, &spec, 0, &bankrupt_long(1), MARK, 1, S);
    let o = only(&orders);
    assert_eq!(p.fund().available(), 30 * E8);
    p.on_time(S + timeout + 1, |_| {});
    assert_eq!(p.fund().available(), 50 * E8, "released at the deadline");
    assert_eq!(p.metrics(0).bad_debt, 0);
    let late = ack(1, 0, AckStatus::Filled as u8, o.order_id, E8, o.limit_price);
    assert!(p.on_ack(&late, 0).is_none(), "the state machine moved on");
    assert_eq!(p.metrics(0).bad_debt, 20 * i128::from(E8));
    assert_eq!(p.fund().balance(), 30 * E8);
    assert!(p.on_ack(&late, 0).is_none());
    assert_eq!(
        p.metrics(0).bad_debt,
        20 * i128::from(E8),
        "a duplicate books nothing"
    );
    assert_eq!(p.fund().balance(), 30 * E8);
}

/// Random rounds of backstop/ADL decisions over bankrupt longs and short counterparties, with
/// every order answered at random (filled, refused, or never: timed out) and the answers applied
/// in a random order; failed transfers are decided again in the next round. Against the losses
/// summed from what executed, to the last unit up to one E8 unit of rounding per booked piece:
/// bad debt = Σ over bankrupt accounts' filled transfers of qty × (price − mark), plus what the
/// counterparties of transfers that never filled carried; the split and the fund identity hold;
/// the fund never goes negative and every reservation is released.
#[test]
fn random_answers_never_book_a_loss_twice() {
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256StarStar;

    let spec = btc();
    // Across the seeds: [backstops, ADL decisions, refused, timed out, orphaned ADL fills].
    let mut seen = [0u32; 5];
    for seed in 0..300u64 {
        let mut rng = Xoshiro256StarStar::seed_from_u64(seed);
        let mut cfg = config();
        cfg.cancel_first = false;
        let timeout = cfg.ack_timeout_ns;
        let n = 12usize;
        let fund0 = rng.gen_range(0..80) * E8;
        let mut p = Policy::new(cfg, vec![spec], n, fund0);
        let (b, a) = ladder(MARK, E8, 20, E8 / 10);
        // Accounts 0..6: bankrupt longs of 1 (loss 20 at the mark); 6..12: shorts.
        let mut accts: Vec<Acct> = (0..n as u32)
            .map(|id| {
                if id < 6 {
                    bankrupt_long(id)
                } else {
                    Acct {
                        id,
                        wallet: 10_000 * E8,
                        qty: -spec.floor_lot(rng.gen_range(E8 / 10..2 * E8)),
                        entry: 55_000 * E8,
                    }
                }
            })
            .collect();
        let (mut handed_on, mut orphan_carried) = (0i128, 0i128);
        let mut pieces = 0i128;
        let mut t = S;
        for round in 0..4u64 {
            prices(&mut p, 0, t, MARK);
            book(&mut p, 0, t, &b, &a);
            for c in &accts[6..] {
                let score = AdlRanking::score(c.upnl(&spec, MARK), 10, 10, 1);
                p.adl_mut(0).set(c.id, c.qty, score);
            }
            // Decide every bankrupt account still holding its position.
            let mut batches = Vec::new();
            for acct in &accts[..6] {
                if acct.qty == 0 {
                    continue;
                }
                let (_, orders) = decide(&mut p, &spec, 0, acct, MARK, round * 10 + 1, t);
                if let Some((o, _)) = orders.last() {
                    seen[usize::from(o.tier == Tier::Adl as u8)] += 1;
                    batches.push(orders);
                }
            }
            // Each order's answer: 0 filled, 1 refused, 2 never (times out).
            let mut answers: Vec<(Order, u8, usize)> = Vec::new();
            for (k, batch) in batches.iter().enumerate() {
                for (o, _) in batch {
                    answers.push((*o, rng.gen_range(0..3u8), k));
                }
            }
            // What executed, per batch: own filled? counterparties' carried losses.
            let mut own_filled = vec![false; batches.len()];
            let mut cp_carried = vec![0i128; batches.len()];
            answers.shuffle(&mut rng);
            for &(o, answer, k) in &answers {
                let own = o.account < 6;
                match answer {
                    0 => {
                        let acct = &mut accts[o.account as usize];
                        let sign = acct.qty.signum();
                        let v = spec.realised_pnl(sign, o.qty, MARK, o.limit_price);
                        acct.wallet += spec.realised_pnl(sign, o.qty, acct.entry, o.limit_price);
                        acct.qty -= sign * o.qty;
                        if own {
                            own_filled[k] = true;
                            handed_on += i128::from(v.max(0));
                        } else {
                            cp_carried[k] += i128::from((-v).max(0));
                        }
                        pieces += 1;
                        ack_of(&mut p, &o, AckStatus::Filled, o.qty);
                    }
                    1 => {
                        seen[2] += 1;
                        ack_of(&mut p, &o, AckStatus::Rejected, 0);
                    }
                    _ => seen[3] += 1,
                }
            }
            for k in 0..batches.len() {
                if !own_filled[k] {
                    // The bankrupt account kept its position: its counterparties' fills are
                    // what they carried for a transfer that did not happen.
                    orphan_carried += cp_carried[k];
                    seen[4] += u32::from(cp_carried[k] > 0);
                }
            }
            t += 2 * timeout + S;
            p.on_time(t, |_| {});
            pieces += batches.len() as i128;
        }
        let m = p.metrics(0);
        let fund = p.fund();
        let ctx = format!("seed {seed}: fund0 {fund0}\n{m:#?}\n{fund:?}");
        let want = handed_on + orphan_carried;
        assert!(
            (m.bad_debt - want).abs() <= pieces,
            "bad debt {} vs {want}\n{ctx}",
            m.bad_debt
        );
        assert_eq!(
            m.bad_debt,
            m.fund_covered() + m.socialised + m.written_off,
            "{ctx}"
        );
        assert_eq!(i128::from(fund.change()), m.fund_change, "{ctx}");
        assert_eq!(
            m.fund_change,
            m.fees + m.fund_gain - m.fund_covered(),
            "{ctx}"
        );
        assert!(fund.balance() >= 0, "{ctx}");
        assert_eq!(fund.reserved(), 0, "{ctx}");
        assert!(
            m.fund_covered() >= 0 && m.socialised >= 0 && m.written_off >= 0,
            "{ctx}"
        );
    }
    assert!(seen.iter().all(|&k| k > 0), "every case happened: {seen:?}");
    eprintln!("backstops, ADL decisions, refused, timed out, orphaned ADL fills: {seen:?}");
}
