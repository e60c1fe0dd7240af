#!/usr/bin/env bash
# Run one dsim sweep as a Slurm job array: each array task is one shard.
#
#   sbatch --array=1-16 deploy/slurm-sweep.sh scenarios/paxos-nemesis.toml 1..100000
#   sbatch --array=1-16 deploy/slurm-sweep.sh scenarios/paxos-nemesis.toml 1..100000 \
#       --set protocol.variant=no-adopt --swarm      # extra flags go to every `dsim sweep`
#
# Task ids must run 1..N (`--array=1-N`): task I runs shard I/N, N being the number of
# tasks. Every task writes its own folder, $DSIM_OUT/shard-I-of-N (DSIM_OUT defaults to
# results/sweep); when all are done, join them:
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

usage="usage: sbatch --array=1-N slurm-sweep.sh SCENARIO SEEDS [dsim sweep flags...]"
scenario=${1:?$usage}
seeds=${2:?$usage}
shift 2
index=${SLURM_ARRAY_TASK_ID:?run this through sbatch --array=1-N}
count=${SLURM_ARRAY_TASK_COUNT:?run this through sbatch --array=1-N}
if [ "$index" -lt 1 ] || [ "$index" -gt "$count" ]; then
    echo "slurm-sweep.sh: array task id $index is not in 1..$count; submit with --array=1-$count" >&2
    exit 2
fi
out=${DSIM_OUT:-results/sweep}/shard-${index}-of-${count}

# The binary must be the same build on every node (same Cargo.lock, same commit):
# seeded runs are identical across machines, so shards merge into one table.
# `|| status=$?` keeps `set -e` from ending the script on a non-zero exit.
status=0
dsim sweep "$scenario" --seeds "$seeds" --shard "${index}/${count}" \
    --jobs "${SLURM_CPUS_PER_TASK:-1}" --out "$out" "$@" || status=$?
# Exit 1 means the shard found a violated invariant: that is a result, not a failure
# of the job. Anything else (2: bad input) fails the task.
if [ "$status" -eq 1 ]; then exit 0; fi
exit "$status"
