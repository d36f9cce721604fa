//! Idle strategies: what a thread does when a ring has nothing for it (consumer) or no room
//! (SPSC producer under back-pressure).
//!
//! The ring API itself never waits (`try_push`, `try_pop`, `try_read` return at once); waiting is
//! a separate, swappable policy, as in Agrona's `IdleStrategy`. Call [`IdleStrategy::idle`] after
//! each poll that found no work and [`IdleStrategy::reset`] after each poll that did.
//!
//! - [`BusySpin`]: a `pause` and poll again. Lowest latency; burns its core. Use only on a core
//!   of its own.
//! - [`SpinThenYield`]: spin a fixed number of times, then `sched_yield` on every further idle
//!   poll. On a box with fewer cores than spinning threads (this project's CI has 2) this is
//!   what lets the thread that has work run at all.
//! - [`Backoff`]: exponential spinning (1, 2, 4, … 64 `pause`s), then yield; fewer wasted cycles
//!   on the shared cache line than a flat spin.
//!
//! None of them allocates, locks or sleeps; `SpinThenYield` and `Backoff` make one system call
//! (`sched_yield`) per idle poll once past their spin budget.

use super::sync;

/// What to do when a poll found no work.
pub trait IdleStrategy {
    /// Called after a poll that found nothing to do.
    fn idle(&mut self);
    /// Called after a poll that did some work: restarts any spin budget.
    fn reset(&mut self);
}

/// Spin with a CPU `pause` hint; never gives the core up.
#[derive(Debug, Default, Clone, Copy)]
pub struct BusySpin;

impl IdleStrategy for BusySpin {
    #[inline]
    fn idle(&mut self) {
        sync::spin_loop();
    }

    #[inline]
    fn reset(&mut self) {}
}

/// Spin `spins` times, then yield the core on every further idle poll until work arrives.
#[derive(Debug, Clone, Copy)]
pub struct SpinThenYield {
    spins: u32,
    spun: u32,
}

impl SpinThenYield {
    /// Spins this many idle polls before starting to yield.
    pub const fn new(spins: u32) -> Self {
        Self { spins, spun: 0 }
    }

    /// How many idle polls spin before the first yield.
    pub const fn spins(&self) -> u32 {
        self.spins
    }
}

impl Default for SpinThenYield {
    /// 1000 spins (a few µs) before yielding.
    fn default() -> Self {
        Self::new(1000)
    }
}

impl IdleStrategy for SpinThenYield {
    #[inline]
    fn idle(&mut self) {
        if self.spun < self.spins {
            self.spun += 1;
            sync::spin_loop();
        } else {
            sync::yield_now();
        }
    }

    #[inline]
    fn reset(&mut self) {
        self.spun = 0;
    }
}

/// Exponential spinning (2^step `pause`s, step 0..=6), then yield on every further idle poll.
#[derive(Debug, Default, Clone, Copy)]
pub struct Backoff {
    step: u32,
}

impl Backoff {
    const SPIN_LIMIT: u32 = 6;

    /// A fresh backoff.
    pub const fn new() -> Self {
        Self { step: 0 }
    }
}

impl IdleStrategy for Backoff {
    #[inline]
    fn idle(&mut self) {
        if self.step <= Self::SPIN_LIMIT {
            for _ in 0..(1u32 << self.step) {
                sync::spin_loop();
            }
            self.step += 1;
        } else {
            sync::yield_now();
        }
    }

    #[inline]
    fn reset(&mut self) {
        self.step = 0;
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn spin_then_yield_counts_its_budget() {
        let mut s = SpinThenYield::new(3);
        for _ in 0..3 {
            s.idle();
        }
        assert_eq!(s.spun, 3);
        s.idle(); // yields, budget stays spent
        assert_eq!(s.spun, 3);
        s.reset();
        assert_eq!(s.spun, 0);
    }

    #[test]
    fn backoff_grows_then_yields() {
        let mut b = Backoff::new();
        for _ in 0..10 {
            b.idle();
        }
        assert_eq!(b.step, Backoff::SPIN_LIMIT + 1);
        b.reset();
        assert_eq!(b.step, 0);
        BusySpin.idle();
    }
}
