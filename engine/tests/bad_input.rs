//! Bad input: every broken scenario or snapshot is refused with an error naming the file and the
//! key path (or line), and nothing is loaded.

use std::io::Write as _;
use std::path::Path;

use hotrisk_engine::snapshot::{load_snapshot, Scenario, SnapshotError};

const GOOD: &str = r#"
[[instrument]]
symbol = "BTCUSDT"
kind = "linear"
tick_size = "0.1"
lot_size = "0.001"
contract_size = "1"
mark_price = "50000"

  [[instrument.bracket]]
  notional_cap = "50000"
  max_leverage = "125"
  maintenance_margin_rate = "0.004"

  [[instrument.bracket]]
  notional_cap = "250000"
  max_leverage = "100"
  maintenance_margin_rate = "0.005"
  maintenance_amount = "50"

  [[instrument.bracket]]
  max_leverage = "50"
  maintenance_margin_rate = "0.01"

[[account]]
id = 7
wallet_balance = "1000"

  [[account.position]]
  symbol = "BTCUSDT"
  qty = "-0.5"
  entry_price = "51000"
  margin_mode = "cross"

[[account]]
id = 8
wallet_balance = "0"

  [[account.position]]
  symbol = "BTCUSDT"
  qty = "1"
  entry_price = "49000"
  margin_mode = "isolated"
  isolated_margin = "2000"
"#;

fn parse(text: &str) -> Result<Scenario, SnapshotError> {
    Scenario::parse(Path::new("bad.toml"), text)
}

/// Replaces the `nth` (0-based) occurrence of `from`, asserting it exists.
fn edit(from: &str, to: &str, nth: usize) -> String {
    let (i, _) = GOOD
        .match_indices(from)
        .nth(nth)
        .unwrap_or_else(|| panic!("{from:?} #{nth} not in the base scenario"));
    format!("{}{}{}", &GOOD[..i], to, &GOOD[i + from.len()..])
}

#[track_caller]
fn refused(text: &str, needles: &[&str]) {
    let e = parse(text)
        .expect_err("a bad scenario was accepted")
        .to_string();
    assert!(
        e.starts_with("bad.toml: "),
        "error does not name the file: {e}"
    );
    for n in needles {
        assert!(e.contains(n), "error {e:?} does not contain {n:?}");
    }
}

#[test]
fn the_base_scenario_is_good() {
    let s = parse(GOOD).unwrap();
    assert_eq!(s.accounts.len(), 2);
}

#[test]
fn bounds_are_checked() {
    refused(
        &edit("mark_price = \"50000\"", "mark_price = \"10000000.1\"", 0),
        &["instrument[0].mark_price", "outside"],
    );
    refused(
        &edit(
            "wallet_balance = \"1000\"",
            "wallet_balance = \"20000000000\"",
            0,
        ),
        &["account[0].wallet_balance"],
    );
    refused(
        &edit("qty = \"-0.5\"", "qty = \"-10000001\"", 0),
        &["account[0].position[0].qty"],
    );
    refused(
        &edit("isolated_margin = \"2000\"", "isolated_margin = \"-1\"", 0),
        &["account[1].position[0].isolated_margin"],
    );
    refused(
        &edit(
            "maintenance_margin_rate = \"0.01\"",
            "maintenance_margin_rate = \"1\"",
            0,
        ),
        &["instrument[0].bracket[2].maintenance_margin_rate"],
    );
}

#[test]
fn bracket_tables_must_increase_and_agree() {
    refused(
        &edit("notional_cap = \"250000\"", "notional_cap = \"50000\"", 0),
        &[
            "instrument[0].bracket[1].notional_cap",
            "strictly increasing",
        ],
    );
    refused(
        &edit(
            "maintenance_margin_rate = \"0.005\"",
            "maintenance_margin_rate = \"0.004\"",
            0,
        ),
        &[
            "instrument[0].bracket[1].maintenance_margin_rate",
            "strictly increasing",
        ],
    );
    refused(
        &edit(
            "maintenance_amount = \"50\"",
            "maintenance_amount = \"49.99\"",
            0,
        ),
        &[
            "instrument[0].bracket[1].maintenance_amount",
            "contradicts",
            "50",
        ],
    );
    // Only the last bracket may omit its cap.
    refused(
        &edit("  notional_cap = \"250000\"\n", "", 0),
        &["instrument[0].bracket[1].notional_cap", "missing"],
    );
}

#[test]
fn unknown_symbol_and_grid() {
    refused(
        &edit("symbol = \"BTCUSDT\"", "symbol = \"ETHUSDT\"", 1),
        &["account[0].position[0].symbol", "unknown symbol"],
    );
    refused(
        &edit("entry_price = \"51000\"", "entry_price = \"51000.05\"", 0),
        &["account[0].position[0].entry_price", "tick"],
    );
    refused(
        &edit("qty = \"1\"", "qty = \"1.0001\"", 0),
        &["account[1].position[0].qty", "lot"],
    );
    refused(
        &edit("qty = \"-0.5\"", "qty = \"-0.5e1\"", 0),
        &["account[0].position[0].qty", "invalid decimal"],
    );
}

#[test]
fn missing_unknown_and_contradictory_keys() {
    refused(
        &edit("  qty = \"-0.5\"\n", "", 0),
        &["missing field `qty`", "line"],
    );
    refused(
        &edit("qty = \"-0.5\"", "qty = \"-0.5\"\n  leverage = \"10\"", 0),
        &["unknown field `leverage`"],
    );
    refused(
        &edit(
            "margin_mode = \"cross\"",
            "margin_mode = \"cross\"\n  isolated_margin = \"1\"",
            0,
        ),
        &["account[0].position[0].isolated_margin", "forbidden"],
    );
    refused(
        &edit("  isolated_margin = \"2000\"\n", "", 0),
        &["account[1].position[0].isolated_margin", "missing"],
    );
    refused(
        &edit("kind = \"linear\"", "kind = \"quanto\"", 0),
        &["instrument[0].kind"],
    );
    refused(&edit("qty = \"-0.5\"", "qty = -0.5", 0), &["invalid type"]);
    refused(
        &edit("id = 8", "id = 7", 0),
        &["account[1].id", "duplicate"],
    );
}

#[test]
fn the_binary_exits_2_and_names_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    std::fs::write(&path, edit("symbol = \"BTCUSDT\"", "symbol = \"NOPE\"", 1)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hotrisk"))
        .args(["risk", path.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stdout.is_empty(),
        "nothing may be printed on a bad file"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken.toml") && err.contains("account[0].position[0].symbol"),
        "{err}"
    );
}

#[test]
fn positions_file_errors_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let inst = dir.path().join("instruments.toml");
    // The instruments part of the base scenario (accounts dropped).
    let cut = GOOD.find("[[account]]").unwrap();
    std::fs::write(&inst, &GOOD[..cut]).unwrap();
    let write = |body: &str| {
        let p = dir.path().join("positions.txt");
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(body.as_bytes()).unwrap();
        p
    };
    let ok = write("# hotrisk positions v1\nA,1,1000\nP,1,BTCUSDT,0.5,50000,cross\nA,2,0\nP,2,BTCUSDT,-1,50000,isolated,600\n");
    let snap = load_snapshot(&inst, &ok).unwrap();
    assert_eq!(snap.state.accounts(), 2);
    assert_eq!(snap.state.positions_in(0), 2);
    for (body, needle) in [
        ("A,1,1000\n", "line 1"),
        (
            "# hotrisk positions v1\nA,1,1000\nP,1,ETHUSDT,0.5,50000,cross\n",
            "line 3, field symbol",
        ),
        (
            "# hotrisk positions v1\nA,1,1000\nP,1,BTCUSDT,0.5,50000.01,cross\n",
            "line 3, field entry_price",
        ),
        (
            "# hotrisk positions v1\nA,1,1000\nP,1,BTCUSDT,0.0005,50000,cross\n",
            "line 3, field qty",
        ),
        (
            "# hotrisk positions v1\nP,1,BTCUSDT,0.5,50000,cross\n",
            "unknown account 1",
        ),
        ("# hotrisk positions v1\nA,1,1000\nA,1,5\n", "line 3"),
        (
            "# hotrisk positions v1\nA,1,1000\nP,1,BTCUSDT,0.5,50000,cross,5\n",
            "line 3",
        ),
        ("# hotrisk positions v1\nX,1,1000\n", "line 2, field 1"),
    ] {
        let p = write(body);
        let e = load_snapshot(&inst, &p).expect_err(body).to_string();
        assert!(
            e.contains("positions.txt") && e.contains(needle),
            "{body:?}: {e}"
        );
    }
}
