"""Shared output for every CLI command: ``--output table|json|csv``.

Rules: data goes to stdout, everything for humans (progress, notes, the emulator label) to stderr, so output pipes.
JSON is the resource's Partner Center wire shape (camelCase) when a command lists resources; CSV and table show the
flattened columns the command chose. JSON and CSV carry the values as they are (ISO 8601 times, plain decimals).

The table is for people reading a terminal:

* identifiers never fold: a column of GUIDs (or any ``id``/``*_id``/``*Id`` column) is printed whole on one line,
  so an id can be copied; when the table is wider than the terminal, columns are dropped instead (first those
  constant on every row whose value is already in the title, then from the right, never the first) and stderr names
  them; ``--wide`` shows every column whatever the width (the terminal then scrolls or wraps whole lines);
* money is shown with its currency (``-69.60 USD``: at least two decimals, more when the amount has them);
* times read as ``2026-11-09 09:00 UTC`` (a time at midnight UTC as the date alone).

The width is the terminal's, or ``$COLUMNS`` when set, or 200 columns for a pipe or a log.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import click

__all__ = ["GUID_PATTERN", "OUTPUT_FORMATS", "emit", "format_money", "format_time", "is_identifier_column", "note",
           "to_jsonable"]

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


#: An identifier as Partner Center writes it: a GUID in the 8-4-4-4-12 form.
GUID_PATTERN = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_ID_NAME = re.compile(r"(^id$|_id$|_ids$|[a-z]Ids?$|^key$|^entry$)", re.I)
_ISO_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2}(?:\.\d+)?)?(Z|[+-]00:?00)?$")
#: Width of a table printed to a pipe or a log when ``$COLUMNS`` is not set.
PIPE_WIDTH = 200


def _cell(value: Any) -> str:
    """The CSV text of a value: JSON-ready, booleans as yes/no, structures as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    value = to_jsonable(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def format_money(amount: Any, currency: Any = None) -> str:
    """``Decimal("-69.6"), "USD"`` → ``"-69.60 USD"``: thousands separators, at least two decimals (more when the
    amount has them: unit prices of usage run to 4+), then the ISO 4217 code when known. A value that is not a
    number is returned as text unchanged; None → ``""``."""
    if amount is None or amount == "":
        return ""
    try:
        number = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return str(amount)
    if not number.is_finite():
        return str(amount)
    exponent = number.normalize().as_tuple().exponent
    places = max(2, -exponent if isinstance(exponent, int) else 2)
    text = f"{number:,.{places}f}"
    code = "" if currency is None else str(currency).strip()
    return f"{text} {code}" if code else text


def format_time(value: Any) -> str:
    """A time for people: ``2026-11-09 09:00 UTC`` (seconds kept when not zero), a midnight-UTC time or a date as
    ``2026-11-09``. Accepts datetime, date or ISO 8601 text (``...Z`` / ``+00:00``); other text is returned as is.
    Naive datetimes are taken as UTC (cspkit stores UTC)."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
            return value.strftime("%Y-%m-%d")
        return value.strftime("%Y-%m-%d %H:%M:%S UTC" if value.second else "%Y-%m-%d %H:%M UTC")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    match = _ISO_TIME.match(text)
    if not match or (match.group(4) is None and "T" not in text):
        return text
    day, minutes, seconds = match.group(1), match.group(2), (match.group(3) or "")
    seconds = seconds.split(".")[0]
    if minutes == "00:00" and seconds in ("", ":00"):
        return day
    return f"{day} {minutes}{'' if seconds in ('', ':00') else seconds} UTC"


def _table_cell(value: Any, column: str, row: Mapping[str, Any], money: Mapping[str, str | None]) -> str:
    if column in money:
        currency_column = money[column]
        return format_money(value, row.get(currency_column) if currency_column else None)
    if isinstance(value, (datetime, date)) or (isinstance(value, str) and _ISO_TIME.match(value)):
        return format_time(value)
    return _cell(value)


def is_identifier_column(column: str, cells: Sequence[str]) -> bool:
    """An identifier column: named like one (``id``, ``customer_id``, ``SubscriptionId``, ``order_ids``...) or every
    non-empty cell a GUID (or GUIDs separated by spaces). Its cells are never folded or wrapped."""
    if _ID_NAME.search(column):
        return True
    filled = [c for c in cells if c]
    return bool(filled) and all(all(GUID_PATTERN.fullmatch(word) for word in c.split()) for c in filled)


def _names_whole(title: str | None, value: str) -> bool:
    """Does ``title`` hold ``value`` as a whole word of at least 4 characters (an id, a name)?"""
    whole = re.compile(rf"(?<![\w-]){re.escape(value)}(?![\w-])")
    return bool(title) and len(value) >= 4 and whole.search(title or "") is not None


def _plan_columns(
    columns: Sequence[str], cells: Sequence[Sequence[str]], title: str | None, width: int,
    money: Mapping[str, str | None] | None = None,
) -> tuple[list[int], list[str], dict[int, int]]:
    """Which columns fit in ``width`` and how wide each is: (indexes kept in order, names dropped, width by index).

    Dropped first: columns constant on every row whose value the title already shows; then currency columns whose
    code every amount already carries; then identifier columns from the right except the first one holding GUIDs
    (the row's own id stays); then other columns from the right, money last; the first column stays.

    An identifier column gets its longest cell; a text column at least its longest GUID (a GUID inside text is
    never cut) and otherwise wraps down to 12 characters a line, growing toward its longest line with what is left.
    """
    n = len(columns)
    money = money or {}
    by_column = [[row[i] for row in cells] for i in range(n)]
    ids = [is_identifier_column(columns[i], by_column[i]) or columns[i] in money for i in range(n)]  # one line each
    naturals = [max([len(columns[i]), *(len(c) for c in by_column[i])]) for i in range(n)]
    needs = []
    for i in range(n):
        if ids[i]:
            needs.append(naturals[i])
            continue
        words = [word for cell in by_column[i] for word in cell.split()]
        longest_guid = max((len(w) for w in words if GUID_PATTERN.search(w)), default=0)
        longest_word = max((len(w) for w in words), default=0)
        needs.append(min(naturals[i], max(longest_guid, min(max(longest_word, 4), 12), min(len(columns[i]), 12))))
    redundant = [i for i in range(n) if by_column[i] and len(set(by_column[i])) == 1
                 and _names_whole(title, by_column[i][0])]
    guid_ids = [i for i in range(n) if ids[i] and i not in redundant
                and any(GUID_PATTERN.search(c) for c in by_column[i])]
    spare_ids = [i for i in range(n - 1, 0, -1) if ids[i] and columns[i] not in money and i not in redundant
                 and i not in guid_ids[:1]]
    currencies = [i for i in range(n) if columns[i] in set(money.values()) and i not in redundant]
    amounts = [i for i in range(n - 1, 0, -1) if columns[i] in money]
    first = redundant + currencies + spare_ids
    order = first + [i for i in range(n - 1, 0, -1) if i not in first and i not in amounts] + amounts
    kept = set(range(n))

    def frame() -> int:  # rich's box: "│ a │ b │" → 3 characters per column plus 1
        return 3 * len(kept) + 1

    for i in order:
        if sum(needs[j] for j in kept) + frame() <= width or len(kept) == 1:
            break
        kept.discard(i)
    widths = {i: needs[i] for i in kept}
    spare = width - frame() - sum(widths.values())
    growing = [i for i in sorted(kept) if widths[i] < naturals[i]]
    while spare > 0 and growing:  # water-filling: every text column grows by the same step toward its longest line
        step = max(1, spare // len(growing))
        for i in list(growing):
            grow = min(step, naturals[i] - widths[i], spare)
            widths[i] += grow
            spare -= grow
            if widths[i] >= naturals[i]:
                growing.remove(i)
            if spare <= 0:
                break
    return sorted(kept), [columns[i] for i in range(n) if i not in kept], widths


def _wide() -> bool:
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return bool(getattr(obj, "wide", False))


def _terminal_width() -> int:
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size((PIPE_WIDTH, 24)).columns
    return PIPE_WIDTH


def emit(
    rows: Iterable[Mapping[str, Any]],
    *,
    columns: Sequence[str],
    fmt: str,
    wire: Iterable[Any] | None = None,
    title: str | None = None,
    money: Mapping[str, str | None] | None = None,
) -> None:
    """Write rows to stdout in the chosen format.

    Args:
        rows: one mapping per row (values may be Decimal, datetime, models...).
        columns: the keys to show, in order (table and CSV).
        fmt: ``"table"``, ``"json"`` or ``"csv"``.
        wire: for ``json``, the objects to dump instead of ``rows`` (e.g. the Partner Center resources).
        title: table caption.
        money: for the table only, the money columns and the column holding each one's ISO 4217 currency code
            (``{"Total": "Currency"}``; None: the amount alone, still with two decimals).
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
    from rich.text import Text

    money = dict(money or {})
    cells = [[_table_cell(row.get(c), c, row, money) for c in columns] for row in rows]
    width = _terminal_width()
    if _wide():
        kept, dropped, widths = list(range(len(columns))), [], {}
        width = max(width, sum(max([len(c), *(len(r[i]) for r in cells)]) + 3 for i, c in enumerate(columns)) + 1)
    else:
        kept, dropped, widths = _plan_columns(columns, cells, title, width, money)
    table = Table(show_lines=False)
    for i in kept:
        identifier = is_identifier_column(columns[i], [r[i] for r in cells]) or columns[i] in money
        table.add_column(columns[i], width=widths.get(i), no_wrap=identifier, overflow="ignore" if identifier
                         else "fold", justify="right" if columns[i] in money else "left")
    for row_cells in cells:
        table.add_row(*[row_cells[i] for i in kept])
    console = Console(soft_wrap=False, width=width)
    if title:  # above the table, wrapped at the terminal's width (a GUID in it stays whole), not at the table's
        console.print(Text(title, style="italic"))
    console.print(table)
    if not rows:
        note("(no rows)")
    elif dropped:
        note(f"({len(dropped)} column(s) left out to fit {width} columns: {', '.join(dropped)}; "
             "--wide shows them, -o csv or -o json gives every field)")


def note(message: str) -> None:
    """A line for humans on stderr (never mixed into piped data)."""
    click.echo(message, err=True)
