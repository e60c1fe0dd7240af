//! Awkward runs for the explorer: no messages, one node, a million messages, a
//! violation at time zero. Shared by `explorer_inputs.rs` (the page's text) and
//! `explorer_chromium.rs` (the page opens in a browser).

#![allow(dead_code)]

use dsim_core::{
    Counters, Formula, MessageFate, MessageLog, NoEvent, NodeId, Observation, ObservationRecord,
    Outcome, RunOutput, RunResult, SimTime, Value, Verdict, Violation,
};
use dsim_report::RunMeta;

const MS: u64 = 1_000_000;

/// The awkward cases, by name.
pub const CASES: [&str; 4] = [
    "no-messages",
    "one-node",
    "million-messages",
    "violation-at-zero",
];

fn op(node: u32, op: u64, start_ms: u64, end_ms: u64) -> [ObservationRecord<NoEvent>; 2] {
    [
        ObservationRecord {
            time: SimTime(start_ms * MS),
            node: NodeId(node),
            observation: Observation::OpInvoked {
                op,
                f: "put",
                key: Some(Value::Int(1)),
                arg: Value::Int(op as i64),
            },
        },
        ObservationRecord {
            time: SimTime(end_ms * MS),
            node: NodeId(node),
            observation: Observation::OpCompleted {
                op,
                outcome: Outcome::Ok,
                ret: Value::Nil,
            },
        },
    ]
}

/// `count` messages, one every `gap_ns`, among `nodes` nodes, each delivered 1 ms later.
fn messages(count: u64, nodes: u32, gap_ns: u64) -> MessageLog {
    let mut log = MessageLog::new();
    for i in 0..count {
        let source = (i % u64::from(nodes)) as u32;
        let record = log.push(
            NodeId(source),
            NodeId((source + 1) % nodes),
            SimTime(i * gap_ns),
            &format!("Ping {{ n: {} }}", i % 7),
        );
        log.set_fate(record, MessageFate::Delivered(SimTime(i * gap_ns + MS)));
    }
    log
}

/// The run of an awkward case.
pub fn case(name: &str) -> (RunMeta, RunResult) {
    let (node_count, end_ms, observations, messages, violations) = match name {
        "no-messages" => (
            3,
            100,
            op(2, 0, 10, 20).into_iter().collect::<Vec<_>>(),
            MessageLog::new(),
            Vec::new(),
        ),
        "one-node" => (
            1,
            100,
            op(0, 0, 10, 20).into_iter().collect(),
            messages(3, 1, 10 * MS),
            Vec::new(),
        ),
        "million-messages" => (
            10,
            1_000_000,
            Vec::new(),
            // One message per millisecond for 1,000 s.
            messages(1_000_000, 10, MS),
            vec![Violation {
                time: SimTime(700_000 * MS),
                check: "agreement",
                nodes: vec![NodeId(3)],
                details: "two values chosen for slot 9".into(),
                ops: Vec::new(),
                figure: None,
            }],
        ),
        "violation-at-zero" => (
            3,
            100,
            op(2, 0, 0, 5).into_iter().collect(),
            messages(20, 3, MS),
            vec![Violation {
                time: SimTime::ZERO,
                check: "validity",
                nodes: vec![NodeId(0), NodeId(2)],
                details: "decided a value nobody proposed".into(),
                ops: Vec::new(),
                figure: None,
            }],
        ),
        other => panic!("no case {other}"),
    };
    let sent = messages.len() as u64;
    let result = RunResult {
        output: RunOutput {
            seed: 1,
            node_count,
            end_time: SimTime(end_ms * MS),
            counters: Counters {
                messages_sent: sent,
                messages_delivered: sent,
                events: sent,
                ..Counters::default()
            },
            fingerprint: 1,
            ops: dsim_core::ops::pair(&observations),
            observations,
            fault_log: Vec::new(),
            messages,
        },
        verdict: Verdict {
            violations,
            formula: Formula::MeanOkLatency { name: "T" },
            agreement: 1.0,
            extra_columns: Vec::new(),
        },
        trace_error: None,
    };
    let meta = RunMeta {
        scenario: name.to_string(),
        protocol: "test".into(),
        variant: "correct".into(),
        seed: 1,
        replay_command: format!("dsim run {name}.toml --seed 1"),
        scenario_toml: String::new(),
        duration_ns: end_ms * MS,
    };
    (meta, result)
}
