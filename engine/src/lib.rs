//! # hotrisk-engine — the risk engine
//!
//! Recomputes mark-to-market and margin for the positions an instrument's tick touches, decides
//! tiered liquidations, and hands orders to a gateway through a lock-free queue.
//!
//! Modules (each one concept):
//! - [`margin`]: instruments, brackets, the SoA position state and the exact fixed-point margin math;
//! - [`snapshot`]: loading instruments and accounts/positions (scenario TOML, snapshot files);
//! - [`risk`]: the `hotrisk risk` scenario calculator (TOML in, table or JSON out);
//! - [`policy`]: the liquidation policy (tiers, book-aware sizing, insurance fund, ADL, cascade control);
//! - [`generate`]: seeded accounts/positions snapshots leveraged around the synthetic feed's prices;
//! - [`machine`]: what a measurement ran on (CPU, cores, kernel, git revision);
//! - [`outcome`], [`report`]: what a run did (from its journal) and its report directory (report.md, plots);
//! - [`launch`]: process orchestration (unique rings, child processes, deadlines, clean-up) of the demo and the end-to-end benchmark;
//! - [`config`], [`journal`], [`latency`], [`pipeline`]: the running engine (`hotrisk run`).

pub mod config;
pub mod generate;
pub mod journal;
pub mod latency;
pub mod launch;
pub mod machine;
pub mod margin;
pub mod outcome;
pub mod pipeline;
pub mod policy;
pub mod report;
pub mod risk;
pub mod snapshot;
