//! `dsim list`: protocol kinds, variants and keys.

use crate::exit;
use crate::output::Printer;
use dsim_core::ParamKind;
use dsim_scenario::Registry;

/// Prints every registered protocol with its variants and `[protocol]` keys.
pub fn list(registry: &Registry, printer: &Printer) -> anyhow::Result<u8> {
    for protocol in registry.protocols() {
        let info = protocol.info();
        printer.line(format!("{} — {}", info.kind, info.summary));
        printer.line(format!(
            "  nodes: {} to {} replicas",
            info.nodes_range.0, info.nodes_range.1
        ));
        printer.line("  variants:");
        for variant in info.variants {
            printer.line(format!("    {:<22} {}", variant.name, variant.help));
        }
        if !info.params.is_empty() {
            printer.line("  keys under [protocol] (default):");
            for spec in info.params {
                let default = match spec.kind {
                    ParamKind::Bool(default) => default.to_string(),
                    ParamKind::Int { default, min, max } => format!("{default}, {min}..{max}"),
                    ParamKind::Ratio { default, .. } => format!("{default}, ratio"),
                    ParamKind::Duration { default, .. } => format!("\"{default}\""),
                    ParamKind::Choice { default, allowed } => {
                        format!("{default:?}, one of {}", allowed.join(" | "))
                    }
                };
                printer.line(format!("    {:<22} {} ({default})", spec.key, spec.help));
            }
        }
        printer.line("");
    }
    Ok(exit::OK)
}
