//! A small key-value protocol for report tests: three servers and some clients. Each
//! client invokes an operation every `interval`, sends it to a random server and waits
//! for the reply; servers reject 5% of requests, a 40 ms timeout fails the rest. With a
//! lossy, jittery network and scheduled crash, partition, pause and degradation, runs
//! have varied latencies, failures of two kinds, unfinished operations and dropped
//! messages: everything a report shows.

#![allow(dead_code)]

use dsim_core::protocol::{RunRequest, execute, generic_output};
use dsim_core::rng::{below, chance};
use dsim_core::{
    Ctx, Delay, Fault, Formula, LinkModel, LinkOrder, NetworkConfig, NoEvent, Node, NodeId,
    Observation, Outcome, Params, RunResult, SimConfig, SimDuration, SimTime, TimerId, Value,
    Verdict, Violation, Workload,
};
use dsim_report::RunMeta;
use std::collections::BTreeMap;

pub const SERVERS: u32 = 3;

#[derive(Clone, Debug)]
pub enum KvMsg {
    Request { op: u64 },
    Reply { op: u64, accepted: bool },
}

#[derive(Clone, Debug)]
pub enum KvTimer {
    Issue,
    Timeout { op: u64 },
}

pub enum KvNode {
    Server,
    Client {
        interval: SimDuration,
        next_op: u64,
        pending: BTreeMap<u64, TimerId>,
    },
}

impl Node for KvNode {
    type Msg = KvMsg;
    type Timer = KvTimer;
    type Durable = ();
    type Event = NoEvent;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if let KvNode::Client { interval, .. } = self {
            let offset = SimDuration(below(ctx.rng(), interval.as_nanos()));
            ctx.set_timer(offset, KvTimer::Issue);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, source: NodeId, msg: KvMsg) {
        match (self, msg) {
            (KvNode::Server, KvMsg::Request { op }) => {
                let accepted = !chance(ctx.rng(), 0.05);
                ctx.send(source, KvMsg::Reply { op, accepted });
            }
            (KvNode::Client { pending, .. }, KvMsg::Reply { op, accepted }) => {
                if let Some(timer) = pending.remove(&op) {
                    ctx.cancel_timer(timer);
                    let outcome = if accepted {
                        Outcome::Ok
                    } else {
                        Outcome::Fail("rejected")
                    };
                    ctx.observe(Observation::OpCompleted {
                        op,
                        outcome,
                        ret: Value::Nil,
                    });
                }
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: KvTimer) {
        let KvNode::Client {
            interval,
            next_op,
            pending,
        } = self
        else {
            return;
        };
        match timer {
            KvTimer::Issue => {
                let op = *next_op;
                *next_op += 1;
                let kind = if op % 3 == 0 { "get" } else { "put" };
                ctx.observe(Observation::OpInvoked {
                    op,
                    f: kind,
                    key: Some(Value::Int(0)),
                    arg: Value::Nil,
                });
                let server = NodeId(below(ctx.rng(), u64::from(SERVERS)) as u32);
                ctx.send(server, KvMsg::Request { op });
                let timeout = ctx.set_timer(SimDuration::from_millis(40), KvTimer::Timeout { op });
                pending.insert(op, timeout);
                ctx.set_timer(*interval, KvTimer::Issue);
            }
            KvTimer::Timeout { op } => {
                if pending.remove(&op).is_some() {
                    ctx.observe(Observation::OpCompleted {
                        op,
                        outcome: Outcome::Info("timeout"),
                        ret: Value::Nil,
                    });
                }
            }
        }
    }
}

/// How to run the test protocol.
#[derive(Clone, Debug)]
pub struct Spec {
    pub seed: u64,
    pub duration_ms: u64,
    pub clients: u32,
    pub client_interval_ms: u64,
    pub with_faults: bool,
    pub with_violations: bool,
    pub formula: Formula,
    /// How many of the first messages the engine logs.
    pub message_log_limit: usize,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            seed: 7,
            duration_ms: 2_000,
            clients: 3,
            client_interval_ms: 10,
            with_faults: true,
            with_violations: false,
            formula: Formula::MeanOkLatency { name: "T" },
            message_log_limit: 200,
        }
    }
}

fn ms(value: u64) -> SimTime {
    SimTime(value * 1_000_000)
}

/// Runs the protocol and judges it with a verdict made up for the test.
pub fn run(spec: &Spec) -> (RunMeta, RunResult) {
    let d = spec.duration_ms;
    let faults = if spec.with_faults {
        let rest: Vec<NodeId> = (1..SERVERS + spec.clients).map(NodeId).collect();
        vec![
            (
                ms(d / 10),
                Fault::ClockOffset {
                    node: NodeId(0),
                    offset_ns: -5_000_000,
                },
            ),
            (ms(d / 5), Fault::Crash(NodeId(1))),
            (ms(2 * d / 5), Fault::Restart(NodeId(1))),
            (ms(d / 2), Fault::Partition(vec![vec![NodeId(0)], rest])),
            (ms(3 * d / 5), Fault::Heal),
            (
                ms(7 * d / 10),
                Fault::Pause {
                    node: NodeId(2),
                    duration: SimDuration::from_millis(d / 20),
                },
            ),
            (
                ms(4 * d / 5),
                Fault::Degrade {
                    nodes: Vec::new(),
                    delay: Some(Delay::Constant { ns: 30_000_000 }),
                    drop_ratio: Some(0.2),
                    bandwidth_factor: None,
                    duration: SimDuration::from_millis(d / 10),
                },
            ),
            (ms(9 * d / 10), Fault::Crash(NodeId(2))),
        ]
    } else {
        Vec::new()
    };
    let request = RunRequest {
        config: SimConfig {
            seed: spec.seed,
            network: NetworkConfig {
                default_link: LinkModel {
                    delay: Delay::LogNormal {
                        median_ns: 3_000_000.0,
                        sigma: 0.6,
                    },
                    drop_ratio: 0.01,
                    duplicate_ratio: 0.005,
                    order: LinkOrder::Unordered,
                },
                ..NetworkConfig::default()
            },
            message_log_limit: spec.message_log_limit,
            ..SimConfig::default()
        },
        nodes: SERVERS as usize,
        variant: "correct".into(),
        params: Params::default(),
        workload: Workload {
            clients: spec.clients as usize,
            rate_per_s: 1_000.0 * f64::from(spec.clients) / spec.client_interval_ms as f64,
            ..Workload::default()
        },
        duration: SimDuration::from_millis(d),
        faults,
        trace: None,
        ops_sink: None,
    };
    let interval = SimDuration::from_millis(spec.client_interval_ms);
    let (output, trace_error) =
        execute::<KvNode>(request, (SERVERS + spec.clients) as usize, move |id, _| {
            if id.0 < SERVERS {
                KvNode::Server
            } else {
                KvNode::Client {
                    interval,
                    next_op: 0,
                    pending: BTreeMap::new(),
                }
            }
        })
        .expect("the test protocol runs");
    let violations = if spec.with_violations {
        // The mutual-exclusion violation names, as a history checker would, the last
        // operation n3 and n4 each invoked before it (op ids as in ops.csv: the order of
        // invocation over the run).
        let named_ops: Vec<u64> = [3, 4]
            .iter()
            .filter_map(|&client| {
                output
                    .observations
                    .iter()
                    .filter(|r| matches!(r.observation, dsim_core::Observation::OpInvoked { .. }))
                    .enumerate()
                    .filter(|(_, r)| r.node == NodeId(client) && r.time <= ms(d / 2 + 3))
                    .map(|(id, _)| id as u64)
                    .last()
            })
            .collect();
        vec![
            Violation {
                time: ms(d / 2 + 3),
                check: "mutual_exclusion",
                nodes: vec![NodeId(3), NodeId(4)],
                details: "clients n3 and n4 both wrote \"lock-1\" <fenced?> & kept going, twice"
                    .into(),
                ops: named_ops,
                figure: None,
            },
            Violation {
                time: ms(d - 1),
                check: "atomicity",
                nodes: vec![NodeId(0)],
                details: "participant n0 committed alone".into(),
                ops: Vec::new(),
                figure: None,
            },
        ]
    } else {
        Vec::new()
    };
    let result = RunResult {
        output: generic_output(output),
        verdict: Verdict {
            violations,
            formula: spec.formula,
            agreement: 1.0,
            extra_columns: vec![("job_time_ns", "123456".into()), ("retries", "4".into())],
        },
        trace_error,
    };
    let meta = RunMeta {
        scenario: "kv-test".into(),
        protocol: "test_kv".into(),
        variant: "correct".into(),
        seed: spec.seed,
        replay_command: format!("dsim run scenarios/kv-test.toml --seed {}", spec.seed),
        scenario_toml: format!(
            "# kv-test.toml <test> & \"quotes\"\nname = \"kv-test\"\nseed = {}\nduration = \"{}ms\"\n",
            spec.seed, d
        ),
        duration_ns: d * 1_000_000,
    };
    (meta, result)
}

/// Reads a CSV file into (header, rows).
pub fn read_csv(path: &std::path::Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader =
        csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|record| record.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}
