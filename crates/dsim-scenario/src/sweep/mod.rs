//! Sweeps: one scenario over many seeds, in parallel, resumable and crash-safe.
//!
//! Rows are appended to a journal (`rows.journal.csv`) as each seed finishes, one
//! `write` per row, each line ending in a checksum of its own fields; a rerun into the
//! same folder reads the journal, drops a torn last line if a kill left one, refuses a
//! damaged line anywhere else (naming it), skips the seeds already there and runs the
//! rest. When every seed is in, `sweep.csv` is written (atomically) sorted by seed, so
//! it is the same bytes for any `--jobs` and for any split into shards later merged.
//!
//! `sweep.meta` holds the sweep's [`SweepIdentity`]: a digest of the resolved scenario
//! (its contents after `--set` and `--swarm`, not its path), the seed range, the shard
//! and the dsim version. A resume must match it, so one folder never mixes two
//! experiments.
//!
//! Seeds are never collected: a [`SeedSet`] (a range, or one shard of it) counts,
//! tests and enumerates them, so a range of 2^64 seeds costs nothing until it runs. A
//! sweep covers at most [`MAX_SEEDS_PER_SWEEP`] seeds, because its final table is held
//! in memory.
//!
//! Row contents are the caller's (the CLI formats summary rows through dsim-report):
//! this module owns seeds, sharding, parallelism and the files. Its parts: `seeds`
//! ([`SeedRange`], [`Shard`], [`SeedSet`]), `identity` ([`SweepIdentity`], the
//! `sweep.meta` file), `journal` ([`Journal`], checksummed rows), `vary` ([`VarySpec`], the `--vary`
//! value list of a load sweep, and [`VaryIdentity`]), and here the table,
//! the atomic writes and [`run_seeds`].

mod identity;
mod journal;
mod seeds;
mod vary;

pub use identity::{SweepIdentity, scenario_digest};
pub use journal::{Journal, JournalContents, journal_line, read_journal};
pub use seeds::{SeedRange, SeedSet, Shard};
pub use vary::{VARY_META_FILE, VARY_VALUES_MAX, VaryError, VaryIdentity, VarySpec};

use crate::registry::Registry;
use crate::run::{RunOptions, run_scenario};
use crate::scenario::Scenario;
use dsim_core::{RunError, RunResult};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The journal of finished rows.
pub const JOURNAL_FILE: &str = "rows.journal.csv";
/// The identity of the sweep in a folder ([`SweepIdentity`]).
pub const META_FILE: &str = "sweep.meta";
/// The final table.
pub const SWEEP_FILE: &str = "sweep.csv";
/// The column that holds the seed in every sweep table.
pub const SEED_COLUMN: &str = "seed";
/// The most seeds one sweep covers (its whole range, before `--shard`): the final
/// table, about 1.5 KB per seed, is held in memory by `sweep` and by `merge`.
pub const MAX_SEEDS_PER_SWEEP: u128 = 1_000_000;

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
    #[error("{}: {cause}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: io::Error,
    },
    /// The folder holds a different sweep.
    #[error("{0}")]
    Mismatch(String),
    /// The folder's sweep is another experiment than this command's.
    #[error("{} holds another sweep: {}; refusing to mix two experiments in one table, use another --out", dir.display(), changes.join("; "))]
    Changed {
        /// The folder.
        dir: PathBuf,
        /// What differs, in words.
        changes: Vec<String>,
    },
    /// The folder's `sweep.meta` is not in this dsim's format.
    #[error("{}: not a sweep identity of this dsim (an older format records no digest of the scenario, so a resume could mix two experiments); finish it with the dsim that started it, or use another --out", path.display())]
    OldMeta {
        /// The meta file.
        path: PathBuf,
    },
    /// A line of a journal is damaged (not the torn last line a kill leaves).
    #[error("{}:{line}: {problem}; the journal was changed by something other than dsim, so its rows cannot be trusted: delete that line to run its seed again", path.display())]
    Damaged {
        /// The journal.
        path: PathBuf,
        /// The line, from 1.
        line: u64,
        /// What is wrong with it.
        problem: String,
    },
    /// A seed could not be run.
    #[error("seed {seed}: {cause}")]
    Run {
        /// The seed.
        seed: u64,
        /// The cause.
        cause: RunError,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> SweepError + '_ {
    move |cause| SweepError::Io {
        path: path.to_path_buf(),
        cause,
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
    pub seeds: SeedSet,
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
    // Seeds are enumerated by index, never collected: a huge range costs no memory.
    let count = u64::try_from(seeds.len())
        .map_err(|_| SweepError::Mismatch(format!("{} holds more than 2^64 seeds", seeds.range)))?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.max(1))
        .build()
        .map_err(|e| SweepError::Mismatch(format!("cannot start {jobs} worker threads: {e}")))?;
    let shared = Mutex::new(journal);
    let first_error: Mutex<Option<SweepError>> = Mutex::new(None);
    pool.install(|| {
        use rayon::prelude::*;
        (0..count).into_par_iter().for_each(|k| {
            let seed = seeds.nth(k);
            if done.contains(&seed) || first_error.lock().expect("error lock").is_some() {
                return;
            }
            let mut seeded = scenario.clone();
            seeded.seed = seed;
            prepare(&mut seeded);
            let outcome = run_scenario(registry, &seeded, RunOptions::default())
                .map_err(|cause| SweepError::Run { seed, cause })
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
