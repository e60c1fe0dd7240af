//! dsim never loses a user's data: an output folder is replaced only when dsim wrote
//! it (its `.dsim-output` marker says so), never a folder holding the input, and a
//! scenario file is overwritten only when dsim wrote it. Each case is one an audit hit.

use std::fs;
use std::path::Path;

mod common;
use common::{dsim, text};

const HOLD: &str = r#"
name = "hold-small"
duration = "50ms"
[protocol]
kind = "hold"
nodes = 3
messages_per_node = 1
[workload]
clients = 0
"#;

fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(dir.path().join("s.toml"), HOLD).expect("write scenario");
    dir
}

/// A user's folder that happens to hold a `summary.csv`, a thesis and a project tree.
fn users_folder(root: &Path, name: &str) {
    let folder = root.join(name);
    fs::create_dir_all(folder.join("projects/a/b")).expect("mkdir");
    fs::write(folder.join("summary.csv"), "my,own,table\n").expect("write");
    fs::write(folder.join("thesis.txt"), "four years of work").expect("write");
    fs::write(folder.join("projects/a/b/code.rs"), "fn main() {}").expect("write");
}

fn assert_users_folder_intact(root: &Path, name: &str) {
    let folder = root.join(name);
    assert_eq!(
        fs::read_to_string(folder.join("thesis.txt")).expect("thesis kept"),
        "four years of work"
    );
    assert_eq!(
        fs::read_to_string(folder.join("summary.csv")).expect("summary kept"),
        "my,own,table\n"
    );
    assert!(folder.join("projects/a/b/code.rs").is_file());
}

#[test]
fn run_refuses_a_users_folder_that_merely_holds_a_summary_csv() {
    let dir = workspace();
    users_folder(dir.path(), "mine");
    let output = dsim(&["run", "s.toml", "--out", "mine"], dir.path());
    // Before the marker, a summary.csv was taken as proof of a run folder and the whole
    // folder was replaced with exit 0.
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("mine"), "{}", text(&output));
    assert!(text(&output).contains(".dsim-output"), "{}", text(&output));
    assert_users_folder_intact(dir.path(), "mine");
}

#[test]
fn run_replaces_only_its_own_marked_folder() {
    let dir = workspace();
    let first = dsim(&["run", "s.toml", "--out", "r"], dir.path());
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let marker = fs::read_to_string(dir.path().join("r/.dsim-output")).expect("marker");
    // The marker says what made the folder: without it the next run would refuse it.
    assert!(marker.contains("kind: run"), "{marker}");
    assert!(marker.contains("scenario: hold-small"), "{marker}");
    fs::write(dir.path().join("r/stale.txt"), "from before").expect("write");
    let second = dsim(&["run", "s.toml", "--out", "r"], dir.path());
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    // Replaced as a whole: nothing of the earlier folder survives.
    assert!(!dir.path().join("r/stale.txt").exists());
    assert!(dir.path().join("r/summary.csv").is_file());
    // A run folder is not a sweep folder: a sweep refuses it.
    let sweep = dsim(
        &["sweep", "s.toml", "--seeds", "1..2", "--out", "r"],
        dir.path(),
    );
    assert_eq!(sweep.status.code(), Some(2), "{}", text(&sweep));
    assert!(text(&sweep).contains("dsim run folder"), "{}", text(&sweep));
}

#[test]
fn out_naming_the_scenarios_own_folder_never_deletes_the_scenario() {
    let dir = workspace();
    fs::create_dir(dir.path().join("exp")).expect("mkdir");
    fs::write(dir.path().join("exp/s.toml"), HOLD).expect("write");
    let output = dsim(&["run", "exp/s.toml", "--out", "exp"], dir.path());
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        dir.path().join("exp/s.toml").is_file(),
        "the scenario survives"
    );
    // Even a dsim folder is not replaced while it holds the input scenario.
    let run = dsim(&["run", "s.toml", "--out", "done"], dir.path());
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    fs::write(dir.path().join("done/again.toml"), HOLD).expect("write");
    let output = dsim(&["run", "done/again.toml", "--out", "done"], dir.path());
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("input"), "{}", text(&output));
    assert!(dir.path().join("done/again.toml").is_file());
    // Nor the folder a user is working in.
    let output = dsim(
        &["run", "../s.toml", "--out", "../done"],
        &dir.path().join("done"),
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("current folder"),
        "{}",
        text(&output)
    );
    // The same through an absolute path to the folder.
    let absolute = dir.path().join("exp");
    let output = dsim(
        &[
            "run",
            "exp/s.toml",
            "--out",
            absolute.to_str().expect("utf-8"),
        ],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(dir.path().join("exp/s.toml").is_file());
}

#[test]
fn sweep_refuses_a_folder_holding_a_users_sweep_csv() {
    let dir = workspace();
    fs::create_dir(dir.path().join("data")).expect("mkdir");
    fs::write(dir.path().join("data/sweep.csv"), "seed,mine\n1,precious\n").expect("write");
    let output = dsim(
        &["sweep", "s.toml", "--seeds", "1..3", "--out", "data"],
        dir.path(),
    );
    // Before, the sweep wrote its journal and table over the user's sweep.csv.
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("data"), "{}", text(&output));
    assert_eq!(
        fs::read_to_string(dir.path().join("data/sweep.csv")).expect("kept"),
        "seed,mine\n1,precious\n"
    );
    assert!(!dir.path().join("data/rows.journal.csv").exists());
}

#[test]
fn merge_and_compare_refuse_a_users_folder() {
    let dir = workspace();
    let shard = dsim(
        &["sweep", "s.toml", "--seeds", "1..2", "--out", "all"],
        dir.path(),
    );
    assert_eq!(shard.status.code(), Some(0), "{}", text(&shard));
    users_folder(dir.path(), "mine");
    let merge = dsim(&["merge", "all", "--out", "mine"], dir.path());
    assert_eq!(merge.status.code(), Some(2), "{}", text(&merge));
    assert_users_folder_intact(dir.path(), "mine");
    let compare = dsim(
        &[
            "compare", "s.toml", "s.toml", "--seeds", "1..2", "--out", "mine",
        ],
        dir.path(),
    );
    assert_eq!(compare.status.code(), Some(2), "{}", text(&compare));
    assert_users_folder_intact(dir.path(), "mine");
    // Merging into one of the shard folders would destroy it.
    let merge = dsim(&["merge", "all", "--out", "all"], dir.path());
    assert_eq!(merge.status.code(), Some(2), "{}", text(&merge));
    assert!(dir.path().join("all/rows.journal.csv").is_file());
}

#[test]
fn emit_scenario_never_overwrites_the_input_or_a_users_file() {
    let dir = workspace();
    let output = dsim(
        &["run", "s.toml", "--out", "r", "--emit-scenario", "s.toml"],
        dir.path(),
    );
    // Before, the input scenario was silently replaced by the concrete one.
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("input scenario"),
        "{}",
        text(&output)
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("s.toml")).expect("kept"),
        HOLD
    );
    // Through another spelling of the same file too.
    let output = dsim(
        &["run", "s.toml", "--out", "r", "--emit-scenario", "./s.toml"],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    fs::write(dir.path().join("notes.toml"), "# my notes\n").expect("write");
    let output = dsim(
        &[
            "run",
            "s.toml",
            "--out",
            "r",
            "--emit-scenario",
            "notes.toml",
        ],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert_eq!(
        fs::read_to_string(dir.path().join("notes.toml")).expect("kept"),
        "# my notes\n"
    );
    // A file dsim emitted is rewritten without fuss.
    for _ in 0..2 {
        let output = dsim(
            &["run", "s.toml", "--out", "r", "--emit-scenario", "c.toml"],
            dir.path(),
        );
        assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    }
    // Nothing was run or written by the refused commands before the accepted ones.
    assert!(dir.path().join("r/summary.csv").is_file());
}

#[test]
fn leftovers_of_a_killed_dsim_are_cleaned_by_the_next_run_and_others_kept() {
    if !Path::new("/proc/self").exists() {
        eprintln!("skipped: no /proc to tell ended processes");
        return;
    }
    let dir = workspace();
    let host = fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .unwrap_or_default();
    // What a dsim killed while staging its run folder leaves: a hidden folder named
    // after the target and its process id (one far above any live pid), holding the
    // marker and the owner file.
    let dead = 4_000_000_000u32;
    let staging = dir.path().join(format!(".r.dsim-staging-{dead}"));
    fs::create_dir(&staging).expect("mkdir");
    fs::write(staging.join(".dsim-staging"), format!("{dead} {host}\n")).expect("owner");
    let run = dsim(&["run", "s.toml", "--out", "elsewhere"], dir.path());
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    fs::copy(
        dir.path().join("elsewhere/.dsim-output"),
        staging.join(".dsim-output"),
    )
    .expect("marker");
    // A user's hidden folder that merely looks similar, without the marker.
    let lookalike = dir.path().join(format!(".notes.dsim-staging-{dead}"));
    fs::create_dir(&lookalike).expect("mkdir");
    let run = dsim(&["run", "s.toml", "--out", "r"], dir.path());
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    // Before, staging folders of killed runs piled up forever.
    assert!(
        !staging.exists(),
        "the dead run's staging folder is removed"
    );
    assert!(lookalike.exists(), "a folder without dsim's marker is kept");

    // A half-written chart left in a sweep folder by a killed sweep.
    let sweep = dsim(
        &["sweep", "s.toml", "--seeds", "1..2", "--out", "w"],
        dir.path(),
    );
    assert_eq!(sweep.status.code(), Some(0), "{}", text(&sweep));
    let torn_chart = dir.path().join(format!("w/.sweep_formula.tmp-{dead}.png"));
    fs::write(&torn_chart, b"\x89PNG half").expect("write");
    let users = dir.path().join("w/.my.tmp-notes.txt");
    fs::write(&users, "mine").expect("write");
    let sweep = dsim(
        &["sweep", "s.toml", "--seeds", "1..2", "--out", "w"],
        dir.path(),
    );
    assert_eq!(sweep.status.code(), Some(0), "{}", text(&sweep));
    assert!(
        !torn_chart.exists(),
        "the dead sweep's temporary image is removed"
    );
    assert!(
        users.exists(),
        "a file that is not a dsim temporary is kept"
    );
}
