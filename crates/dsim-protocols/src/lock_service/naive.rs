//! `seed-naive`: the source article's lock server. One node keeps the lock table in
//! memory and grants each free lock to whoever asks, with a token from an in-memory
//! counter. No replication, no leases, no sessions: a crash forgets every holder and
//! restarts the counters, so the same token is handed out twice.

use super::types::{LockEvent, LockId, Msg, Sequencer, SessionId, Timer};
use super::{Ballot, LockConfig, LockNode};
use dsim_core::{Ctx, NodeId, Observation, SimTime};
use std::collections::{BTreeMap, VecDeque};

/// The single lock server of `seed-naive` (node 0).
#[derive(Clone, Debug)]
pub struct NaiveServer {
    config: LockConfig,
    locks: BTreeMap<LockId, NaiveLock>,
}

#[derive(Clone, Debug, Default)]
struct NaiveLock {
    holder: Option<(NodeId, u64)>,
    token: u64,
    waiters: VecDeque<(NodeId, u64)>,
}

impl NaiveServer {
    /// The server of a run with `config`.
    pub fn new(config: LockConfig) -> NaiveServer {
        NaiveServer {
            config,
            locks: BTreeMap::new(),
        }
    }

    pub(super) fn on_start(&mut self, ctx: &mut Ctx<'_, LockNode>) {
        ctx.observe(Observation::Protocol(LockEvent::ServingStarted {
            ballot: Ballot::NONE,
        }));
        ctx.set_timer(self.config.heartbeat_interval, Timer::Tick);
    }

    pub(super) fn on_timer(&mut self, ctx: &mut Ctx<'_, LockNode>, timer: Timer) {
        if timer == Timer::Tick {
            // Up and answering: for the availability measure.
            ctx.observe(Observation::Protocol(LockEvent::LeaseHeld {
                ballot: Ballot::NONE,
            }));
            ctx.set_timer(self.config.heartbeat_interval, Timer::Tick);
        }
    }

    pub(super) fn on_message(&mut self, ctx: &mut Ctx<'_, LockNode>, source: NodeId, msg: Msg) {
        if !self.config.is_client(source) {
            return;
        }
        match msg {
            Msg::Acquire { lock, op, .. } if lock < self.config.locks => {
                let entry = self.locks.entry(lock).or_default();
                match entry.holder {
                    Some(holder) if holder == (source, op) => {
                        let sequencer = Sequencer {
                            lock,
                            generation: entry.token,
                        };
                        send_grant(ctx, source, sequencer, op);
                    }
                    Some(_) => {
                        if !entry.waiters.contains(&(source, op)) {
                            entry.waiters.push_back((source, op));
                        }
                    }
                    None => self.grant(ctx, lock, source, op),
                }
            }
            Msg::Release { sequencer, op, .. } => {
                let Some(entry) = self.locks.get_mut(&sequencer.lock) else {
                    return;
                };
                entry.waiters.retain(|&waiter| waiter != (source, op));
                if entry.holder == Some((source, op)) {
                    entry.holder = None;
                    ctx.observe(Observation::Protocol(LockEvent::Freed {
                        sequencer: Sequencer {
                            lock: sequencer.lock,
                            generation: entry.token,
                        },
                    }));
                    if let Some((next, next_op)) = entry.waiters.pop_front() {
                        self.grant(ctx, sequencer.lock, next, next_op);
                    }
                }
            }
            _ => {}
        }
    }

    fn grant(&mut self, ctx: &mut Ctx<'_, LockNode>, lock: LockId, client: NodeId, op: u64) {
        let entry = self.locks.entry(lock).or_default();
        entry.token += 1;
        entry.holder = Some((client, op));
        let sequencer = Sequencer {
            lock,
            generation: entry.token,
        };
        ctx.observe(Observation::Protocol(LockEvent::Granted {
            client,
            sequencer,
        }));
        send_grant(ctx, client, sequencer, op);
    }
}

fn send_grant(ctx: &mut Ctx<'_, LockNode>, client: NodeId, sequencer: Sequencer, op: u64) {
    ctx.send(
        client,
        Msg::Granted {
            session: SessionId {
                client: client.0,
                epoch: 0,
            },
            sequencer,
            op,
            lease_from: SimTime::ZERO,
            released_op: 0,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::super::Variant;
    use super::super::testkit::*;
    use super::*;

    fn acquire(lock: LockId, op: u64) -> Msg {
        Msg::Acquire {
            session: SessionId::default(),
            lock,
            op,
            sent_at: SimTime::ZERO,
        }
    }

    #[test]
    fn naive_server_forgets_its_tokens_in_a_crash() {
        let mut config = config(3, 2);
        config.variant = Variant::SeedNaive;
        let mut parts = parts(&config, 0);
        let mut server = NaiveServer::new(config);
        server.on_message(&mut parts.ctx(), NodeId(3), acquire(0, 1));
        let first = parts.take_sends();
        // A fresh server (what a restart builds: nothing is durable) hands out the same
        // token to another client: the planted bug.
        let mut restarted = NaiveServer::new(config);
        restarted.on_message(&mut parts.ctx(), NodeId(4), acquire(0, 1));
        let second = parts.take_sends();
        let token = |sends: &[(NodeId, Msg)]| match &sends[0].1 {
            Msg::Granted { sequencer, .. } => *sequencer,
            other => panic!("expected a grant, got {other:?}"),
        };
        assert_eq!(token(&first), token(&second));
    }

    #[test]
    fn naive_server_queues_and_hands_over_on_release() {
        let mut config = config(3, 2);
        config.variant = Variant::SeedNaive;
        let mut parts = parts(&config, 0);
        let mut server = NaiveServer::new(config);
        server.on_message(&mut parts.ctx(), NodeId(3), acquire(1, 1));
        server.on_message(&mut parts.ctx(), NodeId(4), acquire(1, 1));
        assert_eq!(parts.take_sends().len(), 1, "the second acquire waits");
        server.on_message(
            &mut parts.ctx(),
            NodeId(3),
            Msg::Release {
                session: SessionId::default(),
                sequencer: Sequencer {
                    lock: 1,
                    generation: 1,
                },
                op: 1,
                sent_at: SimTime::ZERO,
            },
        );
        // Without a crash the naive lock does exclude: token 2 goes to the waiter.
        assert!(matches!(
            parts.take_sends().as_slice(),
            [(
                NodeId(4),
                Msg::Granted {
                    sequencer: Sequencer { generation: 2, .. },
                    ..
                }
            )]
        ));
    }
}
