//! `hotrisk-tools convert` (being written).

/// Arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn main(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
