//! `hotrisk demo` (being written).

/// Arguments of `hotrisk demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn main(_args: Args) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("`hotrisk demo` is not implemented yet")
}
