//! `[workload]` shapes and retry policies as scenario files write them: closed loop,
//! rate phases, `[workload.retry]`, their errors at file:line:col, and `emit` writing
//! them back (what `dsim shrink` relies on).

use dsim_core::{Backoff, ClosedLoop, Jitter, SimDuration, SimTime};
use dsim_scenario::emit::emit;
use dsim_scenario::{Registry, Scenario, ScenarioError};
use std::path::Path;

const BASE: &str = r#"name = "shapes"
duration = "1s"

[protocol]
kind = "queue"
nodes = 1
"#;

fn read(workload: &str) -> Result<Scenario, ScenarioError> {
    let text = format!("{BASE}\n{workload}");
    Scenario::from_text(Path::new("shapes.toml"), &text, &[], &Registry::builtin())
}

#[test]
fn phases_retry_and_closed_loop_read_and_emit_back_the_same() {
    let open = read(
        r#"[workload]
clients = 4
rate = "100/s"

[[workload.phase]]
at = "200ms"
rate = "500/s"

[[workload.phase]]
at = "1.5s"
rate = "0/s"

[workload.retry]
policy = "exponential"
timeout = "50ms"
base = "5ms"
cap = "400ms"
jitter = "full"
max_attempts = 5
budget = 0.2
"#,
    )
    .unwrap();
    let phases = open.workload.phases.as_slice();
    assert_eq!(phases.len(), 2);
    assert_eq!(phases[0].at, SimTime(200_000_000));
    assert_eq!(phases[0].rate_per_s, 500.0);
    assert_eq!(phases[1].rate_per_s, 0.0);
    let retry = open.workload.retry;
    assert_eq!(retry.backoff, Backoff::Exponential);
    assert_eq!(retry.timeout, Some(SimDuration::from_millis(50)));
    assert_eq!(retry.cap, SimDuration::from_millis(400));
    assert_eq!(retry.jitter, Jitter::Full);
    assert_eq!(retry.max_attempts, Some(5));
    assert_eq!(retry.budget_ratio, Some(0.2));
    // A shrunk scenario must run the same workload: emit, read again, compare.
    let written = emit(&open, &open.faults, true, "");
    let again = Scenario::from_text(Path::new("again.toml"), &written, &[], &Registry::builtin())
        .unwrap_or_else(|e| panic!("{e}\n{written}"));
    assert_eq!(again.workload, open.workload);

    let closed = read("[workload]\nclients = 2\noutstanding = 3\nthink_time = \"5ms\"\n").unwrap();
    assert_eq!(
        closed.workload.closed_loop,
        Some(ClosedLoop {
            outstanding: 3,
            think_time: SimDuration::from_millis(5)
        })
    );
    let written = emit(&closed, &closed.faults, true, "");
    let again = Scenario::from_text(Path::new("again.toml"), &written, &[], &Registry::builtin())
        .unwrap_or_else(|e| panic!("{e}\n{written}"));
    assert_eq!(again.workload, closed.workload);
}

#[test]
fn bad_shapes_are_refused_at_their_line_and_column() {
    // (workload text, field named, line:col in the file). The base is 7 lines, then a
    // blank line, so [workload] is line 8.
    let cases = [
        (
            "[workload]\n\n[[workload.phase]]\nat = \"2s\"\nrate = \"5/s\"\n\n[[workload.phase]]\nat = \"1s\"\nrate = \"5/s\"\n",
            "workload.phase[1].at",
            "shapes.toml:15:6",
        ),
        (
            "[workload]\n\n[[workload.phase]]\nat = \"1s\"\nrate = \"-5/s\"\n",
            "workload.phase[0].rate",
            "shapes.toml:12:8",
        ),
        (
            "[workload]\n\n[workload.retry]\npolicy = \"linear\"\n",
            "workload.retry.policy",
            "shapes.toml:11:10",
        ),
        (
            "[workload]\n\n[workload.retry]\nbudget = nan\n",
            "workload.retry.budget",
            "shapes.toml:11:10",
        ),
        (
            "[workload]\noutstanding = 2\nrate = \"10/s\"\n",
            "workload.outstanding",
            "shapes.toml:9:15",
        ),
    ];
    for (workload, field, at) in cases {
        let error = read(workload).expect_err(workload);
        // The message must point at the offending value so a user can fix the file.
        assert_eq!(error.field, field, "{workload}");
        assert!(
            error.to_string().starts_with(at),
            "{workload}: {error} (expected at {at})"
        );
    }
}

#[test]
fn a_flag_switches_a_file_between_open_and_closed_loop() {
    // `--set workload.outstanding=2` on a file with a rate must run a closed loop (the
    // file's rate and arrival give way), and `--set workload.rate=...` on a closed-loop
    // file an open one; without the switch both would be refused as mixing the two.
    let open_file =
        format!("{BASE}\n[workload]\nclients = 2\nrate = \"100/s\"\narrival = \"poisson\"\n");
    let flags = [
        "workload.outstanding=2".to_string(),
        "workload.think_time=5ms".into(),
    ];
    let closed = Scenario::from_text(
        Path::new("s.toml"),
        &open_file,
        &flags,
        &Registry::builtin(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        closed.workload.closed_loop,
        Some(ClosedLoop {
            outstanding: 2,
            think_time: SimDuration::from_millis(5),
        })
    );
    let closed_file =
        format!("{BASE}\n[workload]\nclients = 2\noutstanding = 3\nthink_time = \"1ms\"\n");
    let open = Scenario::from_text(
        Path::new("s.toml"),
        &closed_file,
        &["workload.rate=50/s".to_string()],
        &Registry::builtin(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(open.workload.closed_loop, None);
    assert_eq!(open.workload.rate_per_s, 50.0);
    // Flags of both kinds at once are still refused, naming the conflict.
    let both = [
        "workload.outstanding=2".to_string(),
        "workload.rate=50/s".into(),
    ];
    let error = Scenario::from_text(Path::new("s.toml"), &open_file, &both, &Registry::builtin())
        .expect_err("both kinds by flags");
    assert!(error.to_string().contains("cannot also set"), "{error}");
}
