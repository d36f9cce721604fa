//! `hotrisk risk` (being written).

/// Arguments of `hotrisk risk`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn main(_args: Args) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("`hotrisk risk` is not implemented yet")
}
