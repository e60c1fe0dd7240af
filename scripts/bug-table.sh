#!/usr/bin/env bash
# Regenerates the README's bug-finding table: for each buggy variant, the share of
# 1,000 nemesis seeds that expose it and the median virtual time to the first
# violation (from `dsim compare`, which sweeps every variant over the same seeds).
#
#   scripts/bug-table.sh            # 1,000 seeds per variant (a few minutes on 2 cores)
#   SEEDS=1..200 scripts/bug-table.sh
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${SEEDS:-1..1000}
out=results/bug-table
# A fresh table: old sweep folders would be resumed, not rerun.
rm -rf "$out"
cargo build --release --locked -q -p dsim-cli
dsim=target/release/dsim

# scenario file, protocol kind, variants (correct first, as the baseline).
runs=(
    "scenarios/paxos-nemesis.toml paxos correct no-adopt seed-naive stale-read follower-read"
    "scenarios/2pc-nemesis.toml two_phase_commit correct no-durable-decision commit-on-timeout seed-naive early-lock-release no-read-locks read-uncommitted"
    "scenarios/mapreduce-nemesis.toml mapreduce correct seed-naive"
)
if [ -f scenarios/lock-nemesis.toml ]; then
    runs+=("scenarios/lock-nemesis.toml lock_service correct no-fencing seed-naive")
fi

table=$(mktemp)
{
    echo "Share of $seeds nemesis seeds (\`$seeds\`) in which each variant violates a check, and the median virtual"
    echo "time to the first violation. Regenerate with \`scripts/bug-table.sh\`."
    echo
    echo "| kind | variant | scenario | seeds exposing it | median time to first violation |"
    echo "|---|---|---|---|---|"
} > "$table"
for run in "${runs[@]}"; do
    read -r scenario kind variants <<< "$run"
    flags=()
    for variant in $variants; do flags+=(--variant "$variant"); done
    status=0
    "$dsim" compare "$scenario" "${flags[@]}" --seeds "$seeds" --out "$out/$kind" -q > /dev/null || status=$?
    # Exit 1 just means some variant was caught, which is the point.
    if [ "$status" -gt 1 ]; then exit "$status"; fi
    # comparison.csv: label,seeds,violating_seeds,violation_rate,...,first_violation_ns_median
    awk -F, -v kind="$kind" -v scenario="$scenario" '
        NR == 1 { for (i = 1; i <= NF; i++) column[$i] = i; next }
        {
            seeds = $column["seeds"]; bad = $column["violating_seeds"];
            median = $column["first_violation_ns_median"];
            when = (median == "") ? "-" : sprintf("%.3f s", median / 1e9);
            printf "| `%s` | `%s` | `%s` | %d / %d (%.1f%%) | %s |\n", kind, $column["label"], scenario, bad, seeds, 100 * bad / seeds, when
        }' "$out/$kind/comparison.csv" >> "$table"
done

# Splice the table into README.md between the markers.
awk -v table="$table" '
    /<!-- bug-table:start -->/ { print; while ((getline line < table) > 0) print line; skip = 1; next }
    /<!-- bug-table:end -->/ { skip = 0 }
    !skip { print }
' README.md > README.md.tmp && mv README.md.tmp README.md
cat "$table"
rm -f "$table"
