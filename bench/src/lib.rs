//! # hotrisk-bench — the latency benchmarking harness
//!
//! - [`machine`]: what the numbers were measured on (every report starts with it).

pub mod machine;
