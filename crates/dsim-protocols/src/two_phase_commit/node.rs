//! One node type for the three roles, dispatching to the role's handlers.

use super::client::Client;
use super::coordinator::Coordinator;
use super::participant::Participant;
use super::types::{TpcDurable, TpcEvent, TpcMsg, TpcTimer};
use super::{Role, TpcSettings};
use dsim_core::{Ctx, Node, NodeId};

/// A node of a two-phase commit simulation: its role decides its behaviour.
#[derive(Clone, Debug)]
pub enum TpcNode {
    /// Node 0.
    Coordinator(Coordinator),
    /// Nodes `1..nodes`.
    Participant(Participant),
    /// Nodes `nodes..nodes + clients`.
    Client(Client),
}

impl TpcNode {
    /// A fresh node for `id` (volatile state empty; durable state is read in
    /// `on_start`).
    pub fn new(id: NodeId, settings: TpcSettings) -> TpcNode {
        match settings.role(id) {
            Role::Coordinator => TpcNode::Coordinator(Coordinator::new(settings)),
            Role::Participant => TpcNode::Participant(Participant::new(settings)),
            Role::Client => TpcNode::Client(Client::new(settings)),
        }
    }

    /// The participant, if this node is one (for tests and inspection).
    pub fn as_participant(&self) -> Option<&Participant> {
        match self {
            TpcNode::Participant(participant) => Some(participant),
            _ => None,
        }
    }

    /// The coordinator, if this node is it (for tests and inspection).
    pub fn as_coordinator(&self) -> Option<&Coordinator> {
        match self {
            TpcNode::Coordinator(coordinator) => Some(coordinator),
            _ => None,
        }
    }

    /// The client, if this node is one (for tests and inspection).
    pub fn as_client(&self) -> Option<&Client> {
        match self {
            TpcNode::Client(client) => Some(client),
            _ => None,
        }
    }
}

impl Node for TpcNode {
    type Msg = TpcMsg;
    type Timer = TpcTimer;
    type Durable = TpcDurable;
    type Event = TpcEvent;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            TpcNode::Coordinator(node) => node.on_start(ctx),
            TpcNode::Participant(node) => node.on_start(ctx),
            TpcNode::Client(node) => node.on_start(ctx),
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, source: NodeId, msg: TpcMsg) {
        match self {
            TpcNode::Coordinator(node) => node.on_message(ctx, source, msg),
            TpcNode::Participant(node) => node.on_message(ctx, source, msg),
            TpcNode::Client(node) => node.on_message(ctx, source, msg),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: TpcTimer) {
        match self {
            TpcNode::Coordinator(node) => node.on_timer(ctx, timer),
            TpcNode::Participant(node) => node.on_timer(ctx, timer),
            TpcNode::Client(node) => node.on_timer(ctx, timer),
        }
    }

    fn message_digest(msg: &TpcMsg) -> u64 {
        msg.digest()
    }
}
