"""Where a write went: the target of every ledger entry (Partner Center of one partner tenant, or one emulator).

Idempotency keys (batch row keys, ``order place --key``, change keys) are unique **per target**: an order placed in an
emulator rehearsal must never make the same row "already ordered" in real Partner Center, nor in another emulator
(a fresh one, or one after ``emulator reset``). :attr:`Target.key` is the identity entries are matched by:

- Partner Center: ``partner-center|<endpoint>|<partner tenant id>`` — the tenant from the access token's ``tid`` claim
  (Microsoft identity platform access tokens are JWTs carrying the tenant in ``tid``:
  https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference), else the configured tenant id.
- Emulator: ``emulator|<instance id>`` — the id the emulator mints when it starts fresh or is reset and keeps in its
  state file (header ``X-Cspkit-Emulator-Instance`` on every answer); the port may change between runs, the instance
  does not.
- Entries written before targets were recorded carry :data:`UNKNOWN_TARGET` and are never matched.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from cspkit.wire import EMULATOR_INSTANCE_HEADER

__all__ = ["INSTANCE_HEADER", "TARGET_KINDS", "UNKNOWN_TARGET", "Target", "tenant_from_token"]

UNKNOWN_TARGET = "unknown"
""":attr:`Target.key` of entries migrated from a ledger that did not record targets (never matched)."""

TARGET_KINDS = ("partner-center", "emulator", "other", UNKNOWN_TARGET)

INSTANCE_HEADER = EMULATOR_INSTANCE_HEADER
"""Response header carrying the emulator's instance id (also ``instance`` in ``GET /_emulator/clock``)."""


def tenant_from_token(token: str | None) -> str | None:
    """The ``tid`` claim of a JWT access token, decoded **without verifying** (we only label our own journal with it);
    None when the token is not a JWT or has no ``tid``. The token itself is never kept or logged."""
    if not token or token.count(".") != 2:
        return None
    payload = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    tid = claims.get("tid") if isinstance(claims, dict) else None
    return str(tid) if tid else None


def _norm_endpoint(endpoint: str | None) -> str:
    return (endpoint or "").strip().rstrip("/").lower()


@dataclass(frozen=True)
class Target:
    """One target of writes.

    Attributes:
        kind: ``partner-center``, ``emulator``, ``other`` (a label given by a caller) or ``unknown`` (migrated).
        endpoint: the API base URL written to (``https://api.partnercenter.microsoft.com``, ``http://127.0.0.1:PORT``).
        tenant_id: the partner tenant id (JWT ``tid`` claim, or the settings' tenant), or None.
        instance_id: the emulator instance (emulators only).
    """

    kind: str
    endpoint: str | None = None
    tenant_id: str | None = None
    instance_id: str | None = None

    @classmethod
    def partner_center(cls, endpoint: str, *, token: str | None = None, tenant_id: str | None = None) -> Target:
        """Partner Center at ``endpoint`` for the tenant of ``token`` (its ``tid`` claim) or ``tenant_id``."""
        return cls("partner-center", endpoint, tenant_from_token(token) or tenant_id)

    @classmethod
    def emulator(cls, endpoint: str | None, *, instance_id: str | None, tenant_id: str | None = None) -> Target:
        return cls("emulator", endpoint, tenant_id, instance_id)

    @classmethod
    def coerce(cls, value: Target | str | None) -> Target:
        """A :class:`Target` from a Target, a free label (kind ``other``) or None (kind ``other``, no endpoint)."""
        if isinstance(value, Target):
            return value
        return cls("other", value or None)

    @property
    def key(self) -> str:
        """The identity ledger entries are matched by (see the module docstring)."""
        if self.kind == UNKNOWN_TARGET:
            return UNKNOWN_TARGET
        if self.kind == "emulator" and self.instance_id:
            return f"emulator|{self.instance_id}"
        if self.kind == "partner-center":
            return f"partner-center|{_norm_endpoint(self.endpoint)}|{(self.tenant_id or '').lower()}"
        return f"{self.kind}|{_norm_endpoint(self.endpoint)}"

    @property
    def label(self) -> str:
        """One line for people: ``emulator http://127.0.0.1:8000 instance 3f2a… tenant …``."""
        bits = [self.kind]
        if self.endpoint:
            bits.append(self.endpoint)
        if self.instance_id:
            bits.append(f"instance {self.instance_id}")
        if self.tenant_id:
            bits.append(f"tenant {self.tenant_id}")
        return " ".join(bits)

    def columns(self) -> dict[str, Any]:
        """The ledger columns describing this target."""
        return {"target": self.label[:300], "target_kind": self.kind, "target_endpoint": (self.endpoint or None),
                "target_tenant": self.tenant_id, "target_instance": self.instance_id, "target_key": self.key[:400]}
