//! # dsim-report: metrics, CSV tables, charts and the HTML reports of runs and sweeps
//!
//! Works from a run's observations and fault log ([`dsim_core::RunResult`]), never from
//! protocol internals. One call, [`write_run_report`], writes a run's folder:
//!
//! | file | what |
//! |---|---|
//! | `summary.csv` | one row: [`metrics::SUMMARY_COLUMNS`], then the protocol's extra columns |
//! | `ops.csv` | one row per client operation ([`ops::OPS_HEADER`]); `dsim run` streams it during the run ([`stream`]) |
//! | `history.edn` | the client history in Jepsen's format ([`mod@history`]) |
//! | `timeline.csv` | per interval: throughput, availability, active faults ([`mod@timeline`]) |
//! | `violations.csv` | only when a check failed: `time_ns, check, nodes, details, ops` (the `op_id`s of `ops.csv` involved, space-separated) |
//! | `rates.csv` | MapReduce runs only: input, shuffle and output bytes per second per time bin ([`rates`]) |
//! | `latency_cdf`, `latency_histogram`, `timeline`, `spacetime` `.svg` / `.png` | charts ([`charts`]); `rates` too for MapReduce runs |
//! | `report.html` | self-contained page: the run explorer, summary, formula, charts, violations, scenario |
//! | `perf.csv` | wall-clock figures; the only file that differs between equal runs |
//!
//! Across seeds ([`sweep`]): the caller writes a sweep's table, `sweep.csv` (the summary
//! columns, one row per seed, sorted by seed; [`sweep::SweepTable`]), and
//! [`sweep::write_sweep_report`] writes the rest of the sweep's folder;
//! [`sweep::write_comparison`] writes a comparison of several sweeps:
//!
//! | file | what |
//! |---|---|
//! | `sweep.csv` | one row per seed (written by the caller, read back as a [`sweep::SweepTable`]) |
//! | `sweep_violations` `.svg` / `.png` | clean against violating seeds, first violated check per seed, virtual time to the first violation |
//! | `sweep_formula` `.svg` / `.png` | histogram of the formula value over the seeds, mean and median marked |
//! | `sweep_latency` `.svg` / `.png` | CDFs over the seeds of each seed's p50 and p99 latency |
//! | `sweep.html` | self-contained page: seeds, violation rate, statistics, charts, failing seeds with their replay commands |
//! | `comparison.csv` | one row per compared sweep ([`sweep::COMPARISON_COLUMNS`]) |
//! | `comparison` `.svg` / `.png` | violation rate and median p50 / p99 latency per compared sweep |
//! | `compare.html` | self-contained page: the comparison table and chart |
//!
//! Every file is written atomically (a temporary name in the same folder, then a rename).
//! Metrics follow DESIGN.md: latency statistics over the `ok` rows of `ops.csv`, the
//! mean rounded to the nearest nanosecond, percentiles by nearest rank (see
//! [`metrics`]).
//!
//! Map of the crate:
//! - [`ops`] — `ops.csv` rows, from the operations the engine paired.
//! - [`mod@history`] — `history.edn`, the client history as Jepsen operation maps.
//! - [`stream`] — `ops.csv` and `history.edn` written during the run, by the same
//!   writers, renamed into place by [`write_streamed_run_report`].
//! - [`metrics`] — latency statistics and the [`Summary`] row.
//! - [`faults`] — fault windows from the fault log.
//! - [`mod@timeline`] — `timeline.csv`.
//! - [`rates`] — `rates.csv`, MapReduce input / shuffle / output bytes per second.
//! - [`charts`] — the four charts, SVG and PNG, with the bundled DejaVu Sans font.
//! - [`html`] — `report.html`.
//! - [`explorer`] — the interactive run explorer at the top of `report.html`.
//! - [`sweep`] — sweep tables, statistics across seeds, the sweep report and the
//!   comparison of sweeps (their charts live in the private `sweep_charts`).
//! - `style` (private) — the chart style shared by run and sweep charts: font, palette,
//!   header and legend, grid, the SVG/PNG plumbing.
//! - `page` (private) — the HTML scaffolding shared by the pages: stylesheet, head,
//!   figures, value rows.
//! - [`mod@write`] — atomic file and CSV writes, reusable for sweep tables.
//! - [`error`] — [`ReportError`], which names the path that failed.
//!
//! ```
//! use dsim_core::{Counters, Formula, NoEvent, NodeId, Observation, ObservationRecord,
//!     Outcome, RunOutput, RunResult, SimTime, Value, Verdict};
//! use dsim_report::{RunMeta, Summary};
//!
//! let record = |ms: u64, observation| ObservationRecord::<NoEvent> {
//!     time: SimTime(ms * 1_000_000), node: NodeId(3), observation };
//! let observations = vec![
//!     record(10, Observation::OpInvoked { op: 0, f: "txn", key: None, arg: Value::Nil }),
//!     record(14, Observation::OpCompleted { op: 0, outcome: Outcome::Ok, ret: Value::Nil }),
//!     record(20, Observation::OpInvoked { op: 1, f: "txn", key: None, arg: Value::Nil }),
//! ];
//! let result = RunResult {
//!     output: RunOutput {
//!         seed: 7, node_count: 4, end_time: SimTime(1_000_000_000),
//!         counters: Counters::default(), fingerprint: 0xabc,
//!         // What the engine pairs as the run happens.
//!         ops: dsim_core::ops::pair(&observations),
//!         observations: vec![],
//!         fault_log: vec![], messages: dsim_core::MessageLog::new(),
//!     },
//!     verdict: Verdict { violations: vec![], formula: Formula::MeanOkLatency { name: "T" },
//!         agreement: 1.0, extra_columns: vec![] },
//!     trace_error: None,
//! };
//! let ops = &result.output.ops;
//! // Never completed: indeterminate.
//! assert_eq!((ops[1].outcome_word(), ops[1].reason()), ("info", "unfinished"));
//! let summary = Summary::from_run(&RunMeta::default(), &result);
//! // T is the mean latency of the ok operations: one of 4 ms.
//! assert_eq!(summary.formula_value, "4000000");
//! assert_eq!(summary.values()[19], "0000000000000abc");
//! ```

#![warn(missing_docs)]

pub mod charts;
pub mod error;
pub mod explorer;
pub mod faults;
pub mod goodput;
pub mod history;
pub mod html;
pub mod metrics;
pub mod ops;
mod page;
pub mod rates;
pub mod stream;
mod style;
pub mod sweep;
mod sweep_charts;
pub mod timeline;
pub mod vary;
pub mod write;

pub use charts::{Chart, ChartInput};
pub use error::{ReportCause, ReportError};
pub use faults::{FaultWindow, WindowKind, fault_windows};
pub use metrics::{LatencyStats, Summary};
pub use ops::OpRow;
pub use timeline::{TimelineRow, timeline};
pub use write::{
    csv_bytes, write_csv_atomically, write_file_atomically, write_streamed_atomically,
};

use dsim_core::{RunResult, SimTime};
use metrics::format_ratio;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// What the report needs to know about a run besides its result.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunMeta {
    /// Scenario name.
    pub scenario: String,
    /// Protocol kind.
    pub protocol: String,
    /// Protocol variant.
    pub variant: String,
    /// Run seed.
    pub seed: u64,
    /// The command that replays this run, e.g. `dsim run x.toml --seed 7` (the CLI names
    /// the running binary and the scenario's file name, so the page does not depend on
    /// the folder dsim was started from).
    pub replay_command: String,
    /// The scenario file's text, shown in `report.html`.
    pub scenario_toml: String,
    /// The virtual duration the run was asked for.
    pub duration_ns: u64,
}

/// Wall-clock figures of the run itself, measured by the caller.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Perf {
    /// Wall seconds the simulation took (not counting the report).
    pub wall_seconds: f64,
}

/// What [`write_run_report`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportFiles {
    /// Every file written, in writing order (`perf.csv` last).
    pub files: Vec<PathBuf>,
    /// Wall seconds spent writing the report (everything but `perf.csv`).
    pub report_seconds: f64,
}

/// Columns of `violations.csv`.
pub const VIOLATIONS_HEADER: [&str; 5] = ["time_ns", "check", "nodes", "details", "ops"];

/// The `ops` field of `violations.csv`: the involved operations' `op_id`s,
/// space-separated (empty when the check is not about operations).
fn ops_field(ops: &[u64]) -> String {
    ops.iter().map(u64::to_string).collect::<Vec<_>>().join(" ")
}

/// Columns of `perf.csv`.
pub const PERF_HEADER: [&str; 6] = [
    "wall_seconds",
    "events",
    "events_per_second",
    "virtual_seconds",
    "virtual_per_wall_ratio",
    "report_seconds",
];

/// Writes a run's report into `dir` (created if missing); see the crate doc for the
/// files. Every file but `perf.csv` is byte-identical for equal runs. A
/// `violations.csv` left in `dir` by an earlier run is removed when this run has none.
///
/// The report's own wall time is measured here (the one use of the wall clock in this
/// crate) and written to `perf.csv` as `report_seconds`.
pub fn write_run_report(
    dir: &Path,
    meta: &RunMeta,
    result: &RunResult,
    perf: &Perf,
) -> Result<ReportFiles, ReportError> {
    let (files, report_seconds) = timed(|| {
        let history = write_history(dir, result)?;
        write_deterministic_files(dir, meta, result, vec![history], None)
    })?;
    write_perf(dir, result, perf, files, report_seconds)
}

/// [`write_run_report`] for a run that streamed its `ops.csv` and `history.edn` into
/// `dir` as it happened ([`stream::StreamedOps`], created in `dir`): those two are
/// finished and renamed into place instead of being written again from the records;
/// every file comes out byte-identical to [`write_run_report`]'s. On an error the
/// streamed temporary files are removed.
pub fn write_streamed_run_report(
    dir: &Path,
    meta: &RunMeta,
    result: &RunResult,
    perf: &Perf,
    streamed: stream::StreamedOps,
) -> Result<ReportFiles, ReportError> {
    let (files, report_seconds) = timed(|| {
        let (ops_csv, history) = streamed.finish()?;
        write_deterministic_files(dir, meta, result, vec![history], Some(ops_csv))
    })?;
    write_perf(dir, result, perf, files, report_seconds)
}

/// The files `write` wrote, and the wall seconds it took.
#[allow(clippy::disallowed_methods)]
fn timed(
    write: impl FnOnce() -> Result<Vec<PathBuf>, ReportError>,
) -> Result<(Vec<PathBuf>, f64), ReportError> {
    let started = std::time::Instant::now();
    let files = write()?;
    Ok((files, started.elapsed().as_secs_f64()))
}

/// Writes `perf.csv` after `files`.
fn write_perf(
    dir: &Path,
    result: &RunResult,
    perf: &Perf,
    mut files: Vec<PathBuf>,
    report_seconds: f64,
) -> Result<ReportFiles, ReportError> {
    let path = dir.join("perf.csv");
    write_csv_atomically(
        &path,
        &PERF_HEADER,
        [perf_fields(perf, result, report_seconds)],
    )?;
    files.push(path);
    Ok(ReportFiles {
        files,
        report_seconds,
    })
}

/// Writes `history.edn` (creating `dir` if missing); returns its path.
fn write_history(dir: &Path, result: &RunResult) -> Result<PathBuf, ReportError> {
    fs::create_dir_all(dir).map_err(|error| ReportError::io(dir, error))?;
    let path = dir.join("history.edn");
    // history.edn, ops.csv and timeline.csv grow with the run: each is streamed to its
    // temporary file row by row, never built whole in memory.
    write_streamed_atomically(&path, |out| history::write_history_edn(&result.output, out))?;
    Ok(path)
}

fn perf_fields(perf: &Perf, result: &RunResult, report_seconds: f64) -> Vec<String> {
    let events = result.output.counters.events;
    let virtual_seconds = result.output.end_time.as_nanos() as f64 / 1e9;
    let per_wall = |value: f64| {
        if perf.wall_seconds > 0.0 {
            format_ratio(value / perf.wall_seconds)
        } else {
            String::new()
        }
    };
    vec![
        format_ratio(perf.wall_seconds),
        events.to_string(),
        per_wall(events as f64),
        format_ratio(virtual_seconds),
        per_wall(virtual_seconds),
        format_ratio(report_seconds),
    ]
}

/// A chart's SVG text and the files written for it, or why it failed.
type RenderedChart = Result<(String, Vec<PathBuf>), ReportError>;

/// Writes everything but `history.edn` and `perf.csv`, from the run and its paired
/// operations, after the `files` already written (listed in `report.html`); returns
/// them all. `ops_csv` is the path of an `ops.csv` already streamed, which is then
/// listed in its place instead of being written.
fn write_deterministic_files(
    dir: &Path,
    meta: &RunMeta,
    result: &RunResult,
    mut files: Vec<PathBuf>,
    ops_csv: Option<PathBuf>,
) -> Result<Vec<PathBuf>, ReportError> {
    let output = &result.output;
    let ops = &output.ops[..];
    let verdict = &result.verdict;
    let summary = Summary::from_run(meta, result);
    let path = dir.join("summary.csv");
    write_csv_atomically(&path, &summary.header(), std::iter::once(summary.values()))?;
    files.push(path);
    match ops_csv {
        Some(path) => files.push(path),
        None => {
            let path = dir.join("ops.csv");
            write_streamed_atomically(&path, |out| {
                let mut writer = ops::OpsCsvWriter::new(out);
                dsim_core::ops::replay(ops, &mut writer);
                writer.finish().map(|_| ())
            })?;
            files.push(path);
        }
    }
    let mut csv = |name: &str,
                   header: &[String],
                   rows: &mut dyn Iterator<Item = Vec<String>>|
     -> Result<(), ReportError> {
        let path = dir.join(name);
        write_csv_atomically(&path, header, rows)?;
        files.push(path);
        Ok(())
    };
    let strings =
        |header: &[&str]| -> Vec<String> { header.iter().map(|h| h.to_string()).collect() };

    let span = SimTime(output.end_time.as_nanos().max(meta.duration_ns));
    let windows = fault_windows(&output.fault_log, span);
    let rows = timeline(ops, &windows, span);
    csv(
        "timeline.csv",
        &strings(&timeline::TIMELINE_HEADER),
        &mut rows.iter().map(TimelineRow::fields),
    )?;
    let violations_path = dir.join("violations.csv");
    if verdict.violations.is_empty() {
        match fs::remove_file(&violations_path) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(ReportError::io(&violations_path, error)),
        }
    } else {
        let mut rows = verdict.violations.iter().map(|violation| {
            let nodes: Vec<String> = violation
                .nodes
                .iter()
                .map(|node| node.0.to_string())
                .collect();
            vec![
                violation.time.as_nanos().to_string(),
                violation.check.to_string(),
                nodes.join(" "),
                violation.details.clone(),
                ops_field(&violation.ops),
            ]
        });
        csv("violations.csv", &strings(&VIOLATIONS_HEADER), &mut rows)?;
    }

    // rates.csv: only for runs that observed MapReduce transfers.
    let rate_rows = rates::rates(&output.observations, span).unwrap_or_default();
    if !rate_rows.is_empty() {
        csv(
            "rates.csv",
            &strings(&rates::RATES_HEADER),
            &mut rate_rows.iter().map(rates::RateRow::fields),
        )?;
    }
    let input = ChartInput {
        scenario: &meta.scenario,
        ops,
        timeline: &rows,
        windows: &windows,
        messages: &output.messages,
        violations: &verdict.violations,
        node_count: output.node_count,
        span,
        rates: &rate_rows,
    };
    let explorer_input = explorer::ExplorerInput {
        node_count: output.node_count,
        span,
        messages: &output.messages,
        messages_sent: output.counters.messages_sent,
        ops,
        fault_log: &output.fault_log,
        windows: &windows,
        violations: &verdict.violations,
    };
    // One after the other, on this thread: rendered on threads of their own, each
    // thread's allocator arena kept its own peak, which made the charts and the
    // explorer the peak of a long run's memory (1,000 s paxos-nemesis: 175 MB against
    // 149 MB in turn), for a few milliseconds saved on a small report.
    let explorer = explorer::render(&explorer_input);
    let charts = Chart::for_run(&input);
    let rendered: Vec<RenderedChart> = charts
        .iter()
        .copied()
        .map(|chart| {
            let figure = charts::RunFigure {
                chart,
                input: &input,
            };
            let mut written = Vec::new();
            style::write_figure(dir, chart.name(), &figure, &mut written).map(|svg| (svg, written))
        })
        .collect();
    let mut svgs = Vec::new();
    for (chart, result) in charts.iter().copied().zip(rendered) {
        let (svg, written) = result?;
        files.extend(written);
        svgs.push((chart, svg));
    }

    let mut names: Vec<String> = files
        .iter()
        .filter_map(|path| {
            path.file_name()
                .map(|name| name.to_string_lossy().into_owned())
        })
        .collect();
    names.push("perf.csv".to_string());
    let page = html::render(
        meta,
        &summary,
        &verdict.formula,
        &verdict.violations,
        &svgs,
        &names,
        explorer,
    );
    let path = dir.join("report.html");
    write_file_atomically(&path, page.as_bytes())?;
    files.push(path);
    Ok(files)
}
