//! Helpers for the handler tests: configurations, contexts, and effects picked apart.

use super::types::{LockEvent, Msg};
use super::{LockConfig, LockNode};
use dsim_core::{CtxParts, Effect, NodeId, Observation, Workload};

/// The default configuration with `replicas` replicas and `clients` clients at ten
/// acquires per second each.
pub fn config(replicas: usize, clients: usize) -> LockConfig {
    LockConfig::new(
        replicas,
        Workload {
            clients,
            rate_per_s: 10.0 * clients as f64,
            ..Workload::default()
        },
    )
}

/// Context parts for node `id` of a run with `config`.
pub fn parts(config: &LockConfig, id: u32) -> CtxParts<LockNode> {
    CtxParts::new(NodeId(id), config.total_nodes(), 1)
}

/// Index of the first effect matching `predicate`.
pub fn position(
    effects: &[Effect<LockNode>],
    predicate: impl Fn(&Effect<LockNode>) -> bool,
) -> usize {
    effects
        .iter()
        .position(predicate)
        .expect("the effect is there")
}

/// The messages among `effects`.
pub fn sends(effects: &[Effect<LockNode>]) -> Vec<(NodeId, Msg)> {
    effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Send { target, msg } => Some((*target, msg.clone())),
            _ => None,
        })
        .collect()
}

/// The protocol observations recorded so far (left in place).
pub fn events(parts: &CtxParts<LockNode>) -> Vec<LockEvent> {
    parts
        .effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Observe(Observation::Protocol(event)) => Some(*event),
            _ => None,
        })
        .collect()
}

/// Every generic (non-protocol) observation recorded so far (left in place).
pub fn observations(parts: &CtxParts<LockNode>) -> Vec<Observation<LockEvent>> {
    parts
        .effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Observe(observation @ Observation::OpCompleted { .. })
            | Effect::Observe(observation @ Observation::OpInvoked { .. }) => {
                Some(observation.clone())
            }
            _ => None,
        })
        .collect()
}
