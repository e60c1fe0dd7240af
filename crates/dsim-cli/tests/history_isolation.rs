//! `dsim history check FILE --model list-append|rw-register` as a user runs it on
//! Elle-format transactional histories: exit 0 without anomalies, 1 with them (each
//! explained), 2 for bad input with file:line:col.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

fn check(contents: &str, model: &str) -> (tempfile::TempDir, PathBuf, Output, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("txns.edn");
    fs::write(&path, contents).expect("write history");
    let output = Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args(["history", "check", path.to_str().unwrap(), "--model", model])
        .output()
        .expect("the dsim binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (dir, path, output, text)
}

/// Write skew in Elle's format, `:index` and `:time` fields included.
const WRITE_SKEW: &str = "\
{:index 0, :time 0, :type :invoke, :process 0, :f :txn, :value [[:r 1 nil] [:append 2 1]]}
{:index 1, :time 1, :type :invoke, :process 1, :f :txn, :value [[:r 2 nil] [:append 1 1]]}
{:index 2, :time 2, :type :ok, :process 0, :f :txn, :value [[:r 1 nil] [:append 2 1]]}
{:index 3, :time 3, :type :ok, :process 1, :f :txn, :value [[:r 2 nil] [:append 1 1]]}
{:index 4, :time 4, :type :invoke, :process 2, :f :txn, :value [[:r 1 nil] [:r 2 nil]]}
{:index 5, :time 5, :type :ok, :process 2, :f :txn, :value [[:r 1 [1]] [:r 2 [1]]]}
";

#[test]
fn write_skew_exits_1_naming_g2_item_and_the_models_it_rules_out() {
    let (_dir, _path, output, out) = check(WRITE_SKEW, "list-append");
    // Exit 1 is the contract for "anomalies found"; the explanation names the cycle's
    // edges and the models, and a replay command follows.
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(
        out.contains("3 transactions (3 ok, 0 fail, 0 info), model list-append"),
        "{out}"
    );
    assert!(out.contains("[G2-item]"), "{out}");
    assert!(
        out.contains("ruled out: repeatable-read, serializable, strict-serializable"),
        "{out}"
    );
    assert!(
        out.contains("T0 -rw-> T1: T0 read nil of key 1, which lacks 1"),
        "{out}"
    );
    assert!(out.contains("replay: dsim history check"), "{out}");
}

#[test]
fn a_serial_register_history_exits_0() {
    let history = "\
{:type :invoke, :process 0, :f :txn, :value [[:w 1 5] [:r 2 nil]]}
{:type :ok, :process 0, :f :txn, :value [[:w 1 5] [:r 2 nil]]}
{:type :invoke, :process 1, :f :txn, :value [[:r 1 nil] [:w 2 6]]}
{:type :ok, :process 1, :f :txn, :value [[:r 1 5] [:w 2 6]]}
";
    let (_dir, _path, output, out) = check(history, "rw-register");
    assert_eq!(output.status.code(), Some(0), "{out}");
}

#[test]
fn malformed_transactions_exit_2_with_file_line_and_column() {
    let history = "\
{:type :invoke, :process 0, :f :txn, :value [[:append 1 1]]}
{:type :invoke, :process 1, :f :txn, :value [[:append 1 2] [:w 3]]}
";
    let (_dir, path, output, out) = check(history, "list-append");
    assert_eq!(output.status.code(), Some(2), "{out}");
    assert!(
        out.contains(&format!(
            "{}:2:1: micro-op 2 of its invocation, [:w 3], must be [:append key value] or [:r key nil-or-list]",
            path.display()
        )),
        "{out}"
    );
    let (_dir, path, output, out) = check(
        "{:type :invoke, :process 0, :f :txn, :value [[:r 1 nil]]",
        "list-append",
    );
    assert_eq!(output.status.code(), Some(2), "{out}");
    assert!(out.contains(&format!("{}:1:", path.display())), "{out}");
}
