//! Helpers shared by the CLI integration tests: run the `dsim` binary as a user would
//! and read what it printed.

// Each test file is its own crate and uses only some of these.
#![allow(dead_code)]

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
