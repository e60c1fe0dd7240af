//! The one error type of the crate: which file could not be written, and why.

use std::io;
use std::path::{Path, PathBuf};

/// A report file (or the output folder) that could not be written.
///
/// The message names the path, so the CLI can print it as it is.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {cause}", path.display())]
pub struct ReportError {
    /// The file or folder that failed.
    pub path: PathBuf,
    /// What went wrong.
    pub cause: ReportCause,
}

/// Why a report file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportCause {
    /// Creating, writing or renaming failed.
    #[error("{0}")]
    Io(io::Error),
    /// The chart library refused to draw or encode a chart.
    #[error("chart drawing failed: {0}")]
    Chart(String),
}

impl ReportError {
    /// An I/O failure on `path`.
    pub fn io(path: &Path, error: io::Error) -> Self {
        ReportError {
            path: path.to_path_buf(),
            cause: ReportCause::Io(error),
        }
    }

    /// A chart failure on `path`.
    pub fn chart(path: &Path, message: impl Into<String>) -> Self {
        ReportError {
            path: path.to_path_buf(),
            cause: ReportCause::Chart(message.into()),
        }
    }
}
