//! A single service station, kind `queue`: the protocol that checks the load model
//! against queueing theory.
//!
//! Node 0 is the server; nodes `1..=clients` are clients. A client issues requests
//! through the kit's [`ClientDriver`]: by default open loop, never waiting for earlier
//! ones: with `[workload] arrival = "fixed"` one every client interval (after a random
//! phase), with `arrival = "poisson"` after exponential gaps of that mean, so that all
//! clients together are a Poisson stream of `[workload] rate` (a superposition of
//! Poisson processes is one); rate phases and closed loops (`outstanding`) work too.
//! The server answers each request with a reply; the client records the operation
//! (`f = request`) from invocation to reply, so `ops.csv` holds one response time per
//! request.
//!
//! Requests wait for their reply forever unless `[workload.retry] timeout` is set; then
//! an attempt that times out is abandoned (its late reply ignored, the server's work on
//! it wasted) and retried under the retry policy, and a request out of attempts or of
//! retry budget ends `info`. That is the setting of the `metastable-retry-storm`
//! showcase.
//!
//! The queueing is the engine's, not this module's: a request costs one unit of CPU
//! ([`Node::message_cost`]) and a reply none, so with the load model each request
//! occupies one of the server's cores for one draw of the server's per-unit time, and
//! requests that find every core busy wait in its FIFO arrival queue. The service time
//! distribution is therefore the load model's `[nodes] cpu` (per-node overrides
//! included): `cpu = { dist = "exponential", mean = "1ms" }` makes an M/M/c station,
//! `cpu = "1ms"` an M/D/c one. Without a `[nodes]` section the service time is
//! exponential with mean 1 ms. The protocol key `cores` sets the server's cores
//! (otherwise `[nodes] cores`, 1 by default). With `[network] latency = "0ms"` a
//! response time is exactly the waiting time plus the service time.
//!
//! Why the service time is `[nodes] cpu` and not a `service` protocol key: protocol keys
//! are scalars (bool, integer, ratio, duration); the load model already reads a
//! distribution for `cpu`, with file:line:col errors, per-node overrides and `--set`
//! support, so the kind reuses it rather than growing a second distribution syntax.
//!
//! Nothing is checked beyond the run itself (there is no safety property); the formula is
//! `W`, the mean response time of the `ok` requests. Without a timeout, a request whose
//! reply never comes (the server crashed, a message was dropped) stays open in `ops.csv`.

use crate::kit::client::{
    ClientApp, ClientDriver, DriverTimer, Invocation, Replies, incarnation_base,
};
use dsim_core::protocol::{execute, generic_output};
use dsim_core::{
    ConfigError, Ctx, Delay, Formula, LoadConfig, Node, NodeCpu, NodeId, Outcome, ParamKind,
    ParamSpec, Protocol, ProtocolInfo, RunError, RunRequest, RunResult, Value, VariantSpec,
    Verdict, Workload,
};

/// The `queue` kind.
pub struct Queue;

/// The server's node id.
pub const SERVER: NodeId = NodeId(0);

/// The mean service time when the scenario has no `[nodes]` section: 1 ms.
pub const DEFAULT_SERVICE_MEAN_NS: f64 = 1e6;

const PARAMS: &[ParamSpec] = &[ParamSpec {
    key: "cores",
    kind: ParamKind::Int {
        default: 1,
        min: 1,
        max: 1_024,
    },
    help: "servers at node 0 (overrides [nodes] cores for it; service time is [nodes] cpu)",
}];

/// The messages of the queue kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueMsg {
    /// Attempt `attempt` of a client's request `op`.
    Request {
        /// The client's operation id.
        op: u64,
        /// The attempt, 0 for the first.
        attempt: u32,
    },
    /// The server's answer to attempt `attempt` of request `op`.
    Reply {
        /// The operation id of the request answered.
        op: u64,
        /// The attempt answered.
        attempt: u32,
    },
}

/// The timers of the queue kind: only the client driver's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueTimer {
    /// A timer of the client driver (arrival, attempt timeout, retry backoff).
    Client(DriverTimer),
}

impl From<DriverTimer> for QueueTimer {
    fn from(timer: DriverTimer) -> QueueTimer {
        QueueTimer::Client(timer)
    }
}

/// A node of the queue kind: the server or a client.
#[derive(Clone, Debug)]
pub enum QueueNode {
    /// Node 0: answers every request.
    Server,
    /// A client issuing requests through the [`ClientDriver`] (boxed: the driver holds
    /// the whole workload, rate phases included).
    Client(Box<ClientDriver<()>>),
    /// A client the scenario keeps idle (`[workload] idle_clients`): it issues nothing.
    IdleClient,
}

/// The queue client's side of the driver: every operation is a `request`, sent to the
/// server; a timed-out attempt is abandoned (its late reply ignored), as an RPC client
/// that cancels a call does.
struct Requests;

impl ClientApp<QueueNode> for Requests {
    type Op = ();

    fn next_op(
        &mut self,
        _: &mut Ctx<'_, QueueNode>,
        _: u64,
        _: Option<u64>,
    ) -> Option<((), Invocation)> {
        Some((
            (),
            Invocation {
                f: "request",
                key: None,
                arg: Value::Nil,
            },
        ))
    }

    fn send(&mut self, ctx: &mut Ctx<'_, QueueNode>, op: u64, attempt: u32, _: &()) {
        ctx.send(SERVER, QueueMsg::Request { op, attempt });
    }
}

impl QueueNode {
    /// Node `id` of a run with `workload`.
    pub fn new(id: NodeId, workload: &Workload) -> QueueNode {
        if id == SERVER {
            QueueNode::Server
        } else if workload.idle_clients.is_idle_node(1, id) {
            QueueNode::IdleClient
        } else {
            // Requests wait forever unless the scenario's retry policy sets a timeout.
            QueueNode::Client(Box::new(ClientDriver::new(
                workload,
                None,
                Replies::CurrentAttempt,
                0,
            )))
        }
    }
}

impl Node for QueueNode {
    type Msg = QueueMsg;
    type Timer = QueueTimer;
    /// A client's incarnation: how many times it has started, so that operation ids
    /// never repeat across a restart.
    type Durable = u32;
    type Event = dsim_core::NoEvent;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if let QueueNode::Client(driver) = self {
            let incarnation = *ctx.durable();
            if incarnation > 0 {
                // A restart: a new driver (nothing in flight survives) with fresh ids.
                **driver = ClientDriver::new(
                    &driver.workload(),
                    None,
                    Replies::CurrentAttempt,
                    incarnation_base(incarnation),
                );
            }
            *ctx.durable_mut() = incarnation + 1;
            driver.start(ctx);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, source: NodeId, msg: QueueMsg) {
        match (self, msg) {
            (QueueNode::Server, QueueMsg::Request { op, attempt }) => {
                ctx.send(source, QueueMsg::Reply { op, attempt });
            }
            (QueueNode::Client(driver), QueueMsg::Reply { op, attempt }) => {
                driver.on_reply(ctx, op, attempt, |_| (Outcome::Ok, Value::Nil));
            }
            // A request to a client or a reply to the server is nobody's protocol:
            // ignored (only a misrouted message could produce one).
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: QueueTimer) {
        let QueueTimer::Client(timer) = timer;
        if let QueueNode::Client(driver) = self {
            driver.on_timer(&mut Requests, ctx, timer);
        }
    }

    fn message_digest(msg: &QueueMsg) -> u64 {
        match *msg {
            QueueMsg::Request { op, attempt } => (op << 1) ^ (u64::from(attempt) << 48),
            QueueMsg::Reply { op, attempt } => ((op << 1) | 1) ^ (u64::from(attempt) << 48),
        }
    }

    /// A request takes one unit of the server's per-unit time: its service time.
    fn message_cost(msg: &QueueMsg) -> u32 {
        match msg {
            QueueMsg::Request { .. } => 1,
            QueueMsg::Reply { .. } => 0,
        }
    }
}

/// The run's load model: the scenario's (or, without one, exponential service with mean
/// [`DEFAULT_SERVICE_MEAN_NS`]), with the server's cores set by the `cores` key when the
/// scenario gives it.
fn server_load(load: Option<LoadConfig>, cores: Option<u32>) -> LoadConfig {
    let mut load = load.unwrap_or_else(|| LoadConfig {
        cpu: NodeCpu {
            cores: 1,
            cpu: Delay::Exponential {
                mean_ns: DEFAULT_SERVICE_MEAN_NS,
            },
            queue_capacity: None,
        },
        ..LoadConfig::default()
    });
    if let Some(cores) = cores {
        let mut server = load.node(SERVER).clone();
        server.cores = cores;
        load.overrides.insert(SERVER, server);
    }
    load
}

impl Protocol for Queue {
    fn info(&self) -> ProtocolInfo {
        ProtocolInfo {
            kind: "queue",
            summary: "one service station (node 0) and open-loop clients: queueing theory's M/M/c",
            variants: &[VariantSpec {
                name: "correct",
                help: "the only variant",
            }],
            params: PARAMS,
            nodes_range: (1, 1),
        }
    }

    fn total_nodes(&self, nodes: usize, workload: &Workload) -> usize {
        nodes + workload.clients
    }

    /// `server` (node 0) and `clients` (nodes `1..=clients`).
    fn node_groups(&self, setup: &dsim_core::Setup<'_>) -> Vec<dsim_core::NodeGroup> {
        let clients = setup.workload.clients as u32;
        vec![
            dsim_core::NodeGroup::new("server", 0..1),
            dsim_core::NodeGroup::new("clients", 1..1 + clients),
        ]
    }

    fn run(&self, mut request: RunRequest) -> Result<RunResult, RunError> {
        request.params.check(PARAMS).map_err(ConfigError::from)?;
        let cores = request
            .params
            .0
            .contains_key("cores")
            .then(|| request.params.int(PARAMS, "cores") as u32);
        request.config.load = Some(server_load(request.config.load.take(), cores));
        let workload = request.workload;
        let node_count = self.total_nodes(request.nodes, &workload);
        let (output, trace_error) = execute(request, node_count, move |id, _| {
            QueueNode::new(id, &workload)
        })?;
        Ok(RunResult {
            output: generic_output(output),
            verdict: Verdict {
                violations: Vec::new(),
                formula: Formula::MeanOkLatency { name: "W" },
                agreement: 1.0,
                extra_columns: Vec::new(),
            },
            trace_error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cores_key_sets_only_the_servers_cores() {
        // The key must reach node 0 and leave the clients as [nodes] says; if it were
        // ignored the server would keep 1 core, if applied to all, clients would get 4.
        let load = server_load(None, Some(4));
        assert_eq!(load.node(SERVER).cores, 4);
        assert_eq!(load.node(NodeId(1)).cores, 1);
        assert_eq!(
            load.node(SERVER).cpu,
            Delay::Exponential {
                mean_ns: DEFAULT_SERVICE_MEAN_NS
            }
        );
        // Without the key the scenario's [nodes] settings stand untouched.
        let scenario = LoadConfig {
            cpu: NodeCpu {
                cores: 3,
                cpu: Delay::Constant { ns: 500 },
                queue_capacity: Some(10),
            },
            ..LoadConfig::default()
        };
        assert_eq!(server_load(Some(scenario.clone()), None), scenario);
    }

    #[test]
    fn only_requests_cost_service_time() {
        // A costed reply would make the clients queue too, and the response time would no
        // longer be the server's wait plus service.
        assert_eq!(
            QueueNode::message_cost(&QueueMsg::Request { op: 3, attempt: 0 }),
            1
        );
        assert_eq!(
            QueueNode::message_cost(&QueueMsg::Reply { op: 3, attempt: 0 }),
            0
        );
    }
}
