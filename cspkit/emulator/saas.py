"""The marketplace side of the backend: SaaS Fulfillment API v2 state machines and the emulated publisher.

A CSP purchase of a SaaS item creates a Partner Center subscription (``pending``) and a fulfillment subscription
(``PendingFulfillmentStart``). Opening the activation link mints an opaque purchase token (valid 24 h by policy)
and lands on the publisher's landing page; Resolve + Activate (or the sandbox ``/activate``) make both sides active
and start billing. Changes made in Partner Center reach the publisher as webhooks; ChangeQuantity waits for the
publisher's ACK, or is accepted after the policy's 10 seconds. Never-activated purchases are cancelled after the
policy's number of days. Coupling table: emulator-notes.md §2.2 D.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from cspkit.emulator._ops import operation
from cspkit.emulator._util import fmt_dt
from cspkit.emulator.billing import prorated_span
from cspkit.emulator.models import EmulatorError, Operation, PurchaseToken, SaasSubscription, WebhookDelivery

if TYPE_CHECKING:  # pragma: no cover
    from cspkit.emulator.catalog import CatalogItem
    from cspkit.emulator.clock import Event
    from cspkit.emulator.models import Customer, Subscription

__all__ = ["MARKETPLACE_APP_ID", "Marketplace"]

MARKETPLACE_APP_ID = "20e940b3-4c77-4b0b-9a53-9e16a1b010a7"


class Marketplace:
    """The marketplace side the :class:`~cspkit.emulator.backend.Backend` holds (``backend.marketplace``):
    fulfillment operations and the emulated publisher, over the backend's subscriptions, clock and lock.

    Its state (``saas``, ``tokens``, ``operations``, ``webhook_log``, ``webhook_secret``, ``publisher_config``) is
    saved with the backend's. Public methods take the backend's one lock (:func:`~cspkit.emulator._ops.operation`).
    """

    def __init__(self, backend: Any) -> None:
        self.b = backend
        # the backend's locking rule applies to these operations too (see cspkit.emulator._ops)
        self.lock = backend.lock
        self._local = backend._local
        self._flush_outbox = backend._flush_outbox

    _PERSISTED = ("saas", "tokens", "operations", "webhook_log", "webhook_secret", "publisher_config")

    # -- state ----------------------------------------------------------------------------------------------
    def reset(self) -> None:
        self.saas: dict[str, SaasSubscription] = {}
        self.tokens: dict[str, PurchaseToken] = {}
        self.operations: dict[str, Operation] = {}
        self.webhook_log: list[WebhookDelivery] = []
        self.webhook_secret = self.b.ids.token(32)
        # how the built-in publisher behaves: ACK "Success" | "Failure" | "none" (let the 10 s auto-accept act),
        # answer webhooks with ``webhook_status``, and activate by itself when its landing page is opened
        self.publisher_config: dict[str, Any] = {"ack": "Success", "webhook_status": 200, "auto_activate": False}

    def event_handlers(self) -> dict[str, Any]:
        return {
            "saas_autocancel": self._on_saas_autocancel,
            "token_expiry": self._on_token_expiry,
            "ack_timeout": self._on_ack_timeout,
            "webhook_retry": self._on_webhook_retry,
        }

    # -- purchase -------------------------------------------------------------------------------------------
    def create_saas_subscription(self, customer: Customer, sub: Subscription, item: CatalogItem) -> SaasSubscription:
        now = self.b.now()
        saas = SaasSubscription(
            id=self.b.ids.guid(),
            pc_subscription_id=sub.id,
            customer_id=customer.id,
            publisher_id=item.product.get("publisherId", ""),
            offer_id=item.product.get("saasOfferId", item.product_id),
            plan_id=item.sku.get("planId", item.sku_id),
            name=sub.friendly_name,
            quantity=sub.quantity if item.sku.get("isPricePerSeat", True) else None,
            status="PendingFulfillmentStart",
            term_unit=sub.term_duration,
            beneficiary={"emailId": customer.profile.get("email", f"admin@{customer.domain}"),
                         "objectId": self.b.ids.guid(), "tenantId": customer.id, "puid": self.b.ids.hex(16).upper()},
            purchaser={"emailId": f"admin@{self.b.partner.get('domain', 'partner.onmicrosoft.com')}",
                       "objectId": self.b.ids.guid(), "tenantId": self.b.partner["tenantId"],
                       "puid": self.b.ids.hex(16).upper()},
            created=now,
            last_modified=now,
            auto_renew=sub.auto_renew,
        )
        self.saas[saas.id] = saas
        sub.saas_id = saas.id
        self.b.clock.schedule(
            now + timedelta(days=self.b.policy.saas_activation_days), "saas_autocancel", saas_id=saas.id
        )
        self.b._log("saas_purchased", saasSubscriptionId=saas.id, subscriptionId=sub.id)
        return saas

    def mint_activation(self, sub: Subscription) -> tuple[str, str]:
        """A fresh purchase token for the activation link of ``sub``: ``(publisherId, token)``."""
        saas = self.saas[sub.saas_id]
        now = self.b.now()
        token = PurchaseToken(self.b.ids.token(), saas.id, now, now + self.b.policy.purchase_token_ttl)
        self.tokens[token.token] = token
        self.b.clock.schedule(token.expires, "token_expiry", token_hash=_short_hash(token.token))
        return saas.publisher_id, token.token

    def _on_token_expiry(self, event: Event) -> None:
        self.b._log("token_expired", token=event.data["token_hash"])

    def _on_saas_autocancel(self, event: Event) -> None:
        saas = self.saas.get(event.data["saas_id"])
        if saas is None or saas.status != "PendingFulfillmentStart":
            return
        sub = self.b.subscriptions[saas.pc_subscription_id]
        self.b._end(sub, "deleted", reason=f"not activated within {self.b.policy.saas_activation_days} days")

    # -- fulfillment API: subscriptions -----------------------------------------------------------------------
    def _saas(self, saas_id: str) -> SaasSubscription:
        saas = self.saas.get(saas_id) or self.saas.get((saas_id or "").lower())
        if saas is None:
            raise EmulatorError(404, "NotFound", f"Subscription {saas_id} was not found.")
        return saas

    def check_publisher(self, saas: SaasSubscription, publisher_id: str | None) -> None:
        """403 when a publisher calls for a purchase of another publisher's offer.

        The fulfillment API works the publisher out from its Entra app token, and a token of another app
        registration than the offer's gets 403 (saas-fulfillment.md §1.1, "Error codes that every operation
        shares": "403 (token missing, bad or expired, or the offer belongs to a different app registration)";
        source: learn.microsoft.com partner-center/marketplace-offers/pc-saas-fulfillment-subscription-api).
        ``publisher_id=None`` is the emulator's own unscoped token (and the built-in tooling), which may act for
        every publisher.

        Raises:
            EmulatorError: 403 ``Forbidden`` in the SaaS error shape.
        """
        if publisher_id is not None and saas.publisher_id.lower() != publisher_id.lower():
            raise EmulatorError(403, "Forbidden", f"The offer {saas.offer_id!r} belongs to a different publisher "
                                                  "than the caller's app registration.")

    def resolve_purchase_token(self, token: str | None, *, publisher_id: str | None = None) -> SaasSubscription:
        """Resolve: the subscription behind a landing-page purchase token.

        Raises:
            EmulatorError: 400 when the token is missing, unknown or expired; 403 when ``publisher_id`` is given and
                the purchase is of another publisher's offer (:meth:`check_publisher`).
        """
        with self.lock:
            if not token:
                raise EmulatorError(400, "BadRequest", "The x-ms-marketplace-token header is required.")
            entry = self.tokens.get(token)
            if entry is None:
                raise EmulatorError(400, "BadRequest", "The marketplace token is malformed or unknown.")
            if self.b.now() >= entry.expires:
                raise EmulatorError(400, "BadRequest", f"The marketplace token expired at {fmt_dt(entry.expires)}.")
            saas = self.saas[entry.saas_id]
            self.check_publisher(saas, publisher_id)
            self.b._log("token_resolved", saasSubscriptionId=entry.saas_id)
            return saas

    def inspect_token(self, token: str) -> dict[str, Any]:
        """Emulator-only: what an opaque purchase token stands for."""
        with self.lock:
            entry = self.tokens.get(token)
            if entry is None:
                raise EmulatorError(404, "NotFound", "Unknown token.")
            return {"subscriptionId": entry.saas_id, "created": entry.created, "expires": entry.expires,
                    "expired": self.b.now() >= entry.expires}

    @operation
    def activate_saas(self, saas_id: str, *, plan_id: str | None, quantity: int | None,
                      publisher_id: str | None = None) -> SaasSubscription:
        """Activate: billing starts. 404 unknown/unsubscribed, 403 another publisher's offer, 400 bad plan/quantity."""
        saas = self._saas(saas_id)
        self.check_publisher(saas, publisher_id)
        if saas.status == "Unsubscribed":
            raise EmulatorError(404, "NotFound", f"Subscription {saas_id} is unsubscribed.")
        if saas.status in ("Subscribed", "Suspended"):
            raise EmulatorError(400, "BadRequest", f"Subscription {saas_id} is already {saas.status}.")
        if not plan_id or plan_id != saas.plan_id:
            raise EmulatorError(400, "BadRequest", f"planId must be the purchased plan {saas.plan_id!r}.")
        if quantity is not None and saas.quantity is not None and int(quantity) != saas.quantity:
            raise EmulatorError(400, "BadRequest", f"quantity must be the purchased quantity {saas.quantity}.")
        sub = self.b.subscriptions[saas.pc_subscription_id]
        self.b.clock.cancel(lambda e: e.kind == "saas_autocancel" and e.data.get("saas_id") == saas.id)
        self.b._start_term(sub, charge_type="new", reference_id=self.b.ids.guid())
        saas.status = "Subscribed"
        saas.term_start, saas.term_end = sub.effective_start, sub.commitment_end
        saas.last_modified = self.b.now()
        self.b._log("saas_activated", saasSubscriptionId=saas.id, subscriptionId=sub.id)
        return saas

    @operation
    def sandbox_activate(self, customer_id: str, subscription_id: str) -> Subscription:
        """Partner Center's sandbox ``POST …/subscriptions/{id}/activate``: activate without the publisher."""
        sub = self.b.get_subscription(customer_id, subscription_id)
        if not sub.is_saas or not sub.saas_id:
            raise EmulatorError(400, "800002", f"Subscription {sub.id} is not a marketplace subscription.")
        if sub.status != "pending":
            raise EmulatorError(400, "800040", f"Subscription {sub.id} is {sub.status}, not pending activation.")
        saas = self.saas[sub.saas_id]
        self.activate_saas(saas.id, plan_id=saas.plan_id, quantity=saas.quantity)
        return sub

    def list_saas_subscriptions(self) -> list[SaasSubscription]:
        with self.lock:
            return list(self.saas.values())

    def get_saas_subscription(self, saas_id: str) -> SaasSubscription:
        with self.lock:
            return self._saas(saas_id)

    def list_saas_plans(self, saas_id: str, *, plan_id: str | None = None) -> list[CatalogItem]:
        with self.lock:
            saas = self._saas(saas_id)
            sub = self.b.subscriptions[saas.pc_subscription_id]
            items = [
                self.b.catalog.item(sub.product_id, s["id"]) for s in self.b.catalog.product(sub.product_id)["skus"]
            ]
            if plan_id:
                items = [i for i in items if i.sku.get("planId") == plan_id]
            return items

    def _check_no_pending(self, saas: SaasSubscription) -> None:
        if any(op.subscription_id == saas.id and op.status == "InProgress" for op in self.operations.values()):
            raise EmulatorError(409, "Conflict", "The subscription is locked due to pending operations.")

    def _new_operation(self, saas: SaasSubscription, action: str, *, source: str, status: str,
                       quantity: int | None = None, plan_id: str | None = None, needs_ack: bool = False) -> Operation:
        op = Operation(
            id=self.b.ids.guid(), activity_id=self.b.ids.guid(), subscription_id=saas.id, offer_id=saas.offer_id,
            publisher_id=saas.publisher_id, plan_id=plan_id or saas.plan_id,
            quantity=quantity if quantity is not None else saas.quantity, action=action, time_stamp=self.b.now(),
            status=status, source=source, needs_ack=needs_ack,
        )
        self.operations[op.id] = op
        return op

    @operation
    def change_saas_plan(self, saas_id: str, *, plan_id: str) -> Operation:
        saas = self._saas(saas_id)
        if saas.status != "Subscribed":
            raise EmulatorError(400, "BadRequest", f"Subscription is {saas.status}, not Subscribed.")
        if plan_id == saas.plan_id:
            raise EmulatorError(400, "BadRequest", f"Plan {plan_id} is the current plan.")
        sub = self.b.subscriptions[saas.pc_subscription_id]
        target = next((i for i in self.list_saas_plans(saas.id) if i.sku.get("planId") == plan_id), None)
        if target is None:
            raise EmulatorError(400, "BadRequest", f"Plan {plan_id} is not available for this subscription.")
        self._check_no_pending(saas)
        term = target.term(sub.term_duration, sub.billing_cycle)
        if term is None:
            raise EmulatorError(400, "BadRequest", f"Plan {plan_id} has no {sub.term_duration} term.")
        op = self._new_operation(saas, "ChangePlan", source="Partner", status="Succeeded", plan_id=plan_id)
        self._convert(sub, target, term)
        saas.plan_id = plan_id
        saas.quantity = sub.quantity if target.sku.get("isPricePerSeat", True) else None
        saas.last_modified = self.b.now()
        return op

    def _convert(self, sub: Subscription, target: CatalogItem, term) -> None:
        """Move a subscription to another SKU of its product: refund the old plan, charge the new (``convert``)."""
        ref = self.b.ids.guid()
        span = prorated_span(self.b.now(), sub.cycle_start, sub.cycle_end, sub.billing_cycle)
        self.b._charge(sub, "convert", -1, sub.quantity, span, ref)
        lo, hi = int(target.sku["minimumQuantity"]), int(target.sku["maximumQuantity"])
        sub.sku_id, sub.availability_id = target.sku_id, target.availability_id
        sub.offer_name = target.sku["title"]
        sub.unit_price, sub.list_price = term.unit_price(sub.currency), term.erp_price(sub.currency)
        sub.quantity = max(lo, min(sub.quantity, hi))
        self.b._charge(sub, "convert", +1, sub.quantity, span, ref)
        self.b._touch(sub)

    @operation
    def change_saas_quantity(self, saas_id: str, *, quantity: int | None) -> Operation:
        saas = self._saas(saas_id)
        if saas.status != "Subscribed":
            raise EmulatorError(400, "BadRequest", f"Subscription is {saas.status}, not Subscribed.")
        if quantity is None:
            raise EmulatorError(400, "BadRequest", "quantity is required.")
        if saas.quantity is None:
            raise EmulatorError(400, "BadRequest", "The plan is not priced per seat.")
        if int(quantity) == saas.quantity:
            raise EmulatorError(400, "BadRequest", f"Quantity is already {quantity}.")
        self._check_no_pending(saas)
        sub = self.b.subscriptions[saas.pc_subscription_id]
        try:
            self.b._check_quantity(sub, int(quantity))
        except EmulatorError as exc:
            raise EmulatorError(400, "BadRequest", exc.description) from None
        op = self._new_operation(saas, "ChangeQuantity", source="Partner", status="Succeeded",
                                 quantity=int(quantity))
        self.b._apply_quantity(sub, int(quantity))
        saas.quantity = int(quantity)
        saas.last_modified = self.b.now()
        return op

    @operation
    def delete_saas_subscription(self, saas_id: str) -> Operation:
        """The publisher cancels: refunded when inside the refund window, ended either way."""
        saas = self._saas(saas_id)
        if saas.status == "Unsubscribed":
            raise EmulatorError(400, "BadRequest", "The subscription is already Unsubscribed.")
        sub = self.b.subscriptions[saas.pc_subscription_id]
        op = self._new_operation(saas, "Unsubscribe", source="Partner", status="Succeeded")
        window = sub.term_window
        if sub.status == "active" and window is not None and self.b.now() <= window.until:
            self.b._cancel(sub)
        else:
            self.b._end(sub, "deleted", reason="cancelled by the publisher")
        return op

    # -- fulfillment API: operations -------------------------------------------------------------------------
    def list_saas_operations(self, saas_id: str) -> list[Operation]:
        with self.lock:
            saas = self._saas(saas_id)
            return [o for o in self.operations.values() if o.subscription_id == saas.id and o.status == "InProgress"]

    def get_saas_operation(self, saas_id: str, operation_id: str) -> Operation:
        with self.lock:
            saas = self._saas(saas_id)
            op = self.operations.get(operation_id)
            if op is None or op.subscription_id != saas.id:
                raise EmulatorError(404, "NotFound", f"Operation {operation_id} was not found.")
            return op

    @operation
    def update_saas_operation(self, saas_id: str, operation_id: str, *, status: str) -> Operation:
        """The publisher's ACK: ``Success`` applies the pending change, ``Failure`` drops it."""
        op = self.get_saas_operation(saas_id, operation_id)
        if status not in ("Success", "Failure"):
            raise EmulatorError(400, "BadRequest", "status must be Success or Failure.")
        if op.status != "InProgress":
            raise EmulatorError(409, "Conflict", f"Operation {op.id} is already {op.status}.")
        self._settle(op, accepted=status == "Success", how=f"ack {status}")
        return op

    def _settle(self, op: Operation, *, accepted: bool, how: str) -> None:
        saas = self.saas[op.subscription_id]
        sub = self.b.subscriptions[saas.pc_subscription_id]
        self.b.clock.cancel(lambda e: e.kind == "ack_timeout" and e.data.get("operation_id") == op.id)
        if accepted and sub.status == "active" and op.action == "ChangeQuantity" and op.quantity is not None:
            self.b._apply_quantity(sub, op.quantity)
            saas.quantity = op.quantity
            saas.last_modified = self.b.now()
            op.status = "Succeeded"
        else:
            op.status = "Succeeded" if accepted else "Failed"
            sub.pending_quantity = None
            self.b._touch(sub)
        self.b._log("operation_settled", operationId=op.id, status=op.status, how=how)

    def _on_ack_timeout(self, event: Event) -> None:
        op = self.operations.get(event.data["operation_id"])
        if op is not None and op.status == "InProgress":
            self._settle(op, accepted=True, how="auto-accepted")

    # -- hooks from the Partner Center side ----------------------------------------------------------------
    def request_quantity(self, sub: Subscription, quantity: int) -> None:
        saas = self.saas[sub.saas_id]
        if saas.quantity is None:
            raise EmulatorError(400, "800095", "The seat quantity of a flat-priced plan cannot be changed.")
        if any(o.subscription_id == saas.id and o.status == "InProgress" for o in self.operations.values()):
            raise EmulatorError(409, "800014", "A quantity change is already pending for this subscription.")
        op = self._new_operation(saas, "ChangeQuantity", source="Azure", status="InProgress", quantity=quantity,
                                 needs_ack=True)
        sub.pending_quantity = quantity
        self.b._touch(sub)
        self.b.clock.schedule(self.b.now() + self.b.policy.ack_auto_accept, "ack_timeout", operation_id=op.id)
        self._send_webhook(op)

    def auto_renew_changed(self, sub: Subscription) -> None:
        if sub.saas_id:
            self.saas[sub.saas_id].auto_renew = sub.auto_renew

    def renewed(self, sub: Subscription) -> None:
        if not sub.saas_id:
            return
        saas = self.saas[sub.saas_id]
        saas.term_start, saas.term_end = sub.effective_start, sub.commitment_end
        saas.last_modified = self.b.now()
        self._send_webhook(self._new_operation(saas, "Renew", source="Azure", status="Succeeded"))

    def ended(self, sub: Subscription, reason: str) -> None:
        if not sub.saas_id:
            return
        saas = self.saas[sub.saas_id]
        if saas.status == "Unsubscribed":
            return
        saas.status = "Unsubscribed"
        saas.last_modified = self.b.now()
        for op in self.operations.values():
            if op.subscription_id == saas.id and op.status == "InProgress":
                op.status = "Conflict"
        already = [o for o in self.operations.values()
                   if o.subscription_id == saas.id and o.action == "Unsubscribe" and o.source == "Partner"]
        if not already:  # cancellations on the Microsoft side reach the publisher as a webhook
            self._send_webhook(self._new_operation(saas, "Unsubscribe", source="Azure", status="Succeeded"))

    # -- webhooks -------------------------------------------------------------------------------------------
    def webhook_token(self) -> str:
        """A JWT (HS256, signed with :attr:`webhook_secret`) like the Entra token Microsoft sends to webhooks."""
        now = int(self.b.now().timestamp())
        header = {"alg": "HS256", "typ": "JWT"}
        claims = {"aud": MARKETPLACE_APP_ID, "iss": f"https://sts.windows.net/{self.b.partner['tenantId']}/",
                  "iat": now, "nbf": now, "exp": now + 3600, "appid": MARKETPLACE_APP_ID}
        signing = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        sig = hmac.new(self.webhook_secret.encode(), signing.encode(), hashlib.sha256).digest()
        return f"{signing}.{_b64(sig)}"

    def _send_webhook(self, op: Operation, attempt: int = 1) -> None:
        """Queue a delivery; it runs once the backend lock is released (see ``operation``)."""
        from cspkit.emulator import serializers_saas as serializers

        saas = self.saas[op.subscription_id]
        payload = serializers.webhook_payload(op, saas)
        url = self.b.webhook_url
        self.b._outbox.append(lambda: self._deliver(op.id, payload, url, attempt))

    def _deliver(self, operation_id: str, payload: dict[str, Any], url: str | None, attempt: int) -> None:
        if url is None:
            status, detail = self.builtin_publisher_webhook(payload), "built-in publisher"
        else:
            import requests

            try:
                resp = requests.post(url, json=payload, timeout=10,
                                     headers={"Authorization": f"Bearer {self.webhook_token()}"})
                status, detail = resp.status_code, resp.text[:200]
            except requests.RequestException as exc:
                status, detail = None, f"{type(exc).__name__}: {exc}"[:200]
        with self.lock:
            op = self.operations[operation_id]
            outcome = "delivered" if status is not None and status < 400 else (
                "rejected" if status is not None and status < 500 else "failed")
            self.webhook_log.append(WebhookDelivery(self.b.ids.guid(), op.id, op.action, url or "builtin", attempt,
                                                    self.b.now(), outcome, status, detail))
            if outcome == "rejected" and op.status == "InProgress":
                self._settle(op, accepted=False, how=f"webhook answered {status}")
            elif outcome == "failed":
                delays = self.b.policy.webhook_retry_delays
                if attempt <= len(delays):
                    self.b.clock.schedule(self.b.now() + delays[attempt - 1], "webhook_retry",
                                        operation_id=op.id, attempt=attempt + 1)

    def _on_webhook_retry(self, event: Event) -> None:
        op = self.operations.get(event.data["operation_id"])
        if op is not None:
            self._send_webhook(op, attempt=int(event.data["attempt"]))

    # -- the emulated publisher -----------------------------------------------------------------------------
    def builtin_publisher_webhook(self, payload: dict[str, Any]) -> int:
        """What the built-in publisher does with a webhook: confirm through Get operation, then ACK by config."""
        status = int(self.publisher_config.get("webhook_status", 200))
        if status >= 400:
            return status
        try:
            op = self.get_saas_operation(payload["subscriptionId"], payload["id"])
        except EmulatorError:
            return 400
        ack = self.publisher_config.get("ack", "Success")
        if op.status == "InProgress" and ack in ("Success", "Failure"):
            self.update_saas_operation(op.subscription_id, op.id, status=ack)
        return status

    def publisher_landing(self, token: str | None, publisher_id: str | None = None) -> dict[str, Any]:
        """The landing page's work: Resolve the token as ``publisher_id`` (and, if configured, Activate at once)."""
        saas = self.resolve_purchase_token(token, publisher_id=publisher_id)
        if self.publisher_config.get("auto_activate") and saas.status == "PendingFulfillmentStart":
            saas = self.activate_saas(saas.id, plan_id=saas.plan_id, quantity=saas.quantity, publisher_id=publisher_id)
        return {"subscription": saas, "activated": saas.status == "Subscribed"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _short_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:12]
