//! The chart style shared by the run charts ([`crate::charts`]) and the sweep charts
//! (`sweep_charts`): the bundled font, the palette, text styles, short numbers and time
//! units, the title-subtitle-legend header, the "no data" panel, the grid, dashes and
//! crosses, histogram bars, and the plumbing that draws one figure to SVG and PNG.
//!
//! Everything here is deterministic: no iteration over hashed collections, no
//! logarithms (time units and bins come from comparisons and multiplications), so
//! equal inputs give byte-identical charts.

use crate::error::ReportError;
use crate::write::write_file_atomically;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};
use std::path::{Path, PathBuf};
use std::sync::Once;

// ---------------------------------------------------------------------------------------
// Fonts and colours

/// Font family name under which DejaVu Sans is registered.
const FAMILY: &str = "sans-serif";

static FONTS: Once = Once::new();

/// Registers DejaVu Sans (regular and bold) with plotters as `sans-serif`. Idempotent
/// and cheap after the first call; every chart function calls it.
pub fn register_fonts() {
    FONTS.call_once(|| {
        let regular = register_font(FAMILY, FontStyle::Normal, dejavu::sans::regular());
        let bold = register_font(FAMILY, FontStyle::Bold, dejavu::sans::bold());
        assert!(
            regular.is_ok() && bold.is_ok(),
            "the bundled DejaVu Sans font must parse"
        );
    });
}

pub(crate) const BLUE: RGBColor = RGBColor(31, 119, 180);
pub(crate) const ORANGE: RGBColor = RGBColor(255, 127, 14);
pub(crate) const GREEN: RGBColor = RGBColor(44, 160, 44);
pub(crate) const RED: RGBColor = RGBColor(214, 39, 40);
pub(crate) const PURPLE: RGBColor = RGBColor(148, 103, 189);
pub(crate) const BROWN: RGBColor = RGBColor(140, 86, 75);
pub(crate) const PINK: RGBColor = RGBColor(227, 119, 194);
pub(crate) const GREY: RGBColor = RGBColor(110, 110, 110);
pub(crate) const OLIVE: RGBColor = RGBColor(160, 160, 30);

/// DejaVu Sans, regular, at `size` pixels.
pub(crate) fn font(size: u32) -> FontDesc<'static> {
    FontDesc::new(FontFamily::Name(FAMILY), f64::from(size), FontStyle::Normal)
}

/// DejaVu Sans, bold, at `size` pixels (titles are `bold(20)`, panel captions
/// `bold(15)`).
pub(crate) fn bold(size: u32) -> FontDesc<'static> {
    FontDesc::new(FontFamily::Name(FAMILY), f64::from(size), FontStyle::Bold)
}

/// Regular text of `size` and `color`, anchored at its `h`/`v` edge.
pub(crate) fn anchored(size: u32, color: RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
    TextStyle {
        font: font(size),
        color: color.to_backend_color(),
        pos: Pos::new(h, v),
    }
}

// ---------------------------------------------------------------------------------------
// Numbers and time units

/// A unit for times on an axis, picked so that numbers stay short.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct TimeUnit {
    /// Unit name: `s`, `ms`, `µs` or `ns`.
    pub name: &'static str,
    /// Nanoseconds per unit.
    pub ns: f64,
}

/// The unit for times up to `max_ns`: the largest of s, ms and µs of which `max_ns`
/// holds at least 2, else ns. Integer nanoseconds convert exactly below 2^53, so
/// `time_unit(n as f64)` makes the same choice as comparing `n` itself.
pub(crate) fn time_unit(max_ns: f64) -> TimeUnit {
    let (name, ns) = if max_ns >= 2e9 {
        ("s", 1e9)
    } else if max_ns >= 2e6 {
        ("ms", 1e6)
    } else if max_ns >= 2e3 {
        ("µs", 1e3)
    } else {
        ("ns", 1.0)
    };
    TimeUnit { name, ns }
}

impl TimeUnit {
    /// `ns` nanoseconds in this unit.
    pub(crate) fn of(self, ns: f64) -> f64 {
        ns / self.ns
    }
}

/// A short tick or legend number: at most 3 decimals, trailing zeros removed.
pub(crate) fn number(value: f64) -> String {
    let text = if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else if value.abs() >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    };
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    if text == "-0" { "0".to_string() } else { text }
}

/// A duration in nanoseconds in a short human form, e.g. `16.6 ms`.
pub(crate) fn human_ns(ns: f64) -> String {
    let unit = time_unit(ns.abs());
    format!("{} {}", number(unit.of(ns)), unit.name)
}

/// A percentage with one decimal, e.g. `28.3%`.
pub(crate) fn percent(ratio: f64) -> String {
    format!("{:.1}%", ratio * 100.0)
}

/// An upper axis bound a little above `max`, never zero.
pub(crate) fn headroom(max: f64) -> f64 {
    if max > 0.0 { max * 1.08 } else { 1.0 }
}

// ---------------------------------------------------------------------------------------
// Panels, header and legend

/// What a drawing function returns.
pub(crate) type DrawResult<DB> =
    Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// A titled panel that says there is nothing to draw and why.
pub(crate) fn no_data<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    why: &str,
) -> DrawResult<DB> {
    let (width, height) = root.dim_in_pixel();
    let (width, height) = (width as i32, height as i32);
    root.draw(&Text::new(
        title.to_string(),
        (width / 2, 24),
        TextStyle::from(bold(20)).pos(Pos::new(HPos::Center, VPos::Center)),
    ))?;
    root.draw(&Rectangle::new(
        [(40, 60), (width - 40, height - 40)],
        ShapeStyle::from(&GREY).stroke_width(1),
    ))?;
    root.draw(&Text::new(
        "no data".to_string(),
        (width / 2, height / 2 - 16),
        anchored(28, GREY, HPos::Center, VPos::Center),
    ))?;
    root.draw(&Text::new(
        why.to_string(),
        (width / 2, height / 2 + 20),
        anchored(16, GREY, HPos::Center, VPos::Center),
    ))
}

/// How a legend entry is drawn.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Mark {
    /// A line of this colour and width.
    Line(RGBColor, u32),
    /// A filled box of this colour and opacity.
    Area(RGBColor, f64),
    /// An X.
    Cross(RGBColor),
    /// A dashed line of this colour and width.
    Dashed(RGBColor, u32),
}

fn draw_mark<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    mark: Mark,
    (x, y): (i32, i32),
) -> DrawResult<DB> {
    match mark {
        Mark::Line(color, width) => area.draw(&PathElement::new(
            vec![(x, y), (x + 24, y)],
            color.stroke_width(width),
        )),
        Mark::Area(color, opacity) => area.draw(&Rectangle::new(
            [(x + 2, y - 7), (x + 22, y + 7)],
            color.mix(opacity).filled(),
        )),
        Mark::Cross(color) => area.draw(&cross((x + 12, y), color)),
        Mark::Dashed(color, width) => {
            for segment in dashes((x, y), (x + 24, y)) {
                area.draw(&PathElement::new(segment, color.stroke_width(width)))?;
            }
            Ok(())
        }
    }
}

/// Draws the title, an optional subtitle and a legend (centred rows, wrapped to the
/// width) at the top of `root`; returns the area left for the chart.
pub(crate) fn header<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: Option<&str>,
    legend: &[(String, Mark)],
) -> Result<DrawingArea<DB, Shift>, DrawingAreaErrorKind<DB::ErrorType>> {
    let (width, _) = root.dim_in_pixel();
    let width = width as i32;
    root.draw(&Text::new(
        title.to_string(),
        (width / 2, 10),
        TextStyle::from(bold(20)).pos(Pos::new(HPos::Center, VPos::Top)),
    ))?;
    let mut y = 40;
    if let Some(subtitle) = subtitle {
        root.draw(&Text::new(
            subtitle.to_string(),
            (width / 2, y),
            anchored(14, GREY, HPos::Center, VPos::Top),
        ))?;
        y += 22;
    }
    // Lay the legend out in rows no wider than the chart.
    let style = anchored(14, BLACK, HPos::Left, VPos::Center);
    let mut rows: Vec<Vec<(&str, Mark, i32)>> = vec![Vec::new()];
    let mut row_width = 0;
    for (label, mark) in legend {
        let text_width = root.estimate_text_size(label, &style)?.0 as i32;
        let entry_width = 30 + text_width + 24;
        if row_width + entry_width > width - 60 && row_width > 0 {
            rows.push(Vec::new());
            row_width = 0;
        }
        row_width += entry_width;
        rows.last_mut()
            .expect("rows start non-empty")
            .push((label, *mark, entry_width));
    }
    if !legend.is_empty() {
        y += 6;
        for row in rows {
            let total: i32 = row.iter().map(|(_, _, entry_width)| entry_width).sum();
            let mut x = (width - total) / 2;
            for (label, mark, entry_width) in row {
                draw_mark(root, mark, (x, y + 8))?;
                root.draw(&Text::new(
                    label.to_string(),
                    (x + 30, y + 8),
                    style.clone(),
                ))?;
                x += entry_width;
            }
            y += 22;
        }
    }
    Ok(root.split_vertically(y + 4).1)
}

/// The usual mesh: faint major grid lines, no minor ones, readable labels.
macro_rules! mesh {
    ($chart:expr) => {
        $chart
            .configure_mesh()
            .label_style($crate::style::font(13))
            .axis_desc_style($crate::style::font(15))
            .bold_line_style(::plotters::style::RGBColor(225, 225, 225))
            .max_light_lines(0)
    };
}
pub(crate) use mesh;

// ---------------------------------------------------------------------------------------
// Shapes

/// The dashes (6 pixels on, 4 off) of a line from `from` to `to`, in pixels.
pub(crate) fn dashes(from: (i32, i32), to: (i32, i32)) -> Vec<Vec<(i32, i32)>> {
    let (dx, dy) = (f64::from(to.0 - from.0), f64::from(to.1 - from.1));
    let length = (dx * dx + dy * dy).sqrt();
    if length < 1.0 {
        return vec![vec![from, to]];
    }
    let at = |distance: f64| {
        let t = (distance / length).min(1.0);
        (
            (f64::from(from.0) + dx * t).round() as i32,
            (f64::from(from.1) + dy * t).round() as i32,
        )
    };
    let mut segments = Vec::new();
    let mut distance = 0.0;
    while distance < length {
        segments.push(vec![at(distance), at(distance + 6.0)]);
        distance += 10.0;
    }
    segments
}

/// An X of 5 pixels' reach around `at`.
pub(crate) fn cross(at: (i32, i32), color: RGBColor) -> PathElement<(i32, i32)> {
    let r = 5;
    PathElement::new(
        vec![
            (at.0 - r, at.1 - r),
            (at.0 + r, at.1 + r),
            at,
            (at.0 + r, at.1 - r),
            (at.0 - r, at.1 + r),
        ],
        color.stroke_width(2),
    )
}

/// A labelled vertical line at a value (mean, median, p99): legend text, value, colour.
pub(crate) type ValueMark = (String, f64, RGBColor);

/// Legend entries for `marks`, as lines of width 2.
pub(crate) fn value_mark_legend(marks: &[ValueMark]) -> impl Iterator<Item = (String, Mark)> {
    marks
        .iter()
        .map(|(label, _, color)| (label.clone(), Mark::Line(*color, 2)))
}

/// Draws `marks` as vertical lines of width 2 from 0 to `y_max`.
pub(crate) fn draw_value_marks<DB: DrawingBackend, X, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
    marks: &[ValueMark],
    y_max: f64,
) -> DrawResult<DB>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for (_, value, color) in marks {
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(*value, 0.0), (*value, y_max)],
            color.stroke_width(2),
        )))?;
    }
    Ok(())
}

/// Draws histogram bars (corner pairs, in drawing order) as ordered rectangles with
/// thin white edges to keep neighbouring bars apart. Ordered rectangles, because
/// plotters' `Histogram` series collects its bars in a `HashMap` and its output would
/// change from run to run.
pub(crate) fn draw_bars<DB: DrawingBackend, X, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
    bars: &[[(f64, f64); 2]],
    color: RGBColor,
) -> DrawResult<DB>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    chart.draw_series(
        bars.iter()
            .map(|corners| Rectangle::new(*corners, color.mix(0.75).filled())),
    )?;
    chart.draw_series(
        bars.iter()
            .map(|corners| Rectangle::new(*corners, WHITE.stroke_width(1))),
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Figures: one drawing, to SVG and PNG

/// A chart that draws itself on any plotters backend, so the SVG and the PNG come from
/// the same drawing code.
pub(crate) trait Figure {
    /// Pixel size (width, height).
    fn size(&self) -> (u32, u32);

    /// Draws on `root`, which is already filled white.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB>;
}

fn draw_on<DB: DrawingBackend>(
    figure: &impl Figure,
    root: &DrawingArea<DB, Shift>,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    figure.draw(root)?;
    root.present()
}

/// Draws `figure` as an SVG document.
pub(crate) fn render_svg(figure: &impl Figure) -> Result<String, String> {
    register_fonts();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, figure.size()).into_drawing_area();
        draw_on(figure, &root).map_err(|error| error.to_string())?;
    }
    Ok(svg)
}

/// Draws `figure` as a PNG file at `path`, atomically (temporary name, then rename).
/// The picture is drawn and encoded in memory (by the same encoder, with the same
/// settings, as plotters' own file writer, so the bytes are the same) and written by
/// [`write_file_atomically`], because plotters' file writer drops its buffered writer
/// unflushed: a full disk would leave a truncated PNG and no error.
pub(crate) fn write_png(figure: &impl Figure, path: &Path) -> Result<(), ReportError> {
    register_fonts();
    let (width, height) = figure.size();
    let mut pixels = vec![0u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        draw_on(figure, &root).map_err(|error| ReportError::chart(path, error.to_string()))?;
    }
    let mut png = std::io::Cursor::new(Vec::new());
    image::write_buffer_with_format(
        &mut png,
        &pixels,
        width,
        height,
        image::ColorType::Rgb8,
        image::ImageFormat::Png,
    )
    .map_err(|error| ReportError::chart(path, format!("the PNG could not be encoded: {error}")))?;
    write_file_atomically(path, &png.into_inner())
}

/// Writes `<stem>.svg` and `<stem>.png` into `dir` and appends their paths to `files`;
/// returns the SVG text, for the HTML page that inlines it.
pub(crate) fn write_figure(
    dir: &Path,
    stem: &str,
    figure: &impl Figure,
    files: &mut Vec<PathBuf>,
) -> Result<String, ReportError> {
    let svg_path = dir.join(format!("{stem}.svg"));
    let svg = render_svg(figure).map_err(|message| ReportError::chart(&svg_path, message))?;
    write_file_atomically(&svg_path, svg.as_bytes())?;
    files.push(svg_path);
    let png_path = dir.join(format!("{stem}.png"));
    write_png(figure, &png_path)?;
    files.push(png_path);
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_disk_while_writing_a_png_reads_as_an_io_error() {
        /// A figure with nothing on it but the white background.
        struct Blank;

        impl Figure for Blank {
            fn size(&self) -> (u32, u32) {
                (40, 30)
            }

            fn draw<DB: DrawingBackend>(&self, _root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
                Ok(())
            }
        }

        // /dev/full fails every write with ENOSPC: the PNG's temporary file is made a
        // link to it, as if the disk filled up while the chart was saved.
        if !Path::new("/dev/full").exists() {
            eprintln!("skipped: no /dev/full on this system");
            return;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("chart.png");
        let temporary = crate::write::temporary_path(&path);
        std::os::unix::fs::symlink("/dev/full", temporary).expect("link");
        let error = write_png(&Blank, &path).expect_err("the disk is full");
        let message = error.to_string();
        // Before, the message was plotters' Debug text, e.g. `ImageError(IoError(Os {`.
        assert!(message.contains("No space left on device"), "{message}");
        assert!(message.starts_with("cannot write "), "{message}");
        assert!(
            !message.contains("Os {") && !message.contains("Error("),
            "{message}"
        );
        assert!(!path.exists(), "no half-written chart is left");
    }

    #[test]
    fn tick_numbers_are_short() {
        assert_eq!(number(1.5), "1.5");
        assert_eq!(number(250.0), "250");
        assert_eq!(number(0.125), "0.125");
        assert_eq!(number(12.34), "12.3");
        assert_eq!(number(-0.0001), "0");
    }

    #[test]
    fn time_units_switch_at_two_of_the_larger_unit() {
        // A unit switch one nanosecond early or late would move every axis label.
        assert_eq!(time_unit(1_999.0).name, "ns");
        assert_eq!(time_unit(2_000.0).name, "µs");
        assert_eq!(time_unit(1_999_999.0).name, "µs");
        assert_eq!(time_unit(2_000_000.0).name, "ms");
        assert_eq!(time_unit(1_999_999_999.0).name, "ms");
        assert_eq!(time_unit(2_000_000_000.0).name, "s");
    }

    #[test]
    fn human_durations_pick_a_short_unit() {
        assert_eq!(human_ns(16_568_340.0), "16.6 ms");
        assert_eq!(human_ns(1_500.0), "1500 ns");
        assert_eq!(human_ns(2_500_000_000.0), "2.5 s");
    }

    #[test]
    fn short_lines_are_one_dash_and_long_ones_alternate() {
        // 6 pixels on, 4 off: a 25-pixel line has dashes starting at 0, 10 and 20.
        assert_eq!(
            dashes((0, 0), (25, 0)),
            vec![
                vec![(0, 0), (6, 0)],
                vec![(10, 0), (16, 0)],
                vec![(20, 0), (25, 0)]
            ]
        );
        assert_eq!(dashes((3, 3), (3, 3)), vec![vec![(3, 3), (3, 3)]]);
    }
}
