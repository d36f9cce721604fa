//! # hotrisk-bench — the latency benchmarking harness
//!
//! - [`machine`]: what the numbers were measured on (every report starts with it).
//! - [`transport`]: `hotrisk-bench transport`, one-way latency (HdrHistogram percentiles) and
//!   throughput of the shared-memory rings against crossbeam, rtrb, the disruptor crate and a
//!   bare cache-line ping-pong (the physical floor), in one run on two pinned cores.
//! - [`hgrm`]: the `.hgrm` percentile-distribution writer.
//!
//! Criterion micro-benchmarks live in `benches/` (`cargo bench -p hotrisk-bench`).
#![forbid(unsafe_code)]

pub mod hgrm;
pub mod machine;
pub mod transport;
