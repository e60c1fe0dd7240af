//! `dsim goodput RUN_DIR... --out DIR`: the goodput over time of several runs (their
//! `timeline.csv`) on one chart, `goodput_over_time.svg` / `.png` in DIR. Each line is
//! labelled by its run folder's name.

use crate::cli::GoodputArgs;
use crate::exit;
use crate::output::Printer;
use anyhow::{Context, bail};
use dsim_core::SimTime;
use dsim_report::TimelineRow;
use dsim_report::goodput::{GoodputSeries, write_goodput_chart};
use dsim_report::timeline::TIMELINE_HEADER;
use std::fs;
use std::path::Path;

/// How many runs one chart compares at most.
const RUNS_MAX: usize = 6;

/// Reads the interval bounds and ok counts of a run folder's `timeline.csv`.
fn read_timeline(dir: &Path) -> anyhow::Result<Vec<TimelineRow>> {
    let path = dir.join("timeline.csv");
    let text = fs::read_to_string(&path)
        .with_context(|| format!("{}: not a run folder with a timeline.csv", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    if header.len() < 5 || header[..5] != TIMELINE_HEADER[..5] {
        bail!(
            "{}: the header is not that of a timeline.csv ({})",
            path.display(),
            TIMELINE_HEADER.join(",")
        );
    }
    let mut rows = Vec::new();
    for (index, line) in lines.enumerate() {
        let line_number = index + 2;
        // The first five columns are plain numbers; only `faults_active` may be quoted.
        let fields: Vec<&str> = line.splitn(6, ',').collect();
        let number = |column: usize| -> anyhow::Result<u64> {
            fields
                .get(column)
                .and_then(|field| field.parse().ok())
                .with_context(|| {
                    format!(
                        "{}:{line_number}: `{}` is not a whole number",
                        path.display(),
                        TIMELINE_HEADER[column]
                    )
                })
        };
        let row = TimelineRow {
            start: SimTime(number(0)?),
            end: SimTime(number(1)?),
            ops_completed: number(2)?,
            ops_ok: number(3)?,
            ops_failed: number(4)?,
            faults_active: Vec::new(),
        };
        if row.end < row.start
            || rows
                .last()
                .is_some_and(|last: &TimelineRow| row.start < last.end)
        {
            bail!("{}:{line_number}: intervals out of order", path.display());
        }
        rows.push(row);
    }
    Ok(rows)
}

/// `dsim goodput`.
pub fn goodput(args: GoodputArgs, printer: &Printer) -> anyhow::Result<u8> {
    if args.runs.len() > RUNS_MAX {
        bail!(
            "{} run folders given; one chart compares at most {RUNS_MAX}",
            args.runs.len()
        );
    }
    let series = args
        .runs
        .iter()
        .map(|dir| {
            Ok(GoodputSeries {
                label: dir.file_name().map_or_else(
                    || dir.display().to_string(),
                    |name| name.to_string_lossy().into_owned(),
                ),
                timeline: read_timeline(dir)?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let title = args.title.as_deref().unwrap_or("goodput over time");
    let files = write_goodput_chart(&args.out, title, &series)?;
    for file in files {
        printer.line(format!("  wrote        {}", file.display()));
    }
    Ok(exit::OK)
}
