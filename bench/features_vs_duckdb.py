#!/usr/bin/env python3
"""Benchmark: the model's feature passes (`unico model build`) against DuckDB running the
equivalent SQL on the same Parquet lake, in one run.

Generates and imports a chain (default 305,000 people over 365 days: about 50M receipt
lines), then:
  1. `unico model build --json`: profile features (one streaming pass: purchase days,
     receipts, lines, spend, discount, RFM window, preferred store, channel, weekday, hour),
     the BG/NBD and Gamma-Gamma fit and scoring, and habits (a second, customer-partitioned
     pass: per customer x category and frequent product, purchase days, spend, share of
     wallet, interval quartiles, cycle, next due date). Its phase timings come from
     model.json's `seconds`.
  2. DuckDB: the same profile features as one SQL query written to Parquet, and the habits'
     interval statistics (per customer x category and customer x product, with lag()
     windows and quantiles) as a second query written to Parquet.
Reports times, peak memory and the ratios: features vs DuckDB's profile query, habits vs
DuckDB's habit query.

    cargo build --release && python3 bench/features_vs_duckdb.py --customers 305000

Peak memory of Unico alone on a bigger lake (about 100M lines):

    python3 bench/features_vs_duckdb.py --customers 610000 --unico-only
"""
import argparse
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(__file__))
import measure  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROFILE_SQL = """
COPY (
WITH l AS (
  SELECT customer_key, receipt_id, local_date AS d, store_id, channel, ts, net_amount_cents AS net, discount_cents AS disc
  FROM read_parquet('{lake}/receipt_lines/*/*.parquet')
  WHERE customer_key IS NOT NULL AND local_date <= DATE '{as_of}'),
r AS (
  SELECT customer_key, receipt_id, any_value(d) AS d, any_value(store_id) AS store, any_value(channel) AS channel,
         min(ts) AS ts, count(*) AS lines, sum(net) AS net, sum(disc) AS disc
  FROM l GROUP BY customer_key, receipt_id),
dd AS (SELECT customer_key, d, sum(net) AS net FROM r GROUP BY customer_key, d),
c AS (
  SELECT customer_key, min(d) AS first_day, max(d) AS last_day, count(*) AS purchase_days,
         arg_min(net, d) AS first_day_spend,
         count(*) FILTER (WHERE d > DATE '{as_of}' - INTERVAL 365 DAY) AS window_days,
         sum(net) FILTER (WHERE d > DATE '{as_of}' - INTERVAL 365 DAY) AS window_spend
  FROM dd GROUP BY customer_key),
rc AS (
  SELECT customer_key, count(*) AS receipts, sum(lines) AS lines, sum(net) AS spend, sum(disc) AS discount,
         mode(store) AS store, mode(channel) AS channel, mode(isodow(d)) AS weekday,
         mode(hour(timezone('Europe/Rome', ts))) AS hour
  FROM r GROUP BY customer_key)
SELECT * FROM c JOIN rc USING (customer_key)
) TO '{out}' (FORMAT parquet)
"""

HABITS_SQL = """
COPY (
WITH l AS (
  SELECT customer_key, sku, p.category, local_date AS d, net_amount_cents AS net
  FROM read_parquet('{lake}/receipt_lines/*/*.parquet') JOIN read_parquet('{lake}/products/**/*.parquet') p USING (sku)
  WHERE customer_key IS NOT NULL AND local_date <= DATE '{as_of}'),
cat AS (SELECT customer_key, category, d, sum(net) AS net FROM l GROUP BY customer_key, category, d),
prod AS (SELECT customer_key, category, sku, d, sum(net) AS net FROM l GROUP BY customer_key, category, sku, d),
cat_gaps AS (SELECT *, d - lag(d) OVER (PARTITION BY customer_key, category ORDER BY d) AS gap FROM cat),
prod_gaps AS (SELECT *, d - lag(d) OVER (PARTITION BY customer_key, sku ORDER BY d) AS gap FROM prod),
wallet AS (SELECT customer_key, sum(net) AS total FROM cat GROUP BY customer_key),
cats AS (
  SELECT customer_key, 'category' AS level, category, NULL AS sku, count(*) AS purchase_days, sum(net) AS spend,
         min(d) AS first_day, max(d) AS last_day, quantile_cont(gap, [0.25, 0.5, 0.75]) AS gap_quartiles
  FROM cat_gaps GROUP BY ALL),
prods AS (
  SELECT customer_key, 'product' AS level, category, sku, count(*) AS purchase_days, sum(net) AS spend,
         min(d) AS first_day, max(d) AS last_day, quantile_cont(gap, [0.25, 0.5, 0.75]) AS gap_quartiles
  FROM prod_gaps GROUP BY ALL HAVING count(*) >= 4)
SELECT h.*, h.spend / nullif(w.total, 0) AS share_of_wallet
FROM (SELECT * FROM cats UNION ALL SELECT * FROM prods) h JOIN wallet w USING (customer_key)
) TO '{out}' (FORMAT parquet)
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=305000, help="simulated people (305000 gives about 50M lines)")
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--work", default=os.path.join(ROOT, "bench", "out"))
    ap.add_argument("--unico-only", action="store_true",
                    help="measure Unico alone (time and peak memory of model build and recommend), no DuckDB")
    ap.add_argument("--unico", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "unico"))
    args = ap.parse_args()

    chain = os.path.join(args.work, f"chain-{args.customers}-{args.days}-{args.seed}")
    data = os.path.join(args.work, f"features-{args.customers}-{args.days}-{args.seed}")
    if not os.path.exists(os.path.join(chain, "receipts.csv")):
        os.makedirs(args.work, exist_ok=True)
        print(f"generating {chain} ...", flush=True)
        measure.run([args.unico, "generate", "--customers", str(args.customers), "--days", str(args.days),
                     "--seed", str(args.seed), "--out", chain])
    if not os.path.exists(os.path.join(data, "lake", "receipt_lines")):
        shutil.rmtree(data, ignore_errors=True)
        measure.run([args.unico, "--data", data, "init"])
        for what in ["stores", "products", "receipts"]:
            print(f"importing {what} ...", flush=True)
            measure.run([args.unico, "--data", data, "import", what, os.path.join(chain, f"{what}.csv")])
    lake = os.path.join(data, "lake")

    def warm():
        """Reads the lake once so that every tool starts with it in the page cache."""
        for root, _, files in os.walk(lake):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    while f.read(1 << 24):
                        pass

    warm()
    out = os.path.join(args.work, "model.json")
    with open(out, "w") as f:
        t_unico, m_unico = measure.run_to([args.unico, "--data", data, "model", "build", "--json"], f)
    with open(out) as f:
        params = json.load(f)
    as_of, s = params["as_of"], params["seconds"]
    lines = params["lines"]

    if args.unico_only:
        recs = os.path.join(args.work, "recs.csv")
        t_rec, m_rec = measure.run([args.unico, "--data", data, "recommend", "--k", "10", "--by-key", "--out", recs])
        print(f"\n{lines:,} receipt lines with a card, {params['customers']:,} customers, as of {as_of}")
        print(f"unico model build: {t_unico:.1f} s, peak {m_unico:,.0f} MiB; phases {json.dumps(s)}")
        print(f"unico recommend --k 10: {t_rec:.1f} s, peak {m_rec:,.0f} MiB")
        return
    duck = {}
    for name, sql in [("profiles", PROFILE_SQL), ("habits", HABITS_SQL)]:
        target = os.path.join(args.work, f"duckdb-{name}.parquet")
        query = sql.format(lake=lake, as_of=as_of, out=target)
        tmp = os.path.join(args.work, "duckdb-tmp")
        setup = f"SET preserve_insertion_order = false; SET temp_directory = '{tmp}';"
        script = f"import duckdb; con = duckdb.connect(); con.execute({setup!r}); con.execute({query!r})"
        warm()
        try:
            duck[name] = measure.run([sys.executable, "-c", script])
        except SystemExit as e:  # reported, not hidden: DuckDB can run out of memory or disk
            print(f"DuckDB {name} query failed: {str(e).splitlines()[-1]}", flush=True)
            duck[name] = (float("nan"), float("nan"))
        shutil.rmtree(tmp, ignore_errors=True)
    import duckdb  # only for the version

    features = s["features"]
    habits = s.get("habits_read", 0) + s.get("habits", 0)
    print(f"\n{lines:,} receipt lines with a card, {params['customers']:,} customers, as of {as_of}")
    print("| step | Unico (s) | DuckDB (s) | ratio (DuckDB / Unico) |")
    print("|---|---:|---:|---:|")
    print(f"| profile features | {features:.2f} | {duck['profiles'][0]:.2f} | {duck['profiles'][0] / features:.2f}× |")
    print(f"| habits | {habits:.2f} | {duck['habits'][0]:.2f} | {duck['habits'][0] / habits:.2f}× |")
    print(f"| BG/NBD + Gamma-Gamma fit, scoring, profiles written | {s['fit'] + s['score'] + s['profiles']:.2f} | – | – |")
    print(f"| whole `unico model build` | {t_unico:.2f} | {duck['profiles'][0] + duck['habits'][0]:.2f} (both queries) | – |")
    print(f"peak memory: unico model build {m_unico:,.0f} MiB; DuckDB profiles {duck['profiles'][1]:,.0f} MiB, "
          f"habits {duck['habits'][1]:,.0f} MiB (DuckDB {duckdb.__version__})")
    print(json.dumps({"unico_seconds": s, "unico_total_s": t_unico, "unico_peak_mib": m_unico,
                      "duckdb": {k: {"s": v[0], "peak_mib": v[1]} for k, v in duck.items()}}))


if __name__ == "__main__":
    main()
