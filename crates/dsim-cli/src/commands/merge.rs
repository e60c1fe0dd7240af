//! `dsim merge`: join shard folders into the folder one machine would have written.

use crate::cli::MergeArgs;
use crate::commands::sweep::SEED_COLUMN;
use crate::exit;
use crate::output::Printer;
use anyhow::{Context, bail};
use dsim_report::sweep::{SweepStats, SweepTable, write_sweep_report};
use dsim_scenario::sweep::{
    JOURNAL_FILE, META_FILE, SWEEP_FILE, read_records, write_atomically, write_table,
};
use std::collections::BTreeMap;
use std::fs;

/// Merges shard folders; every shard must be of the same sweep (same scenario and flags).
pub fn merge(args: MergeArgs, printer: &Printer) -> anyhow::Result<u8> {
    let mut identity: Option<String> = None;
    let mut header: Option<Vec<String>> = None;
    let mut rows: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut name = String::from("sweep");
    for dir in &args.dirs {
        let meta_path = dir.join(META_FILE);
        let meta = fs::read_to_string(&meta_path).with_context(|| {
            format!(
                "{} is not a sweep folder (cannot read {})",
                dir.display(),
                meta_path.display()
            )
        })?;
        match &identity {
            None => identity = Some(meta.clone()),
            Some(first) if *first != meta => bail!(
                "{} is a sweep of another scenario or other flags than {}; only shards of one sweep merge",
                dir.display(),
                args.dirs[0].display()
            ),
            Some(_) => {}
        }
        let journal_path = dir.join(JOURNAL_FILE);
        let text = fs::read_to_string(&journal_path)
            .with_context(|| format!("cannot read {}", journal_path.display()))?;
        // Only whole lines count (a shard killed mid-write is completed by rerunning it).
        let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
        let mut records = read_records(whole).map_err(anyhow::Error::msg)?;
        if records.is_empty() {
            continue;
        }
        let shard_header = records.remove(0);
        match &header {
            None => header = Some(shard_header.clone()),
            Some(first) if *first != shard_header => bail!(
                "{} has other columns than {}",
                dir.display(),
                args.dirs[0].display()
            ),
            Some(_) => {}
        }
        let seed_index = shard_header
            .iter()
            .position(|c| c == SEED_COLUMN)
            .context("no seed column")?;
        let scenario_index = shard_header
            .iter()
            .position(|c| c == "scenario")
            .context("no scenario column")?;
        for row in records {
            let seed: u64 = row[seed_index]
                .parse()
                .with_context(|| format!("bad seed in {}", journal_path.display()))?;
            name = row[scenario_index].clone();
            if let Some(existing) = rows.get(&seed)
                && *existing != row
            {
                bail!(
                    "seed {seed} appears in two shards with different results: were they run from the same code and scenario?"
                );
            }
            rows.insert(seed, row);
        }
    }
    let header = header.context("the shard folders hold no rows")?;
    let seed_index = header
        .iter()
        .position(|c| c == SEED_COLUMN)
        .context("no seed column")?;
    fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    write_atomically(
        &args.out.join(META_FILE),
        identity.unwrap_or_default().as_bytes(),
    )?;
    let rows: Vec<Vec<String>> = rows.into_values().collect();
    write_table(&args.out.join(SWEEP_FILE), &header, &rows, seed_index)?;
    let table = SweepTable::new(header, rows);
    write_sweep_report(&args.out, &name, &table).context("writing the sweep report failed")?;
    let stats = SweepStats::of(&table);
    printer.line(format!(
        "merged {} folders: {} seeds, {} violated a check; table {}",
        args.dirs.len(),
        stats.seeds,
        stats.violating,
        args.out.join(SWEEP_FILE).display()
    ));
    Ok(if stats.violating > 0 {
        exit::VIOLATION
    } else {
        exit::OK
    })
}
