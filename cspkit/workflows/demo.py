"""``cspkit demo``: a reseller's and finance's month, end to end, on a fresh embedded emulator.

The steps a new user would take, each printed with its result: browse the catalog and pick a marketplace SaaS offer
and a seat offer; preview and place the orders (journaled in a ledger); follow the SaaS activation link through the
emulated publisher's landing page (Resolve → Activate) until the subscription is active; raise and lower seats
inside the window; turn auto-renew off; try a cancellation after the window (refused with the deadline); advance the
clock to invoice day (the 8th of the next month); fetch the invoice's reconciliation lines; reconcile them against
the ledger's subscriptions and the price list; write the workbook. Beside it, a second customer's Azure plan
consumes all month: the partner loses admin access mid-month (partner earned credit stops) and one day's compute
spend jumps; the usage reconciliation of the invoice's daily rated usage (fetched through the v1 usagelineitems API)
ties it to the invoice and finds the PEC loss and the spike.

Everything runs against an in-process emulator on a loopback port with a frozen virtual clock, in a temporary
directory; nothing is left running afterwards. It never talks to real Partner Center.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from cspkit.billing.pricelist import read_price_list
from cspkit.client import PartnerCenter
from cspkit.config import Settings
from cspkit.emulator import EmulatorServer
from cspkit.errors import CspkitError, PolicyError
from cspkit.ledger.service import Ledger
from cspkit.ledger.target import Target
from cspkit.reports.reconciliation import write_reconciliation_report
from cspkit.workflows.activation import follow_activation_link
from cspkit.workflows.ordering import Ordering
from cspkit.workflows.reconciliation import reconcile_invoice

__all__ = ["DEMO_START", "DemoResult", "run_demo"]

DEMO_START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
AZURE_PLAN = "DZH318Z0BCZC:0001:DZH318Z0BZ8C"  # Microsoft Azure plan (targetView MicrosoftAzure)
PEC_LOST_ON = date(2026, 11, 16)  # the demo's Azure customer removes the partner's admin access that day
SPIKE_ON = date(2026, 11, 21)  # and scales out its virtual machines 20× for a day
SEAT_PRODUCT = "CFQ7TTC0LH18"  # Microsoft 365 Business Basic
COUNTRY = "US"


@dataclass
class DemoResult:
    """What the demo produced.

    Attributes:
        workbook: the reconciliation workbook (.xlsx).
        invoice_id: the month-end invoice reconciled.
        currency: its currency.
        invoice_total: the invoice's total charges (Decimal).
        lines_total: Σ Total of its reconciliation lines (Decimal).
        tieout_status: ``ties`` or ``differs``.
        variances: count per variance category found.
        lines: number of reconciliation lines.
        refused_cancellation_deadline: the deadline the refused cancellation named (UTC).
        usage_workbook: the Azure usage reconciliation workbook (None when the usage step did not run).
        pec_lost: (Azure subscription, day PEC stopped, money at stake) per subscription that lost PEC.
        usage_anomalies: (kind, subscription, day, amount) per anomaly found in the daily usage.
        usage_tie: the invoice tie status per subscription (``ties`` / ``differs`` / ...).
    """

    workbook: Path
    invoice_id: str
    currency: str
    invoice_total: Decimal
    lines_total: Decimal
    tieout_status: str
    variances: dict[str, int] = field(default_factory=dict)
    lines: int = 0
    refused_cancellation_deadline: datetime | None = None
    usage_workbook: Path | None = None
    pec_lost: list[tuple[str, date, Decimal]] = field(default_factory=list)
    usage_anomalies: list[tuple[str, str, date, Decimal]] = field(default_factory=list)
    usage_tie: list[str] = field(default_factory=list)


class _Steps:
    def __init__(self, echo: Callable[[str], None]) -> None:
        self.echo = echo
        self.number = 0

    def step(self, title: str) -> None:
        self.number += 1
        self.echo(f"\n[{self.number}] {title}")

    def result(self, text: str) -> None:
        self.echo(f"    {text}")


class _Month:
    """The demo's month, one method per phase; ``s`` prints the numbered steps and their results."""

    def __init__(self, emu: Any, home: Path, s: _Steps, stack: ExitStack) -> None:
        self.emu, self.s = emu, s
        settings = Settings(auth="token", endpoint=emu.url, pricesheet_endpoint=emu.url, graph_endpoint=emu.url,
                            home=home, access_token=emu.token)
        self.pc = PartnerCenter(settings=settings)
        stack.callback(self.pc.close)
        self.ledger = Ledger(f"sqlite:///{home / 'ledger.db'}", actor="cspkit demo", target=Target.emulator(
            emu.url, instance_id=emu.backend.instance_id, tenant_id=emu.backend.partner.get("tenantId")))
        stack.callback(self.ledger.close)
        self.prices: Any = None
        self.ordering: Any = None
        self.azure: tuple[str, str] | None = None  # (customer id, Azure plan subscription id)

    def price_lists(self) -> None:
        s, pc = self.s, self.pc
        s.step(f"Emulator started at {self.emu.url}; virtual clock {self.emu.clock.now():%Y-%m-%d %H:%M} UTC")
        s.step("Price lists (price-sheet API): new commerce and marketplace, US")
        price_files = [pc.pricesheets.get(COUNTRY, view) for view in ("updatedlicensebased", "marketplace")]
        self.prices = pd.concat([read_price_list(p) for p in price_files], ignore_index=True)
        s.result(f"{len(self.prices)} price rows from {', '.join(p.name for p in price_files)}")
        self.ordering = Ordering(pc, self.ledger, price_list=self.prices, clock=self.emu.clock.now,
                                 sleep=lambda _s: None)

    def order(self) -> tuple[str, list[Any]]:
        """Pick the customer and the offers, preview and place the orders; returns the customer id and outcomes."""
        s, pc, ordering = self.s, self.pc, self.ordering
        s.step("Customer")
        customer = next(c for c in pc.customers.list() if (c.country or "US").upper() == COUNTRY)
        s.result(f"{customer.company_name} ({customer.id})")

        s.step(f"Catalog: products in {COUNTRY} (targetView OnlineServices)")
        products = list(pc.catalog.products(country=COUNTRY, target_view="OnlineServices"))
        saas = next(p for p in products if p.is_saas)
        seat = next(p for p in products if p.id == SEAT_PRODUCT)
        s.result(f"{len(products)} products, {sum(p.is_saas for p in products)} marketplace SaaS")
        s.result(f"seat offer: {seat.title} ({seat.id}); SaaS offer: {saas.title} by {saas.publisher_name}")
        saas_sku = next(iter(pc.catalog.skus(saas.id, country=COUNTRY)))
        seat_sku = next(iter(pc.catalog.skus(seat.id, country=COUNTRY)))

        s.step("Preview the orders (price from the price list, cancellation policy from the catalog)")
        plans = [
            ordering.plan(customer.id, item=f"{seat.id}:{seat_sku.id}", quantity=10, term_duration="P1M",
                          billing_cycle="monthly", friendly_name="Front desk"),
            ordering.plan(customer.id, item=f"{saas.id}:{saas_sku.id}", quantity=5, term_duration="P1M",
                          billing_cycle="monthly", friendly_name="Helpdesk"),
        ]
        for plan in plans:
            d = plan.describe()
            s.result(f"{d['quantity']} × {d['product']} / {d['sku']} {d['term_duration']} {d['billing_cycle']}: "
                     f"{d['period_price']} per seat per billing period (term {d['term_price']}), "
                     f"{d['billing']}; "
                     f"cancellation: {d['cancellation']}")

        s.step("Place the orders (journaled: intent, cart id, checkout, result)")
        outcomes = [ordering.place_order(plan, key=f"demo-{i}") for i, plan in enumerate(plans)]
        for outcome in outcomes:
            s.result(f"{outcome.status}: order {', '.join(outcome.order_ids)} "
                     f"→ subscription {', '.join(outcome.subscription_ids) or '(provisioning)'}")
        return customer.id, outcomes

    def activate(self, customer_id: str, outcome: Any) -> None:
        s, pc = self.s, self.pc
        saas_sub_id = _subscription_of(pc, customer_id, outcome)
        s.step("Activate the SaaS subscription: activation link → publisher landing page → Resolve → Activate")
        links = pc.orders.activation_links(customer_id, outcome.order_ids[0], 0)
        s.result(f"activation link: {links[0].uri.split('?')[0]}?token=…")
        s.result(f"publisher says: {follow_activation_link(links[0].uri)}")
        saas_sub = pc.subscriptions.get(customer_id, saas_sub_id)
        s.result(f"Partner Center subscription {saas_sub.id}: {_status(saas_sub)}")

    def change_seats(self, customer_id: str, seat_sub_id: str) -> datetime | None:
        """Raise and lower seats, turn auto-renew off, try a late cancellation; returns the deadline it named."""
        s, ordering, clock = self.s, self.ordering, self.emu.clock
        s.step("Seats: raise 10 → 15 the next day, lower 15 → 12 the day after (inside the window)")
        clock.advance(days=1)
        up = ordering.set_quantity(customer_id, seat_sub_id, quantity=15)
        clock.advance(days=1)
        down = ordering.set_quantity(customer_id, seat_sub_id, quantity=12)
        s.result(f"{up.status}: {up.before.quantity} → {up.after.quantity}; "
                 f"{down.status}: {down.before.quantity} → {down.after.quantity}")

        s.step("Turn auto-renew off")
        renew = ordering.set_auto_renew(customer_id, seat_sub_id, enabled=False)
        s.result(f"{renew.status}: auto-renew {renew.before.auto_renew_enabled} → {renew.after.auto_renew_enabled}")

        s.step("Cancel after the window has passed (clock +8 days)")
        clock.advance(days=8)
        try:
            ordering.cancel(customer_id, seat_sub_id)
            s.result("cancelled?! the window should have been closed")
        except PolicyError as exc:
            s.result(f"refused before calling Partner Center: {exc}")
            return exc.deadline
        return None

    def month_end(self) -> Any:
        """Advance the virtual clock to invoice day (the 8th of the next month); returns the month's USD invoice."""
        s, clock = self.s, self.emu.clock
        s.step("Invoice day: advance the virtual clock to the 8th of next month; the emulator issues the invoice")
        now = clock.now()
        clock.set((now.replace(day=1) + timedelta(days=32)).replace(day=8, hour=0, minute=5))
        invoices = [i for i in self.pc.invoices.list() if i.billing_period_start_date
                    and i.billing_period_start_date.month == DEMO_START.month]
        invoice = next(i for i in invoices if (i.currency_code or "USD") == "USD")
        s.result(f"invoice {invoice.id}: {invoice.total_charges} {invoice.currency_code} "
                 f"for {invoice.billing_period_start_date:%Y-%m-%d}…{invoice.billing_period_end_date:%Y-%m-%d}")
        return invoice

    def reconcile(self, customer_id: str, invoice: Any) -> Any:
        """Fetch the invoice's lines (v1 API) and reconcile them against the ledger's subscriptions."""
        s, pc = self.s, self.pc
        ordered = {sid for e in self.ledger.list(kind="order", status="done")
                   for oid in json.loads(e.order_ids_json or "[]")
                   for sid in (x.id for x in pc.subscriptions.list(e.customer_id, order_id=oid))}
        subscriptions = [pc.subscriptions.get(customer_id, sid).to_wire() | {"customerId": customer_id}
                         for sid in sorted(ordered)]
        if self.azure is not None:  # ordered through a cart, not the journaled ordering workflow
            subscriptions.append(pc.subscriptions.get(*self.azure).to_wire() | {"customerId": self.azure[0]})
        s.step("Fetch the invoice's reconciliation line items (provider=onetime, seek paging)")
        done = reconcile_invoice(pc, invoice.id, api="v1", price_lists=self.prices, subscriptions=subscriptions)
        counts = done.lines["ChargeType"].value_counts().to_dict()
        s.result(f"{len(done.lines)} lines: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        s.step("Reconcile against the ledger's subscriptions and the price list")
        row = done.result.tieout.iloc[0]
        s.result(f"tie-out: lines {row['Total']} vs invoice {row['InvoiceTotal']} {row['Currency']}: "
                 f"{row['Status']}")
        variances = _variances(done.result)
        s.result("variances: " + (", ".join(f"{k} {v}" for k, v in variances.items()) or "none"))
        return done

    def azure_plan(self) -> tuple[str, str]:
        """A second customer buys an Azure plan; the emulator is told of its admin-access removal and spike day."""
        s, pc = self.s, self.pc
        s.step("Azure plan for a second customer (targetView MicrosoftAzure; quantity 1, no term)")
        customer = [c for c in pc.customers.list() if (c.country or "US").upper() == COUNTRY][1]
        cart = pc.carts.create(customer.id, line_items=[{"catalogItemId": AZURE_PLAN, "quantity": 1}])
        result = pc.carts.checkout(customer.id, cart.id)
        sub_id = result.orders[0].line_items[0].subscription_id
        s.result(f"{customer.company_name}: Azure plan subscription {sub_id}")
        backend = self.emu.backend  # what the customer does in Azure: the emulator's control side
        backend.set_admin_access(customer.id, removed_on=PEC_LOST_ON)
        backend.set_usage_spike(sub_id, day=SPIKE_ON, factor=Decimal(20))
        s.result(f"scripted: admin access removed on {PEC_LOST_ON:%Y-%m-%d}, a 20x scale-out on {SPIKE_ON:%Y-%m-%d}")
        self.azure = (customer.id, sub_id)
        return customer.id, sub_id

    def usage(self, invoice: Any, out_dir: Path) -> Any:
        """Fetch the invoice's daily rated usage (v1) and reconcile it: tie, PEC, anomalies; write the workbook."""
        from cspkit.billing.recon_readers import recon_lines_to_frame
        from cspkit.billing.usage import reconcile_usage
        from cspkit.reports.usage_workbook import write_usage_report
        from cspkit.workflows.reconciliation import fetch_invoice_lines

        s, pc = self.s, self.pc
        s.step("Azure usage: fetch the invoice's daily rated usage (usagelineitems) and reconcile it")
        items = pc.invoices.line_items(invoice.id, line_item_type="usagelineitems",
                                       currency=invoice.currency_code or "USD", raw=True)
        daily = recon_lines_to_frame(items, kind="daily", source=f"invoice {invoice.id} usage").frame
        lines = fetch_invoice_lines(pc, invoice.id, api="v1")[0]
        lines = lines[lines["SubscriptionDescription"] == "Azure plan"]  # the invoice's Azure plan usage charges
        result = reconcile_usage(daily, invoice=lines)
        s.result(f"{len(daily)} daily rows, {result.summary['BillingPreTaxTotal'].map(Decimal).sum():.2f} "
                 f"{invoice.currency_code or 'USD'} before tax")
        for row in result.invoice_tie.itertuples():
            s.result(f"invoice tie, subscription {row.SubscriptionId}: daily {_money(row.DailyPreTaxTotal)} vs "
                     f"invoice {_money(row.InvoiceSubtotal)} {row.Currency}: {row.Status}")
        for row in result.pec[result.pec["Status"] == "lost"].itertuples():
            s.result(f"PEC lost: Azure subscription {row.EntitlementId} from {pd.Timestamp(row.StoppedOn):%Y-%m-%d}, "
                     f"{Decimal(row.LostAtStake):.2f} {row.PricingCurrency} at stake")
        for row in result.anomalies.itertuples():
            s.result(f"anomaly: {row.Kind} on {pd.Timestamp(row.UsageDate):%Y-%m-%d}: {row.Detail}")
        target = out_dir / f"demo-azure-usage-{invoice.id}.xlsx"
        written = write_usage_report(result, target, fmt="xlsx")
        s.result(f"written: {written[0] if isinstance(written, list) else written}")
        return result, Path(written[0] if isinstance(written, list) else written)

    def write(self, done: Any, out_dir: Path) -> Path:
        s = self.s
        s.step("Write the workbook")
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / f"demo-reconciliation-{done.invoice.id}.xlsx"
        written = write_reconciliation_report(done.result, target, fmt="xlsx",
                                              sources=[f"invoice {done.invoice.id}"])
        s.result(f"written: {written[0]}")
        s.result(f"ledger: {len(self.ledger.list())} journaled writes; journal kept only for the demo's run")
        return Path(written[0])


def run_demo(*, out_dir: Path = Path("reports"), echo: Callable[[str], None] = print) -> DemoResult:
    """Run the whole month on a fresh embedded emulator and write the reconciliation workbook into ``out_dir``.

    Returns:
        :class:`DemoResult` with the workbook path and the figures printed.
    Raises:
        CspkitError: a step failed (the message says which); the emulator is stopped either way.
    """
    s = _Steps(echo)
    echo("cspkit demo: one month of a CSP reseller on the local Partner Center emulator (not real Partner Center).")
    with tempfile.TemporaryDirectory(prefix="cspkit-demo-") as tmp, EmulatorServer(now=DEMO_START) as emu, \
            ExitStack() as stack:
        month = _Month(emu, Path(tmp), s, stack)
        month.price_lists()
        customer_id, outcomes = month.order()
        seat_sub_id = _subscription_of(month.pc, customer_id, outcomes[0])
        month.activate(customer_id, outcomes[1])
        month.azure_plan()
        refused_deadline = month.change_seats(customer_id, seat_sub_id)
        invoice = month.month_end()
        done = month.reconcile(customer_id, invoice)
        workbook = month.write(done, out_dir)
        usage, usage_workbook = month.usage(invoice, out_dir)
    echo("\nDone: the emulator is stopped and nothing is left running.")
    row = done.result.tieout.iloc[0]
    return DemoResult(
        workbook=workbook, invoice_id=invoice.id, currency=str(row["Currency"]),
        invoice_total=Decimal(str(invoice.total_charges)), lines_total=Decimal(str(row["Total"])),
        tieout_status=str(row["Status"]), variances=_variances(done.result), lines=len(done.lines),
        refused_cancellation_deadline=refused_deadline, usage_workbook=usage_workbook,
        pec_lost=[(str(r.EntitlementId), pd.Timestamp(r.StoppedOn).date(), Decimal(r.LostAtStake))
                  for r in usage.pec[usage.pec["Status"] == "lost"].itertuples()],
        usage_anomalies=[(str(r.Kind), str(r.SubscriptionId), pd.Timestamp(r.UsageDate).date(), Decimal(r.Amount))
                         for r in usage.anomalies.itertuples()],
        usage_tie=[str(x) for x in usage.invoice_tie["Status"]],
    )


def _variances(result: Any) -> dict[str, int]:
    return {str(r.Category): int(r.Count) for r in result.variance_counts.itertuples() if r.Count}


def _subscription_of(pc: Any, customer_id: str, outcome: Any) -> str:
    """The subscription an order created (from the checkout result, else the order read back).

    Raises:
        CspkitError: the order has no subscription yet (still provisioning).
    """
    if outcome.subscription_ids:
        return outcome.subscription_ids[0]
    order = pc.orders.get(customer_id, outcome.order_ids[0])
    ids = [li.subscription_id for li in order.line_items if li.subscription_id]
    if not ids:
        raise CspkitError(f"order {order.id} has no subscription yet",
                          hint="The order is still provisioning: run the demo again in a moment.")
    return ids[0]


def _status(sub: Any) -> str:
    status = getattr(sub.status, "value", sub.status)
    return str(status)



def _money(value: Any) -> str:
    return "-" if value is None or pd.isna(value) else f"{Decimal(str(value)):.2f}"
