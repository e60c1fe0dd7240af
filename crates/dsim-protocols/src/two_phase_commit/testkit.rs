//! Helpers for the handler tests: contexts, and effects picked apart.

use super::TpcSettings;
use super::node::TpcNode;
use super::types::{TpcEvent, TpcMsg, TxnId};
use dsim_core::{CtxParts, Effect, NodeId, Observation};

/// Context parts for node `id` of a run with `settings`.
pub fn parts(id: NodeId, settings: TpcSettings) -> CtxParts<TpcNode> {
    CtxParts::new(id, settings.total_nodes(), 1)
}

/// Transaction `seq` of client node `client`.
pub fn txn(client: u32, seq: u64) -> TxnId {
    TxnId {
        client: NodeId(client),
        seq,
    }
}

/// The messages sent so far, removed from the effects.
pub fn sends(parts: &mut CtxParts<TpcNode>) -> Vec<(NodeId, TpcMsg)> {
    parts.take_sends()
}

/// The protocol observations recorded so far (left in place).
pub fn events(parts: &CtxParts<TpcNode>) -> Vec<TpcEvent> {
    parts
        .effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Observe(Observation::Protocol(event)) => Some(event.clone()),
            _ => None,
        })
        .collect()
}

/// Every observation recorded so far (left in place), protocol-specific or not.
pub fn observations(parts: &CtxParts<TpcNode>) -> Vec<Observation<TpcEvent>> {
    parts
        .effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Observe(observation) => Some(observation.clone()),
            _ => None,
        })
        .collect()
}

/// The timers set so far (left in place).
pub fn timers(parts: &CtxParts<TpcNode>) -> Vec<super::types::TpcTimer> {
    parts
        .effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::SetTimer { timer, .. } => Some(*timer),
            _ => None,
        })
        .collect()
}
