//! `hotrisk run` (being written).

/// Arguments of `hotrisk run`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn main(_args: Args) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("`hotrisk run` is not implemented yet")
}
