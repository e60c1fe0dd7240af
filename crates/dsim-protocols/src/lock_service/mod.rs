//! # A Chubby-style lock service (kind `lock_service`)
//!
//! After Burrows, "The Chubby lock service for loosely-coupled distributed systems"
//! (OSDI 2006): a small *cell* of replicas elects a *master* that serves exclusive locks
//! to clients holding *sessions*, and hands out *sequencers* so that the resources the
//! locks protect can refuse a holder that no longer holds.
//!
//! ## The algorithm
//!
//! **Replication: Multi-Paxos over a log of lock-database commands.** The replicas agree
//! on a log of [`Cmd`]s (open or expire a session, acquire, release, end a lock-delay)
//! and apply it in order to a deterministic [`LockDb`]. The consensus is the project's
//! one Multi-Paxos core, [`crate::multipaxos`], the same that runs [`crate::paxos`]:
//! ballots `(round, node)`; *phase 1* (`Prepare`/`Promise`) with a majority makes a
//! candidate the leader of its ballot, and for every slot some promise reported it
//! *adopts* the command with the highest accepted ballot (a no-op fills a gap); *phase
//! 2* (`Accept`/`Accepted`) chooses a command once a majority accepted it in one
//! ballot; an acceptor syncs its promise and its acceptances before it replies. The
//! leader is *stable* (only phase 2 while its ballot stands) and it is the Chubby
//! master. The cell runs the core with the options a Chubby cell needs (see
//! [`LockConfig::core`]): the *master lease* below, *group commit* (the commands that
//! arrived while a group was in flight are proposed together, one sync for them, once
//! the previous group is chosen and `batch_interval` passed), timeouts on the monotonic
//! clock, replica 0 the usual first master, and the outputs of the applied commands
//! handed to the master, which answers clients from them. Every replica applies the
//! chosen log; every `snapshot_interval` applied slots it snapshots the database (its
//! locks and sessions) and discards the log below, and a lagging or restarted replica
//! catches up from another's snapshot (the core's InstallSnapshot). What is Chubby's
//! own stays here: sessions and KeepAlives, the client interface, lock waiters,
//! lock-delay, sequencers.
//!
//! **Clocks.** Every lease, timeout and lock-delay is measured on the node's monotonic
//! clock ([`dsim_core::Ctx::monotonic`]): it runs at the node's drifting rate but never
//! jumps when the clock is stepped. Measured on the stepped local clock, a master whose
//! clock jumped back kept serving past its lease (found by a 1,000-seed nemesis sweep
//! and frozen as `scenarios/regressions/lock_lease_clock_step.toml`).
//!
//! **The master lease** ([`crate::multipaxos::lease`]). The master renews its lease
//! once per `heartbeat_interval` in a *lease round*: its heartbeat, a numbered
//! `LeaseRound`. An acceptor that acknowledges a round (or accepts a command) promises
//! the sender not to help anyone else into office for `master_lease`, measured on its
//! own clock from the moment it got the message: until then it ignores other
//! candidates' `Prepare`s. When a majority (the master counting
//! itself) acknowledged round `k`, sent at local time `s_k`, the master holds its lease
//! until `s_k + master_lease * (1 - lease_margin)` on *its* clock. It serves only while it
//! holds the lease and steps down when it runs out. A phase-1 promise is not a lease (so
//! that dueling candidates never lock each other out), and a new master serves only after
//! its first round was acknowledged and it applied every slot up to its phase-1
//! high-water mark. A master refused by a higher promise (a replica that campaigned
//! while cut off) runs phase 1 again above it at once. A restarted replica may have
//! acknowledged a round just before it crashed and no longer knows whose, so for one
//! lease after a restart it helps nobody into office, itself included. A replica campaigns after an election timeout without word
//! from a master, and not before its own lease promise ran out (plus the random part of
//! the timeout, so replicas whose promises end together do not all campaign at once).
//!
//! **Sessions and KeepAlives.** A client opens a session (an `OpenSession` command). The
//! master extends a session's lease to `now + session_lease` on every request the session
//! sends (`KeepAlive`, `Acquire`, `Release`), in memory only, and its replies carry
//! `lease_from`: the client-clock send time of the newest request that extended it. The
//! client's own view of its lease ends at `lease_from + session_lease * (1 - margin)` on
//! its clock: earlier than the master's, by the request's travel time and by the margin,
//! as in Chubby. A client that was quiet for half a lease sends a `KeepAlive`. When its
//! view runs out the session is in *jeopardy*: the client starts no acquires and hands
//! back grants, and keeps looking for a master (a replica that is not the master answers
//! `NotMaster` with the master it follows; a silent one makes the client try the next).
//!
//! **Locks, sequencers, lock-delay.** An `Acquire` for a free lock not in lock-delay
//! becomes an `Acquire` command; applying it makes the session the holder and bumps the
//! lock's *generation*, and the grant carries the *sequencer* `(lock, generation)`.
//! Acquires of a held lock wait in the master's memory and are retried by their clients
//! across failovers. `Release` ends a hold (and, since a client finishes one operation
//! before it starts the next, any older hold whose release was lost). When a session's
//! lease runs out on the master's clock, the master proposes `ExpireSession`; applying it
//! frees the session's locks into *lock-delay*, and `lock_delay` later (master clock) it
//! proposes `EndDelay`: only then can the lock be granted again.
//!
//! **Failover.** A new master recovers the log through phase 1 and applies it, so it
//! knows every session, holder and generation. When it starts serving it extends every
//! session's lease by `session_lease + failover_grace` (its predecessor may have just
//! extended them, and clients need time to find the new master: the *grace period*),
//! and restarts every pending lock-delay on its own clock.
//!
//! **The guarded resource and the clients.** The resource accepts a write only if its
//! sequencer's generation is no older than the newest it has seen for that lock (its
//! fencing table is durable). Each client acquires a random lock (`ctx.rng()`, among
//! `locks` names) at its share of the workload rate; when the grant arrives it checks
//! its lease, works under the lock for `hold_time`, then writes to the resource with its
//! sequencer and releases. It does not check again between the grant and the write: a
//! pause there is exactly the gap that sequencers close. The client keeps its session
//! itself; its acquires are operations of the kit's
//! [`ClientDriver`](crate::kit::client::ClientDriver), so every workload shape
//! (rate phases, closed loop) and every `[workload.retry]` policy applies to them (see
//! the client module).
//!
//! ## What it guarantees
//!
//! *At the resource, always* (any loss, duplication, partition, pause, crash, clock skew
//! or drift): no two clients write under one `(lock, generation)`, because the log is
//! chosen by Paxos and grants one generation once; and no write under an older
//! generation lands after one under a newer generation, because the resource fences. So
//! the history of every lock at the resource is a sequence of holders' critical sections
//! (checks `mutual_exclusion` and `stale_write`). Clients' *beliefs* are not exclusive:
//! a paused client may still believe it holds a lock its session lost; that is what
//! fencing is for, and what `no-fencing` breaks.
//!
//! *With clocks within the drift bound below*: no master acts on its lease after another
//! node started serving (check `master_lease`), and a lock freed by a session expiry is
//! not granted again for `lock_delay`.
//!
//! *Liveness*: once a majority of replicas is up and connected, a master serves within
//! about `master_lease` plus an election; the integration tests assert that every client
//! is granted a lock within 1 s after the last fault healed. Every run is held to it by
//! the `liveness` check: from `liveness_bound` (default 1 s) after the last fault ended,
//! with a majority of replicas up and the network whole at the end, a client up at the
//! end must keep being granted: three of its acquires in a row that are not granted
//! within `acquire_timeout` (default 1 s) is starvation, and the run exits 1. A client
//! whose acquire timed out releases that operation's hold (the grant may have been
//! applied with its reply lost): before it did, one lost `Granted` starved a lock
//! forever while every check held (`scenarios/regressions/lock_lost_grant_starvation.toml`).
//!
//! ## Failure model
//!
//! Crash-recovery replicas with stable storage, synced before any reply depends on it
//! (`storage = "lose-unsynced"` is safe); messages lost, duplicated, delayed, reordered;
//! partitions, cuts, isolation; pauses of any node; clocks that drift within the bound.
//! Clients may crash, restart (with a new session: the session epoch is durable) or
//! pause; the resource may crash (its fencing table is durable). No Byzantine behaviour.
//!
//! ## The drift bound
//!
//! The master counts `(1 - ε) * master_lease` on its clock from when it *sent* a round;
//! a replica counts `master_lease` on its clock from when it *received* it. With clock
//! rates `1 + ρ` (ρ the drift, 100 ppm = 0.0001), two masters can never overlap if for
//! every replica `r`: `(1 - ε)(1 + ρ_r) <= 1 + ρ_master`. To first order: the master's
//! clock may run up to `ε` slower than any replica's. With the default `lease_margin`
//! `ε = 0.02` the lease tolerates **up to about 20,000 ppm** of relative drift. Clock
//! *steps* (offset jumps) do not count: leases are measured on the monotonic clock,
//! which steps do not move (they only make timers fire early or late, and every
//! decision re-reads the monotonic clock). Beyond the drift bound a master may serve after
//! its lease expired at the replicas. The message delay of the round adds slack, and in
//! practice the election that follows the promise's end takes 10-30 ms, which hides
//! small excesses: `scenarios/clock-skew-lease.toml` (master 15,000 ppm slow, a replica
//! 4,000 ppm fast: `0.98 x 1.004 <= 0.985`) is clean on every seed, while at 60,000 ppm
//! slow the old master is seen holding its lease after the new one started on every
//! seed (the tests show both). The session lease has the same bound between a client's
//! clock and the master's; with fencing on it only affects when clients stop trying.
//!
//! ## Node layout
//!
//! Replicas are nodes `0..nodes` (default 5), clients `nodes..nodes + clients` (from
//! `[workload]`), and the guarded resource is the last node, `nodes + clients`:
//! [`Protocol::total_nodes`] is `replicas + clients + 1`. On its first start replica `i`
//! waits `(i + 1) * election_timeout / 2` before campaigning, so replica 0 is the usual
//! first master (scenarios can name the node they crash); later elections are random.
//! The workload rate counts *acquires*: each client starts one every
//! `clients / rate` seconds (skipping a turn while it still holds or waits; in a closed
//! loop, `think_time` after its last acquire ended), and each is one row of `ops.csv`
//! with `f = acquire`, keyed by lock name: `ok` when granted (the return value is the
//! fencing token), `info` when out of attempts (by default after `acquire_timeout`:
//! attempts of `client_retry` each) or of retry budget, or if the session was lost
//! meanwhile (the grant may have happened). A hold that ends while the
//! client's own lease view still holds is a row with `f = release` (same key, argument
//! the token), `ok` once a reply reports it applied or once the session expired (the
//! lock was free by then either way), `info` if the client's next release started
//! first. A hold whose lease view ran out first (a pause) has no release row: the
//! client cannot tell when it ended. Release rows are counted in `ops_ok` and in the
//! latency columns like every `ok` row. In `seed-naive` node 0 is the lock server and
//! replicas `1..nodes` take no part.
//!
//! ## Variants, and the bug each plants
//!
//! - `correct`: everything above.
//! - `no-fencing`: the resource ignores sequencers and accepts every write. A client
//!   paused between its grant and its write for longer than its session lease wakes up
//!   after its lock went to others and lands its stale write after a newer holder's:
//!   `stale_write` (`scenarios/lock-pause-without-fencing.toml`; caught on 91 of seeds
//!   1..=200, `correct` on none). Its clients behave exactly as `correct`'s, so
//!   `mutex_history` is clean: the bug is at the resource.
//! - `seed-naive`: the source article's lock: one server (node 0) grants free locks from
//!   an in-memory table, with tokens from in-memory per-lock counters as sequencers; no
//!   replication, no leases, no sessions (a client holds a lock until it releases it).
//!   When the server crashes and restarts it forgets every holder and counts generations
//!   from 1 again, so a generation already used is granted again and two clients write
//!   under it: `mutual_exclusion` (`scenarios/lock-master-failover.toml`; caught on 183
//!   of seeds 1..=200, `correct` on none). Those holds follow one another, so the
//!   clients' history is still a mutex history; when the server restarts *inside* a
//!   hold, it grants the held lock again and two clients hold it at once:
//!   `mutex_history` (the same scenario with `hold_time = 200ms` and the restart at
//!   1.1 s: 14 of seeds 1..=40 in the tests).
//!
//! ## Where we depart from the paper
//!
//! Durations are scaled down (a 300 ms master lease instead of seconds) so runs stay
//! short. Chubby's master holds each KeepAlive until the lease is nearly over and
//! piggybacks events on the reply; here every request extends the lease and a quiet
//! client sends KeepAlives. Only exclusive locks; no files, handles, caching or events;
//! sessions and locks are the whole database. The resource compares with the newest
//! sequencer it saw (Chubby also offers `CheckSequencer` against the cell). No cell
//! reconfiguration.
//!
//! ## The checker
//!
//! [`check`] judges from observations only: the resource's [`LockEvent::WriteAccepted`]
//! and [`LockEvent::WriteRefused`] (mutual exclusion, stale writes), and the masters'
//! [`LockEvent::ServingStarted`], [`LockEvent::LeaseHeld`] (every tick while serving,
//! and before each client request it serves, so that every act under the lease is
//! seen) and [`LockEvent::ServingStopped`] (the `master_lease` check, and the
//! unavailability measure), the masters' [`LockEvent::LockDelayed`] and
//! [`LockEvent::Granted`] (the `lock_delay` check: no grant of a lock freed by a session
//! expiry sooner than `lock_delay * (1 - lease_margin)` after it), and the clients'
//! operations: the `liveness` check above (acquires only), and `mutex_history`, the
//! clients' acquires and releases judged by the `mutex` model per lock name with
//! [`dsim_checkers::linearizable()`] (a spent budget is `mutex_history_unknown`). It
//! judges only *verified* holds, an `ok` acquire followed by its own release, because
//! only those are guaranteed exclusive: a client inside its lease view at the grant
//! and at the release knows its session, hence its hold, was alive at the master
//! throughout, while a paused client's belief is not exclusive (see "What it
//! guarantees"); [`mutex_history_of`] gives the whole argument.
//! The formula is `L = (1/m) sum l_i`, the mean latency of the `m` granted acquires in
//! `ops.csv`. Extra summary columns: `unavailable_ns` (virtual time since the first
//! master served with no master serving, e.g. during a failover), `master_changes`,
//! `grants`, `writes_accepted`, `writes_refused`, `sessions_expired`.

mod checker;
mod client;
mod naive;
mod replica;
mod resource;
#[cfg(test)]
mod testkit;
mod types;

pub use checker::{
    CHECKS, LiveCheck, MUTEX_HISTORY_BUDGET, check, mutex_history, mutex_history_of,
};
pub use client::{Client, RELEASE_OP_BIT};
pub use naive::NaiveServer;
pub use replica::Replica;
pub use resource::Resource;
pub use types::{
    Applied, Cmd, Holder, LockDb, LockDurable, LockEvent, LockId, LockRecord, Msg, Outcome,
    Sequencer, SessionId, SessionRecord, SessionTable, Timer,
};

pub use crate::multipaxos::Ballot;

use crate::multipaxos::{self, Msg as Core};

use dsim_core::protocol::{execute_with_sink, generic_output};
use dsim_core::{
    ConfigError, Ctx, Node, NodeId, ParamKind, ParamProblem, ParamSpec, Params, Protocol,
    ProtocolInfo, RatioMax, RunError, RunRequest, RunResult, Setup, SimConfig, SimDuration,
    Simulation, VariantSpec, Workload,
};

/// The named variants of the lock service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Variant {
    /// The service as described in the module essay.
    #[default]
    Correct,
    /// BUG: the guarded resource ignores sequencers.
    NoFencing,
    /// BUG: one server grants locks from memory: no replication, leases or sessions.
    SeedNaive,
}

impl Variant {
    /// The variant called `name` in scenario files.
    pub fn parse(name: &str) -> Option<Variant> {
        match name {
            "correct" => Some(Variant::Correct),
            "no-fencing" => Some(Variant::NoFencing),
            "seed-naive" => Some(Variant::SeedNaive),
            _ => None,
        }
    }

    /// The name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Correct => "correct",
            Variant::NoFencing => "no-fencing",
            Variant::SeedNaive => "seed-naive",
        }
    }
}

/// The variants `dsim list` shows, `correct` first.
pub const VARIANTS: &[VariantSpec] = &[
    VariantSpec {
        name: "correct",
        help: "Paxos-replicated master with a lease, sessions, lock-delay, sequencers checked by the resource",
    },
    VariantSpec {
        name: "no-fencing",
        help: "bug: the guarded resource ignores sequencers, so a paused holder's late write lands",
    },
    VariantSpec {
        name: "seed-naive",
        help: "bug: the article's lock, one server granting from memory: no leases, no sessions, no replication",
    },
];

/// The keys accepted under `[protocol]`.
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        key: "locks",
        kind: ParamKind::Int {
            default: 4,
            min: 1,
            max: 4096,
        },
        help: "number of lock names (lock-0, lock-1, ...); clients pick one at random per acquire",
    },
    ParamSpec {
        key: "election_timeout",
        kind: ParamKind::duration(SimDuration::from_millis(100)),
        help: "base election timeout t: a replica that hears no master campaigns after [t, 2t)",
    },
    ParamSpec {
        key: "heartbeat_interval",
        kind: ParamKind::duration(SimDuration::from_millis(20)),
        help: "master tick: lease renewal round, heartbeat and retransmission period",
    },
    ParamSpec {
        key: "batch_interval",
        kind: ParamKind::duration_or_zero(SimDuration::ZERO),
        help: "master: least time between two Paxos batches (0: group commit, a batch as soon as the previous one is chosen)",
    },
    ParamSpec {
        key: "master_lease",
        kind: ParamKind::duration(SimDuration::from_millis(300)),
        help: "how long a replica promises not to help elect another master after acknowledging one",
    },
    ParamSpec {
        key: "lease_margin",
        kind: ParamKind::Ratio {
            default: 0.02,
            max: RatioMax::Excluded(0.5),
        },
        help: "drift margin: master and clients count on their leases for (1 - margin) of the granted time",
    },
    ParamSpec {
        key: "session_lease",
        kind: ParamKind::duration(SimDuration::from_millis(400)),
        help: "session lease the master grants on every request (KeepAlive, Acquire, Release)",
    },
    ParamSpec {
        key: "failover_grace",
        kind: ParamKind::duration_or_zero(SimDuration::from_millis(200)),
        help: "a new master extends every session by session_lease + this before judging it expired",
    },
    ParamSpec {
        key: "lock_delay",
        kind: ParamKind::duration_or_zero(SimDuration::from_millis(100)),
        help: "a lock freed by a session expiry cannot be granted for this long",
    },
    ParamSpec {
        key: "hold_time",
        kind: ParamKind::duration_or_zero(SimDuration::from_millis(20)),
        help: "client: time between a grant and the write (then release) under it",
    },
    ParamSpec {
        key: "client_retry",
        kind: ParamKind::duration(SimDuration::from_millis(100)),
        help: "client: resend period of unanswered session requests, acquire attempt timeout unless [workload.retry] timeout is set, and the longest gap between client ticks",
    },
    ParamSpec {
        key: "acquire_timeout",
        kind: ParamKind::duration(SimDuration::from_secs(1)),
        help: "client: an acquire gets ceil(acquire_timeout / attempt timeout) attempts (unless [workload.retry] max_attempts is set), then is reported as a timeout",
    },
    ParamSpec {
        key: "snapshot_interval",
        kind: ParamKind::Int {
            default: SNAPSHOT_INTERVAL_DEFAULT,
            min: 1,
            max: 1 << 40,
        },
        help: "a replica snapshots the lock database (locks and sessions) and discards the log below it every this many applied slots; a lagging or restarted replica catches up from a snapshot",
    },
    ParamSpec {
        key: "liveness_bound",
        kind: ParamKind::duration(SimDuration::from_secs(1)),
        help: "liveness check: from this long after the last fault ended, with a majority of replicas up and the network whole, 3 acquires of a live client in a row not granted within acquire_timeout are a liveness violation",
    },
];

/// Applied slots between two snapshots unless `snapshot_interval` says otherwise (as
/// for `paxos`): the durable log stays near this length however long a run lasts.
pub const SNAPSHOT_INTERVAL_DEFAULT: i64 = crate::paxos::SNAPSHOT_INTERVAL_DEFAULT;

/// Smallest and largest replica count.
const NODES_RANGE: (usize, usize) = (1, 9);

/// Everything the nodes of one lock-service run need to know.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LockConfig {
    /// Replica count (nodes `0..replicas`).
    pub replicas: usize,
    /// Client count (nodes `replicas..replicas + clients`).
    pub clients: usize,
    /// Clients that issue nothing (`[workload] idle_clients`).
    pub idle_clients: dsim_core::IdleClients,
    /// The workload: the clients' driver paces and retries acquires by it.
    pub workload: Workload,
    /// Which variant runs.
    pub variant: Variant,
    /// Number of lock names.
    pub locks: u32,
    /// Gap between two acquires of one client.
    pub client_interval: SimDuration,
    /// Base election timeout.
    pub election_timeout: SimDuration,
    /// Master tick period.
    pub heartbeat_interval: SimDuration,
    /// Least gap between two Paxos batches.
    pub batch_interval: SimDuration,
    /// The master lease a replica grants.
    pub master_lease: SimDuration,
    /// The drift margin, in `[0, 1)`.
    pub lease_margin: f64,
    /// The session lease.
    pub session_lease: SimDuration,
    /// Extra session time a new master grants at failover.
    pub failover_grace: SimDuration,
    /// Lock-delay after a session expiry.
    pub lock_delay: SimDuration,
    /// Client hold time.
    pub hold_time: SimDuration,
    /// Client resend period.
    pub client_retry: SimDuration,
    /// Client acquire timeout.
    pub acquire_timeout: SimDuration,
    /// How long after the last fault the liveness check starts judging acquires.
    pub liveness_bound: SimDuration,
    /// Applied slots between two snapshots of the lock database.
    pub snapshot_interval: u64,
}

impl LockConfig {
    /// The defaults of every key, for `replicas` replicas and a workload.
    pub fn new(replicas: usize, workload: Workload) -> LockConfig {
        Self::from_params(replicas, workload, Variant::Correct, &Params::default())
    }

    fn from_params(
        replicas: usize,
        workload: Workload,
        variant: Variant,
        params: &Params,
    ) -> LockConfig {
        LockConfig {
            replicas,
            clients: workload.clients,
            idle_clients: workload.idle_clients,
            workload,
            variant,
            locks: params.int(PARAMS, "locks").clamp(1, 4096) as u32,
            client_interval: workload.client_interval(),
            election_timeout: params.duration(PARAMS, "election_timeout"),
            heartbeat_interval: params.duration(PARAMS, "heartbeat_interval"),
            batch_interval: params.duration(PARAMS, "batch_interval"),
            master_lease: params.duration(PARAMS, "master_lease"),
            lease_margin: params.ratio(PARAMS, "lease_margin"),
            session_lease: params.duration(PARAMS, "session_lease"),
            failover_grace: params.duration(PARAMS, "failover_grace"),
            lock_delay: params.duration(PARAMS, "lock_delay"),
            hold_time: params.duration(PARAMS, "hold_time"),
            client_retry: params.duration(PARAMS, "client_retry"),
            acquire_timeout: params.duration(PARAMS, "acquire_timeout"),
            liveness_bound: params.duration(PARAMS, "liveness_bound"),
            snapshot_interval: params.int(PARAMS, "snapshot_interval").max(1) as u64,
        }
    }

    /// The configuration a run request describes.
    pub fn from_request(request: &RunRequest) -> Result<LockConfig, ConfigError> {
        Self::from_setup(&request.setup())
    }

    /// The configuration a setup describes; what `dsim check` and `run` both refuse.
    pub fn from_setup(setup: &Setup<'_>) -> Result<LockConfig, ConfigError> {
        let variant = Variant::parse(setup.variant).ok_or_else(|| {
            ConfigError::Invalid(format!(
                "lock_service has no variant {:?} (correct, no-fencing, seed-naive)",
                setup.variant
            ))
        })?;
        setup.params.check(PARAMS)?;
        let config = Self::from_params(setup.nodes, setup.workload, variant, setup.params);
        config.validate()?;
        Ok(config)
    }

    /// Refuses configurations the protocol cannot run.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let (min, max) = NODES_RANGE;
        if !(min..=max).contains(&self.replicas) {
            return Err(ConfigError::Invalid(format!(
                "lock_service needs {min} to {max} replicas, found {}",
                self.replicas
            )));
        }
        if !(0.0..0.5).contains(&self.lease_margin) {
            return Err(ConfigError::Invalid(format!(
                "lock_service lease_margin must be in [0, 0.5), found {}",
                self.lease_margin
            )));
        }
        for (name, value) in [
            ("election_timeout", self.election_timeout),
            ("heartbeat_interval", self.heartbeat_interval),
            ("master_lease", self.master_lease),
            ("session_lease", self.session_lease),
            ("client_retry", self.client_retry),
            ("acquire_timeout", self.acquire_timeout),
            ("client_interval", self.client_interval),
        ] {
            if value == SimDuration::ZERO {
                return Err(ConfigError::Invalid(format!(
                    "lock_service {name} must be above zero"
                )));
            }
        }
        if self.heartbeat_interval.0.saturating_mul(2) > self.master_lease_safe().0 {
            return Err(ParamProblem {
                keys: vec!["heartbeat_interval", "master_lease", "lease_margin"],
                problem: format!(
                    "heartbeat_interval ({}) is more than half the usable master lease ({} = master_lease {} * (1 - lease_margin {}))",
                    self.heartbeat_interval,
                    self.master_lease_safe(),
                    self.master_lease,
                    self.lease_margin
                ),
                allowed: "heartbeat_interval * 2 <= master_lease * (1 - lease_margin): the master renews its lease once per heartbeat".into(),
            }
            .into());
        }
        Ok(())
    }

    /// Replicas, clients and the guarded resource.
    pub fn total_nodes(&self) -> usize {
        self.replicas + self.clients + 1
    }

    /// The guarded resource's node id (the last node).
    pub fn resource(&self) -> NodeId {
        NodeId((self.replicas + self.clients) as u32)
    }

    /// Smallest number of replicas that forms a quorum.
    pub fn majority(&self) -> usize {
        self.replicas / 2 + 1
    }

    /// True for nodes `0..replicas`.
    pub fn is_replica(&self, node: NodeId) -> bool {
        node.index() < self.replicas
    }

    /// True for nodes `replicas..replicas + clients`.
    pub fn is_client(&self, node: NodeId) -> bool {
        (self.replicas..self.replicas + self.clients).contains(&node.index())
    }

    /// The part of a master lease the master counts on: `master_lease * (1 - margin)`.
    pub fn master_lease_safe(&self) -> SimDuration {
        scale(self.master_lease, 1.0 - self.lease_margin)
    }

    /// The part of a session lease the client counts on: `session_lease * (1 - margin)`.
    pub fn session_lease_safe(&self) -> SimDuration {
        scale(self.session_lease, 1.0 - self.lease_margin)
    }

    /// The Multi-Paxos core's settings for the cell: the master lease, group commit
    /// every `batch_interval`, timeouts on the monotonic clock, replica 0 the usual
    /// first master.
    pub fn core(&self) -> multipaxos::Config<LockDb> {
        multipaxos::Config {
            replicas: self.replicas,
            election_timeout: self.election_timeout,
            heartbeat_interval: self.heartbeat_interval,
            adoption: multipaxos::Adoption::Highest,
            snapshot_interval: self.snapshot_interval,
            compaction: multipaxos::Compaction::ChosenPrefix,
            clock: multipaxos::Clock::Monotonic,
            first_election: multipaxos::FirstElection::Staggered,
            lease: Some(multipaxos::LeaseConfig {
                duration: self.master_lease,
                usable: self.master_lease_safe(),
            }),
            group_commit: Some(self.batch_interval),
            machine: (),
        }
    }
}

/// `duration * factor`, rounded down (factor in `[0, 1]`).
fn scale(duration: SimDuration, factor: f64) -> SimDuration {
    SimDuration((duration.0 as f64 * factor).floor() as u64)
}

/// One node of a lock-service run.
#[derive(Clone, Debug)]
pub enum LockNode {
    /// A cell replica (acceptor, learner, and master when elected).
    Replica(Box<Replica>),
    /// `seed-naive`: the single lock server (node 0).
    Naive(Box<NaiveServer>),
    /// `seed-naive`: replicas other than node 0 take no part.
    Idle,
    /// A client.
    Client(Box<Client>),
    /// The guarded resource.
    Resource(Box<Resource>),
}

impl LockNode {
    /// The node with id `id` of a run with `config`.
    pub fn new(config: &LockConfig, id: NodeId) -> LockNode {
        if id == config.resource() {
            return LockNode::Resource(Box::new(Resource::new(*config)));
        }
        if config.is_client(id) {
            return LockNode::Client(Box::new(Client::new(*config, id)));
        }
        match config.variant {
            Variant::SeedNaive if id.0 == 0 => LockNode::Naive(Box::new(NaiveServer::new(*config))),
            Variant::SeedNaive => LockNode::Idle,
            Variant::Correct | Variant::NoFencing => {
                LockNode::Replica(Box::new(Replica::new(*config, id)))
            }
        }
    }

    /// The ballot of this node's mastership, if it is a master serving right now.
    pub fn serving(&self) -> Option<Ballot> {
        match self {
            LockNode::Replica(replica) => replica.serving(),
            _ => None,
        }
    }

    /// The replica, if this node is one.
    pub fn replica(&self) -> Option<&Replica> {
        match self {
            LockNode::Replica(replica) => Some(replica),
            _ => None,
        }
    }
}

impl multipaxos::Host for LockNode {
    type Machine = LockDb;

    fn core(durable: &LockDurable) -> &multipaxos::Durable<LockDb> {
        &durable.core
    }

    fn core_mut(durable: &mut LockDurable) -> &mut multipaxos::Durable<LockDb> {
        &mut durable.core
    }

    fn message(msg: Core<LockDb>) -> Msg {
        Msg::Core(msg)
    }

    fn timer(timer: multipaxos::Timer) -> Timer {
        match timer {
            multipaxos::Timer::Election => Timer::Election,
            multipaxos::Timer::Tick => Timer::Tick,
        }
    }

    fn observe(ctx: &mut Ctx<'_, LockNode>, event: multipaxos::Event<'_, LockDb>) {
        // The checker judges grants, holds and leases from what the master does with
        // the applied commands (see the replica); of the core's own steps only the
        // snapshot catch-up is reported.
        if let multipaxos::Event::SnapshotInstalled { through } = event {
            ctx.observe(dsim_core::Observation::Protocol(
                LockEvent::SnapshotInstalled { through },
            ));
        }
    }

    fn answer(_: &mut Ctx<'_, LockNode>, _: Cmd) {
        // The master answers from the command's outcome (KEEPS_OUTPUTS), not here.
    }

    const KEEPS_OUTPUTS: bool = true;
}

impl Node for LockNode {
    type Msg = Msg;
    type Timer = Timer;
    type Durable = LockDurable;
    type Event = LockEvent;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            LockNode::Replica(node) => node.on_start(ctx),
            LockNode::Naive(node) => node.on_start(ctx),
            LockNode::Client(node) => node.on_start(ctx),
            LockNode::Resource(_) | LockNode::Idle => {}
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, source: NodeId, msg: Msg) {
        match self {
            LockNode::Replica(node) => node.on_message(ctx, source, msg),
            LockNode::Naive(node) => node.on_message(ctx, source, msg),
            LockNode::Client(node) => node.on_message(ctx, source, msg),
            LockNode::Resource(node) => node.on_message(ctx, source, msg),
            LockNode::Idle => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match self {
            LockNode::Replica(node) => node.on_timer(ctx, timer),
            LockNode::Naive(node) => node.on_timer(ctx, timer),
            LockNode::Client(node) => node.on_timer(ctx, timer),
            LockNode::Resource(_) | LockNode::Idle => {}
        }
    }

    fn message_digest(msg: &Msg) -> u64 {
        // One multiply-xor step per distinguishing field and a single finaliser: far
        // cheaper than hashing the Debug text on the hot path.
        let words: [u64; 4] = match msg {
            Msg::OpenSession { session, sent_at } => [1, session.key(), sent_at.0, 0],
            Msg::KeepAlive { session, sent_at } => [2, session.key(), sent_at.0, 0],
            Msg::Acquire {
                session,
                lock,
                op,
                sent_at,
            } => [3, session.key(), u64::from(*lock) << 40 ^ op, sent_at.0],
            Msg::Release {
                session,
                sequencer,
                op,
                sent_at,
            } => [
                4,
                session.key(),
                sequencer_key(*sequencer) ^ op.rotate_left(17),
                sent_at.0,
            ],
            Msg::SessionOpened {
                session,
                lease_from,
            } => [5, session.key(), lease_from.0, 0],
            Msg::KeepAliveAck {
                session,
                lease_from,
                released_op,
            } => [6, session.key(), lease_from.0, *released_op],
            Msg::Granted {
                session,
                sequencer,
                op,
                lease_from,
                released_op,
            } => [
                7,
                session.key() ^ op.rotate_left(29),
                sequencer_key(*sequencer),
                lease_from.0 ^ released_op.rotate_left(41),
            ],
            Msg::SessionExpired { session } => [8, session.key(), 0, 0],
            Msg::NotMaster { hint } => [9, hint.map_or(u64::MAX, |n| u64::from(n.0)), 0, 0],
            Msg::Write { sequencer } => [10, sequencer_key(*sequencer), 0, 0],
            Msg::Core(core) => core_digest(core),
        };
        // The engine's fingerprint mixes the digest again, so one multiply per word is
        // enough to tell messages apart.
        words.iter().fold(0x9E37_79B9_7F4A_7C15, |acc, &word| {
            (acc ^ word)
                .wrapping_mul(0xBF58_476D_1CE4_E5B9)
                .rotate_left(29)
        })
    }
}

/// The digest words of a message of the core.
fn core_digest(msg: &Core<LockDb>) -> [u64; 4] {
    match msg {
        Core::Prepare { ballot, from_slot } => [11, ballot_key(*ballot), *from_slot, 0],
        Core::Promise {
            ballot,
            entries,
            chosen,
        } => [
            12,
            ballot_key(*ballot),
            entries.len() as u64 | (chosen.len() as u64) << 32,
            entries.iter().fold(0, |acc, entry| {
                (acc ^ entry.slot
                    ^ ballot_key(entry.ballot).rotate_left(17)
                    ^ entry.value.digest().rotate_left(5))
                .wrapping_mul(0x94D0_49BB_1331_11EB)
            }) ^ fold_slots(chosen),
        ],
        Core::Nack { promised } => [13, ballot_key(*promised), 0, 0],
        Core::Accept {
            ballot,
            slot,
            value,
            commit,
        } => [
            14,
            ballot_key(*ballot),
            *commit ^ slot.rotate_left(32),
            value.digest(),
        ],
        Core::Accepted { ballot, slot } => [15, ballot_key(*ballot), *slot, 0],
        Core::Heartbeat { ballot, commit } => [16, ballot_key(*ballot), *commit, 0],
        Core::LeaseRound {
            ballot,
            round,
            commit,
        } => [17, ballot_key(*ballot), *round, *commit],
        Core::LeaseAck { ballot, round } => [18, ballot_key(*ballot), *round, 0],
        Core::CatchUp { from_slot } => [19, *from_slot, 0, 0],
        Core::Learn { entries } => [20, entries.len() as u64, fold_slots(entries), 0],
        Core::Snapshot { through, machine } => [21, *through, db_digest(machine), 0],
    }
}

/// A digest of (slot, command) pairs, order-sensitive.
fn fold_slots(entries: &[(u64, Cmd)]) -> u64 {
    entries
        .iter()
        .fold(entries.len() as u64, |acc, (slot, cmd)| {
            (acc ^ slot ^ cmd.digest().rotate_left(13))
                .wrapping_mul(0x94D0_49BB_1331_11EB)
                .rotate_left(31)
        })
}

/// A digest of a lock database (a snapshot): its locks and sessions.
fn db_digest(db: &LockDb) -> u64 {
    let sessions = db.sessions().fold(0u64, |acc, session| {
        (acc ^ session.key()).wrapping_mul(0xBF58_476D_1CE4_E5B9)
    });
    db.locks().iter().fold(sessions, |acc, record| {
        (acc ^ record.generation
            ^ u64::from(record.holder.is_some()) << 40
            ^ u64::from(record.delayed) << 41)
            .wrapping_mul(0x94D0_49BB_1331_11EB)
    })
}

/// A 64-bit key of a ballot, for digests.
fn ballot_key(ballot: Ballot) -> u64 {
    (u64::from(ballot.round) << 32) | u64::from(ballot.node)
}

/// A 64-bit key of a sequencer, for digests.
fn sequencer_key(sequencer: Sequencer) -> u64 {
    (u64::from(sequencer.lock) << 44) ^ sequencer.generation
}

/// Builds (but does not run) the simulation of a lock-service run: every replica,
/// client and the resource, starting at time zero. Tests and benches drive it with
/// `run_until` and faults.
pub fn build_simulation(
    sim: SimConfig,
    config: &LockConfig,
) -> Result<Simulation<LockNode>, ConfigError> {
    config.validate()?;
    let config = *config;
    Simulation::new(sim, config.total_nodes(), move |id, _durable| {
        LockNode::new(&config, id)
    })
}

/// The `lock_service` kind, for the registry.
pub struct LockService;

impl Protocol for LockService {
    fn info(&self) -> ProtocolInfo {
        ProtocolInfo {
            kind: "lock_service",
            summary: "Chubby-style lock service: Paxos-replicated master with a lease, sessions, lock-delay, sequencers and a fencing resource",
            variants: VARIANTS,
            params: PARAMS,
            nodes_range: NODES_RANGE,
        }
    }

    fn total_nodes(&self, nodes: usize, workload: &Workload) -> usize {
        nodes + workload.clients + 1
    }

    /// `replicas` (the cell), `clients`, then the guarded `resource` (the last node).
    fn node_groups(&self, setup: &Setup<'_>) -> Vec<dsim_core::NodeGroup> {
        let replicas = setup.nodes as u32;
        let resource = replicas + setup.workload.clients as u32;
        vec![
            dsim_core::NodeGroup::new("replicas", 0..replicas),
            dsim_core::NodeGroup::new("clients", replicas..resource),
            dsim_core::NodeGroup::new("resource", resource..resource + 1),
        ]
    }

    fn check_setup(&self, setup: &Setup<'_>) -> Result<(), ConfigError> {
        LockConfig::from_setup(setup).map(|_| ())
    }

    fn run(&self, request: RunRequest) -> Result<RunResult, RunError> {
        let config = LockConfig::from_request(&request)?;
        // Judged as it runs, so that only the clients' operations are held to the end.
        let check = LiveCheck::new(&config);
        let (output, trace_error) = execute_with_sink(
            request,
            config.total_nodes(),
            move |id, _| LockNode::new(&config, id),
            Some(check.sink()),
        )?;
        let verdict = check.finish(&output, &config);
        Ok(RunResult {
            output: generic_output(output),
            verdict,
            trace_error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dsim_core::ParamValue;

    fn workload() -> Workload {
        Workload {
            clients: 3,
            rate_per_s: 30.0,
            ..Workload::default()
        }
    }

    #[test]
    fn every_declared_variant_parses_to_itself() {
        // A declared name that did not parse would make its scenarios unrunnable.
        for spec in VARIANTS {
            assert_eq!(
                Variant::parse(spec.name).map(Variant::name),
                Some(spec.name)
            );
        }
        assert_eq!(Variant::parse("no-such-bug"), None);
    }

    #[test]
    fn layout_puts_clients_after_replicas_and_the_resource_last() {
        let config = LockConfig::new(5, workload());
        // The checker and the scenario's fault node ids both rely on this layout.
        assert_eq!(config.total_nodes(), 9);
        assert_eq!(config.resource(), NodeId(8));
        assert!(config.is_replica(NodeId(4)) && !config.is_replica(NodeId(5)));
        assert!(config.is_client(NodeId(5)) && config.is_client(NodeId(7)));
        assert!(!config.is_client(NodeId(8)));
        assert_eq!(
            LockService.total_nodes(5, &workload()),
            config.total_nodes()
        );
    }

    #[test]
    fn leases_are_shortened_by_the_margin() {
        let config = LockConfig::new(5, workload());
        // 2% of 300 ms: the master counts on 294 ms of a 300 ms promise.
        assert_eq!(config.master_lease_safe(), SimDuration::from_millis(294));
        assert_eq!(config.session_lease_safe(), SimDuration::from_millis(392));
    }

    #[test]
    fn bad_configurations_are_refused() {
        let mut config = LockConfig::new(5, workload());
        assert!(config.validate().is_ok());
        config.replicas = 10;
        assert!(config.validate().is_err(), "more replicas than quorum bits");
        config.replicas = 5;
        config.heartbeat_interval = SimDuration::from_millis(200);
        // A master renewing less than twice per lease would lose it between renewals.
        assert!(config.validate().is_err());
        config.heartbeat_interval = SimDuration::from_millis(20);
        config.lease_margin = 0.7;
        assert!(config.validate().is_err());
        let mut params = Params::default();
        params.0.insert(
            "session_lease".into(),
            ParamValue::Duration(SimDuration::ZERO),
        );
        let request = RunRequest {
            config: SimConfig::default(),
            nodes: 5,
            variant: "correct".into(),
            params,
            workload: workload(),
            duration: SimDuration::from_secs(1),
            faults: Vec::new(),
            trace: None,
            ops_sink: None,
        };
        assert!(LockConfig::from_request(&request).is_err());
    }

    #[test]
    fn digests_tell_messages_apart() {
        // The fingerprint relies on different messages hashing differently.
        let write = |generation| {
            LockNode::message_digest(&Msg::Write {
                sequencer: Sequencer {
                    lock: 1,
                    generation,
                },
            })
        };
        assert_ne!(write(1), write(2));
        let accept = |value: Cmd| {
            LockNode::message_digest(&Msg::Core(Core::Accept {
                ballot: Ballot { round: 1, node: 0 },
                slot: 3,
                value,
                commit: 0,
            }))
        };
        assert_ne!(accept(Cmd::Noop), accept(Cmd::EndDelay { lock: 0 }));
    }
}
