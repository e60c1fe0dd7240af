//! The client driver: everything a protocol's client does that is not the protocol.
//!
//! A client issues operations at a pace, sends each one, waits for a reply, times an
//! attempt out, retries, gives up, and records what it saw for the history checkers.
//! [`ClientDriver`] does all of that from the scenario's [`Workload`]; the protocol
//! only says what an operation is ([`ClientApp::next_op`]), how to send one attempt of
//! it ([`ClientApp::send`]) and what a reply means (the closure given to
//! [`ClientDriver::on_reply`]).
//!
//! - **Pacing.** Open loop (`[workload] rate`, `arrival`): one arrival every client
//!   interval after a random phase (`fixed`), or exponential gaps (`poisson`), so all
//!   clients together run at the workload's rate. Rate phases (`[[workload.phase]]`)
//!   change that rate at their start: a gap that crosses a phase boundary keeps the
//!   fraction of it already waited and runs the rest at the new rate (for Poisson gaps
//!   this is exact: the residual of an exponential is exponential). A phase of rate 0
//!   pauses the client until the next phase. Closed loop (`outstanding`,
//!   `think_time`): each client keeps `outstanding` slots; a slot starts an operation,
//!   waits for it to end (ok, fail or given up), thinks, and starts the next.
//! - **Operation ids** are given by the protocol at construction ([`ClientDriver::new`]'s
//!   `first_op`) and counted up from there: a protocol whose clients restart derives
//!   them from durable state (a synced counter, or [`incarnation_base`] of a restart
//!   counter), so an id is never reused across a crash.
//! - **Timeouts and retries** follow the workload's [`RetryPolicy`]: each attempt has a
//!   timeout (the policy's, or the protocol's default); after a timeout the driver waits
//!   the backoff delay ([`backoff_delay`]: fixed or exponential, capped, optionally with
//!   full jitter) and sends the next attempt, unless the operation has used
//!   `max_attempts` or the [`RetryBudget`] is spent, in which case the operation ends
//!   `info` (indeterminate: it may still take effect).
//! - **Replies.** [`Replies::AnyAttempt`] accepts a reply to any attempt of a pending
//!   operation (commands with a stable id that the service deduplicates, as Paxos's);
//!   [`Replies::CurrentAttempt`] abandons an attempt when it times out and ignores its
//!   late reply, as an RPC client that cancels a call does: the server's work on it is
//!   wasted, which is what makes retry storms possible.
//!
//! The driver's timers are [`DriverTimer`]s, wrapped in the protocol's own timer enum
//! (`N::Timer: From<DriverTimer>`).

use dsim_core::rng::{SimRng, below};
use dsim_core::{
    Backoff, ClosedLoop, Ctx, Delay, Jitter, Node, Observation, Outcome, RetryPolicy, SimDuration,
    SimTime, Value, Workload,
};
use std::collections::{BTreeMap, VecDeque};

/// The timers of a [`ClientDriver`], carried inside the protocol's timer enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriverTimer {
    /// Open loop: the next arrival. Closed loop: a free slot starts an operation.
    Arrive,
    /// Attempt `attempt` of operation `op` has waited its timeout.
    Timeout {
        /// The operation.
        op: u64,
        /// The attempt, 0 for the first.
        attempt: u32,
    },
    /// The backoff before the next attempt of `op` is over.
    Retry {
        /// The operation.
        op: u64,
    },
}

/// Which replies complete a pending operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replies {
    /// A reply to any attempt: retries resend the same idempotent command.
    AnyAttempt,
    /// Only a reply to the attempt in flight: a timed-out attempt is abandoned.
    CurrentAttempt,
}

/// What the history records at an operation's invocation.
#[derive(Clone, Debug, PartialEq)]
pub struct Invocation {
    /// Jepsen's function name: `read`, `write`, `cas`, `acquire`, `request`, ...
    pub f: &'static str,
    /// The key, if the object is keyed.
    pub key: Option<Value>,
    /// The argument.
    pub arg: Value,
}

/// The protocol's side of a client.
pub trait ClientApp<N: Node> {
    /// What the protocol keeps about one operation (a command, a request).
    type Op: Clone + std::fmt::Debug;

    /// A new operation numbered `op`, drawn from the node's random stream, and what the
    /// history records for it; `None` skips this arrival (e.g. a window is full).
    /// `oldest_in_flight` is the smallest id still in flight, for protocols that keep
    /// their operations within a window of ids.
    fn next_op(
        &mut self,
        ctx: &mut Ctx<'_, N>,
        op: u64,
        oldest_in_flight: Option<u64>,
    ) -> Option<(Self::Op, Invocation)>;

    /// Sends attempt `attempt` (0 for the first) of operation `op`.
    fn send(&mut self, ctx: &mut Ctx<'_, N>, op: u64, attempt: u32, payload: &Self::Op);

    /// The driver gave up on operation `op` (out of attempts or of retry budget) and
    /// recorded it `info`: it may still take effect. A protocol that must undo what a
    /// late success would leave behind (a lock client releases a grant it never
    /// heard of) does it here; by default nothing happens.
    fn gave_up(&mut self, ctx: &mut Ctx<'_, N>, op: u64, payload: &Self::Op) {
        let _ = (ctx, op, payload);
    }
}

/// The op id base of incarnation `incarnation` (a restart counter kept durable): ids
/// `incarnation << 32` upwards, so no two lives of a client share an id.
pub fn incarnation_base(incarnation: u32) -> u64 {
    u64::from(incarnation) << 32
}

/// The delay before retry number `retry` (0 for the first retry) under `policy`:
/// `base` (fixed) or `min(cap, base * 2^retry)` (exponential), and with full jitter a
/// uniform draw from `[0, delay]`. Never above `cap`.
pub fn backoff_delay(policy: &RetryPolicy, retry: u32, rng: &mut SimRng) -> SimDuration {
    let ceiling = match policy.backoff {
        Backoff::Fixed => policy.base.as_nanos(),
        Backoff::Exponential => {
            let factor = 1u64.checked_shl(retry.min(63)).unwrap_or(u64::MAX);
            policy.base.as_nanos().saturating_mul(factor)
        }
    }
    .min(policy.cap.as_nanos());
    match policy.jitter {
        Jitter::None => SimDuration(ceiling),
        Jitter::Full => SimDuration(below(rng, ceiling.saturating_add(1).max(1))),
    }
}

/// A retry budget (Finagle's `RetryBudget`, gRPC's retry throttling): within the last
/// [`RetryPolicy::BUDGET_WINDOW`], at most `ratio` retries per first attempt. Counts
/// are kept in 100 ms buckets, so the window slides in 100 ms steps.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryBudget {
    ratio: f64,
    /// (bucket number, first attempts, retries), oldest first.
    buckets: VecDeque<(u64, u64, u64)>,
}

impl RetryBudget {
    const BUCKET_NS: u64 = 100_000_000;

    /// A budget of `ratio` retries per first attempt.
    pub fn new(ratio: f64) -> RetryBudget {
        RetryBudget {
            ratio,
            buckets: VecDeque::new(),
        }
    }

    fn bucket(&mut self, now: SimTime) -> &mut (u64, u64, u64) {
        let current = now.0 / Self::BUCKET_NS;
        let window = RetryPolicy::BUDGET_WINDOW.as_nanos() / Self::BUCKET_NS;
        while self
            .buckets
            .front()
            .is_some_and(|&(bucket, _, _)| bucket + window <= current)
        {
            self.buckets.pop_front();
        }
        if self.buckets.back().is_none_or(|&(b, _, _)| b != current) {
            self.buckets.push_back((current, 0, 0));
        }
        self.buckets.back_mut().expect("just pushed")
    }

    /// Records a first attempt at `now`.
    pub fn first_attempt(&mut self, now: SimTime) {
        self.bucket(now).1 += 1;
    }

    /// Asks for one retry at `now`: true (and recorded) if the window's retries stay
    /// within `ratio` times its first attempts.
    pub fn try_retry(&mut self, now: SimTime) -> bool {
        self.bucket(now);
        let (firsts, retries) = self
            .buckets
            .iter()
            .fold((0, 0), |(f, r), &(_, firsts, retries)| {
                (f + firsts, r + retries)
            });
        let allowed = (retries + 1) as f64 <= self.ratio * firsts as f64;
        if allowed {
            self.bucket(now).2 += 1;
        }
        allowed
    }
}

/// How the driver paces arrivals.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Pacing {
    Open,
    Closed(ClosedLoop),
}

/// One operation in flight.
#[derive(Clone, Debug)]
struct Pending<O> {
    payload: O,
    /// The attempt in flight (or last sent), 0 for the first.
    attempt: u32,
}

/// A client's pacing, operation ids, timeouts, retries and history, for any protocol.
#[derive(Clone, Debug)]
pub struct ClientDriver<O> {
    workload: Workload,
    pacing: Pacing,
    timeout: Option<SimDuration>,
    replies: Replies,
    next_op: u64,
    pending: BTreeMap<u64, Pending<O>>,
    budget: Option<RetryBudget>,
    /// Closed loop: slots waiting for their `Arrive` timer (the others are in flight).
    slots_thinking: u32,
}

impl<O: Clone + std::fmt::Debug> ClientDriver<O> {
    /// A driver for `workload`; `default_timeout` is the protocol's per-attempt timeout
    /// when the policy sets none (`None`: wait forever); ids count up from `first_op`.
    pub fn new(
        workload: &Workload,
        default_timeout: Option<SimDuration>,
        replies: Replies,
        first_op: u64,
    ) -> ClientDriver<O> {
        ClientDriver {
            workload: *workload,
            pacing: workload.closed_loop.map_or(Pacing::Open, Pacing::Closed),
            timeout: workload.retry.timeout.or(default_timeout),
            replies,
            next_op: first_op,
            pending: BTreeMap::new(),
            budget: workload.retry.budget_ratio.map(RetryBudget::new),
            slots_thinking: 0,
        }
    }

    /// The workload the driver paces.
    pub fn workload(&self) -> Workload {
        self.workload
    }

    /// Operations in flight.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// The next operation id the driver will give.
    pub fn next_op_id(&self) -> u64 {
        self.next_op
    }

    /// The payload of pending operation `op`.
    pub fn pending(&self, op: u64) -> Option<&O> {
        self.pending.get(&op).map(|pending| &pending.payload)
    }

    /// Schedules the first arrival (open loop) or every slot's first operation (closed
    /// loop, each after a random phase within the think time).
    pub fn start<N>(&mut self, ctx: &mut Ctx<'_, N>)
    where
        N: Node,
        N::Timer: From<DriverTimer>,
    {
        match self.pacing {
            Pacing::Open => {
                if let Some(gap) = self.open_gap(ctx, Gap::First) {
                    ctx.set_timer(gap, DriverTimer::Arrive.into());
                }
            }
            Pacing::Closed(closed) => {
                for _ in 0..closed.outstanding {
                    let phase = below(ctx.rng(), closed.think_time.as_nanos() + 1);
                    ctx.set_timer(SimDuration(phase), DriverTimer::Arrive.into());
                }
                self.slots_thinking = closed.outstanding;
            }
        }
    }

    /// Handles one of the driver's timers.
    pub fn on_timer<N, A>(&mut self, app: &mut A, ctx: &mut Ctx<'_, N>, timer: DriverTimer)
    where
        N: Node,
        N::Timer: From<DriverTimer>,
        A: ClientApp<N, Op = O>,
    {
        match timer {
            DriverTimer::Arrive => self.arrive(app, ctx),
            DriverTimer::Timeout { op, attempt } => self.timed_out(app, ctx, op, attempt),
            DriverTimer::Retry { op } => {
                let Some(pending) = self.pending.get_mut(&op) else {
                    return;
                };
                pending.attempt += 1;
                let (attempt, payload) = (pending.attempt, pending.payload.clone());
                self.send_attempt(app, ctx, op, attempt, &payload);
            }
        }
    }

    /// A reply to attempt `attempt` of `op`: if it completes a pending operation (see
    /// [`Replies`]), `judge` turns the operation into its outcome and returned value,
    /// the completion is recorded and true returned; otherwise nothing happens.
    pub fn on_reply<N>(
        &mut self,
        ctx: &mut Ctx<'_, N>,
        op: u64,
        attempt: u32,
        judge: impl FnOnce(&O) -> (Outcome, Value),
    ) -> bool
    where
        N: Node,
        N::Timer: From<DriverTimer>,
    {
        let current = match self.pending.get(&op) {
            None => return false,
            Some(pending) => pending.attempt,
        };
        if self.replies == Replies::CurrentAttempt && attempt != current {
            return false;
        }
        let pending = self.pending.remove(&op).expect("looked up above");
        let (outcome, ret) = judge(&pending.payload);
        ctx.observe(Observation::OpCompleted { op, outcome, ret });
        self.slot_freed(ctx);
        true
    }

    fn arrive<N, A>(&mut self, app: &mut A, ctx: &mut Ctx<'_, N>)
    where
        N: Node,
        N::Timer: From<DriverTimer>,
        A: ClientApp<N, Op = O>,
    {
        match self.pacing {
            Pacing::Open => {
                if let Some(gap) = self.open_gap(ctx, Gap::Next) {
                    ctx.set_timer(gap, DriverTimer::Arrive.into());
                }
            }
            Pacing::Closed(_) => {
                assert!(self.slots_thinking > 0, "an arrival with no free slot");
                self.slots_thinking -= 1;
            }
        }
        let op = self.next_op;
        let oldest = self.pending.keys().next().copied();
        let Some((payload, invocation)) = app.next_op(ctx, op, oldest) else {
            // Nothing issued: a closed-loop slot thinks again (at least 1 ms, so that a
            // refusing protocol cannot spin at one instant).
            if let Pacing::Closed(closed) = self.pacing {
                self.slots_thinking += 1;
                let pause = closed.think_time.max(SimDuration::from_millis(1));
                ctx.set_timer(pause, DriverTimer::Arrive.into());
            }
            return;
        };
        self.next_op += 1;
        ctx.observe(Observation::OpInvoked {
            op,
            f: invocation.f,
            key: invocation.key,
            arg: invocation.arg,
        });
        if let Some(budget) = &mut self.budget {
            budget.first_attempt(ctx.now());
        }
        self.pending.insert(
            op,
            Pending {
                payload: payload.clone(),
                attempt: 0,
            },
        );
        if let Pacing::Closed(closed) = self.pacing {
            assert!(
                self.pending.len() <= closed.outstanding as usize,
                "closed loop over its outstanding limit"
            );
        }
        self.send_attempt(app, ctx, op, 0, &payload);
    }

    fn send_attempt<N, A>(
        &mut self,
        app: &mut A,
        ctx: &mut Ctx<'_, N>,
        op: u64,
        attempt: u32,
        payload: &O,
    ) where
        N: Node,
        N::Timer: From<DriverTimer>,
        A: ClientApp<N, Op = O>,
    {
        if let Some(timeout) = self.timeout {
            ctx.set_timer(timeout, DriverTimer::Timeout { op, attempt }.into());
        }
        app.send(ctx, op, attempt, payload);
    }

    fn timed_out<N, A>(&mut self, app: &mut A, ctx: &mut Ctx<'_, N>, op: u64, attempt: u32)
    where
        N: Node,
        N::Timer: From<DriverTimer>,
        A: ClientApp<N, Op = O>,
    {
        if self
            .pending
            .get(&op)
            .is_none_or(|pending| pending.attempt != attempt)
        {
            return;
        }
        let policy = self.workload.retry;
        let attempts_left = policy.max_attempts.is_none_or(|max| attempt + 1 < max);
        let reason = if !attempts_left {
            Some("timeout")
        } else if self
            .budget
            .as_mut()
            .is_some_and(|budget| !budget.try_retry(ctx.now()))
        {
            Some("retry-budget")
        } else {
            None
        };
        if let Some(reason) = reason {
            let pending = self.pending.remove(&op).expect("checked above");
            ctx.observe(Observation::OpCompleted {
                op,
                outcome: Outcome::Info(reason),
                ret: Value::Nil,
            });
            app.gave_up(ctx, op, &pending.payload);
            self.slot_freed(ctx);
            return;
        }
        let delay = backoff_delay(&policy, attempt, ctx.rng());
        if delay == SimDuration::ZERO {
            let pending = self.pending.get_mut(&op).expect("checked above");
            pending.attempt += 1;
            let (attempt, payload) = (pending.attempt, pending.payload.clone());
            self.send_attempt(app, ctx, op, attempt, &payload);
        } else {
            ctx.set_timer(delay, DriverTimer::Retry { op }.into());
        }
    }

    /// An operation ended: a closed-loop slot starts thinking.
    fn slot_freed<N>(&mut self, ctx: &mut Ctx<'_, N>)
    where
        N: Node,
        N::Timer: From<DriverTimer>,
    {
        if let Pacing::Closed(closed) = self.pacing {
            self.slots_thinking += 1;
            ctx.set_timer(closed.think_time, DriverTimer::Arrive.into());
        }
    }

    /// The wait from now to the next open-loop arrival, across rate phases; `None` if
    /// the rate is 0 from now to the end.
    fn open_gap<N: Node>(&self, ctx: &mut Ctx<'_, N>, which: Gap) -> Option<SimDuration> {
        let now = ctx.now();
        let mut start = now;
        // A paused stretch (rate 0): wait for the next phase that runs.
        let mut interval = loop {
            match self.workload.interval_at_rate(self.workload.rate_at(start)) {
                Some(interval) => break interval,
                None => start = self.workload.next_phase_after(start)?,
            }
        };
        let gap = match (self.workload.arrival, which) {
            // A random phase, so that fixed-rate clients do not arrive in lockstep.
            (dsim_core::Arrival::Fixed, Gap::First) => {
                SimDuration(below(ctx.rng(), interval.as_nanos().max(1)))
            }
            (dsim_core::Arrival::Fixed, Gap::Next) => interval,
            // Memoryless: the first gap is like every other.
            (dsim_core::Arrival::Poisson, _) => Delay::Exponential {
                mean_ns: interval.as_nanos() as f64,
            }
            .sample(ctx.rng()),
        };
        let mut end = start + gap;
        // Phases starting before the arrival: the rest of the gap, as a fraction of the
        // old interval, runs at the new rate.
        while let Some(boundary) = self.workload.next_phase_after(start).filter(|&b| b < end) {
            let left = (end.0 - boundary.0) as f64 / interval.as_nanos() as f64;
            start = boundary;
            loop {
                match self.workload.interval_at_rate(self.workload.rate_at(start)) {
                    Some(next) => {
                        interval = next;
                        break;
                    }
                    None => start = self.workload.next_phase_after(start)?,
                }
            }
            let rest = (left * interval.as_nanos() as f64).round().min(1e18) as u64;
            end = start + SimDuration(rest);
        }
        Some(end.saturating_since(now))
    }
}

/// Which open-loop gap is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gap {
    First,
    Next,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::Queue;
    use dsim_core::rng::{Stream, stream_rng};
    use dsim_core::{
        NetworkConfig, NoEvent, NodeId, ObservationRecord, Params, Protocol, RatePhase, RatePhases,
        RunRequest, SimConfig, StorageMode,
    };

    fn exponential(jitter: Jitter) -> RetryPolicy {
        RetryPolicy {
            backoff: Backoff::Exponential,
            base: SimDuration::from_millis(10),
            cap: SimDuration::from_millis(1_000),
            jitter,
            ..RetryPolicy::default()
        }
    }

    #[test]
    fn exponential_backoff_with_full_jitter_stays_within_the_capped_doubling() {
        let mut rng = stream_rng(7, Stream::Workload);
        for retry in 0..12u32 {
            let bound = (10_000_000u64 << retry).min(1_000_000_000);
            // Without jitter the delay is exactly min(cap, base * 2^n).
            let exact = backoff_delay(&exponential(Jitter::None), retry, &mut rng);
            assert_eq!(exact.as_nanos(), bound, "retry {retry}");
            // With full jitter every draw is in [0, bound]; a draw above it would mean
            // the cap or the doubling is wrong. The largest of 200 draws is above half
            // the bound and the smallest below it (a jitter stuck at 0 or at the bound
            // would fail one of the two).
            let draws: Vec<u64> = (0..200)
                .map(|_| backoff_delay(&exponential(Jitter::Full), retry, &mut rng).as_nanos())
                .collect();
            assert!(
                draws.iter().all(|&d| d <= bound),
                "retry {retry}: {draws:?}"
            );
            assert!(draws.iter().any(|&d| d > bound / 2), "retry {retry}");
            assert!(draws.iter().any(|&d| d < bound / 2), "retry {retry}");
        }
        // A fixed policy ignores the retry number.
        let fixed = RetryPolicy {
            base: SimDuration::from_millis(30),
            ..RetryPolicy::default()
        };
        assert_eq!(
            backoff_delay(&fixed, 9, &mut rng),
            SimDuration::from_millis(30)
        );
    }

    #[test]
    fn retry_budget_allows_at_most_the_ratio_of_recent_first_attempts() {
        let mut budget = RetryBudget::new(0.1);
        for i in 0..100 {
            budget.first_attempt(SimTime(i * 1_000_000));
        }
        let now = SimTime(200_000_000);
        let granted = (0..50).filter(|_| budget.try_retry(now)).count();
        // 10% of 100 first attempts: exactly 10 retries; more would let retries
        // multiply load, fewer would starve retries the budget allows.
        assert_eq!(granted, 10);
        // Once the first attempts leave the 10 s window, retries are refused until new
        // first attempts arrive.
        let later = SimTime(10_300_000_000);
        assert!(!budget.try_retry(later));
        for _ in 0..10 {
            budget.first_attempt(later);
        }
        assert!(budget.try_retry(later));
        assert!(!budget.try_retry(later));
    }

    /// A queue-kind run: one server (exponential 1 ms service by default) and the
    /// given workload; returns the observations and the requests sent.
    fn queue_run(workload: Workload, duration_ms: u64) -> (Vec<ObservationRecord<NoEvent>>, u64) {
        let request = RunRequest {
            config: SimConfig {
                seed: 3,
                network: NetworkConfig::default(),
                storage: StorageMode::KeepAll,
                message_log_limit: 0,
                load: None,
            },
            nodes: 1,
            variant: "correct".into(),
            params: Params::default(),
            workload,
            duration: SimDuration::from_millis(duration_ms),
            faults: Vec::new(),
            trace: None,
            ops_sink: None,
        };
        let output = Queue.run(request).expect("a valid run").output;
        // Every request the server answers is one reply: half the messages are requests
        // when nothing is dropped (give or take the few still in flight at the end).
        (output.observations, output.counters.messages_sent / 2)
    }

    #[test]
    fn closed_loop_never_exceeds_outstanding_in_flight() {
        let workload = Workload {
            clients: 2,
            closed_loop: Some(ClosedLoop {
                outstanding: 3,
                think_time: SimDuration::from_millis(1),
            }),
            ..Workload::default()
        };
        let (observations, _) = queue_run(workload, 500);
        let mut in_flight: BTreeMap<NodeId, i64> = BTreeMap::new();
        let mut peak: BTreeMap<NodeId, i64> = BTreeMap::new();
        let mut completed = 0;
        for record in &observations {
            let count = in_flight.entry(record.node).or_default();
            match record.observation {
                Observation::OpInvoked { .. } => *count += 1,
                Observation::OpCompleted { .. } => {
                    *count -= 1;
                    completed += 1;
                }
                _ => {}
            }
            let top = peak.entry(record.node).or_default();
            *top = (*top).max(*count);
        }
        // Each client reaches its limit of 3 (the server is the bottleneck: 6 requests
        // compete for a 1 ms server) and never passes it; an open-loop driver or a slot
        // leak would push a peak above 3.
        assert_eq!(peak.values().copied().collect::<Vec<_>>(), vec![3, 3]);
        // The server is saturated: about 500 requests served in 500 ms.
        assert!((400..=520).contains(&completed), "{completed} completed");
    }

    #[test]
    fn rate_phases_change_the_rate_at_their_start() {
        let mut phases = RatePhases::NONE;
        for (at_ms, rate_per_s) in [(200, 4_000.0), (400, 0.0), (600, 500.0)] {
            phases
                .push(RatePhase {
                    at: SimTime(at_ms * 1_000_000),
                    rate_per_s,
                })
                .unwrap();
        }
        let workload = Workload {
            clients: 4,
            rate_per_s: 1_000.0,
            phases,
            ..Workload::default()
        };
        let (observations, _) = queue_run(workload, 800);
        let arrivals = |from_ms: u64, to_ms: u64| {
            observations
                .iter()
                .filter(|record| matches!(record.observation, Observation::OpInvoked { .. }))
                .filter(|record| (from_ms * 1_000_000..to_ms * 1_000_000).contains(&record.time.0))
                .count()
        };
        // Fixed arrivals: each window holds rate * length operations, give or take one
        // per client. A phase applied late or early would shift a window's count by
        // far more than 4.
        let expect = [
            (0, 200, 200),
            (200, 400, 800),
            (400, 600, 0),
            (600, 800, 100),
        ];
        for (from, to, count) in expect {
            let found = arrivals(from, to);
            assert!(
                found.abs_diff(count) <= 4,
                "{from}..{to} ms: {found} arrivals, expected {count}"
            );
        }
    }

    #[test]
    fn attempts_are_limited_and_an_exhausted_operation_ends_info() {
        // A 100 us timeout against a 1 ms link: every attempt times out.
        let retry = RetryPolicy {
            timeout: Some(SimDuration(100_000)),
            max_attempts: Some(3),
            ..RetryPolicy::default()
        };
        let workload = Workload {
            rate_per_s: 100.0,
            retry,
            ..Workload::default()
        };
        let (observations, requests) = queue_run(workload, 1_000);
        let ends: Vec<Outcome> = observations
            .iter()
            .filter_map(|record| match record.observation {
                Observation::OpCompleted { outcome, .. } => Some(outcome),
                _ => None,
            })
            .collect();
        // Every operation ended info after exactly 3 attempts: a fourth attempt or an
        // `ok` from a late reply to an abandoned attempt would break the counts.
        assert!(ends.len() >= 95, "{} ended", ends.len());
        assert!(
            ends.iter()
                .all(|&outcome| outcome == Outcome::Info("timeout"))
        );
        let invoked = observations
            .iter()
            .filter(|record| matches!(record.observation, Observation::OpInvoked { .. }))
            .count() as u64;
        assert!(
            requests.abs_diff(3 * invoked) <= 3,
            "{requests} for {invoked}"
        );
    }

    #[test]
    fn retry_budget_bounds_retries_in_a_run() {
        // Every attempt times out and retries are unlimited; only the budget (20% of
        // first attempts) stops them.
        let retry = RetryPolicy {
            timeout: Some(SimDuration(100_000)),
            budget_ratio: Some(0.2),
            base: SimDuration::from_millis(1),
            ..RetryPolicy::default()
        };
        let workload = Workload {
            clients: 2,
            rate_per_s: 200.0,
            retry,
            ..Workload::default()
        };
        let (observations, requests) = queue_run(workload, 2_000);
        let invoked = observations
            .iter()
            .filter(|record| matches!(record.observation, Observation::OpInvoked { .. }))
            .count() as u64;
        let retries = requests - invoked;
        // Without the budget every operation would retry until the run ends (thousands
        // of retries); with it, at most 20% of first attempts, and the budget is used.
        assert!(
            retries * 5 <= invoked,
            "{retries} retries for {invoked} ops"
        );
        assert!(
            retries * 10 >= invoked,
            "{retries} retries for {invoked} ops"
        );
        let refused = observations
            .iter()
            .filter(|record| {
                matches!(
                    record.observation,
                    Observation::OpCompleted {
                        outcome: Outcome::Info("retry-budget"),
                        ..
                    }
                )
            })
            .count();
        assert!(refused > 0);
    }
}
