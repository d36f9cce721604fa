//! # hotrisk-bench — the latency benchmarking harness
//!
//! - [`machine`]: what the numbers were measured on (every report starts with it).
//! - [`transport`]: `hotrisk-bench transport`, one-way latency (HdrHistogram percentiles) and
//!   throughput of the shared-memory rings against crossbeam, rtrb, the disruptor crate and a
//!   bare cache-line ping-pong (the physical floor), in one run on two pinned cores.
//! - [`hgrm`]: the `.hgrm` percentile-distribution writer.
//! - [`e2e`]: `hotrisk-bench e2e`, the whole pipeline as processes over `/dev/shm` rings, paced
//!   (latency from the scheduled time) or saturating (throughput, service time).
//! - [`roundtrip`]: `hotrisk-bench roundtrip`, tick → liquidation order → back, against the
//!   cache-line ping-pong floor between the same cores, in the same run.
//! - [`interrupts`]: interrupts that landed on the measured cores (`/proc/interrupts`), so a
//!   report can say which tail percentiles are the machine's.
//! - [`scaling`]: `hotrisk-bench scaling`, cost per tick against positions and accounts, hotrisk
//!   beside the [`baseline`] (AoS, `f64`, `HashMap`, `Mutex<Vec>`), memory per position.
//! - [`alloc`]: the counting global allocator (allocations on hot threads, reported).
//!
//! Criterion micro-benchmarks live in `benches/` (`cargo bench -p hotrisk-bench`).
//! Unsafe code: only the allocator's forwarding in [`alloc`] (denied everywhere else).
#![deny(unsafe_code)]

pub mod alloc;
pub mod baseline;
pub mod e2e;
pub mod hgrm;
pub mod interrupts;
pub mod machine;
pub mod roundtrip;
pub mod scaling;
pub mod transport;
