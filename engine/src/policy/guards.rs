//! Data trust and cascade control, per instrument.
//!
//! # Data trust: when liquidations pause
//! No liquidation is decided on a price the engine cannot trust. An instrument is **paused** while
//! any of these holds (each is a bit of [`Pause`], reported with the decision):
//! - [`Pause::HALTED`]: the venue reported the instrument halted (`Status` record);
//! - [`Pause::NO_INDEX`] / [`Pause::STALE_INDEX`]: no index (oracle) price yet, or the last one is
//!   older than `max_index_age_ns` at the decision's record time;
//! - [`Pause::DEVIATION`]: `|mark − index| > band · index`;
//! - [`Pause::CROSSED`]: best bid ≥ best ask;
//! - [`Pause::GAP`]: a market-data sequence gap was reported, or a book snapshot is in progress;
//!   cleared by the next complete snapshot (`SnapshotEnd`);
//! - [`Pause::BREAKER`]: the circuit breaker below is tripped and not yet confirmed.
//!
//! When the last reason clears, the instrument **resumes** and the caller re-evaluates every
//! account holding it ([`Guard::on_record_time`] and the `Policy` entry points say so).
//!
//! # Circuit breaker
//! The mark's range over the last `breaker_window_ns` is tracked in [`BREAKER_BUCKETS`] time
//! buckets (min and max per bucket; O(buckets) per mark, no allocation). When `max − min` exceeds
//! `breaker_band · min`, the breaker trips: liquidations pause until `breaker_confirm_ns` of
//! record time has passed *and* a mark arrives after that (the confirmation: the price has
//! persisted, or reverted, for that long). The range history then restarts from that mark.
//!
//! # Notional budget
//! At most `budget_notional` (margin-asset notional, E8) of liquidation orders per
//! `budget_window_ns` tumbling window per instrument; accounts that find it spent wait in the
//! policy's queue ordered by margin ratio (worst first).
//!
//! Record time only: every timestamp here comes from a record, never from a clock.

use hotrisk_feed::fixed::E8;

/// Reasons an instrument is paused (bit set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Pause(pub u8);

impl Pause {
    /// Nothing wrong.
    pub const NONE: Pause = Pause(0);
    /// The venue halted the instrument.
    pub const HALTED: Pause = Pause(1);
    /// No index price received yet.
    pub const NO_INDEX: Pause = Pause(2);
    /// The index is older than the configured age.
    pub const STALE_INDEX: Pause = Pause(4);
    /// Mark and index differ by more than the band.
    pub const DEVIATION: Pause = Pause(8);
    /// The book is crossed.
    pub const CROSSED: Pause = Pause(16);
    /// A sequence gap or an incomplete snapshot.
    pub const GAP: Pause = Pause(32);
    /// The circuit breaker is tripped.
    pub const BREAKER: Pause = Pause(64);

    const NAMES: [(Pause, &'static str); 7] = [
        (Pause::HALTED, "halted"),
        (Pause::NO_INDEX, "no_index"),
        (Pause::STALE_INDEX, "stale_index"),
        (Pause::DEVIATION, "mark_index_deviation"),
        (Pause::CROSSED, "crossed_book"),
        (Pause::GAP, "sequence_gap"),
        (Pause::BREAKER, "circuit_breaker"),
    ];

    /// Whether no reason is set.
    pub const fn is_clear(self) -> bool {
        self.0 == 0
    }

    /// Whether every reason of `other` is set.
    pub const fn contains(self, other: Pause) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// The reasons' names (for reports; allocation-free iterator).
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .into_iter()
            .filter(move |(p, _)| self.0 & p.0 != 0)
            .map(|(_, n)| n)
    }
}

impl core::ops::BitOr for Pause {
    type Output = Pause;
    fn bitor(self, rhs: Pause) -> Pause {
        Pause(self.0 | rhs.0)
    }
}

/// Guard parameters (per instrument, shared by all in the policy config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardConfig {
    /// Maximum age of the index price, ns of record time.
    pub max_index_age_ns: i64,
    /// Mark/index deviation band (E8 rate, e.g. `0.05` → 5_000_000).
    pub deviation_band: i64,
    /// Breaker: mark range that trips it (E8 rate).
    pub breaker_band: i64,
    /// Breaker: window the range is measured over, ns.
    pub breaker_window_ns: i64,
    /// Breaker: confirmation wait after tripping, ns.
    pub breaker_confirm_ns: i64,
    /// Budget: notional per window (E8, margin asset); `i64::MAX` for none.
    pub budget_notional: i64,
    /// Budget: window length, ns.
    pub budget_window_ns: i64,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            max_index_age_ns: 5_000_000_000,
            deviation_band: 5 * E8 / 100,
            breaker_band: 10 * E8 / 100,
            breaker_window_ns: 1_000_000_000,
            breaker_confirm_ns: 1_000_000_000,
            budget_notional: i64::MAX,
            budget_window_ns: 1_000_000_000,
        }
    }
}

/// Buckets of the breaker's mark history.
pub const BREAKER_BUCKETS: usize = 8;

/// One instrument's data-trust and cascade state.
#[derive(Debug, Clone, Copy)]
pub struct Guard {
    halted: bool,
    gap: bool,
    crossed: bool,
    mark: i64,
    index: i64,
    index_ts: Option<i64>,
    // breaker
    bucket_start: [i64; BREAKER_BUCKETS],
    bucket_min: [i64; BREAKER_BUCKETS],
    bucket_max: [i64; BREAKER_BUCKETS],
    tripped_at: Option<i64>,
    // budget
    window_start: i64,
    used: i64,
    /// Last evaluated pause set (to report transitions).
    last: Pause,
}

impl Default for Guard {
    fn default() -> Self {
        Self::new()
    }
}

impl Guard {
    /// A fresh guard: no index yet (so paused with [`Pause::NO_INDEX`]).
    pub const fn new() -> Self {
        Self {
            halted: false,
            gap: false,
            crossed: false,
            mark: 0,
            index: 0,
            index_ts: None,
            bucket_start: [i64::MIN; BREAKER_BUCKETS],
            bucket_min: [0; BREAKER_BUCKETS],
            bucket_max: [0; BREAKER_BUCKETS],
            tripped_at: None,
            window_start: i64::MIN,
            used: 0,
            last: Pause::NO_INDEX,
        }
    }

    /// The current mark seen by the guard.
    pub fn mark(&self) -> i64 {
        self.mark
    }

    /// Records an index price at record time `ts`.
    pub fn on_index(&mut self, price: i64, ts: i64) {
        self.index = price;
        self.index_ts = Some(ts);
    }

    /// Records a mark price at record time `ts` (feeds the breaker).
    pub fn on_mark(&mut self, cfg: &GuardConfig, price: i64, ts: i64) {
        self.mark = price;
        if let Some(t0) = self.tripped_at {
            if ts >= t0.saturating_add(cfg.breaker_confirm_ns) {
                self.tripped_at = None;
                self.bucket_start = [i64::MIN; BREAKER_BUCKETS];
            } else {
                return;
            }
        }
        let width = (cfg.breaker_window_ns / BREAKER_BUCKETS as i64).max(1);
        let start = ts.div_euclid(width) * width;
        let slot = (ts.div_euclid(width)).rem_euclid(BREAKER_BUCKETS as i64) as usize;
        if self.bucket_start[slot] != start {
            self.bucket_start[slot] = start;
            self.bucket_min[slot] = price;
            self.bucket_max[slot] = price;
        } else {
            self.bucket_min[slot] = self.bucket_min[slot].min(price);
            self.bucket_max[slot] = self.bucket_max[slot].max(price);
        }
        let oldest = start - width * (BREAKER_BUCKETS as i64 - 1);
        let (mut lo, mut hi) = (price, price);
        for i in 0..BREAKER_BUCKETS {
            if self.bucket_start[i] >= oldest && self.bucket_start[i] != i64::MIN {
                lo = lo.min(self.bucket_min[i]);
                hi = hi.max(self.bucket_max[i]);
            }
        }
        if (hi - lo) as i128 * E8 as i128 > cfg.breaker_band as i128 * lo as i128 {
            self.tripped_at = Some(ts);
        }
    }

    /// Records the venue's trading status.
    pub fn set_halted(&mut self, halted: bool) {
        self.halted = halted;
    }

    /// A sequence gap (or a snapshot start): the book is not trustworthy until a snapshot ends.
    pub fn set_gap(&mut self, gap: bool) {
        self.gap = gap;
    }

    /// Whether the book is crossed (set by the policy after each book change).
    pub fn set_crossed(&mut self, crossed: bool) {
        self.crossed = crossed;
    }

    /// The reasons liquidations are paused at record time `now`.
    pub fn pause(&self, cfg: &GuardConfig, now: i64) -> Pause {
        let mut p = 0u8;
        if self.halted {
            p |= Pause::HALTED.0;
        }
        match self.index_ts {
            None => p |= Pause::NO_INDEX.0,
            Some(t) if now.saturating_sub(t) > cfg.max_index_age_ns => p |= Pause::STALE_INDEX.0,
            Some(_) => {
                let dev = (self.mark - self.index).unsigned_abs() as i128 * E8 as i128;
                if self.index <= 0 || dev > cfg.deviation_band as i128 * self.index as i128 {
                    p |= Pause::DEVIATION.0;
                }
            }
        }
        if self.crossed {
            p |= Pause::CROSSED.0;
        }
        if self.gap {
            p |= Pause::GAP.0;
        }
        if self.tripped_at.is_some() {
            p |= Pause::BREAKER.0;
        }
        Pause(p)
    }

    /// Re-evaluates the pause at `now`; returns `(current, resumed)` where `resumed` says the
    /// instrument just went from paused to sound (every account holding it must be re-evaluated).
    pub fn on_record_time(&mut self, cfg: &GuardConfig, now: i64) -> (Pause, bool) {
        let p = self.pause(cfg, now);
        let resumed = !self.last.is_clear() && p.is_clear();
        self.last = p;
        (p, resumed)
    }

    /// Budget left in the window containing `now` (rolls the window).
    pub fn budget_left(&mut self, cfg: &GuardConfig, now: i64) -> i64 {
        if cfg.budget_notional == i64::MAX {
            return i64::MAX;
        }
        let w = cfg.budget_window_ns.max(1);
        let start = now.div_euclid(w) * w;
        if start != self.window_start {
            self.window_start = start;
            self.used = 0;
        }
        (cfg.budget_notional - self.used).max(0)
    }

    /// Spends `notional` of the current window's budget.
    pub fn spend(&mut self, notional: i64) {
        self.used = self.used.saturating_add(notional);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn sound(g: &mut Guard, cfg: &GuardConfig, ts: i64) {
        g.on_index(100 * E8, ts);
        g.on_mark(cfg, 100 * E8, ts);
    }

    #[test]
    fn pauses_and_resumes() {
        let cfg = GuardConfig::default();
        let mut g = Guard::new();
        assert!(g.pause(&cfg, 0).contains(Pause::NO_INDEX));
        sound(&mut g, &cfg, 0);
        assert_eq!(g.on_record_time(&cfg, 0), (Pause::NONE, true));
        assert!(g.pause(&cfg, 6 * S).contains(Pause::STALE_INDEX));
        g.on_mark(&cfg, 104 * E8, S / 10);
        assert!(g.pause(&cfg, S / 10).is_clear());
        g.on_index(98 * E8, S / 5);
        assert!(g.pause(&cfg, S / 5).contains(Pause::DEVIATION));
        g.set_halted(true);
        assert_eq!(
            g.pause(&cfg, S / 5).names().collect::<Vec<_>>(),
            ["halted", "mark_index_deviation"]
        );
    }

    #[test]
    fn breaker_trips_and_confirms() {
        let cfg = GuardConfig::default();
        let mut g = Guard::new();
        sound(&mut g, &cfg, 0);
        g.on_mark(&cfg, 95 * E8, S / 2);
        assert!(g.pause(&cfg, S / 2).is_clear());
        g.on_index(89 * E8, S / 2 + 1);
        g.on_mark(&cfg, 89 * E8, S / 2 + 1); // 100 → 89 within the window: 11% > 10%
        assert!(g.pause(&cfg, S).contains(Pause::BREAKER));
        g.on_mark(&cfg, 89 * E8, S); // before confirmation
        assert!(g.pause(&cfg, S).contains(Pause::BREAKER));
        g.on_mark(&cfg, 89 * E8, S / 2 + 1 + S); // confirmed
        assert!(g.pause(&cfg, 2 * S).is_clear());
        // an old move outside the window does not trip
        let mut g = Guard::new();
        sound(&mut g, &cfg, 0);
        g.on_mark(&cfg, 89 * E8, 3 * S);
        assert!(!g.pause(&cfg, 3 * S).contains(Pause::BREAKER));
    }

    #[test]
    fn budget_rolls_per_window() {
        let cfg = GuardConfig {
            budget_notional: 1000,
            ..GuardConfig::default()
        };
        let mut g = Guard::new();
        assert_eq!(g.budget_left(&cfg, 10), 1000);
        g.spend(700);
        assert_eq!(g.budget_left(&cfg, 20), 300);
        assert_eq!(g.budget_left(&cfg, S + 1), 1000);
    }
}
