//! `report.html` opened in headless Chromium, as a reader would open it: no network,
//! no system state, a fresh profile. Without Chromium the test says loudly that it was
//! skipped, unless `DSIM_REQUIRE_BROWSER=1` (CI sets it), which makes it fail.

mod browser;
mod common;

use common::{Spec, run};
use dsim_report::{Perf, write_run_report};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Runs headless Chromium on `page` with `extra` arguments; its standard output goes to
/// `stdout_file`. Fails the test if Chromium fails or hangs.
fn chromium(chromium: &Path, page: &Path, extra: &[String], stdout_file: &Path) {
    let profile = tempfile::tempdir().unwrap();
    let mut command = Command::new(chromium);
    command
        .args(browser::FLAGS)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(fs::File::create(stdout_file).unwrap())
        .stderr(Stdio::null());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromium.display()));
    // Poll rather than block, so a hung browser fails the test instead of the suite.
    for _ in 0..1_200 {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium exited with {status}");
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("chromium did not finish within 120 s");
}

fn write_report(dir: &Path) -> PathBuf {
    let (meta, result) = run(&Spec {
        with_violations: true,
        ..Spec::default()
    });
    write_run_report(dir, &meta, &result, &Perf { wall_seconds: 0.5 }).unwrap();
    dir.join("report.html").canonicalize().unwrap()
}

#[test]
fn report_html_renders_in_headless_chromium_with_its_charts_and_summary() {
    let Some(browser) = browser::chromium_or_skip(
        "report_html_renders_in_headless_chromium_with_its_charts_and_summary",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = write_report(dir.path());

    let dom_file = dir.path().join("dom.txt");
    chromium(&browser, &page, &["--dump-dom".to_string()], &dom_file);
    let dom = fs::read_to_string(&dom_file).unwrap();
    // The DOM as Chromium parsed it: a broken tag or unescaped text would change the
    // element counts or swallow the tables.
    assert_eq!(dom.matches("<svg").count(), 4, "one inline SVG per chart");
    for chart in ["timeline", "latency_cdf", "latency_histogram", "spacetime"] {
        assert!(
            dom.contains(&format!("id=\"chart-{chart}\"")),
            "figure for {chart}"
        );
    }
    assert!(dom.contains("<table id=\"summary\">"), "summary table");
    for column in [
        "latency_mean_ns",
        "latency_p99_ns",
        "formula_value",
        "fingerprint",
        "job_time_ns",
    ] {
        assert!(
            dom.contains(&format!("<th>{column}</th>")),
            "summary row {column}"
        );
    }
    assert!(dom.contains("<table id=\"violations-table\">"));
    assert!(
        dom.contains("dsim run scenarios/kv-test.toml --seed 7"),
        "replay command"
    );
    assert!(
        dom.contains("mean transaction latency"),
        "formula explained"
    );
    assert!(
        dom.contains("# kv-test.toml &lt;test&gt; &amp; \"quotes\""),
        "scenario text, escaped"
    );
    // Self-contained: nothing to fetch (the only URLs are the SVG namespace); the
    // explorer's script is inline.
    assert!(dom.contains("<section id=\"explorer\""), "the run explorer");
    for loader in [" src=", "<link", "<script src", "url("] {
        assert!(
            !dom.contains(loader),
            "report.html loads something: {loader}"
        );
    }

    let shot = dir.path().join("shot.png");
    chromium(
        &browser,
        &page,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1200,2000".to_string(),
        ],
        &dir.path().join("screenshot-stdout.txt"),
    );
    let bytes = fs::read(&shot).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), (1200, 2000));
    // A blank or error page compresses to a few kilobytes; the rendered report (tables,
    // text, the top of the charts) is well over 100 kB.
    assert!(
        bytes.len() > 100_000,
        "screenshot has only {} bytes",
        bytes.len()
    );
}
