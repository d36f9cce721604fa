//! `hotrisk risk` with books and an insurance fund: the orders and metrics in the JSON.

use hotrisk_engine::risk;
use hotrisk_engine::snapshot::Scenario;
use serde_json::Value;
use std::path::Path;

const SCENARIO: &str = r#"
insurance_fund = "10"

[[instrument]]
symbol = "BTCUSDT"
kind = "linear"
tick_size = "0.1"
lot_size = "0.001"
contract_size = "1"
mark_price = "49000"
liquidation_fee_rate = "0.0005"

  [[instrument.bracket]]
  notional_cap = "50000"
  max_leverage = "125"
  maintenance_margin_rate = "0.004"

  [[instrument.bracket]]
  notional_cap = "250000"
  max_leverage = "100"
  maintenance_margin_rate = "0.005"

  [[instrument.bracket]]
  max_leverage = "50"
  maintenance_margin_rate = "0.01"

  [[instrument.book]]
  side = "bid"
  price = "48990"
  qty = "0.2"

  [[instrument.book]]
  side = "bid"
  price = "48950"
  qty = "0.5"

  [[instrument.book]]
  side = "bid"
  price = "48900"
  qty = "2"

  [[instrument.book]]
  side = "ask"
  price = "49010"
  qty = "1"

[[account]]
id = 1
wallet_balance = "1190"

  [[account.position]]
  symbol = "BTCUSDT"
  qty = "1"
  entry_price = "50000"
  margin_mode = "cross"

[[account]]
id = 2
wallet_balance = "0"

  [[account.position]]
  symbol = "BTCUSDT"
  qty = "-0.1"
  entry_price = "45000"
  margin_mode = "isolated"
  isolated_margin = "100"

[[account]]
id = 3
wallet_balance = "10000"

  [[account.position]]
  symbol = "BTCUSDT"
  qty = "0.05"
  entry_price = "40000"
  margin_mode = "cross"
"#;

#[test]
fn orders_and_metrics_in_the_report() {
    let s = Scenario::parse(Path::new("policy.toml"), SCENARIO).unwrap();
    let report = risk::evaluate(&s).unwrap();
    let v: Value = serde_json::from_str(&report.to_json()).unwrap();
    eprintln!("{}", report.to_json());
    let orders = |i: usize| v["accounts"][i]["orders"].as_array().unwrap().clone();
    // Account 1: MB 190 < MM 196. σ = 0.2% → limit 48902 (BP 48810 is further); per BTC the
    // close costs 98 + 24.45 fee and frees 215.6 of buffered maintenance: 25.6/93.15 → 0.275
    // BTC, within the 0.7 the book holds at or above the limit.
    let o1 = orders(0);
    assert_eq!(o1.len(), 1, "{o1:?}");
    assert_eq!(o1[0]["tier"], "partial");
    assert_eq!(o1[0]["side"], "sell");
    assert_eq!(o1[0]["symbol"], "BTCUSDT");
    assert_eq!(o1[0]["limit_price"], "48902");
    let q: f64 = o1[0]["qty"].as_str().unwrap().parse().unwrap();
    assert_eq!(q, 0.275);
    assert_eq!(o1[0]["metrics"]["breach_to_order_ns"], 0);
    assert!(o1[0]["metrics"]["margin_ratio_before"].is_string());
    // Account 2: isolated short past bankruptcy (MB −300, BP 46000), no ask at or below it:
    // the fund (10) cannot take a 300 loss → ADL against account 3 (the only profitable long).
    let o2 = orders(1);
    assert_eq!(o2.len(), 1, "{o2:?}");
    assert_eq!(o2[0]["tier"], "adl");
    assert_eq!(
        (o2[0]["side"].as_str(), o2[0]["qty"].as_str()),
        (Some("buy"), Some("0.1"))
    );
    assert_eq!(o2[0]["limit_price"], "46000");
    let o3 = orders(2);
    assert_eq!(o3.len(), 1, "{o3:?}");
    assert_eq!(o3[0]["tier"], "adl");
    assert_eq!(
        (o3[0]["side"].as_str(), o3[0]["qty"].as_str()),
        (Some("sell"), Some("0.05"))
    );
    // The other 0.05 (a 150 loss) is covered by the fund as far as it goes.
    assert_eq!(v["insurance_fund"]["before"], "10");
    assert_eq!(v["insurance_fund"]["after"], "0");
    assert_eq!(o2[0]["metrics"]["insurance_fund_change"], "-10");
    // The reduction is explicit: account 3 gives up 0.05 at the bankruptcy price; the 140 of
    // the fund's half that the fund's 10 cannot pay is uncovered.
    assert_eq!(
        o2[0]["counterparties"],
        serde_json::json!([{"account": 3, "qty": "0.05", "price": "46000"}])
    );
    assert!(o3[0].get("counterparties").is_none());
    assert_eq!(o3[0]["limit_price"], "46000");
    assert_eq!(v["insurance_fund"]["uncovered_bad_debt"], "140");
    // The table shows them too.
    let table = report.to_table();
    assert!(table.contains("order: buy 0.1 BTCUSDT @ 46000 (adl)"));
    assert!(table.contains("adl counterparty: account 3 gives up 0.05 @ 46000"));
}

#[test]
fn without_counterparties_there_is_no_adl_order_and_the_loss_is_uncovered() {
    // The same scenario without account 3: nobody holds the opposite side.
    let cut = SCENARIO.find("[[account]]\nid = 3").unwrap();
    let s = Scenario::parse(Path::new("policy.toml"), &SCENARIO[..cut]).unwrap();
    let report = risk::evaluate(&s).unwrap();
    let v: Value = serde_json::from_str(&report.to_json()).unwrap();
    let o2 = v["accounts"][1]["orders"].as_array().unwrap().clone();
    assert_eq!(o2.len(), 1, "{o2:?}");
    // The fund takes the position at the bankruptcy price (a backstop, not an ADL to nobody);
    // of the 300 loss it pays its 10, and 290 is reported as uncovered bad debt.
    assert_eq!(o2[0]["tier"], "backstop");
    assert_eq!(o2[0]["limit_price"], "46000");
    assert_eq!(o2[0]["metrics"]["bad_debt"], "300");
    assert_eq!(o2[0]["metrics"]["insurance_fund_change"], "-10");
    assert_eq!(v["insurance_fund"]["after"], "0");
    assert_eq!(v["insurance_fund"]["uncovered_bad_debt"], "290");
    let all = report.to_json();
    assert!(!all.contains("\"adl\""), "{all}");
}
