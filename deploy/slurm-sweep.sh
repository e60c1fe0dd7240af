#!/usr/bin/env bash
# Run one dsim sweep as a Slurm job array: each array task is one shard.
#
#   sbatch --array=1-16 deploy/slurm-sweep.sh scenarios/paxos-nemesis.toml 1..=100000
#
# Every task writes its own folder (sweep-shard-I-of-N); when all are done, join them:
#
#   dsim merge results/sweep/shard-*-of-16 --out results/sweep/merged
#
# The merged sweep.csv is byte-identical to a single-machine sweep of the same seeds.
# A task that dies (preemption, node failure) is simply resubmitted: the shard folder's
# journal makes the rerun skip the seeds it already finished.
#SBATCH --job-name=dsim-sweep
#SBATCH --cpus-per-task=8
#SBATCH --mem=4G
#SBATCH --time=04:00:00
#SBATCH --output=dsim-sweep-%A_%a.log
set -euo pipefail

scenario=${1:?usage: sbatch --array=1-N slurm-sweep.sh SCENARIO SEEDS [dsim flags...]}
seeds=${2:?usage: sbatch --array=1-N slurm-sweep.sh SCENARIO SEEDS [dsim flags...]}
shift 2
index=${SLURM_ARRAY_TASK_ID:?run this through sbatch --array}
count=${SLURM_ARRAY_TASK_COUNT:?run this through sbatch --array}
out=${DSIM_OUT:-results/sweep}/shard-${index}-of-${count}

# The binary must be the same build on every node (same Cargo.lock, same commit):
# seeded runs are identical across machines, so shards merge into one table.
dsim sweep "$scenario" --seeds "$seeds" --shard "${index}/${count}" \
    --jobs "${SLURM_CPUS_PER_TASK:-1}" --out "$out" "$@"
status=$?
# Exit 1 means the shard found a violated invariant: that is a result, not a failure
# of the job. Anything else (2: bad input) fails the task.
if [ "$status" -eq 1 ]; then exit 0; fi
exit "$status"
