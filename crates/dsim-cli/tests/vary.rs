//! Load sweeps: `dsim sweep --vary KEY=V1,V2,...` runs the seeds once per value, writes
//! vary.csv from the per-value sweeps, refuses bad flags before writing anything, and is
//! the same bytes for any --jobs and after a resume.

use std::fs;
use std::path::Path;
use std::process::Output;

mod common;
use common::{dsim, text};

const TPC: &str = r#"
name = "tpc-small"
duration = "300ms"
[protocol]
kind = "two_phase_commit"
nodes = 3
[workload]
clients = 2
rate = "100/s"
[network]
latency = { dist = "exponential", mean = "2ms" }
"#;

fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(dir.path().join("s.toml"), TPC).expect("write scenario");
    dir
}

fn vary(dir: &Path, out: &str, jobs: &str, flag: &str) -> Output {
    dsim(
        &[
            "sweep", "s.toml", "--seeds", "1..3", "--jobs", jobs, "--out", out, "--vary", flag,
        ],
        dir,
    )
}

/// The CSV at `path` as a header and rows.
fn csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text
        .lines()
        .map(|line| line.split(',').map(str::to_string).collect::<Vec<String>>());
    let header = lines.next().expect("a header");
    (header, lines.collect())
}

fn cell<'a>(header: &[String], row: &'a [String], name: &str) -> &'a str {
    let index = header
        .iter()
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("no column {name}"));
    &row[index]
}

const RATES: &str = "workload.rate=100/s,1600/s";

#[test]
fn vary_csv_has_one_row_per_value_computed_from_that_values_sweep() {
    let dir = workspace();
    let out = vary(dir.path(), "w", "2", RATES);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (header, rows) = csv(&dir.path().join("w/vary.csv"));
    let values: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    // One row per value, in the order given.
    assert_eq!(values, ["100/s", "1600/s"]);
    for (row, (folder, rate)) in rows
        .iter()
        .zip([("value-01-100_s", 100.0), ("value-02-1600_s", 1600.0)])
    {
        let (sweep_header, seeds) = csv(&dir.path().join("w").join(folder).join("sweep.csv"));
        assert_eq!(seeds.len(), 3, "every seed ran for {folder}");
        assert_eq!(cell(&header, row, "seeds"), "3");
        // The offered load is the configured rate of all clients.
        assert_eq!(cell(&header, row, "offered_per_s").parse::<f64>(), Ok(rate));
        assert_eq!(cell(&header, row, "offered_source"), "configured");
        // Recompute throughput, goodput and p99 from the per-seed rows: a vary.csv that
        // summarised the wrong sweep, or the wrong columns, would differ.
        let per_seed =
            |f: &dyn Fn(&[String]) -> f64| -> Vec<f64> { seeds.iter().map(|s| f(s)).collect() };
        let get = |s: &[String], name: &str| -> f64 {
            cell(&sweep_header, s, name).parse().expect("a number")
        };
        let throughput = per_seed(&|s| {
            (get(s, "ops_ok") + get(s, "ops_failed")) / (get(s, "virtual_time_ns") / 1e9)
        });
        let goodput = per_seed(&|s| get(s, "ops_ok") / (get(s, "virtual_time_ns") / 1e9));
        let p99 = per_seed(&|s| get(s, "latency_p99_ns"));
        let p999 = per_seed(&|s| get(s, "latency_p999_ns"));
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(
            cell(&header, row, "throughput_per_s"),
            format!("{:.6}", mean(&throughput))
        );
        assert_eq!(
            cell(&header, row, "throughput_per_s_min"),
            format!("{:.6}", min(&throughput))
        );
        assert_eq!(
            cell(&header, row, "goodput_per_s_max"),
            format!("{:.6}", max(&goodput))
        );
        assert_eq!(
            cell(&header, row, "latency_p99_ns"),
            format!("{}", mean(&p99).round() as u64)
        );
        assert_eq!(
            cell(&header, row, "latency_p999_ns_max"),
            format!("{}", max(&p999) as u64)
        );
        // p99.9 is never below p99 in any seed.
        assert!(p999.iter().zip(&p99).all(|(a, b)| a >= b));
    }
    // More offered load completes more operations per second in this unsaturated run.
    let throughput: Vec<f64> = rows
        .iter()
        .map(|r| {
            cell(&header, r, "throughput_per_s")
                .parse()
                .expect("number")
        })
        .collect();
    assert!(throughput[1] > throughput[0] * 4.0, "{throughput:?}");
    for file in [
        "vary.html",
        "vary_latency.svg",
        "vary_latency.png",
        "vary_throughput.svg",
        "vary_throughput.png",
    ] {
        assert!(dir.path().join("w").join(file).is_file(), "{file} written");
    }
}

#[test]
fn a_numeric_range_runs_each_generated_value() {
    let dir = workspace();
    let out = vary(dir.path(), "w", "1", "network.drop=0..0.1:0.05");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (_, rows) = csv(&dir.path().join("w/vary.csv"));
    let values: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    // By whole steps: exactly these spellings, so folder names and rows are stable.
    assert_eq!(values, ["0", "0.05", "0.1"]);
    assert!(dir.path().join("w/value-03-0.1/sweep.csv").is_file());
}

#[test]
fn bad_vary_flags_exit_2_naming_the_flag_and_write_nothing() {
    let dir = workspace();
    for (flag, expected) in [
        ("nosuch.key=1,2", "unknown field"),
        ("network.drop=", "empty"),
        ("network.drop=0.1,2", "outside [0, 1]"),
        ("network.drop=0..1:0", "STEP must be above 0"),
        ("workload.rate", "KEY=V1,V2"),
    ] {
        let out = vary(dir.path(), "w", "1", flag);
        let said = text(&out);
        // Exit 2 is bad input; a 0 or 1 would mean a sweep ran with a value nobody asked for.
        assert_eq!(out.status.code(), Some(2), "{flag}: {said}");
        assert!(said.contains("--vary"), "{flag}: names the flag: {said}");
        assert!(
            said.contains(expected),
            "{flag}: says what is wrong: {said}"
        );
        assert!(!dir.path().join("w").exists(), "{flag}: nothing written");
    }
}

/// Every file of a vary folder, by relative path, except the journals (whose row
/// order follows thread timing by design; sweep.csv is their sorted form).
fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in fs::read_dir(&folder).expect("read folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if !path.ends_with("rows.journal.csv") {
                let name = path
                    .strip_prefix(dir)
                    .expect("inside")
                    .display()
                    .to_string();
                files.push((name, fs::read(&path).expect("read")));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn a_load_sweep_is_the_same_bytes_for_one_and_two_jobs() {
    let dir = workspace();
    let one = vary(dir.path(), "one", "1", RATES);
    let two = vary(dir.path(), "two", "2", RATES);
    assert_eq!(one.status.code(), Some(0), "{}", text(&one));
    assert_eq!(two.status.code(), Some(0), "{}", text(&two));
    let (a, b) = (
        contents(&dir.path().join("one")),
        contents(&dir.path().join("two")),
    );
    let names: Vec<&String> = a.iter().map(|(name, _)| name).collect();
    assert!(
        names.iter().any(|n| n.ends_with("vary_latency.png")),
        "{names:?}"
    );
    // Thread timing must not reach any output: csv, charts and pages alike.
    for ((name_a, bytes_a), (name_b, bytes_b)) in a.iter().zip(&b) {
        assert_eq!(name_a, name_b);
        assert!(
            bytes_a == bytes_b,
            "{name_a} differs between --jobs 1 and 2"
        );
    }
    assert_eq!(a.len(), b.len());
}

#[test]
fn a_killed_load_sweep_resumes_and_a_changed_list_is_refused() {
    let dir = workspace();
    let first = vary(dir.path(), "w", "1", RATES);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let finished = fs::read(dir.path().join("w/vary.csv")).expect("vary.csv");
    // A kill during the second value: its table and the vary report not yet written,
    // its journal holding one row.
    let second = dir.path().join("w/value-02-1600_s");
    fs::remove_file(second.join("sweep.csv")).expect("remove");
    fs::remove_file(dir.path().join("w/vary.csv")).expect("remove");
    let journal = fs::read_to_string(second.join("rows.journal.csv")).expect("journal");
    let kept: Vec<&str> = journal.lines().take(2).collect();
    fs::write(second.join("rows.journal.csv"), kept.join("\n") + "\n").expect("truncate");
    let resumed = vary(dir.path(), "w", "1", RATES);
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed));
    assert!(text(&resumed).contains("resuming"), "{}", text(&resumed));
    // The resumed sweep reaches the same table as the uninterrupted one.
    assert_eq!(
        fs::read(dir.path().join("w/vary.csv")).expect("vary.csv"),
        finished
    );
    // Another value list into the same folder would mix two experiments.
    let changed = vary(dir.path(), "w", "1", "workload.rate=100/s,800/s");
    assert_eq!(changed.status.code(), Some(2), "{}", text(&changed));
    assert!(
        text(&changed).contains("the --vary values were [100/s,1600/s], now [100/s,800/s]"),
        "{}",
        text(&changed)
    );
}
