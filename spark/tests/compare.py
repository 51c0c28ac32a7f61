"""Compares two Unico model folders (profiles.parquet, habits.parquet, model.json): integers
and text exactly, floats within 1e-9 (relative above 1), row order aside. Exits non-zero on
the first difference, naming it."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

TOLERANCE = 1e-9


def sorted_table(path: Path, keys: list[str]) -> pa.Table:
    t = pq.read_table(path)
    return t.sort_by([(k, "ascending") for k in keys])


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE)


def compare_tables(name: str, expected: pa.Table, actual: pa.Table) -> list[str]:
    problems = []
    if expected.schema != actual.schema:
        problems.append(f"{name}: schema differs:\n{expected.schema}\nvs\n{actual.schema}")
        return problems
    if expected.num_rows != actual.num_rows:
        return [f"{name}: {expected.num_rows} rows vs {actual.num_rows}"]
    for field in expected.schema:
        e, a = expected.column(field.name).to_pylist(), actual.column(field.name).to_pylist()
        floats = pa.types.is_floating(field.type)
        for i, (x, y) in enumerate(zip(e, a)):
            same = (x is None and y is None) or (
                x is not None and y is not None and (close(x, y) if floats else x == y)
            )
            if not same:
                problems.append(f"{name}: row {i} column {field.name}: {x!r} vs {y!r}")
                break
    return problems


def compare(expected_dir: Path, actual_dir: Path) -> list[str]:
    problems = []
    problems += compare_tables(
        "profiles",
        sorted_table(expected_dir / "profiles.parquet", ["customer_key"]),
        sorted_table(actual_dir / "profiles.parquet", ["customer_key"]),
    )
    keys = ["customer_key", "level", "category", "sku"]
    problems += compare_tables(
        "habits",
        sorted_table(expected_dir / "habits.parquet", keys),
        sorted_table(actual_dir / "habits.parquet", keys),
    )
    e = json.loads((expected_dir / "model.json").read_text())
    a = json.loads((actual_dir / "model.json").read_text())
    for key in ("as_of", "unit", "customers", "repeat_customers", "lines", "segments", "habits"):
        if e[key] != a[key]:
            problems.append(f"model.json {key}: {e[key]!r} vs {a[key]!r}")
    for model in ("bgnbd", "gamma_gamma"):
        for k, v in e[model].items():
            if isinstance(v, float) and not close(v, a[model][k]):
                problems.append(f"model.json {model}.{k}: {v!r} vs {a[model][k]!r}")
            elif not isinstance(v, float) and v != a[model][k]:
                problems.append(f"model.json {model}.{k}: {v!r} vs {a[model][k]!r}")
    return problems


if __name__ == "__main__":
    found = compare(Path(sys.argv[1]), Path(sys.argv[2]))
    for p in found:
        print(p)
    print("equal" if not found else f"{len(found)} difference(s)")
    sys.exit(1 if found else 0)
