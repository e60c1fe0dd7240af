//! Cross-seed results: the table of a sweep ([`SweepTable`], the rows of `sweep.csv`),
//! its statistics ([`SweepStats`]), the sweep report and the comparison of several
//! sweeps.
//!
//! [`write_sweep_report`] writes, next to the caller's `sweep.csv`, the charts
//! `sweep_violations`, `sweep_formula` and `sweep_latency` (SVG and PNG) and
//! `sweep.html`; [`write_comparison`] writes `comparison.csv` ([`COMPARISON_COLUMNS`]),
//! the chart `comparison.svg` / `.png` and `compare.html` for several labelled sweeps.
//! The crate documentation's second table says what each file shows.
//!
//! Statistics across seeds follow [`crate::metrics`]: medians by nearest rank over the
//! seeds that have a value, the formula's mean over the seeds that have one. Every file
//! is written atomically and is byte-identical for equal tables.

use crate::error::ReportError;
use crate::metrics::{format_ratio, nearest_rank};
use crate::page::{PAGE_END, escape_html, figure, or_dash, page_start, value_row};
use crate::style::{human_ns, percent, write_figure};
use crate::sweep_charts::{COMPARISON_CAPTION, SweepChart, SweepChartInput, SweepFigure, mean_f64};
use crate::write::{write_csv_atomically, write_file_atomically};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::fs;
use std::path::{Path, PathBuf};

/// A sweep table: the header and rows of `sweep.csv`, sorted by seed.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepTable {
    /// Column names.
    pub header: Vec<String>,
    /// One row per seed.
    pub rows: Vec<Vec<String>>,
}

impl SweepTable {
    /// A table from its header and rows (rows are kept in the given order).
    pub fn new(header: Vec<String>, rows: Vec<Vec<String>>) -> SweepTable {
        SweepTable { header, rows }
    }

    /// The index of column `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|column| column == name)
    }

    /// The values of column `name` that parse as `T` (empty cells and absent columns
    /// give nothing).
    pub fn parsed<T: std::str::FromStr>(&self, name: &str) -> Vec<T> {
        let Some(index) = self.column(name) else {
            return Vec::new();
        };
        self.rows
            .iter()
            .filter_map(|row| row.get(index)?.parse().ok())
            .collect()
    }
}

/// Statistics over the seeds of one sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepStats {
    /// Seeds in the table.
    pub seeds: usize,
    /// Seeds with at least one violation.
    pub violating: usize,
    /// `violating / seeds` (0 when there are no seeds).
    pub violation_rate: f64,
    /// The formula's name (`T`, `L`, `R`, `f(x)`), from the first row.
    pub formula: String,
    /// Per-seed formula values (seeds with a value).
    pub formula_values: Vec<f64>,
    /// Per-seed p50 latencies, sorted.
    pub p50_ns: Vec<u64>,
    /// Per-seed p99 latencies, sorted.
    pub p99_ns: Vec<u64>,
    /// Virtual time of the first violation, per violating seed, sorted.
    pub first_violation_ns: Vec<u64>,
}

impl SweepStats {
    /// The statistics of `table`.
    pub fn of(table: &SweepTable) -> SweepStats {
        let violations: Vec<u64> = table.parsed("violations");
        let violating = violations.iter().filter(|&&v| v > 0).count();
        let seeds = table.rows.len();
        let formula = table
            .column("formula")
            .and_then(|i| table.rows.first()?.get(i).cloned())
            .unwrap_or_default();
        let mut p50_ns: Vec<u64> = table.parsed("latency_p50_ns");
        let mut p99_ns: Vec<u64> = table.parsed("latency_p99_ns");
        let mut first_violation_ns: Vec<u64> = table.parsed("first_violation_ns");
        p50_ns.sort_unstable();
        p99_ns.sort_unstable();
        first_violation_ns.sort_unstable();
        SweepStats {
            seeds,
            violating,
            violation_rate: if seeds == 0 {
                0.0
            } else {
                violating as f64 / seeds as f64
            },
            formula,
            formula_values: table.parsed("formula_value"),
            p50_ns,
            p99_ns,
            first_violation_ns,
        }
    }

    /// Median (nearest rank) of the per-seed p50 latencies.
    pub fn median_p50_ns(&self) -> Option<u64> {
        nearest_rank(&self.p50_ns, 50)
    }

    /// Median (nearest rank) of the per-seed p99 latencies.
    pub fn median_p99_ns(&self) -> Option<u64> {
        nearest_rank(&self.p99_ns, 50)
    }

    /// Median (nearest rank) virtual time to the first violation.
    pub fn median_first_violation_ns(&self) -> Option<u64> {
        nearest_rank(&self.first_violation_ns, 50)
    }

    /// Mean of the formula values.
    pub fn mean_formula(&self) -> Option<f64> {
        mean_f64(&self.formula_values)
    }
}

/// At most this many failing seeds are listed in `sweep.html` (all are in `sweep.csv`).
pub const FAILING_SEEDS_MAX: usize = 100;

/// Writes the sweep's charts (SVG and PNG) and `sweep.html` into `dir` (created if
/// missing; the caller writes `sweep.csv` there); returns the paths written, in writing
/// order. `name` is the sweep's name (its scenario's), shown in titles. An empty table
/// gives "no data" charts, not an error.
///
/// `replay_prefix` is the command that replays one seed of the sweep, without its seed:
/// e.g. `dsim run x.toml --set protocol.variant=no-adopt`. The page lists
/// each failing seed's command as the prefix followed by ` --seed N`, and ` --swarm`
/// when the table has swarm columns (`swarm_faults`).
pub fn write_sweep_report(
    dir: &Path,
    name: &str,
    table: &SweepTable,
    replay_prefix: &str,
) -> Result<Vec<PathBuf>, ReportError> {
    fs::create_dir_all(dir).map_err(|error| ReportError::io(dir, error))?;
    let stats = SweepStats::of(table);
    let checks = check_counts(table);
    let input = SweepChartInput {
        name,
        stats: &stats,
        checks: checks.as_deref(),
        has_first_violation_column: table.column(FIRST_VIOLATION_NS).is_some(),
    };
    let mut files = Vec::new();
    let mut svgs = Vec::new();
    for chart in SweepChart::ALL {
        let svg = write_figure(
            dir,
            chart.name(),
            &SweepFigure::Sweep(chart, &input),
            &mut files,
        )?;
        svgs.push((chart, svg));
    }
    let page = sweep_page(name, table, &stats, checks.as_deref(), replay_prefix, &svgs);
    let path = dir.join("sweep.html");
    write_file_atomically(&path, page.as_bytes())?;
    files.push(path);
    Ok(files)
}

/// Columns of `comparison.csv`, one row per compared sweep.
pub const COMPARISON_COLUMNS: [&str; 9] = [
    "label",
    "seeds",
    "violating_seeds",
    "violation_rate",
    "latency_p50_ns_median",
    "latency_p99_ns_median",
    "formula",
    "formula_value_mean",
    "first_violation_ns_median",
];

/// The `comparison.csv` row of one labelled sweep: counts as integers, the rate and
/// the formula's mean with 6 decimals, medians (nearest rank) in nanoseconds, and empty
/// cells where no seed had a value.
pub fn comparison_row(label: &str, stats: &SweepStats) -> Vec<String> {
    let optional = |value: Option<u64>| value.map_or(String::new(), |v| v.to_string());
    vec![
        label.to_string(),
        stats.seeds.to_string(),
        stats.violating.to_string(),
        format_ratio(stats.violation_rate),
        optional(stats.median_p50_ns()),
        optional(stats.median_p99_ns()),
        stats.formula.clone(),
        stats.mean_formula().map_or(String::new(), format_ratio),
        optional(stats.median_first_violation_ns()),
    ]
}

/// Writes `comparison.csv`, the chart `comparison.svg` / `.png` and `compare.html`
/// for several labelled sweeps into `dir` (created if missing); returns the paths
/// written, in writing order. Rows keep the order of `sweeps`.
pub fn write_comparison(
    dir: &Path,
    sweeps: &[(String, SweepStats)],
) -> Result<Vec<PathBuf>, ReportError> {
    fs::create_dir_all(dir).map_err(|error| ReportError::io(dir, error))?;
    let mut files = Vec::new();
    let path = dir.join("comparison.csv");
    write_csv_atomically(
        &path,
        &COMPARISON_COLUMNS,
        sweeps
            .iter()
            .map(|(label, stats)| comparison_row(label, stats)),
    )?;
    files.push(path);
    let svg = write_figure(
        dir,
        "comparison",
        &SweepFigure::Comparison(sweeps),
        &mut files,
    )?;
    let page = compare_page(sweeps, &svg);
    let path = dir.join("compare.html");
    write_file_atomically(&path, page.as_bytes())?;
    files.push(path);
    Ok(files)
}

const FIRST_VIOLATION_NS: &str = "first_violation_ns";
const FIRST_VIOLATION_CHECK: &str = "first_violation_check";

/// Per check name (in name order), how many seeds violated it first; `None` when the
/// table has no `first_violation_check` column.
fn check_counts(table: &SweepTable) -> Option<Vec<(String, usize)>> {
    let index = table.column(FIRST_VIOLATION_CHECK)?;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for row in &table.rows {
        if let Some(check) = row.get(index).filter(|check| !check.is_empty()) {
            *counts.entry(check.as_str()).or_default() += 1;
        }
    }
    Some(
        counts
            .into_iter()
            .map(|(check, count)| (check.to_string(), count))
            .collect(),
    )
}

/// The cell of `row` in column `index`, or "" when absent.
fn cell(row: &[String], index: Option<usize>) -> &str {
    index.and_then(|i| row.get(i)).map_or("", String::as_str)
}

/// The distinct non-empty values of column `name`, in order of first appearance.
fn distinct(table: &SweepTable, name: &str) -> Vec<String> {
    let index = table.column(name);
    let mut values: Vec<String> = Vec::new();
    for row in &table.rows {
        let value = cell(row, index);
        if !value.is_empty() && !values.iter().any(|known| known == value) {
            values.push(value.to_string());
        }
    }
    values
}

/// Rows of seeds that violated a check: `violations > 0`, or (without that column) a
/// non-empty `first_violation_check`; by seed (rows without a numeric seed last, in
/// table order), so that the page does not depend on the order rows were collected in
/// (a sweep's journal holds them in completion order).
fn failing_rows(table: &SweepTable) -> Vec<&Vec<String>> {
    let violations = table.column("violations");
    let check = table.column(FIRST_VIOLATION_CHECK);
    let seed = table.column("seed");
    let mut rows: Vec<&Vec<String>> = table
        .rows
        .iter()
        .filter(|row| match violations {
            Some(_) => cell(row, violations).parse::<u64>().is_ok_and(|v| v > 0),
            None => !cell(row, check).is_empty(),
        })
        .collect();
    rows.sort_by_key(|row| {
        cell(row, seed)
            .parse::<u64>()
            .map_or((1, 0), |seed| (0, seed))
    });
    rows
}

/// "seeds 1..=60" for a contiguous range, "60 seeds between 1 and 120" otherwise.
fn seed_range(table: &SweepTable) -> String {
    let mut seeds: Vec<u64> = table.parsed("seed");
    seeds.sort_unstable();
    seeds.dedup();
    match (seeds.first(), seeds.last()) {
        (Some(first), Some(last)) if last - first + 1 == seeds.len() as u64 => {
            format!("seeds {first}..={last}")
        }
        (Some(first), Some(last)) => format!("seeds between {first} and {last}, not contiguous"),
        _ => "no seeds".to_string(),
    }
}

/// A duration cell: human form and the exact nanoseconds, or a dash.
fn duration_cell(ns: Option<u64>) -> String {
    match ns {
        Some(ns) => format!("{} ({ns} ns)", human_ns(ns as f64)),
        None => "—".to_string(),
    }
}

/// The formula's mean: a duration for T, L and R, a plain number otherwise.
fn formula_cell(stats: &SweepStats) -> String {
    match stats.mean_formula() {
        Some(mean) if matches!(stats.formula.as_str(), "T" | "L" | "R") => {
            format!("{} ({mean:.0} ns)", human_ns(mean))
        }
        Some(mean) => format_ratio(mean),
        None => "—".to_string(),
    }
}

/// Width of the sweep pages' text column: the sweep charts are 1200 pixels wide.
const PAGE_WIDTH_PX: u32 = 1250;

/// Renders `sweep.html`; `replay_prefix` is a seed's replay command without `--seed N`.
fn sweep_page(
    name: &str,
    table: &SweepTable,
    stats: &SweepStats,
    checks: Option<&[(String, usize)]>,
    replay_prefix: &str,
    svgs: &[(SweepChart, String)],
) -> String {
    let e = escape_html;
    let mut page = page_start(&format!("dsim sweep: {name}"), PAGE_WIDTH_PX);
    let _ = writeln!(page, "<h1>Sweep {}</h1>", e(name));
    let protocols = distinct(table, "protocol");
    let variants = distinct(table, "variant");
    let _ = writeln!(
        page,
        "<p>Protocol <b>{}</b>, variant <b>{}</b>: <b>{}</b> seed{} ({}), one run per seed; \
         one row per seed in <a href=\"sweep.csv\">sweep.csv</a>.</p>",
        e(&or_dash(&protocols.join(", "))),
        e(&or_dash(&variants.join(", "))),
        stats.seeds,
        if stats.seeds == 1 { "" } else { "s" },
        e(&seed_range(table)),
    );
    if stats.violating == 0 {
        let _ = writeln!(
            page,
            "<p class=\"verdict held\">Violation rate 0%: all {} seeds held every check.</p>",
            stats.seeds
        );
    } else {
        let _ = writeln!(
            page,
            "<p class=\"verdict violated\">Violation rate {}: {} of {} seeds violated a check; \
             see <a href=\"#failing\">Failing seeds</a>.</p>",
            percent(stats.violation_rate),
            stats.violating,
            stats.seeds
        );
    }

    page.push_str("<h2>Statistics across seeds</h2>\n");
    page.push_str(
        "<table id=\"stats\">\n<thead><tr><th>statistic</th><th>value</th><th>meaning</th></tr></thead>\n<tbody>\n",
    );
    value_row(
        &mut page,
        "seeds",
        &stats.seeds.to_string(),
        "runs in the sweep, one per seed",
    );
    value_row(
        &mut page,
        "violating seeds",
        &stats.violating.to_string(),
        "seeds whose run broke at least one invariant (violations > 0)",
    );
    value_row(
        &mut page,
        "violation rate",
        &format!(
            "{} ({})",
            percent(stats.violation_rate),
            format_ratio(stats.violation_rate)
        ),
        "violating seeds / seeds",
    );
    value_row(
        &mut page,
        "median p50 latency",
        &duration_cell(stats.median_p50_ns()),
        &format!(
            "median (nearest rank) of latency_p50_ns over the {} seeds with ok operations",
            stats.p50_ns.len()
        ),
    );
    value_row(
        &mut page,
        "median p99 latency",
        &duration_cell(stats.median_p99_ns()),
        &format!(
            "median (nearest rank) of latency_p99_ns over the {} seeds with ok operations",
            stats.p99_ns.len()
        ),
    );
    let formula = if stats.formula.is_empty() {
        "—"
    } else {
        stats.formula.as_str()
    };
    value_row(
        &mut page,
        &format!("mean formula value ({formula})"),
        &formula_cell(stats),
        &format!(
            "mean of formula_value over the {} seeds that have one",
            stats.formula_values.len()
        ),
    );
    value_row(
        &mut page,
        "median time to first violation",
        &duration_cell(stats.median_first_violation_ns()),
        "median (nearest rank) of first_violation_ns, the virtual time of each violating seed's first violation",
    );
    page.push_str("</tbody>\n</table>\n");
    if let Some(checks) = checks.filter(|checks| !checks.is_empty()) {
        page.push_str(
            "<p>First violated check, per violating seed:</p>\n<table id=\"checks\">\n\
             <thead><tr><th>check</th><th>seeds</th></tr></thead>\n<tbody>\n",
        );
        for (check, count) in checks {
            let _ = writeln!(
                page,
                "<tr><td>{}</td><td class=\"value\">{count}</td></tr>",
                e(check)
            );
        }
        page.push_str("</tbody>\n</table>\n");
    }

    page.push_str("<h2>Charts</h2>\n");
    for (chart, svg) in svgs {
        figure(&mut page, chart.name(), chart.caption(), svg);
    }

    let failing = failing_rows(table);
    if !failing.is_empty() {
        let seed = table.column("seed");
        let check = table.column(FIRST_VIOLATION_CHECK);
        let time = table.column(FIRST_VIOLATION_NS);
        let swarm = if table.column("swarm_faults").is_some() {
            " --swarm"
        } else {
            ""
        };
        page.push_str("<h2 id=\"failing\">Failing seeds</h2>\n");
        let _ = writeln!(
            page,
            "<p>{}Replay one with <code>{} --seed N{swarm}</code>; the last column gives each \
             seed's command.</p>",
            if failing.len() > FAILING_SEEDS_MAX {
                format!(
                    "The first {FAILING_SEEDS_MAX} of {} failing seeds (all are in sweep.csv). ",
                    failing.len()
                )
            } else {
                String::new()
            },
            e(replay_prefix)
        );
        page.push_str(
            "<table id=\"failing-seeds\">\n<thead><tr><th>seed</th><th>first violated check</th>\
             <th>first violation at</th><th>first_violation_ns</th><th>replay</th></tr></thead>\n<tbody>\n",
        );
        for row in failing.iter().take(FAILING_SEEDS_MAX) {
            let seed = cell(row, seed);
            let time_ns = cell(row, time);
            let human = time_ns
                .parse::<u64>()
                .map_or("—".to_string(), |ns| human_ns(ns as f64));
            let _ = writeln!(
                page,
                "<tr><td class=\"value\">{}</td><td>{}</td><td>{}</td><td class=\"value\">{}</td>\
                 <td><code>{}</code></td></tr>",
                e(seed),
                e(&or_dash(cell(row, check))),
                e(&human),
                e(&or_dash(time_ns)),
                e(&format!("{replay_prefix} --seed {seed}{swarm}")),
            );
        }
        page.push_str("</tbody>\n</table>\n");
    }

    page.push_str("<h2>Files</h2>\n<p class=\"files\"><a href=\"sweep.csv\">sweep.csv</a> ");
    for (chart, _) in svgs {
        let name = chart.name();
        let _ = write!(
            page,
            "<a href=\"{name}.svg\">{name}.svg</a> <a href=\"{name}.png\">{name}.png</a> "
        );
    }
    page.push_str("</p>\n<p>Every file is byte-identical when the same sweep runs again.</p>\n");
    page.push_str(PAGE_END);
    page
}

/// Renders `compare.html`.
fn compare_page(sweeps: &[(String, SweepStats)], svg: &str) -> String {
    let e = escape_html;
    let mut page = page_start("dsim comparison", PAGE_WIDTH_PX);
    let _ = writeln!(
        page,
        "<h1>Comparison of {} sweep{}</h1>",
        sweeps.len(),
        if sweeps.len() == 1 { "" } else { "s" }
    );
    page.push_str(
        "<p>One row per sweep. Latencies are medians (nearest rank) across seeds of each \
         seed's p50 or p99 latency of ok operations; the formula value is the mean across \
         seeds. Exact figures are in <a href=\"comparison.csv\">comparison.csv</a>.</p>\n",
    );
    page.push_str(
        "<table id=\"comparison\">\n<thead><tr><th>label</th><th>seeds</th><th>violating seeds</th>\
         <th>violation rate</th><th>median p50 latency</th><th>median p99 latency</th>\
         <th>formula</th><th>mean formula value</th><th>median time to first violation</th></tr></thead>\n<tbody>\n",
    );
    for (label, stats) in sweeps {
        let _ = writeln!(
            page,
            "<tr><th>{}</th><td class=\"value\">{}</td><td class=\"value\">{}</td><td class=\"value\">{}</td>\
             <td class=\"value\">{}</td><td class=\"value\">{}</td><td>{}</td><td class=\"value\">{}</td>\
             <td class=\"value\">{}</td></tr>",
            e(label),
            stats.seeds,
            stats.violating,
            percent(stats.violation_rate),
            e(&duration_cell(stats.median_p50_ns())),
            e(&duration_cell(stats.median_p99_ns())),
            e(&or_dash(&stats.formula)),
            e(&formula_cell(stats)),
            e(&duration_cell(stats.median_first_violation_ns())),
        );
    }
    page.push_str("</tbody>\n</table>\n<h2>Chart</h2>\n");
    figure(&mut page, "comparison", COMPARISON_CAPTION, svg);
    page.push_str(
        "<h2>Files</h2>\n<p class=\"files\"><a href=\"comparison.csv\">comparison.csv</a> \
         <a href=\"comparison.svg\">comparison.svg</a> <a href=\"comparison.png\">comparison.png</a></p>\n",
    );
    page.push_str(PAGE_END);
    page
}
