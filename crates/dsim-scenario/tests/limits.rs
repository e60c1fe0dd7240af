//! Valid but huge work is refused up front with a message naming the limit, instead of
//! aborting the process mid-run; `--force` (WorkLimit::Lifted) lets it through.

use dsim_scenario::scenario::{MEMORY_ESTIMATE_MAX_BYTES, NEMESIS_FAULTS_MAX};
use dsim_scenario::{Origin, Registry, Scenario, WorkLimit};
use std::path::Path;

fn load(text: &str, limit: WorkLimit) -> Result<Scenario, dsim_scenario::ScenarioError> {
    Scenario::from_text_with_limit(
        Path::new("big.toml"),
        text,
        &[],
        &Registry::builtin(),
        limit,
    )
}

const HUGE_HOLD: &str = "name = \"x\"\nduration = \"1s\"\n[protocol]\nkind = \"hold\"\nnodes = 1000000\nmessages_per_node = 1000000\n";

#[test]
fn a_million_nodes_with_a_million_messages_each_is_refused_naming_the_memory_limit() {
    // 10^12 messages in flight used to abort allocating; the estimate must catch it
    // before the run, at the [protocol] table, and say how to force it.
    let error = load(HUGE_HOLD, WorkLimit::Enforced).expect_err("58 TiB is over the limit");
    assert_eq!(error.field, "protocol");
    assert!(
        error.problem.contains("above the limit of 4 GiB"),
        "{error}"
    );
    assert!(error.allowed.contains("--force"), "{error}");
    assert!(
        matches!(error.origin, Origin::File { line: 3, .. }),
        "{error}"
    );
}

#[test]
fn force_lifts_the_memory_limit_and_nothing_else() {
    // With the limit lifted the same file validates (the user asked for it)...
    let scenario = load(HUGE_HOLD, WorkLimit::Lifted).expect("forced");
    assert!(scenario.memory_estimate_bytes(&Registry::builtin()) > MEMORY_ESTIMATE_MAX_BYTES);
    // ...but a real error is still an error.
    let bad = HUGE_HOLD.replace("messages_per_node = 1000000", "messages_per_node = 0");
    assert!(load(&bad, WorkLimit::Lifted).is_err());
}

#[test]
fn every_shipped_scenario_is_well_under_the_memory_limit() {
    // The limit must never refuse a scenario we ship (they run in CI without --force).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let registry = Registry::builtin();
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("scenarios folder") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|ext| ext == "toml") {
            let scenario = Scenario::load(&path, &[], &registry)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            assert!(scenario.memory_estimate_bytes(&registry) < MEMORY_ESTIMATE_MAX_BYTES / 16);
            seen += 1;
        }
    }
    assert!(seen >= 10, "only {seen} scenarios found");
}

#[test]
fn a_nemesis_every_nanosecond_is_refused_at_every_naming_the_fault_limit() {
    // Drawing 8 * 10^9 faults grew to 3.6 GB and aborted in generate.
    let text = "name = \"x\"\nduration = \"10s\"\n[protocol]\nkind = \"paxos\"\nnodes = 3\n[nemesis]\nevery = \"1ns\"\nfaults = [\"crash\"]\n";
    let error = load(text, WorkLimit::Lifted).expect_err("over the nemesis limit, even forced");
    assert_eq!(error.field, "nemesis.every");
    assert!(
        error
            .problem
            .contains(&format!("limit of {NEMESIS_FAULTS_MAX}")),
        "{error}"
    );
    assert!(
        matches!(error.origin, Origin::File { line: 7, .. }),
        "{error}"
    );
    // The smallest `every` the message suggests is accepted.
    assert!(error.allowed.contains("every at least 80.001us"), "{error}");
    let ok = text.replace("\"1ns\"", "\"80.001us\"");
    load(&ok, WorkLimit::Enforced).expect("at the limit");
}

#[test]
fn a_billion_operations_per_second_for_an_hour_is_refused() {
    // Every client operation is observed twice and kept for the history check.
    let text = "name = \"x\"\nduration = \"1h\"\n[protocol]\nkind = \"paxos\"\nnodes = 3\n[workload]\nclients = 3\nrate = \"1000000000/s\"\n";
    let error = load(text, WorkLimit::Enforced).expect_err("terabytes of history");
    assert!(error.problem.contains("above the limit"), "{error}");
}
