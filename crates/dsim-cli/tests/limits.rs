//! Valid but huge work is refused by `check`, `run` and `sweep` with exit 2 and a
//! message naming the limit, and `--force` lifts the refusal (for `check`, which
//! shows it without running the huge work).

use std::path::Path;
use std::process::{Command, Output};

fn dsim(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the dsim binary runs")
}

const HUGE_HOLD: &str = "name = \"huge\"\nduration = \"1s\"\n[protocol]\nkind = \"hold\"\nnodes = 1000000\nmessages_per_node = 1000000\n";

#[test]
fn huge_work_exits_2_naming_the_limit_and_force_lets_check_accept_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("huge.toml"), HUGE_HOLD).expect("write");
    // Before the limit, `run` tried to allocate 10^12 messages and aborted (not exit 2).
    for args in [
        vec!["check", "huge.toml"],
        vec!["run", "huge.toml", "--out", "o"],
        vec!["sweep", "huge.toml", "--seeds", "1..2", "--out", "s"],
    ] {
        let output = dsim(&args, dir.path());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("huge.toml:3:1: protocol:"),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains("above the limit of 4 GiB"),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("--force"), "{args:?}: {stderr}");
    }
    let forced = dsim(&["check", "huge.toml", "--force"], dir.path());
    assert_eq!(
        forced.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
    assert!(
        !dir.path().join("o").exists(),
        "a refused run wrote its folder"
    );
}
