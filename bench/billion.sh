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
#   ADD=20000 bench/billion.sh DATA 3100000 1095   # then add people 3,100,000..3,119,999
#                                             (same seed: the lake of one 3,120,000 run)
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

# The disk used now, in MiB: of the whole file system (SQLite's own temporary files
# included, but so is anything else the machine writes meanwhile), and of the data folder
# with its source (what Unico itself keeps there, its temporary files included).
used() { df -B1M --output=used "$(dirname "$DATA")" | tail -1; }
mine() { { du -sm "$DATA" "$DATA-src" "$DATA-src-add" 2>/dev/null || true; } | awk '{s += $1} END {print s + 0}'; }

step() {
  local name=$1; shift
  local base; base=$(used)
  local base_mine; base_mine=$(mine)
  ( peak=0; peak_mine=0
    while true; do
      d=$(($(used) - base)); ((d > peak)) && peak=$d
      m=$(($(mine) - base_mine)); ((m > peak_mine)) && peak_mine=$m
      echo "$peak $peak_mine" > "$LOG/$name.disk"; sleep 5
    done ) &
  local sampler=$!
  # `script` gives the command a terminal, so its progress bar is drawn (and kept in the log).
  script -qefc "/usr/bin/time -v $*" "$LOG/$name.log" > /dev/null
  kill "$sampler" 2>/dev/null || true
  local wall rss
  wall=$(grep -a "Elapsed (wall clock)" "$LOG/$name.log" | awk '{print $NF}' | tr -d '\r')
  rss=$(grep -a "Maximum resident set size" "$LOG/$name.log" | awk '{print $NF}' | tr -d '\r')
  local disk disk_mine; read -r disk disk_mine < "$LOG/$name.disk"
  local kept=$(($(mine) - base_mine))
  printf '%-10s wall %-9s peak %6d MiB  disk beyond the start: peak %6s MiB (file system), peak %6s MiB and at the end %6s MiB (data folder)\n' \
    "$name" "$wall" $((rss / 1024)) "$disk" "$disk_mine" "$kept" | tee -a "$LOG/summary.txt"
}

if [ ! -d "$DATA/lake/receipt_lines" ]; then
  step generate unico --data "$DATA" generate --customers "$CUSTOMERS" --days "$DAYS" --start 2023-12-01 \
    --seed 7 --shoppers rich --into-lake --out "$DATA-src"
fi
customer_files=("$DATA-src/customers.csv")
if [ -n "${ADD:-}" ]; then
  # More people into the same lake: each person draws from their own random streams, so
  # people CUSTOMERS.. with the same seed are those a larger run would have had.
  if [ ! -f "$LOG/add.done" ]; then
    step add unico --data "$DATA" generate --customers "$ADD" --first-person "$CUSTOMERS" --days "$DAYS" \
      --start 2023-12-01 --seed 7 --shoppers rich --into-lake --out "$DATA-src-add"
    touch "$LOG/add.done"
  fi
  customer_files+=("$DATA-src-add/customers.csv")
fi
echo "lake: $(du -sm "$DATA/lake" | cut -f1) MiB" | tee -a "$LOG/summary.txt"
if [ ! -f "$LOG/customers.done" ]; then
  step customers unico --data "$DATA" import customers "${customer_files[@]}"
  touch "$LOG/customers.done"
fi
AS_OF=2026-11-30
step build unico --data "$DATA" model build --as-of "$AS_OF"
step kpi unico --data "$DATA" kpi --by week --format csv --out "$LOG/kpis.csv"
# The example policy's window, moved to the fortnight after the as-of day.
sed -e 's/^valid_from = .*/valid_from = "2026-12-07"/' -e 's/^valid_to = .*/valid_to = "2026-12-20"/' "$POLICY" > "$LOG/policy.toml"
rm -rf "$LOG/plan"
step plan unico --data "$DATA" plan --policy "$LOG/policy.toml" --out "$LOG/plan" --dry-run
