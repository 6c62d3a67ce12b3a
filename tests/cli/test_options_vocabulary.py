"""One option vocabulary across commands (issue 19): periods ``current|previous`` (``last`` an alias), months
``YYYY-MM`` (``YYYYMM`` accepted), terms in Partner Center's case, and help with an example on every option."""

from __future__ import annotations

import re
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from cspkit.cli.main import cli
from cspkit.cli.params import MONTH, PERIOD, TERM


def commands(group: click.Command = cli, path: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    yield " ".join(path) or "cspkit", group
    for name, sub in getattr(group, "commands", {}).items():
        yield from commands(sub, (*path, name))


def visible_options() -> Iterator[tuple[str, click.Option]]:
    for name, command in commands():
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden and "--help" not in param.opts:
                yield f"{name} {param.opts[0]}", param


EXAMPLE = re.compile(r"\be\.g\.|\bExample:")


def test_every_option_has_help_and_every_value_option_an_example() -> None:
    missing_help = [name for name, option in visible_options() if not (option.help or "").strip()]
    assert missing_help == []
    missing_example = [name for name, option in visible_options()
                       if not option.is_flag and not EXAMPLE.search(option.help or "")]
    assert missing_example == []


def test_no_help_shows_a_strptime_pattern() -> None:
    runner = CliRunner()
    for name, command in commands():
        if isinstance(command, click.Group):
            continue
        result = runner.invoke(cli, [*name.split()[0:0], *name.split(), "--help"]) if name != "cspkit" else None
        if result is None:
            continue
        assert result.exit_code == 0, (name, result.output)
        assert "%Y" not in result.output and "%H" not in result.output, name


@pytest.mark.parametrize(("given", "canonical"), [("current", "current"), ("previous", "previous"),
                                                  ("last", "previous"), ("LAST", "previous"), ("Current", "current")])
def test_periods_are_current_or_previous_and_last_is_an_alias(given: str, canonical: str) -> None:
    assert PERIOD.convert(given, None, None) == canonical


def test_a_period_outside_the_vocabulary_is_bad_usage_naming_the_choices() -> None:
    with pytest.raises(click.BadParameter, match="current, previous"):
        PERIOD.convert("next", None, None)


@pytest.mark.parametrize(("given", "canonical"),
                         [("2026-11", "2026-11"), ("202611", "2026-11"), (" 2026-01 ", "2026-01")])
def test_months_are_yyyy_mm_and_yyyymm_is_accepted(given: str, canonical: str) -> None:
    assert MONTH.convert(given, None, None) == canonical


@pytest.mark.parametrize("bad", ["2026-13", "202600", "2026/11", "11-2026", "2026-1", "nov"])
def test_a_malformed_month_names_the_expected_form(bad: str) -> None:
    with pytest.raises(click.BadParameter, match="expected YYYY-MM like 2026-11"):
        MONTH.convert(bad, None, None)


def test_terms_are_accepted_in_any_case_and_returned_and_shown_in_partner_centers_case() -> None:
    assert TERM.convert("p1y", None, None) == "P1Y"
    result = CliRunner().invoke(cli, ["order", "place", "--help"], terminal_width=200)
    assert "[P1M|P1Y|P3Y]" in result.output and "p1m" not in result.output


def test_every_period_and_month_option_uses_the_shared_types() -> None:
    for name, option in visible_options():
        if option.opts[0] == "--period":
            assert option.type in (PERIOD, MONTH), name
        if option.opts[0] == "--month":
            assert option.type is MONTH, name
        if option.opts[0] == "--term":
            assert option.type is TERM, name


def test_invoices_export_accepts_previous_and_last_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    class Exports:
        def export(self, kind: str, **kwargs: object) -> object:
            seen.append(str(kwargs["billing_period"]))
            raise ValueError("stop here")

    class State:
        output, wide = "table", False

        def client(self) -> object:
            return type("PC", (), {"billing_exports": Exports()})()

    from cspkit.cli.exports import export_command

    for word in ("previous", "last"):
        result = CliRunner().invoke(export_command, ["--unbilled", "--currency", "USD", "--period", word], obj=State())
        assert result.exit_code == 2 and "stop here" in result.output
    assert seen == ["previous", "previous"]  # the Graph resource turns previous into billingPeriod=last


def test_pricelist_fetch_sends_the_month_as_the_price_sheet_api_wants_it() -> None:
    asked: list[object] = []

    class Sheets:
        def get(self, *args: object, **kwargs: object) -> object:
            asked.append(args[3])
            raise ValueError("stop here")

    class State:
        output, wide = "table", False

        def client(self) -> object:
            return type("PC", (), {"pricesheets": Sheets()})()

    from cspkit.cli.pricelist import pricelist_group

    for month in ("2026-11", "202611"):
        CliRunner().invoke(pricelist_group, ["fetch", "--market", "US", "--month", month], obj=State())
    assert asked == ["202611", "202611"]
