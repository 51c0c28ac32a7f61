"""Fit BG/NBD and Gamma-Gamma with the `lifetimes` package on a summary CSV and score every
customer, as a user of lifetimes would; writes scores CSV and prints parameters as JSON.

usage: lifetimes_fit.py SUMMARY.csv HORIZON CLV_FREQ OUT.csv
"""
import json
import sys
import time

import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter

path, horizon, clv_freq, out = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
t0 = time.monotonic()
df = pd.read_csv(path)
t1 = time.monotonic()
bgf = BetaGeoFitter(penalizer_coef=0.0)
bgf.fit(df["frequency"], df["recency"], df["T"])
repeat = df[(df["frequency"] > 0) & (df["monetary_value"] > 0)]
ggf = GammaGammaFitter(penalizer_coef=0.0)
ggf.fit(repeat["frequency"], repeat["monetary_value"])
t2 = time.monotonic()
scores = pd.DataFrame({"customer_id": df["customer_id"]})
scores["p_alive"] = bgf.conditional_probability_alive(df["frequency"], df["recency"], df["T"])
scores["expected_purchases"] = bgf.conditional_expected_number_of_purchases_up_to_time(
    horizon, df["frequency"], df["recency"], df["T"]
)
scores["expected_spend"] = ggf.conditional_expected_average_profit(df["frequency"], df["monetary_value"])
scores["clv"] = ggf.customer_lifetime_value(
    bgf, df["frequency"], df["recency"], df["T"], df["monetary_value"], time=12, discount_rate=0.01, freq=clv_freq
).values
t3 = time.monotonic()
scores.to_csv(out, index=False)
p = bgf.params_
g = ggf.params_
print(json.dumps({
    "bgnbd": {"r": p["r"], "alpha": p["alpha"], "a": p["a"], "b": p["b"]},
    "gamma_gamma": {"p": g["p"], "q": g["q"], "gamma": g["v"]},
    "seconds": {"read": t1 - t0, "fit": t2 - t1, "score": t3 - t2},
}))
