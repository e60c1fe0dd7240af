//! A worker: runs one task at a time, keeps map output on its local disk (volatile
//! state: lost in a crash), serves reducers' fetches, and answers the master's pings.

use super::{Job, LocalDisk, Locations, MapOutput, MrNode, Msg, Timer, merge_counts, word_count};
use dsim_core::{Ctx, NodeId, TimerId};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// A reducer asks each mapper this many times, `fetch_timeout` apart, before it
/// reports the mapper's outputs missing.
pub const FETCH_ROUNDS: u32 = 3;

/// The master's node id.
const MASTER: NodeId = NodeId(0);

#[derive(Debug)]
enum Work {
    Idle,
    Mapping {
        task: u32,
        attempt: u32,
        timer: TimerId,
    },
    Fetching(Box<Fetching>),
    Reducing {
        partition: u32,
        attempt: u32,
        counts: Vec<(u32, u64)>,
        timer: TimerId,
    },
}

#[derive(Debug)]
struct Fetching {
    partition: u32,
    attempt: u32,
    locations: Locations,
    /// Mappers not yet answered: worker id -> row of the location table.
    pending: BTreeMap<u32, usize>,
    received: Vec<(u32, u64)>,
    round: u32,
    timer: TimerId,
}

/// A worker node (`1..=W`).
#[derive(Debug)]
pub struct Worker {
    job: Arc<Job>,
    id: NodeId,
    /// The local disk: map outputs (volatile: a crash loses them).
    disk: LocalDisk,
    work: Work,
    /// Highest attempt id assigned to this worker; older assignments are stale copies.
    highest_attempt: u32,
    /// The last report, re-sent with pongs until the master acknowledges it.
    last_report: Option<Msg>,
    reported: u32,
    /// seed-naive: splits still to process, in order.
    naive_queue: VecDeque<u32>,
    naive_busy: bool,
}

impl Worker {
    /// Worker `id` of `job`, with an empty disk.
    pub fn new(id: NodeId, job: Arc<Job>) -> Worker {
        Worker {
            job,
            id,
            disk: LocalDisk::default(),
            work: Work::Idle,
            highest_attempt: 0,
            last_report: None,
            reported: 0,
            naive_queue: VecDeque::new(),
            naive_busy: false,
        }
    }

    /// Map tasks whose output is on this worker's disk.
    pub fn stored_outputs(&self) -> Vec<u32> {
        self.disk.tasks().to_vec()
    }

    /// The attempt being worked on, 0 when idle.
    pub fn running_attempt(&self) -> u32 {
        match &self.work {
            Work::Idle => 0,
            Work::Mapping { attempt, .. } | Work::Reducing { attempt, .. } => *attempt,
            Work::Fetching(fetching) => fetching.attempt,
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
                ctx.send(
                    MASTER,
                    Msg::Pong {
                        seq,
                        running: self.running_attempt(),
                        reported: self.reported,
                    },
                );
            }
            Msg::AssignMap { task, attempt } => {
                if !self.take_assignment(ctx, attempt) || task >= self.job.config.map_tasks {
                    return;
                }
                let words = self.job.corpus.split(task).len();
                let duration = self.job.config.map_duration(self.id, words);
                let timer = ctx.set_timer(duration, Timer::TaskDone { attempt });
                self.work = Work::Mapping {
                    task,
                    attempt,
                    timer,
                };
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
            } => {
                let mut tasks = tasks;
                if !tasks.is_sorted() {
                    tasks.sort_unstable();
                }
                let mut counts = Vec::new();
                let mut missing = Vec::new();
                self.disk.read(partition, &tasks, &mut counts, &mut missing);
                ctx.send(
                    source,
                    Msg::FetchReply {
                        partition,
                        attempt,
                        missing,
                        counts,
                    },
                );
            }
            Msg::FetchReply {
                attempt,
                missing,
                counts,
                ..
            } => self.on_fetch_reply(ctx, source, attempt, missing, counts),
            Msg::NaiveAssign { tasks } => {
                self.naive_queue.extend(tasks);
                if !self.naive_busy {
                    self.start_next_naive(ctx);
                }
            }
            _ => {}
        }
    }

    /// Handles the end of a simulated computation or a fetch timeout.
    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, MrNode>, timer: Timer) {
        match timer {
            Timer::TaskDone { attempt } if self.running_attempt() == attempt => {
                match std::mem::replace(&mut self.work, Work::Idle) {
                    Work::Mapping { task, .. } => {
                        // The real map work, done at the end of the simulated time.
                        let output = MapOutput::compute(
                            self.job.corpus.split(task),
                            self.job.config.reduce_tasks,
                        );
                        self.disk.store(task, &output);
                        self.report(ctx, attempt, Msg::MapDone { task, attempt });
                    }
                    Work::Reducing {
                        partition, counts, ..
                    } => {
                        self.report(
                            ctx,
                            attempt,
                            Msg::ReduceDone {
                                partition,
                                attempt,
                                counts,
                            },
                        );
                    }
                    other => self.work = other,
                }
            }
            Timer::FetchTimeout { attempt, round } => self.on_fetch_timeout(ctx, attempt, round),
            Timer::NaiveTaskDone { task } => {
                let counts = word_count(self.job.corpus.split(task));
                ctx.send(MASTER, Msg::NaiveResult { task, counts });
                self.start_next_naive(ctx);
            }
            _ => {}
        }
    }

    /// Accepts a fresh assignment: drops whatever this worker was doing (the master
    /// believes it idle, so that work is no longer wanted). False for a stale copy.
    fn take_assignment(&mut self, ctx: &mut Ctx<'_, MrNode>, attempt: u32) -> bool {
        if attempt <= self.highest_attempt {
            return false;
        }
        self.highest_attempt = attempt;
        match std::mem::replace(&mut self.work, Work::Idle) {
            Work::Idle => {}
            Work::Mapping { timer, .. } | Work::Reducing { timer, .. } => ctx.cancel_timer(timer),
            Work::Fetching(fetching) => ctx.cancel_timer(fetching.timer),
        }
        self.last_report = None;
        true
    }

    fn report(&mut self, ctx: &mut Ctx<'_, MrNode>, attempt: u32, msg: Msg) {
        self.work = Work::Idle;
        self.reported = attempt;
        self.last_report = Some(msg.clone());
        ctx.send(MASTER, msg);
    }

    /// Accepts a reduce assignment (unless stale) and asks every mapper for its share.
    fn start_fetching(
        &mut self,
        ctx: &mut Ctx<'_, MrNode>,
        partition: u32,
        attempt: u32,
        locations: Locations,
    ) {
        if !self.take_assignment(ctx, attempt) {
            return;
        }
        let table = Arc::clone(&locations.0);
        let mut received = Vec::new();
        let mut pending = BTreeMap::new();
        let mut missing = Vec::new();
        for (row, &holder) in table.workers.iter().enumerate() {
            let tasks = table.tasks_of(row);
            if holder == self.id.0 {
                // Our own disk: no message needed.
                let mut lost = Vec::new();
                self.disk.read(partition, tasks, &mut received, &mut lost);
                missing.extend(lost.into_iter().map(|task| (task, holder)));
            } else {
                ctx.send(
                    NodeId(holder),
                    Msg::Fetch {
                        partition,
                        attempt,
                        tasks: tasks.to_vec(),
                    },
                );
                pending.insert(holder, row);
            }
        }
        if !missing.is_empty() {
            self.report(
                ctx,
                attempt,
                Msg::ReduceFailed {
                    partition,
                    attempt,
                    missing,
                },
            );
        } else if pending.is_empty() {
            self.start_reducing(ctx, partition, attempt, received);
        } else {
            let timer = ctx.set_timer(
                self.job.config.fetch_timeout,
                Timer::FetchTimeout { attempt, round: 1 },
            );
            self.work = Work::Fetching(Box::new(Fetching {
                partition,
                attempt,
                locations,
                pending,
                received,
                round: 1,
                timer,
            }));
        }
    }

    fn on_fetch_reply(
        &mut self,
        ctx: &mut Ctx<'_, MrNode>,
        source: NodeId,
        attempt: u32,
        missing: Vec<u32>,
        counts: Vec<(u32, u64)>,
    ) {
        let Work::Fetching(fetching) = &mut self.work else {
            return;
        };
        if fetching.attempt != attempt || fetching.pending.remove(&source.0).is_none() {
            return; // A stale or duplicate reply.
        }
        if !missing.is_empty() {
            // The mapper lost these outputs (it restarted): the master must redo them.
            let partition = fetching.partition;
            ctx.cancel_timer(fetching.timer);
            let missing = missing.into_iter().map(|task| (task, source.0)).collect();
            self.report(
                ctx,
                attempt,
                Msg::ReduceFailed {
                    partition,
                    attempt,
                    missing,
                },
            );
            return;
        }
        fetching.received.extend(counts);
        if fetching.pending.is_empty() {
            ctx.cancel_timer(fetching.timer);
            let partition = fetching.partition;
            let received = std::mem::take(&mut fetching.received);
            self.start_reducing(ctx, partition, attempt, received);
        }
    }

    fn on_fetch_timeout(&mut self, ctx: &mut Ctx<'_, MrNode>, attempt: u32, round: u32) {
        let Work::Fetching(fetching) = &mut self.work else {
            return;
        };
        if fetching.attempt != attempt || fetching.round != round {
            return;
        }
        if round < FETCH_ROUNDS {
            for (&holder, &row) in &fetching.pending {
                ctx.send(
                    NodeId(holder),
                    Msg::Fetch {
                        partition: fetching.partition,
                        attempt,
                        tasks: fetching.locations.0.tasks_of(row).to_vec(),
                    },
                );
            }
            fetching.round = round + 1;
            fetching.timer = ctx.set_timer(
                self.job.config.fetch_timeout,
                Timer::FetchTimeout {
                    attempt,
                    round: round + 1,
                },
            );
            return;
        }
        let table = &fetching.locations.0;
        let missing = fetching
            .pending
            .iter()
            .flat_map(|(&holder, &row)| table.tasks_of(row).iter().map(move |&task| (task, holder)))
            .collect();
        let partition = fetching.partition;
        self.report(
            ctx,
            attempt,
            Msg::ReduceFailed {
                partition,
                attempt,
                missing,
            },
        );
    }

    fn start_reducing(
        &mut self,
        ctx: &mut Ctx<'_, MrNode>,
        partition: u32,
        attempt: u32,
        received: Vec<(u32, u64)>,
    ) {
        let records = received.len();
        // The real reduce work: sum per word, sorted by word.
        let counts = merge_counts(received);
        let duration = self.job.config.reduce_duration(self.id, records);
        let timer = ctx.set_timer(duration, Timer::TaskDone { attempt });
        self.work = Work::Reducing {
            partition,
            attempt,
            counts,
            timer,
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
    use super::super::{LocationTable, expected_partitions};
    use super::*;
    use dsim_core::{CtxParts, SimDuration};

    fn worker(id: u32, job: &Arc<Job>) -> (Worker, CtxParts<MrNode>) {
        let parts = CtxParts::<MrNode>::new(NodeId(id), job.config.workers as usize + 1, 1);
        (Worker::new(NodeId(id), Arc::clone(job)), parts)
    }

    /// Runs map task `task` as `attempt` to completion on `w`.
    fn run_map(w: &mut Worker, parts: &mut CtxParts<MrNode>, task: u32, attempt: u32) {
        w.on_message(&mut parts.ctx(), MASTER, Msg::AssignMap { task, attempt });
        w.on_timer(&mut parts.ctx(), Timer::TaskDone { attempt });
        parts.take_effects();
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
            vec![(
                SimDuration::from_millis(250),
                Timer::TaskDone { attempt: 1 }
            )]
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
            vec![(SimDuration::from_millis(10), Timer::TaskDone { attempt: 2 })]
        );
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
        // Task 3 never ran here (or was lost in a crash): the reducer must hear so.
        assert_eq!(
            sends(&parts.take_effects()),
            vec![(
                NodeId(2),
                Msg::FetchReply {
                    partition: 1,
                    attempt: 9,
                    missing: vec![3],
                    counts: pairs,
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
                }
            )]
        );
    }

    #[test]
    fn reducer_retries_a_silent_mapper_then_reports_its_outputs_missing() {
        let job = job(3, 2, 1, 20, |_| {});
        let (mut w, mut parts) = worker(1, &job);
        w.on_message(
            &mut parts.ctx(),
            MASTER,
            Msg::AssignReduce {
                partition: 0,
                attempt: 3,
                locations: locations(vec![(0, 2), (1, 3)]),
            },
        );
        parts.take_effects();
        // Worker 2 answers with nothing; worker 3 is dead.
        w.on_message(
            &mut parts.ctx(),
            NodeId(2),
            Msg::FetchReply {
                partition: 0,
                attempt: 3,
                missing: Vec::new(),
                counts: Vec::new(),
            },
        );
        for round in 1..FETCH_ROUNDS {
            w.on_timer(&mut parts.ctx(), Timer::FetchTimeout { attempt: 3, round });
            // Only the silent mapper is asked again.
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
                Msg::ReduceFailed {
                    partition: 0,
                    attempt: 3,
                    missing: vec![(1, 3)],
                }
            )]
        );
        assert_eq!(w.running_attempt(), 0);
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
                        reported: 5
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
                    reported: 5
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
