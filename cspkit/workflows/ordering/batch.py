"""Order batches: read a batch CSV into keyed rows, order each row through the ledger, write per-row results.

Batches key every row with a stable key (``batch id`` + the row's content + its occurrence), so re-running the same
file after a crash completes what is missing and orders nothing twice.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cspkit.errors import ConflictError, CspkitError, InputFileError, PolicyError
from cspkit.models.common import normalize_billing_cycle, normalize_term_duration
from cspkit.reports.workbook import user_file_mode
from cspkit.resources.catalog import parse_item_reference
from cspkit.workflows.ordering.fanout import fan_out
from cspkit.workflows.ordering.plan import AMBIGUOUS
from cspkit.workflows.ordering.service import Ordering

__all__ = ["RESULT_COLUMNS", "BatchRow", "RowResult", "count_statuses", "read_batch_file", "run_batch",
           "run_batch_row",
           "write_results_atomically"]


_COLUMNS = {
    "customer_id": ("customer_id", "customer", "customerid", "customer_tenant_id"),
    "item": ("item", "catalog_item_id", "catalogitemid", "product_sku", "offer"),
    "quantity": ("quantity", "qty", "seats"),
    "term_duration": ("term_duration", "term", "termduration"),
    "billing_cycle": ("billing_cycle", "billing", "billingcycle", "billing_plan"),
    "friendly_name": ("friendly_name", "friendlyname", "name"),
    "parent_subscription_id": ("parent_subscription_id", "parentsubscriptionid", "parent_subscription",
                               "parent"),
    "promotion_id": ("promotion_id", "promotionid", "promotion"),
    "key": ("key", "row_key", "rowkey", "id"),
}
_DELIMITERS = (",", ";", "\t")
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_REQUIRED = ("customer_id", "item", "quantity", "term_duration", "billing_cycle")


@dataclass
class BatchRow:
    """One batch line: one item for one customer. ``number`` is the 1-based data row; ``key`` its stable key;
    ``line`` the 1-based line of the file it starts on (the header is line 1); ``parent_subscription_id`` the
    subscription an add-on row is bought onto."""

    number: int
    customer_id: str
    item: str
    quantity: int
    term_duration: str
    billing_cycle: str
    friendly_name: str | None
    key: str
    parent_subscription_id: str | None = None
    line: int | None = None
    promotion_id: str | None = None


@dataclass
class RowResult:
    """The result of one batch row (one line of the result file)."""

    row: BatchRow
    status: str  # ordered | already_ordered | failed | refused | unknown | valid (dry run) | invalid (dry run)
    order_ids: list[str] = field(default_factory=list)
    subscription_ids: list[str] = field(default_factory=list)
    cart_id: str | None = None
    entry_id: int | None = None
    error: str | None = None

    def to_row(self) -> dict[str, Any]:
        return {
            "row": self.row.number, "key": self.row.key, "customer_id": self.row.customer_id, "item": self.row.item,
            "quantity": self.row.quantity, "term_duration": self.row.term_duration,
            "billing_cycle": self.row.billing_cycle, "friendly_name": self.row.friendly_name or "",
            "parent_subscription_id": self.row.parent_subscription_id or "",
            "promotion_id": self.row.promotion_id or "", "status": self.status,
            "order_ids": " ".join(self.order_ids),
            "subscription_ids": " ".join(self.subscription_ids), "cart_id": self.cart_id or "",
            "ledger_entry": self.entry_id or "", "error": self.error or "",
        }


RESULT_COLUMNS = ["row", "key", "customer_id", "item", "quantity", "term_duration", "billing_cycle", "friendly_name",
                  "parent_subscription_id", "promotion_id", "status", "order_ids", "subscription_ids", "cart_id",
                  "ledger_entry", "error"]


def _header_mapping(fieldnames: Sequence[str] | None) -> dict[str, str]:
    header = {(h or "").strip().lower().replace(" ", "_"): h for h in fieldnames or []}
    mapping: dict[str, str] = {}
    for name, aliases in _COLUMNS.items():
        for alias in aliases:
            if alias in header:
                mapping[name] = header[alias]
                break
    return mapping


def _pick_delimiter(text: str) -> str:
    """``,``, ``;`` (Excel in locales whose decimal separator is a comma saves "CSV" with semicolons) or a tab:
    the one whose header names the most known columns; on a tie, what :class:`csv.Sniffer` sees; else ``,``."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    scores = {d: len(_header_mapping(next(csv.reader([first], delimiter=d), []))) for d in _DELIMITERS}
    best = max(scores.values())
    tied = [d for d in _DELIMITERS if scores[d] == best]
    if len(tied) == 1:
        return tied[0]
    try:
        sniffed = csv.Sniffer().sniff(first, delimiters="".join(_DELIMITERS)).delimiter
    except csv.Error:
        return ","
    return sniffed if sniffed in tied else ","


def _delimiter_name(delimiter: str) -> str:
    return {",": "comma (,)", ";": "semicolon (;)", "\t": "tab"}.get(delimiter, repr(delimiter))


def _read_text(path: Path) -> str:
    """The file's text: UTF-8 (with or without BOM), else Windows-1252. Raises InputFileError."""
    try:
        raw_bytes = path.read_bytes()
    except OSError as exc:
        raise InputFileError(str(path), expected=f"a readable CSV file ({exc})") from exc
    try:
        return raw_bytes.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return raw_bytes.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise InputFileError(str(path), expected=f"a UTF-8 or Windows-1252 CSV file ({exc})") from exc


def _checked_row(path: Path, number: int, values: dict[str, str],
                 mapping: dict[str, str]) -> tuple[int, str, str, str]:
    """``(quantity, term, billing cycle, parent subscription id)`` of one row, each checked.

    Raises:
        InputFileError: names the row and column of the first bad value and what was expected.
    """
    try:
        quantity = int(values["quantity"])
        if quantity < 1:
            raise ValueError
    except ValueError:
        raise InputFileError(str(path), row=number, column=mapping["quantity"],
                             expected="a whole number of seats >= 1", value=values["quantity"]) from None
    try:
        parse_item_reference(values["item"])
    except ValueError:
        raise InputFileError(str(path), row=number, column=mapping["item"],
                             expected="PRODUCT_ID:SKU_ID or PRODUCT_ID:SKU_ID:AVAILABILITY_ID",
                             value=values["item"]) from None
    term = normalize_term_duration(values["term_duration"])
    if not re.fullmatch(r"P\d+[MY]", term):
        raise InputFileError(str(path), row=number, column=mapping["term_duration"],
                             expected="an ISO 8601 term such as P1M, P1Y or P3Y", value=values["term_duration"])
    cycle = normalize_billing_cycle(values["billing_cycle"])
    if cycle not in ("monthly", "annual", "triennial", "biennial", "one_time", "none"):
        raise InputFileError(str(path), row=number, column=mapping["billing_cycle"],
                             expected="monthly, annual, triennial or none", value=values["billing_cycle"])
    parent = values["parent_subscription_id"]
    if parent and not _GUID.match(parent):
        raise InputFileError(str(path), row=number, column=mapping["parent_subscription_id"],
                             expected="a subscription id (GUID) or nothing", value=parent)
    return quantity, term, cycle, parent


def read_batch_file(
    path: str | os.PathLike[str], *, batch_id: str | None = None, allow_duplicates: bool = False,
) -> tuple[str, list[BatchRow]]:
    """Read a batch CSV: one line per customer item.

    Columns (header names case-insensitive; aliases in brackets): ``customer_id`` [customer], ``item``
    [catalog_item_id] (``PRODUCT:SKU`` or ``PRODUCT:SKU:AVAILABILITY``), ``quantity``, ``term_duration`` [term]
    (P1M/P1Y/P3Y), ``billing_cycle`` [billing] (monthly/annual/...), optional ``friendly_name``,
    ``parent_subscription_id`` [parent] (the subscription a new-commerce add-on is bought onto, a GUID),
    ``promotion_id`` [promotion] (buy with that promotion, :meth:`Ordering.plan`) and ``key``.
    Comma-, semicolon- (European Excel) and tab-separated files are read; UTF-8 (with or without BOM), else
    Windows-1252 (Excel's "CSV" in Western European locales).

    Row keys: ``<batch id>:<key column>`` when given, else ``<batch id>:<hash of the row's values>#<occurrence>`` —
    stable across re-runs of the same file, so the ledger recognizes rows already ordered (per target: see
    :mod:`cspkit.ledger.target`). The batch id defaults to the file name (``orders.csv``); pass another to order the
    same lines again on purpose.

    Identical rows (same customer, item, quantity, term, billing cycle, friendly name and parent subscription)
    without distinct ``key`` values are refused — a copy-paste slip would otherwise buy twice — unless
    ``allow_duplicates`` (then each occurrence is its own order).

    Returns:
        ``(batch_id, rows)``.
    Raises:
        InputFileError: unreadable file, a header naming none/not all of the required columns (says which delimiter
        was seen), bad quantity/term/billing/parent value (names row and column), duplicate rows (names their
        lines).
    """
    path = Path(path)
    batch_id = batch_id or path.name
    text = _read_text(path)
    delimiter = _pick_delimiter(text)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    mapping = _header_mapping(reader.fieldnames)
    missing = [c for c in _REQUIRED if c not in mapping]
    if missing:
        seen_header = delimiter.join(h or "" for h in reader.fieldnames or [])
        raise InputFileError(
            str(path), row=0,
            expected=f"the columns {', '.join(_REQUIRED)} (missing: {', '.join(missing)}; the header "
                     f"{seen_header[:200]!r} was read as {_delimiter_name(delimiter)}-separated)",
            hint="Separate columns with commas or semicolons and name them as above; see `cspkit order batch "
                 "--help`.")
    rows: list[BatchRow] = []
    seen: dict[str, int] = {}
    lines_of: dict[str, list[int]] = {}
    for number, raw in enumerate(reader, start=1):
        # the file line the record starts on (blank lines are skipped by the reader; quoted cells may span lines)
        first_line = reader.line_num - sum(v.count("\n") for v in raw.values() if isinstance(v, str))

        def cell(name: str, raw: dict[str, Any] = raw) -> str:
            column = mapping.get(name)
            return (raw.get(column) or "").strip() if column else ""

        if not any((v or "").strip() for v in raw.values() if isinstance(v, str)):
            continue  # blank line
        values = {name: cell(name) for name in _COLUMNS}
        for name in _REQUIRED:
            if not values[name]:
                raise InputFileError(str(path), row=number, column=mapping[name], expected="a value")
        quantity, term, cycle, parent = _checked_row(path, number, values, mapping)
        if values["key"]:
            key = f"{batch_id}:{values['key']}"
            if key in seen:
                raise InputFileError(str(path), row=number, column=mapping["key"],
                                     expected="a key not used on another row", value=values["key"])
            seen[key] = 1
        else:
            parts = [values["customer_id"].lower(), values["item"].upper(), str(quantity), term, cycle,
                     values["friendly_name"]]
            if parent:  # only add-on rows: the keys of files written before the column existed stay the same
                parts.append(parent.lower())
            if values["promotion_id"]:  # likewise only promoted rows
                parts.append("promotion=" + values["promotion_id"].upper())
            digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
            occurrence = seen.get(digest, 0) + 1
            seen[digest] = occurrence
            lines_of.setdefault(digest, []).append(first_line)
            key = f"{batch_id}:{digest}#{occurrence}"
        rows.append(BatchRow(number, values["customer_id"], values["item"], quantity, term, cycle,
                             values["friendly_name"] or None, key, parent or None, first_line,
                             values["promotion_id"] or None))
    if not rows:
        raise InputFileError(str(path), expected="at least one data row")
    duplicates = [lines for lines in lines_of.values() if len(lines) > 1]
    if duplicates and not allow_duplicates:
        groups = "; ".join("lines " + ", ".join(str(n) for n in lines) for lines in duplicates[:10])
        more = f" (and {len(duplicates) - 10} more groups)" if len(duplicates) > 10 else ""
        raise InputFileError(
            str(path),
            expected=f"no identical rows without distinct keys: {groups}{more} are the same customer, item, "
                     "quantity, term, billing cycle and friendly name — nothing was ordered",
            hint="Delete the copies, give each row its own value in a `key` column, or pass --allow-duplicates "
                 "to order every copy.")
    return batch_id, rows


def write_results_atomically(path: str | os.PathLike[str], results: Sequence[RowResult]) -> Path:
    """Write the per-row result CSV to a temporary file in the same folder, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=RESULT_COLUMNS, lineterminator="\n")
            writer.writeheader()
            for result in sorted(results, key=lambda r: r.row.number):
                writer.writerow(result.to_row())
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, user_file_mode())  # the user's file follows their umask (mkstemp made it 0600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def run_batch_row(service: Ordering, row: BatchRow, *, batch_id: str, dry_run: bool = False,
                  force: bool = False) -> RowResult:
    """Plan and (unless ``dry_run``) place one row; every failure becomes the row's status, never an exception
    (except KeyboardInterrupt)."""
    existing = None if dry_run else service.ledger.by_key(row.key)
    try:
        if existing is not None and (existing.status == "done" or existing.cart_id):
            # ordered before, or a checkout in flight: finish it with the journaled cart, never a new one
            outcome = service.continue_order(existing)
            status = "already_ordered" if outcome.replayed else "ordered"
            return RowResult(row, status, outcome.order_ids, outcome.subscription_ids, outcome.cart_id,
                             outcome.entry_id)
        plan = service.plan(row.customer_id, item=row.item, quantity=row.quantity, term_duration=row.term_duration,
                            billing_cycle=row.billing_cycle, friendly_name=row.friendly_name, force=force,
                            parent_subscription_id=row.parent_subscription_id, promotion_id=row.promotion_id)
        if dry_run:
            cart = service.validate_cart(plan)
            errors = cart.line_errors
            if errors:
                return RowResult(row, "invalid", cart_id=cart.id, error="; ".join(
                    str(e.error_description or e.error_code) for _, e in errors))
            return RowResult(row, "valid", cart_id=cart.id)
        outcome = service.place_order(plan, key=row.key, batch_id=batch_id, row_number=row.number)
    except PolicyError as exc:
        entry = service.ledger.by_key(row.key)
        return RowResult(row, "refused", entry_id=entry.id if entry else None, error=str(exc))
    except (*AMBIGUOUS, ConflictError) as exc:
        entry = service.ledger.by_key(row.key)
        return RowResult(row, "unknown", cart_id=entry.cart_id if entry else None,
                         entry_id=entry.id if entry else None, error=str(exc))
    except CspkitError as exc:
        entry = service.ledger.by_key(row.key)
        return RowResult(row, "failed", entry_id=entry.id if entry else None, error=str(exc))
    status = "already_ordered" if outcome.replayed else "ordered"
    return RowResult(row, status, outcome.order_ids, outcome.subscription_ids, outcome.cart_id, outcome.entry_id)


def run_batch(
    service: Ordering, rows: Sequence[BatchRow], *, batch_id: str, results_file: str | os.PathLike[str],
    dry_run: bool = False, force: bool = False, workers: int = 8,
    on_result: Callable[[RowResult, dict[str, int]], None] | None = None,
) -> list[RowResult]:
    """Order (or with ``dry_run`` validate) every row on ``workers`` threads, rewriting ``results_file``
    atomically after every row so a crash leaves the rows done so far on disk.

    Args:
        on_result: called after each row with its result and the counts per status so far (progress display).
    Returns:
        One :class:`RowResult` per row, in the file's order; a row's failure is its status, never an exception.
    """
    done: dict[int, RowResult] = {}
    lock = threading.Lock()

    def work(row: BatchRow) -> RowResult:
        return run_batch_row(service, row, batch_id=batch_id, dry_run=dry_run, force=force)

    def finished(row: BatchRow, result: RowResult | None, error: BaseException | None) -> None:
        if result is None:
            result = RowResult(row, "failed", error=str(error))
        with lock:
            done[row.number] = result
            write_results_atomically(results_file, list(done.values()))
            counts = count_statuses(done.values())
        if on_result is not None:
            on_result(result, counts)

    fan_out(work, rows, workers=workers, on_done=finished)
    return [done[r.number] for r in rows]


def count_statuses(results: Iterable[RowResult]) -> dict[str, int]:
    """Rows per status (``ordered``, ``already_ordered``, ``valid``, ``refused``, ``failed``, ``unknown``...)."""
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    return counts
