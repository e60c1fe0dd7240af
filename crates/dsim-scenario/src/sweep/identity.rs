//! `sweep.meta`: what makes a sweep folder one experiment.

use super::{SeedRange, SeedSet, Shard};
use crate::scenario::Scenario;
use std::path::PathBuf;

/// What identifies a sweep in its folder (`sweep.meta`). A resume must match every
/// field but `set` (two spellings of the same overrides resolve to the same digest)
/// and `scenario_file` (the same file reached by another path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SweepIdentity {
    /// The scenario's name.
    pub scenario_name: String,
    /// The scenario's file name (no folder), for replay commands.
    pub scenario_file: String,
    /// [`scenario_digest`] of the resolved scenario.
    pub scenario_digest: u64,
    /// The `--set` flags, for replay commands.
    pub set: Vec<String>,
    /// `--swarm`.
    pub swarm: bool,
    /// The seeds.
    pub seeds: SeedSet,
    /// The dsim version that wrote the folder.
    pub dsim_version: String,
}

/// The first line of `sweep.meta`.
const META_TITLE: &str = "dsim sweep identity, format 2: a resume into this folder must match it";

/// A digest of the resolved scenario: every field after `--set`, but not its path, its
/// text (comments and layout do not change a run), the flags' spelling or its seed.
pub fn scenario_digest(scenario: &Scenario) -> u64 {
    let mut resolved = scenario.clone();
    resolved.path = PathBuf::new();
    resolved.text = String::new();
    resolved.overrides = Vec::new();
    resolved.seed = 0;
    dsim_core::trace::digest_debug(&resolved)
}

impl SweepIdentity {
    /// The identity of a sweep of `scenario` (with its `--set` flags) over `seeds`.
    pub fn of(scenario: &Scenario, swarm: bool, seeds: SeedSet) -> SweepIdentity {
        SweepIdentity {
            scenario_name: scenario.name.clone(),
            scenario_file: scenario
                .path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default(),
            scenario_digest: scenario_digest(scenario),
            set: scenario.overrides.clone(),
            swarm,
            seeds,
            dsim_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// The text of `sweep.meta`.
    pub fn render(&self) -> String {
        let one_line = |text: &str| text.replace(['\n', '\r'], " ");
        let mut text = format!(
            "{META_TITLE}\nscenario_name: {}\nscenario_file: {}\nscenario_digest: {:016x}\nswarm: {}\nseeds: {}\nshard: {}\ndsim_version: {}\n",
            one_line(&self.scenario_name),
            one_line(&self.scenario_file),
            self.scenario_digest,
            self.swarm,
            self.seeds.range,
            self.seeds
                .shard
                .map_or("all".to_string(), |shard| shard.to_string()),
            self.dsim_version,
        );
        for flag in &self.set {
            text.push_str(&format!("set: {}\n", one_line(flag)));
        }
        text
    }

    /// Reads `sweep.meta` text; `None` for anything else (an older format included).
    pub fn parse(text: &str) -> Option<SweepIdentity> {
        let mut lines = text.lines();
        if lines.next()? != META_TITLE {
            return None;
        }
        let mut field = |key: &str| -> Option<String> {
            Some(
                lines
                    .next()?
                    .strip_prefix(key)?
                    .strip_prefix(": ")?
                    .to_string(),
            )
        };
        let scenario_name = field("scenario_name")?;
        let scenario_file = field("scenario_file")?;
        let scenario_digest = u64::from_str_radix(&field("scenario_digest")?, 16).ok()?;
        let swarm = field("swarm")?.parse().ok()?;
        let range = SeedRange::parse(&field("seeds")?).ok()?;
        let shard = match field("shard")?.as_str() {
            "all" => None,
            shard => Some(Shard::parse(shard).ok()?),
        };
        let dsim_version = field("dsim_version")?;
        let mut set = Vec::new();
        for line in lines {
            set.push(line.strip_prefix("set: ")?.to_string());
        }
        Some(SweepIdentity {
            scenario_name,
            scenario_file,
            scenario_digest,
            set,
            swarm,
            seeds: SeedSet { range, shard },
            dsim_version,
        })
    }

    /// What differs from `other` (the folder's identity, `self` this command's), in
    /// words; empty when `other` may be resumed.
    pub fn changes_from(&self, other: &SweepIdentity) -> Vec<String> {
        let mut changes = Vec::new();
        if self.dsim_version != other.dsim_version {
            changes.push(format!(
                "it was written by dsim {}, this is dsim {}",
                other.dsim_version, self.dsim_version
            ));
        }
        if self.scenario_digest != other.scenario_digest {
            let mut change = format!(
                "the scenario differs (its resolved contents, --set included, digest {:016x} then, {:016x} now",
                other.scenario_digest, self.scenario_digest
            );
            if self.scenario_name != other.scenario_name {
                change.push_str(&format!(
                    "; name {:?} then, {:?} now",
                    other.scenario_name, self.scenario_name
                ));
            }
            if self.set != other.set {
                change.push_str(&format!(
                    "; --set [{}] then, [{}] now",
                    other.set.join(" "),
                    self.set.join(" ")
                ));
            }
            change.push(')');
            changes.push(change);
        }
        if self.swarm != other.swarm {
            let word = |on: bool| if on { "on" } else { "off" };
            changes.push(format!(
                "--swarm was {}, now {}",
                word(other.swarm),
                word(self.swarm)
            ));
        }
        if self.seeds.range != other.seeds.range {
            changes.push(format!(
                "--seeds was {}, now {}",
                other.seeds.range, self.seeds.range
            ));
        }
        if self.seeds.shard != other.seeds.shard {
            let shard = |shard: Option<Shard>| shard.map_or("none".to_string(), |s| s.to_string());
            changes.push(format!(
                "--shard was {}, now {}",
                shard(other.seeds.shard),
                shard(self.seeds.shard)
            ));
        }
        changes
    }
}

/// An identity for tests: scenario `demo.toml`, one `--set`, seeds `seeds`.
#[cfg(test)]
pub(crate) fn test_identity(seeds: &str) -> SweepIdentity {
    SweepIdentity {
        scenario_name: "demo".into(),
        scenario_file: "demo.toml".into(),
        scenario_digest: 0xfeed,
        set: vec!["network.drop=0.1".into()],
        swarm: false,
        seeds: SeedSet {
            range: SeedRange::parse(seeds).expect("range"),
            shard: None,
        },
        dsim_version: "0.1.0".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_read_back_and_name_what_changed() {
        let base = test_identity("1..30");
        // An identity that does not read back would refuse every resume.
        assert_eq!(SweepIdentity::parse(&base.render()), Some(base.clone()));
        assert!(base.changes_from(&base).is_empty());
        let mut other = test_identity("1..40");
        other.scenario_digest = 0xbeef;
        other.seeds.shard = Some(Shard { index: 1, count: 2 });
        let changes = other.changes_from(&base).join("; ");
        assert!(
            changes.contains("--seeds was 1..30, now 1..40"),
            "{changes}"
        );
        assert!(changes.contains("the scenario differs"), "{changes}");
        assert!(changes.contains("--shard was none, now 1/2"), "{changes}");
        // The file's name and the flags' spelling alone are not another experiment.
        let mut renamed = base.clone();
        renamed.scenario_file = "copy.toml".into();
        renamed.set = vec!["network.drop=0.10".into()];
        assert!(renamed.changes_from(&base).is_empty());
        // The format before digests does not parse.
        assert_eq!(
            SweepIdentity::parse("scenario: x.toml\nset: \nswarm: false\n"),
            None
        );
    }
}
