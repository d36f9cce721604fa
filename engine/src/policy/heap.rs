//! A preallocated indexed max-heap: the incremental ranking behind the ADL queue and the budget
//! waiting queue.
//!
//! Items are dense ids `0..capacity` fixed at set-up; each carries an `i64` key. `upsert`,
//! `remove` and `pop` cost O(log n) and never allocate (the three arrays are sized once).
//! Ordering is total and deterministic: higher key first, then lower id, so two runs over the same
//! inputs pop the same sequence.

const ABSENT: u32 = u32::MAX;

/// An indexed binary max-heap over ids `0..capacity`.
#[derive(Debug, Clone)]
pub struct IndexedHeap {
    /// `heap[i]` = id at heap position `i` (only `..len` is meaningful).
    heap: Vec<u32>,
    /// `pos[id]` = heap position of `id`, or `ABSENT`.
    pos: Vec<u32>,
    /// `key[id]`, valid while `id` is present.
    key: Vec<i64>,
    len: usize,
}

impl IndexedHeap {
    /// A heap for ids `0..capacity` (allocates here, never afterwards).
    pub fn with_capacity(capacity: usize) -> Self {
        assert!(capacity < ABSENT as usize, "heap capacity too large");
        Self {
            heap: vec![0; capacity],
            pos: vec![ABSENT; capacity],
            key: vec![0; capacity],
            len: 0,
        }
    }

    /// Number of ids present.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no id is present.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The largest id this heap accepts plus one.
    pub fn capacity(&self) -> usize {
        self.pos.len()
    }

    /// Whether `id` is present.
    pub fn contains(&self, id: u32) -> bool {
        self.pos.get(id as usize).is_some_and(|&p| p != ABSENT)
    }

    /// The key of `id` if present.
    pub fn key(&self, id: u32) -> Option<i64> {
        self.contains(id).then(|| self.key[id as usize])
    }

    /// The top `(id, key)` without removing it.
    pub fn peek(&self) -> Option<(u32, i64)> {
        (self.len > 0).then(|| (self.heap[0], self.key[self.heap[0] as usize]))
    }

    /// Inserts `id` or changes its key. Returns `false` (and does nothing) if `id` is out of range.
    pub fn upsert(&mut self, id: u32, key: i64) -> bool {
        let Some(&p) = self.pos.get(id as usize) else {
            return false;
        };
        self.key[id as usize] = key;
        if p == ABSENT {
            let at = self.len;
            self.heap[at] = id;
            self.pos[id as usize] = at as u32;
            self.len += 1;
            self.sift_up(at);
        } else {
            let at = p as usize;
            self.sift_up(at);
            self.sift_down(self.pos[id as usize] as usize);
        }
        true
    }

    /// Removes `id` if present; returns its key.
    pub fn remove(&mut self, id: u32) -> Option<i64> {
        let p = *self.pos.get(id as usize)?;
        if p == ABSENT {
            return None;
        }
        let at = p as usize;
        let last = self.len - 1;
        self.swap(at, last);
        self.len = last;
        self.pos[id as usize] = ABSENT;
        if at < self.len {
            self.sift_up(at);
            self.sift_down(self.pos[self.heap[at] as usize] as usize);
        }
        Some(self.key[id as usize])
    }

    /// Removes and returns the top `(id, key)`.
    pub fn pop(&mut self) -> Option<(u32, i64)> {
        let (id, key) = self.peek()?;
        self.remove(id);
        Some((id, key))
    }

    /// Removes every id (O(len)).
    pub fn clear(&mut self) {
        for i in 0..self.len {
            self.pos[self.heap[i] as usize] = ABSENT;
        }
        self.len = 0;
    }

    /// `a` ranks before `b`: higher key, then lower id.
    #[inline]
    fn before(&self, a: u32, b: u32) -> bool {
        let (ka, kb) = (self.key[a as usize], self.key[b as usize]);
        ka > kb || (ka == kb && a < b)
    }

    #[inline]
    fn swap(&mut self, i: usize, j: usize) {
        self.heap.swap(i, j);
        self.pos[self.heap[i] as usize] = i as u32;
        self.pos[self.heap[j] as usize] = j as u32;
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.before(self.heap[i], self.heap[parent]) {
                self.swap(i, parent);
                i = parent;
            } else {
                break;
            }
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut best = i;
            if l < self.len && self.before(self.heap[l], self.heap[best]) {
                best = l;
            }
            if r < self.len && self.before(self.heap[r], self.heap[best]) {
                best = r;
            }
            if best == i {
                break;
            }
            self.swap(i, best);
            i = best;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn pops_in_key_then_id_order(ops in proptest::collection::vec((0u32..40, -50i64..50, any::<bool>()), 0..200)) {
            let mut h = IndexedHeap::with_capacity(40);
            let mut model = std::collections::BTreeMap::new();
            for (id, key, del) in ops {
                if del {
                    prop_assert_eq!(h.remove(id), model.remove(&id));
                } else {
                    h.upsert(id, key);
                    model.insert(id, key);
                }
                prop_assert_eq!(h.len(), model.len());
            }
            let mut expected: Vec<(u32, i64)> = model.into_iter().collect();
            expected.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let mut got = Vec::new();
            while let Some(x) = h.pop() {
                got.push(x);
            }
            prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn out_of_range_is_refused() {
        let mut h = IndexedHeap::with_capacity(2);
        assert!(!h.upsert(2, 1));
        assert!(h.upsert(1, 1));
        assert_eq!(h.peek(), Some((1, 1)));
    }
}
