#!/usr/bin/env bash
# The tills' API under load (docs/benchmarks.md, "The tills' API"): evaluate's throughput and
# p50/p99/p99.9 side by side with the same server's /healthz under the same load (wrk, two
# client threads, 16 connections, loopback), on a chain of $customers customers with a
# published campaign, baskets of 1-40 lines with and without cards; then confirm's
# throughput and p99 on SQLite and, when UNICO_BENCH_DATABASE_URL names a PostgreSQL
# database, on PostgreSQL.
#   bench/pos.sh [path/to/unico] [customers]
set -euo pipefail
unico="${1:-target/release/unico}"
customers="${2:-100000}"
here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
pid=""
cleanup() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$work"; }
trap cleanup EXIT
source "$here/bench/wrk.sh"

# A chain with a published campaign and a till: $1 = data directory, env may name the store.
setup() {
  local d="$1"
  "$unico" --data "$d" demo --no-serve --customers "$customers" --days 120 >/dev/null
  "$unico" --data "$d" plan --policy "$here/docs/examples/policy.toml" --out "$d/campaign" >/dev/null
  "$unico" --data "$d" campaigns publish "$("$unico" --data "$d" campaigns list --format json |
    python3 -c 'import json,sys; print([c["id"] for c in json.load(sys.stdin) if c["id"].startswith("January")][0])')" >/dev/null
  "$unico" --data "$d" terminals add --store S001 --till T1 | tail -1 >"$d/token"
}

start() {
  UNICO_LOG=warn "$unico" --data "$1" serve --addr 127.0.0.1:0 >"$work/out" 2>/dev/null &
  pid=$!
  for _ in $(seq 1 600); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.1; done
  base="$(sed -n 's/^listening on //p' "$work/out")"
}

stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }

# Baskets: 1-40 lines of the chain's products at list price; two in three with a card, and
# then, half the time, with one of that card's offered products in it.
baskets() {
  python3 - "$1" "$2" <<'PY'
import csv, json, random, sys
d, out = sys.argv[1], sys.argv[2]
random.seed(7)
products = [(r["sku"], round(float(r["list_price"]) * 100)) for r in csv.DictReader(open(f"{d}/demo-source/products.csv"))]
offers = [(r["customer_id"], r["sku"]) for r in csv.DictReader(open(f"{d}/campaign/offers.csv")) if r["sku"]]
price = dict(products)
with open(out, "w") as f:
    f.write("bodies = {\n")
    for _ in range(2000):
        n = random.randint(1, 40)
        lines = random.sample(products, n)
        card = None
        if random.random() < 2 / 3:
            card, sku = random.choice(offers)
            if random.random() < 0.5:
                lines[0] = (sku, price[sku])
        body = {"card": card, "store_id": "S001", "till_id": "T1", "at": "2026-01-07T10:15:00+01:00",
                "lines": [{"line_no": i + 1, "sku": s, "quantity": str(random.randint(1, 4)), "unit_price_cents": p}
                          for i, (s, p) in enumerate(lines)]}
        f.write("[==[" + json.dumps(body) + "]==],\n")
    f.write("}\n")
PY
}

lua_common() {
  cat <<LUA
$(cat "$work/bodies.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $1"
$P999_LUA
LUA
}

echo "customers: $customers; wrk 2 threads, 16 connections, 15 s each; server and client share the machine's cores"
setup "$work/sqlite"
baskets "$work/sqlite" "$work/bodies.lua"
token="$(cat "$work/sqlite/token")"
lua_common "$token" >"$work/evaluate.lua"
cat >>"$work/evaluate.lua" <<'LUA'
local i = 0
request = function()
  i = i + 1
  return wrk.format(nil, "/api/v1/pos/evaluate", nil, bodies[(i % #bodies) + 1])
end
LUA
lua_common "$token" >"$work/confirm.lua"
# Every request a new receipt: numbered by run, wrk thread and request.
cat >>"$work/confirm.lua" <<LUA
local run = "$$-$RANDOM"
LUA
cat >>"$work/confirm.lua" <<'LUA'
local threads = 0
setup = function(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
local i = 0
request = function()
  i = i + 1
  local receipt = run .. "-" .. tostring(tid) .. "-" .. i
  local body = bodies[(i % #bodies) + 1]:gsub('"store_id"', '"receipt_no": "' .. receipt .. '", "store_id"', 1)
  return wrk.format(nil, "/api/v1/pos/confirm", nil, body)
end
LUA
health_lua
start "$work/sqlite"
run "GET /healthz" -s "$work/health.lua" "$base/healthz"
health="$(cat "$work/last_rps")"
run "POST /api/v1/pos/evaluate" -s "$work/evaluate.lua" "$base/api/v1/pos/evaluate"
evaluate="$(cat "$work/last_rps")"
python3 -c "print(f'evaluate / healthz throughput: {float(\"$evaluate\") / float(\"$health\"):.2f}')"
run "POST /api/v1/pos/confirm (SQLite)" -s "$work/confirm.lua" "$base/api/v1/pos/confirm"
stop

if [ -n "${UNICO_BENCH_DATABASE_URL:-}" ]; then
  UNICO_DATABASE_URL="$UNICO_BENCH_DATABASE_URL" setup "$work/pg"
  sed -i "s/^wrk.headers\[\"Authorization\"\].*/wrk.headers[\"Authorization\"] = \"Bearer $(cat "$work/pg/token")\"/" "$work/confirm.lua"
  UNICO_DATABASE_URL="$UNICO_BENCH_DATABASE_URL" start "$work/pg"
  run "POST /api/v1/pos/confirm (PostgreSQL)" -s "$work/confirm.lua" "$base/api/v1/pos/confirm"
  stop
fi
