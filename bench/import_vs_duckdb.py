#!/usr/bin/env python3
"""Benchmark: `unico import receipts` against DuckDB's read_csv -> Parquet on the same file.

Generates a chain with the simulator (cached), then in one run:
  1. unico import receipts FILE  (mapping, validation, pseudonymisation, month partitions,
     dedupe against the lake, atomic publish) into a fresh data directory;
  2. DuckDB: COPY (SELECT * FROM read_csv(FILE)) TO 'out.parquet' (FORMAT parquet);
and prints lines/s, peak memory and the ratio of times.

    cargo build --release && python3 bench/import_vs_duckdb.py --customers 61000
"""
import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(__file__))
import measure  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=61000, help="simulated people (61000 gives about 10M lines)")
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--work", default=os.path.join(ROOT, "bench", "out"))
    ap.add_argument("--unico", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "unico"))
    args = ap.parse_args()

    chain = os.path.join(args.work, f"chain-{args.customers}-{args.days}-{args.seed}")
    receipts = os.path.join(chain, "receipts.csv")
    if not os.path.exists(receipts):
        os.makedirs(args.work, exist_ok=True)
        print(f"generating {chain} ...", flush=True)
        measure.run([args.unico, "generate", "--customers", str(args.customers), "--days", str(args.days),
                     "--seed", str(args.seed), "--out", chain])
    with open(receipts, "rb") as f:
        lines = sum(1 for _ in f) - 1
    size_mib = os.path.getsize(receipts) / 2**20

    data = os.path.join(args.work, "unico-data")
    shutil.rmtree(data, ignore_errors=True)
    measure.run([args.unico, "--data", data, "init"])
    t_unico, m_unico = measure.run([args.unico, "--data", data, "import", "receipts", receipts])

    duck_out = os.path.join(args.work, "duckdb.parquet")
    if os.path.exists(duck_out):
        os.remove(duck_out)
    script = ("import duckdb; duckdb.sql(\"COPY (SELECT * FROM read_csv('%s')) TO '%s' (FORMAT parquet)\")"
              % (receipts, duck_out))
    t_duck, m_duck = measure.run([sys.executable, "-c", script])
    import duckdb  # only for the version
    print()
    print(f"file: {lines:,} receipt lines, {size_mib:,.0f} MiB CSV; machine: {os.cpu_count()} cores")
    print(f"| tool | time (s) | lines/s | peak memory (MiB) |")
    print(f"|---|---:|---:|---:|")
    print(f"| unico import receipts | {t_unico:.2f} | {lines / t_unico:,.0f} | {m_unico:,.0f} |")
    print(f"| DuckDB {duckdb.__version__} read_csv -> Parquet | {t_duck:.2f} | {lines / t_duck:,.0f} | {m_duck:,.0f} |")
    print(f"ratio unico/DuckDB time: {t_unico / t_duck:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
