"""Fit BG/NBD and Gamma-Gamma with the `unico` Python package on a summary CSV and score every
customer, as an analyst in a notebook would; same arguments and output as lifetimes_fit.py.

usage: unico_py_fit.py SUMMARY.csv HORIZON CLV_FREQ OUT.csv   (CLV_FREQ: D = days, W = weeks)
"""
import json
import sys
import time

import pandas as pd

import unico

path, horizon, clv_freq, out = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
unit = "weeks" if clv_freq == "W" else "days"
t0 = time.monotonic()
df = pd.read_csv(path)
t1 = time.monotonic()
bg = unico.fit_bgnbd(df, unit=unit)
gg = unico.fit_gamma_gamma(df)
t2 = time.monotonic()
horizon_days = round(horizon * (7 if unit == "weeks" else 1))
s = unico.score(df, bg, gg, horizon_days=horizon_days, clv_months=12, monthly_discount=0.01)
scores = pd.DataFrame({
    "customer_id": df["customer_id"],
    "p_alive": s["p_alive"],
    "expected_purchases": s[f"expected_purchases_{horizon_days}_days"],
    "expected_spend": s["expected_spend"],
    "clv": s["clv_12_months"],
})
t3 = time.monotonic()
scores.to_csv(out, index=False)
print(json.dumps({
    "customers": len(df),
    "bgnbd": {"r": bg.r, "alpha": bg.alpha, "a": bg.a, "b": bg.b},
    "gamma_gamma": {"p": gg.p, "q": gg.q, "gamma": gg.gamma},
    "seconds": {"read": t1 - t0, "fit": t2 - t1, "score": t3 - t2},
}))
