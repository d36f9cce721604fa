//! `hotrisk risk FILE.toml [--json]`: evaluate a scenario file (see `hotrisk_engine::risk`).
//! Exit status 0 on success, 2 on a bad file (the error names the file and the key path).

use std::path::PathBuf;

use anyhow::Context as _;
use hotrisk_engine::risk;
use hotrisk_engine::snapshot::Scenario;

/// Arguments of `hotrisk risk`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The scenario file (TOML).
    file: PathBuf,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

pub(crate) fn main(args: Args) -> anyhow::Result<std::process::ExitCode> {
    let scenario = Scenario::load(&args.file).context("cannot load the scenario")?;
    let report = risk::evaluate(&scenario).context("cannot evaluate the scenario")?;
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_table());
    }
    Ok(std::process::ExitCode::SUCCESS)
}
