//! Atomic file writes: every report file is written under a temporary name in its own
//! folder, then renamed over the final name, so a reader never sees half a file and an
//! interrupted run never leaves one behind.

use crate::error::ReportError;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The temporary name used while `path` is being written: a hidden file in the same
/// folder (so the rename stays on one file system) that keeps the extension (so a
/// leftover of a killed run reads as what it was); the pattern `.<stem>.tmp-<pid>` is
/// how a later dsim recognises and removes such leftovers.
pub(crate) fn temporary_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (stem, extension) = match name.rsplit_once('.') {
        Some((stem, extension)) => (stem.to_string(), format!(".{extension}")),
        None => (name.clone(), String::new()),
    };
    let temporary = format!(".{stem}.tmp-{}{extension}", std::process::id());
    path.with_file_name(temporary)
}

/// Moves a finished temporary file over `path`; removes it when that fails.
pub(crate) fn commit(temporary: &Path, path: &Path) -> Result<(), ReportError> {
    fs::rename(temporary, path).map_err(|error| {
        let _ = fs::remove_file(temporary);
        ReportError::io(path, error)
    })
}

/// Writes `bytes` to `path` atomically (temporary name in the same folder, then rename).
/// The folder must exist. On failure the temporary file is removed and the error names
/// `path`.
pub fn write_file_atomically(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let temporary = temporary_path(path);
    let written = fs::File::create(&temporary).and_then(|mut file| {
        file.write_all(bytes)?;
        file.flush()
    });
    if let Err(error) = written {
        let _ = fs::remove_file(&temporary);
        return Err(ReportError::io(path, error));
    }
    commit(&temporary, path)
}

/// Renders a tidy CSV table: one header row, then `rows`, each with as many fields as
/// the header. Fields are quoted only when they need it (commas, quotes, newlines).
pub fn csv_bytes<H, R, F>(header: &[H], rows: R) -> Vec<u8>
where
    H: AsRef<str>,
    R: IntoIterator<Item = Vec<F>>,
    F: AsRef<str>,
{
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing to a Vec cannot fail on I/O, and every row has the header's length
    // (asserted below), so the csv writer has nothing left to refuse.
    writer
        .write_record(header.iter().map(|field| field.as_ref()))
        .expect("writing a CSV header to memory");
    for row in rows {
        assert_eq!(
            row.len(),
            header.len(),
            "a CSV row must have one field per header column"
        );
        writer
            .write_record(row.iter().map(|field| field.as_ref()))
            .expect("writing a CSV row to memory");
    }
    writer
        .into_inner()
        .expect("flushing a CSV writer into memory")
}

/// Writes a CSV table (see [`csv_bytes`]) to `path` atomically. Reusable for any
/// table, e.g. a sweep's `sweep.csv`.
pub fn write_csv_atomically<H, R, F>(path: &Path, header: &[H], rows: R) -> Result<(), ReportError>
where
    H: AsRef<str>,
    R: IntoIterator<Item = Vec<F>>,
    F: AsRef<str>,
{
    write_file_atomically(path, &csv_bytes(header, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_name_is_hidden_in_the_same_folder_and_keeps_the_extension() {
        let temporary = temporary_path(Path::new("/out/run/chart.png"));
        assert_eq!(temporary.parent(), Some(Path::new("/out/run")));
        let name = temporary
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        // The rename must not cross folders (it would fail or stop being atomic), and a
        // later dsim recognises leftovers by this pattern to clean them.
        assert!(name.starts_with(".chart.tmp-"), "{name}");
        assert!(name.ends_with(".png"), "{name}");
    }

    #[test]
    fn csv_fields_with_commas_are_quoted() {
        let bytes = csv_bytes(&["a", "b"], vec![vec!["1", "x,y"]]);
        // An unquoted comma would shift every later column of the row.
        assert_eq!(String::from_utf8(bytes).unwrap(), "a,b\n1,\"x,y\"\n");
    }
}
