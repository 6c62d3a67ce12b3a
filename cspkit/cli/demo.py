"""``cspkit demo``: the whole month on a fresh embedded emulator."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("demo")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("reports"),
              show_default=True, help="Where the reconciliation workbook is written, e.g. --out-dir /tmp/demo.")
def demo(out_dir: Path) -> None:
    """Run a reseller's and finance's month on a fresh local emulator, printing every step.

    \b
    Browse the catalog, preview and place a seat order and a marketplace SaaS order, activate the SaaS
    subscription through the emulated publisher, change seats, turn auto-renew off, see a late cancellation
    refused, advance the clock to month end, fetch the invoice's reconciliation lines, reconcile them against
    the ledger and the price list, and write the workbook. A second customer's Azure plan consumes all
    month: its partner earned credit stops mid-month and one day's spend spikes; the usage reconciliation
    ties its daily usage to the invoice, reports both, and writes a second workbook. Offline; nothing is
    left running.
    """
    from cspkit.workflows.demo import run_demo

    result = run_demo(out_dir=out_dir, echo=click.echo)
    click.echo(
        f"\nSummary: invoice {result.invoice_id} {result.invoice_total} {result.currency}; "
        f"{result.lines} lines totalling {result.lines_total} ({result.tieout_status}); "
        f"variances: {sum(result.variances.values())}; workbook: {result.workbook}"
    )
    if result.usage_workbook is not None:
        click.echo(f"Azure usage: PEC lost {len(result.pec_lost)}, anomalies {len(result.usage_anomalies)}, "
                   f"invoice tie {', '.join(result.usage_tie) or '-'}; workbook: {result.usage_workbook}")

