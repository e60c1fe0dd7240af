//! A client: submits a transaction to the coordinator every `client_interval`, each
//! writing `keys_per_txn` distinct keys drawn with its own random stream, and reports
//! how each ended.

use super::node::TpcNode;
use super::types::{Decision, Key, TpcEvent, TpcMsg, TpcTimer, TxnId};
use super::{COORDINATOR, TpcSettings};
use dsim_core::rng::below;
use dsim_core::{Ctx, NodeId, Observation, Outcome, SimDuration, TimerId, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The operation kind clients report in `ops.csv`.
pub const TXN_KIND: &str = "txn";

/// A transaction's writes as Jepsen micro-operations, `[[:w key value] ...]`; a written
/// `u64` is shown as the `i64` with the same bits (EDN integers are signed).
pub fn txn_value(writes: &[(Key, u64)]) -> Value {
    Value::List(
        writes
            .iter()
            .map(|&(key, value)| {
                Value::List(vec![
                    Value::keyword("w"),
                    Value::Int(i64::from(key)),
                    Value::Int(value as i64),
                ])
            })
            .collect(),
    )
}

/// The client role (nodes `nodes..nodes + clients`).
#[derive(Clone, Debug)]
pub struct Client {
    settings: TpcSettings,
    /// Operations waiting for an outcome, with their deadline timers.
    outstanding: BTreeMap<u64, TimerId>,
}

impl Client {
    /// A client with nothing outstanding.
    pub fn new(settings: TpcSettings) -> Client {
        Client {
            settings,
            outstanding: BTreeMap::new(),
        }
    }

    /// Operations still waiting for an outcome.
    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    /// Starts submitting after a random phase, so that clients do not all fire at once.
    pub fn on_start(&mut self, ctx: &mut Ctx<'_, TpcNode>) {
        if self
            .settings
            .idle_clients
            .is_idle_node(self.settings.nodes, ctx.id())
        {
            return;
        }
        let phase = below(ctx.rng(), self.settings.client_interval.as_nanos().max(1));
        ctx.set_timer(SimDuration(phase), TpcTimer::Submit);
    }

    /// Outcomes from the coordinator.
    pub fn on_message(&mut self, ctx: &mut Ctx<'_, TpcNode>, _source: NodeId, msg: TpcMsg) {
        let TpcMsg::Outcome { txn, decision } = msg else {
            return;
        };
        if txn.client != ctx.id() {
            return;
        }
        let Some(deadline) = self.outstanding.remove(&txn.seq) else {
            // Already reported (a duplicate, or it timed out).
            return;
        };
        ctx.cancel_timer(deadline);
        ctx.observe(Observation::Protocol(TpcEvent::ClientLearned {
            txn,
            decision,
        }));
        let outcome = match decision {
            Decision::Commit => Outcome::Ok,
            // Under presumed abort an aborted transaction can never commit later.
            Decision::Abort => Outcome::Fail("aborted"),
        };
        ctx.observe(Observation::OpCompleted {
            op: txn.seq,
            outcome,
            ret: Value::Nil,
        });
    }

    /// Submits and gives up.
    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, TpcNode>, timer: TpcTimer) {
        match timer {
            TpcTimer::Submit => {
                self.submit(ctx);
                ctx.set_timer(self.settings.client_interval, TpcTimer::Submit);
            }
            TpcTimer::ClientDeadline(op) => {
                if self.outstanding.remove(&op).is_some() {
                    // The coordinator may still commit it: indeterminate, not failed.
                    ctx.observe(Observation::OpCompleted {
                        op,
                        outcome: Outcome::Info("timeout"),
                        ret: Value::Nil,
                    });
                }
            }
            TpcTimer::VoteDeadline(_)
            | TpcTimer::Retry
            | TpcTimer::PrepareDeadline(_)
            | TpcTimer::InDoubt(_) => {}
        }
    }

    /// What the client asks for: its writes and the participants that store their
    /// keys, observed so that the checker holds the participants to the request
    /// rather than to the coordinator's word.
    fn request(&self, txn: TxnId, writes: &[(Key, u64)]) -> TpcEvent {
        let mut by_owner: BTreeMap<NodeId, Vec<(Key, u64)>> = BTreeMap::new();
        for &(key, value) in writes {
            by_owner
                .entry(self.settings.owner(key))
                .or_default()
                .push((key, value));
        }
        TpcEvent::Submitted {
            txn,
            writes: by_owner.into_iter().collect(),
        }
    }

    fn submit(&mut self, ctx: &mut Ctx<'_, TpcNode>) {
        // The operation number is forced before use, so a restarted client never
        // reuses a transaction id.
        let op = ctx.durable().next_op;
        ctx.durable_mut().next_op = op + 1;
        ctx.sync();
        let txn = TxnId {
            client: ctx.id(),
            seq: op,
        };
        let mut keys: BTreeSet<Key> = BTreeSet::new();
        let wanted = self.settings.keys_per_txn.min(self.settings.keys) as usize;
        while keys.len() < wanted {
            keys.insert(below(ctx.rng(), u64::from(self.settings.keys)) as Key);
        }
        let writes: Vec<(Key, u64)> = keys
            .into_iter()
            .map(|key| (key, below(ctx.rng(), u64::MAX)))
            .collect();
        let request = self.request(txn, &writes);
        ctx.observe(Observation::OpInvoked {
            op,
            f: TXN_KIND,
            key: None,
            arg: txn_value(&writes),
        });
        ctx.send(COORDINATOR, TpcMsg::Begin { txn, writes });
        let deadline = ctx.set_timer(self.settings.client_timeout, TpcTimer::ClientDeadline(op));
        self.outstanding.insert(op, deadline);
        ctx.observe(Observation::Protocol(request));
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{observations, parts, sends, txn};
    use super::*;

    fn client() -> (Client, dsim_core::CtxParts<TpcNode>) {
        let settings = TpcSettings::default();
        let mut parts = parts(NodeId(5), settings);
        let mut client = Client::new(settings);
        client.on_start(&mut parts.ctx());
        parts.take_effects();
        (client, parts)
    }

    #[test]
    fn submit_writes_distinct_keys_and_counts_operations() {
        let (mut client, mut parts) = client();
        client.on_timer(&mut parts.ctx(), TpcTimer::Submit);
        client.on_timer(&mut parts.ctx(), TpcTimer::Submit);
        let sent = sends(&mut parts);
        assert_eq!(sent.len(), 2);
        for (seq, (target, msg)) in sent.into_iter().enumerate() {
            assert_eq!(target, COORDINATOR);
            let TpcMsg::Begin { txn: t, writes } = msg else {
                panic!("clients only send Begin, got {msg:?}");
            };
            // Ids must be unique per client: the op counter doubles as the txn id.
            assert_eq!(t, txn(5, seq as u64));
            let keys: BTreeSet<Key> = writes.iter().map(|(k, _)| *k).collect();
            assert_eq!(keys.len(), 3, "keys_per_txn distinct keys, got {writes:?}");
            assert!(keys.iter().all(|&k| k < 64));
        }
        assert_eq!(parts.durable.next_op, 2);
        assert_eq!(client.outstanding(), 2);
    }

    #[test]
    fn outcome_completes_the_operation_once() {
        let (mut client, mut parts) = client();
        client.on_timer(&mut parts.ctx(), TpcTimer::Submit);
        parts.take_effects();
        let t = txn(5, 0);
        client.on_message(
            &mut parts.ctx(),
            COORDINATOR,
            TpcMsg::Outcome {
                txn: t,
                decision: Decision::Abort,
            },
        );
        client.on_message(
            &mut parts.ctx(),
            COORDINATOR,
            TpcMsg::Outcome {
                txn: t,
                decision: Decision::Abort,
            },
        );
        // A duplicate outcome must not produce a second ops.csv row.
        assert_eq!(
            observations(&parts),
            vec![
                Observation::Protocol(TpcEvent::ClientLearned {
                    txn: t,
                    decision: Decision::Abort
                }),
                Observation::OpCompleted {
                    op: 0,
                    outcome: Outcome::Fail("aborted"),
                    ret: Value::Nil,
                },
            ]
        );
    }

    #[test]
    fn deadline_reports_timeout_and_ignores_a_late_outcome() {
        let (mut client, mut parts) = client();
        client.on_timer(&mut parts.ctx(), TpcTimer::Submit);
        parts.take_effects();
        client.on_timer(&mut parts.ctx(), TpcTimer::ClientDeadline(0));
        client.on_message(
            &mut parts.ctx(),
            COORDINATOR,
            TpcMsg::Outcome {
                txn: txn(5, 0),
                decision: Decision::Commit,
            },
        );
        // The operation ended as a timeout, indeterminate (the coordinator may still
        // commit it); a late commit does not rewrite ops.csv.
        assert_eq!(
            observations(&parts),
            vec![Observation::OpCompleted {
                op: 0,
                outcome: Outcome::Info("timeout"),
                ret: Value::Nil,
            }]
        );
    }
}
