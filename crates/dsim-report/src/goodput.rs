//! Goodput over time of several runs on one chart (`dsim goodput RUN_DIR...`): the
//! `ok` operations per virtual second of each run's `timeline.csv`, one line per run,
//! so that two settings of one scenario (say, two retry policies) can be compared at a
//! glance. Written as `goodput_over_time.svg` and `.png`, byte-identical for the same
//! timelines.

use crate::error::ReportError;
use crate::style::{
    BLUE, BROWN, DrawResult, Figure, GREEN, Mark, ORANGE, PURPLE, RED, header, headroom, mesh,
    no_data, number, time_unit,
};
use crate::timeline::TimelineRow;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// The file stem of the chart.
pub const GOODPUT_CHART: &str = "goodput_over_time";

/// One run's line: its label and its timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct GoodputSeries {
    /// The legend text.
    pub label: String,
    /// The run's timeline, in time order.
    pub timeline: Vec<TimelineRow>,
}

struct GoodputFigure<'a> {
    title: &'a str,
    series: &'a [GoodputSeries],
}

const COLORS: [RGBColor; 6] = [RED, GREEN, BLUE, ORANGE, PURPLE, BROWN];

/// Line widths shrink from the first run to the last, so that where runs coincide
/// (before a spike, say) the earlier ones still show around the later ones.
fn width(index: usize) -> u32 {
    (6u32.saturating_sub(2 * index as u32)).max(2)
}

impl Figure for GoodputFigure<'_> {
    fn size(&self) -> (u32, u32) {
        (1200, 560)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let end_ns = self
            .series
            .iter()
            .filter_map(|series| series.timeline.last())
            .map(|row| row.end.as_nanos())
            .max()
            .unwrap_or(0);
        if end_ns == 0 {
            return no_data(root, self.title, "No run has a timeline interval.");
        }
        let unit = time_unit(end_ns as f64);
        let top = self
            .series
            .iter()
            .flat_map(|series| &series.timeline)
            .map(TimelineRow::throughput_ops_per_s)
            .fold(0.0, f64::max);
        let legend: Vec<(String, Mark)> = self
            .series
            .iter()
            .enumerate()
            .map(|(i, series)| {
                (
                    series.label.clone(),
                    Mark::Line(COLORS[i % COLORS.len()], width(i)),
                )
            })
            .collect();
        let subtitle = "ok operations per virtual second, per timeline interval of each run";
        let area = header(root, self.title, Some(subtitle), &legend)?;
        let mut chart = ChartBuilder::on(&area)
            .margin(14)
            .margin_right(28)
            .x_label_area_size(48)
            .y_label_area_size(78)
            .build_cartesian_2d(0.0..unit.of(end_ns as f64), 0.0..headroom(top).max(1e-9))?;
        mesh!(chart)
            .x_desc(format!("virtual time ({})", unit.name))
            .y_desc("goodput (ok operations / s)")
            .x_label_formatter(&|v| number(*v))
            .y_label_formatter(&|v| number(*v))
            .draw()?;
        for (i, series) in self.series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let mut steps = Vec::with_capacity(series.timeline.len() * 2);
            for row in &series.timeline {
                let goodput = row.throughput_ops_per_s();
                steps.push((unit.of(row.start.as_nanos() as f64), goodput));
                steps.push((unit.of(row.end.as_nanos() as f64), goodput));
            }
            chart.draw_series(LineSeries::new(steps, color.stroke_width(width(i))))?;
        }
        Ok(())
    }
}

/// Writes `goodput_over_time.svg` and `.png` into `dir`, titled `title`, one line per
/// series; returns the files written.
pub fn write_goodput_chart(
    dir: &Path,
    title: &str,
    series: &[GoodputSeries],
) -> Result<Vec<PathBuf>, ReportError> {
    let mut files = Vec::new();
    crate::style::write_figure(
        dir,
        GOODPUT_CHART,
        &GoodputFigure { title, series },
        &mut files,
    )?;
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dsim_core::SimTime;

    fn row(second: u64, ok: u64) -> TimelineRow {
        TimelineRow {
            start: SimTime(second * 1_000_000_000),
            end: SimTime((second + 1) * 1_000_000_000),
            ops_completed: ok,
            ops_ok: ok,
            ops_failed: 0,
            faults_active: Vec::new(),
        }
    }

    #[test]
    fn goodput_chart_draws_one_labelled_line_per_run_and_is_deterministic() {
        let series = vec![
            GoodputSeries {
                label: "fixed".into(),
                timeline: vec![row(0, 700), row(1, 0), row(2, 0)],
            },
            GoodputSeries {
                label: "exponential".into(),
                timeline: vec![row(0, 700), row(1, 0), row(2, 690)],
            },
        ];
        let figure = GoodputFigure {
            title: "storm",
            series: &series,
        };
        let svg = crate::style::render_svg(&figure).unwrap();
        // Both labels appear in the legend, and one polyline per run is drawn in its
        // own colour (a dropped series would lose its label and its colour).
        assert!(svg.contains("fixed") && svg.contains("exponential"));
        assert!(
            svg.contains("#D62728") || svg.contains("#d62728"),
            "red line"
        );
        assert!(
            svg.contains("#2CA02C") || svg.contains("#2ca02c"),
            "green line"
        );
        // Same input, same bytes.
        assert_eq!(svg, crate::style::render_svg(&figure).unwrap());
    }
}
