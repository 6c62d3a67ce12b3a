"""CLI for Azure plan consumption: ``cspkit usage reconcile``.

Data (the totals and PEC figures) goes to stdout in the ``--output`` format; progress and the closing summary go to
stderr. The report is written atomically (temporary file in the target directory, then renamed).
Exit codes: 0 done, 1 the daily rows do not tie to the invoice, 2 bad usage or a bad file.
"""

from __future__ import annotations

import json
import re
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click

from cspkit.cli.output import emit, note, to_jsonable
from cspkit.cli.params import PERIOD

__all__ = ["usage_group"]

_SUMMARY_COLUMNS = ["BillingCurrency", "PricingCurrency", "Rows", "BillingPreTaxTotal", "PricingPreTaxTotal",
                    "PecRows", "CreditNotAppliedRows", "NotAppliedRows", "AtStake", "LostSubscriptions",
                    "LostAtStake", "MarketplaceRows"]  # fmt: skip
_TIE_COLUMNS = ["SubscriptionId", "Currency", "DailyRows", "DailyPreTaxTotal", "InvoiceLines", "InvoiceSubtotal",
                "Difference", "Status"]  # fmt: skip


def _decimal(_ctx: Any, param: Any, value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise click.BadParameter(f"expected a decimal number, got {value!r}", param=param) from None
    if not number.is_finite() or number < 0:
        raise click.BadParameter(f"expected a number ≥ 0, got {value!r}", param=param)
    return number


def _progress() -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(file=sys.stderr)
    return Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console,
                    disable=not console.is_terminal, transient=True)  # fmt: skip


def _rows(frame: Any, columns: list[str]) -> list[dict[str, Any]]:
    from cspkit.reports.workbook import text_ready

    part = text_ready(frame[[c for c in columns if c in frame.columns]])
    return [{k: (None if v is None or (not isinstance(v, str) and v != v) else v) for k, v in r.items()}
            for r in part.to_dict("records")]  # fmt: skip



def _fetch(state: Any, progress: Any, *, invoice_id: str | None, currency: str | None, period: str,
           api: str) -> tuple[Any, str]:
    """Daily usage from Partner Center (:func:`cspkit.workflows.usage.fetch_usage`), with progress on stderr."""
    from cspkit.workflows.usage import fetch_usage

    label = invoice_id or f"unbilled {currency.upper()} {period}"  # type: ignore[union-attr]

    def counted(items: Any) -> Any:
        task = progress.add_task(f"fetching {label} (v1 line items)", total=None)
        for n, item in enumerate(items, start=1):
            if n % 2000 == 0:
                progress.update(task, completed=n)
            yield item
        progress.remove_task(task)

    seen: list[str] = []

    def on_status(operation: Any) -> None:
        if not seen or seen[-1] != operation.status:
            note(f"usage export ({label}): operation {operation.id} {operation.status}")
        seen.append(operation.status)

    blobs: dict[str, Any] = {}

    def on_blob(event: Any) -> None:
        if event.name not in blobs:
            blobs[event.name] = progress.add_task(f"downloading {event.name[:40]}", total=event.total)
        progress.update(blobs[event.name], completed=event.done, total=event.total)

    try:
        return fetch_usage(state.client(), invoice_id=invoice_id, currency=currency, period=period, api=api.lower(),
                           counted=counted, on_note=note, on_status=on_status, progress=on_blob)  # fmt: skip
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


@click.group("usage")
def usage_group() -> None:
    """Azure plan consumption: daily rated usage files reconciled (spend, partner earned credit, anomalies)."""


@usage_group.command("reconcile")
@click.option("--file", "files", multiple=True,
              type=click.Path(dir_okay=True, path_type=Path), metavar="DAILY",
              help="Daily rated usage file (repeat for several): the portal CSV, .csv.gz, an Excel re-save "
                   "(';' and decimal commas), JSON Lines, a Graph export .json.gz, or a typed Parquet file/folder. "
                   "Example: --file DailyRatedUsage.csv")
@click.option("--invoice", "invoice_id", metavar="ID",
              help="Instead of --file: the invoice's billed daily usage, fetched from Partner Center "
                   "(see --source). Example: --invoice G012345678")
@click.option("--unbilled", is_flag=True,
              help="Instead of --file: the unbilled daily usage of --currency and --period, fetched from Partner "
                   "Center. Example: --unbilled --currency USD --period current")
@click.option("--currency", metavar="CODE", help="ISO 4217 billing currency of --unbilled usage, e.g. USD.")
@click.option("--period", type=PERIOD, default="current", show_default=True,
              help="Unbilled billing period: the open one or the previous one (`last` is accepted for previous). "
                   "Example: --period previous")
@click.option("--source", "--api", "api", type=click.Choice(["graph", "v1"], case_sensitive=False),
              default="graph", show_default=True,
              help="Where --invoice/--unbilled usage comes from: Microsoft Graph's asynchronous usage export, or "
                   "the v1 line-item API (retired for billed periods from September 2022). Example: --source v1")
@click.option("--invoice-file", type=click.Path(dir_okay=False, path_type=Path), metavar="RECON",
              help="Invoice reconciliation file of the same invoice: Σ daily BillingPreTaxTotal is tied to its "
                   "usage charges per subscription and per product/SKU. Example: --invoice-file recon.csv")
@click.option("--subscriptions", "subscriptions_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Subscriptions (CSV/JSON) with cancellation dates: flags resources billed after one, "
                   "e.g. --subscriptions subscriptions.csv.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Report file: .xlsx (workbook with a chart), or the stem of .csv/.parquet files, "
                   "e.g. --out reports/usage.xlsx.")
@click.option("--format", "fmt", type=click.Choice(["xlsx", "csv", "parquet"]),
              help="Report format [default: from the --out suffix, else xlsx], e.g. --format parquet.")
@click.option("--spike-factor", default="3", show_default=True, callback=_decimal, metavar="N",
              help="A day is a spike above this many times the subscription's trailing median daily spend, "
                   "e.g. --spike-factor 2.5.")
@click.option("--spike-floor", default="10", show_default=True, callback=_decimal, metavar="AMOUNT",
              help="...and at least this much spend that day (billing currency), e.g. --spike-floor 50.")
@click.option("--window-days", default=7, show_default=True, type=click.IntRange(min=1),
              help="Days before each day that make the trailing median, e.g. --window-days 14.")
@click.option("--new-meter-after-days", default=3, show_default=True, type=click.IntRange(min=1),
              help="Meters first billed after this many days of the period count as new, "
                   "e.g. --new-meter-after-days 5.")
@click.option("--engine", type=click.Choice(["duckdb", "spark"]), default="duckdb", show_default=True,
              help="Where the checks run: DuckDB in this process, or the same queries on Spark (identical results; "
                   "the spark extra: pip install -e '.[spark]', and Java for local mode). Example: --engine spark")
@click.option("--spark-master", metavar="URL",
              help="With --engine spark: the Spark master [default: local[2], Spark in this process], "
                   "e.g. --spark-master spark://spark-head:7077.")
@click.pass_obj
def reconcile_cmd(
    state: Any,
    files: tuple[Path, ...],
    invoice_id: str | None,
    unbilled: bool,
    currency: str | None,
    period: str,
    api: str,
    invoice_file: Path | None,
    subscriptions_file: Path | None,
    out: Path,
    fmt: str | None,
    spike_factor: Decimal,
    spike_floor: Decimal,
    window_days: int,
    new_meter_after_days: int,
    engine: str,
    spark_master: str | None,
) -> None:
    """Reconcile Azure plan daily rated usage (files, or fetched from Partner Center); write the report.

    \b
    What you get:
      * spend per customer, Azure subscription, meter, resource group and day, in billing and pricing currency
        (exact sums: the per-customer totals add up to the file's total to the last digit);
      * partner earned credit: rows 'Credit Not Applied', subscriptions that had PEC and lost it (the day it
        stopped), and the money at stake (15 % of the pricing pre-tax total of those rows); marketplace rows
        apart (never eligible);
      * anomalies: spend spikes, new meters, resources billed after a cancellation (with --subscriptions);
      * with --invoice-file: the tie of the daily rows to the invoice, per subscription and product/SKU.

    \b
    Examples:
      cspkit usage reconcile --file DailyRatedUsage_G012345678.csv --out reports/usage-2025-11.xlsx
      cspkit usage reconcile --file a.csv.gz --file b.csv.gz --invoice-file Recon_G012345678.csv \\
          --out reports/usage.xlsx
      cspkit -o json usage reconcile --file usage.csv --out reports/usage --format parquet
      cspkit usage reconcile --invoice G012345678 --out reports/usage-G012345678.xlsx
      cspkit usage reconcile --unbilled --currency USD --period current --source v1 --out reports/open.xlsx
      cspkit usage reconcile --file usage-parquet/ --engine spark --out reports/usage.xlsx

    \b
    Sources: exactly one of --file (one or more), --invoice ID (billed usage) or --unbilled --currency CODE
    [--period current|previous]; the API ones through Microsoft Graph's usage export (blobs kept under
    reports/exports/, so a re-run downloads nothing twice) or the v1 line-item API with --source v1.

    Exit codes: 0 done; 1 the daily rows do not tie to the invoice; 2 bad options or a bad file.
    """
    from cspkit.billing.usage import AnomalyRule, reconcile_usage
    from cspkit.reports.usage_workbook import write_usage_report

    _check_source(bool(files), invoice_id, unbilled, currency)

    if engine == "spark":  # before any file is read or usage fetched: says how to install what is missing
        from cspkit.billing.engine.spark import require_spark

        require_spark(spark_master)
    elif spark_master:
        raise click.UsageError("--spark-master goes with --engine spark")

    fmt = fmt or (out.suffix.lower().lstrip(".") if out.suffix.lower() in (".xlsx", ".csv", ".parquet")
                  else "xlsx")  # fmt: skip
    if fmt == "xlsx" and out.suffix.lower() != ".xlsx":
        out = out.with_suffix(".xlsx") if not out.suffix else out
    subscriptions: Any = None
    if subscriptions_file is not None:
        from cspkit.cli.billing import _read_subscriptions

        subscriptions = _read_subscriptions(subscriptions_file)
    rule = AnomalyRule(spike_factor=spike_factor, spike_floor=spike_floor, window_days=window_days,
                       new_meter_after_days=new_meter_after_days)  # fmt: skip
    with _progress() as progress:
        tasks: dict[str, Any] = {}

        def on_progress(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = progress.add_task(step, total=total or None)
            progress.update(tasks[step], completed=done, total=total or None)

        fetched = None if files else _fetch(state, progress, invoice_id=invoice_id, currency=currency,
                                            period=period, api=api)  # fmt: skip
        result = reconcile_usage([fetched[0]] if fetched else list(files), invoice=invoice_file,
                                 subscriptions=subscriptions, rule=rule, progress=on_progress,
                                 engine=engine, spark_master=spark_master)  # fmt: skip
        if fetched:
            result.sources.insert(0, fetched[1])
        task = progress.add_task(f"writing {out.name}", total=None)
        written = write_usage_report(result, out, fmt=fmt)
        progress.remove_task(task)
    _report_usage(state, result, written)


def _check_source(files: bool, invoice_id: str | None, unbilled: bool, currency: str | None) -> None:
    """``cspkit usage reconcile``'s source options: exactly one of --file, --invoice and --unbilled; --currency (a
    3-letter ISO 4217 code) with --unbilled only. Raises click's UsageError/BadParameter (exit 2)."""
    given = [name for name, on in (("--file", bool(files)), ("--invoice", bool(invoice_id)),
                                   ("--unbilled", unbilled)) if on]  # fmt: skip
    if len(given) != 1:
        raise click.UsageError("give exactly one source: --file DAILY (one or more), --invoice ID, or --unbilled "
                               "--currency CODE [--period current|previous]"
                               + (f" (got {' and '.join(given)})" if given else ""))
    if unbilled and not currency:
        raise click.UsageError("--unbilled needs --currency (e.g. --currency USD)")
    if currency and not unbilled:
        raise click.UsageError("--currency goes with --unbilled; billed usage takes its currency from the invoice")
    if currency and not re.fullmatch(r"[A-Za-z]{3}", currency.strip()):
        raise click.BadParameter(f"expected a 3-letter ISO 4217 code like USD, got {currency!r}",
                                 param_hint="--currency")


def _report_usage(state: Any, result: Any, written: list[Path]) -> None:
    """After ``cspkit usage reconcile`` wrote its report: the summary (and the invoice tie) to stdout
    (``--output``), sources, notes and counts to stderr; exit 1 when the daily rows do not tie to the invoice."""
    if state.output == "json":
        payload = {
            "summary": _rows(result.summary, _SUMMARY_COLUMNS),
            "anomalies": {str(k): int(v) for k, v in result.anomalies["Kind"].value_counts().items()},
            "invoice_tie": _rows(result.invoice_tie, _TIE_COLUMNS),
            "files": [str(p) for p in written],
        }
        click.echo(json.dumps(to_jsonable(payload), indent=2))
    else:
        emit(_rows(result.summary, _SUMMARY_COLUMNS), columns=_SUMMARY_COLUMNS, fmt=state.output,
             title="Azure plan usage")  # fmt: skip
        if len(result.invoice_tie) and state.output == "table":
            emit(_rows(result.invoice_tie, _TIE_COLUMNS), columns=_TIE_COLUMNS, fmt="table",
                 title="Tie to the invoice")  # fmt: skip
    for line in result.sources:
        note(line)
    for text in result.notes:
        note(f"note: {text}")
    kinds = result.anomalies["Kind"].value_counts()
    pec = result.pec
    note(
        f"{result.rows_read:,} rows, {len(result.customers):,} customer rows; PEC: "
        f"{int(result.summary['CreditNotAppliedRows'].sum()):,} rows 'Credit Not Applied' "
        f"({int(result.summary['MarketplaceRows'].sum()):,} of all rows are marketplace), "
        f"{int((pec['Status'] == 'lost').sum())} subscription(s) lost it; anomalies: "
        + (", ".join(f"{v} {k}" for k, v in kinds.items()) or "none")
    )
    note("report: " + ", ".join(str(p) for p in written))
    if result.has_differences:
        differs = int((result.invoice_tie["Status"] != "ties").sum())
        note(f"{differs} subscription(s) do not tie to the invoice: see the Invoice tie sheet")
        click.get_current_context().exit(1)
