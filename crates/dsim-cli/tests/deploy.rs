//! The files that take a sweep past one machine, run as a batch scheduler would run
//! them: `deploy/slurm-sweep.sh` as a 3-task Slurm array, the container command of
//! `deploy/k8s-sweep-job.yaml` for every completion index, a shard killed mid-run and
//! resubmitted; each time the merged `sweep.csv` must be byte-identical to one
//! machine's. The `Dockerfile` cannot be built here (no Docker engine), so its shape is
//! checked instead: the stages, `--locked`, and what the runtime image holds.
//!
//! The deploy files call a plain `dsim`; the tests put the binary under test first on
//! PATH and run from the repository root, as the image's WORKDIR holds `scenarios/`.

use std::ffi::OsString;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use yaml_rust2::{Yaml, YamlLoader};

mod common;
use common::text;

/// A scenario and variant that violates agreement on every seed, so every shard's
/// `dsim sweep` exits 1 and the scripts' exit-code mapping is exercised.
const SCENARIO: &str = "scenarios/paxos-minority-partition.toml";
const VARIANT: &str = "protocol.variant=seed-naive";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// PATH with the directory of the `dsim` under test first.
fn path_with_dsim() -> OsString {
    let bin = Path::new(env!("CARGO_BIN_EXE_dsim"))
        .parent()
        .expect("the binary's folder");
    let mut dirs = vec![bin.to_path_buf()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).expect("a PATH")
}

fn dsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("the dsim binary runs")
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// The single-machine sweep of `seeds` into `out`; returns its `sweep.csv`.
fn single_machine_table(seeds: &str, out: &Path) -> Vec<u8> {
    let output = dsim(&[
        "sweep",
        SCENARIO,
        "--seeds",
        seeds,
        "--set",
        VARIANT,
        "--jobs",
        "2",
        "--out",
        path_str(out),
    ]);
    // Exit 1: the variant violated a check, so the shards below must map exit 1 to 0.
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    fs::read(out.join("sweep.csv")).expect("the single-machine sweep.csv")
}

/// `dsim merge` of the shard folders into `out`; returns the merged `sweep.csv`.
fn merged_table(shards: &[PathBuf], out: &Path) -> Vec<u8> {
    let mut args = vec!["merge"];
    args.extend(shards.iter().map(|dir| path_str(dir)));
    args.extend(["--out", path_str(out)]);
    let output = dsim(&args);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    fs::read(out.join("sweep.csv")).expect("the merged sweep.csv")
}

/// One task of a Slurm array running `deploy/slurm-sweep.sh`, with the variables
/// `sbatch --array=1-COUNT --cpus-per-task=2` sets for it.
fn slurm_task(index: u32, count: u32, out: &Path, seeds: &str) -> Command {
    let mut command = Command::new(repo().join("deploy/slurm-sweep.sh"));
    command
        .args([SCENARIO, seeds, "--set", VARIANT])
        .current_dir(repo())
        .env("PATH", path_with_dsim())
        .env("SLURM_ARRAY_JOB_ID", "4242")
        .env("SLURM_ARRAY_TASK_ID", index.to_string())
        .env("SLURM_ARRAY_TASK_COUNT", count.to_string())
        .env("SLURM_ARRAY_TASK_MIN", "1")
        .env("SLURM_ARRAY_TASK_MAX", count.to_string())
        .env("SLURM_CPUS_PER_TASK", "2")
        .env("DSIM_OUT", out);
    command
}

fn shard_dirs(out: &Path, count: u32) -> Vec<PathBuf> {
    (1..=count)
        .map(|index| out.join(format!("shard-{index}-of-{count}")))
        .collect()
}

#[test]
fn slurm_array_tasks_that_find_violations_succeed_and_merge_to_the_single_machine_table() {
    let dir = tempfile::tempdir().expect("temp dir");
    let seeds = "1..=12";
    let reference = single_machine_table(seeds, &dir.path().join("single"));
    let out = dir.path().join("sweep");
    for index in 1..=3 {
        let output = slurm_task(index, 3, &out, seeds)
            .output()
            .expect("the script runs");
        // Every shard found violations (dsim exit 1); under `set -e` the old script
        // stopped there with 1, failing the task.
        assert_eq!(
            output.status.code(),
            Some(0),
            "task {index}: {}",
            text(&output)
        );
    }
    let merged = merged_table(&shard_dirs(&out, 3), &dir.path().join("merged"));
    // Each shard ran a third of the seeds with the flags after SEEDS passed through:
    // a lost flag (the correct variant) or a wrong split changes or drops rows.
    assert_eq!(
        String::from_utf8_lossy(&merged),
        String::from_utf8_lossy(&reference)
    );
    assert_eq!(
        String::from_utf8_lossy(&merged)
            .matches(",seed-naive,")
            .count(),
        12,
        "one seed-naive row per seed"
    );
}

#[test]
fn slurm_tasks_fail_on_bad_input_and_on_ids_outside_the_array() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A flag with a bad value, passed through to dsim: dsim exits 2, and so must the
    // task (only 1 is a result); mapping every non-zero status to 0 would hide it.
    let output = slurm_task(1, 3, dir.path(), "1..=3")
        .arg("--set")
        .arg("network.drop=1.5")
        .output()
        .expect("the script runs");
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("network.drop"), "{}", text(&output));
    // `--array=0-2` would run shard 0/3 (invalid) and never shard 3/3.
    let output = slurm_task(0, 3, dir.path(), "1..=3")
        .output()
        .expect("the script runs");
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("--array=1-3"),
        "the message says how to submit: {}",
        text(&output)
    );
}

#[test]
fn a_slurm_task_killed_mid_shard_resumes_from_its_journal_and_the_merge_is_unchanged() {
    let dir = tempfile::tempdir().expect("temp dir");
    // 80 seeds per shard: the killed shard is still running after its first rows.
    let seeds = "1..=240";
    let reference = single_machine_table(seeds, &dir.path().join("single"));
    let out = dir.path().join("sweep");
    let shards = shard_dirs(&out, 3);
    for index in [1, 3] {
        let output = slurm_task(index, 3, &out, seeds)
            .output()
            .expect("the script runs");
        assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    }
    // Task 2 on one thread, in a process group of its own: Slurm kills every process
    // of a preempted task, the script and its dsim alike.
    let mut task = slurm_task(2, 3, &out, seeds);
    task.env("SLURM_CPUS_PER_TASK", "1").process_group(0);
    let mut child = task.spawn().expect("spawn task 2");
    let journal = shards[1].join("rows.journal.csv");
    let journaled = |journal: &Path| {
        fs::read_to_string(journal)
            .map(|t| t.matches('\n').count().saturating_sub(1))
            .unwrap_or(0)
    };
    for _ in 0..6_000 {
        if journaled(&journal) >= 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(
        child.try_wait().expect("poll task 2").is_none(),
        "task 2 finished before it could be killed; give it more seeds"
    );
    let group = format!("-{}", child.id());
    let killed = Command::new("kill")
        .args(["-KILL", "--", &group])
        .status()
        .expect("kill runs");
    assert!(killed.success(), "SIGKILL the task's process group");
    child.wait().expect("reap task 2");
    // The orphaned dsim is reaped by init; wait (bounded) until the group is gone, so
    // no late write of the killed process lands after the rerun opens the journal.
    for _ in 0..200 {
        let alive = Command::new("kill")
            .args(["-0", "--", &group])
            .output()
            .expect("kill runs")
            .status
            .success();
        if !alive {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let before = journaled(&journal);
    assert!(
        (3..80).contains(&before),
        "killed mid-shard: {before} of 80 rows journaled"
    );
    assert!(
        !shards[1].join("sweep.csv").exists(),
        "a killed shard has no table yet"
    );
    let rerun = slurm_task(2, 3, &out, seeds)
        .output()
        .expect("the script runs");
    assert_eq!(rerun.status.code(), Some(0), "{}", text(&rerun));
    // The rerun resumed instead of starting over (which would also give the right
    // table, but redo the finished seeds).
    assert!(
        text(&rerun).contains(&format!("{before} rows already in the journal")),
        "{}",
        text(&rerun)
    );
    let merged = merged_table(&shards, &dir.path().join("merged"));
    // A lost, duplicated or torn row of the killed shard would change the table.
    assert_eq!(
        String::from_utf8_lossy(&merged),
        String::from_utf8_lossy(&reference)
    );
}

// ---------------------------------------------------------------------------------
// Kubernetes

fn manifest() -> Yaml {
    let path = repo().join("deploy/k8s-sweep-job.yaml");
    let source = fs::read_to_string(&path).expect("the manifest");
    let mut documents = YamlLoader::load_from_str(&source).expect("the manifest is YAML");
    assert_eq!(documents.len(), 1, "one object: the Job");
    documents.remove(0)
}

fn container(job: &Yaml) -> &Yaml {
    let containers = job["spec"]["template"]["spec"]["containers"]
        .as_vec()
        .expect("containers is a list");
    assert_eq!(containers.len(), 1, "one container per pod");
    &containers[0]
}

fn strings(list: &Yaml) -> Vec<String> {
    list.as_vec()
        .expect("a list")
        .iter()
        .map(|item| item.as_str().expect("a string").to_string())
        .collect()
}

/// The container's environment, in order.
fn env_of(container: &Yaml) -> Vec<(String, String)> {
    container["env"]
        .as_vec()
        .expect("env is a list")
        .iter()
        .map(|var| {
            let name = var["name"].as_str().expect("env name").to_string();
            let value = var["value"].as_str().expect("env value").to_string();
            (name, value)
        })
        .collect()
}

#[test]
fn the_k8s_job_command_from_the_manifest_merges_to_the_single_machine_table() {
    let job = manifest();
    let container = container(&job);
    let command = strings(&container["command"]);
    let args = strings(&container["args"]);
    let mut env = env_of(container);
    let value = |env: &[(String, String)], name: &str| {
        env.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("the manifest sets no {name}"))
    };
    // The manifest as shipped: one shard per completion, a scenario the image holds.
    let completions = job["spec"]["completions"].as_i64().expect("completions");
    assert_eq!(value(&env, "SHARDS"), completions.to_string());
    assert_eq!(job["spec"]["parallelism"].as_i64(), Some(completions));
    assert!(repo().join(value(&env, "SCENARIO")).is_file());

    let dir = tempfile::tempdir().expect("temp dir");
    let seeds = "1..=12";
    let reference = single_machine_table(seeds, &dir.path().join("single"));
    let out = dir.path().join("results/sweep");
    // Substitute a small job: 3 completions over 12 seeds of a violating variant.
    let flags = format!("--set {VARIANT}");
    for (name, new) in [
        ("SHARDS", "3"),
        ("SCENARIO", SCENARIO),
        ("SEEDS", seeds),
        ("DSIM_FLAGS", flags.as_str()),
        ("OUT", path_str(&out)),
    ] {
        let slot = env
            .iter_mut()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("the manifest sets no {name}"));
        slot.1 = new.to_string();
    }
    for index in 0..3 {
        let output = Command::new(&command[0])
            .args(&command[1..])
            .args(&args)
            .envs(env.iter().map(|(n, v)| (n, v)))
            .env("JOB_COMPLETION_INDEX", index.to_string())
            .env("PATH", path_with_dsim())
            .current_dir(repo())
            .output()
            .expect("the container command runs");
        // dsim exits 1 (violations); a pod that exits 1 is counted as failed.
        assert_eq!(
            output.status.code(),
            Some(0),
            "index {index}: {}",
            text(&output)
        );
    }
    let merged = merged_table(&shard_dirs(&out, 3), &dir.path().join("merged"));
    // A wrong index-to-shard mapping (e.g. shard 0/3) or a dropped DSIM_FLAGS changes
    // or loses rows.
    assert_eq!(
        String::from_utf8_lossy(&merged),
        String::from_utf8_lossy(&reference)
    );
}

/// Every field path the manifest may use, each a field of `batch/v1` Job, its
/// `JobSpec`, `PodTemplateSpec`, `PodSpec`, `Container`, `EnvVar`, `ResourceRequirements`,
/// `VolumeMount` or `Volume` (`[]` marks list items). A path not listed here is a typo
/// or a field of another kind, which `kubectl apply` would reject or silently drop.
const JOB_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "metadata.name",
    "spec",
    "spec.completionMode",
    "spec.completions",
    "spec.parallelism",
    "spec.backoffLimitPerIndex",
    "spec.template",
    "spec.template.spec",
    "spec.template.spec.restartPolicy",
    "spec.template.spec.containers",
    "spec.template.spec.containers[].name",
    "spec.template.spec.containers[].image",
    "spec.template.spec.containers[].env",
    "spec.template.spec.containers[].env[].name",
    "spec.template.spec.containers[].env[].value",
    "spec.template.spec.containers[].command",
    "spec.template.spec.containers[].args",
    "spec.template.spec.containers[].resources",
    "spec.template.spec.containers[].resources.requests",
    "spec.template.spec.containers[].resources.requests.cpu",
    "spec.template.spec.containers[].resources.requests.memory",
    "spec.template.spec.containers[].resources.limits",
    "spec.template.spec.containers[].resources.limits.cpu",
    "spec.template.spec.containers[].resources.limits.memory",
    "spec.template.spec.containers[].volumeMounts",
    "spec.template.spec.containers[].volumeMounts[].name",
    "spec.template.spec.containers[].volumeMounts[].mountPath",
    "spec.template.spec.volumes",
    "spec.template.spec.volumes[].name",
    "spec.template.spec.volumes[].persistentVolumeClaim",
    "spec.template.spec.volumes[].persistentVolumeClaim.claimName",
];

/// The field paths of a YAML tree (mapping keys joined by `.`, list items as `[]`).
fn field_paths(node: &Yaml, prefix: &str, paths: &mut Vec<String>) {
    match node {
        Yaml::Hash(map) => {
            for (key, value) in map {
                let key = key.as_str().expect("keys are strings");
                let path = if prefix.is_empty() {
                    key.to_string()
                } else {
                    format!("{prefix}.{key}")
                };
                paths.push(path.clone());
                field_paths(value, &path, paths);
            }
        }
        Yaml::Array(items) => {
            for item in items {
                field_paths(item, &format!("{prefix}[]"), paths);
            }
        }
        _ => {}
    }
}

fn unknown_fields(document: &Yaml) -> Vec<String> {
    let mut paths = Vec::new();
    field_paths(document, "", &mut paths);
    paths
        .into_iter()
        .filter(|path| !JOB_FIELDS.contains(&path.as_str()))
        .collect()
}

#[test]
fn the_k8s_manifest_is_a_batch_v1_indexed_job_naming_only_job_fields() {
    let job = manifest();
    assert_eq!(job["apiVersion"].as_str(), Some("batch/v1"));
    assert_eq!(job["kind"].as_str(), Some("Job"));
    // JOB_COMPLETION_INDEX exists only in Indexed mode; backoffLimitPerIndex needs it.
    assert_eq!(job["spec"]["completionMode"].as_str(), Some("Indexed"));
    // A Job's pods may not use restartPolicy Always.
    assert!(matches!(
        job["spec"]["template"]["spec"]["restartPolicy"].as_str(),
        Some("Never" | "OnFailure")
    ));
    let unknown = unknown_fields(&job);
    assert!(unknown.is_empty(), "not batch/v1 Job fields: {unknown:?}");
    // The check itself: a misspelt or misplaced field is reported.
    let typo = YamlLoader::load_from_str(
        "apiVersion: batch/v1\nspec:\n  completion: 3\n  template:\n    spec:\n      containers:\n        - name: a\n          mountPath: /x\n",
    )
    .expect("YAML");
    assert_eq!(
        unknown_fields(&typo[0]),
        [
            "spec.completion",
            "spec.template.spec.containers[].mountPath"
        ]
    );
}

// ---------------------------------------------------------------------------------
// Dockerfile

/// One Dockerfile instruction: the keyword (upper case) and the rest of the line,
/// continuation lines joined.
#[derive(Debug)]
struct Instruction {
    keyword: String,
    rest: String,
}

/// A build stage: its base image, its `AS` name, and its instructions after `FROM`.
#[derive(Debug)]
struct Stage {
    base: String,
    name: Option<String>,
    instructions: Vec<Instruction>,
}

/// Parses the Dockerfile subset we use: comments, blank lines, `\` continuations.
fn stages(dockerfile: &str) -> Vec<Stage> {
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                logical.push(std::mem::take(&mut current));
            }
        }
    }
    let mut stages: Vec<Stage> = Vec::new();
    for line in logical {
        let (keyword, rest) = line
            .split_once(char::is_whitespace)
            .unwrap_or((line.as_str(), ""));
        let keyword = keyword.to_ascii_uppercase();
        let rest = rest.trim().to_string();
        if keyword == "FROM" {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let name = match words.as_slice() {
                [_, as_word, name] if as_word.eq_ignore_ascii_case("as") => Some(name.to_string()),
                [_] => None,
                _ => panic!("unexpected FROM line: {rest}"),
            };
            stages.push(Stage {
                base: words[0].to_string(),
                name,
                instructions: Vec::new(),
            });
        } else {
            stages
                .last_mut()
                .expect("FROM comes first")
                .instructions
                .push(Instruction { keyword, rest });
        }
    }
    stages
}

/// True if the image reference names a tag other than `latest` (an untagged image is
/// `latest`).
fn pinned(image: &str) -> bool {
    image
        .rsplit_once(':')
        .is_some_and(|(_, tag)| !tag.is_empty() && tag != "latest")
}

fn words(instruction: &Instruction) -> Vec<&str> {
    instruction.rest.split_whitespace().collect()
}

#[test]
fn the_dockerfile_builds_locked_and_ships_only_the_binary_and_scenarios() {
    let root = repo();
    let dockerfile = fs::read_to_string(root.join("Dockerfile")).expect("a Dockerfile");
    let stages = stages(&dockerfile);
    assert_eq!(stages.len(), 2, "a build stage and a runtime stage");
    let (build, runtime) = (&stages[0], &stages[1]);

    // Build stage: the toolchain the workspace declares, the committed Cargo.lock.
    let cargo_toml = fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
    let rust_version = cargo_toml
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .expect("rust-version")
        .trim_matches('"');
    assert!(
        build.base.starts_with(&format!("rust:{rust_version}-")),
        "the build image {} is the workspace's Rust {rust_version}",
        build.base
    );
    assert!(pinned(&build.base) && pinned(&runtime.base));
    // The binary links the build image's glibc: the runtime image must be the same
    // Debian release (`rust:1.95-trixie` -> `debian:trixie-slim`).
    let release = build
        .base
        .rsplit('-')
        .next()
        .expect("a Debian release suffix");
    assert!(
        runtime.base.starts_with(&format!("debian:{release}")),
        "build on {} but run on {}",
        build.base,
        runtime.base
    );
    let workdir = build
        .instructions
        .iter()
        .find(|i| i.keyword == "WORKDIR")
        .map(|i| i.rest.clone())
        .expect("the build stage's WORKDIR");
    let copies_lock = build.instructions.iter().any(|i| {
        let w = words(i);
        i.keyword == "COPY"
            && w[..w.len() - 1]
                .iter()
                .any(|s| *s == "." || *s == "Cargo.lock")
    });
    assert!(copies_lock, "the build stage copies Cargo.lock");
    let builds = build.instructions.iter().any(|i| {
        let w = words(i);
        i.keyword == "RUN"
            && w.starts_with(&["cargo", "build"])
            && w.contains(&"--release")
            && w.contains(&"--locked")
            && w.windows(2).any(|p| p == ["-p", "dsim-cli"])
    });
    assert!(
        builds,
        "cargo build --release --locked -p dsim-cli: {build:?}"
    );

    // Runtime stage: only the release binary of the build stage, on PATH, and the
    // scenarios under the WORKDIR, where the manifest's relative SCENARIO finds them.
    let build_name = build.name.as_deref().expect("the build stage is named");
    let mut copied = Vec::new();
    for instruction in &runtime.instructions {
        assert_ne!(instruction.keyword, "ADD", "COPY only: {instruction:?}");
        if instruction.keyword == "COPY" {
            copied.push(words(instruction).join(" "));
        }
    }
    assert_eq!(
        copied,
        [
            format!("--from={build_name} {workdir}/target/release/dsim /usr/local/bin/dsim"),
            "scenarios/ scenarios/".to_string(),
        ]
    );
    let scenarios_at = runtime
        .instructions
        .iter()
        .position(|i| i.keyword == "COPY" && i.rest.starts_with("scenarios/"))
        .expect("scenarios copied");
    assert!(
        runtime.instructions[..scenarios_at]
            .iter()
            .any(|i| i.keyword == "WORKDIR"),
        "scenarios/ lands in the runtime WORKDIR"
    );
    let job = manifest();
    let container = container(&job);
    let scenario = env_of(container)
        .into_iter()
        .find(|(n, _)| n == "SCENARIO")
        .map(|(_, v)| v)
        .expect("SCENARIO");
    assert!(scenario.starts_with("scenarios/"), "{scenario}");
    assert_eq!(strings(&container["command"])[0], "/bin/sh");
    assert!(
        !runtime.base.contains("distroless") && !runtime.base.starts_with("scratch"),
        "the manifest's command needs /bin/sh in the runtime image"
    );

    // The build context: no build output or results, but Cargo.lock and scenarios.
    let ignore = fs::read_to_string(root.join(".dockerignore")).expect(".dockerignore");
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(patterns.contains(&"target/") && patterns.contains(&"results/"));
    for needed in ["Cargo.lock", "scenarios", "scenarios/", "*", "*.lock"] {
        assert!(!patterns.contains(&needed), "{needed} must reach the build");
    }
}

#[test]
fn the_dockerfile_parser_joins_continuations_and_names_stages() {
    // The shape test above is only as good as this parser.
    let parsed = stages(
        "# c\nFROM a:1 AS one\nRUN cargo build \\\n  --locked\n\nfrom b:2\nCOPY --from=one x y\n",
    );
    assert_eq!(parsed.len(), 2);
    assert_eq!(parsed[0].name.as_deref(), Some("one"));
    assert_eq!(
        words(&parsed[0].instructions[0]),
        ["cargo", "build", "--locked"]
    );
    assert_eq!(parsed[1].base, "b:2");
    assert_eq!(parsed[1].instructions[0].keyword, "COPY");
    assert!(pinned("debian:trixie-slim") && pinned("rust:1.95-trixie"));
    assert!(!pinned("debian") && !pinned("debian:latest"));
}
