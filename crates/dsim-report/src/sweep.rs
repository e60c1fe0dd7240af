//! Cross-seed results: the table of a sweep, its statistics, and (being written) the
//! sweep report and the comparison of several sweeps.

use crate::error::ReportError;
use crate::metrics::nearest_rank;
use std::path::{Path, PathBuf};

/// A sweep table: the header and rows of `sweep.csv`, sorted by seed.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepTable {
    /// Column names.
    pub header: Vec<String>,
    /// One row per seed.
    pub rows: Vec<Vec<String>>,
}

impl SweepTable {
    /// A table from its header and rows (rows are kept in the given order).
    pub fn new(header: Vec<String>, rows: Vec<Vec<String>>) -> SweepTable {
        SweepTable { header, rows }
    }

    /// The index of column `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|column| column == name)
    }

    /// The values of column `name` that parse as `T` (empty cells and absent columns
    /// give nothing).
    pub fn parsed<T: std::str::FromStr>(&self, name: &str) -> Vec<T> {
        let Some(index) = self.column(name) else {
            return Vec::new();
        };
        self.rows
            .iter()
            .filter_map(|row| row.get(index)?.parse().ok())
            .collect()
    }
}

/// Statistics over the seeds of one sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepStats {
    /// Seeds in the table.
    pub seeds: usize,
    /// Seeds with at least one violation.
    pub violating: usize,
    /// `violating / seeds` (0 when there are no seeds).
    pub violation_rate: f64,
    /// The formula's name (`T`, `L`, `R`, `f(x)`), from the first row.
    pub formula: String,
    /// Per-seed formula values (seeds with a value).
    pub formula_values: Vec<f64>,
    /// Per-seed p50 latencies, sorted.
    pub p50_ns: Vec<u64>,
    /// Per-seed p99 latencies, sorted.
    pub p99_ns: Vec<u64>,
    /// Virtual time of the first violation, per violating seed, sorted.
    pub first_violation_ns: Vec<u64>,
}

impl SweepStats {
    /// The statistics of `table`.
    pub fn of(table: &SweepTable) -> SweepStats {
        let violations: Vec<u64> = table.parsed("violations");
        let violating = violations.iter().filter(|&&v| v > 0).count();
        let seeds = table.rows.len();
        let formula = table
            .column("formula")
            .and_then(|i| table.rows.first()?.get(i).cloned())
            .unwrap_or_default();
        let mut p50_ns: Vec<u64> = table.parsed("latency_p50_ns");
        let mut p99_ns: Vec<u64> = table.parsed("latency_p99_ns");
        let mut first_violation_ns: Vec<u64> = table.parsed("first_violation_ns");
        p50_ns.sort_unstable();
        p99_ns.sort_unstable();
        first_violation_ns.sort_unstable();
        SweepStats {
            seeds,
            violating,
            violation_rate: if seeds == 0 {
                0.0
            } else {
                violating as f64 / seeds as f64
            },
            formula,
            formula_values: table.parsed("formula_value"),
            p50_ns,
            p99_ns,
            first_violation_ns,
        }
    }

    /// Median (nearest rank) of the per-seed p50 latencies.
    pub fn median_p50_ns(&self) -> Option<u64> {
        nearest_rank(&self.p50_ns, 50)
    }

    /// Median (nearest rank) of the per-seed p99 latencies.
    pub fn median_p99_ns(&self) -> Option<u64> {
        nearest_rank(&self.p99_ns, 50)
    }

    /// Median (nearest rank) virtual time to the first violation.
    pub fn median_first_violation_ns(&self) -> Option<u64> {
        nearest_rank(&self.first_violation_ns, 50)
    }

    /// Mean of the formula values.
    pub fn mean_formula(&self) -> Option<f64> {
        (!self.formula_values.is_empty())
            .then(|| self.formula_values.iter().sum::<f64>() / self.formula_values.len() as f64)
    }
}

/// Writes the sweep's charts and `sweep.html` into `dir`. (Being written.)
pub fn write_sweep_report(
    dir: &Path,
    name: &str,
    table: &SweepTable,
) -> Result<Vec<PathBuf>, ReportError> {
    let _ = (dir, name, table);
    Ok(Vec::new())
}

/// Writes `comparison.csv` (and its chart) for several labelled sweeps. (Being written.)
pub fn write_comparison(
    dir: &Path,
    sweeps: &[(String, SweepStats)],
) -> Result<Vec<PathBuf>, ReportError> {
    let _ = (dir, sweeps);
    Ok(Vec::new())
}
