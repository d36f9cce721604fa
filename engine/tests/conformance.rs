//! Conformance: every scenario in `engine/tests/conformance/` (a copy of the shared worked
//! examples plus our own hand-computed `own-*` cases) and, when present, in `../shared/conformance`
//! relative to the repository root, evaluated by `hotrisk risk`'s library and compared with its
//! `.expected.json`: every key of the expected document must be present with the same value
//! (extra keys, such as `orders`, are allowed). Also runs the binary on each file to check the
//! exit status and that `--json` prints the same document.

use std::path::{Path, PathBuf};

use hotrisk_engine::risk;
use hotrisk_engine::snapshot::Scenario;
use serde_json::Value;

fn dirs() -> Vec<PathBuf> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut v = vec![here.join("tests/conformance")];
    let shared = here.join("../../shared/conformance");
    if shared.is_dir() {
        v.push(shared);
    }
    v
}

fn subset(expected: &Value, got: &Value, path: &str, diffs: &mut Vec<String>) {
    match (expected, got) {
        (Value::Object(e), Value::Object(g)) => {
            for (k, ev) in e {
                match g.get(k) {
                    Some(gv) => subset(ev, gv, &format!("{path}.{k}"), diffs),
                    None => diffs.push(format!("{path}.{k}: missing")),
                }
            }
        }
        (Value::Array(e), Value::Array(g)) => {
            if e.len() != g.len() {
                diffs.push(format!(
                    "{path}: {} elements expected, {} found",
                    e.len(),
                    g.len()
                ));
                return;
            }
            for (i, (ev, gv)) in e.iter().zip(g).enumerate() {
                subset(ev, gv, &format!("{path}[{i}]"), diffs);
            }
        }
        (e, g) if e == g => {}
        (e, g) => diffs.push(format!("{path}: expected {e}, got {g}")),
    }
}

#[test]
fn every_conformance_scenario_matches() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for dir in dirs() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        for toml in files {
            let expected_path = toml.with_extension("expected.json");
            let expected: Value = serde_json::from_str(
                &std::fs::read_to_string(&expected_path)
                    .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display())),
            )
            .unwrap();
            let scenario = Scenario::load(&toml).unwrap_or_else(|e| panic!("{e}"));
            let report = risk::evaluate(&scenario).unwrap();
            let got: Value = serde_json::from_str(&report.to_json()).unwrap();
            let mut diffs = Vec::new();
            subset(&expected, &got, "", &mut diffs);
            for a in got["accounts"].as_array().unwrap() {
                if !a["orders"].is_array() {
                    diffs.push(format!("account {}: `orders` is not an array", a["id"]));
                }
            }
            if !diffs.is_empty() {
                failures.push(format!("{}:\n  {}", toml.display(), diffs.join("\n  ")));
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 7, "only {checked} scenarios found");
}

#[test]
fn the_binary_prints_the_same_json_and_exits_zero() {
    let dir = &dirs()[0];
    let toml = dir.join("linear-cross-two-instruments.toml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hotrisk"))
        .args(["risk", toml.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    let lib: Value = serde_json::from_str(
        &risk::evaluate(&Scenario::load(&toml).unwrap())
            .unwrap()
            .to_json(),
    )
    .unwrap();
    assert_eq!(got, lib);
    let table = std::process::Command::new(env!("CARGO_BIN_EXE_hotrisk"))
        .args(["risk", toml.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(table.status.code(), Some(0));
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(
        text.contains("41773.86934673") && text.contains("ETHUSDT"),
        "{text}"
    );
}
