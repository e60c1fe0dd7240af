//! Published Jepsen etcd histories (from Porcupine's test data) with known verdicts.
//! See `tests/data/README.md` for their source and license.

use dsim_checkers::{DEFAULT_BUDGET, Verdict, io, linearizable, model_by_name, validate};
use std::path::Path;

fn check(name: &str) -> (dsim_checkers::History, Verdict) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let bytes = std::fs::read(&path).expect("test data present");
    let history = io::read_history(&bytes).expect("published history parses");
    let model = model_by_name("cas-register").expect("model");
    validate(&history, model.as_ref()).expect("every operation is a cas-register op");
    let verdict = linearizable(&history, model.as_ref(), DEFAULT_BUDGET);
    (history, verdict)
}

#[test]
fn etcd_000_is_not_linearizable() {
    // Porcupine and Knossos both find etcd_000 illegal; a checker that accepted it
    // would be missing stale reads under partitions.
    let (history, verdict) = check("etcd_000.log");
    let Verdict::NotLinearizable { counterexample, .. } = &verdict else {
        panic!("expected a violation, got {verdict:?}")
    };
    // The stuck operation is a completed (ok) operation, placed after the prefix.
    let stuck = &history.ops[counterexample.stuck];
    assert_eq!(stuck.op_type, dsim_checkers::OpType::Ok);
    assert!(counterexample.window.contains(&counterexample.stuck));
    assert!(!counterexample.prefix.contains(&counterexample.stuck));
}

#[test]
fn etcd_001_is_not_linearizable() {
    let (_, verdict) = check("etcd_001.log");
    assert!(
        matches!(verdict, Verdict::NotLinearizable { .. }),
        "expected a violation, got {verdict:?}"
    );
}

#[test]
fn etcd_002_is_linearizable_with_a_witness_of_every_ok_operation() {
    let (history, verdict) = check("etcd_002.log");
    let Verdict::Linearizable { witnesses, .. } = &verdict else {
        panic!("expected linearizable, got {verdict:?}")
    };
    // The witness places every ok operation exactly once (info ones optionally);
    // a witness missing one would not prove anything.
    let order = &witnesses[0].order;
    for op in &history.ops {
        let placed = order.iter().filter(|&&id| id == op.id).count();
        match op.op_type {
            dsim_checkers::OpType::Ok => assert_eq!(placed, 1, "{op}"),
            dsim_checkers::OpType::Fail => assert_eq!(placed, 0, "{op}"),
            dsim_checkers::OpType::Info => assert!(placed <= 1, "{op}"),
        }
    }
}

#[test]
fn etcd_005_is_linearizable() {
    let (_, verdict) = check("etcd_005.log");
    assert!(
        verdict.is_linearizable(),
        "expected linearizable, got {verdict:?}"
    );
}
