//! Client operations are paired as they happen (issue 16, point 3): on the path `dsim
//! run` takes, the engine keeps one record per operation (`RunOutput::ops`) and no
//! observation record of it, and `ops.csv` and `history.edn` are written from those
//! records, one scenario per protocol kind with clients. They are streamed during the
//! run as `dsim run` does, and come out byte-identical to the end-of-run writers'.

use dsim_core::{Observation, RunOutput};
use dsim_report::stream::StreamedOps;
use dsim_report::{Perf, RunMeta, write_run_report, write_streamed_run_report};
use dsim_scenario::{Registry, RunOptions, Scenario, run_scenario};
use std::path::PathBuf;

fn scenario_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name)
}

/// Operation observations the engine kept to the end of the run.
fn kept_op_observations<E>(output: &RunOutput<E>) -> usize {
    output
        .observations
        .iter()
        .filter(|record| {
            matches!(
                record.observation,
                Observation::OpInvoked { .. } | Observation::OpCompleted { .. }
            )
        })
        .count()
}

#[test]
fn every_kind_keeps_its_operations_as_one_record_each_and_reports_them_all() {
    let registry = Registry::builtin();
    // One scenario per kind; every kind's checker releases the operations'
    // observations once the engine has paired them.
    for file in [
        "paxos-nemesis.toml",
        "2pc-lossy.toml",
        "lock-master-failover.toml",
        "mapreduce-worker-failures.toml",
    ] {
        let scenario =
            Scenario::load(&scenario_path(file), &[], &registry).unwrap_or_else(|e| panic!("{e}"));
        let streamed_dir = tempfile::tempdir().unwrap();
        let streamed = StreamedOps::create(streamed_dir.path(), scenario.total_nodes).unwrap();
        let options = RunOptions {
            ops_sink: Some(streamed.sink()),
            ..RunOptions::default()
        };
        let result = run_scenario(&registry, &scenario, options).expect("runs");
        let ops = &result.output.ops;
        assert!(
            !ops.is_empty(),
            "{file}: no operations to judge the test by"
        );
        // Had the checker kept them, a long run would hold each operation three
        // times over (two observation records and its op record).
        assert_eq!(kept_op_observations(&result.output), 0, "{file}");
        let dir = tempfile::tempdir().unwrap();
        let meta = RunMeta {
            scenario: scenario.name.clone(),
            duration_ns: scenario.duration.as_nanos(),
            ..RunMeta::default()
        };
        write_run_report(dir.path(), &meta, &result, &Perf::default()).unwrap();
        write_streamed_run_report(
            streamed_dir.path(),
            &meta,
            &result,
            &Perf::default(),
            streamed,
        )
        .unwrap();
        // Streamed as the run paired them, or written from the records at the end: the
        // same bytes. A streamed writer that ordered, numbered (history processes) or
        // dropped anything differently, or a sink that missed an event, differs here.
        for name in ["ops.csv", "history.edn", "report.html", "summary.csv"] {
            let read = |dir: &std::path::Path| std::fs::read(dir.join(name)).unwrap();
            assert!(
                read(dir.path()) == read(streamed_dir.path()),
                "{file}: streamed {name} differs"
            );
        }
        // Nothing left under a temporary name.
        let left = std::fs::read_dir(streamed_dir.path())
            .unwrap()
            .filter(|entry| {
                entry
                    .as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains(".tmp")
            })
            .count();
        assert_eq!(left, 0, "{file}");
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
        // One ops.csv row per record, in op_id order, each as the record says: a row
        // lost, duplicated or built from something else than the records shows here.
        let csv = read("ops.csv");
        let rows: Vec<&str> = csv.lines().skip(1).collect();
        assert_eq!(rows.len(), ops.len(), "{file}");
        for (row, op) in rows.iter().zip(ops.iter()).step_by(97) {
            assert!(
                row.starts_with(&format!("{},{},{},", op.op_id, op.client.0, op.kind)),
                "{file}: {row}"
            );
        }
        let last = ops.last().expect("not empty");
        assert!(
            rows.last()
                .expect("not empty")
                .starts_with(&format!("{},", last.op_id)),
            "{file}"
        );
        // history.edn: an invocation line per operation and a completion line per
        // completed one, interleaved as observed (the indexes count up by one).
        let history = read("history.edn");
        let completed = ops.iter().filter(|op| op.end.is_some()).count();
        assert_eq!(history.lines().count(), ops.len() + completed, "{file}");
        let invocations = history
            .lines()
            .filter(|line| line.contains(":type :invoke"))
            .count();
        assert_eq!(invocations, ops.len(), "{file}");
        for (index, line) in history.lines().enumerate().step_by(101) {
            assert!(
                line.starts_with(&format!("{{:index {index}, ")),
                "{file}: {line}"
            );
        }
    }
}
