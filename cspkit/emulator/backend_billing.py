"""Charges, billing cycles, renewals, month-end invoices and unbilled periods (a part of
:class:`~cspkit.emulator.backend.Backend`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from cspkit.emulator._ops import operation
from cspkit.emulator._util import add_months
from cspkit.emulator.backend_promotions import PROMOTED_PRICE_ADJUSTMENT
from cspkit.emulator.billing import cycle_end, cycle_span
from cspkit.emulator.clock import Event
from cspkit.emulator.models import (
    Charge,
    EmulatorError,
    Invoice,
    Subscription,
)

__all__ = ["BillingOps"]


class BillingOps:
    """Operations of :class:`~cspkit.emulator.backend.Backend` on its state (its lock, clock and tables)."""

    def _charge(
        self,
        sub: Subscription,
        charge_type: str,
        sign: int,
        quantity: int,
        span: tuple,
        reference_id: str,
        *,
        full_refund: bool = False,
    ) -> Charge:
        customer = self.customers[sub.customer_id]
        item = self.catalog.item(sub.product_id, sub.sku_id)
        term = item.term(sub.term_duration, sub.billing_cycle) if item else None
        charge_start, charge_end, cycle_days, billing_days = span
        qualifiers = (["AddOn"] if sub.is_addon else []) + (["Trial"] if sub.is_trial else [])
        charge = Charge(
            id=self.ids.guid(),
            charge_type=charge_type,
            at=self.now(),
            sign=sign,
            quantity=quantity,
            unit_price=sub.unit_price,
            currency=sub.currency,
            charge_start=charge_start,
            charge_end=charge_end,
            cycle_days=cycle_days,
            billing_days=billing_days,
            full_refund=full_refund,
            reference_id=reference_id,
            subscription_id=sub.id,
            subscription_start=sub.effective_start.date(),
            subscription_end=(sub.commitment_end - timedelta(days=1)).date(),
            order_id=sub.order_id,
            customer_id=customer.id,
            customer_name=customer.company_name,
            customer_domain=customer.domain,
            customer_country=customer.country,
            product_id=sub.product_id,
            sku_id=sub.sku_id,
            availability_id=sub.availability_id,
            product_name=item.product["title"] if item else sub.offer_name,
            sku_name=sub.offer_name,
            publisher_name=sub.publisher_name,
            publisher_id=sub.publisher_id,
            subscription_description=sub.friendly_name,
            term_and_billing_cycle=term.description if term else "",
            billing_frequency={"monthly": "Monthly", "annual": "Annual"}.get(sub.billing_cycle, ""),
            product_qualifiers=qualifiers,
            promotion_id=sub.promotion_id or "",
            product_category="SaaS" if sub.is_saas else "OnlineServices",
            tax_rate=self.policy.tax_rate(customer.country),
            # a promotion: UnitPrice stays the list price, EffectiveUnitPrice carries the discount (backend_promotions)
            discount=sub.promotion_discount if sub.promotion_id else Decimal(0),
            price_adjustment=PROMOTED_PRICE_ADJUSTMENT if sub.promotion_id else "",
        )
        self.charges.append(charge)
        return charge

    def _on_cycle(self, event: Event) -> None:
        sub = self.subscriptions.get(event.data["subscription_id"])
        if sub is None or sub.status not in ("active", "suspended") or sub.cycle_end != event.data["cycle_end"]:
            return
        sub.cycle_start = sub.cycle_end
        sub.cycle_end = min(cycle_end(sub.cycle_start, sub.billing_cycle, sub.term_duration), sub.commitment_end)
        sub.pending_quantity = None
        self._touch(sub)
        span = cycle_span(sub.cycle_start, sub.cycle_end, sub.billing_cycle)
        self._charge(sub, "cycleCharge", +1, sub.quantity, span, self.ids.guid())
        self._log("cycle_charge", subscriptionId=sub.id)
        if sub.cycle_end < sub.commitment_end:
            self.clock.schedule(sub.cycle_end, "cycle", subscription_id=sub.id, cycle_end=sub.cycle_end)

    def _on_term_end(self, event: Event) -> None:
        sub = self.subscriptions.get(event.data["subscription_id"])
        if sub is None or sub.status not in ("active", "suspended") or sub.commitment_end != event.data["term_end"]:
            return
        if sub.auto_renew and not sub.is_trial:
            self._apply_next_term(sub)  # scheduledNextTermInstructions (backend_transitions.py)
            item = self.catalog.item(sub.product_id, sub.sku_id)
            term = item.term(sub.term_duration, sub.billing_cycle) if item else None
            if term is not None:  # price changes apply at renewal
                sub.unit_price, sub.list_price = term.unit_price(sub.currency), term.erp_price(sub.currency)
            sub.promotion_id, sub.promotion_discount = None, Decimal(0)  # a promotion holds for its term only
            self._start_term(sub, charge_type="renew", reference_id=self.ids.guid())
            self._log("renewed", subscriptionId=sub.id)
            self.marketplace.renewed(sub)
        else:
            self._end(sub, "expired", reason="term ended without auto-renew")

    def _on_window_close(self, event: Event) -> None:
        self._log("window_closed", subscriptionId=event.data["subscription_id"], scope=event.data.get("scope"))

    # ======================================================================================================
    # invoices
    # ======================================================================================================
    def _invoice_due(self, period_end: datetime) -> datetime:
        """When the invoice of the period ending at ``period_end`` (the 1st of a month) appears: the policy's
        ``invoice_day`` of that month at midnight UTC (the 8th: "invoice and recon are available on the 6th–8th
        of the next month", billing-formats.md § timing, [doc S4]). Until then the period's lines are unbilled."""
        return period_end + timedelta(days=max(1, int(self.policy.invoice_day)) - 1)

    def _schedule_month_end(self) -> None:
        now = self.now()
        first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        due = self._invoice_due(first)  # the previous month closes this month, unless that day has passed
        self.clock.schedule(due if due > now else self._invoice_due(add_months(first, 1)), "month_end")

    def _on_month_end(self, event: Event) -> None:
        end = event.due.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        start = add_months(end, -1)
        self._close_period(start, end, invoice_date=event.due)
        self.clock.schedule(self._invoice_due(add_months(end, 1)), "month_end")

    def _close_period(self, start: datetime, end: datetime, *, invoice_date: datetime | None = None) -> list[Invoice]:
        made = []
        currencies = sorted({c.currency for c in self.charges if start <= c.at < end}
                            | self._usage_currencies(start, end))  # Azure plan usage is billed too
        for currency in currencies:
            invoice = Invoice(
                id=self._next_invoice_id(),
                currency=currency,
                period_start=start.date(),
                period_end=(end - timedelta(days=1)).date(),
                invoice_date=invoice_date or end,
            )
            self.invoices[invoice.id] = invoice
            made.append(invoice)
            self._log("invoice_issued", invoiceId=invoice.id, currency=currency)
        return made

    def _next_invoice_id(self) -> str:
        self.invoice_counter += 1
        return f"G{100000000 + self.invoice_counter:09d}"

    @operation
    def list_invoices(self) -> list[Invoice]:
        return sorted(self.invoices.values(), key=lambda i: (i.invoice_date, i.id), reverse=True)

    @operation
    def get_invoice(self, invoice_id: str) -> Invoice:
        invoice = self.invoices.get((invoice_id or "").upper())
        if invoice is None:
            raise EmulatorError(404, "20000", f"Invoice {invoice_id} was not found.")
        return invoice

    def invoice_charges(self, invoice: Invoice) -> list[Charge]:
        start = datetime.combine(invoice.period_start, datetime.min.time(), UTC)
        end = datetime.combine(invoice.period_end + timedelta(days=1), datetime.min.time(), UTC)
        return [c for c in self.charges if c.currency == invoice.currency and start <= c.at < end]

    def open_period(self, period: str = "current") -> tuple[datetime, datetime]:
        now = self.now()
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        if period.lower() == "previous":
            return add_months(start, -1), start
        return start, add_months(start, 1)

    @operation
    def unbilled_charges(self, *, currency: str, period: str = "current") -> list[Charge]:
        """Charges of an open period not on any invoice yet (``previous``: last period, still uninvoiced until the
        policy's ``invoice_day`` of this month, see :meth:`_invoice_due`)."""
        start, end = self.open_period(period)
        invoiced = {(i.period_start, i.currency) for i in self.invoices.values()}
        if (start.date(), currency.upper()) in invoiced:
            return []
        return [c for c in self.charges if c.currency == currency.upper() and start <= c.at < end]

    @operation
    def add_synthetic_invoice(self, *, lines: int, currency: str = "USD") -> Invoice:
        """Benchmark hook: an invoice whose ``lines`` reconciliation lines are generated on demand."""
        start = add_months(self.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0), -1)
        invoice = Invoice(
            id=self._next_invoice_id(),
            currency=currency.upper(),
            period_start=start.date(),
            period_end=(add_months(start, 1) - timedelta(days=1)).date(),
            invoice_date=self._invoice_due(add_months(start, 1)),
            synthetic_lines=int(lines),
        )
        self.invoices[invoice.id] = invoice
        return invoice
