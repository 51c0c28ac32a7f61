"""Tests of the `unico` Python package: the analyst's API against the published CDNOW fits
(Fader, Hardie & Lee 2005; the sample kept in crates/unico-model/tests/data/cdnow), and the
passes on batches sorted by customer. Run: `python -m pytest crates/unico-py/tests`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
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


def cube_lines() -> pa.Table:
    """Two weeks of a tiny chain (Mon 2025-01-06 and Mon 2025-01-13): a earlier history."""
    rows = [
        # day, customer, receipt, store, channel, sku, quantity, net, discount
        ("2024-12-30", "a", "r0", "S1", "store", "p1", 1.0, 500, 0),      # a's first purchase, before the range
        ("2025-01-07", "a", "r1", "S1", "store", "p1", 2.0, 1000, 100),
        ("2025-01-07", "a", "r1", "S1", "store", "p2", 1.0, 300, 0),
        ("2025-01-08", "b", "r2", "S1", "store", "p2", 1.0, 700, 0),      # b is new in week 2
        ("2025-01-09", None, "r3", "S2", "store", "p1", 1.0, 400, 0),     # no card
        ("2025-01-14", "a", "r4", "S2", "ecommerce", "p2", 3.0, 900, 0),  # a retained in week 3
        ("2025-01-15", None, "r5", "S1", "store", "p1", 1.0, 600, 50),
        ("2025-01-15", None, "r5", "S1", "store", "p2", 1.0, 200, 0),
    ]
    cols = list(zip(*rows))
    return pa.table({
        "local_date": pa.array([pd.Timestamp(d).date() for d in cols[0]], pa.date32()),
        "customer_key": pa.array(cols[1], pa.string()),
        "receipt_id": pa.array(cols[2], pa.string()),
        "store_id": pa.array(cols[3], pa.string()),
        "channel": pa.array(cols[4], pa.string()),
        "sku": pa.array(cols[5], pa.string()),
        "quantity": pa.array(cols[6], pa.float64()),
        "net_amount_cents": pa.array(cols[7], pa.int64()),
        "discount_cents": pa.array(cols[8], pa.int64()),
    })


def test_the_kpi_cube_of_a_tiny_chain():
    lines = cube_lines()
    products = pa.table({"sku": ["p1", "p2"], "unit_cost_cents": pa.array([300, None], pa.int64())})
    part = unico.cube_part(lines.to_batches(max_chunksize=3), "2025-01-06", "2025-01-19", by="week", products=products)
    assert part.schema == unico.cube_schema()
    kpis = unico.cube_kpis(part, "2025-01-06", "2025-01-19", by="week").to_pylist()
    assert [r["period"] for r in kpis] == ["2025-W02", "2025-W03"]
    w2, w3 = kpis
    assert (w2["revenue_card_cents"], w2["revenue_no_card_cents"], w2["receipts_card"], w2["receipts_no_card"]) == (2000, 400, 2, 1)
    assert (w2["active_customers"], w2["new_customers"], w2["returning_customers"]) == (2, 1, 1)
    assert w2["average_receipt_card_cents"] == 1000 and w2["loyalty_share"] == pytest.approx(2000 / 2400)
    # Margin over the costed lines only (p1 costs 3.00 a unit): 1000 - 2·300.
    assert w2["margin_card_cents"] == 400 and w2["discount_cents"] == 100
    assert (w3["active_customers"], w3["new_customers"], w3["retention_rate"]) == (1, 0, 0.5)
    assert (w3["receipts_no_card"], w3["revenue_no_card_cents"]) == (1, 800)


def test_cube_parts_of_customer_slices_merge_by_concatenation():
    lines = cube_lines()
    whole = unico.cube_kpis(unico.cube_part([lines.combine_chunks().to_batches()[0]], "2025-01-06", "2025-01-19",
                                            by_store=True, by_channel=True), "2025-01-06", "2025-01-19")
    key = pc.coalesce(lines["customer_key"], lines["receipt_id"])
    slices = [lines.filter(pc.is_in(key, pa.array(keys))) for keys in (["a", "r3"], ["b", "r5"])]
    parts = [unico.cube_part(s.to_batches(max_chunksize=2), "2025-01-06", "2025-01-19", by_store=True, by_channel=True)
             for s in slices]
    merged = unico.cube_kpis(pa.concat_tables(parts), "2025-01-06", "2025-01-19")
    def rows(t: pa.Table) -> list[dict]:
        return sorted(t.to_pylist(), key=lambda r: (r["period"], r["store"], r["channel"]))

    assert merged.num_rows == whole.num_rows > 2
    assert rows(merged) == rows(whole)
    # A customer's history cut in two is not a slice the parts can be merged from.
    cut = [lines.slice(0, 2), lines.slice(2)]
    wrong = unico.cube_kpis(pa.concat_tables([unico.cube_part(c.to_batches(), "2025-01-06", "2025-01-19",
                                                              by_store=True, by_channel=True) for c in cut]),
                            "2025-01-06", "2025-01-19")
    assert rows(wrong) != rows(whole)


def test_cube_input_errors_name_the_column():
    with pytest.raises(ValueError, match="sku"):
        unico.cube_part(cube_lines().drop_columns(["sku"]).to_batches(), "2025-01-06", "2025-01-19")
    with pytest.raises(ValueError, match="after"):
        unico.cube_part(cube_lines().to_batches(), "2025-01-19", "2025-01-06")


def test_recommend_on_a_frame_and_its_errors():
    lines = cube_lines().filter(pc.is_valid(cube_lines()["customer_key"]))
    products = pa.table({"sku": ["p1", "p2"], "name": ["Milk", "Bread"], "category": ["Dairy", "Bakery"]})
    recs = unico.recommend(lines.to_pandas(), products, "2025-01-19", k=2)
    assert recs.column_names == ["customer_key", "rank", "sku", "score", "reason"]
    assert set(recs["customer_key"].to_pylist()) == {"a", "b"}
    for r in recs.to_pylist():
        assert 0.0 < r["score"] < 1.0 and r["rank"] in (1, 2) and r["reason"]
    with pytest.raises(ValueError, match="sku"):
        unico.recommend(lines.drop_columns(["sku"]), products, "2025-01-19")
    with pytest.raises(ValueError, match="k must"):
        unico.recommend(lines, products, "2025-01-19", k=0)
