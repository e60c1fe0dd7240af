//! The charts of a run, each drawn once for SVG (inlined in `report.html`) and once for
//! PNG, from the same drawing code.
//!
//! - `latency_cdf`: the cumulative distribution of the `ok` operations' latencies, with
//!   the mean, p50 and p99 marked; the latency axis is logarithmic when the latencies
//!   span more than two decades.
//! - `latency_histogram`: how many `ok` operations fell in each latency bin; the bars
//!   are ordered rectangles drawn here, because plotters' `Histogram` series collects
//!   its bars in a `HashMap` and its output would change from run to run.
//! - `timeline`: throughput (`ok` operations per second) and availability (`ok /
//!   completed`) per interval of virtual time, as in `timeline.csv`, with fault windows
//!   shaded behind and listed one per lane below.
//! - `spacetime`: a Lamport space-time diagram of 40 messages around the run's first
//!   violation (else its first fault, else its start; see [`spacetime_window`]): one
//!   horizontal line per node, an arrow per delivered message from (source, send time)
//!   to (target, delivery time), an X where a message was lost, node-level faults
//!   (crash, pause, isolate) as bands on their node's line and network-wide ones
//!   (partition, cut, degrade) as shaded spans.
//! - `rates` (MapReduce runs with a byte model only): input, shuffle and output bytes
//!   per second over virtual time in three stacked panels, as in `rates.csv` and in the
//!   panels of Dean & Ghemawat's Figure 3.
//!
//! Every chart draws a clear "no data" panel instead of failing when it has nothing
//! to show. Output is byte-identical for equal inputs: all iteration is over vectors,
//! and nothing time- or machine-dependent is written.
//!
//! Text is rendered with DejaVu Sans, bundled by the `dejavu` crate and registered with
//! plotters' `ab_glyph` path as `sans-serif` (see [`register_fonts`]), so PNGs render on
//! machines without any system font. DejaVu fonts are free software under the Bitstream
//! Vera / Arev licence (see `LICENSE-DejaVu` in this crate). The font, the palette,
//! the header and legend, and the SVG/PNG plumbing are shared with the sweep charts
//! (module `style`).

use crate::error::ReportError;
use crate::faults::{FaultWindow, WindowKind};
use crate::metrics::{mean_rounded, nearest_rank, ok_latencies};
use crate::ops::OpRow;
use crate::rates::RateRow;
use crate::style::{
    self, BLUE, BROWN, DrawResult, Figure, GREEN, GREY, Mark, OLIVE, ORANGE, PINK, PURPLE, RED,
    TimeUnit, ValueMark, anchored, cross, dashes, draw_bars, draw_value_marks, font, header,
    headroom, mesh, no_data, number, time_unit, value_mark_legend,
};
use crate::timeline::TimelineRow;
use dsim_core::{MessageFate, MessageLog, MessageRecord, SimTime, Violation};
use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use std::path::Path;

pub use crate::style::register_fonts;

/// The charts of a run report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Chart {
    /// Cumulative distribution of `ok` latencies.
    LatencyCdf,
    /// Histogram of `ok` latencies.
    LatencyHistogram,
    /// Throughput and availability over virtual time, with fault windows.
    Timeline,
    /// Space-time diagram of the messages around the first violation or fault.
    Spacetime,
    /// MapReduce input, shuffle and output bytes per second (only when `rates.csv`
    /// has rows).
    Rates,
}

impl Chart {
    /// Every chart, in report order.
    pub const ALL: [Chart; 4] = [
        Chart::Timeline,
        Chart::LatencyCdf,
        Chart::LatencyHistogram,
        Chart::Spacetime,
    ];

    /// The charts of a run with `input`: [`Chart::ALL`], then [`Chart::Rates`] when
    /// the run has byte rates (a MapReduce run).
    pub fn for_run(input: &ChartInput<'_>) -> Vec<Chart> {
        let mut charts = Chart::ALL.to_vec();
        if !input.rates.is_empty() {
            charts.push(Chart::Rates);
        }
        charts
    }

    /// File stem: `latency_cdf`, `latency_histogram`, `timeline`, `spacetime`, `rates`.
    pub fn name(self) -> &'static str {
        match self {
            Chart::Rates => "rates",
            Chart::LatencyCdf => "latency_cdf",
            Chart::LatencyHistogram => "latency_histogram",
            Chart::Timeline => "timeline",
            Chart::Spacetime => "spacetime",
        }
    }

    /// One sentence saying how to read the chart, for the HTML report.
    pub fn caption(self) -> &'static str {
        match self {
            Chart::LatencyCdf => {
                "For each latency on the horizontal axis, the fraction of successful (ok) \
                 operations that completed at least that fast; vertical lines mark the \
                 mean, the median (p50) and the 99th percentile (nearest rank)."
            }
            Chart::LatencyHistogram => {
                "How many successful (ok) operations fell into each latency bin; failed \
                 and unfinished operations are not shown."
            }
            Chart::Timeline => {
                "Throughput (ok operations completed per second of virtual time, left \
                 axis) and availability (ok / completed per interval, right axis); shaded \
                 spans and the lanes below show when each fault was in effect."
            }
            Chart::Rates => {
                "Bytes per second moved by the MapReduce job over virtual time, as in \
                 rates.csv and Dean & Ghemawat's Figure 3: map tasks reading their input \
                 splits (top), reducers fetching intermediate data (middle), reducers \
                 writing their output, all replicas (bottom)."
            }
            Chart::Spacetime => {
                "A Lamport space-time diagram of 40 messages around the first violation \
                 (else the first fault, else the start of the run): one line per node, \
                 time to the right, an arrow from sender to receiver per delivered \
                 message, an X where a message was lost; bands show crashed, paused or \
                 isolated nodes and shaded spans network partitions."
            }
        }
    }

    /// Pixel size (width, height) of the chart.
    fn size(self, input: &ChartInput<'_>) -> (u32, u32) {
        match self {
            Chart::LatencyCdf | Chart::LatencyHistogram => (960, 600),
            Chart::Rates => (960, 900),
            Chart::Timeline => {
                let lanes = lane_labels(input.windows).len() as u32;
                (1100, 600 + 26 * lanes.min(LANES_MAX as u32))
            }
            Chart::Spacetime => {
                let rows = spacetime_rows(input).0.len() as u32;
                (1100, (250 + 34 * rows).clamp(460, 1100))
            }
        }
    }
}

/// What the charts of one run are drawn from.
#[derive(Clone, Copy, Debug)]
pub struct ChartInput<'a> {
    /// Scenario name, shown in every title.
    pub scenario: &'a str,
    /// The rows of `ops.csv`.
    pub ops: &'a [OpRow],
    /// The rows of `timeline.csv`.
    pub timeline: &'a [TimelineRow],
    /// The run's fault windows.
    pub windows: &'a [FaultWindow],
    /// The run's message log (in send order).
    pub messages: &'a MessageLog,
    /// The checker's violations: the space-time chart shows the first one.
    pub violations: &'a [Violation],
    /// How many nodes took part.
    pub node_count: usize,
    /// Virtual time at the end of the run.
    pub span: SimTime,
    /// The rows of `rates.csv` (empty for runs without byte rates).
    pub rates: &'a [RateRow],
}

/// One chart of a run with its input: what [`style`] draws to SVG and PNG.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RunFigure<'a> {
    /// Which chart.
    pub chart: Chart,
    /// What it is drawn from.
    pub input: &'a ChartInput<'a>,
}

impl Figure for RunFigure<'_> {
    fn size(&self) -> (u32, u32) {
        self.chart.size(self.input)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        match self.chart {
            Chart::LatencyCdf => draw_latency_cdf(root, self.input),
            Chart::LatencyHistogram => draw_latency_histogram(root, self.input),
            Chart::Timeline => draw_timeline(root, self.input),
            Chart::Spacetime => draw_spacetime(root, self.input),
            Chart::Rates => draw_rates(root, self.input),
        }
    }
}

/// Draws `chart` as an SVG document.
pub fn render_svg(chart: Chart, input: &ChartInput<'_>) -> Result<String, String> {
    style::render_svg(&RunFigure { chart, input })
}

/// Draws `chart` as a PNG file at `path`, atomically (temporary name, then rename).
pub fn write_png(chart: Chart, input: &ChartInput<'_>, path: &Path) -> Result<(), ReportError> {
    style::write_png(&RunFigure { chart, input }, path)
}

/// The colour of a fault kind, in legends, shaded spans and lanes.
fn kind_color(kind: WindowKind) -> RGBColor {
    match kind {
        WindowKind::Crash => RED,
        WindowKind::Pause => ORANGE,
        WindowKind::Partition => PURPLE,
        WindowKind::Cut => BROWN,
        WindowKind::Isolate => PINK,
        WindowKind::Degrade => OLIVE,
    }
}

// ---------------------------------------------------------------------------------------
// MapReduce byte rates

/// Where the rates chart's time axis ends, in ns: the end of the last bin in which any
/// flow moved bytes plus a margin (a tenth of that, at least one bin), within the
/// table's span; the whole span when nothing moved. A job that ends long before the
/// scenario's `duration` would otherwise be squeezed into the left of the chart.
fn rates_axis_end_ns(rates: &[RateRow], width_ns: u64) -> u64 {
    let span = rates
        .last()
        .map_or(width_ns, |r| r.bin_start_ns.saturating_add(width_ns));
    let Some(active) = rates
        .iter()
        .rev()
        .find(|r| r.bytes_per_s.iter().any(|&rate| rate > 0.0))
    else {
        return span;
    };
    let end = active.bin_start_ns.saturating_add(width_ns);
    end.saturating_add((end / 10).max(width_ns)).min(span)
}

/// Three stacked panels sharing one time axis, up to a margin past the last bytes
/// moved: input, shuffle and output in MB/s.
fn draw_rates<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    input: &ChartInput<'_>,
) -> DrawResult<DB> {
    let title = format!("{}: data transfer rates over time", input.scenario);
    if input.rates.is_empty() {
        return no_data(root, &title, "The run observed no MapReduce transfer.");
    }
    let width_ns = input.rates.get(1).map_or(1, |r| r.bin_start_ns).max(1);
    let end_ns = rates_axis_end_ns(input.rates, width_ns);
    let end_s = end_ns as f64 / 1e9;
    let shown: Vec<&RateRow> = input
        .rates
        .iter()
        .filter(|r| r.bin_start_ns < end_ns)
        .collect();
    let subtitle = format!(
        "bytes per second in bins of {} (MB = 10^6 bytes)",
        style::human_ns(width_ns as f64)
    );
    let area = header(root, &title, Some(&subtitle), &[])?;
    let panels = area.split_evenly((3, 1));
    let names = ["Input (MB/s)", "Shuffle (MB/s)", "Output (MB/s)"];
    let colors = [BLUE, ORANGE, GREEN];
    for (flow, panel) in panels.iter().enumerate() {
        let peak = shown
            .iter()
            .map(|r| r.bytes_per_s[flow] / 1e6)
            .fold(0.0, f64::max);
        let mut chart = ChartBuilder::on(panel)
            .margin(14)
            .margin_top(4)
            .x_label_area_size(if flow == 2 { 44 } else { 24 })
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..end_s, 0.0..headroom(peak.max(1.0)))?;
        let x_desc = if flow == 2 {
            "seconds of virtual time"
        } else {
            ""
        };
        mesh!(chart)
            .y_desc(names[flow])
            .x_desc(x_desc)
            .x_label_formatter(&|v| number(*v))
            .y_label_formatter(&|v| number(*v))
            .draw()?;
        // Steps: each bin's rate held over the bin.
        let mut points = Vec::with_capacity(shown.len() * 2);
        for row in &shown {
            let (from, to) = (
                row.bin_start_ns as f64 / 1e9,
                (row.bin_start_ns + width_ns) as f64 / 1e9,
            );
            let rate = row.bytes_per_s[flow] / 1e6;
            points.push((from, rate));
            points.push((to, rate));
        }
        // Filled bins (ordered rectangles), then the step outline.
        chart.draw_series(shown.iter().map(|row| {
            let from = row.bin_start_ns as f64 / 1e9;
            let to = (row.bin_start_ns + width_ns) as f64 / 1e9;
            Rectangle::new(
                [(from, 0.0), (to, row.bytes_per_s[flow] / 1e6)],
                colors[flow].mix(0.35).filled(),
            )
        }))?;
        chart.draw_series(LineSeries::new(points, colors[flow].stroke_width(2)))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Latency charts

/// Mean, p50 and p99 of sorted latencies, as vertical marks: (legend, value, colour).
fn latency_marks(sorted: &[u64], unit: TimeUnit) -> Vec<ValueMark> {
    let mut marks = Vec::new();
    let named = [
        ("mean", mean_rounded(sorted), GREY),
        ("median (p50)", nearest_rank(sorted, 50), GREEN),
        ("p99", nearest_rank(sorted, 99), RED),
    ];
    for (name, value, color) in named {
        if let Some(ns) = value {
            let value = unit.of(ns as f64);
            marks.push((
                format!("{name} = {} {}", number(value), unit.name),
                value,
                color,
            ));
        }
    }
    marks
}

fn sorted_ok_latencies(ops: &[OpRow]) -> Vec<u64> {
    let mut latencies = ok_latencies(ops);
    latencies.sort_unstable();
    latencies
}

/// "n ok; f failed and u unfinished (not shown)".
fn population(ops: &[OpRow], ok: usize) -> String {
    let failed = ops.iter().filter(|op| op.is_failed()).count();
    let unfinished = ops.iter().filter(|op| op.outcome.is_none()).count();
    format!("{ok} ok operations; {failed} failed and {unfinished} unfinished are not shown")
}

/// At most this many steps are drawn in the CDF (evenly spaced ranks), so the SVG stays
/// small for runs with many operations.
const CDF_POINTS_MAX: usize = 2_000;

fn draw_latency_cdf<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    input: &ChartInput<'_>,
) -> DrawResult<DB> {
    let sorted = sorted_ok_latencies(input.ops);
    let n = sorted.len();
    let title = format!("{}: latency CDF of ok operations", input.scenario);
    let (Some(&first), Some(&last)) = (sorted.first(), sorted.last()) else {
        return no_data(
            root,
            &title,
            "No operation completed ok, so there is no latency to plot.",
        );
    };
    let unit = time_unit(last as f64);
    let marks = latency_marks(&sorted, unit);
    let mut legend = vec![("cumulative fraction".to_string(), Mark::Line(BLUE, 2))];
    legend.extend(value_mark_legend(&marks));
    let log_axis = cdf_needs_log_axis(first, last);
    let mut subtitle = population(input.ops, n);
    if log_axis {
        subtitle.push_str("; latencies span over two decades: logarithmic axis");
    }
    let area = header(root, &title, Some(&subtitle), &legend)?;
    let builder = |area| {
        let mut builder = ChartBuilder::on(area);
        builder
            .margin(18)
            .margin_top(6)
            .x_label_area_size(52)
            .y_label_area_size(72);
        builder
    };
    let x_desc = format!(
        "latency ({}{})",
        unit.name,
        if log_axis { ", logarithmic" } else { "" }
    );
    if log_axis {
        // From a little below the fastest to a little above the slowest, so neither
        // sits on the frame.
        let low = unit.of(first.max(1) as f64) / 1.25;
        let high = unit.of(last as f64) * 1.25;
        let mut chart = builder(&area).build_cartesian_2d((low..high).log_scale(), 0.0..1.02)?;
        finish_cdf(&mut chart, &sorted, unit, &marks, &x_desc, low)
    } else {
        let mut chart =
            builder(&area).build_cartesian_2d(0.0..headroom(unit.of(last as f64)), 0.0..1.02)?;
        finish_cdf(&mut chart, &sorted, unit, &marks, &x_desc, 0.0)
    }
}

/// True when the ok latencies span more than two decades (the slowest over 100 times
/// the fastest, counting a zero latency as 1 ns): a linear axis would squeeze most of
/// the curve against its left edge.
fn cdf_needs_log_axis(fastest_ns: u64, slowest_ns: u64) -> bool {
    slowest_ns > fastest_ns.max(1).saturating_mul(100)
}

/// The CDF's mesh, marks and steps on a linear or logarithmic latency axis; values
/// below `x_floor` are drawn at it (a zero latency on a logarithmic axis).
fn finish_cdf<DB: DrawingBackend, X>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, RangedCoordf64>>,
    sorted: &[u64],
    unit: TimeUnit,
    marks: &[ValueMark],
    x_desc: &str,
    x_floor: f64,
) -> DrawResult<DB>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    mesh!(chart)
        .x_desc(x_desc)
        .y_desc("fraction of ok operations at or below x")
        .x_label_formatter(&|v| number(*v))
        .y_label_formatter(&|v| number(*v))
        .draw()?;
    draw_value_marks(chart, marks, 1.02)?;
    let n = sorted.len();
    let x = |ns: u64| unit.of(ns as f64).max(x_floor);
    let mut points = vec![(x(sorted[0]), 0.0)];
    let steps = n.min(CDF_POINTS_MAX);
    let mut previous = 0.0;
    for step in 0..steps {
        // Evenly spaced ranks, always ending with the largest latency.
        let index = if steps == n {
            step
        } else {
            (step + 1) * n / steps - 1
        };
        let value = x(sorted[index]);
        let fraction = (index + 1) as f64 / n as f64;
        points.push((value, previous));
        points.push((value, fraction));
        previous = fraction;
    }
    chart.draw_series(LineSeries::new(points, BLUE.stroke_width(2)))?;
    Ok(())
}

/// A bin width of 1, 2 or 5 times a power of ten nanoseconds, giving at most
/// `bins_max` bins over `range_ns`.
fn bin_width_ns(range_ns: u64, bins_max: u64) -> u64 {
    let raw = range_ns.div_ceil(bins_max).max(1);
    let mut power: u64 = 1;
    loop {
        for factor in [1, 2, 5] {
            let width = power.saturating_mul(factor);
            if width >= raw {
                return width;
            }
        }
        power = power.saturating_mul(10);
    }
}

const HISTOGRAM_BINS_MAX: u64 = 40;

fn draw_latency_histogram<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    input: &ChartInput<'_>,
) -> DrawResult<DB> {
    let sorted = sorted_ok_latencies(input.ops);
    let title = format!("{}: latency histogram of ok operations", input.scenario);
    let (Some(&first), Some(&last)) = (sorted.first(), sorted.last()) else {
        return no_data(
            root,
            &title,
            "No operation completed ok, so there is no latency to plot.",
        );
    };
    let width = bin_width_ns(last - first, HISTOGRAM_BINS_MAX);
    let origin = first / width * width;
    let bins = (last - origin) / width + 1;
    let mut counts = vec![0u64; bins as usize];
    for &latency in &sorted {
        counts[((latency - origin) / width) as usize] += 1;
    }
    let count_max = counts.iter().copied().max().unwrap_or(0);
    let end = origin + width * bins;
    let unit = time_unit(end as f64);
    let (x_min, x_max) = (unit.of(origin as f64), unit.of(end as f64));
    let pad = (x_max - x_min) * 0.02;
    let marks = latency_marks(&sorted, unit);
    let mut legend = vec![(
        "ok operations in the bin".to_string(),
        Mark::Area(BLUE, 0.75),
    )];
    legend.extend(value_mark_legend(&marks));
    let area = header(
        root,
        &title,
        Some(&population(input.ops, sorted.len())),
        &legend,
    )?;
    let y_max = headroom(count_max as f64);
    let mut chart = ChartBuilder::on(&area)
        .margin(18)
        .margin_top(6)
        .x_label_area_size(52)
        .y_label_area_size(72)
        .build_cartesian_2d((x_min - pad).max(0.0)..x_max + pad, 0.0..y_max)?;
    mesh!(chart)
        .x_desc(format!(
            "latency ({}), bins of {} {}",
            unit.name,
            number(unit.of(width as f64)),
            unit.name
        ))
        .y_desc("ok operations per bin")
        .x_label_formatter(&|v| number(*v))
        .y_label_formatter(&|v| number(*v))
        .draw()?;
    // Ordered rectangles, with thin white edges to keep neighbouring bars apart.
    let bars: Vec<[(f64, f64); 2]> = counts
        .iter()
        .enumerate()
        .filter(|(_, count)| **count > 0)
        .map(|(index, count)| {
            let index = index as u64;
            [
                (unit.of((origin + width * index) as f64), 0.0),
                (
                    unit.of((origin + width * (index + 1)) as f64),
                    *count as f64,
                ),
            ]
        })
        .collect();
    draw_bars(&mut chart, &bars, BLUE)?;
    draw_value_marks(&mut chart, &marks, y_max)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Timeline

/// Distinct window labels in order of first appearance, with their kind: one lane each.
fn lane_labels(windows: &[FaultWindow]) -> Vec<(String, WindowKind)> {
    let mut lanes: Vec<(String, WindowKind)> = Vec::new();
    for window in windows {
        if !lanes.iter().any(|(label, _)| *label == window.label) {
            lanes.push((window.label.clone(), window.kind));
        }
    }
    lanes
}

const LANES_MAX: usize = 12;

/// Legend entries for the fault kinds present in `windows`.
fn fault_legend(windows: &[FaultWindow]) -> Vec<(String, Mark)> {
    WindowKind::ALL
        .iter()
        .filter(|kind| windows.iter().any(|window| window.kind == **kind))
        .map(|kind| (kind.word().to_string(), Mark::Area(kind_color(*kind), 0.35)))
        .collect()
}

fn draw_timeline<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    input: &ChartInput<'_>,
) -> DrawResult<DB> {
    let span_ns = input.span.as_nanos();
    let unit = time_unit(span_ns as f64);
    let x_max = unit.of(span_ns as f64).max(f64::MIN_POSITIVE);
    let all_lanes = lane_labels(input.windows);
    let lanes = &all_lanes[..all_lanes.len().min(LANES_MAX)];
    let title = format!(
        "{}: throughput and availability over virtual time",
        input.scenario
    );
    let completed: u64 = input.timeline.iter().map(|row| row.ops_completed).sum();
    if completed == 0 && input.windows.is_empty() {
        return no_data(
            root,
            &title,
            "No operation completed during the run, and no fault was injected.",
        );
    }
    let interval = input
        .timeline
        .first()
        .map(|row| row.end.saturating_since(row.start))
        .unwrap_or_default();
    let subtitle = format!(
        "per interval of {interval}; {}",
        if input.windows.is_empty() {
            "no faults injected"
        } else {
            "shaded spans and the lanes below show the faults"
        }
    );
    let mut legend = vec![
        (
            "throughput (ok operations / s, left axis)".to_string(),
            Mark::Line(BLUE, 2),
        ),
        (
            "availability (ok / completed, right axis)".to_string(),
            Mark::Line(GREEN, 2),
        ),
    ];
    legend.extend(fault_legend(input.windows));
    let area = header(root, &title, Some(&subtitle), &legend)?;
    let (_, height) = area.dim_in_pixel();
    let lanes_height = if lanes.is_empty() {
        0
    } else {
        64 + 26 * lanes.len() as u32
    };
    let (upper, lower) = area.split_vertically(height.saturating_sub(lanes_height));

    let throughput_max = input
        .timeline
        .iter()
        .map(TimelineRow::throughput_ops_per_s)
        .fold(0.0, f64::max);
    let y_max = headroom(throughput_max);
    let x_desc = format!("virtual time ({})", unit.name);
    let mut chart = ChartBuilder::on(&upper)
        .margin(16)
        .margin_top(6)
        .margin_bottom(if lanes.is_empty() { 16 } else { 4 })
        .x_label_area_size(if lanes.is_empty() { 52 } else { 28 })
        .y_label_area_size(78)
        .right_y_label_area_size(78)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?
        .set_secondary_coord(0.0..x_max, 0.0..1.05);
    mesh!(chart)
        .x_desc(if lanes.is_empty() {
            x_desc.clone()
        } else {
            String::new()
        })
        .y_desc("throughput (ok operations / s)")
        .x_label_formatter(&|v| number(*v))
        .y_label_formatter(&|v| number(*v))
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc("availability (ok / completed)")
        .y_label_formatter(&|v| number(*v))
        .label_style(font(13))
        .axis_desc_style(font(15))
        .draw()?;

    // Fault windows, shaded behind the series.
    for window in input.windows {
        let color = kind_color(window.kind);
        let start = unit.of(window.start.as_nanos() as f64);
        let end = unit.of(window.end.as_nanos() as f64);
        if window.end > window.start {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(start, 0.0), (end, y_max)],
                color.mix(0.13).filled(),
            )))?;
        } else {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(start, 0.0), (start, y_max)],
                color.mix(0.6).stroke_width(2),
            )))?;
        }
    }

    let mut steps = Vec::with_capacity(input.timeline.len() * 2);
    for row in input.timeline {
        let throughput = row.throughput_ops_per_s();
        steps.push((unit.of(row.start.as_nanos() as f64), throughput));
        steps.push((unit.of(row.end.as_nanos() as f64), throughput));
    }
    chart.draw_series(LineSeries::new(steps, BLUE.stroke_width(2)))?;

    // Availability: one line per run of intervals that had completions (none: unknown).
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    for row in input.timeline {
        match row.availability_ratio() {
            Some(ratio) => {
                let middle = (row.start.as_nanos() + row.end.as_nanos()) / 2;
                current.push((unit.of(middle as f64), ratio));
            }
            None if !current.is_empty() => runs.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    for run in &runs {
        chart.draw_secondary_series(LineSeries::new(run.clone(), GREEN.stroke_width(2)))?;
        chart.draw_secondary_series(
            run.iter()
                .map(|&point| Circle::new(point, 2, GREEN.filled())),
        )?;
    }

    if lanes.is_empty() {
        return Ok(());
    }
    let lane_count = lanes.len() as f64;
    let mut lower_chart = ChartBuilder::on(&lower)
        .margin_left(16)
        .margin_right(16)
        .margin_bottom(12)
        .x_label_area_size(52)
        .y_label_area_size(78)
        .right_y_label_area_size(78)
        .build_cartesian_2d(0.0..x_max, 0.0..lane_count)?;
    mesh!(lower_chart)
        .disable_y_mesh()
        .y_labels(1)
        .y_label_formatter(&|_| String::new())
        .x_desc(x_desc)
        .x_label_formatter(&|v| number(*v))
        .draw()?;
    let lane_of = |label: &str| lanes.iter().position(|(name, _)| name == label);
    for window in input.windows {
        let Some(lane) = lane_of(&window.label) else {
            continue;
        };
        let color = kind_color(window.kind);
        let top = lane_count - lane as f64 - 0.2;
        let bottom = lane_count - lane as f64 - 0.8;
        let start = unit.of(window.start.as_nanos() as f64);
        // Zero-length windows still get a visible sliver.
        let end = unit
            .of(window.end.as_nanos() as f64)
            .max(start + x_max / 400.0);
        lower_chart.draw_series(std::iter::once(Rectangle::new(
            [(start, bottom), (end, top)],
            color.mix(0.75).filled(),
        )))?;
    }
    // Lane names, right-aligned against the lane axis, in pixels on the whole canvas.
    for (lane, (label, kind)) in lanes.iter().enumerate() {
        let (x, y) = lower_chart.backend_coord(&(0.0, lane_count - lane as f64 - 0.5));
        root.draw(&Text::new(
            label.clone(),
            (x - 8, y),
            anchored(13, kind_color(*kind), HPos::Right, VPos::Center),
        ))?;
    }
    let (x, y) = lower_chart.backend_coord(&(0.0, lane_count));
    root.draw(&Text::new(
        if all_lanes.len() > lanes.len() {
            format!(
                "fault windows (first {} of {})",
                lanes.len(),
                all_lanes.len()
            )
        } else {
            "fault windows".to_string()
        },
        (x, y - 4),
        anchored(13, GREY, HPos::Left, VPos::Bottom),
    ))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Space-time diagram

/// At most this many messages are drawn.
const SPACETIME_MESSAGES_MAX: usize = 40;
/// At most this many node lines are drawn.
const SPACETIME_ROWS_MAX: usize = 24;

/// Which messages the space-time chart draws, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpacetimeWindow {
    /// Indexes into the message log, in send order.
    pub messages: Vec<usize>,
    /// What the window is centred on, for the title: `the first violation (agreement at
    /// 1.2s)`, `the first fault (crash n2 at 3s)` or `the start of the run`.
    pub anchor: String,
    /// The anchor's time, if it is a violation (drawn as a vertical line).
    pub violation_at: Option<SimTime>,
}

/// The messages the space-time chart draws: `SPACETIME_MESSAGES_MAX` consecutive
/// messages of the log, half sent before the first violation and half from it on; else
/// around the first fault window's start; else the first ones of the run.
pub fn spacetime_window(input: &ChartInput<'_>) -> SpacetimeWindow {
    let first_violation = input.violations.iter().min_by_key(|v| v.time);
    let first_fault = input.windows.iter().min_by_key(|w| w.start);
    let (at, anchor, violation_at) = match (first_violation, first_fault) {
        (Some(violation), _) => (
            violation.time,
            format!(
                "the first violation ({} at {})",
                violation.check, violation.time
            ),
            Some(violation.time),
        ),
        (None, Some(window)) => (
            window.start,
            format!("the first fault ({} at {})", window.label, window.start),
            None,
        ),
        (None, None) => (SimTime::ZERO, "the start of the run".to_string(), None),
    };
    let count = input.messages.len();
    let centre = input
        .messages
        .partition_point(|message| message.sent_at < at);
    let low = centre
        .saturating_sub(SPACETIME_MESSAGES_MAX / 2)
        .min(count.saturating_sub(SPACETIME_MESSAGES_MAX));
    let high = (low + SPACETIME_MESSAGES_MAX).min(count);
    SpacetimeWindow {
        messages: (low..high).collect(),
        anchor,
        violation_at,
    }
}

/// The node lines (node ids, top to bottom) and the messages drawn between them.
fn spacetime_rows<'a>(input: &ChartInput<'a>) -> (Vec<u32>, Vec<&'a MessageRecord>) {
    let window = spacetime_window(input);
    let chosen: Vec<&MessageRecord> = window
        .messages
        .iter()
        .map(|&index| &input.messages[index])
        .collect();
    if input.node_count <= SPACETIME_ROWS_MAX {
        return ((0..input.node_count as u32).collect(), chosen);
    }
    // Many nodes: show those the chosen messages involve, in id order.
    let mut rows: Vec<u32> = Vec::new();
    for message in &chosen {
        for node in [message.source.0, message.target.0] {
            if !rows.contains(&node) && rows.len() < SPACETIME_ROWS_MAX {
                rows.push(node);
            }
        }
    }
    rows.sort_unstable();
    let shown = chosen
        .into_iter()
        .filter(|message| rows.contains(&message.source.0) && rows.contains(&message.target.0))
        .collect();
    (rows, shown)
}

/// The message's name: its `Debug` text up to the first space, brace or parenthesis.
fn short_label(label: &str) -> &str {
    let end = label.find([' ', '{', '(']).unwrap_or(label.len());
    &label[..end]
}

fn message_end(message: &MessageRecord) -> Option<SimTime> {
    match message.fate {
        MessageFate::Delivered(at) | MessageFate::Dropped(at, _) => Some(at),
        MessageFate::InFlight => None,
    }
}

fn draw_spacetime<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    input: &ChartInput<'_>,
) -> DrawResult<DB> {
    let (rows, messages) = spacetime_rows(input);
    let window = spacetime_window(input);
    let title = format!(
        "{}: space-time diagram of {} messages around {}",
        input.scenario,
        messages.len(),
        window.anchor
    );
    if messages.is_empty() {
        return no_data(
            root,
            &title,
            "No message was logged (nodes sent none, or the run kept no message log).",
        );
    }
    let last_ns = messages
        .iter()
        .map(|message| {
            message_end(message)
                .unwrap_or(message.sent_at)
                .max(message.sent_at)
        })
        .max()
        .unwrap_or(SimTime::ZERO)
        .as_nanos();
    let any_in_flight = messages
        .iter()
        .any(|message| message_end(message).is_none());
    let any_dropped = messages
        .iter()
        .any(|message| matches!(message.fate, MessageFate::Dropped(..)));
    let first_ns = messages
        .iter()
        .map(|message| message.sent_at)
        .min()
        .unwrap_or(SimTime::ZERO)
        .as_nanos();
    let last_ns = last_ns.max(first_ns + 1);
    let last_ns = if any_in_flight {
        last_ns + (last_ns - first_ns) / 10 + 1
    } else {
        last_ns
    };
    // The unit suits the window's width; tick labels stay absolute times.
    let unit = time_unit((last_ns - first_ns) as f64);
    let x_min = unit.of(first_ns as f64);
    let x_max = x_min + headroom(unit.of((last_ns - first_ns) as f64));
    let shown_windows: Vec<&FaultWindow> = input
        .windows
        .iter()
        .filter(|window| window.overlaps(SimTime(first_ns), SimTime(last_ns + 1)))
        .collect();
    let violation_x = window
        .violation_at
        .map(|at| unit.of(at.as_nanos() as f64))
        .filter(|&x| x >= x_min && x <= x_max);

    let mut legend = vec![(
        "message delivered (sender → receiver)".to_string(),
        Mark::Line(BLUE, 2),
    )];
    if any_dropped {
        legend.push(("message lost (X)".to_string(), Mark::Cross(RED)));
    }
    if any_in_flight {
        legend.push((
            "still in flight at the end".to_string(),
            Mark::Dashed(GREY, 1),
        ));
    }
    for kind in WindowKind::ALL {
        if shown_windows.iter().any(|window| window.kind == kind) {
            legend.push((kind.word().to_string(), Mark::Area(kind_color(kind), 0.35)));
        }
    }
    if violation_x.is_some() {
        legend.push(("first violation".to_string(), Mark::Line(PINK, 2)));
    }
    let subtitle = if input.messages.len() > messages.len() {
        format!(
            "time flows to the right; {} messages were logged in all (report.html's explorer shows them)",
            input.messages.len()
        )
    } else {
        "time flows to the right; one line per node".to_string()
    };
    let area = header(root, &title, Some(&subtitle), &legend)?;

    let row_count = rows.len();
    let row_y = |node: u32| -> f64 {
        let index = rows.iter().position(|&row| row == node).unwrap_or(0);
        (row_count - 1 - index) as f64
    };
    let y_top = row_count as f64 - 0.4;
    let mut chart = ChartBuilder::on(&area)
        .margin(18)
        .margin_top(6)
        .margin_right(28)
        .x_label_area_size(52)
        .y_label_area_size(70)
        .build_cartesian_2d(x_min..x_max, -0.6..y_top)?;
    mesh!(chart)
        .disable_y_mesh()
        .y_labels(1)
        .y_label_formatter(&|_| String::new())
        .y_desc("node")
        .x_desc(format!("virtual time ({})", unit.name))
        .x_label_formatter(&|v| number(*v))
        .draw()?;

    // Fault windows that overlap the drawn span.
    let span_end = SimTime(last_ns);
    for window in shown_windows {
        let color = kind_color(window.kind);
        let start = unit.of(window.start.as_nanos() as f64).max(x_min);
        let end = unit
            .of(window.end.min(span_end).as_nanos() as f64)
            .max(start + (x_max - x_min) / 300.0);
        match window.kind {
            WindowKind::Crash | WindowKind::Pause | WindowKind::Isolate => {
                let Some(&node) = window.nodes.first() else {
                    continue;
                };
                if !rows.contains(&node.0) {
                    continue;
                }
                let y = row_y(node.0);
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(start, y - 0.22), (end, y + 0.22)],
                    color.mix(0.3).filled(),
                )))?;
                let (px, py) = chart.backend_coord(&(start, y + 0.22));
                let word = match window.kind {
                    WindowKind::Crash => "down",
                    WindowKind::Pause => "paused",
                    _ => "isolated",
                };
                root.draw(&Text::new(
                    word,
                    (px + 3, py + 1),
                    anchored(11, color, HPos::Left, VPos::Top),
                ))?;
            }
            WindowKind::Partition | WindowKind::Cut | WindowKind::Degrade => {
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(start, -0.6), (end, y_top)],
                    color.mix(0.12).filled(),
                )))?;
                let (px, py) = chart.backend_coord(&(start, y_top));
                root.draw(&Text::new(
                    window.details.clone(),
                    (px + 3, py + 2),
                    anchored(12, color, HPos::Left, VPos::Top),
                ))?;
            }
        }
    }

    // Node lines and their names.
    for &node in &rows {
        let y = row_y(node);
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(x_min, y), (x_max, y)],
            RGBColor(60, 60, 60).stroke_width(1),
        )))?;
        let (px, py) = chart.backend_coord(&(x_min, y));
        root.draw(&Text::new(
            format!("n{node}"),
            (px - 8, py),
            anchored(14, BLACK, HPos::Right, VPos::Center),
        ))?;
    }

    for message in &messages {
        let source = (
            unit.of(message.sent_at.as_nanos() as f64),
            row_y(message.source.0),
        );
        let target_y = row_y(message.target.0);
        let from = chart.backend_coord(&source);
        match message.fate {
            MessageFate::Delivered(at) => {
                let to = chart.backend_coord(&(unit.of(at.as_nanos() as f64), target_y));
                root.draw(&PathElement::new(vec![from, to], BLUE.stroke_width(1)))?;
                root.draw(&arrow_head(from, to, BLUE))?;
                // The message's name beside the start of its arrow.
                let along = |a: i32, b: i32| a + (b - a) / 4;
                root.draw(&Text::new(
                    short_label(input.messages.label(message)).to_string(),
                    (along(from.0, to.0) + 3, along(from.1, to.1)),
                    anchored(10, RGBColor(20, 70, 120), HPos::Left, VPos::Center),
                ))?;
            }
            MessageFate::Dropped(at, _) => {
                // Lost: a dashed line half way towards the target, ending in an X.
                let to = chart
                    .backend_coord(&(unit.of(at.as_nanos() as f64), (source.1 + target_y) / 2.0));
                for segment in dashes(from, to) {
                    root.draw(&PathElement::new(segment, RED.stroke_width(1)))?;
                }
                root.draw(&cross(to, RED))?;
            }
            MessageFate::InFlight => {
                let to = chart.backend_coord(&(x_max, (source.1 + target_y) / 2.0));
                for segment in dashes(from, to) {
                    root.draw(&PathElement::new(segment, GREY.stroke_width(1)))?;
                }
            }
        }
    }
    if let Some(x) = violation_x {
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(x, -0.6), (x, y_top)],
            PINK.stroke_width(2),
        )))?;
        let (px, py) = chart.backend_coord(&(x, -0.6));
        root.draw(&Text::new(
            "violation",
            (px + 4, py - 4),
            anchored(12, PINK, HPos::Left, VPos::Bottom),
        ))?;
    }
    Ok(())
}

/// A filled triangle at `to`, pointing along `from -> to`, in pixels.
fn arrow_head(from: (i32, i32), to: (i32, i32), color: RGBColor) -> Polygon<(i32, i32)> {
    let (dx, dy) = (f64::from(to.0 - from.0), f64::from(to.1 - from.1));
    let length = (dx * dx + dy * dy).sqrt().max(1.0);
    let (ux, uy) = (dx / length, dy / length);
    let (back, half) = (9.0, 3.5);
    let base = (f64::from(to.0) - ux * back, f64::from(to.1) - uy * back);
    let left = (
        (base.0 - uy * half).round() as i32,
        (base.1 + ux * half).round() as i32,
    );
    let right = (
        (base.0 + uy * half).round() as i32,
        (base.1 - ux * half).round() as i32,
    );
    Polygon::new(vec![to, left, right], color.filled())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bin_widths_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(bin_width_ns(4_000_000, 40), 100_000); // exactly 40 bins of 0.1 ms
        assert_eq!(bin_width_ns(4_000_001, 40), 200_000);
        assert_eq!(bin_width_ns(13_000, 40), 500);
        assert_eq!(bin_width_ns(0, 40), 1);
        assert_eq!(bin_width_ns(u64::MAX, 40), 500_000_000_000_000_000);
    }

    #[test]
    fn cdf_axis_turns_logarithmic_past_two_decades() {
        // 100x is exactly two decades: still linear; one more nanosecond is past them.
        assert!(!cdf_needs_log_axis(1_000, 100_000));
        assert!(cdf_needs_log_axis(1_000, 100_001));
        // A zero latency counts as 1 ns instead of making every span infinite.
        assert!(!cdf_needs_log_axis(0, 100));
        assert!(cdf_needs_log_axis(0, 101));
    }

    fn spacetime_input<'a>(
        messages: &'a MessageLog,
        windows: &'a [FaultWindow],
        violations: &'a [Violation],
    ) -> ChartInput<'a> {
        ChartInput {
            scenario: "s",
            ops: &[],
            timeline: &[],
            windows,
            messages,
            violations,
            node_count: 2,
            span: SimTime(1_000_000_000),
            rates: &[],
        }
    }

    #[test]
    fn rates_chart_draws_three_labelled_panels_only_for_runs_with_rates() {
        let rows: Vec<RateRow> = (0..50)
            .map(|bin| RateRow {
                bin_start_ns: bin * 1_000_000_000,
                bytes_per_s: [1e9 * (bin % 7) as f64, 5e8, 2e8 * (bin / 10) as f64],
            })
            .collect();
        let no_messages = MessageLog::new();
        let mut input = spacetime_input(&no_messages, &[], &[]);
        assert_eq!(
            Chart::for_run(&input),
            Chart::ALL.to_vec(),
            "no rates, no chart"
        );
        input.rates = &rows;
        assert_eq!(Chart::for_run(&input).last(), Some(&Chart::Rates));
        let svg = render_svg(Chart::Rates, &input).expect("renders");
        // One panel per flow, as in the paper's Figure 3; the same input gives the same
        // bytes (the report's determinism).
        for label in ["Input (MB/s)", "Shuffle (MB/s)", "Output (MB/s)"] {
            assert!(svg.contains(label), "{label} missing");
        }
        assert_eq!(render_svg(Chart::Rates, &input).expect("renders"), svg);
    }

    #[test]
    fn rates_axis_ends_a_margin_past_the_last_bytes_moved_not_at_the_runs_duration() {
        // 20 s bins over a 3,000 s run whose job moved its last bytes in the bin at
        // 880 s (ending at 900 s): the axis ends at 990 s (900 s plus a tenth), not
        // 3,000 s, where the job would fill the left third of the chart. A short job
        // gets at least one bin of margin; one that ran to the end keeps the span, and
        // a table with no bytes at all keeps it too.
        let width = 20_000_000_000;
        let row = |bin: u64, rate: f64| RateRow {
            bin_start_ns: bin * width,
            bytes_per_s: [0.0, rate, 0.0],
        };
        let rows: Vec<RateRow> = (0..150)
            .map(|bin| row(bin, if bin <= 44 { 1e6 } else { 0.0 }))
            .collect();
        assert_eq!(rates_axis_end_ns(&rows, width), 990_000_000_000);
        let short: Vec<RateRow> = (0..150)
            .map(|bin| row(bin, if bin == 0 { 1e6 } else { 0.0 }))
            .collect();
        assert_eq!(rates_axis_end_ns(&short, width), 2 * width);
        let full: Vec<RateRow> = (0..150).map(|bin| row(bin, 1e6)).collect();
        assert_eq!(rates_axis_end_ns(&full, width), 150 * width);
        let idle: Vec<RateRow> = (0..150).map(|bin| row(bin, 0.0)).collect();
        assert_eq!(rates_axis_end_ns(&idle, width), 150 * width);
    }

    #[test]
    fn spacetime_window_centres_on_the_violation_else_the_fault_else_the_start() {
        use dsim_core::NodeId;
        let mut messages = dsim_core::MessageLog::new();
        for i in 0..100 {
            let record = messages.push(NodeId(0), NodeId(1), SimTime(i * 1_000_000), "Ping");
            messages.set_fate(
                record,
                MessageFate::Delivered(SimTime(i * 1_000_000 + 500_000)),
            );
        }
        let windows = crate::faults::fault_windows(
            &[dsim_core::FaultRecord {
                time: SimTime(30_000_000),
                fault: dsim_core::Fault::Crash(NodeId(1)),
            }],
            SimTime(1_000_000_000),
        );
        let violations = [Violation {
            time: SimTime(70_000_000),
            check: "agreement",
            nodes: vec![NodeId(0)],
            details: String::new(),
            ops: Vec::new(),
            figure: None,
        }];
        // Violation at 70 ms: messages 50..90, twenty on each side.
        let window = spacetime_window(&spacetime_input(&messages, &windows, &violations));
        assert_eq!(window.messages, (50..90).collect::<Vec<_>>());
        assert_eq!(window.anchor, "the first violation (agreement at 70ms)");
        assert_eq!(window.violation_at, Some(SimTime(70_000_000)));
        // No violation: the crash at 30 ms.
        let window = spacetime_window(&spacetime_input(&messages, &windows, &[]));
        assert_eq!(window.messages, (10..50).collect::<Vec<_>>());
        assert_eq!(window.anchor, "the first fault (crash n1 at 30ms)");
        // Neither: the first 40 messages, as before.
        let window = spacetime_window(&spacetime_input(&messages, &[], &[]));
        assert_eq!(window.messages, (0..40).collect::<Vec<_>>());
        // A violation past the last message keeps the last 40, not an empty window.
        let late = [Violation {
            time: SimTime(900_000_000),
            ..violations[0].clone()
        }];
        let window = spacetime_window(&spacetime_input(&messages, &[], &late));
        assert_eq!(window.messages, (60..100).collect::<Vec<_>>());
    }

    #[test]
    fn message_names_are_cut_before_their_fields() {
        assert_eq!(short_label("Prepare { ballot: 3 }"), "Prepare");
        assert_eq!(short_label("Reply(7)"), "Reply");
        assert_eq!(short_label("HoldMsg"), "HoldMsg");
    }
}
