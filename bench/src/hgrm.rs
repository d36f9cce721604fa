//! Writes an HdrHistogram percentile distribution in the classic `.hgrm` text format (as Java's
//! `outputPercentileDistribution` does), readable by the HdrHistogram plotter and `hotrisk-tools
//! hist`. Values are written as recorded (this crate records nanoseconds) divided by `scale`.

use std::io::{self, Write};

use hdrhistogram::Histogram;

/// Writes `h` as a percentile distribution with 5 ticks per half distance.
pub fn write_hgrm(h: &Histogram<u64>, out: &mut impl Write, scale: f64) -> io::Result<()> {
    writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    let mut total = 0u64;
    for v in h.iter_quantiles(5) {
        total += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        let value = v.value_iterated_to() as f64 / scale;
        if q < 1.0 {
            writeln!(
                out,
                "{value:>12.3} {q:>2.12} {total:>10} {:>14.2}",
                1.0 / (1.0 - q)
            )?;
        } else {
            writeln!(out, "{value:>12.3} {q:>2.12} {total:>10}")?;
        }
    }
    writeln!(
        out,
        "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]",
        h.mean() / scale,
        h.stdev() / scale
    )?;
    writeln!(
        out,
        "#[Max     = {:>12.3}, Total count    = {:>12}]",
        h.max() as f64 / scale,
        h.len()
    )?;
    writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        h.distinct_values()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn writes_a_distribution_ending_at_the_max() {
        let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 1_000_000, 3).unwrap();
        for v in 1..=1000u64 {
            h.record(v).unwrap();
        }
        let mut out = Vec::new();
        super::write_hgrm(&h, &mut out, 1.0).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("       Value     Percentile"));
        assert!(text.contains("1.000000000000       1000\n"), "{text}");
        assert!(text.contains("#[Max     =     1000.000, Total count    =         1000]"));
    }
}
