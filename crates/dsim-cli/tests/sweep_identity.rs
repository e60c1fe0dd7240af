//! A sweep folder never mixes two experiments, a merge never passes off an incomplete
//! sweep as whole, and no seed range panics or exhausts memory.

use std::fs;
use std::path::Path;
use std::process::Output;

mod common;
use common::{dsim, text};

const HOLD: &str = r#"
name = "hold-small"
duration = "50ms"
[protocol]
kind = "hold"
nodes = 3
messages_per_node = 1
[network]
latency = { dist = "exponential", mean = "2ms" }
drop = 0.05
[workload]
clients = 0
"#;

fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(dir.path().join("s.toml"), HOLD).expect("write scenario");
    dir
}

fn sweep(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["sweep", "s.toml", "--out", "w", "--jobs", "1"];
    args.extend_from_slice(extra);
    dsim(&args, dir)
}

#[test]
fn a_resume_with_anything_different_is_refused_naming_what_changed() {
    let dir = workspace();
    let first = sweep(dir.path(), &["--seeds", "1..4"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let table = fs::read(dir.path().join("w/sweep.csv")).expect("table");

    // The scenario edited between a kill and the resume: before, rows of both files
    // ended up in one sweep.csv with exit 0.
    fs::write(
        dir.path().join("s.toml"),
        HOLD.replace("drop = 0.05", "drop = 0.2"),
    )
    .expect("edit");
    let edited = sweep(dir.path(), &["--seeds", "1..4"]);
    assert_eq!(edited.status.code(), Some(2), "{}", text(&edited));
    assert!(
        text(&edited).contains("the scenario differs"),
        "{}",
        text(&edited)
    );
    fs::write(dir.path().join("s.toml"), HOLD).expect("restore");

    let set = sweep(
        dir.path(),
        &["--seeds", "1..4", "--set", "network.drop=0.2"],
    );
    assert_eq!(set.status.code(), Some(2), "{}", text(&set));
    assert!(text(&set).contains("--set"), "{}", text(&set));

    let range = sweep(dir.path(), &["--seeds", "1..6"]);
    assert_eq!(range.status.code(), Some(2), "{}", text(&range));
    assert!(
        text(&range).contains("--seeds was 1..4, now 1..6"),
        "{}",
        text(&range)
    );
    let shard = sweep(dir.path(), &["--seeds", "1..4", "--shard", "1/2"]);
    assert_eq!(shard.status.code(), Some(2), "{}", text(&shard));
    assert!(
        text(&shard).contains("--shard was none, now 1/2"),
        "{}",
        text(&shard)
    );
    // Nothing refused touched the table.
    assert_eq!(
        fs::read(dir.path().join("w/sweep.csv")).expect("table"),
        table
    );
}

#[test]
fn a_relative_and_an_absolute_path_to_the_same_file_are_the_same_experiment() {
    let dir = workspace();
    let first = sweep(dir.path(), &["--seeds", "1..3"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let table = fs::read(dir.path().join("w/sweep.csv")).expect("table");
    let absolute = dir.path().join("s.toml");
    let output = dsim(
        &[
            "sweep",
            absolute.to_str().expect("utf-8"),
            "--seeds",
            "1..3",
            "--out",
            "w",
        ],
        dir.path(),
    );
    // The identity is the scenario's contents, not the path as typed.
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(text(&output).contains("resuming"), "{}", text(&output));
    assert_eq!(
        fs::read(dir.path().join("w/sweep.csv")).expect("table"),
        table
    );
}

#[test]
fn a_damaged_journal_row_is_refused_by_line_and_never_reaches_the_table() {
    let dir = workspace();
    let first = sweep(dir.path(), &["--seeds", "1..4"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let journal = dir.path().join("w/rows.journal.csv");
    let original = fs::read_to_string(&journal).expect("journal");
    let mut lines: Vec<String> = original.lines().map(str::to_string).collect();
    // Line 3 (the second row): one character of its scenario name changed, the row
    // keeps its shape, so only its checksum can tell.
    lines[2] = lines[2].replacen("hold-small", "hold-smalL", 1);
    fs::write(&journal, lines.join("\n") + "\n").expect("damage");
    fs::remove_file(dir.path().join("w/sweep.csv")).expect("remove table");
    let output = sweep(dir.path(), &["--seeds", "1..4"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("rows.journal.csv:3:"),
        "{}",
        text(&output)
    );
    assert!(!dir.path().join("w/sweep.csv").exists());
}

#[test]
fn an_old_format_sweep_folder_is_refused_with_a_clear_message() {
    let dir = workspace();
    fs::create_dir(dir.path().join("w")).expect("mkdir");
    // What a sweep folder of the previous format held.
    fs::write(
        dir.path().join("w/sweep.meta"),
        "scenario: s.toml\nset: \nswarm: false\n",
    )
    .expect("write");
    fs::write(dir.path().join("w/rows.journal.csv"), "seed\n1\n").expect("write");
    let output = sweep(dir.path(), &["--seeds", "1..3"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("older dsim"), "{}", text(&output));
}

#[test]
fn huge_seed_ranges_exit_2_without_panicking_or_allocating() {
    let dir = workspace();
    for seeds in [
        "1..18446744073709551615",
        "0..18446744073709551615",
        "1..1000000000",
    ] {
        let output = sweep(dir.path(), &["--seeds", seeds]);
        // Before: a capacity-overflow panic (exit 101) or an 8 GB allocation abort.
        assert_eq!(output.status.code(), Some(2), "{seeds}: {}", text(&output));
        assert!(
            text(&output).contains("at most 1000000"),
            "{seeds}: {}",
            text(&output)
        );
        assert!(!text(&output).contains("panicked"), "{}", text(&output));
    }
}

#[test]
fn a_shard_without_seeds_says_so_and_still_merges() {
    let dir = workspace();
    for shard in ["1/3", "2/3", "3/3"] {
        let out = format!("s{}", &shard[..1]);
        let output = dsim(
            &[
                "sweep", "s.toml", "--seeds", "1..2", "--shard", shard, "--out", &out,
            ],
            dir.path(),
        );
        assert_eq!(output.status.code(), Some(0), "{}", text(&output));
        if shard == "3/3" {
            // Before: "the sweep produced no rows" and exit 2.
            assert!(
                text(&output).contains("this shard has no seeds"),
                "{}",
                text(&output)
            );
        }
    }
    let single = dsim(
        &["sweep", "s.toml", "--seeds", "1..2", "--out", "single"],
        dir.path(),
    );
    assert_eq!(single.status.code(), Some(0), "{}", text(&single));
    let merged = dsim(&["merge", "s1", "s2", "s3", "--out", "m"], dir.path());
    assert_eq!(merged.status.code(), Some(0), "{}", text(&merged));
    assert_eq!(
        fs::read(dir.path().join("m/sweep.csv")).expect("merged"),
        fs::read(dir.path().join("single/sweep.csv")).expect("single")
    );
}

#[test]
fn merge_refuses_missing_or_unfinished_shards_unless_allowed() {
    let dir = workspace();
    for shard in ["1/3", "2/3", "3/3"] {
        let out = format!("s{}", &shard[..1]);
        let output = dsim(
            &[
                "sweep", "s.toml", "--seeds", "1..12", "--shard", shard, "--out", &out,
            ],
            dir.path(),
        );
        assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    }
    // Shard 2/3 (seeds 2, 5, 8, 11) not given: before, the merge wrote 8 rows, exit 0.
    let output = dsim(&["merge", "s1", "s3", "--out", "m"], dir.path());
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("4 of 12 seeds of 1..12 are missing: 2..11 step 3"),
        "{}",
        text(&output)
    );
    assert!(text(&output).contains("2/3"), "{}", text(&output));
    assert!(!dir.path().join("m").exists(), "nothing is written");

    // A shard that did not finish: the rows of seeds 7 and 10 never made it to its
    // journal (the seed is the fourth column).
    let journal = dir.path().join("s1/rows.journal.csv");
    let kept: Vec<String> = fs::read_to_string(&journal)
        .expect("journal")
        .lines()
        .filter(|line| !["7", "10"].contains(&line.split(',').nth(3).unwrap_or_default()))
        .map(str::to_string)
        .collect();
    assert_eq!(kept.len(), 3, "the header and the rows of seeds 1 and 4");
    fs::write(&journal, kept.join("\n") + "\n").expect("cut");
    let output = dsim(&["merge", "s1", "s2", "s3", "--out", "m"], dir.path());
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("2 of 12 seeds of 1..12 are missing: 7, 10"),
        "{}",
        text(&output)
    );

    let output = dsim(
        &["merge", "s1", "s2", "s3", "--out", "m", "--allow-partial"],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(text(&output).contains("partial merge"), "{}", text(&output));
    let missing = fs::read_to_string(dir.path().join("m/missing-seeds.txt")).expect("listed");
    let listed: Vec<&str> = missing.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(listed, vec!["7", "10"]);
    let table = fs::read_to_string(dir.path().join("m/sweep.csv")).expect("table");
    assert_eq!(
        table.lines().count(),
        11,
        "a header and the 10 seeds there are"
    );
}
