#!/usr/bin/env bash
# The back office's pages (docs/benchmarks.md, "The back office"): every page of the back
# office on the demo chain, $rounds times each after one warm-up, as marketing (and the
# tickets as the store manager); the server's own time on each page from its Server-Timing
# header, side by side with the JSON API call that reads the same data (the HTML page's
# cost over the service layer's), and against the 300 ms budget.
#   bench/office.sh [path/to/unico] [customers] [rounds]
set -euo pipefail
unico="${1:-target/release/unico}"
customers="${2:-2000}"
rounds="${3:-20}"
work="$(mktemp -d)"
pid=""
cleanup() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$work"; }
trap cleanup EXIT
d="$work/data"

"$unico" --data "$d" demo --no-serve --customers "$customers" >"$work/demo.txt"
UNICO_LOG=warn "$unico" --data "$d" serve --addr 127.0.0.1:0 >"$work/out" 2>/dev/null &
pid=$!
for _ in $(seq 1 600); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.1; done
base="$(sed -n 's/^listening on //p' "$work/out")"

python3 - "$base" "$work/demo.txt" "$rounds" "$customers" <<'PY'
import http.cookiejar, json, re, statistics, sys, time, urllib.parse, urllib.request
base, demo, rounds, customers = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
logins = {}
for line in open(demo):
    w = line.split()
    if len(w) >= 3 and "@demo.example" in w[1]:
        logins[w[0]] = (w[1], w[2])

class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None

def session(role):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    email, password = logins[role]
    body = urllib.parse.urlencode({"email": email, "password": password}).encode()
    try:
        opener.open(base + "/office/login", body)
    except urllib.error.HTTPError as e:
        assert e.code == 303, e.code
    return opener

def token(role):
    email, password = logins[role]
    req = urllib.request.Request(base + "/api/v1/auth/login", json.dumps({"email": email, "password": password}).encode(),
                                 {"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))["token"]

def timed(opener, path, headers=None):
    """(server ms from Server-Timing or None, client ms)"""
    req = urllib.request.Request(base + path, headers=headers or {})
    t = time.perf_counter()
    try:
        r = opener.open(req)
    except urllib.error.HTTPError as e:
        sys.exit(f"{path}: {e.code} {e.read()[:300]!r}")
    r.read()
    client = (time.perf_counter() - t) * 1000
    st = r.headers.get("server-timing") or ""
    m = re.search(r"dur=([0-9.]+)", st)
    return (float(m.group(1)) if m else None, client)

def run(opener, path, headers=None):
    timed(opener, path, headers)
    server, client = [], []
    for _ in range(rounds):
        s, c = timed(opener, path, headers)
        client.append(c)
        if s is not None:
            server.append(s)
    return server, client

marketing, store = session("marketing"), session("store_manager")
admin, support = session("admin"), session("support")
api = urllib.request.build_opener()
bearer = {"Authorization": "Bearer " + token("marketing")}
campaign = json.load(api.open(urllib.request.Request(base + "/api/v1/campaigns", headers=bearer)))[0]["id"]
cid = urllib.parse.quote(campaign)
pages = [
    ("home (daily review)", marketing, "/office/", "/api/v1/goals"),
    ("KPI explorer, by week", marketing, "/office/kpis", "/api/v1/kpis?by=week"),
    ("KPI explorer, by store", marketing, "/office/kpis?split=store&kpi=revenue_cents", "/api/v1/kpis?by=week&by_store=true"),
    ("campaigns and policy editor", marketing, "/office/campaigns", "/api/v1/campaigns"),
    ("campaign preview and results", marketing, f"/office/campaigns/{cid}", None),
    ("customer view (marketing)", marketing, "/office/customers/4000000003", "/api/v1/customers/3/profile"),
    ("customer view (support)", support, "/office/customers/4000000003", None),
    ("duplicates", admin, "/office/duplicates", None),
    ("data: jobs, quality, model", marketing, "/office/data", "/api/v1/quality"),
    ("tickets (store manager)", store, "/office/tickets", None),
    ("admin", admin, "/office/admin", None),
    ("home (store manager)", store, "/office/", None),
]
print(f"demo chain of {customers} people; {rounds} requests per page after one warm-up; times in ms")
print(f"{'page':<32} {'server p50':>10} {'server p95':>10} {'client p50':>10} {'API p50':>8} {'page/API':>8} {'p95/300ms':>9}")
worst = 0.0
for name, opener, path, api_path in pages:
    server, client = run(opener, path)
    p50, p95 = statistics.median(server), statistics.quantiles(server, n=20)[18]
    worst = max(worst, p95)
    c50 = statistics.median(client)
    if api_path:
        _, api_client = run(api, api_path, bearer)
        a50 = statistics.median(api_client)
        ratio = f"{c50 / a50:.2f}"
        a = f"{a50:.1f}"
    else:
        a, ratio = "-", "-"
    print(f"{name:<32} {p50:>10.1f} {p95:>10.1f} {c50:>10.1f} {a:>8} {ratio:>8} {p95 / 300:>9.2f}")
print(f"slowest page p95: {worst:.1f} ms of server time (budget 300 ms)")
PY
