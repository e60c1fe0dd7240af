//! The charts of a sweep (one row per seed) and of a comparison of sweeps, each drawn
//! once for SVG (inlined in `sweep.html` / `compare.html`) and once for PNG, from the
//! same drawing code.
//!
//! - `sweep_formula`: a histogram of the protocol's formula value over the seeds, with
//!   the mean and the median (nearest rank) marked.
//! - `sweep_latency`: the empirical CDF over the seeds of each seed's p50 and p99
//!   latency, with the median of each marked.
//! - `sweep_violations`: clean against violating seeds, the first violated check per
//!   violating seed (one bar per check, ordered by name) and a histogram of the virtual
//!   time to the first violation.
//! - `comparison`: one row per compared sweep: its violation rate, and its median p50
//!   and p99 latency as grouped bars.
//!
//! As in [`crate::charts`], histograms are ordered rectangles (plotters' `Histogram`
//! series keeps its bars in a `HashMap`), nothing time- or machine-dependent is
//! written, and bin widths come from multiplications by ten rather than logarithms, so
//! equal tables give byte-identical charts. Every chart draws a "no data" panel instead
//! of failing when it has nothing to show. Font, palette, header, legend and the
//! SVG/PNG plumbing are those of the run charts (module `style`).

use crate::metrics::nearest_rank_index;
use crate::style::{
    BLUE, DrawResult, Figure, GREEN, GREY, Mark, ORANGE, PURPLE, RED, ValueMark, anchored, bold,
    dashes, draw_bars, draw_value_marks, header, headroom, mesh, no_data, number, percent,
    time_unit, value_mark_legend,
};
use crate::sweep::SweepStats;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// What the charts of one sweep are drawn from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SweepChartInput<'a> {
    /// The sweep's name, shown in every title.
    pub name: &'a str,
    /// The sweep's statistics.
    pub stats: &'a SweepStats,
    /// Per check name (ordered by name), the violating seeds whose first violation it
    /// was; `None` when the table has no `first_violation_check` column.
    pub checks: Option<&'a [(String, usize)]>,
    /// Whether the table has a `first_violation_ns` column.
    pub has_first_violation_column: bool,
}

/// The charts of a sweep report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SweepChart {
    /// Histogram of the formula value over the seeds.
    Formula,
    /// CDFs of the per-seed p50 and p99 latencies.
    Latency,
    /// Violating seeds, first violated checks, time to the first violation.
    Violations,
}

impl SweepChart {
    /// Every chart, in report order.
    pub const ALL: [SweepChart; 3] = [
        SweepChart::Violations,
        SweepChart::Formula,
        SweepChart::Latency,
    ];

    /// File stem: `sweep_formula`, `sweep_latency`, `sweep_violations`.
    pub fn name(self) -> &'static str {
        match self {
            SweepChart::Formula => "sweep_formula",
            SweepChart::Latency => "sweep_latency",
            SweepChart::Violations => "sweep_violations",
        }
    }

    /// One sentence saying how to read the chart, for the HTML page.
    pub fn caption(self) -> &'static str {
        match self {
            SweepChart::Formula => {
                "How many seeds fell into each bin of the protocol's formula value (one \
                 value per seed, as in the formula_value column); vertical lines mark the \
                 mean and the median (nearest rank) across seeds."
            }
            SweepChart::Latency => {
                "For each latency on the horizontal axis, the fraction of seeds whose p50 \
                 (left) or p99 (right) latency of ok operations was at or below it, one dot \
                 per seed; dashed lines mark the median across seeds. Seeds without ok \
                 operations are left out."
            }
            SweepChart::Violations => {
                "Left: how many seeds held every check and how many violated one. Middle: \
                 for the violating seeds, which check failed first. Right: when, in virtual \
                 time, the first violation happened."
            }
        }
    }

    fn size(self) -> (u32, u32) {
        match self {
            SweepChart::Formula => (960, 600),
            SweepChart::Latency | SweepChart::Violations => (1200, 600),
        }
    }
}

/// Caption of the comparison chart, for `compare.html`.
pub(crate) const COMPARISON_CAPTION: &str = "One row per compared sweep. Left: the share of \
    seeds that violated a check. Right: the median across seeds of each seed's p50 and p99 \
    latency of ok operations (a missing bar: no seed completed an operation ok).";

/// A chart to draw: one of a sweep's, or the comparison of several sweeps.
#[derive(Clone, Copy, Debug)]
pub(crate) enum SweepFigure<'a> {
    /// A chart of one sweep.
    Sweep(SweepChart, &'a SweepChartInput<'a>),
    /// The comparison chart of labelled sweeps.
    Comparison(&'a [(String, SweepStats)]),
}

impl Figure for SweepFigure<'_> {
    fn size(&self) -> (u32, u32) {
        match self {
            SweepFigure::Sweep(chart, _) => chart.size(),
            SweepFigure::Comparison(sweeps) => {
                let rows = sweeps.len().clamp(1, COMPARISON_ROWS_MAX) as u32;
                (1200, (230 + 64 * rows).max(460))
            }
        }
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        match self {
            SweepFigure::Sweep(SweepChart::Formula, input) => draw_formula(root, input),
            SweepFigure::Sweep(SweepChart::Latency, input) => draw_latency(root, input),
            SweepFigure::Sweep(SweepChart::Violations, input) => draw_violations(root, input),
            SweepFigure::Comparison(sweeps) => draw_comparison(root, sweeps),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Sweep-only style

/// Tick labels only at whole numbers (counts of seeds).
fn whole(value: &f64) -> String {
    if value.fract() == 0.0 {
        number(*value)
    } else {
        String::new()
    }
}

/// How many tick labels a count axis up to `max` gets, so that ticks fall on whole
/// numbers.
fn count_labels(max: f64) -> usize {
    (max.floor() as usize + 1).clamp(2, 11)
}

/// Cuts `text` to at most `max` characters, ending with `…` when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let kept: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{kept}…")
    }
}

// ---------------------------------------------------------------------------------------
// Statistics over floats

/// The finite values of `values`, sorted ascending.
pub(crate) fn sorted_finite(values: &[f64]) -> Vec<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    sorted
}

/// Nearest-rank percentile of ascending `sorted` floats (see `metrics::nearest_rank`).
pub(crate) fn nearest_rank_f64(sorted: &[f64], percent: u32) -> Option<f64> {
    Some(sorted[nearest_rank_index(sorted.len(), percent)?])
}

/// The mean of `values`; `None` for none.
pub(crate) fn mean_f64(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Histogram bins over values in display units: `counts[i]` counts the values in
/// `[origin + i * width, origin + (i + 1) * width)`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Bins {
    /// Left edge of the first bin.
    pub origin: f64,
    /// Width of every bin.
    pub width: f64,
    /// Values per bin.
    pub counts: Vec<u64>,
}

/// A width of 1, 2 or 5 times a power of ten, at least `raw` (positive and finite).
/// Powers of ten come from repeated multiplication, not `log10`, so the choice is the
/// same on every platform.
pub(crate) fn nice_width(raw: f64) -> f64 {
    assert!(
        raw.is_finite() && raw > 0.0,
        "bin width {raw} must be positive"
    );
    let mut power = 1.0_f64;
    while power > raw && power > 1e-300 {
        power /= 10.0;
    }
    while power * 10.0 <= raw && power < 1e300 {
        power *= 10.0;
    }
    for factor in [1.0, 2.0, 5.0] {
        if power * factor >= raw {
            return power * factor;
        }
    }
    power * 10.0
}

/// Bins ascending finite `sorted` values into at most about `bins_max` bins of a nice
/// width; one bin around the value when all values are equal.
pub(crate) fn bins(sorted: &[f64], bins_max: usize) -> Option<Bins> {
    let (&first, &last) = (sorted.first()?, sorted.last()?);
    let range = last - first;
    let raw = if range > 0.0 {
        range / bins_max.max(1) as f64
    } else if first != 0.0 {
        first.abs() / 20.0
    } else {
        1.0
    };
    let width = nice_width(raw);
    let origin = (first / width).floor() * width;
    let count = (((last - origin) / width).floor() as usize + 1).min(bins_max.max(1) + 2);
    let mut counts = vec![0u64; count];
    for &value in sorted {
        let index = (((value - origin) / width).floor().max(0.0) as usize).min(count - 1);
        counts[index] += 1;
    }
    Some(Bins {
        origin,
        width,
        counts,
    })
}

/// Bins for `n` values: about the square root of `n`, between 5 and 40.
fn bins_for(n: usize) -> usize {
    let mut root = 1;
    while root * root < n {
        root += 1;
    }
    root.clamp(5, 40)
}

/// Draws `bins` as ordered rectangles with thin white edges.
fn draw_bins<DB: DrawingBackend, X, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
    bins: &Bins,
    color: RGBColor,
) -> DrawResult<DB>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let bars: Vec<[(f64, f64); 2]> = bins
        .counts
        .iter()
        .enumerate()
        .filter(|(_, count)| **count > 0)
        .map(|(index, count)| {
            let left = bins.origin + bins.width * index as f64;
            [(left, 0.0), (left + bins.width, *count as f64)]
        })
        .collect();
    draw_bars(chart, &bars, color)
}

// ---------------------------------------------------------------------------------------
// Formula histogram

/// How a formula's values are shown: times (T, L, R are mean latencies in ns) or plain
/// numbers (f(x) and anything unknown).
fn formula_meaning(formula: &str) -> &'static str {
    match formula {
        "T" => "mean latency of each seed's committed transactions",
        "L" => "mean latency of each seed's lock grants",
        "R" => "mean completion time of each seed's tasks",
        "f(x)" => "per-slot agreement of each seed",
        _ => "the protocol's formula value of each seed",
    }
}

fn formula_is_time(formula: &str) -> bool {
    matches!(formula, "T" | "L" | "R")
}

fn draw_formula<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    input: &SweepChartInput<'_>,
) -> DrawResult<DB> {
    let stats = input.stats;
    let formula = if stats.formula.is_empty() {
        "formula"
    } else {
        stats.formula.as_str()
    };
    let title = format!("{}: formula {formula} across seeds", input.name);
    let raw = sorted_finite(&stats.formula_values);
    let (Some(&last_raw), Some(&first_raw)) = (raw.last(), raw.first()) else {
        let why = if stats.seeds == 0 {
            "The sweep has no seeds.".to_string()
        } else {
            format!(
                "None of the {} seeds has a formula value (formula: {}).",
                stats.seeds,
                if stats.formula.is_empty() {
                    "none"
                } else {
                    stats.formula.as_str()
                }
            )
        };
        return no_data(root, &title, &why);
    };
    let unit = formula_is_time(formula).then(|| time_unit(last_raw.abs().max(first_raw.abs())));
    let scale = |value: f64| unit.map_or(value, |unit| unit.of(value));
    let unit_suffix = unit.map_or(String::new(), |unit| format!(" {}", unit.name));
    let values: Vec<f64> = raw.iter().map(|&value| scale(value)).collect();
    let bins = bins(&values, bins_for(values.len())).expect("values are not empty");
    let mean = mean_f64(&values).expect("values are not empty");
    let median = nearest_rank_f64(&values, 50).expect("values are not empty");
    let marks: [ValueMark; 2] = [
        (format!("mean = {}{unit_suffix}", number(mean)), mean, RED),
        (
            format!("median = {}{unit_suffix}", number(median)),
            median,
            GREEN,
        ),
    ];
    let mut legend = vec![("seeds in the bin".to_string(), Mark::Area(BLUE, 0.75))];
    legend.extend(value_mark_legend(&marks));
    let subtitle = format!(
        "{formula} = {}; {} of {} seeds have a value",
        formula_meaning(formula),
        values.len(),
        stats.seeds
    );
    let area = header(root, &title, Some(&subtitle), &legend)?;
    let count_max = bins.counts.iter().copied().max().unwrap_or(0) as f64;
    let y_max = headroom(count_max);
    let x_min = bins.origin;
    let x_max = bins.origin + bins.width * bins.counts.len() as f64;
    // At least five bins' worth of axis, so one tall bar (all seeds alike, say f(x) =
    // 1 everywhere) stands in the middle rather than filling the chart.
    let pad = ((x_max - x_min) * 0.03)
        .max(bins.width * (5usize.saturating_sub(bins.counts.len())) as f64 / 2.0);
    let mut chart = ChartBuilder::on(&area)
        .margin(18)
        .margin_top(6)
        .x_label_area_size(52)
        .y_label_area_size(72)
        .build_cartesian_2d(x_min - pad..x_max + pad, 0.0..y_max)?;
    let x_desc = match unit {
        Some(unit) => format!(
            "{formula} per seed ({}), bins of {} {}",
            unit.name,
            number(bins.width),
            unit.name
        ),
        None => format!("{formula} per seed, bins of {}", number(bins.width)),
    };
    mesh!(chart)
        .x_desc(x_desc)
        .y_desc("seeds per bin")
        .x_label_formatter(&|v| number(*v))
        .y_labels(count_labels(y_max))
        .y_label_formatter(&whole)
        .draw()?;
    draw_bins(&mut chart, &bins, BLUE)?;
    draw_value_marks(&mut chart, &marks, y_max)
}

// ---------------------------------------------------------------------------------------
// Latency CDFs

fn draw_latency<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    input: &SweepChartInput<'_>,
) -> DrawResult<DB> {
    let stats = input.stats;
    let title = format!(
        "{}: p50 and p99 latency of each seed, across seeds",
        input.name
    );
    if stats.p50_ns.is_empty() && stats.p99_ns.is_empty() {
        let why = if stats.seeds == 0 {
            "The sweep has no seeds.".to_string()
        } else {
            format!(
                "None of the {} seeds completed an operation ok, so none has a latency.",
                stats.seeds
            )
        };
        return no_data(root, &title, &why);
    }
    let series = [
        ("p50", stats.p50_ns.as_slice(), stats.median_p50_ns(), BLUE),
        (
            "p99",
            stats.p99_ns.as_slice(),
            stats.median_p99_ns(),
            ORANGE,
        ),
    ];
    let legend = vec![
        (
            "p50 of each seed (a dot per seed)".to_string(),
            Mark::Line(BLUE, 2),
        ),
        ("p99 of each seed".to_string(), Mark::Line(ORANGE, 2)),
        ("median across seeds".to_string(), Mark::Dashed(GREY, 2)),
    ];
    let with = stats.p50_ns.len().max(stats.p99_ns.len());
    let subtitle = format!(
        "{with} of {} seeds completed operations ok; each has one p50 and one p99 (nearest rank)",
        stats.seeds
    );
    let area = header(root, &title, Some(&subtitle), &legend)?;
    let (width, _) = area.dim_in_pixel();
    let (left, right) = area.split_horizontally(width / 2);
    for ((name, sorted, median, color), panel) in series.into_iter().zip([left, right]) {
        match median {
            Some(median) => draw_latency_panel(&panel, root, name, sorted, median, color)?,
            None => panel_note(&panel, name, "no seed completed an operation ok")?,
        }
    }
    Ok(())
}

/// One latency percentile's empirical CDF over the seeds, on its own linear axis.
fn draw_latency_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    root: &DrawingArea<DB, Shift>,
    name: &str,
    sorted: &[u64],
    median_ns: u64,
    color: RGBColor,
) -> DrawResult<DB> {
    let (Some(&first_ns), Some(&last_ns)) = (sorted.first(), sorted.last()) else {
        return panel_note(area, name, "no seed completed an operation ok");
    };
    let unit = time_unit(last_ns as f64);
    let (first, last) = (unit.of(first_ns as f64), unit.of(last_ns as f64));
    let pad = if last > first {
        (last - first) * 0.08
    } else {
        (last * 0.05).max(1.0)
    };
    let (x_min, x_max) = ((first - pad).max(0.0), last + pad);
    let median = unit.of(median_ns as f64);
    let caption = format!(
        "{name} latency of each seed (median {} {})",
        number(median),
        unit.name
    );
    let mut chart = ChartBuilder::on(area)
        .margin(14)
        .margin_right(24)
        .caption(caption, bold(15))
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(x_min..x_max, 0.0..1.02)?;
    mesh!(chart)
        .x_desc(format!("{name} latency of ok operations ({})", unit.name))
        .y_desc("fraction of seeds at or below x")
        .x_labels(8)
        .x_label_formatter(&|v| number(*v))
        .y_label_formatter(&|v| number(*v))
        .draw()?;
    let top = chart.backend_coord(&(median, 1.02));
    let bottom = chart.backend_coord(&(median, 0.0));
    for segment in dashes(bottom, top) {
        root.draw(&PathElement::new(segment, GREY.stroke_width(2)))?;
    }
    let n = sorted.len();
    let mut points = vec![(x_min, 0.0), (first, 0.0)];
    let mut previous = 0.0;
    for (index, &value) in sorted.iter().enumerate() {
        let fraction = (index + 1) as f64 / n as f64;
        points.push((unit.of(value as f64), previous));
        points.push((unit.of(value as f64), fraction));
        previous = fraction;
    }
    points.push((x_max, 1.0));
    chart.draw_series(LineSeries::new(points, color.stroke_width(2)))?;
    if n <= 200 {
        chart.draw_series(sorted.iter().enumerate().map(|(index, &value)| {
            Circle::new(
                (unit.of(value as f64), (index + 1) as f64 / n as f64),
                3,
                color.filled(),
            )
        }))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Violations

/// At most this many check names get their own bar; the rest share one.
const CHECKS_MAX: usize = 12;

/// The check bars: at most [`CHECKS_MAX`] names in name order, the rest as one "other".
fn check_bars(checks: &[(String, usize)]) -> Vec<(String, usize)> {
    if checks.len() <= CHECKS_MAX {
        return checks.to_vec();
    }
    let mut bars: Vec<(String, usize)> = checks[..CHECKS_MAX - 1].to_vec();
    let rest = &checks[CHECKS_MAX - 1..];
    bars.push((
        format!("{} other checks", rest.len()),
        rest.iter().map(|(_, count)| count).sum(),
    ));
    bars
}

/// A panel with a caption and a grey note in a box instead of a chart.
fn panel_note<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    note: &str,
) -> DrawResult<DB> {
    let (width, height) = area.dim_in_pixel();
    let (width, height) = (width as i32, height as i32);
    area.draw(&Text::new(
        caption.to_string(),
        (width / 2, 19),
        TextStyle::from(bold(15)).pos(Pos::new(HPos::Center, VPos::Top)),
    ))?;
    area.draw(&Rectangle::new(
        [(20, 44), (width - 20, height - 20)],
        ShapeStyle::from(&RGBColor(200, 200, 200)).stroke_width(1),
    ))?;
    area.draw(&Text::new(
        note.to_string(),
        (width / 2, height / 2),
        anchored(15, GREY, HPos::Center, VPos::Center),
    ))
}

fn draw_violations<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    input: &SweepChartInput<'_>,
) -> DrawResult<DB> {
    let stats = input.stats;
    let title = format!("{}: violations across {} seeds", input.name, stats.seeds);
    if stats.seeds == 0 {
        return no_data(root, &title, "The sweep has no seeds.");
    }
    let clean = stats.seeds - stats.violating;
    let subtitle = format!(
        "{} of {} seeds ({}) violated at least one check; {} held every check",
        stats.violating,
        stats.seeds,
        percent(stats.violation_rate),
        clean
    );
    let area = header(root, &title, Some(&subtitle), &[])?;
    let (width, _) = area.dim_in_pixel();
    let more = usize::from(input.checks.is_some()) + usize::from(input.has_first_violation_column);
    let (verdict_area, rest) = if more == 0 {
        let full = area.clone();
        (full, None)
    } else {
        let (left, right) = area.split_horizontally(300.min(width / 2));
        (left, Some(right))
    };
    draw_verdict_panel(&verdict_area, root, stats)?;
    let Some(rest) = rest else {
        return Ok(());
    };
    let (rest_width, _) = rest.dim_in_pixel();
    let (checks_area, time_area) = match (input.checks.is_some(), input.has_first_violation_column)
    {
        (true, true) => {
            let (left, right) = rest.split_horizontally(rest_width * 9 / 20);
            (Some(left), Some(right))
        }
        (true, false) => (Some(rest), None),
        _ => (None, Some(rest)),
    };
    if let (Some(area), Some(checks)) = (checks_area, input.checks) {
        draw_checks_panel(&area, root, checks)?;
    }
    if let Some(area) = time_area {
        draw_first_violation_panel(&area, root, &stats.first_violation_ns)?;
    }
    Ok(())
}

fn draw_verdict_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    root: &DrawingArea<DB, Shift>,
    stats: &SweepStats,
) -> DrawResult<DB> {
    let clean = stats.seeds - stats.violating;
    let y_max = (stats.seeds as f64 * 1.15).max(1.0);
    let mut chart = ChartBuilder::on(area)
        .margin(14)
        .margin_right(20)
        .caption("seeds by verdict", bold(15))
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(-0.6..1.6, 0.0..y_max)?;
    mesh!(chart)
        .disable_x_mesh()
        .x_labels(2)
        .x_label_formatter(&|_| String::new())
        .y_desc("seeds")
        .y_labels(count_labels(y_max))
        .y_label_formatter(&whole)
        .draw()?;
    let bars = [
        ("all checks held", clean, GREEN),
        ("violated", stats.violating, RED),
    ];
    for (index, (name, count, color)) in bars.iter().enumerate() {
        let x = index as f64;
        chart.draw_series(std::iter::once(Rectangle::new(
            [(x - 0.35, 0.0), (x + 0.35, *count as f64)],
            color.mix(0.8).filled(),
        )))?;
        let share = *count as f64 / stats.seeds as f64;
        let (px, py) = chart.backend_coord(&(x, *count as f64));
        root.draw(&Text::new(
            format!("{count} ({})", percent(share)),
            (px, py - 4),
            anchored(14, BLACK, HPos::Center, VPos::Bottom),
        ))?;
        let (px, py) = chart.backend_coord(&(x, 0.0));
        root.draw(&Text::new(
            name.to_string(),
            (px, py + 10),
            anchored(13, BLACK, HPos::Center, VPos::Top),
        ))?;
    }
    Ok(())
}

fn draw_checks_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    root: &DrawingArea<DB, Shift>,
    checks: &[(String, usize)],
) -> DrawResult<DB> {
    let caption = "first violated check (violating seeds)";
    if checks.is_empty() {
        return panel_note(area, caption, "no seed violated a check");
    }
    let bars = check_bars(checks);
    let names: Vec<String> = bars.iter().map(|(name, _)| shorten(name, 26)).collect();
    let name_style = anchored(13, BLACK, HPos::Right, VPos::Center);
    let mut name_width = 40;
    for name in &names {
        name_width = name_width.max(area.estimate_text_size(name, &name_style)?.0);
    }
    let (width, _) = area.dim_in_pixel();
    let name_width = (name_width + 16).min(width / 2);
    let count_max = bars.iter().map(|(_, count)| *count).max().unwrap_or(0) as f64;
    let x_max = (count_max * 1.2).max(1.0);
    // At least 4 rows of room, so that a single check does not become a block.
    let rows = bars.len().max(4) as f64;
    let mut chart = ChartBuilder::on(area)
        .margin(14)
        .margin_right(20)
        .caption(caption, bold(15))
        .x_label_area_size(40)
        .y_label_area_size(name_width)
        .build_cartesian_2d(0.0..x_max, -0.5..rows - 0.5)?;
    mesh!(chart)
        .disable_y_mesh()
        .y_labels(0)
        .y_label_formatter(&|_| String::new())
        .x_desc("violating seeds")
        .x_labels(count_labels(x_max))
        .x_label_formatter(&whole)
        .draw()?;
    for (index, ((_, count), name)) in bars.iter().zip(&names).enumerate() {
        // The first name at the top.
        let y = rows - 1.0 - index as f64;
        chart.draw_series(std::iter::once(Rectangle::new(
            [(0.0, y - 0.3), (*count as f64, y + 0.3)],
            PURPLE.mix(0.8).filled(),
        )))?;
        let (px, py) = chart.backend_coord(&(*count as f64, y));
        root.draw(&Text::new(
            count.to_string(),
            (px + 5, py),
            anchored(13, BLACK, HPos::Left, VPos::Center),
        ))?;
        let (px, py) = chart.backend_coord(&(0.0, y));
        root.draw(&Text::new(name.clone(), (px - 8, py), name_style.clone()))?;
    }
    Ok(())
}

fn draw_first_violation_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    root: &DrawingArea<DB, Shift>,
    sorted_ns: &[u64],
) -> DrawResult<DB> {
    let caption = "virtual time to the first violation";
    let Some(&last) = sorted_ns.last() else {
        return panel_note(area, caption, "no seed violated a check");
    };
    let unit = time_unit(last as f64);
    let values: Vec<f64> = sorted_ns.iter().map(|&ns| unit.of(ns as f64)).collect();
    let bins = bins(&values, bins_for(values.len()).min(24)).expect("values are not empty");
    let median = nearest_rank_f64(&values, 50).expect("values are not empty");
    let caption = format!(
        "virtual time to the first violation (median {} {})",
        number(median),
        unit.name
    );
    let count_max = bins.counts.iter().copied().max().unwrap_or(0) as f64;
    let y_max = headroom(count_max);
    let x_max = bins.origin + bins.width * bins.counts.len() as f64;
    let x_min = bins.origin.min(0.0);
    let mut chart = ChartBuilder::on(area)
        .margin(14)
        .margin_right(24)
        .caption(caption, bold(15))
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(x_min..x_max * 1.03, 0.0..y_max)?;
    mesh!(chart)
        .x_desc(format!(
            "virtual time ({}), bins of {} {}",
            unit.name,
            number(bins.width),
            unit.name
        ))
        .y_desc("violating seeds per bin")
        .x_labels(8)
        .x_label_formatter(&|v| number(*v))
        .y_labels(count_labels(y_max))
        .y_label_formatter(&whole)
        .draw()?;
    draw_bins(&mut chart, &bins, RED)?;
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(median, 0.0), (median, y_max)],
        GREEN.stroke_width(2),
    )))?;
    let (px, py) = chart.backend_coord(&(median, y_max));
    root.draw(&Text::new(
        "median",
        (px + 4, py + 2),
        anchored(12, GREEN, HPos::Left, VPos::Top),
    ))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Comparison

/// At most this many sweeps get a row in the comparison chart.
pub(crate) const COMPARISON_ROWS_MAX: usize = 30;

fn draw_comparison<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    sweeps: &[(String, SweepStats)],
) -> DrawResult<DB> {
    let shown = &sweeps[..sweeps.len().min(COMPARISON_ROWS_MAX)];
    let title = format!(
        "Comparison of {} sweep{}: violation rate and latency",
        sweeps.len(),
        if sweeps.len() == 1 { "" } else { "s" }
    );
    if shown.is_empty() {
        return no_data(root, &title, "No sweep was given to compare.");
    }
    let seeds: Vec<usize> = shown.iter().map(|(_, stats)| stats.seeds).collect();
    let seeds_text = if seeds.iter().all(|&n| n == seeds[0]) {
        format!("{} seeds each", seeds[0])
    } else {
        "differing seed counts".to_string()
    };
    let cut = if shown.len() < sweeps.len() {
        format!(
            "; the first {} of {} sweeps are shown (all are in comparison.csv)",
            shown.len(),
            sweeps.len()
        )
    } else {
        String::new()
    };
    let subtitle =
        format!("{seeds_text}{cut}; latency = median across seeds of each seed's p50 / p99");
    let legend = vec![
        (
            "violation rate (seeds that violated a check)".to_string(),
            Mark::Area(RED, 0.8),
        ),
        ("median p50 latency".to_string(), Mark::Area(BLUE, 0.8)),
        ("median p99 latency".to_string(), Mark::Area(ORANGE, 0.8)),
    ];
    let area = header(root, &title, Some(&subtitle), &legend)?;

    let labels: Vec<String> = shown.iter().map(|(label, _)| shorten(label, 40)).collect();
    let label_style = anchored(14, BLACK, HPos::Right, VPos::Center);
    let mut label_width = 60;
    for label in &labels {
        label_width = label_width.max(area.estimate_text_size(label, &label_style)?.0);
    }
    let (width, _) = area.dim_in_pixel();
    let label_width = (label_width + 24).min(width / 3);
    let (_, panels) = area.split_horizontally(label_width);
    let (panels_width, _) = panels.dim_in_pixel();
    let (rate_area, latency_area) = panels.split_horizontally(panels_width * 2 / 5);

    let rows = shown.len() as f64;
    let y_range = -0.5..rows - 0.5;
    let row_y = |index: usize| rows - 1.0 - index as f64;

    // Left: violation rate, 0 to 100 %.
    let mut rate = panel_builder(&rate_area, "violation rate")
        .build_cartesian_2d(0.0..100.0, y_range.clone())?;
    mesh!(rate)
        .disable_y_mesh()
        .y_labels(0)
        .y_label_formatter(&|_| String::new())
        .x_desc("seeds that violated a check (%)")
        .x_label_formatter(&|v| number(*v))
        .draw()?;
    for (index, (_, stats)) in shown.iter().enumerate() {
        let y = row_y(index);
        let value = stats.violation_rate * 100.0;
        rate.draw_series(std::iter::once(Rectangle::new(
            [(0.0, y - 0.3), (value, y + 0.3)],
            RED.mix(0.8).filled(),
        )))?;
        let text = format!(
            "{} ({} of {})",
            percent(stats.violation_rate),
            stats.violating,
            stats.seeds
        );
        bar_value(root, &rate, (value, y), 100.0, &text)?;
        // The row's label, in the shared column at the left.
        let (px, py) = rate.backend_coord(&(0.0, y));
        root.draw(&Text::new(
            labels[index].clone(),
            (px - 14, py),
            label_style.clone(),
        ))?;
    }

    // Right: median p50 and p99 latency.
    let max_ns = shown
        .iter()
        .filter_map(|(_, stats)| stats.median_p99_ns().max(stats.median_p50_ns()))
        .max()
        .unwrap_or(0);
    let unit = time_unit(max_ns as f64);
    // Room right of the longest bar for its value.
    let x_max = if max_ns > 0 {
        unit.of(max_ns as f64) * 1.2
    } else {
        1.0
    };
    let mut latency = panel_builder(
        &latency_area,
        "median latency of ok operations across seeds",
    )
    .build_cartesian_2d(0.0..x_max, y_range)?;
    mesh!(latency)
        .disable_y_mesh()
        .y_labels(0)
        .y_label_formatter(&|_| String::new())
        .x_desc(format!("latency ({})", unit.name))
        .x_label_formatter(&|v| number(*v))
        .draw()?;
    for (index, (_, stats)) in shown.iter().enumerate() {
        let y = row_y(index);
        let pairs = [
            ("p50", stats.median_p50_ns(), BLUE, y + 0.17),
            ("p99", stats.median_p99_ns(), ORANGE, y - 0.17),
        ];
        for (name, value, color, center) in pairs {
            match value {
                Some(ns) => {
                    let value = unit.of(ns as f64);
                    latency.draw_series(std::iter::once(Rectangle::new(
                        [(0.0, center - 0.14), (value, center + 0.14)],
                        color.mix(0.8).filled(),
                    )))?;
                    let text = format!("{name} {} {}", number(value), unit.name);
                    bar_value(root, &latency, (value, center), x_max, &text)?;
                }
                None => {
                    let (px, py) = latency.backend_coord(&(0.0, center));
                    root.draw(&Text::new(
                        format!("{name}: no ok operation"),
                        (px + 5, py),
                        anchored(12, GREY, HPos::Left, VPos::Center),
                    ))?;
                }
            }
        }
    }
    Ok(())
}

/// A chart builder for one comparison panel; both panels share margins, so their rows
/// line up.
fn panel_builder<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    caption: &str,
) -> ChartBuilder<'a, 'b, DB> {
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(14)
        .margin_right(28)
        .caption(caption, bold(15))
        .x_label_area_size(48)
        .y_label_area_size(8);
    builder
}

/// Writes `text` just right of a horizontal bar ending at `end`, or inside the bar's
/// end (in white) when it would not fit before `x_max`.
fn bar_value<DB: DrawingBackend, X, Y>(
    root: &DrawingArea<DB, Shift>,
    chart: &ChartContext<'_, DB, Cartesian2d<X, Y>>,
    end: (f64, f64),
    x_max: f64,
    text: &str,
) -> DrawResult<DB>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let outside = anchored(12, BLACK, HPos::Left, VPos::Center);
    let (px, py) = chart.backend_coord(&end);
    let (right, _) = chart.backend_coord(&(x_max, end.1));
    let text_width = root.estimate_text_size(text, &outside)?.0 as i32;
    if px + 5 + text_width <= right {
        root.draw(&Text::new(text.to_string(), (px + 5, py), outside))
    } else {
        root.draw(&Text::new(
            text.to_string(),
            (px - 5, py),
            anchored(12, WHITE, HPos::Right, VPos::Center),
        ))
    }
}

// ---------------------------------------------------------------------------------------
// Load sweeps (`--vary`): latency and throughput against offered load

/// Caption of `vary_latency`, for `vary.html`.
pub(crate) const VARY_LATENCY_CAPTION: &str = "Latency of ok operations against offered load, \
    one point per value of the varied key: lines are the means over seeds of each seed's p50 \
    and p99 (nearest rank), shaded bands their min..max over seeds; the dashed vertical line \
    marks the knee, the first load whose mean p99 exceeds twice its value at the lowest load.";

/// Caption of `vary_throughput`, for `vary.html`.
pub(crate) const VARY_THROUGHPUT_CAPTION: &str = "Completed operations (throughput) and ok \
    operations (goodput) per virtual second against offered load: lines are means over seeds, \
    shaded bands their min..max; the grey diagonal is throughput = offered load.";

/// A chart of a load sweep.
#[derive(Clone, Copy, Debug)]
pub(crate) enum VaryFigure<'a> {
    /// p50 and p99 against offered load, the knee marked.
    Latency {
        /// The scenario's name.
        name: &'a str,
        /// The varied key.
        key: &'a str,
        /// The rows of `vary.csv`.
        rows: &'a [crate::vary::VaryRow],
    },
    /// Throughput and goodput against offered load.
    Throughput {
        /// The scenario's name.
        name: &'a str,
        /// The varied key.
        key: &'a str,
        /// The rows of `vary.csv`.
        rows: &'a [crate::vary::VaryRow],
    },
}

impl Figure for VaryFigure<'_> {
    fn size(&self) -> (u32, u32) {
        (1200, 620)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        match *self {
            VaryFigure::Latency { name, key, rows } => draw_vary_latency(root, name, key, rows),
            VaryFigure::Throughput { name, key, rows } => {
                draw_vary_throughput(root, name, key, rows)
            }
        }
    }
}

/// One line with its band: (offered load, mean, min, max) points in load order.
type BandPoints = Vec<(f64, f64, f64, f64)>;

fn band_points(
    rows: &[crate::vary::VaryRow],
    figure: impl Fn(&crate::vary::VaryRow) -> Option<crate::vary::Spread>,
) -> BandPoints {
    crate::vary::by_offered_load(rows)
        .into_iter()
        .filter_map(|i| {
            let spread = figure(&rows[i])?;
            Some((rows[i].offered_per_s?, spread.mean, spread.min, spread.max))
        })
        .collect()
}

fn draw_band<DB: DrawingBackend, X, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
    points: &BandPoints,
    scale: f64,
    color: RGBColor,
) -> DrawResult<DB>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    if points.len() > 1 {
        let mut outline: Vec<(f64, f64)> = points.iter().map(|p| (p.0, p.3 / scale)).collect();
        outline.extend(points.iter().rev().map(|p| (p.0, p.2 / scale)));
        chart.draw_series(std::iter::once(Polygon::new(
            outline,
            color.mix(0.2).filled(),
        )))?;
    } else {
        chart.draw_series(points.iter().map(|p| {
            PathElement::new(
                vec![(p.0, p.2 / scale), (p.0, p.3 / scale)],
                color.mix(0.5).stroke_width(6),
            )
        }))?;
    }
    chart.draw_series(LineSeries::new(
        points.iter().map(|p| (p.0, p.1 / scale)),
        color.stroke_width(2),
    ))?;
    chart.draw_series(
        points
            .iter()
            .map(|p| Circle::new((p.0, p.1 / scale), 4, color.filled())),
    )?;
    Ok(())
}

fn load_range(rows: &[crate::vary::VaryRow]) -> Option<(f64, f64)> {
    let loads: Vec<f64> = rows.iter().filter_map(|r| r.offered_per_s).collect();
    let first = loads.iter().copied().fold(f64::INFINITY, f64::min);
    let last = loads.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !first.is_finite() || !last.is_finite() {
        return None;
    }
    let pad = if last > first {
        (last - first) * 0.05
    } else {
        (last * 0.05).max(1.0)
    };
    Some(((first - pad).max(0.0), last + pad))
}

fn draw_vary_latency<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    name: &str,
    key: &str,
    rows: &[crate::vary::VaryRow],
) -> DrawResult<DB> {
    let title = format!("{name}: latency against offered load (varying {key})");
    let p50 = band_points(rows, |r| r.latency_p50_ns);
    let p99 = band_points(rows, |r| r.latency_p99_ns);
    let Some((x_min, x_max)) = load_range(rows) else {
        return no_data(root, &title, "No value has an offered load.");
    };
    if p50.is_empty() && p99.is_empty() {
        return no_data(
            root,
            &title,
            "No seed of any value completed an operation ok.",
        );
    }
    let max_ns = p50.iter().chain(&p99).map(|p| p.3).fold(0.0, f64::max);
    let unit = time_unit(max_ns);
    let scale = unit.of(1.0).recip();
    let y_max = headroom(unit.of(max_ns)).max(1e-9);
    let knee = rows.iter().find(|r| r.knee).and_then(|r| r.offered_per_s);
    let mut legend = vec![
        (
            "p50 (mean over seeds; band min..max)".to_string(),
            Mark::Line(BLUE, 2),
        ),
        (
            "p99 (mean over seeds; band min..max)".to_string(),
            Mark::Line(ORANGE, 2),
        ),
    ];
    if knee.is_some() {
        legend.push((
            "knee: p99 above 2x its lowest-load value".to_string(),
            Mark::Dashed(RED, 2),
        ));
    }
    let subtitle = format!("{} values, one point each", rows.len());
    let area = header(root, &title, Some(&subtitle), &legend)?;
    let mut chart = ChartBuilder::on(&area)
        .margin(14)
        .margin_right(28)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(x_min..x_max, 0.0..y_max)?;
    mesh!(chart)
        .x_desc("offered load (operations per second)")
        .y_desc(format!("latency of ok operations ({})", unit.name))
        .x_labels(10)
        .x_label_formatter(&|v| number(*v))
        .y_label_formatter(&|v| number(*v))
        .draw()?;
    draw_band(&mut chart, &p50, scale, BLUE)?;
    draw_band(&mut chart, &p99, scale, ORANGE)?;
    if let Some(knee) = knee {
        let top = chart.backend_coord(&(knee, y_max));
        let bottom = chart.backend_coord(&(knee, 0.0));
        for segment in dashes(bottom, top) {
            root.draw(&PathElement::new(segment, RED.stroke_width(2)))?;
        }
        root.draw(&Text::new(
            format!("knee {}/s", number(knee)),
            (top.0 + 6, top.1 + 12),
            anchored(13, RED, HPos::Left, VPos::Center),
        ))?;
    }
    Ok(())
}

fn draw_vary_throughput<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    name: &str,
    key: &str,
    rows: &[crate::vary::VaryRow],
) -> DrawResult<DB> {
    let title = format!("{name}: throughput and goodput against offered load (varying {key})");
    let throughput = band_points(rows, |r| r.throughput_per_s);
    let goodput = band_points(rows, |r| r.goodput_per_s);
    let Some((x_min, x_max)) = load_range(rows) else {
        return no_data(root, &title, "No value has an offered load.");
    };
    if throughput.is_empty() {
        return no_data(root, &title, "No seed of any value completed an operation.");
    }
    let y_top = throughput
        .iter()
        .chain(&goodput)
        .map(|p| p.3)
        .fold(x_max, f64::max);
    let y_max = headroom(y_top).max(1e-9);
    let legend = vec![
        (
            "throughput: completed ops/s".to_string(),
            Mark::Line(BLUE, 2),
        ),
        ("goodput: ok ops/s".to_string(), Mark::Line(GREEN, 2)),
        (
            "throughput = offered load".to_string(),
            Mark::Dashed(GREY, 2),
        ),
    ];
    let subtitle = format!(
        "{} values; per virtual second, means over seeds",
        rows.len()
    );
    let area = header(root, &title, Some(&subtitle), &legend)?;
    let mut chart = ChartBuilder::on(&area)
        .margin(14)
        .margin_right(28)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(x_min..x_max, 0.0..y_max)?;
    mesh!(chart)
        .x_desc("offered load (operations per second)")
        .y_desc("operations per second")
        .x_labels(10)
        .x_label_formatter(&|v| number(*v))
        .y_label_formatter(&|v| number(*v))
        .draw()?;
    let diagonal_end = x_max.min(y_max);
    let from = chart.backend_coord(&(x_min, x_min));
    let to = chart.backend_coord(&(diagonal_end, diagonal_end));
    for segment in dashes(from, to) {
        root.draw(&PathElement::new(segment, GREY.stroke_width(2)))?;
    }
    draw_band(&mut chart, &throughput, 1.0, BLUE)?;
    draw_band(&mut chart, &goodput, 1.0, GREEN)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_widths_are_one_two_or_five_times_a_power_of_ten() {
        // Odd widths would put bin edges at unreadable numbers.
        assert_eq!(nice_width(0.3), 0.5);
        assert_eq!(nice_width(1.0), 1.0);
        assert_eq!(nice_width(1.1), 2.0);
        assert_eq!(nice_width(7.0), 10.0);
        assert_eq!(nice_width(130.0), 200.0);
    }

    #[test]
    fn bins_count_every_value_once() {
        let values = [1.0, 1.5, 2.0, 9.9, 10.0];
        let bins = bins(&values, 5).unwrap();
        // 9 / 5 = 1.8 rounds up to 2: edges 0, 2, 4, 6, 8, 10, 12.
        assert_eq!(bins.width, 2.0);
        assert_eq!(bins.origin, 0.0);
        assert_eq!(bins.counts, vec![2, 1, 0, 0, 1, 1]);
    }

    #[test]
    fn equal_values_fall_into_one_bin() {
        // A zero range must not give a zero width (a division by zero, no bar).
        let bins = bins(&[1.0, 1.0, 1.0], 10).unwrap();
        assert_eq!(bins.counts, vec![3]);
        assert!(bins.width > 0.0);
        assert_eq!(super::bins(&[0.0], 10).unwrap().counts, vec![1]);
    }

    #[test]
    fn float_median_is_by_nearest_rank() {
        // Rank ceil(0.5 * 4) = 2: the second value, not the average of the middle two.
        assert_eq!(nearest_rank_f64(&[1.0, 2.0, 3.0, 4.0], 50), Some(2.0));
        assert_eq!(nearest_rank_f64(&[5.0], 50), Some(5.0));
        assert_eq!(nearest_rank_f64(&[], 50), None);
    }

    #[test]
    fn many_checks_share_an_other_bar() {
        let checks: Vec<(String, usize)> = (0..15).map(|i| (format!("c{i:02}"), 1)).collect();
        let bars = check_bars(&checks);
        // 11 named bars plus one for the remaining 4, which must keep their count.
        assert_eq!(bars.len(), CHECKS_MAX);
        assert_eq!(bars[10].0, "c10");
        assert_eq!(bars[11], ("4 other checks".to_string(), 4));
    }
}
