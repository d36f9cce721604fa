//! The "hot thread" marker: the risk and gateway threads set it once start-up is over, so a
//! counting global allocator (the allocation test, the bench report) can attribute allocations
//! to hot threads. Reading it never allocates (a `const`-initialised thread-local `Cell`).
#![forbid(unsafe_code)]

use std::cell::Cell;

thread_local! {
    static HOT: Cell<bool> = const { Cell::new(false) };
}

/// Whether the calling thread is a hot pipeline thread past its start-up. Safe to call from a
/// global allocator (never allocates; `false` during thread teardown).
#[inline]
pub fn is_hot_thread() -> bool {
    HOT.try_with(Cell::get).unwrap_or(false)
}

/// Marks the calling thread hot (or not).
#[inline]
pub fn set_hot(hot: bool) {
    let _ = HOT.try_with(|h| h.set(hot));
}
