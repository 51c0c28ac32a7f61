#!/usr/bin/env python3
"""Benchmark: `unico kpi` against the same KPIs as DuckDB SQL on the same Parquet lake, in
one run, with the results checked against each other.

The KPIs, per ISO week over the whole lake: receipts, lines, revenue, discount, costed revenue
and cost of goods (margin) with and without card; active, new and retained cardholders (new =
first purchase ever in the week, retained = also active the week before). Unico computes
them (and the ratios built on them) in one streaming pass; DuckDB runs one SQL query written
to Parquet. The script then compares every weekly figure of the two and fails on a
difference.

    cargo build --release && python3 bench/kpi_vs_duckdb.py --customers 610000   # about 100M lines

Reuses a lake made by `bench/features_vs_duckdb.py` with the same --customers, --days, --seed
and --work (or generates and imports one).
"""
import argparse
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(__file__))
import measure  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SQL = """
COPY (
WITH l AS (
  SELECT local_date AS d, customer_key AS k, receipt_id, sku, quantity AS q, net_amount_cents AS net, discount_cents AS disc
  FROM read_parquet('{lake}/receipt_lines/*/*.parquet') WHERE local_date <= DATE '{to}'),
p AS (SELECT sku, unit_cost_cents AS c FROM read_parquet('{lake}/products/*.parquet') WHERE unit_cost_cents IS NOT NULL),
x AS (
  SELECT date_trunc('week', d) AS w, k IS NOT NULL AS card, receipt_id, net, disc,
         CASE WHEN p.c IS NULL THEN 0 ELSE net END AS costed, CASE WHEN p.c IS NULL THEN 0 ELSE round(q * p.c) END AS cost
  FROM l LEFT JOIN p USING (sku) WHERE d >= DATE '{first}'),
sales AS (
  SELECT w,
    count(DISTINCT receipt_id) FILTER (WHERE card) AS receipts_card, count(DISTINCT receipt_id) FILTER (WHERE NOT card) AS receipts_no_card,
    count(*) FILTER (WHERE card) AS lines_card, count(*) FILTER (WHERE NOT card) AS lines_no_card,
    sum(net) FILTER (WHERE card) AS revenue_card, sum(net) FILTER (WHERE NOT card) AS revenue_no_card,
    sum(disc) AS discount,
    sum(costed) FILTER (WHERE card) AS costed_card, sum(cost) FILTER (WHERE card) AS cost_card,
    sum(costed) FILTER (WHERE NOT card) AS costed_no_card, sum(cost) FILTER (WHERE NOT card) AS cost_no_card
  FROM x GROUP BY w),
firsts AS (SELECT k, date_trunc('week', min(d)) AS fw FROM l WHERE k IS NOT NULL GROUP BY k),
act AS (SELECT DISTINCT date_trunc('week', d) AS w, k FROM l WHERE k IS NOT NULL AND d >= DATE '{first}'),
cust AS (
  SELECT a.w, count(*) AS active, count(*) FILTER (WHERE f.fw = a.w) AS new, count(b.k) AS retained
  FROM act a JOIN firsts f USING (k) LEFT JOIN act b ON b.k = a.k AND b.w = a.w - INTERVAL 7 DAY
  GROUP BY a.w)
SELECT * FROM sales JOIN cust USING (w) ORDER BY w
) TO '{out}' (FORMAT parquet)
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=305000, help="simulated people (610000 gives about 100M lines)")
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--work", default=os.path.join(ROOT, "bench", "out"))
    ap.add_argument("--unico", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "unico"))
    args = ap.parse_args()

    data = os.path.join(args.work, f"features-{args.customers}-{args.days}-{args.seed}")
    if not os.path.exists(os.path.join(data, "lake", "receipt_lines")):
        shutil.rmtree(data, ignore_errors=True)
        os.makedirs(args.work, exist_ok=True)
        print(f"generating {data} straight into the lake ...", flush=True)
        chain = os.path.join(args.work, f"chain-{args.customers}-{args.days}-{args.seed}")
        measure.run([args.unico, "--data", data, "generate", "--customers", str(args.customers), "--days",
                     str(args.days), "--seed", str(args.seed), "--out", chain, "--into-lake"])
    lake = os.path.join(data, "lake")

    def warm():
        for root, _, files in os.walk(lake):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    while f.read(1 << 24):
                        pass

    import duckdb
    con = duckdb.connect()
    first_day, last_day, lines = con.execute(
        f"SELECT min(local_date), max(local_date), count(*) FROM read_parquet('{lake}/receipt_lines/*/*.parquet')").fetchone()
    # Whole weeks from the first Monday on or after the first day: both tools see whole weeks.
    first = con.execute(f"SELECT date_trunc('week', DATE '{first_day}' + INTERVAL 6 DAY)").fetchone()[0]
    first, to = str(first)[:10], str(last_day)[:10]

    warm()
    out = os.path.join(args.work, "kpi.json")
    t_unico, m_unico = measure.run([args.unico, "--data", data, "kpi", "--by", "week", "--from", first, "--to", to,
                                    "--format", "json", "--out", out])
    with open(out) as f:
        report = json.load(f)

    target = os.path.join(args.work, "duckdb-kpi.parquet")
    tmp = os.path.join(args.work, "duckdb-tmp")
    setup = f"SET preserve_insertion_order = false; SET temp_directory = '{tmp}';"
    query = SQL.format(lake=lake, first=first, to=to, out=target)
    script = f"import duckdb; con = duckdb.connect(); con.execute({setup!r}); con.execute({query!r})"
    warm()
    t_duck, m_duck = measure.run([sys.executable, "-c", script])
    shutil.rmtree(tmp, ignore_errors=True)

    # The same figures, week by week.
    duck = {str(r[0])[:10]: r for r in con.execute(f"SELECT * FROM read_parquet('{target}')").fetchall()}
    cols = [d[0] for d in con.execute(f"SELECT * FROM read_parquet('{target}') LIMIT 0").description]
    checks = {
        "receipts_card": "receipts_card", "receipts_no_card": "receipts_no_card",
        "revenue_card_cents": "revenue_card", "revenue_no_card_cents": "revenue_no_card",
        "discount_cents": "discount", "active_customers": "active", "new_customers": "new",
    }
    bad = 0
    for row in report["rows"]:
        d = duck.get(row["period_start"])
        if d is None:
            print(f"week {row['period_start']}: missing in DuckDB's result")
            bad += 1
            continue
        for ours, theirs in checks.items():
            if row[ours] != (d[cols.index(theirs)] or 0):
                print(f"week {row['period_start']} {ours}: unico {row[ours]} vs DuckDB {d[cols.index(theirs)]}")
                bad += 1
        import datetime
        prev = duck.get(str(datetime.date.fromisoformat(row["period_start"]) - datetime.timedelta(days=7)))
        if prev is not None:
            rate = d[cols.index("retained")] / prev[cols.index("active")]
            if row["retention_rate"] is None or abs(row["retention_rate"] - rate) > 1e-12:
                print(f"week {row['period_start']} retention_rate: unico {row['retention_rate']} vs DuckDB {rate}")
                bad += 1
        margin = (d[cols.index("costed_card")] or 0) - (d[cols.index("cost_card")] or 0)
        if abs(row["margin_card_cents"] - margin) > 0:
            print(f"week {row['period_start']} margin_card_cents: unico {row['margin_card_cents']} vs DuckDB {margin}")
            bad += 1
    weeks = len(report["rows"])
    print(f"\n{lines:,} receipt lines in the lake, {weeks} weeks from {first} to {to}; "
          f"{'every weekly figure agrees' if bad == 0 else f'{bad} differences'}")
    print("| KPIs by week | Unico (s) | DuckDB (s) | ratio (DuckDB / Unico) | peak MiB Unico / DuckDB |")
    print("|---|---:|---:|---:|---:|")
    print(f"| sales, card vs no card, margin, active/new/retained customers | {t_unico:.2f} | {t_duck:.2f} | "
          f"{t_duck / t_unico:.2f}× | {m_unico:,.0f} / {m_duck:,.0f} |")
    print(f"(DuckDB {duckdb.__version__}; Unico's lake pass alone: {report['seconds']:.2f} s)")
    if bad:
        sys.exit(1)


if __name__ == "__main__":
    main()
