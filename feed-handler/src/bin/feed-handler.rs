//! `feed-handler`: publishes market data into a shared-memory broadcast ring.
#![forbid(unsafe_code)]

fn main() {
    eprintln!("feed-handler: not yet implemented");
    std::process::exit(2);
}
