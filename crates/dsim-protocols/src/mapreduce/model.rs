//! The job's bytes and the machines' speeds: the sizes of splits, intermediate files and
//! outputs, the abstract records of the sort job, and what each worker machine is like
//! (its background load and whether its disk is bad). Everything here is a pure
//! function of the configuration and the run's seed, so the workers, the master and the
//! checker compute the same values independently.

use super::{JobConfig, mix64};
use dsim_core::NodeId;

/// Which job the cluster runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    /// Word count over a Zipf corpus (`job = "wordcount"`, the default).
    WordCount,
    /// The sort benchmark of the paper's section 5.3 (`job = "sort"`): abstract
    /// fixed-size records, range-partitioned into `R` balanced partitions.
    Sort,
}

impl JobKind {
    /// The job named by the `job` key.
    pub fn from_name(name: &str) -> JobKind {
        match name {
            "sort" => JobKind::Sort,
            _ => JobKind::WordCount,
        }
    }
}

/// What one map task's output holds for one partition in the sort job (a *run* of
/// sorted records): how many records, their bytes and a checksum of their contents.
/// The records never exist one by one: 1 TB cannot be materialised, and the run's
/// identity is enough to tell a dropped or doubled map output from a correct merge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct SortRun {
    /// The map task that produced it.
    pub task: u32,
    /// Records in the run.
    pub records: u64,
    /// Bytes in the run (`records × record_bytes`).
    pub bytes: u64,
    /// A digest of the run's records.
    pub checksum: u64,
}

/// A sorted partition as a reducer writes it: the merge of one run from every map task.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SortOutput {
    /// Records in the partition.
    pub records: u64,
    /// Bytes in the partition.
    pub bytes: u64,
    /// Wrapping sum of the runs' checksums: a run merged twice or never changes it.
    pub checksum: u64,
}

impl SortOutput {
    /// The merge of `runs`.
    pub fn merge<'a>(runs: impl IntoIterator<Item = &'a SortRun>) -> SortOutput {
        let mut output = SortOutput::default();
        for run in runs {
            output.records += run.records;
            output.bytes += run.bytes;
            output.checksum = output.checksum.wrapping_add(run.checksum);
        }
        output
    }
}

/// Tags separating the seeded draws of this module from each other.
const TAG_RUN: u64 = 0x736f_7274_5f72_756e;
const TAG_LOAD: u64 = 0x6c6f_6164_5f6d_6163;
const TAG_DISK: u64 = 0x6261_645f_6469_736b;

/// A uniform value in `[0, 1)` from a 64-bit hash (its top 53 bits).
fn unit(hash: u64) -> f64 {
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

/// Records in the whole sort input: `input_bytes / record_bytes`.
pub fn sort_records(config: &JobConfig) -> u64 {
    config.input_bytes / config.record_bytes
}

/// Records in split `task` of the sort input: the records divided as evenly as they go,
/// the first splits one record longer.
pub fn split_records(config: &JobConfig, task: u32) -> u64 {
    let total = sort_records(config);
    let maps = u64::from(config.map_tasks);
    total / maps + u64::from(u64::from(task) < total % maps)
}

/// The run of map task `task` for partition `partition` in the sort job of `seed`.
///
/// Range partitioning over uniformly random keys puts a multinomial share of each split
/// into each partition, equal in expectation. Modelled as: the split's records divided
/// evenly (the remainder rotated by task, so no partition always gets it), then each
/// pair of neighbouring partitions `(2k, 2k + 1)` trades up to an eighth of the share,
/// drawn from the seed; the trade is zero-sum, so the runs of a split add up to the
/// split exactly.
pub fn sort_run(config: &JobConfig, seed: u64, task: u32, partition: u32) -> SortRun {
    let n = split_records(config, task);
    let reduces = u64::from(config.reduce_tasks);
    let base = n / reduces;
    let rotated = (u64::from(partition) + u64::from(task)) % reduces;
    let mut records = base + u64::from(rotated < n % reduces);
    let pair = partition / 2;
    let has_partner = partition ^ 1 < config.reduce_tasks;
    if has_partner {
        let h = mix64(seed ^ TAG_RUN ^ (u64::from(task) << 32) ^ u64::from(pair));
        let trade = (h >> 1) % (base / 8 + 1);
        let even_gains = h & 1 == 0;
        if partition.is_multiple_of(2) == even_gains {
            records += trade;
        } else {
            records -= trade;
        }
    }
    let checksum =
        mix64(seed ^ TAG_RUN.rotate_left(7) ^ (u64::from(task) << 32) ^ u64::from(partition))
            ^ records;
    SortRun {
        task,
        records,
        bytes: records * config.record_bytes,
        checksum,
    }
}

/// What every partition of the sort job of `seed` must hold: the merge of every map
/// task's run, computed sequentially.
pub fn expected_sort(config: &JobConfig, seed: u64) -> Vec<SortOutput> {
    (0..config.reduce_tasks)
        .map(|partition| {
            let runs: Vec<SortRun> = (0..config.map_tasks)
                .map(|task| sort_run(config, seed, task, partition))
                .collect();
            SortOutput::merge(&runs)
        })
        .collect()
}

/// The machines of one run: per worker, its background-load factor and whether its disk
/// is bad. Index `w - 1` for worker node `w`.
#[derive(Clone, Debug, PartialEq)]
pub struct Machines {
    /// Every duration on the machine is multiplied by this (at least 1): other jobs
    /// competing for it (the paper's section 3.6).
    pub load_factor: Vec<f64>,
    /// Whether the machine's disk is bad.
    pub bad_disk: Vec<bool>,
}

impl Machines {
    /// The machines of the run with `seed`: `bad_disks` of them drawn by the seed (the
    /// workers with the smallest seeded hashes), and a background load factor
    /// `1 + background_load × u`, `u` uniform in `[0, 1)` per machine.
    pub fn new(config: &JobConfig, seed: u64) -> Machines {
        let workers = config.workers as usize;
        let load_factor = (1..=config.workers)
            .map(|w| 1.0 + config.background_load * unit(mix64(seed ^ TAG_LOAD ^ u64::from(w))))
            .collect();
        let mut order: Vec<(u64, u32)> = (1..=config.workers)
            .map(|w| (mix64(seed ^ TAG_DISK ^ u64::from(w)), w))
            .collect();
        order.sort_unstable();
        let mut bad_disk = vec![false; workers];
        for &(_, w) in order.iter().take(config.bad_disks as usize) {
            bad_disk[w as usize - 1] = true;
        }
        Machines {
            load_factor,
            bad_disk,
        }
    }

    /// The workers with a bad disk, ascending.
    pub fn bad_disks(&self) -> Vec<u32> {
        (0..self.bad_disk.len())
            .filter(|&i| self.bad_disk[i])
            .map(|i| i as u32 + 1)
            .collect()
    }

    /// Whether `node` has a bad disk.
    pub fn has_bad_disk(&self, node: NodeId) -> bool {
        node.0 >= 1 && self.bad_disk.get(node.0 as usize - 1).copied() == Some(true)
    }

    /// `node`'s background-load factor (1 for the master).
    pub fn load(&self, node: NodeId) -> f64 {
        if node.0 == 0 {
            return 1.0;
        }
        self.load_factor
            .get(node.0 as usize - 1)
            .copied()
            .unwrap_or(1.0)
    }
}

/// Nanoseconds `bytes` take on a disk of `bytes_per_s`, times `factor`, rounded up;
/// zero when the disk model is off (`bytes_per_s = 0`).
pub fn disk_ns(bytes: u64, bytes_per_s: u64, factor: f64) -> u64 {
    if bytes_per_s == 0 || bytes == 0 {
        return 0;
    }
    let ns = (u128::from(bytes) * 1_000_000_000).div_ceil(u128::from(bytes_per_s));
    scale(u64::try_from(ns).unwrap_or(u64::MAX), factor)
}

/// `ns × factor`, rounded to the nearest nanosecond; exactly `ns` for a factor of 1.
pub fn scale(ns: u64, factor: f64) -> u64 {
    if factor == 1.0 {
        return ns;
    }
    let scaled = (ns as f64 * factor).round();
    if scaled >= super::MAX_TASK_NS as f64 {
        super::MAX_TASK_NS
    } else {
        scaled as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapreduce::Variant;

    fn sort_config(maps: u32, reduces: u32, records: u64) -> JobConfig {
        let mut config = JobConfig::defaults(5, Variant::Correct);
        config.job = JobKind::Sort;
        config.map_tasks = maps;
        config.reduce_tasks = reduces;
        config.record_bytes = 100;
        config.input_bytes = records * 100;
        config
    }

    #[test]
    fn a_splits_runs_add_up_to_the_split_and_partitions_are_balanced() {
        // 7 splits of 10,000 records into 6 partitions: each split's runs must sum to
        // the split exactly (a run model that lost or invented records would let the
        // checker's expectation drift from the input), and every partition must hold
        // about 70,000 / 6 = 11,667 records (range partitions are balanced).
        let config = sort_config(7, 6, 70_000);
        for task in 0..7 {
            let total: u64 = (0..6).map(|p| sort_run(&config, 9, task, p).records).sum();
            assert_eq!(total, 10_000, "split {task}");
        }
        let expected = expected_sort(&config, 9);
        assert_eq!(expected.iter().map(|o| o.records).sum::<u64>(), 70_000);
        for output in &expected {
            assert!(
                (10_500..=12_800).contains(&output.records),
                "{output:?} is far from 11,667"
            );
            assert_eq!(output.bytes, output.records * 100);
        }
        // The trades are drawn: not every run is the even share.
        let shares: Vec<u64> = (0..6).map(|p| sort_run(&config, 9, 0, p).records).collect();
        assert_ne!(shares, vec![shares[0]; 6]);
    }

    #[test]
    fn a_doubled_or_dropped_run_changes_the_merged_partition() {
        let config = sort_config(4, 2, 4_000);
        let runs: Vec<SortRun> = (0..4).map(|t| sort_run(&config, 3, t, 1)).collect();
        let right = SortOutput::merge(&runs);
        let mut doubled = runs.clone();
        doubled.push(runs[2]);
        let dropped = &runs[..3];
        // The checker compares these three fields: each fault must move at least one.
        assert_ne!(SortOutput::merge(&doubled), right);
        assert_ne!(SortOutput::merge(dropped), right);
    }

    #[test]
    fn bad_disks_are_drawn_from_the_seed_and_the_same_seed_picks_the_same_machines() {
        let mut config = JobConfig::defaults(101, Variant::Correct);
        config.bad_disks = 3;
        let a = Machines::new(&config, 11).bad_disks();
        assert_eq!(a.len(), 3);
        assert_eq!(Machines::new(&config, 11).bad_disks(), a);
        // Another seed picks other machines (not always workers 1..3, as slow_workers
        // does): over ten seeds at least two different sets appear.
        let sets: std::collections::BTreeSet<Vec<u32>> = (0..10)
            .map(|seed| Machines::new(&config, seed).bad_disks())
            .collect();
        assert!(sets.len() > 1);
    }

    #[test]
    fn disk_time_is_bytes_over_bandwidth() {
        // 30 MB at 30 MB/s is one second; at the paper's bad disk (1 MB/s) thirty.
        assert_eq!(disk_ns(30_000_000, 30_000_000, 1.0), 1_000_000_000);
        assert_eq!(disk_ns(30_000_000, 30_000_000, 30.0), 30_000_000_000);
        assert_eq!(disk_ns(30_000_000, 0, 1.0), 0, "no disk model: free");
    }
}
