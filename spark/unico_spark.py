#!/usr/bin/env python3
"""`unico model build` on Apache Spark: profiles and habits of every customer from a Unico
lake, on the data team's own Spark (local, a standalone cluster, Databricks).

    spark-submit spark/unico_spark.py --lake unico-data/lake --out model-spark \\
        --as-of 2025-06-30 --time-zone Europe/Rome [--partitions 200]

The per-customer work runs where the data is: the lake's receipt lines (read as they are,
hive partitions by month) are repartitioned by ``customer_key`` and sorted within each
partition, and the ``unico`` package's passes fold them into customer states and habits in
``mapInArrow`` (a customer's lines may straddle Arrow batches). The population steps are
Spark aggregations plus a fit on the driver: the BG/NBD and Gamma-Gamma fits take the
grouped counts of the repeat-purchase summaries, the RFM scores take each value's rank
(a window over the distinct values). The result is what ``unico model build`` writes, in
the same folder layout: ``profiles.parquet``, ``habits.parquet`` and ``model.json`` (the
parts Spark writes are merged into one file each on the driver, streaming row groups).

Needs the ``unico`` wheel installed where the Python workers run (docs/scale-out.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

import unico

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T


def spark_type(t: pa.DataType) -> T.DataType:
    """The Spark type of a column of Unico's schemas (unsigned bytes become shorts)."""
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return T.StringType()
    if pa.types.is_date32(t):
        return T.DateType()
    if pa.types.is_int64(t):
        return T.LongType()
    if pa.types.is_uint8(t) or pa.types.is_int16(t):
        return T.ShortType()
    if pa.types.is_float64(t):
        return T.DoubleType()
    raise TypeError(f"no Spark type for {t}")


def spark_schema(schema: pa.Schema) -> T.StructType:
    return T.StructType([T.StructField(f.name, spark_type(f.type), f.nullable) for f in schema])


def arrow_for_spark(schema: pa.Schema) -> pa.Schema:
    """The Arrow schema Spark expects back from ``mapInArrow`` for ``spark_schema(schema)``."""
    return pa.schema([pa.field(f.name, pa.int16() if pa.types.is_uint8(f.type) else f.type, f.nullable) for f in schema])


def merge_parts(parts_dir: str, schema: pa.Schema, out: Path) -> int:
    """Streams Spark's part files (a local folder or any URI pyarrow reads: hdfs://, s3://,
    gs://) into one Parquet file of Unico's exact schema, written under a temporary name and
    renamed into place (a reader never sees half of it)."""
    fs, root = pafs.FileSystem.from_uri(parts_dir) if "://" in parts_dir else (pafs.LocalFileSystem(), parts_dir)
    parts = sorted(
        i.path for i in fs.get_file_info(pafs.FileSelector(root))
        if i.base_name.startswith("part-") and i.base_name.endswith(".parquet")
    )
    tmp = out.with_name(out.name + ".tmp")
    rows = 0
    with pq.ParquetWriter(tmp, schema, compression="zstd") as w:
        for part in parts:
            with fs.open_input_file(part) as f:
                for b in pq.ParquetFile(f).iter_batches(batch_size=128 * 1024):
                    w.write_batch(unico.conform(b, schema))
                    rows += b.num_rows
    os.replace(tmp, out)
    return rows


def rfm_score(states: DataFrame, column: str, score: str, descending: bool, bins: int, n: int) -> DataFrame:
    """Adds ``score``: 1 + (customers strictly below the value · bins) div customers, as
    ``unico_model::rfm::quantile_scores`` ranks them (ties share the lowest rank)."""
    counts = states.groupBy(column).count()
    order = F.col(column).desc() if descending else F.col(column).asc()
    below = F.sum("count").over(Window.orderBy(order).rowsBetween(Window.unboundedPreceding, -1))
    levels = counts.withColumn("below", below).select(
        column, (F.lit(1) + F.expr(f"(coalesce(below, 0) * {bins}) div {n}")).cast("short").alias(score)
    )
    return states.join(levels, column)


def kpi_from(to: str, by: str) -> str:
    """``unico kpi``'s default first day: 28 days, 12 weeks or 12 months back from ``to``."""
    end = date.fromisoformat(to)
    if by == "day":
        return (end - timedelta(days=27)).isoformat()
    if by == "week":
        return (end - timedelta(days=7 * 12 - 1)).isoformat()
    months = end.year * 12 + end.month - 1 - 11
    return date(months // 12, months % 12 + 1, 1).isoformat()


def kpi_cube(spark: SparkSession, args: argparse.Namespace, out: Path) -> dict:
    """The programme's lake KPIs: each partition folds its lines into a partial cube
    (every cardholder's lines, and every receipt without a card, in one partition), Spark
    sums the partial cubes by period and group, and the driver turns the merged cube into
    ``unico kpi``'s figures. Writes ``kpi_cube.parquet`` (the merged cube) and ``kpis.csv``."""
    to = args.kpi_to or args.as_of
    start = args.kpi_from or kpi_from(to, args.kpi_by)
    by, by_store, by_channel = args.kpi_by, args.kpi_by_store, args.kpi_by_channel
    lake = args.lake.rstrip("/")
    products = spark.read.parquet(f"{lake}/products").select("sku", "unit_cost_cents").toArrow()
    columns = ["local_date", "customer_key", "receipt_id", "store_id", "channel", "sku", "quantity",
               "net_amount_cents", "discount_cents"]
    lines = spark.read.parquet(f"{lake}/receipt_lines").where(F.col("local_date") <= F.lit(to).cast("date"))
    sliced = lines.select(*columns).repartition(args.partitions, F.coalesce("customer_key", "receipt_id"))
    cube_arrow = unico.cube_schema()

    def cube_of(batches):
        import unico as u

        part = u.cube_part(batches, start, to, by, by_store, by_channel, products)
        yield from part.to_batches()

    counters = [f.name for f in cube_arrow][4:]
    keys = ["period_start", "store", "channel", "segment"]
    merged = (
        sliced.mapInArrow(cube_of, spark_schema(cube_arrow))
        .groupBy(*keys).agg(*[F.sum(c).alias(c) for c in counters])
        .toArrow()
    )
    merged = pa.Table.from_batches([unico.conform(b, cube_arrow) for b in merged.to_batches()], schema=cube_arrow)
    kpis = unico.cube_kpis(merged, start, to, by)
    pq.write_table(merged.sort_by([(k, "ascending") for k in keys]), out / "kpi_cube.parquet.tmp", compression="zstd")
    os.replace(out / "kpi_cube.parquet.tmp", out / "kpi_cube.parquet")
    import pyarrow.csv as pacsv

    pacsv.write_csv(kpis, out / "kpis.csv.tmp")
    os.replace(out / "kpis.csv.tmp", out / "kpis.csv")
    lines_read = sum(int(pc.sum(merged[c]).as_py() or 0) for c in ("card_lines", "no_card_lines"))
    return {"from": start, "to": to, "by": by, "rows": kpis.num_rows, "lines": lines_read}


def run(spark: SparkSession, args: argparse.Namespace) -> dict:
    settings = unico.default_settings()
    settings["unit"] = args.unit
    settings_text = json.dumps(settings)
    unit = settings["unit"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # Intermediate Parquet every executor writes and the driver reads back: a local folder
    # in local mode, shared storage on a cluster (--work).
    work = (args.work or str(out.resolve() / "_spark")).rstrip("/")
    seconds: dict[str, float] = {}
    clock = time.monotonic()

    def lap(name: str) -> None:
        nonlocal clock
        seconds[name] = round(time.monotonic() - clock, 3)
        clock = time.monotonic()

    as_of = args.as_of
    lines = spark.read.parquet(f"{args.lake.rstrip('/')}/receipt_lines")
    lines = lines.where(F.col("local_date") <= F.lit(as_of).cast("date")).where(F.col("customer_key").isNotNull())
    by_customer = lines.repartition(args.partitions, "customer_key").sortWithinPartitions("customer_key")

    # Customer states, one row per customer.
    state_arrow = unico.state_schema(settings)
    state_back = arrow_for_spark(state_arrow)
    time_zone = args.time_zone

    def states_of(batches):
        import unico as u

        for b in u.profile_states(batches, as_of, time_zone, settings):
            yield u.conform(b, state_back)

    profile_cols = ["local_date", "customer_key", "receipt_id", "net_amount_cents", "discount_cents", "store_id", "channel", "ts"]
    states_dir = f"{work}/states"
    by_customer.select(*profile_cols).mapInArrow(states_of, spark_schema(state_arrow)).write.mode("overwrite").parquet(states_dir)
    states = spark.read.parquet(states_dir)
    lap("states")

    # The population: fits on grouped counts, on the driver.
    n = states.count()
    if n == 0:
        raise SystemExit(f"no purchase with a card on or before {as_of}: import receipts first")
    recency, age = f"bgnbd_recency_{unit}", f"bgnbd_age_{unit}"
    grouped = (
        states.groupBy("repeat_purchases", recency, age).count()
        .select(F.col("repeat_purchases").alias("frequency"), F.col(recency).alias("recency"), F.col(age).alias("T"),
                F.col("count").cast("double").alias("weight"))
        .toArrow()
    )
    bgnbd = unico.fit_bgnbd(grouped, unit=unit, weights="weight")
    spend = (
        states.where(F.col("repeat_purchases") > 0).groupBy("repeat_purchases", "repeat_mean_value").count()
        .select(F.col("repeat_purchases").alias("frequency"), F.col("repeat_mean_value").alias("monetary_value"),
                F.col("count").cast("double").alias("weight"))
        .toArrow()
    )
    gamma_gamma = unico.fit_gamma_gamma(spend, weights="weight")
    lap("fit")

    # RFM ranks, then every customer scored.
    bins = max(2, int(settings["rfm"]["bins"]))
    recent_is_better = settings["rfm"]["recency"] != "older_is_better"
    scored = rfm_score(states, "recency_days", "r_score", recent_is_better, bins, n)
    scored = rfm_score(scored, "rfm_frequency", "f_score", False, bins, n)
    scored = rfm_score(scored, "rfm_monetary_cents", "m_score", False, bins, n)
    profile_arrow = unico.profile_schema(settings)
    profile_back = arrow_for_spark(profile_arrow)
    state_in = pa.schema(list(state_arrow) + [pa.field(c, pa.uint8(), False) for c in ("r_score", "f_score", "m_score")])
    bg_json, gg_json = bgnbd.to_json(), gamma_gamma.to_json()

    def profiles_of(batches):
        import unico as u

        for b in batches:
            yield u.conform(u.score_profiles(u.conform(b, state_in), bg_json, gg_json, settings), profile_back)

    profiles_dir = f"{work}/profiles"
    scored.select(*state_in.names).mapInArrow(profiles_of, spark_schema(profile_arrow)).write.mode("overwrite").parquet(profiles_dir)
    lap("profiles")

    # Habits, from the same customer-sorted lines.
    products = spark.read.parquet(f"{args.lake.rstrip('/')}/products").select("sku", "name", "category").toArrow()
    habits_arrow = unico.habits_schema()

    def habits_of(batches):
        import unico as u

        yield from u.habits(batches, products, as_of, settings)

    habits_dir = f"{work}/habits"
    by_customer.select("local_date", "customer_key", "sku", "net_amount_cents").mapInArrow(
        habits_of, spark_schema(habits_arrow)
    ).write.mode("overwrite").parquet(habits_dir)
    habit_rows = spark.read.parquet(habits_dir)
    habit_counts = habit_rows.agg(
        F.sum(F.when(F.col("level") == "category", 1).otherwise(0)).alias("categories"),
        F.sum(F.when(F.col("level") == "product", 1).otherwise(0)).alias("products"),
        F.count("cycle_days").alias("with_cycle"),
        F.sum(F.when(F.col("overdue_days") > 0, 1).otherwise(0)).alias("overdue"),
    ).first()
    lap("habits")

    if args.kpi_by:
        params_kpi = kpi_cube(spark, args, out)
        lap("kpis")

    segments = {r["segment"]: r["count"] for r in spark.read.parquet(profiles_dir).groupBy("segment").count().collect()}
    totals = states.agg(F.sum("lines").alias("lines"), F.sum(F.when(F.col("repeat_purchases") > 0, 1).otherwise(0)).alias("repeat")).first()
    merge_parts(profiles_dir, profile_arrow, out / "profiles.parquet")
    merge_parts(habits_dir, habits_arrow, out / "habits.parquet")
    lap("merge")
    params = {
        "as_of": as_of,
        "unit": unit,
        "customers": n,
        "repeat_customers": int(totals["repeat"] or 0),
        "lines": int(totals["lines"] or 0),
        "bgnbd": json.loads(bg_json),
        "gamma_gamma": json.loads(gg_json),
        "segments": dict(sorted(segments.items())),
        "habits": {k: int(habit_counts[k] or 0) for k in ("categories", "products", "with_cycle", "overdue")},
        "seconds": seconds,
        "settings": settings,
    }
    if args.kpi_by:
        params["kpis"] = params_kpi
    tmp = out / "model.json.tmp"
    tmp.write_text(json.dumps(params, indent=2))
    os.replace(tmp, out / "model.json")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return params


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lake", required=True, help="the lake folder (DATA/lake), local or any path Spark reads")
    p.add_argument("--out", required=True, help="the model folder to write (a local path on the driver)")
    p.add_argument("--as-of", required=True, help="last day of data, YYYY-MM-DD (the chain's calendar)")
    p.add_argument("--work", default=None,
                   help="folder for the intermediate Parquet, shared by every executor (default OUT/_spark: local mode only)")
    p.add_argument("--time-zone", default="Europe/Rome", help="the chain's time zone (unico.toml's timezone)")
    p.add_argument("--unit", default="days", choices=["days", "weeks"], help="time unit of the BG/NBD model")
    p.add_argument("--partitions", type=int, default=200, help="customer partitions (tasks) of the passes")
    p.add_argument("--master", default=None, help="Spark master when not run through spark-submit (local[2], …)")
    p.add_argument("--max-records-per-batch", type=int, default=None, help="Arrow batch size of mapInArrow")
    p.add_argument("--kpi-by", default=None, choices=["day", "week", "month"],
                   help="also compute the lake KPIs by this period (kpis.csv, kpi_cube.parquet), as `unico kpi --by`")
    p.add_argument("--kpi-from", default=None, help="first day of the KPIs (default: as `unico kpi`)")
    p.add_argument("--kpi-to", default=None, help="last day of the KPIs (default: --as-of)")
    p.add_argument("--kpi-by-store", action="store_true", help="KPIs split by store")
    p.add_argument("--kpi-by-channel", action="store_true", help="KPIs split by channel")
    args = p.parse_args(argv)

    builder = SparkSession.builder.appName("unico model build")
    if args.master:
        builder = builder.master(args.master)
        if args.master.startswith("local"):
            # Local workers run this interpreter, the one with the unico package.
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # Arrow strings as Unico's passes read them; timestamps as instants.
    builder = builder.config("spark.sql.execution.arrow.useLargeVarTypes", "false")
    builder = builder.config("spark.sql.session.timeZone", "UTC")
    if args.max_records_per_batch:
        builder = builder.config("spark.sql.execution.arrow.maxRecordsPerBatch", str(args.max_records_per_batch))
    spark = builder.getOrCreate()
    try:
        params = run(spark, args)
    finally:
        spark.stop()
    print(f"{params['customers']} customers, {params['lines']} card lines; profiles and habits in {args.out} "
          f"(seconds: {params['seconds']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
