//! The host-wide clock that every process stamps with: `CLOCK_MONOTONIC`, in nanoseconds.
//!
//! See [`crate::wire`] for why this clock rather than a calibrated TSC.

/// `CLOCK_MONOTONIC` now, in nanoseconds. A vDSO call (no syscall on Linux/x86_64).
#[inline]
pub fn now_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call and
    // CLOCK_MONOTONIC is always supported on Linux; the call only writes into `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// Wall-clock time (`CLOCK_REALTIME`) in nanoseconds since the Unix epoch; for file headers only.
pub fn wall_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn monotonic_never_goes_back() {
        let mut last = super::now_ns();
        for _ in 0..10_000 {
            let t = super::now_ns();
            assert!(t >= last);
            last = t;
        }
        assert!(last > 0);
    }
}
