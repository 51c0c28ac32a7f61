"""Unico's behavioural model of each customer, for Python notebooks and Apache Spark.

Two layers, one engine (Unico's Rust code, the same that ``unico model build`` runs):

* an analyst's API on pandas or polars frames, in the spirit of ``lifetimes``::

      import unico
      s = unico.summary(transactions, observation_end="2025-06-30")   # frequency, recency, T, monetary_value
      bg = unico.fit_bgnbd(s)                  # BG/NBD, times in days
      gg = unico.fit_gamma_gamma(s)            # Gamma-Gamma, currency units
      scores = unico.score(s, bg, gg)          # P(alive), expected purchases, spend, CLV
      segments = unico.rfm(profiles)           # RFM scores and segment names
      recs = unico.recommend(lines, products, as_of="2025-06-30", k=10)

* the per-customer passes on Arrow record batches sorted by customer, for engines that
  already split the data by customer (``spark/unico_spark.py`` runs them in
  ``mapInArrow``): :func:`profile_states`, :func:`habits`, :func:`score_profiles`; and
  the KPI cube's partial aggregates of any slice of the lines, which merge by summing
  (:func:`cube_part`, :func:`cube_kpis`).

Every time says its unit: BG/NBD and Pareto/NBD take and return times in the unit they
were fitted in (``"days"`` or ``"weeks"``); money in summaries is in currency units, in
profiles in integer cents.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Literal, Optional, Union

import pyarrow as pa
import pyarrow.compute as pc

from . import _native

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__version__: str = _native.__version__

Unit = Literal["days", "weeks"]
Frame = Any
"""A pandas or polars DataFrame, or a pyarrow Table or RecordBatch."""

__all__ = [
    "BgNbd",
    "conform",
    "cube_kpis",
    "cube_part",
    "cube_schema",
    "GammaGamma",
    "ParetoNbd",
    "default_settings",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "fit_pareto_nbd",
    "habits",
    "habits_schema",
    "profile_schema",
    "profile_states",
    "recommend",
    "rfm",
    "score",
    "score_profiles",
    "state_schema",
    "summary",
]


# --- frames in and out -----------------------------------------------------------------


def _table(frame: Frame) -> pa.Table:
    if isinstance(frame, pa.Table):
        return frame
    if isinstance(frame, pa.RecordBatch):
        return pa.Table.from_batches([frame])
    if hasattr(frame, "to_arrow"):  # polars
        return frame.to_arrow()
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        pd = None
    if pd is not None and isinstance(frame, pd.DataFrame):
        return pa.Table.from_pandas(frame, preserve_index=False)
    raise TypeError(f"expected a pandas or polars DataFrame or a pyarrow Table, not {type(frame).__name__}")


def _batch(frame: Frame, columns: Iterable[str]) -> pa.RecordBatch:
    """One record batch of the named columns, numbers as they are (int64 or float64)."""
    table = _table(frame)
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ValueError(f"missing column(s) {', '.join(missing)}; the frame has {', '.join(table.column_names)}")
    arrays = []
    for c in columns:
        a = table.column(c).combine_chunks()
        if pa.types.is_integer(a.type):
            a = a.cast(pa.int64())
        elif pa.types.is_floating(a.type) or pa.types.is_decimal(a.type):
            a = a.cast(pa.float64())
        arrays.append(a)
    return pa.RecordBatch.from_arrays(arrays, names=list(columns))


def _like(frame: Frame, result: pa.RecordBatch) -> Any:
    """The result as the kind of frame the caller gave: pandas (index kept), polars or Arrow."""
    if hasattr(frame, "to_arrow") and not isinstance(frame, (pa.Table, pa.RecordBatch)):
        import polars as pl

        return pl.from_arrow(result)
    if isinstance(frame, (pa.Table, pa.RecordBatch)):
        return pa.Table.from_batches([result])
    out = result.to_pandas()
    out.index = frame.index
    return out


def _normalise(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Large strings as strings and timestamps in microseconds, as the passes read them."""
    arrays, changed = [], False
    for field, array in zip(batch.schema, batch.columns):
        t = field.type
        if pa.types.is_large_string(t) or pa.types.is_string_view(t):
            array, changed = array.cast(pa.string()), True
        elif pa.types.is_timestamp(t) and t.unit != "us":
            array, changed = pc.cast(array, pa.timestamp("us", tz=t.tz)), True
        elif pa.types.is_date64(t):
            array, changed = array.cast(pa.date32()), True
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names) if changed else batch


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch``'s columns named in ``schema``, in its order and cast to its types (an engine
    without unsigned integers, Spark, hands back ``uint8`` columns as wider signed ones)."""
    batch = _normalise(batch)
    arrays = [batch.column(f.name).cast(f.type) for f in schema]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _settings_json(settings: Optional[dict]) -> Optional[str]:
    return None if settings is None else json.dumps(settings)


# --- settings and schemas --------------------------------------------------------------


def default_settings() -> dict:
    """The model's default settings: the ``[model]`` table of ``unico.toml`` as a dict."""
    return json.loads(_native.default_settings())


def state_schema(settings: Optional[dict] = None) -> pa.Schema:
    """Columns of the customer states :func:`profile_states` returns."""
    return _native.state_schema(_settings_json(settings))


def profile_schema(settings: Optional[dict] = None) -> pa.Schema:
    """Columns of ``profiles.parquet`` (what :func:`score_profiles` returns)."""
    return _native.profile_schema(_settings_json(settings))


def habits_schema() -> pa.Schema:
    """Columns of ``habits.parquet`` (what :func:`habits` returns)."""
    return _native.habits_schema()


# --- models ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BgNbd:
    """A fitted BG/NBD model (Fader, Hardie & Lee 2005); times in ``unit``."""

    r: float
    alpha: float
    a: float
    b: float
    unit: Unit
    log_likelihood: float

    def to_json(self) -> str:
        return json.dumps(asdict(self))


@dataclass(frozen=True)
class ParetoNbd:
    """A fitted Pareto/NBD model (Schmittlein, Morrison & Colombo 1987); times in ``unit``."""

    r: float
    alpha: float
    s: float
    beta: float
    unit: Unit
    log_likelihood: float

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    def predict(self, summary: Frame, t: float) -> Any:
        """P(alive) and expected purchases within ``t`` (the model's unit) per row of ``summary``."""
        b = _batch(summary, ["frequency", "recency", "T"])
        return _like(summary, _native.predict_pareto_nbd(b, self.to_json(), float(t)))


@dataclass(frozen=True)
class GammaGamma:
    """A fitted Gamma-Gamma spend model (Fader, Hardie & Lee 2005); currency units."""

    p: float
    q: float
    gamma: float
    log_likelihood: float
    customers: int

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def _weights(summary: Frame, columns: list[str], weights: Optional[str]) -> pa.RecordBatch:
    b = _batch(summary, columns + ([weights] if weights else []))
    if weights and weights != "weight":
        b = b.rename_columns(columns + ["weight"])
    return b


def fit_bgnbd(summary: Frame, unit: Unit = "days", weights: Optional[str] = None) -> BgNbd:
    """Fits BG/NBD on a summary with ``frequency`` (repeat purchase days), ``recency`` and
    ``T`` (in ``unit``), one row per customer, or one row per distinct summary with the
    number of customers in column ``weights``."""
    b = _weights(summary, ["frequency", "recency", "T"], weights)
    return BgNbd(**json.loads(_native.fit_bgnbd(b, unit)))


def fit_pareto_nbd(summary: Frame, unit: Unit = "days") -> ParetoNbd:
    """Fits Pareto/NBD on ``frequency``, ``recency`` and ``T`` (in ``unit``)."""
    b = _batch(summary, ["frequency", "recency", "T"])
    return ParetoNbd(**json.loads(_native.fit_pareto_nbd(b, unit)))


def fit_gamma_gamma(summary: Frame, weights: Optional[str] = None) -> GammaGamma:
    """Fits Gamma-Gamma on ``frequency`` and ``monetary_value`` (mean value of the repeat
    purchases, currency units); customers without a repeat purchase are left out."""
    b = _weights(summary, ["frequency", "monetary_value"], weights)
    return GammaGamma(**json.loads(_native.fit_gamma_gamma(b)))


def score(
    summary: Frame,
    bgnbd: BgNbd,
    gamma_gamma: GammaGamma,
    horizon_days: int = 90,
    clv_months: int = 12,
    monthly_discount: float = 0.01,
) -> Any:
    """Per customer: ``p_alive``, ``expected_purchases_<h>_days`` (purchase days within the
    horizon), ``expected_spend`` (per purchase, currency units) and ``clv_<m>_months``
    (discounted at ``monthly_discount`` a month, currency units). Returns a frame like
    ``summary`` (a pandas frame keeps its index)."""
    b = _batch(summary, ["frequency", "recency", "T", "monetary_value"])
    out = _native.predict(
        b, bgnbd.to_json(), gamma_gamma.to_json(), int(horizon_days), int(clv_months), float(monthly_discount)
    )
    return _like(summary, out)


def rfm(frame: Frame, bins: int = 5, older_is_better: bool = False) -> Any:
    """RFM scores (1 = lowest, ``bins`` = highest, by rank among the rows) and segment names
    of ``recency_days``, ``frequency`` and ``monetary_cents``. ``older_is_better`` reverses
    recency for durable goods."""
    b = _batch(frame, ["recency_days", "frequency", "monetary_cents"])
    return _like(frame, _native.rfm_scores(b, int(bins), bool(older_is_better)))


def summary(
    transactions: Frame,
    customer_col: str = "customer_key",
    date_col: str = "date",
    value_col: Optional[str] = "value",
    observation_end: Optional[Any] = None,
    unit: Unit = "days",
) -> "pd.DataFrame":
    """The repeat-purchase summary of a transaction log, one row per customer (the index):
    ``frequency`` (purchase days after the first), ``recency`` (first to last purchase day),
    ``T`` (first purchase day to ``observation_end``), in ``unit``, and ``monetary_value``
    (mean spend of the repeat purchase days, the value column's units). Transactions after
    ``observation_end`` (default: the last one) are left out. Same definitions as
    ``lifetimes.utils.summary_data_from_transaction_data``."""
    import pandas as pd

    t = _table(transactions).to_pandas()
    days = pd.to_datetime(t[date_col]).dt.normalize()
    end = days.max() if observation_end is None else pd.Timestamp(observation_end).normalize()
    if getattr(days.dt, "tz", None) is not None and end.tzinfo is None:
        end = end.tz_localize(days.dt.tz)
    keep = days <= end
    per_day = pd.DataFrame(
        {
            "customer": t.loc[keep, customer_col].to_numpy(),
            "day": days[keep].to_numpy(),
            "value": (t.loc[keep, value_col].astype(float).to_numpy() if value_col else 0.0),
        }
    )
    per_day = per_day.groupby(["customer", "day"], sort=True)["value"].sum().reset_index()
    g = per_day.groupby("customer", sort=True)
    first, last, n = g["day"].min(), g["day"].max(), g["day"].count()
    spend, first_spend = g["value"].sum(), g["value"].first()
    scale = 7.0 if unit == "weeks" else 1.0
    out = pd.DataFrame(
        {
            "frequency": (n - 1).astype("int64"),
            "recency": (last - first).dt.days / scale,
            "T": (end - first).dt.days / scale,
        }
    )
    repeat = (n - 1).where(n > 1)
    out["monetary_value"] = ((spend - first_spend) / repeat).fillna(0.0)
    out.index.name = customer_col
    return out


# --- the per-customer passes on sorted batches -------------------------------------------


def _drive(p: Any, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Pushes every batch through a pass, yielding the rows of the customers it finished."""
    for b in batches:
        out = p.push(_normalise(b))
        if out.num_rows:
            yield out
    out = p.finish()
    if out.num_rows:
        yield out


def profile_states(
    batches: Iterable[pa.RecordBatch],
    as_of: str,
    time_zone: str,
    settings: Optional[dict] = None,
) -> Iterator[pa.RecordBatch]:
    """Customer states (:func:`state_schema`) of receipt lines sorted by ``customer_key``
    (the lake's ``receipt_lines`` columns ``local_date``, ``customer_key``, ``receipt_id``,
    ``net_amount_cents``, ``discount_cents``, ``store_id``, ``channel``, ``ts``), up to
    ``as_of`` (YYYY-MM-DD, inclusive); hours are read in ``time_zone``, the chain's zone.
    A customer's lines may straddle batches; an unsorted input is an error."""
    return _drive(_native.ProfilePass(as_of, time_zone, _settings_json(settings)), batches)


def habits(
    batches: Iterable[pa.RecordBatch],
    products: Frame,
    as_of: str,
    settings: Optional[dict] = None,
) -> Iterator[pa.RecordBatch]:
    """Habit rows (:func:`habits_schema`) of receipt lines sorted by ``customer_key``
    (``local_date``, ``customer_key``, ``sku``, ``net_amount_cents``) up to ``as_of``;
    ``products`` has ``sku``, ``name`` and ``category``."""
    catalogue = [_normalise(b) for b in _table(products).select(["sku", "name", "category"]).to_batches()]
    return _drive(_native.HabitPass(catalogue, as_of, _settings_json(settings)), batches)


def score_profiles(
    states: pa.RecordBatch,
    bgnbd: Union[BgNbd, str],
    gamma_gamma: Union[GammaGamma, str],
    settings: Optional[dict] = None,
) -> pa.RecordBatch:
    """Rows of ``profiles.parquet`` from customer states that carry ``r_score``,
    ``f_score`` and ``m_score`` (the population's RFM ranks), scored with the fitted models."""
    bg = bgnbd if isinstance(bgnbd, str) else bgnbd.to_json()
    gg = gamma_gamma if isinstance(gamma_gamma, str) else gamma_gamma.to_json()
    return _native.score_profiles(_normalise(states), bg, gg, _settings_json(settings))


# --- the KPI cube: partial aggregates that merge ------------------------------------------

Grain = Literal["day", "week", "month"]


def cube_schema() -> pa.Schema:
    """The schema of :func:`cube_part`'s rows: ``period_start``, ``store``, ``channel`` and
    ``segment`` (null where not split), then additive counters (receipts, lines, revenue,
    discount, costed revenue and cost in cents, with and without card; ``active``, ``new``
    and ``retained`` cardholders)."""
    return _native.cube_schema()


def cube_part(
    batches: Iterable[pa.RecordBatch],
    from_day: str,
    to_day: str,
    by: Grain = "week",
    by_store: bool = False,
    by_channel: bool = False,
    products: Optional[Frame] = None,
    segments: Optional[Frame] = None,
) -> pa.Table:
    """The KPI cube of one slice of the lake's receipt lines (``local_date``,
    ``customer_key``, ``receipt_id``, ``store_id``, ``channel``, ``sku``, ``quantity``,
    ``net_amount_cents``, ``discount_cents``; batches in any order), for the periods of ``by``
    from ``from_day`` to ``to_day`` (YYYY-MM-DD, the chain's calendar). Lines before
    ``from_day`` only tell each cardholder's first purchase, so give the slice the whole
    history up to ``to_day``.

    The partial aggregates merge: when every cardholder's lines are in one slice and every
    receipt without a card too (repartition by ``coalesce(customer_key, receipt_id)``), the
    rows of all slices, summed by period and group — or simply concatenated — are the cube
    of the whole lake. ``products`` (``sku``, ``unit_cost_cents``) gives margins;
    ``segments`` (``customer_key``, ``segment``: the profiles) splits by RFM segment."""
    prods = None if products is None else [_normalise(b) for b in _table(products).to_batches()]
    segs = None if segments is None else [_normalise(b) for b in _table(segments).select(["customer_key", "segment"]).to_batches()]
    part = _native.cube_part((_normalise(b) for b in batches), from_day, to_day, by, by_store, by_channel, prods, segs)
    return pa.Table.from_batches([part])


def cube_kpis(rows: Frame, from_day: str, to_day: str, by: Grain = "week") -> pa.Table:
    """The KPIs that come from the receipt lines (``unico kpi``'s columns, definitions and
    rounding: revenue, receipts, average receipt with and without card and their gap,
    loyalty share, margins, discounts, active, new and returning cardholders, retention,
    churn, purchase frequency), one row per period and group, from cube rows
    (:func:`cube_part`'s, of one slice or of many concatenated). The offers, campaigns and
    surveys come from Unico's operational store, on one machine."""
    batches = [_normalise(b) for b in _table(rows).to_batches()]
    return pa.Table.from_batches([_native.cube_kpis(batches, from_day, to_day, by)])


# --- recommendations ---------------------------------------------------------------------


def recommend(
    lines: Union[Frame, Iterable[pa.RecordBatch]],
    products: Frame,
    as_of: str,
    k: int = 10,
    exclude_purchased: bool = False,
    settings: Optional[dict] = None,
) -> pa.Table:
    """Every customer's top ``k`` products, as ``unico recommend`` finds them (the same
    recommender, weights tuned on a time split as the settings say, and reasons in words),
    from receipt lines (``local_date``, ``customer_key``, ``sku``, ``net_amount_cents``; a
    frame or batches) up to ``as_of`` (YYYY-MM-DD); ``products`` has ``sku``, ``name`` and
    ``category``. Rows: ``customer_key``, ``rank``, ``sku``, ``score`` (the probability of a
    purchase within the horizon, ``horizon_days`` of the settings) and ``reason``.

    It runs on this machine, over the lines it is given, in memory (about 20 bytes a card
    line): a notebook's chain or sample. Given the lake's lines in the lake's order (months
    in order, files by name), the lists are ``unico recommend``'s to the last digit."""
    if isinstance(lines, (pa.Table, pa.RecordBatch)) or hasattr(lines, "to_arrow") or hasattr(lines, "columns"):
        batches: Iterable[pa.RecordBatch] = _table(lines).to_batches()
    else:
        batches = lines
    catalogue = [_normalise(b) for b in _table(products).select(["sku", "name", "category"]).to_batches()]
    out = _native.recommend((_normalise(b) for b in batches), catalogue, as_of, k, exclude_purchased,
                            _settings_json(settings))
    return pa.Table.from_batches([out])
