//! The job's input and the word-count functions: a deterministic Zipf corpus, the
//! partition hash, the map function and the sequential count the checker compares with.
//!
//! Words are vocabulary ids (`u32`, id 0 the most frequent); the text never exists as
//! strings, so messages carry `(word_id, count)` pairs.

use dsim_core::rng::{SimRng, Stream, stream_rng, unit_f64};

/// Zipf's law with exponent 1 over a vocabulary: word `k` (0-based rank) has weight
/// `1 / (k + 1)`. Sampled by inverse CDF over precomputed cumulative weights, with our
/// own code over [`unit_f64`] so a dependency upgrade never changes a corpus.
#[derive(Clone, Debug)]
pub struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    /// The distribution over `vocabulary` words (at least one).
    pub fn new(vocabulary: u32) -> Zipf {
        assert!(vocabulary > 0, "a vocabulary needs at least one word");
        let mut total = 0.0;
        let cumulative = (0..vocabulary)
            .map(|rank| {
                // Only additions and divisions: exact IEEE results on every platform.
                total += 1.0 / f64::from(rank + 1);
                total
            })
            .collect();
        Zipf { cumulative }
    }

    /// Number of words in the vocabulary.
    pub fn vocabulary(&self) -> u32 {
        self.cumulative.len() as u32
    }

    /// One word id in `0..vocabulary`, drawn with one `unit_f64`.
    pub fn sample(&self, rng: &mut SimRng) -> u32 {
        let total = *self.cumulative.last().expect("non-empty vocabulary");
        let target = unit_f64(rng) * total;
        // The first word whose cumulative weight exceeds the target.
        let rank = self.cumulative.partition_point(|&c| c <= target);
        rank.min(self.cumulative.len() - 1) as u32
    }
}

/// The input text: `corpus_words` Zipf-distributed word ids, split into `map_tasks`
/// contiguous splits of (nearly) equal length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corpus {
    words: Vec<u32>,
    map_tasks: u32,
}

impl Corpus {
    /// The corpus of the run with `seed`, drawn from the workload stream.
    pub fn generate(seed: u64, corpus_words: u64, vocabulary: u32, map_tasks: u32) -> Corpus {
        assert!(map_tasks > 0, "a job needs at least one map task");
        let zipf = Zipf::new(vocabulary);
        let mut rng = stream_rng(seed, Stream::Workload);
        let words = (0..corpus_words).map(|_| zipf.sample(&mut rng)).collect();
        Corpus { words, map_tasks }
    }

    /// A corpus from given words (tests).
    pub fn from_words(words: Vec<u32>, map_tasks: u32) -> Corpus {
        assert!(map_tasks > 0, "a job needs at least one map task");
        Corpus { words, map_tasks }
    }

    /// Every word, in order.
    pub fn words(&self) -> &[u32] {
        &self.words
    }

    /// Number of map tasks (splits).
    pub fn map_tasks(&self) -> u32 {
        self.map_tasks
    }

    /// The words of map task `task`: `[task * N / M, (task + 1) * N / M)`.
    pub fn split(&self, task: u32) -> &[u32] {
        assert!(
            task < self.map_tasks,
            "map task {task} of {}",
            self.map_tasks
        );
        let n = self.words.len() as u64;
        let m = u64::from(self.map_tasks);
        let start = (u64::from(task) * n / m) as usize;
        let end = ((u64::from(task) + 1) * n / m) as usize;
        &self.words[start..end]
    }
}

/// MurmurHash3's 64-bit finalizer: a fixed bijective mix, the same on every machine and
/// in every release (unlike std's `RandomState`).
pub fn mix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// The reduce partition of a word: `hash(word) mod R`, the paper's default partitioning.
pub fn partition_of(word: u32, reduce_tasks: u32) -> u32 {
    assert!(reduce_tasks > 0, "a job needs at least one reduce task");
    // The salt keeps word 0 (hash 0 under a bare finalizer) off partition 0.
    (mix64(u64::from(word) ^ 0x6d61_7072_6564_7563) % u64::from(reduce_tasks)) as u32
}

/// The map function with its combiner: `(word, count)` for every distinct word of
/// `words`, sorted by word.
pub fn word_count(words: &[u32]) -> Vec<(u32, u64)> {
    let mut sorted = words.to_vec();
    sorted.sort_unstable();
    let mut counts: Vec<(u32, u64)> = Vec::new();
    for word in sorted {
        match counts.last_mut() {
            Some((last, count)) if *last == word => *count += 1,
            _ => counts.push((word, 1)),
        }
    }
    counts
}

/// Sums `(word, count)` pairs into one count per distinct word, sorted by word: the
/// reduce function.
pub fn merge_counts(mut pairs: Vec<(u32, u64)>) -> Vec<(u32, u64)> {
    pairs.sort_unstable_by_key(|&(word, _)| word);
    let mut merged: Vec<(u32, u64)> = Vec::with_capacity(pairs.len());
    for (word, count) in pairs {
        match merged.last_mut() {
            Some((last, total)) if *last == word => *total += count,
            _ => merged.push((word, count)),
        }
    }
    merged
}

/// One map task's output: `(partition, word, count)` sorted by partition then word.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapOutput {
    entries: Vec<(u32, u32, u64)>,
}

impl MapOutput {
    /// Runs the map function over `words` and partitions the result into
    /// `reduce_tasks` partitions.
    pub fn compute(words: &[u32], reduce_tasks: u32) -> MapOutput {
        let mut entries: Vec<(u32, u32, u64)> = word_count(words)
            .into_iter()
            .map(|(word, count)| (partition_of(word, reduce_tasks), word, count))
            .collect();
        entries.sort_unstable();
        MapOutput { entries }
    }

    /// The `(partition, word, count)` records.
    pub fn entries(&self) -> &[(u32, u32, u64)] {
        &self.entries
    }

    /// Appends this output's pairs for `partition` to `out`.
    pub fn append_partition(&self, partition: u32, out: &mut Vec<(u32, u64)>) {
        let start = self.entries.partition_point(|e| e.0 < partition);
        let end = self.entries.partition_point(|e| e.0 <= partition);
        out.extend(
            self.entries[start..end]
                .iter()
                .map(|&(_, word, count)| (word, count)),
        );
    }
}

/// A worker's local disk: the outputs of the map tasks it ran, kept as one table sorted
/// by `(partition, map task, word)` with an index of the partitions present, so serving
/// a reducer's fetch is one lookup rather than one per map task.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalDisk {
    tasks: Vec<u32>,
    /// `(partition, map task, word, count)`, sorted.
    entries: Vec<(u32, u32, u32, u64)>,
    /// Distinct partitions present, ascending.
    partitions: Vec<u32>,
    /// `entries[starts[i]..starts[i + 1]]` belong to `partitions[i]`.
    starts: Vec<u32>,
}

impl LocalDisk {
    /// Whether the output of map task `task` is here.
    pub fn has(&self, task: u32) -> bool {
        self.tasks.binary_search(&task).is_ok()
    }

    /// Map tasks whose output is here, ascending.
    pub fn tasks(&self) -> &[u32] {
        &self.tasks
    }

    /// Stores the output of map task `task` (a second copy of the same task is ignored:
    /// map is deterministic, so it would be identical).
    pub fn store(&mut self, task: u32, output: &MapOutput) {
        let Err(at) = self.tasks.binary_search(&task) else {
            return;
        };
        self.tasks.insert(at, task);
        let mut added: Vec<(u32, u32, u32, u64)> = output
            .entries()
            .iter()
            .map(|&(partition, word, count)| (partition, task, word, count))
            .collect();
        added.sort_unstable();
        // Merge two sorted runs.
        let old = std::mem::take(&mut self.entries);
        let mut merged = Vec::with_capacity(old.len() + added.len());
        let (mut i, mut j) = (0, 0);
        while i < old.len() && j < added.len() {
            if old[i] <= added[j] {
                merged.push(old[i]);
                i += 1;
            } else {
                merged.push(added[j]);
                j += 1;
            }
        }
        merged.extend_from_slice(&old[i..]);
        merged.extend_from_slice(&added[j..]);
        self.entries = merged;
        self.partitions.clear();
        self.starts.clear();
        for (index, entry) in self.entries.iter().enumerate() {
            if self.partitions.last() != Some(&entry.0) {
                self.partitions.push(entry.0);
                self.starts.push(index as u32);
            }
        }
        self.starts.push(self.entries.len() as u32);
    }

    /// Appends the entries of `partition` from the outputs of `tasks` (sorted ascending)
    /// to `out` as `(map task, word, count)`, and the requested tasks that are not here
    /// to `missing`.
    pub fn read(
        &self,
        partition: u32,
        tasks: &[u32],
        out: &mut Vec<(u32, u32, u64)>,
        missing: &mut Vec<u32>,
    ) {
        assert!(tasks.is_sorted(), "fetch task lists are sorted");
        missing.extend(tasks.iter().copied().filter(|&task| !self.has(task)));
        let Ok(index) = find_near_guess(&self.partitions, partition) else {
            return;
        };
        let range = self.starts[index] as usize..self.starts[index + 1] as usize;
        out.extend(
            self.entries[range]
                .iter()
                .filter(|entry| tasks.binary_search(&entry.1).is_ok())
                .map(|&(_, task, word, count)| (task, word, count)),
        );
    }
}

/// Drops the map-task tag of [`LocalDisk::read`]'s `(map task, word, count)` entries.
pub fn untag(tagged: Vec<(u32, u32, u64)>) -> Vec<(u32, u64)> {
    tagged
        .into_iter()
        .map(|(_, word, count)| (word, count))
        .collect()
}

/// `sorted.binary_search(&value)`, starting from where `value` would sit if the values
/// were spread evenly up to the last one, then doubling the step. A disk's partitions
/// are hash-spread, so the answer is a few places from the guess: one or two cache
/// lines, where a plain binary search over thousands of partitions takes a dozen
/// dependent misses per fetch when fetches arrive in random order (a paper-scale job
/// with lognormal links spent a fifth of its time in that search).
fn find_near_guess(sorted: &[u32], value: u32) -> Result<usize, usize> {
    let Some(&last) = sorted.last() else {
        return Err(0);
    };
    if value > last {
        return Err(sorted.len());
    }
    let guess = (u64::from(value) * (sorted.len() as u64 - 1) / u64::from(last.max(1))) as usize;
    // Widen a window around the guess until it brackets `value`, then search inside.
    let (mut low, mut high) = (guess, guess + 1);
    let mut step = 1;
    while low > 0 && sorted[low] > value {
        high = low;
        low = low.saturating_sub(step);
        step *= 2;
    }
    step = 1;
    while high < sorted.len() && sorted[high - 1] < value {
        low = high - 1;
        high = (high + step).min(sorted.len());
        step *= 2;
    }
    sorted[low..high]
        .binary_search(&value)
        .map(|at| low + at)
        .map_err(|at| low + at)
}

/// The sequential word count of a whole corpus, split into the job's partitions: what
/// the job's output must equal. `result[p]` lists `(word, count)` of partition `p`,
/// sorted by word, words with count zero left out.
pub fn expected_partitions(
    words: &[u32],
    vocabulary: u32,
    reduce_tasks: u32,
) -> Vec<Vec<(u32, u64)>> {
    let mut counts = vec![0u64; vocabulary as usize];
    for &word in words {
        counts[word as usize] += 1;
    }
    partition_counts(&counts, reduce_tasks)
}

/// Splits a dense count vector (index = word id) into sorted partitions.
pub fn partition_counts(counts: &[u64], reduce_tasks: u32) -> Vec<Vec<(u32, u64)>> {
    let mut partitions = vec![Vec::new(); reduce_tasks as usize];
    for (word, &count) in counts.iter().enumerate() {
        if count > 0 {
            let word = word as u32;
            partitions[partition_of(word, reduce_tasks) as usize].push((word, count));
        }
    }
    partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_frequencies_follow_one_over_rank() {
        // With exponent 1 over 100 words the normaliser is H_100 = 5.187, so word 0 has
        // probability 0.1928 and word 1 has 0.0964. A sampler that picked the wrong side
        // of the CDF step, or ranks from 1, would shift these by a factor of two.
        let zipf = Zipf::new(100);
        let mut rng = stream_rng(5, Stream::Workload);
        let mut counts = [0u32; 100];
        let draws = 200_000;
        for _ in 0..draws {
            counts[zipf.sample(&mut rng) as usize] += 1;
        }
        let p0 = f64::from(counts[0]) / f64::from(draws);
        let p1 = f64::from(counts[1]) / f64::from(draws);
        let p99 = f64::from(counts[99]) / f64::from(draws);
        assert!((p0 - 0.1928).abs() < 0.005, "p0 {p0}");
        assert!((p1 - 0.0964).abs() < 0.004, "p1 {p1}");
        assert!((p99 - 0.001_928).abs() < 0.0006, "p99 {p99}");
    }

    #[test]
    fn zipf_over_one_word_always_gives_it() {
        let zipf = Zipf::new(1);
        let mut rng = stream_rng(1, Stream::Workload);
        assert!((0..100).all(|_| zipf.sample(&mut rng) == 0));
    }

    #[test]
    fn corpus_is_a_function_of_the_seed() {
        // The checker regenerates the corpus: if generation drew from anything but the
        // seed's workload stream the two would differ and every run would "fail".
        let a = Corpus::generate(9, 1_000, 50, 4);
        let b = Corpus::generate(9, 1_000, 50, 4);
        let c = Corpus::generate(10, 1_000, 50, 4);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.words().iter().all(|&w| w < 50));
    }

    #[test]
    fn splits_cover_the_corpus_exactly_once() {
        // 10 words over 3 tasks: boundaries at 0, 3, 6, 10. Overlap or gaps would make
        // even a fault-free job miscount.
        let corpus = Corpus::from_words((0..10).collect(), 3);
        assert_eq!(corpus.split(0), &[0, 1, 2]);
        assert_eq!(corpus.split(1), &[3, 4, 5]);
        assert_eq!(corpus.split(2), &[6, 7, 8, 9]);
        let more_tasks_than_words = Corpus::from_words(vec![7, 7], 4);
        let total: usize = (0..4).map(|t| more_tasks_than_words.split(t).len()).sum();
        assert_eq!(total, 2);
    }

    #[test]
    fn partition_hash_is_pinned() {
        // The partition of a word decides which reducer counts it; a change to the hash
        // changes every seeded run's messages and must be deliberate.
        let got: Vec<u32> = (0..8).map(|w| partition_of(w, 7)).collect();
        assert_eq!(got, PINNED_PARTITIONS);
        assert!((0..1000).all(|w| partition_of(w, 1) == 0));
    }
    const PINNED_PARTITIONS: [u32; 8] = [5, 0, 2, 1, 1, 0, 2, 4];

    #[test]
    fn partition_hash_spreads_words_evenly() {
        // 10,000 words over 10 partitions: 1,000 each expected; a weak hash (e.g. the id
        // itself modulo a power of two of the stride) would pile them up.
        let mut sizes = [0u32; 10];
        for word in 0..10_000 {
            sizes[partition_of(word, 10) as usize] += 1;
        }
        assert!(sizes.iter().all(|&s| (900..1100).contains(&s)), "{sizes:?}");
    }

    #[test]
    fn map_outputs_merged_per_partition_equal_the_sequential_count() {
        // The whole job in one function: map every split, gather each partition from
        // every map output, reduce. This is the identity the checker relies on.
        let corpus = Corpus::generate(3, 5_000, 200, 7);
        let reduce_tasks = 4;
        let outputs: Vec<MapOutput> = (0..7)
            .map(|t| MapOutput::compute(corpus.split(t), reduce_tasks))
            .collect();
        let expected = expected_partitions(corpus.words(), 200, reduce_tasks);
        for partition in 0..reduce_tasks {
            let mut pairs = Vec::new();
            for output in &outputs {
                output.append_partition(partition, &mut pairs);
            }
            assert_eq!(merge_counts(pairs), expected[partition as usize]);
        }
        // The same through one disk holding every output, asked for all tasks.
        let mut disk = LocalDisk::default();
        for (task, output) in outputs.iter().enumerate().rev() {
            disk.store(task as u32, output);
        }
        let all: Vec<u32> = (0..7).collect();
        for partition in 0..reduce_tasks {
            let (mut pairs, mut missing) = (Vec::new(), Vec::new());
            disk.read(partition, &all, &mut pairs, &mut missing);
            assert!(missing.is_empty());
            assert_eq!(merge_counts(untag(pairs)), expected[partition as usize]);
        }
        let total: u64 = expected.iter().flatten().map(|&(_, c)| c).sum();
        assert_eq!(total, 5_000);
    }
}

#[cfg(test)]
mod disk_tests {
    use super::*;

    #[test]
    fn the_guided_search_answers_as_a_binary_search_does() {
        // Sorted, distinct values as a disk's partitions are: evenly spread, bunched at
        // either end, gaps, one value, none. Any bracket that missed `value` would give a
        // different Ok/Err index than the standard binary search somewhere here.
        let mut state = 3u64;
        let mut cases: Vec<Vec<u32>> = vec![
            vec![],
            vec![5],
            (0..100).collect(),
            (0..100).map(|v| v * v).collect(),
            (0..50).chain(900..1000).collect(),
        ];
        for _ in 0..20 {
            let mut values: Vec<u32> = (0..200)
                .map(|_| (dsim_core::rng::splitmix64(&mut state) % 5_000) as u32)
                .collect();
            values.sort_unstable();
            values.dedup();
            cases.push(values);
        }
        for sorted in &cases {
            for value in 0..5_100 {
                assert_eq!(
                    find_near_guess(sorted, value),
                    sorted.binary_search(&value),
                    "value {value} in {sorted:?}"
                );
            }
        }
    }

    #[test]
    fn disk_serves_only_requested_tasks_and_names_missing_ones() {
        // Words 0..4 in task 0, words 2..6 in task 1, one partition. A disk that served
        // every task it holds would double-count a reducer's input when the master moved
        // a task elsewhere; one that did not report missing tasks would hide a loss.
        let t0 = MapOutput::compute(&[0, 1, 2, 3], 1);
        let t1 = MapOutput::compute(&[2, 3, 4, 5], 1);
        let mut disk = LocalDisk::default();
        disk.store(1, &t1);
        disk.store(0, &t0);
        disk.store(0, &t0); // a duplicate store changes nothing
        assert_eq!(disk.tasks(), &[0, 1]);
        let (mut out, mut missing) = (Vec::new(), Vec::new());
        disk.read(0, &[1, 2], &mut out, &mut missing);
        // Entries carry their map task, so a reducer can drop a second copy of one.
        assert!(out.iter().all(|&(task, _, _)| task == 1));
        assert_eq!(
            merge_counts(untag(out)),
            vec![(2, 1), (3, 1), (4, 1), (5, 1)]
        );
        assert_eq!(missing, vec![2]);
        let (mut out, mut missing) = (Vec::new(), Vec::new());
        disk.read(0, &[0, 1], &mut out, &mut missing);
        assert_eq!(
            merge_counts(untag(out)),
            vec![(0, 1), (1, 1), (2, 2), (3, 2), (4, 1), (5, 1)]
        );
        assert!(missing.is_empty());
    }
}
