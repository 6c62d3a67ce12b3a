"""Benchmark: stream a 1,000,000-line Graph billed reconciliation export from the emulator.

The emulator runs in a child process (so this process's memory is the client's alone) with an invoice of N
synthetic reconciliation lines. This process runs the client flow — request → poll → manifest → parallel blob
download — then streams the gzip JSON Lines blobs into typed DataFrame chunks (cspkit.billing.graph_export
.iter_export_frames), and prints per step: wall time, rows/s, MB/s and the peak memory (max RSS of this process,
resource.getrusage; with --tracemalloc also the Python-heap peak of the streaming step, which slows it down).

Usage:
    python benchmarks/bench_graph_export.py [--lines 1000000] [--chunk-rows 25000] [--workers 4] [--tracemalloc]
        [--full-frame]     # also materialise the whole typed frame (read_export) and print its peak memory
        [--keep DIR]       # keep the downloaded blobs in DIR (for --blobs)
        [--blobs DIR]      # stream the *.json.gz blobs of DIR instead of exporting from the emulator (profiling)
        [--repeat N]       # stream them N times (each run's figures printed)
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _serve(lines: int, queue: mp.Queue, stop: mp.Event) -> None:  # child process
    from cspkit.emulator import EmulatorServer, graph
    from cspkit.emulator.backend import DEFAULT_NOW

    with EmulatorServer(now=DEFAULT_NOW, policy="current") as emu:
        if not any(getattr(r, "path", "").endswith("/operations/{operation_id}") for r in emu.app.api.routes):
            emu.app.api.include_router(graph.router)
        invoice = emu.backend.add_synthetic_invoice(lines=lines, currency="USD")
        queue.put((emu.url, emu.token, invoice.id))
        stop.wait()


def stream(paths: list, args: argparse.Namespace) -> int:
    """Stream the blobs into typed chunks once and print the figures (wall, CPU, load, peak memory)."""
    from cspkit.billing.graph_export import iter_export_frames

    if args.tracemalloc:
        tracemalloc.start()
    load = os.getloadavg()
    t3, c3 = time.perf_counter(), time.process_time()
    rows = 0
    total = 0
    for frame in iter_export_frames(paths, kind="invoice", chunk_rows=args.chunk_rows):
        rows += len(frame)
        total += frame["Total"].sum()  # exact: Arrow's decimal128 sum
    t4, c4 = time.perf_counter(), time.process_time()
    traced = ""
    if args.tracemalloc:
        traced = f"   tracemalloc peak {tracemalloc.get_traced_memory()[1] / 2**20:,.0f} MiB"
        tracemalloc.stop()
    print(f"stream → typed chunks of {args.chunk_rows:,}: {rows:,} rows in {t4 - t3:6.1f} s "
          f"= {rows / max(t4 - t3, 1e-9):,.0f} rows/s   max RSS {peak_mb():,.0f} MB{traced}")
    print(f"  CPU {c4 - c3:.1f} s (all threads) = {rows / max(c4 - c3, 1e-9):,.0f} rows per CPU-second; "
          f"load average before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores "
          "(the machine is shared: wall figures need a quiet one)")
    print(f"  Σ Total = {total} USD")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=25_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--full-frame", action="store_true")
    parser.add_argument("--keep", type=Path, help="keep the downloaded blobs in this folder")
    parser.add_argument("--blobs", type=Path, help="stream the blobs of this folder (no emulator)")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    if args.blobs is not None:
        paths = sorted(args.blobs.glob("*.json.gz"))
        size = sum(p.stat().st_size for p in paths)
        print(f"{len(paths)} blobs of {args.blobs}, {size / 1e6:,.1f} MB gzip (--lines is not checked)")
        for _ in range(args.repeat):
            stream(paths, args)
        return

    ctx = mp.get_context("spawn")
    queue, stop = ctx.Queue(), ctx.Event()
    child = ctx.Process(target=_serve, args=(args.lines, queue, stop), daemon=True)
    child.start()
    url, token, invoice_id = queue.get(timeout=120)

    from cspkit.billing.graph_export import read_export
    from cspkit.client import PartnerCenter

    out = Path(tempfile.mkdtemp(prefix="bench-graph-export-"))
    print(f"emulator {url} (child process), invoice {invoice_id} with {args.lines:,} lines; blobs in {out}")
    print(f"baseline max RSS {peak_mb():,.0f} MB (interpreter + pandas/pyarrow imports)")
    try:
        pc = PartnerCenter(endpoint=url, access_token=token)
        pc.settings = pc.settings.with_overrides(graph_endpoint=url)
        exports = pc.billing_exports
        exports.workers = args.workers

        t0 = time.perf_counter()
        operation = exports.wait(exports.request_export("billed-reconciliation", invoice_id=invoice_id))
        t1 = time.perf_counter()
        manifest = exports.get_manifest(operation)
        blobs = exports.download(manifest, out)
        t2 = time.perf_counter()
        size = sum(b.size for b in blobs)
        print(f"export (emulator writes {manifest.blob_count} blobs; polls honour Retry-After): {t1 - t0:6.1f} s")
        print(f"download {len(blobs)} blobs, {size / 1e6:,.1f} MB gzip, {args.workers} workers: {t2 - t1:6.1f} s "
              f"({size / 1e6 / max(t2 - t1, 1e-9):,.1f} MB/s)   max RSS {peak_mb():,.0f} MB")

        paths = [b.path for b in blobs]
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            for path in paths:
                shutil.copy(path, args.keep / Path(path).name)
        for _ in range(args.repeat):
            rows = stream(paths, args)
            if rows != args.lines:
                raise SystemExit(f"expected {args.lines:,} rows, streamed {rows:,}")

        if args.full_frame:
            t5 = time.perf_counter()
            report = read_export(paths, kind="invoice")
            t6 = time.perf_counter()
            print(f"read_export (whole typed frame, {len(report.frame):,} rows): {t6 - t5:6.1f} s "
                  f"= {len(report.frame) / max(t6 - t5, 1e-9):,.0f} rows/s   max RSS {peak_mb():,.0f} MB")
        pc.close()
    finally:
        stop.set()
        child.join(timeout=30)
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
