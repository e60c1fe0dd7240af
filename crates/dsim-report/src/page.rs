//! The scaffolding shared by the HTML pages (`report.html`, `sweep.html`,
//! `compare.html`): escaping, one stylesheet, the page head and end, figures with links
//! to their files, and the three-column rows of the summary and statistics tables.
//! Pages are self-contained: inline CSS and SVG, no script, no external resource.

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

/// The stylesheet of every page; `MAX_WIDTH_PX` is replaced by the page's width.
const STYLE: &str = "
body { font-family: 'DejaVu Sans', Verdana, Arial, sans-serif; margin: 2em auto; max-width: MAX_WIDTH_PXpx;
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

/// The page's start, up to and including `<body>`: `title` (escaped here) and the
/// stylesheet, with the text column at most `max_width_px` wide (a little more than the
/// page's widest chart).
pub(crate) fn page_start(title: &str, max_width_px: u32) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{}</style>\n</head>\n<body>\n",
        escape_html(title),
        STYLE.replace("MAX_WIDTH_PX", &max_width_px.to_string())
    )
}

/// The page's end.
pub(crate) const PAGE_END: &str = "</body>\n</html>\n";

/// Appends a figure: `<name>`'s caption, its inline SVG, and links to `<name>.svg` and
/// `<name>.png`.
pub(crate) fn figure(page: &mut String, name: &str, caption: &str, svg: &str) {
    let _ = writeln!(
        page,
        "<figure id=\"chart-{name}\">\n<figcaption><b>{name}</b>: {}</figcaption>",
        escape_html(caption)
    );
    page.push_str(svg);
    let _ = writeln!(
        page,
        "<p class=\"files\"><a href=\"{name}.svg\">{name}.svg</a><a href=\"{name}.png\">{name}.png</a></p>\n</figure>"
    );
}

/// Appends a table row: a heading cell, a monospaced value (a dash when empty) and
/// what it means.
pub(crate) fn value_row(page: &mut String, name: &str, value: &str, meaning: &str) {
    let _ = writeln!(
        page,
        "<tr><th>{}</th><td class=\"value\">{}</td><td>{}</td></tr>",
        escape_html(name),
        escape_html(&or_dash(value)),
        escape_html(meaning)
    );
}

/// `text`, or a dash when it is empty.
pub(crate) fn or_dash(text: &str) -> String {
    if text.is_empty() {
        "—".to_string()
    } else {
        text.to_string()
    }
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
    fn pages_get_their_width_and_an_escaped_title() {
        let start = page_start("a <b>", 1234);
        // A placeholder left in the stylesheet would leave the page without a width.
        assert!(start.contains("max-width: 1234px;"), "{start}");
        assert!(!start.contains("MAX_WIDTH"));
        assert!(start.contains("<title>a &lt;b&gt;</title>"));
    }
}
