"""Benchmark: BG/NBD + Gamma-Gamma fit and per-customer scoring (P(alive), expected
purchases, expected spend, 12-month CLV), Unico vs the `lifetimes` Python package, side by
side in one run, on the same summary files:

1. the CDNOW sample (2,357 customers, weeks) and the full CDNOW master (23,570, weeks),
   from ../shared/data/cdnow, calibration to 1997-09-30 as in the papers;
2. N simulated customers (default 1,000,000) drawn from a BG/NBD and Gamma-Gamma with
   known parameters over two years, in days, so both tools can also be checked against the
   planted truth.

Reports each tool's parameters, the largest relative difference between them, the largest
difference of per-customer scores, wall time and peak memory, and the speed ratio.

usage: cargo build --release && python3 bench/clv_vs_lifetimes.py [--customers N]
       python3 bench/clv_vs_lifetimes.py --python-package [PYTHON]   (the `unico` Python package instead
       of the CLI, on the simulated customers; PYTHON defaults to ~/.cache/unico/py-venv/bin/python)
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import measure  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CDNOW = ROOT.parent / "shared" / "data" / "cdnow"
VENV = Path.home() / ".cache" / "unico" / "lifetimes-venv"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache" / "unico" / "target"))
UNICO = TARGET / "release" / "unico"
if not UNICO.exists():
    UNICO = ROOT / "target" / "release" / "unico"


def venv_python():
    py = VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "-r", str(ROOT / "bench" / "requirements-lifetimes.txt")], check=True)
    return str(py)


def cdnow_summary(path, sample, out):
    """The papers' calibration summary: transactions = purchase days, weeks, to 1997-09-30."""
    end = date(1997, 9, 30)
    by = defaultdict(lambda: defaultdict(float))
    with open(path) as f:
        for i, line in enumerate(f):
            parts = line.split()
            if not parts or (not sample and i == 0):
                continue
            cid, d, v = (parts[0], parts[2], parts[4]) if sample else (parts[0], parts[1], parts[3])
            day = date(int(d[:4]), int(d[4:6]), int(d[6:8]))
            if day <= end:
                by[cid][day] += float(v)
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["customer_id", "frequency", "recency", "T", "monetary_value"])
        for cid, days in by.items():
            ds = sorted(days)
            x = len(ds) - 1
            m = sum(days[d] for d in ds[1:]) / x if x else 0.0
            w.writerow([cid, x, (ds[-1] - ds[0]).days / 7, (end - ds[0]).days / 7, round(m, 6)])
    return len(by)


def simulated_summary(n, out, seed=7):
    """n customers from a BG/NBD (r, alpha in days, a, b) with Gamma-Gamma spend, 730 days."""
    import numpy as np
    truth = {"r": 0.6, "alpha": 15.0, "a": 0.8, "b": 4.0, "p": 3.0, "q": 4.0, "gamma": 60.0}
    rng = np.random.default_rng(seed)
    horizon = 730
    first = rng.integers(0, horizon, n)
    T = horizon - first
    lam = rng.gamma(truth["r"], 1 / truth["alpha"], n)
    p = rng.beta(truth["a"], truth["b"], n)
    nu = rng.gamma(truth["q"], 1 / truth["gamma"], n)
    freq = np.zeros(n, dtype=np.int64)
    t = np.zeros(n)
    last = np.zeros(n)
    total = np.zeros(n)
    active = np.ones(n, dtype=bool)
    # All customers step purchase by purchase together: drop out after a purchase with
    # probability p, else wait an exponential time; stop at the end of observation.
    while active.any():
        idx = np.nonzero(active)[0]
        drop = (freq[idx] > 0) & (rng.random(idx.size) < p[idx])
        active[idx[drop]] = False
        idx = idx[~drop]
        t[idx] += rng.exponential(1 / lam[idx])
        over = t[idx] > T[idx]
        active[idx[over]] = False
        idx = idx[~over]
        freq[idx] += 1
        last[idx] = t[idx]
        total[idx] += rng.gamma(truth["p"], 1 / nu[idx])
    # Whole days, as a daily lake gives them.
    rec = np.floor(last)
    money = np.where(freq > 0, total / np.maximum(freq, 1), 0.0)
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["customer_id", "frequency", "recency", "T", "monetary_value"])
        for i in range(n):
            w.writerow([i, freq[i], rec[i], float(T[i]), round(money[i], 4)])
    return truth


def compare_scores(a_path, b_path, keys):
    """Largest relative difference per score; rows are in the summary file's order in both."""
    worst = {}
    with open(a_path) as fa, open(b_path) as fb:
        for ra, rb in zip(csv.DictReader(fa), csv.DictReader(fb), strict=True):
            for k in keys:
                x, y = float(ra[k]), float(rb[k])
                d = abs(x - y) / max(abs(y), 1e-9) if abs(y) > 1e-6 else abs(x - y)
                worst[k] = max(worst.get(k, 0.0), d)
    return worst


def run_case(name, summary, horizon, clv_freq, unit, py, tmp, truth=None, ours_python=None):
    """Unico (the CLI, or the Python package when `ours_python` names an interpreter that has
    it) vs lifetimes on one summary file."""
    ours_out, theirs_out = tmp / f"{name}-unico.csv", tmp / f"{name}-lifetimes.csv"
    ours_json, theirs_json = tmp / f"{name}-unico.json", tmp / f"{name}-lifetimes.json"
    if ours_python:
        ours_cmd = [ours_python, str(ROOT / "bench" / "unico_py_fit.py"), str(summary), str(horizon), clv_freq,
                    str(ours_out)]
    else:
        ours_cmd = [str(UNICO), "model", "fit-summary", str(summary), "--unit", unit, "--horizon", str(horizon),
                    "--out", str(ours_out)]
    with open(ours_json, "w") as f:
        t_ours, m_ours = measure.run_to(ours_cmd, f)
    with open(theirs_json, "w") as f:
        t_theirs, m_theirs = measure.run_to([py, str(ROOT / "bench" / "lifetimes_fit.py"), str(summary), str(horizon),
                                             clv_freq, str(theirs_out)], f)
    ours, theirs = json.load(open(ours_json)), json.load(open(theirs_json))
    print(f"\n== {name}: {ours['customers']:,} customers, unit {unit}")
    print(f"{'param':<8} {'unico':>12} {'lifetimes':>12} {'rel diff':>10}" + (f" {'truth':>8}" if truth else ""))
    worst_param = 0.0
    for model, keys in (("bgnbd", ("r", "alpha", "a", "b")), ("gamma_gamma", ("p", "q", "gamma"))):
        for k in keys:
            u, l = ours[model][k], theirs[model][k]
            rel = abs(u - l) / abs(l)
            worst_param = max(worst_param, rel)
            t = f" {truth[k]:>8}" if truth else ""
            print(f"{k:<8} {u:>12.5f} {l:>12.5f} {rel:>10.2e}{t}")
    # lifetimes' weekly CLV steps months of 4.345 weeks, Unico's of 30 days: compare CLV on days.
    keys = ("p_alive", "expected_purchases", "expected_spend") + (("clv",) if unit == "days" else ())
    scores = compare_scores(ours_out, theirs_out, keys)
    print("largest per-customer relative difference: " + ", ".join(f"{k} {v:.1e}" for k, v in scores.items()))
    print(f"unico     {t_ours:8.2f} s  peak {m_ours:8.0f} MiB  (fit {ours['seconds']['fit']:.2f} s, score {ours['seconds']['score']:.2f} s)")
    print(f"lifetimes {t_theirs:8.2f} s  peak {m_theirs:8.0f} MiB  (fit {theirs['seconds']['fit']:.2f} s, score {theirs['seconds']['score']:.2f} s)")
    print(f"unico is {t_theirs / t_ours:.1f}x faster end to end (fit {theirs['seconds']['fit'] / max(ours['seconds']['fit'], 1e-9):.1f}x, "
          f"score {theirs['seconds']['score'] / max(ours['seconds']['score'], 1e-9):.1f}x); parameters agree to {worst_param:.1e}")
    return worst_param


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--python-package", metavar="PYTHON", nargs="?", const=str(Path.home() / ".cache" / "unico" / "py-venv" / "bin" / "python"),
                    help="run Unico's Python package (installed in PYTHON's environment, docs/scale-out.md) instead of the CLI, on the simulated customers only")
    args = ap.parse_args()
    py = venv_python()
    if args.python_package:
        with tempfile.TemporaryDirectory() as t:
            sim = Path(t) / "simulated.csv"
            print(f"drawing {args.customers:,} simulated customers ...", flush=True)
            truth = simulated_summary_fast(args.customers, sim, py)
            run_case(f"{args.customers:,} simulated customers, the unico Python package", sim, 30, "D", "days", py,
                     Path(t), truth, ours_python=args.python_package)
        return
    if not UNICO.exists():
        sys.exit("build first: cargo build --release")
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        s = tmp / "cdnow-sample.csv"
        cdnow_summary(CDNOW / "CDNOW_sample.txt", True, s)
        run_case("CDNOW sample", s, 39, "W", "weeks", py, tmp)
        m = tmp / "cdnow-master.csv"
        cdnow_summary(CDNOW / "CDNOW_master.txt", False, m)
        run_case("CDNOW master", m, 39, "W", "weeks", py, tmp)
        sim = tmp / "simulated.csv"
        print(f"\ndrawing {args.customers:,} simulated customers ...", flush=True)
        truth = simulated_summary_fast(args.customers, sim, py)
        run_case(f"{args.customers:,} simulated customers", sim, 30, "D", "days", py, tmp, truth)


def simulated_summary_fast(n, out, py):
    """Draws the simulated customers in the lifetimes venv (numpy is there)."""
    code = (f"import sys; sys.path.insert(0, {str(ROOT / 'bench')!r}); import clv_vs_lifetimes as c, json; "
            f"print(json.dumps(c.simulated_summary({n}, {str(out)!r})))")
    r = subprocess.run([py, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(r.stdout)


if __name__ == "__main__":
    main()
