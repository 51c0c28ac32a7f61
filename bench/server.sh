#!/usr/bin/env bash
# The back office's API under load: requests per second and latency of the calls a back
# office makes most (who am I, find a customer, read their profile), with wrk, two client
# threads and 16 connections against the release binary on a demo data directory.
#   bench/server.sh [path/to/unico] [customers]
set -euo pipefail
unico="${1:-target/release/unico}"
customers="${2:-5000}"
work="$(mktemp -d)"
pid=""
cleanup() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$work"; }
trap cleanup EXIT
"$unico" --data "$work/d" demo --no-serve --customers "$customers" --days 180 >/dev/null
echo "bench-admin-password" | "$unico" --data "$work/d" users add admin@example.com --role admin --password-stdin >/dev/null
UNICO_LOG=warn "$unico" --data "$work/d" serve --addr 127.0.0.1:0 >"$work/out" 2>/dev/null &
pid=$!
for _ in $(seq 1 100); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.1; done
base="$(sed -n 's/^listening on //p' "$work/out")"
token="$(curl -sf -X POST "$base/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d '{"email":"admin@example.com","password":"bench-admin-password"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
card="$("$unico" --data "$work/d" customers cards | sed -n 2p | cut -d, -f2)"
id="$(curl -sf -X POST "$base/api/v1/customers/lookup" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d "{\"reference\":\"$card\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
cat >"$work/lookup.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"reference":"$card"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
LUA
run() {
  local name="$1"; shift
  local out; out="$(wrk -t2 -c16 -d10s --latency "$@")"
  local rps; rps="$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
  local p50; p50="$(echo "$out" | awk '$1=="50%" {print $2}')"
  local p99; p99="$(echo "$out" | awk '$1=="99%" {print $2}')"
  printf '%-34s %10s req/s   p50 %8s   p99 %8s\n' "$name" "$rps" "$p50" "$p99"
}
echo "customers: $customers; 2 wrk threads, 16 connections, 10 s each; server and client share the 2 cores"
run "GET /healthz (no login)" "$base/healthz"
run "GET /api/v1/me (session check)" -H "Authorization: Bearer $token" "$base/api/v1/me"
run "POST /api/v1/customers/lookup" -s "$work/lookup.lua" "$base/api/v1/customers/lookup"
run "GET /api/v1/customers/{id}/profile" -H "Authorization: Bearer $token" "$base/api/v1/customers/$id/profile"
