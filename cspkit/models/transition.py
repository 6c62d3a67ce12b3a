"""Transition (upgrade) resources and the changes scheduled for a subscription's renewal.

Shapes (learn.microsoft.com/partner-center/developer/transition-a-new-commerce-subscription, get-transitions,
transition-resources, create-scheduled-changes; SDK ``Models/Subscriptions/Transition.cs``, ``TransitionEvent.cs``,
``TransitionEligibility*.cs``, ``ScheduledNextTermInstructions.cs``, ``ProductTerm.cs``):

* ``GET …/subscriptions/{id}/transitionEligibilities?eligibilityType=immediate|scheduled`` → collection of
  ``TransitionEligibility {catalogItemId, title, description, quantity, eligibilities: [{isEligible, transitionType,
  errors: [{code, description}]}]}``.
* ``POST …/subscriptions/{id}/transitions`` with a ``Transition {toCatalogItemId | toSubscriptionId, quantity,
  transitionType, termDuration?, billingCycle?, promotionId?}`` → the ``Transition`` with ``operationId``,
  ``fromCatalogItemId``, ``fromSubscriptionId``, ``toSubscriptionId`` and ``events: [{name: "Conversion" |
  "SeatReassignment", status: InProgress | Completed | Failed (docs sample: "Started"), timestamp}]``.
  ``transitionType``: ``transition_only`` or ``transition_with_license_transfer`` (SDK).
* ``GET …/subscriptions/{id}/transitions`` → collection of ``Transition`` (the history).
* ``scheduledNextTermInstructions`` on the subscription: ``{product: {productId, skuId, availabilityId, billingCycle,
  termDuration, promotionId?}, quantity, customTermEndDate?}`` — set by PATCH of the subscription (null clears).
"""

from __future__ import annotations

from pydantic import Field

from cspkit.models.base import PCModel, UtcDateTime
from cspkit.models.common import BillingCycle, ResourceAttributes, TermDuration

__all__ = [
    "EligibleTerm",
    "ProductTerm",
    "ScheduledNextTermInstructions",
    "Transition",
    "TransitionEligibility",
    "TransitionEligibilityDetail",
    "TransitionError",
    "TransitionEvent",
]


class TransitionError(PCModel):
    """Why a transition is not eligible, or failed: ``{code, description}`` (code a number)."""

    code: int | str | None = None
    description: str | None = None


class TransitionEligibilityDetail(PCModel):
    """``{isEligible, transitionType, errors}`` for one transition type."""

    is_eligible: bool = False
    transition_type: str | None = None
    errors: list[TransitionError] = []


class EligibleTerm(PCModel):
    """A term the target may land on (``termDuration`` + ``billingCycle``; sent by the emulator)."""

    term_duration: TermDuration | None = None
    billing_cycle: BillingCycle | None = None


class TransitionEligibility(PCModel):
    """One upgrade target of a subscription (``TransitionEligibility``)."""

    catalog_item_id: str
    title: str | None = None
    description: str | None = None
    quantity: int | None = None
    eligibilities: list[TransitionEligibilityDetail] = []
    terms: list[EligibleTerm] = []
    attributes: ResourceAttributes | None = None

    @property
    def is_eligible(self) -> bool:
        """Eligible for at least one transition type."""
        return any(e.is_eligible for e in self.eligibilities)

    def eligible_types(self) -> list[str]:
        return [e.transition_type for e in self.eligibilities if e.is_eligible and e.transition_type]

    def problems(self) -> list[str]:
        """The distinct error descriptions of the types that are not eligible."""
        out: list[str] = []
        for e in self.eligibilities:
            for err in e.errors:
                text = err.description or str(err.code)
                if text not in out:
                    out.append(text)
        return out


class TransitionEvent(PCModel):
    """``{name, status, timestamp}``: e.g. ``Conversion`` ``Completed`` at a UTC time."""

    name: str | None = None
    status: str | None = None
    timestamp: UtcDateTime | None = None
    errors: list[TransitionError] = []


class Transition(PCModel):
    """A transition (upgrade) of a subscription, as created and as listed in its history."""

    operation_id: str | None = None
    from_catalog_item_id: str | None = None
    from_subscription_id: str | None = None
    to_catalog_item_id: str | None = None
    to_subscription_id: str | None = None
    quantity: int | None = None
    term_duration: TermDuration | None = None
    billing_cycle: BillingCycle | None = None
    transition_type: str | None = None
    promotion_id: str | None = None
    events: list[TransitionEvent] = []
    attributes: ResourceAttributes | None = None

    @property
    def status(self) -> str | None:
        """The status of the last event (``Completed``, ``InProgress``, ``Failed``...), stripped."""
        return (self.events[-1].status or "").strip() or None if self.events else None

    @property
    def completed(self) -> bool:
        return (self.status or "").lower() == "completed"


class ProductTerm(PCModel):
    """What the subscription becomes at renewal: ``{productId, skuId, availabilityId, billingCycle, termDuration,
    promotionId?}``."""

    product_id: str
    sku_id: str
    availability_id: str
    billing_cycle: BillingCycle | None = None
    term_duration: TermDuration | None = None
    promotion_id: str | None = None

    @property
    def catalog_item_id(self) -> str:
        return f"{self.product_id}:{self.sku_id}:{self.availability_id}"


class ScheduledNextTermInstructions(PCModel):
    """``scheduledNextTermInstructions``: ``{product: ProductTerm, quantity, customTermEndDate?}``."""

    product: ProductTerm
    quantity: int
    custom_term_end_date: UtcDateTime | None = Field(default=None)
