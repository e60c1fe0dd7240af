//! Bandwidth on the command line: a bad bandwidth in a scenario file or a `--set` is
//! refused with exit code 2, its position, and nothing written; a good one runs.

use std::fs;

mod common;
use common::{dsim, text};

const PAXOS: &str = r#"name = "bw"
duration = "200ms"
[protocol]
kind = "paxos"
nodes = 3
[workload]
clients = 1
rate = "50/s"
[network]
latency = "1ms"
"#;

#[test]
fn a_bad_bandwidth_exits_2_with_its_position_and_writes_nothing() {
    // Zero bandwidth would hold every message forever and a unit-less one is
    // ambiguous: both must stop before a run, naming file:line:col, and leave no
    // output folder behind (a half-written folder would look like a result).
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, line) in [
        ("zero.toml", "bandwidth = \"0Mbit/s\""),
        ("unit.toml", "bandwidth = \"10 furlongs/s\""),
        ("nan.toml", "bandwidth = nan"),
    ] {
        fs::write(dir.path().join(name), format!("{PAXOS}{line}\n")).expect("write");
        let out = format!("out-{name}");
        let output = dsim(&["run", name, "--out", &out], dir.path());
        assert_eq!(output.status.code(), Some(2), "{name}: {}", text(&output));
        assert!(
            text(&output).contains(&format!("{name}:11:")),
            "{name}: no position in {}",
            text(&output)
        );
        assert!(
            !dir.path().join(&out).exists(),
            "{name}: an output folder was written"
        );
    }
    fs::write(dir.path().join("ok.toml"), PAXOS).expect("write");
    let output = dsim(
        &[
            "run",
            "ok.toml",
            "--out",
            "flag",
            "--set",
            "network.bandwidth=-1Gbit/s",
        ],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(!dir.path().join("flag").exists());
    let output = dsim(
        &[
            "run",
            "ok.toml",
            "--out",
            "good",
            "--set",
            "network.bandwidth=10Mbit/s",
        ],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
}
