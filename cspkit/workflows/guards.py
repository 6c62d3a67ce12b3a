"""Guards run before a write (only from the ordering workflow, the one guarded path): refuse, with the reason
and the deadline, what Partner Center would refuse or what would cost money that cannot be refunded.

Each guard raises :class:`~cspkit.errors.PolicyError` (``reason``, ``deadline``) and is skipped only when the caller
passes ``force=True`` (CLI ``--force``); Partner Center's own refusal is still raised as an API error then.

Deadlines are read from the resources, never assumed (partner-center-api.md §5.3–5.5):

* cancellation: ``cancellationAllowedUntilDate``; when absent, the latest ``refundOptions[].expiresAt``;
* seat decrease: ``refundableQuantity`` (seats still removable and until when); when absent, the cancellation
  deadline above;
* quantity: the SKU's ``minimumQuantity``/``maximumQuantity``;
* buying: the availability's ``isPurchasable``, the term/billing cycle being offered, and a passed inventory check
  when the SKU requires one.

``now`` is the service's time (see :func:`cspkit.resources.base.service_now`), so a guard agrees with the service
even when the caller's clock is off — and with the emulator's virtual clock.
"""

from __future__ import annotations

from datetime import UTC, datetime

from cspkit.errors import PolicyError
from cspkit.models.catalog import Availability, InventoryItem, Sku
from cspkit.models.subscription import Subscription

__all__ = [
    "cancellation_deadline",
    "check_cancellation",
    "check_purchasable",
    "check_quantity",
    "check_seat_change",
    "seat_decrease_deadline",
]

def _fmt(when: datetime | None) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if when else "unknown"


def check_quantity(sku: Sku, quantity: int, *, force: bool = False) -> None:
    """Refuse a quantity outside the SKU's ``minimumQuantity``..``maximumQuantity``.

    Raises:
        PolicyError: reason ``quantity_out_of_bounds``.
    """
    if force:
        return
    low, high = sku.minimum_quantity, sku.maximum_quantity
    if (low is not None and quantity < low) or (high is not None and quantity > high):
        raise PolicyError(
            f"quantity {quantity} is outside what SKU {sku.product_id or '?'}:{sku.id} allows "
            f"({low if low is not None else '-'}..{high if high is not None else '-'})",
            reason="quantity_out_of_bounds",
        )


def cancellation_deadline(subscription: Subscription) -> datetime | None:
    """When the subscription can last be cancelled this term: ``cancellationAllowedUntilDate``, else the latest
    refund option's ``expiresAt``, else None (the service says nothing: not cancellable)."""
    return subscription.cancellation_allowed_until or subscription.refund_deadline()


def seat_decrease_deadline(subscription: Subscription, now: datetime) -> tuple[int | None, datetime | None]:
    """``(seats removable at now, the latest deadline among the removable seats)`` from ``refundableQuantity``;
    ``(None, cancellation deadline)`` when the service did not send ``refundableQuantity``."""
    refundable = subscription.refundable_quantity
    if refundable is None:
        return None, cancellation_deadline(subscription)
    dates = [d.allowed_until_date_time for d in refundable.details if d.allowed_until_date_time is not None]
    live = [d for d in dates if now <= d]
    deadline = max(live) if live else (max(dates) if dates else cancellation_deadline(subscription))
    return refundable.refundable_at(now), deadline


def check_cancellation(subscription: Subscription, *, now: datetime, force: bool = False) -> None:
    """Refuse a cancellation after the window.

    Raises:
        PolicyError: reason ``cancellation_window_closed`` (deadline = the date that passed) or
            ``not_cancellable`` (the service gave no deadline at all), or ``already_cancelled``.
    """
    if force:
        return
    if (subscription.status or "") == "deleted":
        raise PolicyError(f"subscription {subscription.id} is already cancelled", reason="already_cancelled",
                          hint="Nothing to do.")
    deadline = cancellation_deadline(subscription)
    if deadline is None:
        raise PolicyError(
            f"subscription {subscription.id} has no cancellation window (no cancellationAllowedUntilDate and no "
            "refund options): Partner Center would refuse or charge for the whole term",
            reason="not_cancellable",
        )
    if now > deadline:
        raise PolicyError(
            f"the cancellation window of subscription {subscription.id} closed at {_fmt(deadline)} "
            f"(now {_fmt(now)}); {_after_window(subscription)}",
            reason="cancellation_window_closed",
            deadline=deadline,
        )


def _after_window(subscription: Subscription) -> str:
    """What is left to do once the cancellation window closed: the subscription runs (and is billed) to the end of
    its term, and renews only while ``autoRenewEnabled`` is true (partner-center-api.md §5.4 "Turn auto-renew
    on/off"; Microsoft Learn ``new-commerce-cancellation-policy``). So the advice is "turn auto-renew off" only
    when it is on (or unknown); already off → nothing more to do, the subscription ends on its
    ``commitmentEndDate``."""
    end = f" on {_fmt(subscription.commitment_end_date)}" if subscription.commitment_end_date else ""
    if subscription.auto_renew_enabled is False:
        return f"auto-renew is already off, so it ends with its term{end}: nothing more to do"
    return f"turn auto-renew off to stop it at the end of the term{end} instead"


def check_seat_change(subscription: Subscription, quantity: int, *, now: datetime, force: bool = False) -> None:
    """Refuse a seat decrease outside the refund window of the seats being removed (increases always pass).

    Raises:
        PolicyError: reason ``seat_decrease_window_closed`` with the deadline that passed.
    """
    if force or subscription.quantity is None or quantity >= subscription.quantity:
        return
    removing = subscription.quantity - quantity
    removable, deadline = seat_decrease_deadline(subscription, now)
    if removable is None:  # no refundableQuantity: the cancellation deadline governs every seat
        if deadline is not None and now <= deadline:
            return
        raise PolicyError(
            f"cannot remove {removing} seat(s) from subscription {subscription.id}: the seat-reduction window "
            f"closed at {_fmt(deadline)} (now {_fmt(now)})",
            reason="seat_decrease_window_closed",
            deadline=deadline,
        )
    if removing > removable:
        raise PolicyError(
            f"cannot remove {removing} seat(s) from subscription {subscription.id}: only {removable} seat(s) are "
            f"still inside their refund window (latest deadline {_fmt(deadline)}, now {_fmt(now)})",
            reason="seat_decrease_window_closed",
            deadline=deadline,
        )


def check_purchasable(
    availability: Availability,
    *,
    term_duration: str | None,
    billing_cycle: str | None,
    quantity: int,
    sku: Sku | None = None,
    inventory: list[InventoryItem] | None = None,
    force: bool = False,
) -> None:
    """Refuse a cart line the catalog says cannot be bought.

    Checks ``isPurchasable``, that the term + billing cycle is offered, the SKU's quantity bounds, and (when the SKU
    requires an inventory check) that ``inventory`` reports the item unrestricted.

    Raises:
        PolicyError: reason ``not_purchasable``, ``term_not_offered``, ``quantity_out_of_bounds`` or
            ``inventory_restricted``.
    """
    if force:
        return
    item = availability.resolved_catalog_item_id or availability.id
    if availability.is_purchasable is False:
        raise PolicyError(f"the catalog says {item} is not purchasable", reason="not_purchasable")
    if term_duration and billing_cycle and availability.terms and not availability.term_for(term_duration,
                                                                                            billing_cycle):
        offered = ", ".join(f"{t.duration}/{t.billing_cycle}" for t in availability.terms)
        raise PolicyError(
            f"{item} is not offered for {term_duration}/{billing_cycle} (offered: {offered})",
            reason="term_not_offered",
            hint="Pick one of the offered term/billing combinations.",
        )
    sku = sku or availability.sku
    if sku is not None:
        check_quantity(sku, quantity)
        if sku.requires_inventory_check:
            hits = [i for i in inventory or [] if i.sku_id in (None, sku.id)]
            if not hits:
                raise PolicyError(f"SKU {sku.id} requires an inventory check and none passed",
                                  reason="inventory_restricted")
            restricted = [i for i in hits if i.is_restricted]
            if restricted:
                why = "; ".join(r.description or r.reason_code or "restricted" for i in restricted
                                for r in i.restrictions) or "restricted"
                raise PolicyError(f"inventory check refused {item}: {why}", reason="inventory_restricted")
