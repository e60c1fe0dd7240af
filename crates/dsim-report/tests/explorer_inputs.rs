//! The explorer on awkward runs (no messages, one node, a million messages, a violation
//! at time zero): the report is written, the explorer is there and says what it shows.
//! `explorer_chromium.rs` opens the same pages in a browser.

mod awkward;
mod common;

use dsim_report::{Perf, write_run_report};
use std::fs;

/// Writes the case's report and returns `report.html`'s text.
fn page(name: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (meta, result) = awkward::case(name);
    write_run_report(dir.path(), &meta, &result, &Perf::default()).unwrap();
    fs::read_to_string(dir.path().join("report.html")).unwrap()
}

/// The explorer's note, the sentence above the diagram.
fn note(page: &str) -> &str {
    let start = page
        .find("<p id=\"ex-note\">")
        .expect("the explorer's note")
        + 16;
    let end = start + page[start..].find("</p>").unwrap();
    &page[start..end]
}

#[test]
fn explorer_of_a_run_without_messages_says_it_shows_lanes_faults_and_operations_only() {
    let page = page("no-messages");
    // Without the sentence a reader would wonder why no arrow is drawn.
    assert!(
        note(&page).starts_with(
            "The whole run: 0 messages, 1 client operation, 0 faults. No message was logged: \
             the diagram shows lanes, faults and operations only."
        ),
        "{}",
        note(&page)
    );
    assert!(page.contains("\"m\":{\"s\":[],\"t\":[]"));
}

#[test]
fn explorer_of_a_one_node_run_embeds_its_self_messages() {
    let page = page("one-node");
    assert!(
        note(&page).starts_with("The whole run: 3 messages, 1 client operation"),
        "{}",
        note(&page)
    );
    assert!(page.contains("{\"version\":1,\"nodes\":1,"));
    // Messages from n0 to n0: a lane of its own is all there is.
    assert!(page.contains("\"m\":{\"s\":[0,0,0],\"t\":[0,0,0]"));
}

#[test]
fn explorer_of_a_million_messages_keeps_a_window_around_the_violation_and_says_what_it_left_out() {
    let page = page("million-messages");
    let note = note(&page);
    // 200,000 of the messages sent every millisecond, centred on the violation at 700 s.
    assert!(
        note.starts_with(
            "This run logged 1000000 messages and operations, more than the explorer embeds \
             (200000): it shows the window from 600s to 799.999s around the first violation \
             (agreement at 700s), with 200000 messages and 0 operations; 800000 messages and 0 \
             operations outside the window were left out."
        ),
        "{note}"
    );
    // The embedded JSON is the window only (about 26 bytes a message): the whole run
    // would take over 25 MB.
    assert!(page.len() < 8_000_000, "{} bytes", page.len());
}

#[test]
fn explorer_of_a_violation_at_time_zero_jumps_to_a_window_starting_at_zero() {
    let page = page("violation-at-zero");
    // The window cannot start before zero: a subtraction that wrapped would show a
    // window starting near u64::MAX.
    assert!(
        page.contains("\"violations\":[{\"at\":0,\"from\":0,\"to\":250000,\"check\":\"validity\""),
        "{}",
        &page[page.find("\"violations\"").unwrap()..]
    );
    assert!(
        page.contains("<button id=\"ex-violation\" type=\"button\">Jump to violation</button>")
    );
}

#[test]
fn network_duplicates_are_logged_as_copies_right_after_their_original() {
    let (_, result) = common::run(&common::Spec {
        message_log_limit: usize::MAX,
        ..common::Spec::default()
    });
    let output = &result.output;
    let copies: Vec<usize> = (0..output.messages.len())
        .filter(|&i| output.messages[i].duplicate)
        .collect();
    // The test network duplicates 0.5% of messages: every copy is logged, so the
    // explorer can draw each one the engine counted.
    assert!(output.counters.messages_duplicated > 0);
    assert_eq!(copies.len() as u64, output.counters.messages_duplicated);
    assert_eq!(
        output.messages.len() as u64,
        output.counters.messages_sent + output.counters.messages_duplicated
    );
    for &i in &copies {
        let (original, copy) = (&output.messages[i - 1], &output.messages[i]);
        // A copy logged anywhere else, or of another message, would be drawn from the
        // wrong sender or at the wrong time.
        assert!(!original.duplicate);
        assert_eq!(
            (
                copy.source,
                copy.target,
                copy.sent_at,
                output.messages.label(copy)
            ),
            (
                original.source,
                original.target,
                original.sent_at,
                output.messages.label(original)
            )
        );
    }
}
