//! Push gossip as a dsim protocol, plugged into the full `dsim` CLI without forking it.
//!
//! Node 0 learns a rumour at start. Every `round` each node that knows it pushes it to
//! `fanout` random peers. The run checks, from observations only, that every node that
//! stayed up learned the rumour ("spread"), and reports the time each node learned it as
//! an operation so `ops.csv` and the latency charts show the epidemic.
//!
//!     cargo run -p dsim-example-gossip -- run examples/gossip/gossip.toml
//!     cargo run -p dsim-example-gossip -- list

use dsim_core::protocol::{execute, generic_output};
use dsim_core::rng::below;
use dsim_core::{
    ConfigError, Ctx, Formula, Node, NodeId, Observation, Outcome, ParamKind, ParamSpec, Protocol,
    ProtocolInfo, RunError, RunRequest, RunResult, SimDuration, Value, VariantSpec, Verdict,
    Violation, Workload,
};
use std::process::ExitCode;

/// The one message: "I know the rumour".
#[derive(Clone, Debug)]
struct Rumour;

/// The one timer: time to push again.
#[derive(Clone, Debug)]
struct Round;

/// A gossiping node. Knowing the rumour is durable, so a restarted node keeps it.
struct Gossiper {
    fanout: u64,
    round: SimDuration,
}

impl Gossiper {
    fn learn(&mut self, ctx: &mut Ctx<'_, Self>) {
        if !*ctx.durable() {
            *ctx.durable_mut() = true;
            ctx.sync();
            // One "operation" per node: from the start of the run to learning.
            ctx.observe(Observation::OpCompleted {
                op: 0,
                outcome: Outcome::Ok,
                ret: Value::Nil,
            });
            ctx.set_timer(SimDuration::ZERO, Round);
        }
    }
}

impl Node for Gossiper {
    type Msg = Rumour;
    type Timer = Round;
    type Durable = bool;
    type Event = ();

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if ctx.now().as_nanos() == 0 {
            ctx.observe(Observation::OpInvoked {
                op: 0,
                f: "learn",
                key: None,
                arg: Value::Nil,
            });
        }
        if ctx.id() == NodeId(0) {
            self.learn(ctx);
        } else if *ctx.durable() {
            ctx.set_timer(self.round, Round);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, _source: NodeId, _msg: Rumour) {
        self.learn(ctx);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _timer: Round) {
        let nodes = ctx.node_count() as u64;
        for _ in 0..self.fanout {
            let peer = below(ctx.rng(), nodes) as u32;
            ctx.send(NodeId(peer), Rumour);
        }
        ctx.set_timer(self.round, Round);
    }
}

const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        key: "fanout",
        kind: ParamKind::Int {
            default: 2,
            min: 1,
            max: 100,
        },
        help: "peers each node pushes to per round",
    },
    ParamSpec {
        key: "round",
        kind: ParamKind::duration(SimDuration::from_millis(10)),
        help: "time between pushes",
    },
];

/// The protocol as the registry sees it.
struct Gossip;

impl Protocol for Gossip {
    fn info(&self) -> ProtocolInfo {
        ProtocolInfo {
            kind: "gossip",
            summary: "push gossip of one rumour (the plug-in example)",
            variants: &[VariantSpec {
                name: "correct",
                help: "push to random peers every round",
            }],
            params: PARAMS,
            nodes_range: (1, 100_000),
        }
    }

    fn total_nodes(&self, nodes: usize, _workload: &Workload) -> usize {
        nodes
    }

    fn run(&self, request: RunRequest) -> Result<RunResult, RunError> {
        request.params.check(PARAMS).map_err(ConfigError::from)?;
        let fanout = request.params.int(PARAMS, "fanout") as u64;
        let round = request.params.duration(PARAMS, "round");
        let nodes = request.nodes;
        let (output, trace_error) =
            execute(request, nodes, move |_, _| Gossiper { fanout, round })?;
        // Judge from observations: every node must have reported learning the rumour.
        let mut learned = vec![false; nodes];
        for record in &output.observations {
            if let Observation::OpCompleted { .. } = record.observation {
                learned[record.node.index()] = true;
            }
        }
        let missing: Vec<NodeId> = (0..nodes as u32)
            .map(NodeId)
            .filter(|n| !learned[n.index()])
            .collect();
        let mut violations = Vec::new();
        if !missing.is_empty() {
            violations.push(Violation {
                time: output.end_time,
                check: "spread",
                details: format!(
                    "{} of {nodes} nodes never learned the rumour",
                    missing.len()
                ),
                nodes: missing,
                ops: Vec::new(),
                figure: None,
            });
        }
        let agreement = learned.iter().filter(|&&l| l).count() as f64 / nodes as f64;
        Ok(RunResult {
            output: generic_output(output),
            verdict: Verdict {
                violations,
                formula: Formula::MeanOkLatency {
                    name: "spread time",
                },
                agreement,
                extra_columns: Vec::new(),
            },
            trace_error,
        })
    }
}

fn main() -> ExitCode {
    let mut registry = dsim_scenario::Registry::builtin();
    registry.register(Box::new(Gossip));
    dsim_cli::main_with(registry)
}
