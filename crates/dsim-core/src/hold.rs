//! The `hold` benchmark protocol: the classic "hold" model of event-set benchmarks.
//! Each node starts by sending `initial_messages` messages to uniformly random nodes;
//! every delivered message makes its receiver send one more to a uniformly random node,
//! so the number of messages in flight stays constant (minus losses).

use crate::id::NodeId;
use crate::node::{Ctx, Node};
use crate::observe::NoEvent;
use crate::rng::below;

/// The one message of the hold model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HoldMsg;

/// Hold sets no timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldTimer {}

/// A node of the hold benchmark.
#[derive(Clone, Debug)]
pub struct HoldNode {
    /// Messages this node sends at start.
    pub initial_messages: u32,
    /// Messages this node has received (for tests).
    pub received: u64,
}

impl HoldNode {
    /// A node that sends `initial_messages` at start.
    pub fn new(initial_messages: u32) -> Self {
        HoldNode {
            initial_messages,
            received: 0,
        }
    }

    fn send_to_random_node(ctx: &mut Ctx<'_, Self>) {
        let node_count = ctx.node_count() as u64;
        let target = below(ctx.rng(), node_count) as u32;
        ctx.send(NodeId(target), HoldMsg);
    }
}

impl Node for HoldNode {
    type Msg = HoldMsg;
    type Timer = HoldTimer;
    type Durable = ();
    type Event = NoEvent;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        for _ in 0..self.initial_messages {
            Self::send_to_random_node(ctx);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, _source: NodeId, _msg: HoldMsg) {
        self.received += 1;
        Self::send_to_random_node(ctx);
    }

    fn on_timer(&mut self, _ctx: &mut Ctx<'_, Self>, timer: HoldTimer) {
        match timer {}
    }

    fn message_digest(_msg: &HoldMsg) -> u64 {
        // Every hold message is the same; the trace's times and ends carry the run.
        0
    }
}
