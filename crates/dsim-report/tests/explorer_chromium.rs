//! The run explorer in `report.html`, driven in headless Chromium over the DevTools
//! Protocol as a reader would use it: zoom with the wheel and the buttons, filter,
//! click an operation, jump to the violation; and a screenshot that must not be blank.
//! Without Chromium the tests say loudly that they were skipped (see `browser`).

mod awkward;
mod browser;
mod common;

use browser::{Browser, chromium_or_skip, decode_png};
use common::{Spec, run};
use dsim_report::{Perf, write_run_report};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A failing run of the test protocol with every message logged.
fn failing_report(dir: &Path) -> PathBuf {
    let (meta, result) = run(&Spec {
        with_violations: true,
        message_log_limit: usize::MAX,
        ..Spec::default()
    });
    write_run_report(dir, &meta, &result, &Perf { wall_seconds: 0.5 }).unwrap();
    dir.join("report.html").canonicalize().unwrap()
}

fn state(browser: &mut Browser) -> Value {
    browser.eval("window.dsimExplorer.state()")
}

fn number(value: &Value, key: &str) -> f64 {
    value[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {value}"))
}

/// Clicks the element with this id with a real mouse event at its centre.
fn click_element(browser: &mut Browser, id: &str) {
    let point = browser.eval(&format!(
        "(() => {{ const e = document.getElementById('{id}'); e.scrollIntoView({{block: 'center'}}); \
         const r = e.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; }})()"
    ));
    browser.click(point[0].as_f64().unwrap(), point[1].as_f64().unwrap());
}

#[test]
fn explorer_zooms_filters_selects_and_jumps_to_the_violation_in_chromium() {
    let Some(chromium) =
        chromium_or_skip("explorer_zooms_filters_selects_and_jumps_to_the_violation_in_chromium")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = failing_report(dir.path());
    let mut browser = Browser::launch(&chromium, 1200, 1000);
    browser.open(&page);
    assert_eq!(
        browser.eval("document.getElementById('explorer').dataset.ready"),
        "true",
        "the explorer's script ran to its end"
    );

    // Opens on the whole run: every embedded message and operation in view.
    let whole = state(&mut browser);
    let span = number(&whole, "span");
    assert_eq!(number(&whole, "from"), 0.0);
    assert_eq!(number(&whole, "to"), span);
    assert!(number(&whole, "messages") > 1_000.0, "{whole}");
    assert_eq!(
        number(&whole, "visibleMessages"),
        number(&whole, "messages")
    );
    assert_eq!(number(&whole, "visibleOps"), number(&whole, "ops"));
    assert_eq!(
        whole["lanes"].as_array().unwrap().len(),
        6,
        "3 servers, 3 clients"
    );

    // Zoom in with the button: half the span, fewer messages in view.
    click_element(&mut browser, "ex-zoom-in");
    let zoomed = state(&mut browser);
    assert_eq!(number(&zoomed, "to") - number(&zoomed, "from"), span / 2.0);
    assert!(number(&zoomed, "visibleMessages") < number(&whole, "visibleMessages"));

    // The wheel over the canvas zooms in further (around the pointer).
    browser.eval("document.getElementById('ex-canvas').scrollIntoView({block: 'center'})");
    let canvas = browser.eval(
        "(() => { const r = document.getElementById('ex-canvas').getBoundingClientRect(); \
         return [r.left + r.width / 2, r.top + r.height / 2]; })()",
    );
    let (cx, cy) = (canvas[0].as_f64().unwrap(), canvas[1].as_f64().unwrap());
    browser.wheel(cx, cy, -100.0);
    let wheeled = state(&mut browser);
    // A wheel that did nothing would leave the width at span / 2.
    let width = number(&wheeled, "to") - number(&wheeled, "from");
    assert!((width - span * 0.4).abs() < 1.0, "width {width} of {span}");

    // Dragging the diagram to the right shows earlier times at the same zoom.
    browser.drag((cx, cy), (cx + 200.0, cy));
    let dragged = state(&mut browser);
    assert!(
        number(&dragged, "from") < number(&wheeled, "from") - width / 20.0,
        "{dragged}"
    );
    assert!(
        (number(&dragged, "to") - number(&dragged, "from") - width).abs() < 1.0,
        "{dragged}"
    );
    assert_eq!(dragged["selected"], Value::Null, "a drag is not a click");

    // Filter: unticking node 0 removes its lane and every message from or to it.
    click_element(&mut browser, "ex-reset");
    click_element(&mut browser, "ex-node-0");
    let filtered = state(&mut browser);
    assert_eq!(
        filtered["lanes"],
        serde_json::json!([1, 2, 3, 4, 5]),
        "node 0's lane is gone"
    );
    let to_or_from_0: f64 = browser
        .eval(
            "(() => { const m = JSON.parse(document.getElementById('explorer-data').textContent).m; \
             let n = 0; for (let i = 0; i < m.s.length; i++) if (m.s[i] === 0 || m.t[i] === 0) n++; \
             return n; })()",
        )
        .as_f64()
        .unwrap();
    assert!(to_or_from_0 > 0.0);
    assert_eq!(
        number(&filtered, "visibleMessages"),
        number(&whole, "visibleMessages") - to_or_from_0
    );
    click_element(&mut browser, "ex-node-0");

    // Filter by kind: without Request and Reply (kind 0 and 1), no message is left in
    // this protocol.
    let kinds = whole["kinds"].as_array().unwrap().clone();
    assert_eq!(kinds, vec!["Request", "Reply"]);
    click_element(&mut browser, "ex-kind-0");
    click_element(&mut browser, "ex-kind-1");
    assert_eq!(number(&state(&mut browser), "visibleMessages"), 0.0);
    click_element(&mut browser, "ex-kind-0");
    click_element(&mut browser, "ex-kind-1");

    // Jump to violation: the button says so, and the view narrows to the first
    // violation (at 1.003 s) with what it involves highlighted.
    assert_eq!(
        browser.eval("document.getElementById('ex-violation').textContent"),
        "Jump to violation"
    );
    click_element(&mut browser, "ex-violation");
    let jumped = state(&mut browser);
    let at = 1_003_000_000.0;
    assert_eq!(jumped["highlighted"]["check"], "mutual_exclusion");
    assert_eq!(number(&jumped["highlighted"], "at"), at);
    assert!(
        number(&jumped, "from") < at && number(&jumped, "to") > at,
        "{jumped}"
    );
    assert!(
        number(&jumped, "to") - number(&jumped, "from") < span / 10.0,
        "{jumped}"
    );
    // The violation names two operations (violations.csv's `ops`, one of n3 and one of
    // n4): exactly those are highlighted, with their clients' requests and replies. A
    // highlight by nodes and time alone would light up more of n3's and n4's operations
    // (one every 10 ms) and fail the equality.
    let (_, rows) = common::read_csv(&dir.path().join("violations.csv"));
    let mut named: Vec<f64> = rows[0][4]
        .split(' ')
        .map(|id| id.parse().expect("op ids are numbers"))
        .collect();
    named.sort_by(f64::total_cmp);
    assert_eq!(named.len(), 2, "{rows:?}");
    let highlighted: Vec<f64> = jumped["highlighted"]["opIds"]
        .as_array()
        .unwrap_or_else(|| panic!("opIds missing in {jumped}"))
        .iter()
        .map(|id| id.as_f64().unwrap())
        .collect();
    assert_eq!(highlighted, named, "{jumped}");
    assert_eq!(number(&jumped["highlighted"], "ops"), 2.0, "{jumped}");
    assert!(
        number(&jumped["highlighted"], "messages") >= 2.0,
        "{jumped}"
    );
    let status = browser.eval("document.getElementById('ex-status').textContent");
    assert!(
        status
            .as_str()
            .unwrap()
            .contains("mutual_exclusion violation"),
        "{status}"
    );
    let details = browser.eval("document.getElementById('ex-details').textContent");
    assert!(
        details.as_str().unwrap().contains("nodes: n3, n4"),
        "{details}"
    );
    assert!(
        details.as_str().unwrap().contains(&format!(
            "2 operations named by the checker (op {}, op {})",
            named[0], named[1]
        )),
        "{details}"
    );

    // Click an operation bar with the mouse: its details appear.
    let first_visible_op: f64 = browser
        .eval(
            "(() => { const d = JSON.parse(document.getElementById('explorer-data').textContent); \
             const s = window.dsimExplorer.state(); let t = 0; \
             for (let i = 0; i < d.o.c.length; i++) { t += d.o.at[i]; \
               if (d.o.c[i] === 3 && t > s.from && t < s.to && d.o.d[i] > 0 && t + d.o.d[i] < s.to) return i; } \
             return -1; })()",
        )
        .as_f64()
        .unwrap();
    assert!(
        first_visible_op >= 0.0,
        "an operation of n3 lies in the window"
    );
    browser.eval("document.getElementById('ex-canvas').scrollIntoView({block: 'center'})");
    let point = browser.eval(&format!(
        "window.dsimExplorer.position('o', {first_visible_op})"
    ));
    browser.click(point["x"].as_f64().unwrap(), point["y"].as_f64().unwrap());
    let clicked = state(&mut browser);
    assert_eq!(clicked["selected"]["type"], "o", "{clicked}");
    let details = browser.eval("document.getElementById('ex-details').textContent");
    let details = details.as_str().unwrap();
    // The operation's fields: kind, client, invocation and completion times, outcome.
    assert!(details.contains("by client n3"), "{details}");
    assert!(details.contains("invoked at"), "{details}");
    assert!(details.contains("completed at"), "{details}");
    assert!(details.contains("outcome: "), "{details}");

    // The screenshot is not blank: the explorer draws thousands of coloured pixels.
    browser.eval("document.getElementById('ex-canvas').scrollIntoView({block: 'center'})");
    let (width, height, pixels) = decode_png(&browser.screenshot());
    assert_eq!((width, height), (1200, 1000));
    let coloured = pixels
        .chunks(4)
        .filter(|p| {
            let (r, g, b) = (i32::from(p[0]), i32::from(p[1]), i32::from(p[2]));
            (r - g).abs() > 40 || (g - b).abs() > 40 || (r - b).abs() > 40
        })
        .count();
    // A blank or unscripted page is white and grey text: no saturated pixels at all.
    assert!(
        coloured > 5_000,
        "only {coloured} coloured pixels in the screenshot"
    );
}

#[test]
fn explorer_draws_on_load_and_reports_how_long_it_took() {
    let Some(chromium) = chromium_or_skip("explorer_draws_on_load_and_reports_how_long_it_took")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = failing_report(dir.path());
    let mut browser = Browser::launch(&chromium, 1200, 1000);
    browser.open(&page);
    // The explorer stamps the time of its first drawing (milliseconds since the page's
    // navigation started): no stamp means the script failed before drawing anything.
    let drawn_ms = browser.eval("window.dsimExplorer.firstDrawMs");
    let ms = drawn_ms.as_f64().expect("the explorer never drew");
    assert!(ms > 0.0, "{drawn_ms}");
    // The time itself is printed for the performance note, not asserted (no wall-clock
    // assertions in tests). DSIM_EXPLORER_PAGE names another report to time the same way.
    eprintln!(
        "report.html ({} bytes): explorer first drawn {ms:.0} ms after navigation start",
        std::fs::metadata(&page).unwrap().len()
    );
    if let Ok(other) = std::env::var("DSIM_EXPLORER_PAGE") {
        let other = Path::new(&other).canonicalize().unwrap();
        browser.open(&other);
        let ms = browser.eval("window.dsimExplorer.firstDrawMs");
        eprintln!(
            "{} ({} bytes): explorer first drawn {ms} ms after navigation start",
            other.display(),
            std::fs::metadata(&other).unwrap().len()
        );
    }
}

#[test]
fn explorer_opens_on_awkward_runs_and_says_what_it_shows() {
    let Some(chromium) = chromium_or_skip("explorer_opens_on_awkward_runs_and_says_what_it_shows")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut browser = Browser::launch(&chromium, 1200, 1000);
    for name in awkward::CASES {
        let out = dir.path().join(name);
        let (meta, result) = awkward::case(name);
        write_run_report(&out, &meta, &result, &Perf::default()).unwrap();
        browser.open(&out.join("report.html"));
        // The script ran to its end and drew: a throw on an empty array or a zero-width
        // span would leave the page without the ready mark and the status line.
        assert_eq!(
            browser.eval("document.getElementById('explorer').dataset.ready"),
            "true",
            "{name}"
        );
        let status = browser.eval("document.getElementById('ex-status').textContent");
        let status = status.as_str().unwrap().to_string();
        assert!(status.starts_with("Showing "), "{name}: {status}");
        let shown = state(&mut browser);
        match name {
            "no-messages" => {
                assert_eq!(number(&shown, "visibleMessages"), 0.0);
                assert_eq!(number(&shown, "visibleOps"), 1.0);
            }
            "one-node" => {
                assert_eq!(shown["lanes"], serde_json::json!([0]));
                assert_eq!(number(&shown, "visibleMessages"), 3.0);
            }
            "million-messages" => {
                assert_eq!(number(&shown, "messages"), 200_000.0);
                assert!(shown["note"].as_str().unwrap().contains("were left out"));
                click_element(&mut browser, "ex-violation");
                let jumped = state(&mut browser);
                assert_eq!(number(&jumped["highlighted"], "at"), 700e9);
            }
            "violation-at-zero" => {
                click_element(&mut browser, "ex-violation");
                let jumped = state(&mut browser);
                assert_eq!(number(&jumped, "from"), 0.0, "{jumped}");
                assert_eq!(jumped["highlighted"]["check"], "validity");
            }
            other => panic!("unexpected case {other}"),
        }
    }
}
