"""Cancellation and timing policy of the emulator, as named presets (never hard-coded in the state machines).

Presets (saas-fulfillment.md §2.3, partner-center-api.md §5.5):

``current`` (default)
    NCE licence-based seats: full refund within 24 h, prorated refund and seat reductions within 7 days (168 h)
    of purchase, renewal, or (for the added seats) a seat increase. Marketplace SaaS: full refund within 72 h.
``legacy-2023``
    The 2023 marketplace rule: SaaS monthly terms 24 h, annual terms 14 days (full refund). Seats as ``current``.

Other timings live here too: the day of the next month a month's invoice and reconciliation data appear
(``invoice_day``, 8: "invoices on the 6th–8th of the next month", billing-formats.md § timing; the emulator takes the
last of those days, at midnight UTC), cart expiry (7 days), the delay before a new order shows in the order list (up to
15 minutes), the days a SaaS purchase may stay unactivated before it is cancelled (7), purchase-token lifetime
(24 h), the 10-second ACK auto-accept, and webhook retry spacing (a compressed version of "500 times over 8 h").

Taxes: ``tax_rates`` maps a customer's country (ISO 3166 alpha-2) to the tax rate charged on its reconciliation lines
(a decimal string, ``"0.2"`` = 20 %); a country not in the table is taxed 0. The default table has only ``US: 0``
(Partner Center invoices US partners without sales tax on these lines: ``TaxTotal`` 0 in the documented samples).
Set it through the control API: ``POST /_emulator/config {"taxRates": {"GB": 0.2}}``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

__all__ = ["POLICY_PRESETS", "Policy", "RefundRule", "policy_from"]


@dataclass(frozen=True)
class RefundRule:
    """Refund windows measured from the start of a term (or of added seats): ``full`` then ``partial``."""

    full: timedelta
    partial: timedelta | None = None  # None: no prorated phase, the window ends with ``full``

    @property
    def window(self) -> timedelta:
        return self.partial or self.full


@dataclass(frozen=True)
class Policy:
    name: str
    seats: RefundRule
    saas_monthly: RefundRule
    saas_annual: RefundRule
    cart_expiry: timedelta = timedelta(days=7)
    order_list_delay: timedelta = timedelta(minutes=15)
    saas_activation_days: int = 7
    purchase_token_ttl: timedelta = timedelta(hours=24)
    ack_auto_accept: timedelta = timedelta(seconds=10)
    webhook_retry_delays: tuple[timedelta, ...] = field(
        default=(timedelta(minutes=1), timedelta(minutes=10), timedelta(hours=1), timedelta(hours=8))
    )
    invoice_day: int = 8
    tax_rates: dict[str, str] = field(default_factory=lambda: {"US": "0"})

    def tax_rate(self, country: str | None) -> Decimal:
        """The tax rate of a customer's country (0 when the table has no entry for it)."""
        return Decimal(str(self.tax_rates.get((country or "").upper(), "0")))

    def refund_rule(self, *, saas: bool, term_duration: str) -> RefundRule:
        if not saas:
            return self.seats
        return self.saas_annual if term_duration.upper() != "P1M" else self.saas_monthly

    def describe(self) -> dict[str, Any]:
        def conv(v: Any) -> Any:
            if isinstance(v, timedelta):
                return v.total_seconds()
            if isinstance(v, dict):
                return {k: conv(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [conv(x) for x in v]
            return v

        return conv(asdict(self))


_SEATS = RefundRule(full=timedelta(hours=24), partial=timedelta(hours=168))

POLICY_PRESETS: dict[str, Policy] = {
    "current": Policy(
        name="current",
        seats=_SEATS,
        saas_monthly=RefundRule(full=timedelta(hours=72)),
        saas_annual=RefundRule(full=timedelta(hours=72)),
    ),
    "legacy-2023": Policy(
        name="legacy-2023",
        seats=_SEATS,
        saas_monthly=RefundRule(full=timedelta(hours=24)),
        saas_annual=RefundRule(full=timedelta(days=14)),
    ),
}

_SECONDS_FIELDS = {"cart_expiry", "order_list_delay", "purchase_token_ttl", "ack_auto_accept"}


def policy_from(name: str | Policy, **overrides: Any) -> Policy:
    """A preset by name, optionally with fields overridden (timedeltas may be given in seconds)."""
    if isinstance(name, Policy):
        base = name
    else:
        try:
            base = POLICY_PRESETS[name]
        except KeyError:
            raise ValueError(f"unknown policy preset {name!r}; choose one of {sorted(POLICY_PRESETS)}") from None
    clean: dict[str, Any] = {}
    for key, value in overrides.items():
        if key in _SECONDS_FIELDS and isinstance(value, (int, float)):
            value = timedelta(seconds=value)
        if key == "tax_rates":
            value = {str(k).upper(): str(v) for k, v in dict(value).items()}
        if key == "webhook_retry_delays":
            value = tuple(timedelta(seconds=v) if isinstance(v, (int, float)) else v for v in value)
        clean[key] = value
    return replace(base, **clean) if clean else base
