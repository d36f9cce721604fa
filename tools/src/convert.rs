//! `hotrisk-tools convert --from tardis|binance INPUT... --out FILE`: captured text feeds → one
//! native capture file (merged by local timestamp; see `hotrisk_feed::source`).
//!
//! Exit status non-zero on bad input (`FILE:LINE: what was wrong`); with `--on-error skip` bad rows
//! are dropped and every one is listed at the end.

use std::path::PathBuf;

use anyhow::Result;
use hotrisk_feed::capture;
use hotrisk_feed::source::{self, Format, Instruments, OnError};

/// Arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Input format.
    #[arg(long, value_enum)]
    from: Format,
    /// Input files (plain or gzip), merged by local timestamp.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The capture file to write.
    #[arg(long)]
    out: PathBuf,
    /// Instrument table: the engine's instruments TOML or a capture (default: ids by first
    /// appearance).
    #[arg(long)]
    instruments: Option<PathBuf>,
    /// What to do with a bad row.
    #[arg(long, value_enum, default_value_t = OnError::Stop)]
    on_error: OnError,
}

pub(crate) fn main(a: Args) -> Result<()> {
    let mut inst = match &a.instruments {
        Some(p) => Instruments::from_path(p)?,
        None => Instruments::open(),
    };
    let loaded = source::load(a.from, &a.inputs, &mut inst, a.on_error)?;
    let n = capture::write_file(&a.out, inst.symbols(), &loaded.msgs)?;
    for note in &loaded.notes {
        eprintln!("hotrisk-tools convert: note: {note}");
    }
    eprintln!(
        "hotrisk-tools convert: wrote {n} msgs, {} instrument(s) ({}) to {}",
        inst.symbols().len(),
        inst.symbols().join(", "),
        a.out.display()
    );
    if !loaded.skips.is_empty() {
        eprint!("hotrisk-tools convert: {}", loaded.skips.report());
    }
    Ok(())
}
