//! Per-stage latency histograms: recorded on the hot threads, reported by the cold one.
//!
//! # Stages
//! Every market-data record carries its `publish_ts` (`CLOCK_MONOTONIC`, stamped by the producer).
//! Each stage stamps its own time with [`hotrisk_feed::clock::now_ns`]:
//!
//! | stage | from → to | recorded by |
//! |---|---|---|
//! | `ring_read` | md publish → risk thread has the record | risk thread, every record |
//! | `decision` | read → margin + policy done | risk thread, every record |
//! | `enqueue` | decision done → decision in the in-process queue | risk thread, per order |
//! | `gateway_publish` | enqueued → order on the order ring | gateway, per order |
//! | `tick_to_order` | md publish → order on the order ring (end to end) | gateway, per order |
//!
//! # Hand-off without locks or allocation
//! Each hot thread owns a [`Recorder`]: one pre-sized [`StageHistograms`] set it records into
//! (`Histogram::saturating_record` never allocates), and an [`Exchange`] shared with the reporter
//! made of two bounded lock-free queues of boxed sets. At every interval the reporter offers an
//! empty set (`to_hot`); the hot thread, when it next polls (each idle spin and every
//! [`POLL_EVERY`] records), swaps it with its active set and hands the full one back (`to_cold`).
//! Only `Box` pointers move through the queues, so nothing is allocated or freed on the hot
//! thread after start-up, and the reporter never reads a set that is being written.
//!
//! # Outputs (see [`report`])
//! A percentile table on stdout, an HdrHistogram interval log (`latency.hlog`, one tagged
//! histogram per stage per interval, readable by HdrHistogram's `HistogramLogProcessor`), a
//! percentile distribution per stage (`<stage>.hgrm`, the format of Java's
//! `outputPercentileDistribution`), and plots ([`plot`]).

use std::sync::Arc;

use crossbeam_queue::ArrayQueue;
use hdrhistogram::Histogram;

pub mod hlog;
pub mod plot;
pub mod report;

/// Number of stages.
pub const N_STAGES: usize = 5;

/// A hot thread checks its [`Exchange`] at least every this many records.
pub const POLL_EVERY: u32 = 1024;

/// A pipeline stage whose latency is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// md publish → record read by the risk thread.
    RingRead = 0,
    /// Read → decision made.
    Decision = 1,
    /// Decision → in the in-process queue.
    Enqueue = 2,
    /// Enqueued → on the order ring.
    GatewayPublish = 3,
    /// md publish → order on the order ring.
    TickToOrder = 4,
}

impl Stage {
    /// All stages in pipeline order.
    pub const ALL: [Stage; N_STAGES] = [
        Stage::RingRead,
        Stage::Decision,
        Stage::Enqueue,
        Stage::GatewayPublish,
        Stage::TickToOrder,
    ];

    /// The stage's name (hlog tag, file stem, Prometheus label).
    pub const fn name(self) -> &'static str {
        match self {
            Stage::RingRead => "ring_read",
            Stage::Decision => "decision",
            Stage::Enqueue => "enqueue",
            Stage::GatewayPublish => "gateway_publish",
            Stage::TickToOrder => "tick_to_order",
        }
    }

    /// The stage named `name`.
    pub fn from_name(name: &str) -> Option<Stage> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Creates one empty histogram for latencies in ns up to `max_ns`.
pub fn new_histogram(max_ns: u64, sigfig: u8) -> Histogram<u64> {
    // Bounds are validated by the config (max >= 1000, sigfig 1..=5); fall back to safe values.
    Histogram::new_with_bounds(1, max_ns.max(2), sigfig.clamp(1, 5))
        .or_else(|_| Histogram::new_with_bounds(1, 10_000_000_000, 3))
        .expect("1 ns .. 10 s at 3 significant figures is a valid histogram")
}

/// One histogram per stage, pre-sized; recording never allocates.
#[derive(Debug, Clone)]
pub struct StageHistograms {
    hists: [Histogram<u64>; N_STAGES],
    /// Values above the trackable maximum, clamped to it.
    pub clamped: u64,
    /// Negative intervals (clock stamps out of order across processes), recorded as 0.
    pub negative: u64,
}

impl StageHistograms {
    /// Empty histograms tracking 1 ns ..= `max_ns`.
    pub fn new(max_ns: u64, sigfig: u8) -> Self {
        Self {
            hists: std::array::from_fn(|_| new_histogram(max_ns, sigfig)),
            clamped: 0,
            negative: 0,
        }
    }

    /// Records `ns` for `stage`. Never allocates, never panics.
    #[inline]
    pub fn record(&mut self, stage: Stage, ns: i64) {
        let h = &mut self.hists[stage as usize];
        let v = if ns < 0 {
            self.negative += 1;
            0
        } else {
            ns as u64
        };
        if v > h.high() {
            self.clamped += 1;
        }
        h.saturating_record(v);
    }

    /// The histogram of `stage`.
    pub fn get(&self, stage: Stage) -> &Histogram<u64> {
        &self.hists[stage as usize]
    }

    /// Adds every stage of `other` into `self`.
    pub fn add(&mut self, other: &StageHistograms) {
        for (a, b) in self.hists.iter_mut().zip(other.hists.iter()) {
            // Same bounds on both sides: addition cannot fail; if it did, the values are out of
            // range and saturate.
            if a.add(b).is_err() {
                for v in b.iter_recorded() {
                    a.saturating_record_n(v.value_iterated_to(), v.count_at_value());
                }
            }
        }
        self.clamped += other.clamped;
        self.negative += other.negative;
    }

    /// Clears every stage.
    pub fn reset(&mut self) {
        for h in &mut self.hists {
            h.reset();
        }
        self.clamped = 0;
        self.negative = 0;
    }

    /// Total values recorded over all stages.
    pub fn total_count(&self) -> u64 {
        self.hists.iter().map(Histogram::len).sum()
    }
}

/// The hand-off point between one hot thread and the reporter (see the module docs).
#[derive(Debug)]
pub struct Exchange {
    to_hot: ArrayQueue<Box<StageHistograms>>,
    to_cold: ArrayQueue<Box<StageHistograms>>,
}

/// The hot thread's side: records into its active set, swaps when the reporter asks.
#[derive(Debug)]
pub struct Recorder {
    active: Box<StageHistograms>,
    exchange: Arc<Exchange>,
    since_poll: u32,
}

/// The reporter's side of one [`Exchange`].
#[derive(Debug)]
pub struct Collector {
    exchange: Arc<Exchange>,
    spare: Option<Box<StageHistograms>>,
}

/// Creates a connected recorder/collector pair with two pre-sized sets.
pub fn recorder_pair(max_ns: u64, sigfig: u8) -> (Recorder, Collector) {
    let exchange = Arc::new(Exchange {
        to_hot: ArrayQueue::new(1),
        to_cold: ArrayQueue::new(2),
    });
    (
        Recorder {
            active: Box::new(StageHistograms::new(max_ns, sigfig)),
            exchange: Arc::clone(&exchange),
            since_poll: 0,
        },
        Collector {
            exchange,
            spare: Some(Box::new(StageHistograms::new(max_ns, sigfig))),
        },
    )
}

impl Recorder {
    /// Records one latency. Never allocates, locks or blocks; polls the exchange now and then.
    #[inline]
    pub fn record(&mut self, stage: Stage, ns: i64) {
        self.active.record(stage, ns);
        self.since_poll += 1;
        if self.since_poll >= POLL_EVERY {
            self.poll();
        }
    }

    /// Swaps the active set if the reporter has offered an empty one (call when idle).
    #[inline]
    pub fn poll(&mut self) {
        self.since_poll = 0;
        if let Some(mut fresh) = self.exchange.to_hot.pop() {
            std::mem::swap(&mut fresh, &mut self.active);
            // to_cold holds at most one set per outstanding offer plus the final one (cap 2),
            // and the reporter offers again only after taking the previous one back.
            if let Err(back) = self.exchange.to_cold.push(fresh) {
                // Cannot happen by the protocol; keep the data rather than lose it.
                self.active.add(&back);
            }
        }
    }

    /// Hands the active set to the reporter for good (thread exit).
    pub fn finish(mut self) {
        self.poll();
        let Recorder {
            active, exchange, ..
        } = self;
        // to_cold has room: the poll above emptied any offer, and the reporter drains to_cold
        // before offering again.
        if let Err(lost) = exchange.to_cold.push(active) {
            drop(lost);
        }
    }
}

impl Collector {
    /// Asks the hot thread for its current set (no-op if an offer is outstanding).
    pub fn request(&mut self) {
        if let Some(spare) = self.spare.take() {
            if let Err(back) = self.exchange.to_hot.push(spare) {
                self.spare = Some(back);
            }
        }
    }

    /// Takes every set the hot thread has handed back, adds it into `into`, and keeps it (reset)
    /// as the next spare. Returns how many sets were taken.
    pub fn collect(&mut self, into: &mut StageHistograms) -> usize {
        let mut n = 0;
        while let Some(mut full) = self.exchange.to_cold.pop() {
            into.add(&full);
            full.reset();
            if self.spare.is_none() {
                self.spare = Some(full);
            }
            n += 1;
        }
        n
    }

    /// Whether an offer is still waiting for the hot thread.
    pub fn outstanding(&self) -> bool {
        self.spare.is_none() && self.exchange.to_cold.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_clamps_and_counts() {
        let mut h = StageHistograms::new(1_000_000, 3);
        h.record(Stage::RingRead, 100);
        h.record(Stage::RingRead, -5);
        h.record(Stage::RingRead, 5_000_000);
        assert_eq!(h.get(Stage::RingRead).len(), 3);
        assert_eq!(h.clamped, 1);
        assert_eq!(h.negative, 1);
        assert!(h.get(Stage::RingRead).max() >= 999_000);
        assert_eq!(Stage::from_name("tick_to_order"), Some(Stage::TickToOrder));
    }

    #[test]
    fn exchange_hands_over_every_value_once() {
        let (mut rec, mut col) = recorder_pair(1_000_000_000, 3);
        let t = std::thread::spawn(move || {
            for i in 0..100_000i64 {
                rec.record(Stage::Decision, i % 1000 + 1);
                if i % 97 == 0 {
                    rec.poll();
                }
            }
            rec.finish();
        });
        let mut total = StageHistograms::new(1_000_000_000, 3);
        while !t.is_finished() {
            col.request();
            std::thread::sleep(std::time::Duration::from_micros(200));
            col.collect(&mut total);
        }
        t.join().unwrap();
        col.collect(&mut total);
        assert_eq!(total.get(Stage::Decision).len(), 100_000);
        assert_eq!(total.get(Stage::RingRead).len(), 0);
    }
}
