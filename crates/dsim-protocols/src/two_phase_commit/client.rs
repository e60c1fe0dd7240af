//! A client: submits transactions to the coordinator through the kit's
//! [`ClientDriver`] (paced by the workload: open loop at its share of the rate, rate
//! phases, or closed loop with `outstanding` and `think_time`). Each transaction is a
//! list of micro-operations (Elle's list-append or rw-register workload) drawn with the
//! client's own random stream, recorded as one `:txn` operation of the history: the
//! micro-ops on invocation, the same with the values read filled in on a commit.
//!
//! A transaction has one attempt: it times out after the attempt timeout
//! (`[workload.retry] timeout`, else `client_timeout`) and ends `info("timeout")`, for
//! the coordinator may still commit it. It is never re-submitted: after a coordinator
//! restart a second `Begin` of a transaction that committed (and whose commit record was
//! already dropped once every participant acknowledged) would run it again and apply
//! its writes twice, so [`TpcSettings::validate`] refuses `max_attempts` above 1.

use super::node::TpcNode;
use super::types::{Decision, Key, Mop, MopKind, ReadValue, TpcEvent, TpcMsg, TpcTimer, TxnId};
use super::{COORDINATOR, TpcSettings, TxnWorkload};
use crate::kit::client::{ClientApp, ClientDriver, DriverTimer, Invocation, Replies};
use dsim_core::rng::{below, chance};
use dsim_core::{Ctx, NodeId, Observation, Outcome, RetryPolicy, Value, Workload};
use std::collections::BTreeMap;

/// The operation kind clients report in `ops.csv` and `history.edn` (`:f :txn`).
pub const TXN_KIND: &str = "txn";

/// The value micro-op `position` of transaction `seq` of client `client` writes:
/// `seq * 100000 + client * 100 + position`, so that it is unique per key (indeed
/// across the run) and a person can read its origin off its decimal digits
/// (`1200602`: transaction 12 of node 6, micro-op 2). Settings keep node ids below
/// 1000 and transactions at most 64 micro-ops long.
pub fn written_value(client: NodeId, seq: u64, position: usize) -> u64 {
    seq * 100_000 + u64::from(client.0) * 100 + position as u64
}

/// A transaction as Jepsen micro-operations: `[[:append k v] [:r k nil] ...]` for
/// list-append, `[[:w k v] [:r k nil] ...]` for rw-register. With `reads`, the reads
/// carry what they returned, in order (a list; a register's value or `nil`). Written
/// `u64`s are shown as the `i64` with the same bits (EDN integers are signed).
pub fn txn_value(mops: &[Mop], workload: TxnWorkload, reads: Option<&[ReadValue]>) -> Value {
    let int = |v: u64| Value::Int(v as i64);
    let mut read_values = reads.map(|reads| reads.iter());
    Value::List(
        mops.iter()
            .map(|mop| {
                let (f, value) = match mop.kind {
                    MopKind::Write => {
                        let f = match workload {
                            TxnWorkload::ListAppend => "append",
                            TxnWorkload::RwRegister => "w",
                        };
                        (f, int(mop.value))
                    }
                    MopKind::Read => {
                        let read = read_values.as_mut().and_then(|reads| reads.next());
                        let value = match (read, workload) {
                            (None, _) => Value::Nil,
                            (Some(list), TxnWorkload::ListAppend) => {
                                Value::List(list.iter().map(|&v| int(v)).collect())
                            }
                            (Some(list), TxnWorkload::RwRegister) => {
                                list.last().map_or(Value::Nil, |&v| int(v))
                            }
                        };
                        ("r", value)
                    }
                };
                Value::List(vec![
                    Value::keyword(f),
                    Value::Int(i64::from(mop.key)),
                    value,
                ])
            })
            .collect(),
    )
}

/// The client role (nodes `nodes..nodes + clients`).
#[derive(Clone, Debug)]
pub struct Client {
    txns: Txns,
    /// Pacing, the attempt timeout and history (boxed: it holds the whole workload).
    driver: Box<ClientDriver<Vec<Mop>>>,
}

/// The protocol side of the client: what a transaction is and where it goes.
#[derive(Clone, Debug)]
struct Txns {
    settings: TpcSettings,
}

impl Client {
    /// A client with nothing outstanding.
    pub fn new(settings: TpcSettings) -> Client {
        Client {
            txns: Txns { settings },
            driver: Box::new(driver(&settings, 0)),
        }
    }

    /// Operations still waiting for an outcome.
    pub fn outstanding(&self) -> usize {
        self.driver.in_flight()
    }

    /// Starts submitting (the driver draws a random phase first, so that clients do not
    /// all fire at once), numbering transactions from the durable counter so that a
    /// restarted client never reuses a transaction id (nor a written value).
    pub fn on_start(&mut self, ctx: &mut Ctx<'_, TpcNode>) {
        let settings = &self.txns.settings;
        if settings.idle_clients.is_idle_node(settings.nodes, ctx.id()) {
            return;
        }
        *self.driver = driver(settings, ctx.durable().next_op);
        self.driver.start(ctx);
    }

    /// Outcomes from the coordinator.
    pub fn on_message(&mut self, ctx: &mut Ctx<'_, TpcNode>, _source: NodeId, msg: TpcMsg) {
        let TpcMsg::Outcome {
            txn,
            decision,
            reads,
        } = msg
        else {
            return;
        };
        if txn.client != ctx.id() || self.driver.pending(txn.seq).is_none() {
            // Not ours, or already reported (a duplicate, or it timed out).
            return;
        }
        ctx.observe(Observation::Protocol(TpcEvent::ClientLearned {
            txn,
            decision,
        }));
        let workload = self.txns.settings.workload;
        // One attempt per transaction: the reply answers it whatever its attempt.
        self.driver.on_reply(ctx, txn.seq, 0, |mops| {
            let reads_wanted = mops.iter().filter(|mop| mop.kind == MopKind::Read).count();
            match (decision, reads) {
                (Decision::Commit, Some(reads)) if reads.len() == reads_wanted => {
                    (Outcome::Ok, txn_value(mops, workload, Some(&reads)))
                }
                // Committed, but what the reads returned is not known (a commit answered
                // from the log after a coordinator restart): Jepsen's `info`, which a
                // checker may take as committed without trusting any read.
                (Decision::Commit, _) => (Outcome::Info("reads-unknown"), Value::Nil),
                // Under presumed abort an aborted transaction can never commit later.
                (Decision::Abort, _) => (Outcome::Fail("aborted"), Value::Nil),
            }
        });
    }

    /// The driver's timers: arrivals (submit) and attempt timeouts (give up, `info`).
    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, TpcNode>, timer: TpcTimer) {
        if let TpcTimer::Client(timer) = timer {
            self.driver.on_timer(&mut self.txns, ctx, timer);
        }
    }
}

/// The driver of a client of `settings`, numbering transactions from `first_op`: the
/// workload's pacing, one attempt per transaction (see the module docs) timing out
/// after `client_timeout` unless `[workload.retry] timeout` says otherwise.
fn driver(settings: &TpcSettings, first_op: u64) -> ClientDriver<Vec<Mop>> {
    let workload = Workload {
        retry: RetryPolicy {
            max_attempts: Some(1),
            ..settings.client_workload.retry
        },
        ..settings.client_workload
    };
    ClientDriver::new(
        &workload,
        Some(settings.client_timeout),
        Replies::AnyAttempt,
        first_op,
    )
}

impl From<DriverTimer> for TpcTimer {
    fn from(timer: DriverTimer) -> TpcTimer {
        TpcTimer::Client(timer)
    }
}

impl ClientApp<TpcNode> for Txns {
    /// The transaction's micro-operations.
    type Op = Vec<Mop>;

    /// A fresh transaction numbered `op`; its number is forced to durable storage
    /// before use, and what the client asks for is observed before `Begin` leaves, so
    /// that the checker holds the participants to the request.
    fn next_op(
        &mut self,
        ctx: &mut Ctx<'_, TpcNode>,
        op: u64,
        _oldest_in_flight: Option<u64>,
    ) -> Option<(Vec<Mop>, Invocation)> {
        ctx.durable_mut().next_op = op + 1;
        ctx.sync();
        let txn = TxnId {
            client: ctx.id(),
            seq: op,
        };
        let mops = self.draw(ctx, txn);
        let request = self.request(txn, &mops);
        ctx.observe(Observation::Protocol(request));
        let invocation = Invocation {
            f: TXN_KIND,
            key: None,
            arg: txn_value(&mops, self.settings.workload, None),
        };
        Some((mops, invocation))
    }

    /// Sends `Begin` to the coordinator (only ever attempt 0).
    fn send(&mut self, ctx: &mut Ctx<'_, TpcNode>, op: u64, _attempt: u32, mops: &Vec<Mop>) {
        let txn = TxnId {
            client: ctx.id(),
            seq: op,
        };
        ctx.send(
            COORDINATOR,
            TpcMsg::Begin {
                txn,
                mops: mops.clone(),
            },
        );
    }
}

impl Txns {
    /// What the client asks for: its writes per participant that stores their keys
    /// (every participant it touches, read-only ones with no writes), observed so
    /// that the checker holds the participants to the request rather than to the
    /// coordinator's word.
    fn request(&self, txn: TxnId, mops: &[Mop]) -> TpcEvent {
        let mut by_owner: BTreeMap<NodeId, Vec<(Key, u64)>> = BTreeMap::new();
        for mop in mops {
            let writes = by_owner.entry(self.settings.owner(mop.key)).or_default();
            if mop.kind == MopKind::Write {
                writes.push((mop.key, mop.value));
            }
        }
        TpcEvent::Submitted {
            txn,
            writes: by_owner.into_iter().collect(),
        }
    }

    /// A fresh transaction: `txn_length_min..=txn_length_max` micro-ops, each a read
    /// with probability `read_ratio`, else a write of a value unique per key, on a key
    /// drawn uniformly from `0..keys`.
    fn draw(&self, ctx: &mut Ctx<'_, TpcNode>, txn: TxnId) -> Vec<Mop> {
        let settings = &self.settings;
        let spread = u64::from(settings.txn_length_max - settings.txn_length_min) + 1;
        let length = settings.txn_length_min as usize + below(ctx.rng(), spread) as usize;
        (0..length)
            .map(|position| {
                let key = below(ctx.rng(), u64::from(settings.keys)) as Key;
                if chance(ctx.rng(), settings.read_ratio) {
                    Mop::read(key)
                } else {
                    Mop::write(key, written_value(txn.client, txn.seq, position))
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{observations, parts, sends, txn};
    use super::super::types::Mop;
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
    fn submit_draws_micro_ops_with_unique_values_and_counts_operations() {
        let (mut client, mut parts) = client();
        client.on_timer(&mut parts.ctx(), TpcTimer::Client(DriverTimer::Arrive));
        client.on_timer(&mut parts.ctx(), TpcTimer::Client(DriverTimer::Arrive));
        let sent = sends(&mut parts);
        assert_eq!(sent.len(), 2);
        for (seq, (target, msg)) in sent.into_iter().enumerate() {
            assert_eq!(target, COORDINATOR);
            let TpcMsg::Begin { txn: t, mops } = msg else {
                panic!("clients only send Begin, got {msg:?}");
            };
            // Ids must be unique per client: the op counter doubles as the txn id.
            assert_eq!(t, txn(5, seq as u64));
            // Default txn_length 1..=4, keys 0..64.
            assert!((1..=4).contains(&mops.len()), "{mops:?}");
            for (position, mop) in mops.iter().enumerate() {
                assert!(mop.key < 64);
                // A written value names its transaction, client and position: unique
                // per key, which Elle's inference of version orders needs.
                if mop.kind == MopKind::Write {
                    assert_eq!(mop.value, seq as u64 * 100_000 + 500 + position as u64);
                }
            }
        }
        assert_eq!(parts.durable.next_op, 2);
        assert_eq!(client.outstanding(), 2);
    }

    #[test]
    fn a_commit_fills_in_the_reads_in_transaction_order() {
        let mops = [Mop::write(3, 7), Mop::read(3), Mop::read(9)];
        let reads = vec![vec![1, 7], vec![]];
        // list-append: reads return lists, the empty one included.
        assert_eq!(
            txn_value(&mops, TxnWorkload::ListAppend, Some(&reads)).to_string(),
            "[[:append 3 7] [:r 3 [1 7]] [:r 9 []]]"
        );
        // rw-register: a read returns the register's last value, nil when unwritten.
        assert_eq!(
            txn_value(&mops, TxnWorkload::RwRegister, Some(&reads)).to_string(),
            "[[:w 3 7] [:r 3 7] [:r 9 nil]]"
        );
        // The invocation carries nil reads.
        assert_eq!(
            txn_value(&mops, TxnWorkload::ListAppend, None).to_string(),
            "[[:append 3 7] [:r 3 nil] [:r 9 nil]]"
        );
    }

    #[test]
    fn a_commit_without_its_reads_is_indeterminate() {
        let (mut client, mut parts) = client();
        client.on_timer(&mut parts.ctx(), TpcTimer::Client(DriverTimer::Arrive));
        parts.take_effects();
        client.on_message(
            &mut parts.ctx(),
            COORDINATOR,
            TpcMsg::Outcome {
                txn: txn(5, 0),
                decision: Decision::Commit,
                reads: None,
            },
        );
        // An ok completion must carry what the reads returned; without them the
        // transaction is known committed but its reads are not: info, never ok.
        assert!(observations(&parts).contains(&Observation::OpCompleted {
            op: 0,
            outcome: Outcome::Info("reads-unknown"),
            ret: Value::Nil,
        }));
    }

    #[test]
    fn outcome_completes_the_operation_once() {
        let (mut client, mut parts) = client();
        client.on_timer(&mut parts.ctx(), TpcTimer::Client(DriverTimer::Arrive));
        parts.take_effects();
        let t = txn(5, 0);
        client.on_message(
            &mut parts.ctx(),
            COORDINATOR,
            TpcMsg::Outcome {
                txn: t,
                decision: Decision::Abort,
                reads: None,
            },
        );
        client.on_message(
            &mut parts.ctx(),
            COORDINATOR,
            TpcMsg::Outcome {
                txn: t,
                decision: Decision::Abort,
                reads: None,
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
        client.on_timer(&mut parts.ctx(), TpcTimer::Client(DriverTimer::Arrive));
        parts.take_effects();
        client.on_timer(
            &mut parts.ctx(),
            TpcTimer::Client(DriverTimer::Timeout { op: 0, attempt: 0 }),
        );
        client.on_message(
            &mut parts.ctx(),
            COORDINATOR,
            TpcMsg::Outcome {
                txn: txn(5, 0),
                decision: Decision::Commit,
                reads: Some(Vec::new()),
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

    #[test]
    fn a_timed_out_transaction_is_never_resubmitted_even_under_a_retry_policy() {
        // A retry table with no max_attempts and no backoff: left to the driver's
        // default, the timeout would re-send Begin at once, over and over.
        let mut settings = TpcSettings::default();
        settings.client_workload.retry = RetryPolicy {
            timeout: Some(dsim_core::SimDuration::from_millis(50)),
            ..RetryPolicy::default()
        };
        let mut parts = parts(NodeId(5), settings);
        let mut client = Client::new(settings);
        client.on_start(&mut parts.ctx());
        parts.take_effects();
        client.on_timer(&mut parts.ctx(), TpcTimer::Client(DriverTimer::Arrive));
        assert_eq!(sends(&mut parts).len(), 1);
        parts.take_effects();
        client.on_timer(
            &mut parts.ctx(),
            TpcTimer::Client(DriverTimer::Timeout { op: 0, attempt: 0 }),
        );
        // One attempt: the transaction ends info("timeout") and no second Begin leaves
        // (a re-sent Begin could run a committed transaction again after a coordinator
        // restart).
        assert!(sends(&mut parts).is_empty());
        assert_eq!(
            observations(&parts),
            vec![Observation::OpCompleted {
                op: 0,
                outcome: Outcome::Info("timeout"),
                ret: Value::Nil,
            }]
        );
        assert_eq!(client.outstanding(), 0);
    }
}
