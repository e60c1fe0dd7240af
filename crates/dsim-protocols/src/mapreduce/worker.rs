//! A worker: runs one task at a time, keeps map output on its local disk (volatile
//! state: lost in a crash), serves reducers' fetches, and answers the master's pings.
//!
//! With a disk bandwidth (`disk_bytes_per_s`) the worker has two disks (as the paper's
//! machines did), each a FIFO resource: reading a split, writing a map output and
//! reading map output to serve a fetch hold the first for `bytes / bandwidth` (times
//! the machine's background load, the bad-disk factor and the attempt's variability),
//! one after the other; writing a reduce output holds the second (the paper's reducers
//! wrote to GFS, not to the disk the mappers' intermediate data sat on). A map attempt reads its split, computes, then writes its output; a reduce
//! attempt fetches, computes, then writes its output (`output_replicas` copies).

use super::{
    Job, JobKind, LocalDisk, Locations, MapOutput, MrNode, Msg, PAIR_BYTES, SortOutput, SortRun,
    Timer, merge_counts, model::scale, sort_run, untag, word_count,
};
use dsim_core::{Ctx, Delay, NodeId, Observation, SimDuration, SimTime, TimerId};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// A reducer asks each mapper this many times, `fetch_timeout` apart, before it
/// reports the mapper's outputs lost (and waits for the master to say where they were
/// produced again).
pub const FETCH_ROUNDS: u32 = 3;

/// The master's node id.
const MASTER: NodeId = NodeId(0);

/// Metric name of the bytes a map attempt reads from its split (the input flow of the
/// rate charts, the paper's Figure 3). Each transfer is observed as three metrics made
/// together by one node: its bytes (named by the flow), then
/// [`TRANSFER_START_NS`] and [`TRANSFER_END_NS`], the virtual times it spans.
pub const INPUT_BYTES: &str = "mr_input_bytes";
/// Metric name of the bytes a reduce attempt fetched (the shuffle flow), spanning the
/// first fetch sent to the last reply received.
pub const SHUFFLE_BYTES: &str = "mr_shuffle_bytes";
/// Metric name of the bytes a reduce attempt wrote, all replicas (the output flow).
pub const OUTPUT_BYTES: &str = "mr_output_bytes";
/// When the transfer just observed began, in ns of virtual time.
pub const TRANSFER_START_NS: &str = "mr_transfer_start_ns";
/// When the transfer just observed ended, in ns of virtual time.
pub const TRANSFER_END_NS: &str = "mr_transfer_end_ns";

/// Observes one transfer of `bytes` of flow `name` over `[start, end]`.
fn observe_transfer(
    ctx: &mut Ctx<'_, MrNode>,
    name: &'static str,
    bytes: u64,
    start: SimTime,
    end: SimTime,
) {
    ctx.observe(Observation::Metric { name, value: bytes });
    ctx.observe(Observation::Metric {
        name: TRANSFER_START_NS,
        value: start.0,
    });
    ctx.observe(Observation::Metric {
        name: TRANSFER_END_NS,
        value: end.0,
    });
}

#[derive(Debug)]
enum Work {
    Idle,
    Mapping {
        task: u32,
        attempt: u32,
        timer: TimerId,
        /// The attempt's own duration factor (1 without `task_time_sigma`).
        variability: f64,
        /// `Some` once computed: the output being written to disk.
        writing: Option<MapOutput>,
    },
    Fetching(Box<Fetching>),
    Reducing {
        partition: u32,
        attempt: u32,
        counts: Vec<(u32, u64)>,
        sorted: Option<SortOutput>,
        timer: TimerId,
        variability: f64,
        /// `Some` while the output is being written to the output disk.
        writing: Option<OutputWrite>,
    },
}

/// A reduce output being written: its bytes (all replicas) and when the write holds
/// the output disk.
#[derive(Clone, Copy, Debug)]
struct OutputWrite {
    bytes: u64,
    start: SimTime,
    end: SimTime,
}

#[derive(Debug)]
struct Fetching {
    partition: u32,
    attempt: u32,
    locations: Locations,
    /// Mappers not yet answered: worker id -> the map tasks still expected from it.
    pending: BTreeMap<u32, Vec<u32>>,
    /// Mappers not asked yet (with `fetch_parallelism`), in order: (worker id, row).
    waiting: VecDeque<(u32, usize)>,
    /// `have[t]`: the output of map task `t` is merged in (each one exactly once).
    have: Vec<bool>,
    /// Map tasks whose holder lost them or never answered (task -> that holder),
    /// reported to the master; waiting for [`Msg::MapOutputsAt`].
    lost: BTreeMap<u32, u32>,
    received: Vec<(u32, u64)>,
    runs: Vec<SortRun>,
    round: u32,
    /// The fetch timeout (none before the first fetch is sent).
    timer: Option<TimerId>,
    variability: f64,
    started: SimTime,
    /// When the disk has read this worker's own map outputs for the partition.
    local_read_done: SimTime,
}

/// The attempt `work` belongs to, 0 for none.
fn attempt_of(work: &Work) -> u32 {
    match work {
        Work::Idle => 0,
        Work::Mapping { attempt, .. } | Work::Reducing { attempt, .. } => *attempt,
        Work::Fetching(fetching) => fetching.attempt,
    }
}

/// Everything a reduce attempt gathered before it merges.
struct Fetched {
    received: Vec<(u32, u64)>,
    runs: Vec<SortRun>,
    variability: f64,
    started: SimTime,
    local_read_done: SimTime,
}

/// What a mapper sent back to a fetch.
struct Reply {
    served: Vec<u32>,
    missing: Vec<u32>,
    counts: Vec<(u32, u32, u64)>,
    runs: Vec<SortRun>,
}

/// A worker node (`1..=W`).
#[derive(Debug)]
pub struct Worker {
    job: Arc<Job>,
    id: NodeId,
    /// The local disk: map outputs (volatile: a crash loses them).
    disk: LocalDisk,
    work: Work,
    /// The attempts on the other task slots (`slots_per_worker` > 1), set aside while
    /// `work` is the one being handled.
    parked: Vec<Work>,
    /// Highest attempt id assigned to this worker; older assignments are stale copies.
    highest_attempt: u32,
    /// The last report, re-sent with pongs until the master acknowledges it.
    last_report: Option<Msg>,
    reported: u32,
    /// seed-naive: splits still to process, in order.
    naive_queue: VecDeque<u32>,
    naive_busy: bool,
    /// When the disk finishes the transfers queued on it.
    disk_free_at: SimTime,
    /// When the second disk, which takes reduce output, finishes its writes.
    output_disk_free_at: SimTime,
    /// The last disk reservation: (attempt, start, end); attempt 0 serves a fetch.
    reservation: Option<(u32, SimTime, SimTime)>,
    /// Fetch replies waiting for their disk read, in disk order.
    serving: VecDeque<(NodeId, Msg)>,
}

impl Worker {
    /// Worker `id` of `job`, with an empty disk.
    pub fn new(id: NodeId, job: Arc<Job>) -> Worker {
        Worker {
            job,
            id,
            disk: LocalDisk::default(),
            work: Work::Idle,
            parked: Vec::new(),
            highest_attempt: 0,
            last_report: None,
            reported: 0,
            naive_queue: VecDeque::new(),
            naive_busy: false,
            disk_free_at: SimTime::ZERO,
            output_disk_free_at: SimTime::ZERO,
            reservation: None,
            serving: VecDeque::new(),
        }
    }

    /// Map tasks whose output is on this worker's disk.
    pub fn stored_outputs(&self) -> Vec<u32> {
        self.disk.tasks().to_vec()
    }

    /// The attempt being worked on, 0 when idle.
    pub fn running_attempt(&self) -> u32 {
        attempt_of(&self.work)
    }

    /// Every attempt running on this worker's slots, in slot order.
    pub fn running_attempts(&self) -> Vec<u32> {
        std::iter::once(&self.work)
            .chain(&self.parked)
            .map(attempt_of)
            .filter(|&a| a != 0)
            .collect()
    }

    /// Makes `attempt`'s work the one handled (`work`), parking the one there; no
    /// change when `attempt` runs on no slot.
    fn select(&mut self, attempt: u32) {
        if attempt == 0 || attempt_of(&self.work) == attempt {
            return;
        }
        if let Some(index) = self.parked.iter().position(|w| attempt_of(w) == attempt) {
            let chosen = self.parked.remove(index);
            let previous = std::mem::replace(&mut self.work, chosen);
            if attempt_of(&previous) != 0 {
                self.parked.push(previous);
            }
        }
    }

    /// Workers wait for the master.
    pub fn on_start(&mut self, _ctx: &mut Ctx<'_, MrNode>) {}

    /// Handles a message from the master or another worker.
    pub fn on_message(&mut self, ctx: &mut Ctx<'_, MrNode>, source: NodeId, msg: Msg) {
        match msg {
            Msg::Ping { seq, acked } => {
                if self.reported <= acked {
                    self.last_report = None;
                } else if let Some(report) = &self.last_report {
                    ctx.send(MASTER, report.clone());
                }
                let mut running = self.running_attempts();
                let first = if running.is_empty() {
                    0
                } else {
                    running.remove(0)
                };
                ctx.send(
                    MASTER,
                    Msg::Pong {
                        seq,
                        running: first,
                        reported: self.reported,
                        more: running,
                    },
                );
            }
            Msg::AssignMap { task, attempt } => {
                // A map the master sends while every slot holds a reduce attempt is a
                // re-execution those reducers may be waiting for: it runs beside them.
                let beside_reduces = self.running_attempts().len()
                    == self.job.config.slots_per_worker as usize
                    && std::iter::once(&self.work).chain(&self.parked).all(|work| {
                        matches!(work, Work::Idle | Work::Fetching(_) | Work::Reducing { .. })
                    });
                if !self.take_assignment(ctx, attempt, beside_reduces)
                    || task >= self.job.config.map_tasks
                {
                    return;
                }
                self.start_map(ctx, task, attempt);
            }
            Msg::AssignReduce {
                partition,
                attempt,
                locations,
            } => self.start_fetching(ctx, partition, attempt, locations),
            Msg::Fetch {
                partition,
                attempt,
                tasks,
            } => self.serve_fetch(ctx, source, partition, attempt, tasks),
            Msg::FetchReply {
                attempt,
                served,
                missing,
                counts,
                runs,
                ..
            } => {
                self.select(attempt);
                let reply = Reply {
                    served,
                    missing,
                    counts,
                    runs,
                };
                self.on_fetch_reply(ctx, source, attempt, reply);
            }
            Msg::MapOutputsAt { attempt, outputs } if source == MASTER => {
                self.select(attempt);
                for (task, holder) in outputs {
                    self.on_map_output_at(ctx, attempt, task, holder);
                }
            }
            Msg::Abandon { attempt } if source == MASTER && attempt != 0 => {
                self.select(attempt);
                if self.running_attempt() == attempt {
                    self.drop_work(ctx);
                }
            }
            Msg::NaiveAssign { tasks } => {
                self.naive_queue.extend(tasks);
                if !self.naive_busy {
                    self.start_next_naive(ctx);
                }
            }
            _ => {}
        }
    }

    /// Handles the end of a simulated computation or transfer, or a fetch timeout.
    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, MrNode>, timer: Timer) {
        if let Timer::TaskDone { attempt } | Timer::FetchTimeout { attempt, .. } = timer {
            self.select(attempt);
        }
        match timer {
            Timer::TaskDone { attempt } if self.running_attempt() == attempt => {
                match std::mem::replace(&mut self.work, Work::Idle) {
                    Work::Mapping {
                        task,
                        variability,
                        writing: None,
                        ..
                    } => self.finish_map_compute(ctx, task, attempt, variability),
                    Work::Mapping {
                        task,
                        writing: Some(output),
                        ..
                    } => self.finish_map(ctx, task, attempt, &output),
                    Work::Reducing {
                        partition,
                        counts,
                        sorted,
                        variability,
                        writing: None,
                        ..
                    } => self.finish_reduce_compute(
                        ctx,
                        partition,
                        attempt,
                        counts,
                        sorted,
                        variability,
                    ),
                    Work::Reducing {
                        partition,
                        counts,
                        sorted,
                        writing: Some(write),
                        ..
                    } => {
                        // Observed once written: a losing copy abandoned mid-write
                        // never adds its bytes to the output flow.
                        observe_transfer(ctx, OUTPUT_BYTES, write.bytes, write.start, write.end);
                        self.report(
                            ctx,
                            attempt,
                            Msg::ReduceDone {
                                partition,
                                attempt,
                                counts,
                                sorted,
                            },
                        );
                    }
                    other => self.work = other,
                }
            }
            Timer::FetchTimeout { attempt, round } => self.on_fetch_timeout(ctx, attempt, round),
            Timer::FetchServed => {
                if let Some((target, reply)) = self.serving.pop_front() {
                    ctx.send(target, reply);
                }
            }
            Timer::NaiveTaskDone { task } => {
                let counts = word_count(self.job.corpus.split(task));
                ctx.send(MASTER, Msg::NaiveResult { task, counts });
                self.start_next_naive(ctx);
            }
            _ => {}
        }
    }

    /// The duration factor of a new attempt: lognormal with median 1 and
    /// `task_time_sigma`, drawn from this node's stream (no draw when sigma is 0).
    fn draw_variability(&self, ctx: &mut Ctx<'_, MrNode>) -> f64 {
        let sigma = self.job.config.task_time_sigma;
        if sigma == 0.0 {
            return 1.0;
        }
        let median_ns = 1e9;
        let draw = Delay::LogNormal { median_ns, sigma }.sample(ctx.rng());
        (draw.0 as f64 / median_ns).max(1e-9)
    }

    /// Queues `ns` of disk time for `attempt` (0: a fetch being served) and returns
    /// when it ends; `now` when there is nothing to do.
    fn use_disk(&mut self, now: SimTime, ns: u64, attempt: u32) -> SimTime {
        if ns == 0 {
            return now;
        }
        let start = self.disk_free_at.max(now);
        let end = start.saturating_add(SimDuration(ns));
        self.disk_free_at = end;
        self.reservation = Some((attempt, start, end));
        end
    }

    /// Queues `ns` on the output disk (reduce output only) and returns when it ends.
    fn use_output_disk(&mut self, now: SimTime, ns: u64) -> SimTime {
        let start = self.output_disk_free_at.max(now);
        let end = start.saturating_add(SimDuration(ns));
        self.output_disk_free_at = end;
        end
    }

    /// Stops the current attempt: its timers, and its disk time when it was the last
    /// queued (a transfer queued after it cannot move up), on either disk.
    fn drop_work(&mut self, ctx: &mut Ctx<'_, MrNode>) {
        let attempt = self.running_attempt();
        match std::mem::replace(&mut self.work, Work::Idle) {
            Work::Idle => {}
            Work::Mapping { timer, .. } => ctx.cancel_timer(timer),
            Work::Reducing { timer, writing, .. } => {
                ctx.cancel_timer(timer);
                if let Some(write) = writing
                    && self.output_disk_free_at == write.end
                {
                    // The rest of an abandoned output write is never written: the next
                    // reduce output on this machine does not wait for it.
                    self.output_disk_free_at = write.start.max(ctx.now());
                }
            }
            Work::Fetching(fetching) => {
                if let Some(timer) = fetching.timer {
                    ctx.cancel_timer(timer);
                }
            }
        }
        if let Some((owner, start, end)) = self.reservation
            && owner == attempt
            && attempt != 0
            && self.disk_free_at == end
        {
            self.disk_free_at = start.max(ctx.now());
            self.reservation = None;
        }
    }

    /// Accepts a fresh assignment onto a free slot: the current work is parked when a
    /// slot is free; when every slot is busy the master believes one free, so the
    /// oldest attempt (the lowest id) is no longer wanted and is dropped. With one slot
    /// that drops whatever this worker was doing. `extra`: a map sent while every slot
    /// holds a reduce attempt (a re-execution they may wait for) runs beside them
    /// instead. False for a stale copy.
    fn take_assignment(&mut self, ctx: &mut Ctx<'_, MrNode>, attempt: u32, extra: bool) -> bool {
        if attempt <= self.highest_attempt {
            return false;
        }
        self.highest_attempt = attempt;
        let busy = self.running_attempts();
        if busy.len() >= self.job.config.slots_per_worker as usize && !extra {
            if let Some(&oldest) = busy.iter().min() {
                self.select(oldest);
            }
            self.drop_work(ctx);
        }
        if attempt_of(&self.work) != 0 {
            let current = std::mem::replace(&mut self.work, Work::Idle);
            self.parked.push(current);
        }
        self.last_report = None;
        true
    }

    /// A map attempt: read the split from disk, then compute (one timer).
    fn start_map(&mut self, ctx: &mut Ctx<'_, MrNode>, task: u32, attempt: u32) {
        let variability = self.draw_variability(ctx);
        let now = ctx.now();
        let bytes = self.job.split_bytes(task);
        let read_ns = self.job.disk_ns(self.id, bytes, variability);
        let read_done = self.use_disk(now, read_ns, attempt);
        if read_ns > 0 {
            let start = SimTime(read_done.0 - read_ns);
            observe_transfer(ctx, INPUT_BYTES, bytes, start, read_done);
        }
        let units = self.job.split_units(task);
        let factor = self.job.machines.load(self.id) * variability;
        let compute = scale(self.job.config.map_duration(self.id, units).0, factor);
        let after = SimDuration(read_done.saturating_since(now).0.saturating_add(compute));
        let timer = ctx.set_timer(after, Timer::TaskDone { attempt });
        self.work = Work::Mapping {
            task,
            attempt,
            timer,
            variability,
            writing: None,
        };
    }

    /// The real map work, done at the end of the simulated read and compute; then the
    /// output is written to the local disk (at once without a disk model).
    fn finish_map_compute(
        &mut self,
        ctx: &mut Ctx<'_, MrNode>,
        task: u32,
        attempt: u32,
        variability: f64,
    ) {
        let (output, bytes) = match self.job.config.job {
            JobKind::WordCount => {
                let output =
                    MapOutput::compute(self.job.corpus.split(task), self.job.config.reduce_tasks);
                let bytes = output.entries().len() as u64 * PAIR_BYTES;
                (output, bytes)
            }
            // The sort's runs are derived from (seed, task, partition) when served.
            JobKind::Sort => (MapOutput::default(), self.job.split_bytes(task)),
        };
        let write_ns = self.job.disk_ns(self.id, bytes, variability);
        if write_ns == 0 {
            self.finish_map(ctx, task, attempt, &output);
            return;
        }
        let now = ctx.now();
        let done = self.use_disk(now, write_ns, attempt);
        let timer = ctx.set_timer(done.saturating_since(now), Timer::TaskDone { attempt });
        self.work = Work::Mapping {
            task,
            attempt,
            timer,
            variability,
            writing: Some(output),
        };
    }

    fn finish_map(
        &mut self,
        ctx: &mut Ctx<'_, MrNode>,
        task: u32,
        attempt: u32,
        output: &MapOutput,
    ) {
        self.disk.store(task, output);
        self.report(ctx, attempt, Msg::MapDone { task, attempt });
    }

    /// Serves a reducer's fetch from the local disk: the reply leaves once the disk has
    /// read the bytes it carries (at once without a disk model).
    fn serve_fetch(
        &mut self,
        ctx: &mut Ctx<'_, MrNode>,
        source: NodeId,
        partition: u32,
        attempt: u32,
        tasks: Vec<u32>,
    ) {
        let mut tasks = tasks;
        if !tasks.is_sorted() {
            tasks.sort_unstable();
        }
        let mut counts = Vec::new();
        let mut missing = Vec::new();
        self.disk.read(partition, &tasks, &mut counts, &mut missing);
        let runs: Vec<SortRun> = match self.job.config.job {
            JobKind::WordCount => Vec::new(),
            JobKind::Sort => tasks
                .iter()
                .filter(|&&task| self.disk.has(task) && partition < self.job.config.reduce_tasks)
                .map(|&task| sort_run(&self.job.config, self.job.seed, task, partition))
                .collect(),
        };
        let bytes = counts.len() as u64 * PAIR_BYTES + runs.iter().map(|r| r.bytes).sum::<u64>();
        let served = tasks
            .iter()
            .copied()
            .filter(|task| missing.binary_search(task).is_err())
            .collect();
        let reply = Msg::FetchReply {
            partition,
            attempt,
            served,
            missing,
            counts,
            runs,
        };
        let read_ns = self.job.disk_ns(self.id, bytes, 1.0);
        if read_ns == 0 {
            ctx.send(source, reply);
            return;
        }
        let now = ctx.now();
        let done = self.use_disk(now, read_ns, 0);
        self.serving.push_back((source, reply));
        ctx.set_timer(done.saturating_since(now), Timer::FetchServed);
    }

    fn report(&mut self, ctx: &mut Ctx<'_, MrNode>, attempt: u32, msg: Msg) {
        self.work = Work::Idle;
        self.reported = attempt;
        self.last_report = Some(msg.clone());
        ctx.send(MASTER, msg);
    }

    /// Accepts a reduce assignment (unless stale), reads its own map outputs from the
    /// local disk and asks the other mappers for their share.
    fn start_fetching(
        &mut self,
        ctx: &mut Ctx<'_, MrNode>,
        partition: u32,
        attempt: u32,
        locations: Locations,
    ) {
        if !self.take_assignment(ctx, attempt, false) {
            return;
        }
        let variability = self.draw_variability(ctx);
        let table = Arc::clone(&locations.0);
        let mut have = vec![false; self.job.config.map_tasks as usize];
        let mut received = Vec::new();
        let mut runs = Vec::new();
        let mut waiting = VecDeque::new();
        let mut lost = Vec::new();
        let mut local_bytes = 0;
        for (row, &holder) in table.workers.iter().enumerate() {
            let tasks = table.tasks_of(row);
            if holder == self.id.0 {
                // Our own disk: no message needed.
                let mut entries = Vec::new();
                let mut gone = Vec::new();
                self.disk.read(partition, tasks, &mut entries, &mut gone);
                received = untag(entries);
                for &task in tasks {
                    if !self.disk.has(task) {
                        continue;
                    }
                    have[task as usize] = true;
                    if self.job.config.job == JobKind::Sort {
                        runs.push(sort_run(&self.job.config, self.job.seed, task, partition));
                    }
                }
                local_bytes = received.len() as u64 * PAIR_BYTES
                    + runs.iter().map(|r: &SortRun| r.bytes).sum::<u64>();
                lost.extend(gone);
            } else {
                waiting.push_back((holder, row));
            }
        }
        // Each reducer starts its window at another mapper (rotated by partition):
        // were every reducer to ask mappers 1, 2, 3, ... in the same order, they would
        // all queue at the same few mappers and move through the cluster as a convoy.
        if !waiting.is_empty() && self.job.config.fetch_parallelism > 0 {
            let shift = partition as usize % waiting.len();
            waiting.rotate_left(shift);
        }
        let started = ctx.now();
        // Our own outputs are read from the local disk, like a served fetch.
        let local_ns = self.job.disk_ns(self.id, local_bytes, 1.0);
        let local_read_done = self.use_disk(started, local_ns, attempt);
        let mut fetching = Box::new(Fetching {
            partition,
            attempt,
            locations,
            pending: BTreeMap::new(),
            waiting,
            have,
            lost: BTreeMap::new(),
            received,
            runs,
            round: 1,
            timer: None,
            variability,
            started,
            local_read_done,
        });
        let holder = self.id.0;
        let lost: Vec<(u32, u32)> = lost.into_iter().map(|task| (task, holder)).collect();
        Self::mark_lost(ctx, &mut fetching, lost);
        self.work = Work::Fetching(fetching);
        self.fill_window(ctx);
        if let Work::Fetching(fetching) = &mut self.work {
            fetching.timer = Some(ctx.set_timer(
                self.job.config.fetch_timeout,
                Timer::FetchTimeout { attempt, round: 1 },
            ));
        }
    }

    /// Records `(task, holder)` outputs as lost and tells the master, which re-executes
    /// them (or says where they are now).
    fn mark_lost(ctx: &mut Ctx<'_, MrNode>, fetching: &mut Fetching, lost: Vec<(u32, u32)>) {
        let lost: Vec<(u32, u32)> = lost
            .into_iter()
            .filter(|&(task, _)| !fetching.have[task as usize])
            .collect();
        if lost.is_empty() {
            return;
        }
        fetching.lost.extend(lost.iter().copied());
        ctx.send(
            MASTER,
            Msg::OutputsLost {
                partition: fetching.partition,
                attempt: fetching.attempt,
                missing: lost,
            },
        );
    }

    /// Asks `holder` for `tasks` (those not merged yet) and adds them to what it owes.
    fn ask(ctx: &mut Ctx<'_, MrNode>, fetching: &mut Fetching, holder: u32, tasks: &[u32]) {
        let tasks: Vec<u32> = tasks
            .iter()
            .copied()
            .filter(|&task| !fetching.have[task as usize])
            .collect();
        if tasks.is_empty() {
            return;
        }
        ctx.send(
            NodeId(holder),
            Msg::Fetch {
                partition: fetching.partition,
                attempt: fetching.attempt,
                tasks: tasks.clone(),
            },
        );
        let owed = fetching.pending.entry(holder).or_default();
        owed.extend(tasks);
        owed.sort_unstable();
        owed.dedup();
    }

    /// Asks further mappers while fewer than `fetch_parallelism` (all of them when 0)
    /// owe a reply; starts the reduce once every map output is merged.
    fn fill_window(&mut self, ctx: &mut Ctx<'_, MrNode>) {
        let Work::Fetching(fetching) = &mut self.work else {
            return;
        };
        let window = match self.job.config.fetch_parallelism {
            0 => usize::MAX,
            n => n as usize,
        };
        while fetching.pending.len() < window
            && let Some((holder, row)) = fetching.waiting.pop_front()
        {
            let table = Arc::clone(&fetching.locations.0);
            Self::ask(ctx, fetching, holder, table.tasks_of(row));
        }
        if fetching.pending.is_empty() && fetching.waiting.is_empty() && fetching.lost.is_empty() {
            if let Some(timer) = fetching.timer.take() {
                ctx.cancel_timer(timer);
            }
            let (partition, attempt) = (fetching.partition, fetching.attempt);
            let fetched = Fetched {
                received: std::mem::take(&mut fetching.received),
                runs: std::mem::take(&mut fetching.runs),
                variability: fetching.variability,
                started: fetching.started,
                local_read_done: fetching.local_read_done,
            };
            self.start_reducing(ctx, partition, attempt, fetched);
        }
    }

    /// A mapper answered: merge the outputs not merged yet (a second copy of one map
    /// task's output is dropped), report the ones it lacks, ask the next mapper.
    fn on_fetch_reply(
        &mut self,
        ctx: &mut Ctx<'_, MrNode>,
        source: NodeId,
        attempt: u32,
        reply: Reply,
    ) {
        let Work::Fetching(fetching) = &mut self.work else {
            return;
        };
        if fetching.attempt != attempt {
            return; // A reply to an abandoned attempt.
        }
        let Some(owed) = fetching.pending.get_mut(&source.0) else {
            return; // A duplicate reply (to a re-sent fetch).
        };
        // Only what this mapper still owed can be lost there: a task asked elsewhere
        // since (it was executed again) is waited for from its new holder.
        let lost: Vec<(u32, u32)> = reply
            .missing
            .iter()
            .filter(|task| owed.binary_search(task).is_ok())
            .map(|&task| (task, source.0))
            .collect();
        owed.retain(|task| {
            reply.served.binary_search(task).is_err() && reply.missing.binary_search(task).is_err()
        });
        let answered = owed.is_empty();
        if answered {
            fetching.pending.remove(&source.0);
        }
        let new: Vec<u32> = reply
            .served
            .iter()
            .copied()
            .filter(|&task| !fetching.have[task as usize])
            .collect();
        for &task in &new {
            fetching.have[task as usize] = true;
            fetching.lost.remove(&task);
        }
        let is_new = |task: u32| new.binary_search(&task).is_ok();
        fetching.received.extend(
            reply
                .counts
                .iter()
                .filter(|&&(task, _, _)| is_new(task))
                .map(|&(_, word, count)| (word, count)),
        );
        fetching
            .runs
            .extend(reply.runs.iter().filter(|run| is_new(run.task)).copied());
        Self::mark_lost(ctx, fetching, lost);
        let waiting = fetching.waiting.len();
        self.fill_window(ctx);
        if let Work::Fetching(fetching) = &mut self.work
            && fetching.attempt == attempt
            && fetching.waiting.len() < waiting
        {
            // A window of fetch_parallelism fetches moved on to the next mapper: count
            // the timeout rounds afresh, since this mapper answered.
            if let Some(timer) = fetching.timer.take() {
                ctx.cancel_timer(timer);
            }
            fetching.round = 1;
            fetching.timer = Some(ctx.set_timer(
                self.job.config.fetch_timeout,
                Timer::FetchTimeout { attempt, round: 1 },
            ));
        }
    }

    /// The master says map task `task`'s output is on `holder` (it was executed again):
    /// fetch it from there unless it is merged already.
    fn on_map_output_at(
        &mut self,
        ctx: &mut Ctx<'_, MrNode>,
        attempt: u32,
        task: u32,
        holder: u32,
    ) {
        let Work::Fetching(fetching) = &mut self.work else {
            return;
        };
        if fetching.attempt != attempt
            || task >= self.job.config.map_tasks
            || fetching.have[task as usize]
        {
            return;
        }
        fetching.lost.remove(&task);
        if fetching
            .pending
            .get(&holder)
            .is_some_and(|owed| owed.binary_search(&task).is_ok())
        {
            return; // Already asked there.
        }
        // No longer expected from where it was: only the new copy is waited for.
        for owed in fetching.pending.values_mut() {
            owed.retain(|&t| t != task);
        }
        fetching.pending.retain(|_, owed| !owed.is_empty());
        if holder == self.id.0 {
            // Executed again on this very machine: read it from the local disk.
            let partition = fetching.partition;
            fetching.pending.entry(holder).or_default().push(task);
            let mut counts = Vec::new();
            let mut missing = Vec::new();
            self.disk
                .read(partition, &[task], &mut counts, &mut missing);
            let served = if missing.is_empty() {
                vec![task]
            } else {
                Vec::new()
            };
            let runs = match self.job.config.job {
                JobKind::Sort if missing.is_empty() => {
                    vec![sort_run(&self.job.config, self.job.seed, task, partition)]
                }
                _ => Vec::new(),
            };
            let reply = Reply {
                served,
                missing,
                counts,
                runs,
            };
            self.on_fetch_reply(ctx, self.id, attempt, reply);
            return;
        }
        Self::ask(ctx, fetching, holder, &[task]);
        self.fill_window(ctx);
    }

    /// A fetch round timed out: ask the silent mappers again; after [`FETCH_ROUNDS`]
    /// report their outputs lost, go on with the next mappers, and keep reminding the
    /// master of the outputs still lost (the report may have been lost).
    fn on_fetch_timeout(&mut self, ctx: &mut Ctx<'_, MrNode>, attempt: u32, round: u32) {
        let Work::Fetching(fetching) = &mut self.work else {
            return;
        };
        if fetching.attempt != attempt || fetching.round != round {
            return;
        }
        let next = if round < FETCH_ROUNDS && !fetching.pending.is_empty() {
            for (&holder, owed) in &fetching.pending {
                ctx.send(
                    NodeId(holder),
                    Msg::Fetch {
                        partition: fetching.partition,
                        attempt,
                        tasks: owed.clone(),
                    },
                );
            }
            round + 1
        } else {
            let silent = std::mem::take(&mut fetching.pending);
            let mut lost: Vec<(u32, u32)> = silent
                .into_iter()
                .flat_map(|(holder, owed)| owed.into_iter().map(move |task| (task, holder)))
                .collect();
            // Still lost from earlier rounds: say so again.
            lost.extend(std::mem::take(&mut fetching.lost));
            Self::mark_lost(ctx, fetching, lost);
            1
        };
        fetching.round = next;
        fetching.timer = Some(ctx.set_timer(
            self.job.config.fetch_timeout,
            Timer::FetchTimeout {
                attempt,
                round: next,
            },
        ));
        self.fill_window(ctx);
    }

    /// Every map output is here: merge (the real reduce work) and simulate its time,
    /// which starts once the local disk has read this worker's own outputs.
    fn start_reducing(
        &mut self,
        ctx: &mut Ctx<'_, MrNode>,
        partition: u32,
        attempt: u32,
        fetched: Fetched,
    ) {
        let Fetched {
            received,
            runs,
            variability,
            started,
            local_read_done,
        } = fetched;
        let now = ctx.now();
        let (records, sorted) = match self.job.config.job {
            JobKind::WordCount => (received.len(), None),
            JobKind::Sort => {
                let output = SortOutput::merge(&runs);
                (output.records as usize, Some(output))
            }
        };
        if self.job.config.disk_bytes_per_s > 0 {
            let fetched =
                received.len() as u64 * PAIR_BYTES + runs.iter().map(|r| r.bytes).sum::<u64>();
            observe_transfer(ctx, SHUFFLE_BYTES, fetched, started, now);
        }
        let counts = merge_counts(received);
        let factor = self.job.machines.load(self.id) * variability;
        let compute = scale(self.job.config.reduce_duration(self.id, records).0, factor);
        let wait = local_read_done.saturating_since(now).0;
        let timer = ctx.set_timer(
            SimDuration(wait.saturating_add(compute)),
            Timer::TaskDone { attempt },
        );
        self.work = Work::Reducing {
            partition,
            attempt,
            counts,
            sorted,
            timer,
            variability,
            writing: None,
        };
    }

    /// The reduce computation is over: write the output (`output_replicas` copies),
    /// then report (at once without a disk model).
    fn finish_reduce_compute(
        &mut self,
        ctx: &mut Ctx<'_, MrNode>,
        partition: u32,
        attempt: u32,
        counts: Vec<(u32, u64)>,
        sorted: Option<SortOutput>,
        variability: f64,
    ) {
        let bytes = match sorted {
            Some(output) => output.bytes,
            None => counts.len() as u64 * PAIR_BYTES,
        } * self.job.config.output_replicas;
        let write_ns = self.job.disk_ns(self.id, bytes, variability);
        if write_ns == 0 {
            self.report(
                ctx,
                attempt,
                Msg::ReduceDone {
                    partition,
                    attempt,
                    counts,
                    sorted,
                },
            );
            return;
        }
        let now = ctx.now();
        let done = self.use_output_disk(now, write_ns);
        let write = OutputWrite {
            bytes,
            start: SimTime(done.0 - write_ns),
            end: done,
        };
        let timer = ctx.set_timer(done.saturating_since(now), Timer::TaskDone { attempt });
        self.work = Work::Reducing {
            partition,
            attempt,
            counts,
            sorted,
            timer,
            variability,
            writing: Some(write),
        };
    }

    fn start_next_naive(&mut self, ctx: &mut Ctx<'_, MrNode>) {
        self.naive_busy = false;
        while let Some(task) = self.naive_queue.pop_front() {
            if task < self.job.config.map_tasks {
                let words = self.job.corpus.split(task).len();
                let duration = self.job.config.map_duration(self.id, words);
                ctx.set_timer(duration, Timer::NaiveTaskDone { task });
                self.naive_busy = true;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{job, sends, timers};
    use super::super::{JobConfig, LocationTable, expected_partitions};
    use super::JobKind;
    use super::*;
    use dsim_core::{CtxParts, SimDuration, SimTime};

    fn worker(id: u32, job: &Arc<Job>) -> (Worker, CtxParts<MrNode>) {
        let parts = CtxParts::<MrNode>::new(NodeId(id), job.config.workers as usize + 1, 1);
        (Worker::new(NodeId(id), Arc::clone(job)), parts)
    }

    /// The timer a worker sets for `attempt`'s next step, `ms` milliseconds ahead.
    fn task_done_after(ms: u64, attempt: u32) -> (SimDuration, Timer) {
        (SimDuration::from_millis(ms), Timer::TaskDone { attempt })
    }

    /// Runs map task `task` as `attempt` to completion on `w`.
    fn run_map(w: &mut Worker, parts: &mut CtxParts<MrNode>, task: u32, attempt: u32) {
        w.on_message(&mut parts.ctx(), MASTER, Msg::AssignMap { task, attempt });
        w.on_timer(&mut parts.ctx(), Timer::TaskDone { attempt });
        parts.take_effects();
    }

    /// Worker 1 of a sort of two 1 MB splits on a 1 MB/s disk with no CPU cost, having
    /// run map task 0 (attempt 1) to completion: it read its split from 0 to 1 s and
    /// wrote the output from 1 to 2 s; its clock stands at 2 s.
    fn disk_worker_with_map_zero_done() -> (Worker, CtxParts<MrNode>) {
        disk_worker_with_map_zero_done_and(|_| {})
    }

    /// [`disk_worker_with_map_zero_done`] with `tweak` applied to the job's config too.
    fn disk_worker_with_map_zero_done_and(
        tweak: impl FnOnce(&mut JobConfig),
    ) -> (Worker, CtxParts<MrNode>) {
        let job = job(2, 2, 1, 0, |c| {
            c.job = JobKind::Sort;
            c.input_bytes = 2_000_000;
            c.map_ns_per_word = 0;
            c.disk_bytes_per_s = 1_000_000;
            tweak(c);
        });
        let (mut w, mut parts) = worker(1, &job);
        w.on_message(
            &mut parts.ctx(),
            MASTER,
            Msg::AssignMap {
                task: 0,
                attempt: 1,
            },
        );
        parts.local_now = SimTime(1_000_000_000);
        w.on_timer(&mut parts.ctx(), Timer::TaskDone { attempt: 1 });
        parts.local_now = SimTime(2_000_000_000);
        w.on_timer(&mut parts.ctx(), Timer::TaskDone { attempt: 1 });
        (w, parts)
    }

    #[test]
    fn task_time_is_work_divided_by_speed() {
        // 40 words over 4 splits: 10 words at 1 ms each. Worker 1 is a straggler 25
        // times slower (250 ms), worker 2 runs at full speed (10 ms).
        let job = job(2, 4, 1, 40, |c| {
            c.slow_workers = 1;
            c.slow_factor = 25;
        });
        let (mut slow, mut slow_parts) = worker(1, &job);
        slow.on_message(
            &mut slow_parts.ctx(),
            MASTER,
            Msg::AssignMap {
                task: 0,
                attempt: 1,
            },
        );
        assert_eq!(
            timers(&slow_parts.take_effects()),
            vec![task_done_after(250, 1)]
        );
        let (mut fast, mut fast_parts) = worker(2, &job);
        fast.on_message(
            &mut fast_parts.ctx(),
            MASTER,
            Msg::AssignMap {
                task: 1,
                attempt: 2,
            },
        );
        assert_eq!(
            timers(&fast_parts.take_effects()),
            vec![task_done_after(10, 2)]
        );
    }

    #[test]
    fn a_bad_disk_slows_only_its_own_machines_disk_phases() {
        // Sort splits of 1 MB (10,000 records at 1 us each: 10 ms of CPU) on 1 MB/s
        // disks; one of four workers, drawn from the seed, has a disk 30 times slower.
        let job = job(4, 4, 1, 0, |c| {
            c.job = JobKind::Sort;
            c.input_bytes = 4_000_000;
            c.map_ns_per_word = 1_000;
            c.disk_bytes_per_s = 1_000_000;
            c.bad_disks = 1;
            c.bad_disk_factor = 30;
        });
        let bad = job.machines.bad_disks();
        assert_eq!(bad.len(), 1);
        for w in 1..=4 {
            let (mut worker, mut parts) = worker(w, &job);
            worker.on_message(
                &mut parts.ctx(),
                MASTER,
                Msg::AssignMap {
                    task: 0,
                    attempt: 1,
                },
            );
            // Read 1 s (30 s on the bad disk) then 10 ms of CPU, which the bad disk
            // does not slow: a slowdown applied to the whole task (slow_factor) would
            // give 30.3 s, and a bad disk on the wrong machine would show elsewhere.
            let read_ms = if bad.contains(&w) { 30_000 } else { 1_000 };
            assert_eq!(
                timers(&parts.take_effects()),
                vec![(
                    SimDuration::from_millis(read_ms + 10),
                    Timer::TaskDone { attempt: 1 }
                )],
                "worker {w}"
            );
            // Then the 1 MB output is written: 1 s, or 30 s on the bad disk.
            parts.local_now = SimTime((read_ms + 10) * 1_000_000);
            worker.on_timer(&mut parts.ctx(), Timer::TaskDone { attempt: 1 });
            assert_eq!(
                timers(&parts.take_effects()),
                vec![(
                    SimDuration::from_millis(read_ms),
                    Timer::TaskDone { attempt: 1 }
                )],
                "worker {w}"
            );
        }
    }

    #[test]
    fn a_fetch_waits_for_the_disk_behind_the_map_task_reading_before_it() {
        // The disk is one FIFO resource: a fetch of 1 MB arriving while a 1 MB split is
        // being read is served after it (1 s + 1 s), not in parallel.
        let (mut w, mut parts) = disk_worker_with_map_zero_done();
        assert_eq!(w.stored_outputs(), vec![0]);
        parts.take_effects();
        // Map task 1 starts reading its split (1 s); a reducer asks for map 0's output.
        w.on_message(
            &mut parts.ctx(),
            MASTER,
            Msg::AssignMap {
                task: 1,
                attempt: 2,
            },
        );
        w.on_message(
            &mut parts.ctx(),
            NodeId(2),
            Msg::Fetch {
                partition: 0,
                attempt: 3,
                tasks: vec![0],
            },
        );
        let effects = parts.take_effects();
        assert!(sends(&effects).is_empty(), "the reply waits for the disk");
        assert_eq!(
            timers(&effects)[1],
            (SimDuration::from_millis(2_000), Timer::FetchServed)
        );
        w.on_timer(&mut parts.ctx(), Timer::FetchServed);
        let replies = sends(&parts.take_effects());
        let Msg::FetchReply { runs, .. } = &replies[0].1 else {
            panic!("{replies:?}")
        };
        assert_eq!(runs[0].bytes, 1_000_000);
    }

    #[test]
    fn abandoned_attempt_stops_and_gives_back_its_disk_time() {
        // 1 MB splits on a 1 MB/s disk. Map 0 runs to completion (read 0-1 s, write
        // 1-2 s); map 1 starts reading at 2 s and holds the disk until 3 s, but is
        // abandoned at 2.1 s. A 1 MB fetch of map 0's output arriving then must be
        // served 2.1-3.1 s: were the dead read still holding the disk, until 4 s.
        let (mut w, mut parts) = disk_worker_with_map_zero_done();
        w.on_message(
            &mut parts.ctx(),
            MASTER,
            Msg::AssignMap {
                task: 1,
                attempt: 7,
            },
        );
        parts.take_effects();
        parts.local_now = SimTime(2_100_000_000);
        w.on_message(&mut parts.ctx(), MASTER, Msg::Abandon { attempt: 7 });
        assert_eq!(w.running_attempt(), 0);
        w.on_message(
            &mut parts.ctx(),
            NodeId(2),
            Msg::Fetch {
                partition: 0,
                attempt: 9,
                tasks: vec![0],
            },
        );
        assert_eq!(
            timers(&parts.take_effects()),
            vec![(SimDuration::from_millis(1_000), Timer::FetchServed)]
        );
        // The abandoned attempt's timer was cancelled: its late firing does nothing,
        // and no output of it is ever stored or reported.
        w.on_timer(&mut parts.ctx(), Timer::TaskDone { attempt: 7 });
        assert!(sends(&parts.take_effects()).is_empty());
        assert_eq!(w.stored_outputs(), vec![0]);
    }

    #[test]
    fn abandoned_reduce_copy_gives_back_its_output_disk_and_adds_no_output_bytes() {
        // A sort of two 1 MB splits on 1 MB/s disks, four output replicas, no CPU cost.
        // Map 0 is done (disk 0-2 s). Reduce attempt 5 reads its 1 MB run (2-3 s) and
        // starts writing 4 MB at 3 s (until 7 s), but loses to a backup and is
        // abandoned at 3.5 s. Attempt 6 reads 3.5-4.5 s and must write 4.5-8.5 s: were
        // the abandoned write still holding the output disk, 7-11 s (a timer of 6.5 s,
        // not 4 s). Only attempt 6's write is observed: the rate chart's output flow
        // must not count bytes a losing copy never wrote.
        let (mut w, mut parts) = disk_worker_with_map_zero_done_and(|c| {
            c.reduce_ns_per_record = 0;
            c.output_replicas = 4;
        });
        let second = |ms: u64| SimTime(ms * 1_000_000);
        let assign = |attempt: u32| Msg::AssignReduce {
            partition: 0,
            attempt,
            locations: locations(vec![(0, 1)]),
        };
        let output_bytes = |effects: &[dsim_core::Effect<MrNode>]| -> Vec<u64> {
            effects
                .iter()
                .filter_map(|e| match e {
                    dsim_core::Effect::Observe(Observation::Metric { name, value })
                        if *name == OUTPUT_BYTES =>
                    {
                        Some(*value)
                    }
                    _ => None,
                })
                .collect()
        };
        parts.take_effects();
        w.on_message(&mut parts.ctx(), MASTER, assign(5));
        assert_eq!(
            timers(&parts.take_effects()),
            vec![task_done_after(1_000, 5)]
        );
        parts.local_now = second(3_000);
        w.on_timer(&mut parts.ctx(), Timer::TaskDone { attempt: 5 });
        assert_eq!(
            timers(&parts.take_effects()),
            vec![task_done_after(4_000, 5)]
        );
        parts.local_now = second(3_500);
        w.on_message(&mut parts.ctx(), MASTER, Msg::Abandon { attempt: 5 });
        w.on_message(&mut parts.ctx(), MASTER, assign(6));
        let effects = parts.take_effects();
        assert!(output_bytes(&effects).is_empty());
        assert_eq!(timers(&effects), vec![task_done_after(1_000, 6)]);
        parts.local_now = second(4_500);
        w.on_timer(&mut parts.ctx(), Timer::TaskDone { attempt: 6 });
        assert_eq!(
            timers(&parts.take_effects()),
            vec![task_done_after(4_000, 6)]
        );
        parts.local_now = second(8_500);
        w.on_timer(&mut parts.ctx(), Timer::TaskDone { attempt: 6 });
        let effects = parts.take_effects();
        assert_eq!(output_bytes(&effects), vec![4_000_000]);
        assert!(matches!(
            sends(&effects)[..],
            [(MASTER, Msg::ReduceDone { attempt: 6, .. })]
        ));
    }

    #[test]
    fn with_fetch_parallelism_a_reducer_asks_a_window_of_mappers_starting_at_its_own_offset() {
        // Four remote mappers (workers 2-5), a window of 2, partition 1: the reducer asks
        // two mappers, starting one place along (partition 1 of 4 rows), and asks the
        // next only when one answers. Asking all four at once is what put three million
        // fetches in flight at paper scale; starting every reducer at mapper 2 is what
        // made them move through the cluster as one convoy.
        let job = job(5, 4, 2, 40, |c| c.fetch_parallelism = 2);
        let (mut w, mut parts) = worker(1, &job);
        w.on_message(
            &mut parts.ctx(),
            MASTER,
            Msg::AssignReduce {
                partition: 1,
                attempt: 3,
                locations: locations(vec![(0, 2), (1, 3), (2, 4), (3, 5)]),
            },
        );
        let asked = |effects: &[dsim_core::Effect<MrNode>]| -> Vec<NodeId> {
            sends(effects).iter().map(|(t, _)| *t).collect()
        };
        assert_eq!(asked(&parts.take_effects()), vec![NodeId(3), NodeId(4)]);
        let empty = |task: u32| Msg::FetchReply {
            partition: 1,
            attempt: 3,
            served: vec![task],
            missing: Vec::new(),
            counts: Vec::new(),
            runs: Vec::new(),
        };
        w.on_message(&mut parts.ctx(), NodeId(3), empty(1));
        assert_eq!(asked(&parts.take_effects()), vec![NodeId(5)]);
        w.on_message(&mut parts.ctx(), NodeId(4), empty(2));
        assert_eq!(asked(&parts.take_effects()), vec![NodeId(2)]);
        w.on_message(&mut parts.ctx(), NodeId(5), empty(3));
        w.on_message(&mut parts.ctx(), NodeId(2), empty(0));
        // All four answered: the reduce computation starts (its timer is set).
        assert!(matches!(w.work, Work::Reducing { .. }));
    }

    #[test]
    fn finished_map_is_reported_and_stays_on_the_local_disk() {
        let job = job(2, 4, 1, 40, |_| {});
        let (mut w, mut parts) = worker(1, &job);
        w.on_message(
            &mut parts.ctx(),
            MASTER,
            Msg::AssignMap {
                task: 2,
                attempt: 7,
            },
        );
        parts.take_effects();
        assert_eq!(w.running_attempt(), 7);
        w.on_timer(&mut parts.ctx(), Timer::TaskDone { attempt: 7 });
        // Only a tiny report goes to the master: the output stays here.
        assert_eq!(
            sends(&parts.take_effects()),
            vec![(
                MASTER,
                Msg::MapDone {
                    task: 2,
                    attempt: 7
                }
            )]
        );
        assert_eq!(w.stored_outputs(), vec![2]);
        assert_eq!(w.running_attempt(), 0);
    }

    #[test]
    fn fetch_is_served_from_disk_and_lost_outputs_are_named() {
        let job = job(2, 4, 2, 40, |_| {});
        let (mut w, mut parts) = worker(1, &job);
        run_map(&mut w, &mut parts, 0, 1);
        w.on_message(
            &mut parts.ctx(),
            NodeId(2),
            Msg::Fetch {
                partition: 1,
                attempt: 9,
                tasks: vec![0, 3],
            },
        );
        let expected = MapOutput::compute(job.corpus.split(0), 2);
        let mut pairs = Vec::new();
        expected.append_partition(1, &mut pairs);
        let tagged = pairs
            .into_iter()
            .map(|(word, count)| (0, word, count))
            .collect();
        // Task 3 never ran here (or was lost in a crash): the reducer must hear so.
        assert_eq!(
            sends(&parts.take_effects()),
            vec![(
                NodeId(2),
                Msg::FetchReply {
                    partition: 1,
                    attempt: 9,
                    served: vec![0],
                    missing: vec![3],
                    counts: tagged,
                    runs: Vec::new(),
                }
            )]
        );
    }

    fn locations(pairs: Vec<(u32, u32)>) -> Locations {
        Locations(Arc::new(LocationTable::from_pairs(pairs)))
    }

    #[test]
    fn reducer_fetches_from_every_mapper_and_reports_the_sorted_sum() {
        // Worker 1 holds map 0 itself; maps 1 and 2 are on worker 2, map 3 on worker 3.
        let job = job(3, 4, 2, 80, |_| {});
        let (mut w, mut parts) = worker(1, &job);
        run_map(&mut w, &mut parts, 0, 1);
        let (mut w2, mut parts2) = worker(2, &job);
        run_map(&mut w2, &mut parts2, 1, 2);
        run_map(&mut w2, &mut parts2, 2, 3);
        let (mut w3, mut parts3) = worker(3, &job);
        run_map(&mut w3, &mut parts3, 3, 4);
        let table = locations(vec![(0, 1), (1, 2), (2, 2), (3, 3)]);
        w.on_message(
            &mut parts.ctx(),
            MASTER,
            Msg::AssignReduce {
                partition: 1,
                attempt: 5,
                locations: table,
            },
        );
        let effects = parts.take_effects();
        let fetches = sends(&effects);
        // One fetch per other mapper (its own disk is read directly).
        assert_eq!(
            fetches.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
            vec![NodeId(2), NodeId(3)]
        );
        assert_eq!(
            timers(&effects),
            vec![(
                SimDuration::from_millis(20),
                Timer::FetchTimeout {
                    attempt: 5,
                    round: 1
                }
            )]
        );
        for (target, msg) in fetches {
            let (mapper, mapper_parts) = if target == NodeId(2) {
                (&mut w2, &mut parts2)
            } else {
                (&mut w3, &mut parts3)
            };
            mapper.on_message(&mut mapper_parts.ctx(), NodeId(1), msg);
            for (_, reply) in sends(&mapper_parts.take_effects()) {
                w.on_message(&mut parts.ctx(), target, reply);
            }
        }
        let effects = parts.take_effects();
        let (_, reduce_timer) = timers(&effects)[0];
        assert_eq!(reduce_timer, Timer::TaskDone { attempt: 5 });
        w.on_timer(&mut parts.ctx(), reduce_timer);
        let expected = expected_partitions(job.corpus.words(), job.config.vocabulary, 2);
        // Exactly the sequential count's partition 1, sorted by word.
        assert_eq!(
            sends(&parts.take_effects()),
            vec![(
                MASTER,
                Msg::ReduceDone {
                    partition: 1,
                    attempt: 5,
                    counts: expected[1].clone(),
                    sorted: None,
                }
            )]
        );
    }

    #[test]
    fn reducer_that_lost_a_mapper_mid_shuffle_finishes_from_the_re_executed_copy() {
        // Map 0 is on worker 2, map 1 on worker 3, which dies after the reducer (worker
        // 1) asked it. The reducer keeps map 0's output, reports map 1 lost, and when
        // the master says map 1 ran again on worker 4 it fetches only that from there.
        let job = job(4, 2, 2, 40, |_| {});
        let (mut w, mut parts) = worker(1, &job);
        let (mut w2, mut parts2) = worker(2, &job);
        run_map(&mut w2, &mut parts2, 0, 1);
        let (mut w4, mut parts4) = worker(4, &job);
        run_map(&mut w4, &mut parts4, 1, 2);
        w.on_message(
            &mut parts.ctx(),
            MASTER,
            Msg::AssignReduce {
                partition: 0,
                attempt: 3,
                locations: locations(vec![(0, 2), (1, 3)]),
            },
        );
        let fetches = sends(&parts.take_effects());
        assert_eq!(fetches.len(), 2);
        // Worker 2 answers (twice: a duplicated reply must not double map 0's counts).
        let (_, to_2) = fetches
            .iter()
            .find(|(t, _)| *t == NodeId(2))
            .unwrap()
            .clone();
        w2.on_message(&mut parts2.ctx(), NodeId(1), to_2);
        let replies = sends(&parts2.take_effects());
        assert_eq!(replies.len(), 1);
        w.on_message(&mut parts.ctx(), NodeId(2), replies[0].1.clone());
        w.on_message(&mut parts.ctx(), NodeId(2), replies[0].1.clone());
        parts.take_effects();
        // Worker 3 stays silent: asked again each round, then reported lost.
        for round in 1..FETCH_ROUNDS {
            w.on_timer(&mut parts.ctx(), Timer::FetchTimeout { attempt: 3, round });
            let again: Vec<NodeId> = sends(&parts.take_effects())
                .iter()
                .map(|(t, _)| *t)
                .collect();
            assert_eq!(again, vec![NodeId(3)], "round {round}");
        }
        w.on_timer(
            &mut parts.ctx(),
            Timer::FetchTimeout {
                attempt: 3,
                round: FETCH_ROUNDS,
            },
        );
        assert_eq!(
            sends(&parts.take_effects()),
            vec![(
                MASTER,
                Msg::OutputsLost {
                    partition: 0,
                    attempt: 3,
                    missing: vec![(1, 3)],
                }
            )]
        );
        // The attempt carries on: it was not given up (the old model restarted it).
        assert_eq!(w.running_attempt(), 3);
        // The master announces map 1's new copy (twice: the second is ignored).
        let at = Msg::MapOutputsAt {
            attempt: 3,
            outputs: vec![(1, 4)],
        };
        w.on_message(&mut parts.ctx(), MASTER, at.clone());
        w.on_message(&mut parts.ctx(), MASTER, at);
        let fetches = sends(&parts.take_effects());
        assert_eq!(
            fetches,
            vec![(
                NodeId(4),
                Msg::Fetch {
                    partition: 0,
                    attempt: 3,
                    tasks: vec![1],
                }
            )]
        );
        w4.on_message(&mut parts4.ctx(), NodeId(1), fetches[0].1.clone());
        for (_, reply) in sends(&parts4.take_effects()) {
            w.on_message(&mut parts.ctx(), NodeId(4), reply);
        }
        let effects = parts.take_effects();
        let reduce_timer = timers(&effects)
            .into_iter()
            .map(|(_, t)| t)
            .find(|t| *t == Timer::TaskDone { attempt: 3 })
            .expect("the reduce starts once map 1's copy is in");
        w.on_timer(&mut parts.ctx(), reduce_timer);
        let expected = expected_partitions(job.corpus.words(), job.config.vocabulary, 2);
        // Exactly the sequential count's partition 0: map 0 once (despite its doubled
        // reply), map 1 once (from worker 4). A dropped or doubled output would change
        // the counts.
        assert_eq!(
            sends(&parts.take_effects()),
            vec![(
                MASTER,
                Msg::ReduceDone {
                    partition: 0,
                    attempt: 3,
                    counts: expected[0].clone(),
                    sorted: None,
                }
            )]
        );
    }

    #[test]
    fn stale_copy_of_an_old_assignment_does_not_replace_the_current_one() {
        // A duplicated AssignMap from the past arriving late would otherwise make the
        // worker drop the task the master now expects from it.
        let job = job(1, 4, 1, 40, |_| {});
        let (mut w, mut parts) = worker(1, &job);
        w.on_message(
            &mut parts.ctx(),
            MASTER,
            Msg::AssignMap {
                task: 1,
                attempt: 5,
            },
        );
        w.on_message(
            &mut parts.ctx(),
            MASTER,
            Msg::AssignMap {
                task: 0,
                attempt: 3,
            },
        );
        w.on_message(
            &mut parts.ctx(),
            MASTER,
            Msg::AssignMap {
                task: 1,
                attempt: 5,
            },
        );
        assert_eq!(w.running_attempt(), 5);
        assert_eq!(timers(&parts.take_effects()).len(), 1);
    }

    #[test]
    fn unacknowledged_report_is_sent_again_with_each_pong() {
        let job = job(1, 4, 1, 40, |_| {});
        let (mut w, mut parts) = worker(1, &job);
        run_map(&mut w, &mut parts, 1, 5);
        w.on_message(&mut parts.ctx(), MASTER, Msg::Ping { seq: 1, acked: 4 });
        // The MapDone may have been lost: it goes out again before the pong.
        assert_eq!(
            sends(&parts.take_effects()),
            vec![
                (
                    MASTER,
                    Msg::MapDone {
                        task: 1,
                        attempt: 5
                    }
                ),
                (
                    MASTER,
                    Msg::Pong {
                        seq: 1,
                        running: 0,
                        reported: 5,
                        more: Vec::new(),
                    }
                ),
            ]
        );
        w.on_message(&mut parts.ctx(), MASTER, Msg::Ping { seq: 2, acked: 5 });
        assert_eq!(
            sends(&parts.take_effects()),
            vec![(
                MASTER,
                Msg::Pong {
                    seq: 2,
                    running: 0,
                    reported: 5,
                    more: Vec::new(),
                }
            )]
        );
    }

    #[test]
    fn naive_worker_processes_its_splits_one_after_the_other() {
        let job = job(1, 3, 1, 30, |_| {});
        let (mut w, mut parts) = worker(1, &job);
        w.on_message(
            &mut parts.ctx(),
            MASTER,
            Msg::NaiveAssign { tasks: vec![0, 2] },
        );
        assert_eq!(
            timers(&parts.take_effects()),
            vec![(
                SimDuration::from_millis(10),
                Timer::NaiveTaskDone { task: 0 }
            )]
        );
        w.on_timer(&mut parts.ctx(), Timer::NaiveTaskDone { task: 0 });
        let effects = parts.take_effects();
        assert_eq!(
            sends(&effects),
            vec![(
                MASTER,
                Msg::NaiveResult {
                    task: 0,
                    counts: word_count(job.corpus.split(0)),
                }
            )]
        );
        assert_eq!(
            timers(&effects),
            vec![(
                SimDuration::from_millis(10),
                Timer::NaiveTaskDone { task: 2 }
            )]
        );
    }
}
