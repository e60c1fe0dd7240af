//! STUB: being written.

use dsim_core::{Protocol, ProtocolInfo, RunError, RunRequest, RunResult, Workload};

/// The protocol, for the registry.
pub struct TwoPhaseCommit;

impl Protocol for TwoPhaseCommit {
    fn info(&self) -> ProtocolInfo {
        ProtocolInfo { kind: "two_phase_commit", summary: "stub", variants: &[dsim_core::VariantSpec { name: "correct", help: "stub" }], params: &[], nodes_range: (1, 9) }
    }
    fn total_nodes(&self, nodes: usize, workload: &Workload) -> usize {
        nodes + workload.clients
    }
    fn run(&self, _request: RunRequest) -> Result<RunResult, RunError> {
        unimplemented!("stub")
    }
}
