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

/// A range of seeds, both ends included: `A..B` (as in the shell's `{A..B}`) or
/// `A..=B`; a single number is a range of one. `--seeds 1..1000` is 1,000 seeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedRange {
    /// First seed.
    pub first: u64,
    /// Last seed, included.
    pub last: u64,
}

impl SeedRange {
    /// Parses `A..B` or `A..=B` (both inclusive) or `N`.
    pub fn parse(text: &str) -> Result<SeedRange, String> {
        let help = "seeds as A..B (both included), e.g. 1..1000";
        let number = |s: &str| {
            s.trim()
                .replace('_', "")
                .parse::<u64>()
                .map_err(|_| format!("cannot read {s:?} as a seed; {help}"))
        };
        let range = match text.split_once("..") {
            Some((a, b)) => SeedRange {
                first: number(a)?,
                last: number(b.strip_prefix('=').unwrap_or(b))?,
            },
            None => {
                let seed = number(text)?;
                SeedRange {
                    first: seed,
                    last: seed,
                }
            }
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
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| format!("cannot read {text:?}; {help}"))?;
        let index: u64 = i
            .trim()
            .parse()
            .map_err(|_| format!("cannot read {text:?}; {help}"))?;
        let count: u64 = n
            .trim()
            .parse()
            .map_err(|_| format!("cannot read {text:?}; {help}"))?;
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
    /// Column names (the same for every row of a sweep).
    pub header: Vec<String>,
    /// Column values.
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
    move |source| SweepError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The journal of a sweep folder: its header line, the rows finished before it was
/// opened, and the file to append to. Rows appended later are not kept in memory (a
/// sweep of a million seeds stays small); [`Journal::into_rows`] reads them back.
pub struct Journal {
    path: PathBuf,
    file: File,
    header: Option<Vec<String>>,
    rows: Vec<Vec<String>>,
}

impl Journal {
    /// Opens (or creates) the journal in `dir` for the sweep named by `identity` (the
    /// scenario and flags); a torn last line from a killed run is cut off.
    pub fn open(dir: &Path, identity: &str) -> Result<Journal, SweepError> {
        fs::create_dir_all(dir).map_err(io_error(dir))?;
        let meta_path = dir.join(META_FILE);
        let meta = format!("{identity}\n");
        match fs::read_to_string(&meta_path) {
            Ok(existing) if existing != meta => {
                return Err(SweepError::Mismatch(format!(
                    "{} holds another sweep (its {META_FILE} names another scenario or other flags); use another --out or delete the folder",
                    dir.display()
                )));
            }
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                write_atomically(&meta_path, meta.as_bytes())?;
            }
            Err(error) => {
                return Err(SweepError::Io {
                    path: meta_path,
                    source: error,
                });
            }
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
        let mut records = read_records(&text)
            .map_err(|e| SweepError::Mismatch(format!("{}: {e}", path.display())))?;
        let header = (!records.is_empty()).then(|| records.remove(0));
        if let Some(header) = &header
            && let Some(bad) = records.iter().find(|row| row.len() != header.len())
        {
            return Err(SweepError::Mismatch(format!(
                "{}: a row has {} fields, the header {}",
                path.display(),
                bad.len(),
                header.len()
            )));
        }
        Ok(Journal {
            path,
            file,
            header,
            rows: records,
        })
    }

    /// The header, once a row has been written.
    pub fn header(&self) -> Option<&[String]> {
        self.header.as_deref()
    }

    /// Rows that were in the journal when it was opened (a resumed sweep's).
    pub fn rows(&self) -> &[Vec<String>] {
        &self.rows
    }

    /// Appends one row (and the header before the first) with a single write, so a kill
    /// leaves it whole or torn (the torn line is cut on the next open), never mixed.
    pub fn append(&mut self, header: &[String], values: &[String]) -> Result<(), SweepError> {
        assert_eq!(values.len(), header.len(), "a row has one value per column");
        let mut text = String::new();
        match &self.header {
            None => text.push_str(&csv_line(header)),
            Some(existing) if existing.as_slice() != header => {
                return Err(SweepError::Mismatch(format!(
                    "{}: this run's columns differ from the journal's header",
                    self.path.display()
                )));
            }
            Some(_) => {}
        }
        text.push_str(&csv_line(values));
        self.file
            .write_all(text.as_bytes())
            .map_err(io_error(&self.path))?;
        if self.header.is_none() {
            self.header = Some(header.to_vec());
        }
        Ok(())
    }

    /// Every whole row in the journal file, resumed and appended alike.
    pub fn into_rows(self) -> Result<Vec<Vec<String>>, SweepError> {
        let text = fs::read_to_string(&self.path).map_err(io_error(&self.path))?;
        let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
        let mut records = read_records(whole)
            .map_err(|e| SweepError::Mismatch(format!("{}: {e}", self.path.display())))?;
        if !records.is_empty() {
            records.remove(0);
        }
        Ok(records)
    }
}

/// Parses CSV text (no header handling) into records.
pub fn read_records(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    reader
        .records()
        .map(|record| {
            record
                .map(|r| r.iter().map(str::to_string).collect())
                .map_err(|e| format!("unreadable row: {e}"))
        })
        .collect()
}

/// One CSV record with its newline.
pub fn csv_line(values: &[String]) -> String {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    writer
        .write_record(values)
        .expect("writing to memory cannot fail");
    String::from_utf8(writer.into_inner().expect("flush to memory"))
        .expect("CSV of strings is UTF-8")
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), SweepError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    fs::write(&temporary, bytes).map_err(io_error(&temporary))?;
    fs::rename(&temporary, path).map_err(io_error(path))
}

/// Writes `sweep.csv`: the header and `rows` sorted by their seed column
/// (`seed_column`), each seed once. Returns the rows as written, so the caller's
/// charts and pages see the same order (never the journal's finishing order).
pub fn write_table(
    path: &Path,
    header: &[String],
    rows: Vec<Vec<String>>,
    seed_column: usize,
) -> Result<Vec<Vec<String>>, SweepError> {
    let mut sorted: Vec<(u64, Vec<String>)> = rows
        .into_iter()
        .filter_map(|row| {
            let seed = row.get(seed_column)?.parse::<u64>().ok()?;
            Some((seed, row))
        })
        .collect();
    sorted.sort_by_key(|(seed, _)| *seed);
    sorted.dedup_by_key(|(seed, _)| *seed);
    let mut text = csv_line(header);
    for (_, row) in &sorted {
        text.push_str(&csv_line(row));
    }
    write_atomically(path, text.as_bytes())?;
    Ok(sorted.into_iter().map(|(_, row)| row).collect())
}

/// What a sweep runs: a scenario over seeds on some threads.
pub struct SeedPlan<'a> {
    /// The scenario; each run replaces its seed.
    pub scenario: &'a Scenario,
    /// Every seed of the sweep (those already in the journal are skipped).
    pub seeds: &'a [u64],
    /// Worker threads.
    pub jobs: usize,
    /// Which journal column holds the seed.
    pub seed_column: usize,
}

/// Runs the plan's seeds not yet in `journal`, appending each row as it finishes and
/// calling `on_row` (under the journal lock). `prepare` adjusts the scenario per seed
/// (swarm draws); `format` turns a run into its row.
pub fn run_seeds<P, F, O>(
    registry: &Registry,
    plan: &SeedPlan<'_>,
    journal: &mut Journal,
    prepare: P,
    format: F,
    on_row: O,
) -> Result<(), SweepError>
where
    P: Fn(&mut Scenario) + Sync,
    F: Fn(&Scenario, &RunResult) -> SweepRow + Sync,
    O: Fn(&SweepRow) + Sync,
{
    let SeedPlan {
        scenario,
        seeds,
        jobs,
        seed_column,
    } = *plan;
    let done: std::collections::BTreeSet<u64> = journal
        .rows()
        .iter()
        .filter_map(|row| row.get(seed_column)?.parse().ok())
        .collect();
    let pending: Vec<u64> = seeds
        .iter()
        .copied()
        .filter(|seed| !done.contains(seed))
        .collect();
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
                    journal.append(&row.header, &row.values)?;
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
    fn seed_ranges_include_both_ends() {
        assert_eq!(
            SeedRange::parse("1..4"),
            Ok(SeedRange { first: 1, last: 4 })
        );
        assert_eq!(
            SeedRange::parse("1..=4"),
            Ok(SeedRange { first: 1, last: 4 })
        );
        assert_eq!(SeedRange::parse("7"), Ok(SeedRange { first: 7, last: 7 }));
        assert_eq!(
            SeedRange::parse("5..5"),
            Ok(SeedRange { first: 5, last: 5 })
        );
        assert!(SeedRange::parse("6..5").is_err());
        assert!(SeedRange::parse("a..b").is_err());
        assert_eq!(SeedRange::parse("1..1000").map(|r| r.len()), Ok(1000));
    }

    #[test]
    fn shards_partition_the_seeds() {
        let range = SeedRange {
            first: 10,
            last: 19,
        };
        let mut all: Vec<u64> = (1..=3)
            .flat_map(|i| Shard { index: i, count: 3 }.seeds(range))
            .collect();
        all.sort();
        assert_eq!(all, (10..=19).collect::<Vec<_>>());
        assert_eq!(
            Shard { index: 1, count: 3 }.seeds(range),
            vec![10, 13, 16, 19]
        );
        assert!(Shard::parse("0/3").is_err());
        assert!(Shard::parse("4/3").is_err());
        assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 2, count: 3 }));
    }

    #[test]
    fn a_torn_journal_line_is_cut_and_rows_survive() {
        let dir = tempfile::tempdir().expect("temp dir");
        let header = vec!["seed".to_string(), "value".to_string()];
        {
            let mut journal = Journal::open(dir.path(), "test").expect("open");
            assert!(journal.header().is_none());
            journal
                .append(&header, &["1".into(), "a,b".into()])
                .expect("append");
            journal
                .append(&header, &["2".into(), "c".into()])
                .expect("append");
        }
        // Simulate a kill in the middle of writing the third row.
        let path = dir.path().join(JOURNAL_FILE);
        let mut file = OpenOptions::new().append(true).open(&path).expect("reopen");
        file.write_all(b"3,hal").expect("torn write");
        drop(file);
        let mut journal = Journal::open(dir.path(), "test").expect("reopen journal");
        assert_eq!(journal.header(), Some(header.as_slice()));
        assert_eq!(
            journal.rows().len(),
            2,
            "the torn row is dropped, the whole ones kept"
        );
        assert_eq!(journal.rows()[0], vec!["1".to_string(), "a,b".to_string()]);
        journal
            .append(&header, &["3".into(), "d".into()])
            .expect("append after repair");
        let text = fs::read_to_string(&path).expect("read journal");
        assert_eq!(text, "seed,value\n1,\"a,b\"\n2,c\n3,d\n");
        let rows = journal.into_rows().expect("read back");
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[2], vec!["3".to_string(), "d".to_string()]);
        // Another sweep in the same folder is refused.
        assert!(matches!(
            Journal::open(dir.path(), "other"),
            Err(SweepError::Mismatch(_))
        ));
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
        let written = write_table(&path, &header, rows, 0).expect("write");
        assert_eq!(written.len(), 2);
        assert_eq!(written[0][0], "1", "rows come back in seed order");
        assert_eq!(
            fs::read_to_string(&path).expect("read"),
            "seed,x\n1,a\n3,c\n"
        );
    }
}
