"""Benchmark: the model build on Apache Spark in local mode (2 executor threads) vs
`unico model build` on the same lake, side by side in one run: wall time, peak memory of
each whole process tree (Spark's JVM and Python workers included), the overhead ratio, and
a check that both wrote the same profiles and habits (spark/tests/compare.py).

usage: cargo build --release && python3 bench/spark_vs_build.py --customers 500000 --days 540 [--partitions 16]
       (needs the `unico` package and pyspark in PYTHON, default ~/.cache/unico/py-venv; docs/scale-out.md)
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache" / "unico" / "target"))
UNICO = TARGET / "release" / "unico"
sys.path.insert(0, str(ROOT / "spark" / "tests"))
from compare import compare  # noqa: E402


def tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants, MiB."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return total / 1024.0


def measure(cmd, env=None):
    """(seconds, peak MiB of the process tree), the tree sampled every 200 ms."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak, done = [0.0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss_mib(proc.pid))
            done.wait(0.2)

    threading.Thread(target=sample, daemon=True).start()
    err = []
    reader = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)
    reader.start()
    code = proc.wait()
    done.set()
    reader.join()
    if code != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{b''.join(err).decode(errors='replace')[-4000:]}")
    return time.monotonic() - start, peak[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=500_000)
    ap.add_argument("--days", type=int, default=540)
    ap.add_argument("--partitions", type=int, default=16)
    ap.add_argument("--data", help="an existing data directory with a lake (skips the generation)")
    ap.add_argument("--as-of", default=None, help="default: the start + days − 1")
    ap.add_argument("--driver-memory", default="4g", help="heap of Spark's JVM (local mode: driver and executors)")
    ap.add_argument("--python", default=str(Path.home() / ".cache" / "unico" / "py-venv" / "bin" / "python"))
    args = ap.parse_args()
    if not UNICO.exists():
        sys.exit("build first: cargo build --release")
    tmp = Path(tempfile.mkdtemp(prefix="spark-bench-", dir=os.environ.get("TMPDIR")))
    try:
        data = Path(args.data) if args.data else tmp / "data"
        if not args.data:
            print(f"generating {args.customers:,} people x {args.days} days into {data}/lake ...", flush=True)
            subprocess.run([str(UNICO), "--data", str(data), "generate", "--customers", str(args.customers), "--days",
                            str(args.days), "--into-lake", "--out", str(tmp / "gen")], check=True,
                           stderr=subprocess.DEVNULL)
        import datetime
        as_of = args.as_of or str(datetime.date(2025, 1, 1) + datetime.timedelta(days=args.days - 1))
        lake_bytes = sum(f.stat().st_size for f in (data / "lake").resolve().rglob("*.parquet"))
        print(f"lake: {lake_bytes / 2**30:.2f} GiB of Parquet", flush=True)
        t_build, m_build = measure([str(UNICO), "--data", str(data), "model", "build", "--as-of", as_of])
        print(f"unico model build: {t_build:8.1f} s  peak {m_build:7.0f} MiB", flush=True)
        out = tmp / "spark-model"
        # Local mode runs the executors inside the driver's JVM: give it 4 GiB of heap.
        env = dict(os.environ, PYSPARK_PYTHON=args.python, SPARK_LOCAL_DIRS=str(tmp / "spark-local"),
                   PYSPARK_SUBMIT_ARGS=f"--driver-memory {args.driver_memory} pyspark-shell")
        t_spark, m_spark = measure([args.python, str(ROOT / "spark" / "unico_spark.py"), "--master", "local[2]",
                                    "--lake", str(data / "lake"), "--out", str(out), "--as-of", as_of,
                                    "--time-zone", "Europe/Rome", "--partitions", str(args.partitions)], env=env)
        print(f"Spark local[2]:    {t_spark:8.1f} s  peak {m_spark:7.0f} MiB  ({args.partitions} partitions, "
              f"driver memory {args.driver_memory})")
        phases = __import__("json").loads((out / "model.json").read_text())["seconds"]
        print(f"Spark phases (s): {phases}")
        problems = compare(data / "model" / "current", out)
        print("same profiles and habits: " + ("yes" if not problems else "NO\n" + "\n".join(problems[:10])))
        lines = __import__("json").loads((out / "model.json").read_text())["lines"]
        print(f"{lines:,} card lines; Spark takes {t_spark / t_build:.1f}x the time of unico model build "
              f"({lines / t_build / 1e6:.2f} vs {lines / t_spark / 1e6:.2f} M lines/s)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
