//! `feed-handler`: publishes market data into a shared-memory broadcast ring, and records rings
//! into native capture files. The command line lives in [`hotrisk_feed::cli`] so that `hotrisk
//! feed-handler` (the demo's re-exec'd child) runs exactly the same code.
#![forbid(unsafe_code)]

#[cfg(not(loom))]
fn main() -> std::process::ExitCode {
    hotrisk_feed::cli::main(std::env::args_os())
}

/// Under `--cfg loom` (the ring models) there are no ring files, so there is no command line.
#[cfg(loom)]
fn main() {}
