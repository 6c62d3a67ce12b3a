"""Shared output for every CLI command: ``--output table|json|csv``.

Rules: data goes to stdout, everything for humans (progress, notes, the emulator label) to stderr, so output pipes.
JSON is the resource's Partner Center wire shape (camelCase) when a command lists resources; CSV and table show the
flattened columns the command chose.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import click

__all__ = ["OUTPUT_FORMATS", "emit", "note", "to_jsonable"]

OUTPUT_FORMATS = ("table", "json", "csv")


def to_jsonable(value: Any) -> Any:
    """Make a value JSON-serializable: Decimal → str, datetime → ISO 8601 with Z, models → wire dicts."""
    if hasattr(value, "to_wire"):
        return value.to_wire()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    value = to_jsonable(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def emit(
    rows: Iterable[Mapping[str, Any]],
    *,
    columns: Sequence[str],
    fmt: str,
    wire: Iterable[Any] | None = None,
    title: str | None = None,
) -> None:
    """Write rows to stdout in the chosen format.

    Args:
        rows: one mapping per row (values may be Decimal, datetime, models...).
        columns: the keys to show, in order (table and CSV).
        fmt: ``"table"``, ``"json"`` or ``"csv"``.
        wire: for ``json``, the objects to dump instead of ``rows`` (e.g. the Partner Center resources).
        title: table caption.
    """
    rows = list(rows)
    if fmt == "json":
        payload = [to_jsonable(w) for w in wire] if wire is not None else [to_jsonable(dict(r)) for r in rows]
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    if fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])
        sys.stdout.flush()
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*[_cell(row.get(c)) for c in columns])
    # a terminal gets its own width; a pipe or a log gets room for the ids instead of rich's default 80 columns
    console = Console(soft_wrap=False) if sys.stdout.isatty() else Console(soft_wrap=False, width=200)
    console.print(table)
    if not rows:
        note("(no rows)")


def note(message: str) -> None:
    """A line for humans on stderr (never mixed into piped data)."""
    click.echo(message, err=True)
