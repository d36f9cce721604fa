//! `hotrisk-bench`: the benchmarking harness.
fn main() {
    eprintln!("hotrisk-bench: not yet implemented");
    std::process::exit(2);
}
