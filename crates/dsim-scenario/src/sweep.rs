//! Sweeps: one scenario over many seeds, in parallel, resumable and crash-safe.
//!
//! Rows are appended to a journal (`rows.journal.csv`) as each seed finishes, one
//! `write` per row; a rerun into the same folder reads the journal, drops a torn last
//! line if a kill left one, skips the seeds already there and runs the rest. When every
//! seed is in, `sweep.csv` is written (atomically) sorted by seed, so it is the same
//! bytes for any `--jobs` and for any split into shards later merged.
//!
//! Row contents are the caller's (the CLI formats summary rows through dsim-report):
//! this module owns seeds, sharding, parallelism and the files.

use crate::registry::Registry;
use crate::run::{RunOptions, run_scenario};
use crate::scenario::Scenario;
use dsim_core::{RunError, RunResult};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The journal of finished rows.
pub const JOURNAL_FILE: &str = "rows.journal.csv";
/// The identity of the sweep in a folder (scenario, flags, header).
pub const META_FILE: &str = "sweep.meta";
/// The final table.
pub const SWEEP_FILE: &str = "sweep.csv";

/// A range of seeds: `A..B` (B excluded, as in Rust) or `A..=B` (B included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedRange {
    /// First seed.
    pub first: u64,
    /// Last seed, included.
    pub last: u64,
}

impl SeedRange {
    /// Parses `A..B` or `A..=B`; a single number is a range of one.
    pub fn parse(text: &str) -> Result<SeedRange, String> {
        let help = "seeds as A..B (B excluded) or A..=B (B included), e.g. 1..=1000";
        let number = |s: &str| s.trim().replace('_', "").parse::<u64>().map_err(|_| format!("cannot read {s:?} as a seed; {help}"));
        let range = if let Some((a, b)) = text.split_once("..=") {
            SeedRange { first: number(a)?, last: number(b)? }
        } else if let Some((a, b)) = text.split_once("..") {
            let end = number(b)?;
            if end == 0 {
                return Err(format!("{text:?} is empty; {help}"));
            }
            SeedRange { first: number(a)?, last: end - 1 }
        } else {
            let seed = number(text)?;
            SeedRange { first: seed, last: seed }
        };
        if range.first > range.last {
            return Err(format!("{text:?} is empty; {help}"));
        }
        Ok(range)
    }

    /// How many seeds.
    pub fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    /// Never true: a parsed range holds at least one seed.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// `--shard I/N`: this machine runs the seeds whose index in the range, mod N, is I-1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which shard, from 1.
    pub index: u64,
    /// How many shards.
    pub count: u64,
}

impl Shard {
    /// Parses `I/N` with 1 <= I <= N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let help = "a shard as I/N with 1 <= I <= N, e.g. 3/8";
        let (i, n) = text.split_once('/').ok_or_else(|| format!("cannot read {text:?}; {help}"))?;
        let index: u64 = i.trim().parse().map_err(|_| format!("cannot read {text:?}; {help}"))?;
        let count: u64 = n.trim().parse().map_err(|_| format!("cannot read {text:?}; {help}"))?;
        if count == 0 || index == 0 || index > count {
            return Err(format!("{text:?} is out of range; {help}"));
        }
        Ok(Shard { index, count })
    }

    /// The seeds of `range` this shard runs.
    pub fn seeds(&self, range: SeedRange) -> Vec<u64> {
        (range.first..=range.last)
            .enumerate()
            .filter(|(position, _)| *position as u64 % self.count == self.index - 1)
            .map(|(_, seed)| seed)
            .collect()
    }
}

/// One finished seed, ready for the journal.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepRow {
    /// The seed.
    pub seed: u64,
    /// Column values, the first being the seed's own column wherever the caller put it.
    pub values: Vec<String>,
    /// True if any check was violated.
    pub violated: bool,
}

/// Why a sweep could not go on.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// A file of the sweep folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The folder holds a different sweep.
    #[error("{0}")]
    Mismatch(String),
    /// A seed could not be run.
    #[error("seed {seed}: {source}")]
    Run {
        /// The seed.
        seed: u64,
        /// The cause.
        source: RunError,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> SweepError + '_ {
    move |source| SweepError::Io { path: path.to_path_buf(), source }
}

/// The journal of a sweep folder: rows already finished, and the file to append to.
pub struct Journal {
    path: PathBuf,
    file: File,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Journal {
    /// Opens (or creates) the journal in `dir` for a sweep identified by `identity`
    /// with table `header`; a torn last line from a killed run is cut off.
    pub fn open(dir: &Path, identity: &str, header: &[String]) -> Result<Journal, SweepError> {
        fs::create_dir_all(dir).map_err(io_error(dir))?;
        let meta_path = dir.join(META_FILE);
        let meta = format!("{identity}\ncolumns: {}\n", header.join(","));
        match fs::read_to_string(&meta_path) {
            Ok(existing) if existing != meta => {
                return Err(SweepError::Mismatch(format!(
                    "{} holds another sweep (its {META_FILE} differs: other scenario, flags or columns); use another --out or delete the folder",
                    dir.display()
                )));
            }
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                crate::sweep::write_atomically(&meta_path, meta.as_bytes())?;
            }
            Err(error) => return Err(SweepError::Io { path: meta_path, source: error }),
        }
        let path = dir.join(JOURNAL_FILE);
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io_error(&path))?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(io_error(&path))?;
        // Keep only whole lines: a kill mid-write can leave a torn last line.
        let whole = text.rfind('\n').map_or(0, |i| i + 1);
        if whole < text.len() {
            file.set_len(whole as u64).map_err(io_error(&path))?;
            file.seek(SeekFrom::End(0)).map_err(io_error(&path))?;
            text.truncate(whole);
        }
        let mut rows = Vec::new();
        let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(text.as_bytes());
        for record in reader.records() {
            let record = record.map_err(|e| SweepError::Mismatch(format!("{}: unreadable row: {e}", path.display())))?;
            if record.len() != header.len() {
                return Err(SweepError::Mismatch(format!(
                    "{}: a row has {} fields, the sweep has {} columns",
                    path.display(),
                    record.len(),
                    header.len()
                )));
            }
            rows.push(record.iter().map(str::to_string).collect());
        }
        Ok(Journal { path, file, header: header.to_vec(), rows })
    }

    /// Rows already in the journal.
    pub fn rows(&self) -> &[Vec<String>] {
        &self.rows
    }

    /// Appends one row with a single write, so a kill leaves it whole or torn (and the
    /// torn line is cut on the next open), never interleaved.
    pub fn append(&mut self, values: &[String]) -> Result<(), SweepError> {
        assert_eq!(values.len(), self.header.len(), "a row has one value per column");
        let line = csv_line(values);
        self.file.write_all(line.as_bytes()).map_err(io_error(&self.path))?;
        self.rows.push(values.to_vec());
        Ok(())
    }
}

/// One CSV record with its newline.
pub fn csv_line(values: &[String]) -> String {
    let mut writer = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    writer.write_record(values).expect("writing to memory cannot fail");
    String::from_utf8(writer.into_inner().expect("flush to memory")).expect("CSV of strings is UTF-8")
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), SweepError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    fs::write(&temporary, bytes).map_err(io_error(&temporary))?;
    fs::rename(&temporary, path).map_err(io_error(path))
}

/// Writes `sweep.csv`: the header and the rows whose seed column (`seed_column`) is in
/// `seeds`, sorted by seed, each seed once.
pub fn write_table(
    path: &Path,
    header: &[String],
    rows: &[Vec<String>],
    seed_column: usize,
) -> Result<usize, SweepError> {
    let mut sorted: Vec<(u64, &Vec<String>)> = rows
        .iter()
        .filter_map(|row| row.get(seed_column)?.parse::<u64>().ok().map(|seed| (seed, row)))
        .collect();
    sorted.sort_by_key(|(seed, _)| *seed);
    sorted.dedup_by_key(|(seed, _)| *seed);
    let mut text = csv_line(header);
    for (_, row) in &sorted {
        text.push_str(&csv_line(row));
    }
    write_atomically(path, text.as_bytes())?;
    Ok(sorted.len())
}

/// Runs `scenario` for every seed of `seeds` not yet in `journal`, on `jobs` threads,
/// appending each row as it finishes and calling `on_row` (under the journal lock).
/// `prepare` adjusts the scenario per seed (swarm draws); `format` turns a run into
/// its row.
pub fn run_seeds<P, F, O>(
    registry: &Registry,
    scenario: &Scenario,
    seeds: &[u64],
    jobs: usize,
    journal: &mut Journal,
    seed_column: usize,
    prepare: P,
    format: F,
    on_row: O,
) -> Result<(), SweepError>
where
    P: Fn(&mut Scenario) + Sync,
    F: Fn(&Scenario, &RunResult) -> SweepRow + Sync,
    O: Fn(&SweepRow) + Sync,
{
    let done: std::collections::BTreeSet<u64> = journal
        .rows()
        .iter()
        .filter_map(|row| row.get(seed_column)?.parse().ok())
        .collect();
    let pending: Vec<u64> = seeds.iter().copied().filter(|seed| !done.contains(seed)).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.max(1))
        .build()
        .map_err(|e| SweepError::Mismatch(format!("cannot start {jobs} worker threads: {e}")))?;
    let shared = Mutex::new(journal);
    let first_error: Mutex<Option<SweepError>> = Mutex::new(None);
    pool.install(|| {
        use rayon::prelude::*;
        pending.par_iter().for_each(|&seed| {
            if first_error.lock().expect("error lock").is_some() {
                return;
            }
            let mut seeded = scenario.clone();
            seeded.seed = seed;
            prepare(&mut seeded);
            let outcome = run_scenario(registry, &seeded, RunOptions::default())
                .map_err(|source| SweepError::Run { seed, source })
                .and_then(|result| {
                    let row = format(&seeded, &result);
                    let mut journal = shared.lock().expect("journal lock");
                    journal.append(&row.values)?;
                    on_row(&row);
                    Ok(())
                });
            if let Err(error) = outcome {
                first_error.lock().expect("error lock").get_or_insert(error);
            }
        });
    });
    match first_error.into_inner().expect("error lock") {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_ranges_follow_rust_syntax() {
        assert_eq!(SeedRange::parse("1..4"), Ok(SeedRange { first: 1, last: 3 }));
        assert_eq!(SeedRange::parse("1..=4"), Ok(SeedRange { first: 1, last: 4 }));
        assert_eq!(SeedRange::parse("7"), Ok(SeedRange { first: 7, last: 7 }));
        assert!(SeedRange::parse("5..5").is_err());
        assert!(SeedRange::parse("a..b").is_err());
        assert_eq!(SeedRange::parse("1..=1000").map(|r| r.len()), Ok(1000));
    }

    #[test]
    fn shards_partition_the_seeds() {
        let range = SeedRange { first: 10, last: 19 };
        let mut all: Vec<u64> = (1..=3).flat_map(|i| Shard { index: i, count: 3 }.seeds(range)).collect();
        all.sort();
        assert_eq!(all, (10..=19).collect::<Vec<_>>());
        assert_eq!(Shard { index: 1, count: 3 }.seeds(range), vec![10, 13, 16, 19]);
        assert!(Shard::parse("0/3").is_err());
        assert!(Shard::parse("4/3").is_err());
        assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 2, count: 3 }));
    }

    #[test]
    fn a_torn_journal_line_is_cut_and_rows_survive() {
        let dir = tempfile::tempdir().expect("temp dir");
        let header = vec!["seed".to_string(), "value".to_string()];
        {
            let mut journal = Journal::open(dir.path(), "test", &header).expect("open");
            journal.append(&["1".into(), "a,b".into()]).expect("append");
            journal.append(&["2".into(), "c".into()]).expect("append");
        }
        // Simulate a kill in the middle of writing the third row.
        let path = dir.path().join(JOURNAL_FILE);
        let mut file = OpenOptions::new().append(true).open(&path).expect("reopen");
        file.write_all(b"3,hal").expect("torn write");
        drop(file);
        let mut journal = Journal::open(dir.path(), "test", &header).expect("reopen journal");
        assert_eq!(journal.rows().len(), 2, "the torn row is dropped, the whole ones kept");
        assert_eq!(journal.rows()[0], vec!["1".to_string(), "a,b".to_string()]);
        journal.append(&["3".into(), "d".into()]).expect("append after repair");
        let text = fs::read_to_string(&path).expect("read journal");
        assert_eq!(text, "1,\"a,b\"\n2,c\n3,d\n");
        // Another sweep in the same folder is refused.
        assert!(matches!(Journal::open(dir.path(), "other", &header), Err(SweepError::Mismatch(_))));
    }

    #[test]
    fn the_table_is_sorted_by_seed_without_duplicates() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(SWEEP_FILE);
        let header = vec!["seed".to_string(), "x".to_string()];
        let rows = vec![
            vec!["3".to_string(), "c".to_string()],
            vec!["1".to_string(), "a".to_string()],
            vec!["3".to_string(), "c".to_string()],
        ];
        assert_eq!(write_table(&path, &header, &rows, 0).expect("write"), 2);
        assert_eq!(fs::read_to_string(&path).expect("read"), "seed,x\n1,a\n3,c\n");
    }
}
