#!/usr/bin/env bash
# A billion receipt lines on one machine (docs/benchmarks.md, "A billion lines on one
# machine"): generate a chain straight into the lake, import its customers, then
# `unico model build`, `unico kpi --by week` and `unico plan`, each timed with
# /usr/bin/time -v (wall time, peak memory) while a sampler records the disk used beyond
# what was used when the step started (its temporary files plus what it writes).
#
#   bench/billion.sh DATA [CUSTOMERS] [DAYS]   # default 3,100,000 people × 1,095 days: about a billion lines
#                                             (2,300,000 gave 739.5M rich-shopper lines)
#
# The generation and the customers' import are skipped when done (a lake with receipts,
# DATA-bench/customers.done), so a run can be resumed. Needs `unico` on PATH (cargo build --release) and free disk of about five times the lake (about 60 GB for a billion lines).
set -euo pipefail
DATA=${1:?usage: bench/billion.sh DATA [CUSTOMERS] [DAYS]}
CUSTOMERS=${2:-3100000}
DAYS=${3:-1095}
LOG="$DATA-bench"
mkdir -p "$LOG"
here=$(cd "$(dirname "$0")" && pwd)
POLICY=${POLICY:-$here/../docs/examples/policy.toml}

# The disk used now, in MiB.
used() { df -B1M --output=used "$DATA" 2>/dev/null | tail -1 || df -B1M --output=used . | tail -1; }

step() {
  local name=$1; shift
  local base; base=$(used)
  ( peak=0; while true; do u=$(used); d=$((u - base)); ((d > peak)) && peak=$d; echo "$peak" > "$LOG/$name.disk"; sleep 5; done ) &
  local sampler=$!
  # `script` gives the command a terminal, so its progress bar is drawn (and kept in the log).
  script -qefc "/usr/bin/time -v $*" "$LOG/$name.log" > /dev/null
  kill "$sampler" 2>/dev/null || true
  local wall rss
  wall=$(grep -a "Elapsed (wall clock)" "$LOG/$name.log" | awk '{print $NF}')
  rss=$(grep -a "Maximum resident set size" "$LOG/$name.log" | awk '{print $NF}')
  printf '%-12s wall %-10s peak %6d MiB  disk beyond the start %6s MiB\n' "$name" "$wall" $((rss / 1024)) "$(cat "$LOG/$name.disk")" | tee -a "$LOG/summary.txt"
}

if [ ! -d "$DATA/lake/receipt_lines" ]; then
  step generate unico --data "$DATA" generate --customers "$CUSTOMERS" --days "$DAYS" --start 2023-12-01 \
    --seed 7 --shoppers rich --into-lake --out "$DATA-src"
fi
echo "lake: $(du -sm "$DATA/lake" | cut -f1) MiB" | tee -a "$LOG/summary.txt"
if [ ! -f "$LOG/customers.done" ]; then
  step customers unico --data "$DATA" import customers "$DATA-src/customers.csv"
  touch "$LOG/customers.done"
fi
AS_OF=2026-11-30
step build unico --data "$DATA" model build --as-of "$AS_OF"
step kpi unico --data "$DATA" kpi --by week --format csv --out "$LOG/kpis.csv"
# The example policy's window, moved to the fortnight after the as-of day.
sed -e 's/^valid_from = .*/valid_from = "2026-12-07"/' -e 's/^valid_to = .*/valid_to = "2026-12-20"/' "$POLICY" > "$LOG/policy.toml"
rm -rf "$LOG/plan"
step plan unico --data "$DATA" plan --policy "$LOG/policy.toml" --out "$LOG/plan" --dry-run
