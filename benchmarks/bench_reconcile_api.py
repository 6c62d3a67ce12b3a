"""Time ``cspkit reconcile --invoice ID --api v1`` end to end on an emulator invoice of many lines; print lines/s.

The emulator runs as ``cspkit emulator serve`` in its own process (see ``bench_emulator_paging.py``); its benchmark
hook (``POST /_emulator/recon/synthetic``) makes an invoice of ``--lines`` generated reconciliation lines. The
command runs as a child process, as a user would run it (``--output json``, a Parquet report, ``--fail-on never``):
the figure covers the invoice, the v1 pages, the lines' typed frame or Parquet dataset, the subscriptions of every
customer on the invoice, the engine and the report. Wall time, the command's CPU and peak RSS, the load average and
the result (tie-out totals, variance counts: compare them between runs) are printed, not asserted.

``--phases`` times the steps in this process instead, for the v1 lines read three ways on the same invoice: the
item dicts through ``v1_lines_to_frame`` (the path before the columnar pages), the pages into
``v1_batches_to_frame``, and the pages streamed into a Parquet dataset (what the command does): fetch (lines/s),
subscriptions + engine, report.

    python benchmarks/bench_reconcile_api.py [--lines 200000] [--api v1|graph] [--repeat 1] [--phases]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_emulator_paging import ROOT, served_emulator  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--api", choices=("v1", "graph"), default="v1")
    parser.add_argument("--repeat", type=int, default=1, help="runs of the command on the same invoice")
    parser.add_argument("--phases", action="store_true", help="time fetch / engine / report in-process per path")
    args = parser.parse_args()
    if args.phases:
        return phases(args.lines)
    with served_emulator() as (base, token), tempfile.TemporaryDirectory(prefix="bench-reconcile-api-") as tmp:
        made = requests.post(f"{base}/_emulator/recon/synthetic", json={"lines": args.lines, "currency": "USD"},
                             timeout=30).json()
        invoice_id = made["invoiceId"]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "CSPKIT_HOME": str(Path(tmp) / "home"),
               "CSPKIT_CONFIG": os.devnull, "CSPKIT_ENDPOINT": base, "CSPKIT_ACCESS_TOKEN": token}
        command = [sys.executable, "-m", "cspkit", "--output", "json", "reconcile", "--invoice", invoice_id,
                   "--api", args.api, "--out", str(Path(tmp) / "report.parquet"), "--fail-on", "never"]
        for run in range(1, args.repeat + 1):
            load = os.getloadavg()
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp, check=False)
            elapsed = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if done.returncode != 0:
                sys.exit(f"cspkit reconcile exited {done.returncode}:\n{done.stderr}")
            payload = json.loads(done.stdout)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            lines = sum(int(row["Lines"]) for row in payload["tieout"])
            assert lines == args.lines, f"reconciled {lines} lines, expected {args.lines}"
            print(f"run {run}: cspkit reconcile --invoice {invoice_id} --api {args.api}: {lines:,} lines in "
                  f"{elapsed:.1f} s = {lines / elapsed:,.0f} lines/s; command CPU {cpu:.1f} s, peak RSS "
                  f"{after.ru_maxrss / 1024:,.0f} MB (largest child so far); load average before {load[0]:.2f}, "
                  f"after {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        totals = ", ".join(f"{row['Currency']} {row['Total']}" for row in payload["tieout"])
        counts = ", ".join(f"{row['Category']} {row['Count']}" for row in payload["variances"])
        print(f"tie-out: {totals}; variances: {counts or 'none'}")


def phases(count: int) -> None:
    """Fetch, reconcile and report timed in this process, for the dict path and the columnar pages."""
    from cspkit.billing.exports import v1_lines_to_frame
    from cspkit.billing.reconcile import reconcile
    from cspkit.client import PartnerCenter
    from cspkit.reports.reconciliation import write_reconciliation_report
    from cspkit.workflows.reconciliation import fetch_invoice_lines, invoice_subscriptions

    with served_emulator() as (base, token), tempfile.TemporaryDirectory(prefix="bench-reconcile-api-") as tmp:
        invoice_id = requests.post(f"{base}/_emulator/recon/synthetic", json={"lines": count, "currency": "USD"},
                                   timeout=30).json()["invoiceId"]
        pc = PartnerCenter(endpoint=base, access_token=token)
        for mode in ("item dicts", "pages → frame", "pages → Parquet dataset"):
            load = os.getloadavg()[0]
            clock, cpu = time.perf_counter(), time.process_time()
            if mode == "item dicts":
                lines = v1_lines_to_frame(pc.invoices.reconciliation_line_items(invoice_id), source=invoice_id)
            else:
                workdir = Path(tmp) / "work" if "Parquet" in mode else None
                lines = fetch_invoice_lines(pc, invoice_id, api="v1", workdir=workdir)[0]
            marks = [(time.perf_counter() - clock, time.process_time() - cpu)]
            result = reconcile(lines, subscriptions=invoice_subscriptions(pc, lines),
                               invoices=[pc.invoices.get(invoice_id)])
            marks.append((time.perf_counter() - clock, time.process_time() - cpu))
            write_reconciliation_report(result, Path(tmp) / "report.parquet", fmt="parquet")
            marks.append((time.perf_counter() - clock, time.process_time() - cpu))
            (fetched, fetch_cpu), (checked, check_cpu), (done, done_cpu) = marks
            print(f"{mode}: fetch {fetched:.1f} s = {len(lines) / fetched:,.0f} lines/s (CPU {fetch_cpu:.1f} s); "
                  f"subscriptions + engine {checked - fetched:.1f} s (CPU {check_cpu - fetch_cpu:.1f} s); report "
                  f"{done - checked:.1f} s; total {done:.1f} s; Σ lines {result.tieout['Total'].sum()}; "
                  f"load {load:.2f}")
        pc.close()


if __name__ == "__main__":
    main()
