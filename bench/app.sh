#!/usr/bin/env bash
# The shoppers' app (docs/benchmarks.md, "The shoppers' app"): GET /api/v1/app/offers for
# $shoppers logged-in shoppers (each with a linked card and a published campaign's offers)
# side by side with the same server's /healthz under the same load (wrk, two client threads,
# 16 connections, loopback); click-and-collect (the catalogue, a five-line basket priced
# beside the tills' evaluate of the same basket, placing orders beside the tills' confirm);
# then the app's first load and a load from the service worker's cache on an emulated slow
# mobile network, in headless Chromium (bench/app-load.mjs).
#   bench/app.sh [path/to/unico] [customers] [shoppers]
set -euo pipefail
unico="${1:-target/release/unico}"
customers="${2:-20000}"
shoppers="${3:-100}"
here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
pid=""
cleanup() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$work"; }
trap cleanup EXIT
source "$here/bench/wrk.sh"
d="$work/data"

"$unico" --data "$d" demo --no-serve --customers "$customers" --days 120 >/dev/null
today="$(python3 -c 'import datetime; print(datetime.date.today())')"
to="$(python3 -c 'import datetime; print(datetime.date.today() + datetime.timedelta(days=13))')"
sed -e "s/valid_from = \"2026-01-05\"/valid_from = \"$today\"/" \
    -e "s/valid_to = \"2026-01-18\"/valid_to = \"$to\"\nactivation_required = true/" \
    "$here/docs/examples/policy.toml" >"$work/policy.toml"
"$unico" --data "$d" plan --policy "$work/policy.toml" --out "$d/campaign" >/dev/null
"$unico" --data "$d" campaigns publish "$("$unico" --data "$d" campaigns list --format json |
  python3 -c 'import json,sys; print([c["id"] for c in json.load(sys.stdin) if c["id"].startswith("January")][0])')" >/dev/null
echo "bench admin password" | "$unico" --data "$d" users add admin@example.com --role admin --password-stdin >/dev/null
till="$("$unico" --data "$d" terminals add --store S001 --till T1 | tail -1)"
tomorrow="$(python3 -c 'import datetime; print(datetime.date.today() + datetime.timedelta(days=1))')"
# Pickup slots with room for every order the placing run makes.
"$unico" --data "$d" orders slots --store S001 --day "$tomorrow" --from 08:00 --to 20:00 --capacity 10000 >/dev/null
# Every shopper registers from this one address: the limits are raised for the set-up.
UNICO_LOG=warn "$unico" --data "$d" serve --addr 127.0.0.1:0 --logins-per-minute 10000 >"$work/out" 2>/dev/null &
pid=$!
for _ in $(seq 1 600); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.1; done
base="$(sed -n 's/^listening on //p' "$work/out")"

# Shoppers: each links a card that has personal offers (the code read from the outbox, as
# the e-mail would bring it), then logs in. Their tokens go to wrk; one card to the browser.
python3 - "$base" "$d/campaign/offers.csv" "$shoppers" "$work" <<'PY'
import csv, json, sys, urllib.request
base, offers, n, work = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def call(method, path, body=None, token=None):
    req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", **({"Authorization": "Bearer " + token} if token else {})})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or "null")
admin = call("POST", "/api/v1/auth/login", {"email": "admin@example.com", "password": "bench admin password"})["token"]
policy = call("GET", "/api/v1/app/privacy")["version"]
cards = []
for r in csv.DictReader(open(offers)):
    if r["personal"] == "yes" and r["customer_id"] not in cards:
        cards.append(r["customer_id"])
tokens = []
for i, card in enumerate(cards[:n]):
    email = f"shopper{i}@example.com"
    call("POST", "/api/v1/app/register", {"email": email, "password": "bench shopper password", "card": card,
                                           "policy_version": policy, "consents": {"profiling": True}})
    text = json.dumps(call("GET", "/api/v1/outbox", token=admin))
    code = text[text.rfind("Your code is ") + 13:][:6]
    call("POST", "/api/v1/app/register/confirm", {"card": card, "code": code})
    tokens.append(call("POST", "/api/v1/app/login", {"email": email, "password": "bench shopper password"})["token"])
with open(f"{work}/tokens.lua", "w") as f:
    f.write("tokens = {" + ",".join(json.dumps(t) for t in tokens) + "}\n")
json.dump({"token": tokens[0], "card": cards[0]}, open(f"{work}/browser.json", "w"))
# Click-and-collect: five products of the catalogue, the open slots, the shoppers' cards.
items = call("GET", "/api/v1/app/catalogue?limit=200", token=tokens[0])["items"][::40][:5]
lines = [{"sku": i["sku"], "quantity": 1} for i in items]
till_lines = [{"line_no": n + 1, "sku": i["sku"], "quantity": "1", "unit_price_cents": i["price_cents"]} for n, i in enumerate(items)]
slots = [s["id"] for s in call("GET", "/api/v1/app/stores/S001/slots", token=tokens[0])]
with open(f"{work}/shop.lua", "w") as f:
    f.write("tokens = {" + ",".join(json.dumps(t) for t in tokens) + "}\n")
    f.write("cards = {" + ",".join(json.dumps(c) for c in cards[:n]) + "}\n")
    f.write("slots = {" + ",".join(str(s) for s in slots) + "}\n")
    f.write("basket = " + json.dumps(json.dumps({"store_id": "S001", "lines": lines})) + "\n")
    f.write("lines = " + json.dumps(json.dumps(lines)) + "\n")
    f.write("till_lines = " + json.dumps(json.dumps(till_lines)) + "\n")
print(f"click-and-collect: {len(lines)} lines, {len(slots)} slots")
print(f"{len(tokens)} shoppers linked and logged in")
PY

cat >>"$work/tokens.lua" <<'LUA'
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/api/v1/app/offers", {["Authorization"] = "Bearer " .. tokens[(i % #tokens) + 1]})
end
LUA
echo "$P999_LUA" >>"$work/tokens.lua"
health_lua
echo "customers: $customers; wrk 2 threads, 16 connections, 15 s each; server and client share the machine's cores"
run "GET /healthz" -s "$work/health.lua" "$base/healthz"
health="$(cat "$work/last_rps")"
run "GET /api/v1/app/offers" -s "$work/tokens.lua" "$base/api/v1/app/offers"
offers="$(cat "$work/last_rps")"
python3 -c "print(f'offers / healthz throughput: {float(\"$offers\") / float(\"$health\"):.2f}')"

# Click-and-collect. Each thread numbers its requests: placing keys and receipt numbers
# are new for every request, so every placing is an order and every confirm a receipt.
shop() {
  cat "$work/shop.lua"
  cat <<'LUA'
local counter = 1
function setup(thread) thread:set("id", counter); counter = counter + 1 end
function init(args) n = 0 end
LUA
  echo "$1"
  echo "$P999_LUA"
}
shop 'request = function()
  n = n + 1
  return wrk.format("GET", "/api/v1/app/catalogue?limit=50", {["Authorization"] = "Bearer " .. tokens[(n % #tokens) + 1]})
end' >"$work/catalogue.lua"
shop 'request = function()
  n = n + 1
  return wrk.format("POST", "/api/v1/app/basket", {["Authorization"] = "Bearer " .. tokens[(n % #tokens) + 1], ["Content-Type"] = "application/json"}, basket)
end' >"$work/basket.lua"
shop "request = function()
  n = n + 1
  local body = '{\"card\":\"' .. cards[(n % #cards) + 1] .. '\",\"store_id\":\"S001\",\"till_id\":\"T1\",\"lines\":' .. till_lines .. '}'
  return wrk.format('POST', '/api/v1/pos/evaluate', {['Authorization'] = 'Bearer $till', ['Content-Type'] = 'application/json'}, body)
end" >"$work/evaluate.lua"
shop 'request = function()
  n = n + 1
  local body = "{\"store_id\":\"S001\",\"slot_id\":" .. slots[(n % #slots) + 1] .. ",\"lines\":" .. lines .. "}"
  return wrk.format("POST", "/api/v1/app/orders", {["Authorization"] = "Bearer " .. tokens[(n % #tokens) + 1], ["Content-Type"] = "application/json", ["Idempotency-Key"] = "bench-" .. id .. "-" .. n}, body)
end' >"$work/place.lua"
shop "request = function()
  n = n + 1
  local body = '{\"card\":\"' .. cards[(n % #cards) + 1] .. '\",\"store_id\":\"S001\",\"till_id\":\"T1\",\"receipt_no\":\"b' .. id .. '-' .. n .. '\",\"lines\":' .. till_lines .. '}'
  return wrk.format('POST', '/api/v1/pos/confirm', {['Authorization'] = 'Bearer $till', ['Content-Type'] = 'application/json'}, body)
end" >"$work/confirm.lua"
run "GET /api/v1/app/catalogue (50)" -s "$work/catalogue.lua" "$base/api/v1/app/catalogue"
run "POST /api/v1/app/basket (5 lines)" -s "$work/basket.lua" "$base/api/v1/app/basket"
basket_rps="$(cat "$work/last_rps")"
run "POST /api/v1/pos/evaluate (same basket)" -s "$work/evaluate.lua" "$base/api/v1/pos/evaluate"
evaluate_rps="$(cat "$work/last_rps")"
run "POST /api/v1/app/orders (5 lines)" -s "$work/place.lua" "$base/api/v1/app/orders"
place_rps="$(cat "$work/last_rps")"
run "POST /api/v1/pos/confirm (same basket)" -s "$work/confirm.lua" "$base/api/v1/pos/confirm"
confirm_rps="$(cat "$work/last_rps")"
python3 -c "print(f'basket / evaluate throughput: {float(\"$basket_rps\") / float(\"$evaluate_rps\"):.2f}; placing / confirm: {float(\"$place_rps\") / float(\"$confirm_rps\"):.2f}')"

if [ -d "$here/e2e/node_modules/playwright-core" ] && command -v chromium >/dev/null; then
  (cd "$here/e2e" && UNICO_BASE="$base" UNICO_BROWSER="$work/browser.json" node "$here/bench/app-load.mjs")
else
  echo "the page-load part needs chromium and 'npm ci' in e2e/"
fi
