//! `report.html`: one self-contained page (inline CSS and SVG, no script, no external
//! resource) with the scenario, the verdict, the summary table, the charts, the
//! violations with their replay command, and the scenario text.

use crate::RunMeta;
use crate::charts::Chart;
use crate::metrics::{SUMMARY_COLUMNS, Summary};
use dsim_core::{Formula, SimDuration, Violation};
use std::fmt::Write;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// One sentence explaining the protocol's formula metric.
pub fn formula_sentence(formula: &Formula) -> String {
    match formula {
        Formula::MeanOkLatency { name: "T" } => "T = (1/n) Σ tᵢ is the mean transaction latency: the average \
            latency_ns of the n transactions that completed ok, in nanoseconds (formula_value equals \
            latency_mean_ns)."
            .to_string(),
        Formula::MeanOkLatency { name: "L" } => "L = (1/m) Σ lᵢ is the mean lock acquisition latency: the \
            average latency_ns of the m lock grants that completed ok, in nanoseconds (formula_value \
            equals latency_mean_ns)."
            .to_string(),
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
        "messages_dropped" => "messages lost (link drops, partitions, crashed targets)",
        "messages_duplicated" => "extra copies made by the network",
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
        _ => "protocol-specific column",
    }
}

const STYLE: &str = "
body { font-family: 'DejaVu Sans', Verdana, Arial, sans-serif; margin: 2em auto; max-width: 1150px;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.8em; }
code, pre { font-family: 'DejaVu Sans Mono', Menlo, Consolas, monospace; font-size: 0.92em; }
pre { background: #f6f6f6; border: 1px solid #ddd; padding: 0.8em; overflow-x: auto; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.value { font-family: 'DejaVu Sans Mono', Menlo, Consolas, monospace; }
.verdict { font-weight: bold; padding: 0.5em 0.8em; border-radius: 4px; display: inline-block; }
.verdict.held { background: #e3f4e3; color: #1d5e1d; }
.verdict.violated { background: #fbe3e3; color: #8b1a1a; }
figure { margin: 1.2em 0; }
figure svg { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { margin-bottom: 0.4em; }
.files a { margin-right: 0.8em; }
";

/// Renders the page. `charts` holds each chart with its SVG text.
pub(crate) fn render(
    meta: &RunMeta,
    summary: &Summary,
    formula: &Formula,
    violations: &[Violation],
    charts: &[(Chart, String)],
    files: &[String],
) -> String {
    let mut page =
        String::with_capacity(64 * 1024 + charts.iter().map(|(_, svg)| svg.len()).sum::<usize>());
    let e = escape_html;
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>dsim report: {} (seed {})</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        e(&meta.scenario),
        meta.seed
    );
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
        let _ = writeln!(
            page,
            "<tr><th>{}</th><td class=\"value\">{}</td><td>{}</td></tr>",
            e(column),
            if value.is_empty() {
                "—".to_string()
            } else {
                e(&value)
            },
            e(meaning)
        );
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
             <th>nodes</th><th>details</th></tr></thead>\n<tbody>\n",
        );
        for violation in violations {
            let nodes: Vec<String> = violation
                .nodes
                .iter()
                .map(|node| node.to_string())
                .collect();
            let _ = writeln!(
                page,
                "<tr><td>{}</td><td class=\"value\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                violation.time,
                violation.time.as_nanos(),
                e(violation.check),
                e(&nodes.join(" ")),
                e(&violation.details)
            );
        }
        page.push_str("</tbody>\n</table>\n");
    }

    page.push_str("<h2>Charts</h2>\n");
    for (chart, svg) in charts {
        let name = chart.name();
        let _ = writeln!(
            page,
            "<figure id=\"chart-{name}\">\n<figcaption><b>{name}</b>: {}</figcaption>",
            e(chart.caption())
        );
        page.push_str(svg);
        let _ = writeln!(
            page,
            "<p class=\"files\"><a href=\"{name}.svg\">{name}.svg</a><a href=\"{name}.png\">{name}.png</a></p>\n</figure>"
        );
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
    page.push_str("</body>\n</html>\n");
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_special_characters_are_escaped() {
        // Unescaped, a scenario name could close the element or inject markup.
        assert_eq!(
            escape_html("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

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
            formula_sentence(&Formula::MeanOkLatency { name: "L" }).contains("lock acquisition")
        );
        assert!(
            formula_sentence(&Formula::MeanOkLatency { name: "R" }).contains("task completion")
        );
    }
}
