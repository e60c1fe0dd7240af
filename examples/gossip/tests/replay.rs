//! A plug-in binary is a full dsim CLI under its own name: its replay commands name it,
//! not `dsim` (which does not know the `gossip` kind).

use std::fs;
use std::process::Command;

#[test]
fn the_gossip_binary_prints_and_reports_replay_commands_with_its_own_name() {
    let dir = std::env::temp_dir().join(format!("dsim-gossip-replay-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("temp dir");
    fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/gossip.toml"),
        dir.join("gossip.toml"),
    )
    .expect("copy the scenario");
    let output = Command::new(env!("CARGO_BIN_EXE_dsim-gossip"))
        .args(["run", "gossip.toml", "--out", "r"])
        .current_dir(&dir)
        .output()
        .expect("the gossip binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let report = fs::read_to_string(dir.join("r/report.html")).unwrap_or_default();
    let _ = fs::remove_dir_all(&dir);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    // `dsim run gossip.toml` would fail: the dsim binary has no `gossip` kind.
    assert!(
        stdout.starts_with("dsim-gossip run gossip.toml --seed 1\n"),
        "{stdout}"
    );
    assert!(
        report.contains("<code>dsim-gossip run gossip.toml --seed 1</code>"),
        "the report names the plug-in binary"
    );
}
