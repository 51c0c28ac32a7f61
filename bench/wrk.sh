# Sourced by the load benchmarks (bench/pos.sh, bench/app.sh): one wrk run, printed as a row
# of req/s, p50, p99 and p99.9 (from the Lua script's `done`) and non-2xx answers; the req/s
# is left in "$work/last_rps" for ratios.
#   run NAME [wrk arguments...]
run() {
  local name="$1"; shift
  local out; out="$(wrk -t2 -c16 -d15s --latency "$@")"
  local rps; rps="$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
  local p50; p50="$(echo "$out" | awk '$1=="50%" {print $2}')"
  local p99; p99="$(echo "$out" | awk '$1=="99%" {print $2}')"
  local p999; p999="$(echo "$out" | awk '$1=="p99.9" {print $2}')"
  local errors; errors="$(echo "$out" | awk '/Non-2xx/ {print $4}')"
  printf '%-40s %10s req/s   p50 %8s   p99 %8s   p99.9 %8s   non-2xx %s\n' "$name" "$rps" "$p50" "$p99" "${p999:--}" "${errors:-0}"
  echo "$rps" >"$work/last_rps"
}

# A Lua `done` that prints p99.9 (wrk's own summary stops at p99).
P999_LUA='done = function(summary, latency, requests)
  io.write(string.format("p99.9 %.2fms\n", latency:percentile(99.9) / 1000))
end'

# "$work/health.lua": GET /healthz through the same per-request Lua path as the measured
# calls, so the client does the same work for both.
health_lua() {
  cat >"$work/health.lua" <<LUA
request = function()
  return wrk.format("GET", "/healthz")
end
$P999_LUA
LUA
}
