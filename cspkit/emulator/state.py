"""Persistence of the emulator's state as JSON (tagged so every dataclass, datetime and Decimal comes back)."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from cspkit.emulator import models
from cspkit.emulator._util import fmt_dt
from cspkit.emulator.clock import Event
from cspkit.emulator.policy import Policy, RefundRule

__all__ = ["decode", "encode", "load_file", "save_file", "to_jsonable"]

FORMAT = "cspkit-emulator-state/1"
_TYPES = {cls.__name__: cls for cls in (
    models.Customer, models.CartLine, models.Cart, models.OrderLine, models.Order, models.SeatWindow,
    models.Subscription, models.SaasSubscription, models.PurchaseToken, models.Operation, models.Charge,
    models.Invoice, models.WebhookDelivery, Event, Policy, RefundRule,
)}


def encode(value: Any) -> Any:
    """Python state → JSON-safe value with type tags."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"$type": type(value).__name__,
                **{f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    if isinstance(value, timedelta):
        return {"$td": value.total_seconds()}
    if isinstance(value, tuple):
        return {"$tuple": [encode(v) for v in value]}
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [encode(v) for v in value]
    return value


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$type" in value:
        cls = _TYPES[value["$type"]]
        return cls(**{k: decode(v) for k, v in value.items() if k != "$type"})
    if "$dt" in value:
        return datetime.fromisoformat(value["$dt"])
    if "$date" in value:
        return date.fromisoformat(value["$date"])
    if "$dec" in value:
        return Decimal(value["$dec"])
    if "$td" in value:
        return timedelta(seconds=value["$td"])
    if "$tuple" in value:
        return tuple(decode(v) for v in value["$tuple"])
    return {k: decode(v) for k, v in value.items()}


def save_file(path: str | Path, document: dict[str, Any]) -> Path:
    """Write atomically (temporary file + rename)."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"format": FORMAT, **encode(document)}, fh)
    os.replace(tmp, path)
    return path


def load_file(path: str | Path) -> dict[str, Any]:
    data = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    if data.pop("format", None) != FORMAT:
        raise ValueError(f"{path} is not a cspkit emulator state file ({FORMAT})")
    return decode(data)


def to_jsonable(value: Any) -> Any:
    """For the control API: dataclasses as dicts, times as ISO 8601, Decimals as strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return fmt_dt(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value
