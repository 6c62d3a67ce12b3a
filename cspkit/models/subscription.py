"""Subscription resources (partner-center-api.md §5).

Cancellation and seat-reduction deadlines are read from the resource, never assumed:
``cancellationAllowedUntilDate``, ``refundOptions[].expiresAt`` and
``refundableQuantity.details[].allowedUntilDateTime``.
⚠ The docs table names the refund option field ``expiresAfter``; the JSON and the SDK send ``expiresAt`` (a
timestamp). Both are read; an ``expiresAfter`` holding an ISO 8601 duration is kept as
:attr:`RefundOption.expires_after`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator

from cspkit.models.base import PCModel, UtcDateTime, parse_utc_datetime
from cspkit.models.common import BillingCycle, ItemType, ResourceAttributes, TermDuration, link_uri
from cspkit.models.transition import ScheduledNextTermInstructions

__all__ = [
    "RefundOption",
    "RefundableQuantity",
    "RefundableQuantityDetail",
    "Subscription",
    "SubscriptionActivationResult",
]


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


LowerStr = Annotated[str, BeforeValidator(_lower)]


class RefundOption(PCModel):
    """A refund phase of the current term: ``type`` ``Full``/``Partial`` until ``expires_at`` (UTC)."""

    type: str | None = None
    expires_at: UtcDateTime | None = None
    expires_after: str | None = None  # only when the service sent an ISO 8601 duration (docs variant)

    @model_validator(mode="before")
    @classmethod
    def _expires_after(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            raw = data.get("expiresAfter", data.get("ExpiresAfter"))
            if raw is not None and data.get("expiresAt") is None and data.get("expires_at") is None:
                try:
                    when = parse_utc_datetime(raw)
                except ValueError:
                    when = None
                data.pop("expiresAfter", None)
                data.pop("ExpiresAfter", None)
                if when is not None:
                    data["expiresAt"] = when
                else:
                    data["expiresAfter"] = raw
        return data


class RefundableQuantityDetail(PCModel):
    quantity: int
    allowed_until_date_time: UtcDateTime | None = None


class RefundableQuantity(PCModel):
    """Seats that may still be removed, and until when: ``{totalQuantity, details: [{quantity,
    allowedUntilDateTime}]}``."""

    total_quantity: int = 0
    details: list[RefundableQuantityDetail] = []

    def refundable_at(self, now: datetime) -> int:
        """Seats still removable at ``now`` (details whose deadline has not passed; total when no details)."""
        if not self.details:
            return self.total_quantity
        return sum(
            d.quantity for d in self.details if d.allowed_until_date_time is None or now <= d.allowed_until_date_time
        )


class Subscription(PCModel):
    """A subscription (``GET /customers/{customerId}/subscriptions/{subscriptionId}``).

    ``status``: ``active``, ``pending``, ``suspended``, ``expired``, ``deleted``, ``disabled``, ``none`` (lower-cased).
    ``offer_id`` is the catalog item id (``productId:skuId:availabilityId``) for NCE and marketplace.
    """

    id: str
    entitlement_id: str | None = None
    offer_id: str | None = None
    offer_name: str | None = None
    friendly_name: str | None = None
    product_type: ItemType | None = None
    quantity: int | None = None
    unit_type: str | None = None
    parent_subscription_id: str | None = None
    creation_date: UtcDateTime | None = None
    effective_start_date: UtcDateTime | None = None
    commitment_end_date: UtcDateTime | None = None
    cancellation_allowed_until: UtcDateTime | None = Field(default=None, alias="cancellationAllowedUntilDate")
    status: LowerStr | None = None
    auto_renew_enabled: bool | None = None
    billing_type: str | None = None
    billing_cycle: BillingCycle | None = None
    term_duration: TermDuration | None = None
    renewal_term_duration: TermDuration | None = None
    is_trial: bool | None = None
    publisher_name: str | None = None
    actions: list[str] | None = None
    suspension_reasons: list[str] | None = None
    contract_type: str | None = None
    order_id: str | None = None
    promotion_id: str | None = None
    refund_options: list[RefundOption] | None = None
    refundable_quantity: RefundableQuantity | None = None
    # what the subscription becomes at renewal (create-scheduled-changes; None when nothing is scheduled)
    scheduled_next_term_instructions: ScheduledNextTermInstructions | None = None
    links: dict[str, Any] | None = None
    attributes: ResourceAttributes | None = None

    @property
    def product_id(self) -> str | None:
        return self.offer_id.split(":")[0] if self.offer_id and ":" in self.offer_id else None

    @property
    def sku_id(self) -> str | None:
        parts = (self.offer_id or "").split(":")
        return parts[1] if len(parts) > 1 else None

    @property
    def is_saas(self) -> bool:
        pt = self.product_type
        return bool(
            pt and (pt.id or "").lower() == "azure" and pt.sub_type and (pt.sub_type.id or "").lower() == "saas"
        )

    @property
    def etag(self) -> str | None:
        return self.attributes.etag if self.attributes else None

    @property
    def activation_links_uri(self) -> str | None:
        return link_uri(self.links, "activationLinks")

    def refund_deadline(self) -> datetime | None:
        """The latest ``refundOptions[].expiresAt``, or None when the service sent none."""
        dates = [o.expires_at for o in self.refund_options or [] if o.expires_at is not None]
        return max(dates) if dates else None


class SubscriptionActivationResult(PCModel):
    """``POST …/subscriptions/{id}/activate`` (sandbox): ``{"subscriptionId": "...", "status": "Success"}``."""

    subscription_id: str | None = None
    status: str | None = None
