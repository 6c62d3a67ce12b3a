"""The backend's one locking rule, shared by its modules."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

__all__ = ["operation"]


def operation(fn: Callable) -> Callable:
    """Run a backend method under the backend's lock; deliver the webhooks it queued once the lock is released.

    Nested operations share the outermost one's lock hold; only the outermost flushes the outbox.
    """

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        local = self._local
        try:
            with self.lock:
                local.depth = getattr(local, "depth", 0) + 1
                try:
                    return fn(self, *args, **kwargs)
                finally:
                    local.depth -= 1
        finally:
            if getattr(local, "depth", 0) == 0:
                self._flush_outbox()

    return wrapper
