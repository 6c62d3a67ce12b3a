"""Reliability benchmark: 200 orders across 50 customers, ~20 % of calls failing, the batch killed halfway.

What it does:

1. starts an emulator (seeded with 45 extra customers: 50 in all) and injects faults on about 20 % of Partner
   Center calls: 429 with Retry-After, 500, 503, a read timeout whose write still commits (the emulator answers
   after the client's 0.5 s read timeout), and a connection dropped after a checkout committed;
2. runs the batch (200 rows, one uniquely named item per row) in a **subprocess**, and SIGKILLs it once about half
   of the rows are journaled as done;
3. runs the same file again (and again while some row is still ambiguous) until every row is ordered;
4. counts what the emulator holds: orders, duplicates (a row ordered twice), lost rows (never ordered).

The subprocess runs the very code behind ``cspkit order batch`` (read_batch_file → run_batch_row on a thread pool →
per-row results written atomically, a token-bucket limiter at 475 requests/minute, the journal in a SQLite ledger);
it is started as ``python bench_orders_reliability.py --worker ...`` rather than through the CLI only so that it can
use a 0.5 s read timeout (the CLI keeps Partner Center's default), which makes the emulator's timeout faults real.

Run:  .venv/bin/python benchmarks/bench_orders_reliability.py [--rows 200] [--customers 50] [--fault-share 0.2]
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ITEMS = ["CFQ7TTC0LH18:0001", "CFQ7TTC0LCHC:0002", "CFQ7TTC0LFLZ:0002", "CFQ7TTC0LDPB:0001", "DZH318Z0SA01:0001"]


def worker(args: argparse.Namespace) -> int:
    """One run of the batch (what `cspkit order batch FILE --yes` does), with a short read timeout."""
    from cspkit.client import PartnerCenter
    from cspkit.ledger import Ledger
    from cspkit.workflows.ordering import (
        Ordering,
        RowResult,
        fan_out,
        read_batch_file,
        run_batch_row,
        write_results_atomically,
    )
    from cspkit.workflows.ratelimit import RateLimitedSession, TokenBucket

    session = RateLimitedSession(TokenBucket(475))
    pc = PartnerCenter(endpoint=args.endpoint, access_token=args.token, timeout=(2.0, 0.5), session=session)
    ledger = Ledger(args.db, actor="bench-worker", target="emulator")
    service = Ordering(pc, ledger)
    batch_id, rows = read_batch_file(args.file)
    done: dict[int, RowResult] = {}

    def finished(row, result, error) -> None:
        done[row.number] = result or RowResult(row, "failed", error=str(error))
        write_results_atomically(args.results, list(done.values()))

    fan_out(lambda row: run_batch_row(service, row, batch_id=batch_id), rows, workers=args.workers,
            on_done=finished)
    counts = Counter(r.status for r in done.values())
    print(json.dumps({"statuses": counts, "stats": pc.transport.stats}), flush=True)
    return 0 if set(counts) <= {"ordered", "already_ordered"} else 3


def add_faults(emu, share: float) -> None:
    each = share / 5
    emu.faults.add(action=429, plane="pc", probability=each, retryAfter=1)
    emu.faults.add(action=500, plane="pc", probability=each)
    emu.faults.add(action=503, plane="pc", probability=each)
    emu.faults.add(action="timeout", plane="pc", probability=each, delay=0.8)
    # checkouts are about a third of the calls: drop ~each of all calls, always after the order committed
    emu.faults.add(action="drop", plane="pc", operation="checkout_cart", probability=min(1.0, each * 3))


def done_rows(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("select count(*) from ledger_entry where status = 'done'").fetchone()[0]
    except sqlite3.Error:
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--endpoint"), parser.add_argument("--token"), parser.add_argument("--file")
    parser.add_argument("--db"), parser.add_argument("--results")
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--fault-share", type=float, default=0.2)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    from cspkit.emulator import EmulatorServer

    started = time.perf_counter()
    emu = EmulatorServer().start()
    # a client giving up on a slow answer makes uvicorn log the disconnect with a traceback: expected here
    # (set after start: uvicorn configures its loggers when the server is created)
    logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
    extra = [{"companyName": f"Bench Customer {i:03d}", "domain": f"benchcustomer{i:03d}", "country": "US"}
             for i in range(max(0, args.customers - len(emu.backend.customers)))]
    emu.backend.seed(customers=extra)
    customers = list(emu.backend.customers)[: args.customers]
    work = Path(tempfile.mkdtemp(prefix="cspkit-bench-"))
    batch = work / "bench_orders.csv"
    with batch.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_id", "item", "quantity", "term_duration", "billing_cycle", "friendly_name"])
        for i in range(args.rows):
            writer.writerow([customers[i % len(customers)], ITEMS[(i // len(customers)) % len(ITEMS)], 1 + i % 9,
                             "P1M", "monthly", f"bench-row-{i + 1:04d}"])
    db = work / "ledger.db"
    command = [sys.executable, __file__, "--worker", "--endpoint", emu.url, "--token", emu.token, "--file",
               str(batch), "--db", f"sqlite:///{db}", "--results", str(work / "results.csv"),
               "--workers", str(args.workers)]
    add_faults(emu, args.fault_share)

    # run 1: killed halfway
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    while proc.poll() is None and done_rows(db) < args.rows // 2:
        time.sleep(0.05)
    killed_at = done_rows(db)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    orders_at_kill = len(emu.backend.orders)

    # runs 2..: the same file again until every row is ordered
    runs, retries, throttled, attempts = 1, 0, 0, 0
    code = None
    while code != 0 and runs < 6:
        runs += 1
        out = subprocess.run(command, capture_output=True, text=True, check=False)
        code = out.returncode
        last = json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else {"stats": {}}
        retries += last["stats"].get("retries", 0)
        throttled += last["stats"].get("throttled", 0)
        attempts += last["stats"].get("attempts", 0)
        if code not in (0, 3):
            print(out.stderr[-2000:], file=sys.stderr)
    wall = time.perf_counter() - started

    names = Counter(s.friendly_name for s in emu.backend.subscriptions.values() if s.friendly_name.startswith("bench-"))
    duplicates = sum(n - 1 for n in names.values() if n > 1)
    lost = args.rows - len(names)
    fired = Counter(str(f.get("status")) if f["action"] in ("status", "429") else f["action"] for f in emu.faults.log)
    emu.stop()
    print(f"rows                 {args.rows} across {len(customers)} customers")
    print(f"orders in emulator   {len(emu.backend.orders)}")
    print(f"duplicates           {duplicates}")
    print(f"lost                 {lost}")
    print(f"killed after         {killed_at} rows done ({orders_at_kill} orders in the emulator at the kill)")
    print(f"runs                 {runs} (1 killed + {runs - 1} re-runs of the same file; last exit code {code})")
    print(f"faults injected      {sum(fired.values())} " + json.dumps(dict(sorted(fired.items()))))
    print(f"retries (re-runs)    {retries} transport retries, {throttled} x 429, {attempts} HTTP attempts")
    print(f"wall time            {wall:.1f} s")
    ok = len(emu.backend.orders) == args.rows and duplicates == 0 and lost == 0
    print("RESULT               " + ("PASS: exactly one order per row" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
