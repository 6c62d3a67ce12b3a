"""`cspkit reconcile --invoice`: the Graph export (default) and the v1 line items give the same reconciliation."""

from __future__ import annotations

import json
import os
from decimal import Decimal

from click.testing import CliRunner

from cspkit import PartnerCenter
from cspkit.cli.main import cli

US_CUSTOMER = "9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80"
BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K59J"


def test_graph_is_the_default_and_v1_agrees(emulator, tmp_path, monkeypatch):
    pc = PartnerCenter(endpoint=emulator.url, access_token=emulator.token)
    cart = pc.carts.create(US_CUSTOMER, line_items=[{"catalogItemId": BASIC, "quantity": 7, "termDuration": "P1M",
                                                     "billingCycle": "monthly"}])
    pc.carts.checkout(US_CUSTOMER, cart.id)
    emulator.clock.set("2026-12-08T00:00:00Z")  # November is invoiced on 8 December
    invoice = next(iter(pc.invoices.list()))
    monkeypatch.chdir(tmp_path)
    env = {"CSPKIT_HOME": str(tmp_path / "home"), "CSPKIT_CONFIG": os.devnull,
           "CSPKIT_ENDPOINT": emulator.url, "CSPKIT_ACCESS_TOKEN": emulator.token}
    runs = {}
    for api in ("graph", "v1"):
        args = ["--output", "json", "reconcile", "--invoice", invoice.id, "--out", str(tmp_path / f"{api}.xlsx")]
        if api == "v1":
            args += ["--api", "v1"]
        result = CliRunner().invoke(cli, args, env=env)
        assert result.exit_code == 0, result.output
        runs[api] = json.loads(result.stdout)
    assert runs["graph"]["tieout"] == runs["v1"]["tieout"]
    (row,) = runs["graph"]["tieout"]
    assert (row["InvoiceNumber"], row["Lines"], row["Status"]) == (invoice.id, 1, "ties")
    assert Decimal(row["Total"]) == Decimal(row["InvoiceTotal"]) == Decimal("50.40")  # 7 seats × 7.20
    # the Graph path left its verified blobs (with their .ok sidecars) for the next run
    blobs = sorted((tmp_path / "reports" / "exports").rglob("*.json.gz"))
    assert blobs and all(b.with_name(b.name + ".ok").is_file() for b in blobs)
