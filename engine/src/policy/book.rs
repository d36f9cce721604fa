//! Per-instrument L2 book: the top [`BOOK_DEPTH`] levels of each side in fixed arrays.
//!
//! The book is built from the market-data ring: [`MsgKind::BookLevel`](hotrisk_feed::MsgKind)
//! updates a level (quantity 0 deletes it), `SnapshotBegin` clears the book and marks it
//! incomplete until `SnapshotEnd`. Only the best `BOOK_DEPTH` levels per side are kept: a level
//! worse than all of a full side is ignored and an insertion into a full side drops the worst one.
//! Dropping can only make the book look *thinner* than it is, which is the safe direction for
//! sizing (liquidation orders are sized smaller, never larger).
//!
//! Prices are E8 integers; bids are kept in descending, asks in ascending price order, so index 0
//! is always the best level and a walk reads memory front to back. Nothing here allocates.

use hotrisk_feed::wire::Side;

/// Levels kept per side.
pub const BOOK_DEPTH: usize = 32;

/// One side of the book, best level first.
#[derive(Debug, Clone, Copy)]
pub struct BookSide {
    px: [i64; BOOK_DEPTH],
    qty: [i64; BOOK_DEPTH],
    len: usize,
    /// `true` for bids (descending prices).
    descending: bool,
}

impl BookSide {
    const fn new(descending: bool) -> Self {
        Self {
            px: [0; BOOK_DEPTH],
            qty: [0; BOOK_DEPTH],
            len: 0,
            descending,
        }
    }

    /// Number of levels present.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the side has no level.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Prices of the present levels, best first.
    #[inline]
    pub fn prices(&self) -> &[i64] {
        &self.px[..self.len]
    }

    /// Quantities of the present levels, best first.
    #[inline]
    pub fn quantities(&self) -> &[i64] {
        &self.qty[..self.len]
    }

    /// The best price, if any.
    #[inline]
    pub fn best(&self) -> Option<i64> {
        (self.len > 0).then(|| self.px[0])
    }

    /// `a` is a better price than `b` on this side.
    #[inline]
    fn better(&self, a: i64, b: i64) -> bool {
        if self.descending {
            a > b
        } else {
            a < b
        }
    }

    /// Sets the quantity at `price` (0 or negative deletes the level).
    pub fn set(&mut self, price: i64, qty: i64) {
        // Position of the first level not better than `price`.
        let mut i = 0;
        while i < self.len && self.better(self.px[i], price) {
            i += 1;
        }
        let exists = i < self.len && self.px[i] == price;
        if qty <= 0 {
            if exists {
                self.px.copy_within(i + 1..self.len, i);
                self.qty.copy_within(i + 1..self.len, i);
                self.len -= 1;
            }
            return;
        }
        if exists {
            self.qty[i] = qty;
            return;
        }
        if i == BOOK_DEPTH {
            return; // worse than every level of a full side
        }
        let end = if self.len == BOOK_DEPTH {
            BOOK_DEPTH - 1
        } else {
            self.len
        };
        self.px.copy_within(i..end, i + 1);
        self.qty.copy_within(i..end, i + 1);
        self.px[i] = price;
        self.qty[i] = qty;
        self.len = end + 1;
    }

    fn clear(&mut self) {
        self.len = 0;
    }
}

/// An instrument's book.
#[derive(Debug, Clone, Copy)]
pub struct Book {
    bids: BookSide,
    asks: BookSide,
    in_snapshot: bool,
}

impl Default for Book {
    fn default() -> Self {
        Self::new()
    }
}

impl Book {
    /// An empty book (complete, no snapshot pending).
    pub const fn new() -> Self {
        Self {
            bids: BookSide::new(true),
            asks: BookSide::new(false),
            in_snapshot: false,
        }
    }

    /// The bid side.
    #[inline]
    pub fn bids(&self) -> &BookSide {
        &self.bids
    }

    /// The ask side.
    #[inline]
    pub fn asks(&self) -> &BookSide {
        &self.asks
    }

    /// The levels an order on `order_side` trades against (asks for a buy, bids for a sell).
    #[inline]
    pub fn contra(&self, order_side: Side) -> &BookSide {
        match order_side {
            Side::Buy => &self.asks,
            Side::Sell => &self.bids,
        }
    }

    /// Applies a level update on `side` (`Buy` = bid).
    pub fn apply(&mut self, side: Side, price: i64, qty: i64) {
        match side {
            Side::Buy => self.bids.set(price, qty),
            Side::Sell => self.asks.set(price, qty),
        }
    }

    /// A snapshot starts: the book is cleared and incomplete until [`Book::end_snapshot`].
    pub fn begin_snapshot(&mut self) {
        self.bids.clear();
        self.asks.clear();
        self.in_snapshot = true;
    }

    /// The snapshot is complete.
    pub fn end_snapshot(&mut self) {
        self.in_snapshot = false;
    }

    /// Whether a snapshot is being received (the book is not yet usable).
    pub fn in_snapshot(&self) -> bool {
        self.in_snapshot
    }

    /// Whether the best bid is at or above the best ask (the book cannot be trusted).
    pub fn is_crossed(&self) -> bool {
        matches!((self.bids.best(), self.asks.best()), (Some(b), Some(a)) if b >= a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_levels_sorted_best_first() {
        let mut b = Book::new();
        for (p, q) in [(100, 1), (102, 2), (101, 3)] {
            b.apply(Side::Buy, p, q);
            b.apply(Side::Sell, p + 10, q);
        }
        assert_eq!(b.bids().prices(), &[102, 101, 100]);
        assert_eq!(b.asks().prices(), &[110, 111, 112]);
        b.apply(Side::Buy, 101, 0);
        assert_eq!(b.bids().prices(), &[102, 100]);
        assert_eq!(b.bids().quantities(), &[2, 1]);
        b.apply(Side::Buy, 100, 7);
        assert_eq!(b.bids().quantities(), &[2, 7]);
        assert!(!b.is_crossed());
        b.apply(Side::Buy, 110, 1);
        assert!(b.is_crossed());
    }

    #[test]
    fn full_side_drops_the_worst() {
        let mut b = Book::new();
        for i in 0..BOOK_DEPTH as i64 {
            b.apply(Side::Sell, 1000 + i, 1);
        }
        b.apply(Side::Sell, 5000, 1); // worse than all: ignored
        assert_eq!(b.asks().len(), BOOK_DEPTH);
        assert_eq!(
            *b.asks().prices().last().unwrap(),
            1000 + BOOK_DEPTH as i64 - 1
        );
        b.apply(Side::Sell, 999, 1);
        assert_eq!(b.asks().best(), Some(999));
        assert_eq!(
            *b.asks().prices().last().unwrap(),
            1000 + BOOK_DEPTH as i64 - 2
        );
    }

    #[test]
    fn snapshot_clears_and_flags() {
        let mut b = Book::new();
        b.apply(Side::Buy, 1, 1);
        b.begin_snapshot();
        assert!(b.in_snapshot() && b.bids().is_empty());
        b.end_snapshot();
        assert!(!b.in_snapshot());
    }
}
