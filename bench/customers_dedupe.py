#!/usr/bin/env python3
"""Benchmark: import and dedupe of a customer master; precision and recall of duplicates.

Generates a chain with the simulator (cached; --days 1 keeps receipts small: only the
customer master matters here), then in one run:
  1. unico import customers (99 % of the file) --no-dedupe  (normalisation, sealing, keyed
     lookups, one transaction)
  2. unico customers merge                             (duplicate detection and merging at
     the default threshold: everything is new, so every registration is compared)
  3. unico import customers (the last 1 %), then unico customers merge: an incremental run,
     only the new registrations compared with the rest of their blocks
  4. unico customers cards                             (card -> customer after merging)
and compares the merged cards with the simulator's truth/duplicates.csv.

    cargo build --release && python3 bench/customers_dedupe.py --people 1290000
    # on PostgreSQL: an empty database
    createdb unico_bench && python3 bench/customers_dedupe.py --people 1290000 \
        --database-url postgres://unico:unico@localhost/unico_bench
"""
import argparse
import csv
import io
import os
import shutil
import subprocess
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(__file__))
import measure  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", type=int, default=1290000, help="simulated people (78%% are members: 1.29M gives ~1M records)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--work", default=os.path.join(ROOT, "bench", "out"))
    ap.add_argument("--database-url", help="a PostgreSQL database (empty) instead of the embedded SQLite store")
    ap.add_argument("--unico", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "unico"))
    args = ap.parse_args()

    chain = os.path.join(args.work, f"people-{args.people}-{args.seed}")
    customers = os.path.join(chain, "customers.csv")
    if not os.path.exists(customers):
        os.makedirs(args.work, exist_ok=True)
        print(f"generating {chain} ...", flush=True)
        measure.run([args.unico, "generate", "--customers", str(args.people), "--days", "1", "--seed", str(args.seed), "--out", chain])
    with open(customers, encoding="utf-8") as f:
        records = sum(1 for _ in f) - 1

    data = os.path.join(args.work, "unico-customers")
    shutil.rmtree(data, ignore_errors=True)
    env = dict(os.environ)
    if args.database_url:
        env["UNICO_DATABASE_URL"] = args.database_url
    store = "PostgreSQL" if args.database_url else "SQLite"
    # 99 % first, the last 1 % later: the incremental run.
    with open(customers, encoding="utf-8") as f:
        header = f.readline()
        body = f.readlines()
    cut = len(body) * 99 // 100
    parts = []
    for name, rows in (("bulk.csv", body[:cut]), ("later.csv", body[cut:])):
        path = os.path.join(args.work, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(header)
            f.writelines(rows)
        parts.append(path)
    del body
    measure.run([args.unico, "--data", data, "init"], env=env)
    t_import, m_import, h_import = measure.run_heap([args.unico, "--data", data, "import", "customers", parts[0], "--no-dedupe"], env=env)
    merge_out = os.path.join(args.work, "merge.txt")
    with open(merge_out, "w") as f:
        t_merge, m_merge, h_merge = measure.run_heap([args.unico, "--data", data, "customers", "merge"], f, env=env)
    t_later, m_later, h_later = measure.run_heap([args.unico, "--data", data, "import", "customers", parts[1], "--no-dedupe"], env=env)
    with open(merge_out, "a") as f:
        t_incr, m_incr, h_incr = measure.run_heap([args.unico, "--data", data, "customers", "merge"], f, env=env)
    summaries = [l for l in open(merge_out, encoding="utf-8") if " merges (" in l]
    if args.database_url:
        size = subprocess.run(["psql", args.database_url, "-Atc", "SELECT pg_database_size(current_database())"],
                              capture_output=True, text=True, check=True).stdout.strip()
        size_mib = int(size) / 2**20
    else:
        size_mib = sum(os.path.getsize(os.path.join(data, f)) for f in os.listdir(data) if f.startswith("unico.db")) / 2**20
    out = subprocess.run([args.unico, "--data", data, "customers", "cards"], capture_output=True, text=True, check=True, env=env).stdout
    groups = defaultdict(set)
    for row in csv.DictReader(io.StringIO(out)):
        groups[row["customer_id"]].add(row["card"])
    predicted = set()
    for cards in groups.values():
        cards = sorted(cards)
        for i in range(len(cards)):
            for j in range(i + 1, len(cards)):
                predicted.add((cards[i], cards[j]))
    with open(os.path.join(chain, "truth", "duplicates.csv"), encoding="utf-8") as f:
        truth = {tuple(sorted((r["card_a"], r["card_b"]))) for r in csv.DictReader(f)}
    tp = len(predicted & truth)
    precision = tp / len(predicted) if predicted else 1.0
    recall = tp / len(truth) if truth else 1.0
    print()
    bulk = cut
    print(f"customer master: {records:,} records, {len(truth):,} people registered twice; store: {store}; machine: {os.cpu_count()} cores")
    print("| step | time (s) | records/s | peak RSS (MiB) | of which heap (MiB) |")
    print("|---|---:|---:|---:|---:|")
    print(f"| unico import customers --no-dedupe, {bulk:,} records (normalise, seal, store, one transaction) | {t_import:.1f} | {bulk / t_import:,.0f} | {m_import:,.0f} | {h_import:,.0f} |")
    print(f"| unico customers merge, every registration compared (block by block in the store) | {t_merge:.1f} | {bulk / t_merge:,.0f} | {m_merge:,.0f} | {h_merge:,.0f} |")
    print(f"| unico import customers --no-dedupe, {records - bulk:,} more | {t_later:.1f} | {(records - bulk) / t_later:,.0f} | {m_later:,.0f} | {h_later:,.0f} |")
    print(f"| unico customers merge, incremental (the new ones against their blocks) | {t_incr:.1f} | {(records - bulk) / t_incr:,.0f} | {m_incr:,.0f} | {h_incr:,.0f} |")
    print(f"store size: {size_mib:,.0f} MiB ({size_mib * 2**20 / records:,.0f} bytes a registration)")
    for l in summaries:
        print("merge run:", l.strip())
    print(f"duplicates: {len(predicted):,} pairs merged, {tp:,} true -> precision {precision:.4f}, recall {recall:.4f}")


if __name__ == "__main__":
    main()
