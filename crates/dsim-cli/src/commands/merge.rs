//! `dsim merge`: join shard folders into the folder one machine would have written.

use crate::cli::MergeArgs;
use crate::commands::sweep::{SEED_COLUMN, replay_prefix};
use crate::exit;
use crate::outdir::{Marker, OutputKind, Staging, check_target};
use crate::output::Printer;
use anyhow::{Context, bail};
use dsim_report::sweep::{SweepStats, SweepTable, write_sweep_report};
use dsim_scenario::sweep::{
    JOURNAL_FILE, META_FILE, SWEEP_FILE, read_records, write_atomically, write_table,
};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The replay prefix when the sweep's identity text does not say the scenario.
const GENERIC_REPLAY_PREFIX: &str = "dsim run <scenario.toml>";

/// The sweep's replay prefix (see [`replay_prefix`]), from its identity text
/// (`scenario: PATH\nset: FLAGS\nswarm: BOOL`, as `sweep::identity` writes it); a
/// generic prefix when the text does not parse. The `--set` flags were joined with
/// spaces, so a word without `=` means a flag held a space and cannot be recovered.
fn identity_replay_prefix(identity: &str) -> String {
    let mut lines = identity.lines();
    let path = lines
        .next()
        .and_then(|line| line.strip_prefix("scenario: "))
        .filter(|path| !path.is_empty());
    let set = lines.next().and_then(|line| line.strip_prefix("set: "));
    let (Some(path), Some(set)) = (path, set) else {
        return GENERIC_REPLAY_PREFIX.to_string();
    };
    let flags: Vec<String> = set.split_whitespace().map(str::to_string).collect();
    if flags.iter().any(|flag| !flag.contains('=')) {
        return GENERIC_REPLAY_PREFIX.to_string();
    }
    replay_prefix(Path::new(path), &flags)
}

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
    let inputs: Vec<&Path> = args.dirs.iter().map(PathBuf::as_path).collect();
    check_target(&args.out, OutputKind::Merge, &inputs)?;
    let staging = Staging::create(&args.out, &Marker::new(OutputKind::Merge, &name))?;
    let identity = identity.unwrap_or_default();
    write_atomically(&staging.dir.join(META_FILE), identity.as_bytes())?;
    let rows: Vec<Vec<String>> = rows.into_values().collect();
    let rows = write_table(&staging.dir.join(SWEEP_FILE), &header, rows, seed_index)?;
    let table = SweepTable::new(header, rows);
    write_sweep_report(
        &staging.dir,
        &name,
        &table,
        &identity_replay_prefix(&identity),
    )
    .context("writing the sweep report failed")?;
    staging.commit()?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::sweep::identity;

    #[test]
    fn merged_sweeps_replay_with_the_scenario_and_flags_of_their_identity() {
        let set = vec![
            "protocol.variant=no-adopt".to_string(),
            "network.drop=0.05".to_string(),
        ];
        let text = identity(Path::new("scenarios/my x.toml"), &set, true);
        // The prefix must equal the one `dsim sweep` gives its own report, or a merged
        // sweep.html would differ from a single-machine one.
        assert_eq!(
            identity_replay_prefix(&text),
            replay_prefix(Path::new("scenarios/my x.toml"), &set)
        );
        assert_eq!(
            identity_replay_prefix(&text),
            "dsim run 'scenarios/my x.toml' --set protocol.variant=no-adopt --set network.drop=0.05"
        );
        assert_eq!(
            identity_replay_prefix(&identity(Path::new("a.toml"), &[], false)),
            "dsim run a.toml"
        );
    }

    #[test]
    fn unparsable_identities_give_a_generic_replay_prefix() {
        // A guessed command would replay the wrong run; a placeholder says what to fill in.
        assert_eq!(identity_replay_prefix(""), GENERIC_REPLAY_PREFIX);
        assert_eq!(
            identity_replay_prefix("scenario: x.toml\nset: workload.rate=2 00/s\nswarm: false"),
            GENERIC_REPLAY_PREFIX
        );
    }
}
