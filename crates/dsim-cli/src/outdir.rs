//! Output folders and files that dsim may replace, and how it knows it wrote them.
//!
//! Every folder dsim writes (a run, a sweep, a merge, a comparison) holds a marker file,
//! [`MARKER_FILE`], that records what made it. An existing folder is replaced (`run`,
//! `merge`) or resumed (`sweep`, `compare`) only when its marker says dsim wrote it as
//! the same kind of output; any other non-empty folder is refused, and so is a folder
//! that holds one of the command's input files. Scenario files written by
//! `--emit-scenario` and `dsim shrink` overwrite only files that dsim wrote (recognised
//! by their header comment), never an input.
//!
//! Runs and merges are written into a staging folder beside the target and renamed
//! into place at the end. Staging folders and temporary files that a killed dsim left
//! behind are removed by a later dsim writing into the same place, but only those it
//! can prove are dsim's and dead: the name pattern, the marker, and a process id that
//! no longer runs on this machine.

use anyhow::{Context, bail};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The marker file in every folder dsim writes.
pub const MARKER_FILE: &str = ".dsim-output";
/// The first line of a marker.
const MARKER_TITLE: &str =
    "dsim output folder: dsim replaces or resumes this folder because this file says it wrote it";
/// In a staging folder only: the process writing it (`pid host`).
const STAGING_FILE: &str = ".dsim-staging";
/// What a staging folder's name holds between the target's name and the process id.
const STAGING_INFIX: &str = ".dsim-staging-";
/// The first lines of scenario files dsim writes (`--emit-scenario`, `dsim shrink`).
pub const WRITTEN_SCENARIO_STARTS: [&str; 2] = ["# The concrete scenario of ", "# Shrunk by `"];

/// What kind of output a folder holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputKind {
    /// `dsim run`.
    Run,
    /// `dsim sweep` (and each sweep of `dsim compare`).
    Sweep,
    /// `dsim merge`.
    Merge,
    /// `dsim compare` (the folder around its sweeps).
    Compare,
    /// `dsim sweep --vary` (the folder around its per-value sweeps).
    Vary,
}

impl OutputKind {
    /// The word in the marker.
    pub fn word(self) -> &'static str {
        match self {
            OutputKind::Run => "run",
            OutputKind::Sweep => "sweep",
            OutputKind::Merge => "merge",
            OutputKind::Compare => "compare",
            OutputKind::Vary => "vary",
        }
    }

    fn parse(word: &str) -> Option<OutputKind> {
        [
            OutputKind::Run,
            OutputKind::Sweep,
            OutputKind::Merge,
            OutputKind::Compare,
            OutputKind::Vary,
        ]
        .into_iter()
        .find(|kind| kind.word() == word)
    }
}

/// The contents of a marker: what made the folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    /// The command kind.
    pub kind: OutputKind,
    /// The dsim version that wrote it.
    pub version: String,
    /// The scenario name (several, comma-separated, for a comparison).
    pub scenario: String,
}

impl Marker {
    /// A marker of this dsim version.
    pub fn new(kind: OutputKind, scenario: &str) -> Marker {
        Marker {
            kind,
            version: env!("CARGO_PKG_VERSION").to_string(),
            scenario: scenario.to_string(),
        }
    }

    /// The file's text (the same bytes for the same kind, version and scenario).
    pub fn render(&self) -> String {
        format!(
            "{MARKER_TITLE}\nkind: {}\ndsim_version: {}\nscenario: {}\n",
            self.kind.word(),
            self.version,
            self.scenario.replace('\n', " ")
        )
    }

    /// Reads a marker's text; `None` unless it is one.
    pub fn parse(text: &str) -> Option<Marker> {
        let mut lines = text.lines();
        if lines.next()? != MARKER_TITLE {
            return None;
        }
        let kind = OutputKind::parse(lines.next()?.strip_prefix("kind: ")?)?;
        let version = lines.next()?.strip_prefix("dsim_version: ")?.to_string();
        let scenario = lines.next()?.strip_prefix("scenario: ")?.to_string();
        Some(Marker {
            kind,
            version,
            scenario,
        })
    }

    /// The marker of folder `dir`, if it has a valid one.
    pub fn read(dir: &Path) -> Option<Marker> {
        fs::read_to_string(dir.join(MARKER_FILE))
            .ok()
            .and_then(|text| Marker::parse(&text))
    }

    /// Writes the marker into `dir`.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let path = dir.join(MARKER_FILE);
        dsim_scenario::sweep::write_atomically(&path, self.render().as_bytes())?;
        Ok(())
    }
}

/// What was at an output folder's place before the command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Nothing.
    Absent,
    /// An empty folder.
    Empty,
    /// A folder dsim wrote as the same kind of output.
    Ours(Marker),
}

/// Checks that `target` may be written as `kind` output: absent, empty, or written by
/// dsim as that kind, and holding none of `inputs` (files or folders the command reads,
/// which must survive it). Otherwise an error that names the folder and the reason.
pub fn check_target(target: &Path, kind: OutputKind, inputs: &[&Path]) -> anyhow::Result<Existing> {
    let metadata = match fs::symlink_metadata(target) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Existing::Absent),
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read {}", target.display()));
        }
    };
    if !metadata.is_dir() {
        bail!(
            "{} exists and is not a folder; choose another --out",
            target.display()
        );
    }
    // A replaced folder must not hold the current folder either (the shell's `cd`).
    let replaced = matches!(kind, OutputKind::Run | OutputKind::Merge);
    if replaced && held_input(target, &[Path::new(".")]).is_some() {
        bail!(
            "{} holds the current folder; dsim would replace it: choose another --out",
            target.display()
        );
    }
    if let Some(input) = held_input(target, inputs) {
        bail!(
            "{} holds {}, an input of this command; dsim never writes over a folder that holds its input, choose another --out",
            target.display(),
            input.display()
        );
    }
    let empty = fs::read_dir(target)
        .with_context(|| format!("cannot read the folder {}", target.display()))?
        .next()
        .is_none();
    if empty {
        return Ok(Existing::Empty);
    }
    match Marker::read(target) {
        Some(marker) if marker.kind == kind => Ok(Existing::Ours(marker)),
        Some(marker) => bail!(
            "{} is a dsim {} folder, not a {} folder; choose another --out",
            target.display(),
            marker.kind.word(),
            kind.word()
        ),
        None => bail!(
            "{} exists, is not empty and has no {MARKER_FILE} marker, so dsim cannot tell it wrote it (folders of a dsim older than the marker included); dsim writes over only folders it wrote: choose another --out, or empty or remove it yourself",
            target.display()
        ),
    }
}

/// The first of `inputs` that lies inside `folder` (or is it).
fn held_input<'a>(folder: &Path, inputs: &[&'a Path]) -> Option<&'a Path> {
    let folder = fs::canonicalize(folder).ok()?;
    inputs
        .iter()
        .copied()
        .find(|input| fs::canonicalize(input).is_ok_and(|input| input.starts_with(&folder)))
}

/// Checks that a scenario file may be written at `path`: absent, or a file dsim wrote
/// (its first line is one of [`WRITTEN_SCENARIO_STARTS`]), and never one of `inputs`.
pub fn check_scenario_target(path: &Path, flag: &str, inputs: &[&Path]) -> anyhow::Result<()> {
    let metadata = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read {}", path.display()));
        }
    };
    if metadata.is_dir() {
        bail!("{flag} {} is a folder; name a file", path.display());
    }
    let target = fs::canonicalize(path).ok();
    if inputs
        .iter()
        .any(|input| target.is_some() && fs::canonicalize(input).ok() == target)
    {
        bail!(
            "{flag} {} is the input scenario; dsim never overwrites its input, choose another file",
            path.display()
        );
    }
    let text = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let first_line = text.split(|&b| b == b'\n').next().unwrap_or_default();
    let ours = WRITTEN_SCENARIO_STARTS
        .iter()
        .any(|start| first_line.starts_with(start.as_bytes()));
    if !ours {
        bail!(
            "{flag} {} exists and was not written by dsim (its first line is not a dsim header); choose another file, or remove it yourself",
            path.display()
        );
    }
    Ok(())
}

/// A hidden sibling folder a run or merge writes into; renamed over the output folder
/// only when everything is written, so a failed command never leaves a half-written
/// folder. Dropped without [`Staging::commit`], it removes itself.
pub struct Staging {
    /// Where to write.
    pub dir: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl Staging {
    /// Creates the staging folder of `target` with `marker` in it (and removes the
    /// staging folders that killed processes left beside it). `target` must have been
    /// checked with [`check_target`].
    pub fn create(target: &Path, marker: &Marker) -> anyhow::Result<Staging> {
        let name = target
            .file_name()
            .with_context(|| {
                format!(
                    "{} does not end in a folder name; name the folder, e.g. --out results/x",
                    target.display()
                )
            })?
            .to_string_lossy()
            .into_owned();
        let parent = parent_of(target);
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the output folder {}", parent.display()))?;
        remove_dead_staging(parent);
        let dir = parent.join(format!(".{name}{STAGING_INFIX}{}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
        }
        fs::create_dir(&dir)
            .with_context(|| format!("cannot write in the output folder {}", parent.display()))?;
        let staging = Staging {
            dir,
            target: target.to_path_buf(),
            committed: false,
        };
        let owner = format!("{} {}\n", std::process::id(), host_name());
        fs::write(staging.dir.join(STAGING_FILE), owner)
            .with_context(|| format!("cannot write in {}", staging.dir.display()))?;
        marker.write(&staging.dir)?;
        Ok(staging)
    }

    /// Moves the finished folder over the target (replacing a folder dsim wrote).
    pub fn commit(mut self) -> anyhow::Result<()> {
        fs::remove_file(self.dir.join(STAGING_FILE))
            .with_context(|| format!("cannot finish {}", self.dir.display()))?;
        if self.target.exists() {
            fs::remove_dir_all(&self.target)
                .with_context(|| format!("cannot replace {}", self.target.display()))?;
        }
        fs::rename(&self.dir, &self.target)
            .with_context(|| format!("cannot move the output into {}", self.target.display()))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// The folder that holds `path` (`.` for a bare name).
fn parent_of(path: &Path) -> &Path {
    path.parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// This machine's name, to tell its processes from another machine's on a shared
/// folder; empty when unknown.
fn host_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .unwrap_or_default()
}

/// True when process `pid` of this machine has certainly ended. Unknown (no `/proc`)
/// counts as running, so nothing is removed on a guess.
fn process_ended(pid: u32) -> bool {
    pid != std::process::id()
        && Path::new("/proc/self").exists()
        && !Path::new("/proc").join(pid.to_string()).exists()
}

/// The process id in a staging folder name `.<name>.dsim-staging-<pid>`.
fn staging_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (_, pid) = rest.rsplit_once(STAGING_INFIX)?;
    pid.parse().ok()
}

/// Removes the staging folders in `parent` left by dsim processes of this machine that
/// have ended (a kill): each must match the name pattern, hold a marker and a staging
/// file naming this host and that ended process.
pub fn remove_dead_staging(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    let host = host_name();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = staging_pid(&name) else {
            continue;
        };
        let dir = entry.path();
        let owner = fs::read_to_string(dir.join(STAGING_FILE)).unwrap_or_default();
        let owned = owner.trim() == format!("{pid} {host}");
        if dir.is_dir() && owned && Marker::read(&dir).is_some() && process_ended(pid) {
            match fs::remove_dir_all(&dir) {
                Ok(()) => {
                    tracing::info!(folder = %dir.display(), "removed a staging folder left by a killed dsim")
                }
                Err(error) => {
                    tracing::warn!(folder = %dir.display(), %error, "cannot remove a staging folder left by a killed dsim")
                }
            }
        }
    }
}

/// The process id in a temporary file name of dsim's atomic writes:
/// `.<stem>.tmp-<pid>` or `.<stem>.tmp-<pid>.<extension>`.
fn temporary_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (_, after) = rest.rsplit_once(".tmp-")?;
    let digits = after.split_once('.').map_or(after, |(digits, _)| digits);
    digits.parse().ok()
}

/// Removes the temporary files (half-written tables, charts, pages) that ended dsim
/// processes of this machine left in `dir`, a folder dsim wrote (it holds a marker).
pub fn remove_dead_temporaries(dir: &Path) {
    if Marker::read(dir).is_none() {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = temporary_pid(&name) else {
            continue;
        };
        let path = entry.path();
        if path.is_file() && process_ended(pid) {
            match fs::remove_file(&path) {
                Ok(()) => {
                    tracing::info!(file = %path.display(), "removed a temporary file left by a killed dsim")
                }
                Err(error) => {
                    tracing::warn!(file = %path.display(), %error, "cannot remove a temporary file left by a killed dsim")
                }
            }
        }
    }
}

/// Creates `dir` if needed, writes its marker, and removes what killed dsim processes
/// left in it: for folders written in place (sweeps, comparisons).
pub fn open_in_place(dir: &Path, marker: &Marker) -> anyhow::Result<()> {
    fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the output folder {}", dir.display()))?;
    if Marker::read(dir).is_none() {
        marker.write(dir)?;
    }
    remove_dead_temporaries(dir);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_reads_back_and_other_text_is_not_a_marker() {
        let marker = Marker::new(OutputKind::Sweep, "paxos-nemesis");
        // A marker that does not read back would make dsim refuse its own folders.
        assert_eq!(Marker::parse(&marker.render()), Some(marker));
        assert_eq!(Marker::parse("kind: run\n"), None);
        assert_eq!(Marker::parse(""), None);
    }

    #[test]
    fn staging_and_temporary_names_give_their_process_id() {
        // A wrong parse would remove live folders, or never remove dead ones.
        assert_eq!(staging_pid(".seed-3.dsim-staging-4242"), Some(4242));
        assert_eq!(staging_pid("seed-3.dsim-staging-4242"), None);
        assert_eq!(staging_pid(".seed-3.dsim-staging-x"), None);
        assert_eq!(temporary_pid(".sweep_formula.tmp-77.png"), Some(77));
        assert_eq!(temporary_pid(".sweep.csv.tmp-78"), Some(78));
        assert_eq!(temporary_pid(".thesis.tmp-notes.txt"), None);
        assert_eq!(temporary_pid("sweep.tmp-78.png"), None);
    }

    #[test]
    fn only_dead_dsim_staging_folders_are_removed() {
        let parent = tempfile::tempdir().expect("temp dir");
        // A process id far above any live one (Linux caps pids at 2^22).
        let dead = 4_000_000_000u32;
        let make = |name: &str, marker: bool, owner: &str| {
            let dir = parent.path().join(name);
            fs::create_dir(&dir).expect("mkdir");
            if marker {
                Marker::new(OutputKind::Run, "x")
                    .write(&dir)
                    .expect("marker");
            }
            fs::write(dir.join(STAGING_FILE), owner).expect("owner");
            dir
        };
        let host = host_name();
        let stale = make(
            &format!(".a.dsim-staging-{dead}"),
            true,
            &format!("{dead} {host}\n"),
        );
        let unmarked = make(
            &format!(".b.dsim-staging-{dead}"),
            false,
            &format!("{dead} {host}\n"),
        );
        let other_host = make(
            &format!(".c.dsim-staging-{dead}"),
            true,
            &format!("{dead} another-machine\n"),
        );
        let own = std::process::id();
        let alive = make(
            &format!(".d.dsim-staging-{own}"),
            true,
            &format!("{own} {host}\n"),
        );
        remove_dead_staging(parent.path());
        if Path::new("/proc/self").exists() {
            assert!(!stale.exists(), "a dead dsim's staging folder is removed");
        }
        // Without the marker, from another machine, or of a live process: kept.
        assert!(unmarked.exists() && other_host.exists() && alive.exists());
    }
}
