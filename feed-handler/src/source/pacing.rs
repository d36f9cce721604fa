//! Publication pacing: as fast as possible, or by the captured local timestamps × a speed factor.
//!
//! Paced mode schedules message `k` at
//! `scheduled_k = origin + (local_ts_k − local_ts_0) × 10^6 / speed_ppm` on `CLOCK_MONOTONIC`
//! (`origin` = when the first message is published) and never publishes early. The publisher
//! stamps `publish_ts = scheduled_k` — the time the message *should* have gone out — so that a
//! downstream latency measured from `publish_ts` includes any delay of the feed-handler itself and
//! is free of coordinated omission. The lateness `actual − scheduled` of every message is kept in
//! a histogram and reported at the end ([`Pacer::lateness_report`]). In max-speed mode there is no
//! schedule: `publish_ts` is the actual publish time.
//!
//! Waiting sleeps while the next message is more than 2 ms away (in slices of at most 50 ms), then
//! spins with `yield_now`; the idle callback (the ring heartbeat and the progress line) runs every
//! 100 ms of paced publishing, whether or not the messages are sparse.
#![forbid(unsafe_code)]

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::clock::now_ns;
use crate::fixed::parse_fixed;

/// How fast to publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// As fast as possible.
    Max,
    /// Local timestamps × `10^6 / ppm` (1_000_000 = real time, 2_000_000 = twice as fast).
    Speed {
        /// Speed factor in parts per million.
        ppm: i64,
    },
}

impl Pace {
    /// Parses a speed factor such as `1`, `0.5`, `10` (exact to 6 decimals, > 0).
    pub fn parse_speed(s: &str) -> Result<Self, String> {
        let ppm = parse_fixed(s, 6).map_err(|e| format!("--speed: {e}"))?;
        if ppm <= 0 {
            return Err(format!("--speed must be positive, got {s}"));
        }
        Ok(Self::Speed { ppm })
    }
}

/// Schedules messages and keeps the lateness statistics.
#[derive(Debug)]
pub struct Pacer {
    pace: Pace,
    origin: Option<(i64, i64)>,
    last_scheduled: i64,
    last_idle: i64,
    stamp_every: u32,
    stamp_left: u32,
    stamp: i64,
    lateness: Histogram<u64>,
}

impl Pacer {
    /// A pacer for `pace`.
    pub fn new(pace: Pace) -> Self {
        Self {
            pace,
            origin: None,
            last_scheduled: i64::MIN,
            last_idle: now_ns(),
            stamp_every: 1,
            stamp_left: 0,
            stamp: 0,
            // 3 significant digits, up to an hour of lateness.
            lateness: Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
                .unwrap_or_else(|_| Histogram::new(3).expect("3 significant digits is valid")),
        }
    }

    /// At max speed, reads the clock once per `n` messages instead of for every one (`n` ≥ 1).
    ///
    /// A `publish_ts` is then up to `n − 1` publishes earlier than the true publish time, so a
    /// latency measured from it can only be overstated (by well under a microsecond for small
    /// `n`); it saves a clock read per message where the clock costs as much as the publish.
    pub fn stamp_every(mut self, n: u32) -> Self {
        self.stamp_every = n.max(1);
        self
    }

    /// The pace.
    pub fn pace(&self) -> Pace {
        self.pace
    }

    /// Waits until a message with local timestamp `local_ts` is due and returns the `publish_ts`
    /// to stamp (scheduled time when paced, the actual time at max speed). `idle` is called
    /// every 100 ms (counted across calls).
    #[inline]
    pub fn wait(&mut self, local_ts: i64, mut idle: impl FnMut()) -> i64 {
        let Pace::Speed { ppm } = self.pace else {
            if self.stamp_left == 0 {
                self.stamp = now_ns();
                self.stamp_left = self.stamp_every;
            }
            self.stamp_left -= 1;
            return self.stamp;
        };
        let (l0, t0) = *self.origin.get_or_insert_with(|| (local_ts, now_ns()));
        let offset = i128::from(local_ts.saturating_sub(l0)) * 1_000_000 / i128::from(ppm);
        let scheduled = (i128::from(t0) + offset).min(i128::from(i64::MAX)) as i64;
        // A capture whose local time goes back is published at once, never before its predecessor.
        let scheduled = scheduled.max(self.last_scheduled);
        self.last_scheduled = scheduled;
        let mut now = now_ns();
        loop {
            // The idle callback runs every 100 ms of paced time, across calls, so a sparse feed
            // (one message a second) still heartbeats ten times a second.
            if now - self.last_idle >= 100_000_000 {
                idle();
                self.last_idle = now;
            }
            if now >= scheduled {
                break;
            }
            let left = scheduled - now;
            if left > 2_000_000 {
                std::thread::sleep(Duration::from_nanos(
                    (left - 1_000_000).min(50_000_000) as u64
                ));
            } else {
                std::thread::yield_now();
            }
            now = now_ns();
        }
        self.lateness
            .saturating_record((now - scheduled).max(1) as u64);
        scheduled
    }

    /// Percentiles of `actual − scheduled` publish time, or `None` at max speed.
    pub fn lateness_report(&self) -> Option<String> {
        if self.pace == Pace::Max || self.lateness.is_empty() {
            return None;
        }
        let h = &self.lateness;
        let us = |v: u64| v as f64 / 1_000.0;
        Some(format!(
            "publish lateness (actual − scheduled) over {} msgs: p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs",
            h.len(),
            us(h.value_at_quantile(0.5)),
            us(h.value_at_quantile(0.99)),
            us(h.value_at_quantile(0.999)),
            us(h.max())
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_parses_exactly() {
        assert_eq!(Pace::parse_speed("2.5"), Ok(Pace::Speed { ppm: 2_500_000 }));
        assert!(Pace::parse_speed("0").is_err());
        assert!(Pace::parse_speed("x").is_err());
    }

    #[test]
    fn max_speed_stamps_every_n() {
        let mut p = Pacer::new(Pace::Max).stamp_every(4);
        let s: Vec<i64> = (0..8).map(|_| p.wait(0, || {})).collect();
        assert!(s[..4].iter().all(|&t| t == s[0]) && s[4..].iter().all(|&t| t == s[4]));
        assert!(s[4] >= s[0]);
        let mut p = Pacer::new(Pace::Max);
        let a = p.wait(0, || {});
        std::thread::sleep(Duration::from_millis(1));
        assert!(p.wait(0, || {}) >= a + 1_000_000);
    }

    #[test]
    fn paced_schedule_is_never_early() {
        // 10× speed: 20 ms of captured time → 2 ms of wall time.
        let mut p = Pacer::new(Pace::Speed { ppm: 10_000_000 });
        let start = now_ns();
        let s0 = p.wait(1_000_000_000, || {});
        let s1 = p.wait(1_020_000_000, || {});
        assert_eq!(s1 - s0, 2_000_000);
        assert!(now_ns() >= s1);
        assert!(now_ns() - start >= 2_000_000);
        assert!(p.lateness_report().unwrap().contains("over 2 msgs"));
    }
}
