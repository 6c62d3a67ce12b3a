"""CLI for finance: ``cspkit invoices list|lines`` and ``cspkit reconcile``.

Data (tables, JSON, CSV) goes to stdout in the ``--output`` format; progress bars and the closing summary go to
stderr. Reports are written atomically (temporary file in the target directory, then renamed).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click

from cspkit.cli.exports import api_option
from cspkit.cli.output import emit, note
from cspkit.cli.params import MONTH, PERIOD
from cspkit.errors import EXIT_FAILED, InputFileError
from cspkit.reports.workbook import text_ready, write_table_file

__all__ = ["FAIL_ON", "REPORT_FORMATS", "failures", "invoices_group", "reconcile_cmd", "report_format"]

LINE_COLUMNS = [
    "InvoiceNumber", "CustomerName", "SubscriptionId", "ProductId", "SkuId", "ChargeType", "ChargeStartDate",
    "ChargeEndDate", "UnitPrice", "EffectiveUnitPrice", "BillableQuantity", "Subtotal", "Total", "Currency",
]  # fmt: skip
#: The money columns of LINE_COLUMNS: shown with the line's Currency in the table.
LINE_MONEY = ("UnitPrice", "EffectiveUnitPrice", "Subtotal", "Total")


def _progress(enabled: bool) -> Any:
    """A rich progress bar on stderr (disabled when stderr is not a terminal or for small inputs)."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(file=sys.stderr)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled or not console.is_terminal,
        transient=True,
    )


def _counted(items: Iterable[Any], progress: Any, description: str,
             lines: Callable[[Any], int] | None = None) -> Iterator[Any]:  # fmt: skip
    """``items`` passed through while the progress counts their lines: one per item (an update every 2,000), or
    ``lines(item)`` each (the v1 pages: ``len`` of a ``pyarrow.Table`` or a list of items; an update per page). The
    description gives the running total; the task is removed at the end."""
    task = progress.add_task(description, total=None)
    done = shown = 0
    try:
        for item in items:
            done += 1 if lines is None else lines(item)
            if lines is not None or done - shown >= 2000:
                progress.update(task, advance=done - shown, description=f"{description}: {done:,} lines")
                shown = done
            yield item
    finally:
        progress.remove_task(task)


def _ingest_files(paths: list[Path], folder: Path, progress: Any) -> Any:
    """The files streamed into one Parquet dataset in ``folder`` (:func:`cspkit.billing.ingest.ingest_recon`)."""
    from cspkit.billing.ingest import ingest_recon

    tasks = {p: progress.add_task(f"reading {p.name}", total=p.stat().st_size if p.exists() else None) for p in paths}
    dataset = ingest_recon(paths, folder, progress=lambda p, done, total: progress.update(tasks[p], completed=done))
    for task in tasks.values():
        progress.remove_task(task)
    return dataset


def _invoice_totals(values: tuple[str, ...]) -> dict[str, Decimal]:
    totals = {}
    for value in values:
        currency, _, amount = value.partition("=")
        try:
            totals[currency.strip().upper()] = Decimal(amount.strip())
        except InvalidOperation:
            raise click.BadParameter(f"expected CURRENCY=AMOUNT, got {value!r}", param_hint="--invoice-total") from None
    return totals


def _read_subscriptions(path: Path) -> Any:
    import pandas as pd

    try:
        if path.suffix.lower() in (".json", ".jsonl"):
            text = path.read_text(encoding="utf-8-sig")
            if path.suffix.lower() == ".jsonl":
                return [json.loads(line) for line in text.splitlines() if line.strip()]
            data = json.loads(text)
            return data.get("items", data) if isinstance(data, dict) else data
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (OSError, ValueError) as exc:
        raise InputFileError(str(path), expected="subscriptions as CSV, JSON or JSON Lines", value=str(exc)) from None


def _rows(frame: Any, columns: list[str], limit: int | None = None) -> list[dict[str, Any]]:
    part = text_ready(frame[columns] if limit is None else frame[columns].head(limit))
    rows = []
    for record in part.to_dict("records"):
        rows.append({k: (None if v is None or (not isinstance(v, str) and v != v) else v) for k, v in record.items()})
    return rows


#: Report formats by --out extension.
REPORT_FORMATS = {".xlsx": "xlsx", ".csv": "csv", ".parquet": "parquet"}
#: --fail-on choices, and the variance severities each one fails on.
FAIL_ON = ("never", "error", "warning")
_FAILING = {"never": frozenset(), "error": frozenset({"error"}), "warning": frozenset({"error", "warning"})}


def report_format(out: Path | None, fmt: str | None) -> str:
    """The report format: ``--format`` when given, else ``--out``'s extension, else ``xlsx``.

    Raises:
        click.UsageError (exit 2): ``--format`` contradicts ``--out``'s extension (``--out x.csv --format xlsx``
            would put Excel bytes under a .csv name), or ``--out`` has an extension that names no format and no
            ``--format`` is given.
    """
    suffix = out.suffix.lower() if out is not None else ""
    by_extension = REPORT_FORMATS.get(suffix)
    if fmt is not None:
        if by_extension is not None and by_extension != fmt:
            raise click.UsageError(f"--format {fmt} contradicts --out {out} (a {by_extension} name); "
                                   f"drop --format or name the file .{fmt}")  # fmt: skip
        return fmt
    if by_extension is not None:
        return by_extension
    if suffix:
        raise click.UsageError(f"--out {out}: cannot tell the report format from {suffix!r}; name it "
                               ".xlsx, .csv or .parquet, or give --format")  # fmt: skip
    return "xlsx"


def failures(result: Any, fail_on: str) -> list[str]:
    """Why ``reconcile`` exits 1 under ``--fail-on fail_on``: one sentence per reason, empty when it exits 0.

    A reason is an invoice/currency total that ``differs`` from the invoice (``no invoice total`` is not one) or
    variances whose own Severity (per finding: a unit-price difference under a promotion is ``info``) is in the
    set ``fail_on`` fails on: ``error`` → error; ``warning`` → error and warning; ``never`` → nothing.

    Args:
        result: a :class:`cspkit.billing.reconcile.ReconciliationResult`.
        fail_on: ``never`` | ``error`` | ``warning``.
    """
    if fail_on == "never":
        return []
    reasons = []
    tieout = result.tieout
    differs = tieout[tieout["Status"] == "differs"]
    if len(differs):
        detail = "; ".join(
            f"{row.InvoiceNumber} {row.Currency}: lines {row.Total}, invoice {row.InvoiceTotal}, "
            f"difference {row.Difference}"
            for row in differs.itertuples()
        )
        reasons.append(f"{len(differs)} of {len(tieout)} invoice/currency totals differ: {detail}")
    variances = result.variances
    for severity in ("error", "warning"):
        if severity not in _FAILING[fail_on]:
            continue
        found = variances[variances["Severity"] == severity]
        if len(found):
            counts = Counter(str(category) for category in found["Category"])
            listed = ", ".join(f"{category} {count}" for category, count in counts.items())
            reasons.append(f"{len(found)} {severity}-severity variance(s): {listed}")
    return reasons



@click.group("invoices")
def invoices_group() -> None:
    """Invoices and their reconciliation line items (Partner Center or the emulator)."""


@invoices_group.command("list")
@click.pass_obj
def list_invoices(state: Any) -> None:
    """List the partner's invoices (newest first)."""
    client = state.client()
    items = list(client.invoices.list())
    rows = [
        {
            "Id": i.id,
            "InvoiceDate": i.invoice_date,
            "PeriodStart": i.billing_period_start_date,
            "PeriodEnd": i.billing_period_end_date,
            "TotalCharges": i.total_charges,
            "Currency": i.currency_code,
            "DocumentType": i.document_type,
        }
        for i in items
    ]
    emit(rows, columns=list(rows[0]) if rows else ["Id"], fmt=state.output, wire=items, title="Invoices",
         money={"TotalCharges": "Currency"})


@invoices_group.command("lines")
@click.argument("invoice_id", required=False)
@click.option("--unbilled", is_flag=True, help="Unbilled line items of the open (or previous) period instead.")
@click.option("--period", type=PERIOD, default="current", show_default=True,
              help="With --unbilled: the open period or the previous one (not yet invoiced); `last` is accepted "
                   "for previous. Example: --unbilled --period previous")
@click.option("--currency", default="USD", show_default=True,
              help="Billing currency of the unbilled line items, e.g. EUR.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write every line to FILE (.csv, .xlsx, .parquet or .jsonl), not to the terminal, e.g. "
                   "--out lines.xlsx.")  # fmt: skip
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="Rows printed in the table, e.g. --limit 200.")
@click.pass_obj
def lines(
    state: Any, invoice_id: str | None, unbilled: bool, period: str, currency: str, out: Path | None, limit: int
) -> None:
    """Fetch an invoice's reconciliation line items (seek-paged) as a typed table."""
    from cspkit.billing.recon_readers import recon_lines_to_frame

    if bool(invoice_id) == unbilled:
        raise click.UsageError("give either INVOICE_ID or --unbilled")
    client = state.client()
    with _progress(True) as progress:
        if unbilled:
            raw = client.invoices.unbilled_line_items(currency=currency.upper(), period=period, raw=True)
            source = f"unbilled {currency.upper()} {period}"
        else:
            raw = client.invoices.line_items(invoice_id, raw=True)
            source = f"invoice {invoice_id}"
        result = recon_lines_to_frame(_counted(raw, progress, f"fetching {source}"), source=source)
    frame = result.frame
    if out is not None:
        write_table_file(frame, out)
        note(f"{result.rows_read:,} line(s) of {source} written to {out}")
        return
    if state.output == "json":
        emit(_rows(frame, list(frame.columns)), columns=list(frame.columns), fmt="json")
    elif state.output == "csv":
        emit(_rows(frame, [c for c in frame.columns if c not in ("SourceFile",)]),
             columns=[c for c in frame.columns if c not in ("SourceFile",)], fmt="csv")  # fmt: skip
    else:
        emit(_rows(frame, LINE_COLUMNS, limit), columns=LINE_COLUMNS, fmt="table", title=f"Line items: {source}",
             money=dict.fromkeys(LINE_MONEY, "Currency"))
        if len(frame) > limit:
            note(f"showing {limit} of {len(frame):,} lines; use --out FILE or --output csv for all of them")


@click.command("reconcile")
@click.option("--invoice", "invoice_id", help="Reconcile this invoice, fetched from Partner Center, e.g. G100000001.")
@click.option("--file", "files", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Reconciliation file(s): portal CSV, Excel re-save, JSON Lines or export .json.gz, "
                   "e.g. --file recon-2026-11.csv.")  # fmt: skip
@click.option("--price-list", "price_lists", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Price list(s) to check unit prices against (repeat: new commerce and marketplace), "
                   "e.g. --price-list nce.csv --price-list marketplace.csv.")
@click.option("--subscriptions", "subscriptions_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Subscriptions (CSV/JSON) to check seats, cancellations and missing charges against; "
                   "with --invoice they are read from Partner Center when not given. Example: "
                   "--subscriptions subscriptions.csv")  # fmt: skip
@click.option("--invoice-total", "invoice_totals", multiple=True, metavar="CCY=AMOUNT",
              help="Invoice total to tie out the lines of a file against (repeat per currency), "
                   "e.g. --invoice-total USD=1234.56.")  # fmt: skip
@click.option("--period", type=MONTH,
              help="Billing period, e.g. 2026-11 (202611 works too; default: the month of most OrderDates).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Report file; its extension (.xlsx, .csv, .parquet) sets the format. CSV and Parquet write "
                   "one file per table: OUT itself holds the variances, OUT's stem + .tieout.csv, .lines.csv, ... "
                   "the rest (default reports/reconciliation-<invoice or period>.<format>). "
                   "Example: --out nov.xlsx")  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(sorted(set(REPORT_FORMATS.values()))), default=None,
              help="Report format [default: from --out's extension, else xlsx]; refused when it contradicts "
                   "--out's extension. Example: --format csv")  # fmt: skip
@click.option("--fail-on", type=click.Choice(FAIL_ON), default="error", show_default=True,
              help="Exit 1 when a total differs or a variance of this severity (or worse) is found; `never`: "
                   "exit 0 whenever the report was written. Example: --fail-on warning")  # fmt: skip
@click.option("--engine", type=click.Choice(["duckdb", "spark"]), default="duckdb", show_default=True,
              help="Where the checks run: duckdb (in-process) or spark (the same queries on Spark; the spark extra: "
                   "pip install -e '.[spark]'). Example: --engine duckdb")
@click.option("--spark-master", metavar="URL",
              help="With --engine spark: the Spark master to run on [default: local[2], Spark in this process, "
                   "which needs Java], e.g. --spark-master spark://spark-head:7077.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the lines' Parquet dataset (a fresh reconcile-* folder inside it; default "
                   "$CSPKIT_HOME), removed afterwards unless --keep-workdir. Example: --workdir /data/tmp")
@click.option("--keep-workdir", is_flag=True,
              help="Keep the Parquet dataset of the lines after the report is written (its folder is printed), "
                   "e.g. to query it with DuckDB. Example: --keep-workdir")
@api_option
@click.pass_obj
def reconcile_cmd(
    state: Any,
    invoice_id: str | None,
    files: tuple[Path, ...],
    price_lists: tuple[Path, ...],
    subscriptions_file: Path | None,
    invoice_totals: tuple[str, ...],
    period: str | None,
    out: Path | None,
    fmt: str | None,
    fail_on: str,
    api: str,
    engine: str,
    spark_master: str | None,
    workdir: Path | None,
    keep_workdir: bool,
) -> None:
    """Reconcile an invoice's lines with the subscriptions and the price list; write the report.

    With --invoice the lines come from Microsoft Graph's asynchronous billed-reconciliation export (blobs kept
    under reports/exports/ so a re-run downloads nothing twice), or from the v1 line-item API with --api v1
    (each page parsed whole by Arrow; the progress counts the lines page by page). Either way the lines are
    streamed into a Parquet dataset in --workdir before the checks run.

    Exit status: 0 when every invoice total ties and no error variance is found; 1 when a total differs or an
    error variance is found (the report is still written; stderr says which totals and categories); --fail-on
    warning also fails on warnings, --fail-on never exits 0; 2 for bad usage or input.
    """
    from cspkit.billing.ingest import work_folder
    from cspkit.billing.reconcile import normalize_subscriptions, reconcile
    from cspkit.reports.reconciliation import write_reconciliation_report
    from cspkit.workflows.reconciliation import read_price_lists, reconcile_invoice

    if bool(invoice_id) == bool(files):
        raise click.UsageError("give either --invoice ID or --file RECON_FILE (one or more)")
    fmt = report_format(out, fmt)
    if engine == "spark":  # before any file is read or invoice fetched: says how to install what is missing
        from cspkit.billing.engine.spark import require_spark

        require_spark(spark_master)
    elif spark_master:
        raise click.UsageError("--spark-master goes with --engine spark")
    totals = _invoice_totals(invoice_totals) or None
    # normalised at once (the raw frame is dropped: the engine takes the normalised one as it is)
    subscriptions: Any = None
    if subscriptions_file:
        subscriptions = normalize_subscriptions(_read_subscriptions(subscriptions_file))
    warnings: list[str] = []
    with work_folder(workdir, keep=keep_workdir) as folder, _progress(True) as progress:
        if files:
            # the price lists are read in a thread while the files are ingested (Arrow's CSV reader leaves the
            # interpreter free; the ingest keeps ~1.4 of 2 cores busy); an error in them is reported after the
            # ingest, as when they were read after it
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cspkit-price-lists") as pool:
                price_list = pool.submit(read_price_lists, price_lists)
                dataset = _ingest_files(list(files), folder, progress)
                prices = price_list.result()
            sources = [report.summary() for report in dataset.reports]
            warnings = [w for report in dataset.reports for w in report.warnings]
            result = reconcile(dataset, subscriptions=subscriptions, price_list=prices, invoices=totals,
                               period=period or None, engine=engine, spark_master=spark_master)
        else:
            fetching = f"fetching {invoice_id} (v1 line items)"
            done = reconcile_invoice(
                state.client(), invoice_id, api=api, price_lists=price_lists, subscriptions=subscriptions,
                period=period, paged=lambda pages: _counted(pages, progress, fetching, len), on_note=note,
                engine=engine, spark_master=spark_master, workdir=folder,
            )
            result, sources = done.result, done.sources
        label = invoice_id or (f"{result.period_start:%Y-%m}" if result.period_start is not None else "lines")
        target = out or Path("reports") / f"reconciliation-{label}.{fmt}"
        written = write_reconciliation_report(result, target, fmt=fmt, sources=sources)
    if keep_workdir:
        note(f"the lines' Parquet dataset is kept in {folder}")
    _report_outcome(state, result, written, sources, warnings, fail_on)


def _report_outcome(state: Any, result: Any, written: list[Path], sources: list[str], warnings: list[str],
                    fail_on: str) -> None:  # fmt: skip
    """After ``cspkit reconcile`` wrote its report: the tie-out and the variance counts to stdout (``--output``),
    the summary, warnings and notes to stderr, and exit 1 when ``--fail-on`` finds a failure (:func:`failures`)."""
    reasons = failures(result, fail_on)
    # data to stdout: the tie-out and the variance counts
    tie_columns = ["InvoiceNumber", "Currency", "Lines", "Subtotal", "TaxTotal", "Total", "InvoiceTotal",
                   "Difference", "Status"]  # fmt: skip
    counts = result.variance_counts[result.variance_counts["Count"] > 0]
    if state.output == "json":
        payload = {
            "tieout": _rows(result.tieout, tie_columns),
            "variances": _rows(counts, ["Category", "Severity", "Count"]),
            "files": [str(p) for p in written],
            "failures": reasons,
        }
        from cspkit.cli.output import to_jsonable

        click.echo(json.dumps(to_jsonable(payload), indent=2))
    else:
        emit(_rows(result.tieout, tie_columns), columns=tie_columns, fmt=state.output, title="Invoice tie-out",
             money=dict.fromkeys(("Subtotal", "TaxTotal", "Total", "InvoiceTotal", "Difference"), "Currency"))
        if state.output == "table":
            emit(_rows(counts, ["Category", "Severity", "Count"]), columns=["Category", "Severity", "Count"],
                 fmt="table", title="Variances")  # fmt: skip
    # the summary for humans
    for line in sources:
        note(line)
    for warning in warnings:
        note(f"warning: {warning}")
    for text in result.notes:
        note(f"note: {text}")
    ties = (result.tieout["Status"] == "ties").sum()
    note(
        f"{result.line_count:,} lines, {len(result.customers):,} customer rows, "
        f"{len(result.variances):,} variances; tie-out: {ties} of {len(result.tieout)} invoice/currency totals tie"
    )
    note("report: " + ", ".join(str(p) for p in written))
    if reasons:
        for reason in reasons:
            note(f"reconcile: {reason}")
        note(f"reconcile: exit 1 (--fail-on {fail_on}; --fail-on never exits 0 once the report is written)")
        click.get_current_context().exit(EXIT_FAILED)
