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
/// The identity of the sweep in a folder ([`SweepIdentity`]).
pub const META_FILE: &str = "sweep.meta";
/// The final table.
pub const SWEEP_FILE: &str = "sweep.csv";
/// The column that holds the seed in every sweep table.
pub const SEED_COLUMN: &str = "seed";
/// The most seeds one sweep covers (its whole range, before `--shard`): the final
/// table, about 1.5 KB per seed, is held in memory by `sweep` and by `merge`.
pub const MAX_SEEDS_PER_SWEEP: u128 = 1_000_000;

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

    /// How many seeds (up to 2^64, hence `u128`).
    pub fn len(&self) -> u128 {
        u128::from(self.last - self.first) + 1
    }

    /// Never true: a parsed range holds at least one seed.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl std::fmt::Display for SeedRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..{}", self.first, self.last)
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
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The seeds one sweep runs: a range, or one shard of it. Never materialised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedSet {
    /// The whole range of the sweep.
    pub range: SeedRange,
    /// The shard this machine runs, if any.
    pub shard: Option<Shard>,
}

impl SeedSet {
    /// The index (from 0) of this set's first seed in the range, and the step.
    fn offset_and_step(&self) -> (u128, u128) {
        match self.shard {
            Some(shard) => (u128::from(shard.index - 1), u128::from(shard.count)),
            None => (0, 1),
        }
    }

    /// How many seeds (0 for a shard with more shards than seeds).
    pub fn len(&self) -> u128 {
        let (offset, step) = self.offset_and_step();
        let all = self.range.len();
        if all <= offset {
            0
        } else {
            (all - offset - 1) / step + 1
        }
    }

    /// True for a shard that gets no seed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True if this set runs `seed`.
    pub fn contains(&self, seed: u64) -> bool {
        if seed < self.range.first || seed > self.range.last {
            return false;
        }
        let (offset, step) = self.offset_and_step();
        u128::from(seed - self.range.first) % step == offset
    }

    /// The `k`-th seed (from 0); `k` must be below [`SeedSet::len`].
    pub fn nth(&self, k: u64) -> u64 {
        assert!(u128::from(k) < self.len(), "seed index {k} out of the set");
        let (offset, step) = self.offset_and_step();
        let index = offset + u128::from(k) * step;
        self.range.first + u64::try_from(index).expect("an index inside a u64 range")
    }

    /// The seeds in increasing order, one at a time.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        let len = u64::try_from(self.len()).unwrap_or(u64::MAX);
        (0..len).map(|k| self.nth(k))
    }

    /// Refuses a sweep over more than [`MAX_SEEDS_PER_SWEEP`] seeds.
    pub fn check_size(&self) -> Result<(), String> {
        let all = self.range.len();
        if all > MAX_SEEDS_PER_SWEEP {
            return Err(format!(
                "--seeds {} holds {all} seeds; a sweep covers at most {MAX_SEEDS_PER_SWEEP} (its table is held in memory): split the study into sweeps over consecutive ranges",
                self.range
            ));
        }
        Ok(())
    }
}

/// What identifies a sweep in its folder (`sweep.meta`). A resume must match every
/// field but `set` (two spellings of the same overrides resolve to the same digest)
/// and `scenario_file` (the same file reached by another path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SweepIdentity {
    /// The scenario's name.
    pub scenario_name: String,
    /// The scenario's file name (no folder), for replay commands.
    pub scenario_file: String,
    /// [`scenario_digest`] of the resolved scenario.
    pub scenario_digest: u64,
    /// The `--set` flags, for replay commands.
    pub set: Vec<String>,
    /// `--swarm`.
    pub swarm: bool,
    /// The seeds.
    pub seeds: SeedSet,
    /// The dsim version that wrote the folder.
    pub dsim_version: String,
}

/// The first line of `sweep.meta`.
const META_TITLE: &str = "dsim sweep identity, format 2: a resume into this folder must match it";

/// A digest of the resolved scenario: every field after `--set`, but not its path, its
/// text (comments and layout do not change a run), the flags' spelling or its seed.
pub fn scenario_digest(scenario: &Scenario) -> u64 {
    let mut resolved = scenario.clone();
    resolved.path = PathBuf::new();
    resolved.text = String::new();
    resolved.overrides = Vec::new();
    resolved.seed = 0;
    dsim_core::trace::digest_debug(&resolved)
}

impl SweepIdentity {
    /// The identity of a sweep of `scenario` (with its `--set` flags) over `seeds`.
    pub fn of(scenario: &Scenario, swarm: bool, seeds: SeedSet) -> SweepIdentity {
        SweepIdentity {
            scenario_name: scenario.name.clone(),
            scenario_file: scenario
                .path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default(),
            scenario_digest: scenario_digest(scenario),
            set: scenario.overrides.clone(),
            swarm,
            seeds,
            dsim_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// The text of `sweep.meta`.
    pub fn render(&self) -> String {
        let one_line = |text: &str| text.replace(['\n', '\r'], " ");
        let mut text = format!(
            "{META_TITLE}\nscenario_name: {}\nscenario_file: {}\nscenario_digest: {:016x}\nswarm: {}\nseeds: {}\nshard: {}\ndsim_version: {}\n",
            one_line(&self.scenario_name),
            one_line(&self.scenario_file),
            self.scenario_digest,
            self.swarm,
            self.seeds.range,
            self.seeds
                .shard
                .map_or("all".to_string(), |shard| shard.to_string()),
            self.dsim_version,
        );
        for flag in &self.set {
            text.push_str(&format!("set: {}\n", one_line(flag)));
        }
        text
    }

    /// Reads `sweep.meta` text; `None` for anything else (an older format included).
    pub fn parse(text: &str) -> Option<SweepIdentity> {
        let mut lines = text.lines();
        if lines.next()? != META_TITLE {
            return None;
        }
        let mut field = |key: &str| -> Option<String> {
            Some(
                lines
                    .next()?
                    .strip_prefix(key)?
                    .strip_prefix(": ")?
                    .to_string(),
            )
        };
        let scenario_name = field("scenario_name")?;
        let scenario_file = field("scenario_file")?;
        let scenario_digest = u64::from_str_radix(&field("scenario_digest")?, 16).ok()?;
        let swarm = field("swarm")?.parse().ok()?;
        let range = SeedRange::parse(&field("seeds")?).ok()?;
        let shard = match field("shard")?.as_str() {
            "all" => None,
            shard => Some(Shard::parse(shard).ok()?),
        };
        let dsim_version = field("dsim_version")?;
        let mut set = Vec::new();
        for line in lines {
            set.push(line.strip_prefix("set: ")?.to_string());
        }
        Some(SweepIdentity {
            scenario_name,
            scenario_file,
            scenario_digest,
            set,
            swarm,
            seeds: SeedSet { range, shard },
            dsim_version,
        })
    }

    /// What differs from `other` (the folder's identity, `self` this command's), in
    /// words; empty when `other` may be resumed.
    pub fn changes_from(&self, other: &SweepIdentity) -> Vec<String> {
        let mut changes = Vec::new();
        if self.dsim_version != other.dsim_version {
            changes.push(format!(
                "it was written by dsim {}, this is dsim {}",
                other.dsim_version, self.dsim_version
            ));
        }
        if self.scenario_digest != other.scenario_digest {
            let mut change = format!(
                "the scenario differs (its resolved contents, --set included, digest {:016x} then, {:016x} now",
                other.scenario_digest, self.scenario_digest
            );
            if self.scenario_name != other.scenario_name {
                change.push_str(&format!(
                    "; name {:?} then, {:?} now",
                    other.scenario_name, self.scenario_name
                ));
            }
            if self.set != other.set {
                change.push_str(&format!(
                    "; --set [{}] then, [{}] now",
                    other.set.join(" "),
                    self.set.join(" ")
                ));
            }
            change.push(')');
            changes.push(change);
        }
        if self.swarm != other.swarm {
            let word = |on: bool| if on { "on" } else { "off" };
            changes.push(format!(
                "--swarm was {}, now {}",
                word(other.swarm),
                word(self.swarm)
            ));
        }
        if self.seeds.range != other.seeds.range {
            changes.push(format!(
                "--seeds was {}, now {}",
                other.seeds.range, self.seeds.range
            ));
        }
        if self.seeds.shard != other.seeds.shard {
            let shard = |shard: Option<Shard>| shard.map_or("none".to_string(), |s| s.to_string());
            changes.push(format!(
                "--shard was {}, now {}",
                shard(other.seeds.shard),
                shard(self.seeds.shard)
            ));
        }
        changes
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

/// FNV-1a, 64 bits: the checksum of a journal line.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// One journal line: the fields, then a checksum of their CSV text.
pub fn journal_line(values: &[String]) -> String {
    let mut fields = values.to_vec();
    fields.push(format!("{:016x}", fnv1a(csv_line(values).as_bytes())));
    csv_line(&fields)
}

/// A journal's verified contents.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JournalContents {
    /// The header, once a row has been written.
    pub header: Option<Vec<String>>,
    /// The rows, each seed once, checksums removed, in file order.
    pub rows: Vec<Vec<String>>,
    /// The byte offset of a torn last line (a kill mid-write), if there is one.
    pub torn_at: Option<u64>,
}

/// Reads journal bytes from `path`: every line's checksum is verified, every row must
/// have the header's fields and a seed of `seeds`, each seed once. A last line that is
/// torn (no newline, or a bad checksum) is reported in `torn_at`, not kept; a bad line
/// anywhere else is [`SweepError::Damaged`].
pub fn read_journal(
    bytes: &[u8],
    path: &Path,
    seeds: &SeedSet,
) -> Result<JournalContents, SweepError> {
    let damaged = |line: u64, problem: String| SweepError::Damaged {
        path: path.to_path_buf(),
        line,
        problem,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    // (line, byte offset, the verified fields or what is wrong)
    let mut records: Vec<(u64, u64, Result<Vec<String>, String>)> = Vec::new();
    for record in reader.byte_records() {
        match record {
            Ok(record) => {
                let position = record
                    .position()
                    .cloned()
                    .unwrap_or_else(csv::Position::new);
                records.push((position.line(), position.byte(), verify_line(&record)));
            }
            Err(error) => {
                let position = error.position().cloned().unwrap_or_else(csv::Position::new);
                records.push((
                    position.line(),
                    position.byte(),
                    Err(format!("unreadable CSV ({error})")),
                ));
                break;
            }
        }
    }
    let mut contents = JournalContents::default();
    let ends_whole = bytes.is_empty() || bytes.ends_with(b"\n");
    if let Some((_, byte, last)) = records.last()
        && (last.is_err() || !ends_whole)
    {
        contents.torn_at = Some(*byte);
        records.pop();
    }
    let mut seen: std::collections::BTreeMap<u64, usize> = std::collections::BTreeMap::new();
    let mut seed_index = 0;
    for (line, _, fields) in records {
        let fields = fields.map_err(|problem| damaged(line, problem))?;
        let Some(header) = &contents.header else {
            seed_index = fields
                .iter()
                .position(|column| column == SEED_COLUMN)
                .ok_or_else(|| damaged(line, format!("the header has no {SEED_COLUMN} column")))?;
            contents.header = Some(fields);
            continue;
        };
        if fields.len() != header.len() {
            return Err(damaged(
                line,
                format!(
                    "the row has {} fields, the header {}",
                    fields.len(),
                    header.len()
                ),
            ));
        }
        let seed: u64 = fields[seed_index]
            .parse()
            .map_err(|_| damaged(line, format!("{:?} is not a seed", fields[seed_index])))?;
        if !seeds.contains(seed) {
            return Err(damaged(
                line,
                format!("seed {seed} is not one of this sweep's seeds"),
            ));
        }
        match seen.get(&seed) {
            Some(&earlier) if contents.rows[earlier] == fields => {}
            Some(_) => {
                return Err(damaged(
                    line,
                    format!("seed {seed} appears twice with different results"),
                ));
            }
            None => {
                seen.insert(seed, contents.rows.len());
                contents.rows.push(fields);
            }
        }
    }
    Ok(contents)
}

/// A journal line's fields without its checksum, if the checksum matches them.
fn verify_line(record: &csv::ByteRecord) -> Result<Vec<String>, String> {
    let mut fields = record
        .iter()
        .map(|field| String::from_utf8(field.to_vec()))
        .collect::<Result<Vec<String>, _>>()
        .map_err(|_| "the line is not UTF-8 text".to_string())?;
    let checksum = fields.pop().unwrap_or_default();
    let expected = format!("{:016x}", fnv1a(csv_line(&fields).as_bytes()));
    if checksum != expected {
        return Err("the line's checksum does not match its contents".to_string());
    }
    Ok(fields)
}

/// The journal of a sweep folder: its header line, the rows finished before it was
/// opened, and the file to append to. Rows appended later are not kept in memory (a
/// sweep of a million seeds stays small); [`Journal::into_rows`] reads them back.
pub struct Journal {
    path: PathBuf,
    file: File,
    seeds: SeedSet,
    header: Option<Vec<String>>,
    rows: Vec<Vec<String>>,
}

impl Journal {
    /// Opens (or creates) the journal in `dir` for the sweep `identity`: a folder
    /// holding another sweep, an older format or a damaged journal is refused; a torn
    /// last line from a killed run is cut off.
    pub fn open(dir: &Path, identity: &SweepIdentity) -> Result<Journal, SweepError> {
        fs::create_dir_all(dir).map_err(io_error(dir))?;
        let meta_path = dir.join(META_FILE);
        match fs::read_to_string(&meta_path) {
            Ok(text) => {
                let existing = SweepIdentity::parse(&text).ok_or_else(|| SweepError::OldMeta {
                    path: meta_path.clone(),
                })?;
                let changes = identity.changes_from(&existing);
                if !changes.is_empty() {
                    return Err(SweepError::Changed {
                        dir: dir.to_path_buf(),
                        changes,
                    });
                }
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                write_atomically(&meta_path, identity.render().as_bytes())?;
            }
            Err(error) if error.kind() == io::ErrorKind::InvalidData => {
                return Err(SweepError::OldMeta { path: meta_path });
            }
            Err(cause) => {
                return Err(SweepError::Io {
                    path: meta_path,
                    cause,
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
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io_error(&path))?;
        let contents = read_journal(&bytes, &path, &identity.seeds)?;
        if let Some(torn_at) = contents.torn_at {
            file.set_len(torn_at).map_err(io_error(&path))?;
            file.seek(SeekFrom::End(0)).map_err(io_error(&path))?;
        }
        Ok(Journal {
            path,
            file,
            seeds: identity.seeds,
            header: contents.header,
            rows: contents.rows,
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
            None => text.push_str(&journal_line(header)),
            Some(existing) if existing.as_slice() != header => {
                return Err(SweepError::Mismatch(format!(
                    "{}: this run's columns differ from the journal's header",
                    self.path.display()
                )));
            }
            Some(_) => {}
        }
        text.push_str(&journal_line(values));
        self.file
            .write_all(text.as_bytes())
            .map_err(io_error(&self.path))?;
        if self.header.is_none() {
            self.header = Some(header.to_vec());
        }
        Ok(())
    }

    /// Every row in the journal file, resumed and appended alike, verified again.
    pub fn into_rows(self) -> Result<Vec<Vec<String>>, SweepError> {
        let bytes = fs::read(&self.path).map_err(io_error(&self.path))?;
        Ok(read_journal(&bytes, &self.path, &self.seeds)?.rows)
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
        let shard = |index| SeedSet {
            range,
            shard: Some(Shard { index, count: 3 }),
        };
        let mut all: Vec<u64> = (1..=3)
            .flat_map(|i| shard(i).iter().collect::<Vec<_>>())
            .collect();
        all.sort();
        // Every seed in exactly one shard, or a merge would miss or double rows.
        assert_eq!(all, (10..=19).collect::<Vec<_>>());
        assert_eq!(shard(1).iter().collect::<Vec<_>>(), vec![10, 13, 16, 19]);
        assert_eq!(shard(2).len(), 3);
        assert!(shard(2).contains(14) && !shard(2).contains(13) && !shard(2).contains(20));
        assert!(Shard::parse("0/3").is_err());
        assert!(Shard::parse("4/3").is_err());
        assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 2, count: 3 }));
    }

    #[test]
    fn huge_seed_ranges_are_counted_not_collected() {
        // `1..u64::MAX` overflowed a capacity computation before; `0..u64::MAX` holds
        // 2^64 seeds, one more than a u64 counts.
        let everything = SeedSet {
            range: SeedRange::parse("0..18446744073709551615").expect("range"),
            shard: None,
        };
        assert_eq!(everything.len(), 1u128 << 64);
        assert!(everything.check_size().is_err());
        let billion = SeedSet {
            range: SeedRange::parse("1..1000000000").expect("range"),
            shard: Some(Shard { index: 2, count: 7 }),
        };
        assert_eq!(billion.len(), 142_857_143);
        assert_eq!(billion.nth(142_857_142), 999_999_996);
        let message = billion.check_size().expect_err("above the limit");
        assert!(message.contains("1000000000 seeds"), "{message}");
        // More shards than seeds: the third shard of two seeds is empty, not an error.
        let empty = SeedSet {
            range: SeedRange { first: 1, last: 2 },
            shard: Some(Shard { index: 3, count: 3 }),
        };
        assert!(empty.is_empty());
        assert_eq!(empty.iter().count(), 0);
    }

    fn identity(seeds: &str) -> SweepIdentity {
        SweepIdentity {
            scenario_name: "demo".into(),
            scenario_file: "demo.toml".into(),
            scenario_digest: 0xfeed,
            set: vec!["network.drop=0.1".into()],
            swarm: false,
            seeds: SeedSet {
                range: SeedRange::parse(seeds).expect("range"),
                shard: None,
            },
            dsim_version: "0.1.0".into(),
        }
    }

    #[test]
    fn identities_read_back_and_name_what_changed() {
        let base = identity("1..30");
        // An identity that does not read back would refuse every resume.
        assert_eq!(SweepIdentity::parse(&base.render()), Some(base.clone()));
        assert!(base.changes_from(&base).is_empty());
        let mut other = identity("1..40");
        other.scenario_digest = 0xbeef;
        other.seeds.shard = Some(Shard { index: 1, count: 2 });
        let changes = other.changes_from(&base).join("; ");
        assert!(
            changes.contains("--seeds was 1..30, now 1..40"),
            "{changes}"
        );
        assert!(changes.contains("the scenario differs"), "{changes}");
        assert!(changes.contains("--shard was none, now 1/2"), "{changes}");
        // The file's name and the flags' spelling alone are not another experiment.
        let mut renamed = base.clone();
        renamed.scenario_file = "copy.toml".into();
        renamed.set = vec!["network.drop=0.10".into()];
        assert!(renamed.changes_from(&base).is_empty());
        // The format before digests does not parse.
        assert_eq!(
            SweepIdentity::parse("scenario: x.toml\nset: \nswarm: false\n"),
            None
        );
    }

    #[test]
    fn a_torn_journal_line_is_cut_and_rows_survive() {
        let dir = tempfile::tempdir().expect("temp dir");
        let header = vec!["seed".to_string(), "value".to_string()];
        let id = identity("1..3");
        {
            let mut journal = Journal::open(dir.path(), &id).expect("open");
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
        let mut journal = Journal::open(dir.path(), &id).expect("reopen journal");
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
        let expected: String = [
            header.clone(),
            vec!["1".into(), "a,b".into()],
            vec!["2".into(), "c".into()],
            vec!["3".into(), "d".into()],
        ]
        .iter()
        .map(|fields| journal_line(fields))
        .collect();
        assert_eq!(text, expected);
        let rows = journal.into_rows().expect("read back");
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[2], vec!["3".to_string(), "d".to_string()]);
        // Another sweep in the same folder is refused, naming what changed.
        let error = Journal::open(dir.path(), &identity("1..4"))
            .err()
            .expect("another seed range is refused");
        assert!(
            error.to_string().contains("--seeds was 1..3, now 1..4"),
            "{error}"
        );
    }

    #[test]
    fn a_damaged_row_in_the_middle_of_the_journal_is_refused_by_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        let header = vec!["seed".to_string(), "value".to_string()];
        let id = identity("1..3");
        {
            let mut journal = Journal::open(dir.path(), &id).expect("open");
            for (seed, value) in [("1", "10"), ("2", "20"), ("3", "30")] {
                journal
                    .append(&header, &[seed.into(), value.into()])
                    .expect("append");
            }
        }
        let path = dir.path().join(JOURNAL_FILE);
        let text = fs::read_to_string(&path).expect("journal");
        // One digit of seed 2's value flipped: the row still has two fields and a seed,
        // so only its checksum can tell.
        fs::write(&path, text.replacen("2,20,", "2,29,", 1)).expect("damage");
        let error = Journal::open(dir.path(), &id)
            .err()
            .expect("a damaged middle row is refused");
        assert!(
            matches!(error, SweepError::Damaged { line: 3, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("rows.journal.csv:3:"), "{error}");
        // The file is left as it was, for the user to look at.
        assert!(
            fs::read_to_string(&path)
                .expect("journal")
                .contains("2,29,")
        );
    }

    #[test]
    fn an_old_format_meta_is_refused_clearly() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(
            dir.path().join(META_FILE),
            "scenario: x.toml\nset: \nswarm: false\n",
        )
        .expect("write");
        let error = Journal::open(dir.path(), &identity("1..3"))
            .err()
            .expect("refused");
        // Resuming it would trust rows of an unknown scenario.
        assert!(matches!(error, SweepError::OldMeta { .. }), "{error}");
        assert!(error.to_string().contains("older format"), "{error}");
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
