//! Helpers shared by the CLI integration tests: run the `dsim` binary as a user would
//! and read what it printed.

// Each test file is its own crate and uses only some of these.
#![allow(dead_code)]

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

/// Runs the built `dsim` binary with `args` in folder `dir`.
pub fn dsim(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the dsim binary runs")
}

/// Everything the run printed, standard output then standard error.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The files of an output folder, by name, with their bytes: everything dsim promises
/// to write byte-identically (all but `perf.csv`, which holds wall-clock times).
pub fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .expect("run folder")
        .map(|entry| {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (name, fs::read(&path).expect("read file"))
        })
        .filter(|(name, _)| name != "perf.csv")
        .collect();
    files.sort();
    files
}
