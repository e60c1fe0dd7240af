//! Load sweeps (`dsim sweep --vary KEY=V1,V2,...`): one sweep per value of a key,
//! summarised as `vary.csv` ([`VARY_COLUMNS`], one row per value), the charts
//! `vary_latency` and `vary_throughput` (SVG and PNG) and `vary.html`.
//!
//! Every figure of a row is computed per seed from that value's `sweep.csv` and then
//! averaged over the seeds that have it (latencies: the mean rounded to a whole
//! nanosecond; rates and ratios: 6 decimals); `_min` and `_max` columns give the spread
//! over those seeds. Latency percentiles are therefore the mean of the per-seed
//! nearest-rank percentiles, not percentiles of the pooled latencies.
//! - `offered_per_s`: the configured rate of all clients (`workload.rate`) when the
//!   scenario has clients and a rate (`offered_source` = `configured`), else the
//!   measured rate of operations that completed (ok or failed) per virtual second
//!   (`measured`).
//! - `throughput_per_s`: completed operations (ok + failed) per virtual second;
//!   `goodput_per_s`: ok operations per virtual second; `ok_ratio`: ok / completed.
//! - The knee: ordering the values by offered load, the first whose mean p99 latency
//!   exceeds twice the mean p99 at the lowest offered load (`knee` = `yes` on that row).

use crate::error::ReportError;
use crate::metrics::format_ratio;
use crate::page::{PAGE_END, escape_html, figure, page_start};
use crate::style::write_figure;
use crate::sweep::SweepTable;
use crate::sweep_charts::{VARY_LATENCY_CAPTION, VARY_THROUGHPUT_CAPTION, VaryFigure};
use crate::write::{write_csv_atomically, write_file_atomically};
use std::fmt::Write;
use std::fs;
use std::path::{Path, PathBuf};

/// The per-seed column with the 99.9th percentile latency of ok operations (appended
/// to the sweep rows after the summary columns).
pub const P999_COLUMN: &str = "latency_p999_ns";

/// The nearest-rank 99.9th percentile of `latencies_ns` (any order): the value at
/// 1-based rank `ceil(999 / 1000 * N)`; `None` for no values.
pub fn p999_ns(latencies_ns: &[u64]) -> Option<u64> {
    if latencies_ns.is_empty() {
        return None;
    }
    let mut sorted = latencies_ns.to_vec();
    sorted.sort_unstable();
    let rank = (999 * sorted.len() as u128).div_ceil(1000).max(1);
    Some(sorted[(rank - 1) as usize])
}

/// One value of a load sweep: its `--set` value, its configured offered load and its
/// sweep table.
#[derive(Clone, Debug)]
pub struct VaryPoint {
    /// The value, as given after `KEY=`.
    pub value: String,
    /// The configured rate of all clients, when the scenario has clients and a rate.
    pub configured_offered_per_s: Option<f64>,
    /// That value's `sweep.csv`.
    pub table: SweepTable,
}

/// A figure over seeds: the mean and the spread.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// Mean over the seeds with a value.
    pub mean: f64,
    /// Smallest per-seed value.
    pub min: f64,
    /// Largest per-seed value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`; `None` when empty.
    pub fn of(values: &[f64]) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        let sum: f64 = values.iter().sum();
        Some(Spread {
            mean: sum / values.len() as f64,
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }
}

/// One row of `vary.csv`, before formatting.
#[derive(Clone, Debug, PartialEq)]
pub struct VaryRow {
    /// The value.
    pub value: String,
    /// Seeds in its sweep.
    pub seeds: usize,
    /// Offered load per second (configured, or the mean measured rate).
    pub offered_per_s: Option<f64>,
    /// `configured` or `measured`.
    pub offered_source: &'static str,
    /// Completed operations per virtual second.
    pub throughput_per_s: Option<Spread>,
    /// Ok operations per virtual second.
    pub goodput_per_s: Option<Spread>,
    /// Ok over completed operations.
    pub ok_ratio: Option<Spread>,
    /// Mean latency of ok operations.
    pub latency_mean_ns: Option<Spread>,
    /// p50 latency of ok operations.
    pub latency_p50_ns: Option<Spread>,
    /// p99 latency of ok operations.
    pub latency_p99_ns: Option<Spread>,
    /// p99.9 latency of ok operations.
    pub latency_p999_ns: Option<Spread>,
    /// Whether this is the knee (see the module doc).
    pub knee: bool,
}

/// The columns of `vary.csv`.
pub const VARY_COLUMNS: [&str; 27] = [
    "value",
    "seeds",
    "offered_per_s",
    "offered_source",
    "throughput_per_s",
    "throughput_per_s_min",
    "throughput_per_s_max",
    "goodput_per_s",
    "goodput_per_s_min",
    "goodput_per_s_max",
    "ok_ratio",
    "ok_ratio_min",
    "ok_ratio_max",
    "latency_mean_ns",
    "latency_mean_ns_min",
    "latency_mean_ns_max",
    "latency_p50_ns",
    "latency_p50_ns_min",
    "latency_p50_ns_max",
    "latency_p99_ns",
    "latency_p99_ns_min",
    "latency_p99_ns_max",
    "latency_p999_ns",
    "latency_p999_ns_min",
    "latency_p999_ns_max",
    "knee",
    "scenario",
];

/// Per-seed values of a column as floats, together with the per-seed rates derived
/// from the counts and the virtual time.
fn per_seed(
    table: &SweepTable,
    f: impl Fn(&dyn Fn(&str) -> Option<f64>) -> Option<f64>,
) -> Vec<f64> {
    table
        .rows
        .iter()
        .filter_map(|row| {
            let get =
                |name: &str| -> Option<f64> { row.get(table.column(name)?)?.parse::<f64>().ok() };
            f(&get)
        })
        .filter(|v| v.is_finite())
        .collect()
}

impl VaryRow {
    /// The row of one value (its knee flag is set by [`vary_rows`]).
    pub fn of(point: &VaryPoint) -> VaryRow {
        let table = &point.table;
        let seconds = |get: &dyn Fn(&str) -> Option<f64>| {
            get("virtual_time_ns")
                .filter(|&ns| ns > 0.0)
                .map(|ns| ns / 1e9)
        };
        let completed =
            |get: &dyn Fn(&str) -> Option<f64>| Some(get("ops_ok")? + get("ops_failed")?);
        let throughput = per_seed(table, |get| Some(completed(get)? / seconds(get)?));
        let goodput = per_seed(table, |get| Some(get("ops_ok")? / seconds(get)?));
        let ok_ratio = per_seed(table, |get| {
            let done = completed(get)?;
            (done > 0.0).then(|| get("ops_ok").unwrap_or(0.0) / done)
        });
        let latency = |name: &'static str| Spread::of(&per_seed(table, |get| get(name)));
        let throughput = Spread::of(&throughput);
        let (offered_per_s, offered_source) = match point.configured_offered_per_s {
            Some(rate) => (Some(rate), "configured"),
            None => (throughput.map(|t| t.mean), "measured"),
        };
        VaryRow {
            value: point.value.clone(),
            seeds: table.rows.len(),
            offered_per_s,
            offered_source,
            throughput_per_s: throughput,
            goodput_per_s: Spread::of(&goodput),
            ok_ratio: Spread::of(&ok_ratio),
            latency_mean_ns: latency("latency_mean_ns"),
            latency_p50_ns: latency("latency_p50_ns"),
            latency_p99_ns: latency("latency_p99_ns"),
            latency_p999_ns: latency(P999_COLUMN),
            knee: false,
        }
    }

    /// The `vary.csv` record ([`VARY_COLUMNS`]); `scenario` is the sweep's name.
    pub fn record(&self, scenario: &str) -> Vec<String> {
        let ratio = |v: Option<f64>| v.map_or(String::new(), format_ratio);
        let ns = |v: Option<f64>| v.map_or(String::new(), |v| format!("{}", v.round() as u64));
        let mut record = vec![
            self.value.clone(),
            self.seeds.to_string(),
            ratio(self.offered_per_s),
            self.offered_source.to_string(),
        ];
        for spread in [self.throughput_per_s, self.goodput_per_s, self.ok_ratio] {
            record.push(ratio(spread.map(|s| s.mean)));
            record.push(ratio(spread.map(|s| s.min)));
            record.push(ratio(spread.map(|s| s.max)));
        }
        for spread in [
            self.latency_mean_ns,
            self.latency_p50_ns,
            self.latency_p99_ns,
            self.latency_p999_ns,
        ] {
            record.push(ns(spread.map(|s| s.mean)));
            record.push(ns(spread.map(|s| s.min)));
            record.push(ns(spread.map(|s| s.max)));
        }
        record.push(if self.knee { "yes" } else { "" }.to_string());
        record.push(scenario.to_string());
        record
    }
}

/// The rows of `vary.csv`, in the order of `points` (the order of the `--vary` list),
/// with the knee marked.
pub fn vary_rows(points: &[VaryPoint]) -> Vec<VaryRow> {
    let mut rows: Vec<VaryRow> = points.iter().map(VaryRow::of).collect();
    if let Some(knee) = knee_index(&rows) {
        rows[knee].knee = true;
    }
    rows
}

/// The rows' indices ordered by offered load (ties and rows without a load keep the
/// list order; rows without a load come last).
pub(crate) fn by_offered_load(rows: &[VaryRow]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| {
        let load = |i: usize| rows[i].offered_per_s.unwrap_or(f64::INFINITY);
        load(a).total_cmp(&load(b))
    });
    order
}

/// The knee: in offered-load order, the first row whose mean p99 exceeds twice the mean
/// p99 of the lowest-load row that has one.
pub fn knee_index(rows: &[VaryRow]) -> Option<usize> {
    let order = by_offered_load(rows);
    let mut with_p99 = order
        .into_iter()
        .filter_map(|i| Some((i, rows[i].latency_p99_ns?.mean)));
    let (_, base) = with_p99.next()?;
    with_p99
        .find(|&(_, p99)| p99 > 2.0 * base)
        .map(|(index, _)| index)
}

/// Writes `vary.csv`, the charts `vary_latency` and `vary_throughput` (SVG and PNG)
/// and `vary.html` into `dir` (created if missing); returns the paths written, in
/// writing order. `name` is the scenario's name, `key` the varied key, and each
/// point's sweep is in `folders[i]` (relative to `dir`, linked from the page).
pub fn write_vary_report(
    dir: &Path,
    name: &str,
    key: &str,
    points: &[VaryPoint],
    folders: &[String],
) -> Result<Vec<PathBuf>, ReportError> {
    fs::create_dir_all(dir).map_err(|error| ReportError::io(dir, error))?;
    let rows = vary_rows(points);
    let mut files = Vec::new();
    let path = dir.join("vary.csv");
    write_csv_atomically(
        &path,
        &VARY_COLUMNS,
        rows.iter().map(|row| row.record(name)),
    )?;
    files.push(path);
    let latency = write_figure(
        dir,
        "vary_latency",
        &VaryFigure::Latency {
            name,
            key,
            rows: &rows,
        },
        &mut files,
    )?;
    let throughput = write_figure(
        dir,
        "vary_throughput",
        &VaryFigure::Throughput {
            name,
            key,
            rows: &rows,
        },
        &mut files,
    )?;
    let page = vary_page(name, key, &rows, folders, &latency, &throughput);
    let path = dir.join("vary.html");
    write_file_atomically(&path, page.as_bytes())?;
    files.push(path);
    Ok(files)
}

fn vary_page(
    name: &str,
    key: &str,
    rows: &[VaryRow],
    folders: &[String],
    latency_svg: &str,
    throughput_svg: &str,
) -> String {
    let e = escape_html;
    let mut page = page_start(&format!("dsim load sweep: {name}"), 1260);
    let _ = writeln!(
        page,
        "<h1>Load sweep {}: {}</h1>\n<p>{} values of <code>{}</code>, each a sweep over the \
         same seeds; one row per value in <a href=\"vary.csv\">vary.csv</a>. Figures are means \
         over seeds of per-seed figures, with their min and max.</p>",
        e(name),
        e(key),
        rows.len(),
        e(key)
    );
    match rows.iter().find(|row| row.knee) {
        Some(row) => {
            let _ = writeln!(
                page,
                "<p>Knee: <b>{} = {}</b>, the lowest offered load whose mean p99 latency is more \
                 than twice its value at the lowest load.</p>",
                e(key),
                e(&row.value)
            );
        }
        None => page.push_str(
            "<p>No knee: no value's mean p99 latency exceeds twice its value at the lowest load.</p>\n",
        ),
    }
    page.push_str(
        "<table>\n<tr><th>value</th><th>offered/s</th><th>throughput/s</th><th>goodput/s</th>\
         <th>ok ratio</th><th>p50 ns</th><th>p99 ns</th><th>p99.9 ns</th><th>sweep</th></tr>\n",
    );
    let rate = |s: Option<f64>| s.map_or("—".to_string(), |v| format!("{v:.1}"));
    let ns =
        |s: Option<Spread>| s.map_or("—".to_string(), |s| format!("{}", s.mean.round() as u64));
    for (row, folder) in rows.iter().zip(folders) {
        let _ = writeln!(
            page,
            "<tr><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td><a href=\"{}/sweep.html\">{}</a></td></tr>",
            e(&row.value),
            if row.knee { " (knee)" } else { "" },
            rate(row.offered_per_s),
            rate(row.throughput_per_s.map(|s| s.mean)),
            rate(row.goodput_per_s.map(|s| s.mean)),
            row.ok_ratio
                .map_or("—".to_string(), |s| format_ratio(s.mean)),
            ns(row.latency_p50_ns),
            ns(row.latency_p99_ns),
            ns(row.latency_p999_ns),
            e(folder),
            e(folder),
        );
    }
    page.push_str("</table>\n<h2>Charts</h2>\n");
    figure(&mut page, "vary_latency", VARY_LATENCY_CAPTION, latency_svg);
    figure(
        &mut page,
        "vary_throughput",
        VARY_THROUGHPUT_CAPTION,
        throughput_svg,
    );
    page.push_str(PAGE_END);
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: &[[&str; 7]]) -> SweepTable {
        let header = [
            "seed",
            "virtual_time_ns",
            "ops_ok",
            "ops_failed",
            "latency_p50_ns",
            "latency_p99_ns",
            P999_COLUMN,
        ];
        SweepTable::new(
            header.iter().map(|c| c.to_string()).collect(),
            rows.iter()
                .map(|r| r.iter().map(|c| c.to_string()).collect())
                .collect(),
        )
    }

    #[test]
    fn rates_are_per_virtual_second_and_averaged_over_seeds_with_their_spread() {
        let point = VaryPoint {
            value: "x".into(),
            configured_offered_per_s: None,
            table: table(&[
                ["1", "2000000000", "80", "20", "10", "100", "200"],
                ["2", "1000000000", "30", "10", "20", "300", "400"],
            ]),
        };
        let row = VaryRow::of(&point);
        // Seed 1: 100 completed in 2 s = 50/s; seed 2: 40 in 1 s = 40/s.
        assert_eq!(
            row.throughput_per_s,
            Some(Spread {
                mean: 45.0,
                min: 40.0,
                max: 50.0
            })
        );
        assert_eq!(row.goodput_per_s.map(|s| s.mean), Some(35.0));
        assert_eq!(row.ok_ratio.map(|s| (s.min, s.max)), Some((0.75, 0.8)));
        assert_eq!(row.latency_p99_ns.map(|s| s.mean), Some(200.0));
        // Without a configured rate, the offered load is the measured one.
        assert_eq!(
            (row.offered_per_s, row.offered_source),
            (Some(45.0), "measured")
        );
    }

    #[test]
    fn the_knee_is_the_first_load_whose_p99_doubles_the_lowest_loads() {
        let point = |value: &str, rate: f64, p99: &str| VaryPoint {
            value: value.into(),
            configured_offered_per_s: Some(rate),
            table: table(&[["1", "1000000000", "1", "0", "1", p99, p99]]),
        };
        // Given out of load order: the knee follows offered load, not list order.
        let rows = vary_rows(&[
            point("c", 300.0, "500"),
            point("a", 100.0, "100"),
            point("b", 200.0, "200"),
            point("d", 400.0, "900"),
        ]);
        let knees: Vec<&str> = rows
            .iter()
            .filter(|r| r.knee)
            .map(|r| r.value.as_str())
            .collect();
        // 200 is exactly twice 100 (not above); 500 is the first above.
        assert_eq!(knees, ["c"]);
    }

    #[test]
    fn p999_is_by_nearest_rank() {
        let values: Vec<u64> = (1..=2000).collect();
        assert_eq!(p999_ns(&values), Some(1998));
        assert_eq!(p999_ns(&[5]), Some(5));
        assert_eq!(p999_ns(&[]), None);
    }
}
