//! End-to-end tests of `write_run_report` on runs of a small test protocol.

mod common;

use common::{Spec, read_csv, run};
use dsim_core::{Counters, Formula, NoEvent, RunOutput, RunResult, SimTime, Verdict};
use dsim_report::{Perf, RunMeta, write_run_report};
use std::fs;
use std::path::Path;

fn perf() -> Perf {
    Perf { wall_seconds: 0.5 }
}

/// Nearest rank on sorted values, written independently of the crate's code.
fn nearest_rank(sorted: &[u64], percent: f64) -> u64 {
    let rank = (percent / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.max(1) - 1]
}

#[test]
fn summary_latency_statistics_recompute_from_ops_csv() {
    let dir = tempfile::tempdir().unwrap();
    let (meta, result) = run(&Spec::default());
    write_run_report(dir.path(), &meta, &result, &perf()).unwrap();

    let (ops_header, ops) = read_csv(&dir.path().join("ops.csv"));
    assert_eq!(
        ops_header,
        [
            "op_id",
            "client",
            "kind",
            "start_ns",
            "end_ns",
            "latency_ns",
            "outcome",
            "f",
            "key",
            "arg",
            "ret",
            "reason"
        ]
    );
    let mut ok: Vec<u64> = ops
        .iter()
        .filter(|row| row[6] == "ok")
        .map(|row| row[5].parse().unwrap())
        .collect();
    ok.sort_unstable();
    let failed = ops
        .iter()
        .filter(|row| row[6] != "ok" && row[11] != "unfinished")
        .count();
    let unfinished: Vec<_> = ops.iter().filter(|row| row[11] == "unfinished").collect();
    // The run must exercise every case, or the comparisons below prove little.
    assert!(ok.len() > 300, "{} ok ops", ok.len());
    // A timeout is indeterminate (`info`), a rejection certain (`fail`): mixing them up
    // would tell a checker that a write which may have happened did not.
    assert!(
        ops.iter()
            .any(|row| row[6] == "info" && row[11] == "timeout")
            && ops
                .iter()
                .any(|row| row[6] == "fail" && row[11] == "rejected")
    );
    assert!(unfinished.iter().all(|row| row[6] == "info"));
    assert!(!unfinished.is_empty());
    assert!(
        unfinished
            .iter()
            .all(|row| row[4].is_empty() && row[5].is_empty())
    );
    // op ids are 0.. in invocation order.
    for (index, row) in ops.iter().enumerate() {
        assert_eq!(row[0], index.to_string());
    }
    let starts: Vec<u64> = ops.iter().map(|row| row[3].parse().unwrap()).collect();
    assert!(starts.windows(2).all(|pair| pair[0] <= pair[1]));

    let (header, rows) = read_csv(&dir.path().join("summary.csv"));
    assert_eq!(rows.len(), 1);
    assert_eq!(
        header,
        [
            "scenario",
            "protocol",
            "variant",
            "seed",
            "virtual_time_ns",
            "events",
            "messages_sent",
            "messages_delivered",
            "messages_dropped",
            "messages_duplicated",
            "ops_ok",
            "ops_failed",
            "latency_mean_ns",
            "latency_p50_ns",
            "latency_p99_ns",
            "formula",
            "formula_value",
            "agreement",
            "violations",
            "fingerprint",
            "messages_dropped_overload",
            "throughput_per_s",
            "mean_in_flight",
            "job_time_ns",
            "retries",
        ]
    );
    let summary: std::collections::BTreeMap<&str, &str> = header
        .iter()
        .map(String::as_str)
        .zip(rows[0].iter().map(String::as_str))
        .collect();
    let sum: u128 = ok.iter().map(|&v| u128::from(v)).sum();
    let mean = (sum as f64 / ok.len() as f64).round() as u64;
    // Each would differ if the summary used another population (failed ops included),
    // another percentile method (interpolation) or truncated the mean.
    assert_eq!(summary["latency_mean_ns"], mean.to_string());
    assert_eq!(
        summary["latency_p50_ns"],
        nearest_rank(&ok, 50.0).to_string()
    );
    assert_eq!(
        summary["latency_p99_ns"],
        nearest_rank(&ok, 99.0).to_string()
    );
    assert_eq!(summary["formula"], "T");
    assert_eq!(summary["formula_value"], summary["latency_mean_ns"]);
    assert_eq!(summary["ops_ok"], ok.len().to_string());
    assert_eq!(
        summary["ops_failed"],
        failed.to_string(),
        "unfinished ops are not failed ones"
    );
    assert_eq!(summary["agreement"], "1.000000");
    assert_eq!(summary["violations"], "0");
    assert_eq!(summary["virtual_time_ns"], "2000000000");
    assert_eq!(summary["events"], result.output.counters.events.to_string());
    assert_eq!(
        summary["messages_dropped"],
        result.output.counters.messages_dropped.to_string()
    );
    assert_eq!(
        summary["fingerprint"],
        format!("{:016x}", result.output.fingerprint)
    );
    assert_eq!(
        (summary["job_time_ns"], summary["retries"]),
        ("123456", "4")
    );
    assert!(
        !dir.path().join("violations.csv").exists(),
        "no violations, no violations.csv"
    );
}

#[test]
fn checker_formula_value_prints_with_six_decimals() {
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec {
        formula: Formula::Value {
            name: "f(x)",
            value: 0.8,
        },
        with_faults: false,
        duration_ms: 300,
        ..Spec::default()
    };
    let (meta, result) = run(&spec);
    write_run_report(dir.path(), &meta, &result, &perf()).unwrap();
    let (header, rows) = read_csv(&dir.path().join("summary.csv"));
    let at = |name: &str| rows[0][header.iter().position(|h| h == name).unwrap()].clone();
    // Printing the latency mean here, or the value without fixed decimals, would fail.
    assert_eq!(at("formula"), "f(x)");
    assert_eq!(at("formula_value"), "0.800000");
}

#[test]
fn a_violations_picture_is_drawn_under_the_table_with_a_caption_naming_it() {
    // A checker's picture (an isolation anomaly's cycle) must reach report.html, under
    // a caption naming its violation; a violation without one gets no figure. Dropping
    // the figure, or showing it for the wrong violation, fails here.
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec {
        with_violations: true,
        duration_ms: 500,
        ..Spec::default()
    };
    let (meta, mut result) = run(&spec);
    result.verdict.violations[1].figure = Some("<svg id=\"cycle-under-test\"></svg>".into());
    write_run_report(dir.path(), &meta, &result, &perf()).unwrap();
    let html = fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(
        html.contains(
            "<figure class=\"violation-figure\" id=\"violation-figure-1\"><svg id=\"cycle-under-test\"></svg>"
        ),
        "the second violation's picture is in the page"
    );
    assert!(
        html.contains(
            "<figcaption>atomicity at 499ms: participant n0 committed alone</figcaption>"
        ),
        "its caption names the violation"
    );
    assert!(
        !html.contains("id=\"violation-figure-0\""),
        "the first violation drew nothing"
    );
    // The table is unchanged: the picture is extra, not a replacement.
    let (_, rows) = read_csv(&dir.path().join("violations.csv"));
    assert_eq!(rows.len(), 2);
}

#[test]
fn violations_csv_lists_each_violation_and_goes_away_when_a_rerun_has_none() {
    // The op ids the fixture's first violation names, as violations.csv must write them.
    fn named_ops_of(result: &dsim_core::RunResult) -> String {
        let ops = &result.verdict.violations[0].ops;
        assert_eq!(ops.len(), 2, "the fixture names one op of n3 and one of n4");
        format!("{} {}", ops[0], ops[1])
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec {
        with_violations: true,
        duration_ms: 500,
        ..Spec::default()
    };
    let (meta, result) = run(&spec);
    write_run_report(dir.path(), &meta, &result, &perf()).unwrap();
    let (header, rows) = read_csv(&dir.path().join("violations.csv"));
    assert_eq!(header, ["time_ns", "check", "nodes", "details", "ops"]);
    // Node ids and op ids are space-separated numbers; the details keep their commas
    // and quotes; a check not about operations leaves `ops` empty.
    assert_eq!(
        rows,
        [
            vec![
                "253000000".to_string(),
                "mutual_exclusion".into(),
                "3 4".into(),
                "clients n3 and n4 both wrote \"lock-1\" <fenced?> & kept going, twice".into(),
                named_ops_of(&result),
            ],
            vec![
                "499000000".to_string(),
                "atomicity".into(),
                "0".into(),
                "participant n0 committed alone".into(),
                String::new(),
            ],
        ]
    );
    let (_, summary) = read_csv(&dir.path().join("summary.csv"));
    assert_eq!(summary[0][18], "2");
    let html = fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("dsim run scenarios/kv-test.toml --seed 7"));
    assert!(
        html.contains("&lt;fenced?&gt; &amp; kept going"),
        "violation details are escaped"
    );
    // The report's violations table carries the op ids too, in their own column.
    assert!(
        html.contains(&format!(
            "kept going, twice</td><td>{}</td></tr>",
            named_ops_of(&result)
        )),
        "the violations table lists the operations involved"
    );

    // The same folder reused for a run without violations must not keep the old file.
    let (meta, result) = run(&Spec {
        duration_ms: 500,
        ..Spec::default()
    });
    write_run_report(dir.path(), &meta, &result, &perf()).unwrap();
    assert!(!dir.path().join("violations.csv").exists());
}

fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (
                entry.file_name().to_string_lossy().into_owned(),
                fs::read(entry.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn the_same_run_twice_writes_byte_identical_files() {
    let spec = Spec {
        with_violations: true,
        ..Spec::default()
    };
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let (meta, result) = run(&spec);
    let written = write_run_report(first.path(), &meta, &result, &perf()).unwrap();
    // A second, independent simulation from the same seed: every file but perf.csv
    // must come out the same.
    let (meta, again) = run(&spec);
    write_run_report(second.path(), &meta, &again, &Perf { wall_seconds: 0.9 }).unwrap();
    assert!(!again.output.ops.is_empty());
    assert_eq!(again.output.ops, result.output.ops);

    let names: Vec<String> = written
        .files
        .iter()
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "history.edn",
            "summary.csv",
            "ops.csv",
            "timeline.csv",
            "violations.csv",
            "timeline.svg",
            "timeline.png",
            "latency_cdf.svg",
            "latency_cdf.png",
            "latency_histogram.svg",
            "latency_histogram.png",
            "spacetime.svg",
            "spacetime.png",
            "report.html",
            "perf.csv",
        ]
    );
    let first_files = files_of(first.path());
    let second_files = files_of(second.path());
    // No temporary file may be left behind by the atomic writes.
    assert_eq!(
        first_files.len(),
        names.len(),
        "{:?}",
        first_files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for ((name, bytes), (other_name, other_bytes)) in first_files.iter().zip(&second_files) {
        assert_eq!(name, other_name);
        if name == "perf.csv" {
            continue;
        }
        // A HashMap iteration, a timestamp or a wall-clock value in any file breaks this.
        assert!(
            bytes == other_bytes,
            "{name} differs between two equal runs"
        );
    }
    for name in [
        "timeline.png",
        "latency_cdf.png",
        "latency_histogram.png",
        "spacetime.png",
    ] {
        let bytes = &first_files.iter().find(|(n, _)| n == name).unwrap().1;
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{name} is a PNG");
        assert!(
            bytes.len() > 20_000,
            "{name} has only {} bytes: text or data missing?",
            bytes.len()
        );
    }
}

#[test]
fn perf_csv_has_wall_clock_figures() {
    let dir = tempfile::tempdir().unwrap();
    let (meta, result) = run(&Spec {
        duration_ms: 400,
        ..Spec::default()
    });
    let written =
        write_run_report(dir.path(), &meta, &result, &Perf { wall_seconds: 0.25 }).unwrap();
    let (header, rows) = read_csv(&dir.path().join("perf.csv"));
    assert_eq!(
        header,
        [
            "wall_seconds",
            "events",
            "events_per_second",
            "virtual_seconds",
            "virtual_per_wall_ratio",
            "report_seconds"
        ]
    );
    let events = result.output.counters.events;
    // Divisions by the given wall time: 0.4 virtual s / 0.25 wall s = 1.6.
    assert_eq!(
        rows[0][..5],
        [
            "0.250000".to_string(),
            events.to_string(),
            format!("{:.6}", events as f64 / 0.25),
            "0.400000".into(),
            "1.600000".into(),
        ]
    );
    assert_eq!(rows[0][5], format!("{:.6}", written.report_seconds));
}

#[test]
fn a_run_without_operations_or_messages_still_gets_every_chart() {
    let dir = tempfile::tempdir().unwrap();
    let result = RunResult {
        output: RunOutput::<NoEvent> {
            seed: 1,
            node_count: 3,
            end_time: SimTime(1_000_000_000),
            counters: Counters::default(),
            fingerprint: 1,
            observations: Vec::new(),
            ops: Vec::new(),
            fault_log: Vec::new(),
            messages: dsim_core::MessageLog::new(),
        },
        verdict: Verdict {
            violations: Vec::new(),
            formula: Formula::MeanOkLatency { name: "R" },
            agreement: 1.0,
            extra_columns: Vec::new(),
        },
        trace_error: None,
    };
    let meta = RunMeta {
        scenario: "empty".into(),
        duration_ns: 1_000_000_000,
        ..RunMeta::default()
    };
    write_run_report(dir.path(), &meta, &result, &perf()).unwrap();
    for chart in ["latency_cdf", "latency_histogram", "timeline", "spacetime"] {
        let svg = fs::read_to_string(dir.path().join(format!("{chart}.svg"))).unwrap();
        // A chart without data must say so rather than fail or draw empty axes.
        assert!(svg.contains("no data"), "{chart}.svg");
        assert!(
            fs::metadata(dir.path().join(format!("{chart}.png")))
                .unwrap()
                .len()
                > 1_000
        );
    }
    let (_, summary) = read_csv(&dir.path().join("summary.csv"));
    // No ok ops: latency statistics and the formula value are empty, not 0.
    assert_eq!(summary[0][12..17], ["", "", "", "R", ""]);
    let (_, timeline) = read_csv(&dir.path().join("timeline.csv"));
    assert_eq!(timeline.len(), 100);
    assert_eq!(
        timeline[0],
        ["0", "10000000", "0", "0", "0", "0.000000", "", ""]
    );
}

#[test]
fn an_unwritable_output_folder_gives_an_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where a folder should be: fails even for root.
    let blocker = dir.path().join("blocker");
    fs::write(&blocker, "not a folder").unwrap();
    let target = blocker.join("run");
    let (meta, result) = run(&Spec {
        duration_ms: 100,
        ..Spec::default()
    });
    let error = write_run_report(&target, &meta, &result, &perf()).unwrap_err();
    assert_eq!(error.path, target);
    assert!(
        error.to_string().contains(&target.display().to_string()),
        "{error}"
    );
}

#[test]
fn a_file_that_cannot_be_replaced_gives_an_error_naming_it_and_leaves_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    // A folder where ops.csv should go: the rename over it fails, even for root.
    let blocked = dir.path().join("ops.csv");
    fs::create_dir(&blocked).unwrap();
    fs::write(blocked.join("keep"), "x").unwrap();
    let (meta, result) = run(&Spec {
        duration_ms: 100,
        ..Spec::default()
    });
    let error = write_run_report(dir.path(), &meta, &result, &perf()).unwrap_err();
    assert_eq!(error.path, blocked, "{error}");
    let names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    // summary.csv was written before; the failed write must not leave its temporary.
    assert!(
        names.iter().all(|name| !name.contains(".tmp-")),
        "{names:?}"
    );
    assert!(names.contains(&"summary.csv".to_string()));
}

#[test]
fn timeline_csv_shows_faults_and_their_effect() {
    let dir = tempfile::tempdir().unwrap();
    let (meta, result) = run(&Spec::default());
    write_run_report(dir.path(), &meta, &result, &perf()).unwrap();
    let (header, rows) = read_csv(&dir.path().join("timeline.csv"));
    assert_eq!(header[7], "faults_active");
    // 2 s run: 20 ms intervals; crash n1 at 400 ms until 800 ms, partition 1000..1200 ms.
    assert_eq!(rows.len(), 100);
    assert_eq!(rows[0][..2], ["0", "20000000"]);
    assert_eq!(rows[20][7], "crash n1");
    assert_eq!(rows[50][7], "partition");
    assert_eq!(rows[70][7], "pause n2");
    assert_eq!(rows[85][7], "degrade");
    assert_eq!(rows[95][7], "crash n2");
    assert_eq!(rows[10][7], "", "clock offsets are not windows");
    let completed: u64 = rows.iter().map(|row| row[2].parse::<u64>().unwrap()).sum();
    let (_, ops) = read_csv(&dir.path().join("ops.csv"));
    assert_eq!(
        completed as usize,
        ops.iter().filter(|row| row[11] != "unfinished").count()
    );
}

/// Not a speed assertion (speed lives in benches): prints how long a report of about
/// 5,000 operations takes, so the number is visible in test output.
#[test]
fn report_of_five_thousand_operations() {
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec {
        duration_ms: 5_000,
        client_interval_ms: 3,
        ..Spec::default()
    };
    let (meta, result) = run(&spec);
    let written = write_run_report(dir.path(), &meta, &result, &perf()).unwrap();
    let (_, ops) = read_csv(&dir.path().join("ops.csv"));
    assert!(ops.len() >= 4_900, "{} ops", ops.len());
    println!(
        "report of {} ops took {:.3} s",
        ops.len(),
        written.report_seconds
    );
}
