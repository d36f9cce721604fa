//! Latency plots (plotters): percentile spectra and latency over time, as SVG or PNG (chosen by
//! the file extension). Shared by `hotrisk run`, the demo, the bench report and
//! `hotrisk-tools hist`.
//!
//! The percentile spectrum puts latency on a log axis against percentile on a `1/(1−p)` log axis,
//! so the tail (99%, 99.9%, 99.99%…) gets as much room as the median; several runs overlay.
#![forbid(unsafe_code)]

use std::path::Path;

use hdrhistogram::Histogram;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::hlog::Hgrm;

/// Errors drawing a plot.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// Nothing to draw.
    #[error("{0}: no data to plot")]
    Empty(String),
    /// The extension is neither `.svg` nor `.png`.
    #[error("{0}: unsupported plot format (use .svg or .png)")]
    Format(String),
    /// The backend failed.
    #[error("{path}: {message}")]
    Draw {
        /// The output file.
        path: String,
        /// The backend's message.
        message: String,
    },
}

/// One curve of a percentile spectrum.
#[derive(Debug, Clone)]
pub struct SpectrumSeries {
    /// Legend label.
    pub label: String,
    /// `(percentile as a fraction in [0, 1), latency ns)` points.
    pub points: Vec<(f64, f64)>,
}

/// One curve of a latency-over-time plot.
#[derive(Debug, Clone)]
pub struct TimeSeries {
    /// Legend label.
    pub label: String,
    /// `(seconds since start, latency ns)` points.
    pub points: Vec<(f64, f64)>,
}

/// Largest `1/(1−p)` plotted (p = 99.9999%).
const X_MAX: f64 = 1e6;

/// The spectrum of a histogram (5 ticks per half distance, like `.hgrm`).
pub fn spectrum_from_histogram(label: &str, h: &Histogram<u64>) -> SpectrumSeries {
    let mut points = Vec::new();
    if !h.is_empty() {
        for v in h.iter_quantiles(5) {
            points.push((v.quantile_iterated_to(), v.value_iterated_to() as f64));
        }
    }
    SpectrumSeries {
        label: label.to_string(),
        points,
    }
}

/// The spectrum of a parsed `.hgrm`.
pub fn spectrum_from_hgrm(label: &str, h: &Hgrm) -> SpectrumSeries {
    SpectrumSeries {
        label: label.to_string(),
        points: h.rows.clone(),
    }
}

fn x_of(q: f64) -> f64 {
    if q >= 1.0 - 1.0 / X_MAX {
        X_MAX
    } else {
        1.0 / (1.0 - q)
    }
}

fn pct_label(x: f64) -> String {
    let p = 100.0 * (1.0 - 1.0 / x);
    if x < 1.5 {
        "0%".into()
    } else {
        let digits = (x.log10().round() as usize).saturating_sub(2);
        format!("{p:.digits$}%")
    }
}

fn ns_label(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.3}s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.3}ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.3}µs", ns / 1e3)
    } else {
        format!("{ns:.0}ns")
    }
}

fn log_bounds(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = (f64::MAX, f64::MIN);
    for v in values {
        lo = lo.min(v.max(1.0));
        hi = hi.max(v.max(1.0));
    }
    (lo <= hi).then(|| (lo / 1.5, hi * 1.5))
}

fn draw_err(path: &Path) -> impl Fn(&dyn std::fmt::Display) -> PlotError + '_ {
    move |e| PlotError::Draw {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

type DrawResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn with_backend(
    path: &Path,
    size: (u32, u32),
    f: &dyn Fn(DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult,
    g: &dyn Fn(DrawingArea<BitMapBackend<'_>, Shift>) -> DrawResult,
) -> Result<(), PlotError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let err = draw_err(path);
    match ext.as_str() {
        "svg" => f(SVGBackend::new(path, size).into_drawing_area()).map_err(|e| err(&e)),
        "png" => g(BitMapBackend::new(path, size).into_drawing_area()).map_err(|e| err(&e)),
        _ => Err(PlotError::Format(path.display().to_string())),
    }
}

fn spectrum_on<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    series: &[SpectrumSeries],
    text: bool,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (ylo, yhi) =
        log_bounds(series.iter().flat_map(|s| s.points.iter().map(|p| p.1))).ok_or("no points")?;
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut b = ChartBuilder::on(&root);
    b.margin(15);
    if text {
        b.caption(title, ("sans-serif", 22))
            .x_label_area_size(45)
            .y_label_area_size(80);
    }
    let mut chart = b
        .build_cartesian_2d((1f64..X_MAX).log_scale(), (ylo..yhi).log_scale())
        .map_err(|e| e.to_string())?;
    if text {
        chart
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("latency")
            .x_label_formatter(&|x| pct_label(*x))
            .y_label_formatter(&|y| ns_label(*y))
            .draw()
            .map_err(|e| e.to_string())?;
    } else {
        chart
            .configure_mesh()
            .disable_x_mesh()
            .disable_y_mesh()
            .x_labels(0)
            .y_labels(0)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .map(|&(q, v)| (x_of(q), v.max(1.0)))
            .collect();
        let drawn = chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(|e| e.to_string())?;
        if text {
            drawn.label(s.label.clone()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        }
    }
    if text {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

fn over_time_on<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    series: &[TimeSeries],
    text: bool,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (ylo, yhi) =
        log_bounds(series.iter().flat_map(|s| s.points.iter().map(|p| p.1))).ok_or("no points")?;
    let tmax = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(0.0f64, f64::max)
        .max(1e-3);
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut b = ChartBuilder::on(&root);
    b.margin(15);
    if text {
        b.caption(title, ("sans-serif", 22))
            .x_label_area_size(45)
            .y_label_area_size(80);
    }
    let mut chart = b
        .build_cartesian_2d(0f64..tmax * 1.02, (ylo..yhi).log_scale())
        .map_err(|e| e.to_string())?;
    if text {
        chart
            .configure_mesh()
            .x_desc("time since start (s)")
            .y_desc("latency")
            .y_label_formatter(&|y| ns_label(*y))
            .draw()
            .map_err(|e| e.to_string())?;
    } else {
        chart
            .configure_mesh()
            .x_labels(0)
            .y_labels(0)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let pts: Vec<(f64, f64)> = s.points.iter().map(|&(t, v)| (t, v.max(1.0))).collect();
        let drawn = chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(|e| e.to_string())?;
        if text {
            drawn.label(s.label.clone()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        }
    }
    if text {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

/// Draws a percentile spectrum of `series` into `path` (`.svg`, or `.png` without text: the
/// crate is built without a font rasteriser, so PNGs carry curves and grid only).
pub fn draw_spectrum(path: &Path, title: &str, series: &[SpectrumSeries]) -> Result<(), PlotError> {
    if series.iter().all(|s| s.points.is_empty()) {
        return Err(PlotError::Empty(path.display().to_string()));
    }
    with_backend(
        path,
        (1000, 620),
        &|root| spectrum_on(root, title, series, true),
        &|root| spectrum_on(root, title, series, false),
    )
}

/// Draws latency over time of `series` into `path` (see [`draw_spectrum`] for the formats).
pub fn draw_over_time(path: &Path, title: &str, series: &[TimeSeries]) -> Result<(), PlotError> {
    if series.iter().all(|s| s.points.is_empty()) {
        return Err(PlotError::Empty(path.display().to_string()));
    }
    with_backend(
        path,
        (1000, 620),
        &|root| over_time_on(root, title, series, true),
        &|root| over_time_on(root, title, series, false),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(pct_label(10.0), "90%");
        assert_eq!(pct_label(100.0), "99%");
        assert_eq!(pct_label(1000.0), "99.9%");
        assert_eq!(pct_label(10000.0), "99.99%");
        assert_eq!(ns_label(1500.0), "1.500µs");
        assert_eq!(ns_label(800.0), "800ns");
    }

    #[test]
    fn draws_svg_and_png() {
        let mut h = crate::latency::new_histogram(1_000_000_000, 3);
        for i in 1..=10_000u64 {
            h.record(i * 7 + 100).unwrap();
        }
        let a = spectrum_from_histogram("run a", &h);
        let mut b = a.clone();
        b.label = "run b".into();
        for p in &mut b.points {
            p.1 *= 2.0;
        }
        let dir = tempfile::tempdir().unwrap();
        let svg = dir.path().join("s.svg");
        draw_spectrum(&svg, "spectrum", &[a.clone(), b]).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.contains("<svg") && text.contains("run b") && text.contains("99.9%"));
        let png = dir.path().join("s.png");
        draw_spectrum(&png, "spectrum", &[a]).unwrap();
        assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
        let t = TimeSeries {
            label: "p99".into(),
            points: vec![(0.0, 100.0), (1.0, 250.0), (2.0, 180.0)],
        };
        draw_over_time(&dir.path().join("t.svg"), "over time", &[t]).unwrap();
        assert!(draw_spectrum(&dir.path().join("x.jpg"), "x", &[]).is_err());
    }
}
