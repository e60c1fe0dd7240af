//! The engine benchmark as a protocol kind: `kind = "hold"` runs
//! [`dsim_core::hold::HoldNode`] on every node. There is nothing to check; the run is
//! about events per second.

use dsim_core::hold::HoldNode;
use dsim_core::protocol::{execute, generic_output};
use dsim_core::{
    ConfigError, Formula, ParamKind, ParamSpec, Protocol, ProtocolInfo, RunError, RunRequest,
    RunResult, Setup, VariantSpec, Verdict, Workload,
};

/// The `hold` kind.
pub struct Hold;

const PARAMS: &[ParamSpec] = &[ParamSpec {
    key: "messages_per_node",
    kind: ParamKind::Int {
        default: 10,
        min: 1,
        max: 1_000_000,
    },
    help: "messages each node keeps in flight",
}];

impl Protocol for Hold {
    fn info(&self) -> ProtocolInfo {
        ProtocolInfo {
            kind: "hold",
            summary: "engine benchmark: every delivered message is forwarded to a random node",
            variants: &[VariantSpec {
                name: "correct",
                help: "the only variant",
            }],
            params: PARAMS,
            nodes_range: (1, 1_000_000),
        }
    }

    fn total_nodes(&self, nodes: usize, _workload: &Workload) -> usize {
        nodes
    }

    /// `nodes`: every node (they are all alike).
    fn node_groups(&self, setup: &Setup<'_>) -> Vec<dsim_core::NodeGroup> {
        vec![dsim_core::NodeGroup::new("nodes", 0..setup.nodes as u32)]
    }

    /// Every message in flight is a queue entry plus its payload slot.
    fn memory_estimate_bytes(&self, setup: &Setup<'_>) -> u64 {
        let per_node = setup.params.int(PARAMS, "messages_per_node").max(0) as u64;
        (setup.nodes as u64)
            .saturating_mul(per_node)
            .saturating_mul(64)
    }

    fn run(&self, request: RunRequest) -> Result<RunResult, RunError> {
        request.params.check(PARAMS).map_err(ConfigError::from)?;
        let per_node = request.params.int(PARAMS, "messages_per_node") as u32;
        let nodes = request.nodes;
        let (output, trace_error) = execute(request, nodes, move |_, _| HoldNode::new(per_node))?;
        Ok(RunResult {
            output: generic_output(output),
            verdict: Verdict {
                violations: Vec::new(),
                formula: Formula::MeanOkLatency { name: "none" },
                agreement: 1.0,
                extra_columns: Vec::new(),
            },
            trace_error,
        })
    }
}
