//! Counting heap allocations on hot threads: a [`GlobalAlloc`] that forwards to the system
//! allocator and counts every allocation, reallocation and deallocation made on a thread marked
//! hot ([`hotrisk_engine::pipeline::hot`]: the engine's risk and gateway threads after start-up,
//! the timed loops of `scaling`). `hotrisk-bench` installs it as its global allocator, so every
//! report states how many allocations the hot threads made (the target is zero).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use hotrisk_engine::pipeline::hot::is_hot_thread;

static HOT: AtomicU64 = AtomicU64::new(0);
static ALL: AtomicU64 = AtomicU64::new(0);

/// The counting allocator (install with `#[global_allocator]`).
#[derive(Debug)]
pub struct Counting;

/// Allocations (+ reallocations + deallocations) made on hot threads so far.
pub fn hot_allocations() -> u64 {
    HOT.load(Ordering::Relaxed)
}

/// Allocations made on any thread so far (0 when [`Counting`] is not the global allocator).
pub fn all_allocations() -> u64 {
    ALL.load(Ordering::Relaxed)
}

#[inline]
fn count() {
    if is_hot_thread() {
        HOT.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to the system allocator with the caller's arguments unchanged;
// the counting touches only atomics and a const-initialised thread-local `Cell` (no allocation,
// no re-entrancy into the allocator).
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    // SAFETY (contract): same as `GlobalAlloc`; forwarded unchanged to `System`.
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALL.fetch_add(1, Ordering::Relaxed);
        count();
        // SAFETY: the caller upholds `alloc`'s contract (non-zero size); passed through as is.
        unsafe { System.alloc(layout) }
    }

    // SAFETY (contract): same as `GlobalAlloc`; forwarded unchanged to `System`.
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count();
        // SAFETY: `ptr` came from `System` with `layout`: every allocation goes through `alloc`.
        unsafe { System.dealloc(ptr, layout) }
    }

    // SAFETY (contract): same as `GlobalAlloc`; forwarded unchanged to `System`.
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALL.fetch_add(1, Ordering::Relaxed);
        count();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    // SAFETY (contract): same as `GlobalAlloc`; forwarded unchanged to `System`.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALL.fetch_add(1, Ordering::Relaxed);
        count();
        // SAFETY: `ptr`/`layout` came from `System` (as for `dealloc`); the caller upholds the
        // `new_size` contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
