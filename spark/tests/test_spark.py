"""The Spark job finds what `unico model build` finds on the same lake: profiles and habits
equal (integers and text exactly, floats within 1e-9), with 1 and with 4 partitions, Arrow
batches of 50 records so that customers' lines straddle batches.

Needs pyspark and Java, the `unico` package installed, and the `unico` binary in UNICO_BIN
(`cargo test` sets it; crates/unico/tests/python.rs). Run: `python -m pytest spark/tests`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from compare import compare  # noqa: E402

pytest.importorskip("pyspark")
UNICO = os.environ.get("UNICO_BIN")
JOB = Path(__file__).resolve().parents[1] / "unico_spark.py"
AS_OF = "2025-07-15"

pytestmark = pytest.mark.skipif(not UNICO, reason="UNICO_BIN (the unico binary) is not set")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("chain")
    data = root / "data"

    def unico(*args: str) -> None:
        subprocess.run([UNICO, "--data", str(data), *args], check=True, capture_output=True)

    # 200 days from 2025-01-01: lines after the as-of day are left out by both.
    unico("generate", "--customers", "600", "--days", "200", "--products", "300", "--into-lake", "--out", str(root / "gen"))
    unico("model", "build", "--as-of", AS_OF)
    # What the build wrote, apart: a test below publishes the Spark model over it.
    shutil.copytree((data / "model" / "current").resolve(), root / "expected")
    return data


@pytest.mark.parametrize("partitions", [1, 4])
def test_spark_finds_what_the_model_build_finds(built: Path, tmp_path: Path, partitions: int):
    out = tmp_path / "spark-model"
    subprocess.run(
        [sys.executable, str(JOB), "--lake", str(built / "lake"), "--out", str(out), "--as-of", AS_OF,
         "--time-zone", "Europe/Rome", "--partitions", str(partitions), "--master", "local[2]",
         "--max-records-per-batch", "50", "--kpi-by", "week", "--kpi-by-store", "--kpi-by-channel"],
        check=True,
    )
    expected = built.parent / "expected"
    params = json.loads((expected / "model.json").read_text())
    # Customers have more lines than a batch holds: their lines straddle batches.
    assert params["lines"] / params["customers"] > 50
    assert params["customers"] > 400 and params["habits"]["products"] > 0
    problems = compare(expected, out)
    assert not problems, "\n".join(problems)
    # The KPI cube, merged from the partitions' partial cubes: `unico kpi`'s figures.
    cli = subprocess.run(
        [UNICO, "--data", str(built), "kpi", "--by", "week", "--by-store", "--by-channel", "--to", AS_OF, "--format", "csv"],
        capture_output=True, text=True, check=True,
    ).stdout
    expected_kpis, actual_kpis = kpi_rows(cli), kpi_rows((out / "kpis.csv").read_text())
    assert len(expected_kpis) > 30 and set(actual_kpis) == set(expected_kpis)
    some = next(iter(actual_kpis.values()))
    assert len(some) > 20, sorted(some)
    assert any((r["retention_rate"] or 0) > 0 and (r["margin_card_cents"] or 0) > 0 for r in actual_kpis.values())
    for key, row in actual_kpis.items():
        for name, value in row.items():
            want = expected_kpis[key][name]
            assert (value is None and want is None) or (
                value is not None and want is not None and abs(value - want) <= 1e-9 * max(1.0, abs(want))
            ), f"{key} {name}: {value} vs {want}"
    # The rest of Unico takes the Spark model as its own.
    done = subprocess.run([UNICO, "--data", str(built), "model", "import", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "published" in done.stderr and f"{params['customers']} customers" in done.stdout


def test_the_package_recommends_what_unico_recommend_does(built: Path, tmp_path: Path):
    import csv

    import pyarrow.parquet as pq

    import unico

    out = tmp_path / "recs.csv"
    subprocess.run([UNICO, "--data", str(built), "recommend", "--as-of", AS_OF, "--k", "5", "--by-key", "--out", str(out)],
                   check=True, capture_output=True)
    with open(out, newline="") as f:
        expected = sorted((r["customer_id"], r["rank"], r["sku"], r["score"], r["reason"]) for r in csv.DictReader(f))
    # The lake's lines in the lake's order: months in order, files by name.
    files = sorted((built / "lake" / "receipt_lines").glob("month=*/*.parquet"))
    columns = ["local_date", "customer_key", "sku", "net_amount_cents"]
    batches = (b for f in files for b in pq.ParquetFile(f).iter_batches(batch_size=1000, columns=columns))
    products = pa.concat_tables(pq.read_table(f) for f in sorted((built / "lake" / "products").rglob("*.parquet")))
    got = unico.recommend(batches, products, AS_OF, k=5)
    rows = sorted((r["customer_key"], str(r["rank"]), r["sku"], f"{r['score']:.4f}", r["reason"]) for r in got.to_pylist())
    assert len(expected) > 1000 and len({r[0] for r in expected}) > 300
    assert rows == expected


def kpi_rows(text: str) -> dict[tuple, dict[str, float | None]]:
    """KPI rows of a CSV by (period, store, channel): every number, blank as None."""
    import csv
    import io

    out = {}
    for r in csv.DictReader(io.StringIO(text)):
        key = (r.pop("period"), r.pop("store"), r.pop("channel"))
        for k in ("period_start", "days", "segment"):
            r.pop(k, None)
        out[key] = {k: (float(v) if v != "" else None) for k, v in r.items()}
    return out


def test_a_folder_that_is_not_a_model_is_refused(built: Path, tmp_path: Path):
    (tmp_path / "model.json").write_text("{}")
    done = subprocess.run([UNICO, "--data", str(built), "model", "import", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode != 0 and "model.json" in done.stderr
