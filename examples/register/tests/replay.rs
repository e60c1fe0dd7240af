//! The `dsim-register` binary is the full dsim CLI under its own name: a failing seed of
//! `no-write-back` exits 1, and its shrink subcommand writes a smaller scenario whose
//! header and replay command name `dsim-register` (plain `dsim` has no `register`
//! kind).

use std::fs;
use std::process::{Command, Output};

fn dsim_register(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dsim-register"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the register binary runs")
}

#[test]
fn the_register_binary_finds_and_shrinks_a_no_write_back_failure_under_its_own_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/register.toml"),
        dir.path().join("register.toml"),
    )
    .expect("copy the scenario");
    let variant = "protocol.variant=no-write-back";
    // Exit code 1 is "a check failed"; the library test bounds the sweep the same way.
    let seed = (1..=40)
        .map(|seed| seed.to_string())
        .find(|seed| {
            let out = dsim_register(
                dir.path(),
                &[
                    "run",
                    "register.toml",
                    "--seed",
                    seed,
                    "--set",
                    variant,
                    "--out",
                    "r",
                ],
            );
            out.status.code() == Some(1)
        })
        .expect("a failing seed in 1..=40");
    let shrunk = dsim_register(
        dir.path(),
        &[
            "shrink",
            "register.toml",
            "--seed",
            &seed,
            "--set",
            variant,
            "--out",
            "min.toml",
        ],
    );
    let stdout = String::from_utf8_lossy(&shrunk.stdout).into_owned();
    assert_eq!(shrunk.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!("replay: dsim-register run min.toml --seed {seed}")),
        "{stdout}"
    );
    let text = fs::read_to_string(dir.path().join("min.toml")).expect("shrink wrote min.toml");
    assert!(
        text.starts_with("# Shrunk by `dsim-register shrink`"),
        "{text}"
    );
    // The shrunk file replays the failure with the same binary.
    let replay = dsim_register(
        dir.path(),
        &["run", "min.toml", "--seed", &seed, "--out", "m"],
    );
    assert_eq!(
        replay.status.code(),
        Some(1),
        "the shrunk scenario still fails"
    );
}
