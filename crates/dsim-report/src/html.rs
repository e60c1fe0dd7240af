//! `report.html`: one self-contained page (inline CSS, SVG and script, no external
//! resource) with the scenario, the verdict, the run explorer ([`crate::explorer`]),
//! the summary table, the charts, the violations with their replay command, and the
//! scenario text. The stylesheet and
//! the page scaffolding are shared with the sweep pages (module `page`).

use crate::RunMeta;
use crate::charts::Chart;
use crate::metrics::{SUMMARY_COLUMNS, Summary};
use crate::page::{PAGE_END, figure, page_start, value_row};
use dsim_core::{Formula, SimDuration, Violation};
use std::fmt::Write;

pub use crate::page::escape_html;

/// Width of the page's text column: the run charts are 1100 pixels wide.
const PAGE_WIDTH_PX: u32 = 1150;

/// One sentence explaining the protocol's formula metric.
pub fn formula_sentence(formula: &Formula) -> String {
    match formula {
        Formula::MeanOkLatency { name: "T" } => "T = (1/n) Σ tᵢ is the mean transaction latency: the average \
            latency_ns of the n transactions that completed ok, in nanoseconds (formula_value equals \
            latency_mean_ns)."
            .to_string(),
        Formula::MeanOkLatencyOf { name: "L", f } => format!(
            "L = (1/m) Σ lᵢ is the mean lock acquisition latency: the average latency_ns of the m \
             lock grants that completed ok (the ok rows of ops.csv whose f is {f}; releases are \
             recorded too but not averaged), in nanoseconds."
        ),
        Formula::MeanOkLatencyOf { name, f } => format!(
            "{name} is the mean latency of the {f} operations that completed ok, in nanoseconds."
        ),
        Formula::MeanOkLatency { name: "R" } => "R = (1/k) Σ rᵢ is the mean task completion time: the \
            average latency_ns of the k tasks that completed ok, in nanoseconds (formula_value equals \
            latency_mean_ns)."
            .to_string(),
        Formula::MeanOkLatency { name } => format!(
            "{name} is the mean latency of the operations that completed ok, in nanoseconds \
             (formula_value equals latency_mean_ns)."
        ),
        Formula::Value { name: "f(x)", .. } => "f(x) = argmax_v Σᵢ p(v | xᵢ) is per-slot agreement: for each \
            decided slot, the value v with the most support across nodes, where p(v | xᵢ) is 1 if node i \
            learned v; agreement is that support divided by the number of nodes."
            .to_string(),
        Formula::Value { name, .. } => {
            format!("{name} is a value computed by the protocol's checker from the run's observations.")
        }
    }
}

/// What each standard summary column means, for the table's third column.
fn column_meaning(column: &str) -> &'static str {
    match column {
        "scenario" => "scenario name",
        "protocol" => "protocol kind",
        "variant" => "protocol variant (correct or a planted bug)",
        "seed" => "run seed: the same seed replays the same run",
        "virtual_time_ns" => "simulated time at the end of the run",
        "events" => "events the engine handled (starts, deliveries, timers, faults)",
        "messages_sent" => "messages nodes sent",
        "messages_delivered" => "messages handed to their target, duplicates included",
        "messages_dropped" => {
            "messages lost (link drops, partitions, crashed targets, full queues)"
        }
        "messages_duplicated" => "extra copies made by the network",
        "messages_dropped_overload" => {
            "messages dropped because their target's arrival queue was full (load model)"
        }
        "ops_ok" => "client operations that succeeded",
        "ops_failed" => "client operations that completed with a failure (timeout, abort, ...)",
        "latency_mean_ns" => "mean latency of ok operations, rounded to the nearest ns",
        "latency_p50_ns" => "median latency of ok operations (nearest rank)",
        "latency_p99_ns" => "99th percentile latency of ok operations (nearest rank)",
        "formula" => "the protocol's averaging formula (explained above)",
        "formula_value" => "value of the formula",
        "agreement" => "agreement ratio in [0, 1]",
        "violations" => "broken invariants found by the checker",
        "fingerprint" => "hash of the ordered event trace: equal runs have equal fingerprints",
        "throughput_per_s" => "ok operations per second of virtual time",
        "mean_in_flight" => {
            "time-average number of operations in flight (Little's law: about throughput times mean latency)"
        }
        _ => "protocol-specific column",
    }
}

/// Renders the page. `charts` holds each chart with its SVG text; `explorer` is the
/// run explorer's HTML, placed right under the verdict. The page is built in the
/// explorer's own buffer (the rest is put around it), so a long run's explorer, megabytes
/// of text, is never held twice.
pub(crate) fn render(
    meta: &RunMeta,
    summary: &Summary,
    formula: &Formula,
    violations: &[Violation],
    charts: &[(Chart, String)],
    files: &[String],
    explorer: String,
) -> String {
    let mut page = String::with_capacity(64 * 1024);
    let e = escape_html;
    page.push_str(&page_start(
        &format!("dsim report: {} (seed {})", meta.scenario, meta.seed),
        PAGE_WIDTH_PX,
    ));
    let _ = writeln!(page, "<h1>{}</h1>", e(&meta.scenario));
    let _ = writeln!(
        page,
        "<p>Protocol <b>{}</b>, variant <b>{}</b>, seed <b>{}</b>, {} of virtual time, \
         fingerprint <code>{}</code>.</p>",
        e(&meta.protocol),
        e(&meta.variant),
        meta.seed,
        SimDuration(summary.virtual_time_ns),
        e(&dsim_core::fingerprint_hex(summary.fingerprint)),
    );
    if violations.is_empty() {
        page.push_str("<p class=\"verdict held\">All checks held.</p>\n");
    } else {
        let _ = writeln!(
            page,
            "<p class=\"verdict violated\">{} violation{} found: see <a href=\"#violations\">Violations</a>.</p>",
            violations.len(),
            if violations.len() == 1 { "" } else { "s" }
        );
    }
    let _ = writeln!(
        page,
        "<p>Replay this run: <code>{}</code></p>",
        e(&meta.replay_command)
    );
    let head = page;
    let mut page = explorer;
    page.reserve(head.len() + 64 * 1024 + charts.iter().map(|(_, svg)| svg.len()).sum::<usize>());
    page.insert_str(0, &head);
    drop(head);

    page.push_str("<h2>Summary</h2>\n");
    let _ = writeln!(
        page,
        "<p class=\"formula\">Formula <b>{}</b>: {}</p>",
        e(&summary.formula),
        e(&formula_sentence(formula))
    );
    page.push_str(
        "<table id=\"summary\">\n<thead><tr><th>column</th><th>value</th><th>meaning</th></tr></thead>\n<tbody>\n",
    );
    for (index, (column, value)) in summary.header().iter().zip(summary.values()).enumerate() {
        let meaning = if index < SUMMARY_COLUMNS.len() {
            column_meaning(column)
        } else {
            column_meaning("")
        };
        value_row(&mut page, column, &value, meaning);
    }
    page.push_str("</tbody>\n</table>\n");
    let _ = writeln!(
        page,
        "<p>Operations: {} ok, {} failed, {} unfinished when the run ended.</p>",
        summary.ops_ok, summary.ops_failed, summary.ops_unfinished
    );

    if !violations.is_empty() {
        page.push_str("<h2 id=\"violations\">Violations</h2>\n");
        let _ = writeln!(
            page,
            "<p>Replay the failing run with <code>{}</code>.</p>",
            e(&meta.replay_command)
        );
        page.push_str(
            "<table id=\"violations-table\">\n<thead><tr><th>time</th><th>time_ns</th><th>check</th>\
             <th>nodes</th><th>details</th><th>ops</th></tr></thead>\n<tbody>\n",
        );
        for violation in violations {
            let nodes: Vec<String> = violation
                .nodes
                .iter()
                .map(|node| node.to_string())
                .collect();
            // The operations involved, by op_id in ops.csv (empty for checks not about
            // operations).
            let ops: Vec<String> = violation.ops.iter().map(u64::to_string).collect();
            let _ = writeln!(
                page,
                "<tr><td>{}</td><td class=\"value\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                violation.time,
                violation.time.as_nanos(),
                e(violation.check),
                e(&nodes.join(" ")),
                e(&violation.details),
                e(&ops.join(" "))
            );
        }
        page.push_str("</tbody>\n</table>\n");
        violation_figures(&mut page, violations);
    }

    page.push_str("<h2>Charts</h2>\n");
    for (chart, svg) in charts {
        figure(&mut page, chart.name(), chart.caption(), svg);
    }

    page.push_str("<h2>Files</h2>\n<p class=\"files\">");
    for file in files {
        let _ = write!(page, "<a href=\"{0}\">{0}</a> ", e(file));
    }
    page.push_str("</p>\n<p>Every file except perf.csv is byte-identical when the same scenario runs with the same seed.</p>\n");

    page.push_str("<h2>Scenario</h2>\n");
    let _ = writeln!(
        page,
        "<pre id=\"scenario\">{}</pre>",
        e(&meta.scenario_toml)
    );
    page.push_str(PAGE_END);
    page
}

/// The pictures checkers drew for their violations (an isolation anomaly's dependency
/// cycle), each under a caption naming the violation, in the violations' order.
fn violation_figures(page: &mut String, violations: &[Violation]) {
    for (index, violation) in violations.iter().enumerate() {
        let Some(svg) = &violation.figure else {
            continue;
        };
        let summary = violation.details.lines().next().unwrap_or_default();
        let _ = writeln!(
            page,
            "<figure class=\"violation-figure\" id=\"violation-figure-{index}\">{svg}\
             <figcaption>{} at {}: {}</figcaption></figure>",
            escape_html(violation.check),
            violation.time,
            escape_html(summary)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_formula_gets_its_own_sentence() {
        let t = formula_sentence(&Formula::MeanOkLatency { name: "T" });
        let f = formula_sentence(&Formula::Value {
            name: "f(x)",
            value: 1.0,
        });
        assert!(t.contains("mean transaction latency"), "{t}");
        assert!(f.contains("argmax_v"), "{f}");
        assert!(
            formula_sentence(&Formula::MeanOkLatencyOf {
                name: "L",
                f: "acquire"
            })
            .contains("lock acquisition")
        );
        assert!(
            formula_sentence(&Formula::MeanOkLatency { name: "R" }).contains("task completion")
        );
    }
}
