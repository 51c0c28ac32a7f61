"""Tests of the `unico` Python package: the analyst's API against the published CDNOW fits
(Fader, Hardie & Lee 2005; the sample kept in crates/unico-model/tests/data/cdnow), and the
passes on batches sorted by customer. Run: `python -m pytest crates/unico-py/tests`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

import unico

CDNOW = Path(__file__).resolve().parents[2] / "unico-model" / "tests" / "data" / "cdnow" / "CDNOW_sample.txt"


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    tx = pd.read_csv(CDNOW, sep=r"\s+", header=None, names=["customer", "sample_id", "date", "quantity", "value"],
                     dtype={"customer": str, "date": str})
    tx["date"] = pd.to_datetime(tx["date"], format="%Y%m%d")
    return unico.summary(tx, customer_col="customer", observation_end="1997-09-30", unit="weeks")


def within(got: float, published: float, rel: float = 0.01) -> bool:
    return abs(got - published) / abs(published) <= rel


def test_the_summary_is_the_papers_sample(cdnow):
    assert len(cdnow) == 2357
    assert (cdnow["frequency"] > 0).sum() == 946
    assert (cdnow["recency"] <= cdnow["T"]).all() and cdnow["T"].max() <= 39.0


def test_summary_counts_days_not_transactions_and_leaves_out_the_first_day():
    tx = pd.DataFrame({
        "customer_key": ["a", "a", "a", "a", "b", "a"],
        "date": ["2025-01-01", "2025-01-01", "2025-01-08", "2025-01-15", "2025-01-10", "2025-03-01"],
        "value": [10.0, 5.0, 20.0, 30.0, 7.0, 99.0],
    })
    s = unico.summary(tx, observation_end="2025-01-31")
    a, b = s.loc["a"], s.loc["b"]
    assert (a["frequency"], a["recency"], a["T"], a["monetary_value"]) == (2, 14.0, 30.0, 25.0)
    assert (b["frequency"], b["recency"], b["T"], b["monetary_value"]) == (0, 0.0, 21.0, 0.0)


def test_bgnbd_reproduces_the_published_cdnow_fit(cdnow):
    m = unico.fit_bgnbd(cdnow, unit="weeks")
    for name, published in [("r", 0.243), ("alpha", 4.414), ("a", 0.793), ("b", 2.426)]:
        assert within(getattr(m, name), published), (name, getattr(m, name), published)
    assert abs(m.log_likelihood - -9582.4) < 0.1
    assert m.unit == "weeks"


def test_grouped_counts_fit_like_one_row_per_customer(cdnow):
    grouped = cdnow.groupby(["frequency", "recency", "T"]).size().rename("n").reset_index()
    # Shuffled: an engine's group-by hands the rows over in any order.
    grouped = grouped.sample(frac=1.0, random_state=7)
    assert unico.fit_bgnbd(grouped, unit="weeks", weights="n") == unico.fit_bgnbd(cdnow, unit="weeks")


def test_pareto_nbd_reproduces_the_published_cdnow_fit(cdnow):
    m = unico.fit_pareto_nbd(cdnow, unit="weeks")
    for name, published in [("r", 0.55), ("alpha", 10.58), ("s", 0.61), ("beta", 11.67)]:
        assert within(getattr(m, name), published), (name, getattr(m, name), published)
    p = m.predict(cdnow, 39.0)
    assert list(p.columns) == ["p_alive", "expected_purchases"]
    assert p["p_alive"].between(0, 1).all()


def test_gamma_gamma_and_scores(cdnow):
    g = unico.fit_gamma_gamma(cdnow)
    assert g.customers == 946
    for name, published in [("p", 6.25), ("q", 3.74), ("gamma", 15.44)]:
        assert within(getattr(g, name), published), (name, getattr(g, name), published)
    m = unico.fit_bgnbd(cdnow, unit="weeks")
    s = unico.score(cdnow, m, g, horizon_days=273)
    assert list(s.columns) == ["p_alive", "expected_purchases_273_days", "expected_spend", "clv_12_months"]
    assert (s.index == cdnow.index).all()
    # Hardie's note: x=2, t_x=30.43, T=38.86 weeks expects 1.226 purchases in the next 39 weeks.
    one = pd.DataFrame({"frequency": [2], "recency": [30.43], "T": [38.86], "monetary_value": [30.0]})
    assert abs(unico.score(one, m, g, horizon_days=273)["expected_purchases_273_days"][0] - 1.226) < 0.005
    # Anyone who never repeated spends the population mean p·γ/(q−1).
    never = pd.DataFrame({"frequency": [0], "recency": [0.0], "T": [30.0], "monetary_value": [0.0]})
    assert abs(unico.score(never, m, g)["expected_spend"][0] - g.p * g.gamma / (g.q - 1)) < 1e-9


def test_rfm_ranks_and_names_segments():
    f = pd.DataFrame({
        "recency_days": [1, 200, 3, 400, 5],
        "frequency": [20, 1, 15, 1, 2],
        "monetary_cents": [90_000, 500, 70_000, 300, 1_000],
    })
    s = unico.rfm(f)
    assert list(s.columns) == ["r_score", "f_score", "m_score", "segment"]
    assert s.loc[0, "segment"] == "champions"
    assert s.loc[3, "r_score"] == 1 and s.loc[3, "m_score"] == 1
    # Durable goods: the oldest purchase scores highest.
    assert unico.rfm(f, older_is_better=True).loc[3, "r_score"] == 5


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="missing column"):
        unico.fit_bgnbd(pd.DataFrame({"frequency": [1], "recency": [1.0]}))
    with pytest.raises(ValueError, match="not a count"):
        unico.fit_bgnbd(pd.DataFrame({"frequency": [1.5], "recency": [1.0], "T": [2.0]}))


def lines(rows):
    """Receipt lines (customer, receipt, day offset, net cents, store, sku) as the lake holds them."""
    base = pd.Timestamp("2025-03-01")
    days = [base + pd.Timedelta(days=r[2]) for r in rows]
    return pa.table({
        "local_date": pa.array([d.date() for d in days], pa.date32()),
        "customer_key": [r[0] for r in rows],
        "receipt_id": [r[1] for r in rows],
        "net_amount_cents": pa.array([r[3] for r in rows], pa.int64()),
        "discount_cents": pa.array([0] * len(rows), pa.int64()),
        "store_id": [r[4] for r in rows],
        "channel": ["store"] * len(rows),
        "ts": pa.array([d + pd.Timedelta(hours=9) for d in days], pa.timestamp("ns", tz="UTC")),
        "sku": [r[5] for r in rows],
    })


ROWS = [
    ("c1", "r1", 0, 300, "s1", "milk"), ("c1", "r1", 0, 200, "s1", "coffee"), ("c1", "r2", 7, 250, "s1", "milk"),
    ("c1", "r3", 14, 260, "s2", "milk"), ("c1", "r4", 21, 270, "s2", "milk"), ("c1", "r5", 28, 280, "s2", "milk"),
    ("c2", "r6", 3, 900, "s3", "coffee"), ("c2", "r7", 60, 100, "s3", "coffee"),
    ("c3", "r8", 1, 50, "s1", "milk"),
]


def test_profile_states_do_not_depend_on_the_batch_size():
    table = lines(ROWS)
    whole = pa.Table.from_batches(list(unico.profile_states(table.to_batches(), "2025-04-15", "Europe/Rome")))
    for size in (1, 2, 4):
        got = pa.Table.from_batches(
            list(unico.profile_states(table.to_batches(max_chunksize=size), "2025-04-15", "Europe/Rome")),
            schema=unico.state_schema(),
        )
        assert got.equals(whole), size
    rows = whole.to_pylist()
    assert [r["customer_key"] for r in rows] == ["c1", "c2", "c3"]
    c1 = rows[0]
    assert (c1["receipts"], c1["purchase_days"], c1["spend_cents"], c1["repeat_purchases"]) == (5, 5, 1560, 4)
    assert c1["preferred_store_id"] == "s2"
    assert c1["preferred_hour"] == 10  # 09:00 UTC is 10:00 in Rome in March
    # c2's second purchase (day 60) is after the as-of day.
    assert rows[1]["purchase_days"] == 1


def test_unsorted_lines_are_refused():
    table = lines([ROWS[6], ROWS[0]])
    with pytest.raises(ValueError, match="not sorted by customer_key"):
        list(unico.profile_states(table.to_batches(), "2025-04-15", "UTC"))


def test_habits_of_sorted_batches():
    products = pd.DataFrame({"sku": ["milk", "coffee"], "name": ["Milk", "Coffee"], "category": ["dairy", "drinks"]})
    table = lines(ROWS)
    whole = pa.Table.from_batches(list(unico.habits(table.to_batches(), products, "2025-04-15")))
    small = pa.Table.from_batches(list(unico.habits(table.to_batches(max_chunksize=1), products, "2025-04-15")))
    assert small.equals(whole)
    milk = [r for r in whole.to_pylist() if r["customer_key"] == "c1" and r["sku"] == "milk"]
    assert len(milk) == 1 and milk[0]["purchase_days"] == 5 and milk[0]["cycle_days"] == 7.0
    assert whole.schema.equals(unico.habits_schema())


def test_profiles_are_scored_with_the_fitted_models(cdnow):
    table = lines(ROWS)
    states = pa.Table.from_batches(list(unico.profile_states(table.to_batches(), "2025-04-15", "UTC"))).combine_chunks()
    batch = states.to_batches()[0]
    scored = batch.append_column("r_score", pa.array([5, 3, 1], pa.uint8()))
    scored = scored.append_column("f_score", pa.array([5, 1, 1], pa.uint8()))
    scored = scored.append_column("m_score", pa.array([5, 3, 1], pa.uint8()))
    m = dataclasses.replace(unico.fit_bgnbd(cdnow, unit="weeks"), unit="days")
    g = unico.fit_gamma_gamma(cdnow)
    p = unico.score_profiles(scored, m, g)
    assert p.schema.equals(unico.profile_schema())
    assert p.column("segment").to_pylist()[0] == "champions"
    assert all(0.0 <= x <= 1.0 for x in p.column("p_alive").to_pylist())
