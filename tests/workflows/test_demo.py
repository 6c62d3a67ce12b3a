"""`cspkit demo` as a new user runs it: a subprocess, its printed steps, and the workbook it leaves."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from decimal import Decimal

import openpyxl


def test_demo_runs_the_month_and_leaves_a_matching_workbook(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CSPKIT_HOME": str(tmp_path / "home"),
           "CSPKIT_CONFIG": os.devnull}
    done = subprocess.run([sys.executable, "-m", "cspkit", "demo"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = done.stdout

    # every step of the month, with its result
    assert "not real Partner Center" in out
    assert "Contoso Dental Group" in out
    assert re.search(r"SaaS offer: .+ by ", out)
    assert "publisher says: Your subscription is active" in out
    assert re.search(r"subscription [0-9a-f-]{36}: active", out)
    assert "done: 10 → 15; done: 15 → 12" in out
    assert "auto-renew True → False" in out
    assert "refused before calling Partner Center: the cancellation window" in out
    assert "closed at 2026-11-09 09:00 UTC" in out
    summary = re.search(r"Summary: invoice (G\d{9}) ([\d.]+) USD; (\d+) lines totalling ([\d.]+) \((\w+)\); "
                        r"variances: (\d+); workbook: (\S+)", out)
    assert summary, out
    invoice_id, invoice_total, n_lines, lines_total, status, n_variances, workbook = summary.groups()
    assert status == "ties" and Decimal(invoice_total) == Decimal(lines_total)
    assert n_variances == "0"  # the emulator bills term price ÷ billing periods, as the price sheet's rule says
    assert "Done: the emulator is stopped" in out
    # the Azure plan's month: usage tied to the invoice, the PEC loss and the spike found
    assert re.search(r"invoice tie, subscription [0-9a-f-]{36}: daily [\d.]+ vs invoice [\d.]+ USD: ties", out), out
    assert "only on invoice" not in out and "differs" not in out
    assert re.search(r"PEC lost: Azure subscription [0-9a-f-]{36} from 2026-11-16, [\d.]+ USD at stake", out), out
    assert len(re.findall(r"anomaly: ", out)) == 1 and "anomaly: spend spike on 2026-11-21" in out

    # the workbook holds the values printed
    path = tmp_path / workbook
    assert path.parent == tmp_path / "reports"
    book = openpyxl.load_workbook(path, read_only=True)
    assert {"Summary", "Variances", "Customers", "Line items"} <= set(book.sheetnames)
    summary_rows = [r for r in book["Summary"].iter_rows(values_only=True) if r and r[0] == invoice_id]
    assert len(summary_rows) == 1
    _, currency, lines, _subtotal, _tax, total, invoice_total_cell, difference, tie = summary_rows[0][:9]
    assert (currency, lines, tie) == ("USD", int(n_lines), "ties")
    assert Decimal(str(total)) == Decimal(lines_total) and Decimal(str(invoice_total_cell)) == Decimal(invoice_total)
    assert Decimal(str(difference)) == 0
    line_rows = list(book["Line items"].iter_rows(values_only=True))
    assert len(line_rows) - 1 == int(n_lines)
    variance_rows = list(book["Variances"].iter_rows(values_only=True))
    assert len(variance_rows) - 1 == int(n_variances)
    # nothing left in the temp dirs but what the user asked for
    usage_book = tmp_path / "reports" / f"demo-azure-usage-{invoice_id}.xlsx"
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == sorted([path.name, usage_book.name])
    assert "PEC" in openpyxl.load_workbook(usage_book, read_only=True).sheetnames
