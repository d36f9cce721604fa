//! The publish loop: messages → broadcast ring, paced, with a progress line and a heartbeat.
//!
//! This is the feed-handler's hot loop. Per message it does: one [`Throttle`] check (one
//! subtraction unless `--lossless` finds the ring full), one pacing check (a clock read at max
//! speed; a scheduled wait when paced), one store of `publish_ts`, one
//! [`BroadcastWriter::publish`] (never blocks, never allocates). Every 65 536 messages (and while
//! waiting for a paced message) it refreshes the ring's heartbeat and, at most once a second,
//! prints a progress line on stderr. Sequence numbers are those of the input records (a native
//! capture is published bit-exact except `publish_ts`; parsed sources are numbered 1..=n by
//! [`super::load`]).

use std::io::Write;

use crate::clock::now_ns;
use crate::ring::broadcast::BroadcastWriter;
use crate::wire::Msg;

use super::pacing::Pacer;

/// Progress reporting on stderr for long replays.
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    total: Option<u64>,
    start_ns: i64,
    last_print_ns: i64,
    done: u64,
}

impl Progress {
    /// Prints a line at most once a second when `enabled`; `total` (if known) gives a percentage.
    pub fn new(enabled: bool, total: Option<u64>) -> Self {
        let now = now_ns();
        Self {
            enabled,
            total,
            start_ns: now,
            last_print_ns: now,
            done: 0,
        }
    }

    /// Messages published so far.
    pub fn done(&self) -> u64 {
        self.done
    }

    /// Nanoseconds since the start.
    pub fn elapsed_ns(&self) -> i64 {
        now_ns() - self.start_ns
    }

    /// Called from the loop; prints if a second has passed.
    #[cold]
    fn tick(&mut self, local_ts: i64) {
        let now = now_ns();
        if !self.enabled || now - self.last_print_ns < 1_000_000_000 {
            return;
        }
        self.last_print_ns = now;
        let _ = writeln!(std::io::stderr(), "feed-handler: {}", self.line(local_ts));
    }

    /// The progress line: messages, rate, position in the input, capture time.
    pub fn line(&self, local_ts: i64) -> String {
        let secs = (now_ns() - self.start_ns).max(1) as f64 / 1e9;
        let pos = match self.total {
            Some(t) if t > 0 => format!(" · {:.1}% of {}", self.done as f64 * 100.0 / t as f64, t),
            _ => String::new(),
        };
        format!(
            "{} msgs · {:.2} M msg/s{} · capture time {}",
            self.done,
            self.done as f64 / secs / 1e6,
            pos,
            utc(local_ts)
        )
    }
}

/// Formats ns since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn utc(ns: i64) -> String {
    let ms = ns.rem_euclid(1_000_000_000) / 1_000_000;
    let (y, m, d, h, mi, s) = crate::clock::civil_utc(ns.div_euclid(1_000_000_000));
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

/// Optional back-pressure from the slowest reader (`feed-handler ... --lossless`).
///
/// The broadcast ring's writer never waits; a reader that falls a whole ring behind is lapped and
/// reports the gap. For a max-speed replay into an engine that must see every message, the
/// publisher can instead wait while publishing would overwrite the slowest registered reader's
/// next message (`published − min_position ≥ capacity`). The positions are re-read only when the
/// cached minimum says the ring may be full, so the common case costs one subtraction. A reader
/// that makes no progress for `timeout_ns` (a stuck or dead process) ends the throttling with a
/// warning: from then on it is lapped like any slow reader.
#[derive(Debug)]
pub struct Throttle {
    enabled: bool,
    timeout_ns: i64,
    min: u64,
}

impl Throttle {
    /// Throttling on (`enabled`) or off.
    pub fn new(enabled: bool, timeout_ns: i64) -> Self {
        Self {
            enabled,
            timeout_ns,
            min: 0,
        }
    }

    /// No throttling.
    pub fn off() -> Self {
        Self::new(false, 0)
    }

    #[inline]
    fn before_publish(&mut self, w: &BroadcastWriter<Msg>) {
        let p = w.published();
        if !self.enabled || p - self.min < w.capacity() as u64 {
            return;
        }
        self.wait(w, p);
    }

    #[cold]
    fn wait(&mut self, w: &BroadcastWriter<Msg>, p: u64) {
        let start = now_ns();
        let mut spins = 0u32;
        loop {
            match w.min_reader_position() {
                None => {
                    // No reader to protect.
                    self.min = p;
                    return;
                }
                Some(m) if p - m < w.capacity() as u64 => {
                    self.min = m;
                    return;
                }
                Some(m) => {
                    if now_ns() - start > self.timeout_ns {
                        eprintln!(
                            "feed-handler: warning: a reader of {} made no progress for {} ms (stuck at message {m}); no longer waiting for readers",
                            w.path().display(),
                            self.timeout_ns / 1_000_000
                        );
                        self.enabled = false;
                        return;
                    }
                    spins += 1;
                    if spins.is_multiple_of(1024) {
                        w.heartbeat();
                    }
                    std::thread::yield_now();
                }
            }
        }
    }
}

/// Publishes `msgs` in order. Returns the number published.
#[inline]
pub fn publish_slice(
    writer: &mut BroadcastWriter<Msg>,
    msgs: &[Msg],
    pacer: &mut Pacer,
    progress: &mut Progress,
    throttle: &mut Throttle,
) -> u64 {
    for m in msgs {
        let mut m = *m;
        throttle.before_publish(writer);
        m.publish_ts = pacer.wait(m.local_ts, || {
            writer.heartbeat();
            progress.tick(m.local_ts);
        });
        writer.publish(m);
        progress.done += 1;
        if progress.done & 0xFFFF == 0 {
            writer.heartbeat();
            progress.tick(m.local_ts);
        }
    }
    msgs.len() as u64
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(super::utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            super::utc(1_714_521_600_123_000_000),
            "2024-05-01T00:00:00.123Z"
        );
        assert_eq!(
            super::utc(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000Z"
        );
    }
}
