"""`cspkit reconcile --invoice ID --api v1` on the columnar pages: the same tie-out and variance counts as the item
dicts gave, the progress advanced once per page by its lines, and with --keep-workdir the lines' Parquet dataset
left in --workdir."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pyarrow.parquet as pq
import pytest
import requests
from click.testing import CliRunner

from cspkit.billing.exports import v1_lines_to_frame
from cspkit.billing.reconcile import reconcile
from cspkit.cli.main import cli
from cspkit.client import PartnerCenter
from cspkit.workflows.reconciliation import invoice_subscriptions

LINES = 4500  # three pages of at most 2000: 2000, 2000, 500


class Recorder:
    """Stands in for the rich progress of cspkit.cli.billing: records the tasks and their updates."""

    def __init__(self) -> None:
        self.tasks: dict[int, str] = {}
        self.updates: list[tuple[int, dict[str, Any]]] = []
        self.removed: list[int] = []

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, description: str, total: Any = None) -> int:
        self.tasks[len(self.tasks)] = description
        return len(self.tasks) - 1

    def update(self, task: int, **fields: Any) -> None:
        self.updates.append((task, fields))

    def remove_task(self, task: int) -> None:
        self.removed.append(task)


@pytest.fixture
def synthetic(emulator, emulator_env):
    """An emulator invoice of LINES generated lines: (env, invoice id, the dict path's result)."""
    made = requests.post(f"{emulator.url}/_emulator/recon/synthetic", json={"lines": LINES, "currency": "USD"},
                         timeout=30).json()
    invoice_id = made["invoiceId"]
    pc = PartnerCenter(endpoint=emulator.url, access_token=emulator.token)
    try:  # what `cspkit reconcile --invoice --api v1` computed before: the item dicts through v1_lines_to_frame
        lines = v1_lines_to_frame(pc.invoices.reconciliation_line_items(invoice_id), source=invoice_id)
        before = reconcile(lines, subscriptions=invoice_subscriptions(pc, lines),
                           invoices=[pc.invoices.get(invoice_id)])
    finally:
        pc.close()
    return emulator_env, invoice_id, before


def run(env: dict[str, str], invoice_id: str, *extra: str) -> Any:
    return CliRunner().invoke(cli, ["--output", "json", "reconcile", "--invoice", invoice_id, "--api", "v1",
                                    "--fail-on", "never", *extra], env=env)


def test_v1_pages_give_the_same_result_and_advance_the_progress_per_page(synthetic, tmp_path, monkeypatch):
    env, invoice_id, before = synthetic
    recorder = Recorder()
    monkeypatch.setattr("cspkit.cli.billing._progress", lambda enabled: recorder)
    result = run(env, invoice_id, "--out", str(tmp_path / "report.parquet"))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)

    (row,) = data["tieout"]
    (expected,) = before.tieout.to_dict("records")
    assert (row["InvoiceNumber"], row["Lines"], row["Status"]) == (invoice_id, LINES, expected["Status"])
    for column in ("Subtotal", "TaxTotal", "Total", "InvoiceTotal", "Difference"):
        assert Decimal(str(row[column])) == Decimal(str(expected[column])), column
    counts = before.variance_counts[before.variance_counts["Count"] > 0]
    assert {v["Category"]: v["Count"] for v in data["variances"]} == dict(zip(counts["Category"], counts["Count"],
                                                                             strict=True))
    assert data["variances"]  # the generated lines match no subscription: counts to compare

    (task,) = recorder.tasks
    assert invoice_id in recorder.tasks[task] and "v1" in recorder.tasks[task]
    assert [f["advance"] for _, f in recorder.updates] == [2000, 2000, 500]  # one update per page, by its lines
    assert [f["description"].rsplit(": ", 1)[1] for _, f in recorder.updates] == [
        "2,000 lines", "4,000 lines", "4,500 lines"]
    assert recorder.removed == [task]
    assert f"invoice {invoice_id}: 4,500 lines from the v1 line-item API" in result.stderr


def test_keep_workdir_leaves_the_v1_lines_parquet_dataset(synthetic, tmp_path):
    env, invoice_id, _ = synthetic
    result = run(env, invoice_id, "--out", str(tmp_path / "report.csv"), "--workdir", str(tmp_path / "work"),
                 "--keep-workdir")
    assert result.exit_code == 0, result.output
    (folder,) = (tmp_path / "work").glob("reconcile-*")
    assert f"the lines' Parquet dataset is kept in {folder}" in result.stderr
    table = pq.read_table(sorted(folder.glob("lines-*.parquet")))
    assert table.num_rows == LINES
    assert set(table.column("SourceFile").to_pylist()) == {invoice_id}
    assert table.column("SourceRow").to_pylist() == list(range(1, LINES + 1))

    again = run(env, invoice_id, "--out", str(tmp_path / "again.csv"), "--workdir", str(tmp_path / "gone"))
    assert again.exit_code == 0, again.output
    assert list((tmp_path / "gone").iterdir()) == []  # without --keep-workdir the dataset is removed
