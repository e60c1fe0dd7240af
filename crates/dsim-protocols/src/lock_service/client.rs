//! A lock-service client, in two parts.
//!
//! **Session upkeep** is the client's own ([`Session`]): it opens a session (a fresh
//! durable epoch), keeps it alive (a quiet client sends a `KeepAlive` once half its
//! lease is used), follows the master hint (`NotMaster` redirects, and a replica that
//! stays silent for `client_retry` makes it try the next), reopens a session that
//! expired, and resends releases until a reply reports them applied. A session tick
//! every `client_retry` (or client interval, if shorter) does the periodic part.
//!
//! **Acquires** are operations of the kit's [`ClientDriver`]: paced by the workload
//! (open loop at the client's share of the rate, rate phases, or closed loop with
//! `outstanding` and `think_time`), an arrival that finds the client still acquiring
//! or holding, or its session not healthy, is skipped. Each attempt goes to the master
//! hint; an attempt unanswered for the attempt timeout (`[workload.retry] timeout`,
//! else `client_retry`) is retried under the workload's retry policy, with the same
//! operation id (the master answers a duplicate of a granted acquire with the grant
//! again), so a reply to any attempt completes it. An acquire gets
//! `ceil(acquire_timeout / attempt timeout)` attempts unless `[workload.retry]
//! max_attempts` says otherwise: with the defaults (100 ms attempts, immediate
//! retries, 1 s `acquire_timeout`) it ends `info` after 1 s, as before the driver. An
//! acquire the driver gives up on is released (generation 0: the grant may have been
//! applied with its reply lost). A grant completes it `ok`; the client then works
//! under the lock for `hold_time`, writes to the resource with its sequencer and
//! releases. The release is not a driver operation: it is numbered after its acquire
//! (the checker pairs them by [`RELEASE_OP_BIT`]), it is confirmed by whichever session
//! reply first reports it applied rather than by a reply of its own, and resending it
//! is session upkeep.

use super::types::{LockId, Msg, Sequencer, SessionId, Timer};
use super::{LockConfig, LockNode, Variant};
use crate::kit::client::{ClientApp, ClientDriver, DriverTimer, Invocation, Replies};
use dsim_core::rng::below;
use dsim_core::{Ctx, NodeId, Observation, Outcome, SimDuration, SimTime, TimerId, Value};

/// A client node: session upkeep plus a driver issuing acquires.
#[derive(Clone, Debug)]
pub struct Client {
    session: Session,
    /// Pacing, attempt timeouts, retries and history of acquires (boxed: it holds the
    /// whole workload).
    driver: Box<ClientDriver<LockId>>,
}

/// The client's session and lock state: everything but the pacing and retrying of
/// acquires.
#[derive(Clone, Debug)]
struct Session {
    id: NodeId,
    config: LockConfig,
    /// `seed-naive`: no sessions, no leases, always node 0.
    naive: bool,
    session: SessionId,
    session_state: SessionState,
    /// The client's own view of its session lease (local clock): it ends earlier than
    /// the master's, by the time its requests travelled and by the drift margin.
    lease_end: SimTime,
    /// The replica it believes is the master.
    hint: NodeId,
    /// Local time of the oldest request to the cell still without any reply.
    awaiting_since: Option<SimTime>,
    /// When the last `OpenSession` went out.
    open_sent: SimTime,
    /// When the last `KeepAlive` went out.
    keepalive_sent: Option<SimTime>,
    /// A new acquire (its first attempt) went out since the last session tick: it
    /// extends the lease, so no `KeepAlive` is needed on that tick.
    acquire_started: bool,
    phase: Phase,
    hold_timer: Option<TimerId>,
    /// Releases the master has not confirmed yet.
    pending_releases: Vec<PendingRelease>,
    /// A `NotMaster` already triggered an immediate resend since the last tick.
    redirected: bool,
    /// The acquire whose `release` operation is invoked and not yet completed.
    open_release: Option<u64>,
}

/// The bit that turns an acquire's operation number into the number of the `release`
/// operation that ends its hold: operation numbers stay unique per client, and the
/// checker pairs each release with its acquire.
pub const RELEASE_OP_BIT: u64 = 1 << 63;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SessionState {
    Opening,
    Open,
}

/// What the client is doing with locks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Nothing outstanding.
    Idle,
    /// Waiting for a grant: the driver's operation `op` is in flight.
    Acquiring {
        /// The operation.
        op: u64,
        /// The lock asked for.
        lock: LockId,
    },
    /// Believes it holds a lock.
    Holding {
        /// The operation that got it.
        op: u64,
        /// The grant.
        sequencer: Sequencer,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PendingRelease {
    op: u64,
    sequencer: Sequencer,
    sent_at: SimTime,
}

/// The driver of a client of `config`, numbering acquires from `first_op`: attempts
/// time out after `[workload.retry] timeout`, else `client_retry`, and an acquire gets
/// `ceil(acquire_timeout / attempt timeout)` attempts unless the policy sets
/// `max_attempts`.
fn driver(config: &LockConfig, first_op: u64) -> ClientDriver<LockId> {
    let mut workload = config.workload;
    let attempt_timeout = workload.retry.timeout.unwrap_or(config.client_retry);
    if workload.retry.max_attempts.is_none() {
        let attempts = config
            .acquire_timeout
            .as_nanos()
            .div_ceil(attempt_timeout.as_nanos().max(1))
            .clamp(1, u64::from(u32::MAX));
        workload.retry.max_attempts = Some(attempts as u32);
    }
    ClientDriver::new(
        &workload,
        Some(config.client_retry),
        Replies::AnyAttempt,
        first_op,
    )
}

impl From<DriverTimer> for Timer {
    fn from(timer: DriverTimer) -> Timer {
        Timer::Client(timer)
    }
}

impl Client {
    /// Client `id` of a run with `config`.
    pub fn new(config: LockConfig, id: NodeId) -> Client {
        assert!(config.is_client(id), "node {id} is not a client");
        Client {
            session: Session {
                id,
                config,
                naive: config.variant == Variant::SeedNaive,
                session: SessionId::default(),
                session_state: SessionState::Opening,
                lease_end: SimTime::ZERO,
                hint: NodeId(0),
                awaiting_since: None,
                open_sent: SimTime::ZERO,
                keepalive_sent: None,
                acquire_started: false,
                phase: Phase::Idle,
                hold_timer: None,
                pending_releases: Vec::new(),
                redirected: false,
                open_release: None,
            },
            driver: Box::new(driver(&config, 1)),
        }
    }

    /// What the client is doing with locks.
    pub fn phase(&self) -> Phase {
        self.session.phase
    }

    /// The current session.
    pub fn session(&self) -> SessionId {
        self.session.session
    }

    /// The end of the client's own view of its session lease (local clock).
    pub fn lease_end(&self) -> SimTime {
        self.session.lease_end
    }

    /// Acquires in flight in the driver (0 or 1).
    pub fn acquires_in_flight(&self) -> usize {
        self.driver.in_flight()
    }

    pub(super) fn on_start(&mut self, ctx: &mut Ctx<'_, LockNode>) {
        let config = self.session.config;
        if config.idle_clients.is_idle_node(config.replicas, ctx.id()) {
            return;
        }
        self.session.start(ctx);
        // Operation numbers survive a restart: the driver counts on from the last one
        // synced.
        *self.driver = driver(&config, ctx.durable().last_op + 1);
        self.driver.start(ctx);
        // A random phase per client, so that clients do not all tick at one instant.
        let period = self.session.tick_period();
        let phase = SimDuration(below(ctx.rng(), period.0.max(1)));
        ctx.set_timer(phase, Timer::ClientTick);
    }

    pub(super) fn on_message(&mut self, ctx: &mut Ctx<'_, LockNode>, source: NodeId, msg: Msg) {
        match msg {
            Msg::Granted {
                session,
                sequencer,
                op,
                lease_from,
                released_op,
            } => self.on_granted(ctx, session, sequencer, op, lease_from, released_op),
            Msg::SessionExpired { session }
                if session == self.session.session && !self.session.naive =>
            {
                if let Phase::Acquiring { op, .. } = self.session.phase {
                    // The grant may have happened before the expiry freed it again.
                    let completed = self.driver.on_reply(ctx, op, 0, |_| {
                        (Outcome::Info("session_expired"), Value::Nil)
                    });
                    assert!(completed, "acquire {op} in flight without the driver");
                }
                self.session.on_session_expired(ctx);
            }
            msg => self.session.on_message(ctx, source, msg),
        }
    }

    pub(super) fn on_timer(&mut self, ctx: &mut Ctx<'_, LockNode>, timer: Timer) {
        match timer {
            Timer::ClientTick => {
                self.session.on_tick(ctx);
                ctx.set_timer(self.session.tick_period(), Timer::ClientTick);
            }
            Timer::HoldEnd => self.session.on_hold_end(ctx),
            Timer::Client(timer) => self.driver.on_timer(&mut self.session, ctx, timer),
            Timer::Tick | Timer::Election => {}
        }
    }

    fn on_granted(
        &mut self,
        ctx: &mut Ctx<'_, LockNode>,
        session: SessionId,
        sequencer: Sequencer,
        op: u64,
        lease_from: SimTime,
        released_op: u64,
    ) {
        let state = &mut self.session;
        if session != state.session {
            // A grant to an older session: that session's expiry frees the lock.
            return;
        }
        let now = ctx.monotonic();
        state.awaiting_since = None;
        state.extend_lease(lease_from);
        state.pending_releases.retain(|r| r.op > released_op);
        state.confirm_release(ctx, released_op);
        match state.phase {
            Phase::Acquiring { op: wanted, lock } if wanted == op && lock == sequencer.lock => {
                let completed = self.driver.on_reply(ctx, op, 0, |_| {
                    (Outcome::Ok, Value::Int(sequencer.generation as i64))
                });
                assert!(completed, "acquire {op} in flight without the driver");
                if state.healthy(now) {
                    // The check: the lease holds, so the client trusts the lock for the
                    // whole hold time and writes at its end without checking again.
                    // A pause in between is exactly what sequencers exist for.
                    state.phase = Phase::Holding { op, sequencer };
                    state.hold_timer = Some(ctx.set_timer(state.config.hold_time, Timer::HoldEnd));
                } else {
                    // Granted, but our session is in jeopardy: do not use it.
                    state.phase = Phase::Idle;
                    state.release(ctx, op, sequencer);
                }
            }
            Phase::Holding { op: holding, .. } if holding == op => {}
            _ => {
                // A late grant for an acquire we gave up on: hand it back. Its release
                // may already be pending under generation 0 (sent when the acquire
                // timed out): resend it under the generation we now learned.
                let pending = state.pending_releases.iter().position(|r| r.op == op);
                match pending {
                    Some(index) if state.pending_releases[index].sequencer == sequencer => {}
                    Some(index) => {
                        state.pending_releases[index].sequencer = sequencer;
                        state.pending_releases[index].sent_at = now;
                        state.send_release(ctx, op, sequencer);
                    }
                    None => state.release(ctx, op, sequencer),
                }
            }
        }
    }
}

/// Acquires, as the driver's operations.
impl ClientApp<LockNode> for Session {
    /// The lock asked for.
    type Op = LockId;

    /// An acquire of a random lock, unless the client is still acquiring or holding
    /// (one lock at a time) or its session is not healthy: then the arrival is skipped.
    fn next_op(
        &mut self,
        ctx: &mut Ctx<'_, LockNode>,
        op: u64,
        _: Option<u64>,
    ) -> Option<(LockId, Invocation)> {
        if self.phase != Phase::Idle || !self.healthy(ctx.monotonic()) {
            return None;
        }
        ctx.durable_mut().last_op = op;
        // Operation numbers stay unique per client across crashes.
        ctx.sync();
        let lock = below(ctx.rng(), u64::from(self.config.locks)) as LockId;
        self.phase = Phase::Acquiring { op, lock };
        Some((
            lock,
            Invocation {
                f: "acquire",
                key: Some(Value::Int(i64::from(lock))),
                arg: Value::Nil,
            },
        ))
    }

    /// Sends the acquire to the master hint; before a retry, a hint that stayed silent
    /// for `client_retry` gives way to the next replica.
    fn send(&mut self, ctx: &mut Ctx<'_, LockNode>, op: u64, attempt: u32, &lock: &LockId) {
        assert_eq!(
            self.phase,
            Phase::Acquiring { op, lock },
            "the driver sends only the acquire in flight"
        );
        if attempt == 0 {
            self.acquire_started = true;
        } else {
            self.move_on_if_silent(ctx.monotonic());
        }
        self.send_acquire(ctx, lock, op);
    }

    /// Out of attempts: the acquire is indeterminate, and its hold is handed back.
    fn gave_up(&mut self, ctx: &mut Ctx<'_, LockNode>, op: u64, &lock: &LockId) {
        assert_eq!(self.phase, Phase::Acquiring { op, lock });
        self.phase = Phase::Idle;
        if !self.naive {
            // The grant may have been applied and its reply lost: hand the lock back,
            // or the session (kept alive by our next requests) would hold it forever
            // and our next acquire of it would queue behind our own forgotten hold.
            // Generation 0: we never learned it.
            self.release(ctx, op, Sequencer::abandoned(lock));
        }
    }
}

impl Session {
    /// Period of the session tick: the client interval, or the retry period if shorter.
    fn tick_period(&self) -> SimDuration {
        self.config.client_interval.min(self.config.client_retry)
    }

    /// Opens the first session (`seed-naive`: pretends one is open forever).
    fn start(&mut self, ctx: &mut Ctx<'_, LockNode>) {
        if self.naive {
            self.session = SessionId {
                client: self.id.0,
                epoch: 0,
            };
            self.session_state = SessionState::Open;
            self.lease_end = SimTime::MAX;
        } else {
            self.open_new_session(ctx);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, LockNode>, source: NodeId, msg: Msg) {
        match msg {
            Msg::SessionOpened {
                session,
                lease_from,
            } => {
                if session != self.session {
                    return;
                }
                self.awaiting_since = None;
                self.session_state = SessionState::Open;
                self.extend_lease(lease_from);
            }
            Msg::KeepAliveAck {
                session,
                lease_from,
                released_op,
            } => {
                if session != self.session || self.session_state != SessionState::Open {
                    return;
                }
                self.awaiting_since = None;
                self.extend_lease(lease_from);
                self.pending_releases.retain(|r| r.op > released_op);
                self.confirm_release(ctx, released_op);
            }
            Msg::NotMaster { hint } => self.on_not_master(ctx, source, hint),
            _ => {}
        }
    }

    /// True while the client's own view of its session lease holds.
    fn healthy(&self, now: SimTime) -> bool {
        self.session_state == SessionState::Open && now < self.lease_end
    }

    fn extend_lease(&mut self, lease_from: SimTime) {
        if self.naive || lease_from == SimTime::ZERO {
            return;
        }
        let end = lease_from.saturating_add(self.config.session_lease_safe());
        self.lease_end = self.lease_end.max(end);
    }

    /// Master discovery: a hint that left a request without any reply for
    /// `client_retry` gives way to the next replica.
    fn move_on_if_silent(&mut self, now: SimTime) {
        if !self.naive
            && self
                .awaiting_since
                .is_some_and(|since| now.saturating_since(since) >= self.config.client_retry)
        {
            self.hint = NodeId((self.hint.0 + 1) % self.config.replicas as u32);
            self.awaiting_since = None;
        }
    }

    fn send_to_cell(&mut self, ctx: &mut Ctx<'_, LockNode>, msg: Msg) {
        ctx.send(self.hint, msg);
        if self.awaiting_since.is_none() {
            self.awaiting_since = Some(ctx.monotonic());
        }
    }

    fn open_new_session(&mut self, ctx: &mut Ctx<'_, LockNode>) {
        let epoch = ctx.durable().next_epoch;
        ctx.durable_mut().next_epoch = epoch + 1;
        // The epoch must never be reused, even after a crash.
        ctx.sync();
        self.session = SessionId {
            client: self.id.0,
            epoch,
        };
        self.session_state = SessionState::Opening;
        self.lease_end = SimTime::ZERO;
        self.keepalive_sent = None;
        self.send_open(ctx);
    }

    fn send_open(&mut self, ctx: &mut Ctx<'_, LockNode>) {
        let now = ctx.monotonic();
        self.open_sent = now;
        let session = self.session;
        self.send_to_cell(
            ctx,
            Msg::OpenSession {
                session,
                sent_at: now,
            },
        );
    }

    fn send_keepalive(&mut self, ctx: &mut Ctx<'_, LockNode>) {
        let now = ctx.monotonic();
        self.keepalive_sent = Some(now);
        let session = self.session;
        self.send_to_cell(
            ctx,
            Msg::KeepAlive {
                session,
                sent_at: now,
            },
        );
    }

    fn send_acquire(&mut self, ctx: &mut Ctx<'_, LockNode>, lock: LockId, op: u64) {
        let session = self.session;
        let sent_at = ctx.monotonic();
        self.send_to_cell(
            ctx,
            Msg::Acquire {
                session,
                lock,
                op,
                sent_at,
            },
        );
    }

    fn send_release(&mut self, ctx: &mut Ctx<'_, LockNode>, op: u64, sequencer: Sequencer) {
        let session = self.session;
        let sent_at = ctx.monotonic();
        ctx.send(
            self.hint,
            Msg::Release {
                session,
                sequencer,
                op,
                sent_at,
            },
        );
    }

    /// Releases a hold; the release is resent until the master confirms it (except in
    /// `seed-naive`, which sends it once).
    fn release(&mut self, ctx: &mut Ctx<'_, LockNode>, op: u64, sequencer: Sequencer) {
        self.send_release(ctx, op, sequencer);
        if !self.naive && !self.pending_releases.iter().any(|r| r.op == op) {
            self.pending_releases.push(PendingRelease {
                op,
                sequencer,
                sent_at: ctx.monotonic(),
            });
        }
    }

    /// The periodic part of session upkeep: master discovery, reopening, release
    /// resends and keep-alives. (Acquires are the driver's.)
    fn on_tick(&mut self, ctx: &mut Ctx<'_, LockNode>) {
        let now = ctx.monotonic();
        let retry = self.config.client_retry;
        self.redirected = false;
        let acquire_started = std::mem::take(&mut self.acquire_started);
        // The replica we talk to went quiet: try the next one.
        self.move_on_if_silent(now);
        if self.session_state == SessionState::Opening {
            if now.saturating_since(self.open_sent) >= retry {
                self.send_open(ctx);
            }
            return;
        }
        if self.naive {
            return;
        }
        // A release is confirmed by the next reply that reports it applied; one still
        // unconfirmed after two retry periods was probably lost.
        let resend_after = SimDuration(retry.0.saturating_mul(2));
        let mut need_ack = false;
        for index in 0..self.pending_releases.len() {
            let pending = self.pending_releases[index];
            if now.saturating_since(pending.sent_at) >= resend_after {
                self.pending_releases[index].sent_at = now;
                self.send_release(ctx, pending.op, pending.sequencer);
                need_ack = true;
            }
        }
        // Every request extends the session lease: an explicit KeepAlive is needed only
        // when the client has been quiet for half a lease.
        let half_used =
            now.saturating_add(SimDuration(self.config.session_lease.0 / 2)) >= self.lease_end;
        let quiet = self
            .keepalive_sent
            .is_none_or(|sent| now.saturating_since(sent) >= retry);
        if ((half_used && !acquire_started) || need_ack) && quiet {
            self.send_keepalive(ctx);
        }
    }

    /// Completes the open `release` operation `ok` once the master reports it applied
    /// (a reply's `released_op` covers it).
    fn confirm_release(&mut self, ctx: &mut Ctx<'_, LockNode>, released_op: u64) {
        if let Some(op) = self.open_release
            && op <= released_op
        {
            self.open_release = None;
            ctx.observe(Observation::OpCompleted {
                op: op | RELEASE_OP_BIT,
                outcome: Outcome::Ok,
                ret: Value::Nil,
            });
        }
    }

    /// Completes the open `release` operation `info`: the client stops waiting for its
    /// confirmation (the release may still be applied later, or may have been already).
    fn abandon_release(&mut self, ctx: &mut Ctx<'_, LockNode>, why: &'static str) {
        if let Some(op) = self.open_release.take() {
            ctx.observe(Observation::OpCompleted {
                op: op | RELEASE_OP_BIT,
                outcome: Outcome::Info(why),
                ret: Value::Nil,
            });
        }
    }

    fn on_hold_end(&mut self, ctx: &mut Ctx<'_, LockNode>) {
        self.hold_timer = None;
        let Phase::Holding { op, sequencer } = self.phase else {
            return;
        };
        ctx.send(self.config.resource(), Msg::Write { sequencer });
        self.phase = Phase::Idle;
        if self.healthy(ctx.monotonic()) {
            // The lease still holds, so the session (and with it this hold) has been
            // alive at the master from the grant until now: the hold the client
            // believed in was real, and it ends with this release. A client whose lease
            // view ran out (a pause) cannot tell when its hold ended, so it observes no
            // release and the checker does not count the hold (see the checker).
            // A release still unconfirmed when the next one starts is indeterminate
            // (the history writer gives overlapping operations of a node their own
            // Jepsen processes). Usually the next grant confirms it first.
            self.abandon_release(ctx, "unconfirmed");
            self.open_release = Some(op);
            ctx.observe(Observation::OpInvoked {
                op: op | RELEASE_OP_BIT,
                f: "release",
                key: Some(Value::Int(i64::from(sequencer.lock))),
                arg: Value::Int(sequencer.generation as i64),
            });
        }
        self.release(ctx, op, sequencer);
    }

    /// The session expired at the master (the driver already ended an acquire in
    /// flight): every hold is gone, and a new session opens.
    fn on_session_expired(&mut self, ctx: &mut Ctx<'_, LockNode>) {
        if let Phase::Holding { .. } = self.phase
            && let Some(timer) = self.hold_timer.take()
        {
            ctx.cancel_timer(timer);
        }
        self.phase = Phase::Idle;
        // The expiry freed every lock the session held: an unconfirmed release took
        // effect by now (the master applied it, or the expiry freed the lock), and after
        // its invocation, when the session was still alive: the release is `ok`.
        self.confirm_release(ctx, u64::MAX);
        self.pending_releases.clear();
        self.open_new_session(ctx);
    }

    fn on_not_master(&mut self, ctx: &mut Ctx<'_, LockNode>, source: NodeId, hint: Option<NodeId>) {
        if self.naive {
            return;
        }
        self.hint = hint
            .filter(|&hint| hint != source && self.config.is_replica(hint))
            .unwrap_or(NodeId((source.0 + 1) % self.config.replicas as u32));
        self.awaiting_since = None;
        if self.redirected {
            return;
        }
        // Resend the most urgent request to the new hint at once, once per tick: a
        // redirect of the attempt in flight, not a retry.
        self.redirected = true;
        if self.session_state == SessionState::Opening {
            self.send_open(ctx);
        } else if let Phase::Acquiring { op, lock } = self.phase {
            self.send_acquire(ctx, lock, op);
        } else {
            self.send_keepalive(ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;
    use dsim_core::{Backoff, CtxParts, Effect, RetryPolicy};

    const ARRIVE: Timer = Timer::Client(DriverTimer::Arrive);

    /// The driver's timeout of attempt `attempt` of acquire `op`.
    fn timeout(op: u64, attempt: u32) -> Timer {
        Timer::Client(DriverTimer::Timeout { op, attempt })
    }

    /// Client node 3 of a 3-replica cell with 2 clients, session open with a lease
    /// from local time 0, first acquire sent.
    fn acquiring() -> (Client, CtxParts<LockNode>, u64, LockId) {
        acquiring_with(config(3, 2))
    }

    /// As [`acquiring`], with `config`.
    fn acquiring_with(config: LockConfig) -> (Client, CtxParts<LockNode>, u64, LockId) {
        let mut parts = parts(&config, 3);
        let mut client = Client::new(config, NodeId(3));
        client.on_start(&mut parts.ctx());
        let session = client.session();
        client.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::SessionOpened {
                session,
                lease_from: SimTime(1),
            },
        );
        parts.take_effects();
        parts.local_now = SimTime(config.client_interval.0);
        client.on_timer(&mut parts.ctx(), ARRIVE);
        let (op, lock) = parts
            .take_sends()
            .into_iter()
            .find_map(|(_, msg)| match msg {
                Msg::Acquire { op, lock, .. } => Some((op, lock)),
                _ => None,
            })
            .expect("an acquire went out");
        parts.take_effects();
        (client, parts, op, lock)
    }

    #[test]
    fn client_opens_a_session_with_a_fresh_durable_epoch() {
        let config = config(3, 2);
        let mut parts = parts(&config, 3);
        parts.durable.next_epoch = 4;
        let mut client = Client::new(config, NodeId(3));
        client.on_start(&mut parts.ctx());
        // Reusing an epoch after a crash would revive a session the master expired.
        assert_eq!(
            client.session(),
            SessionId {
                client: 3,
                epoch: 4
            }
        );
        assert_eq!(parts.durable.next_epoch, 5);
        let effects = parts.take_effects();
        let sync = position(&effects, |e| matches!(e, Effect::Sync));
        let send = position(&effects, |e| matches!(e, Effect::Send { .. }));
        assert!(sync < send);
    }

    #[test]
    fn local_lease_ends_a_margin_before_the_masters() {
        let (client, _, _, _) = acquiring();
        let config = config(3, 2);
        // Counted from the request's send time, shortened by the margin: the master
        // extended the lease later, by its own clock, for the full session lease.
        assert_eq!(
            client.lease_end(),
            SimTime(1 + config.session_lease_safe().0)
        );
        assert!(config.session_lease_safe() < config.session_lease);
    }

    #[test]
    fn grant_completes_the_op_then_the_hold_ends_in_a_write_and_a_release() {
        let (mut client, mut parts, op, lock) = acquiring();
        let sequencer = Sequencer {
            lock,
            generation: 9,
        };
        let session = client.session();
        let lease_from = parts.local_now;
        client.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::Granted {
                session,
                sequencer,
                op,
                lease_from,
                released_op: 0,
            },
        );
        assert_eq!(
            observations(&parts),
            vec![Observation::OpCompleted {
                op,
                outcome: Outcome::Ok,
                // The fencing token the grant carried.
                ret: Value::Int(9),
            }]
        );
        assert_eq!(client.phase(), Phase::Holding { op, sequencer });
        parts.take_effects();
        client.on_timer(&mut parts.ctx(), Timer::HoldEnd);
        // The write carries the sequencer, so the resource can fence a stale holder.
        let sends = parts.take_sends();
        assert_eq!(sends[0], (NodeId(5), Msg::Write { sequencer }));
        assert!(matches!(sends[1], (NodeId(0), Msg::Release { op: o, .. }) if o == op));
        assert_eq!(client.phase(), Phase::Idle);
    }

    /// The client holding lock `lock` under generation 6, granted at its current time.
    fn holding() -> (Client, CtxParts<LockNode>, u64, LockId) {
        let (mut client, mut parts, op, lock) = acquiring();
        let session = client.session();
        let lease_from = parts.local_now;
        client.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::Granted {
                session,
                sequencer: Sequencer {
                    lock,
                    generation: 6,
                },
                op,
                lease_from,
                released_op: 0,
            },
        );
        parts.take_effects();
        (client, parts, op, lock)
    }

    #[test]
    fn hold_ending_inside_the_lease_observes_a_release_completed_by_the_masters_reply() {
        let (mut client, mut parts, op, lock) = holding();
        client.on_timer(&mut parts.ctx(), Timer::HoldEnd);
        // Without the release the mutex model would see the lock held forever and
        // every later acquire of it by another client as a second holder.
        assert_eq!(
            observations(&parts),
            vec![Observation::OpInvoked {
                op: op | RELEASE_OP_BIT,
                f: "release",
                key: Some(Value::Int(i64::from(lock))),
                arg: Value::Int(6),
            }]
        );
        parts.take_effects();
        let session = client.session();
        let lease_from = parts.local_now;
        client.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::KeepAliveAck {
                session,
                lease_from,
                released_op: op - 1,
            },
        );
        // A reply that does not cover the release says nothing about it.
        assert!(observations(&parts).is_empty());
        client.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::KeepAliveAck {
                session,
                lease_from,
                released_op: op,
            },
        );
        assert_eq!(
            observations(&parts),
            vec![Observation::OpCompleted {
                op: op | RELEASE_OP_BIT,
                outcome: Outcome::Ok,
                ret: Value::Nil,
            }]
        );
    }

    #[test]
    fn unconfirmed_release_is_info_when_the_next_release_starts_and_ok_on_session_expiry() {
        let (mut client, mut parts, op, lock) = holding();
        client.on_timer(&mut parts.ctx(), Timer::HoldEnd);
        // A second hold ends before any reply confirmed the first release.
        client.session.phase = Phase::Holding {
            op: op + 1,
            sequencer: Sequencer {
                lock,
                generation: 7,
            },
        };
        parts.take_effects();
        client.on_timer(&mut parts.ctx(), Timer::HoldEnd);
        let seen = observations(&parts);
        // The first release may still be applied later: indeterminate, closed before
        // the next release opens.
        assert_eq!(
            seen[0],
            Observation::OpCompleted {
                op: op | RELEASE_OP_BIT,
                outcome: Outcome::Info("unconfirmed"),
                ret: Value::Nil,
            }
        );
        assert!(matches!(
            seen[1],
            Observation::OpInvoked { f: "release", .. }
        ));

        let (mut client, mut parts, op, _) = holding();
        client.on_timer(&mut parts.ctx(), Timer::HoldEnd);
        parts.take_effects();
        let session = client.session();
        client.on_message(&mut parts.ctx(), NodeId(0), Msg::SessionExpired { session });
        // The expiry freed the lock after the release was invoked (the session was alive
        // then): the lock is certainly free now, so the release is ok.
        assert_eq!(
            observations(&parts)[0],
            Observation::OpCompleted {
                op: op | RELEASE_OP_BIT,
                outcome: Outcome::Ok,
                ret: Value::Nil,
            }
        );
    }

    #[test]
    fn hold_ending_after_the_lease_view_ran_out_observes_no_release() {
        let (mut client, mut parts, _, _) = holding();
        // A pause: the hold ends after the client's own lease view ended.
        parts.local_now = SimTime(client.lease_end().0 + 1);
        client.on_timer(&mut parts.ctx(), Timer::HoldEnd);
        // The session may have expired long ago and the lock gone to another client: a
        // release invoked now would claim the hold lasted until now, and the mutex
        // model would flag `correct` for a pause fencing makes harmless.
        assert!(
            observations(&parts)
                .iter()
                .all(|o| !matches!(o, Observation::OpInvoked { f: "release", .. }))
        );
        // The lock is still handed back.
        assert!(
            parts
                .take_sends()
                .iter()
                .any(|(_, m)| matches!(m, Msg::Release { .. }))
        );
    }

    #[test]
    fn grant_received_in_jeopardy_is_handed_back_unused() {
        let (mut client, mut parts, op, lock) = acquiring();
        let session = client.session();
        parts.local_now = SimTime(client.lease_end().0 + 1);
        client.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::Granted {
                session,
                sequencer: Sequencer {
                    lock,
                    generation: 2,
                },
                op,
                lease_from: SimTime::ZERO,
                released_op: 0,
            },
        );
        // A client whose lease view expired cannot know the lock is still its own.
        assert_eq!(client.phase(), Phase::Idle);
        assert!(
            parts
                .take_sends()
                .iter()
                .any(|(_, m)| matches!(m, Msg::Release { .. }))
        );
    }

    #[test]
    fn session_expiry_fails_the_acquire_and_opens_a_new_session() {
        let (mut client, mut parts, op, _) = acquiring();
        let old = client.session();
        client.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::SessionExpired { session: old },
        );
        assert_eq!(
            observations(&parts),
            vec![Observation::OpCompleted {
                op,
                outcome: Outcome::Info("session_expired"),
                ret: Value::Nil,
            }]
        );
        // A new session, never the old one again.
        assert_ne!(client.session(), old);
        assert!(parts.take_sends().iter().any(
            |(_, m)| matches!(m, Msg::OpenSession { session, .. } if *session == client.session())
        ));
    }

    #[test]
    fn quiet_client_sends_a_keepalive_once_half_its_lease_is_used() {
        let (mut client, mut parts, _, _) = holding();
        // `holding` granted the lock at the current local time, which starts the lease.
        let lease_from = parts.local_now;
        client.on_timer(&mut parts.ctx(), Timer::HoldEnd);
        parts.take_effects();
        // The client is idle and quiet (no acquire went out since) until half the lease
        // went by.
        let config = config(3, 2);
        parts.local_now = SimTime(lease_from.0 + config.session_lease.0 / 2 + 1);
        client.on_timer(&mut parts.ctx(), Timer::ClientTick);
        // Without it the master would expire a healthy but idle session.
        assert!(
            parts
                .take_sends()
                .iter()
                .any(|(_, m)| matches!(m, Msg::KeepAlive { .. }))
        );
    }

    #[test]
    fn timed_out_acquire_is_released_and_a_late_grant_handed_back() {
        let (mut client, mut parts, op, lock) = acquiring();
        let config = config(3, 2);
        // Attempts of `client_retry` (100 ms) until `acquire_timeout` (1 s): ten.
        let attempts = (config.acquire_timeout.0 / config.client_retry.0) as u32;
        assert_eq!(attempts, 10);
        for attempt in 0..attempts - 1 {
            parts.local_now = SimTime(parts.local_now.0 + config.client_retry.0);
            client.on_timer(&mut parts.ctx(), timeout(op, attempt));
            // Each timeout before the last resends the same acquire (the master answers
            // a duplicate of a granted one with the grant): giving up early would turn
            // a slow grant into a timeout.
            assert!(observations(&parts).is_empty(), "attempt {attempt}");
            assert!(parts.take_sends().iter().any(
                |(_, m)| matches!(m, Msg::Acquire { op: o, lock: l, .. } if *o == op && *l == lock)
            ));
        }
        parts.local_now = SimTime(parts.local_now.0 + config.client_retry.0);
        client.on_timer(&mut parts.ctx(), timeout(op, attempts - 1));
        // After `acquire_timeout` the acquire is indeterminate, as before the driver.
        assert_eq!(
            observations(&parts),
            vec![Observation::OpCompleted {
                op,
                outcome: Outcome::Info("timeout"),
                ret: Value::Nil,
            }]
        );
        assert_eq!(client.acquires_in_flight(), 0);
        // The acquire may have been granted with the reply lost: without this release
        // the session would hold the lock for nobody, for as long as it lives.
        assert!(parts.take_sends().iter().any(
            |(_, m)| matches!(m, Msg::Release { op: o, sequencer, .. } if *o == op && *sequencer == Sequencer::abandoned(lock))
        ));
        let session = client.session();
        client.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::Granted {
                session,
                sequencer: Sequencer {
                    lock,
                    generation: 4,
                },
                op,
                lease_from: SimTime::ZERO,
                released_op: 0,
            },
        );
        // Keeping it would block the lock until the session expired. (The timeout
        // already released it under generation 0; the grant names the generation.)
        assert!(parts.take_sends().iter().any(
            |(_, m)| matches!(m, Msg::Release { op: o, sequencer, .. } if *o == op && sequencer.generation == 4)
        ));
        assert_eq!(client.phase(), Phase::Idle);
    }

    #[test]
    fn naive_client_acquires_from_node_zero_without_a_session() {
        let mut config = config(3, 2);
        config.variant = Variant::SeedNaive;
        let mut parts = parts(&config, 4);
        let mut client = Client::new(config, NodeId(4));
        client.on_start(&mut parts.ctx());
        // The article's lock has no sessions to open.
        assert!(parts.take_sends().is_empty());
        parts.local_now = SimTime(config.client_interval.0);
        client.on_timer(&mut parts.ctx(), ARRIVE);
        let sends = parts.take_sends();
        assert!(matches!(
            sends.as_slice(),
            [(NodeId(0), Msg::Acquire { .. })]
        ));
    }

    #[test]
    fn unanswered_requests_move_on_to_the_next_replica_and_follow_hints() {
        let (mut client, mut parts, op, _) = acquiring();
        let config = config(3, 2);
        parts.local_now = SimTime(parts.local_now.0 + config.client_retry.0);
        client.on_timer(&mut parts.ctx(), timeout(op, 0));
        // Replica 0 never answered: the retry goes to replica 1.
        assert!(
            parts
                .take_sends()
                .iter()
                .any(|(target, msg)| *target == NodeId(1)
                    && matches!(msg, Msg::Acquire { op: o, .. } if *o == op))
        );
        client.on_message(
            &mut parts.ctx(),
            NodeId(1),
            Msg::NotMaster {
                hint: Some(NodeId(2)),
            },
        );
        assert!(
            parts
                .take_sends()
                .iter()
                .any(|(target, msg)| *target == NodeId(2) && matches!(msg, Msg::Acquire { .. }))
        );
    }

    #[test]
    fn workload_retry_policy_spaces_and_limits_acquire_attempts() {
        let mut config = config(3, 2);
        config.workload.retry = RetryPolicy {
            backoff: Backoff::Exponential,
            base: SimDuration::from_millis(10),
            max_attempts: Some(2),
            ..RetryPolicy::default()
        };
        let (mut client, mut parts, op, lock) = acquiring_with(config);
        parts.local_now = SimTime(parts.local_now.0 + config.client_retry.0);
        client.on_timer(&mut parts.ctx(), timeout(op, 0));
        let effects = parts.take_effects();
        // The policy's backoff: the retry waits 10 ms instead of going out at once (the
        // default policy's immediate resend), and the acquire is not over yet.
        assert!(sends(&effects).is_empty(), "{effects:?}");
        assert!(effects.iter().any(|e| matches!(
            e,
            Effect::SetTimer { after, timer: Timer::Client(DriverTimer::Retry { op: o }), .. }
                if *o == op && *after == SimDuration::from_millis(10)
        )));
        client.on_timer(&mut parts.ctx(), Timer::Client(DriverTimer::Retry { op }));
        assert!(parts.take_sends().iter().any(
            |(_, m)| matches!(m, Msg::Acquire { op: o, lock: l, .. } if *o == op && *l == lock)
        ));
        client.on_timer(&mut parts.ctx(), timeout(op, 1));
        // max_attempts = 2 replaces the ten attempts acquire_timeout would give: the
        // second timeout ends the acquire, and its possible grant is handed back.
        assert_eq!(
            observations(&parts),
            vec![Observation::OpCompleted {
                op,
                outcome: Outcome::Info("timeout"),
                ret: Value::Nil,
            }]
        );
        assert!(parts.take_sends().iter().any(
            |(_, m)| matches!(m, Msg::Release { op: o, sequencer, .. } if *o == op && *sequencer == Sequencer::abandoned(lock))
        ));
        assert_eq!(client.phase(), Phase::Idle);
    }
}
