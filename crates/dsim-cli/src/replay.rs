//! Replay commands and paths as people see them.
//!
//! A replay command names the binary that is running (a plug-in binary such as
//! `dsim-gossip` prints its own name) with the CLI's subcommand layout:
//! `<binary> run <scenario> --seed N [--set K=V]... [--swarm]`.
//!
//! Where the scenario path comes from depends on who reads it:
//! - files (`report.html`, `sweep.html`, scenario headers) name the scenario by its
//!   file name only, so the same run writes the same bytes whichever folder it was
//!   started from and however the path was typed;
//! - the terminal shows paths relative to the current folder ([`for_terminal`]), so a
//!   printed command can be pasted as it is.

use dsim_scenario::shell_quote;
use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

/// The name of the running binary as a person types it: the file name of the path it
/// was started by (`target/release/dsim` gives `dsim`); `dsim` when unknown.
pub fn program_name() -> String {
    std::env::args_os()
        .next()
        .and_then(|first| program_from(&first))
        .unwrap_or_else(|| "dsim".to_string())
}

/// The program name in the first process argument, if it has one.
fn program_from(first: &OsStr) -> Option<String> {
    let name = Path::new(first).file_name()?.to_string_lossy().into_owned();
    let name = if cfg!(windows) {
        name.strip_suffix(".exe").unwrap_or(&name).to_string()
    } else {
        name
    };
    (!name.is_empty()).then_some(name)
}

/// What replays a run, without the program: the scenario as shown, the seed (none for
/// a sweep's prefix, to which each row adds its own), the `--set` flags and `--swarm`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayCommand<'a> {
    /// The scenario path as it should be shown.
    pub scenario: &'a str,
    /// The seed, if the command is for one run.
    pub seed: Option<u64>,
    /// `--set` flags.
    pub set: &'a [String],
    /// `--swarm`.
    pub swarm: bool,
}

impl ReplayCommand<'_> {
    /// The command for `program`: `<program> run <scenario> [--seed N] [--set ...]
    /// [--swarm]`, every word quoted for a POSIX shell when it needs it.
    pub fn render(&self, program: &str) -> String {
        let mut command = format!(
            "{} run {}",
            shell_quote(program),
            shell_quote(self.scenario)
        );
        if let Some(seed) = self.seed {
            command.push_str(&format!(" --seed {seed}"));
        }
        for flag in self.set {
            command.push_str(" --set ");
            command.push_str(&shell_quote(flag));
        }
        if self.swarm {
            command.push_str(" --swarm");
        }
        command
    }
}

/// The file name of `path`, for files whose bytes must not depend on how the path
/// was typed.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// `path` relative to the current folder, for the terminal (as typed when that
/// cannot be worked out).
pub fn for_terminal(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| relative_to(&cwd, path))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

/// `path` (absolute, or relative to `base`) relative to the folder `base`, both with
/// symbolic links resolved as far as they exist; `None` when they share no folder but
/// the root.
pub fn relative_to(base: &Path, path: &Path) -> Option<PathBuf> {
    let base = resolve(base)?;
    let target = resolve(&if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    })?;
    let base_parts: Vec<Component> = base.components().collect();
    let target_parts: Vec<Component> = target.components().collect();
    let common = base_parts
        .iter()
        .zip(&target_parts)
        .take_while(|(a, b)| a == b)
        .count();
    // Sharing only the root (or, on Windows, the drive), `../../..` would say less
    // than the absolute path.
    if common <= 1 {
        return None;
    }
    let mut relative = PathBuf::new();
    for _ in common..base_parts.len() {
        relative.push("..");
    }
    for part in &target_parts[common..] {
        relative.push(part.as_os_str());
    }
    if relative.as_os_str().is_empty() {
        relative.push(".");
    }
    Some(relative)
}

/// An absolute path with links resolved: the longest existing ancestor canonicalised,
/// the rest appended with `.` and `..` worked out by name.
fn resolve(path: &Path) -> Option<PathBuf> {
    if let Ok(resolved) = path.canonicalize() {
        return Some(resolved);
    }
    let parent = path.parent()?;
    let mut resolved = resolve(parent)?;
    match path.components().next_back()? {
        Component::CurDir => {}
        Component::ParentDir => {
            resolved.pop();
        }
        part => resolved.push(part.as_os_str()),
    }
    Some(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_commands_name_the_running_binary_and_its_layout() {
        let set = vec!["protocol.variant=no-adopt".to_string()];
        let command = ReplayCommand {
            scenario: "my x.toml",
            seed: Some(7),
            set: &set,
            swarm: true,
        };
        // A plug-in binary prints its own name; `dsim` would not know its protocol.
        assert_eq!(
            command.render("dsim-gossip"),
            "dsim-gossip run 'my x.toml' --seed 7 --set protocol.variant=no-adopt --swarm"
        );
        let prefix = ReplayCommand {
            scenario: "a.toml",
            seed: None,
            set: &[],
            swarm: false,
        };
        assert_eq!(prefix.render("dsim"), "dsim run a.toml");
        assert_eq!(
            program_from(OsStr::new("/opt/x/target/release/dsim-gossip")).as_deref(),
            Some("dsim-gossip")
        );
        assert_eq!(program_from(OsStr::new("dsim")).as_deref(), Some("dsim"));
        assert_eq!(program_from(OsStr::new("")), None);
    }

    #[test]
    fn paths_are_shown_relative_to_a_folder_however_they_were_typed() {
        let root = tempfile::tempdir().expect("temp dir");
        let root = root.path().canonicalize().expect("canonical");
        std::fs::create_dir_all(root.join("work/scenarios")).expect("mkdir");
        std::fs::write(root.join("work/scenarios/x.toml"), "").expect("write");
        let work = root.join("work");
        // Absolute, relative and roundabout spellings of one file print the same.
        for typed in [
            root.join("work/scenarios/x.toml"),
            PathBuf::from("scenarios/x.toml"),
            PathBuf::from("./scenarios/../scenarios/x.toml"),
        ] {
            assert_eq!(
                relative_to(&work, &typed),
                Some(PathBuf::from("scenarios/x.toml")),
                "{}",
                typed.display()
            );
        }
        assert_eq!(
            relative_to(&work.join("scenarios"), &root.join("work/results/r")),
            Some(PathBuf::from("../results/r"))
        );
        assert_eq!(relative_to(&work, Path::new("/")), None);
        assert_eq!(file_name(&root.join("work/scenarios/x.toml")), "x.toml");
    }
}
