#!/usr/bin/env python3
"""Benchmark: import and dedupe of a customer master; precision and recall of duplicates.

Generates a chain with the simulator (cached; --days 1 keeps receipts small: only the
customer master matters here), then in one run:
  1. unico import customers customers.csv --no-dedupe  (normalisation, sealing, keyed
     lookups, SQLite, one transaction)
  2. unico customers merge                             (duplicate detection and merging at
     the default threshold)
  3. unico customers cards                             (card -> customer after merging)
and compares the merged cards with the simulator's truth/duplicates.csv.

    cargo build --release && python3 bench/customers_dedupe.py --people 1290000
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
    measure.run([args.unico, "--data", data, "init"])
    t_import, m_import = measure.run([args.unico, "--data", data, "import", "customers", customers, "--no-dedupe"])
    t_merge, m_merge = measure.run([args.unico, "--data", data, "customers", "merge"])
    out = subprocess.run([args.unico, "--data", data, "customers", "cards"], capture_output=True, text=True, check=True).stdout
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
    print(f"customer master: {records:,} records, {len(truth):,} people registered twice; machine: {os.cpu_count()} cores")
    print("| step | time (s) | records/s | peak memory (MiB) |")
    print("|---|---:|---:|---:|")
    print(f"| unico import customers --no-dedupe (normalise, seal, store in SQLite, one transaction) | {t_import:.1f} | {records / t_import:,.0f} | {m_import:,.0f} |")
    print(f"| unico customers merge (block, decrypt candidates, score, merge) | {t_merge:.1f} | {records / t_merge:,.0f} | {m_merge:,.0f} |")
    print(f"| both | {t_import + t_merge:.1f} | {records / (t_import + t_merge):,.0f} | {max(m_import, m_merge):,.0f} |")
    print(f"duplicates: {len(predicted):,} pairs merged, {tp:,} true -> precision {precision:.4f}, recall {recall:.4f}")


if __name__ == "__main__":
    main()
