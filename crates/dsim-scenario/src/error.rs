//! Scenario errors that name where the problem is and what is allowed.

use std::fmt;
use std::path::PathBuf;

/// Where a bad value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A position in a scenario file (1-based line and column).
    File {
        /// The file.
        path: PathBuf,
        /// Line, from 1.
        line: usize,
        /// Column, from 1.
        column: usize,
    },
    /// A `--set KEY=VALUE` flag.
    Flag(String),
    /// The file as a whole (empty file, unreadable bytes).
    WholeFile(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line, column } => write!(f, "{}:{line}:{column}", path.display()),
            Origin::Flag(flag) => write!(f, "--set {flag}"),
            Origin::WholeFile(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A scenario that cannot be run, with everything a user needs to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// Where.
    pub origin: Origin,
    /// The dotted field path, e.g. `network.drop` or `faults[2].crash`; empty for the
    /// whole file.
    pub field: String,
    /// What is wrong, including what was found.
    pub problem: String,
    /// What would be accepted.
    pub allowed: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.origin)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        write!(f, "{}", self.problem)?;
        if !self.allowed.is_empty() {
            write!(f, "; allowed: {}", self.allowed)?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}
