//! Integration tests of the MapReduce model's mechanisms (issue 14): bytes moving at
//! disk and network bandwidth, the sort job and its checker, run through
//! `Protocol::run`.

use dsim_core::{
    Bandwidth, Fault, LinkBandwidth, LoadConfig, NetworkConfig, NodeCpu, NodeId, Observation,
    ParamValue, Params, Protocol, RunRequest, RunResult, SimConfig, SimDuration, SimTime, Workload,
};
use dsim_protocols::mapreduce::MapReduce;
use std::collections::BTreeMap;

/// A run of `nodes` nodes with `params`, an optional NIC bandwidth (bits/s) and faults.
fn run(
    nodes: usize,
    params: &[(&str, ParamValue)],
    nic_bits_per_s: Option<u64>,
    faults: Vec<(SimTime, Fault)>,
) -> Result<RunResult, String> {
    let params = Params(
        params
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    );
    let load = nic_bits_per_s.map(|bits| LoadConfig {
        cpu: NodeCpu::default(),
        bandwidth: LinkBandwidth {
            nic: Some(Bandwidth::bits_per_s(bits)),
            ..LinkBandwidth::default()
        },
        ..LoadConfig::default()
    });
    let request = RunRequest {
        config: SimConfig {
            seed: 5,
            network: NetworkConfig::default(),
            load,
            ..SimConfig::default()
        },
        nodes,
        variant: "correct".to_string(),
        params,
        workload: Workload {
            clients: 0,
            rate_per_s: 0.0,
            ..Workload::default()
        },
        duration: SimDuration::from_secs(600),
        faults,
        trace: None,
        ops_sink: None,
    };
    MapReduce.run(request).map_err(|e| e.to_string())
}

fn column(result: &RunResult, name: &str) -> String {
    result
        .verdict
        .column(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .to_string()
}

/// Each task operation's duration in ns, keyed by (kind, task), from `ops`.
fn task_durations(result: &RunResult) -> BTreeMap<(&'static str, i64), u64> {
    // The operations are the engine's paired records: their observations were
    // released as the run went (a kept one would be held to the end for nothing).
    assert!(!result.output.observations.iter().any(|r| matches!(
        r.observation,
        Observation::OpInvoked { .. } | Observation::OpCompleted { .. }
    )));
    let mut durations = BTreeMap::new();
    // In completion order, so a task's last completed attempt is the one kept.
    let mut completed: Vec<_> = result
        .output
        .ops
        .iter()
        .filter(|op| op.end.is_some())
        .collect();
    completed.sort_by_key(|op| op.complete_seq);
    for op in completed {
        let key = op.key.as_ref().and_then(|k| k.as_list()).expect("keyed");
        let kind = if key[0] == dsim_core::Value::keyword("map") {
            "map"
        } else {
            "reduce"
        };
        let task = match key[1] {
            dsim_core::Value::Int(task) => task,
            _ => panic!("task id"),
        };
        durations.insert((kind, task), op.latency_ns().expect("completed"));
    }
    durations
}

fn int(value: i64) -> ParamValue {
    ParamValue::Int(value)
}

fn text(value: &str) -> ParamValue {
    ParamValue::Text(value.to_string())
}

const MS: u64 = 1_000_000;

#[test]
fn disk_phases_take_their_bytes_over_the_disk_bandwidth() {
    // One worker sorts 30 MB in one map and one reduce task, with no CPU cost, at
    // 30 MB/s: the map reads 30 MB (1 s) and writes 30 MB of intermediate data (1 s);
    // the reduce reads its own map output (1 s, no network) and writes two replicas
    // of 30 MB (2 s). Each operation also spans an assignment and a report, 1 ms
    // each. A model that ignored bytes, or charged the wrong phase, misses by seconds.
    let result = run(
        2,
        &[
            ("job", text("sort")),
            ("map_tasks", int(1)),
            ("reduce_tasks", int(1)),
            ("input_bytes", int(30_000_000)),
            ("disk_bytes_per_s", int(30_000_000)),
            ("output_replicas", int(2)),
            (
                "liveness_bound",
                ParamValue::Duration(SimDuration::from_secs(60)),
            ),
            ("map_ns_per_word", int(0)),
            ("reduce_ns_per_record", int(0)),
        ],
        None,
        Vec::new(),
    )
    .expect("runs");
    assert!(result.verdict.violations.is_empty(), "{:?}", result.verdict);
    let durations = task_durations(&result);
    let map = durations[&("map", 0)];
    let reduce = durations[&("reduce", 0)];
    // Within 5 ms of the bytes' time: the two 1 ms messages and rounding.
    assert!((2_000 * MS..2_005 * MS).contains(&map), "map took {map} ns");
    assert!(
        (3_000 * MS..3_005 * MS).contains(&reduce),
        "reduce took {reduce} ns"
    );
}

#[test]
fn the_shuffle_takes_the_fetched_bytes_over_the_nic_bandwidth() {
    // Two workers each map half of a 30 MB sort (no disk model, no CPU cost); the one
    // reducer (worker 1) fetches worker 2's 15 MB run through 80 Mbit/s NICs
    // (10 MB/s): 1.5 s of transmission. If fetch replies weighed only their header,
    // the reduce would take a few ms.
    let result = run(
        3,
        &[
            ("job", text("sort")),
            ("map_tasks", int(2)),
            ("reduce_tasks", int(1)),
            ("input_bytes", int(30_000_000)),
            ("map_ns_per_word", int(0)),
            ("reduce_ns_per_record", int(0)),
            // The 15 MB reply holds worker 2's NIC for 1.5 s, and its pongs wait behind
            // it (head-of-line blocking): the failure timeout must outlast that.
            (
                "fetch_timeout",
                ParamValue::Duration(SimDuration::from_secs(10)),
            ),
            (
                "failure_timeout",
                ParamValue::Duration(SimDuration::from_secs(5)),
            ),
        ],
        Some(80_000_000),
        Vec::new(),
    )
    .expect("runs");
    assert!(result.verdict.violations.is_empty(), "{:?}", result.verdict);
    let reduce = task_durations(&result)[&("reduce", 0)];
    assert!(
        (1_500 * MS..1_510 * MS).contains(&reduce),
        "reduce took {reduce} ns"
    );
}

/// A sort of 8 MB on 6 workers, M = 24, R = 6, with disks and CPU costs.
fn sort_params() -> Vec<(&'static str, ParamValue)> {
    vec![
        ("job", text("sort")),
        ("map_tasks", int(24)),
        ("reduce_tasks", int(6)),
        ("input_bytes", int(8_000_000)),
        ("disk_bytes_per_s", int(50_000_000)),
        ("map_ns_per_word", int(2_000)),
        ("reduce_ns_per_record", int(1_000)),
        (
            "fetch_timeout",
            ParamValue::Duration(SimDuration::from_secs(1)),
        ),
    ]
}

#[test]
fn sort_commits_every_partition_equal_to_the_sequential_merge_even_when_workers_die() {
    // Two of six workers crash mid-job: their map outputs are lost and redone. The
    // checker recomputes every partition's (records, bytes, checksum) from the seed;
    // a partition that merged a lost run zero times or a redone run twice differs.
    for crash_ms in [30, 150] {
        let faults = vec![
            (SimTime(crash_ms * MS), Fault::Crash(NodeId(2))),
            (SimTime(crash_ms * MS), Fault::Crash(NodeId(5))),
        ];
        let result = run(7, &sort_params(), None, faults).expect("runs");
        assert!(result.verdict.violations.is_empty(), "{:?}", result.verdict);
        assert_eq!(column(&result, "job_completed"), "true");
        assert_eq!(column(&result, "partitions_committed"), "6");
    }
}

#[test]
fn a_sort_with_more_partitions_than_keys_or_a_zero_bandwidth_is_refused() {
    let mut params = sort_params();
    params.push(("key_space", int(5)));
    let refused = run(7, &params, None, Vec::new())
        .err()
        .expect("R = 6 > 5 keys");
    assert!(refused.contains("reduce_tasks"), "{refused}");
    let mut params = sort_params();
    params.push(("disk_bytes_per_s", int(0)));
    let refused = run(7, &params, None, Vec::new()).err().expect("0 bytes/s");
    assert!(refused.contains("disk_bytes_per_s"), "{refused}");
}

/// When the last map task of `result` completed, in ns.
fn last_map_end(result: &RunResult) -> u64 {
    let mut last = 0;
    for op in &result.output.ops {
        let key = op.key.as_ref().and_then(|k| k.as_list()).expect("keyed");
        if key[0] == dsim_core::Value::keyword("map")
            && let Some(end) = op.end
        {
            last = last.max(end.0);
        }
    }
    last
}

#[test]
fn two_task_slots_run_two_attempts_at_once_sharing_the_disk() {
    // One worker, four 10 MB splits on a 10 MB/s disk, 1 s of CPU each: a map is read
    // 1 s, compute 1 s, write 1 s. With one slot the maps run one after the other:
    // 12 s. With two, the second map computes while the first writes, and their disk
    // phases queue on the one disk: 3, 4, 7 and 8 s. Were the slots not sharing the
    // disk the maps would end at 6 s; were there one slot, at 12 s.
    let params = |slots: i64| {
        vec![
            ("job", text("sort")),
            ("map_tasks", int(4)),
            ("reduce_tasks", int(1)),
            ("input_bytes", int(40_000_000)),
            ("disk_bytes_per_s", int(10_000_000)),
            ("map_ns_per_word", int(10_000)),
            ("reduce_ns_per_record", int(0)),
            (
                "liveness_bound",
                ParamValue::Duration(SimDuration::from_secs(120)),
            ),
            ("slots_per_worker", int(slots)),
        ]
    };
    let one = run(2, &params(1), None, Vec::new()).expect("runs");
    let two = run(2, &params(2), None, Vec::new()).expect("runs");
    for result in [&one, &two] {
        assert!(result.verdict.violations.is_empty(), "{:?}", result.verdict);
        assert_eq!(column(result, "job_completed"), "true");
    }
    let (one, two) = (last_map_end(&one), last_map_end(&two));
    assert!(
        (12_000 * MS..12_050 * MS).contains(&one),
        "one slot: {one} ns"
    );
    assert!(
        (8_000 * MS..8_050 * MS).contains(&two),
        "two slots: {two} ns"
    );
}
