//! `hotrisk-tools gen-accounts`: a seeded accounts/positions snapshot in the large snapshot
//! format of `hotrisk_engine::snapshot` (an instruments TOML + a positions file).
//!
//! A command line over the engine's generator, `hotrisk_engine::generate` (the demo's and
//! `hotrisk-bench e2e`'s too; its docs describe the population). Here: `--instruments M`
//! USDT-margined linear perpetuals (BTC, ETH, SOL, BNB, XRP, then `SYN06USDT`… at 100) plus an
//! inverse `BTCUSD` (face 100 USD) holding `--inverse-share` of the positions; each account holds
//! 1 to `--max-positions` positions in distinct instruments; notionals log-uniform in
//! `[--min-notional, --max-notional]` quote; leverage uniform in `[--min-leverage,
//! --max-leverage]`; long or short with equal odds; `--isolated-share` isolated. Amounts and
//! shares are exact decimals (no floating point). The same arguments give the same files, byte
//! for byte.
#![forbid(unsafe_code)]

use std::path::PathBuf;

use anyhow::{ensure, Context as _};
use hotrisk_engine::generate::{symbols, write_snapshot, GenConfig};
use hotrisk_feed::fixed::{parse_e8, E8};

/// Arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Output directory (created): writes `instruments.toml` and `positions.csv` there.
    #[arg(long, default_value = "snapshot")]
    out: PathBuf,
    /// Number of accounts.
    #[arg(long, default_value_t = 100_000)]
    accounts: u32,
    /// Number of linear instruments (1..=64).
    #[arg(long, default_value_t = 4)]
    instruments: usize,
    /// Share of accounts with a position in the inverse BTCUSD, e.g. 0.1 (0 = no inverse
    /// instrument); whole percents.
    #[arg(long, default_value = "0.1")]
    inverse_share: String,
    /// Most positions per account (each account holds 1 to this many, in distinct instruments).
    #[arg(long, default_value_t = 3)]
    max_positions: u32,
    /// Share of isolated positions, e.g. 0.2; whole percents.
    #[arg(long, default_value = "0.2")]
    isolated_share: String,
    /// Smallest leverage.
    #[arg(long, default_value_t = 2)]
    min_leverage: u32,
    /// Largest leverage.
    #[arg(long, default_value_t = 50)]
    max_leverage: u32,
    /// Smallest notional (quote).
    #[arg(long, default_value = "10")]
    min_notional: String,
    /// Largest notional (quote).
    #[arg(long, default_value = "2000000")]
    max_notional: String,
    /// Insurance fund (quote).
    #[arg(long, default_value = "1000000")]
    insurance_fund: String,
    /// RNG seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// A share in [0, 1] as whole percents.
fn percent(flag: &str, v: &str) -> anyhow::Result<u32> {
    let x = parse_e8(v).with_context(|| format!("--{flag} {v:?}"))?;
    ensure!(
        (0..=E8).contains(&x),
        "--{flag} {v}: a share in [0, 1] expected"
    );
    Ok(u32::try_from(x * 100 / E8)?)
}

/// A positive amount, E8.
fn amount(flag: &str, v: &str) -> anyhow::Result<i64> {
    let x = parse_e8(v).with_context(|| format!("--{flag} {v:?}"))?;
    ensure!(x > 0, "--{flag} {v}: a positive amount expected");
    Ok(x)
}

/// The generator configuration the arguments describe.
fn config(a: &Args) -> anyhow::Result<GenConfig> {
    ensure!(
        (1..=64).contains(&a.instruments),
        "--instruments must be in 1..=64"
    );
    ensure!(
        (1..=a.instruments).contains(&(a.max_positions as usize)),
        "--max-positions must be in 1..=--instruments ({})",
        a.instruments
    );
    ensure!(
        a.min_leverage >= 1 && a.min_leverage <= a.max_leverage,
        "need 1 <= --min-leverage <= --max-leverage"
    );
    let (min, max) = (
        amount("min-notional", &a.min_notional)?,
        amount("max-notional", &a.max_notional)?,
    );
    ensure!(min <= max, "need --min-notional <= --max-notional");
    let leverage = (i64::from(a.min_leverage), i64::from(a.max_leverage));
    Ok(GenConfig {
        seed: a.seed,
        accounts: a.accounts,
        positions_per_account: a.max_positions,
        varied_positions: true,
        symbols: symbols(a.instruments),
        long_pct: 50,
        safe_pct: 100,
        safe_leverage: leverage,
        long_leverage: leverage,
        short_leverage: leverage,
        isolated_pct: percent("isolated-share", &a.isolated_share)?,
        inverse_pct: percent("inverse-share", &a.inverse_share)?,
        notional_min_e8: min,
        notional_max_e8: max,
        entry_spread_ppm: 30_000,
        insurance_fund_e8: amount("insurance-fund", &a.insurance_fund)?,
        liquidation_fee_rate_e8: E8 / 80,
        ..GenConfig::default()
    })
}

pub(crate) fn main(a: Args) -> anyhow::Result<()> {
    let cfg = config(&a)?;
    let s = write_snapshot(&cfg, &a.out)?;
    println!(
        "wrote {} ({} instruments) and {} ({} accounts, {} positions; per instrument {:?})",
        s.instruments_file.display(),
        s.per_instrument.len(),
        s.positions_file.display(),
        s.accounts,
        s.positions,
        s.per_instrument
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(out: PathBuf, seed: u64) -> Args {
        Args {
            out,
            accounts: 2_000,
            instruments: 5,
            inverse_share: "0.2".into(),
            max_positions: 4,
            isolated_share: "0.3".into(),
            min_leverage: 2,
            max_leverage: 100,
            min_notional: "5".into(),
            max_notional: "5000000".into(),
            insurance_fund: "1000000".into(),
            seed,
        }
    }

    #[test]
    fn generated_snapshot_loads_and_is_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        main(args(a.clone(), 7)).unwrap();
        main(args(b.clone(), 7)).unwrap();
        for f in ["instruments.toml", "positions.csv"] {
            assert_eq!(
                std::fs::read(a.join(f)).unwrap(),
                std::fs::read(b.join(f)).unwrap(),
                "{f} differs for the same seed"
            );
        }
        let snap = hotrisk_engine::snapshot::load_snapshot(
            &a.join("instruments.toml"),
            &a.join("positions.csv"),
        )
        .unwrap();
        assert_eq!(snap.state.accounts(), 2_000);
        assert_eq!(snap.instruments.len(), 6);
        let positions: usize = (0..snap.instruments.len() as u16)
            .map(|i| snap.state.positions_in(i))
            .sum();
        assert!(positions >= 2_000, "{positions} positions");
        // Both kinds, both modes, both sides were generated.
        let text = std::fs::read_to_string(a.join("positions.csv")).unwrap();
        for needle in [",isolated,", ",cross", "BTCUSD,", ",-"] {
            assert!(text.contains(needle), "no {needle:?} in the generated file");
        }
    }

    #[test]
    fn bad_arguments_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = args(dir.path().join("x"), 1);
        a.isolated_share = "1.5".into();
        let e = config(&a).unwrap_err().to_string();
        assert!(e.contains("--isolated-share 1.5"), "{e}");
        let mut a = args(dir.path().join("x"), 1);
        a.max_notional = "ten".into();
        let e = format!("{:#}", config(&a).unwrap_err());
        assert!(e.contains("--max-notional"), "{e}");
    }
}
