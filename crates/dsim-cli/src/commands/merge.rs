//! `dsim merge`: join shard folders into the folder one machine would have written.
//!
//! Every shard must be of the same sweep (the same [`SweepIdentity`] but for the
//! shard), and together they must hold every seed of the range: a missing shard or a
//! shard that did not finish is refused with the missing seeds, unless
//! `--allow-partial`, which writes what there is and records what is missing in
//! `missing-seeds.txt`.

use crate::cli::MergeArgs;
use crate::commands::sweep::{SEED_COLUMN, replay_prefix};
use crate::exit;
use crate::outdir::{Marker, OutputKind, Staging, check_target};
use crate::output::Printer;
use crate::replay::for_terminal;
use anyhow::{Context, bail};
use dsim_report::sweep::{SweepStats, SweepTable, write_sweep_report};
use dsim_scenario::sweep::{
    JOURNAL_FILE, META_FILE, SWEEP_FILE, SeedSet, SweepError, SweepIdentity, read_journal,
    write_atomically, write_table,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The file of a partial merge that lists the seeds it lacks.
pub const MISSING_FILE: &str = "missing-seeds.txt";

/// How many ranges a message lists before it says how many more there are.
const RANGES_SHOWN: usize = 12;

/// `seeds` (sorted) as compact ranges for people: runs of consecutive seeds as `A..B`,
/// runs with a constant larger step (a whole missing shard) as `A..B step S`.
pub fn compact_ranges(seeds: &[u64]) -> Vec<String> {
    let mut ranges = Vec::new();
    let mut i = 0;
    while i < seeds.len() {
        let mut j = i;
        if i + 1 < seeds.len() {
            let step = seeds[i + 1] - seeds[i];
            while j + 1 < seeds.len() && seeds[j + 1] - seeds[j] == step {
                j += 1;
            }
            let run = j - i + 1;
            if step == 1 && run >= 2 {
                ranges.push(format!("{}..{}", seeds[i], seeds[j]));
            } else if run >= 3 {
                ranges.push(format!("{}..{} step {step}", seeds[i], seeds[j]));
            } else {
                j = i;
                ranges.push(seeds[i].to_string());
            }
        } else {
            ranges.push(seeds[i].to_string());
        }
        i = j + 1;
    }
    ranges
}

/// `seeds` (sorted) as runs of consecutive seeds, each a valid `--seeds` argument.
fn consecutive_ranges(seeds: &[u64]) -> Vec<String> {
    let mut ranges = Vec::new();
    let mut i = 0;
    while i < seeds.len() {
        let mut j = i;
        while j + 1 < seeds.len() && seeds[j + 1] == seeds[j] + 1 {
            j += 1;
        }
        ranges.push(if i == j {
            seeds[i].to_string()
        } else {
            format!("{}..{}", seeds[i], seeds[j])
        });
        i = j + 1;
    }
    ranges
}

/// The first [`RANGES_SHOWN`] of `ranges`, joined, with a count of the rest.
fn shorten(ranges: &[String]) -> String {
    let mut text = ranges
        .iter()
        .take(RANGES_SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if ranges.len() > RANGES_SHOWN {
        text.push_str(&format!(", ... ({} ranges in all)", ranges.len()));
    }
    text
}

/// One shard folder's identity and verified rows.
struct ShardFolder {
    identity: SweepIdentity,
    header: Option<Vec<String>>,
    rows: Vec<Vec<String>>,
}

fn read_shard(dir: &Path) -> anyhow::Result<ShardFolder> {
    let meta_path = dir.join(META_FILE);
    let text = fs::read_to_string(&meta_path).with_context(|| {
        format!(
            "{} is not a sweep folder (cannot read {})",
            dir.display(),
            meta_path.display()
        )
    })?;
    let identity = SweepIdentity::parse(&text).ok_or(SweepError::OldMeta { path: meta_path })?;
    let journal_path = dir.join(JOURNAL_FILE);
    let bytes = match fs::read(&journal_path) {
        Ok(bytes) => bytes,
        // A shard that never ran a seed; its seeds count as missing below.
        Err(error) if error.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read {}", journal_path.display()));
        }
    };
    // A torn last line (a shard killed mid-write) is left out, not an error: its seed
    // is reported missing like any other unfinished one.
    let contents = read_journal(&bytes, &journal_path, &identity.seeds)?;
    Ok(ShardFolder {
        identity,
        header: contents.header,
        rows: contents.rows,
    })
}

/// Merges shard folders; every shard must be of the same sweep and, unless
/// `--allow-partial`, all of them together must hold every seed.
pub fn merge(args: MergeArgs, printer: &Printer) -> anyhow::Result<u8> {
    let mut first: Option<(PathBuf, SweepIdentity)> = None;
    let mut header: Option<Vec<String>> = None;
    let mut rows: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut shards_given: BTreeSet<u64> = BTreeSet::new();
    for dir in &args.dirs {
        let shard = read_shard(dir)?;
        let identity = shard.identity;
        match &first {
            None => first = Some((dir.clone(), identity.clone())),
            Some((first_dir, first_identity)) => {
                let mut comparable = identity.clone();
                comparable.seeds.shard = first_identity.seeds.shard;
                let changes = comparable.changes_from(first_identity);
                if !changes.is_empty() {
                    bail!(
                        "{} is not a shard of the same sweep as {}: {}; only shards of one sweep merge",
                        dir.display(),
                        first_dir.display(),
                        changes.join("; ")
                    );
                }
                let count = |identity: &SweepIdentity| identity.seeds.shard.map(|s| s.count);
                if count(&identity) != count(first_identity) {
                    bail!(
                        "{} and {} split the sweep into different numbers of shards; only shards of one split merge",
                        dir.display(),
                        first_dir.display()
                    );
                }
            }
        }
        if let Some(shard) = identity.seeds.shard {
            shards_given.insert(shard.index);
        }
        let Some(shard_header) = shard.header else {
            continue;
        };
        match &header {
            None => header = Some(shard_header.clone()),
            Some(existing) if *existing != shard_header => bail!(
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
        for row in shard.rows {
            // The journal's rows were checked to hold seeds of their shard.
            let seed: u64 = row[seed_index].parse().context("a checked seed parses")?;
            if let Some(existing) = rows.get(&seed)
                && *existing != row
            {
                bail!(
                    "seed {seed} appears in two shards with different results: were they run from the same build and scenario?"
                );
            }
            rows.insert(seed, row);
        }
    }
    let (_, mut identity) = first.context("no shard folders given")?;
    let shard_count = identity.seeds.shard.map(|s| s.count);
    identity.seeds.shard = None;
    let whole = SeedSet {
        range: identity.seeds.range,
        shard: None,
    };
    whole.check_size().map_err(anyhow::Error::msg)?;
    let missing: Vec<u64> = whole
        .iter()
        .filter(|seed| !rows.contains_key(seed))
        .collect();
    if !missing.is_empty() {
        let absent: Vec<String> = shard_count
            .map(|count| {
                (1..=count)
                    .filter(|index| !shards_given.contains(index))
                    .map(|index| format!("{index}/{count}"))
                    .collect()
            })
            .unwrap_or_default();
        let mut message = format!(
            "{} of {} seeds of {} are missing: {}",
            missing.len(),
            whole.len(),
            whole.range,
            shorten(&compact_ranges(&missing))
        );
        if !absent.is_empty() {
            message.push_str(&format!(" (shards not given: {})", shorten(&absent)));
        }
        if !args.allow_partial {
            bail!(
                "{message}; rerun the shards that did not finish (the same command resumes them) and give every shard folder, or pass --allow-partial to merge what there is"
            );
        }
        printer.always(format!(
            "partial merge: {message}; listed in {}",
            for_terminal(&args.out.join(MISSING_FILE))
        ));
    }
    let header = header.context("the shard folders hold no rows")?;
    let seed_index = header
        .iter()
        .position(|c| c == SEED_COLUMN)
        .context("no seed column")?;
    let inputs: Vec<&Path> = args.dirs.iter().map(PathBuf::as_path).collect();
    check_target(&args.out, OutputKind::Merge, &inputs)?;
    let staging = Staging::create(
        &args.out,
        &Marker::new(OutputKind::Merge, &identity.scenario_name),
    )?;
    write_atomically(&staging.dir.join(META_FILE), identity.render().as_bytes())?;
    if !missing.is_empty() {
        let mut text = format!(
            "# dsim merge --allow-partial: {} of {} seeds of {} are missing from this merge.\n# One range per line, each a --seeds argument that runs them.\n",
            missing.len(),
            whole.len(),
            whole.range
        );
        for range in consecutive_ranges(&missing) {
            text.push_str(&range);
            text.push('\n');
        }
        write_atomically(&staging.dir.join(MISSING_FILE), text.as_bytes())?;
    }
    let rows: Vec<Vec<String>> = rows.into_values().collect();
    let rows = write_table(&staging.dir.join(SWEEP_FILE), &header, rows, seed_index)?;
    let table = SweepTable::new(header, rows);
    write_sweep_report(
        &staging.dir,
        &identity.scenario_name,
        &table,
        &replay_prefix(&identity),
    )
    .context("writing the sweep report failed")?;
    staging.commit()?;
    let stats = SweepStats::of(&table);
    printer.line(format!(
        "merged {} folders: {} seeds, {} violated a check; table {}",
        args.dirs.len(),
        stats.seeds,
        stats.violating,
        for_terminal(&args.out.join(SWEEP_FILE))
    ));
    Ok(if stats.violating > 0 {
        exit::VIOLATION
    } else {
        exit::OK
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_seeds_print_as_compact_ranges() {
        // A whole missing shard is one strided range, not thousands of numbers.
        assert_eq!(compact_ranges(&[2, 5, 8, 11, 14]), vec!["2..14 step 3"]);
        assert_eq!(
            compact_ranges(&[1, 2, 3, 7, 9, 20, 21]),
            vec!["1..3", "7", "9", "20..21"]
        );
        assert_eq!(compact_ranges(&[4]), vec!["4"]);
        // The file lists plain runs, each usable as --seeds.
        assert_eq!(
            consecutive_ranges(&[1, 2, 3, 7, 9, 10]),
            vec!["1..3", "7", "9..10"]
        );
        let many: Vec<String> = (0..20).map(|i| i.to_string()).collect();
        assert!(shorten(&many).ends_with("... (20 ranges in all)"));
    }
}
