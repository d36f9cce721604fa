//! # hotrisk-bench — the latency benchmarking harness
