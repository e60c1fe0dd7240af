//! The `dsim` binary as a user runs it: exit codes, output folders, determinism of the
//! files, sweeps that resume after a kill, shards that merge, concrete scenarios.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{dsim, files_of, text};

const NEMESIS_HOLD: &str = r#"
name = "hold-nemesis"
duration = "500ms"
[protocol]
kind = "hold"
nodes = 5
messages_per_node = 2
[workload]
clients = 0
[network]
latency = { dist = "exponential", mean = "2ms" }
drop = 0.01
duplicate = 0.01
[nemesis]
every = "50ms"
faults = ["partition", "crash", "pause", "clock_skew", "degrade", "cut", "isolate"]
"#;

fn workspace() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = dir.path().join("nemesis.toml");
    fs::write(&scenario, NEMESIS_HOLD).expect("write scenario");
    (dir, scenario)
}

#[test]
fn a_run_writes_every_output_and_reruns_are_byte_identical() {
    let (dir, _) = workspace();
    let first = dsim(
        &[
            "run",
            "nemesis.toml",
            "--seed",
            "3",
            "--out",
            "a",
            "--trace",
        ],
        dir.path(),
    );
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let second = dsim(
        &[
            "run",
            "nemesis.toml",
            "--seed",
            "3",
            "--out",
            "b",
            "--trace",
        ],
        dir.path(),
    );
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    let a = files_of(&dir.path().join("a"));
    let names: Vec<&str> = a.iter().map(|(name, _)| name.as_str()).collect();
    for expected in [
        "summary.csv",
        "ops.csv",
        "history.edn",
        "timeline.csv",
        "trace.csv",
        "report.html",
        "timeline.svg",
        "timeline.png",
        "spacetime.svg",
        "latency_cdf.png",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    assert!(dir.path().join("a/perf.csv").is_file());
    // Same scenario and seed: every file but perf.csv is the same bytes, charts included.
    assert_eq!(a, files_of(&dir.path().join("b")));
    // No staging folders are left behind.
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(|e| {
            let name = e.expect("entry").file_name().to_string_lossy().into_owned();
            name.starts_with('.').then_some(name)
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(text(&first).contains("fingerprint"));
}

#[test]
fn bad_input_exits_2_with_a_message_that_says_where() {
    let (dir, _) = workspace();
    fs::write(dir.path().join("bad.toml"), "name = \"x\"\nduration = \"1s\"\n[protocol]\nkind = \"hold\"\nnodes = 3\n[network]\ndrop = 7\n").expect("write");
    let output = dsim(&["run", "bad.toml"], dir.path());
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output).contains("bad.toml:7:8: network.drop: found 7, outside [0, 1]"),
        "{}",
        text(&output)
    );
    assert!(
        !dir.path().join("results").exists(),
        "nothing is written for bad input"
    );

    let output = dsim(&["run", "missing.toml"], dir.path());
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output).contains("missing.toml"), "{}", text(&output));

    let output = dsim(
        &["run", "nemesis.toml", "--set", "network.drop=2"],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output).contains("--set network.drop=2"),
        "{}",
        text(&output)
    );

    let output = dsim(&["run"], dir.path());
    assert_eq!(output.status.code(), Some(2), "a usage error is exit 2");
    let output = dsim(&["sweep", "nemesis.toml", "--seeds", "9..3"], dir.path());
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn an_unwritable_output_folder_exits_2_and_names_it() {
    let (dir, _) = workspace();
    fs::write(dir.path().join("a-file"), "not a folder").expect("write");
    let output = dsim(&["run", "nemesis.toml", "--out", "a-file/run"], dir.path());
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output).contains("a-file"), "{}", text(&output));
    // An existing folder that is not a run folder is never replaced.
    fs::create_dir(dir.path().join("precious")).expect("mkdir");
    fs::write(dir.path().join("precious/notes.txt"), "keep me").expect("write");
    let output = dsim(&["run", "nemesis.toml", "--out", "precious"], dir.path());
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        fs::read_to_string(dir.path().join("precious/notes.txt")).expect("kept"),
        "keep me"
    );
}

#[test]
fn an_emitted_concrete_scenario_runs_to_the_same_fingerprint() {
    let (dir, _) = workspace();
    let original = dsim(
        &[
            "run",
            "nemesis.toml",
            "--seed",
            "8",
            "--out",
            "o",
            "--emit-scenario",
            "concrete.toml",
        ],
        dir.path(),
    );
    assert_eq!(original.status.code(), Some(0), "{}", text(&original));
    let concrete = fs::read_to_string(dir.path().join("concrete.toml")).expect("emitted");
    assert!(concrete.contains("[[faults]]") && !concrete.contains("[nemesis]"));
    let replay = dsim(&["run", "concrete.toml", "--out", "c"], dir.path());
    assert_eq!(replay.status.code(), Some(0), "{}", text(&replay));
    let fingerprint = |dir: &Path| {
        let summary = fs::read_to_string(dir.join("summary.csv")).expect("summary");
        summary
            .lines()
            .nth(1)
            .expect("row")
            .split(',')
            .nth(19)
            .expect("fingerprint column")
            .to_string()
    };
    assert_eq!(
        fingerprint(&dir.path().join("o")),
        fingerprint(&dir.path().join("c"))
    );
}

#[test]
fn sweeps_are_identical_for_any_jobs_and_shards_merge_to_the_same_table() {
    let (dir, _) = workspace();
    let one = dsim(
        &[
            "sweep",
            "nemesis.toml",
            "--seeds",
            "1..=30",
            "--jobs",
            "1",
            "--out",
            "j1",
        ],
        dir.path(),
    );
    assert_eq!(one.status.code(), Some(0), "{}", text(&one));
    let two = dsim(
        &[
            "sweep",
            "nemesis.toml",
            "--seeds",
            "1..=30",
            "--jobs",
            "2",
            "--out",
            "j2",
        ],
        dir.path(),
    );
    assert_eq!(two.status.code(), Some(0), "{}", text(&two));
    let table = fs::read(dir.path().join("j1/sweep.csv")).expect("sweep.csv");
    assert_eq!(
        table,
        fs::read(dir.path().join("j2/sweep.csv")).expect("sweep.csv")
    );
    assert_eq!(
        String::from_utf8_lossy(&table).lines().count(),
        31,
        "a header and 30 rows"
    );
    for shard in ["1/3", "2/3", "3/3"] {
        let out = format!("s{}", &shard[..1]);
        let output = dsim(
            &[
                "sweep",
                "nemesis.toml",
                "--seeds",
                "1..=30",
                "--shard",
                shard,
                "--out",
                &out,
            ],
            dir.path(),
        );
        assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    }
    let merged = dsim(&["merge", "s1", "s2", "s3", "--out", "merged"], dir.path());
    assert_eq!(merged.status.code(), Some(0), "{}", text(&merged));
    assert_eq!(
        table,
        fs::read(dir.path().join("merged/sweep.csv")).expect("merged sweep.csv")
    );
}

#[test]
fn a_sweep_killed_midway_resumes_without_lost_duplicated_or_torn_rows() {
    let (dir, _) = workspace();
    let reference = dsim(
        &[
            "sweep",
            "nemesis.toml",
            "--seeds",
            "1..=60",
            "--jobs",
            "2",
            "--out",
            "reference",
        ],
        dir.path(),
    );
    assert_eq!(reference.status.code(), Some(0), "{}", text(&reference));
    // Kill a sweep with SIGKILL once some rows are in the journal.
    let mut child = Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args([
            "sweep",
            "nemesis.toml",
            "--seeds",
            "1..=60",
            "--jobs",
            "2",
            "--out",
            "killed",
            "-q",
        ])
        .current_dir(dir.path())
        .spawn()
        .expect("spawn sweep");
    let journal = dir.path().join("killed/rows.journal.csv");
    for _ in 0..2_000 {
        let rows = fs::read_to_string(&journal)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if rows >= 10 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL the sweep");
    child.wait().expect("reap");
    // Tear the last line as a kill mid-write would.
    let mut torn = fs::read(&journal).expect("journal");
    torn.extend_from_slice(b"hold-nemesis,hold,corr");
    fs::write(&journal, torn).expect("tear");
    let resumed = dsim(
        &[
            "sweep",
            "nemesis.toml",
            "--seeds",
            "1..=60",
            "--jobs",
            "2",
            "--out",
            "killed",
        ],
        dir.path(),
    );
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed));
    assert_eq!(
        fs::read(dir.path().join("reference/sweep.csv")).expect("reference"),
        fs::read(dir.path().join("killed/sweep.csv")).expect("resumed"),
        "the resumed sweep has every row exactly once"
    );
}

#[test]
fn list_shows_every_kind_and_completions_print() {
    let (dir, _) = workspace();
    let output = dsim(&["list"], dir.path());
    assert_eq!(output.status.code(), Some(0));
    let listing = text(&output);
    for kind in [
        "paxos",
        "two_phase_commit",
        "mapreduce",
        "hold",
        "messages_per_node",
        "queue",
    ] {
        assert!(listing.contains(kind), "{kind} missing from dsim list");
    }
    let output = dsim(&["completions", "bash"], dir.path());
    assert_eq!(output.status.code(), Some(0));
    assert!(text(&output).contains("dsim"));
    let output = dsim(&["check", "nemesis.toml"], dir.path());
    assert_eq!(output.status.code(), Some(0));
    assert!(
        text(&output).starts_with("ok: hold-nemesis"),
        "{}",
        text(&output)
    );
}

#[test]
fn a_mapreduce_run_writes_its_rate_table_and_chart() {
    // `dsim run` hands the report its operations by moving them out of the run; the
    // transfer metrics that make rates.csv must survive that (they once did not, and a
    // MapReduce run's report silently lost its Figure 3 panels).
    let guard = tempfile::tempdir().expect("temp dir");
    let dir = guard.path();
    let scenario =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/mapreduce-paper-fig3.toml");
    let scenario = scenario.to_str().expect("a UTF-8 path");
    let output = dsim(
        &[
            "run",
            scenario,
            "--set",
            "protocol.nodes=11",
            "--set",
            "protocol.map_tasks=20",
            "--set",
            "protocol.reduce_tasks=5",
            "--set",
            "protocol.input_bytes=2000000000",
            "--set",
            "protocol.bad_disks=0",
            "--set",
            "protocol.backup_tasks=false",
            "--out",
            "fig3",
        ],
        dir,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let rates = fs::read_to_string(dir.join("fig3/rates.csv")).expect("rates.csv written");
    let mut lines = rates.lines();
    assert_eq!(
        lines.next(),
        Some("bin_start_ns,input_Bps,shuffle_Bps,output_Bps")
    );
    // Without backups every byte of input is read once: the input column, summed over bins of equal
    // width, times that width, gives back the 2 GB the run read (to rounding).
    let rows: Vec<Vec<f64>> = lines
        .map(|line| {
            line.split(',')
                .map(|f| f.parse().expect("a number"))
                .collect()
        })
        .collect();
    assert!(rows.len() >= 2, "{rates}");
    let width_s = (rows[1][0] - rows[0][0]) / 1e9;
    let input: f64 = rows.iter().map(|row| row[1] * width_s).sum();
    assert!((input - 2e9).abs() < 2e9 * 0.01, "input bytes {input}");
    assert!(rows.iter().any(|row| row[2] > 0.0), "no shuffle: {rates}");
    assert!(rows.iter().any(|row| row[3] > 0.0), "no output: {rates}");
    assert!(dir.join("fig3/rates.svg").exists() && dir.join("fig3/rates.png").exists());
}
