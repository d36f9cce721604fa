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

/// The UTC civil time of `secs` seconds since the Unix epoch, as `(year, month, day, hour,
/// minute, second)`, proleptic Gregorian (after H. Hinnant's days-from-civil algorithm). For the
/// human-readable stamps in logs, file names and reports; never used on a hot path.
pub fn civil_utc(secs: i64) -> (i64, i64, i64, i64, i64, i64) {
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, sod / 3600, sod / 60 % 60, sod % 60)
}

#[cfg(test)]
mod civil_tests {
    use super::civil_utc;

    #[test]
    fn known_instants() {
        assert_eq!(civil_utc(0), (1970, 1, 1, 0, 0, 0));
        // 2000-02-29T12:34:56Z (a leap day of a century leap year).
        assert_eq!(civil_utc(951_827_696), (2000, 2, 29, 12, 34, 56));
        // 2026-11-30T12:00:00Z.
        assert_eq!(civil_utc(1_796_040_000), (2026, 11, 30, 12, 0, 0));
        // One second before the epoch.
        assert_eq!(civil_utc(-1), (1969, 12, 31, 23, 59, 59));
    }
}
