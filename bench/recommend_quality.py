"""Benchmark: recommendation quality on a time split, Unico vs three baselines, in one run.

A chain is simulated (default 20,000 people over 540 days) and imported. Everything up to
13 weeks before the end is training; the following 13 weeks are the test. Every method
recommends 10 products per customer from the training data only, and precision@10 is the
share of those products the customer really bought in the test weeks, averaged over the
customers who were seen in training and bought something in the test weeks.

Methods:
- unico: `unico recommend --k 10` (due repurchases + item-item, see docs/model.md);
- popularity: the 10 products bought by the most customers;
- own_top: each customer's 10 most frequently bought products (ties: popularity);
- als: `implicit` 0.7 AlternatingLeastSquares (64 factors, 15 iterations, BM25-weighted
  purchase-day counts), the usual implicit-feedback recommender.
Each is measured twice: all products, and `--exclude-purchased` (only products the customer
never bought in training; own_top has none by definition and is reported as 0).

usage: cargo build --release && python3 bench/recommend_quality.py [--customers N] [--days D]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path.home() / ".cache" / "unico" / "implicit-venv"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache" / "unico" / "target"))
UNICO = TARGET / "release" / "unico"
if not UNICO.exists():
    UNICO = ROOT / "target" / "release" / "unico"
START = date(2025, 1, 1)
K = 10


def ensure_venv():
    """Re-runs this script with the virtual environment's Python (creating it once)."""
    py = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "-r", str(ROOT / "bench" / "requirements-implicit.txt")], check=True)
    os.execv(str(py), [str(py), *sys.argv])


def unico(*args):
    subprocess.run([str(UNICO), *map(str, args)], check=True, stdout=subprocess.DEVNULL)


def precision(recs, truth):
    """Mean precision@K over the customers in `truth` (a dict key -> set of skus)."""
    total = 0.0
    for key, bought in truth.items():
        got = recs.get(key, [])[:K]
        total += sum(1 for s in got if s in bought) / K
    return total / len(truth)


def main():
    ensure_venv()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit's advice; before numpy loads
    import duckdb
    import numpy as np
    import scipy.sparse as sp
    from implicit.als import AlternatingLeastSquares
    from implicit.nearest_neighbours import bm25_weight

    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=20000)
    ap.add_argument("--days", type=int, default=540)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--shoppers", choices=["basic", "rich"], default="basic",
                    help="the simulator's shoppers (docs/simulator.md)")
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="unico-rec-"))
    src, data = work / "chain", work / "data"
    if not (data / "lake").exists():
        unico("generate", "--customers", args.customers, "--days", args.days, "--seed", args.seed,
              "--shoppers", args.shoppers, "--out", src)
        unico("--data", data, "init")
        for what in ["stores", "products", "receipts"]:
            unico("--data", data, "import", what, src / f"{what}.csv")
    end = START + timedelta(days=args.days - 1)
    as_of = end - timedelta(days=91)
    lines = f"read_parquet('{data}/lake/receipt_lines/*/*.parquet')"
    con = duckdb.connect()
    train = con.execute(
        f"""select customer_key, sku, count(distinct local_date) as n from {lines}
            where customer_key is not null and local_date <= DATE '{as_of}' group by all"""
    ).fetchall()
    test = con.execute(
        f"""select distinct customer_key, sku from {lines}
            where customer_key is not null and local_date > DATE '{as_of}' and local_date <= DATE '{end}'"""
    ).fetchall()
    seen = {k for k, _, _ in train}
    truth = {}
    for k, s in test:
        if k in seen:
            truth.setdefault(k, set()).add(s)
    owned = {}
    for k, s, n in train:
        owned.setdefault(k, {})[s] = n
    n_lines = con.execute(f"select count(*) from {lines} where customer_key is not null").fetchone()[0]

    results = {"shoppers": args.shoppers, "customers_evaluated": len(truth), "card_lines": n_lines, "as_of": str(as_of), "test_days": 91}
    timings = {}

    # Unico.
    for exclude in [False, True]:
        out = work / f"unico{'-new' if exclude else ''}.csv"
        t = time.monotonic()
        unico("--data", data, "recommend", "--as-of", as_of, "--k", K, "--by-key", "--out", out,
              *(["--exclude-purchased"] if exclude else []))
        timings[f"unico{'_new' if exclude else ''}_s"] = round(time.monotonic() - t, 2)
        recs = {}
        with open(out) as f:
            next(f)
            for line in f:
                key, _, sku, _ = line.split(",", 3)
                recs.setdefault(key, []).append(sku)
        results[f"unico{'_exclude_purchased' if exclude else ''}"] = precision(recs, truth)

    # Popularity and own-top.
    customers_of = {}
    for k, s, n in train:
        customers_of[s] = customers_of.get(s, 0) + 1
    popular = sorted(customers_of, key=lambda s: (-customers_of[s], s))
    results["popularity"] = precision({k: popular[:K] for k in truth}, truth)
    results["popularity_exclude_purchased"] = precision(
        {k: [s for s in popular if s not in owned.get(k, {})][:K] for k in truth}, truth)
    results["own_top"] = precision(
        {k: sorted(owned.get(k, {}), key=lambda s: (-owned[k][s], -customers_of[s], s))[:K] for k in truth}, truth)
    results["own_top_exclude_purchased"] = 0.0

    # implicit ALS.
    users = sorted(seen)
    items = sorted(customers_of)
    ui, ii = {u: i for i, u in enumerate(users)}, {s: i for i, s in enumerate(items)}
    rows = np.array([ui[k] for k, _, _ in train])
    cols = np.array([ii[s] for _, s, _ in train])
    vals = np.array([float(n) for _, _, n in train])
    matrix = sp.csr_matrix((vals, (rows, cols)), shape=(len(users), len(items)))
    weighted = bm25_weight(matrix, K1=100, B=0.8).tocsr()
    t = time.monotonic()
    als = AlternatingLeastSquares(factors=64, iterations=15, regularization=0.05, random_state=args.seed)
    als.fit(weighted, show_progress=False)
    timings["als_fit_s"] = round(time.monotonic() - t, 2)
    idx = np.array([ui[k] for k in truth])
    for exclude in [False, True]:
        t = time.monotonic()
        ids, _ = als.recommend(idx, weighted[idx], N=K, filter_already_liked_items=exclude)
        timings[f"als{'_new' if exclude else ''}_recommend_s"] = round(time.monotonic() - t, 2)
        recs = {k: [items[j] for j in ids[n] if j >= 0] for n, k in enumerate(truth)}
        results[f"als{'_exclude_purchased' if exclude else ''}"] = precision(recs, truth)

    results = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in results.items()}
    results["seconds"] = timings
    results["work"] = str(work)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
