"""Benchmark: reconcile a month of Azure plan daily rated usage (Parquet, from gen_usage.py) on DuckDB or Spark.

Prints wall time per check, the total, the peak memory (max RSS of this process, DuckDB included) and the figures
that prove nothing was lost (rows, Σ BillingPreTaxTotal exact). Target (issue 16, 2-core machine): 20,000,000 rows
≤ 120 s with ≤ 4 GB peak. DuckDB runs with ``memory_limit`` (default 3 GB) and may spill to benchmarks/out/tmp.

``--engine spark`` runs the same checks on Spark local mode (``local[2]``, or ``--spark-master``) first, prints the
time, this process's peak RSS and the JVM's (VmHWM of the java child), then reconciles on DuckDB too and compares
every result frame (exactly: values, dtypes, order). The machine is shared: the 1-minute load is printed beside
each figure.

Usage:
    python benchmarks/gen_usage.py --rows 20000000          # once: benchmarks/out/usage-20000000/ (git-ignored)
    python benchmarks/bench_usage.py [--rows 20000000] [--memory-limit 3GB] [--xlsx]
    python benchmarks/bench_usage.py --engine spark [--spark-master local[2]] [--spark-cache] [--rows 20000000]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cspkit.billing.usage import connect, reconcile_usage  # noqa: E402


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def _children(pid: int) -> list[int]:
    """Every descendant process of ``pid`` (from /proc; Linux)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _jvm_peak() -> float | None:
    """Peak RSS (VmHWM) in GiB of the java processes started by this one (Spark's driver JVM), or None."""
    peak = None
    for pid in _children(os.getpid()):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            if "java" not in Path(f"/proc/{pid}/cmdline").read_text():
                continue
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak or 0.0, int(line.split()[1]) / 2**20)
    return peak


def _compare(spark_result, duck_result) -> list[str]:
    """The frames that differ between the engines (exact comparison), with the first difference."""
    import pandas as pd

    differ = []
    theirs = duck_result.frames()
    for name, frame in spark_result.frames().items():
        try:
            pd.testing.assert_frame_equal(frame, theirs[name], check_exact=True)
        except AssertionError as exc:
            differ.append(f"{name}: {str(exc).splitlines()[0]}")
    return differ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--data", type=Path, help="Parquet folder (default benchmarks/out/usage-<rows>)")
    parser.add_argument("--memory-limit", default="3GB")
    parser.add_argument("--xlsx", action="store_true", help="also time the workbook")
    parser.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb",
                        help="spark: reconcile on Spark local mode, then on DuckDB, and compare every frame")
    parser.add_argument("--spark-master", help="Spark master, e.g. local[2] (default) or spark://host:7077")
    parser.add_argument("--spark-cache", action="store_true",
                        help="cache the usage view in the JVM (read the Parquet once, not once per check)")
    args = parser.parse_args()
    here = Path(__file__).resolve().parent
    data = args.data or here / "out" / f"usage-{args.rows}"
    if not data.exists():
        sys.exit(f"{data} not found: run python benchmarks/gen_usage.py --rows {args.rows} first")
    tmp = here / "out" / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    print(f"{args.engine}: {data} ({_load()})")
    t = time.perf_counter()
    if args.engine == "spark":
        from cspkit.billing.usage_spark import spark_connection

        with spark_connection(args.spark_master, cache_usage=args.spark_cache) as con:
            result = reconcile_usage(data, con=con)
            jvm = _jvm_peak()
    else:
        con = connect(memory_limit=args.memory_limit, temp_directory=str(tmp))
        result = reconcile_usage(data, con=con)
    total = time.perf_counter() - t
    at_end = _load()
    for step, seconds in result.timings.items():
        print(f"  {step:<22} {seconds:8.2f} s")
    s = result.summary.iloc[0]
    print(f"rows {result.rows_read:,}; Σ BillingPreTaxTotal {s['BillingPreTaxTotal']} {s['BillingCurrency']}; "
          f"customers {len(result.customers):,}; Azure subscriptions {len(result.pec):,}; "
          f"PEC lost {int((result.pec['Status'] == 'lost').sum()):,}; anomalies {len(result.anomalies):,}")  # fmt: skip
    if args.xlsx:
        from cspkit.reports.usage_workbook import write_usage_workbook

        t2 = time.perf_counter()
        write_usage_workbook(result, here / "out" / "usage-bench.xlsx")
        print(f"workbook {time.perf_counter() - t2:.2f} s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB → GiB
    if args.engine == "spark":
        jvm_text = f"{jvm:.2f} GiB" if jvm is not None else "? (no java child: a cluster master)"
        print(f"spark: reconciled {result.rows_read:,} rows in {total:.1f} s; peak RSS Python {peak:.2f} GiB, "
              f"JVM {jvm_text} ({at_end}; target 20,000,000 rows ≤ 120 s, ≤ 4 GB)")  # fmt: skip
        t = time.perf_counter()
        con = connect(memory_limit=args.memory_limit, temp_directory=str(tmp))
        duck = reconcile_usage(data, con=con)
        print(f"duckdb (for the comparison): {time.perf_counter() - t:.1f} s ({_load()})")
        differ = _compare(result, duck)
        frames = ", ".join(f"{k} {len(v):,}" for k, v in result.frames().items())
        print("frames identical to DuckDB's: " + ("yes" if not differ else "NO") + f" ({frames})")
        for line in differ:
            print("  differs: " + line)
        if differ:
            sys.exit(1)
        return
    print(f"reconciled {result.rows_read:,} rows in {total:.1f} s; peak RSS {peak:.2f} GiB "
          f"({at_end}; target 20,000,000 rows ≤ 120 s, ≤ 4 GB)")  # fmt: skip


if __name__ == "__main__":
    main()
