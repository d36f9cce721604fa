//! The synchronisation primitives the rings use, swapped for [loom]'s model-checked versions
//! under `cfg(loom)` (see `tests/loom.rs` and `.ci/loom`).
//!
//! Everything the ring code shares between threads or processes goes through the names below, so
//! that a loom build checks every interleaving of exactly the code that ships.
//!
//! [loom]: https://docs.rs/loom

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicU64, Ordering};

/// A hint that the caller is spinning (`pause` on x86); a scheduling point under loom.
#[inline]
pub(crate) fn spin_loop() {
    #[cfg(loom)]
    loom::hint::spin_loop();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}

/// Gives the core to another thread (`sched_yield`); a scheduling point under loom.
#[inline]
pub(crate) fn yield_now() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::thread::yield_now();
}
