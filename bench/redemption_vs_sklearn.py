#!/usr/bin/env python3
"""The redemption model's fit against scikit-learn's LogisticRegression on the same rows.

Unico's example draws N rows from a planted logistic model and writes them; scikit-learn
fits the same objective (standardised features, L2 with C = 1 / (lambda * N), lbfgs) on
them. Both times, peak memories and the largest difference between the two sets of weights
are printed, with the ratio.

    pip install -r bench/requirements-sklearn.txt
    CARGO_TARGET_DIR=... python3 bench/redemption_vs_sklearn.py --rows 10000000
"""
import argparse, os, resource, subprocess, sys, tempfile, time

import numpy as np

LAMBDA = 1e-3
NF = 13


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "unico-model", "--example", "redemption_fit"], cwd=root, check=True)
    exe = os.path.join(target, "release", "examples", "redemption_fit")
    with tempfile.TemporaryDirectory() as tmp:
        rows = os.path.join(tmp, "rows.bin")
        out = subprocess.run([exe, str(args.rows), rows], check=True, capture_output=True, text=True).stdout
        print("unico:", out.strip())
        unico_fit = float(out.split("fitted in ")[1].split(" s")[0])
        unico_weights = np.array(eval(out.split("standardised features: ")[1].split("\n")[0]))
        n = args.rows
        raw = np.fromfile(rows, dtype="<f8", count=n * NF).reshape(n, NF)
        y = np.fromfile(rows, dtype=np.uint8, offset=n * NF * 8).astype(bool)
    from sklearn.linear_model import LogisticRegression
    start = time.perf_counter()
    mean, std = raw.mean(axis=0), raw.std(axis=0)
    z = (raw - mean) / std
    model = LogisticRegression(C=1.0 / (LAMBDA * n), solver="lbfgs", max_iter=500, tol=1e-8)
    model.fit(z, y)
    sk_fit = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    diff = np.abs(model.coef_[0] - unico_weights).max()
    print(f"scikit-learn: standardised and fitted in {sk_fit:.2f} s, peak memory {peak:.0f} MiB (holding the rows)")
    print(f"largest difference between the weights: {diff:.4f}; scikit-learn time / Unico time = {sk_fit / unico_fit:.2f}")


if __name__ == "__main__":
    sys.exit(main())
