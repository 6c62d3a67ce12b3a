"""Benchmark: reconcile a 1,000,000-line month against a 100,000-row price list; time the Excel export.

Files → result frames: the recon CSV is streamed into a Parquet dataset (cspkit.billing.ingest), the engine reads
it (DuckDB by default), ``result.lines`` stays on disk. Prints wall time per step, the peak memory (max RSS of this
process) and the load average (the machine may be shared: figures are comparable only at a similar load). Targets
(issue 15, 2-core machine): 1,000,000 lines ≤ 8 s and ≤ 1.5 GB peak; 10,000,000 lines ≤ 100 s and ≤ 4 GB; the
Excel export ≥ 3× faster than pandas' ``to_excel`` with openpyxl on the same frames (both timed on the first
--excel-lines line items, since openpyxl needs minutes and gigabytes for a million rows). Also printed: the
variance counts, the tie-out and a SHA-256 of the per-line labels, to compare runs and engines.

Usage:
    python benchmarks/gen_recon.py --lines 1000000 --prices 100000      # once (≈ 1 minute, 630 MB in benchmarks/out)
    python benchmarks/bench_reconcile.py [--lines 1000000] [--prices 100000] [--excel-lines 100000]
        [--engine duckdb|spark] [--spark-master URL] [--skip-excel] [--profile N] [--repeat N]

``--repeat N`` runs the whole benchmark N times, each in a fresh process (its own imports, caches and peak RSS),
prints every run and then the median, lowest and highest files → result frames time: on a shared 2-core machine
one run's time can differ from the next by 10–20 %, so a figure is worth quoting only over several runs.

``--engine spark`` reconciles on DuckDB, then on Spark (local[2] unless --spark-master) and compares every frame;
Spark's JVM is a child process, so its memory is not in the peak RSS printed (which is this Python process's).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import os
import pstats
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# The engine's imports (Ibis, its DuckDB backend and compilers: ≈ 0.7 s once per process) happen here, before the
# clock starts, like pandas' and pyarrow's: the figures are the work of one reconciliation, not the process start.
import ibis  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
from pyarrow import csv  # noqa: E402

import cspkit.billing.engine.totals  # noqa: E402, F401
import cspkit.billing.engine.variances  # noqa: E402, F401
from cspkit.billing.ingest import ingest_recon  # noqa: E402
from cspkit.billing.memory import use_reuse_friendly_pool  # noqa: E402
from cspkit.billing.pricelist import read_price_list  # noqa: E402
from cspkit.billing.reconcile import ReconciliationResult, normalize_subscriptions, reconcile  # noqa: E402
from cspkit.reports.reconciliation import write_reconciliation_workbook  # noqa: E402

ibis.duckdb  # noqa: B018 (loads the backend)

HERE = Path(__file__).parent


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


_cpu = [time.process_time()]


def step(name: str, started: float) -> float:
    """Print the wall time since ``started``, the CPU seconds of this process (every thread, DuckDB's included)
    since the previous step, the peak RSS and the load; the machine may be shared, so CPU is the steadier figure."""
    now, cpu = time.perf_counter(), time.process_time()
    print(f"  {name:<38} {now - started:7.2f} s  cpu {cpu - _cpu[0]:6.2f} s   peak RSS {peak_mb():8,.0f} MB   "
          f"({load()})", flush=True)  # fmt: skip
    _cpu[0] = cpu
    return now


def timed(read: Any, path: Path) -> tuple[Any, float]:
    """``read(path)`` and the seconds it took."""
    started = time.perf_counter()
    return read(path), time.perf_counter() - started


def read_subscriptions(path: Path) -> pd.DataFrame:
    """The subscriptions CSV with every text column but the (unique) ids dictionary-encoded by ``pyarrow.csv``:
    pandas categoricals, one small code per row (6.2 million rows of Arrow strings took 1.26 GB, these 0.37 GB);
    ``normalize_subscriptions`` reads them per dictionary entry. Streamed in blocks of 16 MB (the whole-file reader's
    buffers took the read's peak RSS to ≈ 1.45 GB for 6.2 million rows, streamed ≈ 1.1 GB)."""
    names = pd.read_csv(path, nrows=0).columns
    kinds = {c: pa.string() if c == "subscription_id" else pa.dictionary(pa.int32(), pa.string()) for c in names}
    reader = csv.open_csv(path, read_options=csv.ReadOptions(block_size=16 << 20),
                          convert_options=csv.ConvertOptions(column_types=kinds, strings_can_be_null=True))  # fmt: skip
    table = pa.Table.from_batches(list(reader), reader.schema).unify_dictionaries()
    return table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow")}.get, self_destruct=True,
                           split_blocks=True)  # fmt: skip


def subset(result: ReconciliationResult, n: int) -> ReconciliationResult:
    """The result with its first ``n`` lines only (read from the dataset, not the whole month)."""
    first: list[pd.DataFrame] = []
    for batch in result.iter_lines(min(n, 65_536)):
        first.append(batch.iloc[: n - sum(len(b) for b in first)])
        if sum(len(b) for b in first) >= n:
            break
    return ReconciliationResult(
        period_start=result.period_start, period_end=result.period_end, tieout=result.tieout,
        customers=result.customers, subscriptions=result.subscriptions, charge_types=result.charge_types,
        variances=result.variances, variance_counts=result.variance_counts,
        lines=pd.concat(first, ignore_index=True), notes=result.notes,
    )  # fmt: skip


def label_digest(result: ReconciliationResult) -> tuple[int, str]:
    """(labelled lines, SHA-256 of ``SourceRow:Variances`` of every labelled line), streamed."""
    digest, count = hashlib.sha256(), 0
    for batch in result.iter_lines():
        labelled = batch[["SourceRow", "Variances"]].dropna()
        if len(labelled):
            if count:
                digest.update(b"\n")
            pairs = zip(labelled.SourceRow, labelled.Variances, strict=True)
            digest.update("\n".join(f"{a}:{b}" for a, b in pairs).encode())
            count += len(labelled)
    return count, digest.hexdigest()


def pandas_openpyxl(result: ReconciliationResult, path: Path) -> None:
    """The baseline: the same sheets through pandas' ExcelWriter with openpyxl (Decimals as floats, no tz)."""

    def plain(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        for column in out.columns:
            if isinstance(out[column].dtype, pd.DatetimeTZDtype):
                out[column] = out[column].dt.tz_localize(None)
            elif out[column].dtype == object:
                out[column] = out[column].map(
                    lambda v: float(v) if v is not None and not isinstance(v, str) and v == v else v
                )
        return out

    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        plain(result.tieout).to_excel(writer, sheet_name="Summary", index=False)
        plain(result.variances).to_excel(writer, sheet_name="Variances", index=False)
        plain(result.customers).to_excel(writer, sheet_name="Customers", index=False)
        plain(result.subscriptions).to_excel(writer, sheet_name="Subscriptions", index=False)
        plain(result.lines).to_excel(writer, sheet_name="Line items", index=False)


#: the line every run prints for its files → result frames figures
_FIGURES = re.compile(r"files → result frames: ([\d.]+) s, cpu ([\d.]+) s; peak RSS ([\d,]+) MB")


def repeated(runs: int, argv: list[str]) -> int:
    """Run this benchmark ``runs`` times with ``argv`` (without ``--repeat``), each in a fresh process, print each
    run's output and then the median, lowest and highest files → result frames time (s), the median CPU time (s)
    and the highest peak RSS (MB). Returns the exit status (that of the first run that failed, else 0)."""
    walls, cpus, peaks = [], [], []
    for run in range(1, runs + 1):
        print(f"== run {run} of {runs}", flush=True)
        done = subprocess.run([sys.executable, __file__, *argv], stdout=subprocess.PIPE, text=True, check=False)
        sys.stdout.write(done.stdout)
        if done.returncode:
            return done.returncode
        found = _FIGURES.search(done.stdout)
        if found:
            walls.append(float(found[1]))
            cpus.append(float(found[2]))
            peaks.append(int(found[3].replace(",", "")))
    if walls:
        print(f"{len(walls)} runs, files → result frames: median {statistics.median(walls):.2f} s (lowest "
              f"{min(walls):.2f}, highest {max(walls):.2f}: {', '.join(f'{w:.2f}' for w in walls)}); median cpu "
              f"{statistics.median(cpus):.2f} s; highest peak RSS {max(peaks):,} MB")  # fmt: skip
    return 0


def _without_repeat(argv: list[str]) -> list[str]:
    """``argv`` without its ``--repeat N`` / ``--repeat=N``."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--repeat":
            skip = True
        elif not arg.startswith("--repeat="):
            out.append(arg)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--prices", type=int, default=100_000)
    parser.add_argument("--excel-lines", type=int, default=100_000)
    parser.add_argument("--data", type=Path, default=HERE / "out")
    parser.add_argument("--skip-openpyxl", action="store_true")
    parser.add_argument("--skip-excel", action="store_true", help="stop after the result frames")
    parser.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb")
    parser.add_argument("--spark-master", default=None, help="with --engine spark, e.g. spark://spark-head:7077")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="print the N costliest calls (cProfile, cumulative) of the DuckDB reconcile step")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="run the benchmark N times, each in a fresh process, and print the median (e.g. 6)")
    args = parser.parse_args()
    if args.repeat > 1:
        sys.exit(repeated(args.repeat, _without_repeat(sys.argv[1:])))
    recon_path = args.data / f"recon_{args.lines}.csv"
    prices_path = args.data / f"pricelist_{args.prices}.csv"
    subs_path = args.data / f"subscriptions_{args.lines}.csv"
    if not recon_path.exists() or not prices_path.exists():
        from gen_recon import generate

        print(f"generating {args.lines:,} lines and {args.prices:,} prices in {args.data} ...", flush=True)
        generate(args.lines, args.prices, args.data)

    print(f"reconcile {args.lines:,} lines against {args.prices:,} price rows on {args.engine} "
          f"(Arrow pool: {use_reuse_friendly_pool()}, {os.cpu_count()} CPUs, {load()})")  # fmt: skip
    work = tempfile.TemporaryDirectory(dir=args.data, prefix="bench-work-")
    t0, cpu0 = time.perf_counter(), time.process_time()
    _cpu[0] = cpu0
    t = t0
    # the price list and the subscriptions are read in a thread while the lines are ingested, as `cspkit reconcile`
    # reads its price lists (Arrow's CSV readers leave the interpreter free; the ingest keeps ~1.4 of 2 cores busy)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-inputs") as pool:
        inputs = pool.submit(lambda: (timed(read_price_list, prices_path),
                                      timed(lambda p: normalize_subscriptions(read_subscriptions(p)), subs_path)))
        dataset = ingest_recon([recon_path], work.name)
        t = step(f"ingest recon CSV → Parquet ({dataset.rows:,} rows)", t)
        (prices, price_s), (subs, subs_s) = inputs.result()
    t = step(f"price list ({len(prices):,} rows, {price_s:.2f} s) and subscriptions ({len(subs):,} rows, "
             f"read and normalised, {subs_s:.2f} s) read alongside", t)  # fmt: skip
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    result = reconcile(dataset, subscriptions=subs, price_list=prices, period="2026-03", engine="duckdb")
    if profiler:
        profiler.disable()
    t = step("reconcile (engine duckdb)", t)
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)
    print("    reconcile steps: " + ", ".join(f"{k} {v:.2f}" for k, v in result.timings.items()))
    cpu = time.process_time() - cpu0
    print(f"  files → result frames: {t - t0:.2f} s, cpu {cpu:.2f} s; peak RSS {peak_mb():,.0f} MB ({load()})")
    if args.engine == "spark":
        spark = reconcile(dataset, subscriptions=subs, price_list=prices, period="2026-03", engine="spark",
                          spark_master=args.spark_master)  # fmt: skip
        t = step("reconcile (engine spark)", t)
        print("    reconcile steps: " + ", ".join(f"{k} {v:.2f}" for k, v in spark.timings.items()))
        for name, frame in result.frames().items():
            pd.testing.assert_frame_equal(spark.frames()[name], frame, check_exact=True, obj=name)
        print(f"  duckdb and spark: every result frame identical ({load()})")
    counts = result.variance_counts.set_index("Category")["Count"]
    print("  variances: " + ", ".join(f"{c}={n:,}" for c, n in counts.items() if n))
    print("  tie-out: " + "; ".join(f"{r.InvoiceNumber} {r.Currency} {r.Lines} lines {r.Total}"
                                    for r in result.tieout.itertuples()))  # fmt: skip
    labelled, sha = label_digest(result)
    print(f"  labelled lines: {labelled:,}; labels SHA-256 {sha}")

    if args.skip_excel:
        return
    small = subset(result, args.excel_lines)
    gc.collect()
    with tempfile.TemporaryDirectory(dir=args.data) as tmp:
        print(f"Excel export of the result frames with the first {args.excel_lines:,} line items")
        t = time.perf_counter()
        write_reconciliation_workbook(small, Path(tmp) / "cspkit.xlsx")
        ours = time.perf_counter() - t
        print(f"  cspkit (xlsxwriter, constant memory)  {ours:7.2f} s")
        if args.excel_lines < result.line_count:  # before openpyxl, whose in-memory workbook would set the peak
            t = time.perf_counter()
            write_reconciliation_workbook(result, Path(tmp) / "full.xlsx")
            print(f"  cspkit, all {result.line_count:,} line items         {time.perf_counter() - t:7.2f} s   "
                  f"peak RSS {peak_mb():,.0f} MB")  # fmt: skip
        if not args.skip_openpyxl:
            t = time.perf_counter()
            pandas_openpyxl(small, Path(tmp) / "pandas.xlsx")
            theirs = time.perf_counter() - t
            print(f"  pandas to_excel (openpyxl)            {theirs:7.2f} s   → {theirs / ours:.1f}× (target ≥ 3×)   "
                  f"peak RSS {peak_mb():,.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
