"""Fault injection rules and the per-tenant rate limiter.

A rule (emulator-notes.md §2.5, LocalStack's chaos rule as the model) matches requests by plane (``pc`` = /v1,
``saas`` = /api/saas, ``isv`` = /publisher), method, path glob and operation (the handler's name, e.g.
``checkout_cart``), fires from the ``nth`` matching request on, at most ``count`` times, with ``probability``
(seeded, so runs repeat), and does one ``action``:

- an HTTP status (``429`` with ``Retry-After`` and the throttling body, ``500``/``503``/``504``, ``409``, ``412``...)
  answered without running the handler;
- ``"latency"`` (alias ``"timeout"``): sleep ``delay`` seconds of wall time, then run normally — longer than the
  client's read timeout, it is a read timeout whose write may still commit;
- ``"drop"``: run the handler (the change is committed), then close the connection without an answer;
- ``"reset"``: close the connection without running the handler;
- ``"malformed"``: run the handler, answer with its JSON cut in half;
- ``"fail_export"``: the next Graph billing export's operation ends ``failed`` with ``code``/``description``;
- ``"drop_blob"``: the next export blob download closes the connection after ``afterBytes`` bytes.

The last two are taken by the Graph handlers themselves (:meth:`Faults.take`), never matched at the edge; they
default to ``count=1`` and ``plane="graph"``.

Every fired fault is appended to :attr:`Faults.log` with the request id. The rate limiter counts requests per
partner tenant per *wall-clock* window, since clients are measured against it.
"""

from __future__ import annotations

import fnmatch
import random
import re
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["FaultRule", "Faults", "RateLimiter"]

#: Actions the Graph handlers take from the engine (:meth:`Faults.take`) rather than the edge.
GRAPH_ACTIONS = {"fail_export", "drop_blob"}
ACTIONS = {"status", "latency", "timeout", "drop", "reset", "malformed"} | GRAPH_ACTIONS

_WIRE_NAMES = {"pathGlob": "path_glob", "retryAfter": "retry_after", "delaySeconds": "delay",
               "afterBytes": "after_bytes"}


@dataclass
class FaultRule:
    id: str
    action: str = "status"
    status: int | None = None
    plane: str | None = None
    method: str | None = None
    path_glob: str | None = None
    operation: str | None = None
    nth: int = 1
    count: int | None = None
    probability: float = 1.0
    retry_after: int = 1
    delay: float = 0.0
    code: str | None = None
    description: str | None = None
    customer_id: str | None = None
    after_bytes: int | None = None
    matched: int = 0
    fired: int = 0

    def to_wire(self) -> dict[str, Any]:
        out = {}
        for key, value in asdict(self).items():
            wire = {"path_glob": "pathGlob", "retry_after": "retryAfter", "customer_id": "customerId",
                    "after_bytes": "afterBytes"}.get(key, key)
            out[wire] = value
        return out


@dataclass
class RateLimiter:
    """Sliding window per partner tenant over wall-clock time; applies to paths matching ``pattern``."""

    limit: int | None = 500
    window_seconds: float = 60.0
    pattern: str = r"^/v1/customers/[^/]+/(orders|subscriptions)(/|$)"
    _hits: dict[str, deque] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def configure(self, *, limit: int | None = ..., window_seconds: float | None = None,
                  pattern: str | None = None) -> None:
        with self._lock:
            if limit is not ...:
                self.limit = limit
            if window_seconds is not None:
                self.window_seconds = float(window_seconds)
            if pattern is not None:
                re.compile(pattern)
                self.pattern = pattern
            self._hits.clear()

    def check(self, tenant: str, path: str) -> int | None:
        """Count one request; None when allowed, else the seconds to wait (Retry-After)."""
        if self.limit is None or not re.search(self.pattern, path, re.IGNORECASE):
            return None
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(tenant, deque())
            while hits and hits[0] <= now - self.window_seconds:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(1, int(hits[0] + self.window_seconds - now + 0.999))
            hits.append(now)
            return None

    def describe(self) -> dict[str, Any]:
        return {"limit": self.limit, "windowSeconds": self.window_seconds, "pathPattern": self.pattern}


PLANES = {"pc", "saas", "isv"}
#: What each rule field accepts: (type check, description). ``None`` is accepted where the field's default is None.
_FIELD_TYPES: dict[str, tuple[Any, str]] = {
    "status": (lambda v: _whole(v) and 100 <= v <= 599, "an HTTP status code from 100 to 599"),
    "plane": (lambda v: isinstance(v, str) and v.lower() in PLANES, f"one of {sorted(PLANES)}"),
    "method": (lambda v: isinstance(v, str) and v.isalpha(), "an HTTP method such as 'POST'"),
    "path_glob": (lambda v: isinstance(v, str), "a path glob such as '/v1/customers/*/carts'"),
    "operation": (lambda v: isinstance(v, str), "a handler name such as 'checkout_cart'"),
    "nth": (lambda v: _whole(v) and v >= 1, "an integer >= 1"),
    "count": (lambda v: _whole(v) and v >= 0, "an integer >= 0"),
    "probability": (lambda v: _real(v) and 0 <= v <= 1, "a number from 0 to 1"),
    "retry_after": (lambda v: _whole(v) and v >= 0, "an integer number of seconds >= 0"),
    "delay": (lambda v: _real(v) and 0 <= v <= 3600, "a number of seconds from 0 to 3600"),
    "code": (lambda v: isinstance(v, str), "a string"),
    "description": (lambda v: isinstance(v, str), "a string"),
    "customer_id": (lambda v: isinstance(v, str), "a customer id (string)"),
    "after_bytes": (lambda v: _whole(v) and v >= 0, "an integer number of bytes >= 0"),
}
_NULLABLE = {"status", "plane", "method", "path_glob", "operation", "count", "code", "description", "customer_id",
             "after_bytes"}
_WIRE_OF = {"path_glob": "pathGlob", "retry_after": "retryAfter", "delay": "delaySeconds", "customer_id": "customerId",
            "after_bytes": "afterBytes"}


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _typed(name: str, value: Any) -> Any:
    """``value`` for rule field ``name`` when it has the right type, else ValueError naming the (wire) field."""
    if value is None and name in _NULLABLE:
        return None
    if isinstance(value, float) and value.is_integer() and name in ("status", "nth", "count", "retry_after"):
        value = int(value)
    accepts, expected = _FIELD_TYPES[name]
    if not accepts(value):
        raise ValueError(f"Field '{_WIRE_OF.get(name, name)}': expected {expected}, got {value!r}")
    return float(value) if name in ("probability", "delay") else value


class Faults:
    """The set of fault rules and the log of faults fired."""

    def __init__(self, seed: int = 7) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._next = 0
        self.log: list[dict[str, Any]] = []

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def add(self, rule: dict[str, Any] | None = None, /, **kwargs: Any) -> FaultRule:
        """Add a rule, from a wire dict (``{"action": 429, "pathGlob": "/v1/*", ...}``) or keywords."""
        spec = {_WIRE_NAMES.get(k, k): v for k, v in {**(rule or {}), **kwargs}.items()}
        spec = {{"customerId": "customer_id"}.get(k, k): v for k, v in spec.items()}
        action = spec.pop("action", "status")
        if isinstance(action, int) or (isinstance(action, str) and action.isdigit()):
            spec["status"], action = int(action), "status"
        if not isinstance(action, str) or action not in ACTIONS:
            raise ValueError(f"Field 'action': expected an HTTP status or one of {sorted(ACTIONS)}, got {action!r}")
        if action == "status" and not spec.get("status"):
            raise ValueError("a status fault needs a status code")
        if action == "drop_blob" and spec.get("after_bytes") is None:
            raise ValueError("Field 'afterBytes': a drop_blob fault needs the bytes to send before dropping")
        if action in GRAPH_ACTIONS:
            spec["count"] = 1 if spec.get("count") is None else spec["count"]
        spec.pop("matched", None), spec.pop("fired", None), spec.pop("id", None)
        unknown = set(spec) - set(FaultRule.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown fault rule fields: {sorted(unknown)}")
        spec = {name: _typed(name, value) for name, value in spec.items()}
        if action in GRAPH_ACTIONS:
            spec["plane"] = "graph"  # taken by the Graph handlers, never matched at the edge
        with self._lock:
            self._next += 1
            fault = FaultRule(id=f"fault-{self._next}", action=action, **spec)
            self._rules.append(fault)
            return fault

    def remove(self, rule_id: str) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) != before

    def clear(self) -> None:
        with self._lock:
            self._rules = []
            self.log = []

    def needs_operation(self) -> bool:
        return any(r.operation for r in self._rules)

    def match(self, *, plane: str, method: str, path: str, operation: str | None,
              customer_id: str | None = None) -> FaultRule | None:
        """The first rule that fires for this request (counting matches), or None."""
        with self._lock:
            for rule in self._rules:
                if rule.action in GRAPH_ACTIONS:
                    continue
                if rule.plane and rule.plane.lower() != plane:
                    continue
                if rule.method and rule.method.upper() != method.upper():
                    continue
                if rule.path_glob and not fnmatch.fnmatchcase(path.lower(), rule.path_glob.lower()):
                    continue
                if rule.operation and rule.operation != operation:
                    continue
                if rule.customer_id and (customer_id or "").lower() != rule.customer_id.lower():
                    continue
                rule.matched += 1
                if rule.matched < rule.nth or (rule.count is not None and rule.fired >= rule.count):
                    continue
                if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                    continue
                rule.fired += 1
                return rule
            return None

    def take(self, action: str) -> FaultRule | None:
        """The first rule of a handler-taken ``action`` (``fail_export``, ``drop_blob``) with firings left, counted
        as fired; None when there is none. The caller records what it did (:meth:`record`)."""
        with self._lock:
            for rule in self._rules:
                if rule.action == action and (rule.count is None or rule.fired < rule.count):
                    rule.matched += 1
                    rule.fired += 1
                    return rule
            return None

    def graph_summary(self) -> dict[str, Any]:
        """``POST /_emulator/graph/faults``'s answer: export failures still to come, blob drops still to come
        (bytes each), and the Graph faults fired."""
        with self._lock:
            def left(rule: FaultRule) -> int:
                return max(0, (rule.count or 0) - rule.fired)

            fails = sum(left(r) for r in self._rules if r.action == "fail_export")
            drops = [r.after_bytes for r in self._rules if r.action == "drop_blob" for _ in range(left(r))]
            fired = [e for e in self.log if e.get("action") in GRAPH_ACTIONS]
        return {"failNext": fails, "dropBlobAfter": drops, "log": fired}

    def record(self, rule_id: str, action: str, **details: Any) -> None:
        with self._lock:
            self.log.append({"ruleId": rule_id, "action": action, **details})
