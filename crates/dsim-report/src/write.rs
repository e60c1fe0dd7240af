//! Atomic file writes: every report file is written under a temporary name in its own
//! folder, then renamed over the final name, so a reader never sees half a file and an
//! interrupted run never leaves one behind.

use crate::error::ReportError;
use std::fs;
use std::io::{self, Write};
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
    write_streamed_atomically(path, |out| out.write_all(bytes))
}

/// Streams a file to `path` atomically: `fill` writes it piece by piece into a buffered
/// temporary file in the same folder, which is renamed over `path` only once `fill`
/// and the flush succeeded. Nothing but the buffer is held in memory, so a long run's
/// tables cost no more memory than a short one's. On failure the temporary file is
/// removed and the error names `path`.
pub fn write_streamed_atomically(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), ReportError> {
    let temporary = temporary_path(path);
    let written = fs::File::create(&temporary).and_then(|file| {
        let mut out = io::BufWriter::new(file);
        fill(&mut out)?;
        out.flush()
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
    let mut writer = csv_writer(Vec::new());
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

/// Writes a CSV table (see [`csv_bytes`]: the same bytes) to `path` atomically, row by
/// row: rows are formatted as the iterator yields them and go straight to the buffered
/// temporary file, so `rows` can be a lazy iterator over a table of any length.
/// Reusable for any table, e.g. a sweep's `sweep.csv`.
pub fn write_csv_atomically<H, R, F>(path: &Path, header: &[H], rows: R) -> Result<(), ReportError>
where
    H: AsRef<str>,
    R: IntoIterator<Item = Vec<F>>,
    F: AsRef<str>,
{
    write_streamed_atomically(path, |out| write_csv(out, header, rows))
}

/// A CSV writer to `out` in [`csv_bytes`]' format (quoting only when needed, `\n`
/// line ends): the one configuration of every CSV file dsim writes.
pub(crate) fn csv_writer<W: Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(out)
}

/// Writes a CSV table to `out` in [`csv_bytes`]' format, row by row.
fn write_csv<H, R, F>(out: &mut dyn Write, header: &[H], rows: R) -> io::Result<()>
where
    H: AsRef<str>,
    R: IntoIterator<Item = Vec<F>>,
    F: AsRef<str>,
{
    let mut writer = csv_writer(out);
    writer.write_record(header.iter().map(|field| field.as_ref()))?;
    for row in rows {
        assert_eq!(
            row.len(),
            header.len(),
            "a CSV row must have one field per header column"
        );
        writer.write_record(row.iter().map(|field| field.as_ref()))?;
    }
    writer.flush()
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

    #[test]
    fn streamed_csv_file_has_exactly_the_in_memory_bytes() {
        // ops.csv and timeline.csv are streamed row by row; if the streamed writer
        // quoted, terminated or ordered anything differently from `csv_bytes`, report
        // files would change bytes (and the golden output tests with them).
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("table.csv");
        let rows =
            || (0..1_000u32).map(|i| vec![i.to_string(), format!("a,\"{i}\"\nb"), String::new()]);
        write_csv_atomically(&path, &["n", "text", "empty"], rows()).expect("written");
        let written = fs::read(&path).expect("read back");
        assert_eq!(written, csv_bytes(&["n", "text", "empty"], rows()));
        // Only the final file is left: the temporary one was renamed.
        let names: Vec<_> = fs::read_dir(dir.path()).expect("list").collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn failed_stream_leaves_neither_file_nor_temporary() {
        // "Nothing half-written": a writer that fails midway must not leave a partial
        // file under the final name, nor its temporary file.
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("ops.csv");
        let result = write_streamed_atomically(&path, |out| {
            out.write_all(b"op_id\n0\n")?;
            Err(io::Error::other("disk full"))
        });
        assert!(result.is_err());
        assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 0);
    }
}
