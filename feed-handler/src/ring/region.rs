//! The memory a ring runs over: a slice of atomic 64-bit words, backed by a shared mapping of a
//! `/dev/shm` file or by a heap block.
//!
//! The ring code sees only `&[AtomicU64]` (see [`Region::words`]), so the same code serves
//! cross-process rings, in-process queues, loom models (heap words are loom atomics under
//! `cfg(loom)`) and miri runs (heap words). Because *every* access to the region is an atomic load
//! or store, another process writing the file at any moment — even one that ignores the protocol —
//! cannot cause undefined behaviour here: at worst it produces wrong values, which the rings
//! validate (sequence words, cursors bounded by capacity) before trusting.
//!
//! Allocation and system calls happen only when a region is created or attached; a `Region` is
//! cheap to clone (an `Arc`) and the clones share the same words.

use std::ptr::NonNull;
use std::sync::Arc;

#[cfg(not(loom))]
use super::layout::LINE_WORDS;
use super::sync::AtomicU64;

/// One 128-byte line of heap words (so heap rings get the same line alignment as files).
#[cfg(not(loom))]
#[repr(C, align(128))]
struct Line([AtomicU64; LINE_WORDS]);

#[cfg(not(loom))]
const _: () = assert!(std::mem::size_of::<Line>() == 128);

/// Keeps the memory behind a [`Region`] alive.
enum Backing {
    /// A shared, writable mapping of a ring file.
    #[cfg(not(loom))]
    Map(#[allow(dead_code)] memmap2::MmapMut),
    /// Heap lines (std atomics).
    #[cfg(not(loom))]
    Heap(#[allow(dead_code)] Arc<[Line]>),
    /// Heap words (loom atomics: loom's atomics cannot overlay raw bytes).
    #[cfg(loom)]
    Heap(#[allow(dead_code)] Arc<[AtomicU64]>),
}

/// A slice of shared atomic words; see the module docs.
#[derive(Clone)]
pub(crate) struct Region {
    ptr: NonNull<AtomicU64>,
    len: usize,
    backing: Arc<Backing>,
}

impl std::fmt::Debug for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match *self.backing {
            #[cfg(not(loom))]
            Backing::Map(_) => "mmap",
            Backing::Heap(_) => "heap",
        };
        f.debug_struct("Region")
            .field("backing", &kind)
            .field("words", &self.len)
            .finish()
    }
}

// SAFETY: a Region only hands out `&[AtomicU64]`; atomics are `Sync`, and the backing (an owned
// mapping or an `Arc` of heap lines) is freed only when the last clone drops, on whichever thread.
unsafe impl Send for Region {}
// SAFETY: as above: every access through a shared `&Region` is an atomic operation.
unsafe impl Sync for Region {}

impl Region {
    /// `words` zeroed words on the heap (line-aligned).
    pub(crate) fn heap(words: usize) -> Self {
        #[cfg(not(loom))]
        {
            let lines: Arc<[Line]> = (0..words.div_ceil(LINE_WORDS))
                .map(|_| Line(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect();
            // From the whole allocation (not its first word), so the pointer may reach every line.
            let ptr = NonNull::from(&*lines).cast::<AtomicU64>();
            let len = lines.len() * LINE_WORDS;
            Self {
                ptr,
                len,
                backing: Arc::new(Backing::Heap(lines)),
            }
        }
        #[cfg(loom)]
        {
            let words: Arc<[AtomicU64]> = (0..words).map(|_| AtomicU64::new(0)).collect();
            let ptr = NonNull::from(&*words).cast::<AtomicU64>();
            let len = words.len();
            Self {
                ptr,
                len,
                backing: Arc::new(Backing::Heap(words)),
            }
        }
    }

    /// Wraps a writable shared mapping (of a ring file).
    ///
    /// Fails if the mapping is not 8-byte aligned (mappings are page-aligned, so never) or empty.
    #[cfg(not(loom))]
    pub(crate) fn from_map(mut map: memmap2::MmapMut) -> Option<Self> {
        let raw = map.as_mut_ptr();
        if map.len() < 8 || raw.align_offset(std::mem::align_of::<AtomicU64>()) != 0 {
            return None;
        }
        let ptr = NonNull::new(raw.cast::<AtomicU64>())?;
        Some(Self {
            ptr,
            len: map.len() / 8,
            backing: Arc::new(Backing::Map(map)),
        })
    }

    /// The region's words.
    #[inline]
    pub(crate) fn words(&self) -> &[AtomicU64] {
        // Soundness: `ptr` points to `len` initialised, 8-byte aligned words that stay valid while
        // `self.backing` lives (it outlives the returned borrow of `self`):
        // - heap: the `Arc` allocation of lines (each `[AtomicU64; 16]`, `repr(C)`, no padding,
        //   so the lines are one contiguous run of words) or of loom atomics;
        // - map: a `MAP_SHARED` mapping of `len * 8` bytes; page-aligned; `AtomicU64` has the
        //   size and alignment of `u64` and every bit pattern is a valid `u64`, so the bytes
        //   are valid atomics whatever another process wrote there. The mapping is never
        //   accessed except through this slice (no `&[u8]`/`&mut [u8]` is ever formed), and
        //   every access through it is atomic, so concurrent writes by another process are not
        //   data races. A file truncated under us would fault (SIGBUS); ring files are created
        //   under a temporary name and renamed into place, never truncated while mapped.
        // SAFETY: as argued just above: `len` valid, aligned, initialised words that live as
        // long as `self` and are only ever accessed atomically.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// Whether two regions share the same words.
    #[cfg(test)]
    pub(crate) fn same_as(&self, other: &Region) -> bool {
        Arc::ptr_eq(&self.backing, &other.backing)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn heap_region_is_zeroed_aligned_and_shared() {
        let r = Region::heap(40);
        assert_eq!(r.words().len(), 48);
        assert_eq!(r.words().as_ptr() as usize % 128, 0);
        assert!(r.words().iter().all(|w| w.load(Ordering::Relaxed) == 0));
        let r2 = r.clone();
        r.words()[47].store(7, Ordering::Relaxed);
        assert_eq!(r2.words()[47].load(Ordering::Relaxed), 7);
        assert!(r.same_as(&r2));
        assert!(!r.same_as(&Region::heap(1)));
    }
}
