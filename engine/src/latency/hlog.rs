//! HdrHistogram file formats: interval logs (`.hlog`) and percentile distributions (`.hgrm`).
//!
//! - `.hlog`: the format of Java's `HistogramLogWriter` (log format version 1.3): comment lines,
//!   `#[StartTime: …]`, `#[BaseTime: …]`, the legend line, then one line per interval and stage,
//!   `Tag=<stage>,<start s>,<length s>,<max>,<V2 deflate histogram, base64>`. Values are ns;
//!   `Interval_Max` is in ns too (stated in a comment line). Readable by HdrHistogram's
//!   `HistogramLogProcessor` and by [`read_hlog`].
//! - `.hgrm`: the text of Java's `outputPercentileDistribution(out, 5, 1000.0)`: value (µs),
//!   percentile, total count, 1/(1−percentile), then the mean/stddev/max/count/buckets footer.
#![forbid(unsafe_code)]

use std::io::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

/// `.hgrm` values are written in microseconds: ns / this.
pub const HGRM_UNIT_RATIO: f64 = 1000.0;

/// Writes an interval log.
pub struct HlogWriter<W: Write> {
    out: W,
    ser: V2DeflateSerializer,
}

impl<W: Write> std::fmt::Debug for HlogWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HlogWriter").finish_non_exhaustive()
    }
}

fn secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl<W: Write> HlogWriter<W> {
    /// Writes the header: `comment` lines, the format version, StartTime = BaseTime = `start`,
    /// and the legend. Interval timestamps are then seconds since `start`.
    pub fn new(mut out: W, start: SystemTime, comment: &str) -> io::Result<Self> {
        for line in comment.lines() {
            writeln!(out, "#{line}")?;
        }
        writeln!(out, "#[Histogram log format version 1.3]")?;
        let s = secs(start);
        writeln!(
            out,
            "#[StartTime: {s:.3} (seconds since epoch), {}]",
            iso8601(start)
        )?;
        writeln!(out, "#[BaseTime: {s:.3} (seconds since epoch)]")?;
        writeln!(out, "#[Values in nanoseconds; Interval_Max in nanoseconds]")?;
        writeln!(
            out,
            "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
        )?;
        Ok(Self {
            out,
            ser: V2DeflateSerializer::new(),
        })
    }

    /// Appends one interval histogram tagged `tag` (no commas or spaces; `""` for untagged).
    pub fn write(
        &mut self,
        tag: &str,
        start_offset: Duration,
        length: Duration,
        h: &Histogram<u64>,
    ) -> io::Result<()> {
        let mut w = IntervalLogWriterBuilder::new()
            .begin_log_with(&mut self.out, &mut self.ser)
            .map_err(io::Error::other)?;
        let tag = if tag.is_empty() { None } else { Tag::new(tag) };
        w.write_histogram(h, start_offset, length, tag)
            .map_err(|e| io::Error::other(e.to_string()))
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// A calendar rendering of `t` (UTC), for the StartTime comment.
fn iso8601(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (y, m, d, h, mi, s) = hotrisk_feed::clock::civil_utc(secs);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// One interval read back from an `.hlog`.
#[derive(Debug, Clone)]
pub struct HlogInterval {
    /// The tag (stage name), if any.
    pub tag: Option<String>,
    /// Start, seconds since the log's BaseTime (or absolute when the log has none).
    pub start: Duration,
    /// Interval length.
    pub length: Duration,
    /// The histogram.
    pub hist: Histogram<u64>,
}

/// Parses an interval log, decoding every histogram. Errors name the byte offset or the line.
pub fn read_hlog(bytes: &[u8]) -> Result<Vec<HlogInterval>, String> {
    let mut out = Vec::new();
    let mut de = Deserializer::new();
    for (n, entry) in IntervalLogIterator::new(bytes).enumerate() {
        let entry = entry.map_err(|e| format!("parse error: {e:?}"))?;
        if let LogEntry::Interval(iv) = entry {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(iv.encoded_histogram())
                .map_err(|e| format!("entry {}: bad base64: {e}", n + 1))?;
            let hist: Histogram<u64> = de
                .deserialize(&mut raw.as_slice())
                .map_err(|e| format!("entry {}: bad histogram: {e:?}", n + 1))?;
            out.push(HlogInterval {
                tag: iv.tag().map(|t| t.as_str().to_string()),
                start: iv.start_timestamp(),
                length: iv.duration(),
                hist,
            });
        }
    }
    Ok(out)
}

/// Writes `h` (ns) as a Java `outputPercentileDistribution` text with 5 ticks per half distance,
/// values in µs.
pub fn write_hgrm<W: Write>(out: &mut W, h: &Histogram<u64>) -> io::Result<()> {
    let digits = usize::from(h.sigfig());
    writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    let mut total = 0u64;
    if !h.is_empty() {
        for v in h.iter_quantiles(5) {
            total += v.count_since_last_iteration();
            let value = v.value_iterated_to() as f64 / HGRM_UNIT_RATIO;
            let q = v.quantile_iterated_to();
            if q < 1.0 {
                writeln!(
                    out,
                    "{value:>12.digits$} {q:>2.12} {total:>10} {:>14.2}",
                    1.0 / (1.0 - q)
                )?;
            } else {
                writeln!(out, "{value:>12.digits$} {q:>2.12} {total:>10}")?;
            }
        }
    }
    let (mean, sd) = if !h.is_empty() {
        (h.mean(), h.stdev())
    } else {
        (0.0, 0.0)
    };
    writeln!(
        out,
        "#[Mean    = {:>12.digits$}, StdDeviation   = {:>12.digits$}]",
        mean / HGRM_UNIT_RATIO,
        sd / HGRM_UNIT_RATIO
    )?;
    writeln!(
        out,
        "#[Max     = {:>12.digits$}, Total count    = {:>12}]",
        h.max() as f64 / HGRM_UNIT_RATIO,
        h.len()
    )?;
    let sub_buckets = (2 * 10u64.pow(u32::from(h.sigfig()))).next_power_of_two();
    writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        sub_buckets
    )
}

/// A percentile distribution read back from an `.hgrm`.
#[derive(Debug, Clone, Default)]
pub struct Hgrm {
    /// `(value in ns, percentile as a fraction)` rows.
    pub rows: Vec<(f64, f64)>,
    /// Total count from the footer (or the last row).
    pub count: u64,
    /// Max from the footer, ns.
    pub max_ns: f64,
}

impl Hgrm {
    /// The smallest value whose percentile is at least `q` (0..=1), ns.
    pub fn value_at(&self, q: f64) -> Option<f64> {
        self.rows.iter().find(|r| r.1 >= q).map(|r| r.0)
    }
}

/// Parses an `.hgrm` text (values in µs, as written by [`write_hgrm`] and by Java).
pub fn read_hgrm(text: &str) -> Result<Hgrm, String> {
    let mut h = Hgrm::default();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with("Value") {
            continue;
        }
        if let Some(rest) = t.strip_prefix("#[Max") {
            // "#[Max     =        0.231, Total count    =      1000000]"
            let nums: Vec<&str> = rest.split(['=', ',', ']']).map(str::trim).collect();
            if let Some(m) = nums.get(1).and_then(|s| s.parse::<f64>().ok()) {
                h.max_ns = m * HGRM_UNIT_RATIO;
            }
            if let Some(c) = nums.get(3).and_then(|s| s.parse::<u64>().ok()) {
                h.count = c;
            }
            continue;
        }
        if t.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = t.split_whitespace().collect();
        let parse = |k: usize| -> Result<f64, String> {
            cols.get(k)
                .ok_or_else(|| format!("line {}: expected at least 3 columns", i + 1))?
                .parse::<f64>()
                .map_err(|e| format!("line {}: column {}: {e}", i + 1, k + 1))
        };
        let value = parse(0)? * HGRM_UNIT_RATIO;
        let q = parse(1)?;
        let count = parse(2)? as u64;
        if !(0.0..=1.0).contains(&q) {
            return Err(format!("line {}: percentile {q} outside 0..1", i + 1));
        }
        h.rows.push((value, q));
        h.count = h.count.max(count);
    }
    if h.rows.is_empty() {
        return Err("no percentile rows".into());
    }
    if h.max_ns == 0.0 {
        h.max_ns = h.rows.last().map_or(0.0, |r| r.0);
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::new_histogram;

    fn sample() -> Histogram<u64> {
        let mut h = new_histogram(10_000_000_000, 3);
        for i in 1..=10_000u64 {
            h.record(i * 10).unwrap();
        }
        h
    }

    #[test]
    fn hlog_round_trips_with_header_lines() {
        let mut buf = Vec::new();
        let start = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let mut w = HlogWriter::new(&mut buf, start, "Logged by hotrisk test").unwrap();
        let h = sample();
        w.write(
            "ring_read",
            Duration::from_secs(1),
            Duration::from_secs(1),
            &h,
        )
        .unwrap();
        w.write(
            "tick_to_order",
            Duration::from_secs(2),
            Duration::from_millis(500),
            &h,
        )
        .unwrap();
        let text = String::from_utf8(buf.clone()).unwrap();
        assert!(text.contains("#[Histogram log format version 1.3]"));
        assert!(text
            .contains("#[StartTime: 1700000000.123 (seconds since epoch), 2023-11-14T22:13:20Z]"));
        assert!(text.contains("\"StartTimestamp\",\"Interval_Length\""));
        assert!(text.contains("Tag=ring_read,1.000,1.000,"));
        let back = read_hlog(&buf).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[1].tag.as_deref(), Some("tick_to_order"));
        assert_eq!(back[1].length, Duration::from_millis(500));
        assert_eq!(back[0].hist.len(), 10_000);
        assert_eq!(back[0].hist.max(), h.max());
        assert!(read_hlog(b"Tag=x,1.0,garbage\n").is_err());
    }

    #[test]
    fn hgrm_matches_java_layout_and_reads_back() {
        let mut buf = Vec::new();
        write_hgrm(&mut buf, &sample()).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "       Value     Percentile TotalCount 1/(1-Percentile)"
        );
        assert_eq!(lines.next().unwrap(), "");
        let first = lines.next().unwrap();
        assert!(first.starts_with("       0.010 0.000000000000"), "{first}");
        assert!(text.contains("#[Buckets = "));
        let last_row = text.lines().rfind(|l| !l.starts_with('#')).unwrap();
        assert!(last_row.contains("1.000000000000"), "{last_row}");
        let h = read_hgrm(&text).unwrap();
        assert_eq!(h.count, 10_000);
        let p50 = h.value_at(0.5).unwrap();
        assert!((49_000.0..=51_000.0).contains(&p50), "{p50}");
        assert!((h.max_ns - 100_000.0).abs() < 100.0, "{}", h.max_ns);
        assert!(read_hgrm("Value\n1.0 2.0 3\n").is_err());
    }
}
