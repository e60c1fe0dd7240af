//! The vocabulary of the lock service: sessions, sequencers, lock-database commands, the
//! messages, timers and observations, and what each node keeps across crashes.

use crate::kit::client::DriverTimer;
use crate::multipaxos::{self, Ballot};
use dsim_core::{NodeId, SimTime};

/// A lock name: locks are numbered `0..locks` (`lock-0`, `lock-1`, ...).
pub type LockId = u32;

/// A client session: the client node and the client's own count of sessions it opened,
/// so a session id is never reused, even across client crashes. Ordered by client, then
/// epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SessionId {
    /// The client node that owns the session.
    pub client: u32,
    /// The client's session counter (durable on the client).
    pub epoch: u32,
}

impl SessionId {
    /// The client node of this session.
    pub fn client_node(self) -> NodeId {
        NodeId(self.client)
    }

    /// A 64-bit key for digests and ordering.
    pub fn key(self) -> u64 {
        (u64::from(self.client) << 32) | u64::from(self.epoch)
    }
}

impl Ord for SessionId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // One integer comparison: sessions are map keys on the master's hot path.
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for SessionId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Chubby's sequencer: the lock and the generation under which it was granted. Every
/// grant of a lock bumps its generation, so a newer holder always has a larger one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sequencer {
    /// The lock.
    pub lock: LockId,
    /// The lock generation of this grant (real generations start at 1).
    pub generation: u64,
}

impl Sequencer {
    /// The "sequencer" a client releases under when it gave up on an acquire before it
    /// learned whether, or under which generation, the lock was granted: generation 0,
    /// which no grant carries. Releasing under it ends the hold of that operation,
    /// whatever its generation.
    pub fn abandoned(lock: LockId) -> Sequencer {
        Sequencer {
            lock,
            generation: 0,
        }
    }
}

/// One command of the replicated lock database, chosen through Multi-Paxos and applied
/// in log order on every replica.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cmd {
    /// Fills a log gap during master recovery.
    #[default]
    Noop,
    /// A client opened `session`.
    OpenSession {
        /// The new session.
        session: SessionId,
    },
    /// The master judged `session`'s lease expired: its locks are freed into lock-delay.
    ExpireSession {
        /// The expired session.
        session: SessionId,
    },
    /// Grant `lock` to `session` for client operation `op`, if it is free and not in
    /// lock-delay.
    Acquire {
        /// The requesting session.
        session: SessionId,
        /// The lock.
        lock: LockId,
        /// The client's operation number (its acquire).
        op: u64,
    },
    /// `session` releases the hold of `lock` it got under `generation` for `op`.
    Release {
        /// The releasing session.
        session: SessionId,
        /// The lock.
        lock: LockId,
        /// The generation of the hold being released (0: the client gave up on the
        /// acquire before it learned it).
        generation: u64,
        /// The operation whose hold ends.
        op: u64,
    },
    /// The lock-delay of `lock` is over: it may be granted again.
    EndDelay {
        /// The lock.
        lock: LockId,
    },
}

impl Cmd {
    /// A 64-bit digest for message fingerprints.
    pub fn digest(&self) -> u64 {
        match *self {
            Cmd::Noop => 1,
            Cmd::OpenSession { session } => 2 ^ session.key().rotate_left(8),
            Cmd::ExpireSession { session } => 3 ^ session.key().rotate_left(8),
            Cmd::Acquire { session, lock, op } => {
                4 ^ session.key().rotate_left(8) ^ u64::from(lock).rotate_left(40) ^ op << 3
            }
            Cmd::Release {
                session,
                lock,
                generation,
                op,
            } => {
                5 ^ session.key().rotate_left(8)
                    ^ u64::from(lock).rotate_left(40)
                    ^ generation.rotate_left(20)
                    ^ op << 3
            }
            Cmd::EndDelay { lock } => 6 ^ u64::from(lock) << 8,
        }
    }
}

/// A map from sessions to `T`, indexed by client node: lookups are an index and a scan
/// of the client's (one or two) sessions. Iterates in session order (client, epoch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionTable<T> {
    by_client: Vec<Vec<(u32, T)>>,
    len: usize,
}

impl<T> Default for SessionTable<T> {
    fn default() -> Self {
        SessionTable {
            by_client: Vec::new(),
            len: 0,
        }
    }
}

impl<T> SessionTable<T> {
    /// The entry of `session`.
    pub fn get(&self, session: SessionId) -> Option<&T> {
        self.by_client
            .get(session.client as usize)?
            .iter()
            .find(|(epoch, _)| *epoch == session.epoch)
            .map(|(_, value)| value)
    }

    /// The entry of `session`, mutable.
    pub fn get_mut(&mut self, session: SessionId) -> Option<&mut T> {
        self.by_client
            .get_mut(session.client as usize)?
            .iter_mut()
            .find(|(epoch, _)| *epoch == session.epoch)
            .map(|(_, value)| value)
    }

    /// True when `session` has an entry.
    pub fn contains(&self, session: SessionId) -> bool {
        self.get(session).is_some()
    }

    /// The entry of `session`, made with `make` if there is none.
    pub fn get_or_insert_with(&mut self, session: SessionId, make: impl FnOnce() -> T) -> &mut T {
        let index = session.client as usize;
        if index >= self.by_client.len() {
            self.by_client.resize_with(index + 1, Vec::new);
        }
        let sessions = &mut self.by_client[index];
        let position = match sessions.binary_search_by_key(&session.epoch, |(epoch, _)| *epoch) {
            Ok(position) => position,
            Err(position) => {
                sessions.insert(position, (session.epoch, make()));
                self.len += 1;
                position
            }
        };
        &mut sessions[position].1
    }

    /// Removes and returns the entry of `session`.
    pub fn remove(&mut self, session: SessionId) -> Option<T> {
        let sessions = self.by_client.get_mut(session.client as usize)?;
        let position = sessions
            .iter()
            .position(|(epoch, _)| *epoch == session.epoch)?;
        self.len -= 1;
        Some(sessions.remove(position).1)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every entry, in session order.
    pub fn iter(&self) -> impl Iterator<Item = (SessionId, &T)> + '_ {
        self.by_client
            .iter()
            .enumerate()
            .flat_map(|(client, sessions)| {
                sessions.iter().map(move |(epoch, value)| {
                    (
                        SessionId {
                            client: client as u32,
                            epoch: *epoch,
                        },
                        value,
                    )
                })
            })
    }

    /// Every entry, mutable, in session order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (SessionId, &mut T)> + '_ {
        self.by_client
            .iter_mut()
            .enumerate()
            .flat_map(|(client, sessions)| {
                sessions.iter_mut().map(move |(epoch, value)| {
                    (
                        SessionId {
                            client: client as u32,
                            epoch: *epoch,
                        },
                        value,
                    )
                })
            })
    }
}

/// Who holds a lock: a session, for one client operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holder {
    /// The holding session.
    pub session: SessionId,
    /// The client operation (acquire) the hold belongs to.
    pub op: u64,
}

/// One lock in the database.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LockRecord {
    /// The current holder, if any.
    pub holder: Option<Holder>,
    /// Generation of the latest grant (0 before the first).
    pub generation: u64,
    /// Freed by a session expiry and still in lock-delay: not grantable until an
    /// [`Cmd::EndDelay`] is applied.
    pub delayed: bool,
}

/// What the database keeps per open session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionRecord {
    /// Every operation of the session up to this one has released its hold (told back
    /// to the client, so it stops resending releases). Operations start at 1.
    pub released_op: u64,
    /// The locks the session holds (an index over the lock records).
    pub held: Vec<LockId>,
}

/// The lock database: the replicated state machine. Deterministic: it holds no times,
/// only what the chosen commands say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LockDb {
    sessions: SessionTable<SessionRecord>,
    locks: Vec<LockRecord>,
}

/// What applying one command did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Nothing changed (a no-op, a repeat, or a command that no longer applies).
    Nothing,
    /// A session was opened (or already was).
    SessionOpened {
        /// The session.
        session: SessionId,
    },
    /// A session expired; its locks are freed into lock-delay.
    SessionExpired {
        /// The session.
        session: SessionId,
        /// The locks it held.
        freed: Vec<LockId>,
    },
    /// The lock was granted.
    Granted {
        /// The new holder.
        session: SessionId,
        /// Its sequencer.
        sequencer: Sequencer,
        /// The client operation.
        op: u64,
    },
    /// The acquire found the lock taken, delayed, or its session gone.
    NotGranted {
        /// The requesting session.
        session: SessionId,
        /// The lock.
        lock: LockId,
        /// The client operation.
        op: u64,
    },
    /// A release was applied (whether or not the lock was still held by it).
    Released {
        /// The releasing session.
        session: SessionId,
        /// The operation whose hold ended.
        op: u64,
        /// The named lock, if this freed it.
        freed: Option<LockId>,
        /// True when holds of older operations (whose releases were lost) ended too.
        freed_older: bool,
    },
    /// A lock left lock-delay.
    DelayEnded {
        /// The lock.
        lock: LockId,
    },
}

impl LockDb {
    /// The record of `lock` (default when never touched).
    pub fn lock(&self, lock: LockId) -> LockRecord {
        self.locks.get(lock as usize).copied().unwrap_or_default()
    }

    /// The record of `session`, if it is open.
    pub fn session(&self, session: SessionId) -> Option<&SessionRecord> {
        self.sessions.get(session)
    }

    /// Every open session.
    pub fn sessions(&self) -> impl Iterator<Item = SessionId> + '_ {
        self.sessions.iter().map(|(session, _)| session)
    }

    /// Every lock record, by lock id (locks never touched may be missing at the end).
    pub fn locks(&self) -> &[LockRecord] {
        &self.locks
    }

    /// Locks currently in lock-delay.
    pub fn delayed_locks(&self) -> Vec<LockId> {
        (0..self.locks.len())
            .filter(|&index| self.locks[index].delayed)
            .map(|index| index as LockId)
            .collect()
    }

    fn lock_mut(&mut self, lock: LockId) -> &mut LockRecord {
        let index = lock as usize;
        if index >= self.locks.len() {
            self.locks.resize(index + 1, LockRecord::default());
        }
        &mut self.locks[index]
    }

    /// Applies one chosen command.
    pub fn apply(&mut self, cmd: &Cmd) -> Applied {
        match *cmd {
            Cmd::Noop => Applied::Nothing,
            Cmd::OpenSession { session } => {
                self.sessions
                    .get_or_insert_with(session, SessionRecord::default);
                Applied::SessionOpened { session }
            }
            Cmd::ExpireSession { session } => {
                let Some(record) = self.sessions.remove(session) else {
                    return Applied::Nothing;
                };
                let mut freed = record.held;
                freed.sort_unstable();
                for &lock in &freed {
                    let lock_record = self.lock_mut(lock);
                    assert!(
                        lock_record
                            .holder
                            .is_some_and(|holder| holder.session == session),
                        "the held index names lock-{lock}, which the session does not hold"
                    );
                    lock_record.holder = None;
                    lock_record.delayed = true;
                }
                Applied::SessionExpired { session, freed }
            }
            Cmd::Acquire { session, lock, op } => {
                // An acquire of an operation the client already released is a stale
                // duplicate: granting it would hold the lock for nobody.
                let open = self
                    .sessions
                    .get(session)
                    .is_some_and(|record| record.released_op < op);
                let record = self.lock_mut(lock);
                if !open || record.holder.is_some() || record.delayed {
                    return Applied::NotGranted { session, lock, op };
                }
                record.generation += 1;
                record.holder = Some(Holder { session, op });
                let generation = record.generation;
                self.sessions
                    .get_mut(session)
                    .expect("checked open above")
                    .held
                    .push(lock);
                Applied::Granted {
                    session,
                    sequencer: Sequencer { lock, generation },
                    op,
                }
            }
            Cmd::Release {
                session,
                lock,
                generation,
                op,
            } => {
                let Some(record) = self.sessions.get_mut(session) else {
                    return Applied::Nothing;
                };
                record.released_op = record.released_op.max(op);
                // A client holds one lock at a time and starts an operation only after
                // it finished the previous one, so releasing `op` also ends any hold the
                // session still has under an older operation (one whose release was
                // lost): `released_op` then truthfully means "everything up to here".
                let mut freed = None;
                let mut freed_older = false;
                let locks = &mut self.locks;
                record.held.retain(|&held| {
                    let lock_record = &mut locks[held as usize];
                    let holder = lock_record.holder.expect("held locks have a holder");
                    // Generation 0: the client gave up on the acquire before it
                    // learned its generation; (session, op) still names one hold.
                    let named = holder.op == op
                        && held == lock
                        && (generation == 0 || lock_record.generation == generation);
                    if named {
                        freed = Some(held);
                    } else if holder.op < op {
                        freed_older = true;
                    } else {
                        return true;
                    }
                    lock_record.holder = None;
                    false
                });
                Applied::Released {
                    session,
                    op,
                    freed,
                    freed_older,
                }
            }
            Cmd::EndDelay { lock } => {
                let record = self.lock_mut(lock);
                if !record.delayed {
                    return Applied::Nothing;
                }
                record.delayed = false;
                Applied::DelayEnded { lock }
            }
        }
    }
}

/// What applying one command to the [`LockDb`] did, with every hold it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// What the command did.
    pub applied: Applied,
    /// The holds it ended (a release, or the expiry of the holder's session).
    pub freed: Vec<Sequencer>,
}

impl multipaxos::StateMachine for LockDb {
    type Command = Cmd;
    type Output = Outcome;
    type Config = ();
    const NOOP: Cmd = Cmd::Noop;

    fn apply(&mut self, _: &(), cmd: Cmd) -> Outcome {
        let held_before: Vec<Sequencer> = match cmd {
            Cmd::Release { session, .. } | Cmd::ExpireSession { session } => self
                .session(session)
                .map(|record| {
                    record
                        .held
                        .iter()
                        .map(|&lock| Sequencer {
                            lock,
                            generation: self.lock(lock).generation,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let applied = LockDb::apply(self, &cmd);
        let freed = held_before
            .into_iter()
            .filter(|sequencer| self.lock(sequencer.lock).holder.is_none())
            .collect();
        Outcome { applied, freed }
    }

    fn has_run(&self, cmd: Cmd) -> bool {
        // The master guards its own proposals (a lock busy while its grant is in
        // flight, a release or expiry in flight once); only the no-op is idempotent.
        cmd == Cmd::Noop
    }
}

/// Every message of the lock service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    // ----- client to cell -----------------------------------------------------------
    /// Open `session` (idempotent).
    OpenSession {
        /// The session to open.
        session: SessionId,
        /// The client's local time when it sent this (echoed for its lease view).
        sent_at: SimTime,
    },
    /// Keep `session` alive.
    KeepAlive {
        /// The session.
        session: SessionId,
        /// Client's local send time.
        sent_at: SimTime,
    },
    /// Acquire `lock` exclusively for operation `op` (idempotent per op).
    Acquire {
        /// The session.
        session: SessionId,
        /// The lock.
        lock: LockId,
        /// The client's operation number.
        op: u64,
        /// Client's local send time.
        sent_at: SimTime,
    },
    /// Release the hold of `sequencer` that operation `op` got.
    Release {
        /// The session.
        session: SessionId,
        /// The hold's sequencer.
        sequencer: Sequencer,
        /// The operation whose hold ends.
        op: u64,
        /// Client's local send time.
        sent_at: SimTime,
    },
    // ----- cell to client -----------------------------------------------------------
    /// The session is open; the master extended its lease when it got the request
    /// the client sent at `lease_from`.
    SessionOpened {
        /// The session.
        session: SessionId,
        /// Client-clock send time of the request that extended the lease.
        lease_from: SimTime,
    },
    /// The session lease was extended.
    KeepAliveAck {
        /// The session.
        session: SessionId,
        /// Client-clock send time of the request that extended the lease.
        lease_from: SimTime,
        /// Every release up to this operation has been applied.
        released_op: u64,
    },
    /// `op` holds the lock under `sequencer`.
    Granted {
        /// The session.
        session: SessionId,
        /// The grant's sequencer.
        sequencer: Sequencer,
        /// The client's operation.
        op: u64,
        /// Client-clock send time of the newest request that extended the lease.
        lease_from: SimTime,
        /// Every release up to this operation has been applied.
        released_op: u64,
    },
    /// The session is gone (expired, or never known): open a new one.
    SessionExpired {
        /// The session.
        session: SessionId,
    },
    /// This replica is not the serving master; `hint` is the master it last followed.
    NotMaster {
        /// Where to go instead, if known.
        hint: Option<NodeId>,
    },
    // ----- client to resource -------------------------------------------------------
    /// Write to the guarded resource under `sequencer`.
    Write {
        /// The writer's sequencer.
        sequencer: Sequencer,
    },
    // ----- among replicas ------------------------------------------------------------
    /// A message of the Multi-Paxos core (with its master lease).
    Core(multipaxos::Msg<LockDb>),
}

/// Every timer of the lock service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Replica (and the naive server): heartbeat, lease renewal, retransmission and
    /// session bookkeeping.
    Tick,
    /// Replica: the core's election timeout check.
    Election,
    /// Client: session upkeep (keep-alives, session reopening, master discovery,
    /// release resends).
    ClientTick,
    /// Client: the hold time is over: write to the resource, then release.
    HoldEnd,
    /// Client: a timer of the kit's client driver, which issues and retries acquires
    /// (arrival, attempt timeout, retry backoff).
    Client(DriverTimer),
}

/// Lock-service observations for the checker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockEvent {
    /// A master holds a majority's lease and recovered the log: it serves from now.
    ServingStarted {
        /// Its ballot.
        ballot: Ballot,
    },
    /// A serving master checked its lease and still holds it: at every heartbeat tick
    /// and before it serves each client request.
    LeaseHeld {
        /// Its ballot.
        ballot: Ballot,
    },
    /// A master stopped serving (lease run out, or a higher ballot appeared).
    ServingStopped {
        /// Its ballot.
        ballot: Ballot,
    },
    /// The master applied a grant of `sequencer` to `client`.
    Granted {
        /// The holder's client node.
        client: NodeId,
        /// The grant.
        sequencer: Sequencer,
    },
    /// The master applied a command that ended the hold of `sequencer` (a release, or
    /// the expiry of the holder's session). Observed for every applied slot, recovered
    /// ones included, so a hold is never seen to outlive its end.
    Freed {
        /// The hold that ended.
        sequencer: Sequencer,
    },
    /// The master applied the expiry of a session.
    SessionExpired {
        /// The session.
        session: SessionId,
    },
    /// A lock the expired session held entered lock-delay at the master.
    LockDelayed {
        /// The lock.
        lock: LockId,
        /// The session that held it.
        session: SessionId,
    },
    /// The resource accepted a write.
    WriteAccepted {
        /// The writing client.
        client: NodeId,
        /// The sequencer the write carried.
        sequencer: Sequencer,
    },
    /// A replica installed another's snapshot of the log below `through` (it lagged
    /// behind the compacted log, or restarted).
    SnapshotInstalled {
        /// First slot not in the snapshot.
        through: u64,
    },
    /// The resource refused a write whose sequencer was older than the newest it had
    /// seen for the lock (fencing).
    WriteRefused {
        /// The writing client.
        client: NodeId,
        /// The sequencer the write carried.
        sequencer: Sequencer,
        /// The newest generation the resource had seen for the lock.
        newest: u64,
    },
}

/// Everything a lock-service node keeps across crashes. Replicas use the core's
/// acceptor state, log and database, clients their counters, the resource its fencing
/// table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LockDurable {
    /// The Multi-Paxos core's durable state: promise, log (persistent, so a sync costs
    /// O(1)), snapshot, and the lock database.
    pub(super) core: multipaxos::Durable<LockDb>,
    pub(super) next_epoch: u32,
    pub(super) last_op: u64,
    pub(super) newest: Vec<u64>,
}

impl LockDurable {
    /// The acceptor's promise.
    pub fn promised(&self) -> Ballot {
        self.core.promised()
    }

    /// The core's durable state (promise, log, snapshot, database).
    pub fn core(&self) -> &multipaxos::Durable<LockDb> {
        &self.core
    }

    /// One past the highest slot ever accepted or learned.
    pub fn log_len(&self) -> u64 {
        self.core.log_len()
    }

    /// First slot the log still holds: slots below were compacted into the snapshot.
    pub fn log_start(&self) -> u64 {
        self.core.log_start()
    }

    /// Slots below this are applied to the database.
    pub fn applied(&self) -> u64 {
        self.core.applied()
    }

    /// The replica's copy of the lock database.
    pub fn db(&self) -> &LockDb {
        self.core.machine()
    }

    /// Resource: the newest generation seen for `lock` (0 for none).
    pub fn newest(&self, lock: LockId) -> u64 {
        self.newest.get(lock as usize).copied().unwrap_or(0)
    }

    /// Client: the last operation number it used (operations start at 1).
    pub fn last_op(&self) -> u64 {
        self.last_op
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(client: u32) -> SessionId {
        SessionId { client, epoch: 0 }
    }

    #[test]
    fn grants_bump_the_generation_and_need_a_free_undelayed_lock() {
        let mut db = LockDb::default();
        db.apply(&Cmd::OpenSession {
            session: session(6),
        });
        db.apply(&Cmd::OpenSession {
            session: session(7),
        });
        let first = db.apply(&Cmd::Acquire {
            session: session(6),
            lock: 2,
            op: 1,
        });
        assert_eq!(
            first,
            Applied::Granted {
                session: session(6),
                sequencer: Sequencer {
                    lock: 2,
                    generation: 1
                },
                op: 1
            }
        );
        // A held lock is not granted again: two holders is what the service prevents.
        let second = db.apply(&Cmd::Acquire {
            session: session(7),
            lock: 2,
            op: 1,
        });
        assert!(matches!(second, Applied::NotGranted { .. }));
        db.apply(&Cmd::Release {
            session: session(6),
            lock: 2,
            generation: 1,
            op: 1,
        });
        let third = db.apply(&Cmd::Acquire {
            session: session(7),
            lock: 2,
            op: 1,
        });
        // The next holder gets a strictly newer generation, or fencing could not tell
        // the two apart.
        assert!(matches!(
            third,
            Applied::Granted {
                sequencer: Sequencer { generation: 2, .. },
                ..
            }
        ));
    }

    #[test]
    fn expiry_frees_locks_into_lock_delay_until_end_delay() {
        let mut db = LockDb::default();
        db.apply(&Cmd::OpenSession {
            session: session(6),
        });
        db.apply(&Cmd::OpenSession {
            session: session(7),
        });
        db.apply(&Cmd::Acquire {
            session: session(6),
            lock: 0,
            op: 1,
        });
        let expired = db.apply(&Cmd::ExpireSession {
            session: session(6),
        });
        assert_eq!(
            expired,
            Applied::SessionExpired {
                session: session(6),
                freed: vec![0]
            }
        );
        // Without lock-delay a non-fencing resource could see the dead holder's late
        // writes interleave with the next holder's.
        assert!(matches!(
            db.apply(&Cmd::Acquire {
                session: session(7),
                lock: 0,
                op: 1
            }),
            Applied::NotGranted { .. }
        ));
        db.apply(&Cmd::EndDelay { lock: 0 });
        assert!(matches!(
            db.apply(&Cmd::Acquire {
                session: session(7),
                lock: 0,
                op: 1
            }),
            Applied::Granted { .. }
        ));
        // The expired session cannot acquire any more.
        assert!(matches!(
            db.apply(&Cmd::Acquire {
                session: session(6),
                lock: 1,
                op: 2
            }),
            Applied::NotGranted { .. }
        ));
    }

    #[test]
    fn applying_through_the_core_reports_every_hold_a_command_ended() {
        use crate::multipaxos::StateMachine;
        let mut db = LockDb::default();
        for cmd in [
            Cmd::OpenSession {
                session: session(6),
            },
            Cmd::Acquire {
                session: session(6),
                lock: 0,
                op: 1,
            },
            Cmd::Release {
                session: session(6),
                lock: 0,
                generation: 1,
                op: 1,
            },
            Cmd::Acquire {
                session: session(6),
                lock: 1,
                op: 2,
            },
        ] {
            StateMachine::apply(&mut db, &(), cmd);
        }
        let expired = StateMachine::apply(
            &mut db,
            &(),
            Cmd::ExpireSession {
                session: session(6),
            },
        );
        // The checker ends a hold only on this report: without it, the next grant of
        // lock-1 would look like a grant while held.
        assert_eq!(
            expired.freed,
            vec![Sequencer {
                lock: 1,
                generation: 1
            }]
        );
        assert!(matches!(expired.applied, Applied::SessionExpired { .. }));
    }

    #[test]
    fn release_of_an_abandoned_acquire_frees_its_hold_whatever_the_generation() {
        let mut db = LockDb::default();
        db.apply(&Cmd::OpenSession {
            session: session(6),
        });
        db.apply(&Cmd::Acquire {
            session: session(6),
            lock: 0,
            op: 1,
        });
        let released = db.apply(&Cmd::Release {
            session: session(6),
            lock: 0,
            generation: Sequencer::abandoned(0).generation,
            op: 1,
        });
        // The client timed the acquire out before it learned the grant: if this did not
        // free the lock, the live session would hold it for nobody, forever.
        assert_eq!(
            released,
            Applied::Released {
                session: session(6),
                op: 1,
                freed: Some(0),
                freed_older: false
            }
        );
        assert_eq!(db.lock(0).holder, None);
        // Released before the grant was applied: the grant no longer happens.
        assert!(matches!(
            db.apply(&Cmd::Acquire {
                session: session(6),
                lock: 0,
                op: 1
            }),
            Applied::NotGranted { .. }
        ));
    }

    #[test]
    fn stale_release_does_not_free_a_newer_hold() {
        let mut db = LockDb::default();
        db.apply(&Cmd::OpenSession {
            session: session(6),
        });
        db.apply(&Cmd::Acquire {
            session: session(6),
            lock: 0,
            op: 1,
        });
        db.apply(&Cmd::Release {
            session: session(6),
            lock: 0,
            generation: 1,
            op: 1,
        });
        db.apply(&Cmd::Acquire {
            session: session(6),
            lock: 0,
            op: 2,
        });
        // A duplicated release of op 1 must not end op 2's hold.
        db.apply(&Cmd::Release {
            session: session(6),
            lock: 0,
            generation: 1,
            op: 1,
        });
        assert_eq!(
            db.lock(0).holder,
            Some(Holder {
                session: session(6),
                op: 2
            })
        );
        assert_eq!(db.session(session(6)).map(|s| s.released_op), Some(1));
    }
}
