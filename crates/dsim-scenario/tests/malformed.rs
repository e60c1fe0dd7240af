//! Every class of bad scenario gets an error that names the file, the position, the
//! field, what was found and what is allowed — never a panic.

use dsim_scenario::{Origin, Registry, Scenario, ScenarioError};
use std::path::{Path, PathBuf};

fn load(name: &str) -> ScenarioError {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/malformed")
        .join(name);
    match Scenario::load(&path, &[], &Registry::builtin()) {
        Ok(scenario) => panic!("{name} should be refused, but loaded as {scenario:?}"),
        Err(error) => error,
    }
}

/// (file, expected line, expected field, a phrase of the problem, a phrase of what is allowed)
const CASES: &[(&str, Option<usize>, &str, &str, &str)] = &[
    (
        "syntax_error.toml",
        Some(3),
        "",
        "TOML syntax error",
        "valid TOML",
    ),
    (
        "unknown_field.toml",
        Some(7),
        "network.latncy",
        "unknown field `latncy`",
        "latency",
    ),
    (
        "unknown_kind.toml",
        Some(4),
        "protocol.kind",
        "unknown protocol kind \"raft\"",
        "paxos",
    ),
    (
        "unknown_variant.toml",
        Some(6),
        "protocol.variant",
        "unknown variant \"sloppy\"",
        "correct",
    ),
    (
        "zero_nodes.toml",
        Some(5),
        "protocol.nodes",
        "found 0",
        "from 1",
    ),
    (
        "absurd_nodes.toml",
        Some(5),
        "protocol.nodes",
        "found 99999999999",
        "replicas",
    ),
    (
        "node_out_of_range.toml",
        Some(8),
        "faults[0].crash",
        "node 7 does not exist",
        "from 0 to 2",
    ),
    (
        "probability_above_one.toml",
        Some(7),
        "network.drop",
        "found 1.5",
        "probability from 0 to 1",
    ),
    (
        "probability_nan.toml",
        Some(7),
        "network.duplicate",
        "NaN",
        "probability from 0 to 1",
    ),
    (
        "bad_duration.toml",
        Some(2),
        "duration",
        "cannot read \"ten seconds\"",
        "150ms",
    ),
    (
        "negative_time.toml",
        Some(7),
        "faults[0].at",
        "negative times are not allowed",
        "duration",
    ),
    (
        "overlapping_groups.toml",
        Some(8),
        "faults[0].partition[1]",
        "node 1 is also in group 0",
        "bridge",
    ),
    (
        "restart_of_up_node.toml",
        Some(8),
        "faults[0].restart",
        "restart of node 1 at 200ms, which is up",
        "after a crash",
    ),
    (
        "crash_of_down_node.toml",
        Some(11),
        "faults[1].crash",
        "already down",
        "restart it first",
    ),
    (
        "two_actions.toml",
        Some(6),
        "faults[0]",
        "2 actions in one fault entry (crash, heal)",
        "exactly one action",
    ),
    ("empty.toml", None, "", "empty", "name"),
    ("non_utf8.toml", Some(1), "", "not valid UTF-8", "UTF-8"),
    // Constraints the protocols enforce at run time, reported by check at the key.
    (
        "zero_election_timeout.toml",
        Some(7),
        "protocol.election_timeout",
        "found \"0ns\"",
        "a duration from \"1ns\"",
    ),
    (
        "zero_snapshot_interval.toml",
        Some(7),
        "protocol.snapshot_interval",
        "found 0",
        "from 1",
    ),
    (
        "negative_snapshot_interval.toml",
        Some(7),
        "protocol.snapshot_interval",
        "found -5",
        "from 1",
    ),
    (
        "lock_zero_snapshot_interval.toml",
        Some(8),
        "protocol.snapshot_interval",
        "found 0",
        "from 1",
    ),
    (
        "lock_negative_snapshot_interval.toml",
        Some(7),
        "protocol.snapshot_interval",
        "found -5",
        "from 1",
    ),
    (
        "lease_margin_too_large.toml",
        Some(7),
        "protocol.lease_margin",
        "found 0.9",
        "up to (not including) 0.5",
    ),
    (
        "txn_length_min_above_max.toml",
        Some(8),
        "protocol.txn_length_min",
        "txn_length_min = 5 with txn_length_max = 3",
        "txn_length_min <= txn_length_max",
    ),
    (
        "tpc_retry_max_attempts.toml",
        Some(5),
        "protocol",
        "two_phase_commit refuses workload.retry.max_attempts = 3",
        "a configuration two_phase_commit can run",
    ),
    (
        "unknown_txn_workload.toml",
        Some(7),
        "protocol.workload",
        "found \"bank\"",
        "one of \"list-append\", \"rw-register\"",
    ),
    (
        "heartbeat_longer_than_lease.toml",
        Some(7),
        "protocol.heartbeat_interval",
        "more than half the usable master lease",
        "heartbeat_interval * 2 <= master_lease",
    ),
    (
        "more_slow_workers_than_workers.toml",
        Some(7),
        "protocol.slow_workers",
        "more than the 2 workers",
        "at most nodes - 1",
    ),
    (
        "fetch_timeout_below_round_trip.toml",
        Some(6),
        "protocol",
        "fetch_timeout (3ms) is shorter than the network's mean round trip",
        "fit the [network] latency model",
    ),
    (
        "zero_gather_timeout.toml",
        Some(8),
        "protocol.gather_timeout",
        "found \"0ns\"",
        "a duration from \"1ns\"",
    ),
    (
        "integer_above_i64.toml",
        Some(6),
        "protocol.nodes",
        "found 10000000000000000000 (an integer too large, above 9223372036854775807)",
        "replicas",
    ),
    (
        "seed_negative.toml",
        Some(3),
        "seed",
        "found -1",
        "0 to 18446744073709551615",
    ),
    (
        "wrong_type_duration.toml",
        Some(2),
        "duration",
        "found 5 (an integer)",
        "150ms",
    ),
    (
        "wrong_type_nodes.toml",
        Some(5),
        "protocol.nodes",
        "found \"three\" (a string)",
        "whole number",
    ),
    (
        "fault_after_end.toml",
        Some(7),
        "faults[0].at",
        "after the end of the run",
        "from 0 to 1s",
    ),
    (
        "bad_distribution_parameter.toml",
        Some(7),
        "network.latency",
        "sigma",
        "lognormal",
    ),
    (
        "pause_without_duration.toml",
        Some(8),
        "faults[0].duration",
        "pause needs a duration",
        "duration",
    ),
    (
        "missing_name.toml",
        Some(1),
        "name",
        "missing required field",
        "short name",
    ),
    // Drawn fault entries (`count` nodes `among` a group of the protocol): MapReduce
    // with 6 nodes has the master (node 0) and the workers 1 to 5.
    // MapReduce's data sizes and bandwidths (issue 14): zero, negative or NaN, and a
    // sort with more range partitions than keys.
    (
        "mapreduce_disk_bandwidth_zero.toml",
        Some(7),
        "protocol.disk_bytes_per_s",
        "0 bytes/s",
        "at least 1 byte/s",
    ),
    (
        "mapreduce_input_bytes_nan.toml",
        Some(7),
        "protocol.input_bytes",
        "NaN",
        "a whole number from 1",
    ),
    (
        "mapreduce_record_bytes_negative.toml",
        Some(7),
        "protocol.record_bytes",
        "found -100",
        "a whole number from 1",
    ),
    (
        "mapreduce_sort_more_partitions_than_keys.toml",
        Some(7),
        "protocol.reduce_tasks",
        "R = 8 range partitions over a key space of 4 keys",
        "reduce_tasks <= key_space",
    ),
    (
        "drawn_count_zero.toml",
        Some(8),
        "faults[0].crash.count",
        "found 0",
        "from 1 to 5",
    ),
    (
        "drawn_count_negative.toml",
        Some(8),
        "faults[0].crash.count",
        "found -2",
        "from 1 to 5",
    ),
    (
        "drawn_count_above_group.toml",
        Some(8),
        "faults[0].crash.count",
        "more than the 5 nodes of the group \"workers\"",
        "from 1 to 5",
    ),
    (
        "drawn_unknown_group.toml",
        Some(8),
        "faults[0].crash.among",
        "unknown node group \"replicas\"",
        "\"master\" (node 0), \"workers\" (nodes 1 to 5)",
    ),
    (
        "drawn_restart_more_than_down.toml",
        Some(11),
        "faults[1].restart.count",
        "only 2 of them are down",
        "from 1 to 2",
    ),
    (
        "drawn_pause_when_none_left.toml",
        Some(14),
        "faults[2].pause.count",
        "only 1 can be drawn",
        "from 1 to 1",
    ),
    // Idle clients name client nodes (replicas 0..3, clients 3..5 here), each once.
    (
        "idle_client_not_a_client.toml",
        Some(8),
        "workload.idle_clients[1]",
        "node 5 is not a client",
        "a client node id from 3 to 4",
    ),
    (
        "idle_client_twice.toml",
        Some(9),
        "workload.idle_clients[1]",
        "node 4 is listed twice",
        "at most once",
    ),
    (
        "idle_clients_without_client_nodes.toml",
        Some(8),
        "workload.idle_clients",
        "mapreduce has no client nodes",
        "no idle_clients key",
    ),
];

#[test]
fn every_malformed_file_gets_a_precise_error() {
    let mut failures = Vec::new();
    for &(file, line, field, problem, allowed) in CASES {
        let error = load(file);
        let text = error.to_string();
        // The error must say where: the file, and the line when the problem has one.
        let expected_path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/malformed")
            .join(file);
        let position_ok = match (&error.origin, line) {
            (
                Origin::File {
                    path, line: got, ..
                },
                Some(want),
            ) => path == &expected_path && *got == want,
            (Origin::WholeFile(path), None) => path == &expected_path,
            _ => false,
        };
        if !position_ok
            || error.field != field
            || !error.problem.contains(problem)
            || !error.allowed.contains(allowed)
        {
            failures.push(format!("{file}: expected line {line:?}, field {field:?}, problem ~{problem:?}, allowed ~{allowed:?}\n   got: {text}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn there_are_at_least_fifteen_malformed_files_and_each_is_tested() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .expect("malformed folder exists")
        .map(|entry| {
            entry
                .expect("readable entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    files.sort();
    assert!(files.len() >= 15, "only {} malformed files", files.len());
    for file in &files {
        assert!(
            CASES.iter().any(|case| case.0 == file),
            "{file} has no expectation in CASES"
        );
    }
}

#[test]
fn error_text_reads_file_line_column_field_problem_allowed() {
    let error = load("probability_above_one.toml");
    let text = error.to_string();
    assert!(text.contains("probability_above_one.toml:7:8: network.drop: found 1.5, outside [0, 1]; allowed: a probability from 0 to 1"), "{text}");
}

fn hold_text() -> &'static str {
    "name = \"ok\"\nduration = \"1s\"\n[protocol]\nkind = \"hold\"\nnodes = 3\n"
}

#[test]
fn set_flags_are_validated_like_the_file() {
    let registry = Registry::builtin();
    let path = Path::new("inline.toml");
    let error = Scenario::from_text(
        path,
        hold_text(),
        &["network.drop=2".to_string()],
        &registry,
    )
    .expect_err("drop of 2 is refused");
    // The error points at the flag, not at a line of the file.
    assert_eq!(error.origin, Origin::Flag("network.drop=2".into()));
    assert_eq!(error.field, "network.drop");
    let error = Scenario::from_text(path, hold_text(), &["replicas=3".to_string()], &registry)
        .expect_err("a top-level `replicas` is unknown");
    assert!(
        error.problem.contains("unknown field `replicas`"),
        "{error}"
    );
    // `nodes` at the top level is the load model's [nodes] table, not a count.
    let error = Scenario::from_text(path, hold_text(), &["nodes=3".to_string()], &registry)
        .expect_err("a top-level `nodes` must be a table");
    assert!(error.problem.contains("found 3"), "{error}");
    let error = Scenario::from_text(path, hold_text(), &["network.drop".to_string()], &registry)
        .expect_err("a flag without = is refused");
    assert!(error.problem.contains("missing `=`"));
}

#[test]
fn set_flags_override_fields_and_strings_need_no_quotes() {
    let registry = Registry::builtin();
    let flags = [
        "duration=2.5s".to_string(),
        "network.drop=0.05".to_string(),
        "protocol.messages_per_node=3".to_string(),
        "seed=9".to_string(),
    ];
    let scenario = Scenario::from_text(Path::new("inline.toml"), hold_text(), &flags, &registry)
        .expect("valid overrides");
    assert_eq!(scenario.duration.as_nanos(), 2_500_000_000);
    assert_eq!(scenario.network.default_link.drop_ratio, 0.05);
    assert_eq!(scenario.seed, 9);
    assert_eq!(
        scenario.params.0.get("messages_per_node"),
        Some(&dsim_core::ParamValue::Int(3))
    );
}

#[test]
fn faults_are_sorted_by_time_and_bridges_join_both_sides() {
    let text = format!(
        "{}[[faults]]\nat = \"0.5s\"\nheal = true\n[[faults]]\nat = \"0.1s\"\nbridge = {{ node = 1, groups = [[0], [2]] }}\n",
        hold_text()
    );
    let scenario = Scenario::from_text(Path::new("inline.toml"), &text, &[], &Registry::builtin())
        .expect("valid scenario");
    assert_eq!(scenario.faults.len(), 2);
    assert_eq!(scenario.faults[0].at.as_nanos(), 100_000_000);
    assert_eq!(
        scenario.faults[0].fault,
        dsim_core::Fault::Partition(vec![
            vec![dsim_core::NodeId(0), dsim_core::NodeId(1)],
            vec![dsim_core::NodeId(2), dsim_core::NodeId(1)]
        ])
    );
    assert_eq!(scenario.faults[1].fault, dsim_core::Fault::Heal);
}

#[test]
fn invalid_utf8_is_reported_by_line_and_column() {
    // Before, the error named a byte offset of the whole file; an editor wants the
    // line and column. The bad byte is the 10th character of line 1 (`name = "m` + ff).
    let error = load("non_utf8.toml");
    match error.origin {
        Origin::File { line, column, .. } => assert_eq!((line, column), (1, 10), "{error}"),
        other => panic!("expected a file position, got {other:?}"),
    }
    assert!(error.problem.contains("0xff"), "{error}");
}

#[test]
fn a_huge_string_is_not_echoed_whole_in_an_error() {
    // A 100 KB variant name used to be printed whole; the error must stay short and
    // say how long the text was.
    let long = "v".repeat(100_000);
    let text = format!(
        "name = \"x\"\nduration = \"1s\"\n[protocol]\nkind = \"paxos\"\nnodes = 3\nvariant = \"{long}\"\n"
    );
    let error = Scenario::from_text(Path::new("long.toml"), &text, &[], &Registry::builtin())
        .expect_err("an unknown variant is refused");
    let shown = error.to_string();
    assert!(shown.len() < 1_000, "error is {} bytes long", shown.len());
    assert!(shown.contains("… (100000 characters)"), "{shown}");
}

#[test]
fn the_largest_u64_seed_is_accepted_in_the_file_as_on_the_command_line() {
    // `--seed` takes any u64; the file's `seed` refused everything above 2^63-1.
    let text = "name = \"x\"\nseed = 18446744073709551615\nduration = \"1s\"\n[protocol]\nkind = \"hold\"\nnodes = 3\n";
    let scenario = Scenario::from_text(Path::new("seed.toml"), text, &[], &Registry::builtin())
        .expect("u64::MAX is a valid seed");
    assert_eq!(scenario.seed, u64::MAX);
    let over = text.replace("18446744073709551615", "18446744073709551616");
    let error = Scenario::from_text(Path::new("seed.toml"), &over, &[], &Registry::builtin())
        .expect_err("2^64 is not a seed");
    assert!(error.allowed.contains("18446744073709551615"), "{error}");
}

#[test]
fn a_duration_beyond_the_limit_is_refused_at_its_position() {
    // Durations above 100000h could overflow virtual time once added to a clock.
    let text = "name = \"x\"\nduration = \"100001h\"\n[protocol]\nkind = \"hold\"\nnodes = 3\n";
    let error = Scenario::from_text(Path::new("d.toml"), text, &[], &Registry::builtin())
        .expect_err("over the limit");
    assert!(error.problem.contains("limit of 100000h"), "{error}");
    assert!(
        matches!(error.origin, Origin::File { line: 2, .. }),
        "{error}"
    );
}
