//! The master: task bookkeeping, heartbeats, re-execution and backups (`correct`), and
//! the split-send-process-gather master of `seed-naive`.

use super::{
    Job, LocationTable, Locations, MrEvent, MrNode, Msg, ResetReason, SortOutput, TaskKind, Timer,
    partition_counts,
};
use dsim_core::{Ctx, NodeId, Observation, Outcome, SimTime, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The master's view of one worker.
#[derive(Clone, Debug)]
struct WorkerView {
    alive: bool,
    last_heard: SimTime,
    /// The attempts running on its task slots (at most `slots_per_worker`).
    current: Vec<Running>,
    /// Highest attempt of this worker the master has settled (completed, ignored or
    /// written off); sent in pings so the worker stops re-sending its report.
    acked: u32,
    /// Map tasks this worker completed (some may have been reset since).
    completed_maps: Vec<u32>,
}

/// An attempt running on a worker, as the master assigned it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Running {
    kind: TaskKind,
    task: u32,
    attempt: u32,
    since: SimTime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Idle,
    Running,
    Done { worker: u32 },
}

#[derive(Clone, Debug)]
struct TaskState {
    status: Status,
    /// Live attempts: (attempt id, worker).
    attempts: Vec<(u32, u32)>,
    backup_launched: bool,
    /// The open operation in ops.csv, if any.
    op: Option<u64>,
}

impl TaskState {
    fn new() -> TaskState {
        TaskState {
            status: Status::Idle,
            attempts: Vec::new(),
            backup_launched: false,
            op: None,
        }
    }
}

/// The tasks of one phase.
#[derive(Clone, Debug)]
struct Phase {
    kind: TaskKind,
    tasks: Vec<TaskState>,
    idle: BTreeSet<u32>,
    running: BTreeSet<u32>,
    done: u32,
}

impl Phase {
    fn new(kind: TaskKind, count: u32) -> Phase {
        Phase {
            kind,
            tasks: vec![TaskState::new(); count as usize],
            idle: (0..count).collect(),
            running: BTreeSet::new(),
            done: 0,
        }
    }

    fn total(&self) -> u32 {
        self.tasks.len() as u32
    }

    fn complete(&self) -> bool {
        self.done == self.total()
    }

    /// Marks `task` done by `worker` and returns its state, or `None` when an earlier
    /// attempt (or a backup) already completed it.
    fn finish(&mut self, task: u32, worker: u32) -> Option<&mut TaskState> {
        let state = &mut self.tasks[task as usize];
        if matches!(state.status, Status::Done { .. }) {
            return None;
        }
        if state.status == Status::Running {
            self.running.remove(&task);
        } else {
            self.idle.remove(&task);
        }
        state.status = Status::Done { worker };
        self.done += 1;
        Some(state)
    }

    /// Puts a task back to idle.
    fn reset(&mut self, task: u32) {
        let state = &mut self.tasks[task as usize];
        match state.status {
            Status::Done { .. } => {
                self.done -= 1;
                // The completed execution's operation was closed: a new one opens.
                state.op = None;
            }
            Status::Running => {
                self.running.remove(&task);
            }
            Status::Idle => return,
        }
        state.backup_launched = false;
        if state.attempts.is_empty() {
            state.status = Status::Idle;
            self.idle.insert(task);
        } else {
            // A completed task whose output was lost while a backup still runs: that
            // attempt carries on.
            state.status = Status::Running;
            self.running.insert(task);
        }
    }
}

/// The master of the `correct` variant (node 0).
#[derive(Debug)]
pub struct Master {
    job: Arc<Job>,
    /// Index `w - 1` for worker node `w`.
    workers: Vec<WorkerView>,
    idle_workers: BTreeSet<u32>,
    maps: Phase,
    reduces: Phase,
    next_attempt: u32,
    next_op: u64,
    ping_seq: u64,
    locations: Option<Locations>,
    /// Map tasks completed again while reducers run, `(task, worker)`, not yet
    /// announced to them (they are, with the next heartbeat round).
    moved: Vec<(u32, u32)>,
    /// A restarted master abandons the job.
    inert: bool,
    finished: bool,
}

impl Master {
    /// A master for `job`, before it starts.
    pub fn new(job: Arc<Job>) -> Master {
        let config = &job.config;
        let maps = Phase::new(TaskKind::Map, config.map_tasks);
        let reduces = Phase::new(TaskKind::Reduce, config.reduce_tasks);
        let workers = vec![
            WorkerView {
                alive: true,
                last_heard: SimTime::ZERO,
                current: Vec::new(),
                acked: 0,
                completed_maps: Vec::new(),
            };
            config.workers as usize
        ];
        Master {
            job,
            workers,
            idle_workers: BTreeSet::new(),
            maps,
            reduces,
            next_attempt: 1,
            next_op: 0,
            ping_seq: 0,
            locations: None,
            moved: Vec::new(),
            inert: false,
            finished: false,
        }
    }

    /// Whether every partition is committed.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// Map tasks completed so far.
    pub fn maps_done(&self) -> u32 {
        self.maps.done
    }

    /// Reduce tasks completed so far.
    pub fn reduces_done(&self) -> u32 {
        self.reduces.done
    }

    /// Whether the master currently considers worker `worker` alive.
    pub fn worker_alive(&self, worker: u32) -> bool {
        self.workers[worker as usize - 1].alive
    }

    /// The attempt the master believes `worker` runs: (kind, task, attempt).
    pub fn running_on(&self, worker: u32) -> Option<(TaskKind, u32, u32)> {
        self.workers[worker as usize - 1]
            .current
            .first()
            .map(|run| (run.kind, run.task, run.attempt))
    }

    /// Starts the job, or abandons it after a restart.
    pub fn on_start(&mut self, ctx: &mut Ctx<'_, MrNode>) {
        if ctx.durable().job_started {
            // The paper's master does not survive its own failure.
            self.inert = true;
            ctx.observe(Observation::Protocol(MrEvent::MasterRestarted));
            return;
        }
        ctx.durable_mut().job_started = true;
        ctx.sync();
        ctx.observe(Observation::Protocol(MrEvent::JobStarted));
        let now = ctx.now();
        for (index, view) in self.workers.iter_mut().enumerate() {
            view.last_heard = now;
            self.idle_workers.insert(index as u32 + 1);
        }
        ctx.set_timer(self.job.config.heartbeat_interval, Timer::Heartbeat);
        self.schedule(ctx);
    }

    /// Handles a worker's message.
    pub fn on_message(&mut self, ctx: &mut Ctx<'_, MrNode>, source: NodeId, msg: Msg) {
        let worker = source.0;
        if self.inert || self.finished || worker == 0 || worker > self.job.config.workers {
            return;
        }
        self.workers[worker as usize - 1].last_heard = ctx.now();
        match msg {
            Msg::Pong {
                running,
                reported,
                more,
                ..
            } => self.on_pong(ctx, worker, running, &more, reported),
            Msg::MapDone { task, attempt } => {
                if self.accept_report(ctx, worker, TaskKind::Map, task, attempt) {
                    self.complete_map(ctx, worker, task);
                }
            }
            Msg::ReduceDone {
                partition,
                attempt,
                counts,
                sorted,
            } => {
                if self.accept_report(ctx, worker, TaskKind::Reduce, partition, attempt) {
                    self.complete_reduce(ctx, worker, partition, counts, sorted);
                }
            }
            Msg::OutputsLost {
                partition,
                attempt,
                missing,
            } => self.on_outputs_lost(ctx, worker, partition, attempt, missing),
            _ => return,
        }
        self.schedule(ctx);
    }

    /// A running reducer could not fetch `missing` `(map task, holder)` outputs: a task
    /// still recorded as done on that holder is executed again (its completion will be
    /// announced); one already done elsewhere is announced to this reducer at once.
    fn on_outputs_lost(
        &mut self,
        ctx: &mut Ctx<'_, MrNode>,
        worker: u32,
        partition: u32,
        attempt: u32,
        missing: Vec<(u32, u32)>,
    ) {
        let live = self.workers[worker as usize - 1].alive
            && self
                .reduces
                .tasks
                .get(partition as usize)
                .is_some_and(|t| t.attempts.contains(&(attempt, worker)));
        if !live {
            return; // An abandoned or written-off attempt.
        }
        let mut outputs = Vec::new();
        for (task, holder) in missing {
            let Some(state) = self.maps.tasks.get(task as usize) else {
                continue;
            };
            match state.status {
                Status::Done { worker: at } if at == holder => {
                    self.reset_task(ctx, TaskKind::Map, task, holder, ResetReason::FetchFailed);
                }
                Status::Done { worker: at } => outputs.push((task, at)),
                Status::Idle | Status::Running => {}
            }
        }
        if !outputs.is_empty() {
            ctx.send(NodeId(worker), Msg::MapOutputsAt { attempt, outputs });
        }
    }

    /// Paper section 3.3: every running reducer hears where the map outputs executed
    /// again since the last round are now, and reads them from there unless it has
    /// them already.
    fn announce_moved(&mut self, ctx: &mut Ctx<'_, MrNode>) {
        if self.moved.is_empty() {
            return;
        }
        let moved = std::mem::take(&mut self.moved);
        for &partition in &self.reduces.running {
            for &(attempt, reducer) in &self.reduces.tasks[partition as usize].attempts {
                ctx.send(
                    NodeId(reducer),
                    Msg::MapOutputsAt {
                        attempt,
                        outputs: moved.clone(),
                    },
                );
            }
        }
    }

    /// Handles the heartbeat: failure detection, then a ping round.
    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, MrNode>, timer: Timer) {
        if timer != Timer::Heartbeat || self.inert || self.finished {
            return;
        }
        let now = ctx.now();
        let timeout = self.job.config.failure_timeout;
        for worker in 1..=self.job.config.workers {
            let view = &self.workers[worker as usize - 1];
            if view.alive && now.saturating_since(view.last_heard) > timeout {
                self.declare_failed(ctx, worker);
            }
        }
        self.ping_seq += 1;
        for worker in 1..=self.job.config.workers {
            // Attempts are settled out of order when a map runs beside a reduce: the
            // worker must not take a later attempt's ack for a report of an earlier
            // one still unsettled (it would stop re-sending it).
            let view = &self.workers[worker as usize - 1];
            let acked = view
                .current
                .iter()
                .map(|run| run.attempt - 1)
                .min()
                .map_or(view.acked, |oldest| oldest.min(view.acked));
            ctx.send(
                NodeId(worker),
                Msg::Ping {
                    seq: self.ping_seq,
                    acked,
                },
            );
        }
        self.announce_moved(ctx);
        ctx.set_timer(self.job.config.heartbeat_interval, Timer::Heartbeat);
        self.schedule(ctx);
    }

    fn on_pong(
        &mut self,
        ctx: &mut Ctx<'_, MrNode>,
        worker: u32,
        running: u32,
        more: &[u32],
        reported: u32,
    ) {
        let now = ctx.now();
        let timeout = self.job.config.failure_timeout;
        let view = &mut self.workers[worker as usize - 1];
        view.last_heard = now;
        if !view.alive {
            // Back from a crash, pause or partition: a fresh idle worker. Whatever it
            // still runs or reports belongs to attempts the master already settled.
            view.alive = true;
            view.current.clear();
            let highest = more.iter().copied().max().unwrap_or(0);
            view.acked = view.acked.max(reported).max(running).max(highest);
            self.idle_workers.insert(worker);
            ctx.observe(Observation::Protocol(MrEvent::WorkerReadmitted { worker }));
            return;
        }
        let lost: Vec<Running> = view
            .current
            .iter()
            .copied()
            .filter(|run| {
                let confirmed = running == run.attempt
                    || reported == run.attempt
                    || more.contains(&run.attempt);
                !confirmed && now.saturating_since(run.since) > timeout
            })
            .collect();
        for run in lost {
            // The worker neither runs nor reported the attempt long after it was sent:
            // the assignment (or the report and its re-sends) was lost.
            let view = &mut self.workers[worker as usize - 1];
            view.current.retain(|r| r.attempt != run.attempt);
            view.acked = view.acked.max(run.attempt);
            self.free_slot(worker);
            self.drop_attempt(
                ctx,
                run.kind,
                run.task,
                run.attempt,
                worker,
                ResetReason::AttemptLost,
            );
        }
    }

    /// True when `attempt` is what the master believes `worker` runs; frees the worker.
    fn accept_report(
        &mut self,
        _ctx: &mut Ctx<'_, MrNode>,
        worker: u32,
        kind: TaskKind,
        task: u32,
        attempt: u32,
    ) -> bool {
        let view = &mut self.workers[worker as usize - 1];
        view.acked = view.acked.max(attempt);
        if !view.alive {
            return false;
        }
        let found = view
            .current
            .iter()
            .position(|run| run.kind == kind && run.task == task && run.attempt == attempt);
        match found {
            Some(index) => {
                view.current.remove(index);
                self.free_slot(worker);
                self.phase_mut(kind).tasks[task as usize]
                    .attempts
                    .retain(|&(a, _)| a != attempt);
                true
            }
            _ => false,
        }
    }

    fn phase_mut(&mut self, kind: TaskKind) -> &mut Phase {
        match kind {
            TaskKind::Map => &mut self.maps,
            TaskKind::Reduce => &mut self.reduces,
        }
    }

    fn close_op(ctx: &mut Ctx<'_, MrNode>, state: &mut TaskState) {
        if let Some(op) = state.op.take() {
            ctx.observe(Observation::OpCompleted {
                op,
                outcome: Outcome::Ok,
                ret: Value::Nil,
            });
        }
    }

    /// Tells the workers still running other attempts of a task that just completed to
    /// abandon them, and frees those workers for the next task: a losing backup copy
    /// (or the straggling primary) must not hold a worker, its disk and its link.
    fn abandon_losers(&mut self, ctx: &mut Ctx<'_, MrNode>, kind: TaskKind, task: u32) {
        let losers = std::mem::take(&mut self.phase_mut(kind).tasks[task as usize].attempts);
        for (attempt, worker) in losers {
            let view = &mut self.workers[worker as usize - 1];
            view.acked = view.acked.max(attempt);
            if view.alive && view.current.iter().any(|run| run.attempt == attempt) {
                view.current.retain(|run| run.attempt != attempt);
                self.free_slot(worker);
            }
            ctx.send(NodeId(worker), Msg::Abandon { attempt });
        }
    }

    fn complete_map(&mut self, ctx: &mut Ctx<'_, MrNode>, worker: u32, task: u32) {
        let Some(state) = self.maps.finish(task, worker) else {
            return; // A backup or an earlier attempt got there first.
        };
        Self::close_op(ctx, state);
        self.abandon_losers(ctx, TaskKind::Map, task);
        self.workers[worker as usize - 1].completed_maps.push(task);
        self.locations = None;
        if !self.reduces.running.is_empty() {
            // Executed again while reducers run: they hear of it with the next round.
            self.moved.retain(|&(t, _)| t != task);
            self.moved.push((task, worker));
        }
    }

    fn complete_reduce(
        &mut self,
        ctx: &mut Ctx<'_, MrNode>,
        worker: u32,
        partition: u32,
        counts: Vec<(u32, u64)>,
        sorted: Option<SortOutput>,
    ) {
        let Some(state) = self.reduces.finish(partition, worker) else {
            return; // The partition is already in the global file system.
        };
        Self::close_op(ctx, state);
        self.abandon_losers(ctx, TaskKind::Reduce, partition);
        ctx.durable_mut().committed_partitions += 1;
        ctx.sync();
        let event = match sorted {
            Some(output) => MrEvent::SortedCommitted { partition, output },
            None => MrEvent::PartitionCommitted { partition, counts },
        };
        ctx.observe(Observation::Protocol(event));
        if self.reduces.complete() {
            self.finished = true;
            ctx.observe(Observation::Protocol(MrEvent::JobDone));
        }
    }

    /// Removes one attempt; the task goes back to idle when no attempt is left.
    fn drop_attempt(
        &mut self,
        ctx: &mut Ctx<'_, MrNode>,
        kind: TaskKind,
        task: u32,
        attempt: u32,
        worker: u32,
        reason: ResetReason,
    ) {
        let state = &mut self.phase_mut(kind).tasks[task as usize];
        state.attempts.retain(|&(a, _)| a != attempt);
        if state.status == Status::Running && state.attempts.is_empty() {
            self.reset_task(ctx, kind, task, worker, reason);
        }
    }

    fn reset_task(
        &mut self,
        ctx: &mut Ctx<'_, MrNode>,
        kind: TaskKind,
        task: u32,
        worker: u32,
        reason: ResetReason,
    ) {
        if kind == TaskKind::Map {
            self.locations = None;
        }
        let phase = match kind {
            TaskKind::Map => &mut self.maps,
            TaskKind::Reduce => &mut self.reduces,
        };
        phase.reset(task);
        let state = &mut phase.tasks[task as usize];
        if state.status == Status::Running && state.op.is_none() {
            // Re-execution of a completed task by an attempt already running.
            let op = self.next_op;
            self.next_op += 1;
            state.op = Some(op);
            ctx.observe(kind.invocation(op, task));
        }
        ctx.observe(Observation::Protocol(MrEvent::TaskReset {
            kind,
            task,
            worker,
            reason,
        }));
    }

    fn declare_failed(&mut self, ctx: &mut Ctx<'_, MrNode>, worker: u32) {
        let view = &mut self.workers[worker as usize - 1];
        view.alive = false;
        let current = std::mem::take(&mut view.current);
        let completed = std::mem::take(&mut view.completed_maps);
        self.idle_workers.remove(&worker);
        ctx.observe(Observation::Protocol(MrEvent::WorkerFailed { worker }));
        for run in current {
            self.workers[worker as usize - 1].acked =
                self.workers[worker as usize - 1].acked.max(run.attempt);
            self.drop_attempt(
                ctx,
                run.kind,
                run.task,
                run.attempt,
                worker,
                ResetReason::WorkerFailed,
            );
        }
        // Its disk is gone with it: completed map output must be produced again (the
        // job is not finished, or there would be no heartbeat to get here).
        for task in completed {
            if self.maps.tasks[task as usize].status == (Status::Done { worker }) {
                self.reset_task(ctx, TaskKind::Map, task, worker, ResetReason::WorkerFailed);
            }
        }
    }

    /// Marks `worker` idle when it has a free task slot (one of its attempts ended).
    fn free_slot(&mut self, worker: u32) {
        let view = &self.workers[worker as usize - 1];
        if view.alive && view.current.len() < self.job.config.slots_per_worker as usize {
            self.idle_workers.insert(worker);
        }
    }

    /// Hands tasks to idle workers until either runs out.
    fn schedule(&mut self, ctx: &mut Ctx<'_, MrNode>) {
        if self.inert || self.finished {
            return;
        }
        while let Some(&worker) = self.idle_workers.first() {
            let Some((kind, task, backup)) = self.pick() else {
                break;
            };
            self.assign(ctx, worker, kind, task, backup);
        }
        self.schedule_re_executions(ctx);
    }

    /// Map tasks to execute again while every worker is busy: each goes beside the
    /// reduce attempts of a worker running nothing else. Those reducers may be waiting
    /// for exactly these outputs (they keep their slots and what they fetched, paper
    /// section 3.3): were the map to wait for a free slot, a cluster whose every slot
    /// holds such a reducer would wait forever.
    fn schedule_re_executions(&mut self, ctx: &mut Ctx<'_, MrNode>) {
        if self.maps.idle.is_empty() || self.reduces.running.is_empty() {
            return;
        }
        let slots = self.job.config.slots_per_worker as usize;
        for worker in 1..=self.job.config.workers {
            let view = &self.workers[worker as usize - 1];
            let only_reduces = view.alive
                && view.current.len() == slots
                && view.current.iter().all(|run| run.kind == TaskKind::Reduce);
            if !only_reduces {
                continue;
            }
            let Some(task) = self.maps.idle.pop_first() else {
                return;
            };
            self.assign(ctx, worker, TaskKind::Map, task, false);
        }
    }

    /// The next task to hand out: an idle map task; while maps run, a map backup; then
    /// an idle reduce task; then a reduce backup.
    fn pick(&mut self) -> Option<(TaskKind, u32, bool)> {
        if let Some(task) = self.maps.idle.pop_first() {
            return Some((TaskKind::Map, task, false));
        }
        if !self.maps.complete() {
            return self
                .backup_candidate(TaskKind::Map)
                .map(|t| (TaskKind::Map, t, true));
        }
        if let Some(task) = self.reduces.idle.pop_first() {
            return Some((TaskKind::Reduce, task, false));
        }
        self.backup_candidate(TaskKind::Reduce)
            .map(|t| (TaskKind::Reduce, t, true))
    }

    fn backup_candidate(&self, kind: TaskKind) -> Option<u32> {
        let config = &self.job.config;
        if !config.backup_tasks {
            return None;
        }
        let phase = match kind {
            TaskKind::Map => &self.maps,
            TaskKind::Reduce => &self.reduces,
        };
        if !phase.idle.is_empty() || phase.running.len() > config.backup_threshold(phase.total()) {
            return None;
        }
        phase.running.iter().copied().find(|&task| {
            let state = &phase.tasks[task as usize];
            state.attempts.len() == 1 && !state.backup_launched
        })
    }

    fn location_table(&mut self) -> Locations {
        if let Some(locations) = &self.locations {
            return locations.clone();
        }
        let pairs = self
            .maps
            .tasks
            .iter()
            .enumerate()
            .map(|(task, state)| match state.status {
                Status::Done { worker } => (task as u32, worker),
                _ => panic!("reduce assigned before map task {task} completed"),
            })
            .collect();
        let locations = Locations(Arc::new(LocationTable::from_pairs(pairs)));
        self.locations = Some(locations.clone());
        locations
    }

    fn assign(
        &mut self,
        ctx: &mut Ctx<'_, MrNode>,
        worker: u32,
        kind: TaskKind,
        task: u32,
        backup: bool,
    ) {
        let attempt = self.next_attempt;
        self.next_attempt += 1;
        let now = ctx.now();
        let slots = self.job.config.slots_per_worker as usize;
        let view = &mut self.workers[worker as usize - 1];
        let beside_reduces = kind == TaskKind::Map
            && view.current.len() == slots
            && view.current.iter().all(|run| run.kind == TaskKind::Reduce);
        assert!(
            view.alive && (view.current.len() < slots || beside_reduces),
            "assigning to a busy or dead worker {worker}"
        );
        view.current.push(Running {
            kind,
            task,
            attempt,
            since: now,
        });
        if view.current.len() >= slots {
            self.idle_workers.remove(&worker);
        }
        let next_op = &mut self.next_op;
        let phase = match kind {
            TaskKind::Map => &mut self.maps,
            TaskKind::Reduce => &mut self.reduces,
        };
        let state = &mut phase.tasks[task as usize];
        if state.status == Status::Idle {
            state.status = Status::Running;
            phase.running.insert(task);
        }
        assert_eq!(state.status, Status::Running, "assigning a completed task");
        state.attempts.push((attempt, worker));
        if state.op.is_none() {
            let op = *next_op;
            *next_op += 1;
            state.op = Some(op);
            ctx.observe(phase.kind.invocation(op, task));
        }
        if backup {
            state.backup_launched = true;
            ctx.observe(Observation::Protocol(MrEvent::BackupLaunched {
                kind,
                task,
                worker,
            }));
        }
        let msg = match kind {
            TaskKind::Map => Msg::AssignMap { task, attempt },
            TaskKind::Reduce => Msg::AssignReduce {
                partition: task,
                attempt,
                locations: self.location_table(),
            },
        };
        ctx.send(NodeId(worker), msg);
    }
}

/// The master of `seed-naive` (node 0): split, send, (workers) process, gather,
/// combine. No heartbeats, no re-execution.
#[derive(Debug)]
pub struct NaiveMaster {
    job: Arc<Job>,
    received: Vec<bool>,
    received_count: u32,
    totals: Vec<u64>,
    inert: bool,
    finished: bool,
}

impl NaiveMaster {
    /// A naive master for `job`.
    pub fn new(job: Arc<Job>) -> NaiveMaster {
        let received = vec![false; job.config.map_tasks as usize];
        let totals = vec![0; job.config.vocabulary as usize];
        NaiveMaster {
            job,
            received,
            received_count: 0,
            totals,
            inert: false,
            finished: false,
        }
    }

    /// Steps 1 and 2: split the corpus and send every worker its splits.
    pub fn on_start(&mut self, ctx: &mut Ctx<'_, MrNode>) {
        if ctx.durable().job_started {
            self.inert = true;
            ctx.observe(Observation::Protocol(MrEvent::MasterRestarted));
            return;
        }
        ctx.durable_mut().job_started = true;
        ctx.sync();
        ctx.observe(Observation::Protocol(MrEvent::JobStarted));
        let workers = self.job.config.workers;
        let mut splits: Vec<Vec<u32>> = vec![Vec::new(); workers as usize];
        for task in 0..self.job.config.map_tasks {
            splits[(task % workers) as usize].push(task);
            ctx.observe(TaskKind::Map.invocation(u64::from(task), task));
        }
        for (index, tasks) in splits.into_iter().enumerate() {
            if !tasks.is_empty() {
                ctx.send(NodeId(index as u32 + 1), Msg::NaiveAssign { tasks });
            }
        }
        ctx.set_timer(self.job.config.gather_timeout, Timer::GatherDeadline);
    }

    /// Step 4: gather one split's counts.
    pub fn on_message(&mut self, ctx: &mut Ctx<'_, MrNode>, _source: NodeId, msg: Msg) {
        let Msg::NaiveResult { task, counts } = msg else {
            return;
        };
        if self.inert
            || self.finished
            || task >= self.job.config.map_tasks
            || self.received[task as usize]
        {
            return;
        }
        self.received[task as usize] = true;
        self.received_count += 1;
        for (word, count) in counts {
            if let Some(total) = self.totals.get_mut(word as usize) {
                *total += count;
            }
        }
        ctx.observe(Observation::OpCompleted {
            op: u64::from(task),
            outcome: Outcome::Ok,
            ret: Value::Nil,
        });
        if self.received_count == self.job.config.map_tasks {
            self.combine(ctx);
        }
    }

    /// The gather deadline: combine whatever arrived.
    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, MrNode>, timer: Timer) {
        if timer == Timer::GatherDeadline && !self.inert && !self.finished {
            self.combine(ctx);
        }
    }

    /// Step 5: combine into the output partitions and declare the job done.
    fn combine(&mut self, ctx: &mut Ctx<'_, MrNode>) {
        self.finished = true;
        for (task, &got) in self.received.iter().enumerate() {
            if !got {
                // The job is over: this task's output can no longer count.
                ctx.observe(Observation::OpCompleted {
                    op: task as u64,
                    outcome: Outcome::Fail("lost"),
                    ret: Value::Nil,
                });
            }
        }
        let partitions = partition_counts(&self.totals, self.job.config.reduce_tasks);
        for (partition, counts) in partitions.into_iter().enumerate() {
            ctx.durable_mut().committed_partitions += 1;
            ctx.observe(Observation::Protocol(MrEvent::PartitionCommitted {
                partition: partition as u32,
                counts,
            }));
        }
        ctx.sync();
        ctx.observe(Observation::Protocol(MrEvent::JobDone));
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{events, job, ops, sends, timers};
    use super::super::{LocationTable, MrDurable, ResetReason};
    use super::*;
    use dsim_core::{CtxParts, SimDuration};

    fn started(master: &mut Master, workers: u32) -> CtxParts<MrNode> {
        let mut parts = CtxParts::<MrNode>::new(NodeId(0), workers as usize + 1, 1);
        master.on_start(&mut parts.ctx());
        parts
    }

    fn at(parts: &mut CtxParts<MrNode>, ms: u64) {
        parts.local_now = SimTime(ms * 1_000_000);
    }

    /// Worker `worker` reports that map `task`, attempt `attempt`, is done.
    fn map_done(
        master: &mut Master,
        parts: &mut CtxParts<MrNode>,
        worker: u32,
        task: u32,
        attempt: u32,
    ) {
        master.on_message(
            &mut parts.ctx(),
            NodeId(worker),
            Msg::MapDone { task, attempt },
        );
    }

    #[test]
    fn start_hands_one_map_task_to_each_worker_in_order() {
        // Three workers, five splits: tasks 0, 1, 2 go out as attempts 1, 2, 3, each
        // opening one `map` operation; if the master assigned more than one task per
        // worker or skipped one, the sends would differ.
        let mut master = Master::new(job(3, 5, 2, 50, |_| {}));
        let mut parts = started(&mut master, 3);
        let effects = parts.take_effects();
        assert_eq!(
            sends(&effects),
            vec![
                (
                    NodeId(1),
                    Msg::AssignMap {
                        task: 0,
                        attempt: 1
                    }
                ),
                (
                    NodeId(2),
                    Msg::AssignMap {
                        task: 1,
                        attempt: 2
                    }
                ),
                (
                    NodeId(3),
                    Msg::AssignMap {
                        task: 2,
                        attempt: 3
                    }
                ),
            ]
        );
        assert_eq!(
            ops(&effects),
            (0..3)
                .map(|op| TaskKind::Map.invocation(op, op as u32))
                .collect::<Vec<_>>()
        );
        assert_eq!(events(&effects), vec![MrEvent::JobStarted]);
        assert_eq!(
            timers(&effects),
            vec![(SimDuration::from_millis(10), Timer::Heartbeat)]
        );
        assert!(
            parts.durable.job_started,
            "a restart must know the job began"
        );
    }

    #[test]
    fn map_done_closes_the_operation_and_hands_the_worker_the_next_task() {
        let mut master = Master::new(job(3, 5, 2, 50, |_| {}));
        let mut parts = started(&mut master, 3);
        parts.take_effects();
        map_done(&mut master, &mut parts, 2, 1, 2);
        let effects = parts.take_effects();
        // Op 1 (task 1) ends ok; the freed worker 2 gets task 3 as attempt 4, op 3.
        assert_eq!(
            ops(&effects),
            vec![
                Observation::OpCompleted {
                    op: 1,
                    outcome: Outcome::Ok,
                    ret: Value::Nil,
                },
                TaskKind::Map.invocation(3, 3),
            ]
        );
        assert_eq!(
            sends(&effects),
            vec![(
                NodeId(2),
                Msg::AssignMap {
                    task: 3,
                    attempt: 4
                }
            )]
        );
        assert_eq!(master.maps_done(), 1);
    }

    #[test]
    fn stale_or_misattributed_reports_are_ignored() {
        // Worker 2 runs attempt 2 of task 1. A report of attempt 1 (not its own) or of
        // a different task must not complete anything, or a duplicate from the past
        // could complete a task that is being redone.
        let mut master = Master::new(job(3, 5, 2, 50, |_| {}));
        let mut parts = started(&mut master, 3);
        parts.take_effects();
        map_done(&mut master, &mut parts, 2, 1, 1);
        map_done(&mut master, &mut parts, 2, 0, 2);
        assert!(parts.take_effects().is_empty());
        assert_eq!(master.maps_done(), 0);
        assert_eq!(master.running_on(2), Some((TaskKind::Map, 1, 2)));
    }

    #[test]
    fn reduce_tasks_wait_for_every_map_task_and_carry_their_locations() {
        let mut master = Master::new(job(2, 2, 1, 20, |c| c.backup_tasks = false));
        let mut parts = started(&mut master, 2);
        parts.take_effects();
        map_done(&mut master, &mut parts, 1, 0, 1);
        // One map output is still missing: no reducer may start (the barrier).
        assert!(sends(&parts.take_effects()).is_empty());
        map_done(&mut master, &mut parts, 2, 1, 2);
        let effects = parts.take_effects();
        let expected = Locations(Arc::new(LocationTable::from_pairs(vec![(0, 1), (1, 2)])));
        assert_eq!(
            sends(&effects),
            vec![(
                NodeId(1),
                Msg::AssignReduce {
                    partition: 0,
                    attempt: 3,
                    locations: expected,
                }
            )]
        );
        assert_eq!(
            ops(&effects).last(),
            Some(&TaskKind::Reduce.invocation(2, 0))
        );
    }

    /// Two workers, two splits, two partitions: maps done on 1 and 2, reduce 0 on
    /// worker 1 (attempt 3), reduce 1 on worker 2 (attempt 4).
    fn in_reduce_phase() -> (Master, CtxParts<MrNode>) {
        let mut master = Master::new(job(2, 2, 2, 20, |c| c.backup_tasks = false));
        let mut parts = started(&mut master, 2);
        at(&mut parts, 5);
        map_done(&mut master, &mut parts, 1, 0, 1);
        map_done(&mut master, &mut parts, 2, 1, 2);
        parts.take_effects();
        assert_eq!(master.running_on(1), Some((TaskKind::Reduce, 0, 3)));
        assert_eq!(master.running_on(2), Some((TaskKind::Reduce, 1, 4)));
        (master, parts)
    }

    #[test]
    fn silent_worker_loses_its_running_task_and_its_completed_map_output() {
        let (mut master, mut parts) = in_reduce_phase();
        // Worker 2 keeps answering; worker 1 has been silent since 5 ms.
        at(&mut parts, 50);
        master.on_message(
            &mut parts.ctx(),
            NodeId(2),
            Msg::Pong {
                seq: 1,
                running: 4,
                reported: 2,
                more: Vec::new(),
            },
        );
        at(&mut parts, 60);
        master.on_timer(&mut parts.ctx(), Timer::Heartbeat);
        let effects = parts.take_effects();
        // 55 ms of silence > 50 ms: failed. Its reduce goes back to idle and its map
        // output (task 0) must be produced again, even though map 0 had completed.
        assert_eq!(
            events(&effects),
            vec![
                MrEvent::WorkerFailed { worker: 1 },
                MrEvent::TaskReset {
                    kind: TaskKind::Reduce,
                    task: 0,
                    worker: 1,
                    reason: ResetReason::WorkerFailed
                },
                MrEvent::TaskReset {
                    kind: TaskKind::Map,
                    task: 0,
                    worker: 1,
                    reason: ResetReason::WorkerFailed
                },
            ]
        );
        assert!(!master.worker_alive(1));
        assert_eq!(master.maps_done(), 1);
        // Both workers are still pinged: a failed one may come back. Map 0 then goes
        // beside worker 2's reduce (its only slot is taken): that reducer may be
        // waiting for it, and no worker would ever be free to run it otherwise.
        assert_eq!(
            sends(&effects),
            vec![
                (NodeId(1), Msg::Ping { seq: 1, acked: 3 }),
                (NodeId(2), Msg::Ping { seq: 1, acked: 2 }),
                (
                    NodeId(2),
                    Msg::AssignMap {
                        task: 0,
                        attempt: 5
                    }
                ),
            ]
        );
    }

    #[test]
    fn lost_map_output_is_executed_again_and_its_new_holder_announced_to_running_reducers() {
        let (mut master, mut parts) = in_reduce_phase();
        // Reducer 1 (attempt 3) could not fetch map 1 from worker 2.
        master.on_message(
            &mut parts.ctx(),
            NodeId(1),
            Msg::OutputsLost {
                partition: 0,
                attempt: 3,
                missing: vec![(1, 2)],
            },
        );
        let effects = parts.take_effects();
        // Map 1 is executed again; the reduce is not reset (paper section 3.3: the
        // reducer keeps what it fetched). Resetting it would throw away its shuffle.
        assert_eq!(
            events(&effects),
            vec![MrEvent::TaskReset {
                kind: TaskKind::Map,
                task: 1,
                worker: 2,
                reason: ResetReason::FetchFailed
            }]
        );
        assert_eq!(master.running_on(1), Some((TaskKind::Reduce, 0, 3)));
        // Both workers' slots hold reduces: map 1 goes beside worker 1's (attempt 5).
        assert_eq!(
            sends(&effects),
            vec![(
                NodeId(1),
                Msg::AssignMap {
                    task: 1,
                    attempt: 5
                }
            )]
        );
        // Its completion is announced to each running reduce attempt.
        map_done(&mut master, &mut parts, 1, 1, 5);
        // Not one message per re-executed task and reducer: the announcement goes out
        // with the next heartbeat round, to each running reduce attempt.
        assert!(sends(&parts.take_effects()).is_empty());
        master.on_timer(&mut parts.ctx(), Timer::Heartbeat);
        let announced = |attempt| Msg::MapOutputsAt {
            attempt,
            outputs: vec![(1, 1)],
        };
        let told: Vec<(NodeId, Msg)> = sends(&parts.take_effects())
            .into_iter()
            .filter(|(_, msg)| matches!(msg, Msg::MapOutputsAt { .. }))
            .collect();
        assert_eq!(
            told,
            vec![(NodeId(1), announced(3)), (NodeId(2), announced(4))]
        );
        // Announced once: the next round has nothing to say.
        master.on_timer(&mut parts.ctx(), Timer::Heartbeat);
        assert!(
            !sends(&parts.take_effects())
                .iter()
                .any(|(_, msg)| matches!(msg, Msg::MapOutputsAt { .. }))
        );
        // A late reminder naming the old holder is answered with the new location,
        // not a second re-execution.
        master.on_message(
            &mut parts.ctx(),
            NodeId(1),
            Msg::OutputsLost {
                partition: 0,
                attempt: 3,
                missing: vec![(1, 7)],
            },
        );
        let effects = parts.take_effects();
        assert!(events(&effects).is_empty());
        assert_eq!(sends(&effects), vec![(NodeId(1), announced(3))]);
    }

    #[test]
    fn backup_of_the_last_running_task_goes_to_an_idle_worker() {
        // Three splits on two workers: when worker 2 has done tasks 1 and 2, only task
        // 0 still runs (1 <= max(1, 5% of 3)), so worker 2 gets a backup attempt of it.
        let mut master = Master::new(job(2, 3, 1, 30, |_| {}));
        let mut parts = started(&mut master, 2);
        map_done(&mut master, &mut parts, 2, 1, 2);
        parts.take_effects();
        map_done(&mut master, &mut parts, 2, 2, 3);
        let effects = parts.take_effects();
        assert_eq!(
            events(&effects),
            vec![MrEvent::BackupLaunched {
                kind: TaskKind::Map,
                task: 0,
                worker: 2
            }]
        );
        assert_eq!(
            sends(&effects),
            vec![(
                NodeId(2),
                Msg::AssignMap {
                    task: 0,
                    attempt: 4
                }
            )]
        );
        // The backup finishes first: the task's one operation (op 0) completes.
        map_done(&mut master, &mut parts, 2, 0, 4);
        let effects = parts.take_effects();
        assert_eq!(
            ops(&effects).first(),
            Some(&Observation::OpCompleted {
                op: 0,
                outcome: Outcome::Ok,
                ret: Value::Nil,
            })
        );
        // The slow primary's late report changes nothing but frees worker 1.
        map_done(&mut master, &mut parts, 1, 0, 1);
        assert!(ops(&parts.take_effects()).is_empty());
        assert_eq!(master.maps_done(), 3);
    }

    #[test]
    fn losing_backup_copy_is_abandoned_and_its_worker_runs_the_next_task_at_once() {
        // Three splits, two workers, two partitions: worker 2 finishes tasks 1 and 2
        // and gets a backup of task 0 (attempt 4) while worker 1 still runs attempt 1.
        let mut master = Master::new(job(2, 3, 2, 30, |_| {}));
        let mut parts = started(&mut master, 2);
        for (task, attempt) in [(1, 2), (2, 3)] {
            map_done(&mut master, &mut parts, 2, task, attempt);
        }
        parts.take_effects();
        map_done(&mut master, &mut parts, 2, 0, 4);
        let sent = sends(&parts.take_effects());
        // The backup won: worker 1 is told to stop attempt 1, and since the master
        // counts it free again it gets a reduce task in the same step, not after its
        // own (useless) map attempt would have ended. Without the abandonment worker 1
        // would get nothing here and the job would wait for the straggler's report.
        assert_eq!(sent[0], (NodeId(1), Msg::Abandon { attempt: 1 }));
        let reduces: Vec<(NodeId, u32)> = sent
            .iter()
            .filter_map(|(to, msg)| match msg {
                Msg::AssignReduce { partition, .. } => Some((*to, *partition)),
                _ => None,
            })
            .collect();
        assert_eq!(reduces, vec![(NodeId(1), 0), (NodeId(2), 1)]);
        // A late report of the abandoned attempt is not used: no second completion.
        map_done(&mut master, &mut parts, 1, 0, 1);
        assert!(ops(&parts.take_effects()).is_empty());
        assert_eq!(master.running_on(1), Some((TaskKind::Reduce, 0, 5)));
    }

    #[test]
    fn without_backups_an_idle_worker_waits() {
        let mut master = Master::new(job(2, 3, 1, 30, |c| c.backup_tasks = false));
        let mut parts = started(&mut master, 2);
        map_done(&mut master, &mut parts, 2, 1, 2);
        map_done(&mut master, &mut parts, 2, 2, 3);
        parts.take_effects();
        master.on_message(
            &mut parts.ctx(),
            NodeId(2),
            Msg::Pong {
                seq: 1,
                running: 0,
                reported: 3,
                more: Vec::new(),
            },
        );
        assert!(sends(&parts.take_effects()).is_empty());
        assert_eq!(master.running_on(2), None);
    }

    #[test]
    fn assignment_never_confirmed_is_written_off_after_the_failure_timeout() {
        let mut master = Master::new(job(1, 2, 1, 20, |_| {}));
        let mut parts = started(&mut master, 1);
        parts.take_effects();
        // 30 ms in, the worker says it runs nothing: the assignment may still be in
        // flight, so nothing happens yet.
        at(&mut parts, 30);
        master.on_message(
            &mut parts.ctx(),
            NodeId(1),
            Msg::Pong {
                seq: 3,
                running: 0,
                reported: 0,
                more: Vec::new(),
            },
        );
        assert!(parts.take_effects().is_empty());
        // 60 ms in (> 50 ms timeout), still nothing: the assignment was lost. The task
        // is reset and handed out again with a fresh attempt id.
        at(&mut parts, 60);
        master.on_message(
            &mut parts.ctx(),
            NodeId(1),
            Msg::Pong {
                seq: 6,
                running: 0,
                reported: 0,
                more: Vec::new(),
            },
        );
        let effects = parts.take_effects();
        assert_eq!(
            events(&effects),
            vec![MrEvent::TaskReset {
                kind: TaskKind::Map,
                task: 0,
                worker: 1,
                reason: ResetReason::AttemptLost
            }]
        );
        assert_eq!(
            sends(&effects),
            vec![(
                NodeId(1),
                Msg::AssignMap {
                    task: 0,
                    attempt: 2
                }
            )]
        );
    }

    #[test]
    fn failed_worker_that_answers_again_is_readmitted_with_fresh_work() {
        let (mut master, mut parts) = in_reduce_phase();
        at(&mut parts, 60);
        master.on_message(
            &mut parts.ctx(),
            NodeId(2),
            Msg::Pong {
                seq: 1,
                running: 4,
                reported: 2,
                more: Vec::new(),
            },
        );
        master.on_timer(&mut parts.ctx(), Timer::Heartbeat);
        parts.take_effects();
        assert!(!master.worker_alive(1));
        at(&mut parts, 70);
        master.on_message(
            &mut parts.ctx(),
            NodeId(1),
            Msg::Pong {
                seq: 2,
                running: 3,
                reported: 1,
                more: Vec::new(),
            },
        );
        let effects = parts.take_effects();
        assert_eq!(
            events(&effects),
            vec![MrEvent::WorkerReadmitted { worker: 1 }]
        );
        // The map task its failure made necessary already runs beside worker 2's
        // reduce (attempt 5): nothing to hand out until it completes.
        assert!(sends(&effects).is_empty());
        map_done(&mut master, &mut parts, 2, 0, 5);
        // Then the readmitted worker gets fresh work: the reduce its failure reset. Were
        // it still counted as failed (or busy with its old attempt 3), reduce 0 would
        // wait.
        let assigned: Vec<(NodeId, Msg)> = sends(&parts.take_effects())
            .into_iter()
            .filter(|(_, msg)| matches!(msg, Msg::AssignReduce { .. }))
            .collect();
        assert_eq!(assigned.len(), 1);
        assert_eq!(assigned[0].0, NodeId(1));
        assert!(matches!(
            assigned[0].1,
            Msg::AssignReduce {
                partition: 0,
                attempt: 6,
                ..
            }
        ));
    }

    #[test]
    fn last_partition_commit_finishes_the_job_and_stops_the_heartbeat() {
        let (mut master, mut parts) = in_reduce_phase();
        let counts = vec![(3, 2)];
        master.on_message(
            &mut parts.ctx(),
            NodeId(1),
            Msg::ReduceDone {
                partition: 0,
                attempt: 3,
                counts: counts.clone(),
                sorted: None,
            },
        );
        master.on_message(
            &mut parts.ctx(),
            NodeId(2),
            Msg::ReduceDone {
                partition: 1,
                attempt: 4,
                counts: Vec::new(),
                sorted: None,
            },
        );
        let effects = parts.take_effects();
        assert_eq!(
            events(&effects),
            vec![
                MrEvent::PartitionCommitted {
                    partition: 0,
                    counts
                },
                MrEvent::PartitionCommitted {
                    partition: 1,
                    counts: Vec::new()
                },
                MrEvent::JobDone,
            ]
        );
        assert_eq!(parts.durable.committed_partitions, 2);
        assert!(master.finished());
        master.on_timer(&mut parts.ctx(), Timer::Heartbeat);
        assert!(
            parts.take_effects().is_empty(),
            "no pings after the job is done"
        );
    }

    #[test]
    fn restarted_master_abandons_the_job() {
        // As in the paper, master failure is not tolerated: a master rebuilt from a
        // durable "started" flag must not start a second job (its output would be
        // committed twice) and must not ping anyone.
        let mut master = Master::new(job(2, 2, 1, 20, |_| {}));
        let mut parts = CtxParts::<MrNode>::new(NodeId(0), 3, 1);
        parts.durable = MrDurable {
            job_started: true,
            committed_partitions: 0,
        };
        master.on_start(&mut parts.ctx());
        let effects = parts.take_effects();
        assert_eq!(events(&effects), vec![MrEvent::MasterRestarted]);
        assert!(sends(&effects).is_empty() && timers(&effects).is_empty());
    }

    #[test]
    fn naive_master_sends_all_splits_round_robin_and_combines_at_the_deadline() {
        let job = job(2, 5, 2, 50, |c| {
            c.variant = super::super::Variant::SeedNaive
        });
        let mut master = NaiveMaster::new(job.clone());
        let mut parts = CtxParts::<MrNode>::new(NodeId(0), 3, 1);
        master.on_start(&mut parts.ctx());
        let effects = parts.take_effects();
        assert_eq!(
            sends(&effects),
            vec![
                (
                    NodeId(1),
                    Msg::NaiveAssign {
                        tasks: vec![0, 2, 4]
                    }
                ),
                (NodeId(2), Msg::NaiveAssign { tasks: vec![1, 3] }),
            ]
        );
        // Only split 0 arrives before the deadline: the other four are lost, and the
        // combined output is split 0's count alone.
        let counts = super::super::word_count(job.corpus.split(0));
        master.on_message(
            &mut parts.ctx(),
            NodeId(1),
            Msg::NaiveResult {
                task: 0,
                counts: counts.clone(),
            },
        );
        master.on_timer(&mut parts.ctx(), Timer::GatherDeadline);
        let effects = parts.take_effects();
        let failed = ops(&effects)
            .iter()
            .filter(|o| {
                matches!(
                    o,
                    Observation::OpCompleted {
                        outcome: Outcome::Fail("lost"),
                        ..
                    }
                )
            })
            .count();
        assert_eq!(failed, 4);
        let committed: u64 = events(&effects)
            .iter()
            .filter_map(|e| match e {
                MrEvent::PartitionCommitted { counts, .. } => {
                    Some(counts.iter().map(|c| c.1).sum::<u64>())
                }
                _ => None,
            })
            .sum();
        assert_eq!(committed, job.corpus.split(0).len() as u64);
        assert_eq!(events(&effects).last(), Some(&MrEvent::JobDone));
    }
}
