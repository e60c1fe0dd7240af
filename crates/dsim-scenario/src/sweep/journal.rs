//! The journal of a sweep folder (`rows.journal.csv`): one line per finished seed, each
//! ending in a checksum of its fields, appended with one write so a kill leaves it whole
//! or torn, never mixed.

use super::{
    JOURNAL_FILE, META_FILE, SEED_COLUMN, SeedSet, SweepError, SweepIdentity, csv_line, io_error,
    write_atomically,
};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

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

#[cfg(test)]
mod tests {
    use super::super::identity::test_identity;
    use super::*;

    #[test]
    fn a_torn_journal_line_is_cut_and_rows_survive() {
        let dir = tempfile::tempdir().expect("temp dir");
        let header = vec!["seed".to_string(), "value".to_string()];
        let id = test_identity("1..3");
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
        let error = Journal::open(dir.path(), &test_identity("1..4"))
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
        let id = test_identity("1..3");
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
        let error = Journal::open(dir.path(), &test_identity("1..3"))
            .err()
            .expect("refused");
        // Resuming it would trust rows of an unknown scenario.
        assert!(matches!(error, SweepError::OldMeta { .. }), "{error}");
        assert!(error.to_string().contains("older format"), "{error}");
    }
}
