//! `dsim history check` as a user runs it: verdicts and their exit codes on published
//! Jepsen histories, and bad files refused with file:line:col and exit code 2.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::text;

fn dsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args(args)
        .output()
        .expect("the dsim binary runs")
}

fn etcd(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../dsim-checkers/tests/data")
        .join(name)
        .display()
        .to_string()
}

/// Writes `contents` to a file in a fresh temp dir.
fn file_with(contents: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("history.edn");
    fs::write(&path, contents).expect("write history");
    (dir, path)
}

fn check(path: &Path, model: &str) -> Output {
    dsim(&["history", "check", path.to_str().unwrap(), "--model", model])
}

#[test]
fn a_linearizable_published_history_exits_0() {
    let output = dsim(&[
        "history",
        "check",
        &etcd("etcd_002.log"),
        "--model",
        "cas-register",
    ]);
    let out = text(&output);
    // Exit 0 is the contract for "linearizable"; the summary counts the operations.
    assert_eq!(output.status.code(), Some(0), "{out}");
    assert!(out.contains("linearizable:"), "{out}");
    assert!(out.contains("model cas-register"), "{out}");
}

#[test]
fn a_non_linearizable_published_history_exits_1_with_its_window_and_replay() {
    let file = etcd("etcd_000.log");
    let output = dsim(&["history", "check", &file, "--model", "cas-register"]);
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    // The user must see which operation could not be placed, the state it met, the
    // window, and the command that reproduces the verdict.
    assert!(out.contains("not linearizable"), "{out}");
    assert!(out.contains("cannot be placed: op "), "{out}");
    assert!(out.contains("state after the prefix: "), "{out}");
    assert!(out.contains("failing window"), "{out}");
    assert!(
        out.contains(&format!(
            "replay: dsim history check {file} --model cas-register"
        )),
        "{out}"
    );
}

#[test]
fn a_spent_budget_exits_3() {
    let output = dsim(&[
        "history",
        "check",
        &etcd("etcd_002.log"),
        "--model",
        "cas-register",
        "--budget",
        "10",
    ]);
    let out = text(&output);
    assert_eq!(output.status.code(), Some(3), "{out}");
    assert!(
        out.contains("unknown: the search ran out of budget after 10 states explored"),
        "{out}"
    );
    assert!(out.contains("--budget 100"), "{out}");
}

#[test]
fn an_edn_kv_history_is_checked_per_key() {
    let history = b"\
{:index 0, :time 10, :process 0, :type :invoke, :f :put, :key 1, :value \"a\"}
{:index 1, :time 20, :process 0, :type :ok, :f :put, :key 1, :value \"a\"}
{:index 2, :time 30, :process 1, :type :invoke, :f :append, :key 1, :value \"b\"}
{:index 3, :time 40, :process 1, :type :ok, :f :append, :key 1, :value \"b\"}
{:index 4, :time 50, :process 0, :type :invoke, :f :get, :key 1, :value nil}
{:index 5, :time 60, :process 0, :type :ok, :f :get, :key 1, :value \"ab\"}
{:index 6, :time 70, :process 0, :type :invoke, :f :get, :key 2, :value nil}
{:index 7, :time 80, :process 0, :type :ok, :f :get, :key 2, :value \"a\"}
";
    let (_dir, path) = file_with(history);
    let output = check(&path, "kv");
    let out = text(&output);
    // Key 1 is fine ("a" then "b" appended); key 2 was never written, so reading "a"
    // there is a violation named by its key.
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(out.contains("not linearizable for key 2"), "{out}");
    assert!(out.contains("(line 7): p0 get k=2 -> \"a\""), "{out}");
}

/// Each bad file, the message it must produce (after the path), and why.
#[test]
fn bad_history_files_exit_2_with_file_line_and_column() {
    let cases: &[(&[u8], &str, &str)] = &[
        (b"", "1:1: the history is empty", "empty file"),
        (
            b"{:process 0, :type :invoke, :f :read, :value nil}\n{:process 0, :type :ok, :f :read, :value [1 2}\n",
            "2:46: unexpected `}`",
            "malformed EDN",
        ),
        (
            b"{:process 0, :type :invoke, :f :read, :value nil}\n{:process 1, :type :ok, :f :read, :value 1}\n",
            "2:1: process 1 completes :read but has no pending invocation",
            "unmatched completion",
        ),
        (
            b"{:process 0, :type :invoke, :f :read, :time 50}\n{:process 0, :type :ok, :f :read, :value 1, :time 10}\n",
            "2:1: process 0 completes :read at time 10 ns, before its invocation at 50 ns",
            "completion before invocation",
        ),
        (
            b"{:process 0, :type :invoke, :f :scan, :value nil}\n",
            "1:1: model register: unknown operation :scan (this model knows :read and :write)",
            "unknown :f for the model",
        ),
        (
            b"{:process 0, :type :invoke, :f :read}\n\xc3\x28",
            "2:1: the file is not valid UTF-8",
            "non-UTF-8",
        ),
    ];
    for (contents, expected, why) in cases {
        let (_dir, path) = file_with(contents);
        let output = check(&path, "register");
        let out = text(&output);
        // Exit 2 and the exact position: a user fixes the file from this line alone.
        assert_eq!(output.status.code(), Some(2), "{why}: {out}");
        let located = format!("{}:{expected}", path.display());
        assert!(
            out.contains(&located),
            "{why}: expected {located:?} in {out}"
        );
        assert!(!out.contains("panicked"), "{why}: {out}");
    }
}

#[test]
fn an_unknown_model_or_missing_file_exits_2() {
    let output = dsim(&[
        "history",
        "check",
        &etcd("etcd_000.log"),
        "--model",
        "queue",
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    // clap lists the models a user can choose from.
    assert!(text(&output).contains("cas-register"), "{}", text(&output));
    let output = dsim(&[
        "history",
        "check",
        "/nonexistent/h.edn",
        "--model",
        "register",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output).contains("cannot read /nonexistent/h.edn"),
        "{}",
        text(&output)
    );
}
