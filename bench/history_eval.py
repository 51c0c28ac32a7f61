#!/usr/bin/env python3
"""The redemption model on the simulator's promotion history, against the planted truth.

Generates a chain that ran its own campaigns (`unico generate --history`), imports it, runs
`unico learn --history --evaluate --json` (fitted on the campaigns over before the latest,
tested on it) and prints the model's ROC-AUC and Brier score beside the two baselines and
the planted probability's own AUC on the same test rows (the ceiling: it knows who shops
in the window), with the calibration error and the time of each step.

    cargo build --release && python3 bench/history_eval.py --customers 10000 --seed 42
"""
import argparse, csv, json, os, subprocess, sys, tempfile, time


def auc(scores, labels):
    pairs = sorted(zip(scores, labels))
    pos = sum(labels)
    neg = len(labels) - pos
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j + 1 < len(pairs) and pairs[j + 1][0] == pairs[i][0]:
            j += 1
        mid = (i + j) / 2 + 1
        rank_sum += sum(1 for t in range(i, j + 1) if pairs[t][1]) * mid
        i = j + 1
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    exe = os.path.join(target, "release", "unico")
    with tempfile.TemporaryDirectory() as tmp:
        chain, data = os.path.join(tmp, "chain"), os.path.join(tmp, "data")
        run = lambda *a: subprocess.run([exe, *a], check=True, capture_output=True, text=True).stdout
        t = time.perf_counter()
        run("generate", "--customers", str(args.customers), "--seed", str(args.seed), "--history", "--out", chain)
        generated = time.perf_counter() - t
        run("init", "--data", data)
        t = time.perf_counter()
        for dataset, f in [("stores", "stores"), ("products", "products"), ("receipts", "receipts"),
                           ("campaigns", "campaigns"), ("coupons", "coupons"), ("coupon-products", "coupon_products"),
                           ("campaign-members", "campaign_members"), ("redemptions", "redemptions")]:
            run("--data", data, "import", dataset, os.path.join(chain, f + ".csv"))
        imported = time.perf_counter() - t
        t = time.perf_counter()
        e = json.loads(run("--data", data, "learn", "--history", "--evaluate", "--json"))
        evaluated = time.perf_counter() - t
        test = set(e["test_campaigns"])
        truth = [r for r in csv.DictReader(open(os.path.join(chain, "truth/history_response.csv"))) if r["campaign_id"] in test]
        planted = auc([float(r["p_redeem"]) for r in truth], [r["redeemed"] == "1" for r in truth])
    print(f"{args.customers} people, seed {args.seed}: trained on {len(e['train_campaigns'])} campaigns "
          f"({e['train_rows']} rows), tested on {', '.join(e['test_campaigns'])} ({e['test_rows']} rows, "
          f"{e['test_redeemed']} redeemed)")
    for s in e["scores"]:
        brier = f"{s['brier']:.4f}" if s["brier"] is not None else "-"
        print(f"  {s['name']:<22} AUC {s['auc']:.3f}  Brier {brier}")
    print(f"  {'planted probability':<22} AUC {planted:.3f}  (the ceiling: knows who shops in the window)")
    print(f"  calibration error {e['calibration_error']:.3f}")
    print(f"  generate {generated:.1f} s, import {imported:.1f} s, learn --history --evaluate {evaluated:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
