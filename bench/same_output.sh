#!/usr/bin/env bash
# Runs the same verbs with two unico binaries on the same data and compares what each
# prints on standard output and every file it writes (campaign, recommendations,
# simulation, model parameters), after masking what differs from run to run by nature:
# import ids (a timestamp and a random suffix), timings and today's date.
#
#   cargo build --release && bench/same_output.sh /path/to/old/unico target/release/unico
#
# Used once, to check that moving the logic into the service layer (decision 0013)
# changed nothing a user sees. Exit status 0 when every output is the same.
set -euo pipefail
before="$(realpath "$1")"
after="$(realpath "$2")"
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${WORK:-/tmp/unico-same-output}"
# REUSE_BEFORE=1 keeps the first binary's outputs of an earlier run.
[ "${REUSE_BEFORE:-0}" = 1 ] || rm -rf "$work"
mkdir -p "$work"

mask() {
  python3 -c '
import json, re, sys
text = sys.stdin.read()
def scrub(v):
    if isinstance(v, dict):
        return {k: ("_" if k == "seconds" else scrub(x)) for k, x in v.items()}
    if isinstance(v, list):
        return [scrub(x) for x in v]
    return v
try:
    text = json.dumps(scrub(json.loads(text)), indent=2, sort_keys=True)
except ValueError:
    pass
text = re.sub(r"(receipts|products|stores|customers|surveys)-[0-9]{8}T[0-9]{12}-[0-9a-f]{6}", r"\1-IMPORT_ID", text)
text = re.sub(r"[0-9]+\.[0-9]+ s\b", "_ s", text)
text = re.sub(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{6,9}Z", "NOW", text)
sys.stdout.write(text)
'
}

run() {
  local bin="$1" out="$2"
  local d="$work/run"
  rm -rf "$d"
  mkdir -p "$d" "$out"
  cd "$d"
  # One pseudonymisation key for both runs: codes and the holdout are drawn from it.
  mkdir -p data/secrets
  printf '%s' "$(printf '5eed%.0s' $(seq 16))" >data/secrets/pseudonym.key
  # --no-serve since the demo serves the back office; a binary from before it has no flag.
  "$bin" --data data demo --no-serve >"$out/demo.txt" 2>/dev/null || "$bin" --data data demo >"$out/demo.txt" 2>/dev/null
  "$bin" --data data model params --json >"$out/params.json"
  "$bin" --data data recommend --k 5 --out recs.csv >"$out/recommend.txt" 2>/dev/null
  cp recs.csv "$out/recs.csv"
  "$bin" --data data plan --policy "$repo/docs/examples/policy.toml" --out campaign >"$out/plan.txt" 2>/dev/null
  for f in campaign/*; do cp "$f" "$out/campaign-$(basename "$f")"; done
  { echo code; cut -d, -f1 campaign/offers.csv | sed -n '2,40p'; } >redemptions.csv
  "$bin" --data data learn --campaign campaign --redemptions redemptions.csv >"$out/learn.txt"
  "$bin" --data data kpi --by week >"$out/kpi.txt" 2>/dev/null
  "$bin" --data data kpi --by month --by-segment --format json >"$out/kpi.json" 2>/dev/null
  "$bin" --data data kpi --by week --by-store --format csv >"$out/kpi.csv" 2>/dev/null
  "$bin" --data data measure --as-of 2026-01-31 >"$out/measure.txt" 2>/dev/null || true
  "$bin" --data data goals add --kpi loyalty_share --target 0.7 --by 2026-06-30 --notify mailto:crm@example.com >"$out/goal.txt"
  "$bin" --data data goals status --format json >"$out/goals.json" 2>/dev/null
  "$bin" --data data outbox >/dev/null
  "$bin" --data data customers show 4000000003 --json --on 2026-01-10 >"$out/customer.json"
  "$bin" --data data customers duplicates --format csv >"$out/duplicates.csv"
  "$bin" simulate-campaign --policy "$repo/docs/examples/policy.toml" --seed 42 \
    --out "$out/simulate.json" >"$out/simulate.txt" 2>/dev/null
  for f in "$out"/*; do mask <"$f" >"$f.masked" && mv "$f.masked" "$f"; done
  cd "$repo"
}

[ "${REUSE_BEFORE:-0}" = 1 ] && [ -d "$work/before" ] || run "$before" "$work/before"
[ "${BEFORE_ONLY:-0}" = 1 ] && exit 0
rm -rf "$work/after"
run "$after" "$work/after"
if diff -r "$work/before" "$work/after"; then
  echo "same output: $(ls "$work/after" | wc -l) files compared"
else
  echo "outputs differ (see above)"
  exit 1
fi
