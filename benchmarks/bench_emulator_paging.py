"""Page 1,000,000 reconciliation line items out of the emulator over HTTP and print rows/s.

The emulator runs as ``cspkit emulator serve`` in its own process (as a client would meet it; in-process the client
and the server would share one GIL). The lines come from the emulator's benchmark hook
(``POST /_emulator/recon/synthetic``): an invoice whose lines are generated on demand, page by page, in the same
47-column wire shape as recorded charges. Two clients, both doing what the Partner Center SDK does (GET with
``size=2000``, then follow ``links.next`` sending its ``MS-ContinuationToken`` header, until there is no next link):

* ``--client cspkit`` (default): ``pc.invoices.line_items(id, raw=True)``, cspkit's fast path (pages decoded by
  orjson, no model per line); with ``--frame`` the items also become the typed reconciliation frame
  (``cspkit.billing.exports.v1_lines_to_frame``, column by column) and that time is printed apart;
* ``--client cspkit --arrow``: ``pc.invoices.line_item_batches(id)``, the columnar path (each page body parsed by
  Arrow's JSON reader into one table, no dict per line); with ``--frame`` through
  ``cspkit.billing.exports.v1_batches_to_frame``; ``--arrow both`` runs the dict mode then the Arrow mode back to
  back on the same emulator (the machine is shared: compare modes measured together);
* ``--client plain``: plain ``requests`` + ``Response.json()`` (the figure before the fast path).

    python benchmarks/bench_emulator_paging.py [--lines 1000000] [--size 2000] [--client cspkit|plain]
        [--arrow [both]] [--frame]

The machine may be shared: the load average is printed next to the figures, and the client's CPU seconds.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


SERVER: dict[str, int] = {}


def server_cpu() -> float:
    """CPU seconds the emulator's process has used so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{SERVER['pid']}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, KeyError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def served_emulator():
    """``cspkit emulator serve --port 0`` in a child process: yields (url, token); its pid in ``SERVER``."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "cspkit", "emulator", "serve", "--port", "0"],
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        line = ""
        while "listening on" not in line:
            line = proc.stderr.readline()
            if not line:
                raise RuntimeError("the emulator did not start")
        url = re.search(r"listening on (\S+) ", line).group(1)
        token = re.search(r"bearer token '([^']+)'", proc.stderr.readline()).group(1)
        SERVER["pid"] = proc.pid
        yield url, token
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--size", type=int, default=2000, help="page size (Partner Center's maximum is 2000)")
    parser.add_argument("--client", choices=("cspkit", "plain"), default="cspkit")
    parser.add_argument("--frame", action="store_true", help="also build the typed frame (cspkit client)")
    parser.add_argument("--arrow", nargs="?", const="only", choices=("only", "both"),
                        help="cspkit client: pages parsed by Arrow (columnar); 'both': dict mode, then Arrow mode")
    args = parser.parse_args()
    if args.client == "cspkit":
        return cspkit_client(args)

    with served_emulator() as (base, token):
        made = requests.post(f"{base}/_emulator/recon/synthetic", json={"lines": args.lines, "currency": "USD"},
                             timeout=30).json()
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        url = (f"{base}/v1/invoices/{made['invoiceId']}/lineitems"
               f"?provider=onetime&invoicelineitemtype=billinglineitems&size={args.size}")
        headers: dict[str, str] = {}
        rows = pages = nbytes = 0
        seen_first = seen_last = None
        start = time.perf_counter()
        while True:
            resp = session.get(url, headers=headers, timeout=60)
            resp.raise_for_status()
            nbytes += len(resp.content)
            body = resp.json()
            items = body["items"]
            rows += len(items)
            pages += 1
            if seen_first is None:
                seen_first = items[0]["referenceId"]
            seen_last = items[-1]["referenceId"] if items else seen_last
            nxt = body["links"].get("next")
            if not nxt:
                break
            url = base + "/v1" + nxt["uri"]
            headers = {h["key"]: h["value"] for h in nxt["headers"]}
        elapsed = time.perf_counter() - start
    assert rows == args.lines, f"paged {rows} rows, expected {args.lines}"
    print(f"paged {rows:,} reconciliation line items in {pages:,} pages of {args.size} "
          f"({nbytes / 1e6:,.0f} MB of JSON) in {elapsed:.1f} s")
    print(f"{rows / elapsed:,.0f} rows/s, {pages / elapsed:,.1f} pages/s, {nbytes / 1e6 / elapsed:,.1f} MB/s")
    print(f"first referenceId {seen_first}, last {seen_last}")


def cspkit_client(args: argparse.Namespace) -> None:
    from cspkit.client import PartnerCenter

    with served_emulator() as (base, token):
        made = requests.post(f"{base}/_emulator/recon/synthetic", json={"lines": args.lines, "currency": "USD"},
                             timeout=30).json()
        pc = PartnerCenter(endpoint=base, access_token=token)
        modes = {None: ["dicts"], "only": ["arrow"], "both": ["dicts", "arrow"]}[args.arrow]
        for mode in modes:
            run_mode(pc, made["invoiceId"], mode, args)
        pc.close()


def run_mode(pc, invoice_id: str, mode: str, args: argparse.Namespace) -> None:
    """Page every line once in ``mode`` (``dicts``: orjson pages, raw items; ``arrow``: a table per page) and print
    rows/s, client and emulator CPU and the load average; with ``--frame``, page again into the typed frame."""
    from cspkit.billing.exports import v1_batches_to_frame, v1_lines_to_frame

    def pages():
        if mode == "arrow":
            return pc.invoices.line_item_batches(invoice_id, currency="USD", page_size=args.size)
        return (page.items for page in
                pc.invoices.line_items(invoice_id, currency="USD", page_size=args.size, raw=True).pages())

    load = os.getloadavg()
    start, cpu, served = time.perf_counter(), time.process_time(), server_cpu()
    rows = 0
    for items in pages():
        rows += len(items)  # streamed: a page at a time, as an ingest would
    elapsed, cpu, served = time.perf_counter() - start, time.process_time() - cpu, server_cpu() - served
    assert rows == args.lines, f"paged {rows} rows, expected {args.lines}"
    what = "Arrow table per page" if mode == "arrow" else "orjson pages, raw item dicts"
    print(f"cspkit client, {mode} mode ({what}, read ahead): paged {rows:,} line items in {elapsed:.1f} s = "
          f"{rows / elapsed:,.0f} rows/s")
    print(f"  CPU: client {cpu:.1f} s, emulator {served:.1f} s (pages overlap: on two idle cores the wall time is "
          f"bounded below by the larger, i.e. at most {rows / max(cpu, served, 1e-9):,.0f} rows/s); load average "
          f"before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, after {os.getloadavg()[0]:.2f} on {os.cpu_count()} "
          f"cores")
    if args.frame:
        start, cpu = time.perf_counter(), time.process_time()
        if mode == "arrow":
            frame = v1_batches_to_frame(pages(), source=invoice_id)
        else:
            frame = v1_lines_to_frame((item for items in pages() for item in items), source=invoice_id)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        print(f"  paging again straight into the typed frame ({frame.shape[1]} columns, streamed): {elapsed:.1f} s "
              f"= {len(frame) / elapsed:,.0f} rows/s (client CPU {cpu:.1f} s); Σ Total {frame['Total'].sum()}")


if __name__ == "__main__":
    main()
