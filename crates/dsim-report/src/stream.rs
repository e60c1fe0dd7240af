//! `ops.csv` and `history.edn` written during the run: [`StreamedOps`] is handed to the
//! engine as its operation sink ([`dsim_core::RunRequest::ops_sink`]) and writes both
//! files to temporary names in the report folder as each operation is invoked and
//! completes; [`crate::write_streamed_run_report`] renames them into place. The writers
//! are the ones the end-of-run report uses ([`OpsCsvWriter`], [`HistoryWriter`]), so
//! both ways give the same bytes.

use crate::error::ReportError;
use crate::history::HistoryWriter;
use crate::ops::OpsCsvWriter;
use crate::write::{commit, temporary_path};
use dsim_core::{OpRecord, OpSink};
use std::cell::RefCell;
use std::fs;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::rc::Rc;

type FileOut = BufWriter<fs::File>;

/// The two writers, while the run feeds them.
struct Writers {
    ops_csv: OpsCsvWriter<FileOut>,
    history: HistoryWriter<FileOut>,
}

impl OpSink for Writers {
    fn invoked(&mut self, op: &OpRecord) {
        self.ops_csv.invoked(op);
        self.history.invoked(op);
    }

    fn completed(&mut self, op: &OpRecord) {
        self.ops_csv.completed(op);
        self.history.completed(op);
    }
}

/// The engine's handle on the writers (the run owns it; [`StreamedOps`] keeps another).
struct SharedWriters(Rc<RefCell<Option<Writers>>>);

impl OpSink for SharedWriters {
    fn invoked(&mut self, op: &OpRecord) {
        if let Some(writers) = self.0.borrow_mut().as_mut() {
            writers.invoked(op);
        }
    }

    fn completed(&mut self, op: &OpRecord) {
        if let Some(writers) = self.0.borrow_mut().as_mut() {
            writers.completed(op);
        }
    }
}

/// `ops.csv` and `history.edn` of one run, being written under temporary names in the
/// report folder. Dropped without [`StreamedOps::finish`] (a run or report that failed),
/// it removes both temporary files.
pub struct StreamedOps {
    writers: Rc<RefCell<Option<Writers>>>,
    /// (temporary, final) paths of `ops.csv` and `history.edn`.
    ops_csv: (PathBuf, PathBuf),
    history: (PathBuf, PathBuf),
}

impl StreamedOps {
    /// Creates both temporary files in `dir` (which must exist) for a run of
    /// `node_count` nodes (clients included, as [`dsim_core::RunOutput::node_count`]).
    pub fn create(dir: &Path, node_count: usize) -> Result<StreamedOps, ReportError> {
        let paths = |name: &str| {
            let path = dir.join(name);
            (temporary_path(&path), path)
        };
        let mut streamed = StreamedOps {
            writers: Rc::new(RefCell::new(None)),
            ops_csv: paths("ops.csv"),
            history: paths("history.edn"),
        };
        let open = |(temporary, path): &(PathBuf, PathBuf)| {
            fs::File::create(temporary)
                .map(BufWriter::new)
                .map_err(|error| ReportError::io(path, error))
        };
        // If the second cannot be created, dropping `streamed` removes the first.
        let ops_csv = OpsCsvWriter::new(open(&streamed.ops_csv)?);
        let history = HistoryWriter::new(open(&streamed.history)?, node_count);
        streamed.writers = Rc::new(RefCell::new(Some(Writers { ops_csv, history })));
        Ok(streamed)
    }

    /// The sink to hand the engine ([`dsim_core::RunRequest::ops_sink`]).
    pub fn sink(&self) -> Box<dyn OpSink> {
        Box::new(SharedWriters(self.writers.clone()))
    }

    /// Writes what the writers still hold (the operations the run ended in the middle
    /// of), flushes both files and renames them into place; returns the final paths of
    /// `ops.csv` and `history.edn`. On an error both temporary files are removed and
    /// the error names the file that failed.
    pub fn finish(self) -> Result<(PathBuf, PathBuf), ReportError> {
        let Some(writers) = self.writers.borrow_mut().take() else {
            unreachable!("the writers are taken only here, once")
        };
        let flushed = |result: io::Result<FileOut>, path: &Path| {
            result
                .and_then(|out| out.into_inner().map_err(io::Error::from))
                .map_err(|error| ReportError::io(path, error))
        };
        flushed(writers.ops_csv.finish(), &self.ops_csv.1)?;
        flushed(writers.history.finish(), &self.history.1)?;
        commit(&self.ops_csv.0, &self.ops_csv.1)?;
        commit(&self.history.0, &self.history.1)?;
        Ok((self.ops_csv.1.clone(), self.history.1.clone()))
    }
}

impl Drop for StreamedOps {
    fn drop(&mut self) {
        // After a successful finish the temporary names are gone (renamed): nothing to do.
        for temporary in [&self.ops_csv.0, &self.history.0] {
            let _ = fs::remove_file(temporary);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Perf, RunMeta, write_streamed_run_report};
    use dsim_core::{
        Counters, Formula, NoEvent, NodeId, Observation, ObservationRecord, Outcome, RunOutput,
        RunResult, SimTime, Value, Verdict,
    };

    /// A small run: three operations of one client, the last one unfinished.
    fn result() -> RunResult {
        let at = |ms: u64, observation| ObservationRecord::<NoEvent> {
            time: SimTime(ms * 1_000_000),
            node: NodeId(3),
            observation,
        };
        let invoked = |op| Observation::OpInvoked {
            op,
            f: "put",
            key: Some(Value::Int(1)),
            arg: Value::Int(op as i64),
        };
        let observations = vec![
            at(1, invoked(0)),
            at(2, invoked(1)),
            at(
                3,
                Observation::OpCompleted {
                    op: 1,
                    outcome: Outcome::Ok,
                    ret: Value::Nil,
                },
            ),
            at(
                4,
                Observation::OpCompleted {
                    op: 0,
                    outcome: Outcome::Fail("rejected"),
                    ret: Value::Nil,
                },
            ),
            at(5, invoked(2)),
        ];
        RunResult {
            output: RunOutput {
                seed: 1,
                node_count: 4,
                end_time: SimTime(10_000_000),
                counters: Counters::default(),
                fingerprint: 0,
                ops: dsim_core::ops::pair(&observations),
                observations: Vec::new(),
                fault_log: Vec::new(),
                messages: dsim_core::MessageLog::new(),
            },
            verdict: Verdict {
                violations: Vec::new(),
                formula: Formula::MeanOkLatency { name: "T" },
                agreement: 1.0,
                extra_columns: Vec::new(),
            },
            trace_error: None,
        }
    }

    /// Names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("list")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_stream_dropped_by_an_error_exit_leaves_no_file_behind() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let result = result();
        let streamed = StreamedOps::create(dir.path(), 4).expect("created");
        dsim_core::ops::replay(&result.output.ops, &mut *streamed.sink());
        // While the run goes on, only the two temporary files exist.
        assert_eq!(names(dir.path()).len(), 2);
        assert!(names(dir.path()).iter().all(|name| name.contains(".tmp-")));
        // A run or report that fails drops the stream: half-written files must not
        // stay, neither under the final names nor the temporary ones.
        drop(streamed);
        assert_eq!(names(dir.path()), Vec::<String>::new());
    }

    #[test]
    fn a_report_that_fails_after_streaming_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let result = result();
        // report.html cannot be renamed over a folder that holds a file, so the report
        // fails after the streamed files were finished and every other file written.
        fs::create_dir_all(dir.path().join("report.html/x")).expect("blocking folder");
        let streamed = StreamedOps::create(dir.path(), 4).expect("created");
        dsim_core::ops::replay(&result.output.ops, &mut *streamed.sink());
        let written = write_streamed_run_report(
            dir.path(),
            &RunMeta::default(),
            &result,
            &Perf::default(),
            streamed,
        );
        assert!(written.is_err());
        // Every temporary file is either renamed or removed, whatever failed.
        let left: Vec<String> = names(dir.path())
            .into_iter()
            .filter(|name| name.contains(".tmp"))
            .collect();
        assert_eq!(left, Vec::<String>::new());
    }

    #[test]
    fn streamed_files_are_the_in_memory_reports_bytes() {
        let result = result();
        let streamed_dir = tempfile::tempdir().expect("temporary folder");
        let streamed = StreamedOps::create(streamed_dir.path(), 4).expect("created");
        dsim_core::ops::replay(&result.output.ops, &mut *streamed.sink());
        let meta = RunMeta::default();
        write_streamed_run_report(
            streamed_dir.path(),
            &meta,
            &result,
            &Perf::default(),
            streamed,
        )
        .expect("written");
        let memory_dir = tempfile::tempdir().expect("temporary folder");
        crate::write_run_report(memory_dir.path(), &meta, &result, &Perf::default())
            .expect("written");
        // Same files (report.html lists them, so their order counts too), same bytes.
        assert_eq!(names(streamed_dir.path()), names(memory_dir.path()));
        for name in ["ops.csv", "history.edn", "report.html"] {
            let read = |dir: &Path| fs::read(dir.join(name)).expect("read");
            assert_eq!(read(streamed_dir.path()), read(memory_dir.path()), "{name}");
        }
    }
}
