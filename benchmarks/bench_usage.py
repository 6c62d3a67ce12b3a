"""Benchmark: reconcile a month of Azure plan daily rated usage (Parquet, from gen_usage.py) on DuckDB.

Prints wall time per check, the total, the peak memory (max RSS of this process, DuckDB included) and the figures
that prove nothing was lost (rows, Σ BillingPreTaxTotal exact). Target (issue 16, 2-core machine): 20,000,000 rows
≤ 120 s with ≤ 4 GB peak. DuckDB runs with ``memory_limit`` (default 3 GB) and may spill to benchmarks/out/tmp.

Usage:
    python benchmarks/gen_usage.py --rows 20000000          # once: benchmarks/out/usage-20000000/ (git-ignored)
    python benchmarks/bench_usage.py [--rows 20000000] [--memory-limit 3GB] [--xlsx]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cspkit.billing.usage import connect, reconcile_usage  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--data", type=Path, help="Parquet folder (default benchmarks/out/usage-<rows>)")
    parser.add_argument("--memory-limit", default="3GB")
    parser.add_argument("--xlsx", action="store_true", help="also time the workbook")
    args = parser.parse_args()
    here = Path(__file__).resolve().parent
    data = args.data or here / "out" / f"usage-{args.rows}"
    if not data.exists():
        sys.exit(f"{data} not found: run python benchmarks/gen_usage.py --rows {args.rows} first")
    tmp = here / "out" / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    con = connect(memory_limit=args.memory_limit, temp_directory=str(tmp))
    t = time.perf_counter()
    result = reconcile_usage(data, con=con)
    total = time.perf_counter() - t
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
    print(f"reconciled {result.rows_read:,} rows in {total:.1f} s; peak RSS {peak:.2f} GiB "
          f"(target 20,000,000 rows ≤ 120 s, ≤ 4 GB)")  # fmt: skip


if __name__ == "__main__":
    main()
