//! The hot mark-tick kernel: one 8-byte band key per position, one compare per position.
//!
//! Each position of an instrument holds a **band key** in a 64-byte-aligned array ([`KeyVec`]).
//! A key encodes one bound of the mark range inside which nothing about the position's margin
//! unit can change (see the [module docs](super)):
//! - `key ≥ 0`: watch below, the band is `[key, ∞)`; the position leaves it when `mark < key`;
//! - `key < 0`: watch above, the band is `(−∞, !key]`; it leaves when `mark > !key`, that is
//!   `!mark < key` (bitwise not reverses the order of `i64`).
//!
//! So `left = (mark ^ (key >> 63)) < key` — a shift, a xor and a compare, no branch, no table,
//! no division. Padding slots hold [`KEY_NEVER`] (`0`: "below 0"), which no mark leaves. The
//! kernel [`scan`] walks the keys two cache lines (16 keys) at a time with a branch-free
//! OR-reduction, and only for a step where some key was left builds the 8-bit lane masks and
//! hands them to the caller, which re-evaluates those units exactly (rare: a unit leaves its
//! band only when its status may change). On x86-64 with AVX-512 or AVX2 (detected at run time)
//! the same code is compiled for 512- or 256-bit vectors: 8 or 4 keys per instruction.
//!
//! Nothing here allocates, locks or panics; one well-predicted branch per 16 keys. The only
//! `unsafe` in the margin core is the call of the AVX-compiled copies after the feature checks.

/// A key that no mark leaves (used for padding): "leaves below 0", and marks are positive.
pub const KEY_NEVER: i64 = 0;

/// Positions per key line (one 64-byte cache line).
pub const LANES: usize = 8;

/// One cache line of keys.
#[repr(C, align(64))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyLine(pub [i64; LANES]);

impl KeyLine {
    const EMPTY: Self = Self([KEY_NEVER; LANES]);
}

/// Key for "leaves when the mark falls below `lo`".
#[inline]
pub const fn key_below(lo: i64) -> i64 {
    if lo < 0 {
        0
    } else {
        lo
    }
}

/// Key for "leaves when the mark rises above `hi`".
#[inline]
pub const fn key_above(hi: i64) -> i64 {
    if hi < 0 {
        !0
    } else {
        !hi
    }
}

/// Whether a mark leaves the band of a key.
#[inline(always)]
pub const fn leaves(key: i64, mark: i64) -> bool {
    (mark ^ (key >> 63)) < key
}

/// A dense, 64-byte-aligned vector of band keys, padded with [`KEY_NEVER`] to whole lines.
#[derive(Debug, Clone, Default)]
pub struct KeyVec {
    lines: Vec<KeyLine>,
    len: usize,
}

impl KeyVec {
    /// An empty vector with room for `n` keys.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            lines: Vec::with_capacity(n.div_ceil(LANES)),
            len: 0,
        }
    }

    /// Reserves room for `additional` more keys.
    pub fn reserve(&mut self, additional: usize) {
        let need = (self.len + additional).div_ceil(LANES);
        self.lines.reserve(need.saturating_sub(self.lines.len()));
    }

    /// Number of keys.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no keys.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The key lines (padding included).
    #[inline]
    pub fn lines(&self) -> &[KeyLine] {
        &self.lines
    }

    /// Appends a key.
    pub fn push(&mut self, key: i64) {
        if self.len & (LANES - 1) == 0 {
            self.lines.push(KeyLine::EMPTY);
        }
        self.lines[self.len / LANES].0[self.len % LANES] = key;
        self.len += 1;
    }

    /// The key at `i` (`i < len`).
    #[inline]
    pub fn get(&self, i: usize) -> i64 {
        self.lines[i / LANES].0[i % LANES]
    }

    /// Sets the key at `i` (`i < len`).
    #[inline]
    pub fn set(&mut self, i: usize, key: i64) {
        self.lines[i / LANES].0[i % LANES] = key;
    }

    /// Removes the key at `i` by moving the last key into its place (as `Vec::swap_remove`).
    pub fn swap_remove(&mut self, i: usize) {
        let last = self.len - 1;
        let k = self.get(last);
        self.set(i, k);
        self.set(last, KEY_NEVER);
        self.len = last;
        if self.len & (LANES - 1) == 0 {
            self.lines.pop();
        }
    }

    /// Bytes of key storage per position slot (memory accounting).
    pub const BYTES_PER_KEY: usize = 8;
}

/// Mask of the lanes of one line that a mark leaves (bit `j` = lane `j`).
#[inline(always)]
pub fn line_mask(line: &KeyLine, mark: i64) -> u32 {
    let mut m = 0u32;
    for (j, &k) in line.0.iter().enumerate() {
        m |= u32::from(leaves(k, mark)) << j;
    }
    m
}

/// Whether any lane of two lines leaves. Written with compares only — `key > mark` (a
/// watch-below key: a watch-above key is negative and never exceeds a positive mark), or
/// `key < 0 && key > !mark` (a watch-above key) — so that it vectorises on AVX2, which has
/// 64-bit compares but no 64-bit arithmetic shift; branch-free.
#[inline(always)]
// Three arrays indexed in lockstep: the index loop is what the vectoriser handles best.
#[allow(clippy::needless_range_loop)]
fn any_leaves(a: &KeyLine, b: &KeyLine, mark: i64) -> bool {
    let not_mark = !mark;
    let mut acc = [false; LANES];
    for j in 0..LANES {
        let (ka, kb) = (a.0[j], b.0[j]);
        let la = (ka > mark) | ((ka < 0) & (ka > not_mark));
        let lb = (kb > mark) | ((kb < 0) & (kb > not_mark));
        acc[j] = la | lb;
    }
    acc.iter().fold(false, |x, &y| x | y)
}

#[inline(always)]
fn scan_portable(lines: &[KeyLine], mark: i64, from: usize) -> Option<(usize, u32)> {
    let rest = lines.get(from..)?;
    let mut pairs = rest.chunks_exact(2);
    for (p, pair) in pairs.by_ref().enumerate() {
        if any_leaves(&pair[0], &pair[1], mark) {
            for (j, line) in pair.iter().enumerate() {
                let m = line_mask(line, mark);
                if m != 0 {
                    return Some((from + 2 * p + j, m));
                }
            }
        }
    }
    let last = rest.len() - pairs.remainder().len();
    pairs
        .remainder()
        .first()
        .map(|line| (from + last, line_mask(line, mark)))
        .filter(|&(_, m)| m != 0)
}

/// [`scan_portable`] compiled for AVX2 (4 keys per instruction).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
// SAFETY (contract): the body is safe code; callers run it only after detecting AVX2.
unsafe fn scan_avx2(lines: &[KeyLine], mark: i64, from: usize) -> Option<(usize, u32)> {
    scan_portable(lines, mark, from)
}

/// [`scan_portable`] compiled for AVX-512 (8 keys, one cache line, per instruction).
///
/// # Safety
/// The CPU must support AVX-512F and AVX-512VL.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512vl")]
// SAFETY (contract): the body is safe code; callers run it only after detecting AVX-512F/VL.
unsafe fn scan_avx512(lines: &[KeyLine], mark: i64, from: usize) -> Option<(usize, u32)> {
    scan_portable(lines, mark, from)
}

/// Returns the first line at or after `from` that the mark leaves in some lane, with the lane
/// mask; `None` when no line does. Two lines (16 keys) per step; uses AVX-512 or AVX2 when the
/// CPU has it (checked at run time, cached loads).
#[inline]
pub fn scan(lines: &[KeyLine], mark: i64, from: usize) -> Option<(usize, u32)> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512vl")
    {
        // SAFETY: `scan_avx512` only requires AVX-512F/VL, which the CPU was just checked to
        // support.
        return unsafe { scan_avx512(lines, mark, from) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: `scan_avx2` only requires AVX2, which the CPU was just checked to support.
        return unsafe { scan_avx2(lines, mark, from) };
    }
    scan_portable(lines, mark, from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_semantics() {
        let below = key_below(100);
        assert!(leaves(below, 99));
        assert!(!leaves(below, 100));
        assert!(!leaves(below, 1_000_000));
        let above = key_above(100);
        assert!(leaves(above, 101));
        assert!(!leaves(above, 100));
        assert!(!leaves(above, 1));
        for m in [1, 100, 1_000_000_000_000_000] {
            assert!(!leaves(KEY_NEVER, m));
        }
    }

    #[test]
    fn keyvec_swap_remove_keeps_padding() {
        let mut v = KeyVec::with_capacity(4);
        for i in 0..9 {
            v.push(key_below(i));
        }
        assert_eq!(v.lines().len(), 2);
        v.swap_remove(2);
        assert_eq!(v.len(), 8);
        assert_eq!(v.lines().len(), 1);
        assert_eq!(v.get(2), key_below(8));
        assert_eq!(scan(v.lines(), 5, 0), Some((0, 0b1100_0100)));
    }

    #[test]
    fn scan_finds_every_leaving_lane_in_order() {
        // 37 keys (odd number of lines, partial last line), a few of which the mark leaves.
        let mut v = KeyVec::with_capacity(37);
        for i in 0..37i64 {
            v.push(match i {
                3 | 17 | 36 => key_below(1_000),
                20 => key_above(10),
                i if i % 2 == 0 => key_below(1 + i),
                i => key_above(10_000 + i),
            });
        }
        let mark = 500;
        let mut found = Vec::new();
        let mut from = 0;
        while let Some((line, mut m)) = scan(v.lines(), mark, from) {
            while m != 0 {
                found.push(line * LANES + m.trailing_zeros() as usize);
                m &= m - 1;
            }
            from = line + 1;
        }
        assert_eq!(found, vec![3, 17, 20, 36]);
        assert_eq!(scan_portable(v.lines(), mark, 0), scan(v.lines(), mark, 0));
    }
}
