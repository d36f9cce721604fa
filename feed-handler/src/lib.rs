//! # hotrisk-feed — the wire
//!
//! This crate owns everything that crosses a process boundary in hotrisk:
//!
//! - [`wire`]: the fixed 64-byte `Pod` records (market data, account events, liquidation orders);
//! - [`fixed`]: exact decimal ⇄ E8 fixed-point conversion used by every parser;
//! - [`clock`]: the host-wide monotonic clock all stages stamp with;
//! - [`ring`]: shared-memory rings over `/dev/shm` (lossless SPSC and lossy-detecting broadcast);
//! - [`capture`]: native capture files (the ring's records behind a file header);
//! - [`source`]: feed sources (Tardis CSV, Binance JSON lines, native captures, synthetic).
//! - [`cli`]: the `feed-handler` command line (shared by the `feed-handler` binary and `hotrisk feed-handler`);
//! - [`venue`]: a simulated matching engine that fills liquidation orders against the book (demo, tests).
//!
//! The engine depends on this crate; this crate never depends on the engine.

pub mod capture;
// The command line and the venue process open real ring files, which the loom build (models of
// the cursor protocol over loom atomics) does not provide.
#[cfg(not(loom))]
pub mod cli;
pub mod clock;
pub mod fixed;
pub mod ring;
pub mod source;
#[cfg(not(loom))]
pub mod venue;
pub mod wire;

pub use wire::{Msg, MsgKind, Order, Side, Tier, MSG_SIZE};
