"""Tables for people (issue 19): GUIDs whole on one line at 100 and 120 columns, columns dropped (and named) rather
than folded, ``--wide`` shows every column, money with its currency, readable times; JSON and CSV unchanged."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from click.testing import CliRunner

from cspkit.cli.main import cli
from cspkit.cli.output import GUID_PATTERN, emit, format_money, format_time

CONTOSO = "9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80"
HEX = re.compile(r"[0-9a-f]{4,}(?:-[0-9a-f]{2,})+|[0-9a-f]{2,}(?:-[0-9a-f]{2,})*-")


pytestmark = pytest.mark.usefixtures("no_backoff")


@pytest.fixture
def run(emulator_env):
    env = emulator_env

    def invoke(*args: str, columns: int | None = None):
        result = CliRunner().invoke(cli, list(args), env={**env, "COLUMNS": str(columns) if columns else ""})
        assert result.exit_code == 0, result.output
        return result

    for item in ("CFQ7TTC0LH18:0001", "DZH318Z0SA01:0001"):
        invoke("--yes", "-o", "json", "order", "place", "--customer", CONTOSO, "--item", item, "--quantity", "5",
               "--term", "P1M", "--billing", "monthly")
    return invoke


def guid_fragments(text: str) -> list[str]:
    """Pieces of GUIDs left over once every whole GUID is taken out (a folded GUID leaves some)."""
    rest = GUID_PATTERN.sub(" ", text)
    return [m for m in re.findall(r"[0-9a-f]{8}-[0-9a-f-]*|[0-9a-f-]*-[0-9a-f]{12}\b", rest)]


@pytest.mark.parametrize("columns", [100, 120])
@pytest.mark.parametrize("command", [("subscriptions", "list", "--customer", CONTOSO), ("ledger", "list"),
                                     ("audit",)])
def test_every_guid_is_whole_on_one_line(run, command, columns):
    wire = run("-o", "json", *command).stdout
    expected = set(GUID_PATTERN.findall(wire))
    assert expected, "the command lists GUIDs"
    result = run(*command, columns=columns)
    lines = result.stdout.splitlines()
    assert all(len(line) <= columns for line in lines), "\n".join(lines)
    shown = set(GUID_PATTERN.findall(result.stdout))
    assert shown and shown <= expected
    assert guid_fragments(result.stdout) == [], result.stdout
    if len(shown) < len(expected - {CONTOSO}):
        assert "left out to fit" in result.stderr and "--wide" in result.stderr


def test_subscriptions_list_drops_the_customer_column_its_title_names_first(run):
    result = run("subscriptions", "list", "--customer", CONTOSO, columns=100)
    header = next(line for line in result.stdout.splitlines() if line.startswith("┃"))
    assert "customer_id" not in header and " id " in header and "quantity" in header
    assert "customer_id" in result.stderr  # named as left out


def test_wide_shows_every_column_and_csv_json_are_unchanged(run):
    wide = run("--wide", "ledger", "list", columns=100)
    header = next(line for line in wide.stdout.splitlines() if line.startswith("┃"))
    for column in ("customer_id", "cart_id", "order_ids", "batch_id", "error"):
        assert column in header
    assert "left out" not in wide.stderr
    after = run("ledger", "list", "--full-ids", columns=100)  # the alias, after the subcommand
    assert "cart_id" in after.stdout
    rows = list(csv.DictReader(io.StringIO(run("-o", "csv", "ledger", "list", columns=80).stdout)))
    assert rows and all(GUID_PATTERN.fullmatch(r["customer_id"]) for r in rows)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", rows[0]["created_at"])  # ISO kept for pipes
    entries = json.loads(run("-o", "json", "ledger", "list", columns=80).stdout)
    assert entries[0]["created_at"].endswith("Z")


def test_table_money_carries_its_currency_and_times_read_plainly(capsys):
    rows = [{"Id": "G1", "When": datetime(2026, 12, 8, 0, 0, tzinfo=UTC), "At": "2026-11-02T09:30:00Z",
             "Total": Decimal("-69.6"), "Price": Decimal("0.01234"), "Currency": "EUR"}]
    emit(rows, columns=["Id", "When", "At", "Total", "Price", "Currency"], fmt="table",
         money={"Total": "Currency", "Price": "Currency"})
    out = capsys.readouterr().out
    assert "-69.60 EUR" in out and "0.01234 EUR" in out
    assert "2026-12-08" in out and "2026-11-02 09:30 UTC" in out and "T09:30" not in out
    emit(rows, columns=["Total", "Currency"], fmt="csv", money={"Total": "Currency"})
    assert capsys.readouterr().out == "Total,Currency\n-69.6,EUR\n"


@pytest.mark.parametrize(("amount", "currency", "text"), [
    (Decimal("7.2"), "USD", "7.20 USD"), (Decimal("-1234.5"), "EUR", "-1,234.50 EUR"), ("5.04", None, "5.04"),
    (Decimal("0.000123"), "USD", "0.000123 USD"), (None, "USD", ""), ("n/a", "USD", "n/a"), (0, "GBP", "0.00 GBP"),
])
def test_format_money(amount, currency, text):
    assert format_money(amount, currency) == text


@pytest.mark.parametrize(("value", "text"), [
    (datetime(2026, 11, 2, 9, 0, tzinfo=UTC), "2026-11-02 09:00 UTC"),
    (datetime(2026, 11, 2, 9, 0, 5, tzinfo=UTC), "2026-11-02 09:00:05 UTC"),
    (date(2026, 11, 30), "2026-11-30"), ("2026-12-08T00:00:00Z", "2026-12-08"),
    ("2026-11-02T09:00:00+00:00", "2026-11-02 09:00 UTC"), ("not a time", "not a time"),
])
def test_format_time(value, text):
    assert format_time(value) == text


def test_a_narrow_table_never_cuts_a_guid_even_in_text(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    rows = [{"id": CONTOSO, "note": f"moved to tenant {CONTOSO} yesterday after a long discussion with support"}]
    emit(rows, columns=["id", "note"], fmt="table", title=f"Entries of tenant {CONTOSO}")
    out = capsys.readouterr()
    assert guid_fragments(out.out) == [] and out.out.count(CONTOSO) >= 2
    assert all(len(line) <= 60 for line in out.out.splitlines())
