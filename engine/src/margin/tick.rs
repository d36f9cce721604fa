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
//! no division. Padding slots hold [`KEY_NEVER`] (`i64::MIN`), which no mark leaves. The kernel
//! [`scan`] walks the keys 8 at a time (one cache line), builds an 8-bit mask of the positions
//! that left their band and hands each non-zero mask to the caller, which re-evaluates those
//! units exactly (rare: a unit leaves its band only when its status may change).
//!
//! Nothing here allocates, locks or panics; the loop's body has a single well-predicted branch
//! per cache line.

/// A key that no mark leaves (used for padding).
pub const KEY_NEVER: i64 = i64::MIN;

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

/// Scans lines `[from, to)` and returns the first line index at or after `from` with a
/// non-zero mask, with the mask; `None` when no line in the range has one.
#[inline]
pub fn scan(lines: &[KeyLine], mark: i64, from: usize) -> Option<(usize, u32)> {
    let rest = lines.get(from..)?;
    for (off, line) in rest.iter().enumerate() {
        let m = line_mask(line, mark);
        if m != 0 {
            return Some((from + off, m));
        }
    }
    None
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
        for m in [1, 100, i64::MAX / 2] {
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
}
