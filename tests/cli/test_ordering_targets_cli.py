"""Issue 12 items 1 and 4 through the CLI: keys per target (emulator instances, reset), batch files as people write
them (duplicates, ';' files, add-ons), `ledger list --target`, `ledger resume` on the current target only."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cspkit.cli.main import cli
from cspkit.emulator.backend import DEFAULT_NOW
from cspkit.emulator.server import EmulatorServer
from cspkit.emulator.state import load_file

CONTOSO = "9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80"
FOURTH = "2f7b9c14-3a8d-4e6f-b1c2-d3e4f5a6b7c8"
BASIC = "CFQ7TTC0LH18:0001"
BASE_E3 = "CFQ7TTC0LFLZ:0002"
ADDON = "CFQ7TTC0HDK0:0001"  # Advanced Communications: an add-on needing a qualifying base (E3 among them)


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr("cspkit.retry.random.uniform", lambda low, high: 0.0)


@pytest.fixture
def home(tmp_path):
    """One CSPKIT_HOME (so one ledger) shared by every target of a test; an empty config file."""
    (tmp_path / "config.toml").write_text("")
    return tmp_path


def runner(home: Path, emulator: EmulatorServer | None = None):
    """``cspkit`` against ``emulator`` (served, loopback) — or the embedded emulator of ``home`` when None."""
    env = {"CSPKIT_HOME": str(home), "CSPKIT_CONFIG": str(home / "config.toml"), "CSPKIT_DATABASE_URL": "",
           "CSPKIT_ENDPOINT": "", "CSPKIT_ACCESS_TOKEN": "", "CSPKIT_PROFILE": ""}
    if emulator is not None:
        env.update(CSPKIT_ENDPOINT=emulator.url, CSPKIT_ACCESS_TOKEN=emulator.token)

    def invoke(*args: str):
        return CliRunner().invoke(cli, list(args), env=env)

    return invoke


def write_batch(path: Path, rows: list[list[str]], *, delimiter: str = ",",
                header: tuple[str, ...] = ("customer_id", "item", "quantity", "term", "billing", "friendly_name")):
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def statuses(path: Path) -> list[str]:
    return [r["status"] for r in csv.DictReader(path.open())]


def lines_ordered(backend) -> list[tuple[str, int]]:
    return sorted((o.customer_id, line.quantity) for o in backend.orders.values() for line in o.lines)


ROWS = [[CONTOSO, BASIC, "3", "P1M", "monthly", "front desk"], [FOURTH, BASIC, "4", "P1M", "monthly", ""]]


# -- item 1: a rehearsal never blocks the real run -----------------------------------------------------------------
def test_a_batch_rehearsed_on_one_emulator_is_ordered_once_on_another_and_again_after_reset(home):
    batch = write_batch(home / "orders.csv", ROWS)
    embedded = runner(home)
    first = embedded("--yes", "order", "batch", str(batch))
    assert first.exit_code == 0, first.output
    assert statuses(home / "orders.results.csv") == ["ordered", "ordered"]
    rehearsal_instance = load_file(home / "emulator-state.json")["instance_id"]

    with EmulatorServer(now=DEFAULT_NOW) as other:  # another target: a served emulator, same ledger
        served = runner(home, other)
        real = served("--yes", "order", "batch", str(batch))
        assert real.exit_code == 0, real.output
        assert statuses(home / "orders.results.csv") == ["ordered", "ordered"]
        assert lines_ordered(other.backend) == sorted([(CONTOSO, 3), (FOURTH, 4)])
        rerun = served("--yes", "order", "batch", str(batch))
        assert rerun.exit_code == 0 and statuses(home / "orders.results.csv") == ["already_ordered"] * 2
        assert len(other.backend.orders) == 2  # exactly once there

    again = embedded("--yes", "order", "batch", str(batch))  # the rehearsal emulator still knows its rows
    assert statuses(home / "orders.results.csv") == ["already_ordered"] * 2, again.output
    assert embedded("emulator", "reset").exit_code == 0
    assert load_file(home / "emulator-state.json")["instance_id"] != rehearsal_instance
    after_reset = embedded("--yes", "order", "batch", str(batch))
    assert after_reset.exit_code == 0, after_reset.output
    assert statuses(home / "orders.results.csv") == ["ordered", "ordered"]
    assert len(load_file(home / "emulator-state.json")["orders"]) == 2  # the reset emulator got them again


def test_order_place_key_is_per_target(home):
    args = ("--yes", "-o", "json", "order", "place", "--customer", CONTOSO, "--item", BASIC, "--quantity", "2",
            "--term", "P1M", "--billing", "monthly", "--key", "ticket-7")
    with EmulatorServer(now=DEFAULT_NOW) as a, EmulatorServer(now=DEFAULT_NOW) as b:
        assert a.backend.instance_id != b.backend.instance_id
        assert runner(home, a)(*args).exit_code == 0
        replay = runner(home, a)(*args)
        assert replay.exit_code == 0 and "nothing was ordered now" in replay.stderr
        on_b = runner(home, b)(*args)
        assert on_b.exit_code == 0 and "nothing was ordered now" not in on_b.stderr, on_b.output
        assert (len(a.backend.orders), len(b.backend.orders)) == (1, 1)
        b.reset()  # what `POST /_emulator/reset` does: a new instance
        assert runner(home, b)(*args).exit_code == 0
        assert len(b.backend.orders) == 1 and len(a.backend.orders) == 1


def test_ledger_list_shows_and_filters_the_target_and_resume_stays_on_its_own(home):
    with EmulatorServer(now=DEFAULT_NOW) as a, EmulatorServer(now=DEFAULT_NOW) as b:
        place = ("--yes", "order", "place", "--customer", CONTOSO, "--item", BASIC, "--quantity", "1", "--term",
                 "P1M", "--billing", "monthly")
        assert runner(home, a)(*place).exit_code == 0
        b.faults.add(action="reset", operation="checkout_cart")  # B's checkout never answers: left unknown
        assert runner(home, b)(*place).exit_code == 1
        on_a = json.loads(runner(home, a)("-o", "json", "ledger", "list").stdout)
        assert [(e["status"], e["target_instance"]) for e in on_a] == [("done", a.backend.instance_id)]
        everything = json.loads(runner(home, a)("-o", "json", "ledger", "list", "--target", "all").stdout)
        assert {e["target_instance"] for e in everything} == {a.backend.instance_id, b.backend.instance_id}
        by_text = json.loads(runner(home, a)("-o", "json", "ledger", "list", "--target",
                                             b.backend.instance_id[:8]).stdout)
        assert [e["status"] for e in by_text] == ["unknown"]
        table = runner(home, a)("ledger", "list", "--target", "all").stdout
        assert "emulator" in table and "target" in table

        assert "Nothing to resume" in runner(home, a)("--yes", "ledger", "resume").stderr  # B's entry untouched
        foreign = runner(home, a)("--yes", "ledger", "resume", str(by_text[0]["id"]))
        assert foreign.exit_code == 2 and "another target" in foreign.stderr
        assert len(b.backend.orders) == 0
        b.faults.clear()
        resumed = runner(home, b)("--yes", "ledger", "resume")
        assert resumed.exit_code == 0, resumed.output
        assert len(b.backend.orders) == 1 and len(a.backend.orders) == 1


# -- item 4: batch files as people write them ----------------------------------------------------------------------
def test_identical_rows_are_refused_before_anything_is_ordered_unless_allowed(home, emulator):
    rows = [ROWS[0], ROWS[1], ROWS[0], [CONTOSO, BASIC, "3", "P1M", "monthly", "back office"]]
    batch = write_batch(home / "dupes.csv", rows)
    run = runner(home, emulator)
    refused = run("--yes", "order", "batch", str(batch))
    assert refused.exit_code == 2, refused.output
    assert "lines 2, 4" in refused.stderr and "--allow-duplicates" in refused.stderr
    assert emulator.backend.orders == {}
    allowed = run("--yes", "order", "batch", str(batch), "--allow-duplicates")
    assert allowed.exit_code == 0, allowed.output
    assert len(emulator.backend.orders) == 4
    keyed = home / "keyed.csv"
    write_batch(keyed, [[*ROWS[0], "k1"], [*ROWS[0], "k2"]],
                header=("customer_id", "item", "quantity", "term", "billing", "friendly_name", "key"))
    assert run("--yes", "order", "batch", str(keyed)).exit_code == 0  # distinct keys: two orders on purpose
    assert len(emulator.backend.orders) == 6


def test_semicolon_files_from_european_excel_are_read(home, emulator):
    batch = home / "bestellung.csv"
    text = "Customer ID;Item;Quantity;Term;Billing;Friendly name\r\n" + \
        f"{CONTOSO};{BASIC};2;P1M;Monthly;Empfang Zürich\r\n{FOURTH};{BASIC};1;p1m;monthly;\r\n"
    batch.write_bytes(text.encode("cp1252"))  # Excel's "CSV (semicolon)" in a Western European locale
    result = runner(home, emulator)("--yes", "order", "batch", str(batch))
    assert result.exit_code == 0, result.output
    assert sorted(line.quantity for o in emulator.backend.orders.values() for line in o.lines) == [1, 2]
    names = {s.friendly_name for s in emulator.backend.subscriptions.values()}
    assert "Empfang Zürich" in names


def test_a_header_matching_nothing_names_the_delimiter_seen(home, emulator):
    batch = home / "wrong.csv"
    batch.write_text("Kunde;Artikel;Menge\nc1;P:S;1\n")
    result = runner(home, emulator)("--yes", "order", "batch", str(batch))
    assert result.exit_code == 2
    assert "semicolon" in result.stderr and "customer_id, item, quantity" in result.stderr
    assert emulator.backend.orders == {}


def test_add_on_rows_and_order_place_parent_subscription(home, emulator):
    run = runner(home, emulator)
    base = run("--yes", "-o", "json", "order", "place", "--customer", FOURTH, "--item", BASE_E3, "--quantity", "10",
               "--term", "P1Y", "--billing", "annual")
    assert base.exit_code == 0, base.output
    [base_sub] = [s for s in emulator.backend.subscriptions.values() if s.customer_id == FOURTH]
    header = ("customer_id", "item", "quantity", "term", "billing", "friendly_name", "parent_subscription_id")
    batch = write_batch(home / "addons.csv", [[FOURTH, ADDON, "5", "P1M", "monthly", "", base_sub.id],
                                             [FOURTH, ADDON, "2", "P1M", "monthly", "", ""]], header=header)
    result = run("--yes", "order", "batch", str(batch))
    assert result.exit_code == 3, result.output
    results = list(csv.DictReader((home / "addons.results.csv").open()))
    assert [r["status"] for r in results] == ["ordered", "failed"]
    assert results[0]["parent_subscription_id"] == base_sub.id
    assert "parentSubscriptionId" in results[1]["error"]  # Partner Center (the emulator) wants the base
    [addon] = [s for s in emulator.backend.subscriptions.values() if s.parent_subscription_id == base_sub.id]
    assert (addon.quantity, addon.product_id) == (5, ADDON.split(":")[0])

    one = run("--yes", "-o", "json", "order", "place", "--customer", FOURTH, "--item", ADDON, "--quantity", "1",
              "--term", "P1M", "--billing", "monthly", "--parent-subscription", base_sub.id)
    assert one.exit_code == 0, one.output
    assert len([s for s in emulator.backend.subscriptions.values() if s.parent_subscription_id == base_sub.id]) == 2

    bad = home / "badparent.csv"
    write_batch(bad, [[FOURTH, ADDON, "1", "P1M", "monthly", "", "not-a-guid"]], header=header)
    refused = run("--yes", "order", "batch", str(bad))
    assert refused.exit_code == 2 and "parent_subscription_id" in refused.stderr
